/*
 * The controllers a real cluster runs that API semantics depend on: the
 * garbage collector (ownerReferences: dependents of a vanished owner are
 * deleted; "orphan" and "foregroundDeletion" finalizers are honoured) and the
 * namespace controller (a terminating namespace's content is deleted, then its
 * "kubernetes" finalizer removed). They run asynchronously, from the server's
 * timer, as the real ones do.
 */
#ifndef QSO_SIM_GC_H
#define QSO_SIM_GC_H

struct sim_server;

/* One pass; returns 1 when it changed something (run again), else 0. */
int sim_gc_run(struct sim_server *srv);

#endif
