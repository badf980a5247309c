/*
 * One watch stream: which objects it selects, where in the store's history it
 * stands, and the newline-delimited JSON events it produces for the HTTP layer
 * to send. Semantics follow the watch cache of kube-apiserver:
 *  - resourceVersion unset or "0": synthetic ADDED events for every selected
 *    object first, then changes; "N": every change after N, or one ERROR event
 *    (410 Expired, "too old resource version") when the history no longer
 *    reaches back to N;
 *  - a MODIFIED object that stops (starts) matching the selectors is sent as
 *    DELETED (ADDED);
 *  - BOOKMARK events carrying only metadata.resourceVersion when
 *    allowWatchBookmarks=true; the stream ends after timeoutSeconds.
 */
#ifndef QSO_SIM_WATCH_H
#define QSO_SIM_WATCH_H

#include <stddef.h>
#include <stdint.h>

#include "k8s_buf.h"

struct sim_server;
struct sim_kind;
struct sim_labelsel;
struct sim_fieldsel;
struct sim_watch;

enum sim_as { SIM_AS_OBJECT, SIM_AS_META, SIM_AS_TABLE };

struct sim_watch_opts {
    const char *ns;              /* NULL: all namespaces */
    struct sim_labelsel *labels; /* taken; NULL selects all */
    struct sim_fieldsel *fields; /* taken; NULL selects all */
    int send_initial;            /* rv unset/"0" */
    uint64_t from_rv;
    int bookmarks;
    int64_t timeout_ms; /* 0: no timeout */
    enum sim_as as;
};

/* Always succeeds unless out of memory; a too-old version produces the ERROR
 * event as the stream's only content. */
struct sim_watch *sim_watch_new(struct sim_server *srv, const struct sim_kind *k,
                                struct sim_watch_opts *opts);
void sim_watch_free(struct sim_watch *w);

/*
 * Appends the events ready now to `out` (stopping once it holds more than
 * `max` bytes). Returns 1 when the stream is over (after a timeout, an ERROR
 * event, or the kind stopped being served) and nothing more will come.
 */
int sim_watch_produce(struct sim_watch *w, struct k8s_buf *out, size_t max);
/* Whether produce would have something now (events, bookmark, end). */
int sim_watch_ready(const struct sim_watch *w);
/* Milliseconds of monotonic clock when the watch started. */
int64_t sim_watch_started(const struct sim_watch *w);

#endif
