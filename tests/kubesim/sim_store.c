/*
 * Sorted collections and the bounded event history (see sim_store.h).
 *
 * Collections are sorted arrays: inserts cost a memmove, which is nothing at
 * the sizes tests create, and in exchange lists come out in key order and a
 * continue token is just "the key after which to start". The history is a
 * ring of events in resourceVersion order; `floor` is the newest version
 * whose successors are all still in the ring (0 until something is dropped).
 */
#include "sim_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_util.h"

struct sim_store {
    uint64_t rv;
    struct sim_coll **colls;
    size_t ncolls, capcolls;
    struct sim_event *hist;
    size_t hcap, hstart, hlen;
    uint64_t floor;
    void (*listener)(void *ud);
    void *listener_ud;
};

struct sim_store *sim_store_new(size_t history)
{
    struct sim_store *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->hcap = history ? history : 1;
    s->hist = calloc(s->hcap, sizeof(*s->hist));
    if (!s->hist) {
        free(s);
        return NULL;
    }
    return s;
}

static void obj_free(struct sim_obj *o)
{
    if (!o)
        return;
    free(o->ns);
    free(o->name);
    cJSON_Delete(o->json);
    free(o);
}

static void event_clear(struct sim_event *ev)
{
    cJSON_Delete(ev->obj);
    cJSON_Delete(ev->old);
    memset(ev, 0, sizeof(*ev));
}

void sim_store_free(struct sim_store *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->ncolls; i++) {
        struct sim_coll *c = s->colls[i];
        for (size_t j = 0; j < c->n; j++)
            obj_free(c->v[j]);
        free(c->v);
        free(c);
    }
    free(s->colls);
    for (size_t i = 0; i < s->hlen; i++)
        event_clear(&s->hist[(s->hstart + i) % s->hcap]);
    free(s->hist);
    free(s);
}

void sim_store_set_listener(struct sim_store *s, void (*fn)(void *ud), void *ud)
{
    s->listener = fn;
    s->listener_ud = ud;
}

uint64_t sim_store_rv(const struct sim_store *s)
{
    return s->rv;
}

void sim_store_set_rv(struct sim_store *s, uint64_t rv)
{
    if (rv > s->rv)
        s->rv = rv;
    /* Nothing before a restore is in the history any more. */
    if (s->rv > s->floor && s->hlen == 0)
        s->floor = s->rv;
}

struct sim_coll *sim_store_coll(struct sim_store *s, const char *group, const char *resource,
                                int create)
{
    struct sim_coll *c;
    for (size_t i = 0; i < s->ncolls; i++) {
        c = s->colls[i];
        if (strcmp(c->group, group) == 0 && strcmp(c->resource, resource) == 0)
            return c;
    }
    if (!create)
        return NULL;
    if (s->ncolls == s->capcolls) {
        size_t nc = s->capcolls ? s->capcolls * 2 : 32;
        struct sim_coll **nv = realloc(s->colls, nc * sizeof(*nv));
        if (!nv)
            return NULL;
        s->colls = nv;
        s->capcolls = nc;
    }
    c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    sim_strlcpy(c->group, group, sizeof(c->group));
    sim_strlcpy(c->resource, resource, sizeof(c->resource));
    s->colls[s->ncolls++] = c;
    return c;
}

size_t sim_store_ncolls(const struct sim_store *s)
{
    return s->ncolls;
}

struct sim_coll *sim_store_coll_at(struct sim_store *s, size_t i)
{
    return i < s->ncolls ? s->colls[i] : NULL;
}

static int key_cmp(const char *ns1, const char *n1, const char *ns2, const char *n2)
{
    int c = strcmp(ns1, ns2);
    return c ? c : strcmp(n1, n2);
}

/* Index of the first element >= key; *found when equal. */
static size_t lower_bound(const struct sim_coll *c, const char *ns, const char *name, int *found)
{
    size_t lo = 0, hi = c->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (key_cmp(c->v[mid]->ns, c->v[mid]->name, ns, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (found)
        *found = lo < c->n && key_cmp(c->v[lo]->ns, c->v[lo]->name, ns, name) == 0;
    return lo;
}

struct sim_obj *sim_coll_get(const struct sim_coll *c, const char *ns, const char *name)
{
    int found;
    size_t i = lower_bound(c, ns ? ns : "", name, &found);
    return found ? c->v[i] : NULL;
}

void sim_coll_range(const struct sim_coll *c, const char *ns, size_t *begin, size_t *end)
{
    if (!ns) {
        *begin = 0;
        *end = c->n;
        return;
    }
    *begin = lower_bound(c, ns, "", NULL);
    *end = *begin;
    while (*end < c->n && strcmp(c->v[*end]->ns, ns) == 0)
        (*end)++;
}

size_t sim_coll_after(const struct sim_coll *c, const char *ns, const char *name)
{
    int found;
    size_t i = lower_bound(c, ns, name, &found);
    return found ? i + 1 : i;
}

static void record(struct sim_store *s, enum sim_ev_type type, const struct sim_coll *c, cJSON *obj,
                   cJSON *old)
{
    struct sim_event *ev;
    if (s->hlen == s->hcap) {
        ev = &s->hist[s->hstart];
        s->floor = ev->rv;
        event_clear(ev);
        s->hstart = (s->hstart + 1) % s->hcap;
        s->hlen--;
    }
    ev = &s->hist[(s->hstart + s->hlen) % s->hcap];
    ev->rv = s->rv;
    ev->type = type;
    ev->coll = c;
    ev->obj = obj;
    ev->old = old;
    s->hlen++;
    if (s->listener)
        s->listener(s->listener_ud);
}

static int set_rv(cJSON *obj, uint64_t rv)
{
    char buf[32];
    cJSON *meta = sim_jobj(obj, "metadata");
    if (!meta)
        return -1;
    snprintf(buf, sizeof(buf), "%llu", (unsigned long long)rv);
    return sim_jset_str(meta, "resourceVersion", buf);
}

static int insert_obj(struct sim_coll *c, struct sim_obj *o, size_t at)
{
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 16;
        struct sim_obj **nv = realloc(c->v, nc * sizeof(*nv));
        if (!nv)
            return -1;
        c->v = nv;
        c->cap = nc;
    }
    memmove(&c->v[at + 1], &c->v[at], (c->n - at) * sizeof(*c->v));
    c->v[at] = o;
    c->n++;
    return 0;
}

struct sim_obj *sim_store_put(struct sim_store *s, struct sim_coll *c, cJSON *obj)
{
    const char *ns = sim_jstr(obj, "metadata", "namespace", NULL);
    const char *name = sim_jstr(obj, "metadata", "name", NULL);
    struct sim_obj *o;
    cJSON *copy;
    int found;
    size_t at;

    if (!name) {
        cJSON_Delete(obj);
        return NULL;
    }
    if (!ns)
        ns = "";
    at = lower_bound(c, ns, name, &found);
    if (set_rv(obj, s->rv + 1) != 0) {
        cJSON_Delete(obj);
        return NULL;
    }
    copy = cJSON_Duplicate(obj, 1);
    if (!copy) {
        cJSON_Delete(obj);
        return NULL;
    }
    if (found) {
        cJSON *old;
        o = c->v[at];
        old = o->json;
        o->json = obj;
        o->rv = ++s->rv;
        record(s, SIM_EV_MODIFIED, c, copy, old);
        return o;
    }
    o = calloc(1, sizeof(*o));
    if (!o || !(o->ns = strdup(ns)) || !(o->name = strdup(name)) || insert_obj(c, o, at) != 0) {
        if (o) {
            free(o->ns);
            free(o->name);
            free(o);
        }
        cJSON_Delete(obj);
        cJSON_Delete(copy);
        return NULL;
    }
    o->json = obj;
    o->rv = ++s->rv;
    record(s, SIM_EV_ADDED, c, copy, NULL);
    return o;
}

int sim_store_remove(struct sim_store *s, struct sim_coll *c, const char *ns, const char *name)
{
    int found;
    size_t at = lower_bound(c, ns ? ns : "", name, &found);
    struct sim_obj *o;
    cJSON *last;
    if (!found)
        return -1;
    o = c->v[at];
    memmove(&c->v[at], &c->v[at + 1], (c->n - at - 1) * sizeof(*c->v));
    c->n--;
    last = o->json;
    o->json = NULL;
    obj_free(o);
    s->rv++;
    set_rv(last, s->rv);
    record(s, SIM_EV_DELETED, c, last, NULL);
    return 0;
}

int sim_store_load(struct sim_store *s, struct sim_coll *c, cJSON *obj)
{
    const char *ns = sim_jstr(obj, "metadata", "namespace", NULL);
    const char *name = sim_jstr(obj, "metadata", "name", NULL);
    const char *rvs = sim_jstr(obj, "metadata", "resourceVersion", NULL);
    struct sim_obj *o;
    int found;
    size_t at;
    if (!name) {
        cJSON_Delete(obj);
        return -1;
    }
    if (!ns)
        ns = "";
    at = lower_bound(c, ns, name, &found);
    if (found) {
        cJSON_Delete(obj);
        return -1;
    }
    o = calloc(1, sizeof(*o));
    if (!o || !(o->ns = strdup(ns)) || !(o->name = strdup(name)) || insert_obj(c, o, at) != 0) {
        if (o) {
            free(o->ns);
            free(o->name);
            free(o);
        }
        cJSON_Delete(obj);
        return -1;
    }
    o->json = obj;
    o->rv = rvs ? strtoull(rvs, NULL, 10) : 0;
    if (o->rv > s->rv)
        s->rv = o->rv;
    return 0;
}

void sim_store_forget_history(struct sim_store *s)
{
    for (size_t i = 0; i < s->hlen; i++)
        event_clear(&s->hist[(s->hstart + i) % s->hcap]);
    s->hstart = 0;
    s->hlen = 0;
    s->floor = s->rv;
}

struct sim_obj *sim_store_find_uid(struct sim_store *s, const char *uid, struct sim_coll **coll)
{
    for (size_t i = 0; i < s->ncolls; i++) {
        struct sim_coll *c = s->colls[i];
        for (size_t j = 0; j < c->n; j++) {
            const char *u = sim_jstr(c->v[j]->json, "metadata", "uid", NULL);
            if (u && strcmp(u, uid) == 0) {
                if (coll)
                    *coll = c;
                return c->v[j];
            }
        }
    }
    return NULL;
}

int sim_store_history_from(const struct sim_store *s, uint64_t rv, uint64_t *cursor,
                           uint64_t *oldest)
{
    if (oldest)
        *oldest = s->floor;
    if (rv < s->floor)
        return -1;
    *cursor = rv;
    return 0;
}

const struct sim_event *sim_store_history_next(const struct sim_store *s, uint64_t *cursor)
{
    size_t lo = 0, hi = s->hlen;
    /* Binary search for the first event with rv > *cursor. */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->hist[(s->hstart + mid) % s->hcap].rv <= *cursor)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo >= s->hlen)
        return NULL;
    *cursor = s->hist[(s->hstart + lo) % s->hcap].rv;
    return &s->hist[(s->hstart + lo) % s->hcap];
}
