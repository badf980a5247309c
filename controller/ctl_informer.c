/*
 * Informers (see ctl_informer.h): reflector threads that list and watch, the
 * cache they keep, and the delivery of events to handlers.
 *
 * Threads. One reflector thread per watched scope (all namespaces, or each
 * listed namespace) runs list → watch → watch ... and owns the cache entries
 * of its scope; an optional resync thread re-delivers the cache. The watch
 * callback runs inside libcurl's write callback on the reflector thread: it
 * updates the cache and calls the handlers (which only enqueue), then returns
 * to the stream at once.
 *
 * Locks. `mu` guards the cache, its owner index, the stats and the flags, and
 * is only ever held briefly (readers copy objects under it). `dispatch_mu`
 * serialises every change of the cache together with the handler calls it
 * causes: a writer takes dispatch_mu, changes the cache under mu, releases
 * mu, calls the handlers, frees what it replaced, and releases dispatch_mu.
 * Because nothing is freed without dispatch_mu, the objects handed to
 * handlers stay valid for the call without a copy, and handlers may read the
 * cache (mu is free). Order: dispatch_mu → mu → (the clock's leaf lock).
 *
 * Cache. Entries live in a balanced tree (glibc tsearch) keyed by
 * "namespace/name" ("name" for cluster-scoped objects); an owner index maps
 * each ownerReferences uid to the entries that carry it. A relist marks every
 * entry it sees with a fresh generation number; entries of the reflector's
 * scope left unmarked were deleted while we were not watching.
 */
#include "ctl_informer.h"

#include <pthread.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "k8s_log.h"
#include "k8s_selector.h"
#include "k8s_watch.h"

#define BACKOFF_INITIAL_MS  800
#define BACKOFF_MAX_MS      30000
#define BACKOFF_RESET_MS    120000 /* a failure this long after the last one starts over */
#define WATCH_TIMEOUT_MIN_S 300
#define WATCH_TIMEOUT_MAX_S 600
#define LIST_PAGE_SIZE      500

#define ACCEPT_META_LIST                                                                           \
    "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
#define ACCEPT_META "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"

struct centry {
    char *key; /* first member: the tree compares entries by it */
    char *ns;  /* "" for cluster-scoped objects */
    cJSON *obj;
    unsigned long gen; /* the relist generation that last saw it */
};

struct owner_slot {
    char *uid; /* first member: the owner tree's key */
    struct centry **v;
    size_t n, cap;
};

struct handler {
    ctl_informer_handler fn;
    void *user;
};

struct reflector {
    struct ctl_informer *inf;
    char *ns; /* NULL: all namespaces (or a cluster-scoped resource) */
    pthread_t thread;
    int running;
    char *rv; /* the last resourceVersion seen; opaque */
    int synced;
    int64_t backoff_ms, last_failure_ms;
    int gone_streak;            /* 410s in a row without an event in between */
    unsigned long watch_events; /* events of the current watch */
    uint64_t rng;
};

struct ctl_informer {
    struct k8s_client *client;
    struct ctl_clock *clock;
    struct k8s_resource res;
    char *group, *version, *resource;
    char *label_selector, *field_selector;
    int metadata_only;
    int64_t resync_ms;
    struct handler handlers[CTL_INFORMER_MAX_HANDLERS];
    size_t nhandlers;
    struct reflector *refl;
    size_t nrefl;
    pthread_t resync_thread;
    int resync_running;
    pthread_mutex_t mu;
    pthread_cond_t cond; /* stop, sync, and backoff/resync waits (registered with the clock) */
    pthread_mutex_t dispatch_mu;
    volatile int stop; /* read by k8s_watch through wopts.stop */
    int started;
    void *cache;
    size_t ncache;
    void *owners;
    unsigned long gen;
    struct ctl_informer_stats st;
};

/* One change to deliver: the objects are freed after delivery when owned. */
struct delivery {
    enum ctl_event_type type;
    const cJSON *old, *obj;
    cJSON *free1, *free2;
};

struct deliveries {
    struct delivery *v;
    size_t n, cap;
};

static int stopping(struct ctl_informer *inf)
{
    return __atomic_load_n(&inf->stop, __ATOMIC_SEQ_CST);
}

/* ---- object helpers ------------------------------------------------------- */

static const char *meta_str(const cJSON *obj, const char *field)
{
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(md, field);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Both NULL or equal. */
static int same_str(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

/* "ns/name" or "name" into buf; -1 when the object has no name. */
static int object_key(const cJSON *obj, char *buf, size_t cap, const char **ns_out)
{
    const char *name = meta_str(obj, "name"), *ns = meta_str(obj, "namespace");
    int n;
    if (!name || !*name)
        return -1;
    if (ns && *ns)
        n = snprintf(buf, cap, "%s/%s", ns, name);
    else
        n = snprintf(buf, cap, "%s", name);
    if (n < 0 || (size_t)n >= cap)
        return -1;
    *ns_out = ns ? ns : "";
    return 0;
}

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---- owner index (mu held) -------------------------------------------------- */

static void owner_add(struct ctl_informer *inf, const char *uid, struct centry *e)
{
    struct owner_slot probe = {.uid = (char *)uid}, **found, *s;
    found = tfind(&probe, &inf->owners, entry_cmp);
    if (found) {
        s = *found;
    } else {
        s = calloc(1, sizeof(*s));
        if (!s || !(s->uid = strdup(uid))) {
            free(s);
            return; /* out of memory: the object is just not found by owner */
        }
        if (!tsearch(s, &inf->owners, entry_cmp)) {
            free(s->uid);
            free(s);
            return;
        }
    }
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i] == e)
            return;
    if (s->n == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 4;
        struct centry **nv = realloc(s->v, ncap * sizeof(*nv));
        if (!nv)
            return;
        s->v = nv;
        s->cap = ncap;
    }
    s->v[s->n++] = e;
}

static void owner_slot_free(void *p)
{
    struct owner_slot *s = p;
    free(s->uid);
    free(s->v);
    free(s);
}

static void owner_del(struct ctl_informer *inf, const char *uid, struct centry *e)
{
    struct owner_slot probe = {.uid = (char *)uid}, **found, *s;
    found = tfind(&probe, &inf->owners, entry_cmp);
    if (!found)
        return;
    s = *found;
    for (size_t i = 0; i < s->n; i++) {
        if (s->v[i] == e) {
            s->v[i] = s->v[--s->n];
            break;
        }
    }
    if (s->n == 0) {
        tdelete(s, &inf->owners, entry_cmp);
        owner_slot_free(s);
    }
}

static void index_owners(struct ctl_informer *inf, struct centry *e, const cJSON *obj, int add)
{
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const cJSON *ref;
    cJSON_ArrayForEach(ref, cJSON_GetObjectItemCaseSensitive(md, "ownerReferences"))
    {
        const cJSON *uid = cJSON_GetObjectItemCaseSensitive(ref, "uid");
        if (!cJSON_IsString(uid) || !*uid->valuestring)
            continue;
        if (add)
            owner_add(inf, uid->valuestring, e);
        else
            owner_del(inf, uid->valuestring, e);
    }
}

/* ---- cache (mu held) -------------------------------------------------------- */

static struct centry *cache_find(struct ctl_informer *inf, const char *key)
{
    struct centry probe = {.key = (char *)key}, **found;
    found = tfind(&probe, &inf->cache, entry_cmp);
    return found ? *found : NULL;
}

/* Inserts a new entry taking `obj`; NULL when out of memory (obj not taken). */
static struct centry *cache_insert(struct ctl_informer *inf, const char *key, const char *ns,
                                   cJSON *obj)
{
    struct centry *e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    e->key = strdup(key);
    e->ns = strdup(ns);
    if (!e->key || !e->ns || !tsearch(e, &inf->cache, entry_cmp)) {
        free(e->key);
        free(e->ns);
        free(e);
        return NULL;
    }
    e->obj = obj;
    index_owners(inf, e, obj, 1);
    inf->ncache++;
    return e;
}

/* Swaps the entry's object; returns the old one (the caller frees it). */
static cJSON *cache_replace(struct ctl_informer *inf, struct centry *e, cJSON *obj)
{
    cJSON *old = e->obj;
    index_owners(inf, e, old, 0);
    e->obj = obj;
    index_owners(inf, e, obj, 1);
    return old;
}

/* Removes the entry; returns its object (the caller frees it). */
static cJSON *cache_remove(struct ctl_informer *inf, struct centry *e)
{
    cJSON *old = e->obj;
    index_owners(inf, e, old, 0);
    tdelete(e, &inf->cache, entry_cmp);
    inf->ncache--;
    free(e->key);
    free(e->ns);
    free(e);
    return old;
}

static void entry_free(void *p)
{
    struct centry *e = p;
    cJSON_Delete(e->obj);
    free(e->key);
    free(e->ns);
    free(e);
}

/* ---- delivery --------------------------------------------------------------- */

static int deliveries_push(struct deliveries *d, enum ctl_event_type type, const cJSON *old,
                           const cJSON *obj, cJSON *free1, cJSON *free2)
{
    if (d->n == d->cap) {
        size_t ncap = d->cap ? d->cap * 2 : 16;
        struct delivery *nv = realloc(d->v, ncap * sizeof(*nv));
        if (!nv)
            return K8S_ENOMEM;
        d->v = nv;
        d->cap = ncap;
    }
    d->v[d->n].type = type;
    d->v[d->n].old = old;
    d->v[d->n].obj = obj;
    d->v[d->n].free1 = free1;
    d->v[d->n].free2 = free2;
    d->n++;
    return 0;
}

/* Calls the handlers for each delivery, then frees what was detached.
 * dispatch_mu held, mu not held. */
static void deliver(struct ctl_informer *inf, struct deliveries *d)
{
    for (size_t i = 0; i < d->n; i++) {
        struct delivery *x = &d->v[i];
        for (size_t h = 0; h < inf->nhandlers; h++)
            inf->handlers[h].fn(x->type, x->old, x->obj, inf->handlers[h].user);
    }
    pthread_mutex_lock(&inf->mu);
    inf->st.delivered += d->n;
    pthread_mutex_unlock(&inf->mu);
    for (size_t i = 0; i < d->n; i++) {
        cJSON_Delete(d->v[i].free1);
        cJSON_Delete(d->v[i].free2);
    }
    free(d->v);
    d->v = NULL;
    d->n = d->cap = 0;
}

/*
 * Applies one incoming state of `key` (obj owned; NULL for a deletion with
 * `last` the final state, owned) and queues what to deliver. mu held.
 */
static void apply_state(struct ctl_informer *inf, struct deliveries *d, const char *key,
                        const char *ns, cJSON *obj, cJSON *last)
{
    struct centry *e = cache_find(inf, key);
    if (!obj) {
        cJSON *old;
        if (!e) {
            cJSON_Delete(last); /* never known: nothing to tell */
            return;
        }
        old = cache_remove(inf, e);
        if (!last) {
            last = old;
            old = NULL;
        }
        if (deliveries_push(d, CTL_EV_DELETE, NULL, last, last, old) != 0) {
            cJSON_Delete(last);
            cJSON_Delete(old);
        }
        return;
    }
    if (!e) {
        if (!cache_insert(inf, key, ns, obj)) {
            cJSON_Delete(obj);
            return;
        }
        deliveries_push(d, CTL_EV_ADD, NULL, obj, NULL, NULL);
        return;
    }
    if (!same_str(meta_str(e->obj, "uid"), meta_str(obj, "uid"))) {
        /* Another object under the same name: the old one is gone. */
        cJSON *old = cache_replace(inf, e, obj);
        if (deliveries_push(d, CTL_EV_DELETE, NULL, old, old, NULL) != 0)
            cJSON_Delete(old);
        deliveries_push(d, CTL_EV_ADD, NULL, obj, NULL, NULL);
        return;
    }
    if (same_str(meta_str(e->obj, "resourceVersion"), meta_str(obj, "resourceVersion"))) {
        cJSON_Delete(obj); /* the same version again: no change */
        return;
    }
    {
        cJSON *old = cache_replace(inf, e, obj);
        if (deliveries_push(d, CTL_EV_UPDATE, old, obj, old, NULL) != 0)
            cJSON_Delete(old);
    }
}

/* ---- reflector ----------------------------------------------------------------- */

static void set_rv(struct reflector *r, const char *rv)
{
    char *n;
    if (!rv || !*rv || same_str(r->rv, rv))
        return;
    n = strdup(rv);
    if (!n)
        return;
    free(r->rv);
    r->rv = n;
}

static uint64_t next_rand(struct reflector *r)
{
    r->rng ^= r->rng << 13;
    r->rng ^= r->rng >> 7;
    r->rng ^= r->rng << 17;
    return r->rng;
}

static void log_refl(struct reflector *r, enum k8s_log_level lvl, const char *msg,
                     const char *detail)
{
    const char *kv[] = {"resource", r->inf->resource, "detail", detail ? detail : "", NULL};
    k8s_log(lvl, r->ns, NULL, msg, kv);
}

/* Waits the next backoff (or Retry-After, when longer) unless stopped. */
static void backoff_wait(struct reflector *r, long retry_after_s)
{
    struct ctl_informer *inf = r->inf;
    int64_t now = ctl_clock_mono_ms(inf->clock), d, deadline;
    if (r->backoff_ms == 0 || now - r->last_failure_ms > BACKOFF_RESET_MS)
        r->backoff_ms = BACKOFF_INITIAL_MS;
    else if (r->backoff_ms < BACKOFF_MAX_MS)
        r->backoff_ms = r->backoff_ms * 2 < BACKOFF_MAX_MS ? r->backoff_ms * 2 : BACKOFF_MAX_MS;
    r->last_failure_ms = now;
    d = r->backoff_ms;
    if (retry_after_s > 0 && retry_after_s * 1000 > d)
        d = retry_after_s * 1000 < BACKOFF_MAX_MS ? retry_after_s * 1000 : BACKOFF_MAX_MS;
    deadline = now + d;
    pthread_mutex_lock(&inf->mu);
    inf->st.backoffs++;
    inf->st.last_backoff_ms = d;
    while (!stopping(inf) && !ctl_clock_wait_until(inf->clock, &inf->cond, &inf->mu, deadline))
        ;
    pthread_mutex_unlock(&inf->mu);
}

/* Fills kind/apiVersion of a list item from the List's ("ConfigMapList"). */
static void fill_type(cJSON *item, const char *list_kind, const char *api_version)
{
    size_t n;
    if (!cJSON_GetObjectItemCaseSensitive(item, "kind") && list_kind) {
        n = strlen(list_kind);
        if (n > 4 && strcmp(list_kind + n - 4, "List") == 0) {
            char kind[256];
            snprintf(kind, sizeof(kind), "%.*s", (int)(n - 4), list_kind);
            cJSON_AddStringToObject(item, "kind", kind);
        }
    }
    if (!cJSON_GetObjectItemCaseSensitive(item, "apiVersion") && api_version)
        cJSON_AddStringToObject(item, "apiVersion", api_version);
}

struct scope_walk {
    const struct reflector *r;
    unsigned long gen;
    struct centry **v;
    size_t n, cap;
    int oom;
};

static void collect_unseen(const void *node, VISIT which, void *closure)
{
    struct centry *e = *(struct centry *const *)node;
    struct scope_walk *w = closure;
    if (which != postorder && which != leaf)
        return;
    if (e->gen == w->gen || (w->r->ns && strcmp(e->ns, w->r->ns) != 0))
        return;
    if (w->n == w->cap) {
        size_t ncap = w->cap ? w->cap * 2 : 16;
        struct centry **nv = realloc(w->v, ncap * sizeof(*nv));
        if (!nv) {
            w->oom = 1;
            return;
        }
        w->v = nv;
        w->cap = ncap;
    }
    w->v[w->n++] = e;
}

/* LIST, then replace this scope of the cache, delivering the differences. */
static int relist(struct reflector *r, struct k8s_error *err)
{
    struct ctl_informer *inf = r->inf;
    struct k8s_opts o = {
        .label_selector = inf->label_selector,
        .field_selector = inf->field_selector,
        .limit = LIST_PAGE_SIZE,
        .accept = inf->metadata_only ? ACCEPT_META_LIST : NULL,
    };
    struct deliveries d = {0};
    struct scope_walk w = {.r = r};
    cJSON *list = NULL, *items, *it;
    const cJSON *kind, *av;
    int rc;

    pthread_mutex_lock(&inf->mu);
    inf->st.lists++;
    pthread_mutex_unlock(&inf->mu);
    rc = k8s_list(inf->client, &inf->res, r->ns, &o, &list, err);
    if (rc)
        return rc;
    if (stopping(inf)) {
        cJSON_Delete(list);
        return K8S_ESTOPPED;
    }
    items = cJSON_GetObjectItemCaseSensitive(list, "items");
    kind = cJSON_GetObjectItemCaseSensitive(list, "kind");
    av = cJSON_GetObjectItemCaseSensitive(list, "apiVersion");

    pthread_mutex_lock(&inf->dispatch_mu);
    pthread_mutex_lock(&inf->mu);
    w.gen = ++inf->gen;
    while (cJSON_IsArray(items) && (it = items->child) != NULL) {
        char key[512];
        const char *ns;
        struct centry *e;
        cJSON_DetachItemViaPointer(items, it);
        if (object_key(it, key, sizeof(key), &ns) != 0 || (r->ns && strcmp(ns, r->ns) != 0)) {
            cJSON_Delete(it);
            continue;
        }
        fill_type(it, cJSON_IsString(kind) ? kind->valuestring : NULL,
                  cJSON_IsString(av) ? av->valuestring : NULL);
        apply_state(inf, &d, key, ns, it, NULL);
        if ((e = cache_find(inf, key)) != NULL)
            e->gen = w.gen;
    }
    twalk_r(inf->cache, collect_unseen, &w);
    for (size_t i = 0; i < w.n; i++) {
        cJSON *old = cache_remove(inf, w.v[i]);
        if (deliveries_push(&d, CTL_EV_DELETE, NULL, old, old, NULL) != 0)
            cJSON_Delete(old);
    }
    inf->st.objects = inf->ncache;
    pthread_mutex_unlock(&inf->mu);
    deliver(inf, &d);
    pthread_mutex_unlock(&inf->dispatch_mu);

    set_rv(r, meta_str(list, "resourceVersion"));
    free(w.v);
    cJSON_Delete(list);
    return 0;
}

static int on_watch_event(const struct k8s_watch_event *ev, void *user)
{
    struct reflector *r = user;
    struct ctl_informer *inf = r->inf;
    struct deliveries d = {0};
    char key[512];
    const char *ns;
    cJSON *copy;

    if (stopping(inf))
        return 1;
    if (ev->type == K8S_WATCH_BOOKMARK) {
        set_rv(r, ev->resource_version);
        pthread_mutex_lock(&inf->mu);
        inf->st.bookmarks++;
        pthread_mutex_unlock(&inf->mu);
        return 0;
    }
    r->watch_events++;
    r->gone_streak = 0;
    if (object_key(ev->object, key, sizeof(key), &ns) != 0) {
        set_rv(r, ev->resource_version);
        return 0;
    }
    copy = cJSON_Duplicate(ev->object, 1);
    if (!copy)
        return 1; /* out of memory: end the watch; it resumes from the last RV */

    pthread_mutex_lock(&inf->dispatch_mu);
    pthread_mutex_lock(&inf->mu);
    inf->st.events++;
    if (ev->type == K8S_WATCH_DELETED)
        apply_state(inf, &d, key, ns, NULL, copy);
    else
        apply_state(inf, &d, key, ns, copy, NULL);
    inf->st.objects = inf->ncache;
    pthread_mutex_unlock(&inf->mu);
    deliver(inf, &d);
    pthread_mutex_unlock(&inf->dispatch_mu);
    /* Only once the change is in the cache and delivered does the resume
     * point move past it. */
    set_rv(r, ev->resource_version);
    return 0;
}

static int is_transient(int rc, const struct k8s_error *err)
{
    switch (rc) {
    case K8S_EDISCONNECTED:
    case K8S_ETOOMANYREQUESTS:
    case K8S_EINTERNAL:
    case K8S_ESERVICEUNAVAILABLE:
    case K8S_ESERVERTIMEOUT:
    case K8S_ETRANSPORT:
        return 1;
    case K8S_EHTTP:
        return err->http_status >= 500;
    default:
        return 0;
    }
}

static void mark_synced(struct reflector *r)
{
    struct ctl_informer *inf = r->inf;
    pthread_mutex_lock(&inf->mu);
    r->synced = 1;
    pthread_cond_broadcast(&inf->cond);
    pthread_mutex_unlock(&inf->mu);
}

static void *reflector_main(void *p)
{
    struct reflector *r = p;
    struct ctl_informer *inf = r->inf;
    struct k8s_error err;
    int need_list = 1;

    while (!stopping(inf)) {
        int rc;
        if (need_list) {
            k8s_error_clear(&err);
            rc = relist(r, &err);
            if (rc == K8S_ESTOPPED || stopping(inf))
                break;
            if (rc) {
                pthread_mutex_lock(&inf->mu);
                inf->st.list_failures++;
                pthread_mutex_unlock(&inf->mu);
                log_refl(r, K8S_LOG_WARN, "informer list failed; backing off", err.message);
                backoff_wait(r, err.retry_after_seconds);
                continue;
            }
            need_list = 0;
            if (!r->synced)
                mark_synced(r);
        }

        struct k8s_watch_opts wo = {
            .resource_version = r->rv,
            .allow_bookmarks = 1,
            .timeout_seconds =
                WATCH_TIMEOUT_MIN_S +
                (long)(next_rand(r) % (WATCH_TIMEOUT_MAX_S - WATCH_TIMEOUT_MIN_S + 1)),
            .label_selector = inf->label_selector,
            .field_selector = inf->field_selector,
            .accept = inf->metadata_only ? ACCEPT_META : NULL,
            .stop = &inf->stop,
        };
        int64_t started = ctl_clock_mono_ms(inf->clock);
        pthread_mutex_lock(&inf->mu);
        inf->st.watches++;
        pthread_mutex_unlock(&inf->mu);
        r->watch_events = 0;
        k8s_error_clear(&err);
        rc = k8s_watch(inf->client, &inf->res, r->ns, &wo, on_watch_event, r, &err);
        if (rc == K8S_ESTOPPED || stopping(inf))
            break;
        if (rc == K8S_EDISCONNECTED &&
            ctl_clock_mono_ms(inf->clock) - started >= wo.timeout_seconds * 1000 - 1000) {
            /* The server's timeoutSeconds: the routine end of a watch. */
            continue;
        }
        pthread_mutex_lock(&inf->mu);
        inf->st.watch_failures++;
        if (!is_transient(rc, &err))
            inf->st.relists++; /* both branches below list again */
        pthread_mutex_unlock(&inf->mu);
        if (rc == K8S_EGONE) {
            /* The resume point is older than the server's history: list
             * again. A 410 straight after a relist (no event in between)
             * means the history is churning faster than we list; wait. */
            log_refl(r, K8S_LOG_INFO, "informer resourceVersion expired; relisting", err.message);
            need_list = 1;
            if (r->watch_events == 0 && ++r->gone_streak > 1)
                backoff_wait(r, 0);
            continue;
        }
        if (is_transient(rc, &err)) {
            log_refl(r, K8S_LOG_DEBUG, "informer watch ended; re-watching after a backoff",
                     err.message);
            backoff_wait(r, err.retry_after_seconds);
            continue;
        }
        /* Anything else (403, 404, a stream that does not parse): our view
         * may be incomplete, so list again after the backoff. */
        log_refl(r, K8S_LOG_WARN, "informer watch failed; relisting after a backoff", err.message);
        need_list = 1;
        backoff_wait(r, err.retry_after_seconds);
    }
    return NULL;
}

/* ---- resync ----------------------------------------------------------------------- */

struct obj_walk {
    const cJSON **v;
    size_t n, cap;
    int oom;
};

static void collect_objs(const void *node, VISIT which, void *closure)
{
    const struct centry *e = *(struct centry *const *)node;
    struct obj_walk *w = closure;
    if (which != postorder && which != leaf)
        return;
    if (w->n == w->cap) {
        size_t ncap = w->cap ? w->cap * 2 : 64;
        const cJSON **nv = realloc(w->v, ncap * sizeof(*nv));
        if (!nv) {
            w->oom = 1;
            return;
        }
        w->v = nv;
        w->cap = ncap;
    }
    w->v[w->n++] = e->obj;
}

static void resync(struct ctl_informer *inf)
{
    struct obj_walk w = {0};
    pthread_mutex_lock(&inf->dispatch_mu);
    pthread_mutex_lock(&inf->mu);
    twalk_r(inf->cache, collect_objs, &w);
    inf->st.resyncs++;
    inf->st.delivered += w.n;
    pthread_mutex_unlock(&inf->mu);
    /* Holding dispatch_mu keeps every collected object alive and unchanged
     * until the last handler call. */
    for (size_t i = 0; i < w.n; i++)
        for (size_t h = 0; h < inf->nhandlers; h++)
            inf->handlers[h].fn(CTL_EV_UPDATE, w.v[i], w.v[i], inf->handlers[h].user);
    pthread_mutex_unlock(&inf->dispatch_mu);
    free(w.v);
}

static void *resync_main(void *p)
{
    struct ctl_informer *inf = p;
    pthread_mutex_lock(&inf->mu);
    while (!stopping(inf)) {
        int64_t deadline = ctl_clock_mono_ms(inf->clock) + inf->resync_ms;
        while (!stopping(inf) && !ctl_clock_wait_until(inf->clock, &inf->cond, &inf->mu, deadline))
            ;
        if (stopping(inf))
            break;
        pthread_mutex_unlock(&inf->mu);
        resync(inf);
        pthread_mutex_lock(&inf->mu);
    }
    pthread_mutex_unlock(&inf->mu);
    return NULL;
}

/* ---- public --------------------------------------------------------------------------- */

static char *dup_or_null(const char *s, int *oom)
{
    char *d;
    if (!s)
        return NULL;
    d = strdup(s);
    if (!d)
        *oom = 1;
    return d;
}

int ctl_informer_new(struct k8s_client *client, struct ctl_clock *clock,
                     const struct ctl_informer_options *opts, struct ctl_informer **out,
                     struct k8s_error *err)
{
    struct ctl_informer *inf = NULL;
    struct k8s_selector *sel = NULL;
    size_t nns = 0;
    int rc = 0, oom = 0;
    uint64_t seed = 0;

    *out = NULL;
    if (!client || !clock || !opts || !opts->resource.version || !opts->resource.resource ||
        !*opts->resource.resource)
        return k8s_error_set(err, K8S_EARG, "an informer needs a client, a clock and a resource");
    if (opts->resync_ms < 0)
        return k8s_error_set(err, K8S_EARG, "informer resync period must be >= 0");
    if (opts->label_selector) {
        rc = k8s_selector_parse(opts->label_selector, &sel, err);
        k8s_selector_free(sel);
        if (rc)
            return rc;
    }
    inf = calloc(1, sizeof(*inf));
    if (!inf)
        return k8s_error_set(err, K8S_ENOMEM, "out of memory");
    inf->client = client;
    inf->clock = clock;
    inf->group = dup_or_null(opts->resource.group ? opts->resource.group : "", &oom);
    inf->version = dup_or_null(opts->resource.version, &oom);
    inf->resource = dup_or_null(opts->resource.resource, &oom);
    inf->label_selector = dup_or_null(opts->label_selector, &oom);
    inf->field_selector = dup_or_null(opts->field_selector, &oom);
    inf->res.group = inf->group;
    inf->res.version = inf->version;
    inf->res.resource = inf->resource;
    inf->res.namespaced = opts->resource.namespaced;
    inf->metadata_only = opts->metadata_only;
    inf->resync_ms = opts->resync_ms;
    pthread_mutex_init(&inf->mu, NULL);
    pthread_mutex_init(&inf->dispatch_mu, NULL);
    pthread_cond_init(&inf->cond, NULL);
    ctl_clock_watch(clock, &inf->cond, &inf->mu);

    /* A namespace list only scopes namespaced resources (a manager passes
     * its --namespaces to every informer, cluster-scoped ones included). */
    if (opts->namespaces && opts->resource.namespaced)
        while (opts->namespaces[nns])
            nns++;
    inf->refl = calloc(nns ? nns : 1, sizeof(*inf->refl));
    if (!inf->refl || oom) {
        rc = k8s_error_set(err, K8S_ENOMEM, "out of memory");
        goto out;
    }
    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed))
        seed = (uint64_t)ctl_clock_mono_ms(clock) ^ (uint64_t)(uintptr_t)inf;
    for (size_t i = 0; i < (nns ? nns : 1); i++) {
        struct reflector *r = &inf->refl[inf->nrefl];
        if (nns) {
            const char *ns = opts->namespaces[i];
            int dup = 0;
            if (!*ns || strchr(ns, '/')) {
                rc = k8s_error_set(err, K8S_EARG, "invalid namespace \"%s\" in the informer scope",
                                   ns);
                goto out;
            }
            for (size_t j = 0; j < inf->nrefl; j++)
                if (strcmp(inf->refl[j].ns, ns) == 0)
                    dup = 1;
            if (dup)
                continue;
            if (!(r->ns = strdup(ns))) {
                rc = k8s_error_set(err, K8S_ENOMEM, "out of memory");
                goto out;
            }
        }
        r->inf = inf;
        r->rng = (seed ^ (0x9e3779b97f4a7c15ULL * (i + 1))) | 1;
        inf->nrefl++;
    }
    *out = inf;
    inf = NULL;
out:
    ctl_informer_free(inf);
    return rc;
}

int ctl_informer_add_handler(struct ctl_informer *inf, ctl_informer_handler fn, void *user)
{
    int rc = 0;
    if (!inf || !fn)
        return K8S_EARG;
    pthread_mutex_lock(&inf->mu);
    if (inf->started || inf->nhandlers == CTL_INFORMER_MAX_HANDLERS) {
        rc = K8S_EARG;
    } else {
        inf->handlers[inf->nhandlers].fn = fn;
        inf->handlers[inf->nhandlers].user = user;
        inf->nhandlers++;
    }
    pthread_mutex_unlock(&inf->mu);
    return rc;
}

int ctl_informer_start(struct ctl_informer *inf)
{
    int rc = 0;
    if (!inf)
        return K8S_EARG;
    pthread_mutex_lock(&inf->mu);
    if (inf->started || stopping(inf)) {
        pthread_mutex_unlock(&inf->mu);
        return K8S_EARG;
    }
    inf->started = 1;
    pthread_mutex_unlock(&inf->mu);
    for (size_t i = 0; i < inf->nrefl; i++) {
        if (pthread_create(&inf->refl[i].thread, NULL, reflector_main, &inf->refl[i]) != 0) {
            rc = K8S_ENOMEM;
            goto out;
        }
        inf->refl[i].running = 1;
    }
    if (inf->resync_ms > 0) {
        if (pthread_create(&inf->resync_thread, NULL, resync_main, inf) != 0) {
            rc = K8S_ENOMEM;
            goto out;
        }
        inf->resync_running = 1;
    }
out:
    if (rc)
        ctl_informer_stop(inf);
    return rc;
}

void ctl_informer_request_stop(struct ctl_informer *inf)
{
    if (!inf)
        return;
    pthread_mutex_lock(&inf->mu);
    __atomic_store_n(&inf->stop, 1, __ATOMIC_SEQ_CST);
    pthread_cond_broadcast(&inf->cond);
    pthread_mutex_unlock(&inf->mu);
}

void ctl_informer_stop(struct ctl_informer *inf)
{
    if (!inf)
        return;
    ctl_informer_request_stop(inf);
    for (size_t i = 0; i < inf->nrefl; i++) {
        if (inf->refl[i].running) {
            pthread_join(inf->refl[i].thread, NULL);
            inf->refl[i].running = 0;
        }
    }
    if (inf->resync_running) {
        pthread_join(inf->resync_thread, NULL);
        inf->resync_running = 0;
    }
}

void ctl_informer_free(struct ctl_informer *inf)
{
    if (!inf)
        return;
    ctl_informer_stop(inf);
    ctl_clock_unwatch(inf->clock, &inf->cond);
    tdestroy(inf->cache, entry_free);
    tdestroy(inf->owners, owner_slot_free);
    for (size_t i = 0; i < inf->nrefl; i++) {
        free(inf->refl[i].ns);
        free(inf->refl[i].rv);
    }
    free(inf->refl);
    free(inf->group);
    free(inf->version);
    free(inf->resource);
    free(inf->label_selector);
    free(inf->field_selector);
    pthread_cond_destroy(&inf->cond);
    pthread_mutex_destroy(&inf->dispatch_mu);
    pthread_mutex_destroy(&inf->mu);
    free(inf);
}

static int all_synced(struct ctl_informer *inf)
{
    for (size_t i = 0; i < inf->nrefl; i++)
        if (!inf->refl[i].synced)
            return 0;
    return inf->nrefl > 0;
}

int ctl_informer_has_synced(struct ctl_informer *inf)
{
    int s;
    if (!inf)
        return 0;
    pthread_mutex_lock(&inf->mu);
    s = all_synced(inf);
    pthread_mutex_unlock(&inf->mu);
    return s;
}

int ctl_informer_wait_for_sync(struct ctl_informer *inf, int64_t timeout_ms)
{
    int rc = 0;
    int64_t deadline;
    if (!inf)
        return K8S_EARG;
    deadline = timeout_ms < 0 ? CTL_CLOCK_FOREVER : ctl_clock_mono_ms(inf->clock) + timeout_ms;
    pthread_mutex_lock(&inf->mu);
    for (;;) {
        if (all_synced(inf))
            break;
        if (stopping(inf)) {
            rc = K8S_ESTOPPED;
            break;
        }
        if (ctl_clock_wait_until(inf->clock, &inf->cond, &inf->mu, deadline) == 1 &&
            !all_synced(inf)) {
            rc = K8S_ESERVERTIMEOUT;
            break;
        }
    }
    pthread_mutex_unlock(&inf->mu);
    return rc;
}

cJSON *ctl_informer_get(struct ctl_informer *inf, const char *ns, const char *name)
{
    char key[512];
    struct centry *e;
    cJSON *copy = NULL;
    int n;
    if (!inf || !name)
        return NULL;
    if (ns && *ns)
        n = snprintf(key, sizeof(key), "%s/%s", ns, name);
    else
        n = snprintf(key, sizeof(key), "%s", name);
    if (n < 0 || (size_t)n >= sizeof(key))
        return NULL;
    pthread_mutex_lock(&inf->mu);
    e = cache_find(inf, key);
    if (e)
        copy = cJSON_Duplicate(e->obj, 1);
    pthread_mutex_unlock(&inf->mu);
    return copy;
}

struct list_walk {
    const char *ns;
    const struct k8s_selector *sel;
    cJSON *out;
    int oom;
};

static void list_one(struct list_walk *w, const struct centry *e)
{
    cJSON *copy;
    if (w->oom || (w->ns && strcmp(e->ns, w->ns) != 0) ||
        !k8s_selector_matches_object(w->sel, e->obj))
        return;
    copy = cJSON_Duplicate(e->obj, 1);
    if (!copy || !cJSON_AddItemToArray(w->out, copy)) {
        cJSON_Delete(copy);
        w->oom = 1;
    }
}

static void list_visit(const void *node, VISIT which, void *closure)
{
    if (which == postorder || which == leaf)
        list_one(closure, *(struct centry *const *)node);
}

static int entry_ptr_cmp(const void *a, const void *b)
{
    return strcmp((*(struct centry *const *)a)->key, (*(struct centry *const *)b)->key);
}

cJSON *ctl_informer_list(struct ctl_informer *inf, const char *ns, const char *label_selector,
                         const char *owner_uid)
{
    struct k8s_selector *sel = NULL;
    struct k8s_error err;
    struct list_walk w = {.ns = ns};
    if (!inf)
        return NULL;
    if (label_selector && k8s_selector_parse(label_selector, &sel, &err) != 0)
        return NULL;
    w.sel = sel;
    w.out = cJSON_CreateArray();
    if (!w.out)
        goto out;
    pthread_mutex_lock(&inf->mu);
    if (owner_uid) {
        struct owner_slot probe = {.uid = (char *)owner_uid}, **found;
        found = tfind(&probe, &inf->owners, entry_cmp);
        if (found && (*found)->n) {
            struct owner_slot *s = *found;
            struct centry **v = malloc(s->n * sizeof(*v));
            if (v) {
                memcpy(v, s->v, s->n * sizeof(*v));
                qsort(v, s->n, sizeof(*v), entry_ptr_cmp);
                for (size_t i = 0; i < s->n; i++)
                    list_one(&w, v[i]);
                free(v);
            } else {
                w.oom = 1;
            }
        }
    } else {
        twalk_r(inf->cache, list_visit, &w);
    }
    pthread_mutex_unlock(&inf->mu);
    if (w.oom) {
        cJSON_Delete(w.out);
        w.out = NULL;
    }
out:
    k8s_selector_free(sel);
    return w.out;
}

size_t ctl_informer_len(struct ctl_informer *inf)
{
    size_t n;
    if (!inf)
        return 0;
    pthread_mutex_lock(&inf->mu);
    n = inf->ncache;
    pthread_mutex_unlock(&inf->mu);
    return n;
}

const struct k8s_resource *ctl_informer_resource(const struct ctl_informer *inf)
{
    return inf ? &inf->res : NULL;
}

void ctl_informer_get_stats(struct ctl_informer *inf, struct ctl_informer_stats *out)
{
    if (!inf || !out)
        return;
    pthread_mutex_lock(&inf->mu);
    *out = inf->st;
    out->objects = inf->ncache;
    pthread_mutex_unlock(&inf->mu);
}
