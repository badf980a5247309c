/*
 * CustomResourceDefinitions (apiextensions.k8s.io/v1): a CRD's versions
 * become kinds in the registry, unserved until the CRD reports the
 * Established condition, which the simulator sets a short moment after the
 * CRD is created (so a client that does not wait for it gets 404, as on a
 * real cluster). Custom resources are admitted through the CRD's schema:
 * defaulting, pruning of unknown fields, validation and CEL rules, done by
 * sim_schema/sim_cel when they are built in.
 */
#ifndef QSO_SIM_CRD_H
#define QSO_SIM_CRD_H

#include <cjson/cJSON.h>
#include <stddef.h>

struct sim_server;
struct sim_kind;
struct sim_err;

#define SIM_MAX_UNKNOWN 32

/* Paths of fields dropped by pruning ("spec.foo"), for fieldValidation. */
struct sim_unknown {
    char path[SIM_MAX_UNKNOWN][256];
    size_t n;
};

/* Defaults, prunes and validates a custom resource in place (old: NULL on
 * create). 0, or -422 with `e` naming the fields, as the real server does. */
int sim_crd_admit(struct sim_server *srv, const struct sim_kind *k, cJSON *obj, const cJSON *old,
                  struct sim_unknown *unknown, struct sim_err *e);

/* Checks a CRD object on create/update (names, scope, versions, schema). */
int sim_crd_validate(struct sim_server *srv, cJSON *crd, const cJSON *old, struct sim_err *e);

/* Registry upkeep after a CRD was written or deleted through the API. */
void sim_crd_after_write(struct sim_server *srv, const struct sim_kind *k, const cJSON *crd,
                         int deleted);
/* A CRD loaded from the state file: registered, served if it was Established. */
void sim_crd_restored(struct sim_server *srv, const cJSON *crd);
/* Establishes every pending CRD now (fixtures loaded at start-up). */
void sim_crd_establish_all(struct sim_server *srv);
/* Sets Established on CRDs whose delay has passed. */
void sim_crd_tick(struct sim_server *srv);

#endif
