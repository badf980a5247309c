/*
 * The transfer engine: objects to copy arrive from the planner on a queue;
 * up to `concurrency` of them are in flight at once on ONE curl multi handle
 * (one thread). A copy between two HTTP stores is a GET and a PUT coupled
 * through a small ring buffer with curl's pause/unpause (the blob never sits
 * whole in memory); a local side reads or writes its file directly; a copy
 * inside one account is done by the server. Large objects go multipart
 * (ranged GET per part). Failed requests are retried with exponential
 * backoff and jitter; a source key that vanished is counted, not failed.
 * Nothing is read back after a PUT: its status and ETag are trusted.
 */
#ifndef QSO_STOR_POOL_H
#define QSO_STOR_POOL_H

#include "stor_backend.h"
#include "stor_progress.h"
#include "stor_queue.h"

struct stor_pool_opts {
    unsigned concurrency;          /* transfers in flight (default 16) */
    uint64_t max_bytes_per_second; /* 0: unlimited */
    int verify_content;            /* sha256 of every blob against its key */
    int dry_run;                   /* plan and count, transfer nothing */
    unsigned max_attempts;         /* per request (default 6) */
    double backoff_base_s;         /* first retry delay (default 0.5 s) */
    double backoff_max_s;          /* cap (default 30 s) */
    int no_server_side;            /* always stream, even within one account */
};

/*
 * Consumes `struct stor_pair` items from `pairs` (closed by the producer at
 * the end) and copies them. Returns 0 when every item was handled (failures
 * are counted in `prog`), or a negative code when the run had to stop (the
 * destination refused our credentials, a bucket is missing): then `err` says
 * why and `pairs` is cancelled.
 */
int stor_pool_run(struct stor_backend *src, struct stor_backend *dst,
                  const struct stor_pool_opts *opts, struct stor_queue *pairs,
                  struct stor_progress *prog, struct stor_error *err);

#endif
