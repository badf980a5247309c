/*
 * Raw HTTP calls to the API simulator for its own tests: plain libcurl with the
 * simulator's CA and a chosen bearer token and HTTP version, so a test sees
 * exactly what the server answered (status, headers, body, protocol) without
 * k8sclient's retries or decoding in between. Failures are cmocka assertions.
 */
#ifndef QSO_KUBESIM_HTTP_H
#define QSO_KUBESIM_HTTP_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "kubesim_harness.h"

struct kubesim_resp {
    long code;
    char *body;
    size_t len;
    char headers[16384];
    size_t hlen;
    long version;
    int curl_code;
};
/* token NULL: the admin token; "": none. httpver: CURL_HTTP_VERSION_*.
 * allow_err: a transport error (a cut watch) is recorded in curl_code, not
 * fatal. Returns the HTTP status. Free the response with kubesim_resp_free. */
long kubesim_call_x(struct kubesim *sim, const char *token, const char *method, const char *path,
                    const char *ctype, const char *body, long httpver, int allow_err,
                    struct kubesim_resp *r);
long kubesim_call_v(struct kubesim *sim, const char *token, const char *method, const char *path,
                    const char *ctype, const char *body, long httpver, struct kubesim_resp *r);
/* As the admin, over h2. */
long kubesim_call(struct kubesim *sim, const char *method, const char *path, const char *ctype,
                  const char *body, struct kubesim_resp *r);
void kubesim_resp_free(struct kubesim_resp *r);
/* A curl write callback appending to a kubesim_resp's body (userdata). */
size_t kubesim_resp_on_body(char *p, size_t sz, size_t n, void *ud);
/* The body parsed (asserted to be JSON); the caller frees it. */
cJSON *kubesim_resp_json(const struct kubesim_resp *r);
/* o[a] or o[a][b] when it is a string, else NULL. */
const char *kubesim_jstr(const cJSON *o, const char *a, const char *b);
/* Asserts a Status with code, reason and (unless NULL) the exact message. */
void kubesim_assert_status(const struct kubesim_resp *r, long code, const char *reason,
                           const char *message);

#endif
