/*
 * Tests of k8s_token: a fixed token, and a token file that rotates the ways it
 * does in real life (a file renamed over the old one; the kubelet's `..data`
 * symlink swap; a file missing or half-written for a moment). Every file lives
 * in a mkdtemp directory under /tmp that the test removes.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
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

#include "k8s_token.h"

struct tmp {
    char dir[64];
};

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    struct tmp *t = calloc(1, sizeof(*t));
    if (!t)
        return -1;
    snprintf(t->dir, sizeof(t->dir), "/tmp/qso-token-XXXXXX");
    if (!mkdtemp(t->dir)) {
        free(t);
        return -1;
    }
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    struct tmp *t = *state;
    nftw(t->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(t);
    return 0;
}

static void path_in(const struct tmp *t, const char *name, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%s/%s", t->dir, name);
    assert_true(n > 0 && (size_t)n < cap);
}

/* Writes `len` bytes in place (same inode when the file exists). */
static void write_bytes(const char *path, const char *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, data + off, len - off);
        assert_true(n > 0);
        off += (size_t)n;
    }
    assert_int_equal(close(fd), 0);
}

static void write_str(const char *path, const char *s)
{
    write_bytes(path, s, strlen(s));
}

/* Replaces `path` atomically: a new file (new inode) renamed over it. */
static void rename_over(const char *path, const char *s)
{
    char tmp[512];
    int n = snprintf(tmp, sizeof(tmp), "%s.new", path);
    assert_true(n > 0 && (size_t)n < sizeof(tmp));
    write_str(tmp, s);
    assert_int_equal(rename(tmp, path), 0);
}

static void expect_token(struct k8s_token_source *ts, const char *want)
{
    struct k8s_error err;
    char *tok = NULL;
    k8s_error_clear(&err);
    int rc = k8s_token_source_get(ts, &tok, &err);
    if (rc != 0)
        fail_msg("k8s_token_source_get: %d %s", rc, err.message);
    assert_non_null(tok);
    assert_string_equal(tok, want);
    free(tok);
}

static struct k8s_token_source *file_source(const char *path)
{
    struct k8s_token_source *ts = NULL;
    struct k8s_error err;
    assert_int_equal(k8s_token_source_new(NULL, path, &ts, &err), 0);
    assert_non_null(ts);
    return ts;
}

static void fixed_token_is_returned_trimmed(void **state)
{
    (void)state;
    struct k8s_token_source *ts = NULL;
    struct k8s_error err;
    assert_int_equal(k8s_token_source_new("  sha256~abc\n", NULL, &ts, &err), 0);
    expect_token(ts, "sha256~abc");
    expect_token(ts, "sha256~abc");
    k8s_token_source_free(ts);
}

static void source_needs_exactly_one_of_token_and_file(void **state)
{
    (void)state;
    struct k8s_token_source *ts = (void *)1;
    struct k8s_error err;
    assert_int_equal(k8s_token_source_new(NULL, NULL, &ts, &err), K8S_EARG);
    assert_null(ts);
    assert_int_equal(k8s_token_source_new("t", "/tmp/x", &ts, &err), K8S_EARG);
    assert_null(ts);
    assert_int_equal(k8s_token_source_new("", NULL, &ts, &err), K8S_EARG);
    assert_int_equal(k8s_token_source_new(NULL, "", &ts, &err), K8S_EARG);
    k8s_token_source_free(NULL);
}

static void fixed_token_with_header_injection_is_refused_without_echo(void **state)
{
    (void)state;
    struct k8s_token_source *ts = NULL;
    struct k8s_error err;
    assert_int_equal(k8s_token_source_new("sekret\r\nX-Evil: 1", NULL, &ts, &err), K8S_EARG);
    assert_null(ts);
    assert_non_null(strstr(err.message, "control characters"));
    assert_null(strstr(err.message, "sekret"));
    assert_null(strstr(err.message, "Evil"));
}

static void file_token_is_read_with_trailing_newline_stripped(void **state)
{
    char path[512];
    path_in(*state, "token", path, sizeof(path));
    write_str(path, "eyJhbGciOi.first\n\n");
    struct k8s_token_source *ts = file_source(path);
    expect_token(ts, "eyJhbGciOi.first");
    k8s_token_source_free(ts);
}

static void file_is_not_read_until_the_first_get(void **state)
{
    char path[512];
    path_in(*state, "token", path, sizeof(path));
    struct k8s_token_source *ts = file_source(path); /* does not exist yet */
    write_str(path, "late-token");
    expect_token(ts, "late-token");
    k8s_token_source_free(ts);
}

static void new_token_is_returned_after_rename_over(void **state)
{
    char path[512];
    path_in(*state, "token", path, sizeof(path));
    write_str(path, "token-one\n");
    struct k8s_token_source *ts = file_source(path);
    expect_token(ts, "token-one");
    rename_over(path, "token-two\n");
    expect_token(ts, "token-two");
    rename_over(path, "token-3"); /* a different size too */
    expect_token(ts, "token-3");
    k8s_token_source_free(ts);
}

/* The kubelet's AtomicWriter layout: token -> ..data/token, ..data -> ..<ts>;
 * an update writes a new ..<ts> directory and renames a new ..data link over. */
static void kubelet_publish(const struct tmp *t, const char *version, const char *token)
{
    char dir[512], file[600], link_tmp[512], data[512];
    snprintf(dir, sizeof(dir), "%s/..%s", t->dir, version);
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(file, sizeof(file), "%s/token", dir);
    write_str(file, token);
    snprintf(link_tmp, sizeof(link_tmp), "%s/..data_tmp", t->dir);
    char target[64];
    snprintf(target, sizeof(target), "..%s", version);
    assert_int_equal(symlink(target, link_tmp), 0);
    snprintf(data, sizeof(data), "%s/..data", t->dir);
    assert_int_equal(rename(link_tmp, data), 0);
}

static void kubelet_remove(const struct tmp *t, const char *version)
{
    char dir[512], file[600];
    snprintf(dir, sizeof(dir), "%s/..%s", t->dir, version);
    snprintf(file, sizeof(file), "%s/token", dir);
    assert_int_equal(unlink(file), 0);
    assert_int_equal(rmdir(dir), 0);
}

static void new_token_is_returned_after_data_symlink_swap(void **state)
{
    struct tmp *t = *state;
    char path[512];
    kubelet_publish(t, "2024_01_01_00_00_00.1", "bound-token-1\n");
    path_in(t, "token", path, sizeof(path));
    assert_int_equal(symlink("..data/token", path), 0);
    struct k8s_token_source *ts = file_source(path);
    expect_token(ts, "bound-token-1");
    /* Same length on purpose: only the identity of the file behind the links changes. */
    kubelet_publish(t, "2024_01_01_01_00_00.2", "bound-token-2\n");
    kubelet_remove(t, "2024_01_01_00_00_00.1");
    expect_token(ts, "bound-token-2");
    k8s_token_source_free(ts);
}

static void last_good_token_is_kept_while_the_file_is_missing(void **state)
{
    char path[512];
    path_in(*state, "token", path, sizeof(path));
    write_str(path, "still-valid\n");
    struct k8s_token_source *ts = file_source(path);
    expect_token(ts, "still-valid");
    assert_int_equal(unlink(path), 0);
    expect_token(ts, "still-valid");
    expect_token(ts, "still-valid");
    write_str(path, "replacement\n");
    expect_token(ts, "replacement");
    k8s_token_source_free(ts);
}

static void last_good_token_is_kept_when_the_new_file_is_empty_or_too_large(void **state)
{
    char path[512];
    path_in(*state, "token", path, sizeof(path));
    write_str(path, "good-token");
    struct k8s_token_source *ts = file_source(path);
    expect_token(ts, "good-token");
    rename_over(path, "\n");
    expect_token(ts, "good-token");
    size_t big = K8S_TOKEN_MAX + 10;
    char *huge = malloc(big);
    assert_non_null(huge);
    memset(huge, 'a', big);
    char tmp[600];
    snprintf(tmp, sizeof(tmp), "%s.new", path);
    write_bytes(tmp, huge, big);
    assert_int_equal(rename(tmp, path), 0);
    expect_token(ts, "good-token");
    free(huge);
    rename_over(path, "recovered");
    expect_token(ts, "recovered");
    k8s_token_source_free(ts);
}

static void missing_file_without_previous_token_fails_naming_the_file(void **state)
{
    char path[512];
    path_in(*state, "absent-token", path, sizeof(path));
    struct k8s_token_source *ts = file_source(path);
    struct k8s_error err;
    char *tok = (char *)1;
    assert_int_equal(k8s_token_source_get(ts, &tok, &err), K8S_EIO);
    assert_null(tok);
    assert_non_null(strstr(err.message, path));
    assert_non_null(strstr(err.message, "No such file"));
    k8s_token_source_free(ts);
}

static void bad_first_file_gives_config_error_without_the_content(void **state)
{
    char path[512];
    path_in(*state, "token", path, sizeof(path));
    write_str(path, "sekret-part\r\nX-Injected: yes\n");
    struct k8s_token_source *ts = file_source(path);
    struct k8s_error err;
    char *tok = NULL;
    assert_int_equal(k8s_token_source_get(ts, &tok, &err), K8S_ECONFIG);
    assert_null(tok);
    assert_non_null(strstr(err.message, path));
    assert_null(strstr(err.message, "sekret"));
    k8s_token_source_free(ts);
}

static void token_rewritten_in_place_is_reread(void **state)
{
    char path[512];
    path_in(*state, "token", path, sizeof(path));
    write_str(path, "short");
    struct k8s_token_source *ts = file_source(path);
    expect_token(ts, "short");
    write_str(path, "a-longer-token"); /* same inode, new size */
    expect_token(ts, "a-longer-token");
    k8s_token_source_free(ts);
}

/* Several threads read while the main thread rotates the kubelet way: every
 * answer must be a whole token that was published at some point. */
struct reader {
    struct k8s_token_source *ts;
    int bad;
    int ok;
};

static void *read_loop(void *arg)
{
    struct reader *r = arg;
    for (int i = 0; i < 3000; i++) {
        struct k8s_error err;
        char *tok = NULL;
        if (k8s_token_source_get(r->ts, &tok, &err) != 0 || !tok) {
            r->bad++;
            continue;
        }
        char *end = NULL;
        if (strncmp(tok, "rotating-", 9) != 0 || strtol(tok + 9, &end, 10) < 0 || *end)
            r->bad++;
        else
            r->ok++;
        free(tok);
    }
    return NULL;
}

static void concurrent_readers_get_whole_tokens_during_rotation(void **state)
{
    struct tmp *t = *state;
    char path[512], version[32], token[64];
    kubelet_publish(t, "v0", "rotating-0\n");
    path_in(t, "token", path, sizeof(path));
    assert_int_equal(symlink("..data/token", path), 0);
    struct k8s_token_source *ts = file_source(path);
    expect_token(ts, "rotating-0");
    struct reader r[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        r[i] = (struct reader){.ts = ts};
        assert_int_equal(pthread_create(&th[i], NULL, read_loop, &r[i]), 0);
    }
    for (int v = 1; v <= 200; v++) {
        snprintf(version, sizeof(version), "v%d", v);
        snprintf(token, sizeof(token), "rotating-%d\n", v);
        kubelet_publish(t, version, token);
        snprintf(version, sizeof(version), "v%d", v - 1);
        kubelet_remove(t, version);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(r[i].bad, 0);
        assert_int_equal(r[i].ok, 3000);
    }
    expect_token(ts, "rotating-200");
    k8s_token_source_free(ts);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fixed_token_is_returned_trimmed),
        cmocka_unit_test(source_needs_exactly_one_of_token_and_file),
        cmocka_unit_test(fixed_token_with_header_injection_is_refused_without_echo),
        cmocka_unit_test_setup_teardown(file_token_is_read_with_trailing_newline_stripped, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(file_is_not_read_until_the_first_get, setup, teardown),
        cmocka_unit_test_setup_teardown(new_token_is_returned_after_rename_over, setup, teardown),
        cmocka_unit_test_setup_teardown(new_token_is_returned_after_data_symlink_swap, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(last_good_token_is_kept_while_the_file_is_missing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            last_good_token_is_kept_when_the_new_file_is_empty_or_too_large, setup, teardown),
        cmocka_unit_test_setup_teardown(missing_file_without_previous_token_fails_naming_the_file,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(bad_first_file_gives_config_error_without_the_content,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(token_rewritten_in_place_is_reread, setup, teardown),
        cmocka_unit_test_setup_teardown(concurrent_readers_get_whole_tokens_during_rotation, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
