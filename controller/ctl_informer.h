/*
 * Informers: list+watch of one resource type into a local cache, with
 * client-go reflector semantics (STYLE.md): LIST, then WATCH from the list's
 * resourceVersion with allowWatchBookmarks and a randomised timeoutSeconds
 * (5-10 min); every event (bookmarks too) advances the resourceVersion; 410
 * Expired → relist (the cache is replaced, and handlers get synthetic
 * add/update/delete for the differences, so no change is lost or duplicated);
 * disconnects and 429 → back off (0.8 s doubling to 30 s) and re-watch without
 * relisting; a periodic resync re-delivers every cached object as an update.
 *
 * Watch I/O runs on the informer's own thread and never blocks on reconcile
 * work: handlers must only enqueue keys. Scope: all namespaces, or a list.
 * metadata_only informers use PartialObjectMetadata (for Secrets: never cache
 * secret data wholesale).
 */
#ifndef QSO_CTL_INFORMER_H
#define QSO_CTL_INFORMER_H

#include <cjson/cJSON.h>

#include "ctl_clock.h"
#include "k8s_client.h"

struct ctl_informer;

enum ctl_event_type { CTL_EV_ADD, CTL_EV_UPDATE, CTL_EV_DELETE };

/* `old` is NULL for ADD; `obj` is the last known state for DELETE. Both are
 * borrowed for the call's duration. Runs on the informer thread: enqueue only. */
typedef void (*ctl_informer_handler)(enum ctl_event_type type, const cJSON *old,
                                     const cJSON *obj, void *user);

struct ctl_informer_options {
    struct k8s_resource resource;  /* copied */
    const char *const *namespaces; /* NULL-terminated; NULL = all namespaces */
    const char *label_selector;
    int metadata_only;             /* PartialObjectMetadata list/watch */
    int64_t resync_ms;             /* 0: no periodic resync */
};

int ctl_informer_new(struct k8s_client *client, struct ctl_clock *clock,
                     const struct ctl_informer_options *opts, struct ctl_informer **out,
                     struct k8s_error *err);
/* Several handlers may be added before ctl_informer_start. */
int ctl_informer_add_handler(struct ctl_informer *inf, ctl_informer_handler fn, void *user);
int ctl_informer_start(struct ctl_informer *inf);
/* Stops the watch thread and joins it. */
void ctl_informer_stop(struct ctl_informer *inf);
void ctl_informer_free(struct ctl_informer *inf);

/* Whether the first LIST completed (for /readyz and for reconcilers). */
int ctl_informer_has_synced(struct ctl_informer *inf);

/* Cache reads return deep copies (the caller frees with cJSON_Delete), so a
 * reconciler never races the watch thread. NULL when absent. */
cJSON *ctl_informer_get(struct ctl_informer *inf, const char *ns, const char *name);
/* A JSON array of copies of every cached object matching: ns (NULL = all),
 * label selector (NULL = all), owner uid (NULL = any). */
cJSON *ctl_informer_list(struct ctl_informer *inf, const char *ns, const char *label_selector,
                         const char *owner_uid);

struct ctl_informer_stats {
    unsigned long lists, watches, relists, events;
};
void ctl_informer_get_stats(struct ctl_informer *inf, struct ctl_informer_stats *out);

#endif
