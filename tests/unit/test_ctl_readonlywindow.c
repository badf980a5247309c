/*
 * End-to-end tests of the readonlywindows reconciler (controller/
 * ctl_readonlywindow*.c, issue 8) against the API simulator with its Quay
 * Operator stand-in, Deployment and Job controllers and kubelet, and a real
 * PostgreSQL holding Quay's service-key tables (tests/support/postgres,
 * tests/fixtures/quay-db/servicekey.sql). The registry's Quay image is mapped
 * to /usr/bin/psql, so the service-key Jobs really run psql against it.
 *
 * The manager runs in this process on a FAKE clock: the simulator runs in
 * real time, only the operator's decisions (window start/end, timeouts,
 * requeues) follow the fake clock, which the test moves. The clock starts
 * tomorrow (UTC), so service-key expiries computed from it are in the
 * database's future.
 *
 * What is proven:
 *   - DisablePushes on a Quay 3.12 registry is refused with a clear
 *     condition, and activates once the registry runs 3.13;
 *   - each mode enters and leaves: DisablePushes ended by deleting the
 *     window (the spec is as before, the original bundle's sha256
 *     unchanged, rendered Secrets gone); ScaleDown with a storage cutover
 *     made under it (the cutover survives the window's end); ReadOnly with
 *     its key registered before the rollout and expired in the database
 *     at its end (the private key never in a status or an Event);
 *   - DisablePushes 10:00-12:00 and ReadOnly 11:00-11:30 on one registry:
 *     the right mode at 09:59, 10:30, 11:15, 11:45 and 12:01, with metrics;
 *   - a ScaleDown ending while a ReadOnly window registers its key does not
 *     bring pods back before the read-only configuration is in place;
 *   - a failed rollout (the stand-in's failRollout) times out, withdraws
 *     and says why in the target's own words;
 *   - a GitOps tool putting the registry's bundle back is reported
 *     (ConfigChangedExternally) and not fought; the window's end then waits
 *     for a person, whose break-glass restore releases it;
 *   - an operator restarted while a key's registration Job was pending
 *     expires that key and finishes with a new one;
 *   - a key registration that never finishes times out: nothing was
 *     applied, the key is expired once pods run again, the window lets go;
 *   - a ReadOnly key follows its window: registered until the end plus a
 *     margin, extended when the end moves out, renewed a day ahead while a
 *     window without an end lasts;
 *   - StandaloneQuay: ReadOnly edits the config Secret in place, ScaleDown
 *     on top gives the Deployments back exactly their replicas, the end
 *     restores the Secret's data byte for byte;
 *   - where the QuayRegistry CRD offers spec.readOnly, ReadOnly uses it (no
 *     key of ours), composes with DisablePushes, and puts it back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctl_clock.h"
#include "ctl_manager.h"
#include "ctl_readonlywindow.h"
#include "k8s_buf.h"
#include "k8s_client.h"
#include "k8s_config.h"
#include "k8s_patch.h"
#include "kubesim_harness.h"
#include "quay_bundle.h"
#include "quay_composer.h"
#include "quay_readonly_spec.h"
#include "test_json.h"

static const struct k8s_resource SECRETS = {"", "v1", "secrets", 1};
static const struct k8s_resource NAMESPACES = {"", "v1", "namespaces", 0};
static const struct k8s_resource EVENTS = {"", "v1", "events", 1};
static const struct k8s_resource DEPLOYMENTS = {"apps", "v1", "deployments", 1};
static const struct k8s_resource QRS = {"quay.redhat.com", "v1", "quayregistries", 1};
static const struct k8s_resource WINDOWS = {"quaystorage.io", "v1alpha1", "readonlywindows", 1};

#define MIN_MS  60000LL
#define HOUR_MS 3600000LL

struct op {
    struct ctl_clock *clk;
    struct ctl_manager *m;
    struct ctl_rw *rw;
    pthread_t run, pump;
    int rc;
    atomic_int pump_ms; /* fake ms added every 20 ms of real time; 0: none */
    atomic_int stop_pump;
    int running;
};

struct fixture {
    struct kubesim *sim;
    struct k8s_client *c;
    char tmp[256];      /* our CRD as a fixture dir, PostgreSQL's state */
    char pg_state[300]; /* tests/support/postgres state dir */
    char pg_svcfile[400];
    char db_uri[1200];
    int64_t t0; /* tomorrow 09:00 UTC, ms */
    /* One operator for all cases (stopping one takes seconds): each case
     * has its own day on its fake clock, so time only moves forward. */
    struct op op;
    int day;
};

static struct fixture *F;

/* ---- small helpers ---------------------------------------------------------------------- */

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void create(const struct k8s_resource *r, const char *ns, cJSON *o)
{
    struct k8s_error err;
    cJSON *out = NULL;
    int rc = k8s_create(F->c, r, ns, o, NULL, &out, &err);
    if (rc)
        fail_msg("create %s: %s", r->resource, err.message);
    cJSON_Delete(out);
    cJSON_Delete(o);
}

static cJSON *get(const struct k8s_resource *r, const char *ns, const char *name)
{
    struct k8s_error err;
    cJSON *o = NULL;
    int rc = k8s_get(F->c, r, ns, name, NULL, &o, &err);
    if (rc && rc != K8S_ENOTFOUND)
        fail_msg("get %s/%s: %s", ns ? ns : "", name, err.message);
    return o;
}

static void workloads(const char *patch)
{
    char *out = NULL;
    long st = kubesim_admin(F->sim, "POST", "/__admin/workloads", patch, &out);
    if (st != 200)
        fail_msg("workloads %s: %ld %s", patch, st, out ? out : "");
    free(out);
}

static const char *jpath(const cJSON *o, const char *a, const char *b, const char *c)
{
    const cJSON *x = cJSON_GetObjectItem(o, a);
    if (b)
        x = cJSON_GetObjectItem(x, b);
    if (c)
        x = cJSON_GetObjectItem(x, c);
    return cJSON_IsString(x) ? x->valuestring : "";
}

/* ---- the operator, in process, on a fake clock ---------------------------------------- */

static void *op_run(void *arg)
{
    struct op *o = arg;
    struct k8s_error err;
    o->rc = ctl_manager_run(o->m, &err);
    return NULL;
}

static void *op_pump(void *arg)
{
    struct op *o = arg;
    while (!atomic_load(&o->stop_pump)) {
        int step = atomic_load(&o->pump_ms);
        if (step > 0)
            ctl_fake_clock_advance(o->clk, step);
        sleep_ms(20);
    }
    return NULL;
}

static void op_start(struct op *o, int64_t wall_ms)
{
    struct ctl_manager_options mo = {0};
    struct ctl_rw_options ro = {.poll_ms = 2000, .resync_ms = 60000};
    struct k8s_config *cfg = NULL;
    struct k8s_error err;
    memset(o, 0, sizeof(*o));
    o->clk = ctl_clock_new_fake(wall_ms);
    assert_non_null(o->clk);
    assert_int_equal(k8s_config_from_kubeconfig(kubesim_kubeconfig(F->sim), NULL, &cfg, &err), 0);
    cfg->qps = 0;
    mo.config = cfg;
    mo.clock = o->clk;
    mo.workers = 2;
    mo.metrics_addr = NULL;
    int rc = ctl_manager_new(&mo, &o->m, &err);
    k8s_config_free(cfg);
    if (rc)
        fail_msg("manager: %s", err.message);
    rc = ctl_rw_register(o->m, &ro, &o->rw, &err);
    if (rc)
        fail_msg("register: %s", err.message);
    assert_int_equal(pthread_create(&o->run, NULL, op_run, o), 0);
    assert_int_equal(pthread_create(&o->pump, NULL, op_pump, o), 0);
    o->running = 1;
}

static void op_stop(struct op *o)
{
    o->running = 0;
    atomic_store(&o->stop_pump, 1);
    pthread_join(o->pump, NULL);
    ctl_manager_request_stop(o->m);
    pthread_join(o->run, NULL);
    assert_int_equal(o->rc, 0);
    ctl_manager_free(o->m);
    ctl_rw_free(o->rw);
    ctl_clock_free(o->clk);
}

/* Moves the fake clock to `wall_ms` (never backwards). */
static void op_at(struct op *o, int64_t wall_ms)
{
    int64_t now = ctl_clock_wall_ms(o->clk);
    if (wall_ms > now)
        ctl_fake_clock_advance(o->clk, wall_ms - now);
}

static int64_t at(int h, int m)
{
    return F->t0 + (int64_t)F->day * 24 * HOUR_MS + (int64_t)(h - 9) * HOUR_MS +
           (int64_t)m * MIN_MS;
}

/* The shared operator, its clock at 09:00 of this case's own `day`. */
static struct op *op_day(int day)
{
    F->day = day;
    if (!F->op.running) {
        op_start(&F->op, at(9, 0));
    } else {
        atomic_store(&F->op.pump_ms, 0);
        op_at(&F->op, at(9, 0));
    }
    return &F->op;
}

static void rfc3339(int64_t ms, char *buf, size_t cap)
{
    ctl_clock_format_rfc3339(ms, buf, cap);
}

/* ---- registries ---------------------------------------------------------------------------- */

static void make_ns(const char *ns)
{
    create(
        &NAMESPACES, NULL,
        test_json("{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"%s\"}}",
                  ns));
}

static const char *config_yaml(const char *storage_host)
{
    static char buf[4096];
    snprintf(buf, sizeof(buf),
             "SERVER_HOSTNAME: quay.example.com\n"
             "DB_URI: %s\n"
             "FEATURE_USER_INITIALIZE: true\n"
             "DISTRIBUTED_STORAGE_CONFIG:\n"
             "  default:\n"
             "  - S3Storage\n"
             "  - host: %s\n"
             "    s3_bucket: quay\n"
             "    s3_access_key: AKIATEST\n"
             "    s3_secret_key: test-secret\n"
             "    storage_path: /datastorage/registry\n"
             "DISTRIBUTED_STORAGE_DEFAULT_LOCATIONS: []\n"
             "DISTRIBUTED_STORAGE_PREFERENCE:\n"
             "- default\n",
             F->db_uri, storage_host);
    return buf;
}

static struct quay_bundle *bundle_for(const char *storage_host)
{
    struct k8s_error err;
    struct quay_bundle *b = quay_bundle_new(QUAY_BUNDLE_OPERATOR, NULL);
    const char *y = config_yaml(storage_host);
    assert_non_null(b);
    assert_int_equal(quay_bundle_put(b, "config.yaml", y, strlen(y), &err), 0);
    return b;
}

static void sha_of_secret(const char *ns, const char *name, char sha[65])
{
    struct k8s_error err;
    struct quay_bundle *b = NULL;
    cJSON *o = get(&SECRETS, ns, name);
    assert_non_null(o);
    assert_int_equal(quay_bundle_from_secret_data(cJSON_GetObjectItem(o, "data"),
                                                  QUAY_BUNDLE_OPERATOR, NULL, &b, &err),
                     0);
    quay_bundle_sha256_hex(b, sha);
    quay_bundle_free(b);
    cJSON_Delete(o);
}

/* A QuayRegistry with the test database (unmanaged postgres) and storage
 * in its bundle, rolled out by the stand-in. */
static void make_registry(const char *ns, const char *reg)
{
    struct k8s_error err;
    struct quay_bundle *b = bundle_for("s3.old.example.com");
    cJSON *data = NULL;
    assert_int_equal(quay_bundle_to_secret_data(b, &data, &err), 0);
    quay_bundle_free(b);
    cJSON *sec = test_json("{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"%s-"
                           "bundle\",\"namespace\":\"%s\"},\"type\":\"Opaque\"}",
                           reg, ns);
    cJSON_AddItemToObject(sec, "data", data);
    create(&SECRETS, ns, sec);
    create(&QRS, ns,
           test_json("{\"apiVersion\":\"quay.redhat.com/v1\",\"kind\":\"QuayRegistry\","
                     "\"metadata\":{\"name\":\"%s\",\"namespace\":\"%s\"},"
                     "\"spec\":{\"configBundleSecret\":\"%s-bundle\",\"components\":["
                     "{\"kind\":\"postgres\",\"managed\":false},"
                     "{\"kind\":\"objectstorage\",\"managed\":false}]}}",
                     reg, ns, reg));
}

/* The stand-in's rendered config of the registry (what quay-app mounts). */
static struct quay_bundle *effective(const char *ns, const char *reg)
{
    struct quay_target_ref t;
    struct quay_bundle *b = NULL;
    struct k8s_error err;
    assert_int_equal(quay_target_ref_init(&t, QUAY_TARGET_QUAYREGISTRY, ns, reg, &err), 0);
    if (quay_target_effective_bundle(F->c, &t, &b, &err) != 0)
        return NULL;
    return b;
}

/* "readonly", "pushes-off", or "normal" from the effective config. */
static const char *config_mode(const struct quay_bundle *b)
{
    struct k8s_error err;
    char state[64] = "";
    int present = 0, dp = 0;
    if (!b)
        return "none";
    if (quay_bundle_get_string(b, QUAY_KEY_REGISTRY_STATE, state, sizeof(state), &present, &err) ==
            0 &&
        present && strcmp(state, "readonly") == 0)
        return "readonly";
    present = 0;
    if (quay_bundle_get_bool(b, QUAY_KEY_DISABLE_PUSHES, &dp, &present, &err) == 0 && present && dp)
        return "pushes-off";
    return "normal";
}

static long quay_app_replicas(const char *ns, const char *reg)
{
    char name[300];
    snprintf(name, sizeof(name), "%s-quay-app", reg);
    cJSON *d = get(&DEPLOYMENTS, ns, name);
    const cJSON *r = cJSON_GetObjectItem(cJSON_GetObjectItem(d, "spec"), "replicas");
    long v = cJSON_IsNumber(r) ? (long)r->valuedouble : -1;
    cJSON_Delete(d);
    return v;
}

static int registry_mode_is(const char *ns, const char *reg, const char *mode)
{
    struct quay_bundle *b = effective(ns, reg);
    int ok = strcmp(config_mode(b), mode) == 0;
    quay_bundle_free(b);
    return ok;
}

/* Rolled out by the stand-in, database migrations done (currentVersion). */
static int registry_ready(const char *ns, const char *reg, const char *version)
{
    cJSON *qr = get(&QRS, ns, reg);
    int ok = qr && strcmp(jpath(qr, "status", "currentVersion", NULL), version) == 0;
    cJSON_Delete(qr);
    return ok && registry_mode_is(ns, reg, "normal");
}

static int count_rendered(const char *ns)
{
    struct k8s_error err;
    cJSON *list = NULL, *it;
    int n = 0;
    struct k8s_opts o = {.label_selector = QUAY_LABEL_MANAGED_BY "=" QUAY_MANAGED_BY};
    assert_int_equal(k8s_list(F->c, &SECRETS, ns, &o, &list, &err), 0);
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(list, "items")) n +=
        quay_secret_has_role(it, QUAY_ROLE_RENDERED);
    cJSON_Delete(list);
    return n;
}

/* ---- windows ------------------------------------------------------------------------------ */

/* start/end: 0 for none; timeout_s 0: 3600. */
static void make_window(const char *ns, const char *name, const char *reg, const char *mode,
                        int64_t start, int64_t end, int timeout_s)
{
    char s[40], e[40], extra[200] = "";
    size_t n = 0;
    if (start) {
        rfc3339(start, s, sizeof(s));
        n += (size_t)snprintf(extra + n, sizeof(extra) - n, ",\"startTime\":\"%s\"", s);
    }
    if (end) {
        rfc3339(end, e, sizeof(e));
        snprintf(extra + n, sizeof(extra) - n, ",\"endTime\":\"%s\"", e);
    }
    create(
        &WINDOWS, ns,
        test_json(
            "{\"apiVersion\":\"quaystorage.io/v1alpha1\",\"kind\":\"ReadOnlyWindow\","
            "\"metadata\":{\"name\":\"%s\",\"namespace\":\"%s\"},"
            "\"spec\":{\"target\":{\"type\":\"QuayRegistry\",\"quayRegistry\":{\"name\":\"%s\"}},"
            "\"mode\":\"%s\",\"activationTimeoutSeconds\":%d,\"reason\":\"test\"%s}}",
            name, ns, reg, mode, timeout_s ? timeout_s : 3600, extra));
}

static void delete_window(const char *ns, const char *name)
{
    struct k8s_error err;
    int rc = k8s_delete(F->c, &WINDOWS, ns, name, NULL, NULL, NULL, &err);
    if (rc && rc != K8S_ENOTFOUND)
        fail_msg("delete window %s: %s", name, err.message);
}

static int phase_is(const char *ns, const char *name, const char *phase)
{
    cJSON *w = get(&WINDOWS, ns, name);
    int ok = w && strcmp(jpath(w, "status", "phase", NULL), phase) == 0;
    cJSON_Delete(w);
    return ok;
}

static int has_finalizer(const cJSON *w)
{
    const cJSON *f = cJSON_GetObjectItem(cJSON_GetObjectItem(w, "metadata"), "finalizers");
    return cJSON_GetArraySize(f) > 0;
}

static int window_gone(const char *ns, const char *name)
{
    cJSON *w = get(&WINDOWS, ns, name);
    cJSON_Delete(w);
    return w == NULL;
}

static void dump_window(const char *ns, const char *name)
{
    cJSON *w = get(&WINDOWS, ns, name);
    char *s = w ? cJSON_Print(cJSON_GetObjectItem(w, "status")) : NULL;
    fprintf(stderr, "window %s/%s status: %s\n", ns, name, s ? s : "(gone)");
    free(s);
    cJSON_Delete(w);
}

/* Waits up to `seconds` of real time for `cond`; `what` names it on failure. */
#define WAIT_FOR(cond, seconds, ns, win)                                                           \
    do {                                                                                           \
        time_t until_ = time(NULL) + (seconds);                                                    \
        while (!(cond)) {                                                                          \
            if (time(NULL) > until_) {                                                             \
                dump_window(ns, win);                                                              \
                fail_msg("timed out waiting for: %s", #cond);                                      \
            }                                                                                      \
            sleep_ms(50);                                                                          \
        }                                                                                          \
    } while (0)

/* The window's status string member, copied. */
static void status_str(const char *ns, const char *name, const char *field, char *out, size_t cap)
{
    cJSON *w = get(&WINDOWS, ns, name);
    snprintf(out, cap, "%s", jpath(w, "status", field, NULL));
    cJSON_Delete(w);
}

static int effective_mode_is(const char *ns, const char *name, const char *mode, const char *ref)
{
    cJSON *w = get(&WINDOWS, ns, name);
    int ok = w && strcmp(jpath(w, "status", "effectiveMode", NULL), mode) == 0 &&
             (!ref || strcmp(jpath(w, "status", "effectiveWindowRef", "name"), ref) == 0);
    cJSON_Delete(w);
    return ok;
}

static void condition(const char *ns, const char *name, const char *type, char *status,
                      char *reason, char *msg, size_t cap)
{
    cJSON *w = get(&WINDOWS, ns, name), *c;
    status[0] = reason[0] = msg[0] = '\0';
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(cJSON_GetObjectItem(w, "status"), "conditions"))
    {
        if (strcmp(jpath(c, "type", NULL, NULL), type) == 0) {
            snprintf(status, 16, "%s", jpath(c, "status", NULL, NULL));
            snprintf(reason, 64, "%s", jpath(c, "reason", NULL, NULL));
            snprintf(msg, cap, "%s", jpath(c, "message", NULL, NULL));
        }
    }
    cJSON_Delete(w);
}

/* No private key anywhere a person or a log reader sees. */
static void assert_no_pem_in_window_or_events(const char *ns, const char *name)
{
    struct k8s_error err;
    cJSON *w = get(&WINDOWS, ns, name), *events = NULL;
    char *s = w ? cJSON_PrintUnformatted(w) : NULL;
    if (s)
        assert_null(strstr(s, "PRIVATE KEY"));
    free(s);
    cJSON_Delete(w);
    assert_int_equal(k8s_list(F->c, &EVENTS, ns, NULL, &events, &err), 0);
    s = cJSON_PrintUnformatted(events);
    assert_null(strstr(s, "PRIVATE KEY"));
    assert_null(strstr(s, "BEGIN RSA"));
    free(s);
    cJSON_Delete(events);
}

static int event_seen(const char *ns, const char *name, const char *reason)
{
    struct k8s_error err;
    cJSON *events = NULL, *e;
    int n = 0;
    assert_int_equal(k8s_list(F->c, &EVENTS, ns, NULL, &events, &err), 0);
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(events, "items"))
    {
        if (strcmp(jpath(e, "involvedObject", "name", NULL), name) == 0 &&
            strcmp(jpath(e, "reason", NULL, NULL), reason) == 0)
            n++;
    }
    cJSON_Delete(events);
    return n;
}

/* ---- the database -------------------------------------------------------------------------- */

/* "alive" (approved, not expired), "dead", or "" (absent). */
static void key_state(const char *kid, char *out, size_t cap)
{
    char cmd[2048];
    snprintf(cmd, sizeof(cmd),
             "PGSERVICEFILE='%s' /usr/bin/psql -X -q -w -At -d service=qso-quay -c \"SELECT CASE "
             "WHEN approval_id IS NOT NULL AND (expiration_date IS NULL OR expiration_date > "
             "(now() AT TIME ZONE 'UTC')) THEN 'alive' ELSE 'dead' END FROM servicekey WHERE "
             "kid = '%s'\"",
             F->pg_svcfile, kid);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    out[0] = '\0';
    if (!fgets(out, (int)cap, p))
        out[0] = '\0';
    out[strcspn(out, "\n")] = '\0';
    pclose(p);
}

/* The key's expiration_date as Unix seconds (0 when absent or NULL). */
static long long key_expiry(const char *kid)
{
    char cmd[2048], out[64] = "";
    snprintf(cmd, sizeof(cmd),
             "PGSERVICEFILE='%s' /usr/bin/psql -X -q -w -At -d service=qso-quay -c \"SELECT "
             "extract(epoch FROM expiration_date)::bigint FROM servicekey WHERE kid = '%s'\"",
             F->pg_svcfile, kid);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    if (!fgets(out, (int)sizeof(out), p))
        out[0] = '\0';
    pclose(p);
    return strtoll(out, NULL, 10);
}

static void merge_patch_window(const char *ns, const char *name, const char *patch)
{
    struct k8s_error err;
    cJSON *p = cJSON_Parse(patch), *out = NULL;
    assert_non_null(p);
    int rc = k8s_patch(F->c, &WINDOWS, ns, name, K8S_PATCH_MERGE, p, NULL, &out, &err);
    if (rc)
        fail_msg("patch window %s: %s", name, err.message);
    cJSON_Delete(out);
    cJSON_Delete(p);
}

/* ---- tests ------------------------------------------------------------------------------------
 */

static void test_disable_pushes_refused_below_3_13(void **state)
{
    (void)state;
    const char *ns = "rw-old";
    struct op *op;
    char st[16], reason[64], msg[2048];
    workloads("{\"quayOperator\":{\"currentVersion\":\"3.12.4\"}}");
    make_ns(ns);
    make_registry(ns, "reg");
    WAIT_FOR(registry_ready(ns, "reg", "3.12.4"), 60, ns, "dp");
    op = op_day(1);
    atomic_store(&op->pump_ms, 100);
    make_window(ns, "dp", "reg", "DisablePushes", 0, 0, 0);
    WAIT_FOR(phase_is(ns, "dp", "Failed"), 60, ns, "dp");
    condition(ns, "dp", "Degraded", st, reason, msg, sizeof(msg));
    assert_string_equal(st, "True");
    assert_string_equal(reason, "UnsupportedQuayVersion");
    assert_non_null(strstr(msg, "3.12.4"));
    assert_non_null(strstr(msg, "ReadOnly"));
    condition(ns, "dp", "Ready", st, reason, msg, sizeof(msg));
    assert_string_equal(st, "False");
    assert_true(event_seen(ns, "dp", "UnsupportedQuayVersion") >= 1);
    /* Nothing was changed: no state record, the registry as it was. */
    assert_null(get(&SECRETS, ns, "qso-state-quayregistry-reg"));
    assert_true(registry_mode_is(ns, "reg", "normal"));

    /* The registry is upgraded within the window: the window activates. */
    workloads("{\"quayOperator\":{\"currentVersion\":\"3.13.3\"}}");
    WAIT_FOR(registry_ready(ns, "reg", "3.13.3"), 90, ns, "dp");
    WAIT_FOR(phase_is(ns, "dp", "Active"), 90, ns, "dp");
    assert_true(registry_mode_is(ns, "reg", "pushes-off"));
    /* Deleted by force (its finalizer removed by hand): the overlay it
     * leaves in the state record is an orphan, and goes too. */
    merge_patch_window(ns, "dp", "{\"metadata\":{\"finalizers\":null}}");
    delete_window(ns, "dp");
    WAIT_FOR(window_gone(ns, "dp"), 10, ns, "dp");
    WAIT_FOR(registry_mode_is(ns, "reg", "normal"), 60, ns, "dp");
    WAIT_FOR(count_rendered(ns) == 0, 30, ns, "dp");
}

static void test_modes_enter_and_leave(void **state)
{
    (void)state;
    const char *ns = "rw-modes";
    struct op *op;
    struct k8s_error err;
    char osha[65], now_sha[65], kid[128], ks[32], st[16], reason[64], msg[2048];
    make_ns(ns);
    make_registry(ns, "reg");
    WAIT_FOR(registry_ready(ns, "reg", "3.13.3") && quay_app_replicas(ns, "reg") == 2, 60, ns, "-");
    /* The spec as the user (and the Quay Operator's defaults) left it. */
    cJSON *qr = get(&QRS, ns, "reg");
    cJSON *spec_before = cJSON_Duplicate(cJSON_GetObjectItem(qr, "spec"), 1);
    cJSON_Delete(qr);
    sha_of_secret(ns, "reg-bundle", osha);
    op = op_day(2);
    atomic_store(&op->pump_ms, 100);

    /* DisablePushes, ended by deleting the window. */
    make_window(ns, "dp", "reg", "DisablePushes", 0, 0, 0);
    WAIT_FOR(phase_is(ns, "dp", "Active"), 60, ns, "dp");
    assert_true(registry_mode_is(ns, "reg", "pushes-off"));
    assert_true(effective_mode_is(ns, "dp", "DisablePushes", "dp"));
    condition(ns, "dp", "Active", st, reason, msg, sizeof(msg));
    assert_string_equal(st, "True");
    assert_non_null(strstr(msg, "is in mode DisablePushes since"));
    assert_non_null(strstr(msg, "lasts until deleted"));
    assert_true(event_seen(ns, "dp", "Activated") >= 1);
    delete_window(ns, "dp");
    WAIT_FOR(window_gone(ns, "dp"), 60, ns, "dp");
    assert_true(registry_mode_is(ns, "reg", "normal"));
    qr = get(&QRS, ns, "reg");
    assert_true(k8s_json_equal(cJSON_GetObjectItem(qr, "spec"), spec_before));
    cJSON_Delete(qr);
    sha_of_secret(ns, "reg-bundle", now_sha);
    assert_string_equal(now_sha, osha);
    assert_int_equal(count_rendered(ns), 0);

    /* ReadOnly: key registered first, expired at the end. */
    make_window(ns, "ro", "reg", "ReadOnly", 0, at(9, 30), 0);
    WAIT_FOR(phase_is(ns, "ro", "Active"), 90, ns, "ro");
    atomic_store(&op->pump_ms, 0);
    assert_true(registry_mode_is(ns, "reg", "readonly"));
    status_str(ns, "ro", "serviceKeyID", kid, sizeof(kid));
    assert_int_equal(strlen(kid), 43);
    key_state(kid, ks, sizeof(ks));
    assert_string_equal(ks, "alive");
    assert_true(event_seen(ns, "ro", "ServiceKeyRegistered") >= 1);
    status_str(ns, "ro", "readOnlyMechanism", msg, sizeof(msg));
    assert_string_equal(msg, "ConfigBundle");
    {
        /* The rendered bundle carries the key files the config points at. */
        struct quay_bundle *b = effective(ns, "reg");
        char loc[256];
        int present = 0;
        assert_non_null(b);
        assert_int_equal(
            quay_bundle_get_string(b, QUAY_KEY_SERVICE_KEY_KID, loc, sizeof(loc), &present, &err),
            0);
        assert_true(present);
        assert_non_null(strstr(loc, "conf/stack/qso-readonly-"));
        quay_bundle_free(b);
    }
    assert_no_pem_in_window_or_events(ns, "ro");
    op_at(op, at(9, 30));
    atomic_store(&op->pump_ms, 100);
    WAIT_FOR(phase_is(ns, "ro", "Ended"), 90, ns, "ro");
    assert_true(registry_mode_is(ns, "reg", "normal"));
    key_state(kid, ks, sizeof(ks));
    assert_string_equal(ks, "dead");
    assert_true(event_seen(ns, "ro", "ServiceKeyExpired") >= 1);
    condition(ns, "ro", "Ready", st, reason, msg, sizeof(msg));
    assert_string_equal(st, "True");
    assert_string_equal(reason, "Ended");
    /* An ended window holds nothing: no finalizer, deletion is immediate. */
    cJSON *w = get(&WINDOWS, ns, "ro");
    assert_false(has_finalizer(w));
    cJSON_Delete(w);
    qr = get(&QRS, ns, "reg");
    assert_true(k8s_json_equal(cJSON_GetObjectItem(qr, "spec"), spec_before));
    cJSON_Delete(qr);
    assert_int_equal(count_rendered(ns), 0);
    assert_no_pem_in_window_or_events(ns, "ro");

    /* ScaleDown, with a storage cutover (a migration's base) under it. */
    make_window(ns, "sd", "reg", "ScaleDown", 0, at(10, 0), 0);
    WAIT_FOR(phase_is(ns, "sd", "Active"), 90, ns, "sd");
    assert_int_equal(quay_app_replicas(ns, "reg"), 0);
    {
        /* A migration cuts the storage over meanwhile. Writes to one target
         * are serialized (the composer's contract; a migration reconciler
         * shares the target's work-queue key): the operator is paused for it. */
        struct quay_target_ref t;
        struct quay_bundle *cut = bundle_for("s3.new.example.com");
        int64_t now = ctl_clock_wall_ms(op->clk);
        op_stop(op);
        assert_int_equal(quay_target_ref_init(&t, QUAY_TARGET_QUAYREGISTRY, ns, "reg", &err), 0);
        assert_int_equal(quay_composer_set_base(F->c, &t, cut, &err), 0);
        quay_bundle_free(cut);
        op_start(op, now);
        atomic_store(&op->pump_ms, 100);
    }
    op_at(op, at(10, 0));
    WAIT_FOR(phase_is(ns, "sd", "Ended"), 90, ns, "sd");
    assert_int_equal(quay_app_replicas(ns, "reg"), 2);
    {
        /* The cutover survived the window's end. */
        struct quay_bundle *b = effective(ns, "reg");
        size_t len = 0;
        assert_non_null(b);
        assert_string_equal(config_mode(b), "normal");
        const unsigned char *y = quay_bundle_get(b, "config.yaml", &len);
        assert_non_null(y);
        assert_non_null(strstr((const char *)y, "s3.new.example.com"));
        quay_bundle_free(b);
    }
    sha_of_secret(ns, "reg-bundle", now_sha);
    assert_string_equal(now_sha, osha);
    cJSON_Delete(spec_before);
}

static void test_overlapping_windows_on_the_clock(void **state)
{
    (void)state;
    const char *ns = "rw-clock";
    struct op *op;
    struct k8s_buf metrics;
    char kid[128], ks[32];
    make_ns(ns);
    make_registry(ns, "reg");
    WAIT_FOR(registry_ready(ns, "reg", "3.13.3"), 60, ns, "-");
    op = op_day(3);
    op_at(op, at(9, 58));
    make_window(ns, "pushes", "reg", "DisablePushes", at(10, 0), at(12, 0), 0);
    make_window(ns, "readonly", "reg", "ReadOnly", at(11, 0), at(11, 30), 0);

    /* 09:59: both scheduled, the registry as it was. */
    op_at(op, at(9, 59));
    WAIT_FOR(phase_is(ns, "pushes", "Scheduled") && phase_is(ns, "readonly", "Scheduled"), 30, ns,
             "pushes");
    {
        char st[16], reason[64], msg[2048];
        condition(ns, "readonly", "Active", st, reason, msg, sizeof(msg));
        assert_string_equal(reason, "Scheduled");
        assert_non_null(strstr(msg, "activates at"));
        assert_non_null(strstr(msg, "T11:00:00Z"));
    }
    sleep_ms(500);
    assert_true(registry_mode_is(ns, "reg", "normal"));

    /* 10:30: pushes disabled. */
    op_at(op, at(10, 30));
    atomic_store(&op->pump_ms, 10);
    WAIT_FOR(phase_is(ns, "pushes", "Active") &&
                 effective_mode_is(ns, "pushes", "DisablePushes", "pushes"),
             60, ns, "pushes");
    assert_true(registry_mode_is(ns, "reg", "pushes-off"));
    assert_true(phase_is(ns, "readonly", "Scheduled"));

    /* 11:15: read-only, set by the ReadOnly window, on both windows. */
    atomic_store(&op->pump_ms, 0);
    op_at(op, at(11, 15));
    atomic_store(&op->pump_ms, 10);
    WAIT_FOR(phase_is(ns, "readonly", "Active") &&
                 effective_mode_is(ns, "pushes", "ReadOnly", "readonly") &&
                 effective_mode_is(ns, "readonly", "ReadOnly", "readonly"),
             90, ns, "readonly");
    assert_true(registry_mode_is(ns, "reg", "readonly"));
    atomic_store(&op->pump_ms, 0);
    memset(&metrics, 0, sizeof(metrics));
    k8s_buf_init(&metrics, 1 << 20);
    assert_int_equal(ctl_metrics_render(ctl_manager_metrics(op->m), &metrics), 0);
    assert_non_null(
        strstr(metrics.data, "qso_readonlywindow_active{namespace=\"rw-clock\",target=\"reg\"} 2"));
    assert_non_null(strstr(metrics.data,
                           "qso_readonlywindow_overdue{namespace=\"rw-clock\",target=\"reg\"} 0"));
    {
        const char *p =
            strstr(metrics.data, "qso_readonlywindow_seconds_left{namespace=\"rw-clock\","
                                 "name=\"readonly\"} ");
        assert_non_null(p);
        double left = strtod(strchr(p, '}') + 2, NULL);
        assert_true(left > 0 && left <= 15 * 60);
    }
    k8s_buf_free(&metrics);
    status_str(ns, "readonly", "serviceKeyID", kid, sizeof(kid));
    key_state(kid, ks, sizeof(ks));
    assert_string_equal(ks, "alive");

    /* 11:45: back to pushes disabled; the key expired. */
    op_at(op, at(11, 45));
    atomic_store(&op->pump_ms, 10);
    WAIT_FOR(phase_is(ns, "readonly", "Ended") &&
                 effective_mode_is(ns, "pushes", "DisablePushes", "pushes"),
             90, ns, "readonly");
    assert_true(registry_mode_is(ns, "reg", "pushes-off"));
    key_state(kid, ks, sizeof(ks));
    assert_string_equal(ks, "dead");

    /* 12:01: nothing. */
    atomic_store(&op->pump_ms, 0);
    op_at(op, at(12, 1));
    atomic_store(&op->pump_ms, 10);
    WAIT_FOR(phase_is(ns, "pushes", "Ended"), 90, ns, "pushes");
    assert_true(registry_mode_is(ns, "reg", "normal"));
    assert_int_equal(count_rendered(ns), 0);
    assert_true(event_seen(ns, "pushes", "Scheduled") >= 1);
    assert_true(event_seen(ns, "pushes", "Ended") >= 1);
}

struct watch_pods {
    const char *ns;
    atomic_int stop;
    atomic_int violations;
    atomic_int samples;
    pthread_t th;
};

/* Samples the quay-app Deployment: replicas above 0 must come with the
 * read-only configuration mounted. */
static void *watch_quay_app(void *arg)
{
    struct watch_pods *wp = arg;
    while (!atomic_load(&wp->stop)) {
        long rep = quay_app_replicas(wp->ns, "reg");
        struct quay_bundle *b = effective(wp->ns, "reg");
        if (rep > 0 && b && strcmp(config_mode(b), "readonly") != 0)
            atomic_fetch_add(&wp->violations, 1);
        atomic_fetch_add(&wp->samples, 1);
        quay_bundle_free(b);
        sleep_ms(20);
    }
    return NULL;
}

static void test_scale_down_never_gives_way_to_a_weaker_mode(void **state)
{
    (void)state;
    const char *ns = "rw-hold";
    struct op *op;
    struct watch_pods wp = {.ns = ns};
    make_ns(ns);
    make_registry(ns, "reg");
    WAIT_FOR(registry_ready(ns, "reg", "3.13.3"), 60, ns, "-");
    op = op_day(4);
    atomic_store(&op->pump_ms, 100);
    make_window(ns, "sd", "reg", "ScaleDown", 0, 0, 0);
    WAIT_FOR(phase_is(ns, "sd", "Active"), 60, ns, "sd");
    assert_int_equal(quay_app_replicas(ns, "reg"), 0);

    /* A ReadOnly window starts as the ScaleDown one is deleted: pods come
     * back only with the read-only configuration. */
    assert_int_equal(pthread_create(&wp.th, NULL, watch_quay_app, &wp), 0);
    make_window(ns, "ro", "reg", "ReadOnly", 0, 0, 0);
    WAIT_FOR(phase_is(ns, "ro", "Activating"), 30, ns, "ro");
    delete_window(ns, "sd");
    WAIT_FOR(window_gone(ns, "sd") && phase_is(ns, "ro", "Active"), 90, ns, "ro");
    WAIT_FOR(quay_app_replicas(ns, "reg") == 2, 30, ns, "ro");
    sleep_ms(300);
    atomic_store(&wp.stop, 1);
    pthread_join(wp.th, NULL);
    assert_true(atomic_load(&wp.samples) > 10);
    assert_int_equal(atomic_load(&wp.violations), 0);
    assert_true(registry_mode_is(ns, "reg", "readonly"));

    delete_window(ns, "ro");
    WAIT_FOR(window_gone(ns, "ro"), 90, ns, "ro");
    assert_true(registry_mode_is(ns, "reg", "normal"));
}

static void test_changed_externally_is_not_fought(void **state)
{
    (void)state;
    const char *ns = "rw-gitops";
    struct op *op;
    struct k8s_error err;
    char st[16], reason[64], msg[2048];
    make_ns(ns);
    make_registry(ns, "reg");
    WAIT_FOR(registry_ready(ns, "reg", "3.13.3"), 60, ns, "-");
    op = op_day(9);
    atomic_store(&op->pump_ms, 100);
    make_window(ns, "dp", "reg", "DisablePushes", 0, 0, 0);
    WAIT_FOR(phase_is(ns, "dp", "Active"), 60, ns, "dp");

    /* A GitOps tool puts its copy of the QuayRegistry back. */
    cJSON *p = test_json("{\"spec\":{\"configBundleSecret\":\"reg-bundle\"}}"), *res = NULL;
    assert_int_equal(k8s_patch(F->c, &QRS, ns, "reg", K8S_PATCH_MERGE, p, NULL, &res, &err), 0);
    cJSON_Delete(p);
    cJSON_Delete(res);
    WAIT_FOR((condition(ns, "dp", "Degraded", st, reason, msg, sizeof(msg)),
              strcmp(reason, "ConfigChangedExternally") == 0),
             60, ns, "dp");
    assert_string_equal(st, "True");
    assert_non_null(strstr(msg, "ignoreDifferences"));
    condition(ns, "dp", "Active", st, reason, msg, sizeof(msg));
    assert_string_equal(st, "Unknown");
    assert_true(event_seen(ns, "dp", "ConfigChangedExternally") >= 1);
    /* Not fought: the registry keeps what the tool wrote. */
    sleep_ms(2000);
    cJSON *qr = get(&QRS, ns, "reg");
    assert_string_equal(jpath(qr, "spec", "configBundleSecret", NULL), "reg-bundle");
    cJSON_Delete(qr);

    /* The tool put back the ORIGINAL (what Git holds): once the window ends,
     * that is exactly what is wanted, so the window is released without a
     * person's restore, and the registry runs its original configuration. */
    delete_window(ns, "dp");
    WAIT_FOR(window_gone(ns, "dp"), 60, ns, "dp");
    assert_true(registry_mode_is(ns, "reg", "normal"));
    qr = get(&QRS, ns, "reg");
    assert_string_equal(jpath(qr, "spec", "configBundleSecret", NULL), "reg-bundle");
    cJSON_Delete(qr);
}

static void test_failed_rollout_withdraws_and_says_why(void **state)
{
    (void)state;
    const char *ns = "rw-fail";
    struct op *op;
    char st[16], reason[64], msg[2048];
    make_ns(ns);
    make_registry(ns, "reg");
    WAIT_FOR(registry_ready(ns, "reg", "3.13.3"), 60, ns, "-");
    cJSON *qr = get(&QRS, ns, "reg");
    cJSON *spec_before = cJSON_Duplicate(cJSON_GetObjectItem(qr, "spec"), 1);
    cJSON_Delete(qr);
    op = op_day(10);
    workloads("{\"quayOperator\":{\"failRollout\":true}}");
    make_window(ns, "dp", "reg", "DisablePushes", 0, 0, 60);
    WAIT_FOR(phase_is(ns, "dp", "Activating"), 60, ns, "dp");
    /* The rollout never completes: the activation times out by the clock. */
    sleep_ms(1000);
    op_at(op, ctl_clock_wall_ms(op->clk) + 61000);
    WAIT_FOR(phase_is(ns, "dp", "Failed"), 60, ns, "dp");
    condition(ns, "dp", "Degraded", st, reason, msg, sizeof(msg));
    assert_string_equal(st, "True");
    assert_string_equal(reason, "ActivationTimedOut");
    assert_non_null(strstr(msg, "within activationTimeoutSeconds (60 s)"));
    assert_non_null(strstr(msg, "withdrawn"));
    /* The target's own words: the quay-app rollout it waited for. */
    if (!strstr(msg, "quay-app"))
        fprintf(stderr, "Degraded message: %s\n", msg);
    assert_non_null(strstr(msg, "quay-app"));
    assert_true(event_seen(ns, "dp", "ActivationTimedOut") >= 1);
    /* Withdrawn: once the registry can roll out again, it runs the original. */
    workloads("{\"quayOperator\":{\"failRollout\":false}}");
    atomic_store(&op->pump_ms, 100);
    WAIT_FOR(registry_mode_is(ns, "reg", "normal"), 90, ns, "dp");
    cJSON *w = NULL;
    time_t until = time(NULL) + 60;
    for (;;) {
        w = get(&WINDOWS, ns, "dp");
        if (!has_finalizer(w))
            break;
        cJSON_Delete(w);
        w = NULL;
        if (time(NULL) > until)
            fail_msg("the failed window keeps its finalizer");
        sleep_ms(100);
    }
    assert_string_equal(jpath(w, "status", "phase", NULL), "Failed");
    cJSON_Delete(w);
    qr = get(&QRS, ns, "reg");
    assert_true(k8s_json_equal(cJSON_GetObjectItem(qr, "spec"), spec_before));
    cJSON_Delete(qr);
    cJSON_Delete(spec_before);
    WAIT_FOR(count_rendered(ns) == 0, 30, ns, "dp");
    delete_window(ns, "dp");
    WAIT_FOR(window_gone(ns, "dp"), 30, ns, "dp");
}

static void test_restart_while_a_key_registers(void **state)
{
    (void)state;
    const char *ns = "rw-restart";
    struct op *op;
    char kid1[128], kid2[128], ks[32];
    make_ns(ns);
    make_registry(ns, "reg");
    WAIT_FOR(registry_ready(ns, "reg", "3.13.3"), 60, ns, "-");
    /* Registration pods cannot start: the first operator stops while its
     * key's Job is pending. */
    workloads("{\"kubelet\":{\"enabled\":false}}");
    op = op_day(5);
    atomic_store(&op->pump_ms, 100);
    make_window(ns, "ro", "reg", "ReadOnly", 0, 0, 0);
    WAIT_FOR(phase_is(ns, "ro", "Activating"), 60, ns, "ro");
    {
        char st[16], reason[64], msg[2048];
        time_t until = time(NULL) + 30;
        do {
            condition(ns, "ro", "Active", st, reason, msg, sizeof(msg));
            if (strstr(msg, "Registering service key"))
                break;
            sleep_ms(100);
        } while (time(NULL) < until);
        assert_non_null(strstr(msg, "Registering service key"));
        assert_string_equal(reason, "RegisteringServiceKey");
    }
    status_str(ns, "ro", "serviceKeyID", kid1, sizeof(kid1));
    assert_int_equal(strlen(kid1), 43);
    op_stop(op);

    /* A new process: the old key is replaced, never used. */
    workloads("{\"kubelet\":{\"enabled\":true}}");
    op_start(op, at(9, 5));
    atomic_store(&op->pump_ms, 100);
    WAIT_FOR(phase_is(ns, "ro", "Active"), 120, ns, "ro");
    status_str(ns, "ro", "serviceKeyID", kid2, sizeof(kid2));
    assert_string_not_equal(kid1, kid2);
    key_state(kid1, ks, sizeof(ks));
    assert_true(strcmp(ks, "dead") == 0 || strcmp(ks, "") == 0);
    key_state(kid2, ks, sizeof(ks));
    assert_string_equal(ks, "alive");
    assert_true(registry_mode_is(ns, "reg", "readonly"));
    delete_window(ns, "ro");
    WAIT_FOR(window_gone(ns, "ro"), 90, ns, "ro");
    key_state(kid2, ks, sizeof(ks));
    assert_string_equal(ks, "dead");
}

static int64_t status_time(const char *ns, const char *name, const char *field)
{
    char buf[64];
    int64_t ms = 0;
    status_str(ns, name, field, buf, sizeof(buf));
    if (ctl_clock_parse_rfc3339(buf, &ms) != 0)
        return 0;
    return ms;
}

/* Reads the window's kid; 1 once it has one. */
static int read_kid(const char *ns, const char *name, char *kid, size_t cap)
{
    status_str(ns, name, "serviceKeyID", kid, cap);
    return strlen(kid) == 43;
}

static void test_key_registration_that_never_finishes(void **state)
{
    (void)state;
    const char *ns = "rw-stuck-key";
    struct op *op;
    char kid[128], ks[32], st[16], reason[64], msg[2048];
    make_ns(ns);
    make_registry(ns, "reg");
    WAIT_FOR(registry_ready(ns, "reg", "3.13.3"), 60, ns, "-");
    /* No pod can run: the registration Job never finishes. */
    workloads("{\"kubelet\":{\"enabled\":false}}");
    op = op_day(6);
    make_window(ns, "ro", "reg", "ReadOnly", 0, 0, 30);
    WAIT_FOR(phase_is(ns, "ro", "Activating"), 60, ns, "ro");
    WAIT_FOR(read_kid(ns, "ro", kid, sizeof(kid)), 30, ns, "ro");
    sleep_ms(1000);
    op_at(op, ctl_clock_wall_ms(op->clk) + 31000);
    WAIT_FOR(phase_is(ns, "ro", "Failed"), 60, ns, "ro");
    condition(ns, "ro", "Degraded", st, reason, msg, sizeof(msg));
    assert_string_equal(reason, "ActivationTimedOut");
    assert_non_null(strstr(msg, "Registering service key"));
    /* Nothing was applied to the registry; the key is expired once pods
     * run again, and the window lets go. */
    assert_true(registry_mode_is(ns, "reg", "normal"));
    assert_null(get(&SECRETS, ns, "qso-state-quayregistry-reg"));
    workloads("{\"kubelet\":{\"enabled\":true}}");
    atomic_store(&op->pump_ms, 100);
    cJSON *w = NULL;
    time_t until = time(NULL) + 60;
    for (;;) {
        w = get(&WINDOWS, ns, "ro");
        if (!has_finalizer(w))
            break;
        cJSON_Delete(w);
        if (time(NULL) > until) {
            dump_window(ns, "ro");
            fail_msg("the failed window keeps its finalizer");
        }
        sleep_ms(100);
    }
    cJSON_Delete(w);
    key_state(kid, ks, sizeof(ks));
    assert_true(strcmp(ks, "dead") == 0 || strcmp(ks, "") == 0);
    delete_window(ns, "ro");
    WAIT_FOR(window_gone(ns, "ro"), 30, ns, "ro");
}

static void test_readonly_key_follows_the_window(void **state)
{
    (void)state;
    const char *ns = "rw-renew";
    struct op *op;
    char kid[128], ks[32], patch[256], end[40];
    make_ns(ns);
    make_registry(ns, "reg");
    WAIT_FOR(registry_ready(ns, "reg", "3.13.3"), 60, ns, "-");
    op = op_day(7);
    atomic_store(&op->pump_ms, 100);
    make_window(ns, "ro", "reg", "ReadOnly", 0, at(10, 0), 0);
    WAIT_FOR(phase_is(ns, "ro", "Active"), 90, ns, "ro");
    status_str(ns, "ro", "serviceKeyID", kid, sizeof(kid));
    /* Registered until the end plus the margin (one hour). */
    assert_int_equal(status_time(ns, "ro", "serviceKeyExpiryTime"), at(11, 0));
    assert_int_equal(key_expiry(kid), at(11, 0) / 1000);

    /* The end moves out by two hours: the key follows. */
    rfc3339(at(12, 0), end, sizeof(end));
    snprintf(patch, sizeof(patch), "{\"spec\":{\"endTime\":\"%s\"}}", end);
    merge_patch_window(ns, "ro", patch);
    WAIT_FOR(status_time(ns, "ro", "serviceKeyExpiryTime") == at(13, 0), 60, ns, "ro");
    assert_int_equal(key_expiry(kid), at(13, 0) / 1000);
    assert_true(event_seen(ns, "ro", "ServiceKeyRenewed") >= 1);
    assert_true(phase_is(ns, "ro", "Active"));
    assert_int_equal(status_time(ns, "ro", "endTime"), at(12, 0));

    /* No end any more: a day ahead, renewed while it lasts. */
    merge_patch_window(ns, "ro", "{\"spec\":{\"endTime\":null}}");
    WAIT_FOR(status_time(ns, "ro", "serviceKeyExpiryTime") > at(13, 0) + 12 * HOUR_MS, 60, ns,
             "ro");
    int64_t first = status_time(ns, "ro", "serviceKeyExpiryTime");
    assert_int_equal(key_expiry(kid), first / 1000);
    atomic_store(&op->pump_ms, 0);
    op_at(op, first - 11 * HOUR_MS);
    atomic_store(&op->pump_ms, 100);
    WAIT_FOR(status_time(ns, "ro", "serviceKeyExpiryTime") > first, 90, ns, "ro");
    assert_int_equal(key_expiry(kid), status_time(ns, "ro", "serviceKeyExpiryTime") / 1000);
    key_state(kid, ks, sizeof(ks));
    assert_string_equal(ks, "alive");
    assert_true(phase_is(ns, "ro", "Active"));
    delete_window(ns, "ro");
    WAIT_FOR(window_gone(ns, "ro"), 90, ns, "ro");
    key_state(kid, ks, sizeof(ks));
    assert_string_equal(ks, "dead");
}

/* ---- StandaloneQuay ------------------------------------------------------------------------ */

static void make_standalone(const char *ns)
{
    struct k8s_error err;
    struct quay_bundle *b = bundle_for("s3.old.example.com");
    cJSON *data = NULL;
    assert_int_equal(quay_bundle_to_secret_data(b, &data, &err), 0);
    quay_bundle_free(b);
    cJSON *sec = test_json("{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":"
                           "\"quay-config\",\"namespace\":\"%s\"},\"type\":\"Opaque\"}",
                           ns);
    cJSON_AddItemToObject(sec, "data", data);
    create(&SECRETS, ns, sec);
    const char *deps[][2] = {{"quay-app", "3"}, {"quay-mirror", "1"}};
    for (size_t i = 0; i < 2; i++)
        create(&DEPLOYMENTS, ns,
               test_json("{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{"
                         "\"name\":\"%s\",\"namespace\":\"%s\"},\"spec\":{\"replicas\":%s,"
                         "\"selector\":{\"matchLabels\":{\"app\":\"%s\"}},\"template\":{"
                         "\"metadata\":{\"labels\":{\"app\":\"%s\"}},\"spec\":{\"containers\":[{"
                         "\"name\":\"quay\",\"image\":\"quay.io/projectquay/quay:3.13.3\","
                         "\"volumeMounts\":[{\"name\":\"config\",\"mountPath\":\"/conf/stack\"}]}],"
                         "\"volumes\":[{\"name\":\"config\",\"secret\":{\"secretName\":"
                         "\"quay-config\"}}]}}}}",
                         deps[i][0], ns, deps[i][1], deps[i][0], deps[i][0]));
}

static void make_standalone_window(const char *ns, const char *name, const char *mode)
{
    create(&WINDOWS, ns,
           test_json("{\"apiVersion\":\"quaystorage.io/v1alpha1\",\"kind\":\"ReadOnlyWindow\","
                     "\"metadata\":{\"name\":\"%s\",\"namespace\":\"%s\"},"
                     "\"spec\":{\"target\":{\"type\":\"StandaloneQuay\",\"standaloneQuay\":{"
                     "\"configSecretRef\":{\"name\":\"quay-config\"},\"deployments\":[\"quay-app\","
                     "\"quay-mirror\"]}},\"mode\":\"%s\",\"activationTimeoutSeconds\":3600}}",
                     name, ns, mode));
}

static long replicas_of(const char *ns, const char *dep)
{
    cJSON *d = get(&DEPLOYMENTS, ns, dep);
    const cJSON *r = cJSON_GetObjectItem(cJSON_GetObjectItem(d, "spec"), "replicas");
    long v = cJSON_IsNumber(r) ? (long)r->valuedouble : -1;
    cJSON_Delete(d);
    return v;
}

static int standalone_readonly(const char *ns)
{
    struct k8s_error err;
    struct quay_bundle *b = NULL;
    cJSON *o = get(&SECRETS, ns, "quay-config");
    int ok = o &&
             quay_bundle_from_secret_data(cJSON_GetObjectItem(o, "data"), QUAY_BUNDLE_STANDALONE,
                                          NULL, &b, &err) == 0 &&
             strcmp(config_mode(b), "readonly") == 0;
    quay_bundle_free(b);
    cJSON_Delete(o);
    return ok;
}

static void test_standalone_quay(void **state)
{
    (void)state;
    const char *ns = "rw-standalone";
    struct op *op;
    char osha[65], sha[65], kid[128], ks[32];
    make_ns(ns);
    make_standalone(ns);
    sha_of_secret(ns, "quay-config", osha);
    op = op_day(8);
    atomic_store(&op->pump_ms, 100);

    /* ReadOnly: the config Secret edited in place (after a backup), the
     * Deployments restarted, the key in the database. */
    make_standalone_window(ns, "ro", "ReadOnly");
    WAIT_FOR(phase_is(ns, "ro", "Active"), 90, ns, "ro");
    assert_true(standalone_readonly(ns));
    status_str(ns, "ro", "serviceKeyID", kid, sizeof(kid));
    key_state(kid, ks, sizeof(ks));
    assert_string_equal(ks, "alive");

    /* ScaleDown on top: both Deployments at 0, then back to exactly 3 and
     * 1, with the read-only configuration still in place. */
    make_standalone_window(ns, "sd", "ScaleDown");
    WAIT_FOR(phase_is(ns, "sd", "Active"), 90, ns, "sd");
    assert_int_equal(replicas_of(ns, "quay-app"), 0);
    assert_int_equal(replicas_of(ns, "quay-mirror"), 0);
    assert_true(effective_mode_is(ns, "ro", "ScaleDown", "sd"));
    delete_window(ns, "sd");
    WAIT_FOR(window_gone(ns, "sd"), 90, ns, "sd");
    assert_int_equal(replicas_of(ns, "quay-app"), 3);
    assert_int_equal(replicas_of(ns, "quay-mirror"), 1);
    assert_true(standalone_readonly(ns));
    WAIT_FOR(effective_mode_is(ns, "ro", "ReadOnly", "ro"), 30, ns, "ro");

    /* The end: the original data back, byte for byte; the key expired. */
    delete_window(ns, "ro");
    WAIT_FOR(window_gone(ns, "ro"), 90, ns, "ro");
    sha_of_secret(ns, "quay-config", sha);
    assert_string_equal(sha, osha);
    key_state(kid, ks, sizeof(ks));
    assert_string_equal(ks, "dead");
}

/* ---- spec.readOnly (Quay Operator 3.19) ------------------------------------------------------ */

static const struct k8s_resource CRDS = {"apiextensions.k8s.io", "v1", "customresourcedefinitions",
                                         0};

/* Adds (or removes) spec.readOnly in the served QuayRegistry schema, as a
 * Quay Operator with quay-operator PR #1325 would serve it. */
static void qr_crd_readonly(int add)
{
    struct k8s_error err;
    cJSON *crd = get(&CRDS, NULL, "quayregistries.quay.redhat.com"), *v, *out = NULL;
    assert_non_null(crd);
    cJSON_ArrayForEach(v, cJSON_GetObjectItem(cJSON_GetObjectItem(crd, "spec"), "versions"))
    {
        cJSON *props = cJSON_GetObjectItem(
            cJSON_GetObjectItem(
                cJSON_GetObjectItem(
                    cJSON_GetObjectItem(cJSON_GetObjectItem(v, "schema"), "openAPIV3Schema"),
                    "properties"),
                "spec"),
            "properties");
        assert_non_null(props);
        cJSON_DeleteItemFromObject(props, "readOnly");
        if (add)
            cJSON_AddItemToObject(props, "readOnly",
                                  test_json("{\"type\":\"boolean\",\"description\":\"Puts the "
                                            "registry in read-only mode.\"}"));
    }
    int rc = k8s_update(F->c, &CRDS, NULL, "quayregistries.quay.redhat.com", crd, NULL, &out, &err);
    if (rc)
        fail_msg("update the QuayRegistry CRD: %s", err.message);
    cJSON_Delete(out);
    cJSON_Delete(crd);
}

static int qr_readonly_is(const char *ns, const char *reg, const char *want)
{
    cJSON *qr = get(&QRS, ns, reg);
    const cJSON *ro = cJSON_GetObjectItem(cJSON_GetObjectItem(qr, "spec"), "readOnly");
    const char *have = !ro ? "absent" : cJSON_IsTrue(ro) ? "true" : "false";
    cJSON_Delete(qr);
    return strcmp(have, want) == 0;
}

/* Whether the operator's /metrics text contains `needle`. */
static int metrics_contain(struct op *op, const char *needle)
{
    struct k8s_buf b;
    k8s_buf_init(&b, 1 << 20);
    assert_int_equal(ctl_metrics_render(ctl_manager_metrics(op->m), &b), 0);
    int found = b.data && strstr(b.data, needle) != NULL;
    k8s_buf_free(&b);
    return found;
}

static void test_readonly_through_quayregistry_spec(void **state)
{
    (void)state;
    const char *ns = "rw-spec";
    struct op *op;
    char mech[64], kid[128];
    qr_crd_readonly(1);
    make_ns(ns);
    make_registry(ns, "reg");
    WAIT_FOR(registry_ready(ns, "reg", "3.13.3"), 60, ns, "-");
    cJSON *qr = get(&QRS, ns, "reg");
    cJSON *spec_before = cJSON_Duplicate(cJSON_GetObjectItem(qr, "spec"), 1);
    cJSON_Delete(qr);
    op = op_day(11);
    atomic_store(&op->pump_ms, 100);

    make_window(ns, "pushes", "reg", "DisablePushes", 0, 0, 0);
    make_window(ns, "ro", "reg", "ReadOnly", 0, 0, 0);
    WAIT_FOR(phase_is(ns, "ro", "Active") && phase_is(ns, "pushes", "Active"), 90, ns, "ro");
    status_str(ns, "ro", "readOnlyMechanism", mech, sizeof(mech));
    assert_string_equal(mech, "QuayRegistrySpec");
    status_str(ns, "ro", "serviceKeyID", kid, sizeof(kid));
    assert_string_equal(kid, ""); /* the Quay Operator makes its own */
    assert_true(qr_readonly_is(ns, "reg", "true"));
    WAIT_FOR(effective_mode_is(ns, "pushes", "ReadOnly", "ro"), 30, ns, "pushes");
    assert_true(effective_mode_is(ns, "ro", "ReadOnly", "ro"));

    delete_window(ns, "ro");
    WAIT_FOR(window_gone(ns, "ro"), 60, ns, "ro");
    assert_true(qr_readonly_is(ns, "reg", "absent"));
    WAIT_FOR(effective_mode_is(ns, "pushes", "DisablePushes", "pushes"), 30, ns, "pushes");
    delete_window(ns, "pushes");
    WAIT_FOR(window_gone(ns, "pushes"), 60, ns, "pushes");
    /* Deleted windows and their target leave /metrics (no series pile up). */
    WAIT_FOR(!metrics_contain(op, "qso_readonlywindow_seconds_left{namespace=\"rw-spec\"") &&
                 !metrics_contain(op, "qso_readonlywindow_active{namespace=\"rw-spec\""),
             30, ns, "pushes");
    qr = get(&QRS, ns, "reg");
    assert_true(k8s_json_equal(cJSON_GetObjectItem(qr, "spec"), spec_before));
    assert_null(
        cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(qr, "metadata"), "annotations"),
                            "quaystorage.io/readonly-windows"));
    cJSON_Delete(qr);
    cJSON_Delete(spec_before);
    qr_crd_readonly(0);
}

static int refuse_writes(const char *method, const char *path_query, void *user)
{
    (void)method;
    (void)path_query;
    (void)user;
    return 0;
}

/* Break glass on spec.readOnly: `restore` lets go of it while a window still
 * wants it; the window fails with RestoredByHand and the operator does not
 * set it again until the mark is removed. */
static void test_spec_readonly_released_by_hand(void **state)
{
    (void)state;
    const char *ns = "rw-spec-restore";
    struct op *op;
    struct quay_target_ref t;
    struct quay_restore_report rep;
    struct k8s_error err;
    char st[16], reason[64], msg[512];
    qr_crd_readonly(1);
    make_ns(ns);
    make_registry(ns, "reg");
    WAIT_FOR(registry_ready(ns, "reg", "3.13.3"), 60, ns, "-");
    op = op_day(12);
    atomic_store(&op->pump_ms, 100);
    make_window(ns, "ro", "reg", "ReadOnly", 0, 0, 0);
    WAIT_FOR(phase_is(ns, "ro", "Active"), 90, ns, "ro");
    assert_true(qr_readonly_is(ns, "reg", "true"));

    assert_int_equal(quay_target_ref_init(&t, QUAY_TARGET_QUAYREGISTRY, ns, "reg", &err), 0);
    /* A release the API never got (here: the client's gate refuses writes)
     * must not read as done. */
    k8s_client_set_write_gate(F->c, refuse_writes, NULL);
    assert_int_not_equal(quay_composer_restore(F->c, &t, 0, "test", &rep, &err), 0);
    k8s_client_set_write_gate(F->c, NULL, NULL);
    assert_string_equal(rep.readonly_released, "");
    assert_int_not_equal(rep.readonly_rc, 0);
    assert_true(qr_readonly_is(ns, "reg", "true"));
    if (quay_composer_restore(F->c, &t, 0, "test", &rep, &err) != 0)
        fail_msg("restore: %s", err.message);
    assert_true(rep.no_record);
    assert_string_equal(rep.readonly_released, "ro");
    assert_string_equal(rep.readonly_previous, "absent");
    assert_true(qr_readonly_is(ns, "reg", "absent"));
    /* A pass that read the holders before the restore cannot take it back. */
    assert_int_equal(quay_ro_spec_set_holders(F->c, ns, "reg", "ro", NULL, 0, &err), K8S_ECONFLICT);
    assert_true(qr_readonly_is(ns, "reg", "absent"));

    WAIT_FOR(phase_is(ns, "ro", "Failed"), 60, ns, "ro");
    condition(ns, "ro", "Degraded", st, reason, msg, sizeof(msg));
    assert_string_equal(reason, "RestoredByHand");
    assert_non_null(strstr(msg, "quaystorage.io/readonly-restored"));
    /* Several passes later, still hands off. */
    sleep_ms(1500);
    assert_true(qr_readonly_is(ns, "reg", "absent"));
    cJSON *qr = get(&QRS, ns, "reg");
    assert_null(
        cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(qr, "metadata"), "annotations"),
                            "quaystorage.io/readonly-windows"));
    cJSON_Delete(qr);

    delete_window(ns, "ro");
    WAIT_FOR(window_gone(ns, "ro"), 60, ns, "ro");
    assert_true(qr_readonly_is(ns, "reg", "absent"));

    /* The mark removed, a composer window in effect, then a restore with a
     * state record: a new ReadOnly window leaves spec.readOnly alone too. */
    cJSON *unmark =
              test_json("{\"metadata\":{\"annotations\":{\"%s\":null}}}", QUAY_ANN_RO_RESTORED),
          *res = NULL;
    assert_int_equal(k8s_patch(F->c, &QRS, ns, "reg", K8S_PATCH_MERGE, unmark, NULL, &res, &err),
                     0);
    cJSON_Delete(res);
    cJSON_Delete(unmark);
    make_window(ns, "dp", "reg", "DisablePushes", 0, 0, 0);
    WAIT_FOR(phase_is(ns, "dp", "Active"), 90, ns, "dp");
    if (quay_composer_restore(F->c, &t, 0, "test", &rep, &err) != 0)
        fail_msg("restore: %s", err.message);
    assert_false(rep.no_record);
    assert_string_equal(rep.readonly_released, "");
    make_window(ns, "ro2", "reg", "ReadOnly", 0, 0, 0);
    WAIT_FOR(phase_is(ns, "ro2", "Failed"), 60, ns, "ro2");
    condition(ns, "ro2", "Degraded", st, reason, msg, sizeof(msg));
    assert_string_equal(reason, "RestoredByHand");
    assert_non_null(strstr(msg, "qso-state-quayregistry-reg"));
    sleep_ms(1000);
    assert_true(qr_readonly_is(ns, "reg", "absent"));
    delete_window(ns, "ro2");
    delete_window(ns, "dp");
    WAIT_FOR(window_gone(ns, "ro2") && window_gone(ns, "dp"), 60, ns, "dp");
    qr_crd_readonly(0);
}

/* ---- setup ------------------------------------------------------------------------------ */

static int copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = in ? fopen(to, "wb") : NULL;
    char buf[8192];
    size_t n;
    int rc = in && out ? 0 : -1;
    while (!rc && (n = fread(buf, 1, sizeof(buf), in)) > 0)
        if (fwrite(buf, 1, n, out) != n)
            rc = -1;
    if (in)
        fclose(in);
    if (out && fclose(out) != 0)
        rc = -1;
    return rc;
}

/* KEY='value' from the PostgreSQL helper's env file. */
static int env_value(const char *file, const char *key, char *out, size_t cap)
{
    FILE *f = fopen(file, "r");
    char line[1024];
    size_t kl = strlen(key);
    int rc = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, key, kl) == 0 && line[kl] == '=' && line[kl + 1] == '\'') {
            char *v = line + kl + 2, *end = strrchr(v, '\'');
            if (end) {
                *end = '\0';
                snprintf(out, cap, "%s", v);
                rc = 0;
            }
        }
    }
    fclose(f);
    return rc;
}

static void pct_encode(const char *in, char *out, size_t cap)
{
    size_t n = 0;
    for (; *in && n + 4 < cap; in++) {
        unsigned char ch = (unsigned char)*in;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '_' || ch == '.')
            out[n++] = (char)ch;
        else
            n += (size_t)snprintf(out + n, cap - n, "%%%02X", ch);
    }
    out[n] = '\0';
}

static int start_postgres(struct fixture *f)
{
    char cmd[2048], env[400], port[16], user[64], pw[256], db[64], pwe[800];
    snprintf(f->pg_state, sizeof(f->pg_state), "%s/pg", f->tmp);
    snprintf(cmd, sizeof(cmd),
             "bash '%s/tests/support/postgres/start.sh' '%s' --parent-pid %d --max-seconds 900 "
             ">'%s/pg-start.log' 2>&1",
             QSO_SOURCE_DIR, f->pg_state, (int)getpid(), f->tmp);
    if (system(cmd) != 0) {
        fprintf(stderr, "cannot start PostgreSQL (see %s/pg-start.log)\n", f->tmp);
        return -1;
    }
    snprintf(env, sizeof(env), "%s/env", f->pg_state);
    if (env_value(env, "PG_PORT", port, sizeof(port)) ||
        env_value(env, "PG_USER", user, sizeof(user)) ||
        env_value(env, "PG_PASSWORD", pw, sizeof(pw)) ||
        env_value(env, "PG_DATABASE", db, sizeof(db)) ||
        env_value(env, "PG_SERVICEFILE", f->pg_svcfile, sizeof(f->pg_svcfile)))
        return -1;
    pct_encode(pw, pwe, sizeof(pwe));
    snprintf(f->db_uri, sizeof(f->db_uri), "postgresql://%s:%s@127.0.0.1:%s/%s", user, pwe, port,
             db);
    memset(pw, 0, sizeof(pw));
    snprintf(cmd, sizeof(cmd),
             "PGSERVICEFILE='%s' /usr/bin/psql -X -q -w -v ON_ERROR_STOP=1 -d service=qso-quay "
             "-f '%s/tests/fixtures/quay-db/servicekey.sql' >/dev/null",
             f->pg_svcfile, QSO_SOURCE_DIR);
    return system(cmd) == 0 ? 0 : -1;
}

static int group_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct kubesim_opts opts = {.exit_after_seconds = 900};
    struct k8s_config *cfg = NULL;
    struct k8s_error err;
    char crds[300], crd[400];
    *state = f;
    F = f;
    if (!f)
        return -1;
    snprintf(f->tmp, sizeof(f->tmp), "/tmp/rw-test-XXXXXX");
    if (!mkdtemp(f->tmp))
        return -1;
    snprintf(crds, sizeof(crds), "%s/crds", f->tmp);
    snprintf(crd, sizeof(crd), "%s/readonlywindows.quaystorage.io.yaml", crds);
    if (mkdir(crds, 0700) != 0 ||
        copy_file(QSO_SOURCE_DIR "/crds/readonlywindows.quaystorage.io.yaml", crd) != 0)
        return -1;
    if (start_postgres(f) != 0)
        return -1;
    {
        time_t now = time(NULL);
        f->t0 = ((int64_t)now / 86400 + 1) * 86400 * 1000 + 9 * HOUR_MS;
    }
    opts.extra_args[0] = "--fixtures";
    opts.extra_args[1] = QSO_SOURCE_DIR "/tests/fixtures/crds";
    opts.extra_args[2] = "--fixtures";
    opts.extra_args[3] = crds;
    if (kubesim_start(&opts, &f->sim) != 0)
        return -1;
    char *out = NULL;
    long st = kubesim_admin(f->sim, "POST", "/__admin/workloads",
                            "{\"images\":{\"quay.io/projectquay/quay:*\":\"/usr/bin/psql\"},"
                            "\"quayOperator\":{\"enabled\":true,\"requeueSeconds\":2,"
                            "\"retrySeconds\":1,\"statusIntervalMs\":100,\"supportsRoutes\":true},"
                            "\"deployments\":{\"enabled\":true,\"rolloutDelayMs\":100},"
                            "\"jobs\":{\"enabled\":true},\"kubelet\":{\"enabled\":true}}",
                            &out);
    if (st != 200)
        fprintf(stderr, "workloads: %ld %s\n", st, out ? out : "");
    free(out);
    if (st != 200)
        return -1;
    if (k8s_config_from_kubeconfig(kubesim_kubeconfig(f->sim), NULL, &cfg, &err) != 0)
        return -1;
    cfg->qps = 0;
    int rc = k8s_client_new(cfg, &f->c, &err);
    k8s_config_free(cfg);
    return rc ? -1 : 0;
}

static int group_teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[1024];
    if (!f)
        return 0;
    if (f->op.running)
        op_stop(&f->op);
    k8s_client_free(f->c);
    kubesim_stop(f->sim);
    if (f->pg_state[0]) {
        snprintf(cmd, sizeof(cmd), "bash '%s/tests/support/postgres/stop.sh' '%s' >/dev/null 2>&1",
                 QSO_SOURCE_DIR, f->pg_state);
        if (system(cmd) != 0)
            fprintf(stderr, "stop.sh failed\n");
    }
    if (f->tmp[0]) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->tmp);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", f->tmp);
    }
    free(f);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_disable_pushes_refused_below_3_13),
        cmocka_unit_test(test_modes_enter_and_leave),
        cmocka_unit_test(test_overlapping_windows_on_the_clock),
        cmocka_unit_test(test_scale_down_never_gives_way_to_a_weaker_mode),
        cmocka_unit_test(test_restart_while_a_key_registers),
        cmocka_unit_test(test_key_registration_that_never_finishes),
        cmocka_unit_test(test_readonly_key_follows_the_window),
        cmocka_unit_test(test_standalone_quay),
        cmocka_unit_test(test_changed_externally_is_not_fought),
        cmocka_unit_test(test_failed_rollout_withdraws_and_says_why),
        cmocka_unit_test(test_readonly_through_quayregistry_spec),
        cmocka_unit_test(test_spec_readonly_released_by_hand),
    };
    /* RW_TEST_FILTER=test_x runs one case (development). */
    if (getenv("RW_TEST_FILTER"))
        cmocka_set_test_filter(getenv("RW_TEST_FILTER"));
    return cmocka_run_group_tests_name("ctl_readonlywindow", tests, group_setup, group_teardown);
}
