/*
 * The Event recorder (see ctl_events.h).
 *
 * Internals: two bounded caches under one mutex, each a doubly linked list in
 * most-recently-used order (evicting from the tail when full):
 * - `seen`: one entry per distinct (source, object, type, reason, message),
 *   with the Event's name and namespace, its count, firstTimestamp and when it
 *   was last written — the de-duplication state;
 * - `buckets`: one token bucket per (source, object) — the spam filter.
 * Lookups are linear; Events are rare (a few per reconcile at most) and the
 * caches are bounded, so simplicity wins over a hash table here.
 *
 * The mutex is held across the API write of one event, so two workers
 * recording the same event cannot both create it; writes are short.
 */
#include "ctl_events.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "k8s_buf.h"
#include "k8s_log.h"

static const struct k8s_resource EVENTS = {"", "v1", "events", 1};

struct seen {
    struct seen *prev, *next;
    char *key;
    char name[340];
    char ns[64];
    long count;
    char first_ts[40];
    int64_t last_wall_ms;
};

struct bucket {
    struct bucket *prev, *next;
    char *key;
    double tokens;
    int64_t last_mono_ms;
};

struct ctl_recorder {
    struct k8s_client *client;
    struct ctl_clock *clock;
    char *component;
    char *instance;
    int64_t dedup_window_ms;
    int spam_burst;
    int64_t spam_refill_ms;
    size_t max_cached;
    int (*may_write)(void *user);
    void *gate_user;

    pthread_mutex_t mu;
    struct seen *seen_head, *seen_tail;
    size_t nseen;
    struct bucket *bucket_head, *bucket_tail;
    size_t nbuckets;
    unsigned long seq;
    struct ctl_recorder_stats stats;
};

/* ---- scrubbing -------------------------------------------------------- */

static const char *const secret_words[] = {
    "password",    "passwd",     "secret",     "token",      "apikey",     "api_key",
    "api-key",     "accesskey",  "access_key", "access-key", "credential", "authorization",
    "private_key", "privatekey", "signature",  NULL};

static int is_ident(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '-' || c == '.';
}

static int ends_with_ci(const char *s, size_t n, const char *suffix)
{
    size_t m = strlen(suffix);
    return n >= m && strncasecmp(s + n - m, suffix, m) == 0;
}

/* Whether an identifier names a secret value (and not a reference to one). */
static int secret_ident(const char *s, size_t n)
{
    char low[128];
    if (n == 0 || n >= sizeof(low))
        return 0;
    if (ends_with_ci(s, n, "ref") || ends_with_ci(s, n, "refs") || ends_with_ci(s, n, "name"))
        return 0;
    for (size_t i = 0; i < n; i++)
        low[i] = (char)tolower((unsigned char)s[i]);
    low[n] = '\0';
    for (size_t i = 0; secret_words[i]; i++)
        if (strstr(low, secret_words[i]))
            return 1;
    return 0;
}

struct out {
    char *buf;
    size_t cap, len;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (o->cap == 0)
        return;
    if (n > o->cap - 1 - o->len)
        n = o->cap - 1 - o->len;
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

static int is_value_end(char c)
{
    return c == '\0' || isspace((unsigned char)c) || c == ',' || c == ';' || c == '"' ||
           c == '\'' || c == '&' || c == ')' || c == ']' || c == '}';
}

/* A URL runs to the next blank or quote (its query's '&' included). */
static int is_url_end(char c)
{
    return c == '\0' || isspace((unsigned char)c) || c == '"' || c == '\'' || c == '<' || c == '>';
}

/* Length of a URL scheme followed by "://" at s, or 0. */
static size_t url_at(const char *s)
{
    size_t n = 0;
    if (!isalpha((unsigned char)s[0]))
        return 0;
    while (isalnum((unsigned char)s[n]) || s[n] == '+' || s[n] == '.' || s[n] == '-')
        n++;
    return strncmp(s + n, "://", 3) == 0 ? n : 0;
}

/* Cuts a string in place to at most max bytes, and drops a UTF-8 sequence
 * that the cut (here or in an earlier truncation) left incomplete. */
static void utf8_cut(char *s, size_t max)
{
    size_t n = strlen(s), i, need;
    unsigned char lead;
    if (n > max) {
        s[max] = '\0';
        n = max;
    }
    /* The last sequence starts at the last byte that is not a continuation. */
    i = n;
    while (i > 0 && n - i < 4 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
        i--;
    if (i == 0)
        return;
    lead = (unsigned char)s[i - 1];
    need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    if (n - (i - 1) < need)
        s[i - 1] = '\0';
}

void ctl_event_scrub(const char *in, char *outbuf, size_t cap)
{
    struct out o = {outbuf, cap, 0};
    const char *p = in ? in : "";
    if (cap == 0)
        return;
    outbuf[0] = '\0';
    while (*p) {
        int word_start = p == in || !is_ident(p[-1]);
        if (word_start && url_at(p)) {
            char red[2048], url[2048];
            size_t n = 0;
            while (!is_url_end(p[n]))
                n++;
            if (n >= sizeof(url))
                n = sizeof(url) - 1;
            memcpy(url, p, n);
            url[n] = '\0';
            k8s_log_redact_url(url, red, sizeof(red));
            put(&o, red, strlen(red));
            /* Skip the whole token even when it was longer than `url`. */
            while (!is_url_end(*p))
                p++;
            continue;
        }
        if (word_start && strncasecmp(p, "bearer ", 7) == 0) {
            const char *v = p + 7;
            while (*v == ' ')
                v++;
            put(&o, p, 7);
            put(&o, "[redacted]", 10);
            while (!is_value_end(*v))
                v++;
            p = v;
            continue;
        }
        if (word_start && is_ident(*p)) {
            size_t n = 0;
            const char *v;
            while (is_ident(p[n]))
                n++;
            v = p + n;
            while (*v == '"' || *v == '\'')
                v++;
            while (*v == ' ')
                v++;
            if ((*v == '=' || *v == ':') && secret_ident(p, n)) {
                v++;
                while (*v == ' ')
                    v++;
                /* "Authorization: Bearer xyz": the scheme stays, the credential goes. */
                if (strncasecmp(v, "bearer ", 7) == 0 || strncasecmp(v, "basic ", 6) == 0) {
                    v += (*v == 'b' || *v == 'B') && (v[1] == 'e' || v[1] == 'E') ? 7 : 6;
                    while (*v == ' ')
                        v++;
                }
                put(&o, p, (size_t)(v - p));
                if (*v == '"' || *v == '\'') {
                    char q = *v++;
                    while (*v && *v != q)
                        v++;
                    if (*v)
                        v++;
                } else {
                    while (!is_value_end(*v))
                        v++;
                }
                put(&o, "[redacted]", 10);
                p = v;
                continue;
            }
            put(&o, p, n);
            p += n;
            continue;
        }
        put(&o, p, 1);
        p++;
    }
    utf8_cut(outbuf, CTL_EVENT_MAX_MESSAGE < cap - 1 ? CTL_EVENT_MAX_MESSAGE : cap - 1);
}

/* ---- caches ------------------------------------------------------------ */

#define LIST_UNLINK(r, head, tail, e)                                                              \
    do {                                                                                           \
        if ((e)->prev)                                                                             \
            (e)->prev->next = (e)->next;                                                           \
        else                                                                                       \
            (r)->head = (e)->next;                                                                 \
        if ((e)->next)                                                                             \
            (e)->next->prev = (e)->prev;                                                           \
        else                                                                                       \
            (r)->tail = (e)->prev;                                                                 \
        (e)->prev = (e)->next = NULL;                                                              \
    } while (0)

#define LIST_PUSH_FRONT(r, head, tail, e)                                                          \
    do {                                                                                           \
        (e)->prev = NULL;                                                                          \
        (e)->next = (r)->head;                                                                     \
        if ((r)->head)                                                                             \
            (r)->head->prev = (e);                                                                 \
        (r)->head = (e);                                                                           \
        if (!(r)->tail)                                                                            \
            (r)->tail = (e);                                                                       \
    } while (0)

static struct seen *seen_find(struct ctl_recorder *r, const char *key)
{
    for (struct seen *s = r->seen_head; s; s = s->next) {
        if (strcmp(s->key, key) == 0) {
            LIST_UNLINK(r, seen_head, seen_tail, s);
            LIST_PUSH_FRONT(r, seen_head, seen_tail, s);
            return s;
        }
    }
    return NULL;
}

static struct seen *seen_add(struct ctl_recorder *r, const char *key)
{
    struct seen *s;
    if (r->nseen >= r->max_cached && r->seen_tail) {
        s = r->seen_tail;
        LIST_UNLINK(r, seen_head, seen_tail, s);
        free(s->key);
        free(s);
        r->nseen--;
    }
    s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->key = strdup(key);
    if (!s->key) {
        free(s);
        return NULL;
    }
    LIST_PUSH_FRONT(r, seen_head, seen_tail, s);
    r->nseen++;
    return s;
}

static void seen_drop(struct ctl_recorder *r, struct seen *s)
{
    LIST_UNLINK(r, seen_head, seen_tail, s);
    free(s->key);
    free(s);
    r->nseen--;
}

/* Takes a token from the object's bucket; 0 when none is left. */
static int spam_allow(struct ctl_recorder *r, const char *key, int64_t now)
{
    struct bucket *b;
    for (b = r->bucket_head; b; b = b->next)
        if (strcmp(b->key, key) == 0)
            break;
    if (b) {
        LIST_UNLINK(r, bucket_head, bucket_tail, b);
    } else {
        if (r->nbuckets >= r->max_cached && r->bucket_tail) {
            b = r->bucket_tail;
            LIST_UNLINK(r, bucket_head, bucket_tail, b);
            free(b->key);
            free(b);
            r->nbuckets--;
        }
        b = calloc(1, sizeof(*b));
        if (!b)
            return 1; /* out of memory: let the event through rather than lose it */
        b->key = strdup(key);
        if (!b->key) {
            free(b);
            return 1;
        }
        b->tokens = r->spam_burst;
        b->last_mono_ms = now;
        r->nbuckets++;
    }
    LIST_PUSH_FRONT(r, bucket_head, bucket_tail, b);
    if (now > b->last_mono_ms) {
        b->tokens += (double)(now - b->last_mono_ms) / (double)r->spam_refill_ms;
        if (b->tokens > r->spam_burst)
            b->tokens = r->spam_burst;
        b->last_mono_ms = now;
    }
    if (b->tokens < 1)
        return 0;
    b->tokens -= 1;
    return 1;
}

/* ---- recorder ---------------------------------------------------------- */

int ctl_recorder_new(struct k8s_client *client, struct ctl_clock *clock,
                     const struct ctl_recorder_options *opts, struct ctl_recorder **out,
                     struct k8s_error *err)
{
    struct ctl_recorder *r;
    *out = NULL;
    if (!client || !clock || !opts || !opts->component || !*opts->component)
        return k8s_error_set(err, K8S_EARG, "events: a client, a clock and a component are needed");
    r = calloc(1, sizeof(*r));
    if (!r)
        return k8s_error_set(err, K8S_ENOMEM, "events: out of memory");
    r->client = client;
    r->clock = clock;
    r->component = strdup(opts->component);
    r->instance = strdup(opts->instance ? opts->instance : "");
    r->dedup_window_ms = opts->dedup_window_ms > 0 ? opts->dedup_window_ms : 600000;
    r->spam_burst = opts->spam_burst > 0 ? opts->spam_burst : 25;
    r->spam_refill_ms = opts->spam_refill_ms > 0 ? opts->spam_refill_ms : 300000;
    r->max_cached = opts->max_cached > 0 ? opts->max_cached : 4096;
    pthread_mutex_init(&r->mu, NULL);
    if (!r->component || !r->instance) {
        ctl_recorder_free(r);
        return k8s_error_set(err, K8S_ENOMEM, "events: out of memory");
    }
    *out = r;
    return 0;
}

void ctl_recorder_free(struct ctl_recorder *r)
{
    if (!r)
        return;
    while (r->seen_head)
        seen_drop(r, r->seen_head);
    while (r->bucket_head) {
        struct bucket *b = r->bucket_head;
        LIST_UNLINK(r, bucket_head, bucket_tail, b);
        free(b->key);
        free(b);
    }
    pthread_mutex_destroy(&r->mu);
    free(r->component);
    free(r->instance);
    free(r);
}

void ctl_recorder_set_gate(struct ctl_recorder *r, int (*may_write)(void *user), void *user)
{
    pthread_mutex_lock(&r->mu);
    r->may_write = may_write;
    r->gate_user = user;
    pthread_mutex_unlock(&r->mu);
}

void ctl_recorder_get_stats(struct ctl_recorder *r, struct ctl_recorder_stats *out)
{
    pthread_mutex_lock(&r->mu);
    *out = r->stats;
    pthread_mutex_unlock(&r->mu);
}

static const char *jstr(const cJSON *o, const char *a, const char *b)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);
    if (b)
        v = cJSON_GetObjectItemCaseSensitive(v, b);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static cJSON *involved_object(const cJSON *obj)
{
    static const char *const fields[][3] = {
        {"kind", "kind", NULL},
        {"namespace", "metadata", "namespace"},
        {"name", "metadata", "name"},
        {"uid", "metadata", "uid"},
        {"apiVersion", "apiVersion", NULL},
        {"resourceVersion", "metadata", "resourceVersion"},
    };
    cJSON *ref = cJSON_CreateObject();
    for (size_t i = 0; ref && i < sizeof(fields) / sizeof(fields[0]); i++) {
        const char *v = jstr(obj, fields[i][1], fields[i][2]);
        if (v && *v)
            cJSON_AddStringToObject(ref, fields[i][0], v);
    }
    return ref;
}

static cJSON *build_event(struct ctl_recorder *r, const cJSON *obj, const char *ns,
                          const char *name, const char *type, const char *reason,
                          const char *message, const char *first_ts, const char *last_ts,
                          long count)
{
    cJSON *ev = cJSON_CreateObject(), *md, *src;
    if (!ev)
        return NULL;
    cJSON_AddStringToObject(ev, "apiVersion", "v1");
    cJSON_AddStringToObject(ev, "kind", "Event");
    md = cJSON_AddObjectToObject(ev, "metadata");
    cJSON_AddStringToObject(md, "name", name);
    cJSON_AddStringToObject(md, "namespace", ns);
    cJSON_AddItemToObject(ev, "involvedObject", involved_object(obj));
    cJSON_AddStringToObject(ev, "reason", reason);
    cJSON_AddStringToObject(ev, "message", message);
    cJSON_AddStringToObject(ev, "type", type);
    src = cJSON_AddObjectToObject(ev, "source");
    cJSON_AddStringToObject(src, "component", r->component);
    if (*r->instance)
        cJSON_AddStringToObject(src, "host", r->instance);
    cJSON_AddStringToObject(ev, "firstTimestamp", first_ts);
    cJSON_AddStringToObject(ev, "lastTimestamp", last_ts);
    cJSON_AddNumberToObject(ev, "count", (double)count);
    cJSON_AddStringToObject(ev, "reportingComponent", r->component);
    cJSON_AddStringToObject(ev, "reportingInstance", r->instance);
    return ev;
}

static int reason_ok(const char *reason)
{
    size_t n = reason ? strlen(reason) : 0;
    if (n == 0 || n > 128 || !isupper((unsigned char)reason[0]))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)reason[i]))
            return 0;
    return 1;
}

static void log_failure(const char *ns, const char *name, const char *what,
                        const struct k8s_error *e)
{
    const char *kv[] = {"error", e->message, "code", k8s_err_name(e->code), NULL};
    k8s_log(K8S_LOG_WARN, ns, name, what, kv);
}

int ctl_event(struct ctl_recorder *r, const cJSON *obj, const char *type, const char *reason,
              const char *fmt, ...)
{
    char raw[4096], msg[CTL_EVENT_MAX_MESSAGE + 1], now_ts[40], evname[340];
    struct k8s_error err;
    struct k8s_buf key;
    const char *oname, *ons;
    cJSON *ev = NULL, *patch = NULL, *res = NULL;
    struct seen *s;
    size_t objkey_len;
    int64_t wall, mono;
    va_list ap;
    int rc = 0, locked = 0;

    k8s_error_clear(&err);
    k8s_buf_init(&key, 64 * 1024);
    oname = jstr(obj, "metadata", "name");
    if (!r || !oname || !*oname || !jstr(obj, "kind", NULL) || !type ||
        (strcmp(type, CTL_EVENT_NORMAL) != 0 && strcmp(type, CTL_EVENT_WARNING) != 0) ||
        !reason_ok(reason) || !fmt) {
        rc = K8S_EARG;
        goto out;
    }
    ons = jstr(obj, "metadata", "namespace");
    /* Events about cluster-scoped objects go to "default", as client-go does. */
    if (!ons || !*ons)
        ons = "default";
    va_start(ap, fmt);
    vsnprintf(raw, sizeof(raw), fmt, ap);
    va_end(ap);
    ctl_event_scrub(raw, msg, sizeof(msg));

    /* The object part of the key (spam filter), then the event part (dedup).
     * \x1f separates fields that may contain anything printable. */
    rc = k8s_buf_appendf(&key, "%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s", r->component, r->instance,
                         jstr(obj, "kind", NULL), ons, oname,
                         jstr(obj, "metadata", "uid") ? jstr(obj, "metadata", "uid") : "",
                         jstr(obj, "apiVersion", NULL) ? jstr(obj, "apiVersion", NULL) : "");
    objkey_len = key.len;
    if (rc == 0)
        rc = k8s_buf_appendf(&key, "\x1f%s\x1f%s\x1f%s", type, reason, msg);
    if (rc)
        goto out;

    pthread_mutex_lock(&r->mu);
    locked = 1;
    if (r->may_write && !r->may_write(r->gate_user)) {
        r->stats.dropped_gate++;
        goto out;
    }
    wall = ctl_clock_wall_ms(r->clock);
    mono = ctl_clock_mono_ms(r->clock);
    key.data[objkey_len] = '\0';
    if (!spam_allow(r, key.data, mono)) {
        r->stats.dropped_spam++;
        goto out;
    }
    key.data[objkey_len] = '\x1f';
    ctl_clock_format_rfc3339(wall, now_ts, sizeof(now_ts));

    s = seen_find(r, key.data);
    if (s && wall - s->last_wall_ms <= r->dedup_window_ms) {
        patch = cJSON_CreateObject();
        if (!patch) {
            rc = K8S_ENOMEM;
            goto out;
        }
        cJSON_AddNumberToObject(patch, "count", (double)(s->count + 1));
        cJSON_AddStringToObject(patch, "lastTimestamp", now_ts);
        cJSON_AddStringToObject(patch, "message", msg);
        rc =
            k8s_patch(r->client, &EVENTS, s->ns, s->name, K8S_PATCH_MERGE, patch, NULL, &res, &err);
        if (rc == 0) {
            s->count++;
            s->last_wall_ms = wall;
            r->stats.patched++;
            goto out;
        }
        if (rc != K8S_ENOTFOUND) {
            r->stats.failed++;
            log_failure(ons, oname, "cannot update event", &err);
            goto out;
        }
        /* The Event expired or was deleted: write it again with the running count. */
        s->count++;
    } else {
        if (s)
            seen_drop(r, s);
        s = seen_add(r, key.data);
        if (!s) {
            rc = K8S_ENOMEM;
            goto out;
        }
        s->count = 1;
        snprintf(s->first_ts, sizeof(s->first_ts), "%s", now_ts);
        snprintf(s->ns, sizeof(s->ns), "%s", ons);
    }
    /* client-go names Events <object>.<unix nanoseconds in hex>; the sequence
     * keeps two events of one millisecond (a fake clock) apart. */
    snprintf(evname, sizeof(evname), "%.240s.%llx", oname,
             (unsigned long long)wall * 1000000ULL + (r->seq++ % 1000000ULL));
    snprintf(s->name, sizeof(s->name), "%s", evname);
    s->last_wall_ms = wall;
    ev = build_event(r, obj, ons, evname, type, reason, msg, s->first_ts, now_ts, s->count);
    if (!ev) {
        rc = K8S_ENOMEM;
        goto out;
    }
    k8s_error_clear(&err);
    cJSON_Delete(res);
    res = NULL;
    rc = k8s_create(r->client, &EVENTS, ons, ev, NULL, &res, &err);
    if (rc == 0) {
        r->stats.created++;
    } else {
        r->stats.failed++;
        log_failure(ons, oname, "cannot create event", &err);
        seen_drop(r, s);
    }
out:
    if (locked)
        pthread_mutex_unlock(&r->mu);
    cJSON_Delete(ev);
    cJSON_Delete(patch);
    cJSON_Delete(res);
    k8s_buf_free(&key);
    return rc;
}
