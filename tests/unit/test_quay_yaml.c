/*
 * Tests of the YAML document model (quay/quay_yaml.c): PyYAML's type
 * resolution, which new strings get quoted, order/style/tag preservation
 * through parse -> emit -> parse, deterministic output, the mapping and
 * sequence operations, and the refusals (aliases, anchors, merge keys,
 * several documents, directives, depth and size limits) with line numbers.
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
#include "quay_yaml.h"

static struct quay_yaml_doc *parse_ok(const char *text)
{
    struct quay_yaml_doc *doc = NULL;
    struct k8s_error err;
    int rc = quay_yaml_parse(text, strlen(text), "test.yaml", &doc, &err);
    if (rc)
        fail_msg("parse failed: %s", err.message);
    return doc;
}

/* Emits into a fresh NUL-terminated string the caller frees. */
static char *emit_ok(const struct quay_yaml_doc *doc)
{
    struct k8s_buf b;
    struct k8s_error err;
    k8s_buf_init(&b, QUAY_YAML_MAX_OUTPUT);
    int rc = quay_yaml_emit(doc, &b, &err);
    if (rc)
        fail_msg("emit failed: %s", err.message);
    size_t len;
    char *s = k8s_buf_take(&b, &len);
    return s ? s : strdup("");
}

static int parse_fails(const char *text, int code, const char *needle)
{
    struct quay_yaml_doc *doc = NULL;
    struct k8s_error err;
    int rc = quay_yaml_parse(text, strlen(text), "config.yaml", &doc, &err);
    assert_null(doc);
    assert_int_equal(rc, code);
    if (needle && !strstr(err.message, needle))
        fail_msg("message \"%s\" lacks \"%s\"", err.message, needle);
    return 1;
}

/* ---- resolution -------------------------------------------------------------- */

static void test_plain_scalars_resolve_like_pyyaml(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        enum quay_yaml_type type;
    } cases[] = {
        {"", QUAY_YAML_T_NULL},
        {"~", QUAY_YAML_T_NULL},
        {"null", QUAY_YAML_T_NULL},
        {"Null", QUAY_YAML_T_NULL},
        {"NULL", QUAY_YAML_T_NULL},
        {"nULL", QUAY_YAML_T_STR},
        {"yes", QUAY_YAML_T_BOOL},
        {"No", QUAY_YAML_T_BOOL},
        {"on", QUAY_YAML_T_BOOL},
        {"OFF", QUAY_YAML_T_BOOL},
        {"True", QUAY_YAML_T_BOOL},
        {"tRUE", QUAY_YAML_T_STR},
        {"y", QUAY_YAML_T_STR}, /* not a bool for PyYAML (it is for go-yaml v2) */
        {"n", QUAY_YAML_T_STR},
        {"443", QUAY_YAML_T_INT},
        {"-1", QUAY_YAML_T_INT},
        {"+0", QUAY_YAML_T_INT},
        {"0", QUAY_YAML_T_INT},
        {"0123", QUAY_YAML_T_INT}, /* octal */
        {"0128", QUAY_YAML_T_STR}, /* not octal, not decimal */
        {"0x1F", QUAY_YAML_T_INT},
        {"0x", QUAY_YAML_T_STR},
        {"0b1010", QUAY_YAML_T_INT},
        {"1_000", QUAY_YAML_T_INT},
        {"12:30", QUAY_YAML_T_INT}, /* sexagesimal 750 */
        {"1:2:3", QUAY_YAML_T_INT},
        {"12:60", QUAY_YAML_T_STR},
        {"190:20:30", QUAY_YAML_T_INT},
        {"1.5", QUAY_YAML_T_FLOAT},
        {"1.", QUAY_YAML_T_FLOAT},
        {".5", QUAY_YAML_T_FLOAT},
        {"-.5", QUAY_YAML_T_STR},
        {"1e3", QUAY_YAML_T_STR},   /* YAML 1.1 floats need a dot */
        {"1.0e3", QUAY_YAML_T_STR}, /* ... and a signed exponent */
        {"1.0e+3", QUAY_YAML_T_FLOAT},
        {".inf", QUAY_YAML_T_FLOAT},
        {"-.Inf", QUAY_YAML_T_FLOAT},
        {".NaN", QUAY_YAML_T_FLOAT},
        {"+.nan", QUAY_YAML_T_STR},
        {"190:20:30.15", QUAY_YAML_T_FLOAT},
        {"2024-01-01", QUAY_YAML_T_TIMESTAMP},
        {"2024-1-1", QUAY_YAML_T_STR},
        {"2001-12-14t21:59:43.10-05:00", QUAY_YAML_T_TIMESTAMP},
        {"2001-12-14 21:59:43.10 -5", QUAY_YAML_T_TIMESTAMP},
        {"2001-12-15 2:59:43.10", QUAY_YAML_T_TIMESTAMP},
        {"2001-12-15T02:59:43Z", QUAY_YAML_T_TIMESTAMP},
        {"<<", QUAY_YAML_T_MERGE},
        {"=", QUAY_YAML_T_VALUE},
        {"s3.example.com", QUAY_YAML_T_STR},
        {"/datastorage/registry", QUAY_YAML_T_STR},
        {"RHOCSStorage", QUAY_YAML_T_STR},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum quay_yaml_type t = quay_yaml_resolve_plain(cases[i].text, strlen(cases[i].text));
        if (t != cases[i].type)
            fail_msg("\"%s\": got type %d, want %d", cases[i].text, t, cases[i].type);
    }
}

static void test_new_strings_are_quoted_when_any_loader_could_misread_them(void **state)
{
    (void)state;
    static const char *const unsafe[] = {
        "on",    "off",    "yes",  "no",   "y",           "n",          "Y",           "true",
        "null",  "~",      "0123", "0x1F", "1_000",       "2024-01-01", "1e3",         ".inf",
        "12:30", "443",    "",     "-.5",  "0o17",        "-1",         "=",           "<<",
        " lead", "trail ", "a: b", "a #b", "#c",          "- x",        "[x]",         "{x}",
        "a,b",   "*x",     "&x",   "!x",   "|x",          ">x",         "'x",          "\"x",
        "%x",    "@x",     "`x",   "x:",   "line\nbreak", "tab\tin",    "caf\xc3\xa9",
    };
    for (size_t i = 0; i < sizeof(unsafe) / sizeof(unsafe[0]); i++) {
        if (quay_yaml_plain_is_safe_string(unsafe[i], strlen(unsafe[i])))
            fail_msg("\"%s\" was judged safe to write plain", unsafe[i]);
        struct quay_yaml_node *n = quay_yaml_str_new(unsafe[i]);
        assert_non_null(n);
        assert_int_equal(n->style, QUAY_YAML_DOUBLE);
        assert_int_equal(quay_yaml_scalar_type(n), QUAY_YAML_T_STR);
        quay_yaml_node_free(n);
    }
    static const char *const safe[] = {"quay-bucket",    "/datastorage/registry", "us-east-1",
                                       "s3.example.com", "RHOCSStorage",          "a:b",
                                       "readonly"};
    for (size_t i = 0; i < sizeof(safe) / sizeof(safe[0]); i++)
        assert_true(quay_yaml_plain_is_safe_string(safe[i], strlen(safe[i])));
}

/* Every unsafe string survives emit -> parse as the same string. */
static void test_quoted_strings_round_trip_as_strings(void **state)
{
    (void)state;
    static const char *const tricky[] = {"on", "0123", "12:30",       "2024-01-01",  "1e3",  "~",
                                         "",   "a: b", "line\nbreak", "caf\xc3\xa9", "\"q\""};
    struct quay_yaml_doc doc = {.root = quay_yaml_map_new()};
    assert_non_null(doc.root);
    char key[16];
    for (size_t i = 0; i < sizeof(tricky) / sizeof(tricky[0]); i++) {
        snprintf(key, sizeof(key), "k%zu", i);
        assert_int_equal(quay_yaml_map_set_take(doc.root, key, quay_yaml_str_new(tricky[i])), 0);
    }
    char *out = emit_ok(&doc);
    struct quay_yaml_doc *back = parse_ok(out);
    for (size_t i = 0; i < sizeof(tricky) / sizeof(tricky[0]); i++) {
        snprintf(key, sizeof(key), "k%zu", i);
        const struct quay_yaml_node *v = quay_yaml_map_get(back->root, key);
        assert_non_null(v);
        assert_int_equal(quay_yaml_scalar_type(v), QUAY_YAML_T_STR);
        assert_int_equal(v->len, strlen(tricky[i]));
        assert_memory_equal(v->value, tricky[i], v->len);
    }
    quay_yaml_doc_free(back);
    free(out);
    quay_yaml_node_free(doc.root);
}

/* ---- round trips -------------------------------------------------------------------- */

static const char styles_doc[] = "SERVER_HOSTNAME: quay.example.com\n"
                                 "PORT_STR: \"443\"\n"
                                 "PORT_INT: 443\n"
                                 "SINGLE: 'it''s'\n"
                                 "DOUBLE: \"tab\\there\"\n"
                                 "BOOL_YES: yes\n"
                                 "TAGGED: !!str 8080\n"
                                 "NOTHING:\n"
                                 "LITERAL: |\n"
                                 "  line one\n"
                                 "  line two\n"
                                 "FOLDED: >-\n"
                                 "  folded\n"
                                 "  text\n"
                                 "FLOW_SEQ: [a, b]\n"
                                 "FLOW_MAP: {x: 1, y: two}\n"
                                 "EMPTY: []\n"
                                 "NESTED:\n"
                                 "  list:\n"
                                 "  - one\n"
                                 "  - 2\n"
                                 "  - k: v\n"
                                 "UNICODE: caf\xc3\xa9\n";

static void test_round_trip_keeps_order_styles_tags_and_types(void **state)
{
    (void)state;
    struct quay_yaml_doc *doc = parse_ok(styles_doc);
    const struct quay_yaml_node *r = doc->root;
    assert_int_equal(r->kind, QUAY_YAML_MAP);
    assert_int_equal(quay_yaml_map_size(r), 15);
    assert_true(quay_yaml_is_str(r->items[0], "SERVER_HOSTNAME"));
    assert_true(quay_yaml_is_str(r->items[28], "UNICODE"));
    assert_int_equal(quay_yaml_scalar_type(quay_yaml_map_get(r, "PORT_STR")), QUAY_YAML_T_STR);
    assert_int_equal(quay_yaml_scalar_type(quay_yaml_map_get(r, "PORT_INT")), QUAY_YAML_T_INT);
    assert_int_equal(quay_yaml_scalar_type(quay_yaml_map_get(r, "BOOL_YES")), QUAY_YAML_T_BOOL);
    assert_int_equal(quay_yaml_scalar_type(quay_yaml_map_get(r, "TAGGED")), QUAY_YAML_T_STR);
    assert_int_equal(quay_yaml_scalar_type(quay_yaml_map_get(r, "NOTHING")), QUAY_YAML_T_NULL);
    assert_int_equal(quay_yaml_map_get(r, "LITERAL")->style, QUAY_YAML_LITERAL);
    assert_string_equal(quay_yaml_map_get(r, "LITERAL")->value, "line one\nline two\n");
    assert_int_equal(quay_yaml_map_get(r, "FOLDED")->style, QUAY_YAML_FOLDED);
    assert_int_equal(quay_yaml_map_get(r, "FLOW_SEQ")->style, QUAY_YAML_FLOW);
    assert_int_equal(quay_yaml_map_get(r, "PORT_INT")->line, 3);

    char *once = emit_ok(doc);
    struct quay_yaml_doc *again = parse_ok(once);
    assert_true(quay_yaml_node_equal(doc->root, again->root));
    char *twice = emit_ok(again);
    assert_string_equal(once, twice); /* deterministic and a fixed point */
    /* The text keeps its spelling where it matters for types. */
    assert_non_null(strstr(once, "PORT_STR: \"443\"\n"));
    assert_non_null(strstr(once, "PORT_INT: 443\n"));
    assert_non_null(strstr(once, "BOOL_YES: yes\n"));
    assert_non_null(strstr(once, "TAGGED: !!str 8080\n"));
    assert_non_null(strstr(once, "FLOW_MAP: {x: 1, y: two}\n"));
    assert_non_null(strstr(once, "UNICODE: caf\xc3\xa9\n"));
    free(once);
    free(twice);
    quay_yaml_doc_free(again);
    quay_yaml_doc_free(doc);
}

static void test_empty_and_explicit_documents(void **state)
{
    (void)state;
    struct quay_yaml_doc *doc = parse_ok("");
    assert_null(doc->root);
    char *s = emit_ok(doc);
    assert_string_equal(s, "");
    free(s);
    quay_yaml_doc_free(doc);

    doc = parse_ok("---\na: 1\n...\n");
    assert_true(doc->explicit_start);
    s = emit_ok(doc);
    assert_string_equal(s, "---\na: 1\n");
    free(s);
    quay_yaml_doc_free(doc);
}

/* Found by the fuzzer: libyaml cannot write an empty plain scalar in flow
 * context or as a key and would quote it, turning null into "". */
static void test_nulls_in_flow_keys_and_root_stay_null(void **state)
{
    (void)state;
    static const char *const texts[] = {"m: {a, b: 1}\n", "s: [a, b: ]\n", "? \n: v\n", "---\n",
                                        "{x: }\n"};
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        struct quay_yaml_doc *doc = parse_ok(texts[i]);
        char *out = emit_ok(doc); /* emit re-parses and checks every value */
        struct quay_yaml_doc *again = parse_ok(out);
        assert_true(quay_yaml_node_same_value(doc->root, again->root));
        char *out2 = emit_ok(again);
        assert_string_equal(out, out2);
        free(out);
        free(out2);
        quay_yaml_doc_free(again);
        quay_yaml_doc_free(doc);
    }
    struct quay_yaml_doc *doc = parse_ok("m: {a, b: 1}\n");
    char *out = emit_ok(doc);
    assert_string_equal(out, "m: {a: ~, b: 1}\n");
    free(out);
    quay_yaml_doc_free(doc);
}

static void test_invalid_utf8_is_refused_on_write(void **state)
{
    (void)state;
    assert_true(quay_yaml_utf8_valid("caf\xc3\xa9 \xf0\x9f\x98\x80", 10));
    assert_false(quay_yaml_utf8_valid("\xc3", 1));         /* truncated */
    assert_false(quay_yaml_utf8_valid("\xc0\xaf", 2));     /* overlong */
    assert_false(quay_yaml_utf8_valid("\xed\xa0\x80", 3)); /* surrogate */
    assert_false(quay_yaml_utf8_valid("\xff", 1));
    struct quay_yaml_doc doc = {.root = quay_yaml_map_new()};
    assert_int_equal(quay_yaml_map_set_take(doc.root, "k", quay_yaml_strn_new("\xff", 1)), 0);
    struct k8s_buf b;
    struct k8s_error err;
    k8s_buf_init(&b, 1024);
    assert_int_equal(quay_yaml_emit(&doc, &b, &err), K8S_EINVALID);
    assert_non_null(strstr(err.message, "UTF-8"));
    k8s_buf_free(&b);
    quay_yaml_node_free(doc.root);
}

static void test_clone_is_deep_and_equal(void **state)
{
    (void)state;
    struct quay_yaml_doc *doc = parse_ok(styles_doc), *copy = NULL;
    assert_int_equal(quay_yaml_doc_clone(doc, &copy), 0);
    assert_true(quay_yaml_node_equal(doc->root, copy->root));
    assert_int_equal(quay_yaml_map_set_take(copy->root, "PORT_INT", quay_yaml_int_new(80)), 0);
    assert_false(quay_yaml_node_equal(doc->root, copy->root));
    long long v;
    assert_int_equal(quay_yaml_get_int(quay_yaml_map_get(doc->root, "PORT_INT"), &v), 0);
    assert_int_equal(v, 443);
    quay_yaml_doc_free(copy);
    quay_yaml_doc_free(doc);
}

/* ---- mapping operations ---------------------------------------------------------------- */

static void test_map_set_keeps_position_and_appends_new_keys(void **state)
{
    (void)state;
    struct quay_yaml_doc *doc = parse_ok("A: 1\nB: two\nC: [x]\n");
    assert_int_equal(quay_yaml_map_set_take(doc->root, "B", quay_yaml_bool_new(1)), 0);
    assert_int_equal(quay_yaml_map_set_take(doc->root, "D", quay_yaml_str_new("on")), 0);
    char *s = emit_ok(doc);
    assert_string_equal(s, "A: 1\nB: true\nC: [x]\nD: \"on\"\n");
    free(s);
    assert_int_equal(quay_yaml_map_remove(doc->root, "A"), 1);
    assert_int_equal(quay_yaml_map_remove(doc->root, "nope"), 0);
    s = emit_ok(doc);
    assert_string_equal(s, "B: true\nC: [x]\nD: \"on\"\n");
    free(s);
    quay_yaml_doc_free(doc);
}

static void test_duplicate_keys_last_wins_and_remove_takes_all(void **state)
{
    (void)state;
    struct quay_yaml_doc *doc = parse_ok("K: first\nX: 1\nK: second\n");
    assert_true(quay_yaml_is_str(quay_yaml_map_get(doc->root, "K"), "second"));
    assert_int_equal(quay_yaml_map_remove(doc->root, "K"), 2);
    assert_null(quay_yaml_map_get(doc->root, "K"));
    assert_int_equal(quay_yaml_map_size(doc->root), 1);
    quay_yaml_doc_free(doc);
}

static void test_non_string_keys_do_not_match_string_lookups(void **state)
{
    (void)state;
    struct quay_yaml_doc *doc = parse_ok("yes: bool key\n\"yes\": string key\n443: int\n");
    assert_true(quay_yaml_is_str(quay_yaml_map_get(doc->root, "yes"), "string key"));
    assert_null(quay_yaml_map_get(doc->root, "443"));
    quay_yaml_doc_free(doc);
}

static void test_bool_and_int_accessors(void **state)
{
    (void)state;
    struct quay_yaml_doc *doc =
        parse_ok("a: On\nb: FALSE\nc: \"true\"\nd: 1_024\ne: 0x10\nf: -9223372036854775808\n"
                 "g: 9223372036854775808\n");
    int b;
    long long v;
    assert_int_equal(quay_yaml_get_bool(quay_yaml_map_get(doc->root, "a"), &b), 0);
    assert_true(b);
    assert_int_equal(quay_yaml_get_bool(quay_yaml_map_get(doc->root, "b"), &b), 0);
    assert_false(b);
    assert_int_equal(quay_yaml_get_bool(quay_yaml_map_get(doc->root, "c"), &b), K8S_EINVALID);
    assert_int_equal(quay_yaml_get_int(quay_yaml_map_get(doc->root, "d"), &v), 0);
    assert_int_equal(v, 1024);
    assert_int_equal(quay_yaml_get_int(quay_yaml_map_get(doc->root, "e"), &v), K8S_EINVALID);
    assert_int_equal(quay_yaml_get_int(quay_yaml_map_get(doc->root, "f"), &v), 0);
    assert_true(v == LLONG_MIN);
    assert_int_equal(quay_yaml_get_int(quay_yaml_map_get(doc->root, "g"), &v), K8S_EINVALID);
    quay_yaml_doc_free(doc);
}

static void test_same_value_ignores_quoting_but_not_types(void **state)
{
    (void)state;
    struct quay_yaml_doc *doc = parse_ok("a: x\nb: 'x'\nc: 443\nd: \"443\"\ne: yes\nf: true\n");
    const struct quay_yaml_node *r = doc->root;
    assert_true(quay_yaml_node_same_value(quay_yaml_map_get(r, "a"), quay_yaml_map_get(r, "b")));
    assert_false(quay_yaml_node_equal(quay_yaml_map_get(r, "a"), quay_yaml_map_get(r, "b")));
    assert_false(quay_yaml_node_same_value(quay_yaml_map_get(r, "c"), quay_yaml_map_get(r, "d")));
    assert_true(quay_yaml_node_same_value(quay_yaml_map_get(r, "e"), quay_yaml_map_get(r, "f")));
    quay_yaml_doc_free(doc);
}

/* ---- refusals ------------------------------------------------------------------------- */

static void test_aliases_anchors_and_merge_keys_are_refused_with_their_line(void **state)
{
    (void)state;
    parse_fails("a: &x 1\nb: 2\n", K8S_EDECODE, "line 1, column 4: an anchor (&x)");
    parse_fails("a: 1\nb:\n  c: *x\n", K8S_EDECODE, "line 3, column 6: an alias (*x)");
    parse_fails("base: {a: 1}\nother:\n  <<: {b: 2}\n", K8S_EDECODE,
                "line 3, column 3: merge keys");
}

static void test_documents_directives_syntax_depth_and_size(void **state)
{
    (void)state;
    parse_fails("a: 1\n---\nb: 2\n", K8S_EDECODE, "line 2, column 1: a second document");
    parse_fails("%YAML 1.1\n---\na: 1\n", K8S_EDECODE, "directives");
    parse_fails("a: 1\n b: 2\nc: [\n", K8S_EDECODE, "config.yaml: line 2, column 3:");
    parse_fails("a: \"unterminated\n", K8S_EDECODE, "line 2");

    char deep[400];
    size_t k = 0;
    for (int i = 0; i < QUAY_YAML_MAX_DEPTH + 1; i++)
        deep[k++] = '[';
    for (int i = 0; i < QUAY_YAML_MAX_DEPTH + 1; i++)
        deep[k++] = ']';
    deep[k] = '\0';
    parse_fails(deep, K8S_EDECODE, "deeper than the limit of 64");
    struct quay_yaml_doc *ok = parse_ok("[[]]"); /* well within the limit */
    quay_yaml_doc_free(ok);

    size_t big = QUAY_YAML_MAX_INPUT + 1;
    char *huge = malloc(big);
    assert_non_null(huge);
    memset(huge, 'a', big);
    struct quay_yaml_doc *doc = NULL;
    struct k8s_error err;
    assert_int_equal(quay_yaml_parse(huge, big, "config.yaml", &doc, &err), K8S_EDECODE);
    assert_non_null(strstr(err.message, "the limit is 4194304 bytes"));
    free(huge);
}

static void test_error_messages_do_not_quote_values(void **state)
{
    (void)state;
    struct quay_yaml_doc *doc = NULL;
    struct k8s_error err;
    const char *text = "secret_key: \"hunter2-SECRET\n";
    assert_int_equal(quay_yaml_parse(text, strlen(text), "config.yaml", &doc, &err), K8S_EDECODE);
    assert_null(strstr(err.message, "hunter2"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_scalars_resolve_like_pyyaml),
        cmocka_unit_test(test_new_strings_are_quoted_when_any_loader_could_misread_them),
        cmocka_unit_test(test_quoted_strings_round_trip_as_strings),
        cmocka_unit_test(test_round_trip_keeps_order_styles_tags_and_types),
        cmocka_unit_test(test_empty_and_explicit_documents),
        cmocka_unit_test(test_nulls_in_flow_keys_and_root_stay_null),
        cmocka_unit_test(test_invalid_utf8_is_refused_on_write),
        cmocka_unit_test(test_clone_is_deep_and_equal),
        cmocka_unit_test(test_map_set_keeps_position_and_appends_new_keys),
        cmocka_unit_test(test_duplicate_keys_last_wins_and_remove_takes_all),
        cmocka_unit_test(test_non_string_keys_do_not_match_string_lookups),
        cmocka_unit_test(test_bool_and_int_accessors),
        cmocka_unit_test(test_same_value_ignores_quoting_but_not_types),
        cmocka_unit_test(test_aliases_anchors_and_merge_keys_are_refused_with_their_line),
        cmocka_unit_test(test_documents_directives_syntax_depth_and_size),
        cmocka_unit_test(test_error_messages_do_not_quote_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
