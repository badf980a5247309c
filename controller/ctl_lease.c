/*
 * Leader election on a coordination.k8s.io/v1 Lease (see ctl_lease.h).
 *
 * Internals: one mutex guards the elector's state (leading, the record last
 * observed and when, the resourceVersion, the last successful renewal); it is
 * never held across a request or a callback. Rounds run on one thread at a
 * time (the elector's thread, or a test calling ctl_lease_step), so the
 * request sequence GET -> PUT needs no lock of its own: the server's
 * resourceVersion precondition is what makes it safe against other
 * processes.
 *
 * Two times matter and come from the monotonic clock: `observed_mono`, when
 * the record we hold last changed (a candidate waits leaseDuration from
 * there), and `last_renew_mono`, when our last successful write STARTED (we
 * count our lease from the moment before the request, the conservative end:
 * the server may have written it later, never earlier).
 */
#include "ctl_lease.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "k8s_log.h"

static const struct k8s_resource LEASES = {"coordination.k8s.io", "v1", "leases", 1};

enum attempt_result { R_ACQUIRED, R_HELD, R_FAILED, R_DEADLINE };

struct ctl_lease {
    struct k8s_client *client;
    struct ctl_clock *clock;
    char ns[64];
    char name[254];
    char identity[256];
    int64_t lease_ms, renew_ms, retry_ms;
    void (*on_started)(void *user);
    void (*on_stopped)(void *user);
    void (*on_new_leader)(const char *identity, void *user);
    void *user;

    pthread_mutex_t mu;
    pthread_cond_t cond;
    int leading, lost, stop;
    int64_t last_renew_mono;
    int64_t last_contact_mono;
    cJSON *observed; /* the whole Lease as last read or written; owned */
    int64_t observed_mono;
    char holder[256];
    unsigned long acquisitions, renewals, failures;
    pthread_t thread;
    int thread_started;
};

int ctl_lease_make_identity(const char *base, char *buf, size_t cap)
{
    unsigned char rnd[8];
    size_t got = 0;
    if (!base || !*base || !buf)
        return K8S_EARG;
    while (got < sizeof(rnd)) {
        ssize_t n = getrandom(rnd + got, sizeof(rnd) - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return K8S_EIO;
        got += (size_t)n;
    }
    int n = snprintf(buf, cap, "%.200s_%02x%02x%02x%02x%02x%02x%02x%02x", base, rnd[0], rnd[1],
                     rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
    return n < 0 || (size_t)n >= cap ? K8S_EARG : 0;
}

int ctl_lease_new(struct k8s_client *client, struct ctl_clock *clock,
                  const struct ctl_lease_options *opts, struct ctl_lease **out,
                  struct k8s_error *err)
{
    struct ctl_lease *le;
    *out = NULL;
    if (!client || !clock || !opts || !opts->lease_namespace || !*opts->lease_namespace ||
        !opts->lease_name || !*opts->lease_name || !opts->identity || !*opts->identity)
        return k8s_error_set(err, K8S_EARG,
                             "leader election: the lease namespace, name and identity are needed");
    if (strlen(opts->lease_namespace) >= 64 || strlen(opts->lease_name) >= 254 ||
        strlen(opts->identity) >= 256)
        return k8s_error_set(err, K8S_EARG, "leader election: a name is too long");
    le = calloc(1, sizeof(*le));
    if (!le)
        return k8s_error_set(err, K8S_ENOMEM, "leader election: out of memory");
    le->client = client;
    le->clock = clock;
    snprintf(le->ns, sizeof(le->ns), "%s", opts->lease_namespace);
    snprintf(le->name, sizeof(le->name), "%s", opts->lease_name);
    snprintf(le->identity, sizeof(le->identity), "%s", opts->identity);
    le->lease_ms =
        opts->lease_duration_ms > 0 ? opts->lease_duration_ms : CTL_LEASE_DEFAULT_DURATION_MS;
    le->renew_ms =
        opts->renew_deadline_ms > 0 ? opts->renew_deadline_ms : CTL_LEASE_DEFAULT_RENEW_MS;
    le->retry_ms = opts->retry_period_ms > 0 ? opts->retry_period_ms : CTL_LEASE_DEFAULT_RETRY_MS;
    /* client-go refuses these too: a renew deadline at or past the lease
     * would let two leaders overlap. */
    if (le->renew_ms >= le->lease_ms || le->retry_ms >= le->renew_ms || le->lease_ms % 1000) {
        free(le);
        return k8s_error_set(err, K8S_EARG,
                             "leader election: need retryPeriod < renewDeadline < leaseDuration "
                             "(whole seconds)");
    }
    le->on_started = opts->on_started_leading;
    le->on_stopped = opts->on_stopped_leading;
    le->on_new_leader = opts->on_new_leader;
    le->user = opts->user;
    pthread_mutex_init(&le->mu, NULL);
    pthread_cond_init(&le->cond, NULL);
    *out = le;
    return 0;
}

const char *ctl_lease_identity(const struct ctl_lease *le)
{
    return le->identity;
}

static int64_t mono(struct ctl_lease *le)
{
    return ctl_clock_mono_ms(le->clock);
}

/* With le->mu held. */
static int leader_locked(struct ctl_lease *le, int64_t now)
{
    return le->leading && !le->lost && now - le->last_renew_mono < le->renew_ms;
}

int ctl_lease_is_leader(struct ctl_lease *le)
{
    int r;
    if (!le)
        return 0;
    pthread_mutex_lock(&le->mu);
    r = leader_locked(le, mono(le));
    pthread_mutex_unlock(&le->mu);
    return r;
}

void ctl_lease_get_status(struct ctl_lease *le, struct ctl_lease_status *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&le->mu);
    out->leading = leader_locked(le, mono(le));
    out->lost = le->lost;
    snprintf(out->holder, sizeof(out->holder), "%s", le->holder);
    out->last_contact_mono_ms = le->last_contact_mono;
    out->acquisitions = le->acquisitions;
    out->renewals = le->renewals;
    out->failures = le->failures;
    pthread_mutex_unlock(&le->mu);
}

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static long jlong(const cJSON *o, const char *key, long dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? (long)v->valuedouble : dflt;
}

/* The Lease to write: `base` (the one read, or NULL to create) with a spec of
 * ours. acquireTime and leaseTransitions carry over when we already hold it. */
static cJSON *lease_body(struct ctl_lease *le, const cJSON *base, const char *holder,
                         long duration_s, int keep_acquire)
{
    const cJSON *old = cJSON_GetObjectItemCaseSensitive(base, "spec");
    const char *old_holder = jstr(old, "holderIdentity");
    char now[48];
    cJSON *o, *spec, *md;
    long transitions = jlong(old, "leaseTransitions", 0);

    ctl_clock_format_rfc3339_micro(ctl_clock_wall_ms(le->clock), now, sizeof(now));
    if (base) {
        o = cJSON_Duplicate(base, 1);
        if (!o)
            return NULL;
        cJSON_DeleteItemFromObjectCaseSensitive(o, "spec");
        cJSON_DeleteItemFromObjectCaseSensitive(o, "status");
    } else {
        o = cJSON_CreateObject();
        if (!o)
            return NULL;
        cJSON_AddStringToObject(o, "apiVersion", "coordination.k8s.io/v1");
        cJSON_AddStringToObject(o, "kind", "Lease");
        md = cJSON_AddObjectToObject(o, "metadata");
        cJSON_AddStringToObject(md, "name", le->name);
        cJSON_AddStringToObject(md, "namespace", le->ns);
    }
    /* A change of holder is a transition (client-go's LeaderTransitions);
     * a first acquisition of an empty or released lease counts too when it
     * had a holder before. */
    if (base && *holder && !(old_holder && strcmp(old_holder, holder) == 0))
        transitions++;
    spec = cJSON_AddObjectToObject(o, "spec");
    cJSON_AddStringToObject(spec, "holderIdentity", holder);
    cJSON_AddNumberToObject(spec, "leaseDurationSeconds", (double)duration_s);
    if (keep_acquire && jstr(old, "acquireTime"))
        cJSON_AddStringToObject(spec, "acquireTime", jstr(old, "acquireTime"));
    else
        cJSON_AddStringToObject(spec, "acquireTime", now);
    cJSON_AddStringToObject(spec, "renewTime", now);
    cJSON_AddNumberToObject(spec, "leaseTransitions", (double)transitions);
    return o;
}

/* Records a Lease we read (at `when`) or wrote; returns 1 when its holder
 * differs from the one observed before (the caller reports the new leader). */
static int observe(struct ctl_lease *le, const cJSON *lease, int64_t when)
{
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(lease, "spec");
    const cJSON *prev = cJSON_GetObjectItemCaseSensitive(le->observed, "spec");
    const char *h = jstr(spec, "holderIdentity");
    int changed_holder;
    if (!h)
        h = "";
    changed_holder = !le->observed || strcmp(h, le->holder) != 0;
    if (!le->observed || !cJSON_Compare(spec, prev, 1))
        le->observed_mono = when;
    cJSON_Delete(le->observed);
    le->observed = cJSON_Duplicate(lease, 1);
    snprintf(le->holder, sizeof(le->holder), "%s", h);
    le->last_contact_mono = when;
    return changed_holder;
}

static void notify_new_leader(struct ctl_lease *le, int changed)
{
    char holder[256];
    if (!changed || !le->on_new_leader)
        return;
    pthread_mutex_lock(&le->mu);
    snprintf(holder, sizeof(holder), "%s", le->holder);
    pthread_mutex_unlock(&le->mu);
    le->on_new_leader(holder, le->user);
}

/* Whether we lead on paper but our last renewal is older than the deadline:
 * then nothing may be written any more. */
static int past_deadline(struct ctl_lease *le)
{
    int r;
    pthread_mutex_lock(&le->mu);
    r = le->leading && mono(le) - le->last_renew_mono >= le->renew_ms;
    pthread_mutex_unlock(&le->mu);
    return r;
}

static void log_err(struct ctl_lease *le, enum k8s_log_level lvl, const char *msg,
                    const struct k8s_error *e)
{
    const char *kv[] = {"identity", le->identity,          "error", e->message,
                        "code",     k8s_err_name(e->code), NULL};
    k8s_log(lvl, le->ns, le->name, msg, kv);
}

static enum attempt_result attempt(struct ctl_lease *le, int64_t *held_until)
{
    struct k8s_error err;
    cJSON *got = NULL, *body = NULL, *res = NULL;
    enum attempt_result r = R_FAILED;
    int64_t t_read, t_write;
    int rc, changed = 0, mine;
    const cJSON *spec;
    const char *holder;
    long duration_s;

    k8s_error_clear(&err);
    rc = k8s_get(le->client, &LEASES, le->ns, le->name, NULL, &got, &err);
    t_read = mono(le);
    if (rc == K8S_ENOTFOUND) {
        pthread_mutex_lock(&le->mu);
        le->last_contact_mono = t_read;
        pthread_mutex_unlock(&le->mu);
        body = lease_body(le, NULL, le->identity, (long)(le->lease_ms / 1000), 0);
        if (!body)
            goto out;
        if (past_deadline(le)) {
            r = R_DEADLINE;
            goto out;
        }
        t_write = mono(le);
        k8s_error_clear(&err);
        rc = k8s_create(le->client, &LEASES, le->ns, body, NULL, &res, &err);
        if (rc == 0) {
            pthread_mutex_lock(&le->mu);
            changed = observe(le, res, mono(le));
            le->last_renew_mono = t_write;
            pthread_mutex_unlock(&le->mu);
            r = R_ACQUIRED;
        } else {
            log_err(le, rc == K8S_EALREADYEXISTS ? K8S_LOG_DEBUG : K8S_LOG_WARN,
                    "cannot create the leader election lease", &err);
        }
        goto out;
    }
    if (rc) {
        log_err(le, K8S_LOG_WARN, "cannot read the leader election lease", &err);
        goto out;
    }
    spec = cJSON_GetObjectItemCaseSensitive(got, "spec");
    holder = jstr(spec, "holderIdentity");
    if (!holder)
        holder = "";
    duration_s = jlong(spec, "leaseDurationSeconds", 0);
    mine = strcmp(holder, le->identity) == 0;
    pthread_mutex_lock(&le->mu);
    changed = observe(le, got, t_read);
    if (*holder && !mine && le->observed_mono + duration_s * 1000 > t_read) {
        *held_until = le->observed_mono + duration_s * 1000;
        pthread_mutex_unlock(&le->mu);
        r = R_HELD;
        goto out;
    }
    pthread_mutex_unlock(&le->mu);

    body = lease_body(le, got, le->identity, (long)(le->lease_ms / 1000), mine);
    if (!body)
        goto out;
    /* Checked again right before the write: the GET may have been slow, or
     * the process paused in between. */
    if (past_deadline(le)) {
        r = R_DEADLINE;
        goto out;
    }
    t_write = mono(le);
    k8s_error_clear(&err);
    rc = k8s_update(le->client, &LEASES, le->ns, le->name, body, NULL, &res, &err);
    if (rc == 0) {
        pthread_mutex_lock(&le->mu);
        changed |= observe(le, res, mono(le));
        le->last_renew_mono = t_write;
        pthread_mutex_unlock(&le->mu);
        r = R_ACQUIRED;
    } else {
        /* 409: someone else wrote it between our GET and PUT. */
        log_err(le, rc == K8S_ECONFLICT ? K8S_LOG_INFO : K8S_LOG_WARN,
                "cannot update the leader election lease", &err);
    }
out:
    notify_new_leader(le, changed);
    cJSON_Delete(got);
    cJSON_Delete(body);
    cJSON_Delete(res);
    return r;
}

/* Stops leading for good; calls on_stopped_leading once. */
static void lose(struct ctl_lease *le, const char *why)
{
    int was;
    pthread_mutex_lock(&le->mu);
    was = le->leading;
    le->leading = 0;
    if (was)
        le->lost = 1;
    pthread_mutex_unlock(&le->mu);
    if (!was)
        return;
    const char *kv[] = {"identity", le->identity, "reason", why, NULL};
    /* Losing the lease is an error; giving it up on a clean stop is not. */
    k8s_log(strcmp(why, "released") == 0 ? K8S_LOG_INFO : K8S_LOG_ERROR, le->ns, le->name,
            "stopped leading", kv);
    if (le->on_stopped)
        le->on_stopped(le->user);
}

int ctl_lease_step(struct ctl_lease *le, int64_t *next_mono_ms)
{
    int64_t now = mono(le), next = now + le->retry_ms, held_until = 0, last;
    int leading, lost;
    enum attempt_result r;

    pthread_mutex_lock(&le->mu);
    leading = le->leading;
    lost = le->lost;
    last = le->last_renew_mono;
    pthread_mutex_unlock(&le->mu);

    if (lost) {
        /* Final: never try again after losing. */
        if (next_mono_ms)
            *next_mono_ms = CTL_CLOCK_FOREVER;
        return 0;
    }
    if (leading && now - last >= le->renew_ms) {
        lose(le, "renew deadline passed");
        goto out;
    }
    r = attempt(le, &held_until);
    switch (r) {
    case R_ACQUIRED:
        pthread_mutex_lock(&le->mu);
        if (!le->leading) {
            le->leading = 1;
            le->acquisitions++;
        } else {
            le->renewals++;
        }
        pthread_mutex_unlock(&le->mu);
        if (!leading) {
            const char *kv[] = {"identity", le->identity, NULL};
            k8s_log(K8S_LOG_INFO, le->ns, le->name, "became leader", kv);
            if (le->on_started)
                le->on_started(le->user);
        }
        break;
    case R_HELD:
        if (leading) {
            lose(le, "lease taken by another holder");
            break;
        }
        /* Wake when it can expire, if that is before the next retry. */
        if (held_until < next)
            next = held_until;
        break;
    case R_DEADLINE:
        lose(le, "renew deadline passed");
        break;
    case R_FAILED:
        pthread_mutex_lock(&le->mu);
        le->failures++;
        pthread_mutex_unlock(&le->mu);
        /* A leader gives up exactly at its deadline, not up to a retry later. */
        if (leading && last + le->renew_ms < next)
            next = last + le->renew_ms;
        break;
    }
out:
    if (next_mono_ms) {
        pthread_mutex_lock(&le->mu);
        *next_mono_ms = le->lost ? CTL_CLOCK_FOREVER : next;
        pthread_mutex_unlock(&le->mu);
    }
    return ctl_lease_is_leader(le);
}

static void *elector_main(void *arg)
{
    struct ctl_lease *le = arg;
    int64_t next;
    pthread_mutex_lock(&le->mu);
    while (!le->stop) {
        pthread_mutex_unlock(&le->mu);
        ctl_lease_step(le, &next);
        pthread_mutex_lock(&le->mu);
        if (le->lost)
            break;
        while (!le->stop && !ctl_clock_wait_until(le->clock, &le->cond, &le->mu, next))
            ;
    }
    pthread_mutex_unlock(&le->mu);
    return NULL;
}

int ctl_lease_start(struct ctl_lease *le, struct k8s_error *err)
{
    if (le->thread_started)
        return k8s_error_set(err, K8S_EARG, "leader election: already started");
    ctl_clock_watch(le->clock, &le->cond, &le->mu);
    if (pthread_create(&le->thread, NULL, elector_main, le) != 0) {
        ctl_clock_unwatch(le->clock, &le->cond);
        return k8s_error_set(err, K8S_EIO, "leader election: cannot start its thread");
    }
    le->thread_started = 1;
    return 0;
}

int ctl_lease_release(struct ctl_lease *le)
{
    struct k8s_error err;
    cJSON *body = NULL, *res = NULL;
    int rc = 0, leading;

    pthread_mutex_lock(&le->mu);
    leading = leader_locked(le, mono(le));
    if (leading)
        body = lease_body(le, le->observed, "", 1, 0);
    pthread_mutex_unlock(&le->mu);
    if (!leading) {
        /* Still marked leading here means the deadline passed unnoticed. */
        lose(le, "renew deadline passed");
        return 0;
    }
    if (!body) {
        rc = K8S_ENOMEM;
        goto out;
    }
    /* client-go's release: holder cleared, duration 1 s, transitions kept
     * (lease_body counts no transition for an empty holder). */
    k8s_error_clear(&err);
    rc = k8s_update(le->client, &LEASES, le->ns, le->name, body, NULL, &res, &err);
    if (rc) {
        log_err(le, K8S_LOG_WARN, "cannot release the leader election lease", &err);
    } else {
        const char *kv[] = {"identity", le->identity, NULL};
        pthread_mutex_lock(&le->mu);
        observe(le, res, mono(le));
        pthread_mutex_unlock(&le->mu);
        k8s_log(K8S_LOG_INFO, le->ns, le->name, "released the leader election lease", kv);
    }
out:
    lose(le, "released");
    cJSON_Delete(body);
    cJSON_Delete(res);
    return rc;
}

void ctl_lease_stop(struct ctl_lease *le)
{
    if (!le)
        return;
    pthread_mutex_lock(&le->mu);
    le->stop = 1;
    pthread_cond_broadcast(&le->cond);
    pthread_mutex_unlock(&le->mu);
    if (le->thread_started) {
        pthread_join(le->thread, NULL);
        ctl_clock_unwatch(le->clock, &le->cond);
        le->thread_started = 0;
    }
    ctl_lease_release(le);
}

void ctl_lease_free(struct ctl_lease *le)
{
    if (!le)
        return;
    ctl_lease_stop(le);
    cJSON_Delete(le->observed);
    pthread_cond_destroy(&le->cond);
    pthread_mutex_destroy(&le->mu);
    free(le);
}
