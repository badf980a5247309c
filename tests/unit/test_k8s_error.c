/*
 * Tests of the error convention (k8s_error.c: decoding API Status bodies into
 * typed errors, names, retryability) and of the bounded growable buffer
 * (k8s_buf.c).
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "k8s_buf.h"
#include "k8s_error.h"

static int decode(struct k8s_error *err, long status, const char *body)
{
    return k8s_error_from_response(err, status, body, body ? strlen(body) : 0);
}

/* ---- k8s_error ----------------------------------------------------------- */

static void test_status_body_is_decoded_whole(void **state)
{
    (void)state;
    struct k8s_error err;
    const char *body =
        "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
        "\"message\":\"StorageMigration.quay.redhat.com \\\"m\\\" is invalid: "
        "spec.destination.driver: Unsupported value\",\"reason\":\"Invalid\","
        "\"details\":{\"name\":\"m\",\"group\":\"quay.redhat.com\",\"kind\":\"StorageMigration\","
        "\"causes\":[{\"reason\":\"FieldValueNotSupported\",\"message\":\"Unsupported value: "
        "\\\"ftp\\\"\",\"field\":\"spec.destination.driver\"},{\"reason\":\"FieldValueRequired\","
        "\"field\":\"spec.source\"}]},\"code\":422}";
    assert_int_equal(decode(&err, 422, body), K8S_EINVALID);
    assert_int_equal(err.code, K8S_EINVALID);
    assert_int_equal(err.http_status, 422);
    assert_string_equal(err.reason, "Invalid");
    assert_string_equal(err.message, "StorageMigration.quay.redhat.com \"m\" is invalid: "
                                     "spec.destination.driver: Unsupported value");
    assert_int_equal(err.ncauses, 2);
    assert_string_equal(err.causes[0].field, "spec.destination.driver");
    assert_string_equal(err.causes[0].reason, "FieldValueNotSupported");
    assert_string_equal(err.causes[0].message, "Unsupported value: \"ftp\"");
    assert_string_equal(err.causes[1].field, "spec.source");
    assert_string_equal(err.causes[1].message, "");
    assert_int_equal(err.retry_after_seconds, 0);
}

static void test_prefix_keeps_what_the_server_said(void **state)
{
    (void)state;
    struct k8s_error err;
    const char *body = "{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":\"Secret "
                       "\\\"s\\\" is invalid: data: Too long\",\"reason\":\"Invalid\","
                       "\"details\":{\"causes\":[{\"reason\":\"FieldValueTooLong\","
                       "\"field\":\"data\"}]},\"code\":422}";
    assert_int_equal(decode(&err, 422, body), K8S_EINVALID);
    assert_int_equal(k8s_error_prefix(&err, "the API server refused the state record %s/%s", "ns",
                                      "qso-state-x"),
                     K8S_EINVALID);
    assert_string_equal(err.message, "the API server refused the state record ns/qso-state-x: "
                                     "Secret \"s\" is invalid: data: Too long");
    assert_int_equal(err.http_status, 422);
    assert_string_equal(err.reason, "Invalid");
    assert_int_equal(err.ncauses, 1);
    assert_string_equal(err.causes[0].field, "data");
    /* A message at the limit: the context stays, the tail is cut, NUL-terminated. */
    memset(err.message, 'm', sizeof(err.message) - 1);
    err.message[sizeof(err.message) - 1] = '\0';
    k8s_error_prefix(&err, "context");
    assert_int_equal(strlen(err.message), sizeof(err.message) - 1);
    assert_memory_equal(err.message, "context: mmm", 12);
    assert_int_equal(k8s_error_prefix(NULL, "x"), 0);
}

static void test_reason_decides_between_conflict_and_already_exists(void **state)
{
    (void)state;
    struct k8s_error err;
    assert_int_equal(decode(&err, 409,
                            "{\"kind\":\"Status\",\"reason\":\"AlreadyExists\",\"message\":"
                            "\"configmaps \\\"x\\\" already exists\",\"code\":409}"),
                     K8S_EALREADYEXISTS);
    assert_string_equal(err.reason, "AlreadyExists");
    assert_int_equal(decode(&err, 409,
                            "{\"kind\":\"Status\",\"reason\":\"Conflict\",\"message\":"
                            "\"the object has been modified\",\"code\":409}"),
                     K8S_ECONFLICT);
    /* 409 with no reason is a conflict. */
    assert_int_equal(decode(&err, 409, "{\"kind\":\"Status\"}"), K8S_ECONFLICT);
    assert_string_equal(err.reason, "Conflict");
    /* 410 Expired and Gone are both "relist". */
    assert_int_equal(decode(&err, 410, "{\"kind\":\"Status\",\"reason\":\"Expired\"}"), K8S_EGONE);
    assert_int_equal(decode(&err, 410, "{\"kind\":\"Status\",\"reason\":\"Gone\"}"), K8S_EGONE);
    /* 504 and a Timeout reason on a 500. */
    assert_int_equal(decode(&err, 500, "{\"kind\":\"Status\",\"reason\":\"Timeout\"}"),
                     K8S_ESERVERTIMEOUT);
}

static void test_retry_after_and_too_many_causes(void **state)
{
    (void)state;
    struct k8s_error err;
    assert_int_equal(decode(&err, 429,
                            "{\"kind\":\"Status\",\"reason\":\"TooManyRequests\","
                            "\"details\":{\"retryAfterSeconds\":7}}"),
                     K8S_ETOOMANYREQUESTS);
    assert_int_equal(err.retry_after_seconds, 7);
    assert_true(k8s_error_is_retryable(&err));
    /* Negative or absent hints are ignored. */
    decode(&err, 429, "{\"kind\":\"Status\",\"details\":{\"retryAfterSeconds\":-3}}");
    assert_int_equal(err.retry_after_seconds, 0);

    /* More causes than K8S_MAX_CAUSES: the first ones are kept. */
    char body[8192];
    size_t o = (size_t)snprintf(body, sizeof(body),
                                "{\"kind\":\"Status\",\"reason\":\"Invalid\",\"details\":"
                                "{\"causes\":[");
    for (int i = 0; i < 40; i++)
        o += (size_t)snprintf(body + o, sizeof(body) - o, "%s{\"field\":\"f%d\"}", i ? "," : "", i);
    snprintf(body + o, sizeof(body) - o, "]}}");
    assert_int_equal(decode(&err, 422, body), K8S_EINVALID);
    assert_int_equal(err.ncauses, K8S_MAX_CAUSES);
    assert_string_equal(err.causes[0].field, "f0");
    assert_string_equal(err.causes[K8S_MAX_CAUSES - 1].field, "f15");
}

static void test_huge_retry_after_is_not_negative(void **state)
{
    (void)state;
    /* A hostile hint is clamped (to a day), never converted with overflow. */
    struct k8s_error err;
    decode(&err, 429, "{\"kind\":\"Status\",\"details\":{\"retryAfterSeconds\":1e300}}");
    assert_true(err.retry_after_seconds > 0);
}

static void test_non_status_bodies(void **state)
{
    (void)state;
    struct k8s_error err;
    /* A proxy's HTML page: code from the status, message from the body. */
    assert_int_equal(decode(&err, 502, "<html><body>Bad Gateway</body></html>"), K8S_EHTTP);
    assert_int_equal(err.http_status, 502);
    assert_string_equal(err.message, "HTTP 502: <html><body>Bad Gateway</body></html>");
    assert_string_equal(err.reason, "HTTPError");
    assert_true(k8s_error_is_retryable(&err));
    /* JSON that is not a Status. */
    assert_int_equal(decode(&err, 404, "{\"error\":\"nope\"}"), K8S_ENOTFOUND);
    assert_string_equal(err.reason, "NotFound");
    assert_string_equal(err.message, "HTTP 404: {\"error\":\"nope\"}");
    /* No body at all. */
    assert_int_equal(decode(&err, 503, NULL), K8S_ESERVICEUNAVAILABLE);
    assert_string_equal(err.message, "HTTP 503 with an empty body");
    assert_int_equal(k8s_error_from_response(&err, 500, "", 0), K8S_EINTERNAL);
    /* Only the first 200 bytes of a long body. */
    char big[1000];
    memset(big, 'b', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    decode(&err, 500, big);
    assert_int_equal(strlen(err.message), strlen("HTTP 500: ") + 200);
    /* The body need not be NUL-terminated: the length is honoured. */
    const char raw[] = {'o', 'o', 'p', 's', 'X', 'X'};
    k8s_error_from_response(&err, 418, raw, 4);
    assert_string_equal(err.message, "HTTP 418: oops");
    assert_int_equal(err.code, K8S_EHTTP);
    /* A NULL err is allowed: only the code comes back. */
    assert_int_equal(k8s_error_from_response(NULL, 403, "{\"kind\":\"Status\"}", 17),
                     K8S_EFORBIDDEN);
}

static void test_long_status_fields_are_truncated_safely(void **state)
{
    (void)state;
    struct k8s_error err;
    size_t n = 5000;
    char *body = malloc(n + 256);
    int o = snprintf(body, 256, "{\"kind\":\"Status\",\"reason\":\"");
    memset(body + o, 'r', 100);
    o += 100;
    o += snprintf(body + o, 256, "\",\"message\":\"");
    memset(body + o, 'm', 3000);
    o += 3000;
    snprintf(body + o, 256, "\",\"details\":{\"causes\":[{\"field\":\"%s\"}]}}", "f");
    decode(&err, 400, body);
    assert_int_equal(strlen(err.reason), sizeof(err.reason) - 1);
    assert_int_equal(strlen(err.message), sizeof(err.message) - 1);
    /* A reason nobody knows falls back to the HTTP status. */
    assert_int_equal(err.code, K8S_EBADREQUEST);
    free(body);
}

static void test_errcode_for_every_status(void **state)
{
    (void)state;
    static const struct {
        long status;
        int code;
    } cases[] = {
        {200, K8S_OK},
        {201, K8S_OK},
        {204, K8S_OK},
        {400, K8S_EBADREQUEST},
        {401, K8S_EUNAUTHORIZED},
        {403, K8S_EFORBIDDEN},
        {404, K8S_ENOTFOUND},
        {405, K8S_EMETHOD},
        {409, K8S_ECONFLICT},
        {410, K8S_EGONE},
        {415, K8S_EUNSUPPORTEDMEDIA},
        {422, K8S_EINVALID},
        {429, K8S_ETOOMANYREQUESTS},
        {500, K8S_EINTERNAL},
        {503, K8S_ESERVICEUNAVAILABLE},
        {504, K8S_ESERVERTIMEOUT},
        {301, K8S_EHTTP},
        {413, K8S_EHTTP},
        {502, K8S_EHTTP},
        {0, K8S_EHTTP},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (k8s_errcode_for(cases[i].status, NULL) != cases[i].code)
            fail_msg("status %ld", cases[i].status);
        assert_int_equal(k8s_errcode_for(cases[i].status, ""), cases[i].code);
    }
    /* The reason wins over the status. */
    assert_int_equal(k8s_errcode_for(500, "NotFound"), K8S_ENOTFOUND);
    assert_int_equal(k8s_errcode_for(400, "UnknownReason"), K8S_EBADREQUEST);
    assert_int_equal(k8s_errcode_for(0, "ServiceUnavailable"), K8S_ESERVICEUNAVAILABLE);
}

static void test_names_are_stable_and_distinct(void **state)
{
    (void)state;
    for (int a = K8S_ESTOPPED; a <= K8S_OK; a++) {
        assert_string_not_equal(k8s_err_name(a), "Unknown");
        for (int b = K8S_ESTOPPED; b < a; b++)
            assert_string_not_equal(k8s_err_name(a), k8s_err_name(b));
    }
    assert_string_equal(k8s_err_name(K8S_ENOTFOUND), "NotFound");
    assert_string_equal(k8s_err_name(K8S_EGONE), "Expired");
    assert_string_equal(k8s_err_name(K8S_ETRANSPORT), "TransportError");
    assert_string_equal(k8s_err_name(-999), "Unknown");
    assert_string_equal(k8s_err_name(5), "Unknown");
}

static void test_retryable(void **state)
{
    (void)state;
    struct k8s_error err;
    static const int yes[] = {K8S_ETOOMANYREQUESTS, K8S_EINTERNAL, K8S_ESERVICEUNAVAILABLE,
                              K8S_ESERVERTIMEOUT, K8S_ETRANSPORT};
    static const int no[] = {K8S_OK,         K8S_ENOTFOUND, K8S_ECONFLICT, K8S_EINVALID,
                             K8S_EFORBIDDEN, K8S_EGONE,     K8S_ETLS,      K8S_EDECODE};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        k8s_error_set(&err, yes[i], "x");
        assert_true(k8s_error_is_retryable(&err));
    }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        k8s_error_set(&err, no[i], "x");
        assert_false(k8s_error_is_retryable(&err));
    }
    k8s_error_set(&err, K8S_EHTTP, "x");
    err.http_status = 418;
    assert_false(k8s_error_is_retryable(&err));
    err.http_status = 502;
    assert_true(k8s_error_is_retryable(&err));
}

static void test_set_and_clear(void **state)
{
    (void)state;
    struct k8s_error err;
    memset(&err, 0x5a, sizeof(err));
    k8s_error_clear(&err);
    assert_int_equal(err.code, K8S_OK);
    assert_int_equal(err.http_status, 0);
    assert_string_equal(err.message, "");
    assert_int_equal(err.ncauses, 0);
    k8s_error_clear(NULL);

    decode(&err, 422, "{\"kind\":\"Status\",\"reason\":\"Invalid\",\"details\":{\"causes\":[{}]}}");
    /* set clears what was there before. */
    assert_int_equal(k8s_error_set(&err, K8S_EARG, "bad %s %d", "thing", 42), K8S_EARG);
    assert_int_equal(err.code, K8S_EARG);
    assert_string_equal(err.message, "bad thing 42");
    assert_string_equal(err.reason, "InvalidArgument");
    assert_int_equal(err.http_status, 0);
    assert_int_equal(err.ncauses, 0);
    assert_int_equal(k8s_error_set(NULL, K8S_EIO, "no err"), K8S_EIO);
    /* A message longer than the field is cut, still terminated. */
    char big[3000];
    memset(big, 'z', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    k8s_error_set(&err, K8S_EDECODE, "%s", big);
    assert_int_equal(strlen(err.message), sizeof(err.message) - 1);
}

/* ---- k8s_buf ------------------------------------------------------------- */

static void test_buf_append_and_terminate(void **state)
{
    (void)state;
    struct k8s_buf b;
    k8s_buf_init(&b, 1 << 20);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(k8s_buf_append(&b, "hello", 5), 0);
    assert_int_equal(b.len, 5);
    assert_string_equal(b.data, "hello");
    assert_int_equal(k8s_buf_appendf(&b, " %s %d", "world", 7), 0);
    assert_string_equal(b.data, "hello world 7");
    assert_int_equal(b.len, 13);
    /* Zero-length appends are fine, even from NULL. */
    assert_int_equal(k8s_buf_append(&b, NULL, 0), 0);
    assert_int_equal(k8s_buf_appendf(&b, "%s", ""), 0);
    assert_int_equal(b.len, 13);
    /* Many appends: contents intact across reallocations. */
    for (int i = 0; i < 10000; i++)
        assert_int_equal(k8s_buf_appendf(&b, "%04d", i % 10000), 0);
    assert_int_equal(b.len, 13 + 40000);
    assert_memory_equal(b.data + 13 + 4 * 9999, "9999", 4);
    assert_int_equal(b.data[b.len], '\0');
    assert_true(b.cap >= b.len + 1);
    k8s_buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    k8s_buf_free(&b);
}

static void test_buf_maximum_is_hard(void **state)
{
    (void)state;
    struct k8s_buf b;
    k8s_buf_init(&b, 10);
    assert_int_equal(k8s_buf_append(&b, "0123456789", 10), 0);
    assert_int_equal(b.cap, 11);
    /* One byte over: refused, and the buffer is unchanged. */
    assert_int_equal(k8s_buf_append(&b, "x", 1), K8S_ENOMEM);
    assert_int_equal(b.len, 10);
    assert_string_equal(b.data, "0123456789");
    assert_int_equal(k8s_buf_appendf(&b, "%d", 1), K8S_ENOMEM);
    assert_string_equal(b.data, "0123456789");
    /* An append that overflows size_t arithmetic is refused too. */
    assert_int_equal(k8s_buf_append(&b, "x", SIZE_MAX), K8S_ENOMEM);
    k8s_buf_consume(&b, 4);
    assert_int_equal(k8s_buf_appendf(&b, "%s", "abcd"), 0);
    assert_string_equal(b.data, "456789abcd");
    assert_int_equal(k8s_buf_appendf(&b, "%s", "e"), K8S_ENOMEM);
    k8s_buf_free(&b);

    /* A zero maximum holds only the empty string. */
    k8s_buf_init(&b, 0);
    assert_int_equal(k8s_buf_append(&b, "", 0), 0);
    assert_string_equal(b.data, "");
    assert_int_equal(k8s_buf_append(&b, "a", 1), K8S_ENOMEM);
    k8s_buf_free(&b);

    /* A large maximum never allocates more than it needs plus doubling. */
    k8s_buf_init(&b, (size_t)1 << 40);
    assert_int_equal(k8s_buf_append(&b, "abc", 3), 0);
    assert_true(b.cap <= 256);
    k8s_buf_free(&b);
}

static void test_buf_consume_reset_take(void **state)
{
    (void)state;
    struct k8s_buf b;
    k8s_buf_init(&b, 100);
    k8s_buf_append(&b, "abcdef", 6);
    k8s_buf_consume(&b, 2);
    assert_string_equal(b.data, "cdef");
    assert_int_equal(b.len, 4);
    k8s_buf_consume(&b, 0);
    assert_string_equal(b.data, "cdef");
    k8s_buf_consume(&b, 99);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    k8s_buf_append(&b, "xyz", 3);
    size_t cap = b.cap;
    k8s_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    assert_int_equal(b.cap, cap);
    k8s_buf_append(&b, "taken", 5);
    size_t len = 0;
    char *p = k8s_buf_take(&b, &len);
    assert_string_equal(p, "taken");
    assert_int_equal(len, 5);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    free(p);
    /* Taking from an empty buffer gives an empty string, not NULL. */
    p = k8s_buf_take(&b, NULL);
    assert_non_null(p);
    assert_string_equal(p, "");
    free(p);
    /* Consume and reset on a never-used buffer are harmless. */
    k8s_buf_consume(&b, 3);
    k8s_buf_reset(&b);
    assert_null(b.data);
    /* The buffer is reusable after take. */
    assert_int_equal(k8s_buf_append(&b, "again", 5), 0);
    assert_string_equal(b.data, "again");
    k8s_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_body_is_decoded_whole),
        cmocka_unit_test(test_prefix_keeps_what_the_server_said),
        cmocka_unit_test(test_reason_decides_between_conflict_and_already_exists),
        cmocka_unit_test(test_retry_after_and_too_many_causes),
        cmocka_unit_test(test_huge_retry_after_is_not_negative),
        cmocka_unit_test(test_non_status_bodies),
        cmocka_unit_test(test_long_status_fields_are_truncated_safely),
        cmocka_unit_test(test_errcode_for_every_status),
        cmocka_unit_test(test_names_are_stable_and_distinct),
        cmocka_unit_test(test_retryable),
        cmocka_unit_test(test_set_and_clear),
        cmocka_unit_test(test_buf_append_and_terminate),
        cmocka_unit_test(test_buf_maximum_is_hard),
        cmocka_unit_test(test_buf_consume_reset_take),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
