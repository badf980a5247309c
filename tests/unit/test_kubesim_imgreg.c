/*
 * The simulator's stand-in for OpenShift's cluster-image-registry-operator
 * (tests/kubesim/sim_imgreg.c) as our operator sees it: a storage change in
 * configs.imageregistry.operator.openshift.io/cluster rolls the
 * image-registry Deployment out with the new REGISTRY_STORAGE_* env, and
 * clusteroperators/image-registry reports Progressing=True ("The deployment
 * has not completed") on the way and Available=True "The registry is ready"
 * / Progressing=False at the end; spec.readOnly adds the maintenance env;
 * Swift credentials reach the pods by secretKeyRef to the private
 * configuration Secret; Removed deletes the Deployment; no storage is the
 * permanent StorageNotConfigured error. Each test runs its own simulator with
 * the OpenShift CRD fixtures (the config is a cluster singleton).
 */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "kubesim_harness.h"
#include "kubesim_http.h"

#define FIXTURES QSO_SOURCE_DIR "/tests/fixtures/crds"
#define NS       "openshift-image-registry"
#define CONFIG   "/apis/imageregistry.operator.openshift.io/v1/configs/cluster"
#define CONFIGS  "/apis/imageregistry.operator.openshift.io/v1/configs"
#define CO       "/apis/config.openshift.io/v1/clusteroperators/image-registry"
#define COS      "/apis/config.openshift.io/v1/clusteroperators"
#define DEPLOY   "/apis/apps/v1/namespaces/" NS "/deployments/image-registry"
#define SECRET   "/api/v1/namespaces/" NS "/secrets/image-registry-private-configuration"
#define WAIT_MS  30000

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static int setup(void **state)
{
    struct kubesim_opts o;
    struct kubesim *sim = NULL;
    memset(&o, 0, sizeof(o));
    o.extra_args[0] = "--fixtures";
    o.extra_args[1] = FIXTURES;
    o.exit_after_seconds = 240;
    if (kubesim_start(&o, &sim) != 0)
        return -1;
    if (kubesim_admin(sim, "POST", "/__admin/workloads",
                      "{\"deployments\":{\"rolloutDelayMs\":300},"
                      "\"imageRegistry\":{\"version\":\"4.18.7\"}}",
                      NULL) != 200) {
        kubesim_stop(sim);
        return -1;
    }
    *state = sim;
    return 0;
}

static int teardown(void **state)
{
    kubesim_stop(*state);
    return 0;
}

static void expect_call(struct kubesim *sim, const char *method, const char *path,
                        const char *ctype, const char *body, long want)
{
    struct kubesim_resp r;
    kubesim_call(sim, method, path, ctype, body, &r);
    if (r.code != want)
        fprintf(stderr, "%s %s: %ld %s\n", method, path, r.code, r.body ? r.body : "");
    assert_int_equal(r.code, want);
    kubesim_resp_free(&r);
}

static cJSON *get_json(struct kubesim *sim, const char *path)
{
    struct kubesim_resp r;
    cJSON *j;
    kubesim_call(sim, "GET", path, NULL, NULL, &r);
    assert_int_equal(r.code, 200);
    j = kubesim_resp_json(&r);
    kubesim_resp_free(&r);
    return j;
}

static const cJSON *member(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static const cJSON *cond(const cJSON *o, const char *type)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, member(member(o, "status"), "conditions"))
    {
        const char *t = kubesim_jstr(c, "type", NULL);
        if (t && strcmp(t, type) == 0)
            return c;
    }
    return NULL;
}

/* type, status, reason and (unless NULL) message of one condition. */
static int cond_is(const cJSON *o, const char *type, const char *status, const char *reason,
                   const char *message)
{
    const cJSON *c = cond(o, type);
    const char *s = kubesim_jstr(c, "status", NULL), *r = kubesim_jstr(c, "reason", NULL);
    const char *m = kubesim_jstr(c, "message", NULL);
    return s && r && strcmp(s, status) == 0 && strcmp(r, reason) == 0 &&
           (!message || (m && strcmp(m, message) == 0));
}

static int co_ready(const cJSON *co, void *arg)
{
    (void)arg;
    return cond_is(co, "Available", "True", "Ready", "Available: The registry is ready") &&
           cond_is(co, "Progressing", "False", "Ready", "Progressing: The registry is ready") &&
           cond_is(co, "Degraded", "False", "AsExpected", NULL);
}

static cJSON *wait_for(struct kubesim *sim, const char *path, int (*pred)(const cJSON *, void *),
                       void *arg)
{
    for (int waited = 0; waited < WAIT_MS; waited += 50) {
        struct kubesim_resp r;
        cJSON *j = NULL;
        kubesim_call(sim, "GET", path, NULL, NULL, &r);
        if (r.code == 200)
            j = kubesim_resp_json(&r);
        kubesim_resp_free(&r);
        if (j && pred(j, arg))
            return j;
        cJSON_Delete(j);
        sleep_ms(50);
    }
    fprintf(stderr, "timed out waiting on %s\n", path);
    fail();
    return NULL;
}

static void wait_gone(struct kubesim *sim, const char *path)
{
    for (int waited = 0; waited < WAIT_MS; waited += 50) {
        struct kubesim_resp r;
        long code = kubesim_call(sim, "GET", path, NULL, NULL, &r);
        kubesim_resp_free(&r);
        if (code == 404)
            return;
        sleep_ms(50);
    }
    fprintf(stderr, "%s still exists\n", path);
    fail();
}

/* The registry container's env entry, or NULL. */
static const cJSON *env(const cJSON *deploy, const char *name)
{
    const cJSON *c = cJSON_GetArrayItem(
        member(member(member(member(deploy, "spec"), "template"), "spec"), "containers"), 0);
    const cJSON *e;
    cJSON_ArrayForEach(e, member(c, "env"))
    {
        const char *n = kubesim_jstr(e, "name", NULL);
        if (n && strcmp(n, name) == 0)
            return e;
    }
    return NULL;
}

static int env_is(const cJSON *deploy, const char *name, const char *value)
{
    const char *v = kubesim_jstr(env(deploy, name), "value", NULL);
    return v && strcmp(v, value) == 0;
}

struct envwant {
    const char *name;
    const char *value;
};

static int deploy_env_rolled(const cJSON *d, void *arg)
{
    const struct envwant *w = arg;
    const cJSON *st = member(d, "status");
    long gen = (long)cJSON_GetNumberValue(member(member(d, "metadata"), "generation"));
    return env_is(d, w->name, w->value) &&
           (long)cJSON_GetNumberValue(member(st, "observedGeneration")) == gen &&
           (long)cJSON_GetNumberValue(member(st, "updatedReplicas")) ==
               (long)cJSON_GetNumberValue(member(member(d, "spec"), "replicas")) &&
           (long)cJSON_GetNumberValue(member(st, "availableReplicas")) ==
               (long)cJSON_GetNumberValue(member(member(d, "spec"), "replicas")) &&
           (long)cJSON_GetNumberValue(member(st, "replicas")) ==
               (long)cJSON_GetNumberValue(member(member(d, "spec"), "replicas"));
}

static void create_user_secret(struct kubesim *sim)
{
    expect_call(sim, "POST", "/api/v1/namespaces", "application/json",
                "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"" NS "\"}}",
                201);
    expect_call(sim, "POST", "/api/v1/namespaces/" NS "/secrets", "application/json",
                "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":"
                "\"image-registry-private-configuration-user\"},\"stringData\":{"
                "\"REGISTRY_STORAGE_S3_ACCESSKEY\":\"AKIDEXAMPLE\","
                "\"REGISTRY_STORAGE_S3_SECRETKEY\":\"wJalrXUtnFEMI\","
                "\"REGISTRY_STORAGE_SWIFT_USERNAME\":\"swiftuser\","
                "\"REGISTRY_STORAGE_SWIFT_PASSWORD\":\"swiftpass\"}}",
                201);
}

static void create_config(struct kubesim *sim, const char *storage)
{
    char body[1024];
    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"imageregistry.operator.openshift.io/v1\",\"kind\":\"Config\","
             "\"metadata\":{\"name\":\"cluster\"},\"spec\":{\"managementState\":\"Managed\","
             "\"replicas\":2,\"storage\":%s}}",
             storage);
    expect_call(sim, "POST", CONFIGS, "application/json", body, 201);
}

static void patch_config(struct kubesim *sim, const char *patch)
{
    expect_call(sim, "PATCH", CONFIG, "application/merge-patch+json", patch, 200);
}

static int config_observed(const cJSON *cr, void *arg)
{
    const char *bucket = arg;
    const char *in_use =
        kubesim_jstr(member(member(member(cr, "status"), "storage"), "s3"), "bucket", NULL);
    return (long)cJSON_GetNumberValue(member(member(cr, "status"), "observedGeneration")) ==
               (long)cJSON_GetNumberValue(member(member(cr, "metadata"), "generation")) &&
           in_use && strcmp(in_use, bucket) == 0 &&
           cond_is(cr, "Available", "True", "Ready", "The registry is ready") &&
           cond_is(cr, "Progressing", "False", "Ready", "The registry is ready");
}

/* Every clusteroperator event after `rv`, replayed by a watch that ends. */
static cJSON *co_events_since(struct kubesim *sim, const char *rv)
{
    char path[512];
    struct kubesim_resp r;
    cJSON *events = cJSON_CreateArray();
    char *line, *save = NULL;
    snprintf(path, sizeof(path),
             COS "?watch=1&resourceVersion=%s&timeoutSeconds=1&fieldSelector=metadata.name%%3D"
                 "image-registry",
             rv);
    kubesim_call(sim, "GET", path, NULL, NULL, &r);
    assert_int_equal(r.code, 200);
    for (line = strtok_r(r.body, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        cJSON *ev = cJSON_Parse(line);
        if (ev)
            cJSON_AddItemToArray(events, ev);
    }
    kubesim_resp_free(&r);
    return events;
}

static void test_storage_change_progresses_then_becomes_available(void **state)
{
    struct kubesim *sim = *state;
    struct envwant old_bucket = {"REGISTRY_STORAGE_S3_BUCKET", "registry-old"};
    struct envwant new_bucket = {"REGISTRY_STORAGE_S3_BUCKET", "registry-new"};
    cJSON *co, *d, *cr, *events, *sec;
    const cJSON *ev, *v;
    char rv[64];
    int saw_progressing = 0, saw_not_ready = 0;

    create_user_secret(sim);
    create_config(sim, "{\"s3\":{\"bucket\":\"registry-old\",\"region\":\"us-east-1\"}}");
    d = wait_for(sim, DEPLOY, deploy_env_rolled, &old_bucket);
    cJSON_Delete(d);
    co = wait_for(sim, CO, co_ready, NULL);
    snprintf(rv, sizeof(rv), "%s", kubesim_jstr(co, "metadata", "resourceVersion"));
    /* The version reached is reported once the Deployment is available. */
    v = cJSON_GetArrayItem(member(member(co, "status"), "versions"), 0);
    assert_string_equal(kubesim_jstr(v, "name", NULL), "operator");
    assert_string_equal(kubesim_jstr(v, "version", NULL), "4.18.7");
    cJSON_Delete(co);

    patch_config(sim, "{\"spec\":{\"storage\":{\"s3\":{\"bucket\":\"registry-new\"}}}}");
    d = wait_for(sim, DEPLOY, deploy_env_rolled, &new_bucket);
    assert_true(env_is(d, "REGISTRY_STORAGE", "s3"));
    assert_true(env_is(d, "REGISTRY_STORAGE_S3_REGION", "us-east-1"));
    assert_true(env_is(d, "REGISTRY_STORAGE_S3_FORCEPATHSTYLE", "true"));
    assert_true(env_is(d, "REGISTRY_STORAGE_S3_CREDENTIALSCONFIGPATH",
                       "/var/run/secrets/cloud/credentials"));
    assert_null(env(d, "REGISTRY_STORAGE_MAINTENANCE_READONLY"));
    cJSON_Delete(d);
    cr = wait_for(sim, CONFIG, config_observed, "registry-new");
    assert_true(cond_is(cr, "StorageExists", "True", "S3 Bucket Exists", NULL));
    assert_false(cJSON_IsTrue(member(member(cr, "status"), "storageManaged")));
    assert_string_equal(
        kubesim_jstr(member(member(cr, "spec"), "storage"), "managementState", NULL), "Unmanaged");
    cJSON_Delete(cr);
    cJSON_Delete(wait_for(sim, CO, co_ready, NULL));

    /* On the way: Progressing=True while the new generation was unobserved. */
    events = co_events_since(sim, rv);
    cJSON_ArrayForEach(ev, events)
    {
        const cJSON *o = member(ev, "object");
        if (cond_is(o, "Progressing", "True", "DeploymentNotCompleted",
                    "Progressing: The deployment has not completed"))
            saw_progressing = 1;
        if (!cond_is(o, "Available", "True", "Ready", NULL))
            saw_not_ready = 1;
    }
    assert_true(saw_progressing);
    assert_true(saw_not_ready); /* MinimumAvailability while pods rolled */
    cJSON_Delete(events);

    /* The credentials file the registry reads, from the user's Secret. */
    sec = get_json(sim, SECRET);
    {
        const char *b64 = kubesim_jstr(member(sec, "data"), "credentials", NULL);
        assert_non_null(b64);
        /* "[default]\naws_access_key_id = AKIDEXAMPLE\n..." */
        assert_string_equal(b64, "W2RlZmF1bHRdCmF3c19hY2Nlc3Nfa2V5X2lkID0gQUtJREVYQU1QTEUKYXdz"
                                 "X3NlY3JldF9hY2Nlc3Nfa2V5ID0gd0phbHJYVXRuRkVNSQo=");
    }
    cJSON_Delete(sec);
}

static int progressing_true(const cJSON *co, void *arg)
{
    (void)arg;
    return cond_is(co, "Progressing", "True", "DeploymentNotCompleted",
                   "Progressing: The deployment has not completed");
}

static void test_older_release_progressing_until_complete(void **state)
{
    struct kubesim *sim = *state;
    struct envwant b = {"REGISTRY_STORAGE_S3_BUCKET", "registry-b"};
    assert_int_equal(kubesim_admin(sim, "POST", "/__admin/workloads",
                                   "{\"imageRegistry\":{\"progressingUntilComplete\":true,"
                                   "\"rolloutDelayMs\":1500}}",
                                   NULL),
                     200);
    create_user_secret(sim);
    create_config(sim, "{\"s3\":{\"bucket\":\"registry-a\",\"region\":\"eu-west-1\"}}");
    cJSON_Delete(wait_for(sim, CO, co_ready, NULL));
    patch_config(sim, "{\"spec\":{\"storage\":{\"s3\":{\"bucket\":\"registry-b\"}}}}");
    /* Seen by polling: it stays True for the whole rollout. */
    cJSON_Delete(wait_for(sim, CO, progressing_true, NULL));
    cJSON_Delete(wait_for(sim, DEPLOY, deploy_env_rolled, &b));
    cJSON_Delete(wait_for(sim, CO, co_ready, NULL));
}

static int readonly_rolled(const cJSON *d, void *arg)
{
    struct envwant w = {"REGISTRY_STORAGE_MAINTENANCE_READONLY", "{enabled: true}"};
    (void)arg;
    return deploy_env_rolled(d, &w);
}

static void test_read_only_adds_the_maintenance_env(void **state)
{
    struct kubesim *sim = *state;
    struct envwant fs = {"REGISTRY_STORAGE", "filesystem"};
    cJSON *d;
    const char *rev;
    create_config(sim, "{\"emptyDir\":{}}");
    d = wait_for(sim, DEPLOY, deploy_env_rolled, &fs);
    assert_true(env_is(d, "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY", "/registry"));
    cJSON_Delete(d);
    cJSON_Delete(wait_for(sim, CO, co_ready, NULL));
    patch_config(sim, "{\"spec\":{\"readOnly\":true}}");
    d = wait_for(sim, DEPLOY, readonly_rolled, NULL);
    rev = kubesim_jstr(member(member(d, "metadata"), "annotations"),
                       "deployment.kubernetes.io/revision", NULL);
    assert_non_null(rev);
    assert_string_equal(rev, "2"); /* a rollout, not an in-place edit */
    cJSON_Delete(d);
    cJSON_Delete(wait_for(sim, CO, co_ready, NULL));
}

static int swift_rolled(const cJSON *d, void *arg)
{
    struct envwant w = {"REGISTRY_STORAGE", "swift"};
    (void)arg;
    return deploy_env_rolled(d, &w);
}

static void test_swift_credentials_by_secret_key_ref(void **state)
{
    struct kubesim *sim = *state;
    cJSON *d, *sec;
    const cJSON *ref;
    create_user_secret(sim);
    create_config(sim, "{\"swift\":{\"container\":\"registry\",\"authURL\":"
                       "\"https://keystone.example:5000\",\"tenant\":\"proj\"}}");
    d = wait_for(sim, DEPLOY, swift_rolled, NULL);
    assert_true(env_is(d, "REGISTRY_STORAGE_SWIFT_CONTAINER", "registry"));
    assert_true(env_is(d, "REGISTRY_STORAGE_SWIFT_AUTHURL", "https://keystone.example:5000/v3"));
    assert_true(env_is(d, "REGISTRY_STORAGE_SWIFT_AUTHVERSION", "3"));
    assert_true(env_is(d, "REGISTRY_STORAGE_SWIFT_TENANT", "proj"));
    ref = member(member(env(d, "REGISTRY_STORAGE_SWIFT_PASSWORD"), "valueFrom"), "secretKeyRef");
    assert_string_equal(kubesim_jstr(ref, "name", NULL), "image-registry-private-configuration");
    assert_string_equal(kubesim_jstr(ref, "key", NULL), "REGISTRY_STORAGE_SWIFT_PASSWORD");
    assert_null(member(env(d, "REGISTRY_STORAGE_SWIFT_PASSWORD"), "value"));
    cJSON_Delete(d);
    sec = get_json(sim, SECRET);
    assert_string_equal(kubesim_jstr(member(sec, "data"), "REGISTRY_STORAGE_SWIFT_USERNAME", NULL),
                        "c3dpZnR1c2Vy"); /* swiftuser */
    assert_string_equal(kubesim_jstr(member(sec, "data"), "REGISTRY_STORAGE_SWIFT_PASSWORD", NULL),
                        "c3dpZnRwYXNz"); /* swiftpass */
    cJSON_Delete(sec);
    cJSON_Delete(wait_for(sim, CO, co_ready, NULL));
}

static int co_removed(const cJSON *co, void *arg)
{
    (void)arg;
    return cond_is(co, "Available", "True", "Removed", "Available: The registry is removed") &&
           cond_is(co, "Progressing", "False", "Removed",
                   "Progressing: All registry resources are removed") &&
           cond_is(co, "Degraded", "False", "Removed", "Degraded: The registry is removed");
}

static void test_removed_deletes_the_deployment(void **state)
{
    struct kubesim *sim = *state;
    struct envwant fs = {"REGISTRY_STORAGE", "filesystem"};
    cJSON *cr;
    create_config(sim, "{\"emptyDir\":{}}");
    cJSON_Delete(wait_for(sim, DEPLOY, deploy_env_rolled, &fs));
    cJSON_Delete(wait_for(sim, CO, co_ready, NULL));
    patch_config(sim, "{\"spec\":{\"managementState\":\"Removed\"}}");
    wait_gone(sim, DEPLOY);
    wait_gone(sim, SECRET);
    cJSON_Delete(wait_for(sim, CO, co_removed, NULL));
    cr = get_json(sim, CONFIG);
    assert_true(cond_is(cr, "Removed", "True", "Removed", "The registry is removed"));
    assert_int_equal((long)cJSON_GetNumberValue(member(member(cr, "status"), "readyReplicas")), 0);
    cJSON_Delete(cr);
    /* Managed again: it comes back. */
    patch_config(sim, "{\"spec\":{\"managementState\":\"Managed\"}}");
    cJSON_Delete(wait_for(sim, DEPLOY, deploy_env_rolled, &fs));
    cJSON_Delete(wait_for(sim, CO, co_ready, NULL));
}

static int co_degraded(const cJSON *co, void *arg)
{
    (void)arg;
    return cond_is(co, "Degraded", "True", "StorageNotConfigured",
                   "Degraded: Error: storage backend not configured") &&
           cond_is(co, "Available", "False", "StorageNotConfigured",
                   "Available: Error: storage backend not configured");
}

static void test_no_storage_is_a_permanent_error(void **state)
{
    struct kubesim *sim = *state;
    cJSON *cr;
    create_config(sim, "{}");
    cJSON_Delete(wait_for(sim, CO, co_degraded, NULL));
    cr = get_json(sim, CONFIG);
    assert_true(cond_is(cr, "Progressing", "False", "Error",
                        "Unable to apply resources: storage backend not configured"));
    cJSON_Delete(cr);
    expect_call(sim, "GET", DEPLOY, NULL, NULL, 404);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_storage_change_progresses_then_becomes_available,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_older_release_progressing_until_complete, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_read_only_adds_the_maintenance_env, setup, teardown),
        cmocka_unit_test_setup_teardown(test_swift_credentials_by_secret_key_ref, setup, teardown),
        cmocka_unit_test_setup_teardown(test_removed_deletes_the_deployment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_storage_is_a_permanent_error, setup, teardown),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
