/*
 * The Quay Operator stand-in's main reconcile: quay-operator's
 * controllers/quay/quayregistry_controller.go Reconcile and the checks of
 * controllers/quay/features.go, step by step and with their wording (the
 * facts and their sources are listed in sim_quayop.c). Every read and write
 * goes through the API's own verbs (sim_internal_call), as the real
 * controller's client does, so nothing is stored that the API would refuse.
 *
 * Two of the real controller's ways are kept on purpose because they surprise
 * operators built on top of it: a failure before the objects are applied is
 * reported on the QuayRegistry as read (so status.observedGeneration does not
 * move), and status.observedGeneration is written as soon as the objects are
 * applied, long before any rollout finished.
 */
#include "sim_quayop_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "k8s_log.h"
#include "sim_internal.h"
#include "sim_kind.h"
#include "sim_server.h"
#include "sim_store.h"
#include "sim_util.h"
#include "sim_workloads.h"

/* ---- small helpers ----------------------------------------------------- */

int qop_call(struct sim_server *srv, const char *method, const char *path, const cJSON *body,
             cJSON **out)
{
    return sim_internal_call(srv, method, path, body, NULL, out);
}

const char *qop_status_message(const cJSON *st, int code)
{
    const char *m = sim_jstr(st, "message", NULL);
    if (m)
        return m;
    return code < 0 ? "the request could not be made" : "unexpected response";
}

void qop_log(struct sim_server *srv, const char *ns, const char *name, const char *msg)
{
    if (!srv->opt.quiet)
        k8s_log(K8S_LOG_INFO, ns, name, msg, NULL);
}

void qop_go_time(char *buf, size_t cap)
{
    struct timespec ts;
    struct tm tm;
    char frac[16];
    size_t n;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    /* Go prints the fraction with trailing zeros trimmed, none when zero. */
    snprintf(frac, sizeof(frac), ".%09ld", ts.tv_nsec);
    n = strlen(frac);
    while (n > 1 && frac[n - 1] == '0')
        frac[--n] = '\0';
    if (n == 1)
        frac[0] = '\0';
    snprintf(buf, cap, "%04d-%02d-%02d %02d:%02d:%02d%s +0000 UTC", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

const cJSON *qop_get_condition(const cJSON *qr, const char *type)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, sim_jget(qr, "status", "conditions", NULL))
    {
        const char *t = sim_jstr(c, "type", NULL);
        if (t && strcmp(t, type) == 0)
            return c;
    }
    return NULL;
}

void qop_set_condition(cJSON *qr, const char *type, const char *status, const char *reason,
                       const char *message, int keep_transition)
{
    cJSON *st = sim_jobj(qr, "status");
    cJSON *conds = st ? cJSON_GetObjectItemCaseSensitive(st, "conditions") : NULL;
    cJSON *c, *nc;
    char now[32], transition[64];
    int idx = 0;
    if (!st)
        return;
    if (!cJSON_IsArray(conds)) {
        cJSON_DeleteItemFromObjectCaseSensitive(st, "conditions");
        conds = cJSON_AddArrayToObject(st, "conditions");
    }
    sim_rfc3339(sim_now_unix(), now);
    sim_strlcpy(transition, now, sizeof(transition));
    cJSON_ArrayForEach(c, conds)
    {
        const char *t = sim_jstr(c, "type", NULL);
        if (t && strcmp(t, type) == 0)
            break;
        idx++;
    }
    if (c && keep_transition) {
        const char *old = sim_jstr(c, "status", NULL);
        const char *ot = sim_jstr(c, "lastTransitionTime", NULL);
        if (old && strcmp(old, status) == 0 && ot)
            sim_strlcpy(transition, ot, sizeof(transition));
    }
    nc = cJSON_CreateObject();
    if (!nc)
        return;
    cJSON_AddStringToObject(nc, "type", type);
    cJSON_AddStringToObject(nc, "status", status);
    cJSON_AddStringToObject(nc, "reason", reason);
    cJSON_AddStringToObject(nc, "message", message);
    cJSON_AddStringToObject(nc, "lastUpdateTime", now);
    cJSON_AddStringToObject(nc, "lastTransitionTime", transition);
    if (c)
        cJSON_ReplaceItemInArray(conds, idx, nc);
    else
        cJSON_AddItemToArray(conds, nc);
}

void qop_remove_condition(cJSON *qr, const char *type)
{
    cJSON *conds = sim_jget(qr, "status", "conditions", NULL), *c;
    cJSON_ArrayForEach(c, conds)
    {
        const char *t = sim_jstr(c, "type", NULL);
        if (t && strcmp(t, type) == 0) {
            cJSON_Delete(cJSON_DetachItemViaPointer(conds, c));
            return;
        }
    }
}

int qop_owns(const cJSON *qr, const cJSON *obj)
{
    const char *name = sim_jstr(qr, "metadata", "name", NULL);
    const char *uid = sim_jstr(qr, "metadata", "uid", NULL);
    const cJSON *r;
    cJSON_ArrayForEach(r, sim_jget(obj, "metadata", "ownerReferences", NULL))
    {
        const char *k = sim_jstr(r, "kind", NULL), *n = sim_jstr(r, "name", NULL);
        const char *a = sim_jstr(r, "apiVersion", NULL), *u = sim_jstr(r, "uid", NULL);
        if (k && n && a && u && name && uid && strcmp(k, "QuayRegistry") == 0 &&
            strcmp(n, name) == 0 && strcmp(a, QOP_APIVERSION) == 0 && strcmp(u, uid) == 0)
            return 1;
    }
    return 0;
}

/* ---- the reconcile ----------------------------------------------------- */

struct rec {
    struct sim_server *srv;
    const char *ns, *name;
    char path[1024]; /* the QuayRegistry */
    cJSON *quay;     /* as read */
    cJSON *upd;      /* updatedQuay */
    cJSON *bundle;
    cJSON *usercfg;
    const char *version;
    int omit_og;
    struct qop_ctx ctx;
    struct qop_owned *owned;
    size_t *nowned;
};

/* omitObservedGeneration: whatever the live object says is sent back. */
static void keep_live_og(const struct rec *r, cJSON *obj)
{
    const cJSON *live = sim_jget(r->quay, "status", "observedGeneration", NULL);
    cJSON *keep = live ? cJSON_Duplicate(live, 1) : NULL;
    cJSON *st = sim_jobj(obj, "status");
    /* Copied first: `obj` may be the live object itself. */
    if (!r->omit_og || !st) {
        cJSON_Delete(keep);
        return;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(st, "observedGeneration");
    if (keep)
        cJSON_AddItemToObject(st, "observedGeneration", keep);
}

/* Status().Update: PUT .../status; on success *obj becomes the answer. */
static int put_status(struct rec *r, cJSON **obj)
{
    char path[1100];
    cJSON *out = NULL;
    int code;
    keep_live_og(r, *obj);
    snprintf(path, sizeof(path), "%s/status", r->path);
    code = qop_call(r->srv, "PUT", path, *obj, &out);
    if (code == 200 && out) {
        cJSON_Delete(*obj);
        *obj = out;
        out = NULL;
    }
    cJSON_Delete(out);
    return code;
}

/* Client.Update on the main resource (spec, metadata). */
static int put_main(struct rec *r, cJSON **obj)
{
    cJSON *out = NULL;
    int code = qop_call(r->srv, "PUT", r->path, *obj, &out);
    if (code == 200 && out) {
        cJSON_Delete(*obj);
        *obj = out;
        out = NULL;
    }
    cJSON_Delete(out);
    return code;
}

/* updateWithCondition: the condition (both times now), status.lastUpdated,
 * Status().Update. */
static int update_with_condition(struct rec *r, cJSON **obj, const char *type, const char *status,
                                 const char *reason, const char *msg)
{
    char now[80];
    cJSON *st = sim_jobj(*obj, "status");
    qop_set_condition(*obj, type, status, reason, msg, 0);
    qop_go_time(now, sizeof(now));
    if (st) {
        cJSON_DeleteItemFromObjectCaseSensitive(st, "lastUpdated");
        cJSON_AddStringToObject(st, "lastUpdated", now);
    }
    return put_status(r, obj);
}

/* reconcileWithCondition with the QuayRegistry as read (the real passes
 * &quay, not updatedQuay, on these paths). */
static enum qop_result blocked(struct rec *r, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static enum qop_result blocked(struct rec *r, const char *reason, const char *fmt, ...)
{
    char msg[4096];
    va_list ap;
    int code;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    qop_log(r->srv, r->ns, r->name, msg);
    code = update_with_condition(r, &r->quay, "RolloutBlocked", "True", reason, msg);
    return code == 409 ? QOP_AGAIN : QOP_REQUEUE;
}

static void add_owned(struct rec *r, const char *resource, const char *name, double gen)
{
    struct qop_owned *o;
    if (*r->nowned >= QOP_MAX_OWNED)
        return;
    o = &r->owned[(*r->nowned)++];
    sim_strlcpy(o->resource, resource, sizeof(o->resource));
    sim_strlcpy(o->name, name, sizeof(o->name));
    o->generation = gen;
}

static void copy_str(const cJSON *obj, const char *key, char *dst, size_t cap)
{
    size_t len = 0;
    char *v = qop_bundle_value(obj, key, &len);
    if (v)
        sim_strlcpy(dst, v, cap);
    free(v);
}

/* createInitialBundleSecret. */
static enum qop_result initial_bundle(struct rec *r)
{
    cJSON *sec = cJSON_CreateObject(), *meta, *data, *ref, *refs, *out = NULL, *base;
    char path[600], gen[300];
    char *y;
    size_t ylen;
    int code;
    base = qop_base_config();
    y = base ? qop_yaml_emit(base) : NULL;
    cJSON_Delete(base);
    snprintf(gen, sizeof(gen), "%s-config-bundle-", r->name);
    cJSON_AddStringToObject(sec, "apiVersion", "v1");
    cJSON_AddStringToObject(sec, "kind", "Secret");
    meta = cJSON_AddObjectToObject(sec, "metadata");
    cJSON_AddStringToObject(meta, "generateName", gen);
    cJSON_AddStringToObject(meta, "namespace", r->ns);
    refs = cJSON_AddArrayToObject(meta, "ownerReferences");
    ref = cJSON_CreateObject();
    cJSON_AddStringToObject(ref, "apiVersion", QOP_APIVERSION);
    cJSON_AddStringToObject(ref, "kind", "QuayRegistry");
    cJSON_AddStringToObject(ref, "name", r->name);
    cJSON_AddStringToObject(ref, "uid", sim_jstr(r->upd, "metadata", "uid", NULL));
    cJSON_AddItemToArray(refs, ref);
    data = cJSON_AddObjectToObject(sec, "data");
    ylen = y ? strlen(y) : 0;
    {
        char *b = sim_b64_encode(y ? y : "", ylen);
        cJSON_AddStringToObject(data, "config.yaml", b ? b : "");
        free(b);
    }
    free(y);
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/secrets", r->ns);
    code = qop_call(r->srv, "POST", path, sec, &out);
    cJSON_Delete(sec);
    if (code != 201) {
        char msg[4096];
        snprintf(msg, sizeof(msg), "unable to create base config bundle `Secret`: %s",
                 qop_status_message(out, code));
        cJSON_Delete(out);
        code = update_with_condition(r, &r->upd, "RolloutBlocked", "True", "ConfigInvalid", msg);
        return code == 409 ? QOP_AGAIN : QOP_REQUEUE;
    }
    sim_jset_str(sim_jobj(r->upd, "spec"), "configBundleSecret",
                 sim_jstr(out, "metadata", "name", NULL));
    cJSON_Delete(out);
    code = put_main(r, &r->upd);
    if (code != 200)
        qop_log(r->srv, r->ns, r->name, "unable to update `spec.configBundleSecret`");
    return code == 409 ? QOP_AGAIN : QOP_REQUEUE;
}

/* checkMigrationStatus, with the upgrade Job played: the simulator runs no
 * Quay image, so the migrations succeed by the next reconcile. */
static enum qop_result migrations(struct rec *r)
{
    cJSON *st = sim_jobj(r->upd, "status");
    int code;
    qop_set_condition(r->upd, "ComponentsCreated", "True", "ComponentsCreationSuccess",
                      "All registry components created", 0);
    cJSON_DeleteItemFromObjectCaseSensitive(st, "currentVersion");
    cJSON_AddStringToObject(st, "currentVersion", r->version);
    code = put_status(r, &r->upd);
    return code == 409 ? QOP_AGAIN : QOP_REQUEUE;
}

/* hostsettings.NewHostSettingsFieldGroup's typing of SERVER_HOSTNAME. */
static int check_routes(struct rec *r, char *err, size_t cap)
{
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(r->usercfg, "SERVER_HOSTNAME");
    const cJSON *comps = sim_jget(r->upd, "spec", "components", NULL);
    const cJSON *route = qop_component(comps, "route");
    if (h && !cJSON_IsString(h)) {
        snprintf(err, cap, "SERVER_HOSTNAME must be of type string");
        return -1;
    }
    if (cJSON_IsString(h) && *h->valuestring)
        sim_strlcpy(r->ctx.server_hostname, h->valuestring, sizeof(r->ctx.server_hostname));
    if (route && !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(route, "managed")))
        return 0;
    if (!sim_wl_bool(r->srv, 0, "quayOperator", "supportsRoutes", NULL))
        return 0; /* creating the probe Route failed: no Route API */
    r->ctx.supports_routes = 1;
    sim_strlcpy(
        r->ctx.cluster_hostname,
        sim_wl_str(r->srv, "apps.kubesim.example.com", "quayOperator", "clusterHostname", NULL),
        sizeof(r->ctx.cluster_hostname));
    if (!r->ctx.server_hostname[0] &&
        snprintf(r->ctx.server_hostname, sizeof(r->ctx.server_hostname), "%s-quay-%s.%s", r->name,
                 r->ns, r->ctx.cluster_hostname) >= (int)sizeof(r->ctx.server_hostname))
        qop_log(r->srv, r->ns, r->name, "SERVER_HOSTNAME truncated");
    return 0;
}

/* checkObjectBucketClaimsAvailable. */
static int check_obc(struct rec *r, char *err, size_t cap)
{
    char path[900];
    cJSON *o = NULL, *sec = NULL, *cm = NULL;
    int rc = 0;
    if (!sim_kinds_find(r->srv->kinds, "objectbucket.io", "v1alpha1", "objectbucketclaims", 1)) {
        snprintf(err, cap,
                 "unable to list object bucket claims: no matches for kind "
                 "\"ObjectBucketClaim\" in version \"objectbucket.io/v1alpha1\"");
        return -1;
    }
    r->ctx.supports_objstore = 1;
    snprintf(path, sizeof(path),
             "/apis/objectbucket.io/v1alpha1/namespaces/%s/objectbucketclaims/%s-quay-datastore",
             r->ns, r->name);
    if (qop_call(r->srv, "GET", path, NULL, &o) != 200)
        goto out;
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/secrets/%s-quay-datastore", r->ns, r->name);
    if (qop_call(r->srv, "GET", path, NULL, &sec) != 200) {
        snprintf(err, cap, "awaiting for bucket claim to be processed");
        rc = -1;
        goto out;
    }
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/configmaps/%s-quay-datastore", r->ns,
             r->name);
    if (qop_call(r->srv, "GET", path, NULL, &cm) != 200) {
        snprintf(err, cap, "awaiting for bucket claim to be processed");
        rc = -1;
        goto out;
    }
    {
        const char *host = sim_jstr(cm, "data", "BUCKET_HOST", NULL);
        const char *svc = host ? strstr(host, ".svc") : NULL;
        if (svc && !strstr(host, ".svc.cluster.local"))
            snprintf(r->ctx.storage_host, sizeof(r->ctx.storage_host), "%.*s.svc.cluster.local%s",
                     (int)(svc - host), host, svc + 4);
        else
            sim_strlcpy(r->ctx.storage_host, host ? host : "", sizeof(r->ctx.storage_host));
        sim_strlcpy(r->ctx.storage_bucket,
                    sim_jstr(cm, "data", "BUCKET_NAME", NULL)
                        ? sim_jstr(cm, "data", "BUCKET_NAME", NULL)
                        : "",
                    sizeof(r->ctx.storage_bucket));
        copy_str(sim_jget(sec, "data", NULL), "AWS_ACCESS_KEY_ID", r->ctx.storage_access,
                 sizeof(r->ctx.storage_access));
        copy_str(sim_jget(sec, "data", NULL), "AWS_SECRET_ACCESS_KEY", r->ctx.storage_secret,
                 sizeof(r->ctx.storage_secret));
        r->ctx.objstore_initialized = 1;
    }
out:
    cJSON_Delete(o);
    cJSON_Delete(sec);
    cJSON_Delete(cm);
    return rc;
}

static const char *const all_components[] = {
    "quay",  "postgres", "clair",      "redis", "horizontalpodautoscaler", "objectstorage",
    "route", "mirror",   "monitoring", "tls",   "clairpostgres",           NULL};

/* v1.EnsureDefaultComponents. */
static int ensure_default_components(struct rec *r, char *err, size_t cap)
{
    cJSON *spec = sim_jobj(r->upd, "spec");
    cJSON *comps = cJSON_GetObjectItemCaseSensitive(spec, "components");
    if (!cJSON_IsArray(comps)) {
        cJSON_DeleteItemFromObjectCaseSensitive(spec, "components");
        comps = cJSON_AddArrayToObject(spec, "components");
    }
    for (size_t i = 0; all_components[i]; i++) {
        const char *k = all_components[i];
        int exists = 1, ok = 1, managed;
        const char *why = "";
        cJSON *decl, *nc;
        if (strcmp(k, "route") == 0 || strcmp(k, "tls") == 0) {
            ok = r->ctx.supports_routes;
            why = "Route API not available";
        } else if (strcmp(k, "objectstorage") == 0) {
            ok = r->ctx.supports_objstore;
            why = "ObjectStorage API not available";
        } else if (strcmp(k, "monitoring") == 0) {
            ok = r->ctx.supports_monitoring;
            why = "Prometheus API not available";
        } else {
            exists = 0;
        }
        if (exists && !ok && qop_managed(comps, k)) {
            snprintf(err, cap, "error validating component %s: %s", k, why);
            return -1;
        }
        decl = (cJSON *)qop_component(comps, k);
        if (decl) {
            /* Quay cannot be unmanaged: the operator puts it back. */
            if (strcmp(k, "quay") == 0) {
                cJSON_DeleteItemFromObjectCaseSensitive(decl, "managed");
                cJSON_AddBoolToObject(decl, "managed", 1);
            }
            continue;
        }
        managed = !exists || ok;
        if (strcmp(k, "tls") == 0)
            managed = managed && !r->ctx.has_tls;
        nc = cJSON_CreateObject();
        cJSON_AddStringToObject(nc, "kind", k);
        cJSON_AddBoolToObject(nc, "managed", managed);
        cJSON_AddItemToArray(comps, nc);
    }
    return 0;
}

static int in_list(const char *k, const char *const *list)
{
    for (size_t i = 0; list[i]; i++)
        if (strcmp(k, list[i]) == 0)
            return 1;
    return 0;
}

/* v1.ValidateOverrides. */
static int validate_overrides(const cJSON *comps, char *err, size_t cap)
{
    static const char *const volume[] = {"postgres", "clair", NULL};
    static const char *const env[] = {"quay", "clair", "mirror", "postgres", "redis", NULL};
    static const char *const replicas[] = {"clair", "mirror", "quay", NULL};
    static const char *const affinity[] = {"clair", "mirror", "quay", NULL};
    const cJSON *c;
    cJSON_ArrayForEach(c, comps)
    {
        const cJSON *ov = cJSON_GetObjectItemCaseSensitive(c, "overrides");
        const char *k = sim_jstr(c, "kind", NULL);
        const cJSON *rep;
        int has_aff, has_vol, has_rep, has_env;
        if (!ov || cJSON_IsNull(ov) || !k)
            continue;
        has_aff = sim_jget(ov, "affinity", NULL) != NULL;
        has_vol = sim_jget(ov, "volumeSize", NULL) != NULL;
        rep = sim_jget(ov, "replicas", NULL);
        has_rep = rep != NULL && !cJSON_IsNull(rep);
        has_env = cJSON_GetArraySize(sim_jget(ov, "env", NULL)) > 0;
        if ((has_aff || has_vol || has_env || has_rep) && !qop_managed(comps, k)) {
            snprintf(err, cap, "cannot set overrides on unmanaged %s", k);
            return -1;
        }
        if (has_rep && qop_managed(comps, "horizontalpodautoscaler") &&
            (!cJSON_IsNumber(rep) || rep->valuedouble != 0)) {
            snprintf(err, cap, "cannot override replicas with managed HPA");
            return -1;
        }
        if (has_aff && !in_list(k, affinity)) {
            snprintf(err, cap, "component %s does not support affinity overrides", k);
            return -1;
        }
        if (has_vol && !in_list(k, volume)) {
            snprintf(err, cap, "component %s does not support volumeSize overrides", k);
            return -1;
        }
        if (has_env && !in_list(k, env)) {
            snprintf(err, cap, "component %s does not support env overrides", k);
            return -1;
        }
        if (has_rep && !in_list(k, replicas)) {
            snprintf(err, cap, "component %s does not support replicas overrides", k);
            return -1;
        }
    }
    return 0;
}

/* v1.ComponentsMatch: same kinds with the same managed flags. */
static int components_match(const cJSON *a, const cJSON *b)
{
    const cJSON *x;
    if (cJSON_GetArraySize(a) != cJSON_GetArraySize(b))
        return 0;
    cJSON_ArrayForEach(x, a)
    {
        const char *k = sim_jstr(x, "kind", NULL);
        const cJSON *y = k ? qop_component(b, k) : NULL;
        if (!y || cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(x, "managed")) !=
                      cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(y, "managed")))
            return 0;
    }
    return 1;
}

/* kustomize.ContainsComponentConfig: does the bundle carry this component's
 * field group? (One field is enough, as the real one's FIXME says.) */
static int contains_config(const struct rec *r, const char *kind)
{
    static const char *const clair[] = {"FEATURE_SECURITY_SCANNER",
                                        "SECURITY_SCANNER_ENDPOINT",
                                        "SECURITY_SCANNER_INDEXING_INTERVAL",
                                        "SECURITY_SCANNER_NOTIFICATIONS",
                                        "SECURITY_SCANNER_V4_ENDPOINT",
                                        "SECURITY_SCANNER_V4_NAMESPACE_WHITELIST",
                                        NULL};
    static const char *const postgres[] = {"DB_CONNECTION_ARGS", "DB_URI", NULL};
    static const char *const redis[] = {"BUILDLOGS_REDIS", "USER_EVENTS_REDIS", NULL};
    static const char *const storage[] = {
        "DISTRIBUTED_STORAGE_CONFIG", "DISTRIBUTED_STORAGE_PREFERENCE",
        "DISTRIBUTED_STORAGE_DEFAULT_LOCATIONS", "FEATURE_STORAGE_REPLICATION", NULL};
    static const char *const mirror[] = {"FEATURE_REPO_MIRROR", "REPO_MIRROR_INTERVAL",
                                         "REPO_MIRROR_SERVER_HOSTNAME", "REPO_MIRROR_TLS_VERIFY",
                                         NULL};
    static const char *const route[] = {"EXTERNAL_TLS_TERMINATION", "PREFERRED_URL_SCHEME",
                                        "SERVER_HOSTNAME", NULL};
    const cJSON *data = sim_jget(r->bundle, "data", NULL);
    const char *const *fields = NULL;
    if (strcmp(kind, "clair") == 0)
        fields = clair;
    else if (strcmp(kind, "postgres") == 0)
        fields = postgres;
    else if (strcmp(kind, "redis") == 0)
        fields = redis;
    else if (strcmp(kind, "objectstorage") == 0)
        fields = storage;
    else if (strcmp(kind, "mirror") == 0)
        fields = mirror;
    else if (strcmp(kind, "route") == 0)
        fields = route;
    else if (strcmp(kind, "tls") == 0)
        return sim_jstr(data, "ssl.key", NULL) && sim_jstr(data, "ssl.cert", NULL);
    else if (strcmp(kind, "clairpostgres") == 0) {
        /* A connstring for the matcher, indexer or notifier in clair-config.yaml. */
        static const char *const parts[] = {"matcher", "indexer", "notifier", NULL};
        size_t len = 0;
        char *text = qop_bundle_value(data, "clair-config.yaml", &len), e[256];
        cJSON *cfg = text ? qop_yaml_parse_map(text, len, e, sizeof(e)) : NULL;
        int has = 0;
        for (size_t i = 0; cfg && parts[i]; i++) {
            const char *cs = sim_jstr(cfg, parts[i], "connstring", NULL);
            if (cs && *cs)
                has = 1;
        }
        cJSON_Delete(cfg);
        free(text);
        return has;
    }
    if (!fields)
        return 0;
    for (size_t i = 0; fields[i]; i++)
        if (cJSON_GetObjectItemCaseSensitive(r->usercfg, fields[i]))
            return 1;
    return 0;
}

/* hasNecessaryConfig over spec.components as read. */
static int necessary_config(const struct rec *r, char *err, size_t cap)
{
    static const char *const required[] = {"postgres", "objectstorage", "route",
                                           "redis",    "tls",           NULL};
    const cJSON *comps = sim_jget(r->quay, "spec", "components", NULL), *c;
    cJSON_ArrayForEach(c, comps)
    {
        const char *k = sim_jstr(c, "kind", NULL);
        int has;
        if (!k)
            continue;
        has = contains_config(r, k);
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "managed"))) {
            if (!has || strcmp(k, "route") == 0 || strcmp(k, "mirror") == 0)
                continue;
            snprintf(err, cap,
                     "%s component marked as managed, but `configBundleSecret` contains "
                     "required fields",
                     k);
            return -1;
        }
        if (has)
            continue;
        if (in_list(k, required)) {
            snprintf(err, cap,
                     "required component `%s` marked as unmanaged, but `configBundleSecret` is "
                     "missing necessary fields",
                     k);
            return -1;
        }
        if (strcmp(k, "clairpostgres") == 0 && qop_managed(comps, "clair")) {
            snprintf(err, cap,
                     "clairpostgres component unmanaged but no clair postgres config "
                     "provided");
            return -1;
        }
    }
    return 0;
}

/* GetOldConfigBundleSecrets + cleanupPreviousSecrets (see sim_quayop.c for
 * the one deviation: the Secret just rendered is kept). */
static void cleanup_previous(struct rec *r, const char *rendered)
{
    struct sim_coll *c = sim_store_coll(r->srv->store, "", "secrets", 0);
    const char *bundle = sim_jstr(r->quay, "spec", "configBundleSecret", NULL);
    char prefix[300], names[16][254], path[1024];
    size_t b = 0, e = 0, n = 0;
    if (!c)
        return;
    snprintf(prefix, sizeof(prefix), "%s-quay-config-secret", r->name);
    sim_coll_range(c, r->ns, &b, &e);
    for (size_t i = b; i < e && n < 16; i++) {
        const char *nm = c->v[i]->name;
        if (strncmp(nm, prefix, strlen(prefix)) != 0 || (bundle && strcmp(nm, bundle) == 0) ||
            strcmp(nm, rendered) == 0)
            continue;
        sim_strlcpy(names[n++], nm, sizeof(names[0]));
    }
    for (size_t i = 0; i < n; i++) {
        if (snprintf(path, sizeof(path), "/api/v1/namespaces/%s/secrets/%s", r->ns, names[i]) >=
            (int)sizeof(path))
            continue;
        if (qop_call(r->srv, "DELETE", path, NULL, NULL) != 200)
            qop_log(r->srv, r->ns, r->name, "failed to delete previous config bundle secret");
    }
}

static void overlay_map(cJSON *dst_parent, const char *key, const cJSON *src)
{
    cJSON *dst = sim_jobj(dst_parent, key);
    const cJSON *c;
    if (!dst)
        return;
    cJSON_ArrayForEach(c, src)
    {
        cJSON_DeleteItemFromObjectCaseSensitive(dst, c->string);
        cJSON_AddItemToObject(dst, c->string, cJSON_Duplicate(c, 1));
    }
}

static void ensure_owner(cJSON *meta, const cJSON *want)
{
    cJSON *refs = cJSON_GetObjectItemCaseSensitive(meta, "ownerReferences");
    const cJSON *w = cJSON_GetArrayItem(want, 0), *x;
    const char *uid = sim_jstr(w, "uid", NULL);
    if (!cJSON_IsArray(refs)) {
        cJSON_DeleteItemFromObjectCaseSensitive(meta, "ownerReferences");
        refs = cJSON_AddArrayToObject(meta, "ownerReferences");
    }
    cJSON_ArrayForEach(x, refs)
    {
        const char *u = sim_jstr(x, "uid", NULL);
        if (u && uid && strcmp(u, uid) == 0)
            return;
    }
    cJSON_AddItemToArray(refs, cJSON_Duplicate(w, 1));
}

/*
 * createOrUpdateObject: server-side apply with force as fieldManager
 * quay-operator, done as create-or-PUT of the merged object. With one manager
 * for these fields the result is SSA's; a PUT that changes nothing is a
 * no-op for the API (no new resourceVersion, no event).
 */
static int apply(struct rec *r, cJSON *want, char *err, size_t cap)
{
    const char *kind = sim_jstr(want, "kind", NULL),
               *name = sim_jstr(want, "metadata", "name", NULL);
    char coll[600], path[900];
    cJSON *live = NULL, *out = NULL, *body;
    int hpa = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(want, "__qop_hpa")), code, rc = -1;
    cJSON_DeleteItemFromObjectCaseSensitive(want, "__qop_hpa");
    if (strcmp(kind, "Secret") == 0)
        snprintf(coll, sizeof(coll), "/api/v1/namespaces/%s/secrets", r->ns);
    else if (strcmp(kind, "Deployment") == 0)
        snprintf(coll, sizeof(coll), "/apis/apps/v1/namespaces/%s/deployments", r->ns);
    else if (strcmp(kind, "ObjectBucketClaim") == 0)
        snprintf(coll, sizeof(coll),
                 "/apis/objectbucket.io/v1alpha1/namespaces/%s/"
                 "objectbucketclaims",
                 r->ns);
    else
        snprintf(coll, sizeof(coll), "/apis/autoscaling/v2/namespaces/%s/horizontalpodautoscalers",
                 r->ns);
    snprintf(path, sizeof(path), "%s/%s", coll, name);
    code = qop_call(r->srv, "GET", path, NULL, &live);
    if (code == 404) {
        if (hpa) /* the HPA scales a new Deployment to its minReplicas */
            cJSON_AddNumberToObject(sim_jobj(want, "spec"), "replicas", 2);
        code = qop_call(r->srv, "POST", coll, want, &out);
        if (code != 201) {
            snprintf(err, cap, "error creating/updating object %s %s: %s", kind, name,
                     qop_status_message(out, code));
            goto done;
        }
    } else if (code != 200) {
        snprintf(err, cap, "error creating/updating object %s %s: %s", kind, name,
                 qop_status_message(live, code));
        goto done;
    } else {
        cJSON *meta = sim_jobj(live, "metadata");
        body = live;
        overlay_map(meta, "labels", sim_jget(want, "metadata", "labels", NULL));
        overlay_map(meta, "annotations", sim_jget(want, "metadata", "annotations", NULL));
        ensure_owner(meta, sim_jget(want, "metadata", "ownerReferences", NULL));
        if (strcmp(kind, "Secret") == 0) {
            sim_jset(body, "type", cJSON_Duplicate(sim_jget(want, "type", NULL), 1));
            sim_jset(body, "data", cJSON_Duplicate(sim_jget(want, "data", NULL), 1));
        } else if (strcmp(kind, "Deployment") == 0) {
            cJSON *spec = sim_jobj(body, "spec");
            const cJSON *rep = sim_jget(want, "spec", "replicas", NULL);
            const cJSON *lrep = sim_jget(spec, "replicas", NULL);
            sim_jset(spec, "template",
                     cJSON_Duplicate(sim_jget(want, "spec", "template", NULL), 1));
            if (sim_jget(want, "spec", "strategy", NULL))
                sim_jset(spec, "strategy",
                         cJSON_Duplicate(sim_jget(want, "spec", "strategy", NULL), 1));
            if (rep)
                sim_jset(spec, "replicas", cJSON_Duplicate(rep, 1));
            else if (hpa && (!cJSON_IsNumber(lrep) || lrep->valuedouble < 2))
                sim_jset(spec, "replicas", cJSON_CreateNumber(2));
        } else if (strcmp(kind, "ObjectBucketClaim") == 0) {
            overlay_map(body, "spec", sim_jget(want, "spec", NULL));
        } else {
            sim_jset(body, "spec", cJSON_Duplicate(sim_jget(want, "spec", NULL), 1));
        }
        code = qop_call(r->srv, "PUT", path, body, &out);
        if (code != 200) {
            snprintf(err, cap, "error creating/updating object %s %s: %s", kind, name,
                     qop_status_message(out, code));
            goto done;
        }
    }
    if (strcmp(kind, "Deployment") == 0) {
        const cJSON *g = sim_jget(out, "metadata", "generation", NULL);
        add_owned(r, "deployments", name, cJSON_IsNumber(g) ? g->valuedouble : 0);
    }
    rc = 0;
done:
    cJSON_Delete(live);
    cJSON_Delete(out);
    return rc;
}

/* EnsureRegistryEndpoint; 1 when it changed. */
static int registry_endpoint(struct rec *r)
{
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(r->usercfg, "SERVER_HOSTNAME");
    const char *orig = sim_jstr(r->upd, "status", "registryEndpoint", NULL);
    char ep[600];
    if (cJSON_IsString(h))
        snprintf(ep, sizeof(ep), "https://%s", h->valuestring);
    else if (r->ctx.supports_routes)
        snprintf(ep, sizeof(ep), "https://%s-quay-%s.%s", r->name, r->ns, r->ctx.cluster_hostname);
    else
        return 0;
    if (orig && strcmp(orig, ep) == 0)
        return 0;
    sim_jset_str(sim_jobj(r->upd, "status"), "registryEndpoint", ep);
    return 1;
}

static int has_finalizer(const cJSON *obj)
{
    const cJSON *f;
    cJSON_ArrayForEach(f, sim_jget(obj, "metadata", "finalizers", NULL))
    {
        if (cJSON_IsString(f) && strcmp(f->valuestring, QOP_FINALIZER) == 0)
            return 1;
    }
    return 0;
}

static enum qop_result run(struct rec *r)
{
    char err[4096], bpath[900];
    const cJSON *cc, *comps;
    const char *bname;
    int code, osmanaged;
    struct qop_render rd;

    /* Being deleted: the finalizer (namespace labels and the Grafana
     * ConfigMap it would clean are never made here) goes at once. */
    if (sim_jget(r->upd, "metadata", "deletionTimestamp", NULL)) {
        cJSON *fins = sim_jget(r->upd, "metadata", "finalizers", NULL), *f;
        if (!has_finalizer(r->upd))
            return QOP_FORGET;
        cJSON_ArrayForEach(f, fins)
        {
            if (cJSON_IsString(f) && strcmp(f->valuestring, QOP_FINALIZER) == 0) {
                cJSON_Delete(cJSON_DetachItemViaPointer(fins, f));
                break;
            }
        }
        code = put_main(r, &r->upd);
        return code == 200 ? QOP_FORGET : code == 409 ? QOP_AGAIN : QOP_REQUEUE;
    }
    cc = qop_get_condition(r->upd, "ComponentsCreated");
    if (cc && sim_jstr(cc, "reason", NULL) &&
        strcmp(sim_jstr(cc, "reason", NULL), "MigrationsInProgress") == 0)
        return migrations(r);
    bname = sim_jstr(r->upd, "spec", "configBundleSecret", NULL);
    if (!bname || !*bname)
        return initial_bundle(r);

    snprintf(bpath, sizeof(bpath), "/api/v1/namespaces/%s/secrets/%s", r->ns, bname);
    code = qop_call(r->srv, "GET", bpath, NULL, &r->bundle);
    if (code != 200)
        return blocked(r, "ConfigInvalid", "unable to get `configBundleSecret`: %s",
                       qop_status_message(r->bundle, code));
    {
        const cJSON *data = sim_jget(r->bundle, "data", NULL);
        size_t lc = 0, lk = 0;
        char *crt = qop_bundle_value(data, "ssl.cert", &lc);
        char *key = qop_bundle_value(data, "ssl.key", &lk);
        r->ctx.has_tls = crt && key && lc > 0 && lk > 0;
        free(crt);
        free(key);
    }
    /* checkManagedKeys. */
    {
        char path[900];
        cJSON *mk = NULL;
        snprintf(path, sizeof(path),
                 "/api/v1/namespaces/%s/secrets/%s-quay-registry-managed-secret-keys", r->ns,
                 r->name);
        code = qop_call(r->srv, "GET", path, NULL, &mk);
        if (code == 200) {
            const cJSON *d = sim_jget(mk, "data", NULL);
            copy_str(d, "DATABASE_SECRET_KEY", r->ctx.dbsk, sizeof(r->ctx.dbsk));
            copy_str(d, "SECRET_KEY", r->ctx.sk, sizeof(r->ctx.sk));
            copy_str(d, "DB_URI", r->ctx.dburi, sizeof(r->ctx.dburi));
            copy_str(d, "DB_ROOT_PW", r->ctx.dbrootpw, sizeof(r->ctx.dbrootpw));
            copy_str(d, "SECURITY_SCANNER_V4_PSK", r->ctx.psk, sizeof(r->ctx.psk));
            copy_str(d, "CLAIR_DB_USER", r->ctx.clair_user, sizeof(r->ctx.clair_user));
            copy_str(d, "CLAIR_DB_PASSWORD", r->ctx.clair_pw, sizeof(r->ctx.clair_pw));
            copy_str(d, "CLAIR_DB_ROOT_PW", r->ctx.clair_rootpw, sizeof(r->ctx.clair_rootpw));
            copy_str(d, "CLAIR_DB_NAME", r->ctx.clair_dbname, sizeof(r->ctx.clair_dbname));
        } else if (code != 404) {
            enum qop_result res =
                blocked(r, "ConfigInvalid", "unable to retrieve managed keys `Secret`: %s",
                        qop_status_message(mk, code));
            cJSON_Delete(mk);
            return res;
        }
        cJSON_Delete(mk);
    }
    /* checkRoutesAvailable parses config.yaml first: a YAML error is
     * reported under its reason. */
    err[0] = '\0';
    r->usercfg = qop_bundle_config(sim_jget(r->bundle, "data", NULL), err, sizeof(err));
    if (!r->usercfg)
        return blocked(r, "RouteComponentDependencyError",
                       "could not check for `Routes` API: unable to parse config.yaml: %s", err);
    if (check_routes(r, err, sizeof(err)) != 0)
        return blocked(r, "RouteComponentDependencyError", "could not check for `Routes` API: %s",
                       err);
    osmanaged = qop_managed(sim_jget(r->upd, "spec", "components", NULL), "objectstorage");
    if (check_obc(r, err, sizeof(err)) != 0 && osmanaged)
        return blocked(r, "ObjectStorageComponentDependencyError",
                       "error checking for object storage support: %s", err);
    {
        const cJSON *bm = cJSON_GetObjectItemCaseSensitive(r->usercfg, "BUILDMAN_HOSTNAME");
        if (cJSON_IsString(bm))
            sim_strlcpy(r->ctx.buildman_hostname, bm->valuestring,
                        sizeof(r->ctx.buildman_hostname));
    }
    /* checkMonitoringAvailable: the simulator serves no ServiceMonitor API. */
    if (qop_managed(sim_jget(r->upd, "spec", "components", NULL), "monitoring"))
        return blocked(r, "MonitoringComponentDependencyError",
                       "could not check for monitoring support: no matches for kind "
                       "\"ServiceMonitor\" in version \"monitoring.coreos.com/v1\"");
    if (ensure_default_components(r, err, sizeof(err)) != 0) {
        /* The real one only logs this and retries with a backoff. */
        qop_log(r->srv, r->ns, r->name, err);
        return QOP_REQUEUE;
    }
    comps = sim_jget(r->upd, "spec", "components", NULL);
    if (validate_overrides(comps, err, sizeof(err)) != 0)
        return blocked(r, "ComponentOverrideInvalid", "invalid overrides: %s", err);
    if (!components_match(sim_jget(r->quay, "spec", "components", NULL), comps)) {
        qop_log(r->srv, r->ns, r->name,
                "updating QuayRegistry `spec.components` to include defaults");
        code = put_main(r, &r->upd);
        return code == 409 ? QOP_AGAIN : QOP_REQUEUE;
    }
    qop_remove_condition(r->upd, "RolloutBlocked");
    if (necessary_config(r, err, sizeof(err)) != 0)
        return blocked(r, "ConfigInvalid", "%s", err);

    memset(&rd, 0, sizeof(rd));
    rd.qr = r->upd;
    rd.bundle_data = sim_jget(r->bundle, "data", NULL);
    rd.usercfg = r->usercfg;
    rd.version = r->version;
    rd.ctx = &r->ctx;
    rd.autoscaling =
        sim_kinds_find(r->srv->kinds, "autoscaling", "v2", "horizontalpodautoscalers", 1) != NULL;
    err[0] = '\0';
    if (qop_inflate(&rd, err, sizeof(err)) != 0) {
        qop_render_free(&rd);
        return blocked(r, "ComponentCreationFailed", "could not inflate kubernetes objects: %s",
                       err);
    }
    cleanup_previous(r, rd.config_secret);
    add_owned(r, "secrets", rd.config_secret, 0);
    {
        cJSON *o;
        cJSON_ArrayForEach(o, rd.objects)
        {
            if (apply(r, o, err, sizeof(err)) != 0) {
                qop_render_free(&rd);
                return blocked(r, "ComponentCreationFailed", "%s", err);
            }
        }
    }
    qop_render_free(&rd);

    code = update_with_condition(r, &r->upd, "RolloutBlocked", "False", "ComponentsCreationSuccess",
                                 "All objects created/updated successfully");
    if (code != 200)
        return code == 409 ? QOP_AGAIN : QOP_REQUEUE;
    if (osmanaged && !r->ctx.objstore_initialized) {
        qop_log(r->srv, r->ns, r->name,
                "requeuing to populate values for managed component: `objectstorage`");
        return QOP_REQUEUE;
    }
    if (registry_endpoint(r)) {
        code = put_status(r, &r->upd);
        if (code != 200)
            return code == 409 ? QOP_AGAIN : QOP_REQUEUE;
    }
    {
        const char *cur = sim_jstr(r->upd, "status", "currentVersion", NULL);
        if (!cur || strcmp(cur, r->version) != 0) {
            code = update_with_condition(r, &r->upd, "ComponentsCreated", "False",
                                         "MigrationsInProgress", "running database migrations");
            return code == 409 ? QOP_AGAIN : QOP_REQUEUE;
        }
    }
    if (!has_finalizer(r->upd)) {
        cJSON *meta = sim_jobj(r->upd, "metadata");
        cJSON *fins = cJSON_GetObjectItemCaseSensitive(meta, "finalizers");
        if (!cJSON_IsArray(fins)) {
            cJSON_DeleteItemFromObjectCaseSensitive(meta, "finalizers");
            fins = cJSON_AddArrayToObject(meta, "finalizers");
        }
        cJSON_AddItemToArray(fins, cJSON_CreateString(QOP_FINALIZER));
        code = put_main(r, &r->upd);
        if (code != 200)
            return code == 409 ? QOP_AGAIN : QOP_REQUEUE;
    }
    return QOP_REQUEUE_LONG;
}

enum qop_result qop_reconcile(struct sim_server *srv, const char *ns, const char *name,
                              struct qop_owned *owned, size_t *nowned, double *generation)
{
    struct rec r;
    enum qop_result res;
    const cJSON *g;
    int code;
    memset(&r, 0, sizeof(r));
    r.srv = srv;
    r.ns = ns;
    r.name = name;
    r.owned = owned;
    r.nowned = nowned;
    *nowned = 0;
    r.version = sim_wl_str(srv, "3.13.3", "quayOperator", "currentVersion", NULL);
    r.omit_og = sim_wl_bool(srv, 0, "quayOperator", "omitObservedGeneration", NULL);
    snprintf(r.path, sizeof(r.path), "/apis/%s/v1/namespaces/%s/quayregistries/%s", QOP_GROUP, ns,
             name);
    code = qop_call(srv, "GET", r.path, NULL, &r.quay);
    if (code == 404) {
        cJSON_Delete(r.quay);
        return QOP_FORGET;
    }
    if (code != 200 || !r.quay) {
        cJSON_Delete(r.quay);
        return QOP_REQUEUE;
    }
    g = sim_jget(r.quay, "metadata", "generation", NULL);
    *generation = cJSON_IsNumber(g) ? g->valuedouble : 0;
    r.upd = cJSON_Duplicate(r.quay, 1);
    if (!r.upd) {
        cJSON_Delete(r.quay);
        return QOP_AGAIN;
    }
    if (!r.omit_og) {
        cJSON *st = sim_jobj(r.upd, "status");
        cJSON_DeleteItemFromObjectCaseSensitive(st, "observedGeneration");
        cJSON_AddNumberToObject(st, "observedGeneration", *generation);
    }
    res = run(&r);
    cJSON_Delete(r.quay);
    cJSON_Delete(r.upd);
    cJSON_Delete(r.bundle);
    cJSON_Delete(r.usercfg);
    return res;
}
