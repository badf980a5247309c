/*
 * The simulated cluster's Job controller and TTL-after-finished controller
 * (kube-controller-manager v1.32's pkg/controller/job and
 * pkg/controller/ttlafterfinished, as seen through the API): pods from
 * spec.template with the job-tracking finalizer, NonIndexed and Indexed
 * completion, the exponential pod-failure back-off, backoffLimit,
 * backoffLimitPerIndex/maxFailedIndexes, activeDeadlineSeconds,
 * podFailurePolicy, suspend, the v1.32 status (uncountedTerminatedPods,
 * completedIndexes, the interim SuccessCriteriaMet/FailureTarget conditions
 * before Complete/Failed), core/v1 Events, and ttlSecondsAfterFinished.
 *
 * Knobs (sim_workloads.h's configuration, member "jobs"):
 *   "enabled":       true   false: sim_workloads_tick skips both controllers
 *   "backoffBaseMs": 10000  the first re-creation delay after a pod failure
 *   "backoffMaxMs":  600000 the cap of that doubling delay
 */
#ifndef QSO_SIM_JOBS_H
#define QSO_SIM_JOBS_H

struct sim_server;
struct sim_jobs;

struct sim_jobs *sim_jobs_new(void);
void sim_jobs_free(struct sim_jobs *m);
/* One bounded pass over the Jobs whose world changed or whose timer is due. */
void sim_jobs_tick(struct sim_server *srv, struct sim_jobs *m);

#endif
