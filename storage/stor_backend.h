/*
 * The storage backend interface of the copy engine: what every object store
 * (S3, Swift, a local directory; later STS-S3, Keystone v3 Swift, Azure Blob)
 * implements, and the few generic calls the engine, `copy --probe` and `verify`
 * make on top of it.
 *
 * Why the interface looks like this
 * ---------------------------------
 * A copy pass spends its time in thousands of small requests, so the fast path
 * is many transfers in flight on ONE libcurl multi handle (one thread, one
 * connection pool). A backend therefore does not perform HTTP requests
 * itself on the data path: it *describes* each request by configuring a curl
 * easy handle that the engine owns (`setup`), and *interprets* the response
 * once the engine has run it (`finish`). The engine streams bodies (a GET's
 * body goes to the destination, a PUT's body comes from the source) and keeps
 * small response bodies and the response headers for `finish` to parse. One
 * set-up/finish pair per request kind (`enum stor_op`) covers single PUTs,
 * multipart uploads (S3 MPU, Swift SLO), server-side copies, HEAD, DELETE and
 * listing pages, so a new HTTP backend is two functions and a switch.
 *
 * A backend that is not HTTP (a local directory) implements the "direct"
 * hooks instead: blocking list/head/delete/read/write calls. The engine runs
 * those on worker threads. A backend may also implement some direct hooks
 * beside `setup`/`finish` (e.g. its own lister); the generic calls below prefer
 * the direct hook when it is set.
 *
 * Keys
 * ----
 * Every key crossing this interface is RELATIVE to the backend's base prefix
 * (the bucket/container prefix or directory given in the spec): the backend
 * prepends the prefix when it builds a request and strips it from listing
 * entries. Keys are at most STOR_KEY_MAX bytes, '/'-separated, never start
 * with '/'. Listings come in ascending unsigned byte order (S3's and Swift's
 * order); the engine's merge relies on it and fails loudly when it is broken.
 *
 * Threads
 * -------
 * After `open` returns, a backend is used from several threads at once: the
 * engine thread calls `setup`/`finish`, each listing runs on its own thread,
 * and direct hooks run on worker threads. Backends keep per-request state in
 * `struct stor_req` (or in their lister/reader/writer objects) and guard any
 * shared mutable state (a Swift/Keystone token being refreshed) with a mutex.
 *
 * Adding a backend
 * ----------------
 * Write storage/stor_<name>.c defining `const struct stor_backend_ops
 * stor_<name>_ops` and storage/stor_<name>.h declaring it. The registry in
 * stor_backend.c picks up s3, swift and local; the spec scheme selects it.
 *
 * Errors follow the project convention: 0 or a negative STOR_E* code, with
 * detail in a caller-owned, fixed-size `struct stor_error` (no allocation).
 * Secrets never go into a message: URLs are passed through stor_redact_url().
 */
#ifndef QSO_STOR_BACKEND_H
#define QSO_STOR_BACKEND_H

#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>

/* ---- limits of the fixed-size fields ---- */
#define STOR_KEY_MAX    1024 /* S3's key limit in bytes, without the NUL */
#define STOR_ETAG_MAX   128  /* "<md5 hex>-<parts>" and friends, unquoted */
#define STOR_MSG_MAX    512
#define STOR_VALUE_MAX  1024 /* one option or secret value */
#define STOR_SPEC_OPTS  24
#define STOR_UPLOAD_MAX 1024 /* an S3 UploadId / a Swift segment path prefix */
/* Largest object size taken from a listing or a HEAD: 2^53 bytes (8 PiB), the
 * largest integer a JSON number (Swift's listings) holds exactly and far above
 * any store's object limit. A server claiming more is broken or hostile; the
 * bound keeps every size sum and part computation free of overflow. */
#define STOR_SIZE_MAX (1ull << 53)

/* ---- errors ---- */
enum stor_errcode {
    STOR_OK = 0,
    STOR_EARG = -1,        /* the caller passed something invalid (usage error) */
    STOR_ECONFIG = -2,     /* the spec or its options/credentials are missing or bad */
    STOR_ENOMEM = -3,      /* allocation failed or a capped buffer overflowed */
    STOR_EIO = -4,         /* a local file or directory operation failed */
    STOR_ETRANSPORT = -5,  /* connection, DNS, timeout, reset: no HTTP response */
    STOR_ETLS = -6,        /* TLS handshake or certificate verification failed */
    STOR_EAUTH = -7,       /* 401, or a signature/credential the server refused */
    STOR_EFORBIDDEN = -8,  /* 403: authenticated but not allowed (read-only, ACL) */
    STOR_ENOTFOUND = -9,   /* 404 on an object */
    STOR_ENOBUCKET = -10,  /* the bucket/container/directory itself does not exist */
    STOR_ETHROTTLE = -11,  /* 429 / 503 SlowDown: retry later */
    STOR_ESERVER = -12,    /* other 5xx: retry */
    STOR_EHTTP = -13,      /* any other unexpected status */
    STOR_EDECODE = -14,    /* a response that does not parse */
    STOR_EINTEGRITY = -15, /* content does not match its digest/size */
    STOR_ENOTSUP = -16,    /* the backend cannot do this (e.g. server-side copy) */
    STOR_ESTOPPED = -17,   /* a callback asked to stop */
    STOR_EORDER = -18,     /* a listing came out of order */
    STOR_ERETRY = -19,     /* retry now: the backend refreshed its credentials */
};

struct stor_error {
    int code;                   /* a STOR_E* value; STOR_OK when cleared */
    long http_status;           /* 0 when no HTTP response was received */
    char server_code[64];       /* the server's own error code ("NoSuchBucket", ...) */
    char message[STOR_MSG_MAX]; /* a sentence a person can act on; no secrets */
};

void stor_error_clear(struct stor_error *err);
/* Sets code and a printf-style message; returns `code`. `err` may be NULL. */
int stor_error_set(struct stor_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Maps an HTTP status to a STOR_E* code (404 -> STOR_ENOTFOUND, ...). */
int stor_errcode_for_status(long http_status);
/* Whether a request failing with this code may be retried as is. */
int stor_err_retryable(int code);
/* A short stable name: "NotFound", "Forbidden", "TransportError"... */
const char *stor_err_name(int code);

/* Copies `url` into buf without its query string, fragment and userinfo. */
void stor_redact_url(const char *url, char *buf, size_t cap);

/* ---- the spec: where a store is ----
 *
 * Text form (flags or env): `<scheme>://<bucket>[/<prefix>][?opt=value&...]`
 *   s3://quay-bucket/datastorage/registry?endpoint=https://s3.example:443&region=eu-west-1
 *   swift://quay-container/prefix?auth=http://127.0.0.1:8080/auth/v1.0
 *   file:///var/lib/registry      (or a plain absolute path)
 * Options may also come from the environment: option `endpoint` of the source
 * is read from QSO_SOURCE_ENDPOINT when the spec has none (DESTINATION for
 * the other side), or from the file <config dir>/endpoint where the env
 * variable QSO_SOURCE_CONFIG_DIR names a directory (a mounted ConfigMap).
 * Secrets (access keys, passwords, tokens) are NEVER accepted in the spec
 * text: only from the env (QSO_SOURCE_<NAME>) or from files
 * (<QSO_SOURCE_CREDENTIALS_DIR>/<NAME>, a mounted Secret).
 */
struct stor_kv {
    char name[64];
    char value[STOR_VALUE_MAX];
};

struct stor_spec {
    char scheme[16];           /* "s3", "swift", "file" */
    char bucket[256];          /* bucket / container; empty for "file" */
    char prefix[STOR_KEY_MAX]; /* base prefix inside the bucket: "" or ending in '/' */
    char path[4096];           /* the directory for "file" */
    char env_prefix[32];       /* "QSO_SOURCE_" or "QSO_DESTINATION_" */
    size_t nopts;
    struct stor_kv opts[STOR_SPEC_OPTS]; /* from the spec's query string */
    char display[1200];                  /* the spec without query string: safe to log */
};

/*
 * Parses `text`. `env_prefix` ("QSO_SOURCE_") selects where options and
 * secrets not in the text are looked up. Rejects secret-looking options in the
 * text (STOR_EARG) so that secrets can't end up on a command line.
 */
int stor_spec_parse(const char *text, const char *env_prefix, struct stor_spec *out,
                    struct stor_error *err);
/*
 * A non-secret option: the spec's query, else env <env_prefix><NAME> (name
 * upper-cased, '-' -> '_'), else file <$<env_prefix>CONFIG_DIR>/<name>.
 * Returns 1 and fills buf when found, 0 (buf empty) when absent, negative on
 * error.
 */
int stor_spec_opt(const struct stor_spec *spec, const char *name, char *buf, size_t cap,
                  struct stor_error *err);
/*
 * A secret: env <env_prefix><NAME>, else the file
 * <$<env_prefix>CREDENTIALS_DIR>/<NAME> (trailing newline trimmed).
 * Returns 1 when found, 0 when absent, negative on error. Never logs the value.
 */
int stor_spec_secret(const struct stor_spec *spec, const char *name, char *buf, size_t cap,
                     struct stor_error *err);

/* ---- what a listing says about an object ---- */
struct stor_entry {
    char key[STOR_KEY_MAX + 1]; /* relative to the base prefix */
    uint64_t size;              /* 0 may be a Swift DLO manifest: HEAD resolves it */
    char etag[STOR_ETAG_MAX];   /* unquoted, lower-case; "" when unknown */
    int64_t mtime;              /* seconds since the epoch; 0 when unknown */
};

/* ---- what a backend can do ---- */
struct stor_limits {
    unsigned max_parts;           /* multipart: most parts per object (AWS 10000, s3api 1000) */
    uint64_t min_part_size;       /* smallest part but the last (5 MiB) */
    uint64_t max_part_size;       /* largest part (5 GiB) */
    uint64_t max_put_size;        /* largest single PUT (5 GiB) */
    uint64_t multipart_threshold; /* objects larger than this go multipart */
    uint64_t max_copy_size;       /* largest single server-side copy (5 GiB) */
};

/* Part size for an object of `size`: max(min_part_size, ceil(size / max_parts)). */
uint64_t stor_part_size(const struct stor_limits *lim, uint64_t size);

/* ---- one request on the data path (HTTP backends) ---- */
enum stor_op {
    STOR_OP_GET,  /* body streamed to the engine; [offset, offset+length) */
    STOR_OP_PUT,  /* body of `length` bytes streamed from the engine */
    STOR_OP_HEAD, /* finish fills req->entry */
    STOR_OP_DELETE,
    STOR_OP_LIST,       /* one listing page: finish calls req->emit for each entry */
    STOR_OP_MPU_BEGIN,  /* start a multipart upload: fills upload->upload_id */
    STOR_OP_MPU_PART,   /* part `part_number` (1-based), body streamed like PUT */
    STOR_OP_MPU_COMMIT, /* assemble the parts (upload->etags) into the object */
    STOR_OP_MPU_ABORT,  /* best effort clean-up of an unfinished upload */
    STOR_OP_COPY,       /* server-side copy of src_key (from req->src) to key */
    STOR_OP_COPY_PART,  /* server-side copy of [offset, offset+length) as a part */
};

/* A multipart upload's state, owned by the engine, filled by the backend. */
struct stor_upload {
    char upload_id[STOR_UPLOAD_MAX]; /* S3 UploadId; a Swift backend may keep its segment prefix */
    uint64_t size;                   /* the whole object */
    uint64_t part_size;              /* every part but the last */
    unsigned nparts;
    char (*etags)[STOR_ETAG_MAX]; /* nparts entries; finish of part i fills etags[i-1] */
};

/*
 * Cuts an object of `size` (at most STOR_SIZE_MAX) into parts: fills
 * up->size, part_size and nparts. STOR_ENOTSUP with a message when the
 * object needs more than max_parts parts of at most max_part_size bytes (the
 * server would refuse it only after most of it was uploaded).
 */
int stor_upload_plan(const struct stor_limits *lim, const char *key, uint64_t size,
                     struct stor_upload *up, struct stor_error *err);

struct stor_backend;

/* A growable byte buffer with a hard maximum (responses, headers). */
struct stor_buf {
    char *data; /* NUL-terminated after len bytes once anything was appended */
    size_t len;
    size_t cap;
    size_t max;
};
void stor_buf_init(struct stor_buf *b, size_t max);
int stor_buf_append(struct stor_buf *b, const void *data, size_t len);
int stor_buf_appendf(struct stor_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void stor_buf_reset(struct stor_buf *b);
void stor_buf_free(struct stor_buf *b);

/*
 * One request. The engine fills the inputs, the backend's `setup` configures
 * the easy handle, the engine runs it, and `finish` reads the outputs.
 */
struct stor_req {
    /* inputs (set by the engine; borrowed) */
    enum stor_op op;
    const char *key;            /* relative key (the destination key for COPY) */
    uint64_t offset, length;    /* GET range (length 0: whole object); PUT/part body size */
    unsigned part_number;       /* MPU_PART / COPY_PART, 1-based */
    struct stor_upload *upload; /* MPU_* and COPY_PART */
    struct stor_backend *src;   /* COPY / COPY_PART: the source backend (same_account) */
    const char *src_key;        /* COPY / COPY_PART: relative to src's prefix */
    const char *list_prefix;    /* LIST: relative prefix to list ("" = everything) */
    const char *list_marker;    /* LIST: in: NULL/"" for the first page, else the token */
    /* LIST output: called by finish once per entry, in order; non-zero stops. */
    int (*emit)(void *ctx, const struct stor_entry *e);
    void *emit_ctx;

    /* set by setup (owned by the req; the engine frees them after the request) */
    struct curl_slist *headers; /* the engine passes these as CURLOPT_HTTPHEADER */

    /* outputs, filled by the engine while the request runs */
    long status;                  /* HTTP status */
    struct stor_buf resp_headers; /* raw response header lines of the final response */
    struct stor_buf resp_body;    /* the body, except a successful GET's (streamed) */

    /* outputs, filled by finish */
    struct stor_entry entry;            /* HEAD: size, etag, mtime; PUT/COPY/part: etag */
    char list_next[STOR_KEY_MAX + 512]; /* LIST: token for the next page */
    int list_done;                      /* LIST: 1 when this was the last page */

    void *backend_data; /* free for the backend; freed by it in finish/`req_cleanup` */
};

/* Appends "Name: value" to req->headers. 0 or STOR_ENOMEM. */
int stor_req_add_header(struct stor_req *req, const char *name, const char *value);
/*
 * Looks up a response header (case-insensitive) of the final response in
 * req->resp_headers; copies its trimmed value. Returns 1 found, 0 absent.
 */
int stor_req_header(const struct stor_req *req, const char *name, char *buf, size_t cap);

/* Opaque handles of the direct hooks. */
struct stor_lister;
struct stor_reader;
struct stor_writer;

/*
 * Every backend embeds this as its FIRST member so that generic code can find
 * its ops; `display` is a redacted description for logs ("s3://bucket/prefix").
 */
struct stor_backend {
    const struct stor_backend_ops *ops;
    struct stor_spec spec; /* a copy of the spec it was opened with */
};

struct stor_backend_ops {
    const char *scheme; /* "s3", "swift", "file" */

    /* Opens (and for HTTP backends, authenticates): reads options and secrets
     * from the spec; fails with STOR_ECONFIG on missing credentials. The spec
     * is copied. */
    int (*open)(const struct stor_spec *spec, struct stor_backend **out, struct stor_error *err);
    void (*close)(struct stor_backend *b);
    /* May perform one blocking request (Swift: GET /info). Called once. */
    int (*limits)(struct stor_backend *b, struct stor_limits *out, struct stor_error *err);
    /* 1 when `dst` can copy objects of `src` server-side (same endpoint and
     * credentials/account); NULL or 0 means stream them. */
    int (*same_account)(const struct stor_backend *dst, const struct stor_backend *src);

    /* ---- HTTP flavour: NULL for direct backends ----
     * The engine calls curl_easy_reset(), sets its own options (timeouts,
     * NOSIGNAL, header/body capture), then `setup`, which sets the URL, the
     * method (CURLOPT_UPLOAD for PUT/MPU_PART, CURLOPT_NOBODY for HEAD,
     * CURLOPT_CUSTOMREQUEST, CURLOPT_COPYPOSTFIELDS for small bodies), TLS
     * options (CA) and signs; request headers go in req->headers. For PUT and
     * MPU_PART the engine then sets CURLOPT_READFUNCTION/READDATA and
     * CURLOPT_INFILESIZE_LARGE(req->length); for a GET it sets the write
     * function. `setup` returns 0, or STOR_ENOTSUP when this op needs no
     * request on this backend (the engine then treats it as done without
     * calling `finish`). */
    int (*setup)(struct stor_backend *b, CURL *easy, struct stor_req *req, struct stor_error *err);
    /* After the engine ran the request and got an HTTP response (transport
     * failures never reach `finish`): 0 on success, else a STOR_E* code with
     * detail. Return STOR_ERETRY after refreshing credentials on a 401. */
    int (*finish)(struct stor_backend *b, CURL *easy, struct stor_req *req, struct stor_error *err);
    /* Optional: frees req->backend_data when a request is abandoned. */
    void (*req_cleanup)(struct stor_backend *b, struct stor_req *req);

    /* ---- direct flavour: blocking; optional for HTTP backends ---- */
    int (*list_open)(struct stor_backend *b, const char *prefix, const char *start_after,
                     struct stor_lister **out, struct stor_error *err);
    /* 1 and fills *e; 0 at the end; negative on error. */
    int (*list_next)(struct stor_lister *l, struct stor_entry *e, struct stor_error *err);
    void (*list_close)(struct stor_lister *l);
    int (*head)(struct stor_backend *b, const char *key, struct stor_entry *out,
                struct stor_error *err);
    int (*del)(struct stor_backend *b, const char *key, struct stor_error *err);
    int (*read_open)(struct stor_backend *b, const char *key, uint64_t offset,
                     struct stor_reader **out, struct stor_error *err);
    /* *got == 0 at the end of the object. */
    int (*read)(struct stor_reader *r, void *buf, size_t cap, size_t *got, struct stor_error *err);
    void (*read_close)(struct stor_reader *r);
    /* The object appears only at commit (atomically where the store allows). */
    int (*write_open)(struct stor_backend *b, const char *key, uint64_t size,
                      struct stor_writer **out, struct stor_error *err);
    int (*write)(struct stor_writer *w, const void *buf, size_t len, struct stor_error *err);
    int (*write_commit)(struct stor_writer *w, struct stor_error *err); /* frees w */
    void (*write_abort)(struct stor_writer *w);                         /* frees w */
    /* Server-side copy between two direct backends of the same kind. */
    int (*copy)(struct stor_backend *dst, const char *dst_key, struct stor_backend *src,
                const char *src_key, struct stor_error *err);
};

/* ---- generic calls (stor_backend.c): what the engine, probe and verify use ---- */

/* Picks the backend by spec->scheme and opens it. */
int stor_backend_open(const struct stor_spec *spec, struct stor_backend **out,
                      struct stor_error *err);
void stor_backend_close(struct stor_backend *b);
int stor_backend_limits(struct stor_backend *b, struct stor_limits *out, struct stor_error *err);
/* 1 when the backend has HTTP set-up hooks (runs on the multi engine). */
int stor_backend_is_http(const struct stor_backend *b);

/* A sorted listing of keys under `prefix` (relative), after `start_after`
 * (NULL: from the start). Uses list_open/next when set, else LIST pages. */
int stor_list_open(struct stor_backend *b, const char *prefix, const char *start_after,
                   struct stor_lister **out, struct stor_error *err);
int stor_list_next(struct stor_lister *l, struct stor_entry *e, struct stor_error *err);
void stor_list_close(struct stor_lister *l);
/* How many listing requests the lister has made so far (0 for direct ones). */
uint64_t stor_list_requests(const struct stor_lister *l);

/* Blocking single requests (one private easy handle each; not the fast path). */
int stor_head(struct stor_backend *b, const char *key, struct stor_entry *out,
              struct stor_error *err);
int stor_delete(struct stor_backend *b, const char *key, struct stor_error *err);

/* Streams [offset, offset+length) (length 0: to the end) into `sink`; a
 * non-zero return from sink stops with STOR_ESTOPPED. */
typedef int (*stor_sink_fn)(void *ctx, const void *data, size_t len);
int stor_get(struct stor_backend *b, const char *key, uint64_t offset, uint64_t length,
             stor_sink_fn sink, void *ctx, struct stor_error *err);

/* Writes an object of exactly `size` bytes read from `source` (which fills up
 * to cap bytes and sets *got; 0 bytes before `size` is an error). Multipart
 * when size exceeds the backend's threshold. */
typedef int (*stor_source_fn)(void *ctx, void *buf, size_t cap, size_t *got);
int stor_put(struct stor_backend *b, const char *key, uint64_t size, stor_source_fn source,
             void *ctx, struct stor_error *err);

/* Runs one prepared request on `easy` (blocking), for code that drives a
 * backend's setup/finish outside the multi engine. Body callbacks as above
 * (sink for GET, source for PUT/MPU_PART; NULL otherwise). */
int stor_req_perform(struct stor_backend *b, CURL *easy, struct stor_req *req, stor_sink_fn sink,
                     void *sink_ctx, stor_source_fn source, void *source_ctx,
                     struct stor_error *err);
/* Frees what a request owns (headers, captured buffers) and resets outputs. */
void stor_req_release(struct stor_backend *b, struct stor_req *req);

#endif
