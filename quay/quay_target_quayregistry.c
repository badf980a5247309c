/*
 * The QuayRegistry target (quay.redhat.com/v1, managed by the Quay Operator).
 *
 * How the Quay Operator behaves, from quay/quay-operator's source
 * (controllers/quay/quayregistry_controller.go, pkg/kustomize/kustomize.go,
 * kustomize/base/quay.deployment.yaml, apis/quay/v1/quayregistry_types.go):
 *   - It reconciles at once when metadata.generation changes and otherwise
 *     on a requeue about a minute later; it never watches the bundle
 *     Secret's data. So a change always goes through a NEW Secret name in
 *     spec.configBundleSecret (a generation change), never an edit in place.
 *   - It renders the bundle into `<registry>-quay-config-secret-<hash>`
 *     (kustomize secretGenerator "quay-config-secret" with the registry's
 *     name prefix): config.yaml re-marshalled with the fields it generates
 *     for managed components, every other bundle key carried as a file. The
 *     `<registry>-quay-app` Deployment mounts it as a volume (older
 *     versions: volume "configvolume" with secret.secretName; newer: a
 *     projected volume whose sources include it). Old
 *     `<registry>-quay-config-secret*` Secrets are deleted by the operator.
 *     Our rendered Secrets are named `<registry>-qso-<hash>`, outside that
 *     prefix.
 *   - It appends missing components to spec.components ({kind, managed:
 *     true}, EnsureDefaultComponents) with an Update of the spec, and
 *     refuses with RolloutBlocked=True: reason ComponentOverrideInvalid
 *     (ValidateOverrides: no overrides on an unmanaged component; no
 *     non-zero replicas override while horizontalpodautoscaler is managed)
 *     or ConfigInvalid (e.g. a managed component whose config the bundle
 *     also sets, such as DISTRIBUTED_STORAGE_CONFIG with a managed
 *     objectstorage component).
 *
 * Confirmation (DESIGN.md): status.observedGeneration == generation, the
 * quay-app pod template mounts a config Secret rendered from OUR bundle,
 * and the quay-app rollout completed (for ScaleDown: the scaled Deployments
 * at 0). "Rendered from our bundle" is checked by content, since the
 * operator's Secret name carries a hash of its own output: the keys the
 * composer can change (REGISTRY_STATE, DISABLE_PUSHES, the service-key
 * locations, and the storage keys unless objectstorage is managed) have the
 * same values in its config.yaml as in ours (absent where ours has none),
 * and every other file of our bundle is there byte for byte (except CA
 * files, ssl.cert/ssl.key and clair-ssl.*, which newer operators route to
 * other Secrets).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "k8s_log.h"
#include "k8s_patch.h"
#include "quay_target.h"

static const struct k8s_resource QUAYREGISTRIES = {"quay.redhat.com", "v1", "quayregistries", 1};
static const struct k8s_resource DEPLOYMENTS = {"apps", "v1", "deployments", 1};

#define HPA_KIND "horizontalpodautoscaler"

static const struct {
    unsigned bit;
    const char *kind;   /* the spec.components kind */
    const char *suffix; /* its Deployment: <registry>-<suffix> */
} scaled_components[] = {
    {QUAY_COMPONENT_QUAY, "quay", "quay-app"},
    {QUAY_COMPONENT_CLAIR, "clair", "clair-app"},
    {QUAY_COMPONENT_MIRROR, "mirror", "quay-mirror"},
};

/* The config keys a render can change; compared in confirmation. */
static const char *const overlay_keys[] = {QUAY_KEY_REGISTRY_STATE, QUAY_KEY_DISABLE_PUSHES,
                                           QUAY_KEY_SERVICE_KEY_KID, QUAY_KEY_SERVICE_KEY};
static const char *const storage_keys[] = {
    QUAY_KEY_STORAGE_CONFIG, QUAY_KEY_STORAGE_DEFAULT_LOCATIONS, QUAY_KEY_STORAGE_PREFERENCE,
    QUAY_KEY_STORAGE_REPLICATION};

static const char *jstr(const cJSON *o, const char *k)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

static const cJSON *jget(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

/* ---- observe ------------------------------------------------------------------------ */

static int qr_observe(struct k8s_client *c, const struct quay_target_ref *t,
                      struct quay_target_view *v, struct k8s_error *err)
{
    int rc;
    cJSON *obj = NULL, *sec = NULL;
    memset(v, 0, sizeof(*v));
    rc = k8s_get(c, &QUAYREGISTRIES, t->ns, t->name, NULL, &obj, err);
    if (rc == K8S_ENOTFOUND)
        return k8s_error_set(err, rc, "QuayRegistry %s/%s not found", t->ns, t->name);
    if (rc)
        return rc;
    const cJSON *md = jget(obj, "metadata"), *spec = jget(obj, "spec");
    snprintf(v->uid, sizeof(v->uid), "%s", jstr(md, "uid") ? jstr(md, "uid") : "");
    snprintf(v->rv, sizeof(v->rv), "%s",
             jstr(md, "resourceVersion") ? jstr(md, "resourceVersion") : "");
    const cJSON *g = jget(md, "generation");
    v->generation = cJSON_IsNumber(g) ? (long long)g->valuedouble : 0;
    const char *ref = jstr(spec, "configBundleSecret");
    snprintf(v->ref_name, sizeof(v->ref_name), "%s", ref ? ref : "");
    const cJSON *comps = jget(spec, "components");
    if (comps && !(v->components = cJSON_Duplicate(comps, 1))) {
        rc = k8s_error_set(err, K8S_ENOMEM, "out of memory");
        goto out;
    }
    v->object = obj;
    obj = NULL;
    if (!v->ref_name[0])
        goto out;
    rc =
        quay__secret_read(c, t->ns, v->ref_name, QUAY_BUNDLE_OPERATOR, NULL, &v->bundle, &sec, err);
    if (rc == K8S_ENOTFOUND) {
        /* A dangling reference is something to report, not a failure to read. */
        rc = 0;
        goto out;
    }
    if (rc)
        goto out;
    quay__bundle_sha(v->bundle, v->ref_sha);
    md = jget(sec, "metadata");
    snprintf(v->ref_rv, sizeof(v->ref_rv), "%s",
             jstr(md, "resourceVersion") ? jstr(md, "resourceVersion") : "");
    snprintf(v->ref_uid, sizeof(v->ref_uid), "%s", jstr(md, "uid") ? jstr(md, "uid") : "");
    v->ref_role_rendered = quay_secret_has_role(sec, QUAY_ROLE_RENDERED);
    v->ref_immutable = cJSON_IsTrue(jget(sec, "immutable"));
out:
    cJSON_Delete(sec);
    cJSON_Delete(obj);
    if (rc)
        quay_target_view_clear(v);
    return rc;
}

static void qr_owner(const struct quay_target_ref *t, const struct quay_target_view *v,
                     struct quay_owner *out)
{
    out->api_version = "quay.redhat.com/v1";
    out->kind = "QuayRegistry";
    out->name = t->name;
    out->uid = v->uid;
}

static int qr_adopt(struct k8s_client *c, const struct quay_target_ref *t,
                    const struct quay_target_view *v, struct quay_state *s, struct k8s_error *err)
{
    (void)c;
    if (!v->ref_name[0])
        return k8s_error_set(err, K8S_ENOTFOUND,
                             "QuayRegistry %s/%s has no spec.configBundleSecret yet (the Quay "
                             "Operator sets one on its first reconcile)",
                             t->ns, t->name);
    if (!v->bundle)
        return k8s_error_set(err, K8S_ENOTFOUND,
                             "QuayRegistry %s/%s references Secret %s, which does not exist", t->ns,
                             t->name, v->ref_name);
    if (v->ref_role_rendered)
        return k8s_error_set(err, K8S_ECONFLICT,
                             "QuayRegistry %s/%s references %s, a bundle rendered by "
                             "quay-storage-operator, but its state record is gone: point "
                             "spec.configBundleSecret back at your own bundle Secret",
                             t->ns, t->name, v->ref_name);
    quay_state_config_clear(&s->original);
    quay_state_config_clear(&s->applied);
    s->original.present = 1;
    snprintf(s->original.name, sizeof(s->original.name), "%s", v->ref_name);
    snprintf(s->original.sha, sizeof(s->original.sha), "%s", v->ref_sha);
    if (v->components && !(s->original.components = cJSON_Duplicate(v->components, 1)))
        return k8s_error_set(err, K8S_ENOMEM, "out of memory");
    if (quay_state_config_copy(&s->applied, &s->original))
        return k8s_error_set(err, K8S_ENOMEM, "out of memory");
    s->applied.confirmed = 1;
    s->applied.target_generation = v->generation;
    snprintf(s->base.name, sizeof(s->base.name), "%s", v->ref_name);
    snprintf(s->base.sha, sizeof(s->base.sha), "%s", v->ref_sha);
    s->base.is_original = 1;
    snprintf(s->uid, sizeof(s->uid), "%s", v->uid);
    return 0;
}

/* ---- components ------------------------------------------------------------------------- */

static cJSON *find_component(const cJSON *components, const char *kind)
{
    cJSON *c;
    cJSON_ArrayForEach(c, components)
    {
        const char *k = jstr(c, "kind");
        if (k && strcmp(k, kind) == 0)
            return c;
    }
    return NULL;
}

/* An entry the Quay Operator appends by itself (EnsureDefaultComponents):
 * {kind, managed} and nothing else — managed: false for the kinds whose API
 * the cluster lacks (route, tls, objectstorage, monitoring). */
static int default_like(const cJSON *c)
{
    const cJSON *m;
    cJSON_ArrayForEach(m, c)
    {
        if (strcmp(m->string, "kind") != 0 && strcmp(m->string, "managed") != 0)
            return 0;
    }
    return cJSON_IsBool(jget(c, "managed"));
}

/* `have` runs `want`, allowing only defaults the operator appended. */
static int components_match(const cJSON *have, const cJSON *want)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, want)
    {
        const cJSON *h = find_component(have, jstr(c, "kind") ? jstr(c, "kind") : "");
        if (!h || !k8s_json_equal(h, c))
            return 0;
    }
    cJSON_ArrayForEach(c, have)
    {
        if (!find_component(want, jstr(c, "kind") ? jstr(c, "kind") : "") && !default_like(c))
            return 0;
    }
    return 1;
}

static int qr_matches(const struct quay_target_ref *t, const struct quay_target_view *v,
                      const struct quay_state_config *c)
{
    (void)t;
    return strcmp(v->ref_name, c->name) == 0 && strcmp(v->ref_sha, c->sha) == 0 &&
                   components_match(v->components, c->components)
               ? 2
               : 0;
}

static void refuse(struct quay_confirm *r, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void refuse(struct quay_confirm *r, const char *reason, const char *fmt, ...)
{
    va_list ap;
    r->status = QUAY_CONFIRM_BLOCKED;
    snprintf(r->reason, sizeof(r->reason), "%s", reason);
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof(r->message), fmt, ap);
    va_end(ap);
}

/*
 * The original components with a ScaleDown on top: the HPA component
 * unmanaged (so it stops scaling back up) and `replicas: 0` overrides on the
 * requested components that are managed. Unmanaged ones are left alone: the
 * Quay Operator refuses overrides on them (and does not run them).
 */
static int scale_down_components(const cJSON *orig, unsigned mask, cJSON **out,
                                 struct quay_confirm *refusal, struct k8s_error *err)
{
    cJSON *res = orig ? cJSON_Duplicate(orig, 1) : cJSON_CreateArray(), *e;
    *out = NULL;
    if (!res)
        goto oom;
    if ((e = find_component(res, HPA_KIND))) {
        cJSON_DeleteItemFromObjectCaseSensitive(e, "overrides");
        cJSON_DeleteItemFromObjectCaseSensitive(e, "managed");
        if (!cJSON_AddBoolToObject(e, "managed", 0))
            goto oom;
    } else {
        if (!(e = cJSON_CreateObject()) || !cJSON_AddItemToArray(res, e))
            goto oom_e;
        if (!cJSON_AddStringToObject(e, "kind", HPA_KIND) ||
            !cJSON_AddBoolToObject(e, "managed", 0))
            goto oom;
    }
    for (size_t i = 0; i < sizeof(scaled_components) / sizeof(scaled_components[0]); i++) {
        if (!(mask & scaled_components[i].bit))
            continue;
        if ((e = find_component(res, scaled_components[i].kind))) {
            if (cJSON_IsFalse(jget(e, "managed")))
                continue;
        } else {
            if (!(e = cJSON_CreateObject()) || !cJSON_AddItemToArray(res, e))
                goto oom_e;
            if (!cJSON_AddStringToObject(e, "kind", scaled_components[i].kind) ||
                !cJSON_AddBoolToObject(e, "managed", 1))
                goto oom;
        }
        cJSON *ov = cJSON_GetObjectItemCaseSensitive(e, "overrides");
        if (!cJSON_IsObject(ov)) {
            cJSON_DeleteItemFromObjectCaseSensitive(e, "overrides");
            if (!(ov = cJSON_AddObjectToObject(e, "overrides")))
                goto oom;
        }
        cJSON_DeleteItemFromObjectCaseSensitive(ov, "replicas");
        if (!cJSON_AddNumberToObject(ov, "replicas", 0))
            goto oom;
    }
    /* The Quay Operator's ValidateOverrides, so we refuse what it would
     * block instead of blocking the registry's rollout. */
    int hpa_managed = quay_component_managed(res, HPA_KIND);
    cJSON_ArrayForEach(e, res)
    {
        const cJSON *ov = jget(e, "overrides");
        const char *kind = jstr(e, "kind") ? jstr(e, "kind") : "";
        if (ov && cJSON_IsFalse(jget(e, "managed"))) {
            refuse(refusal, "ComponentOverrideInvalid",
                   "spec.components: the %s component is unmanaged but has overrides, which the "
                   "Quay Operator refuses; fix spec.components first",
                   kind);
            break;
        }
        const cJSON *rep = jget(ov, "replicas");
        if (hpa_managed && cJSON_IsNumber(rep) && rep->valuedouble > 0) {
            refuse(refusal, "ComponentOverrideInvalid",
                   "spec.components: the %s component has a non-zero replicas override while "
                   "the %s component is managed, which the Quay Operator refuses",
                   kind, HPA_KIND);
            break;
        }
    }
    *out = res;
    return 0;
oom_e:
    cJSON_Delete(e);
oom:
    cJSON_Delete(res);
    return k8s_error_set(err, K8S_ENOMEM, "out of memory");
}

/* Whether the Quay Operator manages object storage: the component says so,
 * or (no entry) the user's bundle carries no storage of its own. */
static int objectstorage_managed(const cJSON *components, const struct quay_bundle *original)
{
    const cJSON *e = find_component(components, "objectstorage");
    if (e)
        return !cJSON_IsFalse(jget(e, "managed"));
    struct quay_yaml_node *n = NULL;
    struct k8s_error ignored;
    int rc = quay_bundle_config_get(original, QUAY_KEY_STORAGE_CONFIG, &n, &ignored);
    quay_yaml_node_free(n);
    return rc == K8S_ENOTFOUND;
}

/*
 * Equality as Quay sees a value after loading it: scalars by resolved type
 * and text (quay_yaml_node_same_value), sequences in order, mappings as
 * maps — key order ignored, the last of duplicate keys winning — because
 * the Quay Operator re-marshals config.yaml with Go, which sorts keys.
 */
static int loaded_equal(const struct quay_yaml_node *a, const struct quay_yaml_node *b)
{
    if (!a || !b)
        return a == b;
    if (a->kind != b->kind)
        return 0;
    if (a->kind == QUAY_YAML_SCALAR)
        return quay_yaml_node_same_value(a, b);
    if (a->kind == QUAY_YAML_SEQ) {
        if (a->nitems != b->nitems)
            return 0;
        for (size_t i = 0; i < a->nitems; i++)
            if (!loaded_equal(a->items[i], b->items[i]))
                return 0;
        return 1;
    }
    /* Mappings: every distinct key of one is in the other with an equal
     * value, in both directions. Keys that are not strings compare by
     * position (Quay's config has none). */
    for (int pass = 0; pass < 2; pass++) {
        const struct quay_yaml_node *x = pass ? b : a, *y = pass ? a : b;
        for (size_t i = 0; i + 1 < x->nitems; i += 2) {
            const struct quay_yaml_node *k = x->items[i];
            if (k->kind != QUAY_YAML_SCALAR || quay_yaml_scalar_type(k) != QUAY_YAML_T_STR ||
                memchr(k->value, '\0', k->len)) {
                if (a->nitems != b->nitems || !loaded_equal(a->items[i], b->items[i]) ||
                    !loaded_equal(a->items[i + 1], b->items[i + 1]))
                    return 0;
                continue;
            }
            const struct quay_yaml_node *vx = quay_yaml_map_get(x, k->value);
            const struct quay_yaml_node *vy = quay_yaml_map_get(y, k->value);
            if (!vy || !loaded_equal(vx, vy))
                return 0;
        }
    }
    return 1;
}

/* 0 same, 1 different, <0 error. */
static int config_key_differs(const struct quay_bundle *a, const struct quay_bundle *b,
                              const char *key)
{
    struct quay_yaml_node *x = NULL, *y = NULL;
    struct k8s_error ignored;
    int ra = quay_bundle_config_get(a, key, &x, &ignored);
    int rb = quay_bundle_config_get(b, key, &y, &ignored);
    int res;
    if ((ra && ra != K8S_ENOTFOUND) || (rb && rb != K8S_ENOTFOUND))
        res = ra ? ra : rb;
    else if (ra || rb)
        res = ra != rb;
    else
        res = !loaded_equal(x, y);
    quay_yaml_node_free(x);
    quay_yaml_node_free(y);
    return res;
}

static int qr_desire(const struct quay_target_ref *t, const struct quay_state *s,
                     const struct quay_target_view *v, const struct quay_render *r,
                     const struct quay_bundle *base, const struct quay_bundle *original,
                     struct quay_state_config *d, struct quay_confirm *refusal,
                     struct k8s_error *err)
{
    int rc;
    (void)v;
    d->present = 1;
    quay__bundle_sha(r->bundle, d->sha);
    if (strcmp(d->sha, s->original.sha) == 0) {
        /* Nothing of ours in the data: point back at the user's own Secret. */
        snprintf(d->name, sizeof(d->name), "%s", s->original.name);
    } else if ((rc =
                    quay_bundle_rendered_name(r->bundle, t->name, d->name, sizeof(d->name), err))) {
        return rc;
    }
    if (r->scale_down_components) {
        if ((rc = scale_down_components(s->original.components, r->scale_down_components,
                                        &d->components, refusal, err)))
            return rc;
    } else if (s->original.components &&
               !(d->components = cJSON_Duplicate(s->original.components, 1))) {
        return k8s_error_set(err, K8S_ENOMEM, "out of memory");
    }
    if (refusal->status == QUAY_CONFIRM_BLOCKED || base == original)
        return 0;
    return quay_target_storage_change_refused(t, d->components, base, original, refusal, err);
}

int quay_target_storage_change_refused(const struct quay_target_ref *t, const cJSON *components,
                                       const struct quay_bundle *base,
                                       const struct quay_bundle *original,
                                       struct quay_confirm *refusal, struct k8s_error *err)
{
    if (t->kind != QUAY_TARGET_QUAYREGISTRY || !objectstorage_managed(components, original))
        return 0;
    for (size_t i = 0; i < sizeof(storage_keys) / sizeof(storage_keys[0]); i++) {
        int diff = config_key_differs(base, original, storage_keys[i]);
        if (diff < 0)
            return k8s_error_set(err, diff, "cannot compare %s of the base and the original",
                                 storage_keys[i]);
        if (diff) {
            refuse(refusal, "ManagedObjectStorage",
                   "the objectstorage component of QuayRegistry %s is managed by the Quay "
                   "Operator, so a storage change (%s) cannot be applied through the config "
                   "bundle; make objectstorage unmanaged with its storage written in the bundle "
                   "first (the effective storage config can be read as a migration source)",
                   t->name, storage_keys[i]);
            return 0;
        }
    }
    return 0;
}

/* ---- apply ------------------------------------------------------------------------------ */

static int qr_prepare(struct k8s_client *c, const struct quay_target_ref *t,
                      const struct quay_target_view *v, const struct quay_state_config *d,
                      const struct quay_bundle *rendered, struct k8s_error *err)
{
    char rname[QUAY_NAME_MAX + 1];
    struct quay_owner owner;
    int rc;
    if (strcmp(v->ref_name, d->name) == 0)
        return 0;
    if ((rc = quay_bundle_rendered_name(rendered, t->name, rname, sizeof(rname), err)))
        return rc;
    if (strcmp(rname, d->name) != 0)
        return 0; /* the user's original: it exists, the composer checked its data */
    qr_owner(t, v, &owner);
    return quay__secret_ensure(c, t->ns, d->name, QUAY_ROLE_RENDERED, &owner, rendered, 1, err);
}

static int qr_apply(struct k8s_client *c, const struct quay_target_ref *t,
                    const struct quay_target_view *v, const struct quay_state_config *d,
                    const struct quay_bundle *rendered, long long *generation,
                    struct k8s_error *err)
{
    int rc, changes = 0;
    cJSON *patch = cJSON_CreateArray(), *val = NULL, *res = NULL;
    (void)rendered;
    *generation = v->generation;
    if (!patch)
        goto oom;
    /* Preconditions on what was read: the apiserver applies all or nothing.
     * An unset configBundleSecret cannot be tested as a member: the
     * object's version stands in for it. */
    if (!(val = cJSON_CreateString(v->ref_name[0] ? v->ref_name : v->rv)) ||
        k8s_json_patch_add_op(
            patch, "test",
            v->ref_name[0] ? "/spec/configBundleSecret" : "/metadata/resourceVersion", val))
        goto oom;
    cJSON_Delete(val);
    val = NULL;
    if (v->components) {
        if (k8s_json_patch_add_op(patch, "test", "/spec/components", v->components))
            goto oom;
    } else {
        /* "test" of an absent member is not portable (RFC 6902 fails it,
         * kube-apiserver accepts null): test the whole object's version. */
        if (!(val = cJSON_CreateString(v->rv)) ||
            k8s_json_patch_add_op(patch, "test", "/metadata/resourceVersion", val))
            goto oom;
        cJSON_Delete(val);
        val = NULL;
    }
    if (!cJSON_IsObject(jget(v->object, "spec"))) {
        /* No spec at all (a bare manifest): "add" needs the parent. */
        if (!(val = cJSON_CreateObject()) || k8s_json_patch_add_op(patch, "add", "/spec", val))
            goto oom;
        cJSON_Delete(val);
        val = NULL;
    }
    if (strcmp(v->ref_name, d->name) != 0) {
        /* "add" sets a member whether or not it is there. */
        if (!(val = cJSON_CreateString(d->name)) ||
            k8s_json_patch_add_op(patch, "add", "/spec/configBundleSecret", val))
            goto oom;
        cJSON_Delete(val);
        val = NULL;
        changes++;
    }
    if (!v->components != !d->components || !k8s_json_equal(v->components, d->components)) {
        if (d->components ? k8s_json_patch_add_op(patch, "add", "/spec/components", d->components)
                          : k8s_json_patch_add_op(patch, "remove", "/spec/components", NULL))
            goto oom;
        changes++;
    }
    if (!changes) {
        cJSON_Delete(patch);
        return 0;
    }
    /* The tests are on what was read at v->rv: a 422 is a failed test only
     * if the QuayRegistry changed since (k8s_patch_tested tells which). */
    rc = k8s_patch_tested(c, &QUAYREGISTRIES, t->ns, t->name, v->rv, patch, NULL, &res, err);
    if (rc == K8S_EINVALID) {
        k8s_error_prefix(err, "the API server refused the change of QuayRegistry %s/%s", t->ns,
                         t->name);
    } else if (!rc) {
        const cJSON *g = jget(jget(res, "metadata"), "generation");
        if (cJSON_IsNumber(g))
            *generation = (long long)g->valuedouble;
        k8s_log(K8S_LOG_INFO, t->ns, t->name, "pointed QuayRegistry at a config bundle",
                (const char *[]){"configBundleSecret", d->name, "dataSHA256", d->sha, NULL});
    }
    cJSON_Delete(res);
    cJSON_Delete(patch);
    return rc;
oom:
    cJSON_Delete(val);
    cJSON_Delete(patch);
    return k8s_error_set(err, K8S_ENOMEM, "out of memory");
}

/* ---- confirm ------------------------------------------------------------------------------ */

/* The Quay Operator's config Secret in the pod template, or 0 if none. */
static int find_config_secret(const cJSON *dep, const char *registry, char *out, size_t cap)
{
    char prefix[QUAY_NAME_MAX + 32];
    snprintf(prefix, sizeof(prefix), "%s-quay-config-secret", registry);
    size_t pl = strlen(prefix);
    const cJSON *vols = jget(jget(jget(jget(dep, "spec"), "template"), "spec"), "volumes"), *vol;
    cJSON_ArrayForEach(vol, vols)
    {
        const char *n = jstr(jget(vol, "secret"), "secretName");
        if (n && strncmp(n, prefix, pl) == 0) {
            snprintf(out, cap, "%s", n);
            return 1;
        }
        const cJSON *src;
        cJSON_ArrayForEach(src, jget(jget(vol, "projected"), "sources"))
        {
            n = jstr(jget(src, "secret"), "name");
            if (n && strncmp(n, prefix, pl) == 0) {
                snprintf(out, cap, "%s", n);
                return 1;
            }
        }
    }
    return 0;
}

static int skipped_file(const struct quay_bundle *b, const char *key)
{
    return strcmp(key, b->config_key) == 0 || quay_bundle_is_partial(b, key) ||
           quay_bundle_key_is_ca(key) || strcmp(key, "ssl.cert") == 0 ||
           strcmp(key, "ssl.key") == 0 || strncmp(key, "clair-ssl.", 10) == 0;
}

/* Whether the operator's rendered config came from `ours`; `why` says what
 * differs (key names only, never values). */
static int rendered_from(const struct quay_bundle *theirs, const struct quay_bundle *ours,
                         int storage_managed, char *why, size_t cap)
{
    for (size_t i = 0; i < sizeof(overlay_keys) / sizeof(overlay_keys[0]); i++) {
        if (config_key_differs(theirs, ours, overlay_keys[i]) != 0) {
            snprintf(why, cap, "%s differs", overlay_keys[i]);
            return 0;
        }
    }
    /* A managed objectstorage's keys are the operator's own. */
    for (size_t i = 0; !storage_managed && i < sizeof(storage_keys) / sizeof(storage_keys[0]);
         i++) {
        if (config_key_differs(theirs, ours, storage_keys[i]) != 0) {
            snprintf(why, cap, "%s differs", storage_keys[i]);
            return 0;
        }
    }
    for (size_t i = 0; i < ours->n; i++) {
        const struct quay_bundle_entry *e = &ours->entries[i];
        size_t len;
        if (skipped_file(ours, e->key))
            continue;
        const unsigned char *have = quay_bundle_get(theirs, e->key, &len);
        if (!have || len != e->len || memcmp(have, e->data, len) != 0) {
            snprintf(why, cap, "file %s differs", e->key);
            return 0;
        }
    }
    return 1;
}

static int get_deployment(struct k8s_client *c, const char *ns, const char *registry,
                          const char *suffix, cJSON **out, struct k8s_error *err)
{
    char name[QUAY_NAME_MAX + 32];
    snprintf(name, sizeof(name), "%s-%s", registry, suffix);
    return k8s_get(c, &DEPLOYMENTS, ns, name, NULL, out, err);
}

/*
 * A refusal the Quay Operator wrote before our change reached it (it leaves
 * RolloutBlocked in place and status.observedGeneration behind until it
 * reconciles the new generation). It refreshes lastUpdateTime on every
 * reconcile, so a condition older than our change (with 2 s for clock skew)
 * is about an earlier one. Unknown times count as current.
 */
static int stale_condition(const cJSON *cond, long long applied_at)
{
    const char *ts = jstr(cond, "lastUpdateTime");
    struct tm tm;
    char *end;
    if (!ts)
        ts = jstr(cond, "lastTransitionTime");
    if (!ts || applied_at <= 0)
        return 0;
    memset(&tm, 0, sizeof(tm));
    end = strptime(ts, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!end)
        return 0;
    return (long long)timegm(&tm) + 2 < applied_at;
}

static int qr_confirm(struct k8s_client *c, const struct quay_target_ref *t,
                      const struct quay_state_config *d, const struct quay_bundle *rendered,
                      const struct quay_target_view *v, struct quay_confirm *out,
                      struct k8s_error *err)
{
    int rc = 0;
    cJSON *dep = NULL;
    struct quay_bundle *theirs = NULL;
    char cfg[QUAY_NAME_MAX + 1], why[128];
    const cJSON *st = jget(v->object, "status"), *cond;
    memset(out, 0, sizeof(*out));
    out->status = QUAY_CONFIRM_WAITING;
    snprintf(out->reason, sizeof(out->reason), "RolloutInProgress");

    cJSON_ArrayForEach(cond, jget(st, "conditions"))
    {
        const char *type = jstr(cond, "type"), *status = jstr(cond, "status");
        if (type && status && strcmp(type, "RolloutBlocked") == 0 && strcmp(status, "True") == 0) {
            if (stale_condition(cond, d->applied_at)) {
                snprintf(
                    out->message, sizeof(out->message),
                    "waiting for the Quay Operator to reconcile the change: its RolloutBlocked "
                    "(%s) predates it",
                    jstr(cond, "reason") ? jstr(cond, "reason") : "no reason");
                return 0;
            }
            out->status = QUAY_CONFIRM_BLOCKED;
            snprintf(out->reason, sizeof(out->reason), "%s",
                     jstr(cond, "reason") ? jstr(cond, "reason") : "RolloutBlocked");
            snprintf(out->message, sizeof(out->message), "the Quay Operator blocks the rollout: %s",
                     jstr(cond, "message") ? jstr(cond, "message") : "(no message)");
            return 0;
        }
    }
    const cJSON *og = jget(st, "observedGeneration");
    if (!cJSON_IsNumber(og) || (long long)og->valuedouble != v->generation) {
        char seen[32] = "none";
        if (cJSON_IsNumber(og))
            snprintf(seen, sizeof(seen), "%lld", (long long)og->valuedouble);
        snprintf(out->message, sizeof(out->message),
                 "waiting for the Quay Operator to observe generation %lld of QuayRegistry %s "
                 "(status.observedGeneration: %s)",
                 v->generation, t->name, seen);
        return 0;
    }
    rc = get_deployment(c, t->ns, t->name, "quay-app", &dep, err);
    if (rc == K8S_ENOTFOUND) {
        snprintf(out->message, sizeof(out->message),
                 "waiting for the Quay Operator to create Deployment %s-quay-app", t->name);
        return 0;
    }
    if (rc)
        return rc;
    if (!find_config_secret(dep, t->name, cfg, sizeof(cfg))) {
        snprintf(out->message, sizeof(out->message),
                 "Deployment %s-quay-app mounts no %s-quay-config-secret Secret yet", t->name,
                 t->name);
        goto out;
    }
    rc = quay__secret_read(c, t->ns, cfg, QUAY_BUNDLE_OPERATOR, NULL, &theirs, NULL, err);
    if (rc == K8S_ENOTFOUND) {
        rc = 0;
        snprintf(out->message, sizeof(out->message), "waiting for Secret %s", cfg);
        goto out;
    }
    if (rc)
        goto out;
    /* The render carries the original's storage unless a migration changed
     * it, which is refused while objectstorage is managed. */
    int storage_managed = objectstorage_managed(d->components, rendered);
    if (!rendered_from(theirs, rendered, storage_managed, why, sizeof(why))) {
        snprintf(out->message, sizeof(out->message),
                 "waiting for the Quay Operator to render the applied bundle: Deployment "
                 "%s-quay-app still mounts %s (%s)",
                 t->name, cfg, why);
        goto out;
    }
    quay__deployment_rollout(dep, out);
    if (out->status != QUAY_CONFIRM_DONE)
        goto out;
    /* ScaleDown: every scaled component's Deployment is at 0. */
    for (size_t i = 0; i < sizeof(scaled_components) / sizeof(scaled_components[0]); i++) {
        const cJSON *e = find_component(d->components, scaled_components[i].kind);
        const cJSON *rep = jget(jget(e, "overrides"), "replicas");
        if (!cJSON_IsNumber(rep) || rep->valuedouble != 0 || cJSON_IsFalse(jget(e, "managed")))
            continue;
        cJSON *sd = NULL;
        rc = get_deployment(c, t->ns, t->name, scaled_components[i].suffix, &sd, err);
        if (rc == K8S_ENOTFOUND) {
            rc = 0;
            continue;
        }
        if (rc)
            goto out;
        const cJSON *sr = jget(jget(sd, "spec"), "replicas");
        const cJSON *str = jget(jget(sd, "status"), "replicas");
        if (!cJSON_IsNumber(sr) || sr->valuedouble != 0 ||
            (cJSON_IsNumber(str) && str->valuedouble != 0)) {
            out->status = QUAY_CONFIRM_WAITING;
            snprintf(out->reason, sizeof(out->reason), "ScalingDown");
            snprintf(out->message, sizeof(out->message),
                     "waiting for Deployment %s-%s to scale down to 0", t->name,
                     scaled_components[i].suffix);
            cJSON_Delete(sd);
            goto out;
        }
        cJSON_Delete(sd);
    }
out:
    quay_bundle_free(theirs);
    cJSON_Delete(dep);
    return rc;
}

int quay_target_effective_bundle(struct k8s_client *c, const struct quay_target_ref *t,
                                 struct quay_bundle **out, struct k8s_error *err)
{
    cJSON *dep = NULL;
    char cfg[QUAY_NAME_MAX + 1];
    *out = NULL;
    if (t->kind != QUAY_TARGET_QUAYREGISTRY)
        return k8s_error_set(err, K8S_EARG, "only a QuayRegistry has an operator-rendered config");
    int rc = get_deployment(c, t->ns, t->name, "quay-app", &dep, err);
    if (rc)
        return rc;
    if (!find_config_secret(dep, t->name, cfg, sizeof(cfg)))
        rc = k8s_error_set(err, K8S_ENOTFOUND,
                           "Deployment %s-quay-app mounts no %s-quay-config-secret Secret", t->name,
                           t->name);
    else
        rc = quay__secret_read(c, t->ns, cfg, QUAY_BUNDLE_OPERATOR, NULL, out, NULL, err);
    cJSON_Delete(dep);
    return rc;
}

const struct quay_target_ops quay_target_quayregistry_ops = {
    .kind = QUAY_TARGET_QUAYREGISTRY,
    .observe = qr_observe,
    .adopt = qr_adopt,
    .owner = qr_owner,
    .matches = qr_matches,
    .desire = qr_desire,
    .prepare = qr_prepare,
    .apply = qr_apply,
    .confirm = qr_confirm,
};
