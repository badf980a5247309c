/*
 * The manager: what controller-runtime's Manager is to a Go operator. It owns
 * the API client, the clock (unless a test lends one), the informers, the
 * work queue, N workers, the table of reconcilers, the Event recorder, the
 * metrics registry, the probe/metrics HTTP server and the leader elector.
 *
 * Keys and reconcilers. Work-queue keys are "<kind>/<namespace>/<name>"
 * (ctl_wq_key); a reconciler is registered for a <kind> — a CR kind
 * ("storagemigration") or a synthetic one ("target") — and each key goes to
 * the reconciler of its kind. A reconcile returns CTL_DONE, CTL_REQUEUE (rate
 * limited), CTL_REQUEUE_AFTER (with *requeue_after_ms) or a negative error
 * (rate-limited retry, counted as an error).
 *
 * Leader election (on by default): informers and the HTTP server start at
 * once (a standby keeps a warm cache, so a failover starts reconciling
 * without a full relist); workers start only when this process becomes the
 * leader. Before each reconcile, and in ctl_context_may_write, a worker asks
 * the elector whether it still leads (a cheap, time-checked answer). When
 * leadership is lost the workers drop every remaining key without
 * reconciling, the Lease is NOT released (it is not ours any more) and
 * ctl_manager_run returns K8S_ESTOPPED: the process exits non-zero and is
 * restarted as a standby, as controller-runtime's does. On a requested stop
 * (SIGTERM) the queue is drained — in-flight reconciles finish — then the
 * Lease is released so the standby takes over at once.
 *
 * Probes. /healthz: 200 while the process serves (its HTTP thread answers).
 * /readyz: 200 when every informer has synced and, with leader election,
 * the elector either leads or is a healthy standby (it heard from the API
 * server within one lease duration). A standby is deliberately READY: with 2
 * replicas a standby that is never ready would stall every rolling update
 * (maxUnavailable) and count as disrupted for the PodDisruptionBudget; nothing
 * routes traffic to the operator on readiness. 503 while stopping or after
 * leadership was lost. The body lists each check ("[+]informers synced").
 *
 * Metrics (/metrics, Prometheus text): controller_runtime_reconcile_total
 * {controller,result}, controller_runtime_reconcile_errors_total{controller},
 * controller_runtime_reconcile_time_seconds{controller} (histogram),
 * workqueue_depth / workqueue_adds_total / workqueue_retries_total /
 * workqueue_queue_duration_seconds / workqueue_work_duration_seconds
 * {name="controller"}, rest_client_* from the client's statistics,
 * leader_election_master_status{name}, qso_informer_* per resource and
 * qso_events_total{result}. rest_client_requests_total{method,code} is fed
 * through ctl_manager_observe_request.
 */
#ifndef QSO_CTL_MANAGER_H
#define QSO_CTL_MANAGER_H

#include <stdint.h>

#include "ctl_clock.h"
#include "ctl_events.h"
#include "ctl_informer.h"
#include "ctl_metrics.h"
#include "ctl_workqueue.h"
#include "k8s_client.h"

struct ctl_manager;
struct ctl_context; /* one per worker; valid during a reconcile call */

/* Results of a reconcile (negative values are errors). */
enum ctl_result {
    CTL_DONE = 0,          /* forget the key's backoff */
    CTL_REQUEUE = 1,       /* again, rate limited (backoff grows) */
    CTL_REQUEUE_AFTER = 2, /* again after *requeue_after_ms; backoff forgotten */
};

struct ctl_reconciler {
    const char *kind; /* the key prefix this reconciler serves */
    int (*reconcile)(struct ctl_context *ctx, const char *key, int64_t *requeue_after_ms,
                     void *user);
    void *user;
};

#define CTL_MANAGER_MAX_RECONCILERS 16
#define CTL_MANAGER_MAX_INFORMERS   32
#define CTL_MANAGER_MAX_WORKERS     64

struct ctl_manager_options {
    const struct k8s_config *config; /* copied into the manager's client */
    struct ctl_clock *clock;         /* borrowed; NULL: a real clock owned by the manager */
    int workers;                     /* 0: 2 */
    const char *const *namespaces;   /* watched namespaces, NULL-terminated; NULL: all */
    int leader_elect;
    const char *lease_namespace; /* required with leader_elect */
    const char *lease_name;      /* NULL: "quay-storage-operator-leader" */
    const char *identity;        /* NULL: made from the host name + random suffix */
    int64_t lease_duration_ms, renew_deadline_ms, retry_period_ms; /* 0: 15 s, 10 s, 2 s */
    const char *health_addr;            /* "host:port" for /healthz and /readyz; NULL: none */
    const char *metrics_addr;           /* for /metrics; NULL: none; may equal health_addr */
    const char *component;              /* Event source; NULL: "quay-storage-operator" */
    const struct ctl_wq_options *queue; /* NULL: client-go's defaults */
};

int ctl_manager_new(const struct ctl_manager_options *opts, struct ctl_manager **out,
                    struct k8s_error *err);
/* Stops everything still running and frees. */
void ctl_manager_free(struct ctl_manager *m);

/* Registration, before ctl_manager_run. The reconciler struct is copied. */
int ctl_manager_add_reconciler(struct ctl_manager *m, const struct ctl_reconciler *r,
                               struct k8s_error *err);
/* Creates an informer owned by the manager (started by ctl_manager_run).
 * opts->namespaces NULL takes the manager's namespaces. */
int ctl_manager_add_informer(struct ctl_manager *m, const struct ctl_informer_options *opts,
                             struct ctl_informer **out, struct k8s_error *err);
/* Every event of `inf` enqueues "<kind>/<ns>/<name>" of the object itself. */
int ctl_manager_watch(struct ctl_manager *m, struct ctl_informer *inf, const char *kind);
/* Every event of `inf` enqueues "<kind>/<ns>/<owner name>" for each
 * ownerReference whose kind is `owner_kind` (an owned Job requeues its CR). */
int ctl_manager_watch_owner(struct ctl_manager *m, struct ctl_informer *inf, const char *owner_kind,
                            const char *kind);
/* Every event of `inf` calls `map`, which enqueues what it wants with
 * ctl_manager_enqueue (a Secret requeues the CRs that reference it). `map`
 * runs on the informer thread: look up caches and enqueue, nothing more. */
typedef void (*ctl_map_fn)(struct ctl_manager *m, const cJSON *obj, void *user);
int ctl_manager_watch_map(struct ctl_manager *m, struct ctl_informer *inf, ctl_map_fn map,
                          void *user);

void ctl_manager_enqueue(struct ctl_manager *m, const char *key);
void ctl_manager_enqueue_after(struct ctl_manager *m, const char *key, int64_t delay_ms);

/*
 * Runs until ctl_manager_request_stop (returns 0 after the graceful drain and
 * the Lease release) or until leadership is lost (returns K8S_ESTOPPED with
 * err saying so). Other failures to start (a port in use) return their code.
 */
int ctl_manager_run(struct ctl_manager *m, struct k8s_error *err);
/* Thread-safe (not async-signal-safe: call it from a signal-handling thread). */
void ctl_manager_request_stop(struct ctl_manager *m);

/* Accessors (borrowed; valid until ctl_manager_free). */
struct k8s_client *ctl_manager_client(struct ctl_manager *m);
struct ctl_clock *ctl_manager_clock(struct ctl_manager *m);
struct ctl_recorder *ctl_manager_recorder(struct ctl_manager *m);
struct ctl_metrics *ctl_manager_metrics(struct ctl_manager *m);
struct ctl_workqueue *ctl_manager_queue(struct ctl_manager *m);
const char *ctl_manager_identity(const struct ctl_manager *m);
/* Bound ports once ctl_manager_run has started the server; -1 otherwise. */
int ctl_manager_health_port(struct ctl_manager *m);
int ctl_manager_metrics_port(struct ctl_manager *m);
/* Whether this process may write now: no leader election, or leading. */
int ctl_manager_may_write(struct ctl_manager *m);
int ctl_manager_is_leader(struct ctl_manager *m);
/* Whether every informer has synced. */
int ctl_manager_synced(struct ctl_manager *m);
/* For a future per-request hook of the client: counts one API request. */
void ctl_manager_observe_request(struct ctl_manager *m, const char *method, long status);

/* The reconcile context. */
struct ctl_manager *ctl_context_manager(struct ctl_context *ctx);
struct k8s_client *ctl_context_client(struct ctl_context *ctx);
struct ctl_clock *ctl_context_clock(struct ctl_context *ctx);
struct ctl_recorder *ctl_context_recorder(struct ctl_context *ctx);
/* The parts of the key being reconciled ("" for a cluster-scoped namespace). */
const char *ctl_context_kind(struct ctl_context *ctx);
const char *ctl_context_namespace(struct ctl_context *ctx);
const char *ctl_context_name(struct ctl_context *ctx);
/* Check before every write: 0 once leadership is lost (then return at once). */
int ctl_context_may_write(struct ctl_context *ctx);

#endif
