/* The service-key Job's objects and outcome (see quay_keyjob.h). */
#include "quay_keyjob.h"

#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#define MANAGED_BY "quay-storage-operator"
#define OWNER_API  "quaystorage.io/v1alpha1"
#define OWNER_KIND "ReadOnlyWindow"

const char *quay_keyjob_op_name(enum quay_keyjob_op op)
{
    switch (op) {
    case QUAY_KEYJOB_REGISTER:
        return "register";
    case QUAY_KEYJOB_EXTEND:
        return "extend";
    case QUAY_KEYJOB_EXPIRE:
        return "expire";
    }
    return "unknown";
}

/* sha256(namespace "/" window "\n" op "\n" sql), first 10 hex digits. */
static int name_for(const struct quay_keyjob_spec *s, char *out, size_t cap)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dl = 0;
    const char *op = quay_keyjob_op_name(s->op);
    char hex[11];
    int ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(md, s->namespace, strlen(s->namespace)) == 1 &&
             EVP_DigestUpdate(md, "/", 1) == 1 &&
             EVP_DigestUpdate(md, s->window_name, strlen(s->window_name)) == 1 &&
             EVP_DigestUpdate(md, "\n", 1) == 1 && EVP_DigestUpdate(md, op, strlen(op)) == 1 &&
             EVP_DigestUpdate(md, "\n", 1) == 1 &&
             EVP_DigestUpdate(md, s->sql, strlen(s->sql)) == 1 &&
             EVP_DigestFinal_ex(md, d, &dl) == 1 && dl >= 5;
    EVP_MD_CTX_free(md);
    if (!ok)
        return -1;
    for (int i = 0; i < 5; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    return snprintf(out, cap, "qso-sk-%s-%s", op, hex) < (int)cap ? 0 : -1;
}

/*
 * Every cJSON_Add* call returns NULL (and adds nothing) when memory runs
 * out, and a Job missing one member (automountServiceAccountToken: false, a
 * securityContext field, the owner's uid) is still a valid Job. So each call
 * goes through OK(), which records a failure in the builder's `bad` flag,
 * and the objects are used only when nothing failed.
 */
#define OK(expr)                                                                                   \
    do {                                                                                           \
        if (!(expr))                                                                               \
            *bad = 1;                                                                              \
    } while (0)

/* Adds `item` (owned) to object `o` or array `o` (k NULL); frees it on failure. */
static cJSON *put(cJSON *o, const char *k, cJSON *item, int *bad)
{
    int added =
        o && item && (k ? cJSON_AddItemToObject(o, k, item) : cJSON_AddItemToArray(o, item));
    if (!added) {
        cJSON_Delete(item);
        *bad = 1;
        return NULL;
    }
    return item;
}

/* metadata shared by the three objects. */
static cJSON *metadata(const struct quay_keyjob_spec *s, const char *name, int *bad)
{
    cJSON *m = cJSON_CreateObject(), *labels, *ann, *ref;
    if (!m) {
        *bad = 1;
        return NULL;
    }
    OK(cJSON_AddStringToObject(m, "name", name));
    OK(cJSON_AddStringToObject(m, "namespace", s->namespace));
    labels = cJSON_AddObjectToObject(m, "labels");
    ann = cJSON_AddObjectToObject(m, "annotations");
    ref = put(cJSON_AddArrayToObject(m, "ownerReferences"), NULL, cJSON_CreateObject(), bad);
    OK(labels && ann && ref);
    OK(cJSON_AddStringToObject(labels, "app.kubernetes.io/managed-by", MANAGED_BY));
    OK(cJSON_AddStringToObject(labels, "app.kubernetes.io/component", "service-key"));
    OK(cJSON_AddStringToObject(labels, "quaystorage.io/service-key-op",
                               quay_keyjob_op_name(s->op)));
    /* Window names may exceed a label value's 63 characters: annotation. */
    OK(cJSON_AddStringToObject(ann, "quaystorage.io/readonlywindow", s->window_name));
    OK(cJSON_AddStringToObject(ref, "apiVersion", OWNER_API));
    OK(cJSON_AddStringToObject(ref, "kind", OWNER_KIND));
    OK(cJSON_AddStringToObject(ref, "name", s->window_name));
    OK(cJSON_AddStringToObject(ref, "uid", s->window_uid));
    OK(cJSON_AddBoolToObject(ref, "controller", 1));
    OK(cJSON_AddBoolToObject(ref, "blockOwnerDeletion", 1));
    return m;
}

static cJSON *object(const char *api, const char *kind, cJSON *meta, int *bad)
{
    cJSON *o = cJSON_CreateObject();
    if (!o || !meta) {
        cJSON_Delete(o);
        cJSON_Delete(meta);
        *bad = 1;
        return NULL;
    }
    OK(cJSON_AddStringToObject(o, "apiVersion", api));
    OK(cJSON_AddStringToObject(o, "kind", kind));
    put(o, "metadata", meta, bad);
    return o;
}

static cJSON *strings(const char *const *v, int *bad)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && v[i]; i++)
        put(a, NULL, cJSON_CreateString(v[i]), bad);
    return a;
}

static cJSON *volume_mount(const char *name, const char *path, int *bad)
{
    cJSON *m = cJSON_CreateObject();
    OK(cJSON_AddStringToObject(m, "name", name));
    OK(cJSON_AddStringToObject(m, "mountPath", path));
    OK(cJSON_AddBoolToObject(m, "readOnly", 1));
    return m;
}

static cJSON *build_job(const struct quay_keyjob_spec *s, const char *name, const char *sql_key,
                        int *bad)
{
    char sql_path[128], svc_path[128];
    const char *cmd[] = {"psql", "-X",           "-q", "-w",     "-v", "ON_ERROR_STOP=1",
                         "-d",   "service=quay", "-f", sql_path, NULL};
    const char *drop[] = {"ALL", NULL};
    cJSON *job = object("batch/v1", "Job", metadata(s, name, bad), bad);
    cJSON *spec, *tmpl, *tmeta, *pod, *c, *env, *e, *mounts, *vols, *v, *src, *sc, *psc, *caps;
    cJSON *seccomp;
    if (!job)
        return NULL;
    snprintf(sql_path, sizeof(sql_path), "%s/%s", QUAY_KEYJOB_SQL_DIR, sql_key);
    snprintf(svc_path, sizeof(svc_path), "%s/%s", QUAY_KEYJOB_SERVICE_DIR, QUAY_KEYJOB_SERVICE_KEY);
    spec = cJSON_AddObjectToObject(job, "spec");
    /* psql is idempotent here; two retries cover a database restart. */
    OK(cJSON_AddNumberToObject(spec, "backoffLimit", 2));
    OK(cJSON_AddNumberToObject(spec, "activeDeadlineSeconds",
                               s->active_deadline_seconds > 0 ? (double)s->active_deadline_seconds
                                                              : 300));
    tmpl = cJSON_AddObjectToObject(spec, "template");
    tmeta = cJSON_AddObjectToObject(tmpl, "metadata");
    put(tmeta, "labels",
        cJSON_Duplicate(cJSON_GetObjectItem(cJSON_GetObjectItem(job, "metadata"), "labels"), 1),
        bad);
    pod = cJSON_AddObjectToObject(tmpl, "spec");
    OK(pod);
    OK(cJSON_AddStringToObject(pod, "restartPolicy", "Never"));
    OK(cJSON_AddBoolToObject(pod, "automountServiceAccountToken", 0));
    OK(cJSON_AddBoolToObject(pod, "enableServiceLinks", 0));
    psc = cJSON_AddObjectToObject(pod, "securityContext");
    OK(cJSON_AddBoolToObject(psc, "runAsNonRoot", 1));
    seccomp = cJSON_AddObjectToObject(psc, "seccompProfile");
    OK(cJSON_AddStringToObject(seccomp, "type", "RuntimeDefault"));
    if (cJSON_IsArray(s->image_pull_secrets) && cJSON_GetArraySize(s->image_pull_secrets) > 0)
        put(pod, "imagePullSecrets", cJSON_Duplicate(s->image_pull_secrets, 1), bad);
    c = put(cJSON_AddArrayToObject(pod, "containers"), NULL, cJSON_CreateObject(), bad);
    OK(cJSON_AddStringToObject(c, "name", "psql"));
    OK(cJSON_AddStringToObject(c, "image", s->image));
    OK(cJSON_AddStringToObject(c, "imagePullPolicy", "IfNotPresent"));
    put(c, "command", strings(cmd, bad), bad);
    env = cJSON_AddArrayToObject(c, "env");
    e = put(env, NULL, cJSON_CreateObject(), bad);
    OK(cJSON_AddStringToObject(e, "name", "PGSERVICEFILE"));
    OK(cJSON_AddStringToObject(e, "value", svc_path));
    OK(cJSON_AddStringToObject(c, "terminationMessagePolicy", "FallbackToLogsOnError"));
    mounts = cJSON_AddArrayToObject(c, "volumeMounts");
    put(mounts, NULL, volume_mount("sql", QUAY_KEYJOB_SQL_DIR, bad), bad);
    put(mounts, NULL, volume_mount("db", QUAY_KEYJOB_SERVICE_DIR, bad), bad);
    sc = cJSON_AddObjectToObject(c, "securityContext");
    OK(cJSON_AddBoolToObject(sc, "allowPrivilegeEscalation", 0));
    OK(cJSON_AddBoolToObject(sc, "readOnlyRootFilesystem", 1));
    caps = cJSON_AddObjectToObject(sc, "capabilities");
    put(caps, "drop", strings(drop, bad), bad);
    vols = cJSON_AddArrayToObject(pod, "volumes");
    v = put(vols, NULL, cJSON_CreateObject(), bad);
    OK(cJSON_AddStringToObject(v, "name", "sql"));
    src = cJSON_AddObjectToObject(v, "configMap");
    OK(cJSON_AddStringToObject(src, "name", name));
    v = put(vols, NULL, cJSON_CreateObject(), bad);
    OK(cJSON_AddStringToObject(v, "name", "db"));
    src = cJSON_AddObjectToObject(v, "secret");
    OK(cJSON_AddStringToObject(src, "secretName", name));
    OK(cJSON_AddNumberToObject(src, "defaultMode", 0400));
    return job;
}

int quay_keyjob_build(const struct quay_keyjob_spec *s, struct quay_keyjob *out,
                      struct k8s_error *err)
{
    char sql_key[32];
    int failed = 0, *bad = &failed;
    memset(out, 0, sizeof(*out));
    if (!s->namespace || !*s->namespace || !s->window_name || !*s->window_name || !s->window_uid ||
        !*s->window_uid)
        return k8s_error_set(err, K8S_EARG,
                             "service-key Job: the window's namespace, name and "
                             "uid are required");
    if (!s->image || !*s->image)
        return k8s_error_set(err, K8S_EARG,
                             "service-key Job: no Quay image (read from the registry's "
                             "quay-app Deployment) to run psql with");
    if (!s->sql || !*s->sql || !s->pg_service || !*s->pg_service)
        return k8s_error_set(err, K8S_EARG,
                             "service-key Job: the SQL script and the database service file "
                             "are required");
    if (name_for(s, out->name, sizeof(out->name)) != 0)
        return k8s_error_set(err, K8S_ENOMEM, "service-key Job: cannot hash its name");
    snprintf(sql_key, sizeof(sql_key), "%s.sql", quay_keyjob_op_name(s->op));

    out->config_map = object("v1", "ConfigMap", metadata(s, out->name, bad), bad);
    OK(cJSON_AddStringToObject(cJSON_AddObjectToObject(out->config_map, "data"), sql_key, s->sql));
    out->secret = object("v1", "Secret", metadata(s, out->name, bad), bad);
    OK(cJSON_AddStringToObject(out->secret, "type", "Opaque"));
    /* stringData: the API server encodes it; the value is never logged. */
    OK(cJSON_AddStringToObject(cJSON_AddObjectToObject(out->secret, "stringData"),
                               QUAY_KEYJOB_SERVICE_KEY, s->pg_service));
    out->job = build_job(s, out->name, sql_key, bad);
    if (failed || !out->config_map || !out->secret || !out->job) {
        quay_keyjob_clear(out);
        return k8s_error_set(err, K8S_ENOMEM, "service-key Job: out of memory");
    }
    return 0;
}

void quay_keyjob_clear(struct quay_keyjob *kj)
{
    cJSON_Delete(kj->config_map);
    /* The Secret holds the database password: wipe its string before freeing. */
    if (kj->secret) {
        cJSON *sd = cJSON_GetObjectItem(kj->secret, "stringData");
        cJSON *v = cJSON_GetObjectItem(sd, QUAY_KEYJOB_SERVICE_KEY);
        if (cJSON_IsString(v) && v->valuestring)
            memset(v->valuestring, 0, strlen(v->valuestring));
        cJSON_Delete(kj->secret);
    }
    cJSON_Delete(kj->job);
    memset(kj, 0, sizeof(*kj));
}

static const cJSON *condition(const cJSON *job, const char *type)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(cJSON_GetObjectItem(job, "status"), "conditions"))
    {
        const cJSON *t = cJSON_GetObjectItem(c, "type");
        const cJSON *st = cJSON_GetObjectItem(c, "status");
        if (cJSON_IsString(t) && strcmp(t->valuestring, type) == 0 && cJSON_IsString(st) &&
            strcmp(st->valuestring, "True") == 0)
            return c;
    }
    return NULL;
}

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItem(o, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* psql's words: the last failed container's termination message. */
static const char *pod_message(const cJSON *pods)
{
    const cJSON *p, *cs;
    const char *found = NULL;
    cJSON_ArrayForEach(p, pods)
    {
        cJSON_ArrayForEach(
            cs, cJSON_GetObjectItem(cJSON_GetObjectItem(p, "status"), "containerStatuses"))
        {
            const cJSON *t = cJSON_GetObjectItem(cJSON_GetObjectItem(cs, "state"), "terminated");
            const cJSON *code = cJSON_GetObjectItem(t, "exitCode");
            if (cJSON_IsNumber(code) && code->valuedouble != 0 && *str(t, "message"))
                found = str(t, "message");
        }
    }
    return found;
}

enum quay_keyjob_state quay_keyjob_outcome(const cJSON *job, const cJSON *pods, char *message,
                                           size_t cap)
{
    const cJSON *failed = condition(job, "Failed");
    const char *psql;
    if (cap)
        message[0] = '\0';
    if (condition(job, "Complete"))
        return QUAY_KEYJOB_SUCCEEDED;
    if (!failed)
        return QUAY_KEYJOB_RUNNING;
    psql = pod_message(pods);
    if (cap) {
        int n = snprintf(message, cap, "Job %s failed (%s: %s)",
                         str(cJSON_GetObjectItem(job, "metadata"), "name"), str(failed, "reason"),
                         str(failed, "message"));
        if (psql && n > 0 && (size_t)n < cap)
            snprintf(message + n, cap - (size_t)n, "; psql: %s", psql);
    }
    return QUAY_KEYJOB_FAILED;
}
