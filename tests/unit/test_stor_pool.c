/*
 * The transfer engine (storage/stor_pool.c) between two local directories,
 * fed hand-made pairs: a source that vanished is counted, not failed; a
 * retried local copy really copies (it once "succeeded" without writing);
 * an object that changed size since it was listed is looked at again; the
 * bandwidth cap paces local copies too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "stor_backend.h"
#include "stor_internal.h"
#include "stor_merge.h"
#include "stor_pool.h"
#include "stor_queue.h"

struct dirs {
    char src[64], dst[64];
    struct stor_backend *s, *d;
};

static struct stor_backend *open_dir(const char *path)
{
    struct stor_spec spec;
    struct stor_error err;
    struct stor_backend *b = NULL;
    assert_int_equal(stor_spec_parse(path, "QSO_TEST_", &spec, &err), 0);
    assert_int_equal(stor_backend_open(&spec, &b, &err), 0);
    return b;
}

static int setup(void **state)
{
    struct dirs *d = calloc(1, sizeof(*d));
    snprintf(d->src, sizeof(d->src), "/tmp/qso-pool-src-XXXXXX");
    snprintf(d->dst, sizeof(d->dst), "/tmp/qso-pool-dst-XXXXXX");
    if (!mkdtemp(d->src) || !mkdtemp(d->dst))
        return -1;
    d->s = open_dir(d->src);
    d->d = open_dir(d->dst);
    *state = d;
    return 0;
}

static int teardown(void **state)
{
    struct dirs *d = *state;
    stor_backend_close(d->s);
    stor_backend_close(d->d);
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", d->src, d->dst);
    int rc = system(cmd);
    free(d);
    return rc == 0 ? 0 : -1;
}

/* Writes `len` bytes of `c` at <dir>/<key>, creating directories. */
static void put_file(const char *dir, const char *key, size_t len, char c)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, key);
    for (char *p = path + strlen(dir) + 1; (p = strchr(p, '/')) != NULL; p++) {
        *p = '\0';
        mkdir(path, 0755);
        *p = '/';
    }
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (size_t i = 0; i < len; i++)
        fputc(c, f);
    fclose(f);
}

static long file_size(const char *dir, const char *key)
{
    char path[512];
    struct stat st;
    snprintf(path, sizeof(path), "%s/%s", dir, key);
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static struct stor_pair pair_of(const char *key, enum stor_key_class cls, uint64_t listed_size)
{
    struct stor_pair p;
    memset(&p, 0, sizeof(p));
    p.action = STOR_ACT_COPY;
    p.has_src = 1;
    stor_strlcpy(p.src.key, key, sizeof(p.src.key));
    p.src.size = listed_size;
    p.cls = stor_layout_classify(STOR_LAYOUT_QUAY, key, p.digest, NULL);
    assert_int_equal(p.cls, cls);
    return p;
}

static void run(struct dirs *d, const struct stor_pair *pairs, size_t n,
                const struct stor_pool_opts *opts, struct stor_progress *prog)
{
    struct stor_queue q;
    assert_int_equal(stor_queue_init(&q, sizeof(struct stor_pair), n + 1), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(stor_queue_push(&q, &pairs[i]), 0);
    stor_queue_close(&q);
    struct stor_pool_opts o = *opts;
    o.backoff_base_s = 0.001;
    o.backoff_max_s = 0.01;
    struct stor_error err;
    assert_int_equal(stor_progress_init(prog, "copy", NULL, 3600), 0);
    int rc = stor_pool_run(d->s, d->d, &o, &q, prog, &err);
    if (rc)
        fail_msg("pool: %s", err.message);
    stor_queue_destroy(&q);
}

static void test_a_vanished_local_source_is_counted_not_failed(void **state)
{
    struct dirs *d = *state;
    struct stor_pair p = pair_of("_verify", STOR_KEY_MUTABLE, 4);
    struct stor_pool_opts o;
    memset(&o, 0, sizeof(o));
    struct stor_progress prog;
    run(d, &p, 1, &o, &prog);
    assert_int_equal(prog.vanished.objects, 1);
    assert_int_equal(prog.failed.objects, 0);
    assert_int_equal(prog.done.objects, 0);
    stor_progress_destroy(&prog);
}

/* With --verify-content a local blob streams through our buffer; when its
 * size is not the listed one the copy fails and is retried. The retry once
 * took the HTTP path, which had nothing to transfer (only the digest check
 * then failed the blob); every attempt must be a real copy. */
static void test_a_retried_local_copy_really_copies(void **state)
{
    struct dirs *d = *state;
    const char *key = "sha256/ab/ab00000000000000000000000000000000000000000000000000000000000002";
    put_file(d->src, key, 20, 'x');
    struct stor_pair p = pair_of(key, STOR_KEY_BLOB, 10);
    struct stor_pool_opts o;
    memset(&o, 0, sizeof(o));
    o.verify_content = 1;
    o.max_attempts = 3;
    struct stor_progress prog;
    run(d, &p, 1, &o, &prog);
    assert_int_equal(prog.done.objects, 0);
    assert_int_equal(prog.failed.objects, 1);
    assert_int_equal(prog.retries, 2);
    assert_non_null(strstr(prog.failures[0].error, "changed size"));
    assert_int_equal(file_size(d->dst, key), -1);
    stor_progress_destroy(&prog);
}

/* A mutable key that grew since it was listed is looked at again and copied
 * whole. */
static void test_a_changed_mutable_key_is_resolved_again(void **state)
{
    struct dirs *d = *state;
    put_file(d->src, "_verify", 20, 'v');
    struct stor_pair p = pair_of("_verify", STOR_KEY_MUTABLE, 10);
    struct stor_pool_opts o;
    memset(&o, 0, sizeof(o));
    o.no_server_side = 1;
    struct stor_progress prog;
    run(d, &p, 1, &o, &prog);
    assert_int_equal(prog.done.objects, 1);
    assert_int_equal(prog.done.bytes, 20);
    assert_int_equal(prog.planned.objects, 1);
    assert_int_equal(prog.failed.objects, 0);
    assert_int_equal(prog.server_side, 0);
    assert_int_equal(file_size(d->dst, "_verify"), 20);
    stor_progress_destroy(&prog);
}

/* The cap holds for local copies too (they once went through
 * copy_file_range, unpaced). Only a lower bound on the time: a slow machine
 * can only make it longer. */
static void test_the_bandwidth_cap_paces_local_copies(void **state)
{
    struct dirs *d = *state;
    put_file(d->src, "big-1", 1536 * 1024, 'a');
    put_file(d->src, "big-2", 1536 * 1024, 'b');
    struct stor_pair p[2] = {pair_of("big-1", STOR_KEY_MUTABLE, 1536 * 1024),
                             pair_of("big-2", STOR_KEY_MUTABLE, 1536 * 1024)};
    struct stor_pool_opts o;
    memset(&o, 0, sizeof(o));
    o.max_bytes_per_second = 1024 * 1024;
    struct stor_progress prog;
    double t0 = stor_now();
    run(d, p, 2, &o, &prog);
    double took = stor_now() - t0;
    assert_int_equal(prog.done.objects, 2);
    assert_int_equal(file_size(d->dst, "big-2"), 1536 * 1024);
    /* 3 MiB at 1 MiB/s, less the 256 KiB burst: at least 2.75 s. */
    if (took < 2.5)
        fail_msg("3 MiB at 1 MiB/s took %.2f s", took);
    stor_progress_destroy(&prog);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_a_vanished_local_source_is_counted_not_failed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_retried_local_copy_really_copies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_changed_mutable_key_is_resolved_again, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_the_bandwidth_cap_paces_local_copies, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
