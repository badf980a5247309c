/*
 * The simulated cluster's Deployment controller (kube-controller-manager's
 * pkg/controller/deployment, v1.32) and the ReplicaSet status it reads — see
 * sim_deploy.c's opening comment for what is simulated and how. Runs from the
 * workload tick (sim_workloads.c); knobs under "deployments" in the workload
 * configuration:
 *   "rolloutDelayMs": 1000           how long new pods take to become ready
 *   "stall": {"<ns>/<name>": true}   that Deployment's new pods never get ready
 */
#ifndef QSO_SIM_DEPLOY_H
#define QSO_SIM_DEPLOY_H

struct sim_server;
struct sim_deploy;

struct sim_deploy *sim_deploy_new(void);
void sim_deploy_free(struct sim_deploy *m);
/* One bounded pass: ReplicaSet statuses first, then the Deployments. */
void sim_deploy_tick(struct sim_server *srv, struct sim_deploy *m);
/* Serves apps/v1 ReplicaSets (their semantics live with the controller);
 * called at server start so they are discoverable from the first request. */
void sim_deploy_register_kinds(struct sim_server *srv, struct sim_deploy *m);

#endif
