/*
 * The test-only admin endpoint (/__admin/, see tests/support/kubesim_harness.h
 * for the contract): bearer tokens, fault rules (status + Retry-After, times,
 * fraction, latency, method/path-prefix match, watch cuts) and the record of
 * every request served (user, verb, group, resource, subresource, namespace,
 * code), which RBAC-minimality tests read back.
 *
 * In RBAC mode (--rbac) the record also holds every authorization check an
 * admission plugin makes on a client's behalf, each as its own entry next to
 * the request's: OwnerReferencesPermissionEnforcement (sim_gcadmit.h, on by
 * default on OpenShift) checks `delete` on an object whose ownerReferences
 * change and `update` on `<owner resource>/finalizers` for each new
 * blockOwnerDeletion, and those rights are as much used as the request's own.
 * Such entries have method and path "" and "admission" naming the plugin;
 * ordinary entries have no "admission" member.
 *
 * Beyond the harness contract: POST /__admin/tokens also takes
 * "expiresInSeconds" and {"token":...,"revoke":true}; GET /__admin/requests
 * takes ?user=; POST /__admin/restart simulates an API server restart (watches
 * cut, watch history emptied so older resourceVersions get 410, state kept);
 * POST /__admin/persist writes the state file now.
 */
#ifndef QSO_SIM_ADMIN_H
#define QSO_SIM_ADMIN_H

#include <stddef.h>
#include <stdint.h>

struct sim_server;
struct sim_request;
struct sim_response;
struct sim_err;
struct sim_reqinfo;
struct sim_admin;

struct sim_record {
    const char *user;
    const char *verb;
    const char *method;
    const char *path;
    const char *query;
    const char *group;
    const char *resource;
    const char *subresource;
    const char *ns;
    const char *name;
    int code;
    const char *admission; /* the admission plugin that made this check; NULL otherwise */
};

struct sim_admin *sim_admin_new(void);
void sim_admin_free(struct sim_admin *a);

/* Handles a /__admin/ request (already authenticated as an admin). */
void sim_admin_handle(struct sim_server *srv, const struct sim_request *req,
                      struct sim_response *resp);

/*
 * Applies the fault rules to a request: returns 1 when it must be refused
 * (with `e` filled), 0 otherwise; *latency_ms receives any delay to add.
 */
int sim_admin_fault(struct sim_server *srv, const char *method, const char *path,
                    const struct sim_reqinfo *ri, int64_t *latency_ms, struct sim_err *e);
/* Seconds after which watches are cut (0 = never). */
int sim_admin_watch_cut(const struct sim_admin *a);

void sim_admin_record(struct sim_admin *a, const struct sim_record *r);
void sim_admin_clear_records(struct sim_admin *a);

#endif
