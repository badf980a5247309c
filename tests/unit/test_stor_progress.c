/*
 * The pieces around the engine that a person relies on: the termination
 * message always fits the kubelet's 4 KiB and stays valid JSON, part sizes
 * follow max(5 MiB, ceil(size / max parts)), specs keep secrets off command
 * lines and URLs are logged without query strings, and the local lister's
 * order is S3's byte order.
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

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "stor_backend.h"
#include "stor_progress.h"

static void test_summary_fits_with_huge_failures(void **state)
{
    (void)state;
    struct stor_progress p;
    assert_int_equal(stor_progress_init(&p, "copy", NULL, 5), 0);
    struct stor_error err;
    char key[400];
    for (int i = 0; i < 20; i++) {
        memset(key, 'k' + (i % 10), sizeof(key) - 1);
        key[sizeof(key) - 1] = '\0';
        stor_error_set(&err, STOR_ESERVER, "%0400d \"quoted\" \\ \n", i);
        stor_progress_fail(&p, key, 1, &err);
    }
    p.done.objects = UINT32_MAX;
    char buf[STOR_SUMMARY_MAX + 1];
    char huge[5000];
    memset(huge, 'e', sizeof(huge) - 1);
    huge[sizeof(huge) - 1] = '\0';
    size_t n = stor_progress_summary(&p, "failed", huge, buf, sizeof(buf));
    assert_true(n > 0);
    assert_true(n < 4096);
    assert_int_equal(strlen(buf), n);
    cJSON *j = cJSON_Parse(buf);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "status")->valuestring, "failed");
    assert_int_equal(
        (int)cJSON_GetObjectItem(cJSON_GetObjectItem(j, "failed"), "objects")->valuedouble, 20);
    /* At least the first failure survives the shrinking. */
    cJSON *f = cJSON_GetObjectItem(j, "firstFailures");
    assert_non_null(f);
    assert_true(cJSON_GetArraySize(f) >= 1);
    cJSON_Delete(j);
    stor_progress_destroy(&p);
}

/* Whether s is well-formed UTF-8 (no cut sequence). */
static int valid_utf8(const unsigned char *s)
{
    while (*s) {
        int extra = *s < 0x80             ? 0
                    : (*s & 0xE0) == 0xC0 ? 1
                    : (*s & 0xF0) == 0xE0 ? 2
                    : (*s & 0xF8) == 0xF0 ? 3
                                          : -1;
        if (extra < 0)
            return 0;
        s++;
        for (int i = 0; i < extra; i++, s++)
            if ((*s & 0xC0) != 0x80)
                return 0;
    }
    return 1;
}

/* Keys and messages are shortened to fit, never inside a UTF-8 character:
 * an odd cut of "é" repeated once left half of one in the summary. */
static void test_summary_shortens_utf8_whole_characters(void **state)
{
    (void)state;
    struct stor_progress p;
    assert_int_equal(stor_progress_init(&p, "copy", NULL, 5), 0);
    char key[601], msg[401];
    for (int i = 0; i < 300; i++)
        memcpy(key + 2 * i, "\xc3\xa9", 2);
    key[600] = '\0';
    for (int i = 0; i < 133; i++)
        memcpy(msg + 3 * i, "\xe2\x82\xac", 3); /* the euro sign */
    msg[399] = '\0';
    struct stor_error err;
    stor_error_set(&err, STOR_ESERVER, "%s", msg);
    for (int i = 0; i < 8; i++)
        stor_progress_fail(&p, key, 1, &err);
    assert_true(valid_utf8((const unsigned char *)p.failures[0].key));
    assert_true(valid_utf8((const unsigned char *)p.failures[0].error));
    char buf[STOR_SUMMARY_MAX + 1];
    for (size_t cap = 600; cap <= sizeof(buf); cap += 97) {
        size_t n = stor_progress_summary(&p, "failed", msg, buf, cap);
        assert_true(n < cap);
        assert_true(valid_utf8((const unsigned char *)buf));
        cJSON *j = cJSON_Parse(buf);
        assert_non_null(j);
        cJSON_Delete(j);
    }
    stor_progress_destroy(&p);
}

static void test_summary_small_buffer_still_json(void **state)
{
    (void)state;
    struct stor_progress p;
    assert_int_equal(stor_progress_init(&p, "verify", NULL, 5), 0);
    char buf[4096];
    size_t n = stor_progress_summary(&p, "done", NULL, buf, sizeof(buf));
    cJSON *j = cJSON_Parse(buf);
    assert_non_null(j);
    assert_true(n < 4096);
    assert_non_null(cJSON_GetObjectItem(j, "missing"));
    cJSON_Delete(j);
    stor_progress_destroy(&p);
}

static void test_part_sizes(void **state)
{
    (void)state;
    struct stor_limits aws = {.max_parts = 10000, .min_part_size = 5ull << 20};
    struct stor_limits swift = {.max_parts = 1000, .min_part_size = 5ull << 20};
    assert_int_equal(stor_part_size(&aws, 12000000), 5ull << 20);
    assert_int_equal(stor_part_size(&swift, 12000000), 5ull << 20);
    /* 10 GiB over 1,000 parts: ceil(10 GiB / 1000) > 5 MiB. */
    uint64_t ten = 10ull << 30;
    assert_int_equal(stor_part_size(&swift, ten), ten / 1000 + 1);
    assert_true(stor_part_size(&swift, ten) * 1000 >= ten);
    assert_int_equal(stor_part_size(&aws, ten), 5ull << 20);
    /* Exactly divisible: no extra byte. */
    assert_int_equal(stor_part_size(&swift, 6000ull << 20), 6ull << 20);

    /* A 64 GiB blob within s3api's 1,000 parts: 1,000 parts of ~65.5 MiB. */
    struct stor_upload up;
    struct stor_error err;
    swift.max_part_size = 5ull << 30;
    uint64_t big = 64ull << 30;
    assert_int_equal(stor_upload_plan(&swift, "k", big, &up, &err), 0);
    assert_int_equal(up.part_size, 68719477);
    assert_int_equal(up.nparts, 1000);
    assert_true((uint64_t)(up.nparts - 1) * up.part_size < big);
    assert_true((uint64_t)up.nparts * up.part_size >= big);
    /* One byte over 1,000 parts of 5 GiB: refused before any upload. */
    assert_int_equal(stor_upload_plan(&swift, "k", 1000 * (5ull << 30) + 1, &up, &err),
                     STOR_ENOTSUP);
    assert_non_null(strstr(err.message, "1000 parts"));
    assert_int_equal(stor_upload_plan(&swift, "k", 1000 * (5ull << 30), &up, &err), 0);
    assert_int_equal(up.nparts, 1000);
    /* The largest size we accept does not overflow the arithmetic. */
    assert_int_equal(stor_upload_plan(&aws, "k", STOR_SIZE_MAX + 1, &up, &err), STOR_EARG);
    aws.max_part_size = STOR_SIZE_MAX;
    assert_int_equal(stor_upload_plan(&aws, "k", STOR_SIZE_MAX, &up, &err), 0);
    assert_int_equal(up.nparts, 10000);
}

static void test_spec_parsing(void **state)
{
    (void)state;
    struct stor_spec s;
    struct stor_error err;
    assert_int_equal(
        stor_spec_parse("s3://bucket/a/b/?endpoint=http%3A%2F%2F127.0.0.1%3A9&region=r1",
                        "QSO_SOURCE_", &s, &err),
        0);
    assert_string_equal(s.scheme, "s3");
    assert_string_equal(s.bucket, "bucket");
    assert_string_equal(s.prefix, "a/b/");
    assert_string_equal(s.display, "s3://bucket/a/b/");
    char v[256];
    assert_int_equal(stor_spec_opt(&s, "endpoint", v, sizeof(v), &err), 1);
    assert_string_equal(v, "http://127.0.0.1:9");
    setenv("QSO_SOURCE_CA_FILE", "/ca.pem", 1);
    assert_int_equal(stor_spec_opt(&s, "ca_file", v, sizeof(v), &err), 1);
    assert_string_equal(v, "/ca.pem");
    unsetenv("QSO_SOURCE_CA_FILE");
    assert_int_equal(stor_spec_opt(&s, "nothing", v, sizeof(v), &err), 0);

    /* Secrets never in the spec. */
    assert_int_equal(stor_spec_parse("s3://b?secret_access_key=x", "QSO_SOURCE_", &s, &err),
                     STOR_EARG);
    assert_int_equal(stor_spec_parse("s3://b?aws_session_token=x", "QSO_SOURCE_", &s, &err),
                     STOR_EARG);
    /* ... only from env or files, never echoed. */
    char dir[] = "/tmp/qso-cred-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[300];
    snprintf(path, sizeof(path), "%s/AWS_SECRET_ACCESS_KEY", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("s3cr3t\n", f);
    fclose(f);
    assert_int_equal(stor_spec_parse("s3://b", "QSO_DESTINATION_", &s, &err), 0);
    setenv("QSO_DESTINATION_CREDENTIALS_DIR", dir, 1);
    assert_int_equal(stor_spec_secret(&s, "AWS_SECRET_ACCESS_KEY", v, sizeof(v), &err), 1);
    assert_string_equal(v, "s3cr3t");
    setenv("QSO_DESTINATION_AWS_SECRET_ACCESS_KEY", "fromenv", 1);
    assert_int_equal(stor_spec_secret(&s, "AWS_SECRET_ACCESS_KEY", v, sizeof(v), &err), 1);
    assert_string_equal(v, "fromenv");
    unsetenv("QSO_DESTINATION_AWS_SECRET_ACCESS_KEY");
    unsetenv("QSO_DESTINATION_CREDENTIALS_DIR");
    unlink(path);
    rmdir(dir);

    assert_int_equal(stor_spec_parse("/var/lib/registry/", "QSO_SOURCE_", &s, &err), 0);
    assert_string_equal(s.scheme, "file");
    assert_string_equal(s.path, "/var/lib/registry");
    assert_int_equal(stor_spec_parse("relative/path", "QSO_SOURCE_", &s, &err), STOR_EARG);
    assert_int_equal(stor_spec_parse("s3://", "QSO_SOURCE_", &s, &err), STOR_EARG);
}

static void test_redact_url(void **state)
{
    (void)state;
    char b[256];
    stor_redact_url("https://user:pw@acct.blob.core.windows.net/c/k?sv=2020&sig=SECRET", b,
                    sizeof(b));
    assert_string_equal(b, "https://acct.blob.core.windows.net/c/k");
    assert_null(strstr(b, "SECRET"));
}

/* The local lister yields S3's byte order: "a-b" < "a.b" < "a/x" < "a0". */
static void test_local_listing_order(void **state)
{
    (void)state;
    char dir[] = "/tmp/qso-list-XXXXXX";
    assert_non_null(mkdtemp(dir));
    const char *keys[] = {"a0", "a/x", "a.b", "a-b", "a/y/z", "b", ".qso-tmp.hidden"};
    char p[512];
    snprintf(p, sizeof(p), "%s/a", dir);
    mkdir(p, 0755);
    snprintf(p, sizeof(p), "%s/a/y", dir);
    mkdir(p, 0755);
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        snprintf(p, sizeof(p), "%s/%s", dir, keys[i]);
        FILE *f = fopen(p, "w");
        assert_non_null(f);
        fputs("x", f);
        fclose(f);
    }
    struct stor_spec s;
    struct stor_error err;
    assert_int_equal(stor_spec_parse(dir, "QSO_SOURCE_", &s, &err), 0);
    struct stor_backend *b = NULL;
    assert_int_equal(stor_backend_open(&s, &b, &err), 0);
    const char *want[] = {"a-b", "a.b", "a/x", "a/y/z", "a0", "b"};
    struct stor_lister *l = NULL;
    struct stor_entry *e = malloc(sizeof(*e));
    assert_int_equal(stor_list_open(b, "", NULL, &l, &err), 0);
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(stor_list_next(l, e, &err), 1);
        assert_string_equal(e->key, want[i]);
    }
    assert_int_equal(stor_list_next(l, e, &err), 0);
    stor_list_close(l);
    /* With a prefix and a start-after. */
    assert_int_equal(stor_list_open(b, "a/", "a/x", &l, &err), 0);
    assert_int_equal(stor_list_next(l, e, &err), 1);
    assert_string_equal(e->key, "a/y/z");
    assert_int_equal(stor_list_next(l, e, &err), 0);
    stor_list_close(l);
    /* Keys that would escape the root are refused. */
    assert_int_equal(stor_delete(b, "../etc/passwd", &err), STOR_EARG);
    free(e);
    stor_backend_close(b);
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        snprintf(p, sizeof(p), "%s/%s", dir, keys[i]);
        unlink(p);
    }
    snprintf(p, sizeof(p), "%s/a/y", dir);
    rmdir(p);
    snprintf(p, sizeof(p), "%s/a", dir);
    rmdir(p);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_summary_fits_with_huge_failures),
        cmocka_unit_test(test_summary_small_buffer_still_json),
        cmocka_unit_test(test_summary_shortens_utf8_whole_characters),
        cmocka_unit_test(test_part_sizes),
        cmocka_unit_test(test_spec_parsing),
        cmocka_unit_test(test_redact_url),
        cmocka_unit_test(test_local_listing_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
