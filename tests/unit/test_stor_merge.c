/*
 * The listing merge: the per-key decision rules, and a merge of two lazily
 * generated listings of 10 million keys each whose memory stays flat (no
 * entry is kept beyond the two current ones).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include <cmocka.h>

#include "stor_merge.h"

static struct stor_entry entry(const char *key, uint64_t size, const char *etag, int64_t mtime)
{
    struct stor_entry e;
    memset(&e, 0, sizeof(e));
    snprintf(e.key, sizeof(e.key), "%s", key);
    e.size = size;
    snprintf(e.etag, sizeof(e.etag), "%s", etag);
    e.mtime = mtime;
    return e;
}

#define DIGEST "ab00000000000000000000000000000000000000000000000000000000000001"
#define BLOB   "sha256/ab/" DIGEST

static void test_blob_rules(void **state)
{
    (void)state;
    struct stor_entry s = entry(BLOB, 10, "x", 5), d = entry(BLOB, 10, "y", 1);
    /* Content-addressed: same size is done, whatever the ETag or time. */
    assert_int_equal(stor_decide(STOR_KEY_BLOB, DIGEST, &s, &d), STOR_ACT_SAME);
    assert_int_equal(stor_decide(STOR_KEY_BLOB, DIGEST, &s, NULL), STOR_ACT_COPY);
    d.size = 9;
    assert_int_equal(stor_decide(STOR_KEY_BLOB, DIGEST, &s, &d), STOR_ACT_UPDATE);
    /* A zero-byte source blob may be a DLO manifest: resolve by HEAD. */
    s.size = 0;
    assert_int_equal(stor_decide(STOR_KEY_BLOB, DIGEST, &s, &d), STOR_ACT_RESOLVE);
    assert_int_equal(stor_decide(STOR_KEY_BLOB, DIGEST, &s, NULL), STOR_ACT_RESOLVE);
    /* ... also when the destination is empty too: an empty copy made while
     * the DLO's segments were not yet listed must not be kept forever. */
    d.size = 0;
    assert_int_equal(stor_decide(STOR_KEY_BLOB, DIGEST, &s, &d), STOR_ACT_RESOLVE);
    assert_int_equal(stor_decide(STOR_KEY_SKIP, NULL, &s, NULL), STOR_ACT_SKIP);
    /* A blob whose digest is that of no bytes is truly empty: no HEAD. */
    assert_int_equal(stor_decide(STOR_KEY_BLOB, STOR_EMPTY_SHA256, &s, NULL), STOR_ACT_COPY);
    assert_int_equal(stor_decide(STOR_KEY_BLOB, STOR_EMPTY_SHA256, &s, &d), STOR_ACT_SAME);
    d.size = 3;
    assert_int_equal(stor_decide(STOR_KEY_BLOB, STOR_EMPTY_SHA256, &s, &d), STOR_ACT_UPDATE);
}

static void test_mutable_rules(void **state)
{
    (void)state;
    struct stor_entry s = entry("_verify", 4, "aa", 5), d = entry("_verify", 4, "aa", 1);
    assert_int_equal(stor_decide(STOR_KEY_MUTABLE, NULL, &s, &d), STOR_ACT_SAME);
    snprintf(d.etag, sizeof(d.etag), "bb");
    assert_int_equal(stor_decide(STOR_KEY_MUTABLE, NULL, &s, &d), STOR_ACT_UPDATE);
    /* Without ETags on both sides (a local directory), the newer source wins. */
    d.etag[0] = '\0';
    assert_int_equal(stor_decide(STOR_KEY_MUTABLE, NULL, &s, &d), STOR_ACT_UPDATE);
    d.mtime = 7;
    assert_int_equal(stor_decide(STOR_KEY_MUTABLE, NULL, &s, &d), STOR_ACT_SAME);
    d.size = 3;
    assert_int_equal(stor_decide(STOR_KEY_MUTABLE, NULL, &s, &d), STOR_ACT_UPDATE);
}

/* A fixed list as a stream. */
struct list_stream {
    const char *const *keys;
    size_t n, pos;
};

static int list_next(void *ctx, struct stor_entry *e, struct stor_error *err)
{
    (void)err;
    struct list_stream *l = ctx;
    if (l->pos == l->n)
        return 0;
    *e = entry(l->keys[l->pos++], 1, "", 0);
    return 1;
}

static void test_small_merge(void **state)
{
    (void)state;
    const char *src[] = {"_verify", "a", "c", "uploads/x"};
    const char *dst[] = {"a", "b", "c"};
    struct list_stream s = {src, 4, 0}, d = {dst, 3, 0};
    struct stor_merge m;
    stor_merge_init(&m, (struct stor_stream){list_next, &s}, (struct stor_stream){list_next, &d},
                    STOR_LAYOUT_QUAY);
    struct stor_pair p;
    struct stor_error err;
    const char *want_key[] = {"_verify", "a", "b", "c", "uploads/x"};
    enum stor_action want[] = {STOR_ACT_COPY, STOR_ACT_UPDATE, STOR_ACT_EXTRA, STOR_ACT_UPDATE,
                               STOR_ACT_SKIP};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(stor_merge_next(&m, &p, &err), 1);
        assert_string_equal(p.has_src ? p.src.key : p.dst.key, want_key[i]);
        /* "a" and "c": mutable, same size, no ETags, same mtime -> same. */
        if (i == 1 || i == 3)
            assert_int_equal(p.action, STOR_ACT_SAME);
        else
            assert_int_equal(p.action, want[i]);
    }
    assert_int_equal(stor_merge_next(&m, &p, &err), 0);
}

/*
 * Ten million keys generated on demand in Quay's layout. The source has key
 * i for every i; the destination lacks every i divisible by 7 and holds key
 * i with a different size when i % 1000 == 1.
 */
#define NKEYS 10000000ull

struct gen {
    uint64_t i;
    int is_dst;
};

static int gen_next(void *ctx, struct stor_entry *e, struct stor_error *err)
{
    (void)err;
    struct gen *g = ctx;
    if (g->is_dst)
        while (g->i < NKEYS && g->i % 7 == 0)
            g->i++;
    if (g->i >= NKEYS)
        return 0;
    memset(e, 0, 64);
    /* Digest 00<i in 16 hex><46 zeros>: sorted as i grows, fan-out "00". */
    snprintf(e->key, sizeof(e->key), "sha256/00/00%016llx%046d", (unsigned long long)g->i, 0);
    e->size = 1000 + (g->is_dst && g->i % 1000 == 1 ? 1 : 0);
    e->etag[0] = '\0';
    e->mtime = 0;
    g->i++;
    return 1;
}

static long max_rss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static void test_ten_million_keys_flat_memory(void **state)
{
    (void)state;
    long before = max_rss_kib();
    struct gen gs = {0, 0}, gd = {0, 1};
    struct stor_merge m;
    stor_merge_init(&m, (struct stor_stream){gen_next, &gs}, (struct stor_stream){gen_next, &gd},
                    STOR_LAYOUT_QUAY);
    struct stor_pair p;
    struct stor_error err;
    uint64_t copy = 0, update = 0, same = 0, other = 0;
    int rc;
    while ((rc = stor_merge_next(&m, &p, &err)) == 1) {
        if (p.cls != STOR_KEY_BLOB)
            other++;
        else if (p.action == STOR_ACT_COPY)
            copy++;
        else if (p.action == STOR_ACT_UPDATE)
            update++;
        else if (p.action == STOR_ACT_SAME)
            same++;
        else
            other++;
    }
    assert_int_equal(rc, 0);
    uint64_t want_copy = (NKEYS + 6) / 7;
    uint64_t want_update = 0;
    for (uint64_t i = 1; i < NKEYS; i += 1000)
        if (i % 7 != 0)
            want_update++;
    assert_int_equal(other, 0);
    assert_int_equal(copy, want_copy);
    assert_int_equal(update, want_update);
    assert_int_equal(same, NKEYS - want_copy - want_update);
    long grown = max_rss_kib() - before;
    fprintf(stderr, "merge of 2 x 10M keys: peak RSS grew by %ld KiB\n", grown);
    assert_true(grown < 64 * 1024);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blob_rules),
        cmocka_unit_test(test_mutable_rules),
        cmocka_unit_test(test_small_merge),
        cmocka_unit_test(test_ten_million_keys_flat_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
