/*
 * `copy --probe`: checks, before a long copy, that the run can work at all:
 * both sides can be listed, and a probe object can be written under the
 * destination prefix, read back intact and deleted. Each step is reported
 * with what failed, so a Job's log says "destination read-only" instead of
 * failing an hour later.
 */
#ifndef QSO_STOR_PROBE_H
#define QSO_STOR_PROBE_H

#include "stor_backend.h"

#define STOR_PROBE_STEPS 5

struct stor_probe_step {
    const char *name; /* "list-source", "list-destination", "put", "get", "delete" */
    int ran, ok;
    struct stor_error err;
};

struct stor_probe_report {
    char key[128]; /* the probe key, relative to the destination prefix */
    struct stor_probe_step steps[STOR_PROBE_STEPS];
};

/* Runs every step it can; returns 0 when all passed, else the first failure's code. */
int stor_probe_run(struct stor_backend *src, struct stor_backend *dst, struct stor_probe_report *r);

/* The report as one JSON line (no secrets); returns a malloc'ed string. */
char *stor_probe_json(const struct stor_probe_report *r);

#endif
