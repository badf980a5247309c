/*
 * Tests of the metav1.Condition helpers (controller/ctl_conditions.c):
 * lastTransitionTime moves only when status changes, reason/message/
 * observedGeneration always follow, "changed" is exact (so a reconciler can
 * skip a no-op status write), field validation as the API server's plus
 * CamelCase reasons, and the summary Ready with polarity and optional inputs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_conditions.h"

/* 2026-01-02T03:04:05Z */
#define T0 1767323045000LL

static const char *field(const cJSON *status, const char *type, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(ctl_condition_find(status, type), key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double gen(const cJSON *status, const char *type)
{
    const cJSON *v =
        cJSON_GetObjectItemCaseSensitive(ctl_condition_find(status, type), "observedGeneration");
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static void test_transition_time_changes_only_with_status(void **state)
{
    (void)state;
    struct k8s_error err;
    cJSON *st = cJSON_CreateObject();
    int changed = -1;
    struct ctl_condition c = {"Synced", CTL_COND_FALSE, "Copying", "pass 1 of 2 running", 3};

    assert_int_equal(ctl_condition_set(st, &c, T0, &changed, &err), 0);
    assert_int_equal(changed, 1);
    assert_string_equal(field(st, "Synced", "lastTransitionTime"), "2026-01-02T03:04:05Z");
    assert_string_equal(field(st, "Synced", "status"), "False");

    /* Same everything, later: nothing changes, not even the time. */
    assert_int_equal(ctl_condition_set(st, &c, T0 + 60000, &changed, &err), 0);
    assert_int_equal(changed, 0);
    assert_string_equal(field(st, "Synced", "lastTransitionTime"), "2026-01-02T03:04:05Z");

    /* New reason, message and generation, same status: updated, time kept. */
    c.reason = "CopyingDelta";
    c.message = "pass 2 of 2 running";
    c.observed_generation = 4;
    assert_int_equal(ctl_condition_set(st, &c, T0 + 120000, &changed, &err), 0);
    assert_int_equal(changed, 1);
    assert_string_equal(field(st, "Synced", "reason"), "CopyingDelta");
    assert_string_equal(field(st, "Synced", "message"), "pass 2 of 2 running");
    assert_true(gen(st, "Synced") == 4);
    assert_true(ctl_condition_is_current(st, "Synced", 4));
    assert_false(ctl_condition_is_current(st, "Synced", 5));
    assert_string_equal(field(st, "Synced", "lastTransitionTime"), "2026-01-02T03:04:05Z");

    /* Status change: the time moves. */
    c.status = CTL_COND_TRUE;
    c.reason = "Synced";
    c.message = "";
    assert_int_equal(ctl_condition_set(st, &c, T0 + 180000, &changed, &err), 0);
    assert_int_equal(changed, 1);
    assert_string_equal(field(st, "Synced", "lastTransitionTime"), "2026-01-02T03:07:05Z");
    assert_true(ctl_condition_is_true(st, "Synced"));
    assert_false(ctl_condition_is_false(st, "Synced"));
    assert_string_equal(field(st, "Synced", "message"), "");

    /* Other conditions are appended, order kept. */
    struct ctl_condition d = {"Degraded", CTL_COND_FALSE, "AsExpected", "", 4};
    assert_int_equal(ctl_condition_set(st, &d, T0, &changed, &err), 0);
    cJSON *conds = cJSON_GetObjectItemCaseSensitive(st, "conditions");
    assert_int_equal(cJSON_GetArraySize(conds), 2);
    assert_string_equal(cJSON_GetArrayItem(conds, 0)->child->valuestring, "Synced");
    assert_int_equal(ctl_condition_remove(st, "Synced"), 1);
    assert_int_equal(ctl_condition_remove(st, "Synced"), 0);
    assert_null(ctl_condition_find(st, "Synced"));
    assert_null(ctl_condition_status(st, "Synced"));
    assert_int_equal(cJSON_GetArraySize(conds), 1);
    cJSON_Delete(st);
}

static void test_validation_names_the_field(void **state)
{
    (void)state;
    struct k8s_error err;
    cJSON *st = cJSON_CreateObject();
    struct ctl_condition c = {"Ready", CTL_COND_TRUE, "AllGood", "", 1};

    c.reason = "notCamel";
    assert_int_equal(ctl_condition_set(st, &c, T0, NULL, &err), K8S_EINVALID);
    assert_non_null(strstr(err.message, "CamelCase"));
    c.reason = "Has Space";
    assert_int_equal(ctl_condition_set(st, &c, T0, NULL, &err), K8S_EINVALID);
    c.reason = "";
    assert_int_equal(ctl_condition_set(st, &c, T0, NULL, &err), K8S_EINVALID);
    c.reason = "TrailingColon:";
    assert_int_equal(ctl_condition_set(st, &c, T0, NULL, &err), K8S_EINVALID);
    c.reason = "Ok_With,Punct:Ok";
    assert_int_equal(ctl_condition_set(st, &c, T0, NULL, &err), 0);

    c.status = "true";
    assert_int_equal(ctl_condition_set(st, &c, T0, NULL, &err), K8S_EINVALID);
    assert_non_null(strstr(err.message, "True, False or Unknown"));
    c.status = CTL_COND_UNKNOWN;

    c.type = "bad type";
    assert_int_equal(ctl_condition_set(st, &c, T0, NULL, &err), K8S_EINVALID);
    assert_non_null(strstr(err.message, "bad type"));
    c.type = "quaystorage.io/CutOver";
    assert_int_equal(ctl_condition_set(st, &c, T0, NULL, &err), 0);
    c.type = "Bad.Prefix/CutOver";
    assert_int_equal(ctl_condition_set(st, &c, T0, NULL, &err), K8S_EINVALID);
    c.type = "Ready";

    c.observed_generation = -1;
    assert_int_equal(ctl_condition_set(st, &c, T0, NULL, &err), K8S_EINVALID);
    c.observed_generation = 1;

    char *big = malloc(CTL_COND_MAX_MESSAGE + 2);
    memset(big, 'x', CTL_COND_MAX_MESSAGE + 1);
    big[CTL_COND_MAX_MESSAGE + 1] = '\0';
    c.message = big;
    assert_int_equal(ctl_condition_set(st, &c, T0, NULL, &err), K8S_EINVALID);
    big[CTL_COND_MAX_MESSAGE] = '\0';
    assert_int_equal(ctl_condition_set(st, &c, T0, NULL, &err), 0);
    c.message = "";
    free(big);

    /* A status whose conditions is not a list is refused, not overwritten. */
    cJSON *bad = cJSON_Parse("{\"conditions\":{}}");
    assert_int_equal(ctl_condition_set(bad, &c, T0, NULL, &err), K8S_EINVALID);
    cJSON_Delete(bad);
    cJSON_Delete(st);
}

static void set(cJSON *st, const char *type, const char *status, const char *reason,
                const char *msg)
{
    struct k8s_error err;
    struct ctl_condition c = {type, status, reason, msg, 2};
    assert_int_equal(ctl_condition_set(st, &c, T0, NULL, &err), 0);
}

static const struct ctl_condition_dep deps[] = {
    {"SourceReachable", 0, 0},
    {"DestinationReachable", 0, 0},
    {"Degraded", 1, 1},
};

static void summarize(cJSON *st, int64_t now, int *changed)
{
    struct k8s_error err;
    assert_int_equal(ctl_conditions_summarize(st, "Ready", deps, 3, "Ready",
                                              "the migration is on track", 2, now, changed, &err),
                     0);
}

static void test_ready_summary(void **state)
{
    (void)state;
    cJSON *st = cJSON_CreateObject();
    int changed;

    /* Nothing reported yet: Unknown, waiting for the first input. */
    summarize(st, T0, &changed);
    assert_string_equal(field(st, "Ready", "status"), "Unknown");
    assert_string_equal(field(st, "Ready", "reason"), "Pending");
    assert_string_equal(field(st, "Ready", "message"), "waiting for SourceReachable");

    set(st, "SourceReachable", CTL_COND_TRUE, "Listed", "");
    set(st, "DestinationReachable", CTL_COND_UNKNOWN, "Probing", "writing a probe key");
    summarize(st, T0, &changed);
    assert_string_equal(field(st, "Ready", "status"), "Unknown");
    assert_string_equal(field(st, "Ready", "reason"), "Probing");
    assert_string_equal(field(st, "Ready", "message"), "DestinationReachable: writing a probe key");

    /* All healthy; Degraded is optional (absent counts as fine). */
    set(st, "DestinationReachable", CTL_COND_TRUE, "ProbeWritten", "");
    summarize(st, T0 + 1000, &changed);
    assert_int_equal(changed, 1);
    assert_true(ctl_condition_is_true(st, "Ready"));
    assert_string_equal(field(st, "Ready", "reason"), "Ready");
    assert_string_equal(field(st, "Ready", "lastTransitionTime"), "2026-01-02T03:04:06Z");
    summarize(st, T0 + 5000, &changed);
    assert_int_equal(changed, 0);

    /* Negative polarity: Degraded=True makes Ready False with its reason. */
    set(st, "Degraded", CTL_COND_TRUE, "ConfigChangedExternally",
        "the bundle was edited outside the operator");
    summarize(st, T0 + 9000, &changed);
    assert_int_equal(changed, 1);
    assert_true(ctl_condition_is_false(st, "Ready"));
    assert_string_equal(field(st, "Ready", "reason"), "ConfigChangedExternally");
    assert_string_equal(field(st, "Ready", "message"),
                        "Degraded: the bundle was edited outside the operator");
    assert_string_equal(field(st, "Ready", "lastTransitionTime"), "2026-01-02T03:04:14Z");

    /* A False positive-polarity input wins over a later Unknown. */
    set(st, "Degraded", CTL_COND_FALSE, "AsExpected", "");
    set(st, "SourceReachable", CTL_COND_FALSE, "ListFailed", "");
    set(st, "DestinationReachable", CTL_COND_UNKNOWN, "Probing", "");
    summarize(st, T0 + 9000, &changed);
    assert_true(ctl_condition_is_false(st, "Ready"));
    assert_string_equal(field(st, "Ready", "reason"), "ListFailed");
    assert_string_equal(field(st, "Ready", "message"), "SourceReachable is False");
    assert_true(gen(st, "Ready") == 2);
    cJSON_Delete(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transition_time_changes_only_with_status),
        cmocka_unit_test(test_validation_names_the_field),
        cmocka_unit_test(test_ready_summary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
