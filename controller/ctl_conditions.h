/*
 * metav1.Condition helpers on a cJSON `status` object's `conditions` array,
 * with the semantics of apimachinery's meta.SetStatusCondition (STYLE.md):
 *
 * - a condition is identified by its `type`; setting one that is absent
 *   appends it;
 * - `lastTransitionTime` changes only when `status` changes (a new reason or
 *   message alone is not a transition);
 * - `reason`, `message` and `observedGeneration` are always updated;
 * - fields are validated as the API server validates metav1.Condition
 *   (type a qualified name, status True/False/Unknown, reason matching
 *   ^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$ and, by our convention,
 *   starting with a capital letter — CamelCase; message at most 32768 bytes),
 *   so a reconciler's mistake fails here with a message instead of as a 422
 *   from the server.
 *
 * A summary `Ready` condition is computed from a list of other conditions
 * (ctl_conditions_summarize), each with its polarity: for most conditions
 * True is healthy, for `Degraded`-like ones True is the problem.
 */
#ifndef QSO_CTL_CONDITIONS_H
#define QSO_CTL_CONDITIONS_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "k8s_error.h"

#define CTL_COND_TRUE    "True"
#define CTL_COND_FALSE   "False"
#define CTL_COND_UNKNOWN "Unknown"

#define CTL_COND_MAX_REASON  1024
#define CTL_COND_MAX_MESSAGE 32768
#define CTL_COND_MAX_TYPE    316

struct ctl_condition {
    const char *type;            /* "Ready", "Synced", "quaystorage.io/Foo" */
    const char *status;          /* CTL_COND_TRUE | CTL_COND_FALSE | CTL_COND_UNKNOWN */
    const char *reason;          /* CamelCase */
    const char *message;         /* a sentence a person can act on; may be "" */
    int64_t observed_generation; /* the metadata.generation this was computed from */
};

/* Validation of each field; 1 when valid. */
int ctl_condition_type_valid(const char *type);
int ctl_condition_reason_valid(const char *reason);
int ctl_condition_status_valid(const char *status);

/*
 * Sets `c` in status.conditions (the array is created when missing).
 * `now_wall_ms` is the injectable clock's wall time, used as
 * lastTransitionTime when the condition is new or its status changes.
 * *changed (may be NULL) is set to 1 when anything in the array changed, so a
 * reconciler can skip a status write that would change nothing.
 * K8S_EINVALID names the field at fault; K8S_ENOMEM.
 */
int ctl_condition_set(cJSON *status, const struct ctl_condition *c, int64_t now_wall_ms,
                      int *changed, struct k8s_error *err);

/* The condition object of `type`, borrowed from `status`, or NULL. */
const cJSON *ctl_condition_find(const cJSON *status, const char *type);
/* Its status string, or NULL when absent. */
const char *ctl_condition_status(const cJSON *status, const char *type);
int ctl_condition_is_true(const cJSON *status, const char *type);
int ctl_condition_is_false(const cJSON *status, const char *type);
/* Whether the condition exists and was computed for `generation`. */
int ctl_condition_is_current(const cJSON *status, const char *type, int64_t generation);
/* Removes the condition; 1 when it was there. */
int ctl_condition_remove(cJSON *status, const char *type);

/* One input of the summary. */
struct ctl_condition_dep {
    const char *type;
    int negative_polarity; /* True is the unhealthy state (Degraded, Failed) */
    int optional;          /* an absent condition counts as healthy */
};

/*
 * Computes and sets the summary condition `summary_type` (normally "Ready")
 * from `deps`, in order:
 *  - the first dependency in an unhealthy state makes it False with that
 *    condition's reason and the message "<Type>: <message>";
 *  - otherwise the first one Unknown (or absent and not optional) makes it
 *    Unknown, with its reason (absent: reason "Pending", "waiting for <Type>");
 *  - otherwise True with reason `ready_reason` and `ready_message`.
 * lastTransitionTime follows ctl_condition_set.
 */
int ctl_conditions_summarize(cJSON *status, const char *summary_type,
                             const struct ctl_condition_dep *deps, size_t ndeps,
                             const char *ready_reason, const char *ready_message,
                             int64_t observed_generation, int64_t now_wall_ms, int *changed,
                             struct k8s_error *err);

#endif
