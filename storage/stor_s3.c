/*
 * The S3 backend: every request signed with SigV4 (stor_sigv4.c), path-style
 * or virtual-hosted addressing, a custom CA, ListObjectsV2 paged by
 * start-after, multipart uploads (CreateMultipartUpload / UploadPart /
 * CompleteMultipartUpload) and server-side copies (CopyObject, UploadPartCopy)
 * when source and destination share endpoint and credentials.
 *
 * Options (spec query, QSO_<SIDE>_<NAME> env, or <CONFIG_DIR>/<name>):
 *   endpoint             https://host[:port] (default https://s3.<region>.amazonaws.com)
 *   region               default us-east-1
 *   path_style           1/0; default 1 with a custom endpoint, 0 on AWS
 *   ca_file              PEM bundle to verify the endpoint with
 *   max_parts            parts per upload (default: the server's /info, else 10000)
 *   multipart_threshold  bytes; larger objects go multipart (default 128 MiB)
 * Secrets (env QSO_<SIDE>_<NAME> or <CREDENTIALS_DIR>/<NAME> only):
 *   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN (optional)
 *
 * Bodies are sent with x-amz-content-sha256: UNSIGNED-PAYLOAD because they
 * are streamed; request bodies we build ourselves (the multipart commit) are
 * hashed and signed.
 */
#include "stor_s3.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "stor_internal.h"
#include "stor_sigv4.h"

struct s3_backend {
    struct stor_backend base;
    struct stor_sigv4_creds creds;
    char scheme[8]; /* "http" / "https" */
    char host[256]; /* endpoint host (without the bucket for virtual-hosted) */
    long port;      /* 0: the scheme's default */
    char region[64];
    int path_style;
    char ca_file[1024];
    char endpoint_display[600];
    unsigned max_parts;
    uint64_t multipart_threshold;
    int limits_known;
    struct stor_limits limits;
};

static struct s3_backend *s3(struct stor_backend *b)
{
    return (struct s3_backend *)b;
}

static int parse_endpoint(struct s3_backend *b, const char *endpoint, struct stor_error *err)
{
    int rc = 0;
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL;
    if (!u)
        return stor_error_set(err, STOR_ENOMEM, "out of memory");
    if (curl_url_set(u, CURLUPART_URL, endpoint, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        rc = stor_error_set(err, STOR_ECONFIG, "endpoint is not a URL");
        goto out;
    }
    if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
        rc = stor_error_set(err, STOR_ECONFIG, "endpoint scheme must be http or https");
        goto out;
    }
    stor_strlcpy(b->scheme, scheme, sizeof(b->scheme));
    stor_strlcpy(b->host, host, sizeof(b->host));
    if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK && port) {
        long p = strtol(port, NULL, 10);
        long def = strcmp(scheme, "https") == 0 ? 443 : 80;
        b->port = p == def ? 0 : p;
    }
    if (b->port)
        snprintf(b->endpoint_display, sizeof(b->endpoint_display), "%s://%s:%ld", b->scheme,
                 b->host, b->port);
    else
        snprintf(b->endpoint_display, sizeof(b->endpoint_display), "%s://%s", b->scheme, b->host);
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return rc;
}

static int s3_open(const struct stor_spec *spec, struct stor_backend **out, struct stor_error *err)
{
    int rc = 0;
    char v[STOR_VALUE_MAX];
    struct s3_backend *b = calloc(1, sizeof(*b));
    if (!b)
        return stor_error_set(err, STOR_ENOMEM, "out of memory");
    b->base.spec = *spec;

    if ((rc = stor_spec_opt(spec, "region", v, sizeof(v), err)) < 0)
        goto out;
    stor_strlcpy(b->region, rc ? v : "us-east-1", sizeof(b->region));
    int have_endpoint = rc = stor_spec_opt(spec, "endpoint", v, sizeof(v), err);
    if (rc < 0)
        goto out;
    if (!have_endpoint)
        snprintf(v, sizeof(v), "https://s3.%s.amazonaws.com", b->region);
    if ((rc = parse_endpoint(b, v, err)))
        goto out;
    b->path_style = have_endpoint;
    if ((rc = stor_spec_opt(spec, "path_style", v, sizeof(v), err)) < 0)
        goto out;
    if (rc)
        b->path_style = strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0;
    if ((rc = stor_spec_opt(spec, "ca_file", v, sizeof(v), err)) < 0)
        goto out;
    if (rc)
        stor_strlcpy(b->ca_file, v, sizeof(b->ca_file));
    b->multipart_threshold = 128ull << 20;
    if ((rc = stor_spec_opt(spec, "multipart_threshold", v, sizeof(v), err)) < 0)
        goto out;
    if (rc && stor_parse_u64(v, &b->multipart_threshold)) {
        rc = stor_error_set(err, STOR_ECONFIG, "multipart_threshold must be a byte count");
        goto out;
    }
    if ((rc = stor_spec_opt(spec, "max_parts", v, sizeof(v), err)) < 0)
        goto out;
    if (rc) {
        uint64_t mp = 0;
        if (stor_parse_u64(v, &mp) || mp == 0 || mp > 10000) {
            rc = stor_error_set(err, STOR_ECONFIG, "max_parts must be 1..10000");
            goto out;
        }
        b->max_parts = (unsigned)mp;
    }

    rc = stor_spec_secret(spec, "AWS_ACCESS_KEY_ID", b->creds.access_key,
                          sizeof(b->creds.access_key), err);
    if (rc == 0)
        rc = stor_error_set(err, STOR_ECONFIG,
                            "no access key: set %sAWS_ACCESS_KEY_ID or a file AWS_ACCESS_KEY_ID "
                            "in %sCREDENTIALS_DIR",
                            spec->env_prefix, spec->env_prefix);
    if (rc < 0)
        goto out;
    rc = stor_spec_secret(spec, "AWS_SECRET_ACCESS_KEY", b->creds.secret_key,
                          sizeof(b->creds.secret_key), err);
    if (rc == 0)
        rc = stor_error_set(err, STOR_ECONFIG,
                            "no secret key: set %sAWS_SECRET_ACCESS_KEY or a file "
                            "AWS_SECRET_ACCESS_KEY in %sCREDENTIALS_DIR",
                            spec->env_prefix, spec->env_prefix);
    if (rc < 0)
        goto out;
    rc = stor_spec_secret(spec, "AWS_SESSION_TOKEN", b->creds.session_token,
                          sizeof(b->creds.session_token), err);
    if (rc < 0)
        goto out;
    rc = 0;
    *out = &b->base;
    b = NULL;
out:
    if (b) {
        OPENSSL_cleanse(&b->creds, sizeof(b->creds));
        free(b);
    }
    return rc;
}

static void s3_close(struct stor_backend *b)
{
    if (!b)
        return;
    OPENSSL_cleanse(&s3(b)->creds, sizeof(s3(b)->creds));
    free(b);
}

/* ---- limits: AWS's, or what a Swift s3api proxy publishes at /info ---- */

static void read_swift_info(struct s3_backend *b)
{
    char url[700];
    struct stor_buf body;
    stor_buf_init(&body, 1u << 20);
    snprintf(url, sizeof(url), "%s/info", b->endpoint_display);
    CURL *easy = curl_easy_init();
    if (!easy)
        return;
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, stor__buf_collect);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &body);
    if (b->ca_file[0])
        curl_easy_setopt(easy, CURLOPT_CAINFO, b->ca_file);
    long status = 0;
    if (curl_easy_perform(easy) == CURLE_OK &&
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK && status == 200 &&
        body.data) {
        cJSON *j = cJSON_ParseWithLength(body.data, body.len);
        cJSON *s3api = cJSON_GetObjectItemCaseSensitive(j, "s3api");
        cJSON *mp = cJSON_GetObjectItemCaseSensitive(s3api, "max_upload_part_num");
        cJSON *ms = cJSON_GetObjectItemCaseSensitive(s3api, "min_segment_size");
        /* Range checks come before the conversions: a double beyond the
         * target type does not convert (undefined behaviour). */
        if (cJSON_IsNumber(mp) && mp->valuedouble >= 1 && mp->valuedouble <= 10000 && !b->max_parts)
            b->limits.max_parts = (unsigned)mp->valuedouble;
        if (cJSON_IsNumber(ms) && ms->valuedouble >= 1 && ms->valuedouble <= (double)(5ull << 30))
            b->limits.min_part_size = (uint64_t)ms->valuedouble;
        cJSON *swift = cJSON_GetObjectItemCaseSensitive(j, "swift");
        cJSON *mf = cJSON_GetObjectItemCaseSensitive(swift, "max_file_size");
        if (cJSON_IsNumber(mf) && mf->valuedouble >= 1 &&
            mf->valuedouble <= (double)STOR_SIZE_MAX) {
            b->limits.max_put_size = (uint64_t)mf->valuedouble;
            b->limits.max_copy_size = (uint64_t)mf->valuedouble;
        }
        cJSON_Delete(j);
    }
    curl_easy_cleanup(easy);
    stor_buf_free(&body);
}

static int s3_limits(struct stor_backend *sb, struct stor_limits *out, struct stor_error *err)
{
    (void)err;
    struct s3_backend *b = s3(sb);
    if (!b->limits_known) {
        b->limits.max_parts = b->max_parts ? b->max_parts : 10000;
        b->limits.min_part_size = 5ull << 20;
        b->limits.max_part_size = 5ull << 30;
        b->limits.max_put_size = 5ull << 30;
        b->limits.max_copy_size = 5ull << 30;
        /* Only a custom endpoint can be a Swift proxy; AWS has no /info. */
        if (b->path_style && !strstr(b->host, "amazonaws.com"))
            read_swift_info(b);
        if (b->limits.min_part_size < 5ull << 20)
            b->limits.min_part_size = 5ull << 20;
        b->limits.multipart_threshold = b->multipart_threshold;
        if (b->limits.multipart_threshold > b->limits.max_put_size)
            b->limits.multipart_threshold = b->limits.max_put_size;
        b->limits_known = 1;
    }
    *out = b->limits;
    return 0;
}

static int s3_same_account(const struct stor_backend *dst, const struct stor_backend *src)
{
    if (dst->ops != src->ops)
        return 0;
    const struct s3_backend *d = (const struct s3_backend *)dst;
    const struct s3_backend *s = (const struct s3_backend *)src;
    return strcmp(d->scheme, s->scheme) == 0 && strcmp(d->host, s->host) == 0 &&
           d->port == s->port && strcmp(d->region, s->region) == 0 &&
           strcmp(d->creds.access_key, s->creds.access_key) == 0 &&
           strcmp(d->creds.secret_key, s->creds.secret_key) == 0;
}

/* ---- request building ---- */

/* The encoded path of an object (or of the bucket when key is NULL). */
static int object_path(struct s3_backend *b, const char *key, struct stor_buf *out)
{
    int rc = stor_buf_append(out, "/", 1);
    if (!rc && b->path_style) {
        rc = stor_uri_encode(out, b->base.spec.bucket, 0);
        if (!rc && key)
            rc = stor_buf_append(out, "/", 1);
    }
    if (!rc && key) {
        rc = stor_uri_encode(out, b->base.spec.prefix, 1);
        if (!rc)
            rc = stor_uri_encode(out, key, 1);
    }
    return rc;
}

static void host_header(struct s3_backend *b, char *buf, size_t cap)
{
    const char *bucket = b->path_style ? "" : b->base.spec.bucket;
    const char *dot = b->path_style ? "" : ".";
    if (b->port)
        snprintf(buf, cap, "%s%s%s:%ld", bucket, dot, b->host, b->port);
    else
        snprintf(buf, cap, "%s%s%s", bucket, dot, b->host);
}

struct s3_request {
    const char *method;
    const char *key; /* NULL: the bucket */
    struct stor_sigv4_param params[6];
    size_t nparams;
    struct stor_sigv4_header extra[6];
    size_t nextra;
    const char *payload_hash; /* NULL: UNSIGNED-PAYLOAD */
};

/* Signs `r` and configures `easy` with URL, method and headers (into req). */
static int build(struct s3_backend *b, CURL *easy, struct stor_req *req, const struct s3_request *r,
                 struct stor_error *err)
{
    int rc = 0;
    struct stor_buf path, query, url;
    stor_buf_init(&path, 4 * STOR_KEY_MAX + 1024);
    stor_buf_init(&query, 64 * 1024);
    stor_buf_init(&url, 128 * 1024);
    char host[600], date[17], authz[1024];
    host_header(b, host, sizeof(host));
    stor_sigv4_amz_date(time(NULL), date);
    const char *payload = r->payload_hash ? r->payload_hash : "UNSIGNED-PAYLOAD";

    rc = object_path(b, r->key, &path);
    if (!rc)
        rc = stor_sigv4_query(r->params, r->nparams, &query);
    if (rc) {
        rc = stor_error_set(err, STOR_ENOMEM, "request too large");
        goto out;
    }
    struct stor_sigv4_header h[16];
    size_t nh = 0;
    h[nh++] = (struct stor_sigv4_header){"host", host};
    h[nh++] = (struct stor_sigv4_header){"x-amz-content-sha256", payload};
    h[nh++] = (struct stor_sigv4_header){"x-amz-date", date};
    if (b->creds.session_token[0])
        h[nh++] = (struct stor_sigv4_header){"x-amz-security-token", b->creds.session_token};
    for (size_t i = 0; i < r->nextra; i++)
        h[nh++] = r->extra[i];
    rc = stor_sigv4_sign(&b->creds, b->region, "s3", date, r->method, path.data, query.data, h, nh,
                         payload, authz, sizeof(authz), NULL);
    if (rc) {
        rc = stor_error_set(err, STOR_ECONFIG, "cannot sign the request");
        goto out;
    }
    rc = stor_buf_appendf(&url, "%s://%s%s%s%s", b->scheme, host, path.data, query.len ? "?" : "",
                          query.data);
    if (rc) {
        rc = stor_error_set(err, STOR_ENOMEM, "URL too long");
        goto out;
    }
    curl_easy_setopt(easy, CURLOPT_URL, url.data);
    if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "PUT") != 0 &&
        strcmp(r->method, "HEAD") != 0)
        curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, r->method);
    if (strcmp(r->method, "HEAD") == 0)
        curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
    if (b->ca_file[0])
        curl_easy_setopt(easy, CURLOPT_CAINFO, b->ca_file);
    for (size_t i = 1; i < nh && !rc; i++) /* curl sends Host itself */
        rc = stor_req_add_header(req, h[i].name, h[i].value);
    if (!rc)
        rc = stor_req_add_header(req, "Authorization", authz);
    if (rc)
        rc = stor_error_set(err, STOR_ENOMEM, "out of memory");
out:
    OPENSSL_cleanse(authz, sizeof(authz));
    stor_buf_free(&path);
    stor_buf_free(&query);
    stor_buf_free(&url);
    return rc;
}

/* x-amz-copy-source: /<bucket>/<encoded source key>. */
static int copy_source(struct stor_req *req, char *buf, size_t cap)
{
    struct s3_backend *src = s3(req->src);
    struct stor_buf k;
    stor_buf_init(&k, 4 * STOR_KEY_MAX + 1024);
    int rc = stor_buf_append(&k, "/", 1);
    if (!rc)
        rc = stor_uri_encode(&k, src->base.spec.bucket, 0);
    if (!rc)
        rc = stor_buf_append(&k, "/", 1);
    if (!rc)
        rc = stor_uri_encode(&k, src->base.spec.prefix, 1);
    if (!rc)
        rc = stor_uri_encode(&k, req->src_key, 1);
    if (!rc && k.len >= cap)
        rc = STOR_ENOMEM;
    if (!rc)
        stor_strlcpy(buf, k.data, cap);
    stor_buf_free(&k);
    return rc;
}

static int s3_setup(struct stor_backend *sb, CURL *easy, struct stor_req *req,
                    struct stor_error *err)
{
    struct s3_backend *b = s3(sb);
    struct s3_request r;
    memset(&r, 0, sizeof(r));
    char range[80], partno[16], prefix[2 * STOR_KEY_MAX + 2], after[2 * STOR_KEY_MAX + 2];
    char copysrc[4 * STOR_KEY_MAX + 600], hash[65];
    r.key = req->key;
    switch (req->op) {
    case STOR_OP_GET:
        r.method = "GET";
        if (req->offset || req->length) {
            if (req->length)
                snprintf(range, sizeof(range), "bytes=%llu-%llu", (unsigned long long)req->offset,
                         (unsigned long long)(req->offset + req->length - 1));
            else
                snprintf(range, sizeof(range), "bytes=%llu-", (unsigned long long)req->offset);
            r.extra[r.nextra++] = (struct stor_sigv4_header){"range", range};
        }
        break;
    case STOR_OP_PUT:
        r.method = "PUT";
        break;
    case STOR_OP_HEAD:
        r.method = "HEAD";
        break;
    case STOR_OP_DELETE:
        r.method = "DELETE";
        break;
    case STOR_OP_LIST:
        r.method = "GET";
        r.key = NULL;
        snprintf(prefix, sizeof(prefix), "%s%s", sb->spec.prefix,
                 req->list_prefix ? req->list_prefix : "");
        r.params[r.nparams++] = (struct stor_sigv4_param){"list-type", "2"};
        r.params[r.nparams++] = (struct stor_sigv4_param){"max-keys", "1000"};
        if (prefix[0])
            r.params[r.nparams++] = (struct stor_sigv4_param){"prefix", prefix};
        if (req->list_marker && req->list_marker[0]) {
            snprintf(after, sizeof(after), "%s%s", sb->spec.prefix, req->list_marker);
            r.params[r.nparams++] = (struct stor_sigv4_param){"start-after", after};
        }
        break;
    case STOR_OP_MPU_BEGIN:
        r.method = "POST";
        r.params[r.nparams++] = (struct stor_sigv4_param){"uploads", ""};
        curl_easy_setopt(easy, CURLOPT_POST, 1L);
        curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, 0L);
        curl_easy_setopt(easy, CURLOPT_COPYPOSTFIELDS, "");
        break;
    case STOR_OP_MPU_PART:
    case STOR_OP_COPY_PART:
        r.method = "PUT";
        snprintf(partno, sizeof(partno), "%u", req->part_number);
        r.params[r.nparams++] = (struct stor_sigv4_param){"partNumber", partno};
        r.params[r.nparams++] = (struct stor_sigv4_param){"uploadId", req->upload->upload_id};
        if (req->op == STOR_OP_COPY_PART) {
            if (copy_source(req, copysrc, sizeof(copysrc)))
                return stor_error_set(err, STOR_ENOMEM, "copy source too long");
            snprintf(range, sizeof(range), "bytes=%llu-%llu", (unsigned long long)req->offset,
                     (unsigned long long)(req->offset + req->length - 1));
            r.extra[r.nextra++] = (struct stor_sigv4_header){"x-amz-copy-source", copysrc};
            r.extra[r.nextra++] = (struct stor_sigv4_header){"x-amz-copy-source-range", range};
            stor__empty_upload(easy);
            r.payload_hash = STOR_SIGV4_EMPTY_SHA256;
        }
        break;
    case STOR_OP_MPU_COMMIT: {
        r.method = "POST";
        r.params[r.nparams++] = (struct stor_sigv4_param){"uploadId", req->upload->upload_id};
        struct stor_buf body;
        stor_buf_init(&body, 16u << 20);
        int rc = stor_buf_append(&body, "<CompleteMultipartUpload>", 25);
        for (unsigned i = 0; i < req->upload->nparts && !rc; i++)
            rc = stor_buf_appendf(&body,
                                  "<Part><PartNumber>%u</PartNumber><ETag>\"%s\"</ETag></Part>",
                                  i + 1, req->upload->etags[i]);
        if (!rc)
            rc = stor_buf_append(&body, "</CompleteMultipartUpload>", 26);
        if (rc) {
            stor_buf_free(&body);
            return stor_error_set(err, STOR_ENOMEM, "out of memory");
        }
        stor_sha256_hex(body.data, body.len, hash);
        r.payload_hash = hash;
        curl_easy_setopt(easy, CURLOPT_POST, 1L);
        curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, (long)body.len);
        curl_easy_setopt(easy, CURLOPT_COPYPOSTFIELDS, body.data);
        stor_buf_free(&body);
        break;
    }
    case STOR_OP_MPU_ABORT:
        r.method = "DELETE";
        r.params[r.nparams++] = (struct stor_sigv4_param){"uploadId", req->upload->upload_id};
        break;
    case STOR_OP_COPY:
        r.method = "PUT";
        if (copy_source(req, copysrc, sizeof(copysrc)))
            return stor_error_set(err, STOR_ENOMEM, "copy source too long");
        r.extra[r.nextra++] = (struct stor_sigv4_header){"x-amz-copy-source", copysrc};
        stor__empty_upload(easy);
        r.payload_hash = STOR_SIGV4_EMPTY_SHA256;
        break;
    default:
        return stor_error_set(err, STOR_ENOTSUP, "operation not supported by s3");
    }
    if (req->op == STOR_OP_PUT || req->op == STOR_OP_MPU_PART) {
        /* An empty body is sent as Content-Length: 0; hash it like any other. */
        if (req->length == 0)
            r.payload_hash = STOR_SIGV4_EMPTY_SHA256;
    }
    return build(b, easy, req, &r, err);
}

/* ---- responses ---- */

/* Unescapes XML text (the five entities and numeric references). */
static void xml_unescape(const char *in, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 4 < cap;) {
        if (in[i] == '&') {
            const char *semi = memchr(in + i, ';', n - i);
            size_t el = semi ? (size_t)(semi - (in + i)) + 1 : 0;
            if (el == 5 && strncmp(in + i, "&amp;", 5) == 0) {
                out[o++] = '&';
            } else if (el == 4 && strncmp(in + i, "&lt;", 4) == 0) {
                out[o++] = '<';
            } else if (el == 4 && strncmp(in + i, "&gt;", 4) == 0) {
                out[o++] = '>';
            } else if (el == 6 && strncmp(in + i, "&quot;", 6) == 0) {
                out[o++] = '"';
            } else if (el == 6 && strncmp(in + i, "&apos;", 6) == 0) {
                out[o++] = '\'';
            } else if (el > 3 && in[i + 1] == '#') {
                char num[16];
                size_t nl = el - 3 < sizeof(num) - 1 ? el - 3 : sizeof(num) - 1;
                memcpy(num, in + i + 2, nl);
                num[nl] = '\0';
                long cp = num[0] == 'x' ? strtol(num + 1, NULL, 16) : strtol(num, NULL, 10);
                /* XML forbids NUL, surrogates and values past U+10FFFF; a NUL
                 * would also cut the key short (another object's name). */
                if (cp <= 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
                    cp = 0xFFFD;
                /* UTF-8 encode the code point. */
                if (cp < 0x80) {
                    out[o++] = (char)cp;
                } else if (cp < 0x800) {
                    out[o++] = (char)(0xC0 | (cp >> 6));
                    out[o++] = (char)(0x80 | (cp & 0x3F));
                } else if (cp < 0x10000) {
                    out[o++] = (char)(0xE0 | (cp >> 12));
                    out[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                    out[o++] = (char)(0x80 | (cp & 0x3F));
                } else {
                    out[o++] = (char)(0xF0 | (cp >> 18));
                    out[o++] = (char)(0x80 | ((cp >> 12) & 0x3F));
                    out[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                    out[o++] = (char)(0x80 | (cp & 0x3F));
                }
            } else {
                out[o++] = '&';
                i++;
                continue;
            }
            i += el;
            continue;
        }
        out[o++] = in[i++];
    }
    out[o] = '\0';
}

/* Finds <tag>text</tag> in [p, end); returns a pointer past it or NULL. */
static const char *xml_find(const char *p, const char *end, const char *tag, const char **text,
                            size_t *len)
{
    char open[64], close[64];
    snprintf(open, sizeof(open), "<%s>", tag);
    snprintf(close, sizeof(close), "</%s>", tag);
    size_t ol = strlen(open), cl = strlen(close);
    const char *s = p;
    while (s && s + ol <= end) {
        s = memmem(s, (size_t)(end - s), open, ol);
        if (!s)
            return NULL;
        const char *t = s + ol;
        const char *e = memmem(t, (size_t)(end - t), close, cl);
        if (!e)
            return NULL;
        *text = t;
        *len = (size_t)(e - t);
        return e + cl;
    }
    return NULL;
}

static int xml_get(const char *p, const char *end, const char *tag, char *out, size_t cap)
{
    const char *t;
    size_t n;
    if (!xml_find(p, end, tag, &t, &n)) {
        out[0] = '\0';
        return 0;
    }
    xml_unescape(t, n, out, cap);
    return 1;
}

/* An error response: the status, and S3's <Code>/<Message> when present. */
static int s3_error(struct stor_req *req, struct stor_error *err, const char *what)
{
    char code[64] = "", msg[300] = "";
    const char *body = req->resp_body.data;
    if (body) {
        const char *end = body + req->resp_body.len;
        xml_get(body, end, "Code", code, sizeof(code));
        xml_get(body, end, "Message", msg, sizeof(msg));
    }
    int rc = stor_errcode_for_status(req->status);
    if (!rc)
        rc = STOR_EHTTP; /* a 200 carrying an <Error> (CompleteMultipartUpload, CopyObject) */
    if (strcmp(code, "NoSuchBucket") == 0)
        rc = STOR_ENOBUCKET;
    else if (strcmp(code, "SignatureDoesNotMatch") == 0 ||
             strcmp(code, "InvalidAccessKeyId") == 0 || strcmp(code, "InvalidToken") == 0 ||
             strcmp(code, "ExpiredToken") == 0)
        rc = STOR_EAUTH;
    else if (strcmp(code, "SlowDown") == 0)
        rc = STOR_ETHROTTLE;
    else if (strcmp(code, "InternalError") == 0)
        rc = STOR_ESERVER;
    stor_error_set(err, rc, "%s %s: HTTP %ld %s%s%s", what, req->key ? req->key : "", req->status,
                   code, msg[0] ? ": " : "", msg);
    err->http_status = req->status;
    stor_strlcpy(err->server_code, code, sizeof(err->server_code));
    return rc;
}

static int parse_list(struct stor_backend *sb, struct stor_req *req, struct stor_error *err)
{
    const char *p = req->resp_body.data;
    if (!p)
        return stor_error_set(err, STOR_EDECODE, "empty listing response");
    const char *end = p + req->resp_body.len;
    size_t plen = strlen(sb->spec.prefix);
    char truncated[16] = "";
    xml_get(p, end, "IsTruncated", truncated, sizeof(truncated));
    req->list_done = strcmp(truncated, "true") != 0;
    req->list_next[0] = '\0';
    const char *c;
    size_t cl;
    char key[3 * STOR_KEY_MAX];
    while ((p = xml_find(p, end, "Contents", &c, &cl)) != NULL) {
        const char *ce = c + cl;
        struct stor_entry e;
        memset(&e, 0, sizeof(e));
        char v[128];
        if (!xml_get(c, ce, "Key", key, sizeof(key)))
            return stor_error_set(err, STOR_EDECODE, "listing entry without a Key");
        if (strncmp(key, sb->spec.prefix, plen) != 0 || strlen(key + plen) > STOR_KEY_MAX)
            continue;
        stor_strlcpy(e.key, key + plen, sizeof(e.key));
        stor_strlcpy(req->list_next, e.key, sizeof(req->list_next));
        if (xml_get(c, ce, "Size", v, sizeof(v)) &&
            (stor_parse_u64(v, &e.size) || e.size > STOR_SIZE_MAX))
            return stor_error_set(err, STOR_EDECODE, "bad Size in the listing entry of %.300s",
                                  key);
        if (xml_get(c, ce, "ETag", v, sizeof(v)))
            stor_etag_norm(v, e.etag, sizeof(e.etag));
        if (xml_get(c, ce, "LastModified", v, sizeof(v)))
            e.mtime = stor_parse_time(v);
        if (e.key[0] && req->emit && req->emit(req->emit_ctx, &e))
            return stor_error_set(err, STOR_ESTOPPED, "listing stopped");
    }
    if (!req->list_done && !req->list_next[0])
        return stor_error_set(err, STOR_EDECODE, "truncated listing page without keys");
    return 0;
}

static int s3_finish(struct stor_backend *sb, CURL *easy, struct stor_req *req,
                     struct stor_error *err)
{
    (void)easy;
    char v[256];
    int ok = req->status >= 200 && req->status < 300;
    switch (req->op) {
    case STOR_OP_GET:
        if (!ok)
            return s3_error(req, err, "GET");
        return 0;
    case STOR_OP_PUT:
    case STOR_OP_MPU_PART:
        if (!ok)
            return s3_error(req, err, req->op == STOR_OP_PUT ? "PUT" : "UploadPart");
        if (stor_req_header(req, "etag", v, sizeof(v)))
            stor_etag_norm(v, req->entry.etag, sizeof(req->entry.etag));
        if (req->op == STOR_OP_MPU_PART) {
            if (!req->entry.etag[0])
                return stor_error_set(err, STOR_EDECODE, "UploadPart answered without an ETag");
            stor_strlcpy(req->upload->etags[req->part_number - 1], req->entry.etag, STOR_ETAG_MAX);
        }
        return 0;
    case STOR_OP_HEAD:
        if (!ok) {
            int rc = stor_error_set(err, stor_errcode_for_status(req->status), "HEAD %s: HTTP %ld",
                                    req->key, req->status);
            err->http_status = req->status;
            return rc;
        }
        return stor__head_entry(req, err);
    case STOR_OP_DELETE:
    case STOR_OP_MPU_ABORT:
        if (!ok)
            return s3_error(req, err, "DELETE");
        return 0;
    case STOR_OP_LIST:
        if (!ok)
            return s3_error(req, err, "LIST");
        return parse_list(sb, req, err);
    case STOR_OP_MPU_BEGIN: {
        if (!ok)
            return s3_error(req, err, "CreateMultipartUpload");
        const char *p = req->resp_body.data;
        if (!p ||
            !xml_get(p, p + req->resp_body.len, "UploadId", req->upload->upload_id,
                     sizeof(req->upload->upload_id)) ||
            !req->upload->upload_id[0])
            return stor_error_set(err, STOR_EDECODE, "CreateMultipartUpload without an UploadId");
        return 0;
    }
    case STOR_OP_MPU_COMMIT:
    case STOR_OP_COPY:
    case STOR_OP_COPY_PART: {
        const char *what = req->op == STOR_OP_MPU_COMMIT ? "CompleteMultipartUpload"
                           : req->op == STOR_OP_COPY     ? "CopyObject"
                                                         : "UploadPartCopy";
        const char *p = req->resp_body.data;
        /* These can fail after a 200: the error is then in the body. */
        if (!ok || (p && strstr(p, "<Error>")))
            return s3_error(req, err, what);
        if (p && xml_get(p, p + req->resp_body.len, "ETag", v, sizeof(v)))
            stor_etag_norm(v, req->entry.etag, sizeof(req->entry.etag));
        if (req->op == STOR_OP_COPY_PART) {
            if (!req->entry.etag[0])
                return stor_error_set(err, STOR_EDECODE, "UploadPartCopy without an ETag");
            stor_strlcpy(req->upload->etags[req->part_number - 1], req->entry.etag, STOR_ETAG_MAX);
        }
        return 0;
    }
    default:
        return stor_error_set(err, STOR_ENOTSUP, "operation not supported by s3");
    }
}

const struct stor_backend_ops stor_s3_ops = {
    .scheme = "s3",
    .open = s3_open,
    .close = s3_close,
    .limits = s3_limits,
    .same_account = s3_same_account,
    .setup = s3_setup,
    .finish = s3_finish,
};
