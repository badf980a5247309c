/*
 * Mapping of related events (see ctl_mapper.h): owner references to owner
 * keys, and the reference index.
 *
 * Internals of the index: two balanced trees (glibc tsearch) of nodes that
 * each hold a sorted set of strings. `by_target` maps a referenced object's
 * key ("Secret/ns/name") to the referrer keys; `by_referrer` maps a referrer
 * key to its target keys, which is what makes ctl_mapper_set_refs a diff
 * (remove the old links that went, add the new ones) instead of a scan of the
 * whole index. Both are kept exactly inverse under one mutex. Callbacks get
 * copies made under the lock and run after it is released.
 */
#include "ctl_mapper.h"

#include <pthread.h>
#include <search.h>
#include <stdlib.h>
#include <string.h>

#include "k8s_error.h"

#define KEY_MAX 800 /* kind (63) + namespace (63) + name (253) and slashes, with room */

/* ---- sorted string sets ------------------------------------------------------ */

struct strset {
    char **v;
    size_t n, cap;
};

/* Index of x, or of where it would go (with *found = 0). */
static size_t set_find(const struct strset *s, const char *x, int *found)
{
    size_t lo = 0, hi = s->n;
    *found = 0;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(s->v[mid], x);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int set_add(struct strset *s, const char *x)
{
    int found;
    size_t i = set_find(s, x, &found);
    char *copy;
    if (found)
        return 0;
    if (s->n == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 4;
        char **nv = realloc(s->v, ncap * sizeof(*nv));
        if (!nv)
            return K8S_ENOMEM;
        s->v = nv;
        s->cap = ncap;
    }
    if (!(copy = strdup(x)))
        return K8S_ENOMEM;
    memmove(&s->v[i + 1], &s->v[i], (s->n - i) * sizeof(*s->v));
    s->v[i] = copy;
    s->n++;
    return 0;
}

static void set_del(struct strset *s, const char *x)
{
    int found;
    size_t i = set_find(s, x, &found);
    if (!found)
        return;
    free(s->v[i]);
    memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof(*s->v));
    s->n--;
}

static int set_has(const struct strset *s, const char *x)
{
    int found;
    set_find(s, x, &found);
    return found;
}

static void set_clear(struct strset *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof(*s));
}

/* ---- owners -------------------------------------------------------------------- */

/* Whether apiVersion ("group/version", or "version" for the core group)
 * names `group`. */
static int group_matches(const char *api_version, const char *group)
{
    const char *slash;
    if (!group)
        return 1;
    if (!api_version)
        return 0;
    slash = strchr(api_version, '/');
    if (!slash)
        return *group == '\0';
    return strlen(group) == (size_t)(slash - api_version) &&
           strncmp(api_version, group, (size_t)(slash - api_version)) == 0;
}

static const char *str_item(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

size_t ctl_owner_keys(const cJSON *obj, const struct ctl_owner_spec *spec, ctl_key_fn fn,
                      void *user)
{
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata"), *ref;
    const char *ns = str_item(md, "namespace");
    struct strset seen = {0};
    size_t n = 0;
    if (!obj || !spec || !spec->kind || !fn)
        return 0;
    cJSON_ArrayForEach(ref, cJSON_GetObjectItemCaseSensitive(md, "ownerReferences"))
    {
        const char *kind = str_item(ref, "kind"), *name = str_item(ref, "name");
        char key[KEY_MAX];
        if (!kind || !name || strcmp(kind, spec->kind) != 0 ||
            !group_matches(str_item(ref, "apiVersion"), spec->group))
            continue;
        if (spec->controller_only &&
            !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ref, "controller")))
            continue;
        if (ctl_wq_key(key, sizeof(key), spec->key_kind ? spec->key_kind : spec->kind,
                       spec->cluster_scoped ? NULL : ns, name) != 0)
            continue;
        if (set_has(&seen, key))
            continue;
        /* Without memory for the de-duplication set, a key may come twice:
         * harmless for a work queue. */
        set_add(&seen, key);
        fn(key, user);
        n++;
    }
    set_clear(&seen);
    return n;
}

static void enqueue(const char *key, void *user)
{
    ctl_wq_add(user, key);
}

void ctl_owner_handler(enum ctl_event_type type, const cJSON *old, const cJSON *obj, void *user)
{
    struct ctl_owner_map *om = user;
    (void)type;
    if (!om)
        return;
    ctl_owner_keys(obj, &om->spec, enqueue, om->q);
    if (old && old != obj)
        ctl_owner_keys(old, &om->spec, enqueue, om->q);
}

/* ---- the reference index ------------------------------------------------------- */

struct node {
    char *key; /* first member: the trees compare nodes by it */
    struct strset set;
};

struct ctl_mapper {
    pthread_mutex_t mu;
    void *by_target;   /* target key -> referrer keys */
    void *by_referrer; /* referrer key -> target keys */
    size_t ntargets, nreferrers;
};

static int node_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void node_free(void *p)
{
    struct node *n = p;
    set_clear(&n->set);
    free(n->key);
    free(n);
}

static struct node *node_find(void **root, const char *key)
{
    struct node probe = {.key = (char *)key}, **found = tfind(&probe, root, node_cmp);
    return found ? *found : NULL;
}

static struct node *node_get(void **root, const char *key, size_t *count)
{
    struct node *n = node_find(root, key);
    if (n)
        return n;
    n = calloc(1, sizeof(*n));
    if (!n || !(n->key = strdup(key)) || !tsearch(n, root, node_cmp)) {
        if (n)
            free(n->key);
        free(n);
        return NULL;
    }
    (*count)++;
    return n;
}

static void node_drop(void **root, struct node *n, size_t *count)
{
    tdelete(n, root, node_cmp);
    node_free(n);
    (*count)--;
}

struct ctl_mapper *ctl_mapper_new(void)
{
    struct ctl_mapper *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    pthread_mutex_init(&m->mu, NULL);
    return m;
}

void ctl_mapper_free(struct ctl_mapper *m)
{
    if (!m)
        return;
    tdestroy(m->by_target, node_free);
    tdestroy(m->by_referrer, node_free);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

/* Removes the link referrer -> target from by_target. */
static void unlink_target(struct ctl_mapper *m, const char *target, const char *referrer)
{
    struct node *t = node_find(&m->by_target, target);
    if (!t)
        return;
    set_del(&t->set, referrer);
    if (t->set.n == 0)
        node_drop(&m->by_target, t, &m->ntargets);
}

static void forget_locked(struct ctl_mapper *m, const char *referrer)
{
    struct node *r = node_find(&m->by_referrer, referrer);
    if (!r)
        return;
    for (size_t i = 0; i < r->set.n; i++)
        unlink_target(m, r->set.v[i], referrer);
    node_drop(&m->by_referrer, r, &m->nreferrers);
}

void ctl_mapper_forget(struct ctl_mapper *m, const char *referrer_key)
{
    if (!m || !referrer_key)
        return;
    pthread_mutex_lock(&m->mu);
    forget_locked(m, referrer_key);
    pthread_mutex_unlock(&m->mu);
}

int ctl_mapper_set_refs(struct ctl_mapper *m, const char *referrer_key, const struct ctl_ref *refs,
                        size_t n)
{
    struct strset want = {0};
    struct node *r;
    int rc = 0;
    if (!m || !referrer_key || !*referrer_key || (n && !refs))
        return K8S_EARG;
    for (size_t i = 0; i < n; i++) {
        char key[KEY_MAX];
        if (!refs[i].kind ||
            ctl_wq_key(key, sizeof(key), refs[i].kind, refs[i].ns, refs[i].name) != 0) {
            rc = K8S_EARG;
            goto out;
        }
        if ((rc = set_add(&want, key)) != 0)
            goto out;
    }
    pthread_mutex_lock(&m->mu);
    if (want.n == 0) {
        forget_locked(m, referrer_key);
        goto unlock;
    }
    r = node_get(&m->by_referrer, referrer_key, &m->nreferrers);
    if (!r) {
        forget_locked(m, referrer_key);
        rc = K8S_ENOMEM;
        goto unlock;
    }
    /* Links that went away. */
    for (size_t i = 0; i < r->set.n; i++)
        if (!set_has(&want, r->set.v[i]))
            unlink_target(m, r->set.v[i], referrer_key);
    /* Links that are new. */
    for (size_t i = 0; i < want.n; i++) {
        struct node *t;
        if (set_has(&r->set, want.v[i]))
            continue;
        t = node_get(&m->by_target, want.v[i], &m->ntargets);
        if (!t || set_add(&t->set, referrer_key) != 0) {
            /* Out of memory half-way: the one consistent state left is
             * "references nothing" (the reconciler sets them again on its
             * next pass). */
            if (t && t->set.n == 0)
                node_drop(&m->by_target, t, &m->ntargets);
            for (size_t j = 0; j < r->set.n; j++)
                unlink_target(m, r->set.v[j], referrer_key);
            for (size_t j = 0; j < i; j++)
                unlink_target(m, want.v[j], referrer_key);
            node_drop(&m->by_referrer, r, &m->nreferrers);
            rc = K8S_ENOMEM;
            goto unlock;
        }
    }
    set_clear(&r->set);
    r->set = want;
    memset(&want, 0, sizeof(want));
unlock:
    pthread_mutex_unlock(&m->mu);
out:
    set_clear(&want);
    return rc;
}

size_t ctl_mapper_referrers(struct ctl_mapper *m, const char *kind, const char *ns,
                            const char *name, ctl_key_fn fn, void *user)
{
    char key[KEY_MAX];
    struct strset copy = {0};
    struct node *t;
    size_t n;
    if (!m || !kind || !fn || ctl_wq_key(key, sizeof(key), kind, ns, name) != 0)
        return 0;
    pthread_mutex_lock(&m->mu);
    t = node_find(&m->by_target, key);
    for (size_t i = 0; t && i < t->set.n; i++)
        set_add(&copy, t->set.v[i]); /* already sorted: appends */
    pthread_mutex_unlock(&m->mu);
    for (size_t i = 0; i < copy.n; i++)
        fn(copy.v[i], user);
    n = copy.n;
    set_clear(&copy);
    return n;
}

void ctl_mapper_size(struct ctl_mapper *m, size_t *referrers, size_t *referenced)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->mu);
    if (referrers)
        *referrers = m->nreferrers;
    if (referenced)
        *referenced = m->ntargets;
    pthread_mutex_unlock(&m->mu);
}

void ctl_ref_handler(enum ctl_event_type type, const cJSON *old, const cJSON *obj, void *user)
{
    struct ctl_ref_map *rm = user;
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const char *name = str_item(md, "name");
    (void)type;
    (void)old;
    if (!rm || !name)
        return;
    ctl_mapper_referrers(rm->m, rm->kind, str_item(md, "namespace"), name, enqueue, rm->q);
}
