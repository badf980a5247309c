/*
 * The registry of served kinds: one entry per group/version/resource, built-in
 * (sim_builtin.c) or from a CustomResourceDefinition (sim_crd.c). An entry
 * says how the resource is addressed (scope, plural, short names), where it is
 * stored (events.k8s.io/v1 events share core/v1's collection), what the
 * server enforces on it (status subresource, immutable fields, selectable
 * fields) and how `kubectl get` prints it. Entries are never freed while the
 * server runs: a deleted CRD's versions are only marked unserved, so watches
 * and queued work can keep pointers.
 */
#ifndef QSO_SIM_KIND_H
#define QSO_SIM_KIND_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

struct sim_server;
struct sim_err;
struct sim_kind;

#define SIM_MAX_COLUMNS 16

/* A Table column: Name and Age are implicit for built-ins; CRDs list theirs. */
struct sim_column {
    char name[64];
    char type[32];
    char format[32];
    char description[256];
    int priority;
    char jsonpath[256];
};

/* How a kind answers an unknown field selector (both are real wordings). */
enum sim_fieldsel_style {
    SIM_FS_KNOWN, /* "\"x\" is not a known field selector: only \"metadata.name\", ..." */
    SIM_FS_LABEL, /* "field label not supported: x" */
};

struct sim_kind_ops {
    /* Defaulting and create-time validation; may edit `obj`. 0 or -code with `e`. */
    int (*on_create)(struct sim_server *srv, const struct sim_kind *k, cJSON *obj,
                     struct sim_err *e);
    /* Update-time rules (immutable fields, defaulting of the new object). */
    int (*on_update)(struct sim_server *srv, const struct sim_kind *k, const cJSON *old, cJSON *obj,
                     struct sim_err *e);
    /* Storage form -> this version's form, and back (NULL: identical). */
    cJSON *(*to_version)(const cJSON *stored);
    cJSON *(*from_version)(const cJSON *served);
    /* Extra Table cells (beyond columns[] JSONPaths), appended in order. */
    void (*cells)(const struct sim_kind *k, const cJSON *obj, cJSON *cells);
    /* Known top-level fields for fieldValidation (NULL-terminated), or NULL. */
    const char *const *top_fields;
    /* After a write is stored (deleted: the object is gone): controllers'
     * reactions such as a namespace's default ServiceAccount or a CRD's kinds. */
    void (*after_write)(struct sim_server *srv, const struct sim_kind *k, const cJSON *obj,
                        int deleted);
};

struct sim_kind {
    char group[128];
    char version[64];
    char resource[128];
    char kind[128];
    char list_kind[140];
    char singular[128];
    int namespaced;
    char short_names[4][32];
    size_t nshort;
    char categories[4][32];
    size_t ncat;
    int has_status;        /* a status subresource */
    int custom;            /* from a CRD */
    int served;            /* in discovery and routable */
    int storage_version;   /* CRDs: the stored version */
    char store_group[128]; /* the collection it lives in */
    char store_resource[128];
    int orphan_by_default;     /* batch/v1 Job: delete without a policy orphans dependents */
    int generation;            /* metadata.generation is kept (bumped on spec changes) */
    int create_on_update;      /* PUT of a missing object creates it (leases, events) */
    int delete_returns_object; /* else a Status "Success" once removed */
    enum sim_fieldsel_style fs_style;
    const char *const *field_labels; /* selectable besides metadata.name/namespace */
    const struct sim_kind_ops *ops;
    struct sim_column columns[SIM_MAX_COLUMNS];
    size_t ncolumns;
    int columns_replace;      /* CRD columns: no implicit Age */
    char crd_name[256];       /* owning CRD, for custom kinds */
    cJSON *schema;            /* openAPIV3Schema (custom kinds), owned */
    int preserve_unknown;     /* x-kubernetes-preserve-unknown-fields at the root */
    void *validator;          /* sim_schema's compiled form, opaque here */
    int64_t establish_due_ms; /* CRDs: when the Established condition is set */
    void (*validator_free)(void *);
};

struct sim_kinds;

struct sim_kinds *sim_kinds_new(void);
void sim_kinds_free(struct sim_kinds *ks);

/* Adds a copy of `k` (or updates the entry with the same group/version/
 * resource in place, keeping its address). Returns the stored entry. */
struct sim_kind *sim_kinds_put(struct sim_kinds *ks, const struct sim_kind *k);
size_t sim_kinds_count(const struct sim_kinds *ks);
struct sim_kind *sim_kinds_at(const struct sim_kinds *ks, size_t i);

/* Lookups; `served_only` skips unserved entries. */
struct sim_kind *sim_kinds_find(const struct sim_kinds *ks, const char *group, const char *version,
                                const char *resource, int served_only);
struct sim_kind *sim_kinds_find_kind(const struct sim_kinds *ks, const char *group,
                                     const char *version, const char *kind, int served_only);
/* The storage version of group/resource (any version when none is marked). */
struct sim_kind *sim_kinds_storage(const struct sim_kinds *ks, const char *group,
                                   const char *resource);

/* "apps/v1" or "v1". */
void sim_kind_api_version(const struct sim_kind *k, char *buf, size_t cap);

#endif
