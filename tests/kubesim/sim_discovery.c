/*
 * Discovery documents (see sim_discovery.h).
 */
#include "sim_discovery.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_api.h"
#include "sim_kind.h"
#include "sim_server.h"
#include "sim_util.h"

/* Parses "v<major>[(alpha|beta)<minor>]"; kind 3 GA, 2 beta, 1 alpha, 0 other. */
static void version_key(const char *v, int *kind, long *major, long *minor)
{
    char *end;
    *kind = 0;
    *major = *minor = 0;
    if (v[0] != 'v' || v[1] < '0' || v[1] > '9')
        return;
    *major = strtol(v + 1, &end, 10);
    if (*end == '\0') {
        *kind = 3;
        return;
    }
    if (strncmp(end, "beta", 4) == 0 && end[4] >= '0' && end[4] <= '9') {
        char *e2;
        *minor = strtol(end + 4, &e2, 10);
        *kind = *e2 ? 0 : 2;
    } else if (strncmp(end, "alpha", 5) == 0 && end[5] >= '0' && end[5] <= '9') {
        char *e2;
        *minor = strtol(end + 5, &e2, 10);
        *kind = *e2 ? 0 : 1;
    }
}

int sim_version_before(const char *a, const char *b)
{
    int ka, kb;
    long ma, mb, na, nb;
    version_key(a, &ka, &ma, &na);
    version_key(b, &kb, &mb, &nb);
    if (ka != kb)
        return ka > kb;
    if (ka == 0)
        return strcmp(a, b) < 0;
    if (ma != mb)
        return ma > mb;
    return na > nb;
}

static cJSON *verbs_array(const char *const *verbs)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && verbs[i]; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(verbs[i]));
    return a;
}

static const char *const all_verbs[] = {
    "create", "delete", "deletecollection", "get", "list", "patch", "update", "watch", NULL};
static const char *const sub_verbs[] = {"get", "patch", "update", NULL};

static void add_resource(cJSON *arr, const struct sim_kind *k, const char *name,
                         const char *singular, const char *const *verbs, int full)
{
    cJSON *r = cJSON_CreateObject();
    if (!r)
        return;
    cJSON_AddStringToObject(r, "name", name);
    cJSON_AddStringToObject(r, "singularName", singular);
    cJSON_AddBoolToObject(r, "namespaced", k->namespaced);
    if (strcmp(name, "serviceaccounts/token") == 0) {
        cJSON_AddStringToObject(r, "group", "authentication.k8s.io");
        cJSON_AddStringToObject(r, "version", "v1");
        cJSON_AddStringToObject(r, "kind", "TokenRequest");
    } else if (strcmp(name, "pods/binding") == 0) {
        cJSON_AddStringToObject(r, "kind", "Binding");
    } else {
        cJSON_AddStringToObject(r, "kind", k->kind);
    }
    cJSON_AddItemToObject(r, "verbs", verbs_array(verbs));
    if (full && k->nshort) {
        cJSON *s = cJSON_AddArrayToObject(r, "shortNames");
        for (size_t i = 0; s && i < k->nshort; i++)
            cJSON_AddItemToArray(s, cJSON_CreateString(k->short_names[i]));
    }
    if (full && k->ncat) {
        cJSON *c = cJSON_AddArrayToObject(r, "categories");
        for (size_t i = 0; c && i < k->ncat; i++)
            cJSON_AddItemToArray(c, cJSON_CreateString(k->categories[i]));
    }
    cJSON_AddItemToArray(arr, r);
}

static int resource_list(struct sim_server *srv, const char *group, const char *version,
                         struct sim_response *resp)
{
    cJSON *doc, *arr;
    char gv[300];
    int any = 0;
    doc = cJSON_CreateObject();
    if (!doc)
        return -1;
    if (*group)
        snprintf(gv, sizeof(gv), "%s/%s", group, version);
    else
        snprintf(gv, sizeof(gv), "%s", version);
    cJSON_AddStringToObject(doc, "kind", "APIResourceList");
    cJSON_AddStringToObject(doc, "apiVersion", "v1");
    cJSON_AddStringToObject(doc, "groupVersion", gv);
    arr = cJSON_AddArrayToObject(doc, "resources");
    for (size_t i = 0; arr && i < sim_kinds_count(srv->kinds); i++) {
        const struct sim_kind *k = sim_kinds_at(srv->kinds, i);
        char sub[300];
        if (!k->served || strcmp(k->group, group) != 0 || strcmp(k->version, version) != 0)
            continue;
        any = 1;
        add_resource(arr, k, k->resource, k->singular, all_verbs, 1);
        if (k->has_status) {
            snprintf(sub, sizeof(sub), "%s/status", k->resource);
            add_resource(arr, k, sub, "", sub_verbs, 0);
        }
        if (!*k->group && strcmp(k->resource, "serviceaccounts") == 0) {
            static const char *const create_only[] = {"create", NULL};
            add_resource(arr, k, "serviceaccounts/token", "", create_only, 0);
        }
        if (!*k->group && strcmp(k->resource, "pods") == 0) {
            /* Served by the kubelet module (sim_kubelet.c) and sim_verbs.c. */
            static const char *const get_only[] = {"get", NULL};
            static const char *const create_only[] = {"create", NULL};
            add_resource(arr, k, "pods/binding", "", create_only, 0);
            add_resource(arr, k, "pods/log", "", get_only, 0);
        }
        if (!*k->group && strcmp(k->resource, "namespaces") == 0) {
            static const char *const update_only[] = {"update", NULL};
            add_resource(arr, k, "namespaces/finalize", "", update_only, 0);
        }
    }
    if (!any) {
        cJSON_Delete(doc);
        return -1;
    }
    sim_respond_json(resp, 200, doc);
    return 0;
}

/* The versions a group serves, preferred first. */
static size_t group_versions(struct sim_server *srv, const char *group, char vers[][64], size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < sim_kinds_count(srv->kinds); i++) {
        const struct sim_kind *k = sim_kinds_at(srv->kinds, i);
        size_t j;
        if (!k->served || strcmp(k->group, group) != 0)
            continue;
        for (j = 0; j < n; j++)
            if (strcmp(vers[j], k->version) == 0)
                break;
        if (j < n || n >= max)
            continue;
        sim_strlcpy(vers[n++], k->version, 64);
    }
    /* Insertion sort by version priority. */
    for (size_t a = 1; a < n; a++) {
        char tmp[64];
        size_t b = a;
        sim_strlcpy(tmp, vers[a], sizeof(tmp));
        while (b > 0 && sim_version_before(tmp, vers[b - 1])) {
            sim_strlcpy(vers[b], vers[b - 1], 64);
            b--;
        }
        sim_strlcpy(vers[b], tmp, 64);
    }
    return n;
}

static cJSON *group_doc(struct sim_server *srv, const char *group, int with_type)
{
    char vers[16][64];
    char gv[300];
    size_t n = group_versions(srv, group, vers, 16);
    cJSON *g, *arr, *pref;
    if (n == 0)
        return NULL;
    g = cJSON_CreateObject();
    if (!g)
        return NULL;
    if (with_type) {
        cJSON_AddStringToObject(g, "kind", "APIGroup");
        cJSON_AddStringToObject(g, "apiVersion", "v1");
    }
    cJSON_AddStringToObject(g, "name", group);
    arr = cJSON_AddArrayToObject(g, "versions");
    for (size_t i = 0; arr && i < n; i++) {
        cJSON *v = cJSON_CreateObject();
        snprintf(gv, sizeof(gv), "%s/%s", group, vers[i]);
        cJSON_AddStringToObject(v, "groupVersion", gv);
        cJSON_AddStringToObject(v, "version", vers[i]);
        cJSON_AddItemToArray(arr, v);
    }
    pref = cJSON_AddObjectToObject(g, "preferredVersion");
    snprintf(gv, sizeof(gv), "%s/%s", group, vers[0]);
    if (pref) {
        cJSON_AddStringToObject(pref, "groupVersion", gv);
        cJSON_AddStringToObject(pref, "version", vers[0]);
    }
    return g;
}

static void group_list(struct sim_server *srv, struct sim_response *resp)
{
    cJSON *doc = cJSON_CreateObject(), *arr;
    char seen[64][128];
    size_t nseen = 0;
    if (!doc)
        return;
    cJSON_AddStringToObject(doc, "kind", "APIGroupList");
    cJSON_AddStringToObject(doc, "apiVersion", "v1");
    arr = cJSON_AddArrayToObject(doc, "groups");
    for (size_t i = 0; arr && i < sim_kinds_count(srv->kinds); i++) {
        const struct sim_kind *k = sim_kinds_at(srv->kinds, i);
        size_t j;
        cJSON *g;
        if (!k->served || !*k->group)
            continue;
        for (j = 0; j < nseen; j++)
            if (strcmp(seen[j], k->group) == 0)
                break;
        if (j < nseen || nseen >= 64)
            continue;
        sim_strlcpy(seen[nseen++], k->group, sizeof(seen[0]));
        g = group_doc(srv, k->group, 0);
        if (g)
            cJSON_AddItemToArray(arr, g);
    }
    sim_respond_json(resp, 200, doc);
}

int sim_discovery_serve(struct sim_server *srv, const struct sim_request *req,
                        struct sim_response *resp)
{
    char buf[1024];
    char *parts[8];
    int n = 0;
    char *p;
    sim_strlcpy(buf, req->path, sizeof(buf));
    p = buf;
    while (*p && n < 8) {
        while (*p == '/')
            *p++ = '\0';
        if (!*p)
            break;
        parts[n++] = p;
        while (*p && *p != '/')
            p++;
    }
    if (n == 1 && strcmp(parts[0], "api") == 0) {
        cJSON *doc = cJSON_CreateObject(), *v, *addrs, *a;
        char addr[64];
        if (!doc)
            return -1;
        cJSON_AddStringToObject(doc, "kind", "APIVersions");
        v = cJSON_AddArrayToObject(doc, "versions");
        cJSON_AddItemToArray(v, cJSON_CreateString("v1"));
        addrs = cJSON_AddArrayToObject(doc, "serverAddressByClientCIDRs");
        a = cJSON_CreateObject();
        snprintf(addr, sizeof(addr), "127.0.0.1:%d", srv->port);
        cJSON_AddStringToObject(a, "clientCIDR", "0.0.0.0/0");
        cJSON_AddStringToObject(a, "serverAddress", addr);
        cJSON_AddItemToArray(addrs, a);
        sim_respond_json(resp, 200, doc);
        return 0;
    }
    if (n == 2 && strcmp(parts[0], "api") == 0)
        return resource_list(srv, "", parts[1], resp);
    if (n == 1 && strcmp(parts[0], "apis") == 0) {
        group_list(srv, resp);
        return 0;
    }
    if (n == 2 && strcmp(parts[0], "apis") == 0) {
        cJSON *g = group_doc(srv, parts[1], 1);
        if (!g)
            return -1;
        sim_respond_json(resp, 200, g);
        return 0;
    }
    if (n == 3 && strcmp(parts[0], "apis") == 0)
        return resource_list(srv, parts[1], parts[2], resp);
    return -1;
}
