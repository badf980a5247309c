/*
 * Threads of a copy run and how they hand work on:
 *
 *   lister(src) --entries--> \
 *                             planner (merge) --pairs--> engine (curl multi)
 *   lister(dst) --entries--> /
 *
 * Every arrow is a bounded stor_queue, so memory is fixed whatever the
 * number of keys: a fast lister waits for the planner, the planner waits
 * for free transfer slots. An error on any side cancels the queues so that
 * every thread ends, and the first error is what the run reports.
 */
#include "stor_copy.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "stor_internal.h"
#include "stor_queue.h"

#define ENTRY_QUEUE 1024
#define PAIR_QUEUE  64

struct side {
    struct stor_backend *b;
    const struct stor_shard *shard;
    enum stor_layout layout;
    struct stor_progress *prog;
    int is_src;
    struct stor_queue q;
    pthread_t thread;
    int started;
    int rc;
    struct stor_error err;
};

static void *lister_main(void *arg)
{
    struct side *s = arg;
    struct stor_seglist *sl = NULL;
    struct stor_entry *e = malloc(sizeof(*e));
    uint64_t n = 0, bytes = 0;
    int rc = e ? stor_seglist_open(s->b, s->shard, s->layout, &sl, &s->err)
               : stor_error_set(&s->err, STOR_ENOMEM, "out of memory");
    while (rc == 0) {
        int got = stor_seglist_next(sl, e, &s->err);
        if (got <= 0) {
            rc = got;
            break;
        }
        if (stor_queue_push(&s->q, e))
            break; /* cancelled */
        n++;
        bytes += e->size;
        if (n % 1000 == 0) {
            stor_progress_lock(s->prog);
            struct stor_count *c = s->is_src ? &s->prog->listed_src : &s->prog->listed_dst;
            c->objects += n;
            c->bytes += bytes;
            stor_progress_unlock(s->prog);
            n = bytes = 0;
        }
    }
    stor_progress_lock(s->prog);
    struct stor_count *c = s->is_src ? &s->prog->listed_src : &s->prog->listed_dst;
    c->objects += n;
    c->bytes += bytes;
    s->prog->requests[STOR_RQ_LIST] += stor_seglist_requests(sl);
    stor_progress_unlock(s->prog);
    s->rc = rc;
    stor_seglist_close(sl);
    free(e);
    stor_queue_close(&s->q);
    return NULL;
}

static int side_next(void *ctx, struct stor_entry *e, struct stor_error *err)
{
    struct side *s = ctx;
    if (stor_queue_pop(&s->q, e))
        return 1;
    /* The lister closed its queue: at the end, or on an error. */
    if (s->rc) {
        *err = s->err;
        return s->rc;
    }
    return 0;
}

int stor_plan_run(struct stor_backend *src, struct stor_backend *dst, enum stor_layout layout,
                  const struct stor_shard *shard, struct stor_progress *prog, stor_pair_fn on_pair,
                  void *ctx, struct stor_error *err)
{
    int rc = 0;
    struct side *sides = calloc(2, sizeof(*sides));
    struct stor_pair *pair = malloc(sizeof(*pair));
    if (!sides || !pair) {
        free(sides);
        free(pair);
        return stor_error_set(err, STOR_ENOMEM, "out of memory");
    }
    for (int i = 0; i < 2; i++) {
        struct side *s = &sides[i];
        s->b = i == 0 ? src : dst;
        s->shard = shard;
        s->layout = layout;
        s->prog = prog;
        s->is_src = i == 0;
        if (stor_queue_init(&s->q, sizeof(struct stor_entry), ENTRY_QUEUE)) {
            rc = stor_error_set(err, STOR_ENOMEM, "out of memory");
            goto out;
        }
        if (pthread_create(&s->thread, NULL, lister_main, s)) {
            rc = stor_error_set(err, STOR_ENOMEM, "cannot start a listing thread");
            goto out;
        }
        s->started = 1;
    }
    struct stor_merge m;
    stor_merge_init(&m, (struct stor_stream){side_next, &sides[0]},
                    (struct stor_stream){side_next, &sides[1]}, layout);
    for (;;) {
        int got = stor_merge_next(&m, pair, err);
        if (got < 0) {
            rc = got;
            break;
        }
        if (got == 0)
            break;
        struct stor_count *c = NULL;
        if (pair->action == STOR_ACT_SAME)
            c = &prog->same;
        else if (pair->action == STOR_ACT_SKIP)
            c = &prog->skipped;
        else if (pair->action == STOR_ACT_EXTRA)
            c = &prog->extra;
        if (c) {
            stor_progress_lock(prog);
            c->objects++;
            c->bytes += pair->has_src ? pair->src.size : pair->dst.size;
            stor_progress_unlock(prog);
        }
        rc = on_pair(ctx, pair);
        if (rc) {
            if (!err->code)
                stor_error_set(err, rc, "stopped");
            break;
        }
    }
out:
    for (int i = 0; i < 2; i++) {
        struct side *s = &sides[i];
        if (s->q.items)
            stor_queue_cancel(&s->q);
        if (s->started)
            pthread_join(s->thread, NULL);
        /* A listing error that the merge did not reach still fails the plan. */
        if (!rc && s->rc) {
            rc = s->rc;
            *err = s->err;
        }
        stor_queue_destroy(&s->q);
    }
    if (rc == 0) {
        stor_progress_lock(prog);
        prog->listing_done = 1;
        stor_progress_unlock(prog);
    }
    free(sides);
    free(pair);
    return rc;
}

/* ---- copy: the planner thread feeds the engine ---- */

struct planner {
    struct stor_backend *src, *dst;
    const struct stor_copy_opts *o;
    struct stor_progress *prog;
    struct stor_queue pairs;
    int rc;
    struct stor_error err;
};

static int push_pair(void *ctx, const struct stor_pair *pair)
{
    struct planner *pl = ctx;
    if (pair->action != STOR_ACT_COPY && pair->action != STOR_ACT_UPDATE &&
        pair->action != STOR_ACT_RESOLVE)
        return 0;
    return stor_queue_push(&pl->pairs, pair) ? STOR_ESTOPPED : 0;
}

static void *planner_main(void *arg)
{
    struct planner *pl = arg;
    pl->rc = stor_plan_run(pl->src, pl->dst, pl->o->layout, &pl->o->shard, pl->prog, push_pair, pl,
                           &pl->err);
    stor_queue_close(&pl->pairs);
    return NULL;
}

int stor_copy_run(struct stor_backend *src, struct stor_backend *dst,
                  const struct stor_copy_opts *opts, struct stor_progress *prog,
                  struct stor_error *err)
{
    struct planner *pl = calloc(1, sizeof(*pl));
    if (!pl)
        return stor_error_set(err, STOR_ENOMEM, "out of memory");
    pl->src = src;
    pl->dst = dst;
    pl->o = opts;
    pl->prog = prog;
    prog->dry_run = opts->pool.dry_run;
    int rc = 0;
    pthread_t th;
    if (stor_queue_init(&pl->pairs, sizeof(struct stor_pair), PAIR_QUEUE)) {
        free(pl);
        return stor_error_set(err, STOR_ENOMEM, "out of memory");
    }
    if (pthread_create(&th, NULL, planner_main, pl)) {
        stor_queue_destroy(&pl->pairs);
        free(pl);
        return stor_error_set(err, STOR_ENOMEM, "cannot start the planner thread");
    }
    rc = stor_pool_run(src, dst, &opts->pool, &pl->pairs, prog, err);
    if (rc)
        stor_queue_cancel(&pl->pairs);
    pthread_join(th, NULL);
    if (!rc && pl->rc && pl->rc != STOR_ESTOPPED) {
        rc = pl->rc;
        *err = pl->err;
    }
    stor_queue_destroy(&pl->pairs);
    free(pl);
    return rc;
}
