/*
 * The StandaloneQuay target: a Quay deployed without the Quay Operator,
 * configured by one Secret (`configSecretRef`) that named Deployments mount.
 *
 * Nothing renders the Secret for us, so a change is an edit IN PLACE:
 *   - before the first edit, a backup Secret `<secret>-qso-backup-<hash>`
 *     holds the original data (immutable, no owner: nothing, not even the
 *     garbage collector after the config Secret is deleted, removes it; we
 *     never delete it either);
 *   - the Secret's .data is replaced by a JSON patch that first tests the
 *     resourceVersion read (a concurrent edit fails it, we re-read);
 *   - Quay reads its config at start, so each Deployment is restarted by a
 *     pod-template annotation `quaystorage.io/config-sha256: <sha>` (a new
 *     ReplicaSet, as `kubectl rollout restart` does with its own one);
 *   - ScaleDown sets every named Deployment's replicas to 0; the replicas
 *     they had are kept in the state record (scaledFrom) and put back
 *     exactly when the last ScaleDown ends.
 * Confirmation: every Deployment carries the annotation of the applied sha
 * (once we restart at all), has the replicas we set, and completed its
 * rollout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8s_log.h"
#include "k8s_patch.h"
#include "quay_target.h"

static const struct k8s_resource SECRETS = {"", "v1", "secrets", 1};
static const struct k8s_resource DEPLOYMENTS = {"apps", "v1", "deployments", 1};

static const cJSON *jget(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static const char *jstr(const cJSON *o, const char *k)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

static const char *template_annotation(const cJSON *dep)
{
    return jstr(jget(jget(jget(jget(dep, "spec"), "template"), "metadata"), "annotations"),
                QUAY_ANNOTATION_CONFIG_SHA);
}

/* spec.replicas; the API server defaults an absent one to 1. */
static long long spec_replicas(const cJSON *dep)
{
    const cJSON *r = jget(jget(dep, "spec"), "replicas");
    return cJSON_IsNumber(r) ? (long long)r->valuedouble : 1;
}

static int sq_observe(struct k8s_client *c, const struct quay_target_ref *t,
                      struct quay_target_view *v, struct k8s_error *err)
{
    int rc;
    cJSON *sec = NULL, *dep = NULL;
    memset(v, 0, sizeof(*v));
    rc = quay__secret_read(c, t->ns, t->name, QUAY_BUNDLE_STANDALONE, t->config_key, &v->bundle,
                           &sec, err);
    if (rc == K8S_ENOTFOUND)
        return k8s_error_set(err, rc, "config Secret %s/%s not found", t->ns, t->name);
    if (rc)
        return rc;
    const cJSON *md = jget(sec, "metadata");
    snprintf(v->uid, sizeof(v->uid), "%s", jstr(md, "uid") ? jstr(md, "uid") : "");
    snprintf(v->ref_uid, sizeof(v->ref_uid), "%s", v->uid);
    snprintf(v->ref_rv, sizeof(v->ref_rv), "%s",
             jstr(md, "resourceVersion") ? jstr(md, "resourceVersion") : "");
    snprintf(v->rv, sizeof(v->rv), "%s", v->ref_rv);
    snprintf(v->ref_name, sizeof(v->ref_name), "%s", t->name);
    quay__bundle_sha(v->bundle, v->ref_sha);
    v->ref_immutable = cJSON_IsTrue(jget(sec, "immutable"));
    if (!(v->replicas = cJSON_CreateObject()) || !(v->annotations = cJSON_CreateObject())) {
        rc = k8s_error_set(err, K8S_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < t->ndeployments; i++) {
        rc = k8s_get(c, &DEPLOYMENTS, t->ns, t->deployments[i], NULL, &dep, err);
        if (rc == K8S_ENOTFOUND)
            rc = k8s_error_set(err, rc, "Deployment %s/%s (named by the target) not found", t->ns,
                               t->deployments[i]);
        if (rc)
            goto out;
        const char *a = template_annotation(dep);
        if (!cJSON_AddNumberToObject(v->replicas, t->deployments[i], (double)spec_replicas(dep)) ||
            !cJSON_AddStringToObject(v->annotations, t->deployments[i], a ? a : "")) {
            rc = k8s_error_set(err, K8S_ENOMEM, "out of memory");
            goto out;
        }
        cJSON_Delete(dep);
        dep = NULL;
    }
out:
    cJSON_Delete(dep);
    cJSON_Delete(sec);
    if (rc)
        quay_target_view_clear(v);
    return rc;
}

static void sq_owner(const struct quay_target_ref *t, const struct quay_target_view *v,
                     struct quay_owner *out)
{
    out->api_version = "v1";
    out->kind = "Secret";
    out->name = t->name;
    out->uid = v->uid;
}

static int sq_adopt(struct k8s_client *c, const struct quay_target_ref *t,
                    const struct quay_target_view *v, struct quay_state *s, struct k8s_error *err)
{
    int rc;
    char backup[QUAY_NAME_MAX + 1];
    /* <secret>-qso-backup-<10 hex>: 22 characters after the name. */
    snprintf(backup, sizeof(backup), "%.*s-qso-backup-%.10s", QUAY_NAME_MAX - 22, t->name,
             v->ref_sha);
    /*
     * Data we wrote ourselves is never anybody's original (the QuayRegistry
     * target refuses its rendered Secrets the same way). Every write of ours
     * also marks the Deployments with the data's sha; data that was once an
     * original has a backup under that sha. So data carrying our mark but
     * no backup is a render whose state record is gone: adopting it would
     * keep its overlays (DISABLE_PUSHES, REGISTRY_STATE) on for good.
     */
    for (size_t i = 0; i < t->ndeployments; i++) {
        const char *a = jstr(v->annotations, t->deployments[i]);
        if (!a || strcmp(a, v->ref_sha) != 0)
            continue;
        cJSON *have = NULL;
        rc = k8s_get(c, &SECRETS, t->ns, backup, NULL, &have, err);
        cJSON_Delete(have);
        if (rc == K8S_ENOTFOUND)
            return k8s_error_set(
                err, K8S_ECONFLICT,
                "config Secret %s/%s holds data quay-storage-operator rendered (Deployment %s "
                "runs it with annotation %s), but its state record is gone: put your original "
                "data back, e.g. from a backup Secret %.*s-qso-backup-<hash>. If this data is "
                "your own, remove that annotation from the Deployments' pod templates",
                t->ns, t->name, t->deployments[i], QUAY_ANNOTATION_CONFIG_SHA, QUAY_NAME_MAX - 22,
                t->name);
        if (rc)
            return rc;
        break;
    }
    if ((rc = quay__secret_ensure(c, t->ns, backup, QUAY_ROLE_BACKUP, NULL, v->bundle, 1, err)))
        return rc;
    quay_state_config_clear(&s->original);
    quay_state_config_clear(&s->applied);
    s->original.present = 1;
    snprintf(s->original.name, sizeof(s->original.name), "%s", t->name);
    snprintf(s->original.sha, sizeof(s->original.sha), "%s", v->ref_sha);
    if (quay_state_config_copy(&s->applied, &s->original))
        return k8s_error_set(err, K8S_ENOMEM, "out of memory");
    s->applied.confirmed = 1;
    snprintf(s->backup, sizeof(s->backup), "%s", backup);
    snprintf(s->config_key, sizeof(s->config_key), "%s", t->config_key);
    s->ndeployments = t->ndeployments;
    for (size_t i = 0; i < t->ndeployments; i++)
        snprintf(s->deployments[i], sizeof(s->deployments[i]), "%s", t->deployments[i]);
    snprintf(s->base.name, sizeof(s->base.name), "%s", backup);
    snprintf(s->base.sha, sizeof(s->base.sha), "%s", v->ref_sha);
    s->base.is_original = 1;
    snprintf(s->uid, sizeof(s->uid), "%s", v->uid);
    k8s_log(K8S_LOG_INFO, t->ns, t->name, "backed up the config Secret before editing it",
            (const char *[]){"backup", backup, "dataSHA256", v->ref_sha, NULL});
    return 0;
}

/* 1 when Deployment `name` in the view has what `c` asks of it. */
static int deployment_matches(const struct quay_target_view *v, const char *name,
                              const struct quay_state_config *c)
{
    if (c->restart) {
        const char *a = jstr(v->annotations, name);
        if (!a || strcmp(a, c->sha) != 0)
            return 0;
    }
    const cJSON *want = jget(c->replicas, name), *have = jget(v->replicas, name);
    if (want && (!cJSON_IsNumber(have) || have->valuedouble != want->valuedouble))
        return 0;
    return 1;
}

static int sq_matches(const struct quay_target_ref *t, const struct quay_target_view *v,
                      const struct quay_state_config *c)
{
    if (strcmp(v->ref_sha, c->sha) != 0)
        return 0;
    for (size_t i = 0; i < t->ndeployments; i++)
        if (!deployment_matches(v, t->deployments[i], c))
            return 1;
    return 2;
}

static int sq_desire(const struct quay_target_ref *t, const struct quay_state *s,
                     const struct quay_target_view *v, const struct quay_render *r,
                     const struct quay_bundle *base, const struct quay_bundle *original,
                     struct quay_state_config *d, struct quay_confirm *refusal,
                     struct k8s_error *err)
{
    (void)v;
    (void)base;
    (void)original;
    (void)refusal;
    d->present = 1;
    snprintf(d->name, sizeof(d->name), "%s", t->name);
    quay__bundle_sha(r->bundle, d->sha);
    if (r->scale_down_components) {
        if (!(d->replicas = cJSON_CreateObject()))
            return k8s_error_set(err, K8S_ENOMEM, "out of memory");
        for (size_t i = 0; i < t->ndeployments; i++)
            if (!cJSON_AddNumberToObject(d->replicas, t->deployments[i], 0))
                return k8s_error_set(err, K8S_ENOMEM, "out of memory");
    } else if (s->scaled_from && !(d->replicas = cJSON_Duplicate(s->scaled_from, 1))) {
        return k8s_error_set(err, K8S_ENOMEM, "out of memory");
    }
    /* Restart once the data differs from what runs, and keep annotating
     * from then on (so the pods of a restored original restart too). */
    d->restart = s->applied.restart || strcmp(d->sha, s->applied.sha) != 0;
    return 0;
}

static int sq_prepare(struct k8s_client *c, const struct quay_target_ref *t,
                      const struct quay_target_view *v, const struct quay_state_config *d,
                      const struct quay_bundle *rendered, struct k8s_error *err)
{
    /* The backup was made when the original was adopted. */
    (void)c;
    (void)t;
    (void)v;
    (void)d;
    (void)rendered;
    (void)err;
    return 0;
}

/* Replaces the config Secret's data if `v` saw other data. */
static int write_secret(struct k8s_client *c, const struct quay_target_ref *t,
                        const struct quay_target_view *v, const struct quay_state_config *d,
                        const struct quay_bundle *rendered, struct k8s_error *err)
{
    int rc;
    cJSON *data = NULL, *patch = NULL, *rv = NULL;
    if (strcmp(v->ref_sha, d->sha) == 0)
        return 0;
    if (v->ref_immutable)
        return k8s_error_set(err, K8S_EINVALID,
                             "config Secret %s/%s is immutable: it cannot be edited in place; "
                             "make it mutable (recreate it without immutable: true) first",
                             t->ns, t->name);
    if ((rc = quay_bundle_to_secret_data(rendered, &data, err)))
        return rc;
    if (!(patch = cJSON_CreateArray()) || !(rv = cJSON_CreateString(v->ref_rv)) ||
        k8s_json_patch_add_op(patch, "test", "/metadata/resourceVersion", rv) ||
        k8s_json_patch_add_op(patch, "replace", "/data", data)) {
        rc = k8s_error_set(err, K8S_ENOMEM, "out of memory");
        goto out;
    }
    cJSON *res = NULL;
    rc = k8s_patch_tested(c, &SECRETS, t->ns, t->name, v->ref_rv, patch, NULL, &res, err);
    cJSON_Delete(res);
    if (rc == K8S_EINVALID)
        k8s_error_prefix(err, "the API server refused the change of config Secret %s/%s", t->ns,
                         t->name);
    if (!rc)
        k8s_log(K8S_LOG_INFO, t->ns, t->name, "replaced the config Secret's data",
                (const char *[]){"dataSHA256", d->sha, NULL});
out:
    cJSON_Delete(rv);
    cJSON_Delete(patch);
    cJSON_Delete(data);
    return rc;
}

/* Sets the restart annotation and the replicas `d` asks of one Deployment. */
static int patch_deployment(struct k8s_client *c, const struct quay_target_ref *t, const char *name,
                            const struct quay_state_config *d, struct k8s_error *err)
{
    int rc, changes = 0;
    cJSON *dep = NULL, *patch = NULL, *val = NULL;
    if ((rc = k8s_get(c, &DEPLOYMENTS, t->ns, name, NULL, &dep, err)))
        return rc;
    if (!(patch = cJSON_CreateArray()))
        goto oom;
    const char *have = template_annotation(dep);
    if (d->restart && (!have || strcmp(have, d->sha) != 0)) {
        const cJSON *annotations =
            jget(jget(jget(jget(dep, "spec"), "template"), "metadata"), "annotations");
        if (cJSON_IsObject(annotations)) {
            char path[128], esc[64];
            if (k8s_json_pointer_escape(QUAY_ANNOTATION_CONFIG_SHA, esc, sizeof(esc)))
                goto oom;
            snprintf(path, sizeof(path), "/spec/template/metadata/annotations/%s", esc);
            if (!(val = cJSON_CreateString(d->sha)) ||
                k8s_json_patch_add_op(patch, "add", path, val))
                goto oom;
        } else {
            if (!(val = cJSON_CreateObject()) ||
                !cJSON_AddStringToObject(val, QUAY_ANNOTATION_CONFIG_SHA, d->sha) ||
                k8s_json_patch_add_op(patch, "add", "/spec/template/metadata/annotations", val))
                goto oom;
        }
        cJSON_Delete(val);
        val = NULL;
        changes++;
    }
    const cJSON *want = jget(d->replicas, name);
    long long cur = spec_replicas(dep);
    if (cJSON_IsNumber(want) && (long long)want->valuedouble != cur) {
        /* Test what we read: an HPA or a person scaling at the same time
         * makes us re-read instead of overwriting them. */
        const cJSON *have_r = jget(jget(dep, "spec"), "replicas");
        if (cJSON_IsNumber(have_r) &&
            k8s_json_patch_add_op(patch, "test", "/spec/replicas", have_r))
            goto oom;
        if (k8s_json_patch_add_op(patch, cJSON_IsNumber(have_r) ? "replace" : "add",
                                  "/spec/replicas", want))
            goto oom;
        changes++;
    }
    if (changes) {
        cJSON *res = NULL;
        rc = k8s_patch(c, &DEPLOYMENTS, t->ns, name, K8S_PATCH_JSON, patch, NULL, &res, err);
        cJSON_Delete(res);
        if (rc == K8S_EINVALID) {
            /* A failed test (someone changed the Deployment's spec
             * meanwhile: re-read) or a refused change: the generation,
             * which moves with every spec change and never with status,
             * tells which. */
            cJSON *now = NULL;
            struct k8s_error gerr;
            int grc = k8s_get(c, &DEPLOYMENTS, t->ns, name, NULL, &now, &gerr);
            const cJSON *g0 = jget(jget(dep, "metadata"), "generation");
            const cJSON *g1 = jget(jget(now, "metadata"), "generation");
            if (grc) {
                if (err)
                    *err = gerr;
                rc = grc;
            } else if (cJSON_IsNumber(g0) && cJSON_IsNumber(g1) &&
                       g0->valuedouble == g1->valuedouble) {
                k8s_error_prefix(err, "the API server refused the change of Deployment %s/%s",
                                 t->ns, name);
            } else {
                rc = k8s_error_set(err, K8S_ECONFLICT,
                                   "Deployment %s/%s changed since it was read; re-read it", t->ns,
                                   name);
            }
            cJSON_Delete(now);
        }
        if (!rc)
            k8s_log(K8S_LOG_INFO, t->ns, name, "updated a Deployment of a StandaloneQuay",
                    (const char *[]){"configSHA256", d->restart ? d->sha : "", NULL});
    }
    cJSON_Delete(patch);
    cJSON_Delete(dep);
    return rc;
oom:
    cJSON_Delete(val);
    cJSON_Delete(patch);
    cJSON_Delete(dep);
    return k8s_error_set(err, K8S_ENOMEM, "out of memory");
}

static int sq_apply(struct k8s_client *c, const struct quay_target_ref *t,
                    const struct quay_target_view *v, const struct quay_state_config *d,
                    const struct quay_bundle *rendered, long long *generation,
                    struct k8s_error *err)
{
    int rc;
    *generation = 0;
    /* Data first, restart after: pods that start now read the new data. */
    if ((rc = write_secret(c, t, v, d, rendered, err)))
        return rc;
    for (size_t i = 0; i < t->ndeployments; i++)
        if ((rc = patch_deployment(c, t, t->deployments[i], d, err)))
            return rc;
    return 0;
}

static int sq_confirm(struct k8s_client *c, const struct quay_target_ref *t,
                      const struct quay_state_config *d, const struct quay_bundle *rendered,
                      const struct quay_target_view *v, struct quay_confirm *out,
                      struct k8s_error *err)
{
    (void)rendered;
    (void)v;
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < t->ndeployments; i++) {
        cJSON *dep = NULL;
        int rc = k8s_get(c, &DEPLOYMENTS, t->ns, t->deployments[i], NULL, &dep, err);
        if (rc)
            return rc;
        const char *a = template_annotation(dep);
        const cJSON *want = jget(d->replicas, t->deployments[i]);
        if ((d->restart && (!a || strcmp(a, d->sha) != 0)) ||
            (cJSON_IsNumber(want) && (long long)want->valuedouble != spec_replicas(dep))) {
            out->status = QUAY_CONFIRM_WAITING;
            snprintf(out->reason, sizeof(out->reason), "RolloutInProgress");
            snprintf(out->message, sizeof(out->message),
                     "Deployment %s does not run the applied configuration yet", t->deployments[i]);
        } else {
            quay__deployment_rollout(dep, out);
        }
        cJSON_Delete(dep);
        if (out->status != QUAY_CONFIRM_DONE)
            return 0;
    }
    return 0;
}

const struct quay_target_ops quay_target_standalone_ops = {
    .kind = QUAY_TARGET_STANDALONE,
    .observe = sq_observe,
    .adopt = sq_adopt,
    .owner = sq_owner,
    .matches = sq_matches,
    .desire = sq_desire,
    .prepare = sq_prepare,
    .apply = sq_apply,
    .confirm = sq_confirm,
};
