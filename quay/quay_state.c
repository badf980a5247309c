/*
 * quay_state: the composer's per-target state record (see quay_state.h).
 *
 * The record is a small JSON document kept base64-encoded in one Secret
 * key; reading and writing reuse quay_bundle's Secret-data codec. Updates
 * are JSON patches that first test metadata.resourceVersion: a PUT would
 * need the whole object (labels, owner references) read back, and a test
 * operation is honoured the same way by every API server.
 */
#include "quay_state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "k8s_patch.h"
#include "quay_bundle.h"
#include "quay_target.h"

static const struct k8s_resource SECRETS = {"", "v1", "secrets", 1};

const char *quay_target_kind_name(enum quay_target_kind k)
{
    switch (k) {
    case QUAY_TARGET_QUAYREGISTRY:
        return "QuayRegistry";
    case QUAY_TARGET_STANDALONE:
        return "StandaloneQuay";
    }
    return "";
}

enum quay_target_kind quay_target_kind_parse(const char *s)
{
    if (s && strcmp(s, "QuayRegistry") == 0)
        return QUAY_TARGET_QUAYREGISTRY;
    if (s && strcmp(s, "StandaloneQuay") == 0)
        return QUAY_TARGET_STANDALONE;
    return (enum quay_target_kind)0;
}

/* ---- configurations ---------------------------------------------------------------- */

void quay_state_config_clear(struct quay_state_config *c)
{
    cJSON_Delete(c->components);
    cJSON_Delete(c->replicas);
    memset(c, 0, sizeof(*c));
}

int quay_state_config_copy(struct quay_state_config *dst, const struct quay_state_config *src)
{
    *dst = *src;
    dst->components = NULL;
    dst->replicas = NULL;
    if (src->components && !(dst->components = cJSON_Duplicate(src->components, 1)))
        goto oom;
    if (src->replicas && !(dst->replicas = cJSON_Duplicate(src->replicas, 1)))
        goto oom;
    return 0;
oom:
    quay_state_config_clear(dst);
    return K8S_ENOMEM;
}

int quay_state_config_same(const struct quay_state_config *a, const struct quay_state_config *b)
{
    if (a->present != b->present || strcmp(a->name, b->name) != 0 || strcmp(a->sha, b->sha) != 0 ||
        a->restart != b->restart)
        return 0;
    if (!a->components != !b->components || !k8s_json_equal(a->components, b->components))
        return 0;
    if (!a->replicas != !b->replicas || !k8s_json_equal(a->replicas, b->replicas))
        return 0;
    return 1;
}

/* ---- names --------------------------------------------------------------------------- */

int quay_state_name(enum quay_target_kind kind, const char *target, char *out, size_t cap,
                    struct k8s_error *err)
{
    const char *k = kind == QUAY_TARGET_QUAYREGISTRY ? "quayregistry"
                    : kind == QUAY_TARGET_STANDALONE ? "standalonequay"
                                                     : NULL;
    if (!k)
        return k8s_error_set(err, K8S_EARG, "unknown target kind");
    if (!quay_object_name_ok(target, QUAY_NAME_MAX))
        return k8s_error_set(err, K8S_EARG, "\"%s\" is not a valid object name",
                             target ? target : "");
    char prefix[40];
    snprintf(prefix, sizeof(prefix), "qso-state-%s-", k);
    size_t pl = strlen(prefix), tl = strlen(target);
    int w;
    if (pl + tl <= QUAY_NAME_MAX) {
        w = snprintf(out, cap, "%s%s", prefix, target);
    } else {
        /* Too long for a Secret name: keep a readable prefix and make it
         * unique with a digest of the whole name. */
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned mdlen = 0;
        char hex[11];
        if (!EVP_Digest(target, tl, md, &mdlen, EVP_sha256(), NULL))
            return k8s_error_set(err, K8S_ENOMEM, "sha256 failed");
        for (int i = 0; i < 5; i++)
            snprintf(hex + 2 * i, 3, "%02x", md[i]);
        int keep = (int)(QUAY_NAME_MAX - pl - 11);
        w = snprintf(out, cap, "%s%.*s-%s", prefix, keep, target, hex);
    }
    if (w < 0 || (size_t)w >= cap)
        return k8s_error_set(err, K8S_EARG, "the output buffer is too small");
    return 0;
}

/* ---- the record ------------------------------------------------------------------------ */

struct quay_state *quay_state_new(enum quay_target_kind kind, const char *ns, const char *name,
                                  const char *uid)
{
    struct quay_state *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->version = QUAY_STATE_VERSION;
    s->kind = kind;
    snprintf(s->ns, sizeof(s->ns), "%s", ns ? ns : "");
    snprintf(s->name, sizeof(s->name), "%s", name ? name : "");
    snprintf(s->uid, sizeof(s->uid), "%s", uid ? uid : "");
    return s;
}

void quay_state_free(struct quay_state *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->noverlays; i++)
        quay_overlay_free(s->overlays[i]);
    free(s->overlays);
    quay_state_config_clear(&s->original);
    quay_state_config_clear(&s->applied);
    quay_state_config_clear(&s->pending);
    cJSON_Delete(s->scaled_from);
    free(s);
}

const struct quay_overlay *quay_state_find_overlay(const struct quay_state *s, const char *window)
{
    for (size_t i = 0; i < s->noverlays; i++)
        if (strcmp(s->overlays[i]->window, window) == 0)
            return s->overlays[i];
    return NULL;
}

int quay_state_put_overlay(struct quay_state *s, const struct quay_overlay *o,
                           struct k8s_error *err)
{
    struct quay_overlay *c = quay_overlay_clone(o);
    if (!c)
        return k8s_error_set(err, K8S_ENOMEM, "out of memory");
    for (size_t i = 0; i < s->noverlays; i++) {
        if (strcmp(s->overlays[i]->window, o->window) == 0) {
            quay_overlay_free(s->overlays[i]);
            s->overlays[i] = c;
            return 0;
        }
    }
    if (s->noverlays >= QUAY_STATE_MAX_OVERLAYS) {
        quay_overlay_free(c);
        return k8s_error_set(err, K8S_ENOMEM, "a target can have at most %d active windows",
                             QUAY_STATE_MAX_OVERLAYS);
    }
    struct quay_overlay **v = realloc(s->overlays, (s->noverlays + 1) * sizeof(*v));
    if (!v) {
        quay_overlay_free(c);
        return k8s_error_set(err, K8S_ENOMEM, "out of memory");
    }
    s->overlays = v;
    s->overlays[s->noverlays++] = c;
    return 0;
}

int quay_state_remove_overlay(struct quay_state *s, const char *window)
{
    for (size_t i = 0; i < s->noverlays; i++) {
        if (strcmp(s->overlays[i]->window, window) != 0)
            continue;
        quay_overlay_free(s->overlays[i]);
        memmove(&s->overlays[i], &s->overlays[i + 1],
                (s->noverlays - i - 1) * sizeof(*s->overlays));
        s->noverlays--;
        return 1;
    }
    return 0;
}

/* ---- JSON ------------------------------------------------------------------------------ */

static int add_str(cJSON *o, const char *k, const char *v)
{
    return cJSON_AddStringToObject(o, k, v) != NULL;
}

static int add_copy(cJSON *o, const char *k, const cJSON *v)
{
    cJSON *c = cJSON_Duplicate(v, 1);
    if (!c)
        return 0;
    if (!cJSON_AddItemToObject(o, k, c)) {
        cJSON_Delete(c);
        return 0;
    }
    return 1;
}

/* `full` adds what only applied/pending have. */
static cJSON *config_to_json(const struct quay_state_config *c, int full)
{
    cJSON *o = cJSON_CreateObject();
    if (!o || !add_str(o, "name", c->name) || !add_str(o, "dataSHA256", c->sha))
        goto oom;
    if (c->components && !add_copy(o, "components", c->components))
        goto oom;
    if (full) {
        if (c->replicas && !add_copy(o, "replicas", c->replicas))
            goto oom;
        if (!cJSON_AddBoolToObject(o, "restart", c->restart) ||
            !cJSON_AddNumberToObject(o, "targetGeneration", (double)c->target_generation) ||
            !cJSON_AddBoolToObject(o, "confirmed", c->confirmed) ||
            (c->applied_at && !cJSON_AddNumberToObject(o, "appliedAt", (double)c->applied_at)))
            goto oom;
    }
    return o;
oom:
    cJSON_Delete(o);
    return NULL;
}

int quay_state_to_json(const struct quay_state *s, cJSON **out, struct k8s_error *err)
{
    cJSON *j = cJSON_CreateObject(), *t, *b, *arr, *x;
    *out = NULL;
    if (!j || !cJSON_AddNumberToObject(j, "version", s->version))
        goto oom;
    if (!(t = cJSON_AddObjectToObject(j, "target")) ||
        !add_str(t, "kind", quay_target_kind_name(s->kind)) || !add_str(t, "namespace", s->ns) ||
        !add_str(t, "name", s->name) || !add_str(t, "uid", s->uid))
        goto oom;
    if (s->ndeployments) {
        cJSON *deps = cJSON_AddArrayToObject(t, "deployments");
        if (!deps)
            goto oom;
        for (size_t i = 0; i < s->ndeployments; i++) {
            cJSON *d = cJSON_CreateString(s->deployments[i]);
            if (!d || !cJSON_AddItemToArray(deps, d)) {
                cJSON_Delete(d);
                goto oom;
            }
        }
    }
    /* cJSON_AddItemToObject fails (copying the key) when memory runs out:
     * a record written without one of its parts would read back wrong. */
    if (!(x = config_to_json(&s->original, 0)))
        goto oom;
    if (!cJSON_AddItemToObject(j, "original", x))
        goto oom_x;
    if ((s->backup[0] && !add_str(x, "backup", s->backup)) ||
        (s->config_key[0] && !add_str(x, "configKey", s->config_key)))
        goto oom;
    if (!(b = cJSON_AddObjectToObject(j, "base")) || !add_str(b, "name", s->base.name) ||
        !add_str(b, "dataSHA256", s->base.sha) ||
        !cJSON_AddBoolToObject(b, "original", s->base.is_original))
        goto oom;
    if (!(arr = cJSON_AddArrayToObject(j, "overlays")))
        goto oom;
    for (size_t i = 0; i < s->noverlays; i++) {
        cJSON *o = NULL;
        int rc = quay_overlay_to_json(s->overlays[i], &o, err);
        if (rc) {
            cJSON_Delete(j);
            return rc;
        }
        if (!cJSON_AddItemToArray(arr, o)) {
            x = o;
            goto oom_x;
        }
    }
    if (s->applied.present) {
        if (!(x = config_to_json(&s->applied, 1)))
            goto oom;
        if (!cJSON_AddItemToObject(j, "applied", x))
            goto oom_x;
    }
    if (s->pending.present) {
        if (!(x = config_to_json(&s->pending, 1)))
            goto oom;
        if (!cJSON_AddItemToObject(j, "pending", x))
            goto oom_x;
    }
    if (s->scaled_from && !add_copy(j, "scaledFrom", s->scaled_from))
        goto oom;
    if (s->restored.present) {
        if (!(x = cJSON_AddObjectToObject(j, "restored")) ||
            !add_str(x, "time", s->restored.time) || !add_str(x, "by", s->restored.by) ||
            !add_str(x, "previous", s->restored.previous))
            goto oom;
    }
    *out = j;
    return 0;
oom_x:
    cJSON_Delete(x);
oom:
    cJSON_Delete(j);
    return k8s_error_set(err, K8S_ENOMEM, "out of memory");
}

/* Copies a string member (required or optional) into a fixed buffer. */
static int get_str(const cJSON *o, const char *k, char *buf, size_t cap, int required,
                   const char *where, struct k8s_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!v && !required) {
        buf[0] = '\0';
        return 0;
    }
    if (!cJSON_IsString(v) || strlen(v->valuestring) >= cap)
        return k8s_error_set(err, K8S_EDECODE, "state record: %s.%s is missing or invalid", where,
                             k);
    snprintf(buf, cap, "%s", v->valuestring);
    return 0;
}

static int get_bool(const cJSON *o, const char *k)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, k));
}

static int config_from_json(const cJSON *o, struct quay_state_config *c, const char *where,
                            struct k8s_error *err)
{
    int rc;
    if (!cJSON_IsObject(o))
        return k8s_error_set(err, K8S_EDECODE, "state record: %s is not an object", where);
    c->present = 1;
    if ((rc = get_str(o, "name", c->name, sizeof(c->name), 1, where, err)) ||
        (rc = get_str(o, "dataSHA256", c->sha, sizeof(c->sha), 1, where, err)))
        return rc;
    const cJSON *comp = cJSON_GetObjectItemCaseSensitive(o, "components");
    if (comp && !cJSON_IsArray(comp))
        return k8s_error_set(err, K8S_EDECODE, "state record: %s.components is not a list", where);
    const cJSON *rep = cJSON_GetObjectItemCaseSensitive(o, "replicas");
    if (rep && !cJSON_IsObject(rep))
        return k8s_error_set(err, K8S_EDECODE, "state record: %s.replicas is not an object", where);
    if ((comp && !(c->components = cJSON_Duplicate(comp, 1))) ||
        (rep && !(c->replicas = cJSON_Duplicate(rep, 1))))
        return k8s_error_set(err, K8S_ENOMEM, "out of memory");
    c->restart = get_bool(o, "restart");
    c->confirmed = get_bool(o, "confirmed");
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(o, "targetGeneration");
    c->target_generation = cJSON_IsNumber(g) ? (long long)g->valuedouble : 0;
    const cJSON *at = cJSON_GetObjectItemCaseSensitive(o, "appliedAt");
    c->applied_at = cJSON_IsNumber(at) ? (long long)at->valuedouble : 0;
    return 0;
}

int quay_state_from_json(const cJSON *j, struct quay_state **out, struct k8s_error *err)
{
    int rc = 0;
    struct quay_state *s = NULL;
    *out = NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "version");
    if (!cJSON_IsNumber(v) || v->valuedouble < 1)
        return k8s_error_set(err, K8S_EDECODE, "state record: no valid version");
    if (v->valuedouble > QUAY_STATE_VERSION)
        return k8s_error_set(err, K8S_EDECODE,
                             "state record version %d was written by a newer operator (this one "
                             "reads up to %d)",
                             (int)v->valuedouble, QUAY_STATE_VERSION);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "target");
    char kind[32], ns[QUAY_NS_MAX + 1], name[QUAY_NAME_MAX + 1], uid[QUAY_UID_MAX + 1];
    if ((rc = get_str(t, "kind", kind, sizeof(kind), 1, "target", err)) ||
        (rc = get_str(t, "namespace", ns, sizeof(ns), 1, "target", err)) ||
        (rc = get_str(t, "name", name, sizeof(name), 1, "target", err)) ||
        (rc = get_str(t, "uid", uid, sizeof(uid), 0, "target", err)))
        return rc;
    if (!quay_target_kind_parse(kind))
        return k8s_error_set(err, K8S_EDECODE, "state record: unknown target kind");
    if (!(s = quay_state_new(quay_target_kind_parse(kind), ns, name, uid)))
        return k8s_error_set(err, K8S_ENOMEM, "out of memory");
    s->version = (int)v->valuedouble;
    const cJSON *deps = cJSON_GetObjectItemCaseSensitive(t, "deployments"), *dep;
    cJSON_ArrayForEach(dep, deps)
    {
        const char *dn = cJSON_GetStringValue(dep);
        if (!dn || strlen(dn) > QUAY_NAME_MAX || s->ndeployments >= QUAY_STATE_MAX_DEPLOYMENTS) {
            rc = k8s_error_set(err, K8S_EDECODE, "state record: target.deployments is invalid");
            goto out;
        }
        snprintf(s->deployments[s->ndeployments++], sizeof(s->deployments[0]), "%s", dn);
    }

    const cJSON *o = cJSON_GetObjectItemCaseSensitive(j, "original");
    if ((rc = config_from_json(o, &s->original, "original", err)) ||
        (rc = get_str(o, "backup", s->backup, sizeof(s->backup), 0, "original", err)) ||
        (rc = get_str(o, "configKey", s->config_key, sizeof(s->config_key), 0, "original", err)))
        goto out;
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(j, "base");
    if ((rc = get_str(b, "name", s->base.name, sizeof(s->base.name), 1, "base", err)) ||
        (rc = get_str(b, "dataSHA256", s->base.sha, sizeof(s->base.sha), 1, "base", err)))
        goto out;
    s->base.is_original = get_bool(b, "original");

    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(j, "overlays"), *it;
    if (arr && !cJSON_IsArray(arr)) {
        rc = k8s_error_set(err, K8S_EDECODE, "state record: overlays is not a list");
        goto out;
    }
    cJSON_ArrayForEach(it, arr)
    {
        struct quay_overlay *ov = NULL;
        if ((rc = quay_overlay_from_json(it, &ov, err)))
            goto out;
        rc = quay_state_put_overlay(s, ov, err);
        quay_overlay_free(ov);
        if (rc)
            goto out;
    }
    if ((o = cJSON_GetObjectItemCaseSensitive(j, "applied")) &&
        (rc = config_from_json(o, &s->applied, "applied", err)))
        goto out;
    if ((o = cJSON_GetObjectItemCaseSensitive(j, "pending")) &&
        (rc = config_from_json(o, &s->pending, "pending", err)))
        goto out;
    if ((o = cJSON_GetObjectItemCaseSensitive(j, "scaledFrom"))) {
        if (!cJSON_IsObject(o)) {
            rc = k8s_error_set(err, K8S_EDECODE, "state record: scaledFrom is not an object");
            goto out;
        }
        if (!(s->scaled_from = cJSON_Duplicate(o, 1))) {
            rc = k8s_error_set(err, K8S_ENOMEM, "out of memory");
            goto out;
        }
    }
    if ((o = cJSON_GetObjectItemCaseSensitive(j, "restored"))) {
        s->restored.present = 1;
        if ((rc = get_str(o, "time", s->restored.time, sizeof(s->restored.time), 0, "restored",
                          err)) ||
            (rc = get_str(o, "by", s->restored.by, sizeof(s->restored.by), 0, "restored", err)) ||
            (rc = get_str(o, "previous", s->restored.previous, sizeof(s->restored.previous), 0,
                          "restored", err)))
            goto out;
    }
    *out = s;
    s = NULL;
out:
    quay_state_free(s);
    return rc;
}

/* ---- Secrets --------------------------------------------------------------------------- */

cJSON *quay_secret_object_new(const char *ns, const char *name, const char *role,
                              const struct quay_owner *owner, const cJSON *data, const char *sha,
                              int immutable)
{
    cJSON *o = cJSON_CreateObject(), *md, *labels, *x;
    if (!o || !add_str(o, "apiVersion", "v1") || !add_str(o, "kind", "Secret") ||
        !(md = cJSON_AddObjectToObject(o, "metadata")) || !add_str(md, "name", name) ||
        !add_str(md, "namespace", ns) || !(labels = cJSON_AddObjectToObject(md, "labels")) ||
        !add_str(labels, QUAY_LABEL_MANAGED_BY, QUAY_MANAGED_BY) ||
        !add_str(labels, QUAY_LABEL_ROLE, role) || !add_str(o, "type", "Opaque"))
        goto oom;
    if (sha && (!(x = cJSON_AddObjectToObject(md, "annotations")) ||
                !add_str(x, QUAY_ANNOTATION_SHA, sha)))
        goto oom;
    if (owner) {
        cJSON *refs = cJSON_AddArrayToObject(md, "ownerReferences"), *r = cJSON_CreateObject();
        if (!refs || !r || !cJSON_AddItemToArray(refs, r)) {
            cJSON_Delete(r);
            goto oom;
        }
        if (!add_str(r, "apiVersion", owner->api_version) || !add_str(r, "kind", owner->kind) ||
            !add_str(r, "name", owner->name) || !add_str(r, "uid", owner->uid))
            goto oom;
    }
    if (data && !add_copy(o, "data", data))
        goto oom;
    if (immutable && !cJSON_AddBoolToObject(o, "immutable", 1))
        goto oom;
    return o;
oom:
    cJSON_Delete(o);
    return NULL;
}

int quay_secret_has_role(const cJSON *obj, const char *role)
{
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "labels");
    const char *mb =
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(labels, QUAY_LABEL_MANAGED_BY));
    const char *r = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(labels, QUAY_LABEL_ROLE));
    return mb && r && strcmp(mb, QUAY_MANAGED_BY) == 0 && strcmp(r, role) == 0;
}

int quay_object_owned_by(const cJSON *obj, const char *uid)
{
    const cJSON *refs = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "ownerReferences");
    const cJSON *r;
    cJSON_ArrayForEach(r, refs)
    {
        const char *u = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "uid"));
        if (u && uid && strcmp(u, uid) == 0)
            return 1;
    }
    return 0;
}

/* The record as Secret data: {"state.json": base64}. */
static int state_data(const struct quay_state *s, cJSON **out, struct k8s_error *err)
{
    int rc;
    cJSON *j = NULL;
    char *text = NULL;
    size_t len = 0;
    struct quay_bundle *b = quay_bundle_new(QUAY_BUNDLE_STANDALONE, QUAY_STATE_KEY);
    *out = NULL;
    if (!b)
        return k8s_error_set(err, K8S_ENOMEM, "out of memory");
    if ((rc = quay_state_to_json(s, &j, err)))
        goto out;
    if (!(text = k8s_json_print(j, &len))) {
        rc = k8s_error_set(err, K8S_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = quay_bundle_put(b, QUAY_STATE_KEY, text, len, err)) ||
        (rc = quay_bundle_to_secret_data(b, out, err)))
        goto out;
out:
    if (text) {
        /* The text holds overlay private keys. */
        memset(text, 0, len);
        free(text);
    }
    cJSON_Delete(j);
    quay_bundle_free(b);
    return rc;
}

static void set_rv(struct quay_state *s, const cJSON *obj)
{
    const char *rv = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "resourceVersion"));
    snprintf(s->resource_version, sizeof(s->resource_version), "%s", rv ? rv : "");
}

int quay_state_get(struct k8s_client *c, enum quay_target_kind kind, const char *ns,
                   const char *name, struct quay_state **out, struct k8s_error *err)
{
    int rc;
    char sname[QUAY_NAME_MAX + 1];
    cJSON *obj = NULL, *j = NULL;
    struct quay_bundle *b = NULL;
    *out = NULL;
    if ((rc = quay_state_name(kind, name, sname, sizeof(sname), err)))
        return rc;
    if ((rc = k8s_get(c, &SECRETS, ns, sname, NULL, &obj, err)))
        return rc;
    if (!quay_secret_has_role(obj, QUAY_ROLE_STATE)) {
        rc = k8s_error_set(err, K8S_ECONFLICT,
                           "Secret %s/%s exists but is not a quay-storage-operator state record "
                           "(label %s=%s missing); rename or delete it",
                           ns, sname, QUAY_LABEL_ROLE, QUAY_ROLE_STATE);
        goto out;
    }
    if ((rc = quay_bundle_from_secret_data(cJSON_GetObjectItemCaseSensitive(obj, "data"),
                                           QUAY_BUNDLE_STANDALONE, QUAY_STATE_KEY, &b, err)))
        goto out;
    size_t len = 0;
    const unsigned char *text = quay_bundle_get(b, QUAY_STATE_KEY, &len);
    if (!text || !(j = cJSON_ParseWithLength((const char *)text, len))) {
        rc = k8s_error_set(err, K8S_EDECODE, "Secret %s/%s: %s is missing or not JSON", ns, sname,
                           QUAY_STATE_KEY);
        goto out;
    }
    if ((rc = quay_state_from_json(j, out, err)))
        goto out;
    if ((*out)->kind != kind || strcmp((*out)->ns, ns) != 0 || strcmp((*out)->name, name) != 0) {
        quay_state_free(*out);
        *out = NULL;
        rc = k8s_error_set(err, K8S_EDECODE, "Secret %s/%s records another target", ns, sname);
        goto out;
    }
    set_rv(*out, obj);
out:
    cJSON_Delete(j);
    quay_bundle_free(b);
    cJSON_Delete(obj);
    return rc;
}

int quay_state_create(struct k8s_client *c, struct quay_state *s, const struct quay_owner *owner,
                      struct k8s_error *err)
{
    int rc;
    char sname[QUAY_NAME_MAX + 1];
    cJSON *data = NULL, *obj = NULL, *created = NULL;
    if ((rc = quay_state_name(s->kind, s->name, sname, sizeof(sname), err)) ||
        (rc = state_data(s, &data, err)))
        goto out;
    if (!(obj = quay_secret_object_new(s->ns, sname, QUAY_ROLE_STATE, owner, data, NULL, 0))) {
        rc = k8s_error_set(err, K8S_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = k8s_create(c, &SECRETS, s->ns, obj, NULL, &created, err)))
        goto out;
    set_rv(s, created);
out:
    cJSON_Delete(created);
    cJSON_Delete(obj);
    cJSON_Delete(data);
    return rc;
}

int quay_state_update(struct k8s_client *c, struct quay_state *s, struct k8s_error *err)
{
    int rc;
    char sname[QUAY_NAME_MAX + 1];
    cJSON *data = NULL, *patch = NULL, *rv = NULL, *res = NULL;
    if (!s->resource_version[0])
        return k8s_error_set(err, K8S_EARG, "the state record was never read or created");
    if ((rc = quay_state_name(s->kind, s->name, sname, sizeof(sname), err)) ||
        (rc = state_data(s, &data, err)))
        goto out;
    if (!(patch = cJSON_CreateArray()) || !(rv = cJSON_CreateString(s->resource_version)) ||
        k8s_json_patch_add_op(patch, "test", "/metadata/resourceVersion", rv) ||
        k8s_json_patch_add_op(patch, "replace", "/data", data)) {
        rc = k8s_error_set(err, K8S_ENOMEM, "out of memory");
        goto out;
    }
    rc = k8s_patch_tested(c, &SECRETS, s->ns, sname, s->resource_version, patch, NULL, &res, err);
    if (rc == K8S_EINVALID) /* unchanged yet refused (e.g. over the 1 MiB Secret limit) */
        k8s_error_prefix(err, "the API server refused the state record %s/%s", s->ns, sname);
    if (rc)
        goto out;
    set_rv(s, res);
out:
    cJSON_Delete(res);
    cJSON_Delete(rv);
    if (patch) {
        /* The patch holds a copy of the data (secrets). */
        cJSON_Delete(patch);
    }
    cJSON_Delete(data);
    return rc;
}

int quay_state_delete(struct k8s_client *c, const struct quay_state *s, struct k8s_error *err)
{
    char sname[QUAY_NAME_MAX + 1];
    int rc = quay_state_name(s->kind, s->name, sname, sizeof(sname), err);
    if (rc)
        return rc;
    struct k8s_delete_opts d = {.precondition_resource_version = s->resource_version,
                                .grace_period_seconds = -1};
    rc = k8s_delete(c, &SECRETS, s->ns, sname, &d, NULL, NULL, err);
    return rc == K8S_ENOTFOUND ? 0 : rc;
}
