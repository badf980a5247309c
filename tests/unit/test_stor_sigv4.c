/*
 * SigV4 against AWS's published signature test suite (the "get-vanilla"
 * family, credentials AKIDEXAMPLE, 2015-08-30T12:36:00Z, us-east-1, service
 * "service") and the S3 examples of the S3 API reference (GET with a Range,
 * ListObjects). If these hold, canonicalisation, key derivation and the
 * final HMAC are right.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "stor_internal.h"
#include "stor_sigv4.h"

#define DATE "20150830T123600Z"
#define HOST "example.amazonaws.com"

static const struct stor_sigv4_creds suite_creds = {
    .access_key = "AKIDEXAMPLE",
    .secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
};

static void sign_suite(const char *method, const char *uri, const char *query,
                       const struct stor_sigv4_header *h, size_t nh, const char *payload,
                       const char *want_signed, const char *want_sig)
{
    char authz[1024];
    assert_int_equal(stor_sigv4_sign(&suite_creds, "us-east-1", "service", DATE, method, uri, query,
                                     h, nh, payload, authz, sizeof(authz), NULL),
                     0);
    char want[1024];
    snprintf(want, sizeof(want),
             "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
             "SignedHeaders=%s, Signature=%s",
             want_signed, want_sig);
    assert_string_equal(authz, want);
}

static void test_get_vanilla(void **state)
{
    (void)state;
    struct stor_sigv4_header h[] = {{"Host", HOST}, {"X-Amz-Date", DATE}};
    sign_suite("GET", "/", "", h, 2, STOR_SIGV4_EMPTY_SHA256, "host;x-amz-date",
               "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

static void test_get_vanilla_canonical_request(void **state)
{
    (void)state;
    struct stor_sigv4_header h[] = {{"X-Amz-Date", DATE}, {"Host", HOST}};
    struct stor_buf creq;
    stor_buf_init(&creq, 4096);
    char authz[1024];
    assert_int_equal(stor_sigv4_sign(&suite_creds, "us-east-1", "service", DATE, "GET", "/", "", h,
                                     2, STOR_SIGV4_EMPTY_SHA256, authz, sizeof(authz), &creq),
                     0);
    assert_string_equal(creq.data, "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:" DATE
                                   "\n\nhost;x-amz-date\n" STOR_SIGV4_EMPTY_SHA256);
    stor_buf_free(&creq);
}

static void query_sig(const struct stor_sigv4_param *p, size_t n, const char *want_query,
                      const char *want_sig)
{
    struct stor_buf q;
    stor_buf_init(&q, 4096);
    assert_int_equal(stor_sigv4_query(p, n, &q), 0);
    assert_string_equal(q.data, want_query);
    struct stor_sigv4_header h[] = {{"Host", HOST}, {"X-Amz-Date", DATE}};
    sign_suite("GET", "/", q.data, h, 2, STOR_SIGV4_EMPTY_SHA256, "host;x-amz-date", want_sig);
    stor_buf_free(&q);
}

static void test_get_vanilla_query_order_key_case(void **state)
{
    (void)state;
    struct stor_sigv4_param p[] = {{"Param2", "value2"}, {"Param1", "value1"}};
    query_sig(p, 2, "Param1=value1&Param2=value2",
              "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
}

static void test_get_vanilla_empty_query_key(void **state)
{
    (void)state;
    struct stor_sigv4_param p[] = {{"Param1", "value1"}};
    query_sig(p, 1, "Param1=value1",
              "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb");
}

static void test_get_vanilla_query_unreserved(void **state)
{
    (void)state;
    const char *u = "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    struct stor_sigv4_param p[] = {{u, u}};
    char want[256];
    snprintf(want, sizeof(want), "%s=%s", u, u);
    query_sig(p, 1, want, "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197");
}

static void test_get_unreserved_and_utf8_paths(void **state)
{
    (void)state;
    struct stor_sigv4_header h[] = {{"Host", HOST}, {"X-Amz-Date", DATE}};
    struct stor_buf path;
    stor_buf_init(&path, 1024);
    assert_int_equal(stor_buf_append(&path, "/", 1), 0);
    assert_int_equal(
        stor_uri_encode(&path, "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
                        1),
        0);
    sign_suite("GET", path.data, "", h, 2, STOR_SIGV4_EMPTY_SHA256, "host;x-amz-date",
               "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f");
    stor_buf_reset(&path);
    assert_int_equal(stor_buf_append(&path, "/", 1), 0);
    assert_int_equal(stor_uri_encode(&path, "\xe1\x88\xb4", 1), 0);
    assert_string_equal(path.data, "/%E1%88%B4");
    sign_suite("GET", path.data, "", h, 2, STOR_SIGV4_EMPTY_SHA256, "host;x-amz-date",
               "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85");
    stor_buf_free(&path);
}

static void test_get_header_value_trim(void **state)
{
    (void)state;
    struct stor_sigv4_header h[] = {{"Host", HOST},
                                    {"My-Header1", " value1"},
                                    {"My-Header2", " \"a   b   c\""},
                                    {"X-Amz-Date", DATE}};
    sign_suite("GET", "/", "", h, 4, STOR_SIGV4_EMPTY_SHA256,
               "host;my-header1;my-header2;x-amz-date",
               "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736");
}

static void test_get_vanilla_with_session_token(void **state)
{
    (void)state;
    struct stor_sigv4_header h[] = {
        {"Host", HOST},
        {"X-Amz-Date", DATE},
        {"X-Amz-Security-Token",
         "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267"}};
    sign_suite("GET", "/", "", h, 3, STOR_SIGV4_EMPTY_SHA256,
               "host;x-amz-date;x-amz-security-token",
               "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8");
}

static void test_post_x_www_form_urlencoded(void **state)
{
    (void)state;
    char body_hash[65];
    stor_sha256_hex("Param1=value1", 13, body_hash);
    assert_string_equal(body_hash,
                        "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e");
    struct stor_sigv4_header h[] = {{"X-Amz-Date", DATE},
                                    {"Content-Type", "application/x-www-form-urlencoded"},
                                    {"Host", HOST},
                                    {"Content-Length", "13"},
                                    {"X-Amz-Content-Sha256", body_hash}};
    sign_suite("POST", "/", "", h, 5, body_hash,
               "content-length;content-type;host;x-amz-content-sha256;x-amz-date",
               "d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b");
}

/* The S3 API reference's worked examples (bucket "examplebucket", 2013-05-24). */
static const struct stor_sigv4_creds s3_creds = {
    .access_key = "AKIAIOSFODNN7EXAMPLE",
    .secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
};

static void s3_example(const char *uri, const char *query, const struct stor_sigv4_header *h,
                       size_t nh, const char *want_signed, const char *want_sig)
{
    char authz[1024], want[1024];
    assert_int_equal(stor_sigv4_sign(&s3_creds, "us-east-1", "s3", "20130524T000000Z", "GET", uri,
                                     query, h, nh, STOR_SIGV4_EMPTY_SHA256, authz, sizeof(authz),
                                     NULL),
                     0);
    snprintf(want, sizeof(want),
             "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
             "SignedHeaders=%s, Signature=%s",
             want_signed, want_sig);
    assert_string_equal(authz, want);
}

static void test_s3_get_object_with_range(void **state)
{
    (void)state;
    struct stor_sigv4_header h[] = {{"Host", "examplebucket.s3.amazonaws.com"},
                                    {"Range", "bytes=0-9"},
                                    {"x-amz-content-sha256", STOR_SIGV4_EMPTY_SHA256},
                                    {"x-amz-date", "20130524T000000Z"}};
    s3_example("/test.txt", "", h, 4, "host;range;x-amz-content-sha256;x-amz-date",
               "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

static void test_s3_list_objects(void **state)
{
    (void)state;
    struct stor_sigv4_param p[] = {{"prefix", "J"}, {"max-keys", "2"}};
    struct stor_buf q;
    stor_buf_init(&q, 256);
    assert_int_equal(stor_sigv4_query(p, 2, &q), 0);
    assert_string_equal(q.data, "max-keys=2&prefix=J");
    struct stor_sigv4_header h[] = {{"Host", "examplebucket.s3.amazonaws.com"},
                                    {"x-amz-content-sha256", STOR_SIGV4_EMPTY_SHA256},
                                    {"x-amz-date", "20130524T000000Z"}};
    s3_example("/", q.data, h, 3, "host;x-amz-content-sha256;x-amz-date",
               "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
    stor_buf_free(&q);
}

static void test_amz_date(void **state)
{
    (void)state;
    char d[17];
    stor_sigv4_amz_date((time_t)1440938160, d);
    assert_string_equal(d, DATE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_vanilla),
        cmocka_unit_test(test_get_vanilla_canonical_request),
        cmocka_unit_test(test_get_vanilla_query_order_key_case),
        cmocka_unit_test(test_get_vanilla_empty_query_key),
        cmocka_unit_test(test_get_vanilla_query_unreserved),
        cmocka_unit_test(test_get_unreserved_and_utf8_paths),
        cmocka_unit_test(test_get_header_value_trim),
        cmocka_unit_test(test_get_vanilla_with_session_token),
        cmocka_unit_test(test_post_x_www_form_urlencoded),
        cmocka_unit_test(test_s3_get_object_with_range),
        cmocka_unit_test(test_s3_list_objects),
        cmocka_unit_test(test_amz_date),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
