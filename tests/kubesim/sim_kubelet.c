/* Pods as local processes: not built yet (placeholder that does nothing; see sim_workloads.h). */
#include "sim_kubelet.h"

#include <stdlib.h>

struct sim_kubelet {
    int unused;
};

struct sim_kubelet *sim_kubelet_new(void)
{
    return calloc(1, sizeof(struct sim_kubelet));
}

void sim_kubelet_free(struct sim_kubelet *m)
{
    free(m);
}

void sim_kubelet_tick(struct sim_server *srv, struct sim_kubelet *m)
{
    (void)srv;
    (void)m;
}
