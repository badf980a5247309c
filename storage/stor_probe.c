/*
 * The probe: five small requests. The probe key carries random bytes so
 * that two probes never collide, and it is deleted even when the read-back
 * failed.
 */
#include "stor_probe.h"

#include <cjson/cJSON.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stor_internal.h"

#define PROBE_SIZE 4096

struct membuf {
    unsigned char *data;
    size_t len, pos, cap;
};

static int mem_source(void *ctx, void *buf, size_t cap, size_t *got)
{
    struct membuf *m = ctx;
    size_t n = m->len - m->pos < cap ? m->len - m->pos : cap;
    memcpy(buf, m->data + m->pos, n);
    m->pos += n;
    *got = n;
    return 0;
}

static int mem_sink(void *ctx, const void *data, size_t len)
{
    struct membuf *m = ctx;
    if (len > m->cap - m->len)
        return 1;
    memcpy(m->data + m->len, data, len);
    m->len += len;
    return 0;
}

static int list_one(struct stor_backend *b, struct stor_error *err)
{
    struct stor_lister *l = NULL;
    struct stor_entry *e = malloc(sizeof(*e));
    if (!e)
        return stor_error_set(err, STOR_ENOMEM, "out of memory");
    int rc = stor_list_open(b, "", NULL, &l, err);
    if (!rc) {
        int got = stor_list_next(l, e, err);
        rc = got < 0 ? got : 0;
    }
    stor_list_close(l);
    free(e);
    return rc;
}

int stor_probe_run(struct stor_backend *src, struct stor_backend *dst, struct stor_probe_report *r)
{
    static const char *const names[] = {"list-source", "list-destination", "put", "get", "delete"};
    memset(r, 0, sizeof(*r));
    for (int i = 0; i < STOR_PROBE_STEPS; i++)
        r->steps[i].name = names[i];
    unsigned char rnd[8];
    char hex[17];
    RAND_bytes(rnd, sizeof(rnd));
    stor_hex(rnd, sizeof(rnd), hex);
    snprintf(r->key, sizeof(r->key), ".qso-probe-%s", hex);

    struct stor_probe_step *s = r->steps;
    if (src) {
        s[0].ran = 1;
        s[0].ok = list_one(src, &s[0].err) == 0;
    }
    s[1].ran = 1;
    s[1].ok = list_one(dst, &s[1].err) == 0;

    unsigned char *payload = malloc(PROBE_SIZE), *back = malloc(PROBE_SIZE + 1);
    if (payload && back) {
        RAND_bytes(payload, PROBE_SIZE);
        struct membuf out = {payload, PROBE_SIZE, 0, PROBE_SIZE};
        s[2].ran = 1;
        s[2].ok = stor_put(dst, r->key, PROBE_SIZE, mem_source, &out, &s[2].err) == 0;
        if (s[2].ok) {
            struct membuf in = {back, 0, 0, PROBE_SIZE + 1};
            s[3].ran = 1;
            s[3].ok = stor_get(dst, r->key, 0, 0, mem_sink, &in, &s[3].err) == 0;
            if (s[3].ok && (in.len != PROBE_SIZE || memcmp(back, payload, PROBE_SIZE) != 0)) {
                s[3].ok = 0;
                stor_error_set(&s[3].err, STOR_EINTEGRITY,
                               "the probe object read back differs from what was written");
            }
            s[4].ran = 1;
            s[4].ok = stor_delete(dst, r->key, &s[4].err) == 0;
        }
    } else {
        s[2].ran = 1;
        stor_error_set(&s[2].err, STOR_ENOMEM, "out of memory");
    }
    free(payload);
    free(back);
    for (int i = 0; i < STOR_PROBE_STEPS; i++)
        if (s[i].ran && !s[i].ok)
            return s[i].err.code ? s[i].err.code : STOR_EIO;
    return 0;
}

char *stor_probe_json(const struct stor_probe_report *r)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "kind", "probe");
    cJSON_AddStringToObject(o, "probeKey", r->key);
    int all = 1;
    cJSON *arr = cJSON_AddArrayToObject(o, "steps");
    for (int i = 0; i < STOR_PROBE_STEPS; i++) {
        const struct stor_probe_step *s = &r->steps[i];
        cJSON *st = cJSON_CreateObject();
        cJSON_AddStringToObject(st, "step", s->name);
        cJSON_AddStringToObject(st, "result", !s->ran ? "skipped" : s->ok ? "ok" : "failed");
        if (s->ran && !s->ok) {
            all = 0;
            cJSON_AddStringToObject(st, "reason", stor_err_name(s->err.code));
            if (s->err.http_status)
                cJSON_AddNumberToObject(st, "httpStatus", (double)s->err.http_status);
            cJSON_AddStringToObject(st, "message", s->err.message);
        }
        cJSON_AddItemToArray(arr, st);
    }
    cJSON_AddStringToObject(o, "status", all ? "ok" : "failed");
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}
