/*
 * The Swift backend (storage/stor_swift.c) against a real OpenStack Swift
 * started for this test by tests/support/swift/start.sh (tempauth, s3api,
 * slo, dlo, copy; two accounts and a reader). Each test names the behaviour
 * it proves: tempauth and re-auth after the token is lost, /info limits,
 * JSON listings paged by marker with sizes and MD5s, zero-byte DLO manifests
 * resolved by HEAD, SLO uploads and their clean-up, server-side copies within
 * one account only, and the errors a copy Job turns into its exit code.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "stor_backend.h"
#include "stor_copy.h"
#include "stor_internal.h"
#include "stor_pool.h"
#include "stor_queue.h"
#include "stor_sigv4.h"

extern char **environ;

#define ENV_MAX 32

/* What start.sh wrote to <state>/env, plus the state directory. */
struct swift_env {
    char dir[1024];
    size_t n;
    char name[ENV_MAX][64];
    char value[ENV_MAX][512];
    char token[256]; /* account 1's token, for the test's own raw requests */
};

static struct swift_env g_env;

static const char *env_get(const char *name)
{
    for (size_t i = 0; i < g_env.n; i++)
        if (strcmp(g_env.name[i], name) == 0)
            return g_env.value[i];
    fail_msg("start.sh's env has no %s", name);
    return "";
}

static int run(char *const argv[])
{
    pid_t pid;
    if (posix_spawn(&pid, argv[0], NULL, NULL, argv, environ) != 0)
        return -1;
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int read_env_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[1024];
    while (fgets(line, sizeof(line), f) && g_env.n < ENV_MAX) {
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        *eq = '\0';
        char *v = eq + 1;
        v[strcspn(v, "\n")] = '\0';
        size_t vl = strlen(v);
        if (vl >= 2 && v[0] == '\'' && v[vl - 1] == '\'') {
            v[vl - 1] = '\0';
            v++;
        }
        stor_strlcpy(g_env.name[g_env.n], line, sizeof(g_env.name[0]));
        stor_strlcpy(g_env.value[g_env.n], v, sizeof(g_env.value[0]));
        g_env.n++;
    }
    fclose(f);
    return 0;
}

/* ---- the test's own raw Swift requests (set-up the backend never does) ---- */

struct raw_resp {
    long status;
    struct stor_buf body, headers;
};

static size_t raw_collect(char *d, size_t s, size_t n, void *ud)
{
    return stor_buf_append(ud, d, s * n) ? 0 : s * n;
}

struct raw_body {
    const char *data;
    size_t len, pos;
};

static size_t raw_read(char *buf, size_t s, size_t n, void *ud)
{
    struct raw_body *b = ud;
    size_t k = b->len - b->pos < s * n ? b->len - b->pos : s * n;
    memcpy(buf, b->data + b->pos, k);
    b->pos += k;
    return k;
}

/* method on <storage URL of account 1>/<path>, optional body and one extra header. */
static long raw_at(const char *storage_url, const char *token, const char *method, const char *path,
                   const char *body, const char *header, struct raw_resp *out)
{
    CURL *c = curl_easy_init();
    assert_non_null(c);
    char url[2048], tok[400];
    snprintf(url, sizeof(url), "%s/%s", storage_url, path);
    snprintf(tok, sizeof(tok), "X-Auth-Token: %s", token);
    struct curl_slist *h = curl_slist_append(NULL, tok);
    if (header)
        h = curl_slist_append(h, header);
    struct raw_resp local;
    struct raw_resp *r = out ? out : &local;
    memset(r, 0, sizeof(*r));
    stor_buf_init(&r->body, 64u << 20);
    stor_buf_init(&r->headers, 1u << 20);
    struct raw_body rb = {body, body ? strlen(body) : 0, 0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, raw_collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, raw_collect);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r->headers);
    if (strcmp(method, "PUT") == 0) {
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, raw_read);
        curl_easy_setopt(c, CURLOPT_READDATA, &rb);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)rb.len);
    } else if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }
    CURLcode cc = curl_easy_perform(c);
    assert_int_equal(cc, CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    long st = r->status;
    if (!out) {
        stor_buf_free(&local.body);
        stor_buf_free(&local.headers);
    }
    return st;
}

static void raw_auth(void);

static long raw_once(const char *method, const char *path, const char *body, const char *header,
                     struct raw_resp *out)
{
    return raw_at(env_get("SWIFT_STORAGE_URL"), g_env.token, method, path, body, header, out);
}

/* raw_once, with a new token when the old one was lost (a test flushes
 * tempauth's tokens on purpose). */
static long raw(const char *method, const char *path, const char *body, const char *header,
                struct raw_resp *out)
{
    long st = raw_once(method, path, body, header, out);
    if (st == 401) {
        if (out) {
            stor_buf_free(&out->body);
            stor_buf_free(&out->headers);
        }
        raw_auth();
        st = raw_once(method, path, body, header, out);
    }
    return st;
}

static void raw_free(struct raw_resp *r)
{
    stor_buf_free(&r->body);
    stor_buf_free(&r->headers);
}

/* A tempauth token for user/key (the test's own requests). 0 or -1. */
static int fetch_token(const char *user, const char *key, char *tok, size_t cap)
{
    CURL *c = curl_easy_init();
    char u[600], k[600];
    snprintf(u, sizeof(u), "X-Auth-User: %s", user);
    snprintf(k, sizeof(k), "X-Auth-Key: %s", key);
    struct curl_slist *h = curl_slist_append(NULL, u);
    h = curl_slist_append(h, k);
    struct stor_req r;
    memset(&r, 0, sizeof(r));
    stor_buf_init(&r.resp_headers, 1u << 20);
    stor_buf_init(&r.resp_body, 1u << 20);
    curl_easy_setopt(c, CURLOPT_URL, env_get("SWIFT_AUTH_URL"));
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, raw_collect);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r.resp_headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, raw_collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.resp_body);
    int ok = curl_easy_perform(c) == CURLE_OK && stor_req_header(&r, "x-auth-token", tok, cap);
    stor_buf_free(&r.resp_headers);
    stor_buf_free(&r.resp_body);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return ok ? 0 : -1;
}

static void raw_auth(void)
{
    assert_int_equal(
        fetch_token(env_get("SWIFT_USER"), env_get("SWIFT_KEY"), g_env.token, sizeof(g_env.token)),
        0);
}

/* ---- fixture: one Swift for the whole file ---- */

static int group_setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    /* Plain HTTP on 127.0.0.1: nothing from the machine's proxy settings. */
    unsetenv("http_proxy");
    unsetenv("HTTP_PROXY");
    unsetenv("all_proxy");
    unsetenv("ALL_PROXY");
    char tmpl[1024];
    snprintf(tmpl, sizeof(tmpl), "%s/tmp", QSO_BINARY_DIR);
    mkdir(tmpl, 0755);
    snprintf(tmpl, sizeof(tmpl), "%s/tmp/stor-swift.XXXXXX", QSO_BINARY_DIR);
    if (!mkdtemp(tmpl))
        return -1;
    stor_strlcpy(g_env.dir, tmpl, sizeof(g_env.dir));
    char script[1024], pid[32];
    snprintf(script, sizeof(script), "%s/tests/support/swift/start.sh", QSO_SOURCE_DIR);
    snprintf(pid, sizeof(pid), "%ld", (long)getpid());
    char *argv[] = {"/bin/bash", script,          g_env.dir, "--parent-pid",
                    pid,         "--max-seconds", "900",     (char *)NULL};
    if (run(argv) != 0) {
        fprintf(stderr, "start.sh failed\n");
        return -1;
    }
    char path[1100];
    snprintf(path, sizeof(path), "%s/env", g_env.dir);
    if (read_env_file(path))
        return -1;
    raw_auth();
    /* Three sides: account 1 (A1), account 2 (A2), the reader (RO). */
    setenv("QSOT_A1_AUTH", env_get("SWIFT_AUTH_URL"), 1);
    setenv("QSOT_A1_SWIFT_USER", env_get("SWIFT_USER"), 1);
    setenv("QSOT_A1_SWIFT_KEY", env_get("SWIFT_KEY"), 1);
    setenv("QSOT_A2_AUTH", env_get("SWIFT_AUTH_URL"), 1);
    setenv("QSOT_A2_SWIFT_USER", env_get("SWIFT_USER2"), 1);
    setenv("QSOT_A2_SWIFT_KEY", env_get("SWIFT_KEY2"), 1);
    setenv("QSOT_RO_AUTH", env_get("SWIFT_AUTH_URL"), 1);
    setenv("QSOT_RO_SWIFT_USER", env_get("SWIFT_RO_USER"), 1);
    setenv("QSOT_RO_SWIFT_KEY", env_get("SWIFT_RO_KEY"), 1);
    setenv("QSOT_BAD_AUTH", env_get("SWIFT_AUTH_URL"), 1);
    setenv("QSOT_BAD_SWIFT_USER", env_get("SWIFT_USER"), 1);
    setenv("QSOT_BAD_SWIFT_KEY", "not-the-key", 1);
    const char *containers[] = {"basic",  "list",  "dlo",      "slo",     "copy-a",
                                "copy-b", "abort", "quay-src", "dlo-segs"};
    for (size_t i = 0; i < sizeof(containers) / sizeof(containers[0]); i++) {
        long st = raw("PUT", containers[i], "", NULL, NULL);
        if (st != 201 && st != 202)
            return -1;
    }
    /* Account 2's container for the engine test. */
    char tok2[256];
    if (fetch_token(env_get("SWIFT_USER2"), env_get("SWIFT_KEY2"), tok2, sizeof(tok2)))
        return -1;
    long st = raw_at(env_get("SWIFT_STORAGE_URL2"), tok2, "PUT", "quay-dst", "", NULL, NULL);
    return st == 201 || st == 202 ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    if (g_env.dir[0]) {
        char script[1024];
        snprintf(script, sizeof(script), "%s/tests/support/swift/stop.sh", QSO_SOURCE_DIR);
        char *stop[] = {"/bin/bash", script, g_env.dir, (char *)NULL};
        run(stop);
        char *rm[] = {"/bin/rm", "-rf", g_env.dir, (char *)NULL};
        run(rm);
    }
    curl_global_cleanup();
    return 0;
}

/* ---- helpers ---- */

static struct stor_backend *open_spec(const char *text, const char *env_prefix)
{
    struct stor_spec spec;
    struct stor_error err;
    struct stor_backend *b = NULL;
    int rc = stor_spec_parse(text, env_prefix, &spec, &err);
    assert_int_equal(rc, 0);
    rc = stor_backend_open(&spec, &b, &err);
    if (rc)
        fail_msg("open %s: %s", text, err.message);
    return b;
}

struct mem_src {
    const unsigned char *data;
    size_t len, pos;
};

static int mem_source(void *ctx, void *buf, size_t cap, size_t *got)
{
    struct mem_src *s = ctx;
    size_t k = s->len - s->pos < cap ? s->len - s->pos : cap;
    memcpy(buf, s->data + s->pos, k);
    s->pos += k;
    *got = k;
    return 0;
}

static int buf_sink(void *ctx, const void *data, size_t len)
{
    return stor_buf_append(ctx, data, len) ? 1 : 0;
}

static int put_bytes(struct stor_backend *b, const char *key, const void *data, size_t len,
                     struct stor_error *err)
{
    struct mem_src s = {data, len, 0};
    return stor_put(b, key, len, mem_source, &s, err);
}

static void md5_hex(const void *data, size_t len, char out[33])
{
    unsigned char d[16];
    unsigned int dl = 0;
    EVP_Digest(data, len, d, &dl, EVP_md5(), NULL);
    stor_hex(d, 16, out);
}

static unsigned char *pattern(size_t len, unsigned seed)
{
    unsigned char *p = malloc(len);
    assert_non_null(p);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < len; i++) {
        x = x * 1103515245u + 12345u;
        p[i] = (unsigned char)(x >> 16);
    }
    return p;
}

/* ---- tests ---- */

static void test_open_refuses_a_wrong_key_without_revealing_it(void **state)
{
    (void)state;
    struct stor_spec spec;
    struct stor_error err;
    struct stor_backend *b = NULL;
    assert_int_equal(stor_spec_parse("swift://basic/", "QSOT_BAD_", &spec, &err), 0);
    int rc = stor_backend_open(&spec, &b, &err);
    assert_int_equal(rc, STOR_EAUTH);
    assert_null(b);
    assert_int_equal(err.http_status, 401);
    assert_non_null(strstr(err.message, env_get("SWIFT_USER")));
    assert_null(strstr(err.message, "not-the-key"));
}

static void test_open_needs_an_auth_url_and_credentials(void **state)
{
    (void)state;
    struct stor_spec spec;
    struct stor_error err;
    struct stor_backend *b = NULL;
    assert_int_equal(stor_spec_parse("swift://basic/", "QSOT_NONE_", &spec, &err), 0);
    assert_int_equal(stor_backend_open(&spec, &b, &err), STOR_ECONFIG);
    assert_non_null(strstr(err.message, "auth"));
    char text[600];
    snprintf(text, sizeof(text), "swift://basic/?auth=%s", env_get("SWIFT_AUTH_URL"));
    assert_int_equal(stor_spec_parse(text, "QSOT_NONE_", &spec, &err), 0);
    assert_int_equal(stor_backend_open(&spec, &b, &err), STOR_ECONFIG);
    assert_non_null(strstr(err.message, "QSOT_NONE_SWIFT_USER"));
    /* The key never goes in the spec text. */
    snprintf(text, sizeof(text), "swift://basic/?auth=%s&swift_key=x", env_get("SWIFT_AUTH_URL"));
    assert_int_equal(stor_spec_parse(text, "QSOT_NONE_", &spec, &err), STOR_EARG);
}

static void test_limits_come_from_info(void **state)
{
    (void)state;
    struct stor_backend *b = open_spec("swift://basic/", "QSOT_A1_");
    struct stor_limits l;
    struct stor_error err;
    assert_int_equal(stor_backend_limits(b, &l, &err), 0);
    assert_int_equal(l.max_parts, 1000);          /* slo.max_manifest_segments */
    assert_true(l.max_put_size == 5368709122ull); /* swift.max_file_size */
    assert_true(l.max_copy_size == 5368709122ull);
    assert_true(l.min_part_size == 5ull << 20);
    assert_true(l.multipart_threshold == 128ull << 20);
    stor_backend_close(b);
    b = open_spec("swift://basic/?max_parts=200&multipart_threshold=1048576", "QSOT_A1_");
    assert_int_equal(stor_backend_limits(b, &l, &err), 0);
    assert_int_equal(l.max_parts, 200);
    assert_true(l.multipart_threshold == 1048576);
    stor_backend_close(b);
}

static void test_put_head_get_delete_an_object(void **state)
{
    (void)state;
    struct stor_backend *b = open_spec("swift://basic/registry", "QSOT_A1_");
    struct stor_error err;
    const char *body = "hello, swift\n";
    char md5[33];
    md5_hex(body, strlen(body), md5);
    assert_int_equal(put_bytes(b, "sha256/ab/abc", body, strlen(body), &err), 0);

    struct stor_entry e;
    assert_int_equal(stor_head(b, "sha256/ab/abc", &e, &err), 0);
    assert_int_equal(e.size, strlen(body));
    assert_string_equal(e.etag, md5);
    assert_true(e.mtime > 1600000000);

    struct stor_buf got;
    stor_buf_init(&got, 1u << 20);
    assert_int_equal(stor_get(b, "sha256/ab/abc", 0, 0, buf_sink, &got, &err), 0);
    assert_int_equal(got.len, strlen(body));
    assert_memory_equal(got.data, body, got.len);
    stor_buf_reset(&got);
    assert_int_equal(stor_get(b, "sha256/ab/abc", 7, 5, buf_sink, &got, &err), 0);
    assert_string_equal(got.data, "swift");
    stor_buf_free(&got);

    /* The prefix is part of the object's name in the container. */
    assert_int_equal(raw("HEAD", "basic/registry/sha256/ab/abc", NULL, NULL, NULL), 200);
    assert_int_equal(stor_delete(b, "sha256/ab/abc", &err), 0);
    assert_int_equal(stor_head(b, "sha256/ab/abc", &e, &err), STOR_ENOTFOUND);
    assert_int_equal(stor_delete(b, "sha256/ab/abc", &err), STOR_ENOTFOUND);
    stor_backend_close(b);
}

static void test_listing_pages_by_marker_with_sizes_and_md5s(void **state)
{
    (void)state;
    struct stor_backend *b = open_spec("swift://list/reg", "QSOT_A1_");
    struct stor_error err;
    char keys[23][96], md5s[23][33];
    size_t sizes[23];
    for (int i = 0; i < 23; i++) {
        /* Written out of order; listed in byte order. */
        int k = (i * 7) % 23;
        snprintf(keys[k], sizeof(keys[k]), "sha256/%02x/%064d", k * 11, k);
        sizes[k] = (size_t)(k * 37 + 1);
        unsigned char *p = pattern(sizes[k], (unsigned)k);
        md5_hex(p, sizes[k], md5s[k]);
        assert_int_equal(put_bytes(b, keys[k], p, sizes[k], &err), 0);
        free(p);
    }
    /* Outside the prefix: never listed. */
    assert_int_equal(raw("PUT", "list/other", "x", NULL, NULL), 201);
    stor_backend_close(b);

    /* Pages of 5: 23 keys take five pages, and the merge needs them in order. */
    b = open_spec("swift://list/reg/?page_size=5", "QSOT_A1_");
    struct stor_lister *l = NULL;
    assert_int_equal(stor_list_open(b, "", NULL, &l, &err), 0);
    struct stor_entry e;
    int n = 0, rc;
    while ((rc = stor_list_next(l, &e, &err)) == 1) {
        assert_true(n < 23);
        assert_string_equal(e.key, keys[n]);
        assert_int_equal(e.size, sizes[n]);
        assert_string_equal(e.etag, md5s[n]);
        assert_true(e.mtime > 1600000000);
        n++;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(n, 23);
    stor_list_close(l);

    /* From a start key, and under a sub-prefix. */
    assert_int_equal(stor_list_open(b, "", keys[20], &l, &err), 0);
    assert_int_equal(stor_list_next(l, &e, &err), 1);
    assert_string_equal(e.key, keys[21]);
    assert_int_equal(stor_list_next(l, &e, &err), 1);
    assert_string_equal(e.key, keys[22]);
    assert_int_equal(stor_list_next(l, &e, &err), 0);
    stor_list_close(l);
    assert_int_equal(stor_list_open(b, "sha256/0", NULL, &l, &err), 0);
    n = 0;
    while (stor_list_next(l, &e, &err) == 1) {
        assert_memory_equal(e.key, "sha256/0", 8);
        n++;
    }
    assert_int_equal(n, 2); /* 0x00 and 0x0b */
    stor_list_close(l);
    stor_backend_close(b);

    /* Asking for more than the cluster's listing limit (10,000) gets a 412
     * that names the limit: the backend lowers its page size and goes on. */
    b = open_spec("swift://list/reg/?page_size=20000", "QSOT_A1_");
    assert_int_equal(stor_list_open(b, "", NULL, &l, &err), 0);
    n = 0;
    while ((rc = stor_list_next(l, &e, &err)) == 1)
        n++;
    assert_int_equal(rc, 0);
    assert_int_equal(n, 23);
    stor_list_close(l);
    stor_backend_close(b);
}

static void test_dlo_manifest_lists_as_zero_bytes_and_head_resolves_it(void **state)
{
    (void)state;
    /* As Quay's Swift driver stores a pushed blob: segments, then a
     * zero-byte manifest with X-Object-Manifest. */
    assert_int_equal(raw("PUT", "dlo/q/segments/u1/000001", "first-", NULL, NULL), 201);
    assert_int_equal(raw("PUT", "dlo/q/segments/u1/000002", "second", NULL, NULL), 201);
    assert_int_equal(
        raw("PUT", "dlo/q/sha256/cd/blob", "", "X-Object-Manifest: dlo/q/segments/u1/", NULL), 201);
    struct stor_backend *b = open_spec("swift://dlo/q/", "QSOT_A1_");
    struct stor_error err;
    struct stor_lister *l = NULL;
    struct stor_entry e;
    assert_int_equal(stor_list_open(b, "sha256/", NULL, &l, &err), 0);
    assert_int_equal(stor_list_next(l, &e, &err), 1);
    assert_string_equal(e.key, "sha256/cd/blob");
    assert_int_equal(e.size, 0); /* never the blob's size: HEAD it */
    stor_list_close(l);

    assert_int_equal(stor_head(b, "sha256/cd/blob", &e, &err), 0);
    assert_int_equal(e.size, 12);
    struct stor_buf got;
    stor_buf_init(&got, 1u << 20);
    assert_int_equal(stor_get(b, "sha256/cd/blob", 0, 12, buf_sink, &got, &err), 0);
    assert_string_equal(got.data, "first-second");
    stor_buf_reset(&got);
    assert_int_equal(stor_get(b, "sha256/cd/blob", 4, 5, buf_sink, &got, &err), 0);
    assert_string_equal(got.data, "t-sec");
    stor_buf_free(&got);
    stor_backend_close(b);
}

static void test_large_upload_becomes_an_slo_with_segments(void **state)
{
    (void)state;
    struct stor_backend *b = open_spec("swift://slo/r/?multipart_threshold=1048576", "QSOT_A1_");
    struct stor_error err;
    size_t size = 11u << 20; /* parts of 5 MiB: 5 + 5 + 1 */
    unsigned char *p = pattern(size, 99);
    int rc = put_bytes(b, "sha256/ef/big", p, size, &err);
    if (rc)
        fail_msg("put: %s", err.message);

    struct raw_resp r;
    assert_int_equal(raw("HEAD", "slo/r/sha256/ef/big", NULL, NULL, &r), 200);
    assert_non_null(strcasestr(r.headers.data, "X-Static-Large-Object: True"));
    raw_free(&r);
    assert_int_equal(raw("GET", "slo_segments?format=json", NULL, NULL, &r), 200);
    assert_non_null(strstr(r.body.data, "r/sha256/ef/big/"));
    assert_non_null(strstr(r.body.data, "00000003\""));
    assert_null(strstr(r.body.data, "00000004\""));
    raw_free(&r);

    struct stor_entry head, listed;
    assert_int_equal(stor_head(b, "sha256/ef/big", &head, &err), 0);
    assert_int_equal(head.size, size);
    /* The listing's ETag of an SLO is what HEAD answers (not the manifest's MD5). */
    struct stor_lister *l = NULL;
    assert_int_equal(stor_list_open(b, "sha256/", NULL, &l, &err), 0);
    assert_int_equal(stor_list_next(l, &listed, &err), 1);
    assert_int_equal(listed.size, size);
    assert_string_equal(listed.etag, head.etag);
    stor_list_close(l);

    struct stor_buf got;
    stor_buf_init(&got, 16u << 20);
    assert_int_equal(stor_get(b, "sha256/ef/big", 0, 0, buf_sink, &got, &err), 0);
    assert_int_equal(got.len, size);
    assert_memory_equal(got.data, p, size);
    stor_buf_free(&got);
    free(p);
    stor_backend_close(b);
}

static void test_abort_deletes_the_stored_segments(void **state)
{
    (void)state;
    struct stor_backend *b = open_spec("swift://abort/", "QSOT_A1_");
    struct stor_error err;
    CURL *easy = curl_easy_init();
    char etags[2][STOR_ETAG_MAX] = {"", ""};
    struct stor_upload up;
    memset(&up, 0, sizeof(up));
    up.size = 12;
    up.part_size = 8;
    up.nparts = 2;
    up.etags = etags;
    struct stor_req req;
    memset(&req, 0, sizeof(req));
    req.op = STOR_OP_MPU_BEGIN;
    req.key = "k";
    req.upload = &up;
    assert_int_equal(stor_req_perform(b, easy, &req, NULL, NULL, NULL, NULL, &err), 0);
    stor_req_release(b, &req);
    assert_true(strncmp(up.upload_id, "k/", 2) == 0);

    memset(&req, 0, sizeof(req));
    req.op = STOR_OP_MPU_PART;
    req.key = "k";
    req.upload = &up;
    req.part_number = 1;
    req.length = 8;
    struct mem_src s = {(const unsigned char *)"12345678", 8, 0};
    assert_int_equal(stor_req_perform(b, easy, &req, NULL, NULL, mem_source, &s, &err), 0);
    stor_req_release(b, &req);
    assert_true(etags[0][0] != '\0');
    char path[1200];
    snprintf(path, sizeof(path), "abort_segments/%s00000001", up.upload_id);
    assert_int_equal(raw("HEAD", path, NULL, NULL, NULL), 200);

    memset(&req, 0, sizeof(req));
    req.op = STOR_OP_MPU_ABORT;
    req.key = "k";
    req.upload = &up;
    assert_int_equal(stor_req_perform(b, easy, &req, NULL, NULL, NULL, NULL, &err), 0);
    stor_req_release(b, &req);
    assert_int_equal(raw("HEAD", path, NULL, NULL, NULL), 404);
    curl_easy_cleanup(easy);
    stor_backend_close(b);
}

/* memcached keeps tempauth's tokens: flushing it makes every token invalid,
 * as an expiry would. */
static void flush_tokens(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)strtol(env_get("SWIFT_MEMCACHED_PORT"), NULL, 10));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    const char cmd[] = "flush_all\r\n";
    assert_int_equal(write(fd, cmd, sizeof(cmd) - 1), (ssize_t)(sizeof(cmd) - 1));
    char reply[64] = "";
    ssize_t n = read(fd, reply, sizeof(reply) - 1);
    assert_true(n > 0);
    assert_memory_equal(reply, "OK", 2);
    close(fd);
}

static void test_a_lost_token_is_renewed_and_the_request_retried(void **state)
{
    (void)state;
    struct stor_backend *b = open_spec("swift://basic/", "QSOT_A1_");
    struct stor_error err;
    assert_int_equal(put_bytes(b, "renew", "abc", 3, &err), 0);
    flush_tokens();

    /* One request on its own sees the 401 and asks for a retry... */
    CURL *easy = curl_easy_init();
    struct stor_req req;
    memset(&req, 0, sizeof(req));
    req.op = STOR_OP_HEAD;
    req.key = "renew";
    assert_int_equal(stor_req_perform(b, easy, &req, NULL, NULL, NULL, NULL, &err), STOR_ERETRY);
    assert_int_equal(req.status, 401);
    stor_req_release(b, &req);
    /* ...which then succeeds with the new token. */
    memset(&req, 0, sizeof(req));
    req.op = STOR_OP_HEAD;
    req.key = "renew";
    assert_int_equal(stor_req_perform(b, easy, &req, NULL, NULL, NULL, NULL, &err), 0);
    assert_int_equal(req.entry.size, 3);
    stor_req_release(b, &req);
    curl_easy_cleanup(easy);

    /* The generic calls retry by themselves. */
    flush_tokens();
    struct stor_entry e;
    assert_int_equal(stor_head(b, "renew", &e, &err), 0);
    assert_int_equal(e.size, 3);
    stor_backend_close(b);
}

static int perform(struct stor_backend *b, CURL *easy, struct stor_req *req, struct stor_error *err)
{
    int rc = stor_req_perform(b, easy, req, NULL, NULL, NULL, NULL, err);
    stor_req_release(b, req);
    return rc;
}

static void test_copies_server_side_within_one_account_only(void **state)
{
    (void)state;
    struct stor_backend *a = open_spec("swift://copy-a/src/", "QSOT_A1_");
    struct stor_backend *b = open_spec("swift://copy-b/dst/", "QSOT_A1_");
    struct stor_backend *other = open_spec("swift://copy-b/dst/", "QSOT_A2_");
    struct stor_error err;
    /* Two accounts: the engine must stream, never ask the server. */
    assert_int_equal(b->ops->same_account(b, a), 1);
    assert_int_equal(other->ops->same_account(other, a), 0);
    assert_int_equal(a->ops->same_account(a, other), 0);

    const char *body = "0123456789abcdef";
    char md5[33];
    md5_hex(body, 16, md5);
    assert_int_equal(put_bytes(a, "blob", body, 16, &err), 0);

    CURL *easy = curl_easy_init();
    struct stor_req req;
    memset(&req, 0, sizeof(req));
    req.op = STOR_OP_COPY;
    req.key = "copied";
    req.src = a;
    req.src_key = "blob";
    assert_int_equal(stor_req_perform(b, easy, &req, NULL, NULL, NULL, NULL, &err), 0);
    assert_string_equal(req.entry.etag, md5);
    stor_req_release(b, &req);
    struct raw_resp r;
    assert_int_equal(raw("GET", "copy-b/dst/copied", NULL, NULL, &r), 200);
    assert_int_equal(r.body.len, 16);
    assert_memory_equal(r.body.data, body, 16);
    raw_free(&r);

    /* Ranged server-side copies as SLO segments, then the manifest. */
    char etags[2][STOR_ETAG_MAX] = {"", ""};
    struct stor_upload up;
    memset(&up, 0, sizeof(up));
    up.size = 16;
    up.part_size = 10;
    up.nparts = 2;
    up.etags = etags;
    memset(&req, 0, sizeof(req));
    req.op = STOR_OP_MPU_BEGIN;
    req.key = "joined";
    req.upload = &up;
    assert_int_equal(perform(b, easy, &req, &err), 0);
    for (unsigned i = 0; i < 2; i++) {
        memset(&req, 0, sizeof(req));
        req.op = STOR_OP_COPY_PART;
        req.key = "joined";
        req.upload = &up;
        req.part_number = i + 1;
        req.offset = i * 10;
        req.length = i ? 6 : 10;
        req.src = a;
        req.src_key = "blob";
        assert_int_equal(perform(b, easy, &req, &err), 0);
    }
    memset(&req, 0, sizeof(req));
    req.op = STOR_OP_MPU_COMMIT;
    req.key = "joined";
    req.upload = &up;
    if (perform(b, easy, &req, &err))
        fail_msg("commit: %s", err.message);
    struct stor_buf got;
    stor_buf_init(&got, 1u << 20);
    assert_int_equal(stor_get(b, "joined", 0, 0, buf_sink, &got, &err), 0);
    assert_string_equal(got.data, body);
    stor_buf_free(&got);

    /* A source that vanished is "not found", not a failure of the store. */
    memset(&req, 0, sizeof(req));
    req.op = STOR_OP_COPY;
    req.key = "copied2";
    req.src = a;
    req.src_key = "no-such-blob";
    assert_int_equal(perform(b, easy, &req, &err), STOR_ENOTFOUND);

    curl_easy_cleanup(easy);
    stor_backend_close(a);
    stor_backend_close(b);
    stor_backend_close(other);
}

static void test_missing_container_and_reader_errors(void **state)
{
    (void)state;
    struct stor_backend *b = open_spec("swift://no-such-container/", "QSOT_A1_");
    struct stor_error err;
    struct stor_lister *l = NULL;
    struct stor_entry e;
    assert_int_equal(stor_list_open(b, "", NULL, &l, &err), 0);
    assert_int_equal(stor_list_next(l, &e, &err), STOR_ENOBUCKET);
    assert_int_equal(err.http_status, 404);
    stor_list_close(l);
    assert_int_equal(put_bytes(b, "x", "x", 1, &err), STOR_ENOBUCKET);
    assert_int_equal(stor_head(b, "x", &e, &err), STOR_ENOTFOUND);
    stor_backend_close(b);

    /* The reader lists and reads account 1 but may not write to it. */
    b = open_spec("swift://basic/", "QSOT_RO_");
    assert_int_equal(stor_list_open(b, "", NULL, &l, &err), 0);
    assert_true(stor_list_next(l, &e, &err) >= 0);
    stor_list_close(l);
    assert_int_equal(put_bytes(b, "ro", "x", 1, &err), STOR_EFORBIDDEN);
    assert_int_equal(err.http_status, 403);
    stor_backend_close(b);
}

/* Key of a Quay blob: sha256/<xx>/<hex digest of the content>. */
static void blob_key(const void *data, size_t len, char *key, size_t cap)
{
    char hex[65];
    stor_sha256_hex(data, len, hex);
    snprintf(key, cap, "sha256/%.2s/%s", hex, hex);
}

static void run_copy(struct stor_backend *src, struct stor_backend *dst, struct stor_progress *prog)
{
    struct stor_copy_opts o;
    memset(&o, 0, sizeof(o));
    o.pool.concurrency = 4;
    o.pool.verify_content = 1;
    o.pool.max_attempts = 6;
    o.pool.backoff_base_s = 0.05;
    o.pool.backoff_max_s = 1;
    o.layout = STOR_LAYOUT_QUAY;
    o.shard.index = 0;
    o.shard.count = 1;
    struct stor_error err;
    assert_int_equal(stor_progress_init(prog, "copy", NULL, 3600), 0);
    int rc = stor_copy_run(src, dst, &o, prog, &err);
    if (rc)
        fail_msg("copy: %s", err.message);
}

static void test_engine_streams_a_quay_store_between_two_accounts(void **state)
{
    (void)state;
    /* Account 1: three small blobs, a blob Quay's driver stored as a DLO, a
     * 6 MiB blob, and an upload session that is never copied. */
    char keys[5][100];
    const char *small[3] = {"alpha", "bravo-bravo", "charlie-charlie-charlie"};
    char path[600];
    for (int i = 0; i < 3; i++) {
        blob_key(small[i], strlen(small[i]), keys[i], sizeof(keys[i]));
        snprintf(path, sizeof(path), "quay-src/registry/%s", keys[i]);
        assert_int_equal(raw("PUT", path, small[i], NULL, NULL), 201);
    }
    const char *dlo = "first-second";
    blob_key(dlo, strlen(dlo), keys[3], sizeof(keys[3]));
    assert_int_equal(raw("PUT", "dlo-segs/u2/1", "first-", NULL, NULL), 201);
    assert_int_equal(raw("PUT", "dlo-segs/u2/2", "second", NULL, NULL), 201);
    snprintf(path, sizeof(path), "quay-src/registry/%s", keys[3]);
    assert_int_equal(raw("PUT", path, "", "X-Object-Manifest: dlo-segs/u2/", NULL), 201);
    size_t big_len = 6u << 20;
    unsigned char *big = pattern(big_len, 7);
    blob_key(big, big_len, keys[4], sizeof(keys[4]));
    struct stor_backend *src = open_spec("swift://quay-src/registry/", "QSOT_A1_");
    struct stor_error err;
    assert_int_equal(put_bytes(src, keys[4], big, big_len, &err), 0);
    assert_int_equal(raw("PUT", "quay-src/registry/uploads/session-1", "partial", NULL, NULL), 201);

    /* Account 2, with SLOs above 1 MiB so the big blob goes in parts. */
    struct stor_backend *dst =
        open_spec("swift://quay-dst/registry/?multipart_threshold=1048576", "QSOT_A2_");
    struct stor_progress prog;
    run_copy(src, dst, &prog);
    assert_int_equal(prog.done.objects, 5);
    assert_int_equal(prog.failed.objects, 0);
    assert_int_equal(prog.server_side, 0); /* two accounts: streamed */
    assert_int_equal(prog.skipped.objects, 1);
    stor_progress_destroy(&prog);

    /* Everything arrived whole, the DLO as a plain object of its real size. */
    size_t sizes[5] = {strlen(small[0]), strlen(small[1]), strlen(small[2]), strlen(dlo), big_len};
    for (int i = 0; i < 5; i++) {
        struct stor_entry e;
        assert_int_equal(stor_head(dst, keys[i], &e, &err), 0);
        assert_int_equal(e.size, sizes[i]);
    }
    struct stor_buf got;
    stor_buf_init(&got, 16u << 20);
    assert_int_equal(stor_get(dst, keys[3], 0, 0, buf_sink, &got, &err), 0);
    assert_string_equal(got.data, dlo);
    stor_buf_reset(&got);
    assert_int_equal(stor_get(dst, keys[4], 0, 0, buf_sink, &got, &err), 0);
    assert_int_equal(got.len, big_len);
    assert_memory_equal(got.data, big, big_len);
    stor_buf_free(&got);
    struct stor_entry e;
    assert_int_equal(stor_head(dst, "uploads/session-1", &e, &err), STOR_ENOTFOUND);
    struct stor_backend *segs = open_spec("swift://quay-dst_segments/", "QSOT_A2_");
    struct stor_lister *l = NULL;
    assert_int_equal(stor_list_open(segs, "", NULL, &l, &err), 0);
    int nseg = 0;
    while (stor_list_next(l, &e, &err) == 1)
        nseg++;
    assert_int_equal(nseg, 2); /* 5 MiB + 1 MiB */
    stor_list_close(l);
    stor_backend_close(segs);

    /* A second pass finds everything in place, the DLO after its HEAD. */
    run_copy(src, dst, &prog);
    assert_int_equal(prog.done.objects, 0);
    assert_int_equal(prog.same.objects, 5);
    assert_int_equal(prog.failed.objects, 0);
    stor_progress_destroy(&prog);
    free(big);
    stor_backend_close(src);
    stor_backend_close(dst);
}

/* ---- a source that vanishes half-way: a direct backend whose object is
 * readable from offset 0 only (the second part's read finds it gone) ---- */

struct stor_reader {
    uint64_t pos;
};

static int gone_read_open(struct stor_backend *b, const char *key, uint64_t offset,
                          struct stor_reader **out, struct stor_error *err)
{
    (void)b;
    if (offset > 0)
        return stor_error_set(err, STOR_ENOTFOUND, "%s: gone", key);
    *out = calloc(1, sizeof(**out));
    return *out ? 0 : stor_error_set(err, STOR_ENOMEM, "out of memory");
}

static int gone_read(struct stor_reader *r, void *buf, size_t cap, size_t *got,
                     struct stor_error *err)
{
    (void)err;
    memset(buf, 'v', cap);
    r->pos += cap;
    *got = cap;
    return 0;
}

static void gone_read_close(struct stor_reader *r)
{
    free(r);
}

static const struct stor_backend_ops gone_ops = {
    .scheme = "gone",
    .read_open = gone_read_open,
    .read = gone_read,
    .read_close = gone_read_close,
};

/* Runs the transfer engine alone on hand-made pairs. */
static void run_pairs(struct stor_backend *src, struct stor_backend *dst,
                      const struct stor_pair *pairs, size_t n, struct stor_progress *prog)
{
    struct stor_queue q;
    assert_int_equal(stor_queue_init(&q, sizeof(struct stor_pair), n + 1), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(stor_queue_push(&q, &pairs[i]), 0);
    stor_queue_close(&q);
    struct stor_pool_opts o;
    memset(&o, 0, sizeof(o));
    o.concurrency = 2;
    o.max_attempts = 3;
    o.backoff_base_s = 0.01;
    o.backoff_max_s = 0.1;
    struct stor_error err;
    assert_int_equal(stor_progress_init(prog, "copy", NULL, 3600), 0);
    int rc = stor_pool_run(src, dst, &o, &q, prog, &err);
    if (rc)
        fail_msg("pool: %s", err.message);
    stor_queue_destroy(&q);
}

static struct stor_pair copy_pair(const char *key, uint64_t size)
{
    struct stor_pair p;
    memset(&p, 0, sizeof(p));
    p.action = STOR_ACT_COPY;
    p.cls = STOR_KEY_MUTABLE;
    p.has_src = 1;
    stor_strlcpy(p.src.key, key, sizeof(p.src.key));
    p.src.size = size;
    return p;
}

static void test_vanished_sources_are_counted_and_leave_no_segments(void **state)
{
    (void)state;
    struct stor_progress prog;
    /* A server-side copy whose source is gone: vanished, not failed. */
    struct stor_backend *a = open_spec("swift://copy-a/src/", "QSOT_A1_");
    struct stor_backend *b = open_spec("swift://copy-b/vanish/", "QSOT_A1_");
    struct stor_pair p = copy_pair("no-such-object", 10);
    run_pairs(a, b, &p, 1, &prog);
    assert_int_equal(prog.server_side, 0);
    assert_int_equal(prog.vanished.objects, 1);
    assert_int_equal(prog.failed.objects, 0);
    stor_progress_destroy(&prog);
    stor_backend_close(a);
    stor_backend_close(b);

    /* A multipart upload whose source vanishes after its first part: the
     * stored segment is deleted, the object counted as vanished. */
    char tok2[256];
    assert_int_equal(fetch_token(env_get("SWIFT_USER2"), env_get("SWIFT_KEY2"), tok2, sizeof(tok2)),
                     0);
    long st = raw_at(env_get("SWIFT_STORAGE_URL2"), tok2, "PUT", "vanish-dst", "", NULL, NULL);
    assert_true(st == 201 || st == 202);
    struct stor_backend gone;
    memset(&gone, 0, sizeof(gone));
    gone.ops = &gone_ops;
    struct stor_backend *dst =
        open_spec("swift://vanish-dst/r/?multipart_threshold=1048576", "QSOT_A2_");
    p = copy_pair("half-gone", 6u << 20);
    run_pairs(&gone, dst, &p, 1, &prog);
    assert_int_equal(prog.vanished.objects, 1);
    assert_int_equal(prog.failed.objects, 0);
    assert_int_equal(prog.done.objects, 0);
    stor_progress_destroy(&prog);
    struct stor_backend *segs = open_spec("swift://vanish-dst_segments/", "QSOT_A2_");
    struct stor_lister *l = NULL;
    struct stor_entry e;
    struct stor_error err;
    assert_int_equal(stor_list_open(segs, "", NULL, &l, &err), 0);
    int nseg = 0;
    while (stor_list_next(l, &e, &err) == 1)
        nseg++;
    assert_int_equal(nseg, 0);
    stor_list_close(l);
    assert_int_equal(stor_head(dst, "half-gone", &e, &err), STOR_ENOTFOUND);
    stor_backend_close(segs);
    stor_backend_close(dst);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_refuses_a_wrong_key_without_revealing_it),
        cmocka_unit_test(test_open_needs_an_auth_url_and_credentials),
        cmocka_unit_test(test_limits_come_from_info),
        cmocka_unit_test(test_put_head_get_delete_an_object),
        cmocka_unit_test(test_listing_pages_by_marker_with_sizes_and_md5s),
        cmocka_unit_test(test_dlo_manifest_lists_as_zero_bytes_and_head_resolves_it),
        cmocka_unit_test(test_large_upload_becomes_an_slo_with_segments),
        cmocka_unit_test(test_abort_deletes_the_stored_segments),
        cmocka_unit_test(test_a_lost_token_is_renewed_and_the_request_retried),
        cmocka_unit_test(test_copies_server_side_within_one_account_only),
        cmocka_unit_test(test_missing_container_and_reader_errors),
        cmocka_unit_test(test_engine_streams_a_quay_store_between_two_accounts),
        cmocka_unit_test(test_vanished_sources_are_counted_and_leave_no_segments),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
