/*
 * the Quay Operator stand-in (see sim_workloads.h). Placeholder interface until its module lands.
 */
#ifndef QSO_SIM_QUAYOP_H
#define QSO_SIM_QUAYOP_H

struct sim_server;
struct sim_quayop;

struct sim_quayop *sim_quayop_new(void);
void sim_quayop_free(struct sim_quayop *m);
void sim_quayop_tick(struct sim_server *srv, struct sim_quayop *m);

#endif
