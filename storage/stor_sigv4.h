/*
 * AWS Signature Version 4 (header form) with OpenSSL's HMAC-SHA256: the
 * canonical request, the string to sign, the derived key and the
 * Authorization header. Kept apart from stor_s3.c so that it is tested
 * against AWS's published test suite without any network.
 */
#ifndef QSO_STOR_SIGV4_H
#define QSO_STOR_SIGV4_H

#include <stddef.h>
#include <time.h>

#include "stor_backend.h"

#define STOR_SIGV4_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct stor_sigv4_creds {
    char access_key[256];
    char secret_key[256];
    char session_token[4096]; /* "" when none */
};

struct stor_sigv4_param {
    const char *name;  /* raw (not yet encoded) */
    const char *value; /* raw; "" for a bare key */
};

struct stor_sigv4_header {
    const char *name; /* any case; lower-cased for signing */
    const char *value;
};

/* "20150830T123600Z" from a time. */
void stor_sigv4_amz_date(time_t t, char out[17]);

/*
 * The canonical query string (names and values URI-encoded, sorted by
 * encoded name then value, joined by '&'); it is also a valid URL query.
 */
int stor_sigv4_query(const struct stor_sigv4_param *params, size_t n, struct stor_buf *out);

/*
 * Signs a request and writes the Authorization header VALUE into `authz`.
 * `canonical_uri` is the already-encoded path, `canonical_query` the output of
 * stor_sigv4_query (or ""), `headers` every header to sign (host and
 * x-amz-date included), `payload_hash` the hex sha256 of the body or
 * "UNSIGNED-PAYLOAD". If `canonical_out` is not NULL it receives the
 * canonical request (for tests and debugging; it holds no secret).
 */
int stor_sigv4_sign(const struct stor_sigv4_creds *creds, const char *region, const char *service,
                    const char *amz_date, const char *method, const char *canonical_uri,
                    const char *canonical_query, const struct stor_sigv4_header *headers,
                    size_t nheaders, const char *payload_hash, char *authz, size_t cap,
                    struct stor_buf *canonical_out);

/* Hex sha256 of a buffer into out[65]. */
void stor_sha256_hex(const void *data, size_t len, char out[65]);

#endif
