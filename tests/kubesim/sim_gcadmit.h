/*
 * The OwnerReferencesPermissionEnforcement admission plugin
 * (kubernetes plugin/pkg/admission/gc), enforced when the simulator runs in
 * RBAC mode (--rbac). OpenShift enables it by default, so an operator that
 * passes on plain Kubernetes can still be refused there: whoever sets
 * ownerReferences on an object must be able to delete that object, and whoever
 * sets blockOwnerDeletion: true on a reference must be able to update the
 * owner's `finalizers` subresource (the GC's foreground deletion waits on such
 * dependents, so it is a way to hold the owner back).
 *
 * As in kube-apiserver it is a validating step of create and update (PUT,
 * every patch type, server-side apply, dry runs included) for every resource
 * and subresource except pods/status. A create may always set ownerRefs (the
 * creator could have not created the object); the blockOwnerDeletion check
 * applies to it all the same. Each authorization check the plugin makes goes
 * into the request record (sim_admin.h) as its own entry, marked with
 * "admission": "OwnerReferencesPermissionEnforcement", so RBAC-minimality
 * tests see `update <owner>/finalizers` as a right the operator used.
 *
 * Not modelled: recent kube-apiservers first ask, once, for `update` on the
 * finalizers of every resource (group, resource and name all "*"), a fast
 * path only a wildcard grant passes. Recording that check would put a refused
 * wildcard right in every RBAC-minimality test's record, so only the
 * per-reference checks are made; the one difference is that a reference to an
 * unknown kind is refused even for a user with wildcard rights.
 */
#ifndef QSO_SIM_GCADMIT_H
#define QSO_SIM_GCADMIT_H

#include <cjson/cJSON.h>

struct sim_server;
struct sim_reqinfo;
struct sim_err;

#define SIM_GCADMIT_PLUGIN "OwnerReferencesPermissionEnforcement"

/*
 * Admits the candidate `obj` of the request `ri`: a create when `old` is
 * NULL, else an update of `old`. Admits everything when the server is not in
 * RBAC mode or the request comes from the simulator's own controllers
 * (ri->user NULL). Returns 0 when admitted, or -403 with `e` filled with
 * kube-apiserver's Forbidden Status.
 */
int sim_gcadmit(struct sim_server *srv, const struct sim_reqinfo *ri, const cJSON *obj,
                const cJSON *old, struct sim_err *e);

#endif
