/* the image-registry operator stand-in: not built yet (placeholder that does nothing; see
 * sim_workloads.h). */
#include "sim_imgreg.h"

#include <stdlib.h>

struct sim_imgreg {
    int unused;
};

struct sim_imgreg *sim_imgreg_new(void)
{
    return calloc(1, sizeof(struct sim_imgreg));
}

void sim_imgreg_free(struct sim_imgreg *m)
{
    free(m);
}

void sim_imgreg_tick(struct sim_server *srv, struct sim_imgreg *m)
{
    (void)srv;
    (void)m;
}
