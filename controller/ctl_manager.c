/*
 * The manager (see ctl_manager.h).
 *
 * Internals. Threads: the caller of ctl_manager_run (which only waits for a
 * stop, a lost lease or the start of leadership, and then starts or joins the
 * others), one thread per informer, the elector's thread, the HTTP service
 * thread, and the workers. The manager's mutex guards only the run state
 * (stop requested, leadership lost, workers wanted/started); every other part
 * is thread-safe on its own (queue, informers, registry, recorder, elector).
 *
 * The elector's callbacks never start or stop threads themselves: they set a
 * flag and signal the run loop, which does it. Workers re-check leadership
 * before every reconcile through ctl_lease_is_leader, which is time-checked,
 * so even a worker that wakes before the elector thread after a long pause
 * stops at once.
 */
#include "ctl_manager.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl_httpserver.h"
#include "ctl_lease.h"
#include "k8s_log.h"

#define KEY_MAX 512

enum watch_type { W_SELF, W_OWNER, W_MAP };

struct watch_reg {
    struct ctl_manager *m;
    enum watch_type type;
    char kind[64];
    char owner_kind[64];
    ctl_map_fn map;
    void *user;
};

struct ctl_context {
    struct ctl_manager *m;
    char kind[64];
    char ns[64];
    char name[254];
};

struct worker {
    struct ctl_manager *m;
    pthread_t thread;
    struct ctl_context ctx;
};

struct ctl_manager {
    struct k8s_client *client;
    struct ctl_clock *clock;
    int own_clock;
    struct ctl_workqueue *queue;
    struct ctl_recorder *recorder;
    struct ctl_metrics *metrics;
    char component[128];

    char **namespaces; /* NULL-terminated copy, or NULL */

    struct ctl_reconciler reconcilers[CTL_MANAGER_MAX_RECONCILERS];
    char reconciler_kinds[CTL_MANAGER_MAX_RECONCILERS][64];
    size_t nreconcilers;

    struct ctl_informer *informers[CTL_MANAGER_MAX_INFORMERS];
    char informer_names[CTL_MANAGER_MAX_INFORMERS][128];
    size_t ninformers;
    int informers_started;

    struct watch_reg watches[CTL_MANAGER_MAX_INFORMERS * 2];
    size_t nwatches;

    int nworkers;
    struct worker workers[CTL_MANAGER_MAX_WORKERS];
    int workers_started;

    int leader_elect;
    struct ctl_lease *lease;
    char lease_name[254];
    /* "/apis/coordination.k8s.io/v1/namespaces/<ns>/leases": the only writes
     * the client's gate lets through without leadership ("" without
     * leader election). */
    char lease_path[512];
    char identity[256];
    int64_t lease_ms;

    struct ctl_httpserver *http;
    char health_addr[300], metrics_addr[300];
    int health_idx, metrics_idx; /* listener indexes; -1 when none */
    int http_started;

    /* metric families */
    struct ctl_metric *m_reconcile_total, *m_reconcile_errors, *m_reconcile_time;
    struct ctl_metric *m_wq_depth, *m_wq_adds, *m_wq_retries, *m_wq_queue, *m_wq_work;
    struct ctl_metric *m_wq_unfinished, *m_wq_longest;
    struct ctl_metric *m_rest_requests, *m_rest_sent, *m_rest_retries, *m_rest_wait;
    struct ctl_metric *m_rest_connects;
    struct ctl_metric *m_leader;
    struct ctl_metric *m_inf_synced, *m_inf_lists, *m_inf_relists, *m_inf_watches, *m_inf_events;
    struct ctl_metric *m_events;

    pthread_mutex_t mu;
    pthread_cond_t cond;
    int stop_requested;
    int lost;
    int want_workers;
    int running;
};

/* ---- metrics --------------------------------------------------------- */

static const double reconcile_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                           1,     2.5,  5,     10,   30,  60};

static void collect(struct ctl_metrics *reg, void *user)
{
    struct ctl_manager *m = user;
    struct ctl_wq_stats ws;
    struct k8s_client_stats cs;
    struct ctl_recorder_stats rs;
    const char *const wq[] = {"controller", NULL};
    unsigned long long counts[CTL_WQ_NBUCKETS];
    (void)reg;

    ctl_wq_get_stats(m->queue, &ws);
    ctl_metric_set(m->m_wq_depth, wq, (double)ws.depth);
    ctl_metric_set(m->m_wq_adds, wq, (double)ws.adds);
    ctl_metric_set(m->m_wq_retries, wq, (double)ws.retries);
    ctl_metric_set(m->m_wq_unfinished, wq, (double)ws.unfinished_work_ms / 1000.0);
    ctl_metric_set(m->m_wq_longest, wq, (double)ws.longest_running_ms / 1000.0);
    for (size_t i = 0; i < CTL_WQ_NBUCKETS; i++)
        counts[i] = ws.queue.buckets[i];
    ctl_metric_set_histogram(m->m_wq_queue, wq, counts, (double)ws.queue.sum_ms / 1000.0);
    for (size_t i = 0; i < CTL_WQ_NBUCKETS; i++)
        counts[i] = ws.work.buckets[i];
    ctl_metric_set_histogram(m->m_wq_work, wq, counts, (double)ws.work.sum_ms / 1000.0);

    k8s_client_get_stats(m->client, &cs);
    ctl_metric_set(m->m_rest_sent, NULL, (double)cs.requests);
    ctl_metric_set(m->m_rest_retries, NULL, (double)cs.retries);
    ctl_metric_set(m->m_rest_wait, NULL, (double)cs.throttled_ms / 1000.0);
    ctl_metric_set(m->m_rest_connects, NULL, (double)cs.connects);

    if (m->leader_elect) {
        const char *const ln[] = {m->lease_name, NULL};
        ctl_metric_set(m->m_leader, ln, ctl_lease_is_leader(m->lease) ? 1 : 0);
    }
    for (size_t i = 0; i < m->ninformers; i++) {
        struct ctl_informer_stats is;
        const char *const res[] = {m->informer_names[i], NULL};
        ctl_informer_get_stats(m->informers[i], &is);
        ctl_metric_set(m->m_inf_synced, res, ctl_informer_has_synced(m->informers[i]) ? 1 : 0);
        ctl_metric_set(m->m_inf_lists, res, (double)is.lists);
        ctl_metric_set(m->m_inf_relists, res, (double)is.relists);
        ctl_metric_set(m->m_inf_watches, res, (double)is.watches);
        ctl_metric_set(m->m_inf_events, res, (double)is.events);
    }
    ctl_recorder_get_stats(m->recorder, &rs);
    {
        const char *const created[] = {"created", NULL}, *const patched[] = {"patched", NULL};
        const char *const spam[] = {"dropped_spam", NULL}, *const gate[] = {"dropped_gate", NULL};
        const char *const failed[] = {"failed", NULL};
        ctl_metric_set(m->m_events, created, (double)rs.created);
        ctl_metric_set(m->m_events, patched, (double)rs.patched);
        ctl_metric_set(m->m_events, spam, (double)rs.dropped_spam);
        ctl_metric_set(m->m_events, gate, (double)rs.dropped_gate);
        ctl_metric_set(m->m_events, failed, (double)rs.failed);
    }
}

static int register_metrics(struct ctl_manager *m)
{
    static const char *const l_ctrl[] = {"controller", NULL};
    static const char *const l_ctrl_res[] = {"controller", "result", NULL};
    static const char *const l_name[] = {"name", NULL};
    static const char *const l_res[] = {"resource", NULL};
    static const char *const l_req[] = {"method", "code", NULL};
    static const char *const l_result[] = {"result", NULL};
    double wq_buckets[CTL_WQ_NBUCKETS - 1];
    struct ctl_metrics *r = m->metrics;

    for (size_t i = 0; i < CTL_WQ_NBUCKETS - 1; i++)
        wq_buckets[i] = (double)ctl_wq_bucket_le_ms[i] / 1000.0;
    m->m_reconcile_total = ctl_metrics_register(
        r, CTL_METRIC_COUNTER, "controller_runtime_reconcile_total",
        "Total number of reconciliations per controller and result.", l_ctrl_res, NULL, 0);
    m->m_reconcile_errors = ctl_metrics_register(
        r, CTL_METRIC_COUNTER, "controller_runtime_reconcile_errors_total",
        "Total number of reconciliation errors per controller.", l_ctrl, NULL, 0);
    m->m_reconcile_time = ctl_metrics_register(
        r, CTL_METRIC_HISTOGRAM, "controller_runtime_reconcile_time_seconds",
        "Length of time per reconciliation per controller.", l_ctrl, reconcile_buckets,
        sizeof(reconcile_buckets) / sizeof(reconcile_buckets[0]));
    m->m_wq_depth = ctl_metrics_register(r, CTL_METRIC_GAUGE, "workqueue_depth",
                                         "Current depth of the work queue.", l_name, NULL, 0);
    m->m_wq_adds = ctl_metrics_register(r, CTL_METRIC_COUNTER, "workqueue_adds_total",
                                        "Total number of keys queued (de-duplicated adds "
                                        "not counted).",
                                        l_name, NULL, 0);
    m->m_wq_retries =
        ctl_metrics_register(r, CTL_METRIC_COUNTER, "workqueue_retries_total",
                             "Total number of rate-limited requeues.", l_name, NULL, 0);
    m->m_wq_queue =
        ctl_metrics_register(r, CTL_METRIC_HISTOGRAM, "workqueue_queue_duration_seconds",
                             "How long a key waits in the work queue before a worker takes it.",
                             l_name, wq_buckets, CTL_WQ_NBUCKETS - 1);
    m->m_wq_work = ctl_metrics_register(r, CTL_METRIC_HISTOGRAM, "workqueue_work_duration_seconds",
                                        "How long processing a key takes.", l_name, wq_buckets,
                                        CTL_WQ_NBUCKETS - 1);
    m->m_wq_unfinished = ctl_metrics_register(
        r, CTL_METRIC_GAUGE, "workqueue_unfinished_work_seconds",
        "Seconds of work in progress not yet observed by work_duration.", l_name, NULL, 0);
    m->m_wq_longest = ctl_metrics_register(
        r, CTL_METRIC_GAUGE, "workqueue_longest_running_processor_seconds",
        "How long the longest-running key has been processed.", l_name, NULL, 0);
    m->m_rest_requests = ctl_metrics_register(
        r, CTL_METRIC_COUNTER, "rest_client_requests_total",
        "Number of API requests, partitioned by method and status code.", l_req, NULL, 0);
    m->m_rest_sent = ctl_metrics_register(r, CTL_METRIC_COUNTER, "qso_rest_client_requests_total",
                                          "HTTP requests sent to the API server, retries included.",
                                          NULL, NULL, 0);
    m->m_rest_retries = ctl_metrics_register(
        r, CTL_METRIC_COUNTER, "qso_rest_client_retries_total",
        "API requests retried (429, 5xx on reads, transport errors).", NULL, NULL, 0);
    m->m_rest_wait = ctl_metrics_register(
        r, CTL_METRIC_COUNTER, "qso_rest_client_rate_limiter_wait_seconds_total",
        "Time spent waiting for the client-side rate limiter.", NULL, NULL, 0);
    m->m_rest_connects =
        ctl_metrics_register(r, CTL_METRIC_COUNTER, "qso_rest_client_connections_total",
                             "New connections opened to the API server.", NULL, NULL, 0);
    m->m_leader = ctl_metrics_register(
        r, CTL_METRIC_GAUGE, "leader_election_master_status",
        "1 while this process holds the leader election lease, 0 otherwise.", l_name, NULL, 0);
    m->m_inf_synced =
        ctl_metrics_register(r, CTL_METRIC_GAUGE, "qso_informer_synced",
                             "1 once the informer's first list completed.", l_res, NULL, 0);
    m->m_inf_lists = ctl_metrics_register(r, CTL_METRIC_COUNTER, "qso_informer_lists_total",
                                          "LIST requests made by the informer.", l_res, NULL, 0);
    m->m_inf_relists =
        ctl_metrics_register(r, CTL_METRIC_COUNTER, "qso_informer_relists_total",
                             "Relists after an expired resourceVersion (410).", l_res, NULL, 0);
    m->m_inf_watches = ctl_metrics_register(r, CTL_METRIC_COUNTER, "qso_informer_watches_total",
                                            "WATCH requests made by the informer.", l_res, NULL, 0);
    m->m_inf_events =
        ctl_metrics_register(r, CTL_METRIC_COUNTER, "qso_informer_events_total",
                             "Watch events received by the informer.", l_res, NULL, 0);
    m->m_events = ctl_metrics_register(r, CTL_METRIC_COUNTER, "qso_events_total",
                                       "Kubernetes Events recorded, by what happened to them.",
                                       l_result, NULL, 0);
    if (!m->m_reconcile_total || !m->m_reconcile_errors || !m->m_reconcile_time || !m->m_wq_depth ||
        !m->m_wq_adds || !m->m_wq_retries || !m->m_wq_queue || !m->m_wq_work ||
        !m->m_wq_unfinished || !m->m_wq_longest || !m->m_rest_requests || !m->m_rest_sent ||
        !m->m_rest_retries || !m->m_rest_wait || !m->m_rest_connects || !m->m_leader ||
        !m->m_inf_synced || !m->m_inf_lists || !m->m_inf_relists || !m->m_inf_watches ||
        !m->m_inf_events || !m->m_events)
        return K8S_ENOMEM;
    return ctl_metrics_add_collector(r, collect, m);
}

static void observe_request(const char *method, long status, void *user)
{
    ctl_manager_observe_request(user, method, status);
}

void ctl_manager_observe_request(struct ctl_manager *m, const char *method, long status)
{
    if (!m->m_rest_requests) /* requests before the metrics exist */
        return;
    char code[24];
    const char *v[] = {method ? method : "", code, NULL};
    if (status > 0)
        snprintf(code, sizeof(code), "%ld", status);
    else
        snprintf(code, sizeof(code), "<error>");
    ctl_metric_inc(m->m_rest_requests, v);
}

/* ---- HTTP handlers ---------------------------------------------------- */

static int handle_healthz(void *user, struct k8s_buf *body, const char **ctype)
{
    (void)user;
    (void)ctype;
    k8s_buf_appendf(body, "ok\n");
    return 200;
}

int ctl_manager_synced(struct ctl_manager *m)
{
    for (size_t i = 0; i < m->ninformers; i++)
        if (!ctl_informer_has_synced(m->informers[i]))
            return 0;
    return 1;
}

static int handle_readyz(void *user, struct k8s_buf *body, const char **ctype)
{
    struct ctl_manager *m = user;
    int ok = 1, stopping, lost;
    (void)ctype;

    pthread_mutex_lock(&m->mu);
    stopping = m->stop_requested;
    lost = m->lost;
    pthread_mutex_unlock(&m->mu);
    for (size_t i = 0; i < m->ninformers; i++) {
        int s = ctl_informer_has_synced(m->informers[i]);
        ok &= s;
        k8s_buf_appendf(body, "[%c]informer %s %s\n", s ? '+' : '-', m->informer_names[i],
                        s ? "synced" : "not synced");
    }
    if (m->leader_elect) {
        struct ctl_lease_status st;
        int64_t now = ctl_clock_mono_ms(m->clock);
        ctl_lease_get_status(m->lease, &st);
        if (st.leading) {
            k8s_buf_appendf(body, "[+]leader election: leading\n");
        } else if (!lost && st.last_contact_mono_ms > 0 &&
                   now - st.last_contact_mono_ms < m->lease_ms) {
            k8s_buf_appendf(body, "[+]leader election: standby\n");
        } else {
            ok = 0;
            k8s_buf_appendf(body, "[-]leader election: %s\n",
                            lost ? "leadership lost" : "no answer from the API server yet");
        }
    }
    if (stopping || lost) {
        ok = 0;
        k8s_buf_appendf(body, "[-]shutting down\n");
    }
    k8s_buf_appendf(body, "readyz check %s\n", ok ? "passed" : "failed");
    return ok ? 200 : 503;
}

static int handle_metrics(void *user, struct k8s_buf *body, const char **ctype)
{
    struct ctl_manager *m = user;
    *ctype = CTL_METRICS_CONTENT_TYPE;
    if (ctl_metrics_render(m->metrics, body) != 0) {
        k8s_buf_reset(body);
        k8s_buf_appendf(body, "cannot render metrics\n");
        return 500;
    }
    return 200;
}

/* ---- construction ----------------------------------------------------- */

static int may_write_gate(void *user)
{
    return ctl_manager_may_write(user);
}

/* The client's gate for every write: only the leader writes, except the
 * leader election's own Lease requests (how it becomes and stays leader). */
static int client_write_gate(const char *method, const char *path_query, void *user)
{
    struct ctl_manager *m = user;
    (void)method;
    if (m->lease_path[0] && strncmp(path_query, m->lease_path, strlen(m->lease_path)) == 0)
        return 1;
    return ctl_manager_may_write(m);
}

static void on_started_leading(void *user)
{
    struct ctl_manager *m = user;
    pthread_mutex_lock(&m->mu);
    m->want_workers = 1;
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->mu);
}

static void on_stopped_leading(void *user)
{
    struct ctl_manager *m = user;
    pthread_mutex_lock(&m->mu);
    /* A release on our own clean stop is not a loss. */
    if (!m->stop_requested)
        m->lost = 1;
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->mu);
}

static void on_new_leader(const char *identity, void *user)
{
    struct ctl_manager *m = user;
    const char *kv[] = {"leader", *identity ? identity : "(none)", "identity", m->identity, NULL};
    k8s_log(K8S_LOG_INFO, NULL, m->lease_name, "observed a new leader", kv);
}

int ctl_manager_new(const struct ctl_manager_options *opts, struct ctl_manager **out,
                    struct k8s_error *err)
{
    struct ctl_manager *m;
    struct ctl_recorder_options ro;
    int rc = 0;

    *out = NULL;
    if (!opts || !opts->config)
        return k8s_error_set(err, K8S_EARG, "manager: a client configuration is needed");
    if (opts->workers < 0 || opts->workers > CTL_MANAGER_MAX_WORKERS)
        return k8s_error_set(err, K8S_EARG, "manager: workers must be between 1 and %d",
                             CTL_MANAGER_MAX_WORKERS);
    if (opts->leader_elect && (!opts->lease_namespace || !*opts->lease_namespace))
        return k8s_error_set(err, K8S_EARG,
                             "manager: leader election needs the lease namespace "
                             "(--lease-namespace or POD_NAMESPACE)");
    m = calloc(1, sizeof(*m));
    if (!m)
        return k8s_error_set(err, K8S_ENOMEM, "manager: out of memory");
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->cond, NULL);
    m->health_idx = m->metrics_idx = -1;
    m->nworkers = opts->workers ? opts->workers : 2;
    m->leader_elect = opts->leader_elect;
    m->lease_ms =
        opts->lease_duration_ms > 0 ? opts->lease_duration_ms : CTL_LEASE_DEFAULT_DURATION_MS;
    snprintf(m->component, sizeof(m->component), "%s",
             opts->component ? opts->component : "quay-storage-operator");
    snprintf(m->lease_name, sizeof(m->lease_name), "%s",
             opts->lease_name ? opts->lease_name : "quay-storage-operator-leader");
    if (opts->leader_elect)
        snprintf(m->lease_path, sizeof(m->lease_path),
                 "/apis/coordination.k8s.io/v1/namespaces/%.253s/leases", opts->lease_namespace);
    snprintf(m->health_addr, sizeof(m->health_addr), "%s",
             opts->health_addr ? opts->health_addr : "");
    snprintf(m->metrics_addr, sizeof(m->metrics_addr), "%s",
             opts->metrics_addr ? opts->metrics_addr : "");
    if (opts->identity && *opts->identity) {
        snprintf(m->identity, sizeof(m->identity), "%s", opts->identity);
    } else {
        char host[256] = "";
        if (gethostname(host, sizeof(host) - 1) != 0 || !*host)
            snprintf(host, sizeof(host), "quay-storage-operator");
        if (ctl_lease_make_identity(host, m->identity, sizeof(m->identity)) != 0) {
            rc = k8s_error_set(err, K8S_EIO, "manager: cannot make a random identity");
            goto out;
        }
    }
    if (opts->namespaces) {
        size_t n = 0;
        while (opts->namespaces[n])
            n++;
        m->namespaces = calloc(n + 1, sizeof(char *));
        if (!m->namespaces) {
            rc = k8s_error_set(err, K8S_ENOMEM, "manager: out of memory");
            goto out;
        }
        for (size_t i = 0; i < n; i++) {
            m->namespaces[i] = strdup(opts->namespaces[i]);
            if (!m->namespaces[i]) {
                rc = k8s_error_set(err, K8S_ENOMEM, "manager: out of memory");
                goto out;
            }
        }
    }
    if (opts->clock) {
        m->clock = opts->clock;
    } else {
        m->clock = ctl_clock_new_real();
        m->own_clock = 1;
        if (!m->clock) {
            rc = k8s_error_set(err, K8S_ENOMEM, "manager: out of memory");
            goto out;
        }
    }
    rc = k8s_client_new(opts->config, &m->client, err);
    if (rc)
        goto out;
    k8s_client_set_observer(m->client, observe_request, m);
    k8s_client_set_write_gate(m->client, client_write_gate, m);
    m->queue = ctl_wq_new(m->clock, opts->queue);
    m->metrics = ctl_metrics_new();
    if (!m->queue || !m->metrics) {
        rc = k8s_error_set(err, K8S_ENOMEM, "manager: out of memory");
        goto out;
    }
    memset(&ro, 0, sizeof(ro));
    ro.component = m->component;
    ro.instance = m->identity;
    rc = ctl_recorder_new(m->client, m->clock, &ro, &m->recorder, err);
    if (rc)
        goto out;
    ctl_recorder_set_gate(m->recorder, may_write_gate, m);
    if (m->leader_elect) {
        struct ctl_lease_options lo;
        memset(&lo, 0, sizeof(lo));
        lo.lease_namespace = opts->lease_namespace;
        lo.lease_name = m->lease_name;
        lo.identity = m->identity;
        lo.lease_duration_ms = opts->lease_duration_ms;
        lo.renew_deadline_ms = opts->renew_deadline_ms;
        lo.retry_period_ms = opts->retry_period_ms;
        lo.on_started_leading = on_started_leading;
        lo.on_stopped_leading = on_stopped_leading;
        lo.on_new_leader = on_new_leader;
        lo.user = m;
        rc = ctl_lease_new(m->client, m->clock, &lo, &m->lease, err);
        if (rc)
            goto out;
    }
    rc = register_metrics(m);
    if (rc) {
        k8s_error_set(err, rc, "manager: cannot register the metrics");
        goto out;
    }
    if (m->health_addr[0] || m->metrics_addr[0]) {
        struct ctl_http_route health[3] = {{"/healthz", handle_healthz, m},
                                           {"/readyz", handle_readyz, m},
                                           {"/metrics", handle_metrics, m}};
        size_t idx;
        rc = ctl_httpserver_new(&m->http, err);
        if (rc)
            goto out;
        if (m->health_addr[0]) {
            /* One listener serves all three when both addresses are the same. */
            int same = strcmp(m->health_addr, m->metrics_addr) == 0;
            rc = ctl_httpserver_listen(m->http, m->health_addr, health, same ? 3 : 2, &idx, err);
            if (rc)
                goto out;
            m->health_idx = (int)idx;
            if (same)
                m->metrics_idx = (int)idx;
        }
        if (m->metrics_addr[0] && m->metrics_idx < 0) {
            rc = ctl_httpserver_listen(m->http, m->metrics_addr, &health[2], 1, &idx, err);
            if (rc)
                goto out;
            m->metrics_idx = (int)idx;
        }
    }
out:
    if (rc) {
        ctl_manager_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

/* ---- registration ------------------------------------------------------ */

int ctl_manager_add_reconciler(struct ctl_manager *m, const struct ctl_reconciler *r,
                               struct k8s_error *err)
{
    if (!r || !r->kind || !*r->kind || strchr(r->kind, '/') || !r->reconcile ||
        strlen(r->kind) >= sizeof(m->reconciler_kinds[0]))
        return k8s_error_set(err, K8S_EARG, "manager: a reconciler needs a kind and a function");
    if (m->nreconcilers >= CTL_MANAGER_MAX_RECONCILERS)
        return k8s_error_set(err, K8S_EARG, "manager: too many reconcilers");
    for (size_t i = 0; i < m->nreconcilers; i++)
        if (strcmp(m->reconciler_kinds[i], r->kind) == 0)
            return k8s_error_set(err, K8S_EARG, "manager: kind %s already has a reconciler",
                                 r->kind);
    snprintf(m->reconciler_kinds[m->nreconcilers], sizeof(m->reconciler_kinds[0]), "%s", r->kind);
    m->reconcilers[m->nreconcilers] = *r;
    m->reconcilers[m->nreconcilers].kind = m->reconciler_kinds[m->nreconcilers];
    m->nreconcilers++;
    return 0;
}

int ctl_manager_add_informer(struct ctl_manager *m, const struct ctl_informer_options *opts,
                             struct ctl_informer **out, struct k8s_error *err)
{
    struct ctl_informer_options o;
    char name[128];
    int rc, dup = 1;

    *out = NULL;
    if (m->ninformers >= CTL_MANAGER_MAX_INFORMERS)
        return k8s_error_set(err, K8S_EARG, "manager: too many informers");
    if (m->informers_started)
        return k8s_error_set(err, K8S_EARG, "manager: informers are added before run");
    o = *opts;
    if (!o.namespaces && m->namespaces)
        o.namespaces = (const char *const *)m->namespaces;
    rc = ctl_informer_new(m->client, m->clock, &o, &m->informers[m->ninformers], err);
    if (rc)
        return rc;
    snprintf(name, sizeof(name), "%s%s%s", opts->resource.resource,
             opts->resource.group && *opts->resource.group ? "." : "",
             opts->resource.group ? opts->resource.group : "");
    snprintf(m->informer_names[m->ninformers], sizeof(m->informer_names[0]), "%s", name);
    /* Two informers of one resource (different selectors) get distinct names. */
    for (size_t i = 0; i < m->ninformers; i++) {
        if (strcmp(m->informer_names[i], m->informer_names[m->ninformers]) == 0)
            snprintf(m->informer_names[m->ninformers], sizeof(m->informer_names[0]), "%.100s#%d",
                     name, ++dup);
    }
    *out = m->informers[m->ninformers++];
    return 0;
}

static void enqueue_obj(struct ctl_manager *m, const char *kind, const cJSON *obj, const char *name)
{
    char key[KEY_MAX];
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const cJSON *ns = cJSON_GetObjectItemCaseSensitive(md, "namespace");
    if (!name)
        return;
    if (ctl_wq_key(key, sizeof(key), kind, cJSON_IsString(ns) ? ns->valuestring : NULL, name) == 0)
        ctl_manager_enqueue(m, key);
}

static void informer_handler(enum ctl_event_type type, const cJSON *old, const cJSON *obj,
                             void *user)
{
    struct watch_reg *w = user;
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(md, "name");
    const cJSON *refs, *ref;
    (void)type;

    switch (w->type) {
    case W_SELF:
        enqueue_obj(w->m, w->kind, obj, cJSON_IsString(name) ? name->valuestring : NULL);
        break;
    case W_OWNER:
        /* Both the old and the new owners hear of a change of ownership. */
        for (int pass = 0; pass < 2; pass++) {
            const cJSON *o = pass ? old : obj;
            if (!o)
                continue;
            refs = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "metadata"),
                                                    "ownerReferences");
            cJSON_ArrayForEach(ref, refs)
            {
                const cJSON *k = cJSON_GetObjectItemCaseSensitive(ref, "kind");
                const cJSON *n = cJSON_GetObjectItemCaseSensitive(ref, "name");
                if (cJSON_IsString(k) && strcmp(k->valuestring, w->owner_kind) == 0 &&
                    cJSON_IsString(n))
                    enqueue_obj(w->m, w->kind, o, n->valuestring);
            }
        }
        break;
    case W_MAP:
        w->map(w->m, obj, w->user);
        break;
    }
}

static int add_watch(struct ctl_manager *m, struct ctl_informer *inf, enum watch_type type,
                     const char *kind, const char *owner_kind, ctl_map_fn map, void *user)
{
    struct watch_reg *w;
    if (m->nwatches >= sizeof(m->watches) / sizeof(m->watches[0]))
        return K8S_EARG;
    if ((kind && (strlen(kind) >= sizeof(w->kind) || strchr(kind, '/'))) ||
        (owner_kind && strlen(owner_kind) >= sizeof(w->owner_kind)))
        return K8S_EARG;
    w = &m->watches[m->nwatches];
    memset(w, 0, sizeof(*w));
    w->m = m;
    w->type = type;
    snprintf(w->kind, sizeof(w->kind), "%s", kind ? kind : "");
    snprintf(w->owner_kind, sizeof(w->owner_kind), "%s", owner_kind ? owner_kind : "");
    w->map = map;
    w->user = user;
    if (ctl_informer_add_handler(inf, informer_handler, w) != 0)
        return K8S_ENOMEM;
    m->nwatches++;
    return 0;
}

int ctl_manager_watch(struct ctl_manager *m, struct ctl_informer *inf, const char *kind)
{
    if (!kind || !*kind)
        return K8S_EARG;
    return add_watch(m, inf, W_SELF, kind, NULL, NULL, NULL);
}

int ctl_manager_watch_owner(struct ctl_manager *m, struct ctl_informer *inf, const char *owner_kind,
                            const char *kind)
{
    if (!kind || !*kind || !owner_kind || !*owner_kind)
        return K8S_EARG;
    return add_watch(m, inf, W_OWNER, kind, owner_kind, NULL, NULL);
}

int ctl_manager_watch_map(struct ctl_manager *m, struct ctl_informer *inf, ctl_map_fn map,
                          void *user)
{
    if (!map)
        return K8S_EARG;
    return add_watch(m, inf, W_MAP, NULL, NULL, map, user);
}

void ctl_manager_enqueue(struct ctl_manager *m, const char *key)
{
    ctl_wq_add(m->queue, key);
}

void ctl_manager_enqueue_after(struct ctl_manager *m, const char *key, int64_t delay_ms)
{
    ctl_wq_add_after(m->queue, key, delay_ms);
}

/* ---- workers ----------------------------------------------------------- */

int ctl_manager_may_write(struct ctl_manager *m)
{
    int lost;
    pthread_mutex_lock(&m->mu);
    lost = m->lost;
    pthread_mutex_unlock(&m->mu);
    if (lost)
        return 0;
    return !m->leader_elect || ctl_lease_is_leader(m->lease);
}

int ctl_manager_is_leader(struct ctl_manager *m)
{
    return m->leader_elect && ctl_lease_is_leader(m->lease);
}

static const struct ctl_reconciler *find_reconciler(struct ctl_manager *m, const char *kind)
{
    for (size_t i = 0; i < m->nreconcilers; i++)
        if (strcmp(m->reconcilers[i].kind, kind) == 0)
            return &m->reconcilers[i];
    return NULL;
}

static void process(struct worker *w, const char *key)
{
    struct ctl_manager *m = w->m;
    struct ctl_context *ctx = &w->ctx;
    const struct ctl_reconciler *r;
    const char *result;
    int64_t after = 0, t0;
    int rc;

    if (ctl_wq_key_split(key, ctx->kind, sizeof(ctx->kind), ctx->ns, sizeof(ctx->ns), ctx->name,
                         sizeof(ctx->name)) != 0 ||
        !(r = find_reconciler(m, ctx->kind))) {
        const char *kv[] = {"key", key, NULL};
        k8s_log(K8S_LOG_WARN, NULL, NULL, "no reconciler for this key; dropped", kv);
        ctl_wq_forget(m->queue, key);
        return;
    }
    const char *const ctrl[] = {ctx->kind, NULL};
    t0 = ctl_clock_mono_ms(m->clock);
    rc = r->reconcile(ctx, key, &after, r->user);
    ctl_metric_observe(m->m_reconcile_time, ctrl,
                       (double)(ctl_clock_mono_ms(m->clock) - t0) / 1000.0);
    if (rc < 0) {
        char code[16];
        const char *kv[] = {"key", key, "error", k8s_err_name(rc), "code", code, NULL};
        snprintf(code, sizeof(code), "%d", rc);
        k8s_log(K8S_LOG_WARN, ctx->ns[0] ? ctx->ns : NULL, ctx->name, "reconcile failed", kv);
        ctl_metric_inc(m->m_reconcile_errors, ctrl);
        ctl_wq_add_rate_limited(m->queue, key);
        result = "error";
    } else if (rc == CTL_REQUEUE) {
        ctl_wq_add_rate_limited(m->queue, key);
        result = "requeue";
    } else if (rc == CTL_REQUEUE_AFTER && after > 0) {
        ctl_wq_forget(m->queue, key);
        ctl_wq_add_after(m->queue, key, after);
        result = "requeue_after";
    } else {
        ctl_wq_forget(m->queue, key);
        result = "success";
    }
    const char *const lv[] = {ctx->kind, result, NULL};
    ctl_metric_inc(m->m_reconcile_total, lv);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    char *key;
    while ((key = ctl_wq_get(w->m->queue)) != NULL) {
        /* After leadership is lost, keys are dropped unprocessed: the drain
         * only empties the queue. */
        if (ctl_manager_may_write(w->m))
            process(w, key);
        ctl_wq_done(w->m->queue, key);
        free(key);
    }
    return NULL;
}

static int start_workers(struct ctl_manager *m)
{
    for (int i = 0; i < m->nworkers; i++) {
        m->workers[i].m = m;
        m->workers[i].ctx.m = m;
        if (pthread_create(&m->workers[i].thread, NULL, worker_main, &m->workers[i]) != 0) {
            /* Keep those that started; they are joined on stop. */
            m->workers_started = i;
            return K8S_EIO;
        }
        m->workers_started = i + 1;
    }
    {
        char n[16];
        const char *kv[] = {"workers", n, NULL};
        snprintf(n, sizeof(n), "%d", m->nworkers);
        k8s_log(K8S_LOG_INFO, NULL, NULL, "starting workers", kv);
    }
    return 0;
}

/* ---- run ---------------------------------------------------------------- */

static void log_listen(struct ctl_manager *m, const char *what, const char *addr, int idx)
{
    char port[16], bound[320];
    const char *kv[] = {"addr", bound, "port", port, NULL};
    char host[256];
    int p;
    if (idx < 0)
        return;
    snprintf(port, sizeof(port), "%d", ctl_httpserver_port(m->http, (size_t)idx));
    if (ctl_http_parse_addr(addr, host, sizeof(host), &p) != 0)
        host[0] = '\0';
    snprintf(bound, sizeof(bound), "%s:%s", host, port);
    k8s_log(K8S_LOG_INFO, NULL, NULL, what, kv);
}

int ctl_manager_run(struct ctl_manager *m, struct k8s_error *err)
{
    int rc = 0, lost = 0, stop = 0;

    pthread_mutex_lock(&m->mu);
    if (m->running) {
        pthread_mutex_unlock(&m->mu);
        return k8s_error_set(err, K8S_EARG, "manager: already running");
    }
    m->running = 1;
    pthread_mutex_unlock(&m->mu);

    if (m->http) {
        rc = ctl_httpserver_start(m->http, err);
        if (rc)
            goto out;
        m->http_started = 1;
        if (m->health_idx >= 0)
            log_listen(m,
                       m->metrics_idx == m->health_idx ? "serving health probes and metrics"
                                                       : "serving health probes",
                       m->health_addr, m->health_idx);
        if (m->metrics_idx >= 0 && m->metrics_idx != m->health_idx)
            log_listen(m, "serving metrics", m->metrics_addr, m->metrics_idx);
    }
    for (size_t i = 0; i < m->ninformers; i++) {
        rc = ctl_informer_start(m->informers[i]);
        if (rc) {
            k8s_error_set(err, rc, "manager: cannot start the informer of %s",
                          m->informer_names[i]);
            goto out;
        }
    }
    m->informers_started = 1;
    if (m->leader_elect) {
        const char *kv[] = {"identity", m->identity, NULL};
        k8s_log(K8S_LOG_INFO, NULL, m->lease_name, "waiting to become leader", kv);
        rc = ctl_lease_start(m->lease, err);
        if (rc)
            goto out;
    } else {
        pthread_mutex_lock(&m->mu);
        m->want_workers = 1;
        pthread_mutex_unlock(&m->mu);
    }

    pthread_mutex_lock(&m->mu);
    for (;;) {
        if (m->stop_requested || m->lost)
            break;
        if (m->want_workers && !m->workers_started) {
            pthread_mutex_unlock(&m->mu);
            rc = start_workers(m);
            pthread_mutex_lock(&m->mu);
            if (rc) {
                k8s_error_set(err, rc, "manager: cannot start the workers");
                break;
            }
            continue;
        }
        pthread_cond_wait(&m->cond, &m->mu);
    }
    lost = m->lost;
    stop = m->stop_requested;
    pthread_mutex_unlock(&m->mu);
    if (lost) {
        const char *kv[] = {"identity", m->identity, NULL};
        k8s_log(K8S_LOG_ERROR, NULL, m->lease_name,
                "leader election lost: stopping reconciles and exiting", kv);
    } else if (stop) {
        k8s_log(K8S_LOG_INFO, NULL, NULL, "stopping: draining the work queue", NULL);
    }

out:
    /* Informers are told to stop first (their caches stay readable): a
     * worker waiting for a cache that never syncs (a list refused by RBAC)
     * then gets K8S_ESTOPPED instead of holding the drain, and the lease,
     * forever. All told first, joined last: each watch needs up to ~1 s to
     * notice, and one after another that was seconds per stop. */
    for (size_t i = 0; i < m->ninformers; i++)
        ctl_informer_request_stop(m->informers[i]);
    /* Drain: workers finish their current key (or, after a loss, drop the
     * rest) and return when the queue is empty. */
    ctl_wq_shutdown(m->queue);
    for (int i = 0; i < m->workers_started; i++)
        pthread_join(m->workers[i].thread, NULL);
    m->workers_started = 0;
    /* Released only after the workers are done, and only if still ours. */
    if (m->lease)
        ctl_lease_stop(m->lease);
    for (size_t i = 0; i < m->ninformers; i++)
        ctl_informer_stop(m->informers[i]);
    if (m->http_started) {
        ctl_httpserver_stop(m->http);
        m->http_started = 0;
    }
    if (rc == 0 && lost)
        rc = k8s_error_set(err, K8S_ESTOPPED, "leader election lost");
    return rc;
}

void ctl_manager_request_stop(struct ctl_manager *m)
{
    pthread_mutex_lock(&m->mu);
    m->stop_requested = 1;
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->mu);
}

void ctl_manager_free(struct ctl_manager *m)
{
    if (!m)
        return;
    /* Everything ctl_manager_run started it also stopped before returning. */
    ctl_httpserver_free(m->http);
    ctl_lease_free(m->lease);
    for (size_t i = 0; i < m->ninformers; i++)
        ctl_informer_free(m->informers[i]);
    ctl_recorder_free(m->recorder);
    ctl_metrics_free(m->metrics);
    ctl_wq_free(m->queue);
    k8s_client_free(m->client);
    if (m->own_clock)
        ctl_clock_free(m->clock);
    for (size_t i = 0; m->namespaces && m->namespaces[i]; i++)
        free(m->namespaces[i]);
    free(m->namespaces);
    pthread_cond_destroy(&m->cond);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

/* ---- accessors ------------------------------------------------------------ */

struct k8s_client *ctl_manager_client(struct ctl_manager *m)
{
    return m->client;
}

struct ctl_clock *ctl_manager_clock(struct ctl_manager *m)
{
    return m->clock;
}

struct ctl_recorder *ctl_manager_recorder(struct ctl_manager *m)
{
    return m->recorder;
}

struct ctl_metrics *ctl_manager_metrics(struct ctl_manager *m)
{
    return m->metrics;
}

struct ctl_workqueue *ctl_manager_queue(struct ctl_manager *m)
{
    return m->queue;
}

const char *ctl_manager_identity(const struct ctl_manager *m)
{
    return m->identity;
}

int ctl_manager_health_port(struct ctl_manager *m)
{
    return m->health_idx >= 0 ? ctl_httpserver_port(m->http, (size_t)m->health_idx) : -1;
}

int ctl_manager_metrics_port(struct ctl_manager *m)
{
    return m->metrics_idx >= 0 ? ctl_httpserver_port(m->http, (size_t)m->metrics_idx) : -1;
}

struct ctl_manager *ctl_context_manager(struct ctl_context *ctx)
{
    return ctx->m;
}

struct k8s_client *ctl_context_client(struct ctl_context *ctx)
{
    return ctx->m->client;
}

struct ctl_clock *ctl_context_clock(struct ctl_context *ctx)
{
    return ctx->m->clock;
}

struct ctl_recorder *ctl_context_recorder(struct ctl_context *ctx)
{
    return ctx->m->recorder;
}

const char *ctl_context_kind(struct ctl_context *ctx)
{
    return ctx->kind;
}

const char *ctl_context_namespace(struct ctl_context *ctx)
{
    return ctx->ns;
}

const char *ctl_context_name(struct ctl_context *ctx)
{
    return ctx->name;
}

int ctl_context_may_write(struct ctl_context *ctx)
{
    return ctl_manager_may_write(ctx->m);
}
