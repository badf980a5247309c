/*
 * quay_state: the per-target state record of the composer, and the metadata
 * (labels, owner) of every Secret the composer writes.
 *
 * DESIGN.md, "the one mechanism": one record per target says what the user's
 * original configuration was, what the base is, which overlays are active,
 * what was last applied and what is about to be applied. It lives in a
 * Secret (it holds overlay private keys) in the target's namespace:
 *
 *   name   qso-state-<kind>-<target name>, kind "quayregistry" or
 *          "standalonequay". The kind is part of the name because a
 *          QuayRegistry and a StandaloneQuay (named after its config
 *          Secret) may share a name in one namespace. Names too long for a
 *          Secret keep a prefix and end in 10 hex digits of sha256(name).
 *   owner  the target object (QuayRegistry; for a StandaloneQuay its config
 *          Secret: no CR ever owns a Secret a target depends on)
 *   labels app.kubernetes.io/managed-by: quay-storage-operator,
 *          quaystorage.io/role: state
 *   data   state.json, the JSON below.
 *
 *   {"version": 1,
 *    "target":   {"kind", "namespace", "name", "uid", "deployments"?},
 *    "original": {"name", "dataSHA256", "components"?, "backup"?, "configKey"?},
 *    "base":     {"name", "dataSHA256", "original": bool},
 *    "overlays": [quay_overlay_to_json...],
 *    "applied":  {"name", "dataSHA256", "components"?, "replicas"?, "restart",
 *                 "targetGeneration", "confirmed"},
 *    "pending":  {same as applied}?,
 *    "scaledFrom": {"<deployment>": replicas}?,
 *    "restored": {"time", "by", "previous"}?}
 *
 * `components` is a QuayRegistry's spec.components copied verbatim: the key
 * is absent when the spec had none, and an empty list stays an empty list,
 * so putting the original back restores the spec exactly. `pending` is the
 * intent written BEFORE the target is changed: after a crash at any point
 * the next step finds either the target still as `applied` (redo) or as
 * `pending` (record it), and never applies anything twice.
 *
 * Writes carry the record's resourceVersion: a stale write fails with
 * K8S_ECONFLICT and the caller re-reads; nothing is ever overwritten blind.
 * The record contains secrets: never log it, never copy it out of a Secret.
 */
#ifndef QSO_QUAY_STATE_H
#define QSO_QUAY_STATE_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "k8s_client.h"
#include "k8s_error.h"
#include "quay_overlay.h"

#define QUAY_STATE_VERSION 1
#define QUAY_STATE_KEY     "state.json"
/* A Kubernetes object name (DNS subdomain) and a namespace (DNS label). */
#define QUAY_NAME_MAX           253
#define QUAY_NS_MAX             63
#define QUAY_UID_MAX            127
#define QUAY_RV_MAX             255
#define QUAY_STATE_MAX_OVERLAYS 64
/* A StandaloneQuay lists at most this many Deployments (the CRDs' maxItems). */
#define QUAY_STATE_MAX_DEPLOYMENTS 16

#define QUAY_LABEL_MANAGED_BY "app.kubernetes.io/managed-by"
#define QUAY_MANAGED_BY       "quay-storage-operator"
#define QUAY_LABEL_ROLE       "quaystorage.io/role"
#define QUAY_ROLE_STATE       "state"
#define QUAY_ROLE_RENDERED    "rendered"
#define QUAY_ROLE_BASE        "base"
#define QUAY_ROLE_BACKUP      "backup"
/* On rendered/base/backup Secrets: the sha256 of their .data (for people;
 * the composer always recomputes it). */
#define QUAY_ANNOTATION_SHA "quaystorage.io/data-sha256"

enum quay_target_kind {
    QUAY_TARGET_QUAYREGISTRY = 1, /* quay.redhat.com/v1 QuayRegistry */
    QUAY_TARGET_STANDALONE = 2,   /* a config Secret plus Deployments */
};

/* "QuayRegistry" / "StandaloneQuay"; and back (0 when unknown). */
const char *quay_target_kind_name(enum quay_target_kind k);
enum quay_target_kind quay_target_kind_parse(const char *s);

/* An owner reference (all borrowed). */
struct quay_owner {
    const char *api_version;
    const char *kind;
    const char *name;
    const char *uid;
};

/* One configuration of a target: what it runs, or should run. */
struct quay_state_config {
    int present;
    char name[QUAY_NAME_MAX + 1]; /* the bundle Secret the target references */
    char sha[65];                 /* sha256 (hex) of that Secret's .data */
    cJSON *components;            /* QuayRegistry spec.components verbatim; NULL = absent */
    cJSON *replicas;              /* StandaloneQuay {"<deployment>": n} we set; NULL = untouched */
    int restart;                  /* StandaloneQuay: pod templates carry the config sha */
    long long target_generation;  /* QuayRegistry generation after our patch; 0 unknown */
    int confirmed;                /* the target reported this configuration rolled out */
    long long applied_at;         /* Unix seconds (our clock) when the target was changed to
                                   * this configuration; 0 unknown. A target's refusal older
                                   * than this is about an earlier change. */
};

void quay_state_config_clear(struct quay_state_config *c);
/* Deep copy into a cleared `dst`; K8S_ENOMEM. */
int quay_state_config_copy(struct quay_state_config *dst, const struct quay_state_config *src);
/* Same name, sha, components (deep, absent != []), replicas and restart;
 * generation and confirmation are not compared. */
int quay_state_config_same(const struct quay_state_config *a, const struct quay_state_config *b);

struct quay_state {
    int version;
    enum quay_target_kind kind;
    char ns[QUAY_NS_MAX + 1];
    char name[QUAY_NAME_MAX + 1]; /* QuayRegistry name, or the config Secret's */
    char uid[QUAY_UID_MAX + 1];   /* the owner's uid: a recreated target is another target */
    struct quay_state_config original;
    char backup[QUAY_NAME_MAX + 1];     /* StandaloneQuay: the backup Secret */
    char config_key[QUAY_NAME_MAX + 1]; /* StandaloneQuay: the config file's key */
    /* StandaloneQuay: its Deployments, so `restore` needs no CR to find them. */
    char deployments[QUAY_STATE_MAX_DEPLOYMENTS][QUAY_NAME_MAX + 1];
    size_t ndeployments;
    struct {
        char name[QUAY_NAME_MAX + 1];
        char sha[65];
        int is_original;
    } base;
    struct quay_overlay **overlays;
    size_t noverlays;
    struct quay_state_config applied;
    struct quay_state_config pending;
    cJSON *scaled_from; /* StandaloneQuay: {"<deployment>": n} before a ScaleDown */
    struct {
        int present;
        char time[40];
        char by[64];
        char previous[QUAY_NAME_MAX + 1];
    } restored;
    char resource_version[QUAY_RV_MAX + 1]; /* of the state Secret; "" until created */
};

/* The state Secret's name for a target. */
int quay_state_name(enum quay_target_kind kind, const char *target, char *out, size_t cap,
                    struct k8s_error *err);

/* A new empty record (version set, no original); NULL when out of memory. */
struct quay_state *quay_state_new(enum quay_target_kind kind, const char *ns, const char *name,
                                  const char *uid);
/* Wipes the overlays' private keys. NULL is fine. */
void quay_state_free(struct quay_state *s);

/* The JSON above (holds secrets). resource_version is not part of it. */
int quay_state_to_json(const struct quay_state *s, cJSON **out, struct k8s_error *err);
/* K8S_EDECODE naming the field at fault; a newer "version" is refused. */
int quay_state_from_json(const cJSON *j, struct quay_state **out, struct k8s_error *err);

/* Overlays, one per window: put replaces the window's overlay (copied). */
int quay_state_put_overlay(struct quay_state *s, const struct quay_overlay *o,
                           struct k8s_error *err);
/* 1 when the window had an overlay (removed), 0 otherwise. */
int quay_state_remove_overlay(struct quay_state *s, const char *window);
const struct quay_overlay *quay_state_find_overlay(const struct quay_state *s, const char *window);

/* ---- the record in the API ----------------------------------------------------- */

/* Reads the record; K8S_ENOTFOUND when there is none. */
int quay_state_get(struct k8s_client *c, enum quay_target_kind kind, const char *ns,
                   const char *name, struct quay_state **out, struct k8s_error *err);
/* Creates it, owned by `owner`; K8S_EALREADYEXISTS when another writer was
 * first (re-read). Sets s->resource_version. */
int quay_state_create(struct k8s_client *c, struct quay_state *s, const struct quay_owner *owner,
                      struct k8s_error *err);
/* Replaces it with the resourceVersion precondition; K8S_ECONFLICT when it
 * changed since it was read. Sets s->resource_version. */
int quay_state_update(struct k8s_client *c, struct quay_state *s, struct k8s_error *err);
/* Deletes it with a resourceVersion precondition (K8S_ECONFLICT when stale). */
int quay_state_delete(struct k8s_client *c, const struct quay_state *s, struct k8s_error *err);

/* ---- Secrets the composer writes ---------------------------------------------------- */

/*
 * A Secret object: name, namespace, the two labels (role), the data-sha256
 * annotation when `sha` is non-NULL, one owner reference when `owner` is
 * non-NULL, type Opaque, `.data` = data (copied), immutable when asked.
 */
cJSON *quay_secret_object_new(const char *ns, const char *name, const char *role,
                              const struct quay_owner *owner, const cJSON *data, const char *sha,
                              int immutable);
/* 1 when `obj` carries our managed-by label and this role. */
int quay_secret_has_role(const cJSON *obj, const char *role);
/* 1 when one of obj's ownerReferences has this uid. */
int quay_object_owned_by(const cJSON *obj, const char *uid);

#endif
