/* the Job controller: not built yet (placeholder that does nothing; see sim_workloads.h). */
#include "sim_jobs.h"

#include <stdlib.h>

struct sim_jobs {
    int unused;
};

struct sim_jobs *sim_jobs_new(void)
{
    return calloc(1, sizeof(struct sim_jobs));
}

void sim_jobs_free(struct sim_jobs *m)
{
    free(m);
}

void sim_jobs_tick(struct sim_server *srv, struct sim_jobs *m)
{
    (void)srv;
    (void)m;
}
