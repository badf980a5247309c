/*
 * Shards and their listing segments. With N > 1 each fan-out directory
 * `<root><xx>/` is one key range listed from the blob root: it starts right
 * after directory xx-1 and ends with directory xx, so the keys in the gap
 * before a directory (keys under the root outside any fan-out directory,
 * rare) go to that directory's shard in the same listing request. No shard
 * lists more than its own directories (shard 0 also lists the keys outside
 * the root, two more ranges): before, shard 0 spent one request on each of
 * the 256 gaps, on both sides, and took twice as long as the others.
 */
#include "stor_shard.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stor_internal.h"

/* U+10FFFF, the largest valid UTF-8 character: servers refuse markers that
 * are not UTF-8, and no real key continues past it. */
#define STOR_MAX_UTF8 "\xf4\x8f\xbf\xbf"

int stor_shard_parse(const char *text, struct stor_shard *out)
{
    char *end = NULL;
    errno = 0;
    long i = strtol(text, &end, 10);
    if (errno || end == text || *end != '/')
        return STOR_EARG;
    const char *n_text = end + 1;
    long n = strtol(n_text, &end, 10);
    if (errno || end == n_text || *end || n < 1 || n > 256 || i < 0 || i >= n)
        return STOR_EARG;
    out->index = (unsigned)i;
    out->count = (unsigned)n;
    return 0;
}

int stor_shard_from_env(unsigned count, struct stor_shard *out)
{
    const char *v = getenv("JOB_COMPLETION_INDEX");
    if (!v || !*v || count < 1 || count > 256)
        return STOR_EARG;
    char *end = NULL;
    errno = 0;
    long i = strtol(v, &end, 10);
    if (errno || *end || i < 0 || (unsigned long)i >= count)
        return STOR_EARG;
    out->index = (unsigned)i;
    out->count = count;
    return 0;
}

static int hexdigit(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* The two-hex-digit value at `p`, or -1. */
static int hexbyte(const char *p)
{
    if (!hexdigit(p[0]) || !hexdigit(p[1]))
        return -1;
    int v = 0;
    for (int i = 0; i < 2; i++)
        v = v * 16 + (p[i] <= '9' ? p[i] - '0' : p[i] - 'a' + 10);
    return v;
}

int stor_shard_owns(const struct stor_shard *s, enum stor_layout l, const char *key)
{
    if (s->count <= 1)
        return 1;
    const char *root = stor_layout_blob_root(l);
    if (!root)
        return s->index == 0;
    size_t rl = strlen(root);
    if (strncmp(key, root, rl) != 0)
        return s->index == 0;
    const char *rest = key + rl;
    int xx = hexbyte(rest);
    if (xx < 0 || rest[2] != '/') {
        /* A gap key: the first fan-out directory after it owns it. */
        char dir[4];
        for (xx = 0; xx < 255; xx++) {
            snprintf(dir, sizeof(dir), "%02x/", (unsigned)xx);
            if (strcmp(dir, rest) > 0)
                break;
        }
    }
    return (unsigned)xx % s->count == s->index;
}

static void seg(struct stor_segment *sg, const char *prefix, const char *after, const char *stop)
{
    memset(sg, 0, sizeof(*sg));
    stor_strlcpy(sg->prefix, prefix, sizeof(sg->prefix));
    stor_strlcpy(sg->start_after, after ? after : "", sizeof(sg->start_after));
    stor_strlcpy(sg->stop_before, stop ? stop : "", sizeof(sg->stop_before));
}

size_t stor_shard_segments(const struct stor_shard *s, enum stor_layout l,
                           struct stor_segment *segs)
{
    const char *root = stor_layout_blob_root(l);
    size_t n = 0;
    if (s->count <= 1 || !root) {
        if (s->count <= 1 || s->index == 0)
            seg(&segs[n++], "", NULL, NULL);
        return n;
    }
    char a[128], b[128];
    if (s->index == 0)
        seg(&segs[n++], "", NULL, root);
    for (unsigned xx = s->index; xx < 256; xx += s->count) {
        /* After directory xx-1 (and everything in it), up to the end of
         * directory xx: "<xx>/" sorts before "<xx>0" ('/' < '0'). The
         * last one runs to the end of the root. */
        if (xx > 0)
            snprintf(a, sizeof(a), "%s%02x/" STOR_MAX_UTF8, root, xx - 1);
        if (xx < 255)
            snprintf(b, sizeof(b), "%s%02x0", root, xx);
        seg(&segs[n++], root, xx > 0 ? a : NULL, xx < 255 ? b : NULL);
    }
    if (s->index == 0) {
        snprintf(a, sizeof(a), "%s" STOR_MAX_UTF8, root);
        seg(&segs[n++], "", a, NULL);
    }
    return n;
}

struct stor_seglist {
    struct stor_backend *b;
    struct stor_shard shard;
    enum stor_layout layout;
    struct stor_segment *segs;
    size_t nsegs, cur;
    struct stor_lister *l;
    uint64_t requests;           /* of closed listers */
    char last[STOR_KEY_MAX + 1]; /* the last key returned */
    int have_last;
};

uint64_t stor_seglist_requests(const struct stor_seglist *sl)
{
    return sl ? sl->requests + stor_list_requests(sl->l) : 0;
}

int stor_seglist_open(struct stor_backend *b, const struct stor_shard *s, enum stor_layout l,
                      struct stor_seglist **out, struct stor_error *err)
{
    struct stor_seglist *sl = calloc(1, sizeof(*sl));
    if (sl)
        sl->segs = calloc(STOR_MAX_SEGMENTS, sizeof(*sl->segs));
    if (!sl || !sl->segs) {
        free(sl);
        return stor_error_set(err, STOR_ENOMEM, "out of memory");
    }
    sl->b = b;
    sl->shard = *s;
    sl->layout = l;
    sl->nsegs = stor_shard_segments(s, l, sl->segs);
    *out = sl;
    return 0;
}

int stor_seglist_next(struct stor_seglist *sl, struct stor_entry *e, struct stor_error *err)
{
    while (sl->cur < sl->nsegs) {
        const struct stor_segment *sg = &sl->segs[sl->cur];
        if (!sl->l) {
            int rc = stor_list_open(sl->b, sg->prefix, sg->start_after[0] ? sg->start_after : NULL,
                                    &sl->l, err);
            if (rc)
                return rc;
        }
        int rc = stor_list_next(sl->l, e, err);
        if (rc < 0)
            return rc;
        if (rc == 1 && (!sg->stop_before[0] || strcmp(e->key, sg->stop_before) < 0)) {
            /* A gap segment starts after "<xx>/" + U+10FFFF, which a key that
             * continues past that character, or is not UTF-8 at all (a local
             * file name), does not clear: such a key belongs to its fan-out
             * directory's segment, perhaps already listed. Keys stay owned
             * and strictly ascending: N shards list each one exactly once. */
            if (!stor_shard_owns(&sl->shard, sl->layout, e->key) ||
                (sl->have_last && strcmp(e->key, sl->last) <= 0))
                continue;
            stor_strlcpy(sl->last, e->key, sizeof(sl->last));
            sl->have_last = 1;
            return 1;
        }
        sl->requests += stor_list_requests(sl->l);
        stor_list_close(sl->l);
        sl->l = NULL;
        sl->cur++;
    }
    return 0;
}

void stor_seglist_close(struct stor_seglist *sl)
{
    if (!sl)
        return;
    stor_list_close(sl->l);
    free(sl->segs);
    free(sl);
}
