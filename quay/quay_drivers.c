/*
 * quay_drivers: the storage-driver catalog and destination validation (see
 * quay_drivers.h for the sources and the contract).
 *
 * The tables mirror the Python constructors' signatures: a parameter without
 * a default there is REQUIRED here. Subclasses that forward **kwargs to
 * S3Storage (CloudFrontedS3Storage, CloudFlareStorage, AkamaiS3Storage) list
 * S3Storage's keyword arguments too.
 */
#include "quay_drivers.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define REQ  QUAY_PARAM_REQUIRED
#define SEC  QUAY_PARAM_SECRET
#define FIL  QUAY_PARAM_FILE
#define N(a) (sizeof(a) / sizeof((a)[0]))

/* S3Storage(context, storage_path, s3_bucket, s3_access_key=None,
 *           s3_secret_key=None, host=None, port=None, endpoint_url=None,
 *           s3_region=None, maximum_chunk_size_mb=None) */
#define S3_KWARGS                                                                                  \
    {"s3_access_key", QUAY_PT_STRING, SEC, "the S3 access key ID (omit to use the pod's role)"},   \
        {"s3_secret_key", QUAY_PT_STRING, SEC, "the S3 secret access key"},                        \
        {"host", QUAY_PT_STRING, 0, "the S3 host name, without scheme (HTTPS is used)"},           \
        {"port", QUAY_PT_PORT, 0, "the S3 port, used with host"},                                  \
        {"endpoint_url", QUAY_PT_STRING, 0, "the full S3 endpoint URL (overrides host/port)"},     \
        {"s3_region", QUAY_PT_STRING, 0, "the S3 region (default us-east-1)"},                     \
    {                                                                                              \
        "maximum_chunk_size_mb", QUAY_PT_NUMBER, 0, "the multipart chunk size in MiB"              \
    }

static const struct quay_driver_param local_params[] = {
    {"storage_path", QUAY_PT_STRING, REQ, "the directory inside the Quay pod"},
};

static const struct quay_driver_param s3_params[] = {
    {"storage_path", QUAY_PT_STRING, REQ, "the key prefix, e.g. /datastorage/registry"},
    {"s3_bucket", QUAY_PT_STRING, REQ, "the bucket name"},
    S3_KWARGS,
};

/* STSS3Storage(context, sts_role_arn, s3_bucket, storage_path,
 *              sts_user_access_key=None, sts_user_secret_key=None, s3_region=None,
 *              endpoint_url=None, maximum_chunk_size_mb=None) */
static const struct quay_driver_param sts_params[] = {
    {"sts_role_arn", QUAY_PT_STRING, REQ, "the ARN of the IAM role to assume"},
    {"s3_bucket", QUAY_PT_STRING, REQ, "the bucket name"},
    {"storage_path", QUAY_PT_STRING, REQ, "the key prefix, e.g. /datastorage/registry"},
    {"sts_user_access_key", QUAY_PT_STRING, SEC, "the IAM user's access key ID"},
    {"sts_user_secret_key", QUAY_PT_STRING, SEC, "the IAM user's secret access key"},
    {"s3_region", QUAY_PT_STRING, 0, "the S3 region (default us-east-1)"},
    {"endpoint_url", QUAY_PT_STRING, 0, "the full S3 endpoint URL"},
    {"maximum_chunk_size_mb", QUAY_PT_NUMBER, 0, "the multipart chunk size in MiB"},
};

static const struct quay_driver_param cloudfront_params[] = {
    {"cloudfront_distribution_domain", QUAY_PT_STRING, REQ, "the CloudFront domain"},
    {"cloudfront_key_id", QUAY_PT_STRING, REQ, "the CloudFront key pair ID"},
    {"cloudfront_privatekey_filename", QUAY_PT_STRING, REQ | FIL,
     "the bundle key holding the CloudFront signing key (PEM)"},
    {"cloudfront_distribution_org_overrides", QUAY_PT_MAP, 0,
     "per-organization CloudFront distributions"},
    {"storage_path", QUAY_PT_STRING, REQ, "the key prefix, e.g. /datastorage/registry"},
    {"s3_bucket", QUAY_PT_STRING, REQ, "the bucket name"},
    S3_KWARGS,
};

/* CloudFlareS3Storage(context, cloudflare_domain, cloudflare_privatekey_filename,
 *                     storage_path, s3_bucket, s3_region, *args, **kwargs) */
static const struct quay_driver_param cloudflare_params[] = {
    {"cloudflare_domain", QUAY_PT_STRING, REQ, "the CloudFlare domain"},
    {"cloudflare_privatekey_filename", QUAY_PT_STRING, REQ | FIL,
     "the bundle key holding the CloudFlare signing key (PEM)"},
    {"storage_path", QUAY_PT_STRING, REQ, "the key prefix, e.g. /datastorage/registry"},
    {"s3_bucket", QUAY_PT_STRING, REQ, "the bucket name"},
    {"s3_access_key", QUAY_PT_STRING, SEC, "the S3 access key ID"},
    {"s3_secret_key", QUAY_PT_STRING, SEC, "the S3 secret access key"},
    {"host", QUAY_PT_STRING, 0, "the S3 host name, without scheme"},
    {"port", QUAY_PT_PORT, 0, "the S3 port, used with host"},
    {"endpoint_url", QUAY_PT_STRING, 0, "the full S3 endpoint URL"},
    {"s3_region", QUAY_PT_STRING, REQ, "the S3 region"},
    {"maximum_chunk_size_mb", QUAY_PT_NUMBER, 0, "the multipart chunk size in MiB"},
};

/* AkamaiS3Storage(context, akamai_domain, akamai_shared_secret, storage_path,
 *                 s3_bucket, s3_region, *args, **kwargs) */
static const struct quay_driver_param akamai_params[] = {
    {"akamai_domain", QUAY_PT_STRING, REQ, "the Akamai domain"},
    {"akamai_shared_secret", QUAY_PT_STRING, REQ | SEC, "the Akamai EdgeAuth key"},
    {"storage_path", QUAY_PT_STRING, REQ, "the key prefix, e.g. /datastorage/registry"},
    {"s3_bucket", QUAY_PT_STRING, REQ, "the bucket name"},
    {"s3_access_key", QUAY_PT_STRING, SEC, "the S3 access key ID"},
    {"s3_secret_key", QUAY_PT_STRING, SEC, "the S3 secret access key"},
    {"host", QUAY_PT_STRING, 0, "the S3 host name, without scheme"},
    {"port", QUAY_PT_PORT, 0, "the S3 port, used with host"},
    {"endpoint_url", QUAY_PT_STRING, 0, "the full S3 endpoint URL"},
    {"s3_region", QUAY_PT_STRING, REQ, "the S3 region"},
    {"maximum_chunk_size_mb", QUAY_PT_NUMBER, 0, "the multipart chunk size in MiB"},
};

/* MultiCDNStorage(context, storage_config, providers, default_provider, rules):
 * the S3 part (and its secrets) is inside storage_config. */
static const struct quay_driver_param multicdn_params[] = {
    {"storage_config", QUAY_PT_MAP, REQ, "the S3 storage the CDNs front"},
    {"providers", QUAY_PT_MAP, REQ, "the CDN providers by name"},
    {"default_provider", QUAY_PT_STRING, REQ, "the provider used when no rule matches"},
    {"rules", QUAY_PT_LIST, REQ, "the provider-selection rules"},
};

/* The S3 part of MultiCDNStorage: the union of the S3-like CDN drivers'
 * own S3 arguments. */
static const struct quay_driver_param multicdn_s3_params[] = {
    {"storage_path", QUAY_PT_STRING, REQ, "the key prefix, e.g. /datastorage/registry"},
    {"s3_bucket", QUAY_PT_STRING, REQ, "the bucket name"},
    S3_KWARGS,
};

/* RadosGWStorage(context, hostname, is_secure, storage_path, access_key,
 *                secret_key, bucket_name, port=None, ...) */
#define RADOS_PARAMS                                                                               \
    {"hostname", QUAY_PT_STRING, REQ, "the S3 endpoint host name (or URL)"},                       \
        {"is_secure", QUAY_PT_BOOL, REQ, "whether to use HTTPS"},                                  \
        {"storage_path", QUAY_PT_STRING, REQ, "the key prefix, e.g. /datastorage/registry"},       \
        {"access_key", QUAY_PT_STRING, REQ | SEC, "the S3 access key ID"},                         \
        {"secret_key", QUAY_PT_STRING, REQ | SEC, "the S3 secret access key"},                     \
        {"bucket_name", QUAY_PT_STRING, REQ, "the bucket name"},                                   \
        {"port", QUAY_PT_PORT, 0, "the endpoint port"},                                            \
    {                                                                                              \
        "maximum_chunk_size_mb", QUAY_PT_NUMBER, 0, "the multipart chunk size in MiB"              \
    }

static const struct quay_driver_param rados_params[] = {
    RADOS_PARAMS,
    {"minimum_chunk_size_mb", QUAY_PT_NUMBER, 0, "the smallest multipart chunk in MiB"},
    {"server_side_assembly", QUAY_PT_BOOL, 0, "whether to assemble chunks with S3 copy"},
    {"region_name", QUAY_PT_STRING, 0, "the S3 region"},
    {"signature_version", QUAY_PT_STRING, 0, "the S3 signature version (s3v4)"},
};

static const struct quay_driver_param ibm_params[] = {RADOS_PARAMS};

/* GoogleCloudStorage(context, storage_path, access_key, secret_key,
 *                    bucket_name, boto_timeout=60) */
static const struct quay_driver_param gcs_params[] = {
    {"storage_path", QUAY_PT_STRING, REQ, "the key prefix, e.g. /datastorage/registry"},
    {"access_key", QUAY_PT_STRING, REQ | SEC, "the HMAC access key"},
    {"secret_key", QUAY_PT_STRING, REQ | SEC, "the HMAC secret"},
    {"bucket_name", QUAY_PT_STRING, REQ, "the bucket name"},
    {"boto_timeout", QUAY_PT_NUMBER, 0, "the connect/read timeout in seconds"},
};

/* AzureStorage(context, azure_container, storage_path, azure_account_name,
 *              azure_account_key=None, sas_token=None, connection_string=None,
 *              endpoint_url=None) */
static const struct quay_driver_param azure_params[] = {
    {"azure_container", QUAY_PT_STRING, REQ, "the blob container"},
    {"storage_path", QUAY_PT_STRING, REQ, "the blob name prefix"},
    {"azure_account_name", QUAY_PT_STRING, REQ, "the storage account name"},
    {"azure_account_key", QUAY_PT_STRING, SEC, "the storage account key"},
    {"sas_token", QUAY_PT_STRING, SEC, "a SAS token instead of the account key"},
    {"connection_string", QUAY_PT_STRING, SEC, "a connection string"},
    {"endpoint_url", QUAY_PT_STRING, 0, "the Blob service URL (non-public clouds)"},
};

/* SwiftStorage(context, swift_container, storage_path, auth_url, swift_user,
 *              swift_password, auth_version=None, os_options=None,
 *              ca_cert_path=None, temp_url_key=None, simple_path_concat=False,
 *              connect_timeout=None, retry_count=None, retry_on_ratelimit=True) */
static const struct quay_driver_param swift_params[] = {
    {"swift_container", QUAY_PT_STRING, REQ, "the Swift container"},
    {"storage_path", QUAY_PT_STRING, REQ, "the object name prefix"},
    {"auth_url", QUAY_PT_STRING, REQ, "the Keystone or tempauth URL"},
    {"swift_user", QUAY_PT_STRING, REQ, "the Swift user"},
    {"swift_password", QUAY_PT_STRING, REQ | SEC, "the Swift password or key"},
    {"auth_version", QUAY_PT_NUMBER, 0, "the auth API version: 1, 2 or 3"},
    {"os_options", QUAY_PT_MAP, 0, "Keystone options (tenant_id, user_domain_name, ...)"},
    {"ca_cert_path", QUAY_PT_STRING, FIL, "the CA certificate file for the auth URL"},
    {"temp_url_key", QUAY_PT_STRING, SEC, "the temp URL key for direct downloads"},
    {"simple_path_concat", QUAY_PT_BOOL, 0, "join storage_path and keys without a '/'"},
    {"connect_timeout", QUAY_PT_NUMBER, 0, "the connect timeout in seconds"},
    {"retry_count", QUAY_PT_NUMBER, 0, "the number of retries"},
    {"retry_on_ratelimit", QUAY_PT_BOOL, 0, "whether to retry on HTTP 498/429"},
};

#define DRIVER(name, params, rule, copy, nested, note)                                             \
    {                                                                                              \
        name, params, N(params), rule, copy, nested, note                                          \
    }

static const struct quay_driver drivers[] = {
    DRIVER("LocalStorage", local_params, QUAY_PATH_FILESYSTEM, QUAY_COPY_LOCAL, NULL,
           "a directory inside the Quay pods: reachable only through their volume"),
    DRIVER("S3Storage", s3_params, QUAY_PATH_STRIP_ONE, QUAY_COPY_S3, NULL, NULL),
    DRIVER("STSS3Storage", sts_params, QUAY_PATH_STRIP_ONE, QUAY_COPY_NONE, NULL,
           "credentials come from sts:AssumeRole, which the copy engine does not do yet"),
    DRIVER("RadosGWStorage", rados_params, QUAY_PATH_STRIP_ONE, QUAY_COPY_S3, NULL, NULL),
    DRIVER("RHOCSStorage", rados_params, QUAY_PATH_STRIP_ONE, QUAY_COPY_S3, NULL,
           "ODF/NooBaa: RadosGWStorage's protocol"),
    DRIVER("IBMCloudStorage", ibm_params, QUAY_PATH_STRIP_ONE, QUAY_COPY_S3, NULL, NULL),
    DRIVER("GoogleCloudStorage", gcs_params, QUAY_PATH_STRIP_ONE, QUAY_COPY_S3, NULL,
           "through the HMAC interoperability endpoint storage.googleapis.com, "
           "ListObjects v1 only"),
    DRIVER("CloudFrontedS3Storage", cloudfront_params, QUAY_PATH_STRIP_ONE, QUAY_COPY_S3, NULL,
           "the data is in the S3 bucket behind the CDN"),
    DRIVER("CloudFlareStorage", cloudflare_params, QUAY_PATH_STRIP_ONE, QUAY_COPY_S3, NULL,
           "the data is in the S3 bucket behind the CDN"),
    DRIVER("AkamaiS3Storage", akamai_params, QUAY_PATH_STRIP_ONE, QUAY_COPY_S3, NULL,
           "the data is in the S3 bucket behind the CDN"),
    DRIVER("MultiCDNStorage", multicdn_params, QUAY_PATH_NESTED, QUAY_COPY_S3, "storage_config",
           "the data is in storage_config's S3 bucket"),
    DRIVER("AzureStorage", azure_params, QUAY_PATH_LSTRIP, QUAY_COPY_NONE, NULL,
           "the copy engine has no Azure Blob backend yet"),
    DRIVER("SwiftStorage", swift_params, QUAY_PATH_LSTRIP, QUAY_COPY_SWIFT, NULL, NULL),
};

const struct quay_driver *quay_driver_find(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < N(drivers); i++)
        if (strcmp(drivers[i].name, name) == 0)
            return &drivers[i];
    return NULL;
}

size_t quay_driver_count(void)
{
    return N(drivers);
}

const struct quay_driver *quay_driver_at(size_t i)
{
    return i < N(drivers) ? &drivers[i] : NULL;
}

static const struct quay_driver_param *find_in(const struct quay_driver_param *p, size_t n,
                                               const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(p[i].name, name) == 0)
            return &p[i];
    return NULL;
}

/* The table that holds the S3 part (and the secrets) of a driver. */
static void secret_table(const struct quay_driver *d, const struct quay_driver_param **p, size_t *n)
{
    if (d->nested) {
        *p = multicdn_s3_params;
        *n = N(multicdn_s3_params);
    } else {
        *p = d->params;
        *n = d->nparams;
    }
}

const struct quay_driver_param *quay_driver_param(const struct quay_driver *d, const char *name)
{
    const struct quay_driver_param *p = find_in(d->params, d->nparams, name);
    if (!p && d->nested)
        p = find_in(multicdn_s3_params, N(multicdn_s3_params), name);
    return p;
}

int quay_param_is_secret_anywhere(const char *name)
{
    for (size_t i = 0; i < N(drivers); i++) {
        const struct quay_driver_param *p = quay_driver_param(&drivers[i], name);
        if (p && (p->flags & SEC))
            return 1;
    }
    return 0;
}

/* ---- validation -------------------------------------------------------------------- */

struct problems {
    struct k8s_error *err;
    const char *prefix;
    size_t count;
    char first[640];
};

static void problem(struct problems *pr, const char *field, const char *reason, const char *fmt,
                    ...) __attribute__((format(printf, 4, 5)));

static void problem(struct problems *pr, const char *field, const char *reason, const char *fmt,
                    ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (pr->count == 0)
        snprintf(pr->first, sizeof(pr->first), "%s.%s: %s", pr->prefix, field, msg);
    pr->count++;
    if (pr->err && pr->err->ncauses < K8S_MAX_CAUSES) {
        struct k8s_cause *c = &pr->err->causes[pr->err->ncauses++];
        snprintf(c->field, sizeof(c->field), "%s.%s", pr->prefix, field);
        snprintf(c->reason, sizeof(c->reason), "%s", reason);
        snprintf(c->message, sizeof(c->message), "%s", msg);
    }
}

static const char *type_word(enum quay_param_type t)
{
    switch (t) {
    case QUAY_PT_BOOL:
        return "a boolean (true or false, unquoted)";
    case QUAY_PT_PORT:
        return "a port number (1-65535)";
    case QUAY_PT_NUMBER:
        return "a whole number";
    case QUAY_PT_MAP:
        return "a mapping";
    case QUAY_PT_LIST:
        return "a list";
    default:
        return "a string";
    }
}

static int all_digits(const char *s, size_t n)
{
    if (n == 0 || n > 18)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return 0;
    return 1;
}

/* 1 when `v` has the shape `p` needs. */
static int type_ok(const struct quay_driver_param *p, const struct quay_yaml_node *v)
{
    enum quay_yaml_type t = quay_yaml_scalar_type(v);
    long long n;
    switch (p->type) {
    case QUAY_PT_STRING:
        return t == QUAY_YAML_T_STR;
    case QUAY_PT_BOOL:
        return t == QUAY_YAML_T_BOOL;
    case QUAY_PT_PORT:
        if (t == QUAY_YAML_T_STR) {
            if (!all_digits(v->value, v->len))
                return 0;
            n = strtoll(v->value, NULL, 10);
        } else if (quay_yaml_get_int(v, &n) != 0) {
            return 0;
        }
        return n >= 1 && n <= 65535;
    case QUAY_PT_NUMBER:
        if (t == QUAY_YAML_T_STR)
            return all_digits(v->value, v->len);
        return quay_yaml_get_int(v, &n) == 0 && n >= 0;
    case QUAY_PT_MAP:
        return v->kind == QUAY_YAML_MAP;
    case QUAY_PT_LIST:
        return v->kind == QUAY_YAML_SEQ;
    }
    return 0;
}

static void list_secret_names(const struct quay_driver_param *p, size_t n, char *buf, size_t cap)
{
    size_t k = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (!(p[i].flags & SEC))
            continue;
        int w = snprintf(buf + k, cap - k, "%s%s", k ? ", " : "", p[i].name);
        if (w < 0 || (size_t)w >= cap - k)
            break;
        k += (size_t)w;
    }
    if (!k)
        snprintf(buf, cap, "(none: this driver takes no secrets)");
}

static int has_key(const struct quay_destination *d, const char *key)
{
    for (size_t i = 0; i < d->ncredential_keys; i++)
        if (d->credential_keys[i] && strcmp(d->credential_keys[i], key) == 0)
            return 1;
    return 0;
}

/* Checks one parameter mapping against a table; `where` is the field path
 * of the mapping ("parameters" or "parameters.storage_config"). */
static void check_params(struct problems *pr, const struct quay_driver *d,
                         const struct quay_driver_param *table, size_t ntable,
                         const struct quay_yaml_node *map, const char *where,
                         const struct quay_destination *dest, int secrets_here, int final)
{
    char field[300];
    for (size_t i = 0; map && i + 1 < map->nitems; i += 2) {
        const struct quay_yaml_node *k = map->items[i], *v = map->items[i + 1];
        if (quay_yaml_scalar_type(k) != QUAY_YAML_T_STR) {
            snprintf(field, sizeof(field), "%s", where);
            problem(pr, field, "FieldValueInvalid", "parameter names must be strings (line %u)",
                    k->line);
            continue;
        }
        snprintf(field, sizeof(field), "%s.%s", where, k->value);
        const struct quay_driver_param *p = find_in(table, ntable, k->value);
        if (!p) {
            problem(pr, field, "FieldValueNotSupported",
                    "%s does not take a parameter named \"%s\" (Quay would fail to start); "
                    "remove it or check its spelling",
                    d->name, k->value);
            continue;
        }
        if ((p->flags & SEC) && !final) {
            problem(pr, field, "FieldValueForbidden",
                    "%s is secret: remove it from the parameters and put it in the "
                    "credentials Secret under the key \"%s\"",
                    p->name, p->name);
            continue;
        }
        if (!type_ok(p, v)) {
            if (p->type == QUAY_PT_BOOL && quay_yaml_scalar_type(v) == QUAY_YAML_T_STR)
                problem(pr, field, "FieldValueInvalid",
                        "%s must be a boolean (true or false, unquoted), not a string: Quay "
                        "treats any non-empty string, \"false\" included, as true",
                        p->name);
            else
                problem(pr, field, "FieldValueInvalid", "%s must be %s (%s)", p->name,
                        type_word(p->type), p->help);
        }
    }
    /* Required parameters: in the mapping, or (secrets) in the credentials. */
    for (size_t i = 0; i < ntable; i++) {
        const struct quay_driver_param *p = &table[i];
        if (!(p->flags & REQ))
            continue;
        snprintf(field, sizeof(field), "%s.%s", where, p->name);
        if ((p->flags & SEC) && !final) {
            if (secrets_here && !has_key(dest, p->name))
                problem(pr, "credentialsSecretRef", "FieldValueRequired",
                        "%s needs %s (%s): add the key \"%s\" to the credentials Secret", d->name,
                        p->name, p->help, p->name);
            continue;
        }
        if (!quay_yaml_map_get(map, p->name))
            problem(pr, field, "FieldValueRequired", "%s needs %s (%s): add it to the parameters",
                    d->name, p->name, p->help);
    }
}

static int finish(struct problems *pr);

static void suggest_driver(const char *name, char *buf, size_t cap)
{
    buf[0] = '\0';
    for (size_t i = 0; i < N(drivers); i++)
        if (strcasecmp(drivers[i].name, name) == 0) {
            snprintf(buf, cap, " (did you mean %s? names are case-sensitive)", drivers[i].name);
            return;
        }
}

int quay_driver_validate(const struct quay_destination *dest, struct k8s_error *err)
{
    struct problems pr = {.err = err,
                          .prefix = dest->field_prefix ? dest->field_prefix : "destination"};
    if (err)
        k8s_error_clear(err);
    const struct quay_driver *d = quay_driver_find(dest->driver);
    if (!d) {
        char known[600], hint[96];
        size_t k = 0;
        known[0] = '\0';
        for (size_t i = 0; i < N(drivers); i++) {
            int w = snprintf(known + k, sizeof(known) - k, "%s%s", i ? ", " : "", drivers[i].name);
            if (w > 0 && (size_t)w < sizeof(known) - k)
                k += (size_t)w;
        }
        suggest_driver(dest->driver ? dest->driver : "", hint, sizeof(hint));
        problem(&pr, "driver", "FieldValueNotSupported",
                "\"%s\" is not a Quay storage driver%s; Quay would silently use FakeStorage "
                "and lose every push. Use one of: %s",
                dest->driver ? dest->driver : "", hint, known);
        goto out;
    }
    if (dest->parameters && dest->parameters->kind != QUAY_YAML_MAP) {
        problem(&pr, "parameters", "FieldValueInvalid", "parameters must be a mapping");
        goto out;
    }
    check_params(&pr, d, d->params, d->nparams, dest->parameters, "parameters", dest,
                 d->nested == NULL, 0);
    if (d->nested) {
        const struct quay_yaml_node *inner = quay_yaml_map_get(dest->parameters, d->nested);
        if (inner && inner->kind == QUAY_YAML_MAP) {
            char where[64];
            snprintf(where, sizeof(where), "parameters.%s", d->nested);
            check_params(&pr, d, multicdn_s3_params, N(multicdn_s3_params), inner, where, dest, 1,
                         0);
        }
    }
    /* Every credentials key must be one of this driver's secrets: a typo
     * there would otherwise leave Quay without the key. */
    const struct quay_driver_param *st;
    size_t nst;
    secret_table(d, &st, &nst);
    for (size_t i = 0; i < dest->ncredential_keys; i++) {
        const char *key = dest->credential_keys[i];
        const struct quay_driver_param *p = key ? find_in(st, nst, key) : NULL;
        if (!p || !(p->flags & SEC)) {
            char names[300];
            list_secret_names(st, nst, names, sizeof(names));
            problem(&pr, "credentialsSecretRef", "FieldValueNotSupported",
                    "the credentials Secret has the key \"%s\", which is not a secret parameter "
                    "of %s; expected keys: %s",
                    key ? key : "", d->name, names);
        }
    }
out:
    return finish(&pr);
}

static int finish(struct problems *pr)
{
    struct k8s_error *err = pr->err;
    if (pr->count == 0)
        return 0;
    if (err) {
        size_t nc = err->ncauses;
        struct k8s_cause causes[K8S_MAX_CAUSES];
        memcpy(causes, err->causes, sizeof(causes));
        if (pr->count > 1)
            k8s_error_set(err, K8S_EINVALID, "%s (and %zu more problem%s)", pr->first,
                          pr->count - 1, pr->count > 2 ? "s" : "");
        else
            k8s_error_set(err, K8S_EINVALID, "%s", pr->first);
        memcpy(err->causes, causes, sizeof(causes));
        err->ncauses = nc;
        snprintf(err->reason, sizeof(err->reason), "Invalid");
    }
    return K8S_EINVALID;
}

int quay_driver_check_location(const char *driver, const struct quay_yaml_node *params,
                               const char *field_prefix, struct k8s_error *err)
{
    struct problems pr = {.err = err, .prefix = field_prefix ? field_prefix : "location"};
    if (err)
        k8s_error_clear(err);
    const struct quay_driver *d = quay_driver_find(driver);
    if (!d) {
        problem(&pr, "driver", "FieldValueNotSupported",
                "\"%s\" is not a Quay storage driver; Quay would silently use FakeStorage",
                driver ? driver : "");
        return finish(&pr);
    }
    if (!params || params->kind != QUAY_YAML_MAP) {
        problem(&pr, "parameters", "FieldValueInvalid", "parameters must be a mapping");
        return finish(&pr);
    }
    check_params(&pr, d, d->params, d->nparams, params, "parameters", NULL, 0, 1);
    const struct quay_yaml_node *inner = d->nested ? quay_yaml_map_get(params, d->nested) : NULL;
    if (inner && inner->kind == QUAY_YAML_MAP) {
        char where[64];
        snprintf(where, sizeof(where), "parameters.%s", d->nested);
        check_params(&pr, d, multicdn_s3_params, N(multicdn_s3_params), inner, where, NULL, 1, 1);
    }
    return finish(&pr);
}

int quay_driver_build_params(const struct quay_destination *d, const struct quay_credential *creds,
                             size_t ncreds, struct quay_yaml_node **out, struct k8s_error *err)
{
    int rc;
    struct quay_yaml_node *params = NULL;
    *out = NULL;
    if ((rc = quay_driver_validate(d, err)))
        return rc;
    const struct quay_driver *drv = quay_driver_find(d->driver);
    params = d->parameters ? quay_yaml_node_clone(d->parameters) : quay_yaml_map_new();
    if (!params)
        return k8s_error_set(err, K8S_ENOMEM, "out of memory building storage parameters");
    params->style = QUAY_YAML_BLOCK;
    struct quay_yaml_node *target = params;
    if (drv->nested) {
        target = quay_yaml_map_get(params, drv->nested);
        if (!target || target->kind != QUAY_YAML_MAP) {
            rc =
                k8s_error_set(err, K8S_EINVALID, "%s needs the mapping %s", drv->name, drv->nested);
            goto out;
        }
    }
    for (size_t i = 0; i < ncreds; i++) {
        if (!quay_yaml_utf8_valid(creds[i].value, creds[i].len) ||
            memchr(creds[i].value, '\0', creds[i].len)) {
            rc = k8s_error_set(err, K8S_EINVALID,
                               "the credentials Secret's key \"%s\" does not hold UTF-8 text; "
                               "Quay reads credentials from YAML, which carries text only",
                               creds[i].key);
            goto out;
        }
        if (!has_key(d, creds[i].key)) {
            rc = k8s_error_set(err, K8S_EARG,
                               "credential \"%s\" was not among the validated credential keys",
                               creds[i].key);
            goto out;
        }
        rc = quay_yaml_map_set_take(target, creds[i].key,
                                    quay_yaml_strn_new(creds[i].value, creds[i].len));
        if (rc) {
            rc = k8s_error_set(err, rc, "out of memory building storage parameters");
            goto out;
        }
    }
    /* The written form must pass the same checks Quay's constructor would. */
    if ((rc = quay_driver_check_location(d->driver, params, d->field_prefix, err)))
        goto out;
    *out = params;
    params = NULL;
out:
    quay_yaml_node_free(params);
    return rc;
}

/* ---- object keys and endpoints ---------------------------------------------------------- */

static int string_param(const struct quay_yaml_node *params, const char *name, const char **s,
                        size_t *len)
{
    const struct quay_yaml_node *v = quay_yaml_map_get(params, name);
    if (!v || quay_yaml_scalar_type(v) != QUAY_YAML_T_STR)
        return 0;
    *s = v->value;
    *len = v->len;
    return 1;
}

int quay_driver_object_prefix(const struct quay_driver *d, const struct quay_yaml_node *params,
                              char *out, size_t cap, struct k8s_error *err)
{
    const char *sp;
    size_t n;
    const struct quay_yaml_node *where = params;
    if (d->path_rule == QUAY_PATH_NESTED)
        where = quay_yaml_map_get(params, d->nested);
    if (!string_param(where, "storage_path", &sp, &n))
        return k8s_error_set(err, K8S_EINVALID, "%s has no string storage_path", d->name);
    if (memchr(sp, '\0', n))
        return k8s_error_set(err, K8S_EINVALID, "storage_path contains a NUL byte");
    const char *p = sp;
    size_t m = n;
    int simple = 0;
    switch (d->path_rule) {
    case QUAY_PATH_LSTRIP: {
        while (m && *p == '/') {
            p++;
            m--;
        }
        const struct quay_yaml_node *spc = quay_yaml_map_get(params, "simple_path_concat");
        int b = 0;
        simple = spc && quay_yaml_get_bool(spc, &b) == 0 && b;
        break;
    }
    case QUAY_PATH_STRIP_ONE:
    case QUAY_PATH_NESTED:
        /* os.path.join(root, key) then one leading "/" dropped. An empty root
         * gives bare keys. */
        if (m && *p == '/') {
            p++;
            m--;
        }
        break;
    case QUAY_PATH_FILESYSTEM:
        break;
    }
    int sep = !simple && m > 0 && p[m - 1] != '/';
    if (m + (size_t)sep + 1 > cap)
        return k8s_error_set(err, K8S_EARG, "storage_path is too long");
    memcpy(out, p, m);
    if (sep)
        out[m++] = '/';
    out[m] = '\0';
    return 0;
}

/* Python truthiness of a YAML value, as Quay's drivers use is_secure. */
static int py_truthy(const struct quay_yaml_node *v)
{
    int b;
    long long n;
    if (!v)
        return 0;
    if (v->kind != QUAY_YAML_SCALAR)
        return v->nitems > 0;
    switch (quay_yaml_scalar_type(v)) {
    case QUAY_YAML_T_NULL:
        return 0;
    case QUAY_YAML_T_BOOL:
        return quay_yaml_get_bool(v, &b) == 0 && b;
    case QUAY_YAML_T_INT:
        return !(quay_yaml_get_int(v, &n) == 0 && n == 0);
    default:
        return v->len > 0;
    }
}

/* Quay's _build_endpoint_url(hostname, port, is_secure). */
static int build_endpoint(const char *host, size_t hlen, const struct quay_yaml_node *port,
                          int secure, char *out, size_t cap)
{
    char h[400];
    if (hlen >= sizeof(h) || memchr(host, '\0', hlen))
        return K8S_EINVALID;
    memcpy(h, host, hlen);
    h[hlen] = '\0';
    int has_scheme = strncmp(h, "http://", 7) == 0 || strncmp(h, "https://", 8) == 0;
    int w = snprintf(out, cap, "%s%s", has_scheme ? "" : (secure ? "https://" : "http://"), h);
    if (w < 0 || (size_t)w >= cap)
        return K8S_EINVALID;
    if (port && py_truthy(port)) {
        /* Skip when the host already ends in ":<digits>" (ignoring " /"). */
        const char *colon = strrchr(h, ':');
        int has_port = 0;
        if (colon) {
            /* Python: hostname.split(":")[-1].strip(" /").isdigit() */
            const char *e = colon + 1, *end = e + strlen(e);
            while (e < end && (*e == ' ' || *e == '/'))
                e++;
            while (end > e && (end[-1] == ' ' || end[-1] == '/'))
                end--;
            has_port = all_digits(e, (size_t)(end - e));
        }
        if (!has_port) {
            if (port->kind != QUAY_YAML_SCALAR || memchr(port->value, '\0', port->len))
                return K8S_EINVALID;
            size_t k = (size_t)w;
            w = snprintf(out + k, cap - k, ":%s", port->value);
            if (w < 0 || (size_t)w >= cap - k)
                return K8S_EINVALID;
        }
    }
    return 0;
}

static int copy_str(const struct quay_yaml_node *params, const char *name, char *out, size_t cap)
{
    const char *s;
    size_t n;
    if (!string_param(params, name, &s, &n) || n >= cap || memchr(s, '\0', n))
        return 0;
    memcpy(out, s, n);
    out[n] = '\0';
    return 1;
}

int quay_driver_s3_endpoint(const struct quay_driver *d, const struct quay_yaml_node *params,
                            struct quay_s3_endpoint *ep, struct k8s_error *err)
{
    memset(ep, 0, sizeof(*ep));
    if (d->copy != QUAY_COPY_S3)
        return k8s_error_set(err, K8S_EINVALID, "%s is not reached through the S3 API%s%s", d->name,
                             d->copy_note ? ": " : "", d->copy_note ? d->copy_note : "");
    const struct quay_yaml_node *p = params;
    if (d->nested)
        p = quay_yaml_map_get(params, d->nested);
    if (!p || p->kind != QUAY_YAML_MAP)
        return k8s_error_set(err, K8S_EINVALID, "%s: parameters are not a mapping", d->name);

    const char *host;
    size_t hlen;
    int rc = 0;
    if (strcmp(d->name, "GoogleCloudStorage") == 0) {
        snprintf(ep->url, sizeof(ep->url), "https://storage.googleapis.com");
        ep->list_v1 = 1;
        copy_str(p, "bucket_name", ep->bucket, sizeof(ep->bucket));
        ep->access_key_param = "access_key";
        ep->secret_key_param = "secret_key";
    } else if (quay_driver_param(d, "hostname")) { /* RadosGW, RHOCS, IBM */
        if (!string_param(p, "hostname", &host, &hlen))
            return k8s_error_set(err, K8S_EINVALID, "%s has no string hostname", d->name);
        rc = build_endpoint(host, hlen, quay_yaml_map_get(p, "port"),
                            py_truthy(quay_yaml_map_get(p, "is_secure")), ep->url, sizeof(ep->url));
        copy_str(p, "bucket_name", ep->bucket, sizeof(ep->bucket));
        copy_str(p, "region_name", ep->region, sizeof(ep->region));
        ep->access_key_param = "access_key";
        ep->secret_key_param = "secret_key";
    } else { /* S3Storage and the CDN fronts */
        if (!copy_str(p, "s3_region", ep->region, sizeof(ep->region)))
            snprintf(ep->region, sizeof(ep->region), "us-east-1");
        if (copy_str(p, "endpoint_url", ep->url, sizeof(ep->url)))
            ;
        else if (string_param(p, "host", &host, &hlen) && hlen > 0)
            rc = build_endpoint(host, hlen, quay_yaml_map_get(p, "port"), 1, ep->url,
                                sizeof(ep->url));
        else if (strcmp(ep->region, "us-east-1") == 0)
            snprintf(ep->url, sizeof(ep->url), "https://s3.amazonaws.com");
        else
            snprintf(ep->url, sizeof(ep->url), "https://s3.%s.amazonaws.com", ep->region);
        copy_str(p, "s3_bucket", ep->bucket, sizeof(ep->bucket));
        ep->access_key_param = "s3_access_key";
        ep->secret_key_param = "s3_secret_key";
    }
    if (rc)
        return k8s_error_set(err, K8S_EINVALID, "%s: the endpoint host or port is not usable",
                             d->name);
    if (!ep->bucket[0])
        return k8s_error_set(err, K8S_EINVALID, "%s has no bucket name", d->name);
    return 0;
}
