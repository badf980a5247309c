/*
 * quay_bundle: a Quay config bundle — the `.data` map of a Secret (key ->
 * bytes): `config.yaml`, certificates, service-key files, and, for the Quay
 * Operator, `*.config.yaml` partial configs — and the typed edits the
 * operator makes to it.
 *
 * Ground rules (DESIGN.md, "the one mechanism"):
 *   - Every key we do not edit is carried byte-for-byte. A YAML file we edit
 *     is re-emitted by quay_yaml (comments in THAT file are lost, see
 *     quay_yaml.h); an edit that changes nothing (same value and type) leaves
 *     the file's bytes alone.
 *   - A bundle is identified by the sha256 of its data in a canonical form:
 *     keys in byte order, each as u64be(len(key)) || key || u64be(len(value))
 *     || value. Two bundles with the same map have the same digest, whatever
 *     order a Secret listed them in.
 *
 * Partial configs (QUAY_BUNDLE_OPERATOR only). The Quay Operator
 * (pkg/kustomize FlattenSecret) treats every key CONTAINING ".config.yaml"
 * as a partial: it loads it as a mapping and copies its top-level keys over
 * config.yaml's, then drops the key. So a top-level key defined in a partial
 * is effective THERE: we read and edit it there. If two partials define the
 * same key, which one wins depends on Go's map order: we refuse to guess and
 * fail with K8S_ECONFLICT naming both. A Quay without the operator
 * (QUAY_BUNDLE_STANDALONE) reads only its config file; partials are then just
 * other keys.
 *
 * CA certificates. The Quay Operator routes every key starting with
 * "extra_ca_cert_" into the extra-ca-certs volume, and Quay's own
 * certs_install.sh trusts every file named "extra_ca*" in its config
 * directory; we write CAs as "extra_ca_cert_<name>.crt" (both paths honour
 * it) after checking the PEM with OpenSSL.
 *
 * Errors: K8S_EDECODE (a YAML file does not parse; the message names the key
 * and line), K8S_EINVALID (a value has the wrong shape, or a write would
 * produce something Quay cannot load), K8S_ENOTFOUND, K8S_ECONFLICT,
 * K8S_ENOMEM (including the size limit). Messages never contain values of
 * the bundle, only keys and positions.
 */
#ifndef QSO_QUAY_BUNDLE_H
#define QSO_QUAY_BUNDLE_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "k8s_error.h"
#include "quay_yaml.h"

/* Kubernetes refuses Secrets whose data exceeds 1 MiB. */
#define QUAY_BUNDLE_MAX_BYTES  (1024u * 1024u)
#define QUAY_BUNDLE_MAX_KEY    253
#define QUAY_BUNDLE_CONFIG_KEY "config.yaml"
#define QUAY_BUNDLE_CA_PREFIX  "extra_ca_cert_"

enum quay_bundle_flavor {
    QUAY_BUNDLE_OPERATOR,   /* a QuayRegistry's configBundleSecret */
    QUAY_BUNDLE_STANDALONE, /* a Secret mounted as a Quay's config directory */
};

struct quay_bundle_entry {
    char *key;
    unsigned char *data; /* always followed by a NUL not counted in len */
    size_t len;
};

struct quay_bundle {
    enum quay_bundle_flavor flavor;
    char config_key[QUAY_BUNDLE_MAX_KEY + 1]; /* "config.yaml" unless told otherwise */
    struct quay_bundle_entry *entries;        /* sorted by key (strcmp) */
    size_t n, cap;
    size_t bytes; /* sum of key and value lengths */
};

/* ---- the map ------------------------------------------------------------------ */

/* `config_key` NULL means "config.yaml" (StandaloneQuay may name another). */
struct quay_bundle *quay_bundle_new(enum quay_bundle_flavor flavor, const char *config_key);
void quay_bundle_free(struct quay_bundle *b);
int quay_bundle_clone(const struct quay_bundle *b, struct quay_bundle **out);

/* Copies `data`. Keys must be valid Secret keys ([-._a-zA-Z0-9], 1..253). */
int quay_bundle_put(struct quay_bundle *b, const char *key, const void *data, size_t len,
                    struct k8s_error *err);
/* The value (NUL-terminated for convenience) or NULL. */
const unsigned char *quay_bundle_get(const struct quay_bundle *b, const char *key, size_t *len);
int quay_bundle_remove(struct quay_bundle *b, const char *key);
/* Same keys and same bytes. */
int quay_bundle_equal(const struct quay_bundle *a, const struct quay_bundle *b);

void quay_bundle_sha256(const struct quay_bundle *b, unsigned char out[32]);
void quay_bundle_sha256_hex(const struct quay_bundle *b, char out[65]);

/* A Secret's `.data` object (base64 values) to a bundle, and back. */
int quay_bundle_from_secret_data(const cJSON *data, enum quay_bundle_flavor flavor,
                                 const char *config_key, struct quay_bundle **out,
                                 struct k8s_error *err);
int quay_bundle_to_secret_data(const struct quay_bundle *b, cJSON **out, struct k8s_error *err);

/* ---- the effective configuration ------------------------------------------------- */

/* 1 when the operator would merge `key` into config.yaml (OPERATOR flavor). */
int quay_bundle_is_partial(const struct quay_bundle *b, const char *key);

/*
 * Which bundle key holds the effective definition of the top-level config
 * key `name`: 0 and `file` set; K8S_ENOTFOUND (file set to the config key,
 * where a new definition goes); K8S_ECONFLICT when two partials define it.
 */
int quay_bundle_locate(const struct quay_bundle *b, const char *name, char *file, size_t cap,
                       struct k8s_error *err);

/* The effective value of top-level key `name` (a copy); K8S_ENOTFOUND. */
int quay_bundle_config_get(const struct quay_bundle *b, const char *name,
                           struct quay_yaml_node **out, struct k8s_error *err);
/* Sets `name` (copying `value`) where it is effective, or appends it to
 * config.yaml. A no-op (same value and type) keeps every byte. */
int quay_bundle_config_set(struct quay_bundle *b, const char *name,
                           const struct quay_yaml_node *value, struct k8s_error *err);
/* Removes `name` from every file that defines it (absent afterwards). */
int quay_bundle_config_unset(struct quay_bundle *b, const char *name, struct k8s_error *err);

/* Typed accessors. *present is 0 when the key is absent (then *out is untouched). */
int quay_bundle_get_bool(const struct quay_bundle *b, const char *name, int *out, int *present,
                         struct k8s_error *err);
int quay_bundle_set_bool(struct quay_bundle *b, const char *name, int v, struct k8s_error *err);
int quay_bundle_get_string(const struct quay_bundle *b, const char *name, char *out, size_t cap,
                           int *present, struct k8s_error *err);
int quay_bundle_set_string(struct quay_bundle *b, const char *name, const char *v,
                           struct k8s_error *err);

/* A list of strings; *out is a NULL-terminated array the caller frees with
 * quay_strv_free (an absent key gives an empty array and *present 0). */
int quay_bundle_get_string_list(const struct quay_bundle *b, const char *name, char ***out,
                                size_t *n, int *present, struct k8s_error *err);
int quay_bundle_set_string_list(struct quay_bundle *b, const char *name, const char *const *items,
                                size_t n, struct k8s_error *err);
void quay_strv_free(char **v);

/* The keys these typed edits are for (one spelling, used everywhere). */
#define QUAY_KEY_STORAGE_CONFIG            "DISTRIBUTED_STORAGE_CONFIG"
#define QUAY_KEY_STORAGE_DEFAULT_LOCATIONS "DISTRIBUTED_STORAGE_DEFAULT_LOCATIONS"
#define QUAY_KEY_STORAGE_PREFERENCE        "DISTRIBUTED_STORAGE_PREFERENCE"
#define QUAY_KEY_STORAGE_REPLICATION       "FEATURE_STORAGE_REPLICATION"
#define QUAY_KEY_REGISTRY_STATE            "REGISTRY_STATE"
#define QUAY_KEY_DISABLE_PUSHES            "DISABLE_PUSHES"
#define QUAY_KEY_SERVICE_KEY_KID           "INSTANCE_SERVICE_KEY_KID_LOCATION"
#define QUAY_KEY_SERVICE_KEY               "INSTANCE_SERVICE_KEY_LOCATION"

/* ---- storage locations -------------------------------------------------------------- */

/* One DISTRIBUTED_STORAGE_CONFIG entry: `name: [driver, {params}]`. */
struct quay_location {
    char *name;
    char *driver;
    struct quay_yaml_node *params;      /* a mapping (a copy) */
    char file[QUAY_BUNDLE_MAX_KEY + 1]; /* the bundle key it came from */
};

void quay_location_free(struct quay_location *loc);

/* Location names in their order; *names is NULL-terminated (quay_strv_free). */
int quay_bundle_list_locations(const struct quay_bundle *b, char ***names, size_t *n,
                               struct k8s_error *err);
int quay_bundle_get_location(const struct quay_bundle *b, const char *name,
                             struct quay_location **out, struct k8s_error *err);

#define QUAY_LOC_CREATE 0x1u /* add the location when it does not exist */

/*
 * Replaces the driver and parameters of location `name`, keeping the name
 * (Quay's database records blobs by location name), the entry's position,
 * and the old `storage_path` when `params` has none. The driver must be in
 * the catalog and the final parameters must pass its checks (secrets
 * included), so nothing Quay would fall back to FakeStorage on, or crash on,
 * is ever written. Without QUAY_LOC_CREATE a missing location is
 * K8S_ENOTFOUND and the message lists the existing ones.
 */
int quay_bundle_set_location(struct quay_bundle *b, const char *name, const char *driver,
                             const struct quay_yaml_node *params, unsigned flags,
                             struct k8s_error *err);

/* ---- CA certificates ------------------------------------------------------------------ */

/* 1 when Quay (or the Quay Operator) installs `key` as a trusted CA. */
int quay_bundle_key_is_ca(const char *key);
/* Checks `pem` (one or more X.509 certificates, nothing else) with OpenSSL. */
int quay_pem_check_certs(const void *pem, size_t len, size_t *ncerts, struct k8s_error *err);
/* Writes `pem` as "extra_ca_cert_<name>.crt" after quay_pem_check_certs. */
int quay_bundle_put_ca(struct quay_bundle *b, const char *name, const void *pem, size_t len,
                       struct k8s_error *err);

/* "<registry>-qso-<first 10 hex digits of the digest>", the rendered
 * Secret's name (a DNS subdomain of at most 253 characters). */
int quay_bundle_rendered_name(const struct quay_bundle *b, const char *registry, char *out,
                              size_t cap, struct k8s_error *err);

#endif
