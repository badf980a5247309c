/*
 * quay_drivers: the catalog of Quay's storage drivers — every driver name
 * Quay's DISTRIBUTED_STORAGE_CONFIG accepts, its parameters (exact names,
 * required or not, type, secret-bearing or not), how Quay turns
 * `storage_path` into an object-key prefix, and which endpoint the copy
 * engine would use to reach the data.
 *
 * Why it matters: Quay maps an unknown driver name to FakeStorage without a
 * word (every push then goes nowhere), and passes the parameters as Python
 * keyword arguments, so an unknown parameter crashes the pods and a string
 * "false" for a boolean is true. The catalog refuses all three before
 * anything is written, with a message that names the field and the fix.
 *
 * Sources (verified with the code search, 2024-2025 Quay): storage/__init__.py
 * and storagedriverclasses.py (the name table), cloud.py (S3Storage,
 * RadosGWStorage, RHOCSStorage, GoogleCloudStorage, CloudFrontedS3Storage,
 * STSS3Storage, IBMCloudStorage), swift.py, azurestorage.py, local.py,
 * cloudflarestorage.py, akamaistorage.py, multicdnstorage.py, and the Quay
 * configuration docs (quay-docs modules/config-fields-storage-*.adoc).
 *
 * Secrets: parameters flagged QUAY_PARAM_SECRET never appear in a CR's spec;
 * they come from a credentials Secret whose keys are named after them, and go
 * into the bundle (the place Quay reads them) or into Jobs by secretKeyRef.
 */
#ifndef QSO_QUAY_DRIVERS_H
#define QSO_QUAY_DRIVERS_H

#include <stddef.h>

#include "k8s_error.h"
#include "quay_yaml.h"

enum quay_param_type {
    QUAY_PT_STRING,
    QUAY_PT_BOOL,   /* a YAML bool; a string is refused ("false" is true in Python) */
    QUAY_PT_PORT,   /* an int 1..65535, or a string of those digits */
    QUAY_PT_NUMBER, /* a non-negative int, or a string of digits */
    QUAY_PT_MAP,
    QUAY_PT_LIST,
};

#define QUAY_PARAM_REQUIRED 0x1u
#define QUAY_PARAM_SECRET   0x2u
#define QUAY_PARAM_FILE     0x4u /* names a file Quay reads from its config directory */

struct quay_driver_param {
    const char *name;
    enum quay_param_type type;
    unsigned flags;
    const char *help; /* what it is, for messages */
};

/* How Quay derives object keys from storage_path. */
enum quay_path_rule {
    QUAY_PATH_STRIP_ONE,  /* cloud.py _init_path: join, then drop ONE leading "/" */
    QUAY_PATH_LSTRIP,     /* swift.py, azurestorage.py: drop ALL leading "/" then join */
    QUAY_PATH_FILESYSTEM, /* local.py: a directory inside the Quay pod */
    QUAY_PATH_NESTED,     /* MultiCDNStorage: the S3 part's storage_path (STRIP_ONE) */
};

/* Where the copy engine reaches a driver's objects. */
enum quay_copy_endpoint {
    QUAY_COPY_NONE,  /* not reachable by the copy engine (yet) */
    QUAY_COPY_S3,    /* S3 API with static keys (SigV4) */
    QUAY_COPY_SWIFT, /* Swift API (Keystone / tempauth) */
    QUAY_COPY_LOCAL, /* a directory (only from inside the Quay pod's volume) */
};

struct quay_driver {
    const char *name;
    const struct quay_driver_param *params;
    size_t nparams;
    enum quay_path_rule path_rule;
    enum quay_copy_endpoint copy;
    /* For drivers whose S3 part lives in a nested map (MultiCDNStorage:
     * "storage_config"), the name of that map; NULL otherwise. Secrets and
     * storage_path of such drivers live inside it. */
    const char *nested;
    const char *copy_note; /* why not reachable, or what is special; may be NULL */
};

/* The driver with exactly this name (case-sensitive, as Quay matches), or NULL. */
const struct quay_driver *quay_driver_find(const char *name);
size_t quay_driver_count(void);
const struct quay_driver *quay_driver_at(size_t i);
/* A parameter of `d` (for nested drivers, also the S3 part's), or NULL. */
const struct quay_driver_param *quay_driver_param(const struct quay_driver *d, const char *name);
/* 1 when `name` is a secret-bearing parameter of ANY driver (the CRD refuses
 * these names in spec parameters). */
int quay_param_is_secret_anywhere(const char *name);

/* What a StorageMigration asks for, minus the secret values. */
struct quay_destination {
    const char *driver;
    const struct quay_yaml_node *parameters; /* a mapping, or NULL for none */
    const char *const *credential_keys;      /* keys present in the credentials Secret */
    size_t ncredential_keys;
    const char *field_prefix; /* e.g. "spec.destination"; NULL: "destination" */
};

/*
 * Validates a destination. On failure returns K8S_EINVALID; err->message
 * summarises the first problem and err->causes lists each (field, reason,
 * message), e.g. field "spec.destination.parameters.s3_bucket", reason
 * "FieldValueRequired". Messages name values only when they are not secret.
 */
int quay_driver_validate(const struct quay_destination *d, struct k8s_error *err);

/*
 * Checks the parameters as they will be WRITTEN (secrets included): known
 * names, types, required parameters present. Errors as quay_driver_validate,
 * fields prefixed with `field_prefix` (NULL: "location").
 */
int quay_driver_check_location(const char *driver, const struct quay_yaml_node *params,
                               const char *field_prefix, struct k8s_error *err);

/* One secret value for quay_driver_build_params (not NUL-terminated data). */
struct quay_credential {
    const char *key;
    const char *value;
    size_t len;
};

/*
 * The parameters mapping to write into DISTRIBUTED_STORAGE_CONFIG: a copy of
 * the spec parameters (order kept) plus each credential as a string, placed
 * where Quay reads it (inside the nested map for MultiCDNStorage). Validates
 * first (same errors as quay_driver_validate). *out is a new mapping.
 */
int quay_driver_build_params(const struct quay_destination *d, const struct quay_credential *creds,
                             size_t ncreds, struct quay_yaml_node **out, struct k8s_error *err);

/*
 * The object-key prefix Quay uses for `params` (a location's parameters):
 * keys are "<prefix>sha256/<xx>/<digest>". "/datastorage/registry" gives
 * "datastorage/registry/" for S3-like drivers; Swift and Azure strip every
 * leading "/"; LocalStorage gives the directory path with a trailing "/".
 */
int quay_driver_object_prefix(const struct quay_driver *d, const struct quay_yaml_node *params,
                              char *out, size_t cap, struct k8s_error *err);

/* The S3 view of a location, as Quay's boto3 client would connect. */
struct quay_s3_endpoint {
    char url[512]; /* scheme://host[:port] (no path) */
    char bucket[256];
    char region[64];              /* "" when Quay leaves it to boto3 */
    int list_v1;                  /* GoogleCloudStorage: ListObjects (v1) only */
    const char *access_key_param; /* the parameter names holding the keys */
    const char *secret_key_param;
};

/* Fills `ep` for drivers whose copy endpoint is QUAY_COPY_S3. */
int quay_driver_s3_endpoint(const struct quay_driver *d, const struct quay_yaml_node *params,
                            struct quay_s3_endpoint *ep, struct k8s_error *err);

#endif
