/*
 * CA and serving certificate generation with OpenSSL 3's EVP APIs, and the
 * kubeconfig writer (see sim_tls.h). Keys are ECDSA P-256: fast to generate,
 * accepted by Go's crypto/tls (kubectl), libcurl and libwebsockets.
 */
#include "sim_tls.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_util.h"

static char *bio_to_string(BIO *b)
{
    char *data = NULL;
    long n = BIO_get_mem_data(b, &data);
    char *out;
    if (n < 0)
        return NULL;
    out = malloc((size_t)n + 1);
    if (!out)
        return NULL;
    memcpy(out, data, (size_t)n);
    out[n] = '\0';
    return out;
}

static char *cert_pem(X509 *x)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *s = NULL;
    if (b && PEM_write_bio_X509(b, x))
        s = bio_to_string(b);
    BIO_free(b);
    return s;
}

static char *key_pem(EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *s = NULL;
    if (b && PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL))
        s = bio_to_string(b);
    BIO_free(b);
    return s;
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *ex;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    ex = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ex)
        return -1;
    X509_add_ext(cert, ex, -1);
    X509_EXTENSION_free(ex);
    return 0;
}

/* A certificate for `key`, signed by issuer_key (self-signed when issuer is NULL). */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, int ca)
{
    X509 *x = X509_new();
    unsigned char serial[16];
    BIGNUM *bn = NULL;
    X509_NAME *name;
    int rc = -1;
    if (!x)
        return NULL;
    if (RAND_bytes(serial, sizeof(serial)) != 1)
        goto out;
    serial[0] &= 0x7f;
    bn = BN_bin2bn(serial, sizeof(serial), NULL);
    if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)))
        goto out;
    X509_set_version(x, 2);
    /* Valid from an hour ago (clock skew) for ten years. */
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 10L * 365 * 24 * 3600);
    X509_set_pubkey(x, key);
    name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
    if (ca) {
        if (add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE") ||
            add_ext(x, x, NID_key_usage, "critical,digitalSignature,keyCertSign,cRLSign") ||
            add_ext(x, x, NID_subject_key_identifier, "hash"))
            goto out;
    } else {
        if (add_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE") ||
            add_ext(x, issuer, NID_key_usage, "critical,digitalSignature,keyEncipherment") ||
            add_ext(x, issuer, NID_ext_key_usage, "serverAuth") ||
            add_ext(x, issuer, NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost") ||
            add_ext(x, issuer, NID_authority_key_identifier, "keyid:always"))
            goto out;
    }
    if (!X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()))
        goto out;
    rc = 0;
out:
    BN_free(bn);
    if (rc != 0) {
        X509_free(x);
        return NULL;
    }
    return x;
}

static X509 *load_cert(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    return x;
}

static EVP_PKEY *load_key(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    return k;
}

int sim_tls_init(const char *state_dir, struct sim_tls *out)
{
    char ca_path[4096], key_path[4096];
    char *ca_text = NULL, *ca_key_text = NULL;
    EVP_PKEY *ca_key = NULL, *srv_key = NULL;
    X509 *ca = NULL, *srv = NULL;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    snprintf(ca_path, sizeof(ca_path), "%s/ca.crt", state_dir);
    snprintf(key_path, sizeof(key_path), "%s/ca.key", state_dir);
    ca_text = sim_read_file(ca_path, NULL);
    ca_key_text = sim_read_file(key_path, NULL);
    if (ca_text && ca_key_text) {
        ca = load_cert(ca_text);
        ca_key = load_key(ca_key_text);
    }
    if (!ca || !ca_key) {
        X509_free(ca);
        EVP_PKEY_free(ca_key);
        ca_key = EVP_EC_gen("P-256");
        ca = ca_key ? make_cert(ca_key, "kubesim-ca", NULL, NULL, 1) : NULL;
        if (!ca) {
            fprintf(stderr, "kubesim: cannot create the CA\n");
            goto out;
        }
        free(ca_text);
        free(ca_key_text);
        ca_text = cert_pem(ca);
        ca_key_text = key_pem(ca_key);
        if (!ca_text || !ca_key_text ||
            sim_write_file(key_path, ca_key_text, strlen(ca_key_text), 0600) != 0 ||
            sim_write_file(ca_path, ca_text, strlen(ca_text), 0644) != 0) {
            fprintf(stderr, "kubesim: cannot write the CA into %s\n", state_dir);
            goto out;
        }
    }
    srv_key = EVP_EC_gen("P-256");
    srv = srv_key ? make_cert(srv_key, "kubesim", ca, ca_key, 0) : NULL;
    if (!srv) {
        fprintf(stderr, "kubesim: cannot create the serving certificate\n");
        goto out;
    }
    out->ca_pem = ca_text;
    ca_text = NULL;
    out->cert_pem = cert_pem(srv);
    out->key_pem = key_pem(srv_key);
    if (!out->cert_pem || !out->key_pem) {
        sim_tls_free(out);
        goto out;
    }
    rc = 0;
out:
    free(ca_text);
    if (ca_key_text) {
        OPENSSL_cleanse(ca_key_text, strlen(ca_key_text));
        free(ca_key_text);
    }
    X509_free(ca);
    X509_free(srv);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(srv_key);
    return rc;
}

void sim_tls_free(struct sim_tls *t)
{
    if (!t)
        return;
    free(t->ca_pem);
    free(t->cert_pem);
    if (t->key_pem) {
        OPENSSL_cleanse(t->key_pem, strlen(t->key_pem));
        free(t->key_pem);
    }
    memset(t, 0, sizeof(*t));
}

int sim_kubeconfig_write(const char *state_dir, int port, const char *ca_pem, const char *token)
{
    char path[4096];
    char *ca64 = sim_b64_encode(ca_pem, strlen(ca_pem));
    char *text = NULL;
    int n, rc = -1;
    if (!ca64)
        return -1;
    n = asprintf(&text,
                 "apiVersion: v1\n"
                 "kind: Config\n"
                 "clusters:\n"
                 "- name: kubesim\n"
                 "  cluster:\n"
                 "    server: https://127.0.0.1:%d\n"
                 "    certificate-authority-data: %s\n"
                 "users:\n"
                 "- name: admin\n"
                 "  user:\n"
                 "    token: %s\n"
                 "contexts:\n"
                 "- name: kubesim\n"
                 "  context:\n"
                 "    cluster: kubesim\n"
                 "    user: admin\n"
                 "    namespace: default\n"
                 "current-context: kubesim\n",
                 port, ca64, token);
    if (n < 0) {
        text = NULL;
        goto out;
    }
    snprintf(path, sizeof(path), "%s/kubeconfig", state_dir);
    rc = sim_write_file(path, text, (size_t)n, 0600);
out:
    free(ca64);
    if (text) {
        OPENSSL_cleanse(text, strlen(text));
        free(text);
    }
    return rc;
}
