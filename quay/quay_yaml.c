/*
 * quay_yaml: the YAML document model (see quay_yaml.h for the contract).
 *
 * Internals:
 *   - Parsing walks libyaml's event stream once, keeping a fixed-size stack of
 *     open collections (QUAY_YAML_MAX_DEPTH), so memory is linear in the input
 *     and deep nesting fails cleanly instead of recursing.
 *   - Type resolution copies PyYAML 6.0's implicit resolvers (resolver.py) as
 *     small hand-written matchers: no regex state to compile or keep.
 *   - Emitting replays the model as libyaml events; the output is parsed again
 *     and compared by value, which catches the one way the emitter could
 *     change a type: falling back from plain to quoted style.
 */
#include "quay_yaml.h"

#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#define TAG_PREFIX "tag:yaml.org,2002:"

/* ---- PyYAML's YAML 1.1 implicit resolvers ------------------------------------ */

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_hex(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int text_is(const char *s, size_t n, const char *lit)
{
    size_t l = strlen(lit);
    return n == l && memcmp(s, lit, l) == 0;
}

static int text_is_any(const char *s, size_t n, const char *const *lits)
{
    for (; *lits; lits++)
        if (text_is(s, n, *lits))
            return 1;
    return 0;
}

static const char *const bool_words[] = {"yes",  "Yes",  "YES",   "no",    "No",    "NO", "true",
                                         "True", "TRUE", "false", "False", "FALSE", "on", "On",
                                         "ON",   "off",  "Off",   "OFF",   NULL};
static const char *const null_words[] = {"~", "null", "Null", "NULL", NULL};

/* Skips [0-9_]* from i. */
static size_t skip_digits_us(const char *s, size_t n, size_t i)
{
    while (i < n && (is_digit(s[i]) || s[i] == '_'))
        i++;
    return i;
}

/*
 * One or more (":" [0-5]?[0-9]) groups starting at i; each group must be
 * followed by ':' , `stop` or the end. Returns the index after the last group,
 * or 0 when there is no group (a group never starts at index 0).
 */
static size_t sexagesimal_groups(const char *s, size_t n, size_t i, char stop)
{
    size_t start = i;
    while (i < n && s[i] == ':') {
        size_t j = i + 1;
        if (j + 1 < n && s[j] >= '0' && s[j] <= '5' && is_digit(s[j + 1]) &&
            (j + 2 == n || s[j + 2] == ':' || s[j + 2] == stop))
            i = j + 2;
        else if (j < n && is_digit(s[j]) && (j + 1 == n || s[j + 1] == ':' || s[j + 1] == stop))
            i = j + 1;
        else
            return 0;
    }
    return i > start ? i : 0;
}

static int match_int(const char *s, size_t n)
{
    size_t i = 0;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        i++;
    if (i >= n)
        return 0;
    const char *r = s + i;
    size_t m = n - i;
    if (m >= 3 && r[0] == '0' && r[1] == 'b') {
        for (size_t k = 2; k < m; k++)
            if (r[k] != '0' && r[k] != '1' && r[k] != '_')
                return 0;
        return 1;
    }
    if (m >= 3 && r[0] == '0' && r[1] == 'x') {
        for (size_t k = 2; k < m; k++)
            if (!is_hex(r[k]) && r[k] != '_')
                return 0;
        return 1;
    }
    if (r[0] == '0') {
        if (m == 1)
            return 1;
        for (size_t k = 1; k < m; k++)
            if (!((r[k] >= '0' && r[k] <= '7') || r[k] == '_'))
                return 0;
        return 1;
    }
    if (r[0] < '1' || r[0] > '9')
        return 0;
    size_t j = skip_digits_us(r, m, 1);
    if (j == m)
        return 1;
    return sexagesimal_groups(r, m, j, '\0') == m;
}

/* ([eE][-+][0-9]+)? to the end */
static int exponent_to_end(const char *s, size_t n, size_t i)
{
    if (i == n)
        return 1;
    if (s[i] != 'e' && s[i] != 'E')
        return 0;
    i++;
    if (i >= n || (s[i] != '+' && s[i] != '-'))
        return 0;
    i++;
    if (i >= n || !is_digit(s[i]))
        return 0;
    while (i < n && is_digit(s[i]))
        i++;
    return i == n;
}

static int match_float(const char *s, size_t n)
{
    static const char *const inf_words[] = {".inf", ".Inf", ".INF", NULL};
    static const char *const nan_words[] = {".nan", ".NaN", ".NAN", NULL};
    if (text_is_any(s, n, nan_words))
        return 1;
    size_t i = 0;
    if (n > 0 && (s[0] == '+' || s[0] == '-'))
        i = 1;
    if (text_is_any(s + i, n - i, inf_words))
        return 1;
    /* \.[0-9][0-9_]*(exp)?  -- no sign */
    if (n >= 2 && s[0] == '.' && is_digit(s[1]))
        return exponent_to_end(s, n, skip_digits_us(s, n, 2));
    if (i >= n || !is_digit(s[i]))
        return 0;
    size_t j = skip_digits_us(s, n, i + 1);
    /* [0-9][0-9_]*\.[0-9_]*(exp)? */
    if (j < n && s[j] == '.')
        return exponent_to_end(s, n, skip_digits_us(s, n, j + 1));
    /* [0-9][0-9_]*(:[0-5]?[0-9])+\.[0-9_]* */
    size_t k = sexagesimal_groups(s, n, j, '.');
    if (k == 0 || k >= n || s[k] != '.')
        return 0;
    return skip_digits_us(s, n, k + 1) == n;
}

/* [0-9]{digits_min..digits_max} from *i */
static int take_digits(const char *s, size_t n, size_t *i, int min, int max)
{
    int c = 0;
    while (*i < n && c < max && is_digit(s[*i])) {
        (*i)++;
        c++;
    }
    return c >= min;
}

static int match_timestamp(const char *s, size_t n)
{
    size_t i = 0;
    if (n == 10 && take_digits(s, n, &i, 4, 4) && s[4] == '-' && is_digit(s[5]) && is_digit(s[6]) &&
        s[7] == '-' && is_digit(s[8]) && is_digit(s[9]))
        return 1;
    i = 0;
    if (!take_digits(s, n, &i, 4, 4) || i >= n || s[i++] != '-')
        return 0;
    if (!take_digits(s, n, &i, 1, 2) || i >= n || s[i++] != '-')
        return 0;
    if (!take_digits(s, n, &i, 1, 2) || i >= n)
        return 0;
    if (s[i] == 'T' || s[i] == 't') {
        i++;
    } else if (s[i] == ' ' || s[i] == '\t') {
        while (i < n && (s[i] == ' ' || s[i] == '\t'))
            i++;
    } else {
        return 0;
    }
    if (!take_digits(s, n, &i, 1, 2) || i >= n || s[i++] != ':')
        return 0;
    if (!take_digits(s, n, &i, 2, 2) || i >= n || s[i++] != ':')
        return 0;
    if (!take_digits(s, n, &i, 2, 2))
        return 0;
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && is_digit(s[i]))
            i++;
    }
    if (i == n)
        return 1;
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    if (i < n && s[i] == 'Z')
        return i + 1 == n;
    if (i >= n || (s[i] != '+' && s[i] != '-'))
        return 0;
    i++;
    if (!take_digits(s, n, &i, 1, 2))
        return 0;
    if (i == n)
        return 1;
    if (s[i++] != ':')
        return 0;
    return take_digits(s, n, &i, 2, 2) && i == n;
}

enum quay_yaml_type quay_yaml_resolve_plain(const char *s, size_t len)
{
    /* Same order as PyYAML's registration: bool, float, int, merge, null,
     * timestamp, value. The matchers are disjoint, so order only documents. */
    if (text_is_any(s, len, bool_words))
        return QUAY_YAML_T_BOOL;
    if (match_float(s, len))
        return QUAY_YAML_T_FLOAT;
    if (match_int(s, len))
        return QUAY_YAML_T_INT;
    if (text_is(s, len, "<<"))
        return QUAY_YAML_T_MERGE;
    if (len == 0 || text_is_any(s, len, null_words))
        return QUAY_YAML_T_NULL;
    if (match_timestamp(s, len))
        return QUAY_YAML_T_TIMESTAMP;
    if (text_is(s, len, "="))
        return QUAY_YAML_T_VALUE;
    return QUAY_YAML_T_STR;
}

int quay_yaml_plain_is_safe_string(const char *s, size_t n)
{
    static const char *const extra_words[] = {"y", "Y", "n", "N", NULL};
    if (n == 0 || quay_yaml_resolve_plain(s, n) != QUAY_YAML_T_STR)
        return 0;
    /* go-yaml v2 and other YAML 1.1 loaders read y/n as bools. */
    if (text_is_any(s, n, extra_words))
        return 0;
    /* Anything that starts like a number may be one to some loader (YAML 1.2
     * reads 1e3, 0o17, 0128, -.5 as numbers); quoting it costs nothing. */
    if (is_digit(s[0]))
        return 0;
    if ((s[0] == '+' || s[0] == '-' || s[0] == '.') && n > 1 && (is_digit(s[1]) || s[1] == '.'))
        return 0;
    /* Plain-scalar syntax: stay well inside what every emitter and parser
     * accepts in both block and flow context. */
    if (strchr("-?:,[]{}#&*!|>'\"%@`", s[0]))
        return 0;
    if (s[0] == ' ' || s[n - 1] == ' ' || s[n - 1] == ':')
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c >= 0x7f || strchr(",[]{}", c))
            return 0;
        if (c == ':' && i + 1 < n && s[i + 1] == ' ')
            return 0;
        if (c == '#' && s[i - 1] == ' ')
            return 0;
    }
    return 1;
}

int quay_yaml_utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        size_t len;
        unsigned min, cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            len = 2, min = 0x80, cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3, min = 0x800, cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4, min = 0x10000, cp = c & 0x07;
        } else {
            return 0;
        }
        if (n - i < len)
            return 0;
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += len;
    }
    return 1;
}

/* ---- nodes ---------------------------------------------------------------------- */

static struct quay_yaml_node *node_alloc(enum quay_yaml_kind kind, enum quay_yaml_style style,
                                         const char *tag)
{
    struct quay_yaml_node *n = calloc(1, sizeof(*n));
    if (!n)
        return NULL;
    n->kind = kind;
    n->style = style;
    if (tag) {
        n->tag = strdup(tag);
        if (!n->tag) {
            free(n);
            return NULL;
        }
    }
    return n;
}

struct quay_yaml_node *quay_yaml_scalar_new(const char *value, size_t len,
                                            enum quay_yaml_style style, const char *tag)
{
    if (style > QUAY_YAML_FOLDED)
        return NULL;
    struct quay_yaml_node *n = node_alloc(QUAY_YAML_SCALAR, style, tag);
    if (!n)
        return NULL;
    n->value = malloc(len + 1);
    if (!n->value) {
        quay_yaml_node_free(n);
        return NULL;
    }
    if (len)
        memcpy(n->value, value, len);
    n->value[len] = '\0';
    n->len = len;
    return n;
}

struct quay_yaml_node *quay_yaml_strn_new(const char *s, size_t len)
{
    enum quay_yaml_style style =
        quay_yaml_plain_is_safe_string(s, len) ? QUAY_YAML_PLAIN : QUAY_YAML_DOUBLE;
    return quay_yaml_scalar_new(s, len, style, NULL);
}

struct quay_yaml_node *quay_yaml_str_new(const char *s)
{
    return quay_yaml_strn_new(s, strlen(s));
}

struct quay_yaml_node *quay_yaml_int_new(long long v)
{
    char buf[32];
    int k = snprintf(buf, sizeof(buf), "%lld", v);
    return quay_yaml_scalar_new(buf, (size_t)k, QUAY_YAML_PLAIN, NULL);
}

struct quay_yaml_node *quay_yaml_bool_new(int v)
{
    return v ? quay_yaml_scalar_new("true", 4, QUAY_YAML_PLAIN, NULL)
             : quay_yaml_scalar_new("false", 5, QUAY_YAML_PLAIN, NULL);
}

struct quay_yaml_node *quay_yaml_map_new(void)
{
    return node_alloc(QUAY_YAML_MAP, QUAY_YAML_BLOCK, NULL);
}

struct quay_yaml_node *quay_yaml_seq_new(void)
{
    return node_alloc(QUAY_YAML_SEQ, QUAY_YAML_BLOCK, NULL);
}

void quay_yaml_node_free(struct quay_yaml_node *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->nitems; i++)
        quay_yaml_node_free(n->items[i]);
    free(n->items);
    free(n->value);
    free(n->tag);
    free(n);
}

/* Appends one item, growing the array; takes `item` (frees it on failure). */
static int node_push(struct quay_yaml_node *c, struct quay_yaml_node *item)
{
    if (!item)
        return K8S_ENOMEM;
    if (c->nitems == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 8;
        struct quay_yaml_node **p = realloc(c->items, cap * sizeof(*p));
        if (!p) {
            quay_yaml_node_free(item);
            return K8S_ENOMEM;
        }
        c->items = p;
        c->cap = cap;
    }
    c->items[c->nitems++] = item;
    return 0;
}

static struct quay_yaml_node *clone_depth(const struct quay_yaml_node *n, int depth)
{
    if (!n || depth > QUAY_YAML_MAX_DEPTH * 4)
        return NULL;
    struct quay_yaml_node *c;
    if (n->kind == QUAY_YAML_SCALAR) {
        c = quay_yaml_scalar_new(n->value, n->len, n->style, n->tag);
    } else {
        c = node_alloc(n->kind, n->style, n->tag);
        for (size_t i = 0; c && i < n->nitems; i++) {
            if (node_push(c, clone_depth(n->items[i], depth + 1)) != 0) {
                quay_yaml_node_free(c);
                c = NULL;
            }
        }
    }
    if (c) {
        c->line = n->line;
        c->column = n->column;
    }
    return c;
}

struct quay_yaml_node *quay_yaml_node_clone(const struct quay_yaml_node *n)
{
    return clone_depth(n, 0);
}

void quay_yaml_doc_free(struct quay_yaml_doc *doc)
{
    if (!doc)
        return;
    quay_yaml_node_free(doc->root);
    free(doc);
}

int quay_yaml_doc_clone(const struct quay_yaml_doc *doc, struct quay_yaml_doc **out)
{
    *out = NULL;
    struct quay_yaml_doc *d = calloc(1, sizeof(*d));
    if (!d)
        return K8S_ENOMEM;
    d->explicit_start = doc->explicit_start;
    if (doc->root) {
        d->root = quay_yaml_node_clone(doc->root);
        if (!d->root) {
            free(d);
            return K8S_ENOMEM;
        }
    }
    *out = d;
    return 0;
}

/* ---- scalars -------------------------------------------------------------------- */

enum quay_yaml_type quay_yaml_scalar_type(const struct quay_yaml_node *n)
{
    if (!n || n->kind != QUAY_YAML_SCALAR)
        return QUAY_YAML_T_OTHER;
    if (n->tag) {
        static const struct {
            const char *suffix;
            enum quay_yaml_type type;
        } tags[] = {{"str", QUAY_YAML_T_STR},     {"int", QUAY_YAML_T_INT},
                    {"bool", QUAY_YAML_T_BOOL},   {"null", QUAY_YAML_T_NULL},
                    {"float", QUAY_YAML_T_FLOAT}, {"timestamp", QUAY_YAML_T_TIMESTAMP}};
        if (strcmp(n->tag, "!") == 0)
            return QUAY_YAML_T_STR; /* the non-specific tag: a string */
        size_t pl = strlen(TAG_PREFIX);
        if (strncmp(n->tag, TAG_PREFIX, pl) == 0)
            for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++)
                if (strcmp(n->tag + pl, tags[i].suffix) == 0)
                    return tags[i].type;
        return QUAY_YAML_T_OTHER;
    }
    if (n->style != QUAY_YAML_PLAIN)
        return QUAY_YAML_T_STR;
    return quay_yaml_resolve_plain(n->value, n->len);
}

int quay_yaml_is_str(const struct quay_yaml_node *n, const char *s)
{
    return n && quay_yaml_scalar_type(n) == QUAY_YAML_T_STR && text_is(n->value, n->len, s);
}

int quay_yaml_get_bool(const struct quay_yaml_node *n, int *out)
{
    static const char *const truthy[] = {"yes",  "Yes", "YES", "true", "True",
                                         "TRUE", "on",  "On",  "ON",   NULL};
    if (quay_yaml_scalar_type(n) != QUAY_YAML_T_BOOL || !text_is_any(n->value, n->len, bool_words))
        return K8S_EINVALID;
    *out = text_is_any(n->value, n->len, truthy);
    return 0;
}

int quay_yaml_get_int(const struct quay_yaml_node *n, long long *out)
{
    if (quay_yaml_scalar_type(n) != QUAY_YAML_T_INT || n->len == 0)
        return K8S_EINVALID;
    size_t i = 0;
    int neg = 0;
    if (n->value[0] == '+' || n->value[0] == '-') {
        neg = n->value[0] == '-';
        i = 1;
    }
    if (i >= n->len || (n->value[i] == '0' && n->len - i > 1))
        return K8S_EINVALID; /* octal, hex, binary: not ours to interpret */
    unsigned long long v = 0;
    int digits = 0;
    for (; i < n->len; i++) {
        char c = n->value[i];
        if (c == '_')
            continue;
        if (!is_digit(c))
            return K8S_EINVALID; /* sexagesimal */
        if (v > (ULLONG_MAX - 9) / 10)
            return K8S_EINVALID;
        v = v * 10 + (unsigned)(c - '0');
        digits++;
    }
    if (!digits || v > (unsigned long long)LLONG_MAX + (neg ? 1u : 0u))
        return K8S_EINVALID;
    *out =
        neg ? (v == (unsigned long long)LLONG_MAX + 1u ? LLONG_MIN : -(long long)v) : (long long)v;
    return 0;
}

/* ---- mappings and sequences -------------------------------------------------------- */

size_t quay_yaml_map_size(const struct quay_yaml_node *map)
{
    return map && map->kind == QUAY_YAML_MAP ? map->nitems / 2 : 0;
}

static long map_find_last(const struct quay_yaml_node *map, const char *key)
{
    if (!map || map->kind != QUAY_YAML_MAP)
        return -1;
    for (size_t i = map->nitems / 2; i-- > 0;)
        if (quay_yaml_is_str(map->items[2 * i], key))
            return (long)i;
    return -1;
}

struct quay_yaml_node *quay_yaml_map_get(const struct quay_yaml_node *map, const char *key)
{
    long i = map_find_last(map, key);
    return i < 0 ? NULL : map->items[2 * i + 1];
}

struct quay_yaml_node *quay_yaml_map_get_key(const struct quay_yaml_node *map, const char *key)
{
    long i = map_find_last(map, key);
    return i < 0 ? NULL : map->items[2 * i];
}

int quay_yaml_map_set_take(struct quay_yaml_node *map, const char *key,
                           struct quay_yaml_node *value)
{
    if (!value)
        return K8S_ENOMEM;
    if (!map || map->kind != QUAY_YAML_MAP) {
        quay_yaml_node_free(value);
        return K8S_EARG;
    }
    long i = map_find_last(map, key);
    if (i >= 0) {
        quay_yaml_node_free(map->items[2 * i + 1]);
        map->items[2 * i + 1] = value;
        return 0;
    }
    struct quay_yaml_node *k = quay_yaml_str_new(key);
    if (!k) {
        quay_yaml_node_free(value);
        return K8S_ENOMEM;
    }
    /* Reserve both slots first so a failure cannot leave half a pair. */
    int rc = node_push(map, k);
    if (rc == 0) {
        rc = node_push(map, value);
        if (rc != 0) {
            map->nitems--;
            quay_yaml_node_free(k);
        }
    } else {
        quay_yaml_node_free(value);
    }
    return rc;
}

size_t quay_yaml_map_remove(struct quay_yaml_node *map, const char *key)
{
    if (!map || map->kind != QUAY_YAML_MAP)
        return 0;
    size_t w = 0, removed = 0;
    for (size_t r = 0; r + 1 < map->nitems; r += 2) {
        if (quay_yaml_is_str(map->items[r], key)) {
            quay_yaml_node_free(map->items[r]);
            quay_yaml_node_free(map->items[r + 1]);
            removed++;
            continue;
        }
        map->items[w++] = map->items[r];
        map->items[w++] = map->items[r + 1];
    }
    map->nitems = w;
    return removed;
}

int quay_yaml_seq_append_take(struct quay_yaml_node *seq, struct quay_yaml_node *item)
{
    if (!item)
        return K8S_ENOMEM;
    if (!seq || seq->kind != QUAY_YAML_SEQ) {
        quay_yaml_node_free(item);
        return K8S_EARG;
    }
    return node_push(seq, item);
}

/* ---- comparison ---------------------------------------------------------------------- */

static int str_eq_null(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

int quay_yaml_node_equal(const struct quay_yaml_node *a, const struct quay_yaml_node *b)
{
    if (!a || !b)
        return a == b;
    if (a->kind != b->kind || !str_eq_null(a->tag, b->tag))
        return 0;
    if (a->kind == QUAY_YAML_SCALAR)
        return a->style == b->style && a->len == b->len && memcmp(a->value, b->value, a->len) == 0;
    if (a->nitems != b->nitems || (a->nitems && a->style != b->style))
        return 0;
    for (size_t i = 0; i < a->nitems; i++)
        if (!quay_yaml_node_equal(a->items[i], b->items[i]))
            return 0;
    return 1;
}

int quay_yaml_node_same_value(const struct quay_yaml_node *a, const struct quay_yaml_node *b)
{
    if (!a || !b)
        return a == b;
    if (a->kind != b->kind)
        return 0;
    if (a->kind == QUAY_YAML_SCALAR) {
        enum quay_yaml_type ta = quay_yaml_scalar_type(a), tb = quay_yaml_scalar_type(b);
        if (ta != tb)
            return 0;
        if (ta == QUAY_YAML_T_NULL)
            return 1;
        if (ta == QUAY_YAML_T_BOOL) {
            int va, vb;
            return quay_yaml_get_bool(a, &va) == 0 && quay_yaml_get_bool(b, &vb) == 0 && va == vb;
        }
        if (ta == QUAY_YAML_T_OTHER && !str_eq_null(a->tag, b->tag))
            return 0;
        return a->len == b->len && memcmp(a->value, b->value, a->len) == 0;
    }
    if (a->nitems != b->nitems || !str_eq_null(a->tag, b->tag))
        return 0;
    for (size_t i = 0; i < a->nitems; i++)
        if (!quay_yaml_node_same_value(a->items[i], b->items[i]))
            return 0;
    return 1;
}

/* ---- parsing ---------------------------------------------------------------------- */

struct parse_ctx {
    const char *what;
    struct k8s_error *err;
    struct quay_yaml_doc *doc;
    struct quay_yaml_node *stack[QUAY_YAML_MAX_DEPTH];
    size_t depth;
    int documents;
};

static int perr(struct parse_ctx *c, yaml_mark_t mark, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int perr(struct parse_ctx *c, yaml_mark_t mark, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return k8s_error_set(c->err, K8S_EDECODE, "%s: line %zu, column %zu: %s",
                         c->what ? c->what : "YAML", (size_t)mark.line + 1, (size_t)mark.column + 1,
                         msg);
}

/* Adds a finished or just-opened node to the current collection (or as the
 * root). Takes `n`. */
static int attach(struct parse_ctx *c, struct quay_yaml_node *n, yaml_mark_t mark)
{
    if (!n)
        return k8s_error_set(c->err, K8S_ENOMEM, "out of memory parsing %s",
                             c->what ? c->what : "YAML");
    n->line = (unsigned)mark.line + 1;
    n->column = (unsigned)mark.column + 1;
    if (c->depth == 0) {
        c->doc->root = n;
        return 0;
    }
    struct quay_yaml_node *parent = c->stack[c->depth - 1];
    /* A plain "<<" in key position is PyYAML's merge key: refuse, like
     * aliases, rather than carry a key whose meaning we do not model. */
    if (parent->kind == QUAY_YAML_MAP && parent->nitems % 2 == 0 &&
        quay_yaml_scalar_type(n) == QUAY_YAML_T_MERGE) {
        quay_yaml_node_free(n);
        return perr(c, mark, "merge keys (<<) are not supported; write the keys out");
    }
    if (node_push(parent, n) != 0)
        return k8s_error_set(c->err, K8S_ENOMEM, "out of memory parsing %s",
                             c->what ? c->what : "YAML");
    return 0;
}

static enum quay_yaml_style scalar_style_from(yaml_scalar_style_t s)
{
    switch (s) {
    case YAML_SINGLE_QUOTED_SCALAR_STYLE:
        return QUAY_YAML_SINGLE;
    case YAML_DOUBLE_QUOTED_SCALAR_STYLE:
        return QUAY_YAML_DOUBLE;
    case YAML_LITERAL_SCALAR_STYLE:
        return QUAY_YAML_LITERAL;
    case YAML_FOLDED_SCALAR_STYLE:
        return QUAY_YAML_FOLDED;
    default:
        return QUAY_YAML_PLAIN;
    }
}

static int on_event(struct parse_ctx *c, yaml_event_t *ev, int *done)
{
    switch (ev->type) {
    case YAML_STREAM_START_EVENT:
    case YAML_DOCUMENT_END_EVENT:
        return 0;
    case YAML_STREAM_END_EVENT:
        *done = 1;
        return 0;
    case YAML_DOCUMENT_START_EVENT:
        if (c->documents++ > 0)
            return perr(c, ev->start_mark,
                        "a second document starts here; exactly one document is allowed");
        if (ev->data.document_start.version_directive ||
            ev->data.document_start.tag_directives.start !=
                ev->data.document_start.tag_directives.end)
            return perr(c, ev->start_mark, "%%YAML and %%TAG directives are not supported");
        c->doc->explicit_start = !ev->data.document_start.implicit;
        return 0;
    case YAML_ALIAS_EVENT:
        return perr(c, ev->start_mark,
                    "an alias (*%s) is not supported; write the value out in full",
                    (const char *)ev->data.alias.anchor);
    case YAML_SCALAR_EVENT: {
        if (ev->data.scalar.anchor)
            return perr(c, ev->start_mark, "an anchor (&%s) is not supported",
                        (const char *)ev->data.scalar.anchor);
        struct quay_yaml_node *n = quay_yaml_scalar_new(
            (const char *)ev->data.scalar.value, ev->data.scalar.length,
            scalar_style_from(ev->data.scalar.style), (const char *)ev->data.scalar.tag);
        return attach(c, n, ev->start_mark);
    }
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
        int seq = ev->type == YAML_SEQUENCE_START_EVENT;
        const yaml_char_t *anchor =
            seq ? ev->data.sequence_start.anchor : ev->data.mapping_start.anchor;
        const yaml_char_t *tag = seq ? ev->data.sequence_start.tag : ev->data.mapping_start.tag;
        int flow = seq ? ev->data.sequence_start.style == YAML_FLOW_SEQUENCE_STYLE
                       : ev->data.mapping_start.style == YAML_FLOW_MAPPING_STYLE;
        if (anchor)
            return perr(c, ev->start_mark, "an anchor (&%s) is not supported",
                        (const char *)anchor);
        if (c->depth >= QUAY_YAML_MAX_DEPTH)
            return perr(c, ev->start_mark, "nesting is deeper than the limit of %d levels",
                        QUAY_YAML_MAX_DEPTH);
        struct quay_yaml_node *n =
            node_alloc(seq ? QUAY_YAML_SEQ : QUAY_YAML_MAP, flow ? QUAY_YAML_FLOW : QUAY_YAML_BLOCK,
                       (const char *)tag);
        int rc = attach(c, n, ev->start_mark);
        if (rc)
            return rc;
        c->stack[c->depth++] = n;
        return 0;
    }
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        if (c->depth > 0)
            c->depth--;
        return 0;
    default:
        return 0;
    }
}

int quay_yaml_parse(const char *buf, size_t len, const char *what, struct quay_yaml_doc **out,
                    struct k8s_error *err)
{
    int rc = 0;
    yaml_parser_t parser;
    int parser_ready = 0;
    struct parse_ctx c;
    memset(&c, 0, sizeof(c));
    c.what = what;
    c.err = err;
    *out = NULL;

    if (len > QUAY_YAML_MAX_INPUT) {
        rc = k8s_error_set(err, K8S_EDECODE, "%s is %zu bytes; the limit is %u bytes",
                           what ? what : "YAML input", len, QUAY_YAML_MAX_INPUT);
        goto out;
    }
    c.doc = calloc(1, sizeof(*c.doc));
    if (!c.doc || !yaml_parser_initialize(&parser)) {
        rc = k8s_error_set(err, K8S_ENOMEM, "out of memory parsing %s", what ? what : "YAML");
        goto out;
    }
    parser_ready = 1;
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);

    int done = 0;
    while (!done) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            if (parser.error == YAML_MEMORY_ERROR)
                rc = k8s_error_set(err, K8S_ENOMEM, "out of memory parsing %s",
                                   what ? what : "YAML");
            else
                rc = perr(&c, parser.problem_mark, "%s",
                          parser.problem ? parser.problem : "syntax error");
            goto out;
        }
        rc = on_event(&c, &ev, &done);
        yaml_event_delete(&ev);
        if (rc)
            goto out;
    }
    *out = c.doc;
    c.doc = NULL;
out:
    if (parser_ready)
        yaml_parser_delete(&parser);
    quay_yaml_doc_free(c.doc);
    return rc;
}

/* ---- emitting -------------------------------------------------------------------------- */

static int write_handler(void *data, unsigned char *buffer, size_t size)
{
    return k8s_buf_append(data, buffer, size) == 0;
}

static yaml_scalar_style_t scalar_style_to(enum quay_yaml_style s)
{
    switch (s) {
    case QUAY_YAML_SINGLE:
        return YAML_SINGLE_QUOTED_SCALAR_STYLE;
    case QUAY_YAML_DOUBLE:
        return YAML_DOUBLE_QUOTED_SCALAR_STYLE;
    case QUAY_YAML_LITERAL:
        return YAML_LITERAL_SCALAR_STYLE;
    case QUAY_YAML_FOLDED:
        return YAML_FOLDED_SCALAR_STYLE;
    default:
        return YAML_PLAIN_SCALAR_STYLE;
    }
}

static int emit_event(yaml_emitter_t *em, yaml_event_t *ev, int init_ok, struct k8s_error *err)
{
    if (!init_ok)
        return k8s_error_set(err, K8S_ENOMEM, "out of memory emitting YAML");
    if (!yaml_emitter_emit(em, ev)) /* the emitter owns (and frees) the event */
        return k8s_error_set(err, em->error == YAML_MEMORY_ERROR ? K8S_ENOMEM : K8S_EINTERNAL,
                             "YAML emitter: %s", em->problem ? em->problem : "write failed");
    return 0;
}

/* `flow`: inside a flow collection; `key`: a mapping key. libyaml cannot
 * write an empty plain scalar there and would quote it, turning a null into
 * the string "": such nulls are written as "~", the same value. */
static int emit_node(yaml_emitter_t *em, const struct quay_yaml_node *n, int depth, int flow,
                     int key, struct k8s_error *err)
{
    yaml_event_t ev;
    int rc;
    if (depth > QUAY_YAML_MAX_DEPTH)
        return k8s_error_set(err, K8S_EARG, "document nesting is deeper than %d levels",
                             QUAY_YAML_MAX_DEPTH);
    yaml_char_t *tag = (yaml_char_t *)n->tag;
    int implicit = n->tag == NULL;
    if (n->kind == QUAY_YAML_SCALAR) {
        if (n->len > INT_MAX)
            return k8s_error_set(err, K8S_EARG, "a scalar is too long to emit");
        /* libyaml refuses invalid UTF-8 with a bare failure; say what it is. */
        if (!quay_yaml_utf8_valid(n->value, n->len))
            return k8s_error_set(err, K8S_EINVALID, "a value to write is not valid UTF-8 text");
        int null_here = (flow || key) && implicit && n->style == QUAY_YAML_PLAIN && n->len == 0;
        int ok = yaml_scalar_event_initialize(
            &ev, NULL, tag, (yaml_char_t *)(null_here ? "~" : n->value),
            null_here ? 1 : (int)n->len, implicit, implicit, scalar_style_to(n->style));
        return emit_event(em, &ev, ok, err);
    }
    int ok;
    if (n->kind == QUAY_YAML_SEQ)
        ok = yaml_sequence_start_event_initialize(
            &ev, NULL, tag, implicit,
            n->style == QUAY_YAML_FLOW ? YAML_FLOW_SEQUENCE_STYLE : YAML_BLOCK_SEQUENCE_STYLE);
    else
        ok = yaml_mapping_start_event_initialize(
            &ev, NULL, tag, implicit,
            n->style == QUAY_YAML_FLOW ? YAML_FLOW_MAPPING_STYLE : YAML_BLOCK_MAPPING_STYLE);
    if ((rc = emit_event(em, &ev, ok, err)))
        return rc;
    int inner_flow = flow || n->style == QUAY_YAML_FLOW;
    for (size_t i = 0; i < n->nitems; i++)
        if ((rc = emit_node(em, n->items[i], depth + 1, inner_flow,
                            n->kind == QUAY_YAML_MAP && i % 2 == 0, err)))
            return rc;
    ok = n->kind == QUAY_YAML_SEQ ? yaml_sequence_end_event_initialize(&ev)
                                  : yaml_mapping_end_event_initialize(&ev);
    return emit_event(em, &ev, ok, err);
}

static int emit_raw(const struct quay_yaml_doc *doc, struct k8s_buf *out, struct k8s_error *err)
{
    int rc = 0;
    yaml_emitter_t em;
    yaml_event_t ev;
    if (!yaml_emitter_initialize(&em))
        return k8s_error_set(err, K8S_ENOMEM, "out of memory emitting YAML");
    yaml_emitter_set_output(&em, write_handler, out);
    yaml_emitter_set_unicode(&em, 1);
    yaml_emitter_set_indent(&em, 2);
    yaml_emitter_set_width(&em, -1);
    yaml_emitter_set_break(&em, YAML_LN_BREAK);

    if ((rc = emit_event(&em, &ev, yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING),
                         err)))
        goto out;
    if (doc->root) {
        if ((rc = emit_event(
                 &em, &ev,
                 yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, !doc->explicit_start),
                 err)))
            goto out;
        if ((rc = emit_node(&em, doc->root, 0, 0, 1, err)))
            goto out;
        if ((rc = emit_event(&em, &ev, yaml_document_end_event_initialize(&ev, 1), err)))
            goto out;
    }
    if ((rc = emit_event(&em, &ev, yaml_stream_end_event_initialize(&ev), err)))
        goto out;
    if (!yaml_emitter_flush(&em))
        rc = k8s_error_set(err, K8S_ENOMEM, "YAML output exceeds its limit");
out:
    yaml_emitter_delete(&em);
    return rc;
}

int quay_yaml_emit(const struct quay_yaml_doc *doc, struct k8s_buf *out, struct k8s_error *err)
{
    int rc;
    struct k8s_buf tmp;
    struct quay_yaml_doc *again = NULL;
    k8s_buf_init(&tmp, out->max < QUAY_YAML_MAX_OUTPUT ? out->max : QUAY_YAML_MAX_OUTPUT);

    if ((rc = emit_raw(doc, &tmp, err)))
        goto out;
    /* The check that makes "types of untouched keys are kept" a guarantee
     * rather than a hope: the bytes must load as the same values. */
    if ((rc = quay_yaml_parse(tmp.data ? tmp.data : "", tmp.len, "emitted YAML", &again, err))) {
        char why[sizeof(err->message)];
        snprintf(why, sizeof(why), "%s", err ? err->message : "");
        rc = k8s_error_set(err, K8S_EINTERNAL, "emitted YAML does not parse again: %s", why);
        goto out;
    }
    if (!quay_yaml_node_same_value(doc->root, again->root)) {
        rc = k8s_error_set(err, K8S_EINTERNAL,
                           "emitted YAML would not load with the same values and types; "
                           "refusing to write it");
        goto out;
    }
    if ((rc = k8s_buf_append(out, tmp.data ? tmp.data : "", tmp.len))) {
        rc = k8s_error_set(err, rc, "YAML output exceeds its limit");
        goto out;
    }
out:
    quay_yaml_doc_free(again);
    k8s_buf_free(&tmp);
    return rc;
}
