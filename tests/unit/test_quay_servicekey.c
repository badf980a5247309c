/*
 * Tests of the read-only service key (quay/quay_servicekey.c).
 *
 * Without a database: the JWK verifies a signature made with the PEM (the
 * public key is rebuilt here from n/e, independently of the module); the kid
 * is RFC 7638's thumbprint (the RFC's own example, section 3.1); the PEM
 * parses back to the same key; bad keys are refused with their reason; SQL
 * literals survive hostile text; DB_URI becomes a libpq service file; no
 * secret is ever printed or put into SQL.
 *
 * Against a real PostgreSQL (tests/support/postgres/start.sh, 127.0.0.1)
 * holding Quay's tables (tests/fixtures/quay-db/servicekey.sql), connected
 * through a service file rendered by quay_pg_service_from_db_uri(): the
 * registration runs twice and leaves one key and one approval, also when
 * four runs race; the expiry is extended and set to now; Quay's own queries
 * (written from data/model/service_keys.py) find the key before the end and
 * not after it.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include <cjson/cJSON.h>

#include "k8s_buf.h"
#include "k8s_error.h"
#include "quay_servicekey.h"

extern char **environ;

/* ---- helpers ------------------------------------------------------------------------- */

static int b64url_val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

/* The test's own base64url decoder, so the check does not trust the module. */
static size_t b64url_decode(const char *s, unsigned char *out, size_t cap)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (; *s; s++) {
        int v = b64url_val(*s);
        assert_true(v >= 0);
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            assert_true(o < cap);
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    return o;
}

static EVP_PKEY *public_key_from_jwk(const char *n_b64, const char *e_b64)
{
    unsigned char n[1024], e[16];
    size_t nl = b64url_decode(n_b64, n, sizeof(n)), el = b64url_decode(e_b64, e, sizeof(e));
    BIGNUM *bn_n = BN_bin2bn(n, (int)nl, NULL), *bn_e = BN_bin2bn(e, (int)el, NULL);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    assert_non_null(bn_n);
    assert_non_null(bn_e);
    assert_non_null(bld);
    assert_true(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n));
    assert_true(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e));
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    EVP_PKEY *pub = NULL;
    assert_non_null(params);
    assert_non_null(ctx);
    assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
    assert_int_equal(EVP_PKEY_fromdata(ctx, &pub, EVP_PKEY_PUBLIC_KEY, params), 1);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn_n);
    BN_free(bn_e);
    return pub;
}

static EVP_PKEY *private_key_from_pem(const unsigned char *pem, size_t len)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    assert_non_null(bio);
    EVP_PKEY *pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    assert_non_null(pkey);
    return pkey;
}

/* PEM text of `pkey`: PKCS#8 (private), SubjectPublicKeyInfo (pub) or encrypted. */
static char *pem_of(EVP_PKEY *pkey, int kind)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    assert_non_null(bio);
    if (kind == 0)
        assert_int_equal(PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL), 1);
    else if (kind == 1)
        assert_int_equal(PEM_write_bio_PUBKEY(bio, pkey), 1);
    else
        assert_int_equal(PEM_write_bio_PrivateKey(bio, pkey, EVP_aes_256_cbc(),
                                                  (const unsigned char *)"pass", 4, NULL, NULL),
                         1);
    long n = BIO_get_mem_data(bio, &data);
    /* Not strndup: the BIO's bytes have no NUL after them, and ASan's strndup
     * interceptor checks one byte past `n` (seen as a heap-buffer-overflow). */
    char *copy = malloc((size_t)n + 1);
    assert_non_null(copy);
    memcpy(copy, data, (size_t)n);
    copy[n] = '\0';
    BIO_free(bio);
    return copy;
}

/* ---- keys ---------------------------------------------------------------------------- */

static void test_generated_key_has_quay_jwk_and_rfc7638_kid(void **state)
{
    (void)state;
    struct quay_servicekey *k = NULL;
    struct k8s_error err;
    assert_int_equal(quay_servicekey_generate(&k, &err), 0);

    assert_int_equal(strlen(k->kid), QUAY_SK_KID_LEN);
    assert_string_equal(k->e, "AQAB");
    assert_int_equal(strlen(k->n), 342); /* 256 bytes, unpadded base64url */
    assert_true(strncmp((const char *)k->pem, "-----BEGIN RSA PRIVATE KEY-----\n", 32) == 0);
    assert_int_equal(k->pem_len, strlen((const char *)k->pem));

    /* The JWK as authlib's as_dict() through json.dumps writes it. */
    char expect[QUAY_SK_MAX_JWK + 1];
    snprintf(expect, sizeof(expect),
             "{\"n\": \"%s\", \"e\": \"AQAB\", \"kty\": \"RSA\", \"kid\": \"%s\"}", k->n, k->kid);
    assert_string_equal(k->jwk, expect);
    cJSON *j = cJSON_Parse(k->jwk);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "kty")->valuestring, "RSA");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "kid")->valuestring, k->kid);
    assert_null(cJSON_GetObjectItemCaseSensitive(j, "d")); /* public only */

    /* kid recomputed here from RFC 7638's canonical form. */
    char canon[1024];
    snprintf(canon, sizeof(canon), "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}",
             cJSON_GetObjectItemCaseSensitive(j, "e")->valuestring,
             cJSON_GetObjectItemCaseSensitive(j, "n")->valuestring);
    unsigned char md[32], kid_raw[40];
    unsigned int mdlen = 0;
    assert_int_equal(EVP_Digest(canon, strlen(canon), md, &mdlen, EVP_sha256(), NULL), 1);
    assert_int_equal(b64url_decode(k->kid, kid_raw, sizeof(kid_raw)), 32);
    assert_memory_equal(md, kid_raw, 32);
    cJSON_Delete(j);

    /* Two keys differ. */
    struct quay_servicekey *k2 = NULL;
    assert_int_equal(quay_servicekey_generate(&k2, &err), 0);
    assert_string_not_equal(k->kid, k2->kid);
    quay_servicekey_free(k2);
    quay_servicekey_free(k);
}

static void test_jwk_verifies_a_signature_made_with_the_pem(void **state)
{
    (void)state;
    struct quay_servicekey *k = NULL;
    struct k8s_error err;
    assert_int_equal(quay_servicekey_generate(&k, &err), 0);

    EVP_PKEY *priv = private_key_from_pem(k->pem, k->pem_len);
    static const unsigned char msg[] = "registry token: push denied, pull allowed";
    unsigned char sig[512];
    size_t siglen = sizeof(sig);
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestSignInit(mctx, NULL, EVP_sha256(), NULL, priv), 1);
    assert_int_equal(EVP_DigestSign(mctx, sig, &siglen, msg, sizeof(msg)), 1);
    EVP_MD_CTX_free(mctx);

    EVP_PKEY *pub = public_key_from_jwk(k->n, k->e);
    mctx = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestVerifyInit(mctx, NULL, EVP_sha256(), NULL, pub), 1);
    assert_int_equal(EVP_DigestVerify(mctx, sig, siglen, msg, sizeof(msg)), 1);
    EVP_MD_CTX_free(mctx);

    /* A changed message or another key's JWK does not verify. */
    unsigned char bad[sizeof(msg)];
    memcpy(bad, msg, sizeof(msg));
    bad[0] ^= 1;
    mctx = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestVerifyInit(mctx, NULL, EVP_sha256(), NULL, pub), 1);
    assert_int_not_equal(EVP_DigestVerify(mctx, sig, siglen, bad, sizeof(bad)), 1);
    EVP_MD_CTX_free(mctx);
    ERR_clear_error();

    struct quay_servicekey *other = NULL;
    assert_int_equal(quay_servicekey_generate(&other, &err), 0);
    EVP_PKEY *otherpub = public_key_from_jwk(other->n, other->e);
    mctx = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestVerifyInit(mctx, NULL, EVP_sha256(), NULL, otherpub), 1);
    assert_int_not_equal(EVP_DigestVerify(mctx, sig, siglen, msg, sizeof(msg)), 1);
    EVP_MD_CTX_free(mctx);
    ERR_clear_error();

    EVP_PKEY_free(otherpub);
    quay_servicekey_free(other);
    EVP_PKEY_free(pub);
    EVP_PKEY_free(priv);
    quay_servicekey_free(k);
}

/* RFC 7638, section 3.1: the example RSA key and its published thumbprint. */
static const char rfc7638_n[] =
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPe"
    "bWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368"
    "QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd"
    "2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";

static void test_kid_matches_rfc7638_example(void **state)
{
    (void)state;
    char kid[QUAY_SK_KID_LEN + 1];
    struct k8s_error err;
    assert_int_equal(quay_jwk_rsa_thumbprint(rfc7638_n, "AQAB", kid, &err), 0);
    assert_string_equal(kid, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");

    /* Not base64url: refused, not hashed. */
    assert_int_equal(quay_jwk_rsa_thumbprint("ab+/", "AQAB", kid, &err), K8S_EARG);
    assert_int_equal(quay_jwk_rsa_thumbprint(rfc7638_n, "", kid, &err), K8S_EARG);
}

static void test_pem_parses_back_to_the_same_key(void **state)
{
    (void)state;
    struct quay_servicekey *k = NULL, *back = NULL, *from8 = NULL;
    struct k8s_error err;
    assert_int_equal(quay_servicekey_generate(&k, &err), 0);

    assert_int_equal(quay_servicekey_from_pem(k->pem, k->pem_len, &back, &err), 0);
    /* Success leaves no stale error for the thread's next OpenSSL user. */
    assert_int_equal(ERR_peek_error(), 0);
    assert_string_equal(back->kid, k->kid);
    assert_string_equal(back->jwk, k->jwk);
    assert_int_equal(back->pem_len, k->pem_len);
    assert_memory_equal(back->pem, k->pem, k->pem_len);

    /* PKCS#8 input is accepted and stored as PKCS#1, Quay's form. */
    EVP_PKEY *pkey = private_key_from_pem(k->pem, k->pem_len);
    char *pkcs8 = pem_of(pkey, 0);
    assert_non_null(strstr(pkcs8, "-----BEGIN PRIVATE KEY-----"));
    assert_int_equal(quay_servicekey_from_pem(pkcs8, strlen(pkcs8), &from8, &err), 0);
    assert_string_equal(from8->kid, k->kid);
    assert_memory_equal(from8->pem, k->pem, k->pem_len);

    free(pkcs8);
    EVP_PKEY_free(pkey);
    quay_servicekey_free(from8);
    quay_servicekey_free(back);
    quay_servicekey_free(k);
}

static void expect_refused(const void *pem, size_t len, int code, const char *reason)
{
    struct quay_servicekey *k = (struct quay_servicekey *)1;
    struct k8s_error err;
    assert_int_equal(quay_servicekey_from_pem(pem, len, &k, &err), code);
    assert_null(k);
    assert_string_equal(err.reason, reason);
    assert_true(strlen(err.message) > 0);
    /* The message names the problem, never the input's bytes. */
    assert_null(strstr(err.message, "MII"));
    assert_int_equal(ERR_peek_error(), 0);
}

static void test_bad_keys_are_refused_with_their_reason(void **state)
{
    (void)state;
    expect_refused("not a key", 9, K8S_EDECODE, QUAY_SK_R_BAD_PEM);
    expect_refused("", 0, K8S_EARG, QUAY_SK_R_BAD_PEM);
    expect_refused("-----BEGIN\0", 11, K8S_EARG, QUAY_SK_R_BAD_PEM);

    EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    EVP_PKEY *small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(rsa);
    assert_non_null(small);
    assert_non_null(ec);
    char *pub = pem_of(rsa, 1), *enc = pem_of(rsa, 2), *sm = pem_of(small, 0), *ecp = pem_of(ec, 0);
    expect_refused(pub, strlen(pub), K8S_EDECODE, QUAY_SK_R_BAD_PEM);
    expect_refused(enc, strlen(enc), K8S_EDECODE, QUAY_SK_R_BAD_PEM);
    expect_refused(sm, strlen(sm), K8S_EARG, QUAY_SK_R_WEAK_KEY);
    expect_refused(ecp, strlen(ecp), K8S_EARG, QUAY_SK_R_NOT_RSA);
    free(pub);
    free(enc);
    free(sm);
    free(ecp);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(small);
    EVP_PKEY_free(ec);
}

/* ---- SQL text ------------------------------------------------------------------------ */

static char *literal(const char *s, size_t len, int *rc, struct k8s_error *err)
{
    struct k8s_buf b;
    k8s_buf_init(&b, 1 << 16);
    *rc = quay_sql_literal(&b, "the reason", s, len, err);
    char *out = b.data ? strdup(b.data) : strdup("");
    k8s_buf_free(&b);
    return out;
}

static void test_sql_literals_escape_quotes_backslashes_and_controls(void **state)
{
    (void)state;
    struct k8s_error err;
    int rc;
    struct {
        const char *in, *out;
    } cases[] = {
        {"plain", "E'plain'"},
        {"it's", "E'it''s'"},
        {"a\\b", "E'a\\\\b'"},
        {"\\'; DROP TABLE servicekey; --", "E'\\\\''; DROP TABLE servicekey; --'"},
        {"line1\nline2\r\t", "E'line1\\x0Aline2\\x0D\\x09'"},
        {"$qso$ :var \\set", "E'$qso$ :var \\\\set'"},
        {"h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "E'h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80'"},
        {"", "E''"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = literal(cases[i].in, strlen(cases[i].in), &rc, &err);
        assert_int_equal(rc, 0);
        assert_string_equal(got, cases[i].out);
        free(got);
    }
    struct {
        const char *in;
        size_t len;
    } bad[] = {
        {"a\0b", 3},         {"\xc3\x28", 2},         {"\xc0\xaf", 2}, /* overlong '/' */
        {"\xed\xa0\x80", 3}, {"\xf4\x90\x80\x80", 4},                  /* surrogate, > U+10FFFF */
        {"\xe2\x82", 2},                                               /* truncated */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *got = literal(bad[i].in, bad[i].len, &rc, &err);
        assert_int_equal(rc, K8S_EARG);
        assert_string_equal(err.reason, QUAY_SK_R_BAD_TEXT);
        assert_non_null(strstr(err.message, "the reason"));
        free(got);
    }
}

static void test_utc_timestamps(void **state)
{
    (void)state;
    char ts[32];
    struct k8s_error err;
    assert_int_equal(quay_sql_utc_timestamp(1700000000, ts, &err), 0);
    assert_string_equal(ts, "2023-11-14 22:13:20");
    assert_int_equal(quay_sql_utc_timestamp(253402300799LL, ts, &err), 0);
    assert_string_equal(ts, "9999-12-31 23:59:59");
    assert_int_equal(quay_sql_utc_timestamp(0, ts, &err), K8S_EARG);
    assert_int_equal(quay_sql_utc_timestamp(253402300800LL, ts, &err), K8S_EARG);
    assert_string_equal(err.reason, QUAY_SK_R_BAD_VALUE);
}

/*
 * The private key reaches no text: neither the PEM's private part (its body
 * from the 7th line on: the first lines carry the public modulus, which the
 * JWK legitimately contains) nor the private exponent in any encoding a bug
 * might use (base64url like a JWK "d", hex).
 */
static void assert_no_private_key_in(const struct quay_servicekey *k, const char *text)
{
    assert_null(strstr(text, "PRIVATE"));
    const char *p = (const char *)k->pem;
    int line = 0;
    while ((p = strchr(p, '\n')) != NULL) {
        p++;
        line++;
        if (line < 7 || *p == '-' || *p == '\0')
            continue;
        char chunk[33];
        snprintf(chunk, sizeof(chunk), "%.32s", p);
        if (strlen(chunk) == 32)
            assert_null(strstr(text, chunk));
    }
    EVP_PKEY *pkey = private_key_from_pem(k->pem, k->pem_len);
    BIGNUM *d = NULL;
    assert_int_equal(EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_D, &d), 1);
    char *hex = BN_bn2hex(d);
    unsigned char bin[512];
    int n = BN_bn2bin(d, bin);
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char b64[40];
    for (int i = 0; i < 30 && i / 4 * 3 + 2 < n; i += 4) {
        uint32_t v =
            (uint32_t)bin[i / 4 * 3] << 16 | (uint32_t)bin[i / 4 * 3 + 1] << 8 | bin[i / 4 * 3 + 2];
        b64[i] = a[v >> 18 & 63];
        b64[i + 1] = a[v >> 12 & 63];
        b64[i + 2] = a[v >> 6 & 63];
        b64[i + 3] = a[v & 63];
    }
    b64[32] = '\0';
    char hexchunk[33];
    snprintf(hexchunk, sizeof(hexchunk), "%.32s", hex);
    assert_null(strstr(text, b64));
    assert_null(strcasestr(text, hexchunk));
    OPENSSL_free(hex);
    BN_free(d);
    EVP_PKEY_free(pkey);
}

static void test_registration_sql(void **state)
{
    (void)state;
    struct quay_servicekey *k = NULL;
    struct k8s_error err;
    char *sql = NULL, *again = NULL;
    size_t len = 0, len2 = 0;
    assert_int_equal(quay_servicekey_generate(&k, &err), 0);
    struct quay_sk_registration reg = {
        .window_namespace = "quay-enterprise",
        .window_name = "cutover-window",
        .reason = "storage cutover",
        .expires_at = 1700000000,
    };
    assert_int_equal(quay_servicekey_sql_register(k, &reg, &sql, &len, &err), 0);
    assert_int_equal(len, strlen(sql));
    assert_non_null(strstr(sql, k->kid));
    assert_non_null(strstr(sql, "ON CONFLICT (kid) DO UPDATE"));
    assert_non_null(strstr(sql, "'ServiceKeyApprovalType.AUTOMATIC'"));
    assert_non_null(strstr(sql, "TIMESTAMP '2023-11-14 22:13:20'"));
    assert_non_null(
        strstr(sql, "E'quay-storage-operator readonly quay-enterprise/cutover-window'"));
    assert_non_null(strstr(sql, "ReadOnlyWindow quay-enterprise/cutover-window: storage cutover"));
    assert_non_null(strstr(sql, "\"created_by\": \"quay-storage-operator\""));
    assert_non_null(strstr(sql, "BEGIN ISOLATION LEVEL READ COMMITTED;"));
    assert_non_null(strstr(sql, "COMMIT;"));
    assert_no_private_key_in(k, sql);
    /* Deterministic: the same inputs give the same script. */
    assert_int_equal(quay_servicekey_sql_register(k, &reg, &again, &len2, &err), 0);
    assert_string_equal(sql, again);
    free(again);
    free(sql);

    char *ext = NULL, *exp = NULL;
    assert_int_equal(quay_servicekey_sql_extend(k->kid, 1700003600, &ext, NULL, &err), 0);
    assert_non_null(strstr(ext, "GREATEST(expiration_date, TIMESTAMP '2023-11-14 23:13:20')"));
    assert_int_equal(quay_servicekey_sql_expire(k->kid, &exp, NULL, &err), 0);
    assert_non_null(strstr(exp, "SET expiration_date = (now() AT TIME ZONE 'UTC')"));
    assert_no_private_key_in(k, ext);
    assert_no_private_key_in(k, exp);
    free(ext);
    free(exp);

    /* Refusals, each with its reason; no output on failure. */
    struct quay_sk_registration r = reg;
    char *none = (char *)1;
    r.window_namespace = "Bad_NS";
    assert_int_equal(quay_servicekey_sql_register(k, &r, &none, NULL, &err), K8S_EARG);
    assert_null(none);
    assert_string_equal(err.reason, QUAY_SK_R_BAD_VALUE);
    r = reg;
    r.service = "Quay";
    assert_int_equal(quay_servicekey_sql_register(k, &r, &none, NULL, &err), K8S_EARG);
    assert_string_equal(err.reason, QUAY_SK_R_BAD_VALUE);
    r = reg;
    r.expires_at = 0;
    assert_int_equal(quay_servicekey_sql_register(k, &r, &none, NULL, &err), K8S_EARG);
    r = reg;
    char longname[QUAY_SK_MAX_NAME + 2];
    memset(longname, 'x', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    r.name = longname;
    assert_int_equal(quay_servicekey_sql_register(k, &r, &none, NULL, &err), K8S_EARG);
    assert_string_equal(err.reason, QUAY_SK_R_BAD_TEXT);
    r = reg;
    r.reason = "bad \xff byte";
    assert_int_equal(quay_servicekey_sql_register(k, &r, &none, NULL, &err), K8S_EARG);
    assert_string_equal(err.reason, QUAY_SK_R_BAD_TEXT);
    assert_int_equal(quay_servicekey_sql_extend("abc'd", 1700000000, &none, NULL, &err), K8S_EARG);
    assert_int_equal(quay_servicekey_sql_expire("$qso$", &none, NULL, &err), K8S_EARG);
    assert_null(none);
    quay_servicekey_free(k);
}

/* ---- DB_URI -> service file ---------------------------------------------------------- */

static void test_service_file_from_db_uri(void **state)
{
    (void)state;
    struct k8s_error err;
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(quay_pg_service_from_db_uri(
                         "quay",
                         "postgresql://quayuser:p%40ss%3Aw%2Frd%25@db.example:5432/quay?sslmode="
                         "verify-full&sslrootcert=/conf/stack/database.pem",
                         &out, &len, &err),
                     0);
    assert_int_equal(len, strlen(out));
    assert_non_null(strstr(out, "\n[quay]\nhost=db.example\nport=5432\ndbname=quay\nuser=quayuser\n"
                                "password=p@ss:w/rd%\nsslmode=verify-full\n"
                                "sslrootcert=/conf/stack/database.pem\n"));
    free(out);

    assert_int_equal(
        quay_pg_service_from_db_uri("q", "postgres://u@[fd00::1]:5433/db", &out, NULL, &err), 0);
    assert_non_null(strstr(out, "[q]\nhost=fd00::1\nport=5433\ndbname=db\nuser=u\n"));
    assert_null(strstr(out, "password="));
    free(out);
    assert_int_equal(
        quay_pg_service_from_db_uri("q", "postgresql+psycopg2://u:pw@h/db", &out, NULL, &err), 0);
    assert_non_null(strstr(out, "host=h\ndbname=db\nuser=u\npassword=pw\n"));
    free(out);

    struct {
        const char *uri, *reason;
    } bad[] = {
        {"mysql+pymysql://u:s3cretpw@h/db", QUAY_SK_R_UNSUPPORTED},
        {"sqlite:///tmp/quay.db", QUAY_SK_R_BAD_URI},
        {"postgresql://u:s3cretpw@h:99999/db", QUAY_SK_R_BAD_URI},
        {"postgresql://u:s3cretpw%0Aevil@h/db", QUAY_SK_R_BAD_URI},
        {"postgresql://u:s3cretpw%20@h/db", QUAY_SK_R_BAD_URI},
        {"postgresql://u:s3cretpw%zz@h/db", QUAY_SK_R_BAD_URI},
        {"postgresql://u:s3cretpw@h/db?options=-c%20x", QUAY_SK_R_BAD_URI},
        {"postgresql://u:s3cretpw@h/", QUAY_SK_R_BAD_URI},
        {"postgresql://u:s3cretpw@/db", QUAY_SK_R_BAD_URI},
        {"db.example:5432", QUAY_SK_R_BAD_URI},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        out = (char *)1;
        assert_int_equal(quay_pg_service_from_db_uri("q", bad[i].uri, &out, NULL, &err), K8S_EARG);
        assert_null(out);
        assert_string_equal(err.reason, bad[i].reason);
        assert_null(strstr(err.message, "s3cretpw"));
    }
    assert_int_equal(quay_pg_service_from_db_uri("bad name", "postgresql://h/db", &out, NULL, &err),
                     K8S_EARG);
}

/*
 * Quay parses DB_URI with SQLAlchemy's make_url: a password may hold '/',
 * '?' and ':' unencoded (only '@' ends it). Such a password is the
 * password, never a query, a port or a database, and an error never shows
 * a piece of it (a '?' in it was once taken for the start of the query, and
 * what followed was echoed as a "query parameter").
 */
static void test_db_uri_password_with_reserved_characters(void **state)
{
    (void)state;
    struct k8s_error err;
    char *out = NULL;
    assert_int_equal(
        quay_pg_service_from_db_uri("q", "postgresql://u:5432/x?s3cretpw@h/db", &out, NULL, &err),
        0);
    assert_non_null(strstr(out, "[q]\nhost=h\ndbname=db\nuser=u\npassword=5432/x?s3cretpw\n"));
    free(out);
    assert_int_equal(
        quay_pg_service_from_db_uri(
            "q", "postgresql://u:a?b:c/d@db.example:5433/quay?sslmode=require", &out, NULL, &err),
        0);
    assert_non_null(strstr(out, "host=db.example\nport=5433\ndbname=quay\nuser=u\n"
                                "password=a?b:c/d\nsslmode=require\n"));
    free(out);
    /* '@' in a query value and in a user name without a password. */
    assert_int_equal(quay_pg_service_from_db_uri("q", "postgresql://u:pw@h/db?application_name=a@b",
                                                 &out, NULL, &err),
                     0);
    assert_non_null(strstr(out, "host=h\ndbname=db\nuser=u\npassword=pw\napplication_name=a@b\n"));
    free(out);
    assert_int_equal(quay_pg_service_from_db_uri("q", "postgresql://u@h:5432/db", &out, NULL, &err),
                     0);
    assert_non_null(strstr(out, "host=h\nport=5432\ndbname=db\nuser=u\n"));
    free(out);

    /* Refused URIs still never show the password. */
    const char *bad[] = {
        "postgresql://u:x?s3cretpw@h/db?x",
        "postgresql://u:5432/x?s3cretpw=1@h/",
        "postgresql:/u:s3cretpw://h/db",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        out = (char *)1;
        assert_int_equal(quay_pg_service_from_db_uri("q", bad[i], &out, NULL, &err), K8S_EARG);
        assert_null(out);
        assert_null(strstr(err.message, "s3cretpw"));
    }
}

/* Nothing this module does writes to stdout or stderr. */
static void test_nothing_is_printed(void **state)
{
    (void)state;
    char path[] = "/tmp/qso-sk-print.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stdout);
    fflush(stderr);
    int saved_out = dup(1), saved_err = dup(2);
    dup2(fd, 1);
    dup2(fd, 2);

    struct quay_servicekey *k = NULL, *bad = NULL;
    struct k8s_error err;
    char *sql = NULL, *svc = NULL, *svc2 = NULL;
    int rc1 = quay_servicekey_generate(&k, &err);
    struct quay_sk_registration reg = {
        .window_namespace = "ns", .window_name = "w", .expires_at = 1700000000};
    int rc2 = rc1 ? rc1 : quay_servicekey_sql_register(k, &reg, &sql, NULL, &err);
    int rc3 = quay_servicekey_from_pem("junk", 4, &bad, &err);
    int rc4 = quay_pg_service_from_db_uri("q", "postgresql://u:pw@h/db", &svc, NULL, &err);
    int rc5 = quay_pg_service_from_db_uri("q", "postgresql://u:pw@h:0/db", &svc2, NULL, &err);

    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    close(fd);
    unlink(path);
    assert_int_equal(rc1, 0);
    assert_int_equal(rc2, 0);
    assert_int_equal(rc3, K8S_EDECODE);
    assert_int_equal(rc4, 0);
    assert_int_equal(rc5, K8S_EARG);
    assert_int_equal(st.st_size, 0);
    free(svc);
    free(sql);
    quay_servicekey_free(k);
}

/* ---- PostgreSQL ---------------------------------------------------------------------- */

struct pg {
    char state[256];
    char bindir[200];
    char servicefile[512]; /* rendered by quay_pg_service_from_db_uri() */
    char superservicefile[512];
    char work[320];
    int up;
};

static struct pg pg;

/* run: fork/exec `argv` with the PG* environment replaced by `extra_env`
 * (NULL-terminated "K=V" list); stdout and stderr go to out_path (if any).
 * Returns the exit status, or -1. */
static int run(char *const argv[], const char *const *extra_env, const char *out_path)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        char *envp[256];
        size_t n = 0;
        for (char **e = environ; *e && n < 200; e++)
            if (strncmp(*e, "PG", 2) != 0)
                envp[n++] = *e;
        for (size_t i = 0; extra_env && extra_env[i] && n < 254; i++)
            envp[n++] = (char *)extra_env[i];
        envp[n] = NULL;
        int fd = open(out_path ? out_path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int in = open("/dev/null", O_RDONLY);
        if (fd < 0 || in < 0)
            _exit(126);
        dup2(in, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        execve(argv[0], argv, envp);
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return strdup("");
    char *buf = calloc(1, 1 << 20);
    size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    (void)n;
    fclose(f);
    return buf;
}

static void write_file(const char *path, const char *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
}

/* psql as the `quay` role through our rendered service file; `tz` sets the
 * session time zone (PGTZ) to prove nothing depends on it. */
static int psql_file(const char *sql_path, const char *tz, char **output)
{
    char psql[300], env1[600], env2[64], out[512];
    snprintf(psql, sizeof(psql), "%s/psql", pg.bindir);
    snprintf(env1, sizeof(env1), "PGSERVICEFILE=%s", pg.servicefile);
    snprintf(env2, sizeof(env2), "PGTZ=%s", tz ? tz : "UTC");
    snprintf(out, sizeof(out), "%s/psql.out", pg.work);
    const char *env[] = {env1, env2, NULL};
    char *argv[] = {psql, "-X",
                    "-q", "-w",
                    "-v", "ON_ERROR_STOP=1",
                    "-d", "service=quaydb",
                    "-f", (char *)sql_path,
                    NULL};
    int rc = run(argv, env, out);
    if (output)
        *output = slurp(out);
    return rc;
}

static int psql_sql(const char *sql, const char *tz, char **output)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/script.sql", pg.work);
    write_file(path, sql, strlen(sql));
    return psql_file(path, tz, output);
}

/* One query's unaligned, tuples-only output (trailing newline removed). */
static char *query(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *query(const char *fmt, ...)
{
    char sql[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    char path[512], psql[300], env1[600], out[512];
    snprintf(path, sizeof(path), "%s/query.sql", pg.work);
    write_file(path, sql, strlen(sql));
    snprintf(psql, sizeof(psql), "%s/psql", pg.bindir);
    snprintf(env1, sizeof(env1), "PGSERVICEFILE=%s", pg.servicefile);
    snprintf(out, sizeof(out), "%s/query.out", pg.work);
    const char *env[] = {env1, "PGTZ=America/Los_Angeles", NULL};
    char *argv[] = {
        psql, "-X", "-q", "-w", "-At", "-F", "|", "-v", "ON_ERROR_STOP=1", "-d", "service=quaydb",
        "-f", path, NULL};
    int rc = run(argv, env, out);
    char *res = slurp(out);
    if (rc != 0)
        fprintf(stderr, "query failed (%d): %s\n%s\n", rc, sql, res);
    assert_int_equal(rc, 0);
    size_t n = strlen(res);
    while (n && res[n - 1] == '\n')
        res[--n] = '\0';
    return res;
}

/* Reads KEY='value' from start.sh's env file. */
static int env_value(const char *env_text, const char *key, char *out, size_t cap)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\n%s='", key);
    char *text = NULL;
    if (asprintf(&text, "\n%s", env_text) < 0)
        return -1;
    const char *p = strstr(text, pat);
    int rc = -1;
    if (p) {
        p += strlen(pat);
        const char *q = strchr(p, '\'');
        if (q && (size_t)(q - p) < cap) {
            memcpy(out, p, (size_t)(q - p));
            out[q - p] = '\0';
            rc = 0;
        }
    }
    free(text);
    return rc;
}

/* A service file for `user`/`password` through Quay's DB_URI form. */
static void render_service_file(const char *path, const char *user, const char *pass_enc,
                                const char *port, const char *db)
{
    char uri[512];
    char *svc = NULL;
    size_t len = 0;
    struct k8s_error err;
    snprintf(uri, sizeof(uri), "postgresql://%s:%s@127.0.0.1:%s/%s?sslmode=disable", user, pass_enc,
             port, db);
    assert_int_equal(quay_pg_service_from_db_uri("quaydb", uri, &svc, &len, &err), 0);
    write_file(path, svc, len);
    free(svc);
}

static int pg_setup(void **state)
{
    (void)state;
    memset(&pg, 0, sizeof(pg));
    snprintf(pg.state, sizeof(pg.state), "%s/tmp", QSO_BINARY_DIR);
    mkdir(pg.state, 0755);
    snprintf(pg.state, sizeof(pg.state), "%s/tmp/servicekey-pg.XXXXXX", QSO_BINARY_DIR);
    if (!mkdtemp(pg.state))
        return -1;
    snprintf(pg.work, sizeof(pg.work), "%s/work", pg.state);
    mkdir(pg.work, 0700);

    char script[512], pidbuf[32], startlog[512];
    snprintf(script, sizeof(script), "%s/tests/support/postgres/start.sh", QSO_SOURCE_DIR);
    snprintf(pidbuf, sizeof(pidbuf), "%d", (int)getpid());
    snprintf(startlog, sizeof(startlog), "%s/start.out", pg.work);
    char cluster[512];
    snprintf(cluster, sizeof(cluster), "%s/pg", pg.state);
    char *argv[] = {"/bin/bash", script,          cluster, "--parent-pid",
                    pidbuf,      "--max-seconds", "600",   NULL};
    int rc = run(argv, NULL, startlog);
    if (rc != 0) {
        char *log = slurp(startlog);
        fprintf(stderr, "postgres start.sh failed (%d):\n%s\n", rc, log);
        free(log);
        return -1;
    }
    pg.up = 1;
    char envpath[600];
    snprintf(envpath, sizeof(envpath), "%s/env", cluster);
    char *envtext = slurp(envpath);
    char port[16], password[128], superpass[128];
    int ok = env_value(envtext, "PG_BINDIR", pg.bindir, sizeof(pg.bindir)) == 0 &&
             env_value(envtext, "PG_PORT", port, sizeof(port)) == 0 &&
             env_value(envtext, "PG_PASSWORD", password, sizeof(password)) == 0 &&
             env_value(envtext, "PG_SUPERPASSWORD", superpass, sizeof(superpass)) == 0;
    OPENSSL_cleanse(envtext, strlen(envtext));
    free(envtext);
    if (!ok)
        return -1;
    /* Every connection of the tests goes through a service file that
     * quay_pg_service_from_db_uri() rendered from a DB_URI, as the Job's will. */
    snprintf(pg.servicefile, sizeof(pg.servicefile), "%s/quay.conf", pg.work);
    snprintf(pg.superservicefile, sizeof(pg.superservicefile), "%s/super.conf", pg.work);
    render_service_file(pg.servicefile, "quay", password, port, "quay");
    render_service_file(pg.superservicefile, "postgres", superpass, port, "postgres");

    /* Quay's tables, created by the application role. */
    char ddl[512];
    snprintf(ddl, sizeof(ddl), "%s/tests/fixtures/quay-db/servicekey.sql", QSO_SOURCE_DIR);
    char *out = NULL;
    rc = psql_file(ddl, NULL, &out);
    if (rc != 0)
        fprintf(stderr, "DDL failed: %s\n", out);
    free(out);
    return rc == 0 ? 0 : -1;
}

static int pg_teardown(void **state)
{
    (void)state;
    char script[512], cluster[512];
    snprintf(script, sizeof(script), "%s/tests/support/postgres/stop.sh", QSO_SOURCE_DIR);
    snprintf(cluster, sizeof(cluster), "%s/pg", pg.state);
    if (pg.up) {
        char *argv[] = {"/bin/bash", script, cluster, NULL};
        run(argv, NULL, NULL);
    }
    char *rm[] = {"/bin/rm", "-rf", pg.state, NULL};
    run(rm, NULL, NULL);
    return 0;
}

/*
 * Quay's query for a usable instance key, written from
 * data/model/service_keys.py _list_service_keys_query(kid, service,
 * approved_only=True, alive_only=True) as peewee renders it, with
 * UNAPPROVED_SERVICE_KEY_TTL_SEC (1 day) and EXPIRED_SERVICE_KEY_TTL_SEC
 * (1 week) from config.py and Python's utcnow() as the session's UTC time.
 * get_service_key(kid, service="quay") is this query; boot.py's legacy
 * readonly check drops the approval and service filters.
 */
#define QUAY_NOW "(now() AT TIME ZONE 'UTC')"
static int quay_finds(const char *kid, int approved_only, const char *service)
{
    char svc[300] = "";
    if (service)
        snprintf(svc, sizeof(svc),
                 " AND k.service = '%s'"
                 " AND (NOT (k.service = '%s' AND k.expiration_date <= " QUAY_NOW ")"
                 "      OR NOT (k.service = '%s' AND k.approval_id IS NULL"
                 "              AND k.created_date <= " QUAY_NOW " - interval '86400 seconds'))",
                 service, service, service);
    char *r = query("SELECT count(*) FROM servicekey k"
                    " LEFT OUTER JOIN servicekeyapproval a ON a.id = k.approval_id"
                    " WHERE %s"
                    " (k.expiration_date > " QUAY_NOW " OR k.expiration_date IS NULL)"
                    " %s AND k.kid = '%s'"
                    " AND (NOT (k.expiration_date <= " QUAY_NOW " - interval '604800 seconds')"
                    "      OR k.expiration_date IS NULL)",
                    approved_only ? "NOT (k.approval_id IS NULL) AND" : "", svc, kid);
    char *end = NULL;
    long n = strtol(r, &end, 10);
    assert_true(end != r && *end == '\0');
    free(r);
    return (int)n;
}

static char *register_sql(const struct quay_servicekey *k, const char *name, const char *reason,
                          long long expires_at)
{
    struct quay_sk_registration reg = {
        .window_namespace = "registry",
        .window_name = "upgrade-window",
        .name = name,
        .reason = reason,
        .expires_at = expires_at,
    };
    char *sql = NULL;
    struct k8s_error err;
    assert_int_equal(quay_servicekey_sql_register(k, &reg, &sql, NULL, &err), 0);
    return sql;
}

static void test_pg_register_twice_extend_then_expire(void **state)
{
    (void)state;
    struct quay_servicekey *k = NULL;
    struct k8s_error err;
    assert_int_equal(quay_servicekey_generate(&k, &err), 0);
    long long now = (long long)time(NULL);
    char *out = NULL;

    /* Before: Quay finds nothing. */
    assert_int_equal(quay_finds(k->kid, 1, "quay"), 0);

    /* Registration, twice, from sessions in a non-UTC time zone. */
    char *reg = register_sql(k, NULL, "storage cutover", now + 3600);
    for (int i = 0; i < 2; i++) {
        int rc = psql_sql(reg, "Asia/Kolkata", &out);
        if (rc != 0)
            fprintf(stderr, "registration failed: %s\n", out);
        assert_int_equal(rc, 0);
        free(out);
    }
    char *r = query("SELECT count(*) FROM servicekey WHERE kid = '%s'", k->kid);
    assert_string_equal(r, "1");
    free(r);
    r = query("SELECT count(*) FROM servicekeyapproval a JOIN servicekey k ON k.approval_id = a.id"
              " WHERE k.kid = '%s'",
              k->kid);
    assert_string_equal(r, "1");
    free(r);
    /* Every approval row belongs to a key: the second run made none. */
    r = query("SELECT count(*) FROM servicekeyapproval WHERE id NOT IN"
              " (SELECT approval_id FROM servicekey WHERE approval_id IS NOT NULL)");
    assert_string_equal(r, "0");
    free(r);

    /* The rows are what Quay writes and reads. */
    char expect[64], ts[32];
    assert_int_equal(quay_sql_utc_timestamp(now + 3600, ts, &err), 0);
    r = query("SELECT k.name, k.service, k.jwk = '%s', k.jwk::json->>'n' = '%s',"
              " k.jwk::json->>'kid', k.metadata::json->>'created_by',"
              " k.rotation_duration IS NULL, to_char(k.expiration_date, 'YYYY-MM-DD HH24:MI:SS'),"
              " a.approver_id IS NULL, a.approval_type,"
              " k.created_date BETWEEN " QUAY_NOW " - interval '1 hour' AND " QUAY_NOW ","
              " a.approved_date BETWEEN " QUAY_NOW " - interval '1 hour' AND " QUAY_NOW
              " FROM servicekey k JOIN servicekeyapproval a ON a.id = k.approval_id"
              " WHERE k.kid = '%s'",
              k->jwk, k->n, k->kid);
    snprintf(expect, sizeof(expect), "|%s|", ts);
    char want[1024];
    snprintf(want, sizeof(want),
             "quay-storage-operator readonly registry/upgrade-window|quay|t|t|%s|"
             "quay-storage-operator|t|%s|t|ServiceKeyApprovalType.AUTOMATIC|t|t",
             k->kid, ts);
    assert_string_equal(r, want);
    free(r);
    r = query("SELECT a.notes FROM servicekeyapproval a JOIN servicekey k ON k.approval_id = a.id"
              " WHERE k.kid = '%s'",
              k->kid);
    assert_string_equal(r, "Approved automatically by quay-storage-operator for ReadOnlyWindow "
                           "registry/upgrade-window: storage cutover");
    free(r);
    r = query("SELECT count(*) FROM servicekey WHERE jwk LIKE '%%PRIVATE%%'"
              " OR metadata LIKE '%%PRIVATE%%' OR name LIKE '%%PRIVATE%%'");
    assert_string_equal(r, "0");
    free(r);

    /* Quay's checks: token verification and both boot paths find it. */
    assert_int_equal(quay_finds(k->kid, 1, "quay"), 1);
    assert_int_equal(quay_finds(k->kid, 0, NULL), 1);
    assert_int_equal(quay_finds(k->kid, 1, "clair"), 0);

    /* Extend, twice; an earlier time does not shorten it. */
    char *ext = NULL;
    assert_int_equal(quay_servicekey_sql_extend(k->kid, now + 7200, &ext, NULL, &err), 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(psql_sql(ext, "Pacific/Auckland", &out), 0);
        free(out);
    }
    free(ext);
    assert_int_equal(quay_sql_utc_timestamp(now + 7200, ts, &err), 0);
    r = query("SELECT to_char(expiration_date, 'YYYY-MM-DD HH24:MI:SS') FROM servicekey"
              " WHERE kid = '%s'",
              k->kid);
    assert_string_equal(r, ts);
    free(r);
    assert_int_equal(quay_servicekey_sql_extend(k->kid, now + 1800, &ext, NULL, &err), 0);
    assert_int_equal(psql_sql(ext, NULL, &out), 0);
    free(out);
    free(ext);
    r = query("SELECT to_char(expiration_date, 'YYYY-MM-DD HH24:MI:SS') FROM servicekey"
              " WHERE kid = '%s'",
              k->kid);
    assert_string_equal(r, ts);
    free(r);
    /* Re-registration does not shorten an extended key either. */
    assert_int_equal(psql_sql(reg, NULL, &out), 0);
    free(out);
    r = query("SELECT to_char(expiration_date, 'YYYY-MM-DD HH24:MI:SS') FROM servicekey"
              " WHERE kid = '%s'",
              k->kid);
    assert_string_equal(r, ts);
    free(r);
    assert_int_equal(quay_finds(k->kid, 1, "quay"), 1);

    /* The end of the window: expiry now, twice (the second keeps the first's time). */
    char *exp = NULL;
    assert_int_equal(quay_servicekey_sql_expire(k->kid, &exp, NULL, &err), 0);
    assert_int_equal(psql_sql(exp, "Asia/Kolkata", &out), 0);
    free(out);
    char *first = query("SELECT expiration_date FROM servicekey WHERE kid = '%s'", k->kid);
    assert_int_equal(psql_sql(exp, NULL, &out), 0);
    free(out);
    r = query("SELECT expiration_date FROM servicekey WHERE kid = '%s'", k->kid);
    assert_string_equal(r, first);
    free(r);
    free(first);
    r = query("SELECT expiration_date <= " QUAY_NOW " FROM servicekey WHERE kid = '%s'", k->kid);
    assert_string_equal(r, "t");
    free(r);
    assert_int_equal(quay_finds(k->kid, 1, "quay"), 0);
    assert_int_equal(quay_finds(k->kid, 0, NULL), 0);

    /* An expired key cannot be extended: the script fails and says why. */
    assert_int_equal(quay_servicekey_sql_extend(k->kid, now + 7200, &ext, NULL, &err), 0);
    assert_int_equal(psql_sql(ext, NULL, &out), 3);
    assert_non_null(strstr(out, "is not registered, approved and alive"));
    free(out);
    free(ext);
    assert_int_equal(quay_finds(k->kid, 1, "quay"), 0);

    /* Expiring an absent key is not an error. */
    char *exp2 = NULL;
    assert_int_equal(quay_servicekey_sql_expire("absentkid", &exp2, NULL, &err), 0);
    assert_int_equal(psql_sql(exp2, NULL, &out), 0);
    free(out);
    free(exp2);
    free(exp);
    free(reg);
    quay_servicekey_free(k);
}

static void test_pg_expiry_in_the_past_commits_nothing(void **state)
{
    (void)state;
    struct quay_servicekey *k = NULL;
    struct k8s_error err;
    char *out = NULL;
    assert_int_equal(quay_servicekey_generate(&k, &err), 0);
    char *before = query("SELECT count(*) FROM servicekeyapproval");
    char *reg = register_sql(k, NULL, NULL, (long long)time(NULL) - 3600);
    assert_int_equal(psql_sql(reg, NULL, &out), 3);
    assert_non_null(strstr(out, "is not approved and alive for service quay"));
    free(out);
    char *r = query("SELECT count(*) FROM servicekey WHERE kid = '%s'", k->kid);
    assert_string_equal(r, "0");
    free(r);
    r = query("SELECT count(*) FROM servicekeyapproval");
    assert_string_equal(r, before);
    free(r);
    free(before);
    free(reg);
    quay_servicekey_free(k);
}

static void test_pg_hostile_names_are_stored_exactly(void **state)
{
    (void)state;
    struct quay_servicekey *k = NULL;
    struct k8s_error err;
    char *out = NULL;
    assert_int_equal(quay_servicekey_generate(&k, &err), 0);
    const char *name = "o'brien \\ $qso$ :kid \\set x ; DROP TABLE servicekey; --\n\xc3\xa9\t";
    const char *reason = "it's \"quoted\" \\x41 $$ %% E'' \xe2\x82\xac\r\nnext line";
    char *reg = register_sql(k, name, reason, (long long)time(NULL) + 3600);
    int rc = psql_sql(reg, NULL, &out);
    if (rc != 0)
        fprintf(stderr, "registration failed: %s\n", out);
    assert_int_equal(rc, 0);
    free(out);

    /* Compare as hex, so every byte counts. */
    char hex[1024], notes[2048], nhex[4096];
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        o += (size_t)snprintf(hex + o, sizeof(hex) - o, "%02x", *p);
    snprintf(notes, sizeof(notes),
             "Approved automatically by quay-storage-operator for ReadOnlyWindow "
             "registry/upgrade-window: %s",
             reason);
    o = 0;
    for (const unsigned char *p = (const unsigned char *)notes; *p; p++)
        o += (size_t)snprintf(nhex + o, sizeof(nhex) - o, "%02x", *p);
    char *r = query("SELECT encode(convert_to(k.name, 'UTF8'), 'hex'),"
                    " encode(convert_to(a.notes, 'UTF8'), 'hex')"
                    " FROM servicekey k JOIN servicekeyapproval a ON a.id = k.approval_id"
                    " WHERE k.kid = '%s'",
                    k->kid);
    char want[8192];
    snprintf(want, sizeof(want), "%s|%s", hex, nhex);
    assert_string_equal(r, want);
    free(r);
    r = query("SELECT count(*) FROM servicekey");
    assert_true(strtol(r, NULL, 10) >= 1); /* the table is still there */
    free(r);
    free(reg);
    quay_servicekey_free(k);
}

static void test_pg_concurrent_registrations_leave_one_approval(void **state)
{
    (void)state;
    struct quay_servicekey *k = NULL;
    struct k8s_error err;
    assert_int_equal(quay_servicekey_generate(&k, &err), 0);
    char *reg = register_sql(k, NULL, NULL, (long long)time(NULL) + 3600);
    char path[512], psql[300], env1[600];
    snprintf(path, sizeof(path), "%s/concurrent.sql", pg.work);
    write_file(path, reg, strlen(reg));
    snprintf(psql, sizeof(psql), "%s/psql", pg.bindir);
    snprintf(env1, sizeof(env1), "PGSERVICEFILE=%s", pg.servicefile);
    for (int round = 0; round < 3; round++) {
        pid_t pids[4];
        for (int i = 0; i < 4; i++) {
            pids[i] = fork();
            assert_true(pids[i] >= 0);
            if (pids[i] == 0) {
                const char *env[] = {env1, NULL};
                char *argv[] = {
                    psql, "-X", "-q", "-w", "-v", "ON_ERROR_STOP=1", "-d", "service=quaydb",
                    "-f", path, NULL};
                _exit(run(argv, env, NULL));
            }
        }
        for (int i = 0; i < 4; i++) {
            int status = 0;
            assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
            assert_true(WIFEXITED(status));
            assert_int_equal(WEXITSTATUS(status), 0);
        }
    }
    char *r = query("SELECT count(*), count(DISTINCT approval_id) FROM servicekey"
                    " WHERE kid = '%s'",
                    k->kid);
    assert_string_equal(r, "1|1");
    free(r);
    r = query("SELECT count(*) FROM servicekeyapproval WHERE id NOT IN"
              " (SELECT approval_id FROM servicekey WHERE approval_id IS NOT NULL)");
    assert_string_equal(r, "0");
    free(r);
    assert_int_equal(quay_finds(k->kid, 1, "quay"), 1);
    free(reg);
    quay_servicekey_free(k);
}

/* A password full of URI and service-file specials, through DB_URI. */
static void test_pg_service_file_carries_a_hard_password(void **state)
{
    (void)state;
    const char *pw = "p@ss:w/rd?#%&= 'x\"\\y";
    /* Percent-encode every byte outside unreserved characters. */
    char enc[256];
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)pw; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'))
            enc[o++] = (char)*p;
        else
            o += (size_t)snprintf(enc + o, sizeof(enc) - o, "%%%02X", *p);
    }
    enc[o] = '\0';
    /* The role is created by the superuser; its password through stdin. */
    char sql[512], path[512], psql[300], env1[600], outp[512];
    snprintf(sql, sizeof(sql), "CREATE ROLE hardpw LOGIN PASSWORD 'p@ss:w/rd?#%%&= ''x\"\\y';\n");
    snprintf(path, sizeof(path), "%s/role.sql", pg.work);
    write_file(path, sql, strlen(sql));
    snprintf(psql, sizeof(psql), "%s/psql", pg.bindir);
    snprintf(env1, sizeof(env1), "PGSERVICEFILE=%s", pg.superservicefile);
    snprintf(outp, sizeof(outp), "%s/role.out", pg.work);
    const char *env[] = {env1, NULL};
    char *argv[] = {psql, "-X", "-q", "-w", "-v", "ON_ERROR_STOP=1", "-d", "service=quaydb",
                    "-f", path, NULL};
    assert_int_equal(run(argv, env, outp), 0);

    char svcpath[512], port[16];
    char *p = query("SHOW port");
    snprintf(port, sizeof(port), "%s", p);
    free(p);
    snprintf(svcpath, sizeof(svcpath), "%s/hardpw.conf", pg.work);
    render_service_file(svcpath, "hardpw", enc, port, "quay");
    char *svc = slurp(svcpath);
    assert_non_null(strstr(svc, "password=p@ss:w/rd?#%&= 'x\"\\y\n"));
    free(svc);
    snprintf(env1, sizeof(env1), "PGSERVICEFILE=%s", svcpath);
    snprintf(path, sizeof(path), "%s/whoami.sql", pg.work);
    write_file(path, "SELECT current_user;\n", 21);
    char *argv2[] = {psql, "-X", "-q", "-w", "-At", "-d", "service=quaydb", "-f", path, NULL};
    assert_int_equal(run(argv2, env, outp), 0);
    char *who = slurp(outp);
    assert_string_equal(who, "hardpw\n");
    free(who);
}

int main(void)
{
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(test_generated_key_has_quay_jwk_and_rfc7638_kid),
        cmocka_unit_test(test_jwk_verifies_a_signature_made_with_the_pem),
        cmocka_unit_test(test_kid_matches_rfc7638_example),
        cmocka_unit_test(test_pem_parses_back_to_the_same_key),
        cmocka_unit_test(test_bad_keys_are_refused_with_their_reason),
        cmocka_unit_test(test_sql_literals_escape_quotes_backslashes_and_controls),
        cmocka_unit_test(test_utc_timestamps),
        cmocka_unit_test(test_registration_sql),
        cmocka_unit_test(test_service_file_from_db_uri),
        cmocka_unit_test(test_db_uri_password_with_reserved_characters),
        cmocka_unit_test(test_nothing_is_printed),
    };
    const struct CMUnitTest with_postgres[] = {
        cmocka_unit_test(test_pg_register_twice_extend_then_expire),
        cmocka_unit_test(test_pg_expiry_in_the_past_commits_nothing),
        cmocka_unit_test(test_pg_hostile_names_are_stored_exactly),
        cmocka_unit_test(test_pg_concurrent_registrations_leave_one_approval),
        cmocka_unit_test(test_pg_service_file_carries_a_hard_password),
    };
    int failed = cmocka_run_group_tests_name("servicekey", pure, NULL, NULL);
    failed +=
        cmocka_run_group_tests_name("servicekey_postgres", with_postgres, pg_setup, pg_teardown);
    return failed;
}
