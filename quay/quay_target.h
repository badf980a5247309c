/*
 * quay_target: the things whose configuration the composer changes, behind
 * one small interface, plus what they share (reading Secrets as bundles,
 * creating our Secrets idempotently, Deployment rollout status).
 *
 * Two kinds, one file each:
 *   QuayRegistry (quay_target_quayregistry.c): the bundle is the Secret
 *     spec.configBundleSecret names; a change is a new Secret
 *     `<registry>-qso-<hash>` plus one JSON patch of spec.configBundleSecret
 *     (and spec.components for ScaleDown) that first tests the values it
 *     read. The Quay Operator reconciles a generation change at once.
 *   StandaloneQuay (quay_target_standalone.c): a config Secret mounted by
 *     named Deployments; a change rewrites the Secret in place (resourceVersion
 *     precondition) after a backup, then restarts the Deployments through a
 *     pod-template annotation; ScaleDown sets their replicas to 0.
 *
 * Every operation reads or writes through the API (no cache): the composer
 * runs rarely and must see what is true now.
 */
#ifndef QSO_QUAY_TARGET_H
#define QSO_QUAY_TARGET_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "k8s_client.h"
#include "k8s_error.h"
#include "quay_bundle.h"
#include "quay_overlay.h"
#include "quay_state.h"

#define QUAY_TARGET_MAX_DEPLOYMENTS QUAY_STATE_MAX_DEPLOYMENTS
/* The pod-template annotation that restarts a StandaloneQuay's Deployments. */
#define QUAY_ANNOTATION_CONFIG_SHA "quaystorage.io/config-sha256"

/* Which target: the `target` union of our CRs, resolved in a namespace. */
struct quay_target_ref {
    enum quay_target_kind kind;
    char ns[QUAY_NS_MAX + 1];
    char name[QUAY_NAME_MAX + 1];       /* QuayRegistry name, or the config Secret's */
    char config_key[QUAY_NAME_MAX + 1]; /* StandaloneQuay: configSecretRef.key */
    char deployments[QUAY_TARGET_MAX_DEPLOYMENTS][QUAY_NAME_MAX + 1];
    size_t ndeployments;
};

/* A Kubernetes object name (RFC 1123 subdomain: lowercase alphanumerics,
 * '-' and '.', alphanumeric at both ends) of at most `max` characters. */
int quay_object_name_ok(const char *s, size_t max);

/*
 * From a CR's spec.target ({type: QuayRegistry, quayRegistry: {name}} or
 * {type: StandaloneQuay, standaloneQuay: {configSecretRef: {name, key},
 * deployments: [...]}}) in namespace `ns`. K8S_EINVALID naming the field.
 */
int quay_target_ref_from_json(const char *ns, const cJSON *target, struct quay_target_ref *out,
                              struct k8s_error *err);
/* A QuayRegistry ref, or a StandaloneQuay ref with no Deployments yet. */
int quay_target_ref_init(struct quay_target_ref *r, enum quay_target_kind kind, const char *ns,
                         const char *name, struct k8s_error *err);
/* StandaloneQuay: appends a Deployment name. */
int quay_target_ref_add_deployment(struct quay_target_ref *r, const char *name,
                                   struct k8s_error *err);

/* What the target runs now. */
struct quay_target_view {
    char uid[QUAY_UID_MAX + 1];       /* the owner object's uid */
    char rv[QUAY_RV_MAX + 1];         /* the target object's resourceVersion */
    long long generation;             /* QuayRegistry metadata.generation */
    cJSON *object;                    /* QuayRegistry: the object as read */
    char ref_name[QUAY_NAME_MAX + 1]; /* the bundle Secret referenced ("" when unset) */
    char ref_sha[65];                 /* sha256 of its .data ("" when it is missing) */
    char ref_rv[QUAY_RV_MAX + 1];     /* its resourceVersion */
    char ref_uid[QUAY_UID_MAX + 1];   /* its uid */
    int ref_role_rendered;            /* it is one of our rendered Secrets */
    int ref_immutable;                /* it is immutable */
    struct quay_bundle *bundle;       /* its data (NULL when missing) */
    cJSON *components;                /* QuayRegistry spec.components, NULL when absent */
    cJSON *replicas;                  /* StandaloneQuay {"<deployment>": spec.replicas} */
    cJSON *annotations;               /* StandaloneQuay {"<deployment>": config sha or ""} */
};
void quay_target_view_clear(struct quay_target_view *v);

/* How a configuration is doing on the target. */
enum quay_confirm_status {
    QUAY_CONFIRM_DONE = 0,    /* rolled out */
    QUAY_CONFIRM_WAITING = 1, /* not yet: message says what is awaited */
    QUAY_CONFIRM_BLOCKED = 2, /* the target refuses or failed: reason and message are its own */
};
struct quay_confirm {
    enum quay_confirm_status status;
    char reason[64];
    char message[1024];
};

struct quay_target_ops {
    enum quay_target_kind kind;

    /* Reads the target (and its bundle Secret). K8S_ENOTFOUND when the
     * target object itself does not exist. */
    int (*observe)(struct k8s_client *c, const struct quay_target_ref *t,
                   struct quay_target_view *v, struct k8s_error *err);

    /*
     * Records what the target runs now as the user's original in `s`
     * (original, base, applied; StandaloneQuay: creates the backup Secret
     * first). Refuses (K8S_ECONFLICT) when the target runs one of our
     * rendered Secrets: that is never anybody's original.
     */
    int (*adopt)(struct k8s_client *c, const struct quay_target_ref *t,
                 const struct quay_target_view *v, struct quay_state *s, struct k8s_error *err);

    /* The owner of the Secrets we create for this target. */
    void (*owner)(const struct quay_target_ref *t, const struct quay_target_view *v,
                  struct quay_owner *out);

    /*
     * 2 when the view runs `c` completely, 1 when only partly (a
     * StandaloneQuay whose Secret holds `c` but whose Deployments do not all
     * carry it yet: finish the apply), 0 when it runs something else.
     * Changes the Quay Operator makes on its own (default components
     * appended) do not count as "something else".
     */
    int (*matches)(const struct quay_target_ref *t, const struct quay_target_view *v,
                   const struct quay_state_config *c);

    /*
     * The configuration to apply for a render of `sha`: sets d->name,
     * d->components / d->replicas / d->restart from the state (original,
     * scaledFrom) and the render's scale-down request. `base` and
     * `original` are the bundles (the same when the base is the original).
     * A request the target would refuse fills `refusal` (BLOCKED) instead.
     */
    int (*desire)(const struct quay_target_ref *t, const struct quay_state *s,
                  const struct quay_target_view *v, const struct quay_render *r,
                  const struct quay_bundle *base, const struct quay_bundle *original,
                  struct quay_state_config *d, struct quay_confirm *refusal, struct k8s_error *err);

    /* Creates whatever `d` needs before the target can point at it
     * (QuayRegistry: the rendered Secret), idempotently. */
    int (*prepare)(struct k8s_client *c, const struct quay_target_ref *t,
                   const struct quay_target_view *v, const struct quay_state_config *d,
                   const struct quay_bundle *rendered, struct k8s_error *err);

    /* Makes the target run `d`, with preconditions on what `v` saw:
     * K8S_ECONFLICT when the target changed since (re-observe). Sets
     * *generation to the target's generation after the change. */
    int (*apply)(struct k8s_client *c, const struct quay_target_ref *t,
                 const struct quay_target_view *v, const struct quay_state_config *d,
                 const struct quay_bundle *rendered, long long *generation, struct k8s_error *err);

    /* Whether `d` (which `rendered` holds) has rolled out. */
    int (*confirm)(struct k8s_client *c, const struct quay_target_ref *t,
                   const struct quay_state_config *d, const struct quay_bundle *rendered,
                   const struct quay_target_view *v, struct quay_confirm *out,
                   struct k8s_error *err);
};

const struct quay_target_ops *quay_target_ops_for(enum quay_target_kind kind);
extern const struct quay_target_ops quay_target_quayregistry_ops;
extern const struct quay_target_ops quay_target_standalone_ops;

/* The bundle flavor of a target's Secrets. */
enum quay_bundle_flavor quay_target_flavor(const struct quay_target_ref *t);

/*
 * QuayRegistry with a managed `objectstorage` component: the effective
 * configuration the Quay Operator generated (its
 * `<registry>-quay-config-secret-*` Secret that the quay-app Deployment
 * mounts), so a migration can read the generated DISTRIBUTED_STORAGE_CONFIG
 * (e.g. NooBaa's credentials) as its source. *out is an OPERATOR-flavor
 * bundle; K8S_ENOTFOUND while the Quay Operator has rendered nothing.
 */
int quay_target_effective_bundle(struct k8s_client *c, const struct quay_target_ref *t,
                                 struct quay_bundle **out, struct k8s_error *err);

/*
 * QuayRegistry: fills `refusal` (BLOCKED, reason ManagedObjectStorage) when
 * the Quay Operator manages object storage (per `components`, or no entry
 * and no storage in the original) and `base` changes a storage key of
 * `original`. Other targets never refuse.
 */
int quay_target_storage_change_refused(const struct quay_target_ref *t, const cJSON *components,
                                       const struct quay_bundle *base,
                                       const struct quay_bundle *original,
                                       struct quay_confirm *refusal, struct k8s_error *err);

/* 1 when a QuayRegistry's `kind` component is managed in `components`
 * (absent entries default to managed, as the Quay Operator does). */
int quay_component_managed(const cJSON *components, const char *kind);

/* ---- shared by the target files ----------------------------------------------------- */

/* GET a Secret and decode its .data; *obj (optional) receives the object. */
int quay__secret_read(struct k8s_client *c, const char *ns, const char *name,
                      enum quay_bundle_flavor flavor, const char *config_key,
                      struct quay_bundle **bundle, cJSON **obj, struct k8s_error *err);
/*
 * Creates Secret `name` with `b`'s data (role, owner, immutable), or finds
 * it already there with exactly that data and, when `owner` is given, owned
 * by it (a retry after a crash). A same-named Secret with other data, or of
 * another owner (e.g. awaiting garbage collection), is K8S_ECONFLICT: it is
 * never replaced nor used.
 */
int quay__secret_ensure(struct k8s_client *c, const char *ns, const char *name, const char *role,
                        const struct quay_owner *owner, const struct quay_bundle *b, int immutable,
                        struct k8s_error *err);

/* Rollout status of a Deployment object, as `kubectl rollout status` judges
 * it: DONE, WAITING (message why) or BLOCKED (ProgressDeadlineExceeded). */
void quay__deployment_rollout(const cJSON *dep, struct quay_confirm *out);

/* Lower-case hex sha256 of a bundle's data. */
void quay__bundle_sha(const struct quay_bundle *b, char out[65]);

#endif
