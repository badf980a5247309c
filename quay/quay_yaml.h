/*
 * quay_yaml: a YAML document model for Quay's config.yaml, built on libyaml's
 * event parser and emitter.
 *
 * Why a model of our own: Quay loads config.yaml with PyYAML's safe_load (a
 * YAML 1.1 resolver), and the Quay Operator re-reads it with a Go YAML
 * library. Every key we do not touch must come back with the type those
 * loaders gave it before: `port: "443"` stays a string, `port: 443` stays an
 * int, `FEATURE_X: yes` stays a bool. So the model keeps, for every node:
 *   - mapping key order and sequence order, exactly as written;
 *   - the scalar's text and its style (plain, 'single', "double", |literal,
 *     >folded) — the style decides the type of a plain scalar, and a quoted
 *     one is always a string;
 *   - an explicit tag (`!!str 443`) when there was one;
 *   - block or flow style of collections.
 * The emitter writes those back, so parse -> emit -> parse gives the same
 * model, and emit is deterministic (same model, same bytes).
 *
 * What it does not keep (documented limits):
 *   - COMMENTS. libyaml's parser drops them; a document we re-emit loses its
 *     comments and its original indentation/line layout. (quay_bundle only
 *     re-emits a file it actually changed; untouched files keep their bytes.)
 *   - Anchors and aliases (&a / *a) and merge keys (<<) are REFUSED with an
 *     error naming the line: an edit through an alias would silently change
 *     two places, and expanding them would change what a person sees.
 *   - %YAML/%TAG directives and multi-document streams are refused (Quay
 *     loads exactly one document).
 *
 * New strings we create are quoted whenever any YAML 1.1 or 1.2 loader could
 * read the plain text as something else (bool, null, int, float, timestamp:
 * `on`, `no`, `y`, `~`, `0123`, `0x1F`, `1_000`, `1e3`, `.inf`, `12:30`,
 * `2024-01-01`...); ints and bools are written plain.
 *
 * Bounds: input at most QUAY_YAML_MAX_INPUT bytes and QUAY_YAML_MAX_DEPTH
 * levels of nesting. Errors are K8S_EDECODE with "line L, column C: ..." (1-
 * based); messages never quote scalar values (they may be secrets), only the
 * position and, for mapping keys, the key name.
 */
#ifndef QSO_QUAY_YAML_H
#define QSO_QUAY_YAML_H

#include <stddef.h>

#include "k8s_buf.h"
#include "k8s_error.h"

#define QUAY_YAML_MAX_INPUT  (4u * 1024u * 1024u)
#define QUAY_YAML_MAX_DEPTH  64
#define QUAY_YAML_MAX_OUTPUT (16u * 1024u * 1024u)

enum quay_yaml_kind { QUAY_YAML_SCALAR, QUAY_YAML_SEQ, QUAY_YAML_MAP };

enum quay_yaml_style {
    /* scalars */
    QUAY_YAML_PLAIN,
    QUAY_YAML_SINGLE,
    QUAY_YAML_DOUBLE,
    QUAY_YAML_LITERAL,
    QUAY_YAML_FOLDED,
    /* collections */
    QUAY_YAML_BLOCK,
    QUAY_YAML_FLOW,
};

/* The type a scalar has once PyYAML's safe_load resolved it. */
enum quay_yaml_type {
    QUAY_YAML_T_STR,
    QUAY_YAML_T_NULL,
    QUAY_YAML_T_BOOL,
    QUAY_YAML_T_INT,
    QUAY_YAML_T_FLOAT,
    QUAY_YAML_T_TIMESTAMP,
    QUAY_YAML_T_MERGE, /* "<<" */
    QUAY_YAML_T_VALUE, /* "=" (safe_load refuses it) */
    QUAY_YAML_T_OTHER, /* an explicit tag we do not interpret, or a collection */
};

/*
 * A node. Read the fields freely; change nodes only through the functions
 * below (they keep `items` consistent). A mapping stores its pairs flat:
 * items[2*i] is the i-th key, items[2*i+1] its value.
 */
struct quay_yaml_node {
    enum quay_yaml_kind kind;
    enum quay_yaml_style style;
    char *tag;   /* explicit tag (full form, e.g. "tag:yaml.org,2002:str"), or NULL */
    char *value; /* scalars: the text, NUL-terminated (may contain NULs: use len) */
    size_t len;
    struct quay_yaml_node **items;
    size_t nitems; /* a mapping has nitems/2 pairs */
    size_t cap;
    unsigned line, column; /* 1-based position in the parsed input; 0 for built nodes */
};

struct quay_yaml_doc {
    struct quay_yaml_node *root; /* NULL for an empty document */
    int explicit_start;          /* the input began with "---" */
};

/* ---- parse / emit ---------------------------------------------------------- */

/*
 * Parses one YAML document. On success *out is a new document (free with
 * quay_yaml_doc_free). `what` names the input in error messages (e.g.
 * "config.yaml"); may be NULL.
 */
int quay_yaml_parse(const char *buf, size_t len, const char *what, struct quay_yaml_doc **out,
                    struct k8s_error *err);

/*
 * Appends the document's YAML to `out` (deterministic: block style at indent
 * 2, unlimited line width, unicode kept). Then parses the result again and
 * fails with K8S_EINTERNAL if it does not load as the same model: nothing we
 * emit can change a value's type behind our back.
 */
int quay_yaml_emit(const struct quay_yaml_doc *doc, struct k8s_buf *out, struct k8s_error *err);

void quay_yaml_doc_free(struct quay_yaml_doc *doc);
int quay_yaml_doc_clone(const struct quay_yaml_doc *doc, struct quay_yaml_doc **out);

/* ---- building nodes (all return NULL when out of memory) -------------------- */

/* A scalar with exactly this text, style and tag (tag may be NULL). */
struct quay_yaml_node *quay_yaml_scalar_new(const char *value, size_t len,
                                            enum quay_yaml_style style, const char *tag);
/* A string: plain when every YAML loader reads the plain text as this same
 * string, double-quoted otherwise. */
struct quay_yaml_node *quay_yaml_str_new(const char *s);
struct quay_yaml_node *quay_yaml_strn_new(const char *s, size_t len);
struct quay_yaml_node *quay_yaml_int_new(long long v);
struct quay_yaml_node *quay_yaml_bool_new(int v);
struct quay_yaml_node *quay_yaml_map_new(void);
struct quay_yaml_node *quay_yaml_seq_new(void);
struct quay_yaml_node *quay_yaml_node_clone(const struct quay_yaml_node *n);
void quay_yaml_node_free(struct quay_yaml_node *n);

/* ---- scalars ------------------------------------------------------------------ */

/* The PyYAML type of a scalar (quoted or block scalars are strings; an
 * explicit !!str/!!int/!!bool/!!null/!!float tag decides; other tags: OTHER).
 * Collections return QUAY_YAML_T_OTHER. */
enum quay_yaml_type quay_yaml_scalar_type(const struct quay_yaml_node *n);

/* How PyYAML's YAML 1.1 resolver types this text as a plain scalar. */
enum quay_yaml_type quay_yaml_resolve_plain(const char *s, size_t len);

/* Whether this text, written plain, reads as the same string in PyYAML (YAML
 * 1.1), YAML 1.2 core schema loaders and go-yaml v2 (y/n bools). */
int quay_yaml_plain_is_safe_string(const char *s, size_t len);

/* 1 when `s` is well-formed UTF-8 (what YAML, and so Quay, can carry). */
int quay_yaml_utf8_valid(const char *s, size_t len);

/* 1 when `n` is a scalar of type str with exactly this text. */
int quay_yaml_is_str(const struct quay_yaml_node *n, const char *s);
/* 0 and *out when `n` is a PyYAML bool; K8S_EINVALID otherwise. */
int quay_yaml_get_bool(const struct quay_yaml_node *n, int *out);
/* 0 and *out when `n` is a decimal PyYAML int that fits; K8S_EINVALID otherwise. */
int quay_yaml_get_int(const struct quay_yaml_node *n, long long *out);

/* ---- mappings ----------------------------------------------------------------- */

size_t quay_yaml_map_size(const struct quay_yaml_node *map);
/* The value of the LAST pair whose key is the string `key` (PyYAML keeps the
 * last of duplicate keys), or NULL. */
struct quay_yaml_node *quay_yaml_map_get(const struct quay_yaml_node *map, const char *key);
/* The key node of the last pair with this string key, or NULL. */
struct quay_yaml_node *quay_yaml_map_get_key(const struct quay_yaml_node *map, const char *key);
/*
 * Sets `key` to `value`, taking ownership of `value` (also on failure). An
 * existing pair keeps its position and its key node; a new pair is appended.
 */
int quay_yaml_map_set_take(struct quay_yaml_node *map, const char *key,
                           struct quay_yaml_node *value);
/* Removes every pair with this string key; returns how many were removed. */
size_t quay_yaml_map_remove(struct quay_yaml_node *map, const char *key);

/* ---- sequences ---------------------------------------------------------------- */

/* Appends, taking ownership of `item` (also on failure). */
int quay_yaml_seq_append_take(struct quay_yaml_node *seq, struct quay_yaml_node *item);

/* ---- comparison --------------------------------------------------------------- */

/*
 * Exact equality: kinds, tags, scalar text and style, collection order and
 * style (the style of an EMPTY collection is ignored: libyaml always writes
 * those in flow style). Positions are ignored.
 */
int quay_yaml_node_equal(const struct quay_yaml_node *a, const struct quay_yaml_node *b);

/*
 * Value equality as a loader sees it: same resolved types and texts, quoting
 * style ignored ("a" == a, but "443" != 443).
 */
int quay_yaml_node_same_value(const struct quay_yaml_node *a, const struct quay_yaml_node *b);

#endif
