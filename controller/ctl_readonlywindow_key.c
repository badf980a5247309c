/*
 * ReadOnly windows' service keys (see ctl_readonlywindow.h, "restart
 * safety"): the keys held in memory between their generation and the
 * moment their overlay is in the state Secret, their expiry rules, and the
 * Jobs that register, extend and expire them (quay_keyjob.h).
 *
 * Why memory: the private key may live only in the composer's state Secret
 * (DESIGN.md; never in a status, an Event or a log). Until the key is
 * registered — a Job that takes seconds — it cannot go into an overlay, so
 * it waits here. A restart loses it; the window's status already names its
 * kid, so the next process expires that kid and makes a new key: slower,
 * never unsafe.
 *
 * The Job's inputs come from the target itself: the Quay image of its
 * quay-app Deployment (it ships psql, nothing new to mirror) and the
 * database URI of its effective configuration — for a QuayRegistry the
 * config the Quay Operator rendered (with a managed database DB_URI exists
 * only there), for a StandaloneQuay its config Secret.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_readonlywindow_int.h"
#include "k8s_log.h"
#include "quay_bundle.h"
#include "quay_target.h"

static const struct k8s_resource JOBS = {"batch", "v1", "jobs", 1};
static const struct k8s_resource PODS = {"", "v1", "pods", 1};
static const struct k8s_resource SECRETS = {"", "v1", "secrets", 1};
static const struct k8s_resource CONFIGMAPS = {"", "v1", "configmaps", 1};
static const struct k8s_resource DEPLOYMENTS = {"apps", "v1", "deployments", 1};

#define DB_URI_MAX 4096

/* ---- keys in memory ------------------------------------------------------------------ */

struct rw_key *ctl_rw__key_find(struct ctl_rw *r, const char *uid)
{
    struct rw_key *k;
    pthread_mutex_lock(&r->mu);
    for (k = r->keys; k && strcmp(k->uid, uid) != 0; k = k->next)
        ;
    pthread_mutex_unlock(&r->mu);
    return k;
}

int ctl_rw__key_new(struct ctl_rw *r, const char *uid, const char *target, long long expires_at,
                    struct rw_key **out, struct k8s_error *err)
{
    struct rw_key *k = calloc(1, sizeof(*k));
    int rc;
    *out = NULL;
    if (!k)
        return k8s_error_set(err, K8S_ENOMEM, "out of memory");
    if ((rc = quay_servicekey_generate(&k->key, err))) {
        free(k);
        return rc;
    }
    snprintf(k->uid, sizeof(k->uid), "%s", uid);
    snprintf(k->target, sizeof(k->target), "%s", target);
    k->expires_at = expires_at;
    pthread_mutex_lock(&r->mu);
    k->next = r->keys;
    r->keys = k;
    pthread_mutex_unlock(&r->mu);
    *out = k;
    return 0;
}

static void key_free(struct rw_key *k)
{
    quay_servicekey_free(k->key);
    free(k);
}

void ctl_rw__key_drop(struct ctl_rw *r, const char *uid)
{
    struct rw_key **p, *k = NULL;
    pthread_mutex_lock(&r->mu);
    for (p = &r->keys; *p; p = &(*p)->next) {
        if (strcmp((*p)->uid, uid) == 0) {
            k = *p;
            *p = k->next;
            break;
        }
    }
    pthread_mutex_unlock(&r->mu);
    if (k)
        key_free(k);
}

void ctl_rw__key_sweep(struct ctl_rw *r, const char *target, char (*uids)[QUAY_UID_MAX + 1],
                       size_t n)
{
    struct rw_key **p, *gone = NULL;
    pthread_mutex_lock(&r->mu);
    p = &r->keys;
    while (*p) {
        struct rw_key *k = *p;
        size_t i;
        for (i = 0; i < n && strcmp(uids[i], k->uid) != 0; i++)
            ;
        if (strcmp(k->target, target) == 0 && i == n) {
            *p = k->next;
            k->next = gone;
            gone = k;
        } else {
            p = &k->next;
        }
    }
    pthread_mutex_unlock(&r->mu);
    while (gone) {
        struct rw_key *k = gone;
        gone = k->next;
        key_free(k);
    }
}

void ctl_rw__keys_free(struct ctl_rw *r)
{
    while (r->keys) {
        struct rw_key *k = r->keys;
        r->keys = k->next;
        key_free(k);
    }
}

void ctl_rw__key_name(const char *kid, char *out, size_t cap)
{
    /* base64url characters are all valid in a Secret key; 16 of them keep
     * two windows' files apart and the name short. */
    snprintf(out, cap, "qso-readonly-%.16s", kid);
}

/* ---- expiry ---------------------------------------------------------------------------- */

static int64_t margin_s(const struct ctl_rw *r)
{
    return r->o.key_margin_s > 0 ? r->o.key_margin_s : 3600;
}

static int64_t open_validity_s(const struct ctl_rw *r)
{
    return r->o.key_open_validity_s > 0 ? r->o.key_open_validity_s : 86400;
}

long long ctl_rw__key_expiry(const struct ctl_rw *r, const struct ctl_rw_times *t,
                             int64_t activated_ms, int64_t now_ms)
{
    /* Not activated yet: a duration counts from about now. */
    int64_t end = ctl_rw_end(t, activated_ms ? activated_ms : now_ms);
    if (end)
        return (long long)((end + 999) / 1000 + margin_s(r));
    /* No end: rounded up to the hour, so every reconcile within an hour
     * computes the same value (the same Job name, no duplicate Jobs). */
    long long e = (long long)(now_ms / 1000 + open_validity_s(r));
    return (e + 3599) / 3600 * 3600;
}

int64_t ctl_rw__key_renew_at(const struct ctl_rw *r, const struct ctl_rw_times *t,
                             int64_t activated_ms, long long have, int64_t now_ms)
{
    if (ctl_rw_end(t, activated_ms ? activated_ms : now_ms))
        return 0; /* renewed only when the end moves */
    return (int64_t)(have - open_validity_s(r) / 2) * 1000;
}

int ctl_rw__key_needs_extension(const struct ctl_rw *r, const struct ctl_rw_times *t,
                                int64_t activated_ms, long long have, int64_t now_ms)
{
    int64_t end = ctl_rw_end(t, activated_ms ? activated_ms : now_ms);
    if (end)
        return have < (end + 999) / 1000 + margin_s(r) / 2;
    return have - now_ms / 1000 < open_validity_s(r) / 2;
}

/* ---- the Job's inputs ---------------------------------------------------------------- */

/* The registry's Quay image and pull secrets, from its quay-app Deployment
 * (a StandaloneQuay's first Deployment). */
static int quay_image(struct k8s_client *c, const struct quay_target_ref *t, char *image,
                      size_t cap, cJSON **pull_secrets, struct k8s_error *err)
{
    char dep[QUAY_NAME_MAX + 16];
    cJSON *d = NULL;
    const cJSON *ct, *pod, *pick = NULL;
    int rc;
    *pull_secrets = NULL;
    if (t->kind == QUAY_TARGET_QUAYREGISTRY)
        snprintf(dep, sizeof(dep), "%s-quay-app", t->name);
    else
        snprintf(dep, sizeof(dep), "%s", t->ndeployments ? t->deployments[0] : "");
    if ((rc = k8s_get(c, &DEPLOYMENTS, t->ns, dep, NULL, &d, err))) {
        if (rc == K8S_ENOTFOUND)
            k8s_error_set(err, rc, "Deployment %s/%s (the registry's Quay) not found", t->ns, dep);
        return rc;
    }
    pod = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(d, "spec"), "template"),
        "spec");
    cJSON_ArrayForEach(ct, cJSON_GetObjectItemCaseSensitive(pod, "containers"))
    {
        const char *n = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ct, "name"));
        if (!pick || (n && (strcmp(n, "quay-app") == 0 || strcmp(n, "quay") == 0)))
            pick = ct;
    }
    const char *img = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(pick, "image"));
    if (!img || !*img) {
        rc = k8s_error_set(err, K8S_ENOTFOUND, "Deployment %s/%s names no container image", t->ns,
                           dep);
        goto out;
    }
    snprintf(image, cap, "%s", img);
    const cJSON *ps = cJSON_GetObjectItemCaseSensitive(pod, "imagePullSecrets");
    if (cJSON_IsArray(ps) && !(*pull_secrets = cJSON_Duplicate(ps, 1)))
        rc = k8s_error_set(err, K8S_ENOMEM, "out of memory");
out:
    cJSON_Delete(d);
    return rc;
}

/* The libpq service file for the registry's database (holds the password). */
static int pg_service(struct k8s_client *c, const struct quay_target_ref *t, char **out,
                      struct k8s_error *err)
{
    struct quay_bundle *b = NULL;
    cJSON *sec = NULL;
    char *uri = NULL;
    size_t len = 0;
    int rc, present = 0;
    *out = NULL;
    if (t->kind == QUAY_TARGET_QUAYREGISTRY) {
        rc = quay_target_effective_bundle(c, t, &b, err);
    } else if (!(rc = k8s_get(c, &SECRETS, t->ns, t->name, NULL, &sec, err))) {
        rc = quay_bundle_from_secret_data(cJSON_GetObjectItemCaseSensitive(sec, "data"),
                                          QUAY_BUNDLE_STANDALONE,
                                          t->config_key[0] ? t->config_key : NULL, &b, err);
    }
    if (rc)
        goto out;
    if (!(uri = calloc(1, DB_URI_MAX))) {
        rc = k8s_error_set(err, K8S_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = quay_bundle_get_string(b, "DB_URI", uri, DB_URI_MAX, &present, err)))
        goto out;
    if (!present) {
        rc = k8s_error_set(err, K8S_EINVALID,
                           "the registry's effective configuration has no DB_URI: the service "
                           "key cannot be registered");
        goto out;
    }
    rc = quay_pg_service_from_db_uri("quay", uri, out, &len, err);
out:
    if (uri) {
        memset(uri, 0, DB_URI_MAX);
        free(uri);
    }
    quay_bundle_free(b);
    cJSON_Delete(sec);
    return rc;
}

/* ---- the Job ---------------------------------------------------------------------------- */

static int create_ignoring_exists(struct k8s_client *c, const struct k8s_resource *res,
                                  const char *ns, const cJSON *obj, struct k8s_error *err)
{
    cJSON *created = NULL;
    int rc = k8s_create(c, res, ns, obj, NULL, &created, err);
    cJSON_Delete(created);
    return rc == K8S_EALREADYEXISTS ? 0 : rc;
}

static int delete_ignoring_missing(struct k8s_client *c, const struct k8s_resource *res,
                                   const char *ns, const char *name, struct k8s_error *err)
{
    struct k8s_delete_opts d = {.propagation_policy = "Background", .grace_period_seconds = -1};
    int rc = k8s_delete(c, res, ns, name, &d, NULL, NULL, err);
    return rc == K8S_ENOTFOUND ? 0 : rc;
}

/* A key Job and its inputs, all named alike: the Job, its Secret (the
 * database password) and its ConfigMap (the SQL). */
static int delete_key_job(struct k8s_client *c, const char *ns, const char *name,
                          struct k8s_error *err)
{
    int rc;
    if ((rc = delete_ignoring_missing(c, &JOBS, ns, name, err)) ||
        (rc = delete_ignoring_missing(c, &SECRETS, ns, name, err)))
        return rc;
    return delete_ignoring_missing(c, &CONFIGMAPS, ns, name, err);
}

/* What the Job's pod is waiting for, e.g. "ImagePullBackOff: ...". */
static void pod_waiting(const cJSON *pods, char *buf, size_t cap)
{
    const cJSON *p, *cs;
    buf[0] = '\0';
    cJSON_ArrayForEach(p, pods)
    {
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(p, "status");
        cJSON_ArrayForEach(cs, cJSON_GetObjectItemCaseSensitive(st, "containerStatuses"))
        {
            const cJSON *w = cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(cs, "state"), "waiting");
            const char *reason =
                cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(w, "reason"));
            const char *msg = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(w, "message"));
            if (reason && strcmp(reason, "ContainerCreating") != 0) {
                snprintf(buf, cap, "; its pod waits: %s%s%.300s", reason, msg ? ": " : "",
                         msg ? msg : "");
                return;
            }
        }
    }
}

int ctl_rw__keyjob(struct ctl_rw *r, struct ctl_context *ctx, const struct quay_target_ref *t,
                   const cJSON *window, enum quay_keyjob_op op, const char *sql,
                   enum quay_keyjob_state *state, char *msg, size_t cap, struct k8s_error *err)
{
    struct k8s_client *c = ctl_context_client(ctx);
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(window, "metadata");
    struct quay_keyjob_spec spec = {0};
    struct quay_keyjob kj;
    cJSON *job = NULL, *pods = NULL, *pull = NULL;
    char image[1024], name[QUAY_KEYJOB_NAME_MAX], sel[128], why[600];
    char *svc = NULL;
    int rc;

    memset(&kj, 0, sizeof(kj));
    *state = QUAY_KEYJOB_RUNNING;
    msg[0] = '\0';
    spec.namespace = t->ns;
    spec.window_name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "name"));
    spec.window_uid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "uid"));
    spec.op = op;
    spec.sql = sql;
    spec.active_deadline_seconds = r->o.keyjob_deadline_s;
    /* The Job's name depends only on the window, the operation and the
     * script: build once with stand-in inputs to learn it before reading
     * any credential (most calls only follow a Job that exists). */
    spec.image = "-";
    spec.pg_service = "-";
    if ((rc = quay_keyjob_build(&spec, &kj, err)))
        return rc;
    snprintf(name, sizeof(name), "%s", kj.name);
    quay_keyjob_clear(&kj);

    rc = k8s_get(c, &JOBS, t->ns, name, NULL, &job, err);
    if (rc && rc != K8S_ENOTFOUND)
        return rc;
    if (!rc) {
        snprintf(sel, sizeof(sel), "batch.kubernetes.io/job-name=%s", name);
        struct k8s_opts lo = {.label_selector = sel};
        if ((rc = k8s_list(c, &PODS, t->ns, &lo, &pods, err)))
            goto out;
        const cJSON *items = cJSON_GetObjectItemCaseSensitive(pods, "items");
        *state = quay_keyjob_outcome(job, items, msg, cap);
        if (*state == QUAY_KEYJOB_RUNNING) {
            pod_waiting(items, why, sizeof(why));
            snprintf(msg, cap, "Job %s is running%s", name, why);
            goto out;
        }
        if (!ctl_context_may_write(ctx)) {
            rc = k8s_error_set(err, K8S_ESTOPPED, "no longer the leader");
            goto out;
        }
        /* The outcome is read: the Job and its inputs go (the password
         * with them). */
        if ((rc = delete_key_job(c, t->ns, name, err)))
            goto out;
        if (*state == QUAY_KEYJOB_SUCCEEDED)
            snprintf(msg, cap, "Job %s succeeded", name);
        k8s_log(*state == QUAY_KEYJOB_SUCCEEDED ? K8S_LOG_INFO : K8S_LOG_WARN, t->ns,
                spec.window_name, "service-key Job finished",
                (const char *[]){"job", name, "op", quay_keyjob_op_name(op), "outcome",
                                 *state == QUAY_KEYJOB_SUCCEEDED ? "succeeded" : "failed", NULL});
        goto out;
    }

    /* No Job yet: gather the inputs and create it. */
    if (!ctl_context_may_write(ctx)) {
        rc = k8s_error_set(err, K8S_ESTOPPED, "no longer the leader");
        goto out;
    }
    rc = quay_image(c, t, image, sizeof(image), &pull, err);
    if (!rc)
        rc = pg_service(c, t, &svc, err);
    if (rc == K8S_ENOTFOUND) {
        /* The registry is not (yet) deployed: wait for it. */
        snprintf(msg, cap, "waiting for the registry before Job %s can run: %s", name,
                 err->message);
        rc = 0;
        goto out;
    }
    if (rc == K8S_EINVALID || rc == K8S_EDECODE) {
        *state = QUAY_KEYJOB_FAILED;
        snprintf(msg, cap, "cannot build Job %s: %s", name, err->message);
        rc = 0;
        goto out;
    }
    if (rc)
        goto out;
    spec.image = image;
    spec.image_pull_secrets = pull;
    spec.pg_service = svc;
    if ((rc = quay_keyjob_build(&spec, &kj, err)))
        goto out;
    if ((rc = create_ignoring_exists(c, &CONFIGMAPS, t->ns, kj.config_map, err)) ||
        (rc = create_ignoring_exists(c, &SECRETS, t->ns, kj.secret, err)) ||
        (rc = create_ignoring_exists(c, &JOBS, t->ns, kj.job, err)))
        goto out;
    k8s_log(K8S_LOG_INFO, t->ns, spec.window_name, "created a service-key Job",
            (const char *[]){"job", name, "op", quay_keyjob_op_name(op), "image", image, NULL});
    snprintf(msg, cap, "Job %s created", name);
out:
    quay_keyjob_clear(&kj);
    if (svc) {
        memset(svc, 0, strlen(svc));
        free(svc);
    }
    cJSON_Delete(pull);
    cJSON_Delete(pods);
    cJSON_Delete(job);
    return rc;
}

int ctl_rw__keyjob_quiesce(struct ctl_context *ctx, const struct quay_target_ref *t,
                           const cJSON *window, int *busy, char *msg, size_t cap,
                           struct k8s_error *err)
{
    struct k8s_client *c = ctl_context_client(ctx);
    const char *uid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(window, "metadata"), "uid"));
    struct k8s_opts lo = {.label_selector = "app.kubernetes.io/component=service-key,"
                                            "quaystorage.io/service-key-op=register"};
    cJSON *jobs = NULL, *pods = NULL;
    const cJSON *it;
    int rc;
    *busy = 0;
    msg[0] = '\0';
    if ((rc = k8s_list(c, &JOBS, t->ns, &lo, &jobs, err)))
        return rc;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(jobs, "items"))
    {
        const cJSON *md = cJSON_GetObjectItemCaseSensitive(it, "metadata");
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "name"));
        if (!name || !uid || !quay_object_owned_by(it, uid))
            continue;
        if (!ctl_context_may_write(ctx)) {
            rc = k8s_error_set(err, K8S_ESTOPPED, "no longer the leader");
            goto out;
        }
        if ((rc = delete_key_job(c, t->ns, name, err)))
            goto out;
        *busy = 1;
        snprintf(msg, cap, "stopping registration Job %s of an earlier key", name);
    }
    if (*busy)
        goto out;
    /* A deleted Job's pod may still be running psql: wait for every
     * registration pod of the namespace to be done (over-cautious for
     * other windows' pods, which only delays this by their run time). */
    if ((rc = k8s_list(c, &PODS, t->ns, &lo, &pods, err)))
        goto out;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(pods, "items"))
    {
        const char *phase = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(it, "status"), "phase"));
        if (phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0))
            continue;
        *busy = 1;
        snprintf(msg, cap, "waiting for registration pod %s to stop",
                 cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
                     cJSON_GetObjectItemCaseSensitive(it, "metadata"), "name")));
        break;
    }
out:
    cJSON_Delete(pods);
    cJSON_Delete(jobs);
    return rc;
}
