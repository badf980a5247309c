/*
 * spec.readOnly holders of a QuayRegistry (see quay_readonly_spec.h): one
 * resourceVersion-tested JSON patch per change of the holder list.
 */
#include "quay_readonly_spec.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "k8s_log.h"
#include "k8s_patch.h"

static const struct k8s_resource QUAYREGISTRIES = {"quay.redhat.com", "v1", "quayregistries", 1};

#define PATH_HOLDERS  "/metadata/annotations/quaystorage.io~1readonly-windows"
#define PATH_PREVIOUS "/metadata/annotations/quaystorage.io~1readonly-previous"

static const cJSON *jget(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static const char *jstr(const cJSON *o, const char *k)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

int quay_ro_spec_holders(struct k8s_client *c, const char *ns, const char *name, char *holders,
                         size_t cap, char *restored, size_t restored_cap, struct k8s_error *err)
{
    cJSON *qr = NULL;
    int rc = k8s_get(c, &QUAYREGISTRIES, ns, name, NULL, &qr, err);
    holders[0] = '\0';
    if (restored && restored_cap)
        restored[0] = '\0';
    if (rc == K8S_ENOTFOUND)
        return 0;
    if (rc)
        return rc;
    const cJSON *ann = jget(jget(qr, "metadata"), "annotations");
    const char *h = jstr(ann, QUAY_ANN_RO_HOLDERS), *r = jstr(ann, QUAY_ANN_RO_RESTORED);
    snprintf(holders, cap, "%s", h ? h : "");
    if (restored && restored_cap)
        snprintf(restored, restored_cap, "%s", r ? r : "");
    cJSON_Delete(qr);
    return 0;
}

int quay_ro_spec_holders_has(const char *holders, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = holders; p && *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0)
            return 1;
        p = comma ? comma + 1 : NULL;
    }
    return 0;
}

/* Whether `holders` names a window that `have` does not. */
static int adds_holder(const char *holders, const char *have)
{
    char one[256];
    for (const char *p = holders; p && *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        snprintf(one, sizeof(one), "%.*s", (int)len, p);
        if (!quay_ro_spec_holders_has(have, one))
            return 1;
        p = comma ? comma + 1 : NULL;
    }
    return 0;
}

static int add_str(cJSON *patch, const char *op, const char *path, const char *v)
{
    cJSON *s = v ? cJSON_CreateString(v) : NULL;
    int rc = (v && !s) ? K8S_ENOMEM : k8s_json_patch_add_op(patch, op, path, s);
    cJSON_Delete(s);
    return rc;
}

static int add_bool(cJSON *patch, const char *path, int value)
{
    cJSON *b = cJSON_CreateBool(value);
    int rc = b ? k8s_json_patch_add_op(patch, "add", path, b) : K8S_ENOMEM;
    cJSON_Delete(b);
    return rc;
}

/* set_holders with, when `mark` is not NULL, the restored annotation added in
 * the same patch; `had` (may be NULL) receives the holders before and
 * `previous` the value put back, both only once the change is made (a
 * failed release must not read as done). */
static int set_holders(struct k8s_client *c, const char *ns, const char *name, const char *holders,
                       const char *mark, char *had, size_t had_cap, char *previous,
                       size_t previous_cap, struct k8s_error *err)
{
    cJSON *qr = NULL, *patch = NULL, *res = NULL, *empty = NULL;
    char had_v[512] = "", prev_v[16] = "";
    int rc;
    if (previous && previous_cap)
        previous[0] = '\0';
    if (had && had_cap)
        had[0] = '\0';
    if ((rc = k8s_get(c, &QUAYREGISTRIES, ns, name, NULL, &qr, err)))
        return rc;
    const cJSON *md = jget(qr, "metadata"), *ann = jget(md, "annotations");
    const cJSON *ro = jget(jget(qr, "spec"), "readOnly");
    const char *have = jstr(ann, QUAY_ANN_RO_HOLDERS), *prev = jstr(ann, QUAY_ANN_RO_PREVIOUS);
    const char *rv = jstr(md, "resourceVersion");
    snprintf(had_v, sizeof(had_v), "%s", have ? have : "");
    if (!strcmp(have ? have : "", holders) || !rv)
        goto out;
    const char *marked = jstr(ann, QUAY_ANN_RO_RESTORED);
    if (!mark && marked && adds_holder(holders, have ? have : "")) {
        /* Released by hand since the caller looked: letting go is fine,
         * taking it again is not. */
        rc = k8s_error_set(err, K8S_ECONFLICT,
                           "spec.readOnly of QuayRegistry %s/%s was released by hand (%.160s); "
                           "no window takes it again until the annotation %s is removed",
                           ns, name, marked, QUAY_ANN_RO_RESTORED);
        goto out;
    }
    if (!(patch = cJSON_CreateArray())) {
        rc = K8S_ENOMEM;
        goto fail;
    }
    if ((rc = add_str(patch, "test", "/metadata/resourceVersion", rv)))
        goto fail;
    if (!cJSON_IsObject(ann) &&
        (!(empty = cJSON_CreateObject()) ||
         (rc = k8s_json_patch_add_op(patch, "add", "/metadata/annotations", empty))))
        goto fail;
    if (*holders) {
        if ((rc = add_str(patch, "add", PATH_HOLDERS, holders)))
            goto fail;
        if (!have) {
            /* The first holder: remember what was there, then set it (a
             * QuayRegistry may have no spec yet: "add" needs the parent). */
            if (!cJSON_IsObject(jget(qr, "spec"))) {
                cJSON_Delete(empty);
                if (!(empty = cJSON_CreateObject()) ||
                    (rc = k8s_json_patch_add_op(patch, "add", "/spec", empty)))
                    goto fail;
            }
            if ((rc = add_str(patch, "add", PATH_PREVIOUS,
                              !ro                ? "absent"
                              : cJSON_IsTrue(ro) ? "true"
                                                 : "false")) ||
                (rc = add_bool(patch, "/spec/readOnly", 1)))
                goto fail;
        }
    } else {
        /* The last one let go: put back what was there. */
        if ((rc = add_str(patch, "remove", PATH_HOLDERS, NULL)) ||
            (prev && (rc = add_str(patch, "remove", PATH_PREVIOUS, NULL))))
            goto fail;
        if (prev && strcmp(prev, "absent") != 0)
            rc = add_bool(patch, "/spec/readOnly", strcmp(prev, "true") == 0);
        else if (ro)
            rc = k8s_json_patch_add_op(patch, "remove", "/spec/readOnly", NULL);
        if (rc)
            goto fail;
        snprintf(prev_v, sizeof(prev_v), "%s", prev ? prev : "absent");
    }
    if (mark && (rc = add_str(patch, "add",
                              "/metadata/annotations/quaystorage.io~1readonly-restored", mark)))
        goto fail;
    rc = k8s_patch_tested(c, &QUAYREGISTRIES, ns, name, rv, patch, NULL, &res, err);
    if (!rc)
        k8s_log(K8S_LOG_INFO, ns, name, "set the QuayRegistry's spec.readOnly holders",
                (const char *[]){"holders", *holders ? holders : "(none)", NULL});
    goto out;
fail:
    rc = k8s_error_set(err, K8S_ENOMEM, "out of memory");
out:
    if (rc == 0) {
        if (had && had_cap)
            snprintf(had, had_cap, "%s", had_v);
        if (previous && previous_cap)
            snprintf(previous, previous_cap, "%s", prev_v);
    }
    cJSON_Delete(empty);
    cJSON_Delete(res);
    cJSON_Delete(patch);
    cJSON_Delete(qr);
    return rc;
}

int quay_ro_spec_set_holders(struct k8s_client *c, const char *ns, const char *name,
                             const char *holders, char *previous, size_t previous_cap,
                             struct k8s_error *err)
{
    return set_holders(c, ns, name, holders, NULL, NULL, 0, previous, previous_cap, err);
}

int quay_ro_spec_release_by_hand(struct k8s_client *c, const char *ns, const char *name,
                                 const char *by, char *released, size_t released_cap,
                                 char *previous, size_t previous_cap, struct k8s_error *err)
{
    char mark[128];
    struct tm tm;
    time_t now = time(NULL);
    if (!gmtime_r(&now, &tm))
        return k8s_error_set(err, K8S_EARG, "cannot read the clock");
    snprintf(mark, sizeof(mark), "%04d-%02d-%02dT%02d:%02d:%02dZ by %.64s", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, by ? by : "restore");
    return set_holders(c, ns, name, "", mark, released, released_cap, previous, previous_cap, err);
}
