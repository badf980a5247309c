/*
 * k8s_patch: JSON pointer (RFC 6901), JSON patch (RFC 6902), JSON merge patch
 * (RFC 7386), deep equality and an integer-exact printer, on cJSON trees.
 *
 * Internals. A JSON patch is applied to a deep copy of the document, operation
 * by operation, and the copy is dropped at the first failure: that gives the
 * all-or-nothing semantics without an undo log. Every mutating operation is
 * reduced to "resolve the parent of the path, then act on its last reference
 * token": an escaped token never contains '/', so the last '/' of a pointer
 * always separates the parent from the token. "move" detaches the source and
 * hands the very same node to "add", so a move never copies. Mutations go
 * through cJSON's own functions so that key strings are allocated with cJSON's
 * allocator (the tests install counting hooks).
 *
 * Objects are compared (and diffed) by sorting their members by name, so wide
 * objects (a ConfigMap with thousands of keys) cost n log n, not n^2.
 */
#include "k8s_patch.h"

#include <limits.h>
#include <math.h> /* isfinite only: the library does not link libm */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8s_buf.h"

/* Longest path quoted in an error message; paths are field names, not
 * values, but a hostile patch could send a megabyte of them. */
#define PATH_QUOTE_MAX 256

/* ---------------------------------------------------------------------------
 * JSON pointers
 */

/*
 * Unescapes the reference token starting at `p` (just after a '/') into `out`
 * (room for the whole pointer) and returns a pointer to the next '/' or the
 * terminating NUL; NULL when the token has a '~' not followed by 0 or 1.
 */
static const char *ptr_token(const char *p, const char *end, char *out)
{
    while (p < end && *p != '/') {
        if (*p == '~') {
            if (p + 1 >= end || (p[1] != '0' && p[1] != '1'))
                return NULL;
            *out++ = p[1] == '0' ? '~' : '/';
            p += 2;
        } else {
            *out++ = *p++;
        }
    }
    *out = '\0';
    return p;
}

/*
 * Parses an array index token: "0" or a decimal without leading zeros, below
 * `limit` (the array size, or size + 1 where "insert at the end" is allowed).
 * With `negative` (kube-apiserver mode), "-k" means limit - k, as the
 * apiserver's json-patch does. Returns 0 and the index, or -1.
 */
static int ptr_index(const char *tok, size_t limit, int negative, size_t *idx)
{
    int neg = 0;
    if (negative && tok[0] == '-' && tok[1] != '\0') {
        neg = 1;
        tok++;
    }
    if (tok[0] < '0' || tok[0] > '9' || (tok[0] == '0' && tok[1] != '\0'))
        return -1;
    size_t v = 0;
    for (const char *c = tok; *c; c++) {
        if (*c < '0' || *c > '9' || v > (SIZE_MAX - 9) / 10)
            return -1;
        v = v * 10 + (size_t)(*c - '0');
    }
    if (neg) {
        if (v == 0 || v > limit)
            return -1;
        v = limit - v;
    }
    if (v >= limit || v > INT_MAX)
        return -1;
    *idx = v;
    return 0;
}

static cJSON *array_at(const cJSON *arr, size_t idx)
{
    cJSON *c = arr->child;
    while (c && idx--)
        c = c->next;
    return c;
}

static size_t array_size(const cJSON *arr)
{
    size_t n = 0;
    for (const cJSON *c = arr->child; c; c = c->next)
        n++;
    return n;
}

/*
 * Inserts `item` at `idx` (0..size). Not cJSON_InsertItemInArray for the
 * middle: Debian 12's cJSON (1.7.15-1+deb12u4) rejects an insert before any
 * element but the first, because its security backport checks the new item's
 * `prev` pointer, which is always NULL. So the splice is done here.
 */
static int array_insert(cJSON *arr, size_t idx, cJSON *item)
{
    cJSON *after = array_at(arr, idx);
    if (!after)
        return cJSON_AddItemToArray(arr, item) ? 0 : K8S_ENOMEM;
    if (after == arr->child)
        return cJSON_InsertItemInArray(arr, 0, item) ? 0 : K8S_ENOMEM;
    item->prev = after->prev;
    item->next = after;
    after->prev->next = item;
    after->prev = item;
    return 0;
}

/* Why a pointer did not resolve. */
enum ptr_status {
    PTR_OK,
    PTR_SYNTAX, /* not RFC 6901 syntax */
    PTR_ABSENT, /* syntax fine, no such value */
};

/*
 * Resolves the pointer `ptr[0..n)` in `root`, using `scratch` (at least n + 1
 * bytes) for unescaped tokens.
 */
static cJSON *ptr_get_n(const cJSON *root, const char *ptr, size_t n, char *scratch, int negative,
                        enum ptr_status *st)
{
    const char *p = ptr, *end = ptr + n;
    const cJSON *cur = root;
    *st = PTR_OK;
    if (n > 0 && ptr[0] != '/') {
        *st = PTR_SYNTAX;
        return NULL;
    }
    while (p < end) {
        p = ptr_token(p + 1, end, scratch);
        if (!p) {
            *st = PTR_SYNTAX;
            return NULL;
        }
        if (!cur) {
            /* Keep checking the syntax of the rest; the value is absent. */
            continue;
        }
        if (cJSON_IsObject(cur)) {
            cur = cJSON_GetObjectItemCaseSensitive(cur, scratch);
        } else if (cJSON_IsArray(cur)) {
            size_t size = array_size(cur), idx;
            cur = ptr_index(scratch, size, negative, &idx) == 0 ? array_at(cur, idx) : NULL;
        } else {
            cur = NULL;
        }
    }
    if (!cur && *st == PTR_OK)
        *st = PTR_ABSENT;
    return (cJSON *)cur;
}

cJSON *k8s_json_pointer_get(const cJSON *doc, const char *pointer)
{
    if (!doc || !pointer)
        return NULL;
    size_t n = strlen(pointer);
    char *scratch = malloc(n + 1);
    if (!scratch)
        return NULL;
    enum ptr_status st;
    cJSON *v = ptr_get_n(doc, pointer, n, scratch, 0, &st);
    free(scratch);
    return v;
}

int k8s_json_pointer_escape(const char *token, char *buf, size_t cap)
{
    size_t o = 0;
    if (!token || !buf || cap == 0)
        return K8S_EARG;
    for (const char *c = token; *c; c++) {
        const char *rep = NULL;
        char one[2] = {*c, '\0'};
        if (*c == '~')
            rep = "~0";
        else if (*c == '/')
            rep = "~1";
        else
            rep = one;
        size_t l = strlen(rep);
        if (o + l >= cap) {
            buf[0] = '\0';
            return K8S_ENOMEM;
        }
        memcpy(buf + o, rep, l);
        o += l;
    }
    buf[o] = '\0';
    return 0;
}

/* ---------------------------------------------------------------------------
 * Equality
 */

struct member {
    const cJSON *item;
    size_t pos;
};

static int member_cmp(const void *a, const void *b)
{
    const struct member *x = a, *y = b;
    const char *ks = x->item->string ? x->item->string : "";
    const char *ls = y->item->string ? y->item->string : "";
    int c = strcmp(ks, ls);
    if (c)
        return c;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/*
 * Fills a malloc'd array with the members of `obj` sorted by name (ties in
 * document order). Returns NULL on allocation failure unless the object is
 * empty; *n is the member count either way.
 */
static struct member *sorted_members(const cJSON *obj, size_t *n)
{
    size_t count = array_size(obj), i = 0;
    *n = count;
    struct member *m = malloc((count ? count : 1) * sizeof(*m));
    if (!m)
        return NULL;
    for (const cJSON *c = obj->child; c; c = c->next, i++) {
        m[i].item = c;
        m[i].pos = i;
    }
    qsort(m, count, sizeof(*m), member_cmp);
    return m;
}

static int same_key(const cJSON *a, const cJSON *b)
{
    return strcmp(a->string ? a->string : "", b->string ? b->string : "") == 0;
}

static int object_equal_slow(const cJSON *a, const cJSON *b)
{
    /* Used only when memory is short: quadratic but allocation-free. */
    for (const cJSON *c = a->child; c; c = c->next) {
        const cJSON *o = cJSON_GetObjectItemCaseSensitive(b, c->string ? c->string : "");
        if (!o || !k8s_json_equal(c, o))
            return 0;
    }
    return 1;
}

int k8s_json_equal(const cJSON *a, const cJSON *b)
{
    if (!a || !b)
        return a == b;
    if ((a->type & 0xFF) != (b->type & 0xFF))
        return 0;
    switch (a->type & 0xFF) {
    case cJSON_False:
    case cJSON_True:
    case cJSON_NULL:
        return 1;
    case cJSON_Number:
        return a->valuedouble == b->valuedouble;
    case cJSON_String:
    case cJSON_Raw:
        return strcmp(a->valuestring ? a->valuestring : "", b->valuestring ? b->valuestring : "") ==
               0;
    case cJSON_Array: {
        const cJSON *x = a->child, *y = b->child;
        for (; x && y; x = x->next, y = y->next)
            if (!k8s_json_equal(x, y))
                return 0;
        return !x && !y;
    }
    case cJSON_Object: {
        size_t na, nb;
        if (array_size(a) != array_size(b))
            return 0;
        struct member *ma = sorted_members(a, &na);
        struct member *mb = sorted_members(b, &nb);
        int eq = 1;
        if (!ma || !mb) {
            eq = object_equal_slow(a, b);
        } else {
            for (size_t i = 0; i < na && eq; i++)
                eq = same_key(ma[i].item, mb[i].item) && k8s_json_equal(ma[i].item, mb[i].item);
        }
        free(ma);
        free(mb);
        return eq;
    }
    default:
        return 0;
    }
}

/* ---------------------------------------------------------------------------
 * Merge patch (RFC 7386)
 */

/* Sets obj[name] = value (taking value), replacing the first member of that
 * name if any. On failure value is freed. */
static int object_put(cJSON *obj, const char *name, cJSON *value)
{
    cJSON_bool ok;
    if (cJSON_GetObjectItemCaseSensitive(obj, name))
        ok = cJSON_ReplaceItemInObjectCaseSensitive(obj, name, value);
    else
        ok = cJSON_AddItemToObject(obj, name, value);
    if (!ok) {
        cJSON_Delete(value);
        return K8S_ENOMEM;
    }
    return 0;
}

/* Applies the object `patch` to the object `target` in place. */
static int merge_into(cJSON *target, const cJSON *patch)
{
    int rc = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, patch)
    {
        const char *name = m->string ? m->string : "";
        if (cJSON_IsNull(m)) {
            /* Duplicate names in the target all go: none of them survives. */
            cJSON *old;
            while ((old = cJSON_GetObjectItemCaseSensitive(target, name)))
                cJSON_Delete(cJSON_DetachItemViaPointer(target, old));
            continue;
        }
        cJSON *existing = cJSON_GetObjectItemCaseSensitive(target, name);
        if (cJSON_IsObject(m) && cJSON_IsObject(existing)) {
            rc = merge_into(existing, m);
        } else if (cJSON_IsObject(m)) {
            cJSON *fresh = cJSON_CreateObject();
            if (!fresh)
                return K8S_ENOMEM;
            rc = merge_into(fresh, m);
            if (rc) {
                cJSON_Delete(fresh);
                return rc;
            }
            rc = object_put(target, name, fresh);
        } else {
            cJSON *dup = cJSON_Duplicate(m, 1);
            if (!dup)
                return K8S_ENOMEM;
            rc = object_put(target, name, dup);
        }
        if (rc)
            return rc;
    }
    return rc;
}

cJSON *k8s_merge_patch_apply(const cJSON *target, const cJSON *patch)
{
    if (!patch)
        return target ? cJSON_Duplicate(target, 1) : cJSON_CreateNull();
    if (!cJSON_IsObject(patch))
        return cJSON_Duplicate(patch, 1);
    cJSON *res = cJSON_IsObject(target) ? cJSON_Duplicate(target, 1) : cJSON_CreateObject();
    if (!res)
        return NULL;
    if (merge_into(res, patch) != 0) {
        cJSON_Delete(res);
        return NULL;
    }
    return res;
}

/* Adds to `patch` the members that turn object `from` into object `to`. */
static int merge_diff(cJSON *patch, const cJSON *from, const cJSON *to)
{
    int rc = 0;
    size_t nf, nt, i = 0, j = 0;
    struct member *mf = sorted_members(from, &nf);
    struct member *mt = sorted_members(to, &nt);
    if (!mf || !mt) {
        rc = K8S_ENOMEM;
        goto out;
    }
    /* A merge walk over both sorted member lists. Where a name repeats, the
     * first member wins, as it does for cJSON_GetObjectItem. */
    while (rc == 0 && (i < nf || j < nt)) {
        int c;
        if (i >= nf)
            c = 1;
        else if (j >= nt)
            c = -1;
        else
            c = strcmp(mf[i].item->string ? mf[i].item->string : "",
                       mt[j].item->string ? mt[j].item->string : "");
        const cJSON *f = c <= 0 ? mf[i].item : NULL;
        const cJSON *t = c >= 0 ? mt[j].item : NULL;
        const char *name = f ? (f->string ? f->string : "") : (t->string ? t->string : "");
        if (f && !t) {
            cJSON *nul = cJSON_CreateNull();
            rc = nul ? object_put(patch, name, nul) : K8S_ENOMEM;
        } else if (t && (!f || !k8s_json_equal(f, t))) {
            cJSON *v;
            if (f && cJSON_IsObject(f) && cJSON_IsObject(t)) {
                v = cJSON_CreateObject();
                rc = v ? merge_diff(v, f, t) : K8S_ENOMEM;
                if (rc) {
                    cJSON_Delete(v);
                    v = NULL;
                }
            } else {
                v = cJSON_Duplicate(t, 1);
                rc = v ? 0 : K8S_ENOMEM;
            }
            if (v)
                rc = object_put(patch, name, v);
        }
        /* Skip the current name, with any repeats, on the side(s) it came from. */
        if (f)
            for (i++; i < nf && same_key(mf[i].item, f); i++)
                ;
        if (t)
            for (j++; j < nt && same_key(mt[j].item, t); j++)
                ;
    }
out:
    free(mf);
    free(mt);
    return rc;
}

cJSON *k8s_merge_patch_create(const cJSON *from, const cJSON *to)
{
    if (!cJSON_IsObject(from) || !cJSON_IsObject(to))
        return to ? cJSON_Duplicate(to, 1) : cJSON_CreateNull();
    cJSON *patch = cJSON_CreateObject();
    if (!patch)
        return NULL;
    if (merge_diff(patch, from, to) != 0) {
        cJSON_Delete(patch);
        return NULL;
    }
    return patch;
}

/* ---------------------------------------------------------------------------
 * JSON patch (RFC 6902)
 */

struct patch_ctx {
    cJSON *root; /* the working copy; replaced by ops on "" */
    unsigned flags;
    size_t index; /* of the operation being applied */
    const char *op;
    const char *path;
    char *scratch;      /* room for the longest pointer of the patch */
    size_t copy_budget; /* JSON values "copy" may still create */
    struct k8s_error *err;
};

static int op_fail(struct patch_ctx *cx, int code, const char *what)
{
    int plen = (int)strlen(cx->path);
    const char *ell = "";
    if (plen > PATH_QUOTE_MAX) {
        plen = PATH_QUOTE_MAX;
        ell = "...";
    }
    return k8s_error_set(cx->err, code, "json patch operation %zu (%s) at %.*s%s: %s", cx->index,
                         cx->op, plen, cx->path, ell, what);
}

/*
 * The deepest depth inside `v`, which sits at depth `level` (the root is at
 * depth 0, a value inside n arrays or objects at depth n), and the number of
 * JSON values in it added to *count. Stops early once the depth exceeds
 * K8S_JSON_MAX_DEPTH or *count exceeds max_count, so the recursion is bounded.
 */
static size_t measure(const cJSON *v, size_t level, size_t *count, size_t max_count)
{
    size_t deepest = level;
    (*count)++;
    if (level > K8S_JSON_MAX_DEPTH)
        return level;
    for (const cJSON *c = v->child; c; c = c->next) {
        if (deepest > K8S_JSON_MAX_DEPTH || *count > max_count)
            break;
        size_t d = measure(c, level + 1, count, max_count);
        if (d > deepest)
            deepest = d;
    }
    return deepest;
}

static size_t pointer_depth(const char *ptr)
{
    size_t n = 0;
    for (; *ptr; ptr++)
        n += *ptr == '/';
    return n;
}

/* Resolves the parent of `path` (the op's path, or its from when `what` says
 * so) into *parent and unescapes the last token into cx->scratch. */
static int resolve_parent(struct patch_ctx *cx, const char *path, const char *what, cJSON **parent)
{
    char msg[128];
    const char *last = strrchr(path, '/');
    enum ptr_status st;
    *parent = NULL;
    if (!last || path[0] != '/') {
        snprintf(msg, sizeof(msg),
                 "%s is not a valid JSON pointer (it must be empty or start with /)", what);
        return op_fail(cx, K8S_EINVALID, msg);
    }
    int neg = (cx->flags & K8S_JSON_PATCH_APISERVER) != 0;
    *parent = ptr_get_n(cx->root, path, (size_t)(last - path), cx->scratch, neg, &st);
    if (st == PTR_SYNTAX || !ptr_token(last + 1, last + strlen(last), cx->scratch)) {
        *parent = NULL;
        snprintf(msg, sizeof(msg), "%s is not a valid JSON pointer (~ must be followed by 0 or 1)",
                 what);
        return op_fail(cx, K8S_EINVALID, msg);
    }
    if (!*parent) {
        snprintf(msg, sizeof(msg), "the parent of %s does not exist", what);
        return op_fail(cx, K8S_EINVALID, msg);
    }
    return 0;
}

/* Adds `value` (taken: freed on failure) at `path`. */
static int op_add(struct patch_ctx *cx, const char *path, cJSON *value)
{
    int rc = 0;
    cJSON *parent = NULL;
    size_t count = 0;
    if (measure(value, pointer_depth(path), &count, SIZE_MAX) > K8S_JSON_MAX_DEPTH) {
        rc = op_fail(cx, K8S_EINVALID, "the document would be nested too deeply");
        goto fail;
    }
    if (path[0] == '\0') {
        cJSON_Delete(cx->root);
        cx->root = value;
        return 0;
    }
    rc = resolve_parent(cx, path, "the path", &parent);
    if (rc)
        goto fail;
    if (cJSON_IsObject(parent)) {
        rc = object_put(parent, cx->scratch, value);
        if (rc)
            return op_fail(cx, rc, "out of memory");
        return 0;
    }
    if (cJSON_IsArray(parent)) {
        size_t size = array_size(parent), idx = size;
        int neg = (cx->flags & K8S_JSON_PATCH_APISERVER) != 0;
        if (strcmp(cx->scratch, "-") != 0 && ptr_index(cx->scratch, size + 1, neg, &idx) != 0) {
            rc = op_fail(cx, K8S_EINVALID, "array index is not a number in range");
            goto fail;
        }
        if (array_insert(parent, idx, value) != 0) {
            rc = op_fail(cx, K8S_ENOMEM, "out of memory");
            goto fail;
        }
        return 0;
    }
    rc = op_fail(cx, K8S_EINVALID, "the parent of the path is not an object or an array");
fail:
    cJSON_Delete(value);
    return rc;
}

/*
 * Finds the value at `path` and its parent (NULL for the root). The last
 * token stays in cx->scratch. *absent (if non-NULL) tells that the failure
 * was only the last member missing from an existing object.
 */
static int resolve_target(struct patch_ctx *cx, const char *path, const char *what, cJSON **parent,
                          cJSON **target, int *absent)
{
    *parent = NULL;
    if (absent)
        *absent = 0;
    if (path[0] == '\0') {
        *target = cx->root;
        return 0;
    }
    int rc = resolve_parent(cx, path, what, parent);
    if (rc)
        return rc;
    *target = NULL;
    if (cJSON_IsObject(*parent)) {
        *target = cJSON_GetObjectItemCaseSensitive(*parent, cx->scratch);
    } else if (cJSON_IsArray(*parent)) {
        size_t size = array_size(*parent), idx;
        int neg = (cx->flags & K8S_JSON_PATCH_APISERVER) != 0;
        if (ptr_index(cx->scratch, size, neg, &idx) == 0)
            *target = array_at(*parent, idx);
    }
    if (!*target) {
        if (absent)
            *absent = cJSON_IsObject(*parent);
        char msg[PATH_QUOTE_MAX + 64];
        snprintf(msg, sizeof(msg), "%s does not exist", what);
        return op_fail(cx, K8S_EINVALID, msg);
    }
    return 0;
}

static int op_remove(struct patch_ctx *cx)
{
    cJSON *parent, *target;
    if (cx->path[0] == '\0')
        return op_fail(cx, K8S_EINVALID, "the whole document cannot be removed");
    int rc = resolve_target(cx, cx->path, "the path", &parent, &target, NULL);
    if (rc)
        return rc;
    cJSON_Delete(cJSON_DetachItemViaPointer(parent, target));
    return 0;
}

static int op_replace(struct patch_ctx *cx, const cJSON *value)
{
    cJSON *parent, *target;
    int rc = resolve_target(cx, cx->path, "the path", &parent, &target, NULL);
    if (rc)
        return rc;
    size_t count = 0;
    if (measure(value, pointer_depth(cx->path), &count, SIZE_MAX) > K8S_JSON_MAX_DEPTH)
        return op_fail(cx, K8S_EINVALID, "the document would be nested too deeply");
    cJSON *dup = cJSON_Duplicate(value, 1);
    if (!dup)
        return op_fail(cx, K8S_ENOMEM, "out of memory");
    if (!parent) {
        cJSON_Delete(cx->root);
        cx->root = dup;
        return 0;
    }
    if (cJSON_IsObject(parent))
        return object_put(parent, cx->scratch, dup) ? op_fail(cx, K8S_ENOMEM, "out of memory") : 0;
    if (!cJSON_ReplaceItemViaPointer(parent, target, dup)) {
        cJSON_Delete(dup);
        return op_fail(cx, K8S_ENOMEM, "out of memory");
    }
    return 0;
}

static int op_move(struct patch_ctx *cx, const char *from)
{
    cJSON *parent, *target;
    int rc = resolve_target(cx, from, "the from location", &parent, &target, NULL);
    if (rc)
        return rc;
    if (strcmp(from, cx->path) == 0)
        return 0;
    size_t fl = strlen(from);
    if (strncmp(cx->path, from, fl) == 0 && cx->path[fl] == '/')
        return op_fail(cx, K8S_EINVALID, "a value cannot be moved into one of its own children");
    /* from is not "" here: "" is a prefix of every other path. */
    cJSON *v = cJSON_DetachItemViaPointer(parent, target);
    return op_add(cx, cx->path, v);
}

static int op_copy(struct patch_ctx *cx, const char *from)
{
    cJSON *parent, *target;
    int rc = resolve_target(cx, from, "the from location", &parent, &target, NULL);
    if (rc)
        return rc;
    size_t count = 0;
    measure(target, 0, &count, cx->copy_budget);
    if (count > cx->copy_budget)
        return op_fail(cx, K8S_EINVALID, "the patch copies too much (a copy-amplification limit)");
    cx->copy_budget -= count;
    cJSON *dup = cJSON_Duplicate(target, 1);
    if (!dup)
        return op_fail(cx, K8S_ENOMEM, "out of memory");
    return op_add(cx, cx->path, dup);
}

static int op_test(struct patch_ctx *cx, const cJSON *value)
{
    cJSON *parent, *target;
    int absent;
    int rc = resolve_target(cx, cx->path, "the path", &parent, &target, &absent);
    if (rc && absent && (cx->flags & K8S_JSON_PATCH_APISERVER) && cJSON_IsNull(value)) {
        /* The apiserver reads an absent member as null. */
        k8s_error_clear(cx->err);
        return 0;
    }
    if (rc)
        return rc;
    if (!k8s_json_equal(target, value))
        return op_fail(cx, K8S_EINVALID, "value does not match");
    return 0;
}

/* The member `name` of an operation; K8S_EINVALID when it is repeated (RFC
 * 6902 A.13: a second "op" makes the operation ambiguous). */
static int op_member(struct patch_ctx *cx, const cJSON *op, const char *name, const cJSON **out)
{
    *out = NULL;
    for (const cJSON *c = op->child; c; c = c->next) {
        if (!c->string || strcmp(c->string, name) != 0)
            continue;
        if (*out)
            return k8s_error_set(cx->err, K8S_EINVALID,
                                 "json patch operation %zu: more than one \"%s\" member", cx->index,
                                 name);
        *out = c;
    }
    return 0;
}

static int apply_one(struct patch_ctx *cx, const cJSON *op)
{
    const cJSON *jop, *jpath, *jfrom, *jvalue;
    int rc;
    cx->op = "?";
    cx->path = "?";
    if ((rc = op_member(cx, op, "op", &jop)) || (rc = op_member(cx, op, "path", &jpath)) ||
        (rc = op_member(cx, op, "from", &jfrom)) || (rc = op_member(cx, op, "value", &jvalue)))
        return rc;
    if (!cJSON_IsString(jop))
        return k8s_error_set(cx->err, K8S_EINVALID,
                             "json patch operation %zu: \"op\" is missing or not a string",
                             cx->index);
    static const char *const ops[] = {"add", "remove", "replace", "move", "copy", "test"};
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
        if (strcmp(jop->valuestring, ops[i]) == 0)
            cx->op = ops[i];
    if (!cJSON_IsString(jpath)) {
        return k8s_error_set(
            cx->err, K8S_EINVALID,
            "json patch operation %zu (%.32s): \"path\" is missing or not a string", cx->index,
            jop->valuestring);
    }
    cx->path = jpath->valuestring;
    if (strcmp(cx->op, "?") == 0) {
        int plen = (int)strlen(cx->path);
        return k8s_error_set(cx->err, K8S_EINVALID,
                             "json patch operation %zu (%.32s) at %.*s: unknown op (want add, "
                             "remove, replace, move, copy or test)",
                             cx->index, jop->valuestring,
                             plen > PATH_QUOTE_MAX ? PATH_QUOTE_MAX : plen, cx->path);
    }
    int needs_value =
        !strcmp(cx->op, "add") || !strcmp(cx->op, "replace") || !strcmp(cx->op, "test");
    int needs_from = !strcmp(cx->op, "move") || !strcmp(cx->op, "copy");
    if (needs_value && !jvalue)
        return op_fail(cx, K8S_EINVALID, "\"value\" is missing");
    if (needs_from && !cJSON_IsString(jfrom))
        return op_fail(cx, K8S_EINVALID, "\"from\" is missing or not a string");
    switch (cx->op[0]) {
    case 'a': {
        cJSON *dup = cJSON_Duplicate(jvalue, 1);
        if (!dup)
            return op_fail(cx, K8S_ENOMEM, "out of memory");
        return op_add(cx, cx->path, dup);
    }
    case 'r':
        return cx->op[2] == 'm' ? op_remove(cx) : op_replace(cx, jvalue);
    case 'm':
        return op_move(cx, jfrom->valuestring);
    case 'c':
        return op_copy(cx, jfrom->valuestring);
    default:
        return op_test(cx, jvalue);
    }
}

int k8s_json_patch_apply_flags(const cJSON *doc, const cJSON *patch, unsigned flags, cJSON **out,
                               struct k8s_error *err)
{
    int rc = 0;
    struct patch_ctx cx = {
        .flags = flags, .copy_budget = K8S_JSON_PATCH_MAX_COPY_NODES, .err = err};
    size_t longest = 0;
    const cJSON *op;

    if (out)
        *out = NULL;
    if (!doc || !out)
        return k8s_error_set(err, K8S_EARG, "json patch: no document or no output");
    if (!cJSON_IsArray(patch))
        return k8s_error_set(err, K8S_EBADREQUEST, "json patch: the patch is not a JSON array");
    cJSON_ArrayForEach(op, patch)
    {
        if (!cJSON_IsObject(op))
            return k8s_error_set(err, K8S_EBADREQUEST,
                                 "json patch operation %zu: not a JSON object", cx.index);
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(op, "path");
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(op, "from");
        if (cJSON_IsString(p) && strlen(p->valuestring) > longest)
            longest = strlen(p->valuestring);
        if (cJSON_IsString(f) && strlen(f->valuestring) > longest)
            longest = strlen(f->valuestring);
        cx.index++;
    }
    cx.scratch = malloc(longest + 1);
    cx.root = cJSON_Duplicate(doc, 1);
    if (!cx.scratch || !cx.root) {
        rc = k8s_error_set(err, K8S_ENOMEM, "json patch: out of memory");
        goto out;
    }
    cx.index = 0;
    cJSON_ArrayForEach(op, patch)
    {
        rc = apply_one(&cx, op);
        if (rc)
            goto out;
        cx.index++;
    }
    *out = cx.root;
    cx.root = NULL;
    k8s_error_clear(err);
out:
    cJSON_Delete(cx.root);
    free(cx.scratch);
    return rc;
}

int k8s_json_patch_apply(const cJSON *doc, const cJSON *patch, cJSON **out, struct k8s_error *err)
{
    return k8s_json_patch_apply_flags(doc, patch, 0, out, err);
}

int k8s_json_patch_add_op(cJSON *patch, const char *op, const char *path, const cJSON *value)
{
    int rc = 0;
    if (!cJSON_IsArray(patch) || !op || !path)
        return K8S_EARG;
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return K8S_ENOMEM;
    if (!cJSON_AddStringToObject(o, "op", op) || !cJSON_AddStringToObject(o, "path", path)) {
        rc = K8S_ENOMEM;
        goto out;
    }
    if (value) {
        cJSON *dup = cJSON_Duplicate(value, 1);
        if (!dup || !cJSON_AddItemToObject(o, "value", dup)) {
            cJSON_Delete(dup);
            rc = K8S_ENOMEM;
            goto out;
        }
    }
    if (!cJSON_AddItemToArray(patch, o)) {
        rc = K8S_ENOMEM;
        goto out;
    }
    o = NULL;
out:
    cJSON_Delete(o);
    return rc;
}

/* ---------------------------------------------------------------------------
 * Printing
 */

/* No patch or object we handle comes near this; it bounds a runaway print. */
#define PRINT_MAX ((size_t)1 << 30)

static int print_string(struct k8s_buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    int rc = k8s_buf_append(b, "\"", 1);
    const char *run = s;
    for (; rc == 0 && s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[7];
        size_t elen = 2;
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
        } else if (c < 0x20) {
            esc[0] = '\\';
            switch (c) {
            case '\b':
                esc[1] = 'b';
                break;
            case '\f':
                esc[1] = 'f';
                break;
            case '\n':
                esc[1] = 'n';
                break;
            case '\r':
                esc[1] = 'r';
                break;
            case '\t':
                esc[1] = 't';
                break;
            default:
                memcpy(esc, "\\u00", 4);
                esc[4] = hex[c >> 4];
                esc[5] = hex[c & 15];
                elen = 6;
            }
        } else {
            continue;
        }
        rc = k8s_buf_append(b, run, (size_t)(s - run));
        if (rc == 0)
            rc = k8s_buf_append(b, esc, elen);
        run = s + 1;
    }
    if (rc == 0 && s)
        rc = k8s_buf_append(b, run, (size_t)(s - run));
    if (rc == 0)
        rc = k8s_buf_append(b, "\"", 1);
    return rc;
}

static int print_number(struct k8s_buf *b, double d)
{
    char tmp[64];
    if (!isfinite(d))
        return k8s_buf_append(b, "null", 4);
    /* Integral values below 2^63 in magnitude convert to long long exactly
     * (the range check comes first: converting outside it is undefined). */
    if (d > -9223372036854775808.0 && d < 9223372036854775808.0 && (double)(long long)d == d) {
        snprintf(tmp, sizeof(tmp), "%lld", (long long)d);
    } else {
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
            if (strtod(tmp, NULL) == d)
                break;
        }
    }
    return k8s_buf_append(b, tmp, strlen(tmp));
}

static int print_value(struct k8s_buf *b, const cJSON *v)
{
    int rc = 0;
    switch (v->type & 0xFF) {
    case cJSON_False:
        return k8s_buf_append(b, "false", 5);
    case cJSON_True:
        return k8s_buf_append(b, "true", 4);
    case cJSON_NULL:
        return k8s_buf_append(b, "null", 4);
    case cJSON_Number:
        return print_number(b, v->valuedouble);
    case cJSON_String:
        return print_string(b, v->valuestring);
    case cJSON_Raw:
        if (!v->valuestring)
            return K8S_EARG;
        return k8s_buf_append(b, v->valuestring, strlen(v->valuestring));
    case cJSON_Array:
    case cJSON_Object: {
        int obj = (v->type & 0xFF) == cJSON_Object;
        rc = k8s_buf_append(b, obj ? "{" : "[", 1);
        for (const cJSON *c = v->child; rc == 0 && c; c = c->next) {
            if (c != v->child)
                rc = k8s_buf_append(b, ",", 1);
            if (rc == 0 && obj) {
                rc = print_string(b, c->string ? c->string : "");
                if (rc == 0)
                    rc = k8s_buf_append(b, ":", 1);
            }
            if (rc == 0)
                rc = print_value(b, c);
        }
        if (rc == 0)
            rc = k8s_buf_append(b, obj ? "}" : "]", 1);
        return rc;
    }
    default:
        return K8S_EARG;
    }
}

char *k8s_json_print(const cJSON *item, size_t *len)
{
    struct k8s_buf b;
    k8s_buf_init(&b, PRINT_MAX);
    if (!item || print_value(&b, item) != 0) {
        k8s_buf_free(&b);
        return NULL;
    }
    return k8s_buf_take(&b, len);
}
