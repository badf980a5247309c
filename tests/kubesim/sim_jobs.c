/*
 * The Job controller and the TTL-after-finished controller of the simulated
 * cluster (see sim_jobs.h), modelled on kube-controller-manager v1.32's
 * syncJob: every write goes through sim_internal_call, so what the API would
 * refuse is refused here too, and what a client watches is what the real
 * controller would have written, in the same order:
 *
 *  - A finished pod is first recorded by UID in status.uncountedTerminatedPods
 *    (one status write), then its batch.kubernetes.io/job-tracking finalizer is
 *    removed, then it moves to succeeded/failed (a second write). Indexed Jobs
 *    count succeeded indexes in status.completedIndexes ("0-2,4") instead.
 *  - A Job that meets its completions first gets SuccessCriteriaMet, and
 *    Complete (reason CompletionsReached) only once no pod is uncounted or
 *    terminating; a failing one gets FailureTarget, its active pods deleted,
 *    and Failed in a later pass once they are gone (both with the same reason:
 *    BackoffLimitExceeded, DeadlineExceeded, PodFailurePolicy,
 *    MaxFailedIndexesExceeded or FailedIndexes).
 *  - A failed pod is replaced after 10 s, doubling per consecutive failure up
 *    to 10 min (v1.32's DefaultJobPodFailureBackOff/MaxJobPodFailureBackOff),
 *    measured from the pod's finish time as the API shows it (whole seconds).
 *    While it waits, status.active reads 0 even if other pods still run: the
 *    real manageJob returns 0 there, and clients see exactly that.
 *  - The per-Job failure record lives only in memory, as in the real
 *    controller: after a simulator restart the back-off starts afresh.
 *  - A pod the controller deletes is not waited for: a bound pod stays
 *    "terminating" (counted in status.terminating) until the kubelet
 *    stand-in confirms its end, and the terminal condition waits for that;
 *    a pod never bound to the node goes at once, as the API deletes those.
 *
 * Simplified, and why:
 *  - Pods are claimed by their controller ownerReference only; orphans that
 *    match a Job's selector are not adopted (nothing in our tests orphans
 *    them while the Job lives), and pods whose labels stop matching are not
 *    released.
 *  - Instead of informers, a work queue and 1 s batching, a pass re-syncs
 *    every Job whenever the store changed since the last pass (or a Job's
 *    timer is due), at most MAX_JOBS_PER_TICK Jobs per tick; no expectations
 *    are needed because the store answers synchronously.
 *  - successPolicy is not evaluated; Events are created one per occurrence,
 *    without the recorder's aggregation into a count.
 */
#include "sim_jobs.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "k8s_patch.h"
#include "sim_internal.h"
#include "sim_server.h"
#include "sim_store.h"
#include "sim_util.h"
#include "sim_workloads.h"

#define TRACKING_FINALIZER "batch.kubernetes.io/job-tracking"
#define INDEX_KEY          "batch.kubernetes.io/job-completion-index"
#define FAILURE_COUNT_KEY  "batch.kubernetes.io/job-index-failure-count"
#define IGNORED_COUNT_KEY  "batch.kubernetes.io/job-index-ignored-failure-count"
#define INDEX_ENV          "JOB_COMPLETION_INDEX"
#define MANAGED_BY_US      "kubernetes.io/job-controller"

/* v1.32's MaxUncountedPods and MaxPodCreateDeletePerSync are 500; the
 * simulator keeps a tick short with smaller bounds (the next pass goes on). */
#define MAX_UNCOUNTED              500
#define MAX_CREATE_DELETE_PER_SYNC 100
#define MAX_JOBS_PER_TICK          256
#define MAX_ORPHAN_FIXES_PER_TICK  256
/* The generateName prefix limit (63 minus the 5 random characters). */
#define MAX_GENERATED_NAME 58

enum phase { PH_PENDING, PH_UNKNOWN, PH_RUNNING, PH_SUCCEEDED, PH_FAILED };
enum pfp_action { PFP_NONE, PFP_IGNORE, PFP_COUNT, PFP_FAIL_JOB, PFP_FAIL_INDEX };

/* The in-memory state the real controller keeps per Job key. */
struct jrec {
    char key[520]; /* namespace/name */
    long failures; /* failuresAfterLastSuccess */
    int64_t last_failure_ms;
    int have_last_failure;
    int api_failures; /* consecutive failed pod creations (API back-off) */
    int64_t api_retry_ms;
    int seen; /* found in the current pass */
};

struct sim_jobs {
    struct jrec *recs;
    size_t nrecs, caprecs;
    uint64_t synced_rv;  /* store version at the start of the last complete pass */
    int64_t next_due_ms; /* earliest timer of any Job; 0: none */
    int pass_open;       /* a pass stopped at MAX_JOBS_PER_TICK and goes on */
    uint64_t pass_rv;
    int64_t pass_due_ms;
    char cursor_ns[256], cursor_name[256];
    int64_t last_event_ns;    /* keeps Event names unique within one nanosecond */
    long knob_base, knob_max; /* the back-off knobs the timers were computed with */
};

/* ---- small helpers ---- */

static int64_t wall_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* An RFC 3339 time as wall milliseconds; -1 when absent or malformed. */
static int64_t ts_ms(const char *s)
{
    int64_t t = s ? sim_parse_rfc3339(s) : -1;
    return t < 0 ? -1 : t * 1000;
}

static void due_at(int64_t *due, int64_t when)
{
    if (when > 0 && (*due == 0 || when < *due))
        *due = when;
}

static int str_in_array(const cJSON *arr, const char *s)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        if (cJSON_IsString(it) && strcmp(it->valuestring, s) == 0)
            return 1;
    }
    return 0;
}

static const char *str_or(const char *s)
{
    return s ? s : "";
}

static long num_or(const cJSON *v, long def)
{
    return cJSON_IsNumber(v) ? (long)v->valuedouble : def;
}

/* A non-negative decimal integer, or -1 (getCompletionIndex, parseInt32). */
static long parse_nonneg(const char *s)
{
    char *end = NULL;
    long v;
    if (!s || !*s)
        return -1;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || *end || v < 0 || v > INT32_MAX)
        return -1;
    return v;
}

static const cJSON *controller_ref(const cJSON *obj)
{
    const cJSON *r;
    cJSON_ArrayForEach(r, sim_jget(obj, "metadata", "ownerReferences", NULL))
    {
        if (cJSON_IsTrue(sim_jget(r, "controller", NULL)))
            return r;
    }
    return NULL;
}

static int cond_is_true(const cJSON *conds, const char *type)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, conds)
    {
        const char *t = sim_jstr(c, "type", NULL), *s = sim_jstr(c, "status", NULL);
        if (t && s && strcmp(t, type) == 0 && strcmp(s, "True") == 0)
            return 1;
    }
    return 0;
}

/* util.IsJobFinished: a Complete or Failed condition that is True. */
static int job_finished(const cJSON *job)
{
    const cJSON *conds = sim_jget(job, "status", "conditions", NULL);
    return cond_is_true(conds, "Complete") || cond_is_true(conds, "Failed");
}

static cJSON *cond_new(const char *type, const char *status, const char *reason, const char *msg,
                       const char *ts)
{
    cJSON *c = cJSON_CreateObject();
    if (!c)
        return NULL;
    cJSON_AddStringToObject(c, "type", type);
    cJSON_AddStringToObject(c, "status", status);
    cJSON_AddStringToObject(c, "lastProbeTime", ts);
    cJSON_AddStringToObject(c, "lastTransitionTime", ts);
    if (reason && *reason)
        cJSON_AddStringToObject(c, "reason", reason);
    if (msg && *msg)
        cJSON_AddStringToObject(c, "message", msg);
    return c;
}

/* ensureJobConditionStatus: replaces a condition of that type whose status,
 * reason or message differ, or appends one unless it would be False. Returns
 * 1 when the list changed. */
static int cond_ensure(cJSON *conds, const char *type, const char *status, const char *reason,
                       const char *msg, const char *ts)
{
    cJSON *c = sim_cond_find(conds, type);
    if (c) {
        const char *s = sim_jstr(c, "status", NULL), *r = sim_jstr(c, "reason", NULL),
                   *mm = sim_jstr(c, "message", NULL);
        if (strcmp(s ? s : "", status) == 0 && strcmp(r ? r : "", reason ? reason : "") == 0 &&
            strcmp(mm ? mm : "", msg ? msg : "") == 0)
            return 0;
        for (int i = 0; i < cJSON_GetArraySize(conds); i++) {
            if (cJSON_GetArrayItem(conds, i) == c) {
                cJSON *n = cond_new(type, status, reason, msg, ts);
                if (n)
                    cJSON_ReplaceItemInArray(conds, i, n);
                return 1;
            }
        }
        return 0;
    }
    if (strcmp(status, "False") == 0)
        return 0;
    cJSON_AddItemToArray(conds, cond_new(type, status, reason, msg, ts));
    return 1;
}

/* ---- sets of completion indexes as ordered intervals ("0-2,4") ---- */

struct iv {
    long first, last;
};

struct ivs {
    struct iv *v;
    size_t n, cap;
};

static void ivs_free(struct ivs *s)
{
    free(s->v);
    memset(s, 0, sizeof(*s));
}

/* Appends an interval given in increasing order of `first`, merging it with
 * the last one when they touch or overlap. */
static int ivs_push(struct ivs *s, long first, long last)
{
    if (s->n > 0 && first <= s->v[s->n - 1].last + 1) {
        if (last > s->v[s->n - 1].last)
            s->v[s->n - 1].last = last;
        return 0;
    }
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 8;
        struct iv *nv = realloc(s->v, nc * sizeof(*nv));
        if (!nv)
            return -1;
        s->v = nv;
        s->cap = nc;
    }
    s->v[s->n].first = first;
    s->v[s->n].last = last;
    s->n++;
    return 0;
}

/* parseIndexesFromString: corrupt intervals are skipped; parsing stops at
 * the first interval beyond `completions`, and the last is clamped to it. */
static int ivs_parse(struct ivs *s, const char *str, long completions)
{
    const char *p = str;
    memset(s, 0, sizeof(*s));
    while (p && *p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char part[64], *dash;
        long first, last;
        if (len < sizeof(part)) {
            memcpy(part, p, len);
            part[len] = '\0';
            dash = strchr(part, '-');
            if (dash)
                *dash = '\0';
            first = parse_nonneg(part);
            last = dash ? parse_nonneg(dash + 1) : first;
            if (first >= 0 && last >= 0) {
                if (first >= completions)
                    break;
                if (last >= completions)
                    last = completions - 1;
                if (last >= first && ivs_push(s, first, last) != 0)
                    return -1;
            }
        }
        p = comma ? comma + 1 : NULL;
    }
    return 0;
}

static int ivs_merge(const struct ivs *a, const struct ivs *b, struct ivs *out)
{
    size_t i = 0, j = 0;
    memset(out, 0, sizeof(*out));
    while (i < a->n || j < b->n) {
        const struct iv *next;
        if (j >= b->n || (i < a->n && a->v[i].first < b->v[j].first))
            next = &a->v[i++];
        else
            next = &b->v[j++];
        if (ivs_push(out, next->first, next->last) != 0) {
            ivs_free(out);
            return -1;
        }
    }
    return 0;
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return x < y ? -1 : x > y;
}

/* withOrderedIndexes: *s becomes *s plus the given indexes (any order). */
static int ivs_add(struct ivs *s, long *ix, size_t n)
{
    struct ivs add, merged;
    memset(&add, 0, sizeof(add));
    qsort(ix, n, sizeof(*ix), cmp_long);
    for (size_t i = 0; i < n; i++) {
        if (ivs_push(&add, ix[i], ix[i]) != 0) {
            ivs_free(&add);
            return -1;
        }
    }
    if (ivs_merge(s, &add, &merged) != 0) {
        ivs_free(&add);
        ivs_free(&merged);
        return -1;
    }
    ivs_free(&add);
    ivs_free(s);
    *s = merged;
    return 0;
}

static long ivs_total(const struct ivs *s)
{
    long t = 0;
    for (size_t i = 0; i < s->n; i++)
        t += s->v[i].last - s->v[i].first + 1;
    return t;
}

static int ivs_has(const struct ivs *s, long ix)
{
    for (size_t i = 0; i < s->n; i++) {
        if (ix < s->v[i].first)
            return 0;
        if (ix <= s->v[i].last)
            return 1;
    }
    return 0;
}

/* orderedIntervals.String(): "1", "1,2" for two, "1-3" for more. */
static char *ivs_format(const struct ivs *s)
{
    size_t cap = 16 + s->n * 48, len = 0;
    char *buf = malloc(cap);
    if (!buf)
        return NULL;
    buf[0] = '\0';
    for (size_t i = 0; i < s->n; i++) {
        const struct iv *v = &s->v[i];
        int w;
        if (v->last == v->first)
            w = snprintf(buf + len, cap - len, "%s%ld", len ? "," : "", v->first);
        else
            w = snprintf(buf + len, cap - len, "%s%ld%c%ld", len ? "," : "", v->first,
                         v->last == v->first + 1 ? ',' : '-', v->last);
        if (w < 0 || (size_t)w >= cap - len) {
            free(buf);
            return NULL;
        }
        len += (size_t)w;
    }
    return buf;
}

/* ---- sets of pod UIDs (uncountedTerminatedPods) ---- */

struct strset {
    char **v;
    size_t n, cap;
};

static void strset_free(struct strset *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof(*s));
}

static int strset_has(const struct strset *s, const char *x)
{
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->v[i], x) == 0)
            return 1;
    }
    return 0;
}

static int strset_add(struct strset *s, const char *x)
{
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 8;
        char **nv = realloc(s->v, nc * sizeof(*nv));
        if (!nv)
            return -1;
        s->v = nv;
        s->cap = nc;
    }
    s->v[s->n] = strdup(x);
    if (!s->v[s->n])
        return -1;
    s->n++;
    return 0;
}

static int strset_from(struct strset *s, const cJSON *arr)
{
    const cJSON *it;
    memset(s, 0, sizeof(*s));
    cJSON_ArrayForEach(it, arr)
    {
        if (cJSON_IsString(it) && strset_add(s, it->valuestring) != 0)
            return -1;
    }
    return 0;
}

static cJSON *strset_json(const struct strset *s)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < s->n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(s->v[i]));
    return a;
}

/* ---- the pods of a Job ---- */

struct jpod {
    cJSON *obj; /* a copy, so writes to the store cannot pull it away */
    const char *name, *uid;
    enum phase phase;
    int deleting; /* metadata.deletionTimestamp is set */
    int fin;      /* carries the job-tracking finalizer */
    long index;   /* completion index, -1 when none or invalid */
    int ready, assigned;
    long restarts;
    int64_t created_ms;
};

static enum phase pod_phase(const cJSON *pod)
{
    const char *p = sim_jstr(pod, "status", "phase", NULL);
    if (!p || strcmp(p, "Pending") == 0)
        return PH_PENDING;
    if (strcmp(p, "Running") == 0)
        return PH_RUNNING;
    if (strcmp(p, "Succeeded") == 0)
        return PH_SUCCEEDED;
    if (strcmp(p, "Failed") == 0)
        return PH_FAILED;
    return PH_UNKNOWN;
}

static void pod_fill(struct jpod *p)
{
    const cJSON *meta = sim_jget(p->obj, "metadata", NULL), *c;
    const char *nn = sim_jstr(p->obj, "spec", "nodeName", NULL);
    p->name = sim_jstr(meta, "name", NULL);
    p->uid = sim_jstr(meta, "uid", NULL);
    if (!p->name)
        p->name = "";
    if (!p->uid)
        p->uid = "";
    p->phase = pod_phase(p->obj);
    p->deleting = sim_jget(meta, "deletionTimestamp", NULL) != NULL;
    p->fin = str_in_array(sim_jget(meta, "finalizers", NULL), TRACKING_FINALIZER);
    p->index = parse_nonneg(sim_jstr(meta, "annotations", INDEX_KEY, NULL));
    p->ready = cond_is_true(sim_jget(p->obj, "status", "conditions", NULL), "Ready");
    p->assigned = nn && *nn;
    p->restarts = 0;
    cJSON_ArrayForEach(c, sim_jget(p->obj, "status", "containerStatuses", NULL))
    {
        p->restarts += num_or(sim_jget(c, "restartCount", NULL), 0);
    }
    p->created_ms = ts_ms(sim_jstr(meta, "creationTimestamp", NULL));
}

static int pod_active(const struct jpod *p)
{
    return p->phase != PH_SUCCEEDED && p->phase != PH_FAILED && !p->deleting;
}

static int pod_terminating(const struct jpod *p)
{
    return p->deleting && p->phase != PH_SUCCEEDED && p->phase != PH_FAILED;
}

/* getFinishedTime: the last container's finishedAt when all terminated, else
 * the Ready=False transition, else deletion time minus grace, else creation. */
static int64_t pod_finished_ms(const struct jpod *p)
{
    const cJSON *statuses = sim_jget(p->obj, "status", "containerStatuses", NULL), *c;
    int64_t best = -1;
    int all = cJSON_GetArraySize(statuses) > 0;
    cJSON_ArrayForEach(c, statuses)
    {
        int64_t t = ts_ms(sim_jstr(c, "state", "terminated", "finishedAt", NULL));
        if (t < 0) {
            all = 0;
            break;
        }
        if (t > best)
            best = t;
    }
    if (all && best >= 0)
        return best;
    cJSON_ArrayForEach(c, sim_jget(p->obj, "status", "conditions", NULL))
    {
        const char *t = sim_jstr(c, "type", NULL), *s = sim_jstr(c, "status", NULL);
        if (t && s && strcmp(t, "Ready") == 0 && strcmp(s, "False") == 0) {
            int64_t at = ts_ms(sim_jstr(c, "lastTransitionTime", NULL));
            if (at >= 0)
                return at;
        }
    }
    if (p->deleting) {
        int64_t at = ts_ms(sim_jstr(p->obj, "metadata", "deletionTimestamp", NULL));
        long grace = num_or(sim_jget(p->obj, "metadata", "deletionGracePeriodSeconds", NULL), 0);
        if (at >= 0)
            return at - grace * 1000;
    }
    return p->created_ms > 0 ? p->created_ms : 0;
}

/* controller.ActivePods order: the pod to give up first sorts first —
 * unassigned, then Pending < Unknown < Running, not ready, more restarts,
 * newer. */
static int active_less(const struct jpod *a, const struct jpod *b)
{
    if (a->assigned != b->assigned)
        return !a->assigned;
    if (a->phase != b->phase)
        return a->phase < b->phase;
    if (a->ready != b->ready)
        return !a->ready;
    if (a->restarts != b->restarts)
        return a->restarts > b->restarts;
    return a->created_ms > b->created_ms;
}

static int cmp_active(const void *x, const void *y)
{
    const struct jpod *a = *(const struct jpod *const *)x, *b = *(const struct jpod *const *)y;
    if (active_less(a, b))
        return -1;
    return active_less(b, a);
}

static int cmp_index(const void *x, const void *y)
{
    const struct jpod *a = *(const struct jpod *const *)x, *b = *(const struct jpod *const *)y;
    return a->index < b->index ? -1 : a->index > b->index;
}

/* ---- podFailurePolicy (matchPodFailurePolicy) ---- */

struct pfp_match {
    enum pfp_action action;
    int count; /* counts towards backoffLimit / backoffLimitPerIndex */
    char msg[1024];
};

static const cJSON *exit_code_match(const cJSON *statuses, const cJSON *req)
{
    const char *cname = sim_jstr(req, "containerName", NULL);
    const char *op = sim_jstr(req, "operator", NULL);
    const cJSON *cs, *v;
    cJSON_ArrayForEach(cs, statuses)
    {
        const cJSON *term = sim_jget(cs, "state", "terminated", NULL);
        const char *name = sim_jstr(cs, "name", NULL);
        long code;
        int in = 0;
        if (!term)
            continue; /* still terminating: no exit code to match */
        if (cname && (!name || strcmp(cname, name) != 0))
            continue;
        code = num_or(sim_jget(term, "exitCode", NULL), 0);
        if (code == 0)
            continue;
        cJSON_ArrayForEach(v, sim_jget(req, "values", NULL))
        {
            if (cJSON_IsNumber(v) && (long)v->valuedouble == code)
                in = 1;
        }
        if (op && ((strcmp(op, "In") == 0 && in) || (strcmp(op, "NotIn") == 0 && !in)))
            return cs;
    }
    return NULL;
}

static const cJSON *pod_condition_match(const cJSON *pod, const cJSON *patterns)
{
    const cJSON *c, *p;
    cJSON_ArrayForEach(c, sim_jget(pod, "status", "conditions", NULL))
    {
        const char *t = sim_jstr(c, "type", NULL), *s = sim_jstr(c, "status", NULL);
        cJSON_ArrayForEach(p, patterns)
        {
            const char *pt = sim_jstr(p, "type", NULL), *ps = sim_jstr(p, "status", NULL);
            if (!ps)
                ps = "True"; /* the API's default */
            if (t && s && pt && ps && strcmp(t, pt) == 0 && strcmp(s, ps) == 0)
                return c;
        }
    }
    return NULL;
}

static enum pfp_action action_of(const char *a)
{
    if (!a)
        return PFP_NONE;
    if (strcmp(a, "Ignore") == 0)
        return PFP_IGNORE;
    if (strcmp(a, "Count") == 0)
        return PFP_COUNT;
    if (strcmp(a, "FailJob") == 0)
        return PFP_FAIL_JOB;
    if (strcmp(a, "FailIndex") == 0)
        return PFP_FAIL_INDEX;
    return PFP_NONE;
}

/* The first rule that matches decides; no policy or no match: counted. */
static void pfp_match(const cJSON *pfp, const struct jpod *p, const char *ns, struct pfp_match *r)
{
    const cJSON *rule;
    int i = 0;
    memset(r, 0, sizeof(*r));
    r->count = 1;
    if (!pfp)
        return;
    cJSON_ArrayForEach(rule, sim_jget(pfp, "rules", NULL))
    {
        const char *an = sim_jstr(rule, "action", NULL);
        enum pfp_action a = action_of(an);
        const cJSON *onexit = sim_jget(rule, "onExitCodes", NULL);
        const cJSON *oncond = sim_jget(rule, "onPodConditions", NULL);
        const cJSON *cs = NULL, *pc = NULL;
        if (onexit && !cJSON_IsNull(onexit)) {
            cs = exit_code_match(sim_jget(p->obj, "status", "containerStatuses", NULL), onexit);
            if (!cs)
                cs = exit_code_match(sim_jget(p->obj, "status", "initContainerStatuses", NULL),
                                     onexit);
        } else if (oncond && !cJSON_IsNull(oncond)) {
            pc = pod_condition_match(p->obj, oncond);
        }
        if ((cs || pc) && a != PFP_NONE) {
            r->action = a;
            r->count = a != PFP_IGNORE;
            if (a == PFP_FAIL_JOB && cs)
                snprintf(r->msg, sizeof(r->msg),
                         "Container %s for pod %s/%s failed with exit code %ld matching %s rule "
                         "at index %d",
                         sim_jstr(cs, "name", NULL) ? sim_jstr(cs, "name", NULL) : "", ns, p->name,
                         num_or(sim_jget(cs, "state", "terminated", "exitCode", NULL), 0), an, i);
            else if (a == PFP_FAIL_JOB)
                snprintf(r->msg, sizeof(r->msg),
                         "Pod %s/%s has condition %s matching %s rule at index %d", ns, p->name,
                         sim_jstr(pc, "type", NULL) ? sim_jstr(pc, "type", NULL) : "", an, i);
            return;
        }
        i++;
    }
}

/* ---- per-Job records ---- */

static struct jrec *rec_get(struct sim_jobs *m, const char *key)
{
    for (size_t i = 0; i < m->nrecs; i++) {
        if (strcmp(m->recs[i].key, key) == 0)
            return &m->recs[i];
    }
    if (m->nrecs == m->caprecs) {
        size_t nc = m->caprecs ? m->caprecs * 2 : 16;
        struct jrec *nv = realloc(m->recs, nc * sizeof(*nv));
        if (!nv)
            return NULL;
        m->recs = nv;
        m->caprecs = nc;
    }
    memset(&m->recs[m->nrecs], 0, sizeof(m->recs[0]));
    sim_strlcpy(m->recs[m->nrecs].key, key, sizeof(m->recs[0].key));
    return &m->recs[m->nrecs++];
}

/* Forgets the records of Jobs the last complete pass did not see. */
static void rec_sweep(struct sim_jobs *m)
{
    size_t w = 0;
    for (size_t i = 0; i < m->nrecs; i++) {
        if (m->recs[i].seen) {
            m->recs[i].seen = 0;
            m->recs[w++] = m->recs[i];
        }
    }
    m->nrecs = w;
}

/* ---- one sync of one Job ---- */

/* The interim or final terminal condition a sync decided on. */
struct fcond {
    int set;
    char type[24];
    char reason[48];
    char msg[1024];
};

struct jstatus {
    cJSON *conds;
    char start[40], completion[40];
    long active, succeeded, failed, terminating, ready;
    char *completed;  /* never NULL */
    char *failed_idx; /* NULL: the field is absent */
    struct strset unc_s, unc_f;
};

struct delayed {
    long ix;
    struct jpod *p;
};

struct jctx {
    struct sim_server *srv;
    struct sim_jobs *m;
    struct jrec *rec;
    int64_t now;
    char ts[32];
    char ns[256], name[256], uid[64];
    cJSON *job;  /* latest stored version (status writes replace it) */
    cJSON *spec; /* a stable copy of the spec */
    const cJSON *pfp;
    struct jpod *pods;
    size_t npods;
    struct jpod **act; /* active pods */
    size_t nact;
    int indexed, suspended, only_failed, deleting_job;
    long completions; /* -1: unset */
    long parallelism, backoff_limit;
    long blpi;           /* backoffLimitPerIndex, -1: unset */
    long max_failed_idx; /* -1: unset */
    long active, terminating, ready, succeeded, failed;
    struct ivs prev_succ, succ, failed_ix;
    int has_failed_ix;
    struct delayed *delayed;
    size_t ndelayed;
    long nb_failures; /* the new back-off record */
    int64_t nb_last_ms;
    int nb_have_last;
    struct fcond fin;
    struct jstatus st;
    int64_t due;
};

static int is_pod_failed(const struct jctx *x, const struct jpod *p)
{
    if (p->phase == PH_FAILED)
        return 1;
    if (x->only_failed)
        return 0;
    /* Deleted pods count as failed: orphans never reach the Failed phase. */
    return p->deleting && p->phase != PH_SUCCEEDED;
}

static int valid_index(const struct jctx *x, const struct jpod *p)
{
    return !x->indexed || (p->index >= 0 && p->index < x->completions);
}

static long annotation_count(const struct jpod *p, const char *key)
{
    long v = parse_nonneg(sim_jstr(p->obj, "metadata", "annotations", key, NULL));
    return v < 0 ? 0 : v;
}

static struct jpod *delayed_for(const struct jctx *x, long ix)
{
    for (size_t i = 0; i < x->ndelayed; i++) {
        if (x->delayed[i].ix == ix)
            return x->delayed[i].p;
    }
    return NULL;
}

static void status_free(struct jstatus *st)
{
    cJSON_Delete(st->conds);
    free(st->completed);
    free(st->failed_idx);
    strset_free(&st->unc_s);
    strset_free(&st->unc_f);
    memset(st, 0, sizeof(*st));
}

static int status_read(const cJSON *job, struct jstatus *st)
{
    const cJSON *s = sim_jget(job, "status", NULL);
    const char *v;
    memset(st, 0, sizeof(*st));
    st->conds = cJSON_Duplicate(sim_jget(s, "conditions", NULL), 1);
    if (!st->conds)
        st->conds = cJSON_CreateArray();
    sim_strlcpy(st->start, sim_jstr(s, "startTime", NULL) ? sim_jstr(s, "startTime", NULL) : "",
                sizeof(st->start));
    sim_strlcpy(st->completion,
                sim_jstr(s, "completionTime", NULL) ? sim_jstr(s, "completionTime", NULL) : "",
                sizeof(st->completion));
    st->active = num_or(sim_jget(s, "active", NULL), 0);
    st->succeeded = num_or(sim_jget(s, "succeeded", NULL), 0);
    st->failed = num_or(sim_jget(s, "failed", NULL), 0);
    st->terminating = num_or(sim_jget(s, "terminating", NULL), 0);
    st->ready = num_or(sim_jget(s, "ready", NULL), 0);
    v = sim_jstr(s, "completedIndexes", NULL);
    st->completed = strdup(v ? v : "");
    v = sim_jstr(s, "failedIndexes", NULL);
    st->failed_idx = v ? strdup(v) : NULL;
    if (!st->conds || !st->completed || (v && !st->failed_idx) ||
        strset_from(&st->unc_s, sim_jget(s, "uncountedTerminatedPods", "succeeded", NULL)) != 0 ||
        strset_from(&st->unc_f, sim_jget(s, "uncountedTerminatedPods", "failed", NULL)) != 0)
        return -1;
    return 0;
}

/* The status as v1.32 serialises it (JobStatus field order, omitempty). */
static cJSON *status_json(const struct jstatus *st)
{
    cJSON *s = cJSON_CreateObject(), *u;
    if (!s)
        return NULL;
    if (cJSON_GetArraySize(st->conds) > 0)
        cJSON_AddItemToObject(s, "conditions", cJSON_Duplicate(st->conds, 1));
    if (st->start[0])
        cJSON_AddStringToObject(s, "startTime", st->start);
    if (st->completion[0])
        cJSON_AddStringToObject(s, "completionTime", st->completion);
    if (st->active)
        cJSON_AddNumberToObject(s, "active", (double)st->active);
    if (st->succeeded)
        cJSON_AddNumberToObject(s, "succeeded", (double)st->succeeded);
    if (st->failed)
        cJSON_AddNumberToObject(s, "failed", (double)st->failed);
    cJSON_AddNumberToObject(s, "terminating", (double)st->terminating);
    if (st->completed[0])
        cJSON_AddStringToObject(s, "completedIndexes", st->completed);
    if (st->failed_idx)
        cJSON_AddStringToObject(s, "failedIndexes", st->failed_idx);
    u = cJSON_AddObjectToObject(s, "uncountedTerminatedPods");
    if (u && st->unc_s.n)
        cJSON_AddItemToObject(u, "succeeded", strset_json(&st->unc_s));
    if (u && st->unc_f.n)
        cJSON_AddItemToObject(u, "failed", strset_json(&st->unc_f));
    cJSON_AddNumberToObject(s, "ready", (double)st->ready);
    return s;
}

/* PUT .../jobs/NAME/status; the stored result becomes the working copy. */
static int flush_status(struct jctx *x)
{
    char path[700];
    cJSON *body = cJSON_Duplicate(x->job, 1), *st = status_json(&x->st), *out = NULL;
    int code;
    if (!body || !st) {
        cJSON_Delete(body);
        cJSON_Delete(st);
        return -1;
    }
    if (k8s_json_equal(sim_jget(x->job, "status", NULL), st)) {
        cJSON_Delete(body);
        cJSON_Delete(st);
        return 0;
    }
    sim_jset(body, "status", st);
    snprintf(path, sizeof(path), "/apis/batch/v1/namespaces/%s/jobs/%s/status", x->ns, x->name);
    code = sim_internal_call(x->srv, "PUT", path, body, NULL, &out);
    cJSON_Delete(body);
    if (code != 200 || !out) {
        cJSON_Delete(out);
        return -1;
    }
    cJSON_Delete(x->job);
    x->job = out;
    return 0;
}

/* A core/v1 Event about the Job, as client-go's recorder writes it. */
static void job_event(struct jctx *x, const char *type, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void job_event(struct jctx *x, const char *type, const char *reason, const char *fmt, ...)
{
    char msg[1200], ename[320], path[400];
    struct timespec t;
    int64_t ns;
    va_list ap;
    cJSON *ev = cJSON_CreateObject(), *meta, *io, *src;
    const char *rv = sim_jstr(x->job, "metadata", "resourceVersion", NULL);
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    clock_gettime(CLOCK_REALTIME, &t);
    ns = (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
    if (ns <= x->m->last_event_ns)
        ns = x->m->last_event_ns + 1;
    x->m->last_event_ns = ns;
    snprintf(ename, sizeof(ename), "%s.%llx", x->name, (unsigned long long)ns);
    if (!ev)
        return;
    cJSON_AddStringToObject(ev, "apiVersion", "v1");
    cJSON_AddStringToObject(ev, "kind", "Event");
    meta = cJSON_AddObjectToObject(ev, "metadata");
    cJSON_AddStringToObject(meta, "name", ename);
    cJSON_AddStringToObject(meta, "namespace", x->ns);
    io = cJSON_AddObjectToObject(ev, "involvedObject");
    cJSON_AddStringToObject(io, "kind", "Job");
    cJSON_AddStringToObject(io, "namespace", x->ns);
    cJSON_AddStringToObject(io, "name", x->name);
    cJSON_AddStringToObject(io, "uid", x->uid);
    cJSON_AddStringToObject(io, "apiVersion", "batch/v1");
    if (rv)
        cJSON_AddStringToObject(io, "resourceVersion", rv);
    cJSON_AddStringToObject(ev, "reason", reason);
    cJSON_AddStringToObject(ev, "message", msg);
    src = cJSON_AddObjectToObject(ev, "source");
    cJSON_AddStringToObject(src, "component", "job-controller");
    cJSON_AddStringToObject(ev, "firstTimestamp", x->ts);
    cJSON_AddStringToObject(ev, "lastTimestamp", x->ts);
    cJSON_AddNumberToObject(ev, "count", 1);
    cJSON_AddStringToObject(ev, "type", type);
    cJSON_AddNullToObject(ev, "eventTime");
    cJSON_AddStringToObject(ev, "reportingComponent", "job-controller");
    cJSON_AddStringToObject(ev, "reportingInstance", "");
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/events", x->ns);
    sim_internal_call(x->srv, "POST", path, ev, NULL, NULL);
    cJSON_Delete(ev);
}

static const char *status_message(const cJSON *st)
{
    const char *m = sim_jstr(st, "message", NULL);
    return m ? m : "unknown error";
}

/* removeTrackingFinalizerPatch; 0 also when the pod is already gone. */
static int remove_finalizer(struct sim_server *srv, const char *ns, const char *name)
{
    char path[600];
    cJSON *patch = cJSON_Parse(
        "{\"metadata\":{\"$deleteFromPrimitiveList/finalizers\":[\"" TRACKING_FINALIZER "\"]}}");
    int code;
    if (!patch)
        return -1;
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s", ns, name);
    code = sim_internal_call(srv, "PATCH", path, patch, "application/strategic-merge-patch+json",
                             NULL);
    cJSON_Delete(patch);
    return code == 200 || code == 404 ? 0 : -1;
}

/* RealPodControl.DeletePod: DELETE plus its event; 0 also on NotFound. */
static int delete_pod(struct jctx *x, const struct jpod *p)
{
    char path[600];
    cJSON *out = NULL;
    int code;
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s", x->ns, p->name);
    code = sim_internal_call(x->srv, "DELETE", path, NULL, NULL, &out);
    if (code == 200 || code == 202) {
        job_event(x, "Normal", "SuccessfulDelete", "Deleted pod: %s", p->name);
    } else if (code != 404) {
        job_event(x, "Warning", "FailedDelete", "Error deleting: %s", status_message(out));
        cJSON_Delete(out);
        return -1;
    }
    cJSON_Delete(out);
    return 0;
}

/* deleteJobPods: the finalizer goes first (the pod is not counted), then the
 * pod. Returns how many were deleted; *ready_deleted counts ready ones. */
static long delete_job_pods(struct jctx *x, struct jpod **pods, size_t n, long *ready_deleted)
{
    long deleted = 0;
    for (size_t i = 0; i < n && i < MAX_CREATE_DELETE_PER_SYNC; i++) {
        if (pods[i]->fin && remove_finalizer(x->srv, x->ns, pods[i]->name) != 0)
            continue;
        if (delete_pod(x, pods[i]) != 0)
            continue;
        deleted++;
        if (pods[i]->ready)
            (*ready_deleted)++;
    }
    return deleted;
}

/* addCompletionIndexEnvVariable, for every container and init container. */
static void add_index_env(cJSON *tspec)
{
    static const char *const lists[] = {"initContainers", "containers", NULL};
    for (size_t l = 0; lists[l]; l++) {
        cJSON *c;
        cJSON_ArrayForEach(c, sim_jget(tspec, lists[l], NULL))
        {
            cJSON *env = sim_jget(c, "env", NULL), *e, *vf, *fr;
            int found = 0;
            cJSON_ArrayForEach(e, env)
            {
                const char *n = sim_jstr(e, "name", NULL);
                if (n && strcmp(n, INDEX_ENV) == 0)
                    found = 1;
            }
            if (found)
                continue;
            if (!cJSON_IsArray(env)) {
                env = cJSON_CreateArray();
                sim_jset(c, "env", env);
            }
            e = cJSON_CreateObject();
            if (!env || !e) {
                cJSON_Delete(e);
                continue;
            }
            cJSON_AddStringToObject(e, "name", INDEX_ENV);
            vf = cJSON_AddObjectToObject(e, "valueFrom");
            fr = vf ? cJSON_AddObjectToObject(vf, "fieldRef") : NULL;
            /* PodIndexLabel is GA in v1.32: the env reads the label. */
            if (fr)
                cJSON_AddStringToObject(fr, "fieldPath", "metadata.labels['" INDEX_KEY "']");
            cJSON_AddItemToArray(env, e);
        }
    }
}

/* The pod template as manageJob prepares it once per sync. */
static cJSON *pod_template(const struct jctx *x)
{
    cJSON *t = cJSON_Duplicate(sim_jget(x->spec, "template", NULL), 1), *meta, *fins;
    if (!t)
        return NULL;
    if (x->indexed)
        add_index_env(sim_jobj(t, "spec"));
    meta = sim_jobj(t, "metadata");
    fins = meta ? sim_jget(meta, "finalizers", NULL) : NULL;
    if (meta && !cJSON_IsArray(fins)) {
        fins = cJSON_CreateArray();
        sim_jset(meta, "finalizers", fins);
    }
    if (fins && !str_in_array(fins, TRACKING_FINALIZER))
        cJSON_AddItemToArray(fins, cJSON_CreateString(TRACKING_FINALIZER));
    return t;
}

/* getNewIndexFailureCounts for the pod that replaces `old`. */
static void failure_counts(const struct jctx *x, const struct jpod *old, long *count, long *ignored)
{
    struct pfp_match pm;
    *count = *ignored = 0;
    if (!old)
        return;
    *count = annotation_count(old, FAILURE_COUNT_KEY);
    *ignored = annotation_count(old, IGNORED_COUNT_KEY);
    pfp_match(x->pfp, old, x->ns, &pm);
    if (pm.count)
        (*count)++;
    else
        (*ignored)++;
}

/* GetPodFromTemplate + CreatePodsWithGenerateName, with the SuccessfulCreate
 * or FailedCreate event. Returns 0 on success (or a terminating namespace,
 * which the real controller ignores), -1 on failure. */
static int create_pod(struct jctx *x, const cJSON *tmpl, long index)
{
    char path[400], gen[320], buf[32];
    cJSON *pod = cJSON_CreateObject(), *meta, *labels, *ann, *refs, *ref, *spec, *out = NULL;
    const cJSON *tm = sim_jget(tmpl, "metadata", NULL), *cause;
    int code, rc = -1, ns_terminating = 0;
    if (!pod)
        return -1;
    cJSON_AddStringToObject(pod, "apiVersion", "v1");
    cJSON_AddStringToObject(pod, "kind", "Pod");
    meta = cJSON_AddObjectToObject(pod, "metadata");
    labels = cJSON_Duplicate(sim_jget(tm, "labels", NULL), 1);
    ann = cJSON_Duplicate(sim_jget(tm, "annotations", NULL), 1);
    if (!labels)
        labels = cJSON_CreateObject();
    if (!ann)
        ann = cJSON_CreateObject();
    spec = cJSON_Duplicate(sim_jget(tmpl, "spec", NULL), 1);
    if (!meta || !labels || !ann || !spec) {
        cJSON_Delete(labels);
        cJSON_Delete(ann);
        cJSON_Delete(spec);
        goto out;
    }
    if (index >= 0) {
        char ixs[24];
        snprintf(ixs, sizeof(ixs), "-%ld-", index);
        snprintf(buf, sizeof(buf), "%ld", index);
        sim_jset_str(ann, INDEX_KEY, buf);
        sim_jset_str(labels, INDEX_KEY, buf);
        snprintf(gen, sizeof(gen), "%s-%ld", x->name, index);
        sim_jset_str(spec, "hostname", gen);
        /* podGenerateNameWithIndex: the job name is cut, never the index. */
        if (strlen(x->name) + strlen(ixs) > MAX_GENERATED_NAME)
            snprintf(gen, sizeof(gen), "%.*s%s", (int)(MAX_GENERATED_NAME - strlen(ixs)), x->name,
                     ixs);
        else
            snprintf(gen, sizeof(gen), "%s%s", x->name, ixs);
        if (x->blpi >= 0) {
            long count, ignored;
            failure_counts(x, delayed_for(x, index), &count, &ignored);
            snprintf(buf, sizeof(buf), "%ld", count);
            sim_jset_str(ann, FAILURE_COUNT_KEY, buf);
            if (ignored > 0) {
                snprintf(buf, sizeof(buf), "%ld", ignored);
                sim_jset_str(ann, IGNORED_COUNT_KEY, buf);
            }
        }
    } else {
        snprintf(gen, sizeof(gen), "%s-", x->name);
    }
    cJSON_AddStringToObject(meta, "generateName", gen);
    cJSON_AddStringToObject(meta, "namespace", x->ns);
    cJSON_AddItemToObject(meta, "labels", labels);
    if (cJSON_GetArraySize(ann) > 0)
        cJSON_AddItemToObject(meta, "annotations", ann);
    else
        cJSON_Delete(ann);
    cJSON_AddItemToObject(meta, "finalizers", cJSON_Duplicate(sim_jget(tm, "finalizers", NULL), 1));
    refs = cJSON_AddArrayToObject(meta, "ownerReferences");
    ref = cJSON_CreateObject();
    if (!refs || !ref) {
        cJSON_Delete(ref);
        cJSON_Delete(spec);
        goto out;
    }
    cJSON_AddStringToObject(ref, "apiVersion", "batch/v1");
    cJSON_AddStringToObject(ref, "kind", "Job");
    cJSON_AddStringToObject(ref, "name", x->name);
    cJSON_AddStringToObject(ref, "uid", x->uid);
    cJSON_AddBoolToObject(ref, "controller", 1);
    cJSON_AddBoolToObject(ref, "blockOwnerDeletion", 1);
    cJSON_AddItemToArray(refs, ref);
    cJSON_AddItemToObject(pod, "spec", spec);
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods", x->ns);
    code = sim_internal_call(x->srv, "POST", path, pod, NULL, &out);
    if (code == 201) {
        const char *n = sim_jstr(out, "metadata", "name", NULL);
        job_event(x, "Normal", "SuccessfulCreate", "Created pod: %s", n ? n : "");
        rc = 0;
        goto out;
    }
    cJSON_ArrayForEach(cause, sim_jget(out, "details", "causes", NULL))
    {
        const char *r = sim_jstr(cause, "reason", NULL);
        if (r && strcmp(r, "NamespaceTerminating") == 0)
            ns_terminating = 1;
    }
    if (ns_terminating) {
        rc = 0;
        goto out;
    }
    job_event(x, "Warning", "FailedCreate", "Error creating: %s", status_message(out));
out:
    cJSON_Delete(out);
    cJSON_Delete(pod);
    return rc;
}

static int64_t backoff_remaining(const struct jctx *x, long failures, int64_t last_ms)
{
    long base = sim_wl_int(x->srv, 10000, "jobs", "backoffBaseMs", NULL);
    long max = sim_wl_int(x->srv, 600000, "jobs", "backoffMaxMs", NULL);
    int64_t d = base, elapsed;
    if (failures <= 0)
        return 0;
    for (long i = 1; i < failures; i++) {
        d *= 2;
        if (d >= max) {
            d = max;
            break;
        }
    }
    elapsed = x->now - last_ms;
    return d < elapsed ? 0 : d - elapsed;
}

/* firstPendingIndexes: up to `count` indexes not succeeded, failed, active
 * or (when only failed pods are replaced) terminating. */
static size_t first_pending(const struct jctx *x, long count, long *out)
{
    struct ivs non = {0}, tmp;
    const struct ivs none = {0};
    long *ix = calloc(x->npods + 1, sizeof(*ix));
    size_t nix = 0, n = 0;
    long cand = 0;
    if (!ix)
        return 0;
    for (size_t i = 0; i < x->npods; i++) {
        const struct jpod *p = &x->pods[i];
        if (p->index >= 0 && (pod_active(p) || (x->only_failed && pod_terminating(p))))
            ix[nix++] = p->index;
    }
    if (ivs_merge(&x->succ, &none, &non) != 0)
        goto out;
    if (ivs_add(&non, ix, nix) != 0)
        goto out;
    if (x->has_failed_ix) {
        if (ivs_merge(&non, &x->failed_ix, &tmp) != 0)
            goto out;
        ivs_free(&non);
        non = tmp;
    }
    for (size_t i = 0; i < non.n; i++) {
        for (; cand < x->completions && (long)n < count && cand < non.v[i].first; cand++)
            out[n++] = cand;
        if (cand < non.v[i].last + 1)
            cand = non.v[i].last + 1;
    }
    for (; cand < x->completions && (long)n < count; cand++)
        out[n++] = cand;
out:
    ivs_free(&non);
    free(ix);
    return n;
}

/* activePodsForRemoval: for Indexed Jobs, pods without a valid index and all
 * but the most advanced pod of a repeated index go first. */
static size_t pods_for_removal(const struct jctx *x, long at_least, struct jpod **rm)
{
    struct jpod **left = calloc(x->nact + 1, sizeof(*left));
    size_t nrm = 0, nleft = 0;
    if (!left)
        return 0;
    if (x->indexed) {
        struct jpod **s = calloc(x->nact + 1, sizeof(*s));
        size_t i = 0;
        if (!s) {
            free(left);
            return 0;
        }
        memcpy(s, x->act, x->nact * sizeof(*s));
        qsort(s, x->nact, sizeof(*s), cmp_index);
        while (i < x->nact) {
            size_t j = i;
            while (j < x->nact && s[j]->index == s[i]->index)
                j++;
            if (s[i]->index < 0 || s[i]->index >= x->completions) {
                for (size_t k = i; k < j; k++)
                    rm[nrm++] = s[k];
            } else {
                qsort(s + i, j - i, sizeof(*s), cmp_active);
                for (size_t k = i; k + 1 < j; k++)
                    rm[nrm++] = s[k];
                left[nleft++] = s[j - 1];
            }
            i = j;
        }
        free(s);
    } else {
        memcpy(left, x->act, x->nact * sizeof(*left));
        nleft = x->nact;
    }
    if ((long)nrm < at_least) {
        qsort(left, nleft, sizeof(*left), cmp_active);
        for (size_t i = 0; i < nleft && (long)nrm < at_least; i++)
            rm[nrm++] = left[i];
    }
    free(left);
    return nrm;
}

/* manageJob: deletes surplus pods or creates missing ones (never both),
 * honouring the pod-failure back-off. Returns the new active count. */
static long manage_job(struct jctx *x)
{
    long active = (long)x->nact, want, diff, ready_deleted = 0, removed;
    struct jpod **rm = calloc(x->nact + 1, sizeof(*rm));
    size_t nrm;
    if (!rm)
        return active;
    if (x->suspended) {
        nrm = pods_for_removal(x, active, rm);
        removed = delete_job_pods(x, rm, nrm, &ready_deleted);
        active -= removed;
        x->terminating += removed;
        x->ready -= ready_deleted;
        goto out;
    }
    if (x->completions < 0) {
        /* A work queue: once one pod succeeded, let the rest finish. */
        want = x->succeeded > 0 ? active : x->parallelism;
    } else {
        want = x->completions - x->succeeded;
        if (want > x->parallelism)
            want = x->parallelism;
        if (want < 0)
            want = 0;
    }
    nrm = pods_for_removal(x, active - want > 0 ? active - want : 0, rm);
    if (nrm > 0) {
        removed = delete_job_pods(x, rm, nrm, &ready_deleted);
        active -= removed;
        x->terminating += removed;
        x->ready -= ready_deleted;
        goto out;
    }
    diff = want - (x->only_failed ? x->terminating : 0) - active;
    if (diff > 0) {
        long *ixs = NULL;
        size_t nix = 0, next = 0;
        long batch, errors = 0;
        cJSON *tmpl;
        if (x->blpi < 0) {
            int64_t rem = backoff_remaining(x, x->nb_failures, x->nb_last_ms);
            if (rem > 0) {
                /* The real manageJob reports 0 active while it waits. */
                due_at(&x->due, x->now + rem);
                active = 0;
                goto out;
            }
        }
        if (x->rec->api_failures > 0 && x->now < x->rec->api_retry_ms) {
            due_at(&x->due, x->rec->api_retry_ms);
            goto out;
        }
        if (diff > MAX_CREATE_DELETE_PER_SYNC)
            diff = MAX_CREATE_DELETE_PER_SYNC;
        if (x->indexed) {
            ixs = calloc((size_t)diff + 1, sizeof(*ixs));
            if (!ixs)
                goto out;
            nix = first_pending(x, diff, ixs);
            if (x->blpi >= 0) {
                /* Per-index back-off: only indexes whose delay passed. */
                size_t w = 0;
                int64_t min_rem = 0;
                for (size_t i = 0; i < nix; i++) {
                    const struct jpod *last = delayed_for(x, ixs[i]);
                    int64_t rem = 0;
                    if (last)
                        rem = backoff_remaining(x,
                                                annotation_count(last, FAILURE_COUNT_KEY) +
                                                    annotation_count(last, IGNORED_COUNT_KEY) + 1,
                                                pod_finished_ms(last));
                    if (rem == 0)
                        ixs[w++] = ixs[i];
                    else if (min_rem == 0 || rem < min_rem)
                        min_rem = rem;
                }
                if (w == 0 && min_rem > 0) {
                    due_at(&x->due, x->now + min_rem);
                    free(ixs);
                    active = 0;
                    goto out;
                }
                nix = w;
            }
            diff = (long)nix;
        }
        tmpl = pod_template(x);
        if (!tmpl) {
            free(ixs);
            goto out;
        }
        active += diff;
        /* Slow start: batches of 1, 2, 4... stop after a batch with errors. */
        for (batch = diff < 1 ? diff : 1; diff > 0;) {
            long before = errors;
            for (long i = 0; i < batch; i++) {
                long ix = x->indexed && next < nix ? ixs[next++] : -1;
                if (create_pod(x, tmpl, ix) != 0) {
                    errors++;
                    active--;
                }
            }
            if (errors > before && diff - batch > 0) {
                active -= diff - batch;
                break;
            }
            diff -= batch;
            batch = 2 * batch < diff ? 2 * batch : diff;
        }
        if (errors > 0) {
            int n = x->rec->api_failures < 6 ? x->rec->api_failures : 6;
            x->rec->api_failures++;
            x->rec->api_retry_ms = x->now + (1000LL << n);
            due_at(&x->due, x->rec->api_retry_ms);
        } else {
            x->rec->api_failures = 0;
        }
        cJSON_Delete(tmpl);
        free(ixs);
    }
out:
    free(rm);
    return active;
}

/* newBackoffRecord: failures since the last success and the last failure's
 * finish time, from the pods that finished since the last count. */
static void new_backoff_record(struct jctx *x, struct jpod **succ, size_t ns, struct jpod **fail,
                               size_t nf)
{
    int64_t last_succ = -1;
    x->nb_failures = x->rec->failures;
    x->nb_last_ms = x->rec->last_failure_ms;
    x->nb_have_last = x->rec->have_last_failure;
    if (ns == 0 && nf == 0)
        return;
    if (ns == 0) {
        int64_t latest = -1;
        for (size_t i = 0; i < nf; i++) {
            int64_t t = pod_finished_ms(fail[i]);
            if (t > latest)
                latest = t;
        }
        x->nb_failures += (long)nf;
        x->nb_last_ms = latest;
        x->nb_have_last = 1;
        return;
    }
    for (size_t i = 0; i < ns; i++) {
        int64_t t = pod_finished_ms(succ[i]);
        if (t > last_succ)
            last_succ = t;
    }
    x->nb_failures = 0;
    x->nb_last_ms = 0;
    x->nb_have_last = 0;
    for (size_t i = 0; i < nf; i++) {
        int64_t t = pod_finished_ms(fail[i]);
        if (t > last_succ) {
            x->nb_failures++;
            if (!x->nb_have_last || t > x->nb_last_ms)
                x->nb_last_ms = t;
            x->nb_have_last = 1;
        }
    }
}

/* pastBackoffLimitOnFailure: container restarts of running pods (OnFailure). */
static int past_backoff_on_failure(const struct jctx *x)
{
    const char *rp = sim_jstr(x->spec, "template", "spec", "restartPolicy", NULL);
    long sum = 0;
    if (!rp || strcmp(rp, "OnFailure") != 0)
        return 0;
    for (size_t i = 0; i < x->npods; i++) {
        const struct jpod *p = &x->pods[i];
        const cJSON *c;
        if (p->phase != PH_RUNNING && p->phase != PH_PENDING)
            continue;
        cJSON_ArrayForEach(c, sim_jget(p->obj, "status", "initContainerStatuses", NULL))
        {
            sum += num_or(sim_jget(c, "restartCount", NULL), 0);
        }
        sum += p->restarts;
    }
    return x->backoff_limit == 0 ? sum > 0 : sum >= x->backoff_limit;
}

static void set_fin(struct fcond *f, const char *type, const char *reason, const char *msg)
{
    f->set = 1;
    sim_strlcpy(f->type, type, sizeof(f->type));
    sim_strlcpy(f->reason, reason ? reason : "", sizeof(f->reason));
    sim_strlcpy(f->msg, msg ? msg : "", sizeof(f->msg));
}

/* isIndexFailed (backoffLimitPerIndex). */
static int index_failed(const struct jctx *x, const struct jpod *p)
{
    int counted = 0;
    if (is_pod_failed(x, p)) {
        struct pfp_match pm;
        pfp_match(x->pfp, p, x->ns, &pm);
        if (pm.action == PFP_FAIL_INDEX)
            return 1;
        counted = pm.count;
    }
    return counted && annotation_count(p, FAILURE_COUNT_KEY) >= x->blpi;
}

/* getPodsWithDelayedDeletionPerIndex: per index that is neither succeeded,
 * failed nor active, the failed pod whose finalizer stays until its
 * replacement carries the failure count on. */
static int compute_delayed(struct jctx *x)
{
    x->delayed = calloc(x->npods + 1, sizeof(*x->delayed));
    if (!x->delayed)
        return -1;
    for (size_t i = 0; i < x->npods; i++) {
        struct jpod *p = &x->pods[i];
        struct jpod *cur;
        int active_ix = 0;
        if (!p->fin || !valid_index(x, p) || !is_pod_failed(x, p))
            continue;
        if (ivs_has(&x->succ, p->index) || ivs_has(&x->failed_ix, p->index))
            continue;
        for (size_t j = 0; j < x->nact; j++) {
            if (x->act[j]->index == p->index)
                active_ix = 1;
        }
        if (active_ix)
            continue;
        cur = delayed_for(x, p->index);
        if (!cur) {
            x->delayed[x->ndelayed].ix = p->index;
            x->delayed[x->ndelayed].p = p;
            x->ndelayed++;
        } else if (annotation_count(cur, FAILURE_COUNT_KEY) +
                           annotation_count(cur, IGNORED_COUNT_KEY) <=
                       annotation_count(p, FAILURE_COUNT_KEY) +
                           annotation_count(p, IGNORED_COUNT_KEY) &&
                   pod_finished_ms(p) >= pod_finished_ms(cur)) {
            for (size_t k = 0; k < x->ndelayed; k++) {
                if (x->delayed[k].ix == p->index)
                    x->delayed[k].p = p;
            }
        }
    }
    return 0;
}

static int can_remove_finalizer(const struct jctx *x, const struct jpod *p, int failed)
{
    if (x->deleting_job || x->fin.set || p->phase == PH_SUCCEEDED)
        return 1;
    if (!failed)
        return 0;
    if (x->blpi >= 0 && p->index >= 0 && delayed_for(x, p->index) == p)
        return 0;
    return 1;
}

/* cleanUncountedPodsWithoutFinalizers: UIDs whose pod lost its finalizer
 * (or is gone) move from uncountedTerminatedPods into the counters. */
static int clean_uncounted(struct jctx *x, const struct strset *with_fin)
{
    int changed = 0;
    struct strset *sets[2] = {&x->st.unc_s, &x->st.unc_f};
    long *counters[2] = {&x->st.succeeded, &x->st.failed};
    for (int k = 0; k < 2; k++) {
        size_t w = 0;
        for (size_t i = 0; i < sets[k]->n; i++) {
            if (strset_has(with_fin, sets[k]->v[i])) {
                sets[k]->v[w++] = sets[k]->v[i];
            } else {
                free(sets[k]->v[i]);
                (*counters[k])++;
                changed = 1;
            }
        }
        sets[k]->n = w;
    }
    return changed;
}

static void strset_remove(struct strset *s, const char *x)
{
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->v[i], x) == 0) {
            free(s->v[i]);
            s->v[i] = s->v[--s->n];
            return;
        }
    }
}

/* trackJobStatusAndRemoveFinalizers and enactJobFinished. */
static void track_status(struct jctx *x, int needs_flush, const struct strset *prev_unc_s,
                         const struct strset *prev_unc_f)
{
    struct strset with_fin = {0};
    struct jpod **order = calloc(x->npods + 1, sizeof(*order)), **rmfin = NULL;
    long *new_succ_ix = calloc(x->npods + 1, sizeof(*new_succ_ix));
    size_t nrmfin = 0, nnew = 0;
    int reached_max = 0, finished = 0;
    struct fcond final;
    memset(&final, 0, sizeof(final));
    rmfin = calloc(x->npods + 1, sizeof(*rmfin));
    if (!order || !new_succ_ix || !rmfin)
        goto out;
    for (size_t i = 0; i < x->npods; i++) {
        order[i] = &x->pods[i];
        if (x->pods[i].fin && strset_add(&with_fin, x->pods[i].uid) != 0)
            goto out;
    }
    if (x->indexed)
        qsort(order, x->npods, sizeof(*order), cmp_index);
    if (clean_uncounted(x, &with_fin))
        needs_flush = 1;
    for (size_t i = 0; i < x->npods; i++) {
        struct jpod *p = order[i];
        int failed;
        if (!p->fin)
            continue;
        failed = is_pod_failed(x, p);
        if (!can_remove_finalizer(x, p, failed))
            continue;
        rmfin[nrmfin++] = p;
        if (p->phase == PH_SUCCEEDED && !strset_has(prev_unc_f, p->uid)) {
            if (x->indexed) {
                if (p->index >= 0 && p->index < x->completions &&
                    !ivs_has(&x->prev_succ, p->index)) {
                    new_succ_ix[nnew++] = p->index;
                    needs_flush = 1;
                }
            } else if (!strset_has(prev_unc_s, p->uid) && !strset_has(&x->st.unc_s, p->uid)) {
                if (strset_add(&x->st.unc_s, p->uid) != 0)
                    goto out;
                needs_flush = 1;
            }
        } else if (failed || (x->fin.set && strcmp(x->fin.type, "SuccessCriteriaMet") != 0)) {
            /* A finished Job counts every pod not yet terminated as failed. */
            if (!strset_has(prev_unc_f, p->uid) && !strset_has(&x->st.unc_f, p->uid) &&
                valid_index(x, p)) {
                struct pfp_match pm;
                pfp_match(x->pfp, p, x->ns, &pm);
                if (pm.count) {
                    if (strset_add(&x->st.unc_f, p->uid) != 0)
                        goto out;
                    needs_flush = 1;
                }
            }
        }
        if ((long)(nnew + x->st.unc_s.n + x->st.unc_f.n) >= MAX_UNCOUNTED) {
            reached_max = 1;
            break;
        }
    }
    if (x->indexed) {
        char *s;
        if (ivs_add(&x->succ, new_succ_ix, nnew) != 0)
            goto out;
        s = ivs_format(&x->succ);
        if (!s)
            goto out;
        if (strcmp(s, x->st.completed) != 0)
            needs_flush = 1;
        free(x->st.completed);
        x->st.completed = s;
        x->st.succeeded = ivs_total(&x->succ);
        if (x->has_failed_ix) {
            char *f = ivs_format(&x->failed_ix);
            if (!f)
                goto out;
            if (!x->st.failed_idx || strcmp(f, x->st.failed_idx) != 0)
                needs_flush = 1;
            free(x->st.failed_idx);
            x->st.failed_idx = f;
        }
    }
    final = x->fin;
    if (x->fin.set && strcmp(x->fin.type, "FailureTarget") == 0) {
        /* The interim condition is written before any finalizer goes. */
        cJSON_AddItemToArray(x->st.conds,
                             cond_new("FailureTarget", "True", x->fin.reason, x->fin.msg, x->ts));
        needs_flush = 1;
        sim_strlcpy(final.type, "Failed", sizeof(final.type));
    }
    if (x->fin.set && strcmp(x->fin.type, "SuccessCriteriaMet") == 0) {
        if (!cond_is_true(x->st.conds, "SuccessCriteriaMet")) {
            cJSON_AddItemToArray(x->st.conds, cond_new("SuccessCriteriaMet", "True", x->fin.reason,
                                                       x->fin.msg, x->ts));
            needs_flush = 1;
        }
        sim_strlcpy(final.type, "Complete", sizeof(final.type));
    }
    /* flushUncountedAndRemoveFinalizers */
    if (needs_flush) {
        if (flush_status(x) != 0)
            goto out;
        x->rec->failures = x->nb_failures;
        x->rec->last_failure_ms = x->nb_last_ms;
        x->rec->have_last_failure = x->nb_have_last;
        needs_flush = 0;
    }
    for (size_t i = 0; i < nrmfin; i++) {
        if (remove_finalizer(x->srv, x->ns, rmfin[i]->name) == 0)
            strset_remove(&with_fin, rmfin[i]->uid);
    }
    if (clean_uncounted(x, &with_fin))
        needs_flush = 1;
    /* enactJobFinished */
    if (!reached_max && final.set && x->st.unc_s.n == 0 && x->st.unc_f.n == 0 &&
        x->st.terminating == 0) {
        cond_ensure(x->st.conds, final.type, "True", final.reason, final.msg, x->ts);
        if (strcmp(final.type, "Complete") == 0)
            sim_strlcpy(x->st.completion, x->ts, sizeof(x->st.completion));
        finished = 1;
        needs_flush = 1;
    }
    if (needs_flush && flush_status(x) == 0 && finished) {
        if (strcmp(final.type, "Complete") == 0) {
            if (x->completions >= 0 && x->st.succeeded > x->completions)
                job_event(x, "Warning", "TooManySucceededPods",
                          "Too many succeeded pods running after completion count reached");
            job_event(x, "Normal", "Completed", "Job completed");
        } else {
            job_event(x, "Warning", final.reason, "%s", final.msg);
        }
    }
out:
    strset_free(&with_fin);
    free(order);
    free(rmfin);
    free(new_succ_ix);
}

/* A finished Job: the TTL-after-finished controller's part. */
static void finished_job(struct jctx *x)
{
    const cJSON *ttl = sim_jget(x->job, "spec", "ttlSecondsAfterFinished", NULL);
    const cJSON *c;
    int64_t fin_ms = -1, expire;
    char path[600];
    cJSON *opts, *pre;
    x->rec->failures = 0;
    x->rec->have_last_failure = 0;
    if (!cJSON_IsNumber(ttl) || sim_jget(x->job, "metadata", "deletionTimestamp", NULL))
        return;
    cJSON_ArrayForEach(c, sim_jget(x->job, "status", "conditions", NULL))
    {
        const char *t = sim_jstr(c, "type", NULL), *s = sim_jstr(c, "status", NULL);
        if (t && s && (strcmp(t, "Complete") == 0 || strcmp(t, "Failed") == 0) &&
            strcmp(s, "True") == 0)
            fin_ms = ts_ms(sim_jstr(c, "lastTransitionTime", NULL));
    }
    if (fin_ms < 0)
        return;
    expire = fin_ms + (int64_t)ttl->valuedouble * 1000;
    if (x->now < expire) {
        due_at(&x->due, expire);
        return;
    }
    /* Background propagation, guarded by the version just read. */
    opts = cJSON_CreateObject();
    if (!opts)
        return;
    cJSON_AddStringToObject(opts, "kind", "DeleteOptions");
    cJSON_AddStringToObject(opts, "apiVersion", "v1");
    cJSON_AddStringToObject(opts, "propagationPolicy", "Background");
    pre = cJSON_AddObjectToObject(opts, "preconditions");
    if (pre && sim_jstr(x->job, "metadata", "resourceVersion", NULL))
        cJSON_AddStringToObject(pre, "resourceVersion",
                                sim_jstr(x->job, "metadata", "resourceVersion", NULL));
    snprintf(path, sizeof(path), "/apis/batch/v1/namespaces/%s/jobs/%s", x->ns, x->name);
    sim_internal_call(x->srv, "DELETE", path, opts, NULL, NULL);
    cJSON_Delete(opts);
}

static int collect_pods(struct jctx *x)
{
    struct sim_coll *c = sim_store_coll(x->srv->store, "", "pods", 0);
    size_t b = 0, e = 0, cap = 0;
    if (!c)
        return 0;
    sim_coll_range(c, x->ns, &b, &e);
    for (size_t i = b; i < e; i++) {
        const cJSON *ref = controller_ref(c->v[i]->json);
        const char *ruid = sim_jstr(ref, "uid", NULL);
        if (!ruid || strcmp(ruid, x->uid) != 0)
            continue;
        if (x->npods == cap) {
            size_t nc = cap ? cap * 2 : 8;
            struct jpod *nv = realloc(x->pods, nc * sizeof(*nv));
            if (!nv)
                return -1;
            x->pods = nv;
            cap = nc;
        }
        memset(&x->pods[x->npods], 0, sizeof(x->pods[0]));
        x->pods[x->npods].obj = cJSON_Duplicate(c->v[i]->json, 1);
        if (!x->pods[x->npods].obj)
            return -1;
        pod_fill(&x->pods[x->npods]);
        x->npods++;
    }
    return 0;
}

static void ctx_free(struct jctx *x)
{
    for (size_t i = 0; i < x->npods; i++)
        cJSON_Delete(x->pods[i].obj);
    free(x->pods);
    free(x->act);
    free(x->delayed);
    ivs_free(&x->prev_succ);
    ivs_free(&x->succ);
    ivs_free(&x->failed_ix);
    status_free(&x->st);
    cJSON_Delete(x->job);
    cJSON_Delete(x->spec);
}

/* syncJob for one Job; returns its next timer (wall ms) or 0. */
static int64_t sync_job(struct sim_server *srv, struct sim_jobs *m, const cJSON *stored,
                        int64_t now)
{
    struct jctx x;
    struct strset prev_unc_s = {0}, prev_unc_f = {0};
    struct jpod **new_s = NULL, **new_f = NULL;
    size_t nns = 0, nnf = 0;
    char key[520];
    const char *s, *mb;
    int needs_flush = 0, manage_called = 0;
    long active;

    memset(&x, 0, sizeof(x));
    x.srv = srv;
    x.m = m;
    x.now = now;
    sim_rfc3339(now / 1000, x.ts);
    x.job = cJSON_Duplicate(stored, 1);
    x.spec = cJSON_Duplicate(sim_jget(stored, "spec", NULL), 1);
    if (!x.job || !x.spec)
        goto out;
    sim_strlcpy(x.ns, str_or(sim_jstr(stored, "metadata", "namespace", NULL)), sizeof(x.ns));
    sim_strlcpy(x.name, str_or(sim_jstr(stored, "metadata", "name", NULL)), sizeof(x.name));
    sim_strlcpy(x.uid, str_or(sim_jstr(stored, "metadata", "uid", NULL)), sizeof(x.uid));
    snprintf(key, sizeof(key), "%s/%s", x.ns, x.name);
    x.rec = rec_get(m, key);
    if (!x.rec)
        goto out;
    x.rec->seen = 1;
    if (job_finished(x.job)) {
        finished_job(&x);
        goto out;
    }
    mb = sim_jstr(x.spec, "managedBy", NULL);
    if (mb && strcmp(mb, MANAGED_BY_US) != 0)
        goto out;
    s = sim_jstr(x.spec, "completionMode", NULL);
    if (s && strcmp(s, "NonIndexed") != 0 && strcmp(s, "Indexed") != 0)
        goto out;
    x.indexed = s && strcmp(s, "Indexed") == 0;
    x.completions = num_or(sim_jget(x.spec, "completions", NULL), -1);
    if (x.indexed && x.completions < 0)
        goto out; /* the API refuses that; nothing sensible to do */
    x.parallelism = num_or(sim_jget(x.spec, "parallelism", NULL), 1);
    x.backoff_limit = num_or(sim_jget(x.spec, "backoffLimit", NULL), 6);
    x.blpi = x.indexed ? num_or(sim_jget(x.spec, "backoffLimitPerIndex", NULL), -1) : -1;
    x.max_failed_idx = num_or(sim_jget(x.spec, "maxFailedIndexes", NULL), -1);
    x.suspended = cJSON_IsTrue(sim_jget(x.spec, "suspend", NULL));
    x.pfp = sim_jget(x.spec, "podFailurePolicy", NULL);
    if (cJSON_IsNull(x.pfp))
        x.pfp = NULL;
    s = sim_jstr(x.spec, "podReplacementPolicy", NULL);
    x.only_failed = (s && strcmp(s, "Failed") == 0) || x.pfp != NULL;
    x.deleting_job = sim_jget(x.job, "metadata", "deletionTimestamp", NULL) != NULL;

    if (status_read(x.job, &x.st) != 0)
        goto out;
    for (size_t i = 0; i < x.st.unc_s.n; i++)
        if (strset_add(&prev_unc_s, x.st.unc_s.v[i]) != 0)
            goto out;
    for (size_t i = 0; i < x.st.unc_f.n; i++)
        if (strset_add(&prev_unc_f, x.st.unc_f.v[i]) != 0)
            goto out;
    if (collect_pods(&x) != 0)
        goto out;
    x.act = calloc(x.npods + 1, sizeof(*x.act));
    new_s = calloc(x.npods + 1, sizeof(*new_s));
    new_f = calloc(x.npods + 1, sizeof(*new_f));
    if (!x.act || !new_s || !new_f)
        goto out;
    for (size_t i = 0; i < x.npods; i++) {
        struct jpod *p = &x.pods[i];
        if (pod_active(p)) {
            x.act[x.nact++] = p;
            if (p->ready)
                x.ready++;
        }
        if (pod_terminating(p))
            x.terminating++;
        /* getNewFinishedPods: counted neither in status nor as uncounted. */
        if (!p->fin || !valid_index(&x, p))
            continue;
        if (p->phase == PH_SUCCEEDED && !strset_has(&prev_unc_s, p->uid))
            new_s[nns++] = p;
        else if (is_pod_failed(&x, p) && !strset_has(&prev_unc_f, p->uid))
            new_f[nnf++] = p;
    }
    active = (long)x.nact;
    x.succeeded = x.st.succeeded + (long)nns + (long)prev_unc_s.n;
    x.failed = x.st.failed + (long)prev_unc_f.n;
    for (size_t i = 0; i < nnf; i++) {
        struct pfp_match pm;
        pfp_match(x.pfp, new_f[i], x.ns, &pm);
        x.failed += pm.count;
    }
    if (!x.st.start[0] && !x.suspended)
        sim_strlcpy(x.st.start, x.ts, sizeof(x.st.start));
    new_backoff_record(&x, new_s, nns, new_f, nnf);

    if (cond_is_true(x.st.conds, "SuccessCriteriaMet")) {
        const cJSON *c = sim_cond_find(x.st.conds, "SuccessCriteriaMet");
        set_fin(&x.fin, "SuccessCriteriaMet", sim_jstr(c, "reason", NULL),
                sim_jstr(c, "message", NULL));
    } else if (cond_is_true(x.st.conds, "FailureTarget")) {
        const cJSON *c = sim_cond_find(x.st.conds, "FailureTarget");
        set_fin(&x.fin, "Failed", sim_jstr(c, "reason", NULL), sim_jstr(c, "message", NULL));
    } else if (x.pfp) {
        for (size_t i = 0; i < x.npods && !x.fin.set; i++) {
            struct pfp_match pm;
            if (!is_pod_failed(&x, &x.pods[i]))
                continue;
            pfp_match(x.pfp, &x.pods[i], x.ns, &pm);
            if (pm.action == PFP_FAIL_JOB)
                set_fin(&x.fin, "FailureTarget", "PodFailurePolicy", pm.msg);
        }
    }
    if (!x.fin.set) {
        long ads = num_or(sim_jget(x.spec, "activeDeadlineSeconds", NULL), -1);
        int64_t start = ts_ms(x.st.start);
        if (x.failed > x.backoff_limit || past_backoff_on_failure(&x)) {
            set_fin(&x.fin, "FailureTarget", "BackoffLimitExceeded",
                    "Job has reached the specified backoff limit");
        } else if (ads >= 0 && start >= 0 && !x.suspended && now - start >= ads * 1000) {
            set_fin(&x.fin, "FailureTarget", "DeadlineExceeded",
                    "Job was active longer than specified deadline");
        } else if (ads >= 0 && start >= 0 && !x.suspended) {
            due_at(&x.due, start + ads * 1000);
        }
    }
    if (x.indexed) {
        long *ix = calloc(x.npods + 1, sizeof(*ix));
        const struct ivs none = {0};
        size_t n = 0;
        if (!ix || ivs_parse(&x.prev_succ, x.st.completed, x.completions) != 0 ||
            ivs_merge(&x.prev_succ, &none, &x.succ) != 0) {
            free(ix);
            goto out;
        }
        for (size_t i = 0; i < x.npods; i++) {
            const struct jpod *p = &x.pods[i];
            if (p->phase == PH_SUCCEEDED && p->fin && valid_index(&x, p))
                ix[n++] = p->index;
        }
        if (ivs_add(&x.succ, ix, n) != 0) {
            free(ix);
            goto out;
        }
        x.succeeded = ivs_total(&x.succ);
        if (x.blpi >= 0) {
            x.has_failed_ix = 1;
            if (ivs_parse(&x.failed_ix, x.st.failed_idx ? x.st.failed_idx : "", x.completions) !=
                0) {
                free(ix);
                goto out;
            }
            n = 0;
            for (size_t i = 0; i < x.npods; i++) {
                const struct jpod *p = &x.pods[i];
                if (p->fin && valid_index(&x, p) && index_failed(&x, p))
                    ix[n++] = p->index;
            }
            if (ivs_add(&x.failed_ix, ix, n) != 0) {
                free(ix);
                goto out;
            }
            if (!x.fin.set) {
                long nf = ivs_total(&x.failed_ix);
                if (x.max_failed_idx >= 0 && nf > x.max_failed_idx)
                    set_fin(&x.fin, "FailureTarget", "MaxFailedIndexesExceeded",
                            "Job has exceeded the specified maximal number of failed indexes");
                else if (nf > 0 && nf + ivs_total(&x.succ) >= x.completions)
                    set_fin(&x.fin, "FailureTarget", "FailedIndexes", "Job has failed indexes");
            }
            if (compute_delayed(&x) != 0) {
                free(ix);
                goto out;
            }
        }
        free(ix);
    }
    if (x.fin.set) {
        /* deleteActivePods: DELETE only; the finalizers go below. */
        long deleted = 0, deleted_ready = 0;
        for (size_t i = 0; i < x.nact; i++) {
            if (delete_pod(&x, x.act[i]) == 0) {
                deleted++;
                if (x.act[i]->ready)
                    deleted_ready++;
            }
        }
        if (deleted != active)
            x.fin.set = 0;
        active -= deleted;
        x.terminating += deleted;
        x.ready -= deleted_ready;
    } else {
        int complete;
        if (!x.deleting_job) {
            active = manage_job(&x);
            manage_called = 1;
        }
        if (x.completions < 0)
            complete = x.succeeded > 0 && active == 0;
        else
            complete = x.succeeded >= x.completions && active == 0;
        if (complete) {
            set_fin(&x.fin, "SuccessCriteriaMet", "CompletionsReached",
                    "Reached expected number of succeeded pods");
        } else if (manage_called && x.suspended) {
            if (cond_ensure(x.st.conds, "Suspended", "True", "JobSuspended", "Job suspended",
                            x.ts)) {
                needs_flush = 1;
                job_event(&x, "Normal", "Suspended", "Job suspended");
            }
        } else if (manage_called) {
            if (cond_ensure(x.st.conds, "Suspended", "False", "JobResumed", "Job resumed", x.ts)) {
                needs_flush = 1;
                job_event(&x, "Normal", "Resumed", "Job resumed");
                /* activeDeadlineSeconds counts from the resume. */
                sim_strlcpy(x.st.start, x.ts, sizeof(x.st.start));
            }
        }
    }
    if (active != x.st.active || x.ready != x.st.ready ||
        !cJSON_IsNumber(sim_jget(x.job, "status", "ready", NULL)) ||
        x.terminating != x.st.terminating ||
        !cJSON_IsNumber(sim_jget(x.job, "status", "terminating", NULL)))
        needs_flush = 1;
    x.st.active = active;
    x.st.ready = x.ready;
    x.st.terminating = x.terminating;
    track_status(&x, needs_flush, &prev_unc_s, &prev_unc_f);
out : {
    int64_t due = x.due;
    strset_free(&prev_unc_s);
    strset_free(&prev_unc_f);
    free(new_s);
    free(new_f);
    ctx_free(&x);
    return due;
}
}

/* syncOrphanPod: a pod that still carries the tracking finalizer but whose
 * Job is gone, replaced or finished loses the finalizer, so a deleted Job's
 * pods (or orphaned ones) are not kept forever. */
static void fix_orphans(struct sim_server *srv)
{
    struct sim_coll *pods = sim_store_coll(srv->store, "", "pods", 0);
    struct sim_coll *jobs = sim_store_coll(srv->store, "batch", "jobs", 0);
    char(*todo)[2][256] = NULL;
    size_t n = 0;
    if (!pods)
        return;
    todo = calloc(MAX_ORPHAN_FIXES_PER_TICK, sizeof(*todo));
    if (!todo)
        return;
    for (size_t i = 0; i < pods->n && n < MAX_ORPHAN_FIXES_PER_TICK; i++) {
        const cJSON *pod = pods->v[i]->json, *ref;
        const struct sim_obj *job;
        const char *kind, *api, *rname, *ruid, *juid;
        if (!str_in_array(sim_jget(pod, "metadata", "finalizers", NULL), TRACKING_FINALIZER))
            continue;
        ref = controller_ref(pod);
        if (ref) {
            kind = sim_jstr(ref, "kind", NULL);
            api = sim_jstr(ref, "apiVersion", NULL);
            rname = sim_jstr(ref, "name", NULL);
            ruid = sim_jstr(ref, "uid", NULL);
            if (!kind || !api || strcmp(kind, "Job") != 0 || strcmp(api, "batch/v1") != 0)
                continue; /* not ours to touch */
            job = jobs && rname ? sim_coll_get(jobs, pods->v[i]->ns, rname) : NULL;
            juid = job ? sim_jstr(job->json, "metadata", "uid", NULL) : NULL;
            if (job && juid && ruid && strcmp(juid, ruid) == 0 && !job_finished(job->json))
                continue; /* its Job's sync takes care of it */
        }
        sim_strlcpy(todo[n][0], pods->v[i]->ns, sizeof(todo[n][0]));
        sim_strlcpy(todo[n][1], pods->v[i]->name, sizeof(todo[n][1]));
        n++;
    }
    for (size_t i = 0; i < n; i++)
        remove_finalizer(srv, todo[i][0], todo[i][1]);
    free(todo);
}

struct sim_jobs *sim_jobs_new(void)
{
    return calloc(1, sizeof(struct sim_jobs));
}

void sim_jobs_free(struct sim_jobs *m)
{
    if (!m)
        return;
    free(m->recs);
    free(m);
}

void sim_jobs_tick(struct sim_server *srv, struct sim_jobs *m)
{
    int64_t now = wall_ms();
    uint64_t rv = sim_store_rv(srv->store);
    struct sim_coll *jobs;
    size_t begin, done = 0;
    long base = sim_wl_int(srv, 10000, "jobs", "backoffBaseMs", NULL);
    long max = sim_wl_int(srv, 600000, "jobs", "backoffMaxMs", NULL);
    if (!m->pass_open) {
        /* A changed back-off knob moves every timer: look again at once. */
        if (rv == m->synced_rv && (m->next_due_ms == 0 || now < m->next_due_ms) &&
            base == m->knob_base && max == m->knob_max)
            return;
        m->knob_base = base;
        m->knob_max = max;
        m->pass_open = 1;
        m->pass_rv = rv;
        m->pass_due_ms = 0;
        m->cursor_ns[0] = m->cursor_name[0] = '\0';
        begin = 0;
    } else {
        jobs = sim_store_coll(srv->store, "batch", "jobs", 0);
        begin = jobs ? sim_coll_after(jobs, m->cursor_ns, m->cursor_name) : 0;
    }
    for (;;) {
        const struct sim_obj *o;
        cJSON *copy;
        int64_t due;
        /* Writes reshape the store: look the collection up again each time. */
        jobs = sim_store_coll(srv->store, "batch", "jobs", 0);
        if (!jobs || begin >= jobs->n)
            break;
        if (done == MAX_JOBS_PER_TICK)
            return; /* the pass goes on at the next tick */
        o = jobs->v[begin];
        sim_strlcpy(m->cursor_ns, o->ns, sizeof(m->cursor_ns));
        sim_strlcpy(m->cursor_name, o->name, sizeof(m->cursor_name));
        copy = cJSON_Duplicate(o->json, 1);
        if (copy) {
            due = sync_job(srv, m, copy, now);
            due_at(&m->pass_due_ms, due);
            cJSON_Delete(copy);
        }
        done++;
        jobs = sim_store_coll(srv->store, "batch", "jobs", 0);
        begin = jobs ? sim_coll_after(jobs, m->cursor_ns, m->cursor_name) : 0;
    }
    fix_orphans(srv);
    rec_sweep(m);
    m->pass_open = 0;
    m->synced_rv = m->pass_rv;
    m->next_due_ms = m->pass_due_ms;
}
