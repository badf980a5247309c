/*
 * JSON merge patch (RFC 7386) and JSON patch (RFC 6902) on cJSON trees, written
 * once and shared by the client (to build patches) and the API simulator (to
 * apply them). Debian's cJSON ships without cJSON_Utils. JSON pointers follow
 * RFC 6901 (~0 and ~1 escapes, "-" for the end of an array).
 */
#ifndef QSO_K8S_PATCH_H
#define QSO_K8S_PATCH_H

#include <cjson/cJSON.h>

#include "k8s_error.h"

/* RFC 7386 MergePatch(target, patch): returns a new tree; inputs untouched.
 * NULL only on allocation failure. */
cJSON *k8s_merge_patch_apply(const cJSON *target, const cJSON *patch);

/* The merge patch that turns `from` into `to` (null for removed members;
 * arrays replaced whole). Returns a new object ({} when equal). */
cJSON *k8s_merge_patch_create(const cJSON *from, const cJSON *to);

/*
 * RFC 6902: applies every operation (add, remove, replace, move, copy, test) to
 * a copy of `doc`; all or nothing. On failure *out is NULL and err (K8S_EINVALID
 * for a failed test or missing path, K8S_EBADREQUEST for a malformed patch)
 * names the operation index, op and path.
 */
int k8s_json_patch_apply(const cJSON *doc, const cJSON *patch, cJSON **out,
                         struct k8s_error *err);

/* Appends {"op":op,"path":path[,"value":value]} to `patch` (a JSON array);
 * `value` is copied; NULL for remove. Returns 0 or K8S_ENOMEM. */
int k8s_json_patch_add_op(cJSON *patch, const char *op, const char *path, const cJSON *value);

/* Escapes one reference token for a JSON pointer ("a/b" -> "a~1b") into buf. */
int k8s_json_pointer_escape(const char *token, char *buf, size_t cap);

/* Resolves a JSON pointer in doc; NULL when absent. "" is the whole doc. */
cJSON *k8s_json_pointer_get(const cJSON *doc, const char *pointer);

/* Deep equality of two JSON values (object member order ignored). */
int k8s_json_equal(const cJSON *a, const cJSON *b);

#endif
