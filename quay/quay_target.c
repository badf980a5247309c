/*
 * quay_target: target references, the per-kind dispatch, and the code both
 * target kinds share (see quay_target.h).
 */
#include "quay_target.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8s_patch.h"

static const struct k8s_resource SECRETS = {"", "v1", "secrets", 1};

int quay_object_name_ok(const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'))
            return 0;
    }
    return s[0] != '-' && s[0] != '.' && s[n - 1] != '-' && s[n - 1] != '.';
}

static int secret_key_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > QUAY_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_'))
            return 0;
    }
    return 1;
}

int quay_target_ref_init(struct quay_target_ref *r, enum quay_target_kind kind, const char *ns,
                         const char *name, struct k8s_error *err)
{
    memset(r, 0, sizeof(*r));
    if (kind != QUAY_TARGET_QUAYREGISTRY && kind != QUAY_TARGET_STANDALONE)
        return k8s_error_set(err, K8S_EARG, "unknown target kind");
    if (!quay_object_name_ok(ns, QUAY_NS_MAX))
        return k8s_error_set(err, K8S_EARG, "\"%s\" is not a valid namespace", ns ? ns : "");
    if (!quay_object_name_ok(name, QUAY_NAME_MAX))
        return k8s_error_set(err, K8S_EARG, "\"%s\" is not a valid object name", name ? name : "");
    r->kind = kind;
    snprintf(r->ns, sizeof(r->ns), "%s", ns);
    snprintf(r->name, sizeof(r->name), "%s", name);
    snprintf(r->config_key, sizeof(r->config_key), "%s", QUAY_BUNDLE_CONFIG_KEY);
    return 0;
}

int quay_target_ref_add_deployment(struct quay_target_ref *r, const char *name,
                                   struct k8s_error *err)
{
    if (r->kind != QUAY_TARGET_STANDALONE)
        return k8s_error_set(err, K8S_EARG, "only a StandaloneQuay target lists Deployments");
    if (!quay_object_name_ok(name, QUAY_NAME_MAX))
        return k8s_error_set(err, K8S_EINVALID, "\"%s\" is not a valid Deployment name",
                             name ? name : "");
    for (size_t i = 0; i < r->ndeployments; i++)
        if (strcmp(r->deployments[i], name) == 0)
            return k8s_error_set(err, K8S_EINVALID, "Deployment %s is listed twice", name);
    if (r->ndeployments >= QUAY_TARGET_MAX_DEPLOYMENTS)
        return k8s_error_set(err, K8S_EINVALID, "at most %d Deployments can be listed",
                             QUAY_TARGET_MAX_DEPLOYMENTS);
    snprintf(r->deployments[r->ndeployments++], sizeof(r->deployments[0]), "%s", name);
    return 0;
}

/* quay_target_ref_init's K8S_EARG as the K8S_EINVALID the CR's field gets. */
static int field_invalid(int rc, const char *field, struct k8s_error *err)
{
    if (rc != K8S_EARG || !err)
        return rc == K8S_EARG ? K8S_EINVALID : rc;
    char msg[sizeof(err->message)];
    snprintf(msg, sizeof(msg), "%s", err->message);
    return k8s_error_set(err, K8S_EINVALID, "%s: %s", field, msg);
}

int quay_target_ref_from_json(const char *ns, const cJSON *target, struct quay_target_ref *out,
                              struct k8s_error *err)
{
    int rc;
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(target, "type"));
    const cJSON *qr = cJSON_GetObjectItemCaseSensitive(target, "quayRegistry");
    const cJSON *sq = cJSON_GetObjectItemCaseSensitive(target, "standaloneQuay");
    enum quay_target_kind kind = quay_target_kind_parse(type);
    memset(out, 0, sizeof(*out));
    /* The CRD's CEL rules say the same; servers before 1.25 drop them. */
    if (!kind)
        return k8s_error_set(err, K8S_EINVALID,
                             "spec.target.type must be QuayRegistry or StandaloneQuay");
    if ((kind == QUAY_TARGET_QUAYREGISTRY) != (qr != NULL) ||
        (kind == QUAY_TARGET_STANDALONE) != (sq != NULL))
        return k8s_error_set(err, K8S_EINVALID,
                             "spec.target must set exactly the member named by spec.target.type");
    if (kind == QUAY_TARGET_QUAYREGISTRY)
        return field_invalid(
            quay_target_ref_init(out, kind, ns,
                                 cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(qr, "name")),
                                 err),
            "spec.target.quayRegistry.name", err);
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(sq, "configSecretRef");
    if ((rc = quay_target_ref_init(
             out, kind, ns, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ref, "name")),
             err)))
        return field_invalid(rc, "spec.target.standaloneQuay.configSecretRef.name", err);
    const char *key = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ref, "key"));
    if (key) {
        if (!secret_key_ok(key))
            return k8s_error_set(err, K8S_EINVALID,
                                 "spec.target.standaloneQuay.configSecretRef.key \"%s\" is not a "
                                 "valid Secret key",
                                 key);
        snprintf(out->config_key, sizeof(out->config_key), "%s", key);
    }
    const cJSON *deps = cJSON_GetObjectItemCaseSensitive(sq, "deployments"), *d;
    if (!cJSON_IsArray(deps) || cJSON_GetArraySize(deps) == 0)
        return k8s_error_set(err, K8S_EINVALID,
                             "spec.target.standaloneQuay.deployments must list at least one "
                             "Deployment");
    cJSON_ArrayForEach(d, deps)
    {
        if ((rc = quay_target_ref_add_deployment(out, cJSON_GetStringValue(d), err)))
            return rc;
    }
    return 0;
}

void quay_target_view_clear(struct quay_target_view *v)
{
    quay_bundle_free(v->bundle);
    cJSON_Delete(v->components);
    cJSON_Delete(v->replicas);
    cJSON_Delete(v->annotations);
    cJSON_Delete(v->object);
    memset(v, 0, sizeof(*v));
}

const struct quay_target_ops *quay_target_ops_for(enum quay_target_kind kind)
{
    switch (kind) {
    case QUAY_TARGET_QUAYREGISTRY:
        return &quay_target_quayregistry_ops;
    case QUAY_TARGET_STANDALONE:
        return &quay_target_standalone_ops;
    }
    return NULL;
}

enum quay_bundle_flavor quay_target_flavor(const struct quay_target_ref *t)
{
    return t->kind == QUAY_TARGET_QUAYREGISTRY ? QUAY_BUNDLE_OPERATOR : QUAY_BUNDLE_STANDALONE;
}

int quay_component_managed(const cJSON *components, const char *kind)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, components)
    {
        const char *k = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "kind"));
        if (k && strcmp(k, kind) == 0)
            return !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(c, "managed"));
    }
    return 1;
}

void quay__bundle_sha(const struct quay_bundle *b, char out[65])
{
    quay_bundle_sha256_hex(b, out);
}

int quay__secret_read(struct k8s_client *c, const char *ns, const char *name,
                      enum quay_bundle_flavor flavor, const char *config_key,
                      struct quay_bundle **bundle, cJSON **obj, struct k8s_error *err)
{
    cJSON *o = NULL;
    *bundle = NULL;
    if (obj)
        *obj = NULL;
    int rc = k8s_get(c, &SECRETS, ns, name, NULL, &o, err);
    if (rc)
        return rc;
    rc = quay_bundle_from_secret_data(cJSON_GetObjectItemCaseSensitive(o, "data"), flavor,
                                      config_key, bundle, err);
    if (rc) {
        /* Name the Secret: the bundle's message only names the key. */
        char msg[sizeof(err->message)];
        snprintf(msg, sizeof(msg), "%s", err ? err->message : "");
        k8s_error_set(err, rc, "Secret %s/%s: %s", ns, name, msg);
    }
    if (!rc && obj) {
        *obj = o;
        o = NULL;
    }
    cJSON_Delete(o);
    return rc;
}

int quay__secret_ensure(struct k8s_client *c, const char *ns, const char *name, const char *role,
                        const struct quay_owner *owner, const struct quay_bundle *b, int immutable,
                        struct k8s_error *err)
{
    int rc;
    char sha[65], have_sha[65];
    cJSON *data = NULL, *obj = NULL, *found = NULL;
    struct quay_bundle *have = NULL;
    quay__bundle_sha(b, sha);
    if ((rc = quay_bundle_to_secret_data(b, &data, err)))
        return rc;
    if (!(obj = quay_secret_object_new(ns, name, role, owner, data, sha, immutable))) {
        rc = k8s_error_set(err, K8S_ENOMEM, "out of memory");
        goto out;
    }
    cJSON *created = NULL;
    rc = k8s_create(c, &SECRETS, ns, obj, NULL, &created, err);
    cJSON_Delete(created);
    if (rc != K8S_EALREADYEXISTS)
        goto out;
    /* Created by an earlier attempt (a crash, a retry)? Only if it holds
     * exactly this data; anything else is never overwritten. */
    if ((rc = quay__secret_read(c, ns, name, b->flavor, b->config_key, &have, &found, err)))
        goto out;
    quay__bundle_sha(have, have_sha);
    if (strcmp(have_sha, sha) != 0)
        rc = k8s_error_set(err, K8S_ECONFLICT,
                           "Secret %s/%s already exists with other data; it is not ours to "
                           "replace (delete or rename it)",
                           ns, name);
    else if (owner && !quay_object_owned_by(found, owner->uid))
        /* Same data, another owner: e.g. the Secret of a deleted target of
         * the same name, which the garbage collector is about to remove.
         * Referencing it would leave the target pointing at nothing. */
        rc = k8s_error_set(err, K8S_ECONFLICT,
                           "Secret %s/%s already exists but is not owned by %s %s (it may be "
                           "waiting for garbage collection); retry once it is gone, or delete it",
                           ns, name, owner->kind, owner->name);
out:
    cJSON_Delete(found);
    quay_bundle_free(have);
    cJSON_Delete(obj);
    cJSON_Delete(data);
    return rc;
}

static long long num_or(const cJSON *o, const char *k, long long def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? (long long)v->valuedouble : def;
}

void quay__deployment_rollout(const cJSON *dep, struct quay_confirm *out)
{
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(dep, "metadata");
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(dep, "spec");
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(dep, "status");
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "name"));
    long long gen = num_or(md, "generation", 0), obs = num_or(st, "observedGeneration", 0);
    long long want = num_or(spec, "replicas", 1);
    long long replicas = num_or(st, "replicas", 0), updated = num_or(st, "updatedReplicas", 0);
    long long available = num_or(st, "availableReplicas", 0);
    const char *progress_reason = NULL, *progress_msg = NULL;
    const cJSON *cond;
    memset(out, 0, sizeof(*out));
    name = name ? name : "";
    cJSON_ArrayForEach(cond, cJSON_GetObjectItemCaseSensitive(st, "conditions"))
    {
        const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cond, "type"));
        if (type && strcmp(type, "Progressing") == 0) {
            progress_reason =
                cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cond, "reason"));
            progress_msg = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cond, "message"));
        }
    }
    out->status = QUAY_CONFIRM_WAITING;
    snprintf(out->reason, sizeof(out->reason), "RolloutInProgress");
    if (obs < gen) {
        snprintf(out->message, sizeof(out->message),
                 "waiting for Deployment %s's rollout to be observed (generation %lld, observed "
                 "%lld)",
                 name, gen, obs);
        return;
    }
    if (progress_reason && strcmp(progress_reason, "ProgressDeadlineExceeded") == 0) {
        out->status = QUAY_CONFIRM_BLOCKED;
        snprintf(out->reason, sizeof(out->reason), "ProgressDeadlineExceeded");
        snprintf(out->message, sizeof(out->message), "Deployment %s: %s", name,
                 progress_msg ? progress_msg : "rollout exceeded its progress deadline");
        return;
    }
    if (updated < want || replicas != want || available < want) {
        snprintf(out->message, sizeof(out->message),
                 "waiting for Deployment %s's rollout: %lld of %lld replicas updated, %lld "
                 "available, %lld in total",
                 name, updated, want, available, replicas);
        return;
    }
    /* With replicas, the controller says the new ReplicaSet is available
     * only once the rollout finished; scaled to 0 there is nothing to wait
     * for beyond the counts above. */
    if (want > 0 && (!progress_reason || strcmp(progress_reason, "NewReplicaSetAvailable") != 0)) {
        snprintf(out->message, sizeof(out->message),
                 "waiting for Deployment %s's new ReplicaSet to be available (Progressing reason "
                 "%s)",
                 name, progress_reason ? progress_reason : "not reported");
        return;
    }
    out->status = QUAY_CONFIRM_DONE;
    out->reason[0] = '\0';
}
