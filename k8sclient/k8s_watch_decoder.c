/*
 * k8s_watch_decoder: the streaming half of k8s_watch.h. Turns the bytes of a
 * watch response, in whatever pieces libcurl hands them over, into events
 * {"type":"ADDED","object":{...}} one per line, and turns an ERROR event's
 * Status into a typed error. k8s_watch() itself lives in k8s_watch.c.
 *
 * Linear time. Each byte is searched for '\n' exactly once: a feed searches
 * only its own new bytes. Complete lines found inside a feed are parsed where
 * they lie, without a copy; only the unfinished tail of a line is kept in
 * d->buf, which therefore never holds a '\n' (so d->scanned, the bytes of buf
 * already searched, always equals buf.len). When the newline of a held line
 * arrives, the line is completed in buf and parsed once. The buffer is reset,
 * not shifted, after each line, so nothing is ever memmoved. A 5 MiB object in
 * 4 KiB pieces costs 1,280 memchr calls over 4 KiB each and one parse.
 *
 * An event is at most K8S_WATCH_MAX_EVENT bytes; a longer line fails with
 * K8S_ENOMEM before it is buffered whole. After any failure the decoder is
 * empty again (the caller ends the stream anyway).
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "k8s_watch.h"

#define K8S_WATCH_MAX_EVENT ((size_t)64 << 20)

/* How much of a bad line an error message quotes: enough to recognise it,
 * short enough not to carry much of an object (which may be a Secret). */
#define QUOTE_MAX 100

void k8s_watch_decoder_init(struct k8s_watch_decoder *d)
{
    k8s_buf_init(&d->buf, K8S_WATCH_MAX_EVENT);
    d->scanned = 0;
}

void k8s_watch_decoder_free(struct k8s_watch_decoder *d)
{
    k8s_buf_free(&d->buf);
    d->scanned = 0;
}

size_t k8s_watch_decoder_pending(const struct k8s_watch_decoder *d)
{
    return d->buf.len;
}

/* Copies at most QUOTE_MAX bytes of `line` into `out` as printable text: control
 * bytes become '?', and a UTF-8 sequence cut by the limit is dropped whole. */
static void quote_line(const char *line, size_t len, char *out, size_t cap)
{
    size_t n = len < QUOTE_MAX ? len : QUOTE_MAX;
    if (n < len)
        while (n > 0 && ((unsigned char)line[n] & 0xC0) == 0x80)
            n--;
    if (n >= cap)
        n = cap - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)line[i];
        out[i] = c < 0x20 || c == 0x7F ? '?' : (char)c;
    }
    out[n] = '\0';
}

static int bad_line(struct k8s_error *err, const char *line, size_t len, const char *what)
{
    char q[QUOTE_MAX + 1];
    quote_line(line, len, q, sizeof(q));
    return k8s_error_set(err, K8S_EDECODE, "watch event %s (line of %zu bytes: \"%s\"%s)", what,
                         len, q, len > QUOTE_MAX ? "..." : "");
}

static int is_blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return 0;
    return 1;
}

static int watch_type(const char *s, enum k8s_watch_type *t)
{
    static const struct {
        const char *name;
        enum k8s_watch_type type;
    } types[] = {
        {"ADDED", K8S_WATCH_ADDED},     {"MODIFIED", K8S_WATCH_MODIFIED},
        {"DELETED", K8S_WATCH_DELETED}, {"BOOKMARK", K8S_WATCH_BOOKMARK},
        {"ERROR", K8S_WATCH_ERROR},
    };
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (strcmp(s, types[i].name) == 0) {
            *t = types[i].type;
            return 0;
        }
    }
    return -1;
}

/* Parses one line (without its '\n') and hands the event to cb. */
static int decode_line(const char *line, size_t len, k8s_watch_cb cb, void *user,
                       struct k8s_error *err)
{
    int rc = 0;
    const char *end = NULL;
    cJSON *root = NULL;

    if (is_blank(line, len))
        return 0;
    root = cJSON_ParseWithLengthOpts(line, len, &end, 0);
    if (!root) {
        char what[64];
        if (end && end >= line && end <= line + len)
            snprintf(what, sizeof(what), "is not JSON (syntax error at byte %zu)",
                     (size_t)(end - line));
        else
            snprintf(what, sizeof(what), "is not JSON");
        rc = bad_line(err, line, len, what);
        goto out;
    }
    /* cJSON stops after the first value; anything but blanks after it means
     * two values on one line, or garbage. */
    if (!end || end < line || end > line + len || !is_blank(end, (size_t)(line + len - end))) {
        rc = bad_line(err, line, len, "has data after its JSON value");
        goto out;
    }
    if (!cJSON_IsObject(root)) {
        rc = bad_line(err, line, len, "is not a JSON object");
        goto out;
    }
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "type");
    cJSON *object = cJSON_GetObjectItemCaseSensitive(root, "object");
    struct k8s_watch_event ev = {0};
    if (!cJSON_IsString(type)) {
        rc = bad_line(err, line, len, "has no \"type\" string");
        goto out;
    }
    if (watch_type(type->valuestring, &ev.type) != 0) {
        char what[80], q[33];
        quote_line(type->valuestring, strlen(type->valuestring), q, sizeof(q));
        snprintf(what, sizeof(what), "has an unknown type \"%s\"", q);
        rc = bad_line(err, line, len, what);
        goto out;
    }
    if (!cJSON_IsObject(object)) {
        rc = bad_line(err, line, len, "has no \"object\" object");
        goto out;
    }
    ev.object = object;
    const cJSON *rv = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(object, "metadata"), "resourceVersion");
    ev.resource_version = cJSON_IsString(rv) ? rv->valuestring : NULL;
    if (cb && cb(&ev, user) != 0)
        rc = k8s_error_set(err, K8S_ESTOPPED, "the watch callback asked to stop");
out:
    cJSON_Delete(root);
    return rc;
}

int k8s_watch_decoder_feed(struct k8s_watch_decoder *d, const char *data, size_t len,
                           k8s_watch_cb cb, void *user, struct k8s_error *err)
{
    int rc = 0;
    size_t pos = 0;

    if (!d || (!data && len))
        return k8s_error_set(err, K8S_EARG, "watch decoder: no decoder or no data");
    while (pos < len) {
        const char *start = data + pos;
        const char *nl = memchr(start, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - start) : len - pos;
        if (!nl || d->buf.len > 0) {
            /* Only the tail of a line is buffered; the limit counts the whole
             * line, held part included. */
            if (k8s_buf_append(&d->buf, start, n) != 0) {
                rc = k8s_error_set(err, K8S_ENOMEM,
                                   "watch event larger than %zu bytes (or out of memory)",
                                   (size_t)K8S_WATCH_MAX_EVENT);
                goto fail;
            }
            d->scanned = d->buf.len;
            if (!nl)
                return 0;
            rc = decode_line(d->buf.data, d->buf.len, cb, user, err);
        } else if (n > K8S_WATCH_MAX_EVENT) {
            rc = k8s_error_set(err, K8S_ENOMEM, "watch event larger than %zu bytes",
                               (size_t)K8S_WATCH_MAX_EVENT);
        } else {
            rc = decode_line(start, n, cb, user, err);
        }
        k8s_buf_reset(&d->buf);
        d->scanned = 0;
        if (rc)
            goto fail;
        pos += n + 1;
    }
    return 0;
fail:
    k8s_buf_reset(&d->buf);
    d->scanned = 0;
    return rc;
}

int k8s_watch_error_from_status(const cJSON *status, struct k8s_error *err)
{
    struct k8s_error scratch;
    if (!err)
        err = &scratch;
    if (!cJSON_IsObject(status))
        return k8s_error_set(err, K8S_EDECODE, "watch ERROR event without a Status object");
    k8s_error_clear(err);
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(status, "code");
    const cJSON *reason = cJSON_GetObjectItemCaseSensitive(status, "reason");
    const cJSON *message = cJSON_GetObjectItemCaseSensitive(status, "message");
    const cJSON *details = cJSON_GetObjectItemCaseSensitive(status, "details");
    /* Range-check before converting: a double outside long's range is
     * undefined behaviour to convert. */
    if (cJSON_IsNumber(code) && code->valuedouble >= 100 && code->valuedouble < 1000)
        err->http_status = (long)code->valuedouble;
    if (cJSON_IsString(reason))
        snprintf(err->reason, sizeof(err->reason), "%s", reason->valuestring);
    const cJSON *ras = cJSON_GetObjectItemCaseSensitive(details, "retryAfterSeconds");
    if (cJSON_IsNumber(ras) && ras->valuedouble > 0)
        err->retry_after_seconds =
            ras->valuedouble < 86400.0 * 365 ? (long)ras->valuedouble : 86400L * 365;
    const cJSON *cause;
    cJSON_ArrayForEach(cause, cJSON_GetObjectItemCaseSensitive(details, "causes"))
    {
        if (err->ncauses == K8S_MAX_CAUSES)
            break;
        struct k8s_cause *c = &err->causes[err->ncauses++];
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(cause, "field");
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(cause, "reason");
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(cause, "message");
        snprintf(c->field, sizeof(c->field), "%s", cJSON_IsString(f) ? f->valuestring : "");
        snprintf(c->reason, sizeof(c->reason), "%s", cJSON_IsString(r) ? r->valuestring : "");
        snprintf(c->message, sizeof(c->message), "%s", cJSON_IsString(m) ? m->valuestring : "");
    }
    err->code = k8s_errcode_for(err->http_status, err->reason);
    /* An ERROR event is a failure whatever its Status says. */
    if (err->code == K8S_OK)
        err->code = K8S_EHTTP;
    if (!err->reason[0])
        snprintf(err->reason, sizeof(err->reason), "%s", k8s_err_name(err->code));
    if (cJSON_IsString(message) && message->valuestring[0])
        snprintf(err->message, sizeof(err->message), "watch ERROR event: %s", message->valuestring);
    else
        snprintf(err->message, sizeof(err->message), "watch ERROR event: %s (HTTP %ld)",
                 err->reason, err->http_status);
    return err->code;
}
