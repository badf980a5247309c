/*
 * ReadOnly through the QuayRegistry's own spec.readOnly, where the Quay
 * Operator offers it (quay/quay-operator PR #1325, Quay Operator 3.19: the
 * operator then makes and approves its own service key and renders the
 * read-only configuration itself). DESIGN.md asks to use it when present.
 *
 * Detection: the served OpenAPI v3 schema of quay.redhat.com/v1 QuayRegistry
 * has spec.properties.readOnly (open to every authenticated user, no RBAC
 * rule needed); the answer is cached for ten minutes. A window chooses its
 * mechanism once, when it first wants to be on, and records it in
 * status.readOnlyMechanism, so an operator upgrade mid-window never
 * switches it.
 *
 * Bookkeeping (the holders and the previous value, as annotations on the
 * QuayRegistry, changed in the same tested patch as spec.readOnly) is
 * quay/quay_readonly_spec.h's, shared with the break-glass `restore`.
 * This sits beside the composer (which never touches spec.readOnly; its
 * confirmation of configBundleSecret/components is unaffected); ScaleDown
 * overlays still come back with spec.readOnly in place, because releasing
 * waits for the window's end like any overlay.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_readonlywindow_int.h"
#include "k8s_log.h"
#include "quay_readonly_spec.h"
#include "quay_target.h"

static const struct k8s_resource QUAYREGISTRIES = {"quay.redhat.com", "v1", "quayregistries", 1};
static const struct k8s_resource DEPLOYMENTS = {"apps", "v1", "deployments", 1};

#define RECHECK_MS 600000

static const cJSON *jget(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static const char *jstr(const cJSON *o, const char *k)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

/* ---- detection ------------------------------------------------------------------------- */

static int schema_has_readonly(const cJSON *doc)
{
    const cJSON *s, *gvk;
    cJSON_ArrayForEach(s, jget(jget(doc, "components"), "schemas"))
    {
        int is_qr = 0;
        cJSON_ArrayForEach(gvk, jget(s, "x-kubernetes-group-version-kind"))
        {
            const char *g = jstr(gvk, "group"), *k = jstr(gvk, "kind");
            is_qr |= g && k && !strcmp(g, "quay.redhat.com") && !strcmp(k, "QuayRegistry");
        }
        if (is_qr && jget(jget(jget(jget(s, "properties"), "spec"), "properties"), "readOnly"))
            return 1;
    }
    return 0;
}

int ctl_rw__qr_offers_readonly(struct ctl_rw *r, struct ctl_context *ctx)
{
    int64_t now = ctl_clock_mono_ms(ctl_context_clock(ctx));
    struct k8s_response resp = {0};
    struct k8s_error err;
    int known, offers;
    pthread_mutex_lock(&r->mu);
    known = r->ro_spec_checked && now - r->ro_spec_checked_ms < RECHECK_MS;
    offers = r->ro_spec_offered;
    pthread_mutex_unlock(&r->mu);
    if (known)
        return offers;
    k8s_error_clear(&err);
    int rc = k8s_request(ctl_context_client(ctx), "GET", "/openapi/v3/apis/quay.redhat.com/v1",
                         NULL, NULL, 0, "application/json", &resp, &err);
    if (!rc) {
        cJSON *doc = cJSON_ParseWithLength(resp.body, resp.body_len);
        offers = doc && schema_has_readonly(doc);
        cJSON_Delete(doc);
    } else {
        /* Unknown: the config bundle works on every Quay Operator. */
        offers = 0;
        k8s_log(K8S_LOG_WARN, NULL, NULL,
                "readonlywindows: cannot read the QuayRegistry OpenAPI schema; using the config "
                "bundle for ReadOnly",
                (const char *[]){"error", err.message, NULL});
    }
    k8s_response_free(&resp);
    pthread_mutex_lock(&r->mu);
    r->ro_spec_checked = 1;
    r->ro_spec_checked_ms = now;
    r->ro_spec_offered = offers;
    pthread_mutex_unlock(&r->mu);
    return offers;
}

/* ---- holders ------------------------------------------------------------------------------ */

int ctl_rw__spec_apply(struct ctl_context *ctx, const struct quay_target_ref *t,
                       const char *holders, struct k8s_error *err)
{
    if (!ctl_context_may_write(ctx))
        return k8s_error_set(err, K8S_ESTOPPED, "no longer the leader");
    return quay_ro_spec_set_holders(ctl_context_client(ctx), t->ns, t->name, holders, NULL, 0, err);
}

/* ---- confirmation ---------------------------------------------------------------------------- */

static long long num(const cJSON *o, const char *k, long long def)
{
    const cJSON *v = jget(o, k);
    return cJSON_IsNumber(v) ? (long long)v->valuedouble : def;
}

static void result(struct quay_step_result *res, enum quay_phase p, const char *reason,
                   const char *msg)
{
    res->phase = p;
    snprintf(res->reason, sizeof(res->reason), "%s", reason);
    snprintf(res->message, sizeof(res->message), "%s", msg);
}

int ctl_rw__spec_confirm(struct ctl_context *ctx, const struct quay_target_ref *t,
                         const char *holders, struct quay_step_result *res, struct k8s_error *err)
{
    cJSON *qr = NULL, *dep = NULL;
    const cJSON *c;
    char msg[1024], name[QUAY_NAME_MAX + 16];
    int rc;
    memset(res, 0, sizeof(*res));
    if ((rc = k8s_get(ctl_context_client(ctx), &QUAYREGISTRIES, t->ns, t->name, NULL, &qr, err)))
        return rc;
    const cJSON *md = jget(qr, "metadata"), *st = jget(qr, "status");
    const cJSON *ro = jget(jget(qr, "spec"), "readOnly");
    const char *have = jstr(jget(md, "annotations"), QUAY_ANN_RO_HOLDERS);
    res->effective_mode = *holders ? QUAY_MODE_READ_ONLY : QUAY_MODE_NONE;
    snprintf(res->mode_window, sizeof(res->mode_window), "%.*s", (int)strcspn(holders, ","),
             holders);
    const char *restored = jstr(jget(md, "annotations"), QUAY_ANN_RO_RESTORED);
    if (restored) {
        snprintf(msg, sizeof(msg),
                 "spec.readOnly of QuayRegistry %s/%s was released by hand (%.160s, "
                 "`quay-storage-operator restore`); ReadOnly windows leave it alone until the "
                 "annotation %s is removed from the QuayRegistry, then a window can be edited or "
                 "created again",
                 t->ns, t->name, restored, QUAY_ANN_RO_RESTORED);
        result(res, QUAY_PHASE_BLOCKED, QUAY_REASON_RESTORED, msg);
        goto out;
    }
    if (strcmp(have ? have : "", holders) != 0 || (*holders && !cJSON_IsTrue(ro))) {
        snprintf(msg, sizeof(msg),
                 "QuayRegistry %s/%s: spec.readOnly (or its %s annotation) was changed by someone "
                 "else; the operator will not fight it. Put it back, or end the ReadOnly windows",
                 t->ns, t->name, QUAY_ANN_RO_HOLDERS);
        result(res, QUAY_PHASE_CHANGED_EXTERNALLY, QUAY_REASON_CHANGED_EXTERNALLY, msg);
        goto out;
    }
    cJSON_ArrayForEach(c, jget(st, "conditions"))
    {
        const char *type = jstr(c, "type"), *s = jstr(c, "status");
        if (type && s && !strcmp(type, "RolloutBlocked") && !strcmp(s, "True")) {
            snprintf(msg, sizeof(msg), "the Quay Operator blocks the rollout: %s",
                     jstr(c, "message") ? jstr(c, "message") : "(no message)");
            result(res, QUAY_PHASE_BLOCKED,
                   jstr(c, "reason") ? jstr(c, "reason") : "RolloutBlocked", msg);
            goto out;
        }
    }
    if (num(st, "observedGeneration", -1) != num(md, "generation", 0)) {
        snprintf(msg, sizeof(msg),
                 "waiting for the Quay Operator to observe generation %lld of QuayRegistry %s",
                 num(md, "generation", 0), t->name);
        result(res, QUAY_PHASE_PROGRESSING, "RolloutInProgress", msg);
        goto out;
    }
    snprintf(name, sizeof(name), "%s-quay-app", t->name);
    rc = k8s_get(ctl_context_client(ctx), &DEPLOYMENTS, t->ns, name, NULL, &dep, err);
    if (rc == K8S_ENOTFOUND) {
        rc = 0;
        snprintf(msg, sizeof(msg), "waiting for Deployment %s", name);
        result(res, QUAY_PHASE_PROGRESSING, "RolloutInProgress", msg);
        goto out;
    }
    if (rc)
        goto out;
    const cJSON *ds = jget(dep, "status");
    long long want = num(jget(dep, "spec"), "replicas", 1);
    if (num(ds, "observedGeneration", 0) < num(jget(dep, "metadata"), "generation", 0) ||
        num(ds, "updatedReplicas", 0) < want || num(ds, "availableReplicas", 0) < want ||
        num(ds, "replicas", 0) != want) {
        snprintf(msg, sizeof(msg),
                 "waiting for Deployment %s's rollout: %lld of %lld replicas updated, %lld "
                 "available",
                 name, num(ds, "updatedReplicas", 0), want, num(ds, "availableReplicas", 0));
        result(res, QUAY_PHASE_PROGRESSING, "RolloutInProgress", msg);
        goto out;
    }
    result(res, QUAY_PHASE_CONFIRMED, "", "");
out:
    cJSON_Delete(dep);
    cJSON_Delete(qr);
    return rc;
}
