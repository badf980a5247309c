/*
 * The kinds registry (see sim_kind.h): a plain array of heap entries whose
 * addresses stay fixed for the server's lifetime.
 */
#include "sim_kind.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sim_kinds {
    struct sim_kind **v;
    size_t n, cap;
};

struct sim_kinds *sim_kinds_new(void)
{
    return calloc(1, sizeof(struct sim_kinds));
}

static void kind_release(struct sim_kind *k)
{
    cJSON_Delete(k->schema);
    k->schema = NULL;
    if (k->validator && k->validator_free)
        k->validator_free(k->validator);
    k->validator = NULL;
}

void sim_kinds_free(struct sim_kinds *ks)
{
    if (!ks)
        return;
    for (size_t i = 0; i < ks->n; i++) {
        kind_release(ks->v[i]);
        free(ks->v[i]);
    }
    free(ks->v);
    free(ks);
}

struct sim_kind *sim_kinds_put(struct sim_kinds *ks, const struct sim_kind *k)
{
    struct sim_kind *e = sim_kinds_find(ks, k->group, k->version, k->resource, 0);
    if (e) {
        /* Ownership of schema/validator moves in with `k`. */
        if (e->schema != k->schema || e->validator != k->validator)
            kind_release(e);
        *e = *k;
        return e;
    }
    if (ks->n == ks->cap) {
        size_t nc = ks->cap ? ks->cap * 2 : 32;
        struct sim_kind **nv = realloc(ks->v, nc * sizeof(*nv));
        if (!nv)
            return NULL;
        ks->v = nv;
        ks->cap = nc;
    }
    e = malloc(sizeof(*e));
    if (!e)
        return NULL;
    *e = *k;
    ks->v[ks->n++] = e;
    return e;
}

size_t sim_kinds_count(const struct sim_kinds *ks)
{
    return ks->n;
}

struct sim_kind *sim_kinds_at(const struct sim_kinds *ks, size_t i)
{
    return i < ks->n ? ks->v[i] : NULL;
}

struct sim_kind *sim_kinds_find(const struct sim_kinds *ks, const char *group, const char *version,
                                const char *resource, int served_only)
{
    for (size_t i = 0; i < ks->n; i++) {
        struct sim_kind *k = ks->v[i];
        if (served_only && !k->served)
            continue;
        if (strcmp(k->group, group) == 0 && strcmp(k->version, version) == 0 &&
            strcmp(k->resource, resource) == 0)
            return k;
    }
    return NULL;
}

struct sim_kind *sim_kinds_find_kind(const struct sim_kinds *ks, const char *group,
                                     const char *version, const char *kind, int served_only)
{
    for (size_t i = 0; i < ks->n; i++) {
        struct sim_kind *k = ks->v[i];
        if (served_only && !k->served)
            continue;
        if (strcmp(k->group, group) == 0 && strcmp(k->version, version) == 0 &&
            strcmp(k->kind, kind) == 0)
            return k;
    }
    return NULL;
}

struct sim_kind *sim_kinds_storage(const struct sim_kinds *ks, const char *group,
                                   const char *resource)
{
    struct sim_kind *any = NULL;
    for (size_t i = 0; i < ks->n; i++) {
        struct sim_kind *k = ks->v[i];
        if (strcmp(k->group, group) != 0 || strcmp(k->resource, resource) != 0)
            continue;
        if (k->storage_version)
            return k;
        if (!any)
            any = k;
    }
    return any;
}

void sim_kind_api_version(const struct sim_kind *k, char *buf, size_t cap)
{
    if (*k->group)
        snprintf(buf, cap, "%s/%s", k->group, k->version);
    else
        snprintf(buf, cap, "%s", k->version);
}
