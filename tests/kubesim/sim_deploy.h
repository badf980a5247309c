/*
 * the Deployment controller (see sim_workloads.h). Placeholder interface until its module lands.
 */
#ifndef QSO_SIM_DEPLOY_H
#define QSO_SIM_DEPLOY_H

struct sim_server;
struct sim_deploy;

struct sim_deploy *sim_deploy_new(void);
void sim_deploy_free(struct sim_deploy *m);
void sim_deploy_tick(struct sim_server *srv, struct sim_deploy *m);

#endif
