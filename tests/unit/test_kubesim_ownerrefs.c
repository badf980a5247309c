/*
 * The API simulator's OwnerReferencesPermissionEnforcement (tests/kubesim/
 * sim_gcadmit.c), over HTTPS as a client sees it: under --rbac, setting
 * blockOwnerDeletion on a reference needs `update` on the owner's finalizers
 * (ConfigMap and custom-resource owners; an unmapped kind is refused), changing
 * the ownerReferences of an existing object (PUT, merge patch, server-side
 * apply) needs `delete` on it, dry runs are judged alike, status writes are
 * left alone, and every check is in the request record with its own entry.
 * Without --rbac nothing is checked.
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

#define NS      "default"
#define CMS     "/api/v1/namespaces/" NS "/configmaps"
#define JOBS    "/apis/batch/v1/namespaces/" NS "/jobs"
#define GADGETS "/apis/test.kubesim.io/v1/namespaces/" NS "/gadgets"
#define DEV     "dev-t"
#define PLUGIN  "OwnerReferencesPermissionEnforcement"

#define WHY_FINALIZE                                                                               \
    "cannot set blockOwnerDeletion if an ownerReference refers to a resource you can't set "       \
    "finalizers on: , <nil>"
#define WHY_DELETE "cannot set an ownerRef on a resource you can't delete: , <nil>"

static const char gadget_crd[] =
    "{\"apiVersion\":\"apiextensions.k8s.io/v1\",\"kind\":\"CustomResourceDefinition\","
    "\"metadata\":{\"name\":\"gadgets.test.kubesim.io\"},\"spec\":{\"group\":\"test.kubesim.io\","
    "\"names\":{\"kind\":\"Gadget\",\"plural\":\"gadgets\",\"singular\":\"gadget\"},"
    "\"scope\":\"Namespaced\",\"versions\":[{\"name\":\"v1\",\"served\":true,\"storage\":true,"
    "\"subresources\":{\"status\":{}},\"schema\":{\"openAPIV3Schema\":{\"type\":\"object\","
    "\"properties\":{\"spec\":{\"type\":\"object\",\"properties\":{\"size\":{\"type\":"
    "\"integer\"}}},\"status\":{\"type\":\"object\",\"properties\":{\"phase\":{\"type\":"
    "\"string\"}}}}}}}]}}";

/* A Job with one container whose image no kubelet runs. */
#define JOB_SPEC                                                                                   \
    "\"spec\":{\"template\":{\"spec\":{\"restartPolicy\":\"Never\",\"containers\":[{\"name\":"     \
    "\"main\",\"image\":\"example.com/none:1\"}]}}}"

struct fx {
    struct kubesim *sim;
    char cm_uid[64];     /* ConfigMap "owner" */
    char gadget_uid[64]; /* Gadget "g1" */
};

static int start_sim(struct kubesim **out, int rbac)
{
    struct kubesim_opts o;
    memset(&o, 0, sizeof(o));
    o.extra_args[0] = "--establish-ms";
    o.extra_args[1] = "200";
    o.extra_args[2] = rbac ? "--rbac" : NULL;
    o.exit_after_seconds = 240;
    return kubesim_start(&o, out);
}

static long call(struct kubesim *sim, const char *token, const char *method, const char *path,
                 const char *ctype, const char *body, struct kubesim_resp *r)
{
    return kubesim_call_v(sim, token, method, path, ctype, body, CURL_HTTP_VERSION_2TLS, r);
}

/* A call that must answer `code`; prints the body when it does not. */
static void expect(struct kubesim *sim, const char *token, const char *method, const char *path,
                   const char *ctype, const char *body, long code)
{
    struct kubesim_resp r;
    call(sim, token, method, path, ctype, body, &r);
    if (r.code != code)
        fprintf(stderr, "%s %s: %ld %s\n", method, path, r.code, r.body ? r.body : "");
    assert_int_equal(r.code, code);
    kubesim_resp_free(&r);
}

/* A call refused with 403 Forbidden and exactly `message`. */
static void expect_forbidden(struct kubesim *sim, const char *method, const char *path,
                             const char *ctype, const char *body, const char *message)
{
    struct kubesim_resp r;
    call(sim, DEV, method, path, ctype, body, &r);
    if (r.code != 403)
        fprintf(stderr, "%s %s: %ld %s\n", method, path, r.code, r.body ? r.body : "");
    kubesim_assert_status(&r, 403, "Forbidden", message);
    kubesim_resp_free(&r);
}

static void uid_of(struct kubesim *sim, const char *path, char *uid, size_t cap)
{
    struct kubesim_resp r;
    cJSON *j;
    call(sim, NULL, "GET", path, NULL, NULL, &r);
    assert_int_equal(r.code, 200);
    j = kubesim_resp_json(&r);
    assert_non_null(kubesim_jstr(cJSON_GetObjectItem(j, "metadata"), "uid", NULL));
    snprintf(uid, cap, "%s", kubesim_jstr(cJSON_GetObjectItem(j, "metadata"), "uid", NULL));
    cJSON_Delete(j);
    kubesim_resp_free(&r);
}

/* A Role in NS with one rule, bound to the user "dev". */
static void grant(struct kubesim *sim, const char *name, const char *group, const char *resource,
                  const char *verbs)
{
    char body[1024];
    snprintf(body, sizeof(body),
             "{\"metadata\":{\"name\":\"%s\"},\"rules\":[{\"apiGroups\":[\"%s\"],"
             "\"resources\":[\"%s\"],\"verbs\":[%s]}]}",
             name, group, resource, verbs);
    expect(sim, NULL, "POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/" NS "/roles",
           "application/json", body, 201);
    snprintf(body, sizeof(body),
             "{\"metadata\":{\"name\":\"%s\"},\"roleRef\":{\"apiGroup\":\"rbac.authorization."
             "k8s.io\",\"kind\":\"Role\",\"name\":\"%s\"},\"subjects\":[{\"kind\":\"User\","
             "\"name\":\"dev\"}]}",
             name, name);
    expect(sim, NULL, "POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/" NS "/rolebindings",
           "application/json", body, 201);
}

/* A Job named `name` with one ownerReference; `block` is the JSON text of
 * blockOwnerDeletion or NULL to leave it out. */
static void job_body(char *buf, size_t cap, const char *name, const char *api_version,
                     const char *kind, const char *owner, const char *uid, const char *block)
{
    char extra[64] = "";
    if (block)
        snprintf(extra, sizeof(extra), ",\"blockOwnerDeletion\":%s", block);
    snprintf(buf, cap,
             "{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\",\"metadata\":{\"name\":\"%s\","
             "\"ownerReferences\":[{\"apiVersion\":\"%s\",\"kind\":\"%s\",\"name\":\"%s\","
             "\"uid\":\"%s\"%s}]}," JOB_SPEC "}",
             name, api_version, kind, owner, uid, extra);
}

/* The admission entries of the record for user "dev", in order (caller frees). */
static cJSON *admission_entries(struct kubesim *sim)
{
    char *out = NULL;
    cJSON *all, *mine = cJSON_CreateArray();
    const cJSON *it;
    assert_int_equal(kubesim_admin(sim, "GET", "/__admin/requests?user=dev", NULL, &out), 200);
    all = cJSON_Parse(out);
    free(out);
    assert_non_null(all);
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(all, "items"))
    {
        const char *adm = kubesim_jstr(it, "admission", NULL);
        if (adm)
            cJSON_AddItemToArray(mine, cJSON_Duplicate(it, 1));
    }
    cJSON_Delete(all);
    return mine;
}

static void clear_record(struct kubesim *sim)
{
    assert_int_equal(kubesim_admin(sim, "DELETE", "/__admin/requests", NULL, NULL), 200);
}

/* Asserts one admission entry's fields. */
static void assert_entry(const cJSON *e, const char *verb, const char *group, const char *resource,
                         const char *subresource, const char *name, int code)
{
    assert_non_null(e);
    assert_string_equal(kubesim_jstr(e, "admission", NULL), PLUGIN);
    assert_string_equal(kubesim_jstr(e, "user", NULL), "dev");
    assert_string_equal(kubesim_jstr(e, "verb", NULL), verb);
    assert_string_equal(kubesim_jstr(e, "group", NULL), group);
    assert_string_equal(kubesim_jstr(e, "resource", NULL), resource);
    assert_string_equal(kubesim_jstr(e, "subresource", NULL), subresource);
    assert_string_equal(kubesim_jstr(e, "namespace", NULL), NS);
    assert_string_equal(kubesim_jstr(e, "name", NULL), name);
    assert_string_equal(kubesim_jstr(e, "method", NULL), "");
    assert_string_equal(kubesim_jstr(e, "path", NULL), "");
    assert_int_equal(cJSON_GetObjectItem(e, "code")->valueint, code);
}

static int wait_gadgets(struct kubesim *sim)
{
    for (int i = 0; i < 200; i++) {
        struct kubesim_resp r;
        long got = call(sim, NULL, "GET", GADGETS, NULL, NULL, &r);
        kubesim_resp_free(&r);
        if (got == 200)
            return 1;
        usleep(50 * 1000);
    }
    return 0;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    if (!f || start_sim(&f->sim, 1) != 0) {
        free(f);
        return -1;
    }
    *state = f;
    if (kubesim_admin(f->sim, "POST", "/__admin/tokens", "{\"token\":\"" DEV "\",\"user\":\"dev\"}",
                      NULL) != 201)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    if (f)
        kubesim_stop(f->sim);
    free(f);
    return 0;
}

/* Owners (a ConfigMap and a Gadget) and the rights every case starts from:
 * dev may create and read Jobs, nothing about finalizers. */
static void test_fixtures(void **state)
{
    struct fx *f = *state;
    expect(f->sim, NULL, "POST", CMS, "application/json", "{\"metadata\":{\"name\":\"owner\"}}",
           201);
    uid_of(f->sim, CMS "/owner", f->cm_uid, sizeof(f->cm_uid));
    expect(f->sim, NULL, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
           "application/json", gadget_crd, 201);
    assert_true(wait_gadgets(f->sim));
    expect(f->sim, NULL, "POST", GADGETS, "application/json",
           "{\"apiVersion\":\"test.kubesim.io/v1\",\"kind\":\"Gadget\",\"metadata\":{\"name\":"
           "\"g1\"},\"spec\":{\"size\":1}}",
           201);
    uid_of(f->sim, GADGETS "/g1", f->gadget_uid, sizeof(f->gadget_uid));
    grant(f->sim, "job-maker", "batch", "jobs", "\"create\",\"get\"");
}

/* blockOwnerDeletion true on a ConfigMap owner needs update on
 * configmaps/finalizers; false or absent needs nothing. */
static void test_block_needs_owner_finalizers(void **state)
{
    struct fx *f = *state;
    char body[2048];
    cJSON *adm;
    clear_record(f->sim);
    job_body(body, sizeof(body), "j-block", "v1", "ConfigMap", "owner", f->cm_uid, "true");
    expect_forbidden(f->sim, "POST", JOBS, "application/json", body,
                     "jobs.batch \"j-block\" is forbidden: " WHY_FINALIZE);
    /* A dry run is judged the same way. */
    expect_forbidden(f->sim, "POST", JOBS "?dryRun=All", "application/json", body,
                     "jobs.batch \"j-block\" is forbidden: " WHY_FINALIZE);
    expect(f->sim, NULL, "GET", JOBS "/j-block", NULL, NULL, 404);

    job_body(body, sizeof(body), "j-false", "v1", "ConfigMap", "owner", f->cm_uid, "false");
    expect(f->sim, DEV, "POST", JOBS, "application/json", body, 201);
    job_body(body, sizeof(body), "j-absent", "v1", "ConfigMap", "owner", f->cm_uid, NULL);
    expect(f->sim, DEV, "POST", JOBS, "application/json", body, 201);

    /* Creating needs no delete right (dev has none): only the finalizers checks ran. */
    adm = admission_entries(f->sim);
    assert_int_equal(cJSON_GetArraySize(adm), 2);
    assert_entry(cJSON_GetArrayItem(adm, 0), "update", "", "configmaps", "finalizers", "owner",
                 403);
    assert_entry(cJSON_GetArrayItem(adm, 1), "update", "", "configmaps", "finalizers", "owner",
                 403);
    cJSON_Delete(adm);

    grant(f->sim, "cm-finalizers", "", "configmaps/finalizers", "\"update\"");
    clear_record(f->sim);
    job_body(body, sizeof(body), "j-block", "v1", "ConfigMap", "owner", f->cm_uid, "true");
    expect(f->sim, DEV, "POST", JOBS "?dryRun=All", "application/json", body, 201);
    expect(f->sim, NULL, "GET", JOBS "/j-block", NULL, NULL, 404);
    expect(f->sim, DEV, "POST", JOBS, "application/json", body, 201);
    adm = admission_entries(f->sim);
    assert_int_equal(cJSON_GetArraySize(adm), 2);
    assert_entry(cJSON_GetArrayItem(adm, 0), "update", "", "configmaps", "finalizers", "owner",
                 200);
    assert_entry(cJSON_GetArrayItem(adm, 1), "update", "", "configmaps", "finalizers", "owner",
                 200);
    cJSON_Delete(adm);
}

/* A custom-resource owner maps through the CRD's kind to <plural>/finalizers
 * in its group. */
static void test_custom_resource_owner(void **state)
{
    struct fx *f = *state;
    char body[2048];
    cJSON *adm;
    clear_record(f->sim);
    job_body(body, sizeof(body), "j-cr", "test.kubesim.io/v1", "Gadget", "g1", f->gadget_uid,
             "true");
    expect_forbidden(f->sim, "POST", JOBS, "application/json", body,
                     "jobs.batch \"j-cr\" is forbidden: " WHY_FINALIZE);
    grant(f->sim, "gadget-finalizers", "test.kubesim.io", "gadgets/finalizers", "\"update\"");
    expect(f->sim, DEV, "POST", JOBS, "application/json", body, 201);
    adm = admission_entries(f->sim);
    assert_int_equal(cJSON_GetArraySize(adm), 2);
    assert_entry(cJSON_GetArrayItem(adm, 0), "update", "test.kubesim.io", "gadgets", "finalizers",
                 "g1", 403);
    assert_entry(cJSON_GetArrayItem(adm, 1), "update", "test.kubesim.io", "gadgets", "finalizers",
                 "g1", 200);
    cJSON_Delete(adm);
}

/* A blocking reference whose kind the server does not serve cannot be
 * authorized at all; a non-blocking one is not looked up. */
static void test_unknown_owner_kind(void **state)
{
    struct fx *f = *state;
    char body[2048];
    cJSON *adm;
    clear_record(f->sim);
    job_body(body, sizeof(body), "j-unknown", "test.kubesim.io/v9", "Gadget", "g1", f->gadget_uid,
             "true");
    expect_forbidden(f->sim, "POST", JOBS, "application/json", body,
                     "jobs.batch \"j-unknown\" is forbidden: cannot set blockOwnerDeletion in this "
                     "case because cannot find RESTMapping for APIVersion test.kubesim.io/v9 Kind "
                     "Gadget: no matches for kind \"Gadget\" in version \"test.kubesim.io/v9\"");
    job_body(body, sizeof(body), "j-unknown2", "v1", "Widget", "w", f->gadget_uid, "true");
    expect_forbidden(f->sim, "POST", JOBS, "application/json", body,
                     "jobs.batch \"j-unknown2\" is forbidden: cannot set blockOwnerDeletion in "
                     "this case because cannot find RESTMapping for APIVersion v1 Kind Widget: no "
                     "matches for kind \"Widget\" in version \"v1\"");
    job_body(body, sizeof(body), "j-unknown3", "v1", "Widget", "w", f->gadget_uid, "false");
    expect(f->sim, DEV, "POST", JOBS, "application/json", body, 201);
    /* Nothing was authorized, so nothing was recorded as admission. */
    adm = admission_entries(f->sim);
    assert_int_equal(cJSON_GetArraySize(adm), 0);
    cJSON_Delete(adm);
}

/* Changing the references of an existing object needs delete on it; an
 * update that keeps them needs nothing. */
static void test_update_needs_delete(void **state)
{
    struct fx *f = *state;
    char patch[1024];
    struct kubesim_resp r;
    cJSON *adm, *j;
    expect(f->sim, NULL, "POST", CMS, "application/json", "{\"metadata\":{\"name\":\"dep\"}}", 201);
    grant(f->sim, "cm-editor", "", "configmaps", "\"get\",\"update\",\"patch\"");
    clear_record(f->sim);
    /* Not about ownerReferences: no check at all. */
    expect(f->sim, DEV, "PATCH", CMS "/dep", "application/merge-patch+json",
           "{\"data\":{\"a\":\"1\"}}", 200);
    snprintf(patch, sizeof(patch),
             "{\"metadata\":{\"ownerReferences\":[{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\","
             "\"name\":\"owner\",\"uid\":\"%s\"}]}}",
             f->cm_uid);
    expect_forbidden(f->sim, "PATCH", CMS "/dep", "application/merge-patch+json", patch,
                     "configmaps \"dep\" is forbidden: " WHY_DELETE);
    expect_forbidden(f->sim, "PATCH", CMS "/dep?dryRun=All", "application/merge-patch+json", patch,
                     "configmaps \"dep\" is forbidden: " WHY_DELETE);
    /* Server-side apply is a patch like any other. */
    snprintf(patch, sizeof(patch),
             "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"dep\","
             "\"ownerReferences\":[{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"name\":"
             "\"owner\",\"uid\":\"%s\"}]}}",
             f->cm_uid);
    expect_forbidden(f->sim, "PATCH", CMS "/dep?fieldManager=dev", "application/apply-patch+yaml",
                     patch, "configmaps \"dep\" is forbidden: " WHY_DELETE);
    adm = admission_entries(f->sim);
    assert_int_equal(cJSON_GetArraySize(adm), 3);
    assert_entry(cJSON_GetArrayItem(adm, 0), "delete", "", "configmaps", "", "dep", 403);
    assert_entry(cJSON_GetArrayItem(adm, 2), "delete", "", "configmaps", "", "dep", 403);
    cJSON_Delete(adm);
    snprintf(patch, sizeof(patch),
             "{\"metadata\":{\"ownerReferences\":[{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\","
             "\"name\":\"owner\",\"uid\":\"%s\"}]}}",
             f->cm_uid);

    grant(f->sim, "cm-deleter", "", "configmaps", "\"delete\"");
    clear_record(f->sim);
    expect(f->sim, DEV, "PATCH", CMS "/dep", "application/merge-patch+json", patch, 200);
    /* A PUT that sends the same references back changes none. */
    call(f->sim, DEV, "GET", CMS "/dep", NULL, NULL, &r);
    assert_int_equal(r.code, 200);
    j = kubesim_resp_json(&r);
    kubesim_resp_free(&r);
    cJSON_ReplaceItemInObject(j, "data", cJSON_Parse("{\"a\":\"2\"}"));
    {
        char *text = cJSON_PrintUnformatted(j);
        expect(f->sim, DEV, "PUT", CMS "/dep", "application/json", text, 200);
        free(text);
    }
    cJSON_Delete(j);
    adm = admission_entries(f->sim);
    assert_int_equal(cJSON_GetArraySize(adm), 1);
    assert_entry(cJSON_GetArrayItem(adm, 0), "delete", "", "configmaps", "", "dep", 200);
    cJSON_Delete(adm);

    /* Turning blockOwnerDeletion on for the same owner is a new blocking
     * reference: delete on the object, then the owner's finalizers (granted). */
    clear_record(f->sim);
    snprintf(patch, sizeof(patch),
             "{\"metadata\":{\"ownerReferences\":[{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\","
             "\"name\":\"owner\",\"uid\":\"%s\",\"blockOwnerDeletion\":true}]}}",
             f->cm_uid);
    expect(f->sim, DEV, "PATCH", CMS "/dep", "application/merge-patch+json", patch, 200);
    adm = admission_entries(f->sim);
    assert_int_equal(cJSON_GetArraySize(adm), 2);
    assert_entry(cJSON_GetArrayItem(adm, 0), "delete", "", "configmaps", "", "dep", 200);
    assert_entry(cJSON_GetArrayItem(adm, 1), "update", "", "configmaps", "finalizers", "owner",
                 200);
    cJSON_Delete(adm);
    /* Removing the references is a change too (delete, no finalizers check). */
    clear_record(f->sim);
    expect(f->sim, DEV, "PATCH", CMS "/dep", "application/merge-patch+json",
           "{\"metadata\":{\"ownerReferences\":null}}", 200);
    adm = admission_entries(f->sim);
    assert_int_equal(cJSON_GetArraySize(adm), 1);
    assert_entry(cJSON_GetArrayItem(adm, 0), "delete", "", "configmaps", "", "dep", 200);
    cJSON_Delete(adm);
}

/* A status write cannot change metadata, so it is never checked, even when
 * its body carries new blocking references. */
static void test_status_update_unaffected(void **state)
{
    struct fx *f = *state;
    char body[2048];
    struct kubesim_resp r;
    cJSON *adm, *j;
    expect(f->sim, NULL, "POST", GADGETS, "application/json",
           "{\"apiVersion\":\"test.kubesim.io/v1\",\"kind\":\"Gadget\",\"metadata\":{\"name\":"
           "\"g2\"},\"spec\":{\"size\":2}}",
           201);
    grant(f->sim, "gadget-status", "test.kubesim.io", "gadgets/status", "\"update\",\"patch\"");
    clear_record(f->sim);
    /* PUT of a custom resource needs its resourceVersion: the object as read. */
    call(f->sim, NULL, "GET", GADGETS "/g2", NULL, NULL, &r);
    assert_int_equal(r.code, 200);
    j = kubesim_resp_json(&r);
    kubesim_resp_free(&r);
    snprintf(body, sizeof(body),
             "[{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"name\":\"nobody\",\"uid\":"
             "\"%s\",\"blockOwnerDeletion\":true}]",
             f->cm_uid);
    cJSON_AddItemToObject(cJSON_GetObjectItem(j, "metadata"), "ownerReferences", cJSON_Parse(body));
    cJSON_AddItemToObject(j, "status", cJSON_Parse("{\"phase\":\"Ready\"}"));
    {
        char *text = cJSON_PrintUnformatted(j);
        expect(f->sim, DEV, "PUT", GADGETS "/g2/status", "application/json", text, 200);
        free(text);
    }
    cJSON_Delete(j);
    expect(f->sim, DEV, "PATCH", GADGETS "/g2/status", "application/merge-patch+json",
           "{\"metadata\":{\"ownerReferences\":[{\"apiVersion\":\"v9\",\"kind\":\"Nothing\","
           "\"name\":\"x\",\"uid\":\"u\",\"blockOwnerDeletion\":true}]},\"status\":{\"phase\":"
           "\"Done\"}}",
           200);
    adm = admission_entries(f->sim);
    assert_int_equal(cJSON_GetArraySize(adm), 0);
    cJSON_Delete(adm);
    call(f->sim, NULL, "GET", GADGETS "/g2", NULL, NULL, &r);
    j = kubesim_resp_json(&r);
    assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "metadata"), "ownerReferences"));
    assert_string_equal(kubesim_jstr(cJSON_GetObjectItem(j, "status"), "phase", NULL), "Done");
    cJSON_Delete(j);
    kubesim_resp_free(&r);
}

/* The request's own entry stays an ordinary entry, after the plugin's; the
 * authorizer's reason is passed through when RBAC has one to give. */
static void test_record_and_reason(void **state)
{
    struct fx *f = *state;
    char body[2048], *out = NULL;
    cJSON *all;
    const cJSON *items, *last;
    int n;
    /* A binding to a Role that does not exist: the RBAC authorizer says so. */
    expect(f->sim, NULL, "POST",
           "/apis/rbac.authorization.k8s.io/v1/namespaces/" NS "/rolebindings", "application/json",
           "{\"metadata\":{\"name\":\"dangling\"},\"roleRef\":{\"apiGroup\":\"rbac.authorization."
           "k8s.io\",\"kind\":\"Role\",\"name\":\"missing\"},\"subjects\":[{\"kind\":\"User\","
           "\"name\":\"dev\"}]}",
           201);
    expect(f->sim, NULL, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
           "application/json",
           "{\"metadata\":{\"name\":\"thingies.other.kubesim.io\"},\"spec\":{\"group\":\"other."
           "kubesim.io\",\"names\":{\"kind\":\"Thingy\",\"plural\":\"thingies\"},\"scope\":"
           "\"Namespaced\",\"versions\":[{\"name\":\"v1\",\"served\":true,\"storage\":true,"
           "\"schema\":{\"openAPIV3Schema\":{\"type\":\"object\",\"x-kubernetes-preserve-unknown-"
           "fields\":true}}}]}}",
           201);
    clear_record(f->sim);
    job_body(body, sizeof(body), "j-reason", "other.kubesim.io/v1", "Thingy", "t1", f->cm_uid,
             "true");
    /* Served only once Established; until then the kind is unknown. */
    for (int i = 0; i < 200; i++) {
        struct kubesim_resp r;
        call(f->sim, NULL, "GET", "/apis/other.kubesim.io/v1/namespaces/" NS "/thingies", NULL,
             NULL, &r);
        n = (int)r.code;
        kubesim_resp_free(&r);
        if (n == 200)
            break;
        usleep(50 * 1000);
    }
    assert_int_equal(n, 200);
    clear_record(f->sim);
    expect_forbidden(f->sim, "POST", JOBS, "application/json", body,
                     "jobs.batch \"j-reason\" is forbidden: cannot set blockOwnerDeletion if an "
                     "ownerReference refers to a resource you can't set finalizers on: RBAC: "
                     "role.rbac.authorization.k8s.io \"missing\" not found, <nil>");
    assert_int_equal(kubesim_admin(f->sim, "GET", "/__admin/requests?user=dev", NULL, &out), 200);
    all = cJSON_Parse(out);
    free(out);
    items = cJSON_GetObjectItem(all, "items");
    n = cJSON_GetArraySize(items);
    assert_int_equal(n, 2);
    assert_entry(cJSON_GetArrayItem(items, 0), "update", "other.kubesim.io", "thingies",
                 "finalizers", "t1", 403);
    last = cJSON_GetArrayItem(items, 1);
    assert_null(cJSON_GetObjectItem(last, "admission"));
    assert_string_equal(kubesim_jstr(last, "verb", NULL), "create");
    assert_string_equal(kubesim_jstr(last, "method", NULL), "POST");
    assert_string_equal(kubesim_jstr(last, "path", NULL), JOBS);
    assert_string_equal(kubesim_jstr(last, "resource", NULL), "jobs");
    assert_int_equal(cJSON_GetObjectItem(last, "code")->valueint, 403);
    cJSON_Delete(all);
}

/* Without --rbac the plugin is off: every reference is admitted, no check is
 * recorded. */
static void test_without_rbac_nothing_checked(void **state)
{
    struct kubesim *sim = NULL;
    char body[2048];
    cJSON *adm;
    (void)state;
    assert_int_equal(start_sim(&sim, 0), 0);
    assert_int_equal(kubesim_admin(sim, "POST", "/__admin/tokens",
                                   "{\"token\":\"" DEV "\",\"user\":\"dev\"}", NULL),
                     201);
    expect(sim, NULL, "POST", CMS, "application/json", "{\"metadata\":{\"name\":\"owner\"}}", 201);
    job_body(body, sizeof(body), "j-block", "v1", "ConfigMap", "owner", "0000", "true");
    expect(sim, DEV, "POST", JOBS, "application/json", body, 201);
    job_body(body, sizeof(body), "j-unknown", "test.kubesim.io/v9", "Gadget", "g", "0000", "true");
    expect(sim, DEV, "POST", JOBS, "application/json", body, 201);
    expect(sim, DEV, "PATCH", JOBS "/j-block", "application/merge-patch+json",
           "{\"metadata\":{\"ownerReferences\":null}}", 200);
    adm = admission_entries(sim);
    assert_int_equal(cJSON_GetArraySize(adm), 0);
    cJSON_Delete(adm);
    kubesim_stop(sim);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_block_needs_owner_finalizers),
        cmocka_unit_test(test_custom_resource_owner),
        cmocka_unit_test(test_unknown_owner_kind),
        cmocka_unit_test(test_update_needs_delete),
        cmocka_unit_test(test_status_update_unaffected),
        cmocka_unit_test(test_record_and_reason),
    };
    const struct CMUnitTest plain[] = {
        cmocka_unit_test(test_without_rbac_nothing_checked),
    };
    int rc;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests_name("rbac", tests, setup, teardown);
    rc += cmocka_run_group_tests_name("no-rbac", plain, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
