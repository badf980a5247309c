/*
 * The HTTPS front end on libwebsockets 4.1.6: HTTP/1.1 and h2 (ALPN) on
 * 127.0.0.1 with the simulator's serving certificate. It reads requests
 * (headers, query, body), hands them to sim_dispatch, and writes responses in
 * pieces of at most 16 KiB (h2 DATA frames are not split by lws). Streaming
 * answers (watches, followed pod logs; struct sim_stream) are sent as they
 * come: chunked transfer encoding framed by hand on HTTP/1.1 (lws 4.1.6
 * does not frame it), plain DATA frames on h2, with idle timeouts off.
 * Everything runs on lws's single service thread; a 100 ms timer drives the
 * server's periodic work, delayed (fault-injected) answers, bookmarks,
 * watch timeouts and watch cuts.
 */
#ifndef QSO_SIM_HTTP_H
#define QSO_SIM_HTTP_H

struct sim_server;
struct sim_http;

/* Listens on 127.0.0.1:port (0 picks a free port); *bound gets the port. */
int sim_http_start(struct sim_server *srv, int port, struct sim_http **out, int *bound);
/* Serves until srv->stop is set. */
void sim_http_run(struct sim_http *h);
/* Wakes the watch streams (the store recorded an event). */
void sim_http_notify(void *http);
/* Cuts every watch stream now (the admin endpoint's simulated restart). */
void sim_http_cut_watches(struct sim_http *h);
void sim_http_free(struct sim_http *h);

#endif
