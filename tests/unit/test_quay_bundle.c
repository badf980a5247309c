/*
 * Tests of config bundles (quay/quay_bundle.c) on realistic Quay configs
 * (tests/fixtures/quay): round trips that keep every value and type, typed
 * edits that change only what they should (a storage cutover keeps the
 * location name, its position and storage_path), no-op edits that keep the
 * bytes, partial configs found and edited where the Quay Operator makes them
 * effective, the canonical sha256, Secret data conversion, and CA checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "k8s_buf.h"
#include "k8s_error.h"
#include "quay_bundle.h"
#include "quay_yaml.h"

static const char *const fixtures[] = {
    "config-noobaa_rhocs.yaml",  "config-s3_aws.yaml",     "config-swift.yaml",
    "config-radosgw_multi.yaml", "config-georep_gcs.yaml", "config-hard.yaml",
};
#define NFIX (sizeof(fixtures) / sizeof(fixtures[0]))

static char *read_fixture(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/tests/fixtures/quay/%s", QSO_SOURCE_DIR, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    char *buf = malloc(1 << 20);
    assert_non_null(buf);
    *len = fread(buf, 1, (1 << 20) - 1, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

static struct quay_bundle *bundle_with(const char *text, enum quay_bundle_flavor flavor)
{
    struct quay_bundle *b = quay_bundle_new(flavor, NULL);
    struct k8s_error err;
    assert_non_null(b);
    if (text && quay_bundle_put(b, "config.yaml", text, strlen(text), &err))
        fail_msg("%s", err.message);
    return b;
}

static struct quay_bundle *fixture_bundle(const char *name)
{
    size_t len;
    char *text = read_fixture(name, &len);
    struct quay_bundle *b = bundle_with(text, QUAY_BUNDLE_OPERATOR);
    /* Other keys that must ride along untouched. */
    struct k8s_error err;
    assert_int_equal(quay_bundle_put(b, "ssl.cert", "CERT\n", 5, &err), 0);
    assert_int_equal(quay_bundle_put(b, "clair-config.yaml", "bogus: [", 9, &err), 0);
    free(text);
    return b;
}

static struct quay_yaml_doc *parse_key(const struct quay_bundle *b, const char *key)
{
    size_t len;
    const unsigned char *data = quay_bundle_get(b, key, &len);
    struct quay_yaml_doc *doc = NULL;
    struct k8s_error err;
    assert_non_null(data);
    if (quay_yaml_parse((const char *)data, len, key, &doc, &err))
        fail_msg("%s", err.message);
    return doc;
}

/* Every top-level key of `before` except `except` (NULL-terminated) is in
 * `after` with an identical node, in the same relative order. */
static void others_unchanged(const struct quay_yaml_doc *before, const struct quay_yaml_doc *after,
                             const char *const *except)
{
    size_t j = 0;
    for (size_t i = 0; i + 1 < before->root->nitems; i += 2) {
        const struct quay_yaml_node *k = before->root->items[i];
        int skip = 0;
        for (const char *const *e = except; e && *e; e++)
            skip |= quay_yaml_is_str(k, *e);
        if (skip)
            continue;
        while (j + 1 < after->root->nitems && !quay_yaml_node_equal(after->root->items[j], k))
            j += 2;
        if (j + 1 >= after->root->nitems)
            fail_msg("key at line %u is missing or out of order", k->line);
        if (!quay_yaml_node_equal(before->root->items[i + 1], after->root->items[j + 1]))
            fail_msg("value of the key at line %u changed", k->line);
    }
}

/* ---- round trips on the fixtures ---------------------------------------------- */

static void test_fixtures_round_trip_with_every_value_kept(void **state)
{
    (void)state;
    for (size_t f = 0; f < NFIX; f++) {
        size_t len;
        char *text = read_fixture(fixtures[f], &len);
        struct quay_yaml_doc *doc = NULL, *again = NULL, *third = NULL;
        struct k8s_error err;
        if (quay_yaml_parse(text, len, fixtures[f], &doc, &err))
            fail_msg("%s: %s", fixtures[f], err.message);
        struct k8s_buf b1, b2;
        k8s_buf_init(&b1, 1 << 22);
        k8s_buf_init(&b2, 1 << 22);
        assert_int_equal(quay_yaml_emit(doc, &b1, &err), 0);
        assert_int_equal(quay_yaml_parse(b1.data, b1.len, "emitted", &again, &err), 0);
        if (!quay_yaml_node_same_value(doc->root, again->root))
            fail_msg("%s: values changed in a round trip", fixtures[f]);
        assert_int_equal(quay_yaml_emit(again, &b2, &err), 0);
        /* After one normalisation, emit is a fixed point: byte-stable. */
        assert_int_equal(b1.len, b2.len);
        assert_memory_equal(b1.data, b2.data, b1.len);
        assert_int_equal(quay_yaml_parse(b2.data, b2.len, "emitted", &third, &err), 0);
        assert_true(quay_yaml_node_equal(again->root, third->root));
        quay_yaml_doc_free(third);
        quay_yaml_doc_free(again);
        quay_yaml_doc_free(doc);
        k8s_buf_free(&b1);
        k8s_buf_free(&b2);
        free(text);
    }
}

static void test_noop_edits_keep_every_byte(void **state)
{
    (void)state;
    for (size_t f = 0; f < NFIX; f++) {
        struct quay_bundle *b = fixture_bundle(fixtures[f]);
        char before[65], after[65];
        struct k8s_error err;
        char **pref = NULL;
        size_t n = 0;
        int present;
        quay_bundle_sha256_hex(b, before);
        assert_int_equal(
            quay_bundle_get_string_list(b, QUAY_KEY_STORAGE_PREFERENCE, &pref, &n, &present, &err),
            0);
        assert_true(present);
        assert_int_equal(quay_bundle_set_string_list(b, QUAY_KEY_STORAGE_PREFERENCE,
                                                     (const char *const *)pref, n, &err),
                         0);
        struct quay_location *loc = NULL;
        char **names = NULL;
        assert_int_equal(quay_bundle_list_locations(b, &names, NULL, &err), 0);
        assert_int_equal(quay_bundle_get_location(b, names[0], &loc, &err), 0);
        assert_int_equal(quay_bundle_set_location(b, loc->name, loc->driver, loc->params, 0, &err),
                         0);
        quay_bundle_sha256_hex(b, after);
        if (strcmp(before, after) != 0)
            fail_msg("%s: a no-op edit changed the bundle", fixtures[f]);
        quay_location_free(loc);
        quay_strv_free(names);
        quay_strv_free(pref);
        quay_bundle_free(b);
    }
}

/* ---- storage cutover -------------------------------------------------------------- */

static struct quay_yaml_node *yaml_map(const char *text)
{
    struct quay_yaml_doc *doc = NULL;
    struct k8s_error err;
    if (quay_yaml_parse(text, strlen(text), "params", &doc, &err))
        fail_msg("%s", err.message);
    struct quay_yaml_node *r = doc->root;
    doc->root = NULL;
    quay_yaml_doc_free(doc);
    return r;
}

static void test_cutover_replaces_driver_under_same_name_keeping_storage_path(void **state)
{
    (void)state;
    struct quay_bundle *b = fixture_bundle("config-noobaa_rhocs.yaml"), *orig = NULL;
    struct k8s_error err;
    assert_int_equal(quay_bundle_clone(b, &orig), 0);
    struct quay_yaml_node *p = yaml_map("host: s3.new.example.com\ns3_bucket: quay-new\nport: 443\n"
                                        "s3_access_key: NEWKEY\ns3_secret_key: new-secret");
    assert_int_equal(quay_bundle_set_location(b, "default", "S3Storage", p, 0, &err), 0);

    struct quay_location *loc = NULL;
    assert_int_equal(quay_bundle_get_location(b, "default", &loc, &err), 0);
    assert_string_equal(loc->driver, "S3Storage");
    assert_true(
        quay_yaml_is_str(quay_yaml_map_get(loc->params, "storage_path"), "/datastorage/registry"));
    assert_true(quay_yaml_is_str(quay_yaml_map_get(loc->params, "s3_bucket"), "quay-new"));
    assert_null(quay_yaml_map_get(loc->params, "bucket_name")); /* old params are gone */
    assert_string_equal(loc->file, "config.yaml");
    quay_location_free(loc);

    struct quay_yaml_doc *before = parse_key(orig, "config.yaml"),
                         *after = parse_key(b, "config.yaml");
    static const char *const changed[] = {QUAY_KEY_STORAGE_CONFIG, NULL};
    others_unchanged(before, after, changed);
    /* Same position of DISTRIBUTED_STORAGE_CONFIG among the keys. */
    for (size_t i = 0; i < before->root->nitems; i += 2)
        assert_true(quay_yaml_node_equal(before->root->items[i], after->root->items[i]));
    /* Keys other than config.yaml: byte-for-byte. */
    size_t l1, l2;
    const unsigned char *c1 = quay_bundle_get(orig, "clair-config.yaml", &l1);
    const unsigned char *c2 = quay_bundle_get(b, "clair-config.yaml", &l2);
    assert_int_equal(l1, l2);
    assert_memory_equal(c1, c2, l1);
    quay_yaml_doc_free(before);
    quay_yaml_doc_free(after);
    quay_yaml_node_free(p);
    quay_bundle_free(orig);
    quay_bundle_free(b);
}

static void test_cutover_of_one_location_leaves_the_others(void **state)
{
    (void)state;
    struct quay_bundle *b = fixture_bundle("config-radosgw_multi.yaml");
    struct k8s_error err;
    struct quay_yaml_node *p = yaml_map("auth_url: http://keystone:5000/v3\nauth_version: 3\n"
                                        "swift_container: quay\nswift_user: u\n"
                                        "swift_password: pw\nstorage_path: /new/path");
    assert_int_equal(quay_bundle_set_location(b, "ceph", "SwiftStorage", p, 0, &err), 0);
    char **names = NULL;
    size_t n = 0;
    assert_int_equal(quay_bundle_list_locations(b, &names, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(names[0], "ceph"); /* order kept */
    assert_string_equal(names[1], "local");
    struct quay_location *loc = NULL;
    assert_int_equal(quay_bundle_get_location(b, "ceph", &loc, &err), 0);
    assert_true(quay_yaml_is_str(quay_yaml_map_get(loc->params, "storage_path"), "/new/path"));
    quay_location_free(loc);
    assert_int_equal(quay_bundle_get_location(b, "local", &loc, &err), 0);
    assert_string_equal(loc->driver, "LocalStorage");
    quay_location_free(loc);
    quay_strv_free(names);
    quay_yaml_node_free(p);
    quay_bundle_free(b);
}

static void test_cutover_refusals(void **state)
{
    (void)state;
    struct quay_bundle *b = fixture_bundle("config-georep_gcs.yaml");
    struct k8s_error err;
    char before[65], after[65];
    quay_bundle_sha256_hex(b, before);
    struct quay_yaml_node *ok = yaml_map("s3_bucket: b\nstorage_path: /p");
    assert_int_equal(quay_bundle_set_location(b, "default", "S3Storage", ok, 0, &err),
                     K8S_ENOTFOUND);
    assert_non_null(strstr(err.message, "the locations are: usstorage, eustorage"));
    assert_int_equal(quay_bundle_set_location(b, "usstorage", "S3storage", ok, 0, &err),
                     K8S_EINVALID);
    assert_non_null(strstr(err.message, "FakeStorage"));
    struct quay_yaml_node *bad = yaml_map("s3_bucket: b\nstorage_pth: /p");
    assert_int_equal(quay_bundle_set_location(b, "usstorage", "S3Storage", bad, 0, &err),
                     K8S_EINVALID);
    assert_non_null(strstr(err.message, "storage_pth"));
    quay_bundle_sha256_hex(b, after);
    assert_string_equal(before, after); /* refused edits change nothing */

    /* QUAY_LOC_CREATE adds a location at the end. */
    assert_int_equal(
        quay_bundle_set_location(b, "apstorage", "S3Storage", ok, QUAY_LOC_CREATE, &err), 0);
    char **names = NULL;
    size_t n;
    assert_int_equal(quay_bundle_list_locations(b, &names, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_string_equal(names[2], "apstorage");
    quay_strv_free(names);
    quay_yaml_node_free(ok);
    quay_yaml_node_free(bad);
    quay_bundle_free(b);
}

/* ---- typed keys ---------------------------------------------------------------------- */

static void test_typed_keys(void **state)
{
    (void)state;
    struct quay_bundle *b = fixture_bundle("config-georep_gcs.yaml");
    struct k8s_error err;
    int v, present;
    char s[64];
    assert_int_equal(quay_bundle_get_bool(b, QUAY_KEY_STORAGE_REPLICATION, &v, &present, &err), 0);
    assert_true(present && v);
    assert_int_equal(quay_bundle_get_bool(b, QUAY_KEY_DISABLE_PUSHES, &v, &present, &err), 0);
    assert_false(present);
    assert_int_equal(quay_bundle_set_bool(b, QUAY_KEY_DISABLE_PUSHES, 1, &err), 0);
    assert_int_equal(quay_bundle_set_string(b, QUAY_KEY_REGISTRY_STATE, "readonly", &err), 0);
    assert_int_equal(quay_bundle_set_string(b, QUAY_KEY_SERVICE_KEY, "conf/stack/k.pem", &err), 0);
    assert_int_equal(
        quay_bundle_get_string(b, QUAY_KEY_REGISTRY_STATE, s, sizeof(s), &present, &err), 0);
    assert_true(present);
    assert_string_equal(s, "readonly");
    const char *const locs[] = {"eustorage", "usstorage"};
    assert_int_equal(quay_bundle_set_string_list(b, QUAY_KEY_STORAGE_PREFERENCE, locs, 2, &err), 0);
    char **got = NULL;
    size_t n;
    assert_int_equal(
        quay_bundle_get_string_list(b, QUAY_KEY_STORAGE_PREFERENCE, &got, &n, &present, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(got[0], "eustorage");
    quay_strv_free(got);
    /* Wrong types are reported, not guessed. */
    assert_int_equal(quay_bundle_get_bool(b, QUAY_KEY_REGISTRY_STATE, &v, &present, &err),
                     K8S_EINVALID);
    assert_non_null(strstr(err.message, "must be a boolean but is a string"));
    assert_int_equal(
        quay_bundle_get_string_list(b, QUAY_KEY_DISABLE_PUSHES, &got, &n, &present, &err),
        K8S_EINVALID);
    /* Unset removes the key entirely. */
    assert_int_equal(quay_bundle_config_unset(b, QUAY_KEY_DISABLE_PUSHES, &err), 0);
    assert_int_equal(quay_bundle_get_bool(b, QUAY_KEY_DISABLE_PUSHES, &v, &present, &err), 0);
    assert_false(present);
    struct quay_yaml_doc *doc = parse_key(b, "config.yaml");
    assert_null(quay_yaml_map_get(doc->root, QUAY_KEY_DISABLE_PUSHES));
    /* New keys are appended, with their intended types. */
    assert_int_equal(quay_yaml_scalar_type(quay_yaml_map_get(doc->root, QUAY_KEY_REGISTRY_STATE)),
                     QUAY_YAML_T_STR);
    assert_true(quay_yaml_is_str(doc->root->items[doc->root->nitems - 2], QUAY_KEY_SERVICE_KEY));
    quay_yaml_doc_free(doc);
    quay_bundle_free(b);
}

static void test_quoted_strings_stay_quoted_when_replaced(void **state)
{
    (void)state;
    struct quay_bundle *b = bundle_with("INSTANCE_SERVICE_KEY_LOCATION: 'conf/stack/a.pem'\n"
                                        "DISTRIBUTED_STORAGE_PREFERENCE: [a]\n",
                                        QUAY_BUNDLE_STANDALONE);
    struct k8s_error err;
    const char *const two[] = {"a", "b"};
    assert_int_equal(quay_bundle_set_string(b, QUAY_KEY_SERVICE_KEY, "conf/stack/b.pem", &err), 0);
    assert_int_equal(quay_bundle_set_string_list(b, QUAY_KEY_STORAGE_PREFERENCE, two, 2, &err), 0);
    size_t len;
    const unsigned char *out = quay_bundle_get(b, "config.yaml", &len);
    assert_string_equal((const char *)out, "INSTANCE_SERVICE_KEY_LOCATION: 'conf/stack/b.pem'\n"
                                           "DISTRIBUTED_STORAGE_PREFERENCE: [a, b]\n");
    quay_bundle_free(b);
}

static void test_empty_or_missing_config_gets_created(void **state)
{
    (void)state;
    struct quay_bundle *b = quay_bundle_new(QUAY_BUNDLE_STANDALONE, "quay-config.yaml");
    struct k8s_error err;
    assert_int_equal(quay_bundle_set_bool(b, QUAY_KEY_DISABLE_PUSHES, 1, &err), 0);
    size_t len;
    assert_string_equal((const char *)quay_bundle_get(b, "quay-config.yaml", &len),
                        "DISABLE_PUSHES: true\n");
    assert_int_equal(quay_bundle_put(b, "quay-config.yaml", "- not\n- a map\n", 14, &err), 0);
    assert_int_equal(quay_bundle_set_bool(b, QUAY_KEY_DISABLE_PUSHES, 1, &err), K8S_EINVALID);
    assert_non_null(strstr(err.message, "top level must be a mapping"));
    assert_int_equal(quay_bundle_put(b, "quay-config.yaml", "a: [\n", 5, &err), 0);
    assert_int_equal(quay_bundle_set_bool(b, QUAY_KEY_DISABLE_PUSHES, 1, &err), K8S_EDECODE);
    assert_non_null(strstr(err.message, "quay-config.yaml: line"));
    quay_bundle_free(b);
}

/* ---- partial configs --------------------------------------------------------------------- */

static const char partial_storage[] = "DISTRIBUTED_STORAGE_CONFIG:\n"
                                      "  default:\n"
                                      "  - RHOCSStorage\n"
                                      "  - access_key: A\n"
                                      "    secret_key: S\n"
                                      "    bucket_name: b\n"
                                      "    hostname: h\n"
                                      "    is_secure: true\n"
                                      "    storage_path: /datastorage/registry\n"
                                      "DISTRIBUTED_STORAGE_PREFERENCE: [default]\n";

static void test_storage_keys_in_a_partial_are_edited_there(void **state)
{
    (void)state;
    /* config.yaml has a stale copy the partial overrides. */
    const char *config = "SERVER_HOSTNAME: q.example.com\n"
                         "DISTRIBUTED_STORAGE_CONFIG:\n  old: [LocalStorage, {storage_path: /x}]\n";
    struct quay_bundle *b = bundle_with(config, QUAY_BUNDLE_OPERATOR);
    struct k8s_error err;
    char file[64];
    assert_int_equal(
        quay_bundle_put(b, "storage.config.yaml", partial_storage, strlen(partial_storage), &err),
        0);
    assert_int_equal(quay_bundle_locate(b, QUAY_KEY_STORAGE_CONFIG, file, sizeof(file), &err), 0);
    assert_string_equal(file, "storage.config.yaml");
    struct quay_location *loc = NULL;
    assert_int_equal(quay_bundle_get_location(b, "default", &loc, &err), 0);
    assert_string_equal(loc->file, "storage.config.yaml");
    quay_location_free(loc);

    struct quay_yaml_node *p = yaml_map("s3_bucket: n\ns3_access_key: k\ns3_secret_key: s");
    assert_int_equal(quay_bundle_set_location(b, "default", "S3Storage", p, 0, &err), 0);
    size_t len;
    assert_string_equal((const char *)quay_bundle_get(b, "config.yaml", &len), config);
    assert_int_equal(quay_bundle_get_location(b, "default", &loc, &err), 0);
    assert_string_equal(loc->driver, "S3Storage");
    quay_location_free(loc);
    /* A key not in any partial goes to config.yaml. */
    assert_int_equal(quay_bundle_set_bool(b, QUAY_KEY_DISABLE_PUSHES, 1, &err), 0);
    assert_int_equal(quay_bundle_locate(b, QUAY_KEY_DISABLE_PUSHES, file, sizeof(file), &err), 0);
    assert_string_equal(file, "config.yaml");

    /* A Quay without the operator never reads the partial. */
    struct quay_bundle *s = bundle_with(config, QUAY_BUNDLE_STANDALONE);
    assert_int_equal(
        quay_bundle_put(s, "storage.config.yaml", partial_storage, strlen(partial_storage), &err),
        0);
    assert_int_equal(quay_bundle_get_location(s, "old", &loc, &err), 0);
    quay_location_free(loc);
    quay_bundle_free(s);
    quay_yaml_node_free(p);
    quay_bundle_free(b);
}

static void test_a_key_in_two_partials_is_refused(void **state)
{
    (void)state;
    struct quay_bundle *b = bundle_with("SERVER_HOSTNAME: q\n", QUAY_BUNDLE_OPERATOR);
    struct k8s_error err;
    assert_int_equal(
        quay_bundle_put(b, "a.config.yaml", partial_storage, strlen(partial_storage), &err), 0);
    assert_int_equal(
        quay_bundle_put(b, "b.config.yaml", partial_storage, strlen(partial_storage), &err), 0);
    struct quay_location *loc = NULL;
    assert_int_equal(quay_bundle_get_location(b, "default", &loc, &err), K8S_ECONFLICT);
    assert_non_null(strstr(err.message, "defined in both a.config.yaml and b.config.yaml"));
    assert_int_equal(quay_bundle_set_string(b, QUAY_KEY_STORAGE_PREFERENCE, "x", &err),
                     K8S_ECONFLICT);
    /* Unset clears it everywhere. */
    assert_int_equal(quay_bundle_config_unset(b, QUAY_KEY_STORAGE_PREFERENCE, &err), 0);
    int present;
    char **v = NULL;
    assert_int_equal(
        quay_bundle_get_string_list(b, QUAY_KEY_STORAGE_PREFERENCE, &v, NULL, &present, &err), 0);
    assert_false(present);
    quay_strv_free(v);
    quay_bundle_free(b);
}

/* ---- identity, Secret data, CAs ------------------------------------------------------------- */

static void test_sha256_is_canonical(void **state)
{
    (void)state;
    struct quay_bundle *a = quay_bundle_new(QUAY_BUNDLE_OPERATOR, NULL);
    struct quay_bundle *b = quay_bundle_new(QUAY_BUNDLE_OPERATOR, NULL);
    struct k8s_error err;
    char ha[65], hb[65];
    quay_bundle_sha256_hex(a, ha);
    assert_string_equal(ha, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_int_equal(quay_bundle_put(a, "config.yaml", "a: 1\n", 5, &err), 0);
    assert_int_equal(quay_bundle_put(a, "extra_ca_cert_x.crt", "", 0, &err), 0);
    assert_int_equal(quay_bundle_put(b, "extra_ca_cert_x.crt", "", 0, &err), 0);
    assert_int_equal(quay_bundle_put(b, "config.yaml", "a: 1\n", 5, &err), 0);
    quay_bundle_sha256_hex(a, ha);
    quay_bundle_sha256_hex(b, hb);
    /* u64be(len(k)) k u64be(len(v)) v, keys sorted (computed independently). */
    assert_string_equal(ha, "cffbac374df9f6efa33e73eb7d5bfb7b8460e63dba1a4b4484233d862478c2e6");
    assert_string_equal(ha, hb);
    assert_true(quay_bundle_equal(a, b));
    /* Moving a byte between key and value changes the digest. */
    assert_int_equal(quay_bundle_remove(b, "config.yaml"), 0);
    assert_int_equal(quay_bundle_put(b, "config.yam", "la: 1\n", 6, &err), 0);
    quay_bundle_sha256_hex(b, hb);
    assert_string_not_equal(ha, hb);
    char name[80];
    assert_int_equal(quay_bundle_rendered_name(a, "registry", name, sizeof(name), &err), 0);
    assert_string_equal(name, "registry-qso-cffbac374d");
    assert_int_equal(quay_bundle_rendered_name(a, "Bad_Name", name, sizeof(name), &err), K8S_EARG);
    quay_bundle_free(a);
    quay_bundle_free(b);
}

static void test_secret_data_round_trip(void **state)
{
    (void)state;
    struct quay_bundle *b = fixture_bundle("config-hard.yaml"), *back = NULL;
    struct k8s_error err;
    unsigned char bin[3] = {0, 0xff, 0x10};
    assert_int_equal(quay_bundle_put(b, "binary", bin, 3, &err), 0);
    assert_int_equal(quay_bundle_put(b, "empty", "", 0, &err), 0);
    assert_int_equal(quay_bundle_put(b, "one", "x", 1, &err), 0);
    cJSON *data = NULL;
    assert_int_equal(quay_bundle_to_secret_data(b, &data, &err), 0);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(data, "binary")), "AP8Q");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(data, "one")), "eA==");
    assert_int_equal(quay_bundle_from_secret_data(data, QUAY_BUNDLE_OPERATOR, NULL, &back, &err),
                     0);
    assert_true(quay_bundle_equal(b, back));
    cJSON_Delete(data);
    quay_bundle_free(back);

    data = cJSON_Parse("{\"config.yaml\":\"not base64!\"}");
    assert_int_equal(quay_bundle_from_secret_data(data, QUAY_BUNDLE_OPERATOR, NULL, &back, &err),
                     K8S_EDECODE);
    assert_null(back);
    cJSON_Delete(data);
    data = cJSON_Parse("{\"bad key/\":\"eA==\"}");
    assert_int_equal(quay_bundle_from_secret_data(data, QUAY_BUNDLE_OPERATOR, NULL, &back, &err),
                     K8S_EARG);
    cJSON_Delete(data);
    quay_bundle_free(b);
}

static void test_bundle_size_is_bounded(void **state)
{
    (void)state;
    struct quay_bundle *b = quay_bundle_new(QUAY_BUNDLE_OPERATOR, NULL);
    struct k8s_error err;
    char *big = calloc(1, QUAY_BUNDLE_MAX_BYTES);
    assert_non_null(big);
    assert_int_equal(quay_bundle_put(b, "a", big, QUAY_BUNDLE_MAX_BYTES - 10, &err), 0);
    assert_int_equal(quay_bundle_put(b, "b", big, 10, &err), K8S_ENOMEM);
    assert_non_null(strstr(err.message, "Kubernetes"));
    assert_int_equal(quay_bundle_put(b, "a", big, 5, &err), 0); /* replacing frees room */
    assert_int_equal(quay_bundle_put(b, "b", big, 10, &err), 0);
    free(big);
    quay_bundle_free(b);
}

/* A self-signed certificate made with OpenSSL, as PEM. */
static char *make_cert_pem(size_t *len, int with_key)
{
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509 *x = X509_new();
    assert_non_null(key);
    assert_non_null(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"s3-ca", -1, -1, 0);
    X509_set_issuer_name(x, name);
    assert_true(X509_sign(x, key, EVP_sha256()) > 0);
    BIO *bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(bio, x);
    if (with_key)
        PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL);
    char *data;
    long n = BIO_get_mem_data(bio, &data);
    char *out = malloc((size_t)n + 1);
    memcpy(out, data, (size_t)n);
    out[n] = '\0';
    *len = (size_t)n;
    BIO_free(bio);
    X509_free(x);
    EVP_PKEY_free(key);
    return out;
}

static void test_ca_keys_are_checked_pem(void **state)
{
    (void)state;
    struct quay_bundle *b = quay_bundle_new(QUAY_BUNDLE_OPERATOR, NULL);
    struct k8s_error err;
    size_t len, n;
    char *pem = make_cert_pem(&len, 0);
    assert_int_equal(quay_pem_check_certs(pem, len, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(quay_bundle_put_ca(b, "s3-storage", pem, len, &err), 0);
    assert_non_null(quay_bundle_get(b, "extra_ca_cert_s3-storage.crt", NULL));
    assert_int_equal(quay_bundle_put_ca(b, "other.crt", pem, len, &err), 0);
    assert_non_null(quay_bundle_get(b, "extra_ca_cert_other.crt", NULL));
    assert_true(quay_bundle_key_is_ca("extra_ca_cert_s3-storage.crt"));
    assert_true(quay_bundle_key_is_ca("extra_ca_cert-s3-storage.crt")); /* the runbook's spelling */
    assert_false(quay_bundle_key_is_ca("ssl.cert"));

    /* Two certificates in one bundle are fine; junk and keys are not. */
    char *two = malloc(2 * len + 1);
    memcpy(two, pem, len);
    memcpy(two + len, pem, len + 1);
    assert_int_equal(quay_pem_check_certs(two, 2 * len, &n, &err), 0);
    assert_int_equal(n, 2);
    two[len + 40] ^= 0x20; /* corrupt the second one */
    assert_int_equal(quay_pem_check_certs(two, 2 * len, &n, &err), K8S_EINVALID);
    assert_int_equal(quay_bundle_put_ca(b, "junk", "hello", 5, &err), K8S_EINVALID);
    assert_non_null(strstr(err.message, "no PEM certificate"));
    assert_int_equal(quay_bundle_put_ca(b, "../etc", pem, len, &err), K8S_EARG);
    size_t klen;
    char *with_key = make_cert_pem(&klen, 1);
    assert_int_equal(quay_bundle_put_ca(b, "k", with_key, klen, &err), K8S_EINVALID);
    assert_non_null(strstr(err.message, "private key"));
    free(with_key);
    free(two);
    free(pem);
    quay_bundle_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures_round_trip_with_every_value_kept),
        cmocka_unit_test(test_noop_edits_keep_every_byte),
        cmocka_unit_test(test_cutover_replaces_driver_under_same_name_keeping_storage_path),
        cmocka_unit_test(test_cutover_of_one_location_leaves_the_others),
        cmocka_unit_test(test_cutover_refusals),
        cmocka_unit_test(test_typed_keys),
        cmocka_unit_test(test_quoted_strings_stay_quoted_when_replaced),
        cmocka_unit_test(test_empty_or_missing_config_gets_created),
        cmocka_unit_test(test_storage_keys_in_a_partial_are_edited_there),
        cmocka_unit_test(test_a_key_in_two_partials_is_refused),
        cmocka_unit_test(test_sha256_is_canonical),
        cmocka_unit_test(test_secret_data_round_trip),
        cmocka_unit_test(test_bundle_size_is_bounded),
        cmocka_unit_test(test_ca_keys_are_checked_pem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
