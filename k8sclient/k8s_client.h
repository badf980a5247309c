/*
 * The Kubernetes REST client: transport and verbs.
 *
 * Transport: libcurl, connections reused (a pool of easy handles, one per
 * concurrent request), HTTP/2 when the server offers it by ALPN, connect and
 * request timeouts, a User-Agent, a client-side token-bucket rate limiter
 * (config qps/burst; callers wait for a token, they are never refused), and
 * up to 5 attempts with exponential backoff and jitter for: 429 on any verb
 * (honouring Retry-After, capped at 30 s), 5xx on GET/HEAD only, connection
 * failures before the request was sent (refused, unresolvable) on any verb,
 * and failures after it was sent (reset, empty reply) on GET/HEAD only.
 * Nothing else is retried (409, 422, other 4xx, TLS errors). TLS
 * verification is never off unless the config says insecure_skip_tls_verify;
 * TLS failures are K8S_ETLS with OpenSSL's reason in the message. The bearer
 * token is fetched from the config's token source before every request, so
 * a rotated token file is used by the next request. A client is thread-safe.
 *
 * Verbs work on any group/version/resource, namespaced or cluster-scoped, with
 * subresources. Objects are cJSON trees; results are new trees the caller frees
 * with cJSON_Delete. On failure *out is NULL and `err` holds the API's Status.
 */
#ifndef QSO_K8S_CLIENT_H
#define QSO_K8S_CLIENT_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "k8s_config.h"
#include "k8s_error.h"

struct k8s_client;

/* What to address. group "" is the core group (/api/v1). */
struct k8s_resource {
    const char *group;    /* "", "apps", "quaystorage.io" */
    const char *version;  /* "v1", "v1alpha1" */
    const char *resource; /* plural: "pods", "storagemigrations" */
    int namespaced;
};

/* Common query options; every field optional (NULL/0 = not sent). */
struct k8s_opts {
    const char *subresource; /* "status", "log", "scale", "token" */
    const char *label_selector;
    const char *field_selector;
    long limit;                   /* page size for list */
    const char *continue_token;   /* with single_page: start here */
    int single_page;              /* list: return one page (with its continue) */
    const char *resource_version; /* get/list/watch resourceVersion */
    int dry_run;                  /* dryRun=All on writes */
    const char *field_validation; /* "Strict" | "Warn" | "Ignore" */
    const char *field_manager;
    const char *extra_query; /* pre-encoded "a=b&c=d" appended as is (e.g. log options) */
    const char *accept;      /* override the Accept header */
};

enum k8s_patch_type {
    K8S_PATCH_MERGE,     /* application/merge-patch+json (RFC 7386) */
    K8S_PATCH_JSON,      /* application/json-patch+json (RFC 6902) */
    K8S_PATCH_STRATEGIC, /* application/strategic-merge-patch+json (built-in types only) */
};

struct k8s_delete_opts {
    const char *propagation_policy; /* "Background" | "Foreground" | "Orphan" | NULL */
    const char *precondition_uid;
    const char *precondition_resource_version;
    long grace_period_seconds; /* -1: not sent */
};

/* Per-client statistics (for metrics and tests). */
struct k8s_client_stats {
    unsigned long requests; /* HTTP requests sent, retries included */
    unsigned long retries;
    unsigned long throttled_ms; /* time spent waiting on the rate limiter */
    unsigned long connects;     /* new connections opened (reuse keeps this low) */
};

/* Called once per HTTP attempt (retries included) with the method and the
 * status (0 when no answer came), for metrics. Runs on the requesting thread. */
typedef void (*k8s_request_observer)(const char *method, long status, void *user);

/* Copies `cfg`. */
int k8s_client_new(const struct k8s_config *cfg, struct k8s_client **out, struct k8s_error *err);
void k8s_client_free(struct k8s_client *c);
/* Installs the observer; call before the client is shared between threads. */
void k8s_client_set_observer(struct k8s_client *c, k8s_request_observer fn, void *user);

/*
 * A gate every write (any method but GET and HEAD) must pass right before
 * each attempt goes out, after any rate-limit wait: `fn` returns non-zero to
 * let it go; otherwise the request fails with K8S_ESTOPPED and nothing is
 * sent. The manager's "still the leader?" sits here, so no write of any
 * reconciler or library leaves a process that lost its lease. Set before the
 * client is shared; `fn` must be thread-safe.
 */
typedef int (*k8s_write_gate)(const char *method, const char *path_query, void *user);
void k8s_client_set_write_gate(struct k8s_client *c, k8s_write_gate fn, void *user);
const struct k8s_config *k8s_client_config(const struct k8s_client *c);
void k8s_client_get_stats(struct k8s_client *c, struct k8s_client_stats *out);

/* Builds "/api/v1/namespaces/ns/pods/name/log" style paths into buf. */
int k8s_resource_path(const struct k8s_resource *res, const char *ns, const char *name,
                      const char *subresource, char *buf, size_t cap);

/* A raw response. */
struct k8s_response {
    long status;
    char *body; /* NUL-terminated, owned */
    size_t body_len;
    char *content_type;
    char *warning; /* the Warning headers, joined by "\n", or NULL */
};
void k8s_response_free(struct k8s_response *r);

/*
 * One request, retried as described above. `path_query` starts with '/'.
 * A non-2xx answer still fills `resp` and returns the decoded error code.
 * The server's Warning headers (deprecations, fieldValidation=Warn) are in
 * resp->warning. `resp` may be NULL; otherwise free it with
 * k8s_response_free whatever the result.
 */
int k8s_request(struct k8s_client *c, const char *method, const char *path_query,
                const char *content_type, const char *body, size_t body_len, const char *accept,
                struct k8s_response *resp, struct k8s_error *err);

int k8s_get(struct k8s_client *c, const struct k8s_resource *res, const char *ns, const char *name,
            const struct k8s_opts *opts, cJSON **out, struct k8s_error *err);
/* Text subresources (pods/log): the body as is. */
int k8s_get_text(struct k8s_client *c, const struct k8s_resource *res, const char *ns,
                 const char *name, const struct k8s_opts *opts, char **out, size_t *out_len,
                 struct k8s_error *err);
/* Follows continue tokens and returns one List with every item, unless
 * opts->single_page. ns NULL on a namespaced resource lists all namespaces. */
int k8s_list(struct k8s_client *c, const struct k8s_resource *res, const char *ns,
             const struct k8s_opts *opts, cJSON **out, struct k8s_error *err);
/* metadata.generateName is honoured by the server; the created object is
 * returned in *out. For create, update and patch `out` may be NULL (result
 * not wanted), as for delete. */
int k8s_create(struct k8s_client *c, const struct k8s_resource *res, const char *ns,
               const cJSON *obj, const struct k8s_opts *opts, cJSON **out, struct k8s_error *err);
/* PUT; the object's metadata.resourceVersion is the optimistic-concurrency
 * precondition (409 Conflict when stale). */
int k8s_update(struct k8s_client *c, const struct k8s_resource *res, const char *ns,
               const char *name, const cJSON *obj, const struct k8s_opts *opts, cJSON **out,
               struct k8s_error *err);
int k8s_patch(struct k8s_client *c, const struct k8s_resource *res, const char *ns,
              const char *name, enum k8s_patch_type type, const cJSON *patch,
              const struct k8s_opts *opts, cJSON **out, struct k8s_error *err);
/*
 * A JSON patch guarded by `test` ops on what the caller read at resourceVersion
 * `rv` (usually a test of /metadata/resourceVersion == `rv` itself; the API
 * has no other precondition for patches). The API answers a failed test and a
 * refused result alike, 422
 * Invalid; this re-reads the object to tell them apart: K8S_ECONFLICT when it
 * changed since `rv` was read (re-read and decide again), K8S_ENOTFOUND when
 * it is gone, and K8S_EINVALID with the server's message and field causes
 * when it is unchanged, i.e. the change itself was refused (an immutable
 * Secret, a schema rule): retrying the same change cannot help.
 */
int k8s_patch_tested(struct k8s_client *c, const struct k8s_resource *res, const char *ns,
                     const char *name, const char *rv, const cJSON *json_patch,
                     const struct k8s_opts *opts, cJSON **out, struct k8s_error *err);
/* `out` (may be NULL) receives the object (with deletionTimestamp) or Status. */
int k8s_delete(struct k8s_client *c, const struct k8s_resource *res, const char *ns,
               const char *name, const struct k8s_delete_opts *dopts, const struct k8s_opts *opts,
               cJSON **out, struct k8s_error *err);
int k8s_delete_collection(struct k8s_client *c, const struct k8s_resource *res, const char *ns,
                          const struct k8s_delete_opts *dopts, const struct k8s_opts *opts,
                          struct k8s_error *err);

/* Discovery: is group/version/resource served? Sets *served and, when served,
 * *namespaced. A missing group/version is not an error (*served = 0). */
int k8s_discover_resource(struct k8s_client *c, const char *group, const char *version,
                          const char *resource, int *served, int *namespaced,
                          struct k8s_error *err);

#endif
