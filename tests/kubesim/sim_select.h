/*
 * Label selectors (equality- and set-based, as k8s.io/apimachinery/pkg/labels
 * parses them) and field selectors (=, ==, != on dotted field paths, with the
 * backslash escapes of k8s.io/apimachinery/pkg/fields). Which fields a kind
 * may be selected on is the kind's business (sim_builtin.c); this module only
 * parses and matches.
 */
#ifndef QSO_SIM_SELECT_H
#define QSO_SIM_SELECT_H

#include <cjson/cJSON.h>
#include <stddef.h>

struct sim_labelsel;
struct sim_fieldsel;

/* Parses `text` (NULL or "" selects everything). On error returns -1 with the
 * parser's message in err. */
int sim_labelsel_parse(const char *text, struct sim_labelsel **out, char *err, size_t cap);
/* `labels` is metadata.labels (may be NULL). */
int sim_labelsel_match(const struct sim_labelsel *s, const cJSON *labels);
void sim_labelsel_free(struct sim_labelsel *s);

/* The same matcher built from a metav1.LabelSelector object (matchLabels +
 * matchExpressions), for owner selectors. NULL selector selects nothing. */
int sim_labelsel_from_object(const cJSON *sel, struct sim_labelsel **out, char *err, size_t cap);

int sim_fieldsel_parse(const char *text, struct sim_fieldsel **out, char *err, size_t cap);
size_t sim_fieldsel_count(const struct sim_fieldsel *s);
const char *sim_fieldsel_field(const struct sim_fieldsel *s, size_t i);
/* Renames field i (the API maps aliases such as events.k8s.io's names). */
int sim_fieldsel_rename(struct sim_fieldsel *s, size_t i, const char *field);
/* The value an equality term requires for `field`, or NULL. */
const char *sim_fieldsel_value(const struct sim_fieldsel *s, const char *field);
/* Matches by reading each field as a dotted path of `obj`; scalars compare as
 * their text ("true", "3"), absent fields as "". */
int sim_fieldsel_match(const struct sim_fieldsel *s, const cJSON *obj);
void sim_fieldsel_free(struct sim_fieldsel *s);

/* The text value of a dotted path in obj, into buf ("" when absent). */
void sim_field_text(const cJSON *obj, const char *path, char *buf, size_t cap);

#endif
