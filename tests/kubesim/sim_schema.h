/*
 * sim_schema: what kube-apiserver does with a CRD version's
 * `openAPIV3Schema` — the structural-schema check at CRD create/update (with
 * compilation of every `x-kubernetes-validations` rule), defaulting, pruning
 * of unknown fields, and validation of custom resources, with field errors
 * worded exactly as the real server words them (field.Error.ErrorBody() of
 * k8s.io/apimachinery), so a 422 from the simulator reads like a cluster's.
 *
 * Pure library on cJSON trees: no I/O, no global state. A compiled
 * `struct sim_schema` is immutable and may be shared by threads.
 *
 * Typical server use (one compiled schema per CRD version):
 *   CRD write:  sim_schema_new(openAPIV3Schema, "spec.versions[0].schema.openAPIV3Schema",
 *                              &s, &errs)  -> 422 on the CRD if it fails
 *   CR write:   sim_schema_prune(s, obj, &unknown)  (Strict/Warn/Ignore from `unknown`)
 *               sim_schema_default(s, obj)
 *               sim_schema_validate(s, obj, old_or_NULL, &errs)
 *               if errs.n: sim_field_errors_status(&errs, kind, group, name) -> 422
 *   (the real server decodes, prunes, defaults, then validates; that order.)
 */
#ifndef QSO_SIM_SCHEMA_H
#define QSO_SIM_SCHEMA_H

#include <cjson/cJSON.h>
#include <stddef.h>

enum sim_schema_rc {
    SIM_SCHEMA_OK = 0,
    SIM_SCHEMA_EINVALID = -1, /* schema not structural / rule refused / object invalid */
    SIM_SCHEMA_ENOMEM = -2,
    SIM_SCHEMA_EARG = -3,
};

/* field.ErrorType of k8s.io/apimachinery; the cause reason is its CauseType. */
enum sim_field_error_type {
    SIM_FE_NOT_FOUND,     /* "Not found", FieldValueNotFound */
    SIM_FE_REQUIRED,      /* "Required value", FieldValueRequired */
    SIM_FE_DUPLICATE,     /* "Duplicate value", FieldValueDuplicate */
    SIM_FE_INVALID,       /* "Invalid value", FieldValueInvalid */
    SIM_FE_NOT_SUPPORTED, /* "Unsupported value", FieldValueNotSupported */
    SIM_FE_FORBIDDEN,     /* "Forbidden", FieldValueForbidden */
    SIM_FE_TOO_LONG,      /* "Too long", FieldValueTooLong */
    SIM_FE_TOO_MANY,      /* "Too many", FieldValueTooMany */
    SIM_FE_INTERNAL,      /* "Internal error", InternalError */
    SIM_FE_TYPE_INVALID,  /* "Invalid value", FieldValueTypeInvalid */
};

struct sim_field_error {
    enum sim_field_error_type type;
    char *field; /* "spec.copy.shards"; "" for the object itself (owned) */
    char *body;  /* ErrorBody(): `Invalid value: 0: spec.copy.shards in body ...` (owned) */
};

struct sim_field_errors {
    size_t n;
    size_t cap;
    struct sim_field_error *items;
};

void sim_field_errors_init(struct sim_field_errors *errs);
void sim_field_errors_free(struct sim_field_errors *errs);
/* Appends an error; `body` is copied. Returns 0 or SIM_SCHEMA_ENOMEM. */
int sim_field_errors_add(struct sim_field_errors *errs, enum sim_field_error_type type,
                         const char *field, const char *body);
/* "FieldValueInvalid", ... (metav1.CauseType). */
const char *sim_field_error_reason(enum sim_field_error_type type);
/* "spec.x: Invalid value: ..." (field.Error.Error()); caller frees. NULL on ENOMEM. */
char *sim_field_error_string(const struct sim_field_error *e);
/*
 * The Invalid Status message: `<Kind>.<group> "<name>" is invalid: <err>` for
 * one error, `... is invalid: [<err1>, <err2>]` for several (duplicates
 * dropped, as utilerrors.NewAggregate does). `group` "" gives `<Kind> "<name>"`.
 * Caller frees.
 */
char *sim_field_errors_message(const struct sim_field_errors *errs, const char *kind,
                               const char *group, const char *name);
/*
 * A complete metav1.Status for 422 Invalid: kind/apiVersion/metadata/status
 * "Failure"/message/reason "Invalid"/details{name,group,kind,causes[{reason,
 * message,field}]}/code 422. Caller owns the tree.
 */
cJSON *sim_field_errors_status(const struct sim_field_errors *errs, const char *kind,
                               const char *group, const char *name);

/* A list of strings (unknown field paths, warnings). */
struct sim_strlist {
    size_t n;
    size_t cap;
    char **items;
};
void sim_strlist_init(struct sim_strlist *l);
void sim_strlist_free(struct sim_strlist *l);
int sim_strlist_add(struct sim_strlist *l, const char *s);

struct sim_schema;

/*
 * Checks that `openapi` (a CRD version's openAPIV3Schema) is structural and
 * supported, and compiles all its x-kubernetes-validations rules (rule,
 * messageExpression) with sim_cel. Errors are appended to `errs` with field
 * paths under `path_prefix` (e.g. "spec.versions[0].schema.openAPIV3Schema"),
 * worded like the CRD validation of apiextensions-apiserver; a rule outside
 * the CEL subset is such an error ("compilation failed: ... unsupported ...").
 * On success *out is a compiled schema holding its own copy of `openapi`.
 * Returns 0, SIM_SCHEMA_EINVALID (errs filled, *out NULL) or SIM_SCHEMA_ENOMEM.
 */
int sim_schema_new(const cJSON *openapi, const char *path_prefix, struct sim_schema **out,
                   struct sim_field_errors *errs);
void sim_schema_free(struct sim_schema *s);
/* The schema's own copy of the openAPIV3Schema (for /openapi and explain). */
const cJSON *sim_schema_json(const struct sim_schema *s);

/*
 * Applies `default`s in place, as the apiserver does when it decodes a request
 * or reads from storage: a property absent from an object that is present
 * gets its default (deep copy), recursively into objects, array items and
 * additionalProperties; defaults are themselves defaulted. A `null` value for
 * a non-nullable field with a default is replaced by the default.
 */
int sim_schema_default(const struct sim_schema *s, cJSON *obj);

/*
 * Drops fields the schema does not specify, unless under
 * x-kubernetes-preserve-unknown-fields: true; apiVersion, kind and metadata
 * at the root are kept (metadata itself is the server's business), and
 * x-kubernetes-embedded-resource objects keep apiVersion/kind/metadata.
 * The JSON paths of dropped fields are appended to `unknown` (may be NULL)
 * in the form the fieldValidation=Strict error uses: "spec.foo",
 * "spec.items[0].bar". The server turns each into
 *   Strict: a 400 BadRequest `strict decoding error: unknown field "spec.foo"`
 *   Warn:   a `Warning: unknown field "spec.foo"` header
 * (see sim_schema_unknown_field_message).
 */
int sim_schema_prune(const struct sim_schema *s, cJSON *obj, struct sim_strlist *unknown);
/* `unknown field "spec.foo"`, into buf; returns buf. */
const char *sim_schema_unknown_field_message(const char *path, char *buf, size_t buflen);

/*
 * Validates a custom resource `obj` (after pruning and defaulting) against
 * the schema: OpenAPI keywords, list-type map/set invariants, then
 * x-kubernetes-validations rules (skipped, with the server's own message,
 * when a type error makes them unevaluable). `old` is the stored object on
 * update, NULL on create: transition rules (those using oldSelf) run only
 * where an old value correlates. Appends to `errs`; returns 0 when `obj` is
 * valid, SIM_SCHEMA_EINVALID when errors were added, SIM_SCHEMA_ENOMEM.
 */
int sim_schema_validate(const struct sim_schema *s, const cJSON *obj, const cJSON *old,
                        struct sim_field_errors *errs);

#endif
