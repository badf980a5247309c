/*
 * Rendering stored objects for clients (see sim_render.h): version
 * conversion, PartialObjectMetadata, and server-side Tables with the
 * JSONPath subset of CRD printer columns.
 */
#include "sim_render.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_kind.h"
#include "sim_util.h"

/* One media range of an Accept header: type plus parameters. */
static enum sim_as media_as(const char *m, size_t n, int *ok)
{
    char buf[512];
    char *p, *as = NULL, *g = NULL, *v = NULL, *semi;
    *ok = 0;
    if (n >= sizeof(buf))
        n = sizeof(buf) - 1;
    memcpy(buf, m, n);
    buf[n] = '\0';
    p = buf;
    while (*p == ' ')
        p++;
    semi = strchr(p, ';');
    if (semi)
        *semi = '\0';
    /* The media type itself. */
    {
        char *end = p + strlen(p);
        while (end > p && end[-1] == ' ')
            *--end = '\0';
    }
    if (strcmp(p, "application/json") != 0 && strcmp(p, "*/*") != 0 &&
        strcmp(p, "application/*") != 0 && strcmp(p, "application/yaml") != 0)
        return SIM_AS_OBJECT;
    while (semi) {
        char *kv = semi + 1, *eq;
        semi = strchr(kv, ';');
        if (semi)
            *semi = '\0';
        while (*kv == ' ')
            kv++;
        eq = strchr(kv, '=');
        if (!eq)
            continue;
        *eq = '\0';
        if (strcmp(kv, "as") == 0)
            as = eq + 1;
        else if (strcmp(kv, "g") == 0)
            g = eq + 1;
        else if (strcmp(kv, "v") == 0)
            v = eq + 1;
    }
    if (!as) {
        *ok = 1;
        return SIM_AS_OBJECT;
    }
    if (!g || strcmp(g, "meta.k8s.io") != 0 || !v ||
        (strcmp(v, "v1") != 0 && strcmp(v, "v1beta1") != 0))
        return SIM_AS_OBJECT;
    if (strcmp(as, "Table") == 0) {
        *ok = 1;
        return SIM_AS_TABLE;
    }
    if (strcmp(as, "PartialObjectMetadata") == 0 || strcmp(as, "PartialObjectMetadataList") == 0) {
        *ok = 1;
        return SIM_AS_META;
    }
    return SIM_AS_OBJECT;
}

enum sim_as sim_accept_as(const char *accept, int list)
{
    const char *p = accept;
    (void)list;
    if (!p || !*p)
        return SIM_AS_OBJECT;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        int ok;
        enum sim_as as = media_as(p, n, &ok);
        if (ok)
            return as;
        if (!comma)
            break;
        p = comma + 1;
    }
    return SIM_AS_OBJECT;
}

cJSON *sim_render(const struct sim_kind *k, const cJSON *stored)
{
    char av[256];
    cJSON *o;
    if (k->ops && k->ops->to_version)
        o = k->ops->to_version(stored);
    else
        o = cJSON_Duplicate(stored, 1);
    if (!o)
        return NULL;
    sim_kind_api_version(k, av, sizeof(av));
    /* kind and apiVersion first, as the real encoder writes them. */
    {
        cJSON *r = cJSON_CreateObject();
        cJSON *it;
        if (!r) {
            cJSON_Delete(o);
            return NULL;
        }
        cJSON_AddStringToObject(r, "kind", k->kind);
        cJSON_AddStringToObject(r, "apiVersion", av);
        while ((it = o->child) != NULL) {
            cJSON_DetachItemViaPointer(o, it);
            if (it->string &&
                (strcmp(it->string, "kind") == 0 || strcmp(it->string, "apiVersion") == 0)) {
                cJSON_Delete(it);
                continue;
            }
            cJSON_AddItemToObject(r, it->string, it);
        }
        cJSON_Delete(o);
        o = r;
    }
    return o;
}

cJSON *sim_render_meta(const cJSON *served)
{
    cJSON *o = cJSON_CreateObject();
    const cJSON *meta = sim_jget(served, "metadata", NULL);
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "kind", "PartialObjectMetadata");
    cJSON_AddStringToObject(o, "apiVersion", "meta.k8s.io/v1");
    cJSON_AddItemToObject(o, "metadata", meta ? cJSON_Duplicate(meta, 1) : cJSON_CreateObject());
    return o;
}

static cJSON *column_def(const char *name, const char *type, const char *format, const char *desc,
                         int priority)
{
    cJSON *c = cJSON_CreateObject();
    if (!c)
        return NULL;
    cJSON_AddStringToObject(c, "name", name);
    cJSON_AddStringToObject(c, "type", type);
    cJSON_AddStringToObject(c, "format", format);
    cJSON_AddStringToObject(c, "description", desc);
    cJSON_AddNumberToObject(c, "priority", priority);
    return c;
}

static const char name_desc[] =
    "Name must be unique within a namespace. Is required when creating resources, although some "
    "resources may allow a client to request the generation of an appropriate name "
    "automatically. Name is primarily intended for creation idempotence and configuration "
    "definition. Cannot be updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
static const char age_desc[] =
    "CreationTimestamp is a timestamp representing the server time when this object was "
    "created. It is not guaranteed to be set in happens-before order across separate "
    "operations. Clients may not set this value. It is represented in RFC3339 form and is in "
    "UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/"
    "api-conventions.md#metadata";

cJSON *sim_table_new(const struct sim_kind *k, int with_columns)
{
    cJSON *t = cJSON_CreateObject();
    cJSON *cols;
    if (!t)
        return NULL;
    cJSON_AddStringToObject(t, "kind", "Table");
    cJSON_AddStringToObject(t, "apiVersion", "meta.k8s.io/v1");
    cJSON_AddObjectToObject(t, "metadata");
    cols = cJSON_AddArrayToObject(t, "columnDefinitions");
    if (with_columns && cols) {
        cJSON_AddItemToArray(cols, column_def("Name", "string", "name", name_desc, 0));
        for (size_t i = 0; i < k->ncolumns; i++) {
            const struct sim_column *c = &k->columns[i];
            cJSON_AddItemToArray(
                cols, column_def(c->name, c->type, c->format, c->description, c->priority));
        }
        if (!k->columns_replace)
            cJSON_AddItemToArray(cols, column_def("Age", "date", "", age_desc, 0));
    }
    cJSON_AddArrayToObject(t, "rows");
    return t;
}

static cJSON *age_cell(const char *ts)
{
    char buf[32];
    int64_t t = ts ? sim_parse_rfc3339(ts) : -1;
    if (t < 0)
        return cJSON_CreateString("<unknown>");
    sim_age(sim_now_unix() - t, buf, sizeof(buf));
    return cJSON_CreateString(buf);
}

static cJSON *cell_for(const struct sim_column *c, const cJSON *served)
{
    const cJSON *v = sim_jsonpath_first(served, c->jsonpath);
    if (!v || cJSON_IsNull(v))
        return cJSON_CreateNull();
    if (strcmp(c->type, "date") == 0)
        return cJSON_IsString(v) ? age_cell(v->valuestring) : cJSON_CreateNull();
    if (strcmp(c->type, "integer") == 0 || strcmp(c->type, "number") == 0)
        return cJSON_IsNumber(v) ? cJSON_CreateNumber(v->valuedouble) : cJSON_CreateNull();
    if (strcmp(c->type, "boolean") == 0)
        return cJSON_IsBool(v) ? cJSON_CreateBool(cJSON_IsTrue(v)) : cJSON_CreateNull();
    if (cJSON_IsString(v))
        return cJSON_CreateString(v->valuestring);
    {
        /* Non-string values print as JSON, as the CRD table convertor does. */
        char *s = cJSON_PrintUnformatted(v);
        cJSON *out = cJSON_CreateString(s ? s : "");
        free(s);
        return out;
    }
}

int sim_table_add_row(cJSON *table, const struct sim_kind *k, const cJSON *served,
                      const char *include)
{
    cJSON *rows = cJSON_GetObjectItemCaseSensitive(table, "rows");
    cJSON *row = cJSON_CreateObject();
    cJSON *cells;
    const char *name = sim_jstr(served, "metadata", "name", NULL);
    if (!rows || !row) {
        cJSON_Delete(row);
        return -1;
    }
    cells = cJSON_AddArrayToObject(row, "cells");
    cJSON_AddItemToArray(cells, cJSON_CreateString(name ? name : ""));
    for (size_t i = 0; i < k->ncolumns; i++)
        if (k->columns[i].jsonpath[0])
            cJSON_AddItemToArray(cells, cell_for(&k->columns[i], served));
    if (k->ops && k->ops->cells)
        k->ops->cells(k, served, cells);
    if (!k->columns_replace)
        cJSON_AddItemToArray(cells,
                             age_cell(sim_jstr(served, "metadata", "creationTimestamp", NULL)));
    if (!include || strcmp(include, "Metadata") == 0)
        cJSON_AddItemToObject(row, "object", sim_render_meta(served));
    else if (strcmp(include, "Object") == 0)
        cJSON_AddItemToObject(row, "object", cJSON_Duplicate(served, 1));
    cJSON_AddItemToArray(rows, row);
    return 0;
}

/* ---- JSONPath subset ---- */

static const cJSON *jp_eval(const cJSON *cur, const char *p);

/* Parses a filter "?(@.a.b==\"x\")" at p (after '['); returns the end (after ']'). */
static const cJSON *jp_filter(const cJSON *arr, const char *p, const char **rest)
{
    char lhs[256], rhs[256];
    const char *q = p + 2; /* past "?(" */
    size_t n = 0;
    int neq = 0;
    const cJSON *it;
    if (*q == '@')
        q++;
    while (*q && *q != '=' && *q != '!' && *q != ')' && n + 1 < sizeof(lhs))
        lhs[n++] = *q++;
    lhs[n] = '\0';
    if (q[0] == '!' && q[1] == '=') {
        neq = 1;
        q += 2;
    } else if (q[0] == '=' && q[1] == '=') {
        q += 2;
    } else {
        return NULL;
    }
    while (*q == ' ')
        q++;
    n = 0;
    if (*q == '"' || *q == '\'') {
        char quote = *q++;
        while (*q && *q != quote && n + 1 < sizeof(rhs))
            rhs[n++] = *q++;
        if (*q == quote)
            q++;
    } else {
        while (*q && *q != ')' && n + 1 < sizeof(rhs))
            rhs[n++] = *q++;
    }
    rhs[n] = '\0';
    while (*q && *q != ']')
        q++;
    *rest = *q ? q + 1 : q;
    cJSON_ArrayForEach(it, arr)
    {
        const cJSON *v = jp_eval(it, lhs);
        char text[256] = "";
        if (cJSON_IsString(v))
            sim_strlcpy(text, v->valuestring, sizeof(text));
        else if (cJSON_IsNumber(v))
            snprintf(text, sizeof(text), "%.17g", v->valuedouble);
        else if (cJSON_IsBool(v))
            sim_strlcpy(text, cJSON_IsTrue(v) ? "true" : "false", sizeof(text));
        if ((strcmp(text, rhs) == 0) != neq) {
            const cJSON *r = jp_eval(it, *rest);
            if (r)
                return r;
        }
    }
    return NULL;
}

static const cJSON *jp_eval(const cJSON *cur, const char *p)
{
    while (cur && *p) {
        if (*p == '.') {
            char key[256];
            size_t n = 0;
            p++;
            while (*p && *p != '.' && *p != '[' && n + 1 < sizeof(key))
                key[n++] = *p++;
            key[n] = '\0';
            if (n == 0)
                continue;
            cur = cJSON_IsObject(cur) ? cJSON_GetObjectItemCaseSensitive(cur, key) : NULL;
        } else if (*p == '[') {
            if (p[1] == '?') {
                const char *rest;
                if (!cJSON_IsArray(cur))
                    return NULL;
                return jp_filter(cur, p + 1, &rest);
            }
            if (p[1] == '*') {
                const cJSON *it;
                const char *rest = strchr(p, ']');
                if (!rest || !cJSON_IsArray(cur))
                    return NULL;
                cJSON_ArrayForEach(it, cur)
                {
                    const cJSON *r = jp_eval(it, rest + 1);
                    if (r)
                        return r;
                }
                return NULL;
            }
            if (p[1] == '\'' || p[1] == '"') {
                char key[256];
                size_t n = 0;
                char quote = p[1];
                p += 2;
                while (*p && *p != quote && n + 1 < sizeof(key))
                    key[n++] = *p++;
                key[n] = '\0';
                if (*p)
                    p++;
                if (*p == ']')
                    p++;
                cur = cJSON_IsObject(cur) ? cJSON_GetObjectItemCaseSensitive(cur, key) : NULL;
            } else {
                char *end;
                long idx = strtol(p + 1, &end, 10);
                if (*end != ']' || !cJSON_IsArray(cur))
                    return NULL;
                if (idx < 0)
                    idx += cJSON_GetArraySize(cur);
                cur = cJSON_GetArrayItem(cur, (int)idx);
                p = end + 1;
            }
        } else {
            return NULL;
        }
    }
    return cur;
}

const cJSON *sim_jsonpath_first(const cJSON *obj, const char *path)
{
    char buf[512];
    size_t n;
    const char *p = path;
    while (isspace((unsigned char)*p))
        p++;
    sim_strlcpy(buf, p, sizeof(buf));
    n = strlen(buf);
    /* "{.spec.x}" is accepted as ".spec.x". */
    if (buf[0] == '{' && n > 1 && buf[n - 1] == '}') {
        buf[n - 1] = '\0';
        memmove(buf, buf + 1, n - 1);
    }
    if (buf[0] == '$')
        memmove(buf, buf + 1, strlen(buf));
    return jp_eval(obj, buf);
}
