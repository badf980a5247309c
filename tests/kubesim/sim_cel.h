/*
 * sim_cel: the subset of CEL (Common Expression Language) that the API
 * simulator evaluates for CRD `x-kubernetes-validations` rules.
 *
 * Why our own: there is no CEL library for C on Debian, and the simulator
 * must REFUSE a CRD whose rule it cannot evaluate (a rule passed silently
 * would hide the very bug a real cluster would catch). So this is a real
 * tokenizer and recursive-descent parser to an AST, and a tree-walking
 * evaluator. Anything outside the subset is a compile error that names the
 * construct; never a silent pass.
 *
 * Supported: literals (int, uint `1u`, double, string with '..' "..", raw
 * r'..', bytes are refused, true/false/null), lists `[..]`, maps `{k: v}`,
 * identifiers `self` and `oldSelf` (and macro variables), field access `a.b`,
 * index `a[i]` / `m['k']`, `has(a.b)`, `size(x)` / `x.size()`, `! - * / % + -`,
 * comparisons `== != < <= > >=`, `in`, `&&` `||` (CEL's commutative error
 * absorption), `?:`, string methods startsWith/endsWith/contains/matches
 * (POSIX ERE, see sim_cel.c), lowerAscii/upperAscii/trim, the macros all,
 * exists, exists_one, filter, map (2- and 3-argument), conversions int(),
 * uint(), double(), string(), bool(), timestamp("RFC3339"), duration("1h2m3s"),
 * type-less `dyn()`, and list/map `self.x.size()`.
 *
 * Values come from cJSON trees. A JSON value is typed by the OpenAPI schema
 * node passed with it (integer vs number, int-or-string, list-type for
 * order-insensitive equality of sets/maps); with no schema, a whole-number
 * JSON number is an int and any other number a double.
 *
 * Pure library: no I/O, no global state; a compiled program is immutable and
 * may be evaluated from several threads at once.
 */
#ifndef QSO_SIM_CEL_H
#define QSO_SIM_CEL_H

#include <cjson/cJSON.h>
#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

enum sim_cel_rc {
    SIM_CEL_OK = 0,
    SIM_CEL_ESYNTAX = -1,      /* the text does not parse (message has line:col) */
    SIM_CEL_EUNSUPPORTED = -2, /* valid CEL, but outside our subset: refuse the CRD */
    SIM_CEL_ECOMPILE = -3,     /* other compile-time error (e.g. undeclared reference) */
    SIM_CEL_ERUNTIME = -4,     /* evaluation error ("no such key: x") */
    SIM_CEL_ETYPE = -5,        /* the result is not of the type the caller asked for */
    SIM_CEL_ENOMEM = -6,
};

/* Longest message any sim_cel function writes into a caller's `err` buffer. */
#define SIM_CEL_ERR_MAX 512

struct sim_cel_program;

/*
 * The schema given to sim_cel_compile is a CRD's root openAPIV3Schema: as the
 * real server does, `self` then also has apiVersion, kind and metadata with
 * only metadata.name and metadata.generateName visible.
 */
#define SIM_CEL_RESOURCE_ROOT 0x1u

/*
 * Compiles `src`. On failure returns a SIM_CEL_E* code and writes a message
 * into `err` (may be NULL), shaped like cel-go's, e.g.
 *   "ERROR: <input>:1:9: Syntax error: mismatched input '<EOF>'"
 *   "ERROR: <input>:1:6: unsupported construct: bytes literal"
 * `schema` (may be NULL) is the OpenAPI schema of `self`: when given, field
 * selections on `self`/`oldSelf` that the schema makes impossible (an object
 * with `properties` and no additionalProperties / preserve-unknown-fields)
 * are compile errors "undefined field 'x'", as the real server rejects them.
 */
int sim_cel_compile(const char *src, const cJSON *schema, unsigned flags,
                    struct sim_cel_program **out, char *err, size_t errlen);
void sim_cel_program_free(struct sim_cel_program *prog);

/* True when the expression mentions `oldSelf` (a transition rule). */
bool sim_cel_program_uses_old_self(const struct sim_cel_program *prog);

/*
 * Evaluates a compiled rule that must yield a bool. `self_schema` types the
 * JSON values (may be NULL); `old_self` may be NULL when the program does not
 * use oldSelf. Returns SIM_CEL_OK with *result set, SIM_CEL_ERUNTIME with a
 * message like "no such key: x" in `err`, or SIM_CEL_ETYPE when the value is
 * not a bool.
 */
int sim_cel_eval_bool(const struct sim_cel_program *prog, const cJSON *self, const cJSON *old_self,
                      const cJSON *self_schema, bool *result, char *err, size_t errlen);

/*
 * Evaluates a program that must yield a string (messageExpression); the
 * string is returned in *out (caller frees).
 */
int sim_cel_eval_string(const struct sim_cel_program *prog, const cJSON *self,
                        const cJSON *old_self, const cJSON *self_schema, char **out, char *err,
                        size_t errlen);

/*
 * Compiles an ECMA/RE2-style pattern (CRD `pattern`, CEL `matches`) into a
 * POSIX extended regex (glibc): \d \w \s and their negations, escapes inside
 * brackets, (?:...), lazy quantifiers (same match/no-match answer) and a
 * leading (?i) are translated; look-around, back-references and \p{..} are
 * refused. Matching is a search (unanchored), as in both ECMA and RE2.
 * Returns 0, or SIM_CEL_EUNSUPPORTED / SIM_CEL_ESYNTAX with `err` filled.
 * On success the caller calls regfree(re).
 */
int sim_cel_regex_compile(const char *pattern, regex_t *re, char *err, size_t errlen);

/* Go's strconv.FormatFloat(v, 'g', -1, 64) (what fmt's %v prints): "1", "0.5", "1e+06". */
const char *sim_cel_format_double(double v, char *buf, size_t buflen);

#endif
