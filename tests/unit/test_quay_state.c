/*
 * Tests of the composer's state record (quay/quay_state.c): the JSON
 * round-trip keeps every field (absent components vs an empty list, the
 * overlays with their private keys, pending, scaledFrom, restored); names
 * include the target kind, stay valid Secret names when long, and refuse
 * invalid targets; a record from a newer operator is refused; and against
 * the API simulator: create with owner and labels, read back, update with
 * the resourceVersion precondition, a stale writer gets K8S_ECONFLICT, and
 * a same-named Secret that is not ours is never taken for a record.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8s_client.h"
#include "k8s_config.h"
#include "k8s_patch.h"
#include "kubesim_harness.h"
#include "quay_state.h"

static const struct k8s_resource SECRETS = {"", "v1", "secrets", 1};

static const char PEM[] = "-----BEGIN PRIVATE KEY-----\nMIIBVQIBADANBgkqhkiG9w0BAQEFAASCAT8w\n"
                          "-----END PRIVATE KEY-----\n";

static struct quay_state *sample_state(void)
{
    struct k8s_error err;
    struct quay_state *s = quay_state_new(QUAY_TARGET_QUAYREGISTRY, "ns1", "registry", "uid-1");
    assert_non_null(s);
    s->original.present = 1;
    snprintf(s->original.name, sizeof(s->original.name), "registry-config-bundle-abcde");
    snprintf(s->original.sha, sizeof(s->original.sha), "%064d", 1);
    s->original.components = cJSON_Parse("[]"); /* present but empty */
    s->ndeployments = 2;
    snprintf(s->deployments[0], sizeof(s->deployments[0]), "quay-app");
    snprintf(s->deployments[1], sizeof(s->deployments[1]), "quay-mirror");
    snprintf(s->base.name, sizeof(s->base.name), "registry-qso-base-0123456789");
    snprintf(s->base.sha, sizeof(s->base.sha), "%064d", 2);
    s->applied.present = 1;
    snprintf(s->applied.name, sizeof(s->applied.name), "registry-qso-0123456789");
    snprintf(s->applied.sha, sizeof(s->applied.sha), "%064d", 3);
    s->applied.components =
        cJSON_Parse("[{\"kind\":\"horizontalpodautoscaler\",\"managed\":false},"
                    "{\"kind\":\"quay\",\"managed\":true,\"overrides\":"
                    "{\"replicas\":0,\"env\":[{\"name\":\"A\",\"value\":\"1\"}]}}]");
    s->applied.target_generation = 9007199254740991LL; /* 2^53 - 1 stays exact */
    s->applied.confirmed = 1;
    s->pending.present = 1;
    snprintf(s->pending.name, sizeof(s->pending.name), "registry-config-bundle-abcde");
    snprintf(s->pending.sha, sizeof(s->pending.sha), "%064d", 1);
    /* pending.components absent: "put the original (which had none) back" */
    s->pending.replicas = cJSON_Parse("{\"quay-app\":0}");
    s->pending.restart = 1;
    s->scaled_from = cJSON_Parse("{\"quay-app\":3,\"quay-mirror\":1}");
    s->restored.present = 1;
    snprintf(s->restored.time, sizeof(s->restored.time), "2026-01-02T03:04:05Z");
    snprintf(s->restored.by, sizeof(s->restored.by), "alice");
    snprintf(s->restored.previous, sizeof(s->restored.previous), "registry-qso-0123456789");
    struct quay_overlay *o1 = quay_overlay_disable_pushes_new("w-dp", 100, &err);
    struct quay_overlay *o2 =
        quay_overlay_read_only_new("w-ro", 200, "quay-readonly", "kid-1", PEM, strlen(PEM), &err);
    struct quay_overlay *o3 =
        quay_overlay_scale_down_new("w-sd", 300, QUAY_COMPONENT_QUAY | QUAY_COMPONENT_MIRROR, &err);
    assert_non_null(o1);
    assert_non_null(o2);
    assert_non_null(o3);
    assert_int_equal(quay_state_put_overlay(s, o1, &err), 0);
    assert_int_equal(quay_state_put_overlay(s, o2, &err), 0);
    assert_int_equal(quay_state_put_overlay(s, o3, &err), 0);
    quay_overlay_free(o1);
    quay_overlay_free(o2);
    quay_overlay_free(o3);
    return s;
}

/* Every field survives to_json -> from_json -> to_json, byte for byte. */
static void test_json_round_trip_keeps_everything(void **state)
{
    (void)state;
    struct k8s_error err;
    struct quay_state *s = sample_state(), *back = NULL;
    cJSON *j1 = NULL, *j2 = NULL;
    assert_int_equal(quay_state_to_json(s, &j1, &err), 0);
    assert_int_equal(quay_state_from_json(j1, &back, &err), 0);
    assert_int_equal(quay_state_to_json(back, &j2, &err), 0);
    assert_true(k8s_json_equal(j1, j2));

    /* Absent stays absent, [] stays []. */
    assert_non_null(back->original.components);
    assert_true(cJSON_IsArray(back->original.components));
    assert_int_equal(cJSON_GetArraySize(back->original.components), 0);
    assert_null(back->pending.components);
    assert_true(cJSON_HasObjectItem(cJSON_GetObjectItem(j1, "original"), "components"));
    assert_false(cJSON_HasObjectItem(cJSON_GetObjectItem(j1, "pending"), "components"));
    assert_true(quay_state_config_same(&s->applied, &back->applied));
    assert_true(quay_state_config_same(&s->pending, &back->pending));
    assert_false(quay_state_config_same(&s->applied, &back->pending));
    assert_int_equal(back->applied.target_generation, 9007199254740991LL);
    assert_true(back->applied.confirmed);
    assert_true(back->pending.restart);
    assert_true(k8s_json_equal(s->scaled_from, back->scaled_from));
    assert_true(back->restored.present);
    assert_string_equal(back->restored.by, "alice");
    assert_int_equal(back->ndeployments, 2);
    assert_string_equal(back->deployments[1], "quay-mirror");

    /* The overlays, with the ReadOnly key. */
    assert_int_equal(back->noverlays, 3);
    const struct quay_overlay *ro = quay_state_find_overlay(back, "w-ro");
    assert_non_null(ro);
    assert_int_equal(ro->mode, QUAY_MODE_READ_ONLY);
    assert_int_equal(ro->pem_len, strlen(PEM));
    assert_memory_equal(ro->pem, PEM, strlen(PEM));
    assert_int_equal(quay_state_find_overlay(back, "w-sd")->components,
                     QUAY_COMPONENT_QUAY | QUAY_COMPONENT_MIRROR);

    /* Removing one window's overlay leaves the others. */
    assert_int_equal(quay_state_remove_overlay(back, "w-dp"), 1);
    assert_int_equal(quay_state_remove_overlay(back, "w-dp"), 0);
    assert_int_equal(back->noverlays, 2);
    assert_null(quay_state_find_overlay(back, "w-dp"));
    assert_non_null(quay_state_find_overlay(back, "w-sd"));

    cJSON_Delete(j1);
    cJSON_Delete(j2);
    quay_state_free(s);
    quay_state_free(back);
}

/* put_overlay replaces the window's overlay instead of adding a second. */
static void test_put_overlay_replaces_same_window(void **state)
{
    (void)state;
    struct k8s_error err;
    struct quay_state *s = quay_state_new(QUAY_TARGET_STANDALONE, "ns", "cfg", "u");
    struct quay_overlay *a = quay_overlay_disable_pushes_new("w", 1, &err);
    struct quay_overlay *b = quay_overlay_scale_down_new("w", 2, QUAY_COMPONENT_QUAY, &err);
    assert_int_equal(quay_state_put_overlay(s, a, &err), 0);
    assert_int_equal(quay_state_put_overlay(s, b, &err), 0);
    assert_int_equal(s->noverlays, 1);
    assert_int_equal(s->overlays[0]->mode, QUAY_MODE_SCALE_DOWN);
    quay_overlay_free(a);
    quay_overlay_free(b);
    quay_state_free(s);
}

static void test_newer_version_and_bad_records_refused(void **state)
{
    (void)state;
    struct k8s_error err;
    struct quay_state *s = NULL;
    cJSON *j = cJSON_Parse("{\"version\":2,\"target\":{\"kind\":\"QuayRegistry\",\"namespace\":"
                           "\"n\",\"name\":\"r\"}}");
    assert_int_equal(quay_state_from_json(j, &s, &err), K8S_EDECODE);
    assert_non_null(strstr(err.message, "newer operator"));
    assert_null(s);
    cJSON_Delete(j);
    j = cJSON_Parse("{\"version\":1,\"target\":{\"kind\":\"Nope\",\"namespace\":\"n\",\"name\":"
                    "\"r\"}}");
    assert_int_equal(quay_state_from_json(j, &s, &err), K8S_EDECODE);
    cJSON_Delete(j);
    j = cJSON_Parse("{\"version\":1,\"target\":{\"kind\":\"QuayRegistry\",\"namespace\":\"n\","
                    "\"name\":\"r\"},\"original\":{\"name\":\"a\",\"dataSHA256\":\"x\","
                    "\"components\":{}},\"base\":{\"name\":\"a\",\"dataSHA256\":\"x\"}}");
    assert_int_equal(quay_state_from_json(j, &s, &err), K8S_EDECODE);
    assert_non_null(strstr(err.message, "original.components"));
    cJSON_Delete(j);
}

/* The kind is part of the name; long names stay valid and distinct. */
static void test_names(void **state)
{
    (void)state;
    struct k8s_error err;
    char a[300], b[300], c[300];
    assert_int_equal(quay_state_name(QUAY_TARGET_QUAYREGISTRY, "registry", a, sizeof(a), &err), 0);
    assert_string_equal(a, "qso-state-quayregistry-registry");
    assert_int_equal(quay_state_name(QUAY_TARGET_STANDALONE, "registry", b, sizeof(b), &err), 0);
    assert_string_equal(b, "qso-state-standalonequay-registry");

    char long1[254], long2[254];
    memset(long1, 'a', 253);
    long1[253] = '\0';
    memcpy(long2, long1, sizeof(long2));
    long2[252] = 'b'; /* differs only at the end, beyond any kept prefix */
    assert_int_equal(quay_state_name(QUAY_TARGET_STANDALONE, long1, a, sizeof(a), &err), 0);
    assert_int_equal(quay_state_name(QUAY_TARGET_STANDALONE, long2, c, sizeof(c), &err), 0);
    assert_int_equal(strlen(a), 253);
    assert_int_equal(strlen(c), 253);
    assert_string_not_equal(a, c);

    assert_int_equal(quay_state_name(QUAY_TARGET_QUAYREGISTRY, "Bad_Name", a, sizeof(a), &err),
                     K8S_EARG);
    assert_int_equal(quay_state_name(QUAY_TARGET_QUAYREGISTRY, "", a, sizeof(a), &err), K8S_EARG);
    assert_int_equal(quay_state_name((enum quay_target_kind)0, "x", a, sizeof(a), &err), K8S_EARG);
}

/* cJSON's allocator for the next test: fails the fail_at-th allocation. */
static long alloc_count, alloc_fail_at;

static void *failing_malloc(size_t n)
{
    if (++alloc_count == alloc_fail_at)
        return NULL;
    return malloc(n);
}

/*
 * Out of memory at any allocation, to_json either fails or produces the
 * whole record: a record missing "original", "applied" or "pending" would
 * be written to the API as if complete and make every later step fail to
 * read it (or forget what was applied).
 */
static void test_to_json_out_of_memory_is_all_or_nothing(void **state)
{
    (void)state;
    struct k8s_error err;
    struct quay_state *s = sample_state();
    cJSON *want = NULL;
    assert_int_equal(quay_state_to_json(s, &want, &err), 0);
    for (alloc_fail_at = 1;; alloc_fail_at++) {
        cJSON_Hooks hooks = {failing_malloc, free};
        cJSON *got = NULL;
        alloc_count = 0;
        cJSON_InitHooks(&hooks);
        int rc = quay_state_to_json(s, &got, &err);
        cJSON_InitHooks(NULL);
        if (rc == 0) {
            if (!k8s_json_equal(got, want))
                fail_msg("allocation %ld failed: to_json succeeded with an incomplete record",
                         alloc_fail_at);
            cJSON_Delete(got);
        } else {
            assert_int_equal(rc, K8S_ENOMEM);
            assert_null(got);
        }
        if (alloc_count < alloc_fail_at)
            break; /* every allocation was tried */
    }
    cJSON_Delete(want);
    quay_state_free(s);
}

/* ---- against the simulator ---------------------------------------------------------- */

struct fixture {
    struct kubesim *sim;
    struct k8s_client *c;
};

static int group_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct kubesim_opts opts = {.exit_after_seconds = 300};
    struct k8s_config *cfg = NULL;
    struct k8s_error err;
    *state = f;
    if (!f || kubesim_start(&opts, &f->sim) != 0)
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

static cJSON *create_plain_secret(struct k8s_client *c, const char *name)
{
    struct k8s_error err;
    char body[512];
    cJSON *out = NULL;
    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"%s\","
             "\"namespace\":\"default\"},\"data\":{\"k\":\"dg==\"}}",
             name);
    cJSON *obj = cJSON_Parse(body);
    assert_int_equal(k8s_create(c, &SECRETS, "default", obj, NULL, &out, &err), 0);
    cJSON_Delete(obj);
    return out;
}

/* Create, read back, update with the precondition; a stale copy conflicts. */
static void test_record_in_the_api(void **state)
{
    struct fixture *f = *state;
    struct k8s_error err;
    cJSON *owner_obj = create_plain_secret(f->c, "quay-config");
    const char *uid = cJSON_GetStringValue(
        cJSON_GetObjectItem(cJSON_GetObjectItem(owner_obj, "metadata"), "uid"));
    struct quay_owner owner = {"v1", "Secret", "quay-config", uid};

    struct quay_state *s = quay_state_new(QUAY_TARGET_STANDALONE, "default", "quay-config", uid);
    s->original.present = 1;
    snprintf(s->original.name, sizeof(s->original.name), "quay-config");
    snprintf(s->original.sha, sizeof(s->original.sha), "%064d", 7);
    snprintf(s->base.name, sizeof(s->base.name), "quay-config-qso-backup-0000000000");
    snprintf(s->base.sha, sizeof(s->base.sha), "%064d", 7);
    s->base.is_original = 1;
    struct quay_overlay *o =
        quay_overlay_read_only_new("w", 5, "qk", "kid", PEM, strlen(PEM), &err);
    assert_int_equal(quay_state_put_overlay(s, o, &err), 0);
    quay_overlay_free(o);

    struct quay_state *none = NULL;
    assert_int_equal(
        quay_state_get(f->c, QUAY_TARGET_STANDALONE, "default", "quay-config", &none, &err),
        K8S_ENOTFOUND);
    assert_null(none);
    assert_int_equal(quay_state_create(f->c, s, &owner, &err), 0);
    assert_true(s->resource_version[0]);
    assert_int_equal(quay_state_create(f->c, s, &owner, &err), K8S_EALREADYEXISTS);

    /* Labels and owner as documented. */
    cJSON *obj = NULL;
    assert_int_equal(k8s_get(f->c, &SECRETS, "default", "qso-state-standalonequay-quay-config",
                             NULL, &obj, &err),
                     0);
    assert_true(quay_secret_has_role(obj, QUAY_ROLE_STATE));
    assert_true(quay_object_owned_by(obj, uid));
    cJSON_Delete(obj);

    struct quay_state *a = NULL, *b = NULL;
    assert_int_equal(
        quay_state_get(f->c, QUAY_TARGET_STANDALONE, "default", "quay-config", &a, &err), 0);
    assert_int_equal(
        quay_state_get(f->c, QUAY_TARGET_STANDALONE, "default", "quay-config", &b, &err), 0);
    assert_int_equal(a->noverlays, 1);
    assert_memory_equal(a->overlays[0]->pem, PEM, strlen(PEM));
    assert_string_equal(a->resource_version, s->resource_version);

    /* a writes first; b's copy is stale and must not overwrite a's write. */
    assert_int_equal(quay_state_remove_overlay(a, "w"), 1);
    assert_int_equal(quay_state_update(f->c, a, &err), 0);
    assert_string_not_equal(a->resource_version, b->resource_version);
    snprintf(b->base.name, sizeof(b->base.name), "stale-write");
    assert_int_equal(quay_state_update(f->c, b, &err), K8S_ECONFLICT);
    assert_non_null(strstr(err.message, "re-read"));

    struct quay_state *c = NULL;
    assert_int_equal(
        quay_state_get(f->c, QUAY_TARGET_STANDALONE, "default", "quay-config", &c, &err), 0);
    assert_int_equal(c->noverlays, 0);
    assert_string_equal(c->base.name, "quay-config-qso-backup-0000000000");

    /* Delete with the precondition: b's version is stale. */
    assert_int_equal(quay_state_delete(f->c, b, &err), K8S_ECONFLICT);
    assert_int_equal(quay_state_delete(f->c, c, &err), 0);
    quay_state_free(c);
    c = NULL;
    assert_int_equal(
        quay_state_get(f->c, QUAY_TARGET_STANDALONE, "default", "quay-config", &c, &err),
        K8S_ENOTFOUND);

    quay_state_free(a);
    quay_state_free(b);
    quay_state_free(s);
    cJSON_Delete(owner_obj);
}

/* A Secret of the record's name without our labels is never read as one. */
static void test_foreign_secret_is_not_a_record(void **state)
{
    struct fixture *f = *state;
    struct k8s_error err;
    struct quay_state *s = NULL;
    cJSON *o = create_plain_secret(f->c, "qso-state-quayregistry-foreign");
    assert_int_equal(quay_state_get(f->c, QUAY_TARGET_QUAYREGISTRY, "default", "foreign", &s, &err),
                     K8S_ECONFLICT);
    assert_null(s);
    assert_non_null(strstr(err.message, "not a quay-storage-operator state record"));
    cJSON_Delete(o);
}

int main(void)
{
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(test_json_round_trip_keeps_everything),
        cmocka_unit_test(test_put_overlay_replaces_same_window),
        cmocka_unit_test(test_newer_version_and_bad_records_refused),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_to_json_out_of_memory_is_all_or_nothing),
    };
    const struct CMUnitTest api[] = {
        cmocka_unit_test(test_record_in_the_api),
        cmocka_unit_test(test_foreign_secret_is_not_a_record),
    };
    int failed = cmocka_run_group_tests_name("quay_state", pure, NULL, NULL);
    failed += cmocka_run_group_tests_name("quay_state_api", api, group_setup, group_teardown);
    return failed;
}
