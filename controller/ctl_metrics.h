/*
 * A small thread-safe metrics registry: counters, gauges and histograms with
 * label sets, rendered in the Prometheus text exposition format 0.0.4.
 *
 * A family is registered once with its name, help text, label names and (for
 * histograms) bucket bounds; series are created on first use from their label
 * values. Families render sorted by name and series sorted by label values,
 * like the Go client, so the output is deterministic and testable byte for
 * byte. Values that only exist at scrape time (queue depth, leader status,
 * client statistics) are filled by collectors, called before each render.
 *
 * One mutex guards the registry: updates are a lookup in a short list and an
 * addition, which is cheap next to a reconcile or an API request. Collectors
 * run outside the lock (they call the setters).
 */
#ifndef QSO_CTL_METRICS_H
#define QSO_CTL_METRICS_H

#include <stddef.h>

#include "k8s_buf.h"

/* Bounds that keep a family's memory use bounded whatever the callers do. */
#define CTL_METRICS_MAX_LABELS  8
#define CTL_METRICS_MAX_BUCKETS 32
#define CTL_METRICS_MAX_SERIES  1024 /* per family; further series are dropped */

enum ctl_metric_type { CTL_METRIC_COUNTER, CTL_METRIC_GAUGE, CTL_METRIC_HISTOGRAM };

struct ctl_metrics;
struct ctl_metric; /* one family, owned by its registry */

struct ctl_metrics *ctl_metrics_new(void);
void ctl_metrics_free(struct ctl_metrics *m);

/*
 * Registers a family. `labels` is NULL or a NULL-terminated list of label
 * names (copied); `buckets` the ascending upper bounds of a histogram (copied;
 * "+Inf" is implicit). Returns the family, owned by the registry, or NULL when
 * a name is invalid, the name is taken, or memory runs out.
 */
struct ctl_metric *ctl_metrics_register(struct ctl_metrics *m, enum ctl_metric_type type,
                                        const char *name, const char *help,
                                        const char *const *labels, const double *buckets,
                                        size_t nbuckets);

/*
 * Updates one series. `values` holds one label value per label name of the
 * family (NULL when it has none). Counters only grow (ctl_metric_add refuses a
 * negative delta; ctl_metric_set on a counter is for collectors that mirror
 * a monotonic source, such as the client's request count); gauges add or
 * set; histograms observe. Each returns 0,
 * K8S_EARG (wrong type, wrong label count, negative counter delta) or
 * K8S_ENOMEM.
 */
int ctl_metric_inc(struct ctl_metric *f, const char *const *values);
int ctl_metric_add(struct ctl_metric *f, const char *const *values, double delta);
int ctl_metric_set(struct ctl_metric *f, const char *const *values, double v);
int ctl_metric_observe(struct ctl_metric *f, const char *const *values, double v);

/* Sets a histogram series whole, from a source that keeps its own buckets
 * (the work queue's statistics): `counts` holds one non-cumulative count per
 * bucket of the family plus the +Inf bucket last. */
int ctl_metric_set_histogram(struct ctl_metric *f, const char *const *values,
                             const unsigned long long *counts, double sum);

/* Forgets one series (an object that is gone), so a family's series follow
 * the objects that exist instead of piling up to CTL_METRICS_MAX_SERIES.
 * 0 whether or not it existed; K8S_EARG on a wrong label count. */
int ctl_metric_remove(struct ctl_metric *f, const char *const *values);

/* A counter's or gauge's value, or a histogram's count; 0 for an unseen series. */
double ctl_metric_value(struct ctl_metric *f, const char *const *values);

/* `fn` runs before every render, outside the registry lock. */
typedef void (*ctl_metrics_collector)(struct ctl_metrics *m, void *user);
int ctl_metrics_add_collector(struct ctl_metrics *m, ctl_metrics_collector fn, void *user);

/* Appends the whole registry as Prometheus text 0.0.4 to `out`. */
int ctl_metrics_render(struct ctl_metrics *m, struct k8s_buf *out);

/* The content type of ctl_metrics_render's output. */
#define CTL_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Formats a sample value as the Go client does (shortest round-trip form,
 * "+Inf", "-Inf", "NaN"). */
void ctl_metrics_format_value(double v, char *buf, size_t cap);

#endif
