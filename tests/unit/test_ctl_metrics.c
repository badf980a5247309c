/*
 * Tests of the metrics registry (controller/ctl_metrics.c): the exact
 * Prometheus text 0.0.4 for a known state (families sorted by name, series by
 * label values, cumulative buckets, escaping, Go's number format), the
 * refusals that keep the output valid, collectors, and concurrent updates
 * that lose nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_metrics.h"
#include "k8s_error.h"

static char *render(struct ctl_metrics *m)
{
    struct k8s_buf b;
    k8s_buf_init(&b, 1 << 20);
    assert_int_equal(ctl_metrics_render(m, &b), 0);
    if (!b.data)
        return strdup("");
    return k8s_buf_take(&b, NULL);
}

static void test_exact_text_for_known_state(void **state)
{
    (void)state;
    static const char *const l_ctrl_res[] = {"controller", "result", NULL};
    static const char *const l_name[] = {"name", NULL};
    static const double buckets[] = {0.005, 0.1, 1};
    struct ctl_metrics *m = ctl_metrics_new();
    struct ctl_metric *rec, *depth, *dur, *up;
    char *text;

    /* Registered out of order: rendering sorts by name. */
    dur = ctl_metrics_register(m, CTL_METRIC_HISTOGRAM, "reconcile_time_seconds",
                               "Time per reconcile.", l_name, buckets, 3);
    rec = ctl_metrics_register(m, CTL_METRIC_COUNTER, "reconcile_total",
                               "Reconciles by controller and result.", l_ctrl_res, NULL, 0);
    depth = ctl_metrics_register(m, CTL_METRIC_GAUGE, "queue_depth", "Depth of the queue.", l_name,
                                 NULL, 0);
    up = ctl_metrics_register(m, CTL_METRIC_GAUGE, "build_info",
                              "Help with a backslash \\ and\na newline.", NULL, NULL, 0);
    assert_non_null(dur);
    assert_non_null(rec);
    assert_non_null(depth);
    assert_non_null(up);

    const char *const sm_ok[] = {"storagemigration", "success", NULL};
    const char *const sm_err[] = {"storagemigration", "error", NULL};
    const char *const row_ok[] = {"readonlywindow", "success", NULL};
    assert_int_equal(ctl_metric_inc(rec, sm_ok), 0);
    assert_int_equal(ctl_metric_inc(rec, sm_ok), 0);
    assert_int_equal(ctl_metric_add(rec, sm_err, 3), 0);
    assert_int_equal(ctl_metric_inc(rec, row_ok), 0);

    const char *const q[] = {"controller", NULL};
    assert_int_equal(ctl_metric_set(depth, q, 7), 0);
    assert_int_equal(ctl_metric_add(depth, q, -2), 0);

    const char *const quoted[] = {"a \"quoted\" \\ name\n", NULL};
    assert_int_equal(ctl_metric_observe(dur, quoted, 0.005), 0); /* le is inclusive */
    assert_int_equal(ctl_metric_observe(dur, quoted, 0.05), 0);
    assert_int_equal(ctl_metric_observe(dur, quoted, 2.5), 0);
    assert_int_equal(ctl_metric_set(up, NULL, 1), 0);

    text = render(m);
    const char *want = "# HELP build_info Help with a backslash \\\\ and\\na newline.\n"
                       "# TYPE build_info gauge\n"
                       "build_info 1\n"
                       "# HELP queue_depth Depth of the queue.\n"
                       "# TYPE queue_depth gauge\n"
                       "queue_depth{name=\"controller\"} 5\n"
                       "# HELP reconcile_time_seconds Time per reconcile.\n"
                       "# TYPE reconcile_time_seconds histogram\n"
                       "reconcile_time_seconds_bucket{name=\"a \\\"quoted\\\" \\\\ name\\n\","
                       "le=\"0.005\"} 1\n"
                       "reconcile_time_seconds_bucket{name=\"a \\\"quoted\\\" \\\\ name\\n\","
                       "le=\"0.1\"} 2\n"
                       "reconcile_time_seconds_bucket{name=\"a \\\"quoted\\\" \\\\ name\\n\","
                       "le=\"1\"} 2\n"
                       "reconcile_time_seconds_bucket{name=\"a \\\"quoted\\\" \\\\ name\\n\","
                       "le=\"+Inf\"} 3\n"
                       "reconcile_time_seconds_sum{name=\"a \\\"quoted\\\" \\\\ name\\n\"} 2.555\n"
                       "reconcile_time_seconds_count{name=\"a \\\"quoted\\\" \\\\ name\\n\"} 3\n"
                       "# HELP reconcile_total Reconciles by controller and result.\n"
                       "# TYPE reconcile_total counter\n"
                       "reconcile_total{controller=\"readonlywindow\",result=\"success\"} 1\n"
                       "reconcile_total{controller=\"storagemigration\",result=\"error\"} 3\n"
                       "reconcile_total{controller=\"storagemigration\",result=\"success\"} 2\n";
    assert_string_equal(text, want);
    free(text);
    ctl_metrics_free(m);
}

static void test_family_without_series_is_not_rendered(void **state)
{
    (void)state;
    struct ctl_metrics *m = ctl_metrics_new();
    assert_non_null(
        ctl_metrics_register(m, CTL_METRIC_COUNTER, "nothing_yet_total", "x", NULL, NULL, 0));
    char *text = render(m);
    assert_string_equal(text, "");
    free(text);
    ctl_metrics_free(m);
}

static void test_removed_series_are_gone_and_free_their_slot(void **state)
{
    (void)state;
    struct ctl_metrics *m = ctl_metrics_new();
    const char *labels[] = {"name", NULL};
    struct ctl_metric *g =
        ctl_metrics_register(m, CTL_METRIC_GAUGE, "things", "x", labels, NULL, 0);
    char name[32];
    assert_non_null(g);
    for (int i = 0; i < CTL_METRICS_MAX_SERIES; i++) {
        snprintf(name, sizeof(name), "n%d", i);
        assert_int_equal(ctl_metric_set(g, (const char *const[]){name, NULL}, i), 0);
    }
    /* Full: a new series is refused... */
    assert_int_equal(ctl_metric_set(g, (const char *const[]){"new", NULL}, 1), K8S_ENOMEM);
    /* ...until one is removed; the others keep their values. */
    assert_int_equal(ctl_metric_remove(g, (const char *const[]){"n5", NULL}), 0);
    assert_int_equal(ctl_metric_remove(g, (const char *const[]){"never-seen", NULL}), 0);
    assert_int_equal(ctl_metric_remove(g, NULL), K8S_EARG);
    assert_int_equal(ctl_metric_set(g, (const char *const[]){"new", NULL}, 1), 0);
    char *text = render(m);
    assert_null(strstr(text, "things{name=\"n5\"}"));
    assert_non_null(strstr(text, "things{name=\"n4\"} 4\n"));
    assert_non_null(strstr(text, "things{name=\"n6\"} 6\n"));
    assert_non_null(strstr(text, "things{name=\"new\"} 1\n"));
    free(text);
    ctl_metrics_free(m);
}

static void test_values_format_like_go(void **state)
{
    (void)state;
    static const struct {
        double v;
        const char *want;
    } cases[] = {
        {0, "0"},
        {1, "1"},
        {-3, "-3"},
        {0.1, "0.1"},
        {2.555, "2.555"},
        {123456, "123456"},
        {1e6, "1e+06"},
        {1234567, "1.234567e+06"},
        {1e-5, "1e-05"},
        {0.0001, "0.0001"},
        {1.5e-7, "1.5e-07"},
        {1e21, "1e+21"},
        {0.30000000000000004, "0.30000000000000004"},
    };
    char buf[64];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ctl_metrics_format_value(cases[i].v, buf, sizeof(buf));
        assert_string_equal(buf, cases[i].want);
    }
    ctl_metrics_format_value(INFINITY, buf, sizeof(buf));
    assert_string_equal(buf, "+Inf");
    ctl_metrics_format_value(-INFINITY, buf, sizeof(buf));
    assert_string_equal(buf, "-Inf");
    ctl_metrics_format_value(NAN, buf, sizeof(buf));
    assert_string_equal(buf, "NaN");
}

static void test_refusals_keep_output_valid(void **state)
{
    (void)state;
    static const char *const bad_label[] = {"0abc", NULL};
    static const char *const reserved[] = {"__name", NULL};
    static const char *const le[] = {"le", NULL};
    static const char *const one[] = {"a", NULL};
    static const double unsorted[] = {1, 0.5};
    static const double b1[] = {1};
    struct ctl_metrics *m = ctl_metrics_new();
    struct ctl_metric *c, *h;

    assert_null(ctl_metrics_register(m, CTL_METRIC_COUNTER, "bad-name", "", NULL, NULL, 0));
    assert_null(ctl_metrics_register(m, CTL_METRIC_COUNTER, "", "", NULL, NULL, 0));
    assert_null(ctl_metrics_register(m, CTL_METRIC_COUNTER, "x", "", bad_label, NULL, 0));
    assert_null(ctl_metrics_register(m, CTL_METRIC_COUNTER, "x", "", reserved, NULL, 0));
    assert_null(ctl_metrics_register(m, CTL_METRIC_HISTOGRAM, "h", "", le, b1, 1));
    assert_null(ctl_metrics_register(m, CTL_METRIC_HISTOGRAM, "h", "", NULL, unsorted, 2));
    assert_null(ctl_metrics_register(m, CTL_METRIC_HISTOGRAM, "h", "", NULL, NULL, 0));
    c = ctl_metrics_register(m, CTL_METRIC_COUNTER, "x_total", "", one, NULL, 0);
    assert_non_null(c);
    /* A name is registered once. */
    assert_null(ctl_metrics_register(m, CTL_METRIC_GAUGE, "x_total", "", NULL, NULL, 0));
    h = ctl_metrics_register(m, CTL_METRIC_HISTOGRAM, "h_seconds", "", NULL, b1, 1);
    assert_non_null(h);

    const char *const v1[] = {"v", NULL};
    const char *const v2[] = {"v", "w", NULL};
    assert_int_equal(ctl_metric_add(c, v1, -1), K8S_EARG); /* counters only grow */
    assert_int_equal(ctl_metric_inc(c, NULL), K8S_EARG);   /* one label value needed */
    assert_int_equal(ctl_metric_inc(c, v2), K8S_EARG);
    assert_int_equal(ctl_metric_observe(c, v1, 1), K8S_EARG);
    assert_int_equal(ctl_metric_inc(h, NULL), K8S_EARG);
    assert_int_equal(ctl_metric_set(h, NULL, 1), K8S_EARG);
    assert_int_equal(ctl_metric_value(c, v1), 0);
    ctl_metrics_free(m);
}

struct coll {
    struct ctl_metric *g;
    int calls;
};

static void collector(struct ctl_metrics *m, void *user)
{
    struct coll *c = user;
    (void)m;
    c->calls++;
    ctl_metric_set(c->g, NULL, c->calls * 10);
}

static void test_collectors_run_before_each_render(void **state)
{
    (void)state;
    struct ctl_metrics *m = ctl_metrics_new();
    struct coll c = {NULL, 0};
    c.g = ctl_metrics_register(m, CTL_METRIC_GAUGE, "depth", "d", NULL, NULL, 0);
    assert_int_equal(ctl_metrics_add_collector(m, collector, &c), 0);
    char *t1 = render(m);
    char *t2 = render(m);
    assert_string_equal(t1, "# HELP depth d\n# TYPE depth gauge\ndepth 10\n");
    assert_string_equal(t2, "# HELP depth d\n# TYPE depth gauge\ndepth 20\n");
    free(t1);
    free(t2);
    ctl_metrics_free(m);
}

static void test_set_histogram_mirrors_a_source(void **state)
{
    (void)state;
    static const double b[] = {0.001, 0.01};
    struct ctl_metrics *m = ctl_metrics_new();
    struct ctl_metric *h =
        ctl_metrics_register(m, CTL_METRIC_HISTOGRAM, "q_seconds", "q", NULL, b, 2);
    const unsigned long long counts[] = {2, 0, 1};
    assert_int_equal(ctl_metric_set_histogram(h, NULL, counts, 0.5), 0);
    char *t = render(m);
    assert_string_equal(t, "# HELP q_seconds q\n# TYPE q_seconds histogram\n"
                           "q_seconds_bucket{le=\"0.001\"} 2\n"
                           "q_seconds_bucket{le=\"0.01\"} 2\n"
                           "q_seconds_bucket{le=\"+Inf\"} 3\n"
                           "q_seconds_sum 0.5\nq_seconds_count 3\n");
    free(t);
    ctl_metrics_free(m);
}

struct hammer {
    struct ctl_metric *c;
    struct ctl_metrics *m;
};

static void *hammer_main(void *arg)
{
    struct hammer *h = arg;
    const char *const a[] = {"a", NULL}, *const b[] = {"b", NULL};
    for (int i = 0; i < 20000; i++) {
        ctl_metric_inc(h->c, (i & 1) ? a : b);
        if (i % 5000 == 0) {
            struct k8s_buf buf;
            k8s_buf_init(&buf, 1 << 20);
            ctl_metrics_render(h->m, &buf);
            k8s_buf_free(&buf);
        }
    }
    return NULL;
}

static void test_concurrent_updates_lose_nothing(void **state)
{
    (void)state;
    static const char *const l[] = {"k", NULL};
    struct ctl_metrics *m = ctl_metrics_new();
    struct hammer h = {ctl_metrics_register(m, CTL_METRIC_COUNTER, "n_total", "n", l, NULL, 0), m};
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hammer_main, &h), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    const char *const a[] = {"a", NULL}, *const b[] = {"b", NULL};
    assert_int_equal((long)ctl_metric_value(h.c, a), 40000);
    assert_int_equal((long)ctl_metric_value(h.c, b), 40000);
    ctl_metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_text_for_known_state),
        cmocka_unit_test(test_family_without_series_is_not_rendered),
        cmocka_unit_test(test_removed_series_are_gone_and_free_their_slot),
        cmocka_unit_test(test_values_format_like_go),
        cmocka_unit_test(test_refusals_keep_output_valid),
        cmocka_unit_test(test_collectors_run_before_each_render),
        cmocka_unit_test(test_set_histogram_mirrors_a_source),
        cmocka_unit_test(test_concurrent_updates_lose_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
