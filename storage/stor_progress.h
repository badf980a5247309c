/*
 * Counters of a copy/verify run, shared by the planner thread and the
 * transfer engine (under one mutex), the periodic progress JSON lines on
 * stdout, and the bounded final summary written as the container's
 * termination message (the kubelet keeps at most 4 KiB of it).
 */
#ifndef QSO_STOR_PROGRESS_H
#define QSO_STOR_PROGRESS_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include "stor_backend.h"

#define STOR_SUMMARY_MAX   4000 /* bytes, under the kubelet's 4096 */
#define STOR_FAILURES_KEPT 8    /* failures named by default (verify: --max-offenders) */
#define STOR_FAILURES_MAX  100  /* the most that can be asked for */

struct stor_count {
    uint64_t objects, bytes;
};

enum stor_req_kind {
    STOR_RQ_LIST,
    STOR_RQ_GET,
    STOR_RQ_PUT,
    STOR_RQ_HEAD,
    STOR_RQ_COPY,
    STOR_RQ_MULTIPART, /* begin, part, commit, abort */
    STOR_RQ_DELETE,
    STOR_RQ_KINDS
};

struct stor_progress {
    pthread_mutex_t mu;
    FILE *out;         /* progress lines; NULL for none */
    double interval_s; /* between progress lines */
    double started, last_line;
    const char *command; /* "copy" / "verify" */
    int dry_run;

    struct stor_count listed_src, listed_dst;
    struct stor_count planned; /* to copy (after resolution) */
    struct stor_count same;    /* already at the destination */
    struct stor_count skipped; /* upload sessions */
    struct stor_count extra;   /* only at the destination */
    struct stor_count done;    /* copied */
    struct stor_count failed;
    struct stor_count vanished; /* listed at the source, gone when read */
    uint64_t server_side;       /* of `done`, copied by the server */
    /* verify */
    struct stor_count missing; /* at the source, not at the destination */
    struct stor_count differ;  /* at both, with another size (or ETag) */
    uint64_t content_checked, content_bad;
    uint64_t retries;
    uint64_t requests[STOR_RQ_KINDS];
    int listing_done;

    unsigned nfailures;
    unsigned max_failures; /* how many to keep, at most STOR_FAILURES_MAX */
    struct {
        char key[256];
        char error[200];
    } failures[STOR_FAILURES_MAX];
};

int stor_progress_init(struct stor_progress *p, const char *command, FILE *out, double interval_s);
void stor_progress_destroy(struct stor_progress *p);
double stor_now(void); /* monotonic seconds */

void stor_progress_lock(struct stor_progress *p);
void stor_progress_unlock(struct stor_progress *p);
/* Adds one failure (kept when fewer than max_failures are); locks. */
void stor_progress_fail(struct stor_progress *p, const char *key, uint64_t bytes,
                        const struct stor_error *err);
/* Prints a progress line when the interval has passed (or `force`); locks. */
void stor_progress_tick(struct stor_progress *p, int force);

/*
 * The final summary as one JSON object of at most STOR_SUMMARY_MAX bytes:
 * status ("done", "failed", "error"), the counters, and the first failures
 * (dropped, then shortened, until it fits). `error` is NULL or what stopped
 * the run. Returns the length written to buf (cap > STOR_SUMMARY_MAX).
 */
size_t stor_progress_summary(struct stor_progress *p, const char *status, const char *error,
                             char *buf, size_t cap);
/* Writes `summary` to `path` (the termination-log file); 0 or STOR_EIO. */
int stor_progress_write_termination(const char *path, const char *summary);

#endif
