/*
 * ReadOnlyWindow timing (controller/ctl_rw_schedule.c): start defaults to the
 * creation time, endTime vs durationSeconds (counted from activation), a
 * window whose end passed before activation is never activated, the
 * activation timeout, and every refusal names its field.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "ctl_clock.h"
#include "ctl_rw_schedule.h"

#define H (3600 * 1000LL)

static int64_t at(const char *rfc3339)
{
    int64_t ms = 0;
    assert_int_equal(ctl_clock_parse_rfc3339(rfc3339, &ms), 0);
    return ms;
}

static int times(const char *spec_json, int64_t created, struct ctl_rw_times *t,
                 struct k8s_error *err)
{
    cJSON *spec = cJSON_Parse(spec_json);
    int rc;
    assert_non_null(spec);
    rc = ctl_rw_times_from_spec(spec, created, t, err);
    cJSON_Delete(spec);
    return rc;
}

static void start_defaults_to_creation(void **state)
{
    struct ctl_rw_times t;
    struct k8s_error err = {0};
    int64_t next;
    (void)state;
    assert_int_equal(times("{\"mode\":\"ReadOnly\"}", at("2026-01-01T10:00:00Z"), &t, &err), 0);
    assert_int_equal(t.start_ms, at("2026-01-01T10:00:00Z"));
    assert_int_equal(t.end_ms, 0);
    assert_int_equal(t.activation_timeout_ms, 600 * 1000);
    /* No end: on for ever, nothing to requeue for. */
    assert_int_equal(ctl_rw_due(&t, at("2030-01-01T00:00:00Z"), 0, &next), CTL_RW_ON);
    assert_int_equal(next, 0);
}

static void fixed_window_phases(void **state)
{
    struct ctl_rw_times t;
    struct k8s_error err = {0};
    int64_t next, act = at("2026-01-01T10:00:05Z");
    (void)state;
    assert_int_equal(times("{\"startTime\":\"2026-01-01T10:00:00Z\","
                           "\"endTime\":\"2026-01-01T12:00:00Z\"}",
                           1, &t, &err),
                     0);
    assert_int_equal(ctl_rw_due(&t, at("2026-01-01T09:59:00Z"), 0, &next), CTL_RW_WAIT);
    assert_int_equal(next, at("2026-01-01T10:00:00Z"));
    assert_int_equal(ctl_rw_due(&t, at("2026-01-01T10:00:00Z"), 0, &next), CTL_RW_ON);
    assert_int_equal(next, at("2026-01-01T12:00:00Z"));
    assert_int_equal(ctl_rw_due(&t, at("2026-01-01T11:59:59Z"), act, &next), CTL_RW_ON);
    assert_int_equal(ctl_rw_due(&t, at("2026-01-01T12:00:00Z"), act, &next), CTL_RW_OVER);
    /* The operator was down for the whole window: it never switches on. */
    assert_int_equal(ctl_rw_due(&t, at("2026-01-01T12:00:01Z"), 0, &next), CTL_RW_MISSED);
}

static void duration_counts_from_activation(void **state)
{
    struct ctl_rw_times t;
    struct k8s_error err = {0};
    int64_t next, start = at("2026-01-01T10:00:00Z");
    (void)state;
    assert_int_equal(
        times("{\"startTime\":\"2026-01-01T10:00:00Z\",\"durationSeconds\":7200}", 1, &t, &err), 0);
    /* Planned from the start while not activated ... */
    assert_int_equal(ctl_rw_end(&t, 0), start + 2 * H);
    /* ... from activation once activated (a slow activation keeps its 2 h). */
    assert_int_equal(ctl_rw_end(&t, start + H / 2), start + 2 * H + H / 2);
    assert_int_equal(ctl_rw_due(&t, start + 2 * H + 1, start + H / 2, &next), CTL_RW_ON);
    assert_int_equal(next, start + 2 * H + H / 2);
    assert_int_equal(ctl_rw_due(&t, start + 2 * H, 0, &next), CTL_RW_MISSED);
}

static void activation_timeout(void **state)
{
    struct ctl_rw_times t;
    struct k8s_error err = {0};
    int64_t deadline;
    (void)state;
    assert_int_equal(times("{\"activationTimeoutSeconds\":30}", 1000, &t, &err), 0);
    assert_int_equal(ctl_rw_activation_timed_out(&t, 5000, 5000 + 29999, &deadline), 0);
    assert_int_equal(deadline, 35000);
    assert_int_equal(ctl_rw_activation_timed_out(&t, 5000, 35000, &deadline), 1);
}

static void refusals_name_the_field(void **state)
{
    static const struct {
        const char *spec;
        const char *field;
    } cases[] = {
        {"{\"startTime\":\"tomorrow\"}", "spec.startTime"},
        {"{\"endTime\":42}", "spec.endTime"},
        {"{\"startTime\":\"2026-01-01T10:00:00Z\",\"endTime\":\"2026-01-01T10:00:00Z\"}",
         "spec.endTime must be after"},
        {"{\"endTime\":\"2026-01-01T12:00:00Z\",\"durationSeconds\":600}", "mutually exclusive"},
        {"{\"durationSeconds\":59}", "spec.durationSeconds"},
        {"{\"durationSeconds\":1.5}", "spec.durationSeconds"},
        {"{\"activationTimeoutSeconds\":86401}", "spec.activationTimeoutSeconds"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct ctl_rw_times t;
        struct k8s_error err = {0};
        assert_int_equal(times(cases[i].spec, at("2026-01-01T09:00:00Z"), &t, &err), K8S_EINVALID);
        if (!strstr(err.message, cases[i].field))
            fail_msg("case %zu: message \"%s\" does not name \"%s\"", i, err.message,
                     cases[i].field);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(start_defaults_to_creation),      cmocka_unit_test(fixed_window_phases),
        cmocka_unit_test(duration_counts_from_activation), cmocka_unit_test(activation_timeout),
        cmocka_unit_test(refusals_name_the_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
