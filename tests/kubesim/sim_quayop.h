/*
 * STAND-IN for the Quay Operator (quay.redhat.com/v1 QuayRegistry), run from
 * the simulator's timer (see sim_workloads.h). What it reproduces, where each
 * fact comes from, and what it simplifies is in sim_quayop.c's opening
 * comment. Knobs, under "quayOperator" in the workloads configuration:
 *   "requeueSeconds": 60     the periodic reconcile after a success (the only
 *                            way an edit of the bundle Secret's data is seen)
 *   "retrySeconds": 10       the requeue after a blocked reconcile or while
 *                            the (played) migrations run
 *   "statusIntervalMs": 1000 how often the status reconciler re-evaluates
 *   "currentVersion": "3.13.3"  the Quay version this operator deploys
 *   "supportsRoutes": false, "clusterHostname": "apps.kubesim.example.com"
 *                            behave as on OpenShift (route/tls managed)
 *   "failRollout": false     quay-app never finishes rolling out (through
 *                            "deployments": {"stall": {"<ns>/<name>-quay-app": true}})
 *   "staleAvailable": false  Available=True is not withdrawn while a new
 *                            rollout is in progress
 *   "omitObservedGeneration": false  status.observedGeneration is never written
 */
#ifndef QSO_SIM_QUAYOP_H
#define QSO_SIM_QUAYOP_H

struct sim_server;
struct sim_quayop;

struct sim_quayop *sim_quayop_new(void);
/* Forgets the module state; stalls it set stay in the configuration. */
void sim_quayop_free(struct sim_quayop *m);
/* One bounded pass: due reconciles, then due status evaluations. */
void sim_quayop_tick(struct sim_server *srv, struct sim_quayop *m);

#endif
