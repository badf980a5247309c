/*
 * The API simulator's deeper semantics, over HTTPS with libcurl: CRDs served
 * only once Established, custom-resource schema/CEL refusals and 415 for a
 * strategic merge patch, the status subresource split, fieldValidation and
 * dryRun, PartialObjectMetadata and Table answers, finalizers and garbage
 * collection (background, foreground, orphan; a Job deleted without a policy
 * orphans its pods), namespace finalization, TokenRequest tokens, RBAC with
 * kube-apiserver's 403 wording, and watch cuts from the fault injector.
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
    o.extra_args[0] = "--establish-ms";
    o.extra_args[1] = "800";
    o.extra_args[2] = a1;
    o.extra_args[3] = a1 ? a2 : NULL;
    o.exit_after_seconds = 240;
    if (kubesim_start(&o, &sim) != 0)
        return -1;
    *state = sim;
    return 0;
}

#define CM_PATH "/api/v1/namespaces/default/configmaps"

static int setup(void **state)
{
    return start(state, NULL, NULL);
}

static int teardown(void **state)
{
    kubesim_stop(*state);
    return 0;
}

/* Polls a GET until it answers `code` (controllers act asynchronously). */
static int wait_code(struct kubesim *sim, const char *path, long code)
{
    for (int i = 0; i < 200; i++) {
        struct kubesim_resp r;
        long got = kubesim_call(sim, "GET", path, NULL, NULL, &r);
        kubesim_resp_free(&r);
        if (got == code)
            return 1;
        usleep(50 * 1000);
    }
    return 0;
}

static cJSON *get_json(struct kubesim *sim, const char *path)
{
    struct kubesim_resp r;
    cJSON *j;
    kubesim_call(sim, "GET", path, NULL, NULL, &r);
    assert_int_equal(r.code, 200);
    j = kubesim_resp_json(&r);
    kubesim_resp_free(&r);
    return j;
}

static void post_ok(struct kubesim *sim, const char *path, const char *body)
{
    struct kubesim_resp r;
    kubesim_call(sim, "POST", path, "application/json", body, &r);
    if (r.code != 201)
        fprintf(stderr, "POST %s: %ld %s\n", path, r.code, r.body ? r.body : "");
    assert_int_equal(r.code, 201);
    kubesim_resp_free(&r);
}

static const char widget_crd[] =
    "{\"apiVersion\":\"apiextensions.k8s.io/v1\",\"kind\":\"CustomResourceDefinition\","
    "\"metadata\":{\"name\":\"gadgets.test.kubesim.io\"},\"spec\":{\"group\":\"test.kubesim.io\","
    "\"names\":{\"kind\":\"Gadget\",\"plural\":\"gadgets\",\"singular\":\"gadget\"},"
    "\"scope\":\"Namespaced\",\"versions\":[{\"name\":\"v1\",\"served\":true,\"storage\":true,"
    "\"subresources\":{\"status\":{}},\"schema\":{\"openAPIV3Schema\":{\"type\":\"object\","
    "\"properties\":{\"spec\":{\"type\":\"object\",\"required\":[\"size\"],"
    "\"x-kubernetes-validations\":[{\"rule\":\"self.size <= 10\",\"message\":\"size must be at "
    "most 10\"}],\"properties\":{\"size\":{\"type\":\"integer\",\"minimum\":1},\"mode\":{"
    "\"type\":\"string\",\"default\":\"auto\"}}},\"status\":{\"type\":\"object\","
    "\"properties\":{\"phase\":{\"type\":\"string\"}}}}}}}]}}";

#define GADGETS "/apis/test.kubesim.io/v1/namespaces/default/gadgets"

static void ensure_gadgets(struct kubesim *sim)
{
    struct kubesim_resp r;
    long got = kubesim_call(
        sim, "GET",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gadgets.test.kubesim.io", NULL,
        NULL, &r);
    kubesim_resp_free(&r);
    if (got == 404)
        post_ok(sim, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", widget_crd);
    assert_true(wait_code(sim, GADGETS, 200));
}

static void test_crd_served_only_once_established(void **state)
{
    struct kubesim_resp r;
    cJSON *crd;
    const cJSON *c;
    int established = 0;
    post_ok(*state, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", widget_crd);
    /* Right after creation the CRD is not Established: 404 for its resources. */
    kubesim_call(
        *state, "POST", GADGETS, "application/json",
        "{\"apiVersion\":\"test.kubesim.io/v1\",\"kind\":\"Gadget\",\"metadata\":{\"name\":\"g0\"},"
        "\"spec\":{\"size\":1}}",
        &r);
    kubesim_assert_status(&r, 404, "NotFound", "the server could not find the requested resource");
    kubesim_resp_free(&r);
    assert_true(wait_code(*state, GADGETS, 200));
    crd = get_json(
        *state, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gadgets.test.kubesim.io");
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(cJSON_GetObjectItem(crd, "status"), "conditions"))
    {
        if (strcmp(kubesim_jstr(c, "type", NULL), "Established") == 0 &&
            strcmp(kubesim_jstr(c, "status", NULL), "True") == 0)
            established = 1;
    }
    assert_true(established);
    cJSON_Delete(crd);
    post_ok(*state, GADGETS,
            "{\"apiVersion\":\"test.kubesim.io/v1\",\"kind\":\"Gadget\",\"metadata\":{\"name\":"
            "\"g0\"},\"spec\":{\"size\":1}}");
    kubesim_call(*state, "GET", "/apis/test.kubesim.io/v1", NULL, NULL, &r);
    assert_int_equal(r.code, 200);
    assert_non_null(strstr(r.body, "\"gadgets/status\""));
    kubesim_resp_free(&r);
}

static void test_cr_refusals(void **state)
{
    struct kubesim_resp r;
    ensure_gadgets(*state);
    kubesim_call(*state, "POST", GADGETS, "application/json",
                 "{\"metadata\":{\"name\":\"bad\"},\"spec\":{\"size\":0}}", &r);
    kubesim_assert_status(&r, 422, "Invalid",
                          "Gadget.test.kubesim.io \"bad\" is invalid: spec.size: Invalid value: 0: "
                          "spec.size in body should be greater than or equal to 1");
    kubesim_resp_free(&r);
    kubesim_call(*state, "POST", GADGETS, "application/json",
                 "{\"metadata\":{\"name\":\"big\"},\"spec\":{\"size\":11}}", &r);
    assert_int_equal(r.code, 422);
    assert_non_null(strstr(r.body, "size must be at most 10"));
    kubesim_resp_free(&r);
    post_ok(*state, GADGETS, "{\"metadata\":{\"name\":\"g1\"},\"spec\":{\"size\":2}}");
    kubesim_call(*state, "PATCH", GADGETS "/g1", "application/strategic-merge-patch+json",
                 "{\"spec\":{\"size\":3}}", &r);
    kubesim_assert_status(&r, 415, "UnsupportedMediaType",
                          "the body of the request was in an unknown format - accepted media types "
                          "include: application/json-patch+json, application/merge-patch+json, "
                          "application/apply-patch+yaml");
    kubesim_resp_free(&r);
    /* A custom resource PUT without resourceVersion is refused. */
    kubesim_call(
        *state, "PUT", GADGETS "/g1", "application/json",
        "{\"apiVersion\":\"test.kubesim.io/v1\",\"kind\":\"Gadget\",\"metadata\":{\"name\":\"g1\"},"
        "\"spec\":{\"size\":3}}",
        &r);
    kubesim_assert_status(
        &r, 422, "Invalid",
        "Gadget.test.kubesim.io \"g1\" is invalid: metadata.resourceVersion: Invalid "
        "value: 0x0: must be specified for an update");
    kubesim_resp_free(&r);
}

static void test_status_subresource(void **state)
{
    struct kubesim_resp r;
    cJSON *j;
    ensure_gadgets(*state);
    /* Status is dropped on create; the schema default fills spec.mode. */
    post_ok(*state, GADGETS,
            "{\"metadata\":{\"name\":\"st\"},\"spec\":{\"size\":2},\"status\":{\"phase\":\"X\"}}");
    j = get_json(*state, GADGETS "/st");
    assert_null(cJSON_GetObjectItem(j, "status"));
    assert_string_equal(kubesim_jstr(cJSON_GetObjectItem(j, "spec"), "mode", NULL), "auto");
    assert_int_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(j, "metadata"), "generation")->valueint, 1);
    cJSON_Delete(j);
    /* /status: spec ignored, status kept, generation unchanged. */
    kubesim_call(*state, "PATCH", GADGETS "/st/status", "application/merge-patch+json",
                 "{\"spec\":{\"size\":5},\"status\":{\"phase\":\"Ready\"}}", &r);
    assert_int_equal(r.code, 200);
    kubesim_resp_free(&r);
    j = get_json(*state, GADGETS "/st");
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "spec"), "size")->valueint, 2);
    assert_string_equal(kubesim_jstr(j, "status", "phase"), "Ready");
    assert_int_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(j, "metadata"), "generation")->valueint, 1);
    cJSON_Delete(j);
    /* Main resource: status ignored, spec change bumps generation. */
    kubesim_call(*state, "PATCH", GADGETS "/st", "application/merge-patch+json",
                 "{\"spec\":{\"size\":4},\"status\":{\"phase\":\"Lost\"}}", &r);
    assert_int_equal(r.code, 200);
    kubesim_resp_free(&r);
    j = get_json(*state, GADGETS "/st");
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "spec"), "size")->valueint, 4);
    assert_string_equal(kubesim_jstr(j, "status", "phase"), "Ready");
    assert_int_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(j, "metadata"), "generation")->valueint, 2);
    cJSON_Delete(j);
    /* A label change alone does not bump generation. */
    kubesim_call(*state, "PATCH", GADGETS "/st", "application/merge-patch+json",
                 "{\"metadata\":{\"labels\":{\"x\":\"y\"}}}", &r);
    kubesim_resp_free(&r);
    j = get_json(*state, GADGETS "/st");
    assert_int_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(j, "metadata"), "generation")->valueint, 2);
    cJSON_Delete(j);
}

static void test_field_validation(void **state)
{
    struct kubesim_resp r;
    kubesim_call(*state, "POST", CM_PATH "?fieldValidation=Strict", "application/json",
                 "{\"metadata\":{\"name\":\"fv1\"},\"data\":{},\"foo\":1}", &r);
    kubesim_assert_status(
        &r, 400, "BadRequest",
        "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: strict decoding "
        "error: unknown field \"foo\"");
    kubesim_resp_free(&r);
    kubesim_call(*state, "POST", CM_PATH "?fieldValidation=Warn", "application/json",
                 "{\"metadata\":{\"name\":\"fv2\"},\"data\":{},\"foo\":1}", &r);
    assert_int_equal(r.code, 201);
    assert_non_null(strcasestr(r.headers, "warning: 299 - \"unknown field \\\"foo\\\"\""));
    kubesim_resp_free(&r);
    kubesim_call(*state, "POST", CM_PATH "?fieldValidation=Ignore", "application/json",
                 "{\"metadata\":{\"name\":\"fv3\"},\"data\":{},\"foo\":1}", &r);
    assert_int_equal(r.code, 201);
    assert_null(strcasestr(r.headers, "warning:"));
    kubesim_resp_free(&r);
    ensure_gadgets(*state);
    kubesim_call(*state, "POST", GADGETS "?fieldValidation=Strict", "application/json",
                 "{\"metadata\":{\"name\":\"fv\"},\"spec\":{\"size\":1,\"bogus\":true}}", &r);
    kubesim_assert_status(
        &r, 400, "BadRequest",
        "Gadget in version \"v1\" cannot be handled as a Gadget: strict decoding error: "
        "unknown field \"spec.bogus\"");
    kubesim_resp_free(&r);
    /* Warn (the default): stored pruned, with a warning. */
    kubesim_call(*state, "POST", GADGETS, "application/json",
                 "{\"metadata\":{\"name\":\"fv\"},\"spec\":{\"size\":1,\"bogus\":true}}", &r);
    assert_int_equal(r.code, 201);
    assert_non_null(strstr(r.headers, "unknown field \\\"spec.bogus\\\""));
    assert_null(strstr(r.body, "bogus"));
    kubesim_resp_free(&r);
}

static void test_dry_run(void **state)
{
    struct kubesim_resp r;
    kubesim_call(*state, "POST", CM_PATH "?dryRun=All", "application/json",
                 "{\"metadata\":{\"name\":\"dry\"},\"data\":{\"a\":\"b\"}}", &r);
    assert_int_equal(r.code, 201);
    assert_non_null(strstr(r.body, "\"uid\""));
    kubesim_resp_free(&r);
    kubesim_call(*state, "GET", CM_PATH "/dry", NULL, NULL, &r);
    assert_int_equal(r.code, 404);
    kubesim_resp_free(&r);
    post_ok(*state, CM_PATH, "{\"metadata\":{\"name\":\"dry\"},\"data\":{\"a\":\"b\"}}");
    kubesim_call(*state, "DELETE", CM_PATH "/dry?dryRun=All", NULL, NULL, &r);
    assert_int_equal(r.code, 200);
    kubesim_resp_free(&r);
    kubesim_call(*state, "PATCH", CM_PATH "/dry?dryRun=All", "application/merge-patch+json",
                 "{\"data\":{\"a\":\"c\"}}", &r);
    assert_int_equal(r.code, 200);
    assert_non_null(strstr(r.body, "\"a\":\"c\""));
    kubesim_resp_free(&r);
    kubesim_call(*state, "GET", CM_PATH "/dry", NULL, NULL, &r);
    assert_int_equal(r.code, 200);
    assert_non_null(strstr(r.body, "\"a\":\"b\""));
    kubesim_resp_free(&r);
    kubesim_call(*state, "POST", CM_PATH "?dryRun=Some", "application/json",
                 "{\"metadata\":{\"name\":\"dry2\"}}", &r);
    assert_int_equal(r.code, 400);
    kubesim_resp_free(&r);
}

static long call_accept(struct kubesim *sim, const char *path, const char *accept,
                        struct kubesim_resp *r)
{
    CURL *h = curl_easy_init();
    struct curl_slist *hdrs = NULL;
    char url[2048], auth[1024], acc[512];
    memset(r, 0, sizeof(*r));
    snprintf(url, sizeof(url), "%s%s", kubesim_url(sim), path);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", kubesim_admin_token(sim));
    snprintf(acc, sizeof(acc), "Accept: %s", accept);
    hdrs = curl_slist_append(hdrs, auth);
    hdrs = curl_slist_append(hdrs, acc);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CAINFO, kubesim_ca_file(sim));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, kubesim_resp_on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    assert_int_equal(curl_easy_perform(h), CURLE_OK);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->code);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    return r->code;
}

static void test_partial_metadata_and_table(void **state)
{
    struct kubesim_resp r;
    cJSON *j, *item;
    post_ok(*state, "/api/v1/namespaces/default/secrets",
            "{\"metadata\":{\"name\":\"pom\",\"labels\":{\"k\":\"v\"}},\"data\":{\"p\":\"eA==\"}}");
    call_accept(*state, "/api/v1/namespaces/default/secrets?labelSelector=k",
                "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json",
                &r);
    assert_int_equal(r.code, 200);
    j = kubesim_resp_json(&r);
    assert_string_equal(kubesim_jstr(j, "kind", NULL), "PartialObjectMetadataList");
    assert_string_equal(kubesim_jstr(j, "apiVersion", NULL), "meta.k8s.io/v1");
    item = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "items"), 0);
    assert_non_null(item);
    assert_string_equal(kubesim_jstr(item, "metadata", "name"), "pom");
    assert_null(cJSON_GetObjectItem(item, "data"));
    cJSON_Delete(j);
    kubesim_resp_free(&r);
    /* A metadata watch carries no data either. */
    call_accept(*state,
                "/api/v1/namespaces/default/secrets?watch=1&labelSelector=k&timeoutSeconds=1",
                "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1", &r);
    assert_non_null(strstr(r.body, "\"kind\":\"PartialObjectMetadata\""));
    assert_null(strstr(r.body, "eA=="));
    kubesim_resp_free(&r);
    call_accept(*state, "/api/v1/namespaces/default/secrets?labelSelector=k",
                "application/json;as=Table;v=v1;g=meta.k8s.io,application/json", &r);
    j = kubesim_resp_json(&r);
    assert_string_equal(kubesim_jstr(j, "kind", NULL), "Table");
    {
        cJSON *cols = cJSON_GetObjectItem(j, "columnDefinitions");
        cJSON *cells =
            cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "rows"), 0), "cells");
        assert_string_equal(kubesim_jstr(cJSON_GetArrayItem(cols, 0), "name", NULL), "Name");
        assert_string_equal(kubesim_jstr(cJSON_GetArrayItem(cols, 1), "name", NULL), "Type");
        assert_string_equal(kubesim_jstr(cJSON_GetArrayItem(cols, 2), "name", NULL), "Data");
        assert_string_equal(kubesim_jstr(cJSON_GetArrayItem(cols, 3), "name", NULL), "Age");
        assert_string_equal(cJSON_GetArrayItem(cells, 0)->valuestring, "pom");
        assert_string_equal(cJSON_GetArrayItem(cells, 1)->valuestring, "Opaque");
        assert_int_equal(cJSON_GetArrayItem(cells, 2)->valueint, 1);
    }
    cJSON_Delete(j);
    kubesim_resp_free(&r);
}

static void owner_ref(char *buf, size_t cap, const char *kind, const char *name, const char *uid,
                      int block)
{
    snprintf(buf, cap,
             "[{\"apiVersion\":\"v1\",\"kind\":\"%s\",\"name\":\"%s\",\"uid\":\"%s\","
             "\"blockOwnerDeletion\":%s}]",
             kind, name, uid, block ? "true" : "false");
}

static char *create_owner(struct kubesim *sim, const char *name)
{
    struct kubesim_resp r;
    cJSON *j;
    char body[512], *uid;
    snprintf(body, sizeof(body), "{\"metadata\":{\"name\":\"%s\"}}", name);
    kubesim_call(sim, "POST", CM_PATH, "application/json", body, &r);
    assert_int_equal(r.code, 201);
    j = kubesim_resp_json(&r);
    uid = strdup(kubesim_jstr(j, "metadata", "uid"));
    cJSON_Delete(j);
    kubesim_resp_free(&r);
    return uid;
}

static void create_dependent(struct kubesim *sim, const char *name, const char *owner,
                             const char *uid, int block)
{
    char refs[512], body[1024];
    owner_ref(refs, sizeof(refs), "ConfigMap", owner, uid, block);
    snprintf(body, sizeof(body), "{\"metadata\":{\"name\":\"%s\",\"ownerReferences\":%s}}", name,
             refs);
    post_ok(sim, CM_PATH, body);
}

static void test_garbage_collection(void **state)
{
    struct kubesim_resp r;
    char *uid;
    cJSON *j;
    /* Background: the owner goes at once, the dependent soon after. */
    uid = create_owner(*state, "own-bg");
    create_dependent(*state, "dep-bg", "own-bg", uid, 0);
    free(uid);
    kubesim_call(
        *state, "DELETE", CM_PATH "/own-bg", "application/json",
        "{\"kind\":\"DeleteOptions\",\"apiVersion\":\"v1\",\"propagationPolicy\":\"Background\"}",
        &r);
    assert_int_equal(r.code, 200);
    kubesim_resp_free(&r);
    assert_true(wait_code(*state, CM_PATH "/own-bg", 404));
    assert_true(wait_code(*state, CM_PATH "/dep-bg", 404));
    /* Foreground: the owner waits (foregroundDeletion) for blocking dependents. */
    uid = create_owner(*state, "own-fg");
    create_dependent(*state, "dep-fg", "own-fg", uid, 1);
    free(uid);
    kubesim_call(*state, "DELETE", CM_PATH "/own-fg?propagationPolicy=Foreground", NULL, NULL, &r);
    assert_int_equal(r.code, 200);
    j = kubesim_resp_json(&r);
    assert_non_null(kubesim_jstr(j, "metadata", "deletionTimestamp"));
    assert_string_equal(
        cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "metadata"), "finalizers"), 0)
            ->valuestring,
        "foregroundDeletion");
    cJSON_Delete(j);
    kubesim_resp_free(&r);
    assert_true(wait_code(*state, CM_PATH "/dep-fg", 404));
    assert_true(wait_code(*state, CM_PATH "/own-fg", 404));
    /* Orphan: the dependent stays, without its owner reference. */
    uid = create_owner(*state, "own-or");
    create_dependent(*state, "dep-or", "own-or", uid, 0);
    free(uid);
    kubesim_call(*state, "DELETE", CM_PATH "/own-or?propagationPolicy=Orphan", NULL, NULL, &r);
    assert_int_equal(r.code, 200);
    kubesim_resp_free(&r);
    assert_true(wait_code(*state, CM_PATH "/own-or", 404));
    j = get_json(*state, CM_PATH "/dep-or");
    assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "metadata"), "ownerReferences"));
    cJSON_Delete(j);
}

static void test_finalizer_keeps_object(void **state)
{
    struct kubesim_resp r;
    cJSON *j;
    char body[512];
    post_ok(*state, CM_PATH, "{\"metadata\":{\"name\":\"held\",\"finalizers\":[\"x.io/hold\"]}}");
    kubesim_call(*state, "DELETE", CM_PATH "/held", NULL, NULL, &r);
    assert_int_equal(r.code, 200);
    kubesim_resp_free(&r);
    j = get_json(*state, CM_PATH "/held");
    assert_non_null(kubesim_jstr(j, "metadata", "deletionTimestamp"));
    snprintf(body, sizeof(body),
             "{\"metadata\":{\"name\":\"held\",\"resourceVersion\":\"%s\",\"finalizers\":["
             "\"x.io/hold\",\"x.io/more\"]}}",
             kubesim_jstr(j, "metadata", "resourceVersion"));
    cJSON_Delete(j);
    /* No new finalizers once deletion started. */
    kubesim_call(*state, "PUT", CM_PATH "/held", "application/json", body, &r);
    kubesim_assert_status(
        &r, 422, "Invalid",
        "ConfigMap \"held\" is invalid: metadata.finalizers: Forbidden: no new "
        "finalizers can be added if the object is being deleted, found new finalizers "
        "[]string{\"x.io/more\"}");
    kubesim_resp_free(&r);
    kubesim_call(*state, "PATCH", CM_PATH "/held", "application/merge-patch+json",
                 "{\"metadata\":{\"finalizers\":null}}", &r);
    assert_int_equal(r.code, 200);
    kubesim_resp_free(&r);
    kubesim_call(*state, "GET", CM_PATH "/held", NULL, NULL, &r);
    assert_int_equal(r.code, 404);
    kubesim_resp_free(&r);
}

#define JOB_FMT                                                                                    \
    "{\"metadata\":{\"name\":\"%s\"},\"spec\":{\"template\":{\"spec\":{\"restartPolicy\":"         \
    "\"Never\",\"containers\":[{\"name\":\"c\",\"image\":\"busybox\"}]}}}}"

static void test_job_delete_orphans_pods(void **state)
{
    struct kubesim_resp r;
    cJSON *j;
    char body[2048], uid[64];
    /* This is about the garbage collector: the Job controller would count the
     * hand-made pod as one too many and delete it first. */
    assert_int_equal(
        kubesim_admin(*state, "POST", "/__admin/workloads", "{\"jobs\":{\"enabled\":false}}", NULL),
        200);
    for (int round = 0; round < 2; round++) {
        const char *name = round ? "job-bg" : "job-or";
        snprintf(body, sizeof(body), JOB_FMT, name);
        kubesim_call(*state, "POST", "/apis/batch/v1/namespaces/default/jobs", "application/json",
                     body, &r);
        assert_int_equal(r.code, 201);
        j = kubesim_resp_json(&r);
        snprintf(uid, sizeof(uid), "%s", kubesim_jstr(j, "metadata", "uid"));
        /* The generated selector of batch/v1. */
        assert_non_null(strstr(r.body, "\"batch.kubernetes.io/controller-uid\""));
        cJSON_Delete(j);
        kubesim_resp_free(&r);
        snprintf(body, sizeof(body),
                 "{\"metadata\":{\"name\":\"%s-pod\",\"ownerReferences\":[{\"apiVersion\":"
                 "\"batch/v1\",\"kind\":\"Job\",\"name\":\"%s\",\"uid\":\"%s\",\"controller\":"
                 "true,\"blockOwnerDeletion\":true}]},\"spec\":{\"containers\":[{\"name\":\"c\","
                 "\"image\":\"busybox\"}]}}",
                 name, name, uid);
        post_ok(*state, "/api/v1/namespaces/default/pods", body);
        snprintf(body, sizeof(body), "/apis/batch/v1/namespaces/default/jobs/%s%s", name,
                 round ? "?propagationPolicy=Background" : "");
        kubesim_call(*state, "DELETE", body, NULL, NULL, &r);
        assert_int_equal(r.code, 200);
        kubesim_resp_free(&r);
        snprintf(body, sizeof(body), "/apis/batch/v1/namespaces/default/jobs/%s", name);
        assert_true(wait_code(*state, body, 404));
        snprintf(body, sizeof(body), "/api/v1/namespaces/default/pods/%s-pod", name);
        if (round) {
            assert_true(wait_code(*state, body, 404));
        } else {
            j = get_json(*state, body);
            assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "metadata"), "ownerReferences"));
            cJSON_Delete(j);
        }
    }
    /* Job template is immutable. */
    snprintf(body, sizeof(body), JOB_FMT, "job-imm");
    post_ok(*state, "/apis/batch/v1/namespaces/default/jobs", body);
    kubesim_call(
        *state, "PATCH", "/apis/batch/v1/namespaces/default/jobs/job-imm",
        "application/strategic-merge-patch+json",
        "{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"alpine\"}]"
        "}}}}",
        &r);
    assert_int_equal(r.code, 422);
    assert_non_null(strstr(r.body, "spec.template: Invalid value: "));
    assert_non_null(strstr(r.body, "field is immutable"));
    kubesim_resp_free(&r);
    assert_int_equal(
        kubesim_admin(*state, "POST", "/__admin/workloads", "{\"jobs\":{\"enabled\":true}}", NULL),
        200);
}

static void test_namespace_finalization(void **state)
{
    struct kubesim_resp r;
    cJSON *j;
    post_ok(*state, "/api/v1/namespaces", "{\"metadata\":{\"name\":\"doomed\"}}");
    post_ok(*state, "/api/v1/namespaces/doomed/configmaps", "{\"metadata\":{\"name\":\"c\"}}");
    /* The ServiceAccount controller made "default". */
    assert_true(wait_code(*state, "/api/v1/namespaces/doomed/serviceaccounts/default", 200));
    kubesim_call(*state, "DELETE", "/api/v1/namespaces/doomed", NULL, NULL, &r);
    assert_int_equal(r.code, 200);
    j = kubesim_resp_json(&r);
    assert_string_equal(kubesim_jstr(j, "status", "phase"), "Terminating");
    cJSON_Delete(j);
    kubesim_resp_free(&r);
    kubesim_call(*state, "POST", "/api/v1/namespaces/doomed/configmaps", "application/json",
                 "{\"metadata\":{\"name\":\"late\"}}", &r);
    if (r.code == 403)
        kubesim_assert_status(
            &r, 403, "Forbidden",
            "configmaps \"late\" is forbidden: unable to create new content in namespace "
            "doomed because it is being terminated");
    else
        kubesim_assert_status(&r, 404, "NotFound", "namespaces \"doomed\" not found");
    kubesim_resp_free(&r);
    assert_true(wait_code(*state, "/api/v1/namespaces/doomed", 404));
    kubesim_call(*state, "GET", "/api/v1/namespaces/doomed/configmaps/c", NULL, NULL, &r);
    assert_int_equal(r.code, 404);
    kubesim_resp_free(&r);
    kubesim_call(*state, "POST", "/api/v1/namespaces/nowhere/configmaps", "application/json",
                 "{\"metadata\":{\"name\":\"x\"}}", &r);
    kubesim_assert_status(&r, 404, "NotFound", "namespaces \"nowhere\" not found");
    kubesim_resp_free(&r);
}

static void test_token_request(void **state)
{
    struct kubesim_resp r;
    cJSON *j;
    char token[4096];
    char *out = NULL;
    post_ok(*state, "/api/v1/namespaces/default/serviceaccounts",
            "{\"metadata\":{\"name\":\"bot\"}}");
    kubesim_call(*state, "POST", "/api/v1/namespaces/default/serviceaccounts/bot/token",
                 "application/json",
                 "{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":\"TokenRequest\",\"spec\":{"
                 "\"expirationSeconds\":600}}",
                 &r);
    assert_int_equal(r.code, 201);
    j = kubesim_resp_json(&r);
    snprintf(token, sizeof(token), "%s", kubesim_jstr(j, "status", "token"));
    assert_non_null(kubesim_jstr(j, "status", "expirationTimestamp"));
    cJSON_Delete(j);
    kubesim_resp_free(&r);
    kubesim_call(*state, "POST", "/api/v1/namespaces/default/serviceaccounts/bot/token",
                 "application/json", "{\"spec\":{\"expirationSeconds\":60}}", &r);
    assert_int_equal(r.code, 422);
    kubesim_resp_free(&r);
    assert_int_equal(kubesim_admin(*state, "DELETE", "/__admin/requests", NULL, NULL), 200);
    kubesim_call_v(*state, token, "GET", "/api/v1/namespaces/default/configmaps", NULL, NULL,
                   CURL_HTTP_VERSION_2TLS, &r);
    assert_int_equal(r.code, 200);
    kubesim_resp_free(&r);
    assert_int_equal(kubesim_admin(*state, "GET",
                                   "/__admin/requests?user=system:serviceaccount:default:bot", NULL,
                                   &out),
                     200);
    assert_non_null(strstr(out, "\"verb\":\"list\""));
    free(out);
    /* The token dies with its ServiceAccount. */
    kubesim_call(*state, "DELETE", "/api/v1/namespaces/default/serviceaccounts/bot", NULL, NULL,
                 &r);
    kubesim_resp_free(&r);
    kubesim_call_v(*state, token, "GET", "/api/v1/namespaces/default/configmaps", NULL, NULL,
                   CURL_HTTP_VERSION_2TLS, &r);
    kubesim_assert_status(&r, 401, "Unauthorized", "Unauthorized");
    kubesim_resp_free(&r);
}

static void test_rbac(void **state)
{
    struct kubesim *sim = NULL; /* set by start(), which asserts it succeeded */
    struct kubesim_resp r;
    char *out = NULL;
    (void)state;
    assert_int_equal(start((void **)&sim, "--rbac", NULL), 0);
    assert_int_equal(
        kubesim_admin(sim, "POST", "/__admin/tokens",
                      "{\"token\":\"alice-t\",\"user\":\"alice\",\"groups\":[\"devs\"]}", NULL),
        201);
    post_ok(sim, CM_PATH, "{\"metadata\":{\"name\":\"cfg\"}}");
    kubesim_call_v(sim, "alice-t", "GET", CM_PATH, NULL, NULL, CURL_HTTP_VERSION_2TLS, &r);
    kubesim_assert_status(
        &r, 403, "Forbidden",
        "configmaps is forbidden: User \"alice\" cannot list resource \"configmaps\" in "
        "API group \"\" in the namespace \"default\"");
    kubesim_resp_free(&r);
    kubesim_call_v(sim, "alice-t", "GET", CM_PATH "/cfg", NULL, NULL, CURL_HTTP_VERSION_2TLS, &r);
    kubesim_assert_status(&r, 403, "Forbidden",
                          "configmaps \"cfg\" is forbidden: User \"alice\" cannot get resource "
                          "\"configmaps\" in API group \"\" in the namespace \"default\"");
    kubesim_resp_free(&r);
    kubesim_call_v(sim, "alice-t", "GET", "/api/v1/namespaces", NULL, NULL, CURL_HTTP_VERSION_2TLS,
                   &r);
    kubesim_assert_status(
        &r, 403, "Forbidden",
        "namespaces is forbidden: User \"alice\" cannot list resource \"namespaces\" in "
        "API group \"\" at the cluster scope");
    kubesim_resp_free(&r);
    kubesim_call_v(sim, "alice-t", "PUT", "/apis/apps/v1/namespaces/default/deployments/d/status",
                   "application/json", "{}", CURL_HTTP_VERSION_2TLS, &r);
    kubesim_assert_status(
        &r, 403, "Forbidden",
        "deployments.apps \"d\" is forbidden: User \"alice\" cannot update resource "
        "\"deployments/status\" in API group \"apps\" in the namespace \"default\"");
    kubesim_resp_free(&r);
    /* Discovery is open to every authenticated user. */
    kubesim_call_v(sim, "alice-t", "GET", "/apis", NULL, NULL, CURL_HTTP_VERSION_2TLS, &r);
    assert_int_equal(r.code, 200);
    kubesim_resp_free(&r);
    /* A Role and a RoleBinding (to the group) grant get/list in "default" only. */
    post_ok(sim, "/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles",
            "{\"metadata\":{\"name\":\"cm-reader\"},\"rules\":[{\"apiGroups\":[\"\"],"
            "\"resources\":[\"configmaps\"],\"verbs\":[\"get\",\"list\"]}]}");
    post_ok(sim, "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings",
            "{\"metadata\":{\"name\":\"devs-read\"},\"roleRef\":{\"apiGroup\":\"rbac.authorization."
            "k8s.io\",\"kind\":\"Role\",\"name\":\"cm-reader\"},\"subjects\":[{\"kind\":\"Group\","
            "\"name\":\"devs\"}]}");
    kubesim_call_v(sim, "alice-t", "GET", CM_PATH "/cfg", NULL, NULL, CURL_HTTP_VERSION_2TLS, &r);
    assert_int_equal(r.code, 200);
    kubesim_resp_free(&r);
    kubesim_call_v(sim, "alice-t", "GET", "/api/v1/namespaces/kube-system/configmaps", NULL, NULL,
                   CURL_HTTP_VERSION_2TLS, &r);
    assert_int_equal(r.code, 403);
    kubesim_resp_free(&r);
    kubesim_call_v(sim, "alice-t", "DELETE", CM_PATH "/cfg", NULL, NULL, CURL_HTTP_VERSION_2TLS,
                   &r);
    assert_int_equal(r.code, 403);
    kubesim_resp_free(&r);
    /* A binding to a missing role says so, as the RBAC authorizer does. */
    post_ok(sim, "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings",
            "{\"metadata\":{\"name\":\"dangling\"},\"roleRef\":{\"apiGroup\":\"rbac.authorization."
            "k8s.io\",\"kind\":\"Role\",\"name\":\"missing\"},\"subjects\":[{\"kind\":\"User\","
            "\"name\":\"alice\"}]}");
    kubesim_call_v(sim, "alice-t", "POST", CM_PATH, "application/json",
                   "{\"metadata\":{\"name\":\"n\"}}", CURL_HTTP_VERSION_2TLS, &r);
    kubesim_assert_status(
        &r, 403, "Forbidden",
        "configmaps is forbidden: User \"alice\" cannot create resource \"configmaps\" "
        "in API group \"\" in the namespace \"default\": RBAC: "
        "role.rbac.authorization.k8s.io \"missing\" not found");
    kubesim_resp_free(&r);
    /* Access reviews answer from the same rules. */
    kubesim_call_v(sim, "alice-t", "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                   "application/json",
                   "{\"spec\":{\"resourceAttributes\":{\"namespace\":\"default\",\"verb\":\"get\","
                   "\"resource\":\"configmaps\"}}}",
                   CURL_HTTP_VERSION_2TLS, &r);
    assert_int_equal(r.code, 201);
    assert_non_null(strstr(r.body, "\"allowed\":true"));
    kubesim_resp_free(&r);
    kubesim_call(sim, "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews",
                 "application/json",
                 "{\"spec\":{\"user\":\"alice\",\"groups\":[\"devs\"],\"resourceAttributes\":{"
                 "\"namespace\":\"kube-system\",\"verb\":\"get\",\"resource\":\"configmaps\"}}}",
                 &r);
    assert_int_equal(r.code, 201);
    assert_non_null(strstr(r.body, "\"allowed\":false"));
    kubesim_resp_free(&r);
    /* Impersonation: the admin acting as alice gets alice's answers. */
    {
        CURL *h = curl_easy_init();
        struct curl_slist *hd = NULL;
        char url[1024], auth[512];
        long code = 0;
        snprintf(url, sizeof(url), "%s/api/v1/namespaces/kube-system/configmaps", kubesim_url(sim));
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", kubesim_admin_token(sim));
        hd = curl_slist_append(hd, auth);
        hd = curl_slist_append(hd, "Impersonate-User: alice");
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_CAINFO, kubesim_ca_file(sim));
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
        curl_easy_setopt(h, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, kubesim_resp_on_body);
        memset(&r, 0, sizeof(r));
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &r);
        assert_int_equal(curl_easy_perform(h), CURLE_OK);
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
        assert_int_equal(code, 403);
        assert_non_null(strstr(r.body, "User \\\"alice\\\" cannot list"));
        kubesim_resp_free(&r);
        curl_slist_free_all(hd);
        curl_easy_cleanup(h);
    }
    /* The record of what alice did, for RBAC-minimality checks. */
    assert_int_equal(kubesim_admin(sim, "GET", "/__admin/requests?user=alice", NULL, &out), 200);
    assert_non_null(strstr(out, "\"verb\":\"delete\""));
    assert_non_null(strstr(out, "\"code\":403"));
    assert_non_null(strstr(out, "\"subresource\":\"status\""));
    free(out);
    kubesim_stop(sim);
}

static void test_watch_cut_by_fault(void **state)
{
    struct kubesim_resp r;
    assert_int_equal(kubesim_admin(*state, "POST", "/__admin/faults",
                                   "{\"rules\":[],\"watchCutSeconds\":1}", NULL),
                     200);
    /* timeoutSeconds=30, but the injector cuts it after about a second. */
    kubesim_call_x(*state, NULL, "GET", CM_PATH "?watch=true&timeoutSeconds=30", NULL, NULL,
                   CURL_HTTP_VERSION_1_1, 1, &r);
    assert_int_not_equal(r.curl_code, CURLE_OPERATION_TIMEDOUT);
    assert_int_not_equal(r.curl_code, CURLE_OK);
    kubesim_resp_free(&r);
    assert_int_equal(kubesim_admin(*state, "POST", "/__admin/faults",
                                   "{\"rules\":[{\"method\":\"PUT\",\"status\":409,\"times\":1},"
                                   "{\"pathPrefix\":\"/api/v1/namespaces/default/secrets\","
                                   "\"status\":500,\"fraction\":0.999999}]}",
                                   NULL),
                     200);
    post_ok(*state, CM_PATH, "{\"metadata\":{\"name\":\"f409\"}}");
    kubesim_call(*state, "PUT", CM_PATH "/f409", "application/json",
                 "{\"metadata\":{\"name\":\"f409\"}}", &r);
    kubesim_assert_status(
        &r, 409, "Conflict",
        "Operation cannot be fulfilled on configmaps \"f409\": the object has been "
        "modified; please apply your changes to the latest version and try again");
    kubesim_resp_free(&r);
    kubesim_call(*state, "PUT", CM_PATH "/f409", "application/json",
                 "{\"metadata\":{\"name\":\"f409\"}}", &r);
    assert_int_equal(r.code, 200);
    kubesim_resp_free(&r);
    /* Latency alone delays but does not refuse. */
    assert_int_equal(
        kubesim_admin(*state, "POST", "/__admin/faults",
                      "{\"rules\":[{\"method\":\"GET\",\"latencyMs\":200,\"times\":1}]}", NULL),
        200);
    kubesim_call(*state, "GET", CM_PATH "/f409", NULL, NULL, &r);
    assert_int_equal(r.code, 200);
    kubesim_resp_free(&r);
    assert_int_equal(kubesim_admin(*state, "POST", "/__admin/faults", "{\"rules\":[]}", NULL), 200);
}

static void test_deletecollection(void **state)
{
    struct kubesim_resp r;
    cJSON *j;
    for (int i = 0; i < 3; i++) {
        char body[256];
        snprintf(body, sizeof(body), "{\"metadata\":{\"name\":\"dc%d\",\"labels\":{\"dc\":\"y\"}}}",
                 i);
        post_ok(*state, CM_PATH, body);
    }
    kubesim_call(*state, "DELETE", CM_PATH "?labelSelector=dc%3Dy", NULL, NULL, &r);
    assert_int_equal(r.code, 200);
    j = kubesim_resp_json(&r);
    assert_string_equal(kubesim_jstr(j, "kind", NULL), "ConfigMapList");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "items")), 3);
    cJSON_Delete(j);
    kubesim_resp_free(&r);
    j = get_json(*state, CM_PATH "?labelSelector=dc");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "items")), 0);
    cJSON_Delete(j);
}

static void test_crd_with_rule_outside_cel_subset_is_refused(void **state)
{
    struct kubesim_resp r;
    kubesim_call(
        *state, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        "application/json",
        "{\"metadata\":{\"name\":\"quirks.test.kubesim.io\"},\"spec\":{\"group\":\"test.kubesim."
        "io\","
        "\"names\":{\"kind\":\"Quirk\",\"plural\":\"quirks\"},\"scope\":\"Namespaced\","
        "\"versions\":[{\"name\":\"v1\",\"served\":true,\"storage\":true,\"schema\":{"
        "\"openAPIV3Schema\":{\"type\":\"object\",\"properties\":{\"spec\":{\"type\":\"object\","
        "\"x-kubernetes-validations\":[{\"rule\":\"quantity(self.q).isGreaterThan(quantity('1'))"
        "\"}],"
        "\"properties\":{\"q\":{\"type\":\"string\"}}}}}}}]}}",
        &r);
    assert_int_equal(r.code, 422);
    assert_non_null(strstr(r.body, "\"reason\":\"Invalid\""));
    assert_non_null(strstr(r.body, "CustomResourceDefinition.apiextensions.k8s.io "
                                   "\\\"quirks.test.kubesim.io\\\" is invalid"));
    assert_non_null(strstr(r.body, "spec.versions[0].schema.openAPIV3Schema"));
    kubesim_resp_free(&r);
    kubesim_call(*state, "GET",
                 "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/quirks.test.kubesim.io",
                 NULL, NULL, &r);
    assert_int_equal(r.code, 404);
    kubesim_resp_free(&r);
}

static void test_admin_restart_expires_watch_history(void **state)
{
    struct kubesim_resp r;
    cJSON *j;
    char path[256];
    j = get_json(*state, CM_PATH);
    snprintf(path, sizeof(path), CM_PATH "?watch=1&resourceVersion=%s&timeoutSeconds=1",
             kubesim_jstr(j, "metadata", "resourceVersion"));
    cJSON_Delete(j);
    post_ok(*state, CM_PATH, "{\"metadata\":{\"name\":\"before-restart\"}}");
    assert_int_equal(kubesim_admin(*state, "POST", "/__admin/restart", NULL, NULL), 200);
    kubesim_call(*state, "GET", path, NULL, NULL, &r);
    assert_non_null(strstr(r.body, "{\"type\":\"ERROR\""));
    assert_non_null(strstr(r.body, "\"code\":410"));
    kubesim_resp_free(&r);
    /* State is kept. */
    kubesim_call(*state, "GET", CM_PATH "/before-restart", NULL, NULL, &r);
    assert_int_equal(r.code, 200);
    kubesim_resp_free(&r);
}

static void test_crd_delete_removes_its_resources(void **state)
{
    struct kubesim_resp r;
    ensure_gadgets(*state);
    post_ok(*state, GADGETS, "{\"metadata\":{\"name\":\"doomed\"},\"spec\":{\"size\":1}}");
    kubesim_call(*state, "DELETE",
                 "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gadgets.test.kubesim.io",
                 NULL, NULL, &r);
    assert_int_equal(r.code, 200);
    kubesim_resp_free(&r);
    kubesim_call(*state, "GET", GADGETS "/doomed", NULL, NULL, &r);
    kubesim_assert_status(&r, 404, "NotFound", "the server could not find the requested resource");
    kubesim_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crd_served_only_once_established),
        cmocka_unit_test(test_cr_refusals),
        cmocka_unit_test(test_status_subresource),
        cmocka_unit_test(test_field_validation),
        cmocka_unit_test(test_dry_run),
        cmocka_unit_test(test_partial_metadata_and_table),
        cmocka_unit_test(test_garbage_collection),
        cmocka_unit_test(test_finalizer_keeps_object),
        cmocka_unit_test(test_job_delete_orphans_pods),
        cmocka_unit_test(test_namespace_finalization),
        cmocka_unit_test(test_token_request),
        cmocka_unit_test(test_rbac),
        cmocka_unit_test(test_watch_cut_by_fault),
        cmocka_unit_test(test_deletecollection),
        cmocka_unit_test(test_crd_with_rule_outside_cel_subset_is_refused),
        cmocka_unit_test(test_admin_restart_expires_watch_history),
        cmocka_unit_test(test_crd_delete_removes_its_resources),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
