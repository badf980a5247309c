/*
 * the image-registry operator stand-in (see sim_workloads.h). Placeholder interface until its
 * module lands.
 */
#ifndef QSO_SIM_IMGREG_H
#define QSO_SIM_IMGREG_H

struct sim_server;
struct sim_imgreg;

struct sim_imgreg *sim_imgreg_new(void);
void sim_imgreg_free(struct sim_imgreg *m);
void sim_imgreg_tick(struct sim_server *srv, struct sim_imgreg *m);

#endif
