/*
 * The injectable clock (controller/ctl_clock.c): the fake clock moves only
 * when told and wakes exactly the waiters whose deadline it passes (a waiter
 * one millisecond short stays asleep), waiters are visible with their
 * deadline so tests can synchronise without sleeping for timing; the real
 * clock's waits end; RFC 3339 formatting and parsing as metav1.Time does it,
 * with the invalid forms refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ctl_clock.h"

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Polls (for synchronisation only, never as an assertion on time) until
 * `n` threads wait on the fake clock; fails after 10 s. */
static void wait_for_waiters(struct ctl_clock *c, int n)
{
    for (int i = 0; i < 10000; i++) {
        if (ctl_fake_clock_waiters(c, NULL) == n)
            return;
        sleep_ms(1);
    }
    fail_msg("expected %d waiters on the fake clock", n);
}

struct sleeper {
    struct ctl_clock *clock;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int64_t deadline;
    int signalled; /* set by the test to end a FOREVER wait */
    int done;      /* set by the sleeper when its wait loop ended */
    int last_rc;   /* what ctl_clock_wait_until last returned */
    int64_t woke_at;
};

static void *sleeper_main(void *p)
{
    struct sleeper *s = p;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        s->last_rc = ctl_clock_wait_until(s->clock, &s->cond, &s->mu, s->deadline);
        if (s->last_rc == 1 || s->signalled)
            break;
    }
    s->woke_at = ctl_clock_mono_ms(s->clock);
    s->done = 1;
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static void sleeper_init(struct sleeper *s, struct ctl_clock *c, int64_t deadline)
{
    memset(s, 0, sizeof(*s));
    s->clock = c;
    s->deadline = deadline;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cond, NULL);
    ctl_clock_watch(c, &s->cond, &s->mu);
}

static void sleeper_destroy(struct sleeper *s)
{
    ctl_clock_unwatch(s->clock, &s->cond);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->mu);
}

static int sleeper_done(struct sleeper *s)
{
    int d;
    pthread_mutex_lock(&s->mu);
    d = s->done;
    pthread_mutex_unlock(&s->mu);
    return d;
}

static void fake_clock_moves_only_when_advanced(void **state)
{
    (void)state;
    struct ctl_clock *c = ctl_clock_new_fake(1700000000000LL);
    assert_non_null(c);
    assert_true(ctl_clock_is_fake(c));
    int64_t m0 = ctl_clock_mono_ms(c);
    assert_int_equal(m0, CTL_FAKE_CLOCK_MONO_START);
    assert_int_equal(ctl_clock_wall_ms(c), 1700000000000LL);
    sleep_ms(20);
    assert_int_equal(ctl_clock_mono_ms(c), m0);
    ctl_fake_clock_advance(c, 1500);
    assert_int_equal(ctl_clock_mono_ms(c), m0 + 1500);
    assert_int_equal(ctl_clock_wall_ms(c), 1700000001500LL);
    ctl_fake_clock_advance(c, -5); /* refused: time never goes back */
    assert_int_equal(ctl_clock_mono_ms(c), m0 + 1500);
    ctl_clock_free(c);
}

static void fake_waiter_wakes_exactly_at_its_deadline(void **state)
{
    (void)state;
    struct ctl_clock *c = ctl_clock_new_fake(0);
    struct sleeper s;
    pthread_t t;
    int64_t next = 0;
    sleeper_init(&s, c, ctl_clock_mono_ms(c) + 1000);
    assert_int_equal(pthread_create(&t, NULL, sleeper_main, &s), 0);
    wait_for_waiters(c, 1);
    assert_int_equal(ctl_fake_clock_waiters(c, &next), 1);
    assert_int_equal(next, CTL_FAKE_CLOCK_MONO_START + 1000);

    ctl_fake_clock_advance(c, 999);
    /* The advance woke it; it saw 1 ms left and went back to waiting. */
    wait_for_waiters(c, 1);
    assert_false(sleeper_done(&s));

    ctl_fake_clock_advance(c, 1);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(s.last_rc, 1);
    assert_int_equal(s.woke_at, CTL_FAKE_CLOCK_MONO_START + 1000);
    assert_int_equal(ctl_fake_clock_waiters(c, &next), 0);
    assert_true(next == CTL_CLOCK_FOREVER);
    sleeper_destroy(&s);
    ctl_clock_free(c);
}

static void fake_forever_wait_ends_by_signal_only(void **state)
{
    (void)state;
    struct ctl_clock *c = ctl_clock_new_fake(0);
    struct sleeper s;
    pthread_t t;
    sleeper_init(&s, c, CTL_CLOCK_FOREVER);
    assert_int_equal(pthread_create(&t, NULL, sleeper_main, &s), 0);
    wait_for_waiters(c, 1);
    ctl_fake_clock_advance(c, 365LL * 24 * 3600 * 1000);
    wait_for_waiters(c, 1);
    assert_false(sleeper_done(&s));
    pthread_mutex_lock(&s.mu);
    s.signalled = 1;
    pthread_cond_signal(&s.cond);
    pthread_mutex_unlock(&s.mu);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(s.last_rc, 0);
    sleeper_destroy(&s);
    ctl_clock_free(c);
}

static void past_deadline_returns_at_once(void **state)
{
    (void)state;
    struct ctl_clock *clocks[2] = {ctl_clock_new_fake(0), ctl_clock_new_real()};
    for (int i = 0; i < 2; i++) {
        struct ctl_clock *c = clocks[i];
        pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
        pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
        ctl_clock_watch(c, &cond, &mu);
        pthread_mutex_lock(&mu);
        assert_int_equal(ctl_clock_wait_until(c, &cond, &mu, ctl_clock_mono_ms(c)), 1);
        assert_int_equal(ctl_clock_wait_until(c, &cond, &mu, ctl_clock_mono_ms(c) - 50), 1);
        pthread_mutex_unlock(&mu);
        ctl_clock_unwatch(c, &cond);
        ctl_clock_free(c);
    }
}

static void real_clock_wait_ends_after_deadline(void **state)
{
    (void)state;
    struct ctl_clock *c = ctl_clock_new_real();
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cond = PTHREAD_COND_INITIALIZER; /* CLOCK_REALTIME attr: still fine */
    assert_false(ctl_clock_is_fake(c));
    int64_t deadline = ctl_clock_mono_ms(c) + 30;
    pthread_mutex_lock(&mu);
    while (ctl_clock_wait_until(c, &cond, &mu, deadline) == 0)
        ;
    pthread_mutex_unlock(&mu);
    assert_true(ctl_clock_mono_ms(c) >= deadline);
    /* Wall time is the system's. */
    int64_t wall = ctl_clock_wall_ms(c);
    assert_true(wall / 1000 - (int64_t)time(NULL) <= 1 && (int64_t)time(NULL) - wall / 1000 <= 1);
    ctl_clock_free(c);
}

static void advance_wakes_each_waiter_at_its_own_deadline(void **state)
{
    (void)state;
    struct ctl_clock *c = ctl_clock_new_fake(0);
    struct sleeper s[3];
    pthread_t t[3];
    for (int i = 0; i < 3; i++) {
        sleeper_init(&s[i], c, CTL_FAKE_CLOCK_MONO_START + 100 * (i + 1));
        assert_int_equal(pthread_create(&t[i], NULL, sleeper_main, &s[i]), 0);
    }
    wait_for_waiters(c, 3);
    int64_t next;
    assert_int_equal(ctl_fake_clock_waiters(c, &next), 3);
    assert_int_equal(next, CTL_FAKE_CLOCK_MONO_START + 100);
    ctl_fake_clock_advance(c, 250);
    assert_int_equal(pthread_join(t[0], NULL), 0);
    assert_int_equal(pthread_join(t[1], NULL), 0);
    wait_for_waiters(c, 1);
    assert_int_equal(ctl_fake_clock_waiters(c, &next), 1);
    assert_int_equal(next, CTL_FAKE_CLOCK_MONO_START + 300);
    assert_false(sleeper_done(&s[2]));
    ctl_fake_clock_advance(c, 50);
    assert_int_equal(pthread_join(t[2], NULL), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(s[i].last_rc, 1);
        sleeper_destroy(&s[i]);
    }
    ctl_clock_free(c);
}

static void rfc3339_format(void **state)
{
    (void)state;
    char b[64];
    ctl_clock_format_rfc3339(0, b, sizeof(b));
    assert_string_equal(b, "1970-01-01T00:00:00Z");
    ctl_clock_format_rfc3339(1795732389999LL, b, sizeof(b));
    assert_string_equal(b, "2026-11-26T22:33:09Z");
    ctl_clock_format_rfc3339_micro(1795732389250LL, b, sizeof(b));
    assert_string_equal(b, "2026-11-26T22:33:09.250000Z");
    /* Before the epoch: floor, not truncation toward zero. */
    ctl_clock_format_rfc3339(-1, b, sizeof(b));
    assert_string_equal(b, "1969-12-31T23:59:59Z");
    ctl_clock_format_rfc3339(951782400000LL, b, sizeof(b));
    assert_string_equal(b, "2000-02-29T00:00:00Z");
    /* Truncated into a small buffer, still NUL-terminated. */
    ctl_clock_format_rfc3339(0, b, 5);
    assert_string_equal(b, "1970");
}

static void rfc3339_parse(void **state)
{
    (void)state;
    int64_t v;
    assert_int_equal(ctl_clock_parse_rfc3339("1970-01-01T00:00:00Z", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(ctl_clock_parse_rfc3339("2026-11-26T22:33:09Z", &v), 0);
    assert_int_equal(v, 1795732389000LL);
    assert_int_equal(ctl_clock_parse_rfc3339("2026-11-26t22:33:09.25z", &v), 0);
    assert_int_equal(v, 1795732389250LL);
    assert_int_equal(ctl_clock_parse_rfc3339("2026-11-26T22:33:09.123456789Z", &v), 0);
    assert_int_equal(v, 1795732389123LL);
    assert_int_equal(ctl_clock_parse_rfc3339("2026-11-27T00:33:09+02:00", &v), 0);
    assert_int_equal(v, 1795732389000LL);
    assert_int_equal(ctl_clock_parse_rfc3339("2026-11-26T17:03:09-05:30", &v), 0);
    assert_int_equal(v, 1795732389000LL);
    assert_int_equal(ctl_clock_parse_rfc3339("2000-02-29T00:00:00Z", &v), 0);
    assert_int_equal(v, 951782400000LL);
    assert_int_equal(ctl_clock_parse_rfc3339("1969-12-31T23:59:59Z", &v), 0);
    assert_int_equal(v, -1000);

    static const char *bad[] = {
        "",
        "2026-11-26",
        "2026-11-26T22:33:09",       /* no zone */
        "2026-11-26 22:33:09Z",      /* space, not T */
        "2026-11-26T22:33:09Zjunk",  /* trailing text */
        "2026-13-01T00:00:00Z",      /* month 13 */
        "2026-02-29T00:00:00Z",      /* not a leap year */
        "1900-02-29T00:00:00Z",      /* century, not a leap year */
        "2026-04-31T00:00:00Z",      /* April has 30 days */
        "2026-11-26T24:00:00Z",      /* hour 24 */
        "2026-11-26T22:60:00Z",      /* minute 60 */
        "2026-12-31T23:59:60Z",      /* leap second: Go refuses it */
        "2026-11-26T22:33:09.Z",     /* empty fraction */
        "2026-11-26T22:33:09+0200",  /* offset without colon */
        "2026-11-26T22:33:09+24:00", /* offset hour 24 */
        "26-11-26T22:33:09Z",
        "2026-1-26T22:33:09Z",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (ctl_clock_parse_rfc3339(bad[i], &v) != -1)
            fail_msg("accepted invalid timestamp \"%s\"", bad[i]);
    }
    assert_int_equal(ctl_clock_parse_rfc3339(NULL, &v), -1);
}

static void rfc3339_round_trip(void **state)
{
    (void)state;
    char b[64];
    int64_t v;
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        /* Seconds between 1900 and 2200. */
        int64_t secs = (int64_t)(x % 9467280000ULL) - 2208988800LL;
        ctl_clock_format_rfc3339(secs * 1000, b, sizeof(b));
        assert_int_equal(ctl_clock_parse_rfc3339(b, &v), 0);
        if (v != secs * 1000)
            fail_msg("%s parsed to %lld, want %lld", b, (long long)v, (long long)secs * 1000);
        ctl_clock_format_rfc3339_micro(secs * 1000 + 7, b, sizeof(b));
        assert_int_equal(ctl_clock_parse_rfc3339(b, &v), 0);
        assert_int_equal(v, secs * 1000 + 7);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fake_clock_moves_only_when_advanced),
        cmocka_unit_test(fake_waiter_wakes_exactly_at_its_deadline),
        cmocka_unit_test(fake_forever_wait_ends_by_signal_only),
        cmocka_unit_test(past_deadline_returns_at_once),
        cmocka_unit_test(real_clock_wait_ends_after_deadline),
        cmocka_unit_test(advance_wakes_each_waiter_at_its_own_deadline),
        cmocka_unit_test(rfc3339_format),
        cmocka_unit_test(rfc3339_parse),
        cmocka_unit_test(rfc3339_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
