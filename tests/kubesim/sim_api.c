/*
 * Request dispatch (see sim_api.h): RequestInfo parsing as
 * k8s.io/apiserver/pkg/endpoints/request/requestinfo.go does it, then the
 * filter chain of the real server in its order — authentication, (injected
 * faults, standing in for priority-and-fairness and flaky networks),
 * authorization — then routing to discovery, openapi or a resource verb, and
 * finally the request record.
 */
#include "sim_api.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8s_log.h"
#include "sim_admin.h"
#include "sim_auth.h"
#include "sim_discovery.h"
#include "sim_kind.h"
#include "sim_openapi.h"
#include "sim_pod_log.h"
#include "sim_select.h"
#include "sim_server.h"
#include "sim_util.h"
#include "sim_verbs.h"
#include "sim_watch.h"

#define MAX_RESPONSE (1024u * 1024 * 1024)

const char *sim_req_param(const struct sim_request *r, const char *key)
{
    for (size_t i = 0; i < r->nparams; i++)
        if (strcmp(r->params[i].key, key) == 0)
            return r->params[i].val;
    return NULL;
}

void sim_request_free(struct sim_request *r)
{
    free(r->path);
    for (size_t i = 0; i < r->nparams; i++) {
        free(r->params[i].key);
        free(r->params[i].val);
    }
    free(r->accept);
    free(r->content_type);
    free(r->impersonate_user);
    free(r->impersonate_group);
    if (r->authorization) {
        memset(r->authorization, 0, strlen(r->authorization));
        free(r->authorization);
    }
    memset(r, 0, sizeof(*r));
}

void sim_response_init(struct sim_response *resp)
{
    memset(resp, 0, sizeof(*resp));
    k8s_buf_init(&resp->body, MAX_RESPONSE);
}

void sim_response_free(struct sim_response *resp)
{
    k8s_buf_free(&resp->body);
    /* A watch not taken by the HTTP layer is freed by it; see sim_http.c. */
    sim_stream_free(resp->stream);
    resp->stream = NULL;
}

struct sim_stream *sim_stream_new(const struct sim_stream_ops *ops, void *impl, int cuttable)
{
    struct sim_stream *s = calloc(1, sizeof(*s));
    if (!s) {
        ops->free(impl);
        return NULL;
    }
    s->ops = ops;
    s->impl = impl;
    s->started_ms = sim_mono_ms();
    s->cuttable = cuttable;
    return s;
}

void sim_stream_free(struct sim_stream *s)
{
    if (!s)
        return;
    s->ops->free(s->impl);
    free(s);
}

static int watch_produce(void *impl, struct k8s_buf *out, size_t max)
{
    return sim_watch_produce(impl, out, max);
}

static int watch_ready(const void *impl)
{
    return sim_watch_ready(impl);
}

static void watch_free(void *impl)
{
    sim_watch_free(impl);
}

static const struct sim_stream_ops watch_ops = {watch_produce, watch_ready, watch_free};

struct sim_stream *sim_stream_from_watch(struct sim_watch *w)
{
    struct sim_stream *s;
    int64_t started = sim_watch_started(w);
    s = sim_stream_new(&watch_ops, w, 1);
    if (s)
        s->started_ms = started;
    return s;
}

void sim_respond_json(struct sim_response *resp, int status, cJSON *body)
{
    char *text = body ? cJSON_PrintUnformatted(body) : NULL;
    cJSON_Delete(body);
    k8s_buf_reset(&resp->body);
    if (!text) {
        resp->status = 500;
        k8s_buf_appendf(&resp->body, "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},"
                                     "\"status\":\"Failure\",\"message\":\"out of memory\","
                                     "\"reason\":\"InternalError\",\"code\":500}");
    } else {
        resp->status = status;
        k8s_buf_append(&resp->body, text, strlen(text));
        free(text);
    }
    sim_strlcpy(resp->content_type, "application/json", sizeof(resp->content_type));
}

void sim_respond_err(struct sim_response *resp, const struct sim_err *e)
{
    sim_respond_json(resp, e->code ? e->code : 500, sim_err_to_status(e));
    if (e->retry_after > 0)
        resp->retry_after = e->retry_after;
}

void sim_respond_text(struct sim_response *resp, int status, const char *ctype, const char *text)
{
    k8s_buf_reset(&resp->body);
    k8s_buf_append(&resp->body, text, strlen(text));
    resp->status = status;
    sim_strlcpy(resp->content_type, ctype, sizeof(resp->content_type));
}

void sim_add_warning(struct sim_response *resp, const char *fmt, ...)
{
    va_list ap;
    char msg[400];
    char *w;
    size_t n = 0;
    if (resp->nwarnings >= SIM_MAX_WARNINGS)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* RFC 7234 warn-text: 299 - "<text>", quotes and backslashes escaped. */
    w = resp->warnings[resp->nwarnings++];
    n += (size_t)snprintf(w, 512, "299 - \"");
    for (const char *p = msg; *p && n + 4 < 512; p++) {
        if (*p == '"' || *p == '\\')
            w[n++] = '\\';
        w[n++] = *p;
    }
    w[n++] = '"';
    w[n] = '\0';
}

static int split_path(char *path, char **parts, int max)
{
    int n = 0;
    char *p = path;
    while (*p == '/')
        p++;
    while (*p && n < max) {
        parts[n++] = p;
        while (*p && *p != '/')
            p++;
        if (*p == '/')
            *p++ = '\0';
        while (*p == '/')
            p++;
    }
    return n;
}

int sim_parse_reqinfo(const char *method, const char *path, const struct sim_request *req,
                      struct sim_reqinfo *ri)
{
    char buf[4096];
    char *parts[32];
    int n, i = 0;
    memset(ri, 0, sizeof(*ri));
    sim_strlcpy(buf, path, sizeof(buf));
    n = split_path(buf, parts, 32);
    /* Non-resource: the verb is the lowercased method ("get", "post", ...). */
    {
        size_t j;
        for (j = 0; method[j] && j + 1 < sizeof(ri->verb); j++)
            ri->verb[j] =
                (char)((method[j] >= 'A' && method[j] <= 'Z') ? method[j] + 32 : method[j]);
        ri->verb[j] = '\0';
    }
    if (n < 1)
        return -1;
    if (strcmp(parts[0], "api") == 0) {
        if (n < 3)
            return -1;
        ri->group[0] = '\0';
        sim_strlcpy(ri->version, parts[1], sizeof(ri->version));
        i = 2;
    } else if (strcmp(parts[0], "apis") == 0) {
        if (n < 4)
            return -1;
        sim_strlcpy(ri->group, parts[1], sizeof(ri->group));
        sim_strlcpy(ri->version, parts[2], sizeof(ri->version));
        i = 3;
    } else {
        return -1;
    }
    ri->resource_request = 1;
    if (strcmp(parts[i], "watch") == 0) {
        ri->legacy_watch = 1;
        i++;
    }
    if (i < n && strcmp(parts[i], "namespaces") == 0 && i + 1 < n) {
        sim_strlcpy(ri->ns, parts[i + 1], sizeof(ri->ns));
        /* /namespaces/<ns>/status and /finalize address the namespace itself. */
        if (i + 2 < n && strcmp(parts[i + 2], "status") != 0 &&
            strcmp(parts[i + 2], "finalize") != 0)
            i += 2;
    }
    if (i >= n)
        return -1;
    sim_strlcpy(ri->resource, parts[i], sizeof(ri->resource));
    if (i + 1 < n)
        sim_strlcpy(ri->name, parts[i + 1], sizeof(ri->name));
    if (i + 2 < n)
        sim_strlcpy(ri->subresource, parts[i + 2], sizeof(ri->subresource));
    if (i + 3 < n)
        return -1;

    if (ri->legacy_watch) {
        sim_strlcpy(ri->verb, "watch", sizeof(ri->verb));
    } else if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0) {
        const char *w = req ? sim_req_param(req, "watch") : NULL;
        if (*ri->name)
            sim_strlcpy(ri->verb, "get", sizeof(ri->verb));
        else if (w && (strcmp(w, "true") == 0 || strcmp(w, "1") == 0))
            sim_strlcpy(ri->verb, "watch", sizeof(ri->verb));
        else
            sim_strlcpy(ri->verb, "list", sizeof(ri->verb));
    } else if (strcmp(method, "POST") == 0) {
        sim_strlcpy(ri->verb, "create", sizeof(ri->verb));
    } else if (strcmp(method, "PUT") == 0) {
        sim_strlcpy(ri->verb, "update", sizeof(ri->verb));
    } else if (strcmp(method, "PATCH") == 0) {
        sim_strlcpy(ri->verb, "patch", sizeof(ri->verb));
    } else if (strcmp(method, "DELETE") == 0) {
        sim_strlcpy(ri->verb, *ri->name ? "delete" : "deletecollection", sizeof(ri->verb));
    }
    /* A list or watch narrowed to one name by a field selector is authorized as
     * a request for that name (requestinfo.go does the same). */
    if ((strcmp(ri->verb, "list") == 0 || strcmp(ri->verb, "watch") == 0) && req) {
        const char *fs = sim_req_param(req, "fieldSelector");
        struct sim_fieldsel *sel = NULL;
        char err[256];
        if (fs && sim_fieldsel_parse(fs, &sel, err, sizeof(err)) == 0) {
            const char *nm = sim_fieldsel_value(sel, "metadata.name");
            if (nm)
                sim_strlcpy(ri->name, nm, sizeof(ri->name));
        }
        sim_fieldsel_free(sel);
    }
    return 0;
}

static void serve_version(struct sim_response *resp)
{
    cJSON *v = cJSON_CreateObject();
    if (v) {
        cJSON_AddStringToObject(v, "major", "1");
        cJSON_AddStringToObject(v, "minor", "32");
        cJSON_AddStringToObject(v, "gitVersion", "v1.32.0-kubesim");
        cJSON_AddStringToObject(v, "gitCommit", "0000000000000000000000000000000000000000");
        cJSON_AddStringToObject(v, "gitTreeState", "clean");
        cJSON_AddStringToObject(v, "buildDate", "2024-12-11T00:00:00Z");
        cJSON_AddStringToObject(v, "goVersion", "go1.23.3");
        cJSON_AddStringToObject(v, "compiler", "gc");
        cJSON_AddStringToObject(v, "platform", "linux/amd64");
    }
    sim_respond_json(resp, 200, v);
}

static void serve_nonresource(struct sim_server *srv, const struct sim_request *req,
                              struct sim_response *resp)
{
    struct sim_err e;
    const char *p = req->path;
    sim_err_clear(&e);
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
        sim_err_method_not_allowed(&e);
        sim_respond_err(resp, &e);
        return;
    }
    if (strcmp(p, "/version") == 0) {
        serve_version(resp);
        return;
    }
    if (strcmp(p, "/healthz") == 0 || strcmp(p, "/livez") == 0 || strcmp(p, "/readyz") == 0) {
        sim_respond_text(resp, 200, "text/plain; charset=utf-8", "ok");
        return;
    }
    if (strncmp(p, "/openapi", 8) == 0) {
        if (sim_openapi_serve(srv, req, resp) == 0)
            return;
    } else if (sim_discovery_serve(srv, req, resp) == 0) {
        return;
    }
    sim_err_no_route(&e);
    sim_respond_err(resp, &e);
}

static void query_text(const struct sim_request *req, char *buf, size_t cap)
{
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < req->nparams && off < cap; i++)
        off += (size_t)snprintf(buf + off, cap - off, "%s%s=%s", i ? "&" : "", req->params[i].key,
                                req->params[i].val);
}

static void record(struct sim_server *srv, const struct sim_request *req,
                   const struct sim_reqinfo *ri, const char *user, int code)
{
    char q[2048];
    struct sim_record r;
    query_text(req, q, sizeof(q));
    memset(&r, 0, sizeof(r));
    r.user = user;
    r.verb = ri->verb;
    r.method = req->method;
    r.path = req->path;
    r.query = q;
    r.group = ri->group;
    r.resource = ri->resource;
    r.subresource = ri->subresource;
    r.ns = ri->ns;
    r.name = ri->name;
    r.code = code;
    sim_admin_record(srv->admin, &r);
    if (!srv->opt.quiet) {
        char codes[16];
        const char *kv[] = {"method", req->method, "path", req->path, "user",
                            user,     "code",      codes,  NULL};
        snprintf(codes, sizeof(codes), "%d", code);
        k8s_log(K8S_LOG_DEBUG, ri->ns, ri->name, "request", kv);
    }
}

/*
 * Impersonation (Impersonate-User/-Group headers, as `kubectl --as`): the
 * caller needs the "impersonate" verb on the user (or service account) and
 * group; the request then runs as that identity. lws 4.1.6 exposes these
 * (non-standard) headers on HTTP/1.1 only, not on h2: with kubectl, use
 * GODEBUG=http2client=0.
 */
static int impersonate(struct sim_server *srv, const struct sim_request *req, struct sim_user *user,
                       struct sim_err *e)
{
    struct sim_attrs at;
    struct sim_user as;
    const char *name = req->impersonate_user;
    const char *sa = "system:serviceaccount:";
    char ns[200] = "", sa_name[256] = "";
    memset(&at, 0, sizeof(at));
    at.resource_request = 1;
    at.verb = "impersonate";
    at.group = "";
    at.subresource = "";
    at.path = req->path;
    if (strncmp(name, sa, strlen(sa)) == 0 && strchr(name + strlen(sa), ':')) {
        const char *p = name + strlen(sa), *colon = strchr(p, ':');
        snprintf(ns, sizeof(ns), "%.*s", (int)(colon - p), p);
        snprintf(sa_name, sizeof(sa_name), "%s", colon + 1);
        at.resource = "serviceaccounts";
        at.ns = ns;
        at.name = sa_name;
    } else {
        at.resource = "users";
        at.ns = "";
        at.name = name;
    }
    if (!sim_authorize(srv, user, &at, e))
        return -1;
    memset(&as, 0, sizeof(as));
    sim_strlcpy(as.name, name, sizeof(as.name));
    if (req->impersonate_group && *req->impersonate_group) {
        at.resource = "groups";
        at.ns = "";
        at.name = req->impersonate_group;
        if (!sim_authorize(srv, user, &at, e))
            return -1;
        sim_strlcpy(as.groups[as.ngroups++], req->impersonate_group, sizeof(as.groups[0]));
    }
    if (*sa_name) {
        sim_strlcpy(as.groups[as.ngroups++], "system:serviceaccounts", sizeof(as.groups[0]));
        snprintf(as.groups[as.ngroups++], sizeof(as.groups[0]), "system:serviceaccounts:%s", ns);
    }
    sim_strlcpy(as.groups[as.ngroups++], "system:authenticated", sizeof(as.groups[0]));
    *user = as;
    return 0;
}

static const char *str_field(const cJSON *o, const char *k)
{
    const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
    return v ? v : "";
}

/* SelfSubjectAccessReview and SubjectAccessReview (`kubectl auth can-i`):
 * answered by the same authorizer, never stored. */
static void access_review(struct sim_server *srv, const struct sim_request *req,
                          const struct sim_reqinfo *ri, const struct sim_user *caller,
                          struct sim_response *resp)
{
    struct sim_err e;
    struct sim_user who = *caller;
    struct sim_attrs at;
    cJSON *body, *spec, *ra, *nra, *out, *status;
    int self = strcmp(ri->resource, "selfsubjectaccessreviews") == 0;
    int allowed;
    sim_err_clear(&e);
    if (strcmp(ri->verb, "create") != 0) {
        sim_err_method_not_allowed(&e);
        sim_respond_err(resp, &e);
        return;
    }
    body = req->body_len ? cJSON_ParseWithLength(req->body, req->body_len) : NULL;
    spec = body ? cJSON_GetObjectItemCaseSensitive(body, "spec") : NULL;
    if (!cJSON_IsObject(spec)) {
        cJSON_Delete(body);
        sim_err_bad_request(&e, "the body is not an access review with a spec");
        sim_respond_err(resp, &e);
        return;
    }
    if (!self) {
        const cJSON *g, *groups = cJSON_GetObjectItemCaseSensitive(spec, "groups");
        memset(&who, 0, sizeof(who));
        sim_strlcpy(who.name, str_field(spec, "user"), sizeof(who.name));
        cJSON_ArrayForEach(g, groups)
        {
            if (cJSON_IsString(g) && who.ngroups < SIM_MAX_GROUPS)
                sim_strlcpy(who.groups[who.ngroups++], g->valuestring, sizeof(who.groups[0]));
        }
    }
    ra = cJSON_GetObjectItemCaseSensitive(spec, "resourceAttributes");
    nra = cJSON_GetObjectItemCaseSensitive(spec, "nonResourceAttributes");
    memset(&at, 0, sizeof(at));
    if (ra) {
        at.resource_request = 1;
        at.verb = str_field(ra, "verb");
        at.group = str_field(ra, "group");
        at.resource = str_field(ra, "resource");
        at.subresource = str_field(ra, "subresource");
        at.name = str_field(ra, "name");
        at.ns = str_field(ra, "namespace");
        at.path = "";
    } else {
        at.verb = str_field(nra, "verb");
        at.path = str_field(nra, "path");
    }
    allowed = sim_authorize(srv, &who, &at, &e);
    out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "kind", self ? "SelfSubjectAccessReview" : "SubjectAccessReview");
    cJSON_AddStringToObject(out, "apiVersion", "authorization.k8s.io/v1");
    cJSON_AddItemToObject(cJSON_AddObjectToObject(out, "metadata"), "creationTimestamp",
                          cJSON_CreateNull());
    cJSON_AddItemToObject(out, "spec", cJSON_Duplicate(spec, 1));
    status = cJSON_AddObjectToObject(out, "status");
    cJSON_AddBoolToObject(status, "allowed", allowed);
    cJSON_Delete(body);
    sim_respond_json(resp, 201, out);
}

void sim_dispatch(struct sim_server *srv, const struct sim_request *req, struct sim_response *resp)
{
    struct sim_reqinfo ri;
    struct sim_user user;
    struct sim_attrs at;
    struct sim_err e;
    int64_t latency = 0;
    const struct sim_kind *k;

    sim_err_clear(&e);
    memset(&user, 0, sizeof(user));
    if (strncmp(req->path, "/__admin/", 9) == 0) {
        if (sim_authenticate(srv, req->authorization, &user) != 0) {
            sim_err_unauthorized(&e);
            sim_respond_err(resp, &e);
        } else if (!sim_user_in_group(&user, "system:masters")) {
            sim_err_forbidden(&e, "", "", "", "the admin endpoint needs system:masters");
            sim_respond_err(resp, &e);
        } else {
            sim_admin_handle(srv, req, resp);
        }
        return;
    }
    if (sim_parse_reqinfo(req->method, req->path, req, &ri) != 0) {
        char verb[24];
        sim_strlcpy(verb, ri.verb, sizeof(verb));
        memset(&ri, 0, sizeof(ri));
        sim_strlcpy(ri.verb, verb, sizeof(ri.verb));
    }
    if (sim_authenticate(srv, req->authorization, &user) != 0) {
        sim_err_unauthorized(&e);
        sim_respond_err(resp, &e);
        record(srv, req, &ri, "", resp->status);
        return;
    }
    if (req->impersonate_user && impersonate(srv, req, &user, &e) != 0) {
        sim_respond_err(resp, &e);
        record(srv, req, &ri, user.name, resp->status);
        return;
    }
    if (sim_admin_fault(srv, req->method, req->path, &ri, &latency, &e)) {
        sim_respond_err(resp, &e);
        resp->delay_ms = latency;
        record(srv, req, &ri, user.name, resp->status);
        return;
    }
    resp->delay_ms = latency;
    ri.user = &user;
    memset(&at, 0, sizeof(at));
    at.resource_request = ri.resource_request;
    at.verb = ri.verb;
    at.group = ri.group;
    at.resource = ri.resource;
    at.subresource = ri.subresource;
    at.name = ri.name;
    at.ns = ri.ns;
    at.path = req->path;
    if (!sim_authorize(srv, &user, &at, &e)) {
        sim_respond_err(resp, &e);
        record(srv, req, &ri, user.name, resp->status);
        return;
    }
    if (!ri.resource_request) {
        serve_nonresource(srv, req, resp);
        record(srv, req, &ri, user.name, resp->status);
        return;
    }
    if (strcmp(ri.group, "authorization.k8s.io") == 0 && !*ri.name &&
        (strcmp(ri.resource, "selfsubjectaccessreviews") == 0 ||
         strcmp(ri.resource, "subjectaccessreviews") == 0)) {
        access_review(srv, req, &ri, &user, resp);
        record(srv, req, &ri, user.name, resp->status);
        return;
    }
    k = sim_kinds_find(srv->kinds, ri.group, ri.version, ri.resource, 1);
    if (!k || (!k->namespaced && *ri.ns && strcmp(ri.resource, "namespaces") != 0) ||
        (k->namespaced && !*ri.ns && *ri.name)) {
        sim_err_no_route(&e);
        sim_respond_err(resp, &e);
    } else if (!*ri.group && strcmp(ri.resource, "pods") == 0 &&
               strcmp(ri.subresource, "log") == 0) {
        /* The kubelet's part of the API: served from the container log files. */
        sim_pod_log_serve(srv, req, &ri, resp);
    } else {
        sim_verbs_serve(srv, k, req, &ri, resp);
    }
    record(srv, req, &ri, user.name, resp->status);
}
