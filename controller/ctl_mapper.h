/*
 * Mapping of related events to the keys to reconcile (controller-runtime's
 * EnqueueRequestForOwner and its map functions):
 *
 *  - owners: a change of an owned object (a Job the operator created) maps to
 *    the keys of its owners through metadata.ownerReferences, filtered by the
 *    owner's API group and kind (optionally only the controller reference);
 *    on an update, the owners of both the old and the new state are mapped,
 *    so a change of ownership reaches both;
 *  - references: a change of a referenced object (a Secret, a QuayRegistry)
 *    maps to the keys of the objects that reference it. The API server keeps
 *    no such back-link, so the mapper holds an index from the referenced
 *    (kind, namespace, name) to the referencing keys, which each reconciler
 *    updates with ctl_mapper_set_refs when it reads its object (and clears
 *    with ctl_mapper_forget when the object is gone).
 *
 * Keys are built with ctl_wq_key ("<kind>/<namespace>/<name>"). The index is
 * thread-safe; callbacks run without its lock held, so they may enqueue or
 * even call back into the mapper.
 */
#ifndef QSO_CTL_MAPPER_H
#define QSO_CTL_MAPPER_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "ctl_informer.h"
#include "ctl_workqueue.h"

/* Receives one mapped key (borrowed for the call). */
typedef void (*ctl_key_fn)(const char *key, void *user);

/* Which ownerReferences count, and the key kind they map to. */
struct ctl_owner_spec {
    const char *group;    /* the owner's API group ("" core, NULL: any group) */
    const char *kind;     /* the owner's kind, e.g. "StorageMigration" (required) */
    int controller_only;  /* only the reference with controller: true */
    int cluster_scoped;   /* the owner is cluster-scoped: keys get no namespace */
    const char *key_kind; /* kind part of the keys; NULL: `kind` */
};

/* Calls fn with the key of each matching owner of `obj` (each key once).
 * Returns how many keys were produced. */
size_t ctl_owner_keys(const cJSON *obj, const struct ctl_owner_spec *spec, ctl_key_fn fn,
                      void *user);

/* An informer handler (ctl_informer_add_handler) that enqueues the owners of
 * the object (and of its previous state) into q. `user` is a
 * struct ctl_owner_map that must outlive the informer. */
struct ctl_owner_map {
    struct ctl_owner_spec spec;
    struct ctl_workqueue *q;
};
void ctl_owner_handler(enum ctl_event_type type, const cJSON *old, const cJSON *obj, void *user);

/* ---- the reference index --------------------------------------------------- */

struct ctl_mapper;

/* A referenced object: ns NULL or "" for a cluster-scoped one. */
struct ctl_ref {
    const char *kind;
    const char *ns;
    const char *name;
};

/* NULL when out of memory. */
struct ctl_mapper *ctl_mapper_new(void);
void ctl_mapper_free(struct ctl_mapper *m);

/* Replaces everything `referrer_key` references by refs[0..n) (duplicates
 * collapse; n == 0 is ctl_mapper_forget). 0, K8S_EARG for an invalid ref
 * (empty kind or name, a '/' in a part) with the index unchanged, or
 * K8S_ENOMEM. */
int ctl_mapper_set_refs(struct ctl_mapper *m, const char *referrer_key, const struct ctl_ref *refs,
                        size_t n);
/* Drops every reference of `referrer_key`. */
void ctl_mapper_forget(struct ctl_mapper *m, const char *referrer_key);
/* Calls fn with each key referencing (kind, ns, name), in sorted order.
 * Returns how many there were. */
size_t ctl_mapper_referrers(struct ctl_mapper *m, const char *kind, const char *ns,
                            const char *name, ctl_key_fn fn, void *user);
/* How many referencing keys and referenced objects the index holds (metrics). */
void ctl_mapper_size(struct ctl_mapper *m, size_t *referrers, size_t *referenced);

/* An informer handler that enqueues into q the referrers of the changed
 * object, taken as (kind, its namespace, its name). `user` is a
 * struct ctl_ref_map that must outlive the informer. */
struct ctl_ref_map {
    struct ctl_mapper *m;
    const char *kind; /* the informer's kind as used in ctl_ref, e.g. "Secret" */
    struct ctl_workqueue *q;
};
void ctl_ref_handler(enum ctl_event_type type, const cJSON *old, const cJSON *obj, void *user);

#endif
