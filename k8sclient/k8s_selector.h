/*
 * Label selectors: the parser and matcher of apimachinery's labels.Parse, so
 * that a selector behaves (and fails) in our cache exactly as it does on the
 * API server. Both forms are understood:
 *   equality-based  a=b  a==b  a!=b
 *   set-based       a in (x,y)  a notin (x)  a  !a
 * and the integer comparisons a>3, a<3 that the server also accepts.
 * Requirements are ANDed and joined by ','; whitespace separates tokens;
 * "in" and "notin" are keywords only where an operator is expected (a value
 * may be called "in"). Keys are validated as qualified names ([prefix/]name),
 * values as label values, with the API server's error messages, e.g.
 *   unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt
 *
 * Also: a selector from a metav1.LabelSelector object (matchLabels,
 * matchExpressions), where null selects nothing and {} selects everything,
 * and a canonical string form (requirements sorted by key, set values sorted)
 * for query parameters and comparisons.
 */
#ifndef QSO_K8S_SELECTOR_H
#define QSO_K8S_SELECTOR_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "k8s_error.h"

struct k8s_selector;

/* Parses `text` (NULL or "" select everything). On failure *out is NULL and
 * the result is K8S_EARG with the server's message in err->message and
 * err->reason "BadRequest". */
int k8s_selector_parse(const char *text, struct k8s_selector **out, struct k8s_error *err);
/* From a metav1.LabelSelector (`ls` NULL or JSON null: selects nothing). */
int k8s_selector_from_label_selector(const cJSON *ls, struct k8s_selector **out,
                                     struct k8s_error *err);
void k8s_selector_free(struct k8s_selector *s);

/* Whether the labels (a JSON object of strings, or NULL for none) match.
 * A NULL selector matches everything. */
int k8s_selector_matches(const struct k8s_selector *s, const cJSON *labels);
/* The same on an object's metadata.labels. */
int k8s_selector_matches_object(const struct k8s_selector *s, const cJSON *obj);
/* Whether the selector places no restriction (matches everything). */
int k8s_selector_is_empty(const struct k8s_selector *s);
/* Canonical text ("a in (x,y),b!=c,!d"). 0, or K8S_ENOMEM when it does not
 * fit in `cap` (buf then holds a truncated, NUL-terminated prefix). */
int k8s_selector_string(const struct k8s_selector *s, char *buf, size_t cap);

#endif
