/*
 * Tests of k8s_patch: RFC 7386 merge patch (every Appendix A example and the
 * Section 3 example), merge-patch creation, RFC 6902 JSON patch (every
 * Appendix A example, errors included), RFC 6901 pointers, equality, the
 * apiserver-compatible mode, the integer-exact printer and the limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "k8s_patch.h"

static cJSON *J(const char *text)
{
    cJSON *j = cJSON_Parse(text);
    if (!j)
        fail_msg("test JSON does not parse: %s", text);
    return j;
}

/* Asserts that `got` equals the JSON text `want` (deep equality). */
static void assert_json(const cJSON *got, const char *want)
{
    cJSON *w = J(want);
    if (!k8s_json_equal(got, w)) {
        char *g = got ? k8s_json_print(got, NULL) : NULL;
        fail_msg("got %s, want %s", g ? g : "(null)", want);
    }
    cJSON_Delete(w);
}

/* ---- RFC 7386 ---------------------------------------------------------- */

static void merge_case(const char *target, const char *patch, const char *want)
{
    cJSON *t = J(target), *p = J(patch);
    char *t_before = k8s_json_print(t, NULL), *p_before = k8s_json_print(p, NULL);
    cJSON *r = k8s_merge_patch_apply(t, p);
    assert_non_null(r);
    assert_json(r, want);
    /* Inputs untouched. */
    char *t_after = k8s_json_print(t, NULL), *p_after = k8s_json_print(p, NULL);
    assert_string_equal(t_before, t_after);
    assert_string_equal(p_before, p_after);
    free(t_before);
    free(p_before);
    free(t_after);
    free(p_after);
    cJSON_Delete(r);
    cJSON_Delete(t);
    cJSON_Delete(p);
}

static void test_merge_patch_rfc7386_appendix_a(void **state)
{
    (void)state;
    merge_case("{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}");
    merge_case("{\"a\":\"b\"}", "{\"b\":\"c\"}", "{\"a\":\"b\",\"b\":\"c\"}");
    merge_case("{\"a\":\"b\"}", "{\"a\":null}", "{}");
    merge_case("{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}", "{\"b\":\"c\"}");
    merge_case("{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}");
    merge_case("{\"a\":\"c\"}", "{\"a\":[\"b\"]}", "{\"a\":[\"b\"]}");
    merge_case("{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}",
               "{\"a\":{\"b\":\"d\"}}");
    merge_case("{\"a\":[{\"b\":\"c\"}]}", "{\"a\":[1]}", "{\"a\":[1]}");
    merge_case("[\"a\",\"b\"]", "[\"c\",\"d\"]", "[\"c\",\"d\"]");
    merge_case("{\"a\":\"b\"}", "[\"c\"]", "[\"c\"]");
    merge_case("{\"a\":\"foo\"}", "null", "null");
    merge_case("{\"a\":\"foo\"}", "\"bar\"", "\"bar\"");
    merge_case("{\"e\":null}", "{\"a\":1}", "{\"e\":null,\"a\":1}");
    merge_case("[1,2]", "{\"a\":\"b\",\"c\":null}", "{\"a\":\"b\"}");
    merge_case("{}", "{\"a\":{\"bb\":{\"ccc\":null}}}", "{\"a\":{\"bb\":{}}}");
}

static void test_merge_patch_rfc7386_section3_example(void **state)
{
    (void)state;
    merge_case("{\"title\":\"Goodbye!\",\"author\":{\"givenName\":\"John\",\"familyName\":\"Doe\"},"
               "\"tags\":[\"example\",\"sample\"],\"content\":\"This will be unchanged\"}",
               "{\"title\":\"Hello!\",\"phoneNumber\":\"+01-123-456-7890\","
               "\"author\":{\"familyName\":null},\"tags\":[\"example\"]}",
               "{\"title\":\"Hello!\",\"author\":{\"givenName\":\"John\"},\"tags\":[\"example\"],"
               "\"content\":\"This will be unchanged\",\"phoneNumber\":\"+01-123-456-7890\"}");
}

static void test_merge_patch_absent_target_and_nulls_in_arrays(void **state)
{
    (void)state;
    cJSON *p = J("{\"a\":{\"b\":null,\"c\":[null,1]}}");
    cJSON *r = k8s_merge_patch_apply(NULL, p);
    /* Nulls in objects delete, nulls inside arrays are values. */
    assert_json(r, "{\"a\":{\"c\":[null,1]}}");
    cJSON_Delete(r);
    cJSON_Delete(p);
    /* Duplicate names in the target all go on null. */
    merge_case("{\"a\":1,\"a\":2,\"b\":3}", "{\"a\":null}", "{\"b\":3}");
}

/* create(from, to) applied to from gives to. */
static void diff_case(const char *from, const char *to, const char *want_patch)
{
    cJSON *f = J(from), *t = J(to);
    cJSON *p = k8s_merge_patch_create(f, t);
    assert_non_null(p);
    if (want_patch)
        assert_json(p, want_patch);
    cJSON *r = k8s_merge_patch_apply(f, p);
    assert_json(r, to);
    cJSON_Delete(r);
    cJSON_Delete(p);
    cJSON_Delete(f);
    cJSON_Delete(t);
}

static void test_merge_patch_create(void **state)
{
    (void)state;
    diff_case("{\"a\":1}", "{\"a\":1}", "{}");
    diff_case("{\"a\":1,\"b\":{\"x\":1,\"y\":2}}", "{\"b\":{\"y\":2,\"x\":1}, \"a\":1}", "{}");
    diff_case("{\"a\":1,\"b\":2}", "{\"a\":1}", "{\"b\":null}");
    diff_case("{\"a\":1}", "{\"a\":2,\"c\":[1,2]}", "{\"a\":2,\"c\":[1,2]}");
    diff_case("{\"spec\":{\"replicas\":1,\"template\":{\"x\":\"y\"}},\"status\":{}}",
              "{\"spec\":{\"replicas\":3,\"template\":{\"x\":\"y\"}},\"status\":{}}",
              "{\"spec\":{\"replicas\":3}}");
    /* Arrays are replaced whole, with nulls inside them kept. */
    diff_case("{\"l\":[1,2,3]}", "{\"l\":[1,null,3]}", "{\"l\":[1,null,3]}");
    /* Object over scalar and scalar over object. */
    diff_case("{\"a\":\"s\"}", "{\"a\":{\"b\":1}}", "{\"a\":{\"b\":1}}");
    diff_case("{\"a\":{\"b\":1}}", "{\"a\":\"s\"}", "{\"a\":\"s\"}");
    /* Non-objects: the patch is the target document itself. */
    diff_case("[1]", "[1,2]", "[1,2]");
    diff_case("{\"a\":1}", "\"x\"", "\"x\"");
    diff_case("3", "{\"a\":1}", "{\"a\":1}");
    /* Many members: the sorted walk pairs them whatever their order. */
    cJSON *f = cJSON_CreateObject(), *t = cJSON_CreateObject();
    char key[32];
    for (int i = 0; i < 2000; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        cJSON_AddNumberToObject(f, key, i);
        snprintf(key, sizeof(key), "k%d", 1999 - i);
        cJSON_AddNumberToObject(t, key, (1999 - i) == 77 ? -1 : 1999 - i);
    }
    cJSON_AddStringToObject(t, "extra", "x");
    cJSON *p = k8s_merge_patch_create(f, t);
    assert_json(p, "{\"k77\":-1,\"extra\":\"x\"}");
    cJSON_Delete(p);
    cJSON_Delete(f);
    cJSON_Delete(t);
}

/* ---- RFC 6902 ---------------------------------------------------------- */

/* Applies `patch` to `doc` and checks the result (want != NULL) or the error
 * (want == NULL: code and a substring of the message). */
static void jp_case_flags(const char *doc, const char *patch, unsigned flags, const char *want,
                          int want_code, const char *want_msg)
{
    cJSON *d = J(doc), *p = J(patch), *out = (cJSON *)1;
    struct k8s_error err;
    char *before = k8s_json_print(d, NULL);
    int rc = k8s_json_patch_apply_flags(d, p, flags, &out, &err);
    if (want) {
        if (rc != 0)
            fail_msg("patch %s failed: %s", patch, err.message);
        assert_int_equal(err.code, K8S_OK);
        assert_json(out, want);
    } else {
        assert_int_equal(rc, want_code);
        assert_int_equal(err.code, want_code);
        assert_null(out);
        if (!strstr(err.message, want_msg))
            fail_msg("message \"%s\" lacks \"%s\"", err.message, want_msg);
    }
    /* The input document is never modified (all or nothing, on a copy). */
    char *after = k8s_json_print(d, NULL);
    assert_string_equal(before, after);
    free(before);
    free(after);
    cJSON_Delete(out);
    cJSON_Delete(d);
    cJSON_Delete(p);
}

static void jp_case(const char *doc, const char *patch, const char *want, int want_code,
                    const char *want_msg)
{
    jp_case_flags(doc, patch, 0, want, want_code, want_msg);
}

static void test_json_patch_rfc6902_appendix_a_success(void **state)
{
    (void)state;
    /* A.1 Adding an Object Member */
    jp_case("{\"foo\":\"bar\"}", "[{\"op\":\"add\",\"path\":\"/baz\",\"value\":\"qux\"}]",
            "{\"baz\":\"qux\",\"foo\":\"bar\"}", 0, NULL);
    /* A.2 Adding an Array Element */
    jp_case("{\"foo\":[\"bar\",\"baz\"]}",
            "[{\"op\":\"add\",\"path\":\"/foo/1\",\"value\":\"qux\"}]",
            "{\"foo\":[\"bar\",\"qux\",\"baz\"]}", 0, NULL);
    /* A.3 Removing an Object Member */
    jp_case("{\"baz\":\"qux\",\"foo\":\"bar\"}", "[{\"op\":\"remove\",\"path\":\"/baz\"}]",
            "{\"foo\":\"bar\"}", 0, NULL);
    /* A.4 Removing an Array Element */
    jp_case("{\"foo\":[\"bar\",\"qux\",\"baz\"]}", "[{\"op\":\"remove\",\"path\":\"/foo/1\"}]",
            "{\"foo\":[\"bar\",\"baz\"]}", 0, NULL);
    /* A.5 Replacing a Value */
    jp_case("{\"baz\":\"qux\",\"foo\":\"bar\"}",
            "[{\"op\":\"replace\",\"path\":\"/baz\",\"value\":\"boo\"}]",
            "{\"baz\":\"boo\",\"foo\":\"bar\"}", 0, NULL);
    /* A.6 Moving a Value */
    jp_case("{\"foo\":{\"bar\":\"baz\",\"waldo\":\"fred\"},\"qux\":{\"corge\":\"grault\"}}",
            "[{\"op\":\"move\",\"from\":\"/foo/waldo\",\"path\":\"/qux/thud\"}]",
            "{\"foo\":{\"bar\":\"baz\"},\"qux\":{\"corge\":\"grault\",\"thud\":\"fred\"}}", 0,
            NULL);
    /* A.7 Moving an Array Element */
    jp_case("{\"foo\":[\"all\",\"grass\",\"cows\",\"eat\"]}",
            "[{\"op\":\"move\",\"from\":\"/foo/1\",\"path\":\"/foo/3\"}]",
            "{\"foo\":[\"all\",\"cows\",\"eat\",\"grass\"]}", 0, NULL);
    /* A.8 Testing a Value: Success */
    jp_case("{\"baz\":\"qux\",\"foo\":[\"a\",2,\"c\"]}",
            "[{\"op\":\"test\",\"path\":\"/baz\",\"value\":\"qux\"},"
            "{\"op\":\"test\",\"path\":\"/foo/1\",\"value\":2}]",
            "{\"baz\":\"qux\",\"foo\":[\"a\",2,\"c\"]}", 0, NULL);
    /* A.10 Adding a Nested Member Object */
    jp_case("{\"foo\":\"bar\"}",
            "[{\"op\":\"add\",\"path\":\"/child\",\"value\":{\"grandchild\":{}}}]",
            "{\"foo\":\"bar\",\"child\":{\"grandchild\":{}}}", 0, NULL);
    /* A.11 Ignoring Unrecognized Elements */
    jp_case("{\"foo\":\"bar\"}",
            "[{\"op\":\"add\",\"path\":\"/baz\",\"value\":\"qux\",\"xyz\":123}]",
            "{\"foo\":\"bar\",\"baz\":\"qux\"}", 0, NULL);
    /* A.14 ~ Escape Ordering */
    jp_case("{\"/\":9,\"~1\":10}", "[{\"op\":\"test\",\"path\":\"/~01\",\"value\":10}]",
            "{\"/\":9,\"~1\":10}", 0, NULL);
    /* A.16 Adding an Array Value */
    jp_case("{\"foo\":[\"bar\"]}",
            "[{\"op\":\"add\",\"path\":\"/foo/-\",\"value\":[\"abc\",\"def\"]}]",
            "{\"foo\":[\"bar\",[\"abc\",\"def\"]]}", 0, NULL);
}

static void test_json_patch_rfc6902_appendix_a_errors(void **state)
{
    (void)state;
    /* A.9 Testing a Value: Error */
    jp_case("{\"baz\":\"qux\"}", "[{\"op\":\"test\",\"path\":\"/baz\",\"value\":\"bar\"}]", NULL,
            K8S_EINVALID, "json patch operation 0 (test) at /baz: value does not match");
    /* A.12 Adding to a Nonexistent Target */
    jp_case("{\"foo\":\"bar\"}", "[{\"op\":\"add\",\"path\":\"/baz/bat\",\"value\":\"qux\"}]", NULL,
            K8S_EINVALID,
            "json patch operation 0 (add) at /baz/bat: the parent of the path does not exist");
    /* A.13 Invalid JSON Patch Document: a repeated "op" is ambiguous. */
    jp_case("{\"foo\":\"bar\"}",
            "[{\"op\":\"add\",\"path\":\"/baz\",\"value\":\"qux\",\"op\":\"remove\"}]", NULL,
            K8S_EINVALID, "json patch operation 0: more than one \"op\" member");
    /* A.15 Comparing Strings and Numbers */
    jp_case("{\"/\":9,\"~1\":10}", "[{\"op\":\"test\",\"path\":\"/~01\",\"value\":\"10\"}]", NULL,
            K8S_EINVALID, "operation 0 (test) at /~01: value does not match");
}

static void test_json_patch_error_names_index_op_and_path(void **state)
{
    (void)state;
    /* The message format other code and people rely on. */
    jp_case("{\"spec\":{\"replicas\":1}}",
            "[{\"op\":\"add\",\"path\":\"/spec/x\",\"value\":1},"
            "{\"op\":\"replace\",\"path\":\"/spec/replicas\",\"value\":2},"
            "{\"op\":\"test\",\"path\":\"/spec/replicas\",\"value\":3}]",
            NULL, K8S_EINVALID,
            "json patch operation 2 (test) at /spec/replicas: value does not match");
    /* An unknown op. */
    jp_case("{}", "[{\"op\":\"baz\",\"path\":\"/baz\",\"value\":\"qux\"}]", NULL, K8S_EINVALID,
            "json patch operation 0 (baz) at /baz: unknown op");
    /* Missing members. */
    jp_case("{}", "[{\"path\":\"/a\"}]", NULL, K8S_EINVALID, "operation 0: \"op\" is missing");
    jp_case("{}", "[{\"op\":\"add\",\"value\":1}]", NULL, K8S_EINVALID,
            "operation 0 (add): \"path\" is missing");
    jp_case("{}", "[{\"op\":\"add\",\"path\":\"/a\"}]", NULL, K8S_EINVALID,
            "operation 0 (add) at /a: \"value\" is missing");
    jp_case("{}", "[{\"op\":\"test\",\"path\":\"/a\"}]", NULL, K8S_EINVALID,
            "\"value\" is missing");
    jp_case("{\"a\":1}", "[{\"op\":\"move\",\"path\":\"/b\"}]", NULL, K8S_EINVALID,
            "operation 0 (move) at /b: \"from\" is missing");
    jp_case("{\"a\":1}", "[{\"op\":\"copy\",\"path\":\"/b\",\"from\":3}]", NULL, K8S_EINVALID,
            "\"from\" is missing or not a string");
    /* Not an array of objects: a malformed request (400). */
    jp_case("{}", "{\"op\":\"add\"}", NULL, K8S_EBADREQUEST, "not a JSON array");
    jp_case("{}", "[{\"op\":\"test\",\"path\":\"\",\"value\":{}}, 3]", NULL, K8S_EBADREQUEST,
            "operation 1: not a JSON object");
    /* A value in the patch never appears in the message: it may be a secret. */
    jp_case("{\"data\":{\"password\":\"aGVsbG8=\"}}",
            "[{\"op\":\"test\",\"path\":\"/data/password\",\"value\":\"c2VjcmV0\"}]", NULL,
            K8S_EINVALID, "value does not match");
    cJSON *d = J("{\"data\":{\"password\":\"aGVsbG8=\"}}");
    cJSON *p = J("[{\"op\":\"test\",\"path\":\"/data/password\",\"value\":\"c2VjcmV0\"}]");
    cJSON *out = NULL;
    struct k8s_error err;
    assert_int_equal(k8s_json_patch_apply(d, p, &out, &err), K8S_EINVALID);
    assert_null(strstr(err.message, "c2VjcmV0"));
    assert_null(strstr(err.message, "aGVsbG8="));
    cJSON_Delete(d);
    cJSON_Delete(p);
    /* A huge path is quoted only in part. */
    char *big = malloc(5000 + 64);
    int n = snprintf(big, 64, "[{\"op\":\"remove\",\"path\":\"/");
    memset(big + n, 'x', 4000);
    snprintf(big + n + 4000, 64, "\"}]");
    d = J("{}");
    p = J(big);
    assert_int_equal(k8s_json_patch_apply(d, p, &out, &err), K8S_EINVALID);
    assert_true(strlen(err.message) < 400);
    assert_non_null(strstr(err.message, "xxx...: the path does not exist"));
    cJSON_Delete(d);
    cJSON_Delete(p);
    free(big);
}

static void test_json_patch_all_six_ops_and_edges(void **state)
{
    (void)state;
    /* add replaces an existing member; add at "" replaces the document. */
    jp_case("{\"a\":1}", "[{\"op\":\"add\",\"path\":\"/a\",\"value\":2}]", "{\"a\":2}", 0, NULL);
    jp_case("{\"a\":1}", "[{\"op\":\"add\",\"path\":\"\",\"value\":[1]}]", "[1]", 0, NULL);
    /* add at the end of an array by index == size, and past it fails. */
    jp_case("[1,2]", "[{\"op\":\"add\",\"path\":\"/2\",\"value\":3}]", "[1,2,3]", 0, NULL);
    jp_case("[1,2]", "[{\"op\":\"add\",\"path\":\"/3\",\"value\":3}]", NULL, K8S_EINVALID,
            "array index is not a number in range");
    jp_case("[1,2]", "[{\"op\":\"add\",\"path\":\"/01\",\"value\":3}]", NULL, K8S_EINVALID,
            "array index is not a number in range");
    jp_case("[1,2]", "[{\"op\":\"add\",\"path\":\"/-1\",\"value\":3}]", NULL, K8S_EINVALID,
            "array index is not a number in range");
    jp_case("{\"a\":\"s\"}", "[{\"op\":\"add\",\"path\":\"/a/b\",\"value\":3}]", NULL, K8S_EINVALID,
            "the parent of the path is not an object or an array");
    /* remove */
    jp_case("{\"a\":1}", "[{\"op\":\"remove\",\"path\":\"/b\"}]", NULL, K8S_EINVALID,
            "operation 0 (remove) at /b: the path does not exist");
    jp_case("[1]", "[{\"op\":\"remove\",\"path\":\"/-\"}]", NULL, K8S_EINVALID,
            "the path does not exist");
    jp_case("[1]", "[{\"op\":\"remove\",\"path\":\"\"}]", NULL, K8S_EINVALID,
            "the whole document cannot be removed");
    jp_case("{\"a\":[1,2,3]}", "[{\"op\":\"remove\",\"path\":\"/a/0\"}]", "{\"a\":[2,3]}", 0, NULL);
    /* replace */
    jp_case("{\"a\":1}", "[{\"op\":\"replace\",\"path\":\"/b\",\"value\":1}]", NULL, K8S_EINVALID,
            "the path does not exist");
    jp_case("[1,2]", "[{\"op\":\"replace\",\"path\":\"/1\",\"value\":{\"x\":null}}]",
            "[1,{\"x\":null}]", 0, NULL);
    jp_case("[1,2,3]", "[{\"op\":\"replace\",\"path\":\"/1\",\"value\":0}]", "[1,0,3]", 0, NULL);
    jp_case("[1,2,3]",
            "[{\"op\":\"add\",\"path\":\"/0\",\"value\":0},"
            "{\"op\":\"add\",\"path\":\"/2\",\"value\":9},{\"op\":\"add\",\"path\":\"/"
            "5\",\"value\":4}]",
            "[0,1,9,2,3,4]", 0, NULL);
    jp_case("[1,2]", "[{\"op\":\"replace\",\"path\":\"\",\"value\":{\"x\":1}}]", "{\"x\":1}", 0,
            NULL);
    /* move */
    jp_case("{\"a\":{\"b\":1}}", "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/a/c\"}]", NULL,
            K8S_EINVALID, "a value cannot be moved into one of its own children");
    jp_case("{\"a\":{\"b\":1}}", "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/ab\"}]",
            "{\"ab\":{\"b\":1}}", 0, NULL);
    jp_case("{\"a\":1}", "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/a\"}]", "{\"a\":1}", 0,
            NULL);
    jp_case("{\"a\":1}", "[{\"op\":\"move\",\"from\":\"/x\",\"path\":\"/a\"}]", NULL, K8S_EINVALID,
            "operation 0 (move) at /a: the from location does not exist");
    jp_case("{\"a\":{\"b\":[1]}}", "[{\"op\":\"move\",\"from\":\"/a/b\",\"path\":\"\"}]", "[1]", 0,
            NULL);
    jp_case("{\"a\":1}", "[{\"op\":\"move\",\"from\":\"\",\"path\":\"/b\"}]", NULL, K8S_EINVALID,
            "own children");
    /* copy: a deep copy, independent of its source. */
    jp_case("{\"a\":{\"b\":[1]}}",
            "[{\"op\":\"copy\",\"from\":\"/a\",\"path\":\"/c\"},"
            "{\"op\":\"add\",\"path\":\"/c/b/-\",\"value\":2}]",
            "{\"a\":{\"b\":[1]},\"c\":{\"b\":[1,2]}}", 0, NULL);
    jp_case("{\"a\":1}", "[{\"op\":\"copy\",\"from\":\"\",\"path\":\"/self\"}]",
            "{\"a\":1,\"self\":{\"a\":1}}", 0, NULL);
    /* test: deep, order-insensitive for objects, numeric for numbers. */
    jp_case("{\"o\":{\"x\":1,\"y\":[true,null,\"s\"]}}",
            "[{\"op\":\"test\",\"path\":\"/o\",\"value\":{\"y\":[true,null,\"s\"],\"x\":1.0}}]",
            "{\"o\":{\"x\":1,\"y\":[true,null,\"s\"]}}", 0, NULL);
    jp_case("{\"o\":[1,2]}", "[{\"op\":\"test\",\"path\":\"/o\",\"value\":[2,1]}]", NULL,
            K8S_EINVALID, "value does not match");
    jp_case("{\"o\":{\"x\":1}}", "[{\"op\":\"test\",\"path\":\"/o\",\"value\":{\"x\":1,\"y\":1}}]",
            NULL, K8S_EINVALID, "value does not match");
    jp_case("{\"a\":1}", "[{\"op\":\"test\",\"path\":\"\",\"value\":{\"a\":1}}]", "{\"a\":1}", 0,
            NULL);
    jp_case("{\"a\":null}", "[{\"op\":\"test\",\"path\":\"/a\",\"value\":null}]", "{\"a\":null}", 0,
            NULL);
    /* RFC mode: testing an absent member fails even against null. */
    jp_case("{}", "[{\"op\":\"test\",\"path\":\"/a\",\"value\":null}]", NULL, K8S_EINVALID,
            "the path does not exist");
    /* Bad pointers. */
    jp_case("{}", "[{\"op\":\"add\",\"path\":\"a\",\"value\":1}]", NULL, K8S_EINVALID,
            "the path is not a valid JSON pointer");
    jp_case("{\"a~\":1}", "[{\"op\":\"remove\",\"path\":\"/a~\"}]", NULL, K8S_EINVALID,
            "the path is not a valid JSON pointer");
    jp_case("{\"a\":{}}", "[{\"op\":\"add\",\"path\":\"/a~2/b\",\"value\":1}]", NULL, K8S_EINVALID,
            "the path is not a valid JSON pointer");
    jp_case("{\"a\":1}", "[{\"op\":\"move\",\"from\":\"a\",\"path\":\"/b\"}]", NULL, K8S_EINVALID,
            "operation 0 (move) at /b: the from location is not a valid JSON pointer");
    jp_case("{\"a\":1}", "[{\"op\":\"copy\",\"from\":\"/x/y\",\"path\":\"/b\"}]", NULL,
            K8S_EINVALID,
            "operation 0 (copy) at /b: the parent of the from location does not exist");
    /* An empty patch is a copy. */
    jp_case("{\"a\":1}", "[]", "{\"a\":1}", 0, NULL);
}

static void test_json_patch_all_or_nothing(void **state)
{
    (void)state;
    /* The first two operations succeed, the third fails: nothing is applied
     * and the input is untouched (jp_case checks the input). */
    jp_case("{\"metadata\":{\"resourceVersion\":\"41\"},\"spec\":{\"replicas\":1}}",
            "[{\"op\":\"replace\",\"path\":\"/spec/replicas\",\"value\":5},"
            "{\"op\":\"remove\",\"path\":\"/metadata\"},"
            "{\"op\":\"test\",\"path\":\"/metadata/resourceVersion\",\"value\":\"41\"}]",
            NULL, K8S_EINVALID, "operation 2 (test) at /metadata/resourceVersion");
    /* The optimistic-concurrency idiom: test the resourceVersion, then write. */
    jp_case("{\"metadata\":{\"resourceVersion\":\"41\"},\"spec\":{\"replicas\":1}}",
            "[{\"op\":\"test\",\"path\":\"/metadata/resourceVersion\",\"value\":\"41\"},"
            "{\"op\":\"replace\",\"path\":\"/spec/replicas\",\"value\":5}]",
            "{\"metadata\":{\"resourceVersion\":\"41\"},\"spec\":{\"replicas\":5}}", 0, NULL);
}

static void test_json_patch_apiserver_mode(void **state)
{
    (void)state;
    unsigned k = K8S_JSON_PATCH_APISERVER;
    /* Negative indices count from the end, as kube-apiserver accepts. */
    jp_case_flags("{\"l\":[1,2,3]}", "[{\"op\":\"remove\",\"path\":\"/l/-1\"}]", k, "{\"l\":[1,2]}",
                  0, NULL);
    jp_case_flags("{\"l\":[1,2,3]}", "[{\"op\":\"replace\",\"path\":\"/l/-3\",\"value\":0}]", k,
                  "{\"l\":[0,2,3]}", 0, NULL);
    jp_case_flags("{\"l\":[1,2,3]}", "[{\"op\":\"remove\",\"path\":\"/l/-4\"}]", k, NULL,
                  K8S_EINVALID, "the path does not exist");
    jp_case_flags("{\"l\":[1,2]}", "[{\"op\":\"add\",\"path\":\"/l/-1\",\"value\":9}]", k,
                  "{\"l\":[1,2,9]}", 0, NULL);
    /* An absent member tests equal to null; a present non-null one does not. */
    jp_case_flags("{}", "[{\"op\":\"test\",\"path\":\"/a\",\"value\":null}]", k, "{}", 0, NULL);
    jp_case_flags("{\"a\":1}", "[{\"op\":\"test\",\"path\":\"/a\",\"value\":null}]", k, NULL,
                  K8S_EINVALID, "value does not match");
    jp_case_flags("{}", "[{\"op\":\"test\",\"path\":\"/a/b\",\"value\":null}]", k, NULL,
                  K8S_EINVALID, "the parent of the path does not exist");
    jp_case_flags("{}", "[{\"op\":\"test\",\"path\":\"/a\",\"value\":1}]", k, NULL, K8S_EINVALID,
                  "the path does not exist");
}

static void test_json_patch_add_op_builds_patches(void **state)
{
    (void)state;
    cJSON *patch = cJSON_CreateArray();
    cJSON *rv = cJSON_CreateString("41");
    cJSON *three = cJSON_CreateNumber(3);
    char tok[64];
    assert_int_equal(k8s_json_pointer_escape("quay.io/a~b", tok, sizeof(tok)), 0);
    assert_string_equal(tok, "quay.io~1a~0b");
    char path[128];
    snprintf(path, sizeof(path), "/metadata/annotations/%s", tok);
    assert_int_equal(k8s_json_patch_add_op(patch, "test", "/metadata/resourceVersion", rv), 0);
    assert_int_equal(k8s_json_patch_add_op(patch, "replace", "/spec/replicas", three), 0);
    assert_int_equal(k8s_json_patch_add_op(patch, "remove", path, NULL), 0);
    assert_int_equal(k8s_json_patch_add_op(NULL, "remove", path, NULL), K8S_EARG);
    assert_json(patch, "[{\"op\":\"test\",\"path\":\"/metadata/resourceVersion\",\"value\":\"41\"},"
                       "{\"op\":\"replace\",\"path\":\"/spec/replicas\",\"value\":3},"
                       "{\"op\":\"remove\",\"path\":\"/metadata/annotations/quay.io~1a~0b\"}]");
    cJSON *doc =
        J("{\"metadata\":{\"resourceVersion\":\"41\",\"annotations\":{\"quay.io/a~b\":\"x\","
          "\"keep\":\"y\"}},\"spec\":{\"replicas\":1}}");
    cJSON *out = NULL;
    struct k8s_error err;
    assert_int_equal(k8s_json_patch_apply(doc, patch, &out, &err), 0);
    assert_json(out, "{\"metadata\":{\"resourceVersion\":\"41\",\"annotations\":{\"keep\":\"y\"}},"
                     "\"spec\":{\"replicas\":3}}");
    cJSON_Delete(out);
    cJSON_Delete(doc);
    cJSON_Delete(patch);
    cJSON_Delete(rv);
    cJSON_Delete(three);
    /* Escape into a buffer too small. */
    assert_int_equal(k8s_json_pointer_escape("a/b", tok, 4), K8S_ENOMEM);
    assert_int_equal(k8s_json_pointer_escape("a/b", tok, 5), 0);
    assert_string_equal(tok, "a~1b");
}

/* ---- RFC 6901 ---------------------------------------------------------- */

static void test_json_pointer_rfc6901_examples(void **state)
{
    (void)state;
    cJSON *doc = J("{\"foo\":[\"bar\",\"baz\"],\"\":0,\"a/b\":1,\"c%d\":2,\"e^f\":3,\"g|h\":4,"
                   "\"i\\\\j\":5,\"k\\\"l\":6,\" \":7,\"m~n\":8}");
    assert_ptr_equal(k8s_json_pointer_get(doc, ""), doc);
    assert_json(k8s_json_pointer_get(doc, "/foo"), "[\"bar\",\"baz\"]");
    assert_json(k8s_json_pointer_get(doc, "/foo/0"), "\"bar\"");
    assert_json(k8s_json_pointer_get(doc, "/"), "0");
    assert_json(k8s_json_pointer_get(doc, "/a~1b"), "1");
    assert_json(k8s_json_pointer_get(doc, "/c%d"), "2");
    assert_json(k8s_json_pointer_get(doc, "/e^f"), "3");
    assert_json(k8s_json_pointer_get(doc, "/g|h"), "4");
    assert_json(k8s_json_pointer_get(doc, "/i\\j"), "5");
    assert_json(k8s_json_pointer_get(doc, "/k\"l"), "6");
    assert_json(k8s_json_pointer_get(doc, "/ "), "7");
    assert_json(k8s_json_pointer_get(doc, "/m~0n"), "8");
    /* Absent, "-", leading zeros, bad escapes, no leading slash. */
    assert_null(k8s_json_pointer_get(doc, "/foo/2"));
    assert_null(k8s_json_pointer_get(doc, "/foo/-"));
    assert_null(k8s_json_pointer_get(doc, "/foo/01"));
    assert_null(k8s_json_pointer_get(doc, "/foo/-1"));
    assert_null(k8s_json_pointer_get(doc, "/m~2n"));
    assert_null(k8s_json_pointer_get(doc, "/m~"));
    assert_null(k8s_json_pointer_get(doc, "foo"));
    assert_null(k8s_json_pointer_get(doc, "/foo/0/x"));
    assert_null(k8s_json_pointer_get(doc, "/nope/x"));
    assert_null(k8s_json_pointer_get(doc, "/foo/99999999999999999999999"));
    assert_null(k8s_json_pointer_get(NULL, ""));
    cJSON_Delete(doc);
}

/* ---- equality and numbers ---------------------------------------------- */

static int eq(const char *a, const char *b)
{
    cJSON *x = J(a), *y = J(b);
    int r = k8s_json_equal(x, y);
    assert_int_equal(r, k8s_json_equal(y, x));
    cJSON_Delete(x);
    cJSON_Delete(y);
    return r;
}

static void test_json_equal(void **state)
{
    (void)state;
    assert_true(eq("{\"a\":1,\"b\":[1,{\"c\":null}]}", "{\"b\":[1,{\"c\":null}],\"a\":1}"));
    assert_true(eq("1", "1.0"));
    assert_true(eq("100", "1e2"));
    assert_true(eq("0", "-0"));
    assert_true(eq("\"\\u00e9\"", "\"\xc3\xa9\""));
    assert_false(eq("1", "\"1\""));
    assert_false(eq("true", "false"));
    assert_false(eq("null", "false"));
    assert_false(eq("[1,2]", "[2,1]"));
    assert_false(eq("[1,2]", "[1,2,3]"));
    assert_false(eq("{\"a\":1}", "{\"a\":1,\"b\":2}"));
    assert_false(eq("{\"a\":1,\"c\":2}", "{\"a\":1,\"b\":2}"));
    assert_false(eq("{}", "[]"));
    assert_false(eq("\"a\"", "\"b\""));
    assert_true(eq("{}", "{}"));
    assert_true(k8s_json_equal(NULL, NULL));
    cJSON *one = J("1");
    assert_false(k8s_json_equal(one, NULL));
    cJSON_Delete(one);
    /* A wide object in two orders (the sorted comparison). */
    cJSON *a = cJSON_CreateObject(), *b = cJSON_CreateObject();
    char key[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "key-%d", i);
        cJSON_AddNumberToObject(a, key, i);
        snprintf(key, sizeof(key), "key-%d", 4999 - i);
        cJSON_AddNumberToObject(b, key, 4999 - i);
    }
    assert_true(k8s_json_equal(a, b));
    cJSON_ReplaceItemInObjectCaseSensitive(b, "key-2500", cJSON_CreateNumber(-1));
    assert_false(k8s_json_equal(a, b));
    cJSON_Delete(a);
    cJSON_Delete(b);
}

static void print_case(const char *in, const char *want)
{
    cJSON *j = J(in);
    size_t len = 0;
    char *s = k8s_json_print(j, &len);
    assert_non_null(s);
    assert_string_equal(s, want);
    assert_int_equal(len, strlen(want));
    free(s);
    cJSON_Delete(j);
}

static void test_json_print_keeps_integers_exact(void **state)
{
    (void)state;
    /* 2^53 and its neighbours below: exact (cJSON_Print gives 9.00719925474099e+15). */
    print_case("9007199254740992", "9007199254740992");
    print_case("9007199254740991", "9007199254740991");
    print_case("-9007199254740991", "-9007199254740991");
    print_case("1000000000000000", "1000000000000000");
    print_case("{\"generation\":123456789012345}", "{\"generation\":123456789012345}");
    /* The documented limit: above 2^53 a value is rounded when parsed. */
    print_case("9007199254740993", "9007199254740992");
    print_case("1e20", "1e+20");
    /* Fractions print exactly and shortest. */
    print_case("0.1", "0.1");
    print_case("1.5", "1.5");
    print_case("-2.5e-7", "-2.5e-07");
    print_case("3.141592653589793", "3.141592653589793");
    print_case("1e999", "null");
    /* Strings, escapes, UTF-8, structure. */
    print_case("{\"a\\\"b\":\"x\\\\y\\n\\t\\u0001\xc3\xa9\",\"l\":[true,false,null,{}],\"e\":[]}",
               "{\"a\\\"b\":\"x\\\\y\\n\\t\\u0001\xc3\xa9\",\"l\":[true,false,null,{}],\"e\":[]}");
    /* A merge patch keeps large integers and the resourceVersion string exact. */
    cJSON *t = J("{\"metadata\":{\"resourceVersion\":\"98765432109876543210\"},\"n\":1}");
    cJSON *p = J("{\"n\":9007199254740992}");
    cJSON *r = k8s_merge_patch_apply(t, p);
    char *s = k8s_json_print(r, NULL);
    assert_string_equal(
        s, "{\"metadata\":{\"resourceVersion\":\"98765432109876543210\"},\"n\":9007199254740992}");
    free(s);
    cJSON_Delete(r);
    cJSON_Delete(t);
    cJSON_Delete(p);
    assert_null(k8s_json_print(NULL, NULL));
}

/* ---- limits -------------------------------------------------------------- */

static void test_json_patch_copy_amplification_is_bounded(void **state)
{
    (void)state;
    /* Each copy of the root into itself doubles the document: 40 of them
     * would need 2^40 values. The copy budget stops it. */
    cJSON *patch = cJSON_CreateArray();
    char path[32];
    for (int i = 0; i < 40; i++) {
        cJSON *op = cJSON_CreateObject();
        cJSON_AddStringToObject(op, "op", "copy");
        cJSON_AddStringToObject(op, "from", "");
        snprintf(path, sizeof(path), "/c%d", i);
        cJSON_AddStringToObject(op, "path", path);
        cJSON_AddItemToArray(patch, op);
    }
    cJSON *doc = J("{\"a\":1}"), *out = NULL;
    struct k8s_error err;
    assert_int_equal(k8s_json_patch_apply(doc, patch, &out, &err), K8S_EINVALID);
    assert_null(out);
    assert_non_null(strstr(err.message, "copies too much"));
    cJSON_Delete(doc);
    cJSON_Delete(patch);
}

static void test_json_patch_depth_is_bounded(void **state)
{
    (void)state;
    /* A value 600 deep added 600 deep would make a 1200-deep document. */
    size_t n = 600;
    char *val = malloc(2 * n + 2), *path = malloc(2 * n + 2), *patch = malloc(8 * n + 128);
    char *docs = malloc(8 * n + 16);
    for (size_t i = 0; i < n; i++) {
        val[i] = '[';
        val[2 * n - 1 - i] = ']';
    }
    val[2 * n] = '\0';
    /* Document: {"a":{"a":...{}}} 599 deep; path /a/a/.../x 600 deep. */
    size_t o = 0;
    for (size_t i = 0; i + 1 < n; i++)
        o += (size_t)snprintf(docs + o, 8, "{\"a\":");
    o += (size_t)snprintf(docs + o, 8, "{}");
    for (size_t i = 0; i + 1 < n; i++)
        docs[o++] = '}';
    docs[o] = '\0';
    o = 0;
    for (size_t i = 0; i + 1 < n; i++)
        o += (size_t)snprintf(path + o, 4, "/a");
    snprintf(path + o, 4, "/x");
    snprintf(patch, 8 * n + 128, "[{\"op\":\"add\",\"path\":\"%s\",\"value\":%s}]", path, val);
    jp_case(docs, patch, NULL, K8S_EINVALID, "nested too deeply");
    /* The same value at a shallow place is fine. */
    snprintf(patch, 8 * n + 128, "[{\"op\":\"add\",\"path\":\"/x\",\"value\":%s}]", val);
    cJSON *d = J("{}"), *p = J(patch), *out = NULL;
    struct k8s_error err;
    assert_int_equal(k8s_json_patch_apply(d, p, &out, &err), 0);
    cJSON_Delete(out);
    cJSON_Delete(d);
    cJSON_Delete(p);
    free(val);
    free(path);
    free(patch);
    free(docs);
}

static void test_json_patch_bad_arguments(void **state)
{
    (void)state;
    cJSON *d = J("{}"), *p = J("[]"), *out = (cJSON *)1;
    struct k8s_error err;
    assert_int_equal(k8s_json_patch_apply(NULL, p, &out, &err), K8S_EARG);
    assert_null(out);
    assert_int_equal(k8s_json_patch_apply(d, p, NULL, &err), K8S_EARG);
    assert_int_equal(k8s_json_patch_apply(d, NULL, &out, NULL), K8S_EBADREQUEST);
    cJSON_Delete(d);
    cJSON_Delete(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_patch_rfc7386_appendix_a),
        cmocka_unit_test(test_merge_patch_rfc7386_section3_example),
        cmocka_unit_test(test_merge_patch_absent_target_and_nulls_in_arrays),
        cmocka_unit_test(test_merge_patch_create),
        cmocka_unit_test(test_json_patch_rfc6902_appendix_a_success),
        cmocka_unit_test(test_json_patch_rfc6902_appendix_a_errors),
        cmocka_unit_test(test_json_patch_error_names_index_op_and_path),
        cmocka_unit_test(test_json_patch_all_six_ops_and_edges),
        cmocka_unit_test(test_json_patch_all_or_nothing),
        cmocka_unit_test(test_json_patch_apiserver_mode),
        cmocka_unit_test(test_json_patch_add_op_builds_patches),
        cmocka_unit_test(test_json_pointer_rfc6901_examples),
        cmocka_unit_test(test_json_equal),
        cmocka_unit_test(test_json_print_keeps_integers_exact),
        cmocka_unit_test(test_json_patch_copy_amplification_is_bounded),
        cmocka_unit_test(test_json_patch_depth_is_bounded),
        cmocka_unit_test(test_json_patch_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
