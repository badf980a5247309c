/*
 * quay_servicekey: the service key a ReadOnly window needs, and the SQL that
 * registers it in Quay's database, extends it and ends it.
 *
 * Why: Quay in `REGISTRY_STATE: readonly` cannot create its own instance key
 * (the database is read-only to it), so boot.py refuses to start unless the
 * key named by INSTANCE_SERVICE_KEY_KID_LOCATION / INSTANCE_SERVICE_KEY_LOCATION
 * is already in the `servicekey` table. The runbook (seeds/004) does this by
 * hand with tools/generatekeypair.py and three psql statements; this module
 * does it with OpenSSL and one idempotent SQL script.
 *
 * What Quay requires (verified in quay/quay, see the .c file for sources):
 *  - The .kid file: the key ID only, no newline (the legacy boot path reads it
 *    without stripping). The .pem file: an RSA private key, PKCS#1 PEM
 *    ("BEGIN RSA PRIVATE KEY"), as generatekeypair.py and boot.py write it.
 *  - kid = the RFC 7638 JWK thumbprint (base64url SHA-256 of
 *    {"e":..,"kty":"RSA","n":..}). Current Quay with
 *    INSTANCE_SERVICE_KEY_IMPORT_FROM_FILES recomputes it from the PEM and
 *    refuses a mismatch; Quay's own keys (authlib) use it too. NOTE:
 *    tools/generatekeypair.py still writes a DIFFERENT kid (hex SHA-256 of the
 *    canonical JWK) — accepted only by the legacy boot path; we do not copy it.
 *  - The row: service = INSTANCE_SERVICE_KEY_SERVICE ("quay" by default),
 *    approved (approval_id set), alive (expiration_date NULL or later than
 *    Python's datetime.utcnow(): naive UTC), jwk = JSON text with the same
 *    n/e. Quay's token verification (InstanceKeys) lists only approved, alive
 *    keys of that service, so all three matter even where boot checks less.
 *
 * Secrets: only `pem` is secret. It never enters the SQL, a log line or an
 * error message; quay_servicekey_free() wipes it. Errors carry a stable
 * `reason` (QUAY_SK_R_*) next to the K8S_E* code so a reconciler can turn
 * them into condition reasons.
 *
 * Running the SQL (the Job is built elsewhere): the registry's own Quay image
 * ships psql. The SQL holds no secret (public JWK, kid, names): mount it from
 * a ConfigMap. The database credentials come from a Secret holding a libpq
 * service file (quay_pg_service_from_db_uri() renders it from Quay's DB_URI),
 * mounted read-only; nothing secret is on the command line or in env:
 *
 *   PGSERVICEFILE=/run/qso/db/pg_service.conf  (from the mounted Secret)
 *   psql -X -q -w -v ON_ERROR_STOP=1 -d service=quay -f /run/qso/sql/register.sql
 *
 * -X ignores any psqlrc, -w never prompts, ON_ERROR_STOP makes psql exit 3 on
 * the first failed statement (the scripts are single transactions, so a
 * failure changes nothing). Every script is safe to run again.
 */
#ifndef QSO_QUAY_SERVICEKEY_H
#define QSO_QUAY_SERVICEKEY_H

#include <stddef.h>

#include "k8s_error.h"

#define QUAY_SK_RSA_BITS     2048
#define QUAY_SK_KID_LEN      43  /* base64url of 32 bytes, no padding */
#define QUAY_SK_MAX_N_B64    700 /* up to 4096-bit moduli (683 chars) */
#define QUAY_SK_MAX_E_B64    16
#define QUAY_SK_MAX_JWK      1024
#define QUAY_SK_MAX_PEM      8192
#define QUAY_SK_MAX_NAME     255 /* servicekey.name VARCHAR(255) */
#define QUAY_SK_MAX_NOTES    4096
#define QUAY_SK_MAX_SQL      (64 * 1024)
#define QUAY_SK_SERVICE_QUAY "quay" /* Quay's default INSTANCE_SERVICE_KEY_SERVICE */

/* Stable reasons, stored in err->reason. */
#define QUAY_SK_R_CRYPTO      "CryptoFailed" /* OpenSSL failed (message says where) */
#define QUAY_SK_R_BAD_PEM     "InvalidPEM"   /* PEM does not parse as a private key */
#define QUAY_SK_R_NOT_RSA     "NotRSA"       /* a key, but not RSA */
#define QUAY_SK_R_WEAK_KEY    "KeyTooSmall"  /* RSA below 2048 bits */
#define QUAY_SK_R_BAD_TEXT    "InvalidText"  /* NUL byte, invalid UTF-8, too long */
#define QUAY_SK_R_BAD_VALUE   "InvalidValue" /* kid, service name, time out of range */
#define QUAY_SK_R_BAD_URI     "InvalidDatabaseURI"
#define QUAY_SK_R_UNSUPPORTED "UnsupportedDatabase"
#define QUAY_SK_R_NOMEM       "OutOfMemory"

/*
 * A service key. Public parts in fixed buffers; the private key in an owned
 * buffer that quay_servicekey_free() wipes.
 */
struct quay_servicekey {
    char kid[QUAY_SK_KID_LEN + 1];
    char n[QUAY_SK_MAX_N_B64 + 1]; /* modulus, base64url, no padding */
    char e[QUAY_SK_MAX_E_B64 + 1]; /* public exponent, base64url ("AQAB") */
    /* The public JWK as Quay stores it in servicekey.jwk (authlib's as_dict()
     * through json.dumps): {"n": "...", "e": "AQAB", "kty": "RSA", "kid": "..."} */
    char jwk[QUAY_SK_MAX_JWK + 1];
    unsigned char *pem; /* SECRET: PKCS#1 PEM, NUL-terminated; pem_len excludes the NUL */
    size_t pem_len;
};

/* A fresh RSA-2048 key. */
int quay_servicekey_generate(struct quay_servicekey **out, struct k8s_error *err);
/* The key of an existing PEM (PKCS#1 or PKCS#8, RSA >= 2048 bits), e.g. read
 * back from a state Secret; the stored PEM is re-encoded as PKCS#1. */
int quay_servicekey_from_pem(const void *pem, size_t pem_len, struct quay_servicekey **out,
                             struct k8s_error *err);
/* Wipes the private key, then frees. NULL is fine. */
void quay_servicekey_free(struct quay_servicekey *k);

/*
 * RFC 7638 thumbprint of an RSA JWK given its base64url n and e: writes the
 * 43-character kid and a NUL into `kid` (QUAY_SK_KID_LEN + 1 bytes).
 */
int quay_jwk_rsa_thumbprint(const char *n_b64, const char *e_b64, char kid[QUAY_SK_KID_LEN + 1],
                            struct k8s_error *err);

/* ---- SQL ----------------------------------------------------------------------------- */

struct quay_sk_registration {
    const char *window_namespace; /* required: the ReadOnlyWindow this key belongs to */
    const char *window_name;      /* required */
    const char *name;     /* servicekey.name; NULL: "quay-storage-operator readonly <ns>/<name>" */
    const char *service;  /* NULL: "quay"; must match Quay's ^[a-z0-9_]+$ */
    const char *reason;   /* optional free text, added to the approval notes */
    long long expires_at; /* Unix seconds: the window's end plus a margin */
};

/*
 * The registration script, one READ COMMITTED transaction:
 *  1. INSERT the servicekey row (name, kid, service, jwk, metadata,
 *     created_date, expiration_date; naive UTC) ON CONFLICT (kid) DO UPDATE —
 *     a second run refreshes name/service/jwk/metadata and never shortens
 *     the expiry;
 *  2. if the row has no approval yet: INSERT a servicekeyapproval
 *     (approver NULL, 'ServiceKeyApprovalType.AUTOMATIC', notes naming the
 *     window) and link it, in one statement that locks the row, so two
 *     concurrent runs still leave one approval;
 *  3. check that Quay's own query (approved, alive, service) finds the key,
 *     and fail the transaction otherwise (e.g. an expiry already past).
 * Uses only key->kid and key->jwk: the private key cannot reach the SQL.
 * *sql is NUL-terminated, owned by the caller.
 */
int quay_servicekey_sql_register(const struct quay_servicekey *key,
                                 const struct quay_sk_registration *reg, char **sql, size_t *len,
                                 struct k8s_error *err);

/* Moves the expiry of a still-alive key to `expires_at` (never earlier than it
 * is); fails when no alive key with this kid exists, so a window is never
 * extended on a key Quay no longer accepts. */
int quay_servicekey_sql_extend(const char *kid, long long expires_at, char **sql, size_t *len,
                               struct k8s_error *err);

/* Sets the expiry of an alive key to the database's "now" (UTC): the end of
 * the window. A key already expired or absent is left alone (success). Quay
 * garbage-collects the row EXPIRED_SERVICE_KEY_TTL_SEC (a week) later. Run it
 * once the registry is back read-write: Quay makes a new key at that boot. */
int quay_servicekey_sql_expire(const char *kid, char **sql, size_t *len, struct k8s_error *err);

/*
 * Appends `s` (len bytes) as a PostgreSQL escape-string literal E'...' that
 * means the same bytes whatever standard_conforming_strings is. Refuses NUL
 * bytes and invalid UTF-8 (QUAY_SK_R_BAD_TEXT); `what` names the field in
 * the message. `out` is a struct k8s_buf.
 */
struct k8s_buf;
int quay_sql_literal(struct k8s_buf *out, const char *what, const char *s, size_t len,
                     struct k8s_error *err);

/* 'YYYY-MM-DD HH:MM:SS' (UTC) for Unix seconds in 1970..9999. */
int quay_sql_utc_timestamp(long long unix_seconds, char out[32], struct k8s_error *err);

/*
 * Renders a libpq service file with one section [service_name] from Quay's
 * DB_URI (postgresql://user:password@host:port/db?sslmode=..., also
 * "postgres://" and "postgresql+psycopg2://"): percent-decoded, checked for
 * what a service file cannot carry (newlines, NUL, trailing blanks). Query
 * parameters that are libpq connection keywords (sslmode, sslrootcert,
 * sslcert, sslkey, sslcrl, connect_timeout, target_session_attrs,
 * channel_binding, gssencmode, application_name) are kept, others refused.
 * The result holds the password: store it only in a Secret. Messages never
 * contain the password. MySQL URIs are refused (QUAY_SK_R_UNSUPPORTED).
 * Note: TLS file paths refer to files in the Quay pod; the Job must mount
 * them at the same paths.
 */
int quay_pg_service_from_db_uri(const char *service_name, const char *db_uri, char **out,
                                size_t *len, struct k8s_error *err);

#endif
