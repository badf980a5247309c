/*
 * The simulated node: a kubelet (and, for its pods, the default scheduler's
 * binding) that runs Pods as local processes. See sim_kubelet.c for what it
 * does and where it simplifies; sim_workloads.h for its place among the
 * workload controllers and its knobs:
 *   "kubelet": {"enabled": true,          false: no scheduling, no pods run
 *               "startDelayMs": 0,        from volumes ready to the first start
 *               "backOffBaseMs": 10000,   crash-loop and image-pull back-off
 *               "backOffMaxMs": 300000,
 *               "volumeSyncMs": 60000}    Secret/ConfigMap volume resync
 */
#ifndef QSO_SIM_KUBELET_H
#define QSO_SIM_KUBELET_H

struct sim_server;
struct sim_kubelet;

/* The node's name: pods are bound to it, and only its pods run here. */
#define SIM_NODE_NAME "kubesim-node"

struct sim_kubelet *sim_kubelet_new(void);
/* Kills (SIGKILL) and reaps every container process. NULL is fine. */
void sim_kubelet_free(struct sim_kubelet *m);
/* One pass: reap, bind, start/stop/restart, status, events. Never blocks. */
void sim_kubelet_tick(struct sim_server *srv, struct sim_kubelet *m);

#endif
