/*
 * The request engine under k8s_client.c and k8s_watch.c (internal to
 * k8sclient/): libcurl easy handles, TLS from memory, authentication, the
 * client-side rate limit, and retries.
 *
 * Handles live in a mutex-protected pool: a request borrows one and gives it
 * back, so its live connection (TLS session, h2 connection) serves the next
 * request, and N concurrent callers simply hold N handles. Every request
 * resets its handle and sets all options afresh, so nothing leaks from one
 * request into the next except the connection cache.
 *
 * Authentication is re-evaluated per request: the bearer token comes from the
 * rotating token source each time (a replaced token file is picked up by the
 * next request), and it is only ever placed in the request's header list,
 * which is wiped before it is freed. Nothing here logs a header.
 */
#ifndef QSO_K8S_TRANSPORT_H
#define QSO_K8S_TRANSPORT_H

#include <stddef.h>

#include "k8s_buf.h"
#include "k8s_client.h"
#include "k8s_config.h"
#include "k8s_error.h"

struct k8s_transport;

/* Largest response body kept in memory (a List of every Secret, say). */
#define K8S_MAX_RESPONSE_BODY (256u * 1024u * 1024u)
/* Attempts of one request (the first try included) before giving up. */
#define K8S_MAX_ATTEMPTS 5
/* Longest wait honoured from a Retry-After header or Status detail. */
#define K8S_MAX_RETRY_AFTER_SECONDS 30

struct k8s_transport_req {
    const char *method;       /* "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE" */
    const char *path_query;   /* starts with '/', query values already escaped */
    const char *content_type; /* of `body`; NULL: application/json when there is a body */
    const char *body;         /* NULL: no body */
    size_t body_len;
    const char *accept; /* NULL: application/json */
    /*
     * Streaming (watch): a single attempt, no overall timeout unless
     * stream_timeout_ms, TCP keep-alive, and the body of a 2xx answer goes
     * to on_data as it arrives instead of into the response (a non-2xx
     * answer is still buffered, to decode its Status). on_data returns 0 to
     * go on, non-zero to abort the transfer.
     */
    int streaming;
    long stream_timeout_ms;
    int (*on_data)(const char *data, size_t len, void *user);
    /* Polled about once a second and on every chunk; non-zero aborts. */
    int (*should_stop)(void *user);
    void *user;
};

int k8s_transport_new(const struct k8s_config *cfg, struct k8s_transport **out,
                      struct k8s_error *err);
void k8s_transport_free(struct k8s_transport *t);

/*
 * Performs `req`, retrying as k8s_client.h describes. Returns 0 for a 2xx
 * answer; a non-2xx answer fills `resp` and returns its decoded error;
 * K8S_ETLS / K8S_ETRANSPORT when no answer came (resp->status 0), and
 * K8S_ESTOPPED when on_data or should_stop aborted the transfer (resp->status
 * then holds the answer's status). A streaming request never returns 0: the
 * end of a 2xx stream, however it came, is K8S_EDISCONNECTED. `resp` is
 * always safe to free.
 */
int k8s_transport_do(struct k8s_transport *t, const struct k8s_transport_req *req,
                     struct k8s_response *resp, struct k8s_error *err);

/* The transport's copy of the config (lives as long as the transport). */
const struct k8s_config *k8s_transport_config(const struct k8s_transport *t);

void k8s_transport_get_stats(struct k8s_transport *t, struct k8s_client_stats *out);
void k8s_transport_set_observer(struct k8s_transport *t, k8s_request_observer fn, void *user);
void k8s_transport_set_write_gate(struct k8s_transport *t, k8s_write_gate fn, void *user);

/* Appends "?key=value" (or "&key=value" when u already has a query) to the
 * URL being built in `u`, value percent-encoded. 0 or K8S_ENOMEM. */
int k8s_query_add(struct k8s_buf *u, const char *key, const char *value);

/* The client's transport, for k8s_watch.c. */
struct k8s_transport *k8s_client_transport(struct k8s_client *c);

#endif
