/*
 * Fixture loading (see sim_fixtures.h).
 */
#include "sim_fixtures.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_admin.h"
#include "sim_api.h"
#include "sim_crd.h"
#include "sim_kind.h"
#include "sim_server.h"
#include "sim_util.h"
#include "sim_yaml.h"

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n > m && strcmp(s + n - m, suf) == 0;
}

/* Creates one object through sim_dispatch as the admin user. */
static int create(struct sim_server *srv, const cJSON *obj, const char *file, char *err, size_t cap)
{
    const char *av = sim_jstr(obj, "apiVersion", NULL);
    const char *kind = sim_jstr(obj, "kind", NULL);
    const char *ns = sim_jstr(obj, "metadata", "namespace", NULL);
    const char *name = sim_jstr(obj, "metadata", "name", NULL);
    char group[256] = "", version[64] = "", path[1024], auth[200];
    const struct sim_kind *k;
    struct sim_request req;
    struct sim_response resp;
    const char *slash;
    char *body;
    int rc = 0;
    if (!av || !kind) {
        snprintf(err, cap, "%s: an object without apiVersion/kind", file);
        return -1;
    }
    slash = strchr(av, '/');
    if (slash) {
        snprintf(group, sizeof(group), "%.*s", (int)(slash - av), av);
        snprintf(version, sizeof(version), "%s", slash + 1);
    } else {
        snprintf(version, sizeof(version), "%s", av);
    }
    k = sim_kinds_find_kind(srv->kinds, group, version, kind, 1);
    if (!k) {
        snprintf(err, cap, "%s: %s %s is not served", file, av, kind);
        return -1;
    }
    if (k->namespaced && (!ns || !*ns))
        ns = "default";
    if (*group)
        snprintf(path, sizeof(path), "/apis/%s/%s%s%s/%s", group, version,
                 k->namespaced ? "/namespaces/" : "", k->namespaced ? ns : "", k->resource);
    else
        snprintf(path, sizeof(path), "/api/%s%s%s/%s", version, k->namespaced ? "/namespaces/" : "",
                 k->namespaced ? ns : "", k->resource);
    body = cJSON_PrintUnformatted(obj);
    if (!body)
        return -1;
    memset(&req, 0, sizeof(req));
    sim_strlcpy(req.method, "POST", sizeof(req.method));
    req.path = path;
    snprintf(auth, sizeof(auth), "Bearer %s", srv->admin_token);
    req.authorization = auth;
    req.content_type = "application/json";
    req.body = body;
    req.body_len = strlen(body);
    sim_response_init(&resp);
    sim_dispatch(srv, &req, &resp);
    if (resp.status != 201 && resp.status != 409) {
        snprintf(err, cap, "%s: %s %s: HTTP %d: %.*s", file, kind, name ? name : "", resp.status,
                 (int)(resp.body.len > 600 ? 600 : resp.body.len),
                 resp.body.data ? resp.body.data : "");
        rc = -1;
    }
    sim_response_free(&resp);
    free(body);
    memset(auth, 0, sizeof(auth));
    return rc;
}

int sim_fixtures_load(struct sim_server *srv, const char *dir, char *err, size_t cap)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char **names = NULL;
    size_t n = 0;
    cJSON *all = cJSON_CreateArray(), *files = cJSON_CreateArray();
    int rc = -1;
    if (!d || !all || !files) {
        snprintf(err, cap, "cannot read the fixtures directory %s", dir);
        goto out;
    }
    while ((de = readdir(d)) != NULL) {
        char **nn;
        if (!has_suffix(de->d_name, ".yaml") && !has_suffix(de->d_name, ".yml") &&
            !has_suffix(de->d_name, ".json"))
            continue;
        nn = realloc(names, (n + 1) * sizeof(*nn));
        if (!nn)
            goto out;
        names = nn;
        if (!(names[n] = strdup(de->d_name)))
            goto out;
        n++;
    }
    qsort(names, n, sizeof(*names), by_name);
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        size_t len;
        char *text;
        cJSON *docs, *doc;
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        text = sim_read_file(path, &len);
        if (!text) {
            snprintf(err, cap, "cannot read %s", path);
            goto out;
        }
        docs = sim_yaml_parse_all(text, len, err, cap);
        free(text);
        if (!docs) {
            size_t l = strlen(err);
            snprintf(err + l, cap - l, " (in %s)", path);
            goto out;
        }
        while ((doc = cJSON_DetachItemFromArray(docs, 0)) != NULL) {
            cJSON_AddItemToArray(all, doc);
            cJSON_AddItemToArray(files, cJSON_CreateString(path));
        }
        cJSON_Delete(docs);
    }
    /* CRDs first, established at once; then the rest. */
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < cJSON_GetArraySize(all); i++) {
            const cJSON *doc = cJSON_GetArrayItem(all, i);
            const char *kind = sim_jstr(doc, "kind", NULL);
            int is_crd = kind && strcmp(kind, "CustomResourceDefinition") == 0;
            if (is_crd != (pass == 0))
                continue;
            if (create(srv, doc, cJSON_GetArrayItem(files, i)->valuestring, err, cap) != 0)
                goto out;
        }
        if (pass == 0)
            sim_crd_establish_all(srv);
    }
    sim_admin_clear_records(srv->admin);
    rc = 0;
out:
    if (d)
        closedir(d);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    cJSON_Delete(all);
    cJSON_Delete(files);
    return rc;
}
