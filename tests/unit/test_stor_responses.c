/*
 * What the S3 and Swift backends make of server answers, offline: each answer
 * goes through the backend's `finish` hook as the engine calls it, on
 * backends opened without network (S3 signs locally; Swift with a given
 * token and storage URL). These are the regression cases of
 * tests/fuzz/fuzz_stor_listing.c and the hostile-server cases it taught us:
 * sizes out of range, unreadable Content-Length; and the generic lister's
 * refusal of listings that break byte order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "stor_backend.h"
#include "stor_internal.h"

static struct stor_backend *open_spec(const char *text)
{
    struct stor_spec spec;
    struct stor_error err;
    struct stor_backend *b = NULL;
    assert_int_equal(stor_spec_parse(text, "QSO_TEST_", &spec, &err), 0);
    if (stor_backend_open(&spec, &b, &err) != 0)
        fail_msg("cannot open %s: %s", text, err.message);
    return b;
}

static int setup(void **state)
{
    (void)state;
    setenv("QSO_TEST_AWS_ACCESS_KEY_ID", "AKIDTEST", 1);
    setenv("QSO_TEST_AWS_SECRET_ACCESS_KEY", "test-secret", 1);
    setenv("QSO_TEST_SWIFT_AUTH_TOKEN", "AUTH_tktest", 1);
    return 0;
}

struct collected {
    size_t n;
    struct stor_entry last;
};

static int collect(void *ctx, const struct stor_entry *e)
{
    struct collected *c = ctx;
    c->n++;
    c->last = *e;
    return 0;
}

/* Runs `finish` of `b` on a response with this status and body (or headers). */
static int answer(struct stor_backend *b, enum stor_op op, long status, const char *headers,
                  const char *body, struct stor_req *req, struct collected *c,
                  struct stor_error *err)
{
    memset(req, 0, sizeof(*req));
    memset(c, 0, sizeof(*c));
    req->op = op;
    req->key = "k";
    req->status = status;
    req->emit = collect;
    req->emit_ctx = c;
    stor_buf_init(&req->resp_headers, STOR_RESP_HEADERS_MAX);
    stor_buf_init(&req->resp_body, STOR_RESP_BODY_MAX);
    if (headers)
        assert_int_equal(stor_buf_append(&req->resp_headers, headers, strlen(headers)), 0);
    if (body)
        assert_int_equal(stor_buf_append(&req->resp_body, body, strlen(body)), 0);
    stor_error_clear(err);
    int rc = b->ops->finish(b, NULL, req, err);
    stor_req_release(b, req);
    return rc;
}

static void test_swift_listing_sizes_out_of_range_are_refused(void **state)
{
    (void)state;
    struct stor_backend *b = open_spec("swift://c?storage_url=http://127.0.0.1:9/v1/AUTH_t");
    struct stor_req req;
    struct collected c;
    struct stor_error err;
    /* A sane page first. */
    assert_int_equal(answer(b, STOR_OP_LIST, 200, NULL,
                            "[{\"name\":\"a\",\"bytes\":12,\"hash\":\"ABC\"}]", &req, &c, &err),
                     0);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.last.size, 12);
    assert_string_equal(c.last.etag, "abc");
    /* 1e300 does not fit a uint64_t: converting it is undefined behaviour
     * (the fuzzer's first finding); it must be refused before. */
    assert_int_equal(
        answer(b, STOR_OP_LIST, 200, NULL, "[{\"name\":\"a\",\"bytes\":1e300}]", &req, &c, &err),
        STOR_EDECODE);
    assert_int_equal(c.n, 0);
    /* Above STOR_SIZE_MAX but representable: still nonsense. */
    assert_int_equal(answer(b, STOR_OP_LIST, 200, NULL,
                            "[{\"name\":\"a\",\"bytes\":18014398509481984}]", &req, &c, &err),
                     STOR_EDECODE);
    assert_int_equal(
        answer(b, STOR_OP_LIST, 200, NULL, "[{\"name\":\"a\",\"bytes\":-1}]", &req, &c, &err),
        STOR_EDECODE);
    assert_int_equal(
        answer(b, STOR_OP_LIST, 200, NULL, "[{\"name\":\"a\",\"bytes\":\"12\"}]", &req, &c, &err),
        STOR_EDECODE);
    /* Wrong types elsewhere are survivable: not an array, a name that is not a string. */
    assert_int_equal(answer(b, STOR_OP_LIST, 200, NULL, "{\"name\":\"a\"}", &req, &c, &err),
                     STOR_EDECODE);
    assert_int_equal(
        answer(b, STOR_OP_LIST, 200, NULL, "[{\"name\":7,\"bytes\":1},3,null]", &req, &c, &err), 0);
    assert_int_equal(c.n, 0);
    stor_backend_close(b);
}

/* A one-entry ListObjectsV2 page whose Size is `size`. */
static void s3_page(char *buf, size_t cap, const char *size)
{
    snprintf(
        buf, cap,
        "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>pre/sha256/ab/x</Key>"
        "<Size>%s</Size><ETag>&quot;E1&quot;</ETag></Contents></ListBucketResult>",
        size);
}

static void test_s3_listing_sizes_out_of_range_are_refused(void **state)
{
    (void)state;
    struct stor_backend *b = open_spec("s3://bucket/pre?endpoint=http://127.0.0.1:9");
    struct stor_req req;
    struct collected c;
    struct stor_error err;
    char body[512];
    s3_page(body, sizeof(body), "1234");
    assert_int_equal(answer(b, STOR_OP_LIST, 200, NULL, body, &req, &c, &err), 0);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.last.key, "sha256/ab/x");
    assert_int_equal(c.last.size, 1234);
    assert_string_equal(c.last.etag, "e1");
    s3_page(body, sizeof(body), "1152921504606846976"); /* 2^60 */
    assert_int_equal(answer(b, STOR_OP_LIST, 200, NULL, body, &req, &c, &err), STOR_EDECODE);
    s3_page(body, sizeof(body), "99999999999999999999999");
    assert_int_equal(answer(b, STOR_OP_LIST, 200, NULL, body, &req, &c, &err), STOR_EDECODE);
    s3_page(body, sizeof(body), "-5");
    assert_int_equal(answer(b, STOR_OP_LIST, 200, NULL, body, &req, &c, &err), STOR_EDECODE);
    /* Character references decode to UTF-8; invalid ones (NUL, which would
     * cut the key into another object's name, surrogates, past U+10FFFF)
     * become U+FFFD. */
    assert_int_equal(answer(b, STOR_OP_LIST, 200, NULL,
                            "<ListBucketResult><Contents><Key>pre/a&amp;&#x263a;&#0;b&#xD800;"
                            "&#x110000;&#65;</Key><Size>1</Size></Contents></ListBucketResult>",
                            &req, &c, &err),
                     0);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.last.key, "a&\xe2\x98\xba\xef\xbf\xbd"
                                    "b\xef\xbf\xbd\xef\xbf\xbd"
                                    "A");
    /* A page that claims more but names no key cannot be continued. */
    assert_int_equal(answer(b, STOR_OP_LIST, 200, NULL,
                            "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
                            &req, &c, &err),
                     STOR_EDECODE);
    stor_backend_close(b);
}

/* A HEAD whose Content-Length does not parse must fail: taken as 0, a
 * zero-byte listing entry would be copied as an empty object. */
static void test_head_with_a_bad_content_length_fails(void **state)
{
    (void)state;
    const char *specs[] = {"s3://bucket?endpoint=http://127.0.0.1:9",
                           "swift://c?storage_url=http://127.0.0.1:9/v1/AUTH_t"};
    for (size_t i = 0; i < 2; i++) {
        struct stor_backend *b = open_spec(specs[i]);
        struct stor_req req;
        struct collected c;
        struct stor_error err;
        assert_int_equal(answer(b, STOR_OP_HEAD, 200,
                                "HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n", NULL, &req, &c,
                                &err),
                         0);
        assert_int_equal(req.entry.size, 42);
        assert_int_equal(answer(b, STOR_OP_HEAD, 200,
                                "HTTP/1.1 200 OK\r\nContent-Length: 4x2\r\n\r\n", NULL, &req, &c,
                                &err),
                         STOR_EDECODE);
        assert_int_equal(answer(b, STOR_OP_HEAD, 200,
                                "HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\n",
                                NULL, &req, &c, &err),
                         STOR_EDECODE);
        stor_backend_close(b);
    }
}

/* ---- listing order: a backend whose lister yields a fixed list ---- */

struct stor_lister {
    const char *const *keys;
    size_t pos;
};

static const char *const *g_keys;

static int fixed_list_open(struct stor_backend *b, const char *prefix, const char *start_after,
                           struct stor_lister **out, struct stor_error *err)
{
    (void)b;
    (void)prefix;
    (void)start_after;
    (void)err;
    *out = calloc(1, sizeof(**out));
    (*out)->keys = g_keys;
    return 0;
}

static int fixed_list_next(struct stor_lister *l, struct stor_entry *e, struct stor_error *err)
{
    (void)err;
    if (!l->keys[l->pos])
        return 0;
    memset(e, 0, sizeof(*e));
    stor_strlcpy(e->key, l->keys[l->pos++], sizeof(e->key));
    return 1;
}

static void fixed_list_close(struct stor_lister *l)
{
    free(l);
}

static const struct stor_backend_ops fixed_ops = {
    .scheme = "fixed",
    .list_open = fixed_list_open,
    .list_next = fixed_list_next,
    .list_close = fixed_list_close,
};

/* Lists everything; returns the last result and how many keys came. */
static int list_all(const char *const *keys, size_t *n, struct stor_error *err)
{
    struct stor_backend b;
    memset(&b, 0, sizeof(b));
    b.ops = &fixed_ops;
    g_keys = keys;
    struct stor_lister *l = NULL;
    struct stor_entry e;
    assert_int_equal(stor_list_open(&b, "", NULL, &l, err), 0);
    int rc;
    *n = 0;
    while ((rc = stor_list_next(l, &e, err)) == 1)
        (*n)++;
    stor_list_close(l);
    return rc;
}

/* The merge trusts byte order (S3's UTF-8 binary order, Swift's): a server
 * whose order disagrees, or that repeats a key, stops the run loudly rather
 * than copying the wrong set. Bytes compare unsigned: "\xc3\xa9" (é) sorts
 * after "z", as S3 orders it. */
static void test_listing_order_is_enforced_in_byte_order(void **state)
{
    (void)state;
    struct stor_error err;
    size_t n = 0;
    const char *good[] = {"A", "Z", "a", "a/b", "a0", "z", "\xc3\xa9", "\xef\xbf\xbd", NULL};
    assert_int_equal(list_all(good, &n, &err), 0);
    assert_int_equal(n, 8);
    /* A collation that puts é next to e is not byte order. */
    const char *collated[] = {"a", "\xc3\xa9", "z", NULL};
    assert_int_equal(list_all(collated, &n, &err), STOR_EORDER);
    assert_int_equal(n, 2);
    assert_non_null(strstr(err.message, "out of order"));
    const char *repeated[] = {"a", "b", "b", NULL};
    assert_int_equal(list_all(repeated, &n, &err), STOR_EORDER);
    /* Case-insensitive order is not byte order either. */
    const char *folded[] = {"a", "B", NULL};
    assert_int_equal(list_all(folded, &n, &err), STOR_EORDER);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_swift_listing_sizes_out_of_range_are_refused),
        cmocka_unit_test(test_s3_listing_sizes_out_of_range_are_refused),
        cmocka_unit_test(test_head_with_a_bad_content_length_fails),
        cmocka_unit_test(test_listing_order_is_enforced_in_byte_order),
    };
    int rc = cmocka_run_group_tests(tests, setup, NULL);
    curl_global_cleanup();
    return rc;
}
