/*
 * kubesim: the Kubernetes API simulator as a process (see
 * tests/support/kubesim_harness.h for the contract with tests).
 *
 *   kubesim --state-dir DIR [--port N] [--exit-after SECONDS]
 *           [--watch-history N] [--rbac] [--bookmark-ms MS]
 *           [--continue-ttl SECONDS] [--establish-ms MS] [--no-persist]
 *           [--fixtures DIR]... [--workloads FILE]   (FILE: see sim_workloads.h)
 *
 * Start and stop (from the source tree, build dir `build`):
 *   build/tests/kubesim/kubesim --state-dir /tmp/k --fixtures tests/fixtures/crds &
 *   export KUBECONFIG=/tmp/k/kubeconfig   # kubectl, or the operator, now talk to it
 *   kill "$(cat /tmp/k/pid)"             # state stays in /tmp/k for the next start
 *
 * It writes DIR/kubeconfig, DIR/ca.crt, DIR/pid and finally DIR/ready (the
 * port) once it serves, and exits on SIGTERM/SIGINT, when its parent dies, or after
 * --exit-after seconds. State is kept in DIR/state.json across restarts.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "k8s_log.h"
#include "sim_fixtures.h"
#include "sim_http.h"
#include "sim_server.h"
#include "sim_store.h"
#include "sim_util.h"

/* The one process-global: written by the signal handler, read by the timer. */
static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void usage(void)
{
    fprintf(stderr, "usage: kubesim --state-dir DIR [--port N] [--exit-after SECONDS] "
                    "[--watch-history N] [--rbac] [--bookmark-ms MS] [--continue-ttl SECONDS] "
                    "[--establish-ms MS] [--no-persist] [--fixtures DIR]... [--workloads FILE]\n");
}

static int parse_long(const char *flag, const char *s, long min, long max, long *out)
{
    char *end;
    long v;
    errno = 0;
    v = s ? strtol(s, &end, 10) : 0;
    if (!s || !*s || *end || errno || v < min || v > max) {
        fprintf(stderr, "kubesim: %s needs a number between %ld and %ld\n", flag, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    struct sim_options opt;
    struct sim_server srv;
    struct sim_http *http = NULL;
    struct sigaction sa;
    pid_t parent = getppid();
    int port = 0, rc = 1;
    long v;
    const char *fixtures[8];
    size_t nfixtures = 0;

    memset(&opt, 0, sizeof(opt));
    opt.watch_history = 10000;
    opt.bookmark_ms = 5000;
    opt.continue_ttl = 300;
    opt.establish_ms = 500;
    opt.persist = 1;
    opt.quiet = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--state-dir") == 0 && next) {
            sim_strlcpy(opt.state_dir, next, sizeof(opt.state_dir));
            i++;
        } else if (strcmp(a, "--port") == 0) {
            if (parse_long(a, next, 0, 65535, &v) != 0)
                return 2;
            opt.port = (int)v;
            i++;
        } else if (strcmp(a, "--exit-after") == 0) {
            if (parse_long(a, next, 0, INT_MAX, &v) != 0)
                return 2;
            opt.exit_after = (int)v;
            i++;
        } else if (strcmp(a, "--watch-history") == 0) {
            if (parse_long(a, next, 1, 10000000, &v) != 0)
                return 2;
            opt.watch_history = (size_t)v;
            i++;
        } else if (strcmp(a, "--bookmark-ms") == 0) {
            if (parse_long(a, next, 10, INT_MAX, &v) != 0)
                return 2;
            opt.bookmark_ms = (int)v;
            i++;
        } else if (strcmp(a, "--continue-ttl") == 0) {
            if (parse_long(a, next, 0, INT_MAX, &v) != 0)
                return 2;
            opt.continue_ttl = (int)v;
            i++;
        } else if (strcmp(a, "--establish-ms") == 0) {
            if (parse_long(a, next, 0, INT_MAX, &v) != 0)
                return 2;
            opt.establish_ms = (int)v;
            i++;
        } else if (strcmp(a, "--fixtures") == 0 && next) {
            if (nfixtures >= sizeof(fixtures) / sizeof(fixtures[0])) {
                fprintf(stderr, "kubesim: too many --fixtures\n");
                return 2;
            }
            fixtures[nfixtures++] = next;
            i++;
        } else if (strcmp(a, "--workloads") == 0 && next) {
            sim_strlcpy(opt.workloads_file, next, sizeof(opt.workloads_file));
            i++;
        } else if (strcmp(a, "--rbac") == 0) {
            opt.rbac = 1;
        } else if (strcmp(a, "--no-persist") == 0) {
            opt.persist = 0;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage();
            return 0;
        } else {
            fprintf(stderr, "kubesim: unknown argument %s\n", a);
            usage();
            return 2;
        }
    }
    if (!*opt.state_dir) {
        usage();
        return 2;
    }
    /* Die with the parent (the test that started us). */
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
        return 1;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (sim_server_init(&srv, &opt) != 0)
        goto out;
    srv.stop_signal = &stop_requested;
    for (size_t i = 0; i < nfixtures; i++) {
        char err[2048];
        if (sim_fixtures_load(&srv, fixtures[i], err, sizeof(err)) != 0) {
            fprintf(stderr, "kubesim: fixtures: %s\n", err);
            goto out;
        }
    }
    if (sim_http_start(&srv, opt.port, &http, &port) != 0)
        goto out;
    srv.http = http;
    sim_store_set_listener(srv.store, sim_http_notify, http);
    if (sim_server_publish(&srv, port) != 0)
        goto out;
    {
        char ps[16];
        const char *kv[] = {
            "port", ps, "stateDir", opt.state_dir, "rbac", opt.rbac ? "true" : "false", NULL};
        snprintf(ps, sizeof(ps), "%d", port);
        k8s_log(K8S_LOG_INFO, NULL, NULL, "kubesim serving", kv);
    }
    sim_http_run(http);
    rc = 0;
out:
    if (srv.store)
        sim_store_set_listener(srv.store, NULL, NULL);
    sim_http_free(http);
    sim_server_fini(&srv);
    return rc;
}
