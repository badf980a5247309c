/*
 * k8s_kubeconfig: kubeconfig files (what kubectl and `oc login` write) turned
 * into a struct k8s_config.
 *
 * Each file is loaded with libyaml's document API (JSON is YAML too), its
 * structure checked, and its clusters, users and contexts indexed by name into
 * one merged view with kubectl's rule: the first file to define a name (or a
 * current-context) wins; later definitions are ignored. Only then is the chosen
 * context resolved, and only the context, cluster and user in use are decoded
 * and checked in depth (base64, PEM, referenced files, auth form): a kubeconfig
 * full of other clusters, some stale and some using exec plugins, must still
 * serve the one context we were asked for.
 *
 * Paths inside a file are relative to that file's directory, as in kubectl.
 * Messages name the file and the field path ("clusters[0].cluster.server") and
 * never a secret value. Nothing is recursed into (only fixed paths are read), so
 * YAML aliases, even cyclic ones, cannot blow up.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#include "k8s_buf.h"
#include "k8s_config.h"

#define KC_MAX_FILE      (16u << 20) /* a kubeconfig with a thousand embedded certs fits */
#define KC_MAX_PEM       (8u << 20)  /* a CA bundle file */
#define KC_MAX_FILES     64          /* files in one ':'-separated list */
#define KC_MAX_PATHS_LEN 65536u      /* length of that list */
#define KC_WHERE         64          /* "contexts[123456].context" */
#define KC_MAX_DEPTH     64          /* YAML nesting; a kubeconfig uses about six */

enum { KC_CLUSTER, KC_USER, KC_CONTEXT, KC_KINDS };
static const char *const kc_list_key[KC_KINDS] = {"clusters", "users", "contexts"};
static const char *const kc_item_key[KC_KINDS] = {"cluster", "user", "context"};

struct kc_file {
    char *path; /* as given, for messages */
    char *dir;  /* absolute directory, for relative references */
    yaml_document_t doc;
    int has_doc;
};

/* One named cluster, user or context as first defined. */
struct kc_entry {
    const char *name;  /* points into its file's document */
    yaml_node_t *body; /* the cluster/user/context mapping, or NULL */
    size_t index;      /* position in its file's list, for messages */
    struct kc_file *file;
};

struct kc_set {
    struct kc_file files[KC_MAX_FILES];
    size_t nfiles;
    struct kc_entry *ent[KC_KINDS];
    size_t nent[KC_KINDS];
    size_t cap[KC_KINDS];
    /* Name lookup: open addressing over entry indices + 1 (0 is empty), kept
     * at most half full; kubeconfigs of thousands of contexts exist. */
    size_t *slots[KC_KINDS];
    size_t nslots[KC_KINDS];
    const char *current_context;
    struct kc_file *cc_file; /* the file that set current-context */
    char *sources;           /* loaded files joined with ':' */
};

static unsigned long kc_line(const yaml_node_t *n)
{
    return (unsigned long)n->start_mark.line + 1;
}

static const char *kc_type_name(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_SCALAR_NODE:
        return "string";
    case YAML_SEQUENCE_NODE:
        return "list";
    case YAML_MAPPING_NODE:
        return "mapping";
    default:
        return "nothing";
    }
}

/* YAML's null: `~`, `null` or nothing, unquoted, or an explicit !!null. */
static int kc_is_null(const yaml_node_t *n)
{
    if (!n)
        return 1;
    if (n->type != YAML_SCALAR_NODE)
        return 0;
    if (n->tag && strcmp((const char *)n->tag, YAML_NULL_TAG) == 0)
        return 1;
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    const char *v = (const char *)n->data.scalar.value;
    return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") || !strcmp(v, "NULL");
}

/* "where.key", or "key" at the top level. */
static const char *kc_dot(const char *where)
{
    return *where ? "." : "";
}

/* Finds `key` in the mapping `map` (NULL: absent). A null value counts as
 * absent; a key given twice is an error rather than a silent pick. */
static int kc_get(struct kc_file *f, yaml_node_t *map, const char *where, const char *key,
                  yaml_node_t **out, struct k8s_error *err)
{
    *out = NULL;
    if (!map || map->type != YAML_MAPPING_NODE)
        return 0;
    yaml_node_t *found = NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(&f->doc, p->key);
        if (!k || k->type != YAML_SCALAR_NODE || strcmp((const char *)k->data.scalar.value, key))
            continue;
        if (found)
            return k8s_error_set(err, K8S_ECONFIG, "%s: %s%s%s is given twice (line %lu)", f->path,
                                 where, kc_dot(where), key, kc_line(k));
        found = yaml_document_get_node(&f->doc, p->value);
    }
    *out = kc_is_null(found) ? NULL : found;
    return 0;
}

/* A string field; NULL when absent, null or empty. */
static int kc_string(struct kc_file *f, yaml_node_t *map, const char *where, const char *key,
                     const char **out, struct k8s_error *err)
{
    yaml_node_t *n;
    *out = NULL;
    int rc = kc_get(f, map, where, key, &n, err);
    if (rc || !n)
        return rc;
    if (n->type != YAML_SCALAR_NODE)
        return k8s_error_set(err, K8S_ECONFIG, "%s: %s%s%s must be a string, not a %s (line %lu)",
                             f->path, where, kc_dot(where), key, kc_type_name(n), kc_line(n));
    const char *v = (const char *)n->data.scalar.value;
    if (strlen(v) != n->data.scalar.length)
        return k8s_error_set(err, K8S_ECONFIG, "%s: %s%s%s contains a NUL byte (line %lu)", f->path,
                             where, kc_dot(where), key, kc_line(n));
    *out = *v ? v : NULL;
    return 0;
}

/* A boolean field, with the YAML 1.1 spellings kubectl (go-yaml v2) accepts. */
static int kc_bool(struct kc_file *f, yaml_node_t *map, const char *where, const char *key,
                   int *out, struct k8s_error *err)
{
    static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes", "YES",
                                      "on",   "On",   "ON",   "y",   "Y"};
    static const char *const no[] = {"false", "False", "FALSE", "no", "No", "NO",
                                     "off",   "Off",   "OFF",   "n",  "N"};
    yaml_node_t *n;
    *out = 0;
    int rc = kc_get(f, map, where, key, &n, err);
    if (rc || !n)
        return rc;
    if (n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
        const char *v = (const char *)n->data.scalar.value;
        for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
            if (strcmp(v, yes[i]) == 0) {
                *out = 1;
                return 0;
            }
            if (strcmp(v, no[i]) == 0)
                return 0;
        }
    }
    return k8s_error_set(err, K8S_ECONFIG, "%s: %s.%s must be true or false (line %lu)", f->path,
                         where, key, kc_line(n));
}

static size_t kc_hash(const char *name)
{
    size_t h = 1469598103934665603u; /* FNV-1a */
    for (; *name; name++)
        h = (h ^ (unsigned char)*name) * 1099511628211u;
    return h;
}

static struct kc_entry *kc_find(struct kc_set *s, int kind, const char *name)
{
    if (!s->nslots[kind])
        return NULL;
    size_t mask = s->nslots[kind] - 1;
    for (size_t i = kc_hash(name) & mask; s->slots[kind][i]; i = (i + 1) & mask) {
        struct kc_entry *e = &s->ent[kind][s->slots[kind][i] - 1];
        if (strcmp(e->name, name) == 0)
            return e;
    }
    return NULL;
}

static void kc_slot_put(size_t *slots, size_t nslots, const char *name, size_t value)
{
    size_t i = kc_hash(name) & (nslots - 1);
    while (slots[i])
        i = (i + 1) & (nslots - 1);
    slots[i] = value;
}

/* Adds an entry whose name is not in the view yet. */
static int kc_add(struct kc_set *s, int kind, const struct kc_entry *e, struct k8s_error *err)
{
    if (s->nent[kind] == s->cap[kind]) {
        size_t cap = s->cap[kind] ? s->cap[kind] * 2 : 16;
        struct kc_entry *p = realloc(s->ent[kind], cap * sizeof(*p));
        if (!p)
            return k8s_error_set(err, K8S_ENOMEM, "out of memory indexing kubeconfig %s",
                                 e->file->path);
        s->ent[kind] = p;
        s->cap[kind] = cap;
    }
    if ((s->nent[kind] + 1) * 2 > s->nslots[kind]) {
        size_t n = s->nslots[kind] ? s->nslots[kind] * 2 : 64;
        size_t *slots = calloc(n, sizeof(*slots));
        if (!slots)
            return k8s_error_set(err, K8S_ENOMEM, "out of memory indexing kubeconfig %s",
                                 e->file->path);
        for (size_t i = 0; i < s->nent[kind]; i++)
            kc_slot_put(slots, n, s->ent[kind][i].name, i + 1);
        free(s->slots[kind]);
        s->slots[kind] = slots;
        s->nslots[kind] = n;
    }
    s->ent[kind][s->nent[kind]++] = *e;
    kc_slot_put(s->slots[kind], s->nslots[kind], e->name, s->nent[kind]);
    return 0;
}

/* Checks a file's structure and adds its entries to the merged view. */
static int kc_index_file(struct kc_set *s, struct kc_file *f, struct k8s_error *err)
{
    int rc = 0;
    yaml_node_t *root = yaml_document_get_root_node(&f->doc);
    if (kc_is_null(root))
        return 0; /* an empty file is an empty config, as for kubectl */
    if (root->type != YAML_MAPPING_NODE)
        return k8s_error_set(err, K8S_ECONFIG,
                             "%s: the top level must be a mapping (clusters, users, contexts), "
                             "not a %s",
                             f->path, kc_type_name(root));
    const char *cc;
    if ((rc = kc_string(f, root, "", "current-context", &cc, err)))
        return rc;
    if (cc && !s->current_context) {
        s->current_context = cc;
        s->cc_file = f;
    }
    for (int kind = 0; kind < KC_KINDS; kind++) {
        yaml_node_t *list;
        if ((rc = kc_get(f, root, "", kc_list_key[kind], &list, err)))
            return rc;
        if (!list)
            continue;
        if (list->type != YAML_SEQUENCE_NODE)
            return k8s_error_set(err, K8S_ECONFIG, "%s: %s must be a list, not a %s (line %lu)",
                                 f->path, kc_list_key[kind], kc_type_name(list), kc_line(list));
        size_t i = 0;
        for (yaml_node_item_t *it = list->data.sequence.items.start;
             it < list->data.sequence.items.top; it++, i++) {
            yaml_node_t *item = yaml_document_get_node(&f->doc, *it);
            char where[KC_WHERE];
            snprintf(where, sizeof(where), "%s[%zu]", kc_list_key[kind], i);
            if (!item || item->type != YAML_MAPPING_NODE)
                return k8s_error_set(
                    err, K8S_ECONFIG, "%s: %s must be a mapping with name and %s (line %lu)",
                    f->path, where, kc_item_key[kind], item ? kc_line(item) : kc_line(list));
            struct kc_entry e = {.index = i, .file = f};
            if ((rc = kc_string(f, item, where, "name", &e.name, err)))
                return rc;
            if (!e.name)
                return k8s_error_set(err, K8S_ECONFIG, "%s: %s.name is missing (line %lu)", f->path,
                                     where, kc_line(item));
            if ((rc = kc_get(f, item, where, kc_item_key[kind], &e.body, err)))
                return rc;
            if (e.body && e.body->type != YAML_MAPPING_NODE)
                return k8s_error_set(
                    err, K8S_ECONFIG, "%s: %s.%s must be a mapping, not a %s (line %lu)", f->path,
                    where, kc_item_key[kind], kc_type_name(e.body), kc_line(e.body));
            struct kc_entry *prev = kc_find(s, kind, e.name);
            if (prev && prev->file == f)
                return k8s_error_set(err, K8S_ECONFIG,
                                     "%s: %s.name \"%s\" is also the name of %s[%zu]", f->path,
                                     where, e.name, kc_list_key[kind], prev->index);
            if (prev)
                continue; /* an earlier file defined it: the first one wins */
            if ((rc = kc_add(s, kind, &e, err)))
                return rc;
        }
    }
    return 0;
}

/* The absolute directory of `path`, for resolving relative references. */
static char *kc_dir_of(const char *path)
{
    char cwd[PATH_MAX];
    char *dir = NULL;
    const char *slash = strrchr(path, '/');
    if (path[0] == '/')
        return slash == path ? strdup("/") : strndup(path, (size_t)(slash - path));
    if (!getcwd(cwd, sizeof(cwd)))
        return NULL;
    if (!slash)
        return strdup(cwd);
    if (asprintf(&dir, "%s/%.*s", cwd, (int)(slash - path), path) < 0)
        return NULL;
    return dir;
}

/* `p` made absolute against the directory of the file that mentioned it. */
static char *kc_resolve_path(const struct kc_file *f, const char *p)
{
    char *out = NULL;
    if (p[0] == '/')
        return strdup(p);
    if (asprintf(&out, "%s/%s", f->dir, p) < 0)
        return NULL;
    return out;
}

/* Frees a parsed document after zeroing its scalars: they hold tokens and keys. */
static void kc_file_free(struct kc_file *f)
{
    if (f->has_doc) {
        for (yaml_node_t *n = f->doc.nodes.start; n < f->doc.nodes.top; n++)
            if (n->type == YAML_SCALAR_NODE && n->data.scalar.value)
                explicit_bzero(n->data.scalar.value, n->data.scalar.length);
        yaml_document_delete(&f->doc);
        f->has_doc = 0;
    }
    free(f->path);
    free(f->dir);
}

static void kc_set_free(struct kc_set *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nfiles; i++)
        kc_file_free(&s->files[i]);
    for (int k = 0; k < KC_KINDS; k++) {
        free(s->ent[k]);
        free(s->slots[k]);
    }
    free(s->sources);
    free(s);
}

static int kc_parser_error(const yaml_parser_t *parser, const char *path, struct k8s_error *err)
{
    if (parser->error == YAML_MEMORY_ERROR)
        return k8s_error_set(err, K8S_ENOMEM, "out of memory parsing kubeconfig %s", path);
    /* The reader reports a byte offset, not a line (its mark is not set). */
    if (parser->error == YAML_READER_ERROR)
        return k8s_error_set(err, K8S_ECONFIG, "%s: not valid UTF-8/UTF-16 text at byte %zu: %s",
                             path, parser->problem_offset,
                             parser->problem ? parser->problem : "invalid text");
    /* libyaml's problem and context strings are fixed texts, never file content. */
    const char *problem = parser->problem ? parser->problem : "invalid YAML";
    unsigned long line = (unsigned long)parser->problem_mark.line + 1;
    unsigned long col = (unsigned long)parser->problem_mark.column + 1;
    if (parser->context)
        return k8s_error_set(err, K8S_ECONFIG,
                             "%s: YAML syntax error at line %lu, column %lu: %s (%s at line %lu)",
                             path, line, col, problem, parser->context,
                             (unsigned long)parser->context_mark.line + 1);
    return k8s_error_set(err, K8S_ECONFIG, "%s: YAML syntax error at line %lu, column %lu: %s",
                         path, line, col, problem);
}

/*
 * A first pass over the events that refuses nesting deeper than KC_MAX_DEPTH.
 * libyaml's cost grows with the square of the nesting depth (a 16 MiB file of
 * '[' would take hours), and no kubeconfig nests more than a few levels; this
 * pass stops as soon as the limit is crossed, so it stays linear.
 */
static int kc_check_depth(const char *buf, size_t len, const char *path, struct k8s_error *err)
{
    int rc = 0;
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return k8s_error_set(err, K8S_ENOMEM, "out of memory parsing kubeconfig %s", path);
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
    int depth = 0, done = 0;
    while (!done && rc == 0) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            rc = kc_parser_error(&parser, path, err);
            break;
        }
        switch (ev.type) {
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            if (++depth > KC_MAX_DEPTH)
                rc = k8s_error_set(err, K8S_ECONFIG, "%s: nested deeper than %d levels at line %lu",
                                   path, KC_MAX_DEPTH, (unsigned long)ev.start_mark.line + 1);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            depth--;
            break;
        case YAML_SCALAR_EVENT:
            explicit_bzero(ev.data.scalar.value, ev.data.scalar.length);
            break;
        case YAML_STREAM_END_EVENT:
            done = 1;
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    return rc;
}

/* Reads, parses and indexes one file. With `missing_ok`, a file that does not
 * exist is skipped (kubectl's rule for $KUBECONFIG lists). */
static int kc_load_file(struct kc_set *s, const char *path, int missing_ok, struct k8s_error *err)
{
    int rc = 0;
    char *buf = NULL;
    size_t len = 0;
    yaml_parser_t parser;
    int parser_ready = 0;
    for (size_t i = 0; i < s->nfiles; i++)
        if (strcmp(s->files[i].path, path) == 0)
            return 0; /* listed twice: the first occurrence already counted */
    if (missing_ok && access(path, F_OK) != 0 && (errno == ENOENT || errno == ENOTDIR))
        return 0;
    if (s->nfiles == KC_MAX_FILES)
        return k8s_error_set(err, K8S_ECONFIG, "too many kubeconfig files (at most %d)",
                             KC_MAX_FILES);
    if ((rc = k8s_config_read_file(path, KC_MAX_FILE, &buf, &len, err)))
        goto out;
    struct kc_file *f = &s->files[s->nfiles];
    memset(f, 0, sizeof(*f));
    s->nfiles++; /* from here kc_set_free cleans it up */
    f->path = strdup(path);
    f->dir = kc_dir_of(path);
    if (!f->path || !f->dir) {
        rc = k8s_error_set(err, K8S_ENOMEM, "out of memory loading kubeconfig %s", path);
        goto out;
    }
    if ((rc = kc_check_depth(buf, len, path, err)))
        goto out;
    if (!yaml_parser_initialize(&parser)) {
        rc = k8s_error_set(err, K8S_ENOMEM, "out of memory parsing kubeconfig %s", path);
        goto out;
    }
    parser_ready = 1;
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
    if (!yaml_parser_load(&parser, &f->doc)) {
        rc = kc_parser_error(&parser, path, err);
        goto out;
    }
    f->has_doc = 1;
    rc = kc_index_file(s, f, err);
out:
    if (parser_ready)
        yaml_parser_delete(&parser);
    if (buf) {
        explicit_bzero(buf, len);
        free(buf);
    }
    return rc;
}

/* Whether `s` is only base64 alphabet, padding and whitespace. OpenSSL's
 * decoder stops quietly at a '-' (it reads PEM bodies), which would turn a
 * PEM pasted into a *-data field into an empty result instead of an error. */
static int kc_base64_charset(const char *s)
{
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/' || c == '=' || c == ' ' || c == '\t' || c == '\r' || c == '\n'))
            return 0;
    }
    return 1;
}

/* Decodes a *-data field into a NUL-terminated buffer. */
static int kc_base64(const struct kc_file *f, const char *where, const char *key, const char *in,
                     char **out, size_t *outlen, struct k8s_error *err)
{
    int rc = 0;
    unsigned char *buf = NULL;
    EVP_ENCODE_CTX *ctx = NULL;
    size_t n = strlen(in);
    *out = NULL;
    *outlen = 0;
    if (!kc_base64_charset(in) || n > INT_MAX / 2) {
        rc = k8s_error_set(err, K8S_ECONFIG, "%s: %s.%s is not valid base64%s", f->path, where, key,
                           strstr(in, "-----BEGIN")
                               ? " (it holds PEM text; a *-data field takes the PEM "
                                 "base64-encoded)"
                               : "");
        goto out;
    }
    buf = malloc(n / 4 * 3 + 80);
    ctx = EVP_ENCODE_CTX_new();
    if (!buf || !ctx) {
        rc = k8s_error_set(err, K8S_ENOMEM, "out of memory decoding %s.%s", where, key);
        goto out;
    }
    int l1 = 0, l2 = 0;
    EVP_DecodeInit(ctx);
    if (EVP_DecodeUpdate(ctx, buf, &l1, (const unsigned char *)in, (int)n) < 0 ||
        EVP_DecodeFinal(ctx, buf + l1, &l2) < 0) {
        rc = k8s_error_set(err, K8S_ECONFIG, "%s: %s.%s is not valid base64", f->path, where, key);
        goto out;
    }
    size_t len = (size_t)l1 + (size_t)l2;
    if (len == 0) {
        rc = k8s_error_set(err, K8S_ECONFIG, "%s: %s.%s decodes to nothing", f->path, where, key);
        goto out;
    }
    buf[len] = '\0';
    *out = (char *)buf;
    *outlen = len;
    buf = NULL;
out:
    EVP_ENCODE_CTX_free(ctx);
    if (buf) {
        explicit_bzero(buf, n / 4 * 3 + 80);
        free(buf);
    }
    ERR_clear_error();
    return rc;
}

/* Reads the PEM a path field names (relative to the kubeconfig's directory). */
static int kc_read_pem(const struct kc_file *f, const char *where, const char *key,
                       const char *value, char **out, size_t *outlen, char **abs_path,
                       struct k8s_error *err)
{
    struct k8s_error inner;
    *out = NULL;
    *abs_path = kc_resolve_path(f, value);
    if (!*abs_path)
        return k8s_error_set(err, K8S_ENOMEM, "out of memory resolving %s.%s", where, key);
    int rc = k8s_config_read_file(*abs_path, KC_MAX_PEM, out, outlen, &inner);
    if (rc)
        return k8s_error_set(err, rc, "%s: %s.%s: %s", f->path, where, key, inner.message);
    return 0;
}

/* Takes "https://host:port[/path]" (or "host:port", which kubectl reads as
 * https) and stores it without trailing slashes. */
static int kc_server(const struct kc_file *f, const char *where, const char *server, char **out,
                     struct k8s_error *err)
{
    char *url = NULL;
    for (const char *p = server; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return k8s_error_set(err, K8S_ECONFIG,
                                 "%s: %s.server contains whitespace or control characters", f->path,
                                 where);
    const char *sep = strstr(server, "://");
    if (sep) {
        size_t slen = (size_t)(sep - server);
        if (!((slen == 5 && strncasecmp(server, "https", 5) == 0) ||
              (slen == 4 && strncasecmp(server, "http", 4) == 0)))
            return k8s_error_set(err, K8S_ECONFIG,
                                 "%s: %s.server must be an https:// or http:// URL", f->path,
                                 where);
        url = strdup(server);
    } else if (asprintf(&url, "https://%s", server) < 0) {
        url = NULL;
    }
    if (!url)
        return k8s_error_set(err, K8S_ENOMEM, "out of memory copying %s.server", where);
    /* Scheme letters lower-cased so the transport can compare them. */
    for (char *p = url; *p != ':'; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    char *host = strstr(url, "://") + 3;
    size_t hostlen = strcspn(host, "/?#");
    if (hostlen == 0 || memchr(host, '@', hostlen)) {
        free(url);
        return k8s_error_set(err, K8S_ECONFIG,
                             "%s: %s.server must name a host (and no user information)", f->path,
                             where);
    }
    size_t len = strlen(url);
    while (len > 0 && url[len - 1] == '/' && url + len - 1 >= host + hostlen)
        url[--len] = '\0';
    *out = url;
    return 0;
}

static int kc_cluster(const struct kc_entry *e, struct k8s_config *cfg, struct k8s_error *err)
{
    int rc = 0;
    struct kc_file *f = e->file;
    char where[KC_WHERE];
    char *ca_path = NULL;
    const char *server, *ca, *ca_data, *sni, *proxy;
    int insecure;
    snprintf(where, sizeof(where), "clusters[%zu].cluster", e->index);
    if ((rc = kc_string(f, e->body, where, "server", &server, err)) ||
        (rc = kc_string(f, e->body, where, "certificate-authority", &ca, err)) ||
        (rc = kc_string(f, e->body, where, "certificate-authority-data", &ca_data, err)) ||
        (rc = kc_string(f, e->body, where, "tls-server-name", &sni, err)) ||
        (rc = kc_string(f, e->body, where, "proxy-url", &proxy, err)) ||
        (rc = kc_bool(f, e->body, where, "insecure-skip-tls-verify", &insecure, err)))
        goto out;
    if (!server) {
        rc = k8s_error_set(err, K8S_ECONFIG, "%s: %s.server is missing (cluster \"%s\")", f->path,
                           where, e->name);
        goto out;
    }
    if ((rc = kc_server(f, where, server, &cfg->server, err)))
        goto out;
    /* kubectl refuses this pair too: a CA that is then ignored is a mistake. */
    if (insecure && (ca || ca_data)) {
        rc = k8s_error_set(err, K8S_ECONFIG,
                           "%s: %s: insecure-skip-tls-verify cannot be combined with %s "
                           "(specifying a root certificates file with the insecure flag is not "
                           "allowed)",
                           f->path, where,
                           ca_data ? "certificate-authority-data" : "certificate-authority");
        goto out;
    }
    cfg->insecure_skip_tls_verify = insecure;
    /* As in client-go, embedded data takes precedence over a file. */
    if (ca_data) {
        if ((rc = kc_base64(f, where, "certificate-authority-data", ca_data, &cfg->ca_pem,
                            &cfg->ca_pem_len, err)))
            goto out;
        if (k8s__pem_count_certificates(cfg->ca_pem, cfg->ca_pem_len) == 0) {
            rc = k8s_error_set(err, K8S_ECONFIG,
                               "%s: %s.certificate-authority-data contains no PEM certificate",
                               f->path, where);
            goto out;
        }
    } else if (ca) {
        if ((rc = kc_read_pem(f, where, "certificate-authority", ca, &cfg->ca_pem, &cfg->ca_pem_len,
                              &ca_path, err)))
            goto out;
        if (k8s__pem_count_certificates(cfg->ca_pem, cfg->ca_pem_len) == 0) {
            rc = k8s_error_set(err, K8S_ECONFIG,
                               "%s: %s.certificate-authority: %s contains no PEM certificate",
                               f->path, where, ca_path);
            goto out;
        }
    }
    if (sni && !(cfg->tls_server_name = strdup(sni))) {
        rc = k8s_error_set(err, K8S_ENOMEM, "out of memory loading %s", where);
        goto out;
    }
    if (proxy) {
        /* The URL may carry proxy credentials: never echo it. */
        const char *sep = strstr(proxy, "://");
        size_t slen = sep ? (size_t)(sep - proxy) : 0;
        if (!sep || !((slen == 4 && !strncasecmp(proxy, "http", 4)) ||
                      (slen == 5 && !strncasecmp(proxy, "https", 5)) ||
                      (slen == 6 && !strncasecmp(proxy, "socks5", 6)) ||
                      (slen == 7 && !strncasecmp(proxy, "socks5h", 7)))) {
            rc = k8s_error_set(err, K8S_ECONFIG,
                               "%s: %s.proxy-url must be an http://, https:// or socks5:// URL",
                               f->path, where);
            goto out;
        }
        if (!(cfg->proxy_url = strdup(proxy))) {
            rc = k8s_error_set(err, K8S_ENOMEM, "out of memory loading %s", where);
            goto out;
        }
    }
out:
    free(ca_path);
    return rc;
}

static int kc_no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return 0; /* never prompt on a terminal: an encrypted key just fails */
}

/* Checks that the client certificate and key parse and belong together, so a
 * mistake shows here with the field named rather than as a TLS alert later. */
static int kc_check_client_pair(const struct kc_file *f, const char *where, const char *cert_field,
                                const struct k8s_config *cfg, struct k8s_error *err)
{
    int rc = 0;
    BIO *cb = BIO_new_mem_buf(cfg->client_cert_pem, (int)cfg->client_cert_pem_len);
    BIO *kb = BIO_new_mem_buf(cfg->client_key_pem, (int)cfg->client_key_pem_len);
    X509 *x = NULL;
    EVP_PKEY *key = NULL;
    if (!cb || !kb) {
        rc = k8s_error_set(err, K8S_ENOMEM, "out of memory checking %s", where);
        goto out;
    }
    if (!(x = PEM_read_bio_X509(cb, NULL, NULL, NULL))) {
        rc = k8s_error_set(err, K8S_ECONFIG, "%s: %s.%s contains no PEM certificate", f->path,
                           where, cert_field);
        goto out;
    }
    if (!(key = PEM_read_bio_PrivateKey(kb, NULL, kc_no_passphrase, NULL))) {
        rc = k8s_error_set(err, K8S_ECONFIG,
                           "%s: %s: the client key is not a PEM private key (or is encrypted, "
                           "which is not supported)",
                           f->path, where);
        goto out;
    }
    if (X509_check_private_key(x, key) != 1) {
        rc = k8s_error_set(err, K8S_ECONFIG,
                           "%s: %s: the client key does not match the client certificate", f->path,
                           where);
        goto out;
    }
out:
    EVP_PKEY_free(key);
    X509_free(x);
    BIO_free(kb);
    BIO_free(cb);
    ERR_clear_error();
    return rc;
}

static int kc_printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    return 1;
}

static int kc_user(const struct kc_entry *e, struct k8s_config *cfg, struct k8s_error *err)
{
    static const char *const impersonation[] = {"as", "as-uid", "as-groups", "as-user-extra"};
    int rc = 0;
    struct kc_file *f = e->file;
    char where[KC_WHERE];
    char *cert_path = NULL, *key_path = NULL;
    const char *token, *token_file, *username, *password, *cert, *cert_data, *key, *key_data;
    yaml_node_t *n;
    snprintf(where, sizeof(where), "users[%zu].user", e->index);

    if ((rc = kc_get(f, e->body, where, "exec", &n, err)))
        goto out;
    if (n) {
        rc = k8s_error_set(err, K8S_ECONFIG,
                           "user \"%s\" in %s uses an exec credential plugin (%s.exec), which is "
                           "not supported yet; use a token, tokenFile or client certificate",
                           e->name, f->path, where);
        goto out;
    }
    if ((rc = kc_get(f, e->body, where, "auth-provider", &n, err)))
        goto out;
    if (n) {
        const char *provider = NULL;
        char pwhere[KC_WHERE + 16];
        snprintf(pwhere, sizeof(pwhere), "%s.auth-provider", where);
        if (n->type == YAML_MAPPING_NODE && (rc = kc_string(f, n, pwhere, "name", &provider, err)))
            goto out;
        rc = k8s_error_set(err, K8S_ECONFIG,
                           "user \"%s\" in %s uses the auth-provider \"%s\" (%s.auth-provider), "
                           "which is not supported; use a token, tokenFile or client certificate",
                           e->name, f->path, provider ? provider : "?", where);
        goto out;
    }
    /* Silently acting as ourselves when asked to impersonate would be wrong. */
    for (size_t i = 0; i < sizeof(impersonation) / sizeof(impersonation[0]); i++) {
        if ((rc = kc_get(f, e->body, where, impersonation[i], &n, err)))
            goto out;
        if (n) {
            rc = k8s_error_set(err, K8S_ECONFIG,
                               "user \"%s\" in %s asks for impersonation (%s.%s), which is not "
                               "supported",
                               e->name, f->path, where, impersonation[i]);
            goto out;
        }
    }
    if ((rc = kc_string(f, e->body, where, "token", &token, err)) ||
        (rc = kc_string(f, e->body, where, "tokenFile", &token_file, err)) ||
        (rc = kc_string(f, e->body, where, "username", &username, err)) ||
        (rc = kc_string(f, e->body, where, "password", &password, err)) ||
        (rc = kc_string(f, e->body, where, "client-certificate", &cert, err)) ||
        (rc = kc_string(f, e->body, where, "client-certificate-data", &cert_data, err)) ||
        (rc = kc_string(f, e->body, where, "client-key", &key, err)) ||
        (rc = kc_string(f, e->body, where, "client-key-data", &key_data, err)))
        goto out;
    if ((token || token_file) && (username || password)) {
        rc = k8s_error_set(err, K8S_ECONFIG,
                           "%s: %s has both a token and a username/password; only one "
                           "authentication method is allowed",
                           f->path, where);
        goto out;
    }
    if (password && !username) {
        rc = k8s_error_set(err, K8S_ECONFIG, "%s: %s.password is set without username", f->path,
                           where);
        goto out;
    }
    if (token_file) {
        /* Referenced, not copied, so rotation is seen; readable now, though. */
        if (!(cfg->token_file = kc_resolve_path(f, token_file))) {
            rc = k8s_error_set(err, K8S_ENOMEM, "out of memory loading %s", where);
            goto out;
        }
        int fd = open(cfg->token_file, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
            rc = k8s_error_set(err, K8S_EIO, "%s: %s.tokenFile: %s: cannot read: %s", f->path,
                               where, cfg->token_file, strerror(errno));
            goto out;
        }
        close(fd);
    } else if (token) {
        if (!kc_printable(token)) {
            rc = k8s_error_set(err, K8S_ECONFIG, "%s: %s.token contains control characters",
                               f->path, where);
            goto out;
        }
        if (!(cfg->token = strdup(token))) {
            rc = k8s_error_set(err, K8S_ENOMEM, "out of memory loading %s", where);
            goto out;
        }
    }
    if (username) {
        if (!(cfg->username = strdup(username)) ||
            !(cfg->password = strdup(password ? password : ""))) {
            rc = k8s_error_set(err, K8S_ENOMEM, "out of memory loading %s", where);
            goto out;
        }
    }
    /* Client certificate: embedded data takes precedence over a file. */
    const char *cert_field = cert_data ? "client-certificate-data" : "client-certificate";
    if ((cert || cert_data) != (key || key_data)) {
        rc = k8s_error_set(err, K8S_ECONFIG, "%s: %s has %s but no %s", f->path, where,
                           cert || cert_data ? cert_field : "client-key",
                           cert || cert_data ? "client-key" : "client-certificate");
        goto out;
    }
    if (!cert && !cert_data)
        goto out;
    if (cert_data)
        rc = kc_base64(f, where, "client-certificate-data", cert_data, &cfg->client_cert_pem,
                       &cfg->client_cert_pem_len, err);
    else
        rc = kc_read_pem(f, where, "client-certificate", cert, &cfg->client_cert_pem,
                         &cfg->client_cert_pem_len, &cert_path, err);
    if (rc)
        goto out;
    if (key_data)
        rc = kc_base64(f, where, "client-key-data", key_data, &cfg->client_key_pem,
                       &cfg->client_key_pem_len, err);
    else
        rc = kc_read_pem(f, where, "client-key", key, &cfg->client_key_pem,
                         &cfg->client_key_pem_len, &key_path, err);
    if (rc)
        goto out;
    rc = kc_check_client_pair(f, where, cert_field, cfg, err);
out:
    free(cert_path);
    free(key_path);
    return rc;
}

/* Picks the context and fills `cfg` from it, its cluster and its user. */
static int kc_resolve(struct kc_set *s, const char *want, struct k8s_config *cfg,
                      struct k8s_error *err)
{
    int rc = 0;
    const char *name = want && *want ? want : s->current_context;
    if (!name)
        return k8s_error_set(err, K8S_ECONFIG,
                             "%s: no current-context is set and no context was given", s->sources);
    struct kc_entry *ctx = kc_find(s, KC_CONTEXT, name);
    if (!ctx) {
        if (want && *want)
            return k8s_error_set(err, K8S_ECONFIG, "%s: context \"%s\" not found", s->sources,
                                 name);
        return k8s_error_set(err, K8S_ECONFIG, "%s: current-context \"%s\" not found in contexts",
                             s->cc_file->path, name);
    }
    struct kc_file *f = ctx->file;
    char where[KC_WHERE];
    const char *cluster, *user, *ns;
    snprintf(where, sizeof(where), "contexts[%zu].context", ctx->index);
    if ((rc = kc_string(f, ctx->body, where, "cluster", &cluster, err)) ||
        (rc = kc_string(f, ctx->body, where, "user", &user, err)) ||
        (rc = kc_string(f, ctx->body, where, "namespace", &ns, err)))
        return rc;
    if (!cluster)
        return k8s_error_set(err, K8S_ECONFIG, "%s: %s.cluster is missing (context \"%s\")",
                             f->path, where, name);
    struct kc_entry *ce = kc_find(s, KC_CLUSTER, cluster);
    if (!ce)
        return k8s_error_set(err, K8S_ECONFIG, "%s: %s.cluster \"%s\" not found", f->path, where,
                             cluster);
    /* A context without a user is anonymous access, which kubectl allows. */
    struct kc_entry *ue = NULL;
    if (user && !(ue = kc_find(s, KC_USER, user)))
        return k8s_error_set(err, K8S_ECONFIG, "%s: %s.user \"%s\" not found", f->path, where,
                             user);
    if (ns && !k8s__valid_namespace(ns))
        return k8s_error_set(err, K8S_ECONFIG,
                             "%s: %s.namespace \"%.64s\" is not a valid namespace name "
                             "(lowercase letters, digits and '-', at most 63)",
                             f->path, where, ns);
    if ((rc = kc_cluster(ce, cfg, err)))
        return rc;
    if (ue && (rc = kc_user(ue, cfg, err)))
        return rc;
    if (!(cfg->context = strdup(name)) || !(cfg->source = strdup(s->sources)))
        return k8s_error_set(err, K8S_ENOMEM, "out of memory loading the kubeconfig");
    if (ns) {
        free(cfg->namespace);
        if (!(cfg->namespace = strdup(ns)))
            return k8s_error_set(err, K8S_ENOMEM, "out of memory loading the kubeconfig");
    }
    return 0;
}

/* Loads `npaths` paths in order, merges them and resolves `context`. */
static int kc_run(char *const *paths, size_t npaths, int missing_ok, const char *context,
                  struct k8s_config **out, struct k8s_error *err)
{
    int rc = 0;
    struct k8s_config *cfg = NULL;
    struct k8s_buf names;
    k8s_buf_init(&names, KC_MAX_PATHS_LEN + 1);
    struct kc_set *s = calloc(1, sizeof(*s));
    if (!s) {
        rc = k8s_error_set(err, K8S_ENOMEM, "out of memory loading the kubeconfig");
        goto out;
    }
    for (size_t i = 0; i < npaths; i++)
        if ((rc = kc_load_file(s, paths[i], missing_ok, err)))
            goto out;
    for (size_t i = 0; i < (s->nfiles ? s->nfiles : npaths); i++) {
        const char *p = s->nfiles ? s->files[i].path : paths[i];
        if (k8s_buf_appendf(&names, "%s%s", i ? ":" : "", p)) {
            rc = k8s_error_set(err, K8S_ENOMEM, "out of memory loading the kubeconfig");
            goto out;
        }
    }
    if (s->nfiles == 0) {
        rc =
            k8s_error_set(err, K8S_EIO, "no kubeconfig file found: %s (none of these files exists)",
                          names.data ? names.data : "(empty list)");
        goto out;
    }
    s->sources = k8s_buf_take(&names, NULL);
    if (!(cfg = k8s_config_new())) {
        rc = k8s_error_set(err, K8S_ENOMEM, "out of memory loading the kubeconfig");
        goto out;
    }
    if ((rc = kc_resolve(s, context, cfg, err)))
        goto out;
    *out = cfg;
    cfg = NULL;
out:
    k8s_config_free(cfg);
    k8s_buf_free(&names);
    kc_set_free(s);
    return rc;
}

int k8s__kubeconfig_load_file(const char *path, const char *context, struct k8s_config **out,
                              struct k8s_error *err)
{
    *out = NULL;
    if (!path || !*path)
        return k8s_error_set(err, K8S_EARG, "no kubeconfig path given");
    char *paths[1] = {(char *)path};
    return kc_run(paths, 1, 0, context, out, err);
}

int k8s_config_from_kubeconfig(const char *paths, const char *context, struct k8s_config **out,
                               struct k8s_error *err)
{
    int rc = 0;
    char *copy = NULL;
    char *list[KC_MAX_FILES];
    size_t n = 0;
    *out = NULL;
    if (!paths || !*paths)
        return k8s_error_set(err, K8S_EARG, "no kubeconfig path given");
    if (strlen(paths) > KC_MAX_PATHS_LEN)
        return k8s_error_set(err, K8S_ECONFIG, "the kubeconfig path list is longer than %u bytes",
                             KC_MAX_PATHS_LEN);
    if (!(copy = strdup(paths)))
        return k8s_error_set(err, K8S_ENOMEM, "out of memory loading the kubeconfig");
    for (char *p = copy, *next; p; p = next) {
        next = strchr(p, ':');
        if (next)
            *next++ = '\0';
        if (!*p)
            continue; /* "a::b" and a trailing ':' have empty entries; kubectl skips them */
        if (n == KC_MAX_FILES) {
            rc = k8s_error_set(err, K8S_ECONFIG, "too many kubeconfig files (at most %d)",
                               KC_MAX_FILES);
            goto out;
        }
        list[n++] = p;
    }
    if (n == 0) {
        rc = k8s_error_set(err, K8S_EARG, "no kubeconfig path given");
        goto out;
    }
    rc = kc_run(list, n, 1, context, out, err);
out:
    free(copy);
    return rc;
}
