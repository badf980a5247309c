/*
 * Unit tests of sim_cel, the CEL subset of the API simulator: each supported
 * construct evaluates as CEL defines it, runtime errors read like cel-go's,
 * and anything outside the subset is refused at compile time (never passed
 * silently), with the position of the problem.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sim_cel.h"

/* Evaluates `rule` with self (and oldSelf) given as JSON text; returns the rc. */
static int eval_rule(const char *rule, const char *self_json, const char *old_json,
                     const char *schema_json, unsigned flags, bool *result, char *err,
                     size_t errlen)
{
    cJSON *self = self_json ? cJSON_Parse(self_json) : NULL;
    cJSON *old = old_json ? cJSON_Parse(old_json) : NULL;
    cJSON *schema = schema_json ? cJSON_Parse(schema_json) : NULL;
    struct sim_cel_program *prog = NULL;
    int rc = sim_cel_compile(rule, schema, flags, &prog, err, errlen);
    if (rc == 0)
        rc = sim_cel_eval_bool(prog, self, old, schema, result, err, errlen);
    sim_cel_program_free(prog);
    cJSON_Delete(self);
    cJSON_Delete(old);
    cJSON_Delete(schema);
    return rc;
}

static bool is_true(const char *rule, const char *self_json)
{
    char err[SIM_CEL_ERR_MAX];
    bool r = false;
    int rc = eval_rule(rule, self_json, NULL, NULL, 0, &r, err, sizeof(err));
    if (rc != 0)
        fail_msg("rule %s: rc %d: %s", rule, rc, err);
    return r;
}

static void assert_rule_true(const char *rule, const char *self_json)
{
    if (!is_true(rule, self_json))
        fail_msg("expected true: %s", rule);
}

static void assert_rule_false(const char *rule, const char *self_json)
{
    if (is_true(rule, self_json))
        fail_msg("expected false: %s", rule);
}

static void assert_compile_error(const char *rule, int want_rc, const char *want_substr)
{
    char err[SIM_CEL_ERR_MAX];
    struct sim_cel_program *prog = NULL;
    int rc = sim_cel_compile(rule, NULL, 0, &prog, err, sizeof(err));
    sim_cel_program_free(prog);
    if (rc != want_rc)
        fail_msg("rule %s: rc %d, want %d (%s)", rule, rc, want_rc, err);
    if (!strstr(err, want_substr))
        fail_msg("rule %s: error \"%s\" lacks \"%s\"", rule, err, want_substr);
}

static void assert_runtime_error(const char *rule, const char *self_json, const char *want)
{
    char err[SIM_CEL_ERR_MAX];
    bool r;
    int rc = eval_rule(rule, self_json, NULL, NULL, 0, &r, err, sizeof(err));
    if (rc != SIM_CEL_ERUNTIME)
        fail_msg("rule %s: rc %d, want runtime error (%s)", rule, rc, err);
    if (strcmp(err, want) != 0)
        fail_msg("rule %s: error \"%s\", want \"%s\"", rule, err, want);
}

static void field_access_and_comparisons(void **state)
{
    (void)state;
    const char *obj = "{\"spec\":{\"x\":3,\"name\":\"abc\",\"on\":true,\"f\":1.5}}";
    assert_rule_true("self.spec.x == 3", obj);
    assert_rule_true("self.spec.x != 4", obj);
    assert_rule_true("self.spec.x < 4 && self.spec.x <= 3 && self.spec.x > 2 && self.spec.x >= 3",
                     obj);
    assert_rule_true("self.spec.name == 'abc' && self.spec.name < 'abd'", obj);
    assert_rule_true("self.spec.on", obj);
    assert_rule_true("self.spec.f > 1.0 && self.spec.f == 1.5", obj);
    assert_rule_true("self['spec']['x'] == 3", obj);
    assert_rule_false("self.spec.x == 4", obj);
    assert_rule_true("null == null && self.spec != null", obj);
}

static void logic_ternary_and_not(void **state)
{
    (void)state;
    const char *obj = "{\"a\":true,\"b\":false}";
    assert_rule_true("self.a || self.b", obj);
    assert_rule_false("self.a && self.b", obj);
    assert_rule_true("!self.b", obj);
    assert_rule_true("!!self.a", obj);
    assert_rule_true("self.a ? true : false", obj);
    assert_rule_false("self.b ? true : false", obj);
    assert_rule_true("self.b ? false : self.a ? true : false", obj);
}

static void and_or_absorb_errors_like_cel(void **state)
{
    (void)state;
    /* false && error == false; true || error == true, whichever side errs. */
    assert_rule_false("self.missing == 1 && false", "{}");
    assert_rule_false("false && self.missing == 1", "{}");
    assert_rule_true("self.missing == 1 || true", "{}");
    assert_runtime_error("self.missing == 1 || false", "{}", "no such key: missing");
}

static void has_macro_guards_absent_fields(void **state)
{
    (void)state;
    const char *obj = "{\"target\":{\"type\":\"QuayRegistry\",\"quayRegistry\":{\"name\":\"q\"}}}";
    assert_rule_true("has(self.target.quayRegistry)", obj);
    assert_rule_false("has(self.target.other)", obj);
    assert_rule_true("self.target.type == 'QuayRegistry' ? has(self.target.quayRegistry) : true",
                     obj);
    assert_rule_false("self.target.type == 'QuayRegistry' ? has(self.target.quayRegistry) : true",
                      "{\"target\":{\"type\":\"QuayRegistry\"}}");
    assert_rule_true("!has(self.endTime) || !has(self.startTime) || self.endTime > self.startTime",
                     "{\"startTime\":\"x\"}");
}

static void size_as_function_and_method(void **state)
{
    (void)state;
    const char *obj = "{\"s\":\"h\\u00e9llo\",\"l\":[1,2,3],\"m\":{\"a\":1}}";
    assert_rule_true("size(self.s) == 5 && self.s.size() == 5", obj); /* code points, not bytes */
    assert_rule_true("size(self.l) == 3 && self.l.size() == 3", obj);
    assert_rule_true("size(self.m) == 1 && self.m.size() == 1", obj);
}

static void in_operator_on_lists_and_map_keys(void **state)
{
    (void)state;
    const char *obj = "{\"mode\":\"ReadOnly\",\"params\":{\"region\":\"x\"}}";
    assert_rule_true("self.mode in ['ReadOnly', 'ScaleDown']", obj);
    assert_rule_false("self.mode in ['ScaleDown']", obj);
    assert_rule_true("'region' in self.params", obj);
    assert_rule_false("'secret_key' in self.params", obj);
}

static void arithmetic_and_concatenation(void **state)
{
    (void)state;
    assert_rule_true("1 + 2 * 3 == 7 && (1 + 2) * 3 == 9", "{}");
    assert_rule_true("7 / 2 == 3 && 7 % 2 == 1 && -7 / 2 == -3", "{}");
    assert_rule_true("10 - 3 - 2 == 5", "{}");
    assert_rule_true("'ab' + 'cd' == 'abcd'", "{}");
    assert_rule_true("[1] + [2] == [1, 2]", "{}");
    assert_rule_true("2u + 3u == 5u && 1.5 * 2.0 == 3.0", "{}");
    assert_rule_true("self.n * 2 == 8", "{\"n\":4}");
    assert_runtime_error("1 / (self.n - 4) == 0", "{\"n\":4}", "division by zero");
    assert_runtime_error("9223372036854775807 + 1 > 0", "{}", "integer overflow");
    assert_runtime_error("1 + 'a' == 'x'", "{}", "no such overload: _+_(int, string)");
}

static void string_methods(void **state)
{
    (void)state;
    const char *obj = "{\"s\":\"quay-registry-01\"}";
    assert_rule_true("self.s.startsWith('quay-')", obj);
    assert_rule_false("self.s.startsWith('registry')", obj);
    assert_rule_true("self.s.endsWith('-01')", obj);
    assert_rule_true("self.s.contains('registry')", obj);
    assert_rule_true("self.s.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')", obj);
    assert_rule_false("self.s.matches('^[A-Z]+$')", obj);
    assert_rule_true("self.s.matches('\\\\d+$') && matches(self.s, 'reg')", obj);
    assert_rule_true("'AbC'.lowerAscii() == 'abc' && 'AbC'.upperAscii() == 'ABC'", obj);
    assert_rule_true("'  x '.trim() == 'x'", obj);
    assert_rule_true("'a,b,c'.split(',') == ['a', 'b', 'c'] && ['a', 'b'].join('-') == 'a-b'", obj);
    assert_rule_true("'hello'.substring(1, 3) == 'el' && 'hello'.indexOf('l') == 2", obj);
    assert_rule_true("'hello'.lastIndexOf('l') == 3 && 'aaa'.replace('a', 'b') == 'bbb'", obj);
}

static void macros_all_exists_exists_one(void **state)
{
    (void)state;
    const char *obj = "{\"parameters\":{\"region\":\"r\",\"bucket\":\"b\"},\"l\":[1,2,3]}";
    assert_rule_true("self.parameters.all(k, !(k in ['access_key', 'secret_key']))", obj);
    assert_rule_false("self.parameters.all(k, k != 'bucket')", obj);
    assert_rule_true("self.l.all(x, x > 0)", obj);
    assert_rule_true("self.l.exists(x, x == 2)", obj);
    assert_rule_false("self.l.exists(x, x == 5)", obj);
    assert_rule_true("self.l.exists_one(x, x > 2)", obj);
    assert_rule_false("self.l.exists_one(x, x > 1)", obj);
    assert_rule_true("self.parameters.exists(k, self.parameters[k] == 'b')", obj);
}

static void macros_filter_and_map(void **state)
{
    (void)state;
    const char *obj = "{\"a\":1,\"l\":[1,2,3,4]}";
    assert_rule_true("[has(self.a), has(self.b)].filter(x, x).size() <= 1", obj);
    assert_rule_false("[has(self.a), has(self.l)].filter(x, x).size() <= 1", obj);
    assert_rule_true("self.l.filter(x, x % 2 == 0) == [2, 4]", obj);
    assert_rule_true("self.l.map(x, x * 10) == [10, 20, 30, 40]", obj);
    assert_rule_true("self.l.map(x, x > 2, x * 10) == [30, 40]", obj);
    assert_rule_true("self.l.all(x, self.l.exists(y, y == x))", obj);
}

static void timestamps_and_durations(void **state)
{
    (void)state;
    const char *obj =
        "{\"startTime\":\"2024-05-01T10:00:00Z\",\"endTime\":\"2024-05-01T12:30:00+02:00\"}";
    assert_rule_true("!has(self.endTime) || !has(self.startTime) || "
                     "timestamp(self.endTime) > timestamp(self.startTime)",
                     obj);
    assert_rule_true("timestamp(self.endTime) - timestamp(self.startTime) == duration('30m')", obj);
    assert_rule_true("timestamp(self.startTime).getFullYear() == 2024 && "
                     "timestamp(self.startTime).getHours() == 10",
                     obj);
    assert_rule_true("string(timestamp('2024-01-02T03:04:05.500Z')) == '2024-01-02T03:04:05.5Z'",
                     obj);
    assert_rule_true("duration('1h30m') > duration('90s')", obj);
    assert_runtime_error("timestamp('yesterday') > timestamp(self.startTime)", obj,
                         "type conversion error from 'string' to 'google.protobuf.Timestamp': "
                         "parsing time \"yesterday\" as RFC3339 failed");
}

static void date_time_format_fields_are_timestamps(void **state)
{
    (void)state;
    const char *schema = "{\"type\":\"object\",\"properties\":{"
                         "\"t\":{\"type\":\"string\",\"format\":\"date-time\"}}}";
    char err[SIM_CEL_ERR_MAX];
    bool r = false;
    assert_int_equal(eval_rule("self.t > timestamp('2020-01-01T00:00:00Z')",
                               "{\"t\":\"2024-01-01T00:00:00Z\"}", NULL, schema, 0, &r, err,
                               sizeof(err)),
                     0);
    assert_true(r);
}

static void conversions(void **state)
{
    (void)state;
    assert_rule_true("int('42') == 42 && string(42) == '42' && double(1) == 1.0", "{}");
    assert_rule_true("uint(3) == 3u && int(2.9) == 2 && string(1.5) == '1.5'", "{}");
    assert_rule_true("bool('true') && string(true) == 'true' && dyn(1) == 1", "{}");
}

static void lists_and_maps_literals_and_equality(void **state)
{
    (void)state;
    assert_rule_true("[1, 2, 3] == [1, 2, 3] && [1, 2] != [2, 1]", "{}");
    assert_rule_true("{'a': 1, 'b': 2} == {'b': 2, 'a': 1}", "{}");
    assert_rule_true("{'a': 1}['a'] == 1 && [10, 20][1] == 20", "{}");
    assert_rule_true("[1, 2, 3].isSorted() && [3, 1, 2].sum() == 6 && [3, 1].min() == 1", "{}");
    assert_rule_true("1 == 1.0 && 1u == 1", "{}"); /* numeric equality across types */
}

static void set_lists_compare_without_order(void **state)
{
    (void)state;
    const char *schema = "{\"type\":\"object\",\"properties\":{\"s\":{\"type\":\"array\","
                         "\"x-kubernetes-list-type\":\"set\",\"items\":{\"type\":\"string\"}}}}";
    char err[SIM_CEL_ERR_MAX];
    bool r = false;
    assert_int_equal(eval_rule("self == oldSelf", "{\"s\":[\"a\",\"b\"]}", "{\"s\":[\"b\",\"a\"]}",
                               schema, 0, &r, err, sizeof(err)),
                     0);
    assert_true(r);
}

static void old_self_immutability_rule(void **state)
{
    (void)state;
    char err[SIM_CEL_ERR_MAX];
    bool r = true;
    assert_int_equal(
        eval_rule("self == oldSelf", "{\"a\":1}", "{\"a\":2}", NULL, 0, &r, err, sizeof(err)), 0);
    assert_false(r);
    assert_int_equal(
        eval_rule("self == oldSelf", "{\"a\":1}", "{\"a\":1}", NULL, 0, &r, err, sizeof(err)), 0);
    assert_true(r);

    struct sim_cel_program *prog = NULL;
    assert_int_equal(sim_cel_compile("self == oldSelf", NULL, 0, &prog, err, sizeof(err)), 0);
    assert_true(sim_cel_program_uses_old_self(prog));
    sim_cel_program_free(prog);
    assert_int_equal(sim_cel_compile("self.a == 1", NULL, 0, &prog, err, sizeof(err)), 0);
    assert_false(sim_cel_program_uses_old_self(prog));
    sim_cel_program_free(prog);
}

static void runtime_error_no_such_key(void **state)
{
    (void)state;
    assert_runtime_error("self.spec.missing == 1", "{\"spec\":{}}", "no such key: missing");
    assert_runtime_error("self.l[5] == 1", "{\"l\":[1]}", "index out of bounds: 5");
    assert_runtime_error("self.m['k'] == 1", "{\"m\":{}}", "no such key: k");
}

static void message_expression_yields_a_string(void **state)
{
    (void)state;
    cJSON *self = cJSON_Parse("{\"name\":\"q\",\"n\":3}");
    struct sim_cel_program *prog = NULL;
    char err[SIM_CEL_ERR_MAX];
    char *out = NULL;
    assert_int_equal(sim_cel_compile("'name ' + self.name + ' has ' + string(self.n)", NULL, 0,
                                     &prog, err, sizeof(err)),
                     0);
    assert_int_equal(sim_cel_eval_string(prog, self, NULL, NULL, &out, err, sizeof(err)), 0);
    assert_string_equal(out, "name q has 3");
    free(out);
    bool b;
    assert_int_equal(sim_cel_eval_bool(prog, self, NULL, NULL, &b, err, sizeof(err)),
                     SIM_CEL_ETYPE);
    sim_cel_program_free(prog);
    cJSON_Delete(self);
}

static void unsupported_constructs_refused_at_compile(void **state)
{
    (void)state;
    assert_compile_error("self.x.quantity() > 1", SIM_CEL_EUNSUPPORTED, "function 'quantity'");
    assert_compile_error("url(self.x).getHost() == 'a'", SIM_CEL_EUNSUPPORTED, "function 'url'");
    assert_compile_error("self.?x == 1", SIM_CEL_EUNSUPPORTED, "optional field selection");
    assert_compile_error("b'abc' == self.x", SIM_CEL_EUNSUPPORTED, "bytes literal");
    assert_compile_error("google.protobuf.Timestamp{seconds: 1} == self.x", SIM_CEL_ECOMPILE,
                         "undeclared reference to 'google'");
    assert_compile_error("self.l.all(i, v, v > 0)", SIM_CEL_EUNSUPPORTED,
                         "two-variable comprehension");
    assert_compile_error("self.x.matches('(?=a)')", SIM_CEL_EUNSUPPORTED, "look-around");
    assert_compile_error("foo == 1", SIM_CEL_ECOMPILE, "undeclared reference to 'foo'");
    assert_compile_error("has(self)", SIM_CEL_ECOMPILE, "invalid argument to has() macro");
    assert_compile_error("self.startsWith()", SIM_CEL_ECOMPILE, "found no matching overload");
}

static void parse_errors_report_the_position(void **state)
{
    (void)state;
    assert_compile_error("self.x ==", SIM_CEL_ESYNTAX,
                         "ERROR: <input>:1:10: Syntax error: mismatched input '<EOF>'");
    assert_compile_error("self.x == )", SIM_CEL_ESYNTAX, "ERROR: <input>:1:11:");
    assert_compile_error("self.x == 'abc", SIM_CEL_ESYNTAX, "ERROR: <input>:1:11:");
    assert_compile_error("self.x\n  && @", SIM_CEL_ESYNTAX, "ERROR: <input>:2:6:");
    assert_compile_error("(((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((("
                         "((((((((((((((((((((((((((((((((((((((1",
                         SIM_CEL_ESYNTAX, "recursion limit");
    assert_compile_error("self.if == 1", SIM_CEL_ESYNTAX, "reserved identifier: if");
    assert_compile_error("self.", SIM_CEL_ESYNTAX, "ERROR: <input>:1:6:");
}

static void schema_rejects_undefined_fields(void **state)
{
    (void)state;
    const char *schema =
        "{\"type\":\"object\",\"properties\":{\"spec\":{\"type\":\"object\",\"properties\":{"
        "\"a\":{\"type\":\"integer\"},\"m\":{\"type\":\"object\",\"additionalProperties\":{"
        "\"type\":\"string\"}},\"l\":{\"type\":\"array\",\"items\":{\"type\":\"object\","
        "\"properties\":{\"n\":{\"type\":\"string\"}}}}}}}}";
    cJSON *s = cJSON_Parse(schema);
    struct sim_cel_program *prog = NULL;
    char err[SIM_CEL_ERR_MAX];
    assert_int_equal(sim_cel_compile("self.spec.a > 0 && self.spec.m.anykey == 'x' && "
                                     "self.spec.l.all(i, i.n != '')",
                                     s, 0, &prog, err, sizeof(err)),
                     0);
    sim_cel_program_free(prog);
    prog = NULL;
    assert_int_equal(sim_cel_compile("self.spec.b > 0", s, 0, &prog, err, sizeof(err)),
                     SIM_CEL_ECOMPILE);
    assert_non_null(strstr(err, "undefined field 'b'"));
    assert_int_equal(
        sim_cel_compile("self.spec.l.all(i, i.zzz != '')", s, 0, &prog, err, sizeof(err)),
        SIM_CEL_ECOMPILE);
    assert_non_null(strstr(err, "undefined field 'zzz'"));
    /* At a resource root, metadata shows only name and generateName. */
    assert_int_equal(sim_cel_compile("self.metadata.name != '' && self.kind == 'X'", s,
                                     SIM_CEL_RESOURCE_ROOT, &prog, err, sizeof(err)),
                     0);
    sim_cel_program_free(prog);
    prog = NULL;
    assert_int_equal(sim_cel_compile("has(self.metadata.labels)", s, SIM_CEL_RESOURCE_ROOT, &prog,
                                     err, sizeof(err)),
                     SIM_CEL_ECOMPILE);
    assert_non_null(strstr(err, "undefined field 'labels'"));
    cJSON_Delete(s);

    /* preserve-unknown-fields does not make unknown fields visible; objects are not ranges */
    s = cJSON_Parse("{\"type\":\"object\",\"properties\":{\"p\":{\"type\":\"object\","
                    "\"x-kubernetes-preserve-unknown-fields\":true,\"properties\":{\"a\":{"
                    "\"type\":\"string\"}}},\"u\":{\"x-kubernetes-preserve-unknown-fields\":true},"
                    "\"ios\":{\"x-kubernetes-int-or-string\":true}}}");
    assert_int_equal(
        sim_cel_compile("self.p.a == 'x' && self.ios == 1", s, 0, &prog, err, sizeof(err)), 0);
    sim_cel_program_free(prog);
    prog = NULL;
    assert_int_equal(sim_cel_compile("self.p.secret == 'x'", s, 0, &prog, err, sizeof(err)),
                     SIM_CEL_ECOMPILE);
    assert_non_null(strstr(err, "undefined field 'secret'"));
    assert_int_equal(sim_cel_compile("has(self.u)", s, 0, &prog, err, sizeof(err)),
                     SIM_CEL_ECOMPILE);
    assert_non_null(strstr(err, "undefined field 'u'"));
    assert_int_equal(sim_cel_compile("self.p.all(k, k != 'secret')", s, 0, &prog, err, sizeof(err)),
                     SIM_CEL_ECOMPILE);
    assert_non_null(strstr(err, "cannot be the range of a comprehension"));
    cJSON_Delete(s);
}

static void preserved_unknown_fields_invisible_at_runtime(void **state)
{
    (void)state;
    char err[SIM_CEL_ERR_MAX];
    bool r = false;
    const char *schema = "{\"type\":\"object\",\"x-kubernetes-preserve-unknown-fields\":true,"
                         "\"properties\":{\"a\":{\"type\":\"integer\"}}}";
    assert_int_equal(eval_rule("self == oldSelf", "{\"a\":1,\"x\":1}", "{\"a\":1,\"x\":2}", schema,
                               0, &r, err, sizeof(err)),
                     0);
    assert_true(r);
}

static void resource_root_metadata_is_filtered(void **state)
{
    (void)state;
    char err[SIM_CEL_ERR_MAX];
    bool r = false;
    assert_int_equal(eval_rule("self.metadata.name == 'a' && self.metadata.size() == 1",
                               "{\"metadata\":{\"name\":\"a\",\"labels\":{\"x\":\"y\"}}}", NULL,
                               "{\"type\":\"object\"}", SIM_CEL_RESOURCE_ROOT, &r, err,
                               sizeof(err)),
                     0);
    assert_true(r);
}

static void step_budget_stops_runaway_rules(void **state)
{
    (void)state;
    /* 200^3 = 8M inner evaluations: above the budget, refused instead of hanging. */
    char l[2048];
    size_t off = (size_t)snprintf(l, sizeof(l), "{\"l\":[");
    for (int i = 0; i < 200; i++)
        off += (size_t)snprintf(l + off, sizeof(l) - off, "%s%d", i ? "," : "", i);
    snprintf(l + off, sizeof(l) - off, "]}");
    assert_runtime_error("self.l.all(a, self.l.all(b, self.l.all(c, a + b + c >= 0)))", l,
                         "operation cancelled: actual cost limit exceeded");
}

static void regex_translation_handles_ecma_escapes(void **state)
{
    (void)state;
    regex_t re;
    char err[256];
    assert_int_equal(sim_cel_regex_compile("^[a-z0-9\\-\\.]+$", &re, err, sizeof(err)), 0);
    assert_int_equal(regexec(&re, "a-b.c", 0, NULL, 0), 0);
    assert_int_not_equal(regexec(&re, "a_b", 0, NULL, 0), 0);
    regfree(&re);
    assert_int_equal(sim_cel_regex_compile("^(?:\\d{1,3})\\s\\w+?$", &re, err, sizeof(err)), 0);
    assert_int_equal(regexec(&re, "123 ab_c", 0, NULL, 0), 0);
    regfree(&re);
    assert_int_equal(sim_cel_regex_compile("(?i)^abc$", &re, err, sizeof(err)), 0);
    assert_int_equal(regexec(&re, "ABC", 0, NULL, 0), 0);
    regfree(&re);
    assert_int_equal(sim_cel_regex_compile("a(", &re, err, sizeof(err)), SIM_CEL_ESYNTAX);
    assert_int_equal(sim_cel_regex_compile("\\p{L}", &re, err, sizeof(err)), SIM_CEL_EUNSUPPORTED);
    /* RE2 refuses these; glibc would accept some and expand them exponentially. */
    assert_int_equal(sim_cel_regex_compile("a++", &re, err, sizeof(err)), SIM_CEL_ESYNTAX);
    assert_int_equal(sim_cel_regex_compile("*a", &re, err, sizeof(err)), SIM_CEL_ESYNTAX);
    assert_int_equal(sim_cel_regex_compile("a{1001}", &re, err, sizeof(err)), SIM_CEL_ESYNTAX);
    assert_int_equal(sim_cel_regex_compile("(a{100}){100}", &re, err, sizeof(err)),
                     SIM_CEL_EUNSUPPORTED);
    assert_int_equal(sim_cel_regex_compile("^x{2,3}[{]}$", &re, err, sizeof(err)), 0);
    assert_int_equal(regexec(&re, "xx{}", 0, NULL, 0), 0);
    regfree(&re);
}

static void go_float_formatting(void **state)
{
    (void)state;
    char buf[64];
    assert_string_equal(sim_cel_format_double(1.0, buf, sizeof(buf)), "1");
    assert_string_equal(sim_cel_format_double(0.5, buf, sizeof(buf)), "0.5");
    assert_string_equal(sim_cel_format_double(1e6, buf, sizeof(buf)), "1e+06");
    assert_string_equal(sim_cel_format_double(123456.0, buf, sizeof(buf)), "123456");
    assert_string_equal(sim_cel_format_double(-2.25, buf, sizeof(buf)), "-2.25");
    assert_string_equal(sim_cel_format_double(0.0001, buf, sizeof(buf)), "0.0001");
    assert_string_equal(sim_cel_format_double(0.00001, buf, sizeof(buf)), "1e-05");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(field_access_and_comparisons),
        cmocka_unit_test(logic_ternary_and_not),
        cmocka_unit_test(and_or_absorb_errors_like_cel),
        cmocka_unit_test(has_macro_guards_absent_fields),
        cmocka_unit_test(size_as_function_and_method),
        cmocka_unit_test(in_operator_on_lists_and_map_keys),
        cmocka_unit_test(arithmetic_and_concatenation),
        cmocka_unit_test(string_methods),
        cmocka_unit_test(macros_all_exists_exists_one),
        cmocka_unit_test(macros_filter_and_map),
        cmocka_unit_test(timestamps_and_durations),
        cmocka_unit_test(date_time_format_fields_are_timestamps),
        cmocka_unit_test(conversions),
        cmocka_unit_test(lists_and_maps_literals_and_equality),
        cmocka_unit_test(set_lists_compare_without_order),
        cmocka_unit_test(old_self_immutability_rule),
        cmocka_unit_test(runtime_error_no_such_key),
        cmocka_unit_test(message_expression_yields_a_string),
        cmocka_unit_test(unsupported_constructs_refused_at_compile),
        cmocka_unit_test(parse_errors_report_the_position),
        cmocka_unit_test(schema_rejects_undefined_fields),
        cmocka_unit_test(resource_root_metadata_is_filtered),
        cmocka_unit_test(preserved_unknown_fields_invisible_at_runtime),
        cmocka_unit_test(step_budget_stops_runaway_rules),
        cmocka_unit_test(regex_translation_handles_ecma_escapes),
        cmocka_unit_test(go_float_formatting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
