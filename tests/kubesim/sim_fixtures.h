/*
 * Fixtures: objects loaded from YAML/JSON files when the simulator starts
 * (kubesim --fixtures DIR), so a test or a demo begins with the CRDs it needs
 * (QuayRegistry, the OpenShift image registry config, ClusterOperator...).
 * Files are read in name order; CustomResourceDefinitions are created first
 * and established at once, then everything else, through the same API path
 * a client's create takes. Objects that already exist (a restart with kept
 * state) are left alone.
 */
#ifndef QSO_SIM_FIXTURES_H
#define QSO_SIM_FIXTURES_H

#include <stddef.h>

struct sim_server;

/* 0, or -1 with a message naming the file and object in err. */
int sim_fixtures_load(struct sim_server *srv, const char *dir, char *err, size_t cap);

#endif
