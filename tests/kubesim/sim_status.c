/*
 * metav1.Status bodies with kube-apiserver's own sentences (see sim_status.h).
 * The wording follows k8s.io/apimachinery/pkg/api/errors and
 * k8s.io/apimachinery/pkg/util/validation/field: a resource is qualified as
 * "<resource>.<group>" (bare for the core group), a kind as "<Kind>.<group>",
 * several field errors aggregate as "[a, b]".
 */
#include "sim_status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sim_util.h"

void sim_err_clear(struct sim_err *e)
{
    memset(e, 0, sizeof(*e));
}

void sim_qualified(const char *group, const char *name, char *buf, size_t cap)
{
    if (group && *group)
        snprintf(buf, cap, "%s.%s", name, group);
    else
        snprintf(buf, cap, "%s", name);
}

static void set_details(struct sim_err *e, const char *group, const char *kind, const char *name)
{
    e->has_details = 1;
    sim_strlcpy(e->d_group, group ? group : "", sizeof(e->d_group));
    sim_strlcpy(e->d_kind, kind ? kind : "", sizeof(e->d_kind));
    sim_strlcpy(e->d_name, name ? name : "", sizeof(e->d_name));
}

int sim_err_set(struct sim_err *e, int code, const char *reason, const char *fmt, ...)
{
    va_list ap;
    size_t nc = e->ncauses;
    struct sim_err keep;
    /* Keep causes collected so far only for Invalid; everything else starts clean. */
    if (nc)
        memcpy(&keep, e, sizeof(keep));
    sim_err_clear(e);
    if (nc && strcmp(reason, "Invalid") == 0) {
        e->ncauses = nc;
        memcpy(e->causes, keep.causes, sizeof(e->causes));
    }
    e->code = code;
    sim_strlcpy(e->reason, reason, sizeof(e->reason));
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
    return -code;
}

int sim_err_not_found(struct sim_err *e, const char *group, const char *resource, const char *name)
{
    char q[512];
    sim_qualified(group, resource, q, sizeof(q));
    if (name && *name)
        sim_err_set(e, 404, "NotFound", "%s \"%s\" not found", q, name);
    else
        sim_err_set(e, 404, "NotFound", "%s not found", q);
    set_details(e, group, resource, name);
    return -404;
}

int sim_err_already_exists(struct sim_err *e, const char *group, const char *resource,
                           const char *name)
{
    char q[512];
    sim_qualified(group, resource, q, sizeof(q));
    sim_err_set(e, 409, "AlreadyExists", "%s \"%s\" already exists", q, name);
    set_details(e, group, resource, name);
    return -409;
}

int sim_err_conflict(struct sim_err *e, const char *group, const char *resource, const char *name,
                     const char *why)
{
    char q[512];
    sim_qualified(group, resource, q, sizeof(q));
    sim_err_set(e, 409, "Conflict", "Operation cannot be fulfilled on %s \"%s\": %s", q, name, why);
    set_details(e, group, resource, name);
    return -409;
}

int sim_err_conflict_modified(struct sim_err *e, const char *group, const char *resource,
                              const char *name)
{
    return sim_err_conflict(e, group, resource, name,
                            "the object has been modified; please apply your changes to the "
                            "latest version and try again");
}

void sim_err_add_cause(struct sim_err *e, const char *type, const char *field, const char *fmt, ...)
{
    va_list ap;
    struct sim_cause *c;
    if (e->ncauses >= SIM_MAX_CAUSES)
        return;
    c = &e->causes[e->ncauses++];
    sim_strlcpy(c->type, type, sizeof(c->type));
    sim_strlcpy(c->field, field ? field : "", sizeof(c->field));
    va_start(ap, fmt);
    vsnprintf(c->detail, sizeof(c->detail), fmt, ap);
    va_end(ap);
}

int sim_err_invalid_finish(struct sim_err *e, const char *group, const char *kind, const char *name)
{
    char q[512];
    char agg[3500];
    size_t off = 0;
    sim_qualified(group, kind, q, sizeof(q));
    agg[0] = '\0';
    if (e->ncauses > 1)
        off += (size_t)snprintf(agg + off, sizeof(agg) - off, "[");
    for (size_t i = 0; i < e->ncauses && off < sizeof(agg); i++) {
        const struct sim_cause *c = &e->causes[i];
        off += (size_t)snprintf(agg + off, sizeof(agg) - off, "%s%s%s%s", i ? ", " : "", c->field,
                                *c->field ? ": " : "", c->detail);
    }
    if (e->ncauses > 1 && off < sizeof(agg))
        snprintf(agg + off, sizeof(agg) - off, "]");
    if (e->ncauses)
        sim_err_set(e, 422, "Invalid", "%s \"%s\" is invalid: %s", q, name, agg);
    else
        sim_err_set(e, 422, "Invalid", "%s \"%s\" is invalid", q, name);
    set_details(e, group, kind, name);
    return -422;
}

int sim_err_invalid1(struct sim_err *e, const char *group, const char *kind, const char *name,
                     const char *type, const char *field, const char *detail)
{
    sim_err_add_cause(e, type, field, "%s", detail);
    return sim_err_invalid_finish(e, group, kind, name);
}

int sim_err_forbidden(struct sim_err *e, const char *group, const char *resource, const char *name,
                      const char *why)
{
    char q[512];
    sim_qualified(group, resource, q, sizeof(q));
    if (!resource || !*resource)
        sim_err_set(e, 403, "Forbidden", "forbidden: %s", why);
    else if (!name || !*name)
        sim_err_set(e, 403, "Forbidden", "%s is forbidden: %s", q, why);
    else
        sim_err_set(e, 403, "Forbidden", "%s \"%s\" is forbidden: %s", q, name, why);
    set_details(e, group, resource, name);
    return -403;
}

int sim_err_bad_request(struct sim_err *e, const char *fmt, ...)
{
    va_list ap;
    sim_err_set(e, 400, "BadRequest", "%s", "");
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
    return -400;
}

int sim_err_unauthorized(struct sim_err *e)
{
    return sim_err_set(e, 401, "Unauthorized", "Unauthorized");
}

int sim_err_method_not_allowed(struct sim_err *e)
{
    return sim_err_set(e, 405, "MethodNotAllowed",
                       "the server does not allow this method on the requested resource");
}

int sim_err_no_route(struct sim_err *e)
{
    sim_err_set(e, 404, "NotFound", "the server could not find the requested resource");
    e->has_details = 1;
    return -404;
}

int sim_err_expired(struct sim_err *e, const char *fmt, ...)
{
    va_list ap;
    sim_err_set(e, 410, "Expired", "%s", "");
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
    return -410;
}

int sim_err_unsupported_media(struct sim_err *e, const char *accepted)
{
    return sim_err_set(e, 415, "UnsupportedMediaType",
                       "the body of the request was in an unknown format - accepted media types "
                       "include: %s",
                       accepted);
}

int sim_err_internal(struct sim_err *e, const char *fmt, ...)
{
    va_list ap;
    char why[2048];
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    sim_err_set(e, 500, "InternalError", "Internal error occurred: %s", why);
    e->has_details = 1;
    sim_err_add_cause(e, "", "", "%s", why);
    return -500;
}

int sim_err_too_many_requests(struct sim_err *e, long retry_after)
{
    sim_err_set(e, 429, "TooManyRequests", "Too many requests, please try again later.");
    e->retry_after = retry_after;
    e->has_details = retry_after > 0;
    return -429;
}

cJSON *sim_err_to_status(const struct sim_err *e)
{
    cJSON *st = cJSON_CreateObject();
    cJSON *d;
    if (!st)
        return NULL;
    cJSON_AddStringToObject(st, "kind", "Status");
    cJSON_AddStringToObject(st, "apiVersion", "v1");
    cJSON_AddObjectToObject(st, "metadata");
    cJSON_AddStringToObject(st, "status", "Failure");
    cJSON_AddStringToObject(st, "message", e->message);
    cJSON_AddStringToObject(st, "reason", e->reason);
    if (e->has_details) {
        d = cJSON_AddObjectToObject(st, "details");
        if (d && *e->d_name)
            cJSON_AddStringToObject(d, "name", e->d_name);
        if (d && *e->d_group)
            cJSON_AddStringToObject(d, "group", e->d_group);
        if (d && *e->d_kind)
            cJSON_AddStringToObject(d, "kind", e->d_kind);
        if (d && e->ncauses) {
            cJSON *arr = cJSON_AddArrayToObject(d, "causes");
            for (size_t i = 0; arr && i < e->ncauses; i++) {
                cJSON *c = cJSON_CreateObject();
                if (!c)
                    break;
                if (*e->causes[i].type)
                    cJSON_AddStringToObject(c, "reason", e->causes[i].type);
                cJSON_AddStringToObject(c, "message", e->causes[i].detail);
                if (*e->causes[i].field)
                    cJSON_AddStringToObject(c, "field", e->causes[i].field);
                cJSON_AddItemToArray(arr, c);
            }
        }
        if (d && e->retry_after > 0)
            cJSON_AddNumberToObject(d, "retryAfterSeconds", (double)e->retry_after);
    }
    cJSON_AddNumberToObject(st, "code", e->code);
    return st;
}
