/*
 * Errors of the Kubernetes client: one convention for the whole project.
 *
 * Every fallible function returns `int rc`: 0 on success, one of the negative
 * K8S_E* codes on failure, and fills a caller-owned `struct k8s_error` with the
 * detail a person needs: the HTTP status, the API Status object's `reason` and
 * `message`, its field causes (for 422 Invalid), and Retry-After. Nothing the
 * server said is thrown away. The struct is fixed-size (no allocation), so it
 * can live on the stack and never leaks.
 */
#ifndef QSO_K8S_ERROR_H
#define QSO_K8S_ERROR_H

#include <stddef.h>

enum k8s_errcode {
    K8S_OK = 0,
    K8S_EBADREQUEST = -1,          /* 400 BadRequest */
    K8S_EUNAUTHORIZED = -2,        /* 401 Unauthorized */
    K8S_EFORBIDDEN = -3,           /* 403 Forbidden */
    K8S_ENOTFOUND = -4,            /* 404 NotFound */
    K8S_EMETHOD = -5,              /* 405 MethodNotAllowed */
    K8S_EALREADYEXISTS = -6,       /* 409 AlreadyExists */
    K8S_ECONFLICT = -7,            /* 409 Conflict (stale resourceVersion) */
    K8S_EGONE = -8,                /* 410 Gone / Expired (relist) */
    K8S_EUNSUPPORTEDMEDIA = -9,    /* 415 UnsupportedMediaType */
    K8S_EINVALID = -10,            /* 422 Invalid, with field causes */
    K8S_ETOOMANYREQUESTS = -11,    /* 429 TooManyRequests */
    K8S_EINTERNAL = -12,           /* 500 InternalError */
    K8S_ESERVICEUNAVAILABLE = -13, /* 503 ServiceUnavailable */
    K8S_ESERVERTIMEOUT = -14,      /* 504 or reason ServerTimeout/Timeout */
    K8S_EHTTP = -15,               /* any other non-2xx status */
    K8S_ETRANSPORT = -16,          /* connection, DNS, timeout: no HTTP response */
    K8S_ETLS = -17,                /* TLS handshake or certificate verification failed */
    K8S_ECONFIG = -18,             /* kubeconfig / in-cluster configuration problem */
    K8S_EDECODE = -19,             /* a response or file that does not parse */
    K8S_EDISCONNECTED = -20,       /* a watch stream ended (always routine: re-watch) */
    K8S_ENOMEM = -21,              /* allocation failed or a buffer hit its maximum */
    K8S_EARG = -22,                /* the caller passed something invalid */
    K8S_EIO = -23,                 /* a local file could not be read */
    K8S_ESTOPPED = -24,            /* the caller asked to stop (callback, shutdown) */
};

#define K8S_MAX_CAUSES 16

struct k8s_cause {
    char field[256]; /* e.g. "spec.destination.driver" */
    char reason[64]; /* e.g. "FieldValueNotSupported" */
    char message[512];
};

struct k8s_error {
    int code;           /* a K8S_E* value; K8S_OK when cleared */
    long http_status;   /* 0 when no HTTP response was received */
    char reason[64];    /* the API Status reason ("NotFound", "Expired"...) */
    char message[1024]; /* what happened, in a sentence a person can act on */
    size_t ncauses;
    struct k8s_cause causes[K8S_MAX_CAUSES];
    long retry_after_seconds; /* from Retry-After or details.retryAfterSeconds; 0 if none */
};

/* Resets `err` to K8S_OK with empty strings. */
void k8s_error_clear(struct k8s_error *err);

/*
 * Sets code and a printf-style message (truncated to fit); clears the rest.
 * Returns `code`, so `return k8s_error_set(err, K8S_EARG, "...")` reads well.
 * `err` may be NULL.
 */
int k8s_error_set(struct k8s_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Puts a printf-style context before the message ("<context>: <message>"),
 * keeping the code, reason, HTTP status, field causes and Retry-After: the
 * caller names what it was doing without losing what the server said.
 * Returns err->code. `err` may be NULL (returns 0).
 */
int k8s_error_prefix(struct k8s_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Decodes a non-2xx response: the body is parsed as a metav1.Status when it is
 * one (reason, message, details.causes, details.retryAfterSeconds); otherwise
 * the code comes from the HTTP status and the message from the body's first
 * bytes. Returns the K8S_E* code it stored.
 */
int k8s_error_from_response(struct k8s_error *err, long http_status, const char *body,
                            size_t body_len);

/* Maps an HTTP status and optional Status reason to a K8S_E* code. */
int k8s_errcode_for(long http_status, const char *reason);

/* A short stable name for a code: "NotFound", "Conflict", "TransportError"... */
const char *k8s_err_name(int code);

/* Whether a failed request may be retried as is (429, 5xx, transport). */
int k8s_error_is_retryable(const struct k8s_error *err);

#endif
