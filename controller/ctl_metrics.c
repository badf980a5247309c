/*
 * The metrics registry (see ctl_metrics.h).
 *
 * Internals: the registry is a list of families; each family a growable array
 * of series, each series its label values and either one value or a
 * histogram's per-bucket counts (non-cumulative; cumulated when rendered),
 * sum and count. Lookups are linear: families have a handful of series (kinds
 * x results, verbs x codes), and a cap per family bounds the worst case.
 */
#include "ctl_metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8s_error.h"

struct series {
    char **values;              /* one per label name */
    double value;               /* counter, gauge */
    unsigned long long *counts; /* histogram: per bucket, +Inf last */
    double sum;
    unsigned long long count;
};

struct ctl_metric {
    struct ctl_metrics *reg;
    enum ctl_metric_type type;
    char *name;
    char *help;
    char *labels[CTL_METRICS_MAX_LABELS];
    size_t nlabels;
    double buckets[CTL_METRICS_MAX_BUCKETS];
    size_t nbuckets;
    struct series *series;
    size_t nseries, capseries;
};

struct collector {
    ctl_metrics_collector fn;
    void *user;
};

struct ctl_metrics {
    pthread_mutex_t mu;
    struct ctl_metric **fams;
    size_t nfams, capfams;
    struct collector *collectors;
    size_t ncollectors;
};

struct ctl_metrics *ctl_metrics_new(void)
{
    struct ctl_metrics *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    pthread_mutex_init(&m->mu, NULL);
    return m;
}

static void series_clear(struct ctl_metric *f, struct series *s)
{
    for (size_t i = 0; s->values && i < f->nlabels; i++)
        free(s->values[i]);
    free(s->values);
    free(s->counts);
}

static void family_free(struct ctl_metric *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->nseries; i++)
        series_clear(f, &f->series[i]);
    free(f->series);
    for (size_t i = 0; i < f->nlabels; i++)
        free(f->labels[i]);
    free(f->name);
    free(f->help);
    free(f);
}

void ctl_metrics_free(struct ctl_metrics *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nfams; i++)
        family_free(m->fams[i]);
    free(m->fams);
    free(m->collectors);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

/* Metric names: [a-zA-Z_:][a-zA-Z0-9_:]*; label names: [a-zA-Z_][a-zA-Z0-9_]*
 * and not reserved ("__" prefix). */
static int valid_name(const char *s, int colon_ok)
{
    if (!s || !*s)
        return 0;
    for (const char *p = s; *p; p++) {
        char c = *p;
        int alpha =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon_ok && c == ':');
        int digit = c >= '0' && c <= '9';
        if (!alpha && !(digit && p != s))
            return 0;
    }
    return colon_ok || strncmp(s, "__", 2) != 0;
}

struct ctl_metric *ctl_metrics_register(struct ctl_metrics *m, enum ctl_metric_type type,
                                        const char *name, const char *help,
                                        const char *const *labels, const double *buckets,
                                        size_t nbuckets)
{
    struct ctl_metric *f = NULL, *ret = NULL;

    if (!m || !valid_name(name, 1) || nbuckets > CTL_METRICS_MAX_BUCKETS)
        return NULL;
    if (type == CTL_METRIC_HISTOGRAM && (!buckets || nbuckets == 0))
        return NULL;
    for (size_t i = 1; i < nbuckets; i++)
        if (!(buckets[i] > buckets[i - 1]))
            return NULL;
    f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->reg = m;
    f->type = type;
    f->name = strdup(name);
    f->help = strdup(help ? help : "");
    if (!f->name || !f->help)
        goto out;
    for (size_t i = 0; labels && labels[i]; i++) {
        if (i >= CTL_METRICS_MAX_LABELS || !valid_name(labels[i], 0))
            goto out;
        /* "le" is the bucket label of a histogram. */
        if (type == CTL_METRIC_HISTOGRAM && strcmp(labels[i], "le") == 0)
            goto out;
        f->labels[i] = strdup(labels[i]);
        if (!f->labels[i])
            goto out;
        f->nlabels = i + 1;
    }
    if (type == CTL_METRIC_HISTOGRAM) {
        memcpy(f->buckets, buckets, nbuckets * sizeof(double));
        f->nbuckets = nbuckets;
    }

    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->nfams; i++) {
        if (strcmp(m->fams[i]->name, name) == 0) {
            pthread_mutex_unlock(&m->mu);
            goto out;
        }
    }
    if (m->nfams == m->capfams) {
        size_t cap = m->capfams ? m->capfams * 2 : 16;
        struct ctl_metric **nf = realloc(m->fams, cap * sizeof(*nf));
        if (!nf) {
            pthread_mutex_unlock(&m->mu);
            goto out;
        }
        m->fams = nf;
        m->capfams = cap;
    }
    m->fams[m->nfams++] = f;
    pthread_mutex_unlock(&m->mu);
    ret = f;
    f = NULL;
out:
    family_free(f);
    return ret;
}

static size_t count_values(const char *const *values, size_t max)
{
    size_t n = 0;
    while (values && n <= max && values[n])
        n++;
    return n;
}

/* Finds or creates the series for `values`; called with the lock held. */
static int series_get(struct ctl_metric *f, const char *const *values, int create,
                      struct series **out)
{
    struct series *s;
    *out = NULL;
    if (count_values(values, f->nlabels) != f->nlabels)
        return K8S_EARG;
    for (size_t i = 0; i < f->nseries; i++) {
        size_t j = 0;
        while (j < f->nlabels && strcmp(f->series[i].values[j], values[j]) == 0)
            j++;
        if (j == f->nlabels) {
            *out = &f->series[i];
            return 0;
        }
    }
    if (!create)
        return 0;
    if (f->nseries >= CTL_METRICS_MAX_SERIES)
        return K8S_ENOMEM;
    if (f->nseries == f->capseries) {
        size_t cap = f->capseries ? f->capseries * 2 : 8;
        struct series *ns = realloc(f->series, cap * sizeof(*ns));
        if (!ns)
            return K8S_ENOMEM;
        f->series = ns;
        f->capseries = cap;
    }
    s = &f->series[f->nseries];
    memset(s, 0, sizeof(*s));
    if (f->nlabels) {
        s->values = calloc(f->nlabels, sizeof(char *));
        if (!s->values)
            return K8S_ENOMEM;
    }
    for (size_t j = 0; j < f->nlabels; j++) {
        s->values[j] = strdup(values[j]);
        if (!s->values[j]) {
            series_clear(f, s);
            return K8S_ENOMEM;
        }
    }
    if (f->type == CTL_METRIC_HISTOGRAM) {
        s->counts = calloc(f->nbuckets + 1, sizeof(*s->counts));
        if (!s->counts) {
            series_clear(f, s);
            return K8S_ENOMEM;
        }
    }
    f->nseries++;
    *out = s;
    return 0;
}

enum op { OP_ADD, OP_SET, OP_OBSERVE };

static int update(struct ctl_metric *f, const char *const *values, enum op op, double v)
{
    struct series *s;
    int rc;
    if (!f)
        return K8S_EARG;
    if ((op == OP_OBSERVE) != (f->type == CTL_METRIC_HISTOGRAM))
        return K8S_EARG;
    if (op == OP_SET && f->type == CTL_METRIC_HISTOGRAM)
        return K8S_EARG;
    if (op == OP_ADD && f->type == CTL_METRIC_COUNTER && !(v >= 0))
        return K8S_EARG;
    pthread_mutex_lock(&f->reg->mu);
    rc = series_get(f, values, 1, &s);
    if (rc == 0) {
        switch (op) {
        case OP_ADD:
            s->value += v;
            break;
        case OP_SET:
            s->value = v;
            break;
        case OP_OBSERVE: {
            size_t b = 0;
            while (b < f->nbuckets && v > f->buckets[b])
                b++;
            s->counts[b]++;
            s->sum += v;
            s->count++;
            break;
        }
        }
    }
    pthread_mutex_unlock(&f->reg->mu);
    return rc;
}

int ctl_metric_remove(struct ctl_metric *f, const char *const *values)
{
    struct series *s;
    int rc;
    if (!f)
        return K8S_EARG;
    pthread_mutex_lock(&f->reg->mu);
    rc = series_get(f, values, 0, &s);
    if (rc == 0 && s) {
        size_t i = (size_t)(s - f->series);
        series_clear(f, s);
        memmove(&f->series[i], &f->series[i + 1], (f->nseries - i - 1) * sizeof(*f->series));
        f->nseries--;
    }
    pthread_mutex_unlock(&f->reg->mu);
    return rc;
}

int ctl_metric_inc(struct ctl_metric *f, const char *const *values)
{
    return update(f, values, OP_ADD, 1);
}

int ctl_metric_add(struct ctl_metric *f, const char *const *values, double delta)
{
    return update(f, values, OP_ADD, delta);
}

int ctl_metric_set(struct ctl_metric *f, const char *const *values, double v)
{
    return update(f, values, OP_SET, v);
}

int ctl_metric_observe(struct ctl_metric *f, const char *const *values, double v)
{
    return update(f, values, OP_OBSERVE, v);
}

int ctl_metric_set_histogram(struct ctl_metric *f, const char *const *values,
                             const unsigned long long *counts, double sum)
{
    struct series *s;
    int rc;
    if (!f || f->type != CTL_METRIC_HISTOGRAM || !counts)
        return K8S_EARG;
    pthread_mutex_lock(&f->reg->mu);
    rc = series_get(f, values, 1, &s);
    if (rc == 0) {
        s->count = 0;
        for (size_t b = 0; b <= f->nbuckets; b++) {
            s->counts[b] = counts[b];
            s->count += counts[b];
        }
        s->sum = sum;
    }
    pthread_mutex_unlock(&f->reg->mu);
    return rc;
}

double ctl_metric_value(struct ctl_metric *f, const char *const *values)
{
    struct series *s = NULL;
    double v = 0;
    if (!f)
        return 0;
    pthread_mutex_lock(&f->reg->mu);
    if (series_get(f, values, 0, &s) == 0 && s)
        v = f->type == CTL_METRIC_HISTOGRAM ? (double)s->count : s->value;
    pthread_mutex_unlock(&f->reg->mu);
    return v;
}

int ctl_metrics_add_collector(struct ctl_metrics *m, ctl_metrics_collector fn, void *user)
{
    struct collector *nc;
    if (!m || !fn)
        return K8S_EARG;
    pthread_mutex_lock(&m->mu);
    nc = realloc(m->collectors, (m->ncollectors + 1) * sizeof(*nc));
    if (!nc) {
        pthread_mutex_unlock(&m->mu);
        return K8S_ENOMEM;
    }
    m->collectors = nc;
    nc[m->ncollectors].fn = fn;
    nc[m->ncollectors].user = user;
    m->ncollectors++;
    pthread_mutex_unlock(&m->mu);
    return 0;
}

/*
 * Go's strconv.FormatFloat(v, 'g', -1, 64), which the Prometheus client uses:
 * the fewest digits that read back as the same double, in exponent form when
 * the decimal exponent is below -4 or at least 6 (1e+06, 1.5e-05).
 */
void ctl_metrics_format_value(double v, char *buf, size_t cap)
{
    char tmp[64];
    int prec, exp10 = 0;
    if (isnan(v)) {
        snprintf(buf, cap, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, cap, "%s", v > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (v == 0) {
        snprintf(buf, cap, "%s", signbit(v) ? "-0" : "0");
        return;
    }
    for (prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    if (prec > 17)
        prec = 17;
    {
        const char *e = strchr(tmp, 'e');
        char *end;
        long x = e ? strtol(e + 1, &end, 10) : 0;
        exp10 = (int)x;
    }
    if (exp10 < -4 || exp10 >= 6) {
        snprintf(buf, cap, "%.*e", prec - 1, v);
    } else {
        int decimals = prec - 1 - exp10;
        snprintf(buf, cap, "%.*f", decimals > 0 ? decimals : 0, v);
    }
}

static int append_escaped(struct k8s_buf *out, const char *s, int quote)
{
    int rc = 0;
    for (const char *p = s; *p && rc == 0; p++) {
        if (*p == '\\')
            rc = k8s_buf_append(out, "\\\\", 2);
        else if (*p == '\n')
            rc = k8s_buf_append(out, "\\n", 2);
        else if (quote && *p == '"')
            rc = k8s_buf_append(out, "\\\"", 2);
        else
            rc = k8s_buf_append(out, p, 1);
    }
    return rc;
}

/* name{l1="v1",...[,le="x"]} value\n */
static int render_sample(struct k8s_buf *out, const struct ctl_metric *f, const char *suffix,
                         const struct series *s, const char *le, double v)
{
    char num[64];
    int rc = k8s_buf_appendf(out, "%s%s", f->name, suffix);
    if (rc == 0 && (f->nlabels || le))
        rc = k8s_buf_append(out, "{", 1);
    for (size_t i = 0; rc == 0 && i < f->nlabels; i++) {
        rc = k8s_buf_appendf(out, "%s%s=\"", i ? "," : "", f->labels[i]);
        if (rc == 0)
            rc = append_escaped(out, s->values[i], 1);
        if (rc == 0)
            rc = k8s_buf_append(out, "\"", 1);
    }
    if (rc == 0 && le)
        rc = k8s_buf_appendf(out, "%sle=\"%s\"", f->nlabels ? "," : "", le);
    if (rc == 0 && (f->nlabels || le))
        rc = k8s_buf_append(out, "}", 1);
    ctl_metrics_format_value(v, num, sizeof(num));
    if (rc == 0)
        rc = k8s_buf_appendf(out, " %s\n", num);
    return rc;
}

static int cmp_family(const void *a, const void *b)
{
    const struct ctl_metric *fa = *(const struct ctl_metric *const *)a;
    const struct ctl_metric *fb = *(const struct ctl_metric *const *)b;
    return strcmp(fa->name, fb->name);
}

static int cmp_series_in(const struct ctl_metric *f, const struct series *a, const struct series *b)
{
    for (size_t i = 0; i < f->nlabels; i++) {
        int c = strcmp(a->values[i], b->values[i]);
        if (c)
            return c;
    }
    return 0;
}

static int render_family(struct k8s_buf *out, const struct ctl_metric *f)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    const struct series **order = NULL;
    int rc;

    if (f->nseries == 0)
        return 0; /* as the Go client: a family without series is not shown */
    rc = k8s_buf_appendf(out, "# HELP %s ", f->name);
    if (rc == 0)
        rc = append_escaped(out, f->help, 0);
    if (rc == 0)
        rc = k8s_buf_appendf(out, "\n# TYPE %s %s\n", f->name, type_names[f->type]);
    if (rc)
        goto out;
    order = malloc(f->nseries * sizeof(*order));
    if (!order) {
        rc = K8S_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < f->nseries; i++)
        order[i] = &f->series[i];
    /* Insertion sort: qsort has no context argument and series lists are short. */
    for (size_t i = 1; i < f->nseries; i++) {
        const struct series *x = order[i];
        size_t j = i;
        while (j > 0 && cmp_series_in(f, order[j - 1], x) > 0) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = x;
    }
    for (size_t i = 0; rc == 0 && i < f->nseries; i++) {
        const struct series *s = order[i];
        if (f->type != CTL_METRIC_HISTOGRAM) {
            rc = render_sample(out, f, "", s, NULL, s->value);
            continue;
        }
        unsigned long long cum = 0;
        char le[64];
        for (size_t b = 0; rc == 0 && b <= f->nbuckets; b++) {
            cum += s->counts[b];
            if (b < f->nbuckets)
                ctl_metrics_format_value(f->buckets[b], le, sizeof(le));
            else
                snprintf(le, sizeof(le), "+Inf");
            rc = render_sample(out, f, "_bucket", s, le, (double)cum);
        }
        if (rc == 0)
            rc = render_sample(out, f, "_sum", s, NULL, s->sum);
        if (rc == 0)
            rc = render_sample(out, f, "_count", s, NULL, (double)s->count);
    }
out:
    free(order);
    return rc;
}

int ctl_metrics_render(struct ctl_metrics *m, struct k8s_buf *out)
{
    struct collector *cs = NULL;
    struct ctl_metric **fams = NULL;
    size_t n;
    int rc = 0;

    if (!m || !out)
        return K8S_EARG;
    /* Collectors are copied so they run without the lock held. */
    pthread_mutex_lock(&m->mu);
    n = m->ncollectors;
    if (n) {
        cs = malloc(n * sizeof(*cs));
        if (cs)
            memcpy(cs, m->collectors, n * sizeof(*cs));
    }
    pthread_mutex_unlock(&m->mu);
    if (n && !cs)
        return K8S_ENOMEM;
    for (size_t i = 0; i < n; i++)
        cs[i].fn(m, cs[i].user);

    pthread_mutex_lock(&m->mu);
    if (m->nfams) {
        fams = malloc(m->nfams * sizeof(*fams));
        if (!fams) {
            rc = K8S_ENOMEM;
            goto unlock;
        }
        memcpy(fams, m->fams, m->nfams * sizeof(*fams));
        qsort(fams, m->nfams, sizeof(*fams), cmp_family);
    }
    for (size_t i = 0; rc == 0 && i < m->nfams; i++)
        rc = render_family(out, fams[i]);
unlock:
    pthread_mutex_unlock(&m->mu);
    free(fams);
    free(cs);
    return rc;
}
