/*
 * The rate-limited work queue (see ctl_workqueue.h).
 *
 * Internals. Every key the queue knows anything about has one record in a
 * balanced tree (glibc's tsearch, keyed by the string): whether it is dirty
 * (waiting to be handed out), in flight, its failure count for the backoff,
 * and its place in the delay heap. A record is freed as soon as it holds no
 * state any more, so the tree stays as small as the live work. Around the
 * tree:
 *   - a FIFO ring of records that are dirty and not in flight (the order in
 *     which workers get keys);
 *   - a binary min-heap of records waiting for a delay, by due time, each
 *     record knowing its heap index so an earlier add_after can move it up;
 *   - the token bucket, which may go negative: each rate-limited add reserves
 *     the next token, and the wait is the time until that token exists
 *     (client-go's BucketRateLimiter reservation).
 * There is no timer thread: a worker blocked in ctl_wq_get waits on the clock
 * until the heap's earliest due time and moves due keys to the FIFO itself.
 * One mutex guards everything; the condition variable is registered with the
 * clock so a fake clock's advance wakes waiting workers.
 */
#include "ctl_workqueue.h"

#include <math.h>
#include <pthread.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8s_error.h"

#define NO_HEAP ((size_t)-1)

const int64_t ctl_wq_bucket_le_ms[CTL_WQ_NBUCKETS - 1] = {1, 10, 100, 1000, 10000, 60000, 600000};

struct rec {
    char *key; /* first member: the tree compares records by it */
    int dirty;
    int in_flight;
    int failures;
    int64_t queued_ms;  /* when it became dirty */
    int64_t started_ms; /* when it was handed out */
    int64_t due_ms;     /* valid when heap_idx != NO_HEAP */
    size_t heap_idx;
};

struct ctl_workqueue {
    struct ctl_clock *clock;
    int64_t base_ms, max_ms;
    double qps;
    int burst;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    void *tree;
    size_t nrecs;
    /* FIFO ring */
    struct rec **fifo;
    size_t fhead, flen, fcap;
    /* delay heap */
    struct rec **heap;
    size_t hlen, hcap;
    /* token bucket */
    double tokens;
    int64_t bucket_ms;
    int shutting_down;
    struct ctl_wq_stats st; /* counters and histograms; gauges computed on demand */
};

static int rec_cmp(const void *a, const void *b)
{
    return strcmp(((const struct rec *)a)->key, ((const struct rec *)b)->key);
}

static struct rec *rec_find(struct ctl_workqueue *q, const char *key)
{
    struct rec probe = {.key = (char *)key};
    struct rec **found = tfind(&probe, &q->tree, rec_cmp);
    return found ? *found : NULL;
}

static struct rec *rec_get(struct ctl_workqueue *q, const char *key)
{
    struct rec *r = rec_find(q, key), **slot;
    if (r)
        return r;
    r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->key = strdup(key);
    r->heap_idx = NO_HEAP;
    if (!r->key) {
        free(r);
        return NULL;
    }
    slot = tsearch(r, &q->tree, rec_cmp);
    if (!slot) {
        free(r->key);
        free(r);
        return NULL;
    }
    q->nrecs++;
    return r;
}

static void rec_free(void *p)
{
    struct rec *r = p;
    free(r->key);
    free(r);
}

/* Frees the record when nothing about the key is left to remember. */
static void rec_maybe_drop(struct ctl_workqueue *q, struct rec *r)
{
    if (r->dirty || r->in_flight || r->failures || r->heap_idx != NO_HEAP)
        return;
    tdelete(r, &q->tree, rec_cmp);
    q->nrecs--;
    rec_free(r);
}

static void observe(struct ctl_wq_histogram *h, int64_t ms)
{
    size_t i = 0;
    if (ms < 0)
        ms = 0;
    while (i < CTL_WQ_NBUCKETS - 1 && ms > ctl_wq_bucket_le_ms[i])
        i++;
    h->buckets[i]++;
    h->count++;
    h->sum_ms += ms;
}

/* ---- FIFO -------------------------------------------------------------- */

static int fifo_push(struct ctl_workqueue *q, struct rec *r)
{
    if (q->flen == q->fcap) {
        size_t ncap = q->fcap ? q->fcap * 2 : 64;
        struct rec **n = malloc(ncap * sizeof(*n));
        if (!n)
            return K8S_ENOMEM;
        for (size_t i = 0; i < q->flen; i++)
            n[i] = q->fifo[(q->fhead + i) % q->fcap];
        free(q->fifo);
        q->fifo = n;
        q->fcap = ncap;
        q->fhead = 0;
    }
    q->fifo[(q->fhead + q->flen) % q->fcap] = r;
    q->flen++;
    return 0;
}

static struct rec *fifo_pop(struct ctl_workqueue *q)
{
    struct rec *r;
    if (q->flen == 0)
        return NULL;
    r = q->fifo[q->fhead];
    q->fhead = (q->fhead + 1) % q->fcap;
    q->flen--;
    return r;
}

/* ---- delay heap --------------------------------------------------------- */

static void heap_set(struct ctl_workqueue *q, size_t i, struct rec *r)
{
    q->heap[i] = r;
    r->heap_idx = i;
}

static void heap_up(struct ctl_workqueue *q, size_t i)
{
    struct rec *r = q->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (q->heap[parent]->due_ms <= r->due_ms)
            break;
        heap_set(q, i, q->heap[parent]);
        i = parent;
    }
    heap_set(q, i, r);
}

static void heap_down(struct ctl_workqueue *q, size_t i)
{
    struct rec *r = q->heap[i];
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        int64_t best = r->due_ms;
        if (l < q->hlen && q->heap[l]->due_ms < best) {
            m = l;
            best = q->heap[l]->due_ms;
        }
        if (l + 1 < q->hlen && q->heap[l + 1]->due_ms < best)
            m = l + 1;
        if (m == i)
            break;
        heap_set(q, i, q->heap[m]);
        i = m;
    }
    heap_set(q, i, r);
}

static int heap_push(struct ctl_workqueue *q, struct rec *r)
{
    if (q->hlen == q->hcap) {
        size_t ncap = q->hcap ? q->hcap * 2 : 64;
        struct rec **n = realloc(q->heap, ncap * sizeof(*n));
        if (!n)
            return K8S_ENOMEM;
        q->heap = n;
        q->hcap = ncap;
    }
    q->hlen++;
    heap_set(q, q->hlen - 1, r);
    heap_up(q, q->hlen - 1);
    return 0;
}

static struct rec *heap_pop(struct ctl_workqueue *q)
{
    struct rec *top = q->heap[0];
    q->hlen--;
    if (q->hlen > 0) {
        heap_set(q, 0, q->heap[q->hlen]);
        heap_down(q, 0);
    }
    top->heap_idx = NO_HEAP;
    return top;
}

/* ---- core (q->mu held) ---------------------------------------------------- */

static void add_locked(struct ctl_workqueue *q, struct rec *r, int64_t now)
{
    if (r->dirty)
        return;
    r->dirty = 1;
    r->queued_ms = now;
    q->st.adds++;
    if (r->in_flight)
        return; /* queued again by ctl_wq_done */
    if (fifo_push(q, r) != 0) {
        /* Out of memory: forgetting the add is the only choice left; undo
         * the dirty mark so a later add can try again. */
        r->dirty = 0;
        q->st.adds--;
        rec_maybe_drop(q, r);
        return;
    }
    pthread_cond_signal(&q->cond);
}

/* Moves every delayed key that is due to the FIFO. */
static void promote_locked(struct ctl_workqueue *q, int64_t now)
{
    while (q->hlen > 0 && q->heap[0]->due_ms <= now) {
        struct rec *r = heap_pop(q);
        add_locked(q, r, now);
        rec_maybe_drop(q, r);
    }
}

static void add_after_locked(struct ctl_workqueue *q, const char *key, int64_t delay_ms)
{
    int64_t now = ctl_clock_mono_ms(q->clock);
    struct rec *r;
    if (q->shutting_down)
        return;
    r = rec_get(q, key);
    if (!r)
        return;
    if (delay_ms <= 0) {
        add_locked(q, r, now);
        return;
    }
    if (r->heap_idx != NO_HEAP) {
        if (now + delay_ms < r->due_ms) {
            r->due_ms = now + delay_ms;
            heap_up(q, r->heap_idx);
        }
    } else {
        r->due_ms = now + delay_ms;
        if (heap_push(q, r) != 0) {
            rec_maybe_drop(q, r);
            return;
        }
    }
    /* A worker may be waiting for a later due time: let it look again. */
    pthread_cond_broadcast(&q->cond);
}

/* ---- public --------------------------------------------------------------- */

struct ctl_workqueue *ctl_wq_new(struct ctl_clock *clock, const struct ctl_wq_options *opts)
{
    struct ctl_workqueue *q;
    pthread_condattr_t ca;
    if (!clock)
        return NULL;
    q = calloc(1, sizeof(*q));
    if (!q)
        return NULL;
    q->clock = clock;
    q->base_ms = opts && opts->base_delay_ms > 0 ? opts->base_delay_ms : 5;
    q->max_ms = opts && opts->max_delay_ms > 0 ? opts->max_delay_ms : 1000000;
    q->qps = opts && opts->qps > 0 ? opts->qps : 10;
    q->burst = opts && opts->burst > 0 ? opts->burst : 100;
    q->tokens = q->burst;
    q->bucket_ms = ctl_clock_mono_ms(clock);
    pthread_mutex_init(&q->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&q->cond, &ca);
    pthread_condattr_destroy(&ca);
    ctl_clock_watch(clock, &q->cond, &q->mu);
    return q;
}

void ctl_wq_free(struct ctl_workqueue *q)
{
    if (!q)
        return;
    ctl_clock_unwatch(q->clock, &q->cond);
    tdestroy(q->tree, rec_free);
    free(q->fifo);
    free(q->heap);
    pthread_cond_destroy(&q->cond);
    pthread_mutex_destroy(&q->mu);
    free(q);
}

void ctl_wq_add(struct ctl_workqueue *q, const char *key)
{
    if (!q || !key)
        return;
    pthread_mutex_lock(&q->mu);
    add_after_locked(q, key, 0);
    pthread_mutex_unlock(&q->mu);
}

void ctl_wq_add_after(struct ctl_workqueue *q, const char *key, int64_t delay_ms)
{
    if (!q || !key)
        return;
    pthread_mutex_lock(&q->mu);
    add_after_locked(q, key, delay_ms);
    pthread_mutex_unlock(&q->mu);
}

/* The token bucket's wait for one more token, reserving it. */
static int64_t bucket_delay(struct ctl_workqueue *q, int64_t now)
{
    double elapsed = (double)(now - q->bucket_ms);
    if (elapsed > 0) {
        q->tokens += elapsed * q->qps / 1000.0;
        if (q->tokens > q->burst)
            q->tokens = q->burst;
        q->bucket_ms = now;
    }
    q->tokens -= 1.0;
    if (q->tokens >= 0)
        return 0;
    /* The small epsilon keeps 100.0000001 ms (binary rounding) at 100. */
    return (int64_t)ceil(-q->tokens * 1000.0 / q->qps - 1e-6);
}

static int64_t backoff_delay(struct ctl_workqueue *q, int failures)
{
    int64_t d = q->base_ms;
    for (int i = 0; i < failures; i++) {
        if (d >= q->max_ms / 2) {
            d = q->max_ms;
            break;
        }
        d *= 2;
    }
    return d < q->max_ms ? d : q->max_ms;
}

void ctl_wq_add_rate_limited(struct ctl_workqueue *q, const char *key)
{
    struct rec *r;
    int64_t now, per_key, bucket;
    if (!q || !key)
        return;
    pthread_mutex_lock(&q->mu);
    if (q->shutting_down)
        goto out;
    r = rec_get(q, key);
    if (!r)
        goto out;
    now = ctl_clock_mono_ms(q->clock);
    per_key = backoff_delay(q, r->failures);
    if (r->failures < 1000000)
        r->failures++;
    bucket = bucket_delay(q, now);
    q->st.retries++;
    add_after_locked(q, key, per_key > bucket ? per_key : bucket);
out:
    pthread_mutex_unlock(&q->mu);
}

void ctl_wq_forget(struct ctl_workqueue *q, const char *key)
{
    struct rec *r;
    if (!q || !key)
        return;
    pthread_mutex_lock(&q->mu);
    r = rec_find(q, key);
    if (r) {
        r->failures = 0;
        rec_maybe_drop(q, r);
    }
    pthread_mutex_unlock(&q->mu);
}

int ctl_wq_num_requeues(struct ctl_workqueue *q, const char *key)
{
    struct rec *r;
    int n = 0;
    if (!q || !key)
        return 0;
    pthread_mutex_lock(&q->mu);
    r = rec_find(q, key);
    if (r)
        n = r->failures;
    pthread_mutex_unlock(&q->mu);
    return n;
}

char *ctl_wq_get(struct ctl_workqueue *q)
{
    char *out = NULL;
    if (!q)
        return NULL;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        int64_t now = ctl_clock_mono_ms(q->clock);
        struct rec *r;
        promote_locked(q, now);
        if (q->flen > 0) {
            out = strdup(q->fifo[q->fhead]->key);
            if (!out) {
                /* Out of memory: the key stays at the front; look again a
                 * little later rather than spin or drop it. */
                ctl_clock_wait_until(q->clock, &q->cond, &q->mu, now + 10);
                continue;
            }
            r = fifo_pop(q);
            r->dirty = 0;
            r->in_flight = 1;
            r->started_ms = now;
            observe(&q->st.queue, now - r->queued_ms);
            break;
        }
        if (q->shutting_down)
            break;
        ctl_clock_wait_until(q->clock, &q->cond, &q->mu,
                             q->hlen > 0 ? q->heap[0]->due_ms : CTL_CLOCK_FOREVER);
    }
    pthread_mutex_unlock(&q->mu);
    return out;
}

void ctl_wq_done(struct ctl_workqueue *q, const char *key)
{
    struct rec *r;
    if (!q || !key)
        return;
    pthread_mutex_lock(&q->mu);
    r = rec_find(q, key);
    if (r && r->in_flight) {
        r->in_flight = 0;
        observe(&q->st.work, ctl_clock_mono_ms(q->clock) - r->started_ms);
        if (r->dirty) {
            if (fifo_push(q, r) == 0) {
                pthread_cond_signal(&q->cond);
            } else {
                r->dirty = 0;
                rec_maybe_drop(q, r);
            }
        } else {
            rec_maybe_drop(q, r);
        }
    }
    pthread_mutex_unlock(&q->mu);
}

void ctl_wq_shutdown(struct ctl_workqueue *q)
{
    if (!q)
        return;
    pthread_mutex_lock(&q->mu);
    q->shutting_down = 1;
    while (q->hlen > 0) {
        struct rec *r = heap_pop(q);
        rec_maybe_drop(q, r);
    }
    pthread_cond_broadcast(&q->cond);
    pthread_mutex_unlock(&q->mu);
}

int ctl_wq_shutting_down(struct ctl_workqueue *q)
{
    int v;
    pthread_mutex_lock(&q->mu);
    v = q->shutting_down;
    pthread_mutex_unlock(&q->mu);
    return v;
}

size_t ctl_wq_len(struct ctl_workqueue *q)
{
    size_t n;
    if (!q)
        return 0;
    pthread_mutex_lock(&q->mu);
    promote_locked(q, ctl_clock_mono_ms(q->clock));
    n = q->flen;
    pthread_mutex_unlock(&q->mu);
    return n;
}

struct stats_walk {
    int64_t now;
    struct ctl_wq_stats *st;
};

static void stats_visit(const void *node, VISIT which, void *closure)
{
    const struct rec *r = *(struct rec *const *)node;
    struct stats_walk *w = closure;
    int64_t running;
    if (which != postorder && which != leaf)
        return;
    if (!r->in_flight)
        return;
    running = w->now - r->started_ms;
    w->st->in_flight++;
    w->st->unfinished_work_ms += running;
    if (running > w->st->longest_running_ms)
        w->st->longest_running_ms = running;
}

void ctl_wq_get_stats(struct ctl_workqueue *q, struct ctl_wq_stats *out)
{
    struct stats_walk w;
    if (!q || !out)
        return;
    pthread_mutex_lock(&q->mu);
    w.now = ctl_clock_mono_ms(q->clock);
    promote_locked(q, w.now);
    *out = q->st;
    out->depth = q->flen;
    out->delayed = q->hlen;
    out->in_flight = 0;
    out->unfinished_work_ms = 0;
    out->longest_running_ms = 0;
    w.st = out;
    twalk_r(q->tree, stats_visit, &w);
    pthread_mutex_unlock(&q->mu);
}

/* ---- keys ---------------------------------------------------------------- */

int ctl_wq_key(char *buf, size_t cap, const char *kind, const char *ns, const char *name)
{
    int n;
    if (!buf || cap == 0 || !kind || !*kind || !name || !*name || strchr(kind, '/') ||
        strchr(name, '/') || (ns && strchr(ns, '/')))
        return K8S_EARG;
    n = snprintf(buf, cap, "%s/%s/%s", kind, ns ? ns : "", name);
    if (n < 0 || (size_t)n >= cap) {
        buf[0] = '\0';
        return K8S_EARG;
    }
    return 0;
}

static int copy_part(char *dst, size_t cap, const char *src, size_t len)
{
    if (!dst)
        return 0;
    if (len >= cap)
        return K8S_EARG;
    memcpy(dst, src, len);
    dst[len] = '\0';
    return 0;
}

int ctl_wq_key_split(const char *key, char *kind, size_t kind_cap, char *ns, size_t ns_cap,
                     char *name, size_t name_cap)
{
    const char *s1, *s2;
    if (!key)
        return K8S_EARG;
    s1 = strchr(key, '/');
    if (!s1 || s1 == key)
        return K8S_EARG;
    s2 = strchr(s1 + 1, '/');
    if (!s2 || !s2[1] || strchr(s2 + 1, '/'))
        return K8S_EARG;
    if (copy_part(kind, kind_cap, key, (size_t)(s1 - key)) ||
        copy_part(ns, ns_cap, s1 + 1, (size_t)(s2 - s1 - 1)) ||
        copy_part(name, name_cap, s2 + 1, strlen(s2 + 1)))
        return K8S_EARG;
    return 0;
}
