/*
 * The simulated controllers' API client: a request served by the API's own
 * verbs (admission, validation, defaulting, generation, resourceVersion
 * conflicts, finalizers) without HTTP, authentication, faults or the request
 * record — the way kube-controller-manager's writes go through the same
 * registry code as kubectl's. Use it for every write a controller makes to an
 * object a user could also write (Pods, Jobs, Deployments, Secrets, custom
 * resources), so a stand-in cannot store what the real API would refuse.
 */
#ifndef QSO_SIM_INTERNAL_H
#define QSO_SIM_INTERNAL_H

#include <cjson/cJSON.h>

struct sim_server;

/*
 * `path` is an API path with an optional query of plain (unencoded)
 * key=value pairs, e.g. "/apis/apps/v1/namespaces/ns/deployments/d/status".
 * `body` (may be NULL) is sent as JSON; `content_type` NULL means
 * application/json (give the patch type for PATCH). Returns the HTTP status
 * (-1 when the request could not be made); *out (when non-NULL) receives the
 * response body parsed (the object, or a Status), caller frees.
 * Never a watch.
 */
int sim_internal_call(struct sim_server *srv, const char *method, const char *path,
                      const cJSON *body, const char *content_type, cJSON **out);

#endif
