/*
 * OpenAPI documents (see sim_openapi.h).
 *
 * What kubectl 1.32 reads, and so what is served:
 *  - /openapi/v3: {"paths":{"apis/<g>/<v>":{"serverRelativeURL":
 *    "/openapi/v3/apis/<g>/<v>?hash=<h>"}}}; the hash changes with the
 *    document, as kubectl caches by URL;
 *  - /openapi/v3/apis/<g>/<v>: components.schemas carrying
 *    x-kubernetes-group-version-kind (explain finds a kind's schema by it),
 *    and paths whose PATCH operation names its GVK and lists the
 *    fieldValidation query parameter (kubectl's check for server-side field
 *    validation). The PATCH request bodies list the patch types the server
 *    takes; strategic merge is deliberately not listed, so `kubectl apply`
 *    computes strategic patches for built-ins from its compiled-in types
 *    rather than from these (minimal) schemas, and JSON merge patches for
 *    custom resources, as against a real cluster;
 *  - /openapi/v2: a Swagger document with no definitions (kubectl only
 *    falls back to it, for a kind the v3 documents lack). kubectl asks for
 *    it as protobuf (application/com.github.proto-openapi.spec.v2@v1.0+
 *    protobuf) and parses the answer as protobuf; the answer's Content-Type
 *    is the dotted form ...spec.v2.v1.0+protobuf, as kube-openapi sends it,
 *    because kubectl runs it through Go's mime.ParseMediaType, which rejects
 *    the '@' ("mime: unexpected content after media subtype");
 *    its fallback on 406 is the even older protobuf /swagger-2.0.0.pb-v1. So
 *    that Accept gets the same document protobuf-encoded (gnostic's
 *    openapi_v2.Document: swagger = 1, info = 2 {title = 1, version = 2});
 *    with no definitions kubectl skips client-side validation of the kind,
 *    and the server-side fieldValidation decides.
 */
#include "sim_openapi.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_api.h"
#include "sim_kind.h"
#include "sim_server.h"
#include "sim_util.h"

/* "quay.redhat.com" -> "com.redhat.quay"; "" -> "io.k8s.api.core". */
static void schema_name(const struct sim_kind *k, char *buf, size_t cap)
{
    char rev[300] = "";
    size_t off = 0;
    const char *g = k->group;
    if (!k->custom) {
        const char *pkg = *g ? g : "core";
        char first[64];
        size_t n = 0;
        /* io.k8s.api.<first label of the group>: apps, batch, rbac, ... */
        while (pkg[n] && pkg[n] != '.' && n + 1 < sizeof(first)) {
            first[n] = pkg[n];
            n++;
        }
        first[n] = '\0';
        if (strcmp(k->group, "apiextensions.k8s.io") == 0)
            snprintf(buf, cap, "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.%s.%s",
                     k->version, k->kind);
        else
            snprintf(buf, cap, "io.k8s.api.%s.%s.%s", first, k->version, k->kind);
        return;
    }
    /* Reverse the DNS labels of the group. */
    {
        const char *end = g + strlen(g);
        while (end > g) {
            const char *dot = end;
            while (dot > g && dot[-1] != '.')
                dot--;
            off += (size_t)snprintf(rev + off, sizeof(rev) - off, "%s%.*s", off ? "." : "",
                                    (int)(end - dot), dot);
            end = dot > g ? dot - 1 : g;
            if (off >= sizeof(rev))
                break;
        }
    }
    snprintf(buf, cap, "%s.%s.%s", rev, k->version, k->kind);
}

static cJSON *gvk_ext(const struct sim_kind *k, int array)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "group", k->group);
    cJSON_AddStringToObject(o, "kind", k->kind);
    cJSON_AddStringToObject(o, "version", k->version);
    if (array) {
        cJSON *a = cJSON_CreateArray();
        cJSON_AddItemToArray(a, o);
        return a;
    }
    return o;
}

static cJSON *str_prop(const char *desc)
{
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "description", desc);
    cJSON_AddStringToObject(p, "type", "string");
    return p;
}

/* The schema explain shows: a CRD's own, or a minimal one for built-ins. */
static cJSON *kind_schema(const struct sim_kind *k)
{
    cJSON *s, *props, *meta;
    if (k->schema)
        s = cJSON_Duplicate(k->schema, 1);
    else {
        s = cJSON_CreateObject();
        cJSON_AddStringToObject(s, "type", "object");
        cJSON_AddBoolToObject(s, "x-kubernetes-preserve-unknown-fields", 1);
    }
    if (!s)
        return NULL;
    if (!cJSON_GetObjectItem(s, "description")) {
        char d[300];
        snprintf(d, sizeof(d), "%s is a %s resource served by the Kubernetes API simulator.",
                 k->kind, k->custom ? "custom" : "built-in");
        cJSON_AddStringToObject(s, "description", d);
    }
    props = sim_jobj(s, "properties");
    if (props) {
        sim_jset(props, "apiVersion",
                 str_prop("APIVersion defines the versioned schema of this representation of an "
                          "object. Servers should convert recognized schemas to the latest "
                          "internal value, and may reject unrecognized values. More info: "
                          "https://git.k8s.io/community/contributors/devel/sig-architecture/"
                          "api-conventions.md#resources"));
        sim_jset(props, "kind",
                 str_prop("Kind is a string value representing the REST resource this object "
                          "represents. Servers may infer this from the endpoint the client "
                          "submits requests to. Cannot be updated. In CamelCase. More info: "
                          "https://git.k8s.io/community/contributors/devel/sig-architecture/"
                          "api-conventions.md#types-kinds"));
        meta = cJSON_CreateObject();
        cJSON_AddStringToObject(meta, "description",
                                "Standard object's metadata. More info: "
                                "https://git.k8s.io/community/contributors/devel/"
                                "sig-architecture/api-conventions.md#metadata");
        cJSON_AddStringToObject(meta, "type", "object");
        sim_jset(props, "metadata", meta);
    }
    sim_jset(s, "x-kubernetes-group-version-kind", gvk_ext(k, 1));
    return s;
}

static cJSON *param(const char *name, const char *desc)
{
    cJSON *p = cJSON_CreateObject(), *sch;
    cJSON_AddStringToObject(p, "name", name);
    cJSON_AddStringToObject(p, "in", "query");
    cJSON_AddStringToObject(p, "description", desc);
    sch = cJSON_AddObjectToObject(p, "schema");
    cJSON_AddStringToObject(sch, "type", "string");
    cJSON_AddBoolToObject(sch, "uniqueItems", 1);
    return p;
}

static cJSON *operation(const struct sim_kind *k, const char *action, const char *ref,
                        const char *const *ctypes)
{
    cJSON *op = cJSON_CreateObject(), *params, *rb, *content, *resp, *ok;
    char ref_path[400];
    snprintf(ref_path, sizeof(ref_path), "#/components/schemas/%s", ref);
    cJSON_AddStringToObject(op, "x-kubernetes-action", action);
    cJSON_AddItemToObject(op, "x-kubernetes-group-version-kind", gvk_ext(k, 0));
    params = cJSON_AddArrayToObject(op, "parameters");
    cJSON_AddItemToArray(params, param("dryRun", "When present, indicates that modifications "
                                                 "should not be persisted."));
    cJSON_AddItemToArray(params, param("fieldManager", "fieldManager is a name associated with "
                                                       "the actor or entity that is making "
                                                       "these changes."));
    cJSON_AddItemToArray(params,
                         param("fieldValidation",
                               "fieldValidation instructs the server on how to handle objects "
                               "in the request containing unknown or duplicate fields. Valid "
                               "values are: Ignore, Warn (default), Strict."));
    if (ctypes) {
        rb = cJSON_AddObjectToObject(op, "requestBody");
        content = cJSON_AddObjectToObject(rb, "content");
        for (size_t i = 0; ctypes[i]; i++) {
            cJSON *mt = cJSON_AddObjectToObject(content, ctypes[i]);
            cJSON *sch = cJSON_AddObjectToObject(mt, "schema");
            cJSON_AddStringToObject(sch, "$ref", ref_path);
        }
    }
    resp = cJSON_AddObjectToObject(op, "responses");
    ok = cJSON_AddObjectToObject(resp, "200");
    cJSON_AddStringToObject(ok, "description", "OK");
    return op;
}

static void add_paths(cJSON *paths, const struct sim_kind *k, const char *ref)
{
    static const char *const json_types[] = {"application/json", NULL};
    static const char *const patch_types[] = {"application/json-patch+json",
                                              "application/merge-patch+json",
                                              "application/apply-patch+yaml", NULL};
    char base[512], item[600];
    cJSON *coll, *one;
    if (*k->group)
        snprintf(base, sizeof(base), "/apis/%s/%s%s/%s", k->group, k->version,
                 k->namespaced ? "/namespaces/{namespace}" : "", k->resource);
    else
        snprintf(base, sizeof(base), "/api/%s%s/%s", k->version,
                 k->namespaced ? "/namespaces/{namespace}" : "", k->resource);
    snprintf(item, sizeof(item), "%s/{name}", base);
    coll = cJSON_AddObjectToObject(paths, base);
    cJSON_AddItemToObject(coll, "post", operation(k, "post", ref, json_types));
    one = cJSON_AddObjectToObject(paths, item);
    cJSON_AddItemToObject(one, "put", operation(k, "put", ref, json_types));
    cJSON_AddItemToObject(one, "patch", operation(k, "patch", ref, patch_types));
}

/* The v3 document of one group/version; NULL when nothing is served there. */
static cJSON *gv_doc(struct sim_server *srv, const char *group, const char *version)
{
    cJSON *doc, *paths, *schemas, *info;
    int any = 0;
    doc = cJSON_CreateObject();
    if (!doc)
        return NULL;
    cJSON_AddStringToObject(doc, "openapi", "3.0.0");
    info = cJSON_AddObjectToObject(doc, "info");
    cJSON_AddStringToObject(info, "title", "Kubernetes");
    cJSON_AddStringToObject(info, "version", "v1.32.0");
    paths = cJSON_AddObjectToObject(doc, "paths");
    schemas = cJSON_AddObjectToObject(cJSON_AddObjectToObject(doc, "components"), "schemas");
    for (size_t i = 0; i < sim_kinds_count(srv->kinds); i++) {
        const struct sim_kind *k = sim_kinds_at(srv->kinds, i);
        char ref[400];
        if (!k->served || strcmp(k->group, group) != 0 || strcmp(k->version, version) != 0)
            continue;
        any = 1;
        schema_name(k, ref, sizeof(ref));
        cJSON_AddItemToObject(schemas, ref, kind_schema(k));
        add_paths(paths, k, ref);
    }
    if (!any) {
        cJSON_Delete(doc);
        return NULL;
    }
    return doc;
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

static void index_doc(struct sim_server *srv, struct sim_response *resp)
{
    cJSON *doc = cJSON_CreateObject();
    cJSON *paths = cJSON_AddObjectToObject(doc, "paths");
    for (size_t i = 0; i < sim_kinds_count(srv->kinds); i++) {
        const struct sim_kind *k = sim_kinds_at(srv->kinds, i);
        char key[300], url[400];
        cJSON *gv, *entry;
        char *text;
        if (!k->served)
            continue;
        if (*k->group)
            snprintf(key, sizeof(key), "apis/%s/%s", k->group, k->version);
        else
            snprintf(key, sizeof(key), "api/%s", k->version);
        if (cJSON_GetObjectItemCaseSensitive(paths, key))
            continue;
        gv = gv_doc(srv, k->group, k->version);
        text = gv ? cJSON_PrintUnformatted(gv) : NULL;
        cJSON_Delete(gv);
        if (!text)
            continue;
        snprintf(url, sizeof(url), "/openapi/v3/%s?hash=%016llX", key,
                 (unsigned long long)fnv1a(text));
        free(text);
        entry = cJSON_AddObjectToObject(paths, key);
        cJSON_AddStringToObject(entry, "serverRelativeURL", url);
    }
    sim_respond_json(resp, 200, doc);
}

/* One length-delimited protobuf field (wire type 2); lengths stay < 128. */
static void pb_bytes(struct k8s_buf *b, unsigned field, const void *data, size_t len)
{
    unsigned char hdr[2] = {(unsigned char)(field << 3 | 2), (unsigned char)len};
    k8s_buf_append(b, hdr, sizeof(hdr));
    k8s_buf_append(b, data, len);
}

static void v2_protobuf(struct sim_response *resp)
{
    struct k8s_buf info;
    k8s_buf_init(&info, 256);
    pb_bytes(&info, 1, "Kubernetes", 10);
    pb_bytes(&info, 2, "v1.32.0", 7);
    k8s_buf_reset(&resp->body);
    pb_bytes(&resp->body, 1, "2.0", 3);
    pb_bytes(&resp->body, 2, info.data, info.len);
    k8s_buf_free(&info);
    resp->status = 200;
    sim_strlcpy(resp->content_type, "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
                sizeof(resp->content_type));
}

int sim_openapi_serve(struct sim_server *srv, const struct sim_request *req,
                      struct sim_response *resp)
{
    const char *p = req->path;
    if (strcmp(p, "/openapi/v2") == 0 && req->accept && strstr(req->accept, "protobuf")) {
        v2_protobuf(resp);
        return 0;
    }
    if (strcmp(p, "/openapi/v2") == 0) {
        cJSON *doc = cJSON_CreateObject(), *info;
        cJSON_AddStringToObject(doc, "swagger", "2.0");
        info = cJSON_AddObjectToObject(doc, "info");
        cJSON_AddStringToObject(info, "title", "Kubernetes");
        cJSON_AddStringToObject(info, "version", "v1.32.0");
        cJSON_AddObjectToObject(doc, "paths");
        cJSON_AddObjectToObject(doc, "definitions");
        sim_respond_json(resp, 200, doc);
        return 0;
    }
    if (strcmp(p, "/openapi/v3") == 0) {
        index_doc(srv, resp);
        return 0;
    }
    if (strncmp(p, "/openapi/v3/api/", 16) == 0 && !strchr(p + 16, '/')) {
        cJSON *doc = gv_doc(srv, "", p + 16);
        if (!doc)
            return -1;
        sim_respond_json(resp, 200, doc);
        return 0;
    }
    if (strncmp(p, "/openapi/v3/apis/", 17) == 0) {
        char group[256];
        const char *slash = strchr(p + 17, '/');
        cJSON *doc;
        if (!slash || strchr(slash + 1, '/') || (size_t)(slash - (p + 17)) >= sizeof(group))
            return -1;
        memcpy(group, p + 17, (size_t)(slash - (p + 17)));
        group[slash - (p + 17)] = '\0';
        doc = gv_doc(srv, group, slash + 1);
        if (!doc)
            return -1;
        sim_respond_json(resp, 200, doc);
        return 0;
    }
    return -1;
}
