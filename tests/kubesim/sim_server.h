/*
 * The simulator as one value: options, the modules it is made of, and the
 * periodic work that real clusters do in controllers (CRD establishment,
 * garbage collection, namespace finalization, persistence). Everything runs
 * on the HTTP service thread, so modules share this struct without locks.
 */
#ifndef QSO_SIM_SERVER_H
#define QSO_SIM_SERVER_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "sim_tls.h"
#include "sim_util.h"

struct sim_store;
struct sim_kinds;
struct sim_auth;
struct sim_admin;
struct sim_http;
struct sim_workloads;

struct sim_options {
    char state_dir[2048];
    int port;             /* 0: any free port */
    int exit_after;       /* seconds; 0: run until signalled */
    size_t watch_history; /* events kept for watches */
    int rbac;             /* authorize with RBAC objects */
    int bookmark_ms;      /* interval between watch BOOKMARKs */
    int continue_ttl;     /* seconds a continue token stays valid */
    int establish_ms;     /* delay before a new CRD is Established */
    int persist;          /* keep state in <state_dir>/state.json */
    int quiet;            /* no request log on stderr */
    char workloads_file[2048]; /* --workloads: the workload controllers' configuration */
};

struct sim_server {
    struct sim_options opt;
    struct sim_rng rng;
    struct sim_store *store;
    struct sim_kinds *kinds;
    struct sim_auth *auth;
    struct sim_admin *admin;
    struct sim_http *http;
    struct sim_workloads *workloads; /* Pods, Jobs, Deployments, operator stand-ins */
    struct sim_tls tls;
    char admin_token[80];
    int port;
    int64_t start_ms;
    volatile int stop;
    const volatile sig_atomic_t *stop_signal; /* set by main's signal handler */
    uint64_t gc_seen_rv;                      /* store version the garbage collector last settled */
    int gc_pending;                           /* a delete happened: run the garbage collector */
    int persist_dirty;
    int64_t persist_due_ms;
};

/* Creates the state (store, kinds, tokens, TLS material, persisted objects). */
int sim_server_init(struct sim_server *srv, const struct sim_options *opt);
/* The controllers' periodic work; called by the HTTP layer's timer. */
void sim_server_tick(struct sim_server *srv);
/* Writes kubeconfig and ready once the port is known. */
int sim_server_publish(struct sim_server *srv, int port);
void sim_server_fini(struct sim_server *srv);

#endif
