/*
 * The API simulator's core semantics, driven over HTTPS with libcurl (not
 * with k8sclient, so a client bug cannot hide a server bug): authentication,
 * create/get/list/update/patch/delete with their refusals worded as
 * kube-apiserver words them, selectors and paging, watches over HTTP/1.1 and
 * h2 including the 410 of a too-old resourceVersion, the admin endpoint's
 * faults and request record.
 */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "kubesim_harness.h"
#include "kubesim_http.h"

static int start(void **state, const char *a1, const char *a2)
{
    struct kubesim_opts o;
    struct kubesim *sim = NULL;
    memset(&o, 0, sizeof(o));
    o.extra_args[0] = a1;
    o.extra_args[1] = a1 ? a2 : NULL;
    o.exit_after_seconds = 240;
    if (kubesim_start(&o, &sim) != 0)
        return -1;
    *state = sim;
    return 0;
}

static int setup(void **state)
{
    return start(state, NULL, NULL);
}

static int teardown(void **state)
{
    kubesim_stop(*state);
    return 0;
}

#define CM_PATH "/api/v1/namespaces/default/configmaps"

static void create_cm(struct kubesim *sim, const char *name, const char *labels)
{
    char body[1024];
    struct kubesim_resp r;
    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"%s\","
             "\"labels\":{%s}},\"data\":{\"k\":\"v\"}}",
             name, labels ? labels : "");
    kubesim_call(sim, "POST", CM_PATH, "application/json", body, &r);
    assert_int_equal(r.code, 201);
    kubesim_resp_free(&r);
}

static void test_unauthenticated_is_401(void **state)
{
    struct kubesim_resp r;
    kubesim_call_v(*state, "", "GET", CM_PATH, NULL, NULL, CURL_HTTP_VERSION_2TLS, &r);
    kubesim_assert_status(&r, 401, "Unauthorized", "Unauthorized");
    kubesim_resp_free(&r);
    kubesim_call_v(*state, "not-a-token", "GET", "/version", NULL, NULL, CURL_HTTP_VERSION_1_1, &r);
    kubesim_assert_status(&r, 401, "Unauthorized", "Unauthorized");
    kubesim_resp_free(&r);
}

static void test_create_get_and_already_exists(void **state)
{
    struct kubesim_resp r;
    cJSON *j;
    create_cm(*state, "one", "\"app\":\"a\"");
    kubesim_call(*state, "GET", CM_PATH "/one", NULL, NULL, &r);
    assert_int_equal(r.code, 200);
    j = kubesim_resp_json(&r);
    assert_string_equal(kubesim_jstr(j, "kind", NULL), "ConfigMap");
    assert_non_null(kubesim_jstr(j, "metadata", "uid"));
    assert_non_null(kubesim_jstr(j, "metadata", "resourceVersion"));
    assert_non_null(kubesim_jstr(j, "metadata", "creationTimestamp"));
    assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "metadata"), "managedFields"));
    cJSON_Delete(j);
    kubesim_resp_free(&r);
    kubesim_call(*state, "POST", CM_PATH, "application/json",
         "{\"metadata\":{\"name\":\"one\"},\"data\":{}}", &r);
    kubesim_assert_status(&r, 409, "AlreadyExists", "configmaps \"one\" already exists");
    kubesim_resp_free(&r);
    kubesim_call(*state, "GET", CM_PATH "/missing", NULL, NULL, &r);
    kubesim_assert_status(&r, 404, "NotFound", "configmaps \"missing\" not found");
    kubesim_resp_free(&r);
    kubesim_call(*state, "GET", "/apis/apps/v1/namespaces/default/deployments/nope", NULL, NULL, &r);
    kubesim_assert_status(&r, 404, "NotFound", "deployments.apps \"nope\" not found");
    kubesim_resp_free(&r);
    kubesim_call(*state, "GET", "/apis/nothere.example.com/v1/things", NULL, NULL, &r);
    kubesim_assert_status(&r, 404, "NotFound", "the server could not find the requested resource");
    kubesim_resp_free(&r);
}

static void test_generate_name_and_name_required(void **state)
{
    struct kubesim_resp r;
    cJSON *j;
    kubesim_call(*state, "POST", CM_PATH, "application/json", "{\"metadata\":{\"generateName\":\"gen-\"}}",
         &r);
    assert_int_equal(r.code, 201);
    j = kubesim_resp_json(&r);
    assert_int_equal(strncmp(kubesim_jstr(j, "metadata", "name"), "gen-", 4), 0);
    assert_int_equal(strlen(kubesim_jstr(j, "metadata", "name")), 9);
    cJSON_Delete(j);
    kubesim_resp_free(&r);
    kubesim_call(*state, "POST", CM_PATH, "application/json", "{\"metadata\":{}}", &r);
    kubesim_assert_status(&r, 422, "Invalid",
                  "ConfigMap \"\" is invalid: metadata.name: Required value: name or generateName "
                  "is required");
    kubesim_resp_free(&r);
}

static void test_stale_update_conflict(void **state)
{
    struct kubesim_resp r;
    cJSON *j;
    char body[1024];
    char rv[64];
    create_cm(*state, "conf", NULL);
    kubesim_call(*state, "GET", CM_PATH "/conf", NULL, NULL, &r);
    j = kubesim_resp_json(&r);
    snprintf(rv, sizeof(rv), "%s", kubesim_jstr(j, "metadata", "resourceVersion"));
    cJSON_Delete(j);
    kubesim_resp_free(&r);
    snprintf(body, sizeof(body),
             "{\"metadata\":{\"name\":\"conf\",\"resourceVersion\":\"%s\"},\"data\":{\"k\":\"2\"}}",
             rv);
    kubesim_call(*state, "PUT", CM_PATH "/conf", "application/json", body, &r);
    assert_int_equal(r.code, 200);
    j = kubesim_resp_json(&r);
    assert_string_not_equal(kubesim_jstr(j, "metadata", "resourceVersion"), rv);
    cJSON_Delete(j);
    kubesim_resp_free(&r);
    /* The same (now stale) resourceVersion again. */
    kubesim_call(*state, "PUT", CM_PATH "/conf", "application/json", body, &r);
    kubesim_assert_status(&r, 409, "Conflict",
                  "Operation cannot be fulfilled on configmaps \"conf\": the object has been "
                  "modified; please apply your changes to the latest version and try again");
    kubesim_resp_free(&r);
}

static void test_noop_update_keeps_resource_version(void **state)
{
    struct kubesim_resp r;
    cJSON *j;
    char rv[64];
    create_cm(*state, "noop", NULL);
    kubesim_call(*state, "PATCH", CM_PATH "/noop", "application/merge-patch+json",
         "{\"data\":{\"k\":\"v\"}}", &r);
    assert_int_equal(r.code, 200);
    j = kubesim_resp_json(&r);
    snprintf(rv, sizeof(rv), "%s", kubesim_jstr(j, "metadata", "resourceVersion"));
    cJSON_Delete(j);
    kubesim_resp_free(&r);
    kubesim_call(*state, "PATCH", CM_PATH "/noop", "application/merge-patch+json",
         "{\"data\":{\"k\":\"v\"}}", &r);
    j = kubesim_resp_json(&r);
    assert_string_equal(kubesim_jstr(j, "metadata", "resourceVersion"), rv);
    cJSON_Delete(j);
    kubesim_resp_free(&r);
}

static void test_immutable_configmap_and_secret(void **state)
{
    struct kubesim_resp r;
    kubesim_call(*state, "POST", CM_PATH, "application/json",
         "{\"metadata\":{\"name\":\"frozen\"},\"data\":{\"a\":\"1\"},\"immutable\":true}", &r);
    assert_int_equal(r.code, 201);
    kubesim_resp_free(&r);
    kubesim_call(*state, "PATCH", CM_PATH "/frozen", "application/merge-patch+json",
         "{\"data\":{\"a\":\"2\"}}", &r);
    kubesim_assert_status(&r, 422, "Invalid",
                  "ConfigMap \"frozen\" is invalid: data: Forbidden: field is immutable when "
                  "`immutable` is set");
    kubesim_resp_free(&r);
    kubesim_call(*state, "POST", "/api/v1/namespaces/default/secrets", "application/json",
         "{\"metadata\":{\"name\":\"s\"},\"stringData\":{\"p\":\"x\"}}", &r);
    assert_int_equal(r.code, 201);
    {
        cJSON *j = kubesim_resp_json(&r);
        assert_string_equal(kubesim_jstr(j, "type", NULL), "Opaque");
        assert_string_equal(kubesim_jstr(j, "data", "p"), "eA==");
        assert_null(cJSON_GetObjectItem(j, "stringData"));
        cJSON_Delete(j);
    }
    kubesim_resp_free(&r);
    kubesim_call(*state, "PATCH", "/api/v1/namespaces/default/secrets/s", "application/merge-patch+json",
         "{\"type\":\"kubernetes.io/tls\"}", &r);
    kubesim_assert_status(&r, 422, "Invalid",
                  "Secret \"s\" is invalid: type: Invalid value: \"kubernetes.io/tls\": field is "
                  "immutable");
    kubesim_resp_free(&r);
}

static int count_items(const struct kubesim_resp *r)
{
    cJSON *j = kubesim_resp_json(r);
    int n = cJSON_GetArraySize(cJSON_GetObjectItem(j, "items"));
    cJSON_Delete(j);
    return n;
}

static void test_selectors(void **state)
{
    struct kubesim_resp r;
    create_cm(*state, "sel-a", "\"tier\":\"web\",\"env\":\"prod\"");
    create_cm(*state, "sel-b", "\"tier\":\"db\",\"env\":\"prod\"");
    create_cm(*state, "sel-c", "\"tier\":\"web\"");
    kubesim_call(*state, "GET", CM_PATH "?labelSelector=tier%3Dweb", NULL, NULL, &r);
    assert_int_equal(count_items(&r), 2);
    kubesim_resp_free(&r);
    kubesim_call(*state, "GET", CM_PATH "?labelSelector=tier%20in%20(web%2Cdb)%2Cenv", NULL, NULL, &r);
    assert_int_equal(count_items(&r), 2);
    kubesim_resp_free(&r);
    kubesim_call(*state, "GET", CM_PATH "?labelSelector=tier%2Ctier%20notin%20(db)%2C!env", NULL, NULL, &r);
    assert_int_equal(count_items(&r), 1);
    kubesim_resp_free(&r);
    kubesim_call(*state, "GET", CM_PATH "?labelSelector=tier!%3Dweb%2Cenv%3Dprod", NULL, NULL, &r);
    assert_int_equal(count_items(&r), 1);
    kubesim_resp_free(&r);
    kubesim_call(*state, "GET", CM_PATH "?fieldSelector=metadata.name%3Dsel-b", NULL, NULL, &r);
    assert_int_equal(count_items(&r), 1);
    kubesim_resp_free(&r);
    kubesim_call(*state, "GET",
         "/api/v1/"
         "configmaps?fieldSelector=metadata.namespace%3Ddefault,metadata.name!%3Dsel-b&"
         "labelSelector=tier",
         NULL, NULL, &r);
    assert_int_equal(count_items(&r), 2);
    kubesim_resp_free(&r);
    kubesim_call(*state, "GET", CM_PATH "?fieldSelector=spec.foo%3Dbar", NULL, NULL, &r);
    kubesim_assert_status(&r, 400, "BadRequest",
                  "\"spec.foo\" is not a known field selector: only \"metadata.name\", "
                  "\"metadata.namespace\"");
    kubesim_resp_free(&r);
    kubesim_call(*state, "GET", "/api/v1/namespaces/default/pods?fieldSelector=status.podIP%3Dx", NULL,
         NULL, &r);
    assert_int_equal(r.code, 200);
    kubesim_resp_free(&r);
    kubesim_call(*state, "GET", "/api/v1/namespaces/default/pods?fieldSelector=spec.image%3Dx", NULL, NULL,
         &r);
    kubesim_assert_status(&r, 400, "BadRequest", "field label not supported: spec.image");
    kubesim_resp_free(&r);
}

static void test_paging_with_continue(void **state)
{
    struct kubesim_resp r;
    char path[2048];
    char cont[1024] = "";
    int seen = 0, pages = 0;
    for (int i = 0; i < 7; i++) {
        char name[32];
        snprintf(name, sizeof(name), "page-%d", i);
        create_cm(*state, name, "\"paged\":\"yes\"");
    }
    do {
        cJSON *j, *meta;
        const char *c;
        if (*cont)
            snprintf(path, sizeof(path), CM_PATH "?labelSelector=paged&limit=3&continue=%s", cont);
        else
            snprintf(path, sizeof(path), CM_PATH "?labelSelector=paged&limit=3");
        kubesim_call(*state, "GET", path, NULL, NULL, &r);
        assert_int_equal(r.code, 200);
        j = kubesim_resp_json(&r);
        seen += cJSON_GetArraySize(cJSON_GetObjectItem(j, "items"));
        meta = cJSON_GetObjectItem(j, "metadata");
        c = kubesim_jstr(meta, "continue", NULL);
        snprintf(cont, sizeof(cont), "%s", c ? c : "");
        /* The token is base64 (+, /, =): escape for the query. */
        {
            char esc[1024];
            size_t o = 0;
            for (const char *p = cont; *p && o + 4 < sizeof(esc); p++) {
                if (*p == '+' || *p == '/' || *p == '=')
                    o += (size_t)snprintf(esc + o, sizeof(esc) - o, "%%%02X", *p);
                else
                    esc[o++] = *p;
            }
            esc[o] = '\0';
            snprintf(cont, sizeof(cont), "%s", esc);
        }
        cJSON_Delete(j);
        kubesim_resp_free(&r);
        pages++;
    } while (*cont && pages < 10);
    assert_int_equal(seen, 7);
    assert_int_equal(pages, 3);
}

static void test_expired_continue_is_410(void **state)
{
    struct kubesim *sim = NULL; /* set by start(), which asserts it succeeded */
    struct kubesim_resp r;
    cJSON *j;
    char path[2048], esc[1024];
    size_t o = 0;
    (void)state;
    assert_int_equal(start((void **)&sim, "--continue-ttl", "0"), 0);
    create_cm(sim, "x1", NULL);
    create_cm(sim, "x2", NULL);
    kubesim_call(sim, "GET", CM_PATH "?limit=1", NULL, NULL, &r);
    j = kubesim_resp_json(&r);
    for (const char *p = kubesim_jstr(j, "metadata", "continue"); *p && o + 4 < sizeof(esc); p++) {
        if (*p == '+' || *p == '/' || *p == '=')
            o += (size_t)snprintf(esc + o, sizeof(esc) - o, "%%%02X", *p);
        else
            esc[o++] = *p;
    }
    esc[o] = '\0';
    cJSON_Delete(j);
    kubesim_resp_free(&r);
    /* Tokens carry second resolution: one second later a TTL of 0 has passed. */
    usleep(1100 * 1000);
    snprintf(path, sizeof(path), CM_PATH "?limit=1&continue=%s", esc);
    kubesim_call(sim, "GET", path, NULL, NULL, &r);
    kubesim_assert_status(&r, 410, "Expired",
                  "The provided continue parameter is too old to display a consistent list "
                  "result. You can start a new list without the continue parameter, or use the "
                  "continue token in this response to retrieve the remainder of the results. "
                  "Continuing with the provided token results in an inconsistent list - objects "
                  "that were created, modified, or deleted between the time the first chunk was "
                  "returned and now may show up in the list.");
    kubesim_resp_free(&r);
    kubesim_stop(sim);
}

static int count_lines(const char *s, const char *type)
{
    int n = 0;
    char needle[64];
    snprintf(needle, sizeof(needle), "{\"type\":\"%s\"", type);
    for (const char *p = s; p && (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

static void watch_replay(struct kubesim *sim, long httpver, long expect_version)
{
    struct kubesim_resp r;
    cJSON *j;
    char path[512], rv[64];
    kubesim_call(sim, "GET", CM_PATH "?labelSelector=nothing-matches", NULL, NULL, &r);
    j = kubesim_resp_json(&r);
    snprintf(rv, sizeof(rv), "%s", kubesim_jstr(j, "metadata", "resourceVersion"));
    cJSON_Delete(j);
    kubesim_resp_free(&r);
    create_cm(sim, httpver == CURL_HTTP_VERSION_1_1 ? "w1-a" : "w2-a", "\"w\":\"1\"");
    create_cm(sim, httpver == CURL_HTTP_VERSION_1_1 ? "w1-b" : "w2-b", "\"w\":\"1\"");
    snprintf(path, sizeof(path), CM_PATH "?watch=true&resourceVersion=%s&timeoutSeconds=1", rv);
    kubesim_call_v(sim, NULL, "GET", path, NULL, NULL, httpver, &r);
    assert_int_equal(r.code, 200);
    assert_int_equal(r.version, expect_version);
    assert_int_equal(count_lines(r.body, "ADDED"), 2);
    if (httpver == CURL_HTTP_VERSION_1_1)
        assert_non_null(strcasestr(r.headers, "transfer-encoding: chunked"));
    kubesim_resp_free(&r);
}

static void test_watch_http1_and_h2(void **state)
{
    watch_replay(*state, CURL_HTTP_VERSION_1_1, CURL_HTTP_VERSION_1_1);
    watch_replay(*state, CURL_HTTP_VERSION_2TLS, CURL_HTTP_VERSION_2);
}

static void test_watch_initial_state_and_bookmarks(void **state)
{
    struct kubesim *sim = NULL; /* set by start(), which asserts it succeeded */
    struct kubesim_resp r;
    (void)state;
    assert_int_equal(start((void **)&sim, "--bookmark-ms", "100"), 0);
    create_cm(sim, "b1", NULL);
    kubesim_call(sim, "GET", CM_PATH "?watch=1&allowWatchBookmarks=true&timeoutSeconds=1", NULL, NULL, &r);
    assert_int_equal(count_lines(r.body, "ADDED"), 1);
    assert_true(count_lines(r.body, "BOOKMARK") >= 1);
    assert_non_null(strstr(r.body, "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"ConfigMap\""));
    kubesim_resp_free(&r);
    kubesim_stop(sim);
}

static void test_watch_too_old_is_410(void **state)
{
    struct kubesim *sim = NULL; /* set by start(), which asserts it succeeded */
    struct kubesim_resp r;
    (void)state;
    assert_int_equal(start((void **)&sim, "--watch-history", "3"), 0);
    for (int i = 0; i < 6; i++) {
        char name[16];
        snprintf(name, sizeof(name), "h%d", i);
        create_cm(sim, name, NULL);
    }
    kubesim_call(sim, "GET", CM_PATH "?watch=true&resourceVersion=2&timeoutSeconds=5", NULL, NULL, &r);
    assert_int_equal(r.code, 200);
    {
        cJSON *j = cJSON_Parse(r.body);
        cJSON *obj = cJSON_GetObjectItem(j, "object");
        assert_string_equal(kubesim_jstr(j, "type", NULL), "ERROR");
        assert_string_equal(kubesim_jstr(obj, "reason", NULL), "Expired");
        assert_int_equal(cJSON_GetObjectItem(obj, "code")->valueint, 410);
        assert_int_equal(strncmp(kubesim_jstr(obj, "message", NULL), "too old resource version: 2 (", 29),
                         0);
        cJSON_Delete(j);
    }
    kubesim_resp_free(&r);
    kubesim_stop(sim);
}

static void test_faults_429_and_request_record(void **state)
{
    struct kubesim_resp r;
    char *out = NULL;
    long code;
    code = kubesim_admin(*state, "POST", "/__admin/faults",
                         "{\"rules\":[{\"method\":\"GET\",\"pathPrefix\":\"/api/v1/namespaces/"
                         "default/secrets\",\"status\":429,\"retryAfterSeconds\":2,\"times\":2}]}",
                         NULL);
    assert_int_equal(code, 200);
    for (int i = 0; i < 2; i++) {
        kubesim_call(*state, "GET", "/api/v1/namespaces/default/secrets", NULL, NULL, &r);
        kubesim_assert_status(&r, 429, "TooManyRequests", NULL);
        assert_non_null(strcasestr(r.headers, "retry-after: 2"));
        kubesim_resp_free(&r);
    }
    kubesim_call(*state, "GET", "/api/v1/namespaces/default/secrets", NULL, NULL, &r);
    assert_int_equal(r.code, 200);
    kubesim_resp_free(&r);
    assert_int_equal(kubesim_admin(*state, "POST", "/__admin/faults", "{\"rules\":[]}", NULL), 200);
    code = kubesim_admin(*state, "GET", "/__admin/requests", NULL, &out);
    assert_int_equal(code, 200);
    {
        cJSON *j = cJSON_Parse(out);
        cJSON *it;
        int found429 = 0;
        cJSON_ArrayForEach(it, cJSON_GetObjectItem(j, "items"))
        {
            if (cJSON_GetObjectItem(it, "code")->valueint == 429) {
                found429++;
                assert_string_equal(kubesim_jstr(it, "verb", NULL), "list");
                assert_string_equal(kubesim_jstr(it, "resource", NULL), "secrets");
                assert_string_equal(kubesim_jstr(it, "namespace", NULL), "default");
                assert_string_equal(kubesim_jstr(it, "user", NULL), "admin");
            }
        }
        assert_int_equal(found429, 2);
        cJSON_Delete(j);
    }
    free(out);
}

/* v1 Service and policy/v1 PodDisruptionBudget are served (deploy/ has both):
 * a ClusterIP comes from 10.96.0.0/12 when absent, "None" stays headless, an
 * update without the address keeps it and a different one is refused. */
static void test_service_cluster_ip_and_pdb(void **state)
{
    struct kubesim_resp r;
    cJSON *j;
    const char *ip;
    kubesim_call(*state, "POST", "/api/v1/namespaces/default/services", "application/json",
         "{\"metadata\":{\"name\":\"web\"},\"spec\":{\"ports\":[{\"port\":80}]}}", &r);
    assert_int_equal(r.code, 201);
    j = kubesim_resp_json(&r);
    ip = kubesim_jstr(cJSON_GetObjectItem(j, "spec"), "clusterIP", NULL);
    assert_non_null(ip);
    assert_true(strncmp(ip, "10.9", 4) == 0 || strncmp(ip, "10.10", 5) == 0 ||
                strncmp(ip, "10.11", 5) == 0);
    cJSON_Delete(j);
    kubesim_resp_free(&r);
    kubesim_call(*state, "PUT", "/api/v1/namespaces/default/services/web", "application/json",
         "{\"metadata\":{\"name\":\"web\"},\"spec\":{\"ports\":[{\"port\":81}]}}", &r);
    assert_int_equal(r.code, 200);
    j = kubesim_resp_json(&r);
    assert_non_null(kubesim_jstr(cJSON_GetObjectItem(j, "spec"), "clusterIP", NULL));
    cJSON_Delete(j);
    kubesim_resp_free(&r);
    kubesim_call(*state, "PATCH", "/api/v1/namespaces/default/services/web", "application/merge-patch+json",
         "{\"spec\":{\"clusterIP\":\"10.96.99.99\"}}", &r);
    assert_int_equal(r.code, 422);
    assert_non_null(strstr(r.body, "spec.clusterIP: Invalid value: \\\"10.96.99.99\\\": field is "
                                   "immutable"));
    kubesim_resp_free(&r);
    kubesim_call(*state, "POST", "/api/v1/namespaces/default/services", "application/json",
         "{\"metadata\":{\"name\":\"h\"},\"spec\":{\"clusterIP\":\"None\"}}", &r);
    assert_int_equal(r.code, 201);
    j = kubesim_resp_json(&r);
    assert_string_equal(kubesim_jstr(cJSON_GetObjectItem(j, "spec"), "clusterIP", NULL), "None");
    cJSON_Delete(j);
    kubesim_resp_free(&r);
    kubesim_call(*state, "POST", "/api/v1/namespaces/default/services", "application/json",
         "{\"metadata\":{\"name\":\"out\"},\"spec\":{\"clusterIP\":\"192.168.0.1\"}}", &r);
    assert_int_equal(r.code, 422);
    kubesim_resp_free(&r);
    kubesim_call(*state, "POST", "/apis/policy/v1/namespaces/default/poddisruptionbudgets",
         "application/json",
         "{\"metadata\":{\"name\":\"p\"},\"spec\":{\"minAvailable\":1,\"selector\":{"
         "\"matchLabels\":{\"a\":\"b\"}}}}",
         &r);
    assert_int_equal(r.code, 201);
    kubesim_resp_free(&r);
    kubesim_call(*state, "PUT", "/apis/policy/v1/namespaces/default/poddisruptionbudgets/p/status",
         "application/json",
         "{\"metadata\":{\"name\":\"p\"},\"status\":{\"currentHealthy\":2,\"desiredHealthy\":1,"
         "\"disruptionsAllowed\":1,\"expectedPods\":2}}",
         &r);
    assert_int_equal(r.code, 200);
    kubesim_resp_free(&r);
    kubesim_call(*state, "GET", "/apis/policy/v1", NULL, NULL, &r);
    assert_int_equal(r.code, 200);
    assert_non_null(strstr(r.body, "poddisruptionbudgets/status"));
    kubesim_resp_free(&r);
}

/* kubectl asks /openapi/v2 as protobuf and parses whatever comes back as
 * protobuf: that Accept gets a protobuf Document (swagger "2.0"). */
static void test_openapi_v2_protobuf(void **state)
{
    struct kubesim_resp r;
    CURL *h = curl_easy_init();
    struct curl_slist *hdrs = NULL;
    char url[4096], auth[1024];
    memset(&r, 0, sizeof(r));
    snprintf(url, sizeof(url), "%s/openapi/v2", kubesim_url(*state));
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", kubesim_admin_token(*state));
    hdrs = curl_slist_append(hdrs, auth);
    hdrs = curl_slist_append(hdrs,
                             "Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CAINFO, kubesim_ca_file(*state));
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, kubesim_resp_on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    assert_int_equal(curl_easy_perform(h), CURLE_OK);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r.code);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    assert_int_equal(r.code, 200);
    assert_true(r.len > 5);
    /* field 1 (swagger), length 3, "2.0" */
    assert_memory_equal(r.body,
                        "\x0a\x03"
                        "2.0",
                        5);
    kubesim_resp_free(&r);
}

static void test_admin_tokens(void **state)
{
    struct kubesim_resp r;
    assert_int_equal(kubesim_admin(*state, "POST", "/__admin/tokens",
                                   "{\"token\":\"alice-token\",\"user\":\"alice\",\"groups\":["
                                   "\"devs\"]}",
                                   NULL),
                     201);
    kubesim_call_v(*state, "alice-token", "GET", "/api/v1/namespaces", NULL, NULL, CURL_HTTP_VERSION_2TLS,
           &r);
    assert_int_equal(r.code, 200);
    kubesim_resp_free(&r);
    /* A non-master may not use the admin endpoint. */
    kubesim_call_v(*state, "alice-token", "GET", "/__admin/requests", NULL, NULL, CURL_HTTP_VERSION_2TLS,
           &r);
    assert_int_equal(r.code, 403);
    kubesim_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unauthenticated_is_401),
        cmocka_unit_test(test_create_get_and_already_exists),
        cmocka_unit_test(test_generate_name_and_name_required),
        cmocka_unit_test(test_stale_update_conflict),
        cmocka_unit_test(test_noop_update_keeps_resource_version),
        cmocka_unit_test(test_immutable_configmap_and_secret),
        cmocka_unit_test(test_service_cluster_ip_and_pdb),
        cmocka_unit_test(test_openapi_v2_protobuf),
        cmocka_unit_test(test_selectors),
        cmocka_unit_test(test_paging_with_continue),
        cmocka_unit_test(test_expired_continue_is_410),
        cmocka_unit_test(test_watch_http1_and_h2),
        cmocka_unit_test(test_watch_initial_state_and_bookmarks),
        cmocka_unit_test(test_watch_too_old_is_410),
        cmocka_unit_test(test_faults_429_and_request_record),
        cmocka_unit_test(test_admin_tokens),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
