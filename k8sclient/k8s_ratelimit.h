/*
 * A token bucket: the client-side rate limit of the Kubernetes client
 * (client-go's default is 5 QPS / burst 10; our config defaults 20 / 30).
 *
 * The bucket holds up to `burst` tokens and refills at `qps` tokens a second.
 * A caller always gets a token: when the bucket is empty the token is
 * reserved ahead (the level goes negative) and the caller is told how long to
 * wait, so concurrent callers queue fairly and a burst of requests is spread
 * out rather than refused. The clock is injectable so the arithmetic can be
 * tested without sleeping. Thread-safe.
 */
#ifndef QSO_K8S_RATELIMIT_H
#define QSO_K8S_RATELIMIT_H

#include <stdint.h>

struct k8s_ratelimit;

/* A monotonic clock in nanoseconds. */
typedef uint64_t (*k8s_clock_fn)(void *user);

/* qps <= 0 means unlimited; burst < 1 is taken as 1. Returns 0 or K8S_ENOMEM. */
int k8s_ratelimit_new(double qps, int burst, struct k8s_ratelimit **out);
void k8s_ratelimit_free(struct k8s_ratelimit *rl);

/* For tests: replaces CLOCK_MONOTONIC. Call before the first reservation;
 * the bucket starts full at the clock's current time. */
void k8s_ratelimit_set_clock(struct k8s_ratelimit *rl, k8s_clock_fn now, void *user);

/* Takes one token and returns how many nanoseconds the caller must wait
 * before using it (0: at once). Never fails. */
uint64_t k8s_ratelimit_reserve(struct k8s_ratelimit *rl);

/* k8s_ratelimit_reserve, then sleeps that long. Returns the milliseconds
 * waited (for statistics). */
unsigned long k8s_ratelimit_wait(struct k8s_ratelimit *rl);

#endif
