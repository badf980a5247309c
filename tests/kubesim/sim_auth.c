/*
 * Token authentication and RBAC authorization (see sim_auth.h).
 *
 * RBAC follows k8s.io/kubernetes/pkg/registry/rbac/validation: a request is
 * allowed when any rule reachable from a binding whose subjects include the
 * user allows it. ClusterRoleBindings grant everywhere; RoleBindings only in
 * their namespace. The bootstrap policy every real cluster carries is built
 * in: system:masters may do anything, and every authenticated user may read
 * discovery/openapi/version and create self-subject reviews.
 */
#include "sim_auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_server.h"
#include "sim_status.h"
#include "sim_store.h"
#include "sim_util.h"

struct tok {
    char *token;
    struct sim_user user;
    int64_t expires;
    char sa_uid[64];
};

struct sim_auth {
    struct tok *v;
    size_t n, cap;
};

struct sim_auth *sim_auth_new(void)
{
    return calloc(1, sizeof(struct sim_auth));
}

static void tok_clear(struct tok *t)
{
    if (t->token) {
        memset(t->token, 0, strlen(t->token));
        free(t->token);
    }
    memset(t, 0, sizeof(*t));
}

void sim_auth_free(struct sim_auth *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->n; i++)
        tok_clear(&a->v[i]);
    free(a->v);
    free(a);
}

int sim_auth_add_token(struct sim_auth *a, const char *token, const char *user,
                       const char *const *groups, size_t ngroups, int64_t expires,
                       const char *sa_uid)
{
    struct tok *t = NULL;
    if (!token || !*token || !user || !*user)
        return -1;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->v[i].token, token) == 0) {
            t = &a->v[i];
            tok_clear(t);
            break;
        }
    if (!t) {
        if (a->n == a->cap) {
            size_t nc = a->cap ? a->cap * 2 : 16;
            struct tok *nv = realloc(a->v, nc * sizeof(*nv));
            if (!nv)
                return -1;
            a->v = nv;
            a->cap = nc;
        }
        t = &a->v[a->n++];
        memset(t, 0, sizeof(*t));
    }
    t->token = strdup(token);
    if (!t->token) {
        a->n--;
        return -1;
    }
    sim_strlcpy(t->user.name, user, sizeof(t->user.name));
    for (size_t i = 0; i < ngroups && t->user.ngroups < SIM_MAX_GROUPS - 1; i++)
        sim_strlcpy(t->user.groups[t->user.ngroups++], groups[i], sizeof(t->user.groups[0]));
    /* The authenticator adds system:authenticated to every authenticated user. */
    if (!sim_user_in_group(&t->user, "system:authenticated"))
        sim_strlcpy(t->user.groups[t->user.ngroups++], "system:authenticated",
                    sizeof(t->user.groups[0]));
    t->expires = expires;
    sim_strlcpy(t->sa_uid, sa_uid ? sa_uid : "", sizeof(t->sa_uid));
    return 0;
}

int sim_auth_revoke(struct sim_auth *a, const char *token)
{
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->v[i].token, token) == 0) {
            tok_clear(&a->v[i]);
            a->v[i] = a->v[a->n - 1];
            a->n--;
            return 0;
        }
    return -1;
}

int sim_user_in_group(const struct sim_user *u, const char *group)
{
    for (size_t i = 0; i < u->ngroups; i++)
        if (strcmp(u->groups[i], group) == 0)
            return 1;
    return 0;
}

/* A bound token is valid only while its ServiceAccount (same uid) exists. */
static int sa_alive(struct sim_server *srv, const struct tok *t)
{
    char ns[256], name[256];
    const char *p = t->user.name + strlen("system:serviceaccount:");
    const char *colon = strchr(p, ':');
    struct sim_coll *c;
    struct sim_obj *o;
    const char *uid;
    if (!colon || (size_t)(colon - p) >= sizeof(ns))
        return 0;
    memcpy(ns, p, (size_t)(colon - p));
    ns[colon - p] = '\0';
    sim_strlcpy(name, colon + 1, sizeof(name));
    c = sim_store_coll(srv->store, "", "serviceaccounts", 0);
    o = c ? sim_coll_get(c, ns, name) : NULL;
    uid = o ? sim_jstr(o->json, "metadata", "uid", NULL) : NULL;
    return uid && strcmp(uid, t->sa_uid) == 0;
}

int sim_authenticate(struct sim_server *srv, const char *authorization, struct sim_user *out)
{
    const char *tok;
    size_t n;
    if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
        return -1;
    tok = authorization + 7;
    while (*tok == ' ')
        tok++;
    n = strlen(tok);
    while (n > 0 && (tok[n - 1] == ' ' || tok[n - 1] == '\r' || tok[n - 1] == '\n'))
        n--;
    if (n == 0)
        return -1;
    for (size_t i = 0; i < srv->auth->n; i++) {
        const struct tok *t = &srv->auth->v[i];
        if (strlen(t->token) != n || memcmp(t->token, tok, n) != 0)
            continue;
        if (t->expires && sim_now_unix() >= t->expires)
            return -1;
        if (*t->sa_uid && !sa_alive(srv, t))
            return -1;
        *out = t->user;
        return 0;
    }
    return -1;
}

int sim_auth_token_request(struct sim_server *srv, const cJSON *sa, const cJSON *req, cJSON **out,
                           struct sim_err *e)
{
    const char *ns = sim_jstr(sa, "metadata", "namespace", NULL);
    const char *name = sim_jstr(sa, "metadata", "name", NULL);
    const char *uid = sim_jstr(sa, "metadata", "uid", NULL);
    const cJSON *exp_item = sim_jget(req, "spec", "expirationSeconds", NULL);
    const cJSON *auds = sim_jget(req, "spec", "audiences", NULL);
    double exp_s = 3600;
    int64_t now = sim_now_unix(), expires;
    char user[600], ts[32], sig[44];
    char *h64 = NULL, *p64 = NULL, *token = NULL, *payload_text = NULL;
    const char *groups[3];
    char g2[300];
    cJSON *payload = NULL, *resp = NULL, *st, *spec;
    int rc = -1;

    if (cJSON_IsNumber(exp_item))
        exp_s = exp_item->valuedouble;
    if (exp_s < 600) {
        char d[160];
        snprintf(d, sizeof(d),
                 "Invalid value: %.0f: may not specify a duration less than 10 minutes", exp_s);
        sim_err_invalid1(e, "authentication.k8s.io", "TokenRequest", name ? name : "",
                         "FieldValueInvalid", "spec.expirationSeconds", d);
        return -422;
    }
    if (exp_s > 4294967296.0)
        exp_s = 4294967296.0;
    expires = now + (int64_t)exp_s;
    snprintf(user, sizeof(user), "system:serviceaccount:%s:%s", ns, name);
    snprintf(g2, sizeof(g2), "system:serviceaccounts:%s", ns);
    groups[0] = "system:serviceaccounts";
    groups[1] = g2;
    groups[2] = "system:authenticated";

    payload = cJSON_CreateObject();
    if (!payload)
        goto oom;
    if (cJSON_IsArray(auds) && cJSON_GetArraySize(auds) > 0)
        cJSON_AddItemToObject(payload, "aud", cJSON_Duplicate(auds, 1));
    else {
        cJSON *a = cJSON_AddArrayToObject(payload, "aud");
        cJSON_AddItemToArray(a, cJSON_CreateString("https://kubernetes.default.svc.cluster.local"));
    }
    cJSON_AddNumberToObject(payload, "exp", (double)expires);
    cJSON_AddNumberToObject(payload, "iat", (double)now);
    cJSON_AddStringToObject(payload, "iss", "https://kubernetes.default.svc.cluster.local");
    {
        cJSON *k = cJSON_AddObjectToObject(payload, "kubernetes.io");
        cJSON *s = k ? cJSON_AddObjectToObject(k, "serviceaccount") : NULL;
        if (k)
            cJSON_AddStringToObject(k, "namespace", ns);
        if (s) {
            cJSON_AddStringToObject(s, "name", name);
            cJSON_AddStringToObject(s, "uid", uid ? uid : "");
        }
    }
    cJSON_AddNumberToObject(payload, "nbf", (double)now);
    cJSON_AddStringToObject(payload, "sub", user);
    payload_text = cJSON_PrintUnformatted(payload);
    if (!payload_text)
        goto oom;
    h64 = sim_b64url_encode("{\"alg\":\"RS256\",\"kid\":\"kubesim\"}", 30);
    p64 = sim_b64url_encode(payload_text, strlen(payload_text));
    if (!h64 || !p64 || sim_random_alnum(sig, 43) != 0)
        goto oom;
    if (asprintf(&token, "%s.%s.%s", h64, p64, sig) < 0) {
        token = NULL;
        goto oom;
    }
    if (sim_auth_add_token(srv->auth, token, user, groups, 3, expires, uid) != 0)
        goto oom;

    resp = cJSON_CreateObject();
    if (!resp)
        goto oom;
    cJSON_AddStringToObject(resp, "kind", "TokenRequest");
    cJSON_AddStringToObject(resp, "apiVersion", "authentication.k8s.io/v1");
    {
        cJSON *m = cJSON_AddObjectToObject(resp, "metadata");
        sim_rfc3339(now, ts);
        if (m) {
            cJSON_AddStringToObject(m, "name", name);
            cJSON_AddStringToObject(m, "namespace", ns);
            cJSON_AddStringToObject(m, "creationTimestamp", ts);
        }
    }
    spec = cJSON_AddObjectToObject(resp, "spec");
    if (spec) {
        cJSON_AddItemToObject(spec, "audiences",
                              cJSON_Duplicate(cJSON_GetObjectItem(payload, "aud"), 1));
        cJSON_AddNumberToObject(spec, "expirationSeconds", (double)(int64_t)exp_s);
        if (sim_jget(req, "spec", "boundObjectRef", NULL))
            cJSON_AddItemToObject(
                spec, "boundObjectRef",
                cJSON_Duplicate(sim_jget(req, "spec", "boundObjectRef", NULL), 1));
    }
    st = cJSON_AddObjectToObject(resp, "status");
    sim_rfc3339(expires, ts);
    if (st) {
        cJSON_AddStringToObject(st, "token", token);
        cJSON_AddStringToObject(st, "expirationTimestamp", ts);
    }
    *out = resp;
    resp = NULL;
    rc = 0;
    goto out;
oom:
    sim_err_internal(e, "cannot issue a token");
out:
    cJSON_Delete(payload);
    cJSON_Delete(resp);
    free(payload_text);
    free(h64);
    free(p64);
    if (token) {
        memset(token, 0, strlen(token));
        free(token);
    }
    return rc;
}

/* ---- RBAC ---- */

static int str_in(const cJSON *arr, const char *s)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        if (cJSON_IsString(it) &&
            (strcmp(it->valuestring, "*") == 0 || strcmp(it->valuestring, s) == 0))
            return 1;
    }
    return 0;
}

static int rule_allows(const cJSON *rule, const struct sim_attrs *at)
{
    const cJSON *verbs = sim_jget(rule, "verbs", NULL);
    if (!str_in(verbs, at->verb))
        return 0;
    if (!at->resource_request) {
        const cJSON *urls = sim_jget(rule, "nonResourceURLs", NULL), *it;
        cJSON_ArrayForEach(it, urls)
        {
            const char *u;
            size_t n;
            if (!cJSON_IsString(it))
                continue;
            u = it->valuestring;
            n = strlen(u);
            if (strcmp(u, "*") == 0 || strcmp(u, at->path) == 0)
                return 1;
            if (n > 0 && u[n - 1] == '*' && strncmp(u, at->path, n - 1) == 0)
                return 1;
        }
        return 0;
    }
    {
        const cJSON *groups = sim_jget(rule, "apiGroups", NULL);
        const cJSON *res = sim_jget(rule, "resources", NULL), *it;
        const cJSON *names = sim_jget(rule, "resourceNames", NULL);
        char combined[300];
        int res_ok = 0;
        if (!str_in(groups, at->group))
            return 0;
        if (at->subresource && *at->subresource)
            snprintf(combined, sizeof(combined), "%s/%s", at->resource, at->subresource);
        else
            snprintf(combined, sizeof(combined), "%s", at->resource);
        cJSON_ArrayForEach(it, res)
        {
            const char *r;
            if (!cJSON_IsString(it))
                continue;
            r = it->valuestring;
            if (strcmp(r, "*") == 0 || strcmp(r, combined) == 0)
                res_ok = 1;
            else if (at->subresource && *at->subresource && r[0] == '*' && r[1] == '/' &&
                     strcmp(r + 2, at->subresource) == 0)
                res_ok = 1;
        }
        if (!res_ok)
            return 0;
        if (cJSON_GetArraySize(names) > 0) {
            const cJSON *n;
            if (!at->name || !*at->name)
                return 0;
            cJSON_ArrayForEach(n, names)
            {
                if (cJSON_IsString(n) && strcmp(n->valuestring, at->name) == 0)
                    return 1;
            }
            return 0;
        }
        return 1;
    }
}

static int subject_matches(const cJSON *subj, const struct sim_user *u, const char *binding_ns)
{
    const char *kind = sim_jstr(subj, "kind", NULL);
    const char *name = sim_jstr(subj, "name", NULL);
    if (!kind || !name)
        return 0;
    if (strcmp(kind, "User") == 0)
        return strcmp(name, u->name) == 0;
    if (strcmp(kind, "Group") == 0)
        return sim_user_in_group(u, name);
    if (strcmp(kind, "ServiceAccount") == 0) {
        char want[600];
        const char *ns = sim_jstr(subj, "namespace", NULL);
        if (!ns || !*ns)
            ns = binding_ns;
        snprintf(want, sizeof(want), "system:serviceaccount:%s:%s", ns ? ns : "", name);
        return strcmp(want, u->name) == 0;
    }
    return 0;
}

static int binding_applies(const cJSON *b, const struct sim_user *u, const char *ns)
{
    const cJSON *subjects = sim_jget(b, "subjects", NULL), *s;
    cJSON_ArrayForEach(s, subjects)
    {
        if (subject_matches(s, u, ns))
            return 1;
    }
    return 0;
}

/* The rules of the role a binding refers to; appends "not found" errors. */
static const cJSON *role_rules(struct sim_server *srv, const cJSON *b, const char *ns, char *errs,
                               size_t cap)
{
    const char *kind = sim_jstr(b, "roleRef", "kind", NULL);
    const char *name = sim_jstr(b, "roleRef", "name", NULL);
    struct sim_coll *c;
    struct sim_obj *o;
    int cluster = kind && strcmp(kind, "ClusterRole") == 0;
    if (!kind || !name)
        return NULL;
    c = sim_store_coll(srv->store, "rbac.authorization.k8s.io", cluster ? "clusterroles" : "roles",
                       0);
    o = c ? sim_coll_get(c, cluster ? "" : ns, name) : NULL;
    if (!o) {
        size_t len = strlen(errs);
        snprintf(errs + len, cap - len, "%s%s.rbac.authorization.k8s.io \"%s\" not found",
                 len ? ", " : "", cluster ? "clusterrole" : "role", name);
        return NULL;
    }
    return sim_jget(o->json, "rules", NULL);
}

static int rules_allow(const cJSON *rules, const struct sim_attrs *at)
{
    const cJSON *r;
    cJSON_ArrayForEach(r, rules)
    {
        if (rule_allows(r, at))
            return 1;
    }
    return 0;
}

static int builtin_allows(const struct sim_user *u, const struct sim_attrs *at)
{
    static const char *const discovery[] = {"/api",     "/api/",     "/apis",     "/apis/",
                                            "/version", "/version/", "/healthz",  "/livez",
                                            "/readyz",  "/openapi",  "/openapi/", NULL};
    if (sim_user_in_group(u, "system:masters"))
        return 1;
    if (!sim_user_in_group(u, "system:authenticated"))
        return 0;
    if (!at->resource_request) {
        if (strcmp(at->verb, "get") != 0)
            return 0;
        for (size_t i = 0; discovery[i]; i++) {
            size_t n = strlen(discovery[i]);
            if (strcmp(at->path, discovery[i]) == 0)
                return 1;
            if (discovery[i][n - 1] == '/' && strncmp(at->path, discovery[i], n) == 0)
                return 1;
        }
        return 0;
    }
    /* system:basic-user */
    if (strcmp(at->verb, "create") == 0 &&
        ((strcmp(at->group, "authorization.k8s.io") == 0 &&
          (strcmp(at->resource, "selfsubjectaccessreviews") == 0 ||
           strcmp(at->resource, "selfsubjectrulesreviews") == 0)) ||
         (strcmp(at->group, "authentication.k8s.io") == 0 &&
          strcmp(at->resource, "selfsubjectreviews") == 0)))
        return 1;
    return 0;
}

int sim_authorize(struct sim_server *srv, const struct sim_user *u, const struct sim_attrs *at,
                  struct sim_err *e)
{
    char errs[1024] = "";
    char why[2048];
    struct sim_coll *c;
    size_t b, end;

    if (!srv->opt.rbac || builtin_allows(u, at))
        return 1;
    c = sim_store_coll(srv->store, "rbac.authorization.k8s.io", "clusterrolebindings", 0);
    for (size_t i = 0; c && i < c->n; i++) {
        const cJSON *rb = c->v[i]->json;
        const cJSON *rules;
        if (!binding_applies(rb, u, NULL))
            continue;
        rules = role_rules(srv, rb, "", errs, sizeof(errs));
        if (rules && rules_allow(rules, at))
            return 1;
    }
    if (at->resource_request && at->ns && *at->ns) {
        c = sim_store_coll(srv->store, "rbac.authorization.k8s.io", "rolebindings", 0);
        if (c) {
            sim_coll_range(c, at->ns, &b, &end);
            for (size_t i = b; i < end; i++) {
                const cJSON *rb = c->v[i]->json;
                const cJSON *rules;
                if (!binding_applies(rb, u, at->ns))
                    continue;
                rules = role_rules(srv, rb, at->ns, errs, sizeof(errs));
                if (rules && rules_allow(rules, at))
                    return 1;
            }
        }
    }
    /* responsewriters.forbiddenMessage, plus the RBAC authorizer's reason. */
    if (!at->resource_request) {
        snprintf(why, sizeof(why), "User \"%s\" cannot %s path \"%s\"", u->name, at->verb,
                 at->path);
    } else {
        char res[300];
        if (at->subresource && *at->subresource)
            snprintf(res, sizeof(res), "%s/%s", at->resource, at->subresource);
        else
            snprintf(res, sizeof(res), "%s", at->resource);
        if (at->ns && *at->ns)
            snprintf(why, sizeof(why),
                     "User \"%s\" cannot %s resource \"%s\" in API group \"%s\" in the "
                     "namespace \"%s\"",
                     u->name, at->verb, res, at->group, at->ns);
        else
            snprintf(why, sizeof(why),
                     "User \"%s\" cannot %s resource \"%s\" in API group \"%s\" at the cluster "
                     "scope",
                     u->name, at->verb, res, at->group);
    }
    if (*errs) {
        size_t len = strlen(why);
        snprintf(why + len, sizeof(why) - len, ": RBAC: %s", errs);
    }
    if (!at->resource_request)
        sim_err_forbidden(e, "", "", "", why);
    else
        sim_err_forbidden(e, at->group, at->resource, at->name, why);
    return 0;
}

cJSON *sim_auth_save(const struct sim_auth *a)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; arr && i < a->n; i++) {
        const struct tok *t = &a->v[i];
        cJSON *o = cJSON_CreateObject(), *g;
        if (!o)
            break;
        cJSON_AddStringToObject(o, "token", t->token);
        cJSON_AddStringToObject(o, "user", t->user.name);
        g = cJSON_AddArrayToObject(o, "groups");
        for (size_t j = 0; g && j < t->user.ngroups; j++)
            cJSON_AddItemToArray(g, cJSON_CreateString(t->user.groups[j]));
        cJSON_AddNumberToObject(o, "expires", (double)t->expires);
        cJSON_AddStringToObject(o, "saUid", t->sa_uid);
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

int sim_auth_restore(struct sim_auth *a, const cJSON *arr)
{
    const cJSON *o;
    cJSON_ArrayForEach(o, arr)
    {
        const char *groups[SIM_MAX_GROUPS];
        size_t ng = 0;
        const cJSON *g, *gs = sim_jget(o, "groups", NULL);
        const cJSON *exp = sim_jget(o, "expires", NULL);
        cJSON_ArrayForEach(g, gs)
        {
            if (cJSON_IsString(g) && ng < SIM_MAX_GROUPS)
                groups[ng++] = g->valuestring;
        }
        if (sim_auth_add_token(a, sim_jstr(o, "token", NULL), sim_jstr(o, "user", NULL), groups, ng,
                               cJSON_IsNumber(exp) ? (int64_t)exp->valuedouble : 0,
                               sim_jstr(o, "saUid", NULL)) != 0)
            return -1;
    }
    return 0;
}
