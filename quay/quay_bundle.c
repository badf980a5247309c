/*
 * quay_bundle: config bundles and their typed edits (see quay_bundle.h).
 *
 * Internals: the map is a sorted array (bundles hold a handful of keys);
 * every YAML edit parses the file it touches, changes the model and emits it
 * again (quay_yaml verifies the output loads with the same types). Nothing
 * is cached between calls, so a bundle is always just bytes and the digest
 * never goes stale.
 */
#include "quay_bundle.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "k8s_buf.h"
#include "quay_drivers.h"

/* ---- the map ------------------------------------------------------------------ */

static int valid_key(const char *key)
{
    size_t n = key ? strlen(key) : 0;
    if (n == 0 || n > QUAY_BUNDLE_MAX_KEY)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = key[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return 0;
    }
    return strcmp(key, ".") != 0 && strcmp(key, "..") != 0;
}

struct quay_bundle *quay_bundle_new(enum quay_bundle_flavor flavor, const char *config_key)
{
    if (config_key && !valid_key(config_key))
        return NULL;
    struct quay_bundle *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    b->flavor = flavor;
    snprintf(b->config_key, sizeof(b->config_key), "%s",
             config_key ? config_key : QUAY_BUNDLE_CONFIG_KEY);
    return b;
}

void quay_bundle_free(struct quay_bundle *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->n; i++) {
        free(b->entries[i].key);
        free(b->entries[i].data);
    }
    free(b->entries);
    free(b);
}

/* Index of `key`, or -(insertion point) - 1. */
static long find(const struct quay_bundle *b, const char *key)
{
    size_t lo = 0, hi = b->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(b->entries[mid].key, key);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -(long)lo - 1;
}

int quay_bundle_put(struct quay_bundle *b, const char *key, const void *data, size_t len,
                    struct k8s_error *err)
{
    if (!valid_key(key))
        return k8s_error_set(err, K8S_EARG, "\"%s\" is not a valid Secret key", key ? key : "");
    long i = find(b, key);
    size_t old = i >= 0 ? strlen(key) + b->entries[i].len : 0;
    size_t add = strlen(key) + len;
    if (len > QUAY_BUNDLE_MAX_BYTES || b->bytes - old + add > QUAY_BUNDLE_MAX_BYTES)
        return k8s_error_set(err, K8S_ENOMEM,
                             "the bundle would hold more than %u bytes, the most a Kubernetes "
                             "Secret can (writing key %s)",
                             QUAY_BUNDLE_MAX_BYTES, key);
    unsigned char *copy = malloc(len + 1);
    if (!copy)
        return k8s_error_set(err, K8S_ENOMEM, "out of memory");
    if (len)
        memcpy(copy, data, len);
    copy[len] = '\0';
    if (i >= 0) {
        free(b->entries[i].data);
        b->entries[i].data = copy;
        b->entries[i].len = len;
        b->bytes = b->bytes - old + add;
        return 0;
    }
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 8;
        struct quay_bundle_entry *p = realloc(b->entries, cap * sizeof(*p));
        if (!p) {
            free(copy);
            return k8s_error_set(err, K8S_ENOMEM, "out of memory");
        }
        b->entries = p;
        b->cap = cap;
    }
    char *k = strdup(key);
    if (!k) {
        free(copy);
        return k8s_error_set(err, K8S_ENOMEM, "out of memory");
    }
    size_t at = (size_t)(-i - 1);
    memmove(&b->entries[at + 1], &b->entries[at], (b->n - at) * sizeof(b->entries[0]));
    b->entries[at] = (struct quay_bundle_entry){.key = k, .data = copy, .len = len};
    b->n++;
    b->bytes += add;
    return 0;
}

const unsigned char *quay_bundle_get(const struct quay_bundle *b, const char *key, size_t *len)
{
    long i = key ? find(b, key) : -1;
    if (i < 0)
        return NULL;
    if (len)
        *len = b->entries[i].len;
    return b->entries[i].data;
}

int quay_bundle_remove(struct quay_bundle *b, const char *key)
{
    long i = find(b, key);
    if (i < 0)
        return K8S_ENOTFOUND;
    b->bytes -= strlen(key) + b->entries[i].len;
    free(b->entries[i].key);
    free(b->entries[i].data);
    memmove(&b->entries[i], &b->entries[i + 1], (b->n - (size_t)i - 1) * sizeof(b->entries[0]));
    b->n--;
    return 0;
}

int quay_bundle_clone(const struct quay_bundle *b, struct quay_bundle **out)
{
    struct quay_bundle *c = quay_bundle_new(b->flavor, b->config_key);
    *out = NULL;
    if (!c)
        return K8S_ENOMEM;
    for (size_t i = 0; i < b->n; i++) {
        int rc = quay_bundle_put(c, b->entries[i].key, b->entries[i].data, b->entries[i].len, NULL);
        if (rc) {
            quay_bundle_free(c);
            return rc;
        }
    }
    *out = c;
    return 0;
}

int quay_bundle_equal(const struct quay_bundle *a, const struct quay_bundle *b)
{
    if (a->n != b->n)
        return 0;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->entries[i].key, b->entries[i].key) != 0 ||
            a->entries[i].len != b->entries[i].len ||
            memcmp(a->entries[i].data, b->entries[i].data, a->entries[i].len) != 0)
            return 0;
    return 1;
}

static void be64(unsigned char out[8], uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        out[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

void quay_bundle_sha256(const struct quay_bundle *b, unsigned char out[32])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char len[8];
    unsigned int outlen = 32;
    memset(out, 0, 32);
    if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL))
        goto out;
    for (size_t i = 0; i < b->n; i++) {
        size_t kl = strlen(b->entries[i].key);
        be64(len, kl);
        EVP_DigestUpdate(ctx, len, 8);
        EVP_DigestUpdate(ctx, b->entries[i].key, kl);
        be64(len, b->entries[i].len);
        EVP_DigestUpdate(ctx, len, 8);
        EVP_DigestUpdate(ctx, b->entries[i].data, b->entries[i].len);
    }
    EVP_DigestFinal_ex(ctx, out, &outlen);
out:
    EVP_MD_CTX_free(ctx);
}

void quay_bundle_sha256_hex(const struct quay_bundle *b, char out[65])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char d[32];
    quay_bundle_sha256(b, d);
    for (int i = 0; i < 32; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[64] = '\0';
}

int quay_bundle_from_secret_data(const cJSON *data, enum quay_bundle_flavor flavor,
                                 const char *config_key, struct quay_bundle **out,
                                 struct k8s_error *err)
{
    int rc = 0;
    unsigned char *buf = NULL;
    struct quay_bundle *b = quay_bundle_new(flavor, config_key);
    *out = NULL;
    if (!b)
        return k8s_error_set(err, K8S_ENOMEM, "out of memory");
    if (data && !cJSON_IsObject(data)) {
        rc = k8s_error_set(err, K8S_EDECODE, "Secret data is not an object");
        goto out;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, data)
    {
        const char *s = cJSON_GetStringValue(it);
        size_t n = s ? strlen(s) : 0;
        if (!s || n % 4 != 0 || n / 4 * 3 > QUAY_BUNDLE_MAX_BYTES) {
            rc = k8s_error_set(err, K8S_EDECODE, "Secret data key %s is not valid base64",
                               it->string ? it->string : "");
            goto out;
        }
        free(buf);
        buf = malloc(n / 4 * 3 + 1);
        if (!buf) {
            rc = k8s_error_set(err, K8S_ENOMEM, "out of memory");
            goto out;
        }
        int m = n ? EVP_DecodeBlock(buf, (const unsigned char *)s, (int)n) : 0;
        if (m < 0) {
            rc = k8s_error_set(err, K8S_EDECODE, "Secret data key %s is not valid base64",
                               it->string ? it->string : "");
            goto out;
        }
        /* EVP_DecodeBlock counts padding as zero bytes. */
        if (n && s[n - 1] == '=')
            m--;
        if (n > 1 && s[n - 2] == '=')
            m--;
        if ((rc = quay_bundle_put(b, it->string, buf, (size_t)m, err)))
            goto out;
    }
    *out = b;
    b = NULL;
out:
    free(buf);
    quay_bundle_free(b);
    return rc;
}

int quay_bundle_to_secret_data(const struct quay_bundle *b, cJSON **out, struct k8s_error *err)
{
    int rc = 0;
    char *enc = NULL;
    cJSON *obj = cJSON_CreateObject();
    *out = NULL;
    if (!obj)
        return k8s_error_set(err, K8S_ENOMEM, "out of memory");
    for (size_t i = 0; i < b->n; i++) {
        size_t need = (b->entries[i].len + 2) / 3 * 4 + 1;
        free(enc);
        enc = malloc(need);
        if (!enc) {
            rc = k8s_error_set(err, K8S_ENOMEM, "out of memory");
            goto out;
        }
        EVP_EncodeBlock((unsigned char *)enc, b->entries[i].data, (int)b->entries[i].len);
        if (!cJSON_AddStringToObject(obj, b->entries[i].key, enc)) {
            rc = k8s_error_set(err, K8S_ENOMEM, "out of memory");
            goto out;
        }
    }
    *out = obj;
    obj = NULL;
out:
    free(enc);
    cJSON_Delete(obj);
    return rc;
}

/* ---- YAML files in the bundle ----------------------------------------------------- */

int quay_bundle_is_partial(const struct quay_bundle *b, const char *key)
{
    return b->flavor == QUAY_BUNDLE_OPERATOR && strstr(key, ".config.yaml") != NULL &&
           strcmp(key, b->config_key) != 0;
}

/* Parses bundle key `key` as a mapping. A missing key gives an empty mapping
 * when `create`, K8S_ENOTFOUND otherwise. An empty file is an empty mapping. */
static int load_yaml(const struct quay_bundle *b, const char *key, int create,
                     struct quay_yaml_doc **out, struct k8s_error *err)
{
    int rc;
    size_t len;
    const unsigned char *data = quay_bundle_get(b, key, &len);
    struct quay_yaml_doc *doc = NULL;
    *out = NULL;
    if (!data) {
        if (!create)
            return k8s_error_set(err, K8S_ENOTFOUND, "the bundle has no key %s", key);
        doc = calloc(1, sizeof(*doc));
        if (!doc)
            return k8s_error_set(err, K8S_ENOMEM, "out of memory");
    } else if ((rc = quay_yaml_parse((const char *)data, len, key, &doc, err))) {
        return rc;
    }
    if (!doc->root) {
        doc->root = quay_yaml_map_new();
        if (!doc->root) {
            quay_yaml_doc_free(doc);
            return k8s_error_set(err, K8S_ENOMEM, "out of memory");
        }
    }
    if (doc->root->kind != QUAY_YAML_MAP) {
        rc = k8s_error_set(err, K8S_EINVALID, "%s: line %u: the top level must be a mapping", key,
                           doc->root->line);
        quay_yaml_doc_free(doc);
        return rc;
    }
    *out = doc;
    return 0;
}

static int store_yaml(struct quay_bundle *b, const char *key, const struct quay_yaml_doc *doc,
                      struct k8s_error *err)
{
    struct k8s_buf buf;
    k8s_buf_init(&buf, QUAY_BUNDLE_MAX_BYTES);
    int rc = quay_yaml_emit(doc, &buf, err);
    if (rc == 0)
        rc = quay_bundle_put(b, key, buf.data ? buf.data : "", buf.len, err);
    k8s_buf_free(&buf);
    return rc;
}

int quay_bundle_locate(const struct quay_bundle *b, const char *name, char *file, size_t cap,
                       struct k8s_error *err)
{
    int rc;
    const char *first = NULL;
    for (size_t i = 0; i < b->n; i++) {
        const char *key = b->entries[i].key;
        if (!quay_bundle_is_partial(b, key))
            continue;
        struct quay_yaml_doc *doc;
        if ((rc = load_yaml(b, key, 0, &doc, err)))
            return rc;
        int has = quay_yaml_map_get_key(doc->root, name) != NULL;
        quay_yaml_doc_free(doc);
        if (!has)
            continue;
        if (first)
            return k8s_error_set(err, K8S_ECONFLICT,
                                 "%s is defined in both %s and %s; the Quay Operator merges "
                                 "partial configs in no fixed order, so keep it in one of them",
                                 name, first, key);
        first = key;
    }
    if (first) {
        snprintf(file, cap, "%s", first);
        return 0;
    }
    snprintf(file, cap, "%s", b->config_key);
    if (quay_bundle_get(b, b->config_key, NULL)) {
        struct quay_yaml_doc *doc;
        if ((rc = load_yaml(b, b->config_key, 0, &doc, err)))
            return rc;
        int has = quay_yaml_map_get_key(doc->root, name) != NULL;
        quay_yaml_doc_free(doc);
        if (has)
            return 0;
    }
    return k8s_error_set(err, K8S_ENOTFOUND, "%s is not set", name);
}

int quay_bundle_config_get(const struct quay_bundle *b, const char *name,
                           struct quay_yaml_node **out, struct k8s_error *err)
{
    char file[QUAY_BUNDLE_MAX_KEY + 1];
    struct quay_yaml_doc *doc = NULL;
    *out = NULL;
    int rc = quay_bundle_locate(b, name, file, sizeof(file), err);
    if (rc)
        return rc;
    if ((rc = load_yaml(b, file, 0, &doc, err)))
        return rc;
    *out = quay_yaml_node_clone(quay_yaml_map_get(doc->root, name));
    quay_yaml_doc_free(doc);
    return *out ? 0 : k8s_error_set(err, K8S_ENOMEM, "out of memory");
}

/* Keeps the look of what is replaced: a collection keeps its flow/block
 * style, a quoted string stays quoted the same way. */
static void adopt_style(struct quay_yaml_node *neu, const struct quay_yaml_node *old)
{
    if (!old || old->kind != neu->kind)
        return;
    if (neu->kind != QUAY_YAML_SCALAR) {
        neu->style = old->style;
        return;
    }
    if (quay_yaml_scalar_type(old) == QUAY_YAML_T_STR &&
        quay_yaml_scalar_type(neu) == QUAY_YAML_T_STR && !neu->tag &&
        (old->style == QUAY_YAML_SINGLE || old->style == QUAY_YAML_DOUBLE) &&
        !memchr(neu->value, '\n', neu->len))
        neu->style = old->style;
}

int quay_bundle_config_set(struct quay_bundle *b, const char *name,
                           const struct quay_yaml_node *value, struct k8s_error *err)
{
    char file[QUAY_BUNDLE_MAX_KEY + 1];
    struct quay_yaml_doc *doc = NULL;
    struct quay_yaml_node *copy = NULL;
    int rc = quay_bundle_locate(b, name, file, sizeof(file), err);
    if (rc && rc != K8S_ENOTFOUND)
        return rc;
    if ((rc = load_yaml(b, file, 1, &doc, err)))
        return rc;
    const struct quay_yaml_node *cur = quay_yaml_map_get(doc->root, name);
    if (cur && quay_yaml_node_same_value(cur, value))
        goto out; /* nothing changes: keep every byte */
    copy = quay_yaml_node_clone(value);
    if (!copy) {
        rc = k8s_error_set(err, K8S_ENOMEM, "out of memory");
        goto out;
    }
    adopt_style(copy, cur);
    rc = quay_yaml_map_set_take(doc->root, name, copy);
    if (rc) {
        rc = k8s_error_set(err, rc, "out of memory");
        goto out;
    }
    rc = store_yaml(b, file, doc, err);
out:
    quay_yaml_doc_free(doc);
    return rc;
}

int quay_bundle_config_unset(struct quay_bundle *b, const char *name, struct k8s_error *err)
{
    int rc = 0;
    /* Collect the files first: storing changes the entry array. */
    char **files = calloc(b->n + 1, sizeof(*files));
    size_t nf = 0;
    if (!files)
        return k8s_error_set(err, K8S_ENOMEM, "out of memory");
    for (size_t i = 0; i < b->n; i++) {
        const char *key = b->entries[i].key;
        if (strcmp(key, b->config_key) == 0 || quay_bundle_is_partial(b, key))
            if (!(files[nf++] = strdup(key))) {
                rc = k8s_error_set(err, K8S_ENOMEM, "out of memory");
                goto out;
            }
    }
    for (size_t i = 0; i < nf; i++) {
        struct quay_yaml_doc *doc;
        if ((rc = load_yaml(b, files[i], 0, &doc, err)))
            goto out;
        if (quay_yaml_map_remove(doc->root, name) > 0)
            rc = store_yaml(b, files[i], doc, err);
        quay_yaml_doc_free(doc);
        if (rc)
            goto out;
    }
out:
    for (size_t i = 0; i < nf; i++)
        free(files[i]);
    free(files);
    return rc;
}

static const char *type_name(const struct quay_yaml_node *n)
{
    if (n->kind == QUAY_YAML_SEQ)
        return "a list";
    if (n->kind == QUAY_YAML_MAP)
        return "a mapping";
    switch (quay_yaml_scalar_type(n)) {
    case QUAY_YAML_T_STR:
        return "a string";
    case QUAY_YAML_T_BOOL:
        return "a boolean";
    case QUAY_YAML_T_INT:
        return "an integer";
    case QUAY_YAML_T_FLOAT:
        return "a number";
    case QUAY_YAML_T_NULL:
        return "null";
    default:
        return "another type";
    }
}

/* config_get, with an absent or null value reported as *present = 0. */
static int get_present(const struct quay_bundle *b, const char *name, struct quay_yaml_node **v,
                       int *present, struct k8s_error *err)
{
    int rc = quay_bundle_config_get(b, name, v, err);
    *present = 0;
    if (rc == K8S_ENOTFOUND) {
        k8s_error_clear(err);
        return 0;
    }
    if (rc)
        return rc;
    if (quay_yaml_scalar_type(*v) == QUAY_YAML_T_NULL) {
        quay_yaml_node_free(*v);
        *v = NULL;
        return 0;
    }
    *present = 1;
    return 0;
}

int quay_bundle_get_bool(const struct quay_bundle *b, const char *name, int *out, int *present,
                         struct k8s_error *err)
{
    struct quay_yaml_node *v = NULL;
    int rc = get_present(b, name, &v, present, err);
    if (rc == 0 && v && quay_yaml_get_bool(v, out) != 0)
        rc = k8s_error_set(err, K8S_EINVALID, "%s must be a boolean but is %s (line %u)", name,
                           type_name(v), v->line);
    quay_yaml_node_free(v);
    return rc;
}

int quay_bundle_set_bool(struct quay_bundle *b, const char *name, int v, struct k8s_error *err)
{
    struct quay_yaml_node *n = quay_yaml_bool_new(v);
    if (!n)
        return k8s_error_set(err, K8S_ENOMEM, "out of memory");
    int rc = quay_bundle_config_set(b, name, n, err);
    quay_yaml_node_free(n);
    return rc;
}

int quay_bundle_get_string(const struct quay_bundle *b, const char *name, char *out, size_t cap,
                           int *present, struct k8s_error *err)
{
    struct quay_yaml_node *v = NULL;
    int rc = get_present(b, name, &v, present, err);
    if (rc == 0 && v) {
        if (quay_yaml_scalar_type(v) != QUAY_YAML_T_STR)
            rc = k8s_error_set(err, K8S_EINVALID, "%s must be a string but is %s (line %u)", name,
                               type_name(v), v->line);
        else if (v->len >= cap || memchr(v->value, '\0', v->len))
            rc = k8s_error_set(err, K8S_EINVALID, "%s is longer than %zu bytes", name,
                               cap ? cap - 1 : 0);
        else
            memcpy(out, v->value, v->len + 1);
    }
    quay_yaml_node_free(v);
    return rc;
}

int quay_bundle_set_string(struct quay_bundle *b, const char *name, const char *v,
                           struct k8s_error *err)
{
    struct quay_yaml_node *n = quay_yaml_str_new(v);
    if (!n)
        return k8s_error_set(err, K8S_ENOMEM, "out of memory");
    int rc = quay_bundle_config_set(b, name, n, err);
    quay_yaml_node_free(n);
    return rc;
}

void quay_strv_free(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

/* Copies the string items of a sequence (or the keys of a mapping) into a
 * NULL-terminated array; refuses anything that is not a string. */
static int strings_of(const struct quay_yaml_node *n, int keys, const char *what, char ***out,
                      size_t *count, struct k8s_error *err)
{
    size_t step = keys ? 2 : 1, total = n ? n->nitems / step : 0;
    char **v = calloc(total + 1, sizeof(*v));
    *out = NULL;
    if (!v)
        return k8s_error_set(err, K8S_ENOMEM, "out of memory");
    for (size_t i = 0; i < total; i++) {
        const struct quay_yaml_node *it = n->items[i * step];
        if (quay_yaml_scalar_type(it) != QUAY_YAML_T_STR || memchr(it->value, '\0', it->len)) {
            quay_strv_free(v);
            return k8s_error_set(err, K8S_EINVALID, "%s: item %zu (line %u) is not a string", what,
                                 i + 1, it->line);
        }
        if (!(v[i] = strdup(it->value))) {
            quay_strv_free(v);
            return k8s_error_set(err, K8S_ENOMEM, "out of memory");
        }
    }
    *out = v;
    if (count)
        *count = total;
    return 0;
}

int quay_bundle_get_string_list(const struct quay_bundle *b, const char *name, char ***out,
                                size_t *n, int *present, struct k8s_error *err)
{
    struct quay_yaml_node *v = NULL;
    *out = NULL;
    int rc = get_present(b, name, &v, present, err);
    if (rc == 0) {
        if (v && v->kind != QUAY_YAML_SEQ)
            rc =
                k8s_error_set(err, K8S_EINVALID, "%s must be a list of strings but is %s (line %u)",
                              name, type_name(v), v->line);
        else
            rc = strings_of(v, 0, name, out, n, err);
    }
    quay_yaml_node_free(v);
    return rc;
}

int quay_bundle_set_string_list(struct quay_bundle *b, const char *name, const char *const *items,
                                size_t n, struct k8s_error *err)
{
    int rc = 0;
    struct quay_yaml_node *seq = quay_yaml_seq_new();
    for (size_t i = 0; seq && i < n && rc == 0; i++)
        rc = quay_yaml_seq_append_take(seq, quay_yaml_str_new(items[i]));
    if (!seq || rc)
        rc = k8s_error_set(err, K8S_ENOMEM, "out of memory");
    else
        rc = quay_bundle_config_set(b, name, seq, err);
    quay_yaml_node_free(seq);
    return rc;
}

/* ---- storage locations ------------------------------------------------------------------ */

void quay_location_free(struct quay_location *loc)
{
    if (!loc)
        return;
    free(loc->name);
    free(loc->driver);
    quay_yaml_node_free(loc->params);
    free(loc);
}

/* Loads the file defining DISTRIBUTED_STORAGE_CONFIG and returns the mapping
 * (owned by *doc). K8S_ENOTFOUND when it is not set anywhere. */
static int load_dsc(const struct quay_bundle *b, char *file, size_t cap, int create,
                    struct quay_yaml_doc **doc, struct quay_yaml_node **dsc, struct k8s_error *err)
{
    *doc = NULL;
    *dsc = NULL;
    int rc = quay_bundle_locate(b, QUAY_KEY_STORAGE_CONFIG, file, cap, err);
    if (rc && !(rc == K8S_ENOTFOUND && create))
        return rc;
    if ((rc = load_yaml(b, file, 1, doc, err)))
        return rc;
    struct quay_yaml_node *m = quay_yaml_map_get((*doc)->root, QUAY_KEY_STORAGE_CONFIG);
    if (!m || quay_yaml_scalar_type(m) == QUAY_YAML_T_NULL) {
        k8s_error_clear(err);
        if ((rc = quay_yaml_map_set_take((*doc)->root, QUAY_KEY_STORAGE_CONFIG,
                                         quay_yaml_map_new())))
            return k8s_error_set(err, rc, "out of memory");
        m = quay_yaml_map_get((*doc)->root, QUAY_KEY_STORAGE_CONFIG);
    }
    if (m->kind != QUAY_YAML_MAP)
        return k8s_error_set(err, K8S_EINVALID,
                             "%s: line %u: DISTRIBUTED_STORAGE_CONFIG must be a mapping of "
                             "location names to [driver, {parameters}]",
                             file, m->line);
    *dsc = m;
    return 0;
}

/* Checks `v` is [driver-string, {mapping}]. */
static int location_shape(const struct quay_yaml_node *v, const char *name, const char *file,
                          struct k8s_error *err)
{
    if (!v || v->kind != QUAY_YAML_SEQ || v->nitems != 2 ||
        quay_yaml_scalar_type(v->items[0]) != QUAY_YAML_T_STR || v->items[1]->kind != QUAY_YAML_MAP)
        return k8s_error_set(err, K8S_EINVALID,
                             "%s: line %u: storage location %s must be [driver, {parameters}]",
                             file, v ? v->line : 0, name);
    return 0;
}

int quay_bundle_list_locations(const struct quay_bundle *b, char ***names, size_t *n,
                               struct k8s_error *err)
{
    char file[QUAY_BUNDLE_MAX_KEY + 1];
    struct quay_yaml_doc *doc;
    struct quay_yaml_node *dsc;
    *names = NULL;
    int rc = load_dsc(b, file, sizeof(file), 0, &doc, &dsc, err);
    if (rc == 0)
        rc = strings_of(dsc, 1, QUAY_KEY_STORAGE_CONFIG, names, n, err);
    quay_yaml_doc_free(doc);
    return rc;
}

/* "a, b, c" of the location names, for messages. */
static void names_list(const struct quay_yaml_node *dsc, char *buf, size_t cap)
{
    size_t k = 0;
    buf[0] = '\0';
    for (size_t i = 0; i + 1 < dsc->nitems; i += 2) {
        const struct quay_yaml_node *key = dsc->items[i];
        if (quay_yaml_scalar_type(key) != QUAY_YAML_T_STR)
            continue;
        int w = snprintf(buf + k, cap - k, "%s%s", k ? ", " : "", key->value);
        if (w < 0 || (size_t)w >= cap - k)
            break;
        k += (size_t)w;
    }
    if (!k)
        snprintf(buf, cap, "(none)");
}

int quay_bundle_get_location(const struct quay_bundle *b, const char *name,
                             struct quay_location **out, struct k8s_error *err)
{
    char file[QUAY_BUNDLE_MAX_KEY + 1], names[512];
    struct quay_yaml_doc *doc = NULL;
    struct quay_yaml_node *dsc;
    struct quay_location *loc = NULL;
    *out = NULL;
    int rc = load_dsc(b, file, sizeof(file), 0, &doc, &dsc, err);
    if (rc)
        goto out;
    const struct quay_yaml_node *v = quay_yaml_map_get(dsc, name);
    if (!v) {
        names_list(dsc, names, sizeof(names));
        rc = k8s_error_set(err, K8S_ENOTFOUND,
                           "storage location %s is not in DISTRIBUTED_STORAGE_CONFIG (%s); the "
                           "locations are: %s",
                           name, file, names);
        goto out;
    }
    if ((rc = location_shape(v, name, file, err)))
        goto out;
    loc = calloc(1, sizeof(*loc));
    if (!loc || !(loc->name = strdup(name)) || !(loc->driver = strdup(v->items[0]->value)) ||
        !(loc->params = quay_yaml_node_clone(v->items[1]))) {
        rc = k8s_error_set(err, K8S_ENOMEM, "out of memory");
        goto out;
    }
    snprintf(loc->file, sizeof(loc->file), "%s", file);
    *out = loc;
    loc = NULL;
out:
    quay_location_free(loc);
    quay_yaml_doc_free(doc);
    return rc;
}

/* The mapping that holds storage_path for a driver (nested for MultiCDN). */
static struct quay_yaml_node *path_holder(const char *driver, struct quay_yaml_node *params)
{
    const struct quay_driver *d = quay_driver_find(driver);
    if (d && d->nested) {
        struct quay_yaml_node *inner = quay_yaml_map_get(params, d->nested);
        return inner && inner->kind == QUAY_YAML_MAP ? inner : NULL;
    }
    return params;
}

int quay_bundle_set_location(struct quay_bundle *b, const char *name, const char *driver,
                             const struct quay_yaml_node *params, unsigned flags,
                             struct k8s_error *err)
{
    char file[QUAY_BUNDLE_MAX_KEY + 1], names[512], field[300];
    struct quay_yaml_doc *doc = NULL;
    struct quay_yaml_node *dsc, *newp = NULL, *seq = NULL;
    int rc;
    if (!name || !*name)
        return k8s_error_set(err, K8S_EARG, "a storage location needs a name");
    if (!params || params->kind != QUAY_YAML_MAP)
        return k8s_error_set(err, K8S_EARG, "storage parameters must be a mapping");
    if ((rc = load_dsc(b, file, sizeof(file), (flags & QUAY_LOC_CREATE) != 0, &doc, &dsc, err)))
        goto out;
    const struct quay_yaml_node *old = quay_yaml_map_get(dsc, name);
    if (!old && !(flags & QUAY_LOC_CREATE)) {
        names_list(dsc, names, sizeof(names));
        rc = k8s_error_set(err, K8S_ENOTFOUND,
                           "storage location %s is not in DISTRIBUTED_STORAGE_CONFIG (%s); the "
                           "locations are: %s. Blobs are recorded by location name, so a "
                           "migration must keep an existing one",
                           name, file, names);
        goto out;
    }
    newp = quay_yaml_node_clone(params);
    if (!newp) {
        rc = k8s_error_set(err, K8S_ENOMEM, "out of memory");
        goto out;
    }
    newp->style = QUAY_YAML_BLOCK;
    /* Keep the old storage_path when the new parameters do not set one. */
    if (old && location_shape(old, name, file, NULL) == 0) {
        struct quay_yaml_node *to = path_holder(driver, newp);
        const struct quay_yaml_node *from = path_holder(old->items[0]->value, old->items[1]);
        const struct quay_yaml_node *sp = quay_yaml_map_get(from, "storage_path");
        if (to && sp && !quay_yaml_map_get(to, "storage_path")) {
            if ((rc = quay_yaml_map_set_take(to, "storage_path", quay_yaml_node_clone(sp)))) {
                rc = k8s_error_set(err, rc, "out of memory");
                goto out;
            }
        }
    }
    snprintf(field, sizeof(field), "%s.%s", QUAY_KEY_STORAGE_CONFIG, name);
    if ((rc = quay_driver_check_location(driver, newp, field, err)))
        goto out;
    seq = quay_yaml_seq_new();
    if (!seq) {
        rc = k8s_error_set(err, K8S_ENOMEM, "out of memory");
        goto out;
    }
    if (old && old->kind == QUAY_YAML_SEQ)
        seq->style = old->style;
    rc = quay_yaml_seq_append_take(seq, quay_yaml_str_new(driver));
    if (rc == 0) {
        rc = quay_yaml_seq_append_take(seq, newp);
        newp = NULL;
    }
    if (rc) {
        rc = k8s_error_set(err, rc, "out of memory");
        goto out;
    }
    if (old && quay_yaml_node_same_value(old, seq))
        goto out; /* nothing changes: keep every byte */
    rc = quay_yaml_map_set_take(dsc, name, seq);
    seq = NULL;
    if (rc) {
        rc = k8s_error_set(err, rc, "out of memory");
        goto out;
    }
    rc = store_yaml(b, file, doc, err);
out:
    quay_yaml_node_free(seq);
    quay_yaml_node_free(newp);
    quay_yaml_doc_free(doc);
    return rc;
}

/* ---- CA certificates ------------------------------------------------------------------ */

int quay_bundle_key_is_ca(const char *key)
{
    /* certs_install.sh: find $QUAYCONFIG -name "extra_ca*"; the operator's
     * routing prefix "extra_ca_cert_" is a special case of it. */
    return key && strncmp(key, "extra_ca", 8) == 0;
}

static size_t count_substr(const char *s, size_t n, const char *needle)
{
    size_t c = 0, l = strlen(needle);
    for (size_t i = 0; i + l <= n; i++)
        if (memcmp(s + i, needle, l) == 0) {
            c++;
            i += l - 1;
        }
    return c;
}

int quay_pem_check_certs(const void *pem, size_t len, size_t *ncerts, struct k8s_error *err)
{
    int rc = 0;
    size_t count = 0;
    BIO *bio = NULL;
    if (ncerts)
        *ncerts = 0;
    if (len == 0 || len > QUAY_BUNDLE_MAX_BYTES)
        return k8s_error_set(err, K8S_EINVALID, "the CA certificate is empty or too large");
    if (count_substr(pem, len, "PRIVATE KEY") > 0)
        return k8s_error_set(err, K8S_EINVALID,
                             "the CA data contains a private key; give only certificates");
    bio = BIO_new_mem_buf(pem, (int)len);
    if (!bio)
        return k8s_error_set(err, K8S_ENOMEM, "out of memory");
    for (;;) {
        X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (!x)
            break;
        X509_free(x);
        count++;
    }
    ERR_clear_error();
    size_t begins = count_substr(pem, len, "-----BEGIN ");
    if (count == 0)
        rc = k8s_error_set(err, K8S_EINVALID,
                           "the CA data holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
    else if (begins != count)
        rc = k8s_error_set(err, K8S_EINVALID,
                           "the CA data holds %zu PEM blocks but only %zu readable certificates; "
                           "every block must be a valid CERTIFICATE",
                           begins, count);
    BIO_free(bio);
    if (rc == 0 && ncerts)
        *ncerts = count;
    return rc;
}

int quay_bundle_put_ca(struct quay_bundle *b, const char *name, const void *pem, size_t len,
                       struct k8s_error *err)
{
    char key[QUAY_BUNDLE_MAX_KEY + 1];
    size_t nl = name ? strlen(name) : 0;
    int has_ext = nl > 4 && strcmp(name + nl - 4, ".crt") == 0;
    int w = snprintf(key, sizeof(key), "%s%s%s", QUAY_BUNDLE_CA_PREFIX, name ? name : "",
                     has_ext ? "" : ".crt");
    if (nl == 0 || w < 0 || (size_t)w >= sizeof(key) || !valid_key(key))
        return k8s_error_set(err, K8S_EARG,
                             "\"%s\" cannot name a CA: use letters, digits, '-', '_' and '.'",
                             name ? name : "");
    int rc = quay_pem_check_certs(pem, len, NULL, err);
    if (rc)
        return rc;
    return quay_bundle_put(b, key, pem, len, err);
}

int quay_bundle_rendered_name(const struct quay_bundle *b, const char *registry, char *out,
                              size_t cap, struct k8s_error *err)
{
    char hex[65];
    size_t n = registry ? strlen(registry) : 0;
    for (size_t i = 0; i < n; i++) {
        char c = registry[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'))
            n = 0;
    }
    if (n == 0 || n > 253 - 15)
        return k8s_error_set(err, K8S_EARG, "\"%s\" is not a usable registry name",
                             registry ? registry : "");
    quay_bundle_sha256_hex(b, hex);
    int w = snprintf(out, cap, "%s-qso-%.10s", registry, hex);
    if (w < 0 || (size_t)w >= cap)
        return k8s_error_set(err, K8S_EARG, "the output buffer is too small");
    return 0;
}
