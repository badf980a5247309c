/*
 * The injectable clock. Every time-based decision of the runtime and the
 * reconcilers (backoff, delayed requeue, leases, window start/end) asks a
 * ctl_clock, never time() directly, so tests move time instead of sleeping.
 *
 * The real clock reads CLOCK_REALTIME for wall time and CLOCK_MONOTONIC for
 * durations. The fake clock starts at a given wall time and only moves when a
 * test calls ctl_fake_clock_advance; waiters blocked in ctl_clock_wait_until
 * wake up when it passes their deadline.
 */
#ifndef QSO_CTL_CLOCK_H
#define QSO_CTL_CLOCK_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

struct ctl_clock;

struct ctl_clock *ctl_clock_new_real(void);
struct ctl_clock *ctl_clock_new_fake(int64_t start_wall_ms);
void ctl_clock_free(struct ctl_clock *c);

/* Milliseconds since the Unix epoch (wall time, for timestamps and windows). */
int64_t ctl_clock_wall_ms(struct ctl_clock *c);
/* Monotonic milliseconds (for durations and deadlines). */
int64_t ctl_clock_mono_ms(struct ctl_clock *c);

/*
 * Waits on `cond` (with `mu` held, as pthread_cond_wait) until signalled or
 * until the monotonic deadline passes; returns 0 if signalled, 1 on timeout.
 * With the fake clock the deadline passes only when the test advances time.
 * The same cond/mu pair must be registered with ctl_clock_watch so the fake
 * clock can wake it.
 */
int ctl_clock_wait_until(struct ctl_clock *c, pthread_cond_t *cond, pthread_mutex_t *mu,
                         int64_t deadline_mono_ms);
/* Registers/unregisters a cond+mutex that the fake clock broadcasts on advance. */
void ctl_clock_watch(struct ctl_clock *c, pthread_cond_t *cond, pthread_mutex_t *mu);
void ctl_clock_unwatch(struct ctl_clock *c, pthread_cond_t *cond);

/* Fake clock only: moves wall and monotonic time forward and wakes waiters. */
void ctl_fake_clock_advance(struct ctl_clock *c, int64_t ms);

/* Formats wall ms as RFC 3339 UTC with second precision ("2026-11-22T01:13:09Z"). */
void ctl_clock_format_rfc3339(int64_t wall_ms, char *buf, size_t cap);
/* Parses RFC 3339 (Z or offset; fractional seconds allowed). 0 or -1. */
int ctl_clock_parse_rfc3339(const char *s, int64_t *wall_ms);

#endif
