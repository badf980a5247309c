/*
 * Unit tests of sim_schema: CRD structural-schema checks, defaulting, pruning
 * and validation of custom resources, with each error worded exactly as
 * kube-apiserver words it (field path, cause reason and message), and CEL
 * rules (x-kubernetes-validations) including transition rules.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

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
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
