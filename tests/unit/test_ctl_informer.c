/*
 * Informers (controller/ctl_informer.c) against the API simulator, with the
 * fake clock wherever time matters (backoff, resync), so every delay is
 * asserted exactly and nothing sleeps for timing (the polls below only wait
 * for the informer's threads to get somewhere).
 *
 * Each handler call is recorded per object as "A:v", "U:old->new", "D:v"
 * ("R:v" for a resync), v being the ConfigMap's data.v, so the tests assert
 * the exact sequence every key saw: nothing lost, nothing doubled.
 *
 * Proved here: the cache follows creates/updates/deletes and returns deep
 * copies, with lookups by namespace, label and owner; a forced 410 (watch
 * cut while the history overflows) relists and delivers exactly the
 * differences, including a delete+recreate under one name; watch cuts, 500s
 * and 429s are survived by re-watching from the last resourceVersion with
 * the backoff 0.8 s doubling to 30 s (Retry-After honoured, reset after 2 min
 * of health) and exactly one request per backoff step, never a relist;
 * BOOKMARKs move the resume point (a re-watch after the history moved on
 * needs no relist); namespace scoping; PartialObjectMetadata for Secrets;
 * periodic resync; stop while watching or backing off.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl_clock.h"
#include "ctl_informer.h"
#include "ctl_mapper.h"
#include "ctl_workqueue.h"
#include "k8s_client.h"
#include "k8s_config.h"
#include "kubesim_harness.h"

static const struct k8s_resource CONFIGMAPS = {"", "v1", "configmaps", 1};
static const struct k8s_resource SECRETS = {"", "v1", "secrets", 1};

#define T0 1800000000000LL /* the fake clock's wall start */

/* ---- helpers ---------------------------------------------------------------- */

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Polls `cond` every 5 ms for up to 30 s (synchronisation, not timing). */
#define WAIT_FOR(cond, what)                                                                       \
    do {                                                                                           \
        int ok_ = 0;                                                                               \
        for (int i_ = 0; i_ < 6000; i_++) {                                                        \
            if (cond) {                                                                            \
                ok_ = 1;                                                                           \
                break;                                                                             \
            }                                                                                      \
            sleep_ms(5);                                                                           \
        }                                                                                          \
        if (!ok_)                                                                                  \
            fail_msg("timed out waiting for %s", what);                                            \
    } while (0)

struct recorder {
    pthread_mutex_t mu;
    cJSON *log; /* {"ns/name": ["A:1", "U:1->2", ...]} */
    unsigned long n;
    int overlap, active; /* handler calls never overlap */
};

static const char *val(const cJSON *obj)
{
    const cJSON *v =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, "data"), "v");
    return cJSON_IsString(v) ? v->valuestring : "-";
}

static void record(enum ctl_event_type type, const cJSON *old, const cJSON *obj, void *user)
{
    struct recorder *r = user;
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const cJSON *ns = cJSON_GetObjectItemCaseSensitive(md, "namespace");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(md, "name");
    char key[256], ev[128];
    snprintf(key, sizeof(key), "%s/%s", cJSON_IsString(ns) ? ns->valuestring : "",
             cJSON_IsString(name) ? name->valuestring : "?");
    switch (type) {
    case CTL_EV_ADD:
        snprintf(ev, sizeof(ev), "A:%s%s", val(obj), old ? "(old!)" : "");
        break;
    case CTL_EV_UPDATE:
        if (old == obj)
            snprintf(ev, sizeof(ev), "R:%s", val(obj));
        else
            snprintf(ev, sizeof(ev), "U:%s->%s", val(old), val(obj));
        break;
    case CTL_EV_DELETE:
        snprintf(ev, sizeof(ev), "D:%s", val(obj));
        break;
    }
    pthread_mutex_lock(&r->mu);
    if (r->active++)
        r->overlap = 1;
    cJSON *arr = cJSON_GetObjectItemCaseSensitive(r->log, key);
    if (!arr)
        arr = cJSON_AddArrayToObject(r->log, key);
    cJSON_AddItemToArray(arr, cJSON_CreateString(ev));
    r->n++;
    r->active--;
    pthread_mutex_unlock(&r->mu);
}

static unsigned long rec_count(struct recorder *r)
{
    pthread_mutex_lock(&r->mu);
    unsigned long n = r->n;
    pthread_mutex_unlock(&r->mu);
    return n;
}

/* Asserts the exact comma-joined sequence `key` saw ("" for none). */
static void assert_seq(struct recorder *r, const char *key, const char *want)
{
    char got[1024] = "";
    size_t n = 0;
    const cJSON *it;
    pthread_mutex_lock(&r->mu);
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(r->log, key))
    {
        n += (size_t)snprintf(got + n, n < sizeof(got) ? sizeof(got) - n : 0, "%s%s", n ? "," : "",
                              it->valuestring);
    }
    pthread_mutex_unlock(&r->mu);
    if (strcmp(got, want) != 0)
        fail_msg("%s saw \"%s\", want \"%s\"", key, got, want);
}

struct fx {
    struct kubesim *sim;
    struct k8s_client *c;
    struct ctl_clock *clock;
    struct ctl_informer *inf;
    struct recorder rec;
};

static void fx_start(struct fx *f, const char *const *simargs)
{
    struct kubesim_opts o = {.exit_after_seconds = 300};
    struct k8s_config *cfg = NULL;
    struct k8s_error err;
    memset(f, 0, sizeof(*f));
    for (int i = 0; simargs && simargs[i]; i++)
        o.extra_args[i] = simargs[i];
    assert_int_equal(kubesim_start(&o, &f->sim), 0);
    if (k8s_config_from_kubeconfig(kubesim_kubeconfig(f->sim), NULL, &cfg, &err) != 0)
        fail_msg("kubeconfig: %s", err.message);
    cfg->qps = 1000;
    cfg->burst = 1000;
    assert_int_equal(k8s_client_new(cfg, &f->c, &err), 0);
    k8s_config_free(cfg);
    for (int i = 1; i <= 3; i++) {
        static const struct k8s_resource NAMESPACES = {"", "v1", "namespaces", 0};
        char json[128];
        cJSON *ns, *out = NULL;
        snprintf(json, sizeof(json),
                 "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\","
                 "\"metadata\":{\"name\":\"ns%d\"}}",
                 i);
        ns = cJSON_Parse(json);
        if (k8s_create(f->c, &NAMESPACES, NULL, ns, NULL, &out, &err) != 0)
            fail_msg("namespace: %s", err.message);
        cJSON_Delete(ns);
        cJSON_Delete(out);
    }
    f->clock = ctl_clock_new_fake(T0);
    pthread_mutex_init(&f->rec.mu, NULL);
    f->rec.log = cJSON_CreateObject();
}

/* Creates and starts the informer with the recorder (and an optional second
 * handler), and waits for its first list. */
static void fx_informer2(struct fx *f, const struct ctl_informer_options *o,
                         ctl_informer_handler extra, void *extra_user)
{
    struct k8s_error err;
    if (ctl_informer_new(f->c, f->clock, o, &f->inf, &err) != 0)
        fail_msg("informer: %s", err.message);
    assert_int_equal(ctl_informer_add_handler(f->inf, record, &f->rec), 0);
    if (extra)
        assert_int_equal(ctl_informer_add_handler(f->inf, extra, extra_user), 0);
    assert_int_equal(ctl_informer_start(f->inf), 0);
    WAIT_FOR(ctl_informer_has_synced(f->inf), "the first list");
}

static void fx_informer(struct fx *f, const struct ctl_informer_options *o)
{
    fx_informer2(f, o, NULL, NULL);
}

static void fx_stop(struct fx *f)
{
    ctl_informer_free(f->inf);
    assert_int_equal(f->rec.overlap, 0);
    cJSON_Delete(f->rec.log);
    pthread_mutex_destroy(&f->rec.mu);
    ctl_clock_free(f->clock);
    k8s_client_free(f->c);
    kubesim_stop(f->sim);
}

static void stats(struct fx *f, struct ctl_informer_stats *st)
{
    ctl_informer_get_stats(f->inf, st);
}

static unsigned long st_backoffs(struct fx *f)
{
    struct ctl_informer_stats st;
    stats(f, &st);
    return st.backoffs;
}

static void faults(struct fx *f, const char *json)
{
    long code = kubesim_admin(f->sim, "POST", "/__admin/faults", json, NULL);
    if (code < 200 || code > 299)
        fail_msg("faults %s: HTTP %ld", json, code);
}

/* Counts recorded requests with this verb on exactly this path. */
static int count_requests(struct fx *f, const char *verb, const char *path, int code)
{
    char *body = NULL;
    long st = kubesim_admin(f->sim, "GET", "/__admin/requests", NULL, &body);
    int n = 0;
    assert_int_equal(st, 200);
    cJSON *j = cJSON_Parse(body);
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(j, "items"))
    {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(it, "verb");
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(it, "path");
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(it, "code");
        if (cJSON_IsString(v) && strcmp(v->valuestring, verb) == 0 && cJSON_IsString(p) &&
            strcmp(p->valuestring, path) == 0 && (code == 0 || (int)c->valuedouble == code))
            n++;
    }
    cJSON_Delete(j);
    free(body);
    return n;
}

/*
 * The simulator's h2 transport can still end a request with curl error 18
 * ("stream was not closed cleanly"): writes are retried, and a retry that
 * finds its first attempt applied (AlreadyExists, NotFound) counts as done.
 */
#define ATTEMPTS 5

static void cm_create(struct fx *f, const char *ns, const char *name, const char *v,
                      const char *extra_meta, char *uid, size_t uid_cap)
{
    char json[1024];
    cJSON *obj, *out = NULL;
    struct k8s_error err;
    int rc = 0;
    snprintf(json, sizeof(json),
             "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"%s\","
             "\"namespace\":\"%s\"%s%s},\"data\":{\"v\":\"%s\"}}",
             name, ns, extra_meta ? "," : "", extra_meta ? extra_meta : "", v);
    obj = cJSON_Parse(json);
    assert_non_null(obj);
    for (int i = 0; i < ATTEMPTS; i++) {
        rc = k8s_create(f->c, &CONFIGMAPS, ns, obj, NULL, &out, &err);
        if (rc == K8S_EALREADYEXISTS && i > 0) {
            rc = k8s_get(f->c, &CONFIGMAPS, ns, name, NULL, &out, &err);
            break;
        }
        if (rc != K8S_ETRANSPORT && rc != K8S_EDISCONNECTED)
            break;
    }
    if (rc != 0)
        fail_msg("create %s/%s: %s", ns, name, err.message);
    if (uid) {
        const char *u = cJSON_GetObjectItemCaseSensitive(
                            cJSON_GetObjectItemCaseSensitive(out, "metadata"), "uid")
                            ->valuestring;
        snprintf(uid, uid_cap, "%s", u);
    }
    cJSON_Delete(obj);
    cJSON_Delete(out);
}

static void cm_set(struct fx *f, const char *ns, const char *name, const char *v)
{
    char json[256];
    cJSON *patch, *out = NULL;
    struct k8s_error err;
    int rc = 0;
    snprintf(json, sizeof(json), "{\"data\":{\"v\":\"%s\"}}", v);
    patch = cJSON_Parse(json);
    for (int i = 0; i < ATTEMPTS; i++) {
        rc = k8s_patch(f->c, &CONFIGMAPS, ns, name, K8S_PATCH_MERGE, patch, NULL, &out, &err);
        if (rc != K8S_ETRANSPORT && rc != K8S_EDISCONNECTED)
            break;
    }
    if (rc != 0)
        fail_msg("patch %s/%s: %s", ns, name, err.message);
    cJSON_Delete(patch);
    cJSON_Delete(out);
}

static void cm_delete(struct fx *f, const char *ns, const char *name)
{
    struct k8s_error err;
    int rc = 0;
    for (int i = 0; i < ATTEMPTS; i++) {
        rc = k8s_delete(f->c, &CONFIGMAPS, ns, name, NULL, NULL, NULL, &err);
        if (rc == K8S_ENOTFOUND && i > 0) {
            rc = 0;
            break;
        }
        if (rc != K8S_ETRANSPORT && rc != K8S_EDISCONNECTED)
            break;
    }
    if (rc != 0)
        fail_msg("delete %s/%s: %s", ns, name, err.message);
}

/* Waits until the informer is blocked in a backoff wait (its n-th), and
 * returns the delay it chose, checked against the fake clock's view. */
static int64_t wait_backoff(struct fx *f, unsigned long n)
{
    struct ctl_informer_stats st;
    int64_t next = 0;
    WAIT_FOR(st_backoffs(f) >= n && ctl_fake_clock_waiters(f->clock, &next) == 1,
             "the informer's backoff");
    stats(f, &st);
    assert_int_equal(st.backoffs, n);
    assert_int_equal(next - ctl_clock_mono_ms(f->clock), st.last_backoff_ms);
    return st.last_backoff_ms;
}

/* ---- tests --------------------------------------------------------------------- */

static void cache_follows_creates_updates_deletes(void **state)
{
    (void)state;
    struct fx f;
    fx_start(&f, NULL);
    char uid[64], meta[512];
    cm_create(&f, "ns1", "a", "1", "\"labels\":{\"app\":\"web\"}", uid, sizeof(uid));
    /* b is owned by a (a real owner: the simulator collects orphans). */
    snprintf(meta, sizeof(meta),
             "\"labels\":{\"app\":\"db\"},\"ownerReferences\":[{\"apiVersion\":\"v1\","
             "\"kind\":\"ConfigMap\",\"name\":\"a\",\"uid\":\"%s\"}]",
             uid);
    cm_create(&f, "ns1", "b", "1", meta, NULL, 0);
    cm_create(&f, "ns2", "c", "1", NULL, NULL, 0);
    struct ctl_informer_options o = {.resource = CONFIGMAPS};
    /* The owner mapping on the same events: b's changes requeue a. */
    struct ctl_workqueue *q = ctl_wq_new(f.clock, NULL);
    struct ctl_owner_map om = {.spec = {.group = "", .kind = "ConfigMap", .key_kind = "cm"},
                               .q = q};
    fx_informer2(&f, &o, ctl_owner_handler, &om);
    WAIT_FOR(rec_count(&f.rec) == 3, "3 ADDs");
    WAIT_FOR(ctl_wq_len(q) == 1, "the owner's key");
    char *owner = ctl_wq_get(q);
    assert_string_equal(owner, "cm/ns1/a"); /* from b's ADD */
    ctl_wq_done(q, owner);
    free(owner);

    /* Reads are deep copies: changing one changes nothing cached. */
    cJSON *a = ctl_informer_get(f.inf, "ns1", "a");
    assert_non_null(a);
    assert_string_equal(val(a), "1");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(a, "kind")->valuestring, "ConfigMap");
    cJSON_ReplaceItemInObject(cJSON_GetObjectItemCaseSensitive(a, "data"), "v",
                              cJSON_CreateString("changed"));
    cJSON_Delete(a);
    a = ctl_informer_get(f.inf, "ns1", "a");
    assert_string_equal(val(a), "1");
    cJSON_Delete(a);
    assert_null(ctl_informer_get(f.inf, "ns1", "c"));
    assert_int_equal(ctl_informer_len(f.inf), 3);

    cJSON *l = ctl_informer_list(f.inf, "ns1", NULL, NULL);
    assert_int_equal(cJSON_GetArraySize(l), 2);
    cJSON_Delete(l);
    l = ctl_informer_list(f.inf, NULL, "app in (web,db)", NULL);
    assert_int_equal(cJSON_GetArraySize(l), 2);
    cJSON_Delete(l);
    l = ctl_informer_list(f.inf, NULL, "app=db", uid);
    assert_int_equal(cJSON_GetArraySize(l), 1);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(
                            cJSON_GetObjectItemCaseSensitive(l->child, "metadata"), "name")
                            ->valuestring,
                        "b");
    cJSON_Delete(l);
    l = ctl_informer_list(f.inf, NULL, NULL, "no-such-uid");
    assert_int_equal(cJSON_GetArraySize(l), 0);
    cJSON_Delete(l);
    assert_null(ctl_informer_list(f.inf, NULL, "a b", NULL)); /* bad selector */

    cm_set(&f, "ns1", "a", "2");
    cm_create(&f, "ns2", "d", "1", NULL, NULL, 0);
    cm_delete(&f, "ns1", "b");
    cm_set(&f, "ns2", "c", "2");
    cm_set(&f, "ns2", "c", "3");
    cm_delete(&f, "ns2", "c");
    WAIT_FOR(rec_count(&f.rec) == 9, "6 more events");
    sleep_ms(200); /* and nothing more */
    assert_int_equal(rec_count(&f.rec), 9);
    assert_seq(&f.rec, "ns1/a", "A:1,U:1->2");
    assert_seq(&f.rec, "ns1/b", "A:1,D:1");
    assert_seq(&f.rec, "ns2/c", "A:1,U:1->2,U:2->3,D:3");
    assert_seq(&f.rec, "ns2/d", "A:1");
    assert_int_equal(ctl_informer_len(f.inf), 2);
    /* b's deletion requeued its owner. */
    assert_int_equal(ctl_wq_len(q), 1);
    owner = ctl_wq_get(q);
    assert_string_equal(owner, "cm/ns1/a");
    ctl_wq_done(q, owner);
    free(owner);
    /* The owner index forgot the deleted object. */
    l = ctl_informer_list(f.inf, NULL, NULL, uid);
    assert_int_equal(cJSON_GetArraySize(l), 0);
    cJSON_Delete(l);

    struct ctl_informer_stats st;
    stats(&f, &st);
    assert_int_equal(st.lists, 1);
    assert_int_equal(st.relists, 0);
    assert_int_equal(st.events, 6);
    assert_int_equal(st.delivered, 9);
    assert_int_equal(st.objects, 2);
    /* Handlers are refused once started. */
    assert_int_equal(ctl_informer_add_handler(f.inf, record, &f.rec), K8S_EARG);
    ctl_informer_stop(f.inf); /* no handler call after this: q can go */
    ctl_wq_shutdown(q);
    ctl_wq_free(q);
    fx_stop(&f);
}

static void forced_410_relists_and_delivers_exact_differences(void **state)
{
    (void)state;
    static const char *const args[] = {"--watch-history", "20", NULL};
    struct fx f;
    char name[32];
    fx_start(&f, args);
    for (int i = 1; i <= 5; i++) {
        snprintf(name, sizeof(name), "k%d", i);
        cm_create(&f, "ns1", name, "1", NULL, NULL, 0);
    }
    static const char *const scope[] = {"ns1", NULL};
    struct ctl_informer_options o = {.resource = CONFIGMAPS, .namespaces = scope};
    fx_informer(&f, &o);
    WAIT_FOR(rec_count(&f.rec) == 5, "5 ADDs");

    /* Cut the watch; the informer then waits for the fake clock. */
    faults(&f, "{\"watchCutSeconds\":1}");
    wait_backoff(&f, 1);
    faults(&f, "{}");

    /* While it is away: every kind of change, and enough churn elsewhere to
     * push its resourceVersion out of the 20-event history. */
    cm_set(&f, "ns1", "k1", "2");
    cm_set(&f, "ns1", "k2", "2");
    cm_set(&f, "ns1", "k2", "3");
    cm_delete(&f, "ns1", "k3");
    cm_create(&f, "ns1", "k6", "1", NULL, NULL, 0);
    cm_create(&f, "ns1", "k7", "1", NULL, NULL, 0);
    cm_delete(&f, "ns1", "k7");
    cm_delete(&f, "ns1", "k4");
    cm_create(&f, "ns1", "k4", "9", NULL, NULL, 0); /* same name, new uid */
    for (int i = 0; i < 30; i++) {
        snprintf(name, sizeof(name), "churn%d", i);
        cm_create(&f, "ns2", name, "1", NULL, NULL, 0);
    }
    ctl_fake_clock_advance(f.clock, 800);

    /* k1 U, k2 U (once, to the latest), k3 D, k4 D then A, k6 A; k5, k7 nothing. */
    WAIT_FOR(rec_count(&f.rec) == 11, "the relist's differences");
    sleep_ms(200);
    assert_int_equal(rec_count(&f.rec), 11);
    assert_seq(&f.rec, "ns1/k1", "A:1,U:1->2");
    assert_seq(&f.rec, "ns1/k2", "A:1,U:1->3");
    assert_seq(&f.rec, "ns1/k3", "A:1,D:1");
    assert_seq(&f.rec, "ns1/k4", "A:1,D:1,A:9");
    assert_seq(&f.rec, "ns1/k5", "A:1");
    assert_seq(&f.rec, "ns1/k6", "A:1");
    assert_seq(&f.rec, "ns1/k7", "");
    assert_seq(&f.rec, "ns2/churn0", ""); /* out of scope */

    struct ctl_informer_stats st;
    stats(&f, &st);
    assert_int_equal(st.lists, 2);
    assert_int_equal(st.relists, 1);
    assert_int_equal(ctl_informer_len(f.inf), 5);
    assert_int_equal(count_requests(&f, "list", "/api/v1/namespaces/ns1/configmaps", 200), 2);
    /* The watch after the relist resumes from the list's resourceVersion. */
    cm_set(&f, "ns1", "k5", "2");
    WAIT_FOR(rec_count(&f.rec) == 12, "the update after the relist");
    assert_seq(&f.rec, "ns1/k5", "A:1,U:1->2");
    stats(&f, &st);
    assert_int_equal(st.lists, 2);
    fx_stop(&f);
}

static void cuts_and_faults_back_off_and_rewatch_without_relisting(void **state)
{
    (void)state;
    struct fx f;
    const char *path = "/api/v1/namespaces/ns1/configmaps";
    fx_start(&f, NULL);
    cm_create(&f, "ns1", "k", "0", NULL, NULL, 0);
    static const char *const scope[] = {"ns1", NULL};
    struct ctl_informer_options o = {.resource = CONFIGMAPS, .namespaces = scope};
    fx_informer(&f, &o);
    WAIT_FOR(rec_count(&f.rec) == 1, "the ADD");
    assert_int_equal(count_requests(&f, "watch", path, 0), 1);

    /* The watch is cut, and every re-watch meets a 500: the waits double
     * from 0.8 s to 30 s. (One cut only: the simulator's h2 transport takes
     * ~30 s to deliver a cut; a refused re-watch fails at once.) */
    static const int64_t want[] = {800, 1600, 3200, 6400, 12800, 25600, 30000, 30000};
    char v[16], rules[512];
    snprintf(rules, sizeof(rules),
             "{\"rules\":[{\"method\":\"GET\",\"pathPrefix\":\"%s\",\"status\":500}]%s}", path,
             ",\"watchCutSeconds\":1");
    faults(&f, rules);
    assert_int_equal(wait_backoff(&f, 1), want[0]);
    snprintf(rules, sizeof(rules),
             "{\"rules\":[{\"method\":\"GET\",\"pathPrefix\":\"%s\",\"status\":500}]}", path);
    faults(&f, rules);
    for (unsigned i = 1; i < sizeof(want) / sizeof(want[0]); i++) {
        snprintf(v, sizeof(v), "%u", i);
        cm_set(&f, "ns1", "k", v); /* changed while the informer is away */
        ctl_fake_clock_advance(f.clock, want[i - 1]);
        assert_int_equal(wait_backoff(&f, i + 1), want[i]);
        /* Exactly one watch request per step: nothing happens while the
         * informer waits for (fake) time. */
        assert_int_equal(count_requests(&f, "watch", path, 0), (int)i + 1);
        assert_int_equal(count_requests(&f, "watch", path, 500), (int)i);
    }
    faults(&f, "{}");
    ctl_fake_clock_advance(f.clock, 30000);
    WAIT_FOR(rec_count(&f.rec) == 8, "the 7 updates, from the re-watch's resume point");

    /* Two minutes of health by the clock: the next wait starts over at
     * 0.8 s; then a 500, then a 429 with Retry-After 5 s (longer than the
     * 3.2 s backoff, so it wins). */
    ctl_fake_clock_advance(f.clock, 121000);
    snprintf(rules, sizeof(rules),
             "{\"rules\":[{\"method\":\"GET\",\"pathPrefix\":\"%s\",\"status\":500,\"times\":1},"
             "{\"method\":\"GET\",\"pathPrefix\":\"%s\",\"status\":429,\"retryAfterSeconds\":5,"
             "\"times\":1}],\"watchCutSeconds\":1}",
             path, path);
    faults(&f, rules);
    assert_int_equal(wait_backoff(&f, 9), 800);
    ctl_fake_clock_advance(f.clock, 800);
    assert_int_equal(wait_backoff(&f, 10), 1600);
    assert_int_equal(count_requests(&f, "watch", path, 500), 8);
    ctl_fake_clock_advance(f.clock, 1600);
    assert_int_equal(wait_backoff(&f, 11), 5000);
    assert_int_equal(count_requests(&f, "watch", path, 429), 1);
    faults(&f, "{}");
    cm_set(&f, "ns1", "k", "last");
    ctl_fake_clock_advance(f.clock, 5000);
    WAIT_FOR(rec_count(&f.rec) == 9, "the update after the faults");
    assert_seq(&f.rec, "ns1/k", "A:0,U:0->1,U:1->2,U:2->3,U:3->4,U:4->5,U:5->6,U:6->7,U:7->last");

    struct ctl_informer_stats st;
    stats(&f, &st);
    assert_int_equal(st.lists, 1);
    assert_int_equal(st.relists, 0);
    assert_int_equal(count_requests(&f, "list", path, 0), 1);
    /* The cut one, 7 refused, a healthy one (cut), then a 500, a 429 and
     * the last healthy one: 12, one per backoff step. */
    assert_int_equal(count_requests(&f, "watch", path, 0), 12);
    fx_stop(&f);
}

static void bookmarks_move_the_resume_point(void **state)
{
    (void)state;
    static const char *const args[] = {"--watch-history", "20", "--bookmark-ms", "100", NULL};
    struct fx f;
    char name[32];
    struct ctl_informer_stats st;
    fx_start(&f, args);
    cm_create(&f, "ns1", "k", "1", NULL, NULL, 0);
    static const char *const scope[] = {"ns1", NULL};
    struct ctl_informer_options o = {.resource = CONFIGMAPS, .namespaces = scope};
    fx_informer(&f, &o);
    /* History moves on elsewhere; the ns1 watch sees only bookmarks. */
    for (int i = 0; i < 30; i++) {
        snprintf(name, sizeof(name), "churn%d", i);
        cm_create(&f, "ns2", name, "1", NULL, NULL, 0);
    }
    stats(&f, &st);
    unsigned long b0 = st.bookmarks;
    WAIT_FOR((stats(&f, &st), st.bookmarks >= b0 + 2), "two bookmarks after the churn");
    faults(&f, "{\"watchCutSeconds\":1}");
    wait_backoff(&f, 1);
    faults(&f, "{}");
    ctl_fake_clock_advance(f.clock, 800);
    cm_set(&f, "ns1", "k", "2");
    WAIT_FOR(rec_count(&f.rec) == 2, "the update after the re-watch");
    assert_seq(&f.rec, "ns1/k", "A:1,U:1->2");
    stats(&f, &st);
    /* Resumed from the bookmark's version, which the history still holds:
     * without bookmarks the list's version would have been expired (410). */
    assert_int_equal(st.relists, 0);
    assert_int_equal(st.lists, 1);
    fx_stop(&f);
}

static void namespace_scope_and_metadata_only_secrets(void **state)
{
    (void)state;
    struct fx f;
    fx_start(&f, NULL);
    for (int i = 1; i <= 3; i++) {
        char ns[16], json[512];
        snprintf(ns, sizeof(ns), "ns%d", i);
        snprintf(json, sizeof(json),
                 "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"s\","
                 "\"namespace\":\"%s\",\"labels\":{\"n\":\"%d\"}},\"data\":{\"password\":"
                 "\"c2VjcmV0\"}}",
                 ns, i);
        cJSON *obj = cJSON_Parse(json), *out = NULL;
        struct k8s_error err;
        assert_int_equal(k8s_create(f.c, &SECRETS, ns, obj, NULL, &out, &err), 0);
        cJSON_Delete(obj);
        cJSON_Delete(out);
    }
    static const char *const scope[] = {"ns1", "ns3", "ns1", NULL};
    struct ctl_informer_options o = {.resource = SECRETS, .namespaces = scope, .metadata_only = 1};
    fx_informer(&f, &o);
    WAIT_FOR(rec_count(&f.rec) == 2, "2 ADDs");
    assert_int_equal(ctl_informer_len(f.inf), 2);
    cJSON *s = ctl_informer_get(f.inf, "ns1", "s");
    assert_non_null(s);
    /* Metadata only: no secret data ever reaches the cache. */
    assert_null(cJSON_GetObjectItemCaseSensitive(s, "data"));
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(s, "kind")->valuestring,
                        "PartialObjectMetadata");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(
                            cJSON_GetObjectItemCaseSensitive(
                                cJSON_GetObjectItemCaseSensitive(s, "metadata"), "labels"),
                            "n")
                            ->valuestring,
                        "1");
    cJSON_Delete(s);
    assert_null(ctl_informer_get(f.inf, "ns2", "s"));
    /* One list and one watch per namespace (the duplicate ignored). */
    assert_int_equal(count_requests(&f, "list", "/api/v1/namespaces/ns1/secrets", 200), 1);
    assert_int_equal(count_requests(&f, "list", "/api/v1/namespaces/ns3/secrets", 200), 1);
    assert_int_equal(count_requests(&f, "list", "/api/v1/namespaces/ns2/secrets", 0), 0);
    WAIT_FOR(count_requests(&f, "watch", "/api/v1/namespaces/ns3/secrets", 0) == 1,
             "the ns3 watch");
    assert_int_equal(count_requests(&f, "watch", "/api/v1/namespaces/ns1/secrets", 0), 1);
    /* A watched change arrives as metadata too. */
    cJSON *patch = cJSON_Parse("{\"data\":{\"password\":\"bmV3\"}}"), *out = NULL;
    struct k8s_error err;
    assert_int_equal(k8s_patch(f.c, &SECRETS, "ns3", "s", K8S_PATCH_MERGE, patch, NULL, &out, &err),
                     0);
    cJSON_Delete(patch);
    cJSON_Delete(out);
    WAIT_FOR(rec_count(&f.rec) == 3, "the update");
    s = ctl_informer_get(f.inf, "ns3", "s");
    assert_null(cJSON_GetObjectItemCaseSensitive(s, "data"));
    cJSON_Delete(s);
    fx_stop(&f);
}

static void resync_redelivers_the_cache_by_the_clock(void **state)
{
    (void)state;
    struct fx f;
    fx_start(&f, NULL);
    cm_create(&f, "ns1", "a", "1", NULL, NULL, 0);
    cm_create(&f, "ns1", "b", "1", NULL, NULL, 0);
    struct ctl_informer_options o = {.resource = CONFIGMAPS, .resync_ms = 60000};
    fx_informer(&f, &o);
    WAIT_FOR(rec_count(&f.rec) == 2, "2 ADDs");
    int64_t next;
    WAIT_FOR(ctl_fake_clock_waiters(f.clock, &next) == 1, "the resync timer");
    assert_int_equal(next, ctl_clock_mono_ms(f.clock) + 60000);
    ctl_fake_clock_advance(f.clock, 59999);
    sleep_ms(100);
    assert_int_equal(rec_count(&f.rec), 2);
    ctl_fake_clock_advance(f.clock, 1);
    WAIT_FOR(rec_count(&f.rec) == 4, "the resync");
    assert_seq(&f.rec, "ns1/a", "A:1,R:1");
    assert_seq(&f.rec, "ns1/b", "A:1,R:1");
    struct ctl_informer_stats st;
    stats(&f, &st);
    assert_int_equal(st.resyncs, 1);
    fx_stop(&f);
}

static void stop_ends_watches_and_backoffs(void **state)
{
    (void)state;
    struct fx f;
    struct k8s_error err;
    struct ctl_informer_stats st;
    fx_start(&f, NULL);
    /* ns1 refuses every request: its list fails and it waits for the
     * clock; ns2 lists and streams. */
    faults(&f, "{\"rules\":[{\"method\":\"GET\",\"pathPrefix\":\"/api/v1/namespaces/ns1/\","
               "\"status\":503}]}");
    static const char *const scope[] = {"ns1", "ns2", NULL};
    struct ctl_informer_options o = {.resource = CONFIGMAPS, .namespaces = scope};
    assert_int_equal(ctl_informer_new(f.c, f.clock, &o, &f.inf, &err), 0);
    assert_int_equal(ctl_informer_start(f.inf), 0);
    WAIT_FOR(st_backoffs(&f) == 1 && ctl_fake_clock_waiters(f.clock, NULL) == 1 &&
                 count_requests(&f, "watch", "/api/v1/namespaces/ns2/configmaps", 0) == 1,
             "ns1 in backoff, ns2 watching");
    stats(&f, &st);
    assert_int_equal(st.list_failures, 1);
    assert_false(ctl_informer_has_synced(f.inf)); /* ns1 never listed */
    /* Waiting on the (fake) clock or on the stream: stop ends both. How
     * long it took is printed, not asserted (the watch polls its stop flag
     * about once a second). */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ctl_informer_stop(f.inf);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fprintf(stderr, "informer stop took %ld ms\n",
            (long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000));
    assert_int_equal(ctl_fake_clock_waiters(f.clock, NULL), 0);
    assert_int_equal(ctl_informer_wait_for_sync(f.inf, -1), K8S_ESTOPPED);
    ctl_informer_stop(f.inf); /* idempotent */
    assert_int_equal(ctl_informer_start(f.inf), K8S_EARG);
    fx_stop(&f);
}

static void options_are_checked(void **state)
{
    (void)state;
    struct ctl_clock *clock = ctl_clock_new_fake(T0);
    struct k8s_config cfg = {.server = "https://127.0.0.1:1", .qps = 5, .burst = 10};
    struct k8s_client *c = NULL;
    struct ctl_informer *inf = NULL;
    struct k8s_error err;
    assert_int_equal(k8s_client_new(&cfg, &c, &err), 0);
    struct ctl_informer_options o = {.resource = CONFIGMAPS, .label_selector = "a in (b"};
    assert_int_equal(ctl_informer_new(c, clock, &o, &inf, &err), K8S_EARG);
    assert_string_equal(err.message, "unable to parse requirement: found '', expected: ',' or ')'");
    assert_null(inf);
    static const char *const bad_ns[] = {"ok", "", NULL};
    struct ctl_informer_options o2 = {.resource = CONFIGMAPS, .namespaces = bad_ns};
    assert_int_equal(ctl_informer_new(c, clock, &o2, &inf, &err), K8S_EARG);
    struct ctl_informer_options o3 = {.resource = {"", "v1", NULL, 1}};
    assert_int_equal(ctl_informer_new(c, clock, &o3, &inf, &err), K8S_EARG);
    /* An unreachable server: never synced; wait_for_sync times out by the clock. */
    struct ctl_informer_options o4 = {.resource = CONFIGMAPS};
    assert_int_equal(ctl_informer_new(c, clock, &o4, &inf, &err), 0);
    assert_string_equal(ctl_informer_resource(inf)->resource, "configmaps");
    assert_int_equal(ctl_informer_wait_for_sync(inf, 0), K8S_ESERVERTIMEOUT);
    assert_false(ctl_informer_has_synced(inf));
    ctl_informer_free(inf);
    k8s_client_free(c);
    ctl_clock_free(clock);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(options_are_checked),
        cmocka_unit_test(cache_follows_creates_updates_deletes),
        cmocka_unit_test(forced_410_relists_and_delivers_exact_differences),
        cmocka_unit_test(cuts_and_faults_back_off_and_rewatch_without_relisting),
        cmocka_unit_test(bookmarks_move_the_resume_point),
        cmocka_unit_test(namespace_scope_and_metadata_only_secrets),
        cmocka_unit_test(resync_redelivers_the_cache_by_the_clock),
        cmocka_unit_test(stop_ends_watches_and_backoffs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
