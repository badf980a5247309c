/*
 * The service-key Job (quay/quay_keyjob.c): deterministic names that follow
 * the script, the password only in the Secret (never the Job, its command
 * or env, nor the ConfigMap), a locked-down pod, owner references, and the
 * outcome read the way a v1.32 Job controller reports it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "k8s_patch.h"
#include "quay_keyjob.h"

#define PASSWORD "s3cr3t-Pa55"

static struct quay_keyjob_spec spec(const char *sql)
{
    struct quay_keyjob_spec s = {
        .namespace = "registry",
        .window_name = "nightly-backup",
        .window_uid = "0b5c1e8e-7a52-4c43-9a56-4c1f2b9a0e11",
        .op = QUAY_KEYJOB_REGISTER,
        .image = "quay.io/projectquay/quay:3.13.3",
        .sql = sql,
        .pg_service = "[quay]\nhost=db\nuser=quay\npassword=" PASSWORD "\n",
    };
    return s;
}

static char *text(const cJSON *o)
{
    size_t len;
    char *t = k8s_json_print(o, &len);
    assert_non_null(t);
    return t;
}

static void names_follow_the_script(void **state)
{
    struct quay_keyjob a, b, c;
    struct k8s_error err = {0};
    struct quay_keyjob_spec s = spec("BEGIN; SELECT 1; COMMIT;");
    (void)state;
    assert_int_equal(quay_keyjob_build(&s, &a, &err), 0);
    assert_int_equal(quay_keyjob_build(&s, &b, &err), 0);
    assert_string_equal(a.name, b.name);
    assert_int_equal(strncmp(a.name, "qso-sk-register-", 16), 0);
    assert_int_equal(strlen(a.name), 26);
    s.sql = "BEGIN; SELECT 2; COMMIT;";
    assert_int_equal(quay_keyjob_build(&s, &c, &err), 0);
    assert_string_not_equal(a.name, c.name);
    /* The password takes no part in the name. */
    s = spec("BEGIN; SELECT 1; COMMIT;");
    s.pg_service = "[quay]\npassword=other\n";
    quay_keyjob_clear(&c);
    assert_int_equal(quay_keyjob_build(&s, &c, &err), 0);
    assert_string_equal(a.name, c.name);
    quay_keyjob_clear(&a);
    quay_keyjob_clear(&b);
    quay_keyjob_clear(&c);
}

static void password_only_in_the_secret(void **state)
{
    struct quay_keyjob kj;
    struct k8s_error err = {0};
    struct quay_keyjob_spec s = spec("BEGIN; SELECT 1; COMMIT;");
    char *job, *cm, *sec;
    (void)state;
    assert_int_equal(quay_keyjob_build(&s, &kj, &err), 0);
    job = text(kj.job);
    cm = text(kj.config_map);
    sec = text(kj.secret);
    assert_null(strstr(job, PASSWORD));
    assert_null(strstr(cm, PASSWORD));
    assert_non_null(strstr(sec, PASSWORD));
    assert_non_null(strstr(cm, "SELECT 1"));
    free(job);
    free(cm);
    free(sec);
    quay_keyjob_clear(&kj);
}

static const cJSON *at(const cJSON *doc, const char *pointer)
{
    const cJSON *v = k8s_json_pointer_get(doc, pointer);
    if (!v)
        fail_msg("%s is missing", pointer);
    return v;
}

static void pod_is_locked_down(void **state)
{
    struct quay_keyjob kj;
    struct k8s_error err = {0};
    struct quay_keyjob_spec s = spec("BEGIN; COMMIT;");
    const cJSON *cmd;
    (void)state;
    assert_int_equal(quay_keyjob_build(&s, &kj, &err), 0);
    assert_true(cJSON_IsFalse(at(kj.job, "/spec/template/spec/automountServiceAccountToken")));
    assert_true(cJSON_IsFalse(at(kj.job, "/spec/template/spec/enableServiceLinks")));
    assert_string_equal(at(kj.job, "/spec/template/spec/restartPolicy")->valuestring, "Never");
    assert_true(cJSON_IsTrue(
        at(kj.job, "/spec/template/spec/containers/0/securityContext/readOnlyRootFilesystem")));
    assert_string_equal(
        at(kj.job, "/spec/template/spec/containers/0/securityContext/capabilities/drop/0")
            ->valuestring,
        "ALL");
    assert_string_equal(at(kj.job, "/spec/template/spec/containers/0/image")->valuestring, s.image);
    cmd = at(kj.job, "/spec/template/spec/containers/0/command");
    assert_string_equal(cJSON_GetArrayItem(cmd, 0)->valuestring, "psql");
    assert_string_equal(cJSON_GetArrayItem(cmd, 9)->valuestring, "/run/qso/sql/register.sql");
    assert_string_equal(at(kj.job, "/spec/template/spec/containers/0/env/0/value")->valuestring,
                        "/run/qso/db/pg_service.conf");
    assert_string_equal(at(kj.job, "/spec/template/spec/volumes/1/secret/secretName")->valuestring,
                        kj.name);
    assert_int_equal(at(kj.job, "/spec/template/spec/volumes/1/secret/defaultMode")->valueint,
                     0400);
    /* Owned by the window, which blocks its deletion until the Job is gone. */
    assert_string_equal(at(kj.job, "/metadata/ownerReferences/0/kind")->valuestring,
                        "ReadOnlyWindow");
    assert_string_equal(at(kj.secret, "/metadata/ownerReferences/0/uid")->valuestring,
                        s.window_uid);
    assert_string_equal(
        at(kj.job, "/spec/template/metadata/labels/app.kubernetes.io~1component")->valuestring,
        "service-key");
    quay_keyjob_clear(&kj);
}

static void missing_inputs_are_named(void **state)
{
    struct quay_keyjob kj;
    struct k8s_error err = {0};
    struct quay_keyjob_spec s = spec("BEGIN; COMMIT;");
    (void)state;
    s.image = "";
    assert_int_equal(quay_keyjob_build(&s, &kj, &err), K8S_EARG);
    assert_non_null(strstr(err.message, "image"));
    assert_null(kj.job);
    s = spec("BEGIN; COMMIT;");
    s.window_uid = NULL;
    assert_int_equal(quay_keyjob_build(&s, &kj, &err), K8S_EARG);
    assert_non_null(strstr(err.message, "uid"));
}

static void outcome_as_the_job_controller_reports(void **state)
{
    char msg[512];
    cJSON *running = cJSON_Parse("{\"metadata\":{\"name\":\"j\"},\"status\":{\"conditions\":["
                                 "{\"type\":\"FailureTarget\",\"status\":\"True\"}]}}");
    cJSON *done =
        cJSON_Parse("{\"status\":{\"conditions\":[{\"type\":\"SuccessCriteriaMet\","
                    "\"status\":\"True\"},{\"type\":\"Complete\",\"status\":\"True\"}]}}");
    cJSON *failed = cJSON_Parse(
        "{\"metadata\":{\"name\":\"qso-sk-register-0123456789\"},\"status\":{\"conditions\":["
        "{\"type\":\"FailureTarget\",\"status\":\"True\"},{\"type\":\"Failed\",\"status\":"
        "\"True\",\"reason\":\"BackoffLimitExceeded\",\"message\":\"Job has reached the "
        "specified backoff limit\"}]}}");
    cJSON *pods = cJSON_Parse(
        "[{\"status\":{\"containerStatuses\":[{\"state\":{\"terminated\":{\"exitCode\":3,"
        "\"message\":\"psql: ERROR:  relation \\\"servicekey\\\" does not exist\"}}}]}}]");
    (void)state;
    assert_int_equal(quay_keyjob_outcome(running, NULL, msg, sizeof(msg)), QUAY_KEYJOB_RUNNING);
    assert_int_equal(quay_keyjob_outcome(done, NULL, msg, sizeof(msg)), QUAY_KEYJOB_SUCCEEDED);
    assert_int_equal(quay_keyjob_outcome(failed, pods, msg, sizeof(msg)), QUAY_KEYJOB_FAILED);
    assert_non_null(strstr(msg, "BackoffLimitExceeded"));
    assert_non_null(strstr(msg, "relation \"servicekey\" does not exist"));
    cJSON_Delete(running);
    cJSON_Delete(done);
    cJSON_Delete(failed);
    cJSON_Delete(pods);
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
 * Out of memory at any allocation, the build either fails or yields exactly
 * the objects it yields with memory to spare: a Job whose pod silently lost
 * automountServiceAccountToken: false, its securityContext or its owner
 * reference must never reach the API server.
 */
static void out_of_memory_is_all_or_nothing(void **state)
{
    struct quay_keyjob want, got;
    struct k8s_error err = {0};
    struct quay_keyjob_spec s = spec("BEGIN; SELECT 1; COMMIT;");
    cJSON *pull = cJSON_Parse("[{\"name\":\"pull\"}]");
    (void)state;
    s.image_pull_secrets = pull;
    assert_int_equal(quay_keyjob_build(&s, &want, &err), 0);
    for (alloc_fail_at = 1;; alloc_fail_at++) {
        cJSON_Hooks hooks = {failing_malloc, free};
        alloc_count = 0;
        cJSON_InitHooks(&hooks);
        int rc = quay_keyjob_build(&s, &got, &err);
        cJSON_InitHooks(NULL);
        if (rc == 0) {
            if (!k8s_json_equal(got.job, want.job) ||
                !k8s_json_equal(got.config_map, want.config_map) ||
                !k8s_json_equal(got.secret, want.secret))
                fail_msg("allocation %ld failed: the build succeeded with incomplete objects",
                         alloc_fail_at);
            quay_keyjob_clear(&got);
        } else {
            assert_int_equal(rc, K8S_ENOMEM);
            assert_null(got.job);
            assert_null(got.secret);
            assert_null(got.config_map);
        }
        if (alloc_count < alloc_fail_at)
            break; /* every allocation was tried */
    }
    quay_keyjob_clear(&want);
    cJSON_Delete(pull);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(names_follow_the_script),
        cmocka_unit_test(password_only_in_the_secret),
        cmocka_unit_test(pod_is_locked_down),
        cmocka_unit_test(missing_inputs_are_named),
        cmocka_unit_test(outcome_as_the_job_controller_reports),
        cmocka_unit_test(out_of_memory_is_all_or_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
