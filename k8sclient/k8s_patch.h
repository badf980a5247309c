/*
 * JSON merge patch (RFC 7386) and JSON patch (RFC 6902) on cJSON trees, written
 * once and shared by the client (to build patches) and the API simulator (to
 * apply them). Debian's cJSON ships without cJSON_Utils. JSON pointers follow
 * RFC 6901 (~0 and ~1 escapes, "-" for the end of an array).
 *
 * Numbers. cJSON keeps every number as a double, so:
 *  - integers with |n| <= 2^53 (9007199254740992) survive parse -> patch ->
 *    k8s_json_print() exactly; larger integers are rounded to the nearest
 *    double when parsed (9007199254740993 becomes 9007199254740992). Kubernetes
 *    keeps resourceVersion, uid and quantities as strings, which are exact.
 *  - cJSON_Print/cJSON_PrintUnformatted in cJSON 1.7.15 print integers above
 *    about 1e15 in a rounded exponent form (9007199254740992 prints as
 *    "9.00719925474099e+15", which is 9007199254740990): use k8s_json_print()
 *    for anything sent to or stored by an API server.
 *  - equality compares numbers as numbers (1, 1.0 and 1e0 are equal).
 *
 * Nesting: operations that would make a document deeper than
 * K8S_JSON_MAX_DEPTH fail, so that the recursive cJSON functions (delete,
 * duplicate, print) never exhaust the stack; cJSON's parser has the same limit.
 */
#ifndef QSO_K8S_PATCH_H
#define QSO_K8S_PATCH_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "k8s_error.h"

#define K8S_JSON_MAX_DEPTH 1000

/* The "copy" operations of one JSON patch may create at most this many JSON
 * values in total: a patch of a few KiB that copies the document into itself
 * repeatedly would otherwise double its size with every operation. */
#define K8S_JSON_PATCH_MAX_COPY_NODES (1u << 20)

/* RFC 7386 MergePatch(target, patch): returns a new tree; inputs untouched.
 * `target` may be NULL (absent). NULL only on allocation failure. */
cJSON *k8s_merge_patch_apply(const cJSON *target, const cJSON *patch);

/*
 * The merge patch that turns `from` into `to`: members missing from `to` become
 * null, changed members are recursed into when both sides are objects, and
 * anything else (arrays included) is replaced whole. When both are objects the
 * result is an object ({} when they are equal); otherwise it is a copy of `to`.
 * RFC 7386 cannot express a null member value inside an object (null means
 * delete), so such nulls in `to` that differ from `from` are lost on apply.
 * NULL only on allocation failure.
 */
cJSON *k8s_merge_patch_create(const cJSON *from, const cJSON *to);

/* Flags of k8s_json_patch_apply_flags(). */
enum k8s_json_patch_flags {
    /*
     * Behave like kube-apiserver (evanphx/json-patch v4) where it departs from
     * RFC 6902: negative array indices count from the end ("/items/-1" is the
     * last element), and "test" of an absent object member against null
     * succeeds. Equality stays deep and numeric in both modes (the apiserver
     * compares scalars by their compact JSON text, so it would also find 1 and
     * 1.0 different; clients send the text they read, so this never differs
     * in practice).
     */
    K8S_JSON_PATCH_APISERVER = 1u << 0,
};

/*
 * RFC 6902: applies every operation (add, remove, replace, move, copy, test) to
 * a copy of `doc`; all or nothing. On failure *out is NULL and err names the
 * operation's index in the patch array (0-based), its op and path, e.g.
 *   json patch operation 2 (test) at /spec/replicas: value does not match
 * Error messages never contain values (they may be secrets), only paths.
 * Codes follow kube-apiserver: K8S_EBADREQUEST (400) when the patch is not an
 * array of objects; K8S_EINVALID (422) for everything that fails while
 * applying: an unknown or duplicated op, a missing member, a bad pointer, a
 * missing path, a failed test. K8S_ENOMEM on allocation failure.
 */
int k8s_json_patch_apply(const cJSON *doc, const cJSON *patch, cJSON **out, struct k8s_error *err);
int k8s_json_patch_apply_flags(const cJSON *doc, const cJSON *patch, unsigned flags, cJSON **out,
                               struct k8s_error *err);

/* Appends {"op":op,"path":path[,"value":value]} to `patch` (a JSON array);
 * `value` is copied; NULL for remove. Returns 0, K8S_EARG or K8S_ENOMEM. */
int k8s_json_patch_add_op(cJSON *patch, const char *op, const char *path, const cJSON *value);

/* Escapes one reference token for a JSON pointer ("a/b" -> "a~1b", "~" ->
 * "~0") into buf. Returns 0, or K8S_ENOMEM when buf is too small. */
int k8s_json_pointer_escape(const char *token, char *buf, size_t cap);

/* Resolves a JSON pointer in doc; NULL when absent or when the pointer is not
 * valid RFC 6901 syntax. "" is the whole doc; "-" never resolves. */
cJSON *k8s_json_pointer_get(const cJSON *doc, const char *pointer);

/* Deep equality of two JSON values: object member order ignored, numbers
 * compared as numbers, strings byte by byte. Two NULLs are equal. */
int k8s_json_equal(const cJSON *a, const cJSON *b);

/*
 * Prints `item` as compact JSON like cJSON_PrintUnformatted, except that every
 * integral number below 2^63 in magnitude is printed with all its digits
 * (9007199254740992, never 9.00719925474099e+15) and other numbers with the
 * shortest of %.15g/%.16g/%.17g that reads back exactly. Non-finite numbers
 * print as null, as cJSON does. Returns a malloc'd string (free()) and its
 * length in *len if len is non-NULL; NULL on allocation failure or for an
 * invalid item. Needs the "C" LC_NUMERIC locale (the default).
 */
char *k8s_json_print(const cJSON *item, size_t *len);

#endif
