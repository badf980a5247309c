/*
 * Tests of the storage-driver catalog (quay/quay_drivers.c): every driver
 * name Quay accepts is there; for every driver a valid destination passes and
 * each missing required parameter, secret in the spec, unknown parameter,
 * wrong type and stray credentials key is refused with a message naming the
 * field and the fix; credentials land where Quay reads them; storage_path
 * becomes the object-key prefix Quay uses; S3 endpoints are built as Quay's
 * boto3 client builds them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "k8s_error.h"
#include "quay_drivers.h"
#include "quay_yaml.h"

static struct quay_yaml_node *yaml_map(const char *text)
{
    struct quay_yaml_doc *doc = NULL;
    struct k8s_error err;
    if (quay_yaml_parse(text, strlen(text), "params", &doc, &err))
        fail_msg("bad test YAML: %s", err.message);
    struct quay_yaml_node *root = doc->root;
    doc->root = NULL;
    quay_yaml_doc_free(doc);
    return root;
}

/* A valid destination per driver: spec parameters (no secrets) and the keys
 * of its credentials Secret. */
static const struct {
    const char *driver;
    const char *params;
    const char *creds[3];
} valid[] = {
    {"LocalStorage", "storage_path: /datastorage/registry", {NULL}},
    {"S3Storage",
     "host: s3.example.com\ns3_bucket: quay-new\nstorage_path: /datastorage/registry\n"
     "s3_region: eu-west-1\nport: 443",
     {"s3_access_key", "s3_secret_key", NULL}},
    {"STSS3Storage",
     "sts_role_arn: arn:aws:iam::123456789012:role/quay\ns3_bucket: b\nstorage_path: /p\n"
     "s3_region: us-east-2",
     {"sts_user_access_key", "sts_user_secret_key", NULL}},
    {"RadosGWStorage",
     "hostname: rgw.example.com\nis_secure: true\nport: \"443\"\nbucket_name: quay\n"
     "storage_path: /datastorage/registry",
     {"access_key", "secret_key", NULL}},
    {"RHOCSStorage",
     "hostname: s3.openshift-storage.svc\nis_secure: true\nport: 443\nbucket_name: q\n"
     "storage_path: /datastorage/registry",
     {"access_key", "secret_key", NULL}},
    {"IBMCloudStorage",
     "hostname: s3.us.cloud-object-storage.appdomain.cloud\nis_secure: true\nport: 443\n"
     "bucket_name: q\nstorage_path: /datastorage/registry\nmaximum_chunk_size_mb: 100",
     {"access_key", "secret_key", NULL}},
    {"GoogleCloudStorage",
     "bucket_name: g\nstorage_path: /quaygcp",
     {"access_key", "secret_key", NULL}},
    {"AzureStorage",
     "azure_container: quay\nazure_account_name: acct\nstorage_path: /datastorage/registry",
     {"azure_account_key", NULL}},
    {"SwiftStorage",
     "auth_url: http://keystone:5000/v3\nauth_version: 3\nswift_container: quay\n"
     "swift_user: quay\nstorage_path: /datastorage/registry\n"
     "os_options: {user_domain_name: Default, tenant_id: abc}",
     {"swift_password", NULL}},
    {"CloudFrontedS3Storage",
     "cloudfront_distribution_domain: d.cloudfront.net\ncloudfront_key_id: K1\n"
     "cloudfront_privatekey_filename: cf.pem\ns3_bucket: b\nstorage_path: /p\n"
     "s3_region: us-east-1",
     {"s3_access_key", "s3_secret_key", NULL}},
    {"CloudFlareStorage",
     "cloudflare_domain: cdn.example.com\ncloudflare_privatekey_filename: cf.pem\n"
     "s3_bucket: b\nstorage_path: /p\ns3_region: us-east-1",
     {"s3_access_key", "s3_secret_key", NULL}},
    {"AkamaiS3Storage",
     "akamai_domain: a.example.com\ns3_bucket: b\nstorage_path: /p\ns3_region: us-east-1",
     {"akamai_shared_secret", "s3_access_key", NULL}},
    {"MultiCDNStorage",
     "storage_config: {s3_bucket: b, storage_path: /images, s3_region: us-east-1}\n"
     "providers: {CF: [CloudFlareStorage, {cloudflare_domain: c, "
     "cloudflare_privatekey_filename: k.pem}]}\ndefault_provider: CF\nrules: []",
     {"s3_access_key", "s3_secret_key", NULL}},
};

static size_t ncreds(size_t i)
{
    size_t n = 0;
    while (n < 3 && valid[i].creds[n])
        n++;
    return n;
}

static int validate(const char *driver, const struct quay_yaml_node *params,
                    const char *const *creds, size_t n, struct k8s_error *err)
{
    struct quay_destination d = {.driver = driver,
                                 .parameters = params,
                                 .credential_keys = creds,
                                 .ncredential_keys = n,
                                 .field_prefix = "spec.destination"};
    return quay_driver_validate(&d, err);
}

static int has_cause(const struct k8s_error *err, const char *field, const char *reason)
{
    for (size_t i = 0; i < err->ncauses; i++)
        if (strcmp(err->causes[i].field, field) == 0 && strcmp(err->causes[i].reason, reason) == 0)
            return 1;
    return 0;
}

static void test_catalog_has_every_quay_driver(void **state)
{
    (void)state;
    static const char *const names[] = {
        "LocalStorage",          "S3Storage",         "STSS3Storage",
        "RadosGWStorage",        "RHOCSStorage",      "IBMCloudStorage",
        "GoogleCloudStorage",    "AzureStorage",      "SwiftStorage",
        "CloudFrontedS3Storage", "CloudFlareStorage", "AkamaiS3Storage",
        "MultiCDNStorage"};
    assert_int_equal(quay_driver_count(), sizeof(names) / sizeof(names[0]));
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        assert_non_null(quay_driver_find(names[i]));
    assert_null(quay_driver_find("s3storage")); /* Quay matches case-sensitively */
    assert_null(quay_driver_find("FakeStorage"));
    assert_non_null(quay_driver_at(0));
    assert_null(quay_driver_at(quay_driver_count()));
}

static void test_secret_parameters_are_flagged(void **state)
{
    (void)state;
    static const char *const secret[] = {
        "s3_access_key",       "s3_secret_key",        "access_key",
        "secret_key",          "swift_password",       "azure_account_key",
        "sas_token",           "temp_url_key",         "sts_user_access_key",
        "sts_user_secret_key", "akamai_shared_secret", "connection_string"};
    for (size_t i = 0; i < sizeof(secret) / sizeof(secret[0]); i++)
        if (!quay_param_is_secret_anywhere(secret[i]))
            fail_msg("%s is not flagged secret", secret[i]);
    static const char *const plain[] = {"storage_path", "s3_bucket", "hostname",     "bucket_name",
                                        "swift_user",   "auth_url",  "sts_role_arn", "port"};
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
        assert_false(quay_param_is_secret_anywhere(plain[i]));
}

static void test_valid_destinations_pass_for_every_driver(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        struct quay_yaml_node *p = yaml_map(valid[i].params);
        struct k8s_error err;
        if (validate(valid[i].driver, p, valid[i].creds, ncreds(i), &err))
            fail_msg("%s: %s", valid[i].driver, err.message);
        quay_yaml_node_free(p);
    }
}

/* Removing any one required parameter of any driver is refused, naming it. */
static void test_each_missing_required_parameter_is_named(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        const struct quay_driver *d = quay_driver_find(valid[i].driver);
        for (size_t k = 0; k < d->nparams; k++) {
            const struct quay_driver_param *prm = &d->params[k];
            if (!(prm->flags & QUAY_PARAM_REQUIRED))
                continue;
            struct k8s_error err;
            char field[128];
            if (prm->flags & QUAY_PARAM_SECRET) {
                /* Drop the key from the credentials Secret instead. */
                const char *creds[3];
                size_t n = 0;
                for (size_t c = 0; c < ncreds(i); c++)
                    if (strcmp(valid[i].creds[c], prm->name) != 0)
                        creds[n++] = valid[i].creds[c];
                struct quay_yaml_node *p = yaml_map(valid[i].params);
                assert_int_equal(validate(d->name, p, creds, n, &err), K8S_EINVALID);
                assert_true(
                    has_cause(&err, "spec.destination.credentialsSecretRef", "FieldValueRequired"));
                snprintf(field, sizeof(field), "add the key \"%s\"", prm->name);
                assert_non_null(strstr(err.message, field));
                quay_yaml_node_free(p);
                continue;
            }
            struct quay_yaml_node *p = yaml_map(valid[i].params);
            assert_int_equal(quay_yaml_map_remove(p, prm->name), 1);
            assert_int_equal(validate(d->name, p, valid[i].creds, ncreds(i), &err), K8S_EINVALID);
            snprintf(field, sizeof(field), "spec.destination.parameters.%s", prm->name);
            if (!has_cause(&err, field, "FieldValueRequired"))
                fail_msg("%s without %s: %s", d->name, prm->name, err.message);
            assert_non_null(strstr(err.message, "add it to the parameters"));
            assert_string_equal(err.reason, "Invalid");
            quay_yaml_node_free(p);
        }
    }
}

static void test_secrets_in_spec_and_stray_credentials_are_refused(void **state)
{
    (void)state;
    struct k8s_error err;
    struct quay_yaml_node *p =
        yaml_map("s3_bucket: b\nstorage_path: /p\ns3_secret_key: do-not-show-me");
    const char *creds[] = {"s3_access_key", "s3_secrt_key"};
    assert_int_equal(validate("S3Storage", p, creds, 2, &err), K8S_EINVALID);
    assert_true(
        has_cause(&err, "spec.destination.parameters.s3_secret_key", "FieldValueForbidden"));
    assert_true(has_cause(&err, "spec.destination.credentialsSecretRef", "FieldValueNotSupported"));
    assert_non_null(strstr(err.message, "put it in the credentials Secret"));
    assert_non_null(strstr(err.message, "and 1 more problem"));
    for (size_t i = 0; i < err.ncauses; i++)
        assert_null(strstr(err.causes[i].message, "do-not-show-me"));
    assert_null(strstr(err.message, "do-not-show-me"));
    quay_yaml_node_free(p);
}

static void test_unknown_parameters_and_wrong_types_are_refused(void **state)
{
    (void)state;
    struct k8s_error err;
    const char *creds[] = {"access_key", "secret_key"};
    struct quay_yaml_node *p =
        yaml_map("hostname: h\nis_secure: \"false\"\nport: 70000\nbucket_name: b\n"
                 "storage_path: /p\nbucket: typo");
    assert_int_equal(validate("RadosGWStorage", p, creds, 2, &err), K8S_EINVALID);
    assert_true(has_cause(&err, "spec.destination.parameters.is_secure", "FieldValueInvalid"));
    assert_true(has_cause(&err, "spec.destination.parameters.port", "FieldValueInvalid"));
    assert_true(has_cause(&err, "spec.destination.parameters.bucket", "FieldValueNotSupported"));
    int saw_truthy = 0;
    for (size_t i = 0; i < err.ncauses; i++)
        saw_truthy |= strstr(err.causes[i].message, "\"false\" included, as true") != NULL;
    assert_true(saw_truthy);
    quay_yaml_node_free(p);

    p = yaml_map("storage_path: 42");
    assert_int_equal(validate("LocalStorage", p, NULL, 0, &err), K8S_EINVALID);
    assert_non_null(strstr(err.message, "storage_path must be a string"));
    quay_yaml_node_free(p);
}

static void test_unknown_driver_names_fakestorage_and_suggests(void **state)
{
    (void)state;
    struct k8s_error err;
    assert_int_equal(validate("s3storage", NULL, NULL, 0, &err), K8S_EINVALID);
    assert_non_null(strstr(err.message, "FakeStorage"));
    assert_non_null(strstr(err.message, "did you mean S3Storage?"));
    assert_non_null(strstr(err.message, "SwiftStorage"));
    assert_true(has_cause(&err, "spec.destination.driver", "FieldValueNotSupported"));
}

static void test_build_params_places_credentials_where_quay_reads_them(void **state)
{
    (void)state;
    struct k8s_error err;
    struct quay_yaml_node *p = yaml_map(valid[1].params), *out = NULL;
    const char *keys[] = {"s3_access_key", "s3_secret_key"};
    struct quay_credential creds[] = {{"s3_access_key", "AKIAFAKE", 8}, {"s3_secret_key", "on", 2}};
    struct quay_destination d = {
        .driver = "S3Storage", .parameters = p, .credential_keys = keys, .ncredential_keys = 2};
    assert_int_equal(quay_driver_build_params(&d, creds, 2, &out, &err), 0);
    assert_true(quay_yaml_is_str(quay_yaml_map_get(out, "s3_access_key"), "AKIAFAKE"));
    /* A secret that looks like a bool stays a string. */
    assert_true(quay_yaml_is_str(quay_yaml_map_get(out, "s3_secret_key"), "on"));
    assert_true(quay_yaml_is_str(out->items[0], "host")); /* spec order first */
    quay_yaml_node_free(out);
    struct quay_credential bin[] = {{"s3_access_key", "\xff\xfe", 2}};
    assert_int_equal(quay_driver_build_params(&d, bin, 1, &out, &err), K8S_EINVALID);
    assert_null(out);
    assert_non_null(strstr(err.message, "does not hold UTF-8 text"));

    quay_yaml_node_free(p);

    p = yaml_map(valid[12].params); /* MultiCDNStorage */
    d.driver = "MultiCDNStorage";
    d.parameters = p;
    assert_int_equal(quay_driver_build_params(&d, creds, 2, &out, &err), 0);
    assert_null(quay_yaml_map_get(out, "s3_access_key"));
    assert_true(quay_yaml_is_str(
        quay_yaml_map_get(quay_yaml_map_get(out, "storage_config"), "s3_access_key"), "AKIAFAKE"));
    quay_yaml_node_free(out);
    quay_yaml_node_free(p);
}

static void test_check_location_accepts_written_form_with_secrets(void **state)
{
    (void)state;
    struct k8s_error err;
    struct quay_yaml_node *p = yaml_map("s3_bucket: b\nstorage_path: /p\ns3_secret_key: x");
    assert_int_equal(quay_driver_check_location("S3Storage", p, NULL, &err), 0);
    quay_yaml_node_free(p);
    p = yaml_map("hostname: h\nis_secure: true\nbucket_name: b\nstorage_path: /p");
    assert_int_equal(quay_driver_check_location("RHOCSStorage", p, "DSC.default", &err),
                     K8S_EINVALID);
    assert_true(has_cause(&err, "DSC.default.parameters.access_key", "FieldValueRequired"));
    quay_yaml_node_free(p);
}

static void prefix_is(const char *driver, const char *params, const char *want)
{
    char out[256];
    struct k8s_error err;
    struct quay_yaml_node *p = yaml_map(params);
    if (quay_driver_object_prefix(quay_driver_find(driver), p, out, sizeof(out), &err))
        fail_msg("%s: %s", driver, err.message);
    if (strcmp(out, want) != 0)
        fail_msg("%s with %s: prefix \"%s\", want \"%s\"", driver, params, out, want);
    quay_yaml_node_free(p);
}

static void test_storage_path_becomes_quays_object_prefix(void **state)
{
    (void)state;
    prefix_is("S3Storage", "storage_path: /datastorage/registry", "datastorage/registry/");
    prefix_is("RHOCSStorage", "storage_path: /datastorage/registry/", "datastorage/registry/");
    prefix_is("S3Storage", "storage_path: \"\"", "");
    prefix_is("S3Storage", "storage_path: /", "");
    prefix_is("S3Storage", "storage_path: //double", "/double/"); /* only ONE "/" goes */
    prefix_is("S3Storage", "storage_path: relative", "relative/");
    prefix_is("SwiftStorage", "storage_path: //datastorage/registry", "datastorage/registry/");
    prefix_is("SwiftStorage", "storage_path: /p\nsimple_path_concat: true", "p");
    prefix_is("AzureStorage", "storage_path: /blobs", "blobs/");
    prefix_is("LocalStorage", "storage_path: /datastorage/registry", "/datastorage/registry/");
    prefix_is("MultiCDNStorage", "storage_config: {storage_path: /images}", "images/");
}

static void endpoint_is(const char *driver, const char *params, const char *url, const char *bucket,
                        const char *region)
{
    struct quay_s3_endpoint ep;
    struct k8s_error err;
    struct quay_yaml_node *p = yaml_map(params);
    if (quay_driver_s3_endpoint(quay_driver_find(driver), p, &ep, &err))
        fail_msg("%s: %s", driver, err.message);
    assert_string_equal(ep.url, url);
    assert_string_equal(ep.bucket, bucket);
    assert_string_equal(ep.region, region);
    quay_yaml_node_free(p);
}

static void test_s3_endpoints_are_built_like_quays_client(void **state)
{
    (void)state;
    endpoint_is("RHOCSStorage", "hostname: s3.odf\nis_secure: true\nport: \"443\"\nbucket_name: q",
                "https://s3.odf:443", "q", "");
    endpoint_is("RadosGWStorage", "hostname: rgw\nis_secure: false\nport: 7480\nbucket_name: q",
                "http://rgw:7480", "q", "");
    /* Python truthiness: the string "false" means HTTPS. */
    endpoint_is("RadosGWStorage", "hostname: rgw\nis_secure: \"false\"\nbucket_name: q",
                "https://rgw", "q", "");
    endpoint_is("IBMCloudStorage",
                "hostname: https://cos:8443\nis_secure: true\nport: 443\n"
                "bucket_name: q",
                "https://cos:8443", "q", "");
    endpoint_is("S3Storage", "s3_bucket: b\nstorage_path: /p", "https://s3.amazonaws.com", "b",
                "us-east-1");
    endpoint_is("S3Storage", "s3_bucket: b\ns3_region: eu-west-1",
                "https://s3.eu-west-1.amazonaws.com", "b", "eu-west-1");
    endpoint_is("S3Storage", "s3_bucket: b\nhost: minio.local\nport: 9000",
                "https://minio.local:9000", "b", "us-east-1");
    endpoint_is("S3Storage", "s3_bucket: b\nhost: h\nendpoint_url: http://127.0.0.1:8080",
                "http://127.0.0.1:8080", "b", "us-east-1");
    endpoint_is("GoogleCloudStorage", "bucket_name: g", "https://storage.googleapis.com", "g", "");
    endpoint_is("MultiCDNStorage", "storage_config: {s3_bucket: m, s3_region: us-west-2}",
                "https://s3.us-west-2.amazonaws.com", "m", "us-west-2");

    struct quay_s3_endpoint ep;
    struct k8s_error err;
    struct quay_yaml_node *p = yaml_map("swift_container: c");
    assert_int_equal(quay_driver_s3_endpoint(quay_driver_find("SwiftStorage"), p, &ep, &err),
                     K8S_EINVALID);
    assert_int_equal(quay_driver_s3_endpoint(quay_driver_find("STSS3Storage"), p, &ep, &err),
                     K8S_EINVALID);
    assert_non_null(strstr(err.message, "AssumeRole"));
    quay_yaml_node_free(p);
}

static void test_copy_engine_reach(void **state)
{
    (void)state;
    assert_int_equal(quay_driver_find("SwiftStorage")->copy, QUAY_COPY_SWIFT);
    assert_int_equal(quay_driver_find("LocalStorage")->copy, QUAY_COPY_LOCAL);
    assert_int_equal(quay_driver_find("RHOCSStorage")->copy, QUAY_COPY_S3);
    assert_int_equal(quay_driver_find("AzureStorage")->copy, QUAY_COPY_NONE);
    for (size_t i = 0; i < quay_driver_count(); i++) {
        const struct quay_driver *d = quay_driver_at(i);
        if (d->copy == QUAY_COPY_NONE)
            assert_non_null(d->copy_note); /* say why */
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_catalog_has_every_quay_driver),
        cmocka_unit_test(test_secret_parameters_are_flagged),
        cmocka_unit_test(test_valid_destinations_pass_for_every_driver),
        cmocka_unit_test(test_each_missing_required_parameter_is_named),
        cmocka_unit_test(test_secrets_in_spec_and_stray_credentials_are_refused),
        cmocka_unit_test(test_unknown_parameters_and_wrong_types_are_refused),
        cmocka_unit_test(test_unknown_driver_names_fakestorage_and_suggests),
        cmocka_unit_test(test_build_params_places_credentials_where_quay_reads_them),
        cmocka_unit_test(test_check_location_accepts_written_form_with_secrets),
        cmocka_unit_test(test_storage_path_becomes_quays_object_prefix),
        cmocka_unit_test(test_s3_endpoints_are_built_like_quays_client),
        cmocka_unit_test(test_copy_engine_reach),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
