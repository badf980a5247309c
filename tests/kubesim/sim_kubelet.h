/*
 * Pods as local processes (see sim_workloads.h). Placeholder interface until its module lands.
 */
#ifndef QSO_SIM_KUBELET_H
#define QSO_SIM_KUBELET_H

struct sim_server;
struct sim_kubelet;

struct sim_kubelet *sim_kubelet_new(void);
void sim_kubelet_free(struct sim_kubelet *m);
void sim_kubelet_tick(struct sim_server *srv, struct sim_kubelet *m);

#endif
