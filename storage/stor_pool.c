/*
 * The transfer engine (see stor_pool.h for the what). Internals:
 *
 * A job is one object. Its state machine: [RESOLVE: HEAD a zero-byte source
 * blob] -> [BEGIN: start a multipart upload] -> SEG (one segment: the whole
 * object, or one part) repeated -> [COMMIT] -> done; BACKOFF waits before a
 * retry of the current step; ABORT cleans an unfinished multipart upload.
 *
 * A segment between two HTTP stores runs two transfers on the multi handle:
 * the source GET writes into the job's ring buffer (its write callback
 * pauses the GET when the ring is full), the destination PUT reads from it
 * (its read callback pauses the PUT when the ring is empty). The loop
 * unpauses either side when the other has made room or data; curl_easy_pause
 * is only ever called from the loop, never from inside a callback.
 *
 * With --verify-content the bytes are hashed as they enter the ring; the
 * hash is final when the last byte of the object has entered, before the
 * PUT can hand that byte to the server, so a mismatching blob is aborted
 * mid-request and never lands. For multipart uploads the commit waits for
 * the hash.
 *
 * The bandwidth cap is a token bucket charged where bytes enter the engine
 * (the GET's write callback, or a local file read); a side that finds the
 * bucket empty pauses and is resumed by the loop.
 */
#include "stor_pool.h"

#include <openssl/evp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "k8s_log.h"
#include "stor_internal.h"
#include "stor_layout.h"
#include "stor_merge.h"

#define RING_SIZE     (256u * 1024)
#define RING_MAX      (16u * 1024 * 1024)
#define CURL_BUF_SIZE (128L * 1024)
#define DIRECT_CHUNK  (256u * 1024)

enum jstate { J_FREE, J_RESOLVE, J_BEGIN, J_SEG, J_COMMIT, J_ABORT, J_BACKOFF };

struct pool;
struct job;

struct xfer {
    struct stor_io io; /* first: CURLOPT_PRIVATE points here */
    struct job *job;
    struct stor_backend *b;
    CURL *easy;
    struct stor_req req;
    int active; /* in the multi handle */
    int used;   /* part of the current step */
    int done;   /* finished (rc valid) */
    int rc;
    int paused;    /* waiting for ring room/data */
    int throttled; /* waiting for bandwidth tokens */
    size_t want;   /* GET: size of the chunk it could not deliver */
    struct stor_error err;
};

struct job {
    struct pool *pool;
    enum jstate st, retry_st;
    struct stor_pair pair;
    unsigned attempt;
    double wake_at;
    uint64_t size;
    int server_side, use_mpu, need_rehead;
    int vanished; /* the source is gone: counted as such once any upload is aborted */
    int planned;  /* counted in prog->planned (undone when the job is re-resolved) */
    struct stor_upload up;
    unsigned part;
    uint64_t seg_off, seg_len, seg_in, seg_out;
    unsigned char *ring;
    size_t rcap, rhead, rlen;
    EVP_MD_CTX *md, *md_seg;
    int verdict; /* -1: not known yet, 1: digest matches, 0: mismatch */
    struct stor_reader *reader;
    struct stor_writer *writer;
    struct xfer x[2]; /* 0: source side, 1: destination side */
    struct stor_error err;
};

struct pool {
    struct stor_backend *src, *dst;
    struct stor_pool_opts o;
    struct stor_limits dlim;
    struct stor_progress *prog;
    CURLM *multi;
    struct job *jobs;
    unsigned njobs, active;
    int src_http, dst_http, same_account;
    double tokens, last_refill;
    int fatal;
    struct stor_error fatal_err;
    unsigned char *direct_buf;
};

static double jitter(void)
{
    /* 0.5 .. 1.5; rand_r with a per-call seed from the clock is enough here. */
    unsigned seed = (unsigned)(stor_now() * 1e6);
    return 0.5 + (double)(rand_r(&seed) % 1000) / 1000.0;
}

static int rq_kind(enum stor_op op)
{
    switch (op) {
    case STOR_OP_GET:
        return STOR_RQ_GET;
    case STOR_OP_PUT:
        return STOR_RQ_PUT;
    case STOR_OP_HEAD:
        return STOR_RQ_HEAD;
    case STOR_OP_DELETE:
        return STOR_RQ_DELETE;
    case STOR_OP_LIST:
        return STOR_RQ_LIST;
    case STOR_OP_COPY:
        return STOR_RQ_COPY;
    default:
        return STOR_RQ_MULTIPART;
    }
}

static int is_fatal(int code)
{
    return code == STOR_EAUTH || code == STOR_EFORBIDDEN || code == STOR_ENOBUCKET ||
           code == STOR_ECONFIG || code == STOR_ETLS;
}

/* ------------------------------------------------------------ hashing */

static void hash_update(struct job *j, const void *data, size_t len)
{
    if (j->md)
        EVP_DigestUpdate(j->md, data, len);
}

/* Called when the last byte of the object has been hashed. */
static void hash_final(struct job *j)
{
    if (!j->md || j->verdict != -1)
        return;
    unsigned char md[32];
    unsigned int n = 0;
    char hex[65];
    EVP_DigestFinal_ex(j->md, md, &n);
    stor_hex(md, 32, hex);
    j->verdict = strcmp(hex, j->pair.digest) == 0;
}

/* ------------------------------------------------------------ bandwidth */

static int take_tokens(struct pool *p, size_t len)
{
    if (!p->o.max_bytes_per_second)
        return 1;
    if (p->tokens <= 0)
        return 0;
    p->tokens -= (double)len;
    return 1;
}

static void refill_tokens(struct pool *p)
{
    if (!p->o.max_bytes_per_second)
        return;
    double now = stor_now();
    double rate = (double)p->o.max_bytes_per_second;
    p->tokens += (now - p->last_refill) * rate;
    double burst = rate / 5 > 262144 ? rate / 5 : 262144;
    if (p->tokens > burst)
        p->tokens = burst;
    p->last_refill = now;
}

/* ------------------------------------------------------------ sinks and sources */

/* The source sent more than it listed: the object changed under us. */
static int grew(struct job *j, size_t len)
{
    if (j->seg_in + len <= j->seg_len)
        return 0;
    stor_error_set(&j->err, STOR_ETRANSPORT, "%s: the source sent more than %llu bytes",
                   j->pair.src.key, (unsigned long long)j->seg_len);
    j->need_rehead = j->pair.cls != STOR_KEY_BLOB;
    return 1;
}

static int pipe_sink(void *ctx, const void *data, size_t len)
{
    struct job *j = ctx;
    struct xfer *x = &j->x[0];
    if (grew(j, len))
        return -1;
    if (len > j->rcap - j->rlen) {
        if (len > j->rcap && j->rlen == 0 && len <= RING_MAX) {
            unsigned char *r = realloc(j->ring, len);
            if (!r)
                return -1;
            j->ring = r;
            j->rcap = len;
            j->rhead = 0;
        } else {
            x->paused = 1;
            x->want = len;
            return STOR_IO_PAUSE;
        }
    }
    if (!take_tokens(j->pool, len)) {
        x->throttled = 1;
        return STOR_IO_PAUSE;
    }
    size_t tail = (j->rhead + j->rlen) % j->rcap;
    size_t first = j->rcap - tail < len ? j->rcap - tail : len;
    memcpy(j->ring + tail, data, first);
    memcpy(j->ring, (const char *)data + first, len - first);
    j->rlen += len;
    j->seg_in += len;
    hash_update(j, data, len);
    if (j->seg_off + j->seg_in == j->size)
        hash_final(j);
    return 0;
}

static int pipe_source(void *ctx, void *buf, size_t cap, size_t *got)
{
    struct job *j = ctx;
    if (j->rlen == 0) {
        j->x[1].paused = 1;
        return STOR_IO_PAUSE;
    }
    size_t n = cap < j->rlen ? cap : j->rlen;
    /* The last byte of a blob whose digest did not match is never sent. */
    if (j->md && j->seg_off + j->seg_out + n == j->size && j->verdict == 0)
        return -1;
    size_t first = j->rcap - j->rhead < n ? j->rcap - j->rhead : n;
    memcpy(buf, j->ring + j->rhead, first);
    memcpy((char *)buf + first, j->ring, n - first);
    j->rhead = (j->rhead + n) % j->rcap;
    j->rlen -= n;
    j->seg_out += n;
    *got = n;
    return 0;
}

static int reader_source(void *ctx, void *buf, size_t cap, size_t *got)
{
    struct job *j = ctx;
    struct stor_backend *src = j->pool->src;
    if (!take_tokens(j->pool, cap)) {
        j->x[1].throttled = 1;
        return STOR_IO_PAUSE;
    }
    size_t n = 0;
    if (src->ops->read(j->reader, buf, cap, &n, &j->err) || n == 0)
        return -1;
    j->seg_in += n;
    hash_update(j, buf, n);
    if (j->seg_off + j->seg_in == j->size) {
        hash_final(j);
        if (j->verdict == 0)
            return -1;
    }
    *got = n;
    return 0;
}

static int writer_sink(void *ctx, const void *data, size_t len)
{
    struct job *j = ctx;
    if (grew(j, len))
        return -1;
    if (!take_tokens(j->pool, len)) {
        j->x[0].throttled = 1;
        return STOR_IO_PAUSE;
    }
    if (j->pool->dst->ops->write(j->writer, data, len, &j->err))
        return -1;
    j->seg_in += len;
    hash_update(j, data, len);
    if (j->seg_off + j->seg_in == j->size)
        hash_final(j);
    return 0;
}

/* ------------------------------------------------------------ transfers */

static void xfer_stop(struct xfer *x)
{
    if (x->active) {
        curl_multi_remove_handle(x->job->pool->multi, x->easy);
        x->active = 0;
    }
    if (x->used)
        stor_req_release(x->b, &x->req);
    x->used = x->done = x->paused = x->throttled = 0;
}

static void job_step(struct job *j);

/* Starts a request on side `side`; the req inputs are filled by the caller
 * through `fill`. Returns 0, or an error (stored in x->err/x->rc). */
static int xfer_start(struct job *j, int side, struct stor_req *in, stor_sink_fn sink,
                      stor_source_fn source)
{
    struct pool *p = j->pool;
    struct xfer *x = &j->x[side];
    xfer_stop(x);
    x->b = side == 0 ? p->src : p->dst;
    x->req = *in;
    x->used = 1;
    memset(&x->io, 0, sizeof(x->io));
    x->io.sink = sink;
    x->io.sink_ctx = j;
    x->io.source = source;
    x->io.source_ctx = j;
    stor_error_clear(&x->err);
    int rc = stor__req_prepare(x->b, x->easy, &x->req, &x->io, &x->err);
    if (rc == STOR_ENOTSUP) {
        /* No request needed on this backend: done at once. */
        x->done = 1;
        x->rc = 0;
        return 0;
    }
    if (rc) {
        x->done = 1;
        x->rc = rc;
        return rc;
    }
    curl_easy_setopt(x->easy, CURLOPT_PRIVATE, &x->io);
    curl_easy_setopt(x->easy, CURLOPT_BUFFERSIZE, CURL_BUF_SIZE);
    curl_easy_setopt(x->easy, CURLOPT_UPLOAD_BUFFERSIZE, CURL_BUF_SIZE);
    if (curl_multi_add_handle(p->multi, x->easy) != CURLM_OK) {
        x->done = 1;
        x->rc = stor_error_set(&x->err, STOR_ENOMEM, "cannot add a transfer");
        return x->rc;
    }
    x->active = 1;
    stor_progress_lock(p->prog);
    p->prog->requests[rq_kind(in->op)]++;
    stor_progress_unlock(p->prog);
    return 0;
}

/* ------------------------------------------------------------ job lifecycle */

/* Starts the bodiless multipart request of state `st` (J_BEGIN, J_COMMIT or
 * J_ABORT) on the destination side; job_step takes over at once when the
 * backend needs no request for it or it could not start. */
static void start_upload_step(struct job *j, enum jstate st)
{
    struct stor_req in;
    memset(&in, 0, sizeof(in));
    in.op = st == J_BEGIN    ? STOR_OP_MPU_BEGIN
            : st == J_COMMIT ? STOR_OP_MPU_COMMIT
                             : STOR_OP_MPU_ABORT;
    in.key = j->pair.src.key;
    in.upload = &j->up;
    j->st = st;
    if (xfer_start(j, 1, &in, NULL, NULL) || j->x[1].done)
        job_step(j);
}

static void job_release(struct job *j)
{
    xfer_stop(&j->x[0]);
    xfer_stop(&j->x[1]);
    if (j->reader) {
        j->pool->src->ops->read_close(j->reader);
        j->reader = NULL;
    }
    if (j->writer) {
        j->pool->dst->ops->write_abort(j->writer);
        j->writer = NULL;
    }
    free(j->up.etags);
    j->up.etags = NULL;
    if (j->md) {
        EVP_MD_CTX_free(j->md);
        j->md = NULL;
    }
    if (j->md_seg) {
        EVP_MD_CTX_free(j->md_seg);
        j->md_seg = NULL;
    }
    j->st = J_FREE;
    j->pool->active--;
}

static void job_succeeded(struct job *j)
{
    struct stor_progress *g = j->pool->prog;
    stor_progress_lock(g);
    g->done.objects++;
    g->done.bytes += j->size;
    if (j->server_side)
        g->server_side++;
    stor_progress_unlock(g);
    job_release(j);
}

static void job_vanished(struct job *j)
{
    struct stor_progress *g = j->pool->prog;
    stor_progress_lock(g);
    g->vanished.objects++;
    g->vanished.bytes += j->size;
    stor_progress_unlock(g);
    k8s_log(K8S_LOG_INFO, NULL, NULL, "source object vanished before it was read",
            (const char *[]){"key", j->pair.src.key, NULL});
    job_release(j);
}

static void job_failed(struct job *j, const struct stor_error *err)
{
    struct pool *p = j->pool;
    stor_progress_fail(p->prog, j->pair.src.key, j->size, err);
    k8s_log(K8S_LOG_WARN, NULL, NULL, "object failed",
            (const char *[]){"key", j->pair.src.key, "error", err->message, "reason",
                             stor_err_name(err->code), NULL});
    if (is_fatal(err->code) && !p->fatal) {
        p->fatal = 1;
        p->fatal_err = *err;
    }
    job_release(j);
}

/* The end of a job that did not succeed: its source vanished, or it failed. */
static void job_finished_badly(struct job *j)
{
    if (j->vanished)
        job_vanished(j);
    else
        job_failed(j, &j->err);
}

static void start_segment(struct job *j);
static void plan_transfer(struct job *j);

/* Retries the current step after a backoff, or gives up. `from_src`: the
 * failure came from the source side (a 404 there means "vanished"). */
static void step_failed(struct job *j, int from_src, const struct stor_error *err)
{
    struct pool *p = j->pool;
    enum jstate failed_st = j->st;
    xfer_stop(&j->x[0]);
    xfer_stop(&j->x[1]);
    j->vanished = from_src && err->code == STOR_ENOTFOUND;
    if (!j->vanished)
        j->err = *err;
    if (!j->vanished && stor_err_retryable(err->code) && j->attempt + 1 < p->o.max_attempts &&
        !p->fatal) {
        j->attempt++;
        double d = p->o.backoff_base_s;
        for (unsigned i = 1; i < j->attempt && d < p->o.backoff_max_s; i++)
            d *= 2;
        if (d > p->o.backoff_max_s)
            d = p->o.backoff_max_s;
        j->wake_at = stor_now() + (err->code == STOR_ERETRY ? 0 : d * jitter());
        j->retry_st = failed_st;
        j->st = J_BACKOFF;
        stor_progress_lock(p->prog);
        p->prog->retries++;
        stor_progress_unlock(p->prog);
        k8s_log(K8S_LOG_DEBUG, NULL, NULL, "retrying",
                (const char *[]){"key", j->pair.src.key, "error", err->message, NULL});
        return;
    }
    if (j->use_mpu && j->up.upload_id[0] && failed_st != J_ABORT) {
        /* Best effort: tell the server to drop the parts, also when the
         * source vanished half-way (parts already stored would be orphans). */
        start_upload_step(j, J_ABORT);
        return;
    }
    job_finished_badly(j);
}

static void start_resolve(struct job *j)
{
    struct pool *p = j->pool;
    j->st = J_RESOLVE;
    if (!p->src_http) {
        struct stor_entry e;
        struct stor_error err;
        int rc = stor_head(p->src, j->pair.src.key, &e, &err);
        if (rc) {
            step_failed(j, 1, &err);
            return;
        }
        j->x[0].req.entry = e;
        j->x[0].done = 1;
        j->x[0].rc = 0;
        j->x[0].used = 0;
        job_step(j);
        return;
    }
    struct stor_req in;
    memset(&in, 0, sizeof(in));
    in.op = STOR_OP_HEAD;
    in.key = j->pair.src.key;
    if (xfer_start(j, 0, &in, NULL, NULL) || j->x[0].done)
        job_step(j);
}

static void resolved(struct job *j, const struct stor_entry *head)
{
    struct stor_pair *pr = &j->pair;
    pr->src.size = head->size;
    if (head->etag[0])
        stor_strlcpy(pr->src.etag, head->etag, sizeof(pr->src.etag));
    /* Zero bytes cannot hash to any other digest than that of no bytes: such
     * an answer is a DLO whose segments are not listed yet, or a server or
     * proxy that drops Content-Length on HEAD. Copying it would land an empty
     * blob under a digest it can never match; the next pass tries again. */
    if (pr->src.size == 0 && pr->cls == STOR_KEY_BLOB &&
        strcmp(pr->digest, STOR_EMPTY_SHA256) != 0) {
        struct stor_error e;
        stor_error_set(&e, STOR_EINTEGRITY,
                       "HEAD answered 0 bytes for a blob whose digest is not that of no bytes "
                       "(a DLO whose segments are not listed yet?): not copied");
        j->size = 0;
        job_failed(j, &e);
        return;
    }
    /* Otherwise the HEAD gave the real size: a zero-byte answer is a truly
     * empty object, compared by size like any other. */
    enum stor_action a;
    if (pr->src.size == 0)
        a = pr->has_dst && pr->dst.size == 0 ? STOR_ACT_SAME : STOR_ACT_COPY;
    else
        a = stor_decide(pr->cls, pr->digest, &pr->src, pr->has_dst ? &pr->dst : NULL);
    j->size = pr->src.size;
    j->need_rehead = 0;
    if (a == STOR_ACT_SAME) {
        struct stor_progress *g = j->pool->prog;
        stor_progress_lock(g);
        g->same.objects++;
        g->same.bytes += j->size;
        stor_progress_unlock(g);
        job_release(j);
        return;
    }
    pr->action = a;
    plan_transfer(j);
}

/* Blocks until the bucket holds tokens again: for direct copies, which run
 * on the loop thread anyway. */
static void wait_tokens(struct pool *p)
{
    refill_tokens(p);
    while (p->o.max_bytes_per_second && p->tokens <= 0) {
        double wait = -p->tokens / (double)p->o.max_bytes_per_second + 0.001;
        struct timespec ts = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};
        nanosleep(&ts, NULL);
        refill_tokens(p);
    }
}

/* Local to local: one blocking copy. The kernel moves the bytes
 * (copy_file_range) unless the bytes must be hashed or paced by the
 * bandwidth cap: then they stream through our buffer. */
static void direct_copy(struct job *j)
{
    struct pool *p = j->pool;
    struct stor_error err;
    stor_error_clear(&err);
    int rc;
    if (j->server_side && p->dst->ops->copy && !p->o.max_bytes_per_second) {
        rc = p->dst->ops->copy(p->dst, j->pair.src.key, p->src, j->pair.src.key, &err);
    } else {
        j->server_side = 0;
        struct stor_reader *r = NULL;
        struct stor_writer *w = NULL;
        rc = p->src->ops->read_open(p->src, j->pair.src.key, 0, &r, &err);
        if (!rc)
            rc = p->dst->ops->write_open(p->dst, j->pair.src.key, j->size, &w, &err);
        uint64_t done = 0;
        while (!rc) {
            size_t got = 0;
            wait_tokens(p);
            rc = p->src->ops->read(r, p->direct_buf, DIRECT_CHUNK, &got, &err);
            if (rc || got == 0)
                break;
            take_tokens(p, got);
            hash_update(j, p->direct_buf, got);
            rc = p->dst->ops->write(w, p->direct_buf, got, &err);
            done += got;
        }
        if (!rc && done != j->size) {
            rc = stor_error_set(&err, STOR_ETRANSPORT, "%s changed size while copied",
                                j->pair.src.key);
            j->need_rehead = j->pair.cls != STOR_KEY_BLOB;
        }
        if (!rc && j->md) {
            hash_final(j);
            if (j->verdict == 0)
                rc = stor_error_set(&err, STOR_EINTEGRITY,
                                    "content does not match the digest in its key");
        }
        if (r)
            p->src->ops->read_close(r);
        if (w) {
            if (rc)
                p->dst->ops->write_abort(w);
            else
                rc = p->dst->ops->write_commit(w, &err);
        }
    }
    if (rc) {
        j->st = J_SEG;
        step_failed(j, err.code == STOR_ENOTFOUND, &err);
        return;
    }
    job_succeeded(j);
}

static void plan_transfer(struct job *j)
{
    struct pool *p = j->pool;
    j->size = j->pair.src.size;
    struct stor_progress *g = p->prog;
    stor_progress_lock(g);
    g->planned.objects++;
    g->planned.bytes += j->size;
    stor_progress_unlock(g);
    j->planned = 1;
    if (p->o.dry_run) {
        job_release(j);
        return;
    }
    if (p->o.verify_content && j->pair.cls == STOR_KEY_BLOB && j->pair.digest[0]) {
        j->md = EVP_MD_CTX_new();
        j->md_seg = EVP_MD_CTX_new();
        if (!j->md || !j->md_seg || !EVP_DigestInit_ex(j->md, EVP_sha256(), NULL)) {
            struct stor_error e;
            stor_error_set(&e, STOR_ENOMEM, "out of memory");
            job_failed(j, &e);
            return;
        }
        j->verdict = -1;
    }
    j->server_side = p->same_account && !j->md && !p->o.no_server_side;
    if (!p->src_http && !p->dst_http) {
        direct_copy(j);
        return;
    }
    uint64_t single_max = j->server_side ? p->dlim.max_copy_size : p->dlim.multipart_threshold;
    j->use_mpu = p->dst_http && p->dlim.max_parts > 0 && j->size > single_max;
    if (j->use_mpu) {
        memset(&j->up, 0, sizeof(j->up));
        struct stor_error e;
        if (stor_upload_plan(&p->dlim, j->pair.src.key, j->size, &j->up, &e)) {
            job_failed(j, &e);
            return;
        }
        j->up.etags = calloc(j->up.nparts, sizeof(*j->up.etags));
        if (!j->up.etags) {
            stor_error_set(&e, STOR_ENOMEM, "out of memory");
            job_failed(j, &e);
            return;
        }
        start_upload_step(j, J_BEGIN);
        return;
    }
    j->part = 0;
    start_segment(j);
}

static void start_segment(struct job *j)
{
    struct pool *p = j->pool;
    j->st = J_SEG;
    if (j->use_mpu) {
        j->seg_off = (uint64_t)j->part * j->up.part_size;
        j->seg_len =
            j->size - j->seg_off < j->up.part_size ? j->size - j->seg_off : j->up.part_size;
    } else {
        j->seg_off = 0;
        j->seg_len = j->size;
    }
    j->seg_in = j->seg_out = 0;
    j->rhead = j->rlen = 0;
    if (j->md)
        EVP_MD_CTX_copy_ex(j->md_seg, j->md);
    const char *key = j->pair.src.key;
    struct stor_req in;

    if (j->server_side) {
        memset(&in, 0, sizeof(in));
        in.op = j->use_mpu ? STOR_OP_COPY_PART : STOR_OP_COPY;
        in.key = key;
        in.src = p->src;
        in.src_key = key;
        in.offset = j->seg_off;
        in.length = j->seg_len;
        in.upload = j->use_mpu ? &j->up : NULL;
        in.part_number = j->part + 1;
        if (xfer_start(j, 1, &in, NULL, NULL) || j->x[1].done)
            job_step(j);
        return;
    }

    /* Source side. */
    if (p->src_http) {
        if (j->seg_len > 0) {
            memset(&in, 0, sizeof(in));
            in.op = STOR_OP_GET;
            in.key = key;
            in.offset = j->use_mpu ? j->seg_off : 0;
            in.length = j->use_mpu ? j->seg_len : 0;
            if (!p->dst_http) {
                struct stor_error err;
                int rc = p->dst->ops->write_open(p->dst, key, j->size, &j->writer, &err);
                if (rc) {
                    step_failed(j, 0, &err);
                    return;
                }
            }
            if (xfer_start(j, 0, &in, p->dst_http ? pipe_sink : writer_sink, NULL)) {
                job_step(j);
                return;
            }
        } else if (!p->dst_http) {
            struct stor_error err;
            int rc = p->dst->ops->write_open(p->dst, key, 0, &j->writer, &err);
            if (rc) {
                step_failed(j, 0, &err);
                return;
            }
        }
    } else if (j->seg_len > 0) {
        struct stor_error err;
        int rc = p->src->ops->read_open(p->src, key, j->seg_off, &j->reader, &err);
        if (rc) {
            step_failed(j, 1, &err);
            return;
        }
    }
    /* Destination side. */
    if (p->dst_http) {
        memset(&in, 0, sizeof(in));
        in.op = j->use_mpu ? STOR_OP_MPU_PART : STOR_OP_PUT;
        in.key = key;
        in.offset = j->seg_off;
        in.length = j->seg_len;
        in.upload = j->use_mpu ? &j->up : NULL;
        in.part_number = j->part + 1;
        if (j->seg_len == 0 && j->md) {
            hash_final(j);
            if (j->verdict == 0) {
                struct stor_error err;
                stor_error_set(&err, STOR_EINTEGRITY,
                               "content does not match the digest in its key");
                job_failed(j, &err);
                return;
            }
        }
        if (xfer_start(j, 1, &in, NULL, p->src_http ? pipe_source : reader_source)) {
            job_step(j);
            return;
        }
    }
    if (!j->x[0].active && !j->x[1].active)
        job_step(j);
}

/* Both sides of the current segment finished well: next part, commit, or done. */
static void segment_done(struct job *j)
{
    struct pool *p = j->pool;
    struct stor_error err;
    stor_error_clear(&err);
    if (!j->server_side && j->seg_in != j->seg_len && p->src_http) {
        stor_error_set(&err, STOR_ETRANSPORT, "%s: read %llu bytes of %llu", j->pair.src.key,
                       (unsigned long long)j->seg_in, (unsigned long long)j->seg_len);
        j->need_rehead = j->pair.cls != STOR_KEY_BLOB;
        step_failed(j, 0, &err);
        return;
    }
    if (j->reader) {
        p->src->ops->read_close(j->reader);
        j->reader = NULL;
    }
    int last = !j->use_mpu || j->part + 1 == j->up.nparts;
    if (last && j->md) {
        hash_final(j);
        if (j->verdict != 1) {
            stor_error_set(&err, STOR_EINTEGRITY, "content does not match the digest in its key");
            j->attempt = p->o.max_attempts; /* a corrupt blob stays corrupt */
            step_failed(j, 0, &err);
            return;
        }
    }
    if (j->writer) {
        struct stor_writer *w = j->writer;
        j->writer = NULL;
        if (p->dst->ops->write_commit(w, &err)) {
            step_failed(j, 0, &err);
            return;
        }
    }
    if (!j->use_mpu) {
        job_succeeded(j);
        return;
    }
    if (!last) {
        j->part++;
        xfer_stop(&j->x[0]);
        xfer_stop(&j->x[1]);
        start_segment(j);
        return;
    }
    start_upload_step(j, J_COMMIT);
}

/* Advances a job after one of its transfers finished (or failed to start). */
static void job_step(struct job *j)
{
    struct xfer *s = &j->x[0], *d = &j->x[1];
    switch (j->st) {
    case J_RESOLVE:
        if (!s->done)
            return;
        if (s->rc) {
            struct stor_error e = s->err;
            step_failed(j, 1, &e);
            return;
        }
        {
            struct stor_entry head = s->req.entry;
            xfer_stop(s);
            resolved(j, &head);
        }
        return;
    case J_BEGIN:
        if (!d->done)
            return;
        if (d->rc) {
            struct stor_error e = d->err;
            step_failed(j, 0, &e);
            return;
        }
        xfer_stop(d);
        j->part = 0;
        start_segment(j);
        return;
    case J_COMMIT:
        if (!d->done)
            return;
        if (d->rc) {
            struct stor_error e = d->err;
            step_failed(j, 0, &e);
            return;
        }
        job_succeeded(j);
        return;
    case J_ABORT:
        if (!d->done)
            return;
        job_finished_badly(j);
        return;
    case J_SEG: {
        /* A failure on either side ends the segment at once. */
        if (s->done && s->rc) {
            struct stor_error e = s->err;
            step_failed(j, 1, &e);
            return;
        }
        if (d->done && d->rc) {
            struct stor_error e = d->err;
            if (e.code == STOR_EIO && j->err.code) /* the source failed inside the PUT */
                e = j->err;
            if (j->verdict == 0) {
                stor_error_set(&e, STOR_EINTEGRITY, "content does not match the digest in its key");
                j->attempt = j->pool->o.max_attempts;
            }
            /* A server-side copy reads the source itself: its "not found"
             * means the source vanished, like a GET's (unless S3 says the
             * multipart upload is what it could not find). */
            step_failed(j,
                        e.code == STOR_ENOTFOUND && j->server_side &&
                            strcmp(e.server_code, "NoSuchUpload") != 0,
                        &e);
            return;
        }
        if (s->used && s->done && j->seg_in != j->seg_len) {
            /* The GET ended early: the PUT would wait for bytes forever. */
            struct stor_error e;
            stor_error_set(&e, STOR_ETRANSPORT, "%s: read %llu bytes of %llu", j->pair.src.key,
                           (unsigned long long)j->seg_in, (unsigned long long)j->seg_len);
            j->need_rehead = j->pair.cls != STOR_KEY_BLOB;
            step_failed(j, 0, &e);
            return;
        }
        if ((s->used && !s->done) || (d->used && !d->done))
            return;
        if (j->server_side || !j->pool->src_http)
            j->seg_in = j->seg_len; /* the server copied, or the PUT read exactly seg_len */
        segment_done(j);
        return;
    }
    default:
        return;
    }
}

static void retry_now(struct job *j)
{
    enum jstate st = j->retry_st;
    if (j->md && st == J_SEG)
        EVP_MD_CTX_copy_ex(j->md, j->md_seg);
    if (j->md)
        j->verdict = -1;
    if (j->writer) {
        j->pool->dst->ops->write_abort(j->writer);
        j->writer = NULL;
    }
    if (j->reader) {
        j->pool->src->ops->read_close(j->reader);
        j->reader = NULL;
    }
    if (st == J_RESOLVE || j->need_rehead) {
        /* A mutable object changed size under us: look at it again. */
        if (j->md) {
            EVP_MD_CTX_free(j->md);
            EVP_MD_CTX_free(j->md_seg);
            j->md = j->md_seg = NULL;
        }
        free(j->up.etags);
        j->up.etags = NULL;
        /* A HEAD that failed before the job was planned has nothing to undo. */
        if (j->planned) {
            stor_progress_lock(j->pool->prog);
            j->pool->prog->planned.objects--;
            j->pool->prog->planned.bytes -= j->size;
            stor_progress_unlock(j->pool->prog);
            j->planned = 0;
        }
        start_resolve(j);
        return;
    }
    if (st == J_BEGIN || st == J_COMMIT) {
        start_upload_step(j, st);
        return;
    }
    if (!j->use_mpu && j->md) {
        EVP_DigestInit_ex(j->md, EVP_sha256(), NULL);
    }
    /* Local to local is one blocking step, not segments on the multi handle. */
    if (!j->pool->src_http && !j->pool->dst_http) {
        j->server_side = j->pool->same_account && !j->md && !j->pool->o.no_server_side;
        direct_copy(j);
        return;
    }
    start_segment(j);
}

static void start_job(struct pool *p, struct job *j, const struct stor_pair *pr)
{
    j->pool = p;
    j->pair = *pr;
    j->attempt = 0;
    j->size = pr->src.size;
    j->server_side = j->use_mpu = j->need_rehead = j->vanished = j->planned = 0;
    j->verdict = -1;
    memset(&j->up, 0, sizeof(j->up));
    stor_error_clear(&j->err);
    p->active++;
    if (pr->action == STOR_ACT_RESOLVE)
        start_resolve(j);
    else
        plan_transfer(j);
}

/* ------------------------------------------------------------ the loop */

static void handle_done(struct pool *p, CURL *easy, CURLcode cc)
{
    struct stor_io *io = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&io);
    if (!io)
        return;
    struct xfer *x = (struct xfer *)((char *)io - offsetof(struct xfer, io));
    struct job *j = x->job;
    curl_multi_remove_handle(p->multi, easy);
    x->active = 0;
    x->done = 1;
    x->rc = stor__req_complete(x->b, easy, &x->req, &x->io, cc, &x->err);
    if (x->rc == STOR_ESTOPPED && j->err.code)
        x->err = j->err; /* the sink's own failure says more */
    job_step(j);
}

/* Resumes transfers whose reason to pause is gone. Only from the loop. */
static void unpause(struct pool *p)
{
    for (unsigned i = 0; i < p->njobs; i++) {
        struct job *j = &p->jobs[i];
        if (j->st != J_SEG)
            continue;
        struct xfer *s = &j->x[0], *d = &j->x[1];
        if (s->active && s->paused && j->rcap - j->rlen >= s->want) {
            s->paused = 0;
            curl_easy_pause(s->easy, CURLPAUSE_CONT);
        }
        if (s->active && s->throttled && p->tokens > 0) {
            s->throttled = 0;
            curl_easy_pause(s->easy, CURLPAUSE_CONT);
        }
        if (j->st != J_SEG) /* the unpause above may have finished the step */
            continue;
        if (d->active && d->paused && j->rlen > 0) {
            d->paused = 0;
            curl_easy_pause(d->easy, CURLPAUSE_CONT);
        }
        if (d->active && d->throttled && p->tokens > 0) {
            d->throttled = 0;
            curl_easy_pause(d->easy, CURLPAUSE_CONT);
        }
    }
}

int stor_pool_run(struct stor_backend *src, struct stor_backend *dst,
                  const struct stor_pool_opts *opts, struct stor_queue *pairs,
                  struct stor_progress *prog, struct stor_error *err)
{
    int rc = 0;
    struct pool p;
    memset(&p, 0, sizeof(p));
    p.src = src;
    p.dst = dst;
    p.o = *opts;
    if (!p.o.concurrency)
        p.o.concurrency = 16;
    if (!p.o.max_attempts)
        p.o.max_attempts = 6;
    if (p.o.backoff_base_s <= 0)
        p.o.backoff_base_s = 0.5;
    if (p.o.backoff_max_s <= 0)
        p.o.backoff_max_s = 30;
    p.prog = prog;
    p.src_http = stor_backend_is_http(src);
    p.dst_http = stor_backend_is_http(dst);
    p.same_account = dst->ops->same_account && dst->ops->same_account(dst, src);
    p.last_refill = stor_now();
    p.tokens = 0;
    refill_tokens(&p);
    rc = stor_backend_limits(dst, &p.dlim, err);
    if (rc)
        goto out;
    p.multi = curl_multi_init();
    p.njobs = p.o.concurrency;
    p.jobs = calloc(p.njobs, sizeof(*p.jobs));
    p.direct_buf = malloc(DIRECT_CHUNK);
    if (!p.multi || !p.jobs || !p.direct_buf) {
        rc = stor_error_set(err, STOR_ENOMEM, "out of memory");
        goto out;
    }
    curl_multi_setopt(p.multi, CURLMOPT_MAXCONNECTS, (long)(p.njobs * 2 + 8));
    for (unsigned i = 0; i < p.njobs; i++) {
        struct job *j = &p.jobs[i];
        j->pool = &p;
        j->rcap = RING_SIZE;
        j->ring = malloc(RING_SIZE);
        for (int s = 0; s < 2; s++) {
            j->x[s].job = j;
            j->x[s].easy = curl_easy_init();
            if (!j->x[s].easy) {
                rc = stor_error_set(err, STOR_ENOMEM, "out of memory");
                goto out;
            }
        }
        if (!j->ring) {
            rc = stor_error_set(err, STOR_ENOMEM, "out of memory");
            goto out;
        }
    }

    int drained = 0;
    while (!p.fatal) {
        /* Take new work while there is room. */
        while (!drained && p.active < p.njobs) {
            struct stor_pair pr;
            int got = stor_queue_trypop(pairs, &pr);
            if (got < 0)
                drained = 1;
            if (got <= 0)
                break;
            for (unsigned i = 0; i < p.njobs; i++) {
                if (p.jobs[i].st == J_FREE) {
                    start_job(&p, &p.jobs[i], &pr);
                    break;
                }
            }
            if (p.fatal)
                break;
        }
        if (p.fatal || (drained && p.active == 0))
            break;
        double now = stor_now();
        double next_wake = now + 0.05;
        for (unsigned i = 0; i < p.njobs; i++) {
            struct job *j = &p.jobs[i];
            if (j->st != J_BACKOFF)
                continue;
            if (j->wake_at <= now)
                retry_now(j);
            else if (j->wake_at < next_wake)
                next_wake = j->wake_at;
        }
        int running = 0;
        curl_multi_perform(p.multi, &running);
        CURLMsg *m;
        int left = 0;
        while ((m = curl_multi_info_read(p.multi, &left)) != NULL) {
            if (m->msg == CURLMSG_DONE)
                handle_done(&p, m->easy_handle, m->data.result);
        }
        refill_tokens(&p);
        unpause(&p);
        stor_progress_tick(prog, 0);
        int timeout_ms = (int)((next_wake - stor_now()) * 1000);
        if (timeout_ms < 1)
            timeout_ms = 1;
        if (p.o.max_bytes_per_second && timeout_ms > 10)
            timeout_ms = 10;
        if (!drained && p.active < p.njobs && timeout_ms > 20)
            timeout_ms = 20; /* the planner may have pushed work meanwhile */
        curl_multi_poll(p.multi, NULL, 0, timeout_ms, NULL);
    }
    if (p.fatal) {
        rc = p.fatal_err.code ? p.fatal_err.code : STOR_EIO;
        *err = p.fatal_err;
        stor_queue_cancel(pairs);
    }
out:
    if (p.jobs) {
        for (unsigned i = 0; i < p.njobs; i++) {
            struct job *j = &p.jobs[i];
            if (j->st != J_FREE)
                job_release(j);
            for (int s = 0; s < 2; s++)
                if (j->x[s].easy)
                    curl_easy_cleanup(j->x[s].easy);
            free(j->ring);
        }
    }
    free(p.jobs);
    free(p.direct_buf);
    if (p.multi)
        curl_multi_cleanup(p.multi);
    return rc;
}
