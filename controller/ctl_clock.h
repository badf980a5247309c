/*
 * The injectable clock. Every time-based decision of the runtime and the
 * reconcilers (backoff, delayed requeue, leases, window start/end) asks a
 * ctl_clock, never time() directly, so tests move time instead of sleeping.
 *
 * The real clock reads CLOCK_REALTIME for wall time and CLOCK_MONOTONIC for
 * durations. The fake clock starts at a given wall time (and at
 * CTL_FAKE_CLOCK_MONO_START monotonic ms) and only moves when a test calls
 * ctl_fake_clock_advance; waiters blocked in ctl_clock_wait_until wake up
 * when it passes their deadline.
 *
 * Locking: a clock has one internal leaf mutex for its time and the list of
 * threads waiting on it; the caller's mutex may be held when reading time
 * or waiting. ctl_clock_watch/unwatch and ctl_fake_clock_advance lock the
 * registered mutexes themselves, so they must be called WITHOUT holding any
 * of them. A clock is thread-safe and must outlive everything that uses it.
 */
#ifndef QSO_CTL_CLOCK_H
#define QSO_CTL_CLOCK_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

struct ctl_clock;

/* A deadline that never passes: ctl_clock_wait_until then waits for a signal. */
#define CTL_CLOCK_FOREVER INT64_MAX

/* The fake clock's monotonic time at creation (any positive value would do;
 * a large one catches code that confuses monotonic and wall time). */
#define CTL_FAKE_CLOCK_MONO_START 1000000

/* NULL when out of memory. */
struct ctl_clock *ctl_clock_new_real(void);
struct ctl_clock *ctl_clock_new_fake(int64_t start_wall_ms);
void ctl_clock_free(struct ctl_clock *c);
/* Whether this is a fake clock (tests only need to know). */
int ctl_clock_is_fake(const struct ctl_clock *c);

/* Milliseconds since the Unix epoch (wall time, for timestamps and windows). */
int64_t ctl_clock_wall_ms(struct ctl_clock *c);
/* Monotonic milliseconds (for durations and deadlines). */
int64_t ctl_clock_mono_ms(struct ctl_clock *c);

/*
 * Waits on `cond` (with `mu` held, as pthread_cond_wait) until woken or until
 * the monotonic deadline passes; returns 1 when the deadline has passed, 0
 * otherwise (signalled, woken by a fake-clock advance that did not reach the
 * deadline, or spuriously): callers re-check their condition in a loop, as
 * with any condition variable. A deadline already passed returns 1 at once;
 * CTL_CLOCK_FOREVER waits for a signal only.
 *
 * With the fake clock the deadline passes only when the test advances time;
 * the same cond/mu pair must be registered with ctl_clock_watch so that
 * ctl_fake_clock_advance can wake it. With the real clock the cond may use
 * any clock attribute (the wait is on CLOCK_MONOTONIC regardless).
 */
int ctl_clock_wait_until(struct ctl_clock *c, pthread_cond_t *cond, pthread_mutex_t *mu,
                         int64_t deadline_mono_ms);
/* Registers/unregisters a cond+mutex that the fake clock broadcasts on
 * advance (no-ops on the real clock). Call without holding `mu`. Registering
 * the same cond twice is harmless; unwatch before destroying the pair. */
void ctl_clock_watch(struct ctl_clock *c, pthread_cond_t *cond, pthread_mutex_t *mu);
void ctl_clock_unwatch(struct ctl_clock *c, pthread_cond_t *cond);

/* Fake clock only: moves wall and monotonic time forward (ms >= 0) and wakes
 * every registered waiter. Call without holding any registered mutex. */
void ctl_fake_clock_advance(struct ctl_clock *c, int64_t ms);
/*
 * Fake clock only: how many threads are blocked in ctl_clock_wait_until right
 * now, and (if next_deadline is not NULL) the earliest finite deadline among
 * them (CTL_CLOCK_FOREVER when none). Tests poll this to know that a worker
 * has reached its wait before they advance time, and to read the exact delay
 * it chose ("the informer now waits 1600 ms").
 */
int ctl_fake_clock_waiters(struct ctl_clock *c, int64_t *next_deadline);

/* Formats wall ms as RFC 3339 UTC with second precision ("2026-11-22T01:13:09Z"),
 * as metav1.Time is serialised. */
void ctl_clock_format_rfc3339(int64_t wall_ms, char *buf, size_t cap);
/* The same with microseconds ("2026-11-22T01:13:09.250000Z"), as metav1.MicroTime. */
void ctl_clock_format_rfc3339_micro(int64_t wall_ms, char *buf, size_t cap);
/* Parses RFC 3339 ("T"/"Z" either case, offset +hh:mm, fractional seconds
 * truncated to ms). 0, or -1 when `s` is not a valid timestamp. */
int ctl_clock_parse_rfc3339(const char *s, int64_t *wall_ms);

#endif
