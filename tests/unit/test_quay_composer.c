/*
 * Tests of the composer (quay/quay_composer.c) and its targets
 * (quay_target_quayregistry.c, quay_target_standalone.c) against the API
 * simulator with the real QuayRegistry CRD.
 *
 * Most cases switch the simulator's Quay Operator stand-in and Deployment
 * controller off and play their part precisely (`operator_reconcile`: the
 * rendered `<registry>-quay-config-secret-<n>` Secret, the quay-app
 * Deployment mounting it, status.observedGeneration; `rollout`: Deployment
 * status), so each assertion is about the composer alone:
 *   - switch to a rendered bundle, wait for the rollout, confirm; window off
 *     points back at the ORIGINAL Secret with the spec equal to before, the
 *     original's .data sha256 unchanged, and the rendered Secret deleted only
 *     after the confirmation;
 *   - ScaleDown overrides set and restored exactly (absent components stay
 *     absent; present ones come back verbatim); unmanaged components are left
 *     alone; what the Quay Operator would refuse is refused;
 *   - window on -> cutover of the base under it -> window off keeps the
 *     cut-over storage;
 *   - an external change is reported and not fought; the user's own change
 *     while nothing of ours is in effect is adopted;
 *   - kill safety: a step stopped after the intent, or after the patch,
 *     converges on the next with exactly one rendered Secret and no second
 *     patch;
 *   - StandaloneQuay: backup, in-place edit, restart annotation, ScaleDown
 *     with the replicas restored exactly, restore;
 *   - restore (QuayRegistry): spec and original back, refused when the
 *     original's data changed unless forced.
 * The last case runs with the stand-in and the Deployment controller on, when
 * they are built (it skips with a message while they are placeholders).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "k8s_buf.h"
#include "k8s_client.h"
#include "k8s_config.h"
#include "k8s_patch.h"
#include "kubesim_harness.h"
#include "quay_bundle.h"
#include "quay_composer.h"
#include "quay_yaml.h"
#include "test_json.h"

static const struct k8s_resource SECRETS = {"", "v1", "secrets", 1};
static const struct k8s_resource NAMESPACES = {"", "v1", "namespaces", 0};
static const struct k8s_resource DEPLOYMENTS = {"apps", "v1", "deployments", 1};
static const struct k8s_resource QRS = {"quay.redhat.com", "v1", "quayregistries", 1};

static const char ORIGINAL_CONFIG[] = "SERVER_HOSTNAME: quay.example.com\n"
                                      "FEATURE_USER_INITIALIZE: true\n"
                                      "DISTRIBUTED_STORAGE_CONFIG:\n"
                                      "  default:\n"
                                      "  - S3Storage\n"
                                      "  - host: s3.old.example.com\n"
                                      "    s3_bucket: quay-old\n"
                                      "    s3_access_key: AKIAOLD\n"
                                      "    s3_secret_key: old-secret\n"
                                      "    storage_path: /datastorage/registry\n"
                                      "DISTRIBUTED_STORAGE_DEFAULT_LOCATIONS: []\n"
                                      "DISTRIBUTED_STORAGE_PREFERENCE:\n"
                                      "- default\n";

static const char CUTOVER_CONFIG[] = "SERVER_HOSTNAME: quay.example.com\n"
                                     "FEATURE_USER_INITIALIZE: true\n"
                                     "DISTRIBUTED_STORAGE_CONFIG:\n"
                                     "  default:\n"
                                     "  - S3Storage\n"
                                     "  - host: s3.new.example.com\n"
                                     "    s3_bucket: quay-new\n"
                                     "    s3_access_key: AKIANEW\n"
                                     "    s3_secret_key: new-secret\n"
                                     "    storage_path: /datastorage/registry\n"
                                     "DISTRIBUTED_STORAGE_DEFAULT_LOCATIONS: []\n"
                                     "DISTRIBUTED_STORAGE_PREFERENCE:\n"
                                     "- default\n";

struct fixture {
    struct kubesim *sim;
    struct k8s_client *c;
    int cfg_counter; /* names of the fake operator's rendered Secrets */
};

static struct fixture *F;

/* ---- helpers --------------------------------------------------------------------- */

/* k8s_create with the created object dropped. */
static int create(const struct k8s_resource *r, const char *ns, const cJSON *o,
                  struct k8s_error *err)
{
    cJSON *out = NULL;
    int rc = k8s_create(F->c, r, ns, o, NULL, &out, err);
    cJSON_Delete(out);
    return rc;
}

static void make_ns(const char *ns)
{
    struct k8s_error err;
    cJSON *o = test_json(
        "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"%s\"}}", ns);
    assert_int_equal(create(&NAMESPACES, NULL, o, &err), 0);
    cJSON_Delete(o);
}

static struct quay_bundle *bundle_of(enum quay_bundle_flavor fl, const char *config_key,
                                     const char *config, const char *extra_key,
                                     const char *extra_val)
{
    struct k8s_error err;
    struct quay_bundle *b = quay_bundle_new(fl, config_key);
    assert_non_null(b);
    assert_int_equal(quay_bundle_put(b, b->config_key, config, strlen(config), &err), 0);
    if (extra_key)
        assert_int_equal(quay_bundle_put(b, extra_key, extra_val, strlen(extra_val), &err), 0);
    return b;
}

/* Creates Secret `name` holding `b`; returns its data sha256. */
static void create_bundle_secret(const char *ns, const char *name, const struct quay_bundle *b,
                                 char sha[65])
{
    struct k8s_error err;
    cJSON *data = NULL;
    assert_int_equal(quay_bundle_to_secret_data(b, &data, &err), 0);
    cJSON *o = test_json("{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"%s\","
                         "\"namespace\":\"%s\"},\"type\":\"Opaque\"}",
                         name, ns);
    cJSON_AddItemToObject(o, "data", data);
    assert_int_equal(create(&SECRETS, ns, o, &err), 0);
    cJSON_Delete(o);
    if (sha)
        quay_bundle_sha256_hex(b, sha);
}

static void secret_sha(const char *ns, const char *name, enum quay_bundle_flavor fl,
                       const char *key, char sha[65])
{
    struct k8s_error err;
    cJSON *o = NULL;
    struct quay_bundle *b = NULL;
    assert_int_equal(k8s_get(F->c, &SECRETS, ns, name, NULL, &o, &err), 0);
    assert_int_equal(
        quay_bundle_from_secret_data(cJSON_GetObjectItem(o, "data"), fl, key, &b, &err), 0);
    quay_bundle_sha256_hex(b, sha);
    quay_bundle_free(b);
    cJSON_Delete(o);
}

static struct quay_bundle *secret_bundle(const char *ns, const char *name)
{
    struct k8s_error err;
    cJSON *o = NULL;
    struct quay_bundle *b = NULL;
    assert_int_equal(k8s_get(F->c, &SECRETS, ns, name, NULL, &o, &err), 0);
    assert_int_equal(quay_bundle_from_secret_data(cJSON_GetObjectItem(o, "data"),
                                                  QUAY_BUNDLE_OPERATOR, NULL, &b, &err),
                     0);
    cJSON_Delete(o);
    return b;
}

static int secret_exists(const char *ns, const char *name)
{
    struct k8s_error err;
    cJSON *o = NULL;
    int rc = k8s_get(F->c, &SECRETS, ns, name, NULL, &o, &err);
    cJSON_Delete(o);
    assert_true(rc == 0 || rc == K8S_ENOTFOUND);
    return rc == 0;
}

/* Our Secrets of one role in a namespace. */
static int count_role(const char *ns, const char *role)
{
    struct k8s_error err;
    cJSON *list = NULL, *it;
    int n = 0;
    struct k8s_opts o = {.label_selector = QUAY_LABEL_MANAGED_BY "=" QUAY_MANAGED_BY};
    assert_int_equal(k8s_list(F->c, &SECRETS, ns, &o, &list, &err), 0);
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(list, "items")) n += quay_secret_has_role(it, role);
    cJSON_Delete(list);
    return n;
}

static cJSON *get_obj(const struct k8s_resource *r, const char *ns, const char *name)
{
    struct k8s_error err;
    cJSON *o = NULL;
    assert_int_equal(k8s_get(F->c, r, ns, name, NULL, &o, &err), 0);
    return o;
}

static const cJSON *spec_of(const cJSON *o)
{
    return cJSON_GetObjectItem(o, "spec");
}

static double num(const cJSON *o, const char *a, const char *b)
{
    const cJSON *x = cJSON_GetObjectItem(o, a);
    if (b)
        x = cJSON_GetObjectItem(x, b);
    return cJSON_IsNumber(x) ? x->valuedouble : -1;
}

static void create_qr(const char *ns, const char *name, const char *bundle,
                      const char *components_json)
{
    struct k8s_error err;
    cJSON *o = test_json("{\"apiVersion\":\"quay.redhat.com/v1\",\"kind\":\"QuayRegistry\","
                         "\"metadata\":{\"name\":\"%s\",\"namespace\":\"%s\"},"
                         "\"spec\":{\"configBundleSecret\":\"%s\"}}",
                         name, ns, bundle);
    if (components_json)
        cJSON_AddItemToObject(cJSON_GetObjectItem(o, "spec"), "components",
                              cJSON_Parse(components_json));
    assert_int_equal(create(&QRS, ns, o, &err), 0);
    cJSON_Delete(o);
}

static void merge_patch(const struct k8s_resource *r, const char *ns, const char *name,
                        const char *sub, cJSON *patch, cJSON **out)
{
    struct k8s_error err;
    struct k8s_opts o = {.subresource = sub};
    cJSON *res = NULL;
    int rc = k8s_patch(F->c, r, ns, name, K8S_PATCH_MERGE, patch, &o, &res, &err);
    if (rc)
        fail_msg("patch %s/%s: %s", ns, name, err.message);
    cJSON_Delete(patch);
    if (out)
        *out = res;
    else
        cJSON_Delete(res);
}

/* Deployment status as the Deployment controller writes it once a rollout
 * of `replicas` completed. */
static void rollout(const char *ns, const char *name)
{
    cJSON *d = get_obj(&DEPLOYMENTS, ns, name);
    double gen = num(d, "metadata", "generation");
    double r = num(d, "spec", "replicas");
    if (r < 0)
        r = 1;
    cJSON_Delete(d);
    merge_patch(
        &DEPLOYMENTS, ns, name, "status",
        test_json("{\"status\":{\"observedGeneration\":%.0f,\"replicas\":%.0f,"
                  "\"updatedReplicas\":%.0f,\"readyReplicas\":%.0f,\"availableReplicas\":%.0f,"
                  "\"conditions\":[{\"type\":\"Available\",\"status\":\"True\"},{\"type\":"
                  "\"Progressing\",\"status\":\"True\",\"reason\":\"NewReplicaSetAvailable\"}]}}",
                  gen, r, r, r, r),
        NULL);
}

static void ensure_deployment(const char *ns, const char *name, double replicas,
                              const char *config_secret)
{
    struct k8s_error err;
    char vol[512] = "";
    if (config_secret)
        snprintf(vol, sizeof(vol),
                 ",\"volumes\":[{\"name\":\"configvolume\",\"secret\":{\"secretName\":\"%s\"}}]",
                 config_secret);
    cJSON *o = NULL;
    int rc = k8s_get(F->c, &DEPLOYMENTS, ns, name, NULL, &o, &err);
    cJSON_Delete(o);
    if (rc == K8S_ENOTFOUND) {
        o = test_json(
            "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":"
            "\"%s\",\"namespace\":\"%s\"},\"spec\":{\"replicas\":%.0f,\"selector\":{"
            "\"matchLabels\":{\"app\":\"%s\"}},\"template\":{\"metadata\":{\"labels\":{"
            "\"app\":\"%s\"}},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"quay\"}]"
            "%s}}}}",
            name, ns, replicas, name, name, vol);
        assert_int_equal(create(&DEPLOYMENTS, ns, o, &err), 0);
        cJSON_Delete(o);
    } else {
        assert_int_equal(rc, 0);
        merge_patch(
            &DEPLOYMENTS, ns, name, NULL,
            test_json("{\"spec\":{\"replicas\":%.0f,\"template\":{\"spec\":{\"containers\":[{"
                      "\"name\":\"c\",\"image\":\"quay\"}]%s}}}}",
                      replicas, vol),
            NULL);
    }
}

static double override_replicas(const cJSON *components, const char *kind, double def)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, components)
    {
        const char *k = cJSON_GetStringValue(cJSON_GetObjectItem(c, "kind"));
        if (k && strcmp(k, kind) == 0) {
            const cJSON *r = cJSON_GetObjectItem(cJSON_GetObjectItem(c, "overrides"), "replicas");
            if (cJSON_IsNumber(r))
                return r->valuedouble;
        }
    }
    return def;
}

/* Sorts every mapping's pairs by key, as Go's YAML marshaller writes them. */
static void sort_maps(struct quay_yaml_node *n)
{
    if (!n || n->kind == QUAY_YAML_SCALAR)
        return;
    for (size_t i = 0; i < n->nitems; i++)
        sort_maps(n->items[i]);
    if (n->kind != QUAY_YAML_MAP)
        return;
    for (size_t i = 2; i + 1 < n->nitems; i += 2) {
        for (size_t j = i; j >= 2 && strcmp(n->items[j - 2]->value, n->items[j]->value) > 0;
             j -= 2) {
            struct quay_yaml_node *k = n->items[j], *v = n->items[j + 1];
            n->items[j] = n->items[j - 2];
            n->items[j + 1] = n->items[j - 1];
            n->items[j - 2] = k;
            n->items[j - 1] = v;
        }
    }
}

/* The operator's rendering of a bundle: config.yaml re-marshalled with its
 * keys sorted (as Go does), ssl and CA files routed elsewhere, the rest as
 * is. */
static cJSON *operator_render(const cJSON *bundle_data)
{
    struct k8s_error err;
    struct quay_bundle *b = NULL;
    struct quay_yaml_doc *doc = NULL;
    struct k8s_buf out;
    cJSON *data = NULL;
    size_t len;
    assert_int_equal(
        quay_bundle_from_secret_data(bundle_data, QUAY_BUNDLE_OPERATOR, NULL, &b, &err), 0);
    const unsigned char *cfg = quay_bundle_get(b, "config.yaml", &len);
    assert_non_null(cfg);
    assert_int_equal(quay_yaml_parse((const char *)cfg, len, "config.yaml", &doc, &err), 0);
    sort_maps(doc->root);
    k8s_buf_init(&out, 1u << 20);
    assert_int_equal(quay_yaml_emit(doc, &out, &err), 0);
    assert_int_equal(quay_bundle_put(b, "config.yaml", out.data, out.len, &err), 0);
    k8s_buf_free(&out);
    quay_yaml_doc_free(doc);
    quay_bundle_remove(b, "ssl.cert");
    quay_bundle_remove(b, "ssl.key");
    assert_int_equal(quay_bundle_to_secret_data(b, &data, &err), 0);
    quay_bundle_free(b);
    return data;
}

/*
 * Plays the Quay Operator for one reconcile: renders the referenced bundle
 * into `<name>-quay-config-secret-<n>` (operator_render), points `<name>-quay-app` (and mirror,
 * clair when `extra`) at it with the replicas overrides, completes their rollouts and writes
 * status.observedGeneration.
 */
static void operator_reconcile(const char *ns, const char *name, int extra)
{
    struct k8s_error err;
    char cfg[128];
    cJSON *qr = get_obj(&QRS, ns, name);
    const char *bundle =
        cJSON_GetStringValue(cJSON_GetObjectItem(spec_of(qr), "configBundleSecret"));
    const cJSON *comps = cJSON_GetObjectItem(spec_of(qr), "components");
    cJSON *src = get_obj(&SECRETS, ns, bundle);
    snprintf(cfg, sizeof(cfg), "%s-quay-config-secret-%d", name, ++F->cfg_counter);
    cJSON *o = test_json("{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"%s\","
                         "\"namespace\":\"%s\"}}",
                         cfg, ns);
    cJSON_AddItemToObject(o, "data", operator_render(cJSON_GetObjectItem(src, "data")));
    assert_int_equal(create(&SECRETS, ns, o, &err), 0);
    cJSON_Delete(o);
    cJSON_Delete(src);
    char dep[128];
    snprintf(dep, sizeof(dep), "%s-quay-app", name);
    ensure_deployment(ns, dep, override_replicas(comps, "quay", 2), cfg);
    rollout(ns, dep);
    if (extra) {
        snprintf(dep, sizeof(dep), "%s-quay-mirror", name);
        ensure_deployment(ns, dep, override_replicas(comps, "mirror", 2), cfg);
        rollout(ns, dep);
        snprintf(dep, sizeof(dep), "%s-clair-app", name);
        ensure_deployment(ns, dep, override_replicas(comps, "clair", 2), NULL);
        rollout(ns, dep);
    }
    double gen = num(qr, "metadata", "generation");
    cJSON_Delete(qr);
    merge_patch(&QRS, ns, name, "status",
                test_json("{\"status\":{\"observedGeneration\":%.0f}}", gen), NULL);
}

static void step_expect(const struct quay_target_ref *t, enum quay_phase want,
                        struct quay_step_result *res)
{
    struct k8s_error err;
    int rc = quay_composer_step(F->c, t, NULL, res, &err);
    if (rc)
        fail_msg("step: %s (%s)", err.message, k8s_err_name(rc));
    if (res->phase != want)
        fail_msg("step: phase %s (%s: %s), want %s", quay_phase_name(res->phase), res->reason,
                 res->message, quay_phase_name(want));
}

static struct quay_target_ref qr_ref(const char *ns, const char *name)
{
    struct quay_target_ref t;
    struct k8s_error err;
    assert_int_equal(quay_target_ref_init(&t, QUAY_TARGET_QUAYREGISTRY, ns, name, &err), 0);
    return t;
}

static void set_overlay(const struct quay_target_ref *t, struct quay_overlay *o)
{
    struct k8s_error err;
    assert_non_null(o);
    int rc = quay_composer_set_overlay(F->c, t, o, &err);
    if (rc)
        fail_msg("set_overlay: %s", err.message);
    quay_overlay_free(o);
}

static void remove_overlay(const struct quay_target_ref *t, const char *window)
{
    struct k8s_error err;
    int removed = 0;
    assert_int_equal(quay_composer_remove_overlay(F->c, t, window, &removed, &err), 0);
    assert_true(removed);
}

/* The value of a config key in a bundle ("" when absent), as YAML text. */
static int has_true(const struct quay_bundle *b, const char *key)
{
    struct k8s_error err;
    int v = 0, present = 0;
    assert_int_equal(quay_bundle_get_bool(b, key, &v, &present, &err), 0);
    return present && v;
}

static void storage_host(const struct quay_bundle *b, char *out, size_t cap)
{
    struct k8s_error err;
    struct quay_location *loc = NULL;
    assert_int_equal(quay_bundle_get_location(b, "default", &loc, &err), 0);
    struct quay_yaml_node *h = quay_yaml_map_get(loc->params, "host");
    assert_non_null(h);
    snprintf(out, cap, "%s", h->value);
    quay_location_free(loc);
}

/* A CR's spec.target that cannot be resolved: K8S_EINVALID naming the field,
 * as quay_target.h promises (the window's condition shows the message). */
static void test_target_ref_errors_name_the_field(void **state)
{
    (void)state;
    struct k8s_error err;
    struct quay_target_ref t;
    cJSON *j = test_json("{\"type\":\"QuayRegistry\",\"quayRegistry\":{}}");
    assert_int_equal(quay_target_ref_from_json("ns", j, &t, &err), K8S_EINVALID);
    assert_non_null(strstr(err.message, "spec.target.quayRegistry.name"));
    cJSON_Delete(j);
    j = test_json("{\"type\":\"StandaloneQuay\",\"standaloneQuay\":{\"configSecretRef\":{\"name\":"
                  "\"Bad_Name\"},\"deployments\":[\"quay-app\"]}}");
    assert_int_equal(quay_target_ref_from_json("ns", j, &t, &err), K8S_EINVALID);
    assert_non_null(strstr(err.message, "spec.target.standaloneQuay.configSecretRef.name"));
    cJSON_Delete(j);
    j = test_json("{\"type\":\"QuayRegistry\",\"quayRegistry\":{\"name\":\"reg\"}}");
    assert_int_equal(quay_target_ref_from_json("ns", j, &t, &err), 0);
    assert_string_equal(t.name, "reg");
    cJSON_Delete(j);
}

/* ---- QuayRegistry ------------------------------------------------------------------ */

/* Overlay on -> rendered Secret, confirmed only after the operator rolled
 * it out; overlay off -> the original again, spec as before, rendered
 * Secret removed after that confirmation. */
static void test_switch_confirm_and_back(void **state)
{
    (void)state;
    struct k8s_error err;
    struct quay_step_result res;
    char osha[65], now[65];
    const char *ns = "switch";
    make_ns(ns);
    struct quay_bundle *b = bundle_of(QUAY_BUNDLE_OPERATOR, NULL, ORIGINAL_CONFIG, NULL, NULL);
    create_bundle_secret(ns, "reg-config-bundle", b, osha);
    quay_bundle_free(b);
    create_qr(ns, "reg", "reg-config-bundle", NULL);
    operator_reconcile(ns, "reg", 0);
    cJSON *before = get_obj(&QRS, ns, "reg");
    struct quay_target_ref t = qr_ref(ns, "reg");

    /* Nothing to do yet: confirmed as is, no rendered Secret. */
    step_expect(&t, QUAY_PHASE_CONFIRMED, &res);
    assert_string_equal(res.applied_name, "reg-config-bundle");
    assert_int_equal(count_role(ns, QUAY_ROLE_RENDERED), 0);

    set_overlay(&t, quay_overlay_disable_pushes_new("win-1", 1000, &err));
    step_expect(&t, QUAY_PHASE_APPLIED, &res);
    assert_int_equal(res.effective_mode, QUAY_MODE_DISABLE_PUSHES);
    assert_string_equal(res.mode_window, "win-1");
    char rendered[QUAY_NAME_MAX + 1];
    snprintf(rendered, sizeof(rendered), "%s", res.applied_name);
    assert_int_equal(strncmp(rendered, "reg-qso-", 8), 0);

    cJSON *qr = get_obj(&QRS, ns, "reg");
    assert_string_equal(
        cJSON_GetStringValue(cJSON_GetObjectItem(spec_of(qr), "configBundleSecret")), rendered);
    assert_false(cJSON_HasObjectItem(spec_of(qr), "components"));
    cJSON_Delete(qr);
    cJSON *rs = get_obj(&SECRETS, ns, rendered);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(rs, "immutable")));
    assert_true(quay_secret_has_role(rs, QUAY_ROLE_RENDERED));
    cJSON_Delete(rs);
    struct quay_bundle *rb = secret_bundle(ns, rendered);
    assert_true(has_true(rb, QUAY_KEY_DISABLE_PUSHES));
    quay_bundle_free(rb);

    /* Not confirmed while the Quay Operator has not rolled it out. */
    step_expect(&t, QUAY_PHASE_PROGRESSING, &res);
    assert_non_null(strstr(res.message, "observe generation"));
    /* The operator observed the generation but quay-app still mounts the
     * old render: still not confirmed (Available would prove nothing). */
    cJSON *q = get_obj(&QRS, ns, "reg");
    merge_patch(&QRS, ns, "reg", "status",
                test_json("{\"status\":{\"observedGeneration\":%.0f,\"conditions\":[{\"type\":"
                          "\"Available\",\"status\":\"True\"}]}}",
                          num(q, "metadata", "generation")),
                NULL);
    cJSON_Delete(q);
    step_expect(&t, QUAY_PHASE_PROGRESSING, &res);
    assert_non_null(strstr(res.message, "DISABLE_PUSHES differs"));
    operator_reconcile(ns, "reg", 0);
    /* ... nor while its rollout runs. */
    merge_patch(&DEPLOYMENTS, ns, "reg-quay-app", "status",
                test_json("{\"status\":{\"updatedReplicas\":1}}"), NULL);
    step_expect(&t, QUAY_PHASE_PROGRESSING, &res);
    assert_non_null(strstr(res.message, "rollout"));
    rollout(ns, "reg-quay-app");
    step_expect(&t, QUAY_PHASE_CONFIRMED, &res);
    /* Idempotent: nothing more happens. */
    step_expect(&t, QUAY_PHASE_CONFIRMED, &res);
    assert_int_equal(count_role(ns, QUAY_ROLE_RENDERED), 1);

    /* Window off: back to the original Secret; the rendered one stays until
     * the rollout of the original is confirmed. */
    remove_overlay(&t, "win-1");
    step_expect(&t, QUAY_PHASE_APPLIED, &res);
    assert_string_equal(res.applied_name, "reg-config-bundle");
    assert_int_equal(res.effective_mode, QUAY_MODE_NONE);
    assert_true(secret_exists(ns, rendered));
    step_expect(&t, QUAY_PHASE_PROGRESSING, &res);
    operator_reconcile(ns, "reg", 0);
    step_expect(&t, QUAY_PHASE_CONFIRMED, &res);
    assert_int_equal(res.cleaned, 1);
    assert_false(secret_exists(ns, rendered));

    cJSON *after = get_obj(&QRS, ns, "reg");
    assert_true(k8s_json_equal(spec_of(before), spec_of(after)));
    secret_sha(ns, "reg-config-bundle", QUAY_BUNDLE_OPERATOR, NULL, now);
    assert_string_equal(now, osha);
    cJSON_Delete(before);
    cJSON_Delete(after);
}

/*
 * A Secret of the rendered name with the right data but owned by another
 * object (e.g. the rendered Secret of a deleted QuayRegistry of the same
 * name, which the garbage collector is about to remove) is never taken as
 * ours: pointing the registry at it would leave it referencing a deleted
 * Secret a moment later.
 */
static void test_rendered_secret_of_another_owner_is_not_reused(void **state)
{
    (void)state;
    struct k8s_error err;
    struct quay_step_result res;
    struct quay_render render;
    char rendered[QUAY_NAME_MAX + 1];
    const char *ns = "squat";
    make_ns(ns);
    struct quay_bundle *b = bundle_of(QUAY_BUNDLE_OPERATOR, NULL, ORIGINAL_CONFIG, NULL, NULL);
    create_bundle_secret(ns, "bundle", b, NULL);
    create_qr(ns, "reg", "bundle", NULL);
    operator_reconcile(ns, "reg", 0);
    struct quay_target_ref t = qr_ref(ns, "reg");

    struct quay_overlay *o = quay_overlay_disable_pushes_new("w", 1, &err);
    const struct quay_overlay *ov[] = {o};
    memset(&render, 0, sizeof(render));
    assert_int_equal(quay_compose(b, ov, 1, &render, &err), 0);
    assert_int_equal(
        quay_bundle_rendered_name(render.bundle, "reg", rendered, sizeof(rendered), &err), 0);
    cJSON *other = get_obj(&SECRETS, ns, "bundle");
    struct quay_owner owner = {
        "v1", "Secret", "bundle",
        cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(other, "metadata"), "uid"))};
    cJSON *data = NULL;
    assert_int_equal(quay_bundle_to_secret_data(render.bundle, &data, &err), 0);
    cJSON *squat = quay_secret_object_new(ns, rendered, QUAY_ROLE_RENDERED, &owner, data, NULL, 1);
    assert_int_equal(create(&SECRETS, ns, squat, &err), 0);
    cJSON_Delete(squat);
    cJSON_Delete(data);
    cJSON_Delete(other);
    quay_render_clear(&render);
    quay_bundle_free(b);

    set_overlay(&t, o);
    assert_int_equal(quay_composer_step(F->c, &t, NULL, &res, &err), K8S_ECONFLICT);
    assert_non_null(strstr(err.message, rendered));
    cJSON *qr = get_obj(&QRS, ns, "reg");
    assert_string_equal(
        cJSON_GetStringValue(cJSON_GetObjectItem(spec_of(qr), "configBundleSecret")), "bundle");
    cJSON_Delete(qr);

    /* Once it is gone, ours is created and used. */
    struct k8s_delete_opts d = {.grace_period_seconds = -1};
    assert_int_equal(k8s_delete(F->c, &SECRETS, ns, rendered, &d, NULL, NULL, &err), 0);
    step_expect(&t, QUAY_PHASE_APPLIED, &res);
    assert_string_equal(res.applied_name, rendered);
    qr = get_obj(&QRS, ns, "reg");
    cJSON *rs = get_obj(&SECRETS, ns, rendered);
    assert_true(quay_object_owned_by(
        rs, cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(qr, "metadata"), "uid"))));
    cJSON_Delete(rs);
    cJSON_Delete(qr);
}

/* ScaleDown overrides, set and restored exactly, for absent and present
 * spec.components. */
static void scale_down_case(const char *ns, const char *components_json)
{
    struct k8s_error err;
    struct quay_step_result res;
    make_ns(ns);
    struct quay_bundle *b = bundle_of(QUAY_BUNDLE_OPERATOR, NULL, ORIGINAL_CONFIG, NULL, NULL);
    create_bundle_secret(ns, "bundle", b, NULL);
    quay_bundle_free(b);
    create_qr(ns, "reg", "bundle", components_json);
    operator_reconcile(ns, "reg", 1);
    cJSON *before = get_obj(&QRS, ns, "reg");
    struct quay_target_ref t = qr_ref(ns, "reg");

    set_overlay(&t, quay_overlay_scale_down_new("backup", 10, QUAY_COMPONENTS_DEFAULT, &err));
    step_expect(&t, QUAY_PHASE_APPLIED, &res);
    assert_int_equal(res.effective_mode, QUAY_MODE_SCALE_DOWN);
    /* No config edit: the original Secret stays referenced. */
    assert_string_equal(res.applied_name, "bundle");
    assert_int_equal(count_role(ns, QUAY_ROLE_RENDERED), 0);
    cJSON *qr = get_obj(&QRS, ns, "reg");
    const cJSON *comps = cJSON_GetObjectItem(spec_of(qr), "components");
    assert_true(cJSON_IsArray(comps));
    const cJSON *c;
    int hpa = 0;
    cJSON_ArrayForEach(c, comps)
    {
        const char *k = cJSON_GetStringValue(cJSON_GetObjectItem(c, "kind"));
        if (strcmp(k, "horizontalpodautoscaler") == 0) {
            hpa = 1;
            assert_true(cJSON_IsFalse(cJSON_GetObjectItem(c, "managed")));
        }
    }
    assert_true(hpa);
    assert_int_equal(override_replicas(comps, "quay", -1), 0);
    assert_int_equal(override_replicas(comps, "mirror", -1), 0);
    /* The Quay Operator appends the kinds missing from the list (managed,
     * or not when the cluster lacks their API): its own change, not
     * someone else's. */
    cJSON *defaulted = cJSON_Duplicate(comps, 1);
    cJSON_AddItemToArray(defaulted, cJSON_Parse("{\"kind\":\"postgres\",\"managed\":true}"));
    cJSON_AddItemToArray(defaulted, cJSON_Parse("{\"kind\":\"route\",\"managed\":false}"));
    cJSON *p = cJSON_CreateObject();
    cJSON_AddItemToObject(cJSON_AddObjectToObject(p, "spec"), "components", defaulted);
    merge_patch(&QRS, ns, "reg", NULL, p, NULL);
    cJSON_Delete(qr);

    /* Confirmed only once the Deployments are at 0. */
    cJSON *q = get_obj(&QRS, ns, "reg");
    merge_patch(
        &QRS, ns, "reg", "status",
        test_json("{\"status\":{\"observedGeneration\":%.0f}}", num(q, "metadata", "generation")),
        NULL);
    cJSON_Delete(q);
    step_expect(&t, QUAY_PHASE_PROGRESSING, &res);
    operator_reconcile(ns, "reg", 1);
    step_expect(&t, QUAY_PHASE_CONFIRMED, &res);
    cJSON *d = get_obj(&DEPLOYMENTS, ns, "reg-quay-app");
    assert_int_equal(num(d, "spec", "replicas"), 0);
    cJSON_Delete(d);

    remove_overlay(&t, "backup");
    step_expect(&t, QUAY_PHASE_APPLIED, &res);
    cJSON *after = get_obj(&QRS, ns, "reg");
    /* Exactly as before: absent stays absent, present comes back verbatim. */
    assert_true(k8s_json_equal(spec_of(before), spec_of(after)));
    assert_int_equal(cJSON_HasObjectItem(spec_of(after), "components"), components_json != NULL);
    cJSON_Delete(after);
    operator_reconcile(ns, "reg", 1);
    step_expect(&t, QUAY_PHASE_CONFIRMED, &res);
    cJSON_Delete(before);
}

static void test_scale_down_components_absent(void **state)
{
    (void)state;
    scale_down_case("sd-absent", NULL);
}

static void test_scale_down_components_present(void **state)
{
    (void)state;
    scale_down_case("sd-present",
                    "[{\"kind\":\"horizontalpodautoscaler\",\"managed\":true},"
                    "{\"kind\":\"quay\",\"managed\":true,\"overrides\":{\"env\":[{\"name\":"
                    "\"DEBUGLOG\",\"value\":\"true\"}]}},"
                    "{\"kind\":\"clair\",\"managed\":false},"
                    "{\"kind\":\"mirror\",\"managed\":true},"
                    "{\"kind\":\"objectstorage\",\"managed\":false}]");
}

/* Unmanaged clair is left alone; env overrides stay; what the operator
 * would refuse is refused before the registry is touched. */
static void test_scale_down_details_and_refusal(void **state)
{
    (void)state;
    struct k8s_error err;
    struct quay_step_result res;
    const char *ns = "sd-detail";
    make_ns(ns);
    struct quay_bundle *b = bundle_of(QUAY_BUNDLE_OPERATOR, NULL, ORIGINAL_CONFIG, NULL, NULL);
    create_bundle_secret(ns, "bundle", b, NULL);
    create_bundle_secret(ns, "bundle2", b, NULL);
    quay_bundle_free(b);
    create_qr(ns, "reg", "bundle",
              "[{\"kind\":\"quay\",\"managed\":true,\"overrides\":{\"env\":[{\"name\":\"A\","
              "\"value\":\"1\"}]}},{\"kind\":\"clair\",\"managed\":false}]");
    struct quay_target_ref t = qr_ref(ns, "reg");
    set_overlay(&t, quay_overlay_scale_down_new("w", 10, QUAY_COMPONENTS_DEFAULT, &err));
    step_expect(&t, QUAY_PHASE_APPLIED, &res);
    cJSON *qr = get_obj(&QRS, ns, "reg");
    const cJSON *comps = cJSON_GetObjectItem(spec_of(qr), "components"), *c;
    cJSON_ArrayForEach(c, comps)
    {
        const char *k = cJSON_GetStringValue(cJSON_GetObjectItem(c, "kind"));
        if (strcmp(k, "clair") == 0)
            assert_false(cJSON_HasObjectItem(c, "overrides"));
        if (strcmp(k, "quay") == 0)
            assert_non_null(cJSON_GetObjectItem(cJSON_GetObjectItem(c, "overrides"), "env"));
    }
    cJSON_Delete(qr);

    /* Components outside the ScaleDown keep their own overrides (mirror's
     * replicas 3), which the Quay Operator accepts once the HPA is
     * unmanaged, as the ScaleDown makes it. */
    create_qr(ns, "other", "bundle2",
              "[{\"kind\":\"mirror\",\"managed\":true,\"overrides\":{\"replicas\":3}}]");
    struct quay_target_ref tb = qr_ref(ns, "other");
    set_overlay(&tb, quay_overlay_scale_down_new("w", 10, QUAY_COMPONENT_QUAY, &err));
    step_expect(&tb, QUAY_PHASE_APPLIED, &res);
    cJSON *o = get_obj(&QRS, ns, "other");
    const cJSON *oc = cJSON_GetObjectItem(spec_of(o), "components");
    assert_int_equal(override_replicas(oc, "mirror", -1), 3);
    assert_int_equal(override_replicas(oc, "quay", -1), 0);
    cJSON_Delete(o);
}

/* What the Quay Operator would block is refused before the registry is
 * touched (the CRD's CEL rule stops such specs on servers >= 1.25, so this
 * runs the target's desire() directly, as for an older server). */
static void test_scale_down_refuses_what_the_operator_blocks(void **state)
{
    (void)state;
    struct k8s_error err;
    struct quay_state *s = quay_state_new(QUAY_TARGET_QUAYREGISTRY, "ns", "reg", "u");
    struct quay_bundle *b = bundle_of(QUAY_BUNDLE_OPERATOR, NULL, ORIGINAL_CONFIG, NULL, NULL);
    struct quay_overlay *o = quay_overlay_scale_down_new("w", 1, QUAY_COMPONENTS_DEFAULT, &err);
    const struct quay_overlay *ov[] = {o};
    struct quay_render r;
    struct quay_state_config d;
    struct quay_confirm refusal;
    struct quay_target_view v;
    struct quay_target_ref t = qr_ref("ns", "reg");
    memset(&d, 0, sizeof(d));
    memset(&refusal, 0, sizeof(refusal));
    memset(&v, 0, sizeof(v));
    s->original.present = 1;
    snprintf(s->original.name, sizeof(s->original.name), "bundle");
    quay_bundle_sha256_hex(b, s->original.sha);
    s->original.components =
        cJSON_Parse("[{\"kind\":\"route\",\"managed\":false,\"overrides\":{\"labels\":{}}}]");
    assert_int_equal(quay_compose(b, ov, 1, &r, &err), 0);
    assert_int_equal(quay_target_quayregistry_ops.desire(&t, s, &v, &r, b, b, &d, &refusal, &err),
                     0);
    assert_int_equal(refusal.status, QUAY_CONFIRM_BLOCKED);
    assert_string_equal(refusal.reason, "ComponentOverrideInvalid");
    assert_non_null(strstr(refusal.message, "route"));
    quay_state_config_clear(&d);
    quay_render_clear(&r);
    quay_overlay_free(o);
    quay_bundle_free(b);
    quay_state_free(s);
}

/* The target's own refusals come back with its reason and message. */
static void test_blocked_rollouts(void **state)
{
    (void)state;
    struct k8s_error err;
    struct quay_step_result res;
    const char *ns = "blocked";
    make_ns(ns);
    struct quay_bundle *b = bundle_of(QUAY_BUNDLE_OPERATOR, NULL, ORIGINAL_CONFIG, NULL, NULL);
    create_bundle_secret(ns, "bundle", b, NULL);
    quay_bundle_free(b);
    create_qr(ns, "reg", "bundle", NULL);
    operator_reconcile(ns, "reg", 0);
    struct quay_target_ref t = qr_ref(ns, "reg");
    set_overlay(&t, quay_overlay_disable_pushes_new("w", 1, &err));
    step_expect(&t, QUAY_PHASE_APPLIED, &res);

    /* A refusal the Quay Operator wrote before our change (it leaves it, and
     * observedGeneration, behind until it reconciles the new generation) is
     * not taken for a refusal of our change. */
    merge_patch(&QRS, ns, "reg", "status",
                test_json("{\"status\":{\"conditions\":[{\"type\":\"RolloutBlocked\",\"status\":"
                          "\"True\",\"reason\":\"ComponentOverrideInvalid\",\"message\":\"old\","
                          "\"lastUpdateTime\":\"2020-01-01T00:00:00Z\",\"lastTransitionTime\":"
                          "\"2020-01-01T00:00:00Z\"}]}}"),
                NULL);
    step_expect(&t, QUAY_PHASE_PROGRESSING, &res);
    assert_non_null(strstr(res.message, "predates"));

    /* RolloutBlocked, as the Quay Operator reports a refused bundle. */
    merge_patch(&QRS, ns, "reg", "status",
                test_json("{\"status\":{\"conditions\":[{\"type\":\"RolloutBlocked\",\"status\":"
                          "\"True\",\"reason\":\"ConfigInvalid\",\"message\":\"required component "
                          "postgres marked as unmanaged\"}]}}"),
                NULL);
    step_expect(&t, QUAY_PHASE_BLOCKED, &res);
    assert_string_equal(res.reason, "ConfigInvalid");
    assert_non_null(strstr(res.message, "required component postgres"));

    /* Unblocked and rendered, but the rollout exceeds its progress deadline. */
    merge_patch(&QRS, ns, "reg", "status", test_json("{\"status\":{\"conditions\":[]}}"), NULL);
    operator_reconcile(ns, "reg", 0);
    merge_patch(
        &DEPLOYMENTS, ns, "reg-quay-app", "status",
        test_json("{\"status\":{\"updatedReplicas\":1,\"availableReplicas\":1,\"conditions\":"
                  "[{\"type\":\"Progressing\",\"status\":\"False\",\"reason\":"
                  "\"ProgressDeadlineExceeded\",\"message\":\"ReplicaSet reg-quay-app-1 "
                  "has timed out progressing.\"}]}}"),
        NULL);
    step_expect(&t, QUAY_PHASE_BLOCKED, &res);
    assert_string_equal(res.reason, "ProgressDeadlineExceeded");
    assert_non_null(strstr(res.message, "timed out progressing"));
    rollout(ns, "reg-quay-app");
    step_expect(&t, QUAY_PHASE_CONFIRMED, &res);
}

/* Window on, a cutover of the base under it, window off: the cut-over
 * storage stays. */
static void test_cutover_under_window(void **state)
{
    (void)state;
    struct k8s_error err;
    struct quay_step_result res;
    char host[256];
    const char *ns = "cutover";
    make_ns(ns);
    struct quay_bundle *b = bundle_of(QUAY_BUNDLE_OPERATOR, NULL, ORIGINAL_CONFIG, NULL, NULL);
    create_bundle_secret(ns, "bundle", b, NULL);
    quay_bundle_free(b);
    create_qr(ns, "reg", "bundle", "[{\"kind\":\"objectstorage\",\"managed\":false}]");
    operator_reconcile(ns, "reg", 0);
    struct quay_target_ref t = qr_ref(ns, "reg");

    set_overlay(&t, quay_overlay_disable_pushes_new("mig-ro", 50, &err));
    step_expect(&t, QUAY_PHASE_APPLIED, &res);
    operator_reconcile(ns, "reg", 0);
    step_expect(&t, QUAY_PHASE_CONFIRMED, &res);

    struct quay_bundle *nb = bundle_of(QUAY_BUNDLE_OPERATOR, NULL, CUTOVER_CONFIG, NULL, NULL);
    assert_int_equal(quay_composer_set_base(F->c, &t, nb, &err), 0);
    step_expect(&t, QUAY_PHASE_APPLIED, &res);
    struct quay_bundle *r1 = secret_bundle(ns, res.applied_name);
    storage_host(r1, host, sizeof(host));
    assert_string_equal(host, "s3.new.example.com");
    assert_true(has_true(r1, QUAY_KEY_DISABLE_PUSHES));
    quay_bundle_free(r1);
    operator_reconcile(ns, "reg", 0);
    step_expect(&t, QUAY_PHASE_CONFIRMED, &res);

    remove_overlay(&t, "mig-ro");
    step_expect(&t, QUAY_PHASE_APPLIED, &res);
    /* Not the original: the cut-over base, without the window's edit. */
    assert_string_not_equal(res.applied_name, "bundle");
    struct quay_bundle *r2 = secret_bundle(ns, res.applied_name);
    storage_host(r2, host, sizeof(host));
    assert_string_equal(host, "s3.new.example.com");
    assert_false(has_true(r2, QUAY_KEY_DISABLE_PUSHES));
    char s2[65], snb[65];
    quay_bundle_sha256_hex(r2, s2);
    quay_bundle_sha256_hex(nb, snb);
    assert_string_equal(s2, snb);
    quay_bundle_free(r2);
    operator_reconcile(ns, "reg", 0);
    step_expect(&t, QUAY_PHASE_CONFIRMED, &res);
    /* One rendered Secret (the one in use), the base, nothing else. */
    assert_int_equal(count_role(ns, QUAY_ROLE_RENDERED), 1);
    assert_int_equal(count_role(ns, QUAY_ROLE_BASE), 1);

    /* Back to the original base: the original Secret is referenced again. */
    assert_int_equal(quay_composer_set_base(F->c, &t, NULL, &err), 0);
    step_expect(&t, QUAY_PHASE_APPLIED, &res);
    assert_string_equal(res.applied_name, "bundle");
    operator_reconcile(ns, "reg", 0);
    step_expect(&t, QUAY_PHASE_CONFIRMED, &res);
    assert_int_equal(count_role(ns, QUAY_ROLE_RENDERED), 0);
    assert_int_equal(count_role(ns, QUAY_ROLE_BASE), 0);
    quay_bundle_free(nb);
}

/* A managed objectstorage: windows work, a storage base is refused. */
static void test_managed_objectstorage(void **state)
{
    (void)state;
    struct k8s_error err;
    struct quay_step_result res;
    const char *ns = "managed-os";
    make_ns(ns);
    struct quay_bundle *b =
        bundle_of(QUAY_BUNDLE_OPERATOR, NULL, "SERVER_HOSTNAME: quay.example.com\n", NULL, NULL);
    create_bundle_secret(ns, "bundle", b, NULL);
    quay_bundle_free(b);
    create_qr(ns, "reg", "bundle", "[{\"kind\":\"objectstorage\",\"managed\":true}]");
    struct quay_target_ref t = qr_ref(ns, "reg");
    set_overlay(&t, quay_overlay_disable_pushes_new("w", 1, &err));
    step_expect(&t, QUAY_PHASE_APPLIED, &res);
    struct quay_bundle *nb = bundle_of(QUAY_BUNDLE_OPERATOR, NULL, CUTOVER_CONFIG, NULL, NULL);
    assert_int_equal(quay_composer_set_base(F->c, &t, nb, &err), K8S_EINVALID);
    assert_non_null(strstr(err.message, "objectstorage component"));
    quay_bundle_free(nb);

    /* The effective storage config, as the operator rendered it. */
    operator_reconcile(ns, "reg", 0);
    struct quay_bundle *eff = NULL;
    assert_int_equal(quay_target_effective_bundle(F->c, &t, &eff, &err), 0);
    assert_true(has_true(eff, QUAY_KEY_DISABLE_PUSHES));
    quay_bundle_free(eff);
}

/* Someone else changes the reference: reported, not fought. The user's own
 * change while nothing of ours is in effect is adopted. */
static void test_external_change(void **state)
{
    (void)state;
    struct k8s_error err;
    struct quay_step_result res;
    const char *ns = "external";
    make_ns(ns);
    struct quay_bundle *b = bundle_of(QUAY_BUNDLE_OPERATOR, NULL, ORIGINAL_CONFIG, NULL, NULL);
    create_bundle_secret(ns, "bundle", b, NULL);
    quay_bundle_free(b);
    b = bundle_of(QUAY_BUNDLE_OPERATOR, NULL, CUTOVER_CONFIG, NULL, NULL);
    create_bundle_secret(ns, "bundle-v2", b, NULL);
    quay_bundle_free(b);
    create_qr(ns, "reg", "bundle", NULL);
    operator_reconcile(ns, "reg", 0);
    struct quay_target_ref t = qr_ref(ns, "reg");

    /* Idle: the person's switch to bundle-v2 becomes the original. */
    step_expect(&t, QUAY_PHASE_CONFIRMED, &res);
    merge_patch(&QRS, ns, "reg", NULL,
                test_json("{\"spec\":{\"configBundleSecret\":\"bundle-v2\"}}"), NULL);
    step_expect(&t, QUAY_PHASE_PROGRESSING, &res);
    assert_true(res.adopted);
    assert_string_equal(res.original_name, "bundle-v2");
    operator_reconcile(ns, "reg", 0);
    step_expect(&t, QUAY_PHASE_CONFIRMED, &res);

    /* A window in effect, then a GitOps self-heal puts "bundle" back. */
    set_overlay(&t, quay_overlay_disable_pushes_new("w", 1, &err));
    step_expect(&t, QUAY_PHASE_APPLIED, &res);
    merge_patch(&QRS, ns, "reg", NULL, test_json("{\"spec\":{\"configBundleSecret\":\"bundle\"}}"),
                NULL);
    cJSON *qr = get_obj(&QRS, ns, "reg");
    double gen = num(qr, "metadata", "generation");
    cJSON_Delete(qr);
    step_expect(&t, QUAY_PHASE_CHANGED_EXTERNALLY, &res);
    assert_string_equal(res.reason, QUAY_REASON_CHANGED_EXTERNALLY);
    assert_non_null(strstr(res.message, "ignoreDifferences"));
    step_expect(&t, QUAY_PHASE_CHANGED_EXTERNALLY, &res);
    /* Not fought: the spec is as the other writer left it. */
    qr = get_obj(&QRS, ns, "reg");
    assert_string_equal(
        cJSON_GetStringValue(cJSON_GetObjectItem(spec_of(qr), "configBundleSecret")), "bundle");
    assert_int_equal(num(qr, "metadata", "generation"), gen);
    cJSON_Delete(qr);

    /* The person puts the original back and the window ends: that is exactly
     * what is wanted now, so it converges instead of staying "changed". */
    merge_patch(&QRS, ns, "reg", NULL,
                test_json("{\"spec\":{\"configBundleSecret\":\"bundle-v2\"}}"), NULL);
    step_expect(&t, QUAY_PHASE_CHANGED_EXTERNALLY, &res);
    remove_overlay(&t, "w");
    operator_reconcile(ns, "reg", 0);
    step_expect(&t, QUAY_PHASE_CONFIRMED, &res);
    assert_string_equal(res.applied_name, "bundle-v2");
}

/* A step killed after its intent, or after its patch, converges on the next
 * step: one rendered Secret, no second patch. */
static void test_kill_safety(void **state)
{
    (void)state;
    struct k8s_error err;
    struct quay_step_result res;
    struct quay_state *s = NULL;
    const char *ns = "kill";
    make_ns(ns);
    struct quay_bundle *b = bundle_of(QUAY_BUNDLE_OPERATOR, NULL, ORIGINAL_CONFIG, NULL, NULL);
    create_bundle_secret(ns, "bundle", b, NULL);
    quay_bundle_free(b);
    create_qr(ns, "reg", "bundle", NULL);
    operator_reconcile(ns, "reg", 0);
    struct quay_target_ref t = qr_ref(ns, "reg");
    cJSON *qr = get_obj(&QRS, ns, "reg");
    double gen0 = num(qr, "metadata", "generation");
    cJSON_Delete(qr);

    /* Killed between "pending written" and "target patched". */
    set_overlay(&t, quay_overlay_disable_pushes_new("w1", 1, &err));
    struct quay_step_opts crash = {.crash = QUAY_CRASH_AFTER_PENDING};
    assert_int_equal(quay_composer_step(F->c, &t, &crash, &res, &err), 0);
    assert_int_equal(quay_composer_read_state(F->c, &t, &s, &err), 0);
    assert_true(s->pending.present);
    char pending_name[QUAY_NAME_MAX + 1];
    snprintf(pending_name, sizeof(pending_name), "%s", s->pending.name);
    quay_state_free(s);
    qr = get_obj(&QRS, ns, "reg");
    assert_int_equal(num(qr, "metadata", "generation"), gen0);
    cJSON_Delete(qr);
    step_expect(&t, QUAY_PHASE_APPLIED, &res);
    assert_string_equal(res.applied_name, pending_name);
    assert_int_equal(count_role(ns, QUAY_ROLE_RENDERED), 1);
    qr = get_obj(&QRS, ns, "reg");
    double gen1 = num(qr, "metadata", "generation");
    assert_true(gen1 > gen0);
    cJSON_Delete(qr);
    operator_reconcile(ns, "reg", 0);
    step_expect(&t, QUAY_PHASE_CONFIRMED, &res);

    /* Killed between "patched" and "applied recorded". */
    set_overlay(&t, quay_overlay_scale_down_new("w2", 2, QUAY_COMPONENT_QUAY, &err));
    crash.crash = QUAY_CRASH_AFTER_APPLY;
    assert_int_equal(quay_composer_step(F->c, &t, &crash, &res, &err), 0);
    qr = get_obj(&QRS, ns, "reg");
    double gen2 = num(qr, "metadata", "generation");
    assert_true(gen2 > gen1);
    cJSON_Delete(qr);
    assert_int_equal(quay_composer_read_state(F->c, &t, &s, &err), 0);
    assert_true(s->pending.present);
    quay_state_free(s);
    /* The next step records what landed and waits: no second patch. */
    step_expect(&t, QUAY_PHASE_PROGRESSING, &res);
    qr = get_obj(&QRS, ns, "reg");
    assert_int_equal(num(qr, "metadata", "generation"), gen2);
    cJSON_Delete(qr);
    assert_int_equal(quay_composer_read_state(F->c, &t, &s, &err), 0);
    assert_false(s->pending.present);
    assert_true(s->applied.present);
    assert_false(s->applied.confirmed);
    quay_state_free(s);
    operator_reconcile(ns, "reg", 0);
    step_expect(&t, QUAY_PHASE_CONFIRMED, &res);
    assert_int_equal(count_role(ns, QUAY_ROLE_RENDERED), 1);
}

/* restore: original Secret and spec.components back verbatim; refused when
 * the original changed, unless forced; the operator then stands back. */
static void test_restore_quayregistry(void **state)
{
    (void)state;
    struct k8s_error err;
    struct quay_step_result res;
    struct quay_restore_report rep;
    char osha[65], now[65];
    const char *ns = "restore-qr";
    make_ns(ns);
    struct quay_bundle *b = bundle_of(QUAY_BUNDLE_OPERATOR, NULL, ORIGINAL_CONFIG, NULL, NULL);
    create_bundle_secret(ns, "bundle", b, osha);
    quay_bundle_free(b);
    create_qr(ns, "reg", "bundle", "[{\"kind\":\"quay\",\"managed\":true}]");
    operator_reconcile(ns, "reg", 0);
    cJSON *before = get_obj(&QRS, ns, "reg");
    struct quay_target_ref t = qr_ref(ns, "reg");
    assert_int_equal(quay_composer_restore(F->c, &t, 0, "test", &rep, &err), K8S_ENOTFOUND);

    set_overlay(&t, quay_overlay_disable_pushes_new("w1", 1, &err));
    set_overlay(&t, quay_overlay_scale_down_new("w2", 2, QUAY_COMPONENTS_DEFAULT, &err));
    step_expect(&t, QUAY_PHASE_APPLIED, &res);

    assert_int_equal(quay_composer_restore(F->c, &t, 0, "test", &rep, &err), 0);
    assert_string_equal(rep.original_name, "bundle");
    assert_string_equal(rep.previous_name, res.applied_name);
    assert_true(rep.components_restored);
    assert_int_equal(rep.overlays_kept, 2);
    cJSON *after = get_obj(&QRS, ns, "reg");
    assert_true(k8s_json_equal(spec_of(before), spec_of(after)));
    cJSON_Delete(after);
    secret_sha(ns, "bundle", QUAY_BUNDLE_OPERATOR, NULL, now);
    assert_string_equal(now, osha);
    step_expect(&t, QUAY_PHASE_BLOCKED, &res);
    assert_string_equal(res.reason, QUAY_REASON_RESTORED);
    /* Again: idempotent. */
    assert_int_equal(quay_composer_restore(F->c, &t, 0, "test", &rep, &err), 0);

    /* The original changed since it was recorded: refused, unless forced. */
    merge_patch(&SECRETS, ns, "bundle", NULL, test_json("{\"data\":{\"extra\":\"eA==\"}}"), NULL);
    assert_int_equal(quay_composer_restore(F->c, &t, 0, "test", &rep, &err), K8S_EINVALID);
    assert_non_null(strstr(err.message, "--force"));
    assert_int_equal(quay_composer_restore(F->c, &t, 1, "test", &rep, &err), 0);
    assert_true(rep.forced);
    cJSON_Delete(before);
}

/* ---- StandaloneQuay ------------------------------------------------------------------ */

static void sq_rollout_all(const char *ns)
{
    rollout(ns, "quay-app");
    rollout(ns, "quay-mirror");
}

static void test_standalone(void **state)
{
    (void)state;
    struct k8s_error err;
    struct quay_step_result res;
    struct quay_restore_report rep;
    char osha[65], now[65];
    const char *ns = "standalone";
    make_ns(ns);
    struct quay_bundle *b =
        bundle_of(QUAY_BUNDLE_STANDALONE, "config.yaml", ORIGINAL_CONFIG, "ssl.cert", "CERT");
    create_bundle_secret(ns, "quay-config", b, osha);
    quay_bundle_free(b);
    ensure_deployment(ns, "quay-app", 3, "quay-config");
    ensure_deployment(ns, "quay-mirror", 1, "quay-config");
    sq_rollout_all(ns);
    cJSON *target =
        test_json("{\"type\":\"StandaloneQuay\",\"standaloneQuay\":{\"configSecretRef\":{"
                  "\"name\":\"quay-config\"},\"deployments\":[\"quay-app\",\"quay-mirror\"]}}");
    struct quay_target_ref t;
    assert_int_equal(quay_target_ref_from_json(ns, target, &t, &err), 0);
    cJSON_Delete(target);

    set_overlay(&t, quay_overlay_disable_pushes_new("dp", 1, &err));
    step_expect(&t, QUAY_PHASE_APPLIED, &res);
    /* Backup first, with the original data, immutable, never owned. */
    char backup[QUAY_NAME_MAX + 1];
    snprintf(backup, sizeof(backup), "quay-config-qso-backup-%.10s", osha);
    secret_sha(ns, backup, QUAY_BUNDLE_STANDALONE, "config.yaml", now);
    assert_string_equal(now, osha);
    cJSON *bo = get_obj(&SECRETS, ns, backup);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(bo, "immutable")));
    assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(bo, "metadata"), "ownerReferences"));
    cJSON_Delete(bo);
    /* Edited in place; the Deployments restart by annotation. */
    struct quay_bundle *cur = secret_bundle(ns, "quay-config");
    assert_true(has_true(cur, QUAY_KEY_DISABLE_PUSHES));
    size_t len;
    assert_non_null(quay_bundle_get(cur, "ssl.cert", &len));
    quay_bundle_free(cur);
    cJSON *d = get_obj(&DEPLOYMENTS, ns, "quay-app");
    const char *ann = cJSON_GetStringValue(cJSON_GetObjectItem(
        cJSON_GetObjectItem(
            cJSON_GetObjectItem(cJSON_GetObjectItem(spec_of(d), "template"), "metadata"),
            "annotations"),
        QUAY_ANNOTATION_CONFIG_SHA));
    assert_non_null(ann);
    assert_string_equal(ann, res.applied_sha);
    cJSON_Delete(d);
    step_expect(&t, QUAY_PHASE_PROGRESSING, &res);
    sq_rollout_all(ns);
    step_expect(&t, QUAY_PHASE_CONFIRMED, &res);

    /* ScaleDown: every Deployment to 0; the replicas come back exactly. */
    set_overlay(&t, quay_overlay_scale_down_new("sd", 2, QUAY_COMPONENTS_DEFAULT, &err));
    step_expect(&t, QUAY_PHASE_APPLIED, &res);
    d = get_obj(&DEPLOYMENTS, ns, "quay-app");
    assert_int_equal(num(d, "spec", "replicas"), 0);
    cJSON_Delete(d);
    sq_rollout_all(ns);
    step_expect(&t, QUAY_PHASE_CONFIRMED, &res);
    remove_overlay(&t, "sd");
    step_expect(&t, QUAY_PHASE_APPLIED, &res);
    d = get_obj(&DEPLOYMENTS, ns, "quay-app");
    assert_int_equal(num(d, "spec", "replicas"), 3);
    cJSON_Delete(d);
    d = get_obj(&DEPLOYMENTS, ns, "quay-mirror");
    assert_int_equal(num(d, "spec", "replicas"), 1);
    cJSON_Delete(d);
    sq_rollout_all(ns);
    step_expect(&t, QUAY_PHASE_CONFIRMED, &res);
    struct quay_state *s = NULL;
    assert_int_equal(quay_composer_read_state(F->c, &t, &s, &err), 0);
    assert_null(s->scaled_from);
    quay_state_free(s);

    /* Window off: the original data again. */
    remove_overlay(&t, "dp");
    step_expect(&t, QUAY_PHASE_APPLIED, &res);
    secret_sha(ns, "quay-config", QUAY_BUNDLE_STANDALONE, "config.yaml", now);
    assert_string_equal(now, osha);
    sq_rollout_all(ns);
    step_expect(&t, QUAY_PHASE_CONFIRMED, &res);

    /* A ScaleDown in effect, then the break-glass restore. */
    set_overlay(&t, quay_overlay_scale_down_new("sd2", 3, QUAY_COMPONENT_QUAY, &err));
    set_overlay(&t, quay_overlay_disable_pushes_new("dp2", 3, &err));
    step_expect(&t, QUAY_PHASE_APPLIED, &res);
    assert_int_equal(quay_composer_restore(F->c, &t, 0, "test", &rep, &err), 0);
    assert_true(rep.data_restored);
    assert_int_equal(rep.deployments_scaled, 2);
    secret_sha(ns, "quay-config", QUAY_BUNDLE_STANDALONE, "config.yaml", now);
    assert_string_equal(now, osha);
    d = get_obj(&DEPLOYMENTS, ns, "quay-app");
    assert_int_equal(num(d, "spec", "replicas"), 3);
    cJSON_Delete(d);
    step_expect(&t, QUAY_PHASE_BLOCKED, &res);
    assert_string_equal(res.reason, QUAY_REASON_RESTORED);
}

/* An immutable config Secret cannot be edited in place: refused, said so. */
static void test_standalone_immutable_config(void **state)
{
    (void)state;
    struct k8s_error err;
    struct quay_step_result res;
    const char *ns = "sq-immutable";
    make_ns(ns);
    struct quay_bundle *b =
        bundle_of(QUAY_BUNDLE_STANDALONE, "config.yaml", ORIGINAL_CONFIG, NULL, NULL);
    create_bundle_secret(ns, "quay-config", b, NULL);
    quay_bundle_free(b);
    merge_patch(&SECRETS, ns, "quay-config", NULL, test_json("{\"immutable\":true}"), NULL);
    ensure_deployment(ns, "quay-app", 1, "quay-config");
    struct quay_target_ref t;
    assert_int_equal(quay_target_ref_init(&t, QUAY_TARGET_STANDALONE, ns, "quay-config", &err), 0);
    assert_int_equal(quay_target_ref_add_deployment(&t, "quay-app", &err), 0);
    set_overlay(&t, quay_overlay_disable_pushes_new("dp", 1, &err));
    step_expect(&t, QUAY_PHASE_BLOCKED, &res);
    assert_string_equal(res.reason, "ChangeRefused");
    assert_non_null(strstr(res.message, "immutable"));
    step_expect(&t, QUAY_PHASE_BLOCKED, &res);
}

/*
 * The state record of a StandaloneQuay deleted while a window's data is in
 * the config Secret: the rendered data (DISABLE_PUSHES: true) is never
 * adopted as the user's original — that would keep the registry read-only
 * for good, with no record left to restore from. The step refuses, as a
 * QuayRegistry's does when it references one of our rendered Secrets.
 */
static void test_standalone_rendered_data_is_never_adopted(void **state)
{
    (void)state;
    struct k8s_error err;
    struct quay_step_result res;
    char osha[65];
    const char *ns = "sq-record-lost";
    make_ns(ns);
    struct quay_bundle *b =
        bundle_of(QUAY_BUNDLE_STANDALONE, "config.yaml", ORIGINAL_CONFIG, NULL, NULL);
    create_bundle_secret(ns, "quay-config", b, osha);
    quay_bundle_free(b);
    ensure_deployment(ns, "quay-app", 1, "quay-config");
    rollout(ns, "quay-app");
    struct quay_target_ref t;
    assert_int_equal(quay_target_ref_init(&t, QUAY_TARGET_STANDALONE, ns, "quay-config", &err), 0);
    assert_int_equal(quay_target_ref_add_deployment(&t, "quay-app", &err), 0);
    set_overlay(&t, quay_overlay_disable_pushes_new("dp", 1, &err));
    step_expect(&t, QUAY_PHASE_APPLIED, &res);
    rollout(ns, "quay-app");
    step_expect(&t, QUAY_PHASE_CONFIRMED, &res);

    struct k8s_delete_opts d = {.grace_period_seconds = -1};
    assert_int_equal(k8s_delete(F->c, &SECRETS, ns, "qso-state-standalonequay-quay-config", &d,
                                NULL, NULL, &err),
                     0);
    step_expect(&t, QUAY_PHASE_BLOCKED, &res);
    assert_string_equal(res.reason, "StateRecordMissing");
    assert_non_null(strstr(res.message, "quay-config-qso-backup-"));
    struct quay_state *s = NULL;
    assert_int_equal(quay_composer_read_state(F->c, &t, &s, &err), K8S_ENOTFOUND);
    /* A window that comes along cannot record it either. */
    struct quay_overlay *o = quay_overlay_disable_pushes_new("dp2", 2, &err);
    assert_int_equal(quay_composer_set_overlay(F->c, &t, o, &err), K8S_ECONFLICT);
    quay_overlay_free(o);

    /* The user's original put back (from the backup): adopted as before. */
    char backup[QUAY_NAME_MAX + 1];
    snprintf(backup, sizeof(backup), "quay-config-qso-backup-%.10s", osha);
    cJSON *bo = get_obj(&SECRETS, ns, backup);
    cJSON *patch = cJSON_CreateObject();
    cJSON_AddItemToObject(patch, "data", cJSON_Duplicate(cJSON_GetObjectItem(bo, "data"), 1));
    merge_patch(&SECRETS, ns, "quay-config", NULL, patch, NULL);
    cJSON_Delete(bo);
    step_expect(&t, QUAY_PHASE_CONFIRMED, &res);
    assert_string_equal(res.original_sha, osha);
}

/* Steps until `want` (Confirmed or Blocked), allowing only Applied and
 * Progressing on the way; returns how many steps said Applied. */
static int step_until(const struct quay_target_ref *t, enum quay_phase want, int seconds,
                      struct quay_step_result *res)
{
    struct k8s_error err;
    int applied = 0;
    time_t deadline = time(NULL) + seconds;
    for (;;) {
        int rc = quay_composer_step(F->c, t, NULL, res, &err);
        if (rc)
            fail_msg("step: %s (%s)", err.message, k8s_err_name(rc));
        applied += res->phase == QUAY_PHASE_APPLIED;
        if (res->phase == want)
            return applied;
        if ((res->phase != QUAY_PHASE_APPLIED && res->phase != QUAY_PHASE_PROGRESSING) ||
            time(NULL) > deadline)
            fail_msg("want %s, got %s (%s: %s)", quay_phase_name(want), quay_phase_name(res->phase),
                     res->reason, res->message);
        usleep(100 * 1000);
    }
}

/* StandaloneQuay with the simulator's Deployment controller doing the
 * rollouts: restart by annotation, ScaleDown and back, a stalled rollout. */
static void test_standalone_with_deployment_controller(void **state)
{
    (void)state;
    struct k8s_error err;
    struct quay_step_result res;
    char *out = NULL;
    const char *ns = "sq-deploy";
    make_ns(ns);
    assert_int_equal(kubesim_admin(F->sim, "POST", "/__admin/workloads",
                                   "{\"deployments\":{\"enabled\":true,\"rolloutDelayMs\":100}}",
                                   &out),
                     200);
    free(out);
    struct quay_bundle *b =
        bundle_of(QUAY_BUNDLE_STANDALONE, "config.yaml", ORIGINAL_CONFIG, NULL, NULL);
    create_bundle_secret(ns, "quay-config", b, NULL);
    quay_bundle_free(b);
    ensure_deployment(ns, "quay-app", 2, "quay-config");
    merge_patch(&DEPLOYMENTS, ns, "quay-app", NULL,
                test_json("{\"spec\":{\"progressDeadlineSeconds\":2}}"), NULL);
    struct quay_target_ref t;
    assert_int_equal(quay_target_ref_init(&t, QUAY_TARGET_STANDALONE, ns, "quay-config", &err), 0);
    assert_int_equal(quay_target_ref_add_deployment(&t, "quay-app", &err), 0);
    step_until(&t, QUAY_PHASE_CONFIRMED, 30, &res);

    set_overlay(&t, quay_overlay_disable_pushes_new("dp", 1, &err));
    assert_int_equal(step_until(&t, QUAY_PHASE_CONFIRMED, 30, &res), 1);
    set_overlay(&t, quay_overlay_scale_down_new("sd", 2, QUAY_COMPONENT_QUAY, &err));
    assert_int_equal(step_until(&t, QUAY_PHASE_CONFIRMED, 30, &res), 1);
    cJSON *d = get_obj(&DEPLOYMENTS, ns, "quay-app");
    assert_int_equal(num(d, "status", "replicas"), -1 /* absent: 0 */);
    cJSON_Delete(d);
    remove_overlay(&t, "sd");
    assert_int_equal(step_until(&t, QUAY_PHASE_CONFIRMED, 30, &res), 1);
    d = get_obj(&DEPLOYMENTS, ns, "quay-app");
    assert_int_equal(num(d, "spec", "replicas"), 2);
    assert_int_equal(num(d, "status", "availableReplicas"), 2);
    cJSON_Delete(d);

    /* New pods that never become ready: the rollout stalls, and the
     * Deployment's own ProgressDeadlineExceeded is reported. */
    assert_int_equal(kubesim_admin(F->sim, "POST", "/__admin/workloads",
                                   "{\"deployments\":{\"stall\":{\"sq-deploy/quay-app\":true}}}",
                                   &out),
                     200);
    free(out);
    remove_overlay(&t, "dp");
    step_until(&t, QUAY_PHASE_BLOCKED, 30, &res);
    assert_string_equal(res.reason, "ProgressDeadlineExceeded");
    assert_int_equal(kubesim_admin(F->sim, "POST", "/__admin/workloads",
                                   "{\"deployments\":{\"stall\":null}}", &out),
                     200);
    free(out);
}

/* ---- with the Quay Operator stand-in --------------------------------------------------- */

/* Whether the simulator's Quay Operator stand-in does anything yet (it was a
 * placeholder when this test was written): like the real one, it writes
 * spec.components (the defaults) or status conditions on its first reconcile
 * of a QuayRegistry that has none. */
static int standin_works(const char *ns)
{
    struct k8s_error err;
    struct quay_bundle *b =
        bundle_of(QUAY_BUNDLE_OPERATOR, NULL, "SERVER_HOSTNAME: probe.example.com\n", NULL, NULL);
    create_bundle_secret(ns, "probe-bundle", b, NULL);
    quay_bundle_free(b);
    create_qr(ns, "probe", "probe-bundle", NULL);
    for (int i = 0; i < 100; i++) {
        cJSON *qr = NULL;
        assert_int_equal(k8s_get(F->c, &QRS, ns, "probe", NULL, &qr, &err), 0);
        int seen = cJSON_HasObjectItem(spec_of(qr), "components") ||
                   cJSON_GetArraySize(
                       cJSON_GetObjectItem(cJSON_GetObjectItem(qr, "status"), "conditions")) > 0;
        cJSON_Delete(qr);
        if (seen)
            return 1;
        usleep(100 * 1000);
    }
    return 0;
}

static void test_with_quay_operator_standin(void **state)
{
    (void)state;
    struct k8s_error err;
    struct quay_step_result res;
    const char *ns = "standin";
    make_ns(ns);
    char *out = NULL;
    assert_int_equal(kubesim_admin(F->sim, "POST", "/__admin/workloads",
                                   "{\"quayOperator\":{\"enabled\":true,\"requeueSeconds\":2},"
                                   "\"deployments\":{\"enabled\":true,\"rolloutDelayMs\":100},"
                                   "\"kubelet\":{\"enabled\":true}}",
                                   &out),
                     200);
    free(out);
    if (!standin_works(ns)) {
        fprintf(stderr, "SKIP: the simulator's Quay Operator stand-in does nothing yet\n");
        skip();
    }
    /* A registry the stand-in accepts without a Route or ObjectBucketClaim
     * API: its own storage (objectstorage unmanaged) and TLS pair (tls
     * defaults to unmanaged and then needs ssl.cert/ssl.key). */
    struct quay_bundle *b =
        bundle_of(QUAY_BUNDLE_OPERATOR, NULL, ORIGINAL_CONFIG, "ssl.cert", "CERT-PEM");
    assert_int_equal(quay_bundle_put(b, "ssl.key", "KEY-PEM", 7, &err), 0);
    create_bundle_secret(ns, "bundle", b, NULL);
    quay_bundle_free(b);
    create_qr(ns, "reg", "bundle", "[{\"kind\":\"objectstorage\",\"managed\":false}]");
    struct quay_target_ref t = qr_ref(ns, "reg");

    /* Wait until the stand-in rolled the registry out. */
    time_t deadline = time(NULL) + 90;
    for (;;) {
        int rc = quay_composer_step(F->c, &t, NULL, &res, &err);
        assert_int_equal(rc, 0);
        if (res.phase == QUAY_PHASE_CONFIRMED)
            break;
        if (time(NULL) > deadline)
            fail_msg("never confirmed: %s %s: %s", quay_phase_name(res.phase), res.reason,
                     res.message);
        usleep(200 * 1000);
    }

    const char *windows[] = {"with-dp", "with-sd"};
    for (int w = 0; w < 2; w++) {
        set_overlay(
            &t, w == 0 ? quay_overlay_disable_pushes_new(windows[w], 5, &err)
                       : quay_overlay_scale_down_new(windows[w], 6, QUAY_COMPONENTS_DEFAULT, &err));
        deadline = time(NULL) + 90;
        int applied = 0;
        for (;;) {
            assert_int_equal(quay_composer_step(F->c, &t, NULL, &res, &err), 0);
            applied += res.phase == QUAY_PHASE_APPLIED;
            if (res.phase == QUAY_PHASE_CONFIRMED)
                break;
            if (res.phase == QUAY_PHASE_BLOCKED || res.phase == QUAY_PHASE_CHANGED_EXTERNALLY ||
                time(NULL) > deadline)
                fail_msg("window %s: %s %s: %s", windows[w], quay_phase_name(res.phase), res.reason,
                         res.message);
            usleep(200 * 1000);
        }
        assert_int_equal(applied, 1);
    }
    struct quay_bundle *eff = NULL;
    assert_int_equal(quay_target_effective_bundle(F->c, &t, &eff, &err), 0);
    assert_true(has_true(eff, QUAY_KEY_DISABLE_PUSHES));
    quay_bundle_free(eff);

    remove_overlay(&t, "with-sd");
    remove_overlay(&t, "with-dp");
    deadline = time(NULL) + 90;
    for (;;) {
        assert_int_equal(quay_composer_step(F->c, &t, NULL, &res, &err), 0);
        if (res.phase == QUAY_PHASE_CONFIRMED)
            break;
        if (res.phase == QUAY_PHASE_BLOCKED || time(NULL) > deadline)
            fail_msg("windows off: %s %s: %s", quay_phase_name(res.phase), res.reason, res.message);
        usleep(200 * 1000);
    }
    assert_string_equal(res.applied_name, "bundle");
    assert_int_equal(count_role(ns, QUAY_ROLE_RENDERED), 0);
    eff = NULL;
    assert_int_equal(quay_target_effective_bundle(F->c, &t, &eff, &err), 0);
    assert_false(has_true(eff, QUAY_KEY_DISABLE_PUSHES));
    quay_bundle_free(eff);
}

static void admin_workloads(const char *body)
{
    char *out = NULL;
    long st = kubesim_admin(F->sim, "POST", "/__admin/workloads", body, &out);
    if (st != 200)
        fail_msg("workloads %s: %ld %s", body, st, out ? out : "");
    free(out);
}

/* The config Secret quay-app mounts ("" when none): a secret volume or a
 * projected volume's source. */
static void mounted_config(const char *ns, const char *reg, char *out, size_t cap)
{
    struct k8s_error err;
    char dep[128];
    cJSON *d = NULL, *v, *src;
    out[0] = '\0';
    snprintf(dep, sizeof(dep), "%s-quay-app", reg);
    if (k8s_get(F->c, &DEPLOYMENTS, ns, dep, NULL, &d, &err) != 0)
        return;
    const cJSON *vols = cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(spec_of(d), "template"), "spec"), "volumes");
    cJSON_ArrayForEach(v, vols)
    {
        const char *n = cJSON_GetStringValue(
            cJSON_GetObjectItem(cJSON_GetObjectItem(v, "secret"), "secretName"));
        if (n && strstr(n, "-quay-config-secret-"))
            snprintf(out, cap, "%s", n);
        cJSON_ArrayForEach(src, cJSON_GetObjectItem(cJSON_GetObjectItem(v, "projected"), "sources"))
        {
            n = cJSON_GetStringValue(
                cJSON_GetObjectItem(cJSON_GetObjectItem(src, "secret"), "name"));
            if (n && strstr(n, "-quay-config-secret-"))
                snprintf(out, cap, "%s", n);
        }
    }
    cJSON_Delete(d);
}

/* Waits until the stand-in re-rendered (quay-app mounts another config
 * Secret than `before`) and, when `observed`, wrote observedGeneration. */
static void wait_rendered(const char *ns, const char *reg, const char *before, int observed)
{
    char now[256];
    time_t deadline = time(NULL) + 60;
    for (;;) {
        mounted_config(ns, reg, now, sizeof(now));
        cJSON *qr = get_obj(&QRS, ns, reg);
        double og = num(qr, "status", "observedGeneration"),
               gen = num(qr, "metadata", "generation");
        cJSON_Delete(qr);
        if (now[0] && strcmp(now, before) != 0 && (!observed || og == gen))
            return;
        if (time(NULL) > deadline)
            fail_msg("the stand-in never re-rendered %s/%s: mounts %s (before %s), generation "
                     "%.0f observed %.0f",
                     ns, reg, now, before, gen, og);
        usleep(100 * 1000);
    }
}

/* The stand-in's misbehaviours: a stale Available=True during a rollout
 * that never completes, and a missing observedGeneration, never pass for a
 * confirmation. */
static void test_standin_misbehaviours_never_confirm(void **state)
{
    (void)state;
    struct k8s_error err;
    struct quay_step_result res;
    char before[256];
    const char *ns = "standin-bad";
    make_ns(ns);
    admin_workloads("{\"quayOperator\":{\"enabled\":true,\"requeueSeconds\":2},"
                    "\"deployments\":{\"enabled\":true,\"rolloutDelayMs\":100}}");
    struct quay_bundle *b =
        bundle_of(QUAY_BUNDLE_OPERATOR, NULL, ORIGINAL_CONFIG, "ssl.cert", "CERT-PEM");
    assert_int_equal(quay_bundle_put(b, "ssl.key", "KEY-PEM", 7, &err), 0);
    create_bundle_secret(ns, "bundle", b, NULL);
    quay_bundle_free(b);
    create_qr(ns, "reg", "bundle", "[{\"kind\":\"objectstorage\",\"managed\":false}]");
    struct quay_target_ref t = qr_ref(ns, "reg");
    step_until(&t, QUAY_PHASE_CONFIRMED, 60, &res);

    /* failRollout + staleAvailable: everything but the rollout is there. */
    admin_workloads("{\"quayOperator\":{\"failRollout\":true,\"staleAvailable\":true}}");
    mounted_config(ns, "reg", before, sizeof(before));
    set_overlay(&t, quay_overlay_disable_pushes_new("w", 1, &err));
    step_expect(&t, QUAY_PHASE_APPLIED, &res);
    wait_rendered(ns, "reg", before, 1);
    cJSON *qr = get_obj(&QRS, ns, "reg");
    const cJSON *c;
    int available = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(cJSON_GetObjectItem(qr, "status"), "conditions"))
    {
        const char *type = cJSON_GetStringValue(cJSON_GetObjectItem(c, "type"));
        const char *st = cJSON_GetStringValue(cJSON_GetObjectItem(c, "status"));
        available |= type && st && !strcmp(type, "Available") && !strcmp(st, "True");
    }
    cJSON_Delete(qr);
    assert_true(available); /* the stale claim is there ... */
    for (int i = 0; i < 5; i++) {
        step_expect(&t, QUAY_PHASE_PROGRESSING, &res); /* ... and believed by no one */
        assert_non_null(strstr(res.message, "quay-app"));
        usleep(200 * 1000);
    }
    admin_workloads("{\"quayOperator\":{\"failRollout\":false,\"staleAvailable\":false}}");
    step_until(&t, QUAY_PHASE_CONFIRMED, 60, &res);

    /* omitObservedGeneration: rendered and rolled out, but the operator
     * never says it saw the generation. */
    admin_workloads("{\"quayOperator\":{\"omitObservedGeneration\":true}}");
    mounted_config(ns, "reg", before, sizeof(before));
    remove_overlay(&t, "w");
    step_expect(&t, QUAY_PHASE_APPLIED, &res);
    wait_rendered(ns, "reg", before, 0);
    for (int i = 0; i < 5; i++) {
        step_expect(&t, QUAY_PHASE_PROGRESSING, &res);
        assert_non_null(strstr(res.message, "observe generation"));
        usleep(200 * 1000);
    }
    admin_workloads("{\"quayOperator\":{\"omitObservedGeneration\":false}}");
    step_until(&t, QUAY_PHASE_CONFIRMED, 60, &res);
    assert_string_equal(res.applied_name, "bundle");
}

/* ---- setup ------------------------------------------------------------------------------ */

static int group_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct kubesim_opts opts = {.exit_after_seconds = 600};
    struct k8s_config *cfg = NULL;
    struct k8s_error err;
    opts.extra_args[0] = "--fixtures";
    opts.extra_args[1] = QSO_SOURCE_DIR "/tests/fixtures/crds";
    *state = f;
    F = f;
    if (!f || kubesim_start(&opts, &f->sim) != 0)
        return -1;
    /* The composer's own behaviour first: the test plays the controllers. */
    char *out = NULL;
    long st = kubesim_admin(f->sim, "POST", "/__admin/workloads",
                            "{\"quayOperator\":{\"enabled\":false},"
                            "\"deployments\":{\"enabled\":false}}",
                            &out);
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
    if (f) {
        k8s_client_free(f->c);
        kubesim_stop(f->sim);
        free(f);
    }
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_target_ref_errors_name_the_field),
        cmocka_unit_test(test_switch_confirm_and_back),
        cmocka_unit_test(test_rendered_secret_of_another_owner_is_not_reused),
        cmocka_unit_test(test_scale_down_components_absent),
        cmocka_unit_test(test_scale_down_components_present),
        cmocka_unit_test(test_scale_down_details_and_refusal),
        cmocka_unit_test(test_scale_down_refuses_what_the_operator_blocks),
        cmocka_unit_test(test_blocked_rollouts),
        cmocka_unit_test(test_cutover_under_window),
        cmocka_unit_test(test_managed_objectstorage),
        cmocka_unit_test(test_external_change),
        cmocka_unit_test(test_kill_safety),
        cmocka_unit_test(test_restore_quayregistry),
        cmocka_unit_test(test_standalone),
        cmocka_unit_test(test_standalone_immutable_config),
        cmocka_unit_test(test_standalone_rendered_data_is_never_adopted),
        cmocka_unit_test(test_standalone_with_deployment_controller),
        cmocka_unit_test(test_with_quay_operator_standin),
        cmocka_unit_test(test_standin_misbehaviours_never_confirm),
    };
    return cmocka_run_group_tests_name("quay_composer", tests, group_setup, group_teardown);
}
