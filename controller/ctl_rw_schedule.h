/*
 * When a ReadOnlyWindow should be on: the pure timing rules of the
 * readonlywindows reconciler, separate so every edge is unit-tested with
 * plain numbers (the reconciler feeds them the injectable clock's time).
 *
 * Rules (DESIGN.md, issue "ReadOnlyWindow"):
 *   - start = spec.startTime, or the object's creationTimestamp when omitted
 *     ("now" at creation, and stable across operator restarts);
 *   - end = spec.endTime; or activatedTime + spec.durationSeconds (counted
 *     from activation, as the CRD documents; before activation the planned
 *     end is start + duration); neither: no end (until deleted);
 *   - a window whose end has passed before it was activated is never
 *     activated (CTL_RW_MISSED), even when the operator was down at start;
 *   - an activation not confirmed within activationTimeoutSeconds of its
 *     beginning times out (the caller withdraws the overlay, Degraded).
 * The API server's CEL rules already refuse most bad combinations, but older
 * servers (and a rule that could not be installed) do not: the same checks
 * are made here with messages naming the field.
 */
#ifndef QSO_CTL_RW_SCHEDULE_H
#define QSO_CTL_RW_SCHEDULE_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "k8s_error.h"

#define CTL_RW_DEFAULT_ACTIVATION_TIMEOUT_S 600

/* Times in milliseconds since the epoch; 0 means "none". */
struct ctl_rw_times {
    int64_t start_ms;
    int64_t end_ms;      /* fixed end (spec.endTime); 0 when none */
    int64_t duration_ms; /* spec.durationSeconds; 0 when none */
    int64_t activation_timeout_ms;
};

/*
 * Reads the timing fields of a ReadOnlyWindow `spec`; `created_ms` is the
 * object's creationTimestamp. K8S_EINVALID with a message naming the field
 * (spec.startTime, spec.endTime, spec.durationSeconds,
 * spec.activationTimeoutSeconds) and the fix.
 */
int ctl_rw_times_from_spec(const cJSON *spec, int64_t created_ms, struct ctl_rw_times *out,
                           struct k8s_error *err);

/* The end that applies: fixed, or activation + duration (planned from the
 * start while not activated); 0 when the window has no end. */
int64_t ctl_rw_end(const struct ctl_rw_times *t, int64_t activated_ms);

enum ctl_rw_due {
    CTL_RW_WAIT,   /* before the start: requeue at *next_ms */
    CTL_RW_ON,     /* should be active: requeue at the end (*next_ms, 0 when none) */
    CTL_RW_OVER,   /* was activated and its end has come: deactivate */
    CTL_RW_MISSED, /* never activated and its end has passed: never activate */
};

/* `activated_ms` is 0 when the window was never activated. */
enum ctl_rw_due ctl_rw_due(const struct ctl_rw_times *t, int64_t now_ms, int64_t activated_ms,
                           int64_t *next_ms);

/* 1 when an activation begun at `activating_since_ms` has exceeded the
 * timeout at `now_ms` (*deadline_ms receives the deadline). */
int ctl_rw_activation_timed_out(const struct ctl_rw_times *t, int64_t activating_since_ms,
                                int64_t now_ms, int64_t *deadline_ms);

#endif
