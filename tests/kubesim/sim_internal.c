/* The controllers' in-process API client (see sim_internal.h). */
#include "sim_internal.h"

#include <stdlib.h>
#include <string.h>

#include "k8s_patch.h"
#include "sim_api.h"
#include "sim_kind.h"
#include "sim_server.h"
#include "sim_status.h"
#include "sim_util.h"
#include "sim_verbs.h"
#include "sim_watch.h"

static int split_query(struct sim_request *r, const char *query)
{
    char *copy = strdup(query), *save = NULL, *frag;
    if (!copy)
        return -1;
    for (frag = strtok_r(copy, "&", &save); frag; frag = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(frag, '=');
        if (r->nparams >= SIM_MAX_PARAMS)
            break;
        if (eq)
            *eq = '\0';
        r->params[r->nparams].key = strdup(frag);
        r->params[r->nparams].val = strdup(eq ? eq + 1 : "");
        r->nparams++;
        if (!r->params[r->nparams - 1].key || !r->params[r->nparams - 1].val) {
            free(copy);
            return -1;
        }
    }
    free(copy);
    return 0;
}

int sim_internal_call(struct sim_server *srv, const char *method, const char *path,
                      const cJSON *body, const char *content_type, cJSON **out)
{
    struct sim_request req;
    struct sim_response resp;
    struct sim_reqinfo ri;
    const struct sim_kind *k;
    const char *q = strchr(path, '?');
    char *text = NULL;
    size_t len = 0;
    int status = -1;

    if (out)
        *out = NULL;
    memset(&req, 0, sizeof(req));
    sim_response_init(&resp);
    sim_strlcpy(req.method, method, sizeof(req.method));
    req.path = q ? strndup(path, (size_t)(q - path)) : strdup(path);
    req.accept = strdup("application/json");
    req.content_type = strdup(content_type ? content_type : "application/json");
    if (!req.path || !req.accept || !req.content_type || (q && split_query(&req, q + 1) != 0))
        goto out;
    if (body) {
        text = k8s_json_print(body, &len);
        if (!text)
            goto out;
        req.body = text;
        req.body_len = len;
    }
    if (sim_parse_reqinfo(method, req.path, &req, &ri) != 0 || !ri.resource_request ||
        strcmp(ri.verb, "watch") == 0)
        goto out;
    k = sim_kinds_find(srv->kinds, ri.group, ri.version, ri.resource, 1);
    if (!k) {
        status = 404;
        goto out;
    }
    sim_verbs_serve(srv, k, &req, &ri, &resp);
    if (resp.watch) { /* not for controllers; refuse rather than leak a stream */
        sim_watch_free(resp.watch);
        resp.watch = NULL;
        goto out;
    }
    status = resp.status;
    if (out && resp.body.len)
        *out = cJSON_ParseWithLength(resp.body.data, resp.body.len);
out:
    req.body = NULL;
    req.body_len = 0;
    free(text);
    sim_request_free(&req);
    sim_response_free(&resp);
    return status;
}
