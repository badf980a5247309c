/*
 * Tests of leader election (controller/ctl_lease.c) against the API
 * simulator. Two electors, each with its own user (so the simulator's
 * request record tells them apart), step through rounds on a shared fake
 * clock: exactly one leads; a released Lease is taken at the other's next
 * round; a silent leader's Lease is taken exactly leaseDuration after the
 * other last saw it change (not a millisecond before); a leader frozen past
 * its renew deadline stops leading on waking without sending a single
 * request; a leader that finds another holder stops at once; failed renewals
 * keep leadership only until the renew deadline; the threaded elector
 * acquires, calls back and releases on stop.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl_clock.h"
#include "ctl_lease.h"
#include "k8s_client.h"
#include "k8s_config.h"
#include "kubesim_harness.h"

#define T0 1767323045000LL

static const struct k8s_resource LEASES = {"coordination.k8s.io", "v1", "leases", 1};

struct fixture {
    struct kubesim *sim;
    struct k8s_client *admin, *ca, *cb; /* admin, elector-a, elector-b */
};

static struct k8s_client *client_as(struct kubesim *sim, const char *token)
{
    struct k8s_config *cfg = NULL;
    struct k8s_client *c = NULL;
    struct k8s_error err;
    if (k8s_config_from_kubeconfig(kubesim_kubeconfig(sim), NULL, &cfg, &err) != 0) {
        fprintf(stderr, "config: %s\n", err.message);
        return NULL;
    }
    cfg->qps = 0;
    if (token) {
        free(cfg->token);
        cfg->token = strdup(token);
    }
    if (k8s_client_new(cfg, &c, &err) != 0)
        fprintf(stderr, "client: %s\n", err.message);
    k8s_config_free(cfg);
    return c;
}

static int group_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct kubesim_opts opts = {.exit_after_seconds = 600};
    *state = f;
    if (!f || kubesim_start(&opts, &f->sim) != 0)
        return -1;
    if (kubesim_admin(f->sim, "POST", "/__admin/tokens",
                      "{\"token\":\"tok-elector-a\",\"user\":\"elector-a\","
                      "\"groups\":[\"system:masters\"]}",
                      NULL) /
                100 !=
            2 ||
        kubesim_admin(f->sim, "POST", "/__admin/tokens",
                      "{\"token\":\"tok-elector-b\",\"user\":\"elector-b\","
                      "\"groups\":[\"system:masters\"]}",
                      NULL) /
                100 !=
            2)
        return -1;
    f->admin = client_as(f->sim, NULL);
    f->ca = client_as(f->sim, "tok-elector-a");
    f->cb = client_as(f->sim, "tok-elector-b");
    return f->admin && f->ca && f->cb ? 0 : -1;
}

static int group_teardown(void **state)
{
    struct fixture *f = *state;
    if (f) {
        k8s_client_free(f->admin);
        k8s_client_free(f->ca);
        k8s_client_free(f->cb);
        kubesim_stop(f->sim);
        free(f);
    }
    return 0;
}

struct counts {
    int started, stopped, new_leader;
    char last_leader[256];
};

static void on_started(void *u)
{
    ((struct counts *)u)->started++;
}

static void on_stopped(void *u)
{
    ((struct counts *)u)->stopped++;
}

static void on_new(const char *id, void *u)
{
    struct counts *c = u;
    c->new_leader++;
    snprintf(c->last_leader, sizeof(c->last_leader), "%s", id);
}

static struct ctl_lease *elector(struct k8s_client *c, struct ctl_clock *clk, const char *lease,
                                 const char *id, struct counts *cnt)
{
    struct ctl_lease_options o = {0};
    struct ctl_lease *le = NULL;
    struct k8s_error err;
    o.lease_namespace = "default";
    o.lease_name = lease;
    o.identity = id;
    o.on_started_leading = on_started;
    o.on_stopped_leading = on_stopped;
    o.on_new_leader = on_new;
    o.user = cnt;
    int rc = ctl_lease_new(c, clk, &o, &le, &err);
    if (rc)
        fprintf(stderr, "lease: %s\n", err.message);
    assert_int_equal(rc, 0);
    return le;
}

static cJSON *get_lease(struct fixture *f, const char *name)
{
    cJSON *l = NULL;
    struct k8s_error err;
    int rc = k8s_get(f->admin, &LEASES, "default", name, NULL, &l, &err);
    if (rc)
        fprintf(stderr, "get lease: %s\n", err.message);
    assert_int_equal(rc, 0);
    return l;
}

static const char *spec_str(const cJSON *lease, const char *key)
{
    const cJSON *v =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(lease, "spec"), key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int spec_num(const cJSON *lease, const char *key)
{
    const cJSON *v =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(lease, "spec"), key);
    return cJSON_IsNumber(v) ? (int)v->valuedouble : -1;
}

/* Requests the simulator recorded from `user` since the last clear. */
static int requests_by(struct fixture *f, const char *user, int writes_only)
{
    char path[128], *body = NULL;
    int n = 0;
    snprintf(path, sizeof(path), "/__admin/requests?user=%s", user);
    assert_int_equal(kubesim_admin(f->sim, "GET", path, NULL, &body), 200);
    cJSON *r = cJSON_Parse(body);
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(r, "items"))
    {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(it, "method");
        if (!writes_only || (cJSON_IsString(m) && strcmp(m->valuestring, "GET") != 0))
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

static void test_two_electors_one_leader_and_release(void **state)
{
    struct fixture *f = *state;
    struct ctl_clock *clk = ctl_clock_new_fake(T0);
    struct counts ca = {0}, cb = {0};
    struct ctl_lease *a = elector(f->ca, clk, "one-leader", "a_1", &ca);
    struct ctl_lease *b = elector(f->cb, clk, "one-leader", "b_1", &cb);
    int64_t next;

    assert_int_equal(ctl_lease_step(a, &next), 1);
    assert_int_equal(next, ctl_clock_mono_ms(clk) + 2000);
    assert_int_equal(ctl_lease_step(b, &next), 0);
    assert_int_equal(ca.started, 1);
    assert_int_equal(cb.started, 0);
    assert_string_equal(cb.last_leader, "a_1");
    cJSON *l = get_lease(f, "one-leader");
    assert_string_equal(spec_str(l, "holderIdentity"), "a_1");
    assert_int_equal(spec_num(l, "leaseDurationSeconds"), 15);
    assert_int_equal(spec_num(l, "leaseTransitions"), 0);
    char first_renew[64];
    snprintf(first_renew, sizeof(first_renew), "%s", spec_str(l, "renewTime"));
    assert_string_equal(first_renew, "2026-01-02T03:04:05.000000Z");
    cJSON_Delete(l);

    /* A renews every 2 s for a minute; B never gets it. */
    for (int i = 0; i < 30; i++) {
        ctl_fake_clock_advance(clk, 2000);
        assert_int_equal(ctl_lease_step(a, NULL), 1);
        assert_int_equal(ctl_lease_step(b, NULL), 0);
    }
    l = get_lease(f, "one-leader");
    assert_string_equal(spec_str(l, "holderIdentity"), "a_1");
    assert_string_equal(spec_str(l, "renewTime"), "2026-01-02T03:05:05.000000Z");
    assert_string_equal(spec_str(l, "acquireTime"), "2026-01-02T03:04:05.000000Z");
    cJSON_Delete(l);
    assert_true(ctl_lease_is_leader(a));
    assert_false(ctl_lease_is_leader(b));

    /* A releases (clean stop): B takes it at its next round, no waiting. */
    ctl_lease_stop(a);
    assert_int_equal(ca.stopped, 1);
    assert_false(ctl_lease_is_leader(a));
    l = get_lease(f, "one-leader");
    assert_string_equal(spec_str(l, "holderIdentity"), "");
    assert_int_equal(spec_num(l, "leaseDurationSeconds"), 1);
    cJSON_Delete(l);
    assert_int_equal(ctl_lease_step(b, NULL), 1);
    assert_int_equal(cb.started, 1);
    l = get_lease(f, "one-leader");
    assert_string_equal(spec_str(l, "holderIdentity"), "b_1");
    assert_int_equal(spec_num(l, "leaseTransitions"), 1);
    assert_int_equal(spec_num(l, "leaseDurationSeconds"), 15);
    cJSON_Delete(l);
    /* A stopped elector never comes back. */
    assert_int_equal(ctl_lease_step(a, &next), 0);
    assert_int_equal(next, CTL_CLOCK_FOREVER);

    ctl_lease_free(a);
    ctl_lease_free(b);
    assert_int_equal(cb.stopped, 1); /* freeing B released it too */
    ctl_clock_free(clk);
}

static void test_silent_leader_is_replaced_after_lease_duration(void **state)
{
    struct fixture *f = *state;
    struct ctl_clock *clk = ctl_clock_new_fake(T0);
    struct counts ca = {0}, cb = {0};
    struct ctl_lease *a = elector(f->ca, clk, "killed", "a_2", &ca);
    struct ctl_lease *b = elector(f->cb, clk, "killed", "b_2", &cb);
    int64_t next, observed;

    assert_int_equal(ctl_lease_step(a, NULL), 1);
    ctl_fake_clock_advance(clk, 500);
    /* B sees A's record for the first time now: its 15 s count from here. */
    observed = ctl_clock_mono_ms(clk);
    assert_int_equal(ctl_lease_step(b, &next), 0);
    assert_int_equal(next, observed + 2000);
    /* A is "killed": no more rounds, no release. B polls every 2 s. */
    for (int i = 0; i < 6; i++) {
        ctl_fake_clock_advance(clk, 2000);
        assert_int_equal(ctl_lease_step(b, &next), 0);
    }
    /* 12 s after the observation the next wake is the expiry, not +2 s. */
    ctl_fake_clock_advance(clk, 2000);
    assert_int_equal(ctl_lease_step(b, &next), 0);
    assert_int_equal(next, observed + 15000);
    ctl_fake_clock_advance(clk, next - 1 - ctl_clock_mono_ms(clk));
    assert_int_equal(ctl_lease_step(b, &next), 0); /* 1 ms early: still A's */
    ctl_fake_clock_advance(clk, 1);
    assert_int_equal(ctl_lease_step(b, &next), 1);
    cJSON *l = get_lease(f, "killed");
    assert_string_equal(spec_str(l, "holderIdentity"), "b_2");
    assert_int_equal(spec_num(l, "leaseTransitions"), 1);
    cJSON_Delete(l);
    /* A's own view: its renew deadline passed long ago. */
    assert_false(ctl_lease_is_leader(a));
    ctl_lease_free(b);
    ctl_lease_free(a);
    ctl_clock_free(clk);
}

static void test_frozen_leader_writes_nothing_after_waking(void **state)
{
    struct fixture *f = *state;
    struct ctl_clock *clk = ctl_clock_new_fake(T0);
    struct counts ca = {0}, cb = {0};
    struct ctl_lease *a = elector(f->ca, clk, "frozen", "a_3", &ca);
    struct ctl_lease *b = elector(f->cb, clk, "frozen", "b_3", &cb);
    int64_t next;

    assert_int_equal(ctl_lease_step(a, NULL), 1);
    assert_int_equal(ctl_lease_step(b, NULL), 0);
    /* A freezes for 20 s. The gate closes at its renew deadline (10 s),
     * before anyone else could have the lease (15 s). */
    ctl_fake_clock_advance(clk, 9999);
    assert_true(ctl_lease_is_leader(a));
    ctl_fake_clock_advance(clk, 1);
    assert_false(ctl_lease_is_leader(a));
    for (int i = 0; i < 5; i++) {
        ctl_lease_step(b, NULL);
        ctl_fake_clock_advance(clk, 2000);
    }
    assert_true(ctl_lease_is_leader(b));
    clear_requests(f);
    /* A wakes: it stops leading without a single request. */
    assert_int_equal(ctl_lease_step(a, &next), 0);
    assert_int_equal(next, CTL_CLOCK_FOREVER);
    assert_int_equal(ca.stopped, 1);
    assert_int_equal(requests_by(f, "elector-a", 0), 0);
    /* Nor on stop: it is not the holder, so there is nothing to release. */
    ctl_lease_stop(a);
    assert_int_equal(requests_by(f, "elector-a", 0), 0);
    assert_int_equal(ca.stopped, 1);
    cJSON *l = get_lease(f, "frozen");
    assert_string_equal(spec_str(l, "holderIdentity"), "b_3");
    cJSON_Delete(l);
    ctl_lease_free(a);
    ctl_lease_free(b);
    ctl_clock_free(clk);
}

static void test_leader_that_finds_another_holder_stops_at_once(void **state)
{
    struct fixture *f = *state;
    struct ctl_clock *clk = ctl_clock_new_fake(T0);
    struct counts ca = {0};
    struct ctl_lease *a = elector(f->ca, clk, "stolen", "a_4", &ca);
    struct k8s_error err;
    cJSON *out = NULL;

    assert_int_equal(ctl_lease_step(a, NULL), 1);
    cJSON *l = get_lease(f, "stolen");
    cJSON *spec = cJSON_GetObjectItemCaseSensitive(l, "spec");
    cJSON_ReplaceItemInObjectCaseSensitive(spec, "holderIdentity", cJSON_CreateString("intruder"));
    assert_int_equal(k8s_update(f->admin, &LEASES, "default", "stolen", l, NULL, &out, &err), 0);
    cJSON_Delete(out);
    cJSON_Delete(l);
    ctl_fake_clock_advance(clk, 2000);
    clear_requests(f);
    assert_int_equal(ctl_lease_step(a, NULL), 0);
    assert_int_equal(ca.stopped, 1);
    assert_string_equal(ca.last_leader, "intruder");
    assert_int_equal(requests_by(f, "elector-a", 1), 0); /* read only */
    ctl_lease_free(a);
    ctl_clock_free(clk);
}

static void test_failed_renewals_keep_leadership_until_the_deadline(void **state)
{
    struct fixture *f = *state;
    struct ctl_clock *clk = ctl_clock_new_fake(T0);
    struct counts ca = {0};
    struct ctl_lease *a = elector(f->ca, clk, "flaky", "a_5", &ca);
    int64_t next, acquired;
    struct ctl_lease_status st;

    assert_int_equal(ctl_lease_step(a, NULL), 1);
    acquired = ctl_clock_mono_ms(clk);
    /* Every lease read now fails with 403 (not retried by the client). */
    assert_int_equal(
        kubesim_admin(f->sim, "POST", "/__admin/faults",
                      "{\"rules\":[{\"method\":\"GET\",\"pathPrefix\":"
                      "\"/apis/coordination.k8s.io/v1/namespaces/default/leases/flaky\","
                      "\"status\":403,\"times\":100}]}",
                      NULL) /
            100,
        2);
    for (int i = 0; i < 4; i++) {
        ctl_fake_clock_advance(clk, 2000);
        assert_int_equal(ctl_lease_step(a, &next), 1);
    }
    /* At 8 s the next round is at the deadline (10 s), not at +2 s... */
    assert_int_equal(next, acquired + 10000);
    ctl_fake_clock_advance(clk, 1999);
    assert_int_equal(ctl_lease_step(a, &next), 1);
    assert_int_equal(next, acquired + 10000);
    /* ...where leadership ends. */
    ctl_fake_clock_advance(clk, 1);
    assert_int_equal(ctl_lease_step(a, &next), 0);
    assert_int_equal(ca.stopped, 1);
    ctl_lease_get_status(a, &st);
    assert_true(st.lost);
    assert_true(st.failures >= 5);
    assert_int_equal(kubesim_admin(f->sim, "POST", "/__admin/faults", "{\"rules\":[]}", NULL) / 100,
                     2);
    ctl_lease_free(a);
    ctl_clock_free(clk);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void test_threaded_elector_acquires_and_releases(void **state)
{
    struct fixture *f = *state;
    struct ctl_clock *clk = ctl_clock_new_fake(T0);
    struct counts ca = {0}, cb = {0};
    struct ctl_lease *a = elector(f->ca, clk, "threaded", "a_6", &ca);
    struct ctl_lease *b = elector(f->cb, clk, "threaded", "b_6", &cb);
    struct k8s_error err;
    int i;

    assert_int_equal(ctl_lease_start(a, &err), 0);
    for (i = 0; i < 1000 && !ctl_lease_is_leader(a); i++)
        sleep_ms(10);
    assert_true(ctl_lease_is_leader(a));
    assert_int_equal(ca.started, 1);
    assert_int_equal(ctl_lease_start(b, &err), 0);
    /* B's thread reaches its wait: it read the lease and did not take it. */
    int64_t deadline;
    for (i = 0; i < 1000 && ctl_fake_clock_waiters(clk, &deadline) < 2; i++)
        sleep_ms(10);
    assert_int_equal(ctl_fake_clock_waiters(clk, NULL), 2);
    assert_false(ctl_lease_is_leader(b));
    /* Time moves; A keeps renewing on its thread. */
    for (int k = 0; k < 10; k++) {
        ctl_fake_clock_advance(clk, 2000);
        for (i = 0; i < 1000; i++) {
            struct ctl_lease_status st;
            ctl_lease_get_status(a, &st);
            if (st.renewals >= (unsigned long)k + 1)
                break;
            sleep_ms(5);
        }
    }
    assert_true(ctl_lease_is_leader(a));
    assert_false(ctl_lease_is_leader(b));
    ctl_lease_stop(a); /* joins and releases */
    cJSON *l = get_lease(f, "threaded");
    assert_string_equal(spec_str(l, "holderIdentity"), "");
    cJSON_Delete(l);
    /* B takes it at its next round. */
    ctl_fake_clock_advance(clk, 2000);
    for (i = 0; i < 1000 && !ctl_lease_is_leader(b); i++)
        sleep_ms(10);
    assert_true(ctl_lease_is_leader(b));
    ctl_lease_free(b);
    ctl_lease_free(a);
    ctl_clock_free(clk);
}

static void test_options_are_checked(void **state)
{
    struct fixture *f = *state;
    struct ctl_clock *clk = ctl_clock_new_fake(T0);
    struct ctl_lease_options o = {0};
    struct ctl_lease *le = NULL;
    struct k8s_error err;
    o.lease_namespace = "default";
    o.lease_name = "x";
    o.identity = "me";
    o.lease_duration_ms = 10000;
    o.renew_deadline_ms = 10000;
    assert_int_equal(ctl_lease_new(f->ca, clk, &o, &le, &err), K8S_EARG);
    o.identity = NULL;
    o.renew_deadline_ms = 0;
    o.lease_duration_ms = 0;
    assert_int_equal(ctl_lease_new(f->ca, clk, &o, &le, &err), K8S_EARG);
    assert_null(le);

    char id[300];
    assert_int_equal(ctl_lease_make_identity("pod-0", id, sizeof(id)), 0);
    assert_int_equal(strlen(id), strlen("pod-0_") + 16);
    assert_int_equal(strncmp(id, "pod-0_", 6), 0);
    char id2[300];
    assert_int_equal(ctl_lease_make_identity("pod-0", id2, sizeof(id2)), 0);
    assert_string_not_equal(id, id2);
    ctl_clock_free(clk);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_electors_one_leader_and_release),
        cmocka_unit_test(test_silent_leader_is_replaced_after_lease_duration),
        cmocka_unit_test(test_frozen_leader_writes_nothing_after_waking),
        cmocka_unit_test(test_leader_that_finds_another_holder_stops_at_once),
        cmocka_unit_test(test_failed_renewals_keep_leadership_until_the_deadline),
        cmocka_unit_test(test_threaded_elector_acquires_and_releases),
        cmocka_unit_test(test_options_are_checked),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
