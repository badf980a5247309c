/*
 * Unit tests of sim_schema: CRD structural-schema checks, defaulting, pruning
 * and validation of custom resources, with each error worded exactly as
 * kube-apiserver words it (field path, cause reason and message), and CEL
 * rules (x-kubernetes-validations) including transition rules.
 */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>
#include <yaml.h>

#include "sim_schema.h"

/* A CR schema in the shape of ours: spec with the keywords under test. */
static const char *const spec_schema =
    "{\"type\":\"object\",\"properties\":{"
    "\"apiVersion\":{\"type\":\"string\"},\"kind\":{\"type\":\"string\"},"
    "\"metadata\":{\"type\":\"object\"},"
    "\"spec\":{\"type\":\"object\",\"required\":[\"target\"],\"properties\":{"
    "\"target\":{\"type\":\"string\"},"
    "\"mode\":{\"type\":\"string\",\"enum\":[\"DisablePushes\",\"ReadOnly\",\"ScaleDown\"]},"
    "\"x\":{\"type\":\"integer\"},"
    "\"name\":{\"type\":\"string\",\"minLength\":2,\"maxLength\":5,\"pattern\":\"^[a-z]+$\"},"
    "\"ratio\":{\"type\":\"number\",\"minimum\":0,\"maximum\":1,\"exclusiveMaximum\":true},"
    "\"copy\":{\"type\":\"object\",\"properties\":{\"shards\":{\"type\":\"integer\",\"minimum\":1,"
    "\"maximum\":64,\"default\":4},\"verify\":{\"type\":\"boolean\",\"default\":true}}},"
    "\"tags\":{\"type\":\"array\",\"minItems\":1,\"maxItems\":2,\"items\":{\"type\":\"string\"},"
    "\"x-kubernetes-list-type\":\"set\"},"
    "\"labels\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"},"
    "\"maxProperties\":2,\"minProperties\":1},"
    "\"ports\":{\"type\":\"array\",\"x-kubernetes-list-type\":\"map\","
    "\"x-kubernetes-list-map-keys\":[\"name\"],\"items\":{\"type\":\"object\",\"required\":"
    "[\"name\"],\"properties\":{\"name\":{\"type\":\"string\"},\"port\":{\"type\":\"integer\"}}}},"
    "\"port\":{\"x-kubernetes-int-or-string\":true},"
    "\"when\":{\"type\":\"string\",\"format\":\"date-time\"},"
    "\"note\":{\"type\":\"string\",\"nullable\":true},"
    "\"free\":{\"type\":\"object\",\"x-kubernetes-preserve-unknown-fields\":true},"
    "\"level\":{\"type\":\"string\",\"default\":\"info\"}"
    "}},"
    "\"status\":{\"type\":\"object\",\"properties\":{\"phase\":{\"type\":\"string\"}}}}}";

static struct sim_schema *compile(const char *schema_json)
{
    cJSON *j = cJSON_Parse(schema_json);
    assert_non_null(j);
    struct sim_schema *s = NULL;
    struct sim_field_errors errs;
    sim_field_errors_init(&errs);
    int rc = sim_schema_new(j, "spec.versions[0].schema.openAPIV3Schema", &s, &errs);
    for (size_t i = 0; i < errs.n; i++)
        print_message("schema error: %s: %s\n", errs.items[i].field, errs.items[i].body);
    assert_int_equal(rc, 0);
    sim_field_errors_free(&errs);
    cJSON_Delete(j);
    return s;
}

/* Validates `obj_json` (after default) and returns "field: body" lines joined by '\n'. */
static char *validate(const struct sim_schema *s, const char *obj_json, const char *old_json)
{
    cJSON *obj = cJSON_Parse(obj_json);
    cJSON *old = old_json ? cJSON_Parse(old_json) : NULL;
    assert_non_null(obj);
    struct sim_field_errors errs;
    sim_field_errors_init(&errs);
    int rc = sim_schema_validate(s, obj, old, &errs);
    size_t cap = 1;
    for (size_t i = 0; i < errs.n; i++)
        cap += strlen(errs.items[i].field) + strlen(errs.items[i].body) + 4;
    char *out = calloc(1, cap);
    assert_non_null(out);
    size_t off = 0;
    for (size_t i = 0; i < errs.n; i++)
        off += (size_t)snprintf(out + off, cap - off, "%s%s: %s", i ? "\n" : "",
                                errs.items[i].field, errs.items[i].body);
    assert_int_equal(rc, errs.n ? SIM_SCHEMA_EINVALID : 0);
    sim_field_errors_free(&errs);
    cJSON_Delete(obj);
    cJSON_Delete(old);
    return out;
}

static void assert_errors(const struct sim_schema *s, const char *obj_json, const char *old_json,
                          const char *want)
{
    char *got = validate(s, obj_json, old_json);
    if (strcmp(got, want) != 0) {
        print_error("object: %s\n got: %s\nwant: %s\n", obj_json, got, want);
        free(got);
        fail();
    }
    free(got);
}

static void assert_valid(const struct sim_schema *s, const char *obj_json)
{
    assert_errors(s, obj_json, NULL, "");
}

#define OBJ(spec)                                                                                  \
    "{\"apiVersion\":\"q.io/v1\",\"kind\":\"K\",\"metadata\":{\"name\":\"n\"},\"spec\":" spec "}"

static void valid_object_passes(void **state)
{
    struct sim_schema *s = *state;
    assert_valid(s, OBJ("{\"target\":\"t\",\"mode\":\"ReadOnly\",\"x\":3,\"name\":\"abc\","
                        "\"ratio\":0.5,\"tags\":[\"a\",\"b\"],\"labels\":{\"a\":\"b\"},"
                        "\"ports\":[{\"name\":\"a\",\"port\":1},{\"name\":\"b\",\"port\":1}],"
                        "\"port\":8080,\"when\":\"2024-01-02T03:04:05Z\",\"note\":null,"
                        "\"free\":{\"anything\":[1,{\"x\":true}]}}"));
}

static void required_field_missing_refused(void **state)
{
    struct sim_schema *s = *state;
    assert_errors(s, OBJ("{}"), NULL,
                  "spec.target: Required value\n"
                  "<nil>: Invalid value: \"null\": some validation rules were not checked because "
                  "the object was invalid; correct the existing errors to complete validation");
}

static void enum_refused_with_supported_values(void **state)
{
    struct sim_schema *s = *state;
    char *got = validate(s, OBJ("{\"target\":\"t\",\"mode\":\"Foo\"}"), NULL);
    assert_non_null(strstr(got, "spec.mode: Unsupported value: \"Foo\": supported values: "
                                "\"DisablePushes\", \"ReadOnly\", \"ScaleDown\""));
    free(got);
}

static void type_mismatch_refused(void **state)
{
    struct sim_schema *s = *state;
    char *got = validate(s, OBJ("{\"target\":\"t\",\"x\":\"string\"}"), NULL);
    assert_non_null(strstr(
        got,
        "spec.x: Invalid value: \"string\": spec.x in body must be of type integer: \"string\""));
    free(got);
    got = validate(s, OBJ("{\"target\":\"t\",\"x\":1.5}"), NULL);
    assert_non_null(strstr(
        got,
        "spec.x: Invalid value: \"number\": spec.x in body must be of type integer: \"number\""));
    free(got);
    got = validate(s, OBJ("{\"target\":\"t\",\"copy\":[]}"), NULL);
    assert_non_null(strstr(got, "spec.copy: Invalid value: \"array\": spec.copy in body must be of "
                                "type object: \"array\""));
    free(got);
}

static void minimum_and_maximum_refused(void **state)
{
    struct sim_schema *s = *state;
    assert_errors(s, OBJ("{\"target\":\"t\",\"copy\":{\"shards\":0}}"), NULL,
                  "spec.copy.shards: Invalid value: 0: spec.copy.shards in body should be greater "
                  "than or equal to 1");
    assert_errors(s, OBJ("{\"target\":\"t\",\"copy\":{\"shards\":65}}"), NULL,
                  "spec.copy.shards: Invalid value: 65: spec.copy.shards in body should be less "
                  "than or equal to 64");
    assert_errors(s, OBJ("{\"target\":\"t\",\"ratio\":1}"), NULL,
                  "spec.ratio: Invalid value: 1: spec.ratio in body should be less than 1");
    assert_errors(s, OBJ("{\"target\":\"t\",\"ratio\":-0.5}"), NULL,
                  "spec.ratio: Invalid value: -0.5: spec.ratio in body should be greater than or "
                  "equal to 0");
    assert_valid(s, OBJ("{\"target\":\"t\",\"ratio\":0}"));
}

static void multiple_of_and_exclusive_minimum_refused(void **state)
{
    (void)state;
    struct sim_schema *s =
        compile("{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"integer\","
                "\"multipleOf\":5,\"minimum\":0,\"exclusiveMinimum\":true},"
                "\"big\":{\"type\":\"number\",\"maximum\":1000000}}}");
    assert_valid(s, "{\"n\":10}");
    assert_errors(s, "{\"n\":7}", NULL, "n: Invalid value: 7: n in body should be a multiple of 5");
    assert_errors(s, "{\"n\":0}", NULL, "n: Invalid value: 0: n in body should be greater than 0");
    /* limits print as Go's %v of a float64 */
    assert_errors(s, "{\"big\":2000000.5}", NULL,
                  "big: Invalid value: 2.0000005e+06: big in body should be less than or equal to "
                  "1e+06");
    sim_schema_free(s);
}

static void string_length_and_pattern_refused(void **state)
{
    struct sim_schema *s = *state;
    assert_errors(s, OBJ("{\"target\":\"t\",\"name\":\"abcdef\"}"), NULL,
                  "spec.name: Too long: may not be longer than 5\n"
                  "<nil>: Invalid value: \"null\": some validation rules were not checked because "
                  "the object was invalid; correct the existing errors to complete validation");
    assert_errors(s, OBJ("{\"target\":\"t\",\"name\":\"a\"}"), NULL,
                  "spec.name: Invalid value: \"a\": spec.name in body should be at least 2 chars "
                  "long");
    assert_errors(s, OBJ("{\"target\":\"t\",\"name\":\"AB\"}"), NULL,
                  "spec.name: Invalid value: \"AB\": spec.name in body should match '^[a-z]+$'");
}

static void item_and_property_counts_refused(void **state)
{
    struct sim_schema *s = *state;
    assert_errors(s, OBJ("{\"target\":\"t\",\"tags\":[]}"), NULL,
                  "spec.tags: Invalid value: 0: spec.tags in body should have at least 1 items");
    char *got = validate(s, OBJ("{\"target\":\"t\",\"tags\":[\"a\",\"b\",\"c\"]}"), NULL);
    assert_non_null(strstr(got, "spec.tags: Too many: 3: must have at most 2 items"));
    free(got);
    got = validate(s, OBJ("{\"target\":\"t\",\"labels\":{\"a\":\"1\",\"b\":\"2\",\"c\":\"3\"}}"),
                   NULL);
    assert_non_null(strstr(got, "spec.labels: Too many: 3: must have at most 2 items"));
    free(got);
    assert_errors(s, OBJ("{\"target\":\"t\",\"labels\":{}}"), NULL,
                  "spec.labels: Invalid value: 0: spec.labels in body should have at least 1 "
                  "properties");
    assert_errors(s, OBJ("{\"target\":\"t\",\"labels\":{\"a\":1}}"), NULL,
                  "spec.labels.a: Invalid value: \"integer\": spec.labels.a in body must be of "
                  "type string: \"integer\"\n"
                  "<nil>: Invalid value: \"null\": some validation rules were not checked because "
                  "the object was invalid; correct the existing errors to complete validation");
}

static void list_map_duplicate_keys_refused(void **state)
{
    struct sim_schema *s = *state;
    assert_errors(s,
                  OBJ("{\"target\":\"t\",\"ports\":[{\"name\":\"a\",\"port\":1},{\"name\":\"b\"},"
                      "{\"name\":\"a\",\"port\":2}]}"),
                  NULL, "spec.ports[2]: Duplicate value: map[string]interface {}{\"name\":\"a\"}");
    assert_errors(s, OBJ("{\"target\":\"t\",\"tags\":[\"a\",\"a\"]}"), NULL,
                  "spec.tags[1]: Duplicate value: \"a\"");
}

static void int_or_string_accepts_both_refuses_others(void **state)
{
    struct sim_schema *s = *state;
    assert_valid(s, OBJ("{\"target\":\"t\",\"port\":\"http\"}"));
    assert_valid(s, OBJ("{\"target\":\"t\",\"port\":80}"));
    char *got = validate(s, OBJ("{\"target\":\"t\",\"port\":true}"), NULL);
    assert_non_null(strstr(got, "spec.port: Invalid value: \"boolean\": spec.port in body must be "
                                "of type integer,string: \"boolean\""));
    free(got);
}

static void nullable_allows_null_only_where_declared(void **state)
{
    struct sim_schema *s = *state;
    assert_valid(s, OBJ("{\"target\":\"t\",\"note\":null}"));
    char *got = validate(s, OBJ("{\"target\":\"t\",\"x\":null}"), NULL);
    assert_non_null(strstr(
        got, "spec.x: Invalid value: \"null\": spec.x in body must be of type integer: \"null\""));
    free(got);
}

static void format_date_time_refused(void **state)
{
    struct sim_schema *s = *state;
    char *got = validate(s, OBJ("{\"target\":\"t\",\"when\":\"tomorrow\"}"), NULL);
    assert_non_null(strstr(got, "spec.when: Invalid value: \"tomorrow\": spec.when in body must be "
                                "of type date-time: \"tomorrow\""));
    free(got);
}

static void defaults_applied_inside_present_objects(void **state)
{
    struct sim_schema *s = *state;
    cJSON *obj = cJSON_Parse(OBJ("{\"target\":\"t\",\"copy\":{\"verify\":false},\"x\":null}"));
    assert_int_equal(sim_schema_default(s, obj), 0);
    const cJSON *spec = cJSON_GetObjectItem(obj, "spec");
    const cJSON *copy = cJSON_GetObjectItem(spec, "copy");
    assert_int_equal(cJSON_GetObjectItem(copy, "shards")->valueint, 4);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(copy, "verify"))); /* kept, not overwritten */
    assert_string_equal(cJSON_GetObjectItem(spec, "level")->valuestring, "info");
    /* a null for a non-nullable field without a default is dropped before validation */
    assert_null(cJSON_GetObjectItem(spec, "x"));
    /* absent objects are not created just to hold defaults */
    assert_null(cJSON_GetObjectItem(obj, "status"));
    cJSON_Delete(obj);
}

static void pruning_drops_unknown_fields_and_reports_paths(void **state)
{
    struct sim_schema *s = *state;
    cJSON *obj = cJSON_Parse("{\"apiVersion\":\"q.io/v1\",\"kind\":\"K\",\"metadata\":{\"name\":"
                             "\"n\",\"labels\":{\"a\":\"b\"}},\"spec\":{\"target\":\"t\",\"foo\":1,"
                             "\"ports\":[{\"name\":\"a\",\"bar\":2}],\"free\":{\"kept\":true}},"
                             "\"extra\":{}}");
    struct sim_strlist unknown;
    sim_strlist_init(&unknown);
    assert_int_equal(sim_schema_prune(s, obj, &unknown), 0);
    assert_int_equal(unknown.n, 3);
    assert_string_equal(unknown.items[0], "spec.foo");
    assert_string_equal(unknown.items[1], "spec.ports[0].bar");
    assert_string_equal(unknown.items[2], "extra");
    const cJSON *spec = cJSON_GetObjectItem(obj, "spec");
    assert_null(cJSON_GetObjectItem(spec, "foo"));
    assert_non_null(cJSON_GetObjectItem(cJSON_GetObjectItem(spec, "free"), "kept"));
    assert_non_null(cJSON_GetObjectItem(cJSON_GetObjectItem(obj, "metadata"), "labels"));
    assert_non_null(cJSON_GetObjectItem(obj, "apiVersion"));
    char buf[128];
    assert_string_equal(sim_schema_unknown_field_message(unknown.items[0], buf, sizeof(buf)),
                        "unknown field \"spec.foo\"");
    sim_strlist_free(&unknown);
    cJSON_Delete(obj);
}

static void status_message_and_causes_like_the_server(void **state)
{
    (void)state;
    struct sim_field_errors errs;
    sim_field_errors_init(&errs);
    assert_int_equal(sim_field_errors_add(&errs, SIM_FE_REQUIRED, "spec.target", "Required value"),
                     0);
    char *msg = sim_field_errors_message(&errs, "StorageMigration", "quaystorage.io", "m1");
    assert_string_equal(msg,
                        "StorageMigration.quaystorage.io \"m1\" is invalid: spec.target: Required "
                        "value");
    free(msg);
    assert_int_equal(sim_field_errors_add(&errs, SIM_FE_NOT_SUPPORTED, "spec.mode",
                                          "Unsupported value: \"Foo\""),
                     0);
    msg = sim_field_errors_message(&errs, "StorageMigration", "quaystorage.io", "m1");
    assert_string_equal(msg, "StorageMigration.quaystorage.io \"m1\" is invalid: [spec.target: "
                             "Required value, spec.mode: Unsupported value: \"Foo\"]");
    free(msg);
    cJSON *st = sim_field_errors_status(&errs, "StorageMigration", "quaystorage.io", "m1");
    assert_non_null(st);
    assert_int_equal(cJSON_GetObjectItem(st, "code")->valueint, 422);
    assert_string_equal(cJSON_GetObjectItem(st, "reason")->valuestring, "Invalid");
    const cJSON *causes = cJSON_GetObjectItem(cJSON_GetObjectItem(st, "details"), "causes");
    assert_int_equal(cJSON_GetArraySize(causes), 2);
    const cJSON *c1 = cJSON_GetArrayItem(causes, 1);
    assert_string_equal(cJSON_GetObjectItem(c1, "reason")->valuestring, "FieldValueNotSupported");
    assert_string_equal(cJSON_GetObjectItem(c1, "field")->valuestring, "spec.mode");
    assert_string_equal(cJSON_GetObjectItem(c1, "message")->valuestring,
                        "Unsupported value: \"Foo\"");
    cJSON_Delete(st);
    sim_field_errors_free(&errs);
}

/* ---- CEL rules through the schema */

static const char *const cel_schema =
    "{\"type\":\"object\",\"properties\":{\"metadata\":{\"type\":\"object\"},"
    "\"spec\":{\"type\":\"object\",\"x-kubernetes-validations\":["
    "{\"rule\":\"self.target.type == 'QuayRegistry' ? has(self.target.quayRegistry) : true\","
    "\"message\":\"quayRegistry is required when target.type is QuayRegistry\"},"
    "{\"rule\":\"!has(self.parallelism) || self.parallelism <= self.shards\"}],"
    "\"properties\":{"
    "\"target\":{\"type\":\"object\",\"properties\":{\"type\":{\"type\":\"string\"},"
    "\"quayRegistry\":{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"}}}}},"
    "\"shards\":{\"type\":\"integer\"},\"parallelism\":{\"type\":\"integer\"},"
    "\"bucket\":{\"type\":\"string\",\"x-kubernetes-validations\":[{\"rule\":\"self == oldSelf\","
    "\"message\":\"bucket is immutable\"}]},"
    "\"owner\":{\"type\":\"string\",\"x-kubernetes-validations\":[{\"rule\":\"self.size() < 3\","
    "\"messageExpression\":\"'owner ' + self + ' is too "
    "long'\",\"reason\":\"FieldValueForbidden\"}]},"
    "\"items\":{\"type\":\"array\",\"x-kubernetes-list-type\":\"map\","
    "\"x-kubernetes-list-map-keys\":[\"name\"],\"items\":{\"type\":\"object\",\"required\":["
    "\"name\"],"
    "\"properties\":{\"name\":{\"type\":\"string\"},\"size\":{\"type\":\"integer\","
    "\"x-kubernetes-validations\":[{\"rule\":\"self >= oldSelf\",\"message\":\"cannot "
    "shrink\"}]}}}},"
    "\"params\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"},"
    "\"x-kubernetes-validations\":[{\"rule\":\"self.all(k, !(k in ['access_key', 'secret_key']))\","
    "\"message\":\"credentials belong in a Secret\",\"fieldPath\":\".access_key\"}]}"
    "}}},"
    "\"x-kubernetes-validations\":[{\"rule\":\"self.metadata.name.startsWith('m')\"}]}";

static void cel_rule_violation_reported_with_message(void **state)
{
    (void)state;
    struct sim_schema *s = compile(cel_schema);
    assert_errors(
        s,
        "{\"metadata\":{\"name\":\"m1\"},\"spec\":{\"target\":{\"type\":\"QuayRegistry\"},"
        "\"shards\":1}}",
        NULL,
        "spec: Invalid value: \"object\": quayRegistry is required when target.type is "
        "QuayRegistry");
    assert_errors(s,
                  "{\"metadata\":{\"name\":\"m1\"},\"spec\":{\"target\":{\"type\":\"Other\"},"
                  "\"shards\":1,\"parallelism\":2}}",
                  NULL,
                  "spec: Invalid value: \"object\": failed rule: !has(self.parallelism) || "
                  "self.parallelism <= self.shards");
    assert_errors(s, "{\"metadata\":{\"name\":\"x1\"},\"spec\":{\"target\":{\"type\":\"A\"}}}",
                  NULL,
                  "<nil>: Invalid value: \"object\": failed rule: "
                  "self.metadata.name.startsWith('m')");
    /* messageExpression and reason */
    assert_errors(s,
                  "{\"metadata\":{\"name\":\"m1\"},\"spec\":{\"target\":{\"type\":\"A\"},"
                  "\"owner\":\"alice\"}}",
                  NULL, "spec.owner: Forbidden: owner alice is too long");
    /* fieldPath moves the error to the field */
    assert_errors(
        s,
        "{\"metadata\":{\"name\":\"m1\"},\"spec\":{\"target\":{\"type\":\"A\"},"
        "\"params\":{\"access_key\":\"k\"}}}",
        NULL, "spec.params.access_key: Invalid value: \"object\": credentials belong in a Secret");
    sim_schema_free(s);
}

static void cel_runtime_error_reported_like_the_server(void **state)
{
    (void)state;
    struct sim_schema *s = compile(cel_schema);
    /* parallelism set, shards absent: "no such key" */
    assert_errors(s,
                  "{\"metadata\":{\"name\":\"m1\"},\"spec\":{\"target\":{\"type\":\"A\"},"
                  "\"parallelism\":2}}",
                  NULL,
                  "spec: Invalid value: \"object\": no such key: shards evaluating rule: "
                  "!has(self.parallelism) || self.parallelism <= self.shards");
    sim_schema_free(s);
}

static void transition_rule_immutability_on_update_only(void **state)
{
    (void)state;
    struct sim_schema *s = compile(cel_schema);
    const char *v1 = "{\"metadata\":{\"name\":\"m1\"},\"spec\":{\"target\":{\"type\":\"A\"},"
                     "\"bucket\":\"b1\"}}";
    const char *v2 = "{\"metadata\":{\"name\":\"m1\"},\"spec\":{\"target\":{\"type\":\"A\"},"
                     "\"bucket\":\"b2\"}}";
    assert_errors(s, v2, NULL, ""); /* create: no old value, the rule is not evaluated */
    assert_errors(s, v1, v1, "");
    assert_errors(s, v2, v1, "spec.bucket: Invalid value: \"string\": bucket is immutable");
    /* list-type map items correlate by key, whatever their order */
    const char *l1 = "{\"metadata\":{\"name\":\"m1\"},\"spec\":{\"target\":{\"type\":\"A\"},"
                     "\"items\":[{\"name\":\"a\",\"size\":5},{\"name\":\"b\",\"size\":1}]}}";
    const char *l2 = "{\"metadata\":{\"name\":\"m1\"},\"spec\":{\"target\":{\"type\":\"A\"},"
                     "\"items\":[{\"name\":\"b\",\"size\":2},{\"name\":\"a\",\"size\":4},"
                     "{\"name\":\"c\",\"size\":0}]}}";
    assert_errors(s, l2, l1, "spec.items[1].size: Invalid value: \"integer\": cannot shrink");
    sim_schema_free(s);
}

static void cel_skipped_when_blocking_schema_error(void **state)
{
    (void)state;
    struct sim_schema *s = compile(cel_schema);
    assert_errors(s,
                  "{\"metadata\":{\"name\":\"x\"},\"spec\":{\"target\":{\"type\":\"A\"},"
                  "\"shards\":\"many\"}}",
                  NULL,
                  "spec.shards: Invalid value: \"string\": spec.shards in body must be of type "
                  "integer: \"string\"\n"
                  "<nil>: Invalid value: \"null\": some validation rules were not checked because "
                  "the object was invalid; correct the existing errors to complete validation");
    sim_schema_free(s);
}

/* ---- CRD schema checks */

static char *check(const char *schema_json)
{
    cJSON *j = cJSON_Parse(schema_json);
    assert_non_null(j);
    struct sim_schema *s = NULL;
    struct sim_field_errors errs;
    sim_field_errors_init(&errs);
    int rc = sim_schema_new(j, "spec.versions[0].schema.openAPIV3Schema", &s, &errs);
    size_t cap = 1;
    for (size_t i = 0; i < errs.n; i++)
        cap += strlen(errs.items[i].field) + strlen(errs.items[i].body) + 4;
    char *out = calloc(1, cap);
    size_t off = 0;
    for (size_t i = 0; i < errs.n; i++)
        off += (size_t)snprintf(out + off, cap - off, "%s%s: %s", i ? "\n" : "",
                                errs.items[i].field, errs.items[i].body);
    assert_int_equal(rc, errs.n ? SIM_SCHEMA_EINVALID : 0);
    assert_true(errs.n ? s == NULL : s != NULL);
    sim_schema_free(s);
    sim_field_errors_free(&errs);
    cJSON_Delete(j);
    return out;
}

static void assert_check_contains(const char *schema_json, const char *want)
{
    char *got = check(schema_json);
    if (!strstr(got, want)) {
        print_error("got: %s\nwant substring: %s\n", got, want);
        free(got);
        fail();
    }
    free(got);
}

static void unsupported_cel_refuses_the_crd(void **state)
{
    (void)state;
    assert_check_contains(
        "{\"type\":\"object\",\"properties\":{\"spec\":{\"type\":\"object\",\"properties\":{"
        "\"q\":{\"type\":\"string\"}},\"x-kubernetes-validations\":[{\"rule\":"
        "\"quantity(self.q).isGreaterThan(quantity('1Gi'))\"}]}}}",
        "spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule:"
        " Invalid value: apiextensions.ValidationRule{Rule:\"quantity(self.q).isGreaterThan("
        "quantity('1Gi'))\", Message:\"\", MessageExpression:\"\", "
        "Reason:(*apiextensions.FieldValueErrorReason)(nil), FieldPath:\"\", "
        "OptionalOldSelf:(*bool)(nil)}: compilation failed: ERROR: <input>:1:1: unsupported "
        "construct: function 'quantity'");
    assert_check_contains("{\"type\":\"object\",\"properties\":{\"spec\":{\"type\":\"object\","
                          "\"x-kubernetes-validations\":[{\"rule\":\"self.x ==\"}]}}}",
                          "compilation failed: ERROR: <input>:1:10: Syntax error");
    assert_check_contains("{\"type\":\"object\",\"properties\":{\"spec\":{\"type\":\"object\","
                          "\"properties\":{\"a\":{\"type\":\"string\"}},"
                          "\"x-kubernetes-validations\":[{\"rule\":\"self.b == 'x'\"}]}}}",
                          "compilation failed: ERROR: <input>:1:6: undefined field 'b'");
    assert_check_contains("{\"type\":\"object\",\"properties\":{\"spec\":{\"type\":\"object\","
                          "\"x-kubernetes-validations\":[{\"rule\":\"oldSelf.hasValue()\","
                          "\"optionalOldSelf\":true}]}}}",
                          "x-kubernetes-validations[0].optionalOldSelf: Invalid value: "
                          "apiextensions.ValidationRule{Rule:\"oldSelf.hasValue()\"");
}

static void transition_rule_under_set_list_refused(void **state)
{
    (void)state;
    assert_check_contains(
        "{\"type\":\"object\",\"properties\":{\"l\":{\"type\":\"array\",\"items\":{\"type\":"
        "\"string\",\"x-kubernetes-validations\":[{\"rule\":\"self == oldSelf\"}]}}}}",
        "oldSelf cannot be used on the uncorrelatable portion of the schema within "
        "spec.versions[0].schema.openAPIV3Schema.properties[l].items");
}

static void non_structural_schemas_refused(void **state)
{
    (void)state;
    assert_check_contains("{\"type\":\"object\",\"properties\":{\"spec\":{\"properties\":{}}}}",
                          "spec.versions[0].schema.openAPIV3Schema.properties[spec].type: Required "
                          "value: must not be empty for specified object fields");
    assert_check_contains(
        "{\"type\":\"object\",\"properties\":{\"spec\":{\"type\":\"strin\"}}}",
        "properties[spec].type: Unsupported value: \"strin\": supported values: "
        "\"array\", \"boolean\", \"integer\", \"number\", \"object\", \"string\"");
    assert_check_contains("{\"type\":\"object\",\"properties\":{\"l\":{\"type\":\"array\","
                          "\"x-kubernetes-list-type\":\"map\",\"items\":{\"type\":\"object\"}}}}",
                          "properties[l].x-kubernetes-list-map-keys: Required value: must not be "
                          "empty if x-kubernetes-list-type is map");
    assert_check_contains("{\"type\":\"object\",\"properties\":{\"metadata\":{\"type\":\"object\","
                          "\"properties\":{\"labels\":{\"type\":\"object\"}}}}}",
                          "properties[metadata]: Forbidden: must not specify anything other than "
                          "name and generateName");
    assert_check_contains(
        "{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"integer\","
        "\"minimum\":1,\"default\":0}}}",
        "properties[n].default: Invalid value: 0:  in body should be greater than "
        "or equal to 1");
    assert_check_contains("{\"type\":\"string\"}", "openAPIV3Schema.type: Invalid value: "
                                                   "\"string\": must be object at the root");
    char *ok = check(spec_schema);
    assert_string_equal(ok, "");
    free(ok);
}

/* ---- our CRDs and the invalid fixtures beside them */

/*
 * A minimal YAML-to-cJSON reader for the fixtures (block and flow
 * collections, plain scalars resolved as YAML 1.2's core schema: null,
 * true/false, integers, floats, else strings). Enough for CRDs and CRs.
 */
static cJSON *yaml_node(yaml_parser_t *p, yaml_event_t *ev, int depth);

static cJSON *yaml_scalar(const yaml_event_t *ev)
{
    const char *v = (const char *)ev->data.scalar.value;
    if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE ||
        (ev->data.scalar.tag && !strcmp((const char *)ev->data.scalar.tag, YAML_STR_TAG)))
        return cJSON_CreateString(v);
    if (!*v || !strcmp(v, "null") || !strcmp(v, "~") || !strcmp(v, "Null") || !strcmp(v, "NULL"))
        return cJSON_CreateNull();
    if (!strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "TRUE"))
        return cJSON_CreateTrue();
    if (!strcmp(v, "false") || !strcmp(v, "False") || !strcmp(v, "FALSE"))
        return cJSON_CreateFalse();
    char *end;
    const char *q = v + (*v == '-' || *v == '+');
    if (isdigit((unsigned char)*q) || (*q == '.' && isdigit((unsigned char)q[1]))) {
        double d = strtod(v, &end);
        if (*end == '\0')
            return cJSON_CreateNumber(d);
    }
    return cJSON_CreateString(v);
}

static cJSON *yaml_node(yaml_parser_t *p, yaml_event_t *ev, int depth)
{
    if (depth > 64)
        return NULL;
    if (ev->type == YAML_SCALAR_EVENT)
        return yaml_scalar(ev);
    bool is_map = ev->type == YAML_MAPPING_START_EVENT;
    if (!is_map && ev->type != YAML_SEQUENCE_START_EVENT)
        return NULL;
    cJSON *out = is_map ? cJSON_CreateObject() : cJSON_CreateArray();
    for (;;) {
        yaml_event_t e;
        if (!yaml_parser_parse(p, &e)) {
            cJSON_Delete(out);
            return NULL;
        }
        if (e.type == YAML_MAPPING_END_EVENT || e.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&e);
            return out;
        }
        if (is_map) {
            if (e.type != YAML_SCALAR_EVENT) {
                yaml_event_delete(&e);
                cJSON_Delete(out);
                return NULL;
            }
            char *key = strdup((const char *)e.data.scalar.value);
            yaml_event_delete(&e);
            yaml_event_t ve;
            if (!key || !yaml_parser_parse(p, &ve)) {
                free(key);
                cJSON_Delete(out);
                return NULL;
            }
            cJSON *val = yaml_node(p, &ve, depth + 1);
            yaml_event_delete(&ve);
            if (!val) {
                free(key);
                cJSON_Delete(out);
                return NULL;
            }
            cJSON_AddItemToObject(out, key, val);
            free(key);
        } else {
            cJSON *val = yaml_node(p, &e, depth + 1);
            yaml_event_delete(&e);
            if (!val) {
                cJSON_Delete(out);
                return NULL;
            }
            cJSON_AddItemToArray(out, val);
        }
    }
}

/* All documents of a YAML file, as a JSON array. */
static cJSON *load_yaml(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    yaml_parser_t p;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_file(&p, f);
    cJSON *docs = cJSON_CreateArray();
    bool done = false;
    while (!done) {
        yaml_event_t e;
        if (!yaml_parser_parse(&p, &e))
            fail_msg("%s: YAML error: %s", path, p.problem ? p.problem : "?");
        if (e.type == YAML_STREAM_END_EVENT) {
            done = true;
        } else if (e.type == YAML_DOCUMENT_START_EVENT) {
            yaml_event_t root;
            if (!yaml_parser_parse(&p, &root))
                fail_msg("%s: YAML error", path);
            if (root.type != YAML_DOCUMENT_END_EVENT) {
                cJSON *doc = yaml_node(&p, &root, 0);
                assert_non_null(doc);
                if (!cJSON_IsNull(doc))
                    cJSON_AddItemToArray(docs, doc);
                else
                    cJSON_Delete(doc);
            }
            yaml_event_delete(&root);
        }
        yaml_event_delete(&e);
    }
    yaml_parser_delete(&p);
    fclose(f);
    return docs;
}

static struct sim_schema *compile_crd_file(const char *path, cJSON **crd_out)
{
    cJSON *docs = load_yaml(path);
    cJSON *crd = cJSON_DetachItemFromArray(docs, 0);
    cJSON_Delete(docs);
    const cJSON *v0 =
        cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(crd, "spec"), "versions"), 0);
    const cJSON *schema = cJSON_GetObjectItem(cJSON_GetObjectItem(v0, "schema"), "openAPIV3Schema");
    struct sim_schema *s = NULL;
    struct sim_field_errors errs;
    sim_field_errors_init(&errs);
    int rc = sim_schema_new(schema, "spec.versions[0].schema.openAPIV3Schema", &s, &errs);
    for (size_t i = 0; i < errs.n; i++)
        print_error("%s: %s: %s\n", path, errs.items[i].field, errs.items[i].body);
    assert_int_equal(rc, 0);
    sim_field_errors_free(&errs);
    *crd_out = crd;
    return s;
}

static void our_and_fixture_crds_compile(void **state)
{
    (void)state;
    static const char *const files[] = {
        "crds/storagemigrations.quaystorage.io.yaml",
        "crds/readonlywindows.quaystorage.io.yaml",
        "tests/fixtures/crds/quayregistries.quay.redhat.com.crd.yaml",
        "tests/fixtures/crds/configs.imageregistry.operator.openshift.io.crd.yaml",
        "tests/fixtures/crds/clusteroperators.config.openshift.io.crd.yaml",
    };
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", QSO_SOURCE_DIR, files[i]);
        cJSON *crd = NULL;
        struct sim_schema *s = compile_crd_file(path, &crd);
        sim_schema_free(s);
        cJSON_Delete(crd);
    }
}

/*
 * Each YAML file in tests/fixtures/invalid says which errors the real server gives
 * ("# Expected error: ..." lines, in order); one document is a create, two
 * are the stored object and an update. Unknown fields are the Strict
 * decoding error of fieldValidation=Strict.
 */
static void invalid_fixtures_refused_with_expected_errors(void **state)
{
    (void)state;
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/tests/fixtures/invalid", QSO_SOURCE_DIR);
    char path[2048];
    snprintf(path, sizeof(path), "%s/crds/storagemigrations.quaystorage.io.yaml", QSO_SOURCE_DIR);
    cJSON *sm_crd, *row_crd;
    struct sim_schema *sm = compile_crd_file(path, &sm_crd);
    snprintf(path, sizeof(path), "%s/crds/readonlywindows.quaystorage.io.yaml", QSO_SOURCE_DIR);
    struct sim_schema *row = compile_crd_file(path, &row_crd);
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *de;
    int checked = 0;
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        if (n < 6 || strcmp(de->d_name + n - 5, ".yaml"))
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        /* expected lines */
        FILE *f = fopen(path, "r");
        assert_non_null(f);
        char line[2048], want[8192] = "";
        size_t wl = 0;
        while (fgets(line, sizeof(line), f)) {
            const char *tag = "# Expected error: ";
            if (strncmp(line, tag, strlen(tag)))
                continue;
            wl += (size_t)snprintf(want + wl, sizeof(want) - wl, "%s%s", wl ? "\n" : "",
                                   line + strlen(tag));
            if (wl > 0 && want[wl - 1] == '\n')
                want[--wl] = '\0';
        }
        fclose(f);
        cJSON *docs = load_yaml(path);
        int nd = cJSON_GetArraySize(docs);
        cJSON *obj = cJSON_GetArrayItem(docs, nd - 1);
        cJSON *old = nd > 1 ? cJSON_GetArrayItem(docs, 0) : NULL;
        const char *kind = cJSON_GetObjectItem(obj, "kind")->valuestring;
        const struct sim_schema *s = !strcmp(kind, "StorageMigration") ? sm : row;
        struct sim_strlist unknown;
        sim_strlist_init(&unknown);
        assert_int_equal(sim_schema_prune(s, obj, &unknown), 0);
        assert_int_equal(sim_schema_default(s, obj), 0);
        if (old) {
            assert_int_equal(sim_schema_prune(s, old, NULL), 0);
            assert_int_equal(sim_schema_default(s, old), 0);
        }
        char got[8192] = "";
        size_t gl = 0;
        if (unknown.n) {
            gl += (size_t)snprintf(got, sizeof(got), "strict decoding error: ");
            for (size_t i = 0; i < unknown.n; i++) {
                char m[512];
                gl += (size_t)snprintf(
                    got + gl, sizeof(got) - gl, "%s%s", i ? ", " : "",
                    sim_schema_unknown_field_message(unknown.items[i], m, sizeof(m)));
            }
        } else {
            struct sim_field_errors errs;
            sim_field_errors_init(&errs);
            sim_schema_validate(s, obj, old, &errs);
            for (size_t i = 0; i < errs.n; i++)
                gl += (size_t)snprintf(got + gl, sizeof(got) - gl, "%s%s: %s", i ? "\n" : "",
                                       errs.items[i].field, errs.items[i].body);
            sim_field_errors_free(&errs);
        }
        if (strcmp(got, want) != 0)
            fail_msg("%s:\n got: %s\nwant: %s", de->d_name, got, want);
        sim_strlist_free(&unknown);
        cJSON_Delete(docs);
        checked++;
    }
    closedir(d);
    assert_true(checked >= 10);
    sim_schema_free(sm);
    sim_schema_free(row);
    cJSON_Delete(sm_crd);
    cJSON_Delete(row_crd);
}

static int setup(void **state)
{
    *state = compile(spec_schema);
    return 0;
}

static int teardown(void **state)
{
    sim_schema_free(*state);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_object_passes),
        cmocka_unit_test(required_field_missing_refused),
        cmocka_unit_test(enum_refused_with_supported_values),
        cmocka_unit_test(type_mismatch_refused),
        cmocka_unit_test(minimum_and_maximum_refused),
        cmocka_unit_test(multiple_of_and_exclusive_minimum_refused),
        cmocka_unit_test(string_length_and_pattern_refused),
        cmocka_unit_test(item_and_property_counts_refused),
        cmocka_unit_test(list_map_duplicate_keys_refused),
        cmocka_unit_test(int_or_string_accepts_both_refuses_others),
        cmocka_unit_test(nullable_allows_null_only_where_declared),
        cmocka_unit_test(format_date_time_refused),
        cmocka_unit_test(defaults_applied_inside_present_objects),
        cmocka_unit_test(pruning_drops_unknown_fields_and_reports_paths),
        cmocka_unit_test(status_message_and_causes_like_the_server),
        cmocka_unit_test(cel_rule_violation_reported_with_message),
        cmocka_unit_test(cel_runtime_error_reported_like_the_server),
        cmocka_unit_test(transition_rule_immutability_on_update_only),
        cmocka_unit_test(cel_skipped_when_blocking_schema_error),
        cmocka_unit_test(unsupported_cel_refuses_the_crd),
        cmocka_unit_test(transition_rule_under_set_list_refused),
        cmocka_unit_test(non_structural_schemas_refused),
        cmocka_unit_test(our_and_fixture_crds_compile),
        cmocka_unit_test(invalid_fixtures_refused_with_expected_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
