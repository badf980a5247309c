/*
 * Watching: a streaming decoder of newline-delimited watch events, and the
 * watch verb on top of the client's transport.
 *
 * The decoder owns a growable buffer (maximum 64 MiB per event) and scans each
 * byte once: it remembers where its newline search stopped, so an object of
 * several MiB arriving in thousands of pieces is decoded in linear time.
 * libcurl's write callbacks never align with lines or chunks.
 */
#ifndef QSO_K8S_WATCH_H
#define QSO_K8S_WATCH_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "k8s_buf.h"
#include "k8s_client.h"
#include "k8s_error.h"

enum k8s_watch_type {
    K8S_WATCH_ADDED,
    K8S_WATCH_MODIFIED,
    K8S_WATCH_DELETED,
    K8S_WATCH_BOOKMARK,
    K8S_WATCH_ERROR,
};

struct k8s_watch_event {
    enum k8s_watch_type type;
    cJSON *object;    /* borrowed for the callback's duration; a Status for ERROR */
    const char *resource_version; /* object's metadata.resourceVersion, or NULL */
};

/* Return 0 to continue, non-zero to stop the watch (k8s_watch then returns
 * K8S_ESTOPPED). */
typedef int (*k8s_watch_cb)(const struct k8s_watch_event *ev, void *user);

struct k8s_watch_decoder {
    struct k8s_buf buf;
    size_t scanned;   /* bytes of buf already searched for '\n' */
};

void k8s_watch_decoder_init(struct k8s_watch_decoder *d);
void k8s_watch_decoder_free(struct k8s_watch_decoder *d);
/*
 * Feeds bytes; calls `cb` for each complete event. Returns 0, K8S_EDECODE for a
 * line that is not a watch event (err names what was wrong), K8S_ENOMEM for an
 * event above the maximum, or K8S_ESTOPPED when cb asked to stop.
 */
int k8s_watch_decoder_feed(struct k8s_watch_decoder *d, const char *data, size_t len,
                           k8s_watch_cb cb, void *user, struct k8s_error *err);
/* Bytes held that do not yet form a complete line. */
size_t k8s_watch_decoder_pending(const struct k8s_watch_decoder *d);

/* Turns an ERROR event's Status object into a typed error (410 -> K8S_EGONE). */
int k8s_watch_error_from_status(const cJSON *status, struct k8s_error *err);

struct k8s_watch_opts {
    const char *resource_version; /* resume point; NULL: from now ("most recent") */
    int allow_bookmarks;
    long timeout_seconds;         /* server-side timeout; 0: not sent */
    const char *label_selector;
    const char *field_selector;
    const char *accept;           /* e.g. PartialObjectMetadata; NULL: application/json */
    volatile int *stop;           /* if non-NULL and set non-zero, the watch ends soon */
};

/*
 * Runs one watch request until the stream ends. Never returns 0: ANY end of the
 * stream (even with HTTP 200 / CURLE_OK) is K8S_EDISCONNECTED — the caller
 * re-watches from the last resourceVersion it saw. An ERROR event ends the watch
 * with its typed error (K8S_EGONE: relist). Non-2xx answers return their error.
 * Each event's callback runs on the calling thread, inside libcurl's write
 * callback: keep it short (hand work to a queue).
 */
int k8s_watch(struct k8s_client *c, const struct k8s_resource *res, const char *ns,
              const struct k8s_watch_opts *wopts, k8s_watch_cb cb, void *user,
              struct k8s_error *err);

#endif
