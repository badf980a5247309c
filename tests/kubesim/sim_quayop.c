/* the Quay Operator stand-in: not built yet (placeholder that does nothing; see sim_workloads.h).
 */
#include "sim_quayop.h"

#include <stdlib.h>

struct sim_quayop {
    int unused;
};

struct sim_quayop *sim_quayop_new(void)
{
    return calloc(1, sizeof(struct sim_quayop));
}

void sim_quayop_free(struct sim_quayop *m)
{
    free(m);
}

void sim_quayop_tick(struct sim_server *srv, struct sim_quayop *m)
{
    (void)srv;
    (void)m;
}
