/*
 * Tests of the watch-event decoder (k8s_watch_decoder.c): events split at
 * every byte, several per feed, byte by byte, a 5 MiB object in random
 * pieces, linear work (each line parsed once, each byte scanned once), blank
 * lines, malformed lines, the 64 MiB limit, stopping, and ERROR events turned
 * into typed errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "k8s_watch.h"

#define MAX_EVENT ((size_t)64 << 20)

/* What the callback saw. */
struct seen {
    size_t n;
    enum k8s_watch_type types[64];
    char rv[64][32];
    char names[64][64];
    size_t big_len; /* length of object.data.blob, if any */
    int stop_after; /* stop when n reaches this (0: never) */
};

static int record(const struct k8s_watch_event *ev, void *user)
{
    struct seen *s = user;
    assert_non_null(ev->object);
    if (s->n < 64) {
        s->types[s->n] = ev->type;
        snprintf(s->rv[s->n], sizeof(s->rv[0]), "%s",
                 ev->resource_version ? ev->resource_version : "(none)");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(ev->object, "metadata"), "name");
        snprintf(s->names[s->n], sizeof(s->names[0]), "%s",
                 cJSON_IsString(name) ? name->valuestring : "");
    }
    const cJSON *blob = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(ev->object, "data"), "blob");
    if (cJSON_IsString(blob))
        s->big_len = strlen(blob->valuestring);
    s->n++;
    return s->stop_after && s->n >= (size_t)s->stop_after;
}

static const char STREAM[] =
    "{\"type\":\"ADDED\",\"object\":{\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"a\","
    "\"resourceVersion\":\"101\"}}}\n"
    "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"b\",\"resourceVersion\":\"102\"},"
    "\"data\":{\"k\":\"line\\nbreak in a string\"}}}\n"
    "\n"
    "{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":\"c\",\"resourceVersion\":\"103\"}}}"
    "\r\n"
    "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"104\"}}}\n"
    "  \n"
    "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410,\"reason\":\"Expired\"}}\n";

static void check_stream(const struct seen *s)
{
    assert_int_equal(s->n, 5);
    assert_int_equal(s->types[0], K8S_WATCH_ADDED);
    assert_int_equal(s->types[1], K8S_WATCH_MODIFIED);
    assert_int_equal(s->types[2], K8S_WATCH_DELETED);
    assert_int_equal(s->types[3], K8S_WATCH_BOOKMARK);
    assert_int_equal(s->types[4], K8S_WATCH_ERROR);
    assert_string_equal(s->rv[0], "101");
    assert_string_equal(s->rv[1], "102");
    assert_string_equal(s->rv[2], "103");
    assert_string_equal(s->rv[3], "104");
    assert_string_equal(s->rv[4], "(none)");
    assert_string_equal(s->names[0], "a");
    assert_string_equal(s->names[1], "b");
    assert_string_equal(s->names[2], "c");
}

static void test_several_events_in_one_feed(void **state)
{
    (void)state;
    struct k8s_watch_decoder d;
    struct k8s_error err;
    struct seen s = {0};
    k8s_watch_decoder_init(&d);
    assert_int_equal(k8s_watch_decoder_feed(&d, STREAM, strlen(STREAM), record, &s, &err), 0);
    check_stream(&s);
    assert_int_equal(k8s_watch_decoder_pending(&d), 0);
    k8s_watch_decoder_free(&d);
}

static void test_event_split_at_every_byte(void **state)
{
    (void)state;
    size_t n = strlen(STREAM);
    for (size_t cut = 0; cut <= n; cut++) {
        struct k8s_watch_decoder d;
        struct k8s_error err;
        struct seen s = {0};
        k8s_watch_decoder_init(&d);
        assert_int_equal(k8s_watch_decoder_feed(&d, STREAM, cut, record, &s, &err), 0);
        assert_int_equal(k8s_watch_decoder_feed(&d, STREAM + cut, n - cut, record, &s, &err), 0);
        check_stream(&s);
        assert_int_equal(k8s_watch_decoder_pending(&d), 0);
        k8s_watch_decoder_free(&d);
    }
    /* Two cuts: every pair of positions in the first two events. */
    size_t two = (size_t)(strstr(STREAM, "\n\n") - STREAM) + 2;
    for (size_t a = 0; a <= two; a++) {
        for (size_t b = a; b <= two; b++) {
            struct k8s_watch_decoder d;
            struct k8s_error err;
            struct seen s = {0};
            k8s_watch_decoder_init(&d);
            assert_int_equal(k8s_watch_decoder_feed(&d, STREAM, a, record, &s, &err), 0);
            assert_int_equal(k8s_watch_decoder_feed(&d, STREAM + a, b - a, record, &s, &err), 0);
            assert_int_equal(k8s_watch_decoder_feed(&d, STREAM + b, n - b, record, &s, &err), 0);
            check_stream(&s);
            k8s_watch_decoder_free(&d);
        }
    }
}

static void test_byte_by_byte(void **state)
{
    (void)state;
    struct k8s_watch_decoder d;
    struct k8s_error err;
    struct seen s = {0};
    size_t n = strlen(STREAM), held = 0;
    k8s_watch_decoder_init(&d);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(k8s_watch_decoder_feed(&d, STREAM + i, 1, record, &s, &err), 0);
        /* Everything since the last newline is held, and all of it scanned. */
        held = STREAM[i] == '\n' ? 0 : held + 1;
        assert_int_equal(k8s_watch_decoder_pending(&d), held);
        assert_int_equal(d.scanned, held);
    }
    check_stream(&s);
    /* Empty feeds are fine. */
    assert_int_equal(k8s_watch_decoder_feed(&d, NULL, 0, record, &s, &err), 0);
    assert_int_equal(k8s_watch_decoder_feed(&d, NULL, 5, record, &s, &err), K8S_EARG);
    k8s_watch_decoder_free(&d);
}

/* A line {"type":"MODIFIED","object":{...,"data":{"blob":"xxxx..."}}} of
 * about `size` bytes, with its newline. */
static char *big_event(size_t size, size_t *len)
{
    const char *head = "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"big\","
                       "\"resourceVersion\":\"9007199254740993\"},\"data\":{\"blob\":\"";
    const char *tail = "\"}}}\n";
    size_t hl = strlen(head), tl = strlen(tail);
    char *buf = malloc(size + hl + tl + 1);
    assert_non_null(buf);
    memcpy(buf, head, hl);
    for (size_t i = 0; i < size; i++)
        buf[hl + i] = (char)('a' + i % 26);
    memcpy(buf + hl + size, tail, tl + 1);
    *len = hl + size + tl;
    return buf;
}

/* A small deterministic generator (xorshift), so failures reproduce. */
static uint32_t rnd(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

static void test_5mib_object_in_random_chunks(void **state)
{
    (void)state;
    size_t blob = 5u << 20, len;
    char *ev = big_event(blob, &len);
    for (uint32_t seed = 1; seed <= 3; seed++) {
        struct k8s_watch_decoder d;
        struct k8s_error err;
        struct seen s = {0};
        uint32_t x = seed * 2654435761u;
        size_t pos = 0, feeds = 0;
        k8s_watch_decoder_init(&d);
        while (pos < len) {
            /* Pieces of 1 byte to 16 KiB, like libcurl's write callbacks. */
            size_t piece = 1 + rnd(&x) % 16384;
            if (piece > len - pos)
                piece = len - pos;
            assert_int_equal(k8s_watch_decoder_feed(&d, ev + pos, piece, record, &s, &err), 0);
            pos += piece;
            feeds++;
        }
        assert_true(feeds > 300);
        assert_int_equal(s.n, 1);
        assert_int_equal(s.types[0], K8S_WATCH_MODIFIED);
        /* resourceVersion is a string: exact even where a double would not be. */
        assert_string_equal(s.rv[0], "9007199254740993");
        assert_int_equal(s.big_len, blob);
        assert_int_equal(k8s_watch_decoder_pending(&d), 0);
        k8s_watch_decoder_free(&d);
    }
    free(ev);
}

/* cJSON allocation counter: a parse attempt always allocates, so counting
 * cJSON's allocations counts parses. */
static size_t cjson_allocs;

static void *counting_malloc(size_t n)
{
    cjson_allocs++;
    return malloc(n);
}

static void test_linear_each_line_parsed_once_each_byte_scanned_once(void **state)
{
    (void)state;
    size_t len;
    char *ev = big_event(5u << 20, &len);
    cJSON_Hooks hooks = {counting_malloc, free};
    cJSON_InitHooks(&hooks);

    /* What one parse of the line costs in allocations. */
    cjson_allocs = 0;
    cJSON *ref = cJSON_ParseWithLength(ev, len - 1);
    assert_non_null(ref);
    cJSON_Delete(ref);
    size_t one_parse = cjson_allocs;
    assert_true(one_parse > 0);

    struct k8s_watch_decoder d;
    struct k8s_error err;
    struct seen s = {0};
    k8s_watch_decoder_init(&d);
    cjson_allocs = 0;
    size_t pos = 0, piece = 4096;
    while (pos + piece < len) {
        assert_int_equal(k8s_watch_decoder_feed(&d, ev + pos, piece, record, &s, &err), 0);
        pos += piece;
        /* No parse happens before the newline arrives ... */
        assert_int_equal(cjson_allocs, 0);
        /* ... and the scan position advanced over exactly the new bytes:
         * everything held has been searched once and is never searched again. */
        assert_int_equal(d.scanned, pos);
        assert_int_equal(k8s_watch_decoder_pending(&d), pos);
    }
    assert_int_equal(k8s_watch_decoder_feed(&d, ev + pos, len - pos, record, &s, &err), 0);
    /* The whole line was parsed exactly once. */
    assert_int_equal(cjson_allocs, one_parse);
    assert_int_equal(s.n, 1);
    assert_int_equal(d.scanned, 0);

    /* Many small events in one big feed: one parse each, nothing more. */
    char *many = malloc(1000 * 64);
    size_t m = 0;
    for (int i = 0; i < 1000; i++)
        m += (size_t)snprintf(
            many + m, 64, "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"n%d\"}}}\n", i);
    cjson_allocs = 0;
    cJSON *one = cJSON_Parse("{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"n0\"}}}");
    size_t per_event = cjson_allocs;
    cJSON_Delete(one);
    s.n = 0;
    cjson_allocs = 0;
    assert_int_equal(k8s_watch_decoder_feed(&d, many, m, record, &s, &err), 0);
    assert_int_equal(s.n, 1000);
    assert_int_equal(cjson_allocs, 1000 * per_event);

    cJSON_InitHooks(NULL);
    k8s_watch_decoder_free(&d);
    free(many);
    free(ev);
}

/* Feeds `line` and expects K8S_EDECODE with `want` in the message. */
static void bad_case(const char *line, const char *want)
{
    struct k8s_watch_decoder d;
    struct k8s_error err;
    struct seen s = {0};
    k8s_watch_decoder_init(&d);
    int rc = k8s_watch_decoder_feed(&d, line, strlen(line), record, &s, &err);
    assert_int_equal(rc, K8S_EDECODE);
    assert_int_equal(err.code, K8S_EDECODE);
    if (!strstr(err.message, want))
        fail_msg("message \"%s\" lacks \"%s\"", err.message, want);
    assert_int_equal(s.n, 0);
    /* After an error the decoder holds nothing. */
    assert_int_equal(k8s_watch_decoder_pending(&d), 0);
    k8s_watch_decoder_free(&d);
}

static void test_malformed_lines_are_decode_errors(void **state)
{
    (void)state;
    bad_case("not json at all\n", "watch event is not JSON (syntax error at byte 0)");
    bad_case("{\"type\":\"ADDED\",\"object\":{}\n", "is not JSON");
    bad_case("[1,2]\n", "is not a JSON object (line of 5 bytes: \"[1,2]\")");
    bad_case("{\"object\":{}}\n", "has no \"type\" string");
    bad_case("{\"type\":7,\"object\":{}}\n", "has no \"type\" string");
    bad_case("{\"type\":\"ADDED\"}\n", "has no \"object\" object");
    bad_case("{\"type\":\"ADDED\",\"object\":\"x\"}\n", "has no \"object\" object");
    bad_case("{\"type\":\"EXPLODED\",\"object\":{}}\n", "has an unknown type \"EXPLODED\"");
    bad_case("{\"type\":\"ADDED\",\"object\":{}} {\"type\":\"ADDED\",\"object\":{}}\n",
             "has data after its JSON value");
    /* Control bytes are not copied into the message. */
    bad_case("\x01\x02oops\n", "\"??oops\"");

    /* The message quotes the first 100 bytes of a long line and never more. */
    char line[400];
    memset(line, 'x', 300);
    memcpy(line + 150, "SECRET", 6);
    line[300] = '\n';
    line[301] = '\0';
    struct k8s_watch_decoder d;
    struct k8s_error err;
    k8s_watch_decoder_init(&d);
    assert_int_equal(k8s_watch_decoder_feed(&d, line, 301, record, NULL, &err), K8S_EDECODE);
    assert_null(strstr(err.message, "SECRET"));
    assert_non_null(strstr(err.message, "line of 300 bytes"));
    char xs[110];
    memset(xs, 'x', 101);
    xs[101] = '\0';
    assert_null(strstr(err.message, xs)); /* never 101 bytes of the line ... */
    memcpy(xs + 100, "\"...", 5);
    assert_non_null(strstr(err.message, xs)); /* ... but exactly the first 100 */
    /* A cut inside a UTF-8 sequence drops the partial character. */
    memset(line, 'x', 99);
    memcpy(line + 99, "\xc3\xa9yyy\n", 6);
    assert_int_equal(k8s_watch_decoder_feed(&d, line, 105, record, NULL, &err), K8S_EDECODE);
    assert_non_null(strstr(err.message, "xxx\"..."));
    assert_null(strstr(err.message, "\xc3"));
    /* The decoder works again after an error. */
    struct seen s = {0};
    assert_int_equal(k8s_watch_decoder_feed(&d, STREAM, strlen(STREAM), record, &s, &err), 0);
    check_stream(&s);
    k8s_watch_decoder_free(&d);
}

static void test_event_above_64mib_is_enomem(void **state)
{
    (void)state;
    struct k8s_watch_decoder d;
    struct k8s_error err;
    struct seen s = {0};
    size_t mib = 1u << 20;
    char *spaces = malloc(MAX_EVENT + 2);
    memset(spaces, ' ', MAX_EVENT + 1);
    spaces[MAX_EVENT + 1] = '\n';

    /* Exactly the maximum is accepted (a blank line of 64 MiB: skipped). */
    k8s_watch_decoder_init(&d);
    for (size_t i = 0; i < 64; i++)
        assert_int_equal(k8s_watch_decoder_feed(&d, spaces, mib, record, &s, &err), 0);
    assert_int_equal(k8s_watch_decoder_pending(&d), MAX_EVENT);
    assert_int_equal(k8s_watch_decoder_feed(&d, "\n", 1, record, &s, &err), 0);
    assert_int_equal(k8s_watch_decoder_pending(&d), 0);

    /* One byte more, arriving in pieces: refused before it is held whole. */
    for (size_t i = 0; i < 64; i++)
        assert_int_equal(k8s_watch_decoder_feed(&d, spaces, mib, record, &s, &err), 0);
    assert_int_equal(k8s_watch_decoder_feed(&d, spaces, 1, record, &s, &err), K8S_ENOMEM);
    assert_int_equal(err.code, K8S_ENOMEM);
    assert_non_null(strstr(err.message, "larger than 67108864 bytes"));
    assert_int_equal(k8s_watch_decoder_pending(&d), 0);

    /* One byte more, in a single feed with its newline. */
    assert_int_equal(k8s_watch_decoder_feed(&d, spaces, MAX_EVENT + 2, record, &s, &err),
                     K8S_ENOMEM);
    /* Held part plus a new part that together go over. */
    assert_int_equal(k8s_watch_decoder_feed(&d, spaces, 10, record, &s, &err), 0);
    assert_int_equal(k8s_watch_decoder_feed(&d, spaces, MAX_EVENT - 9, record, &s, &err),
                     K8S_ENOMEM);
    assert_int_equal(s.n, 0);
    k8s_watch_decoder_free(&d);
    free(spaces);
}

static void test_callback_stop_is_estopped(void **state)
{
    (void)state;
    struct k8s_watch_decoder d;
    struct k8s_error err;
    struct seen s = {.stop_after = 2};
    k8s_watch_decoder_init(&d);
    assert_int_equal(k8s_watch_decoder_feed(&d, STREAM, strlen(STREAM), record, &s, &err),
                     K8S_ESTOPPED);
    assert_int_equal(err.code, K8S_ESTOPPED);
    /* The events after the one that stopped are not delivered. */
    assert_int_equal(s.n, 2);
    k8s_watch_decoder_free(&d);
}

static void test_error_event_to_typed_error(void **state)
{
    (void)state;
    struct k8s_error err;
    cJSON *st;

    /* What kube-apiserver sends when the resourceVersion is too old. */
    st = cJSON_Parse("{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},"
                     "\"status\":\"Failure\",\"message\":\"too old resource version: 1 (2)\","
                     "\"reason\":\"Expired\",\"code\":410}");
    assert_int_equal(k8s_watch_error_from_status(st, &err), K8S_EGONE);
    assert_int_equal(err.code, K8S_EGONE);
    assert_int_equal(err.http_status, 410);
    assert_string_equal(err.reason, "Expired");
    assert_string_equal(err.message, "watch ERROR event: too old resource version: 1 (2)");
    cJSON_Delete(st);

    /* Reason "Gone" without a code. */
    st = cJSON_Parse("{\"kind\":\"Status\",\"reason\":\"Gone\",\"message\":\"gone\"}");
    assert_int_equal(k8s_watch_error_from_status(st, &err), K8S_EGONE);
    assert_int_equal(err.http_status, 0);
    cJSON_Delete(st);

    /* A Status with a code only. */
    st = cJSON_Parse("{\"code\":410}");
    assert_int_equal(k8s_watch_error_from_status(st, &err), K8S_EGONE);
    assert_int_equal(err.http_status, 410);
    assert_string_equal(err.reason, "Expired");
    assert_string_equal(err.message, "watch ERROR event: Expired (HTTP 410)");
    cJSON_Delete(st);

    /* Other errors keep their type, causes and retry hint. */
    st = cJSON_Parse("{\"code\":500,\"reason\":\"InternalError\",\"message\":\"etcd\","
                     "\"details\":{\"retryAfterSeconds\":3,\"causes\":[{\"reason\":\"R\","
                     "\"message\":\"M\",\"field\":\"F\"}]}}");
    assert_int_equal(k8s_watch_error_from_status(st, &err), K8S_EINTERNAL);
    assert_int_equal(err.retry_after_seconds, 3);
    assert_int_equal(err.ncauses, 1);
    assert_string_equal(err.causes[0].field, "F");
    assert_string_equal(err.causes[0].reason, "R");
    assert_string_equal(err.causes[0].message, "M");
    cJSON_Delete(st);

    /* An ERROR event is never success, and absurd numbers are not converted. */
    st = cJSON_Parse("{\"code\":200,\"details\":{\"retryAfterSeconds\":1e300}}");
    assert_int_equal(k8s_watch_error_from_status(st, &err), K8S_EHTTP);
    assert_true(err.retry_after_seconds > 0);
    cJSON_Delete(st);
    st = cJSON_Parse("{\"code\":1e300}");
    assert_int_equal(k8s_watch_error_from_status(st, &err), K8S_EHTTP);
    assert_int_equal(err.http_status, 0);
    cJSON_Delete(st);
    st = cJSON_Parse("[]");
    assert_int_equal(k8s_watch_error_from_status(st, &err), K8S_EDECODE);
    assert_int_equal(k8s_watch_error_from_status(NULL, NULL), K8S_EDECODE);
    cJSON_Delete(st);
}

/* The callback turns the ERROR event into a typed error, as k8s_watch does. */
struct err_seen {
    int code;
    int calls;
};

static int on_error_event(const struct k8s_watch_event *ev, void *user)
{
    struct err_seen *e = user;
    struct k8s_error err;
    e->calls++;
    if (ev->type != K8S_WATCH_ERROR)
        return 0;
    e->code = k8s_watch_error_from_status(ev->object, &err);
    return 1;
}

static void test_error_event_through_the_decoder(void **state)
{
    (void)state;
    struct k8s_watch_decoder d;
    struct k8s_error err;
    struct err_seen e = {0};
    k8s_watch_decoder_init(&d);
    assert_int_equal(k8s_watch_decoder_feed(&d, STREAM, strlen(STREAM), on_error_event, &e, &err),
                     K8S_ESTOPPED);
    assert_int_equal(e.calls, 5);
    assert_int_equal(e.code, K8S_EGONE);
    k8s_watch_decoder_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_several_events_in_one_feed),
        cmocka_unit_test(test_event_split_at_every_byte),
        cmocka_unit_test(test_byte_by_byte),
        cmocka_unit_test(test_5mib_object_in_random_chunks),
        cmocka_unit_test(test_linear_each_line_parsed_once_each_byte_scanned_once),
        cmocka_unit_test(test_malformed_lines_are_decode_errors),
        cmocka_unit_test(test_event_above_64mib_is_enomem),
        cmocka_unit_test(test_callback_stop_is_estopped),
        cmocka_unit_test(test_error_event_to_typed_error),
        cmocka_unit_test(test_error_event_through_the_decoder),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
