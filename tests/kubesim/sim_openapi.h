/*
 * OpenAPI documents good enough for `kubectl explain` and kubectl's
 * client-side checks: /openapi/v2 (one Swagger 2.0 document) and /openapi/v3
 * (an index of group-versions, then /openapi/v3/apis/<group>/<version> and
 * /openapi/v3/api/v1), built from the kinds registry: CRD versions carry
 * their openAPIV3Schema, built-ins a minimal object schema.
 */
#ifndef QSO_SIM_OPENAPI_H
#define QSO_SIM_OPENAPI_H

struct sim_server;
struct sim_request;
struct sim_response;

/* 0 when answered, -1 when the path is not an OpenAPI document (404). */
int sim_openapi_serve(struct sim_server *srv, const struct sim_request *req,
                      struct sim_response *resp);

#endif
