/*
 * The generic half of the backend interface: errors, the capped buffer, the
 * backend registry, and the blocking calls (list, head, delete, get, put) that
 * run a backend's set-up/finish hooks on a private curl easy handle or use its
 * direct hooks. The fast, many-in-flight data path is stor_pool.c; these
 * blocking calls serve listing threads, `--probe`, `verify` and tests.
 */
#include "stor_backend.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "stor_internal.h"
#include "stor_local.h"
#include "stor_s3.h"
#include "stor_swift.h"
#define STOR_HAVE_SWIFT 1

/* ---------------------------------------------------------------- errors */

void stor_error_clear(struct stor_error *err)
{
    if (err)
        memset(err, 0, sizeof(*err));
}

int stor_error_set(struct stor_error *err, int code, const char *fmt, ...)
{
    if (!err)
        return code;
    memset(err, 0, sizeof(*err));
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return code;
}

int stor_errcode_for_status(long s)
{
    if (s >= 200 && s < 300)
        return STOR_OK;
    switch (s) {
    case 400:
        return STOR_EHTTP;
    case 401:
        return STOR_EAUTH;
    case 403:
        return STOR_EFORBIDDEN;
    case 404:
        return STOR_ENOTFOUND;
    case 408:
    case 429:
    case 503:
        return STOR_ETHROTTLE;
    default:
        break;
    }
    if (s >= 500)
        return STOR_ESERVER;
    return STOR_EHTTP;
}

int stor_err_retryable(int code)
{
    return code == STOR_ETRANSPORT || code == STOR_ETHROTTLE || code == STOR_ESERVER ||
           code == STOR_ERETRY;
}

const char *stor_err_name(int code)
{
    switch (code) {
    case STOR_OK:
        return "OK";
    case STOR_EARG:
        return "InvalidArgument";
    case STOR_ECONFIG:
        return "ConfigError";
    case STOR_ENOMEM:
        return "OutOfMemory";
    case STOR_EIO:
        return "IOError";
    case STOR_ETRANSPORT:
        return "TransportError";
    case STOR_ETLS:
        return "TLSError";
    case STOR_EAUTH:
        return "Unauthorized";
    case STOR_EFORBIDDEN:
        return "Forbidden";
    case STOR_ENOTFOUND:
        return "NotFound";
    case STOR_ENOBUCKET:
        return "NoSuchBucket";
    case STOR_ETHROTTLE:
        return "Throttled";
    case STOR_ESERVER:
        return "ServerError";
    case STOR_EHTTP:
        return "HTTPError";
    case STOR_EDECODE:
        return "DecodeError";
    case STOR_EINTEGRITY:
        return "IntegrityError";
    case STOR_ENOTSUP:
        return "NotSupported";
    case STOR_ESTOPPED:
        return "Stopped";
    case STOR_EORDER:
        return "ListingOutOfOrder";
    case STOR_ERETRY:
        return "Retry";
    default:
        return "Unknown";
    }
}

void stor_redact_url(const char *url, char *buf, size_t cap)
{
    if (!cap)
        return;
    if (!url) {
        buf[0] = '\0';
        return;
    }
    const char *scheme_end = strstr(url, "://");
    const char *host = scheme_end ? scheme_end + 3 : url;
    size_t host_len = strcspn(host, "/?#");
    const char *at = memchr(host, '@', host_len);
    const char *rest = host + host_len;
    size_t path_len = strcspn(rest, "?#");
    int scheme_len = scheme_end ? (int)(scheme_end + 3 - url) : 0;
    const char *h = at ? at + 1 : host;
    int hl = (int)(host + host_len - h);
    snprintf(buf, cap, "%.*s%.*s%.*s", scheme_len, url, hl, h, (int)path_len, rest);
}

/* ---------------------------------------------------------------- buffer */

void stor_buf_init(struct stor_buf *b, size_t max)
{
    memset(b, 0, sizeof(*b));
    b->max = max;
}

int stor_buf_append(struct stor_buf *b, const void *data, size_t len)
{
    if (len > b->max || b->len > b->max - len)
        return STOR_ENOMEM;
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + len + 1)
            cap *= 2;
        if (cap > b->max + 1)
            cap = b->max + 1;
        char *p = realloc(b->data, cap);
        if (!p)
            return STOR_ENOMEM;
        b->data = p;
        b->cap = cap;
    }
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int stor_buf_appendf(struct stor_buf *b, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return STOR_EARG;
    if ((size_t)n < sizeof(small))
        return stor_buf_append(b, small, (size_t)n);
    char *big = malloc((size_t)n + 1);
    if (!big)
        return STOR_ENOMEM;
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    int rc = stor_buf_append(b, big, (size_t)n);
    free(big);
    return rc;
}

void stor_buf_reset(struct stor_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void stor_buf_free(struct stor_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* ---------------------------------------------------------------- small utilities */

void stor_strlcpy(char *dst, const char *src, size_t cap)
{
    if (!cap)
        return;
    size_t n = strlen(src);
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

void stor_hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

void stor_etag_norm(const char *in, char *out, size_t cap)
{
    if (!cap)
        return;
    while (*in == ' ' || *in == '"')
        in++;
    size_t n = 0;
    for (; in[n] && in[n] != '"' && n + 1 < cap; n++)
        out[n] = (char)tolower((unsigned char)in[n]);
    out[n] = '\0';
}

int stor_parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s || !isdigit((unsigned char)*s))
        return STOR_EARG;
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || !end || *end)
        return STOR_EARG;
    *out = v;
    return 0;
}

static int parse_fixed(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

long long stor_parse_time(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    int y, mo, d, h, mi, se;
    if (!s)
        return 0;
    /* ISO 8601 "2024-01-02T03:04:05[.fff]Z" (S3 listings, Swift JSON). */
    if (strlen(s) >= 19 && s[4] == '-' && s[7] == '-' && s[10] == 'T') {
        if (parse_fixed(s, 4, &y) || parse_fixed(s + 5, 2, &mo) || parse_fixed(s + 8, 2, &d) ||
            parse_fixed(s + 11, 2, &h) || parse_fixed(s + 14, 2, &mi) ||
            parse_fixed(s + 17, 2, &se))
            return 0;
    } else {
        /* RFC 7231 "Tue, 02 Jan 2024 03:04:05 GMT" (Last-Modified). */
        static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                             "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
        const char *p = strchr(s, ',');
        if (!p || strlen(p) < 22)
            return 0;
        p += 2;
        if (parse_fixed(p, 2, &d))
            return 0;
        mo = 0;
        for (int i = 0; i < 12; i++)
            if (strncmp(p + 3, months[i], 3) == 0)
                mo = i + 1;
        if (!mo || parse_fixed(p + 7, 4, &y) || parse_fixed(p + 12, 2, &h) ||
            parse_fixed(p + 15, 2, &mi) || parse_fixed(p + 18, 2, &se))
            return 0;
    }
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    return (long long)timegm(&tm);
}

int stor_uri_encode(struct stor_buf *out, const char *s, int keep_slash)
{
    static const char hexd[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int plain = isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~' ||
                    (keep_slash && *p == '/');
        int rc;
        if (plain) {
            rc = stor_buf_append(out, p, 1);
        } else {
            char e[3] = {'%', hexd[*p >> 4], hexd[*p & 15]};
            rc = stor_buf_append(out, e, 3);
        }
        if (rc)
            return rc;
    }
    if (!out->data)
        return stor_buf_append(out, "", 0);
    return 0;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int stor_uri_decode(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (*r == '%') {
            int hi = r[1] ? hexval((unsigned char)r[1]) : -1;
            int lo = hi >= 0 && r[2] ? hexval((unsigned char)r[2]) : -1;
            if (hi < 0 || lo < 0)
                return STOR_EARG;
            *w++ = (char)(hi * 16 + lo);
            r += 2;
        } else if (*r == '+') {
            *w++ = ' ';
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
    return 0;
}

uint64_t stor_part_size(const struct stor_limits *lim, uint64_t size)
{
    uint64_t min = lim->min_part_size ? lim->min_part_size : 5ull * 1024 * 1024;
    unsigned parts = lim->max_parts ? lim->max_parts : 10000;
    uint64_t need = size / parts + (size % parts ? 1 : 0);
    return need > min ? need : min;
}

int stor_upload_plan(const struct stor_limits *lim, const char *key, uint64_t size,
                     struct stor_upload *up, struct stor_error *err)
{
    unsigned max_parts = lim->max_parts ? lim->max_parts : 10000;
    uint64_t max_part = lim->max_part_size ? lim->max_part_size : 5ull << 30;
    if (size > STOR_SIZE_MAX)
        return stor_error_set(err, STOR_EARG, "%s: %llu bytes is not a size", key,
                              (unsigned long long)size);
    up->size = size;
    up->part_size = stor_part_size(lim, size);
    /* No size + part_size - 1: divided, then rounded up, nothing overflows. */
    uint64_t n = size / up->part_size + (size % up->part_size ? 1 : 0);
    if (up->part_size > max_part || n > max_parts)
        return stor_error_set(err, STOR_ENOTSUP,
                              "%s: %llu bytes is more than the destination takes in one object "
                              "(%u parts of at most %llu bytes)",
                              key, (unsigned long long)size, max_parts,
                              (unsigned long long)max_part);
    up->nparts = (unsigned)n;
    return 0;
}

/* ---------------------------------------------------------------- registry */

static const struct stor_backend_ops *find_ops(const char *scheme)
{
    static const struct stor_backend_ops *const all[] = {
        &stor_s3_ops,
        &stor_local_ops,
#ifdef STOR_HAVE_SWIFT
        &stor_swift_ops,
#endif
    };
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        if (strcmp(all[i]->scheme, scheme) == 0)
            return all[i];
    return NULL;
}

int stor_backend_open(const struct stor_spec *spec, struct stor_backend **out,
                      struct stor_error *err)
{
    *out = NULL;
    const struct stor_backend_ops *ops = find_ops(spec->scheme);
    if (!ops)
        return stor_error_set(err, STOR_EARG, "unsupported storage scheme \"%s\"", spec->scheme);
    int rc = ops->open(spec, out, err);
    if (rc == 0 && *out)
        (*out)->ops = ops;
    return rc;
}

void stor_backend_close(struct stor_backend *b)
{
    if (b)
        b->ops->close(b);
}

int stor_backend_limits(struct stor_backend *b, struct stor_limits *out, struct stor_error *err)
{
    memset(out, 0, sizeof(*out));
    if (b->ops->limits)
        return b->ops->limits(b, out, err);
    out->max_parts = 10000;
    out->min_part_size = 5ull << 20;
    out->max_part_size = 5ull << 30;
    out->max_put_size = 5ull << 30;
    out->multipart_threshold = 5ull << 30;
    out->max_copy_size = 5ull << 30;
    return 0;
}

int stor_backend_is_http(const struct stor_backend *b)
{
    return b->ops->setup != NULL && b->ops->finish != NULL;
}

/* ---------------------------------------------------------------- requests */

int stor_req_add_header(struct stor_req *req, const char *name, const char *value)
{
    char line[4096 + 256];
    int n = snprintf(line, sizeof(line), "%s: %s", name, value);
    if (n < 0 || (size_t)n >= sizeof(line))
        return STOR_ENOMEM;
    struct curl_slist *l = curl_slist_append(req->headers, line);
    if (!l)
        return STOR_ENOMEM;
    req->headers = l;
    return 0;
}

int stor_req_header(const struct stor_req *req, const char *name, char *buf, size_t cap)
{
    size_t nl = strlen(name);
    const char *p = req->resp_headers.data;
    if (!p || !cap)
        return 0;
    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
            const char *v = p + nl + 1;
            const char *end = p + len;
            while (v < end && (*v == ' ' || *v == '\t'))
                v++;
            while (end > v && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
                end--;
            size_t vl = (size_t)(end - v);
            if (vl >= cap)
                vl = cap - 1;
            memcpy(buf, v, vl);
            buf[vl] = '\0';
            return 1;
        }
        if (!eol)
            break;
        p = eol + 1;
    }
    return 0;
}

int stor__head_entry(struct stor_req *req, struct stor_error *err)
{
    char v[512];
    memset(&req->entry, 0, sizeof(req->entry));
    if (req->key)
        stor_strlcpy(req->entry.key, req->key, sizeof(req->entry.key));
    /* A size we cannot read must not become 0: a zero-byte listing entry
     * would be copied as an empty object. */
    if (stor_req_header(req, "content-length", v, sizeof(v)) &&
        (stor_parse_u64(v, &req->entry.size) || req->entry.size > STOR_SIZE_MAX))
        return stor_error_set(err, STOR_EDECODE, "HEAD %s: bad Content-Length",
                              req->key ? req->key : "");
    if (stor_req_header(req, "etag", v, sizeof(v)))
        stor_etag_norm(v, req->entry.etag, sizeof(req->entry.etag));
    if (stor_req_header(req, "last-modified", v, sizeof(v)))
        req->entry.mtime = stor_parse_time(v);
    return 0;
}

size_t stor__buf_collect(char *data, size_t size, size_t n, void *ud)
{
    return stor_buf_append(ud, data, size * n) ? 0 : size * n;
}

/* The read callback of a request without a body: keeps curl from ever
 * falling back to reading stdin. */
static size_t no_body(char *buf, size_t size, size_t n, void *ud)
{
    (void)buf;
    (void)size;
    (void)n;
    (void)ud;
    return 0;
}

void stor__empty_upload(CURL *easy)
{
    curl_easy_setopt(easy, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(easy, CURLOPT_READFUNCTION, no_body);
    curl_easy_setopt(easy, CURLOPT_INFILESIZE_LARGE, (curl_off_t)0);
}

static size_t header_cb(char *data, size_t size, size_t n, void *ud)
{
    struct stor_req *req = ud;
    size_t len = size * n;
    /* Keep only the final response's headers (a 100 Continue comes first). */
    if (len >= 5 && memcmp(data, "HTTP/", 5) == 0)
        stor_buf_reset(&req->resp_headers);
    if (stor_buf_append(&req->resp_headers, data, len))
        return 0;
    return len;
}

static size_t write_cb(char *data, size_t size, size_t n, void *ud)
{
    struct stor_io *io = ud;
    size_t len = size * n;
    long status = 0;
    curl_easy_getinfo(io->easy, CURLINFO_RESPONSE_CODE, &status);
    if (io->sink && status >= 200 && status < 300) {
        int r = io->sink(io->sink_ctx, data, len);
        if (r == STOR_IO_PAUSE)
            return CURL_WRITEFUNC_PAUSE;
        if (r) {
            io->sink_failed = 1;
            return 0;
        }
        io->body_bytes += len;
        return len;
    }
    /* Error bodies and non-GET responses are kept (capped) for finish. */
    if (stor_buf_append(&io->req->resp_body, data, len))
        return 0;
    return len;
}

static size_t read_cb(char *buf, size_t size, size_t n, void *ud)
{
    struct stor_io *io = ud;
    size_t cap = size * n;
    uint64_t left = io->req->length - io->body_bytes;
    if (left == 0)
        return 0;
    if (cap > left)
        cap = (size_t)left;
    size_t got = 0;
    int r = io->source ? io->source(io->source_ctx, buf, cap, &got) : -1;
    if (r == STOR_IO_PAUSE)
        return CURL_READFUNC_PAUSE;
    if (r || got == 0 || got > cap) {
        io->source_failed = 1;
        return CURL_READFUNC_ABORT;
    }
    io->body_bytes += got;
    return got;
}

int stor__req_prepare(struct stor_backend *b, CURL *easy, struct stor_req *req, struct stor_io *io,
                      struct stor_error *err)
{
    curl_easy_reset(easy);
    stor_buf_init(&req->resp_headers, STOR_RESP_HEADERS_MAX);
    stor_buf_init(&req->resp_body, STOR_RESP_BODY_MAX);
    req->status = 0;
    io->req = req;
    io->easy = easy;
    io->sink_failed = io->source_failed = 0;
    io->body_bytes = 0;
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT, 30L);
    /* A transfer that moves under 1 KiB/s for a minute is stuck: retry it. */
    curl_easy_setopt(easy, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(easy, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, req);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, io);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, io);
    int rc = b->ops->setup(b, easy, req, err);
    if (rc)
        return rc;
    if (req->op == STOR_OP_PUT || req->op == STOR_OP_MPU_PART) {
        curl_easy_setopt(easy, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(easy, CURLOPT_READFUNCTION, read_cb);
        curl_easy_setopt(easy, CURLOPT_READDATA, io);
        curl_easy_setopt(easy, CURLOPT_INFILESIZE_LARGE, (curl_off_t)req->length);
        /* No 100-continue round trip: the bodies are small and the server's
         * refusal is rare; the request is retried whole anyway. */
        if (stor_req_add_header(req, "Expect", ""))
            return stor_error_set(err, STOR_ENOMEM, "out of memory");
    }
    if (req->headers)
        curl_easy_setopt(easy, CURLOPT_HTTPHEADER, req->headers);
    return 0;
}

int stor__req_complete(struct stor_backend *b, CURL *easy, struct stor_req *req, struct stor_io *io,
                       CURLcode cc, struct stor_error *err)
{
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &req->status);
    if (io->sink_failed)
        return stor_error_set(err, STOR_ESTOPPED, "the receiver stopped the transfer");
    if (io->source_failed)
        return stor_error_set(err, STOR_EIO, "the body source failed after %llu bytes",
                              (unsigned long long)io->body_bytes);
    if (cc != CURLE_OK) {
        int code = STOR_ETRANSPORT;
        if (cc == CURLE_SSL_CONNECT_ERROR || cc == CURLE_PEER_FAILED_VERIFICATION ||
            cc == CURLE_SSL_CACERT_BADFILE || cc == CURLE_SSL_CERTPROBLEM)
            code = STOR_ETLS;
        char url[512] = "";
        char *eff = NULL;
        curl_easy_getinfo(easy, CURLINFO_EFFECTIVE_URL, &eff);
        stor_redact_url(eff, url, sizeof(url));
        return stor_error_set(err, code, "%s: %s", url, curl_easy_strerror(cc));
    }
    int rc = b->ops->finish(b, easy, req, err);
    if (rc == 0 && req->op == STOR_OP_GET && io->sink && req->length &&
        io->body_bytes != req->length)
        rc = stor_error_set(err, STOR_EINTEGRITY, "short read of %s: %llu of %llu bytes", req->key,
                            (unsigned long long)io->body_bytes, (unsigned long long)req->length);
    return rc;
}

void stor_req_release(struct stor_backend *b, struct stor_req *req)
{
    if (req->backend_data && b && b->ops->req_cleanup)
        b->ops->req_cleanup(b, req);
    /* Headers may carry an auth token (X-Auth-Token): wipe before freeing. */
    for (struct curl_slist *h = req->headers; h; h = h->next)
        explicit_bzero(h->data, strlen(h->data));
    curl_slist_free_all(req->headers);
    req->headers = NULL;
    stor_buf_free(&req->resp_headers);
    stor_buf_free(&req->resp_body);
}

int stor_req_perform(struct stor_backend *b, CURL *easy, struct stor_req *req, stor_sink_fn sink,
                     void *sink_ctx, stor_source_fn source, void *source_ctx,
                     struct stor_error *err)
{
    struct stor_io io;
    memset(&io, 0, sizeof(io));
    io.sink = sink;
    io.sink_ctx = sink_ctx;
    io.source = source;
    io.source_ctx = source_ctx;
    int rc = stor__req_prepare(b, easy, req, &io, err);
    if (rc == STOR_ENOTSUP)
        return 0;
    if (rc)
        return rc;
    CURLcode cc = curl_easy_perform(easy);
    return stor__req_complete(b, easy, req, &io, cc, err);
}

/* Runs a request with retries (a few, with backoff) on transient errors. */
static int perform_retrying(struct stor_backend *b, CURL *easy, struct stor_req *req,
                            stor_sink_fn sink, void *sink_ctx, struct stor_error *err)
{
    int rc = 0;
    for (int attempt = 0; attempt < 5; attempt++) {
        if (attempt) {
            struct timespec ts = {0, (long)(100000000L << (attempt - 1))};
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec = ts.tv_nsec / 1000000000L;
                ts.tv_nsec %= 1000000000L;
            }
            nanosleep(&ts, NULL);
        }
        stor_req_release(b, req);
        rc = stor_req_perform(b, easy, req, sink, sink_ctx, NULL, NULL, err);
        if (rc == 0 || !stor_err_retryable(rc))
            break;
    }
    return rc;
}

/* ---------------------------------------------------------------- listing */

struct stor_lister {
    struct stor_backend *b;
    struct stor_lister *direct; /* the backend's own lister, when it has one */
    CURL *easy;
    char *prefix;
    char marker[STOR_KEY_MAX + 512];
    int done;
    struct stor_entry *page;
    size_t n, pos, cap;
    char last[STOR_KEY_MAX + 1];
    int have_last;
    uint64_t requests;
};

uint64_t stor_list_requests(const struct stor_lister *l)
{
    return l ? l->requests : 0;
}

static int emit_to_page(void *ctx, const struct stor_entry *e)
{
    struct stor_lister *l = ctx;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 1024;
        if (cap > 100000)
            return 1; /* a page this large is a broken server */
        struct stor_entry *p = realloc(l->page, cap * sizeof(*p));
        if (!p)
            return 1;
        l->page = p;
        l->cap = cap;
    }
    l->page[l->n++] = *e;
    return 0;
}

int stor_list_open(struct stor_backend *b, const char *prefix, const char *start_after,
                   struct stor_lister **out, struct stor_error *err)
{
    int rc = 0;
    *out = NULL;
    struct stor_lister *l = calloc(1, sizeof(*l));
    if (!l)
        return stor_error_set(err, STOR_ENOMEM, "out of memory");
    l->b = b;
    if (b->ops->list_open) {
        rc = b->ops->list_open(b, prefix ? prefix : "", start_after, &l->direct, err);
        if (rc)
            goto out;
    } else {
        l->prefix = strdup(prefix ? prefix : "");
        l->easy = curl_easy_init();
        if (!l->prefix || !l->easy) {
            rc = stor_error_set(err, STOR_ENOMEM, "out of memory");
            goto out;
        }
        if (start_after)
            stor_strlcpy(l->marker, start_after, sizeof(l->marker));
    }
    if (start_after) {
        stor_strlcpy(l->last, start_after, sizeof(l->last));
        l->have_last = 1;
    }
    *out = l;
    l = NULL;
out:
    stor_list_close(l);
    return rc;
}

static int fetch_page(struct stor_lister *l, struct stor_error *err)
{
    struct stor_req req;
    memset(&req, 0, sizeof(req));
    req.op = STOR_OP_LIST;
    req.list_prefix = l->prefix;
    req.list_marker = l->marker;
    req.emit = emit_to_page;
    req.emit_ctx = l;
    l->n = l->pos = 0;
    l->requests++;
    int rc = perform_retrying(l->b, l->easy, &req, NULL, NULL, err);
    if (rc == 0) {
        l->done = req.list_done || req.list_next[0] == '\0';
        stor_strlcpy(l->marker, req.list_next, sizeof(l->marker));
    }
    stor_req_release(l->b, &req);
    return rc;
}

int stor_list_next(struct stor_lister *l, struct stor_entry *e, struct stor_error *err)
{
    int rc;
    if (l->direct) {
        rc = l->b->ops->list_next(l->direct, e, err);
        if (rc <= 0)
            return rc;
    } else {
        while (l->pos == l->n) {
            if (l->done)
                return 0;
            rc = fetch_page(l, err);
            if (rc)
                return rc;
        }
        *e = l->page[l->pos++];
    }
    /* The merge trusts the order; a server that breaks it must stop the run. */
    if (l->have_last && strcmp(e->key, l->last) <= 0)
        return stor_error_set(err, STOR_EORDER, "listing out of order: \"%.400s\" after \"%.400s\"",
                              e->key, l->last);
    stor_strlcpy(l->last, e->key, sizeof(l->last));
    l->have_last = 1;
    return 1;
}

void stor_list_close(struct stor_lister *l)
{
    if (!l)
        return;
    if (l->direct)
        l->b->ops->list_close(l->direct);
    if (l->easy)
        curl_easy_cleanup(l->easy);
    free(l->prefix);
    free(l->page);
    free(l);
}

/* ---------------------------------------------------------------- blocking calls */

static int simple_request(struct stor_backend *b, struct stor_req *req, stor_sink_fn sink,
                          void *ctx, struct stor_error *err)
{
    CURL *easy = curl_easy_init();
    if (!easy)
        return stor_error_set(err, STOR_ENOMEM, "out of memory");
    int rc = perform_retrying(b, easy, req, sink, ctx, err);
    curl_easy_cleanup(easy);
    return rc;
}

int stor_head(struct stor_backend *b, const char *key, struct stor_entry *out,
              struct stor_error *err)
{
    if (b->ops->head)
        return b->ops->head(b, key, out, err);
    struct stor_req req;
    memset(&req, 0, sizeof(req));
    req.op = STOR_OP_HEAD;
    req.key = key;
    int rc = simple_request(b, &req, NULL, NULL, err);
    if (rc == 0) {
        *out = req.entry;
        stor_strlcpy(out->key, key, sizeof(out->key));
    }
    stor_req_release(b, &req);
    return rc;
}

int stor_delete(struct stor_backend *b, const char *key, struct stor_error *err)
{
    if (b->ops->del)
        return b->ops->del(b, key, err);
    struct stor_req req;
    memset(&req, 0, sizeof(req));
    req.op = STOR_OP_DELETE;
    req.key = key;
    int rc = simple_request(b, &req, NULL, NULL, err);
    stor_req_release(b, &req);
    return rc;
}

int stor_get(struct stor_backend *b, const char *key, uint64_t offset, uint64_t length,
             stor_sink_fn sink, void *ctx, struct stor_error *err)
{
    int rc = 0;
    if (!stor_backend_is_http(b)) {
        struct stor_reader *r = NULL;
        char *buf = malloc(256 * 1024);
        if (!buf)
            return stor_error_set(err, STOR_ENOMEM, "out of memory");
        rc = b->ops->read_open(b, key, offset, &r, err);
        uint64_t done = 0;
        while (rc == 0) {
            size_t want = 256 * 1024, got = 0;
            if (length && length - done < want)
                want = (size_t)(length - done);
            if (want == 0)
                break;
            rc = b->ops->read(r, buf, want, &got, err);
            if (rc || got == 0)
                break;
            if (sink(ctx, buf, got)) {
                rc = stor_error_set(err, STOR_ESTOPPED, "the receiver stopped the transfer");
                break;
            }
            done += got;
        }
        if (rc == 0 && length && done != length)
            rc = stor_error_set(err, STOR_EINTEGRITY, "short read of %s", key);
        if (r)
            b->ops->read_close(r);
        free(buf);
        return rc;
    }
    /* No retries here: the sink has seen bytes, only the caller can restart. */
    struct stor_req req;
    memset(&req, 0, sizeof(req));
    req.op = STOR_OP_GET;
    req.key = key;
    req.offset = offset;
    req.length = length;
    CURL *easy = curl_easy_init();
    if (!easy)
        return stor_error_set(err, STOR_ENOMEM, "out of memory");
    rc = stor_req_perform(b, easy, &req, sink, ctx, NULL, NULL, err);
    stor_req_release(b, &req);
    curl_easy_cleanup(easy);
    return rc;
}

static int put_direct(struct stor_backend *b, const char *key, uint64_t size, stor_source_fn source,
                      void *ctx, struct stor_error *err)
{
    struct stor_writer *w = NULL;
    int rc = b->ops->write_open(b, key, size, &w, err);
    if (rc)
        return rc;
    char *buf = malloc(256 * 1024);
    if (!buf) {
        b->ops->write_abort(w);
        return stor_error_set(err, STOR_ENOMEM, "out of memory");
    }
    uint64_t done = 0;
    while (done < size) {
        size_t want = size - done < 256 * 1024 ? (size_t)(size - done) : 256 * 1024;
        size_t got = 0;
        if (source(ctx, buf, want, &got) || got == 0 || got > want) {
            rc = stor_error_set(err, STOR_EIO, "the body source failed after %llu bytes",
                                (unsigned long long)done);
            break;
        }
        rc = b->ops->write(w, buf, got, err);
        if (rc)
            break;
        done += got;
    }
    free(buf);
    if (rc) {
        b->ops->write_abort(w);
        return rc;
    }
    return b->ops->write_commit(w, err);
}

int stor_put(struct stor_backend *b, const char *key, uint64_t size, stor_source_fn source,
             void *ctx, struct stor_error *err)
{
    if (!stor_backend_is_http(b))
        return put_direct(b, key, size, source, ctx, err);
    struct stor_limits lim;
    int rc = stor_backend_limits(b, &lim, err);
    if (rc)
        return rc;
    CURL *easy = curl_easy_init();
    if (!easy)
        return stor_error_set(err, STOR_ENOMEM, "out of memory");
    struct stor_req req;
    memset(&req, 0, sizeof(req));
    req.key = key;
    if (size <= lim.multipart_threshold || lim.max_parts == 0) {
        req.op = STOR_OP_PUT;
        req.length = size;
        rc = stor_req_perform(b, easy, &req, NULL, NULL, source, ctx, err);
        stor_req_release(b, &req);
        curl_easy_cleanup(easy);
        return rc;
    }
    struct stor_upload up;
    memset(&up, 0, sizeof(up));
    rc = stor_upload_plan(&lim, key, size, &up, err);
    if (rc) {
        curl_easy_cleanup(easy);
        return rc;
    }
    up.etags = calloc(up.nparts, sizeof(*up.etags));
    if (!up.etags) {
        curl_easy_cleanup(easy);
        return stor_error_set(err, STOR_ENOMEM, "out of memory");
    }
    req.upload = &up;
    req.op = STOR_OP_MPU_BEGIN;
    rc = stor_req_perform(b, easy, &req, NULL, NULL, NULL, NULL, err);
    stor_req_release(b, &req);
    for (unsigned i = 0; rc == 0 && i < up.nparts; i++) {
        memset(&req, 0, sizeof(req));
        req.key = key;
        req.upload = &up;
        req.op = STOR_OP_MPU_PART;
        req.part_number = i + 1;
        req.offset = (uint64_t)i * up.part_size;
        req.length = size - req.offset < up.part_size ? size - req.offset : up.part_size;
        rc = stor_req_perform(b, easy, &req, NULL, NULL, source, ctx, err);
        stor_req_release(b, &req);
    }
    memset(&req, 0, sizeof(req));
    req.key = key;
    req.upload = &up;
    if (rc == 0) {
        req.op = STOR_OP_MPU_COMMIT;
        rc = stor_req_perform(b, easy, &req, NULL, NULL, NULL, NULL, err);
    } else {
        struct stor_error ignored;
        req.op = STOR_OP_MPU_ABORT;
        stor_req_perform(b, easy, &req, NULL, NULL, NULL, NULL, &ignored);
    }
    stor_req_release(b, &req);
    free(up.etags);
    curl_easy_cleanup(easy);
    return rc;
}
