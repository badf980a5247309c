/*
 * Persistence of the store and tokens (see sim_persist.h). The file is one
 * JSON document: {"resourceVersion":"N","tokens":[...],"objects":[{"group",
 * "resource","object"}...]}. CustomResourceDefinitions are loaded first so
 * their kinds exist before their objects come back.
 */
#include "sim_persist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_auth.h"
#include "sim_crd.h"
#include "sim_server.h"
#include "sim_store.h"
#include "sim_util.h"

int sim_persist_save(struct sim_server *srv)
{
    char path[4096], rv[32];
    cJSON *doc = cJSON_CreateObject(), *objs;
    char *text;
    int rc;
    if (!doc)
        return -1;
    snprintf(rv, sizeof(rv), "%llu", (unsigned long long)sim_store_rv(srv->store));
    cJSON_AddStringToObject(doc, "resourceVersion", rv);
    cJSON_AddItemToObject(doc, "tokens", sim_auth_save(srv->auth));
    objs = cJSON_AddArrayToObject(doc, "objects");
    for (size_t i = 0; objs && i < sim_store_ncolls(srv->store); i++) {
        struct sim_coll *c = sim_store_coll_at(srv->store, i);
        for (size_t j = 0; j < c->n; j++) {
            cJSON *e = cJSON_CreateObject();
            if (!e)
                break;
            cJSON_AddStringToObject(e, "group", c->group);
            cJSON_AddStringToObject(e, "resource", c->resource);
            cJSON_AddItemToObject(e, "object", cJSON_Duplicate(c->v[j]->json, 1));
            cJSON_AddItemToArray(objs, e);
        }
    }
    text = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    if (!text)
        return -1;
    snprintf(path, sizeof(path), "%s/state.json", srv->opt.state_dir);
    rc = sim_write_file(path, text, strlen(text), 0600);
    free(text);
    srv->persist_dirty = 0;
    return rc;
}

static int load_pass(struct sim_server *srv, const cJSON *objs, int crds)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, objs)
    {
        const char *group = sim_jstr(e, "group", NULL);
        const char *resource = sim_jstr(e, "resource", NULL);
        const cJSON *obj = sim_jget(e, "object", NULL);
        int is_crd;
        struct sim_coll *c;
        if (!group || !resource || !cJSON_IsObject(obj))
            continue;
        is_crd = strcmp(group, "apiextensions.k8s.io") == 0 &&
                 strcmp(resource, "customresourcedefinitions") == 0;
        if (is_crd != crds)
            continue;
        c = sim_store_coll(srv->store, group, resource, 1);
        if (!c || sim_store_load(srv->store, c, cJSON_Duplicate(obj, 1)) != 0)
            return -1;
        if (is_crd)
            sim_crd_restored(srv, obj);
    }
    return 0;
}

int sim_persist_load(struct sim_server *srv)
{
    char path[4096];
    char *text;
    cJSON *doc;
    const char *rv;
    int rc = -1;
    snprintf(path, sizeof(path), "%s/state.json", srv->opt.state_dir);
    text = sim_read_file(path, NULL);
    if (!text)
        return 0;
    doc = cJSON_Parse(text);
    free(text);
    if (!doc) {
        fprintf(stderr, "kubesim: %s is not JSON; starting empty\n", path);
        return -1;
    }
    if (sim_auth_restore(srv->auth, sim_jget(doc, "tokens", NULL)) != 0)
        goto out;
    if (load_pass(srv, sim_jget(doc, "objects", NULL), 1) != 0 ||
        load_pass(srv, sim_jget(doc, "objects", NULL), 0) != 0)
        goto out;
    rv = sim_jstr(doc, "resourceVersion", NULL);
    if (rv)
        sim_store_set_rv(srv->store, strtoull(rv, NULL, 10));
    else
        sim_store_set_rv(srv->store, sim_store_rv(srv->store));
    rc = 0;
out:
    cJSON_Delete(doc);
    return rc;
}
