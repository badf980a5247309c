/*
 * Label selectors (see k8s_selector.h).
 *
 * Internals: the text is first cut into tokens (identifiers, and the symbols
 * = == != ! ( ) , > < taken greedily), then a recursive-descent parser walks
 * the token array with one token of lookahead, as apimachinery's does, so
 * that the same input fails at the same token with the same words. "in" and
 * "notin" are scanned as keywords and turned back into identifiers wherever
 * a value is expected. Each requirement keeps its values sorted and without
 * duplicates (the server's sets.String), which makes matching a short scan
 * and the canonical string deterministic.
 */
#include "k8s_selector.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8s_buf.h"

/* Longest selector text accepted (the server has no explicit limit; a URL
 * is capped well below this anyway). */
#define MAX_SELECTOR_TEXT (64 * 1024)

enum op { OP_EXISTS, OP_NOT_EXISTS, OP_EQ, OP_DEQ, OP_NEQ, OP_IN, OP_NOTIN, OP_GT, OP_LT };

struct req {
    char *key;
    enum op op;
    char **vals; /* sorted, unique */
    size_t nvals;
};

struct k8s_selector {
    int nothing; /* a null metav1.LabelSelector: matches no object */
    struct req *reqs;
    size_t nreqs;
};

/* ---- messages: apimachinery's validation wording --------------------------- */

#define QNAME_MSG                                                                                  \
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "    \
    "alphanumeric character"
#define QNAME_FMT      "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
#define QNAME_EXAMPLES "(e.g. 'MyName',  or 'my.name',  or '123-abc', "
#define LVALUE_MSG                                                                                 \
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "    \
    "'.', and must start and end with an alphanumeric character"
#define LVALUE_FMT      "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?"
#define LVALUE_EXAMPLES "(e.g. 'MyValue',  or 'my_value',  or '12345', "
#define DNS1123_MSG                                                                                \
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "   \
    "'.', and must start and end with an alphanumeric character"
#define DNS1123_FMT "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"

static int is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9] on s[0..n) */
static int match_qname(const char *s, size_t n)
{
    if (n == 0 || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
        return 0;
    for (size_t i = 1; i + 1 < n; i++)
        if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
            return 0;
    return 1;
}

static int is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* DNS1123_FMT on s[0..n): dot-separated labels [a-z0-9]([-a-z0-9]*[a-z0-9])? */
static int match_dns1123_subdomain(const char *s, size_t n)
{
    size_t start = 0;
    if (n == 0)
        return 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '.')
            continue;
        if (i == start || !is_lower_alnum(s[start]) || !is_lower_alnum(s[i - 1]))
            return 0;
        for (size_t j = start; j < i; j++)
            if (!is_lower_alnum(s[j]) && s[j] != '-')
                return 0;
        start = i + 1;
    }
    return 1;
}

/* Appends "; " between the messages of one field error. */
static void sep(struct k8s_buf *b, int *n)
{
    if ((*n)++)
        k8s_buf_append(b, "; ", 2);
}

/* content.IsLabelKey's messages for `k` (nothing appended when valid).
 * Returns how many it appended. */
static int label_key_errors(const char *k, struct k8s_buf *b)
{
    int n = 0;
    const char *slash = strchr(k, '/');
    const char *name = k;
    if (slash && strchr(slash + 1, '/')) {
        k8s_buf_appendf(b, "a qualified name " QNAME_MSG " " QNAME_EXAMPLES
                           "regex used for validation is '" QNAME_FMT
                           "') with an optional DNS subdomain prefix and '/' (e.g. "
                           "'example.com/MyName')");
        return 1;
    }
    if (slash) {
        size_t plen = (size_t)(slash - k);
        name = slash + 1;
        if (plen == 0) {
            sep(b, &n);
            k8s_buf_appendf(b, "prefix part must be non-empty");
        } else {
            if (plen > 253) {
                sep(b, &n);
                k8s_buf_appendf(b, "prefix part must be no more than 253 characters");
            }
            if (!match_dns1123_subdomain(k, plen)) {
                sep(b, &n);
                k8s_buf_appendf(
                    b, "prefix part " DNS1123_MSG
                       " (e.g. 'example.com', regex used for validation is '" DNS1123_FMT "')");
            }
        }
    }
    if (!*name) {
        sep(b, &n);
        k8s_buf_appendf(b, "name part must be non-empty");
    } else if (strlen(name) > 63) {
        sep(b, &n);
        k8s_buf_appendf(b, "name part must be no more than 63 characters");
    }
    if (!match_qname(name, strlen(name))) {
        sep(b, &n);
        k8s_buf_appendf(b, "name part " QNAME_MSG " " QNAME_EXAMPLES
                           "regex used for validation is '" QNAME_FMT "')");
    }
    return n;
}

static int label_value_errors(const char *v, struct k8s_buf *b)
{
    int n = 0;
    size_t len = strlen(v);
    if (len > 63) {
        sep(b, &n);
        k8s_buf_appendf(b, "must be no more than 63 characters");
    }
    if (len > 0 && !match_qname(v, len)) {
        sep(b, &n);
        k8s_buf_appendf(b, LVALUE_MSG " " LVALUE_EXAMPLES
                                      "regex used for validation is '" LVALUE_FMT "')");
    }
    return n;
}

/* ---- requirements --------------------------------------------------------- */

static void req_clear(struct req *r)
{
    free(r->key);
    for (size_t i = 0; i < r->nvals; i++)
        free(r->vals[i]);
    free(r->vals);
    memset(r, 0, sizeof(*r));
}

void k8s_selector_free(struct k8s_selector *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nreqs; i++)
        req_clear(&s->reqs[i]);
    free(s->reqs);
    free(s);
}

/* Inserts v into the sorted, unique value set. */
static int req_add_value(struct req *r, const char *v, size_t len)
{
    size_t lo = 0, hi = r->nvals;
    char *copy = strndup(v, len);
    char **n;
    if (!copy)
        return K8S_ENOMEM;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(r->vals[mid], copy);
        if (c == 0) {
            free(copy);
            return 0;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    n = realloc(r->vals, (r->nvals + 1) * sizeof(*n));
    if (!n) {
        free(copy);
        return K8S_ENOMEM;
    }
    r->vals = n;
    memmove(&r->vals[lo + 1], &r->vals[lo], (r->nvals - lo) * sizeof(*n));
    r->vals[lo] = copy;
    r->nvals++;
    return 0;
}

static int parse_int64(const char *s, long long *out)
{
    char *end;
    if (!*s)
        return -1;
    errno = 0;
    *out = strtoll(s, &end, 10);
    return errno || *end ? -1 : 0;
}

/* NewRequirement's checks, as one message appended to `b` (nothing when the
 * requirement is valid). The parser has checked the key already (with its
 * own wording); a metav1.LabelSelector's keys are checked here (check_key).
 * Field errors are aggregated like utilerrors.NewAggregate: one error
 * alone, several in brackets. */
static void req_validate(const struct req *r, int check_key, struct k8s_buf *b)
{
    int nerr = 0;
    struct k8s_buf one, all;
    k8s_buf_init(&one, 64 * 1024);
    k8s_buf_init(&all, 256 * 1024);
    if (check_key && label_key_errors(r->key, &one) > 0) {
        k8s_buf_appendf(&all, "key: Invalid value: ");
        k8s_buf_append_go_quoted(&all, r->key);
        k8s_buf_appendf(&all, ": %s", one.data);
        nerr++;
    }
    if ((r->op == OP_IN || r->op == OP_NOTIN) && r->nvals == 0) {
        k8s_buf_appendf(&all,
                        "%svalues: Invalid value: []string{}: for 'in', 'notin' operators, "
                        "values set can't be empty",
                        nerr ? ", " : "");
        nerr++;
    }
    if ((r->op == OP_EXISTS || r->op == OP_NOT_EXISTS) && r->nvals != 0) {
        k8s_buf_appendf(&all, "%svalues: Invalid value: []string{", nerr ? ", " : "");
        for (size_t i = 0; i < r->nvals; i++) {
            if (i)
                k8s_buf_append(&all, ", ", 2);
            k8s_buf_append_go_quoted(&all, r->vals[i]);
        }
        k8s_buf_appendf(&all, "}: values set must be empty for exists and does not exist");
        nerr++;
    }
    if (r->op == OP_GT || r->op == OP_LT) {
        for (size_t i = 0; i < r->nvals; i++) {
            long long v;
            if (parse_int64(r->vals[i], &v) == 0)
                continue;
            k8s_buf_appendf(&all, "%svalues[%zu]: Invalid value: ", nerr ? ", " : "", i);
            k8s_buf_append_go_quoted(&all, r->vals[i]);
            k8s_buf_appendf(&all, ": for 'Gt', 'Lt' operators, the value must be an integer");
            nerr++;
        }
    }
    for (size_t i = 0; i < r->nvals; i++) {
        k8s_buf_reset(&one);
        if (label_value_errors(r->vals[i], &one) == 0)
            continue;
        k8s_buf_appendf(&all, "%svalues[%zu][%s]: Invalid value: ", nerr ? ", " : "", i, r->key);
        k8s_buf_append_go_quoted(&all, r->vals[i]);
        k8s_buf_appendf(&all, ": %s", one.data);
        nerr++;
    }
    if (nerr > 1)
        k8s_buf_appendf(b, "[%s]", all.data);
    else if (nerr == 1)
        k8s_buf_append(b, all.data, all.len);
    k8s_buf_free(&one);
    k8s_buf_free(&all);
}

static int add_req(struct k8s_selector *s, struct req *r)
{
    struct req *n = realloc(s->reqs, (s->nreqs + 1) * sizeof(*n));
    if (!n)
        return K8S_ENOMEM;
    s->reqs = n;
    s->reqs[s->nreqs++] = *r;
    memset(r, 0, sizeof(*r));
    return 0;
}

static int req_cmp(const void *a, const void *b)
{
    return strcmp(((const struct req *)a)->key, ((const struct req *)b)->key);
}

/* Sorts by key, keeping the order of equal keys (insertion sort: selectors
 * have a handful of requirements). */
static void sort_reqs(struct k8s_selector *s)
{
    for (size_t i = 1; i < s->nreqs; i++) {
        struct req r = s->reqs[i];
        size_t j = i;
        while (j > 0 && req_cmp(&s->reqs[j - 1], &r) > 0) {
            s->reqs[j] = s->reqs[j - 1];
            j--;
        }
        s->reqs[j] = r;
    }
}

/* ---- lexer ---------------------------------------------------------------- */

enum tok {
    T_END,
    T_CLOSE,
    T_COMMA,
    T_NOT,
    T_DEQ,
    T_EQ,
    T_GT,
    T_ID,
    T_IN,
    T_LT,
    T_NEQ,
    T_NOTIN,
    T_OPEN,
};

struct token {
    enum tok t;
    const char *lit; /* into the text; "" for the end */
    size_t len;
};

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int is_special(char c)
{
    return c == '=' || c == '!' || c == '(' || c == ')' || c == ',' || c == '>' || c == '<';
}

static enum tok symbol(const char *s, size_t n)
{
    if (n == 1) {
        switch (s[0]) {
        case ')':
            return T_CLOSE;
        case ',':
            return T_COMMA;
        case '!':
            return T_NOT;
        case '=':
            return T_EQ;
        case '>':
            return T_GT;
        case '<':
            return T_LT;
        case '(':
            return T_OPEN;
        }
    } else if (n == 2 && s[1] == '=') {
        if (s[0] == '=')
            return T_DEQ;
        if (s[0] == '!')
            return T_NEQ;
    }
    return T_END; /* not a symbol */
}

/* Cuts text into tokens; the last is T_END. */
static int lex(const char *text, struct token **out, size_t *n)
{
    size_t cap = 16, len = 0;
    struct token *v = malloc(cap * sizeof(*v));
    const char *p = text;
    if (!v)
        return K8S_ENOMEM;
    for (;;) {
        struct token tk = {T_END, "", 0};
        while (is_ws(*p))
            p++;
        if (!*p) {
            tk.lit = p;
        } else if (is_special(*p)) {
            /* Greedy: the longest run of symbol characters that is a token. */
            size_t k = 1;
            if (p[1] && is_special(p[1]) && symbol(p, 2) != T_END)
                k = 2;
            tk.t = symbol(p, k);
            tk.lit = p;
            tk.len = k;
            p += k;
        } else {
            const char *s = p;
            while (*p && !is_special(*p) && !is_ws(*p))
                p++;
            tk.lit = s;
            tk.len = (size_t)(p - s);
            tk.t = T_ID;
            if (tk.len == 2 && memcmp(s, "in", 2) == 0)
                tk.t = T_IN;
            else if (tk.len == 5 && memcmp(s, "notin", 5) == 0)
                tk.t = T_NOTIN;
        }
        if (len == cap) {
            struct token *nv = realloc(v, cap * 2 * sizeof(*v));
            if (!nv) {
                free(v);
                return K8S_ENOMEM;
            }
            v = nv;
            cap *= 2;
        }
        v[len++] = tk;
        if (tk.t == T_END)
            break;
    }
    *out = v;
    *n = len;
    return 0;
}

/* ---- parser ---------------------------------------------------------------- */

struct parser {
    struct token *tk;
    size_t n, pos;
    struct k8s_buf msg; /* the error, once one happened */
};

/* In the values context the keywords are plain identifiers. */
static enum tok as_value(enum tok t)
{
    return t == T_IN || t == T_NOTIN ? T_ID : t;
}

static const struct token *peek(struct parser *p)
{
    return &p->tk[p->pos];
}

static const struct token *next(struct parser *p)
{
    const struct token *t = &p->tk[p->pos];
    if (t->t != T_END)
        p->pos++;
    return t;
}

/* "found '<lit>'" with the literal's bytes (it is not NUL-terminated). */
static int fail_found(struct parser *p, const struct token *t, const char *rest)
{
    k8s_buf_appendf(&p->msg, "found '%.*s'%s", (int)t->len, t->lit, rest);
    return K8S_EARG;
}

static int parse_values(struct parser *p, struct req *r)
{
    const struct token *t = next(p), *la;
    int rc;
    if (t->t != T_OPEN)
        return fail_found(p, t, " expected: '('");
    la = peek(p);
    switch (as_value(la->t)) {
    case T_CLOSE:
        next(p);
        return req_add_value(r, "", 0); /* "()" is the set {""} */
    case T_ID:
    case T_COMMA:
        break;
    default:
        return fail_found(p, la, ", expected: ',', ')' or identifier");
    }
    /* parseIdentifiersList */
    for (;;) {
        t = next(p);
        switch (as_value(t->t)) {
        case T_ID: {
            const struct token *t2;
            if ((rc = req_add_value(r, t->lit, t->len)) != 0)
                return rc;
            t2 = peek(p);
            if (t2->t == T_COMMA)
                continue;
            if (t2->t == T_CLOSE)
                goto close;
            return fail_found(p, t2, ", expected: ',' or ')'");
        }
        case T_COMMA: {
            enum tok t2;
            if (r->nvals == 0 && (rc = req_add_value(r, "", 0)) != 0)
                return rc;
            t2 = peek(p)->t;
            if (t2 == T_CLOSE) {
                if ((rc = req_add_value(r, "", 0)) != 0)
                    return rc;
                goto close;
            }
            if (t2 == T_COMMA && (rc = req_add_value(r, "", 0)) != 0)
                return rc;
            continue;
        }
        default:
            return fail_found(p, t, ", expected: ',', or identifier");
        }
    }
close:
    t = next(p);
    if (t->t != T_CLOSE)
        return fail_found(p, la, ", expected: ')'");
    return 0;
}

static int parse_requirement(struct parser *p, struct req *r)
{
    const struct token *t = next(p);
    enum tok la;
    struct k8s_buf verr;
    int rc = 0, inferred = 0;
    if (t->t == T_NOT) {
        r->op = OP_NOT_EXISTS;
        inferred = 1;
        t = next(p);
    }
    if (as_value(t->t) != T_ID)
        return fail_found(p, t, ", expected: identifier");
    r->key = strndup(t->lit, t->len);
    if (!r->key)
        return K8S_ENOMEM;
    k8s_buf_init(&verr, 64 * 1024);
    if (label_key_errors(r->key, &verr) > 0) {
        k8s_buf_appendf(&p->msg, "<nil>: Invalid value: ");
        k8s_buf_append_go_quoted(&p->msg, r->key);
        k8s_buf_appendf(&p->msg, ": %s", verr.data);
        rc = K8S_EARG;
        goto out;
    }
    /* "!key" ends the requirement whatever follows (the server then wants
     * ',' or the end); "key" alone before ',' or the end is Exists. */
    if (inferred)
        goto out;
    la = as_value(peek(p)->t);
    if (la == T_END || la == T_COMMA) {
        r->op = OP_EXISTS;
        goto out;
    }
    t = next(p);
    switch (t->t) {
    case T_IN:
        r->op = OP_IN;
        break;
    case T_EQ:
        r->op = OP_EQ;
        break;
    case T_DEQ:
        r->op = OP_DEQ;
        break;
    case T_GT:
        r->op = OP_GT;
        break;
    case T_LT:
        r->op = OP_LT;
        break;
    case T_NOTIN:
        r->op = OP_NOTIN;
        break;
    case T_NEQ:
        r->op = OP_NEQ;
        break;
    default:
        rc = fail_found(p, t, ", expected: in, notin, =, ==, !=, gt, lt");
        goto out;
    }
    if (r->op == OP_IN || r->op == OP_NOTIN) {
        rc = parse_values(p, r);
    } else {
        /* parseExactValue: nothing (end or ',') is the empty value. */
        la = as_value(peek(p)->t);
        if (la == T_END || la == T_COMMA) {
            rc = req_add_value(r, "", 0);
        } else {
            t = next(p);
            if (as_value(t->t) == T_ID)
                rc = req_add_value(r, t->lit, t->len);
            else
                rc = fail_found(p, t, ", expected: identifier");
        }
    }
    if (rc)
        goto out;
    k8s_buf_reset(&verr);
    req_validate(r, 0, &verr);
    if (verr.len) {
        k8s_buf_append(&p->msg, verr.data, verr.len);
        rc = K8S_EARG;
    }
out:
    k8s_buf_free(&verr);
    return rc;
}

static int set_parse_error(struct k8s_error *err, const char *msg)
{
    int rc = k8s_error_set(err, K8S_EARG, "%s", msg);
    if (err)
        snprintf(err->reason, sizeof(err->reason), "BadRequest");
    return rc;
}

int k8s_selector_parse(const char *text, struct k8s_selector **out, struct k8s_error *err)
{
    struct parser p = {0};
    struct k8s_selector *s = NULL;
    struct req r = {0};
    int rc = 0;
    *out = NULL;
    if (!text)
        text = "";
    if (strlen(text) > MAX_SELECTOR_TEXT)
        return set_parse_error(err, "label selector too long");
    k8s_buf_init(&p.msg, 64 * 1024);
    s = calloc(1, sizeof(*s));
    if (!s || lex(text, &p.tk, &p.n) != 0) {
        rc = k8s_error_set(err, K8S_ENOMEM, "out of memory");
        goto out;
    }
    for (;;) {
        const struct token *t = peek(&p);
        enum tok tt = as_value(t->t);
        if (tt == T_END)
            break;
        if (tt != T_ID && tt != T_NOT) {
            rc = fail_found(&p, t, ", expected: !, identifier, or 'end of string'");
            break;
        }
        rc = parse_requirement(&p, &r);
        if (rc == K8S_EARG) {
            struct k8s_buf full;
            k8s_buf_init(&full, 128 * 1024);
            k8s_buf_appendf(&full, "unable to parse requirement: %s", p.msg.data ? p.msg.data : "");
            k8s_buf_free(&p.msg);
            p.msg = full;
            break;
        }
        if (rc || (rc = add_req(s, &r)) != 0)
            break;
        t = next(&p);
        if (t->t == T_END)
            break;
        if (t->t != T_COMMA) {
            rc = fail_found(&p, t, ", expected: ',' or 'end of string'");
            break;
        }
        t = peek(&p);
        tt = as_value(t->t);
        if (tt != T_ID && tt != T_NOT) {
            rc = fail_found(&p, t, ", expected: identifier after ','");
            break;
        }
    }
    if (rc == K8S_EARG) {
        set_parse_error(err, p.msg.data ? p.msg.data : "invalid label selector");
        goto out;
    }
    if (rc) {
        rc = k8s_error_set(err, K8S_ENOMEM, "out of memory");
        goto out;
    }
    sort_reqs(s);
    *out = s;
    s = NULL;
out:
    req_clear(&r);
    k8s_selector_free(s);
    free(p.tk);
    k8s_buf_free(&p.msg);
    return rc;
}

/* ---- metav1.LabelSelector ---------------------------------------------------- */

int k8s_selector_from_label_selector(const cJSON *ls, struct k8s_selector **out,
                                     struct k8s_error *err)
{
    struct k8s_selector *s = calloc(1, sizeof(*s));
    struct req r = {0};
    struct k8s_buf msg;
    const cJSON *it;
    int rc = 0;
    *out = NULL;
    k8s_buf_init(&msg, 64 * 1024);
    if (!s) {
        rc = k8s_error_set(err, K8S_ENOMEM, "out of memory");
        goto out;
    }
    if (!ls || cJSON_IsNull(ls)) {
        s->nothing = 1;
        goto done;
    }
    if (!cJSON_IsObject(ls)) {
        rc = set_parse_error(err, "a label selector must be an object");
        goto out;
    }
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(ls, "matchLabels"))
    {
        if (!cJSON_IsString(it)) {
            rc = set_parse_error(err, "matchLabels values must be strings");
            goto out;
        }
        r.op = OP_EQ;
        if (!(r.key = strdup(it->string)) ||
            req_add_value(&r, it->valuestring, strlen(it->valuestring)) != 0) {
            rc = k8s_error_set(err, K8S_ENOMEM, "out of memory");
            goto out;
        }
        req_validate(&r, 1, &msg);
        if (msg.len) {
            rc = set_parse_error(err, msg.data);
            goto out;
        }
        if ((rc = add_req(s, &r)) != 0) {
            rc = k8s_error_set(err, K8S_ENOMEM, "out of memory");
            goto out;
        }
    }
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(ls, "matchExpressions"))
    {
        const cJSON *key = cJSON_GetObjectItemCaseSensitive(it, "key");
        const cJSON *op = cJSON_GetObjectItemCaseSensitive(it, "operator");
        const cJSON *v;
        if (!cJSON_IsString(key) || !cJSON_IsString(op)) {
            rc = set_parse_error(err, "matchExpressions entries need a key and an operator");
            goto out;
        }
        if (strcmp(op->valuestring, "In") == 0) {
            r.op = OP_IN;
        } else if (strcmp(op->valuestring, "NotIn") == 0) {
            r.op = OP_NOTIN;
        } else if (strcmp(op->valuestring, "Exists") == 0) {
            r.op = OP_EXISTS;
        } else if (strcmp(op->valuestring, "DoesNotExist") == 0) {
            r.op = OP_NOT_EXISTS;
        } else {
            k8s_buf_appendf(&msg, "\"%s\" is not a valid label selector operator", op->valuestring);
            rc = set_parse_error(err, msg.data);
            goto out;
        }
        if (!(r.key = strdup(key->valuestring))) {
            rc = k8s_error_set(err, K8S_ENOMEM, "out of memory");
            goto out;
        }
        cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(it, "values"))
        {
            if (!cJSON_IsString(v)) {
                rc = set_parse_error(err, "matchExpressions values must be strings");
                goto out;
            }
            if (req_add_value(&r, v->valuestring, strlen(v->valuestring)) != 0) {
                rc = k8s_error_set(err, K8S_ENOMEM, "out of memory");
                goto out;
            }
        }
        req_validate(&r, 1, &msg);
        if (msg.len) {
            rc = set_parse_error(err, msg.data);
            goto out;
        }
        if ((rc = add_req(s, &r)) != 0) {
            rc = k8s_error_set(err, K8S_ENOMEM, "out of memory");
            goto out;
        }
    }
    sort_reqs(s);
done:
    *out = s;
    s = NULL;
out:
    req_clear(&r);
    k8s_selector_free(s);
    k8s_buf_free(&msg);
    return rc;
}

/* ---- matching ------------------------------------------------------------------ */

static int has_value(const struct req *r, const char *v)
{
    size_t lo = 0, hi = r->nvals;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(r->vals[mid], v);
        if (c == 0)
            return 1;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

static int req_matches(const struct req *r, const cJSON *labels)
{
    const cJSON *l = labels ? cJSON_GetObjectItemCaseSensitive(labels, r->key) : NULL;
    const char *v = cJSON_IsString(l) ? l->valuestring : NULL;
    long long a, b;
    switch (r->op) {
    case OP_IN:
    case OP_EQ:
    case OP_DEQ:
        return v && has_value(r, v);
    case OP_NOTIN:
    case OP_NEQ:
        return !v || !has_value(r, v);
    case OP_EXISTS:
        return v != NULL;
    case OP_NOT_EXISTS:
        return v == NULL;
    case OP_GT:
    case OP_LT:
        if (!v || r->nvals != 1 || parse_int64(v, &a) || parse_int64(r->vals[0], &b))
            return 0;
        return r->op == OP_GT ? a > b : a < b;
    }
    return 0;
}

int k8s_selector_matches(const struct k8s_selector *s, const cJSON *labels)
{
    if (!s)
        return 1;
    if (s->nothing)
        return 0;
    for (size_t i = 0; i < s->nreqs; i++)
        if (!req_matches(&s->reqs[i], labels))
            return 0;
    return 1;
}

int k8s_selector_matches_object(const struct k8s_selector *s, const cJSON *obj)
{
    const cJSON *md = obj ? cJSON_GetObjectItemCaseSensitive(obj, "metadata") : NULL;
    return k8s_selector_matches(s, md ? cJSON_GetObjectItemCaseSensitive(md, "labels") : NULL);
}

int k8s_selector_is_empty(const struct k8s_selector *s)
{
    return !s || (!s->nothing && s->nreqs == 0);
}

int k8s_selector_string(const struct k8s_selector *s, char *buf, size_t cap)
{
    static const char *const ops[] = {
        [OP_EQ] = "=", [OP_DEQ] = "==", [OP_NEQ] = "!=", [OP_GT] = ">", [OP_LT] = "<",
    };
    struct k8s_buf b;
    int rc = 0;
    if (!buf || cap == 0)
        return K8S_ENOMEM;
    buf[0] = '\0';
    k8s_buf_init(&b, cap - 1);
    for (size_t i = 0; s && !s->nothing && i < s->nreqs && !rc; i++) {
        const struct req *r = &s->reqs[i];
        if (i)
            rc = k8s_buf_append(&b, ",", 1);
        if (!rc && r->op == OP_NOT_EXISTS)
            rc = k8s_buf_append(&b, "!", 1);
        if (!rc)
            rc = k8s_buf_append(&b, r->key, strlen(r->key));
        if (rc || r->op == OP_EXISTS || r->op == OP_NOT_EXISTS)
            continue;
        if (r->op == OP_IN || r->op == OP_NOTIN) {
            rc = k8s_buf_appendf(&b, " %s (", r->op == OP_IN ? "in" : "notin");
            for (size_t j = 0; j < r->nvals && !rc; j++)
                rc = k8s_buf_appendf(&b, "%s%s", j ? "," : "", r->vals[j]);
            if (!rc)
                rc = k8s_buf_append(&b, ")", 1);
        } else {
            rc = k8s_buf_appendf(&b, "%s%s", ops[r->op], r->nvals ? r->vals[0] : "");
        }
    }
    if (b.data) {
        size_t n = b.len < cap - 1 ? b.len : cap - 1;
        memcpy(buf, b.data, n);
        buf[n] = '\0';
    }
    k8s_buf_free(&b);
    return rc ? K8S_ENOMEM : 0;
}
