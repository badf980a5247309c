/*
 * STAND-IN for OpenShift's cluster-image-registry-operator, written after its
 * source (pkg/operator/controller.go and status.go, pkg/resource/
 * deployment.go, podtemplatespec.go, dependencies.go and clusteroperator.go,
 * pkg/storage/{s3,swift,pvc,emptydir}) as of the 4.1x releases. Each tick it
 * does what the operator's sync does for configs.imageregistry.operator.
 * openshift.io/cluster:
 *
 *  - Managed: adds its finalizer, fills spec.httpSecret when empty, syncs the
 *    storage (exactly one of s3, swift, pvc, emptyDir, gcs, azure, ibmcos,
 *    oss; none is the permanent error StorageNotConfigured, several a
 *    retried "exactly one storage type..." error), writes the
 *    image-registry-private-configuration Secret (the S3 credentials file
 *    built from image-registry-private-configuration-user or
 *    installer-cloud-credentials; Swift's user name and password as
 *    secretKeyRef env) and applies the image-registry Deployment as
 *    library-go's ApplyDeployment does (spec-hash and checksum annotations,
 *    rewritten when someone else changed its generation), with the env the
 *    operator renders (REGISTRY_STORAGE_S3_FORCEPATHSTYLE — the newer name of
 *    the inverse of virtualHostedStyle — REGISTRY_STORAGE_MAINTENANCE_READONLY
 *    "{enabled: true}" for spec.readOnly, ...) and the
 *    imageregistry.operator.openshift.io/dependencies-checksum pod-template
 *    annotation over the Secrets and ConfigMaps the pods use, so a credential
 *    change rolls the registry out like a storage change does.
 *  - Removed: deletes the Deployment (foreground, grace 0) and the Secret.
 *  - Unmanaged: touches nothing.
 *  - status: observedGeneration, conditions (StorageExists as the storage
 *    drivers word it, then Available, Progressing, Degraded, Removed as
 *    status.go decides them), readyReplicas, storage, storageManaged and
 *    generations; then clusteroperators/image-registry with the union of
 *    those conditions (reason "Ready", message "Progressing: The registry is
 *    ready", reason AsExpected when nothing is wrong), versions (once the
 *    Deployment is available and updated) and relatedObjects.
 *
 * The operator's awkward ways kept on purpose: Progressing is True
 * ("DeploymentNotCompleted") only until the Deployment controller has
 * observed the new generation, then False "MinimumAvailability" for the rest
 * of the rollout — the current release's rule (older releases stayed True
 * until the rollout completed: knob "progressingUntilComplete"); its own spec
 * writes (storage.managementState, a generated bucket name, httpSecret) bump
 * the config's generation; Degraded turns True "Unavailable" only after
 * Available has been False for a minute; StorageExists loses its message on
 * the sync after the one that created it.
 *
 * Simplified: no cloud calls — storage always "exists" (a missing bucket or
 * container name is generated and reported as created); gcs, azure, ibmcos and
 * oss render their env and conditions approximately; S3's cloudFront and
 * trustedCA and the Infrastructure object's region/endpoint defaults are not
 * modelled; no Service, Route, node-ca DaemonSet, image pruner, CA
 * ConfigMaps or RBAC objects; the namespace gets the SCC supplemental-groups annotation OpenShift's
 * namespace controller would add (the pods' fsGroup comes from it); spec.proxy is honoured but the
 * cluster Proxy object is not consulted; a sync runs every tick instead of on informer events.
 */
#include "sim_imgreg.h"

#include <openssl/evp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8s_patch.h"
#include "sim_internal.h"
#include "sim_kind.h"
#include "sim_server.h"
#include "sim_store.h"
#include "sim_util.h"
#include "sim_workloads.h"

#define IR_GROUP     "imageregistry.operator.openshift.io"
#define IR_NS        "openshift-image-registry"
#define IR_NAME      "image-registry"
#define CFG_PATH     "/apis/imageregistry.operator.openshift.io/v1/configs/cluster"
#define CO_PATH      "/apis/config.openshift.io/v1/clusteroperators/image-registry"
#define DEPLOY_PATH  "/apis/apps/v1/namespaces/openshift-image-registry/deployments/image-registry"
#define SECRET_NAME  "image-registry-private-configuration"
#define USER_SECRET  "image-registry-private-configuration-user"
#define CLOUD_SECRET "installer-cloud-credentials"
#define FINALIZER    "imageregistry.operator.openshift.io/finalizer"
#define SCC_GROUPS   "openshift.io/sa.scc.supplemental-groups"
#define S3_CREDS_DIR "/var/run/secrets/cloud"

struct sim_imgreg {
    int unused;
};

/* What createOrUpdateResources returned: permanent errors set Degraded. */
struct applyerr {
    int set;
    int permanent;
    char reason[64];
    char msg[1024];
};

/* One sync. */
struct rsync {
    struct sim_server *srv;
    cJSON *cr;      /* working copy of the config */
    cJSON *env;     /* the storage driver's env */
    cJSON *vols;    /* its volumes */
    cJSON *mounts;  /* its volume mounts */
    cJSON *secdata; /* the private configuration Secret's data (plain strings) */
    struct applyerr err;
};

/* ---- helpers ---- */

static void set_err(struct applyerr *e, int permanent, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void set_err(struct applyerr *e, int permanent, const char *reason, const char *fmt, ...)
{
    va_list ap;
    if (e->set)
        return;
    e->set = 1;
    e->permanent = permanent;
    sim_strlcpy(e->reason, reason ? reason : "", sizeof(e->reason));
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
}

static const cJSON *stored(struct sim_server *srv, const char *group, const char *resource,
                           const char *ns, const char *name)
{
    struct sim_coll *c = sim_store_coll(srv->store, group, resource, 0);
    struct sim_obj *o = c ? sim_coll_get(c, ns, name) : NULL;
    return o ? o->json : NULL;
}

/* A Secret's decoded value (malloc'd), or NULL. */
static char *secret_value(struct sim_server *srv, const char *name, const char *key)
{
    const char *b64 = sim_jstr(stored(srv, "", "secrets", IR_NS, name), "data", key, NULL);
    unsigned char *raw;
    size_t n = 0;
    char *s;
    if (!b64)
        return NULL;
    raw = sim_b64_decode(b64, &n);
    if (!raw)
        return NULL;
    s = malloc(n + 1);
    if (s) {
        memcpy(s, raw, n);
        s[n] = '\0';
    }
    free(raw);
    return s;
}

/* Sorts object members by key, recursively, so the printed JSON is stable. */
static void sort_keys(cJSON *v)
{
    size_t n = 0, i = 0;
    cJSON *c, **kids;
    if (!cJSON_IsObject(v) && !cJSON_IsArray(v))
        return;
    for (c = v->child; c; c = c->next) {
        sort_keys(c);
        n++;
    }
    if (!cJSON_IsObject(v) || n < 2)
        return;
    kids = calloc(n, sizeof(*kids));
    if (!kids)
        return;
    for (c = v->child; c; c = c->next)
        kids[i++] = c;
    for (i = 1; i < n; i++) { /* insertion sort: members are few */
        cJSON *k = kids[i];
        size_t j = i;
        while (j > 0 && strcmp(kids[j - 1]->string, k->string) > 0) {
            kids[j] = kids[j - 1];
            j--;
        }
        kids[j] = k;
    }
    /* cJSON keeps the first child's prev pointing at the last one. */
    for (i = 0; i < n; i++) {
        kids[i]->prev = i ? kids[i - 1] : kids[n - 1];
        kids[i]->next = i + 1 < n ? kids[i + 1] : NULL;
    }
    v->child = kids[0];
    free(kids);
}

/* Hex SHA-256 of the canonical JSON of `v` into out[65]. */
static void sha256_json(const cJSON *v, char out[65])
{
    cJSON *copy = v ? cJSON_Duplicate(v, 1) : cJSON_CreateNull();
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    size_t len = 0;
    char *text;
    out[0] = '\0';
    if (!copy)
        return;
    sort_keys(copy);
    text = k8s_json_print(copy, &len);
    cJSON_Delete(copy);
    if (!text)
        return;
    if (EVP_Digest(text, len, md, &mdlen, EVP_sha256(), NULL) == 1)
        for (unsigned int i = 0; i < mdlen && i < 32; i++)
            snprintf(out + 2 * i, 3, "%02x", md[i]);
    free(text);
}

static int call_ok(int code)
{
    return code >= 200 && code < 300;
}

static int has_deletion_ts(const cJSON *o)
{
    return sim_jget(o, "metadata", "deletionTimestamp", NULL) != NULL;
}

/* ---- conditions ---- */

/* updateCondition / util.UpdateCondition: lastTransitionTime moves only
 * with the status; new conditions are appended. */
static void op_cond(cJSON *cr, const char *type, const char *status, const char *reason,
                    const char *msg)
{
    cJSON *st = sim_jobj(cr, "status"), *conds, *c;
    char ts[32];
    if (!st)
        return;
    conds = cJSON_GetObjectItemCaseSensitive(st, "conditions");
    if (!cJSON_IsArray(conds)) {
        conds = cJSON_CreateArray();
        if (sim_jset(st, "conditions", conds) != 0)
            return;
    }
    sim_rfc3339(sim_now_unix(), ts);
    c = sim_cond_find(conds, type);
    if (!c) {
        c = cJSON_CreateObject();
        if (!c)
            return;
        cJSON_AddStringToObject(c, "type", type);
        cJSON_AddStringToObject(c, "status", status);
        cJSON_AddStringToObject(c, "lastTransitionTime", ts);
        cJSON_AddItemToArray(conds, c);
    } else if (!sim_jstr(c, "status", NULL) || strcmp(sim_jstr(c, "status", NULL), status) != 0) {
        sim_jset_str(c, "status", status);
        sim_jset_str(c, "lastTransitionTime", ts);
    }
    if (reason && *reason)
        sim_jset_str(c, "reason", reason);
    else
        cJSON_DeleteItemFromObjectCaseSensitive(c, "reason");
    if (msg && *msg)
        sim_jset_str(c, "message", msg);
    else
        cJSON_DeleteItemFromObjectCaseSensitive(c, "message");
}

/* ---- env, volumes, secret data ---- */

static void env_val(cJSON *env, const char *name, const char *value)
{
    cJSON *e = cJSON_CreateObject();
    if (!e)
        return;
    cJSON_AddStringToObject(e, "name", name);
    cJSON_AddStringToObject(e, "value", value);
    cJSON_AddItemToArray(env, e);
}

/* A secret env var: the value goes to the private configuration Secret
 * (envvar.List.SecretData: YAML-encoded, so "" becomes the two characters
 * `""`) and the container reads it by secretKeyRef. */
static void env_secret(struct rsync *x, const char *name, const char *value)
{
    cJSON *e = cJSON_CreateObject(), *ref;
    if (!e)
        return;
    cJSON_AddStringToObject(e, "name", name);
    ref = cJSON_AddObjectToObject(cJSON_AddObjectToObject(e, "valueFrom"), "secretKeyRef");
    cJSON_AddStringToObject(ref, "name", SECRET_NAME);
    cJSON_AddStringToObject(ref, "key", name);
    cJSON_AddItemToArray(x->env, e);
    sim_jset_str(x->secdata, name, value && *value ? value : "\"\"");
}

static void vol_secret(struct rsync *x, const char *vol, const char *secret, const char *mount,
                       const char *item_key, const char *item_path)
{
    cJSON *v = cJSON_CreateObject(), *s, *m = cJSON_CreateObject();
    if (!v || !m) {
        cJSON_Delete(v);
        cJSON_Delete(m);
        return;
    }
    cJSON_AddStringToObject(v, "name", vol);
    s = cJSON_AddObjectToObject(v, "secret");
    cJSON_AddStringToObject(s, "secretName", secret);
    if (item_key) {
        cJSON *it = cJSON_CreateObject();
        cJSON_AddStringToObject(it, "key", item_key);
        cJSON_AddStringToObject(it, "path", item_path);
        cJSON_AddItemToArray(cJSON_AddArrayToObject(s, "items"), it);
    }
    cJSON_AddBoolToObject(s, "optional", 0);
    cJSON_AddItemToArray(x->vols, v);
    cJSON_AddStringToObject(m, "name", vol);
    cJSON_AddStringToObject(m, "mountPath", mount);
    cJSON_AddBoolToObject(m, "readOnly", 1);
    cJSON_AddItemToArray(x->mounts, m);
}

static void vol_registry_storage(struct rsync *x, cJSON *source_member, const char *member)
{
    cJSON *v = cJSON_CreateObject(), *m = cJSON_CreateObject();
    if (!v || !m || !source_member) {
        cJSON_Delete(v);
        cJSON_Delete(m);
        cJSON_Delete(source_member);
        return;
    }
    cJSON_AddStringToObject(v, "name", "registry-storage");
    cJSON_AddItemToObject(v, member, source_member);
    cJSON_AddItemToArray(x->vols, v);
    cJSON_AddStringToObject(m, "name", "registry-storage");
    cJSON_AddStringToObject(m, "mountPath", "/registry");
    cJSON_AddItemToArray(x->mounts, m);
}

/* ---- storage drivers ---- */

struct driver {
    const char *key;   /* spec.storage member */
    const char *title; /* as messages and MultiStoragesError name it */
};

/* storage.NewDriver's order. */
static const struct driver drivers[] = {
    {"emptyDir", "EmptyDir"}, {"s3", "S3"},   {"swift", "Swift"}, {"gcs", "GCS"},
    {"ibmcos", "IBMCOS"},     {"pvc", "PVC"}, {"azure", "Azure"}, {"oss", "OSS"},
};
#define NDRIVERS (sizeof(drivers) / sizeof(drivers[0]))

static const char *str_or(const cJSON *o, const char *key, const char *def)
{
    const char *s = sim_jstr(o, key, NULL);
    return s ? s : def;
}

static const char *tf(int v)
{
    return v ? "true" : "false";
}

/* util.GenerateStorageName: <infra>[-<extra>]-image-registry-<uuid>, <= 63. */
static void generate_name(struct rsync *x, const char *extra, char out[64])
{
    char uuid[37], id[33], buf[256];
    size_t j = 0, n;
    const char *infra = sim_wl_str(x->srv, "kubesim", "imageRegistry", "infrastructureName", NULL);
    sim_uuid(&x->srv->rng, uuid);
    for (size_t i = 0; uuid[i] && j < 32; i++)
        if (uuid[i] != '-')
            id[j++] = uuid[i];
    id[j] = '\0';
    snprintf(buf, sizeof(buf), "%s%s%s-image-registry-%s", infra, extra && *extra ? "-" : "",
             extra ? extra : "", id);
    for (size_t i = 0; buf[i]; i++)
        if (buf[i] >= 'A' && buf[i] <= 'Z')
            buf[i] = (char)(buf[i] - 'A' + 'a');
    sim_strlcpy(out, buf, 64);
    n = strlen(out);
    while (n > 0 && out[n - 1] == '-')
        out[--n] = '\0';
}

/* The AWS shared credentials file the registry reads (s3.go). */
static int s3_credentials(struct rsync *x, char **file)
{
    char *ak, *sk, *creds;
    size_t cap;
    *file = NULL;
    if (stored(x->srv, "", "secrets", IR_NS, USER_SECRET)) {
        ak = secret_value(x->srv, USER_SECRET, "REGISTRY_STORAGE_S3_ACCESSKEY");
        sk = secret_value(x->srv, USER_SECRET, "REGISTRY_STORAGE_S3_SECRETKEY");
        if (!ak || !sk) {
            set_err(&x->err, 0, "",
                    "unable to sync storage configuration: secret \"%s/%s\" does not contain "
                    "required key \"%s\"",
                    IR_NS, USER_SECRET,
                    !ak ? "REGISTRY_STORAGE_S3_ACCESSKEY" : "REGISTRY_STORAGE_S3_SECRETKEY");
            free(ak);
            free(sk);
            return -1;
        }
    } else if (stored(x->srv, "", "secrets", IR_NS, CLOUD_SECRET)) {
        creds = secret_value(x->srv, CLOUD_SECRET, "credentials");
        if (creds) {
            *file = creds;
            return 0;
        }
        ak = secret_value(x->srv, CLOUD_SECRET, "aws_access_key_id");
        sk = secret_value(x->srv, CLOUD_SECRET, "aws_secret_access_key");
        if (!ak || !sk) {
            set_err(&x->err, 0, "",
                    "unable to sync storage configuration: failed to save shared secrets file: "
                    "invalid cloud credentials in secret \"%s/%s\"",
                    IR_NS, CLOUD_SECRET);
            free(ak);
            free(sk);
            return -1;
        }
    } else {
        set_err(&x->err, 0, "",
                "unable to sync storage configuration: unable to get cluster minted credentials "
                "\"%s/%s\": secret \"%s\" not found",
                IR_NS, CLOUD_SECRET, CLOUD_SECRET);
        return -1;
    }
    cap = strlen(ak) + strlen(sk) + 96;
    creds = malloc(cap);
    if (creds)
        snprintf(creds, cap, "[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n", ak,
                 sk);
    memset(sk, 0, strlen(sk));
    free(ak);
    free(sk);
    *file = creds;
    return creds ? 0 : -1;
}

/* StorageChanged: status.storage.<key> differs from spec.storage.<key>. */
static int storage_changed(const cJSON *cr, const struct driver *d)
{
    const cJSON *a = sim_jget(cr, "status", "storage", d->key, NULL);
    const cJSON *b = sim_jget(cr, "spec", "storage", d->key, NULL);
    return !a || !b || !k8s_json_equal(a, b);
}

/* The effective configuration becomes status.storage (and spec.storage for
 * what the operator filled in). */
static void storage_in_use(struct rsync *x, const struct driver *d, const cJSON *cfg)
{
    cJSON *s = cJSON_CreateObject();
    if (!s)
        return;
    cJSON_AddItemToObject(s, d->key, cJSON_Duplicate(cfg, 1));
    sim_jset(sim_jobj(x->cr, "status"), "storage", s);
}

static void set_storage_mgmt_default(struct rsync *x, const char *state)
{
    cJSON *st = sim_jobj(sim_jobj(x->cr, "spec"), "storage");
    if (st && !sim_jstr(st, "managementState", NULL))
        sim_jset_str(st, "managementState", state);
}

static int storage_managed(const cJSON *cr)
{
    const char *m = sim_jstr(cr, "spec", "storage", "managementState", NULL);
    return m && strcmp(m, "Managed") == 0;
}

static void sync_s3(struct rsync *x, const struct driver *d, cJSON *cfg, int changed)
{
    char *creds = NULL, num[32], bucket[64];
    const char *endpoint, *keyid;
    long chunk;
    if (changed)
        op_cond(x->cr, "StorageExists", "Unknown", "S3 Configuration Changed",
                "S3 storage is in an unknown state");
    if (s3_credentials(x, &creds) != 0) {
        if (!changed)
            op_cond(x->cr, "StorageExists", "Unknown", "Unknown Error Occurred", x->err.msg);
        return;
    }
    if (changed) { /* CreateStorage */
        if (!*str_or(cfg, "bucket", "")) {
            generate_name(x, str_or(cfg, "region", ""), bucket);
            sim_jset_str(cfg, "bucket", bucket);
            set_storage_mgmt_default(x, "Managed");
            sim_jset(sim_jobj(x->cr, "status"), "storageManaged", cJSON_CreateTrue());
            op_cond(x->cr, "StorageExists", "True", "Creation Successful",
                    "S3 bucket was successfully created");
        } else {
            set_storage_mgmt_default(x, "Unmanaged");
            op_cond(x->cr, "StorageExists", "True", "S3 Bucket Exists",
                    "User supplied S3 bucket exists and is accessible");
        }
        if (storage_managed(x->cr)) {
            const char *kms = str_or(cfg, "keyID", "");
            char msg[128];
            op_cond(x->cr, "StoragePublicAccessBlocked", "True", "Public Access Block Successful",
                    "Public access to the S3 bucket and its contents have been successfully "
                    "blocked.");
            op_cond(x->cr, "StorageTagged", "True", "Tagging Successful",
                    "Tags were successfully applied to the S3 bucket");
            snprintf(msg, sizeof(msg),
                     "Default %s encryption was successfully enabled on the S3 bucket",
                     *kms ? "aws:kms" : "AES256");
            op_cond(x->cr, "StorageEncrypted", "True", "Encryption Successful", msg);
            sim_jset(cfg, "encrypt", cJSON_CreateTrue());
            op_cond(x->cr, "StorageIncompleteUploadCleanupEnabled", "True",
                    "Enable Cleanup Successful",
                    "Default cleanup of incomplete multipart uploads after one (1) day was "
                    "successfully enabled");
        }
        storage_in_use(x, d, cfg);
    } else {
        op_cond(x->cr, "StorageExists", "True", "S3 Bucket Exists", "");
    }
    endpoint = str_or(cfg, "regionEndpoint", "");
    keyid = str_or(cfg, "keyID", "");
    if (*endpoint)
        env_val(x->env, "REGISTRY_STORAGE_S3_REGIONENDPOINT", endpoint);
    if (*keyid)
        env_val(x->env, "REGISTRY_STORAGE_S3_KEYID", keyid);
    env_val(x->env, "REGISTRY_STORAGE", "s3");
    env_val(x->env, "REGISTRY_STORAGE_S3_BUCKET", str_or(cfg, "bucket", ""));
    env_val(x->env, "REGISTRY_STORAGE_S3_REGION", str_or(cfg, "region", ""));
    env_val(x->env, "REGISTRY_STORAGE_S3_ENCRYPT",
            tf(cJSON_IsTrue(sim_jget(cfg, "encrypt", NULL))));
    env_val(x->env, "REGISTRY_STORAGE_S3_FORCEPATHSTYLE",
            tf(!cJSON_IsTrue(sim_jget(cfg, "virtualHostedStyle", NULL))));
    env_val(x->env, "REGISTRY_STORAGE_S3_CREDENTIALSCONFIGPATH", S3_CREDS_DIR "/credentials");
    chunk = sim_jnum(cfg, 0, "chunkSizeMiB", NULL);
    if (chunk > 0) {
        snprintf(num, sizeof(num), "%ld", chunk * 1048576L);
        env_val(x->env, "REGISTRY_STORAGE_S3_CHUNKSIZE", num);
    }
    vol_secret(x, SECRET_NAME, SECRET_NAME, S3_CREDS_DIR, NULL, NULL);
    sim_jset_str(x->secdata, "credentials", creds);
    memset(creds, 0, strlen(creds));
    free(creds);
}

/* ensureAuthURLHasAPIVersion. */
static int swift_auth_url(const char *url, const char *ver, char *out, size_t cap)
{
    const char *p = strstr(url, "://");
    const char *path = p ? strchr(p + 3, '/') : NULL;
    if (!path || strcmp(path, "/") == 0) {
        snprintf(out, cap, "%s%sv%s", url, path ? "" : "/", ver);
        return 0;
    }
    if (strncmp(path, "/v1", 3) == 0 || strncmp(path, "/v2", 3) == 0 ||
        strncmp(path, "/v3", 3) == 0) {
        snprintf(out, cap, "%s", url);
        return 0;
    }
    snprintf(out, cap, "Incorrect Auth URL: %s", path);
    return -1;
}

static void sync_swift(struct rsync *x, const struct driver *d, cJSON *cfg, int changed)
{
    static const char *const secret_keys[] = {"REGISTRY_STORAGE_SWIFT_USERNAME",
                                              "REGISTRY_STORAGE_SWIFT_PASSWORD",
                                              "REGISTRY_STORAGE_SWIFT_APPLICATIONCREDENTIALID",
                                              "REGISTRY_STORAGE_SWIFT_APPLICATIONCREDENTIALNAME",
                                              "REGISTRY_STORAGE_SWIFT_APPLICATIONCREDENTIALSECRET",
                                              NULL};
    static const char *const opt[][2] = {{"domain", "REGISTRY_STORAGE_SWIFT_DOMAIN"},
                                         {"domainID", "REGISTRY_STORAGE_SWIFT_DOMAINID"},
                                         {"tenant", "REGISTRY_STORAGE_SWIFT_TENANT"},
                                         {"tenantID", "REGISTRY_STORAGE_SWIFT_TENANTID"},
                                         {"regionName", "REGISTRY_STORAGE_SWIFT_REGION"}};
    char url[1024], name[64];
    const char *ver = str_or(cfg, "authVersion", "");
    if (!*ver)
        ver = "3";
    if (changed)
        op_cond(x->cr, "StorageExists", "Unknown", "Swift Configuration Changed",
                "Swift storage is in an unknown state");
    if (!stored(x->srv, "", "secrets", IR_NS, USER_SECRET) &&
        !stored(x->srv, "", "secrets", IR_NS, CLOUD_SECRET)) {
        set_err(&x->err, 0, "",
                "unable to sync storage configuration: unable to get cloud credentials: secret "
                "\"%s\" not found",
                CLOUD_SECRET);
        return;
    }
    if (swift_auth_url(str_or(cfg, "authURL", ""), ver, url, sizeof(url)) != 0) {
        set_err(&x->err, 0, "", "unable to sync storage configuration: %s", url);
        return;
    }
    if (changed) {
        if (!*str_or(cfg, "container", "")) {
            generate_name(x, "", name);
            sim_jset_str(cfg, "container", name);
            set_storage_mgmt_default(x, "Managed");
            sim_jset(sim_jobj(x->cr, "status"), "storageManaged", cJSON_CreateTrue());
            op_cond(x->cr, "StorageExists", "True", "Swift Container Created", "");
        } else {
            set_storage_mgmt_default(x, "Unmanaged");
            op_cond(x->cr, "StorageExists", "True", "Container exists",
                    "User supplied container already exists");
        }
        storage_in_use(x, d, cfg);
    } else {
        op_cond(x->cr, "StorageExists", "True", "Swift container Exists", "");
    }
    env_val(x->env, "REGISTRY_STORAGE", "swift");
    env_val(x->env, "REGISTRY_STORAGE_SWIFT_CONTAINER", str_or(cfg, "container", ""));
    env_val(x->env, "REGISTRY_STORAGE_SWIFT_AUTHURL", url);
    for (size_t i = 0; secret_keys[i]; i++) {
        char *v = secret_value(x->srv, USER_SECRET, secret_keys[i]);
        env_secret(x, secret_keys[i], v);
        if (v)
            memset(v, 0, strlen(v));
        free(v);
    }
    env_val(x->env, "REGISTRY_STORAGE_SWIFT_AUTHVERSION", ver);
    for (size_t i = 0; i < sizeof(opt) / sizeof(opt[0]); i++)
        if (*str_or(cfg, opt[i][0], ""))
            env_val(x->env, opt[i][1], str_or(cfg, opt[i][0], ""));
}

static void sync_filesystem_env(struct rsync *x)
{
    env_val(x->env, "REGISTRY_STORAGE", "filesystem");
    env_val(x->env, "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY", "/registry");
}

static void sync_emptydir(struct rsync *x, const struct driver *d, cJSON *cfg, int changed)
{
    if (changed) {
        op_cond(x->cr, "StorageExists", "Unknown", "EmptyDir Configuration Changed",
                "EmptyDir storage is in an unknown state");
        storage_in_use(x, d, cfg);
        op_cond(x->cr, "StorageExists", "True", "Creation Successful",
                "EmptyDir storage successfully created");
    }
    sync_filesystem_env(x);
    vol_registry_storage(x, cJSON_CreateObject(), "emptyDir");
}

static void sync_pvc(struct rsync *x, const struct driver *d, cJSON *cfg, int changed)
{
    const char *claim;
    const cJSON *pvc, *mode;
    int rwx = 0, rwo = 0;
    cJSON *src;
    char path[300];
    if (!*str_or(cfg, "claim", ""))
        sim_jset_str(cfg, "claim", "image-registry-storage");
    claim = str_or(cfg, "claim", "");
    if (changed)
        op_cond(x->cr, "StorageExists", "Unknown", "PVC Configuration Changed",
                "PVC storage is in an unknown state");
    pvc = stored(x->srv, "", "persistentvolumeclaims", IR_NS, claim);
    if (!pvc) {
        cJSON *o = cJSON_CreateObject(), *spec, *meta;
        if (!o)
            return;
        cJSON_AddStringToObject(o, "apiVersion", "v1");
        cJSON_AddStringToObject(o, "kind", "PersistentVolumeClaim");
        meta = cJSON_AddObjectToObject(o, "metadata");
        cJSON_AddStringToObject(meta, "name", claim);
        cJSON_AddStringToObject(meta, "namespace", IR_NS);
        cJSON_AddStringToObject(cJSON_AddObjectToObject(meta, "annotations"),
                                "imageregistry.openshift.io", "true");
        spec = cJSON_AddObjectToObject(o, "spec");
        cJSON_AddItemToArray(cJSON_AddArrayToObject(spec, "accessModes"),
                             cJSON_CreateString("ReadWriteMany"));
        cJSON_AddStringToObject(
            cJSON_AddObjectToObject(cJSON_AddObjectToObject(spec, "resources"), "requests"),
            "storage", "100Gi");
        snprintf(path, sizeof(path), "/api/v1/namespaces/%s/persistentvolumeclaims", IR_NS);
        if (!call_ok(sim_internal_call(x->srv, "POST", path, o, NULL, NULL))) {
            cJSON_Delete(o);
            set_err(&x->err, 0, "", "unable to sync storage configuration: unable to create PVC %s",
                    claim);
            return;
        }
        cJSON_Delete(o);
        set_storage_mgmt_default(x, "Managed");
        sim_jset(sim_jobj(x->cr, "status"), "storageManaged", cJSON_CreateTrue());
        op_cond(x->cr, "StorageExists", "True", "Creation Successful",
                "PVC was successfully created");
        pvc = stored(x->srv, "", "persistentvolumeclaims", IR_NS, claim);
    } else {
        op_cond(x->cr, "StorageExists", "True", "PVC Exists", "");
    }
    cJSON_ArrayForEach(mode, sim_jget(pvc, "spec", "accessModes", NULL))
    {
        if (cJSON_IsString(mode) && strcmp(mode->valuestring, "ReadWriteMany") == 0)
            rwx = 1;
        if (cJSON_IsString(mode) && strcmp(mode->valuestring, "ReadWriteOnce") == 0)
            rwo = 1;
    }
    if (!rwx) {
        const char *strategy = str_or(sim_jget(x->cr, "spec", NULL), "rolloutStrategy", "");
        char why[512] = "";
        if (!rwo)
            snprintf(why, sizeof(why),
                     "PVC %s does not contain the necessary access modes: ReadWriteMany or "
                     "ReadWriteOnce",
                     claim);
        else if (sim_jnum(x->cr, 1, "spec", "replicas", NULL) > 1)
            snprintf(why, sizeof(why),
                     "cannot use ReadWriteOnce access mode with more than one replica of the "
                     "image registry");
        else if (strcmp(strategy, "Recreate") != 0)
            snprintf(why, sizeof(why),
                     "cannot use ReadWriteOnce access mode with %s rollout "
                     "strategy",
                     strategy);
        if (*why) {
            op_cond(x->cr, "StorageExists", "False", "PVC Issues Found", why);
            set_err(&x->err, 0, "", "unable to sync storage configuration: %s", why);
            return;
        }
    }
    if (changed)
        storage_in_use(x, d, cfg);
    sync_filesystem_env(x);
    src = cJSON_CreateObject();
    if (src)
        cJSON_AddStringToObject(src, "claimName", claim);
    vol_registry_storage(x, src, "persistentVolumeClaim");
}

/* gcs, azure, ibmcos, oss: approximations (see the opening comment). */
static void sync_other(struct rsync *x, const struct driver *d, cJSON *cfg, int changed)
{
    char reason[96], msg[160];
    if (changed) {
        snprintf(reason, sizeof(reason), "%s Configuration Changed", d->title);
        snprintf(msg, sizeof(msg), "%s storage is in an unknown state", d->title);
        op_cond(x->cr, "StorageExists", "Unknown", reason, msg);
        set_storage_mgmt_default(x, "Unmanaged");
        storage_in_use(x, d, cfg);
    }
    snprintf(reason, sizeof(reason), "%s Storage Exists", d->title);
    op_cond(x->cr, "StorageExists", "True", reason, "");
    if (strcmp(d->key, "gcs") == 0) {
        char *k = secret_value(x->srv, USER_SECRET, "REGISTRY_STORAGE_GCS_KEYFILE");
        if (!k)
            k = secret_value(x->srv, CLOUD_SECRET, "service_account.json");
        env_val(x->env, "REGISTRY_STORAGE", "gcs");
        env_val(x->env, "REGISTRY_STORAGE_GCS_BUCKET", str_or(cfg, "bucket", ""));
        env_val(x->env, "REGISTRY_STORAGE_GCS_KEYFILE", "/gcs/keyfile");
        vol_secret(x, SECRET_NAME, SECRET_NAME, "/gcs", "keyfile", "keyfile");
        sim_jset_str(x->secdata, "keyfile", k ? k : "");
        free(k);
    } else if (strcmp(d->key, "azure") == 0) {
        char *k = secret_value(x->srv, USER_SECRET, "REGISTRY_STORAGE_AZURE_ACCOUNTKEY");
        env_val(x->env, "REGISTRY_STORAGE", "azure");
        env_val(x->env, "REGISTRY_STORAGE_AZURE_CONTAINER", str_or(cfg, "container", ""));
        env_val(x->env, "REGISTRY_STORAGE_AZURE_ACCOUNTNAME", str_or(cfg, "accountName", ""));
        env_secret(x, "REGISTRY_STORAGE_AZURE_ACCOUNTKEY", k);
        env_val(x->env, "REGISTRY_STORAGE_AZURE_REALM", "core.windows.net");
        free(k);
    } else if (strcmp(d->key, "ibmcos") == 0) {
        char ep[300], *creds = NULL;
        snprintf(ep, sizeof(ep), "s3.%s.cloud-object-storage.appdomain.cloud",
                 str_or(cfg, "location", ""));
        if (s3_credentials(x, &creds) != 0)
            return;
        env_val(x->env, "REGISTRY_STORAGE", "s3");
        env_val(x->env, "REGISTRY_STORAGE_S3_BUCKET", str_or(cfg, "bucket", ""));
        env_val(x->env, "REGISTRY_STORAGE_S3_REGION", str_or(cfg, "location", ""));
        env_val(x->env, "REGISTRY_STORAGE_S3_REGIONENDPOINT", ep);
        env_val(x->env, "REGISTRY_STORAGE_S3_ENCRYPT", "false");
        env_val(x->env, "REGISTRY_STORAGE_S3_VIRTUALHOSTEDSTYLE", "false");
        env_val(x->env, "REGISTRY_STORAGE_S3_CREDENTIALSCONFIGPATH", S3_CREDS_DIR "/credentials");
        vol_secret(x, SECRET_NAME, SECRET_NAME, S3_CREDS_DIR, NULL, NULL);
        sim_jset_str(x->secdata, "credentials", creds);
        free(creds);
    } else {
        char *id = secret_value(x->srv, USER_SECRET, "REGISTRY_STORAGE_OSS_ACCESSKEYID");
        char *sec = secret_value(x->srv, USER_SECRET, "REGISTRY_STORAGE_OSS_ACCESSKEYSECRET");
        env_val(x->env, "REGISTRY_STORAGE", "oss");
        env_val(x->env, "REGISTRY_STORAGE_OSS_BUCKET", str_or(cfg, "bucket", ""));
        env_val(x->env, "REGISTRY_STORAGE_OSS_REGION", str_or(cfg, "region", ""));
        env_secret(x, "REGISTRY_STORAGE_OSS_ACCESSKEYID", id);
        env_secret(x, "REGISTRY_STORAGE_OSS_ACCESSKEYSECRET", sec);
        free(id);
        free(sec);
    }
}

/* Generator.syncStorage: 0 when the driver rendered its env. */
static int sync_storage(struct rsync *x)
{
    const cJSON *spec = sim_jget(x->cr, "spec", "storage", NULL);
    const struct driver *d = NULL;
    char names[128] = "";
    size_t n = 0, off = 0;
    cJSON *cfg;
    int changed;
    for (size_t i = 0; i < NDRIVERS; i++) {
        if (!cJSON_IsObject(sim_jget(spec, drivers[i].key, NULL)))
            continue;
        d = &drivers[i];
        off += (size_t)snprintf(names + off, sizeof(names) - off, "%s%s", n ? " " : "",
                                drivers[i].title);
        if (off >= sizeof(names))
            off = sizeof(names) - 1;
        n++;
    }
    if (n == 0) {
        set_err(&x->err, 1, "StorageNotConfigured", "storage backend not configured");
        return -1;
    }
    if (n > 1) {
        set_err(&x->err, 0, "",
                "unable to sync storage configuration: exactly one storage type should be "
                "configured at the same time, got %zu: [%s]",
                n, names);
        return -1;
    }
    cfg = sim_jget(x->cr, "spec", "storage", d->key, NULL);
    changed = storage_changed(x->cr, d);
    if (strcmp(d->key, "s3") == 0)
        sync_s3(x, d, cfg, changed);
    else if (strcmp(d->key, "swift") == 0)
        sync_swift(x, d, cfg, changed);
    else if (strcmp(d->key, "emptyDir") == 0)
        sync_emptydir(x, d, cfg, changed);
    else if (strcmp(d->key, "pvc") == 0)
        sync_pvc(x, d, cfg, changed);
    else
        sync_other(x, d, cfg, changed);
    if (x->err.set)
        return -1;
    sim_jset(sim_jobj(x->cr, "status"), "storageManaged",
             cJSON_CreateBool(storage_managed(x->cr) ||
                              cJSON_IsTrue(sim_jget(x->cr, "status", "storageManaged", NULL))));
    return 0;
}

/* ---- the objects it applies ---- */

static int ensure_namespace(struct rsync *x)
{
    const cJSON *ns = stored(x->srv, "", "namespaces", "", IR_NS);
    cJSON *o;
    int code;
    if (ns && sim_jstr(ns, "metadata", "annotations", SCC_GROUPS, NULL))
        return 0;
    if (ns && has_deletion_ts(ns))
        return -1;
    o = ns ? cJSON_Duplicate(ns, 1) : cJSON_CreateObject();
    if (!o)
        return -1;
    if (!ns) {
        cJSON *meta;
        cJSON_AddStringToObject(o, "apiVersion", "v1");
        cJSON_AddStringToObject(o, "kind", "Namespace");
        meta = cJSON_AddObjectToObject(o, "metadata");
        cJSON_AddStringToObject(meta, "name", IR_NS);
        cJSON_AddStringToObject(cJSON_AddObjectToObject(meta, "labels"),
                                "openshift.io/cluster-monitoring", "true");
    }
    /* What OpenShift's namespace SCC controller adds to every namespace. */
    sim_jset_str(sim_jobj(sim_jobj(o, "metadata"), "annotations"), SCC_GROUPS, "1000430000/10000");
    code = ns ? sim_internal_call(x->srv, "PUT", "/api/v1/namespaces/" IR_NS, o, NULL, NULL)
              : sim_internal_call(x->srv, "POST", "/api/v1/namespaces", o, NULL, NULL);
    cJSON_Delete(o);
    return call_ok(code) ? 0 : -1;
}

static void emit_event(struct rsync *x, const char *type, const char *reason, const char *msg)
{
    char name[128], ts[32];
    struct timespec t;
    cJSON *ev = cJSON_CreateObject(), *meta, *io;
    if (!ev)
        return;
    clock_gettime(CLOCK_REALTIME, &t);
    snprintf(name, sizeof(name), "%s.%llx", IR_NS,
             (unsigned long long)((uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec));
    sim_rfc3339(sim_now_unix(), ts);
    cJSON_AddStringToObject(ev, "apiVersion", "v1");
    cJSON_AddStringToObject(ev, "kind", "Event");
    meta = cJSON_AddObjectToObject(ev, "metadata");
    cJSON_AddStringToObject(meta, "name", name);
    cJSON_AddStringToObject(meta, "namespace", IR_NS);
    /* No operator pod to point at: library-go falls back to the namespace. */
    io = cJSON_AddObjectToObject(ev, "involvedObject");
    cJSON_AddStringToObject(io, "kind", "Namespace");
    cJSON_AddStringToObject(io, "name", IR_NS);
    cJSON_AddStringToObject(io, "apiVersion", "v1");
    cJSON_AddStringToObject(ev, "reason", reason);
    cJSON_AddStringToObject(ev, "message", msg);
    cJSON_AddStringToObject(cJSON_AddObjectToObject(ev, "source"), "component",
                            "image-registry-operator");
    cJSON_AddStringToObject(ev, "firstTimestamp", ts);
    cJSON_AddStringToObject(ev, "lastTimestamp", ts);
    cJSON_AddNumberToObject(ev, "count", 1);
    cJSON_AddStringToObject(ev, "type", type);
    cJSON_AddStringToObject(ev, "reportingComponent", "image-registry-operator");
    sim_internal_call(x->srv, "POST", "/api/v1/namespaces/" IR_NS "/events", ev, NULL, NULL);
    cJSON_Delete(ev);
}

/* The private configuration Secret: data is the driver's secrets. */
static int apply_secret(struct rsync *x)
{
    const cJSON *cur = stored(x->srv, "", "secrets", IR_NS, SECRET_NAME);
    cJSON *want = cJSON_CreateObject(), *data = cJSON_CreateObject(), *it;
    int code, rc = 0;
    if (!want || !data) {
        cJSON_Delete(want);
        cJSON_Delete(data);
        return -1;
    }
    cJSON_ArrayForEach(it, x->secdata)
    {
        char *b = sim_b64_encode(it->valuestring, strlen(it->valuestring));
        if (b)
            cJSON_AddStringToObject(data, it->string, b);
        free(b);
    }
    if (cur) {
        cJSON_Delete(want);
        want = cJSON_Duplicate(cur, 1);
        if (!want) {
            cJSON_Delete(data);
            return -1;
        }
    } else {
        cJSON *meta;
        cJSON_AddStringToObject(want, "apiVersion", "v1");
        cJSON_AddStringToObject(want, "kind", "Secret");
        meta = cJSON_AddObjectToObject(want, "metadata");
        cJSON_AddStringToObject(meta, "name", SECRET_NAME);
        cJSON_AddStringToObject(meta, "namespace", IR_NS);
        cJSON_AddStringToObject(want, "type", "Opaque");
    }
    if (data->child)
        sim_jset(want, "data", data);
    else {
        cJSON_Delete(data);
        cJSON_DeleteItemFromObjectCaseSensitive(want, "data");
    }
    if (!cur) {
        code = sim_internal_call(x->srv, "POST", "/api/v1/namespaces/" IR_NS "/secrets", want, NULL,
                                 NULL);
        rc = call_ok(code) ? 0 : -1;
    } else if (!k8s_json_equal(cur, want)) {
        code = sim_internal_call(x->srv, "PUT", "/api/v1/namespaces/" IR_NS "/secrets/" SECRET_NAME,
                                 want, NULL, NULL);
        rc = call_ok(code) ? 0 : -1;
    }
    cJSON_Delete(want);
    if (rc != 0)
        set_err(&x->err, 0, "", "unable to apply objects: failed to update object %s",
                "Secret, Namespace=" IR_NS ", Name=" SECRET_NAME);
    return rc;
}

/* dependencies.Checksum over the ConfigMaps and Secrets the pods mount. */
static void deps_checksum(struct rsync *x, char out[80])
{
    static const char *const cms[] = {"image-registry-certificates", "trusted-ca", NULL};
    static const char *const secrets[] = {SECRET_NAME, "image-registry-tls",
                                          "installation-pull-secrets", NULL};
    cJSON *list = cJSON_CreateArray();
    char hex[65];
    for (size_t i = 0; list && cms[i]; i++) {
        const cJSON *o = stored(x->srv, "", "configmaps", IR_NS, cms[i]);
        cJSON *body = cJSON_CreateObject();
        char line[400];
        if (!o || !body) {
            cJSON_Delete(body);
            continue;
        }
        if (sim_jget(o, "data", NULL))
            cJSON_AddItemToObject(body, "data", cJSON_Duplicate(sim_jget(o, "data", NULL), 1));
        sha256_json(body, hex);
        cJSON_Delete(body);
        snprintf(line, sizeof(line), "configmap:%s:sha256:%s", cms[i], hex);
        cJSON_AddItemToArray(list, cJSON_CreateString(line));
    }
    for (size_t i = 0; list && secrets[i]; i++) {
        const cJSON *o = stored(x->srv, "", "secrets", IR_NS, secrets[i]);
        cJSON *body = cJSON_CreateObject();
        char line[400];
        if (!o || !body) {
            cJSON_Delete(body);
            continue;
        }
        if (sim_jget(o, "data", NULL))
            cJSON_AddItemToObject(body, "data", cJSON_Duplicate(sim_jget(o, "data", NULL), 1));
        cJSON_AddStringToObject(body, "type", str_or(o, "type", "Opaque"));
        sha256_json(body, hex);
        cJSON_Delete(body);
        snprintf(line, sizeof(line), "secret:%s:sha256:%s", secrets[i], hex);
        cJSON_AddItemToArray(list, cJSON_CreateString(line));
    }
    sha256_json(list, hex);
    cJSON_Delete(list);
    snprintf(out, 80, "sha256:%s", hex);
}

static const char *log_level(const cJSON *cr)
{
    const char *l = sim_jstr(cr, "spec", "logLevel", NULL);
    long logging = sim_jnum(cr, 0, "spec", "logging", NULL);
    if (l && (strcmp(l, "Debug") == 0 || strcmp(l, "Trace") == 0 || strcmp(l, "TraceAll") == 0))
        return "debug";
    if (logging == 1)
        return "warn";
    if (logging >= 0 && logging <= 3)
        return "info";
    return "debug";
}

static cJSON *probe(long initial_delay)
{
    cJSON *p = cJSON_CreateObject(), *h;
    if (!p)
        return NULL;
    h = cJSON_AddObjectToObject(p, "httpGet");
    cJSON_AddStringToObject(h, "path", "/healthz");
    cJSON_AddNumberToObject(h, "port", 5000);
    cJSON_AddStringToObject(h, "scheme", "HTTPS");
    cJSON_AddNumberToObject(p, "initialDelaySeconds", (double)initial_delay);
    cJSON_AddNumberToObject(p, "timeoutSeconds", 5);
    return p;
}

static void add_volume(cJSON *vols, cJSON *mounts, cJSON *vol, const char *mount, int ro)
{
    cJSON *m = cJSON_CreateObject();
    if (!vol || !m) {
        cJSON_Delete(vol);
        cJSON_Delete(m);
        return;
    }
    cJSON_AddStringToObject(m, "name", sim_jstr(vol, "name", NULL));
    cJSON_AddStringToObject(m, "mountPath", mount);
    if (ro)
        cJSON_AddBoolToObject(m, "readOnly", 1);
    cJSON_AddItemToArray(vols, vol);
    cJSON_AddItemToArray(mounts, m);
}

static cJSON *labels(void)
{
    cJSON *l = cJSON_CreateObject();
    if (l)
        cJSON_AddStringToObject(l, "docker-registry", "default");
    return l;
}

/* makePodTemplateSpec. */
static cJSON *pod_template(struct rsync *x, const char *checksum)
{
    const cJSON *spec = sim_jget(x->cr, "spec", NULL), *it;
    const cJSON *ns = stored(x->srv, "", "namespaces", "", IR_NS);
    const char *groups = sim_jstr(ns, "metadata", "annotations", SCC_GROUPS, NULL);
    long replicas = sim_jnum(spec, 1, "replicas", NULL), fsgroup = 1000430000;
    cJSON *t = cJSON_CreateObject(), *meta, *ann, *ps, *c, *env, *vols, *mounts, *v, *p, *sel, *res;
    if (!t)
        return NULL;
    if (groups) {
        char *end = NULL;
        long g = strtol(groups, &end, 10);
        if (end && *end == '/')
            fsgroup = g;
    }
    meta = cJSON_AddObjectToObject(t, "metadata");
    cJSON_AddItemToObject(meta, "labels", labels());
    ann = cJSON_AddObjectToObject(meta, "annotations");
    cJSON_AddStringToObject(ann, "imageregistry.operator.openshift.io/dependencies-checksum",
                            checksum);
    cJSON_AddStringToObject(ann, "openshift.io/required-scc", "restricted-v2");
    cJSON_AddStringToObject(ann, "target.workload.openshift.io/management",
                            "{\"effect\": \"PreferredDuringScheduling\"}");
    ps = cJSON_AddObjectToObject(t, "spec");

    env = cJSON_Duplicate(x->env, 1);
    vols = cJSON_Duplicate(x->vols, 1);
    mounts = cJSON_Duplicate(x->mounts, 1);
    if (!env || !vols || !mounts) {
        cJSON_Delete(env);
        cJSON_Delete(vols);
        cJSON_Delete(mounts);
        cJSON_Delete(t);
        return NULL;
    }
    env_val(env, "REGISTRY_HTTP_ADDR", ":5000");
    env_val(env, "REGISTRY_HTTP_NET", "tcp");
    env_val(env, "REGISTRY_HTTP_SECRET", str_or(spec, "httpSecret", ""));
    env_val(env, "REGISTRY_LOG_LEVEL", log_level(x->cr));
    env_val(env, "REGISTRY_OPENSHIFT_QUOTA_ENABLED", "true");
    env_val(env, "REGISTRY_STORAGE_CACHE_BLOBDESCRIPTOR", "inmemory");
    env_val(env, "REGISTRY_STORAGE_DELETE_ENABLED", "true");
    env_val(env, "REGISTRY_HEALTH_STORAGEDRIVER_ENABLED", "true");
    env_val(env, "REGISTRY_HEALTH_STORAGEDRIVER_INTERVAL", "10s");
    env_val(env, "REGISTRY_HEALTH_STORAGEDRIVER_THRESHOLD", "1");
    env_val(env, "REGISTRY_OPENSHIFT_METRICS_ENABLED", "true");
    env_val(env, "REGISTRY_OPENSHIFT_SERVER_ADDR", "image-registry." IR_NS ".svc:5000");
    if (cJSON_IsTrue(sim_jget(spec, "readOnly", NULL)))
        env_val(env, "REGISTRY_STORAGE_MAINTENANCE_READONLY", "{enabled: true}");
    if (cJSON_IsTrue(sim_jget(spec, "disableRedirect", NULL)))
        env_val(env, "REGISTRY_STORAGE_REDIRECT_DISABLE", "true");
    if (*str_or(sim_jget(spec, "proxy", NULL), "http", ""))
        env_val(env, "HTTP_PROXY", str_or(sim_jget(spec, "proxy", NULL), "http", ""));
    if (*str_or(sim_jget(spec, "proxy", NULL), "https", ""))
        env_val(env, "HTTPS_PROXY", str_or(sim_jget(spec, "proxy", NULL), "https", ""));
    if (*str_or(sim_jget(spec, "proxy", NULL), "noProxy", ""))
        env_val(env, "NO_PROXY", str_or(sim_jget(spec, "proxy", NULL), "noProxy", ""));

    v = cJSON_CreateObject();
    cJSON_AddStringToObject(v, "name", "registry-tls");
    p = cJSON_CreateObject();
    cJSON_AddStringToObject(cJSON_AddObjectToObject(p, "secret"), "name", "image-registry-tls");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(cJSON_AddObjectToObject(v, "projected"), "sources"),
                         p);
    add_volume(vols, mounts, v, "/etc/secrets", 0);
    env_val(env, "REGISTRY_HTTP_TLS_CERTIFICATE", "/etc/secrets/tls.crt");
    env_val(env, "REGISTRY_HTTP_TLS_KEY", "/etc/secrets/tls.key");
    v = cJSON_CreateObject();
    cJSON_AddStringToObject(v, "name", "ca-trust-extracted");
    cJSON_AddObjectToObject(v, "emptyDir");
    add_volume(vols, mounts, v, "/etc/pki/ca-trust/extracted", 0);
    v = cJSON_CreateObject();
    cJSON_AddStringToObject(v, "name", "registry-certificates");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(v, "configMap"), "name",
                            "image-registry-certificates");
    add_volume(vols, mounts, v, "/etc/pki/ca-trust/source/anchors", 0);
    v = cJSON_CreateObject();
    cJSON_AddStringToObject(v, "name", "trusted-ca");
    p = cJSON_AddObjectToObject(v, "configMap");
    cJSON_AddStringToObject(p, "name", "trusted-ca");
    it = cJSON_CreateObject();
    cJSON_AddStringToObject((cJSON *)it, "key", "ca-bundle.crt");
    cJSON_AddStringToObject((cJSON *)it, "path", "anchors/ca-bundle.crt");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(p, "items"), (cJSON *)it);
    cJSON_AddBoolToObject(p, "optional", 1);
    add_volume(vols, mounts, v, "/usr/share/pki/ca-trust-source", 0);
    v = cJSON_CreateObject();
    cJSON_AddStringToObject(v, "name", "installation-pull-secrets");
    p = cJSON_AddObjectToObject(v, "secret");
    it = cJSON_CreateObject();
    cJSON_AddStringToObject((cJSON *)it, "key", ".dockerconfigjson");
    cJSON_AddStringToObject((cJSON *)it, "path", "config.json");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(p, "items"), (cJSON *)it);
    cJSON_AddStringToObject(p, "secretName", "installation-pull-secrets");
    cJSON_AddBoolToObject(p, "optional", 1);
    add_volume(vols, mounts, v, "/var/lib/kubelet/", 0);
    v = cJSON_CreateObject();
    cJSON_AddStringToObject(v, "name", "bound-sa-token");
    p = cJSON_CreateObject();
    it = cJSON_AddObjectToObject(p, "serviceAccountToken");
    cJSON_AddStringToObject((cJSON *)it, "audience", "openshift");
    cJSON_AddStringToObject((cJSON *)it, "path", "token");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(cJSON_AddObjectToObject(v, "projected"), "sources"),
                         p);
    add_volume(vols, mounts, v, "/var/run/secrets/openshift/serviceaccount", 1);

    if (sim_jget(spec, "tolerations", NULL))
        cJSON_AddItemToObject(ps, "tolerations",
                              cJSON_Duplicate(sim_jget(spec, "tolerations", NULL), 1));
    sel = cJSON_Duplicate(sim_jget(spec, "nodeSelector", NULL), 1);
    if (!cJSON_IsObject(sel)) {
        cJSON_Delete(sel);
        sel = cJSON_CreateObject();
    }
    if (sel && !cJSON_GetObjectItemCaseSensitive(sel, "kubernetes.io/os"))
        cJSON_AddStringToObject(sel, "kubernetes.io/os", "linux");
    cJSON_AddItemToObject(ps, "nodeSelector", sel);
    cJSON_AddStringToObject(ps, "priorityClassName", "system-cluster-critical");
    c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "name", "registry");
    cJSON_AddStringToObject(c, "image",
                            sim_wl_str(x->srv, "quay.io/openshift/origin-docker-registry:latest",
                                       "imageRegistry", "image", NULL));
    p = cJSON_AddArrayToObject(c, "command");
    cJSON_AddItemToArray(p, cJSON_CreateString("/bin/sh"));
    cJSON_AddItemToArray(p, cJSON_CreateString("-c"));
    cJSON_AddItemToArray(
        p,
        cJSON_CreateString("mkdir -p /etc/pki/ca-trust/extracted/edk2 "
                           "/etc/pki/ca-trust/extracted/java /etc/pki/ca-trust/extracted/openssl "
                           "/etc/pki/ca-trust/extracted/pem && update-ca-trust extract && exec "
                           "/usr/bin/dockerregistry"));
    p = cJSON_CreateObject();
    cJSON_AddNumberToObject(p, "containerPort", 5000);
    cJSON_AddStringToObject(p, "protocol", "TCP");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(c, "ports"), p);
    cJSON_AddItemToObject(c, "env", env);
    cJSON_AddItemToObject(c, "volumeMounts", mounts);
    cJSON_AddItemToObject(c, "livenessProbe", probe(5));
    cJSON_AddItemToObject(c, "readinessProbe", probe(15));
    if (cJSON_IsObject(sim_jget(spec, "resources", NULL))) {
        res = cJSON_Duplicate(sim_jget(spec, "resources", NULL), 1);
    } else {
        res = cJSON_CreateObject();
        p = cJSON_AddObjectToObject(res, "requests");
        cJSON_AddStringToObject(p, "cpu", "100m");
        cJSON_AddStringToObject(p, "memory", "256Mi");
    }
    cJSON_AddItemToObject(c, "resources", res);
    p = cJSON_AddArrayToObject(
        cJSON_AddObjectToObject(
            cJSON_AddObjectToObject(cJSON_AddObjectToObject(c, "lifecycle"), "preStop"), "exec"),
        "command");
    cJSON_AddItemToArray(p, cJSON_CreateString("sleep"));
    cJSON_AddItemToArray(p, cJSON_CreateString("25"));
    cJSON_AddItemToArray(cJSON_AddArrayToObject(ps, "containers"), c);
    cJSON_AddItemToObject(ps, "volumes", vols);
    cJSON_AddStringToObject(ps, "serviceAccountName", "registry");
    p = cJSON_AddObjectToObject(ps, "securityContext");
    cJSON_AddNumberToObject(p, "fsGroup", (double)fsgroup);
    cJSON_AddStringToObject(p, "fsGroupChangePolicy", "OnRootMismatch");
    if (cJSON_IsObject(sim_jget(spec, "affinity", NULL))) {
        cJSON_AddItemToObject(ps, "affinity", cJSON_Duplicate(sim_jget(spec, "affinity", NULL), 1));
    } else if (replicas == 2) {
        cJSON *term = cJSON_CreateObject(), *ls;
        cJSON_AddStringToObject(term, "topologyKey", "kubernetes.io/hostname");
        cJSON_AddItemToArray(cJSON_AddArrayToObject(term, "namespaces"), cJSON_CreateString(IR_NS));
        ls = cJSON_AddObjectToObject(term, "labelSelector");
        cJSON_AddItemToObject(ls, "matchLabels", labels());
        cJSON_AddItemToArray(
            cJSON_AddArrayToObject(
                cJSON_AddObjectToObject(cJSON_AddObjectToObject(ps, "affinity"), "podAntiAffinity"),
                "requiredDuringSchedulingIgnoredDuringExecution"),
            term);
    }
    if (cJSON_IsArray(sim_jget(spec, "topologySpreadConstraints", NULL))) {
        cJSON_AddItemToObject(
            ps, "topologySpreadConstraints",
            cJSON_Duplicate(sim_jget(spec, "topologySpreadConstraints", NULL), 1));
    } else if (!sim_jget(spec, "nodeSelector", NULL)) {
        static const char *const keys[] = {"kubernetes.io/hostname",
                                           "node-role.kubernetes.io/worker"};
        cJSON *tsc = cJSON_AddArrayToObject(ps, "topologySpreadConstraints");
        for (size_t i = 0; i < 2; i++) {
            cJSON *k = cJSON_CreateObject();
            cJSON_AddNumberToObject(k, "maxSkew", 1);
            cJSON_AddStringToObject(k, "topologyKey", keys[i]);
            cJSON_AddStringToObject(k, "whenUnsatisfiable", "DoNotSchedule");
            cJSON_AddItemToObject(cJSON_AddObjectToObject(k, "labelSelector"), "matchLabels",
                                  labels());
            cJSON_AddItemToArray(tsc, k);
        }
    }
    cJSON_AddNumberToObject(ps, "terminationGracePeriodSeconds", 55);
    return t;
}

/* generatorDeployment.expected(). */
static cJSON *render_deployment(struct rsync *x)
{
    const cJSON *spec = sim_jget(x->cr, "spec", NULL);
    const char *strategy = str_or(spec, "rolloutStrategy", "");
    long replicas = sim_jnum(spec, 1, "replicas", NULL);
    char checksum[80], hex[65], buf[80];
    cJSON *d = cJSON_CreateObject(), *meta, *ann, *ds, *st, *ru, *tmpl;
    if (!d)
        return NULL;
    deps_checksum(x, checksum);
    tmpl = pod_template(x, checksum);
    if (!tmpl) {
        cJSON_Delete(d);
        return NULL;
    }
    if (!*strategy)
        strategy = "RollingUpdate";
    cJSON_AddStringToObject(d, "apiVersion", "apps/v1");
    cJSON_AddStringToObject(d, "kind", "Deployment");
    meta = cJSON_AddObjectToObject(d, "metadata");
    cJSON_AddStringToObject(meta, "name", IR_NAME);
    cJSON_AddStringToObject(meta, "namespace", IR_NS);
    cJSON_AddItemToObject(meta, "labels", labels());
    ann = cJSON_AddObjectToObject(meta, "annotations");
    cJSON_AddStringToObject(ann, "release.openshift.io/version",
                            sim_wl_str(x->srv, "4.18.0", "imageRegistry", "version", NULL));
    ds = cJSON_AddObjectToObject(d, "spec");
    cJSON_AddNumberToObject(ds, "progressDeadlineSeconds", 60);
    cJSON_AddNumberToObject(ds, "replicas", (double)replicas);
    /* The API server defaults this on every write; the simulator only on
     * create, so the operator's full-spec update carries it. */
    cJSON_AddNumberToObject(ds, "revisionHistoryLimit", 10);
    cJSON_AddItemToObject(cJSON_AddObjectToObject(ds, "selector"), "matchLabels", labels());
    cJSON_AddItemToObject(ds, "template", tmpl);
    st = cJSON_AddObjectToObject(ds, "strategy");
    cJSON_AddStringToObject(st, "type", strategy);
    if (strcmp(strategy, "RollingUpdate") == 0) {
        ru = cJSON_AddObjectToObject(st, "rollingUpdate");
        if (replicas == 2) {
            cJSON_AddNumberToObject(ru, "maxUnavailable", 1);
            cJSON_AddNumberToObject(ru, "maxSurge", 1);
        } else {
            cJSON_AddNumberToObject(ru, "maxUnavailable", (double)(replicas - 1));
            cJSON_AddStringToObject(ru, "maxSurge", "25%");
        }
    }
    sha256_json(d, hex);
    snprintf(buf, sizeof(buf), "sha256:%s", hex);
    cJSON_AddStringToObject(ann, "imageregistry.operator.openshift.io/checksum", buf);
    /* resourceapply.SetSpecHashAnnotation. */
    sha256_json(ds, hex);
    cJSON_AddStringToObject(ann, "operator.openshift.io/spec-hash", hex);
    return d;
}

static long last_generation(const cJSON *cr)
{
    const cJSON *g;
    cJSON_ArrayForEach(g, sim_jget(cr, "status", "generations", NULL))
    {
        const char *grp = sim_jstr(g, "group", NULL), *res = sim_jstr(g, "resource", NULL);
        if (grp && res && strcmp(grp, "apps") == 0 && strcmp(res, "deployments") == 0)
            return sim_jnum(g, -1, "lastGeneration", NULL);
    }
    return -1;
}

static void set_last_generation(cJSON *cr, long gen)
{
    cJSON *gens = sim_jget(cr, "status", "generations", NULL), *g;
    cJSON_ArrayForEach(g, gens)
    {
        const char *grp = sim_jstr(g, "group", NULL), *res = sim_jstr(g, "resource", NULL);
        if (grp && res && strcmp(grp, "apps") == 0 && strcmp(res, "deployments") == 0) {
            sim_jset(g, "lastGeneration", cJSON_CreateNumber((double)gen));
            return;
        }
    }
    if (!cJSON_IsArray(gens)) {
        gens = cJSON_CreateArray();
        if (sim_jset(sim_jobj(cr, "status"), "generations", gens) != 0)
            return;
    }
    g = cJSON_CreateObject();
    if (!g)
        return;
    cJSON_AddStringToObject(g, "group", "apps");
    cJSON_AddStringToObject(g, "resource", "deployments");
    cJSON_AddStringToObject(g, "namespace", IR_NS);
    cJSON_AddStringToObject(g, "name", IR_NAME);
    cJSON_AddNumberToObject(g, "lastGeneration", (double)gen);
    cJSON_AddItemToArray(gens, g);
}

/* resourceapply.ApplyDeployment. */
static void apply_deployment(struct rsync *x)
{
    cJSON *want = render_deployment(x), *out = NULL, *write;
    const cJSON *cur = stored(x->srv, "apps", "deployments", IR_NS, IR_NAME), *it;
    int code, modified = 0;
    if (!want) {
        set_err(&x->err, 0, "", "unable to apply objects: out of memory");
        return;
    }
    if (!cur) {
        code = sim_internal_call(x->srv, "POST", "/apis/apps/v1/namespaces/" IR_NS "/deployments",
                                 want, NULL, &out);
        if (call_ok(code)) {
            emit_event(x, "Normal", "DeploymentCreated",
                       "Created Deployment.apps/image-registry -n " IR_NS
                       " because it was missing");
            set_last_generation(x->cr, sim_jnum(out, 1, "metadata", "generation", NULL));
        } else {
            set_err(&x->err, 0, "", "unable to apply objects: failed to create object %s: %s",
                    "Deployment, Namespace=" IR_NS ", Name=" IR_NAME,
                    str_or(out, "message", "unknown error"));
        }
        cJSON_Delete(out);
        cJSON_Delete(want);
        return;
    }
    write = cJSON_Duplicate(cur, 1);
    if (!write) {
        cJSON_Delete(want);
        return;
    }
    /* EnsureObjectMeta: required labels and annotations merged in. */
    cJSON_ArrayForEach(it, sim_jget(want, "metadata", "labels", NULL))
    {
        cJSON *l = sim_jobj(sim_jobj(write, "metadata"), "labels");
        if (!sim_jstr(l, it->string, NULL) ||
            strcmp(sim_jstr(l, it->string, NULL), it->valuestring) != 0) {
            sim_jset_str(l, it->string, it->valuestring);
            modified = 1;
        }
    }
    cJSON_ArrayForEach(it, sim_jget(want, "metadata", "annotations", NULL))
    {
        cJSON *a = sim_jobj(sim_jobj(write, "metadata"), "annotations");
        if (!sim_jstr(a, it->string, NULL) ||
            strcmp(sim_jstr(a, it->string, NULL), it->valuestring) != 0) {
            sim_jset_str(a, it->string, it->valuestring);
            modified = 1;
        }
    }
    if (!modified && sim_jnum(cur, 0, "metadata", "generation", NULL) == last_generation(x->cr)) {
        cJSON_Delete(write);
        cJSON_Delete(want);
        return;
    }
    sim_jset(write, "spec", cJSON_Duplicate(sim_jget(want, "spec", NULL), 1));
    code = sim_internal_call(x->srv, "PUT", DEPLOY_PATH, write, NULL, &out);
    if (call_ok(code)) {
        emit_event(x, "Normal", "DeploymentUpdated",
                   "Updated Deployment.apps/image-registry -n " IR_NS " because it changed");
        set_last_generation(x->cr, sim_jnum(out, 1, "metadata", "generation", NULL));
    } else if (code != 409) {
        set_err(&x->err, 0, "", "unable to apply objects: failed to update object %s: %s",
                "Deployment, Namespace=" IR_NS ", Name=" IR_NAME,
                str_or(out, "message", "unknown error"));
    }
    cJSON_Delete(out);
    cJSON_Delete(write);
    cJSON_Delete(want);
}

/* ---- Removed, finalization ---- */

static void delete_obj(struct rsync *x, const char *path)
{
    cJSON *opts = cJSON_CreateObject();
    if (!opts)
        return;
    cJSON_AddStringToObject(opts, "apiVersion", "v1");
    cJSON_AddStringToObject(opts, "kind", "DeleteOptions");
    cJSON_AddNumberToObject(opts, "gracePeriodSeconds", 0);
    cJSON_AddStringToObject(opts, "propagationPolicy", "Foreground");
    sim_internal_call(x->srv, "DELETE", path, opts, NULL, NULL);
    cJSON_Delete(opts);
}

/* RemoveResources: the owned objects go (NotFound is fine), then the storage
 * the operator created. */
static void remove_resources(struct rsync *x)
{
    const cJSON *d = stored(x->srv, "apps", "deployments", IR_NS, IR_NAME);
    const cJSON *s = sim_jget(x->cr, "status", "storage", NULL);
    /* setStatusRemoving: the second message overwrites the first. */
    op_cond(x->cr, "Progressing", "True", "Removing", "The registry is being removed");
    op_cond(x->cr, "Progressing", "True", "Removing", "The image pruner is being removed");
    if (d && !has_deletion_ts(d))
        delete_obj(x, DEPLOY_PATH);
    if (stored(x->srv, "", "secrets", IR_NS, SECRET_NAME))
        delete_obj(x, "/api/v1/namespaces/" IR_NS "/secrets/" SECRET_NAME);
    if (s && s->child && storage_managed(x->cr)) {
        char reason[96];
        snprintf(reason, sizeof(reason), "%s Storage Deleted",
                 s->child->string ? s->child->string : "");
        op_cond(x->cr, "StorageExists", "False", reason, "The storage has been removed.");
        sim_jset(sim_jobj(x->cr, "status"), "storage", cJSON_CreateObject());
        sim_jset(sim_jobj(x->cr, "status"), "storageManaged", cJSON_CreateFalse());
    }
}

/* ---- status ---- */

static int deploy_complete(const cJSON *d)
{
    long r = sim_jnum(d, 1, "spec", "replicas", NULL);
    return sim_jnum(d, 0, "status", "updatedReplicas", NULL) == r &&
           sim_jnum(d, 0, "status", "replicas", NULL) == r &&
           sim_jnum(d, 0, "status", "availableReplicas", NULL) == r &&
           sim_jnum(d, 0, "status", "observedGeneration", NULL) >=
               sim_jnum(d, 0, "metadata", "generation", NULL);
}

/* syncStatus (status.go). */
static void sync_status(struct rsync *x, const cJSON *d)
{
    const char *mgmt = str_or(sim_jget(x->cr, "spec", NULL), "managementState", "");
    int unmanaged = strcmp(mgmt, "Unmanaged") == 0, removed = strcmp(mgmt, "Removed") == 0;
    int perm = x->err.set && x->err.permanent;
    char msg[1200], pmsg[1200];
    const char *as = "False", *ar = "", *am = "";
    const char *ps = "True", *pr = "", *pm = "";
    const char *gs = "False", *gr = "", *gm = "";
    const cJSON *ac;

    if (unmanaged) {
        as = "True";
        ar = "Unmanaged";
        am = "The registry configuration is set to unmanaged mode";
    } else if (!d) {
        if (perm) {
            snprintf(msg, sizeof(msg), "Error: %s", x->err.msg);
            ar = x->err.reason;
            am = msg;
        } else if (removed) {
            as = "True";
            ar = "Removed";
            am = "The registry is removed";
        } else {
            ar = "DeploymentNotFound";
            am = "The deployment does not exist";
        }
    } else if (has_deletion_ts(d)) {
        ar = "DeploymentDeleted";
        am = "The deployment is being deleted";
    } else if (sim_jnum(d, 0, "status", "availableReplicas", NULL) <= 0) {
        ar = "NoReplicasAvailable";
        am = "The deployment does not have available replicas";
    } else if (!deploy_complete(d)) {
        as = "True";
        ar = "MinimumAvailability";
        am = "The registry has minimum availability";
    } else {
        as = "True";
        ar = "Ready";
        am = "The registry is ready";
    }
    op_cond(x->cr, "Available", as, ar, am);

    if (unmanaged) {
        ps = "False";
        pr = "Unmanaged";
        pm = "The registry configuration is set to unmanaged mode";
    } else if (removed) {
        if (d) {
            pr = "DeletingDeployment";
            pm = "The deployment is being removed";
        } else {
            ps = "False";
            pr = "Removed";
            pm = "All registry resources are removed";
        }
    } else if (x->err.set) {
        if (perm)
            ps = "False";
        snprintf(pmsg, sizeof(pmsg), "Unable to apply resources: %s", x->err.msg);
        pr = "Error";
        pm = pmsg;
    } else if (!d) {
        pr = "WaitingForDeployment";
        pm = "All resources are successfully applied, but the deployment does not exist";
    } else if (has_deletion_ts(d)) {
        pr = "FinalizingDeployment";
        pm = "The deployment is being deleted";
    } else if (!deploy_complete(d)) {
        if (sim_jnum(d, 0, "metadata", "generation", NULL) !=
                sim_jnum(d, 0, "status", "observedGeneration", NULL) ||
            sim_wl_bool(x->srv, 0, "imageRegistry", "progressingUntilComplete", NULL)) {
            pr = "DeploymentNotCompleted";
            pm = "The deployment has not completed";
        } else {
            /* Reconciling (node reboots...): not reported as Progressing. */
            ps = "False";
            pr = "MinimumAvailability";
            pm = "The deployment has minimum availability";
        }
    } else {
        ps = "False";
        pr = "Ready";
        pm = "The registry is ready";
    }
    op_cond(x->cr, "Progressing", ps, pr, pm);

    ac = sim_cond_find(sim_jget(x->cr, "status", "conditions", NULL), "Available");
    if (unmanaged) {
        gr = "Unmanaged";
        gm = "The registry configuration is set to unmanaged mode";
    } else if (perm) {
        gs = "True";
        gr = x->err.reason;
        snprintf(msg, sizeof(msg), "Error: %s", x->err.msg);
        gm = msg;
    } else if (removed) {
        gr = "Removed";
        gm = "The registry is removed";
    } else if (strcmp(as, "True") != 0) {
        const char *ltt = sim_jstr(ac, "lastTransitionTime", NULL);
        int64_t t = ltt ? sim_parse_rfc3339(ltt) : -1;
        if (t >= 0 && sim_now_unix() - t > 60) {
            gs = "True";
            gr = "Unavailable";
            gm = sim_jstr(ac, "message", NULL) ? sim_jstr(ac, "message", NULL) : "";
        }
    } else if (d && !deploy_complete(d)) {
        const cJSON *c = sim_cond_find(sim_jget(d, "status", "conditions", NULL), "Progressing");
        const char *r = sim_jstr(c, "reason", NULL);
        if (r && strcmp(r, "ProgressDeadlineExceeded") == 0) {
            gs = "True";
            gr = "ProgressDeadlineExceeded";
            snprintf(msg, sizeof(msg), "Registry deployment has timed out progressing: %s",
                     str_or(c, "message", ""));
            gm = msg;
        }
    }
    op_cond(x->cr, "Degraded", gs, gr, gm);

    if (removed)
        op_cond(x->cr, "Removed", "True", "Removed", "The registry is removed");
    else
        op_cond(x->cr, "Removed", "False", "", "");
    sim_jset(sim_jobj(x->cr, "status"), "readyReplicas",
             cJSON_CreateNumber(d ? (double)sim_jnum(d, 0, "status", "readyReplicas", NULL) : 0));
}

/* ---- clusteroperators/image-registry (resource/clusteroperator.go) ---- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* unionCondition + v1helpers.SetStatusCondition into `conds`. */
static void co_union(cJSON *conds, const cJSON *crconds, const char *type, const char *normal)
{
    const char *status = normal, *reasons[32];
    char reason[1024] = "", *msg = NULL, ts[32], latest[32] = "";
    size_t nr = 0, mlen = 0, tl = strlen(type);
    int unknown = 0, decided = 0;
    const cJSON *c;
    cJSON *cur;
    char prefixed[32][160];
    cJSON_ArrayForEach(c, crconds)
    {
        const char *t = sim_jstr(c, "type", NULL), *s = sim_jstr(c, "status", NULL);
        const char *r = sim_jstr(c, "reason", NULL), *m = sim_jstr(c, "message", NULL);
        const char *ltt = sim_jstr(c, "lastTransitionTime", NULL);
        size_t n = t ? strlen(t) : 0;
        if (!t || n < tl || strcmp(t + n - tl, type) != 0)
            continue;
        if (ltt && strcmp(ltt, latest) > 0)
            sim_strlcpy(latest, ltt, sizeof(latest));
        if (s && strcmp(s, "Unknown") == 0)
            unknown = 1;
        else if (s && !decided && strcmp(s, normal) != 0) {
            status = s;
            decided = 1;
        }
        if (r && *r && strcmp(r, "AsExpected") != 0 && nr < 32) {
            snprintf(prefixed[nr], sizeof(prefixed[nr]), "%.*s%s", (int)(n - tl), t, r);
            reasons[nr] = prefixed[nr];
            nr++;
        }
        if (m && *m) {
            /* One "Type: line" per line of the message. */
            const char *line = m;
            while (line) {
                const char *nl = strchr(line, '\n');
                size_t ll = nl ? (size_t)(nl - line) : strlen(line);
                size_t add = strlen(t) + 2 + ll + 1;
                char *grown = realloc(msg, mlen + add + 1);
                if (!grown)
                    break;
                msg = grown;
                mlen += (size_t)snprintf(msg + mlen, add + 1, "%s%s: %.*s", mlen ? "\n" : "", t,
                                         (int)ll, line);
                line = nl ? nl + 1 : NULL;
            }
        }
    }
    if (!decided && unknown)
        status = "Unknown";
    qsort(reasons, nr, sizeof(reasons[0]), cmp_str);
    for (size_t i = 0; i < nr; i++) {
        size_t off = strlen(reason);
        snprintf(reason + off, sizeof(reason) - off, "%s%s", i ? "::" : "", reasons[i]);
    }
    if (strcmp(status, normal) == 0 && !*reason)
        sim_strlcpy(reason, "AsExpected", sizeof(reason));
    sim_rfc3339(sim_now_unix(), ts);
    cur = sim_cond_find(conds, type);
    if (!cur) {
        cur = cJSON_CreateObject();
        if (!cur) {
            free(msg);
            return;
        }
        cJSON_AddStringToObject(cur, "type", type);
        cJSON_AddStringToObject(cur, "status", status);
        cJSON_AddStringToObject(cur, "lastTransitionTime", ts);
        cJSON_AddItemToArray(conds, cur);
    } else if (!sim_jstr(cur, "status", NULL) || strcmp(sim_jstr(cur, "status", NULL), status)) {
        sim_jset_str(cur, "status", status);
        sim_jset_str(cur, "lastTransitionTime", ts);
    }
    sim_jset_str(cur, "reason", reason);
    if (msg && *msg)
        sim_jset_str(cur, "message", msg);
    else
        cJSON_DeleteItemFromObjectCaseSensitive(cur, "message");
    free(msg);
}

static void related(cJSON *arr, const char *group, const char *resource, const char *name)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return;
    cJSON_AddStringToObject(o, "group", group);
    cJSON_AddStringToObject(o, "resource", resource);
    cJSON_AddStringToObject(o, "name", name);
    cJSON_AddItemToArray(arr, o);
}

static void sync_co(struct sim_server *srv, const cJSON *cr)
{
    const cJSON *co = stored(srv, "config.openshift.io", "clusteroperators", "", IR_NAME);
    const cJSON *d = stored(srv, "apps", "deployments", IR_NS, IR_NAME);
    const char *mgmt = str_or(sim_jget(cr, "spec", NULL), "managementState", "");
    const char *version = sim_wl_str(srv, "4.18.0", "imageRegistry", "version", NULL);
    cJSON *copy, *st, *conds, *rel, *out = NULL;
    int set_version = 1;
    if (!sim_kinds_find(srv->kinds, "config.openshift.io", "v1", "clusteroperators", 1))
        return;
    if (!co) {
        cJSON *o = cJSON_CreateObject();
        if (!o)
            return;
        cJSON_AddStringToObject(o, "apiVersion", "config.openshift.io/v1");
        cJSON_AddStringToObject(o, "kind", "ClusterOperator");
        cJSON_AddStringToObject(cJSON_AddObjectToObject(o, "metadata"), "name", IR_NAME);
        cJSON_AddObjectToObject(o, "spec");
        sim_internal_call(srv, "POST", "/apis/config.openshift.io/v1/clusteroperators", o, NULL,
                          &out);
        cJSON_Delete(o);
        if (!out)
            return;
        copy = out;
    } else {
        copy = cJSON_Duplicate(co, 1);
    }
    st = copy ? sim_jobj(copy, "status") : NULL;
    if (!st) {
        cJSON_Delete(copy);
        return;
    }
    conds = cJSON_GetObjectItemCaseSensitive(st, "conditions");
    if (!cJSON_IsArray(conds)) {
        conds = cJSON_CreateArray();
        sim_jset(st, "conditions", conds);
    }
    co_union(conds, sim_jget(cr, "status", "conditions", NULL), "Available", "True");
    co_union(conds, sim_jget(cr, "status", "conditions", NULL), "Progressing", "False");
    co_union(conds, sim_jget(cr, "status", "conditions", NULL), "Degraded", "False");
    /* syncVersions: Managed reports the level the Deployment reached. */
    if (strcmp(mgmt, "Managed") == 0) {
        if (!d || sim_jnum(d, 0, "status", "availableReplicas", NULL) <= 0 ||
            sim_jnum(d, 0, "status", "observedGeneration", NULL) <
                sim_jnum(d, 0, "metadata", "generation", NULL) ||
            sim_jnum(d, 0, "status", "updatedReplicas", NULL) !=
                sim_jnum(d, 0, "status", "replicas", NULL))
            set_version = 0;
        else
            version = str_or(sim_jget(d, "metadata", "annotations", NULL),
                             "release.openshift.io/version", "");
    }
    if (set_version && *version) {
        cJSON *vs = cJSON_CreateArray(), *v = cJSON_CreateObject();
        cJSON_AddStringToObject(v, "name", "operator");
        cJSON_AddStringToObject(v, "version", version);
        cJSON_AddItemToArray(vs, v);
        sim_jset(st, "versions", vs);
    }
    rel = cJSON_CreateArray();
    related(rel, IR_GROUP, "configs", "cluster");
    related(rel, IR_GROUP, "imagepruners", "cluster");
    related(rel, "rbac.authorization.k8s.io", "clusterroles", "system:registry");
    related(rel, "rbac.authorization.k8s.io", "clusterrolebindings", "registry-registry-role");
    related(rel, "rbac.authorization.k8s.io", "clusterrolebindings",
            "openshift-image-registry-pruner");
    related(rel, "", "namespaces", IR_NS);
    sim_jset(st, "relatedObjects", rel);
    if (!co || !k8s_json_equal(sim_jget(co, "status", NULL), st))
        sim_internal_call(srv, "PUT", CO_PATH "/status", copy, NULL, NULL);
    cJSON_Delete(copy);
}

/* ---- the sync ---- */

static void random_hex(char *out, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    if (sim_random_alnum(out, n) != 0)
        memset(out, 'a', n);
    for (size_t i = 0; i < n; i++)
        out[i] = hex[(unsigned char)out[i] % 16];
    out[n] = '\0';
}

static void bootstrap(struct sim_server *srv)
{
    cJSON *o = cJSON_CreateObject(), *meta, *spec;
    char secret[129];
    if (!o)
        return;
    random_hex(secret, 128);
    cJSON_AddStringToObject(o, "apiVersion", IR_GROUP "/v1");
    cJSON_AddStringToObject(o, "kind", "Config");
    meta = cJSON_AddObjectToObject(o, "metadata");
    cJSON_AddStringToObject(meta, "name", "cluster");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(meta, "finalizers"), cJSON_CreateString(FINALIZER));
    spec = cJSON_AddObjectToObject(o, "spec");
    cJSON_AddStringToObject(spec, "managementState", "Managed");
    cJSON_AddStringToObject(spec, "logLevel", "Normal");
    cJSON_AddStringToObject(spec, "operatorLogLevel", "Normal");
    cJSON_AddObjectToObject(cJSON_AddObjectToObject(spec, "storage"), "emptyDir");
    cJSON_AddNumberToObject(spec, "replicas", 1);
    cJSON_AddStringToObject(spec, "httpSecret", secret);
    cJSON_AddStringToObject(spec, "rolloutStrategy", "RollingUpdate");
    sim_internal_call(srv, "POST", "/apis/" IR_GROUP "/v1/configs", o, NULL, NULL);
    memset(secret, 0, sizeof(secret));
    cJSON_Delete(o);
}

static void add_finalizer(cJSON *cr)
{
    cJSON *meta = sim_jobj(cr, "metadata"), *f, *it;
    if (!meta)
        return;
    f = cJSON_GetObjectItemCaseSensitive(meta, "finalizers");
    cJSON_ArrayForEach(it, f)
    {
        if (cJSON_IsString(it) && strcmp(it->valuestring, FINALIZER) == 0)
            return;
    }
    if (!cJSON_IsArray(f)) {
        f = cJSON_CreateArray();
        if (sim_jset(meta, "finalizers", f) != 0)
            return;
    }
    cJSON_AddItemToArray(f, cJSON_CreateString(FINALIZER));
}

static void remove_finalizer(cJSON *cr)
{
    cJSON *f = sim_jget(cr, "metadata", "finalizers", NULL), *it, *next;
    if (!f)
        return;
    for (it = f->child; it; it = next) {
        next = it->next;
        if (cJSON_IsString(it) && strcmp(it->valuestring, FINALIZER) == 0)
            cJSON_Delete(cJSON_DetachItemViaPointer(f, it));
    }
}

/* createOrUpdateResources. */
static void apply(struct rsync *x)
{
    cJSON *spec = sim_jobj(x->cr, "spec");
    add_finalizer(x->cr);
    if (sim_jnum(spec, 1, "replicas", NULL) < 0) {
        set_err(&x->err, 1, "VerificationFailed",
                "unable to complete resource: replicas must be greater than or equal to 0");
        return;
    }
    if (!*str_or(spec, "httpSecret", "")) {
        char secret[129];
        random_hex(secret, 128);
        sim_jset_str(spec, "httpSecret", secret);
        memset(secret, 0, sizeof(secret));
    }
    if (ensure_namespace(x) != 0) {
        set_err(&x->err, 0, "", "unable to apply objects: namespace %s is not usable", IR_NS);
        return;
    }
    if (sync_storage(x) != 0)
        return;
    if (apply_secret(x) != 0)
        return;
    apply_deployment(x);
}

static int meta_or_spec_changed(const cJSON *a, const cJSON *b)
{
    return !k8s_json_equal(sim_jget(a, "metadata", NULL), sim_jget(b, "metadata", NULL)) ||
           !k8s_json_equal(sim_jget(a, "spec", NULL), sim_jget(b, "spec", NULL));
}

static void write_config(struct rsync *x, const cJSON *prev)
{
    cJSON *out = NULL;
    int code;
    if (meta_or_spec_changed(prev, x->cr)) {
        code = sim_internal_call(x->srv, "PUT", CFG_PATH, x->cr, NULL, &out);
        if (code != 200) {
            cJSON_Delete(out);
            return; /* a conflict: the next tick starts over */
        }
        if (!has_deletion_ts(out) || sim_jget(out, "metadata", "finalizers", NULL)) {
            sim_jset(out, "status", cJSON_Duplicate(sim_jget(x->cr, "status", NULL), 1));
            cJSON_Delete(x->cr);
            x->cr = out;
        } else {
            cJSON_Delete(out);
            return; /* finalized: the config is gone */
        }
    }
    sim_jset(sim_jobj(x->cr, "status"), "observedGeneration",
             cJSON_CreateNumber((double)sim_jnum(x->cr, 0, "metadata", "generation", NULL)));
    if (!k8s_json_equal(sim_jget(prev, "status", NULL), sim_jget(x->cr, "status", NULL)))
        sim_internal_call(x->srv, "PUT", CFG_PATH "/status", x->cr, NULL, NULL);
}

struct sim_imgreg *sim_imgreg_new(void)
{
    return calloc(1, sizeof(struct sim_imgreg));
}

void sim_imgreg_free(struct sim_imgreg *m)
{
    free(m);
}

void sim_imgreg_tick(struct sim_server *srv, struct sim_imgreg *m)
{
    const cJSON *cfg;
    struct rsync x;
    cJSON *prev;
    const char *mgmt;
    (void)m;
    if (!sim_kinds_find(srv->kinds, IR_GROUP, "v1", "configs", 1))
        return;
    cfg = stored(srv, IR_GROUP, "configs", "", "cluster");
    if (!cfg) {
        if (sim_wl_bool(srv, 0, "imageRegistry", "bootstrap", NULL))
            bootstrap(srv);
        return;
    }
    memset(&x, 0, sizeof(x));
    x.srv = srv;
    x.cr = cJSON_Duplicate(cfg, 1);
    prev = cJSON_Duplicate(cfg, 1);
    x.env = cJSON_CreateArray();
    x.vols = cJSON_CreateArray();
    x.mounts = cJSON_CreateArray();
    x.secdata = cJSON_CreateObject();
    if (!x.cr || !prev || !x.env || !x.vols || !x.mounts || !x.secdata)
        goto out;
    if (!cJSON_IsObject(sim_jget(x.cr, "status", "storage", NULL)))
        sim_jset(sim_jobj(x.cr, "status"), "storage", cJSON_CreateObject());
    if (!sim_jget(x.cr, "status", "storageManaged", NULL))
        sim_jset(sim_jobj(x.cr, "status"), "storageManaged", cJSON_CreateFalse());
    if (has_deletion_ts(x.cr)) {
        /* finalizeResources: clean up, then let the config go. */
        const cJSON *f;
        int ours = 0;
        cJSON_ArrayForEach(f, sim_jget(x.cr, "metadata", "finalizers", NULL))
        {
            if (cJSON_IsString(f) && strcmp(f->valuestring, FINALIZER) == 0)
                ours = 1;
        }
        if (ours) {
            remove_resources(&x);
            remove_finalizer(x.cr);
            write_config(&x, prev);
        }
        goto out;
    }
    mgmt = str_or(sim_jget(x.cr, "spec", NULL), "managementState", "");
    if (strcmp(mgmt, "Removed") == 0)
        remove_resources(&x);
    else if (strcmp(mgmt, "Managed") == 0)
        apply(&x);
    sync_status(&x, stored(srv, "apps", "deployments", IR_NS, IR_NAME));
    write_config(&x, prev);
    cfg = stored(srv, IR_GROUP, "configs", "", "cluster");
    if (cfg)
        sync_co(srv, cfg);
out:
    cJSON_Delete(x.cr);
    cJSON_Delete(prev);
    cJSON_Delete(x.env);
    cJSON_Delete(x.vols);
    cJSON_Delete(x.mounts);
    cJSON_Delete(x.secdata);
}
