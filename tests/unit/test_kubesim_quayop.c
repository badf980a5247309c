/*
 * The simulator's Quay Operator stand-in (tests/kubesim/sim_quayop*.c) seen
 * through the API, as our operator sees the real one: a QuayRegistry is
 * rendered and rolled out on creation; a generation change re-renders at
 * once; an edit of the bundle Secret's data waits for the periodic requeue;
 * RolloutBlocked with the real reasons and messages (ConfigInvalid,
 * ComponentOverrideInvalid, ObjectStorageComponentDependencyError); an empty
 * configBundleSecret gets one; extra_ca_cert_* keys land in the CA Secret; and
 * the misbehaviour switches (failRollout, staleAvailable,
 * omitObservedGeneration); deletion waits only for the operator's finalizer.
 * Each test runs its own simulator; waiting for the asynchronous controllers
 * is polling with a generous deadline.
 */
#include <cjson/cJSON.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "kubesim_harness.h"
#include "kubesim_http.h"

#define NS_PATH   "/apis/quay.redhat.com/v1/namespaces/default/quayregistries"
#define SEC_PATH  "/api/v1/namespaces/default/secrets"
#define DEP_PATH  "/apis/apps/v1/namespaces/default/deployments"
#define WAIT_MS   30000
#define POLL_MS   100
#define FIXTURES  QSO_SOURCE_DIR "/tests/fixtures/crds"
#define QFIXTURES QSO_SOURCE_DIR "/tests/fixtures/quayop"

/* A bundle with what the unmanaged route/tls/objectstorage need. */
#define CONFIG_YAML                                                                                \
    "SERVER_HOSTNAME: %s\n"                                                                        \
    "DISTRIBUTED_STORAGE_CONFIG:\n"                                                                \
    "  default:\n"                                                                                 \
    "  - S3Storage\n"                                                                              \
    "  - {host: s3.example.com, s3_bucket: quay, storage_path: /datastorage/registry}\n"           \
    "DISTRIBUTED_STORAGE_PREFERENCE: [default]\n"                                                  \
    "DISTRIBUTED_STORAGE_DEFAULT_LOCATIONS: [default]\n"

#define UNMANAGED_INFRA                                                                            \
    "{\"kind\":\"objectstorage\",\"managed\":false},{\"kind\":\"route\",\"managed\":false},"       \
    "{\"kind\":\"tls\",\"managed\":false}"

static int start_with(void **state, int obc)
{
    struct kubesim_opts o;
    struct kubesim *sim = NULL;
    memset(&o, 0, sizeof(o));
    o.extra_args[0] = "--fixtures";
    o.extra_args[1] = FIXTURES;
    if (obc) {
        o.extra_args[2] = "--fixtures";
        o.extra_args[3] = QFIXTURES;
    }
    o.exit_after_seconds = 240;
    if (kubesim_start(&o, &sim) != 0)
        return -1;
    *state = sim;
    return 0;
}

static int setup(void **state)
{
    return start_with(state, 0);
}

static int setup_obc(void **state)
{
    return start_with(state, 1);
}

static int teardown(void **state)
{
    kubesim_stop(*state);
    return 0;
}

static void configure(struct kubesim *sim, const char *json)
{
    char *out = NULL;
    long code = kubesim_admin(sim, "POST", "/__admin/workloads", json, &out);
    if (code != 200)
        fprintf(stderr, "workloads: %ld %s\n", code, out ? out : "");
    assert_int_equal(code, 200);
    free(out);
}

/* The object, or NULL on 404. */
static cJSON *get(struct kubesim *sim, const char *path)
{
    struct kubesim_resp r;
    cJSON *j = NULL;
    kubesim_call(sim, "GET", path, NULL, NULL, &r);
    if (r.code == 200)
        j = kubesim_resp_json(&r);
    else
        assert_int_equal(r.code, 404);
    kubesim_resp_free(&r);
    return j;
}

static void send_ok(struct kubesim *sim, const char *method, const char *path, const char *ctype,
                    const char *body, long want)
{
    struct kubesim_resp r;
    kubesim_call(sim, method, path, ctype, body, &r);
    if (r.code != want)
        fprintf(stderr, "%s %s: %ld %s\n", method, path, r.code, r.body ? r.body : "");
    assert_int_equal(r.code, want);
    kubesim_resp_free(&r);
}

static void make_bundle(struct kubesim *sim, const char *name, const char *host, const char *extra)
{
    char cfg[2048], body[8192];
    cJSON *s = cJSON_CreateObject(), *m, *d;
    char *text;
    snprintf(cfg, sizeof(cfg), CONFIG_YAML, host);
    cJSON_AddStringToObject(s, "apiVersion", "v1");
    cJSON_AddStringToObject(s, "kind", "Secret");
    m = cJSON_AddObjectToObject(s, "metadata");
    cJSON_AddStringToObject(m, "name", name);
    d = cJSON_AddObjectToObject(s, "stringData");
    cJSON_AddStringToObject(d, "config.yaml", cfg);
    cJSON_AddStringToObject(d, "ssl.cert", "-----BEGIN CERTIFICATE-----\nQUAY\n");
    cJSON_AddStringToObject(d, "ssl.key", "-----BEGIN PRIVATE KEY-----\nQUAY\n");
    if (extra) {
        cJSON *x = cJSON_Parse(extra), *c;
        assert_non_null(x);
        cJSON_ArrayForEach(c, x) cJSON_AddItemToObject(d, c->string, cJSON_Duplicate(c, 1));
        cJSON_Delete(x);
    }
    text = cJSON_PrintUnformatted(s);
    snprintf(body, sizeof(body), "%s", text);
    free(text);
    cJSON_Delete(s);
    send_ok(sim, "POST", SEC_PATH, "application/json", body, 201);
}

static void make_registry(struct kubesim *sim, const char *name, const char *bundle,
                          const char *components)
{
    char body[4096];
    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"quay.redhat.com/v1\",\"kind\":\"QuayRegistry\","
             "\"metadata\":{\"name\":\"%s\"},\"spec\":{%s%s%s\"components\":[%s]}}",
             name, bundle ? "\"configBundleSecret\":\"" : "", bundle ? bundle : "",
             bundle ? "\"," : "", components);
    send_ok(sim, "POST", NS_PATH, "application/json", body, 201);
}

static cJSON *registry(struct kubesim *sim, const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), NS_PATH "/%s", name);
    return get(sim, path);
}

static const cJSON *condition(const cJSON *qr, const char *type)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(cJSON_GetObjectItem(qr, "status"), "conditions"))
    {
        if (strcmp(kubesim_jstr(c, "type", NULL), type) == 0)
            return c;
    }
    return NULL;
}

static int cond_is(const cJSON *qr, const char *type, const char *status, const char *reason)
{
    const cJSON *c = condition(qr, type);
    return c && strcmp(kubesim_jstr(c, "status", NULL), status) == 0 &&
           (!reason || strcmp(kubesim_jstr(c, "reason", NULL), reason) == 0);
}

static double num(const cJSON *o, const char *a, const char *b)
{
    const cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(o, a), b);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

/* Polls `pred` on the registry until it holds; returns the registry (caller
 * frees) or fails the test. */
typedef int (*qr_pred)(const cJSON *qr, const void *arg);

static cJSON *wait_registry(struct kubesim *sim, const char *name, qr_pred pred, const void *arg,
                            const char *what)
{
    for (int waited = 0; waited < WAIT_MS; waited += POLL_MS) {
        cJSON *qr = registry(sim, name);
        if (qr && pred(qr, arg))
            return qr;
        if (waited + POLL_MS >= WAIT_MS) {
            char *t = qr ? cJSON_Print(qr) : NULL;
            fprintf(stderr, "timed out waiting for %s: %s\n", what, t ? t : "(absent)");
            free(t);
        }
        cJSON_Delete(qr);
        usleep(POLL_MS * 1000);
    }
    fail_msg("%s never happened", what);
    return NULL;
}

static int p_available(const cJSON *qr, const void *arg)
{
    (void)arg;
    return cond_is(qr, "Available", "True", "HealthChecksPassing") &&
           num(qr, "status", "observedGeneration") == num(qr, "metadata", "generation");
}

static int p_blocked(const cJSON *qr, const void *reason)
{
    return cond_is(qr, "RolloutBlocked", "True", reason);
}

static int p_reconciled(const cJSON *qr, const void *arg)
{
    const char *v = kubesim_jstr(cJSON_GetObjectItem(qr, "status"), "currentVersion", NULL);
    (void)arg;
    return v && strcmp(v, "3.13.3") == 0 &&
           cJSON_GetArraySize(
               cJSON_GetObjectItem(cJSON_GetObjectItem(qr, "metadata"), "finalizers")) == 1;
}

static cJSON *deployment(struct kubesim *sim, const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), DEP_PATH "/%s", name);
    return get(sim, path);
}

/* Rolled out: the last reconcile done (version, finalizer), quay-app's
 * replicas all updated and available, and the registry Available at its
 * generation. (Right after the migrations Available is briefly True with
 * quay-app still at the upgrade overlay's 0 replicas, as with the real one.) */
static cJSON *wait_rolled_out(struct kubesim *sim, const char *name)
{
    char dname[256];
    snprintf(dname, sizeof(dname), "%s-quay-app", name);
    for (int waited = 0; waited < WAIT_MS; waited += POLL_MS) {
        cJSON *qr = registry(sim, name), *dep = deployment(sim, dname);
        int ok = qr && dep && p_available(qr, NULL) && p_reconciled(qr, NULL) &&
                 num(dep, "spec", "replicas") > 0 &&
                 num(dep, "status", "observedGeneration") == num(dep, "metadata", "generation") &&
                 num(dep, "status", "updatedReplicas") == num(dep, "spec", "replicas") &&
                 num(dep, "status", "availableReplicas") == num(dep, "spec", "replicas");
        cJSON_Delete(dep);
        if (ok)
            return qr;
        cJSON_Delete(qr);
        usleep(POLL_MS * 1000);
    }
    fail_msg("%s never rolled out", name);
    return NULL;
}

/* The config Secret quay-app's pod template mounts (first projected source). */
static char *config_secret_of(const cJSON *dep)
{
    const cJSON *vols = cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(dep, "spec"), "template"),
                            "spec"),
        "volumes");
    const cJSON *v;
    cJSON_ArrayForEach(v, vols)
    {
        if (strcmp(kubesim_jstr(v, "name", NULL), "config") == 0) {
            const cJSON *src = cJSON_GetArrayItem(
                cJSON_GetObjectItem(cJSON_GetObjectItem(v, "projected"), "sources"), 0);
            return strdup(kubesim_jstr(cJSON_GetObjectItem(src, "secret"), "name", NULL));
        }
    }
    return NULL;
}

static char *app_config_secret(struct kubesim *sim, const char *reg)
{
    char name[256];
    cJSON *dep;
    char *s;
    snprintf(name, sizeof(name), "%s-quay-app", reg);
    dep = deployment(sim, name);
    if (!dep)
        return NULL;
    s = config_secret_of(dep);
    cJSON_Delete(dep);
    return s;
}

static char *secret_value(const cJSON *sec, const char *key)
{
    const char *b64 = kubesim_jstr(cJSON_GetObjectItem(sec, "data"), key, NULL);
    char cmd[256];
    FILE *p;
    char *out;
    size_t n;
    if (!b64)
        return NULL;
    /* Small values: decode with coreutils rather than a second base64. */
    snprintf(cmd, sizeof(cmd), "printf %%s '%s' | base64 -d", b64);
    assert_true(strlen(b64) < 200);
    p = popen(cmd, "r");
    assert_non_null(p);
    out = calloc(1, 4096);
    n = fread(out, 1, 4095, p);
    out[n] = '\0';
    pclose(p);
    return out;
}

/* Whole config.yaml values can be long: decode in C. */
static char *decode_config(const cJSON *sec)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *b64 = kubesim_jstr(cJSON_GetObjectItem(sec, "data"), "config.yaml", NULL);
    size_t n, o = 0;
    unsigned acc = 0;
    int bits = 0;
    char *out;
    assert_non_null(b64);
    n = strlen(b64);
    out = calloc(1, n + 1);
    for (size_t i = 0; i < n && b64[i] != '='; i++) {
        const char *p = strchr(tbl, b64[i]);
        assert_non_null(p);
        acc = (acc << 6) | (unsigned)(p - tbl);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[o] = '\0';
    return out;
}

static void test_renders_and_rolls_out_on_creation(void **state)
{
    struct kubesim *sim = *state;
    cJSON *qr, *dep, *sec;
    char *cfg_name, *cfg, *v, path[512];
    const cJSON *x, *env;
    int found = 0;
    configure(sim, "{\"quayOperator\":{\"retrySeconds\":1},\"deployments\":{\"rolloutDelayMs\":"
                   "200}}");
    make_bundle(sim, "b1", "quay.example.com",
                "{\"extra_ca_cert_foo.crt\":\"FOO-CA\",\"custom.txt\":\"kept\"}");
    make_registry(sim, "reg", "b1", UNMANAGED_INFRA);
    qr = wait_rolled_out(sim, "reg");
    assert_string_equal(kubesim_jstr(cJSON_GetObjectItem(qr, "status"), "registryEndpoint", NULL),
                        "https://quay.example.com");
    assert_true(cond_is(qr, "RolloutBlocked", "False", "ComponentsCreationSuccess"));
    assert_true(cond_is(qr, "ComponentsCreated", "True", "ComponentsCreationSuccess"));
    assert_true(cond_is(qr, "ComponentQuayReady", "True", "ComponentReady"));
    assert_true(cond_is(qr, "ComponentObjectStorageReady", "True", "ComponentNotManaged"));
    /* The operator wrote the defaulted components into spec: all 11 kinds. */
    assert_int_equal(
        cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(qr, "spec"), "components")), 11);
    cJSON_Delete(qr);

    dep = deployment(sim, "reg-quay-app");
    assert_non_null(dep);
    cfg_name = config_secret_of(dep);
    assert_non_null(cfg_name);
    assert_int_equal(strncmp(cfg_name, "reg-quay-config-secret-", 23), 0);
    assert_int_equal(strlen(cfg_name), 23 + 10);
    env = cJSON_GetObjectItem(
        cJSON_GetArrayItem(
            cJSON_GetObjectItem(
                cJSON_GetObjectItem(
                    cJSON_GetObjectItem(cJSON_GetObjectItem(dep, "spec"), "template"), "spec"),
                "containers"),
            0),
        "env");
    cJSON_ArrayForEach(x, env)
    {
        if (strcmp(kubesim_jstr(x, "name", NULL), "QE_K8S_CONFIG_SECRET") == 0 &&
            strcmp(kubesim_jstr(x, "value", NULL), cfg_name) == 0)
            found = 1;
    }
    assert_true(found);
    assert_int_equal(num(dep, "spec", "replicas"), 2);
    assert_int_equal(num(dep, "status", "updatedReplicas"), 2);
    cJSON_Delete(dep);

    snprintf(path, sizeof(path), SEC_PATH "/%s", cfg_name);
    sec = get(sim, path);
    assert_non_null(sec);
    x = cJSON_GetArrayItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(sec, "metadata"), "ownerReferences"), 0);
    assert_string_equal(kubesim_jstr(x, "kind", NULL), "QuayRegistry");
    assert_string_equal(kubesim_jstr(x, "name", NULL), "reg");
    cfg = decode_config(sec);
    assert_non_null(strstr(cfg, "SERVER_HOSTNAME: quay.example.com\n"));
    assert_non_null(strstr(cfg, "DB_URI: postgresql://reg-quay-database:"));
    assert_non_null(strstr(cfg, "BUILDLOGS_REDIS:\n  host: reg-quay-redis\n"));
    assert_non_null(strstr(cfg, "USER_EVENTS_REDIS:"));
    assert_non_null(strstr(cfg, "DISTRIBUTED_STORAGE_CONFIG:\n  default:\n  - S3Storage\n"));
    assert_non_null(strstr(cfg, "FEATURE_REPO_MIRROR: true\n"));
    assert_non_null(strstr(cfg, "SETUP_COMPLETE: true\n"));
    free(cfg);
    /* Other bundle keys ride along; certs and CA keys do not. */
    v = secret_value(sec, "custom.txt");
    assert_string_equal(v, "kept");
    free(v);
    assert_null(kubesim_jstr(cJSON_GetObjectItem(sec, "data"), "extra_ca_cert_foo.crt", NULL));
    assert_null(kubesim_jstr(cJSON_GetObjectItem(sec, "data"), "ssl.cert", NULL));
    cJSON_Delete(sec);
    free(cfg_name);

    /* extra_ca_cert_<x> keys land in the CA Secret as <x>. */
    {
        struct kubesim_resp r;
        cJSON *list, *it;
        int ca = 0;
        kubesim_call(sim, "GET", SEC_PATH, NULL, NULL, &r);
        list = kubesim_resp_json(&r);
        kubesim_resp_free(&r);
        cJSON_ArrayForEach(it, cJSON_GetObjectItem(list, "items"))
        {
            const char *n = kubesim_jstr(it, "metadata", "name");
            if (strncmp(n, "reg-extra-ca-certs-", 19) == 0) {
                v = secret_value(it, "foo.crt");
                assert_string_equal(v, "FOO-CA");
                free(v);
                ca++;
            }
        }
        assert_int_equal(ca, 1);
        cJSON_Delete(list);
    }
    /* Mirror and clair run: their components are managed by default. */
    dep = deployment(sim, "reg-quay-mirror");
    assert_non_null(dep);
    assert_string_equal(
        kubesim_jstr(cJSON_GetObjectItem(cJSON_GetObjectItem(dep, "spec"), "strategy"), "type",
                     NULL),
        "Recreate");
    cJSON_Delete(dep);
    dep = deployment(sim, "reg-clair-app");
    assert_non_null(dep);
    cJSON_Delete(dep);
}

static void test_generation_change_rerenders_at_once(void **state)
{
    struct kubesim *sim = *state;
    cJSON *qr, *old;
    char *first, *second = NULL, path[512];
    /* A requeue far away: only the generation change can explain a new render. */
    configure(sim, "{\"quayOperator\":{\"retrySeconds\":1,\"requeueSeconds\":3600},"
                   "\"deployments\":{\"rolloutDelayMs\":200}}");
    make_bundle(sim, "b1", "quay.example.com", NULL);
    make_bundle(sim, "b2", "quay2.example.com", NULL);
    make_registry(sim, "reg", "b1", UNMANAGED_INFRA);
    cJSON_Delete(wait_rolled_out(sim, "reg"));
    first = app_config_secret(sim, "reg");
    assert_non_null(first);

    send_ok(sim, "PATCH", NS_PATH "/reg", "application/merge-patch+json",
            "{\"spec\":{\"configBundleSecret\":\"b2\"}}", 200);
    for (int waited = 0; waited < WAIT_MS; waited += POLL_MS) {
        free(second);
        second = app_config_secret(sim, "reg");
        if (second && strcmp(second, first) != 0)
            break;
        usleep(POLL_MS * 1000);
    }
    assert_non_null(second);
    assert_string_not_equal(second, first);
    /* The new rollout completes and the registry is Available at the new
     * generation; the old rendered Secret is gone. */
    qr = wait_rolled_out(sim, "reg");
    assert_string_equal(kubesim_jstr(cJSON_GetObjectItem(qr, "status"), "registryEndpoint", NULL),
                        "https://quay2.example.com");
    cJSON_Delete(qr);
    snprintf(path, sizeof(path), SEC_PATH "/%s", first);
    old = get(sim, path);
    assert_null(old);
    free(first);
    free(second);
}

static int p_current(const cJSON *qr, const void *arg)
{
    return p_reconciled(qr, arg);
}

static void test_bundle_data_edit_waits_for_requeue(void **state)
{
    struct kubesim *sim = *state;
    char *first, *now = NULL, cfg[2048], body[4096];
    cJSON *patch, *sd;
    char *text;
    configure(sim, "{\"quayOperator\":{\"retrySeconds\":1,\"requeueSeconds\":3600}}");
    make_bundle(sim, "b1", "quay.example.com", NULL);
    make_registry(sim, "reg", "b1", UNMANAGED_INFRA);
    cJSON_Delete(wait_registry(sim, "reg", p_reconciled, NULL, "the first full reconcile"));
    first = app_config_secret(sim, "reg");
    assert_non_null(first);

    /* Edit the data only: no generation changes anywhere. */
    snprintf(cfg, sizeof(cfg), CONFIG_YAML, "edited.example.com");
    patch = cJSON_CreateObject();
    sd = cJSON_AddObjectToObject(patch, "stringData");
    cJSON_AddStringToObject(sd, "config.yaml", cfg);
    text = cJSON_PrintUnformatted(patch);
    snprintf(body, sizeof(body), "%s", text);
    free(text);
    cJSON_Delete(patch);
    send_ok(sim, "PATCH", SEC_PATH "/b1", "application/merge-patch+json", body, 200);

    /* Barrier: a registry created after the edit is reconciled through to
     * the end, so the controller has run several passes since the edit. */
    make_registry(sim, "later", "b1", UNMANAGED_INFRA);
    cJSON_Delete(wait_registry(sim, "later", p_current, NULL, "the barrier registry"));
    now = app_config_secret(sim, "reg");
    assert_string_equal(now, first);
    free(now);
    now = NULL;

    /* The periodic requeue picks it up. */
    configure(sim, "{\"quayOperator\":{\"requeueSeconds\":3}}");
    for (int waited = 0; waited < WAIT_MS; waited += POLL_MS) {
        free(now);
        now = app_config_secret(sim, "reg");
        if (now && strcmp(now, first) != 0)
            break;
        usleep(POLL_MS * 1000);
    }
    assert_non_null(now);
    assert_string_not_equal(now, first);
    free(now);
    free(first);
}

static void assert_blocked(struct kubesim *sim, const char *name, const char *reason,
                           const char *message)
{
    cJSON *qr = wait_registry(sim, name, p_blocked, reason, reason);
    const cJSON *c = condition(qr, "RolloutBlocked");
    char dep[256];
    cJSON *d;
    assert_string_equal(kubesim_jstr(c, "message", NULL), message);
    /* Blocked before applying anything: no status.observedGeneration. */
    assert_int_equal(num(qr, "status", "observedGeneration"), -1);
    snprintf(dep, sizeof(dep), "%s-quay-app", name);
    d = deployment(sim, dep);
    assert_null(d);
    cJSON_Delete(qr);
}

static void test_config_invalid_managed_objectstorage_with_storage_keys(void **state)
{
    struct kubesim *sim = *state;
    configure(sim, "{\"quayOperator\":{\"retrySeconds\":1}}");
    make_bundle(sim, "b1", "quay.example.com", NULL);
    make_registry(sim, "reg", "b1",
                  "{\"kind\":\"objectstorage\",\"managed\":true},{\"kind\":\"route\","
                  "\"managed\":false},{\"kind\":\"tls\",\"managed\":false}");
    assert_blocked(sim, "reg", "ConfigInvalid",
                   "objectstorage component marked as managed, but `configBundleSecret` "
                   "contains required fields");
}

static void test_blocked_reasons_without_obc_api(void **state)
{
    struct kubesim *sim = *state;
    configure(sim, "{\"quayOperator\":{\"retrySeconds\":1}}");
    make_bundle(sim, "b1", "quay.example.com", NULL);
    /* Managed objectstorage on a cluster without ObjectBucketClaims. */
    make_registry(sim, "obj", "b1",
                  "{\"kind\":\"objectstorage\",\"managed\":true},{\"kind\":\"route\","
                  "\"managed\":false},{\"kind\":\"tls\",\"managed\":false}");
    assert_blocked(sim, "obj", "ObjectStorageComponentDependencyError",
                   "error checking for object storage support: unable to list object bucket "
                   "claims: no matches for kind \"ObjectBucketClaim\" in version "
                   "\"objectbucket.io/v1alpha1\"");
    /* A bundle that does not exist. */
    make_registry(sim, "nobundle", "nope", UNMANAGED_INFRA);
    assert_blocked(sim, "nobundle", "ConfigInvalid",
                   "unable to get `configBundleSecret`: secrets \"nope\" not found");
    /* Unmanaged postgres without its config. */
    make_registry(sim, "nodb", "b1", UNMANAGED_INFRA ",{\"kind\":\"postgres\",\"managed\":false}");
    assert_blocked(sim, "nodb", "ConfigInvalid",
                   "required component `postgres` marked as unmanaged, but `configBundleSecret` "
                   "is missing necessary fields");
}

static void test_component_override_invalid(void **state)
{
    struct kubesim *sim = *state;
    struct kubesim_resp r;
    cJSON *dep;
    const cJSON *env, *x;
    int foo = 0;
    configure(sim, "{\"quayOperator\":{\"retrySeconds\":1}}");
    make_bundle(sim, "b1", "quay.example.com", NULL);
    /* A non-zero replicas override while the HPA is managed (the default). */
    make_registry(sim, "reps", "b1",
                  UNMANAGED_INFRA ",{\"kind\":\"quay\",\"managed\":true,\"overrides\":"
                                  "{\"replicas\":3}}");
    assert_blocked(sim, "reps", "ComponentOverrideInvalid",
                   "invalid overrides: cannot override replicas with managed HPA");
    /* Overrides on an unmanaged component: the CRD's own rule refuses them. */
    kubesim_call(sim, "POST", NS_PATH, "application/json",
                 "{\"apiVersion\":\"quay.redhat.com/v1\",\"kind\":\"QuayRegistry\","
                 "\"metadata\":{\"name\":\"unm\"},\"spec\":{\"configBundleSecret\":\"b1\","
                 "\"components\":[{\"kind\":\"clair\",\"managed\":false,\"overrides\":{\"env\":"
                 "[{\"name\":\"A\",\"value\":\"b\"}]}}]}}",
                 &r);
    assert_int_equal(r.code, 422);
    assert_non_null(strstr(r.body, "cannot set overrides on unmanaged component"));
    kubesim_resp_free(&r);
    /* With the HPA unmanaged the override and env land in quay-app. */
    make_registry(sim, "ok", "b1",
                  UNMANAGED_INFRA ",{\"kind\":\"horizontalpodautoscaler\",\"managed\":false},"
                                  "{\"kind\":\"quay\",\"managed\":true,\"overrides\":{\"replicas\":"
                                  "3,\"env\":[{\"name\":\"FOO\",\"value\":\"bar\"}]}}");
    cJSON_Delete(wait_registry(sim, "ok", p_reconciled, NULL, "the overridden registry"));
    dep = deployment(sim, "ok-quay-app");
    assert_non_null(dep);
    assert_int_equal(num(dep, "spec", "replicas"), 3);
    env = cJSON_GetObjectItem(
        cJSON_GetArrayItem(
            cJSON_GetObjectItem(
                cJSON_GetObjectItem(
                    cJSON_GetObjectItem(cJSON_GetObjectItem(dep, "spec"), "template"), "spec"),
                "containers"),
            0),
        "env");
    cJSON_ArrayForEach(x, env)
    {
        if (strcmp(kubesim_jstr(x, "name", NULL), "FOO") == 0 &&
            strcmp(kubesim_jstr(x, "value", NULL), "bar") == 0)
            foo = 1;
    }
    assert_true(foo);
    cJSON_Delete(dep);
}

static int p_has_bundle(const cJSON *qr, const void *arg)
{
    const char *b = kubesim_jstr(cJSON_GetObjectItem(qr, "spec"), "configBundleSecret", NULL);
    (void)arg;
    return b && *b;
}

static void test_empty_bundle_gets_one(void **state)
{
    struct kubesim *sim = *state;
    cJSON *qr, *sec;
    const char *name;
    char path[512], *cfg;
    configure(sim, "{\"quayOperator\":{\"retrySeconds\":1}}");
    make_registry(sim, "reg", NULL, "");
    qr = wait_registry(sim, "reg", p_has_bundle, NULL, "spec.configBundleSecret set");
    name = kubesim_jstr(cJSON_GetObjectItem(qr, "spec"), "configBundleSecret", NULL);
    assert_int_equal(strncmp(name, "reg-config-bundle-", 18), 0);
    assert_int_equal(strlen(name), 18 + 5);
    snprintf(path, sizeof(path), SEC_PATH "/%s", name);
    sec = get(sim, path);
    assert_non_null(sec);
    cfg = decode_config(sec);
    assert_non_null(strstr(cfg, "SETUP_COMPLETE: true"));
    free(cfg);
    assert_string_equal(
        kubesim_jstr(
            cJSON_GetArrayItem(
                cJSON_GetObjectItem(cJSON_GetObjectItem(sec, "metadata"), "ownerReferences"), 0),
            "kind", NULL),
        "QuayRegistry");
    cJSON_Delete(sec);
    cJSON_Delete(qr);
    /* The base config has no storage: without the ObjectBucketClaim API the
     * objectstorage component defaults to unmanaged, which needs config. */
    qr = wait_registry(sim, "reg", p_blocked, "ConfigInvalid", "ConfigInvalid");
    assert_string_equal(kubesim_jstr(condition(qr, "RolloutBlocked"), "message", NULL),
                        "required component `objectstorage` marked as unmanaged, but "
                        "`configBundleSecret` is missing necessary fields");
    cJSON_Delete(qr);
}

static int p_quay_not_ready(const cJSON *qr, const void *arg)
{
    const cJSON *c = condition(qr, "ComponentQuayReady");
    (void)arg;
    return c && cond_is(qr, "Available", "False", "ComponentNotReady") &&
           strcmp(kubesim_jstr(c, "reason", NULL), "ComponentNotReady") == 0 &&
           strncmp(kubesim_jstr(c, "message", NULL), "Deployment reg-quay-app: ", 25) == 0;
}

static void test_fail_rollout(void **state)
{
    struct kubesim *sim = *state;
    char *out = NULL;
    cJSON *wl, *dep;
    configure(sim, "{\"quayOperator\":{\"retrySeconds\":1,\"failRollout\":true},"
                   "\"deployments\":{\"rolloutDelayMs\":200}}");
    make_bundle(sim, "b1", "quay.example.com", NULL);
    make_registry(sim, "reg", "b1", UNMANAGED_INFRA);
    /* The stand-in stalls quay-app through the Deployment controller's knob. */
    cJSON_Delete(wait_registry(sim, "reg", p_quay_not_ready, NULL, "quay-app reported not ready"));
    assert_int_equal(kubesim_admin(sim, "GET", "/__admin/workloads", NULL, &out), 200);
    wl = cJSON_Parse(out);
    free(out);
    assert_true(cJSON_IsTrue(
        cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(wl, "deployments"), "stall"),
                            "default/reg-quay-app")));
    cJSON_Delete(wl);
    dep = deployment(sim, "reg-quay-app");
    assert_true(num(dep, "status", "availableReplicas") <= 0);
    cJSON_Delete(dep);
    /* Switched off: the rollout completes and the registry is Available. */
    configure(sim, "{\"quayOperator\":{\"failRollout\":false}}");
    cJSON_Delete(wait_registry(sim, "reg", p_available, NULL, "Available once unstalled"));
}

/* Changes the registry's bundle and samples Available until the mirror's
 * Recreate rollout finished; returns how many samples saw Available False. */
static int roll_and_sample(struct kubesim *sim, const char *bundle, const char *first)
{
    char body[256];
    int falses = 0, done = 0;
    snprintf(body, sizeof(body), "{\"spec\":{\"configBundleSecret\":\"%s\"}}", bundle);
    send_ok(sim, "PATCH", NS_PATH "/reg", "application/merge-patch+json", body, 200);
    for (int waited = 0; waited < WAIT_MS && !done; waited += POLL_MS) {
        cJSON *qr = registry(sim, "reg"), *m = deployment(sim, "reg-quay-mirror");
        char *cfg = m ? config_secret_of(m) : NULL;
        if (cond_is(qr, "Available", "False", NULL))
            falses++;
        /* Done: the mirror runs the new config, available again. */
        done = cfg && strcmp(cfg, first) != 0 &&
               num(m, "status", "updatedReplicas") == num(m, "spec", "replicas") &&
               num(m, "status", "availableReplicas") == num(m, "spec", "replicas") &&
               p_available(qr, NULL);
        free(cfg);
        cJSON_Delete(qr);
        cJSON_Delete(m);
        usleep(POLL_MS * 1000);
    }
    assert_true(done);
    return falses;
}

static void test_stale_available(void **state)
{
    struct kubesim *sim = *state;
    char *first;
    int falses;
    /* The mirror (Recreate) is down for 3 s per rollout: three status
     * evaluations at least. */
    configure(sim, "{\"quayOperator\":{\"retrySeconds\":1,\"statusIntervalMs\":500},"
                   "\"deployments\":{\"rolloutDelayMs\":3000}}");
    make_bundle(sim, "b1", "quay.example.com", NULL);
    make_bundle(sim, "b2", "quay2.example.com", NULL);
    make_bundle(sim, "b3", "quay3.example.com", NULL);
    make_registry(sim, "reg", "b1", UNMANAGED_INFRA);
    cJSON_Delete(wait_rolled_out(sim, "reg"));
    /* Control: without the switch, Available flips while the mirror recreates. */
    first = app_config_secret(sim, "reg");
    falses = roll_and_sample(sim, "b2", first);
    free(first);
    assert_true(falses > 0);
    /* With it, Available=True stays through the whole rollout. */
    configure(sim, "{\"quayOperator\":{\"staleAvailable\":true}}");
    first = app_config_secret(sim, "reg");
    falses = roll_and_sample(sim, "b3", first);
    free(first);
    assert_int_equal(falses, 0);
}

static void test_omit_observed_generation(void **state)
{
    struct kubesim *sim = *state;
    cJSON *qr;
    configure(sim, "{\"quayOperator\":{\"retrySeconds\":1,\"omitObservedGeneration\":true}}");
    make_bundle(sim, "b1", "quay.example.com", NULL);
    make_registry(sim, "reg", "b1", UNMANAGED_INFRA);
    qr = wait_registry(sim, "reg", p_reconciled, NULL, "a complete reconcile");
    assert_true(cond_is(qr, "RolloutBlocked", "False", "ComponentsCreationSuccess"));
    assert_int_equal(num(qr, "status", "observedGeneration"), -1);
    cJSON_Delete(qr);
}

static void test_delete_removes_the_finalizer(void **state)
{
    struct kubesim *sim = *state;
    int gone = 0;
    configure(sim, "{\"quayOperator\":{\"retrySeconds\":1}}");
    make_bundle(sim, "b1", "quay.example.com", NULL);
    make_registry(sim, "reg", "b1", UNMANAGED_INFRA);
    cJSON_Delete(wait_registry(sim, "reg", p_reconciled, NULL, "the finalizer added"));
    send_ok(sim, "DELETE", NS_PATH "/reg", NULL, NULL, 200);
    /* The operator lets go of it; the garbage collector takes what it owned. */
    for (int waited = 0; waited < WAIT_MS && !gone; waited += POLL_MS) {
        cJSON *qr = registry(sim, "reg"), *dep = deployment(sim, "reg-quay-app");
        gone = !qr && !dep;
        cJSON_Delete(qr);
        cJSON_Delete(dep);
        if (!gone)
            usleep(POLL_MS * 1000);
    }
    assert_true(gone);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_renders_and_rolls_out_on_creation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_generation_change_rerenders_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bundle_data_edit_waits_for_requeue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_invalid_managed_objectstorage_with_storage_keys,
                                        setup_obc, teardown),
        cmocka_unit_test_setup_teardown(test_blocked_reasons_without_obc_api, setup, teardown),
        cmocka_unit_test_setup_teardown(test_component_override_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_bundle_gets_one, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fail_rollout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_available, setup, teardown),
        cmocka_unit_test_setup_teardown(test_omit_observed_generation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_removes_the_finalizer, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
