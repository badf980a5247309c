/*
 * Tests of the manager (controller/ctl_manager.c) against the API simulator,
 * with a fake clock for every delay: informer events reach the reconciler of
 * their kind (also through ownerReferences), each result code does what it
 * says (done, requeue-after by the clock, errors retried with backoff and
 * counted), /healthz, /readyz and /metrics answer on a real socket; with
 * leader election two managers reconcile only on the leader, the standby is
 * ready and takes over (with its warm cache) when the leader stops and
 * releases; a leader whose Lease is taken stops reconciling, writes nothing
 * more, does not release and returns K8S_ESTOPPED.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <libwebsockets.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl_clock.h"
#include "ctl_manager.h"
#include "k8s_client.h"
#include "k8s_config.h"
#include "kubesim_harness.h"

#define T0 1767323045000LL

static const struct k8s_resource CONFIGMAPS = {"", "v1", "configmaps", 1};
static const struct k8s_resource LEASES = {"coordination.k8s.io", "v1", "leases", 1};

struct fixture {
    struct kubesim *sim;
    struct k8s_client *admin;
};

static struct k8s_config *config_as(struct kubesim *sim, const char *token)
{
    struct k8s_config *cfg = NULL;
    struct k8s_error err;
    if (k8s_config_from_kubeconfig(kubesim_kubeconfig(sim), NULL, &cfg, &err) != 0) {
        fprintf(stderr, "config: %s\n", err.message);
        return NULL;
    }
    cfg->qps = 0;
    if (token) {
        free(cfg->token);
        cfg->token = strdup(token);
    }
    return cfg;
}

static int add_token(struct kubesim *sim, const char *token, const char *user)
{
    char body[256];
    snprintf(body, sizeof(body),
             "{\"token\":\"%s\",\"user\":\"%s\",\"groups\":[\"system:masters\"]}", token, user);
    return kubesim_admin(sim, "POST", "/__admin/tokens", body, NULL) / 100 == 2 ? 0 : -1;
}

static int group_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct kubesim_opts opts = {.exit_after_seconds = 600};
    struct k8s_error err;
    *state = f;
    if (!f || kubesim_start(&opts, &f->sim) != 0)
        return -1;
    if (add_token(f->sim, "tok-mgr-a", "mgr-a") || add_token(f->sim, "tok-mgr-b", "mgr-b"))
        return -1;
    struct k8s_config *cfg = config_as(f->sim, NULL);
    if (!cfg || k8s_client_new(cfg, &f->admin, &err) != 0) {
        k8s_config_free(cfg);
        return -1;
    }
    k8s_config_free(cfg);
    return 0;
}

static int group_teardown(void **state)
{
    struct fixture *f = *state;
    if (f) {
        k8s_client_free(f->admin);
        kubesim_stop(f->sim);
        free(f);
    }
    return 0;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Polls `cond` for up to 20 s of real time (the simulator and threads run
 * for real; only the operator's own delays follow the fake clock). */
#define EVENTUALLY(cond)                                                                           \
    do {                                                                                           \
        int i_;                                                                                    \
        for (i_ = 0; i_ < 2000 && !(cond); i_++)                                                   \
            sleep_ms(10);                                                                          \
        assert_true(cond);                                                                         \
    } while (0)

/* ---- a recording reconciler ------------------------------------------- */

#define MAX_SEEN 256

struct recorder_state {
    pthread_mutex_t mu;
    char seen[MAX_SEEN][128];
    int nseen;
    int failures_left; /* for "cm-err" */
    int after_done;    /* for "cm-after" */
    char last_ns[64], last_name[254], last_kind[64];
};

static int count_seen(struct recorder_state *r, const char *key)
{
    int n = 0;
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < r->nseen; i++)
        n += strcmp(r->seen[i], key) == 0;
    pthread_mutex_unlock(&r->mu);
    return n;
}

static int total_seen(struct recorder_state *r)
{
    int n;
    pthread_mutex_lock(&r->mu);
    n = r->nseen;
    pthread_mutex_unlock(&r->mu);
    return n;
}

static int reconcile(struct ctl_context *ctx, const char *key, int64_t *after, void *user)
{
    struct recorder_state *r = user;
    int rc = CTL_DONE;
    pthread_mutex_lock(&r->mu);
    if (r->nseen < MAX_SEEN)
        snprintf(r->seen[r->nseen++], sizeof(r->seen[0]), "%s", key);
    snprintf(r->last_ns, sizeof(r->last_ns), "%s", ctl_context_namespace(ctx));
    snprintf(r->last_name, sizeof(r->last_name), "%s", ctl_context_name(ctx));
    snprintf(r->last_kind, sizeof(r->last_kind), "%s", ctl_context_kind(ctx));
    if (strcmp(ctl_context_name(ctx), "cm-err") == 0 && r->failures_left > 0) {
        r->failures_left--;
        rc = K8S_EINTERNAL;
    } else if (strcmp(ctl_context_name(ctx), "cm-after") == 0 && !r->after_done) {
        r->after_done = 1;
        *after = 30000;
        rc = CTL_REQUEUE_AFTER;
    }
    pthread_mutex_unlock(&r->mu);
    assert_non_null(ctl_context_client(ctx));
    assert_non_null(ctl_context_recorder(ctx));
    assert_true(ctl_context_may_write(ctx));
    return rc;
}

static void recorder_init(struct recorder_state *r)
{
    memset(r, 0, sizeof(*r));
    pthread_mutex_init(&r->mu, NULL);
}

/* ---- helpers ------------------------------------------------------------ */

/* Creates default/<name> labelled app=<label>, owned by `owner` (a ConfigMap
 * object, for its name and uid) when not NULL; returns the created object. */
static cJSON *create_configmap(struct fixture *f, const char *name, const char *label,
                               const cJSON *owner)
{
    char text[1024];
    struct k8s_error err;
    cJSON *out = NULL;
    snprintf(text, sizeof(text),
             "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"%s\","
             "\"namespace\":\"default\",\"labels\":{\"app\":\"%s\"}}}",
             name, label);
    cJSON *o = cJSON_Parse(text);
    if (owner) {
        const cJSON *md = cJSON_GetObjectItemCaseSensitive(owner, "metadata");
        cJSON *ref = cJSON_CreateObject();
        cJSON_AddStringToObject(ref, "apiVersion", "v1");
        cJSON_AddStringToObject(ref, "kind", "ConfigMap");
        cJSON_AddStringToObject(ref, "name",
                                cJSON_GetObjectItemCaseSensitive(md, "name")->valuestring);
        cJSON_AddStringToObject(ref, "uid",
                                cJSON_GetObjectItemCaseSensitive(md, "uid")->valuestring);
        cJSON *refs = cJSON_AddArrayToObject(cJSON_GetObjectItemCaseSensitive(o, "metadata"),
                                             "ownerReferences");
        cJSON_AddItemToArray(refs, ref);
    }
    int rc = k8s_create(f->admin, &CONFIGMAPS, "default", o, NULL, &out, &err);
    if (rc)
        fprintf(stderr, "create %s: %s\n", name, err.message);
    assert_int_equal(rc, 0);
    cJSON_Delete(o);
    return out;
}

static size_t on_body(char *p, size_t size, size_t n, void *user)
{
    struct k8s_buf *b = user;
    return k8s_buf_append(b, p, size * n) == 0 ? size * n : 0;
}

/* GET http://127.0.0.1:port/path; returns the status and the body in *body. */
static long http_get(int port, const char *path, char **body)
{
    char url[128];
    struct k8s_buf b;
    long status = -1;
    CURL *c = curl_easy_init();
    k8s_buf_init(&b, 4 << 20);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    *body = b.data ? k8s_buf_take(&b, NULL) : strdup("");
    return status;
}

/* Whether /metrics has a line starting with `prefix` and ending in " value". */
static int metric_is(int port, const char *series, const char *value)
{
    char *body = NULL, want[512];
    int found;
    http_get(port, "/metrics", &body);
    snprintf(want, sizeof(want), "\n%s %s\n", series, value);
    found = strstr(body, want) != NULL;
    if (!found && getenv("TEST_VERBOSE"))
        fprintf(stderr, "metrics (want %s %s):\n%s\n", series, value, body);
    free(body);
    return found;
}

/* Whether /readyz answers 200 with `text` in its body. */
static int readyz_says(int port, const char *text)
{
    char *body = NULL;
    int ok = http_get(port, "/readyz", &body) == 200 && strstr(body, text) != NULL;
    free(body);
    return ok;
}

struct runner {
    struct ctl_manager *m;
    pthread_t thread;
    int rc;
    int done;
    pthread_mutex_t mu;
    struct k8s_error err;
};

static void *run_main(void *arg)
{
    struct runner *r = arg;
    int rc = ctl_manager_run(r->m, &r->err);
    pthread_mutex_lock(&r->mu);
    r->rc = rc;
    r->done = 1;
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

static void runner_start(struct runner *r, struct ctl_manager *m)
{
    memset(r, 0, sizeof(*r));
    pthread_mutex_init(&r->mu, NULL);
    r->m = m;
    assert_int_equal(pthread_create(&r->thread, NULL, run_main, r), 0);
}

static int runner_done(struct runner *r)
{
    int d;
    pthread_mutex_lock(&r->mu);
    d = r->done;
    pthread_mutex_unlock(&r->mu);
    return d;
}

static int runner_join(struct runner *r)
{
    pthread_join(r->thread, NULL);
    pthread_mutex_destroy(&r->mu);
    return r->rc;
}

struct mgr_opts {
    const char *token;
    int leader_elect;
    const char *lease_name;
    const char *identity;
    const char *label;
};

static struct ctl_manager *manager(struct fixture *f, struct ctl_clock *clk,
                                   const struct mgr_opts *mo, struct recorder_state *rec)
{
    struct ctl_manager_options o = {0};
    struct ctl_manager *m = NULL;
    struct ctl_informer *inf = NULL;
    struct k8s_error err;
    char sel[64];
    struct k8s_config *cfg = config_as(f->sim, mo->token);
    assert_non_null(cfg);
    o.config = cfg;
    o.clock = clk;
    o.workers = 2;
    o.leader_elect = mo->leader_elect;
    o.lease_namespace = "default";
    o.lease_name = mo->lease_name;
    o.identity = mo->identity;
    o.health_addr = "127.0.0.1:0";
    o.metrics_addr = "127.0.0.1:0";
    int rc = ctl_manager_new(&o, &m, &err);
    if (rc)
        fprintf(stderr, "manager: %s\n", err.message);
    assert_int_equal(rc, 0);
    k8s_config_free(cfg);

    struct ctl_reconciler r1 = {"configmap", reconcile, rec};
    struct ctl_reconciler r2 = {"parent", reconcile, rec};
    assert_int_equal(ctl_manager_add_reconciler(m, &r1, &err), 0);
    assert_int_equal(ctl_manager_add_reconciler(m, &r2, &err), 0);
    assert_int_equal(ctl_manager_add_reconciler(m, &r1, &err), K8S_EARG); /* one per kind */

    struct ctl_informer_options io = {0};
    snprintf(sel, sizeof(sel), "app=%s", mo->label);
    io.resource = CONFIGMAPS;
    io.label_selector = sel;
    rc = ctl_manager_add_informer(m, &io, &inf, &err);
    if (rc)
        fprintf(stderr, "informer: %s\n", err.message);
    assert_int_equal(rc, 0);
    assert_int_equal(ctl_manager_watch(m, inf, "configmap"), 0);
    assert_int_equal(ctl_manager_watch_owner(m, inf, "ConfigMap", "parent"), 0);
    return m;
}

static unsigned long queue_retries(struct ctl_manager *m)
{
    struct ctl_wq_stats st;
    ctl_wq_get_stats(ctl_manager_queue(m), &st);
    return st.retries;
}

static size_t queue_delayed(struct ctl_manager *m)
{
    struct ctl_wq_stats st;
    ctl_wq_get_stats(ctl_manager_queue(m), &st);
    return st.delayed;
}

/* ---- tests ---------------------------------------------------------------- */

static void test_results_and_probes_without_leader_election(void **state)
{
    struct fixture *f = *state;
    struct ctl_clock *clk = ctl_clock_new_fake(T0);
    struct recorder_state rec;
    struct mgr_opts mo = {"tok-mgr-a", 0, NULL, "solo_1", "solo"};
    struct runner run;
    char *body = NULL;

    recorder_init(&rec);
    rec.failures_left = 2;
    struct ctl_manager *m = manager(f, clk, &mo, &rec);
    runner_start(&run, m);
    EVENTUALLY(ctl_manager_health_port(m) > 0 && ctl_manager_synced(m));
    int port = ctl_manager_health_port(m);
    assert_int_equal(ctl_manager_metrics_port(m), port); /* same address: one listener */

    assert_int_equal(http_get(port, "/healthz", &body), 200);
    assert_string_equal(body, "ok\n");
    free(body);
    assert_int_equal(http_get(port, "/readyz", &body), 200);
    assert_non_null(strstr(body, "[+]informer configmaps synced"));
    free(body);
    assert_int_equal(http_get(port, "/nope", &body), 404);
    free(body);

    cJSON *owner = create_configmap(f, "cm-owner", "solo", NULL);
    cJSON_Delete(create_configmap(f, "cm-ok", "solo", NULL));
    cJSON_Delete(create_configmap(f, "cm-after", "solo", NULL));
    cJSON_Delete(create_configmap(f, "cm-err", "solo", NULL));
    cJSON_Delete(create_configmap(f, "cm-child", "solo", owner));
    cJSON_Delete(owner);
    EVENTUALLY(count_seen(&rec, "configmap/default/cm-ok") == 1);
    EVENTUALLY(count_seen(&rec, "parent/default/cm-owner") == 1);
    EVENTUALLY(count_seen(&rec, "configmap/default/cm-child") == 1);
    EVENTUALLY(count_seen(&rec, "configmap/default/cm-after") == 1);
    EVENTUALLY(count_seen(&rec, "configmap/default/cm-err") == 1);
    /* An unknown kind is dropped, not retried. */
    ctl_manager_enqueue(m, "nokind/default/x");

    /* The failure is retried after its backoff (5 ms, then 10 ms) only when
     * the clock moves; the requeue-after waits its 30 s. */
    EVENTUALLY(queue_retries(m) == 1); /* the worker has queued the retry */
    ctl_fake_clock_advance(clk, 5);
    EVENTUALLY(count_seen(&rec, "configmap/default/cm-err") == 2);
    EVENTUALLY(queue_retries(m) == 2);
    ctl_fake_clock_advance(clk, 10);
    EVENTUALLY(count_seen(&rec, "configmap/default/cm-err") == 3);
    assert_int_equal(count_seen(&rec, "configmap/default/cm-after"), 1);
    EVENTUALLY(queue_delayed(m) == 1); /* cm-after's 30 s */
    ctl_fake_clock_advance(clk, 30000);
    EVENTUALLY(count_seen(&rec, "configmap/default/cm-after") == 2);
    /* Nothing else happens: cm-err succeeded, cm-after is done. */
    ctl_fake_clock_advance(clk, 120000);
    sleep_ms(200);
    assert_int_equal(count_seen(&rec, "configmap/default/cm-err"), 3);
    assert_int_equal(count_seen(&rec, "configmap/default/cm-after"), 2);
    assert_int_equal(count_seen(&rec, "configmap/default/cm-ok"), 1);
    assert_int_equal(count_seen(&rec, "parent/default/cm-owner"), 1);

    EVENTUALLY(metric_is(
        port, "controller_runtime_reconcile_errors_total{controller=\"configmap\"}", "2"));
    assert_true(metric_is(
        port, "controller_runtime_reconcile_total{controller=\"configmap\",result=\"error\"}",
        "2"));
    assert_true(metric_is(
        port, "controller_runtime_reconcile_total{controller=\"configmap\",result=\"success\"}",
        "5"));
    assert_true(metric_is(
        port,
        "controller_runtime_reconcile_total{controller=\"configmap\",result=\"requeue_after\"}",
        "1"));
    assert_true(metric_is(
        port, "controller_runtime_reconcile_total{controller=\"parent\",result=\"success\"}", "1"));
    assert_true(metric_is(port, "workqueue_depth{name=\"controller\"}", "0"));
    assert_true(metric_is(port, "workqueue_retries_total{name=\"controller\"}", "2"));
    assert_true(metric_is(port, "qso_informer_synced{resource=\"configmaps\"}", "1"));
    http_get(port, "/metrics", &body);
    assert_non_null(strstr(body, "# TYPE controller_runtime_reconcile_time_seconds histogram\n"));
    assert_non_null(strstr(body, "workqueue_adds_total{name=\"controller\"} "));
    assert_null(strstr(body, "leader_election_master_status")); /* no election */
    /* Every API request is counted by method and code (the informers' LISTs). */
    assert_non_null(strstr(body, "rest_client_requests_total{method=\"GET\",code=\"200\"} "));
    free(body);

    ctl_manager_request_stop(m);
    assert_int_equal(runner_join(&run), 0);
    ctl_manager_free(m);
    ctl_clock_free(clk);
    pthread_mutex_destroy(&rec.mu);
}

static cJSON *get_lease(struct fixture *f, const char *name)
{
    cJSON *l = NULL;
    struct k8s_error err;
    assert_int_equal(k8s_get(f->admin, &LEASES, "default", name, NULL, &l, &err), 0);
    return l;
}

static const char *holder(const cJSON *lease)
{
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(lease, "spec"), "holderIdentity");
    return cJSON_IsString(h) ? h->valuestring : "";
}

static void test_only_the_leader_reconciles_and_the_standby_takes_over(void **state)
{
    struct fixture *f = *state;
    struct ctl_clock *clk = ctl_clock_new_fake(T0);
    struct recorder_state ra, rb;
    struct mgr_opts oa = {"tok-mgr-a", 1, "mgr-lease", "a_1", "elect"};
    struct mgr_opts ob = {"tok-mgr-b", 1, "mgr-lease", "b_1", "elect"};
    struct runner runa, runb;
    char *body = NULL;

    recorder_init(&ra);
    recorder_init(&rb);
    struct ctl_manager *a = manager(f, clk, &oa, &ra);
    struct ctl_manager *b = manager(f, clk, &ob, &rb);
    runner_start(&runa, a);
    EVENTUALLY(ctl_manager_is_leader(a));
    runner_start(&runb, b);
    EVENTUALLY(ctl_manager_synced(b) && ctl_manager_health_port(b) > 0);
    /* The standby is ready (and says why); it does not lead. */
    EVENTUALLY(readyz_says(ctl_manager_health_port(b), "[+]leader election: standby"));
    assert_false(ctl_manager_is_leader(b));
    assert_false(ctl_manager_may_write(b));
    assert_true(metric_is(ctl_manager_metrics_port(b),
                          "leader_election_master_status{name=\"mgr-lease\"}", "0"));
    assert_true(metric_is(ctl_manager_metrics_port(a),
                          "leader_election_master_status{name=\"mgr-lease\"}", "1"));
    assert_int_equal(http_get(ctl_manager_health_port(a), "/readyz", &body), 200);
    assert_non_null(strstr(body, "[+]leader election: leading"));
    free(body);

    cJSON_Delete(create_configmap(f, "cm-elect", "elect", NULL));
    EVENTUALLY(count_seen(&ra, "configmap/default/cm-elect") == 1);
    /* B's informer saw it too (warm cache), but B has no workers. */
    sleep_ms(300);
    assert_int_equal(total_seen(&rb), 0);

    /* A stops cleanly: drains, releases; B takes over at its next round and
     * works through what its informer queued meanwhile. */
    ctl_manager_request_stop(a);
    assert_int_equal(runner_join(&runa), 0);
    cJSON *l = get_lease(f, "mgr-lease");
    assert_string_equal(holder(l), "");
    cJSON_Delete(l);
    ctl_fake_clock_advance(clk, 2000);
    EVENTUALLY(ctl_manager_is_leader(b));
    EVENTUALLY(count_seen(&rb, "configmap/default/cm-elect") == 1);
    l = get_lease(f, "mgr-lease");
    assert_string_equal(holder(l), "b_1");
    cJSON_Delete(l);

    ctl_manager_request_stop(b);
    assert_int_equal(runner_join(&runb), 0);
    ctl_manager_free(a);
    ctl_manager_free(b);
    ctl_clock_free(clk);
    pthread_mutex_destroy(&ra.mu);
    pthread_mutex_destroy(&rb.mu);
}

static int writes_by(struct fixture *f, const char *user)
{
    char path[128], *body = NULL;
    int n = 0;
    snprintf(path, sizeof(path), "/__admin/requests?user=%s", user);
    assert_int_equal(kubesim_admin(f->sim, "GET", path, NULL, &body), 200);
    cJSON *r = cJSON_Parse(body);
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(r, "items"))
    {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(it, "method");
        n += cJSON_IsString(m) && strcmp(m->valuestring, "GET") != 0;
    }
    cJSON_Delete(r);
    free(body);
    return n;
}

static void test_lost_lease_stops_reconciling_and_returns_stopped(void **state)
{
    struct fixture *f = *state;
    struct ctl_clock *clk = ctl_clock_new_fake(T0);
    struct recorder_state ra;
    struct mgr_opts oa = {"tok-mgr-a", 1, "lost-lease", "a_2", "lost"};
    struct runner run;
    struct k8s_error err;
    cJSON *out = NULL;

    recorder_init(&ra);
    struct ctl_manager *a = manager(f, clk, &oa, &ra);
    runner_start(&run, a);
    EVENTUALLY(ctl_manager_is_leader(a));
    cJSON_Delete(create_configmap(f, "cm-lost", "lost", NULL));
    EVENTUALLY(count_seen(&ra, "configmap/default/cm-lost") == 1);

    /* Someone else takes the Lease. */
    cJSON *l = get_lease(f, "lost-lease");
    cJSON_ReplaceItemInObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(l, "spec"),
                                           "holderIdentity", cJSON_CreateString("intruder"));
    assert_int_equal(k8s_update(f->admin, &LEASES, "default", "lost-lease", l, NULL, &out, &err),
                     0);
    cJSON_Delete(out);
    cJSON_Delete(l);
    assert_int_equal(kubesim_admin(f->sim, "DELETE", "/__admin/requests", NULL, NULL), 200);
    /* A's next renewal finds it: run returns K8S_ESTOPPED. */
    ctl_fake_clock_advance(clk, 2000);
    EVENTUALLY(runner_done(&run));
    assert_int_equal(runner_join(&run), K8S_ESTOPPED);
    assert_non_null(strstr(run.err.message, "leader election lost"));
    assert_false(ctl_manager_may_write(a));
    /* No release, no other write after the loss. */
    assert_int_equal(writes_by(f, "mgr-a"), 0);
    l = get_lease(f, "lost-lease");
    assert_string_equal(holder(l), "intruder");
    cJSON_Delete(l);
    /* Keys queued after the loss are never reconciled. */
    assert_int_equal(count_seen(&ra, "configmap/default/cm-lost"), 1);
    ctl_manager_free(a);
    ctl_clock_free(clk);
    pthread_mutex_destroy(&ra.mu);
}

/* A reconcile waiting for a cache that never syncs (its list refused, here
 * by an injected 403) must not hold a stop, nor the lease, forever. */
struct waiter {
    struct ctl_informer *never;
    atomic_int entered, returned;
};

static int wait_for_never(struct ctl_context *ctx, const char *key, int64_t *after, void *user)
{
    struct waiter *w = user;
    (void)ctx;
    (void)key;
    (void)after;
    atomic_store(&w->entered, 1);
    int rc = ctl_informer_wait_for_sync(w->never, -1);
    atomic_store(&w->returned, 1);
    return rc == 0 ? CTL_DONE : rc;
}

static void test_stop_is_not_held_by_a_cache_that_never_syncs(void **state)
{
    struct fixture *f = *state;
    struct ctl_manager_options o = {0};
    struct ctl_manager *m = NULL;
    struct ctl_informer *inf = NULL;
    struct waiter w = {0};
    struct runner run;
    struct k8s_error err;
    struct k8s_config *cfg = config_as(f->sim, "tok-mgr-a");
    assert_int_equal(kubesim_admin(f->sim, "POST", "/__admin/faults",
                                   "{\"rules\":[{\"method\":\"GET\",\"pathPrefix\":"
                                   "\"/api/v1/secrets\",\"status\":403}]}",
                                   NULL),
                     200);
    o.config = cfg;
    o.workers = 1;
    assert_int_equal(ctl_manager_new(&o, &m, &err), 0);
    k8s_config_free(cfg);
    struct ctl_reconciler r = {"configmap", wait_for_never, &w};
    assert_int_equal(ctl_manager_add_reconciler(m, &r, &err), 0);
    struct ctl_informer_options io = {0};
    io.resource = CONFIGMAPS;
    io.label_selector = "app=never";
    assert_int_equal(ctl_manager_add_informer(m, &io, &inf, &err), 0);
    assert_int_equal(ctl_manager_watch(m, inf, "configmap"), 0);
    struct ctl_informer_options so = {0};
    so.resource = (struct k8s_resource){"", "v1", "secrets", 1};
    so.metadata_only = 1;
    assert_int_equal(ctl_manager_add_informer(m, &so, &w.never, &err), 0);
    runner_start(&run, m);
    cJSON_Delete(create_configmap(f, "cm-never", "never", NULL));
    EVENTUALLY(atomic_load(&w.entered));
    ctl_manager_request_stop(m);
    EVENTUALLY(runner_done(&run));
    runner_join(&run);
    assert_true(atomic_load(&w.returned));
    assert_int_equal(kubesim_admin(f->sim, "POST", "/__admin/faults", "{}", NULL), 200);
    ctl_manager_free(m);
}

static void test_options_are_checked(void **state)
{
    struct fixture *f = *state;
    struct ctl_manager_options o = {0};
    struct ctl_manager *m = NULL;
    struct k8s_error err;
    struct k8s_config *cfg = config_as(f->sim, NULL);
    assert_int_equal(ctl_manager_new(&o, &m, &err), K8S_EARG);
    o.config = cfg;
    o.leader_elect = 1;
    assert_int_equal(ctl_manager_new(&o, &m, &err), K8S_EARG);
    assert_non_null(strstr(err.message, "lease namespace"));
    o.leader_elect = 0;
    o.health_addr = "nonsense";
    assert_int_equal(ctl_manager_new(&o, &m, &err), K8S_EARG);
    assert_null(m);
    /* A taken port fails at run, naming the address. */
    o.health_addr = "127.0.0.1:0";
    assert_int_equal(ctl_manager_new(&o, &m, &err), 0);
    struct runner run;
    runner_start(&run, m);
    EVENTUALLY(ctl_manager_health_port(m) > 0);
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", ctl_manager_health_port(m));
    struct ctl_manager *m2 = NULL;
    o.health_addr = addr;
    assert_int_equal(ctl_manager_new(&o, &m2, &err), 0);
    assert_int_equal(ctl_manager_run(m2, &err), K8S_EIO);
    assert_non_null(strstr(err.message, addr));
    ctl_manager_free(m2);
    ctl_manager_request_stop(m);
    assert_int_equal(runner_join(&run), 0);
    ctl_manager_free(m);
    k8s_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_results_and_probes_without_leader_election),
        cmocka_unit_test(test_only_the_leader_reconciles_and_the_standby_takes_over),
        cmocka_unit_test(test_lost_lease_stops_reconciling_and_returns_stopped),
        cmocka_unit_test(test_stop_is_not_held_by_a_cache_that_never_syncs),
        cmocka_unit_test(test_options_are_checked),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    lws_set_log_level(LLL_ERR | LLL_WARN, NULL);
    int rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
    curl_global_cleanup();
    return rc;
}
