/*
 * Token bucket (see k8s_ratelimit.h). The state is the token level at the
 * time of the last reservation; refill is computed lazily from the elapsed
 * time, so nothing runs in the background. The level may go below zero: each
 * negative token is a reservation whose holder sleeps until the refill covers
 * it (golang.org/x/time/rate's Reserve semantics).
 */
#include "k8s_ratelimit.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "k8s_error.h"

struct k8s_ratelimit {
    pthread_mutex_t mu;
    double qps;
    double burst;
    double tokens; /* level at last_ns; negative when reserved ahead */
    uint64_t last_ns;
    int started; /* last_ns is valid */
    k8s_clock_fn now;
    void *clock_user;
};

static uint64_t monotonic_ns(void *user)
{
    (void)user;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int k8s_ratelimit_new(double qps, int burst, struct k8s_ratelimit **out)
{
    *out = NULL;
    struct k8s_ratelimit *rl = calloc(1, sizeof(*rl));
    if (!rl)
        return K8S_ENOMEM;
    pthread_mutex_init(&rl->mu, NULL);
    rl->qps = qps;
    rl->burst = burst < 1 ? 1 : burst;
    rl->tokens = rl->burst;
    rl->now = monotonic_ns;
    *out = rl;
    return 0;
}

void k8s_ratelimit_free(struct k8s_ratelimit *rl)
{
    if (!rl)
        return;
    pthread_mutex_destroy(&rl->mu);
    free(rl);
}

void k8s_ratelimit_set_clock(struct k8s_ratelimit *rl, k8s_clock_fn now, void *user)
{
    pthread_mutex_lock(&rl->mu);
    rl->now = now ? now : monotonic_ns;
    rl->clock_user = user;
    rl->started = 0;
    rl->tokens = rl->burst;
    pthread_mutex_unlock(&rl->mu);
}

uint64_t k8s_ratelimit_reserve(struct k8s_ratelimit *rl)
{
    if (!rl || rl->qps <= 0)
        return 0;
    pthread_mutex_lock(&rl->mu);
    uint64_t now = rl->now(rl->clock_user);
    if (!rl->started) {
        rl->started = 1;
        rl->last_ns = now;
    }
    /* A clock that went backwards (it should not, it is monotonic) refills
     * nothing rather than underflowing. */
    if (now > rl->last_ns) {
        rl->tokens += (double)(now - rl->last_ns) / 1e9 * rl->qps;
        if (rl->tokens > rl->burst)
            rl->tokens = rl->burst;
        rl->last_ns = now;
    }
    rl->tokens -= 1.0;
    uint64_t wait_ns = 0;
    if (rl->tokens < 0)
        wait_ns = (uint64_t)(-rl->tokens / rl->qps * 1e9 + 0.5);
    pthread_mutex_unlock(&rl->mu);
    return wait_ns;
}

unsigned long k8s_ratelimit_wait(struct k8s_ratelimit *rl)
{
    uint64_t ns = k8s_ratelimit_reserve(rl);
    if (ns == 0)
        return 0;
    struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000ull),
                          .tv_nsec = (long)(ns % 1000000000ull)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
    return (unsigned long)(ns / 1000000ull);
}
