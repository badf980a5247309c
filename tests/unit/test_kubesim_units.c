/*
 * The simulator's modules on their own (no HTTP): label and field selectors,
 * strategic merge patch, YAML typing, the printer-column JSONPath subset,
 * the store's history horizon, version priority, Status wording, and
 * persistence across a stop and a restart of the server state.
 */
#include <cjson/cJSON.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "sim_api.h"
#include "sim_discovery.h"
#include "sim_render.h"
#include "sim_select.h"
#include "sim_server.h"
#include "sim_smp.h"
#include "sim_status.h"
#include "sim_store.h"
#include "sim_yaml.h"

static int sel(const char *selector, const char *labels_json)
{
    struct sim_labelsel *s = NULL;
    char err[512];
    cJSON *labels = cJSON_Parse(labels_json);
    int m;
    assert_int_equal(sim_labelsel_parse(selector, &s, err, sizeof(err)), 0);
    m = sim_labelsel_match(s, labels);
    sim_labelsel_free(s);
    cJSON_Delete(labels);
    return m;
}

static void test_label_selectors(void **state)
{
    struct sim_labelsel *s = NULL;
    char err[512];
    (void)state;
    assert_true(sel("", "{}"));
    assert_true(sel("a=1", "{\"a\":\"1\"}"));
    assert_true(sel("a==1,b", "{\"a\":\"1\",\"b\":\"\"}"));
    assert_false(sel("a!=1", "{\"a\":\"1\"}"));
    assert_true(sel("a!=1", "{}")); /* != matches an absent label */
    assert_true(sel("a in (x, y)", "{\"a\":\"y\"}"));
    assert_false(sel("a in (x,y)", "{}"));
    assert_true(sel("a notin (x)", "{}"));
    assert_false(sel("!a", "{\"a\":\"\"}"));
    assert_true(sel("a>3,a<10", "{\"a\":\"5\"}"));
    assert_false(sel("a>3", "{\"a\":\"x\"}"));
    assert_true(sel("a=", "{\"a\":\"\"}"));
    assert_int_equal(sim_labelsel_parse("a in ()", &s, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "values set can't be empty"));
    assert_int_equal(sim_labelsel_parse("a=b c", &s, err, sizeof(err)), -1);
    assert_int_equal(sim_labelsel_parse("a=b!", &s, err, sizeof(err)), -1);
    assert_int_equal(sim_labelsel_parse("a=-bad-", &s, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "a valid label must be an empty string"));
}

static void test_field_selectors(void **state)
{
    struct sim_fieldsel *f = NULL;
    char err[256];
    cJSON *obj = cJSON_Parse("{\"metadata\":{\"name\":\"a,b=c\"},\"spec\":{\"n\":3,\"on\":true}}");
    (void)state;
    assert_int_equal(
        sim_fieldsel_parse("metadata.name=a\\,b\\=c,spec.n=3,spec.on==true", &f, err, sizeof(err)),
        0);
    assert_int_equal(sim_fieldsel_count(f), 3);
    assert_string_equal(sim_fieldsel_value(f, "metadata.name"), "a,b=c");
    assert_true(sim_fieldsel_match(f, obj));
    sim_fieldsel_free(f);
    assert_int_equal(sim_fieldsel_parse("spec.missing!=x", &f, err, sizeof(err)), 0);
    assert_true(sim_fieldsel_match(f, obj));
    sim_fieldsel_free(f);
    assert_int_equal(sim_fieldsel_parse("nooperator", &f, err, sizeof(err)), -1);
    cJSON_Delete(obj);
}

static cJSON *smp(const char *orig, const char *patch)
{
    cJSON *o = cJSON_Parse(orig), *p = cJSON_Parse(patch), *out = NULL;
    char err[256];
    assert_int_equal(sim_smp_apply(o, p, &out, err, sizeof(err)), 0);
    cJSON_Delete(o);
    cJSON_Delete(p);
    return out;
}

static void assert_json(const cJSON *got, const char *want)
{
    char *g = cJSON_PrintUnformatted(got);
    cJSON *w = cJSON_Parse(want);
    char *ws = cJSON_PrintUnformatted(w);
    assert_string_equal(g, ws);
    free(g);
    free(ws);
    cJSON_Delete(w);
}

static void test_strategic_merge_patch(void **state)
{
    cJSON *r;
    (void)state;
    /* Containers merge by name; env by name; untouched entries stay. */
    r = smp(
        "{\"spec\":{\"containers\":[{\"name\":\"a\",\"image\":\"1\",\"env\":[{\"name\":\"X\","
        "\"value\":\"1\"}]},{\"name\":\"b\",\"image\":\"1\"}]}}",
        "{\"spec\":{\"containers\":[{\"name\":\"a\",\"env\":[{\"name\":\"Y\",\"value\":\"2\"}]},"
        "{\"name\":\"c\",\"image\":\"3\"}]}}");
    assert_json(r, "{\"spec\":{\"containers\":[{\"name\":\"a\",\"image\":\"1\",\"env\":[{\"name\":"
                   "\"X\",\"value\":\"1\"},{\"name\":\"Y\",\"value\":\"2\"}]},{\"name\":\"b\","
                   "\"image\":\"1\"},{\"name\":\"c\",\"image\":\"3\"}]}}");
    cJSON_Delete(r);
    /* $patch: delete removes an element; null removes a field. */
    r = smp("{\"spec\":{\"containers\":[{\"name\":\"a\"},{\"name\":\"b\"}],\"x\":1}}",
            "{\"spec\":{\"containers\":[{\"name\":\"a\",\"$patch\":\"delete\"}],\"x\":null}}");
    assert_json(r, "{\"spec\":{\"containers\":[{\"name\":\"b\"}]}}");
    cJSON_Delete(r);
    /* Finalizers merge as a set; other lists are replaced. */
    r = smp("{\"metadata\":{\"finalizers\":[\"a\"]},\"spec\":{\"args\":[\"1\",\"2\"]}}",
            "{\"metadata\":{\"finalizers\":[\"b\",\"a\"]},\"spec\":{\"args\":[\"3\"]}}");
    assert_json(r, "{\"metadata\":{\"finalizers\":[\"a\",\"b\"]},\"spec\":{\"args\":[\"3\"]}}");
    cJSON_Delete(r);
    /* Conditions by type; $deleteFromPrimitiveList; $setElementOrder ignored. */
    r = smp("{\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"False\"}]},"
            "\"metadata\":{\"finalizers\":[\"a\",\"b\"]}}",
            "{\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}],"
            "\"$setElementOrder/conditions\":[{\"type\":\"Ready\"}]},\"metadata\":{"
            "\"$deleteFromPrimitiveList/finalizers\":[\"a\"]}}");
    assert_json(r, "{\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]},"
                   "\"metadata\":{\"finalizers\":[\"b\"]}}");
    cJSON_Delete(r);
    /* $retainKeys drops what it does not list. */
    r = smp("{\"strategy\":{\"type\":\"RollingUpdate\",\"rollingUpdate\":{\"maxSurge\":1}}}",
            "{\"strategy\":{\"$retainKeys\":[\"type\"],\"type\":\"Recreate\"}}");
    assert_json(r, "{\"strategy\":{\"type\":\"Recreate\"}}");
    cJSON_Delete(r);
}

static void test_yaml(void **state)
{
    char err[256];
    cJSON *docs;
    (void)state;
    docs = sim_yaml_parse_all("a: 1\nb: 1.5\nc: true\nd: null\ne: \"7\"\nf: 007\ng: ~\nh: [x, 2]\n"
                              "---\n---\nk: v\n",
                              strlen("a: 1\nb: 1.5\nc: true\nd: null\ne: \"7\"\nf: 007\ng: ~\n"
                                     "h: [x, 2]\n---\n---\nk: v\n"),
                              err, sizeof(err));
    assert_non_null(docs);
    assert_int_equal(cJSON_GetArraySize(docs), 2);
    assert_json(cJSON_GetArrayItem(docs, 0),
                "{\"a\":1,\"b\":1.5,\"c\":true,\"d\":null,\"e\":\"7\",\"f\":\"007\",\"g\":null,"
                "\"h\":[\"x\",2]}");
    cJSON_Delete(docs);
    assert_null(sim_yaml_parse("a: [1", 6, err, sizeof(err)));
    assert_non_null(strstr(err, "yaml: line"));
}

static void test_jsonpath(void **state)
{
    cJSON *o = cJSON_Parse("{\"status\":{\"conditions\":[{\"type\":\"A\",\"status\":\"False\"},"
                           "{\"type\":\"Ready\",\"status\":\"True\"}],\"versions\":[{\"name\":"
                           "\"operator\",\"version\":\"4.1\"}]},\"spec\":{\"n\":3}}");
    (void)state;
    assert_string_equal(
        sim_jsonpath_first(o, ".status.conditions[?(@.type==\"Ready\")].status")->valuestring,
        "True");
    assert_string_equal(sim_jsonpath_first(o, "{.status.versions[0].version}")->valuestring, "4.1");
    assert_string_equal(sim_jsonpath_first(o, ".status.conditions[*].type")->valuestring, "A");
    assert_string_equal(sim_jsonpath_first(o, ".status.conditions[-1].type")->valuestring, "Ready");
    assert_int_equal(sim_jsonpath_first(o, ".spec.n")->valueint, 3);
    assert_null(sim_jsonpath_first(o, ".spec.missing.x"));
    cJSON_Delete(o);
}

static void test_store_history_horizon(void **state)
{
    struct sim_store *s = sim_store_new(2);
    struct sim_coll *c = sim_store_coll(s, "", "configmaps", 1);
    uint64_t cursor, oldest;
    const struct sim_event *ev;
    (void)state;
    for (int i = 0; i < 4; i++) {
        char json[128];
        snprintf(json, sizeof(json), "{\"metadata\":{\"name\":\"c%d\",\"namespace\":\"ns\"}}", i);
        assert_non_null(sim_store_put(s, c, cJSON_Parse(json)));
    }
    assert_int_equal(sim_store_rv(s), 4);
    /* Events 3 and 4 are kept: a watch from 2 is fine, from 1 too old. */
    assert_int_equal(sim_store_history_from(s, 2, &cursor, &oldest), 0);
    ev = sim_store_history_next(s, &cursor);
    assert_non_null(ev);
    assert_int_equal(ev->rv, 3);
    assert_int_equal(sim_store_history_from(s, 1, &cursor, &oldest), -1);
    assert_int_equal(oldest, 2);
    assert_int_equal(sim_store_remove(s, c, "ns", "c0"), 0);
    assert_null(sim_coll_get(c, "ns", "c0"));
    assert_int_equal(sim_store_rv(s), 5);
    sim_store_free(s);
}

static void test_version_priority_and_status_wording(void **state)
{
    struct sim_err e;
    cJSON *st;
    (void)state;
    assert_true(sim_version_before("v1", "v1beta1"));
    assert_true(sim_version_before("v2", "v1"));
    assert_true(sim_version_before("v1beta2", "v1beta1"));
    assert_true(sim_version_before("v1beta1", "v1alpha1"));
    assert_true(sim_version_before("v1alpha1", "foo"));
    sim_err_clear(&e);
    sim_err_add_cause(&e, "FieldValueRequired", "spec.a", "Required value");
    sim_err_add_cause(&e, "FieldValueInvalid", "spec.b", "Invalid value: 2: too big");
    sim_err_invalid_finish(&e, "apps", "Deployment", "d");
    assert_string_equal(e.message, "Deployment.apps \"d\" is invalid: [spec.a: Required value, "
                                   "spec.b: Invalid value: 2: too big]");
    st = sim_err_to_status(&e);
    assert_int_equal(
        cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(st, "details"), "causes")), 2);
    cJSON_Delete(st);
    sim_err_clear(&e);
    sim_err_not_found(&e, "rbac.authorization.k8s.io", "roles", "r");
    assert_string_equal(e.message, "roles.rbac.authorization.k8s.io \"r\" not found");
}

/* Dispatches one request as the admin user against an in-process server. */
static int dispatch(struct sim_server *srv, const char *method, const char *path, const char *body,
                    char **out)
{
    struct sim_request req;
    struct sim_response resp;
    char auth[200];
    int code;
    memset(&req, 0, sizeof(req));
    snprintf(req.method, sizeof(req.method), "%s", method);
    req.path = (char *)path;
    snprintf(auth, sizeof(auth), "Bearer %s", srv->admin_token);
    req.authorization = auth;
    req.content_type = (char *)"application/json";
    req.body = (char *)body;
    req.body_len = body ? strlen(body) : 0;
    sim_response_init(&resp);
    sim_dispatch(srv, &req, &resp);
    code = resp.status;
    if (out)
        *out = strdup(resp.body.data ? resp.body.data : "");
    sim_response_free(&resp);
    return code;
}

static void test_persistence_across_restart(void **state)
{
    struct sim_options opt;
    struct sim_server srv;
    char dir[] = "/tmp/kubesim-persist-XXXXXX";
    char token[80], rv[32], *out = NULL;
    cJSON *j;
    (void)state;
    assert_non_null(mkdtemp(dir));
    memset(&opt, 0, sizeof(opt));
    snprintf(opt.state_dir, sizeof(opt.state_dir), "%s", dir);
    opt.watch_history = 100;
    opt.bookmark_ms = 1000;
    opt.continue_ttl = 60;
    opt.persist = 1;
    opt.quiet = 1;
    assert_int_equal(sim_server_init(&srv, &opt), 0);
    snprintf(token, sizeof(token), "%s", srv.admin_token);
    assert_int_equal(dispatch(&srv, "POST", "/api/v1/namespaces/default/configmaps",
                              "{\"metadata\":{\"name\":\"kept\"},\"data\":{\"a\":\"1\"}}", &out),
                     201);
    j = cJSON_Parse(out);
    snprintf(
        rv, sizeof(rv), "%s",
        cJSON_GetObjectItem(cJSON_GetObjectItem(j, "metadata"), "resourceVersion")->valuestring);
    cJSON_Delete(j);
    free(out);
    sim_server_fini(&srv); /* saves state.json */

    assert_int_equal(sim_server_init(&srv, &opt), 0);
    assert_string_equal(srv.admin_token, token);
    assert_int_equal(
        dispatch(&srv, "GET", "/api/v1/namespaces/default/configmaps/kept", NULL, &out), 200);
    assert_non_null(strstr(out, "\"a\":\"1\""));
    free(out);
    /* The counter goes on from where it stopped. */
    assert_int_equal(dispatch(&srv, "POST", "/api/v1/namespaces/default/configmaps",
                              "{\"metadata\":{\"name\":\"after\"}}", &out),
                     201);
    j = cJSON_Parse(out);
    assert_true(
        strtoull(
            cJSON_GetObjectItem(cJSON_GetObjectItem(j, "metadata"), "resourceVersion")->valuestring,
            NULL, 10) > strtoull(rv, NULL, 10));
    cJSON_Delete(j);
    free(out);
    sim_server_fini(&srv);
    {
        char cmd[200];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        assert_int_equal(system(cmd), 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_label_selectors),
        cmocka_unit_test(test_field_selectors),
        cmocka_unit_test(test_strategic_merge_patch),
        cmocka_unit_test(test_yaml),
        cmocka_unit_test(test_jsonpath),
        cmocka_unit_test(test_store_history_horizon),
        cmocka_unit_test(test_version_priority_and_status_wording),
        cmocka_unit_test(test_persistence_across_restart),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
