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

/* metadata shared by the three objects. */
static cJSON *metadata(const struct quay_keyjob_spec *s, const char *name)
{
    cJSON *m = cJSON_CreateObject(), *labels, *ann, *refs, *ref;
    if (!m)
        return NULL;
    cJSON_AddStringToObject(m, "name", name);
    cJSON_AddStringToObject(m, "namespace", s->namespace);
    labels = cJSON_AddObjectToObject(m, "labels");
    ann = cJSON_AddObjectToObject(m, "annotations");
    refs = cJSON_AddArrayToObject(m, "ownerReferences");
    ref = cJSON_CreateObject();
    if (!labels || !ann || !refs || !ref) {
        cJSON_Delete(ref);
        cJSON_Delete(m);
        return NULL;
    }
    cJSON_AddStringToObject(labels, "app.kubernetes.io/managed-by", MANAGED_BY);
    cJSON_AddStringToObject(labels, "app.kubernetes.io/component", "service-key");
    cJSON_AddStringToObject(labels, "quaystorage.io/service-key-op", quay_keyjob_op_name(s->op));
    /* Window names may exceed a label value's 63 characters: annotation. */
    cJSON_AddStringToObject(ann, "quaystorage.io/readonlywindow", s->window_name);
    cJSON_AddStringToObject(ref, "apiVersion", OWNER_API);
    cJSON_AddStringToObject(ref, "kind", OWNER_KIND);
    cJSON_AddStringToObject(ref, "name", s->window_name);
    cJSON_AddStringToObject(ref, "uid", s->window_uid);
    cJSON_AddBoolToObject(ref, "controller", 1);
    cJSON_AddBoolToObject(ref, "blockOwnerDeletion", 1);
    cJSON_AddItemToArray(refs, ref);
    return m;
}

static cJSON *object(const char *api, const char *kind, cJSON *meta)
{
    cJSON *o = cJSON_CreateObject();
    if (!o || !meta) {
        cJSON_Delete(o);
        cJSON_Delete(meta);
        return NULL;
    }
    cJSON_AddStringToObject(o, "apiVersion", api);
    cJSON_AddStringToObject(o, "kind", kind);
    cJSON_AddItemToObject(o, "metadata", meta);
    return o;
}

static cJSON *strings(const char *const *v)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && v[i]; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
    return a;
}

static cJSON *volume_mount(const char *name, const char *path)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "name", name);
    cJSON_AddStringToObject(m, "mountPath", path);
    cJSON_AddBoolToObject(m, "readOnly", 1);
    return m;
}

static cJSON *build_job(const struct quay_keyjob_spec *s, const char *name, const char *sql_key)
{
    char sql_path[128], svc_path[128];
    const char *cmd[] = {"psql", "-X",           "-q", "-w",     "-v", "ON_ERROR_STOP=1",
                         "-d",   "service=quay", "-f", sql_path, NULL};
    const char *drop[] = {"ALL", NULL};
    cJSON *job = object("batch/v1", "Job", metadata(s, name));
    cJSON *spec, *tmpl, *tmeta, *pod, *c, *env, *e, *mounts, *vols, *v, *src, *sc, *psc, *caps;
    cJSON *seccomp;
    if (!job)
        return NULL;
    snprintf(sql_path, sizeof(sql_path), "%s/%s", QUAY_KEYJOB_SQL_DIR, sql_key);
    snprintf(svc_path, sizeof(svc_path), "%s/%s", QUAY_KEYJOB_SERVICE_DIR, QUAY_KEYJOB_SERVICE_KEY);
    spec = cJSON_AddObjectToObject(job, "spec");
    /* psql is idempotent here; two retries cover a database restart. */
    cJSON_AddNumberToObject(spec, "backoffLimit", 2);
    cJSON_AddNumberToObject(spec, "activeDeadlineSeconds",
                            s->active_deadline_seconds > 0 ? (double)s->active_deadline_seconds
                                                           : 300);
    tmpl = cJSON_AddObjectToObject(spec, "template");
    tmeta = cJSON_AddObjectToObject(tmpl, "metadata");
    cJSON_AddItemToObject(
        tmeta, "labels",
        cJSON_Duplicate(cJSON_GetObjectItem(cJSON_GetObjectItem(job, "metadata"), "labels"), 1));
    pod = cJSON_AddObjectToObject(tmpl, "spec");
    cJSON_AddStringToObject(pod, "restartPolicy", "Never");
    cJSON_AddBoolToObject(pod, "automountServiceAccountToken", 0);
    cJSON_AddBoolToObject(pod, "enableServiceLinks", 0);
    psc = cJSON_AddObjectToObject(pod, "securityContext");
    cJSON_AddBoolToObject(psc, "runAsNonRoot", 1);
    seccomp = cJSON_AddObjectToObject(psc, "seccompProfile");
    cJSON_AddStringToObject(seccomp, "type", "RuntimeDefault");
    if (cJSON_IsArray(s->image_pull_secrets) && cJSON_GetArraySize(s->image_pull_secrets) > 0)
        cJSON_AddItemToObject(pod, "imagePullSecrets", cJSON_Duplicate(s->image_pull_secrets, 1));
    c = cJSON_CreateObject();
    cJSON_AddItemToArray(cJSON_AddArrayToObject(pod, "containers"), c);
    cJSON_AddStringToObject(c, "name", "psql");
    cJSON_AddStringToObject(c, "image", s->image);
    cJSON_AddStringToObject(c, "imagePullPolicy", "IfNotPresent");
    cJSON_AddItemToObject(c, "command", strings(cmd));
    env = cJSON_AddArrayToObject(c, "env");
    e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "name", "PGSERVICEFILE");
    cJSON_AddStringToObject(e, "value", svc_path);
    cJSON_AddItemToArray(env, e);
    cJSON_AddStringToObject(c, "terminationMessagePolicy", "FallbackToLogsOnError");
    mounts = cJSON_AddArrayToObject(c, "volumeMounts");
    cJSON_AddItemToArray(mounts, volume_mount("sql", QUAY_KEYJOB_SQL_DIR));
    cJSON_AddItemToArray(mounts, volume_mount("db", QUAY_KEYJOB_SERVICE_DIR));
    sc = cJSON_AddObjectToObject(c, "securityContext");
    cJSON_AddBoolToObject(sc, "allowPrivilegeEscalation", 0);
    cJSON_AddBoolToObject(sc, "readOnlyRootFilesystem", 1);
    caps = cJSON_AddObjectToObject(sc, "capabilities");
    cJSON_AddItemToObject(caps, "drop", strings(drop));
    vols = cJSON_AddArrayToObject(pod, "volumes");
    v = cJSON_CreateObject();
    cJSON_AddStringToObject(v, "name", "sql");
    src = cJSON_AddObjectToObject(v, "configMap");
    cJSON_AddStringToObject(src, "name", name);
    cJSON_AddItemToArray(vols, v);
    v = cJSON_CreateObject();
    cJSON_AddStringToObject(v, "name", "db");
    src = cJSON_AddObjectToObject(v, "secret");
    cJSON_AddStringToObject(src, "secretName", name);
    cJSON_AddNumberToObject(src, "defaultMode", 0400);
    cJSON_AddItemToArray(vols, v);
    return job;
}

/* cJSON_Add* calls return NULL (and add nothing) when memory runs out: the
 * objects are checked once at the end rather than after every call. */
static int complete(const cJSON *cm, const cJSON *sec, const cJSON *job)
{
    const cJSON *pod = cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(job, "spec"), "template"), "spec");
    const cJSON *vols = cJSON_GetObjectItem(pod, "volumes");
    const cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItem(pod, "containers"), 0);
    return cm && sec && job && cJSON_GetObjectItem(cm, "data") &&
           cJSON_GetObjectItem(sec, "stringData") && cJSON_GetArraySize(vols) == 2 &&
           cJSON_GetArraySize(cJSON_GetObjectItem(c, "command")) == 10 &&
           cJSON_GetObjectItem(cJSON_GetObjectItem(c, "securityContext"), "capabilities");
}

int quay_keyjob_build(const struct quay_keyjob_spec *s, struct quay_keyjob *out,
                      struct k8s_error *err)
{
    char sql_key[32];
    cJSON *data;
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

    out->config_map = object("v1", "ConfigMap", metadata(s, out->name));
    data = out->config_map ? cJSON_AddObjectToObject(out->config_map, "data") : NULL;
    cJSON_AddStringToObject(data, sql_key, s->sql);
    out->secret = object("v1", "Secret", metadata(s, out->name));
    if (out->secret) {
        cJSON_AddStringToObject(out->secret, "type", "Opaque");
        /* stringData: the API server encodes it; the value is never logged. */
        cJSON_AddStringToObject(cJSON_AddObjectToObject(out->secret, "stringData"),
                                QUAY_KEYJOB_SERVICE_KEY, s->pg_service);
    }
    out->job = build_job(s, out->name, sql_key);
    if (!complete(out->config_map, out->secret, out->job)) {
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
