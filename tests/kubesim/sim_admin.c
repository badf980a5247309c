/*
 * The admin endpoint, fault injection and the request record (see
 * sim_admin.h). Fault rules are checked in order; the first one that matches
 * the method and path prefix, still has `times` left and wins its `fraction`
 * draw fires: it adds its latency and, when it has a status, refuses the
 * request with the Status kube-apiserver would send for that code.
 */
#include "sim_admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_api.h"
#include "sim_auth.h"
#include "sim_http.h"
#include "sim_persist.h"
#include "sim_server.h"
#include "sim_status.h"
#include "sim_store.h"
#include "sim_util.h"
#include "sim_workloads.h"

#define MAX_RULES   64
#define MAX_RECORDS 200000

struct rule {
    char method[16];
    char prefix[1024];
    int status;
    long retry_after;
    long times; /* remaining; -1 = unlimited */
    double fraction;
    long latency_ms;
};

struct sim_admin {
    struct rule rules[MAX_RULES];
    size_t nrules;
    int watch_cut_seconds;
    cJSON *records;
    size_t nrecords;
};

struct sim_admin *sim_admin_new(void)
{
    struct sim_admin *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    a->records = cJSON_CreateArray();
    if (!a->records) {
        free(a);
        return NULL;
    }
    return a;
}

void sim_admin_free(struct sim_admin *a)
{
    if (!a)
        return;
    cJSON_Delete(a->records);
    free(a);
}

int sim_admin_watch_cut(const struct sim_admin *a)
{
    return a->watch_cut_seconds;
}

void sim_admin_record(struct sim_admin *a, const struct sim_record *r)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return;
    cJSON_AddStringToObject(o, "user", r->user ? r->user : "");
    cJSON_AddStringToObject(o, "verb", r->verb ? r->verb : "");
    cJSON_AddStringToObject(o, "method", r->method ? r->method : "");
    cJSON_AddStringToObject(o, "path", r->path ? r->path : "");
    cJSON_AddStringToObject(o, "query", r->query ? r->query : "");
    cJSON_AddStringToObject(o, "group", r->group ? r->group : "");
    cJSON_AddStringToObject(o, "resource", r->resource ? r->resource : "");
    cJSON_AddStringToObject(o, "subresource", r->subresource ? r->subresource : "");
    cJSON_AddStringToObject(o, "namespace", r->ns ? r->ns : "");
    cJSON_AddStringToObject(o, "name", r->name ? r->name : "");
    cJSON_AddNumberToObject(o, "code", r->code);
    /* Only on admission checks, so ordinary entries keep their old shape. */
    if (r->admission && *r->admission)
        cJSON_AddStringToObject(o, "admission", r->admission);
    if (a->nrecords >= MAX_RECORDS) {
        cJSON_DeleteItemFromArray(a->records, 0);
        a->nrecords--;
    }
    cJSON_AddItemToArray(a->records, o);
    a->nrecords++;
}

void sim_admin_clear_records(struct sim_admin *a)
{
    cJSON_Delete(a->records);
    a->records = cJSON_CreateArray();
    a->nrecords = 0;
}

static int parse_rules(struct sim_admin *a, const cJSON *body, struct sim_err *e)
{
    const cJSON *rules = sim_jget(body, "rules", NULL), *r;
    const cJSON *cut = sim_jget(body, "watchCutSeconds", NULL);
    struct rule tmp[MAX_RULES];
    size_t n = 0;
    if (rules && !cJSON_IsArray(rules))
        return sim_err_bad_request(e, "rules must be an array");
    cJSON_ArrayForEach(r, rules)
    {
        struct rule *x;
        const cJSON *v;
        if (n >= MAX_RULES)
            return sim_err_bad_request(e, "at most %d rules", MAX_RULES);
        x = &tmp[n++];
        memset(x, 0, sizeof(*x));
        sim_strlcpy(x->method, sim_jstr(r, "method", NULL) ? sim_jstr(r, "method", NULL) : "",
                    sizeof(x->method));
        sim_strlcpy(x->prefix,
                    sim_jstr(r, "pathPrefix", NULL) ? sim_jstr(r, "pathPrefix", NULL) : "",
                    sizeof(x->prefix));
        v = sim_jget(r, "status", NULL);
        x->status = cJSON_IsNumber(v) ? v->valueint : 0;
        if (x->status != 0 && (x->status < 400 || x->status > 599))
            return sim_err_bad_request(e, "status must be 4xx or 5xx");
        v = sim_jget(r, "retryAfterSeconds", NULL);
        x->retry_after = cJSON_IsNumber(v) ? (long)v->valuedouble : 0;
        v = sim_jget(r, "times", NULL);
        x->times = cJSON_IsNumber(v) && v->valuedouble > 0 ? (long)v->valuedouble : -1;
        v = sim_jget(r, "fraction", NULL);
        x->fraction = cJSON_IsNumber(v) ? v->valuedouble : 0;
        v = sim_jget(r, "latencyMs", NULL);
        x->latency_ms = cJSON_IsNumber(v) ? (long)v->valuedouble : 0;
    }
    memcpy(a->rules, tmp, n * sizeof(tmp[0]));
    a->nrules = n;
    a->watch_cut_seconds = cJSON_IsNumber(cut) ? cut->valueint : 0;
    return 0;
}

static void fault_status(int status, long retry_after, const struct sim_reqinfo *ri,
                         struct sim_err *e)
{
    switch (status) {
    case 429:
        sim_err_too_many_requests(e, retry_after > 0 ? retry_after : 1);
        return;
    case 409:
        if (ri && *ri->resource && *ri->name)
            sim_err_conflict_modified(e, ri->group, ri->resource, ri->name);
        else
            sim_err_set(e, 409, "Conflict", "Operation cannot be fulfilled: injected conflict");
        return;
    case 500:
        sim_err_internal(e, "injected fault");
        return;
    case 503:
        sim_err_set(e, 503, "ServiceUnavailable",
                    "the server is currently unable to handle "
                    "the request");
        break;
    case 504:
        sim_err_set(e, 504, "Timeout",
                    "the server was unable to return a response in the "
                    "time allotted, but may still be processing the request");
        break;
    default:
        sim_err_set(e, status, status >= 500 ? "InternalError" : "BadRequest",
                    "injected fault (HTTP %d)", status);
        break;
    }
    e->retry_after = retry_after;
}

int sim_admin_fault(struct sim_server *srv, const char *method, const char *path,
                    const struct sim_reqinfo *ri, int64_t *latency_ms, struct sim_err *e)
{
    struct sim_admin *a = srv->admin;
    *latency_ms = 0;
    for (size_t i = 0; i < a->nrules; i++) {
        struct rule *r = &a->rules[i];
        if (*r->method && strcasecmp(r->method, method) != 0)
            continue;
        if (*r->prefix && strncmp(path, r->prefix, strlen(r->prefix)) != 0)
            continue;
        if (r->times == 0)
            continue;
        if (r->fraction > 0 && r->fraction < 1 && sim_rng_double(&srv->rng) >= r->fraction)
            continue;
        if (r->times > 0)
            r->times--;
        *latency_ms = r->latency_ms;
        if (r->status) {
            fault_status(r->status, r->retry_after, ri, e);
            return 1;
        }
        return 0;
    }
    return 0;
}

static void handle_tokens(struct sim_server *srv, const cJSON *body, struct sim_response *resp)
{
    struct sim_err e;
    const char *token = sim_jstr(body, "token", NULL);
    const char *user = sim_jstr(body, "user", NULL);
    const cJSON *gs = sim_jget(body, "groups", NULL), *g;
    const cJSON *exp = sim_jget(body, "expiresInSeconds", NULL);
    const char *groups[SIM_MAX_GROUPS];
    size_t ng = 0;
    sim_err_clear(&e);
    if (!token || !*token) {
        sim_err_bad_request(&e, "token is required");
        sim_respond_err(resp, &e);
        return;
    }
    if (cJSON_IsTrue(sim_jget(body, "revoke", NULL))) {
        sim_auth_revoke(srv->auth, token);
        sim_respond_json(resp, 200, cJSON_CreateObject());
        srv->persist_dirty = 1;
        return;
    }
    if (!user || !*user) {
        sim_err_bad_request(&e, "user is required");
        sim_respond_err(resp, &e);
        return;
    }
    cJSON_ArrayForEach(g, gs)
    {
        if (cJSON_IsString(g) && ng < SIM_MAX_GROUPS - 1)
            groups[ng++] = g->valuestring;
    }
    if (sim_auth_add_token(srv->auth, token, user, groups, ng,
                           cJSON_IsNumber(exp) ? sim_now_unix() + (int64_t)exp->valuedouble : 0,
                           NULL) != 0) {
        sim_err_internal(&e, "cannot add the token");
        sim_respond_err(resp, &e);
        return;
    }
    srv->persist_dirty = 1;
    sim_respond_json(resp, 201, cJSON_CreateObject());
}

static void handle_requests_get(struct sim_server *srv, const struct sim_request *req,
                                struct sim_response *resp)
{
    const char *user = sim_req_param(req, "user");
    cJSON *out = cJSON_CreateObject();
    cJSON *items;
    const cJSON *it;
    if (!out)
        return;
    if (!user) {
        cJSON_AddItemToObject(out, "items", cJSON_Duplicate(srv->admin->records, 1));
        sim_respond_json(resp, 200, out);
        return;
    }
    items = cJSON_AddArrayToObject(out, "items");
    cJSON_ArrayForEach(it, srv->admin->records)
    {
        const char *u = sim_jstr(it, "user", NULL);
        if (u && strcmp(u, user) == 0)
            cJSON_AddItemToArray(items, cJSON_Duplicate(it, 1));
    }
    sim_respond_json(resp, 200, out);
}

void sim_admin_handle(struct sim_server *srv, const struct sim_request *req,
                      struct sim_response *resp)
{
    struct sim_err e;
    const char *sub = req->path + strlen("/__admin/");
    cJSON *body = NULL;
    sim_err_clear(&e);
    if (req->body_len) {
        body = cJSON_ParseWithLength(req->body, req->body_len);
        if (!body) {
            sim_err_bad_request(&e, "the body is not JSON");
            sim_respond_err(resp, &e);
            return;
        }
    }
    if (strcmp(sub, "tokens") == 0 && strcmp(req->method, "POST") == 0) {
        handle_tokens(srv, body, resp);
    } else if (strcmp(sub, "faults") == 0 && strcmp(req->method, "POST") == 0) {
        if (parse_rules(srv->admin, body, &e) != 0)
            sim_respond_err(resp, &e);
        else
            sim_respond_json(resp, 200, cJSON_CreateObject());
    } else if (strcmp(sub, "requests") == 0 && strcmp(req->method, "GET") == 0) {
        handle_requests_get(srv, req, resp);
    } else if (strcmp(sub, "requests") == 0 && strcmp(req->method, "DELETE") == 0) {
        sim_admin_clear_records(srv->admin);
        sim_respond_json(resp, 200, cJSON_CreateObject());
    } else if (strcmp(sub, "restart") == 0 && strcmp(req->method, "POST") == 0) {
        /* What a client sees of an API server restart: watches end, the
         * watch cache starts empty (old versions get 410), state is kept. */
        if (srv->opt.persist)
            sim_persist_save(srv);
        sim_store_forget_history(srv->store);
        if (srv->http)
            sim_http_cut_watches(srv->http);
        sim_respond_json(resp, 200, cJSON_CreateObject());
    } else if (strcmp(sub, "workloads") == 0) {
        sim_workloads_admin(srv, req, body, resp);
    } else if (strcmp(sub, "persist") == 0 && strcmp(req->method, "POST") == 0) {
        if (sim_persist_save(srv) != 0) {
            sim_err_internal(&e, "cannot write the state file");
            sim_respond_err(resp, &e);
        } else {
            sim_respond_json(resp, 200, cJSON_CreateObject());
        }
    } else {
        sim_err_no_route(&e);
        sim_respond_err(resp, &e);
    }
    cJSON_Delete(body);
}
