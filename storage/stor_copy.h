/*
 * A copy run: both sides listed concurrently (one thread each, restricted to
 * the shard's segments), merged as sorted streams by a planner, and the
 * objects to copy handed to the transfer engine while listing goes on.
 * Also the planning half alone, for `verify`.
 */
#ifndef QSO_STOR_COPY_H
#define QSO_STOR_COPY_H

#include "stor_backend.h"
#include "stor_layout.h"
#include "stor_merge.h"
#include "stor_pool.h"
#include "stor_progress.h"
#include "stor_shard.h"

struct stor_copy_opts {
    struct stor_pool_opts pool;
    enum stor_layout layout;
    struct stor_shard shard;
};

/*
 * Lists both sides of `shard` concurrently and calls on_pair (in the calling
 * thread) for every key, in key order. Counts listed/same/skipped/extra in
 * `prog`. A non-zero return from on_pair stops the run with that code.
 * Returns 0, or the listing's error (STOR_ENOBUCKET, STOR_EAUTH, ...).
 */
typedef int (*stor_pair_fn)(void *ctx, const struct stor_pair *pair);
int stor_plan_run(struct stor_backend *src, struct stor_backend *dst, enum stor_layout layout,
                  const struct stor_shard *shard, struct stor_progress *prog, stor_pair_fn on_pair,
                  void *ctx, struct stor_error *err);

/*
 * The whole copy. Returns 0 when the run completed (per-object failures are
 * in prog->failed), or a negative code when it could not run or had to stop.
 */
int stor_copy_run(struct stor_backend *src, struct stor_backend *dst,
                  const struct stor_copy_opts *opts, struct stor_progress *prog,
                  struct stor_error *err);

#endif
