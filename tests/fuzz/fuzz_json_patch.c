/*
 * libFuzzer target for k8s_patch.c: JSON patch, merge patch (apply and
 * create), pointers, equality and the printer. Build and run: see
 * tests/fuzz/build.sh.
 *
 * Input: byte 0 holds flags (bit 0: apiserver mode); the rest is a document
 * and a patch separated by the first '\n'. Checks besides "no crash, no leak,
 * no UB":
 *  - a JSON patch either succeeds with a result and a clear error, or fails
 *    with no result and an error that names the operation; the input
 *    document is never modified;
 *  - the printer's output reads back equal;
 *  - merge-patch round trip: apply(doc, create(doc, r)) == r for r =
 *    apply(doc, patch), where r has no null member (RFC 7386 cannot carry
 *    those) and no repeated member names;
 *  - equality is reflexive and symmetric.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "k8s_patch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
    if (!ok)
        abort();
}

/* Whether an object reachable without entering an array has a null member,
 * or any object anywhere repeats a member name. */
static int merge_lossy(const cJSON *v, int in_array)
{
    for (const cJSON *c = v->child; c; c = c->next) {
        if (cJSON_IsObject(v)) {
            if (!in_array && cJSON_IsNull(c))
                return 1;
            for (const cJSON *o = c->next; o; o = o->next)
                if (c->string && o->string && strcmp(c->string, o->string) == 0)
                    return 1;
        }
        if (merge_lossy(c, in_array || cJSON_IsArray(v)))
            return 1;
    }
    return 0;
}

static int has_nonfinite(const cJSON *v)
{
    if (cJSON_IsNumber(v) &&
        (v->valuedouble != v->valuedouble || v->valuedouble > 1.7e308 || v->valuedouble < -1.7e308))
        return 1;
    for (const cJSON *c = v->child; c; c = c->next)
        if (has_nonfinite(c))
            return 1;
    return 0;
}

static void check_print(const cJSON *v)
{
    size_t len = 0;
    char *s = k8s_json_print(v, &len);
    check(s != NULL && strlen(s) == len);
    cJSON *back = cJSON_ParseWithLength(s, len);
    check(back != NULL);
    if (!has_nonfinite(v))
        check(k8s_json_equal(back, v));
    cJSON_Delete(back);
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    unsigned flags = (data[0] & 1) ? K8S_JSON_PATCH_APISERVER : 0;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    const char *nl = memchr(text, '\n', len);
    if (!nl)
        return 0;
    cJSON *doc = cJSON_ParseWithLength(text, (size_t)(nl - text));
    cJSON *patch = cJSON_ParseWithLength(nl + 1, len - (size_t)(nl - text) - 1);
    if (!doc || !patch)
        goto out;
    cJSON *before = cJSON_Duplicate(doc, 1);
    check(before != NULL);

    /* JSON patch. */
    cJSON *out = (cJSON *)1;
    struct k8s_error err;
    int rc = k8s_json_patch_apply_flags(doc, patch, flags, &out, &err);
    if (rc == 0) {
        check(out != NULL && err.code == K8S_OK);
        check(k8s_json_equal(out, out));
        check_print(out);
        cJSON_Delete(out);
    } else {
        check(out == NULL && err.code == rc);
        check(rc == K8S_EINVALID || rc == K8S_EBADREQUEST || rc == K8S_ENOMEM);
        check(strncmp(err.message, "json patch", 10) == 0);
    }
    check(k8s_json_equal(doc, before));

    /* Merge patch, and its round trip through create. */
    cJSON *r = k8s_merge_patch_apply(doc, patch);
    check(r != NULL);
    cJSON *diff = k8s_merge_patch_create(doc, r);
    check(diff != NULL);
    cJSON *r2 = k8s_merge_patch_apply(doc, diff);
    check(r2 != NULL);
    if (!merge_lossy(r, 0) && !merge_lossy(doc, 0))
        check(k8s_json_equal(r, r2));
    check_print(diff);
    cJSON_Delete(r);
    cJSON_Delete(diff);
    cJSON_Delete(r2);
    check(k8s_json_equal(doc, before));

    /* Equality and pointers. */
    check(k8s_json_equal(doc, before));
    check(k8s_json_equal(doc, patch) == k8s_json_equal(patch, doc));
    if (cJSON_IsString(patch))
        (void)k8s_json_pointer_get(doc, patch->valuestring);
    cJSON_Delete(before);
out:
    cJSON_Delete(doc);
    cJSON_Delete(patch);
    return 0;
}
