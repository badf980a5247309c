/*
 * One API request in, one response out. The HTTP layer (sim_http.c) turns a
 * libwebsockets transaction into a `struct sim_request`, calls sim_dispatch,
 * and sends the `struct sim_response` (or streams its watch or stream).
 * sim_dispatch authenticates, applies injected faults, authorizes, routes to
 * the verb (sim_verbs.c), to the pods/log reader (sim_pod_log.c) or to
 * discovery/openapi/admin, and records the request.
 */
#ifndef QSO_SIM_API_H
#define QSO_SIM_API_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "k8s_buf.h"
#include "sim_status.h"

struct sim_server;
struct sim_watch;
struct sim_kind;
struct sim_stream;
struct sim_user;

#define SIM_MAX_PARAMS   48
#define SIM_MAX_WARNINGS 8

struct sim_param {
    char *key;
    char *val;
};

struct sim_request {
    char method[16];
    char *path; /* decoded, without the query */
    struct sim_param params[SIM_MAX_PARAMS];
    size_t nparams;
    char *accept;            /* may be NULL */
    char *content_type;      /* may be NULL */
    char *authorization;     /* may be NULL */
    char *impersonate_user;  /* Impersonate-User, may be NULL */
    char *impersonate_group; /* the first Impersonate-Group, may be NULL */
    char *body;
    size_t body_len;
    int h2;
};

struct sim_response {
    int status;
    char content_type[128];
    long retry_after;
    char warnings[SIM_MAX_WARNINGS][512];
    size_t nwarnings;
    struct k8s_buf body;
    int64_t delay_ms;          /* injected latency before the answer */
    struct sim_watch *watch;   /* a streaming answer; the HTTP layer takes it */
    struct sim_stream *stream; /* another streaming answer (a followed log); taken likewise */
};

/*
 * A streaming answer as the HTTP layer sees it: watches and followed pod logs
 * alike. The HTTP layer sends whatever produce() appends, asks ready() from
 * its 100 ms timer (and on store events) whether to wake the connection, and
 * frees the stream when the transaction ends for any reason. Everything runs
 * on the service thread.
 */
struct sim_stream_ops {
    /* Appends what is ready now to `out`, stopping once it holds more than
     * `max` bytes; 1 when the stream is over (nothing more will come). */
    int (*produce)(void *impl, struct k8s_buf *out, size_t max);
    /* Whether produce would have something now (data or the end). */
    int (*ready)(const void *impl);
    void (*free)(void *impl);
};

struct sim_stream {
    const struct sim_stream_ops *ops;
    void *impl;
    int64_t started_ms; /* monotonic */
    int cuttable;       /* a watch: the admin endpoint's watch cuts apply to it */
};

/* Wraps `impl` (taken: freed with ops->free even when this fails). */
struct sim_stream *sim_stream_new(const struct sim_stream_ops *ops, void *impl, int cuttable);
/* The watch as a stream (the watch is taken); NULL when out of memory. */
struct sim_stream *sim_stream_from_watch(struct sim_watch *w);
void sim_stream_free(struct sim_stream *s);

/* The parsed RequestInfo of k8s.io/apiserver/pkg/endpoints/request. */
struct sim_reqinfo {
    int resource_request;
    char verb[24]; /* get list watch create update patch delete deletecollection */
    char group[128];
    char version[64];
    char resource[128];
    char subresource[64];
    char ns[256];
    char name[256];
    int legacy_watch; /* /api/v1/watch/... path */
    /* Who asks, for admission plugins that authorize (sim_gcadmit.c); set by
     * sim_dispatch after authentication, NULL for the simulator's own
     * controllers (sim_internal_call), which hold every right as
     * kube-controller-manager does. Borrowed for the request's duration. */
    const struct sim_user *user;
};

const char *sim_req_param(const struct sim_request *r, const char *key);
void sim_request_free(struct sim_request *r);

void sim_response_init(struct sim_response *resp);
void sim_response_free(struct sim_response *resp);
/* Sets status and a JSON body (takes `body`). */
void sim_respond_json(struct sim_response *resp, int status, cJSON *body);
void sim_respond_err(struct sim_response *resp, const struct sim_err *e);
void sim_respond_text(struct sim_response *resp, int status, const char *ctype, const char *text);
void sim_add_warning(struct sim_response *resp, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Parses path + method into `ri` (ri->user NULL); 0, or -1 for paths that are
 * not API paths. */
int sim_parse_reqinfo(const char *method, const char *path, const struct sim_request *req,
                      struct sim_reqinfo *ri);

void sim_dispatch(struct sim_server *srv, const struct sim_request *req, struct sim_response *resp);

#endif
