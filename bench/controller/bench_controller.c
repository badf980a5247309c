/*
 * Controller benchmark (issue 5): the operator's resident memory and CPU with
 * 1,000 StorageMigrations cached, and the latency from a CR's creation to its
 * first reconcile.
 *
 * It starts an API simulator (tests/support/kubesim_harness.h), installs the
 * CRDs from crds/, creates N StorageMigrations (copies of a sample from
 * deploy/examples/), then runs a ctl_manager with informers on
 * storagemigrations and readonlywindows and a reconciler that only records,
 * per key, when it was first reconciled. Figures:
 *   (a) VmRSS/VmHWM (/proc/self/status) and CPU time (getrusage) once every
 *       CR has been reconciled and the process has been idle for a while;
 *   (b) creation → first reconcile latency (p50/p99) over M creations made
 *       while the manager runs, one every --interval-ms; the time is taken
 *       just before the create call.
 * The process also holds the client that creates the CRs (its cost is in the
 * "before manager" baseline printed first).
 *
 *   bench_controller <source dir> [--crs N] [--creations M] [--interval-ms MS]
 *                    [--idle-s S] [--workers W]
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "ctl_manager.h"
#include "k8s_client.h"
#include "k8s_config.h"
#include "kubesim_harness.h"
#include "sim_yaml.h"

#define BENCH_MAX_KEYS 20000
#define BENCH_NS       "quay-enterprise"
#define BENCH_SAMPLE   "deploy/examples/storagemigration-quay-s3-to-s3.yaml"

/* Per-key first-reconcile times, shared by the workers and the main thread. */
struct bench_keys {
    pthread_mutex_t mu;
    size_t n;
    char names[BENCH_MAX_KEYS][64];
    int64_t created_ns[BENCH_MAX_KEYS]; /* 0: created before the manager ran */
    int64_t first_ns[BENCH_MAX_KEYS];   /* 0: not reconciled yet */
    size_t reconciled;                  /* keys with first_ns set */
    unsigned long reconciles;           /* every call */
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Index of a name; appended when absent. -1 when full. Caller holds mu. */
static long keys_find_or_add(struct bench_keys *k, const char *name)
{
    for (size_t i = 0; i < k->n; i++)
        if (strcmp(k->names[i], name) == 0)
            return (long)i;
    if (k->n >= BENCH_MAX_KEYS)
        return -1;
    snprintf(k->names[k->n], sizeof(k->names[0]), "%s", name);
    k->created_ns[k->n] = 0;
    k->first_ns[k->n] = 0;
    return (long)k->n++;
}

static int record_reconcile(struct ctl_context *ctx, const char *key, int64_t *requeue_after_ms,
                            void *user)
{
    (void)key;
    (void)requeue_after_ms;
    struct bench_keys *k = user;
    int64_t t = now_ns();
    pthread_mutex_lock(&k->mu);
    k->reconciles++;
    long i = keys_find_or_add(k, ctl_context_name(ctx));
    if (i >= 0 && k->first_ns[i] == 0) {
        k->first_ns[i] = t;
        k->reconciled++;
    }
    pthread_mutex_unlock(&k->mu);
    return CTL_DONE;
}

static size_t keys_reconciled(struct bench_keys *k)
{
    pthread_mutex_lock(&k->mu);
    size_t n = k->reconciled;
    pthread_mutex_unlock(&k->mu);
    return n;
}

static char *read_file(const char *path, size_t *len)
{
    char *buf = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) != 0)
        goto out;
    long sz = ftell(f);
    if (sz < 0 || fseek(f, 0, SEEK_SET) != 0)
        goto out;
    buf = malloc((size_t)sz + 1);
    if (!buf)
        goto out;
    if (fread(buf, 1, (size_t)sz, f) != (size_t)sz) {
        free(buf);
        buf = NULL;
        goto out;
    }
    buf[sz] = '\0';
    *len = (size_t)sz;
out:
    fclose(f);
    return buf;
}

static cJSON *read_yaml(const char *src, const char *rel)
{
    char path[1024], msg[256] = "";
    snprintf(path, sizeof(path), "%s/%s", src, rel);
    size_t len = 0;
    char *text = read_file(path, &len);
    if (!text) {
        fprintf(stderr, "bench: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    cJSON *doc = sim_yaml_parse(text, len, msg, sizeof(msg));
    free(text);
    if (!doc)
        fprintf(stderr, "bench: %s: %s\n", path, msg);
    return doc;
}

static int crd_established(struct k8s_client *c, const char *name)
{
    static const struct k8s_resource crd_res = {"apiextensions.k8s.io", "v1",
                                                "customresourcedefinitions", 0};
    struct k8s_error err;
    cJSON *obj = NULL;
    int ok = 0;
    if (k8s_get(c, &crd_res, NULL, name, NULL, &obj, &err) != 0)
        return 0;
    const cJSON *conds = cJSON_GetObjectItem(cJSON_GetObjectItem(obj, "status"), "conditions");
    const cJSON *cond;
    cJSON_ArrayForEach(cond, conds)
    {
        const char *type = cJSON_GetStringValue(cJSON_GetObjectItem(cond, "type"));
        const char *st = cJSON_GetStringValue(cJSON_GetObjectItem(cond, "status"));
        if (type && st && strcmp(type, "Established") == 0 && strcmp(st, "True") == 0)
            ok = 1;
    }
    cJSON_Delete(obj);
    return ok;
}

static int install_crds(struct k8s_client *c, const char *src)
{
    static const struct k8s_resource crd_res = {"apiextensions.k8s.io", "v1",
                                                "customresourcedefinitions", 0};
    static const char *const files[] = {"crds/storagemigrations.quaystorage.io.yaml",
                                        "crds/readonlywindows.quaystorage.io.yaml"};
    static const char *const names[] = {"storagemigrations.quaystorage.io",
                                        "readonlywindows.quaystorage.io"};
    struct k8s_error err;
    for (size_t i = 0; i < 2; i++) {
        cJSON *crd = read_yaml(src, files[i]);
        if (!crd)
            return -1;
        cJSON *created = NULL;
        int rc = k8s_create(c, &crd_res, NULL, crd, NULL, &created, &err);
        cJSON_Delete(created);
        cJSON_Delete(crd);
        if (rc != 0) {
            fprintf(stderr, "bench: create CRD %s: %s\n", names[i], err.message);
            return -1;
        }
    }
    for (int tries = 0; tries < 300; tries++) {
        if (crd_established(c, names[0]) && crd_established(c, names[1]))
            return 0;
        usleep(100 * 1000);
    }
    fprintf(stderr, "bench: CRDs not Established after 30 s\n");
    return -1;
}

static int create_sm(struct k8s_client *c, const cJSON *sample, const char *name)
{
    static const struct k8s_resource sm_res = {"quaystorage.io", "v1alpha1", "storagemigrations",
                                               1};
    struct k8s_error err;
    cJSON *obj = cJSON_Duplicate(sample, 1);
    if (!obj)
        return -1;
    cJSON *meta = cJSON_GetObjectItem(obj, "metadata");
    cJSON_ReplaceItemInObject(meta, "name", cJSON_CreateString(name));
    cJSON *created = NULL;
    int rc = k8s_create(c, &sm_res, BENCH_NS, obj, NULL, &created, &err);
    cJSON_Delete(created);
    cJSON_Delete(obj);
    if (rc != 0)
        fprintf(stderr, "bench: create %s: %s\n", name, err.message);
    return rc;
}

/* VmRSS and VmHWM in kB from /proc/self/status. */
static void read_mem(long *rss_kb, long *hwm_kb)
{
    char line[256];
    *rss_kb = *hwm_kb = -1;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "VmRSS:", 6) == 0)
            *rss_kb = strtol(line + 6, NULL, 10);
        else if (strncmp(line, "VmHWM:", 6) == 0)
            *hwm_kb = strtol(line + 6, NULL, 10);
    }
    fclose(f);
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

struct run_arg {
    struct ctl_manager *m;
    int rc;
    struct k8s_error err;
};

static void *run_thread(void *p)
{
    struct run_arg *a = p;
    a->rc = ctl_manager_run(a->m, &a->err);
    return NULL;
}

static long parse_long(const char *s, long min, long max)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || !end || *end || v < min || v > max) {
        fprintf(stderr, "bench: bad number %s\n", s);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    int rc = 1;
    long n_crs = 1000, n_creations = 200, interval_ms = 20, idle_s = 5, workers = 2;
    if (argc < 2) {
        fprintf(stderr,
                "usage: %s <source dir> [--crs N] [--creations M] [--interval-ms MS] "
                "[--idle-s S] [--workers W]\n",
                argv[0]);
        return 2;
    }
    const char *src = argv[1];
    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--crs") == 0)
            n_crs = parse_long(argv[i + 1], 0, 15000);
        else if (strcmp(argv[i], "--creations") == 0)
            n_creations = parse_long(argv[i + 1], 1, 4000);
        else if (strcmp(argv[i], "--interval-ms") == 0)
            interval_ms = parse_long(argv[i + 1], 0, 10000);
        else if (strcmp(argv[i], "--idle-s") == 0)
            idle_s = parse_long(argv[i + 1], 0, 600);
        else if (strcmp(argv[i], "--workers") == 0)
            workers = parse_long(argv[i + 1], 1, CTL_MANAGER_MAX_WORKERS);
        else {
            fprintf(stderr, "bench: unknown flag %s\n", argv[i]);
            return 2;
        }
    }

    struct kubesim *sim = NULL;
    struct k8s_config *cfg = NULL;
    struct k8s_client *client = NULL;
    struct ctl_manager *m = NULL;
    cJSON *sample = NULL;
    struct bench_keys *keys = calloc(1, sizeof(*keys));
    struct run_arg run = {0};
    int running = 0;
    struct k8s_error err;
    if (!keys)
        return 1;
    pthread_mutex_init(&keys->mu, NULL);

    struct kubesim_opts sopts = {.exit_after_seconds = 900};
    if (kubesim_start(&sopts, &sim) != 0)
        goto out;
    if (k8s_config_from_kubeconfig(kubesim_kubeconfig(sim), NULL, &cfg, &err) != 0) {
        fprintf(stderr, "bench: kubeconfig: %s\n", err.message);
        goto out;
    }
    /* The creating client must not be the bottleneck of the latency figure. */
    cfg->qps = 1000;
    cfg->burst = 1000;
    if (k8s_client_new(cfg, &client, &err) != 0) {
        fprintf(stderr, "bench: client: %s\n", err.message);
        goto out;
    }
    if (install_crds(client, src) != 0)
        goto out;
    {
        static const struct k8s_resource ns_res = {"", "v1", "namespaces", 0};
        cJSON *ns = cJSON_Parse("{\"apiVersion\":\"v1\",\"kind\":\"Namespace\","
                                "\"metadata\":{\"name\":\"" BENCH_NS "\"}}");
        cJSON *created = NULL;
        int nrc = ns ? k8s_create(client, &ns_res, NULL, ns, NULL, &created, &err) : -1;
        cJSON_Delete(created);
        cJSON_Delete(ns);
        if (nrc != 0) {
            fprintf(stderr, "bench: namespace: %s\n", err.message);
            goto out;
        }
    }
    sample = read_yaml(src, BENCH_SAMPLE);
    if (!sample)
        goto out;

    int64_t t0 = now_ns();
    for (long i = 0; i < n_crs; i++) {
        char name[64];
        snprintf(name, sizeof(name), "bench-%05ld", i);
        if (create_sm(client, sample, name) != 0)
            goto out;
    }
    printf("created %ld StorageMigrations in %.2f s (sample %s)\n", n_crs,
           (double)(now_ns() - t0) / 1e9, BENCH_SAMPLE);

    long rss0, hwm0;
    read_mem(&rss0, &hwm0);
    double cpu0 = cpu_s();
    printf("before manager: VmRSS %ld kB, VmHWM %ld kB, CPU %.3f s\n", rss0, hwm0, cpu0);

    struct ctl_manager_options mopts = {.config = cfg, .workers = (int)workers};
    if (ctl_manager_new(&mopts, &m, &err) != 0) {
        fprintf(stderr, "bench: manager: %s\n", err.message);
        goto out;
    }
    static const struct k8s_resource sm_res = {"quaystorage.io", "v1alpha1", "storagemigrations",
                                               1};
    static const struct k8s_resource row_res = {"quaystorage.io", "v1alpha1", "readonlywindows", 1};
    struct ctl_informer_options iopts = {.resource = sm_res};
    struct ctl_informer *sm_inf = NULL, *row_inf = NULL;
    if (ctl_manager_add_informer(m, &iopts, &sm_inf, &err) != 0)
        goto out;
    iopts.resource = row_res;
    if (ctl_manager_add_informer(m, &iopts, &row_inf, &err) != 0)
        goto out;
    struct ctl_reconciler r_sm = {"storagemigration", record_reconcile, keys};
    struct ctl_reconciler r_row = {"readonlywindow", record_reconcile, keys};
    if (ctl_manager_add_reconciler(m, &r_sm, &err) != 0 ||
        ctl_manager_add_reconciler(m, &r_row, &err) != 0 ||
        ctl_manager_watch(m, sm_inf, "storagemigration") != 0 ||
        ctl_manager_watch(m, row_inf, "readonlywindow") != 0) {
        fprintf(stderr, "bench: registration failed: %s\n", err.message);
        goto out;
    }

    run.m = m;
    int64_t t_start = now_ns();
    pthread_t th;
    if (pthread_create(&th, NULL, run_thread, &run) != 0)
        goto out;
    running = 1;
    while (keys_reconciled(keys) < (size_t)n_crs) {
        if (now_ns() - t_start > 120LL * 1000000000LL) {
            fprintf(stderr, "bench: only %zu of %ld reconciled after 120 s\n",
                    keys_reconciled(keys), n_crs);
            goto out;
        }
        usleep(2000);
    }
    printf("manager start -> all %ld CRs reconciled: %.3f s; cache: %zu storagemigrations\n", n_crs,
           (double)(now_ns() - t_start) / 1e9, ctl_informer_len(sm_inf));
    double cpu_busy = cpu_s();
    sleep((unsigned)idle_s);
    long rss1, hwm1;
    read_mem(&rss1, &hwm1);
    double cpu1 = cpu_s();
    printf("(a) %ld CRs cached, idle %ld s: VmRSS %ld kB (+%ld kB over baseline), VmHWM %ld kB; "
           "CPU total %.3f s, manager start to synced+reconciled %.3f s, during idle %.3f s\n",
           n_crs, idle_s, rss1, rss1 - rss0, hwm1, cpu1, cpu_busy - cpu0, cpu1 - cpu_busy);

    /* (b) creations while the manager runs. */
    for (long i = 0; i < n_creations; i++) {
        char name[64];
        snprintf(name, sizeof(name), "lat-%05ld", i);
        pthread_mutex_lock(&keys->mu);
        long idx = keys_find_or_add(keys, name);
        if (idx >= 0)
            keys->created_ns[idx] = now_ns();
        pthread_mutex_unlock(&keys->mu);
        if (idx < 0 || create_sm(client, sample, name) != 0)
            goto out;
        if (interval_ms > 0)
            usleep((useconds_t)interval_ms * 1000);
    }
    int64_t t_wait = now_ns();
    while (keys_reconciled(keys) < (size_t)(n_crs + n_creations)) {
        if (now_ns() - t_wait > 60LL * 1000000000LL) {
            fprintf(stderr, "bench: latency CRs not all reconciled after 60 s\n");
            goto out;
        }
        usleep(2000);
    }
    {
        int64_t *lat = calloc((size_t)n_creations, sizeof(*lat));
        size_t nl = 0;
        if (!lat)
            goto out;
        pthread_mutex_lock(&keys->mu);
        for (size_t i = 0; i < keys->n; i++)
            if (keys->created_ns[i] && keys->first_ns[i] && nl < (size_t)n_creations)
                lat[nl++] = keys->first_ns[i] - keys->created_ns[i];
        unsigned long total_reconciles = keys->reconciles;
        pthread_mutex_unlock(&keys->mu);
        qsort(lat, nl, sizeof(*lat), cmp_i64);
        size_t p50 = nl / 2, p99 = (nl * 99 + 99) / 100 - 1;
        if (p99 >= nl)
            p99 = nl - 1;
        printf("(b) creation -> first reconcile over %zu creations (one every %ld ms, %ld "
               "workers): p50 %.2f ms, p99 %.2f ms, max %.2f ms, min %.2f ms\n",
               nl, interval_ms, workers, (double)lat[p50] / 1e6, (double)lat[p99] / 1e6,
               (double)lat[nl - 1] / 1e6, (double)lat[0] / 1e6);
        printf("reconcile calls in all: %lu (keys: %ld)\n", total_reconciles, n_crs + n_creations);
        free(lat);
    }
    rc = 0;
out:
    if (running) {
        ctl_manager_request_stop(m);
        pthread_join(th, NULL);
        if (run.rc != 0)
            fprintf(stderr, "bench: manager run: %s\n", run.err.message);
    }
    ctl_manager_free(m);
    cJSON_Delete(sample);
    k8s_client_free(client);
    k8s_config_free(cfg);
    kubesim_stop(sim);
    pthread_mutex_destroy(&keys->mu);
    free(keys);
    return rc;
}
