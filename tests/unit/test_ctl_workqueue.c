/*
 * The work queue (controller/ctl_workqueue.c), on the fake clock so every
 * delay is checked to the millisecond without sleeping: de-duplication; one
 * key never in two workers (with 4 workers and 2 producers hammering 16 keys,
 * and every key processed after its last add); the dirty re-add of a key
 * added while in flight; the backoff 5 ms doubling to the 1000 s cap; the
 * token bucket's 101st reservation; delayed adds moving earlier but never
 * later; forget; shutdown draining what was queued and refusing new work;
 * blocked workers released by a clock advance or by shutdown; the metrics.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl_workqueue.h"
#include "k8s_error.h"

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void wait_for_waiters(struct ctl_clock *c, int n)
{
    for (int i = 0; i < 10000; i++) {
        if (ctl_fake_clock_waiters(c, NULL) == n)
            return;
        sleep_ms(1);
    }
    fail_msg("expected %d waiters on the fake clock", n);
}

struct fx {
    struct ctl_clock *clock;
    struct ctl_workqueue *q;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    f->clock = ctl_clock_new_fake(1700000000000LL);
    f->q = ctl_wq_new(f->clock, NULL);
    *state = f;
    return f->q ? 0 : -1;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    ctl_wq_shutdown(f->q);
    ctl_wq_free(f->q);
    ctl_clock_free(f->clock);
    free(f);
    return 0;
}

/* Gets a key that must be ready now (the queue is not empty). */
static char *get_ready(struct ctl_workqueue *q)
{
    assert_true(ctl_wq_len(q) > 0);
    char *k = ctl_wq_get(q);
    assert_non_null(k);
    return k;
}

static void expect_get(struct ctl_workqueue *q, const char *want)
{
    char *k = get_ready(q);
    assert_string_equal(k, want);
    ctl_wq_done(q, k);
    free(k);
}

static void duplicates_collapse_while_waiting(void **state)
{
    struct fx *f = *state;
    ctl_wq_add(f->q, "a");
    ctl_wq_add(f->q, "b");
    ctl_wq_add(f->q, "a");
    ctl_wq_add(f->q, "a");
    assert_int_equal(ctl_wq_len(f->q), 2);
    expect_get(f->q, "a"); /* FIFO order of first add */
    expect_get(f->q, "b");
    assert_int_equal(ctl_wq_len(f->q), 0);
    struct ctl_wq_stats st;
    ctl_wq_get_stats(f->q, &st);
    assert_int_equal(st.adds, 2);
    assert_int_equal(st.in_flight, 0);
}

static void key_added_in_flight_is_requeued_after_done(void **state)
{
    struct fx *f = *state;
    ctl_wq_add(f->q, "a");
    char *k = get_ready(f->q);
    assert_string_equal(k, "a");
    /* While "a" is in flight, adds mark it dirty but never hand it out. */
    ctl_wq_add(f->q, "a");
    ctl_wq_add(f->q, "a");
    assert_int_equal(ctl_wq_len(f->q), 0);
    ctl_wq_add(f->q, "b");
    expect_get(f->q, "b");
    assert_int_equal(ctl_wq_len(f->q), 0);
    ctl_wq_done(f->q, k);
    free(k);
    assert_int_equal(ctl_wq_len(f->q), 1);
    expect_get(f->q, "a");
    assert_int_equal(ctl_wq_len(f->q), 0);
    /* Done for a key not in flight is ignored. */
    ctl_wq_done(f->q, "zzz");
    assert_int_equal(ctl_wq_len(f->q), 0);
}

/* Ready after exactly `ms` of fake time: not one millisecond before. */
static void assert_ready_after(struct fx *f, int64_t ms, const char *key)
{
    if (ms > 1) {
        ctl_fake_clock_advance(f->clock, ms - 1);
        if (ctl_wq_len(f->q) != 0)
            fail_msg("%s ready before %lld ms", key, (long long)ms);
        ctl_fake_clock_advance(f->clock, 1);
    } else {
        ctl_fake_clock_advance(f->clock, ms);
    }
    if (ctl_wq_len(f->q) != 1)
        fail_msg("%s not ready after %lld ms", key, (long long)ms);
    expect_get(f->q, key);
}

static void backoff_doubles_from_5ms_to_the_cap(void **state)
{
    struct fx *f = *state;
    int64_t want = 5;
    for (int i = 0; i < 22; i++) {
        ctl_wq_add_rate_limited(f->q, "k");
        assert_int_equal(ctl_wq_num_requeues(f->q, "k"), i + 1);
        assert_int_equal(ctl_wq_len(f->q), 0);
        assert_ready_after(f, want, "k");
        want = want * 2 > 1000000 ? 1000000 : want * 2;
    }
    /* 5 * 2^17 = 655360 ms was the last step below the cap. */
    assert_int_equal(want, 1000000);
    /* Forget starts over at 5 ms. */
    ctl_wq_forget(f->q, "k");
    assert_int_equal(ctl_wq_num_requeues(f->q, "k"), 0);
    ctl_wq_add_rate_limited(f->q, "k");
    assert_ready_after(f, 5, "k");
    /* Backoff is per key: another key starts at 5 ms. */
    ctl_wq_add_rate_limited(f->q, "k");
    ctl_wq_add_rate_limited(f->q, "other");
    assert_ready_after(f, 5, "other");
    assert_ready_after(f, 5, "k"); /* k waited 10 ms in all */
}

static void token_bucket_spaces_after_the_burst(void **state)
{
    struct fx *f = *state;
    char key[32];
    /* 100 distinct keys at one instant: the burst, each only its 5 ms. */
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "k%03d", i);
        ctl_wq_add_rate_limited(f->q, key);
    }
    /* The 101st and 102nd wait for tokens: 100 ms and 200 ms at 10/s. */
    ctl_wq_add_rate_limited(f->q, "late1");
    ctl_wq_add_rate_limited(f->q, "late2");
    ctl_fake_clock_advance(f->clock, 5);
    assert_int_equal(ctl_wq_len(f->q), 100);
    for (int i = 0; i < 100; i++) {
        char *k = ctl_wq_get(f->q);
        ctl_wq_done(f->q, k);
        free(k);
    }
    ctl_fake_clock_advance(f->clock, 94); /* t = 99 */
    assert_int_equal(ctl_wq_len(f->q), 0);
    ctl_fake_clock_advance(f->clock, 1); /* t = 100 */
    assert_int_equal(ctl_wq_len(f->q), 1);
    expect_get(f->q, "late1");
    ctl_fake_clock_advance(f->clock, 99); /* t = 199 */
    assert_int_equal(ctl_wq_len(f->q), 0);
    ctl_fake_clock_advance(f->clock, 1);
    expect_get(f->q, "late2");
    /* Ten seconds idle refill the bucket (to 100, no more). */
    ctl_fake_clock_advance(f->clock, 10000);
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "r%03d", i);
        ctl_wq_add_rate_limited(f->q, key);
    }
    ctl_fake_clock_advance(f->clock, 5);
    assert_int_equal(ctl_wq_len(f->q), 100);
    struct ctl_wq_stats st;
    ctl_wq_get_stats(f->q, &st);
    assert_int_equal(st.retries, 202);
}

static void delayed_adds_move_earlier_never_later(void **state)
{
    struct fx *f = *state;
    ctl_wq_add_after(f->q, "a", 1000);
    ctl_wq_add_after(f->q, "b", 500);
    ctl_wq_add_after(f->q, "a", 200); /* earlier: moves */
    ctl_wq_add_after(f->q, "b", 900); /* later: ignored */
    struct ctl_wq_stats st;
    ctl_wq_get_stats(f->q, &st);
    assert_int_equal(st.delayed, 2);
    assert_int_equal(st.depth, 0);
    assert_ready_after(f, 200, "a");
    assert_ready_after(f, 300, "b");
    /* Nothing else was left behind. */
    ctl_fake_clock_advance(f->clock, 10000);
    assert_int_equal(ctl_wq_len(f->q), 0);
    /* A zero or negative delay is an immediate add. */
    ctl_wq_add_after(f->q, "c", 0);
    ctl_wq_add_after(f->q, "d", -5);
    assert_int_equal(ctl_wq_len(f->q), 2);
    expect_get(f->q, "c");
    expect_get(f->q, "d");
    /* An immediate add does not cancel a pending delay. */
    ctl_wq_add_after(f->q, "e", 100);
    ctl_wq_add(f->q, "e");
    expect_get(f->q, "e");
    assert_ready_after(f, 100, "e");
    /* A delayed key that comes due while already waiting is not doubled. */
    ctl_wq_add_after(f->q, "g", 10);
    ctl_wq_add(f->q, "g");
    ctl_fake_clock_advance(f->clock, 10);
    assert_int_equal(ctl_wq_len(f->q), 1);
    expect_get(f->q, "g");
}

struct worker_arg {
    struct ctl_workqueue *q;
    int got; /* number of keys received */
    char last[64];
};

static void *one_get(void *p)
{
    struct worker_arg *w = p;
    char *k = ctl_wq_get(w->q);
    if (k) {
        w->got = 1;
        snprintf(w->last, sizeof(w->last), "%s", k);
        ctl_wq_done(w->q, k);
        free(k);
    }
    return NULL;
}

static void blocked_worker_released_by_clock_advance(void **state)
{
    struct fx *f = *state;
    struct worker_arg w = {.q = f->q};
    pthread_t t;
    int64_t next;
    assert_int_equal(pthread_create(&t, NULL, one_get, &w), 0);
    wait_for_waiters(f->clock, 1);
    assert_int_equal(ctl_fake_clock_waiters(f->clock, &next), 1);
    assert_true(next == CTL_CLOCK_FOREVER); /* nothing delayed: waits for a signal */
    int64_t now = ctl_clock_mono_ms(f->clock);
    ctl_wq_add_after(f->q, "x", 1000);
    /* The worker re-computes its deadline from the new delayed key. */
    for (int i = 0; i < 10000; i++) {
        if (ctl_fake_clock_waiters(f->clock, &next) == 1 && next == now + 1000)
            break;
        sleep_ms(1);
    }
    assert_int_equal(next, now + 1000);
    ctl_fake_clock_advance(f->clock, 999);
    wait_for_waiters(f->clock, 1);
    assert_int_equal(w.got, 0);
    ctl_fake_clock_advance(f->clock, 1);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(w.got, 1);
    assert_string_equal(w.last, "x");
}

static void shutdown_drains_queued_keys_then_returns_null(void **state)
{
    struct fx *f = *state;
    ctl_wq_add(f->q, "a");
    ctl_wq_add(f->q, "b");
    ctl_wq_add_after(f->q, "delayed", 50);
    char *a = ctl_wq_get(f->q);
    assert_string_equal(a, "a");
    ctl_wq_add(f->q, "a"); /* dirty while in flight, before shutdown */
    ctl_wq_shutdown(f->q);
    assert_true(ctl_wq_shutting_down(f->q));
    ctl_wq_add(f->q, "c");              /* ignored */
    ctl_wq_add_after(f->q, "d", 10);    /* ignored */
    ctl_wq_add_rate_limited(f->q, "e"); /* ignored */
    assert_int_equal(ctl_wq_num_requeues(f->q, "e"), 0);
    char *b = ctl_wq_get(f->q);
    assert_string_equal(b, "b");
    ctl_wq_done(f->q, b);
    free(b);
    ctl_wq_done(f->q, a); /* the dirty re-add still runs */
    free(a);
    char *a2 = ctl_wq_get(f->q);
    assert_non_null(a2);
    assert_string_equal(a2, "a");
    ctl_wq_done(f->q, a2);
    free(a2);
    ctl_fake_clock_advance(f->clock, 1000); /* the delayed key was dropped */
    assert_null(ctl_wq_get(f->q));
    assert_null(ctl_wq_get(f->q));
}

static void shutdown_releases_blocked_workers(void **state)
{
    struct fx *f = *state;
    struct worker_arg w[3];
    pthread_t t[3];
    for (int i = 0; i < 3; i++) {
        memset(&w[i], 0, sizeof(w[i]));
        w[i].q = f->q;
        assert_int_equal(pthread_create(&t[i], NULL, one_get, &w[i]), 0);
    }
    wait_for_waiters(f->clock, 3);
    ctl_wq_shutdown(f->q);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(w[i].got, 0);
    }
}

/* ---- concurrency ------------------------------------------------------------ */

#define NKEYS     16
#define NWORKERS  4
#define NPRODUCER 2
#define NADDS     20000

struct stress {
    struct ctl_workqueue *q;
    pthread_mutex_t mu;
    int active[NKEYS];   /* workers holding the key right now */
    long version[NKEYS]; /* bumped by producers before each add */
    long seen[NKEYS];    /* highest version a worker started on */
    long processed;
    int overlap; /* a key was in two workers at once */
};

static int key_index(const char *k)
{
    return (int)strtol(k + 1, NULL, 10);
}

static void *stress_worker(void *p)
{
    struct stress *s = p;
    char *k;
    unsigned n = 0;
    while ((k = ctl_wq_get(s->q)) != NULL) {
        int i = key_index(k);
        pthread_mutex_lock(&s->mu);
        if (s->active[i]++ != 0)
            s->overlap = 1;
        if (s->version[i] > s->seen[i])
            s->seen[i] = s->version[i];
        pthread_mutex_unlock(&s->mu);
        /* Hold the key a little so overlaps would have a chance to show. */
        if ((++n & 7) == 0)
            sched_yield();
        pthread_mutex_lock(&s->mu);
        s->active[i]--;
        s->processed++;
        pthread_mutex_unlock(&s->mu);
        ctl_wq_done(s->q, k);
        free(k);
    }
    return NULL;
}

static void *stress_producer(void *p)
{
    struct stress *s = p;
    unsigned x = (unsigned)(uintptr_t)&x | 1u;
    char key[16];
    for (int n = 0; n < NADDS; n++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        int i = (int)(x % NKEYS);
        pthread_mutex_lock(&s->mu);
        s->version[i]++;
        pthread_mutex_unlock(&s->mu);
        snprintf(key, sizeof(key), "k%d", i);
        ctl_wq_add(s->q, key);
    }
    return NULL;
}

static void many_workers_never_share_a_key_and_miss_no_add(void **state)
{
    struct fx *f = *state;
    struct stress s = {.q = f->q};
    pthread_t w[NWORKERS], p[NPRODUCER];
    pthread_mutex_init(&s.mu, NULL);
    for (int i = 0; i < NWORKERS; i++)
        assert_int_equal(pthread_create(&w[i], NULL, stress_worker, &s), 0);
    for (int i = 0; i < NPRODUCER; i++)
        assert_int_equal(pthread_create(&p[i], NULL, stress_producer, &s), 0);
    for (int i = 0; i < NPRODUCER; i++)
        assert_int_equal(pthread_join(p[i], NULL), 0);
    /* Every add is in; shutdown lets the workers finish what is queued. */
    ctl_wq_shutdown(f->q);
    for (int i = 0; i < NWORKERS; i++)
        assert_int_equal(pthread_join(w[i], NULL), 0);
    assert_int_equal(s.overlap, 0);
    for (int i = 0; i < NKEYS; i++) {
        /* The last add of each key was followed by a processing that saw it. */
        if (s.seen[i] != s.version[i])
            fail_msg("key k%d: last add %ld, last processed %ld", i, s.version[i], s.seen[i]);
    }
    /* De-duplication did its job: far fewer runs than adds. */
    assert_true(s.processed <= (long)NPRODUCER * NADDS);
    assert_true(s.processed >= NKEYS);
    struct ctl_wq_stats st;
    ctl_wq_get_stats(f->q, &st);
    assert_int_equal(st.in_flight, 0);
    assert_int_equal(st.depth, 0);
    assert_int_equal(st.queue.count, (unsigned long)s.processed);
    assert_int_equal(st.work.count, (unsigned long)s.processed);
    pthread_mutex_destroy(&s.mu);
}

static void metrics_measure_queue_and_work_time(void **state)
{
    struct fx *f = *state;
    struct ctl_wq_stats st;
    ctl_wq_add(f->q, "a");
    ctl_fake_clock_advance(f->clock, 50);
    char *k = ctl_wq_get(f->q);
    ctl_fake_clock_advance(f->clock, 2000);
    ctl_wq_get_stats(f->q, &st);
    assert_int_equal(st.in_flight, 1);
    assert_int_equal(st.longest_running_ms, 2000);
    assert_int_equal(st.unfinished_work_ms, 2000);
    ctl_wq_done(f->q, k);
    free(k);
    ctl_wq_get_stats(f->q, &st);
    assert_int_equal(st.in_flight, 0);
    assert_int_equal(st.queue.count, 1);
    assert_int_equal(st.queue.sum_ms, 50);
    assert_int_equal(st.queue.buckets[2], 1); /* 10 < 50 <= 100 */
    assert_int_equal(st.work.buckets[4], 1);  /* 1000 < 2000 <= 10000 */
    assert_int_equal(st.work.count, 1);
    assert_int_equal(st.work.sum_ms, 2000);
}

static void keys_build_and_split(void **state)
{
    (void)state;
    char b[64], kind[32], ns[16], name[16];
    assert_int_equal(ctl_wq_key(b, sizeof(b), "StorageMigration", "ns1", "m1"), 0);
    assert_string_equal(b, "StorageMigration/ns1/m1");
    assert_int_equal(ctl_wq_key_split(b, kind, sizeof(kind), ns, sizeof(ns), name, sizeof(name)),
                     0);
    assert_string_equal(kind, "StorageMigration");
    assert_string_equal(ns, "ns1");
    assert_string_equal(name, "m1");
    assert_int_equal(ctl_wq_key(b, sizeof(b), "Node", NULL, "n1"), 0);
    assert_string_equal(b, "Node//n1");
    assert_int_equal(ctl_wq_key_split(b, NULL, 0, ns, sizeof(ns), name, sizeof(name)), 0);
    assert_string_equal(ns, "");
    assert_string_equal(name, "n1");
    assert_int_equal(ctl_wq_key(b, sizeof(b), "K", "a/b", "n"), K8S_EARG);
    assert_int_equal(ctl_wq_key(b, sizeof(b), "", "a", "n"), K8S_EARG);
    assert_int_equal(ctl_wq_key(b, sizeof(b), "K", "a", ""), K8S_EARG);
    assert_int_equal(ctl_wq_key(b, 8, "Kind", "ns", "name"), K8S_EARG);
    assert_int_equal(ctl_wq_key_split("a/b", NULL, 0, NULL, 0, NULL, 0), K8S_EARG);
    assert_int_equal(ctl_wq_key_split("a/b/c/d", NULL, 0, NULL, 0, NULL, 0), K8S_EARG);
    assert_int_equal(ctl_wq_key_split("/b/c", NULL, 0, NULL, 0, NULL, 0), K8S_EARG);
    assert_int_equal(ctl_wq_key_split("a/b/", NULL, 0, NULL, 0, NULL, 0), K8S_EARG);
    assert_int_equal(
        ctl_wq_key_split("a/b/averyveryverylongname", NULL, 0, NULL, 0, name, sizeof(name)),
        K8S_EARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(duplicates_collapse_while_waiting, setup, teardown),
        cmocka_unit_test_setup_teardown(key_added_in_flight_is_requeued_after_done, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(backoff_doubles_from_5ms_to_the_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(token_bucket_spaces_after_the_burst, setup, teardown),
        cmocka_unit_test_setup_teardown(delayed_adds_move_earlier_never_later, setup, teardown),
        cmocka_unit_test_setup_teardown(blocked_worker_released_by_clock_advance, setup, teardown),
        cmocka_unit_test_setup_teardown(shutdown_drains_queued_keys_then_returns_null, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(shutdown_releases_blocked_workers, setup, teardown),
        cmocka_unit_test_setup_teardown(many_workers_never_share_a_key_and_miss_no_add, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(metrics_measure_queue_and_work_time, setup, teardown),
        cmocka_unit_test(keys_build_and_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
