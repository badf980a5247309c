/*
 * Test harness for the Kubernetes API simulator (tests/kubesim): starts the
 * `kubesim` binary as a child process on 127.0.0.1 with a fresh state
 * directory, waits until it serves, and stops it. Shared by every test that
 * needs an API server (k8sclient integration tests, controller and e2e tests).
 *
 * The simulator writes into its state dir: `kubeconfig` (cluster with its
 * generated CA, user "admin" with a bearer token in system:masters), `ca.crt`,
 * and `ready` (the port) once it serves. It exits by itself when its parent
 * dies (PR_SET_PDEATHSIG) or after --exit-after seconds.
 *
 * The simulator's output goes to <state dir>/kubesim.log (its tail is printed
 * when it fails to start). Environment: KUBESIM_KEEP=1 keeps the state dir
 * after kubesim_stop; KUBESIM_BIN runs another binary than the build's.
 *
 * Admin endpoint (tests only; needs the admin token): everything under
 * `/__admin/`, JSON in and out:
 *   POST /__admin/tokens   {"token":"t","user":"alice","groups":["g"]}  adds a bearer token
 *   POST /__admin/faults   {"rules":[{"method":"GET","pathPrefix":"/api/v1/...",
 *                            "status":429,"retryAfterSeconds":1,"times":2,
 *                            "fraction":0.0,"latencyMs":0}],
 *                           "watchCutSeconds":0}     replaces the fault rules
 *   GET  /__admin/requests ->{"items":[{"user":"alice","verb":"list","method":"GET",
 *                            "path":"/api/v1/...","query":"limit=500",
 *                            "group":"","resource":"configmaps","subresource":"",
 *                            "namespace":"default","code":200}]}  every request served;
 *                            in --rbac mode also each authorization check of the
 *                            OwnerReferencesPermissionEnforcement admission, as an
 *                            item with "admission" set and empty method and path
 *   DELETE /__admin/requests                          clears that record
 */
#ifndef QSO_KUBESIM_HARNESS_H
#define QSO_KUBESIM_HARNESS_H

#include <stddef.h>
#include <sys/types.h>

struct kubesim;

struct kubesim_opts {
    const char *extra_args[16]; /* more kubesim flags, NULL-terminated (e.g. "--rbac") */
    int exit_after_seconds;     /* 0: default 600 */
};

/* Starts a simulator; returns 0 or -1 (with a message on stderr). */
int kubesim_start(const struct kubesim_opts *opts, struct kubesim **out);
/* SIGTERM, wait, remove the state dir. NULL is fine. */
void kubesim_stop(struct kubesim *sim);

const char *kubesim_kubeconfig(const struct kubesim *sim); /* path */
const char *kubesim_url(const struct kubesim *sim);        /* https://127.0.0.1:port */
const char *kubesim_dir(const struct kubesim *sim);        /* state dir */
const char *kubesim_ca_file(const struct kubesim *sim);    /* PEM path */
const char *kubesim_admin_token(const struct kubesim *sim);
pid_t kubesim_pid(const struct kubesim *sim);

/*
 * Calls the admin endpoint with the admin token, independent of k8sclient (so
 * a client bug cannot hide itself). `body` may be NULL. Returns the HTTP status
 * (or -1), and the response body in *out (caller frees) when out is non-NULL.
 */
long kubesim_admin(struct kubesim *sim, const char *method, const char *path, const char *body,
                   char **out);

#endif
