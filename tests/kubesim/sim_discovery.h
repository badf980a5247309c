/*
 * API discovery as kubectl and client-go read it: /api (APIVersions),
 * /api/v1 and /apis/<group>/<version> (APIResourceList, subresources
 * included), /apis (APIGroupList) and /apis/<group> (APIGroup), all built
 * from the kinds registry, so a CRD appears once it is Established. Only the
 * legacy (unaggregated) form is served; clients asking for aggregated
 * discovery get application/json and fall back, as with older servers.
 */
#ifndef QSO_SIM_DISCOVERY_H
#define QSO_SIM_DISCOVERY_H

struct sim_server;
struct sim_request;
struct sim_response;

/* 0 when `req` was a discovery path (and answered), else -1. */
int sim_discovery_serve(struct sim_server *srv, const struct sim_request *req,
                        struct sim_response *resp);

/* Kubernetes version priority: 1 when a sorts before b ("v1" > "v1beta2" >
 * "v1beta1" > "v1alpha1" > "foo"). */
int sim_version_before(const char *a, const char *b);

#endif
