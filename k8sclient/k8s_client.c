/*
 * The REST verbs of the Kubernetes client (see k8s_client.h): paths and query
 * strings for any group/version/resource, JSON bodies in and out, and list
 * pagination. Everything that touches the network is in k8s_transport.c;
 * discovery is in k8s_discovery.c and the watch verb in k8s_watch.c.
 *
 * Query values are percent-encoded with curl_easy_escape (a label selector
 * like "app in (a,b)" carries spaces, commas and parentheses); path segments
 * (namespace, name) are encoded here the same way, so a name can never add a
 * path segment of its own.
 */
#include "k8s_client.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8s_buf.h"
#include "k8s_patch.h"
#include "k8s_transport.h"

/* Longest path plus query string we build (selectors can be long). */
#define MAX_URL_LEN (64u * 1024u)
/* A guard against a server that never stops handing out continue tokens. */
#define MAX_LIST_PAGES 100000

struct k8s_client {
    struct k8s_transport *tr;
};

/* Which query parameters a verb takes from struct k8s_opts. */
enum {
    Q_RV = 1 << 0,     /* resourceVersion */
    Q_SELECT = 1 << 1, /* labelSelector, fieldSelector */
    Q_PAGE = 1 << 2,   /* limit, continue */
    Q_DRYRUN = 1 << 3, /* dryRun=All */
    Q_WRITE = 1 << 4,  /* fieldValidation, fieldManager */
};

int k8s_client_new(const struct k8s_config *cfg, struct k8s_client **out, struct k8s_error *err)
{
    int rc = 0;
    *out = NULL;
    struct k8s_client *c = calloc(1, sizeof(*c));
    if (!c)
        return k8s_error_set(err, K8S_ENOMEM, "out of memory");
    rc = k8s_transport_new(cfg, &c->tr, err);
    if (rc)
        goto out;
    *out = c;
    c = NULL;
out:
    k8s_client_free(c);
    return rc;
}

void k8s_client_free(struct k8s_client *c)
{
    if (!c)
        return;
    k8s_transport_free(c->tr);
    free(c);
}

const struct k8s_config *k8s_client_config(const struct k8s_client *c)
{
    return k8s_transport_config(c->tr);
}

void k8s_client_set_observer(struct k8s_client *c, k8s_request_observer fn, void *user)
{
    k8s_transport_set_observer(c->tr, fn, user);
}

void k8s_client_set_write_gate(struct k8s_client *c, k8s_write_gate fn, void *user)
{
    k8s_transport_set_write_gate(c->tr, fn, user);
}

void k8s_client_get_stats(struct k8s_client *c, struct k8s_client_stats *out)
{
    k8s_transport_get_stats(c->tr, out);
}

struct k8s_transport *k8s_client_transport(struct k8s_client *c)
{
    return c->tr;
}

void k8s_response_free(struct k8s_response *r)
{
    if (!r)
        return;
    free(r->body);
    free(r->content_type);
    free(r->warning);
    memset(r, 0, sizeof(*r));
}

/* Appends one percent-encoded path segment ("/" + seg) to buf[*len]. */
static int put_segment(char *buf, size_t cap, size_t *len, const char *seg)
{
    static const char hex[] = "0123456789ABCDEF";
    if (!seg || !*seg)
        return K8S_EARG;
    if (*len + 1 >= cap)
        return K8S_EARG;
    buf[(*len)++] = '/';
    for (const unsigned char *p = (const unsigned char *)seg; *p; p++) {
        int plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~' ||
                    *p == ':';
        size_t need = plain ? 1 : 3;
        if (*len + need >= cap)
            return K8S_EARG;
        if (plain) {
            buf[(*len)++] = (char)*p;
        } else {
            buf[(*len)++] = '%';
            buf[(*len)++] = hex[*p >> 4];
            buf[(*len)++] = hex[*p & 15];
        }
    }
    buf[*len] = '\0';
    return 0;
}

int k8s_resource_path(const struct k8s_resource *res, const char *ns, const char *name,
                      const char *subresource, char *buf, size_t cap)
{
    int rc = 0;
    size_t len = 0;
    if (!res || !res->version || !*res->version || !res->resource || !*res->resource || !buf ||
        cap == 0)
        return K8S_EARG;
    buf[0] = '\0';
    if (subresource && *subresource && !(name && *name))
        return K8S_EARG;
    if (res->group && *res->group) {
        rc = put_segment(buf, cap, &len, "apis");
        if (!rc)
            rc = put_segment(buf, cap, &len, res->group);
    } else {
        rc = put_segment(buf, cap, &len, "api");
    }
    if (!rc)
        rc = put_segment(buf, cap, &len, res->version);
    if (!rc && res->namespaced && ns && *ns) {
        rc = put_segment(buf, cap, &len, "namespaces");
        if (!rc)
            rc = put_segment(buf, cap, &len, ns);
    }
    if (!rc)
        rc = put_segment(buf, cap, &len, res->resource);
    if (!rc && name && *name)
        rc = put_segment(buf, cap, &len, name);
    if (!rc && subresource && *subresource)
        rc = put_segment(buf, cap, &len, subresource);
    if (rc)
        buf[0] = '\0';
    return rc;
}

/* The path of (res, ns, name, opts->subresource) plus the query parameters
 * selected by `q`, into `u` (initialised here). */
static int build_url(const struct k8s_resource *res, const char *ns, const char *name,
                     const struct k8s_opts *o, unsigned q, const char *continue_token,
                     struct k8s_buf *u, struct k8s_error *err)
{
    int rc = 0;
    char path[2048];
    k8s_buf_init(u, MAX_URL_LEN);
    rc = k8s_resource_path(res, ns, name, o ? o->subresource : NULL, path, sizeof(path));
    if (rc)
        return k8s_error_set(
            err, K8S_EARG, "cannot build a path for %s/%s %s (ns \"%s\", name \"%s\")",
            res && res->group ? res->group : "", res && res->version ? res->version : "",
            res && res->resource ? res->resource : "(none)", ns ? ns : "", name ? name : "");
    rc = k8s_buf_append(u, path, strlen(path));
    if (rc || !o)
        goto out;
    if ((q & Q_SELECT) && o->label_selector && *o->label_selector)
        rc = k8s_query_add(u, "labelSelector", o->label_selector);
    if (!rc && (q & Q_SELECT) && o->field_selector && *o->field_selector)
        rc = k8s_query_add(u, "fieldSelector", o->field_selector);
    if (!rc && (q & Q_PAGE) && o->limit > 0)
        rc = k8s_buf_appendf(u, "%climit=%ld", strchr(u->data, '?') ? '&' : '?', o->limit);
    if (!rc && (q & Q_PAGE) && continue_token && *continue_token)
        rc = k8s_query_add(u, "continue", continue_token);
    /* The API refuses a resourceVersion next to a continue token: the token
     * already pins the snapshot. */
    if (!rc && (q & Q_RV) && o->resource_version && *o->resource_version &&
        !(continue_token && *continue_token))
        rc = k8s_query_add(u, "resourceVersion", o->resource_version);
    if (!rc && (q & Q_DRYRUN) && o->dry_run)
        rc = k8s_query_add(u, "dryRun", "All");
    if (!rc && (q & Q_WRITE) && o->field_validation && *o->field_validation)
        rc = k8s_query_add(u, "fieldValidation", o->field_validation);
    if (!rc && (q & Q_WRITE) && o->field_manager && *o->field_manager)
        rc = k8s_query_add(u, "fieldManager", o->field_manager);
    if (!rc && o->extra_query && *o->extra_query)
        rc = k8s_buf_appendf(u, "%c%s", strchr(u->data, '?') ? '&' : '?', o->extra_query);
out:
    if (rc) {
        k8s_buf_free(u);
        return k8s_error_set(err, K8S_EARG, "request URL longer than %u bytes", MAX_URL_LEN);
    }
    return 0;
}

int k8s_request(struct k8s_client *c, const char *method, const char *path_query,
                const char *content_type, const char *body, size_t body_len, const char *accept,
                struct k8s_response *resp, struct k8s_error *err)
{
    struct k8s_response local;
    if (!resp)
        resp = &local;
    struct k8s_transport_req req = {
        .method = method,
        .path_query = path_query,
        .content_type = content_type,
        .body = body,
        .body_len = body_len,
        .accept = accept,
    };
    int rc = k8s_transport_do(c->tr, &req, resp, err);
    if (resp == &local)
        k8s_response_free(&local);
    return rc;
}

/* One request whose answer is a JSON document; *out gets the parsed tree. */
static int request_json(struct k8s_client *c, const char *method, const char *path_query,
                        const char *content_type, const char *body, size_t body_len,
                        const char *accept, cJSON **out, struct k8s_error *err)
{
    struct k8s_response resp;
    if (out)
        *out = NULL;
    int rc = k8s_request(c, method, path_query, content_type, body, body_len, accept, &resp, err);
    if (rc || !out)
        goto out;
    *out = cJSON_ParseWithLength(resp.body, resp.body_len);
    if (!*out) {
        size_t plen = strcspn(path_query, "?");
        rc =
            k8s_error_set(err, K8S_EDECODE, "%s %.*s: the answer (HTTP %ld, %zu bytes) is not JSON",
                          method, (int)plen, path_query, resp.status, resp.body_len);
        err->http_status = resp.status;
    }
out:
    k8s_response_free(&resp);
    return rc;
}

/* Serialises an object for a request body. */
static int to_json(const cJSON *obj, char **out, struct k8s_error *err)
{
    *out = NULL;
    if (!obj)
        return k8s_error_set(err, K8S_EARG, "no object given");
    /* k8s_json_print keeps every digit of large integers; cJSON_Print does not. */
    *out = k8s_json_print(obj, NULL);
    if (!*out)
        return k8s_error_set(err, K8S_ENOMEM, "out of memory serialising the object");
    return 0;
}

static const char *meta_string(const cJSON *obj, const char *field)
{
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(md, field);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int k8s_get(struct k8s_client *c, const struct k8s_resource *res, const char *ns, const char *name,
            const struct k8s_opts *opts, cJSON **out, struct k8s_error *err)
{
    struct k8s_buf u;
    *out = NULL;
    if (!name || !*name)
        return k8s_error_set(err, K8S_EARG, "get needs a name");
    int rc = build_url(res, ns, name, opts, Q_RV, NULL, &u, err);
    if (rc)
        return rc;
    rc = request_json(c, "GET", u.data, NULL, NULL, 0, opts ? opts->accept : NULL, out, err);
    k8s_buf_free(&u);
    return rc;
}

int k8s_get_text(struct k8s_client *c, const struct k8s_resource *res, const char *ns,
                 const char *name, const struct k8s_opts *opts, char **out, size_t *out_len,
                 struct k8s_error *err)
{
    struct k8s_buf u;
    struct k8s_response resp;
    *out = NULL;
    if (out_len)
        *out_len = 0;
    if (!name || !*name)
        return k8s_error_set(err, K8S_EARG, "get needs a name");
    int rc = build_url(res, ns, name, opts, Q_RV, NULL, &u, err);
    if (rc)
        return rc;
    rc = k8s_request(c, "GET", u.data, NULL, NULL, 0, opts && opts->accept ? opts->accept : "*/*",
                     &resp, err);
    if (rc == 0) {
        *out = resp.body;
        if (out_len)
            *out_len = resp.body_len;
        resp.body = NULL;
    }
    k8s_response_free(&resp);
    k8s_buf_free(&u);
    return rc;
}

/* Moves every item of `page` to the end of `items`. */
static void take_items(cJSON *items, cJSON *page)
{
    cJSON *from = cJSON_GetObjectItemCaseSensitive(page, "items");
    if (!cJSON_IsArray(from))
        return;
    cJSON *it;
    while ((it = cJSON_DetachItemFromArray(from, 0)) != NULL)
        cJSON_AddItemToArray(items, it);
}

/* Sets result.metadata[key] to a copy of page.metadata[key] (or removes it). */
static int copy_meta(cJSON *result, const cJSON *page, const char *key)
{
    cJSON *md = cJSON_GetObjectItemCaseSensitive(result, "metadata");
    if (!md) {
        md = cJSON_AddObjectToObject(result, "metadata");
        if (!md)
            return K8S_ENOMEM;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(md, key);
    const cJSON *v =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(page, "metadata"), key);
    if (!v)
        return 0;
    cJSON *dup = cJSON_Duplicate(v, 1);
    if (!dup)
        return K8S_ENOMEM;
    cJSON_AddItemToObject(md, key, dup);
    return 0;
}

int k8s_list(struct k8s_client *c, const struct k8s_resource *res, const char *ns,
             const struct k8s_opts *opts, cJSON **out, struct k8s_error *err)
{
    int rc = 0;
    cJSON *result = NULL, *page = NULL;
    char *next = NULL;
    struct k8s_buf u = {0};
    *out = NULL;
    const char *cont = opts ? opts->continue_token : NULL;
    for (int pages = 0;; pages++) {
        if (pages == MAX_LIST_PAGES) {
            rc = k8s_error_set(err, K8S_EDECODE, "list of %s: more than %d pages", res->resource,
                               MAX_LIST_PAGES);
            goto out;
        }
        rc = build_url(res, ns, NULL, opts, Q_RV | Q_SELECT | Q_PAGE, cont, &u, err);
        if (rc)
            goto out;
        rc = request_json(c, "GET", u.data, NULL, NULL, 0, opts ? opts->accept : NULL, &page, err);
        k8s_buf_free(&u);
        if (rc)
            goto out;
        if (!cJSON_IsObject(page)) {
            rc = k8s_error_set(err, K8S_EDECODE, "list of %s: the answer is not an object",
                               res->resource);
            goto out;
        }
        const char *c_tok = meta_string(page, "continue");
        free(next);
        next = c_tok && *c_tok ? strdup(c_tok) : NULL;
        if (c_tok && *c_tok && !next) {
            rc = k8s_error_set(err, K8S_ENOMEM, "out of memory");
            goto out;
        }
        if (!result) {
            result = page;
            page = NULL;
            if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(result, "items"))) {
                cJSON_DeleteItemFromObjectCaseSensitive(result, "items");
                if (!cJSON_AddArrayToObject(result, "items")) {
                    rc = k8s_error_set(err, K8S_ENOMEM, "out of memory");
                    goto out;
                }
            }
        } else {
            take_items(cJSON_GetObjectItemCaseSensitive(result, "items"), page);
            /* The merged List is as of the last page's snapshot. */
            rc = copy_meta(result, page, "resourceVersion");
            if (rc) {
                k8s_error_set(err, rc, "out of memory");
                goto out;
            }
            cJSON_Delete(page);
            page = NULL;
        }
        if (!next || (opts && opts->single_page))
            break;
        cont = next;
    }
    if (!(opts && opts->single_page)) {
        /* One List with everything: no page markers left over. */
        cJSON *md = cJSON_GetObjectItemCaseSensitive(result, "metadata");
        cJSON_DeleteItemFromObjectCaseSensitive(md, "continue");
        cJSON_DeleteItemFromObjectCaseSensitive(md, "remainingItemCount");
    }
    *out = result;
    result = NULL;
out:
    free(next);
    cJSON_Delete(page);
    cJSON_Delete(result);
    return rc;
}

/* The namespace to write to: the argument, else the object's own. */
static const char *write_ns(const struct k8s_resource *res, const char *ns, const cJSON *obj)
{
    if (!res->namespaced)
        return NULL;
    if (ns && *ns)
        return ns;
    return meta_string(obj, "namespace");
}

int k8s_create(struct k8s_client *c, const struct k8s_resource *res, const char *ns,
               const cJSON *obj, const struct k8s_opts *opts, cJSON **out, struct k8s_error *err)
{
    struct k8s_buf u = {0};
    if (out)
        *out = NULL;
    char *body = NULL;
    int rc = to_json(obj, &body, err);
    if (rc)
        return rc;
    ns = write_ns(res, ns, obj);
    if (res->namespaced && !ns) {
        rc = k8s_error_set(err, K8S_EARG, "create %s: no namespace given", res->resource);
        goto out;
    }
    rc = build_url(res, ns, NULL, opts, Q_DRYRUN | Q_WRITE, NULL, &u, err);
    if (rc)
        goto out;
    rc = request_json(c, "POST", u.data, "application/json", body, strlen(body),
                      opts ? opts->accept : NULL, out, err);
out:
    k8s_buf_free(&u);
    free(body);
    return rc;
}

int k8s_update(struct k8s_client *c, const struct k8s_resource *res, const char *ns,
               const char *name, const cJSON *obj, const struct k8s_opts *opts, cJSON **out,
               struct k8s_error *err)
{
    struct k8s_buf u = {0};
    if (out)
        *out = NULL;
    char *body = NULL;
    int rc = to_json(obj, &body, err);
    if (rc)
        return rc;
    ns = write_ns(res, ns, obj);
    if (!name || !*name)
        name = meta_string(obj, "name");
    if (!name || !*name || (res->namespaced && !ns)) {
        rc = k8s_error_set(err, K8S_EARG, "update %s: no %s given", res->resource,
                           name && *name ? "namespace" : "name");
        goto out;
    }
    rc = build_url(res, ns, name, opts, Q_DRYRUN | Q_WRITE, NULL, &u, err);
    if (rc)
        goto out;
    rc = request_json(c, "PUT", u.data, "application/json", body, strlen(body),
                      opts ? opts->accept : NULL, out, err);
out:
    k8s_buf_free(&u);
    free(body);
    return rc;
}

int k8s_patch(struct k8s_client *c, const struct k8s_resource *res, const char *ns,
              const char *name, enum k8s_patch_type type, const cJSON *patch,
              const struct k8s_opts *opts, cJSON **out, struct k8s_error *err)
{
    static const char *const ctypes[] = {
        [K8S_PATCH_MERGE] = "application/merge-patch+json",
        [K8S_PATCH_JSON] = "application/json-patch+json",
        [K8S_PATCH_STRATEGIC] = "application/strategic-merge-patch+json",
    };
    struct k8s_buf u = {0};
    if (out)
        *out = NULL;
    if ((unsigned)type > K8S_PATCH_STRATEGIC)
        return k8s_error_set(err, K8S_EARG, "unknown patch type %d", (int)type);
    if (!name || !*name)
        return k8s_error_set(err, K8S_EARG, "patch %s: no name given", res->resource);
    char *body = NULL;
    int rc = to_json(patch, &body, err);
    if (rc)
        return rc;
    rc = build_url(res, ns, name, opts, Q_DRYRUN | Q_WRITE, NULL, &u, err);
    if (rc)
        goto out;
    rc = request_json(c, "PATCH", u.data, ctypes[type], body, strlen(body),
                      opts ? opts->accept : NULL, out, err);
out:
    k8s_buf_free(&u);
    free(body);
    return rc;
}

int k8s_patch_tested(struct k8s_client *c, const struct k8s_resource *res, const char *ns,
                     const char *name, const char *rv, const cJSON *json_patch,
                     const struct k8s_opts *opts, cJSON **out, struct k8s_error *err)
{
    struct k8s_error refusal, gerr;
    cJSON *now = NULL;
    const char *now_rv;
    int rc;
    if (!rv || !*rv)
        return k8s_error_set(err, K8S_EARG, "patch %s: no resourceVersion to test", res->resource);
    rc = k8s_patch(c, res, ns, name, K8S_PATCH_JSON, json_patch, opts, out, err);
    if (rc != K8S_EINVALID)
        return rc;
    refusal = err ? *err : (struct k8s_error){0};
    k8s_error_clear(&gerr);
    rc = k8s_get(c, res, ns, name, NULL, &now, &gerr);
    if (rc) {
        if (err)
            *err = gerr;
        return rc;
    }
    now_rv = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(now, "metadata"), "resourceVersion"));
    if (now_rv && strcmp(now_rv, rv) == 0) {
        if (err)
            *err = refusal;
        rc = K8S_EINVALID;
    } else {
        rc = k8s_error_set(err, K8S_ECONFLICT, "%s %s%s%s changed since it was read; re-read it",
                           res->resource, ns && *ns ? ns : "", ns && *ns ? "/" : "", name);
    }
    cJSON_Delete(now);
    return rc;
}

/* A DeleteOptions body for dopts (and dry run), or NULL when nothing to say. */
static int delete_body(const struct k8s_delete_opts *d, const struct k8s_opts *o, char **out,
                       struct k8s_error *err)
{
    int rc = 0;
    *out = NULL;
    int dry = o && o->dry_run;
    if (!d && !dry)
        return 0;
    cJSON *b = cJSON_CreateObject();
    if (!b || !cJSON_AddStringToObject(b, "kind", "DeleteOptions") ||
        !cJSON_AddStringToObject(b, "apiVersion", "v1"))
        goto nomem;
    if (d && d->propagation_policy && *d->propagation_policy &&
        !cJSON_AddStringToObject(b, "propagationPolicy", d->propagation_policy))
        goto nomem;
    if (d && d->grace_period_seconds >= 0 &&
        !cJSON_AddNumberToObject(b, "gracePeriodSeconds", (double)d->grace_period_seconds))
        goto nomem;
    if (d && ((d->precondition_uid && *d->precondition_uid) ||
              (d->precondition_resource_version && *d->precondition_resource_version))) {
        cJSON *pre = cJSON_AddObjectToObject(b, "preconditions");
        if (!pre)
            goto nomem;
        if (d->precondition_uid && *d->precondition_uid &&
            !cJSON_AddStringToObject(pre, "uid", d->precondition_uid))
            goto nomem;
        if (d->precondition_resource_version && *d->precondition_resource_version &&
            !cJSON_AddStringToObject(pre, "resourceVersion", d->precondition_resource_version))
            goto nomem;
    }
    if (dry) {
        cJSON *arr = cJSON_AddArrayToObject(b, "dryRun");
        cJSON *all = cJSON_CreateString("All");
        if (!arr || !all) {
            cJSON_Delete(all);
            goto nomem;
        }
        cJSON_AddItemToArray(arr, all);
    }
    *out = k8s_json_print(b, NULL);
    if (!*out)
        goto nomem;
    goto out;
nomem:
    rc = k8s_error_set(err, K8S_ENOMEM, "out of memory building DeleteOptions");
out:
    cJSON_Delete(b);
    return rc;
}

int k8s_delete(struct k8s_client *c, const struct k8s_resource *res, const char *ns,
               const char *name, const struct k8s_delete_opts *dopts, const struct k8s_opts *opts,
               cJSON **out, struct k8s_error *err)
{
    struct k8s_buf u = {0};
    char *body = NULL;
    if (out)
        *out = NULL;
    if (!name || !*name)
        return k8s_error_set(err, K8S_EARG, "delete %s: no name given", res->resource);
    int rc = delete_body(dopts, opts, &body, err);
    if (rc)
        goto out;
    rc = build_url(res, ns, name, opts, Q_DRYRUN, NULL, &u, err);
    if (rc)
        goto out;
    rc = request_json(c, "DELETE", u.data, body ? "application/json" : NULL, body,
                      body ? strlen(body) : 0, opts ? opts->accept : NULL, out, err);
out:
    k8s_buf_free(&u);
    free(body);
    return rc;
}

int k8s_delete_collection(struct k8s_client *c, const struct k8s_resource *res, const char *ns,
                          const struct k8s_delete_opts *dopts, const struct k8s_opts *opts,
                          struct k8s_error *err)
{
    struct k8s_buf u = {0};
    char *body = NULL;
    int rc = delete_body(dopts, opts, &body, err);
    if (rc)
        goto out;
    rc = build_url(res, ns, NULL, opts, Q_SELECT | Q_DRYRUN, NULL, &u, err);
    if (rc)
        goto out;
    rc = k8s_request(c, "DELETE", u.data, body ? "application/json" : NULL, body,
                     body ? strlen(body) : 0, opts ? opts->accept : NULL, NULL, err);
out:
    k8s_buf_free(&u);
    free(body);
    return rc;
}
