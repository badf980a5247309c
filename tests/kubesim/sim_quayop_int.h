/*
 * Internals shared by the Quay Operator stand-in's files (see sim_quayop.c for
 * what it reproduces and where each fact comes from):
 *   sim_quayop.c            scheduling: predicates, requeues, the status loop,
 *                           the failRollout stall
 *   sim_quayop_reconcile.c  the main reconcile (QuayRegistryReconciler.Reconcile)
 *   sim_quayop_render.c     kustomize + middleware: rendered Secrets, Deployments
 *   sim_quayop_status.c     the status reconciler (pkg/cmpstatus + overwriteConditions)
 * Everything runs on the simulator's service thread.
 */
#ifndef QSO_SIM_QUAYOP_INT_H
#define QSO_SIM_QUAYOP_INT_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

struct sim_server;

#define QOP_GROUP      "quay.redhat.com"
#define QOP_APIVERSION "quay.redhat.com/v1"
#define QOP_FINALIZER  "quay-operator/finalizer"
#define QOP_MAX_OWNED  8

/* What a reconcile asks of the scheduler next (controller-runtime's Result). */
enum qop_result {
    QOP_REQUEUE_LONG, /* RequeueAfter: a minute ("requeueSeconds") */
    QOP_REQUEUE,      /* r.Requeue: 10 s ("retrySeconds") */
    QOP_AGAIN,        /* a conflict or an error: at the next tick */
    QOP_FORGET,       /* the QuayRegistry is gone */
};

/* Objects a reconcile applied whose deletion or foreign spec change is an
 * event the real controller sees (Owns(...) with GenerationChangedPredicate). */
struct qop_owned {
    char resource[32]; /* "deployments" or "secrets" */
    char name[254];
    double generation; /* Deployments: metadata.generation after our write */
};

/* The QuayRegistryContext: what the checks before inflating found out. */
struct qop_ctx {
    int supports_routes;
    int supports_objstore;
    int supports_monitoring;
    int objstore_initialized;
    int has_tls; /* ssl.cert and ssl.key in the bundle */
    char cluster_hostname[256];
    char server_hostname[256];
    char buildman_hostname[256];
    char storage_host[256];
    char storage_bucket[256];
    char storage_access[256];
    char storage_secret[256];
    /* The managed keys (<name>-quay-registry-managed-secret-keys). */
    char dbsk[128];
    char sk[128];
    char dburi[512];
    char dbrootpw[64];
    char psk[128];
    char clair_user[64];
    char clair_pw[64];
    char clair_rootpw[64];
    char clair_dbname[64];
};

/* One inflation: inputs, then what qop_inflate produced. */
struct qop_render {
    const cJSON *qr;          /* the QuayRegistry with default components */
    const cJSON *bundle_data; /* the bundle Secret's data (base64 values) */
    const cJSON *usercfg;     /* its config.yaml, parsed */
    const char *version;      /* status.currentVersion to reach */
    int autoscaling;          /* the API serves autoscaling/v2 */
    struct qop_ctx *ctx;
    /* outputs */
    int upgrade; /* the upgrade overlay was rendered */
    char config_secret[340];
    char ca_secret[340];
    char tls_secret[340];
    cJSON *objects; /* in creation order: Secrets, OBC, HPAs, then Deployments */
};

/* Component helpers over spec.components (NULL-safe). */
int qop_managed(const cJSON *components, const char *kind);
const cJSON *qop_component(const cJSON *components, const char *kind);
const cJSON *qop_override(const cJSON *components, const char *kind, const char *field);

/* kustomize.Inflate + middleware.Process: fills r->objects and names. */
int qop_inflate(struct qop_render *r, char *err, size_t cap);
void qop_render_free(struct qop_render *r);

/* config.yaml helpers. */
char *qop_yaml_emit(const cJSON *v);
cJSON *qop_bundle_config(const cJSON *bundle_data, char *err, size_t cap);
/* YAML text -> object (empty text: empty object; not a mapping: error). */
cJSON *qop_yaml_parse_map(const char *text, size_t len, char *err, size_t cap);
/* kustomize.BaseQuayConfig. */
cJSON *qop_base_config(void);
/* A bundle key's decoded bytes (NUL-terminated; caller frees); NULL when absent. */
char *qop_bundle_value(const cJSON *bundle_data, const char *key, size_t *len);

/* Conditions in status.conditions, the way the operator writes them. */
void qop_set_condition(cJSON *qr, const char *type, const char *status, const char *reason,
                       const char *message, int keep_transition);
const cJSON *qop_get_condition(const cJSON *qr, const char *type);
void qop_remove_condition(cJSON *qr, const char *type);
/* "2024-05-01 12:00:00.123456789 +0000 UTC" (Go's time.Time.String()). */
void qop_go_time(char *buf, size_t cap);
int qop_owns(const cJSON *qr, const cJSON *obj);

/* The main reconcile of one QuayRegistry. `owned` receives what it applied. */
enum qop_result qop_reconcile(struct sim_server *srv, const char *ns, const char *name,
                              struct qop_owned *owned, size_t *nowned, double *generation);

/* The status reconciler of one QuayRegistry (cmpstatus.Evaluate + write). */
void qop_status_reconcile(struct sim_server *srv, const char *ns, const char *name);

/* Small API helpers: HTTP status of an in-process call. */
int qop_call(struct sim_server *srv, const char *method, const char *path, const cJSON *body,
             cJSON **out);
/* The message of a Status answer (or a fallback). */
const char *qop_status_message(const cJSON *st, int code);
void qop_log(struct sim_server *srv, const char *ns, const char *name, const char *msg);

#endif
