/*
 * Resource verbs (see sim_verbs.h). The pipeline of a write mirrors the
 * generic registry of k8s.io/apiserver: decode and check the body against the
 * URL, prepare (system metadata, status/spec split of subresources), admit
 * (unknown-field validation, the kind's rules, CRD schemas, and in RBAC mode
 * OwnerReferencesPermissionEnforcement), check optimistic
 * concurrency, detect no-op updates (no new resourceVersion, no event), then
 * store unless dryRun=All. Deletion honours finalizers and propagation
 * policies; the garbage collector in sim_gc.c does the asynchronous part.
 */
#include "sim_verbs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8s_patch.h"
#include "sim_api.h"
#include "sim_auth.h"
#include "sim_crd.h"
#include "sim_gcadmit.h"
#include "sim_kind.h"
#include "sim_render.h"
#include "sim_select.h"
#include "sim_server.h"
#include "sim_smp.h"
#include "sim_store.h"
#include "sim_util.h"
#include "sim_watch.h"
#include "sim_yaml.h"

#define PATCH_TYPES_CR                                                                             \
    "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
#define PATCH_TYPES_BUILTIN                                                                        \
    "application/json-patch+json, application/merge-patch+json, "                                  \
    "application/strategic-merge-patch+json, application/apply-patch+yaml"

enum fv { FV_IGNORE, FV_WARN, FV_STRICT };

struct ctx {
    struct sim_server *srv;
    const struct sim_kind *k;
    const struct sim_request *req;
    const struct sim_reqinfo *ri;
    struct sim_response *resp;
    struct sim_coll *coll;
    const char *ns;   /* the object's namespace ("" when cluster-scoped) */
    const char *name; /* "" for collections */
    int dry_run;
    enum fv fv;
    struct sim_err e;
};

static const char *const meta_fields[] = {"name",
                                          "generateName",
                                          "namespace",
                                          "selfLink",
                                          "uid",
                                          "resourceVersion",
                                          "generation",
                                          "creationTimestamp",
                                          "deletionTimestamp",
                                          "deletionGracePeriodSeconds",
                                          "labels",
                                          "annotations",
                                          "ownerReferences",
                                          "finalizers",
                                          "managedFields",
                                          NULL};

static int in_list(const char *const *list, const char *s)
{
    for (size_t i = 0; list && list[i]; i++)
        if (strcmp(list[i], s) == 0)
            return 1;
    return 0;
}

static void fail(struct ctx *c)
{
    sim_respond_err(c->resp, &c->e);
}

static void respond_obj(struct ctx *c, int status, const cJSON *stored)
{
    cJSON *served = sim_render(c->k, stored);
    enum sim_as as = sim_accept_as(c->req->accept, 0);
    if (!served) {
        sim_err_internal(&c->e, "cannot render the object");
        fail(c);
        return;
    }
    if (as == SIM_AS_META) {
        cJSON *m = sim_render_meta(served);
        cJSON_Delete(served);
        sim_respond_json(c->resp, status, m);
    } else if (as == SIM_AS_TABLE) {
        cJSON *t = sim_table_new(c->k, 1);
        const char *rv = sim_jstr(served, "metadata", "resourceVersion", NULL);
        if (t && rv)
            sim_jset_str(sim_jobj(t, "metadata"), "resourceVersion", rv);
        if (t)
            sim_table_add_row(t, c->k, served, sim_req_param(c->req, "includeObject"));
        cJSON_Delete(served);
        sim_respond_json(c->resp, status, t);
    } else {
        sim_respond_json(c->resp, status, served);
    }
}

static int parse_fv(struct ctx *c)
{
    const char *v = sim_req_param(c->req, "fieldValidation");
    c->fv = FV_WARN;
    if (!v || !*v || strcmp(v, "Warn") == 0)
        return 0;
    if (strcmp(v, "Strict") == 0)
        c->fv = FV_STRICT;
    else if (strcmp(v, "Ignore") == 0)
        c->fv = FV_IGNORE;
    else
        return sim_err_bad_request(&c->e,
                                   "fieldValidation parameter unsupported: %s; must be one of: "
                                   "Ignore, Warn, Strict",
                                   v);
    return 0;
}

static int parse_dry_run(struct ctx *c)
{
    for (size_t i = 0; i < c->req->nparams; i++) {
        if (strcmp(c->req->params[i].key, "dryRun") != 0)
            continue;
        if (strcmp(c->req->params[i].val, "All") != 0)
            return sim_err_bad_request(&c->e,
                                       "dryRun: Unsupported value: \"%s\": supported values: "
                                       "\"All\"",
                                       c->req->params[i].val);
        c->dry_run = 1;
    }
    return 0;
}

/* The body as a JSON object, with apiVersion/kind checked against the URL. */
static cJSON *parse_body(struct ctx *c)
{
    cJSON *obj;
    char av[256];
    const char *bav, *bkind;
    if (!c->req->body_len) {
        sim_err_bad_request(&c->e, "the request body is empty");
        return NULL;
    }
    if (c->req->content_type && strstr(c->req->content_type, "protobuf")) {
        /* Protobuf bodies (kubectl's typed clients for built-ins) are not
         * decoded here; JSON and YAML are. */
        sim_err_unsupported_media(&c->e, "application/json, application/yaml");
        return NULL;
    }
    if (c->req->content_type && strstr(c->req->content_type, "yaml")) {
        char err[512];
        obj = sim_yaml_parse(c->req->body, c->req->body_len, err, sizeof(err));
        if (!obj || !cJSON_IsObject(obj)) {
            cJSON_Delete(obj);
            sim_err_bad_request(&c->e, "%s", obj ? "the YAML body is not an object" : err);
            return NULL;
        }
    } else {
        obj = cJSON_ParseWithLength(c->req->body, c->req->body_len);
    }
    if (!obj || !cJSON_IsObject(obj)) {
        cJSON_Delete(obj);
        sim_err_bad_request(&c->e, "couldn't get version/kind; json parse error: invalid JSON "
                                   "object in the request body");
        return NULL;
    }
    sim_kind_api_version(c->k, av, sizeof(av));
    bav = sim_jstr(obj, "apiVersion", NULL);
    bkind = sim_jstr(obj, "kind", NULL);
    if (bav && *bav && strcmp(bav, av) != 0) {
        sim_err_bad_request(&c->e,
                            "the API version in the data (%s) does not match the expected API "
                            "version (%s)",
                            bav, av);
        cJSON_Delete(obj);
        return NULL;
    }
    if (bkind && *bkind && strcmp(bkind, c->k->kind) != 0) {
        sim_err_bad_request(&c->e,
                            "%s in version \"%s\" cannot be handled as a %s: the kind in the data "
                            "(%s) does not match the expected kind",
                            bkind, c->k->version, c->k->kind, bkind);
        cJSON_Delete(obj);
        return NULL;
    }
    if (!cJSON_IsObject(sim_jget(obj, "metadata", NULL)) && sim_jget(obj, "metadata", NULL)) {
        sim_err_bad_request(&c->e,
                            "%s in version \"%s\" cannot be handled as a %s: metadata "
                            "must be an object",
                            c->k->kind, c->k->version, c->k->kind);
        cJSON_Delete(obj);
        return NULL;
    }
    return obj;
}

/* Served form -> storage form (taken). */
static cJSON *to_storage(const struct sim_kind *k, struct sim_server *srv, cJSON *served)
{
    const struct sim_kind *sk;
    char av[256];
    cJSON *o = served;
    if (k->ops && k->ops->from_version) {
        o = k->ops->from_version(served);
        cJSON_Delete(served);
        if (!o)
            return NULL;
    }
    sk = sim_kinds_storage(srv->kinds, k->store_group, k->store_resource);
    if (!sk)
        sk = k;
    sim_kind_api_version(sk, av, sizeof(av));
    sim_jset_str(o, "apiVersion", av);
    sim_jset_str(o, "kind", sk->kind);
    return o;
}

/* ---- validation helpers ---- */

static int dns_label(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        int alnum = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
        if (!alnum && !(ch == '-' && i > 0 && i + 1 < n))
            return 0;
    }
    return 1;
}

static int dns_subdomain(const char *s)
{
    char part[254];
    const char *p = s;
    if (strlen(s) == 0 || strlen(s) > 253)
        return 0;
    while (*p) {
        size_t n = 0;
        while (*p && *p != '.' && n + 1 < sizeof(part))
            part[n++] = *p++;
        part[n] = '\0';
        if (!dns_label(part, 253))
            return 0;
        if (*p == '.') {
            p++;
            if (!*p)
                return 0;
        }
    }
    return 1;
}

static int check_name(struct ctx *c, const char *name)
{
    int is_ns = !*c->k->group && strcmp(c->k->resource, "namespaces") == 0;
    if (is_ns ? dns_label(name, 63) : dns_subdomain(name))
        return 0;
    if (is_ns)
        sim_err_add_cause(&c->e, "FieldValueInvalid", "metadata.name",
                          "Invalid value: \"%s\": a lowercase RFC 1123 label must consist of "
                          "lower case alphanumeric characters or '-', and must start and end "
                          "with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
                          "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
                          name);
    else
        sim_err_add_cause(&c->e, "FieldValueInvalid", "metadata.name",
                          "Invalid value: \"%s\": a lowercase RFC 1123 subdomain must consist of "
                          "lower case alphanumeric characters, '-' or '.', and must start and end "
                          "with an alphanumeric character (e.g. 'example.com', regex used for "
                          "validation is "
                          "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
                          name);
    return sim_err_invalid_finish(&c->e, c->k->group, c->k->kind, name);
}

/* Unknown fields of a built-in object (top level and metadata). */
static void builtin_unknown(const struct sim_kind *k, const cJSON *obj, struct sim_unknown *u)
{
    const cJSON *it;
    static const char *const always[] = {"apiVersion", "kind", "metadata", NULL};
    if (!k->ops || !k->ops->top_fields)
        return;
    cJSON_ArrayForEach(it, obj)
    {
        if (!in_list(always, it->string) && !in_list(k->ops->top_fields, it->string) &&
            u->n < SIM_MAX_UNKNOWN)
            snprintf(u->path[u->n++], sizeof(u->path[0]), "%s", it->string);
    }
    cJSON_ArrayForEach(it, sim_jget(obj, "metadata", NULL))
    {
        if (!in_list(meta_fields, it->string) && u->n < SIM_MAX_UNKNOWN)
            snprintf(u->path[u->n++], sizeof(u->path[0]), "metadata.%s", it->string);
    }
}

/* Applies fieldValidation to the unknown fields found. */
static int field_validation(struct ctx *c, const struct sim_unknown *u)
{
    char msg[3000];
    size_t off = 0;
    if (u->n == 0 || c->fv == FV_IGNORE)
        return 0;
    if (c->fv == FV_WARN) {
        for (size_t i = 0; i < u->n; i++)
            sim_add_warning(c->resp, "unknown field \"%s\"", u->path[i]);
        return 0;
    }
    msg[0] = '\0';
    for (size_t i = 0; i < u->n && off < sizeof(msg); i++)
        off += (size_t)snprintf(msg + off, sizeof(msg) - off, "%sunknown field \"%s\"",
                                i ? ", " : "", u->path[i]);
    return sim_err_bad_request(&c->e,
                               "%s in version \"%s\" cannot be handled as a %s: strict "
                               "decoding error: %s",
                               c->k->kind, c->k->version, c->k->kind, msg);
}

/* Unknown-field checks, kind rules and CRD schemas for a candidate object,
 * then the validating admission plugins (sim_gcadmit.h). */
static int admit(struct ctx *c, cJSON *obj, const cJSON *old)
{
    struct sim_unknown u;
    int rc;
    memset(&u, 0, sizeof(u));
    if (c->k->custom) {
        rc = sim_crd_admit(c->srv, c->k, obj, old, &u, &c->e);
        if (rc != 0)
            return rc;
    } else {
        builtin_unknown(c->k, obj, &u);
    }
    rc = field_validation(c, &u);
    if (rc != 0)
        return rc;
    if (c->k->ops) {
        if (!old && c->k->ops->on_create)
            rc = c->k->ops->on_create(c->srv, c->k, obj, &c->e);
        else if (old && c->k->ops->on_update)
            rc = c->k->ops->on_update(c->srv, c->k, old, obj, &c->e);
    }
    /* Validating admission runs after the strategy's validation, as in the
     * real registry: a 422 wins over a 403 from a plugin. */
    if (rc == 0)
        rc = sim_gcadmit(c->srv, c->ri, obj, old, &c->e);
    return rc;
}

/* Whether two objects differ outside metadata (and status when `skip_status`). */
static int spec_changed(const cJSON *a, const cJSON *b, int skip_status)
{
    cJSON *x = cJSON_Duplicate(a, 1), *y = cJSON_Duplicate(b, 1);
    int changed;
    if (!x || !y) {
        cJSON_Delete(x);
        cJSON_Delete(y);
        return 1;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(x, "metadata");
    cJSON_DeleteItemFromObjectCaseSensitive(y, "metadata");
    if (skip_status) {
        cJSON_DeleteItemFromObjectCaseSensitive(x, "status");
        cJSON_DeleteItemFromObjectCaseSensitive(y, "status");
    }
    changed = !k8s_json_equal(x, y);
    cJSON_Delete(x);
    cJSON_Delete(y);
    return changed;
}

static int same_ignoring_rv(const cJSON *a, const cJSON *b)
{
    cJSON *x = cJSON_Duplicate(a, 1), *y = cJSON_Duplicate(b, 1);
    int same = 0;
    if (x && y) {
        cJSON_DeleteItemFromObjectCaseSensitive(sim_jget(x, "metadata", NULL), "resourceVersion");
        cJSON_DeleteItemFromObjectCaseSensitive(sim_jget(y, "metadata", NULL), "resourceVersion");
        same = k8s_json_equal(x, y);
    }
    cJSON_Delete(x);
    cJSON_Delete(y);
    return same;
}

static void copy_member(cJSON *dst, const cJSON *src, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(src, key);
    if (v)
        sim_jset(dst, key, cJSON_Duplicate(v, 1));
    else
        cJSON_DeleteItemFromObjectCaseSensitive(dst, key);
}

static int namespace_usable(struct ctx *c, const char *ns, const char *name)
{
    struct sim_coll *nc = sim_store_coll(c->srv->store, "", "namespaces", 1);
    struct sim_obj *o = nc ? sim_coll_get(nc, "", ns) : NULL;
    char why[600];
    if (!o)
        return sim_err_not_found(&c->e, "", "namespaces", ns);
    if (sim_jget(o->json, "metadata", "deletionTimestamp", NULL)) {
        snprintf(why, sizeof(why),
                 "unable to create new content in namespace %s because it is being terminated", ns);
        sim_err_forbidden(&c->e, c->k->group, c->k->resource, name, why);
        sim_err_add_cause(&c->e, "NamespaceTerminating", "metadata.namespace", "%s", why);
        return -403;
    }
    return 0;
}

/* ---- get / list / watch ---- */

static void do_get(struct ctx *c)
{
    struct sim_obj *o = sim_coll_get(c->coll, c->ns, c->name);
    if (!o) {
        sim_err_not_found(&c->e, c->k->group, c->k->resource, c->name);
        fail(c);
        return;
    }
    respond_obj(c, 200, o->json);
}

static int field_supported(const struct sim_kind *k, const char *f)
{
    if (strcmp(f, "metadata.name") == 0)
        return 1;
    if (strcmp(f, "metadata.namespace") == 0)
        return k->namespaced || !k->custom;
    return in_list(k->field_labels, f);
}

/* events.k8s.io/v1 selects on its own field names; storage is core/v1. */
static const char *event_alias(const char *f)
{
    static const struct {
        const char *from, *to;
    } map[] = {
        {"regarding.kind", "involvedObject.kind"},
        {"regarding.namespace", "involvedObject.namespace"},
        {"regarding.name", "involvedObject.name"},
        {"regarding.uid", "involvedObject.uid"},
        {"regarding.apiVersion", "involvedObject.apiVersion"},
        {"regarding.resourceVersion", "involvedObject.resourceVersion"},
        {"regarding.fieldPath", "involvedObject.fieldPath"},
        {"reportingController", "reportingComponent"},
        {"deprecatedSource", "source"},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(map[i].from, f) == 0)
            return map[i].to;
    return NULL;
}

static int parse_selectors(struct ctx *c, struct sim_labelsel **ls, struct sim_fieldsel **fs)
{
    char err[1024];
    const char *l = sim_req_param(c->req, "labelSelector");
    const char *f = sim_req_param(c->req, "fieldSelector");
    *ls = NULL;
    *fs = NULL;
    if (sim_labelsel_parse(l, ls, err, sizeof(err)) != 0)
        return sim_err_bad_request(&c->e, "%s", err);
    if (sim_fieldsel_parse(f, fs, err, sizeof(err)) != 0) {
        sim_labelsel_free(*ls);
        *ls = NULL;
        return sim_err_bad_request(&c->e, "%s", err);
    }
    for (size_t i = 0; i < sim_fieldsel_count(*fs); i++) {
        const char *name = sim_fieldsel_field(*fs, i);
        const char *alias = strcmp(c->k->group, "events.k8s.io") == 0 ? event_alias(name) : NULL;
        if (alias) {
            sim_fieldsel_rename(*fs, i, alias);
            continue;
        }
        if (field_supported(c->k, name))
            continue;
        if (c->k->fs_style == SIM_FS_LABEL)
            sim_err_bad_request(&c->e, "field label not supported: %s", name);
        else
            sim_err_bad_request(&c->e,
                                "\"%s\" is not a known field selector: only \"metadata.name\", "
                                "\"metadata.namespace\"",
                                name);
        sim_labelsel_free(*ls);
        sim_fieldsel_free(*fs);
        *ls = NULL;
        *fs = NULL;
        return -400;
    }
    return 0;
}

static int matches(const cJSON *obj, const struct sim_labelsel *ls, const struct sim_fieldsel *fs)
{
    return sim_labelsel_match(ls, sim_jget(obj, "metadata", "labels", NULL)) &&
           sim_fieldsel_match(fs, obj);
}

static const char continue_expired[] =
    "The provided continue parameter is too old to display a consistent list result. You can "
    "start a new list without the continue parameter, or use the continue token in this "
    "response to retrieve the remainder of the results. Continuing with the provided token "
    "results in an inconsistent list - objects that were created, modified, or deleted between "
    "the time the first chunk was returned and now may show up in the list.";

/* Continue tokens: base64 of {"v":"meta.k8s.io/v1","rv":N,"start":"<ns>/<name>",
 * "issued":unix} — the key to start after, and when the list began. */
static char *make_continue(uint64_t rv, const char *ns, const char *name, int64_t issued)
{
    cJSON *t = cJSON_CreateObject();
    char start[600];
    char *text, *out;
    if (!t)
        return NULL;
    snprintf(start, sizeof(start), "%s\x1f%s", ns, name);
    cJSON_AddStringToObject(t, "v", "meta.k8s.io/v1");
    cJSON_AddNumberToObject(t, "rv", (double)rv);
    cJSON_AddStringToObject(t, "start", start);
    cJSON_AddNumberToObject(t, "issued", (double)issued);
    text = cJSON_PrintUnformatted(t);
    cJSON_Delete(t);
    if (!text)
        return NULL;
    out = sim_b64_encode(text, strlen(text));
    free(text);
    return out;
}

static int read_continue(struct ctx *c, const char *tok, char *ns, size_t nscap, char *name,
                         size_t namecap, int64_t *issued, uint64_t *rv)
{
    size_t len;
    unsigned char *raw = sim_b64_decode(tok, &len);
    cJSON *t = raw ? cJSON_ParseWithLength((const char *)raw, len) : NULL;
    const char *start = sim_jstr(t, "start", NULL);
    const cJSON *iss = sim_jget(t, "issued", NULL);
    const cJSON *r = sim_jget(t, "rv", NULL);
    const char *sep;
    int rc = 0;
    free(raw);
    if (!t || !start || !cJSON_IsNumber(iss) || !cJSON_IsNumber(r) ||
        !(sep = strchr(start, '\x1f'))) {
        rc = sim_err_bad_request(&c->e, "continue key is not valid: incorrect encoded start "
                                        "resourceVersion (version meta.k8s.io/v1)");
        goto out;
    }
    snprintf(ns, nscap, "%.*s", (int)(sep - start), start);
    snprintf(name, namecap, "%s", sep + 1);
    *issued = (int64_t)iss->valuedouble;
    *rv = (uint64_t)r->valuedouble;
out:
    cJSON_Delete(t);
    return rc;
}

static void do_list(struct ctx *c)
{
    struct sim_labelsel *ls = NULL;
    struct sim_fieldsel *fs = NULL;
    const char *limit_s = sim_req_param(c->req, "limit");
    const char *cont = sim_req_param(c->req, "continue");
    const char *list_ns = c->k->namespaced && *c->ri->ns ? c->ri->ns : NULL;
    enum sim_as as = sim_accept_as(c->req->accept, 1);
    long limit = 0;
    size_t b, e, i, count = 0;
    uint64_t list_rv = sim_store_rv(c->srv->store);
    int64_t issued = sim_now_unix();
    cJSON *doc = NULL, *items = NULL;
    char rvs[32], av[256];
    char *next = NULL;

    if (parse_selectors(c, &ls, &fs) != 0) {
        fail(c);
        return;
    }
    if (limit_s && *limit_s) {
        char *end;
        limit = strtol(limit_s, &end, 10);
        if (*end || limit < 0)
            limit = 0;
    }
    sim_coll_range(c->coll, list_ns, &b, &e);
    i = b;
    if (cont && *cont) {
        char cns[256], cname[256];
        /* The version the token carries; until it is read, the current one
         * (what a list without a token would be served at). */
        uint64_t crv = list_rv;
        if (read_continue(c, cont, cns, sizeof(cns), cname, sizeof(cname), &issued, &crv) != 0)
            goto fail;
        if (sim_now_unix() - issued > c->srv->opt.continue_ttl) {
            /* As after an etcd compaction: 410 with a fresh, inconsistent token. */
            cJSON *st;
            char *fresh = make_continue(list_rv, cns, cname, sim_now_unix());
            sim_err_expired(&c->e, "%s", continue_expired);
            st = sim_err_to_status(&c->e);
            if (st && fresh)
                sim_jset_str(sim_jobj(st, "metadata"), "continue", fresh);
            free(fresh);
            sim_respond_json(c->resp, 410, st);
            goto out;
        }
        list_rv = crv;
        i = sim_coll_after(c->coll, cns, cname);
        if (i < b)
            i = b;
    }
    doc = cJSON_CreateObject();
    if (!doc)
        goto oom;
    if (as == SIM_AS_TABLE) {
        cJSON_Delete(doc);
        doc = sim_table_new(c->k, 1);
        if (!doc)
            goto oom;
    } else if (as == SIM_AS_META) {
        cJSON_AddStringToObject(doc, "kind", "PartialObjectMetadataList");
        cJSON_AddStringToObject(doc, "apiVersion", "meta.k8s.io/v1");
        cJSON_AddObjectToObject(doc, "metadata");
        items = cJSON_AddArrayToObject(doc, "items");
    } else {
        sim_kind_api_version(c->k, av, sizeof(av));
        cJSON_AddStringToObject(doc, "kind", c->k->list_kind);
        cJSON_AddStringToObject(doc, "apiVersion", av);
        cJSON_AddObjectToObject(doc, "metadata");
        items = cJSON_AddArrayToObject(doc, "items");
    }
    for (; i < e; i++) {
        struct sim_obj *o = c->coll->v[i];
        cJSON *served;
        if (!matches(o->json, ls, fs))
            continue;
        if (limit > 0 && count == (size_t)limit) {
            /* More remain: continue after the last one returned. */
            struct sim_obj *last = c->coll->v[i - 1];
            size_t j;
            for (j = i - 1; j > b && !matches(c->coll->v[j]->json, ls, fs); j--)
                ;
            last = c->coll->v[j];
            next = make_continue(list_rv, last->ns, last->name, issued);
            break;
        }
        served = sim_render(c->k, o->json);
        if (!served)
            goto oom;
        if (as == SIM_AS_TABLE) {
            sim_table_add_row(doc, c->k, served, sim_req_param(c->req, "includeObject"));
            cJSON_Delete(served);
        } else if (as == SIM_AS_META) {
            cJSON_AddItemToArray(items, sim_render_meta(served));
            cJSON_Delete(served);
        } else {
            if (!c->k->custom) {
                /* Typed lists carry no kind/apiVersion on their items. */
                cJSON_DeleteItemFromObjectCaseSensitive(served, "kind");
                cJSON_DeleteItemFromObjectCaseSensitive(served, "apiVersion");
            }
            cJSON_AddItemToArray(items, served);
        }
        count++;
    }
    snprintf(rvs, sizeof(rvs), "%llu", (unsigned long long)list_rv);
    sim_jset_str(sim_jobj(doc, "metadata"), "resourceVersion", rvs);
    if (next)
        sim_jset_str(sim_jobj(doc, "metadata"), "continue", next);
    sim_respond_json(c->resp, 200, doc);
    doc = NULL;
    goto out;
oom:
    sim_err_internal(&c->e, "out of memory");
fail:
    fail(c);
out:
    free(next);
    cJSON_Delete(doc);
    sim_labelsel_free(ls);
    sim_fieldsel_free(fs);
}

static void do_watch(struct ctx *c)
{
    struct sim_watch_opts o;
    const char *rv = sim_req_param(c->req, "resourceVersion");
    const char *bm = sim_req_param(c->req, "allowWatchBookmarks");
    const char *to = sim_req_param(c->req, "timeoutSeconds");
    memset(&o, 0, sizeof(o));
    if (parse_selectors(c, &o.labels, &o.fields) != 0) {
        fail(c);
        return;
    }
    o.ns = c->k->namespaced && *c->ri->ns ? c->ri->ns : NULL;
    if (!rv || !*rv || strcmp(rv, "0") == 0) {
        o.send_initial = 1;
    } else {
        char *end;
        unsigned long long v = strtoull(rv, &end, 10);
        if (*end) {
            sim_labelsel_free(o.labels);
            sim_fieldsel_free(o.fields);
            sim_err_bad_request(&c->e, "invalid resource version \"%s\"", rv);
            fail(c);
            return;
        }
        o.from_rv = v;
    }
    o.bookmarks = bm && (strcmp(bm, "true") == 0 || strcmp(bm, "1") == 0);
    if (to && *to) {
        long t = strtol(to, NULL, 10);
        if (t > 0)
            o.timeout_ms = t * 1000;
    }
    if (!o.timeout_ms) /* the server's own limit: --min-request-timeout 1800 s */
        o.timeout_ms = 1800 * 1000;
    o.as = sim_accept_as(c->req->accept, 1);
    c->resp->watch = sim_watch_new(c->srv, c->k, &o);
    if (!c->resp->watch) {
        sim_err_internal(&c->e, "cannot start the watch");
        fail(c);
        return;
    }
    c->resp->status = 200;
    sim_strlcpy(c->resp->content_type, "application/json", sizeof(c->resp->content_type));
}

/* ---- create ---- */

static int prepare_create(struct ctx *c, cJSON *obj)
{
    cJSON *meta = sim_jobj(obj, "metadata");
    const char *name, *gen, *ons, *rv;
    char ts[32], uid[37], buf[300];
    if (!meta)
        return sim_err_internal(&c->e, "out of memory");
    rv = sim_jstr(meta, "resourceVersion", NULL);
    if (rv && *rv)
        return sim_err_internal(&c->e, "resourceVersion should not be set on objects to be "
                                       "created");
    ons = sim_jstr(meta, "namespace", NULL);
    if (c->k->namespaced) {
        if (ons && *ons && strcmp(ons, c->ri->ns) != 0)
            return sim_err_bad_request(&c->e, "the namespace of the provided object does not "
                                              "match the namespace sent on the request");
        sim_jset_str(meta, "namespace", c->ri->ns);
    } else {
        cJSON_DeleteItemFromObjectCaseSensitive(meta, "namespace");
    }
    name = sim_jstr(meta, "name", NULL);
    gen = sim_jstr(meta, "generateName", NULL);
    if ((!name || !*name) && gen && *gen) {
        char suffix[6];
        sim_random_suffix(&c->srv->rng, suffix, 5);
        snprintf(buf, sizeof(buf), "%s%s", gen, suffix);
        sim_jset_str(meta, "name", buf);
        name = sim_jstr(meta, "name", NULL);
    }
    if (!name || !*name) {
        sim_err_add_cause(&c->e, "FieldValueRequired", "metadata.name",
                          "Required value: name or generateName is required");
        return sim_err_invalid_finish(&c->e, c->k->group, c->k->kind, "");
    }
    if (check_name(c, name) != 0)
        return -422;
    sim_uuid(&c->srv->rng, uid);
    sim_rfc3339(sim_now_unix(), ts);
    sim_jset_str(meta, "uid", uid);
    sim_jset_str(meta, "creationTimestamp", ts);
    cJSON_DeleteItemFromObjectCaseSensitive(meta, "deletionTimestamp");
    cJSON_DeleteItemFromObjectCaseSensitive(meta, "deletionGracePeriodSeconds");
    cJSON_DeleteItemFromObjectCaseSensitive(meta, "managedFields");
    cJSON_DeleteItemFromObjectCaseSensitive(meta, "selfLink");
    cJSON_DeleteItemFromObjectCaseSensitive(meta, "resourceVersion");
    if (c->k->generation)
        sim_jset(meta, "generation", cJSON_CreateNumber(1));
    else
        cJSON_DeleteItemFromObjectCaseSensitive(meta, "generation");
    /* Types with a status subresource ignore status on create. */
    if (c->k->has_status)
        cJSON_DeleteItemFromObjectCaseSensitive(obj, "status");
    return 0;
}

static void create_obj(struct ctx *c, cJSON *obj);

static void do_create(struct ctx *c)
{
    cJSON *obj = parse_body(c);
    if (!obj) {
        fail(c);
        return;
    }
    create_obj(c, obj);
}

/* Creates the served-form object `obj` (taken) and responds. */
static void create_obj(struct ctx *c, cJSON *obj)
{
    const char *name;
    struct sim_obj *stored;
    obj = to_storage(c->k, c->srv, obj);
    if (!obj) {
        sim_err_internal(&c->e, "cannot convert the object");
        fail(c);
        return;
    }
    if (prepare_create(c, obj) != 0)
        goto fail;
    name = sim_jstr(obj, "metadata", "name", NULL);
    if (c->k->namespaced && namespace_usable(c, c->ri->ns, name) != 0)
        goto fail;
    if (admit(c, obj, NULL) != 0)
        goto fail;
    name = sim_jstr(obj, "metadata", "name", NULL);
    if (sim_coll_get(c->coll, c->k->namespaced ? c->ri->ns : "", name)) {
        sim_err_already_exists(&c->e, c->k->group, c->k->resource, name);
        goto fail;
    }
    if (c->dry_run) {
        respond_obj(c, 201, obj);
        cJSON_Delete(obj);
        return;
    }
    stored = sim_store_put(c->srv->store, c->coll, obj);
    if (!stored) {
        sim_err_internal(&c->e, "cannot store the object");
        fail(c);
        return;
    }
    c->srv->persist_dirty = 1;
    if (c->k->ops && c->k->ops->after_write)
        c->k->ops->after_write(c->srv, c->k, stored->json, 0);
    /* after_write may have replaced the stored object (e.g. defaults). */
    stored = sim_coll_get(c->coll, c->k->namespaced ? c->ri->ns : "", name);
    if (stored)
        respond_obj(c, 201, stored->json);
    else
        sim_respond_json(c->resp, 201, cJSON_CreateObject());
    return;
fail:
    cJSON_Delete(obj);
    fail(c);
}

/* ---- update / patch ---- */

/* An object in graceful deletion (a pod waiting for its kubelet): an update
 * of it is only an update (ShouldDeleteDuringUpdate needs a grace of 0). */
static int graceful_pending(const cJSON *meta)
{
    const cJSON *g = sim_jget(meta, "deletionGracePeriodSeconds", NULL);
    return cJSON_IsNumber(g) && g->valuedouble > 0;
}

/* Replaces a stored object's content without an event: the state a deletion
 * reports when an update removed the last finalizer (the real registry
 * deletes instead of writing, so watchers see only DELETED). */
static void replace_silently(struct sim_coll *coll, const char *ns, const char *name, cJSON *obj)
{
    struct sim_obj *o = sim_coll_get(coll, ns, name);
    if (!o) {
        cJSON_Delete(obj);
        return;
    }
    cJSON_Delete(o->json);
    o->json = obj;
}

/* Removes the object (DELETED event); returns its last state (caller frees). */
static cJSON *remove_now(struct sim_server *srv, const struct sim_kind *k, struct sim_coll *coll,
                         const char *ns, const char *name)
{
    struct sim_obj *o = sim_coll_get(coll, ns, name);
    cJSON *last;
    if (!o)
        return NULL;
    last = cJSON_Duplicate(o->json, 1);
    sim_store_remove(srv->store, coll, ns, name);
    srv->gc_pending = 1;
    srv->persist_dirty = 1;
    if (k->ops && k->ops->after_write)
        k->ops->after_write(srv, k, last, 1);
    return last;
}

static int new_finalizers(struct ctx *c, const cJSON *old, const cJSON *obj)
{
    const cJSON *of = sim_jget(old, "metadata", "finalizers", NULL);
    const cJSON *nf = sim_jget(obj, "metadata", "finalizers", NULL), *f;
    char added[1024];
    size_t off = 0;
    int any = 0;
    added[0] = '\0';
    cJSON_ArrayForEach(f, nf)
    {
        const cJSON *g;
        int found = 0;
        if (!cJSON_IsString(f))
            continue;
        cJSON_ArrayForEach(g, of)
        {
            if (cJSON_IsString(g) && strcmp(g->valuestring, f->valuestring) == 0)
                found = 1;
        }
        if (!found && off < sizeof(added)) {
            off += (size_t)snprintf(added + off, sizeof(added) - off, "%s\"%s\"", any ? ", " : "",
                                    f->valuestring);
            any = 1;
        }
    }
    if (!any)
        return 0;
    sim_err_add_cause(&c->e, "FieldValueForbidden", "metadata.finalizers",
                      "Forbidden: no new finalizers can be added if the object is being deleted, "
                      "found new finalizers []string{%s}",
                      added);
    return sim_err_invalid_finish(&c->e, c->k->group, c->k->kind, c->name);
}

/*
 * The shared tail of PUT and PATCH. `obj` (storage form, taken) is the
 * candidate; `cur` the stored object. `status_sub` for /status writes;
 * `require_rv` when an empty resourceVersion is refused (PUT on custom
 * resources). Responds.
 */
static void update_common(struct ctx *c, const cJSON *cur, cJSON *obj, int status_sub,
                          int require_rv)
{
    cJSON *meta = sim_jobj(obj, "metadata");
    const cJSON *cmeta = sim_jget(cur, "metadata", NULL);
    const char *rv = sim_jstr(meta, "resourceVersion", NULL);
    const char *crv = sim_jstr(cmeta, "resourceVersion", NULL);
    const char *uid = sim_jstr(meta, "uid", NULL);
    const char *cuid = sim_jstr(cmeta, "uid", NULL);
    struct sim_obj *stored;
    if (!meta) {
        sim_err_internal(&c->e, "out of memory");
        goto fail;
    }
    if (rv && *rv) {
        if (!crv || strcmp(rv, crv) != 0) {
            sim_err_conflict_modified(&c->e, c->k->group, c->k->resource, c->name);
            goto fail;
        }
    } else if (require_rv) {
        sim_err_invalid1(&c->e, c->k->group, c->k->kind, c->name, "FieldValueInvalid",
                         "metadata.resourceVersion",
                         "Invalid value: 0x0: must be specified for an update");
        goto fail;
    }
    if (uid && *uid && cuid && strcmp(uid, cuid) != 0) {
        char d[200];
        snprintf(d, sizeof(d), "Invalid value: \"%s\": field is immutable", uid);
        sim_err_invalid1(&c->e, c->k->group, c->k->kind, c->name, "FieldValueInvalid",
                         "metadata.uid", d);
        goto fail;
    }
    if (status_sub) {
        /* Only status changes; everything else comes from the stored object. */
        cJSON *merged = cJSON_Duplicate(cur, 1);
        if (!merged) {
            sim_err_internal(&c->e, "out of memory");
            goto fail;
        }
        copy_member(merged, obj, "status");
        cJSON_Delete(obj);
        obj = merged;
        meta = sim_jobj(obj, "metadata");
    } else {
        static const char *const system[] = {"uid",
                                             "creationTimestamp",
                                             "deletionTimestamp",
                                             "deletionGracePeriodSeconds",
                                             "generation",
                                             "namespace",
                                             "name",
                                             NULL};
        for (size_t i = 0; system[i]; i++)
            copy_member(meta, cmeta, system[i]);
        cJSON_DeleteItemFromObjectCaseSensitive(meta, "managedFields");
        cJSON_DeleteItemFromObjectCaseSensitive(meta, "selfLink");
        if (c->k->has_status)
            copy_member(obj, cur, "status");
        if (sim_jget(cmeta, "deletionTimestamp", NULL) && new_finalizers(c, cur, obj) != 0)
            goto fail;
    }
    sim_jset_str(meta, "resourceVersion", crv ? crv : "");
    if (admit(c, obj, cur) != 0)
        goto fail;
    if (c->k->generation && !status_sub && spec_changed(cur, obj, c->k->has_status)) {
        const cJSON *g = sim_jget(cmeta, "generation", NULL);
        sim_jset(meta, "generation",
                 cJSON_CreateNumber(cJSON_IsNumber(g) ? g->valuedouble + 1 : 1));
    }
    if (same_ignoring_rv(cur, obj)) {
        /* A no-op write: nothing stored, no event, same resourceVersion. */
        respond_obj(c, 200, cur);
        cJSON_Delete(obj);
        return;
    }
    if (c->dry_run) {
        respond_obj(c, 200, obj);
        cJSON_Delete(obj);
        return;
    }
    if (sim_jget(meta, "deletionTimestamp", NULL) &&
        cJSON_GetArraySize(sim_jget(meta, "finalizers", NULL)) == 0 && !graceful_pending(meta) &&
        !(!*c->k->group && strcmp(c->k->resource, "namespaces") == 0 &&
          cJSON_GetArraySize(sim_jget(obj, "spec", "finalizers", NULL)) > 0)) {
        /* The last finalizer is gone: the object goes now. */
        cJSON *last;
        replace_silently(c->coll, c->ns, c->name, obj);
        last = remove_now(c->srv, c->k, c->coll, c->ns, c->name);
        respond_obj(c, 200, last);
        cJSON_Delete(last);
        return;
    }
    stored = sim_store_put(c->srv->store, c->coll, obj);
    if (!stored) {
        sim_err_internal(&c->e, "cannot store the object");
        fail(c);
        return;
    }
    c->srv->persist_dirty = 1;
    if (c->k->ops && c->k->ops->after_write)
        c->k->ops->after_write(c->srv, c->k, stored->json, 0);
    stored = sim_coll_get(c->coll, c->ns, c->name);
    if (stored)
        respond_obj(c, 200, stored->json);
    else
        sim_respond_json(c->resp, 200, cJSON_CreateObject());
    return;
fail:
    cJSON_Delete(obj);
    fail(c);
}

static void do_update(struct ctx *c, int status_sub)
{
    cJSON *obj = parse_body(c);
    struct sim_obj *o;
    const char *bname;
    if (!obj) {
        fail(c);
        return;
    }
    bname = sim_jstr(obj, "metadata", "name", NULL);
    if (bname && strcmp(bname, c->name) != 0) {
        sim_err_bad_request(&c->e,
                            "the name of the object (%s) does not match the name on the "
                            "URL (%s)",
                            bname, c->name);
        cJSON_Delete(obj);
        fail(c);
        return;
    }
    if (c->k->namespaced) {
        const char *bns = sim_jstr(obj, "metadata", "namespace", NULL);
        if (bns && *bns && strcmp(bns, c->ns) != 0) {
            sim_err_bad_request(&c->e, "the namespace of the provided object does not match "
                                       "the namespace sent on the request");
            cJSON_Delete(obj);
            fail(c);
            return;
        }
    }
    o = sim_coll_get(c->coll, c->ns, c->name);
    if (!o) {
        if (c->k->create_on_update && !status_sub) {
            cJSON_Delete(obj);
            do_create(c);
            if (c->resp->status == 201)
                return;
            return;
        }
        cJSON_Delete(obj);
        sim_err_not_found(&c->e, c->k->group, c->k->resource, c->name);
        fail(c);
        return;
    }
    obj = to_storage(c->k, c->srv, obj);
    if (!obj) {
        sim_err_internal(&c->e, "cannot convert the object");
        fail(c);
        return;
    }
    sim_jset_str(sim_jobj(obj, "metadata"), "name", c->name);
    update_common(c, o->json, obj, status_sub, c->k->custom);
}

/*
 * Server-side apply, approximated: the applied configuration is merged into
 * the live object (strategic-merge rules for built-ins, JSON merge for custom
 * resources) or creates it. Field ownership (managedFields) is not tracked, so
 * fields a manager stops applying are not removed and there are no apply
 * conflicts between managers.
 */
static void do_apply(struct ctx *c, int status_sub)
{
    const char *fm = sim_req_param(c->req, "fieldManager");
    struct sim_obj *o = sim_coll_get(c->coll, c->ns, c->name);
    cJSON *cfg, *served = NULL, *result = NULL;
    char err[512];
    if (!fm || !*fm) {
        sim_err_invalid1(&c->e, "meta.k8s.io", "PatchOptions", "", "FieldValueRequired",
                         "fieldManager", "Required value: is required for apply patch");
        fail(c);
        return;
    }
    cfg =
        c->req->body_len ? sim_yaml_parse(c->req->body, c->req->body_len, err, sizeof(err)) : NULL;
    if (!cJSON_IsObject(cfg)) {
        cJSON_Delete(cfg);
        sim_err_bad_request(&c->e, "error decoding YAML: %s",
                            c->req->body_len ? err : "the body is empty");
        fail(c);
        return;
    }
    if (!o) {
        cJSON *meta;
        if (status_sub) {
            cJSON_Delete(cfg);
            sim_err_not_found(&c->e, c->k->group, c->k->resource, c->name);
            fail(c);
            return;
        }
        meta = sim_jobj(cfg, "metadata");
        if (meta && !sim_jstr(meta, "name", NULL))
            sim_jset_str(meta, "name", c->name);
        create_obj(c, cfg);
        return;
    }
    served = sim_render(c->k, o->json);
    if (!served) {
        cJSON_Delete(cfg);
        sim_err_internal(&c->e, "out of memory");
        fail(c);
        return;
    }
    if (c->k->custom) {
        result = k8s_merge_patch_apply(served, cfg);
    } else if (sim_smp_apply(served, cfg, &result, err, sizeof(err)) != 0) {
        sim_err_bad_request(&c->e, "%s", err);
        result = NULL;
    }
    cJSON_Delete(cfg);
    cJSON_Delete(served);
    if (!result) {
        if (!c->e.code)
            sim_err_internal(&c->e, "out of memory");
        fail(c);
        return;
    }
    result = to_storage(c->k, c->srv, result);
    if (!result) {
        sim_err_internal(&c->e, "cannot convert the object");
        fail(c);
        return;
    }
    sim_jset_str(sim_jobj(result, "metadata"), "name", c->name);
    update_common(c, o->json, result, status_sub, 0);
}

static void do_patch(struct ctx *c, int status_sub)
{
    const char *ct = c->req->content_type ? c->req->content_type : "";
    struct sim_obj *o = sim_coll_get(c->coll, c->ns, c->name);
    cJSON *patch = NULL, *served = NULL, *result = NULL;
    struct k8s_error kerr;
    char ctype[128];
    char *semi;
    sim_strlcpy(ctype, ct, sizeof(ctype));
    semi = strchr(ctype, ';');
    if (semi)
        *semi = '\0';
    if (strcmp(ctype, "application/apply-patch+yaml") == 0) {
        do_apply(c, status_sub);
        return;
    }
    if (strcmp(ctype, "application/json-patch+json") != 0 &&
        strcmp(ctype, "application/merge-patch+json") != 0 &&
        (strcmp(ctype, "application/strategic-merge-patch+json") != 0 || c->k->custom)) {
        sim_err_unsupported_media(&c->e, c->k->custom ? PATCH_TYPES_CR : PATCH_TYPES_BUILTIN);
        fail(c);
        return;
    }
    if (!o) {
        sim_err_not_found(&c->e, c->k->group, c->k->resource, c->name);
        fail(c);
        return;
    }
    patch = c->req->body_len ? cJSON_ParseWithLength(c->req->body, c->req->body_len) : NULL;
    if (!patch) {
        sim_err_bad_request(&c->e, "error decoding patch: invalid JSON");
        fail(c);
        return;
    }
    served = sim_render(c->k, o->json);
    if (!served) {
        sim_err_internal(&c->e, "out of memory");
        goto fail;
    }
    if (strcmp(ctype, "application/json-patch+json") == 0) {
        k8s_error_clear(&kerr);
        if (!cJSON_IsArray(patch)) {
            sim_err_bad_request(&c->e, "json: cannot unmarshal object into Go value of type "
                                       "jsonpatch.Patch");
            goto fail;
        }
        if (k8s_json_patch_apply_flags(served, patch, K8S_JSON_PATCH_APISERVER, &result, &kerr) !=
            0) {
            if (kerr.code == K8S_EBADREQUEST)
                sim_err_bad_request(&c->e, "%s", kerr.message);
            else
                sim_err_set(&c->e, 422, "Invalid", "%s", kerr.message);
            goto fail;
        }
    } else if (strcmp(ctype, "application/merge-patch+json") == 0) {
        if (!cJSON_IsObject(patch)) {
            sim_err_bad_request(&c->e, "json: cannot unmarshal into an object: a merge patch "
                                       "must be a JSON object");
            goto fail;
        }
        result = k8s_merge_patch_apply(served, patch);
        if (!result) {
            sim_err_internal(&c->e, "out of memory");
            goto fail;
        }
    } else {
        char err[512];
        if (!cJSON_IsObject(patch)) {
            sim_err_bad_request(&c->e, "json: cannot unmarshal array into Go value of type "
                                       "map[string]interface {}");
            goto fail;
        }
        if (sim_smp_apply(served, patch, &result, err, sizeof(err)) != 0) {
            sim_err_bad_request(&c->e, "%s", err);
            goto fail;
        }
    }
    if (!cJSON_IsObject(result)) {
        sim_err_bad_request(&c->e, "the patch did not produce an object");
        goto fail;
    }
    /* A patch cannot rename, move or retype the object. */
    {
        const char *pn = sim_jstr(result, "metadata", "name", NULL);
        const char *pav = sim_jstr(result, "apiVersion", NULL);
        const char *pk = sim_jstr(result, "kind", NULL);
        char av[256];
        sim_kind_api_version(c->k, av, sizeof(av));
        if ((pn && strcmp(pn, c->name) != 0) || (pav && strcmp(pav, av) != 0) ||
            (pk && strcmp(pk, c->k->kind) != 0)) {
            sim_err_bad_request(&c->e,
                                "the name of the object (%s) does not match the name on "
                                "the URL (%s)",
                                pn ? pn : "", c->name);
            goto fail;
        }
    }
    cJSON_Delete(patch);
    cJSON_Delete(served);
    result = to_storage(c->k, c->srv, result);
    if (!result) {
        sim_err_internal(&c->e, "cannot convert the object");
        fail(c);
        return;
    }
    sim_jset_str(sim_jobj(result, "metadata"), "name", c->name);
    update_common(c, o->json, result, status_sub, 0);
    return;
fail:
    cJSON_Delete(patch);
    cJSON_Delete(served);
    cJSON_Delete(result);
    fail(c);
}

/* ---- delete ---- */

static int has_string(const cJSON *arr, const char *s)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        if (cJSON_IsString(it) && strcmp(it->valuestring, s) == 0)
            return 1;
    }
    return 0;
}

static void remove_string(cJSON *arr, const char *s)
{
    for (int i = cJSON_GetArraySize(arr) - 1; i >= 0; i--) {
        const cJSON *it = cJSON_GetArrayItem(arr, i);
        if (cJSON_IsString(it) && strcmp(it->valuestring, s) == 0)
            cJSON_DeleteItemFromArray(arr, i);
    }
}

struct del_opts {
    const char *policy;
    const char *pre_uid;
    const char *pre_rv;
    int dry_run;
    int grace_set; /* gracePeriodSeconds was given */
    long grace;
};

/*
 * A pod's deletion grace period as podStrategy.CheckGracefulDelete decides
 * it: the one asked for, else spec.terminationGracePeriodSeconds; 0 for a pod
 * never bound to a node or already finished (no kubelet will confirm those).
 * -1 for every other kind (deleted at once, or held by finalizers).
 */
static long pod_grace(const struct sim_kind *k, const cJSON *pod, const struct del_opts *d)
{
    const cJSON *t = sim_jget(pod, "spec", "terminationGracePeriodSeconds", NULL);
    const char *node = sim_jstr(pod, "spec", "nodeName", NULL);
    const char *phase = sim_jstr(pod, "status", "phase", NULL);
    long period = 0;
    if (*k->group || strcmp(k->resource, "pods") != 0)
        return -1;
    if (d->grace_set)
        period = d->grace;
    else if (cJSON_IsNumber(t))
        period = (long)t->valuedouble;
    if (!node || !*node ||
        (phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0)))
        period = 0;
    return period < 0 ? 0 : period;
}

/*
 * Deletes one object: *out receives the object as it is after the call (with
 * deletionTimestamp when finalizers keep it) and *removed whether it is gone.
 */
static int delete_obj(struct sim_server *srv, const struct sim_kind *k, struct sim_coll *coll,
                      const char *ns, const char *name, const struct del_opts *d, cJSON **out,
                      int *removed, struct sim_err *e)
{
    struct sim_obj *o = sim_coll_get(coll, ns, name);
    const char *policy = d->policy;
    cJSON *obj, *meta, *fins;
    int is_ns = !*k->group && strcmp(k->resource, "namespaces") == 0;
    int changed = 0;
    long grace;
    *out = NULL;
    *removed = 0;
    if (!o)
        return sim_err_not_found(e, k->group, k->resource, name);
    if (d->pre_uid && *d->pre_uid) {
        const char *uid = sim_jstr(o->json, "metadata", "uid", NULL);
        if (!uid || strcmp(uid, d->pre_uid) != 0) {
            char why[300];
            snprintf(why, sizeof(why),
                     "Precondition failed: UID in precondition: %s, UID in object meta: %s",
                     d->pre_uid, uid ? uid : "");
            return sim_err_conflict(e, k->group, k->resource, name, why);
        }
    }
    if (d->pre_rv && *d->pre_rv) {
        const char *rv = sim_jstr(o->json, "metadata", "resourceVersion", NULL);
        if (!rv || strcmp(rv, d->pre_rv) != 0) {
            char why[300];
            snprintf(why, sizeof(why),
                     "Precondition failed: ResourceVersion in precondition: %s, ResourceVersion "
                     "in object meta: %s",
                     d->pre_rv, rv ? rv : "");
            return sim_err_conflict(e, k->group, k->resource, name, why);
        }
    }
    if (!policy || !*policy)
        policy = k->orphan_by_default ? "Orphan" : "Background";
    grace = pod_grace(k, o->json, d);
    obj = cJSON_Duplicate(o->json, 1);
    meta = obj ? sim_jobj(obj, "metadata") : NULL;
    if (!meta) {
        cJSON_Delete(obj);
        return sim_err_internal(e, "out of memory");
    }
    /* A pod already in graceful deletion (rest.BeforeDelete): only a shorter
     * grace period changes anything; otherwise it stays for its kubelet. */
    if (grace >= 0 && sim_jget(meta, "deletionTimestamp", NULL)) {
        const cJSON *cur = sim_jget(meta, "deletionGracePeriodSeconds", NULL);
        long cur_grace = cJSON_IsNumber(cur) ? (long)cur->valuedouble : 0;
        if (cur_grace > 0) {
            if (!d->grace_set || grace >= cur_grace) {
                *out = obj;
                return 0;
            }
            {
                int64_t ts = sim_parse_rfc3339(sim_jstr(meta, "deletionTimestamp", NULL));
                char tsb[32];
                sim_rfc3339((ts > 0 ? ts : sim_now_unix() + cur_grace) - cur_grace + grace, tsb);
                sim_jset_str(meta, "deletionTimestamp", tsb);
                sim_jset(meta, "deletionGracePeriodSeconds", cJSON_CreateNumber((double)grace));
                changed = 1;
            }
        }
    }
    fins = sim_jget(meta, "finalizers", NULL);
    if (!fins) {
        fins = cJSON_CreateArray();
        cJSON_AddItemToObject(meta, "finalizers", fins);
    }
    /* The garbage collector's finalizers, per propagation policy. */
    if (strcmp(policy, "Orphan") == 0) {
        if (!has_string(fins, "orphan")) {
            cJSON_AddItemToArray(fins, cJSON_CreateString("orphan"));
            changed = 1;
        }
        if (has_string(fins, "foregroundDeletion")) {
            remove_string(fins, "foregroundDeletion");
            changed = 1;
        }
    } else if (strcmp(policy, "Foreground") == 0) {
        if (!has_string(fins, "foregroundDeletion")) {
            cJSON_AddItemToArray(fins, cJSON_CreateString("foregroundDeletion"));
            changed = 1;
        }
        if (has_string(fins, "orphan")) {
            remove_string(fins, "orphan");
            changed = 1;
        }
    } else if (!sim_jget(meta, "deletionTimestamp", NULL)) {
        remove_string(fins, "orphan");
        remove_string(fins, "foregroundDeletion");
    }
    if (is_ns) {
        cJSON *status = sim_jobj(obj, "status");
        if (status && !sim_jstr(status, "phase", NULL))
            changed = 1;
        if (status && sim_jstr(status, "phase", NULL) &&
            strcmp(sim_jstr(status, "phase", NULL), "Terminating") != 0)
            changed = 1;
        if (status)
            sim_jset_str(status, "phase", "Terminating");
    }
    if (cJSON_GetArraySize(fins) == 0)
        cJSON_DeleteItemFromObjectCaseSensitive(meta, "finalizers");
    if (cJSON_GetArraySize(sim_jget(meta, "finalizers", NULL)) > 0 || is_ns || grace > 0) {
        if (!sim_jget(meta, "deletionTimestamp", NULL)) {
            char ts[32];
            /* A graceful pod deletion: the time by which it should be gone. */
            sim_rfc3339(sim_now_unix() + (grace > 0 ? grace : 0), ts);
            sim_jset_str(meta, "deletionTimestamp", ts);
            sim_jset(meta, "deletionGracePeriodSeconds",
                     cJSON_CreateNumber(grace > 0 ? (double)grace : 0));
            changed = 1;
        }
        if (d->dry_run || !changed) {
            *out = obj;
            return 0;
        }
        if (!sim_store_put(srv->store, coll, obj))
            return sim_err_internal(e, "cannot store the object");
        srv->gc_pending = 1;
        srv->persist_dirty = 1;
        o = sim_coll_get(coll, ns, name);
        *out = o ? cJSON_Duplicate(o->json, 1) : NULL;
        return 0;
    }
    cJSON_Delete(obj);
    if (d->dry_run) {
        *out = cJSON_Duplicate(o->json, 1);
        *removed = 1;
        return 0;
    }
    *out = remove_now(srv, k, coll, ns, name);
    *removed = 1;
    return 0;
}

static int read_delete_opts(struct ctx *c, struct del_opts *d, cJSON **body)
{
    const char *p;
    memset(d, 0, sizeof(*d));
    *body = NULL;
    d->dry_run = c->dry_run;
    if (c->req->body_len) {
        *body = cJSON_ParseWithLength(c->req->body, c->req->body_len);
        if (!*body || !cJSON_IsObject(*body))
            return sim_err_bad_request(&c->e, "the body of the request is not a DeleteOptions "
                                              "object");
        d->policy = sim_jstr(*body, "propagationPolicy", NULL);
        d->pre_uid = sim_jstr(*body, "preconditions", "uid", NULL);
        d->pre_rv = sim_jstr(*body, "preconditions", "resourceVersion", NULL);
        if (cJSON_IsTrue(sim_jget(*body, "orphanDependents", NULL)))
            d->policy = "Orphan";
        if (cJSON_IsNumber(sim_jget(*body, "gracePeriodSeconds", NULL))) {
            d->grace = (long)sim_jget(*body, "gracePeriodSeconds", NULL)->valuedouble;
            d->grace_set = 1;
        }
        {
            const cJSON *dr = sim_jget(*body, "dryRun", NULL), *it;
            cJSON_ArrayForEach(it, dr)
            {
                if (cJSON_IsString(it) && strcmp(it->valuestring, "All") == 0)
                    d->dry_run = 1;
            }
        }
    }
    p = sim_req_param(c->req, "propagationPolicy");
    if (p && *p)
        d->policy = p;
    p = sim_req_param(c->req, "orphanDependents");
    if (p && strcmp(p, "true") == 0)
        d->policy = "Orphan";
    p = sim_req_param(c->req, "gracePeriodSeconds");
    if (p && *p) {
        char *end = NULL;
        long g = strtol(p, &end, 10);
        if (end && *end == '\0') {
            d->grace = g;
            d->grace_set = 1;
        }
    }
    /* rest.BeforeDelete: a negative grace period is taken as 1 s. */
    if (d->grace_set && d->grace < 0)
        d->grace = 1;
    if (d->policy && *d->policy && strcmp(d->policy, "Orphan") != 0 &&
        strcmp(d->policy, "Foreground") != 0 && strcmp(d->policy, "Background") != 0) {
        sim_err_add_cause(&c->e, "FieldValueNotSupported", "propagationPolicy",
                          "Unsupported value: \"%s\": supported values: \"Foreground\", "
                          "\"Background\", \"Orphan\", \"nil\"",
                          d->policy);
        return sim_err_invalid_finish(&c->e, "meta.k8s.io", "DeleteOptions", "");
    }
    return 0;
}

static void success_status(struct ctx *c, const cJSON *obj)
{
    cJSON *st = cJSON_CreateObject(), *d;
    if (!st)
        return;
    cJSON_AddStringToObject(st, "kind", "Status");
    cJSON_AddStringToObject(st, "apiVersion", "v1");
    cJSON_AddObjectToObject(st, "metadata");
    cJSON_AddStringToObject(st, "status", "Success");
    d = cJSON_AddObjectToObject(st, "details");
    if (d) {
        cJSON_AddStringToObject(d, "name", c->name);
        if (*c->k->group)
            cJSON_AddStringToObject(d, "group", c->k->group);
        cJSON_AddStringToObject(d, "kind", c->k->resource);
        if (sim_jstr(obj, "metadata", "uid", NULL))
            cJSON_AddStringToObject(d, "uid", sim_jstr(obj, "metadata", "uid", NULL));
    }
    sim_respond_json(c->resp, 200, st);
}

static void do_delete(struct ctx *c)
{
    struct del_opts d;
    cJSON *body = NULL, *out = NULL;
    int removed = 0;
    if (read_delete_opts(c, &d, &body) != 0 ||
        delete_obj(c->srv, c->k, c->coll, c->ns, c->name, &d, &out, &removed, &c->e) != 0) {
        cJSON_Delete(body);
        fail(c);
        return;
    }
    if (removed && !c->k->delete_returns_object)
        success_status(c, out);
    else if (out)
        respond_obj(c, 200, out);
    else
        success_status(c, NULL);
    cJSON_Delete(out);
    cJSON_Delete(body);
}

static void do_deletecollection(struct ctx *c)
{
    struct sim_labelsel *ls = NULL;
    struct sim_fieldsel *fs = NULL;
    struct del_opts d;
    cJSON *body = NULL, *doc = NULL, *items;
    const char *list_ns = c->k->namespaced && *c->ri->ns ? c->ri->ns : NULL;
    char **names = NULL, **nss = NULL;
    size_t b, e, n = 0;
    char av[256];
    if (read_delete_opts(c, &d, &body) != 0 || parse_selectors(c, &ls, &fs) != 0) {
        cJSON_Delete(body);
        fail(c);
        return;
    }
    sim_coll_range(c->coll, list_ns, &b, &e);
    names = calloc(e - b + 1, sizeof(*names));
    nss = calloc(e - b + 1, sizeof(*nss));
    doc = cJSON_CreateObject();
    if (!names || !nss || !doc)
        goto out;
    for (size_t i = b; i < e; i++) {
        if (!matches(c->coll->v[i]->json, ls, fs))
            continue;
        names[n] = strdup(c->coll->v[i]->name);
        nss[n] = strdup(c->coll->v[i]->ns);
        if (!names[n] || !nss[n])
            goto out;
        n++;
    }
    sim_kind_api_version(c->k, av, sizeof(av));
    cJSON_AddStringToObject(doc, "kind", c->k->list_kind);
    cJSON_AddStringToObject(doc, "apiVersion", av);
    cJSON_AddObjectToObject(doc, "metadata");
    items = cJSON_AddArrayToObject(doc, "items");
    for (size_t i = 0; i < n; i++) {
        cJSON *out = NULL;
        int removed;
        struct sim_err e2;
        sim_err_clear(&e2);
        if (delete_obj(c->srv, c->k, c->coll, nss[i], names[i], &d, &out, &removed, &e2) == 0 &&
            out) {
            cJSON *served = sim_render(c->k, out);
            if (served)
                cJSON_AddItemToArray(items, served);
        }
        cJSON_Delete(out);
    }
    {
        char rvs[32];
        snprintf(rvs, sizeof(rvs), "%llu", (unsigned long long)sim_store_rv(c->srv->store));
        sim_jset_str(sim_jobj(doc, "metadata"), "resourceVersion", rvs);
    }
    sim_respond_json(c->resp, 200, doc);
    doc = NULL;
out:
    if (doc) {
        sim_err_internal(&c->e, "out of memory");
        fail(c);
    }
    for (size_t i = 0; i < n; i++) {
        free(names[i]);
        free(nss[i]);
    }
    free(names);
    free(nss);
    cJSON_Delete(doc);
    cJSON_Delete(body);
    sim_labelsel_free(ls);
    sim_fieldsel_free(fs);
}

/* ---- subresources ---- */

static void do_token(struct ctx *c)
{
    struct sim_obj *sa = sim_coll_get(c->coll, c->ns, c->name);
    cJSON *req = NULL, *out = NULL;
    if (!sa) {
        sim_err_not_found(&c->e, "", "serviceaccounts", c->name);
        fail(c);
        return;
    }
    if (c->req->body_len)
        req = cJSON_ParseWithLength(c->req->body, c->req->body_len);
    if (sim_auth_token_request(c->srv, sa->json, req, &out, &c->e) != 0) {
        cJSON_Delete(req);
        fail(c);
        return;
    }
    c->srv->persist_dirty = 1;
    cJSON_Delete(req);
    sim_respond_json(c->resp, 201, out);
}

/*
 * pods/NAME/binding: the scheduler's write (BindingREST in
 * pkg/registry/core/pod/storage). It sets spec.nodeName once, with the
 * binding's annotations and the PodScheduled condition; a pod already bound or
 * being deleted is refused with a conflict.
 */
static void do_binding(struct ctx *c)
{
    cJSON *body = c->req->body_len ? cJSON_ParseWithLength(c->req->body, c->req->body_len) : NULL;
    struct sim_obj *o = sim_coll_get(c->coll, c->ns, c->name);
    const char *node = sim_jstr(body, "target", "name", NULL);
    const char *bound = o ? sim_jstr(o->json, "spec", "nodeName", NULL) : NULL;
    cJSON *pod = NULL, *conds, *cond, *st;
    char why[600], ts[32];
    if (!body || !cJSON_IsObject(body)) {
        sim_err_bad_request(&c->e, "the body of the request is not a Binding object");
        goto fail;
    }
    if (!o) {
        sim_err_not_found(&c->e, "", "pods", c->name);
        goto fail;
    }
    if (!node || !*node) {
        sim_err_invalid1(&c->e, "", "Binding", c->name, "FieldValueRequired", "target.name",
                         "Required value");
        goto fail;
    }
    if (bound && *bound) {
        snprintf(why, sizeof(why), "pod %s is already assigned to node \"%s\"", c->name, bound);
        sim_err_conflict(&c->e, "", "pods/binding", c->name, why);
        goto fail;
    }
    if (sim_jget(o->json, "metadata", "deletionTimestamp", NULL)) {
        snprintf(why, sizeof(why), "pod %s is being deleted, cannot be assigned to a host",
                 c->name);
        sim_err_conflict(&c->e, "", "pods/binding", c->name, why);
        goto fail;
    }
    pod = cJSON_Duplicate(o->json, 1);
    st = pod ? sim_jobj(pod, "status") : NULL;
    if (!st || sim_jset_str(sim_jobj(pod, "spec"), "nodeName", node) != 0) {
        sim_err_internal(&c->e, "out of memory");
        goto fail;
    }
    {
        const cJSON *a, *ann = sim_jget(body, "metadata", "annotations", NULL);
        cJSON_ArrayForEach(a, ann)
        {
            if (cJSON_IsString(a))
                sim_jset_str(sim_jobj(sim_jobj(pod, "metadata"), "annotations"), a->string,
                             a->valuestring);
        }
    }
    conds = sim_jget(st, "conditions", NULL);
    if (!cJSON_IsArray(conds)) {
        conds = cJSON_CreateArray();
        sim_jset(st, "conditions", conds);
    }
    for (int i = cJSON_GetArraySize(conds) - 1; i >= 0; i--) {
        const char *t = sim_jstr(cJSON_GetArrayItem(conds, i), "type", NULL);
        if (t && strcmp(t, "PodScheduled") == 0)
            cJSON_DeleteItemFromArray(conds, i);
    }
    cond = cJSON_CreateObject();
    sim_rfc3339(sim_now_unix(), ts);
    if (cond) {
        cJSON_AddStringToObject(cond, "type", "PodScheduled");
        cJSON_AddStringToObject(cond, "status", "True");
        cJSON_AddNullToObject(cond, "lastProbeTime");
        cJSON_AddStringToObject(cond, "lastTransitionTime", ts);
        cJSON_AddItemToArray(conds, cond);
    }
    if (!c->dry_run) {
        if (!sim_store_put(c->srv->store, c->coll, pod)) {
            pod = NULL;
            sim_err_internal(&c->e, "cannot store the object");
            goto fail;
        }
        pod = NULL;
        c->srv->persist_dirty = 1;
    }
    cJSON_Delete(pod);
    cJSON_Delete(body);
    {
        cJSON *ok = cJSON_CreateObject();
        if (ok) {
            cJSON_AddStringToObject(ok, "kind", "Status");
            cJSON_AddStringToObject(ok, "apiVersion", "v1");
            cJSON_AddObjectToObject(ok, "metadata");
            cJSON_AddStringToObject(ok, "status", "Success");
            cJSON_AddNumberToObject(ok, "code", 201);
        }
        sim_respond_json(c->resp, 201, ok);
    }
    return;
fail:
    cJSON_Delete(pod);
    cJSON_Delete(body);
    fail(c);
}

static void do_finalize(struct ctx *c)
{
    cJSON *obj = parse_body(c);
    struct sim_obj *o = sim_coll_get(c->coll, "", c->name);
    cJSON *merged;
    if (!obj) {
        fail(c);
        return;
    }
    if (!o) {
        cJSON_Delete(obj);
        sim_err_not_found(&c->e, "", "namespaces", c->name);
        fail(c);
        return;
    }
    merged = cJSON_Duplicate(o->json, 1);
    if (merged) {
        cJSON *spec = sim_jobj(merged, "spec");
        const cJSON *nf = sim_jget(obj, "spec", "finalizers", NULL);
        if (spec)
            sim_jset(spec, "finalizers", nf ? cJSON_Duplicate(nf, 1) : cJSON_CreateArray());
        sim_jset_str(sim_jobj(merged, "metadata"), "resourceVersion",
                     sim_jstr(obj, "metadata", "resourceVersion", NULL)
                         ? sim_jstr(obj, "metadata", "resourceVersion", NULL)
                         : "");
    }
    cJSON_Delete(obj);
    if (!merged) {
        sim_err_internal(&c->e, "out of memory");
        fail(c);
        return;
    }
    /* The finalize subresource writes only spec.finalizers. */
    {
        cJSON *cur = cJSON_Duplicate(o->json, 1);
        cJSON *spec = cur ? sim_jobj(cur, "spec") : NULL;
        if (!spec) {
            cJSON_Delete(cur);
            cJSON_Delete(merged);
            sim_err_internal(&c->e, "out of memory");
            fail(c);
            return;
        }
        copy_member(spec, sim_jget(merged, "spec", NULL), "finalizers");
        sim_jset_str(sim_jobj(cur, "metadata"), "resourceVersion",
                     sim_jstr(merged, "metadata", "resourceVersion", NULL));
        cJSON_Delete(merged);
        update_common(c, o->json, cur, 0, 0);
    }
}

void sim_verbs_serve(struct sim_server *srv, const struct sim_kind *k,
                     const struct sim_request *req, const struct sim_reqinfo *ri,
                     struct sim_response *resp)
{
    struct ctx c;
    const char *verb = ri->verb;
    memset(&c, 0, sizeof(c));
    c.srv = srv;
    c.k = k;
    c.req = req;
    c.ri = ri;
    c.resp = resp;
    c.ns = k->namespaced ? ri->ns : "";
    c.name = ri->name;
    c.coll = sim_store_coll(srv->store, k->store_group, k->store_resource, 1);
    if (!c.coll) {
        sim_err_internal(&c.e, "out of memory");
        fail(&c);
        return;
    }
    if (parse_dry_run(&c) != 0 || parse_fv(&c) != 0) {
        fail(&c);
        return;
    }
    if (*ri->subresource) {
        const char *sub = ri->subresource;
        if (strcmp(sub, "status") == 0 && k->has_status) {
            if (strcmp(verb, "get") == 0)
                do_get(&c);
            else if (strcmp(verb, "update") == 0)
                do_update(&c, 1);
            else if (strcmp(verb, "patch") == 0)
                do_patch(&c, 1);
            else
                goto method;
            return;
        }
        if (strcmp(sub, "token") == 0 && !*k->group &&
            strcmp(k->resource, "serviceaccounts") == 0) {
            if (strcmp(verb, "create") != 0)
                goto method;
            do_token(&c);
            return;
        }
        if (strcmp(sub, "binding") == 0 && !*k->group && strcmp(k->resource, "pods") == 0) {
            if (strcmp(verb, "create") != 0)
                goto method;
            do_binding(&c);
            return;
        }
        if (strcmp(sub, "finalize") == 0 && !*k->group && strcmp(k->resource, "namespaces") == 0) {
            if (strcmp(verb, "update") != 0)
                goto method;
            do_finalize(&c);
            return;
        }
        sim_err_no_route(&c.e);
        fail(&c);
        return;
    }
    if (strcmp(verb, "get") == 0)
        do_get(&c);
    else if (strcmp(verb, "list") == 0)
        do_list(&c);
    else if (strcmp(verb, "watch") == 0)
        do_watch(&c);
    else if (strcmp(verb, "create") == 0) {
        if (*ri->name)
            goto method;
        do_create(&c);
    } else if (strcmp(verb, "update") == 0 && *ri->name)
        do_update(&c, 0);
    else if (strcmp(verb, "patch") == 0 && *ri->name)
        do_patch(&c, 0);
    else if (strcmp(verb, "delete") == 0)
        do_delete(&c);
    else if (strcmp(verb, "deletecollection") == 0)
        do_deletecollection(&c);
    else
        goto method;
    return;
method:
    sim_err_method_not_allowed(&c.e);
    fail(&c);
}

int sim_delete_object(struct sim_server *srv, const struct sim_kind *k, const char *ns,
                      const char *name, const char *policy, struct sim_err *e)
{
    struct sim_coll *coll = sim_store_coll(srv->store, k->store_group, k->store_resource, 1);
    struct del_opts d;
    cJSON *out = NULL;
    int removed, rc;
    memset(&d, 0, sizeof(d));
    d.policy = policy;
    if (!coll)
        return sim_err_internal(e, "out of memory");
    rc = delete_obj(srv, k, coll, ns ? ns : "", name, &d, &out, &removed, e);
    cJSON_Delete(out);
    return rc;
}

int sim_controller_update(struct sim_server *srv, struct sim_coll *c, cJSON *obj)
{
    const cJSON *meta = sim_jget(obj, "metadata", NULL);
    const char *ns = sim_jstr(meta, "namespace", NULL);
    const char *name = sim_jstr(meta, "name", NULL);
    char nsb[256], nameb[256];
    int is_ns = !*c->group && strcmp(c->resource, "namespaces") == 0;
    if (!name)
        return -1;
    sim_strlcpy(nsb, ns ? ns : "", sizeof(nsb));
    sim_strlcpy(nameb, name, sizeof(nameb));
    if (sim_jget(meta, "deletionTimestamp", NULL) &&
        cJSON_GetArraySize(sim_jget(meta, "finalizers", NULL)) == 0 && !graceful_pending(meta) &&
        !(is_ns && cJSON_GetArraySize(sim_jget(obj, "spec", "finalizers", NULL)) > 0)) {
        const struct sim_kind *k = sim_kinds_storage(srv->kinds, c->group, c->resource);
        cJSON *last;
        replace_silently(c, nsb, nameb, obj);
        last = k ? remove_now(srv, k, c, nsb, nameb) : NULL;
        if (!k)
            sim_store_remove(srv->store, c, nsb, nameb);
        cJSON_Delete(last);
        return 0;
    }
    if (!sim_store_put(srv->store, c, obj))
        return -1;
    srv->persist_dirty = 1;
    return 0;
}
