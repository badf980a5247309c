/*
 * Strategic merge patch (application/strategic-merge-patch+json) for the
 * built-in types the simulator serves. Lists merge by the patchMergeKey the
 * Go types declare for the fields we touch (containers/env/volumes by name,
 * volumeMounts by mountPath, ports by containerPort, conditions by type,
 * ownerReferences by uid, ...), metadata.finalizers merges as a set, other
 * lists are replaced. Directives: $patch (replace/delete/merge), $retainKeys,
 * $setElementOrder/<field> (accepted, order not enforced) and
 * $deleteFromPrimitiveList/<field>. Custom resources never get here: the API
 * answers 415 for them, as kube-apiserver does.
 */
#ifndef QSO_SIM_SMP_H
#define QSO_SIM_SMP_H

#include <cjson/cJSON.h>
#include <stddef.h>

/* *out is a new tree; 0, or -1 with a message in err (a 400 for the API). */
int sim_smp_apply(const cJSON *original, const cJSON *patch, cJSON **out, char *err, size_t cap);

#endif
