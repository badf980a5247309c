/*
 * libFuzzer target for the watch-event decoder (k8sclient/k8s_watch_decoder.c).
 * Build and run: see tests/fuzz/build.sh.
 *
 * Input: byte 0 seeds how the rest is cut into feeds; the rest is the
 * response body. Besides "no crash, no leak, no UB", it checks that the cut
 * does not matter: the body fed whole, fed in pseudo-random pieces and (when
 * short) fed byte by byte gives the same events, the same result code and the
 * same held tail. An object with a member "stop" makes the callback stop.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "k8s_patch.h"
#include "k8s_watch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct run {
    size_t events;
    uint64_t digest; /* of types and resourceVersions, in order */
};

static void check(int ok)
{
    if (!ok)
        abort();
}

static uint64_t mix(uint64_t h, const char *s)
{
    for (; s && *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return (h ^ 0xff) * 1099511628211u;
}

static int has_nonfinite(const cJSON *v)
{
    if (cJSON_IsNumber(v) &&
        (v->valuedouble != v->valuedouble || v->valuedouble > 1.7e308 || v->valuedouble < -1.7e308))
        return 1;
    for (const cJSON *c = v->child; c; c = c->next)
        if (has_nonfinite(c))
            return 1;
    return 0;
}

static int on_event(const struct k8s_watch_event *ev, void *user)
{
    struct run *r = user;
    check(cJSON_IsObject(ev->object));
    check(ev->type >= K8S_WATCH_ADDED && ev->type <= K8S_WATCH_ERROR);
    r->events++;
    r->digest = mix(r->digest * 31 + (uint64_t)ev->type, ev->resource_version);
    if (ev->type == K8S_WATCH_ERROR) {
        struct k8s_error err;
        int rc = k8s_watch_error_from_status(ev->object, &err);
        check(rc < 0 && rc == err.code);
        check(memchr(err.message, '\0', sizeof(err.message)) != NULL);
    }
    /* Exercise the printer on whatever arrived; it must read back equal
     * unless a number was not finite (printed as null, like cJSON). */
    size_t len = 0;
    char *s = k8s_json_print(ev->object, &len);
    check(s != NULL && strlen(s) == len);
    cJSON *back = cJSON_ParseWithLength(s, len);
    check(back != NULL);
    if (!has_nonfinite(ev->object))
        check(k8s_json_equal(back, ev->object));
    cJSON_Delete(back);
    free(s);
    return cJSON_GetObjectItemCaseSensitive(ev->object, "stop") != NULL;
}

/* Feeds `body` in pieces of the sizes `next_piece` gives; returns the first
 * non-zero result or 0. */
static int feed_all(const char *body, size_t len, uint32_t seed, int mode, struct run *r,
                    size_t *pending)
{
    struct k8s_watch_decoder d;
    struct k8s_error err;
    int rc = 0;
    size_t pos = 0;
    uint32_t x = seed | 1;
    k8s_watch_decoder_init(&d);
    while (pos < len) {
        size_t piece;
        if (mode == 0) {
            piece = len - pos;
        } else if (mode == 1) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            piece = 1 + x % 64;
        } else {
            piece = 1;
        }
        if (piece > len - pos)
            piece = len - pos;
        rc = k8s_watch_decoder_feed(&d, body + pos, piece, on_event, r, &err);
        pos += piece;
        if (rc) {
            check(rc == err.code);
            check(rc == K8S_EDECODE || rc == K8S_ESTOPPED);
            check(k8s_watch_decoder_pending(&d) == 0);
            break;
        }
        check(d.scanned == k8s_watch_decoder_pending(&d));
        check(memchr(d.buf.data ? d.buf.data : "", '\n', d.buf.len) == NULL);
    }
    *pending = k8s_watch_decoder_pending(&d);
    k8s_watch_decoder_free(&d);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    struct run whole = {0}, cut = {0}, bytes = {0};
    size_t p_whole, p_cut, p_bytes;
    int rc_whole = feed_all(body, len, 0, 0, &whole, &p_whole);
    int rc_cut = feed_all(body, len, data[0] * 2654435761u, 1, &cut, &p_cut);
    check(rc_whole == rc_cut);
    check(whole.events == cut.events && whole.digest == cut.digest);
    if (rc_whole == 0)
        check(p_whole == p_cut);
    if (len <= 512) {
        int rc_bytes = feed_all(body, len, 0, 2, &bytes, &p_bytes);
        check(rc_whole == rc_bytes);
        check(whole.events == bytes.events && whole.digest == bytes.digest);
        if (rc_whole == 0)
            check(p_whole == p_bytes);
    }
    return 0;
}
