/*
 * Server assembly and the periodic controller work (see sim_server.h).
 */
#include "sim_server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sim_admin.h"
#include "sim_auth.h"
#include "sim_builtin.h"
#include "sim_crd.h"
#include "sim_deploy.h"
#include "sim_gc.h"
#include "sim_kind.h"
#include "sim_persist.h"
#include "sim_store.h"
#include "sim_util.h"
#include "sim_workloads.h"

static int admin_token(struct sim_server *srv)
{
    char path[4096];
    char *text;
    snprintf(path, sizeof(path), "%s/admin.token", srv->opt.state_dir);
    text = sim_read_file(path, NULL);
    if (text && strlen(text) >= 32 && strlen(text) < sizeof(srv->admin_token)) {
        size_t n = strlen(text);
        while (n && (text[n - 1] == '\n' || text[n - 1] == ' '))
            text[--n] = '\0';
        sim_strlcpy(srv->admin_token, text, sizeof(srv->admin_token));
        memset(text, 0, n);
        free(text);
        return 0;
    }
    free(text);
    if (sim_random_alnum(srv->admin_token, 48) != 0)
        return -1;
    return sim_write_file(path, srv->admin_token, strlen(srv->admin_token), 0600);
}

int sim_server_init(struct sim_server *srv, const struct sim_options *opt)
{
    static const char *const masters[] = {"system:masters"};
    memset(srv, 0, sizeof(*srv));
    srv->opt = *opt;
    srv->start_ms = sim_mono_ms();
    sim_rng_seed(&srv->rng);
    if (mkdir(opt->state_dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "kubesim: cannot create %s: %s\n", opt->state_dir, strerror(errno));
        return -1;
    }
    srv->kinds = sim_kinds_new();
    srv->store = sim_store_new(opt->watch_history);
    srv->auth = sim_auth_new();
    srv->admin = sim_admin_new();
    srv->workloads = sim_workloads_new();
    if (!srv->kinds || !srv->store || !srv->auth || !srv->admin || !srv->workloads ||
        sim_builtin_register(srv->kinds) != 0) {
        fprintf(stderr, "kubesim: out of memory\n");
        return -1;
    }
    if (*opt->workloads_file) {
        char err[1024];
        if (sim_workloads_load_file(srv->workloads, opt->workloads_file, err, sizeof(err)) != 0) {
            fprintf(stderr, "kubesim: %s\n", err);
            return -1;
        }
    }
    if (sim_tls_init(opt->state_dir, &srv->tls) != 0)
        return -1;
    if (admin_token(srv) != 0) {
        fprintf(stderr, "kubesim: cannot write the admin token into %s\n", opt->state_dir);
        return -1;
    }
    sim_deploy_register_kinds(srv, srv->workloads->deploy);
    if (opt->persist && sim_persist_load(srv) != 0)
        fprintf(stderr, "kubesim: the saved state could not be loaded completely\n");
    if (sim_auth_add_token(srv->auth, srv->admin_token, "admin", masters, 1, 0, NULL) != 0 ||
        sim_builtin_bootstrap(srv) != 0) {
        fprintf(stderr, "kubesim: cannot bootstrap the cluster objects\n");
        return -1;
    }
    return 0;
}

int sim_server_publish(struct sim_server *srv, int port)
{
    char path[4096], num[32];
    int n;
    srv->port = port;
    if (sim_kubeconfig_write(srv->opt.state_dir, port, srv->tls.ca_pem, srv->admin_token) != 0) {
        fprintf(stderr, "kubesim: cannot write %s/kubeconfig\n", srv->opt.state_dir);
        return -1;
    }
    snprintf(path, sizeof(path), "%s/pid", srv->opt.state_dir);
    n = snprintf(num, sizeof(num), "%ld\n", (long)getpid());
    if (sim_write_file(path, num, (size_t)n, 0644) != 0) {
        fprintf(stderr, "kubesim: cannot write %s\n", path);
        return -1;
    }
    snprintf(path, sizeof(path), "%s/ready", srv->opt.state_dir);
    n = snprintf(num, sizeof(num), "%d\n", port);
    if (sim_write_file(path, num, (size_t)n, 0644) != 0) {
        fprintf(stderr, "kubesim: cannot write %s\n", path);
        return -1;
    }
    return 0;
}

void sim_server_tick(struct sim_server *srv)
{
    int64_t now = sim_mono_ms();
    if (srv->stop_signal && *srv->stop_signal) {
        if (!srv->stop)
            fprintf(stderr, "kubesim: stopping on a signal\n");
        srv->stop = 1;
    }
    if (srv->opt.exit_after > 0 && now - srv->start_ms >= (int64_t)srv->opt.exit_after * 1000)
        srv->stop = 1;
    sim_crd_tick(srv);
    sim_workloads_tick(srv);
    if (sim_store_rv(srv->store) != srv->gc_seen_rv || srv->gc_pending) {
        srv->gc_pending = 0;
        for (int i = 0; i < 16 && sim_gc_run(srv); i++)
            ;
        srv->gc_seen_rv = sim_store_rv(srv->store);
    }
    if (srv->opt.persist && srv->persist_dirty) {
        if (!srv->persist_due_ms)
            srv->persist_due_ms = now + 300;
        if (now >= srv->persist_due_ms) {
            srv->persist_due_ms = 0;
            if (sim_persist_save(srv) != 0)
                fprintf(stderr, "kubesim: cannot save the state\n");
        }
    }
}

void sim_server_fini(struct sim_server *srv)
{
    /* Pods' processes first: they are children of this process. */
    sim_workloads_free(srv->workloads);
    srv->workloads = NULL;
    if (srv->opt.persist && srv->store)
        sim_persist_save(srv);
    sim_store_free(srv->store);
    sim_kinds_free(srv->kinds);
    sim_auth_free(srv->auth);
    sim_admin_free(srv->admin);
    sim_tls_free(&srv->tls);
    memset(srv->admin_token, 0, sizeof(srv->admin_token));
}
