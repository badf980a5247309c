/*
 * A small plain-HTTP server for probes and metrics (/healthz, /readyz,
 * /metrics), on libwebsockets.
 *
 * One lws context with one service thread serves every listener (the probe
 * address and the metrics address are two vhosts of that context):
 * LIBNOTES.md warns against several lws contexts in one process, and the
 * Debian build has one service thread per context anyway. Handlers run on the
 * service thread and answer at once from in-memory state (a registry render,
 * a flag), so they never block on the API server. The only call another
 * thread makes into lws is lws_cancel_service, to wake the thread for stop.
 *
 * Only GET is served; a path not in the listener's route table is 404, any
 * other method 405. Answers carry Content-Length and the connection is kept
 * alive (Prometheus scrapes reuse it).
 */
#ifndef QSO_CTL_HTTPSERVER_H
#define QSO_CTL_HTTPSERVER_H

#include <stddef.h>

#include "k8s_buf.h"
#include "k8s_error.h"

/* Fills `body` (at most CTL_HTTP_MAX_BODY bytes), may point *content_type at
 * a static string (default "text/plain; charset=utf-8"), and returns the HTTP
 * status. Runs on the server's thread. */
typedef int (*ctl_http_handler)(void *user, struct k8s_buf *body, const char **content_type);

struct ctl_http_route {
    const char *path; /* exact path, without query string: "/healthz" */
    ctl_http_handler fn;
    void *user;
};

#define CTL_HTTP_MAX_ROUTES    8
#define CTL_HTTP_MAX_LISTENERS 4
#define CTL_HTTP_MAX_BODY      (16u * 1024u * 1024u)

struct ctl_httpserver;

int ctl_httpserver_new(struct ctl_httpserver **out, struct k8s_error *err);

/*
 * Adds a listener before start. `addr` is "host:port" or ":port" (all
 * interfaces); port 0 picks a free port (read it back with
 * ctl_httpserver_port). The route table is copied (the `user` pointers are
 * borrowed and must outlive the server). Returns the listener's index in
 * *index (may be NULL).
 */
int ctl_httpserver_listen(struct ctl_httpserver *s, const char *addr,
                          const struct ctl_http_route *routes, size_t nroutes, size_t *index,
                          struct k8s_error *err);

/* Binds every listener and starts the service thread. A port in use or an
 * address that cannot be bound fails here, naming the address. */
int ctl_httpserver_start(struct ctl_httpserver *s, struct k8s_error *err);

/* The bound port of listener `index` after start; -1 if unknown. */
int ctl_httpserver_port(const struct ctl_httpserver *s, size_t index);

/* Stops the thread and closes the listeners (idempotent; thread-safe against
 * the running service thread). */
void ctl_httpserver_stop(struct ctl_httpserver *s);
void ctl_httpserver_free(struct ctl_httpserver *s);

/* Splits "host:port" / ":port" / "[v6]:port"; host "" means all interfaces. */
int ctl_http_parse_addr(const char *addr, char *host, size_t host_cap, int *port);

#endif
