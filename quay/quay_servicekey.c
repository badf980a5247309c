/*
 * quay_servicekey: RSA service keys for Quay's read-only mode and the SQL
 * that registers, extends and ends them (see quay_servicekey.h).
 *
 * Quay facts this file relies on, read in quay/quay with the code search
 * (2024-2025 sources; commits as the index stored them):
 *  - data/database.py (7a20612d): ServiceKeyApproval(approver NULL-able,
 *    approval_type CharField, approved_date default datetime.utcnow, notes
 *    TextField default ""), ServiceKey(name, kid unique, service, jwk and
 *    metadata as JSONField = json.dumps text, created_date default utcnow,
 *    expiration_date NULL-able, rotation_duration NULL-able, approval FK
 *    NULL-able). Enum ServiceKeyApprovalType.AUTOMATIC is stored by peewee as
 *    str(enum) = "ServiceKeyApprovalType.AUTOMATIC" (the seed's psql output
 *    shows exactly that).
 *  - data/model/service_keys.py (16bef067): _list_service_keys_query —
 *    approved_only: approval IS NOT NULL; alive_only: expiration_date >
 *    utcnow() OR NULL; service filter; keys expired for more than
 *    EXPIRED_SERVICE_KEY_TTL_SEC (a week) are hidden and later deleted.
 *  - boot.py: in readonly mode the legacy path reads the .kid file WITHOUT
 *    stripping and needs get_service_key(kid, approved_only=False) (alive);
 *    the newer path (INSTANCE_SERVICE_KEY_IMPORT_FROM_FILES) strips the .kid,
 *    requires it to equal authlib's RFC 7638 thumbprint of the PEM, and needs
 *    get_service_key(kid, service=INSTANCE_SERVICE_KEY_SERVICE,
 *    approved_only=True, alive_only=True) with matching n/e.
 *  - util/security/instancekeys.py (33f9fb48): token verification lists
 *    list_service_keys(INSTANCE_SERVICE_KEY_SERVICE): approved + alive.
 *  - config.py: INSTANCE_SERVICE_KEY_SERVICE = "quay".
 *  - tools/generatekeypair.py (92d8059b) + util/security/fingerprint.py:
 *    kid = sha256(canonical JSON of the JWK).hexdigest() — NOT RFC 7638;
 *    only the legacy boot path accepts such a kid, so we use RFC 7638.
 *  - boot.py writes the PEM as PKCS#1 (TraditionalOpenSSL); so do we.
 *
 * Everything here is OpenSSL 3 EVP / provider API (no RSA_* calls).
 */
#include "quay_servicekey.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/encoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "k8s_buf.h"
#include "quay_target.h"

/* ---- errors ------------------------------------------------------------------------- */

static int sk_fail(struct k8s_error *err, int code, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int sk_fail(struct k8s_error *err, int code, const char *reason, const char *fmt, ...)
{
    char msg[sizeof(((struct k8s_error *)0)->message)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (!err)
        return code;
    k8s_error_set(err, code, "%s", msg);
    snprintf(err->reason, sizeof(err->reason), "%s", reason);
    return code;
}

/*
 * An OpenSSL failure: the library's reason string (e.g. "PEM routines::no
 * start line") names what went wrong without echoing any input, so it is
 * safe to show. The thread's error queue is emptied so a later call does not
 * report a stale error.
 */
static int sk_crypto_fail(struct k8s_error *err, int code, const char *reason, const char *what)
{
    unsigned long e = ERR_peek_last_error();
    char detail[256] = "no detail from OpenSSL";
    if (e)
        ERR_error_string_n(e, detail, sizeof(detail));
    ERR_clear_error();
    return sk_fail(err, code, reason, "%s: %s", what, detail);
}

static int sk_nomem(struct k8s_error *err)
{
    return sk_fail(err, K8S_ENOMEM, QUAY_SK_R_NOMEM, "out of memory");
}

/* ---- base64url ---------------------------------------------------------------------- */

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Unpadded base64url of `in` into `out` (cap bytes with NUL); 0 or -1 if it does not fit. */
static int b64url_encode(const unsigned char *in, size_t len, char *out, size_t cap)
{
    size_t need = (len / 3) * 4 + (len % 3 ? len % 3 + 1 : 0);
    if (need + 1 > cap)
        return -1;
    size_t o = 0, i = 0;
    for (; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64url_alphabet[(v >> 18) & 63];
        out[o++] = b64url_alphabet[(v >> 12) & 63];
        out[o++] = b64url_alphabet[(v >> 6) & 63];
        out[o++] = b64url_alphabet[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = b64url_alphabet[(v >> 18) & 63];
        out[o++] = b64url_alphabet[(v >> 12) & 63];
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = b64url_alphabet[(v >> 18) & 63];
        out[o++] = b64url_alphabet[(v >> 12) & 63];
        out[o++] = b64url_alphabet[(v >> 6) & 63];
    }
    out[o] = '\0';
    return 0;
}

static int is_b64url_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

static int is_b64url(const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!is_b64url_char((unsigned char)s[i]))
            return 0;
    return 1;
}

/* ---- keys --------------------------------------------------------------------------- */

int quay_jwk_rsa_thumbprint(const char *n_b64, const char *e_b64, char kid[QUAY_SK_KID_LEN + 1],
                            struct k8s_error *err)
{
    int rc = 0;
    char canon[QUAY_SK_MAX_N_B64 + QUAY_SK_MAX_E_B64 + 64];
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    if (!is_b64url(n_b64, QUAY_SK_MAX_N_B64) || !is_b64url(e_b64, QUAY_SK_MAX_E_B64)) {
        rc = sk_fail(err, K8S_EARG, QUAY_SK_R_BAD_VALUE,
                     "an RSA JWK needs base64url \"n\" and \"e\" members");
        goto out;
    }
    /* RFC 7638 section 3.2: the required members only, in lexicographic
     * order, no whitespace. Base64url needs no JSON escaping. */
    int n =
        snprintf(canon, sizeof(canon), "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", e_b64, n_b64);
    if (n < 0 || (size_t)n >= sizeof(canon)) {
        rc = sk_fail(err, K8S_EARG, QUAY_SK_R_BAD_VALUE, "the JWK is too large");
        goto out;
    }
    if (!EVP_Digest(canon, (size_t)n, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32) {
        rc = sk_crypto_fail(err, K8S_EINTERNAL, QUAY_SK_R_CRYPTO, "SHA-256 of the JWK failed");
        goto out;
    }
    if (b64url_encode(md, mdlen, kid, QUAY_SK_KID_LEN + 1) != 0) {
        rc = sk_fail(err, K8S_EINTERNAL, QUAY_SK_R_CRYPTO, "thumbprint does not fit");
        goto out;
    }
out:
    return rc;
}

/* Writes the base64url of an RSA key parameter (big-endian, no leading zeros). */
static int rsa_param_b64(const EVP_PKEY *pkey, const char *param, char *out, size_t cap,
                         struct k8s_error *err)
{
    int rc = 0;
    BIGNUM *bn = NULL;
    unsigned char bin[1024];

    if (!EVP_PKEY_get_bn_param(pkey, param, &bn)) {
        rc = sk_crypto_fail(err, K8S_EINTERNAL, QUAY_SK_R_CRYPTO, "reading the RSA key failed");
        goto out;
    }
    int nbytes = BN_num_bytes(bn);
    if (nbytes <= 0 || (size_t)nbytes > sizeof(bin) || BN_bn2bin(bn, bin) != nbytes ||
        b64url_encode(bin, (size_t)nbytes, out, cap) != 0) {
        rc = sk_fail(err, K8S_EARG, QUAY_SK_R_BAD_VALUE,
                     "RSA parameter %s is out of the supported range", param);
        goto out;
    }
out:
    BN_free(bn);
    return rc;
}

/* PKCS#1 PEM of the private key, into a buffer the key owns. */
static int encode_pem(EVP_PKEY *pkey, struct quay_servicekey *k, struct k8s_error *err)
{
    int rc = 0;
    OSSL_ENCODER_CTX *ectx = NULL;
    /* A secure-memory BIO: OpenSSL wipes its buffer on growth and on free. */
    BIO *bio = BIO_new(BIO_s_secmem());
    char *data = NULL;

    if (!bio) {
        rc = sk_crypto_fail(err, K8S_ENOMEM, QUAY_SK_R_NOMEM, "creating a memory BIO failed");
        goto out;
    }
    /* "type-specific" is PKCS#1 for RSA ("BEGIN RSA PRIVATE KEY"), the form
     * Quay's boot.py and generatekeypair.py write. */
    ectx = OSSL_ENCODER_CTX_new_for_pkey(pkey, OSSL_KEYMGMT_SELECT_KEYPAIR, "PEM", "type-specific",
                                         NULL);
    if (!ectx || OSSL_ENCODER_CTX_get_num_encoders(ectx) == 0) {
        rc = sk_crypto_fail(err, K8S_EINTERNAL, QUAY_SK_R_CRYPTO,
                            "no PKCS#1 PEM encoder for the key");
        goto out;
    }
    if (!OSSL_ENCODER_to_bio(ectx, bio)) {
        rc = sk_crypto_fail(err, K8S_EINTERNAL, QUAY_SK_R_CRYPTO,
                            "encoding the private key as PEM failed");
        goto out;
    }
    long n = BIO_get_mem_data(bio, &data);
    if (n <= 0 || (size_t)n > QUAY_SK_MAX_PEM) {
        rc = sk_fail(err, K8S_EINTERNAL, QUAY_SK_R_CRYPTO, "the encoded private key has %ld bytes",
                     n);
        goto out;
    }
    k->pem = malloc((size_t)n + 1);
    if (!k->pem) {
        rc = sk_nomem(err);
        goto out;
    }
    memcpy(k->pem, data, (size_t)n);
    k->pem[n] = '\0';
    k->pem_len = (size_t)n;
out:
    OSSL_ENCODER_CTX_free(ectx);
    BIO_free(bio);
    return rc;
}

/* Fills a quay_servicekey from an RSA EVP_PKEY holding a private key. */
static int key_from_pkey(EVP_PKEY *pkey, struct quay_servicekey **out, struct k8s_error *err)
{
    int rc = 0;
    struct quay_servicekey *k = NULL;

    if (!EVP_PKEY_is_a(pkey, "RSA")) {
        rc = sk_fail(err, K8S_EARG, QUAY_SK_R_NOT_RSA,
                     "the service key must be an RSA key (Quay signs with RS256); got %s",
                     EVP_PKEY_get0_type_name(pkey) ? EVP_PKEY_get0_type_name(pkey) : "unknown");
        goto out;
    }
    int bits = EVP_PKEY_get_bits(pkey);
    if (bits < QUAY_SK_RSA_BITS || bits > 4096) {
        rc = sk_fail(err, K8S_EARG,
                     bits < QUAY_SK_RSA_BITS ? QUAY_SK_R_WEAK_KEY : QUAY_SK_R_BAD_VALUE,
                     "the RSA key has %d bits; 2048 to 4096 are accepted", bits);
        goto out;
    }
    k = calloc(1, sizeof(*k));
    if (!k) {
        rc = sk_nomem(err);
        goto out;
    }
    rc = rsa_param_b64(pkey, OSSL_PKEY_PARAM_RSA_N, k->n, sizeof(k->n), err);
    if (rc)
        goto out;
    rc = rsa_param_b64(pkey, OSSL_PKEY_PARAM_RSA_E, k->e, sizeof(k->e), err);
    if (rc)
        goto out;
    rc = quay_jwk_rsa_thumbprint(k->n, k->e, k->kid, err);
    if (rc)
        goto out;
    /* authlib's as_dict() order, through json.dumps' default separators:
     * byte-for-byte what Quay itself stores for a key it imports. */
    int n = snprintf(k->jwk, sizeof(k->jwk),
                     "{\"n\": \"%s\", \"e\": \"%s\", \"kty\": \"RSA\", \"kid\": \"%s\"}", k->n,
                     k->e, k->kid);
    if (n < 0 || (size_t)n >= sizeof(k->jwk)) {
        rc = sk_fail(err, K8S_EINTERNAL, QUAY_SK_R_CRYPTO, "the JWK does not fit");
        goto out;
    }
    rc = encode_pem(pkey, k, err);
    if (rc)
        goto out;
    *out = k;
    k = NULL;
out:
    quay_servicekey_free(k);
    return rc;
}

int quay_servicekey_generate(struct quay_servicekey **out, struct k8s_error *err)
{
    int rc = 0;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *pkey = NULL;

    if (!out)
        return sk_fail(err, K8S_EARG, QUAY_SK_R_BAD_VALUE, "no output given");
    *out = NULL;
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    if (!ctx || EVP_PKEY_keygen_init(ctx) <= 0 ||
        EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, QUAY_SK_RSA_BITS) <= 0) {
        rc = sk_crypto_fail(err, K8S_EINTERNAL, QUAY_SK_R_CRYPTO,
                            "setting up RSA key generation failed");
        goto out;
    }
    if (EVP_PKEY_generate(ctx, &pkey) <= 0 || !pkey) {
        rc = sk_crypto_fail(err, K8S_EINTERNAL, QUAY_SK_R_CRYPTO, "RSA key generation failed");
        goto out;
    }
    rc = key_from_pkey(pkey, out, err);
out:
    EVP_PKEY_free(pkey);
    EVP_PKEY_CTX_free(ctx);
    return rc;
}

/* Passphrase callback that refuses: an encrypted PEM is an error, never a
 * prompt on the operator's terminal. */
static int refuse_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

int quay_servicekey_from_pem(const void *pem, size_t pem_len, struct quay_servicekey **out,
                             struct k8s_error *err)
{
    int rc = 0;
    OSSL_DECODER_CTX *dctx = NULL;
    EVP_PKEY *pkey = NULL;

    if (!out)
        return sk_fail(err, K8S_EARG, QUAY_SK_R_BAD_VALUE, "no output given");
    *out = NULL;
    if (!pem || pem_len == 0 || pem_len > QUAY_SK_MAX_PEM || memchr(pem, '\0', pem_len)) {
        rc = sk_fail(err, K8S_EARG, QUAY_SK_R_BAD_PEM,
                     "the service key must be a PEM text of 1 to %d bytes without NUL bytes",
                     QUAY_SK_MAX_PEM);
        goto out;
    }
    dctx = OSSL_DECODER_CTX_new_for_pkey(&pkey, "PEM", NULL, NULL, EVP_PKEY_KEYPAIR, NULL, NULL);
    if (!dctx || !OSSL_DECODER_CTX_set_pem_password_cb(dctx, refuse_passphrase, NULL)) {
        rc = sk_crypto_fail(err, K8S_EINTERNAL, QUAY_SK_R_CRYPTO, "no PEM decoder available");
        goto out;
    }
    const unsigned char *p = pem;
    size_t left = pem_len;
    if (!OSSL_DECODER_from_data(dctx, &p, &left) || !pkey) {
        rc = sk_crypto_fail(err, K8S_EDECODE, QUAY_SK_R_BAD_PEM,
                            "the service key is not an unencrypted PEM private key");
        goto out;
    }
    rc = key_from_pkey(pkey, out, err);
out:
    EVP_PKEY_free(pkey);
    OSSL_DECODER_CTX_free(dctx);
    return rc;
}

void quay_servicekey_free(struct quay_servicekey *k)
{
    if (!k)
        return;
    if (k->pem) {
        OPENSSL_cleanse(k->pem, k->pem_len);
        free(k->pem);
    }
    OPENSSL_cleanse(k, sizeof(*k));
    free(k);
}

/* ---- text checks -------------------------------------------------------------------- */

/* Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. */
static int utf8_valid(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (len - i <= n)
            return 0;
        for (size_t j = 1; j <= n; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + j] & 0x3F);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += n + 1;
    }
    return 1;
}

int quay_sql_literal(struct k8s_buf *out, const char *what, const char *s, size_t len,
                     struct k8s_error *err)
{
    int rc = 0;
    what = what ? what : "value";
    if (!s && len) {
        rc = sk_fail(err, K8S_EARG, QUAY_SK_R_BAD_TEXT, "%s is missing", what);
        goto out;
    }
    if (len && memchr(s, '\0', len)) {
        rc = sk_fail(err, K8S_EARG, QUAY_SK_R_BAD_TEXT,
                     "%s contains a NUL byte, which PostgreSQL text cannot hold", what);
        goto out;
    }
    if (!utf8_valid((const unsigned char *)s, len)) {
        rc = sk_fail(err, K8S_EARG, QUAY_SK_R_BAD_TEXT, "%s is not valid UTF-8", what);
        goto out;
    }
    /* E'...' keeps its meaning whatever standard_conforming_strings says:
     * backslash is always the escape character in it. Control characters
     * become \xHH so a script stays one statement per line and safe to cat. */
    rc = k8s_buf_append(out, "E'", 2);
    for (size_t i = 0; rc == 0 && i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\'')
            rc = k8s_buf_append(out, "''", 2);
        else if (c == '\\')
            rc = k8s_buf_append(out, "\\\\", 2);
        else if (c < 0x20 || c == 0x7F)
            rc = k8s_buf_appendf(out, "\\x%02X", c);
        else
            rc = k8s_buf_append(out, &s[i], 1);
    }
    if (rc == 0)
        rc = k8s_buf_append(out, "'", 1);
    if (rc)
        rc = sk_fail(err, K8S_ENOMEM, QUAY_SK_R_NOMEM, "the SQL text exceeds its maximum size");
out:
    return rc;
}

int quay_sql_utc_timestamp(long long unix_seconds, char out[32], struct k8s_error *err)
{
    /* 253402300799 is 9999-12-31 23:59:59 UTC. */
    if (unix_seconds <= 0 || unix_seconds > 253402300799LL)
        return sk_fail(err, K8S_EARG, QUAY_SK_R_BAD_VALUE,
                       "time %lld is outside 1970..9999 (Unix seconds, UTC)", unix_seconds);
    time_t t = (time_t)unix_seconds;
    struct tm tm;
    if (!gmtime_r(&t, &tm) || strftime(out, 32, "%Y-%m-%d %H:%M:%S", &tm) == 0)
        return sk_fail(err, K8S_EARG, QUAY_SK_R_BAD_VALUE, "time %lld cannot be formatted",
                       unix_seconds);
    return 0;
}

/* Quay's _SERVICE_NAME_REGEX: ^[a-z0-9_]+$ (and it fits servicekey.service). */
static int service_name_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 255)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return 1;
}

static int check_kid(const char *kid, struct k8s_error *err)
{
    /* Any base64url kid up to servicekey.kid's 255 characters; ours are 43.
     * The charset also guarantees it cannot end a dollar quote. */
    if (!is_b64url(kid, 255))
        return sk_fail(err, K8S_EARG, QUAY_SK_R_BAD_VALUE,
                       "a service key ID must be 1 to 255 base64url characters");
    return 0;
}

/* ---- SQL scripts -------------------------------------------------------------------- */

#define NOW_UTC "(now() AT TIME ZONE 'UTC')"

/*
 * The session settings every script starts with. client_encoding: the
 * literals are UTF-8 whatever the Job's locale is. lock_timeout: a Job that
 * waits on a lock Quay holds fails and is retried instead of hanging.
 */
static int sql_prologue(struct k8s_buf *b, const char *what, const char *kid)
{
    return k8s_buf_appendf(b,
                           "-- quay-storage-operator: %s of read-only service key %s.\n"
                           "-- Public data only (no private key). Safe to run again.\n"
                           "-- Run: psql -X -q -w -v ON_ERROR_STOP=1 -d service=<name> -f <this>\n"
                           "\\set ON_ERROR_STOP on\n"
                           "SET client_encoding = 'UTF8';\n"
                           "SET standard_conforming_strings = on;\n"
                           "SET lock_timeout = '30s';\n"
                           "BEGIN ISOLATION LEVEL READ COMMITTED;\n",
                           what, kid);
}

static int finish(struct k8s_buf *b, char **sql, size_t *len)
{
    *sql = k8s_buf_take(b, len);
    return 0;
}

int quay_servicekey_sql_register(const struct quay_servicekey *key,
                                 const struct quay_sk_registration *reg, char **sql, size_t *len,
                                 struct k8s_error *err)
{
    int rc = 0;
    struct k8s_buf b, lit_name, lit_notes, lit_meta, lit_jwk;
    char name[QUAY_SK_MAX_NAME + 1], notes[QUAY_SK_MAX_NOTES + 1], meta[512], expires[32];
    size_t sqllen = 0;

    k8s_buf_init(&b, QUAY_SK_MAX_SQL);
    k8s_buf_init(&lit_name, 4 * QUAY_SK_MAX_NAME + 8);
    k8s_buf_init(&lit_notes, 4 * QUAY_SK_MAX_NOTES + 8);
    k8s_buf_init(&lit_meta, 4 * sizeof(meta) + 8);
    k8s_buf_init(&lit_jwk, 2 * QUAY_SK_MAX_JWK + 8);
    if (!sql || !key || !reg) {
        rc = sk_fail(err, K8S_EARG, QUAY_SK_R_BAD_VALUE, "missing key, registration or output");
        goto out;
    }
    *sql = NULL;
    rc = check_kid(key->kid, err);
    if (rc)
        goto out;
    if (!quay_object_name_ok(reg->window_namespace, 63) ||
        !quay_object_name_ok(reg->window_name, 253)) {
        rc = sk_fail(err, K8S_EARG, QUAY_SK_R_BAD_VALUE,
                     "the ReadOnlyWindow's namespace and name must be Kubernetes object names");
        goto out;
    }
    const char *service = reg->service ? reg->service : QUAY_SK_SERVICE_QUAY;
    if (!service_name_ok(service)) {
        rc = sk_fail(err, K8S_EARG, QUAY_SK_R_BAD_VALUE,
                     "service \"%.64s\" does not match Quay's ^[a-z0-9_]+$", service);
        goto out;
    }
    rc = quay_sql_utc_timestamp(reg->expires_at, expires, err);
    if (rc)
        goto out;

    if (reg->name) {
        size_t n = strlen(reg->name);
        if (n == 0 || n > QUAY_SK_MAX_NAME) {
            rc = sk_fail(err, K8S_EARG, QUAY_SK_R_BAD_TEXT,
                         "the service key name must be 1 to %d bytes (servicekey.name is "
                         "VARCHAR(255))",
                         QUAY_SK_MAX_NAME);
            goto out;
        }
        memcpy(name, reg->name, n + 1);
    } else {
        /* Names are checked ASCII above, so truncation cannot split a character. */
        snprintf(name, sizeof(name), "quay-storage-operator readonly %s/%s", reg->window_namespace,
                 reg->window_name);
    }
    int n = snprintf(notes, sizeof(notes),
                     "Approved automatically by quay-storage-operator for ReadOnlyWindow %s/%s%s%s",
                     reg->window_namespace, reg->window_name, reg->reason ? ": " : "",
                     reg->reason ? reg->reason : "");
    if (n < 0 || (size_t)n >= sizeof(notes)) {
        rc = sk_fail(err, K8S_EARG, QUAY_SK_R_BAD_TEXT,
                     "the window's reason is too long for the approval notes (%d bytes at most)",
                     QUAY_SK_MAX_NOTES);
        goto out;
    }
    /* json.dumps style, like every JSONField value Quay writes. */
    snprintf(meta, sizeof(meta),
             "{\"created_by\": \"quay-storage-operator\", \"kind\": \"ReadOnlyWindow\", "
             "\"namespace\": \"%s\", \"name\": \"%s\"}",
             reg->window_namespace, reg->window_name);

    if ((rc = quay_sql_literal(&lit_name, "the service key name", name, strlen(name), err)) ||
        (rc = quay_sql_literal(&lit_notes, "the window's reason", notes, strlen(notes), err)) ||
        (rc = quay_sql_literal(&lit_meta, "the key metadata", meta, strlen(meta), err)) ||
        (rc = quay_sql_literal(&lit_jwk, "the JWK", key->jwk, strlen(key->jwk), err)))
        goto out;

    if (sql_prologue(&b, "registration", key->kid) ||
        k8s_buf_appendf(
            &b,
            "-- The key row. A second run refreshes it and never shortens its expiry.\n"
            "INSERT INTO servicekey (name, kid, service, jwk, metadata, created_date,\n"
            "                        expiration_date, rotation_duration, approval_id)\n"
            "VALUES (%s,\n"
            "        E'%s', E'%s',\n"
            "        %s,\n"
            "        %s,\n"
            "        " NOW_UTC ", TIMESTAMP '%s', NULL, NULL)\n"
            "ON CONFLICT (kid) DO UPDATE SET\n"
            "    name = EXCLUDED.name, service = EXCLUDED.service, jwk = EXCLUDED.jwk,\n"
            "    metadata = EXCLUDED.metadata,\n"
            "    expiration_date = GREATEST(servicekey.expiration_date, "
            "EXCLUDED.expiration_date);\n"
            "-- Its approval, only if it has none: the row lock (FOR UPDATE, re-checked\n"
            "-- after a wait) makes a concurrent run see the first run's approval.\n"
            "WITH k AS (\n"
            "    SELECT id FROM servicekey\n"
            "    WHERE kid = E'%s' AND approval_id IS NULL FOR UPDATE\n"
            "), a AS (\n"
            "    INSERT INTO servicekeyapproval (approver_id, approval_type, approved_date, "
            "notes)\n"
            "    SELECT NULL, 'ServiceKeyApprovalType.AUTOMATIC', " NOW_UTC ",\n"
            "           %s\n"
            "    FROM k\n"
            "    RETURNING id\n"
            ")\n"
            "UPDATE servicekey SET approval_id = a.id FROM a, k WHERE servicekey.id = k.id;\n"
            "-- What Quay will ask: approved, alive, this service.\n"
            "DO $qso$\n"
            "BEGIN\n"
            "    IF NOT EXISTS (SELECT 1 FROM servicekey\n"
            "                   WHERE kid = E'%s' AND service = E'%s'\n"
            "                     AND approval_id IS NOT NULL\n"
            "                     AND (expiration_date IS NULL OR expiration_date > " NOW_UTC
            ")) THEN\n"
            "        RAISE EXCEPTION 'quay-storage-operator: service key %% is not approved and "
            "alive for service %%', E'%s', E'%s';\n"
            "    END IF;\n"
            "END\n"
            "$qso$;\n"
            "COMMIT;\n",
            lit_name.data, key->kid, service, lit_jwk.data, lit_meta.data, expires, key->kid,
            lit_notes.data, key->kid, service, key->kid, service)) {
        rc = sk_fail(err, K8S_ENOMEM, QUAY_SK_R_NOMEM, "the SQL text exceeds its maximum size");
        goto out;
    }
    rc = finish(&b, sql, &sqllen);
    if (len)
        *len = sqllen;
out:
    k8s_buf_free(&lit_jwk);
    k8s_buf_free(&lit_meta);
    k8s_buf_free(&lit_notes);
    k8s_buf_free(&lit_name);
    k8s_buf_free(&b);
    return rc;
}

int quay_servicekey_sql_extend(const char *kid, long long expires_at, char **sql, size_t *len,
                               struct k8s_error *err)
{
    int rc = 0;
    struct k8s_buf b;
    char expires[32];
    size_t sqllen = 0;

    k8s_buf_init(&b, QUAY_SK_MAX_SQL);
    if (!sql) {
        rc = sk_fail(err, K8S_EARG, QUAY_SK_R_BAD_VALUE, "no output given");
        goto out;
    }
    *sql = NULL;
    if ((rc = check_kid(kid, err)) || (rc = quay_sql_utc_timestamp(expires_at, expires, err)))
        goto out;
    if (sql_prologue(&b, "extension", kid) ||
        k8s_buf_appendf(
            &b,
            "UPDATE servicekey\n"
            "SET expiration_date = GREATEST(expiration_date, TIMESTAMP '%s')\n"
            "WHERE kid = E'%s' AND expiration_date IS NOT NULL\n"
            "  AND expiration_date > " NOW_UTC ";\n"
            "DO $qso$\n"
            "BEGIN\n"
            "    IF NOT EXISTS (SELECT 1 FROM servicekey\n"
            "                   WHERE kid = E'%s' AND approval_id IS NOT NULL\n"
            "                     AND (expiration_date IS NULL OR expiration_date > " NOW_UTC
            ")) THEN\n"
            "        RAISE EXCEPTION 'quay-storage-operator: service key %% is not registered, "
            "approved and alive; register it again', E'%s';\n"
            "    END IF;\n"
            "END\n"
            "$qso$;\n"
            "COMMIT;\n",
            expires, kid, kid, kid)) {
        rc = sk_fail(err, K8S_ENOMEM, QUAY_SK_R_NOMEM, "the SQL text exceeds its maximum size");
        goto out;
    }
    rc = finish(&b, sql, &sqllen);
    if (len)
        *len = sqllen;
out:
    k8s_buf_free(&b);
    return rc;
}

int quay_servicekey_sql_expire(const char *kid, char **sql, size_t *len, struct k8s_error *err)
{
    int rc = 0;
    struct k8s_buf b;
    size_t sqllen = 0;

    k8s_buf_init(&b, QUAY_SK_MAX_SQL);
    if (!sql) {
        rc = sk_fail(err, K8S_EARG, QUAY_SK_R_BAD_VALUE, "no output given");
        goto out;
    }
    *sql = NULL;
    if ((rc = check_kid(kid, err)))
        goto out;
    /* Only an alive key moves: a second run keeps the first run's time, and
     * an absent key is not an error (the window's end must always succeed). */
    if (sql_prologue(&b, "expiry (end of window)", kid) ||
        k8s_buf_appendf(&b,
                        "UPDATE servicekey SET expiration_date = " NOW_UTC "\n"
                        "WHERE kid = E'%s'\n"
                        "  AND (expiration_date IS NULL OR expiration_date > " NOW_UTC ");\n"
                        "COMMIT;\n",
                        kid)) {
        rc = sk_fail(err, K8S_ENOMEM, QUAY_SK_R_NOMEM, "the SQL text exceeds its maximum size");
        goto out;
    }
    rc = finish(&b, sql, &sqllen);
    if (len)
        *len = sqllen;
out:
    k8s_buf_free(&b);
    return rc;
}

/* ---- libpq service file from DB_URI ------------------------------------------------- */

/*
 * A fixed-capacity text buffer for secret text: it never reallocates (so no
 * stale copy of the password is left in freed memory) and is wiped on free.
 */
struct sbuf {
    char *p;
    size_t len, cap;
};

static int sbuf_add(struct sbuf *s, const char *data, size_t n)
{
    if (n >= s->cap - s->len)
        return -1;
    memcpy(s->p + s->len, data, n);
    s->len += n;
    s->p[s->len] = '\0';
    return 0;
}

static void wipe_free(char *p, size_t n)
{
    if (p) {
        OPENSSL_cleanse(p, n);
        free(p);
    }
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..n) into out (capacity >= n + 1); -1 on a bad escape. */
static int pct_decode(const char *s, size_t n, char *out, size_t *outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            out[o++] = s[i];
            continue;
        }
        if (n - i < 3)
            return -1;
        int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
        if (hi < 0 || lo < 0)
            return -1;
        out[o++] = (char)(hi << 4 | lo);
        i += 2;
    }
    out[o] = '\0';
    *outlen = o;
    return 0;
}

static const char *const pg_query_keys[] = {
    "sslmode",         "sslrootcert",          "sslcert",         "sslkey",     "sslcrl",
    "connect_timeout", "target_session_attrs", "channel_binding", "gssencmode", "application_name",
};

/*
 * One "key=value" line. libpq's service-file reader strips trailing blanks
 * and cannot represent newlines; old libpq versions (before 14) also refuse
 * lines longer than 255 characters. `what` names the field; the value itself
 * is never shown (it may be the password).
 */
static int service_line(struct sbuf *s, const char *key, const char *val, size_t vlen,
                        const char *what, struct k8s_error *err)
{
    if (vlen == 0)
        return 0;
    if (memchr(val, '\0', vlen) || memchr(val, '\n', vlen) || memchr(val, '\r', vlen) ||
        isspace((unsigned char)val[vlen - 1]))
        return sk_fail(err, K8S_EARG, QUAY_SK_R_BAD_URI,
                       "the database URI's %s contains a line break, a NUL byte or ends with a "
                       "blank, which a libpq service file cannot carry",
                       what);
    if (strlen(key) + 1 + vlen > 255)
        return sk_fail(err, K8S_EARG, QUAY_SK_R_BAD_URI,
                       "the database URI's %s is longer than a libpq service file line allows",
                       what);
    if (sbuf_add(s, key, strlen(key)) || sbuf_add(s, "=", 1) || sbuf_add(s, val, vlen) ||
        sbuf_add(s, "\n", 1))
        return sk_fail(err, K8S_ENOMEM, QUAY_SK_R_NOMEM, "the service file does not fit");
    return 0;
}

int quay_pg_service_from_db_uri(const char *service_name, const char *db_uri, char **out,
                                size_t *len, struct k8s_error *err)
{
    int rc = 0;
    struct sbuf s = {0};
    char *tmp = NULL;
    size_t tmpcap = 0;

    if (!out) {
        rc = sk_fail(err, K8S_EARG, QUAY_SK_R_BAD_VALUE, "no output given");
        goto out;
    }
    *out = NULL;
    size_t sn = service_name ? strlen(service_name) : 0;
    if (sn == 0 || sn > 63) {
        rc = sk_fail(err, K8S_EARG, QUAY_SK_R_BAD_VALUE,
                     "a service name of 1 to 63 characters "
                     "is needed");
        goto out;
    }
    for (size_t i = 0; i < sn; i++) {
        char c = service_name[i];
        if (!(isalnum((unsigned char)c) || c == '-' || c == '_' || c == '.')) {
            rc = sk_fail(err, K8S_EARG, QUAY_SK_R_BAD_VALUE,
                         "service names may hold letters, digits, '-', '_' and '.'");
            goto out;
        }
    }
    size_t ulen = db_uri ? strlen(db_uri) : 0;
    if (ulen == 0 || ulen > 4096) {
        rc = sk_fail(err, K8S_EARG, QUAY_SK_R_BAD_URI, "DB_URI must be 1 to 4096 bytes");
        goto out;
    }
    const char *sep = strstr(db_uri, "://");
    if (!sep) {
        rc = sk_fail(err, K8S_EARG, QUAY_SK_R_BAD_URI,
                     "DB_URI has no scheme (expected postgresql://user:password@host/db)");
        goto out;
    }
    size_t schemelen = (size_t)(sep - db_uri);
    static const char *const pg_schemes[] = {"postgresql", "postgres", "postgresql+psycopg2"};
    int scheme_ok = 0;
    for (size_t i = 0; i < sizeof(pg_schemes) / sizeof(pg_schemes[0]); i++)
        if (strlen(pg_schemes[i]) == schemelen && strncmp(db_uri, pg_schemes[i], schemelen) == 0)
            scheme_ok = 1;
    if (!scheme_ok) {
        int mysql = schemelen >= 5 && strncmp(db_uri, "mysql", 5) == 0;
        /* Shown only when it looks like a scheme: a malformed URI's "scheme"
         * may run into its userinfo (the password). */
        int showable = schemelen > 0 && schemelen <= 32;
        for (size_t i = 0; showable && i < schemelen; i++)
            showable = islower((unsigned char)db_uri[i]) || isdigit((unsigned char)db_uri[i]) ||
                       db_uri[i] == '+' || db_uri[i] == '-' || db_uri[i] == '.';
        rc = sk_fail(err, K8S_EARG, mysql ? QUAY_SK_R_UNSUPPORTED : QUAY_SK_R_BAD_URI,
                     "DB_URI scheme \"%.*s\" is not PostgreSQL; read-only service keys are "
                     "registered with psql, which needs a PostgreSQL database",
                     showable ? (int)schemelen : 3, showable ? db_uri : "...");
        goto out;
    }

    /* Output and scratch sized from the input: they never grow, and both are
     * wiped on free because they hold the password. */
    s.cap = 2 * ulen + 512;
    s.p = malloc(s.cap);
    tmpcap = ulen + 1;
    tmp = malloc(tmpcap);
    if (!s.p || !tmp) {
        rc = sk_nomem(err);
        goto out;
    }
    s.p[0] = '\0';

    const char *rest = sep + 3;
    const char *end = rest + strlen(rest);
    /* The userinfo as SQLAlchemy's make_url (Quay's DB_URI parser) finds it:
     * a user name holds no ':' or '/', a password no '@' but possibly '/',
     * '?' or ':'. So it is split off BEFORE the query is looked for;
     * otherwise a '?' in the password would start the "query" and a piece
     * of the password be read, and shown, as a query parameter. */
    const char *ustop = rest + strcspn(rest, ":/");
    const char *at = NULL;
    if (*ustop == ':')
        at = strchr(ustop + 1, '@');
    if (!at) {
        /* No password: a user name (which may hold '@') ends at its last. */
        for (const char *p = rest; p < ustop; p++)
            if (*p == '@')
                at = p;
    }
    const char *q = strchr(at ? at + 1 : rest, '?');
    const char *pathend = q ? q : end;
    const char *user = NULL, *pass = NULL;
    size_t userlen = 0, passlen = 0;
    const char *host = rest;
    if (at) {
        const char *colon = memchr(rest, ':', (size_t)(at - rest));
        user = rest;
        userlen = (size_t)((colon ? colon : at) - rest);
        if (colon) {
            pass = colon + 1;
            passlen = (size_t)(at - pass);
        }
        host = at + 1;
    }
    const char *hostend, *p = host;
    const char *hoststart = host;
    if (*p == '[') {
        const char *rb = memchr(p, ']', (size_t)(pathend - p));
        if (!rb) {
            rc = sk_fail(err, K8S_EARG, QUAY_SK_R_BAD_URI, "DB_URI has an unclosed IPv6 '['");
            goto out;
        }
        hoststart = p + 1;
        hostend = rb;
        p = rb + 1;
    } else {
        while (p < pathend && *p != ':' && *p != '/')
            p++;
        hostend = p;
    }
    if (hostend == hoststart) {
        rc = sk_fail(err, K8S_EARG, QUAY_SK_R_BAD_URI, "DB_URI names no database host");
        goto out;
    }
    const char *port = NULL;
    size_t portlen = 0;
    if (p < pathend && *p == ':') {
        port = ++p;
        while (p < pathend && *p != '/')
            p++;
        portlen = (size_t)(p - port);
        long v = 0;
        for (size_t i = 0; i < portlen; i++) {
            if (port[i] < '0' || port[i] > '9' || v > 65535) {
                v = -1;
                break;
            }
            v = v * 10 + (port[i] - '0');
        }
        if (portlen == 0 || v < 1 || v > 65535) {
            rc = sk_fail(err, K8S_EARG, QUAY_SK_R_BAD_URI,
                         "DB_URI's port must be a number from 1 to 65535");
            goto out;
        }
    }
    const char *db = NULL;
    size_t dblen = 0;
    if (p < pathend && *p == '/') {
        db = p + 1;
        dblen = (size_t)(pathend - db);
    } else if (p != pathend) {
        rc = sk_fail(err, K8S_EARG, QUAY_SK_R_BAD_URI, "DB_URI's host part does not parse");
        goto out;
    }
    if (dblen == 0) {
        rc = sk_fail(err, K8S_EARG, QUAY_SK_R_BAD_URI, "DB_URI names no database");
        goto out;
    }

    char header[256];
    snprintf(header, sizeof(header),
             "# libpq service file rendered by quay-storage-operator from DB_URI.\n"
             "# It holds a password: keep it in a Secret.\n[%s]\n",
             service_name);
    if (sbuf_add(&s, header, strlen(header))) {
        rc = sk_nomem(err);
        goto out;
    }
    size_t dl = 0;
    if ((rc = service_line(&s, "host", hoststart, (size_t)(hostend - hoststart), "host", err)) ||
        (rc = service_line(&s, "port", port, portlen, "port", err)))
        goto out;
    /* Each decoded value goes through the scratch buffer, wiped afterwards. */
    struct {
        const char *key, *what, *val;
        size_t len;
    } parts[] = {
        {"dbname", "database name", db, dblen},
        {"user", "user name", user, userlen},
        {"password", "password", pass, passlen},
    };
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        if (!parts[i].val || parts[i].len == 0)
            continue;
        if (pct_decode(parts[i].val, parts[i].len, tmp, &dl) != 0) {
            rc = sk_fail(err, K8S_EARG, QUAY_SK_R_BAD_URI, "DB_URI's %s has a bad percent-escape",
                         parts[i].what);
            goto out;
        }
        rc = service_line(&s, parts[i].key, tmp, dl, parts[i].what, err);
        OPENSSL_cleanse(tmp, tmpcap);
        if (rc)
            goto out;
    }
    /* Query parameters that are libpq keywords (e.g. sslmode=verify-full). */
    const char *qp = q ? q + 1 : end;
    while (qp < end) {
        const char *amp = strchr(qp, '&');
        const char *qend = amp ? amp : end;
        const char *eq = memchr(qp, '=', (size_t)(qend - qp));
        if (qend == qp) {
            qp = qend + 1;
            continue;
        }
        if (!eq) {
            rc = sk_fail(err, K8S_EARG, QUAY_SK_R_BAD_URI,
                         "DB_URI's query parameter \"%.*s\" has no value",
                         (int)((qend - qp) > 40 ? 40 : (qend - qp)), qp);
            goto out;
        }
        size_t klen = (size_t)(eq - qp);
        const char *kw = NULL;
        for (size_t i = 0; i < sizeof(pg_query_keys) / sizeof(pg_query_keys[0]); i++)
            if (strlen(pg_query_keys[i]) == klen && strncmp(qp, pg_query_keys[i], klen) == 0)
                kw = pg_query_keys[i];
        if (!kw) {
            rc = sk_fail(err, K8S_EARG, QUAY_SK_R_BAD_URI,
                         "DB_URI's query parameter \"%.*s\" is not a libpq connection setting "
                         "this operator passes on",
                         (int)(klen > 40 ? 40 : klen), qp);
            goto out;
        }
        if (pct_decode(eq + 1, (size_t)(qend - eq - 1), tmp, &dl) != 0) {
            rc = sk_fail(err, K8S_EARG, QUAY_SK_R_BAD_URI, "DB_URI's %s has a bad percent-escape",
                         kw);
            goto out;
        }
        rc = service_line(&s, kw, tmp, dl, kw, err);
        OPENSSL_cleanse(tmp, tmpcap);
        if (rc)
            goto out;
        qp = qend + 1;
    }
    *out = s.p;
    if (len)
        *len = s.len;
    s.p = NULL;
out:
    wipe_free(tmp, tmpcap);
    wipe_free(s.p, s.cap);
    return rc;
}
