/*
 * sim_schema: structural-schema checks, defaulting, pruning and validation of
 * custom resources, as kube-apiserver (apiextensions-apiserver + kube-openapi)
 * does them, with its error wording.
 *
 * Where the wording comes from (kept in step with Kubernetes 1.32):
 * - field.Error.ErrorBody() of k8s.io/apimachinery: "<Type>: <value>: <detail>",
 *   value printed like Go's %v/%q/%#v (strings quoted, ints bare, floats in
 *   shortest 'g' form, maps as map[string]interface {}{...}); Required,
 *   Forbidden, TooLong and Internal print no value. An empty path prints as
 *   "<nil>", as a nil *field.Path does.
 * - kube-openapi's validation messages ("%s in body should be greater than or
 *   equal to %v", "... must be of type %s: %q", ...), converted to field errors
 *   as apiextensions-apiserver's kubeOpenAPIResultToFieldErrors does (Required,
 *   NotSupported for enum, TooLong "may not be longer than %d", TooMany for
 *   maxItems/maxProperties, TypeInvalid for type/format, Invalid otherwise).
 * - CEL rules: `Invalid value: "<schema type>": <message>` (1.32 prints the
 *   schema type as the value), runtime errors as "<err> evaluating rule:
 *   <rule>", and CEL is skipped with the server's own message when a blocking
 *   error (type, required, enum, too long/many) was found first.
 *
 * The order of errors within an object follows the schema's property order;
 * the real server iterates Go maps, so its order is not stable either.
 */
#include "sim_schema.h"

#include "sim_cel.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PATH_MAX_LEN     1024
#define SCHEMA_MAX_DEPTH 64
#define VALUE_MAX_DEPTH  128
#define BODY_MAX         4096

/* ------------------------------------------------------------ utilities */

struct dstr {
    char *p;
    size_t n;
    size_t cap;
    bool oom;
};

static void ds_put(struct dstr *d, const char *s, size_t n)
{
    /* A 1 GiB bound (messages are far smaller); it also tells gcc -O3 that
     * n + 1 cannot wrap. */
    if (d->oom || n > ((size_t)1 << 30) || d->n > ((size_t)1 << 30)) {
        d->oom = true;
        return;
    }
    if (d->n + n + 1 > d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 128;
        while (cap < d->n + n + 1)
            cap *= 2;
        char *p = realloc(d->p, cap);
        if (!p) {
            d->oom = true;
            return;
        }
        d->p = p;
        d->cap = cap;
    }
    memcpy(d->p + d->n, s, n);
    d->n += n;
    d->p[d->n] = '\0';
}

static void ds_puts(struct dstr *d, const char *s)
{
    ds_put(d, s, strlen(s));
}

static void ds_printf(struct dstr *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ds_printf(struct dstr *d, const char *fmt, ...)
{
    char buf[BODY_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    ds_put(d, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/* Go's strconv.Quote: what %q prints. */
static void ds_go_quote(struct dstr *d, const char *s)
{
    ds_puts(d, "\"");
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned char c = *p;
        char buf[8];
        if (c == '"' || c == '\\') {
            buf[0] = '\\';
            buf[1] = (char)c;
            ds_put(d, buf, 2);
            p++;
        } else if (c < 0x20 || c == 0x7f) {
            const char *esc = NULL;
            switch (c) {
            case '\a':
                esc = "\\a";
                break;
            case '\b':
                esc = "\\b";
                break;
            case '\f':
                esc = "\\f";
                break;
            case '\n':
                esc = "\\n";
                break;
            case '\r':
                esc = "\\r";
                break;
            case '\t':
                esc = "\\t";
                break;
            case '\v':
                esc = "\\v";
                break;
            default:
                snprintf(buf, sizeof(buf), "\\x%02x", c);
                esc = buf;
            }
            ds_puts(d, esc);
            p++;
        } else if (c < 0x80) {
            ds_put(d, (const char *)p, 1);
            p++;
        } else {
            /* Copy a valid UTF-8 sequence as is; escape stray bytes like Go. */
            int len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
            bool ok = len > 0;
            for (int i = 1; ok && i < len; i++)
                ok = (p[i] & 0xC0) == 0x80;
            if (ok) {
                ds_put(d, (const char *)p, (size_t)len);
                p += len;
            } else {
                snprintf(buf, sizeof(buf), "\\x%02x", c);
                ds_puts(d, buf);
                p++;
            }
        }
    }
    ds_puts(d, "\"");
}

static bool json_is_int(const cJSON *j, int64_t *out)
{
    if (!cJSON_IsNumber(j))
        return false;
    double d = j->valuedouble;
    if (d != floor(d) || d < -9223372036854775808.0 || d >= 9223372036854775808.0)
        return false;
    if (out)
        *out = (int64_t)d;
    return true;
}

static void ds_number(struct dstr *d, const cJSON *j)
{
    int64_t i;
    if (json_is_int(j, &i)) {
        ds_printf(d, "%lld", (long long)i);
    } else {
        char buf[64];
        ds_puts(d, sim_cel_format_double(j->valuedouble, buf, sizeof(buf)));
    }
}

/* Go's %#v of a decoded JSON value (map[string]interface {}{...}), keys sorted. */
static int cmp_keys(const void *a, const void *b)
{
    const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
    return strcmp(x->string, y->string);
}

static void ds_go_sharp_v(struct dstr *d, const cJSON *j, int depth)
{
    if (depth > 32) {
        ds_puts(d, "...");
        return;
    }
    if (!j || cJSON_IsNull(j)) {
        ds_puts(d, "interface {}(nil)");
    } else if (cJSON_IsBool(j)) {
        ds_puts(d, cJSON_IsTrue(j) ? "true" : "false");
    } else if (cJSON_IsNumber(j)) {
        ds_number(d, j);
    } else if (cJSON_IsString(j)) {
        ds_go_quote(d, j->valuestring);
    } else if (cJSON_IsArray(j)) {
        ds_puts(d, "[]interface {}{");
        const cJSON *e;
        bool first = true;
        cJSON_ArrayForEach(e, j)
        {
            if (!first)
                ds_puts(d, ", ");
            first = false;
            ds_go_sharp_v(d, e, depth + 1);
        }
        ds_puts(d, "}");
    } else if (cJSON_IsObject(j)) {
        int n = cJSON_GetArraySize(j);
        const cJSON **keys = calloc((size_t)(n ? n : 1), sizeof(*keys));
        if (!keys) {
            d->oom = true;
            return;
        }
        int k = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, j) keys[k++] = e;
        qsort(keys, (size_t)n, sizeof(*keys), cmp_keys);
        ds_puts(d, "map[string]interface {}{");
        for (int i = 0; i < n; i++) {
            if (i)
                ds_puts(d, ", ");
            ds_go_quote(d, keys[i]->string);
            ds_puts(d, ":");
            ds_go_sharp_v(d, keys[i], depth + 1);
        }
        ds_puts(d, "}");
        free(keys);
    }
}

/* A bad value as field.Error prints it: %v for numbers/bools, %q for strings, %#v else. */
static void ds_bad_value(struct dstr *d, const cJSON *j)
{
    if (!j || cJSON_IsNull(j))
        ds_puts(d, "\"null\"");
    else if (cJSON_IsString(j))
        ds_go_quote(d, j->valuestring);
    else
        ds_go_sharp_v(d, j, 0);
}

static size_t utf8_count(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

static const cJSON *get(const cJSON *o, const char *k)
{
    return o ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
}

static const char *get_str(const cJSON *o, const char *k)
{
    const cJSON *v = get(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool get_true(const cJSON *o, const char *k)
{
    return cJSON_IsTrue(get(o, k));
}

/* ------------------------------------------------------------- errors */

void sim_field_errors_init(struct sim_field_errors *errs)
{
    memset(errs, 0, sizeof(*errs));
}

void sim_field_errors_free(struct sim_field_errors *errs)
{
    if (!errs)
        return;
    for (size_t i = 0; i < errs->n; i++) {
        free(errs->items[i].field);
        free(errs->items[i].body);
    }
    free(errs->items);
    memset(errs, 0, sizeof(*errs));
}

int sim_field_errors_add(struct sim_field_errors *errs, enum sim_field_error_type type,
                         const char *field, const char *body)
{
    if (!errs)
        return SIM_SCHEMA_EARG;
    if (errs->n == errs->cap) {
        size_t cap = errs->cap ? errs->cap * 2 : 8;
        struct sim_field_error *items = realloc(errs->items, cap * sizeof(*items));
        if (!items)
            return SIM_SCHEMA_ENOMEM;
        errs->items = items;
        errs->cap = cap;
    }
    /* A nil *field.Path prints "<nil>": that is what the real server reports. */
    char *f = strdup(field && field[0] ? field : "<nil>");
    char *b = strdup(body ? body : "");
    if (!f || !b) {
        free(f);
        free(b);
        return SIM_SCHEMA_ENOMEM;
    }
    errs->items[errs->n].type = type;
    errs->items[errs->n].field = f;
    errs->items[errs->n].body = b;
    errs->n++;
    return SIM_SCHEMA_OK;
}

const char *sim_field_error_reason(enum sim_field_error_type type)
{
    switch (type) {
    case SIM_FE_NOT_FOUND:
        return "FieldValueNotFound";
    case SIM_FE_REQUIRED:
        return "FieldValueRequired";
    case SIM_FE_DUPLICATE:
        return "FieldValueDuplicate";
    case SIM_FE_INVALID:
        return "FieldValueInvalid";
    case SIM_FE_NOT_SUPPORTED:
        return "FieldValueNotSupported";
    case SIM_FE_FORBIDDEN:
        return "FieldValueForbidden";
    case SIM_FE_TOO_LONG:
        return "FieldValueTooLong";
    case SIM_FE_TOO_MANY:
        return "FieldValueTooMany";
    case SIM_FE_INTERNAL:
        return "InternalError";
    case SIM_FE_TYPE_INVALID:
        return "FieldValueTypeInvalid";
    }
    return "FieldValueInvalid";
}

static const char *type_text(enum sim_field_error_type type)
{
    switch (type) {
    case SIM_FE_NOT_FOUND:
        return "Not found";
    case SIM_FE_REQUIRED:
        return "Required value";
    case SIM_FE_DUPLICATE:
        return "Duplicate value";
    case SIM_FE_INVALID:
    case SIM_FE_TYPE_INVALID:
        return "Invalid value";
    case SIM_FE_NOT_SUPPORTED:
        return "Unsupported value";
    case SIM_FE_FORBIDDEN:
        return "Forbidden";
    case SIM_FE_TOO_LONG:
        return "Too long";
    case SIM_FE_TOO_MANY:
        return "Too many";
    case SIM_FE_INTERNAL:
        return "Internal error";
    }
    return "Invalid value";
}

char *sim_field_error_string(const struct sim_field_error *e)
{
    struct dstr d = {0};
    ds_puts(&d, e->field);
    ds_puts(&d, ": ");
    ds_puts(&d, e->body);
    if (d.oom) {
        free(d.p);
        return NULL;
    }
    return d.p;
}

char *sim_field_errors_message(const struct sim_field_errors *errs, const char *kind,
                               const char *group, const char *name)
{
    struct dstr d = {0};
    ds_puts(&d, kind ? kind : "");
    if (group && group[0]) {
        ds_puts(&d, ".");
        ds_puts(&d, group);
    }
    ds_puts(&d, " ");
    ds_go_quote(&d, name ? name : "");
    ds_puts(&d, " is invalid: ");
    /* ToAggregate drops repeated messages; one error prints bare, several in [..]. */
    size_t shown = 0;
    size_t start = d.n;
    for (size_t i = 0; i < errs->n; i++) {
        bool dup = false;
        for (size_t k = 0; k < i && !dup; k++)
            dup = !strcmp(errs->items[k].field, errs->items[i].field) &&
                  !strcmp(errs->items[k].body, errs->items[i].body);
        if (dup)
            continue;
        if (shown++)
            ds_puts(&d, ", ");
        ds_puts(&d, errs->items[i].field);
        ds_puts(&d, ": ");
        ds_puts(&d, errs->items[i].body);
    }
    if (shown > 1 && !d.oom) {
        /* wrap what follows "is invalid: " in brackets */
        struct dstr w = {0};
        ds_put(&w, d.p, start);
        ds_puts(&w, "[");
        ds_put(&w, d.p + start, d.n - start);
        ds_puts(&w, "]");
        free(d.p);
        d = w;
    }
    if (d.oom) {
        free(d.p);
        return NULL;
    }
    return d.p;
}

cJSON *sim_field_errors_status(const struct sim_field_errors *errs, const char *kind,
                               const char *group, const char *name)
{
    char *msg = sim_field_errors_message(errs, kind, group, name);
    cJSON *st = cJSON_CreateObject();
    if (!msg || !st)
        goto fail;
    cJSON_AddStringToObject(st, "kind", "Status");
    cJSON_AddStringToObject(st, "apiVersion", "v1");
    cJSON_AddObjectToObject(st, "metadata");
    cJSON_AddStringToObject(st, "status", "Failure");
    cJSON_AddStringToObject(st, "message", msg);
    cJSON_AddStringToObject(st, "reason", "Invalid");
    cJSON *details = cJSON_AddObjectToObject(st, "details");
    if (!details)
        goto fail;
    cJSON_AddStringToObject(details, "name", name ? name : "");
    cJSON_AddStringToObject(details, "group", group ? group : "");
    cJSON_AddStringToObject(details, "kind", kind ? kind : "");
    cJSON *causes = cJSON_AddArrayToObject(details, "causes");
    if (!causes)
        goto fail;
    for (size_t i = 0; i < errs->n; i++) {
        cJSON *c = cJSON_CreateObject();
        if (!c)
            goto fail;
        cJSON_AddItemToArray(causes, c);
        cJSON_AddStringToObject(c, "reason", sim_field_error_reason(errs->items[i].type));
        cJSON_AddStringToObject(c, "message", errs->items[i].body);
        cJSON_AddStringToObject(c, "field", errs->items[i].field);
    }
    cJSON_AddNumberToObject(st, "code", 422);
    free(msg);
    return st;
fail:
    free(msg);
    cJSON_Delete(st);
    return NULL;
}

/* Adds an error whose body is "<Type>[: <value>][: <detail>]". `value` NULL: no value. */
static int add_err(struct sim_field_errors *errs, enum sim_field_error_type type, const char *path,
                   const char *value_text, const char *detail)
{
    struct dstr d = {0};
    ds_puts(&d, type_text(type));
    bool show_value = type != SIM_FE_REQUIRED && type != SIM_FE_FORBIDDEN &&
                      type != SIM_FE_TOO_LONG && type != SIM_FE_INTERNAL;
    if (show_value && value_text) {
        ds_puts(&d, ": ");
        ds_puts(&d, value_text);
    }
    if (detail && detail[0]) {
        ds_puts(&d, ": ");
        ds_puts(&d, detail);
    }
    if (d.oom) {
        free(d.p);
        return SIM_SCHEMA_ENOMEM;
    }
    int rc = sim_field_errors_add(errs, type, path, d.p);
    free(d.p);
    return rc;
}

/* Same, with the value printed from JSON. */
static int add_err_json(struct sim_field_errors *errs, enum sim_field_error_type type,
                        const char *path, const cJSON *value, const char *detail)
{
    struct dstr v = {0};
    ds_bad_value(&v, value);
    if (v.oom) {
        free(v.p);
        return SIM_SCHEMA_ENOMEM;
    }
    int rc = add_err(errs, type, path, v.p, detail);
    free(v.p);
    return rc;
}

static int add_err_str(struct sim_field_errors *errs, enum sim_field_error_type type,
                       const char *path, const char *value, const char *detail)
{
    struct dstr v = {0};
    ds_go_quote(&v, value);
    if (v.oom) {
        free(v.p);
        return SIM_SCHEMA_ENOMEM;
    }
    int rc = add_err(errs, type, path, v.p, detail);
    free(v.p);
    return rc;
}

/* --------------------------------------------------------------- paths */

struct path {
    char buf[PATH_MAX_LEN];
    size_t len;
};

static size_t path_push(struct path *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static size_t path_push(struct path *p, const char *fmt, ...)
{
    size_t saved = p->len;
    if (p->len < sizeof(p->buf) - 1) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(p->buf + p->len, sizeof(p->buf) - p->len, fmt, ap);
        va_end(ap);
        if (n > 0)
            p->len += (size_t)n < sizeof(p->buf) - p->len ? (size_t)n : sizeof(p->buf) - p->len - 1;
    }
    return saved;
}

/* Child("name"): "a.name", or "name" at the root. */
static size_t path_child(struct path *p, const char *name)
{
    return path_push(p, "%s%s", p->len ? "." : "", name);
}

static void path_pop(struct path *p, size_t saved)
{
    p->len = saved;
    p->buf[saved] = '\0';
}

/* ----------------------------------------------------------- compiled */

struct rule {
    const cJSON *def; /* the x-kubernetes-validations item */
    const char *rule_src;
    const char *message;
    const char *reason;
    const char *field_path;
    struct sim_cel_program *prog;
    struct sim_cel_program *msg_prog;
};

struct node_rules {
    const cJSON *node;
    size_t n;
    struct rule *rules;
};

struct sim_schema {
    cJSON *json;
    size_t nnodes;
    size_t cap;
    struct node_rules *nodes;
};

void sim_schema_free(struct sim_schema *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nnodes; i++) {
        for (size_t k = 0; k < s->nodes[i].n; k++) {
            sim_cel_program_free(s->nodes[i].rules[k].prog);
            sim_cel_program_free(s->nodes[i].rules[k].msg_prog);
        }
        free(s->nodes[i].rules);
    }
    free(s->nodes);
    cJSON_Delete(s->json);
    free(s);
}

const cJSON *sim_schema_json(const struct sim_schema *s)
{
    return s ? s->json : NULL;
}

static const struct node_rules *find_rules(const struct sim_schema *s, const cJSON *node)
{
    for (size_t i = 0; i < s->nnodes; i++)
        if (s->nodes[i].node == node)
            return &s->nodes[i];
    return NULL;
}

/* ------------------------------------------------------ structural check */

struct check_ctx {
    struct sim_schema *s;
    struct sim_field_errors *errs;
    const cJSON *root;
    int rc; /* first ENOMEM */
};

static void cerr(struct check_ctx *c, enum sim_field_error_type type, struct path *p,
                 const char *child, const char *value_text, const char *detail)
{
    size_t saved = child ? path_child(p, child) : p->len;
    int rc = add_err(c->errs, type, p->buf, value_text, detail);
    if (rc == SIM_SCHEMA_ENOMEM)
        c->rc = rc;
    path_pop(p, saved);
}

static bool is_known_type(const char *t)
{
    static const char *types[] = {"array", "boolean", "integer", "number", "object", "string"};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (!strcmp(t, types[i]))
            return true;
    return false;
}

/* Go's %#v of apiextensions.ValidationRule, as the CRD validation prints it. */
static void ds_validation_rule(struct dstr *d, const cJSON *def)
{
    const char *r = get_str(def, "rule"), *m = get_str(def, "message"),
               *me = get_str(def, "messageExpression"), *fp = get_str(def, "fieldPath");
    ds_puts(d, "apiextensions.ValidationRule{Rule:");
    ds_go_quote(d, r ? r : "");
    ds_puts(d, ", Message:");
    ds_go_quote(d, m ? m : "");
    ds_puts(d, ", MessageExpression:");
    ds_go_quote(d, me ? me : "");
    ds_puts(d, ", Reason:(*apiextensions.FieldValueErrorReason)(");
    ds_puts(d, get_str(def, "reason") ? "0xc000000000" : "nil");
    ds_puts(d, "), FieldPath:");
    ds_go_quote(d, fp ? fp : "");
    ds_puts(d, ", OptionalOldSelf:(*bool)(");
    ds_puts(d, get(def, "optionalOldSelf") ? "0xc000000000" : "nil");
    ds_puts(d, ")}");
}

/* Checks that a rule's fieldPath (".spec.x", "['a'].b") names a field of `node`. */
static bool valid_rule_field_path(const cJSON *node, const char *fp)
{
    const char *p = fp;
    const cJSON *s = node;
    if (!*p)
        return true;
    while (*p) {
        char name[256];
        size_t n = 0;
        if (*p == '.') {
            p++;
            while (*p && *p != '.' && *p != '[' && n < sizeof(name) - 1)
                name[n++] = *p++;
        } else if (p[0] == '[' && p[1] == '\'') {
            p += 2;
            while (*p && *p != '\'' && n < sizeof(name) - 1)
                name[n++] = *p++;
            if (p[0] != '\'' || p[1] != ']')
                return false;
            p += 2;
        } else {
            return false;
        }
        name[n] = '\0';
        if (n == 0)
            return false;
        const cJSON *props = get(s, "properties");
        const cJSON *ap = get(s, "additionalProperties");
        const cJSON *next = props ? get(props, name) : NULL;
        if (!next && cJSON_IsObject(ap))
            next = ap;
        if (!next)
            return false;
        s = next;
    }
    return true;
}

static int compile_rules(struct check_ctx *c, const cJSON *node, struct path *p, bool is_root,
                         bool correlatable, const char *uncorrelatable_at)
{
    const cJSON *xv = get(node, "x-kubernetes-validations");
    if (!xv)
        return 0;
    size_t saved = path_child(p, "x-kubernetes-validations");
    if (!cJSON_IsArray(xv)) {
        cerr(c, SIM_FE_INVALID, p, NULL, "\"\"", "must be a list of validation rules");
        path_pop(p, saved);
        return 0;
    }
    int n = cJSON_GetArraySize(xv);
    struct rule *rules = calloc((size_t)(n ? n : 1), sizeof(*rules));
    if (!rules) {
        path_pop(p, saved);
        return SIM_SCHEMA_ENOMEM;
    }
    size_t nr = 0;
    int idx = 0;
    const cJSON *def;
    cJSON_ArrayForEach(def, xv)
    {
        size_t s2 = path_push(p, "[%d]", idx++);
        struct rule *r = &rules[nr];
        r->def = def;
        r->rule_src = get_str(def, "rule");
        r->message = get_str(def, "message");
        r->reason = get_str(def, "reason");
        r->field_path = get_str(def, "fieldPath");
        struct dstr rv = {0};
        ds_validation_rule(&rv, def);
        if (!r->rule_src || !r->rule_src[0]) {
            cerr(c, SIM_FE_REQUIRED, p, "rule", NULL, "");
        } else {
            char err[SIM_CEL_ERR_MAX];
            int crc = sim_cel_compile(r->rule_src, node, is_root ? SIM_CEL_RESOURCE_ROOT : 0,
                                      &r->prog, err, sizeof(err));
            if (crc == SIM_CEL_ENOMEM) {
                c->rc = SIM_SCHEMA_ENOMEM;
            } else if (crc != 0) {
                char detail[SIM_CEL_ERR_MAX + 64];
                snprintf(detail, sizeof(detail), "compilation failed: %s", err);
                cerr(c, SIM_FE_INVALID, p, "rule", rv.p, detail);
            } else if (sim_cel_program_uses_old_self(r->prog) && !correlatable) {
                char detail[PATH_MAX_LEN + 96];
                snprintf(detail, sizeof(detail),
                         "oldSelf cannot be used on the uncorrelatable portion of the schema "
                         "within %s",
                         uncorrelatable_at);
                cerr(c, SIM_FE_INVALID, p, "rule", rv.p, detail);
            }
        }
        const char *me = get_str(def, "messageExpression");
        if (me && me[0]) {
            char err[SIM_CEL_ERR_MAX];
            int crc = sim_cel_compile(me, node, is_root ? SIM_CEL_RESOURCE_ROOT : 0, &r->msg_prog,
                                      err, sizeof(err));
            if (crc != 0) {
                char detail[SIM_CEL_ERR_MAX + 64];
                snprintf(detail, sizeof(detail), "messageExpression compilation failed: %s", err);
                cerr(c, SIM_FE_INVALID, p, "messageExpression", rv.p, detail);
            }
        }
        if (cJSON_IsTrue(get(def, "optionalOldSelf")))
            /* needs CEL optionals (oldSelf.hasValue()): outside our subset, so refused */
            cerr(c, SIM_FE_INVALID, p, "optionalOldSelf", rv.p,
                 "unsupported construct: optionalOldSelf is outside the simulator's CEL subset");
        if (r->message && strchr(r->message, '\n'))
            cerr(c, SIM_FE_INVALID, p, "message", rv.p, "message must not contain line breaks");
        if (r->reason) {
            static const char *ok[] = {"FieldValueInvalid", "FieldValueForbidden",
                                       "FieldValueRequired", "FieldValueDuplicate"};
            bool found = false;
            for (size_t k = 0; k < 4; k++)
                found |= !strcmp(r->reason, ok[k]);
            if (!found) {
                struct dstr q = {0};
                ds_go_quote(&q, r->reason);
                cerr(c, SIM_FE_NOT_SUPPORTED, p, "reason", q.p,
                     "supported values: \"FieldValueDuplicate\", \"FieldValueForbidden\", "
                     "\"FieldValueInvalid\", \"FieldValueRequired\"");
                free(q.p);
            }
        }
        if (r->field_path && !valid_rule_field_path(node, r->field_path)) {
            struct dstr q = {0};
            ds_go_quote(&q, r->field_path);
            cerr(c, SIM_FE_INVALID, p, "fieldPath", q.p, "fieldPath must be a valid path");
            free(q.p);
        }
        free(rv.p);
        path_pop(p, s2);
        nr++;
    }
    path_pop(p, saved);
    if (c->s->nnodes == c->s->cap) {
        size_t cap = c->s->cap ? c->s->cap * 2 : 8;
        struct node_rules *nodes = realloc(c->s->nodes, cap * sizeof(*nodes));
        if (!nodes) {
            for (size_t k = 0; k < nr; k++) {
                sim_cel_program_free(rules[k].prog);
                sim_cel_program_free(rules[k].msg_prog);
            }
            free(rules);
            return SIM_SCHEMA_ENOMEM;
        }
        c->s->nodes = nodes;
        c->s->cap = cap;
    }
    c->s->nodes[c->s->nnodes].node = node;
    c->s->nodes[c->s->nnodes].n = nr;
    c->s->nodes[c->s->nnodes].rules = rules;
    c->s->nnodes++;
    return 0;
}

static void validate_value(const struct sim_schema *s, const cJSON *v, const cJSON *schema,
                           struct path *p, int depth, struct sim_field_errors *errs);

static void check_node(struct check_ctx *c, const cJSON *node, struct path *p, int depth,
                       bool is_root, const char *why_typed, bool correlatable,
                       const char *uncorrelatable_at)
{
    if (c->rc)
        return;
    if (depth > SCHEMA_MAX_DEPTH) {
        cerr(c, SIM_FE_FORBIDDEN, p, NULL, NULL, "schema nested too deeply");
        return;
    }
    if (!cJSON_IsObject(node)) {
        cerr(c, SIM_FE_INVALID, p, NULL, "\"\"", "must be a schema object");
        return;
    }
    const char *type = get_str(node, "type");
    bool int_or_string = get_true(node, "x-kubernetes-int-or-string");
    bool preserve = get_true(node, "x-kubernetes-preserve-unknown-fields");
    const cJSON *props = get(node, "properties");
    const cJSON *items = get(node, "items");
    const cJSON *ap = get(node, "additionalProperties");

    if (get(node, "type") && !type) {
        cerr(c, SIM_FE_INVALID, p, "type", "\"\"", "must be a string");
    } else if (type && !is_known_type(type)) {
        struct dstr q = {0};
        ds_go_quote(&q, type);
        cerr(c, SIM_FE_NOT_SUPPORTED, p, "type", q.p,
             "supported values: \"array\", \"boolean\", \"integer\", \"number\", \"object\", "
             "\"string\"");
        free(q.p);
    }
    if (is_root) {
        if (!type)
            cerr(c, SIM_FE_REQUIRED, p, "type", NULL, "must not be empty at the root");
        else if (strcmp(type, "object") != 0) {
            struct dstr q = {0};
            ds_go_quote(&q, type);
            cerr(c, SIM_FE_INVALID, p, "type", q.p, "must be object at the root");
            free(q.p);
        }
    } else if (!type && !int_or_string && !preserve && why_typed) {
        cerr(c, SIM_FE_REQUIRED, p, "type", NULL, why_typed);
    }
    if (int_or_string && type) {
        struct dstr q = {0};
        ds_go_quote(&q, type);
        cerr(c, SIM_FE_INVALID, p, "type", q.p,
             "must be empty if x-kubernetes-int-or-string is true");
        free(q.p);
    }
    if (props && ap)
        cerr(c, SIM_FE_FORBIDDEN, p, "additionalProperties", NULL,
             "additionalProperties and properties are mutual exclusive");
    if (cJSON_IsBool(ap) && !cJSON_IsTrue(ap))
        cerr(c, SIM_FE_FORBIDDEN, p, "additionalProperties", NULL,
             "additionalProperties cannot be set to false");
    static const char *const forbidden[] = {
        "$ref", "definitions", "dependencies", "additionalItems", "patternProperties",
        "id",   "$schema"};
    for (size_t i = 0; i < sizeof(forbidden) / sizeof(forbidden[0]); i++) {
        if (get(node, forbidden[i])) {
            char detail[96];
            snprintf(detail, sizeof(detail), "%s is not supported", forbidden[i]);
            cerr(c, SIM_FE_FORBIDDEN, p, forbidden[i], NULL, detail);
        }
    }
    if (get_true(node, "uniqueItems"))
        cerr(c, SIM_FE_FORBIDDEN, p, "uniqueItems", NULL,
             "uniqueItems cannot be set to true since the runtime complexity becomes quadratic");
    if (type && props && strcmp(type, "object") != 0) {
        struct dstr q = {0};
        ds_go_quote(&q, type);
        cerr(c, SIM_FE_INVALID, p, "type", q.p, "must be object if properties are specified");
        free(q.p);
    }
    if (type && items && strcmp(type, "array") != 0) {
        struct dstr q = {0};
        ds_go_quote(&q, type);
        cerr(c, SIM_FE_INVALID, p, "type", q.p, "must be array if items are specified");
        free(q.p);
    }
    if (type && !strcmp(type, "array") && !items)
        cerr(c, SIM_FE_REQUIRED, p, "items", NULL, "must be specified");
    if (cJSON_IsArray(items))
        cerr(c, SIM_FE_FORBIDDEN, p, "items", NULL,
             "items must be a schema object and not an array");

    /* list types */
    const char *lt = get_str(node, "x-kubernetes-list-type");
    const cJSON *keys = get(node, "x-kubernetes-list-map-keys");
    if (lt) {
        if (strcmp(lt, "atomic") && strcmp(lt, "set") && strcmp(lt, "map")) {
            struct dstr q = {0};
            ds_go_quote(&q, lt);
            cerr(c, SIM_FE_NOT_SUPPORTED, p, "x-kubernetes-list-type", q.p,
                 "supported values: \"atomic\", \"map\", \"set\"");
            free(q.p);
        } else if (type && strcmp(type, "array")) {
            cerr(c, SIM_FE_INVALID, p, "x-kubernetes-list-type", "\"map\"",
                 "must only be used if type is array");
        } else if (!strcmp(lt, "map")) {
            const char *it = get_str(items, "type");
            if (!it || strcmp(it, "object")) {
                cerr(c, SIM_FE_INVALID, p, "items.type", it ? it : "\"\"",
                     "must be object if parent array's x-kubernetes-list-type is map");
            }
            if (!cJSON_IsArray(keys) || cJSON_GetArraySize(keys) == 0) {
                cerr(c, SIM_FE_REQUIRED, p, "x-kubernetes-list-map-keys", NULL,
                     "must not be empty if x-kubernetes-list-type is map");
            } else {
                const cJSON *k;
                const cJSON *req = get(items, "required");
                cJSON_ArrayForEach(k, keys)
                {
                    const char *kn = cJSON_IsString(k) ? k->valuestring : "";
                    const cJSON *kp = get(get(items, "properties"), kn);
                    bool required = false;
                    const cJSON *r;
                    cJSON_ArrayForEach(r, req) required |=
                        cJSON_IsString(r) && !strcmp(r->valuestring, kn);
                    if (!kp) {
                        cerr(c, SIM_FE_REQUIRED, p, "items.properties", NULL,
                             "entries for all x-kubernetes-list-map-keys are required");
                    } else {
                        const char *kt = get_str(kp, "type");
                        if (!kt || (strcmp(kt, "string") && strcmp(kt, "integer") &&
                                    strcmp(kt, "number") && strcmp(kt, "boolean")))
                            cerr(c, SIM_FE_INVALID, p, "items.properties", "\"\"",
                                 "must be scalar types for x-kubernetes-list-map-keys");
                        if (!required && !get(kp, "default"))
                            cerr(c, SIM_FE_REQUIRED, p, "items.required", NULL,
                                 "all map keys must be required or have a default value");
                    }
                }
            }
        } else if (!strcmp(lt, "set")) {
            const char *it = get_str(items, "type");
            const char *ilt = get_str(items, "x-kubernetes-map-type");
            if (it && (!strcmp(it, "object") || !strcmp(it, "array")) &&
                !(ilt && !strcmp(ilt, "atomic")) &&
                !(get_str(items, "x-kubernetes-list-type") &&
                  !strcmp(get_str(items, "x-kubernetes-list-type"), "atomic")))
                cerr(c, SIM_FE_INVALID, p, "items.x-kubernetes-map-type", "\"\"",
                     "must be atomic as item of a list with x-kubernetes-list-type=set");
        }
    }
    if (keys && (!lt || strcmp(lt, "map")))
        cerr(c, SIM_FE_FORBIDDEN, p, "x-kubernetes-list-map-keys", NULL,
             "requires x-kubernetes-list-type: map");

    /* The root's metadata may specify only name and generateName (as strings). */
    if (is_root && cJSON_IsObject(props)) {
        const cJSON *meta = get(props, "metadata");
        if (meta) {
            const cJSON *e;
            bool bad = false;
            cJSON_ArrayForEach(e, meta)
            {
                if (strcmp(e->string, "type") && strcmp(e->string, "properties") &&
                    strcmp(e->string, "description"))
                    bad = true;
            }
            const cJSON *mp = get(meta, "properties");
            cJSON_ArrayForEach(e, mp)
            {
                if (strcmp(e->string, "name") && strcmp(e->string, "generateName"))
                    bad = true;
            }
            const char *mt = get_str(meta, "type");
            if (mt && strcmp(mt, "object"))
                bad = true;
            if (bad)
                cerr(c, SIM_FE_FORBIDDEN, p, "properties[metadata]", NULL,
                     "must not specify anything other than name and generateName, but metadata "
                     "is implicitly specified");
        }
    }

    /* default: must validate against its own schema. */
    const cJSON *def = get(node, "default");
    if (def) {
        if (is_root) {
            cerr(c, SIM_FE_FORBIDDEN, p, "default", NULL, "must not be set at the root");
        } else {
            struct sim_field_errors derrs;
            sim_field_errors_init(&derrs);
            struct path dp = {.len = 0};
            dp.buf[0] = '\0';
            validate_value(c->s, def, node, &dp, 0, &derrs);
            /* Re-pathed under ".default", as ValidateCustomResource(fldPath.Child("default")). */
            for (size_t i = 0; i < derrs.n; i++) {
                size_t s2 = path_child(p, "default");
                if (strcmp(derrs.items[i].field, "<nil>"))
                    path_child(p, derrs.items[i].field);
                int arc =
                    sim_field_errors_add(c->errs, derrs.items[i].type, p->buf, derrs.items[i].body);
                if (arc)
                    c->rc = arc;
                path_pop(p, s2);
            }
            sim_field_errors_free(&derrs);
        }
    }

    int rrc = compile_rules(c, node, p, is_root, correlatable, uncorrelatable_at);
    if (rrc)
        c->rc = rrc;

    /* recurse */
    if (cJSON_IsObject(props)) {
        const cJSON *e;
        cJSON_ArrayForEach(e, props)
        {
            size_t s2 = path_child(p, "properties");
            path_push(p, "[%s]", e->string);
            /* metadata at the root is the server's: only its shape was checked above */
            if (!(is_root && !strcmp(e->string, "metadata")))
                check_node(c, e, p, depth + 1, false,
                           "must not be empty for specified object fields", correlatable,
                           uncorrelatable_at);
            path_pop(p, s2);
        }
    }
    if (cJSON_IsObject(items)) {
        size_t s2 = path_child(p, "items");
        bool item_corr = correlatable && lt && !strcmp(lt, "map");
        char at[PATH_MAX_LEN];
        snprintf(at, sizeof(at), "%s", p->buf);
        check_node(c, items, p, depth + 1, false, "must not be empty for specified array items",
                   item_corr, correlatable && !item_corr ? at : uncorrelatable_at);
        path_pop(p, s2);
    }
    if (cJSON_IsObject(ap)) {
        size_t s2 = path_child(p, "additionalProperties");
        check_node(c, ap, p, depth + 1, false, "must not be empty for specified object fields",
                   correlatable, uncorrelatable_at);
        path_pop(p, s2);
    }
    static const char *const combinators[] = {"allOf", "anyOf", "oneOf"};
    for (size_t i = 0; i < 3; i++) {
        const cJSON *arr = get(node, combinators[i]);
        if (arr && !cJSON_IsArray(arr))
            cerr(c, SIM_FE_INVALID, p, combinators[i], "\"\"", "must be a list of schemas");
    }
}

int sim_schema_new(const cJSON *openapi, const char *path_prefix, struct sim_schema **out,
                   struct sim_field_errors *errs)
{
    int rc = SIM_SCHEMA_OK;
    struct sim_schema *s = NULL;
    if (!out || !errs)
        return SIM_SCHEMA_EARG;
    *out = NULL;
    struct path p;
    snprintf(p.buf, sizeof(p.buf), "%s", path_prefix ? path_prefix : "");
    p.len = strlen(p.buf);
    if (!cJSON_IsObject(openapi)) {
        rc = add_err(errs, SIM_FE_REQUIRED, p.buf, NULL, "");
        return rc ? rc : SIM_SCHEMA_EINVALID;
    }
    s = calloc(1, sizeof(*s));
    if (!s)
        return SIM_SCHEMA_ENOMEM;
    s->json = cJSON_Duplicate(openapi, true);
    if (!s->json) {
        rc = SIM_SCHEMA_ENOMEM;
        goto out;
    }
    size_t before = errs->n;
    struct check_ctx c = {.s = s, .errs = errs, .root = s->json};
    check_node(&c, s->json, &p, 0, true, NULL, true, "");
    if (c.rc) {
        rc = c.rc;
        goto out;
    }
    if (errs->n > before) {
        rc = SIM_SCHEMA_EINVALID;
        goto out;
    }
    *out = s;
    s = NULL;
out:
    sim_schema_free(s);
    return rc;
}

/* ------------------------------------------------------------ defaulting */

static const cJSON *child_schema(const cJSON *schema, const char *key)
{
    const cJSON *props = get(schema, "properties");
    const cJSON *c = props ? get(props, key) : NULL;
    if (c)
        return c;
    const cJSON *ap = get(schema, "additionalProperties");
    return cJSON_IsObject(ap) ? ap : NULL;
}

static int default_value(cJSON *v, const cJSON *schema, int depth, bool is_root)
{
    if (!schema || depth > VALUE_MAX_DEPTH)
        return 0;
    if (cJSON_IsObject(v)) {
        const cJSON *props = get(schema, "properties");
        const cJSON *prop;
        cJSON_ArrayForEach(prop, props)
        {
            if (is_root && !strcmp(prop->string, "metadata"))
                continue;
            const cJSON *def = get(prop, "default");
            cJSON *cur = cJSON_GetObjectItemCaseSensitive(v, prop->string);
            bool nullable = get_true(prop, "nullable");
            if (cur && cJSON_IsNull(cur) && !nullable) {
                /* A null for a non-nullable field: defaulted if it can be, else dropped. */
                cJSON_DeleteItemFromObjectCaseSensitive(v, prop->string);
                cur = NULL;
                if (!def)
                    continue;
            }
            if (!cur && def) {
                cJSON *copy = cJSON_Duplicate(def, true);
                if (!copy || !cJSON_AddItemToObject(v, prop->string, copy)) {
                    cJSON_Delete(copy);
                    return SIM_SCHEMA_ENOMEM;
                }
            }
        }
        cJSON *e;
        cJSON_ArrayForEach(e, v)
        {
            if (is_root && !strcmp(e->string, "metadata"))
                continue;
            int rc = default_value(e, child_schema(schema, e->string), depth + 1, false);
            if (rc)
                return rc;
        }
    } else if (cJSON_IsArray(v)) {
        const cJSON *items = get(schema, "items");
        if (!cJSON_IsObject(items))
            return 0;
        const cJSON *def = get(items, "default");
        cJSON *e = v->child;
        while (e) {
            cJSON *next = e->next;
            if (cJSON_IsNull(e) && def && !get_true(items, "nullable")) {
                cJSON *copy = cJSON_Duplicate(def, true);
                if (!copy || !cJSON_ReplaceItemViaPointer(v, e, copy)) {
                    cJSON_Delete(copy);
                    return SIM_SCHEMA_ENOMEM;
                }
                e = copy;
            }
            int rc = default_value(e, items, depth + 1, false);
            if (rc)
                return rc;
            e = next;
        }
    }
    return 0;
}

int sim_schema_default(const struct sim_schema *s, cJSON *obj)
{
    if (!s || !obj)
        return SIM_SCHEMA_EARG;
    return default_value(obj, s->json, 0, true);
}

/* --------------------------------------------------------------- pruning */

static int prune_value(cJSON *v, const cJSON *schema, struct path *p, int depth, bool is_root,
                       struct sim_strlist *unknown)
{
    if (!schema || depth > VALUE_MAX_DEPTH)
        return 0;
    if (get_true(schema, "x-kubernetes-int-or-string"))
        return 0;
    bool preserve = get_true(schema, "x-kubernetes-preserve-unknown-fields");
    bool embedded = get_true(schema, "x-kubernetes-embedded-resource");
    if (cJSON_IsObject(v)) {
        const cJSON *props = get(schema, "properties");
        const cJSON *ap = get(schema, "additionalProperties");
        cJSON *e = v->child;
        while (e) {
            cJSON *next = e->next;
            const char *k = e->string;
            if ((is_root || embedded) &&
                (!strcmp(k, "apiVersion") || !strcmp(k, "kind") || !strcmp(k, "metadata"))) {
                e = next;
                continue;
            }
            const cJSON *cs = props ? get(props, k) : NULL;
            size_t saved;
            if (cs) {
                saved = path_child(p, k);
            } else if (cJSON_IsObject(ap)) {
                cs = ap;
                saved = path_push(p, "[%s]", k);
            } else if (preserve || cJSON_IsTrue(ap)) {
                e = next;
                continue;
            } else {
                saved = path_child(p, k);
                if (unknown && sim_strlist_add(unknown, p->buf))
                    return SIM_SCHEMA_ENOMEM;
                path_pop(p, saved);
                cJSON_Delete(cJSON_DetachItemViaPointer(v, e));
                e = next;
                continue;
            }
            int rc = prune_value(e, cs, p, depth + 1, false, unknown);
            path_pop(p, saved);
            if (rc)
                return rc;
            e = next;
        }
    } else if (cJSON_IsArray(v)) {
        const cJSON *items = get(schema, "items");
        int i = 0;
        cJSON *e;
        cJSON_ArrayForEach(e, v)
        {
            size_t saved = path_push(p, "[%d]", i++);
            int rc =
                prune_value(e, cJSON_IsObject(items) ? items : NULL, p, depth + 1, false, unknown);
            path_pop(p, saved);
            if (rc)
                return rc;
        }
    }
    return 0;
}

int sim_schema_prune(const struct sim_schema *s, cJSON *obj, struct sim_strlist *unknown)
{
    if (!s || !obj)
        return SIM_SCHEMA_EARG;
    struct path p = {.len = 0};
    p.buf[0] = '\0';
    return prune_value(obj, s->json, &p, 0, true, unknown);
}

const char *sim_schema_unknown_field_message(const char *path, char *buf, size_t buflen)
{
    struct dstr d = {0};
    ds_puts(&d, "unknown field ");
    ds_go_quote(&d, path ? path : "");
    snprintf(buf, buflen, "%s", d.p ? d.p : "unknown field");
    free(d.p);
    return buf;
}

void sim_strlist_init(struct sim_strlist *l)
{
    memset(l, 0, sizeof(*l));
}

void sim_strlist_free(struct sim_strlist *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
    memset(l, 0, sizeof(*l));
}

int sim_strlist_add(struct sim_strlist *l, const char *s)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        char **items = realloc(l->items, cap * sizeof(*items));
        if (!items)
            return SIM_SCHEMA_ENOMEM;
        l->items = items;
        l->cap = cap;
    }
    l->items[l->n] = strdup(s);
    if (!l->items[l->n])
        return SIM_SCHEMA_ENOMEM;
    l->n++;
    return 0;
}

/* ------------------------------------------------------------ validation */

/* kube-openapi's name for a value's type. */
static const char *json_type_name(const cJSON *v)
{
    if (!v || cJSON_IsNull(v))
        return "null";
    if (cJSON_IsBool(v))
        return "boolean";
    if (cJSON_IsNumber(v))
        return json_is_int(v, NULL) ? "integer" : "number";
    if (cJSON_IsString(v))
        return "string";
    if (cJSON_IsArray(v))
        return "array";
    return "object";
}

/* "<path> in body <rest>": kube-openapi's message shape. */
static void openapi_msg(char *buf, size_t len, const struct path *p, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void openapi_msg(char *buf, size_t len, const struct path *p, const char *fmt, ...)
{
    int n = snprintf(buf, len, "%s in body ", p->buf);
    if (n < 0 || (size_t)n >= len)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + n, len - (size_t)n, fmt, ap);
    va_end(ap);
}

static bool json_equal(const cJSON *a, const cJSON *b)
{
    if (cJSON_IsNumber(a) && cJSON_IsNumber(b))
        return a->valuedouble == b->valuedouble;
    return cJSON_Compare(a, b, true);
}

static bool valid_date_time(const char *s)
{
    /* RFC 3339 with a 'T' or space separator, as strfmt accepts. */
    size_t n = strlen(s);
    if (n < 20)
        return false;
    for (int i = 0; i < 19; i++) {
        bool want_digit = !(i == 4 || i == 7 || i == 10 || i == 13 || i == 16);
        if (want_digit && !isdigit((unsigned char)s[i]))
            return false;
    }
    if (s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        s[13] != ':' || s[16] != ':')
        return false;
    int mon = (s[5] - '0') * 10 + (s[6] - '0'), day = (s[8] - '0') * 10 + (s[9] - '0');
    int hh = (s[11] - '0') * 10 + (s[12] - '0'), mm = (s[14] - '0') * 10 + (s[15] - '0');
    int ss = (s[17] - '0') * 10 + (s[18] - '0');
    if (mon < 1 || mon > 12 || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60)
        return false;
    size_t i = 19;
    if (s[i] == '.') {
        i++;
        if (!isdigit((unsigned char)s[i]))
            return false;
        while (isdigit((unsigned char)s[i]))
            i++;
    }
    if (s[i] == 'Z' || s[i] == 'z')
        return s[i + 1] == '\0';
    if ((s[i] == '+' || s[i] == '-') && isdigit((unsigned char)s[i + 1]) &&
        isdigit((unsigned char)s[i + 2]) && s[i + 3] == ':' && isdigit((unsigned char)s[i + 4]) &&
        isdigit((unsigned char)s[i + 5]) && s[i + 6] == '\0')
        return true;
    return false;
}

static bool valid_date(const char *s)
{
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return false;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && !isdigit((unsigned char)s[i]))
            return false;
    int mon = (s[5] - '0') * 10 + (s[6] - '0'), day = (s[8] - '0') * 10 + (s[9] - '0');
    return mon >= 1 && mon <= 12 && day >= 1 && day <= 31;
}

static bool valid_uuid(const char *s)
{
    if (strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        } else if (!isxdigit((unsigned char)s[i])) {
            return false;
        }
    }
    return true;
}

static bool valid_ipv4(const char *s)
{
    int parts = 0;
    const char *p = s;
    while (*p) {
        if (!isdigit((unsigned char)*p))
            return false;
        int v = 0, digits = 0;
        while (isdigit((unsigned char)*p)) {
            v = v * 10 + (*p++ - '0');
            if (++digits > 3)
                return false;
        }
        if (v > 255)
            return false;
        parts++;
        if (*p == '.') {
            p++;
            if (!*p)
                return false;
        } else if (*p) {
            return false;
        }
    }
    return parts == 4;
}

static bool valid_byte(const char *s)
{
    size_t n = strlen(s), pad = 0;
    if (n % 4)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '=') {
            pad++;
            continue;
        }
        if (pad || !(isalnum((unsigned char)c) || c == '+' || c == '/'))
            return false;
    }
    return pad <= 2;
}

static bool valid_hostname(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 255)
        return false;
    size_t label = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '.') {
            if (label == 0 || s[i - 1] == '-')
                return false;
            label = 0;
            continue;
        }
        if (!(isalnum((unsigned char)c) || c == '-') || (label == 0 && c == '-') || ++label > 63)
            return false;
    }
    return s[n - 1] != '-';
}

/* Returns false when `v` violates `format` (unknown formats pass, as in strfmt). */
static bool format_ok(const char *format, const cJSON *v)
{
    if (!cJSON_IsString(v))
        return true;
    const char *s = v->valuestring;
    if (!strcmp(format, "date-time"))
        return valid_date_time(s);
    if (!strcmp(format, "date"))
        return valid_date(s);
    if (!strcmp(format, "uuid"))
        return valid_uuid(s);
    if (!strcmp(format, "ipv4"))
        return valid_ipv4(s);
    if (!strcmp(format, "byte"))
        return valid_byte(s);
    if (!strcmp(format, "hostname"))
        return valid_hostname(s);
    return true;
}

static void vadd(struct sim_field_errors *errs, enum sim_field_error_type t, const struct path *p,
                 const cJSON *value, const char *detail)
{
    add_err_json(errs, t, p->buf, value, detail);
}

static void validate_list_type(const cJSON *v, const cJSON *schema, struct path *p,
                               struct sim_field_errors *errs);

static void validate_value(const struct sim_schema *s, const cJSON *v, const cJSON *schema,
                           struct path *p, int depth, struct sim_field_errors *errs)
{
    char msg[BODY_MAX];
    if (!schema || depth > VALUE_MAX_DEPTH)
        return;
    const char *type = get_str(schema, "type");
    bool int_or_string = get_true(schema, "x-kubernetes-int-or-string");
    bool nullable = get_true(schema, "nullable");

    /* type (kube-openapi: null passes only when nullable) */
    if (!v || cJSON_IsNull(v)) {
        if ((type || int_or_string) && !nullable) {
            openapi_msg(msg, sizeof(msg), p, "must be of type %s: \"null\"",
                        int_or_string ? "integer,string" : type);
            add_err(errs, SIM_FE_TYPE_INVALID, p->buf, "\"null\"", msg);
        }
        return;
    }
    const char *vt = json_type_name(v);
    if (int_or_string) {
        if (strcmp(vt, "integer") && strcmp(vt, "string")) {
            openapi_msg(msg, sizeof(msg), p, "must be of type integer,string: \"%s\"", vt);
            add_err_str(errs, SIM_FE_TYPE_INVALID, p->buf, vt, msg);
            return;
        }
    } else if (type && strcmp(type, vt) && !(!strcmp(type, "number") && !strcmp(vt, "integer"))) {
        openapi_msg(msg, sizeof(msg), p, "must be of type %s: \"%s\"", type, vt);
        add_err_str(errs, SIM_FE_TYPE_INVALID, p->buf, vt, msg);
        return;
    }

    /* allOf / anyOf / oneOf / not (value validations only, in structural schemas) */
    const cJSON *allof = get(schema, "allOf");
    const cJSON *sub;
    cJSON_ArrayForEach(sub, allof) validate_value(s, v, sub, p, depth + 1, errs);
    const cJSON *anyof = get(schema, "anyOf");
    if (cJSON_IsArray(anyof) && cJSON_GetArraySize(anyof) > 0 && !int_or_string) {
        bool any = false;
        cJSON_ArrayForEach(sub, anyof)
        {
            struct sim_field_errors tmp;
            sim_field_errors_init(&tmp);
            validate_value(s, v, sub, p, depth + 1, &tmp);
            any |= tmp.n == 0;
            sim_field_errors_free(&tmp);
        }
        if (!any) {
            openapi_msg(msg, sizeof(msg), p, "must validate at least one schema (anyOf)");
            add_err(errs, SIM_FE_INVALID, p->buf, "\"\"", msg);
        }
    }
    const cJSON *oneof = get(schema, "oneOf");
    if (cJSON_IsArray(oneof) && cJSON_GetArraySize(oneof) > 0) {
        int ok = 0;
        cJSON_ArrayForEach(sub, oneof)
        {
            struct sim_field_errors tmp;
            sim_field_errors_init(&tmp);
            validate_value(s, v, sub, p, depth + 1, &tmp);
            ok += tmp.n == 0;
            sim_field_errors_free(&tmp);
        }
        if (ok != 1) {
            openapi_msg(msg, sizeof(msg), p, "must validate one and only one schema (oneOf)");
            add_err(errs, SIM_FE_INVALID, p->buf, "\"\"", msg);
        }
    }
    const cJSON *not = get(schema, "not");
    if (cJSON_IsObject(not )) {
        struct sim_field_errors tmp;
        sim_field_errors_init(&tmp);
        validate_value(s, v, not, p, depth + 1, &tmp);
        if (tmp.n == 0) {
            openapi_msg(msg, sizeof(msg), p, "must not validate the schema (not)");
            add_err(errs, SIM_FE_INVALID, p->buf, "\"\"", msg);
        }
        sim_field_errors_free(&tmp);
    }

    /* strings: maxLength, minLength, pattern (lengths in code points) */
    if (cJSON_IsString(v)) {
        size_t len = utf8_count(v->valuestring);
        const cJSON *maxl = get(schema, "maxLength"), *minl = get(schema, "minLength");
        if (cJSON_IsNumber(maxl) && (double)len > maxl->valuedouble) {
            snprintf(msg, sizeof(msg), "may not be longer than %lld", (long long)maxl->valuedouble);
            add_err(errs, SIM_FE_TOO_LONG, p->buf, NULL, msg);
        }
        if (cJSON_IsNumber(minl) && (double)len < minl->valuedouble) {
            openapi_msg(msg, sizeof(msg), p, "should be at least %lld chars long",
                        (long long)minl->valuedouble);
            vadd(errs, SIM_FE_INVALID, p, v, msg);
        }
        const char *pattern = get_str(schema, "pattern");
        if (pattern) {
            regex_t re;
            char rerr[256];
            if (sim_cel_regex_compile(pattern, &re, rerr, sizeof(rerr)) == 0) {
                if (regexec(&re, v->valuestring, 0, NULL, 0) != 0) {
                    openapi_msg(msg, sizeof(msg), p, "should match '%s'", pattern);
                    vadd(errs, SIM_FE_INVALID, p, v, msg);
                }
                regfree(&re);
            } else {
                add_err(errs, SIM_FE_INTERNAL, p->buf, NULL, rerr);
            }
        }
        const char *format = get_str(schema, "format");
        if (format && !format_ok(format, v)) {
            openapi_msg(msg, sizeof(msg), p, "must be of type %s: ", format);
            struct dstr d = {0};
            ds_puts(&d, msg);
            ds_go_quote(&d, v->valuestring);
            if (!d.oom)
                vadd(errs, SIM_FE_TYPE_INVALID, p, v, d.p);
            free(d.p);
        }
    }

    /* numbers: multipleOf, maximum, minimum */
    if (cJSON_IsNumber(v)) {
        char lim[64];
        const cJSON *mo = get(schema, "multipleOf");
        if (cJSON_IsNumber(mo) && mo->valuedouble > 0) {
            double q = v->valuedouble / mo->valuedouble;
            if (q != floor(q)) {
                openapi_msg(msg, sizeof(msg), p, "should be a multiple of %s",
                            sim_cel_format_double(mo->valuedouble, lim, sizeof(lim)));
                vadd(errs, SIM_FE_INVALID, p, v, msg);
            }
        }
        const cJSON *max = get(schema, "maximum"), *min = get(schema, "minimum");
        bool exmax = get_true(schema, "exclusiveMaximum"),
             exmin = get_true(schema, "exclusiveMinimum");
        if (cJSON_IsNumber(max) &&
            (exmax ? v->valuedouble >= max->valuedouble : v->valuedouble > max->valuedouble)) {
            openapi_msg(msg, sizeof(msg), p, "should be less than %s%s",
                        exmax ? "" : "or equal to ",
                        sim_cel_format_double(max->valuedouble, lim, sizeof(lim)));
            vadd(errs, SIM_FE_INVALID, p, v, msg);
        }
        if (cJSON_IsNumber(min) &&
            (exmin ? v->valuedouble <= min->valuedouble : v->valuedouble < min->valuedouble)) {
            openapi_msg(msg, sizeof(msg), p, "should be greater than %s%s",
                        exmin ? "" : "or equal to ",
                        sim_cel_format_double(min->valuedouble, lim, sizeof(lim)));
            vadd(errs, SIM_FE_INVALID, p, v, msg);
        }
    }

    /* arrays: minItems, maxItems */
    if (cJSON_IsArray(v)) {
        int n = cJSON_GetArraySize(v);
        const cJSON *mini = get(schema, "minItems"), *maxi = get(schema, "maxItems");
        if (cJSON_IsNumber(mini) && n < mini->valuedouble) {
            openapi_msg(msg, sizeof(msg), p, "should have at least %lld items",
                        (long long)mini->valuedouble);
            char cnt[32];
            snprintf(cnt, sizeof(cnt), "%d", n);
            add_err(errs, SIM_FE_INVALID, p->buf, cnt, msg);
        }
        if (cJSON_IsNumber(maxi) && n > maxi->valuedouble) {
            snprintf(msg, sizeof(msg), "must have at most %lld items",
                     (long long)maxi->valuedouble);
            char cnt[32];
            snprintf(cnt, sizeof(cnt), "%d", n);
            add_err(errs, SIM_FE_TOO_MANY, p->buf, cnt, msg);
        }
    }

    /* enum */
    const cJSON *en = get(schema, "enum");
    if (cJSON_IsArray(en) && cJSON_GetArraySize(en) > 0) {
        bool found = false;
        const cJSON *e;
        cJSON_ArrayForEach(e, en) found |= json_equal(e, v);
        if (!found) {
            struct dstr d = {0};
            ds_puts(&d, "supported values: ");
            bool first = true;
            cJSON_ArrayForEach(e, en)
            {
                if (!first)
                    ds_puts(&d, ", ");
                first = false;
                if (cJSON_IsString(e)) {
                    ds_go_quote(&d, e->valuestring);
                } else {
                    /* non-strings are JSON-marshalled, then quoted */
                    char *j = cJSON_PrintUnformatted(e);
                    if (j) {
                        ds_go_quote(&d, j);
                        free(j);
                    }
                }
            }
            if (!d.oom)
                vadd(errs, SIM_FE_NOT_SUPPORTED, p, v, d.p);
            free(d.p);
        }
    }

    /* objects: maxProperties, minProperties, required, properties */
    if (cJSON_IsObject(v)) {
        int n = cJSON_GetArraySize(v);
        const cJSON *maxp = get(schema, "maxProperties"), *minp = get(schema, "minProperties");
        if (cJSON_IsNumber(maxp) && n > maxp->valuedouble) {
            snprintf(msg, sizeof(msg), "must have at most %lld items",
                     (long long)maxp->valuedouble);
            char cnt[32];
            snprintf(cnt, sizeof(cnt), "%d", n);
            add_err(errs, SIM_FE_TOO_MANY, p->buf, cnt, msg);
        }
        if (cJSON_IsNumber(minp) && n < minp->valuedouble) {
            openapi_msg(msg, sizeof(msg), p, "should have at least %lld properties",
                        (long long)minp->valuedouble);
            char cnt[32];
            snprintf(cnt, sizeof(cnt), "%d", n);
            add_err(errs, SIM_FE_INVALID, p->buf, cnt, msg);
        }
        const cJSON *req = get(schema, "required");
        const cJSON *r;
        cJSON_ArrayForEach(r, req)
        {
            if (cJSON_IsString(r) && !get(v, r->valuestring)) {
                size_t saved = path_child(p, r->valuestring);
                add_err(errs, SIM_FE_REQUIRED, p->buf, NULL, "");
                path_pop(p, saved);
            }
        }
        const cJSON *props = get(schema, "properties");
        const cJSON *ap = get(schema, "additionalProperties");
        const cJSON *prop;
        cJSON_ArrayForEach(prop, props)
        {
            if (depth == 0 && s && prop == get(props, "metadata") && s->json == schema)
                continue; /* ObjectMeta is validated by the server itself */
            const cJSON *cv = get(v, prop->string);
            if (!cv)
                continue;
            size_t saved = path_child(p, prop->string);
            validate_value(s, cv, prop, p, depth + 1, errs);
            path_pop(p, saved);
        }
        if (cJSON_IsObject(ap)) {
            const cJSON *e;
            cJSON_ArrayForEach(e, v)
            {
                if (props && get(props, e->string))
                    continue;
                size_t saved = path_child(p, e->string);
                validate_value(s, e, ap, p, depth + 1, errs);
                path_pop(p, saved);
            }
        }
    }
    if (cJSON_IsArray(v)) {
        const cJSON *items = get(schema, "items");
        if (cJSON_IsObject(items)) {
            int i = 0;
            const cJSON *e;
            cJSON_ArrayForEach(e, v)
            {
                size_t saved = path_push(p, "[%d]", i++);
                validate_value(s, e, items, p, depth + 1, errs);
                path_pop(p, saved);
            }
        }
    }
    (void)validate_list_type;
}

/* ---- x-kubernetes-list-type invariants (structurallisttype), after the OpenAPI pass */

static void list_types_walk(const cJSON *v, const cJSON *schema, struct path *p, int depth,
                            struct sim_field_errors *errs)
{
    if (!schema || !v || depth > VALUE_MAX_DEPTH)
        return;
    if (cJSON_IsArray(v)) {
        validate_list_type(v, schema, p, errs);
        const cJSON *items = get(schema, "items");
        int i = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, v)
        {
            size_t saved = path_push(p, "[%d]", i++);
            list_types_walk(e, items, p, depth + 1, errs);
            path_pop(p, saved);
        }
    } else if (cJSON_IsObject(v)) {
        const cJSON *e;
        cJSON_ArrayForEach(e, v)
        {
            const cJSON *cs = child_schema(schema, e->string);
            if (!cs)
                continue;
            size_t saved = path_child(p, e->string);
            list_types_walk(e, cs, p, depth + 1, errs);
            path_pop(p, saved);
        }
    }
}

static void validate_list_type(const cJSON *v, const cJSON *schema, struct path *p,
                               struct sim_field_errors *errs)
{
    const char *lt = get_str(schema, "x-kubernetes-list-type");
    if (!lt || (strcmp(lt, "set") && strcmp(lt, "map")))
        return;
    int n = cJSON_GetArraySize(v);
    if (!strcmp(lt, "map")) {
        const cJSON *keys = get(schema, "x-kubernetes-list-map-keys");
        int i = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, v)
        {
            if (!cJSON_IsNull(e) && !cJSON_IsObject(e)) {
                size_t saved = path_push(p, "[%d]", i);
                vadd(errs, SIM_FE_INVALID, p, e, "must be an object for an array of list-type map");
                path_pop(p, saved);
                return;
            }
            i++;
        }
        /* The key object of each item: the list-map-key fields it has. */
        cJSON **kv = calloc((size_t)(n ? n : 1), sizeof(*kv));
        if (!kv)
            return;
        i = 0;
        cJSON_ArrayForEach(e, v)
        {
            kv[i] = cJSON_CreateObject();
            const cJSON *k;
            cJSON_ArrayForEach(k, keys)
            {
                const cJSON *x = cJSON_IsString(k) ? get(e, k->valuestring) : NULL;
                if (x && kv[i])
                    cJSON_AddItemToObject(kv[i], k->valuestring, cJSON_Duplicate(x, true));
            }
            i++;
        }
        for (i = 0; i < n; i++) {
            int times = 0;
            for (int k = 0; k < i; k++)
                if (kv[i] && kv[k] && cJSON_Compare(kv[i], kv[k], true))
                    times++;
            /* Reported once per repeated key, at its first repetition (as the server does). */
            if (times == 1) {
                bool earlier = false;
                for (int k = 0; k < i && !earlier; k++) {
                    int t2 = 0;
                    for (int m = 0; m < k; m++)
                        if (kv[k] && kv[m] && cJSON_Compare(kv[k], kv[m], true))
                            t2++;
                    earlier = t2 == 1 && cJSON_Compare(kv[k], kv[i], true);
                }
                if (!earlier) {
                    size_t saved = path_push(p, "[%d]", i);
                    struct dstr d = {0};
                    ds_go_sharp_v(&d, kv[i], 0);
                    if (!d.oom)
                        add_err(errs, SIM_FE_DUPLICATE, p->buf, d.p, NULL);
                    free(d.p);
                    path_pop(p, saved);
                }
            }
        }
        for (i = 0; i < n; i++)
            cJSON_Delete(kv[i]);
        free(kv);
        return;
    }
    /* set: each value at most once */
    const cJSON *e;
    int i = 0;
    cJSON_ArrayForEach(e, v)
    {
        int times = 0;
        int k = 0;
        const cJSON *x;
        cJSON_ArrayForEach(x, v)
        {
            if (k++ >= i)
                break;
            if (json_equal(x, e))
                times++;
        }
        bool reported_before = false;
        if (times == 1) {
            /* only the second occurrence is reported */
            int seen = 0;
            k = 0;
            cJSON_ArrayForEach(x, v)
            {
                if (k++ >= i)
                    break;
                if (json_equal(x, e))
                    seen++;
            }
            reported_before = seen != 1;
        }
        if (times == 1 && !reported_before) {
            size_t saved = path_push(p, "[%d]", i);
            vadd(errs, SIM_FE_DUPLICATE, p, e, NULL);
            path_pop(p, saved);
        }
        i++;
    }
}

/* ---- CEL rules */

static const cJSON *find_list_map_item(const cJSON *old_list, const cJSON *item, const cJSON *keys)
{
    const cJSON *o;
    cJSON_ArrayForEach(o, old_list)
    {
        bool same = cJSON_IsObject(o);
        const cJSON *k;
        cJSON_ArrayForEach(k, keys)
        {
            if (!same || !cJSON_IsString(k))
                break;
            const cJSON *a = get(item, k->valuestring), *b = get(o, k->valuestring);
            same = (!a && !b) || (a && b && json_equal(a, b));
        }
        if (same)
            return o;
    }
    return NULL;
}

static void eval_rules(const struct node_rules *nr, const cJSON *v, const cJSON *old,
                       const cJSON *schema, struct path *p, struct sim_field_errors *errs)
{
    const char *type = get_str(schema, "type");
    struct dstr tv = {0};
    ds_go_quote(&tv, type ? type : "");
    for (size_t i = 0; i < nr->n; i++) {
        const struct rule *r = &nr->rules[i];
        if (!r->prog)
            continue;
        bool transition = sim_cel_program_uses_old_self(r->prog);
        if (transition && !old)
            continue; /* transition rules run only when an old value correlates */
        char err[SIM_CEL_ERR_MAX];
        bool ok = false;
        int rc =
            sim_cel_eval_bool(r->prog, v, transition ? old : NULL, schema, &ok, err, sizeof(err));
        const char *rule_text = r->message && r->message[0] ? r->message : r->rule_src;
        if (rc != 0) {
            char detail[BODY_MAX];
            if (!strncmp(err, "no such overload", 16))
                snprintf(detail, sizeof(detail),
                         "'%s': call arguments did not match a supported operator, function or "
                         "macro signature for rule: %s",
                         err, rule_text);
            else
                snprintf(detail, sizeof(detail), "%s evaluating rule: %s", err, rule_text);
            add_err(errs, SIM_FE_INVALID, p->buf, tv.p, detail);
            continue;
        }
        if (ok)
            continue;
        char *msg_expr = NULL;
        if (r->msg_prog) {
            char merr[SIM_CEL_ERR_MAX];
            if (sim_cel_eval_string(r->msg_prog, v, transition ? old : NULL, schema, &msg_expr,
                                    merr, sizeof(merr)) != 0) {
                msg_expr = NULL;
            } else {
                /* trimmed; empty or multi-line results fall back to message */
                char *b = msg_expr;
                while (isspace((unsigned char)*b))
                    b++;
                size_t l = strlen(b);
                while (l > 0 && isspace((unsigned char)b[l - 1]))
                    b[--l] = '\0';
                memmove(msg_expr, b, l + 1);
                if (l == 0 || strchr(msg_expr, '\n')) {
                    free(msg_expr);
                    msg_expr = NULL;
                }
            }
        }
        char detail[BODY_MAX];
        if (msg_expr)
            snprintf(detail, sizeof(detail), "%s", msg_expr);
        else if (r->message && r->message[0])
            snprintf(detail, sizeof(detail), "%s", r->message);
        else
            snprintf(detail, sizeof(detail), "failed rule: %s", r->rule_src);
        free(msg_expr);
        size_t saved = p->len;
        if (r->field_path && r->field_path[0]) {
            /* ".spec.x" / "['a'].b" -> appended as one child, like NormalizedRuleFieldPath */
            char norm[PATH_MAX_LEN];
            size_t o = 0;
            for (const char *q = r->field_path; *q && o < sizeof(norm) - 1; q++) {
                if (q == r->field_path && *q == '.')
                    continue;
                if (q[0] == '[' && q[1] == '\'') {
                    if (o && o < sizeof(norm) - 1)
                        norm[o++] = '.';
                    q += 1;
                    continue;
                }
                if (q[0] == '\'' && q[1] == ']') {
                    q += 1;
                    continue;
                }
                norm[o++] = *q;
            }
            norm[o] = '\0';
            path_child(p, norm);
        }
        enum sim_field_error_type t = SIM_FE_INVALID;
        if (r->reason && !strcmp(r->reason, "FieldValueForbidden"))
            t = SIM_FE_FORBIDDEN;
        else if (r->reason && !strcmp(r->reason, "FieldValueRequired"))
            t = SIM_FE_REQUIRED;
        else if (r->reason && !strcmp(r->reason, "FieldValueDuplicate"))
            t = SIM_FE_DUPLICATE;
        add_err(errs, t, p->buf, tv.p, t == SIM_FE_DUPLICATE ? NULL : detail);
        path_pop(p, saved);
    }
    free(tv.p);
}

static void cel_walk(const struct sim_schema *s, const cJSON *v, const cJSON *old,
                     const cJSON *schema, struct path *p, int depth, bool is_root,
                     struct sim_field_errors *errs)
{
    if (!schema || !v || cJSON_IsNull(v) || depth > VALUE_MAX_DEPTH)
        return;
    const struct node_rules *nr = find_rules(s, schema);
    if (nr)
        eval_rules(nr, v, old, schema, p, errs);
    if (cJSON_IsObject(v)) {
        const cJSON *props = get(schema, "properties");
        const cJSON *ap = get(schema, "additionalProperties");
        const cJSON *e;
        cJSON_ArrayForEach(e, v)
        {
            if (is_root && !strcmp(e->string, "metadata"))
                continue;
            const cJSON *cs = props ? get(props, e->string) : NULL;
            if (!cs && cJSON_IsObject(ap))
                cs = ap;
            if (!cs)
                continue;
            const cJSON *ov = cJSON_IsObject(old) ? get(old, e->string) : NULL;
            size_t saved = cs == ap && (!props || !get(props, e->string))
                               ? path_push(p, "[%s]", e->string)
                               : path_child(p, e->string);
            cel_walk(s, e, ov, cs, p, depth + 1, false, errs);
            path_pop(p, saved);
        }
    } else if (cJSON_IsArray(v)) {
        const cJSON *items = get(schema, "items");
        const char *lt = get_str(schema, "x-kubernetes-list-type");
        bool is_map = lt && !strcmp(lt, "map");
        const cJSON *keys = get(schema, "x-kubernetes-list-map-keys");
        int i = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, v)
        {
            const cJSON *ov =
                is_map && cJSON_IsArray(old) ? find_list_map_item(old, e, keys) : NULL;
            size_t saved = path_push(p, "[%d]", i++);
            cel_walk(s, e, ov, items, p, depth + 1, false, errs);
            path_pop(p, saved);
        }
    }
}

int sim_schema_validate(const struct sim_schema *s, const cJSON *obj, const cJSON *old,
                        struct sim_field_errors *errs)
{
    if (!s || !obj || !errs)
        return SIM_SCHEMA_EARG;
    size_t before = errs->n;
    struct path p = {.len = 0};
    p.buf[0] = '\0';
    validate_value(s, obj, s->json, &p, 0, errs);
    list_types_walk(obj, s->json, &p, 0, errs);
    bool blocking = false;
    for (size_t i = before; i < errs->n; i++) {
        enum sim_field_error_type t = errs->items[i].type;
        blocking |= t == SIM_FE_NOT_SUPPORTED || t == SIM_FE_REQUIRED || t == SIM_FE_TOO_LONG ||
                    t == SIM_FE_TOO_MANY || t == SIM_FE_TYPE_INVALID;
    }
    if (blocking) {
        add_err(errs, SIM_FE_INVALID, "", "\"null\"",
                "some validation rules were not checked because the object was invalid; "
                "correct the existing errors to complete validation");
    } else if (s->nnodes > 0) {
        cel_walk(s, obj, old, s->json, &p, 0, true, errs);
    }
    return errs->n > before ? SIM_SCHEMA_EINVALID : SIM_SCHEMA_OK;
}
