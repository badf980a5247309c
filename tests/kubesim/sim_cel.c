/*
 * sim_cel: tokenizer, recursive-descent parser and tree-walking evaluator
 * for the CEL subset described in sim_cel.h.
 *
 * Internals:
 * - Memory: one arena per compiled program (AST, literals) and one arena per
 *   evaluation (every value made while evaluating). Values are immutable and
 *   never freed one by one, so there is no reference counting; an arena has a
 *   hard maximum (a rule that builds huge lists fails with an error instead
 *   of eating the simulator's memory).
 * - Errors during evaluation are values (kind V_ERR), because CEL's && and ||
 *   (and the all/exists macros) absorb an error when the other side decides
 *   the result: `false && <error>` is false, `true || <error>` is true.
 * - Every node evaluated costs one step; a rule that exceeds the step budget
 *   fails like cel-go's cost limit, so a pathological rule cannot hang a
 *   request.
 * - The parser limits nesting depth (cel-go does too), so hostile input
 *   cannot overflow the stack; the fuzz target in tests/fuzz checks that.
 * - Field selections rooted at self/oldSelf are checked against the schema at
 *   compile time ("undefined field 'x'"), as the real server's type checker
 *   does; other type errors show up at evaluation ("no such overload").
 */
#include "sim_cel.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CEL_MAX_DEPTH      100         /* nesting of parenthesised/unary/member levels */
#define CEL_MAX_SRC        65536       /* longest expression accepted */
#define CEL_EVAL_ARENA_MAX (64u << 20) /* bytes one evaluation may allocate */
#define CEL_PROG_ARENA_MAX (16u << 20)
#define CEL_MAX_STEPS      1000000u /* nodes evaluated by one rule */

/* ---------------------------------------------------------------- arena */

struct arena_blk {
    struct arena_blk *next;
    size_t used;
    size_t cap;
    max_align_t data[];
};

struct arena {
    struct arena_blk *head;
    size_t total;
    size_t max;
};

static void arena_init(struct arena *a, size_t max)
{
    a->head = NULL;
    a->total = 0;
    a->max = max;
}

static void arena_free(struct arena *a)
{
    struct arena_blk *b = a->head;
    while (b) {
        struct arena_blk *next = b->next;
        free(b);
        b = next;
    }
    a->head = NULL;
    a->total = 0;
}

static void *arena_alloc(struct arena *a, size_t n)
{
    size_t align = sizeof(max_align_t);
    n = (n + align - 1) / align * align;
    if (n == 0)
        n = align;
    if (!a->head || a->head->cap - a->head->used < n) {
        size_t cap = n > 8192 ? n : 8192;
        if (a->total + cap > a->max)
            return NULL;
        struct arena_blk *b = malloc(sizeof(*b) + cap);
        if (!b)
            return NULL;
        b->next = a->head;
        b->used = 0;
        b->cap = cap;
        a->head = b;
        a->total += cap;
    }
    void *p = (char *)a->head->data + a->head->used;
    a->head->used += n;
    memset(p, 0, n);
    return p;
}

static char *arena_strndup(struct arena *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* --------------------------------------------------------------- values */

enum vkind {
    V_ERR,
    V_NULL,
    V_BOOL,
    V_INT,
    V_UINT,
    V_DOUBLE,
    V_STRING,
    V_LIST,
    V_MAP,
    V_TIMESTAMP,
    V_DURATION,
};

struct clist;
struct cmap;

struct cval {
    enum vkind k;
    union {
        bool b;
        int64_t i;
        uint64_t u;
        double d;
        struct {
            const char *p; /* NUL-terminated, may contain no NUL itself */
            size_t n;
        } s;
        const struct clist *l;
        const struct cmap *m;
        struct {
            int64_t sec; /* seconds since the epoch (timestamp) or total seconds (duration) */
            int32_t nsec;
        } t;
        const char *err;
    } u;
};

struct clist {
    size_t n;
    struct cval *items;
    bool unordered; /* x-kubernetes-list-type set/map: equality ignores order */
};

struct cmap {
    size_t n;
    struct cval *keys;
    struct cval *vals;
};

static const char *kind_name(enum vkind k)
{
    switch (k) {
    case V_ERR:
        return "error";
    case V_NULL:
        return "null_type";
    case V_BOOL:
        return "bool";
    case V_INT:
        return "int";
    case V_UINT:
        return "uint";
    case V_DOUBLE:
        return "double";
    case V_STRING:
        return "string";
    case V_LIST:
        return "list";
    case V_MAP:
        return "map";
    case V_TIMESTAMP:
        return "google.protobuf.Timestamp";
    case V_DURATION:
        return "google.protobuf.Duration";
    }
    return "unknown";
}

/* ------------------------------------------------------------------ AST */

enum nkind {
    N_LIT,
    N_IDENT,
    N_SELECT,
    N_HAS,
    N_INDEX,
    N_CALL,
    N_LIST,
    N_MAP,
    N_NOT,
    N_NEG,
    N_BINARY,
    N_AND,
    N_OR,
    N_COND,
    N_COMP,
};

enum binop {
    OP_EQ,
    OP_NE,
    OP_LT,
    OP_LE,
    OP_GT,
    OP_GE,
    OP_IN,
    OP_ADD,
    OP_SUB,
    OP_MUL,
    OP_DIV,
    OP_MOD
};

enum comp_kind { C_ALL, C_EXISTS, C_EXISTS_ONE, C_FILTER, C_MAP, C_MAP_FILTER };

/* Functions the evaluator implements; the parser resolves names to these ids. */
enum fn_id {
    F_SIZE,
    F_STARTS_WITH,
    F_ENDS_WITH,
    F_CONTAINS,
    F_MATCHES,
    F_LOWER,
    F_UPPER,
    F_TRIM,
    F_SPLIT,
    F_JOIN,
    F_REPLACE,
    F_INDEX_OF,
    F_LAST_INDEX_OF,
    F_SUBSTRING,
    F_IS_SORTED,
    F_SUM,
    F_MIN,
    F_MAX,
    F_INT,
    F_UINT,
    F_DOUBLE,
    F_STRING,
    F_BOOL,
    F_TIMESTAMP,
    F_DURATION,
    F_DYN,
    F_GET_FULL_YEAR,
    F_GET_MONTH,
    F_GET_DATE,
    F_GET_DAY_OF_MONTH,
    F_GET_DAY_OF_WEEK,
    F_GET_DAY_OF_YEAR,
    F_GET_HOURS,
    F_GET_MINUTES,
    F_GET_SECONDS,
    F_GET_MILLISECONDS,
};

struct node {
    enum nkind k;
    size_t pos; /* byte offset in the source, for messages */
    int op;     /* binop, comp_kind or fn_id */
    struct cval lit;
    const char *name; /* ident, selected field, function, iteration variable */
    struct node *a, *b, *c;
    struct node **args;
    size_t nargs;
    regex_t *re; /* F_MATCHES with a literal pattern: compiled once */
};

struct sim_cel_program {
    struct arena arena;
    struct node *root;
    bool uses_old_self;
    unsigned flags;
    size_t nregex;
    regex_t **regexes; /* to regfree() */
};

/* --------------------------------------------------------------- errors */

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Line and column (1-based, in code points) of byte offset `pos`. */
static void src_position(const char *src, size_t pos, int *line, int *col)
{
    int l = 1, c = 1;
    for (size_t i = 0; i < pos && src[i]; i++) {
        if (src[i] == '\n') {
            l++;
            c = 1;
        } else if (((unsigned char)src[i] & 0xC0) != 0x80) {
            c++;
        }
    }
    *line = l;
    *col = c;
}

/* ---------------------------------------------------------------- lexer */

enum tkind {
    T_EOF,
    T_INT,
    T_UINT,
    T_DOUBLE,
    T_STRING,
    T_IDENT,
    T_TRUE,
    T_FALSE,
    T_NULL,
    T_IN,
    T_QUESTION,
    T_COLON,
    T_OROR,
    T_ANDAND,
    T_NOT,
    T_EQ,
    T_NE,
    T_LT,
    T_LE,
    T_GT,
    T_GE,
    T_PLUS,
    T_MINUS,
    T_STAR,
    T_SLASH,
    T_PERCENT,
    T_DOT,
    T_COMMA,
    T_LBRACKET,
    T_RBRACKET,
    T_LPAREN,
    T_RPAREN,
    T_LBRACE,
    T_RBRACE,
};

struct token {
    enum tkind k;
    size_t pos;
    size_t len;
    uint64_t u; /* T_INT (magnitude), T_UINT */
    double d;
    const char *s; /* T_STRING (arena), T_IDENT (arena) */
    size_t slen;
};

struct parser {
    const char *src;
    size_t len;
    size_t pos;
    struct token tok; /* current token */
    struct arena *arena;
    struct sim_cel_program *prog;
    int depth;
    int rc;
    char *err;
    size_t errlen;
    /* Names of macro variables in scope while parsing (for undeclared checks). */
    const char *scope[CEL_MAX_DEPTH];
    const cJSON *scope_schema[CEL_MAX_DEPTH];
    int nscope;
    const cJSON *schema;
    /* A type-check error (undefined field) waits until the whole text parsed, so a
     * syntax error later in the text is reported first, as cel-go does. */
    int check_rc;
    size_t check_pos;
    char check_msg[256];
};

static void perr(struct parser *p, int rc, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void perr(struct parser *p, int rc, size_t pos, const char *fmt, ...)
{
    if (p->rc != 0)
        return; /* keep the first error */
    p->rc = rc;
    char msg[SIM_CEL_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    int line, col;
    src_position(p->src, pos, &line, &col);
    /* cel-go's shape: the message, then the source line and a caret under the column. */
    size_t ls = pos;
    while (ls > 0 && p->src[ls - 1] != '\n')
        ls--;
    size_t le = ls;
    while (le < p->len && p->src[le] != '\n')
        le++;
    char caret[128];
    int ncaret = col - 1 < (int)sizeof(caret) - 2 ? col - 1 : (int)sizeof(caret) - 2;
    memset(caret, '.', (size_t)ncaret);
    caret[ncaret] = '^';
    caret[ncaret + 1] = '\0';
    set_err(p->err, p->errlen, "ERROR: <input>:%d:%d: %s\n | %.*s\n | %s", line, col, msg,
            (int)(le - ls > 200 ? 200 : le - ls), p->src + ls, caret);
}

static void *palloc(struct parser *p, size_t n)
{
    void *m = arena_alloc(p->arena, n);
    if (!m && p->rc == 0) {
        p->rc = SIM_CEL_ENOMEM;
        set_err(p->err, p->errlen, "out of memory compiling the expression");
    }
    return m;
}

static const char *const reserved_words[] = {
    "as",  "break", "const",   "continue",  "else",   "for", "function", "if",    "import",
    "let", "loop",  "package", "namespace", "return", "var", "void",     "while", NULL,
};

/* Appends the UTF-8 encoding of `cp` to buf (at least 4 bytes free). */
static size_t utf8_put(char *buf, uint32_t cp)
{
    if (cp < 0x80) {
        buf[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        buf[0] = (char)(0xC0 | (cp >> 6));
        buf[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        buf[0] = (char)(0xE0 | (cp >> 12));
        buf[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        buf[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    buf[0] = (char)(0xF0 | (cp >> 18));
    buf[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    buf[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    buf[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Lexes a string literal starting at p->pos (after any r prefix). */
static void lex_string(struct parser *p, struct token *t, bool raw)
{
    const char *s = p->src;
    char q = s[p->pos];
    bool triple = p->pos + 2 < p->len && s[p->pos + 1] == q && s[p->pos + 2] == q;
    size_t i = p->pos + (triple ? 3 : 1);
    /* The decoded string is never longer than the source. */
    char *out = palloc(p, p->len - p->pos + 1);
    if (!out)
        return;
    size_t n = 0;
    for (;;) {
        if (i >= p->len) {
            perr(p, SIM_CEL_ESYNTAX, t->pos, "Syntax error: token recognition error at: '%.*s'",
                 (int)(i - t->pos > 20 ? 20 : i - t->pos), s + t->pos);
            return;
        }
        char c = s[i];
        if (triple) {
            if (c == q && i + 2 < p->len && s[i + 1] == q && s[i + 2] == q) {
                i += 3;
                break;
            }
        } else {
            if (c == q) {
                i++;
                break;
            }
            if (c == '\n' || c == '\r') {
                perr(p, SIM_CEL_ESYNTAX, t->pos, "Syntax error: token recognition error at: '%.*s'",
                     (int)(i - t->pos > 20 ? 20 : i - t->pos), s + t->pos);
                return;
            }
        }
        if (c != '\\' || raw) {
            out[n++] = c;
            i++;
            continue;
        }
        /* escape sequence */
        if (i + 1 >= p->len) {
            perr(p, SIM_CEL_ESYNTAX, i, "Syntax error: invalid escape sequence");
            return;
        }
        char e = s[i + 1];
        i += 2;
        switch (e) {
        case 'a':
            out[n++] = '\a';
            break;
        case 'b':
            out[n++] = '\b';
            break;
        case 'f':
            out[n++] = '\f';
            break;
        case 'n':
            out[n++] = '\n';
            break;
        case 'r':
            out[n++] = '\r';
            break;
        case 't':
            out[n++] = '\t';
            break;
        case 'v':
            out[n++] = '\v';
            break;
        case '\\':
        case '\'':
        case '"':
        case '`':
        case '?':
            out[n++] = e;
            break;
        case 'x':
        case 'X':
        case 'u':
        case 'U': {
            int digits = (e == 'x' || e == 'X') ? 2 : (e == 'u' ? 4 : 8);
            uint32_t cp = 0;
            for (int k = 0; k < digits; k++) {
                int h = i < p->len ? hexval(s[i]) : -1;
                if (h < 0) {
                    perr(p, SIM_CEL_ESYNTAX, i, "Syntax error: invalid escape sequence");
                    return;
                }
                cp = cp * 16 + (uint32_t)h;
                i++;
            }
            if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
                perr(p, SIM_CEL_ESYNTAX, i, "Syntax error: invalid unicode code point");
                return;
            }
            if (cp == 0) {
                perr(p, SIM_CEL_EUNSUPPORTED, i,
                     "unsupported construct: NUL character in a string literal");
                return;
            }
            /* \xHH is at most 4 source bytes for at most 2 output bytes; \u/\U likewise shrink. */
            n += utf8_put(out + n, cp);
            break;
        }
        default:
            if (e >= '0' && e <= '3') {
                uint32_t cp = (uint32_t)(e - '0');
                for (int k = 0; k < 2; k++) {
                    if (i >= p->len || s[i] < '0' || s[i] > '7') {
                        perr(p, SIM_CEL_ESYNTAX, i, "Syntax error: invalid escape sequence");
                        return;
                    }
                    cp = cp * 8 + (uint32_t)(s[i] - '0');
                    i++;
                }
                if (cp == 0) {
                    perr(p, SIM_CEL_EUNSUPPORTED, i,
                         "unsupported construct: NUL character in a string literal");
                    return;
                }
                n += utf8_put(out + n, cp);
                break;
            }
            perr(p, SIM_CEL_ESYNTAX, i - 2, "Syntax error: invalid escape sequence '\\%c'", e);
            return;
        }
    }
    out[n] = '\0';
    t->k = T_STRING;
    t->s = out;
    t->slen = n;
    p->pos = i;
}

static void lex_number(struct parser *p, struct token *t)
{
    const char *s = p->src;
    size_t i = p->pos;
    bool is_double = false;
    if (s[i] == '0' && i + 1 < p->len && (s[i + 1] == 'x' || s[i + 1] == 'X')) {
        i += 2;
        size_t start = i;
        uint64_t v = 0;
        bool overflow = false;
        while (i < p->len && hexval(s[i]) >= 0) {
            if (v > UINT64_MAX / 16)
                overflow = true;
            v = v * 16 + (uint64_t)hexval(s[i]);
            i++;
        }
        if (i == start) {
            perr(p, SIM_CEL_ESYNTAX, t->pos, "Syntax error: invalid hex literal");
            return;
        }
        if (overflow) {
            perr(p, SIM_CEL_ESYNTAX, t->pos, "Syntax error: invalid int literal");
            return;
        }
        t->u = v;
        t->k = T_INT;
    } else {
        while (i < p->len && isdigit((unsigned char)s[i]))
            i++;
        if (i + 1 < p->len && s[i] == '.' && isdigit((unsigned char)s[i + 1])) {
            is_double = true;
            i++;
            while (i < p->len && isdigit((unsigned char)s[i]))
                i++;
        }
        if (i < p->len && (s[i] == 'e' || s[i] == 'E')) {
            size_t j = i + 1;
            if (j < p->len && (s[j] == '+' || s[j] == '-'))
                j++;
            if (j < p->len && isdigit((unsigned char)s[j])) {
                is_double = true;
                i = j;
                while (i < p->len && isdigit((unsigned char)s[i]))
                    i++;
            }
        }
        char buf[128];
        size_t n = i - p->pos;
        if (n >= sizeof(buf)) {
            perr(p, SIM_CEL_ESYNTAX, t->pos, "Syntax error: number literal too long");
            return;
        }
        memcpy(buf, s + p->pos, n);
        buf[n] = '\0';
        errno = 0;
        if (is_double) {
            t->d = strtod(buf, NULL);
            t->k = T_DOUBLE;
        } else {
            t->u = strtoull(buf, NULL, 10);
            if (errno == ERANGE) {
                perr(p, SIM_CEL_ESYNTAX, t->pos, "Syntax error: invalid int literal");
                return;
            }
            t->k = T_INT;
        }
    }
    if (!is_double && i < p->len && (s[i] == 'u' || s[i] == 'U')) {
        t->k = T_UINT;
        i++;
    } else if (t->k == T_INT && t->u > (uint64_t)INT64_MAX + 1) {
        perr(p, SIM_CEL_ESYNTAX, t->pos, "Syntax error: invalid int literal");
        return;
    }
    p->pos = i;
}

/* Reads the next token into p->tok. */
static void next(struct parser *p)
{
    const char *s = p->src;
    struct token t;
    memset(&t, 0, sizeof(t));
    for (;;) {
        while (p->pos < p->len && strchr(" \t\n\r\f", s[p->pos]))
            p->pos++;
        if (p->pos + 1 < p->len && s[p->pos] == '/' && s[p->pos + 1] == '/') {
            while (p->pos < p->len && s[p->pos] != '\n')
                p->pos++;
            continue;
        }
        break;
    }
    t.pos = p->pos;
    if (p->pos >= p->len) {
        t.k = T_EOF;
        p->tok = t;
        return;
    }
    char c = s[p->pos];
    char c2 = p->pos + 1 < p->len ? s[p->pos + 1] : '\0';
    if (isdigit((unsigned char)c) || (c == '.' && isdigit((unsigned char)c2))) {
        lex_number(p, &t);
    } else if (c == '\'' || c == '"') {
        lex_string(p, &t, false);
    } else if ((c == 'r' || c == 'R') && (c2 == '\'' || c2 == '"')) {
        p->pos++;
        lex_string(p, &t, true);
    } else if ((c == 'b' || c == 'B') && (c2 == '\'' || c2 == '"' || c2 == 'r' || c2 == 'R')) {
        perr(p, SIM_CEL_EUNSUPPORTED, t.pos, "unsupported construct: bytes literal");
        t.k = T_EOF;
    } else if (isalpha((unsigned char)c) || c == '_') {
        size_t i = p->pos;
        while (i < p->len && (isalnum((unsigned char)s[i]) || s[i] == '_'))
            i++;
        size_t n = i - p->pos;
        p->pos = i;
        if (n == 4 && !memcmp(s + t.pos, "true", 4))
            t.k = T_TRUE;
        else if (n == 5 && !memcmp(s + t.pos, "false", 5))
            t.k = T_FALSE;
        else if (n == 4 && !memcmp(s + t.pos, "null", 4))
            t.k = T_NULL;
        else if (n == 2 && !memcmp(s + t.pos, "in", 2))
            t.k = T_IN;
        else {
            t.k = T_IDENT;
            t.s = arena_strndup(p->arena, s + t.pos, n);
            t.slen = n;
            if (!t.s) {
                palloc(p, SIZE_MAX / 2); /* records ENOMEM */
                t.k = T_EOF;
            } else {
                for (int r = 0; reserved_words[r]; r++) {
                    if (!strcmp(reserved_words[r], t.s)) {
                        perr(p, SIM_CEL_ESYNTAX, t.pos, "Syntax error: reserved identifier: %s",
                             t.s);
                        break;
                    }
                }
            }
        }
    } else {
        enum tkind k = T_EOF;
        size_t n = 1;
        switch (c) {
        case '?':
            k = T_QUESTION;
            break;
        case ':':
            k = T_COLON;
            break;
        case '|':
            if (c2 == '|') {
                k = T_OROR;
                n = 2;
            }
            break;
        case '&':
            if (c2 == '&') {
                k = T_ANDAND;
                n = 2;
            }
            break;
        case '!':
            k = c2 == '=' ? T_NE : T_NOT;
            n = c2 == '=' ? 2 : 1;
            break;
        case '=':
            if (c2 == '=') {
                k = T_EQ;
                n = 2;
            }
            break;
        case '<':
            k = c2 == '=' ? T_LE : T_LT;
            n = c2 == '=' ? 2 : 1;
            break;
        case '>':
            k = c2 == '=' ? T_GE : T_GT;
            n = c2 == '=' ? 2 : 1;
            break;
        case '+':
            k = T_PLUS;
            break;
        case '-':
            k = T_MINUS;
            break;
        case '*':
            k = T_STAR;
            break;
        case '/':
            k = T_SLASH;
            break;
        case '%':
            k = T_PERCENT;
            break;
        case '.':
            k = T_DOT;
            break;
        case ',':
            k = T_COMMA;
            break;
        case '[':
            k = T_LBRACKET;
            break;
        case ']':
            k = T_RBRACKET;
            break;
        case '(':
            k = T_LPAREN;
            break;
        case ')':
            k = T_RPAREN;
            break;
        case '{':
            k = T_LBRACE;
            break;
        case '}':
            k = T_RBRACE;
            break;
        default:
            break;
        }
        if (k == T_EOF) {
            perr(p, SIM_CEL_ESYNTAX, t.pos, "Syntax error: token recognition error at: '%c'",
                 isprint((unsigned char)c) ? c : '?');
        }
        p->pos += n;
        t.k = k;
    }
    t.len = p->pos - t.pos;
    p->tok = t;
}

static const char *tok_text(struct parser *p, char *buf, size_t buflen)
{
    if (p->tok.k == T_EOF)
        return "<EOF>";
    size_t n = p->tok.len < buflen - 1 ? p->tok.len : buflen - 1;
    memcpy(buf, p->src + p->tok.pos, n);
    buf[n] = '\0';
    return buf;
}

static void unexpected(struct parser *p)
{
    char buf[64];
    if (p->tok.k == T_EOF)
        perr(p, SIM_CEL_ESYNTAX, p->tok.pos, "Syntax error: mismatched input '<EOF>'");
    else
        perr(p, SIM_CEL_ESYNTAX, p->tok.pos, "Syntax error: extraneous input '%s'",
             tok_text(p, buf, sizeof(buf)));
}

static bool expect(struct parser *p, enum tkind k, const char *what)
{
    if (p->rc)
        return false;
    if (p->tok.k != k) {
        char buf[64];
        perr(p, SIM_CEL_ESYNTAX, p->tok.pos, "Syntax error: mismatched input '%s' expecting %s",
             tok_text(p, buf, sizeof(buf)), what);
        return false;
    }
    next(p);
    return true;
}

/* --------------------------------------------------------------- parser */

static struct node *new_node(struct parser *p, enum nkind k, size_t pos)
{
    struct node *n = palloc(p, sizeof(*n));
    if (n) {
        n->k = k;
        n->pos = pos;
    }
    return n;
}

static struct node *parse_expr(struct parser *p);

/* Parses `expr {, expr}` up to `close`; returns the count, or -1. */
static int parse_expr_list(struct parser *p, enum tkind close, struct node ***out)
{
    struct node *tmp[256];
    int n = 0;
    if (p->tok.k == close) {
        *out = NULL;
        return 0;
    }
    for (;;) {
        if (n == (int)(sizeof(tmp) / sizeof(tmp[0]))) {
            perr(p, SIM_CEL_EUNSUPPORTED, p->tok.pos,
                 "unsupported construct: more than 256 elements in a list or call");
            return -1;
        }
        struct node *e = parse_expr(p);
        if (!e)
            return -1;
        tmp[n++] = e;
        if (p->tok.k != T_COMMA)
            break;
        next(p);
        if (p->tok.k == close && close == T_RBRACKET)
            break; /* trailing comma in a list literal */
    }
    struct node **args = palloc(p, sizeof(*args) * (size_t)n);
    if (!args)
        return -1;
    memcpy(args, tmp, sizeof(*args) * (size_t)n);
    *out = args;
    return n;
}

struct fn_def {
    const char *name;
    enum fn_id id;
    int min_args; /* counting the receiver for methods */
    int max_args;
    bool method; /* receiver-style allowed */
    bool global; /* function-style allowed */
};

static const struct fn_def fn_defs[] = {
    {"size", F_SIZE, 1, 1, true, true},
    {"startsWith", F_STARTS_WITH, 2, 2, true, false},
    {"endsWith", F_ENDS_WITH, 2, 2, true, false},
    {"contains", F_CONTAINS, 2, 2, true, false},
    {"matches", F_MATCHES, 2, 2, true, true},
    {"lowerAscii", F_LOWER, 1, 1, true, false},
    {"upperAscii", F_UPPER, 1, 1, true, false},
    {"trim", F_TRIM, 1, 1, true, false},
    {"split", F_SPLIT, 2, 3, true, false},
    {"join", F_JOIN, 1, 2, true, false},
    {"replace", F_REPLACE, 3, 4, true, false},
    {"indexOf", F_INDEX_OF, 2, 3, true, false},
    {"lastIndexOf", F_LAST_INDEX_OF, 2, 3, true, false},
    {"substring", F_SUBSTRING, 2, 3, true, false},
    {"isSorted", F_IS_SORTED, 1, 1, true, false},
    {"sum", F_SUM, 1, 1, true, false},
    {"min", F_MIN, 1, 1, true, false},
    {"max", F_MAX, 1, 1, true, false},
    {"int", F_INT, 1, 1, false, true},
    {"uint", F_UINT, 1, 1, false, true},
    {"double", F_DOUBLE, 1, 1, false, true},
    {"string", F_STRING, 1, 1, false, true},
    {"bool", F_BOOL, 1, 1, false, true},
    {"timestamp", F_TIMESTAMP, 1, 1, false, true},
    {"duration", F_DURATION, 1, 1, false, true},
    {"dyn", F_DYN, 1, 1, false, true},
    {"getFullYear", F_GET_FULL_YEAR, 1, 1, true, false},
    {"getMonth", F_GET_MONTH, 1, 1, true, false},
    {"getDate", F_GET_DATE, 1, 1, true, false},
    {"getDayOfMonth", F_GET_DAY_OF_MONTH, 1, 1, true, false},
    {"getDayOfWeek", F_GET_DAY_OF_WEEK, 1, 1, true, false},
    {"getDayOfYear", F_GET_DAY_OF_YEAR, 1, 1, true, false},
    {"getHours", F_GET_HOURS, 1, 1, true, false},
    {"getMinutes", F_GET_MINUTES, 1, 1, true, false},
    {"getSeconds", F_GET_SECONDS, 1, 1, true, false},
    {"getMilliseconds", F_GET_MILLISECONDS, 1, 1, true, false},
};

static bool is_macro_name(const char *name, enum comp_kind *kind)
{
    static const struct {
        const char *name;
        enum comp_kind kind;
    } macros[] = {{"all", C_ALL},
                  {"exists", C_EXISTS},
                  {"exists_one", C_EXISTS_ONE},
                  {"filter", C_FILTER},
                  {"map", C_MAP}};
    for (size_t i = 0; i < sizeof(macros) / sizeof(macros[0]); i++) {
        if (!strcmp(name, macros[i].name)) {
            *kind = macros[i].kind;
            return true;
        }
    }
    return false;
}

/* ----- compile-time schema tracking (undefined field checks) */

/*
 * Whether a schema node has a CEL type on a real server (SchemaDeclType): a
 * type, or int-or-string; an array needs typed items. Untyped nodes (say,
 * preserve-unknown-fields without a type) are not declared, so not selectable.
 */
static bool schema_has_cel_type(const cJSON *schema)
{
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(schema, "x-kubernetes-int-or-string")))
        return true;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(schema, "type");
    if (!cJSON_IsString(type))
        return false;
    if (!strcmp(type->valuestring, "array"))
        return schema_has_cel_type(cJSON_GetObjectItemCaseSensitive(schema, "items"));
    return true;
}

/*
 * The schema of field `key` of a value typed by `schema`. *undefined when
 * the real server's type checker refuses the selection: objects expose only
 * their declared, typed properties (x-kubernetes-preserve-unknown-fields does
 * not make unknown fields visible to CEL); maps (additionalProperties) expose
 * any key; int-or-string and untyped values are dynamic.
 */
static const cJSON *schema_prop(const cJSON *schema, const char *key, bool *known, bool *undefined)
{
    *known = false;
    *undefined = false;
    if (!schema)
        return NULL;
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(schema, "x-kubernetes-int-or-string")))
        return NULL;
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(schema, "properties");
    const cJSON *ap = cJSON_GetObjectItemCaseSensitive(schema, "additionalProperties");
    if (cJSON_IsObject(ap)) {
        *known = true;
        return ap;
    }
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(schema, "type");
    if (!cJSON_IsString(type))
        return NULL; /* dynamic */
    if (!strcmp(type->valuestring, "object")) {
        const cJSON *c =
            cJSON_IsObject(props) ? cJSON_GetObjectItemCaseSensitive(props, key) : NULL;
        if (c && schema_has_cel_type(c)) {
            *known = true;
            return c;
        }
    }
    *undefined = true;
    return NULL;
}

/* True when the schema makes a value an object type (declared fields), not a map. */
static bool schema_is_object_type(const cJSON *schema)
{
    const cJSON *type = schema ? cJSON_GetObjectItemCaseSensitive(schema, "type") : NULL;
    return cJSON_IsString(type) && !strcmp(type->valuestring, "object") &&
           !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(schema, "additionalProperties"));
}

/* The static schema of an expression, when it is a path rooted at self/oldSelf. */
static const cJSON *static_schema(struct parser *p, const struct node *n, bool *is_root)
{
    *is_root = false;
    if (!n)
        return NULL;
    if (n->k == N_IDENT) {
        for (int i = p->nscope - 1; i >= 0; i--)
            if (!strcmp(p->scope[i], n->name))
                return p->scope_schema[i];
        if (!strcmp(n->name, "self") || !strcmp(n->name, "oldSelf")) {
            *is_root = true;
            return p->schema;
        }
    }
    if (n->k == N_SELECT) {
        bool root;
        const cJSON *s = static_schema(p, n->a, &root);
        if (!s)
            return NULL;
        if (root && (p->prog->flags & SIM_CEL_RESOURCE_ROOT) &&
            (!strcmp(n->name, "apiVersion") || !strcmp(n->name, "kind") ||
             !strcmp(n->name, "metadata")))
            return NULL; /* checked in check_select */
        bool known, undef;
        return schema_prop(s, n->name, &known, &undef);
    }
    if (n->k == N_INDEX) {
        bool root;
        const cJSON *s = static_schema(p, n->a, &root);
        if (!s)
            return NULL;
        const cJSON *items = cJSON_GetObjectItemCaseSensitive(s, "items");
        if (cJSON_IsObject(items))
            return items;
        const cJSON *ap = cJSON_GetObjectItemCaseSensitive(s, "additionalProperties");
        if (cJSON_IsObject(ap))
            return ap;
    }
    return NULL;
}

static void check_err(struct parser *p, size_t pos, const char *field)
{
    if (p->check_rc)
        return;
    p->check_rc = SIM_CEL_ECOMPILE;
    p->check_pos = pos;
    snprintf(p->check_msg, sizeof(p->check_msg), "undefined field '%s'", field);
}

static void check_select(struct parser *p, const struct node *sel)
{
    if (!p->schema)
        return;
    bool root;
    const cJSON *s = static_schema(p, sel->a, &root);
    if (root && (p->prog->flags & SIM_CEL_RESOURCE_ROOT)) {
        if (!strcmp(sel->name, "apiVersion") || !strcmp(sel->name, "kind") ||
            !strcmp(sel->name, "metadata"))
            return;
    }
    if (!s) {
        /* self.metadata.<x>: only name and generateName are visible to rules. */
        if (sel->a && sel->a->k == N_SELECT && !strcmp(sel->a->name, "metadata") &&
            (p->prog->flags & SIM_CEL_RESOURCE_ROOT)) {
            bool r2;
            static_schema(p, sel->a->a, &r2);
            if (r2 && strcmp(sel->name, "name") && strcmp(sel->name, "generateName"))
                check_err(p, sel->pos, sel->name);
        }
        return;
    }
    bool known, undef;
    schema_prop(s, sel->name, &known, &undef);
    if (undef)
        check_err(p, sel->pos, sel->name);
}

static const cJSON *iter_schema(struct parser *p, const struct node *range)
{
    bool root;
    const cJSON *s = static_schema(p, range, &root);
    if (!s)
        return NULL;
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(s, "items");
    if (cJSON_IsObject(items))
        return items;
    return NULL; /* map keys are strings: nothing to check below them */
}

static struct node *make_call(struct parser *p, size_t pos, const char *name, struct node *target,
                              struct node **args, int nargs)
{
    int total = nargs + (target ? 1 : 0);
    for (size_t i = 0; i < sizeof(fn_defs) / sizeof(fn_defs[0]); i++) {
        const struct fn_def *f = &fn_defs[i];
        if (strcmp(f->name, name))
            continue;
        if ((target && !f->method) || (!target && !f->global) || total < f->min_args ||
            total > f->max_args)
            continue;
        struct node *n = new_node(p, N_CALL, pos);
        if (!n)
            return NULL;
        n->op = f->id;
        n->name = name;
        n->nargs = (size_t)total;
        n->args = palloc(p, sizeof(*n->args) * (size_t)total);
        if (!n->args)
            return NULL;
        int k = 0;
        if (target)
            n->args[k++] = target;
        for (int j = 0; j < nargs; j++)
            n->args[k++] = args[j];
        /* A literal pattern is compiled now: a bad one refuses the rule, as cel-go does. */
        if (f->id == F_MATCHES && n->args[1]->k == N_LIT && n->args[1]->lit.k == V_STRING) {
            regex_t *re = palloc(p, sizeof(*re));
            if (!re)
                return NULL;
            char rerr[256];
            int rrc = sim_cel_regex_compile(n->args[1]->lit.u.s.p, re, rerr, sizeof(rerr));
            if (rrc != 0) {
                perr(p, rrc, n->args[1]->pos, "%s", rerr);
                return NULL;
            }
            regex_t **list = palloc(p, sizeof(*list) * (p->prog->nregex + 1));
            if (!list) {
                regfree(re);
                return NULL;
            }
            if (p->prog->nregex)
                memcpy(list, p->prog->regexes, sizeof(*list) * p->prog->nregex);
            list[p->prog->nregex++] = re;
            p->prog->regexes = list;
            n->re = re;
        }
        return n;
    }
    bool known = false;
    for (size_t i = 0; i < sizeof(fn_defs) / sizeof(fn_defs[0]); i++)
        if (!strcmp(fn_defs[i].name, name))
            known = true;
    if (known)
        perr(p, SIM_CEL_ECOMPILE, pos,
             "found no matching overload for '%s' applied to %d argument%s%s", name, total,
             total == 1 ? "" : "s", target ? " (as a method)" : "");
    else
        perr(p, SIM_CEL_EUNSUPPORTED, pos,
             "unsupported construct: function '%s' is outside the simulator's CEL subset", name);
    return NULL;
}

static struct node *make_macro(struct parser *p, size_t pos, enum comp_kind kind,
                               struct node *target, struct node **args, int nargs)
{
    (void)args;
    struct node *n = new_node(p, N_COMP, pos);
    if (!n)
        return NULL;
    n->op = (int)(kind == C_MAP && nargs == 3 ? C_MAP_FILTER : kind);
    n->a = target;
    return n;
}

static struct node *parse_member_call_or_macro(struct parser *p, size_t pos, const char *name,
                                               struct node *target)
{
    /* p->tok is '(' */
    enum comp_kind kind;
    if (is_macro_name(name, &kind) && target) {
        next(p);
        /* The first argument must be a simple name, declared for the body. */
        if (p->tok.k != T_IDENT) {
            perr(p, SIM_CEL_ECOMPILE, p->tok.pos, "argument must be a simple name");
            return NULL;
        }
        const char *var = p->tok.s;
        size_t var_pos = p->tok.pos;
        next(p);
        if (p->tok.k == T_RPAREN) {
            perr(p, SIM_CEL_ECOMPILE, pos, "found no matching overload for '%s'", name);
            return NULL;
        }
        if (!expect(p, T_COMMA, "','"))
            return NULL;
        if (p->tok.k == T_IDENT) {
            /* `all(i, v, pred)`: a two-variable comprehension (CEL ext), not ours. */
            struct token save = p->tok;
            size_t save_pos = p->pos;
            next(p);
            bool two_var = p->tok.k == T_COMMA;
            p->tok = save;
            p->pos = save_pos;
            if (two_var && kind != C_MAP) {
                perr(p, SIM_CEL_EUNSUPPORTED, pos,
                     "unsupported construct: two-variable comprehension '%s'", name);
                return NULL;
            }
        }
        if (p->nscope >= CEL_MAX_DEPTH) {
            perr(p, SIM_CEL_ESYNTAX, var_pos, "expression recursion limit exceeded");
            return NULL;
        }
        if (!strcmp(var, "self") || !strcmp(var, "oldSelf")) {
            perr(p, SIM_CEL_EUNSUPPORTED, var_pos,
                 "unsupported construct: macro variable shadowing '%s'", var);
            return NULL;
        }
        if (p->schema) {
            bool root;
            const cJSON *ts = static_schema(p, target, &root);
            if (ts && schema_is_object_type(ts) && !p->check_rc) {
                p->check_rc = SIM_CEL_ECOMPILE;
                p->check_pos = pos;
                snprintf(p->check_msg, sizeof(p->check_msg),
                         "expression of type 'object' cannot be the range of a comprehension "
                         "(must be list, map, or dynamic)");
            }
        }
        p->scope[p->nscope] = var;
        p->scope_schema[p->nscope] = iter_schema(p, target);
        p->nscope++;
        struct node **rest;
        int nrest = parse_expr_list(p, T_RPAREN, &rest);
        p->nscope--;
        if (nrest < 0 || !expect(p, T_RPAREN, "')'"))
            return NULL;
        int nargs = nrest + 1;
        if (nargs == 3 && kind != C_MAP) {
            perr(p, SIM_CEL_EUNSUPPORTED, pos,
                 "unsupported construct: two-variable comprehension '%s'", name);
            return NULL;
        }
        if (nargs != 2 && !(kind == C_MAP && nargs == 3)) {
            perr(p, SIM_CEL_ECOMPILE, pos, "found no matching overload for '%s'", name);
            return NULL;
        }
        struct node *n = make_macro(p, pos, kind, target, rest, nargs);
        if (!n)
            return NULL;
        n->name = var;
        n->b = rest[0];
        n->c = nargs == 3 ? rest[1] : NULL;
        return n;
    }
    next(p); /* ( */
    struct node **args;
    int nargs = parse_expr_list(p, T_RPAREN, &args);
    if (nargs < 0 || !expect(p, T_RPAREN, "')'"))
        return NULL;
    if (!target && !strcmp(name, "has")) {
        if (nargs != 1 || args[0]->k != N_SELECT) {
            perr(p, SIM_CEL_ECOMPILE, pos, "invalid argument to has() macro");
            return NULL;
        }
        struct node *n = new_node(p, N_HAS, pos);
        if (!n)
            return NULL;
        n->a = args[0]->a;
        n->name = args[0]->name;
        return n;
    }
    if (!target && is_macro_name(name, &kind)) {
        perr(p, SIM_CEL_ECOMPILE, pos, "undeclared reference to '%s' (in container '')", name);
        return NULL;
    }
    return make_call(p, pos, name, target, args, nargs);
}

static struct node *parse_primary(struct parser *p)
{
    struct token t = p->tok;
    struct node *n = NULL;
    switch (t.k) {
    case T_INT:
        n = new_node(p, N_LIT, t.pos);
        if (!n)
            return NULL;
        if (t.u > (uint64_t)INT64_MAX) {
            perr(p, SIM_CEL_ESYNTAX, t.pos, "Syntax error: invalid int literal");
            return NULL;
        }
        n->lit.k = V_INT;
        n->lit.u.i = (int64_t)t.u;
        next(p);
        return n;
    case T_UINT:
        n = new_node(p, N_LIT, t.pos);
        if (!n)
            return NULL;
        n->lit.k = V_UINT;
        n->lit.u.u = t.u;
        next(p);
        return n;
    case T_DOUBLE:
        n = new_node(p, N_LIT, t.pos);
        if (!n)
            return NULL;
        n->lit.k = V_DOUBLE;
        n->lit.u.d = t.d;
        next(p);
        return n;
    case T_STRING:
        n = new_node(p, N_LIT, t.pos);
        if (!n)
            return NULL;
        n->lit.k = V_STRING;
        n->lit.u.s.p = t.s;
        n->lit.u.s.n = t.slen;
        next(p);
        return n;
    case T_TRUE:
    case T_FALSE:
        n = new_node(p, N_LIT, t.pos);
        if (!n)
            return NULL;
        n->lit.k = V_BOOL;
        n->lit.u.b = t.k == T_TRUE;
        next(p);
        return n;
    case T_NULL:
        n = new_node(p, N_LIT, t.pos);
        if (!n)
            return NULL;
        n->lit.k = V_NULL;
        next(p);
        return n;
    case T_LPAREN:
        next(p);
        n = parse_expr(p);
        if (!n || !expect(p, T_RPAREN, "')'"))
            return NULL;
        return n;
    case T_LBRACKET: {
        next(p);
        n = new_node(p, N_LIST, t.pos);
        if (!n)
            return NULL;
        struct node **elems;
        int ne = parse_expr_list(p, T_RBRACKET, &elems);
        if (ne < 0 || !expect(p, T_RBRACKET, "']'"))
            return NULL;
        n->args = elems;
        n->nargs = (size_t)ne;
        return n;
    }
    case T_LBRACE: {
        next(p);
        n = new_node(p, N_MAP, t.pos);
        if (!n)
            return NULL;
        struct node *tmp[256];
        size_t cnt = 0;
        while (p->tok.k != T_RBRACE && p->rc == 0) {
            if (cnt + 2 > sizeof(tmp) / sizeof(tmp[0])) {
                perr(p, SIM_CEL_EUNSUPPORTED, p->tok.pos,
                     "unsupported construct: more than 128 entries in a map literal");
                return NULL;
            }
            struct node *k = parse_expr(p);
            if (!k || !expect(p, T_COLON, "':'"))
                return NULL;
            struct node *v = parse_expr(p);
            if (!v)
                return NULL;
            tmp[cnt++] = k;
            tmp[cnt++] = v;
            if (p->tok.k != T_COMMA)
                break;
            next(p);
        }
        if (!expect(p, T_RBRACE, "'}'"))
            return NULL;
        n->args = palloc(p, sizeof(*n->args) * (cnt ? cnt : 1));
        if (!n->args)
            return NULL;
        memcpy(n->args, tmp, sizeof(*n->args) * cnt);
        n->nargs = cnt;
        return n;
    }
    case T_DOT:
        perr(p, SIM_CEL_EUNSUPPORTED, t.pos,
             "unsupported construct: leading '.' (root namespace) identifier");
        return NULL;
    case T_IDENT: {
        next(p);
        if (p->tok.k == T_LPAREN)
            return parse_member_call_or_macro(p, t.pos, t.s, NULL);
        if (p->tok.k == T_LBRACE) {
            perr(p, SIM_CEL_EUNSUPPORTED, t.pos,
                 "unsupported construct: message construction '%s{...}'", t.s);
            return NULL;
        }
        bool declared = !strcmp(t.s, "self") || !strcmp(t.s, "oldSelf");
        for (int i = 0; i < p->nscope && !declared; i++)
            if (!strcmp(p->scope[i], t.s))
                declared = true;
        if (!declared) {
            perr(p, SIM_CEL_ECOMPILE, t.pos, "undeclared reference to '%s' (in container '')", t.s);
            return NULL;
        }
        if (!strcmp(t.s, "oldSelf")) {
            bool shadowed = false;
            for (int i = 0; i < p->nscope; i++)
                if (!strcmp(p->scope[i], t.s))
                    shadowed = true;
            if (!shadowed)
                p->prog->uses_old_self = true;
        }
        n = new_node(p, N_IDENT, t.pos);
        if (!n)
            return NULL;
        n->name = t.s;
        return n;
    }
    default:
        unexpected(p);
        return NULL;
    }
}

static struct node *parse_member(struct parser *p)
{
    struct node *n = parse_primary(p);
    while (n && p->rc == 0) {
        if (p->tok.k == T_DOT) {
            next(p);
            if (p->tok.k == T_QUESTION) {
                perr(p, SIM_CEL_EUNSUPPORTED, p->tok.pos,
                     "unsupported construct: optional field selection '.?'");
                return NULL;
            }
            if (p->tok.k != T_IDENT) {
                char buf[64];
                perr(p, SIM_CEL_ESYNTAX, p->tok.pos,
                     "Syntax error: mismatched input '%s' expecting IDENTIFIER",
                     tok_text(p, buf, sizeof(buf)));
                return NULL;
            }
            struct token id = p->tok;
            next(p);
            if (p->tok.k == T_LPAREN) {
                n = parse_member_call_or_macro(p, id.pos, id.s, n);
                continue;
            }
            struct node *s = new_node(p, N_SELECT, id.pos);
            if (!s)
                return NULL;
            s->a = n;
            s->name = id.s;
            check_select(p, s);
            n = s;
        } else if (p->tok.k == T_LBRACKET) {
            size_t pos = p->tok.pos;
            next(p);
            if (p->tok.k == T_QUESTION) {
                perr(p, SIM_CEL_EUNSUPPORTED, p->tok.pos,
                     "unsupported construct: optional index '[?'");
                return NULL;
            }
            struct node *idx = parse_expr(p);
            if (!idx || !expect(p, T_RBRACKET, "']'"))
                return NULL;
            struct node *s = new_node(p, N_INDEX, pos);
            if (!s)
                return NULL;
            s->a = n;
            s->b = idx;
            n = s;
        } else if (p->tok.k == T_LBRACE) {
            perr(p, SIM_CEL_EUNSUPPORTED, p->tok.pos,
                 "unsupported construct: message construction");
            return NULL;
        } else {
            break;
        }
    }
    return p->rc ? NULL : n;
}

static struct node *parse_unary(struct parser *p)
{
    if (++p->depth > CEL_MAX_DEPTH) {
        perr(p, SIM_CEL_ESYNTAX, p->tok.pos, "expression recursion limit exceeded: %d",
             CEL_MAX_DEPTH);
        return NULL;
    }
    struct node *n = NULL;
    if (p->tok.k == T_NOT) {
        size_t pos = p->tok.pos;
        next(p);
        struct node *a = parse_unary(p);
        if (a) {
            n = new_node(p, N_NOT, pos);
            if (n)
                n->a = a;
        }
    } else if (p->tok.k == T_MINUS) {
        size_t pos = p->tok.pos;
        next(p);
        /* -9223372036854775808 is a valid int literal only with its sign. */
        if (p->tok.k == T_INT && p->tok.u == (uint64_t)INT64_MAX + 1) {
            n = new_node(p, N_LIT, pos);
            if (n) {
                n->lit.k = V_INT;
                n->lit.u.i = INT64_MIN;
            }
            next(p);
            /* a member suffix on the literal is nonsense; let the caller see it */
        } else {
            struct node *a = parse_unary(p);
            if (a) {
                n = new_node(p, N_NEG, pos);
                if (n)
                    n->a = a;
            }
        }
    } else {
        n = parse_member(p);
    }
    p->depth--;
    return p->rc ? NULL : n;
}

static struct node *binary(struct parser *p, size_t pos, int op, struct node *a, struct node *b)
{
    struct node *n = new_node(p, N_BINARY, pos);
    if (n) {
        n->op = op;
        n->a = a;
        n->b = b;
    }
    return n;
}

static struct node *parse_mul(struct parser *p)
{
    struct node *n = parse_unary(p);
    while (n && (p->tok.k == T_STAR || p->tok.k == T_SLASH || p->tok.k == T_PERCENT)) {
        int op = p->tok.k == T_STAR ? OP_MUL : p->tok.k == T_SLASH ? OP_DIV : OP_MOD;
        size_t pos = p->tok.pos;
        next(p);
        struct node *b = parse_unary(p);
        n = b ? binary(p, pos, op, n, b) : NULL;
    }
    return n;
}

static struct node *parse_add(struct parser *p)
{
    struct node *n = parse_mul(p);
    while (n && (p->tok.k == T_PLUS || p->tok.k == T_MINUS)) {
        int op = p->tok.k == T_PLUS ? OP_ADD : OP_SUB;
        size_t pos = p->tok.pos;
        next(p);
        struct node *b = parse_mul(p);
        n = b ? binary(p, pos, op, n, b) : NULL;
    }
    return n;
}

static struct node *parse_rel(struct parser *p)
{
    struct node *n = parse_add(p);
    for (;;) {
        int op;
        switch (p->tok.k) {
        case T_EQ:
            op = OP_EQ;
            break;
        case T_NE:
            op = OP_NE;
            break;
        case T_LT:
            op = OP_LT;
            break;
        case T_LE:
            op = OP_LE;
            break;
        case T_GT:
            op = OP_GT;
            break;
        case T_GE:
            op = OP_GE;
            break;
        case T_IN:
            op = OP_IN;
            break;
        default:
            return n;
        }
        if (!n)
            return NULL;
        size_t pos = p->tok.pos;
        next(p);
        struct node *b = parse_add(p);
        n = b ? binary(p, pos, op, n, b) : NULL;
    }
}

static struct node *parse_and(struct parser *p)
{
    struct node *n = parse_rel(p);
    while (n && p->tok.k == T_ANDAND) {
        size_t pos = p->tok.pos;
        next(p);
        struct node *b = parse_rel(p);
        if (!b)
            return NULL;
        struct node *a = new_node(p, N_AND, pos);
        if (!a)
            return NULL;
        a->a = n;
        a->b = b;
        n = a;
    }
    return n;
}

static struct node *parse_or(struct parser *p)
{
    struct node *n = parse_and(p);
    while (n && p->tok.k == T_OROR) {
        size_t pos = p->tok.pos;
        next(p);
        struct node *b = parse_and(p);
        if (!b)
            return NULL;
        struct node *o = new_node(p, N_OR, pos);
        if (!o)
            return NULL;
        o->a = n;
        o->b = b;
        n = o;
    }
    return n;
}

static struct node *parse_expr(struct parser *p)
{
    if (++p->depth > CEL_MAX_DEPTH) {
        perr(p, SIM_CEL_ESYNTAX, p->tok.pos, "expression recursion limit exceeded: %d",
             CEL_MAX_DEPTH);
        return NULL;
    }
    struct node *n = parse_or(p);
    if (n && p->tok.k == T_QUESTION) {
        size_t pos = p->tok.pos;
        next(p);
        struct node *t = parse_or(p);
        if (!t || !expect(p, T_COLON, "':'")) {
            p->depth--;
            return NULL;
        }
        struct node *f = parse_expr(p);
        if (!f) {
            p->depth--;
            return NULL;
        }
        struct node *c = new_node(p, N_COND, pos);
        if (c) {
            c->a = n;
            c->b = t;
            c->c = f;
        }
        n = c;
    }
    p->depth--;
    return p->rc ? NULL : n;
}

void sim_cel_program_free(struct sim_cel_program *prog)
{
    if (!prog)
        return;
    for (size_t i = 0; i < prog->nregex; i++)
        regfree(prog->regexes[i]);
    arena_free(&prog->arena);
    free(prog);
}

int sim_cel_compile(const char *src, const cJSON *schema, unsigned flags,
                    struct sim_cel_program **out, char *err, size_t errlen)
{
    int rc = SIM_CEL_OK;
    struct sim_cel_program *prog = NULL;
    if (err && errlen)
        err[0] = '\0';
    if (!src || !out) {
        set_err(err, errlen, "no expression");
        return SIM_CEL_ESYNTAX;
    }
    *out = NULL;
    size_t len = strlen(src);
    if (len > CEL_MAX_SRC) {
        set_err(err, errlen, "expression longer than %d bytes", CEL_MAX_SRC);
        return SIM_CEL_EUNSUPPORTED;
    }
    prog = calloc(1, sizeof(*prog));
    if (!prog) {
        set_err(err, errlen, "out of memory");
        return SIM_CEL_ENOMEM;
    }
    arena_init(&prog->arena, CEL_PROG_ARENA_MAX);
    prog->flags = flags;
    struct parser p;
    memset(&p, 0, sizeof(p));
    p.src = src;
    p.len = len;
    p.arena = &prog->arena;
    p.prog = prog;
    p.err = err;
    p.errlen = errlen;
    p.schema = schema;
    next(&p);
    struct node *root = p.rc ? NULL : parse_expr(&p);
    if (p.rc == 0 && root && p.tok.k != T_EOF)
        unexpected(&p);
    if (p.rc == 0 && !root)
        unexpected(&p);
    if (p.rc == 0 && p.check_rc)
        perr(&p, p.check_rc, p.check_pos, "%s", p.check_msg);
    if (p.rc != 0) {
        rc = p.rc;
        goto out;
    }
    prog->root = root;
    *out = prog;
    prog = NULL;
out:
    sim_cel_program_free(prog);
    return rc;
}

bool sim_cel_program_uses_old_self(const struct sim_cel_program *prog)
{
    return prog && prog->uses_old_self;
}

/* ------------------------------------------------------------ evaluator */

struct scope_var {
    const char *name;
    struct cval val;
    const struct scope_var *next;
};

struct ectx {
    struct arena arena;
    const struct sim_cel_program *prog;
    struct cval self;
    struct cval old_self;
    bool has_old;
    unsigned long steps;
};

static struct cval verr(struct ectx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static struct cval verr(struct ectx *c, const char *fmt, ...)
{
    struct cval v = {.k = V_ERR};
    char buf[SIM_CEL_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    const char *m = arena_strndup(&c->arena, buf, strlen(buf));
    v.u.err = m ? m : "out of memory";
    return v;
}

static struct cval vbool(bool b)
{
    struct cval v = {.k = V_BOOL};
    v.u.b = b;
    return v;
}

static struct cval vint(int64_t i)
{
    struct cval v = {.k = V_INT};
    v.u.i = i;
    return v;
}

static struct cval vuint(uint64_t u)
{
    struct cval v = {.k = V_UINT};
    v.u.u = u;
    return v;
}

static struct cval vdouble(double d)
{
    struct cval v = {.k = V_DOUBLE};
    v.u.d = d;
    return v;
}

static struct cval vstr(struct ectx *c, const char *s, size_t n)
{
    struct cval v = {.k = V_STRING};
    char *p = arena_strndup(&c->arena, s, n);
    if (!p)
        return verr(c, "out of memory");
    v.u.s.p = p;
    v.u.s.n = n;
    return v;
}

static struct cval no_overload(struct ectx *c, const char *fn, const struct cval *a,
                               const struct cval *b)
{
    if (b)
        return verr(c, "no such overload: %s(%s, %s)", fn, kind_name(a->k), kind_name(b->k));
    return verr(c, "no such overload: %s(%s)", fn, kind_name(a->k));
}

/* ----- time */

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static bool parse_digits(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* RFC 3339: 2006-01-02T15:04:05[.999999999](Z|±07:00). */
static bool parse_rfc3339(const char *s, size_t n, int64_t *sec, int32_t *nsec)
{
    int Y, M, D, h, mi, se;
    if (n < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
        s[16] != ':')
        return false;
    if (!parse_digits(s, 4, &Y) || !parse_digits(s + 5, 2, &M) || !parse_digits(s + 8, 2, &D) ||
        !parse_digits(s + 11, 2, &h) || !parse_digits(s + 14, 2, &mi) ||
        !parse_digits(s + 17, 2, &se))
        return false;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (Y < 1 || M < 1 || M > 12 || D < 1 || D > mdays[M - 1] || h > 23 || mi > 59 || se > 59)
        return false;
    bool leap = (Y % 4 == 0 && Y % 100 != 0) || Y % 400 == 0;
    if (M == 2 && D == 29 && !leap)
        return false;
    size_t i = 19;
    int32_t ns = 0;
    if (i < n && s[i] == '.') {
        i++;
        size_t start = i;
        int digits = 0;
        while (i < n && isdigit((unsigned char)s[i])) {
            if (digits < 9) {
                ns = ns * 10 + (s[i] - '0');
                digits++;
            }
            i++;
        }
        if (i == start)
            return false;
        while (digits++ < 9)
            ns *= 10;
    }
    int offset = 0;
    if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i + 6 == n && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
        int oh, om;
        if (!parse_digits(s + i + 1, 2, &oh) || !parse_digits(s + i + 4, 2, &om) || oh > 23 ||
            om > 59)
            return false;
        offset = (oh * 60 + om) * 60 * (s[i] == '-' ? -1 : 1);
        i += 6;
    } else {
        return false;
    }
    if (i != n)
        return false;
    *sec = days_from_civil(Y, (unsigned)M, (unsigned)D) * 86400 + h * 3600 + mi * 60 + se - offset;
    *nsec = ns;
    return true;
}

/* The valid CEL timestamp range: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999999Z. */
static bool ts_in_range(int64_t sec)
{
    return sec >= -62135596800LL && sec <= 253402300799LL;
}

static void format_rfc3339(int64_t sec, int32_t nsec, char *buf, size_t buflen)
{
    int64_t days = sec >= 0 ? sec / 86400 : -((-sec + 86399) / 86400);
    int64_t rem = sec - days * 86400;
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    char frac[16] = "";
    if (nsec) {
        snprintf(frac, sizeof(frac), ".%09d", (int)nsec);
        size_t l = strlen(frac);
        while (l > 1 && frac[l - 1] == '0')
            frac[--l] = '\0';
    }
    snprintf(buf, buflen, "%04" PRId64 "-%02u-%02uT%02d:%02d:%02d%sZ", y, m, d, (int)(rem / 3600),
             (int)(rem % 3600 / 60), (int)(rem % 60), frac);
}

/* Go's time.ParseDuration: "1h2m3.5s", "300ms", "-1.5h". */
static bool parse_duration(const char *s, size_t n, int64_t *sec, int32_t *nsec)
{
    size_t i = 0;
    bool neg = false;
    if (i < n && (s[i] == '-' || s[i] == '+')) {
        neg = s[i] == '-';
        i++;
    }
    if (i == n)
        return false;
    if (n - i == 1 && s[i] == '0') {
        *sec = 0;
        *nsec = 0;
        return true;
    }
    long double total_ns = 0;
    while (i < n) {
        size_t start = i;
        long double v = 0;
        while (i < n && isdigit((unsigned char)s[i]))
            v = v * 10 + (s[i++] - '0');
        if (i < n && s[i] == '.') {
            i++;
            long double scale = 0.1L;
            while (i < n && isdigit((unsigned char)s[i])) {
                v += (s[i++] - '0') * scale;
                scale /= 10;
            }
        }
        if (i == start)
            return false;
        size_t us = i;
        while (i < n && !isdigit((unsigned char)s[i]) && s[i] != '.')
            i++;
        size_t ul = i - us;
        long double unit;
        if (ul == 2 && !memcmp(s + us, "ns", 2))
            unit = 1;
        else if (ul == 2 && (!memcmp(s + us, "us", 2)))
            unit = 1e3L;
        else if (ul == 3 && !memcmp(s + us, "\xc2\xb5s", 3))
            unit = 1e3L;
        else if (ul == 2 && !memcmp(s + us, "ms", 2))
            unit = 1e6L;
        else if (ul == 1 && s[us] == 's')
            unit = 1e9L;
        else if (ul == 1 && s[us] == 'm')
            unit = 60e9L;
        else if (ul == 1 && s[us] == 'h')
            unit = 3600e9L;
        else
            return false;
        total_ns += v * unit;
        if (total_ns > 9.3e18L)
            return false;
    }
    int64_t ns = (int64_t)total_ns;
    if (neg)
        ns = -ns;
    *sec = ns / 1000000000;
    *nsec = (int32_t)(ns % 1000000000);
    return true;
}

static void format_duration(int64_t sec, int32_t nsec, char *buf, size_t buflen)
{
    if (nsec == 0) {
        snprintf(buf, buflen, "%" PRId64 "s", sec);
        return;
    }
    bool neg = sec < 0 || nsec < 0;
    uint64_t s = (uint64_t)(sec < 0 ? -sec : sec);
    int32_t ns = nsec < 0 ? -nsec : nsec;
    char frac[16];
    snprintf(frac, sizeof(frac), "%09d", (int)ns);
    size_t l = strlen(frac);
    while (l > 1 && frac[l - 1] == '0')
        frac[--l] = '\0';
    snprintf(buf, buflen, "%s%" PRIu64 ".%ss", neg ? "-" : "", s, frac);
}

static void norm_time(int64_t *sec, int32_t *nsec)
{
    while (*nsec >= 1000000000) {
        *nsec -= 1000000000;
        (*sec)++;
    }
    while (*nsec < 0) {
        *nsec += 1000000000;
        (*sec)--;
    }
}

/* ----- JSON to values */

static const char *schema_type(const cJSON *schema)
{
    const cJSON *t = schema ? cJSON_GetObjectItemCaseSensitive(schema, "type") : NULL;
    return cJSON_IsString(t) ? t->valuestring : NULL;
}

static struct cval from_json(struct ectx *c, const cJSON *j, const cJSON *schema, int depth,
                             bool resource_root);

static struct cval number_from_json(const cJSON *j, const cJSON *schema)
{
    const char *t = schema_type(schema);
    double d = j->valuedouble;
    bool whole = d == floor(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0;
    if (t && !strcmp(t, "number"))
        return vdouble(d);
    if (whole)
        return vint((int64_t)d);
    return vdouble(d);
}

static struct cval from_json(struct ectx *c, const cJSON *j, const cJSON *schema, int depth,
                             bool resource_root)
{
    if (depth > 200)
        return verr(c, "value nested too deeply");
    if (!j || cJSON_IsNull(j))
        return (struct cval){.k = V_NULL};
    if (cJSON_IsBool(j))
        return vbool(cJSON_IsTrue(j));
    if (cJSON_IsNumber(j))
        return number_from_json(j, schema);
    if (cJSON_IsString(j)) {
        const char *fmt = NULL;
        const cJSON *f = schema ? cJSON_GetObjectItemCaseSensitive(schema, "format") : NULL;
        if (cJSON_IsString(f))
            fmt = f->valuestring;
        const char *s = j->valuestring;
        size_t n = strlen(s);
        /* As in the real server, string fields with these formats are typed values. */
        if (fmt && !strcmp(fmt, "date-time")) {
            struct cval v = {.k = V_TIMESTAMP};
            if (parse_rfc3339(s, n, &v.u.t.sec, &v.u.t.nsec))
                return v;
        } else if (fmt && !strcmp(fmt, "duration")) {
            struct cval v = {.k = V_DURATION};
            if (parse_duration(s, n, &v.u.t.sec, &v.u.t.nsec))
                return v;
        }
        struct cval v = {.k = V_STRING};
        v.u.s.p = s; /* borrowed from the caller's tree, which outlives the evaluation */
        v.u.s.n = n;
        return v;
    }
    if (cJSON_IsArray(j)) {
        struct clist *l = arena_alloc(&c->arena, sizeof(*l));
        int n = cJSON_GetArraySize(j);
        if (!l)
            return verr(c, "out of memory");
        l->items = arena_alloc(&c->arena, sizeof(*l->items) * (size_t)(n ? n : 1));
        if (!l->items)
            return verr(c, "out of memory");
        const cJSON *items = schema ? cJSON_GetObjectItemCaseSensitive(schema, "items") : NULL;
        const cJSON *lt =
            schema ? cJSON_GetObjectItemCaseSensitive(schema, "x-kubernetes-list-type") : NULL;
        l->unordered = cJSON_IsString(lt) &&
                       (!strcmp(lt->valuestring, "set") || !strcmp(lt->valuestring, "map"));
        const cJSON *e;
        cJSON_ArrayForEach(e, j)
        {
            struct cval v = from_json(c, e, items, depth + 1, false);
            if (v.k == V_ERR)
                return v;
            l->items[l->n++] = v;
        }
        struct cval v = {.k = V_LIST};
        v.u.l = l;
        return v;
    }
    if (cJSON_IsObject(j)) {
        struct cmap *m = arena_alloc(&c->arena, sizeof(*m));
        int n = cJSON_GetArraySize(j);
        if (!m)
            return verr(c, "out of memory");
        m->keys = arena_alloc(&c->arena, sizeof(*m->keys) * (size_t)(n ? n : 1));
        m->vals = arena_alloc(&c->arena, sizeof(*m->vals) * (size_t)(n ? n : 1));
        if (!m->keys || !m->vals)
            return verr(c, "out of memory");
        const cJSON *props = schema ? cJSON_GetObjectItemCaseSensitive(schema, "properties") : NULL;
        const cJSON *ap =
            schema ? cJSON_GetObjectItemCaseSensitive(schema, "additionalProperties") : NULL;
        /* Unknown fields kept by x-kubernetes-preserve-unknown-fields stay invisible. */
        bool only_declared =
            schema_is_object_type(schema) && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
                                                 schema, "x-kubernetes-preserve-unknown-fields"));
        const cJSON *e;
        cJSON_ArrayForEach(e, j)
        {
            const cJSON *child = props ? cJSON_GetObjectItemCaseSensitive(props, e->string) : NULL;
            if (only_declared && !(child && schema_has_cel_type(child)) &&
                !(resource_root && (!strcmp(e->string, "apiVersion") ||
                                    !strcmp(e->string, "kind") || !strcmp(e->string, "metadata"))))
                continue;
            if (!child && cJSON_IsObject(ap))
                child = ap;
            struct cval v;
            if (resource_root && !strcmp(e->string, "metadata") && cJSON_IsObject(e)) {
                /* Rules see only metadata.name and metadata.generateName. */
                cJSON *meta = cJSON_CreateObject();
                if (!meta)
                    return verr(c, "out of memory");
                const char *keep[] = {"name", "generateName"};
                for (int k = 0; k < 2; k++) {
                    const cJSON *x = cJSON_GetObjectItemCaseSensitive(e, keep[k]);
                    if (cJSON_IsString(x))
                        cJSON_AddStringToObject(meta, keep[k], x->valuestring);
                }
                v = from_json(c, meta, NULL, depth + 1, false);
                /* strings were borrowed from `meta`: copy them before freeing it */
                for (size_t k = 0; v.k == V_MAP && k < v.u.m->n; k++) {
                    struct cval *kv = &((struct cmap *)v.u.m)->keys[k];
                    struct cval *vv = &((struct cmap *)v.u.m)->vals[k];
                    *kv = vstr(c, kv->u.s.p, kv->u.s.n);
                    *vv = vstr(c, vv->u.s.p, vv->u.s.n);
                }
                cJSON_Delete(meta);
            } else {
                v = from_json(c, e, child, depth + 1, false);
            }
            if (v.k == V_ERR)
                return v;
            m->keys[m->n].k = V_STRING;
            m->keys[m->n].u.s.p = e->string;
            m->keys[m->n].u.s.n = strlen(e->string);
            m->vals[m->n] = v;
            m->n++;
        }
        struct cval v = {.k = V_MAP};
        v.u.m = m;
        return v;
    }
    return verr(c, "unsupported JSON value");
}

/* ----- comparisons */

static int cmp_num(const struct cval *a, const struct cval *b, bool *ok)
{
    *ok = true;
    if (a->k == V_INT && b->k == V_INT)
        return (a->u.i > b->u.i) - (a->u.i < b->u.i);
    if (a->k == V_UINT && b->k == V_UINT)
        return (a->u.u > b->u.u) - (a->u.u < b->u.u);
    if (a->k == V_INT && b->k == V_UINT) {
        if (a->u.i < 0)
            return -1;
        uint64_t x = (uint64_t)a->u.i;
        return (x > b->u.u) - (x < b->u.u);
    }
    if (a->k == V_UINT && b->k == V_INT) {
        if (b->u.i < 0)
            return 1;
        uint64_t y = (uint64_t)b->u.i;
        return (a->u.u > y) - (a->u.u < y);
    }
    double x, y;
    switch (a->k) {
    case V_INT:
        x = (double)a->u.i;
        break;
    case V_UINT:
        x = (double)a->u.u;
        break;
    case V_DOUBLE:
        x = a->u.d;
        break;
    default:
        *ok = false;
        return 0;
    }
    switch (b->k) {
    case V_INT:
        y = (double)b->u.i;
        break;
    case V_UINT:
        y = (double)b->u.u;
        break;
    case V_DOUBLE:
        y = b->u.d;
        break;
    default:
        *ok = false;
        return 0;
    }
    if (isnan(x) || isnan(y)) {
        *ok = false;
        return 0;
    }
    return (x > y) - (x < y);
}

static bool is_num(enum vkind k)
{
    return k == V_INT || k == V_UINT || k == V_DOUBLE;
}

static int cmp_str(const struct cval *a, const struct cval *b)
{
    size_t n = a->u.s.n < b->u.s.n ? a->u.s.n : b->u.s.n;
    int r = memcmp(a->u.s.p, b->u.s.p, n);
    if (r)
        return r < 0 ? -1 : 1;
    return (a->u.s.n > b->u.s.n) - (a->u.s.n < b->u.s.n);
}

static bool val_equal(const struct cval *a, const struct cval *b, int depth);

static const struct cval *map_get(const struct cmap *m, const struct cval *key)
{
    for (size_t i = 0; i < m->n; i++)
        if (val_equal(&m->keys[i], key, 0))
            return &m->vals[i];
    return NULL;
}

static bool val_equal(const struct cval *a, const struct cval *b, int depth)
{
    if (depth > 200)
        return false;
    if (is_num(a->k) && is_num(b->k)) {
        bool ok;
        int r = cmp_num(a, b, &ok);
        return ok && r == 0;
    }
    if (a->k != b->k)
        return false;
    switch (a->k) {
    case V_NULL:
        return true;
    case V_BOOL:
        return a->u.b == b->u.b;
    case V_STRING:
        return a->u.s.n == b->u.s.n && !memcmp(a->u.s.p, b->u.s.p, a->u.s.n);
    case V_TIMESTAMP:
    case V_DURATION:
        return a->u.t.sec == b->u.t.sec && a->u.t.nsec == b->u.t.nsec;
    case V_LIST: {
        const struct clist *x = a->u.l, *y = b->u.l;
        if (x->n != y->n)
            return false;
        if (!x->unordered || !y->unordered) {
            for (size_t i = 0; i < x->n; i++)
                if (!val_equal(&x->items[i], &y->items[i], depth + 1))
                    return false;
            return true;
        }
        /* set/map lists: equal as multisets (the real server ignores their order) */
        for (size_t i = 0; i < x->n; i++) {
            size_t cx = 0, cy = 0;
            for (size_t k = 0; k < x->n; k++) {
                if (val_equal(&x->items[i], &x->items[k], depth + 1))
                    cx++;
                if (val_equal(&x->items[i], &y->items[k], depth + 1))
                    cy++;
            }
            if (cx != cy)
                return false;
        }
        return true;
    }
    case V_MAP: {
        const struct cmap *x = a->u.m, *y = b->u.m;
        if (x->n != y->n)
            return false;
        for (size_t i = 0; i < x->n; i++) {
            const struct cval *v = map_get(y, &x->keys[i]);
            if (!v || !val_equal(&x->vals[i], v, depth + 1))
                return false;
        }
        return true;
    }
    default:
        return false;
    }
}

/* <0, 0, >0, or *ok=false when the types have no ordering. */
static int val_compare(const struct cval *a, const struct cval *b, bool *ok)
{
    if (is_num(a->k) && is_num(b->k))
        return cmp_num(a, b, ok);
    *ok = a->k == b->k;
    if (!*ok)
        return 0;
    switch (a->k) {
    case V_STRING:
        return cmp_str(a, b);
    case V_BOOL:
        return (a->u.b > b->u.b) - (a->u.b < b->u.b);
    case V_TIMESTAMP:
    case V_DURATION:
        if (a->u.t.sec != b->u.t.sec)
            return a->u.t.sec < b->u.t.sec ? -1 : 1;
        return (a->u.t.nsec > b->u.t.nsec) - (a->u.t.nsec < b->u.t.nsec);
    default:
        *ok = false;
        return 0;
    }
}

/* ----- strings */

static size_t utf8_len(const char *s, size_t n)
{
    size_t cnt = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            cnt++;
    return cnt;
}

/* Byte offset of code point index `cp` (or n when past the end). */
static size_t utf8_offset(const char *s, size_t n, size_t cp)
{
    size_t cnt = 0;
    for (size_t i = 0; i < n; i++) {
        if (((unsigned char)s[i] & 0xC0) != 0x80) {
            if (cnt == cp)
                return i;
            cnt++;
        }
    }
    return n;
}

static const char *memmem_n(const char *h, size_t hn, const char *nd, size_t nn)
{
    if (nn == 0)
        return h;
    if (nn > hn)
        return NULL;
    for (size_t i = 0; i + nn <= hn; i++)
        if (!memcmp(h + i, nd, nn))
            return h + i;
    return NULL;
}

/* ----- evaluation */

static struct cval eval(struct ectx *c, const struct node *n, const struct scope_var *vars);

static struct cval make_list(struct ectx *c, size_t cap, struct clist **out)
{
    struct clist *l = arena_alloc(&c->arena, sizeof(*l));
    if (!l)
        return verr(c, "out of memory");
    l->items = arena_alloc(&c->arena, sizeof(*l->items) * (cap ? cap : 1));
    if (!l->items)
        return verr(c, "out of memory");
    *out = l;
    struct cval v = {.k = V_LIST};
    v.u.l = l;
    return v;
}

static struct cval arith(struct ectx *c, int op, struct cval a, struct cval b)
{
    static const char *names[] = {
        [OP_ADD] = "_+_", [OP_SUB] = "_-_", [OP_MUL] = "_*_", [OP_DIV] = "_/_", [OP_MOD] = "_%_"};
    if (a.k == V_INT && b.k == V_INT) {
        int64_t r;
        switch (op) {
        case OP_ADD:
            if (__builtin_add_overflow(a.u.i, b.u.i, &r))
                return verr(c, "integer overflow");
            return vint(r);
        case OP_SUB:
            if (__builtin_sub_overflow(a.u.i, b.u.i, &r))
                return verr(c, "integer overflow");
            return vint(r);
        case OP_MUL:
            if (__builtin_mul_overflow(a.u.i, b.u.i, &r))
                return verr(c, "integer overflow");
            return vint(r);
        case OP_DIV:
            if (b.u.i == 0)
                return verr(c, "division by zero");
            if (a.u.i == INT64_MIN && b.u.i == -1)
                return verr(c, "integer overflow");
            return vint(a.u.i / b.u.i);
        case OP_MOD:
            if (b.u.i == 0)
                return verr(c, "modulus by zero");
            if (a.u.i == INT64_MIN && b.u.i == -1)
                return verr(c, "integer overflow");
            return vint(a.u.i % b.u.i);
        }
    }
    if (a.k == V_UINT && b.k == V_UINT) {
        uint64_t r;
        switch (op) {
        case OP_ADD:
            if (__builtin_add_overflow(a.u.u, b.u.u, &r))
                return verr(c, "unsigned integer overflow");
            return vuint(r);
        case OP_SUB:
            if (__builtin_sub_overflow(a.u.u, b.u.u, &r))
                return verr(c, "unsigned integer overflow");
            return vuint(r);
        case OP_MUL:
            if (__builtin_mul_overflow(a.u.u, b.u.u, &r))
                return verr(c, "unsigned integer overflow");
            return vuint(r);
        case OP_DIV:
            if (b.u.u == 0)
                return verr(c, "division by zero");
            return vuint(a.u.u / b.u.u);
        case OP_MOD:
            if (b.u.u == 0)
                return verr(c, "modulus by zero");
            return vuint(a.u.u % b.u.u);
        }
    }
    if (a.k == V_DOUBLE && b.k == V_DOUBLE) {
        switch (op) {
        case OP_ADD:
            return vdouble(a.u.d + b.u.d);
        case OP_SUB:
            return vdouble(a.u.d - b.u.d);
        case OP_MUL:
            return vdouble(a.u.d * b.u.d);
        case OP_DIV:
            return vdouble(a.u.d / b.u.d);
        default:
            break;
        }
    }
    if (op == OP_ADD && a.k == V_STRING && b.k == V_STRING) {
        if (a.u.s.n + b.u.s.n > (1u << 24))
            return verr(c, "string too long");
        char *p = arena_alloc(&c->arena, a.u.s.n + b.u.s.n + 1);
        if (!p)
            return verr(c, "out of memory");
        memcpy(p, a.u.s.p, a.u.s.n);
        memcpy(p + a.u.s.n, b.u.s.p, b.u.s.n);
        struct cval v = {.k = V_STRING};
        v.u.s.p = p;
        v.u.s.n = a.u.s.n + b.u.s.n;
        return v;
    }
    if (op == OP_ADD && a.k == V_LIST && b.k == V_LIST) {
        struct clist *l;
        struct cval v = make_list(c, a.u.l->n + b.u.l->n, &l);
        if (v.k == V_ERR)
            return v;
        for (size_t i = 0; i < a.u.l->n; i++)
            l->items[l->n++] = a.u.l->items[i];
        for (size_t i = 0; i < b.u.l->n; i++)
            l->items[l->n++] = b.u.l->items[i];
        return v;
    }
    /* time arithmetic */
    if ((op == OP_ADD || op == OP_SUB) &&
        ((a.k == V_TIMESTAMP && b.k == V_DURATION) || (a.k == V_DURATION && b.k == V_DURATION) ||
         (op == OP_ADD && a.k == V_DURATION && b.k == V_TIMESTAMP) ||
         (op == OP_SUB && a.k == V_TIMESTAMP && b.k == V_TIMESTAMP))) {
        struct cval v;
        int sign = op == OP_ADD ? 1 : -1;
        int64_t sec;
        int32_t nsec = a.u.t.nsec + sign * b.u.t.nsec;
        if (__builtin_add_overflow(a.u.t.sec, sign * b.u.t.sec, &sec))
            return verr(c, "integer overflow");
        norm_time(&sec, &nsec);
        if (a.k == V_TIMESTAMP && b.k == V_TIMESTAMP)
            v.k = V_DURATION;
        else if (a.k == V_TIMESTAMP || b.k == V_TIMESTAMP)
            v.k = V_TIMESTAMP;
        else
            v.k = V_DURATION;
        if (v.k == V_TIMESTAMP && !ts_in_range(sec))
            return verr(c, "timestamp out of range");
        v.u.t.sec = sec;
        v.u.t.nsec = nsec;
        return v;
    }
    return no_overload(c, names[op], &a, &b);
}

static struct cval eval_binary(struct ectx *c, const struct node *n, const struct scope_var *vars)
{
    struct cval a = eval(c, n->a, vars);
    if (a.k == V_ERR)
        return a;
    struct cval b = eval(c, n->b, vars);
    if (b.k == V_ERR)
        return b;
    bool ok;
    int r;
    switch (n->op) {
    case OP_EQ:
        return vbool(val_equal(&a, &b, 0));
    case OP_NE:
        return vbool(!val_equal(&a, &b, 0));
    case OP_LT:
    case OP_LE:
    case OP_GT:
    case OP_GE:
        r = val_compare(&a, &b, &ok);
        if (!ok) {
            static const char *names[] = {
                [OP_LT] = "_<_", [OP_LE] = "_<=_", [OP_GT] = "_>_", [OP_GE] = "_>=_"};
            return no_overload(c, names[n->op], &a, &b);
        }
        return vbool(n->op == OP_LT   ? r < 0
                     : n->op == OP_LE ? r <= 0
                     : n->op == OP_GT ? r > 0
                                      : r >= 0);
    case OP_IN:
        if (b.k == V_LIST) {
            for (size_t i = 0; i < b.u.l->n; i++)
                if (val_equal(&a, &b.u.l->items[i], 0))
                    return vbool(true);
            return vbool(false);
        }
        if (b.k == V_MAP)
            return vbool(map_get(b.u.m, &a) != NULL);
        return no_overload(c, "@in", &a, &b);
    default:
        return arith(c, n->op, a, b);
    }
}

static struct cval select_field(struct ectx *c, struct cval obj, const char *name)
{
    if (obj.k != V_MAP)
        return verr(c, "no such overload: field selection '%s' on %s", name, kind_name(obj.k));
    struct cval key = {.k = V_STRING};
    key.u.s.p = name;
    key.u.s.n = strlen(name);
    const struct cval *v = map_get(obj.u.m, &key);
    if (!v)
        return verr(c, "no such key: %s", name);
    return *v;
}

static struct cval eval_comp(struct ectx *c, const struct node *n, const struct scope_var *vars)
{
    struct cval range = eval(c, n->a, vars);
    if (range.k == V_ERR)
        return range;
    size_t count;
    const struct cval *elems;
    if (range.k == V_LIST) {
        count = range.u.l->n;
        elems = range.u.l->items;
    } else if (range.k == V_MAP) {
        count = range.u.m->n;
        elems = range.u.m->keys;
    } else {
        return verr(c, "no such overload: comprehension over %s", kind_name(range.k));
    }
    struct clist *out = NULL;
    struct cval result = {.k = V_NULL};
    if (n->op == C_FILTER || n->op == C_MAP || n->op == C_MAP_FILTER) {
        result = make_list(c, count, &out);
        if (result.k == V_ERR)
            return result;
    }
    struct cval pending_err = {.k = V_NULL};
    size_t trues = 0;
    for (size_t i = 0; i < count; i++) {
        struct scope_var var = {.name = n->name, .val = elems[i], .next = vars};
        struct cval v = eval(c, n->b, &var);
        switch (n->op) {
        case C_ALL:
        case C_EXISTS: {
            bool decisive = n->op == C_ALL ? false : true;
            if (v.k == V_ERR) {
                if (pending_err.k != V_ERR)
                    pending_err = v;
                continue;
            }
            if (v.k != V_BOOL)
                return no_overload(c, n->op == C_ALL ? "_&&_" : "_||_", &v, NULL);
            if (v.u.b == decisive)
                return vbool(decisive);
            break;
        }
        case C_EXISTS_ONE:
            if (v.k == V_ERR)
                return v;
            if (v.k != V_BOOL)
                return no_overload(c, "exists_one", &v, NULL);
            if (v.u.b)
                trues++;
            break;
        case C_FILTER:
            if (v.k == V_ERR)
                return v;
            if (v.k != V_BOOL)
                return no_overload(c, "filter", &v, NULL);
            if (v.u.b)
                out->items[out->n++] = elems[i];
            break;
        case C_MAP:
            if (v.k == V_ERR)
                return v;
            out->items[out->n++] = v;
            break;
        case C_MAP_FILTER: {
            if (v.k == V_ERR)
                return v;
            if (v.k != V_BOOL)
                return no_overload(c, "map", &v, NULL);
            if (!v.u.b)
                break;
            struct cval t = eval(c, n->c, &var);
            if (t.k == V_ERR)
                return t;
            out->items[out->n++] = t;
            break;
        }
        }
    }
    switch (n->op) {
    case C_ALL:
        return pending_err.k == V_ERR ? pending_err : vbool(true);
    case C_EXISTS:
        return pending_err.k == V_ERR ? pending_err : vbool(false);
    case C_EXISTS_ONE:
        return vbool(trues == 1);
    default:
        return result;
    }
}

static bool as_int(const struct cval *v, int64_t *out)
{
    if (v->k == V_INT) {
        *out = v->u.i;
        return true;
    }
    if (v->k == V_UINT && v->u.u <= INT64_MAX) {
        *out = (int64_t)v->u.u;
        return true;
    }
    return false;
}

static struct cval call_string_fn(struct ectx *c, const struct node *n, struct cval *args)
{
    const struct cval *s = &args[0];
    switch (n->op) {
    case F_STARTS_WITH:
    case F_ENDS_WITH:
    case F_CONTAINS: {
        if (s->k != V_STRING || args[1].k != V_STRING)
            return no_overload(c, n->name, s, &args[1]);
        const struct cval *x = &args[1];
        if (x->u.s.n > s->u.s.n)
            return vbool(false);
        if (n->op == F_STARTS_WITH)
            return vbool(!memcmp(s->u.s.p, x->u.s.p, x->u.s.n));
        if (n->op == F_ENDS_WITH)
            return vbool(!memcmp(s->u.s.p + s->u.s.n - x->u.s.n, x->u.s.p, x->u.s.n));
        return vbool(memmem_n(s->u.s.p, s->u.s.n, x->u.s.p, x->u.s.n) != NULL);
    }
    case F_MATCHES: {
        if (s->k != V_STRING || args[1].k != V_STRING)
            return no_overload(c, n->name, s, &args[1]);
        regex_t local;
        const regex_t *re = n->re;
        if (!re) {
            char rerr[256];
            if (sim_cel_regex_compile(args[1].u.s.p, &local, rerr, sizeof(rerr)) != 0)
                return verr(c, "%s", rerr);
            re = &local;
        }
        int r = regexec(re, s->u.s.p, 0, NULL, 0);
        if (!n->re)
            regfree(&local);
        return vbool(r == 0);
    }
    case F_LOWER:
    case F_UPPER:
    case F_TRIM: {
        if (s->k != V_STRING)
            return no_overload(c, n->name, s, NULL);
        if (n->op == F_TRIM) {
            size_t b = 0, e = s->u.s.n;
            while (b < e && isspace((unsigned char)s->u.s.p[b]))
                b++;
            while (e > b && isspace((unsigned char)s->u.s.p[e - 1]))
                e--;
            return vstr(c, s->u.s.p + b, e - b);
        }
        struct cval v = vstr(c, s->u.s.p, s->u.s.n);
        if (v.k == V_ERR)
            return v;
        char *p = (char *)v.u.s.p;
        for (size_t i = 0; i < v.u.s.n; i++) {
            if (n->op == F_LOWER && p[i] >= 'A' && p[i] <= 'Z')
                p[i] = (char)(p[i] - 'A' + 'a');
            else if (n->op == F_UPPER && p[i] >= 'a' && p[i] <= 'z')
                p[i] = (char)(p[i] - 'a' + 'A');
        }
        return v;
    }
    case F_SPLIT: {
        if (s->k != V_STRING || args[1].k != V_STRING)
            return no_overload(c, n->name, s, &args[1]);
        int64_t limit = -1;
        if (n->nargs == 3 && !as_int(&args[2], &limit))
            return no_overload(c, n->name, s, &args[2]);
        struct clist *l;
        struct cval v = make_list(c, s->u.s.n + 1, &l);
        if (v.k == V_ERR || limit == 0)
            return v;
        const char *p = s->u.s.p, *end = s->u.s.p + s->u.s.n;
        const struct cval *sep = &args[1];
        if (sep->u.s.n == 0) {
            while (p < end) {
                size_t cl = 1;
                while (p + cl < end && ((unsigned char)p[cl] & 0xC0) == 0x80)
                    cl++;
                if (limit > 0 && (int64_t)l->n == limit - 1)
                    cl = (size_t)(end - p);
                l->items[l->n] = vstr(c, p, cl);
                if (l->items[l->n++].k == V_ERR)
                    return l->items[l->n - 1];
                p += cl;
            }
            return v;
        }
        for (;;) {
            const char *hit = (limit > 0 && (int64_t)l->n == limit - 1)
                                  ? NULL
                                  : memmem_n(p, (size_t)(end - p), sep->u.s.p, sep->u.s.n);
            size_t len = hit ? (size_t)(hit - p) : (size_t)(end - p);
            l->items[l->n] = vstr(c, p, len);
            if (l->items[l->n++].k == V_ERR)
                return l->items[l->n - 1];
            if (!hit)
                break;
            p = hit + sep->u.s.n;
        }
        return v;
    }
    case F_REPLACE: {
        if (s->k != V_STRING || args[1].k != V_STRING || args[2].k != V_STRING)
            return no_overload(c, n->name, s, &args[1]);
        int64_t limit = -1;
        if (n->nargs == 4 && !as_int(&args[3], &limit))
            return no_overload(c, n->name, s, &args[3]);
        const struct cval *from = &args[1], *to = &args[2];
        size_t cap = s->u.s.n + 1;
        size_t maxcap = 1u << 24;
        char *buf = NULL;
        size_t len = 0;
        const char *p = s->u.s.p, *end = s->u.s.p + s->u.s.n;
        int64_t done = 0;
        /* Worst case size: every position replaced. */
        cap = s->u.s.n + 1 + (s->u.s.n + 1) * (to->u.s.n + 1);
        if (cap > maxcap)
            return verr(c, "string too long");
        buf = arena_alloc(&c->arena, cap);
        if (!buf)
            return verr(c, "out of memory");
        while (p <= end) {
            const char *hit = (limit >= 0 && done >= limit)
                                  ? NULL
                                  : memmem_n(p, (size_t)(end - p), from->u.s.p, from->u.s.n);
            if (!hit) {
                memcpy(buf + len, p, (size_t)(end - p));
                len += (size_t)(end - p);
                break;
            }
            memcpy(buf + len, p, (size_t)(hit - p));
            len += (size_t)(hit - p);
            memcpy(buf + len, to->u.s.p, to->u.s.n);
            len += to->u.s.n;
            done++;
            if (from->u.s.n == 0) {
                if (hit >= end)
                    break;
                size_t cl = 1;
                while (hit + cl < end && ((unsigned char)hit[cl] & 0xC0) == 0x80)
                    cl++;
                memcpy(buf + len, hit, cl);
                len += cl;
                p = hit + cl;
            } else {
                p = hit + from->u.s.n;
            }
        }
        buf[len] = '\0';
        struct cval v = {.k = V_STRING};
        v.u.s.p = buf;
        v.u.s.n = len;
        return v;
    }
    case F_SUBSTRING: {
        if (s->k != V_STRING)
            return no_overload(c, n->name, s, &args[1]);
        int64_t b, e;
        size_t total = utf8_len(s->u.s.p, s->u.s.n);
        if (!as_int(&args[1], &b))
            return no_overload(c, n->name, s, &args[1]);
        if (n->nargs == 3) {
            if (!as_int(&args[2], &e))
                return no_overload(c, n->name, s, &args[2]);
        } else {
            e = (int64_t)total;
        }
        if (b < 0 || (uint64_t)b > total)
            return verr(c, "index out of range: %" PRId64, b);
        if (e < b || (uint64_t)e > total)
            return verr(c, "index out of range: %" PRId64, e);
        size_t ob = utf8_offset(s->u.s.p, s->u.s.n, (size_t)b);
        size_t oe = utf8_offset(s->u.s.p, s->u.s.n, (size_t)e);
        return vstr(c, s->u.s.p + ob, oe - ob);
    }
    default:
        return verr(c, "internal error: bad string function");
    }
}

static struct cval call_index_of(struct ectx *c, const struct node *n, struct cval *args)
{
    const struct cval *s = &args[0];
    bool last = n->op == F_LAST_INDEX_OF;
    if (s->k == V_LIST) {
        if (n->nargs != 2)
            return no_overload(c, n->name, s, &args[1]);
        const struct clist *l = s->u.l;
        for (size_t k = 0; k < l->n; k++) {
            size_t i = last ? l->n - 1 - k : k;
            if (val_equal(&l->items[i], &args[1], 0))
                return vint((int64_t)i);
        }
        return vint(-1);
    }
    if (s->k != V_STRING || args[1].k != V_STRING)
        return no_overload(c, n->name, s, &args[1]);
    size_t total = utf8_len(s->u.s.p, s->u.s.n);
    int64_t from = last ? (int64_t)total : 0;
    if (n->nargs == 3 && !as_int(&args[2], &from))
        return no_overload(c, n->name, s, &args[2]);
    if (from < 0 || (uint64_t)from > total)
        return verr(c, "index out of range: %" PRId64, from);
    const struct cval *x = &args[1];
    if (!last) {
        size_t off = utf8_offset(s->u.s.p, s->u.s.n, (size_t)from);
        const char *hit = memmem_n(s->u.s.p + off, s->u.s.n - off, x->u.s.p, x->u.s.n);
        if (!hit)
            return vint(-1);
        return vint((int64_t)utf8_len(s->u.s.p, (size_t)(hit - s->u.s.p)));
    }
    int64_t best = -1;
    size_t limit = utf8_offset(s->u.s.p, s->u.s.n, (size_t)from);
    for (size_t i = 0; i + x->u.s.n <= s->u.s.n && i <= limit; i++) {
        if (((unsigned char)s->u.s.p[i] & 0xC0) == 0x80)
            continue;
        if (!memcmp(s->u.s.p + i, x->u.s.p, x->u.s.n))
            best = (int64_t)utf8_len(s->u.s.p, i);
    }
    return vint(best);
}

static struct cval call_list_fn(struct ectx *c, const struct node *n, struct cval *args)
{
    const struct cval *s = &args[0];
    if (n->op == F_JOIN) {
        if (s->k != V_LIST)
            return no_overload(c, n->name, s, NULL);
        const char *sep = "";
        size_t sepn = 0;
        if (n->nargs == 2) {
            if (args[1].k != V_STRING)
                return no_overload(c, n->name, s, &args[1]);
            sep = args[1].u.s.p;
            sepn = args[1].u.s.n;
        }
        size_t total = 0;
        for (size_t i = 0; i < s->u.l->n; i++) {
            if (s->u.l->items[i].k != V_STRING)
                return no_overload(c, n->name, &s->u.l->items[i], NULL);
            total += s->u.l->items[i].u.s.n + sepn;
        }
        if (total > (1u << 24))
            return verr(c, "string too long");
        char *buf = arena_alloc(&c->arena, total + 1);
        if (!buf)
            return verr(c, "out of memory");
        size_t len = 0;
        for (size_t i = 0; i < s->u.l->n; i++) {
            if (i) {
                memcpy(buf + len, sep, sepn);
                len += sepn;
            }
            memcpy(buf + len, s->u.l->items[i].u.s.p, s->u.l->items[i].u.s.n);
            len += s->u.l->items[i].u.s.n;
        }
        buf[len] = '\0';
        struct cval v = {.k = V_STRING};
        v.u.s.p = buf;
        v.u.s.n = len;
        return v;
    }
    if (s->k != V_LIST)
        return no_overload(c, n->name, s, NULL);
    const struct clist *l = s->u.l;
    switch (n->op) {
    case F_IS_SORTED:
        for (size_t i = 1; i < l->n; i++) {
            bool ok;
            int r = val_compare(&l->items[i - 1], &l->items[i], &ok);
            if (!ok)
                return no_overload(c, n->name, &l->items[i - 1], &l->items[i]);
            if (r > 0)
                return vbool(false);
        }
        return vbool(true);
    case F_SUM: {
        if (l->n == 0)
            return vint(0);
        struct cval acc = l->items[0];
        for (size_t i = 1; i < l->n; i++) {
            acc = arith(c, OP_ADD, acc, l->items[i]);
            if (acc.k == V_ERR)
                return acc;
        }
        return acc;
    }
    case F_MIN:
    case F_MAX: {
        if (l->n == 0)
            return verr(c, "%s called on empty list", n->name);
        struct cval best = l->items[0];
        for (size_t i = 1; i < l->n; i++) {
            bool ok;
            int r = val_compare(&l->items[i], &best, &ok);
            if (!ok)
                return no_overload(c, n->name, &l->items[i], &best);
            if ((n->op == F_MIN && r < 0) || (n->op == F_MAX && r > 0))
                best = l->items[i];
        }
        return best;
    }
    default:
        return verr(c, "internal error: bad list function");
    }
}

static struct cval call_convert(struct ectx *c, const struct node *n, struct cval *args)
{
    struct cval a = args[0];
    char buf[64];
    switch (n->op) {
    case F_DYN:
        return a;
    case F_INT:
        switch (a.k) {
        case V_INT:
            return a;
        case V_UINT:
            if (a.u.u > INT64_MAX)
                return verr(c, "integer overflow");
            return vint((int64_t)a.u.u);
        case V_DOUBLE:
            if (!(a.u.d > -9223372036854775809.0 && a.u.d < 9223372036854775808.0))
                return verr(c, "integer overflow");
            return vint((int64_t)a.u.d);
        case V_STRING: {
            char *end;
            errno = 0;
            long long v = strtoll(a.u.s.p, &end, 10);
            if (errno || end == a.u.s.p || *end)
                return verr(c, "cannot convert '%.64s' to int", a.u.s.p);
            return vint(v);
        }
        case V_TIMESTAMP:
            return vint(a.u.t.sec);
        default:
            return no_overload(c, "int", &a, NULL);
        }
    case F_UINT:
        switch (a.k) {
        case V_UINT:
            return a;
        case V_INT:
            if (a.u.i < 0)
                return verr(c, "unsigned integer overflow");
            return vuint((uint64_t)a.u.i);
        case V_DOUBLE:
            if (!(a.u.d > -1.0 && a.u.d < 18446744073709551616.0))
                return verr(c, "unsigned integer overflow");
            return vuint((uint64_t)a.u.d);
        case V_STRING: {
            char *end;
            errno = 0;
            if (a.u.s.p[0] == '-')
                return verr(c, "cannot convert '%.64s' to uint", a.u.s.p);
            unsigned long long v = strtoull(a.u.s.p, &end, 10);
            if (errno || end == a.u.s.p || *end)
                return verr(c, "cannot convert '%.64s' to uint", a.u.s.p);
            return vuint(v);
        }
        default:
            return no_overload(c, "uint", &a, NULL);
        }
    case F_DOUBLE:
        switch (a.k) {
        case V_DOUBLE:
            return a;
        case V_INT:
            return vdouble((double)a.u.i);
        case V_UINT:
            return vdouble((double)a.u.u);
        case V_STRING: {
            char *end;
            double v = strtod(a.u.s.p, &end);
            if (end == a.u.s.p || *end)
                return verr(c, "cannot convert '%.64s' to double", a.u.s.p);
            return vdouble(v);
        }
        default:
            return no_overload(c, "double", &a, NULL);
        }
    case F_STRING:
        switch (a.k) {
        case V_STRING:
            return a;
        case V_INT:
            snprintf(buf, sizeof(buf), "%" PRId64, a.u.i);
            return vstr(c, buf, strlen(buf));
        case V_UINT:
            snprintf(buf, sizeof(buf), "%" PRIu64, a.u.u);
            return vstr(c, buf, strlen(buf));
        case V_DOUBLE:
            sim_cel_format_double(a.u.d, buf, sizeof(buf));
            return vstr(c, buf, strlen(buf));
        case V_BOOL:
            return vstr(c, a.u.b ? "true" : "false", a.u.b ? 4 : 5);
        case V_TIMESTAMP:
            format_rfc3339(a.u.t.sec, a.u.t.nsec, buf, sizeof(buf));
            return vstr(c, buf, strlen(buf));
        case V_DURATION:
            format_duration(a.u.t.sec, a.u.t.nsec, buf, sizeof(buf));
            return vstr(c, buf, strlen(buf));
        default:
            return no_overload(c, "string", &a, NULL);
        }
    case F_BOOL:
        if (a.k == V_BOOL)
            return a;
        if (a.k == V_STRING) {
            static const char *t[] = {"1", "t", "T", "true", "TRUE", "True", NULL};
            static const char *f[] = {"0", "f", "F", "false", "FALSE", "False", NULL};
            for (int i = 0; t[i]; i++) {
                if (!strcmp(a.u.s.p, t[i]))
                    return vbool(true);
                if (!strcmp(a.u.s.p, f[i]))
                    return vbool(false);
            }
            return verr(c, "type conversion error from 'string' to 'bool'");
        }
        return no_overload(c, "bool", &a, NULL);
    case F_TIMESTAMP:
        if (a.k == V_TIMESTAMP)
            return a;
        if (a.k == V_STRING) {
            struct cval v = {.k = V_TIMESTAMP};
            if (!parse_rfc3339(a.u.s.p, a.u.s.n, &v.u.t.sec, &v.u.t.nsec) ||
                !ts_in_range(v.u.t.sec))
                return verr(c,
                            "type conversion error from 'string' to "
                            "'google.protobuf.Timestamp': parsing time \"%.64s\" as RFC3339 failed",
                            a.u.s.p);
            return v;
        }
        if (a.k == V_INT) {
            struct cval v = {.k = V_TIMESTAMP};
            v.u.t.sec = a.u.i;
            if (!ts_in_range(v.u.t.sec))
                return verr(c, "timestamp out of range");
            return v;
        }
        return no_overload(c, "timestamp", &a, NULL);
    case F_DURATION:
        if (a.k == V_DURATION)
            return a;
        if (a.k == V_STRING) {
            struct cval v = {.k = V_DURATION};
            if (!parse_duration(a.u.s.p, a.u.s.n, &v.u.t.sec, &v.u.t.nsec))
                return verr(c,
                            "type conversion error from 'string' to "
                            "'google.protobuf.Duration': invalid duration \"%.64s\"",
                            a.u.s.p);
            return v;
        }
        return no_overload(c, "duration", &a, NULL);
    default:
        return verr(c, "internal error: bad conversion");
    }
}

static struct cval call_time_fn(struct ectx *c, const struct node *n, const struct cval *a)
{
    if (a->k == V_DURATION) {
        int64_t total = a->u.t.sec;
        switch (n->op) {
        case F_GET_HOURS:
            return vint(total / 3600);
        case F_GET_MINUTES:
            return vint(total / 60);
        case F_GET_SECONDS:
            return vint(total);
        case F_GET_MILLISECONDS:
            return vint(a->u.t.nsec / 1000000);
        default:
            return no_overload(c, n->name, a, NULL);
        }
    }
    if (a->k != V_TIMESTAMP)
        return no_overload(c, n->name, a, NULL);
    int64_t sec = a->u.t.sec;
    int64_t days = sec >= 0 ? sec / 86400 : -((-sec + 86399) / 86400);
    int64_t rem = sec - days * 86400;
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    switch (n->op) {
    case F_GET_FULL_YEAR:
        return vint(y);
    case F_GET_MONTH:
        return vint((int64_t)m - 1);
    case F_GET_DATE:
        return vint(d);
    case F_GET_DAY_OF_MONTH:
        return vint((int64_t)d - 1);
    case F_GET_DAY_OF_WEEK:
        return vint(((days % 7) + 7 + 4) % 7); /* 1970-01-01 was a Thursday */
    case F_GET_DAY_OF_YEAR:
        return vint(days - days_from_civil(y, 1, 1));
    case F_GET_HOURS:
        return vint(rem / 3600);
    case F_GET_MINUTES:
        return vint(rem % 3600 / 60);
    case F_GET_SECONDS:
        return vint(rem % 60);
    case F_GET_MILLISECONDS:
        return vint(a->u.t.nsec / 1000000);
    default:
        return no_overload(c, n->name, a, NULL);
    }
}

static struct cval eval_call(struct ectx *c, const struct node *n, const struct scope_var *vars)
{
    struct cval args[4];
    for (size_t i = 0; i < n->nargs && i < 4; i++) {
        args[i] = eval(c, n->args[i], vars);
        if (args[i].k == V_ERR)
            return args[i];
    }
    switch (n->op) {
    case F_SIZE:
        switch (args[0].k) {
        case V_STRING:
            return vint((int64_t)utf8_len(args[0].u.s.p, args[0].u.s.n));
        case V_LIST:
            return vint((int64_t)args[0].u.l->n);
        case V_MAP:
            return vint((int64_t)args[0].u.m->n);
        default:
            return no_overload(c, "size", &args[0], NULL);
        }
    case F_STARTS_WITH:
    case F_ENDS_WITH:
    case F_CONTAINS:
    case F_MATCHES:
    case F_LOWER:
    case F_UPPER:
    case F_TRIM:
    case F_SPLIT:
    case F_REPLACE:
    case F_SUBSTRING:
        return call_string_fn(c, n, args);
    case F_INDEX_OF:
    case F_LAST_INDEX_OF:
        return call_index_of(c, n, args);
    case F_JOIN:
    case F_IS_SORTED:
    case F_SUM:
    case F_MIN:
    case F_MAX:
        return call_list_fn(c, n, args);
    case F_INT:
    case F_UINT:
    case F_DOUBLE:
    case F_STRING:
    case F_BOOL:
    case F_TIMESTAMP:
    case F_DURATION:
    case F_DYN:
        return call_convert(c, n, args);
    default:
        return call_time_fn(c, n, &args[0]);
    }
}

static struct cval eval(struct ectx *c, const struct node *n, const struct scope_var *vars)
{
    if (++c->steps > CEL_MAX_STEPS)
        return verr(c, "operation cancelled: actual cost limit exceeded");
    switch (n->k) {
    case N_LIT:
        return n->lit;
    case N_IDENT:
        for (const struct scope_var *v = vars; v; v = v->next)
            if (!strcmp(v->name, n->name))
                return v->val;
        if (!strcmp(n->name, "self"))
            return c->self;
        if (!strcmp(n->name, "oldSelf")) {
            if (!c->has_old)
                return verr(c, "no such attribute: oldSelf");
            return c->old_self;
        }
        return verr(c, "no such attribute: %s", n->name);
    case N_SELECT: {
        struct cval obj = eval(c, n->a, vars);
        if (obj.k == V_ERR)
            return obj;
        return select_field(c, obj, n->name);
    }
    case N_HAS: {
        struct cval obj = eval(c, n->a, vars);
        if (obj.k == V_ERR)
            return obj;
        if (obj.k != V_MAP)
            return verr(c, "invalid type for field selection.");
        struct cval key = {.k = V_STRING};
        key.u.s.p = n->name;
        key.u.s.n = strlen(n->name);
        return vbool(map_get(obj.u.m, &key) != NULL);
    }
    case N_INDEX: {
        struct cval obj = eval(c, n->a, vars);
        if (obj.k == V_ERR)
            return obj;
        struct cval idx = eval(c, n->b, vars);
        if (idx.k == V_ERR)
            return idx;
        if (obj.k == V_LIST) {
            int64_t i;
            if (idx.k == V_DOUBLE && idx.u.d == floor(idx.u.d) && fabs(idx.u.d) < 9e18)
                i = (int64_t)idx.u.d;
            else if (!as_int(&idx, &i))
                return no_overload(c, "_[_]", &obj, &idx);
            if (i < 0 || (uint64_t)i >= obj.u.l->n)
                return verr(c, "index out of bounds: %" PRId64, i);
            return obj.u.l->items[i];
        }
        if (obj.k == V_MAP) {
            const struct cval *v = map_get(obj.u.m, &idx);
            if (!v) {
                if (idx.k == V_STRING)
                    return verr(c, "no such key: %s", idx.u.s.p);
                return verr(c, "no such key");
            }
            return *v;
        }
        return no_overload(c, "_[_]", &obj, &idx);
    }
    case N_CALL:
        return eval_call(c, n, vars);
    case N_LIST: {
        struct clist *l;
        struct cval v = make_list(c, n->nargs, &l);
        if (v.k == V_ERR)
            return v;
        for (size_t i = 0; i < n->nargs; i++) {
            struct cval e = eval(c, n->args[i], vars);
            if (e.k == V_ERR)
                return e;
            l->items[l->n++] = e;
        }
        return v;
    }
    case N_MAP: {
        struct cmap *m = arena_alloc(&c->arena, sizeof(*m));
        if (!m)
            return verr(c, "out of memory");
        size_t cnt = n->nargs / 2;
        m->keys = arena_alloc(&c->arena, sizeof(*m->keys) * (cnt ? cnt : 1));
        m->vals = arena_alloc(&c->arena, sizeof(*m->vals) * (cnt ? cnt : 1));
        if (!m->keys || !m->vals)
            return verr(c, "out of memory");
        for (size_t i = 0; i < cnt; i++) {
            struct cval k = eval(c, n->args[2 * i], vars);
            if (k.k == V_ERR)
                return k;
            if (k.k != V_STRING && k.k != V_INT && k.k != V_UINT && k.k != V_BOOL)
                return verr(c, "unsupported key type: %s", kind_name(k.k));
            struct cval v = eval(c, n->args[2 * i + 1], vars);
            if (v.k == V_ERR)
                return v;
            if (map_get(m, &k))
                return verr(c, "Failed with repeated key");
            m->keys[m->n] = k;
            m->vals[m->n] = v;
            m->n++;
        }
        struct cval v = {.k = V_MAP};
        v.u.m = m;
        return v;
    }
    case N_NOT: {
        struct cval a = eval(c, n->a, vars);
        if (a.k == V_ERR)
            return a;
        if (a.k != V_BOOL)
            return no_overload(c, "!_", &a, NULL);
        return vbool(!a.u.b);
    }
    case N_NEG: {
        struct cval a = eval(c, n->a, vars);
        if (a.k == V_ERR)
            return a;
        if (a.k == V_INT) {
            if (a.u.i == INT64_MIN)
                return verr(c, "integer overflow");
            return vint(-a.u.i);
        }
        if (a.k == V_DOUBLE)
            return vdouble(-a.u.d);
        if (a.k == V_DURATION) {
            a.u.t.sec = -a.u.t.sec;
            a.u.t.nsec = -a.u.t.nsec;
            norm_time(&a.u.t.sec, &a.u.t.nsec);
            return a;
        }
        return no_overload(c, "-_", &a, NULL);
    }
    case N_AND:
    case N_OR: {
        /* CEL's commutative logic: a decisive side wins over an error on the other. */
        bool decisive = n->k == N_OR;
        struct cval a = eval(c, n->a, vars);
        if (a.k == V_BOOL && a.u.b == decisive)
            return a;
        struct cval b = eval(c, n->b, vars);
        if (b.k == V_BOOL && b.u.b == decisive)
            return b;
        if (a.k == V_ERR)
            return a;
        if (b.k == V_ERR)
            return b;
        if (a.k != V_BOOL || b.k != V_BOOL)
            return no_overload(c, decisive ? "_||_" : "_&&_", &a, &b);
        return vbool(!decisive);
    }
    case N_COND: {
        struct cval cond = eval(c, n->a, vars);
        if (cond.k == V_ERR)
            return cond;
        if (cond.k != V_BOOL)
            return no_overload(c, "_?_:_", &cond, NULL);
        return eval(c, cond.u.b ? n->b : n->c, vars);
    }
    case N_COMP:
        return eval_comp(c, n, vars);
    case N_BINARY:
        return eval_binary(c, n, vars);
    }
    return verr(c, "internal error: unknown node");
}

/* Runs the program; on success *result holds the value (valid until arena_free). */
static int run(struct ectx *c, const struct sim_cel_program *prog, const cJSON *self,
               const cJSON *old_self, const cJSON *schema, struct cval *result, char *err,
               size_t errlen)
{
    bool root = (prog->flags & SIM_CEL_RESOURCE_ROOT) != 0;
    c->prog = prog;
    c->self = from_json(c, self, schema, 0, root);
    if (c->self.k == V_ERR) {
        set_err(err, errlen, "%s", c->self.u.err);
        return SIM_CEL_ERUNTIME;
    }
    if (old_self) {
        c->has_old = true;
        c->old_self = from_json(c, old_self, schema, 0, root);
        if (c->old_self.k == V_ERR) {
            set_err(err, errlen, "%s", c->old_self.u.err);
            return SIM_CEL_ERUNTIME;
        }
    }
    struct cval v = eval(c, prog->root, NULL);
    if (v.k == V_ERR) {
        set_err(err, errlen, "%s", v.u.err);
        return SIM_CEL_ERUNTIME;
    }
    *result = v;
    return SIM_CEL_OK;
}

int sim_cel_eval_bool(const struct sim_cel_program *prog, const cJSON *self, const cJSON *old_self,
                      const cJSON *self_schema, bool *result, char *err, size_t errlen)
{
    int rc;
    struct ectx c;
    memset(&c, 0, sizeof(c));
    arena_init(&c.arena, CEL_EVAL_ARENA_MAX);
    struct cval v;
    if (err && errlen)
        err[0] = '\0';
    if (!prog || !result) {
        set_err(err, errlen, "no program");
        rc = SIM_CEL_ERUNTIME;
        goto out;
    }
    rc = run(&c, prog, self, old_self, self_schema, &v, err, errlen);
    if (rc != 0)
        goto out;
    if (v.k != V_BOOL) {
        set_err(err, errlen, "rule evaluated to %s, not bool", kind_name(v.k));
        rc = SIM_CEL_ETYPE;
        goto out;
    }
    *result = v.u.b;
out:
    arena_free(&c.arena);
    return rc;
}

int sim_cel_eval_string(const struct sim_cel_program *prog, const cJSON *self,
                        const cJSON *old_self, const cJSON *self_schema, char **out, char *err,
                        size_t errlen)
{
    int rc;
    struct ectx c;
    memset(&c, 0, sizeof(c));
    arena_init(&c.arena, CEL_EVAL_ARENA_MAX);
    struct cval v;
    if (err && errlen)
        err[0] = '\0';
    if (!prog || !out) {
        set_err(err, errlen, "no program");
        rc = SIM_CEL_ERUNTIME;
        goto out;
    }
    *out = NULL;
    rc = run(&c, prog, self, old_self, self_schema, &v, err, errlen);
    if (rc != 0)
        goto out;
    if (v.k != V_STRING) {
        set_err(err, errlen, "expression evaluated to %s, not string", kind_name(v.k));
        rc = SIM_CEL_ETYPE;
        goto out;
    }
    *out = strndup(v.u.s.p, v.u.s.n);
    if (!*out) {
        set_err(err, errlen, "out of memory");
        rc = SIM_CEL_ENOMEM;
    }
out:
    arena_free(&c.arena);
    return rc;
}

/* ---------------------------------------------------------------- regex */

struct rbuf {
    char *p;
    size_t n;
    size_t cap;
    bool oom;
};

static void rb_put(struct rbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->cap ? b->cap * 2 : 64);
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void rb_puts(struct rbuf *b, const char *s)
{
    rb_put(b, s, strlen(s));
}

/*
 * ECMA-262 / RE2 → POSIX ERE. The differences that matter and how they are
 * handled: shorthand classes (\d \w \s) have no ERE spelling and are expanded;
 * inside brackets a backslash is literal in ERE, so escaped characters are
 * moved to positions where they are literal; (?:...) becomes a plain group
 * (grouping without capture has the same match/no-match answer); lazy
 * quantifiers become greedy (same answer for "is there a match"); ERE's
 * leftmost-longest rule differs from leftmost-first only in WHICH text
 * matches, never WHETHER. `.` in ERE also matches a newline (it does not in
 * ECMA) — patterns of our CRDs do not rely on that.
 */
int sim_cel_regex_compile(const char *pattern, regex_t *re, char *err, size_t errlen)
{
    int rc = SIM_CEL_OK;
    struct rbuf b = {0};
    int cflags = REG_EXTENDED | REG_NOSUB;
    const char *s = pattern;
    size_t n = strlen(pattern);
    size_t i = 0;
    /* What came last, to refuse what RE2 refuses: `a**`, `(*a)`, `|+`. */
    enum { RX_START, RX_ATOM, RX_QUANT } prev = RX_START;
    unsigned long repeat_product = 1;
    if (n > 4096) {
        set_err(err, errlen, "unsupported regex: longer than 4096 bytes");
        return SIM_CEL_EUNSUPPORTED;
    }
    if (n >= 4 && !strncmp(s, "(?i)", 4)) {
        cflags |= REG_ICASE;
        i = 4;
    }
    while (i < n) {
        char ch = s[i];
        if (ch == '\\') {
            if (i + 1 >= n) {
                set_err(err, errlen,
                        "error parsing regexp: trailing backslash at end of expression");
                rc = SIM_CEL_ESYNTAX;
                goto out;
            }
            char e = s[i + 1];
            i += 2;
            switch (e) {
            case 'd':
                rb_puts(&b, "[0-9]");
                break;
            case 'D':
                rb_puts(&b, "[^0-9]");
                break;
            case 'w':
                rb_puts(&b, "[A-Za-z0-9_]");
                break;
            case 'W':
                rb_puts(&b, "[^A-Za-z0-9_]");
                break;
            case 's':
                rb_puts(&b, "[[:space:]]");
                break;
            case 'S':
                rb_puts(&b, "[^[:space:]]");
                break;
            case 'n':
                rb_puts(&b, "\n");
                break;
            case 't':
                rb_puts(&b, "\t");
                break;
            case 'r':
                rb_puts(&b, "\r");
                break;
            case 'A':
                rb_puts(&b, "^");
                break;
            case 'z':
                rb_puts(&b, "$");
                break;
            case 'b':
            case 'B':
                rb_put(&b, s + i - 2, 2); /* glibc understands word boundaries */
                break;
            default:
                if (isalnum((unsigned char)e)) {
                    set_err(err, errlen,
                            "unsupported regex construct '\\%c' (outside the simulator's "
                            "POSIX translation)",
                            e);
                    rc = SIM_CEL_EUNSUPPORTED;
                    goto out;
                }
                {
                    char esc[3] = {'\\', e, '\0'};
                    rb_puts(&b, esc);
                }
                break;
            }
            prev = (e == 'A' || e == 'z' || e == 'b' || e == 'B') ? RX_START : RX_ATOM;
            continue;
        }
        if (ch == '[') {
            /* Collect a bracket expression and re-emit it in ERE terms. */
            size_t j = i + 1;
            bool neg = false;
            if (j < n && s[j] == '^') {
                neg = true;
                j++;
            }
            struct rbuf items = {0};
            bool lit_rbracket = false, lit_dash = false, lit_caret = false;
            bool first = true;
            while (j < n && (s[j] != ']' || first)) {
                char x = s[j];
                if (x == ']' && first) {
                    lit_rbracket = true;
                    j++;
                    first = false;
                    continue;
                }
                first = false;
                if (x == '[' && j + 1 < n && s[j + 1] == ':') {
                    const char *close = strstr(s + j + 2, ":]");
                    if (!close) {
                        free(items.p);
                        set_err(err, errlen, "error parsing regexp: missing closing ]");
                        rc = SIM_CEL_ESYNTAX;
                        goto out;
                    }
                    rb_put(&items, s + j, (size_t)(close + 2 - (s + j)));
                    j = (size_t)(close + 2 - s);
                    continue;
                }
                if (x == '\\' && j + 1 < n) {
                    char e = s[j + 1];
                    j += 2;
                    switch (e) {
                    case 'd':
                        rb_puts(&items, "0-9");
                        break;
                    case 'w':
                        rb_puts(&items, "A-Za-z0-9_");
                        break;
                    case 's':
                        rb_puts(&items, "[:space:]");
                        break;
                    case 'n':
                        rb_puts(&items, "\n");
                        break;
                    case 't':
                        rb_puts(&items, "\t");
                        break;
                    case ']':
                        lit_rbracket = true;
                        break;
                    case '-':
                        lit_dash = true;
                        break;
                    case '^':
                        lit_caret = true;
                        break;
                    default:
                        if (isalnum((unsigned char)e)) {
                            free(items.p);
                            set_err(err, errlen,
                                    "unsupported regex construct '\\%c' in a character class", e);
                            rc = SIM_CEL_EUNSUPPORTED;
                            goto out;
                        }
                        rb_put(&items, &e, 1);
                        break;
                    }
                    continue;
                }
                if (x == '-' && (j + 1 >= n || s[j + 1] == ']')) {
                    lit_dash = true;
                    j++;
                    continue;
                }
                if (x == '^') {
                    lit_caret = true;
                    j++;
                    continue;
                }
                rb_put(&items, &x, 1);
                j++;
            }
            if (j >= n) {
                free(items.p);
                set_err(err, errlen, "error parsing regexp: missing closing ]: `%.40s`", s + i);
                rc = SIM_CEL_ESYNTAX;
                goto out;
            }
            if (items.oom) {
                free(items.p);
                b.oom = true;
                break;
            }
            if (!lit_rbracket && !lit_dash && !lit_caret && items.n == 0) {
                free(items.p);
                set_err(err, errlen, "error parsing regexp: empty character class");
                rc = SIM_CEL_ESYNTAX;
                goto out;
            }
            if (!lit_rbracket && !lit_dash && items.n == 0 && lit_caret && !neg) {
                rb_puts(&b, "\\^");
            } else {
                rb_puts(&b, neg ? "[^" : "[");
                if (lit_rbracket)
                    rb_puts(&b, "]");
                if (items.n)
                    rb_put(&b, items.p, items.n);
                if (lit_caret)
                    rb_puts(&b, "^");
                if (lit_dash)
                    rb_puts(&b, "-");
                rb_puts(&b, "]");
            }
            free(items.p);
            i = j + 1;
            prev = RX_ATOM;
            continue;
        }
        if (ch == '(' && i + 1 < n && s[i + 1] == '?') {
            if (i + 2 < n && s[i + 2] == ':') {
                rb_puts(&b, "(");
                i += 3;
                prev = RX_START;
                continue;
            }
            set_err(err, errlen,
                    "unsupported regex construct '(?%c' (look-around, named group or flags)",
                    i + 2 < n ? s[i + 2] : ' ');
            rc = SIM_CEL_EUNSUPPORTED;
            goto out;
        }
        if (ch == '*' || ch == '+' || ch == '?' || ch == '{') {
            size_t qlen = 1;
            if (ch == '{') {
                /* {n}, {n,}, {n,m}: a quantifier; anything else is a literal brace. */
                size_t j = i + 1;
                unsigned long lo = 0, hi = 0;
                bool have_lo = false, have_hi = false, comma = false;
                while (j < n && isdigit((unsigned char)s[j]) && lo <= 100000) {
                    lo = lo * 10 + (unsigned long)(s[j++] - '0');
                    have_lo = true;
                }
                if (j < n && s[j] == ',') {
                    comma = true;
                    j++;
                    while (j < n && isdigit((unsigned char)s[j]) && hi <= 100000) {
                        hi = hi * 10 + (unsigned long)(s[j++] - '0');
                        have_hi = true;
                    }
                }
                if (!have_lo || j >= n || s[j] != '}') {
                    rb_puts(&b, "\\{");
                    prev = RX_ATOM;
                    i++;
                    continue;
                }
                unsigned long max = comma ? (have_hi ? hi : lo) : lo;
                if (lo > 1000 || max > 1000 || (have_hi && hi < lo)) {
                    set_err(err, errlen, "error parsing regexp: invalid repeat count: `%.*s`",
                            (int)(j + 1 - i), s + i);
                    rc = SIM_CEL_ESYNTAX;
                    goto out;
                }
                /* glibc expands counted repeats: bound the whole pattern's expansion. */
                repeat_product *= max ? max : 1;
                if (repeat_product > 1000) {
                    set_err(err, errlen,
                            "unsupported regex construct: nested repeat counts above 1000");
                    rc = SIM_CEL_EUNSUPPORTED;
                    goto out;
                }
                qlen = j + 1 - i;
            }
            if (prev != RX_ATOM) {
                set_err(err, errlen,
                        prev == RX_QUANT
                            ? "error parsing regexp: invalid nested repetition operator: `%.*s`"
                            : "error parsing regexp: missing argument to repetition operator: "
                              "`%.*s`",
                        (int)qlen, s + i);
                rc = SIM_CEL_ESYNTAX;
                goto out;
            }
            rb_put(&b, s + i, qlen);
            i += qlen;
            if (i < n && s[i] == '?')
                i++; /* lazy -> greedy: same answer to "does it match" */
            prev = RX_QUANT;
            continue;
        }
        if (ch == '}') {
            rb_puts(&b, "\\}");
            prev = RX_ATOM;
            i++;
            continue;
        }
        rb_put(&b, &ch, 1);
        prev = (ch == '(' || ch == '|' || ch == '^' || ch == '$') ? RX_START : RX_ATOM;
        i++;
    }
    if (b.oom) {
        set_err(err, errlen, "out of memory");
        rc = SIM_CEL_ENOMEM;
        goto out;
    }
    int r = regcomp(re, b.p ? b.p : "", cflags);
    if (r != 0) {
        char msg[128];
        regerror(r, re, msg, sizeof(msg));
        set_err(err, errlen, "error parsing regexp: %s: `%.80s`", msg, pattern);
        rc = SIM_CEL_ESYNTAX;
        goto out;
    }
out:
    free(b.p);
    return rc;
}

/* ----------------------------------------------------------- formatting */

const char *sim_cel_format_double(double v, char *buf, size_t buflen)
{
    if (isnan(v)) {
        snprintf(buf, buflen, "NaN");
        return buf;
    }
    if (isinf(v)) {
        snprintf(buf, buflen, v > 0 ? "+Inf" : "-Inf");
        return buf;
    }
    if (v == 0) {
        snprintf(buf, buflen, signbit(v) ? "-0" : "0");
        return buf;
    }
    /* Shortest digits that round-trip, then Go's %g layout. */
    char tmp[64];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    /* tmp = [-]d.ddde[+-]XX */
    char digits[32];
    size_t nd = 0;
    const char *p = tmp;
    bool neg = false;
    if (*p == '-') {
        neg = true;
        p++;
    }
    while (*p && *p != 'e') {
        if (isdigit((unsigned char)*p) && nd < sizeof(digits) - 1)
            digits[nd++] = *p;
        p++;
    }
    digits[nd] = '\0';
    long exp10 = strtol(p + 1, NULL, 10);
    /* strconv's shortest 'g': the %e form when the exponent is < -4 or >= 6. */
    long eprec = 6;
    if (exp10 < -4 || exp10 >= eprec) {
        char mant[40];
        if (nd > 1)
            snprintf(mant, sizeof(mant), "%c.%s", digits[0], digits + 1);
        else
            snprintf(mant, sizeof(mant), "%c", digits[0]);
        snprintf(buf, buflen, "%s%se%c%02ld", neg ? "-" : "", mant, exp10 < 0 ? '-' : '+',
                 exp10 < 0 ? -exp10 : exp10);
        return buf;
    }
    char out[64];
    size_t o = 0;
    if (neg)
        out[o++] = '-';
    if (exp10 < 0) {
        out[o++] = '0';
        out[o++] = '.';
        for (long k = 0; k < -exp10 - 1; k++)
            out[o++] = '0';
        for (size_t k = 0; k < nd; k++)
            out[o++] = digits[k];
    } else {
        for (long k = 0; k <= exp10; k++)
            out[o++] = (size_t)k < nd ? digits[k] : '0';
        if ((size_t)exp10 + 1 < nd) {
            out[o++] = '.';
            for (size_t k = (size_t)exp10 + 1; k < nd; k++)
                out[o++] = digits[k];
        }
    }
    out[o] = '\0';
    snprintf(buf, buflen, "%s", out);
    return buf;
}
