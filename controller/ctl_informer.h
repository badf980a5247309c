/*
 * Informers: list+watch of one resource type into a local cache, with
 * client-go reflector semantics (STYLE.md): LIST, then WATCH from the list's
 * resourceVersion with allowWatchBookmarks and a randomised timeoutSeconds
 * (5-10 min); every event (bookmarks too) advances the resourceVersion; 410
 * Expired → relist (the cache is replaced, and handlers get synthetic
 * add/update/delete for the differences, so no change is lost or duplicated);
 * disconnects, 429 and 5xx → back off (0.8 s doubling to 30 s, by the
 * injectable clock; back to 0.8 s after 2 min without a failure) and
 * re-watch without relisting; a periodic resync re-delivers every cached
 * object as an update.
 *
 * Event delivery: ADD when a key appears, UPDATE when its resourceVersion
 * changes, DELETE (with the last known state) when it goes. A watch event
 * that changes nothing (same resourceVersion, a DELETED for an unknown key)
 * is not delivered. An object replaced by another of the same name (a new
 * uid) is a DELETE of the old one then an ADD of the new one. On a relist,
 * only the differences between the cache and the list are delivered (ADDs and
 * UPDATEs in list order, then DELETEs). Handler calls of one informer never
 * overlap, even with several namespaces (one watch thread each); handlers
 * may read the informer's cache (ctl_informer_get/list) but must not block.
 *
 * Watch I/O runs on the informer's own threads and never blocks on reconcile
 * work: handlers must only enqueue keys. Scope: all namespaces, or a list
 * (one list+watch per namespace). metadata_only informers use
 * PartialObjectMetadata (for Secrets: never cache secret data wholesale).
 * ctl_informer_stop returns within about a second (the watch polls the stop
 * flag), unless a LIST request is in flight (bounded by the client's request
 * timeout).
 */
#ifndef QSO_CTL_INFORMER_H
#define QSO_CTL_INFORMER_H

#include <cjson/cJSON.h>

#include "ctl_clock.h"
#include "k8s_client.h"

struct ctl_informer;

enum ctl_event_type { CTL_EV_ADD, CTL_EV_UPDATE, CTL_EV_DELETE };

/* `old` is NULL for ADD; `obj` is the last known state for DELETE. Both are
 * borrowed for the call's duration. Runs on the informer thread: enqueue only.
 * For a resync, UPDATE comes with old == obj. */
typedef void (*ctl_informer_handler)(enum ctl_event_type type, const cJSON *old, const cJSON *obj,
                                     void *user);

struct ctl_informer_options {
    struct k8s_resource resource;  /* copied */
    const char *const *namespaces; /* NULL-terminated; NULL = all namespaces */
    const char *label_selector;    /* server-side; validated by ctl_informer_new */
    int metadata_only;             /* PartialObjectMetadata list/watch */
    int64_t resync_ms;             /* 0: no periodic resync */
    const char *field_selector;    /* server-side, e.g. "metadata.name=x"; NULL: none */
};

/* Largest number of handlers one informer takes. */
#define CTL_INFORMER_MAX_HANDLERS 16

/* Copies the options; the client and the clock are borrowed and must outlive
 * the informer. Nothing is requested before ctl_informer_start. */
int ctl_informer_new(struct k8s_client *client, struct ctl_clock *clock,
                     const struct ctl_informer_options *opts, struct ctl_informer **out,
                     struct k8s_error *err);
/* Several handlers may be added before ctl_informer_start (K8S_EARG after). */
int ctl_informer_add_handler(struct ctl_informer *inf, ctl_informer_handler fn, void *user);
int ctl_informer_start(struct ctl_informer *inf);
/* Tells the watch threads to stop without waiting for them, so several
 * informers wind down together (then ctl_informer_stop joins). Idempotent. */
void ctl_informer_request_stop(struct ctl_informer *inf);
/* Stops the watch threads and joins them. Idempotent. */
void ctl_informer_stop(struct ctl_informer *inf);
/* Stops (if needed) and frees. NULL is fine. */
void ctl_informer_free(struct ctl_informer *inf);

/* Whether the first LIST completed (for /readyz and for reconcilers); with
 * several namespaces, the first LIST of each. */
int ctl_informer_has_synced(struct ctl_informer *inf);
/* Waits (by the informer's clock) until synced: 0, K8S_ESTOPPED when the
 * informer was stopped, K8S_ESERVERTIMEOUT after timeout_ms (< 0: forever). */
int ctl_informer_wait_for_sync(struct ctl_informer *inf, int64_t timeout_ms);

/* Cache reads return deep copies (the caller frees with cJSON_Delete), so a
 * reconciler never races the watch thread. NULL when absent. ns is NULL or ""
 * for a cluster-scoped resource. */
cJSON *ctl_informer_get(struct ctl_informer *inf, const char *ns, const char *name);
/* A JSON array of copies of every cached object matching: ns (NULL = all),
 * label selector (NULL = all), owner uid (NULL = any: an ownerReferences
 * entry with that uid), in a stable order (by the "namespace/name" string).
 * NULL when the selector does not parse or memory runs out. */
cJSON *ctl_informer_list(struct ctl_informer *inf, const char *ns, const char *label_selector,
                         const char *owner_uid);
/* Number of cached objects. */
size_t ctl_informer_len(struct ctl_informer *inf);
/* The resource this informer watches (plural name, e.g. "secrets"). */
const struct k8s_resource *ctl_informer_resource(const struct ctl_informer *inf);

struct ctl_informer_stats {
    unsigned long lists, watches, relists, events;
    unsigned long bookmarks;      /* BOOKMARK events (they advance the resourceVersion) */
    unsigned long watch_failures; /* watches that ended other than at their timeout */
    unsigned long list_failures;
    unsigned long backoffs;  /* waits before a retry */
    int64_t last_backoff_ms; /* the last such wait */
    unsigned long resyncs;
    unsigned long delivered; /* events delivered (once however many handlers) */
    size_t objects;          /* cached objects */
};
void ctl_informer_get_stats(struct ctl_informer *inf, struct ctl_informer_stats *out);

#endif
