/*
 * The OpenStack Swift backend (Swift API v1).
 *
 * Authentication is tempauth's v1 protocol (also served by swauth and by
 * Keystone's v1 compatibility): GET <auth> with X-Auth-User/X-Auth-Key
 * answers X-Storage-Url and X-Auth-Token. Every request carries the token;
 * a 401 (the token expired, or memcached forgot it) makes `finish`
 * authenticate again — once per token, however many requests saw the 401 —
 * and answer STOR_ERETRY so the engine repeats the request at once.
 *
 * Listings are JSON pages (`?format=json&limit=N&marker=...`); each entry
 * carries the object's size and MD5, so no HEAD is needed to plan a copy.
 * For a static large object the listing's `hash` is the manifest's MD5 and
 * `slo_etag` the object's ETag (what HEAD answers): the entry takes the
 * latter, so listing and HEAD agree. A dynamic large object (how Quay's Swift
 * driver stores pushed blobs) lists as a zero-byte object; the engine
 * resolves every zero-byte entry with a HEAD, which answers the real size,
 * and a GET of it streams the joined segments.
 *
 * Large uploads become SLOs: MPU_BEGIN makes sure the segment container
 * exists (once per backend) and names the upload; each part is a segment
 * object `<segment container>/<object path>/<upload id>/<part, 8 digits>`;
 * MPU_COMMIT PUTs the JSON manifest with ?multipart-manifest=put. A part
 * copied server-side is a PUT with X-Copy-From and Range. The limits come
 * from the proxy's /info (swift.max_file_size, swift.container_listing_limit,
 * slo.max_manifest_segments), with Swift's defaults when /info is disabled.
 *
 * Spec: swift://<container>[/<prefix>]?auth=<auth URL>
 * Options (spec query, QSO_<SIDE>_<NAME> env, or <CONFIG_DIR>/<name>):
 *   auth                 the v1 auth URL, e.g. http://127.0.0.1:8080/auth/v1.0
 *   storage_url          use this storage URL instead of the one auth answers
 *                        (a proxy reached through another name); with the
 *                        secret SWIFT_AUTH_TOKEN and no `auth`, no auth at all
 *   ca_file              PEM bundle to verify https endpoints with
 *   segment_container    where SLO segments go (default <container>_segments)
 *   multipart_threshold  bytes; larger objects become SLOs (default 128 MiB,
 *                        at most max_file_size)
 *   max_parts            segments per SLO (default: /info's
 *                        slo.max_manifest_segments, else 1000)
 *   page_size            listing page size (default: /info's
 *                        container_listing_limit, at most 10000)
 * Secrets (env QSO_<SIDE>_<NAME> or <CREDENTIALS_DIR>/<NAME> only):
 *   SWIFT_USER ("<account>:<user>"; also accepted as option `user`),
 *   SWIFT_KEY (or SWIFT_PASSWORD), SWIFT_AUTH_TOKEN (pre-authenticated).
 */
#include "stor_swift.h"

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "stor_internal.h"
#include "stor_sigv4.h"

#define SWIFT_TOKEN_MAX             4096 /* Keystone tokens can be long; tempauth's are ~40 bytes */
#define SWIFT_URL_MAX               2048
#define SWIFT_DEFAULT_MAX_FILE_SIZE 5368709122ull /* Swift's constraints default */
#define SWIFT_DEFAULT_SEGMENTS      1000u
#define SWIFT_DEFAULT_PAGE          10000u
#define SWIFT_AUTH_TIMEOUT_S        60L

struct swift_backend {
    struct stor_backend base;
    /* Guards token, storage_url and segments_ready: the engine thread and
     * the listing threads share one backend. */
    pthread_mutex_t lock;
    char auth_url[SWIFT_URL_MAX];
    char user[STOR_VALUE_MAX];
    char key[STOR_VALUE_MAX];
    char token[SWIFT_TOKEN_MAX];
    char storage_url[SWIFT_URL_MAX];
    int fixed_storage_url; /* the storage_url option wins over X-Storage-Url */
    int preauth;           /* a given token: nothing to re-authenticate with */
    char ca_file[1024];
    char segment_container[256];
    uint64_t multipart_threshold;
    unsigned max_parts_opt;
    unsigned page_size;
    int segments_ready; /* the segment container is known to exist */
    int limits_known;
    struct stor_limits limits;
};

static struct swift_backend *sw(struct stor_backend *b)
{
    return (struct swift_backend *)b;
}

/* Frees a header list whose lines may hold a secret, wiping them first. */
static void free_secret_headers(struct curl_slist *h)
{
    for (struct curl_slist *l = h; l; l = l->next)
        OPENSSL_cleanse(l->data, strlen(l->data));
    curl_slist_free_all(h);
}

/* The first bytes of an error body as one printable line (Swift answers
 * short HTML like "<html><h1>Not Found</h1><p>...</p></html>"). */
static void body_excerpt(const struct stor_buf *body, char *out, size_t cap)
{
    size_t o = 0;
    int in_tag = 0, space = 0;
    if (!cap)
        return;
    for (size_t i = 0; body->data && i < body->len && o + 1 < cap; i++) {
        char c = body->data[i];
        if (c == '<') {
            in_tag = 1;
            space = o > 0;
            continue;
        }
        if (c == '>') {
            in_tag = 0;
            continue;
        }
        if (in_tag)
            continue;
        if (c == '\r' || c == '\n' || c == '\t' || c == ' ') {
            space = o > 0;
            continue;
        }
        if ((unsigned char)c < 0x20 || c == 0x7f)
            continue;
        if (space && o + 2 < cap)
            out[o++] = ' ';
        space = 0;
        out[o++] = c;
    }
    out[o] = '\0';
}

/* ------------------------------------------------------------ authentication */

/* A plain request on a private handle: GET `url` with `headers`; fills the
 * status, response headers and (capped) body. */
static int simple_get(struct swift_backend *b, const char *url, struct curl_slist *headers,
                      struct stor_req *out, struct stor_error *err)
{
    CURL *easy = curl_easy_init();
    if (!easy)
        return stor_error_set(err, STOR_ENOMEM, "out of memory");
    stor_buf_init(&out->resp_headers, STOR_RESP_HEADERS_MAX);
    stor_buf_init(&out->resp_body, 1u << 20);
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT, SWIFT_AUTH_TIMEOUT_S);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, stor__buf_collect);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, &out->resp_headers);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, stor__buf_collect);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &out->resp_body);
    if (headers)
        curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
    if (b->ca_file[0])
        curl_easy_setopt(easy, CURLOPT_CAINFO, b->ca_file);
    int rc = 0;
    CURLcode cc = curl_easy_perform(easy);
    if (cc != CURLE_OK) {
        char shown[512];
        stor_redact_url(url, shown, sizeof(shown));
        int code = cc == CURLE_SSL_CONNECT_ERROR || cc == CURLE_PEER_FAILED_VERIFICATION ||
                           cc == CURLE_SSL_CACERT_BADFILE
                       ? STOR_ETLS
                       : STOR_ETRANSPORT;
        rc = stor_error_set(err, code, "%s: %s", shown, curl_easy_strerror(cc));
    } else {
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &out->status);
    }
    curl_easy_cleanup(easy);
    return rc;
}

/* Authenticates with tempauth v1; the caller holds b->lock (or is `open`). */
static int authenticate_locked(struct swift_backend *b, struct stor_error *err)
{
    int rc = 0;
    struct curl_slist *h = NULL, *l;
    struct stor_req resp;
    memset(&resp, 0, sizeof(resp));
    char line[STOR_VALUE_MAX + 32];
    char shown[512];
    stor_redact_url(b->auth_url, shown, sizeof(shown));

    snprintf(line, sizeof(line), "X-Auth-User: %s", b->user);
    if (!(l = curl_slist_append(h, line)))
        goto nomem;
    h = l;
    snprintf(line, sizeof(line), "X-Auth-Key: %s", b->key);
    l = curl_slist_append(h, line);
    OPENSSL_cleanse(line, sizeof(line));
    if (!l)
        goto nomem;
    h = l;

    rc = simple_get(b, b->auth_url, h, &resp, err);
    if (rc)
        goto out;
    if (resp.status == 401 || resp.status == 403) {
        rc = stor_error_set(err, STOR_EAUTH,
                            "Swift auth at %s refused user \"%.200s\" (HTTP %ld): check the "
                            "SWIFT_USER and SWIFT_KEY credentials",
                            shown, b->user, resp.status);
        err->http_status = resp.status;
        goto out;
    }
    if (resp.status < 200 || resp.status >= 300) {
        char ex[200];
        body_excerpt(&resp.resp_body, ex, sizeof(ex));
        rc = stor_error_set(err, stor_errcode_for_status(resp.status),
                            "Swift auth at %s: HTTP %ld %s", shown, resp.status, ex);
        err->http_status = resp.status;
        goto out;
    }
    char token[SWIFT_TOKEN_MAX], url[SWIFT_URL_MAX];
    if (!stor_req_header(&resp, "x-auth-token", token, sizeof(token)) || !token[0]) {
        rc = stor_error_set(err, STOR_EDECODE, "Swift auth at %s answered no X-Auth-Token", shown);
        goto out;
    }
    if (!b->fixed_storage_url &&
        (!stor_req_header(&resp, "x-storage-url", url, sizeof(url)) || !url[0])) {
        OPENSSL_cleanse(token, sizeof(token));
        rc = stor_error_set(err, STOR_EDECODE, "Swift auth at %s answered no X-Storage-Url", shown);
        goto out;
    }
    stor_strlcpy(b->token, token, sizeof(b->token));
    OPENSSL_cleanse(token, sizeof(token));
    if (!b->fixed_storage_url) {
        size_t n = strlen(url);
        while (n > 0 && url[n - 1] == '/')
            url[--n] = '\0';
        stor_strlcpy(b->storage_url, url, sizeof(b->storage_url));
    }
    goto out;
nomem:
    rc = stor_error_set(err, STOR_ENOMEM, "out of memory");
out:
    free_secret_headers(h);
    if (resp.resp_headers.data)
        OPENSSL_cleanse(resp.resp_headers.data, resp.resp_headers.len);
    stor_buf_free(&resp.resp_headers);
    stor_buf_free(&resp.resp_body);
    return rc;
}

/* The token a request was sent with, from its own header list. */
static void token_of(const struct stor_req *req, char *buf, size_t cap)
{
    static const char name[] = "X-Auth-Token: ";
    buf[0] = '\0';
    for (const struct curl_slist *l = req->headers; l; l = l->next)
        if (strncmp(l->data, name, sizeof(name) - 1) == 0) {
            stor_strlcpy(buf, l->data + sizeof(name) - 1, cap);
            return;
        }
}

/* A request got 401: authenticate again unless another request already did
 * since this one was sent. STOR_ERETRY when the request may be repeated. */
static int reauth(struct swift_backend *b, const struct stor_req *req, struct stor_error *err)
{
    if (b->preauth || !b->auth_url[0])
        return stor_error_set(err, STOR_EAUTH,
                              "Swift refused the given token (HTTP 401) and there are no "
                              "credentials to authenticate again with");
    char used[SWIFT_TOKEN_MAX];
    token_of(req, used, sizeof(used));
    int rc = 0;
    pthread_mutex_lock(&b->lock);
    if (strcmp(used, b->token) == 0)
        rc = authenticate_locked(b, err);
    pthread_mutex_unlock(&b->lock);
    OPENSSL_cleanse(used, sizeof(used));
    if (rc)
        return rc;
    return stor_error_set(err, STOR_ERETRY, "the Swift token was refused; authenticated again");
}

/* ------------------------------------------------------------ open / close */

static int read_u64_opt(const struct stor_spec *spec, const char *name, uint64_t min, uint64_t max,
                        uint64_t *out, struct stor_error *err)
{
    char v[STOR_VALUE_MAX];
    int rc = stor_spec_opt(spec, name, v, sizeof(v), err);
    if (rc <= 0)
        return rc;
    uint64_t x = 0;
    if (stor_parse_u64(v, &x) || x < min || x > max)
        return stor_error_set(err, STOR_ECONFIG, "option %s must be a number in %llu..%llu", name,
                              (unsigned long long)min, (unsigned long long)max);
    *out = x;
    return 1;
}

static void swift_free(struct swift_backend *b)
{
    if (!b)
        return;
    pthread_mutex_destroy(&b->lock);
    OPENSSL_cleanse(b->key, sizeof(b->key));
    OPENSSL_cleanse(b->token, sizeof(b->token));
    free(b);
}

static int swift_open(const struct stor_spec *spec, struct stor_backend **out,
                      struct stor_error *err)
{
    int rc = 0;
    char v[STOR_VALUE_MAX];
    *out = NULL;
    struct swift_backend *b = calloc(1, sizeof(*b));
    if (!b)
        return stor_error_set(err, STOR_ENOMEM, "out of memory");
    if (pthread_mutex_init(&b->lock, NULL)) {
        free(b);
        return stor_error_set(err, STOR_ENOMEM, "cannot create a mutex");
    }
    b->base.spec = *spec;

    if ((rc = stor_spec_opt(spec, "auth", v, sizeof(v), err)) < 0)
        goto out;
    if (rc)
        stor_strlcpy(b->auth_url, v, sizeof(b->auth_url));
    if ((rc = stor_spec_opt(spec, "storage_url", v, sizeof(v), err)) < 0)
        goto out;
    if (rc) {
        size_t n = strlen(v);
        while (n > 0 && v[n - 1] == '/')
            v[--n] = '\0';
        stor_strlcpy(b->storage_url, v, sizeof(b->storage_url));
        b->fixed_storage_url = 1;
    }
    if ((rc = stor_spec_opt(spec, "ca_file", v, sizeof(v), err)) < 0)
        goto out;
    if (rc)
        stor_strlcpy(b->ca_file, v, sizeof(b->ca_file));
    if ((rc = stor_spec_opt(spec, "segment_container", v, sizeof(v), err)) < 0)
        goto out;
    if (rc && (!v[0] || strchr(v, '/') || strlen(v) >= sizeof(b->segment_container))) {
        rc = stor_error_set(err, STOR_ECONFIG, "segment_container must be a container name");
        goto out;
    }
    if (rc)
        stor_strlcpy(b->segment_container, v, sizeof(b->segment_container));
    else
        snprintf(b->segment_container, sizeof(b->segment_container), "%.240s_segments",
                 spec->bucket);
    b->multipart_threshold = 128ull << 20;
    if ((rc = read_u64_opt(spec, "multipart_threshold", 1, UINT64_MAX, &b->multipart_threshold,
                           err)) < 0)
        goto out;
    uint64_t x = 0;
    if ((rc = read_u64_opt(spec, "max_parts", 1, 100000, &x, err)) < 0)
        goto out;
    b->max_parts_opt = (unsigned)x;
    x = 0;
    if ((rc = read_u64_opt(spec, "page_size", 1, 100000, &x, err)) < 0)
        goto out;
    b->page_size = (unsigned)x;

    /* A pre-authenticated token (e.g. from another auth system) with a
     * storage URL needs no credentials. */
    if ((rc = stor_spec_secret(spec, "SWIFT_AUTH_TOKEN", b->token, sizeof(b->token), err)) < 0)
        goto out;
    if (rc && !b->auth_url[0]) {
        if (!b->fixed_storage_url) {
            rc = stor_error_set(err, STOR_ECONFIG,
                                "a Swift token (SWIFT_AUTH_TOKEN) needs the storage_url option");
            goto out;
        }
        b->preauth = 1;
        rc = 0;
        *out = &b->base;
        b = NULL;
        goto out;
    }
    b->token[0] = '\0';
    if (!b->auth_url[0]) {
        rc = stor_error_set(err, STOR_ECONFIG,
                            "no Swift auth URL: set the auth option (swift://%s/...?auth=<URL>) "
                            "or %sAUTH",
                            spec->bucket, spec->env_prefix);
        goto out;
    }
    if (strncmp(b->auth_url, "http://", 7) != 0 && strncmp(b->auth_url, "https://", 8) != 0) {
        rc = stor_error_set(err, STOR_ECONFIG, "the Swift auth URL must be http:// or https://");
        goto out;
    }
    rc = stor_spec_secret(spec, "SWIFT_USER", b->user, sizeof(b->user), err);
    if (rc == 0)
        rc = stor_spec_opt(spec, "user", b->user, sizeof(b->user), err);
    if (rc == 0)
        rc = stor_error_set(err, STOR_ECONFIG,
                            "no Swift user: set %sSWIFT_USER or a file SWIFT_USER in "
                            "%sCREDENTIALS_DIR",
                            spec->env_prefix, spec->env_prefix);
    if (rc < 0)
        goto out;
    rc = stor_spec_secret(spec, "SWIFT_KEY", b->key, sizeof(b->key), err);
    if (rc == 0)
        rc = stor_spec_secret(spec, "SWIFT_PASSWORD", b->key, sizeof(b->key), err);
    if (rc == 0)
        rc = stor_error_set(err, STOR_ECONFIG,
                            "no Swift key: set %sSWIFT_KEY or a file SWIFT_KEY in "
                            "%sCREDENTIALS_DIR",
                            spec->env_prefix, spec->env_prefix);
    if (rc < 0)
        goto out;
    rc = authenticate_locked(b, err);
    if (rc)
        goto out;
    *out = &b->base;
    b = NULL;
out:
    swift_free(b);
    return rc;
}

static void swift_close(struct stor_backend *sb)
{
    swift_free(sw(sb));
}

/* ------------------------------------------------------------ limits */

/* /info lives beside /v1 on the proxy: the storage URL up to "/v1/". */
static int info_url(const char *storage_url, char *buf, size_t cap)
{
    const char *v1 = strstr(storage_url, "/v1/");
    if (!v1) {
        size_t n = strlen(storage_url);
        if (n >= 3 && strcmp(storage_url + n - 3, "/v1") == 0)
            v1 = storage_url + n - 3;
    }
    if (v1) {
        int n = snprintf(buf, cap, "%.*s/info", (int)(v1 - storage_url), storage_url);
        return n > 0 && (size_t)n < cap ? 0 : -1;
    }
    /* No /v1 in the path: the proxy's root. */
    const char *host = strstr(storage_url, "://");
    if (!host)
        return -1;
    host += 3;
    size_t hl = strcspn(host, "/");
    int n = snprintf(buf, cap, "%.*s/info", (int)(host + hl - storage_url), storage_url);
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

/* A positive number of /info, at most `max` (a larger one is taken as `max`). */
static uint64_t json_u64(const cJSON *obj, const char *name, uint64_t dflt, uint64_t max)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 1))
        return dflt;
    return v->valuedouble >= (double)max ? max : (uint64_t)v->valuedouble;
}

static int swift_limits(struct stor_backend *sb, struct stor_limits *out, struct stor_error *err)
{
    (void)err;
    struct swift_backend *b = sw(sb);
    pthread_mutex_lock(&b->lock);
    int known = b->limits_known;
    char storage[SWIFT_URL_MAX];
    stor_strlcpy(storage, b->storage_url, sizeof(storage));
    pthread_mutex_unlock(&b->lock);
    if (known) {
        *out = b->limits;
        return 0;
    }

    uint64_t max_file = SWIFT_DEFAULT_MAX_FILE_SIZE, segments = SWIFT_DEFAULT_SEGMENTS;
    uint64_t page = SWIFT_DEFAULT_PAGE;
    int have_slo = 1; /* assumed when /info is unavailable, as on most clusters */
    char url[SWIFT_URL_MAX + 8];
    struct stor_req resp;
    memset(&resp, 0, sizeof(resp));
    struct stor_error ignored;
    /* /info is public and optional (expose_info = false hides it): a failure
     * here only means Swift's defaults. */
    if (info_url(storage, url, sizeof(url)) == 0 &&
        simple_get(b, url, NULL, &resp, &ignored) == 0 && resp.status == 200 &&
        resp.resp_body.data) {
        cJSON *j = cJSON_ParseWithLength(resp.resp_body.data, resp.resp_body.len);
        const cJSON *swift = cJSON_GetObjectItemCaseSensitive(j, "swift");
        const cJSON *slo = cJSON_GetObjectItemCaseSensitive(j, "slo");
        if (cJSON_IsObject(swift)) {
            max_file = json_u64(swift, "max_file_size", max_file, STOR_SIZE_MAX);
            page = json_u64(swift, "container_listing_limit", page, SWIFT_DEFAULT_PAGE);
            have_slo = cJSON_IsObject(slo);
            segments = json_u64(slo, "max_manifest_segments", segments, 100000);
        }
        cJSON_Delete(j);
    }
    stor_buf_free(&resp.resp_headers);
    stor_buf_free(&resp.resp_body);

    struct stor_limits l;
    memset(&l, 0, sizeof(l));
    l.max_put_size = max_file;
    l.max_part_size = max_file;
    l.max_copy_size = max_file;
    /* SLO takes segments of any size; 5 MiB keeps the manifest and the
     * request count small, as S3 does. */
    l.min_part_size = 5ull << 20;
    if (l.min_part_size > max_file)
        l.min_part_size = max_file;
    l.max_parts = have_slo ? (b->max_parts_opt ? b->max_parts_opt : (unsigned)segments) : 0;
    l.multipart_threshold = b->multipart_threshold < max_file ? b->multipart_threshold : max_file;
    if (page > SWIFT_DEFAULT_PAGE)
        page = SWIFT_DEFAULT_PAGE;

    pthread_mutex_lock(&b->lock);
    if (!b->page_size)
        b->page_size = (unsigned)page;
    b->limits = l;
    b->limits_known = 1;
    pthread_mutex_unlock(&b->lock);
    *out = l;
    return 0;
}

static int swift_same_account(const struct stor_backend *dst, const struct stor_backend *src)
{
    if (dst->ops != src->ops)
        return 0;
    struct swift_backend *d = (struct swift_backend *)dst;
    struct swift_backend *s = (struct swift_backend *)src;
    if (d == s)
        return 1;
    /* The copy reads the source with the destination's token: the same
     * account seen by the same user. */
    pthread_mutex_lock(&d->lock);
    pthread_mutex_lock(&s->lock);
    int same = strcmp(d->storage_url, s->storage_url) == 0 && strcmp(d->user, s->user) == 0 &&
               d->preauth == s->preauth && (!d->preauth || strcmp(d->token, s->token) == 0);
    pthread_mutex_unlock(&s->lock);
    pthread_mutex_unlock(&d->lock);
    return same;
}

/* ------------------------------------------------------------ requests */

/* "<storage>/<container>[/<path>]", every part percent-encoded. */
static int build_url(struct stor_buf *url, const char *storage, const char *container,
                     const char *path_a, const char *path_b)
{
    int rc = stor_buf_appendf(url, "%s/", storage);
    if (!rc)
        rc = stor_uri_encode(url, container, 0);
    if (!rc && (path_a || path_b)) {
        rc = stor_buf_append(url, "/", 1);
        if (!rc && path_a)
            rc = stor_uri_encode(url, path_a, 1);
        if (!rc && path_b)
            rc = stor_uri_encode(url, path_b, 1);
    }
    return rc;
}

/*
 * Names a new upload: "<object path or its sha256>/<time>-<random>/". The
 * object path keeps segments findable by a person; a path too long for
 * Swift's 1,024-byte names is replaced by its digest.
 */
static int new_upload_id(struct swift_backend *b, const char *key, char *out, size_t cap)
{
    unsigned char rnd[8];
    char hex[17], full[2 * STOR_KEY_MAX + 2], digest[65];
    if (RAND_bytes(rnd, sizeof(rnd)) != 1)
        return STOR_ENOMEM;
    stor_hex(rnd, sizeof(rnd), hex);
    snprintf(full, sizeof(full), "%s%s", b->base.spec.prefix, key);
    const char *name = full;
    if (strlen(full) > 900) {
        stor_sha256_hex(full, strlen(full), digest);
        name = digest;
    }
    int n = snprintf(out, cap, "%s/%lld-%s/", name, (long long)time(NULL), hex);
    return n > 0 && (size_t)n < cap ? 0 : STOR_ENOMEM;
}

/* The URL of segment `part` of an upload. */
static int segment_url(struct swift_backend *b, const char *storage, const struct stor_upload *up,
                       unsigned part, struct stor_buf *url)
{
    char name[STOR_UPLOAD_MAX + 16];
    snprintf(name, sizeof(name), "%s%08u", up->upload_id, part);
    return build_url(url, storage, b->segment_container, name, NULL);
}

/* Best-effort removal of an unfinished upload's segments: one DELETE per
 * part that was stored (its ETag is known). Blocking, on a private handle;
 * aborts are rare (a large upload that failed for good). */
static void abort_upload(struct swift_backend *b, const char *storage, const char *token,
                         const struct stor_upload *up)
{
    CURL *easy = curl_easy_init();
    struct curl_slist *h = NULL;
    char line[SWIFT_TOKEN_MAX + 32];
    snprintf(line, sizeof(line), "X-Auth-Token: %s", token);
    h = curl_slist_append(NULL, line);
    OPENSSL_cleanse(line, sizeof(line));
    for (unsigned i = 0; easy && h && up->etags && i < up->nparts; i++) {
        if (!up->etags[i][0])
            continue;
        struct stor_buf url;
        stor_buf_init(&url, 4 * STOR_KEY_MAX + SWIFT_URL_MAX);
        if (segment_url(b, storage, up, i + 1, &url) == 0) {
            curl_easy_reset(easy);
            curl_easy_setopt(easy, CURLOPT_URL, url.data);
            curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, "DELETE");
            curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
            curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
            curl_easy_setopt(easy, CURLOPT_TIMEOUT, 30L);
            curl_easy_setopt(easy, CURLOPT_HTTPHEADER, h);
            if (b->ca_file[0])
                curl_easy_setopt(easy, CURLOPT_CAINFO, b->ca_file);
            curl_easy_perform(easy);
        }
        stor_buf_free(&url);
    }
    free_secret_headers(h);
    if (easy)
        curl_easy_cleanup(easy);
}

/* The SLO manifest of a finished upload: segments in order, with ETags and
 * sizes, so Swift checks each one before it accepts the object. */
static char *slo_manifest(struct swift_backend *b, const struct stor_upload *up)
{
    cJSON *arr = cJSON_CreateArray();
    char path[STOR_UPLOAD_MAX + 300];
    for (unsigned i = 0; arr && i < up->nparts; i++) {
        uint64_t off = (uint64_t)i * up->part_size;
        uint64_t len = up->size - off < up->part_size ? up->size - off : up->part_size;
        snprintf(path, sizeof(path), "/%s/%s%08u", b->segment_container, up->upload_id, i + 1);
        cJSON *seg = cJSON_CreateObject();
        if (!seg || !cJSON_AddItemToArray(arr, seg) ||
            !cJSON_AddStringToObject(seg, "path", path) ||
            !cJSON_AddStringToObject(seg, "etag", up->etags[i]) ||
            !cJSON_AddNumberToObject(seg, "size_bytes", (double)len)) {
            cJSON_Delete(arr);
            return NULL;
        }
    }
    char *text = arr ? cJSON_PrintUnformatted(arr) : NULL;
    cJSON_Delete(arr);
    return text;
}

static int swift_setup(struct stor_backend *sb, CURL *easy, struct stor_req *req,
                       struct stor_error *err)
{
    struct swift_backend *b = sw(sb);
    int rc = 0;
    char storage[SWIFT_URL_MAX], token[SWIFT_TOKEN_MAX], range[64];
    char query[3 * STOR_KEY_MAX + 3 * (STOR_KEY_MAX + 512) + 128];
    struct stor_buf url, tmp;
    stor_buf_init(&url, 16 * STOR_KEY_MAX + SWIFT_URL_MAX);
    stor_buf_init(&tmp, 8 * STOR_KEY_MAX);
    const char *prefix = sb->spec.prefix;
    const char *container = sb->spec.bucket;

    /* A page is known to be the last when it is short, which holds only if
     * we never ask for more than the cluster's container_listing_limit
     * (beyond it Swift answers 412): learn it from /info before the first
     * page. Listing threads may block; this happens once. */
    pthread_mutex_lock(&b->lock);
    int limits_known = b->limits_known;
    pthread_mutex_unlock(&b->lock);
    if (req->op == STOR_OP_LIST && !limits_known) {
        struct stor_limits ignored;
        swift_limits(sb, &ignored, err);
    }
    pthread_mutex_lock(&b->lock);
    stor_strlcpy(storage, b->storage_url, sizeof(storage));
    stor_strlcpy(token, b->token, sizeof(token));
    int segments_ready = b->segments_ready;
    unsigned page = b->page_size ? b->page_size : SWIFT_DEFAULT_PAGE;
    pthread_mutex_unlock(&b->lock);

    switch (req->op) {
    case STOR_OP_GET:
        rc = build_url(&url, storage, container, prefix, req->key);
        if (req->length)
            snprintf(range, sizeof(range), "bytes=%llu-%llu", (unsigned long long)req->offset,
                     (unsigned long long)(req->offset + req->length - 1));
        else if (req->offset)
            snprintf(range, sizeof(range), "bytes=%llu-", (unsigned long long)req->offset);
        if (!rc && (req->length || req->offset))
            rc = stor_req_add_header(req, "Range", range);
        break;
    case STOR_OP_PUT:
        rc = build_url(&url, storage, container, prefix, req->key);
        break;
    case STOR_OP_HEAD:
        rc = build_url(&url, storage, container, prefix, req->key);
        curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
        break;
    case STOR_OP_DELETE:
        rc = build_url(&url, storage, container, prefix, req->key);
        curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, "DELETE");
        curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
        break;
    case STOR_OP_LIST: {
        rc = build_url(&url, storage, container, NULL, NULL);
        if (!rc)
            rc = stor_buf_appendf(&url, "?format=json&limit=%u", page);
        snprintf(query, sizeof(query), "%s%s", prefix, req->list_prefix ? req->list_prefix : "");
        if (!rc && query[0]) {
            rc = stor_buf_append(&url, "&prefix=", 8);
            if (!rc)
                rc = stor_uri_encode(&url, query, 0);
        }
        if (!rc && req->list_marker && req->list_marker[0]) {
            snprintf(query, sizeof(query), "%s%s", prefix, req->list_marker);
            rc = stor_buf_append(&url, "&marker=", 8);
            if (!rc)
                rc = stor_uri_encode(&url, query, 0);
        }
        break;
    }
    case STOR_OP_MPU_BEGIN:
        if (new_upload_id(b, req->key, req->upload->upload_id, sizeof(req->upload->upload_id))) {
            rc = stor_error_set(err, STOR_ENOMEM, "cannot name the upload of %s", req->key);
            goto out;
        }
        /* The segment container is created once per backend; PUT on an
         * existing container is harmless (202). */
        if (segments_ready) {
            rc = STOR_ENOTSUP;
            goto out;
        }
        rc = build_url(&url, storage, b->segment_container, NULL, NULL);
        stor__empty_upload(easy);
        break;
    case STOR_OP_MPU_PART:
        rc = segment_url(b, storage, req->upload, req->part_number, &url);
        break;
    case STOR_OP_COPY_PART:
    case STOR_OP_COPY: {
        struct swift_backend *src = sw(req->src);
        if (req->op == STOR_OP_COPY)
            rc = build_url(&url, storage, container, prefix, req->key);
        else
            rc = segment_url(b, storage, req->upload, req->part_number, &url);
        /* X-Copy-From: /<container>/<object>, percent-encoded (Swift
         * decodes it). */
        if (!rc)
            rc = stor_buf_append(&tmp, "/", 1);
        if (!rc)
            rc = stor_uri_encode(&tmp, src->base.spec.bucket, 0);
        if (!rc)
            rc = stor_buf_append(&tmp, "/", 1);
        if (!rc)
            rc = stor_uri_encode(&tmp, src->base.spec.prefix, 1);
        if (!rc)
            rc = stor_uri_encode(&tmp, req->src_key, 1);
        if (!rc)
            rc = stor_req_add_header(req, "X-Copy-From", tmp.data);
        if (!rc && req->op == STOR_OP_COPY_PART) {
            snprintf(range, sizeof(range), "bytes=%llu-%llu", (unsigned long long)req->offset,
                     (unsigned long long)(req->offset + req->length - 1));
            rc = stor_req_add_header(req, "Range", range);
        }
        stor__empty_upload(easy);
        break;
    }
    case STOR_OP_MPU_COMMIT: {
        rc = build_url(&url, storage, container, prefix, req->key);
        if (!rc)
            rc = stor_buf_append(&url, "?multipart-manifest=put", 23);
        char *manifest = rc ? NULL : slo_manifest(b, req->upload);
        if (!manifest) {
            rc = stor_error_set(err, STOR_ENOMEM, "cannot build the SLO manifest of %s", req->key);
            goto out;
        }
        curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, "PUT");
        curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(manifest));
        curl_easy_setopt(easy, CURLOPT_COPYPOSTFIELDS, manifest);
        free(manifest);
        /* The manifest's type becomes the object's; never a form type. No
         * 100-continue round trip for a body we already hold. */
        rc = stor_req_add_header(req, "Content-Type", "application/octet-stream");
        if (!rc)
            rc = stor_req_add_header(req, "Expect", "");
        break;
    }
    case STOR_OP_MPU_ABORT:
        /* Several DELETEs, done here; no request is left for the engine. */
        abort_upload(b, storage, token, req->upload);
        rc = STOR_ENOTSUP;
        goto out;
    default:
        rc = stor_error_set(err, STOR_ENOTSUP, "operation not supported by swift");
        goto out;
    }
    if (rc) {
        rc = stor_error_set(err, STOR_ENOMEM, "request for %s too large",
                            req->key ? req->key : sb->spec.bucket);
        goto out;
    }
    if (token[0]) {
        rc = stor_req_add_header(req, "X-Auth-Token", token);
        if (rc) {
            rc = stor_error_set(err, STOR_ENOMEM, "out of memory");
            goto out;
        }
    }
    curl_easy_setopt(easy, CURLOPT_URL, url.data);
    if (b->ca_file[0])
        curl_easy_setopt(easy, CURLOPT_CAINFO, b->ca_file);
out:
    OPENSSL_cleanse(token, sizeof(token));
    stor_buf_free(&url);
    stor_buf_free(&tmp);
    return rc;
}

/* ------------------------------------------------------------ responses */

static int swift_error(struct swift_backend *b, struct stor_req *req, struct stor_error *err,
                       const char *what, int code)
{
    char ex[200];
    body_excerpt(&req->resp_body, ex, sizeof(ex));
    if (!code)
        code = stor_errcode_for_status(req->status);
    if (!code)
        code = STOR_EHTTP;
    /* display is "swift://<container>/<prefix>": the key completes it. */
    const char *key = req->op == STOR_OP_LIST || !req->key ? "" : req->key;
    stor_error_set(err, code, "%s %s%s: HTTP %ld%s%s", what, b->base.spec.display, key, req->status,
                   ex[0] ? " " : "", ex);
    err->http_status = req->status;
    return code;
}

/* One JSON listing page: entries in order, keys relative to the prefix. */
static int parse_list(struct swift_backend *b, struct stor_req *req, unsigned page,
                      struct stor_error *err)
{
    int rc = 0;
    req->list_done = 1;
    req->list_next[0] = '\0';
    if (req->status == 204 || !req->resp_body.data || req->resp_body.len == 0)
        return 0;
    cJSON *arr = cJSON_ParseWithLength(req->resp_body.data, req->resp_body.len);
    if (!cJSON_IsArray(arr)) {
        cJSON_Delete(arr);
        return stor_error_set(err, STOR_EDECODE, "the listing of %s is not a JSON array",
                              b->base.spec.display);
    }
    const char *prefix = b->base.spec.prefix;
    size_t plen = strlen(prefix);
    unsigned count = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        count++;
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(it, "name");
        if (!cJSON_IsString(name)) {
            /* "subdir" entries only come with a delimiter, which we never send. */
            continue;
        }
        const char *n = name->valuestring;
        if (strncmp(n, prefix, plen) != 0)
            continue;
        /* The marker for the next page, even when this entry is skipped. */
        stor_strlcpy(req->list_next, n + plen, sizeof(req->list_next));
        if (strlen(n + plen) > STOR_KEY_MAX || !n[plen])
            continue;
        struct stor_entry e;
        memset(&e, 0, sizeof(e));
        stor_strlcpy(e.key, n + plen, sizeof(e.key));
        const cJSON *bytes = cJSON_GetObjectItemCaseSensitive(it, "bytes");
        /* Compared before the conversion: a double out of uint64_t's range
         * does not convert (undefined behaviour), and a hostile server may
         * send 1e300. `!(x >= 0)` also refuses a NaN. */
        if (!cJSON_IsNumber(bytes) || !(bytes->valuedouble >= 0) ||
            bytes->valuedouble > (double)STOR_SIZE_MAX) {
            rc = stor_error_set(err, STOR_EDECODE,
                                "listing entry \"%.300s\" without a valid byte count", n);
            break;
        }
        e.size = (uint64_t)bytes->valuedouble;
        /* An SLO's `hash` is its manifest's MD5; `slo_etag` is what HEAD
         * and GET answer. A `hash` may carry "; param=value" suffixes. */
        const cJSON *etag = cJSON_GetObjectItemCaseSensitive(it, "slo_etag");
        if (!cJSON_IsString(etag))
            etag = cJSON_GetObjectItemCaseSensitive(it, "hash");
        if (cJSON_IsString(etag)) {
            char v[STOR_ETAG_MAX];
            stor_strlcpy(v, etag->valuestring, sizeof(v));
            v[strcspn(v, ";")] = '\0';
            stor_etag_norm(v, e.etag, sizeof(e.etag));
            size_t el = strlen(e.etag);
            while (el > 0 && e.etag[el - 1] == ' ')
                e.etag[--el] = '\0';
        }
        const cJSON *lm = cJSON_GetObjectItemCaseSensitive(it, "last_modified");
        if (cJSON_IsString(lm))
            e.mtime = stor_parse_time(lm->valuestring);
        if (req->emit && req->emit(req->emit_ctx, &e)) {
            rc = stor_error_set(err, STOR_ESTOPPED, "listing stopped");
            break;
        }
    }
    cJSON_Delete(arr);
    /* A full page may have a successor; a short one is the last. */
    if (rc == 0)
        req->list_done = count < page || !req->list_next[0];
    return rc;
}

static int swift_finish(struct stor_backend *sb, CURL *easy, struct stor_req *req,
                        struct stor_error *err)
{
    (void)easy;
    struct swift_backend *b = sw(sb);
    char v[512];
    int ok = req->status >= 200 && req->status < 300;
    if (req->status == 401)
        return reauth(b, req, err);

    switch (req->op) {
    case STOR_OP_GET:
        return ok ? 0 : swift_error(b, req, err, "GET", 0);
    case STOR_OP_PUT:
    case STOR_OP_MPU_PART:
    case STOR_OP_COPY:
    case STOR_OP_COPY_PART:
    case STOR_OP_MPU_COMMIT: {
        const char *what = req->op == STOR_OP_PUT          ? "PUT"
                           : req->op == STOR_OP_MPU_PART   ? "PUT segment of"
                           : req->op == STOR_OP_MPU_COMMIT ? "PUT SLO manifest of"
                                                           : "COPY to";
        if (!ok) {
            int code = 0;
            /* A PUT's 404 means the container is missing; a copy's means
             * its source vanished. */
            if (req->status == 404)
                code = req->op == STOR_OP_COPY || req->op == STOR_OP_COPY_PART ? STOR_ENOTFOUND
                                                                               : STOR_ENOBUCKET;
            return swift_error(b, req, err, what, code);
        }
        if (stor_req_header(req, "etag", v, sizeof(v)))
            stor_etag_norm(v, req->entry.etag, sizeof(req->entry.etag));
        if (req->op == STOR_OP_MPU_PART || req->op == STOR_OP_COPY_PART) {
            if (!req->entry.etag[0])
                return stor_error_set(err, STOR_EDECODE, "segment %u of %s stored without an ETag",
                                      req->part_number, req->key ? req->key : "");
            stor_strlcpy(req->upload->etags[req->part_number - 1], req->entry.etag, STOR_ETAG_MAX);
        }
        return 0;
    }
    case STOR_OP_HEAD:
        if (!ok)
            return swift_error(b, req, err, "HEAD", 0);
        /* For a DLO or SLO the length is that of the whole object. */
        return stor__head_entry(req, err);
    case STOR_OP_DELETE:
        return ok ? 0 : swift_error(b, req, err, "DELETE", 0);
    case STOR_OP_LIST: {
        if (req->status == 412 && req->resp_body.data) {
            /* "Maximum limit is N": a cluster that hides /info and allows
             * fewer than we asked for. Ask for N from now on. */
            const char *m = strstr(req->resp_body.data, "limit is ");
            uint64_t lim = 0;
            char num[24];
            if (m) {
                m += 9;
                size_t nl = strspn(m, "0123456789");
                if (nl > 0 && nl < sizeof(num)) {
                    memcpy(num, m, nl);
                    num[nl] = '\0';
                    stor_parse_u64(num, &lim);
                }
            }
            pthread_mutex_lock(&b->lock);
            int smaller = lim > 0 && lim < b->page_size;
            if (smaller)
                b->page_size = (unsigned)lim;
            pthread_mutex_unlock(&b->lock);
            if (smaller)
                return stor_error_set(err, STOR_ERETRY, "listing page size lowered to %llu",
                                      (unsigned long long)lim);
        }
        if (!ok)
            return swift_error(b, req, err, "LIST", req->status == 404 ? STOR_ENOBUCKET : 0);
        pthread_mutex_lock(&b->lock);
        unsigned page = b->page_size ? b->page_size : SWIFT_DEFAULT_PAGE;
        pthread_mutex_unlock(&b->lock);
        return parse_list(b, req, page, err);
    }
    case STOR_OP_MPU_BEGIN:
        if (!ok)
            return swift_error(b, req, err, "PUT segment container for", 0);
        pthread_mutex_lock(&b->lock);
        b->segments_ready = 1;
        pthread_mutex_unlock(&b->lock);
        return 0;
    default:
        return stor_error_set(err, STOR_ENOTSUP, "operation not supported by swift");
    }
}

const struct stor_backend_ops stor_swift_ops = {
    .scheme = "swift",
    .open = swift_open,
    .close = swift_close,
    .limits = swift_limits,
    .same_account = swift_same_account,
    .setup = swift_setup,
    .finish = swift_finish,
};
