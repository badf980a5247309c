/*
 * verify: the planner's merge with a different consumer. Offenders go into
 * the progress's failure list (the summary keeps the first ones); the
 * content sample is a reservoir (algorithm R) of blob keys present on both
 * sides, so it is uniform over the whole listing with memory for N keys.
 */
#include "stor_verify.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stor_copy.h"
#include "stor_internal.h"

#define VERIFY_GET_ATTEMPTS 5

struct vctx {
    struct stor_backend *src, *dst;
    const struct stor_verify_opts *o;
    struct stor_progress *prog;
    struct stor_entry *sample; /* o->sample entries */
    char (*digests)[65];
    uint64_t seen; /* blobs eligible for the sample */
};

static void offend(struct vctx *v, struct stor_count *c, const struct stor_entry *e,
                   const char *why)
{
    struct stor_error err;
    stor_error_set(&err, STOR_EINTEGRITY, "%s", why);
    stor_progress_lock(v->prog);
    c->objects++;
    c->bytes += e->size;
    stor_progress_unlock(v->prog);
    /* stor_progress_fail counts failed; verify reports offenders there. */
    stor_progress_fail(v->prog, e->key, 0, &err);
}

struct hasher {
    EVP_MD_CTX *md;
    uint64_t n;
};

static int hash_sink(void *ctx, const void *data, size_t len)
{
    struct hasher *h = ctx;
    h->n += len;
    return EVP_DigestUpdate(h->md, data, len) == 1 ? 0 : 1;
}

/* Downloads a blob from the destination and checks its digest. */
static void check_content(struct vctx *v, const struct stor_entry *e, const char *digest)
{
    struct hasher h = {EVP_MD_CTX_new(), 0};
    struct stor_error err;
    stor_error_clear(&err);
    int rc = STOR_ENOMEM;
    /* A 5xx or a reset says nothing about the content: download again from
     * the start (the hash has seen bytes) with backoff, as the copy would. */
    for (int attempt = 0; attempt < VERIFY_GET_ATTEMPTS; attempt++) {
        if (attempt) {
            struct timespec ts = {0, 100000000L * attempt};
            nanosleep(&ts, NULL);
        }
        h.n = 0;
        rc = h.md && EVP_DigestInit_ex(h.md, EVP_sha256(), NULL) == 1
                 ? stor_get(v->dst, e->key, 0, 0, hash_sink, &h, &err)
                 : stor_error_set(&err, STOR_ENOMEM, "out of memory");
        stor_progress_lock(v->prog);
        v->prog->requests[STOR_RQ_GET]++;
        if (rc && stor_err_retryable(rc))
            v->prog->retries++;
        stor_progress_unlock(v->prog);
        if (!stor_err_retryable(rc))
            break;
    }
    stor_progress_lock(v->prog);
    v->prog->content_checked++;
    stor_progress_unlock(v->prog);
    if (rc == 0) {
        unsigned char md[32];
        unsigned int n = 0;
        char hex[65];
        EVP_DigestFinal_ex(h.md, md, &n);
        stor_hex(md, 32, hex);
        if (strcmp(hex, digest) != 0) {
            stor_progress_lock(v->prog);
            v->prog->content_bad++;
            stor_progress_unlock(v->prog);
            stor_error_set(&err, STOR_EINTEGRITY, "content at the destination hashes to %.16s...",
                           hex);
            stor_progress_fail(v->prog, e->key, 0, &err);
        }
    } else {
        stor_progress_lock(v->prog);
        v->prog->content_bad++;
        stor_progress_unlock(v->prog);
        stor_progress_fail(v->prog, e->key, 0, &err);
    }
    EVP_MD_CTX_free(h.md);
}

static uint64_t rand64(void)
{
    uint64_t r = 0;
    RAND_bytes((unsigned char *)&r, sizeof(r));
    return r;
}

static int on_pair(void *ctx, const struct stor_pair *p)
{
    struct vctx *v = ctx;
    struct stor_pair pr = *p;
    if (pr.action == STOR_ACT_RESOLVE) {
        /* A zero-byte source blob may be a DLO manifest: ask its real size. */
        struct stor_entry head;
        struct stor_error err;
        stor_progress_lock(v->prog);
        v->prog->requests[STOR_RQ_HEAD]++;
        stor_progress_unlock(v->prog);
        if (stor_head(v->src, pr.src.key, &head, &err) == 0)
            pr.src.size = head.size;
        pr.action = !pr.has_dst                  ? STOR_ACT_COPY
                    : pr.src.size == pr.dst.size ? STOR_ACT_SAME
                                                 : STOR_ACT_UPDATE;
        if (pr.action == STOR_ACT_SAME) {
            stor_progress_lock(v->prog);
            v->prog->same.objects++;
            v->prog->same.bytes += pr.src.size;
            stor_progress_unlock(v->prog);
        }
    }
    if (pr.action == STOR_ACT_COPY)
        offend(v, &v->prog->missing, &pr.src, "missing at the destination");
    else if (pr.action == STOR_ACT_UPDATE)
        offend(v, &v->prog->differ, &pr.src,
               pr.src.size != pr.dst.size ? "size differs at the destination"
                                          : "ETag differs at the destination");
    else if (pr.action == STOR_ACT_SAME && pr.cls == STOR_KEY_BLOB) {
        if (v->o->full_content) {
            check_content(v, &pr.dst, pr.digest);
        } else if (v->o->sample) {
            uint64_t i = v->seen++;
            uint64_t slot = i < v->o->sample ? i : rand64() % (i + 1);
            if (slot < v->o->sample) {
                v->sample[slot] = pr.dst;
                memcpy(v->digests[slot], pr.digest, 65);
            }
        }
    }
    stor_progress_tick(v->prog, 0);
    return 0;
}

int stor_verify_run(struct stor_backend *src, struct stor_backend *dst,
                    const struct stor_verify_opts *o, struct stor_progress *prog,
                    struct stor_error *err)
{
    struct vctx v;
    memset(&v, 0, sizeof(v));
    v.src = src;
    v.dst = dst;
    v.o = o;
    v.prog = prog;
    stor_progress_lock(prog);
    prog->max_failures =
        o->max_offenders < STOR_FAILURES_MAX ? o->max_offenders : STOR_FAILURES_MAX;
    stor_progress_unlock(prog);
    if (o->sample && !o->full_content) {
        v.sample = calloc(o->sample, sizeof(*v.sample));
        v.digests = calloc(o->sample, sizeof(*v.digests));
        if (!v.sample || !v.digests) {
            free(v.sample);
            free(v.digests);
            return stor_error_set(err, STOR_ENOMEM, "out of memory for the sample");
        }
    }
    int rc = stor_plan_run(src, dst, o->layout, &o->shard, prog, on_pair, &v, err);
    if (rc == 0 && v.sample) {
        uint64_t n = v.seen < o->sample ? v.seen : o->sample;
        for (uint64_t i = 0; i < n; i++)
            check_content(&v, &v.sample[i], v.digests[i]);
    }
    free(v.sample);
    free(v.digests);
    return rc;
}
