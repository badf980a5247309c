/*
 * The rate-limited work queue, with client-go's semantics:
 * - keys are de-duplicated while waiting;
 * - a key is never handed to two workers at once; a key added while it is
 *   being processed is marked dirty and queued again after ctl_wq_done;
 * - per-key exponential backoff (5 ms doubling to 1000 s) via
 *   ctl_wq_add_rate_limited, combined (max) with an overall token bucket
 *   (10/s, burst 100); ctl_wq_forget resets a key's backoff;
 * - delayed adds (ctl_wq_add_after) by the injectable clock;
 * - shutdown: ctl_wq_shutdown makes ctl_wq_get return NULL once the queue is
 *   drained of in-flight work (graceful) — new adds are ignored.
 *
 * Keys are strings. By convention "<kind>/<namespace>/<name>" for a CR, and
 * "target/<namespace>/<name>" for a registry, so every write to one registry
 * goes through one key (the composer's serialisation).
 */
#ifndef QSO_CTL_WORKQUEUE_H
#define QSO_CTL_WORKQUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "ctl_clock.h"

struct ctl_workqueue;

struct ctl_wq_options {
    int64_t base_delay_ms; /* default 5 */
    int64_t max_delay_ms;  /* default 1000000 */
    double qps;            /* default 10 */
    int burst;             /* default 100 */
};

/* opts may be NULL for the defaults. The clock is borrowed. */
struct ctl_workqueue *ctl_wq_new(struct ctl_clock *clock, const struct ctl_wq_options *opts);
void ctl_wq_free(struct ctl_workqueue *q);

void ctl_wq_add(struct ctl_workqueue *q, const char *key);
void ctl_wq_add_after(struct ctl_workqueue *q, const char *key, int64_t delay_ms);
void ctl_wq_add_rate_limited(struct ctl_workqueue *q, const char *key);
void ctl_wq_forget(struct ctl_workqueue *q, const char *key);
int ctl_wq_num_requeues(struct ctl_workqueue *q, const char *key);

/* Blocks until a key is ready; returns a copy the caller frees after
 * ctl_wq_done, or NULL after shutdown. */
char *ctl_wq_get(struct ctl_workqueue *q);
void ctl_wq_done(struct ctl_workqueue *q, const char *key);

void ctl_wq_shutdown(struct ctl_workqueue *q);
/* Waiting keys (not counting delayed or in-flight), for metrics. */
size_t ctl_wq_len(struct ctl_workqueue *q);

#endif
