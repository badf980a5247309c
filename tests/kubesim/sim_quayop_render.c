/*
 * The Quay Operator stand-in's rendering: what quay-operator's
 * pkg/kustomize (Inflate, KustomizationFor, FieldGroupFor, BaseQuayConfig)
 * and pkg/middleware (Process, FlattenSecret) turn a QuayRegistry and its
 * config bundle into. Sources are cited in sim_quayop.c; the shapes here are
 * the parts our operator (and its tests) can observe:
 *   - `<name>-quay-config-secret-<hash>`: every bundle key, plus config.yaml
 *     with the generated keys (DATABASE_SECRET_KEY, SECRET_KEY, DB_URI) and
 *     BaseQuayConfig's defaults, plus one `<component>.config.yaml` per
 *     managed component (its field group). The hash is taken over that
 *     content (as kustomize's secretGenerator does, before the middleware
 *     runs); then the middleware flattens the `*.config.yaml` files into
 *     config.yaml and drops ssl.cert/ssl.key/clair-ssl.* and every
 *     `extra_ca_cert_*` key.
 *   - `<name>-extra-ca-certs-<hash>`: each `extra_ca_cert_<x>` bundle key as
 *     key `<x>` (always generated, empty when there is none).
 *   - `<name>-quay-config-tls-<hash>`: ssl.cert/ssl.key when the bundle has them.
 *   - `<name>-quay-registry-managed-secret-keys` (no hash): the generated keys,
 *     re-read on every reconcile so renders are stable across reconciles and
 *     simulator restarts.
 *   - Deployments quay-app, quay-mirror, clair-app, quay-database, quay-redis,
 *     clair-postgres for the managed components, with the middleware's env,
 *     replicas, labels, annotations, affinity, resources and securityContext
 *     overrides; quay-app and quay-mirror mount the config and quay-config-tls
 *     Secrets as the projected volume `config` at /conf/stack (the mirror
 *     manifest, kustomize/components/mirror/mirror.deployment.yaml, does so;
 *     older base manifests used a `configvolume` secret volume) and get
 *     QE_K8S_CONFIG_SECRET naming the config Secret; quay-mirror uses the
 *     Recreate strategy, as its manifest says, so a new config takes it down.
 *   - ObjectBucketClaim `<name>-quay-datastore` (managed objectstorage) and
 *     HorizontalPodAutoscalers (managed HPA, when autoscaling/v2 is served).
 * Simplified: the hash is kustomize's algorithm (sha256 of the Secret as JSON,
 * first 10 hex digits with 0/1/3/a/e replaced) over our YAML, so names are
 * deterministic but not bit-identical to the real ones; Services, Routes,
 * ServiceAccounts, PVCs, NetworkPolicies, the upgrade Job and the
 * clair/postgres config Secrets are not rendered; the extra-ca-certs volume
 * projects that Secret alone (the real one adds the cluster CA ConfigMaps);
 * pods name no service account and have no init containers, ports or probes.
 */
#include "sim_quayop_int.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "k8s_buf.h"
#include "sim_util.h"
#include "sim_yaml.h"

#define QOP_YAML_MAX (8u << 20)

/* ---- component helpers ------------------------------------------------- */

const cJSON *qop_component(const cJSON *components, const char *kind)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, components)
    {
        const char *k = sim_jstr(c, "kind", NULL);
        if (k && strcmp(k, kind) == 0)
            return c;
    }
    return NULL;
}

int qop_managed(const cJSON *components, const char *kind)
{
    const cJSON *c;
    /* v1.ComponentIsManaged: quay is always managed. */
    if (strcmp(kind, "quay") == 0)
        return 1;
    c = qop_component(components, kind);
    return c && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "managed"));
}

const cJSON *qop_override(const cJSON *components, const char *kind, const char *field)
{
    return sim_jget(qop_component(components, kind), "overrides", field, NULL);
}

/* ---- YAML out ---------------------------------------------------------- */

static int yaml_out(void *data, unsigned char *buffer, size_t size)
{
    return k8s_buf_append(data, buffer, size) == 0;
}

/* Whether a plain scalar would read back as something other than this
 * string (sigs.k8s.io/yaml's typing), so it must be quoted. */
static int looks_typed(const char *s)
{
    static const char *const words[] = {
        "null", "Null", "NULL", "~",  "true", "True",  "TRUE", "false", "False", "FALSE", "yes",
        "Yes",  "YES",  "no",   "No", "NO",   "on",    "On",   "ON",    "off",   "Off",   "OFF",
        "y",    "Y",    "n",    "N",  ".inf", "-.inf", ".Inf", ".nan",  ".NaN",  NULL};
    char *end = NULL;
    if (!*s)
        return 1;
    for (size_t i = 0; words[i]; i++)
        if (strcmp(s, words[i]) == 0)
            return 1;
    (void)strtod(s, &end);
    if (end && *end == '\0')
        return 1;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'o'))
        return 1;
    return 0;
}

static int emit_scalar(yaml_emitter_t *em, const char *v, int plain)
{
    yaml_event_t ev;
    if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)v, (int)strlen(v), plain,
                                      !plain, YAML_ANY_SCALAR_STYLE))
        return -1;
    return yaml_emitter_emit(em, &ev) ? 0 : -1;
}

static int cmp_keys(const void *a, const void *b)
{
    const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
    return strcmp(x->string, y->string);
}

static int emit_node(yaml_emitter_t *em, const cJSON *v, int depth)
{
    yaml_event_t ev;
    char num[64];
    if (depth > 64)
        return -1;
    if (cJSON_IsObject(v)) {
        int n = cJSON_GetArraySize(v), i = 0, rc = 0;
        const cJSON **kids = calloc((size_t)(n ? n : 1), sizeof(*kids));
        const cJSON *c;
        if (!kids)
            return -1;
        cJSON_ArrayForEach(c, v) kids[i++] = c;
        /* sigs.k8s.io/yaml marshals through JSON: keys come out sorted. */
        qsort(kids, (size_t)n, sizeof(*kids), cmp_keys);
        if (!yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE) ||
            !yaml_emitter_emit(em, &ev))
            rc = -1;
        for (i = 0; rc == 0 && i < n; i++) {
            if (emit_scalar(em, kids[i]->string, !looks_typed(kids[i]->string)) != 0 ||
                emit_node(em, kids[i], depth + 1) != 0)
                rc = -1;
        }
        free(kids);
        if (rc == 0 && (!yaml_mapping_end_event_initialize(&ev) || !yaml_emitter_emit(em, &ev)))
            rc = -1;
        return rc;
    }
    if (cJSON_IsArray(v)) {
        const cJSON *c;
        if (!yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE) ||
            !yaml_emitter_emit(em, &ev))
            return -1;
        cJSON_ArrayForEach(c, v)
        {
            if (emit_node(em, c, depth + 1) != 0)
                return -1;
        }
        return yaml_sequence_end_event_initialize(&ev) && yaml_emitter_emit(em, &ev) ? 0 : -1;
    }
    if (cJSON_IsString(v))
        return emit_scalar(em, v->valuestring, !looks_typed(v->valuestring));
    if (cJSON_IsBool(v))
        return emit_scalar(em, cJSON_IsTrue(v) ? "true" : "false", 1);
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d == (double)(long long)d && d < 9e15 && d > -9e15)
            snprintf(num, sizeof(num), "%lld", (long long)d);
        else
            snprintf(num, sizeof(num), "%.17g", d);
        return emit_scalar(em, num, 1);
    }
    return emit_scalar(em, "null", 1);
}

char *qop_yaml_emit(const cJSON *v)
{
    yaml_emitter_t em;
    yaml_event_t ev;
    struct k8s_buf b;
    int ok;
    k8s_buf_init(&b, QOP_YAML_MAX);
    if (!yaml_emitter_initialize(&em))
        return NULL;
    yaml_emitter_set_output(&em, yaml_out, &b);
    yaml_emitter_set_unicode(&em, 1);
    yaml_emitter_set_width(&em, -1);
    yaml_emitter_set_indent(&em, 2);
    ok = yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING) &&
         yaml_emitter_emit(&em, &ev) &&
         yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1) &&
         yaml_emitter_emit(&em, &ev) && emit_node(&em, v, 0) == 0 &&
         yaml_document_end_event_initialize(&ev, 1) && yaml_emitter_emit(&em, &ev) &&
         yaml_stream_end_event_initialize(&ev) && yaml_emitter_emit(&em, &ev);
    yaml_emitter_delete(&em);
    if (!ok) {
        k8s_buf_free(&b);
        return NULL;
    }
    return k8s_buf_take(&b, NULL);
}

/* ---- bundle access ----------------------------------------------------- */

char *qop_bundle_value(const cJSON *bundle_data, const char *key, size_t *len)
{
    const char *b64 = sim_jstr(bundle_data, key, NULL);
    size_t n = 0;
    char *v;
    if (!b64)
        return NULL;
    v = (char *)sim_b64_decode(b64, &n);
    if (v && len)
        *len = n;
    return v;
}

/* YAML text -> object; an empty document is an empty object (as a Go map
 * unmarshalled from nothing is empty); anything but a mapping is an error. */
cJSON *qop_yaml_parse_map(const char *text, size_t len, char *err, size_t cap)
{
    cJSON *docs, *doc;
    docs = sim_yaml_parse_all(text ? text : "", text ? len : 0, err, cap);
    if (!docs)
        return NULL;
    if (cJSON_GetArraySize(docs) == 0) {
        cJSON_Delete(docs);
        return cJSON_CreateObject();
    }
    doc = cJSON_DetachItemFromArray(docs, 0);
    cJSON_Delete(docs);
    if (cJSON_IsNull(doc)) {
        cJSON_Delete(doc);
        return cJSON_CreateObject();
    }
    if (!cJSON_IsObject(doc)) {
        snprintf(err, cap,
                 "yaml: unmarshal errors:\n  line 1: cannot unmarshal !!%s into "
                 "map[string]interface {}",
                 cJSON_IsArray(doc) ? "seq" : "str");
        cJSON_Delete(doc);
        return NULL;
    }
    return doc;
}

cJSON *qop_bundle_config(const cJSON *bundle_data, char *err, size_t cap)
{
    size_t len = 0;
    char *text = qop_bundle_value(bundle_data, "config.yaml", &len);
    cJSON *cfg = qop_yaml_parse_map(text, len, err, cap);
    free(text);
    return cfg;
}

/* ---- pieces of the render ---------------------------------------------- */

/* kustomize's hash suffix: sha256 of {"data":..,"kind":"Secret","name":..,
 * "type":"Opaque"}, the first 10 hex digits with 0,1,3,a,e swapped for
 * g,h,k,m,t so the suffix cannot spell words. */
static int secret_hash(const char *name, const cJSON *data, char out[11])
{
    cJSON *o = cJSON_CreateObject(), *d = cJSON_CreateObject();
    const cJSON **kids;
    const cJSON *c;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    int n = cJSON_GetArraySize(data), i = 0, rc = -1;
    char *text = NULL;
    kids = calloc((size_t)(n ? n : 1), sizeof(*kids));
    if (!o || !d || !kids)
        goto out;
    cJSON_ArrayForEach(c, data) kids[i++] = c;
    qsort(kids, (size_t)n, sizeof(*kids), cmp_keys);
    for (i = 0; i < n; i++)
        cJSON_AddItemToObject(d, kids[i]->string, cJSON_Duplicate(kids[i], 1));
    cJSON_AddItemToObject(o, "data", d);
    d = NULL;
    cJSON_AddStringToObject(o, "kind", "Secret");
    cJSON_AddStringToObject(o, "name", name);
    cJSON_AddStringToObject(o, "type", "Opaque");
    text = cJSON_PrintUnformatted(o);
    if (!text || !EVP_Digest(text, strlen(text), md, &mdlen, EVP_sha256(), NULL))
        goto out;
    for (i = 0; i < 5; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    for (i = 0; i < 10; i++) {
        switch (out[i]) {
        case '0':
            out[i] = 'g';
            break;
        case '1':
            out[i] = 'h';
            break;
        case '3':
            out[i] = 'k';
            break;
        case 'a':
            out[i] = 'm';
            break;
        case 'e':
            out[i] = 't';
            break;
        default:
            break;
        }
    }
    out[10] = '\0';
    rc = 0;
out:
    free(text);
    free(kids);
    cJSON_Delete(d);
    cJSON_Delete(o);
    return rc;
}

static int set_b64(cJSON *data, const char *key, const char *text, size_t len)
{
    char *b = sim_b64_encode(text, len);
    int rc;
    if (!b)
        return -1;
    cJSON_DeleteItemFromObjectCaseSensitive(data, key);
    rc = cJSON_AddStringToObject(data, key, b) ? 0 : -1;
    free(b);
    return rc;
}

static int set_yaml(cJSON *data, const char *key, const cJSON *v)
{
    char *y;
    int rc;
    if (!v) {
        /* encode(nil) in Go: a field group of nil marshals as "null". */
        return set_b64(data, key, "null\n", 5);
    }
    y = qop_yaml_emit(v);
    if (!y)
        return -1;
    rc = set_b64(data, key, y, strlen(y));
    free(y);
    return rc;
}

/* generateRandomString: an 80-character key for secrets the operator makes. */
static void random_key(char *out, size_t n)
{
    if (sim_random_alnum(out, n) != 0)
        out[0] = '\0';
}

cJSON *qop_base_config(void)
{
    /* kustomize.BaseQuayConfig (QUAY_DEFAULT_BRANDING unset). */
    cJSON *c = cJSON_CreateObject();
    cJSON *tags = cJSON_CreateArray();
    if (!c || !tags) {
        cJSON_Delete(c);
        cJSON_Delete(tags);
        return NULL;
    }
    cJSON_AddBoolToObject(c, "SETUP_COMPLETE", 1);
    cJSON_AddBoolToObject(c, "FEATURE_MAILING", 0);
    cJSON_AddStringToObject(c, "REGISTRY_TITLE", "Quay");
    cJSON_AddStringToObject(c, "REGISTRY_TITLE_SHORT", "Quay");
    cJSON_AddStringToObject(c, "AUTHENTICATION_TYPE", "Database");
    cJSON_AddStringToObject(c, "ENTERPRISE_LOGO_URL", "/static/img/quay-horizontal-color.svg");
    cJSON_AddStringToObject(c, "DEFAULT_TAG_EXPIRATION", "2w");
    cJSON_AddBoolToObject(c, "ALLOW_PULLS_WITHOUT_STRICT_LOGGING", 0);
    cJSON_AddItemToArray(tags, cJSON_CreateString("2w"));
    cJSON_AddItemToObject(c, "TAG_EXPIRATION_OPTIONS", tags);
    cJSON_AddStringToObject(c, "TEAM_RESYNC_STALE_TIME", "60m");
    cJSON_AddBoolToObject(c, "FEATURE_DIRECT_LOGIN", 1);
    cJSON_AddBoolToObject(c, "FEATURE_BUILD_SUPPORT", 0);
    cJSON_AddBoolToObject(c, "TESTING", 0);
    return c;
}

/* FieldGroupFor: the config fields a managed component brings; NULL for the
 * components without a field group (hpa, monitoring, tls, quay, ...). */
static cJSON *field_group(const struct qop_render *r, const char *kind)
{
    const char *name = sim_jstr(r->qr, "metadata", "name", NULL);
    const char *ns = sim_jstr(r->qr, "metadata", "namespace", NULL);
    struct qop_ctx *ctx = r->ctx;
    char buf[600];
    cJSON *g;
    if (strcmp(kind, "clair") == 0) {
        cJSON *wl = cJSON_CreateArray();
        if (!ctx->psk[0]) {
            char raw[33];
            char *b;
            random_key(raw, 32);
            b = sim_b64_encode(raw, 32);
            if (b)
                sim_strlcpy(ctx->psk, b, sizeof(ctx->psk));
            free(b);
        }
        g = cJSON_CreateObject();
        cJSON_AddBoolToObject(g, "FEATURE_SECURITY_SCANNER", 1);
        cJSON_AddNumberToObject(g, "SECURITY_SCANNER_INDEXING_INTERVAL", 30);
        cJSON_AddBoolToObject(g, "SECURITY_SCANNER_NOTIFICATIONS", 1);
        snprintf(buf, sizeof(buf), "http://%s-clair-app.%s.svc.cluster.local", name, ns);
        cJSON_AddStringToObject(g, "SECURITY_SCANNER_V4_ENDPOINT", buf);
        cJSON_AddItemToArray(wl, cJSON_CreateString("admin"));
        cJSON_AddItemToObject(g, "SECURITY_SCANNER_V4_NAMESPACE_WHITELIST", wl);
        cJSON_AddStringToObject(g, "SECURITY_SCANNER_V4_PSK", ctx->psk);
        return g;
    }
    if (strcmp(kind, "redis") == 0) {
        cJSON *a = cJSON_CreateObject(), *b = cJSON_CreateObject();
        snprintf(buf, sizeof(buf), "%s-quay-redis", name);
        cJSON_AddStringToObject(a, "host", buf);
        cJSON_AddNumberToObject(a, "port", 6379);
        cJSON_AddStringToObject(b, "host", buf);
        cJSON_AddNumberToObject(b, "port", 6379);
        g = cJSON_CreateObject();
        cJSON_AddItemToObject(g, "BUILDLOGS_REDIS", a);
        cJSON_AddItemToObject(g, "USER_EVENTS_REDIS", b);
        return g;
    }
    if (strcmp(kind, "postgres") == 0) {
        cJSON *args = cJSON_CreateObject();
        cJSON_AddBoolToObject(args, "autorollback", 1);
        cJSON_AddBoolToObject(args, "threadlocals", 1);
        g = cJSON_CreateObject();
        cJSON_AddItemToObject(g, "DB_CONNECTION_ARGS", args);
        cJSON_AddStringToObject(g, "DB_URI", ctx->dburi);
        return g;
    }
    if (strcmp(kind, "objectstorage") == 0) {
        cJSON *args = cJSON_CreateObject(), *def = cJSON_CreateArray();
        cJSON *cfg = cJSON_CreateObject(), *pref = cJSON_CreateArray(), *locs = cJSON_CreateArray();
        cJSON_AddStringToObject(args, "access_key", ctx->storage_access);
        cJSON_AddStringToObject(args, "bucket_name", ctx->storage_bucket);
        cJSON_AddStringToObject(args, "hostname", ctx->storage_host);
        cJSON_AddBoolToObject(args, "is_secure", 1);
        cJSON_AddNumberToObject(args, "port", 443);
        cJSON_AddStringToObject(args, "secret_key", ctx->storage_secret);
        cJSON_AddStringToObject(args, "storage_path", "/datastorage/registry");
        cJSON_AddItemToArray(def, cJSON_CreateString("RHOCSStorage"));
        cJSON_AddItemToArray(def, args);
        cJSON_AddItemToObject(cfg, "local_us", def);
        cJSON_AddItemToArray(pref, cJSON_CreateString("local_us"));
        cJSON_AddItemToArray(locs, cJSON_CreateString("local_us"));
        g = cJSON_CreateObject();
        cJSON_AddItemToObject(g, "DISTRIBUTED_STORAGE_CONFIG", cfg);
        cJSON_AddItemToObject(g, "DISTRIBUTED_STORAGE_DEFAULT_LOCATIONS", locs);
        cJSON_AddItemToObject(g, "DISTRIBUTED_STORAGE_PREFERENCE", pref);
        cJSON_AddBoolToObject(g, "FEATURE_PROXY_STORAGE", 1);
        return g;
    }
    if (strcmp(kind, "route") == 0) {
        g = cJSON_CreateObject();
        /* TLS terminates at the router unless the bundle brings a cert. */
        cJSON_AddBoolToObject(g, "EXTERNAL_TLS_TERMINATION", !ctx->has_tls);
        cJSON_AddStringToObject(g, "PREFERRED_URL_SCHEME", "https");
        cJSON_AddStringToObject(g, "SERVER_HOSTNAME", ctx->server_hostname);
        return g;
    }
    if (strcmp(kind, "mirror") == 0) {
        g = cJSON_CreateObject();
        cJSON_AddBoolToObject(g, "FEATURE_REPO_MIRROR", 1);
        cJSON_AddNumberToObject(g, "REPO_MIRROR_INTERVAL", 30);
        cJSON_AddBoolToObject(g, "REPO_MIRROR_TLS_VERIFY", 1);
        return g;
    }
    return NULL;
}

static const char *field_group_name(const char *kind)
{
    static const char *const names[][2] = {
        {"clair", "SecurityScanner"}, {"postgres", "Database"},
        {"redis", "Redis"},           {"objectstorage", "DistributedStorage"},
        {"route", "HostSettings"},    {"mirror", "RepoMirror"}};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(kind, names[i][0]) == 0)
            return names[i][1];
    return NULL;
}

static cJSON *owner_refs(const cJSON *qr)
{
    cJSON *arr = cJSON_CreateArray(), *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "apiVersion", QOP_APIVERSION);
    cJSON_AddStringToObject(o, "kind", "QuayRegistry");
    cJSON_AddStringToObject(o, "name", sim_jstr(qr, "metadata", "name", NULL));
    cJSON_AddStringToObject(o, "uid", sim_jstr(qr, "metadata", "uid", NULL));
    cJSON_AddItemToArray(arr, o);
    return arr;
}

/* kustomize's commonLabels / commonAnnotations and the owner reference. */
static cJSON *object_meta(const struct qop_render *r, const char *name)
{
    const char *reg = sim_jstr(r->qr, "metadata", "name", NULL);
    cJSON *m = cJSON_CreateObject(), *labels = cJSON_CreateObject();
    cJSON *ann = cJSON_CreateObject();
    char buildman[256];
    char *colon;
    sim_strlcpy(buildman, r->ctx->buildman_hostname, sizeof(buildman));
    colon = strchr(buildman, ':');
    if (colon)
        *colon = '\0';
    cJSON_AddStringToObject(m, "name", name);
    cJSON_AddStringToObject(m, "namespace", sim_jstr(r->qr, "metadata", "namespace", NULL));
    cJSON_AddStringToObject(labels, "quay-operator/quayregistry", reg);
    cJSON_AddItemToObject(m, "labels", labels);
    cJSON_AddStringToObject(ann, "quay-buildmanager-hostname", buildman);
    cJSON_AddStringToObject(ann, "quay-operator-service-endpoint", "http://quay-operator:7071");
    cJSON_AddStringToObject(ann, "quay-registry-hostname", r->ctx->server_hostname);
    cJSON_AddItemToObject(m, "annotations", ann);
    cJSON_AddItemToObject(m, "ownerReferences", owner_refs(r->qr));
    return m;
}

static cJSON *secret_obj(const struct qop_render *r, const char *name, cJSON *data)
{
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "apiVersion", "v1");
    cJSON_AddStringToObject(s, "kind", "Secret");
    cJSON_AddItemToObject(s, "metadata", object_meta(r, name));
    cJSON_AddStringToObject(s, "type", "Opaque");
    cJSON_AddItemToObject(s, "data", data);
    return s;
}

/* middleware.FlattenSecret plus the key removals Process does after it. */
static int flatten(cJSON *data, char *err, size_t cap)
{
    cJSON *cfg = qop_bundle_config(data, err, cap);
    cJSON *c, *next;
    const cJSON **kids;
    int n, i = 0, rc = -1;
    char *y = NULL;
    if (!cfg)
        return -1;
    n = cJSON_GetArraySize(data);
    kids = calloc((size_t)(n ? n : 1), sizeof(*kids));
    if (!kids)
        goto out;
    cJSON_ArrayForEach(c, data) kids[i++] = c;
    qsort(kids, (size_t)n, sizeof(*kids), cmp_keys);
    for (i = 0; i < n; i++) {
        size_t len = 0;
        char *text;
        cJSON *part, *f;
        if (!strstr(kids[i]->string, ".config.yaml"))
            continue;
        text = qop_bundle_value(data, kids[i]->string, &len);
        part = qop_yaml_parse_map(text, len, err, cap);
        free(text);
        if (!part)
            goto out;
        cJSON_ArrayForEach(f, part)
        {
            cJSON_DeleteItemFromObjectCaseSensitive(cfg, f->string);
            cJSON_AddItemToObject(cfg, f->string, cJSON_Duplicate(f, 1));
        }
        cJSON_Delete(part);
    }
    for (c = data->child; c; c = next) {
        next = c->next;
        if (strstr(c->string, ".config.yaml") || strcmp(c->string, "ssl.cert") == 0 ||
            strcmp(c->string, "ssl.key") == 0 || strcmp(c->string, "clair-ssl.key") == 0 ||
            strcmp(c->string, "clair-ssl.crt") == 0 ||
            strncmp(c->string, "extra_ca_cert_", 14) == 0)
            cJSON_Delete(cJSON_DetachItemViaPointer(data, c));
    }
    y = qop_yaml_emit(cfg);
    if (!y || set_b64(data, "config.yaml", y, strlen(y)) != 0)
        goto out;
    rc = 0;
out:
    free(y);
    free(kids);
    cJSON_Delete(cfg);
    return rc;
}

/* UpsertContainerEnv for every container. */
static void upsert_env(cJSON *containers, const cJSON *var)
{
    cJSON *ct;
    const char *vn = sim_jstr(var, "name", NULL);
    if (!vn)
        return;
    cJSON_ArrayForEach(ct, containers)
    {
        cJSON *env = cJSON_GetObjectItemCaseSensitive(ct, "env"), *e;
        int idx = 0, found = 0;
        if (!env) {
            env = cJSON_CreateArray();
            cJSON_AddItemToObject(ct, "env", env);
        }
        cJSON_ArrayForEach(e, env)
        {
            const char *en = sim_jstr(e, "name", NULL);
            if (en && strcmp(en, vn) == 0) {
                cJSON_ReplaceItemInArray(env, idx, cJSON_Duplicate(var, 1));
                found = 1;
                break;
            }
            idx++;
        }
        if (!found)
            cJSON_AddItemToArray(env, cJSON_Duplicate(var, 1));
    }
}

static cJSON *env_var(const char *name, const char *value)
{
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "name", name);
    cJSON_AddStringToObject(e, "value", value);
    return e;
}

static int exception_label(const char *k)
{
    return strcmp(k, "quay-component") == 0 || strcmp(k, "app") == 0 ||
           strcmp(k, "quay-operator/quayregistry") == 0;
}

struct dep_spec {
    const char *kind;   /* the component */
    const char *suffix; /* <name>-<suffix> */
    const char *annot;  /* the quay-component annotation */
    const char *image;
};

static const struct dep_spec dep_specs[] = {
    {"quay", "quay-app", "quay", "quay.io/projectquay/quay"},
    {"mirror", "quay-mirror", "mirror", "quay.io/projectquay/quay"},
    {"clair", "clair-app", "clair", "quay.io/projectquay/clair"},
    {"postgres", "quay-database", "postgres", "quay.io/sclorg/postgresql-13-c9s"},
    {"redis", "quay-redis", "redis", "quay.io/sclorg/redis-7-c9s"},
    {"clairpostgres", "clair-postgres", "clair-postgres", "quay.io/sclorg/postgresql-15-c9s"},
};

static cJSON *deployment(const struct qop_render *r, const struct dep_spec *d)
{
    const char *reg = sim_jstr(r->qr, "metadata", "name", NULL);
    const cJSON *comps = sim_jget(r->qr, "spec", "components", NULL);
    const cJSON *ov, *c;
    int scaled = strcmp(d->suffix, "quay-app") == 0 || strcmp(d->suffix, "quay-mirror") == 0 ||
                 strcmp(d->suffix, "clair-app") == 0;
    int config = strcmp(d->kind, "quay") == 0 || strcmp(d->kind, "mirror") == 0;
    int db = strcmp(d->kind, "postgres") == 0 || strcmp(d->kind, "clairpostgres") == 0;
    char name[320], image[300], comp[64];
    cJSON *dep = cJSON_CreateObject(), *meta, *spec, *tmpl, *tmeta, *tspec, *ct, *cts;
    cJSON *sel, *labels, *tlabels, *tann, *vols, *mounts;
    snprintf(name, sizeof(name), "%s-%s", reg, d->suffix);
    snprintf(comp, sizeof(comp), "%s", d->suffix);
    snprintf(image, sizeof(image), "%s:%s", d->image, r->version);
    cJSON_AddStringToObject(dep, "apiVersion", "apps/v1");
    cJSON_AddStringToObject(dep, "kind", "Deployment");
    meta = object_meta(r, name);
    cJSON_AddItemToObject(dep, "metadata", meta);
    labels = cJSON_GetObjectItemCaseSensitive(meta, "labels");
    cJSON_AddStringToObject(labels, "quay-component", comp);
    cJSON_AddStringToObject(cJSON_GetObjectItemCaseSensitive(meta, "annotations"), "quay-component",
                            d->annot);
    spec = cJSON_AddObjectToObject(dep, "spec");
    sel = cJSON_AddObjectToObject(cJSON_AddObjectToObject(spec, "selector"), "matchLabels");
    cJSON_AddStringToObject(sel, "quay-component", comp);
    cJSON_AddStringToObject(sel, "quay-operator/quayregistry", reg);
    tmpl = cJSON_AddObjectToObject(spec, "template");
    tmeta = cJSON_AddObjectToObject(tmpl, "metadata");
    tlabels = cJSON_AddObjectToObject(tmeta, "labels");
    cJSON_AddStringToObject(tlabels, "quay-component", comp);
    cJSON_AddStringToObject(tlabels, "quay-operator/quayregistry", reg);
    tann = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(meta, "annotations"), 1);
    cJSON_DeleteItemFromObjectCaseSensitive(tann, "quay-component");
    cJSON_AddItemToObject(tmeta, "annotations", tann);
    tspec = cJSON_AddObjectToObject(tmpl, "spec");
    cts = cJSON_AddArrayToObject(tspec, "containers");
    ct = cJSON_CreateObject();
    cJSON_AddItemToArray(cts, ct);
    cJSON_AddStringToObject(ct, "name", comp);
    cJSON_AddStringToObject(ct, "image", image);
    if (config) {
        cJSON *env = cJSON_AddArrayToObject(ct, "env"), *ns = cJSON_CreateObject();
        cJSON *vol, *srcs, *src;
        cJSON_AddItemToArray(env, env_var("QE_K8S_CONFIG_SECRET", r->config_secret));
        cJSON_AddStringToObject(ns, "name", "QE_K8S_NAMESPACE");
        cJSON_AddStringToObject(
            cJSON_AddObjectToObject(cJSON_AddObjectToObject(ns, "valueFrom"), "fieldRef"),
            "fieldPath", "metadata.namespace");
        cJSON_AddItemToArray(env, ns);
        cJSON_AddItemToArray(env, env_var("DEBUGLOG", "false"));
        /* The rendered config and TLS Secrets projected into one volume,
         * as the component manifests mount them at /conf/stack. */
        vols = cJSON_AddArrayToObject(tspec, "volumes");
        vol = cJSON_CreateObject();
        cJSON_AddStringToObject(vol, "name", "config");
        srcs = cJSON_AddArrayToObject(cJSON_AddObjectToObject(vol, "projected"), "sources");
        src = cJSON_CreateObject();
        cJSON_AddStringToObject(cJSON_AddObjectToObject(src, "secret"), "name", r->config_secret);
        cJSON_AddItemToArray(srcs, src);
        src = cJSON_CreateObject();
        cJSON_AddStringToObject(cJSON_AddObjectToObject(src, "secret"), "name", r->tls_secret);
        cJSON_AddItemToArray(srcs, src);
        cJSON_AddItemToArray(vols, vol);
        vol = cJSON_CreateObject();
        cJSON_AddStringToObject(vol, "name", "extra-ca-certs");
        srcs = cJSON_AddArrayToObject(cJSON_AddObjectToObject(vol, "projected"), "sources");
        src = cJSON_CreateObject();
        cJSON_AddStringToObject(cJSON_AddObjectToObject(src, "secret"), "name", r->ca_secret);
        cJSON_AddItemToArray(srcs, src);
        cJSON_AddItemToArray(vols, vol);
        mounts = cJSON_AddArrayToObject(ct, "volumeMounts");
        vol = cJSON_CreateObject();
        cJSON_AddStringToObject(vol, "name", "config");
        cJSON_AddStringToObject(vol, "mountPath", "/conf/stack");
        cJSON_AddItemToArray(mounts, vol);
        vol = cJSON_CreateObject();
        cJSON_AddStringToObject(vol, "name", "extra-ca-certs");
        cJSON_AddBoolToObject(vol, "readOnly", 1);
        cJSON_AddStringToObject(vol, "mountPath", "/conf/stack/extra_ca_certs");
        cJSON_AddItemToArray(mounts, vol);
    }
    /* kustomize: the upgrade overlay scales quay-app to 0 while migrations run;
     * the database-like components run one replica. */
    if (r->upgrade && strcmp(d->suffix, "quay-app") == 0)
        cJSON_AddNumberToObject(spec, "replicas", 0);
    else if (!scaled)
        cJSON_AddNumberToObject(spec, "replicas", 1);
    /* mirror.deployment.yaml: Recreate, so a new config takes the mirror down. */
    if (strcmp(d->kind, "mirror") == 0)
        cJSON_AddStringToObject(cJSON_AddObjectToObject(spec, "strategy"), "type", "Recreate");

    /* middleware.Process. */
    ov = qop_override(comps, d->kind, "env");
    cJSON_ArrayForEach(c, ov) upsert_env(cts, c);
    if (strcmp(d->kind, "quay") == 0) {
        cJSON *v = env_var("QUAY_VERSION", r->version);
        upsert_env(cts, v);
        cJSON_Delete(v);
    }
    if ((ov = qop_override(comps, d->kind, "affinity")) != NULL)
        cJSON_AddItemToObject(tspec, "affinity", cJSON_Duplicate(ov, 1));
    cJSON_AddStringToObject(cJSON_GetObjectItemCaseSensitive(meta, "annotations"),
                            "cluster-service-ca", "");
    cJSON_AddStringToObject(cJSON_GetObjectItemCaseSensitive(meta, "annotations"),
                            "cluster-trusted-ca", "");
    cJSON_AddStringToObject(tann, "cluster-service-ca", "");
    cJSON_AddStringToObject(tann, "cluster-trusted-ca", "");
    if (scaled) {
        if (!qop_managed(comps, "horizontalpodautoscaler")) {
            /* Replicas set by the overlay stay (upgrades); else the override,
             * else 2 (see sim_quayop.c). */
            if (!cJSON_GetObjectItemCaseSensitive(spec, "replicas")) {
                ov = qop_override(comps, d->kind, "replicas");
                cJSON_AddNumberToObject(spec, "replicas", cJSON_IsNumber(ov) ? ov->valuedouble : 2);
            }
        } else if (!cJSON_GetObjectItemCaseSensitive(spec, "replicas")) {
            /* Left to the HPA: the apply step plays its minReplicas. */
            cJSON_AddBoolToObject(dep, "__qop_hpa", 1);
        }
    }
    if ((ov = qop_override(comps, d->kind, "labels")) != NULL) {
        cJSON_ArrayForEach(c, ov)
        {
            if (!cJSON_IsString(c) || exception_label(c->string))
                continue;
            cJSON_DeleteItemFromObjectCaseSensitive(labels, c->string);
            cJSON_AddStringToObject(labels, c->string, c->valuestring);
            cJSON_DeleteItemFromObjectCaseSensitive(tlabels, c->string);
            cJSON_AddStringToObject(tlabels, c->string, c->valuestring);
        }
    }
    if ((ov = qop_override(comps, d->kind, "resources")) != NULL)
        cJSON_AddItemToObject(ct, "resources", cJSON_Duplicate(ov, 1));
    if ((ov = qop_override(comps, d->kind, "securityContext")) != NULL)
        cJSON_AddItemToObject(ct, "securityContext", cJSON_Duplicate(ov, 1));
    if ((ov = qop_override(comps, d->kind, "annotations")) != NULL) {
        cJSON *dann = cJSON_GetObjectItemCaseSensitive(meta, "annotations");
        cJSON_ArrayForEach(c, ov)
        {
            if (!cJSON_IsString(c))
                continue;
            cJSON_DeleteItemFromObjectCaseSensitive(dann, c->string);
            cJSON_AddStringToObject(dann, c->string, c->valuestring);
            cJSON_DeleteItemFromObjectCaseSensitive(tann, c->string);
            cJSON_AddStringToObject(tann, c->string, c->valuestring);
        }
    }
    if (db) {
        cJSON_DeleteItemFromObjectCaseSensitive(tann, "quay-registry-hostname");
        cJSON_DeleteItemFromObjectCaseSensitive(tann, "quay-buildmanager-hostname");
        cJSON_DeleteItemFromObjectCaseSensitive(tann, "quay-operator-service-endpoint");
    } else {
        char fgns[256] = "";
        cJSON_ArrayForEach(c, comps)
        {
            const char *k = sim_jstr(c, "kind", NULL);
            const char *fg = k && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "managed"))
                                 ? field_group_name(k)
                                 : NULL;
            if (!fg)
                continue;
            if (fgns[0])
                strncat(fgns, ",", sizeof(fgns) - strlen(fgns) - 1);
            strncat(fgns, fg, sizeof(fgns) - strlen(fgns) - 1);
        }
        cJSON_AddStringToObject(tann, "quay-managed-fieldgroups", fgns);
    }
    return dep;
}

static cJSON *obc(const struct qop_render *r)
{
    const char *reg = sim_jstr(r->qr, "metadata", "name", NULL);
    char name[320];
    cJSON *o = cJSON_CreateObject(), *meta, *spec;
    snprintf(name, sizeof(name), "%s-quay-datastore", reg);
    cJSON_AddStringToObject(o, "apiVersion", "objectbucket.io/v1alpha1");
    cJSON_AddStringToObject(o, "kind", "ObjectBucketClaim");
    meta = object_meta(r, name);
    cJSON_AddStringToObject(cJSON_GetObjectItemCaseSensitive(meta, "annotations"), "quay-component",
                            "objectstorage");
    cJSON_AddItemToObject(o, "metadata", meta);
    spec = cJSON_AddObjectToObject(o, "spec");
    cJSON_AddStringToObject(spec, "storageClassName", "openshift-storage.noobaa.io");
    cJSON_AddStringToObject(spec, "generateBucketName", name);
    return o;
}

static cJSON *hpa(const struct qop_render *r, const char *suffix)
{
    const char *reg = sim_jstr(r->qr, "metadata", "name", NULL);
    char name[320];
    cJSON *o = cJSON_CreateObject(), *spec, *ref, *metrics, *m, *res, *tgt;
    snprintf(name, sizeof(name), "%s-%s", reg, suffix);
    cJSON_AddStringToObject(o, "apiVersion", "autoscaling/v2");
    cJSON_AddStringToObject(o, "kind", "HorizontalPodAutoscaler");
    cJSON_AddItemToObject(o, "metadata", object_meta(r, name));
    spec = cJSON_AddObjectToObject(o, "spec");
    ref = cJSON_AddObjectToObject(spec, "scaleTargetRef");
    cJSON_AddStringToObject(ref, "apiVersion", "apps/v1");
    cJSON_AddStringToObject(ref, "kind", "Deployment");
    cJSON_AddStringToObject(ref, "name", name);
    cJSON_AddNumberToObject(spec, "minReplicas", 2);
    cJSON_AddNumberToObject(spec, "maxReplicas", 20);
    metrics = cJSON_AddArrayToObject(spec, "metrics");
    m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "type", "Resource");
    res = cJSON_AddObjectToObject(m, "resource");
    cJSON_AddStringToObject(res, "name", "memory");
    tgt = cJSON_AddObjectToObject(res, "target");
    cJSON_AddStringToObject(tgt, "type", "Utilization");
    cJSON_AddNumberToObject(tgt, "averageUtilization", 90);
    cJSON_AddItemToArray(metrics, m);
    return o;
}

/* ---- Inflate ----------------------------------------------------------- */

int qop_inflate(struct qop_render *r, char *err, size_t cap)
{
    struct qop_ctx *ctx = r->ctx;
    const char *reg = sim_jstr(r->qr, "metadata", "name", NULL);
    const cJSON *comps = sim_jget(r->qr, "spec", "components", NULL);
    const char *cur = sim_jstr(r->qr, "status", "currentVersion", NULL);
    cJSON *files = NULL, *user = NULL, *ca = NULL, *keys = NULL, *tls = NULL, *c;
    const cJSON *v;
    char hash[11], gen[320];
    int db_changed = 0, rc = -1;
    char *y = NULL;

    r->objects = cJSON_CreateArray();
    files = cJSON_Duplicate(r->bundle_data, 1);
    if (!files)
        files = cJSON_CreateObject();
    user = cJSON_IsObject(r->usercfg) ? cJSON_Duplicate(r->usercfg, 1) : cJSON_CreateObject();
    ca = cJSON_CreateObject();
    keys = cJSON_CreateObject();
    tls = cJSON_CreateObject();
    if (!r->objects || !files || !user || !ca || !keys || !tls) {
        snprintf(err, cap, "out of memory");
        goto out;
    }

    /* The generated keys: the user's own win, else the stored ones, else new. */
    v = cJSON_GetObjectItemCaseSensitive(user, "DATABASE_SECRET_KEY");
    if (cJSON_IsString(v) && *v->valuestring)
        sim_strlcpy(ctx->dbsk, v->valuestring, sizeof(ctx->dbsk));
    else if (!ctx->dbsk[0])
        random_key(ctx->dbsk, 80);
    cJSON_DeleteItemFromObjectCaseSensitive(user, "DATABASE_SECRET_KEY");
    cJSON_AddStringToObject(user, "DATABASE_SECRET_KEY", ctx->dbsk);
    v = cJSON_GetObjectItemCaseSensitive(user, "SECRET_KEY");
    if (cJSON_IsString(v) && *v->valuestring)
        sim_strlcpy(ctx->sk, v->valuestring, sizeof(ctx->sk));
    else if (!ctx->sk[0])
        random_key(ctx->sk, 80);
    cJSON_DeleteItemFromObjectCaseSensitive(user, "SECRET_KEY");
    cJSON_AddStringToObject(user, "SECRET_KEY", ctx->sk);
    v = cJSON_GetObjectItemCaseSensitive(user, "DB_URI");
    if (cJSON_IsString(v) && *v->valuestring) {
        db_changed = strcmp(v->valuestring, ctx->dburi) != 0;
        sim_strlcpy(ctx->dburi, v->valuestring, sizeof(ctx->dburi));
    } else if (qop_managed(comps, "postgres") && !ctx->dburi[0]) {
        char pw[81];
        db_changed = 1;
        random_key(pw, 80);
        snprintf(ctx->dburi, sizeof(ctx->dburi),
                 "postgresql://%s-quay-database:%s@%s-quay-database:5432/%s-quay-database", reg, pw,
                 reg, reg);
    }
    cJSON_DeleteItemFromObjectCaseSensitive(user, "DB_URI");
    cJSON_AddStringToObject(user, "DB_URI", ctx->dburi);
    {
        cJSON *base = qop_base_config();
        cJSON_ArrayForEach(c, base)
        {
            if (!cJSON_GetObjectItemCaseSensitive(user, c->string))
                cJSON_AddItemToObject(user, c->string, cJSON_Duplicate(c, 1));
        }
        cJSON_Delete(base);
    }
    y = qop_yaml_emit(user);
    if (!y || set_b64(files, "config.yaml", y, strlen(y)) != 0) {
        snprintf(err, cap, "cannot encode config.yaml");
        goto out;
    }
    cJSON_ArrayForEach(c, comps)
    {
        const char *k = sim_jstr(c, "kind", NULL);
        char key[80];
        cJSON *g;
        if (!k || !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "managed")))
            continue;
        g = field_group(r, k);
        snprintf(key, sizeof(key), "%s.config.yaml", k);
        if (set_yaml(files, key, g) != 0) {
            cJSON_Delete(g);
            snprintf(err, cap, "cannot encode %s", key);
            goto out;
        }
        cJSON_Delete(g);
    }
    /* The upgrade overlay: a new operator version or new database settings. */
    r->upgrade = !cur || strcmp(cur, r->version) != 0 || db_changed;

    /* KustomizationFor: the clair database's and the root passwords. */
    if (qop_managed(comps, "clairpostgres") && !ctx->clair_pw[0]) {
        if (!ctx->dbrootpw[0])
            random_key(ctx->clair_pw, 32);
        else
            sim_strlcpy(ctx->clair_pw, "postgres", sizeof(ctx->clair_pw));
        sim_strlcpy(ctx->clair_rootpw, ctx->clair_pw, sizeof(ctx->clair_rootpw));
        sim_strlcpy(ctx->clair_user, "postgres", sizeof(ctx->clair_user));
        sim_strlcpy(ctx->clair_dbname, "postgres", sizeof(ctx->clair_dbname));
    }
    if (!ctx->dbrootpw[0])
        random_key(ctx->dbrootpw, 32);

    /* The config Secret: named by its content, then flattened. */
    snprintf(gen, sizeof(gen), "%s-quay-config-secret", reg);
    if (secret_hash(gen, files, hash) != 0 || flatten(files, err, cap) != 0) {
        if (!*err)
            snprintf(err, cap, "cannot render the config secret");
        goto out;
    }
    snprintf(r->config_secret, sizeof(r->config_secret), "%s-%s", gen, hash);
    cJSON_AddItemToArray(r->objects, secret_obj(r, r->config_secret, files));
    files = NULL;

    /* extra-ca-certs: extra_ca_cert_<x> -> <x>, from the bundle. */
    cJSON_ArrayForEach(v, r->bundle_data)
    {
        if (strncmp(v->string, "extra_ca_cert_", 14) == 0 && cJSON_IsString(v))
            cJSON_AddStringToObject(ca, v->string + 14, v->valuestring);
    }
    snprintf(gen, sizeof(gen), "%s-extra-ca-certs", reg);
    if (secret_hash(gen, ca, hash) != 0)
        goto out;
    snprintf(r->ca_secret, sizeof(r->ca_secret), "%s-%s", gen, hash);
    cJSON_AddItemToArray(r->objects, secret_obj(r, r->ca_secret, ca));
    ca = NULL;

    /* The managed keys, re-read by the next reconcile. */
    {
        const char *kv[][2] = {{"DATABASE_SECRET_KEY", ctx->dbsk},
                               {"SECRET_KEY", ctx->sk},
                               {"DB_URI", ctx->dburi},
                               {"DB_ROOT_PW", ctx->dbrootpw},
                               {"SECURITY_SCANNER_V4_PSK", ctx->psk},
                               {"CLAIR_DB_USER", ctx->clair_user},
                               {"CLAIR_DB_PASSWORD", ctx->clair_pw},
                               {"CLAIR_DB_ROOT_PW", ctx->clair_rootpw},
                               {"CLAIR_DB_NAME", ctx->clair_dbname}};
        for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++)
            if (set_b64(keys, kv[i][0], kv[i][1], strlen(kv[i][1])) != 0)
                goto out;
        snprintf(gen, sizeof(gen), "%s-quay-registry-managed-secret-keys", reg);
        cJSON_AddItemToArray(r->objects, secret_obj(r, gen, keys));
        keys = NULL;
    }

    /* quay-config-tls: the bundle's cert pair. */
    if (ctx->has_tls) {
        cJSON_AddStringToObject(tls, "ssl.cert", sim_jstr(r->bundle_data, "ssl.cert", NULL));
        cJSON_AddStringToObject(tls, "ssl.key", sim_jstr(r->bundle_data, "ssl.key", NULL));
    }
    snprintf(gen, sizeof(gen), "%s-quay-config-tls", reg);
    if (secret_hash(gen, tls, hash) != 0)
        goto out;
    {
        snprintf(r->tls_secret, sizeof(r->tls_secret), "%s-%s", gen, hash);
        cJSON_AddItemToArray(r->objects, secret_obj(r, r->tls_secret, tls));
        tls = NULL;
    }

    if (qop_managed(comps, "objectstorage"))
        cJSON_AddItemToArray(r->objects, obc(r));
    if (qop_managed(comps, "horizontalpodautoscaler") && r->autoscaling) {
        /* The middleware drops the HPAs of unmanaged clair and mirror. */
        cJSON_AddItemToArray(r->objects, hpa(r, "quay-app"));
        if (qop_managed(comps, "clair"))
            cJSON_AddItemToArray(r->objects, hpa(r, "clair-app"));
        if (qop_managed(comps, "mirror"))
            cJSON_AddItemToArray(r->objects, hpa(r, "quay-mirror"));
    }
    /* EnsureCreationOrder: Deployments after what they mount. */
    for (size_t i = 0; i < sizeof(dep_specs) / sizeof(dep_specs[0]); i++) {
        if (qop_managed(comps, dep_specs[i].kind))
            cJSON_AddItemToArray(r->objects, deployment(r, &dep_specs[i]));
    }
    rc = 0;
out:
    free(y);
    cJSON_Delete(files);
    cJSON_Delete(user);
    cJSON_Delete(ca);
    cJSON_Delete(keys);
    cJSON_Delete(tls);
    return rc;
}

void qop_render_free(struct qop_render *r)
{
    cJSON_Delete(r->objects);
    r->objects = NULL;
}
