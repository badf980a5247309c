/*
 * Layouts and shards: which keys are blobs, which are skipped, and that the
 * N shards' listing segments cover every key exactly once, in order, with
 * blobs going to the shard their fan-out directory names, also for keys that
 * sort past the segments' U+10FFFF bounds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "stor_backend.h"
#include "stor_internal.h"
#include "stor_layout.h"
#include "stor_shard.h"

#define HEX64 "ab12345678901234567890123456789012345678901234567890123456789012"

static void test_quay_layout(void **state)
{
    (void)state;
    char digest[65];
    int xx = -1;
    assert_int_equal(stor_layout_classify(STOR_LAYOUT_QUAY, "sha256/ab/" HEX64, digest, &xx),
                     STOR_KEY_BLOB);
    assert_string_equal(digest, HEX64);
    assert_int_equal(xx, 0xab);
    assert_int_equal(stor_layout_classify(STOR_LAYOUT_QUAY, "uploads/0b4b-4c", NULL, NULL),
                     STOR_KEY_SKIP);
    assert_int_equal(stor_layout_classify(STOR_LAYOUT_QUAY, "_verify", NULL, NULL),
                     STOR_KEY_MUTABLE);
    /* The fan-out directory must match the digest, and digests are 64 lower-case hex. */
    assert_int_equal(stor_layout_classify(STOR_LAYOUT_QUAY, "sha256/cd/" HEX64, NULL, NULL),
                     STOR_KEY_MUTABLE);
    assert_int_equal(stor_layout_classify(STOR_LAYOUT_QUAY, "sha256/ab/" HEX64 "0", NULL, NULL),
                     STOR_KEY_MUTABLE);
    assert_int_equal(stor_layout_classify(STOR_LAYOUT_QUAY,
                                          "sha256/AB/AB12345678901234567890123456789012345678901"
                                          "234567890123456789012",
                                          NULL, NULL),
                     STOR_KEY_MUTABLE);
}

static void test_registry_layout(void **state)
{
    (void)state;
    char digest[65];
    int xx = -1;
    assert_int_equal(stor_layout_classify(STOR_LAYOUT_REGISTRY,
                                          "docker/registry/v2/blobs/sha256/ab/" HEX64 "/data",
                                          digest, &xx),
                     STOR_KEY_BLOB);
    assert_string_equal(digest, HEX64);
    assert_int_equal(stor_layout_classify(STOR_LAYOUT_REGISTRY,
                                          "docker/registry/v2/repositories/ns/img/_uploads/u1/data",
                                          NULL, NULL),
                     STOR_KEY_SKIP);
    assert_int_equal(
        stor_layout_classify(STOR_LAYOUT_REGISTRY,
                             "docker/registry/v2/repositories/ns/img/_layers/sha256/" HEX64 "/link",
                             NULL, NULL),
        STOR_KEY_MUTABLE);
    /* Quay's rules are not the registry's. */
    assert_int_equal(stor_layout_classify(STOR_LAYOUT_REGISTRY, "uploads/x", NULL, NULL),
                     STOR_KEY_MUTABLE);
    /* auto knows both. */
    assert_int_equal(stor_layout_classify(STOR_LAYOUT_AUTO, "sha256/ab/" HEX64, NULL, NULL),
                     STOR_KEY_BLOB);
    assert_int_equal(stor_layout_classify(STOR_LAYOUT_AUTO,
                                          "docker/registry/v2/blobs/sha256/ab/" HEX64 "/data", NULL,
                                          NULL),
                     STOR_KEY_BLOB);
    assert_int_equal(stor_layout_classify(STOR_LAYOUT_PLAIN, "uploads/x", NULL, NULL),
                     STOR_KEY_MUTABLE);
    enum stor_layout l;
    assert_int_equal(stor_layout_parse("registry", &l), 0);
    assert_int_equal(l, STOR_LAYOUT_REGISTRY);
    assert_int_not_equal(stor_layout_parse("nope", &l), 0);
}

static void test_shard_parse(void **state)
{
    (void)state;
    struct stor_shard s;
    assert_int_equal(stor_shard_parse("3/8", &s), 0);
    assert_int_equal(s.index, 3);
    assert_int_equal(s.count, 8);
    assert_int_not_equal(stor_shard_parse("8/8", &s), 0);
    assert_int_not_equal(stor_shard_parse("1/0", &s), 0);
    assert_int_not_equal(stor_shard_parse("1/257", &s), 0);
    assert_int_not_equal(stor_shard_parse("x/2", &s), 0);
    assert_int_not_equal(stor_shard_parse("1/2x", &s), 0);
    setenv("JOB_COMPLETION_INDEX", "2", 1);
    assert_int_equal(stor_shard_from_env(4, &s), 0);
    assert_int_equal(s.index, 2);
    assert_int_not_equal(stor_shard_from_env(2, &s), 0);
    unsetenv("JOB_COMPLETION_INDEX");
    assert_int_not_equal(stor_shard_from_env(4, &s), 0);
}

static int in_segment(const struct stor_segment *sg, const char *key)
{
    return strncmp(key, sg->prefix, strlen(sg->prefix)) == 0 &&
           (!sg->start_after[0] || strcmp(key, sg->start_after) > 0) &&
           (!sg->stop_before[0] || strcmp(key, sg->stop_before) < 0);
}

static void test_shards_partition_keys(void **state)
{
    (void)state;
    /* Every fan-out directory, plus keys in the gaps around them. */
    static char keys[256 + 16][200];
    size_t nk = 0;
    for (int xx = 0; xx < 256; xx++)
        snprintf(keys[nk++], sizeof(keys[0]), "sha256/%02x/%02x%062d", xx, xx, 0);
    const char *odd[] = {"_verify",     "a",           "sha256",    "sha256/",    "sha256/0",
                         "sha256/0g/x", "sha256/zz/y", "sha256/ff", "sha2560",    "sha256a",
                         "uploads/u1",  "zzz",         "sha256/00", "sha256/ab/x"};
    for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++)
        snprintf(keys[nk++], sizeof(keys[0]), "%s", odd[i]);

    static struct stor_segment segs[STOR_MAX_SEGMENTS];
    unsigned counts[] = {1, 2, 3, 7, 16, 255, 256};
    for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
        unsigned n = counts[c];
        int owners[256 + 16];
        memset(owners, 0, sizeof(owners));
        for (unsigned i = 0; i < n; i++) {
            struct stor_shard s = {i, n};
            size_t ns = stor_shard_segments(&s, STOR_LAYOUT_QUAY, segs);
            assert_true(ns <= STOR_MAX_SEGMENTS);
            for (size_t k = 0; k < nk; k++) {
                int hits = 0;
                for (size_t g = 0; g < ns; g++)
                    hits += in_segment(&segs[g], keys[k]);
                assert_true(hits <= 1);
                owners[k] += hits;
                /* The segments agree with the ownership rule. */
                assert_int_equal(hits, stor_shard_owns(&s, STOR_LAYOUT_QUAY, keys[k]));
            }
            /* Segments come in ascending, non-overlapping order: a listing
             * that walks them in turn is sorted. */
            for (size_t g = 1; g < ns; g++) {
                const char *prev_end = segs[g - 1].stop_before;
                if (prev_end[0] && !segs[g].start_after[0])
                    assert_true(strcmp(prev_end, segs[g].prefix) <= 0 ||
                                strncmp(segs[g].prefix, prev_end, strlen(segs[g].prefix)) == 0);
            }
        }
        for (size_t k = 0; k < nk; k++) {
            if (owners[k] != 1)
                fail_msg("%u shards: key %s listed %d times", n, keys[k], owners[k]);
        }
        /* Blobs go to the shard of their fan-out value. */
        struct stor_shard s5 = {0xab % n, n};
        assert_true(stor_shard_owns(&s5, STOR_LAYOUT_QUAY, "sha256/ab/" HEX64));
    }
}

/* Lists `dir` through shard i/n's segments into keys[]; returns how many. */
static size_t list_shard(const char *dir, unsigned i, unsigned n, char keys[][300], size_t cap)
{
    struct stor_spec spec;
    struct stor_error err;
    struct stor_backend *b = NULL;
    assert_int_equal(stor_spec_parse(dir, "QSO_TEST_", &spec, &err), 0);
    assert_int_equal(stor_backend_open(&spec, &b, &err), 0);
    struct stor_shard s = {i, n};
    struct stor_seglist *sl = NULL;
    assert_int_equal(stor_seglist_open(b, &s, STOR_LAYOUT_QUAY, &sl, &err), 0);
    struct stor_entry *e = malloc(sizeof(*e));
    size_t k = 0;
    int rc;
    while ((rc = stor_seglist_next(sl, e, &err)) == 1) {
        assert_true(k < cap);
        stor_strlcpy(keys[k++], e->key, 300);
    }
    assert_int_equal(rc, 0);
    free(e);
    stor_seglist_close(sl);
    stor_backend_close(b);
    return k;
}

/* Keys that continue past U+10FFFF, or are not UTF-8 (local file names),
 * sort after a gap segment's start: still listed once over all shards. */
static void test_shards_list_odd_keys_once(void **state)
{
    (void)state;
    char dir[] = "/tmp/qso-shard-XXXXXX";
    assert_non_null(mkdtemp(dir));
    const char *names[] = {"sha256/ab/" HEX64, "sha256/ab/\xf4\x8f\xbf\xbfz",
                           "sha256/ab/\xff",   "sha256/00/\xff",
                           "sha256/ff/\xfe",   "sha256/\xff",
                           "_verify"};
    const size_t nn = sizeof(names) / sizeof(names[0]);
    char path[600];
    for (size_t i = 0; i < nn; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        for (char *p = path + strlen(dir) + 1; (p = strchr(p, '/')) != NULL; p++) {
            *p = '\0';
            mkdir(path, 0755);
            *p = '/';
        }
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fclose(f);
    }
    static char got[64][300];
    for (unsigned n = 1; n <= 4; n++) {
        int seen[16];
        memset(seen, 0, sizeof(seen));
        for (unsigned i = 0; i < n; i++) {
            size_t k = list_shard(dir, i, n, got, 64);
            for (size_t g = 0; g < k; g++) {
                size_t w = 0;
                while (w < nn && strcmp(names[w], got[g]) != 0)
                    w++;
                assert_true(w < nn);
                seen[w]++;
            }
        }
        for (size_t w = 0; w < nn; w++)
            if (seen[w] != 1)
                fail_msg("%u shards list \"%s\" %d times", n, names[w], seen[w]);
    }
    char cmd[100];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quay_layout),
        cmocka_unit_test(test_registry_layout),
        cmocka_unit_test(test_shard_parse),
        cmocka_unit_test(test_shards_partition_keys),
        cmocka_unit_test(test_shards_list_odd_keys_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
