/*
 * The simulated cluster's Deployment controller, written after
 * kube-controller-manager v1.32 (pkg/controller/deployment: sync.go,
 * rolling.go, recreate.go, progress.go and util/deployment_util.go) and
 * behaving like it as seen through the API: one ReplicaSet per pod-template
 * revision named <deployment>-<pod-template-hash> (the hash label on the
 * ReplicaSet, its selector and template; a controller owner reference; the
 * revision, revision-history, desired-replicas and max-replicas annotations,
 * the Deployment's other annotations copied), a template that returns to an
 * old revision reusing that ReplicaSet under a new revision number, old
 * ReplicaSets kept up to revisionHistoryLimit, RollingUpdate
 * (maxSurge/maxUnavailable, proportional scaling on a resize mid-rollout) and
 * Recreate, spec.paused, and the Deployment status with its Available and
 * Progressing conditions (lastUpdateTime/lastTransitionTime as
 * SetDeploymentCondition keeps them, ProgressDeadlineExceeded after
 * spec.progressDeadlineSeconds without progress). Events are recorded as the
 * real controller words them ("Scaled up replica set x from 0 to 1": v1.31
 * put the numbers in from -> to order, kubernetes#125118).
 *
 * Simplifications, each visible through the API:
 *  - No pods. The kubelet module runs only pods whose image maps to a local
 *    binary, and Deployments here are registries and operators that do not.
 *    This file plays the ReplicaSet controller's part too: a ReplicaSet's
 *    status follows its spec.replicas — new "pods" count in status.replicas
 *    at once and become ready after "deployments.rolloutDelayMs" (1000 ms by
 *    default; "imageRegistry.rolloutDelayMs" for the image-registry stand-in's
 *    Deployment), available minReadySeconds later; a scale-down drops the
 *    not-yet-ready pods first, as the ReplicaSet controller ranks them.
 *    "deployments.stall": {"<ns>/<name>": true} makes a Deployment's new pods
 *    never become ready (an image that cannot be pulled), so its rollout
 *    stalls and ends in ProgressDeadlineExceeded. Pods pending readiness are
 *    remembered in memory only: after a restart they start waiting again.
 *  - pod-template-hash is FNV-32a and SafeEncodeString of the decimal sum as
 *    in controller.ComputeHash, but hashed over a canonical JSON form of the
 *    template instead of Go's spew dump: same shape, different value than a
 *    real cluster would compute for the same template.
 *  - Templates are compared as Go's typed DeepEqual would see them by
 *    dropping null, {} and [] members first (kubectl rollout undo sends
 *    `creationTimestamp: null` and `resources: {}` that the simulator keeps).
 *  - A Deployment owns the ReplicaSets whose controller reference carries its
 *    uid; ReplicaSets are neither adopted by selector nor orphaned.
 *  - The revision annotation: the real controller writes it with the status
 *    (the Deployment status strategy keeps annotation changes); the
 *    simulator's status subresource keeps only status, so an update of the
 *    object itself carries the annotation first.
 *  - Events are created one per occurrence, without count aggregation.
 *  - Every Deployment is synced each tick (at most DEPLOY_PER_TICK, round
 *    robin) instead of on watch events and requeues; the progress deadline is
 *    therefore noticed within a tick, where the real one requeues for it.
 *  - The apps/v1 ReplicaSet kind is registered here at the first tick when
 *    the built-in table (sim_builtin.c) does not serve it.
 */
#include "sim_deploy.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "k8s_patch.h"
#include "sim_internal.h"
#include "sim_kind.h"
#include "sim_server.h"
#include "sim_status.h"
#include "sim_store.h"
#include "sim_util.h"
#include "sim_workloads.h"

#define ANN_REVISION     "deployment.kubernetes.io/revision"
#define ANN_REV_HISTORY  "deployment.kubernetes.io/revision-history"
#define ANN_DESIRED      "deployment.kubernetes.io/desired-replicas"
#define ANN_MAX          "deployment.kubernetes.io/max-replicas"
#define LABEL_HASH       "pod-template-hash"
#define MAX_REV_HIST_LEN 2000 /* maxRevHistoryLengthInChars */

#define COND_AVAILABLE   "Available"
#define COND_PROGRESSING "Progressing"
#define COND_FAILURE     "ReplicaFailure"

#define DEPLOY_PER_TICK 64  /* Deployments synced per tick */
#define RS_PER_TICK     256 /* ReplicaSet statuses simulated per tick */
#define RS_PER_DEPLOY   64  /* ReplicaSets one Deployment can own here */
#define BATCHES         8   /* pending pod batches remembered per ReplicaSet */

/* Pods of one ReplicaSet that are not available yet, in creation order. */
struct batch {
    long n;
    int64_t ready_ms; /* monotonic: when they become ready */
    int64_t avail_ms; /* ready_ms + minReadySeconds */
};

struct rs_pods {
    char uid[40];
    struct batch b[BATCHES];
    size_t nb;
    int seen; /* the ReplicaSet still exists (sweep mark) */
};

struct sim_deploy {
    int kind_ready;
    struct rs_pods *pods;
    size_t npods, cap;
    size_t d_cursor, rs_cursor;
};

/* One Deployment's sync: local copies replaced by the API's answers. */
struct dsync {
    struct sim_server *srv;
    struct sim_deploy *m;
    cJSON *d;
    cJSON *rs[RS_PER_DEPLOY]; /* owned, by creation time then name */
    size_t nrs;
    char ns[256];
    char name[256];
    int failed; /* a write was refused: stop, the next tick retries */
};

/* ---- small helpers ---- */

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void now_rfc3339(char buf[32])
{
    sim_rfc3339(sim_now_unix(), buf);
}

/* Sets (or, for 0, removes) an omitempty integer member. */
static void set_count(cJSON *o, const char *key, long v)
{
    if (v != 0)
        sim_jset(o, key, cJSON_CreateNumber((double)v));
    else
        cJSON_DeleteItemFromObjectCaseSensitive(o, key);
}

static const char *ann(const cJSON *o, const char *key)
{
    return sim_jstr(o, "metadata", "annotations", key, NULL);
}

/* strconv.ParseInt-like: 0 and *ok=1 for a clean decimal. */
static long parse_long(const char *s, int *ok)
{
    char *end = NULL;
    long v;
    *ok = 0;
    if (!s || !*s)
        return 0;
    v = strtol(s, &end, 10);
    if (!end || *end)
        return 0;
    *ok = 1;
    return v;
}

static long rs_revision(const cJSON *rs)
{
    int ok;
    long v = parse_long(ann(rs, ANN_REVISION), &ok);
    return ok ? v : 0;
}

static long d_replicas(const cJSON *d)
{
    return sim_jnum(d, 1, "spec", "replicas", NULL);
}

static long rs_spec(const cJSON *rs)
{
    return rs ? sim_jnum(rs, 1, "spec", "replicas", NULL) : 0;
}

static long rs_stat(const cJSON *rs, const char *field)
{
    return rs ? sim_jnum(rs, 0, "status", field, NULL) : 0;
}

static int has_deletion(const cJSON *o)
{
    return sim_jget(o, "metadata", "deletionTimestamp", NULL) != NULL;
}

/* "<ns>/<name>" knobs: per-Deployment settings of the configuration. */
static long rollout_delay_ms(const struct sim_server *srv, const char *ns, const char *name)
{
    long v = sim_wl_int(srv, 1000, "deployments", "rolloutDelayMs", NULL);
    if (strcmp(ns, "openshift-image-registry") == 0 && strcmp(name, "image-registry") == 0)
        v = sim_wl_int(srv, v, "imageRegistry", "rolloutDelayMs", NULL);
    return v < 0 ? 0 : v;
}

static int stalled(const struct sim_server *srv, const char *ns, const char *name)
{
    char key[600];
    snprintf(key, sizeof(key), "%s/%s", ns, name);
    return sim_wl_bool(srv, 0, "deployments", "stall", key, NULL);
}

/* ---- templates: semantic equality and the pod-template-hash ---- */

/* Drops null, {} and [] object members, recursively (see the opening
 * comment); array elements stay, their position means something. */
static void prune(cJSON *v)
{
    cJSON *c, *next;
    if (!cJSON_IsObject(v) && !cJSON_IsArray(v))
        return;
    for (c = v->child; c; c = next) {
        next = c->next;
        prune(c);
        if (cJSON_IsObject(v) &&
            (cJSON_IsNull(c) || ((cJSON_IsObject(c) || cJSON_IsArray(c)) && c->child == NULL)))
            cJSON_Delete(cJSON_DetachItemViaPointer(v, c));
    }
}

static cJSON *norm_template(const cJSON *t)
{
    cJSON *n = t ? cJSON_Duplicate(t, 1) : cJSON_CreateObject();
    if (!n)
        return NULL;
    cJSON_DeleteItemFromObjectCaseSensitive(sim_jget(n, "metadata", "labels", NULL), LABEL_HASH);
    prune(n);
    return n;
}

/* deploymentutil.EqualIgnoreHash. */
static int template_equal(const cJSON *a, const cJSON *b)
{
    cJSON *x = norm_template(a), *y = norm_template(b);
    int eq = x && y && k8s_json_equal(x, y);
    cJSON_Delete(x);
    cJSON_Delete(y);
    return eq;
}

static void fnv(uint32_t *h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        *h ^= p[i];
        *h *= 16777619u;
    }
}

static int cmp_key(const void *a, const void *b)
{
    const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
    return strcmp(x->string, y->string);
}

/* Hashes a canonical form: object members by key, strings length-prefixed. */
static void fnv_json(uint32_t *h, const cJSON *v, int depth)
{
    char num[64];
    if (depth > K8S_JSON_MAX_DEPTH)
        return;
    if (cJSON_IsObject(v)) {
        size_t n = 0, i = 0;
        const cJSON *c;
        const cJSON **kids;
        for (c = v->child; c; c = c->next)
            n++;
        kids = calloc(n ? n : 1, sizeof(*kids));
        if (!kids)
            return;
        for (c = v->child; c; c = c->next)
            kids[i++] = c;
        qsort(kids, n, sizeof(*kids), cmp_key);
        fnv(h, "{", 1);
        for (i = 0; i < n; i++) {
            int len = snprintf(num, sizeof(num), "%zu:", strlen(kids[i]->string));
            fnv(h, num, (size_t)len);
            fnv(h, kids[i]->string, strlen(kids[i]->string));
            fnv_json(h, kids[i], depth + 1);
        }
        fnv(h, "}", 1);
        free(kids);
    } else if (cJSON_IsArray(v)) {
        const cJSON *c;
        fnv(h, "[", 1);
        for (c = v->child; c; c = c->next)
            fnv_json(h, c, depth + 1);
        fnv(h, "]", 1);
    } else if (cJSON_IsString(v)) {
        int len = snprintf(num, sizeof(num), "s%zu:", strlen(v->valuestring));
        fnv(h, num, (size_t)len);
        fnv(h, v->valuestring, strlen(v->valuestring));
    } else if (cJSON_IsNumber(v)) {
        int len = snprintf(num, sizeof(num), "n%.17g;", v->valuedouble);
        fnv(h, num, (size_t)len);
    } else {
        fnv(h, cJSON_IsTrue(v) ? "t" : cJSON_IsFalse(v) ? "f" : "0", 1);
    }
}

/* controller.ComputeHash: FNV-32a, the collision count appended as four
 * little-endian bytes, then rand.SafeEncodeString of the decimal value. */
static void compute_hash(const cJSON *tmpl, const cJSON *collision, char out[16])
{
    static const char alnum[] = "bcdfghjklmnpqrstvwxz2456789";
    uint32_t h = 2166136261u;
    cJSON *n = norm_template(tmpl);
    char dec[16];
    size_t i;
    if (n)
        fnv_json(&h, n, 0);
    cJSON_Delete(n);
    if (cJSON_IsNumber(collision)) {
        uint32_t c = (uint32_t)collision->valuedouble;
        unsigned char b[4] = {(unsigned char)c, (unsigned char)(c >> 8), (unsigned char)(c >> 16),
                              (unsigned char)(c >> 24)};
        fnv(&h, b, 4);
    }
    snprintf(dec, sizeof(dec), "%u", h);
    for (i = 0; dec[i] && i < 15; i++)
        out[i] = alnum[(unsigned char)dec[i] % (sizeof(alnum) - 1)];
    out[i] = '\0';
}

/* ---- rolling-update arithmetic (intstr, fenceposts) ---- */

static int is_rolling(const cJSON *d)
{
    const char *t = sim_jstr(d, "spec", "strategy", "type", NULL);
    return !t || strcmp(t, "RollingUpdate") == 0;
}

/* intstr.GetScaledValueFromIntOrPercent; absent means the API default 25%. */
static long scaled(const cJSON *v, long total, int round_up)
{
    long p;
    int ok;
    char buf[32];
    size_t n;
    if (cJSON_IsNumber(v))
        return (long)v->valuedouble;
    if (!cJSON_IsString(v)) {
        p = 25;
    } else {
        n = strlen(v->valuestring);
        if (n == 0 || n >= sizeof(buf) || v->valuestring[n - 1] != '%')
            return 0;
        memcpy(buf, v->valuestring, n - 1);
        buf[n - 1] = '\0';
        p = parse_long(buf, &ok);
        if (!ok)
            return 0;
    }
    if (round_up)
        return (long)ceil((double)p * (double)total / 100.0);
    return (long)floor((double)p * (double)total / 100.0);
}

static void fenceposts(const cJSON *d, long *surge, long *unavail)
{
    const cJSON *ru = sim_jget(d, "spec", "strategy", "rollingUpdate", NULL);
    long desired = d_replicas(d);
    *surge = scaled(sim_jget(ru, "maxSurge", NULL), desired, 1);
    *unavail = scaled(sim_jget(ru, "maxUnavailable", NULL), desired, 0);
    if (*surge == 0 && *unavail == 0)
        *unavail = 1;
}

static long max_surge(const cJSON *d)
{
    long s, u;
    if (!is_rolling(d))
        return 0;
    fenceposts(d, &s, &u);
    return s;
}

static long max_unavailable(const cJSON *d)
{
    long s, u, r = d_replicas(d);
    if (!is_rolling(d) || r == 0)
        return 0;
    fenceposts(d, &s, &u);
    return u > r ? r : u;
}

static int has_progress_deadline(const cJSON *d)
{
    const cJSON *p = sim_jget(d, "spec", "progressDeadlineSeconds", NULL);
    return cJSON_IsNumber(p) && (long)p->valuedouble != INT32_MAX;
}

/* ---- conditions (deploymentutil.SetDeploymentCondition and friends) ---- */

static cJSON *cond_get(const cJSON *status, const char *type)
{
    return sim_cond_find(sim_jget(status, "conditions", NULL), type);
}

static cJSON *cond_new(const char *type, const char *status, const char *reason, const char *msg)
{
    cJSON *c = cJSON_CreateObject();
    char ts[32];
    now_rfc3339(ts);
    if (!c)
        return NULL;
    cJSON_AddStringToObject(c, "type", type);
    cJSON_AddStringToObject(c, "status", status);
    cJSON_AddStringToObject(c, "lastUpdateTime", ts);
    cJSON_AddStringToObject(c, "lastTransitionTime", ts);
    if (reason && *reason)
        cJSON_AddStringToObject(c, "reason", reason);
    if (msg && *msg)
        cJSON_AddStringToObject(c, "message", msg);
    return c;
}

static void cond_remove(cJSON *status, const char *type)
{
    cJSON *conds = sim_jget(status, "conditions", NULL), *c, *next;
    if (!conds)
        return;
    for (c = conds->child; c; c = next) {
        const char *t = sim_jstr(c, "type", NULL);
        next = c->next;
        if (t && strcmp(t, type) == 0)
            cJSON_Delete(cJSON_DetachItemViaPointer(conds, c));
    }
    if (!conds->child)
        cJSON_DeleteItemFromObjectCaseSensitive(status, "conditions");
}

/* Same status and reason: nothing changes (not even lastUpdateTime); same
 * status: lastTransitionTime kept; the condition moves to the end. `c` taken. */
static void cond_set(cJSON *status, cJSON *c)
{
    const cJSON *cur;
    cJSON *conds;
    if (!c)
        return;
    cur = cond_get(status, sim_jstr(c, "type", NULL));
    if (cur) {
        const char *cs = sim_jstr(cur, "status", NULL), *cr = sim_jstr(cur, "reason", NULL);
        const char *ns = sim_jstr(c, "status", NULL), *nr = sim_jstr(c, "reason", NULL);
        int same_status = cs && ns && strcmp(cs, ns) == 0;
        if (same_status && strcmp(cr ? cr : "", nr ? nr : "") == 0) {
            cJSON_Delete(c);
            return;
        }
        if (same_status && sim_jstr(cur, "lastTransitionTime", NULL))
            sim_jset_str(c, "lastTransitionTime", sim_jstr(cur, "lastTransitionTime", NULL));
    }
    cond_remove(status, sim_jstr(c, "type", NULL));
    conds = cJSON_GetObjectItemCaseSensitive(status, "conditions");
    if (!conds) {
        conds = cJSON_AddArrayToObject(status, "conditions");
        if (!conds) {
            cJSON_Delete(c);
            return;
        }
    }
    cJSON_AddItemToArray(conds, c);
}

/* ---- the ReplicaSet kind ---- */

static const char *const rs_fields[] = {"apiVersion", "kind", "metadata", "spec", "status", NULL};

static int rs_check(const struct sim_kind *k, const cJSON *obj, struct sim_err *e)
{
    const cJSON *ml = sim_jget(obj, "spec", "selector", "matchLabels", NULL), *it;
    const cJSON *tl = sim_jget(obj, "spec", "template", "metadata", "labels", NULL);
    if (!sim_jget(obj, "spec", "selector", NULL)) {
        sim_err_add_cause(e, "FieldValueRequired", "spec.selector", "Required value");
    } else {
        cJSON_ArrayForEach(it, ml)
        {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(tl, it->string);
            if (!cJSON_IsString(v) || !cJSON_IsString(it) ||
                strcmp(v->valuestring, it->valuestring) != 0) {
                sim_err_add_cause(e, "FieldValueInvalid", "spec.template.metadata.labels",
                                  "Invalid value: map[string]string{...}: `selector` does not "
                                  "match template `labels`");
                break;
            }
        }
    }
    if (cJSON_GetArraySize(sim_jget(obj, "spec", "template", "spec", "containers", NULL)) == 0)
        sim_err_add_cause(e, "FieldValueRequired", "spec.template.spec.containers",
                          "Required value");
    if (sim_jnum(obj, 0, "spec", "replicas", NULL) < 0)
        sim_err_add_cause(e, "FieldValueInvalid", "spec.replicas",
                          "Invalid value: %ld: must be greater than or equal to 0",
                          sim_jnum(obj, 0, "spec", "replicas", NULL));
    if (e->ncauses)
        return sim_err_invalid_finish(e, k->group, k->kind,
                                      sim_jstr(obj, "metadata", "name", NULL));
    return 0;
}

static int rs_create(struct sim_server *srv, const struct sim_kind *k, cJSON *obj,
                     struct sim_err *e)
{
    cJSON *spec = sim_jobj(obj, "spec");
    (void)srv;
    if (!spec)
        return sim_err_internal(e, "out of memory");
    if (!cJSON_GetObjectItemCaseSensitive(spec, "replicas"))
        cJSON_AddNumberToObject(spec, "replicas", 1);
    return rs_check(k, obj, e);
}

static int rs_update(struct sim_server *srv, const struct sim_kind *k, const cJSON *old, cJSON *obj,
                     struct sim_err *e)
{
    const cJSON *a = sim_jget(old, "spec", "selector", NULL);
    const cJSON *b = sim_jget(obj, "spec", "selector", NULL);
    (void)srv;
    if (a && (!b || !k8s_json_equal(a, b)))
        sim_err_add_cause(e, "FieldValueInvalid", "spec.selector",
                          "Invalid value: v1.LabelSelector{...}: field is immutable");
    if (e->ncauses)
        return sim_err_invalid_finish(e, k->group, k->kind,
                                      sim_jstr(obj, "metadata", "name", NULL));
    return rs_check(k, obj, e);
}

static const struct sim_kind_ops rs_ops = {
    .on_create = rs_create,
    .on_update = rs_update,
    .top_fields = rs_fields,
};

static void rs_column(struct sim_kind *k, const char *name, const char *jsonpath)
{
    struct sim_column *c = &k->columns[k->ncolumns++];
    memset(c, 0, sizeof(*c));
    sim_strlcpy(c->name, name, sizeof(c->name));
    sim_strlcpy(c->type, "integer", sizeof(c->type));
    sim_strlcpy(c->jsonpath, jsonpath, sizeof(c->jsonpath));
}

void sim_deploy_register_kinds(struct sim_server *srv, struct sim_deploy *m)
{
    struct sim_kind k;
    if (m->kind_ready)
        return;
    if (sim_kinds_find(srv->kinds, "apps", "v1", "replicasets", 0)) {
        m->kind_ready = 1;
        return;
    }
    memset(&k, 0, sizeof(k));
    sim_strlcpy(k.group, "apps", sizeof(k.group));
    sim_strlcpy(k.version, "v1", sizeof(k.version));
    sim_strlcpy(k.resource, "replicasets", sizeof(k.resource));
    sim_strlcpy(k.kind, "ReplicaSet", sizeof(k.kind));
    sim_strlcpy(k.list_kind, "ReplicaSetList", sizeof(k.list_kind));
    sim_strlcpy(k.singular, "replicaset", sizeof(k.singular));
    k.namespaced = 1;
    sim_strlcpy(k.short_names[k.nshort++], "rs", sizeof(k.short_names[0]));
    sim_strlcpy(k.categories[k.ncat++], "all", sizeof(k.categories[0]));
    k.has_status = 1;
    k.served = 1;
    k.storage_version = 1;
    sim_strlcpy(k.store_group, "apps", sizeof(k.store_group));
    sim_strlcpy(k.store_resource, "replicasets", sizeof(k.store_resource));
    k.generation = 1;
    k.fs_style = SIM_FS_KNOWN;
    k.ops = &rs_ops;
    rs_column(&k, "Desired", ".spec.replicas");
    rs_column(&k, "Current", ".status.replicas");
    rs_column(&k, "Ready", ".status.readyReplicas");
    if (sim_kinds_put(srv->kinds, &k))
        m->kind_ready = 1;
}

/* ---- the ReplicaSet controller's part: simulated pod readiness ---- */

static struct rs_pods *pods_find(struct sim_deploy *m, const char *uid, int create)
{
    for (size_t i = 0; i < m->npods; i++)
        if (strcmp(m->pods[i].uid, uid) == 0)
            return &m->pods[i];
    if (!create)
        return NULL;
    if (m->npods == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 16;
        struct rs_pods *p = realloc(m->pods, cap * sizeof(*p));
        if (!p)
            return NULL;
        m->pods = p;
        m->cap = cap;
    }
    memset(&m->pods[m->npods], 0, sizeof(m->pods[0]));
    sim_strlcpy(m->pods[m->npods].uid, uid, sizeof(m->pods[0].uid));
    return &m->pods[m->npods++];
}

static void pods_drop(struct sim_deploy *m, struct rs_pods *p)
{
    size_t i = (size_t)(p - m->pods);
    m->pods[i] = m->pods[--m->npods];
}

static void batch_add(struct rs_pods *p, long n, int64_t ready_ms, int64_t avail_ms)
{
    if (n <= 0)
        return;
    if (p->nb == BATCHES) { /* full: the newest batch absorbs them */
        p->b[BATCHES - 1].n += n;
        return;
    }
    p->b[p->nb].n = n;
    p->b[p->nb].ready_ms = ready_ms;
    p->b[p->nb].avail_ms = avail_ms;
    p->nb++;
}

/* The owning Deployment's namespace/name from the controller reference. */
static int rs_owner(const cJSON *rs, char *name, size_t cap)
{
    const cJSON *r;
    cJSON_ArrayForEach(r, sim_jget(rs, "metadata", "ownerReferences", NULL))
    {
        const char *kind = sim_jstr(r, "kind", NULL), *n = sim_jstr(r, "name", NULL);
        if (cJSON_IsTrue(sim_jget(r, "controller", NULL)) && kind &&
            strcmp(kind, "Deployment") == 0 && n) {
            sim_strlcpy(name, n, cap);
            return 1;
        }
    }
    return 0;
}

static void rs_simulate(struct sim_server *srv, struct sim_deploy *m, const cJSON *rs)
{
    const char *uid = sim_jstr(rs, "metadata", "uid", NULL);
    const char *ns = sim_jstr(rs, "metadata", "namespace", NULL);
    const char *name = sim_jstr(rs, "metadata", "name", NULL);
    long desired = rs_spec(rs), cur = rs_stat(rs, "replicas"),
         avail = rs_stat(rs, "availableReplicas");
    long ready, minready = sim_jnum(rs, 0, "spec", "minReadySeconds", NULL);
    int64_t now = sim_mono_ms();
    char owner[256] = "", path[800];
    int stall = 0;
    long delay;
    struct rs_pods *p;
    cJSON *copy, *st;
    if (!uid || !ns || !name)
        return;
    if (rs_owner(rs, owner, sizeof(owner)))
        stall = stalled(srv, ns, owner);
    delay = rollout_delay_ms(srv, ns, *owner ? owner : name);
    if (avail > cur)
        avail = cur;
    p = pods_find(m, uid, 0);
    if (!p && (cur > avail || desired > cur)) {
        /* Pods this process has not seen start (a restart, or new): they
         * wait for readiness from now. */
        p = pods_find(m, uid, 1);
        if (!p)
            return;
        batch_add(p, cur - avail, now + delay, now + delay + minready * 1000);
    }
    if (p) {
        long pending = 0;
        p->seen = 1;
        for (size_t i = 0; i < p->nb; i++)
            pending += p->b[i].n;
        if (avail + pending != cur) /* our count drifted: trust the status */
            avail = cur - pending > 0 ? cur - pending : 0;
        if (desired > cur) {
            batch_add(p, desired - cur, now + delay, now + delay + minready * 1000);
            cur = desired;
        } else if (desired < cur) {
            /* The ReplicaSet controller deletes not-ready pods first. */
            long k = cur - desired;
            while (k > 0 && p->nb > 0) {
                struct batch *b = &p->b[p->nb - 1];
                long take = b->n < k ? b->n : k;
                b->n -= take;
                k -= take;
                if (b->n == 0)
                    p->nb--;
            }
            avail -= k;
            cur = desired;
        }
        /* Batches complete in order; a stalled Deployment's never do. */
        while (!stall && p->nb > 0 && p->b[0].avail_ms <= now) {
            avail += p->b[0].n;
            memmove(&p->b[0], &p->b[1], (p->nb - 1) * sizeof(p->b[0]));
            p->nb--;
        }
    }
    if (!p && desired < cur) { /* every pod is available: any of them go */
        cur = desired;
        if (avail > cur)
            avail = cur;
    }
    ready = avail;
    for (size_t i = 0; p && !stall && i < p->nb; i++)
        if (p->b[i].ready_ms <= now)
            ready += p->b[i].n;
    if (p && p->nb == 0)
        pods_drop(m, p);

    /* Most ticks change nothing: compare before copying anything. */
    if (sim_jget(rs, "status", NULL) && rs_stat(rs, "replicas") == cur &&
        rs_stat(rs, "fullyLabeledReplicas") == cur && rs_stat(rs, "readyReplicas") == ready &&
        rs_stat(rs, "availableReplicas") == avail &&
        rs_stat(rs, "observedGeneration") == sim_jnum(rs, 0, "metadata", "generation", NULL))
        return;
    copy = cJSON_Duplicate(rs, 1);
    st = copy ? sim_jobj(copy, "status") : NULL;
    if (!st) {
        cJSON_Delete(copy);
        return;
    }
    sim_jset(st, "replicas", cJSON_CreateNumber((double)cur));
    set_count(st, "fullyLabeledReplicas", cur);
    set_count(st, "readyReplicas", ready);
    set_count(st, "availableReplicas", avail);
    set_count(st, "observedGeneration", sim_jnum(rs, 0, "metadata", "generation", NULL));
    if (!k8s_json_equal(sim_jget(rs, "status", NULL), st)) {
        snprintf(path, sizeof(path), "/apis/apps/v1/namespaces/%s/replicasets/%s/status", ns, name);
        /* A conflict means someone wrote meanwhile: the next tick redoes it. */
        sim_internal_call(srv, "PUT", path, copy, NULL, NULL);
    }
    cJSON_Delete(copy);
}

static void rs_pass(struct sim_server *srv, struct sim_deploy *m)
{
    struct sim_coll *c = sim_store_coll(srv->store, "apps", "replicasets", 0);
    size_t n, done = 0;
    for (size_t i = 0; i < m->npods; i++)
        m->pods[i].seen = 0;
    if (!c || c->n == 0) {
        m->npods = 0;
        return;
    }
    n = c->n;
    if (m->rs_cursor >= n)
        m->rs_cursor = 0;
    /* Copies: each write replaces the stored object the collection points to. */
    while (done < n && done < RS_PER_TICK) {
        struct sim_obj *o;
        c = sim_store_coll(srv->store, "apps", "replicasets", 0);
        if (!c || m->rs_cursor >= c->n)
            break;
        /* The stored object itself: rs_simulate reads it only before it
         * writes (a write replaces it). */
        o = c->v[m->rs_cursor];
        if (!has_deletion(o->json))
            rs_simulate(srv, m, o->json);
        m->rs_cursor = (m->rs_cursor + 1) % n;
        done++;
    }
    if (done >= n) { /* a full pass: forget ReplicaSets that are gone */
        for (size_t i = 0; i < m->npods;) {
            if (!m->pods[i].seen)
                pods_drop(m, &m->pods[i]);
            else
                i++;
        }
    }
}

/* ---- writes of one Deployment sync ---- */

static void set_local(cJSON **slot, cJSON *answer)
{
    if (!answer)
        return;
    cJSON_Delete(*slot);
    *slot = answer;
}

static void event(struct dsync *x, const char *type, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void event(struct dsync *x, const char *type, const char *reason, const char *fmt, ...)
{
    char msg[1024], name[400], ts[32], path[400];
    struct timespec t;
    va_list ap;
    cJSON *ev = cJSON_CreateObject(), *meta, *io, *src;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (!ev)
        return;
    clock_gettime(CLOCK_REALTIME, &t);
    /* client-go's recorder: <object>.<hex UnixNano>. */
    snprintf(name, sizeof(name), "%s.%llx", x->name,
             (unsigned long long)((uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec));
    now_rfc3339(ts);
    cJSON_AddStringToObject(ev, "apiVersion", "v1");
    cJSON_AddStringToObject(ev, "kind", "Event");
    meta = cJSON_AddObjectToObject(ev, "metadata");
    cJSON_AddStringToObject(meta, "name", name);
    cJSON_AddStringToObject(meta, "namespace", x->ns);
    io = cJSON_AddObjectToObject(ev, "involvedObject");
    cJSON_AddStringToObject(io, "kind", "Deployment");
    cJSON_AddStringToObject(io, "namespace", x->ns);
    cJSON_AddStringToObject(io, "name", x->name);
    cJSON_AddStringToObject(io, "uid", sim_jstr(x->d, "metadata", "uid", NULL));
    cJSON_AddStringToObject(io, "apiVersion", "apps/v1");
    cJSON_AddStringToObject(io, "resourceVersion",
                            sim_jstr(x->d, "metadata", "resourceVersion", NULL));
    cJSON_AddStringToObject(ev, "reason", reason);
    cJSON_AddStringToObject(ev, "message", msg);
    src = cJSON_AddObjectToObject(ev, "source");
    cJSON_AddStringToObject(src, "component", "deployment-controller");
    cJSON_AddStringToObject(ev, "firstTimestamp", ts);
    cJSON_AddStringToObject(ev, "lastTimestamp", ts);
    cJSON_AddNumberToObject(ev, "count", 1);
    cJSON_AddStringToObject(ev, "type", type);
    cJSON_AddNullToObject(ev, "eventTime");
    cJSON_AddStringToObject(ev, "reportingComponent", "deployment-controller");
    cJSON_AddStringToObject(ev, "reportingInstance", "");
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/events", x->ns);
    sim_internal_call(x->srv, "POST", path, ev, NULL, NULL);
    cJSON_Delete(ev);
}

/* PUT of the Deployment itself (annotations) and/or its status. `status`
 * (taken, may be NULL) replaces the local status first. */
static int d_write(struct dsync *x, int meta_changed, cJSON *status)
{
    char path[800];
    cJSON *out = NULL;
    int code;
    if (status)
        sim_jset(x->d, "status", status);
    if (meta_changed) {
        cJSON *want = cJSON_Duplicate(sim_jget(x->d, "status", NULL), 1);
        snprintf(path, sizeof(path), "/apis/apps/v1/namespaces/%s/deployments/%s", x->ns, x->name);
        code = sim_internal_call(x->srv, "PUT", path, x->d, NULL, &out);
        if (code != 200) {
            cJSON_Delete(out);
            cJSON_Delete(want);
            x->failed = 1;
            return -1;
        }
        set_local(&x->d, out);
        out = NULL;
        if (want)
            sim_jset(x->d, "status", want);
        else
            cJSON_DeleteItemFromObjectCaseSensitive(x->d, "status");
    }
    snprintf(path, sizeof(path), "/apis/apps/v1/namespaces/%s/deployments/%s/status", x->ns,
             x->name);
    code = sim_internal_call(x->srv, "PUT", path, x->d, NULL, &out);
    if (code != 200) {
        cJSON_Delete(out);
        x->failed = 1;
        return -1;
    }
    set_local(&x->d, out);
    return 0;
}

static int rs_write(struct dsync *x, size_t i)
{
    char path[800];
    cJSON *out = NULL;
    int code;
    snprintf(path, sizeof(path), "/apis/apps/v1/namespaces/%s/replicasets/%s", x->ns,
             sim_jstr(x->rs[i], "metadata", "name", NULL));
    code = sim_internal_call(x->srv, "PUT", path, x->rs[i], NULL, &out);
    if (code != 200) {
        cJSON_Delete(out);
        x->failed = 1;
        return -1;
    }
    set_local(&x->rs[i], out);
    return 0;
}

/* ---- deploymentutil: annotations, revisions, status ---- */

static int skip_copy(const char *key)
{
    static const char *const skip[] = {"kubectl.kubernetes.io/last-applied-configuration",
                                       ANN_REVISION,
                                       ANN_REV_HISTORY,
                                       ANN_DESIRED,
                                       ANN_MAX,
                                       "deprecated.deployment.rollback.to",
                                       NULL};
    for (size_t i = 0; skip[i]; i++)
        if (strcmp(skip[i], key) == 0)
            return 1;
    return 0;
}

static int set_ann(cJSON *o, const char *key, const char *val)
{
    cJSON *a = sim_jobj(sim_jobj(o, "metadata"), "annotations");
    const char *cur = sim_jstr(a, key, NULL);
    if (!a || (cur && strcmp(cur, val) == 0))
        return 0;
    sim_jset_str(a, key, val);
    return 1;
}

/* SetReplicasAnnotations: 1 when something changed. */
static int set_replicas_ann(cJSON *rs, long desired, long max)
{
    char a[32], b[32];
    int changed;
    snprintf(a, sizeof(a), "%ld", desired);
    snprintf(b, sizeof(b), "%ld", max);
    changed = set_ann(rs, ANN_DESIRED, a);
    changed |= set_ann(rs, ANN_MAX, b);
    return changed;
}

static int replicas_ann_need_update(const cJSON *rs, long desired, long max)
{
    char a[32], b[32];
    const char *x = ann(rs, ANN_DESIRED), *y = ann(rs, ANN_MAX);
    snprintf(a, sizeof(a), "%ld", desired);
    snprintf(b, sizeof(b), "%ld", max);
    return !x || strcmp(x, a) != 0 || !y || strcmp(y, b) != 0;
}

/* SetNewReplicaSetAnnotations. */
static int set_new_rs_annotations(const cJSON *d, cJSON *rs, long new_rev, int exists)
{
    const cJSON *it;
    cJSON *a;
    const char *old_s;
    char old_copy[64] = "", nbuf[32];
    long old_rev;
    int ok, present, changed = 0;
    cJSON_ArrayForEach(it, sim_jget(d, "metadata", "annotations", NULL))
    {
        if (!cJSON_IsString(it) || skip_copy(it->string))
            continue;
        changed |= set_ann(rs, it->string, it->valuestring);
    }
    a = sim_jobj(sim_jobj(rs, "metadata"), "annotations");
    if (!a)
        return changed;
    old_s = sim_jstr(a, ANN_REVISION, NULL);
    present = old_s != NULL;
    if (old_s)
        sim_strlcpy(old_copy, old_s, sizeof(old_copy));
    old_rev = parse_long(old_copy, &ok);
    if (!ok && *old_copy)
        return 0; /* as real: a non-numeric revision stops here */
    snprintf(nbuf, sizeof(nbuf), "%ld", new_rev);
    if (old_rev < new_rev) {
        sim_jset_str(a, ANN_REVISION, nbuf);
        changed = 1;
    }
    if (present && old_rev < new_rev) {
        /* Rolling back to this template: keep the revisions it had. */
        const char *h = sim_jstr(a, ANN_REV_HISTORY, NULL);
        if (!h || !*h) {
            sim_jset_str(a, ANN_REV_HISTORY, old_copy);
        } else {
            const char *start = h;
            size_t total = strlen(h) + strlen(old_copy) + 1;
            while (total > MAX_REV_HIST_LEN && start) {
                const char *comma = strchr(start, ',');
                total -= (comma ? (size_t)(comma - start) : strlen(start)) + 1;
                start = comma ? comma + 1 : NULL;
            }
            if (total <= MAX_REV_HIST_LEN) {
                char *joined = malloc(total + 2);
                if (joined) {
                    snprintf(joined, total + 2, "%s%s%s", start ? start : "",
                             start && *start ? "," : "", old_copy);
                    sim_jset_str(a, ANN_REV_HISTORY, joined);
                    free(joined);
                }
            }
        }
    }
    if (!exists && set_replicas_ann(rs, d_replicas(d), d_replicas(d) + max_surge(d)))
        changed = 1;
    return changed;
}

/* SetDeploymentRevision on the local copy. */
static int set_d_revision(struct dsync *x, const char *rev)
{
    return rev ? set_ann(x->d, ANN_REVISION, rev) : 0;
}

static long sum_rs(const struct dsync *x, int spec, const char *field)
{
    long s = 0;
    for (size_t i = 0; i < x->nrs; i++)
        s += spec ? rs_spec(x->rs[i]) : rs_stat(x->rs[i], field);
    return s;
}

/* calculateStatus. */
static cJSON *calc_status(const struct dsync *x, long newi)
{
    const cJSON *old = sim_jget(x->d, "status", NULL);
    cJSON *st = cJSON_CreateObject();
    long avail = sum_rs(x, 0, "availableReplicas"), total = sum_rs(x, 1, NULL);
    long unavail = total - avail;
    if (!st)
        return NULL;
    if (unavail < 0)
        unavail = 0;
    set_count(st, "observedGeneration", sim_jnum(x->d, 0, "metadata", "generation", NULL));
    set_count(st, "replicas", sum_rs(x, 0, "replicas"));
    set_count(st, "updatedReplicas", newi >= 0 ? rs_stat(x->rs[newi], "replicas") : 0);
    set_count(st, "readyReplicas", sum_rs(x, 0, "readyReplicas"));
    set_count(st, "availableReplicas", avail);
    set_count(st, "unavailableReplicas", unavail);
    if (sim_jget(old, "conditions", NULL))
        sim_jset(st, "conditions", cJSON_Duplicate(sim_jget(old, "conditions", NULL), 1));
    if (sim_jget(old, "collisionCount", NULL))
        sim_jset(st, "collisionCount", cJSON_Duplicate(sim_jget(old, "collisionCount", NULL), 1));
    if (avail >= d_replicas(x->d) - max_unavailable(x->d))
        cond_set(st, cond_new(COND_AVAILABLE, "True", "MinimumReplicasAvailable",
                              "Deployment has minimum availability."));
    else
        cond_set(st, cond_new(COND_AVAILABLE, "False", "MinimumReplicasUnavailable",
                              "Deployment does not have minimum availability."));
    return st;
}

static int status_complete(const cJSON *d, const cJSON *st)
{
    long r = d_replicas(d);
    return sim_jnum(st, 0, "updatedReplicas", NULL) == r &&
           sim_jnum(st, 0, "replicas", NULL) == r &&
           sim_jnum(st, 0, "availableReplicas", NULL) == r &&
           sim_jnum(st, 0, "observedGeneration", NULL) >=
               sim_jnum(d, 0, "metadata", "generation", NULL);
}

static int status_progressing(const cJSON *d, const cJSON *st)
{
    const cJSON *o = sim_jget(d, "status", NULL);
    long old_old = sim_jnum(o, 0, "replicas", NULL) - sim_jnum(o, 0, "updatedReplicas", NULL);
    long new_old = sim_jnum(st, 0, "replicas", NULL) - sim_jnum(st, 0, "updatedReplicas", NULL);
    return sim_jnum(st, 0, "updatedReplicas", NULL) > sim_jnum(o, 0, "updatedReplicas", NULL) ||
           new_old < old_old ||
           sim_jnum(st, 0, "readyReplicas", NULL) > sim_jnum(o, 0, "readyReplicas", NULL) ||
           sim_jnum(st, 0, "availableReplicas", NULL) > sim_jnum(o, 0, "availableReplicas", NULL);
}

static int status_timed_out(const cJSON *d, const cJSON *st)
{
    const cJSON *c = cond_get(st, COND_PROGRESSING);
    const char *reason, *from;
    int64_t t;
    if (!has_progress_deadline(d) || !c)
        return 0;
    reason = sim_jstr(c, "reason", NULL);
    if (reason && strcmp(reason, "NewReplicaSetAvailable") == 0)
        return 0;
    if (reason && strcmp(reason, "ProgressDeadlineExceeded") == 0)
        return 1;
    from = sim_jstr(c, "lastUpdateTime", NULL);
    t = from ? sim_parse_rfc3339(from) : -1;
    if (t < 0)
        return 0;
    return (t + sim_jnum(d, 0, "spec", "progressDeadlineSeconds", NULL)) * 1000 < wall_ms();
}

static void sync_status_write(struct dsync *x, cJSON *st)
{
    if (!st)
        return;
    if (k8s_json_equal(sim_jget(x->d, "status", NULL), st)) {
        cJSON_Delete(st);
        return;
    }
    d_write(x, 0, st);
}

/* syncDeploymentStatus. */
static void sync_deployment_status(struct dsync *x, long newi)
{
    sync_status_write(x, calc_status(x, newi));
}

/* syncRolloutStatus. */
static void sync_rollout_status(struct dsync *x, long newi)
{
    cJSON *st = calc_status(x, newi);
    const cJSON *cur;
    const char *rsname = newi >= 0 ? sim_jstr(x->rs[newi], "metadata", "name", NULL) : NULL;
    char msg[600];
    int complete_before;
    if (!st)
        return;
    if (!has_progress_deadline(x->d))
        cond_remove(st, COND_PROGRESSING);
    cur = cond_get(sim_jget(x->d, "status", NULL), COND_PROGRESSING);
    complete_before =
        sim_jnum(st, 0, "replicas", NULL) == sim_jnum(st, 0, "updatedReplicas", NULL) && cur &&
        sim_jstr(cur, "reason", NULL) &&
        strcmp(sim_jstr(cur, "reason", NULL), "NewReplicaSetAvailable") == 0;
    if (has_progress_deadline(x->d) && !complete_before) {
        if (status_complete(x->d, st)) {
            if (rsname)
                snprintf(msg, sizeof(msg), "ReplicaSet \"%s\" has successfully progressed.",
                         rsname);
            else
                snprintf(msg, sizeof(msg), "Deployment \"%s\" has successfully progressed.",
                         x->name);
            cond_set(st, cond_new(COND_PROGRESSING, "True", "NewReplicaSetAvailable", msg));
        } else if (status_progressing(x->d, st)) {
            cJSON *c;
            if (rsname)
                snprintf(msg, sizeof(msg), "ReplicaSet \"%s\" is progressing.", rsname);
            else
                snprintf(msg, sizeof(msg), "Deployment \"%s\" is progressing.", x->name);
            c = cond_new(COND_PROGRESSING, "True", "ReplicaSetUpdated", msg);
            /* Progress refreshes lastUpdateTime even with the same reason. */
            if (c && cur) {
                const char *s = sim_jstr(cur, "status", NULL);
                if (s && strcmp(s, "True") == 0 && sim_jstr(cur, "lastTransitionTime", NULL))
                    sim_jset_str(c, "lastTransitionTime",
                                 sim_jstr(cur, "lastTransitionTime", NULL));
                cond_remove(st, COND_PROGRESSING);
            }
            cond_set(st, c);
        } else if (status_timed_out(x->d, st)) {
            if (rsname)
                snprintf(msg, sizeof(msg), "ReplicaSet \"%s\" has timed out progressing.", rsname);
            else
                snprintf(msg, sizeof(msg), "Deployment \"%s\" has timed out progressing.", x->name);
            cond_set(st, cond_new(COND_PROGRESSING, "False", "ProgressDeadlineExceeded", msg));
        }
    }
    /* The simulated ReplicaSets never report ReplicaFailure. */
    cond_remove(st, COND_FAILURE);
    sync_status_write(x, st);
}

/* ---- ReplicaSets of a sync ---- */

static int cmp_created(const void *a, const void *b)
{
    const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
    const char *tx = sim_jstr(x, "metadata", "creationTimestamp", NULL);
    const char *ty = sim_jstr(y, "metadata", "creationTimestamp", NULL);
    int c = strcmp(tx ? tx : "", ty ? ty : "");
    if (c)
        return c;
    return strcmp(sim_jstr(x, "metadata", "name", NULL), sim_jstr(y, "metadata", "name", NULL));
}

static void list_owned(struct dsync *x)
{
    struct sim_coll *c = sim_store_coll(x->srv->store, "apps", "replicasets", 0);
    const char *uid = sim_jstr(x->d, "metadata", "uid", NULL);
    size_t b, e;
    if (!c || !uid)
        return;
    sim_coll_range(c, x->ns, &b, &e);
    for (size_t i = b; i < e && x->nrs < RS_PER_DEPLOY; i++) {
        const cJSON *r;
        cJSON_ArrayForEach(r, sim_jget(c->v[i]->json, "metadata", "ownerReferences", NULL))
        {
            const char *u = sim_jstr(r, "uid", NULL);
            if (cJSON_IsTrue(sim_jget(r, "controller", NULL)) && u && strcmp(u, uid) == 0) {
                cJSON *copy = cJSON_Duplicate(c->v[i]->json, 1);
                if (copy)
                    x->rs[x->nrs++] = copy;
                break;
            }
        }
    }
    qsort(x->rs, x->nrs, sizeof(x->rs[0]), cmp_created);
}

/* FindNewReplicaSet: the oldest ReplicaSet with the Deployment's template. */
static long find_new(const struct dsync *x)
{
    const cJSON *t = sim_jget(x->d, "spec", "template", NULL);
    for (size_t i = 0; i < x->nrs; i++)
        if (template_equal(sim_jget(x->rs[i], "spec", "template", NULL), t))
            return (long)i;
    return -1;
}

static long new_rs_new_replicas(const struct dsync *x, long newi, long new_spec)
{
    long want = d_replicas(x->d);
    if (is_rolling(x->d)) {
        long surge =
            scaled(sim_jget(x->d, "spec", "strategy", "rollingUpdate", "maxSurge", NULL), want, 1);
        long current = sum_rs(x, 1, NULL) + (newi < 0 ? new_spec : 0);
        long max_total = want + surge, up;
        if (current >= max_total)
            return new_spec;
        up = max_total - current;
        if (up > want - new_spec)
            up = want - new_spec;
        return new_spec + up;
    }
    return want;
}

static int cond_reason_is(const cJSON *st, const char *type, const char *reason)
{
    const char *r = sim_jstr(cond_get(st, type), "reason", NULL);
    return r && strcmp(r, reason) == 0;
}

/* getNewReplicaSet (via getAllReplicaSetsAndSyncRevision): the index of the
 * new ReplicaSet in x->rs, or -1. */
static long get_new_rs(struct dsync *x, int create)
{
    long newi = find_new(x), max_old = 0, n;
    char hash[16], name[300], msg[700], rev[32], path[400];
    cJSON *rs, *meta, *spec, *tmpl, *sel, *owners, *o, *out = NULL;
    int code, already = 0, needs;
    for (size_t i = 0; i < x->nrs; i++)
        if ((long)i != newi && rs_revision(x->rs[i]) > max_old)
            max_old = rs_revision(x->rs[i]);
    if (newi >= 0) {
        cJSON *copy = cJSON_Duplicate(x->rs[newi], 1);
        long dmin = sim_jnum(x->d, 0, "spec", "minReadySeconds", NULL);
        int changed;
        if (!copy)
            return -1;
        changed = set_new_rs_annotations(x->d, copy, max_old + 1, 1);
        if (changed || sim_jnum(copy, 0, "spec", "minReadySeconds", NULL) != dmin) {
            set_count(sim_jobj(copy, "spec"), "minReadySeconds", dmin);
            set_local(&x->rs[newi], copy);
            return rs_write(x, (size_t)newi) == 0 ? newi : -1;
        }
        needs = set_d_revision(x, ann(copy, ANN_REVISION));
        cJSON_Delete(copy);
        if (has_progress_deadline(x->d) &&
            !cond_get(sim_jget(x->d, "status", NULL), COND_PROGRESSING)) {
            cJSON *st = cJSON_Duplicate(sim_jget(x->d, "status", NULL), 1);
            if (!st)
                st = cJSON_CreateObject();
            snprintf(msg, sizeof(msg), "Found new replica set \"%s\"",
                     sim_jstr(x->rs[newi], "metadata", "name", NULL));
            cond_set(st, cond_new(COND_PROGRESSING, "True", "FoundNewReplicaSet", msg));
            return d_write(x, needs, st) == 0 ? newi : -1;
        }
        if (needs && d_write(x, 1, NULL) != 0)
            return -1;
        return newi;
    }
    if (!create || x->nrs >= RS_PER_DEPLOY)
        return -1;

    compute_hash(sim_jget(x->d, "spec", "template", NULL),
                 sim_jget(x->d, "status", "collisionCount", NULL), hash);
    snprintf(name, sizeof(name), "%s-%s", x->name, hash);
    rs = cJSON_CreateObject();
    if (!rs)
        return -1;
    cJSON_AddStringToObject(rs, "apiVersion", "apps/v1");
    cJSON_AddStringToObject(rs, "kind", "ReplicaSet");
    meta = cJSON_AddObjectToObject(rs, "metadata");
    spec = cJSON_AddObjectToObject(rs, "spec");
    tmpl = cJSON_Duplicate(sim_jget(x->d, "spec", "template", NULL), 1);
    sel = cJSON_Duplicate(sim_jget(x->d, "spec", "selector", NULL), 1);
    if (!meta || !spec || !tmpl || !sel) {
        cJSON_Delete(tmpl);
        cJSON_Delete(sel);
        cJSON_Delete(rs);
        return -1;
    }
    sim_jset_str(sim_jobj(sim_jobj(tmpl, "metadata"), "labels"), LABEL_HASH, hash);
    sim_jset_str(sim_jobj(sel, "matchLabels"), LABEL_HASH, hash);
    cJSON_AddStringToObject(meta, "name", name);
    cJSON_AddStringToObject(meta, "namespace", x->ns);
    sim_jset(meta, "labels", cJSON_Duplicate(sim_jget(tmpl, "metadata", "labels", NULL), 1));
    owners = cJSON_AddArrayToObject(meta, "ownerReferences");
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "apiVersion", "apps/v1");
    cJSON_AddStringToObject(o, "kind", "Deployment");
    cJSON_AddStringToObject(o, "name", x->name);
    cJSON_AddStringToObject(o, "uid", sim_jstr(x->d, "metadata", "uid", NULL));
    cJSON_AddBoolToObject(o, "controller", 1);
    cJSON_AddBoolToObject(o, "blockOwnerDeletion", 1);
    cJSON_AddItemToArray(owners, o);
    cJSON_AddNumberToObject(spec, "replicas", 0);
    set_count(spec, "minReadySeconds", sim_jnum(x->d, 0, "spec", "minReadySeconds", NULL));
    sim_jset(spec, "selector", sel);
    sim_jset(spec, "template", tmpl);
    n = new_rs_new_replicas(x, -1, 0);
    sim_jset(spec, "replicas", cJSON_CreateNumber((double)n));
    set_new_rs_annotations(x->d, rs, max_old + 1, 0);

    snprintf(path, sizeof(path), "/apis/apps/v1/namespaces/%s/replicasets", x->ns);
    code = sim_internal_call(x->srv, "POST", path, rs, NULL, &out);
    cJSON_Delete(rs);
    if (code == 409) {
        /* Exists: ours with this template (a slow cache), or a hash collision. */
        struct sim_coll *c = sim_store_coll(x->srv->store, "apps", "replicasets", 0);
        struct sim_obj *ex = c ? sim_coll_get(c, x->ns, name) : NULL;
        const cJSON *r;
        int ours = 0;
        cJSON_Delete(out);
        out = NULL;
        if (!ex)
            return -1;
        cJSON_ArrayForEach(r, sim_jget(ex->json, "metadata", "ownerReferences", NULL))
        {
            const char *u = sim_jstr(r, "uid", NULL);
            if (cJSON_IsTrue(sim_jget(r, "controller", NULL)) && u &&
                strcmp(u, sim_jstr(x->d, "metadata", "uid", NULL)) == 0)
                ours = 1;
        }
        if (ours && template_equal(sim_jget(x->d, "spec", "template", NULL),
                                   sim_jget(ex->json, "spec", "template", NULL))) {
            out = cJSON_Duplicate(ex->json, 1);
            already = 1;
        } else {
            cJSON *st = cJSON_Duplicate(sim_jget(x->d, "status", NULL), 1);
            if (!st)
                st = cJSON_CreateObject();
            sim_jset(st, "collisionCount",
                     cJSON_CreateNumber(
                         (double)(sim_jnum(x->d, 0, "status", "collisionCount", NULL) + 1)));
            d_write(x, 0, st);
            x->failed = 1; /* requeue: the next tick tries the new name */
            return -1;
        }
    } else if (code != 201) {
        const char *why = sim_jstr(out, "message", NULL);
        snprintf(msg, sizeof(msg), "Failed to create new replica set \"%s\": %s", name,
                 why ? why : "unknown error");
        cJSON_Delete(out);
        if (has_progress_deadline(x->d)) {
            cJSON *st = cJSON_Duplicate(sim_jget(x->d, "status", NULL), 1);
            if (!st)
                st = cJSON_CreateObject();
            cond_set(st, cond_new(COND_PROGRESSING, "False", "ReplicaSetCreateError", msg));
            d_write(x, 0, st);
        }
        event(x, "Warning", "ReplicaSetCreateError", "%s", msg);
        x->failed = 1;
        return -1;
    }
    if (!out)
        return -1;
    x->rs[x->nrs] = out;
    newi = (long)x->nrs++;
    if (!already && n > 0)
        event(x, "Normal", "ScalingReplicaSet", "Scaled up replica set %s from 0 to %ld", name, n);
    snprintf(rev, sizeof(rev), "%ld", max_old + 1);
    needs = set_d_revision(x, rev);
    if (!already && has_progress_deadline(x->d)) {
        cJSON *st = cJSON_Duplicate(sim_jget(x->d, "status", NULL), 1);
        if (!st)
            st = cJSON_CreateObject();
        snprintf(msg, sizeof(msg), "Created new replica set \"%s\"", name);
        cond_set(st, cond_new(COND_PROGRESSING, "True", "NewReplicaSetCreated", msg));
        return d_write(x, needs, st) == 0 ? newi : -1;
    }
    if (needs && d_write(x, 1, NULL) != 0)
        return -1;
    return newi;
}

/* scaleReplicaSet: 1 when the size changed. */
static int scale_rs(struct dsync *x, size_t i, long to, const char *op)
{
    long want = d_replicas(x->d), surge = max_surge(x->d), from = rs_spec(x->rs[i]);
    int size = from != to;
    if (!size && !replicas_ann_need_update(x->rs[i], want, want + surge))
        return 0;
    sim_jset(sim_jobj(x->rs[i], "spec"), "replicas", cJSON_CreateNumber((double)to));
    set_replicas_ann(x->rs[i], want, want + surge);
    if (rs_write(x, i) != 0)
        return 0;
    if (size)
        event(x, "Normal", "ScalingReplicaSet", "Scaled %s replica set %s from %ld to %ld", op,
              sim_jstr(x->rs[i], "metadata", "name", NULL), from, to);
    return size;
}

static int scale_rs_event(struct dsync *x, size_t i, long to)
{
    long from = rs_spec(x->rs[i]);
    if (from == to)
        return 0;
    return scale_rs(x, i, to, from < to ? "up" : "down");
}

/* ---- scale (sync.go) ---- */

static int is_saturated(const struct dsync *x, long newi)
{
    int ok;
    long want = d_replicas(x->d), desired;
    if (newi < 0)
        return 0;
    desired = parse_long(ann(x->rs[newi], ANN_DESIRED), &ok);
    return ok && desired == want && rs_spec(x->rs[newi]) == want &&
           rs_stat(x->rs[newi], "availableReplicas") == want;
}

struct sized {
    size_t i;
    long spec;
    const cJSON *rs;
};

static int by_size_newer(const void *a, const void *b)
{
    const struct sized *x = a, *y = b;
    if (x->spec != y->spec)
        return x->spec > y->spec ? -1 : 1;
    return -cmp_created(&x->rs, &y->rs);
}

static int by_size_older(const void *a, const void *b)
{
    const struct sized *x = a, *y = b;
    if (x->spec != y->spec)
        return x->spec > y->spec ? -1 : 1;
    return cmp_created(&x->rs, &y->rs);
}

static long rs_fraction(const struct dsync *x, const cJSON *rs)
{
    long want = d_replicas(x->d), dmax, before, spec = rs_spec(rs);
    int ok;
    if (want == 0)
        return -spec;
    dmax = want + max_surge(x->d);
    before = parse_long(ann(rs, ANN_MAX), &ok);
    if (!ok || before == 0) {
        before = sim_jnum(x->d, 0, "status", "replicas", NULL);
        if (before == 0)
            return 0;
    }
    return (long)floor((double)(spec * dmax) / (double)before + 0.5) - spec;
}

static long proportion(const struct dsync *x, const cJSON *rs, long to_add, long added)
{
    long f, allowed;
    if (!rs || rs_spec(rs) == 0 || to_add == 0 || to_add == added)
        return 0;
    f = rs_fraction(x, rs);
    allowed = to_add - added;
    if (to_add > 0)
        return f < allowed ? f : allowed;
    return f > allowed ? f : allowed;
}

static void scale(struct dsync *x, long newi)
{
    long want = d_replicas(x->d);
    size_t nactive = 0, last_active = 0;
    struct sized act[RS_PER_DEPLOY];
    for (size_t i = 0; i < x->nrs; i++)
        if (rs_spec(x->rs[i]) > 0) {
            nactive++;
            last_active = i;
        }
    /* FindActiveOrLatest: the only active ReplicaSet, or with none active
     * the new one, else the newest old one. */
    if (nactive <= 1 && x->nrs > 0) {
        size_t pick = last_active;
        if (nactive == 0 && newi >= 0) {
            pick = (size_t)newi;
        } else if (nactive == 0) {
            pick = 0;
            for (size_t i = 1; i < x->nrs; i++)
                if (cmp_created(&x->rs[i], &x->rs[pick]) > 0)
                    pick = i;
        }
        if (rs_spec(x->rs[pick]) != want)
            scale_rs_event(x, pick, want);
        return;
    }
    if (x->nrs == 0)
        return;
    if (is_saturated(x, newi)) {
        for (size_t i = 0; i < x->nrs && !x->failed; i++)
            if ((long)i != newi && rs_spec(x->rs[i]) > 0)
                scale_rs_event(x, i, 0);
        return;
    }
    if (is_rolling(x->d)) {
        long allowed = want > 0 ? want + max_surge(x->d) : 0, total = 0, to_add, added = 0;
        long sizes[RS_PER_DEPLOY];
        const char *op = "";
        size_t n = 0;
        for (size_t i = 0; i < x->nrs; i++)
            if (rs_spec(x->rs[i]) > 0) {
                act[n].i = i;
                act[n].spec = rs_spec(x->rs[i]);
                act[n].rs = x->rs[i];
                total += act[n].spec;
                n++;
            }
        to_add = allowed - total;
        if (to_add > 0) {
            qsort(act, n, sizeof(act[0]), by_size_newer);
            op = "up";
        } else if (to_add < 0) {
            qsort(act, n, sizeof(act[0]), by_size_older);
            op = "down";
        }
        for (size_t j = 0; j < n; j++) {
            if (to_add != 0) {
                long p = proportion(x, act[j].rs, to_add, added);
                sizes[j] = act[j].spec + p;
                added += p;
            } else {
                sizes[j] = act[j].spec;
            }
        }
        for (size_t j = 0; j < n && !x->failed; j++) {
            if (j == 0 && to_add != 0) {
                sizes[0] += to_add - added;
                if (sizes[0] < 0)
                    sizes[0] = 0;
            }
            scale_rs(x, act[j].i, sizes[j], op);
        }
    }
}

/* cleanupDeployment: old ReplicaSets beyond revisionHistoryLimit. */
static int by_revision(const void *a, const void *b)
{
    const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
    long rx = rs_revision(x), ry = rs_revision(y);
    if (rx != ry)
        return rx < ry ? -1 : 1;
    return cmp_created(a, b);
}

static void cleanup(struct dsync *x, long newi)
{
    const cJSON *lim = sim_jget(x->d, "spec", "revisionHistoryLimit", NULL);
    const cJSON *old[RS_PER_DEPLOY];
    size_t n = 0;
    long diff;
    if (!cJSON_IsNumber(lim) || (long)lim->valuedouble == INT32_MAX)
        return;
    for (size_t i = 0; i < x->nrs; i++)
        if ((long)i != newi && !has_deletion(x->rs[i]))
            old[n++] = x->rs[i];
    diff = (long)n - (long)lim->valuedouble;
    if (diff <= 0)
        return;
    qsort(old, n, sizeof(old[0]), by_revision);
    for (long i = 0; i < diff; i++) {
        const cJSON *rs = old[i];
        char path[800];
        int code;
        if (rs_stat(rs, "replicas") != 0 || rs_spec(rs) != 0 ||
            sim_jnum(rs, 0, "metadata", "generation", NULL) > rs_stat(rs, "observedGeneration"))
            continue;
        snprintf(path, sizeof(path), "/apis/apps/v1/namespaces/%s/replicasets/%s", x->ns,
                 sim_jstr(rs, "metadata", "name", NULL));
        code = sim_internal_call(x->srv, "DELETE", path, NULL, NULL, NULL);
        if (code != 200 && code != 404)
            return;
    }
}

/* sync: scaling events and paused Deployments. */
static void sync_scale(struct dsync *x)
{
    long newi = get_new_rs(x, 0);
    if (x->failed)
        return;
    scale(x, newi);
    if (x->failed)
        return;
    if (cJSON_IsTrue(sim_jget(x->d, "spec", "paused", NULL)))
        cleanup(x, newi);
    sync_deployment_status(x, newi);
}

static int is_scaling_event(struct dsync *x)
{
    long newi = get_new_rs(x, 0), want = d_replicas(x->d);
    (void)newi;
    if (x->failed)
        return 0;
    for (size_t i = 0; i < x->nrs; i++) {
        int ok;
        long desired;
        if (rs_spec(x->rs[i]) <= 0)
            continue;
        desired = parse_long(ann(x->rs[i], ANN_DESIRED), &ok);
        if (ok && desired != want)
            return 1;
    }
    return 0;
}

/* checkPausedConditions. */
static void check_paused(struct dsync *x)
{
    const cJSON *st = sim_jget(x->d, "status", NULL);
    int paused = cJSON_IsTrue(sim_jget(x->d, "spec", "paused", NULL));
    int paused_cond = cond_reason_is(st, COND_PROGRESSING, "DeploymentPaused");
    cJSON *copy;
    if (!has_progress_deadline(x->d) ||
        cond_reason_is(st, COND_PROGRESSING, "ProgressDeadlineExceeded"))
        return;
    if (paused == paused_cond)
        return;
    copy = st ? cJSON_Duplicate(st, 1) : cJSON_CreateObject();
    if (!copy)
        return;
    if (paused)
        cond_set(copy,
                 cond_new(COND_PROGRESSING, "Unknown", "DeploymentPaused", "Deployment is paused"));
    else
        cond_set(copy, cond_new(COND_PROGRESSING, "Unknown", "DeploymentResumed",
                                "Deployment is resumed"));
    d_write(x, 0, copy);
}

/* ---- rolling.go ---- */

static int reconcile_new(struct dsync *x, long newi)
{
    long want = d_replicas(x->d), spec;
    if (newi < 0)
        return 0;
    spec = rs_spec(x->rs[newi]);
    if (spec == want)
        return 0;
    if (spec > want)
        return scale_rs_event(x, (size_t)newi, want);
    return scale_rs_event(x, (size_t)newi, new_rs_new_replicas(x, newi, spec));
}

static int reconcile_old(struct dsync *x, long newi)
{
    long old_pods = 0, all = sum_rs(x, 1, NULL), want = d_replicas(x->d);
    long min_avail = want - max_unavailable(x->d), new_unavail, max_down, cleaned = 0, avail,
         total_down, done = 0;
    for (size_t i = 0; i < x->nrs; i++)
        if ((long)i != newi)
            old_pods += rs_spec(x->rs[i]);
    if (old_pods == 0)
        return 0;
    new_unavail = newi >= 0 ? rs_spec(x->rs[newi]) - rs_stat(x->rs[newi], "availableReplicas") : 0;
    max_down = all - min_avail - new_unavail;
    if (max_down <= 0)
        return 0;
    /* cleanupUnhealthyReplicas: old ReplicaSets in creation order (x->rs is). */
    for (size_t i = 0; i < x->nrs && !x->failed; i++) {
        long spec = rs_spec(x->rs[i]), av = rs_stat(x->rs[i], "availableReplicas"), down;
        if ((long)i == newi)
            continue;
        if (cleaned >= max_down)
            break;
        if (spec == 0 || spec == av)
            continue;
        down = max_down - cleaned < spec - av ? max_down - cleaned : spec - av;
        scale_rs_event(x, i, spec - down);
        cleaned += down;
    }
    if (x->failed)
        return cleaned > 0;
    /* scaleDownOldReplicaSetsForRollingUpdate. */
    avail = sum_rs(x, 0, "availableReplicas");
    if (avail > min_avail) {
        total_down = avail - min_avail;
        for (size_t i = 0; i < x->nrs && !x->failed; i++) {
            long spec = rs_spec(x->rs[i]), down;
            if ((long)i == newi)
                continue;
            if (done >= total_down)
                break;
            if (spec == 0)
                continue;
            down = spec < total_down - done ? spec : total_down - done;
            scale_rs_event(x, i, spec - down);
            done += down;
        }
    }
    return cleaned + done > 0;
}

static void rollout_rolling(struct dsync *x)
{
    long newi = get_new_rs(x, 1);
    if (x->failed)
        return;
    if (reconcile_new(x, newi) || x->failed) {
        if (!x->failed)
            sync_rollout_status(x, newi);
        return;
    }
    if (reconcile_old(x, newi) || x->failed) {
        if (!x->failed)
            sync_rollout_status(x, newi);
        return;
    }
    if (status_complete(x->d, sim_jget(x->d, "status", NULL)))
        cleanup(x, newi);
    sync_rollout_status(x, newi);
}

/* ---- recreate.go ---- */

static void rollout_recreate(struct dsync *x)
{
    long newi = get_new_rs(x, 0), want = d_replicas(x->d);
    int down = 0;
    if (x->failed)
        return;
    for (size_t i = 0; i < x->nrs && !x->failed; i++)
        if ((long)i != newi && rs_spec(x->rs[i]) > 0)
            down |= scale_rs_event(x, i, 0);
    if (x->failed)
        return;
    if (down) {
        sync_rollout_status(x, newi);
        return;
    }
    for (size_t i = 0; i < x->nrs; i++) {
        if ((long)i != newi && rs_stat(x->rs[i], "replicas") > 0) { /* oldPodsRunning */
            sync_rollout_status(x, newi);
            return;
        }
    }
    if (newi < 0) {
        newi = get_new_rs(x, 1);
        if (x->failed)
            return;
    }
    if (newi >= 0 && rs_spec(x->rs[newi]) != want)
        scale_rs_event(x, (size_t)newi, want);
    if (x->failed)
        return;
    if (status_complete(x->d, sim_jget(x->d, "status", NULL)))
        cleanup(x, newi);
    sync_rollout_status(x, newi);
}

/* ---- syncDeployment ---- */

static void sync_one(struct sim_server *srv, struct sim_deploy *m, const cJSON *stored)
{
    struct dsync x;
    memset(&x, 0, sizeof(x));
    x.srv = srv;
    x.m = m;
    x.d = cJSON_Duplicate(stored, 1);
    if (!x.d)
        return;
    sim_strlcpy(x.ns, sim_jstr(x.d, "metadata", "namespace", NULL), sizeof(x.ns));
    sim_strlcpy(x.name, sim_jstr(x.d, "metadata", "name", NULL), sizeof(x.name));
    list_owned(&x);
    if (has_deletion(x.d)) {
        long newi = get_new_rs(&x, 0);
        if (!x.failed)
            sync_deployment_status(&x, newi);
    } else {
        int scaling = 0;
        check_paused(&x);
        if (!x.failed)
            scaling = cJSON_IsTrue(sim_jget(x.d, "spec", "paused", NULL)) || is_scaling_event(&x);
        if (x.failed)
            ; /* a write was refused: the next tick starts over */
        else if (scaling)
            sync_scale(&x);
        else if (is_rolling(x.d))
            rollout_rolling(&x);
        else
            rollout_recreate(&x);
    }
    for (size_t i = 0; i < x.nrs; i++)
        cJSON_Delete(x.rs[i]);
    cJSON_Delete(x.d);
}

static void deploy_pass(struct sim_server *srv, struct sim_deploy *m)
{
    struct sim_coll *c = sim_store_coll(srv->store, "apps", "deployments", 0);
    size_t n, done = 0;
    if (!c || c->n == 0)
        return;
    n = c->n;
    if (m->d_cursor >= n)
        m->d_cursor = 0;
    while (done < n && done < DEPLOY_PER_TICK) {
        c = sim_store_coll(srv->store, "apps", "deployments", 0);
        if (!c || m->d_cursor >= c->n)
            break;
        sync_one(srv, m, c->v[m->d_cursor]->json); /* copied before any write */
        m->d_cursor = (m->d_cursor + 1) % n;
        done++;
    }
}

struct sim_deploy *sim_deploy_new(void)
{
    return calloc(1, sizeof(struct sim_deploy));
}

void sim_deploy_free(struct sim_deploy *m)
{
    if (!m)
        return;
    free(m->pods);
    free(m);
}

void sim_deploy_tick(struct sim_server *srv, struct sim_deploy *m)
{
    if (!m)
        return;
    sim_deploy_register_kinds(srv, m);
    rs_pass(srv, m);
    deploy_pass(srv, m);
}
