/*
 * Refusals as kube-apiserver words them. Every failing verb fills one
 * `struct sim_err`; the API layer turns it into a metav1.Status body. The
 * constructors reproduce k8s.io/apimachinery/pkg/api/errors' wording
 * (NewNotFound, NewAlreadyExists, NewConflict, NewInvalid, NewForbidden...),
 * because clients and people match on those sentences.
 */
#ifndef QSO_SIM_STATUS_H
#define QSO_SIM_STATUS_H

#include <cjson/cJSON.h>
#include <stddef.h>

#define SIM_MAX_CAUSES 32

struct sim_cause {
    char type[48];     /* CauseType: "FieldValueInvalid", "FieldValueRequired"... */
    char field[512];   /* "spec.selector"; "" when not about one field */
    char detail[1024]; /* ErrorBody(): `Invalid value: "x": must be ...` */
};

struct sim_err {
    int code;        /* HTTP status; 0 while no error */
    char reason[48]; /* StatusReason: "NotFound", "Conflict"... */
    char message[4096];
    int has_details;
    char d_name[256];
    char d_group[256];
    char d_kind[256];
    size_t ncauses;
    struct sim_cause causes[SIM_MAX_CAUSES];
    long retry_after; /* seconds; 0 = none */
};

void sim_err_clear(struct sim_err *e);

/* Generic: code, reason, printf message; no details. Returns -code. */
int sim_err_set(struct sim_err *e, int code, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* `<resource>[.<group>] "<name>" not found` (404). */
int sim_err_not_found(struct sim_err *e, const char *group, const char *resource, const char *name);
/* `<resource>[.<group>] "<name>" already exists` (409 AlreadyExists). */
int sim_err_already_exists(struct sim_err *e, const char *group, const char *resource,
                           const char *name);
/* `Operation cannot be fulfilled on <resource>[.<group>] "<name>": <why>` (409). */
int sim_err_conflict(struct sim_err *e, const char *group, const char *resource, const char *name,
                     const char *why);
/* The stale-resourceVersion conflict. */
int sim_err_conflict_modified(struct sim_err *e, const char *group, const char *resource,
                              const char *name);

/* Collects field causes for a 422 Invalid; sim_err_invalid_finish builds the
 * message `<Kind>[.<group>] "<name>" is invalid: <causes>` once all are in. */
void sim_err_add_cause(struct sim_err *e, const char *type, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int sim_err_invalid_finish(struct sim_err *e, const char *group, const char *kind,
                           const char *name);
/* Convenience for a single cause. */
int sim_err_invalid1(struct sim_err *e, const char *group, const char *kind, const char *name,
                     const char *type, const char *field, const char *detail);

/* 403 with an arbitrary message and details (name, group, kind=resource). */
int sim_err_forbidden(struct sim_err *e, const char *group, const char *resource, const char *name,
                      const char *why);
int sim_err_bad_request(struct sim_err *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int sim_err_unauthorized(struct sim_err *e);
int sim_err_method_not_allowed(struct sim_err *e);
/* "the server could not find the requested resource" */
int sim_err_no_route(struct sim_err *e);
/* 410 Expired with the given message. */
int sim_err_expired(struct sim_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int sim_err_unsupported_media(struct sim_err *e, const char *accepted);
int sim_err_internal(struct sim_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int sim_err_too_many_requests(struct sim_err *e, long retry_after);

/* The metav1.Status object for `e` (a new tree). */
cJSON *sim_err_to_status(const struct sim_err *e);

/* "resource.group" or "resource" for the core group, into buf. */
void sim_qualified(const char *group, const char *name, char *buf, size_t cap);

#endif
