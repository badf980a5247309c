/*
 * The rate-limited work queue, with client-go's semantics:
 * - keys are de-duplicated while waiting;
 * - a key is never handed to two workers at once; a key added while it is
 *   being processed is marked dirty and queued again after ctl_wq_done;
 * - per-key exponential backoff (5 ms doubling to 1000 s) via
 *   ctl_wq_add_rate_limited, combined (max) with an overall token bucket
 *   (10/s, burst 100); ctl_wq_forget resets a key's backoff;
 * - delayed adds (ctl_wq_add_after) by the injectable clock; a key already
 *   waiting for a later time is moved to the earlier one (never delayed
 *   further). An immediate add does not cancel a pending delay: the key is
 *   processed now and again when the delay ends (a reconciler's "look again
 *   in 30 s" survives unrelated events);
 * - shutdown: after ctl_wq_shutdown, new adds (immediate, delayed, rate
 *   limited) are ignored and pending delays are dropped; ctl_wq_get still
 *   hands out the keys that were already waiting (and the dirty re-adds of
 *   keys in flight, on their ctl_wq_done), and returns NULL once none is
 *   left. Workers loop on ctl_wq_get until NULL, so joining them is the
 *   graceful drain.
 *
 * Thread-safe: any number of workers may call ctl_wq_get/ctl_wq_done while
 * informer threads add. Time (delays, backoff, the bucket, latencies) comes
 * from the injectable clock only; the queue registers its condition variable
 * with it, so a fake clock's advance releases due delayed keys.
 *
 * Keys are strings. By convention "<kind>/<namespace>/<name>" for a CR (see
 * ctl_wq_key), and "target/<namespace>/<name>" for a registry, so every write
 * to one registry goes through one key (the composer's serialisation).
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

/* opts may be NULL for the defaults (a field <= 0 also takes its default).
 * The clock is borrowed and must outlive the queue. NULL when out of memory. */
struct ctl_workqueue *ctl_wq_new(struct ctl_clock *clock, const struct ctl_wq_options *opts);
/* Frees the queue; call after every worker has returned from ctl_wq_get. */
void ctl_wq_free(struct ctl_workqueue *q);

void ctl_wq_add(struct ctl_workqueue *q, const char *key);
/* delay_ms <= 0 is ctl_wq_add. */
void ctl_wq_add_after(struct ctl_workqueue *q, const char *key, int64_t delay_ms);
/* Adds after max(the key's backoff, the bucket's wait) and counts a requeue:
 * the key's n-th call waits base * 2^(n-1), capped at max_delay_ms. */
void ctl_wq_add_rate_limited(struct ctl_workqueue *q, const char *key);
/* Resets the key's backoff (call when it was processed successfully). */
void ctl_wq_forget(struct ctl_workqueue *q, const char *key);
/* How many rate-limited adds the key has had since it was last forgotten. */
int ctl_wq_num_requeues(struct ctl_workqueue *q, const char *key);

/* Blocks until a key is ready; returns a copy the caller frees after
 * ctl_wq_done, or NULL after shutdown (once no key is left waiting). */
char *ctl_wq_get(struct ctl_workqueue *q);
void ctl_wq_done(struct ctl_workqueue *q, const char *key);

void ctl_wq_shutdown(struct ctl_workqueue *q);
int ctl_wq_shutting_down(struct ctl_workqueue *q);
/* Waiting keys (not counting delayed or in-flight), for metrics. */
size_t ctl_wq_len(struct ctl_workqueue *q);

/* Upper bounds (ms) of the latency histogram buckets; a last bucket (+Inf)
 * follows them. Counts are per bucket, not cumulative. */
#define CTL_WQ_NBUCKETS 8
extern const int64_t ctl_wq_bucket_le_ms[CTL_WQ_NBUCKETS - 1];

struct ctl_wq_histogram {
    unsigned long count;
    int64_t sum_ms;
    unsigned long buckets[CTL_WQ_NBUCKETS];
};

/* A snapshot for /metrics (client-go's workqueue metrics). */
struct ctl_wq_stats {
    size_t depth;                  /* waiting keys (ctl_wq_len) */
    size_t delayed;                /* keys waiting for a delay */
    size_t in_flight;              /* keys handed out, not yet done */
    unsigned long adds;            /* keys queued (not counting de-duplicated adds) */
    unsigned long retries;         /* ctl_wq_add_rate_limited calls */
    struct ctl_wq_histogram queue; /* time from queued to handed out */
    struct ctl_wq_histogram work;  /* time from handed out to done */
    int64_t unfinished_work_ms;    /* sum of the in-flight keys' running times */
    int64_t longest_running_ms;    /* the oldest in-flight key's running time */
};
void ctl_wq_get_stats(struct ctl_workqueue *q, struct ctl_wq_stats *out);

/*
 * Builds the key "<kind>/<namespace>/<name>" ("<kind>//<name>" for a
 * cluster-scoped object: ns NULL or ""). 0, or K8S_EARG when a part contains
 * '/', kind or name is empty, or the key does not fit in `cap`.
 */
int ctl_wq_key(char *buf, size_t cap, const char *kind, const char *ns, const char *name);
/* Splits a key built by ctl_wq_key into caller buffers (any may be NULL).
 * 0, or K8S_EARG when it is not such a key or a part does not fit. */
int ctl_wq_key_split(const char *key, char *kind, size_t kind_cap, char *ns, size_t ns_cap,
                     char *name, size_t name_cap);

#endif
