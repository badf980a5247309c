/*
 * Strategic merge patch (see sim_smp.h), after
 * k8s.io/apimachinery/pkg/util/strategicpatch, reduced to the patch metadata
 * of the fields our built-in types use. The merge key is chosen by field
 * name, which is unambiguous for those types.
 */
#include "sim_smp.h"

#include <stdio.h>
#include <string.h>

#include "k8s_patch.h"

struct merge_key {
    const char *field;
    const char *key; /* NULL: a set of primitives (patchStrategy merge) */
};

static const struct merge_key keys[] = {
    {"containers", "name"},
    {"initContainers", "name"},
    {"ephemeralContainers", "name"},
    {"env", "name"},
    {"volumes", "name"},
    {"volumeMounts", "mountPath"},
    {"volumeDevices", "devicePath"},
    {"ports", "containerPort"},
    {"conditions", "type"},
    {"imagePullSecrets", "name"},
    {"ownerReferences", "uid"},
    {"hostAliases", "ip"},
    {"topologySpreadConstraints", "topologyKey"},
    {"finalizers", NULL},
};

static const struct merge_key *merge_key_for(const char *field, int *found)
{
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (strcmp(keys[i].field, field) == 0) {
            *found = 1;
            return &keys[i];
        }
    *found = 0;
    return NULL;
}

static int merge_object(cJSON *dst, const cJSON *patch, char *err, size_t cap);

static const cJSON *find_by_key(const cJSON *arr, const char *key, const cJSON *val)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(it, key);
        if (v && k8s_json_equal(v, val))
            return it;
    }
    return NULL;
}

/* Merges a patch list into dst's list by merge key. */
static int merge_keyed_list(cJSON *dst, const cJSON *plist, const char *key, char *err, size_t cap)
{
    const cJSON *pe;
    cJSON_ArrayForEach(pe, plist)
    {
        const cJSON *kv, *dir;
        cJSON *target;
        if (!cJSON_IsObject(pe)) {
            snprintf(err, cap, "unable to find api field in struct for the merge key \"%s\"", key);
            return -1;
        }
        kv = cJSON_GetObjectItemCaseSensitive(pe, key);
        dir = cJSON_GetObjectItemCaseSensitive(pe, "$patch");
        if (!kv) {
            snprintf(err, cap, "map: %s does not contain declared merge key: %s", "list element",
                     key);
            return -1;
        }
        target = (cJSON *)find_by_key(dst, key, kv);
        if (cJSON_IsString(dir) && strcmp(dir->valuestring, "delete") == 0) {
            if (target)
                cJSON_Delete(cJSON_DetachItemViaPointer(dst, target));
            continue;
        }
        if (cJSON_IsString(dir) && strcmp(dir->valuestring, "replace") == 0) {
            cJSON *copy = cJSON_Duplicate(pe, 1);
            if (!copy)
                return -1;
            cJSON_DeleteItemFromObjectCaseSensitive(copy, "$patch");
            if (target)
                cJSON_ReplaceItemViaPointer(dst, target, copy);
            else
                cJSON_AddItemToArray(dst, copy);
            continue;
        }
        if (target) {
            if (merge_object(target, pe, err, cap) != 0)
                return -1;
        } else {
            cJSON *fresh = cJSON_CreateObject();
            if (!fresh || merge_object(fresh, pe, err, cap) != 0) {
                cJSON_Delete(fresh);
                return -1;
            }
            cJSON_AddItemToArray(dst, fresh);
        }
    }
    return 0;
}

static void merge_primitive_set(cJSON *dst, const cJSON *plist)
{
    const cJSON *pe;
    cJSON_ArrayForEach(pe, plist)
    {
        const cJSON *it;
        int present = 0;
        cJSON_ArrayForEach(it, dst)
        {
            if (k8s_json_equal(it, pe))
                present = 1;
        }
        if (!present)
            cJSON_AddItemToArray(dst, cJSON_Duplicate(pe, 1));
    }
}

static void delete_from_primitive_list(cJSON *arr, const cJSON *vals)
{
    const cJSON *v;
    cJSON_ArrayForEach(v, vals)
    {
        for (int i = cJSON_GetArraySize(arr) - 1; i >= 0; i--)
            if (k8s_json_equal(cJSON_GetArrayItem(arr, i), v))
                cJSON_DeleteItemFromArray(arr, i);
    }
}

static int set_member(cJSON *dst, const char *key, cJSON *val)
{
    if (!val)
        return -1;
    if (cJSON_GetObjectItemCaseSensitive(dst, key))
        return cJSON_ReplaceItemInObjectCaseSensitive(dst, key, val) ? 0 : -1;
    return cJSON_AddItemToObject(dst, key, val) ? 0 : -1;
}

static int merge_object(cJSON *dst, const cJSON *patch, char *err, size_t cap)
{
    const cJSON *p;
    const cJSON *dir = cJSON_GetObjectItemCaseSensitive(patch, "$patch");
    const cJSON *retain = cJSON_GetObjectItemCaseSensitive(patch, "$retainKeys");
    if (cJSON_IsString(dir) && strcmp(dir->valuestring, "replace") == 0) {
        cJSON *child;
        while ((child = dst->child) != NULL)
            cJSON_Delete(cJSON_DetachItemViaPointer(dst, child));
        cJSON_ArrayForEach(p, patch)
        {
            if (strcmp(p->string, "$patch") != 0 &&
                set_member(dst, p->string, cJSON_Duplicate(p, 1)) != 0)
                return -1;
        }
        return 0;
    }
    cJSON_ArrayForEach(p, patch)
    {
        const char *k = p->string;
        cJSON *cur;
        int known;
        const struct merge_key *mk;
        if (strcmp(k, "$patch") == 0 || strcmp(k, "$retainKeys") == 0 ||
            strncmp(k, "$setElementOrder/", 17) == 0)
            continue;
        if (strncmp(k, "$deleteFromPrimitiveList/", 25) == 0) {
            cur = cJSON_GetObjectItemCaseSensitive(dst, k + 25);
            if (cJSON_IsArray(cur))
                delete_from_primitive_list(cur, p);
            continue;
        }
        cur = cJSON_GetObjectItemCaseSensitive(dst, k);
        if (cJSON_IsNull(p)) {
            cJSON_DeleteItemFromObjectCaseSensitive(dst, k);
            continue;
        }
        if (cJSON_IsObject(p)) {
            const cJSON *pd = cJSON_GetObjectItemCaseSensitive(p, "$patch");
            if (cJSON_IsString(pd) && strcmp(pd->valuestring, "delete") == 0) {
                cJSON_DeleteItemFromObjectCaseSensitive(dst, k);
                continue;
            }
            if (!cJSON_IsObject(cur)) {
                cur = cJSON_CreateObject();
                if (!cur || set_member(dst, k, cur) != 0)
                    return -1;
            }
            if (merge_object(cur, p, err, cap) != 0)
                return -1;
            continue;
        }
        if (cJSON_IsArray(p)) {
            mk = merge_key_for(k, &known);
            if (known && cJSON_IsArray(cur)) {
                if (mk->key) {
                    if (merge_keyed_list(cur, p, mk->key, err, cap) != 0)
                        return -1;
                } else {
                    merge_primitive_set(cur, p);
                }
                continue;
            }
            if (known && mk->key) {
                /* No list yet: build it through the merge so directives apply. */
                cJSON *fresh = cJSON_CreateArray();
                if (!fresh || merge_keyed_list(fresh, p, mk->key, err, cap) != 0 ||
                    set_member(dst, k, fresh) != 0) {
                    cJSON_Delete(fresh);
                    return -1;
                }
                continue;
            }
        }
        if (set_member(dst, k, cJSON_Duplicate(p, 1)) != 0)
            return -1;
    }
    if (cJSON_IsArray(retain)) {
        cJSON *child = dst->child;
        while (child) {
            cJSON *next = child->next;
            const cJSON *r;
            int keep = 0;
            cJSON_ArrayForEach(r, retain)
            {
                if (cJSON_IsString(r) && strcmp(r->valuestring, child->string) == 0)
                    keep = 1;
            }
            if (!keep)
                cJSON_Delete(cJSON_DetachItemViaPointer(dst, child));
            child = next;
        }
    }
    return 0;
}

int sim_smp_apply(const cJSON *original, const cJSON *patch, cJSON **out, char *err, size_t cap)
{
    cJSON *doc;
    *out = NULL;
    if (!cJSON_IsObject(patch)) {
        snprintf(err, cap, "strategic merge patch must be a JSON object");
        return -1;
    }
    doc = cJSON_Duplicate(original, 1);
    if (!doc) {
        snprintf(err, cap, "out of memory");
        return -1;
    }
    if (merge_object(doc, patch, err, cap) != 0) {
        cJSON_Delete(doc);
        return -1;
    }
    *out = doc;
    return 0;
}
