/*
 * Label and field selector parsing and matching (see sim_select.h). The
 * label grammar is that of k8s.io/apimachinery/pkg/labels:
 *   requirement := ["!"] key [("=" | "==" | "!=") value
 *                            | ("in" | "notin") "(" values ")"
 *                            | (">" | "<") integer]
 * with requirements separated by commas (commas inside a set belong to it).
 */
#include "sim_select.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_util.h"

enum lop { L_EXISTS, L_NOTEXISTS, L_EQ, L_NEQ, L_IN, L_NOTIN, L_GT, L_LT };

struct lreq {
    enum lop op;
    char *key;
    char **vals;
    size_t nvals;
};

struct sim_labelsel {
    struct lreq *r;
    size_t n, cap;
};

enum tok {
    T_END,
    T_ID,
    T_EQ,  /* = or == */
    T_NEQ, /* != */
    T_NOT, /* ! */
    T_IN,
    T_NOTIN,
    T_LP,
    T_RP,
    T_COMMA,
    T_GT,
    T_LT,
};

struct lexer {
    const char *p;
    char id[512];
};

static int is_special(char c)
{
    return c == '=' || c == '!' || c == '(' || c == ')' || c == ',' || c == '<' || c == '>' ||
           isspace((unsigned char)c);
}

static enum tok lex(struct lexer *lx)
{
    size_t n = 0;
    while (isspace((unsigned char)*lx->p))
        lx->p++;
    lx->id[0] = '\0';
    switch (*lx->p) {
    case '\0':
        return T_END;
    case '(':
        lx->p++;
        return T_LP;
    case ')':
        lx->p++;
        return T_RP;
    case ',':
        lx->p++;
        return T_COMMA;
    case '>':
        lx->p++;
        return T_GT;
    case '<':
        lx->p++;
        return T_LT;
    case '=':
        lx->p += lx->p[1] == '=' ? 2 : 1;
        return T_EQ;
    case '!':
        if (lx->p[1] == '=') {
            lx->p += 2;
            return T_NEQ;
        }
        lx->p++;
        return T_NOT;
    default:
        break;
    }
    while (*lx->p && !is_special(*lx->p) && n + 1 < sizeof(lx->id))
        lx->id[n++] = *lx->p++;
    lx->id[n] = '\0';
    if (strcmp(lx->id, "in") == 0)
        return T_IN;
    if (strcmp(lx->id, "notin") == 0)
        return T_NOTIN;
    return T_ID;
}

static enum tok peek(struct lexer *lx)
{
    struct lexer copy = *lx;
    return lex(&copy);
}

static void lreq_free(struct lreq *r)
{
    free(r->key);
    for (size_t i = 0; i < r->nvals; i++)
        free(r->vals[i]);
    free(r->vals);
}

void sim_labelsel_free(struct sim_labelsel *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        lreq_free(&s->r[i]);
    free(s->r);
    free(s);
}

static int add_val(struct lreq *r, const char *v)
{
    char **nv = realloc(r->vals, (r->nvals + 1) * sizeof(*nv));
    if (!nv)
        return -1;
    r->vals = nv;
    if (!(r->vals[r->nvals] = strdup(v)))
        return -1;
    r->nvals++;
    return 0;
}

static struct lreq *add_req(struct sim_labelsel *s, enum lop op, const char *key)
{
    struct lreq *r;
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 4;
        struct lreq *nr = realloc(s->r, nc * sizeof(*nr));
        if (!nr)
            return NULL;
        s->r = nr;
        s->cap = nc;
    }
    r = &s->r[s->n];
    memset(r, 0, sizeof(*r));
    r->op = op;
    if (!(r->key = strdup(key)))
        return NULL;
    s->n++;
    return r;
}

/* A label value: empty, or up to 63 alphanumerics, '-', '_' or '.', starting
 * and ending with an alphanumeric (k8s.io/apimachinery validation). */
static int valid_label_value(const char *v)
{
    size_t n = strlen(v);
    if (n == 0)
        return 1;
    if (n > 63 || !isalnum((unsigned char)v[0]) || !isalnum((unsigned char)v[n - 1]))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)v[i]) && v[i] != '-' && v[i] != '_' && v[i] != '.')
            return 0;
    return 1;
}

static const char *tok_text(enum tok t, const struct lexer *lx)
{
    switch (t) {
    case T_END:
        return "";
    case T_EQ:
        return "=";
    case T_NEQ:
        return "!=";
    case T_NOT:
        return "!";
    case T_LP:
        return "(";
    case T_RP:
        return ")";
    case T_COMMA:
        return ",";
    case T_GT:
        return ">";
    case T_LT:
        return "<";
    default:
        return lx->id;
    }
}

int sim_labelsel_parse(const char *text, struct sim_labelsel **out, char *err, size_t cap)
{
    struct sim_labelsel *s = calloc(1, sizeof(*s));
    struct lexer lx;
    enum tok t;
    *out = NULL;
    if (!s) {
        snprintf(err, cap, "out of memory");
        return -1;
    }
    lx.p = text ? text : "";
    if (peek(&lx) == T_END) {
        *out = s;
        return 0;
    }
    for (;;) {
        char key[512];
        struct lreq *r;
        int negate = 0;
        t = lex(&lx);
        if (t == T_NOT) {
            negate = 1;
            t = lex(&lx);
        }
        if (t != T_ID) {
            snprintf(err, cap, "unable to parse requirement: found '%s', expected: identifier",
                     tok_text(t, &lx));
            goto fail;
        }
        sim_strlcpy(key, lx.id, sizeof(key));
        t = peek(&lx);
        if (negate || t == T_END || t == T_COMMA) {
            if (negate && t != T_END && t != T_COMMA) {
                lex(&lx);
                snprintf(err, cap,
                         "unable to parse requirement: found '%s', expected: ',' or 'end of "
                         "string'",
                         tok_text(t, &lx));
                goto fail;
            }
            if (!add_req(s, negate ? L_NOTEXISTS : L_EXISTS, key))
                goto oom;
        } else if (t == T_EQ || t == T_NEQ || t == T_GT || t == T_LT) {
            enum tok vt;
            lex(&lx);
            vt = lex(&lx);
            if (vt != T_ID && !(vt == T_END || vt == T_COMMA)) {
                snprintf(err, cap, "unable to parse requirement: found '%s', expected: identifier",
                         tok_text(vt, &lx));
                goto fail;
            }
            if (vt != T_ID) {
                /* "key=" selects the empty value. */
                lx.id[0] = '\0';
                if (vt == T_COMMA)
                    lx.p--;
            }
            if (t == T_GT || t == T_LT) {
                char *end;
                errno = 0;
                strtol(lx.id, &end, 10);
                if (!*lx.id || *end || errno) {
                    snprintf(err, cap,
                             "unable to parse requirement: for 'Gt', 'Lt' operators, the value "
                             "must be an integer");
                    goto fail;
                }
            } else if (!valid_label_value(lx.id)) {
                snprintf(err, cap,
                         "unable to parse requirement: values[0][%s]: Invalid value: \"%s\": a "
                         "valid label must be an empty string or consist of alphanumeric "
                         "characters, '-', '_' or '.', and must start and end with an "
                         "alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
                         "'12345', regex used for validation is "
                         "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
                         key, lx.id);
                goto fail;
            }
            r = add_req(s, t == T_EQ ? L_EQ : t == T_NEQ ? L_NEQ : t == T_GT ? L_GT : L_LT, key);
            if (!r || add_val(r, lx.id) != 0)
                goto oom;
        } else if (t == T_IN || t == T_NOTIN) {
            lex(&lx);
            r = add_req(s, t == T_IN ? L_IN : L_NOTIN, key);
            if (!r)
                goto oom;
            if (lex(&lx) != T_LP) {
                snprintf(err, cap, "unable to parse requirement: found '%s', expected: '('", lx.id);
                goto fail;
            }
            for (;;) {
                enum tok vt = lex(&lx);
                if (vt == T_RP && r->nvals == 0)
                    break;
                if (vt == T_ID) {
                    if (add_val(r, lx.id) != 0)
                        goto oom;
                    vt = lex(&lx);
                } else if (vt == T_COMMA || vt == T_RP) {
                    if (add_val(r, "") != 0)
                        goto oom;
                }
                if (vt == T_RP)
                    break;
                if (vt != T_COMMA) {
                    snprintf(err, cap,
                             "unable to parse requirement: found '%s', expected: ',', ')' or "
                             "identifier",
                             tok_text(vt, &lx));
                    goto fail;
                }
            }
            if (r->nvals == 0) {
                snprintf(err, cap,
                         "unable to parse requirement: values: Invalid value: []string{}: for "
                         "'in', 'notin' operators, values set can't be empty");
                goto fail;
            }
        } else {
            lex(&lx);
            snprintf(err, cap,
                     "unable to parse requirement: found '%s', expected: in, notin, =, ==, !=, "
                     "gt, lt",
                     tok_text(t, &lx));
            goto fail;
        }
        t = lex(&lx);
        if (t == T_END)
            break;
        if (t != T_COMMA) {
            snprintf(err, cap, "found '%s', expected: ',' or 'end of string'", tok_text(t, &lx));
            goto fail;
        }
    }
    *out = s;
    return 0;
oom:
    snprintf(err, cap, "out of memory");
fail:
    sim_labelsel_free(s);
    return -1;
}

static const char *label_of(const cJSON *labels, const char *key)
{
    const cJSON *v = cJSON_IsObject(labels) ? cJSON_GetObjectItemCaseSensitive(labels, key) : NULL;
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int sim_labelsel_match(const struct sim_labelsel *s, const cJSON *labels)
{
    if (!s)
        return 1;
    for (size_t i = 0; i < s->n; i++) {
        const struct lreq *r = &s->r[i];
        const char *v = label_of(labels, r->key);
        int in = 0;
        switch (r->op) {
        case L_EXISTS:
            if (!v)
                return 0;
            break;
        case L_NOTEXISTS:
            if (v)
                return 0;
            break;
        case L_EQ:
        case L_IN:
            if (!v)
                return 0;
            for (size_t j = 0; j < r->nvals; j++)
                in |= strcmp(v, r->vals[j]) == 0;
            if (!in)
                return 0;
            break;
        case L_NEQ:
        case L_NOTIN:
            if (!v)
                break;
            for (size_t j = 0; j < r->nvals; j++)
                in |= strcmp(v, r->vals[j]) == 0;
            if (in)
                return 0;
            break;
        case L_GT:
        case L_LT: {
            char *end;
            long lv, rv;
            if (!v)
                return 0;
            errno = 0;
            lv = strtol(v, &end, 10);
            if (*end || errno || !*v)
                return 0;
            rv = strtol(r->vals[0], NULL, 10);
            if (r->op == L_GT ? !(lv > rv) : !(lv < rv))
                return 0;
            break;
        }
        }
    }
    return 1;
}

int sim_labelsel_from_object(const cJSON *sel, struct sim_labelsel **out, char *err, size_t cap)
{
    struct sim_labelsel *s = calloc(1, sizeof(*s));
    const cJSON *ml = sim_jget(sel, "matchLabels", NULL);
    const cJSON *me = sim_jget(sel, "matchExpressions", NULL);
    const cJSON *it;
    *out = NULL;
    if (!s)
        return -1;
    cJSON_ArrayForEach(it, ml)
    {
        struct lreq *r;
        if (!cJSON_IsString(it))
            continue;
        r = add_req(s, L_EQ, it->string);
        if (!r || add_val(r, it->valuestring) != 0)
            goto fail;
    }
    cJSON_ArrayForEach(it, me)
    {
        const char *key = sim_jstr(it, "key", NULL);
        const char *op = sim_jstr(it, "operator", NULL);
        const cJSON *vals = sim_jget(it, "values", NULL), *v;
        enum lop lop;
        struct lreq *r;
        if (!key || !op) {
            snprintf(err, cap, "invalid matchExpressions entry");
            goto fail;
        }
        if (strcmp(op, "In") == 0)
            lop = L_IN;
        else if (strcmp(op, "NotIn") == 0)
            lop = L_NOTIN;
        else if (strcmp(op, "Exists") == 0)
            lop = L_EXISTS;
        else if (strcmp(op, "DoesNotExist") == 0)
            lop = L_NOTEXISTS;
        else {
            snprintf(err, cap, "\"%s\" is not a valid label selector operator", op);
            goto fail;
        }
        r = add_req(s, lop, key);
        if (!r)
            goto fail;
        cJSON_ArrayForEach(v, vals)
        {
            if (cJSON_IsString(v) && add_val(r, v->valuestring) != 0)
                goto fail;
        }
    }
    *out = s;
    return 0;
fail:
    sim_labelsel_free(s);
    return -1;
}

/* ---- field selectors ---- */

struct freq {
    char *field;
    char *value;
    int neq;
};

struct sim_fieldsel {
    struct freq *r;
    size_t n;
};

void sim_fieldsel_free(struct sim_fieldsel *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++) {
        free(s->r[i].field);
        free(s->r[i].value);
    }
    free(s->r);
    free(s);
}

/* Splits on unescaped commas; unescapes \, \= \\ in values. */
int sim_fieldsel_parse(const char *text, struct sim_fieldsel **out, char *err, size_t cap)
{
    struct sim_fieldsel *s = calloc(1, sizeof(*s));
    const char *p = text ? text : "";
    *out = NULL;
    if (!s)
        return -1;
    while (*p) {
        char term[4096];
        size_t n = 0;
        char *op, *val, *w;
        struct freq *nr;
        int neq = 0;
        while (*p && *p != ',' && n + 1 < sizeof(term)) {
            if (*p == '\\' && p[1]) {
                term[n++] = *p++;
            }
            term[n++] = *p++;
        }
        term[n] = '\0';
        if (*p == ',')
            p++;
        if (n == 0)
            continue;
        /* Find the operator: the first unescaped "!=", "==" or "=". */
        op = NULL;
        for (char *q = term; *q; q++) {
            if (*q == '\\' && q[1]) {
                q++;
                continue;
            }
            if (*q == '!' && q[1] == '=') {
                op = q;
                neq = 1;
                break;
            }
            if (*q == '=') {
                op = q;
                break;
            }
        }
        if (!op) {
            snprintf(err, cap, "invalid selector: '%s'; can't understand '%s'", text, term);
            sim_fieldsel_free(s);
            return -1;
        }
        *op = '\0';
        val = op + (neq ? 2 : (op[1] == '=' ? 2 : 1));
        /* Unescape the value in place. */
        w = val;
        for (char *q = val; *q; q++) {
            if (*q == '\\' && q[1])
                q++;
            *w++ = *q;
        }
        *w = '\0';
        nr = realloc(s->r, (s->n + 1) * sizeof(*nr));
        if (!nr) {
            sim_fieldsel_free(s);
            return -1;
        }
        s->r = nr;
        s->r[s->n].field = strdup(term);
        s->r[s->n].value = strdup(val);
        s->r[s->n].neq = neq;
        s->n++;
        if (!s->r[s->n - 1].field || !s->r[s->n - 1].value) {
            sim_fieldsel_free(s);
            return -1;
        }
    }
    *out = s;
    return 0;
}

size_t sim_fieldsel_count(const struct sim_fieldsel *s)
{
    return s ? s->n : 0;
}

const char *sim_fieldsel_field(const struct sim_fieldsel *s, size_t i)
{
    return s && i < s->n ? s->r[i].field : NULL;
}

int sim_fieldsel_rename(struct sim_fieldsel *s, size_t i, const char *field)
{
    char *f;
    if (!s || i >= s->n || !(f = strdup(field)))
        return -1;
    free(s->r[i].field);
    s->r[i].field = f;
    return 0;
}

const char *sim_fieldsel_value(const struct sim_fieldsel *s, const char *field)
{
    for (size_t i = 0; s && i < s->n; i++)
        if (!s->r[i].neq && strcmp(s->r[i].field, field) == 0)
            return s->r[i].value;
    return NULL;
}

void sim_field_text(const cJSON *obj, const char *path, char *buf, size_t cap)
{
    char part[256];
    const cJSON *cur = obj;
    const char *p = path;
    buf[0] = '\0';
    while (cur && *p) {
        size_t n = 0;
        while (*p && *p != '.' && n + 1 < sizeof(part))
            part[n++] = *p++;
        part[n] = '\0';
        if (*p == '.')
            p++;
        cur = cJSON_IsObject(cur) ? cJSON_GetObjectItemCaseSensitive(cur, part) : NULL;
    }
    if (!cur)
        return;
    if (cJSON_IsString(cur))
        sim_strlcpy(buf, cur->valuestring, cap);
    else if (cJSON_IsBool(cur))
        sim_strlcpy(buf, cJSON_IsTrue(cur) ? "true" : "false", cap);
    else if (cJSON_IsNumber(cur))
        snprintf(buf, cap, "%.17g", cur->valuedouble);
}

int sim_fieldsel_match(const struct sim_fieldsel *s, const cJSON *obj)
{
    char buf[4096];
    for (size_t i = 0; s && i < s->n; i++) {
        int eq;
        sim_field_text(obj, s->r[i].field, buf, sizeof(buf));
        eq = strcmp(buf, s->r[i].value) == 0;
        if (s->r[i].neq ? eq : !eq)
            return 0;
    }
    return 1;
}
