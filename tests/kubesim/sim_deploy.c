/* the Deployment controller: not built yet (placeholder that does nothing; see sim_workloads.h). */
#include "sim_deploy.h"

#include <stdlib.h>

struct sim_deploy {
    int unused;
};

struct sim_deploy *sim_deploy_new(void)
{
    return calloc(1, sizeof(struct sim_deploy));
}

void sim_deploy_free(struct sim_deploy *m)
{
    free(m);
}

void sim_deploy_tick(struct sim_server *srv, struct sim_deploy *m)
{
    (void)srv;
    (void)m;
}
