/*
 * Label selectors (k8sclient/k8s_selector.c): every operator matches as
 * apimachinery's does (absent labels satisfy != and notin, not = or in);
 * the canonical string sorts requirements and values; "in" may be a key or a
 * value; refusals carry the API server's exact words (a wrong token, a bad
 * key or prefix, bad values aggregated in brackets); metav1.LabelSelector
 * objects (null selects nothing, {} everything); and, as a differential
 * check, thousands of random selectors parse and match exactly as the API
 * simulator's independent implementation (tests/kubesim/sim_select.c) does.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8s_selector.h"
#include "sim_select.h"

static struct k8s_selector *parse_ok(const char *text)
{
    struct k8s_selector *s = NULL;
    struct k8s_error err;
    int rc = k8s_selector_parse(text, &s, &err);
    if (rc != 0)
        fail_msg("\"%s\" refused: %s", text, err.message);
    assert_non_null(s);
    return s;
}

static void assert_canonical(const char *text, const char *want)
{
    struct k8s_selector *s = parse_ok(text);
    char buf[512];
    assert_int_equal(k8s_selector_string(s, buf, sizeof(buf)), 0);
    if (strcmp(buf, want) != 0)
        fail_msg("\"%s\" -> \"%s\", want \"%s\"", text, buf, want);
    k8s_selector_free(s);
}

static void assert_refused(const char *text, const char *want)
{
    struct k8s_selector *s = (struct k8s_selector *)1;
    struct k8s_error err;
    int rc = k8s_selector_parse(text, &s, &err);
    assert_null(s);
    if (rc != K8S_EARG || strcmp(err.message, want) != 0)
        fail_msg("\"%s\":\n got  (%d) %s\n want %s", text, rc, err.message, want);
    assert_string_equal(err.reason, "BadRequest");
}

static int matches(const char *text, const char *labels_json)
{
    struct k8s_selector *s = parse_ok(text);
    cJSON *labels = labels_json ? cJSON_Parse(labels_json) : NULL;
    int m = k8s_selector_matches(s, labels);
    cJSON_Delete(labels);
    k8s_selector_free(s);
    return m;
}

static void operators_match_like_the_server(void **state)
{
    (void)state;
    assert_true(matches("a=b", "{\"a\":\"b\"}"));
    assert_false(matches("a=b", "{\"a\":\"c\"}"));
    assert_false(matches("a=b", "{}"));
    assert_false(matches("a=b", NULL));
    assert_true(matches("a==b", "{\"a\":\"b\"}"));
    assert_true(matches("a!=b", "{}"));
    assert_true(matches("a!=b", "{\"a\":\"c\"}"));
    assert_false(matches("a!=b", "{\"a\":\"b\"}"));
    assert_true(matches("a in (x,y)", "{\"a\":\"y\"}"));
    assert_false(matches("a in (x,y)", "{\"a\":\"z\"}"));
    assert_false(matches("a in (x,y)", "{}"));
    assert_true(matches("a notin (x)", "{}"));
    assert_true(matches("a notin (x)", "{\"a\":\"y\"}"));
    assert_false(matches("a notin (x)", "{\"a\":\"x\"}"));
    assert_true(matches("a", "{\"a\":\"\"}"));
    assert_false(matches("a", "{\"b\":\"a\"}"));
    assert_true(matches("!a", "{\"b\":\"a\"}"));
    assert_false(matches("!a", "{\"a\":\"x\"}"));
    assert_true(matches("a=", "{\"a\":\"\"}"));
    assert_false(matches("a=", "{\"a\":\"x\"}"));
    assert_true(matches("a in ()", "{\"a\":\"\"}"));
    assert_true(matches("a>5", "{\"a\":\"6\"}"));
    assert_false(matches("a>5", "{\"a\":\"5\"}"));
    assert_false(matches("a>5", "{\"a\":\"six\"}"));
    assert_false(matches("a>5", "{}"));
    assert_true(matches("a<5", "{\"a\":\"-7\"}"));
    /* Requirements are ANDed. */
    assert_true(matches("app=web,tier in (fe,be),!legacy", "{\"app\":\"web\",\"tier\":\"be\"}"));
    assert_false(matches("app=web,tier in (fe,be),!legacy",
                         "{\"app\":\"web\",\"tier\":\"be\",\"legacy\":\"1\"}"));
    /* A label that is not a string is not a label. */
    assert_false(matches("a", "{\"a\":1}"));
    assert_true(matches("", "{\"a\":\"b\"}"));
    assert_true(matches("example.com/app=web", "{\"example.com/app\":\"web\"}"));

    cJSON *obj = cJSON_Parse("{\"metadata\":{\"name\":\"x\",\"labels\":{\"app\":\"web\"}}}");
    struct k8s_selector *s = parse_ok("app=web");
    assert_true(k8s_selector_matches_object(s, obj));
    assert_false(k8s_selector_matches_object(s, NULL));
    assert_true(k8s_selector_matches_object(NULL, obj));
    k8s_selector_free(s);
    cJSON_Delete(obj);
}

static void canonical_string_sorts_keys_and_values(void **state)
{
    (void)state;
    assert_canonical("", "");
    assert_canonical("a=b", "a=b");
    assert_canonical("a==b", "a==b");
    assert_canonical("a!=b", "a!=b");
    assert_canonical("a in (y,x,x)", "a in (x,y)");
    assert_canonical("a notin (x)", "a notin (x)");
    assert_canonical("  b = c ,  a ", "a,b=c");
    assert_canonical("!z,a", "a,!z");
    assert_canonical("x in (foo,,baz),y,z notin ()", "x in (,baz,foo),y,z notin ()");
    assert_canonical("a=", "a=");
    assert_canonical("a in (x,)", "a in (,x)");
    assert_canonical("a in (,x)", "a in (,x)");
    assert_canonical("in in (in,notin)", "in in (in,notin)");
    assert_canonical("a>5,b<3", "a>5,b<3");
    assert_canonical("a\t=\nb", "a=b");
    struct k8s_selector *s = parse_ok("app=web,tier in (a,b)");
    char small[8];
    assert_int_equal(k8s_selector_string(s, small, sizeof(small)), K8S_ENOMEM);
    assert_string_equal(small, "app=web");
    assert_false(k8s_selector_is_empty(s));
    k8s_selector_free(s);
    s = parse_ok("   ");
    assert_true(k8s_selector_is_empty(s));
    k8s_selector_free(s);
    s = parse_ok(NULL);
    assert_true(k8s_selector_is_empty(s));
    k8s_selector_free(s);
}

#define QNAME_ERR                                                                                  \
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "    \
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "         \
    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
#define VALUE_ERR                                                                                  \
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "    \
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "             \
    "'my_value',  or '12345', regex used for validation is "                                       \
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"

static void refusals_use_the_servers_words(void **state)
{
    (void)state;
    assert_refused("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, "
                          "!=, gt, lt");
    assert_refused("a=b,", "found '', expected: identifier after ','");
    assert_refused(",a", "found ',', expected: !, identifier, or 'end of string'");
    assert_refused("a=b c", "found 'c', expected: ',' or 'end of string'");
    assert_refused("a=b=c", "found '=', expected: ',' or 'end of string'");
    assert_refused("!a=b", "found '=', expected: ',' or 'end of string'");
    assert_refused("a in x", "unable to parse requirement: found 'x' expected: '('");
    assert_refused("a in (x", "unable to parse requirement: found '', expected: ',' or ')'");
    assert_refused("a in (x y)", "unable to parse requirement: found 'y', expected: ',' or ')'");
    assert_refused("a in (=)",
                   "unable to parse requirement: found '=', expected: ',', ')' or identifier");
    assert_refused("a in (x,=)",
                   "unable to parse requirement: found '=', expected: ',', or identifier");
    assert_refused("a=(b)", "unable to parse requirement: found '(', expected: identifier");
    assert_refused("!", "unable to parse requirement: found '', expected: identifier");
    assert_refused(
        "-a=b", "unable to parse requirement: <nil>: Invalid value: \"-a\": name part " QNAME_ERR);
    assert_refused("/a", "unable to parse requirement: <nil>: Invalid value: \"/a\": prefix part "
                         "must be non-empty");
    assert_refused("a/", "unable to parse requirement: <nil>: Invalid value: \"a/\": name part "
                         "must be non-empty; name part " QNAME_ERR);
    assert_refused("Example.com/a=b",
                   "unable to parse requirement: <nil>: Invalid value: \"Example.com/a\": prefix "
                   "part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                   "characters, '-' or '.', and must start and end with an alphanumeric character "
                   "(e.g. 'example.com', regex used for validation is "
                   "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')");
    assert_refused("a/b/c", "unable to parse requirement: <nil>: Invalid value: \"a/b/c\": a "
                            "qualified name " QNAME_ERR
                            " with an optional DNS subdomain prefix and '/' (e.g. "
                            "'example.com/MyName')");
    char longkey[80];
    memset(longkey, 'k', 64);
    longkey[64] = '\0';
    char want[512];
    snprintf(want, sizeof(want),
             "unable to parse requirement: <nil>: Invalid value: \"%s\": name part must be no more "
             "than 63 characters",
             longkey);
    assert_refused(longkey, want);
    assert_refused("a=-b",
                   "unable to parse requirement: values[0][a]: Invalid value: \"-b\": " VALUE_ERR);
    assert_refused("a in (-y,-x)",
                   "unable to parse requirement: [values[0][a]: Invalid value: \"-x\": " VALUE_ERR
                   ", values[1][a]: Invalid value: \"-y\": " VALUE_ERR "]");
    char longval[80];
    memset(longval, 'v', 64);
    longval[64] = '\0';
    char text[128];
    snprintf(text, sizeof(text), "a=%s", longval);
    snprintf(want, sizeof(want),
             "unable to parse requirement: values[0][a]: Invalid value: \"%s\": must be no more "
             "than 63 characters",
             longval);
    assert_refused(text, want);
    assert_refused("a>x", "unable to parse requirement: values[0]: Invalid value: \"x\": for 'Gt', "
                          "'Lt' operators, the value must be an integer");
    assert_refused("a=\"b\"", "unable to parse requirement: values[0][a]: Invalid value: "
                              "\"\\\"b\\\"\": " VALUE_ERR);
}

static struct k8s_selector *from_json(const char *json, int want_rc, const char *want_msg)
{
    cJSON *j = json ? cJSON_Parse(json) : NULL;
    struct k8s_selector *s = NULL;
    struct k8s_error err;
    k8s_error_clear(&err);
    int rc = k8s_selector_from_label_selector(j, &s, &err);
    cJSON_Delete(j);
    if (rc != want_rc || (want_msg && strcmp(err.message, want_msg) != 0))
        fail_msg("%s: got (%d) %s", json ? json : "NULL", rc, err.message);
    return s;
}

static void label_selector_objects(void **state)
{
    (void)state;
    char buf[256];
    struct k8s_selector *s = from_json(NULL, 0, NULL);
    assert_false(k8s_selector_matches(s, NULL));
    assert_false(k8s_selector_is_empty(s));
    k8s_selector_free(s);
    s = from_json("null", 0, NULL);
    assert_false(k8s_selector_matches(s, NULL));
    k8s_selector_free(s);
    s = from_json("{}", 0, NULL);
    assert_true(k8s_selector_matches(s, NULL));
    assert_true(k8s_selector_is_empty(s));
    k8s_selector_free(s);
    s = from_json("{\"matchLabels\":{\"app\":\"web\"},\"matchExpressions\":[{\"key\":\"tier\","
                  "\"operator\":\"In\",\"values\":[\"b\",\"a\"]},{\"key\":\"x\",\"operator\":"
                  "\"DoesNotExist\"},{\"key\":\"y\",\"operator\":\"Exists\"},{\"key\":\"z\","
                  "\"operator\":\"NotIn\",\"values\":[\"q\"]}]}",
                  0, NULL);
    assert_int_equal(k8s_selector_string(s, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "app=web,tier in (a,b),!x,y,z notin (q)");
    cJSON *l = cJSON_Parse("{\"app\":\"web\",\"tier\":\"a\",\"y\":\"1\"}");
    assert_true(k8s_selector_matches(s, l));
    cJSON_Delete(l);
    k8s_selector_free(s);
    from_json("{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"Foo\"}]}", K8S_EARG,
              "\"Foo\" is not a valid label selector operator");
    from_json("{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"In\",\"values\":[]}]}",
              K8S_EARG,
              "values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't "
              "be empty");
    from_json("{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"Exists\",\"values\":[\"v\"]}]}",
              K8S_EARG,
              "values: Invalid value: []string{\"v\"}: values set must be empty for exists and "
              "does not exist");
    from_json("{\"matchLabels\":{\"-a\":\"b\"}}", K8S_EARG,
              "key: Invalid value: \"-a\": name part " QNAME_ERR);
    from_json("{\"matchLabels\":{\"-a\":\"-b\"}}", K8S_EARG,
              "[key: Invalid value: \"-a\": name part " QNAME_ERR
              ", values[0][-a]: Invalid value: \"-b\": " VALUE_ERR "]");
    from_json("{\"matchLabels\":{\"a\":1}}", K8S_EARG, NULL);
    from_json("[]", K8S_EARG, NULL);
}

/* ---- differential check against the simulator's selector ------------------- */

static unsigned rnd_next(uint64_t *rng, unsigned n)
{
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    return (unsigned)(*rng % n);
}
#define rnd(n) rnd_next(rng, (n))

/* No "in"/"notin" as keys or values, no invalid keys, no invalid value in a
 * set, no empty set "()": apimachinery (and we) accept the keywords there and
 * "()" as {""}, and refuse the bad keys and values, but the simulator
 * reserves the keywords, refuses "()" and checks only exact values; the
 * other tests cover those cases. */
static const char *const KEYS[] = {"a", "b", "app", "ind", "x.io/k", "d_e", "c"};
static const char *const VALS[] = {"x", "y", "", "inx", "notinx", "1", "7", "-z"};
static const char *const SEPS[] = {"", " ", "  ", "\t"};

static void random_selector(uint64_t *rng, char *buf, size_t cap)
{
    size_t n = 0;
    int reqs = 1 + (int)rnd(3);
    buf[0] = '\0';
#define PUT(...) n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, __VA_ARGS__)
    for (int i = 0; i < reqs; i++) {
        if (i)
            PUT("%s,%s", SEPS[rnd(4)], SEPS[rnd(4)]);
        const char *k = KEYS[rnd(7)];
        switch (rnd(9)) {
        case 0:
            PUT("%s", k);
            break;
        case 1:
            PUT("!%s", k);
            break;
        case 2:
            PUT("%s%s=%s%s", k, SEPS[rnd(4)], SEPS[rnd(4)], VALS[rnd(8)]);
            break;
        case 3:
            PUT("%s==%s", k, VALS[rnd(8)]);
            break;
        case 4:
            PUT("%s!=%s", k, VALS[rnd(8)]);
            break;
        case 5:
        case 6: {
            /* At least one value: "a in ()" is the set {""} for apimachinery
             * (and for us) but the simulator refuses it. */
            int nv = 1 + (int)rnd(3);
            PUT("%s %s (", k, rnd(2) ? "in" : "notin");
            for (int j = 0; j < nv; j++) {
                /* Not "-z": the simulator checks exact values only. */
                const char *v = VALS[rnd(6)];
                PUT("%s%s", j ? "," : "", nv == 1 && !*v ? "x" : v);
            }
            PUT(")");
            break;
        }
        case 7:
            /* Junk that must be refused by both. */
            PUT("%s %s", k, rnd(2) ? "(" : "= =");
            break;
        default:
            PUT("%s in %s", k, VALS[rnd(8)]);
            break;
        }
    }
#undef PUT
}

static cJSON *random_labels(uint64_t *rng)
{
    cJSON *l = cJSON_CreateObject();
    int n = (int)rnd(4);
    for (int i = 0; i < n; i++) {
        const char *k = KEYS[rnd(7)];
        if (!cJSON_GetObjectItemCaseSensitive(l, k))
            cJSON_AddStringToObject(l, k, VALS[rnd(8)]);
    }
    return l;
}

static void agrees_with_the_simulator_on_random_selectors(void **state)
{
    (void)state;
    char text[256], simerr[1024];
    int parsed = 0, refused = 0;
    uint64_t seed = 0x9e3779b97f4a7c15ULL, *rng = &seed;
    for (int i = 0; i < 5000; i++) {
        struct k8s_selector *s = NULL;
        struct sim_labelsel *t = NULL;
        struct k8s_error err;
        random_selector(rng, text, sizeof(text));
        int a = k8s_selector_parse(text, &s, &err);
        int b = sim_labelsel_parse(text, &t, simerr, sizeof(simerr));
        if ((a == 0) != (b == 0))
            fail_msg("\"%s\": ours %s (%s), simulator's %s (%s)", text, a ? "refused" : "parsed",
                     a ? err.message : "", b ? "refused" : "parsed", b ? simerr : "");
        if (a == 0) {
            parsed++;
            for (int j = 0; j < 20; j++) {
                cJSON *l = random_labels(rng);
                int m1 = k8s_selector_matches(s, l) != 0;
                int m2 = sim_labelsel_match(t, l) != 0;
                if (m1 != m2) {
                    char *lt = cJSON_PrintUnformatted(l);
                    fail_msg("\"%s\" on %s: ours %d, simulator's %d", text, lt, m1, m2);
                }
                cJSON_Delete(l);
            }
        } else {
            refused++;
        }
        k8s_selector_free(s);
        sim_labelsel_free(t);
    }
    /* The generator exercised both sides. */
    assert_true(parsed > 500);
    assert_true(refused > 500);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(operators_match_like_the_server),
        cmocka_unit_test(canonical_string_sorts_keys_and_values),
        cmocka_unit_test(refusals_use_the_servers_words),
        cmocka_unit_test(label_selector_objects),
        cmocka_unit_test(agrees_with_the_simulator_on_random_selectors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
