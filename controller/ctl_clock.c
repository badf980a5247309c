/*
 * The injectable clock (see ctl_clock.h): the real clock over clock_gettime,
 * the fake clock for tests, and RFC 3339 formatting/parsing.
 *
 * Internals of the fake clock. Time lives under `mu`, a leaf lock that is
 * taken briefly, possibly while a caller holds its own mutex. A waiter holds
 * its mutex `m`, reads the time under `mu`, registers itself in the waiter
 * list and then blocks in pthread_cond_wait(cond, m). ctl_fake_clock_advance
 * first moves time (under `mu`), then, for each registered pair, locks `m`
 * and broadcasts. Because the waiter keeps `m` from its time check until
 * pthread_cond_wait releases it atomically, an advance can never slip in
 * between and be missed. The registered pairs are a separate list under
 * `wl_mu`, always taken before any caller mutex (never after), so the lock
 * order is wl_mu -> caller mutex -> mu, and there is no cycle.
 */
#include "ctl_clock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct watcher {
    pthread_cond_t *cond;
    pthread_mutex_t *mu;
};

/* A thread blocked in ctl_clock_wait_until (lives on that thread's stack). */
struct waiter {
    int64_t deadline;
    struct waiter *prev, *next;
};

struct ctl_clock {
    int fake;
    pthread_mutex_t mu; /* leaf: fake time and the waiter list */
    int64_t wall_ms, mono_ms;
    struct waiter *waiters;
    int nwaiters;
    pthread_mutex_t wl_mu; /* the registered cond/mutex pairs */
    struct watcher *watchers;
    size_t nwatchers, capwatchers;
};

static struct ctl_clock *clock_new(int fake, int64_t start_wall_ms)
{
    struct ctl_clock *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->fake = fake;
    c->wall_ms = start_wall_ms;
    c->mono_ms = CTL_FAKE_CLOCK_MONO_START;
    pthread_mutex_init(&c->mu, NULL);
    pthread_mutex_init(&c->wl_mu, NULL);
    return c;
}

struct ctl_clock *ctl_clock_new_real(void)
{
    return clock_new(0, 0);
}

struct ctl_clock *ctl_clock_new_fake(int64_t start_wall_ms)
{
    return clock_new(1, start_wall_ms);
}

void ctl_clock_free(struct ctl_clock *c)
{
    if (!c)
        return;
    pthread_mutex_destroy(&c->mu);
    pthread_mutex_destroy(&c->wl_mu);
    free(c->watchers);
    free(c);
}

int ctl_clock_is_fake(const struct ctl_clock *c)
{
    return c && c->fake;
}

static int64_t ts_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ctl_clock_wall_ms(struct ctl_clock *c)
{
    int64_t v;
    if (!c->fake)
        return ts_ms(CLOCK_REALTIME);
    pthread_mutex_lock(&c->mu);
    v = c->wall_ms;
    pthread_mutex_unlock(&c->mu);
    return v;
}

int64_t ctl_clock_mono_ms(struct ctl_clock *c)
{
    int64_t v;
    if (!c->fake)
        return ts_ms(CLOCK_MONOTONIC);
    pthread_mutex_lock(&c->mu);
    v = c->mono_ms;
    pthread_mutex_unlock(&c->mu);
    return v;
}

static int real_wait(pthread_cond_t *cond, pthread_mutex_t *mu, int64_t deadline)
{
    struct timespec ts;
    int rc;
    if (deadline == CTL_CLOCK_FOREVER) {
        pthread_cond_wait(cond, mu);
        return 0;
    }
    if (ts_ms(CLOCK_MONOTONIC) >= deadline)
        return 1;
    ts.tv_sec = (time_t)(deadline / 1000);
    ts.tv_nsec = (long)(deadline % 1000) * 1000000L;
    /* pthread_cond_clockwait measures on CLOCK_MONOTONIC whatever clock the
     * caller's cond was created with, so a wall-clock step cannot stretch or
     * cut a wait. */
    rc = pthread_cond_clockwait(cond, mu, CLOCK_MONOTONIC, &ts);
    if (rc == ETIMEDOUT)
        return 1;
    return ts_ms(CLOCK_MONOTONIC) >= deadline;
}

int ctl_clock_wait_until(struct ctl_clock *c, pthread_cond_t *cond, pthread_mutex_t *mu,
                         int64_t deadline_mono_ms)
{
    struct waiter w = {.deadline = deadline_mono_ms};
    int passed;
    if (!c->fake)
        return real_wait(cond, mu, deadline_mono_ms);
    pthread_mutex_lock(&c->mu);
    if (c->mono_ms >= deadline_mono_ms) {
        pthread_mutex_unlock(&c->mu);
        return 1;
    }
    w.next = c->waiters;
    if (c->waiters)
        c->waiters->prev = &w;
    c->waiters = &w;
    c->nwaiters++;
    pthread_mutex_unlock(&c->mu);

    pthread_cond_wait(cond, mu);

    pthread_mutex_lock(&c->mu);
    if (w.prev)
        w.prev->next = w.next;
    else
        c->waiters = w.next;
    if (w.next)
        w.next->prev = w.prev;
    c->nwaiters--;
    passed = c->mono_ms >= deadline_mono_ms;
    pthread_mutex_unlock(&c->mu);
    return passed;
}

void ctl_clock_watch(struct ctl_clock *c, pthread_cond_t *cond, pthread_mutex_t *mu)
{
    if (!c->fake)
        return;
    pthread_mutex_lock(&c->wl_mu);
    for (size_t i = 0; i < c->nwatchers; i++) {
        if (c->watchers[i].cond == cond) {
            c->watchers[i].mu = mu;
            goto out;
        }
    }
    if (c->nwatchers == c->capwatchers) {
        size_t ncap = c->capwatchers ? c->capwatchers * 2 : 8;
        struct watcher *n = realloc(c->watchers, ncap * sizeof(*n));
        if (!n) {
            /* Without a slot the pair would never be woken by an advance;
             * there is no error path in this API, so fail loudly. */
            fprintf(stderr, "ctl_clock_watch: out of memory\n");
            abort();
        }
        c->watchers = n;
        c->capwatchers = ncap;
    }
    c->watchers[c->nwatchers].cond = cond;
    c->watchers[c->nwatchers].mu = mu;
    c->nwatchers++;
out:
    pthread_mutex_unlock(&c->wl_mu);
}

void ctl_clock_unwatch(struct ctl_clock *c, pthread_cond_t *cond)
{
    if (!c->fake)
        return;
    pthread_mutex_lock(&c->wl_mu);
    for (size_t i = 0; i < c->nwatchers; i++) {
        if (c->watchers[i].cond == cond) {
            c->watchers[i] = c->watchers[c->nwatchers - 1];
            c->nwatchers--;
            break;
        }
    }
    pthread_mutex_unlock(&c->wl_mu);
}

void ctl_fake_clock_advance(struct ctl_clock *c, int64_t ms)
{
    if (!c->fake || ms < 0)
        return;
    pthread_mutex_lock(&c->mu);
    c->wall_ms += ms;
    c->mono_ms += ms;
    pthread_mutex_unlock(&c->mu);
    pthread_mutex_lock(&c->wl_mu);
    for (size_t i = 0; i < c->nwatchers; i++) {
        pthread_mutex_lock(c->watchers[i].mu);
        pthread_cond_broadcast(c->watchers[i].cond);
        pthread_mutex_unlock(c->watchers[i].mu);
    }
    pthread_mutex_unlock(&c->wl_mu);
}

int ctl_fake_clock_waiters(struct ctl_clock *c, int64_t *next_deadline)
{
    int n;
    int64_t next = CTL_CLOCK_FOREVER;
    if (!c->fake) {
        if (next_deadline)
            *next_deadline = next;
        return 0;
    }
    pthread_mutex_lock(&c->mu);
    n = c->nwaiters;
    for (struct waiter *w = c->waiters; w; w = w->next)
        if (w->deadline < next)
            next = w->deadline;
    pthread_mutex_unlock(&c->mu);
    if (next_deadline)
        *next_deadline = next;
    return n;
}

/* ---- RFC 3339 --------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil), so parsing needs neither timegm nor the TZ setting. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static void split_ms(int64_t wall_ms, struct tm *tm, int64_t *frac_ms)
{
    int64_t secs = wall_ms / 1000, ms = wall_ms % 1000;
    time_t t;
    if (ms < 0) {
        ms += 1000;
        secs--;
    }
    t = (time_t)secs;
    memset(tm, 0, sizeof(*tm));
    gmtime_r(&t, tm);
    *frac_ms = ms;
}

void ctl_clock_format_rfc3339(int64_t wall_ms, char *buf, size_t cap)
{
    struct tm tm;
    int64_t frac;
    if (!buf || cap == 0)
        return;
    split_ms(wall_ms, &tm, &frac);
    snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

void ctl_clock_format_rfc3339_micro(int64_t wall_ms, char *buf, size_t cap)
{
    struct tm tm;
    int64_t frac;
    if (!buf || cap == 0)
        return;
    split_ms(wall_ms, &tm, &frac);
    snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03d000Z", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)frac);
}

/* Reads exactly n decimal digits. */
static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char ch = (*p)[i];
        if (ch < '0' || ch > '9')
            return -1;
        v = v * 10 + (ch - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

static int expect(const char **p, char a, char b)
{
    if (**p != a && **p != b)
        return -1;
    (*p)++;
    return 0;
}

int ctl_clock_parse_rfc3339(const char *s, int64_t *wall_ms)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h, mi, sec, frac = 0, off = 0;
    const char *p = s;
    int64_t days, v;
    if (!s || !wall_ms)
        return -1;
    if (digits(&p, 4, &y) || expect(&p, '-', '-') || digits(&p, 2, &mo) || expect(&p, '-', '-') ||
        digits(&p, 2, &d) || expect(&p, 'T', 't') || digits(&p, 2, &h) || expect(&p, ':', ':') ||
        digits(&p, 2, &mi) || expect(&p, ':', ':') || digits(&p, 2, &sec))
        return -1;
    if (*p == '.') {
        int n = 0;
        p++;
        while (*p >= '0' && *p <= '9') {
            if (n < 3)
                frac = frac * 10 + (*p - '0');
            n++;
            p++;
        }
        if (n == 0)
            return -1;
        for (; n < 3; n++)
            frac *= 10;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1, oh, om;
        p++;
        if (digits(&p, 2, &oh) || expect(&p, ':', ':') || digits(&p, 2, &om) || oh > 23 || om > 59)
            return -1;
        off = sign * (oh * 60 + om);
    } else {
        return -1;
    }
    if (*p)
        return -1;
    /* Like Go's time.Parse (the API server's), a leap second (:60) is refused. */
    if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 59)
        return -1;
    if (d > mdays[mo - 1] + (mo == 2 && is_leap(y)))
        return -1;
    days = days_from_civil(y, mo, d);
    v = ((days * 24 + h) * 60 + mi) * 60 + sec - (int64_t)off * 60;
    *wall_ms = v * 1000 + frac;
    return 0;
}
