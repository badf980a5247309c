/*
 * `quay-storage-operator run`: the operator itself — the manager with its
 * informers, work queue, workers, leader election, Events, and the probe and
 * metrics servers (controller/ctl_manager.h).
 *
 * Configuration comes from flags, with environment fallbacks where a
 * Deployment sets them (WATCH_NAMESPACES, POD_NAME, POD_NAMESPACE). Signals:
 * SIGTERM or SIGINT asks the manager to stop (drain the queue, release the
 * Lease); a second one exits at once. They are blocked in every thread and
 * taken by one thread with sigwait, so no work happens in a signal handler.
 *
 * Exit status: 0 after a requested stop, 1 when leadership was lost or the
 * manager failed, 2 on a usage error.
 */
#include <errno.h>
#include <libwebsockets.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cmd.h"
#include "ctl_lease.h"
#include "ctl_manager.h"
#include "ctl_readonlywindow.h"
#include "k8s_config.h"
#include "k8s_log.h"

#define MAX_NAMESPACES 64

struct run_flags {
    const char *kubeconfig;
    const char *context;
    const char *namespaces; /* "a,b" */
    long workers;
    int leader_elect;
    const char *lease_namespace;
    const char *lease_name;
    const char *health_addr;
    const char *metrics_addr;
    double qps;
    long burst;
    const char *log_level;
};

/*
 * Reconcilers register here, one line per kind, as they are written: a
 * function that adds its informers, watches and reconciler and hands back
 * its own state, and the function that frees that state once the manager
 * (whose handlers point into it) is freed.
 */
struct registration {
    int (*add)(struct ctl_manager *m, void **handle, struct k8s_error *err);
    void (*free)(void *handle);
};
static const struct registration registrations[] = {
    {ctl_readonlywindow_register, ctl_readonlywindow_free},
};
#define NREGISTRATIONS (sizeof(registrations) / sizeof(registrations[0]))

static void run_usage(FILE *out)
{
    fprintf(out,
            "usage: quay-storage-operator run [flags]\n"
            "\n"
            "flags:\n"
            "  --kubeconfig PATH       kubeconfig to use (default: $KUBECONFIG, in-cluster,\n"
            "                          ~/.kube/config)\n"
            "  --context NAME          kubeconfig context (default: current-context)\n"
            "  --namespaces A,B        namespaces to watch (default: $WATCH_NAMESPACES, else all)\n"
            "  --workers N             concurrent reconciles (default 2)\n"
            "  --leader-elect[=BOOL]   elect a leader with a Lease (default true)\n"
            "  --lease-namespace NS    namespace of the Lease (default: $POD_NAMESPACE, else\n"
            "                          the in-cluster or kubeconfig namespace)\n"
            "  --lease-name NAME       name of the Lease (default quay-storage-operator-leader)\n"
            "  --health-addr ADDR      /healthz and /readyz address (default :8081; \"\" off)\n"
            "  --metrics-addr ADDR     /metrics address (default :8080; \"\" off)\n"
            "  --qps F, --burst N      client-side API rate limit (default 20, 30)\n"
            "  --log-level LEVEL       debug, info, warn or error (default info)\n"
            "\n"
            "exit: 0 stopped by SIGTERM/SIGINT, 1 leadership lost or failure, 2 usage\n");
}

static int parse_bool(const char *s, int *out)
{
    if (strcasecmp(s, "true") == 0 || strcmp(s, "1") == 0) {
        *out = 1;
        return 0;
    }
    if (strcasecmp(s, "false") == 0 || strcmp(s, "0") == 0) {
        *out = 0;
        return 0;
    }
    return -1;
}

static int parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    long v;
    errno = 0;
    v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_double(const char *s, double min, double max, double *out)
{
    char *end;
    double v;
    errno = 0;
    v = strtod(s, &end);
    if (!*s || *end || errno || !(v >= min && v <= max))
        return -1;
    *out = v;
    return 0;
}

/* Parses argv into f; 0, 1 for --help, or 2 (usage error, already reported). */
static int parse_flags(int argc, char **argv, struct run_flags *f)
{
    static const char *const valued[] = {"--kubeconfig",  "--context",         "--namespaces",
                                         "--workers",     "--lease-namespace", "--lease-name",
                                         "--health-addr", "--metrics-addr",    "--qps",
                                         "--burst",       "--log-level",       NULL};
    static const char *const switches[] = {"--leader-elect", NULL};
    for (int i = 1; i < argc; i++) {
        const char *val = NULL;
        char name[64];
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return 1;
        if (cmd_flag("run", argc, argv, &i, valued, switches, name, sizeof(name), &val))
            return 2;
        if (strcmp(name, "--leader-elect") == 0) {
            if (val && parse_bool(val, &f->leader_elect) != 0) {
                fprintf(stderr, "run: --leader-elect takes true or false\n");
                return 2;
            }
            if (!val)
                f->leader_elect = 1;
            continue;
        }
        if (strcmp(name, "--kubeconfig") == 0) {
            f->kubeconfig = val;
        } else if (strcmp(name, "--context") == 0) {
            f->context = val;
        } else if (strcmp(name, "--namespaces") == 0) {
            f->namespaces = val;
        } else if (strcmp(name, "--workers") == 0) {
            if (parse_long(val, 1, CTL_MANAGER_MAX_WORKERS, &f->workers) != 0) {
                fprintf(stderr, "run: --workers takes a number from 1 to %d\n",
                        CTL_MANAGER_MAX_WORKERS);
                return 2;
            }
        } else if (strcmp(name, "--lease-namespace") == 0) {
            f->lease_namespace = val;
        } else if (strcmp(name, "--lease-name") == 0) {
            f->lease_name = val;
        } else if (strcmp(name, "--health-addr") == 0) {
            f->health_addr = val;
        } else if (strcmp(name, "--metrics-addr") == 0) {
            f->metrics_addr = val;
        } else if (strcmp(name, "--qps") == 0) {
            if (parse_double(val, 0, 100000, &f->qps) != 0) {
                fprintf(stderr, "run: --qps takes a number from 0 to 100000\n");
                return 2;
            }
        } else if (strcmp(name, "--burst") == 0) {
            if (parse_long(val, 1, 100000, &f->burst) != 0) {
                fprintf(stderr, "run: --burst takes a number from 1 to 100000\n");
                return 2;
            }
        } else if (strcmp(name, "--log-level") == 0) {
            if (strcmp(val, "debug") != 0 && strcmp(val, "info") != 0 && strcmp(val, "warn") != 0 &&
                strcmp(val, "error") != 0) {
                fprintf(stderr, "run: --log-level takes debug, info, warn or error\n");
                return 2;
            }
            f->log_level = val;
        }
    }
    return 0;
}

/* Splits "a,b" into a NULL-terminated array of pointers into `buf`. */
static int split_namespaces(const char *s, char *buf, size_t cap, const char **out, size_t max)
{
    size_t n = 0;
    char *p;
    if (strlen(s) >= cap)
        return -1;
    memcpy(buf, s, strlen(s) + 1);
    p = buf;
    while (*p) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        while (*p == ' ')
            p++;
        if (*p) {
            if (n + 1 >= max)
                return -1;
            out[n++] = p;
        }
        if (!comma)
            break;
        p = comma + 1;
    }
    out[n] = NULL;
    return (int)n;
}

/* libwebsockets' own log lines, as our JSON lines (only warnings and errors). */
static void lws_emit(int level, const char *line)
{
    char msg[512];
    size_t n;
    snprintf(msg, sizeof(msg), "%s", line);
    n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    const char *kv[] = {"component", "libwebsockets", NULL};
    k8s_log(level == LLL_ERR ? K8S_LOG_ERROR : K8S_LOG_WARN, NULL, NULL, msg, kv);
}

struct signal_ctx {
    struct ctl_manager *m;
    sigset_t set;
};

static void *signal_main(void *arg)
{
    struct signal_ctx *s = arg;
    int sig, requested = 0;
    for (;;) {
        if (sigwait(&s->set, &sig) != 0)
            continue;
        if (sig == SIGUSR1)
            return NULL; /* the manager has returned: nothing left to stop */
        if (requested) {
            k8s_log(K8S_LOG_WARN, NULL, NULL, "second signal: exiting at once", NULL);
            _exit(1);
        }
        requested = 1;
        const char *kv[] = {"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT", NULL};
        k8s_log(K8S_LOG_INFO, NULL, NULL, "stop requested", kv);
        ctl_manager_request_stop(s->m);
    }
}

int cmd_run(int argc, char **argv)
{
    struct run_flags f = {0};
    struct k8s_config_options co = {0};
    struct k8s_config *cfg = NULL;
    struct ctl_manager_options mo = {0};
    struct ctl_manager *m = NULL;
    struct signal_ctx sc;
    struct k8s_error err;
    char ns_buf[4096], base[256], identity[300];
    const char *namespaces[MAX_NAMESPACES];
    const char *env;
    void *handles[NREGISTRATIONS] = {0};
    pthread_t sig_thread;
    int sig_started = 0, status = 1, rc;

    f.workers = 2;
    f.leader_elect = 1;
    f.health_addr = ":8081";
    f.metrics_addr = ":8080";
    f.lease_name = "quay-storage-operator-leader";
    rc = parse_flags(argc, argv, &f);
    if (rc == 1) {
        run_usage(stdout);
        return 0;
    }
    if (rc)
        return 2;
    if (!f.namespaces && (env = getenv("WATCH_NAMESPACES")) && *env)
        f.namespaces = env;
    if (f.namespaces &&
        split_namespaces(f.namespaces, ns_buf, sizeof(ns_buf), namespaces, MAX_NAMESPACES) < 0) {
        fprintf(stderr, "run: --namespaces lists at most %d namespaces\n", MAX_NAMESPACES - 1);
        return 2;
    }
    /* Read by k8s_log at each call; set before any thread starts. */
    if (f.log_level)
        setenv("QSO_LOG_LEVEL", f.log_level, 1);
    lws_set_log_level(LLL_ERR | LLL_WARN, lws_emit);

    co.kubeconfig = f.kubeconfig;
    co.context = f.context;
    k8s_error_clear(&err);
    if (k8s_config_load(&co, &cfg, &err) != 0) {
        const char *kv[] = {"error", err.message, NULL};
        k8s_log(K8S_LOG_ERROR, NULL, NULL, "cannot load the client configuration", kv);
        return 1;
    }
    if (f.qps > 0)
        cfg->qps = f.qps;
    if (f.burst > 0)
        cfg->burst = (int)f.burst;
    if (!f.lease_namespace && (env = getenv("POD_NAMESPACE")) && *env)
        f.lease_namespace = env;
    if (!f.lease_namespace)
        f.lease_namespace = cfg->namespace; /* in-cluster: the pod's namespace file */

    env = getenv("POD_NAME");
    if (env && *env) {
        snprintf(base, sizeof(base), "%s", env);
    } else if (gethostname(base, sizeof(base) - 1) != 0 || !*base) {
        snprintf(base, sizeof(base), "quay-storage-operator");
    }
    base[sizeof(base) - 1] = '\0';
    if (ctl_lease_make_identity(base, identity, sizeof(identity)) != 0) {
        k8s_log(K8S_LOG_ERROR, NULL, NULL, "cannot make a random identity", NULL);
        goto out;
    }

    mo.config = cfg;
    mo.workers = (int)f.workers;
    mo.namespaces = f.namespaces ? namespaces : NULL;
    mo.leader_elect = f.leader_elect;
    mo.lease_namespace = f.lease_namespace;
    mo.lease_name = f.lease_name;
    mo.identity = identity;
    mo.health_addr = *f.health_addr ? f.health_addr : NULL;
    mo.metrics_addr = *f.metrics_addr ? f.metrics_addr : NULL;
    if (ctl_manager_new(&mo, &m, &err) != 0) {
        const char *kv[] = {"error", err.message, NULL};
        k8s_log(K8S_LOG_ERROR, NULL, NULL, "cannot create the manager", kv);
        goto out;
    }
    for (size_t i = 0; i < NREGISTRATIONS; i++) {
        if (registrations[i].add(m, &handles[i], &err) != 0) {
            const char *kv[] = {"error", err.message, NULL};
            k8s_log(K8S_LOG_ERROR, NULL, NULL, "cannot register a reconciler", kv);
            goto out;
        }
    }

    /* Every thread created from here on inherits the blocked set. */
    sc.m = m;
    sigemptyset(&sc.set);
    sigaddset(&sc.set, SIGTERM);
    sigaddset(&sc.set, SIGINT);
    sigaddset(&sc.set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &sc.set, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (pthread_create(&sig_thread, NULL, signal_main, &sc) != 0) {
        k8s_log(K8S_LOG_ERROR, NULL, NULL, "cannot start the signal thread", NULL);
        goto out;
    }
    sig_started = 1;

    {
        char w[16];
        const char *kv[] = {"identity",
                            identity,
                            "leaderElect",
                            f.leader_elect ? "true" : "false",
                            "leaseNamespace",
                            f.lease_namespace,
                            "namespaces",
                            f.namespaces ? f.namespaces : "(all)",
                            "workers",
                            w,
                            NULL};
        snprintf(w, sizeof(w), "%ld", f.workers);
        k8s_log(K8S_LOG_INFO, NULL, NULL, "starting the operator", kv);
    }
    k8s_error_clear(&err);
    rc = ctl_manager_run(m, &err);
    if (rc == 0) {
        k8s_log(K8S_LOG_INFO, NULL, NULL, "stopped", NULL);
        status = 0;
    } else {
        const char *kv[] = {"error", err.message, NULL};
        k8s_log(K8S_LOG_ERROR, NULL, NULL, "the operator stopped on an error", kv);
    }
out:
    if (sig_started) {
        pthread_kill(sig_thread, SIGUSR1);
        pthread_join(sig_thread, NULL);
    }
    ctl_manager_free(m);
    for (size_t i = 0; i < NREGISTRATIONS; i++)
        if (handles[i])
            registrations[i].free(handles[i]);
    k8s_config_free(cfg);
    return status;
}
