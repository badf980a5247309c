/*
 * The object store: what etcd is to kube-apiserver. Objects live in one
 * collection per storage resource (group + plural), sorted by namespace then
 * name as etcd keys sort, so lists and continue tokens have a stable order.
 * Every write takes the next value of one global resourceVersion counter and
 * appends an event to a bounded history shared by all collections; watches
 * read that history from a resourceVersion, and a version older than the
 * history's start is "too old" (410 Expired), as after an etcd compaction.
 *
 * The store only stores: semantics (uid, generation, finalizers, validation)
 * belong to the verbs in sim_api.c. Single-threaded: every call happens on the
 * HTTP service thread.
 */
#ifndef QSO_SIM_STORE_H
#define QSO_SIM_STORE_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

enum sim_ev_type { SIM_EV_ADDED, SIM_EV_MODIFIED, SIM_EV_DELETED };

struct sim_obj {
    char *ns; /* "" for cluster-scoped objects */
    char *name;
    cJSON *json; /* the stored object; metadata.resourceVersion kept current */
    uint64_t rv;
};

struct sim_coll {
    char group[128];
    char resource[128];
    struct sim_obj **v; /* sorted by (ns, name) */
    size_t n, cap;
};

struct sim_event {
    uint64_t rv;
    enum sim_ev_type type;
    const struct sim_coll *coll;
    cJSON *obj; /* the object after the write (before it, for DELETED: with the new rv) */
    cJSON *old; /* the object before a MODIFIED, else NULL */
};

struct sim_store;

/* `history`: how many events are kept for watches (at least 1). */
struct sim_store *sim_store_new(size_t history);
void sim_store_free(struct sim_store *s);

/* Called after every recorded event (to wake watches). */
void sim_store_set_listener(struct sim_store *s, void (*fn)(void *ud), void *ud);

uint64_t sim_store_rv(const struct sim_store *s);
/* Restores the counter (persistence); never moves it backwards. */
void sim_store_set_rv(struct sim_store *s, uint64_t rv);

/* The collection for group/resource; created when `create` is set. */
struct sim_coll *sim_store_coll(struct sim_store *s, const char *group, const char *resource,
                                int create);
size_t sim_store_ncolls(const struct sim_store *s);
struct sim_coll *sim_store_coll_at(struct sim_store *s, size_t i);

struct sim_obj *sim_coll_get(const struct sim_coll *c, const char *ns, const char *name);
/* [*begin, *end) indexes of the objects in namespace `ns` (NULL: all). */
void sim_coll_range(const struct sim_coll *c, const char *ns, size_t *begin, size_t *end);
/* First index whose (ns, name) sorts after the given key (continue tokens). */
size_t sim_coll_after(const struct sim_coll *c, const char *ns, const char *name);

/*
 * Stores `obj` (taken, even on failure) under its metadata.namespace/name,
 * assigning the next resourceVersion into it and recording ADDED (new key) or
 * MODIFIED. Returns the stored object or NULL on allocation failure.
 */
struct sim_obj *sim_store_put(struct sim_store *s, struct sim_coll *c, cJSON *obj);
/* Removes the object, recording DELETED with a new resourceVersion. */
int sim_store_remove(struct sim_store *s, struct sim_coll *c, const char *ns, const char *name);

/* Restores an object without an event (persistence). `obj` taken. */
int sim_store_load(struct sim_store *s, struct sim_coll *c, cJSON *obj);

/* Forgets the whole watch history, as a restarted server's empty watch
 * cache does: a watch from any earlier version gets 410. */
void sim_store_forget_history(struct sim_store *s);

/* Finds an object by metadata.uid in any collection; NULL when absent. */
struct sim_obj *sim_store_find_uid(struct sim_store *s, const char *uid, struct sim_coll **coll);

/*
 * Watch history. sim_store_history_from(s, rv, &pos) positions a cursor on
 * the first event newer than `rv`; it returns -1 when events after `rv` were
 * already dropped (the caller answers 410 with `*oldest`, the oldest version
 * it could still serve), else 0. sim_store_history_next returns the event at
 * the cursor and advances it, or NULL at the end.
 */
int sim_store_history_from(const struct sim_store *s, uint64_t rv, uint64_t *cursor,
                           uint64_t *oldest);
const struct sim_event *sim_store_history_next(const struct sim_store *s, uint64_t *cursor);

#endif
