/*
 * The resource verbs with kube-apiserver's semantics: get, list (selectors,
 * limit/continue), watch, create, update, patch (merge, JSON, strategic),
 * delete (finalizers, propagation; pods: graceful deletion for their
 * kubelet), deletecollection, and the status, token, finalize and pods'
 * binding subresources. Also the internal create/delete used by the
 * simulated controllers (garbage collector, namespace finalizer).
 */
#ifndef QSO_SIM_VERBS_H
#define QSO_SIM_VERBS_H

#include <cjson/cJSON.h>

struct sim_server;
struct sim_request;
struct sim_response;
struct sim_reqinfo;
struct sim_kind;
struct sim_err;
struct sim_coll;

/* Serves a resource request whose kind is `k` (served). */
void sim_verbs_serve(struct sim_server *srv, const struct sim_kind *k,
                     const struct sim_request *req, const struct sim_reqinfo *ri,
                     struct sim_response *resp);

/*
 * Controller-side helpers (no authorization, no admission): delete an object
 * the way the API would with `policy` ("Background", "Foreground", "Orphan" or
 * NULL for the kind's default). Returns 0, or -code with `e`.
 */
int sim_delete_object(struct sim_server *srv, const struct sim_kind *k, const char *ns,
                      const char *name, const char *policy, struct sim_err *e);
/* Writes `obj` (taken) as an update by a controller: bumps resourceVersion,
 * deletes the object if it is being deleted and has no finalizers left. */
int sim_controller_update(struct sim_server *srv, struct sim_coll *c, cJSON *obj);

#endif
