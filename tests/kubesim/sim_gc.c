/*
 * Garbage collector and namespace controller (see sim_gc.h). A pass first
 * snapshots the keys of every object, because deletions reshape the store's
 * arrays while it works; each key is then looked up again before use.
 */
#include "sim_gc.h"

#include <stdlib.h>
#include <string.h>

#include "sim_kind.h"
#include "sim_server.h"
#include "sim_status.h"
#include "sim_store.h"
#include "sim_util.h"
#include "sim_verbs.h"

struct key {
    struct sim_coll *coll;
    char *ns;
    char *name;
};

struct keys {
    struct key *v;
    size_t n;
};

static void keys_free(struct keys *ks)
{
    for (size_t i = 0; i < ks->n; i++) {
        free(ks->v[i].ns);
        free(ks->v[i].name);
    }
    free(ks->v);
}

static int snapshot(struct sim_server *srv, struct keys *ks)
{
    size_t total = 0, n = 0;
    for (size_t i = 0; i < sim_store_ncolls(srv->store); i++)
        total += sim_store_coll_at(srv->store, i)->n;
    ks->v = calloc(total + 1, sizeof(*ks->v));
    ks->n = 0;
    if (!ks->v)
        return -1;
    for (size_t i = 0; i < sim_store_ncolls(srv->store); i++) {
        struct sim_coll *c = sim_store_coll_at(srv->store, i);
        for (size_t j = 0; j < c->n; j++) {
            ks->v[n].coll = c;
            ks->v[n].ns = strdup(c->v[j]->ns);
            ks->v[n].name = strdup(c->v[j]->name);
            n++;
            ks->n = n;
            if (!ks->v[n - 1].ns || !ks->v[n - 1].name)
                return -1;
        }
    }
    return 0;
}

static int has_fin(const cJSON *obj, const char *f)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, sim_jget(obj, "metadata", "finalizers", NULL))
    {
        if (cJSON_IsString(it) && strcmp(it->valuestring, f) == 0)
            return 1;
    }
    return 0;
}

static void drop_string(cJSON *arr, const char *s)
{
    for (int i = cJSON_GetArraySize(arr) - 1; i >= 0; i--) {
        const cJSON *it = cJSON_GetArrayItem(arr, i);
        if (cJSON_IsString(it) && strcmp(it->valuestring, s) == 0)
            cJSON_DeleteItemFromArray(arr, i);
    }
}

static int refers_to(const cJSON *obj, const char *uid, int *blocking)
{
    const cJSON *r;
    int found = 0;
    if (blocking)
        *blocking = 0;
    cJSON_ArrayForEach(r, sim_jget(obj, "metadata", "ownerReferences", NULL))
    {
        const char *u = sim_jstr(r, "uid", NULL);
        if (u && strcmp(u, uid) == 0) {
            found = 1;
            if (blocking && cJSON_IsTrue(sim_jget(r, "blockOwnerDeletion", NULL)))
                *blocking = 1;
        }
    }
    return found;
}

static const struct sim_kind *kind_of(struct sim_server *srv, const struct sim_coll *c)
{
    return sim_kinds_storage(srv->kinds, c->group, c->resource);
}

/* Writes `obj` minus the finalizer `f` (deleting it when none are left). */
static void remove_finalizer(struct sim_server *srv, struct sim_coll *c, const cJSON *obj,
                             const char *f)
{
    cJSON *copy = cJSON_Duplicate(obj, 1);
    cJSON *meta = copy ? sim_jget(copy, "metadata", NULL) : NULL;
    if (!meta) {
        cJSON_Delete(copy);
        return;
    }
    drop_string(sim_jget(meta, "finalizers", NULL), f);
    if (cJSON_GetArraySize(sim_jget(meta, "finalizers", NULL)) == 0)
        cJSON_DeleteItemFromObjectCaseSensitive(meta, "finalizers");
    sim_controller_update(srv, c, copy);
}

/* Removes the ownerReferences to `uid` from a dependent. */
static void drop_owner_refs(struct sim_server *srv, struct sim_coll *c, const cJSON *obj,
                            const char *uid)
{
    cJSON *copy = cJSON_Duplicate(obj, 1);
    cJSON *refs = copy ? sim_jget(copy, "metadata", "ownerReferences", NULL) : NULL;
    if (!refs) {
        cJSON_Delete(copy);
        return;
    }
    for (int i = cJSON_GetArraySize(refs) - 1; i >= 0; i--) {
        const char *u = sim_jstr(cJSON_GetArrayItem(refs, i), "uid", NULL);
        if (u && strcmp(u, uid) == 0)
            cJSON_DeleteItemFromArray(refs, i);
    }
    if (cJSON_GetArraySize(refs) == 0)
        cJSON_DeleteItemFromObjectCaseSensitive(sim_jget(copy, "metadata", NULL),
                                                "ownerReferences");
    sim_controller_update(srv, c, copy);
}

static void delete_quietly(struct sim_server *srv, struct sim_coll *c, const char *ns,
                           const char *name, const char *policy)
{
    const struct sim_kind *k = kind_of(srv, c);
    struct sim_err e;
    if (!k)
        return;
    sim_err_clear(&e);
    sim_delete_object(srv, k, ns, name, policy, &e);
}

/* Owner handling for one object being deleted with a GC finalizer. */
static int handle_owner(struct sim_server *srv, const struct keys *ks, struct sim_coll *c,
                        const char *ns, const char *name)
{
    struct sim_obj *o = sim_coll_get(c, ns, name);
    const char *uid;
    int changed = 0;
    if (!o || !sim_jget(o->json, "metadata", "deletionTimestamp", NULL))
        return 0;
    uid = sim_jstr(o->json, "metadata", "uid", NULL);
    if (!uid)
        return 0;
    if (has_fin(o->json, "orphan")) {
        char uidb[64];
        sim_strlcpy(uidb, uid, sizeof(uidb));
        for (size_t i = 0; i < ks->n; i++) {
            struct sim_obj *d = sim_coll_get(ks->v[i].coll, ks->v[i].ns, ks->v[i].name);
            if (d && refers_to(d->json, uidb, NULL))
                drop_owner_refs(srv, ks->v[i].coll, d->json, uidb);
        }
        o = sim_coll_get(c, ns, name);
        if (o)
            remove_finalizer(srv, c, o->json, "orphan");
        return 1;
    }
    if (has_fin(o->json, "foregroundDeletion")) {
        char uidb[64];
        int blocking_left = 0;
        sim_strlcpy(uidb, uid, sizeof(uidb));
        for (size_t i = 0; i < ks->n; i++) {
            struct sim_obj *d = sim_coll_get(ks->v[i].coll, ks->v[i].ns, ks->v[i].name);
            int blocking;
            if (!d || !refers_to(d->json, uidb, &blocking))
                continue;
            if (blocking)
                blocking_left = 1;
            if (!sim_jget(d->json, "metadata", "deletionTimestamp", NULL)) {
                delete_quietly(srv, ks->v[i].coll, ks->v[i].ns, ks->v[i].name,
                               blocking ? "Foreground" : "Background");
                changed = 1;
            }
        }
        if (!blocking_left) {
            o = sim_coll_get(c, ns, name);
            if (o) {
                remove_finalizer(srv, c, o->json, "foregroundDeletion");
                changed = 1;
            }
        }
    }
    return changed;
}

/* Dependents whose owners are all gone are deleted; dangling refs dropped. */
static int handle_dependent(struct sim_server *srv, struct sim_coll *c, const char *ns,
                            const char *name)
{
    struct sim_obj *o = sim_coll_get(c, ns, name);
    const cJSON *refs, *r;
    int total = 0, missing = 0;
    char gone[8][64];
    size_t ngone = 0;
    if (!o)
        return 0;
    refs = sim_jget(o->json, "metadata", "ownerReferences", NULL);
    cJSON_ArrayForEach(r, refs)
    {
        const char *u = sim_jstr(r, "uid", NULL);
        total++;
        if (u && !sim_store_find_uid(srv->store, u, NULL)) {
            missing++;
            if (ngone < 8)
                sim_strlcpy(gone[ngone++], u, sizeof(gone[0]));
        }
    }
    if (total == 0 || missing == 0)
        return 0;
    if (missing == total) {
        if (sim_jget(o->json, "metadata", "deletionTimestamp", NULL))
            return 0;
        delete_quietly(srv, c, ns, name, "Background");
        return 1;
    }
    for (size_t i = 0; i < ngone; i++) {
        o = sim_coll_get(c, ns, name);
        if (o)
            drop_owner_refs(srv, c, o->json, gone[i]);
    }
    return 1;
}

static int handle_namespace(struct sim_server *srv, const struct keys *ks, struct sim_coll *nsc,
                            const char *nsname)
{
    struct sim_obj *o = sim_coll_get(nsc, "", nsname);
    int remaining = 0, changed = 0;
    const cJSON *sf;
    if (!o || !sim_jget(o->json, "metadata", "deletionTimestamp", NULL))
        return 0;
    for (size_t i = 0; i < ks->n; i++) {
        struct sim_obj *d;
        if (strcmp(ks->v[i].ns, nsname) != 0)
            continue;
        d = sim_coll_get(ks->v[i].coll, ks->v[i].ns, ks->v[i].name);
        if (!d)
            continue;
        remaining = 1;
        if (!sim_jget(d->json, "metadata", "deletionTimestamp", NULL)) {
            delete_quietly(srv, ks->v[i].coll, ks->v[i].ns, ks->v[i].name, "Background");
            changed = 1;
        }
    }
    if (remaining)
        return changed;
    o = sim_coll_get(nsc, "", nsname);
    sf = o ? sim_jget(o->json, "spec", "finalizers", NULL) : NULL;
    if (o && cJSON_GetArraySize(sf) > 0) {
        cJSON *copy = cJSON_Duplicate(o->json, 1);
        if (copy) {
            drop_string(sim_jget(copy, "spec", "finalizers", NULL), "kubernetes");
            sim_controller_update(srv, nsc, copy);
            changed = 1;
        }
    } else if (o && cJSON_GetArraySize(sim_jget(o->json, "metadata", "finalizers", NULL)) == 0) {
        /* Nothing holds it any more. */
        cJSON *copy = cJSON_Duplicate(o->json, 1);
        if (copy) {
            sim_controller_update(srv, nsc, copy);
            changed = 1;
        }
    }
    return changed;
}

int sim_gc_run(struct sim_server *srv)
{
    struct keys ks;
    int changed = 0;
    struct sim_coll *nsc = sim_store_coll(srv->store, "", "namespaces", 0);
    memset(&ks, 0, sizeof(ks));
    if (snapshot(srv, &ks) != 0) {
        keys_free(&ks);
        return 0;
    }
    for (size_t i = 0; i < ks.n; i++) {
        changed |= handle_owner(srv, &ks, ks.v[i].coll, ks.v[i].ns, ks.v[i].name);
        changed |= handle_dependent(srv, ks.v[i].coll, ks.v[i].ns, ks.v[i].name);
        if (ks.v[i].coll == nsc)
            changed |= handle_namespace(srv, &ks, nsc, ks.v[i].name);
    }
    keys_free(&ks);
    return changed;
}
