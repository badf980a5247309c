/*
 * Integration tests of the Kubernetes client (k8s_client.c, k8s_transport.c,
 * k8s_watch.c, k8s_discovery.c) against the API simulator (tests/kubesim).
 *
 * Each test proves a behaviour a toy client would get wrong: every verb with
 * the server's refusals (stale update, failed JSON-patch test, delete
 * precondition), pagination that returns every page, 429 waited out, 500
 * retried on GET but not on POST, a rotated token file picked up by the next
 * request while a watch is live, a foreign CA refused with the cause named,
 * watch order and the 410 of an expired resourceVersion. What the server saw
 * is checked through the simulator's request record (/__admin/requests), not
 * through the client's own account of itself.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "k8s_client.h"
#include "k8s_config.h"
#include "k8s_patch.h"
#include "k8s_watch.h"
#include "kubesim_harness.h"

static const struct k8s_resource CONFIGMAPS = {"", "v1", "configmaps", 1};
static const struct k8s_resource NAMESPACES = {"", "v1", "namespaces", 0};
static const struct k8s_resource PODS = {"", "v1", "pods", 1};

struct fixture {
    struct kubesim *sim;
    struct k8s_client *c; /* admin, no client-side rate limit */
};

/* ---- helpers ---------------------------------------------------------- */

/* Asserts a k8sclient call's result, printing the error message when it is
 * not the expected one (the code alone rarely says why). Expects a
 * `struct k8s_error err` in scope. */
#define assert_rc(call, want)                                                                      \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ != (want))                                                                         \
            fprintf(stderr, "%s:%d: got %s (%d): %s\n", __FILE__, __LINE__, k8s_err_name(rc_),     \
                    rc_, err.message);                                                             \
        assert_int_equal(rc_, (want));                                                             \
    } while (0)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static struct k8s_config *load_config(const char *kubeconfig)
{
    struct k8s_config *cfg = NULL;
    struct k8s_error err;
    int rc = k8s_config_from_kubeconfig(kubeconfig, NULL, &cfg, &err);
    if (rc)
        fprintf(stderr, "config %s: %s\n", kubeconfig, err.message);
    assert_int_equal(rc, 0);
    return cfg;
}

static struct k8s_client *client_from_config(const struct k8s_config *cfg)
{
    struct k8s_client *c = NULL;
    struct k8s_error err;
    int rc = k8s_client_new(cfg, &c, &err);
    if (rc)
        fprintf(stderr, "client: %s\n", err.message);
    assert_int_equal(rc, 0);
    return c;
}

/* A client for a kubeconfig, with its rate limit replaced by qps/burst. */
static struct k8s_client *client_for(const char *kubeconfig, double qps, int burst)
{
    struct k8s_config *cfg = load_config(kubeconfig);
    cfg->qps = qps;
    cfg->burst = burst;
    struct k8s_client *c = client_from_config(cfg);
    k8s_config_free(cfg);
    return c;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

/* Writes a kubeconfig for the simulator's URL with the given CA file and
 * `user_yaml` (the lines under `user:`, indented by 4). */
static void write_kubeconfig(const char *path, const char *url, const char *ca_file,
                             const char *user_yaml)
{
    char text[4096];
    int n = snprintf(text, sizeof(text),
                     "apiVersion: v1\n"
                     "kind: Config\n"
                     "clusters:\n"
                     "- name: sim\n"
                     "  cluster:\n"
                     "    server: %s\n"
                     "    certificate-authority: %s\n"
                     "users:\n"
                     "- name: u\n"
                     "  user:\n"
                     "%s"
                     "contexts:\n"
                     "- name: ctx\n"
                     "  context:\n"
                     "    cluster: sim\n"
                     "    user: u\n"
                     "current-context: ctx\n",
                     url, ca_file, user_yaml);
    assert_true(n > 0 && (size_t)n < sizeof(text));
    write_file(path, text);
}

static long admin(struct fixture *f, const char *method, const char *path, const char *body,
                  cJSON **out)
{
    char *text = NULL;
    long status = kubesim_admin(f->sim, method, path, body, out ? &text : NULL);
    if (out) {
        *out = text ? cJSON_Parse(text) : NULL;
        if (status >= 200 && status < 300)
            assert_non_null(*out);
    }
    free(text);
    return status;
}

static void assert_2xx(long status)
{
    if (status < 200 || status > 299)
        fail_msg("admin endpoint answered %ld", status);
}

static void set_faults(struct fixture *f, const char *json)
{
    assert_2xx(admin(f, "POST", "/__admin/faults", json, NULL));
}

static void clear_requests(struct fixture *f)
{
    long st = admin(f, "DELETE", "/__admin/requests", NULL, NULL);
    assert_true(st >= 200 && st < 300);
}

/* The simulator's record of requests whose path is `path` (and, when not
 * NULL, whose method is `method`), in the order served. */
static cJSON *requests_for(struct fixture *f, const char *method, const char *path)
{
    cJSON *all = NULL;
    assert_int_equal(admin(f, "GET", "/__admin/requests", NULL, &all), 200);
    cJSON *out = cJSON_CreateArray();
    const cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(all, "items"))
    {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(r, "path");
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(r, "method");
        if (!cJSON_IsString(p) || strcmp(p->valuestring, path) != 0)
            continue;
        if (method && (!cJSON_IsString(m) || strcmp(m->valuestring, method) != 0))
            continue;
        cJSON_AddItemToArray(out, cJSON_Duplicate(r, 1));
    }
    cJSON_Delete(all);
    return out;
}

static long rec_code(const cJSON *rec)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(rec, "code");
    return cJSON_IsNumber(c) ? (long)c->valuedouble : -1;
}

static const char *rec_str(const cJSON *rec, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static const char *meta(const cJSON *obj, const char *key)
{
    const cJSON *v =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, "metadata"), key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const char *data_value(const cJSON *cm, const char *key)
{
    const cJSON *v =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(cm, "data"), key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void ensure_namespace(struct k8s_client *c, const char *ns)
{
    cJSON *obj = cJSON_CreateObject(), *out = NULL;
    cJSON_AddStringToObject(obj, "apiVersion", "v1");
    cJSON_AddStringToObject(obj, "kind", "Namespace");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(obj, "metadata"), "name", ns);
    struct k8s_error err;
    int rc = k8s_create(c, &NAMESPACES, NULL, obj, NULL, &out, &err);
    if (rc && rc != K8S_EALREADYEXISTS)
        fprintf(stderr, "create namespace %s: %s\n", ns, err.message);
    assert_true(rc == 0 || rc == K8S_EALREADYEXISTS);
    cJSON_Delete(out);
    cJSON_Delete(obj);
}

/* A ConfigMap {metadata: {name | generateName, labels: {app: label}}, data: {k: v}}. */
static cJSON *configmap(const char *name, const char *generate_name, const char *label,
                        const char *k, const char *v)
{
    cJSON *obj = cJSON_CreateObject();
    cJSON_AddStringToObject(obj, "apiVersion", "v1");
    cJSON_AddStringToObject(obj, "kind", "ConfigMap");
    cJSON *md = cJSON_AddObjectToObject(obj, "metadata");
    if (name)
        cJSON_AddStringToObject(md, "name", name);
    if (generate_name)
        cJSON_AddStringToObject(md, "generateName", generate_name);
    if (label)
        cJSON_AddStringToObject(cJSON_AddObjectToObject(md, "labels"), "app", label);
    if (k)
        cJSON_AddStringToObject(cJSON_AddObjectToObject(obj, "data"), k, v);
    return obj;
}

static void create_cm(struct k8s_client *c, const char *ns, const char *name, const char *label)
{
    cJSON *obj = configmap(name, NULL, label, "k", "v"), *out = NULL;
    struct k8s_error err;
    int rc = k8s_create(c, &CONFIGMAPS, ns, obj, NULL, &out, &err);
    if (rc)
        fprintf(stderr, "create %s/%s: %s\n", ns, name, err.message);
    assert_int_equal(rc, 0);
    cJSON_Delete(out);
    cJSON_Delete(obj);
}

/* The collection's current resourceVersion (a watch resume point). */
static char *list_rv(struct k8s_client *c, const char *ns)
{
    cJSON *list = NULL;
    struct k8s_error err;
    assert_rc(k8s_list(c, &CONFIGMAPS, ns, NULL, &list, &err), 0);
    const char *rv = meta(list, "resourceVersion");
    assert_non_null(rv);
    char *copy = strdup(rv);
    cJSON_Delete(list);
    return copy;
}

/* ---- setup ------------------------------------------------------------ */

/* Until the simulator is part of the source tree there is nothing to run
 * against: its tests are skipped (visibly). Once it is, failing to start it
 * is a failure. */
static int simulator_in_tree(void)
{
    return access(QSO_SOURCE_DIR "/tests/kubesim/CMakeLists.txt", F_OK) == 0;
}

static int group_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    *state = f;
    if (!simulator_in_tree()) {
        fprintf(stderr, "tests/kubesim is not in the tree: simulator tests skipped\n");
        return 0;
    }
    struct kubesim_opts opts = {.exit_after_seconds = 900};
    if (kubesim_start(&opts, &f->sim) != 0) {
        free(f);
        *state = NULL;
        return -1;
    }
    struct k8s_config *cfg = NULL;
    struct k8s_error err;
    if (k8s_config_from_kubeconfig(kubesim_kubeconfig(f->sim), NULL, &cfg, &err) != 0) {
        fprintf(stderr, "config: %s\n", err.message);
        kubesim_stop(f->sim);
        free(f);
        *state = NULL;
        return -1;
    }
    cfg->qps = 0; /* unlimited: the bulk test creates 2,500 objects */
    int rc = k8s_client_new(cfg, &f->c, &err);
    k8s_config_free(cfg);
    if (rc) {
        fprintf(stderr, "client: %s\n", err.message);
        kubesim_stop(f->sim);
        free(f);
        *state = NULL;
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    struct fixture *f = *state;
    if (!f)
        return 0;
    k8s_client_free(f->c);
    kubesim_stop(f->sim);
    free(f);
    return 0;
}

/* Every test starts with no fault rules. */
static int test_setup(void **state)
{
    struct fixture *f = *state;
    if (!f->sim)
        return 0;
    long st = kubesim_admin(f->sim, "POST", "/__admin/faults", "{\"rules\":[]}", NULL);
    return st >= 200 && st < 300 ? 0 : -1;
}

/* ---- verbs ------------------------------------------------------------ */

static void create_with_generate_name_get_and_list(void **state)
{
    struct fixture *f = *state;
    if (!f->sim)
        skip();
    struct k8s_error err;
    cJSON *obj = configmap(NULL, "gen-", "verbs", "k", "v1"), *created = NULL, *got = NULL,
          *list = NULL;
    ensure_namespace(f->c, "verbs");
    assert_rc(k8s_create(f->c, &CONFIGMAPS, "verbs", obj, NULL, &created, &err), 0);
    const char *name = meta(created, "name");
    assert_non_null(name);
    assert_true(strncmp(name, "gen-", 4) == 0 && strlen(name) > 4);
    assert_non_null(meta(created, "uid"));

    assert_rc(k8s_get(f->c, &CONFIGMAPS, "verbs", name, NULL, &got, &err), 0);
    assert_string_equal(meta(got, "uid"), meta(created, "uid"));
    assert_string_equal(data_value(got, "k"), "v1");

    /* A selector with characters that must be escaped in a query. */
    struct k8s_opts lo = {.label_selector = "app in (verbs,other)"};
    assert_rc(k8s_list(f->c, &CONFIGMAPS, "verbs", &lo, &list, &err), 0);
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(list, "items");
    int found = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, items)
    {
        if (strcmp(meta(it, "name"), name) == 0)
            found++;
    }
    assert_int_equal(found, 1);

    /* Dry run: the answer is the object, but nothing is stored. */
    cJSON *dry = configmap("dry-one", NULL, NULL, "k", "v"), *dry_out = NULL, *missing = NULL;
    struct k8s_opts dro = {.dry_run = 1};
    assert_rc(k8s_create(f->c, &CONFIGMAPS, "verbs", dry, &dro, &dry_out, &err), 0);
    assert_string_equal(meta(dry_out, "name"), "dry-one");
    assert_rc(k8s_get(f->c, &CONFIGMAPS, "verbs", "dry-one", NULL, &missing, &err), K8S_ENOTFOUND);
    assert_null(missing);
    assert_int_equal(err.http_status, 404);
    assert_string_equal(err.reason, "NotFound");

    /* A second create of the same name is refused, not retried. */
    cJSON *again = configmap(name, NULL, NULL, "k", "v"), *again_out = NULL;
    assert_rc(k8s_create(f->c, &CONFIGMAPS, "verbs", again, NULL, &again_out, &err),
              K8S_EALREADYEXISTS);
    assert_int_equal(err.http_status, 409);

    cJSON_Delete(again);
    cJSON_Delete(dry);
    cJSON_Delete(dry_out);
    cJSON_Delete(list);
    cJSON_Delete(got);
    cJSON_Delete(created);
    cJSON_Delete(obj);
}

static void update_with_stale_resource_version_conflicts(void **state)
{
    struct fixture *f = *state;
    if (!f->sim)
        skip();
    struct k8s_error err;
    cJSON *obj = configmap("upd", NULL, NULL, "k", "v1"), *v1 = NULL, *v2 = NULL, *v3 = NULL;
    ensure_namespace(f->c, "verbs");
    assert_rc(k8s_create(f->c, &CONFIGMAPS, "verbs", obj, NULL, &v1, &err), 0);

    cJSON *edit = cJSON_Duplicate(v1, 1);
    cJSON_ReplaceItemInObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(edit, "data"), "k",
                                           cJSON_CreateString("v2"));
    assert_rc(k8s_update(f->c, &CONFIGMAPS, "verbs", "upd", edit, NULL, &v2, &err), 0);
    assert_string_equal(data_value(v2, "k"), "v2");
    assert_string_not_equal(meta(v2, "resourceVersion"), meta(v1, "resourceVersion"));

    /* The same edit again carries v1's resourceVersion: stale. */
    clear_requests(f);
    cJSON_ReplaceItemInObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(edit, "data"), "k",
                                           cJSON_CreateString("v3"));
    assert_rc(k8s_update(f->c, &CONFIGMAPS, "verbs", "upd", edit, NULL, &v3, &err), K8S_ECONFLICT);
    assert_null(v3);
    assert_int_equal(err.http_status, 409);
    assert_string_equal(err.reason, "Conflict");
    assert_true(strlen(err.message) > 0);
    /* A conflict is final: sent once, never retried. */
    cJSON *seen = requests_for(f, "PUT", "/api/v1/namespaces/verbs/configmaps/upd");
    assert_int_equal(cJSON_GetArraySize(seen), 1);
    assert_int_equal(rec_code(cJSON_GetArrayItem(seen, 0)), 409);

    cJSON_Delete(seen);
    cJSON_Delete(edit);
    cJSON_Delete(v2);
    cJSON_Delete(v1);
    cJSON_Delete(obj);
}

/* A JSON patch with a resourceVersion test: a stale version is a conflict, a
 * refusal of the change itself (an immutable ConfigMap) is Invalid — the API
 * answers both with 422, k8s_patch_tested tells them apart. */
static cJSON *rv_patch(const char *rv, const char *value)
{
    cJSON *p = cJSON_CreateArray(), *t = cJSON_CreateString(rv), *v = cJSON_CreateString(value);
    assert_int_equal(k8s_json_patch_add_op(p, "test", "/metadata/resourceVersion", t), 0);
    assert_int_equal(k8s_json_patch_add_op(p, "replace", "/data/k", v), 0);
    cJSON_Delete(t);
    cJSON_Delete(v);
    return p;
}

static void tested_patch_tells_conflict_from_refusal(void **state)
{
    struct fixture *f = *state;
    if (!f->sim)
        skip();
    struct k8s_error err;
    cJSON *obj = configmap("tested", NULL, NULL, "k", "v1"), *v1 = NULL, *v2 = NULL, *out = NULL;
    ensure_namespace(f->c, "verbs");
    assert_rc(k8s_create(f->c, &CONFIGMAPS, "verbs", obj, NULL, &v1, &err), 0);

    cJSON *p = rv_patch(meta(v1, "resourceVersion"), "v2");
    assert_rc(k8s_patch_tested(f->c, &CONFIGMAPS, "verbs", "tested", meta(v1, "resourceVersion"), p,
                               NULL, &v2, &err),
              0);
    assert_string_equal(data_value(v2, "k"), "v2");
    /* v1's version again: changed since, so a conflict (nothing written). */
    cJSON_Delete(p);
    p = rv_patch(meta(v1, "resourceVersion"), "v3");
    assert_rc(k8s_patch_tested(f->c, &CONFIGMAPS, "verbs", "tested", meta(v1, "resourceVersion"), p,
                               NULL, &out, &err),
              K8S_ECONFLICT);
    assert_null(out);
    assert_non_null(strstr(err.message, "changed since it was read"));

    /* Made immutable: the current version and still refused, as such. */
    cJSON *imm = cJSON_CreateArray(), *yes = cJSON_CreateTrue();
    assert_int_equal(k8s_json_patch_add_op(imm, "add", "/immutable", yes), 0);
    assert_rc(
        k8s_patch(f->c, &CONFIGMAPS, "verbs", "tested", K8S_PATCH_JSON, imm, NULL, &out, &err), 0);
    cJSON_Delete(p);
    p = rv_patch(meta(out, "resourceVersion"), "v4");
    cJSON *fin = NULL;
    assert_rc(k8s_patch_tested(f->c, &CONFIGMAPS, "verbs", "tested", meta(out, "resourceVersion"),
                               p, NULL, &fin, &err),
              K8S_EINVALID);
    assert_null(fin);
    assert_int_equal(err.http_status, 422);
    assert_non_null(strstr(err.message, "immutable"));
    /* Gone: not found. */
    assert_rc(k8s_delete(f->c, &CONFIGMAPS, "verbs", "tested", NULL, NULL, NULL, &err), 0);
    cJSON_Delete(p);
    p = rv_patch(meta(out, "resourceVersion"), "v5");
    assert_rc(k8s_patch_tested(f->c, &CONFIGMAPS, "verbs", "tested", meta(out, "resourceVersion"),
                               p, NULL, &fin, &err),
              K8S_ENOTFOUND);

    cJSON_Delete(p);
    cJSON_Delete(imm);
    cJSON_Delete(yes);
    cJSON_Delete(out);
    cJSON_Delete(v2);
    cJSON_Delete(v1);
    cJSON_Delete(obj);
}

static int deny_writes(const char *method, const char *path_query, void *user)
{
    (void)method;
    (void)path_query;
    return atomic_load((atomic_int *)user);
}

static void write_gate_stops_writes_not_reads(void **state)
{
    struct fixture *f = *state;
    if (!f->sim)
        skip();
    struct k8s_error err;
    atomic_int allow = 1;
    cJSON *obj = configmap("gated", NULL, NULL, "k", "v"), *out = NULL;
    ensure_namespace(f->c, "verbs");
    k8s_client_set_write_gate(f->c, deny_writes, &allow);
    assert_rc(k8s_create(f->c, &CONFIGMAPS, "verbs", obj, NULL, &out, &err), 0);
    cJSON_Delete(out);
    out = NULL;
    atomic_store(&allow, 0);
    clear_requests(f);
    assert_rc(k8s_delete(f->c, &CONFIGMAPS, "verbs", "gated", NULL, NULL, NULL, &err),
              K8S_ESTOPPED);
    assert_non_null(strstr(err.message, "refused by the client's write gate"));
    /* Nothing went out; reads still do. */
    cJSON *seen = requests_for(f, NULL, "/api/v1/namespaces/verbs/configmaps/gated");
    assert_int_equal(cJSON_GetArraySize(seen), 0);
    cJSON_Delete(seen);
    assert_rc(k8s_get(f->c, &CONFIGMAPS, "verbs", "gated", NULL, &out, &err), 0);
    k8s_client_set_write_gate(f->c, NULL, NULL);
    assert_rc(k8s_delete(f->c, &CONFIGMAPS, "verbs", "gated", NULL, NULL, NULL, &err), 0);
    cJSON_Delete(out);
    cJSON_Delete(obj);
}

static void patch_merge_json_and_strategic(void **state)
{
    struct fixture *f = *state;
    if (!f->sim)
        skip();
    struct k8s_error err;
    cJSON *obj = configmap("pat", NULL, NULL, "k", "v1"), *out = NULL;
    ensure_namespace(f->c, "verbs");
    assert_rc(k8s_create(f->c, &CONFIGMAPS, "verbs", obj, NULL, &out, &err), 0);
    cJSON_Delete(out);

    cJSON *merge = cJSON_Parse("{\"data\":{\"k2\":\"m\"}}");
    assert_rc(
        k8s_patch(f->c, &CONFIGMAPS, "verbs", "pat", K8S_PATCH_MERGE, merge, NULL, &out, &err), 0);
    assert_string_equal(data_value(out, "k"), "v1");
    assert_string_equal(data_value(out, "k2"), "m");
    cJSON_Delete(out);

    /* A JSON patch whose test fails changes nothing (all or nothing). */
    cJSON *bad = cJSON_Parse("[{\"op\":\"replace\",\"path\":\"/data/k\",\"value\":\"x\"},"
                             "{\"op\":\"test\",\"path\":\"/data/k2\",\"value\":\"not-m\"}]");
    assert_rc(k8s_patch(f->c, &CONFIGMAPS, "verbs", "pat", K8S_PATCH_JSON, bad, NULL, &out, &err),
              K8S_EINVALID);
    assert_null(out);
    assert_int_equal(err.http_status, 422);
    assert_rc(k8s_get(f->c, &CONFIGMAPS, "verbs", "pat", NULL, &out, &err), 0);
    assert_string_equal(data_value(out, "k"), "v1");
    cJSON_Delete(out);

    cJSON *good = cJSON_Parse("[{\"op\":\"test\",\"path\":\"/data/k2\",\"value\":\"m\"},"
                              "{\"op\":\"replace\",\"path\":\"/data/k\",\"value\":\"j\"}]");
    assert_rc(k8s_patch(f->c, &CONFIGMAPS, "verbs", "pat", K8S_PATCH_JSON, good, NULL, &out, &err),
              0);
    assert_string_equal(data_value(out, "k"), "j");
    cJSON_Delete(out);

    cJSON *smp = cJSON_Parse("{\"data\":{\"k3\":\"s\"}}");
    assert_rc(
        k8s_patch(f->c, &CONFIGMAPS, "verbs", "pat", K8S_PATCH_STRATEGIC, smp, NULL, &out, &err),
        0);
    assert_string_equal(data_value(out, "k3"), "s");
    assert_string_equal(data_value(out, "k"), "j");
    cJSON_Delete(out);

    cJSON_Delete(smp);
    cJSON_Delete(good);
    cJSON_Delete(bad);
    cJSON_Delete(merge);
    cJSON_Delete(obj);
}

static void delete_with_preconditions(void **state)
{
    struct fixture *f = *state;
    if (!f->sim)
        skip();
    struct k8s_error err;
    cJSON *obj = configmap("del", NULL, NULL, "k", "v"), *created = NULL, *out = NULL;
    ensure_namespace(f->c, "verbs");
    assert_rc(k8s_create(f->c, &CONFIGMAPS, "verbs", obj, NULL, &created, &err), 0);

    struct k8s_delete_opts wrong = {.precondition_uid = "00000000-0000-0000-0000-000000000000",
                                    .grace_period_seconds = -1};
    assert_rc(k8s_delete(f->c, &CONFIGMAPS, "verbs", "del", &wrong, NULL, &out, &err),
              K8S_ECONFLICT);
    assert_int_equal(err.http_status, 409);
    assert_null(out);
    assert_rc(k8s_get(f->c, &CONFIGMAPS, "verbs", "del", NULL, &out, &err), 0);
    cJSON_Delete(out);

    struct k8s_delete_opts right = {.precondition_uid = meta(created, "uid"),
                                    .precondition_resource_version =
                                        meta(created, "resourceVersion"),
                                    .propagation_policy = "Background",
                                    .grace_period_seconds = 0};
    assert_rc(k8s_delete(f->c, &CONFIGMAPS, "verbs", "del", &right, NULL, &out, &err), 0);
    cJSON_Delete(out);
    out = NULL;
    assert_rc(k8s_get(f->c, &CONFIGMAPS, "verbs", "del", NULL, &out, &err), K8S_ENOTFOUND);
    assert_rc(k8s_delete(f->c, &CONFIGMAPS, "verbs", "del", NULL, NULL, NULL, &err), K8S_ENOTFOUND);

    cJSON_Delete(created);
    cJSON_Delete(obj);
}

static void delete_collection_by_label(void **state)
{
    struct fixture *f = *state;
    if (!f->sim)
        skip();
    struct k8s_error err;
    ensure_namespace(f->c, "delcoll");
    create_cm(f->c, "delcoll", "a1", "gone");
    create_cm(f->c, "delcoll", "a2", "gone");
    create_cm(f->c, "delcoll", "a3", "gone");
    create_cm(f->c, "delcoll", "keep", "kept");

    struct k8s_opts sel = {.label_selector = "app=gone"};
    assert_rc(k8s_delete_collection(f->c, &CONFIGMAPS, "delcoll", NULL, &sel, &err), 0);
    cJSON *list = NULL;
    assert_rc(k8s_list(f->c, &CONFIGMAPS, "delcoll", NULL, &list, &err), 0);
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(list, "items");
    int keep = 0, gone = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, items)
    {
        if (strcmp(meta(it, "name"), "keep") == 0)
            keep++;
        else if (meta(it, "name")[0] == 'a')
            gone++;
    }
    assert_int_equal(keep, 1);
    assert_int_equal(gone, 0);
    cJSON_Delete(list);
}

static void status_subresource(void **state)
{
    struct fixture *f = *state;
    if (!f->sim)
        skip();
    struct k8s_error err;
    ensure_namespace(f->c, "verbs");
    cJSON *pod = cJSON_Parse("{\"apiVersion\":\"v1\",\"kind\":\"Pod\","
                             "\"metadata\":{\"name\":\"p1\"},"
                             "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"busybox\"}]}}");
    cJSON *out = NULL;
    assert_rc(k8s_create(f->c, &PODS, "verbs", pod, NULL, &out, &err), 0);
    cJSON_Delete(out);

    cJSON *st = cJSON_Parse("{\"status\":{\"phase\":\"Running\"}}");
    struct k8s_opts so = {.subresource = "status"};
    clear_requests(f);
    assert_rc(k8s_patch(f->c, &PODS, "verbs", "p1", K8S_PATCH_MERGE, st, &so, &out, &err), 0);
    cJSON_Delete(out);
    assert_rc(k8s_get(f->c, &PODS, "verbs", "p1", NULL, &out, &err), 0);
    const cJSON *phase =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(out, "status"), "phase");
    assert_true(cJSON_IsString(phase));
    assert_string_equal(phase->valuestring, "Running");
    cJSON_Delete(out);
    cJSON *seen = requests_for(f, "PATCH", "/api/v1/namespaces/verbs/pods/p1/status");
    assert_int_equal(cJSON_GetArraySize(seen), 1);
    assert_string_equal(rec_str(cJSON_GetArrayItem(seen, 0), "subresource"), "status");
    cJSON_Delete(seen);

    /* A subresource without a name is the caller's mistake, caught here. */
    cJSON *list = NULL;
    assert_rc(k8s_list(f->c, &PODS, "verbs", &so, &list, &err), K8S_EARG);
    assert_null(list);

    cJSON_Delete(st);
    cJSON_Delete(pod);
}

static void discovery_served_and_not_served(void **state)
{
    struct fixture *f = *state;
    if (!f->sim)
        skip();
    struct k8s_error err;
    int served = -1, namespaced = -1;
    assert_rc(k8s_discover_resource(f->c, "", "v1", "configmaps", &served, &namespaced, &err), 0);
    assert_int_equal(served, 1);
    assert_int_equal(namespaced, 1);
    assert_rc(k8s_discover_resource(f->c, "", "v1", "namespaces", &served, &namespaced, &err), 0);
    assert_int_equal(served, 1);
    assert_int_equal(namespaced, 0);
    assert_rc(k8s_discover_resource(f->c, "apps", "v1", "deployments", &served, &namespaced, &err),
              0);
    assert_int_equal(served, 1);
    assert_int_equal(namespaced, 1);
    /* A subresource name is not the resource. */
    assert_rc(k8s_discover_resource(f->c, "", "v1", "pods/status", &served, NULL, &err), 0);
    assert_rc(k8s_discover_resource(f->c, "", "v1", "nosuchthings", &served, &namespaced, &err), 0);
    assert_int_equal(served, 0);
    /* A group/version the server does not have: an answer, not an error. */
    served = -1;
    assert_rc(k8s_discover_resource(f->c, "quay.redhat.com.invalid", "v1", "widgets", &served,
                                    &namespaced, &err),
              0);
    assert_int_equal(served, 0);
}

static void not_found_and_unauthorized_keep_the_status(void **state)
{
    struct fixture *f = *state;
    if (!f->sim)
        skip();
    struct k8s_error err;
    cJSON *out = NULL;
    assert_rc(k8s_get(f->c, &CONFIGMAPS, "verbs", "no-such-cm", NULL, &out, &err), K8S_ENOTFOUND);
    assert_int_equal(err.http_status, 404);
    assert_non_null(strstr(err.message, "no-such-cm"));

    char path[600];
    snprintf(path, sizeof(path), "%s/bad-token.kubeconfig", kubesim_dir(f->sim));
    write_kubeconfig(path, kubesim_url(f->sim), kubesim_ca_file(f->sim),
                     "    token: not-a-valid-token\n");
    struct k8s_client *bad = client_for(path, 0, 1);
    assert_rc(k8s_get(bad, &NAMESPACES, NULL, "default", NULL, &out, &err), K8S_EUNAUTHORIZED);
    assert_int_equal(err.http_status, 401);
    struct k8s_client_stats st;
    k8s_client_get_stats(bad, &st);
    assert_int_equal(st.requests, 1);
    assert_int_equal(st.retries, 0);
    k8s_client_free(bad);
}

static void warning_headers_reach_the_caller(void **state)
{
    struct fixture *f = *state;
    if (!f->sim)
        skip();
    struct k8s_error err;
    struct k8s_response resp;
    ensure_namespace(f->c, "verbs");
    /* fieldValidation=Warn: the object is stored and the unknown field is
     * reported in a Warning header, which the client must not drop. */
    const char *body = "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\","
                       "\"metadata\":{\"name\":\"warned\"},\"bogusField\":1}";
    int rc = k8s_request(f->c, "POST", "/api/v1/namespaces/verbs/configmaps?fieldValidation=Warn",
                         "application/json", body, strlen(body), NULL, &resp, &err);
    if (rc)
        fprintf(stderr, "create with Warn: %s\n", err.message);
    assert_int_equal(rc, 0);
    assert_int_equal(resp.status, 201);
    assert_non_null(resp.warning);
    assert_non_null(strstr(resp.warning, "bogusField"));
    assert_non_null(resp.content_type);
    assert_non_null(strstr(resp.content_type, "application/json"));
    k8s_response_free(&resp);

    /* Strict refuses the same object, with the field named. */
    rc = k8s_request(f->c, "POST", "/api/v1/namespaces/verbs/configmaps?fieldValidation=Strict",
                     "application/json", body, strlen(body), NULL, &resp, &err);
    assert_int_equal(rc, K8S_EBADREQUEST);
    assert_non_null(strstr(err.message, "bogusField"));
    assert_int_equal(resp.status, 400);
    k8s_response_free(&resp);
}

/* ---- pagination ------------------------------------------------------- */

static void list_of_2500_with_limit_500_returns_all(void **state)
{
    struct fixture *f = *state;
    if (!f->sim)
        skip();
    struct k8s_error err;
    ensure_namespace(f->c, "bulk");
    char name[32];
    for (int i = 0; i < 2500; i++) {
        snprintf(name, sizeof(name), "cm-%04d", i);
        create_cm(f->c, "bulk", name, "bulk");
    }
    clear_requests(f);
    struct k8s_opts lo = {.limit = 500};
    cJSON *list = NULL;
    int rc = k8s_list(f->c, &CONFIGMAPS, "bulk", &lo, &list, &err);
    if (rc)
        fprintf(stderr, "list: %s\n", err.message);
    assert_int_equal(rc, 0);
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(list, "items");
    assert_int_equal(cJSON_GetArraySize(items), 2500);
    /* Every object exactly once. */
    static char seen[2500];
    memset(seen, 0, sizeof(seen));
    const cJSON *it;
    cJSON_ArrayForEach(it, items)
    {
        const char *n = meta(it, "name");
        assert_non_null(n);
        assert_true(strncmp(n, "cm-", 3) == 0);
        long idx = strtol(n + 3, NULL, 10);
        assert_true(idx >= 0 && idx < 2500);
        assert_int_equal(seen[idx], 0);
        seen[idx] = 1;
    }
    assert_non_null(meta(list, "resourceVersion"));
    assert_null(meta(list, "continue"));

    cJSON *reqs = requests_for(f, "GET", "/api/v1/namespaces/bulk/configmaps");
    assert_int_equal(cJSON_GetArraySize(reqs), 5);
    cJSON_ArrayForEach(it, reqs)
    {
        assert_string_equal(rec_str(it, "verb"), "list");
        assert_non_null(strstr(rec_str(it, "query"), "limit=500"));
        assert_int_equal(rec_code(it), 200);
    }
    cJSON_Delete(reqs);
    cJSON_Delete(list);

    /* single_page: one page and its continue token. */
    lo.single_page = 1;
    assert_rc(k8s_list(f->c, &CONFIGMAPS, "bulk", &lo, &list, &err), 0);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(list, "items")), 500);
    assert_non_null(meta(list, "continue"));
    cJSON_Delete(list);
}

static void expired_continue_token_mid_list_is_gone(void **state)
{
    (void)state;
    if (!simulator_in_tree())
        skip();
    struct kubesim *sim = NULL;
    struct kubesim_opts opts = {.extra_args = {"--continue-ttl", "1"}, .exit_after_seconds = 120};
    if (kubesim_start(&opts, &sim) != 0)
        fail_msg("kubesim does not start with --continue-ttl 1");
    struct fixture f = {.sim = sim, .c = client_for(kubesim_kubeconfig(sim), 0, 1)};
    struct k8s_error err;
    ensure_namespace(f.c, "pages");
    create_cm(f.c, "pages", "p1", NULL);
    create_cm(f.c, "pages", "p2", NULL);
    create_cm(f.c, "pages", "p3", NULL);
    /* Each page takes 2.1 s: the first page's token is stale (over 1 s old)
     * by the time the second page is asked for, as after a compaction. */
    set_faults(&f, "{\"rules\":[{\"method\":\"GET\","
                   "\"pathPrefix\":\"/api/v1/namespaces/pages/configmaps\",\"latencyMs\":2100}]}");
    clear_requests(&f);
    struct k8s_opts lo = {.limit = 1};
    cJSON *list = NULL;
    int rc = k8s_list(f.c, &CONFIGMAPS, "pages", &lo, &list, &err);
    fprintf(stderr, "expired continue: %s\n", err.message);
    assert_int_equal(rc, K8S_EGONE);
    assert_null(list);
    assert_int_equal(err.http_status, 410);
    /* The first page, then the refused second page, and no retry of a 410. */
    cJSON *seen = requests_for(&f, "GET", "/api/v1/namespaces/pages/configmaps");
    assert_int_equal(cJSON_GetArraySize(seen), 2);
    assert_int_equal(rec_code(cJSON_GetArrayItem(seen, 0)), 200);
    assert_int_equal(rec_code(cJSON_GetArrayItem(seen, 1)), 410);
    assert_non_null(strstr(rec_str(cJSON_GetArrayItem(seen, 1), "query"), "continue="));
    cJSON_Delete(seen);
    k8s_client_free(f.c);
    kubesim_stop(sim);
}

/* ---- retries ---------------------------------------------------------- */

static void too_many_requests_with_retry_after_is_waited_out(void **state)
{
    struct fixture *f = *state;
    if (!f->sim)
        skip();
    struct k8s_error err;
    ensure_namespace(f->c, "faults");
    create_cm(f->c, "faults", "target", NULL);
    set_faults(f, "{\"rules\":[{\"method\":\"GET\","
                  "\"pathPrefix\":\"/api/v1/namespaces/faults/configmaps/target\","
                  "\"status\":429,\"retryAfterSeconds\":1,\"times\":1}]}");
    clear_requests(f);
    struct k8s_client_stats before, after;
    k8s_client_get_stats(f->c, &before);
    double t0 = now_s();
    cJSON *out = NULL;
    int rc = k8s_get(f->c, &CONFIGMAPS, "faults", "target", NULL, &out, &err);
    double elapsed = now_s() - t0;
    if (rc)
        fprintf(stderr, "get: %s\n", err.message);
    assert_int_equal(rc, 0);
    assert_string_equal(meta(out, "name"), "target");
    cJSON_Delete(out);
    /* Retry-After: 1 is a floor the client must respect. */
    assert_true(elapsed >= 1.0);
    k8s_client_get_stats(f->c, &after);
    assert_int_equal(after.retries - before.retries, 1);
    cJSON *seen = requests_for(f, "GET", "/api/v1/namespaces/faults/configmaps/target");
    assert_int_equal(cJSON_GetArraySize(seen), 2);
    assert_int_equal(rec_code(cJSON_GetArrayItem(seen, 0)), 429);
    assert_int_equal(rec_code(cJSON_GetArrayItem(seen, 1)), 200);
    cJSON_Delete(seen);
}

static void too_many_requests_is_retried_on_any_verb(void **state)
{
    struct fixture *f = *state;
    if (!f->sim)
        skip();
    struct k8s_error err;
    ensure_namespace(f->c, "faults");
    /* 429 means the server did nothing: even a create is safe to repeat. */
    set_faults(f, "{\"rules\":[{\"method\":\"POST\","
                  "\"pathPrefix\":\"/api/v1/namespaces/faults/configmaps\","
                  "\"status\":429,\"retryAfterSeconds\":1,\"times\":1}]}");
    clear_requests(f);
    cJSON *obj = configmap("after-429", NULL, NULL, "k", "v"), *out = NULL;
    int rc = k8s_create(f->c, &CONFIGMAPS, "faults", obj, NULL, &out, &err);
    if (rc)
        fprintf(stderr, "create: %s\n", err.message);
    assert_int_equal(rc, 0);
    assert_string_equal(meta(out, "name"), "after-429");
    cJSON *seen = requests_for(f, "POST", "/api/v1/namespaces/faults/configmaps");
    assert_int_equal(cJSON_GetArraySize(seen), 2);
    assert_int_equal(rec_code(cJSON_GetArrayItem(seen, 0)), 429);
    assert_int_equal(rec_code(cJSON_GetArrayItem(seen, 1)), 201);
    cJSON_Delete(seen);
    cJSON_Delete(out);
    cJSON_Delete(obj);
}

static void server_error_retried_on_get_not_on_post(void **state)
{
    struct fixture *f = *state;
    if (!f->sim)
        skip();
    struct k8s_error err;
    ensure_namespace(f->c, "faults");
    create_cm(f->c, "faults", "flaky", NULL);
    set_faults(f, "{\"rules\":[{\"method\":\"GET\","
                  "\"pathPrefix\":\"/api/v1/namespaces/faults/configmaps/flaky\","
                  "\"status\":500,\"times\":2},"
                  "{\"method\":\"POST\",\"pathPrefix\":\"/api/v1/namespaces/faults/configmaps\","
                  "\"status\":500,\"times\":1}]}");
    clear_requests(f);
    cJSON *out = NULL;
    assert_rc(k8s_get(f->c, &CONFIGMAPS, "faults", "flaky", NULL, &out, &err), 0);
    cJSON_Delete(out);
    cJSON *seen = requests_for(f, "GET", "/api/v1/namespaces/faults/configmaps/flaky");
    assert_int_equal(cJSON_GetArraySize(seen), 3);
    assert_int_equal(rec_code(cJSON_GetArrayItem(seen, 0)), 500);
    assert_int_equal(rec_code(cJSON_GetArrayItem(seen, 1)), 500);
    assert_int_equal(rec_code(cJSON_GetArrayItem(seen, 2)), 200);
    cJSON_Delete(seen);

    /* A POST that got a 500 may have been applied: the caller decides. */
    cJSON *obj = configmap("posted", NULL, NULL, "k", "v");
    out = NULL;
    assert_rc(k8s_create(f->c, &CONFIGMAPS, "faults", obj, NULL, &out, &err), K8S_EINTERNAL);
    assert_int_equal(err.http_status, 500);
    assert_null(out);
    seen = requests_for(f, "POST", "/api/v1/namespaces/faults/configmaps");
    assert_int_equal(cJSON_GetArraySize(seen), 1);
    cJSON_Delete(seen);
    cJSON_Delete(obj);
}

static void refused_connection_is_retried_then_reported(void **state)
{
    (void)state;
    /* Nothing listens on port 1 of 127.0.0.1: the request never leaves, so
     * even a POST is retried, and the failure is a transport error. */
    struct k8s_config cfg = {
        .server = "https://127.0.0.1:1",
        .qps = 0,
        .connect_timeout_ms = 2000,
        .request_timeout_ms = 5000,
    };
    struct k8s_client *c = client_from_config(&cfg);
    struct k8s_error err;
    cJSON *obj = configmap("x", NULL, NULL, "k", "v"), *out = NULL;
    assert_rc(k8s_create(c, &CONFIGMAPS, "default", obj, NULL, &out, &err), K8S_ETRANSPORT);
    assert_int_equal(err.http_status, 0);
    assert_non_null(strstr(err.message, "127.0.0.1"));
    struct k8s_client_stats st;
    k8s_client_get_stats(c, &st);
    assert_int_equal(st.requests, 5);
    assert_int_equal(st.retries, 4);
    cJSON_Delete(obj);
    k8s_client_free(c);
}

static void rate_limit_spaces_requests(void **state)
{
    struct fixture *f = *state;
    if (!f->sim)
        skip();
    struct k8s_client *c = client_for(kubesim_kubeconfig(f->sim), 5, 1);
    struct k8s_error err;
    double t0 = now_s();
    for (int i = 0; i < 6; i++) {
        cJSON *out = NULL;
        assert_rc(k8s_get(c, &NAMESPACES, NULL, "default", NULL, &out, &err), 0);
        cJSON_Delete(out);
    }
    /* 6 tokens at 5/s with a burst of 1 cannot be had in under a second. */
    assert_true(now_s() - t0 >= 1.0);
    struct k8s_client_stats st;
    k8s_client_get_stats(c, &st);
    assert_int_equal(st.requests, 6);
    assert_true(st.throttled_ms > 0);
    k8s_client_free(c);
}

static void sequential_requests_reuse_one_connection(void **state)
{
    struct fixture *f = *state;
    if (!f->sim)
        skip();
    struct k8s_client *c = client_for(kubesim_kubeconfig(f->sim), 0, 1);
    struct k8s_error err;
    for (int i = 0; i < 20; i++) {
        cJSON *out = NULL;
        assert_rc(k8s_get(c, &NAMESPACES, NULL, "default", NULL, &out, &err), 0);
        cJSON_Delete(out);
    }
    /* A client that set up a handle per request would have opened 20. */
    struct k8s_client_stats st;
    k8s_client_get_stats(c, &st);
    assert_int_equal(st.requests, 20);
    assert_int_equal(st.connects, 1);
    k8s_client_free(c);
}

/* ---- concurrency ------------------------------------------------------ */

struct hammer {
    struct k8s_client *c;
    int failures;
};

static void *hammer_thread(void *arg)
{
    struct hammer *h = arg;
    for (int i = 0; i < 40; i++) {
        cJSON *out = NULL;
        struct k8s_error err;
        if (k8s_get(h->c, &NAMESPACES, NULL, "default", NULL, &out, &err) != 0)
            h->failures++;
        cJSON_Delete(out);
    }
    return NULL;
}

static void concurrent_callers_share_one_client(void **state)
{
    struct fixture *f = *state;
    if (!f->sim)
        skip();
    pthread_t th[4];
    struct hammer h[4];
    for (int i = 0; i < 4; i++) {
        h[i] = (struct hammer){.c = f->c};
        assert_int_equal(pthread_create(&th[i], NULL, hammer_thread, &h[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(h[i].failures, 0);
    }
}

/* ---- TLS -------------------------------------------------------------- */

static void foreign_ca_is_a_tls_error_naming_the_cause(void **state)
{
    struct fixture *f = *state;
    if (!f->sim)
        skip();
    char dir[600], cmd[2048], kc[700], crt[700];
    snprintf(dir, sizeof(dir), "%s/other-ca", kubesim_dir(f->sim));
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(crt, sizeof(crt), "%s/ca.crt", dir);
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
             "-keyout '%s/ca.key' -out '%s' -subj /CN=not-the-simulators-ca -days 1 "
             ">/dev/null 2>&1",
             dir, crt);
    assert_int_equal(system(cmd), 0);
    snprintf(kc, sizeof(kc), "%s/kubeconfig", dir);
    write_kubeconfig(kc, kubesim_url(f->sim), crt, "    token: unused-token\n");

    struct k8s_client *c = client_for(kc, 0, 1);
    struct k8s_error err;
    cJSON *out = NULL;
    int rc = k8s_get(c, &NAMESPACES, NULL, "default", NULL, &out, &err);
    fprintf(stderr, "foreign CA: %s\n", err.message);
    assert_int_equal(rc, K8S_ETLS);
    assert_null(out);
    assert_int_equal(err.http_status, 0);
    /* The cause as OpenSSL states it, not just "TLS failed". */
    assert_true(strstr(err.message, "unable to get local issuer certificate") ||
                strstr(err.message, "self-signed certificate in certificate chain") ||
                strstr(err.message, "self signed certificate in certificate chain"));
    k8s_client_free(c);

    /* No CA configured: the system store, which does not know the
     * simulator's CA. Verification is not silently off. */
    struct k8s_config *cfg = load_config(kubesim_kubeconfig(f->sim));
    free(cfg->ca_pem);
    cfg->ca_pem = NULL;
    cfg->ca_pem_len = 0;
    c = client_from_config(cfg);
    assert_rc(k8s_get(c, &NAMESPACES, NULL, "default", NULL, &out, &err), K8S_ETLS);
    k8s_client_free(c);

    /* Only an explicit insecure flag skips verification. */
    cfg->insecure_skip_tls_verify = 1;
    c = client_from_config(cfg);
    assert_rc(k8s_get(c, &NAMESPACES, NULL, "default", NULL, &out, &err), 0);
    cJSON_Delete(out);
    k8s_client_free(c);
    k8s_config_free(cfg);
}

static void tls_server_name_is_the_verified_name(void **state)
{
    struct fixture *f = *state;
    if (!f->sim)
        skip();
    struct k8s_config *cfg = load_config(kubesim_kubeconfig(f->sim));
    struct k8s_error err;
    cJSON *out = NULL;
    /* The serving certificate names 127.0.0.1 and localhost: a different
     * verification name must fail even though the address is right. */
    free(cfg->tls_server_name);
    cfg->tls_server_name = strdup("kubernetes.invalid");
    struct k8s_client *c = client_from_config(cfg);
    int rc = k8s_get(c, &NAMESPACES, NULL, "default", NULL, &out, &err);
    fprintf(stderr, "wrong tls-server-name: %s\n", err.message);
    assert_int_equal(rc, K8S_ETLS);
    assert_non_null(strstr(err.message, "kubernetes.invalid"));
    k8s_client_free(c);

    free(cfg->tls_server_name);
    cfg->tls_server_name = strdup("localhost");
    c = client_from_config(cfg);
    rc = k8s_get(c, &NAMESPACES, NULL, "default", NULL, &out, &err);
    if (rc)
        fprintf(stderr, "tls-server-name localhost: %s\n", err.message);
    assert_int_equal(rc, 0);
    cJSON_Delete(out);
    k8s_client_free(c);
    k8s_config_free(cfg);
}

/* ---- watch ------------------------------------------------------------ */

struct recorded {
    int n;
    enum k8s_watch_type types[16];
    char names[16][64];
    char rvs[16][32];
    int stop_after; /* stop once this many non-bookmark events arrived */
};

static int record_event(const struct k8s_watch_event *ev, void *user)
{
    struct recorded *r = user;
    if (ev->type == K8S_WATCH_BOOKMARK)
        return 0;
    if (r->n < 16) {
        r->types[r->n] = ev->type;
        const char *name = meta(ev->object, "name");
        snprintf(r->names[r->n], sizeof(r->names[0]), "%s", name ? name : "");
        snprintf(r->rvs[r->n], sizeof(r->rvs[0]), "%s",
                 ev->resource_version ? ev->resource_version : "");
    }
    r->n++;
    return r->stop_after && r->n >= r->stop_after;
}

static void watch_delivers_added_modified_deleted_in_order(void **state)
{
    struct fixture *f = *state;
    if (!f->sim)
        skip();
    struct k8s_error err;
    ensure_namespace(f->c, "watch");
    char *rv = list_rv(f->c, "watch");
    create_cm(f->c, "watch", "w1", NULL);
    cJSON *patch = cJSON_Parse("{\"data\":{\"k\":\"changed\"}}"), *out = NULL;
    assert_rc(k8s_patch(f->c, &CONFIGMAPS, "watch", "w1", K8S_PATCH_MERGE, patch, NULL, &out, &err),
              0);
    cJSON_Delete(out);
    assert_rc(k8s_delete(f->c, &CONFIGMAPS, "watch", "w1", NULL, NULL, NULL, &err), 0);

    struct recorded r = {.stop_after = 3};
    struct k8s_watch_opts wo = {
        .resource_version = rv, .allow_bookmarks = 1, .timeout_seconds = 30};
    int rc = k8s_watch(f->c, &CONFIGMAPS, "watch", &wo, record_event, &r, &err);
    assert_int_equal(rc, K8S_ESTOPPED);
    assert_int_equal(r.n, 3);
    assert_int_equal(r.types[0], K8S_WATCH_ADDED);
    assert_int_equal(r.types[1], K8S_WATCH_MODIFIED);
    assert_int_equal(r.types[2], K8S_WATCH_DELETED);
    for (int i = 0; i < 3; i++) {
        assert_string_equal(r.names[i], "w1");
        assert_true(r.rvs[i][0] != '\0');
    }
    assert_string_not_equal(r.rvs[0], r.rvs[1]);
    assert_string_not_equal(r.rvs[1], r.rvs[2]);
    free(rv);
    cJSON_Delete(patch);
}

static void watch_end_of_stream_is_a_disconnect(void **state)
{
    struct fixture *f = *state;
    if (!f->sim)
        skip();
    struct k8s_error err;
    ensure_namespace(f->c, "watch");
    struct recorded r = {0};
    struct k8s_watch_opts wo = {.timeout_seconds = 1};
    /* The server closes a quiet watch after timeoutSeconds: never success. */
    assert_rc(k8s_watch(f->c, &CONFIGMAPS, "watch", &wo, record_event, &r, &err),
              K8S_EDISCONNECTED);
    assert_int_equal(r.n, 0);
    /* A watch on a collection that does not exist is the server's 404. */
    static const struct k8s_resource nothing = {"nosuch.example.com", "v1", "things", 1};
    assert_rc(k8s_watch(f->c, &nothing, "watch", &wo, record_event, &r, &err), K8S_ENOTFOUND);
}

static void watch_cut_by_the_server_is_a_disconnect(void **state)
{
    struct fixture *f = *state;
    if (!f->sim)
        skip();
    struct k8s_error err;
    ensure_namespace(f->c, "watch");
    set_faults(f, "{\"rules\":[],\"watchCutSeconds\":1}");
    struct recorded r = {0};
    struct k8s_watch_opts wo = {.timeout_seconds = 60, .allow_bookmarks = 1};
    int rc = k8s_watch(f->c, &CONFIGMAPS, "watch", &wo, record_event, &r, &err);
    fprintf(stderr, "cut watch: %s\n", err.message);
    assert_int_equal(rc, K8S_EDISCONNECTED);
    set_faults(f, "{\"rules\":[],\"watchCutSeconds\":0}");
}

static void watch_from_expired_resource_version_is_gone(void **state)
{
    (void)state;
    if (!simulator_in_tree())
        skip();
    struct kubesim *sim = NULL;
    struct kubesim_opts opts = {.extra_args = {"--watch-history", "5"}, .exit_after_seconds = 120};
    if (kubesim_start(&opts, &sim) != 0)
        fail_msg("kubesim does not start with --watch-history 5");
    struct k8s_client *c = client_for(kubesim_kubeconfig(sim), 0, 1);
    struct k8s_error err;
    ensure_namespace(c, "hist");
    char *rv = list_rv(c, "hist");
    char name[32];
    for (int i = 0; i < 20; i++) {
        snprintf(name, sizeof(name), "h-%d", i);
        create_cm(c, "hist", name, NULL);
    }
    struct recorded r = {0};
    struct k8s_watch_opts wo = {.resource_version = rv, .timeout_seconds = 30};
    int rc = k8s_watch(c, &CONFIGMAPS, "hist", &wo, record_event, &r, &err);
    fprintf(stderr, "expired watch: %s (%s)\n", err.message, err.reason);
    assert_int_equal(rc, K8S_EGONE);
    assert_int_equal(err.http_status, 410);
    assert_int_equal(r.n, 0);
    free(rv);
    k8s_client_free(c);
    kubesim_stop(sim);
}

/* ---- token rotation during a live watch ------------------------------- */

struct live_watch {
    struct k8s_client *c;
    volatile int stop;
    volatile int events;
    int rc;
    struct k8s_error err;
};

static int count_event(const struct k8s_watch_event *ev, void *user)
{
    struct live_watch *w = user;
    if (ev->type != K8S_WATCH_BOOKMARK)
        __atomic_add_fetch(&w->events, 1, __ATOMIC_SEQ_CST);
    return 0;
}

static void *live_watch_thread(void *arg)
{
    struct live_watch *w = arg;
    struct k8s_watch_opts wo = {.stop = &w->stop, .timeout_seconds = 120};
    w->rc = k8s_watch(w->c, &CONFIGMAPS, "rotation", &wo, count_event, w, &w->err);
    return NULL;
}

static int wait_for_events(struct live_watch *w, int n, int max_ms)
{
    for (int i = 0; i < max_ms / 20; i++) {
        if (__atomic_load_n(&w->events, __ATOMIC_SEQ_CST) >= n)
            return 1;
        sleep_ms(20);
    }
    return 0;
}

static void replace_file(const char *path, const char *text)
{
    char tmp[700];
    snprintf(tmp, sizeof(tmp), "%s.new", path);
    write_file(tmp, text);
    assert_int_equal(rename(tmp, path), 0);
}

static void rotated_token_file_is_used_by_the_next_request(void **state)
{
    struct fixture *f = *state;
    if (!f->sim)
        skip();
    ensure_namespace(f->c, "rotation");
    assert_2xx(admin(f, "POST", "/__admin/tokens",
                     "{\"token\":\"rotation-token-alice\",\"user\":\"alice\","
                     "\"groups\":[\"system:masters\"]}",
                     NULL));
    assert_2xx(admin(f, "POST", "/__admin/tokens",
                     "{\"token\":\"rotation-token-bob\",\"user\":\"bob\","
                     "\"groups\":[\"system:masters\"]}",
                     NULL));
    char tokfile[600], kc[600], user[800];
    snprintf(tokfile, sizeof(tokfile), "%s/rotating-token", kubesim_dir(f->sim));
    snprintf(kc, sizeof(kc), "%s/rotating.kubeconfig", kubesim_dir(f->sim));
    write_file(tokfile, "rotation-token-alice\n");
    snprintf(user, sizeof(user), "    tokenFile: %s\n", tokfile);
    write_kubeconfig(kc, kubesim_url(f->sim), kubesim_ca_file(f->sim), user);

    struct live_watch w = {.c = client_for(kc, 0, 1)};
    pthread_t th;
    clear_requests(f);
    assert_int_equal(pthread_create(&th, NULL, live_watch_thread, &w), 0);
    /* The watch is live once it delivers an event made after it started. */
    int live = 0;
    for (int i = 0; i < 20 && !live; i++) {
        char name[32];
        snprintf(name, sizeof(name), "before-%d", i);
        create_cm(f->c, "rotation", name, NULL);
        live = wait_for_events(&w, 1, 1000);
    }
    assert_true(live);

    replace_file(tokfile, "rotation-token-bob\n");
    cJSON *out = NULL;
    struct k8s_error err;
    assert_rc(k8s_get(w.c, &NAMESPACES, NULL, "rotation", NULL, &out, &err), 0);
    cJSON_Delete(out);

    /* The watch survived the rotation and still delivers. */
    int before = __atomic_load_n(&w.events, __ATOMIC_SEQ_CST);
    create_cm(f->c, "rotation", "after", NULL);
    assert_true(wait_for_events(&w, before + 1, 20000));

    w.stop = 1;
    pthread_join(th, NULL);
    assert_int_equal(w.rc, K8S_ESTOPPED);

    cJSON *gets = requests_for(f, "GET", "/api/v1/namespaces/rotation");
    assert_int_equal(cJSON_GetArraySize(gets), 1);
    assert_string_equal(rec_str(cJSON_GetArrayItem(gets, 0), "user"), "bob");
    cJSON_Delete(gets);
    /* The watch itself went out with the old token (its record may be
     * written when the server sees the stream close: poll briefly). */
    int alice_watch = 0;
    for (int i = 0; i < 100 && !alice_watch; i++) {
        cJSON *watches = requests_for(f, "GET", "/api/v1/namespaces/rotation/configmaps");
        const cJSON *it;
        cJSON_ArrayForEach(it, watches)
        {
            if (strcmp(rec_str(it, "verb"), "watch") == 0 &&
                strcmp(rec_str(it, "user"), "alice") == 0)
                alice_watch++;
        }
        cJSON_Delete(watches);
        if (!alice_watch)
            sleep_ms(50);
    }
    assert_int_equal(alice_watch, 1);
    k8s_client_free(w.c);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(create_with_generate_name_get_and_list, test_setup),
        cmocka_unit_test_setup(update_with_stale_resource_version_conflicts, test_setup),
        cmocka_unit_test_setup(patch_merge_json_and_strategic, test_setup),
        cmocka_unit_test_setup(tested_patch_tells_conflict_from_refusal, test_setup),
        cmocka_unit_test_setup(write_gate_stops_writes_not_reads, test_setup),
        cmocka_unit_test_setup(delete_with_preconditions, test_setup),
        cmocka_unit_test_setup(delete_collection_by_label, test_setup),
        cmocka_unit_test_setup(status_subresource, test_setup),
        cmocka_unit_test_setup(discovery_served_and_not_served, test_setup),
        cmocka_unit_test_setup(not_found_and_unauthorized_keep_the_status, test_setup),
        cmocka_unit_test_setup(warning_headers_reach_the_caller, test_setup),
        cmocka_unit_test_setup(list_of_2500_with_limit_500_returns_all, test_setup),
        cmocka_unit_test_setup(too_many_requests_with_retry_after_is_waited_out, test_setup),
        cmocka_unit_test_setup(too_many_requests_is_retried_on_any_verb, test_setup),
        cmocka_unit_test_setup(server_error_retried_on_get_not_on_post, test_setup),
        cmocka_unit_test(expired_continue_token_mid_list_is_gone),
        cmocka_unit_test(refused_connection_is_retried_then_reported),
        cmocka_unit_test_setup(rate_limit_spaces_requests, test_setup),
        cmocka_unit_test_setup(sequential_requests_reuse_one_connection, test_setup),
        cmocka_unit_test_setup(concurrent_callers_share_one_client, test_setup),
        cmocka_unit_test_setup(foreign_ca_is_a_tls_error_naming_the_cause, test_setup),
        cmocka_unit_test_setup(tls_server_name_is_the_verified_name, test_setup),
        cmocka_unit_test_setup(watch_delivers_added_modified_deleted_in_order, test_setup),
        cmocka_unit_test_setup(watch_end_of_stream_is_a_disconnect, test_setup),
        cmocka_unit_test_setup(watch_cut_by_the_server_is_a_disconnect, test_setup),
        cmocka_unit_test(watch_from_expired_resource_version_is_gone),
        cmocka_unit_test_setup(rotated_token_file_is_used_by_the_next_request, test_setup),
    };
    /* K8S_TEST_FILTER=name_pattern runs a subset (cmocka's wildcards). */
    const char *filter = getenv("K8S_TEST_FILTER");
    if (filter && *filter)
        cmocka_set_test_filter(filter);
    int failed = cmocka_run_group_tests(tests, group_setup, group_teardown);
    curl_global_cleanup();
    return failed;
}
