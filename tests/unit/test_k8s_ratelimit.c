/*
 * The client's token bucket (k8s_ratelimit.c), driven by a fake clock so the
 * arithmetic is checked exactly and nothing sleeps: a full bucket lets a
 * burst through at once, then tokens are handed out 1/qps apart; idle time
 * refills up to burst and no further; concurrent reservations queue.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "k8s_ratelimit.h"

#define MS  1000000ull
#define SEC 1000000000ull

struct fake_clock {
    uint64_t now;
};

static uint64_t fake_now(void *user)
{
    return ((struct fake_clock *)user)->now;
}

static struct k8s_ratelimit *limiter(double qps, int burst, struct fake_clock *clk)
{
    struct k8s_ratelimit *rl = NULL;
    assert_int_equal(k8s_ratelimit_new(qps, burst, &rl), 0);
    k8s_ratelimit_set_clock(rl, fake_now, clk);
    return rl;
}

/* Allow 1 ms of rounding either way: the bucket works in doubles. */
static void assert_wait_ms(uint64_t got_ns, uint64_t want_ms)
{
    uint64_t want = want_ms * MS;
    assert_true(got_ns + MS >= want);
    assert_true(got_ns <= want + MS);
}

static void burst_passes_then_spaced_by_qps(void **state)
{
    (void)state;
    struct fake_clock clk = {.now = 5 * SEC};
    struct k8s_ratelimit *rl = limiter(10, 3, &clk);
    for (int i = 0; i < 3; i++)
        assert_int_equal(k8s_ratelimit_reserve(rl), 0);
    /* The 4th, 5th, 6th at the same instant queue behind each other. */
    assert_wait_ms(k8s_ratelimit_reserve(rl), 100);
    assert_wait_ms(k8s_ratelimit_reserve(rl), 200);
    assert_wait_ms(k8s_ratelimit_reserve(rl), 300);
    k8s_ratelimit_free(rl);
}

static void refill_is_capped_at_burst(void **state)
{
    (void)state;
    struct fake_clock clk = {.now = 0};
    struct k8s_ratelimit *rl = limiter(2, 4, &clk);
    for (int i = 0; i < 4; i++)
        assert_int_equal(k8s_ratelimit_reserve(rl), 0);
    /* An hour idle refills 4 tokens, not 7,200. */
    clk.now += 3600 * SEC;
    for (int i = 0; i < 4; i++)
        assert_int_equal(k8s_ratelimit_reserve(rl), 0);
    assert_wait_ms(k8s_ratelimit_reserve(rl), 500);
    k8s_ratelimit_free(rl);
}

static void partial_refill_shortens_the_wait(void **state)
{
    (void)state;
    struct fake_clock clk = {.now = 0};
    struct k8s_ratelimit *rl = limiter(4, 1, &clk);
    assert_int_equal(k8s_ratelimit_reserve(rl), 0);
    clk.now += 100 * MS; /* 0.4 of a token refilled: 150 ms still to go */
    assert_wait_ms(k8s_ratelimit_reserve(rl), 150);
    /* Waiting out the reservation brings the bucket back to zero, not above. */
    clk.now += 150 * MS;
    assert_wait_ms(k8s_ratelimit_reserve(rl), 250);
    k8s_ratelimit_free(rl);
}

static void steady_rate_never_waits(void **state)
{
    (void)state;
    struct fake_clock clk = {.now = 0};
    struct k8s_ratelimit *rl = limiter(20, 1, &clk);
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(k8s_ratelimit_reserve(rl), 0);
        clk.now += 50 * MS;
    }
    k8s_ratelimit_free(rl);
}

static void unlimited_and_bad_burst(void **state)
{
    (void)state;
    struct fake_clock clk = {.now = 0};
    struct k8s_ratelimit *rl = limiter(0, 0, &clk);
    for (int i = 0; i < 100000; i++)
        assert_int_equal(k8s_ratelimit_reserve(rl), 0);
    k8s_ratelimit_free(rl);
    /* burst 0 behaves as burst 1: one at once, then 1/qps apart. */
    rl = limiter(1, 0, &clk);
    assert_int_equal(k8s_ratelimit_reserve(rl), 0);
    assert_wait_ms(k8s_ratelimit_reserve(rl), 1000);
    k8s_ratelimit_free(rl);
    /* The real clock and wait(): an unlimited bucket returns at once. */
    assert_int_equal(k8s_ratelimit_new(-1, 5, &rl), 0);
    assert_int_equal(k8s_ratelimit_wait(rl), 0);
    k8s_ratelimit_free(rl);
}

static void clock_going_backwards_refills_nothing(void **state)
{
    (void)state;
    struct fake_clock clk = {.now = 10 * SEC};
    struct k8s_ratelimit *rl = limiter(1, 1, &clk);
    assert_int_equal(k8s_ratelimit_reserve(rl), 0);
    clk.now -= 5 * SEC;
    assert_wait_ms(k8s_ratelimit_reserve(rl), 1000);
    k8s_ratelimit_free(rl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(burst_passes_then_spaced_by_qps),
        cmocka_unit_test(refill_is_capped_at_burst),
        cmocka_unit_test(partial_refill_shortens_the_wait),
        cmocka_unit_test(steady_rate_never_waits),
        cmocka_unit_test(unlimited_and_bad_burst),
        cmocka_unit_test(clock_going_backwards_refills_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
