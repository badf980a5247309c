/*
 * Decoding of API errors. A non-2xx answer from kube-apiserver carries a
 * metav1.Status {reason, message, code, details{causes[], retryAfterSeconds}};
 * we keep all of it. Bodies that are not a Status (a proxy's HTML page, say)
 * still yield a code from the HTTP status and the body's first bytes as message.
 */
#include "k8s_error.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void copy_str(char *dst, size_t cap, const char *src)
{
    if (!src)
        src = "";
    snprintf(dst, cap, "%s", src);
}

void k8s_error_clear(struct k8s_error *err)
{
    if (!err)
        return;
    memset(err, 0, sizeof(*err));
}

int k8s_error_set(struct k8s_error *err, int code, const char *fmt, ...)
{
    if (!err)
        return code;
    k8s_error_clear(err);
    err->code = code;
    copy_str(err->reason, sizeof(err->reason), k8s_err_name(code));
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return code;
}

int k8s_error_prefix(struct k8s_error *err, const char *fmt, ...)
{
    char ctx[512], msg[sizeof(err->message)];
    va_list ap;
    if (!err)
        return 0;
    va_start(ap, fmt);
    vsnprintf(ctx, sizeof(ctx), fmt, ap);
    va_end(ap);
    /* ctx + ": " + the old message, cut to fit (the context first). */
    size_t cl = strlen(ctx), ml = strlen(err->message), cap = sizeof(err->message) - 1, n = 0;
    memcpy(msg, ctx, cl < cap ? cl : cap);
    n = cl < cap ? cl : cap;
    if (n + 2 <= cap) {
        memcpy(msg + n, ": ", 2);
        n += 2;
    }
    if (ml > cap - n)
        ml = cap - n;
    memcpy(msg + n, err->message, ml);
    n += ml;
    msg[n] = '\0';
    memcpy(err->message, msg, n + 1);
    return err->code;
}

int k8s_errcode_for(long http_status, const char *reason)
{
    if (reason && *reason) {
        static const struct {
            const char *reason;
            int code;
        } by_reason[] = {
            {"NotFound", K8S_ENOTFOUND},
            {"AlreadyExists", K8S_EALREADYEXISTS},
            {"Conflict", K8S_ECONFLICT},
            {"Invalid", K8S_EINVALID},
            {"Forbidden", K8S_EFORBIDDEN},
            {"Unauthorized", K8S_EUNAUTHORIZED},
            {"Gone", K8S_EGONE},
            {"Expired", K8S_EGONE},
            {"TooManyRequests", K8S_ETOOMANYREQUESTS},
            {"ServerTimeout", K8S_ESERVERTIMEOUT},
            {"Timeout", K8S_ESERVERTIMEOUT},
            {"InternalError", K8S_EINTERNAL},
            {"ServiceUnavailable", K8S_ESERVICEUNAVAILABLE},
            {"MethodNotAllowed", K8S_EMETHOD},
            {"UnsupportedMediaType", K8S_EUNSUPPORTEDMEDIA},
            {"BadRequest", K8S_EBADREQUEST},
        };
        for (size_t i = 0; i < sizeof(by_reason) / sizeof(by_reason[0]); i++)
            if (strcmp(reason, by_reason[i].reason) == 0)
                return by_reason[i].code;
    }
    switch (http_status) {
    case 400:
        return K8S_EBADREQUEST;
    case 401:
        return K8S_EUNAUTHORIZED;
    case 403:
        return K8S_EFORBIDDEN;
    case 404:
        return K8S_ENOTFOUND;
    case 405:
        return K8S_EMETHOD;
    case 409:
        return K8S_ECONFLICT;
    case 410:
        return K8S_EGONE;
    case 415:
        return K8S_EUNSUPPORTEDMEDIA;
    case 422:
        return K8S_EINVALID;
    case 429:
        return K8S_ETOOMANYREQUESTS;
    case 500:
        return K8S_EINTERNAL;
    case 503:
        return K8S_ESERVICEUNAVAILABLE;
    case 504:
        return K8S_ESERVERTIMEOUT;
    default:
        return http_status >= 200 && http_status < 300 ? K8S_OK : K8S_EHTTP;
    }
}

int k8s_error_from_response(struct k8s_error *err, long http_status, const char *body,
                            size_t body_len)
{
    struct k8s_error scratch;
    if (!err)
        err = &scratch;
    k8s_error_clear(err);
    err->http_status = http_status;
    cJSON *st = body && body_len ? cJSON_ParseWithLength(body, body_len) : NULL;
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(st, "kind");
    if (cJSON_IsString(kind) && strcmp(kind->valuestring, "Status") == 0) {
        const cJSON *reason = cJSON_GetObjectItemCaseSensitive(st, "reason");
        const cJSON *message = cJSON_GetObjectItemCaseSensitive(st, "message");
        const cJSON *details = cJSON_GetObjectItemCaseSensitive(st, "details");
        if (cJSON_IsString(reason))
            copy_str(err->reason, sizeof(err->reason), reason->valuestring);
        if (cJSON_IsString(message))
            copy_str(err->message, sizeof(err->message), message->valuestring);
        const cJSON *ras = cJSON_GetObjectItemCaseSensitive(details, "retryAfterSeconds");
        /* Clamped before the conversion: a hostile 1e300 must not overflow. */
        if (cJSON_IsNumber(ras) && ras->valuedouble > 0)
            err->retry_after_seconds = ras->valuedouble < 86400 ? (long)ras->valuedouble : 86400;
        const cJSON *cause;
        cJSON_ArrayForEach(cause, cJSON_GetObjectItemCaseSensitive(details, "causes"))
        {
            if (err->ncauses == K8S_MAX_CAUSES)
                break;
            struct k8s_cause *c = &err->causes[err->ncauses++];
            const cJSON *f = cJSON_GetObjectItemCaseSensitive(cause, "field");
            const cJSON *r = cJSON_GetObjectItemCaseSensitive(cause, "reason");
            const cJSON *m = cJSON_GetObjectItemCaseSensitive(cause, "message");
            copy_str(c->field, sizeof(c->field), cJSON_IsString(f) ? f->valuestring : "");
            copy_str(c->reason, sizeof(c->reason), cJSON_IsString(r) ? r->valuestring : "");
            copy_str(c->message, sizeof(c->message), cJSON_IsString(m) ? m->valuestring : "");
        }
    } else if (body && body_len) {
        int n = body_len > 200 ? 200 : (int)body_len;
        snprintf(err->message, sizeof(err->message), "HTTP %ld: %.*s", http_status, n, body);
    } else {
        snprintf(err->message, sizeof(err->message), "HTTP %ld with an empty body", http_status);
    }
    cJSON_Delete(st);
    err->code = k8s_errcode_for(http_status, err->reason);
    if (!err->reason[0])
        copy_str(err->reason, sizeof(err->reason), k8s_err_name(err->code));
    return err->code;
}

const char *k8s_err_name(int code)
{
    switch (code) {
    case K8S_OK:
        return "OK";
    case K8S_EBADREQUEST:
        return "BadRequest";
    case K8S_EUNAUTHORIZED:
        return "Unauthorized";
    case K8S_EFORBIDDEN:
        return "Forbidden";
    case K8S_ENOTFOUND:
        return "NotFound";
    case K8S_EMETHOD:
        return "MethodNotAllowed";
    case K8S_EALREADYEXISTS:
        return "AlreadyExists";
    case K8S_ECONFLICT:
        return "Conflict";
    case K8S_EGONE:
        return "Expired";
    case K8S_EUNSUPPORTEDMEDIA:
        return "UnsupportedMediaType";
    case K8S_EINVALID:
        return "Invalid";
    case K8S_ETOOMANYREQUESTS:
        return "TooManyRequests";
    case K8S_EINTERNAL:
        return "InternalError";
    case K8S_ESERVICEUNAVAILABLE:
        return "ServiceUnavailable";
    case K8S_ESERVERTIMEOUT:
        return "ServerTimeout";
    case K8S_EHTTP:
        return "HTTPError";
    case K8S_ETRANSPORT:
        return "TransportError";
    case K8S_ETLS:
        return "TLSError";
    case K8S_ECONFIG:
        return "ConfigError";
    case K8S_EDECODE:
        return "DecodeError";
    case K8S_EDISCONNECTED:
        return "Disconnected";
    case K8S_ENOMEM:
        return "OutOfMemory";
    case K8S_EARG:
        return "InvalidArgument";
    case K8S_EIO:
        return "IOError";
    case K8S_ESTOPPED:
        return "Stopped";
    default:
        return "Unknown";
    }
}

int k8s_error_is_retryable(const struct k8s_error *err)
{
    switch (err->code) {
    case K8S_ETOOMANYREQUESTS:
    case K8S_EINTERNAL:
    case K8S_ESERVICEUNAVAILABLE:
    case K8S_ESERVERTIMEOUT:
    case K8S_ETRANSPORT:
        return 1;
    case K8S_EHTTP:
        return err->http_status >= 500;
    default:
        return 0;
    }
}
