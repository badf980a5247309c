/*
 * Helpers shared inside the storage library (not part of the backend
 * interface): how the engine prepares a curl easy handle around a backend's
 * `setup`, and the small parsing/encoding utilities several backends use.
 */
#ifndef QSO_STOR_INTERNAL_H
#define QSO_STOR_INTERNAL_H

#include "stor_backend.h"

/* Largest response body kept for `finish` (a listing page is ~0.5 MiB). */
#define STOR_RESP_BODY_MAX    (32u * 1024 * 1024)
#define STOR_RESP_HEADERS_MAX (64u * 1024)

/* A sink or source of the engine may return this to pause the transfer
 * (it consumed/produced nothing); the engine resumes it later. */
#define STOR_IO_PAUSE 0x7fff

/*
 * Body streaming between the engine and a request: a GET's 2xx body goes to
 * `sink`, anything else to req->resp_body; PUT/MPU_PART bodies come from
 * `source`. Lives as long as the request runs.
 */
struct stor_io {
    struct stor_req *req;
    CURL *easy;
    stor_sink_fn sink;
    void *sink_ctx;
    stor_source_fn source;
    void *source_ctx;
    int sink_failed; /* the sink returned non-zero */
    int source_failed;
    uint64_t body_bytes; /* bytes delivered to the sink / taken from the source */
};

/*
 * Resets `easy`, sets the engine's options (timeouts, header and body
 * capture through `io`), calls the backend's setup, then the body streaming
 * options. 0, STOR_ENOTSUP (no request needed) or an error.
 */
int stor__req_prepare(struct stor_backend *b, CURL *easy, struct stor_req *req, struct stor_io *io,
                      struct stor_error *err);
/*
 * After curl finished `easy` with `cc`: fills req->status and calls the
 * backend's finish; maps transport errors. 0 or an error code.
 */
int stor__req_complete(struct stor_backend *b, CURL *easy, struct stor_req *req, struct stor_io *io,
                       CURLcode cc, struct stor_error *err);

/* Fills req->entry from a successful HEAD's headers (Content-Length, ETag,
 * Last-Modified). STOR_EDECODE when the length is not a size. */
int stor__head_entry(struct stor_req *req, struct stor_error *err);
/* A curl write/header callback appending to the struct stor_buf in `ud`
 * (stops the transfer when the buffer's maximum is reached). */
size_t stor__buf_collect(char *data, size_t size, size_t n, void *ud);
/* Makes `easy` a PUT with "Content-Length: 0" (copies, container creation). */
void stor__empty_upload(CURL *easy);

/* A key as it appears in a URL path: every byte but unreserved and '/'
 * percent-encoded (RFC 3986, as SigV4 wants). */
int stor_uri_encode(struct stor_buf *out, const char *s, int keep_slash);
/* Percent-decodes in place; returns 0 or STOR_EARG on a bad escape. */
int stor_uri_decode(char *s);

/* Lower-case hex of a byte string into out (2*n+1 bytes). */
void stor_hex(const unsigned char *in, size_t n, char *out);
/* Copies an ETag without quotes, lower-cased. */
void stor_etag_norm(const char *in, char *out, size_t cap);
/* Parses "2024-01-02T03:04:05.000Z" or an HTTP date into epoch seconds; 0 if bad. */
long long stor_parse_time(const char *s);
/* Strict unsigned parse of a whole string. 0 or STOR_EARG. */
int stor_parse_u64(const char *s, uint64_t *out);
/* Copies src into dst (cap bytes), truncating; always NUL-terminates. */
void stor_strlcpy(char *dst, const char *src, size_t cap);

#endif
