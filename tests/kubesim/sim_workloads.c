/*
 * The workload controllers' configuration and their place in the server's
 * timer (see sim_workloads.h). The configuration is kept as the JSON document
 * itself so each module owns its knobs; only the members whose types the
 * getters rely on are checked here.
 */
#include "sim_workloads.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8s_patch.h"
#include "sim_api.h"
#include "sim_deploy.h"
#include "sim_imgreg.h"
#include "sim_jobs.h"
#include "sim_kubelet.h"
#include "sim_quayop.h"
#include "sim_server.h"
#include "sim_status.h"
#include "sim_util.h"

struct sim_workloads *sim_workloads_new(void)
{
    struct sim_workloads *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->config = cJSON_CreateObject();
    w->kubelet = sim_kubelet_new();
    w->jobs = sim_jobs_new();
    w->deploy = sim_deploy_new();
    w->quayop = sim_quayop_new();
    w->imgreg = sim_imgreg_new();
    if (!w->config || !w->kubelet || !w->jobs || !w->deploy || !w->quayop || !w->imgreg) {
        sim_workloads_free(w);
        return NULL;
    }
    return w;
}

void sim_workloads_free(struct sim_workloads *w)
{
    if (!w)
        return;
    sim_imgreg_free(w->imgreg);
    sim_quayop_free(w->quayop);
    sim_deploy_free(w->deploy);
    sim_jobs_free(w->jobs);
    sim_kubelet_free(w->kubelet);
    cJSON_Delete(w->config);
    free(w);
}

/* "images" and "claims" map strings to absolute paths. */
static int check_path_map(const cJSON *m, const char *member, char *err, size_t cap)
{
    const cJSON *it;
    if (!m || cJSON_IsNull(m))
        return 0;
    if (!cJSON_IsObject(m)) {
        snprintf(err, cap, "workloads: %s must be an object of name -> absolute path", member);
        return -1;
    }
    cJSON_ArrayForEach(it, m)
    {
        if (cJSON_IsNull(it))
            continue; /* merge patch: removes the entry */
        if (!cJSON_IsString(it) || it->valuestring[0] != '/') {
            snprintf(err, cap, "workloads: %s[\"%s\"] must be an absolute path", member,
                     it->string ? it->string : "");
            return -1;
        }
    }
    return 0;
}

int sim_workloads_configure(struct sim_workloads *w, const cJSON *patch, char *err, size_t cap)
{
    cJSON *merged;
    const cJSON *it;
    if (!cJSON_IsObject(patch)) {
        snprintf(err, cap, "workloads: the configuration must be a JSON object");
        return -1;
    }
    if (check_path_map(cJSON_GetObjectItemCaseSensitive(patch, "images"), "images", err, cap) !=
            0 ||
        check_path_map(cJSON_GetObjectItemCaseSensitive(patch, "claims"), "claims", err, cap) != 0)
        return -1;
    cJSON_ArrayForEach(it, patch)
    {
        if (strcmp(it->string, "images") != 0 && strcmp(it->string, "claims") != 0 &&
            !cJSON_IsObject(it) && !cJSON_IsNull(it)) {
            snprintf(err, cap, "workloads: %s must be an object of settings", it->string);
            return -1;
        }
    }
    merged = k8s_merge_patch_apply(w->config, patch);
    if (!merged) {
        snprintf(err, cap, "workloads: out of memory");
        return -1;
    }
    cJSON_Delete(w->config);
    w->config = merged;
    return 0;
}

int sim_workloads_load_file(struct sim_workloads *w, const char *path, char *err, size_t cap)
{
    size_t len = 0;
    char *text = sim_read_file(path, &len);
    cJSON *doc;
    int rc;
    if (!text) {
        snprintf(err, cap, "workloads: cannot read %s", path);
        return -1;
    }
    doc = cJSON_ParseWithLength(text, len);
    free(text);
    if (!doc) {
        snprintf(err, cap, "workloads: %s is not JSON", path);
        return -1;
    }
    rc = sim_workloads_configure(w, doc, err, cap);
    cJSON_Delete(doc);
    return rc;
}

void sim_workloads_tick(struct sim_server *srv)
{
    struct sim_workloads *w = srv->workloads;
    if (!w)
        return;
    /* Order of a real cluster's reaction chain: operators write Deployments
     * and Jobs, their controllers write pods, the kubelet runs them. */
    if (sim_wl_bool(srv, 1, "quayOperator", "enabled", NULL))
        sim_quayop_tick(srv, w->quayop);
    if (sim_wl_bool(srv, 1, "imageRegistry", "enabled", NULL))
        sim_imgreg_tick(srv, w->imgreg);
    if (sim_wl_bool(srv, 1, "deployments", "enabled", NULL))
        sim_deploy_tick(srv, w->deploy);
    if (sim_wl_bool(srv, 1, "jobs", "enabled", NULL))
        sim_jobs_tick(srv, w->jobs);
    if (sim_wl_bool(srv, 1, "kubelet", "enabled", NULL))
        sim_kubelet_tick(srv, w->kubelet);
}

void sim_workloads_admin(struct sim_server *srv, const struct sim_request *req, const cJSON *body,
                         struct sim_response *resp)
{
    struct sim_err e;
    char msg[512];
    sim_err_clear(&e);
    if (strcmp(req->method, "POST") == 0) {
        if (!body || sim_workloads_configure(srv->workloads, body, msg, sizeof(msg)) != 0) {
            sim_err_bad_request(&e, "%s", body ? msg : "workloads: a JSON merge patch is required");
            sim_respond_err(resp, &e);
            return;
        }
    } else if (strcmp(req->method, "GET") != 0) {
        sim_err_no_route(&e);
        sim_respond_err(resp, &e);
        return;
    }
    sim_respond_json(resp, 200, cJSON_Duplicate(srv->workloads->config, 1));
}

static const cJSON *knob(const struct sim_server *srv, va_list ap)
{
    const cJSON *cur = srv->workloads ? srv->workloads->config : NULL;
    const char *key;
    while (cur && (key = va_arg(ap, const char *)) != NULL)
        cur = cJSON_GetObjectItemCaseSensitive(cur, key);
    return cur;
}

long sim_wl_int(const struct sim_server *srv, long def, ...)
{
    va_list ap;
    const cJSON *v;
    va_start(ap, def);
    v = knob(srv, ap);
    va_end(ap);
    return cJSON_IsNumber(v) ? (long)v->valuedouble : def;
}

int sim_wl_bool(const struct sim_server *srv, int def, ...)
{
    va_list ap;
    const cJSON *v;
    va_start(ap, def);
    v = knob(srv, ap);
    va_end(ap);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : def;
}

const char *sim_wl_str(const struct sim_server *srv, const char *def, ...)
{
    va_list ap;
    const cJSON *v;
    va_start(ap, def);
    v = knob(srv, ap);
    va_end(ap);
    return cJSON_IsString(v) ? v->valuestring : def;
}

const char *sim_wl_image_binary(const struct sim_server *srv, const char *image)
{
    const cJSON *m = srv->workloads ? sim_jget(srv->workloads->config, "images", NULL) : NULL;
    const cJSON *it;
    if (!image)
        return NULL;
    cJSON_ArrayForEach(it, m)
    {
        size_t n = strlen(it->string);
        if (!cJSON_IsString(it))
            continue;
        if (strcmp(it->string, image) == 0 ||
            (n > 0 && it->string[n - 1] == '*' && strncmp(it->string, image, n - 1) == 0))
            return it->valuestring;
    }
    return NULL;
}

const char *sim_wl_claim_dir(const struct sim_server *srv, const char *ns, const char *claim)
{
    char key[600];
    const cJSON *v;
    if (!srv->workloads || !ns || !claim)
        return NULL;
    snprintf(key, sizeof(key), "%s/%s", ns, claim);
    v = cJSON_GetObjectItemCaseSensitive(sim_jget(srv->workloads->config, "claims", NULL), key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}
