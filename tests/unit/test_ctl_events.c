/*
 * Tests of the Event recorder (controller/ctl_events.c) against the API
 * simulator, with a fake clock: repeats within 10 minutes become one Event
 * whose count and lastTimestamp grow (one POST, then PATCHes — checked in the
 * simulator's request record), a repeat after the window is a new Event, a
 * different message is a new Event, the per-object spam filter (burst 25,
 * one token per 5 minutes) drops the excess for that object only, a deleted
 * Event is written again with the running count, the leadership gate stops
 * every write, cluster-scoped objects get their Events in "default", and no
 * secret-looking value survives into a message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_clock.h"
#include "ctl_events.h"
#include "k8s_client.h"
#include "k8s_config.h"
#include "kubesim_harness.h"

/* 2026-01-02T03:04:05Z */
#define T0 1767323045000LL

static const struct k8s_resource EVENTS = {"", "v1", "events", 1};

struct fixture {
    struct kubesim *sim;
    struct k8s_client *c;
};

static int group_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct kubesim_opts opts = {.exit_after_seconds = 600};
    struct k8s_config *cfg = NULL;
    struct k8s_error err;
    *state = f;
    if (!f || kubesim_start(&opts, &f->sim) != 0)
        return -1;
    if (k8s_config_from_kubeconfig(kubesim_kubeconfig(f->sim), NULL, &cfg, &err) != 0) {
        fprintf(stderr, "config: %s\n", err.message);
        return -1;
    }
    cfg->qps = 0;
    if (k8s_client_new(cfg, &f->c, &err) != 0) {
        fprintf(stderr, "client: %s\n", err.message);
        k8s_config_free(cfg);
        return -1;
    }
    k8s_config_free(cfg);
    return 0;
}

static int group_teardown(void **state)
{
    struct fixture *f = *state;
    if (f) {
        k8s_client_free(f->c);
        kubesim_stop(f->sim);
        free(f);
    }
    return 0;
}

static cJSON *object(const char *kind, const char *ns, const char *name)
{
    char text[512];
    snprintf(text, sizeof(text),
             "{\"apiVersion\":\"quaystorage.io/v1alpha1\",\"kind\":\"%s\",\"metadata\":{"
             "%s%s%s\"name\":\"%s\",\"uid\":\"uid-%s\",\"resourceVersion\":\"7\"}}",
             kind, ns ? "\"namespace\":\"" : "", ns ? ns : "", ns ? "\"," : "", name, name);
    cJSON *o = cJSON_Parse(text);
    assert_non_null(o);
    return o;
}

/* Events about `name` in `ns`, as a List the caller frees. */
static cJSON *events_about(struct fixture *f, const char *ns, const char *name)
{
    char sel[300];
    struct k8s_error err;
    struct k8s_opts o = {0};
    cJSON *list = NULL;
    snprintf(sel, sizeof(sel), "involvedObject.name=%s", name);
    o.field_selector = sel;
    int rc = k8s_list(f->c, &EVENTS, ns, &o, &list, &err);
    if (rc)
        fprintf(stderr, "list events: %s\n", err.message);
    assert_int_equal(rc, 0);
    return list;
}

static const char *str(const cJSON *o, const char *a, const char *b)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);
    if (b)
        v = cJSON_GetObjectItemCaseSensitive(v, b);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int num(const cJSON *o, const char *a)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);
    return cJSON_IsNumber(v) ? (int)v->valuedouble : -1;
}

/* Counts the simulator's recorded requests on events with `verb`. */
static int count_requests(struct fixture *f, const char *verb)
{
    char *body = NULL;
    int n = 0;
    assert_int_equal(kubesim_admin(f->sim, "GET", "/__admin/requests", NULL, &body), 200);
    cJSON *r = cJSON_Parse(body);
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(r, "items"))
    {
        if (strcmp(str(it, "resource", NULL), "events") == 0 &&
            strcmp(str(it, "verb", NULL), verb) == 0)
            n++;
    }
    cJSON_Delete(r);
    free(body);
    return n;
}

static void clear_requests(struct fixture *f)
{
    assert_int_equal(kubesim_admin(f->sim, "DELETE", "/__admin/requests", NULL, NULL), 200);
}

static struct ctl_recorder *recorder(struct fixture *f, struct ctl_clock *clk)
{
    struct ctl_recorder_options o = {.component = "quay-storage-operator", .instance = "op-1_abc"};
    struct ctl_recorder *r = NULL;
    struct k8s_error err;
    assert_int_equal(ctl_recorder_new(f->c, clk, &o, &r, &err), 0);
    return r;
}

static void test_repeats_within_window_increment_one_event(void **state)
{
    struct fixture *f = *state;
    struct ctl_clock *clk = ctl_clock_new_fake(T0);
    struct ctl_recorder *r = recorder(f, clk);
    cJSON *obj = object("StorageMigration", "default", "dedup");
    struct ctl_recorder_stats st;

    clear_requests(f);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ctl_event(r, obj, CTL_EVENT_WARNING, "DestinationUnreachable",
                                   "cannot list bucket %s: %s", "quay-new", "403 Forbidden"),
                         0);
        ctl_fake_clock_advance(clk, 60000);
    }
    cJSON *list = events_about(f, "default", "dedup");
    cJSON *items = cJSON_GetObjectItemCaseSensitive(list, "items");
    assert_int_equal(cJSON_GetArraySize(items), 1);
    cJSON *ev = cJSON_GetArrayItem(items, 0);
    assert_int_equal(num(ev, "count"), 3);
    assert_string_equal(str(ev, "type", NULL), "Warning");
    assert_string_equal(str(ev, "reason", NULL), "DestinationUnreachable");
    assert_string_equal(str(ev, "message", NULL), "cannot list bucket quay-new: 403 Forbidden");
    assert_string_equal(str(ev, "firstTimestamp", NULL), "2026-01-02T03:04:05Z");
    assert_string_equal(str(ev, "lastTimestamp", NULL), "2026-01-02T03:06:05Z");
    assert_string_equal(str(ev, "source", "component"), "quay-storage-operator");
    assert_string_equal(str(ev, "source", "host"), "op-1_abc");
    assert_string_equal(str(ev, "reportingComponent", NULL), "quay-storage-operator");
    assert_string_equal(str(ev, "involvedObject", "kind"), "StorageMigration");
    assert_string_equal(str(ev, "involvedObject", "uid"), "uid-dedup");
    assert_string_equal(str(ev, "involvedObject", "apiVersion"), "quaystorage.io/v1alpha1");
    assert_string_equal(str(ev, "involvedObject", "namespace"), "default");
    assert_int_equal(strncmp(str(ev, "metadata", "name"), "dedup.", 6), 0);
    assert_int_equal(count_requests(f, "create"), 1);
    assert_int_equal(count_requests(f, "patch"), 2);
    cJSON_Delete(list);

    /* Another message is another Event. */
    assert_int_equal(ctl_event(r, obj, CTL_EVENT_WARNING, "DestinationUnreachable", "timeout"), 0);
    list = events_about(f, "default", "dedup");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(list, "items")), 2);
    cJSON_Delete(list);

    /* After more than 10 minutes of silence, a repeat starts a new Event. */
    ctl_fake_clock_advance(clk, 11 * 60000);
    assert_int_equal(ctl_event(r, obj, CTL_EVENT_WARNING, "DestinationUnreachable", "timeout"), 0);
    list = events_about(f, "default", "dedup");
    items = cJSON_GetObjectItemCaseSensitive(list, "items");
    assert_int_equal(cJSON_GetArraySize(items), 3);
    int ones = 0;
    cJSON_ArrayForEach(ev, items) ones += num(ev, "count") == 1;
    assert_int_equal(ones, 2);
    cJSON_Delete(list);

    ctl_recorder_get_stats(r, &st);
    assert_int_equal(st.created, 3);
    assert_int_equal(st.patched, 2);
    assert_int_equal(st.failed, 0);
    cJSON_Delete(obj);
    ctl_recorder_free(r);
    ctl_clock_free(clk);
}

static void test_spam_filter_is_per_object(void **state)
{
    struct fixture *f = *state;
    struct ctl_clock *clk = ctl_clock_new_fake(T0);
    struct ctl_recorder *r = recorder(f, clk);
    cJSON *noisy = object("StorageMigration", "default", "noisy");
    cJSON *quiet = object("StorageMigration", "default", "quiet");
    struct ctl_recorder_stats st;

    for (int i = 0; i < 30; i++)
        assert_int_equal(ctl_event(r, noisy, CTL_EVENT_NORMAL, "PassCompleted", "pass %d", i), 0);
    ctl_recorder_get_stats(r, &st);
    assert_int_equal(st.created, 25);
    assert_int_equal(st.dropped_spam, 5);
    cJSON *list = events_about(f, "default", "noisy");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(list, "items")), 25);
    cJSON_Delete(list);

    /* Repeats of a de-duplicated event also take tokens (as client-go's). */
    assert_int_equal(ctl_event(r, noisy, CTL_EVENT_NORMAL, "PassCompleted", "pass 0"), 0);
    ctl_recorder_get_stats(r, &st);
    assert_int_equal(st.patched, 0);
    assert_int_equal(st.dropped_spam, 6);

    /* Another object has its own bucket. */
    assert_int_equal(ctl_event(r, quiet, CTL_EVENT_NORMAL, "Started", "started"), 0);
    ctl_recorder_get_stats(r, &st);
    assert_int_equal(st.created, 26);

    /* One token comes back after 5 minutes, not two. */
    ctl_fake_clock_advance(clk, 5 * 60000);
    assert_int_equal(ctl_event(r, noisy, CTL_EVENT_NORMAL, "PassCompleted", "pass 0"), 0);
    assert_int_equal(ctl_event(r, noisy, CTL_EVENT_NORMAL, "PassCompleted", "pass 99"), 0);
    ctl_recorder_get_stats(r, &st);
    assert_int_equal(st.patched, 1);
    assert_int_equal(st.dropped_spam, 7);
    cJSON_Delete(noisy);
    cJSON_Delete(quiet);
    ctl_recorder_free(r);
    ctl_clock_free(clk);
}

static void test_deleted_event_is_written_again(void **state)
{
    struct fixture *f = *state;
    struct ctl_clock *clk = ctl_clock_new_fake(T0);
    struct ctl_recorder *r = recorder(f, clk);
    cJSON *obj = object("ReadOnlyWindow", "default", "gone");
    struct k8s_error err;

    assert_int_equal(ctl_event(r, obj, CTL_EVENT_NORMAL, "Activated", "pushes disabled"), 0);
    assert_int_equal(ctl_event(r, obj, CTL_EVENT_NORMAL, "Activated", "pushes disabled"), 0);
    cJSON *list = events_about(f, "default", "gone");
    cJSON *ev = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(list, "items"), 0);
    assert_int_equal(
        k8s_delete(f->c, &EVENTS, "default", str(ev, "metadata", "name"), NULL, NULL, NULL, &err),
        0);
    cJSON_Delete(list);
    assert_int_equal(ctl_event(r, obj, CTL_EVENT_NORMAL, "Activated", "pushes disabled"), 0);
    list = events_about(f, "default", "gone");
    cJSON *items = cJSON_GetObjectItemCaseSensitive(list, "items");
    assert_int_equal(cJSON_GetArraySize(items), 1);
    assert_int_equal(num(cJSON_GetArrayItem(items, 0), "count"), 3);
    cJSON_Delete(list);
    cJSON_Delete(obj);
    ctl_recorder_free(r);
    ctl_clock_free(clk);
}

static int gate_value;

static int gate(void *user)
{
    return *(int *)user;
}

static void test_gate_stops_every_write(void **state)
{
    struct fixture *f = *state;
    struct ctl_clock *clk = ctl_clock_new_fake(T0);
    struct ctl_recorder *r = recorder(f, clk);
    cJSON *obj = object("StorageMigration", "default", "gated");
    struct ctl_recorder_stats st;

    gate_value = 0;
    ctl_recorder_set_gate(r, gate, &gate_value);
    clear_requests(f);
    assert_int_equal(ctl_event(r, obj, CTL_EVENT_NORMAL, "Started", "started"), 0);
    assert_int_equal(count_requests(f, "create"), 0);
    gate_value = 1;
    assert_int_equal(ctl_event(r, obj, CTL_EVENT_NORMAL, "Started", "started"), 0);
    assert_int_equal(count_requests(f, "create"), 1);
    ctl_recorder_get_stats(r, &st);
    assert_int_equal(st.dropped_gate, 1);
    cJSON_Delete(obj);
    ctl_recorder_free(r);
    ctl_clock_free(clk);
}

static void test_cluster_scoped_and_bad_input(void **state)
{
    struct fixture *f = *state;
    struct ctl_clock *clk = ctl_clock_new_fake(T0);
    struct ctl_recorder *r = recorder(f, clk);
    cJSON *node = object("Node", NULL, "worker-0");

    assert_int_equal(ctl_event(r, node, CTL_EVENT_NORMAL, "Seen", "seen"), 0);
    cJSON *list = events_about(f, "default", "worker-0");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(list, "items")), 1);
    cJSON_Delete(list);
    assert_int_equal(ctl_event(r, node, "Error", "Seen", "x"), K8S_EARG);
    assert_int_equal(ctl_event(r, node, CTL_EVENT_NORMAL, "not camel", "x"), K8S_EARG);
    cJSON *noname = cJSON_Parse("{\"kind\":\"Node\",\"metadata\":{}}");
    assert_int_equal(ctl_event(r, noname, CTL_EVENT_NORMAL, "Seen", "x"), K8S_EARG);
    cJSON_Delete(noname);
    cJSON_Delete(node);
    ctl_recorder_free(r);
    ctl_clock_free(clk);
}

static void test_messages_are_scrubbed(void **state)
{
    struct fixture *f = *state;
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"login failed: password=hunter2, user=quay",
         "login failed: password=[redacted], user=quay"},
        {"s3_secret_key: \"abc def\" rejected", "s3_secret_key: [redacted] rejected"},
        {"GET https://acct.blob.core.windows.net/c?sv=2020&sig=SECRET failed",
         "GET https://acct.blob.core.windows.net/c failed"},
        {"proxy http://bob:pw@proxy:3128/ refused", "proxy http://proxy:3128/ refused"},
        {"header Authorization: Bearer eyJhbGciOi.x.y sent",
         "header Authorization: Bearer [redacted] sent"},
        {"credentialsSecretRef: new-s3 has no key access_key",
         "credentialsSecretRef: new-s3 has no key access_key"},
        {"the token expired", "the token expired"},
    };
    char out[CTL_EVENT_MAX_MESSAGE + 1];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ctl_event_scrub(cases[i].in, out, sizeof(out));
        assert_string_equal(out, cases[i].want);
    }
    /* Cut to 1024 bytes without splitting a UTF-8 sequence. */
    char big[2100];
    memset(big, 'a', 1023);
    for (size_t i = 1023; i + 2 < 2050; i += 2) {
        big[i] = (char)0xC3;
        big[i + 1] = (char)0xA9;
    }
    big[2049] = '\0';
    ctl_event_scrub(big, out, sizeof(out));
    assert_int_equal(strlen(out), 1023);

    /* And what reaches the server is the scrubbed text. */
    struct ctl_clock *clk = ctl_clock_new_fake(T0);
    struct ctl_recorder *r = recorder(f, clk);
    cJSON *obj = object("StorageMigration", "default", "scrubbed");
    assert_int_equal(ctl_event(r, obj, CTL_EVENT_WARNING, "ConfigInvalid",
                               "bundle has DB_URI=postgresql://quay:%s@db/quay", "s3cr3t"),
                     0);
    cJSON *list = events_about(f, "default", "scrubbed");
    cJSON *ev = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(list, "items"), 0);
    assert_null(strstr(str(ev, "message", NULL), "s3cr3t"));
    assert_string_equal(str(ev, "message", NULL), "bundle has DB_URI=postgresql://db/quay");
    cJSON_Delete(list);
    cJSON_Delete(obj);
    ctl_recorder_free(r);
    ctl_clock_free(clk);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_repeats_within_window_increment_one_event),
        cmocka_unit_test(test_spam_filter_is_per_object),
        cmocka_unit_test(test_deleted_event_is_written_again),
        cmocka_unit_test(test_gate_stops_every_write),
        cmocka_unit_test(test_cluster_scoped_and_bad_input),
        cmocka_unit_test(test_messages_are_scrubbed),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
