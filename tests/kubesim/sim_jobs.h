/*
 * the Job controller (see sim_workloads.h). Placeholder interface until its module lands.
 */
#ifndef QSO_SIM_JOBS_H
#define QSO_SIM_JOBS_H

struct sim_server;
struct sim_jobs;

struct sim_jobs *sim_jobs_new(void);
void sim_jobs_free(struct sim_jobs *m);
void sim_jobs_tick(struct sim_server *srv, struct sim_jobs *m);

#endif
