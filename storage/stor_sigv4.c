/*
 * AWS Signature Version 4, header form. The steps follow the public spec:
 * canonical request -> string to sign -> key derived from the secret, date,
 * region and service -> HMAC. The derived key is wiped after use.
 */
#include "stor_sigv4.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stor_internal.h"

#define MAX_SIGNED_HEADERS 32

void stor_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
    stor_hex(md, 32, out);
}

void stor_sigv4_amz_date(time_t t, char out[17])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

struct qparam {
    char *name;
    char *value;
};

static int qparam_cmp(const void *a, const void *b)
{
    const struct qparam *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->value, y->value);
}

int stor_sigv4_query(const struct stor_sigv4_param *params, size_t n, struct stor_buf *out)
{
    int rc = 0;
    struct qparam *q = calloc(n ? n : 1, sizeof(*q));
    if (!q)
        return STOR_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        struct stor_buf nb, vb;
        stor_buf_init(&nb, STOR_KEY_MAX * 3 + 64);
        stor_buf_init(&vb, 16384);
        rc = stor_uri_encode(&nb, params[i].name, 0);
        if (!rc)
            rc = stor_uri_encode(&vb, params[i].value ? params[i].value : "", 0);
        q[i].name = nb.data;
        q[i].value = vb.data;
        if (rc)
            goto out;
    }
    qsort(q, n, sizeof(*q), qparam_cmp);
    for (size_t i = 0; i < n && !rc; i++)
        rc = stor_buf_appendf(out, "%s%s=%s", i ? "&" : "", q[i].name, q[i].value);
    if (!rc && !out->data)
        rc = stor_buf_append(out, "", 0);
out:
    for (size_t i = 0; i < n; i++) {
        free(q[i].name);
        free(q[i].value);
    }
    free(q);
    return rc;
}

/* Appends a header value trimmed, with inner runs of spaces collapsed. */
static int append_trimmed(struct stor_buf *b, const char *v)
{
    while (*v == ' ' || *v == '\t')
        v++;
    int space = 0;
    for (; *v; v++) {
        if (*v == ' ' || *v == '\t') {
            space = 1;
            continue;
        }
        if (space) {
            if (stor_buf_append(b, " ", 1))
                return STOR_ENOMEM;
            space = 0;
        }
        if (stor_buf_append(b, v, 1))
            return STOR_ENOMEM;
    }
    return 0;
}

static int hmac(const void *key, size_t klen, const void *data, size_t dlen, unsigned char out[32])
{
    unsigned int len = 0;
    if (!HMAC(EVP_sha256(), key, (int)klen, data, dlen, out, &len) || len != 32)
        return STOR_ENOMEM;
    return 0;
}

int stor_sigv4_sign(const struct stor_sigv4_creds *creds, const char *region, const char *service,
                    const char *amz_date, const char *method, const char *canonical_uri,
                    const char *canonical_query, const struct stor_sigv4_header *headers,
                    size_t nheaders, const char *payload_hash, char *authz, size_t cap,
                    struct stor_buf *canonical_out)
{
    int rc = 0;
    char names[MAX_SIGNED_HEADERS][64];
    size_t order[MAX_SIGNED_HEADERS];
    struct stor_buf creq, sts, signed_hdrs;
    stor_buf_init(&creq, 1u << 20);
    stor_buf_init(&sts, 4096);
    stor_buf_init(&signed_hdrs, 4096);
    char date[9];
    unsigned char k1[32], k2[32], k3[32], k4[32], sig[32];
    char ksecret[300];

    if (nheaders > MAX_SIGNED_HEADERS || strlen(amz_date) < 8)
        return STOR_EARG;
    memcpy(date, amz_date, 8);
    date[8] = '\0';
    for (size_t i = 0; i < nheaders; i++) {
        size_t j = 0;
        for (; headers[i].name[j] && j + 1 < sizeof(names[i]); j++)
            names[i][j] = (char)tolower((unsigned char)headers[i].name[j]);
        names[i][j] = '\0';
        /* Insertion sort by name, stable: repeated names keep their order. */
        size_t k = i;
        while (k > 0 && strcmp(names[order[k - 1]], names[i]) > 0) {
            order[k] = order[k - 1];
            k--;
        }
        order[k] = i;
    }

    rc = stor_buf_appendf(&creq, "%s\n%s\n%s\n", method, canonical_uri,
                          canonical_query ? canonical_query : "");
    for (size_t i = 0; i < nheaders && !rc; i++) {
        size_t h = order[i];
        int repeat = i > 0 && strcmp(names[order[i - 1]], names[h]) == 0;
        if (repeat) {
            /* Same name as the previous one: join the values with a comma. */
            creq.len--; /* drop the '\n' */
            rc = stor_buf_append(&creq, ",", 1);
        } else {
            rc = stor_buf_appendf(&creq, "%s:", names[h]);
            if (!rc)
                rc = stor_buf_appendf(&signed_hdrs, "%s%s", signed_hdrs.len ? ";" : "", names[h]);
        }
        if (!rc)
            rc = append_trimmed(&creq, headers[h].value);
        if (!rc)
            rc = stor_buf_append(&creq, "\n", 1);
    }
    if (!rc)
        rc = stor_buf_appendf(&creq, "\n%s\n%s", signed_hdrs.data ? signed_hdrs.data : "",
                              payload_hash);
    if (rc)
        goto out;

    char creq_hash[65];
    stor_sha256_hex(creq.data, creq.len, creq_hash);
    rc = stor_buf_appendf(&sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s", amz_date, date,
                          region, service, creq_hash);
    if (rc)
        goto out;

    int kl = snprintf(ksecret, sizeof(ksecret), "AWS4%s", creds->secret_key);
    if (kl < 0 || (size_t)kl >= sizeof(ksecret)) {
        rc = STOR_EARG;
        goto out;
    }
    rc = hmac(ksecret, (size_t)kl, date, strlen(date), k1);
    if (!rc)
        rc = hmac(k1, 32, region, strlen(region), k2);
    if (!rc)
        rc = hmac(k2, 32, service, strlen(service), k3);
    if (!rc)
        rc = hmac(k3, 32, "aws4_request", 12, k4);
    if (!rc)
        rc = hmac(k4, 32, sts.data, sts.len, sig);
    if (rc)
        goto out;
    char sighex[65];
    stor_hex(sig, 32, sighex);
    int n = snprintf(authz, cap,
                     "AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=%s, "
                     "Signature=%s",
                     creds->access_key, date, region, service, signed_hdrs.data, sighex);
    if (n < 0 || (size_t)n >= cap)
        rc = STOR_ENOMEM;
    if (!rc && canonical_out)
        rc = stor_buf_append(canonical_out, creq.data, creq.len);
out:
    OPENSSL_cleanse(ksecret, sizeof(ksecret));
    OPENSSL_cleanse(k1, sizeof(k1));
    OPENSSL_cleanse(k2, sizeof(k2));
    OPENSSL_cleanse(k3, sizeof(k3));
    OPENSSL_cleanse(k4, sizeof(k4));
    stor_buf_free(&creq);
    stor_buf_free(&sts);
    stor_buf_free(&signed_hdrs);
    return rc;
}
