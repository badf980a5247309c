/*
 * The readonlywindows reconciler (issue 8): puts a Quay registry into a
 * reduced mode for a window of time — DisablePushes, ReadOnly (with a
 * service key registered in Quay's database first) or ScaleDown — and
 * reliably takes it out again.
 *
 * Work-queue keys are TARGETS, never windows, so every write to one
 * registry is serialized (DESIGN.md, the composer):
 *   "quayregistry-target/<ns>/<QuayRegistry name>"
 *   "standalonequay-target/<ns>/<config Secret name>"
 * A window's events map to its target's key, and so do the target object,
 * its Deployments (rollout confirmation), the service-key Jobs (owned by a
 * window) and the target's state Secret. A window whose spec.target cannot
 * be resolved maps to "readonlywindow/<ns>/<name>", which only reports that.
 *
 * One reconcile of a target reads every window of the target (a fresh LIST,
 * so a status written a moment ago is never overwritten from a stale
 * cache), decides per window whether its overlay should be on (finalizer,
 * validation, timing by the injectable clock, Quay version), registers
 * ReadOnly service keys with a Job BEFORE the overlay that needs them is
 * set, puts and removes overlays through the composer, steps the composer
 * once, and writes each window's status from the step's result: activation
 * is confirmed by the target, never assumed.
 *
 * What persists where (restart safety): overlays (and the ReadOnly keys'
 * private keys) only in the target's state Secret, through the composer;
 * the window's progress (phase, activationStartTime, activatedTime,
 * serviceKeyID, serviceKeyExpiryTime) in its status. A key generated but
 * not yet in an overlay lives only in this process's memory: after a
 * restart it is expired in the database (its kid was written to the status
 * before its registration Job was created) and a new one is made, so no
 * window is ever active with a key that is not registered, and no
 * registered key is left behind alive.
 *
 * Metrics (the manager's registry, computed at scrape time):
 *   qso_readonlywindow_active{namespace,target}       windows confirmed active
 *   qso_readonlywindow_seconds_left{namespace,name}   until the end of an active window
 *   qso_readonlywindow_overdue{namespace,target}      active windows past their end
 */
#ifndef QSO_CTL_READONLYWINDOW_H
#define QSO_CTL_READONLYWINDOW_H

#include <stdint.h>

#include "ctl_manager.h"
#include "k8s_error.h"

#define CTL_RW_KIND_QR         "quayregistry-target"
#define CTL_RW_KIND_STANDALONE "standalonequay-target"
#define CTL_RW_KIND_WINDOW     "readonlywindow"
#define CTL_RW_FINALIZER       "quaystorage.io/readonlywindow"

struct ctl_rw_options {
    /* The service key stays valid this long after the window's end (a
     * margin for late deactivations); 0: 3600 s. */
    int64_t key_margin_s;
    /* Keys of windows without an end: registered for this long and
     * extended when less than half of it remains; 0: 86400 s. */
    int64_t key_open_validity_s;
    /* How often an active target is looked at without an event (external
     * changes, key renewal); 0: 600000 ms. */
    int64_t resync_ms;
    /* How often a transition in progress is polled besides its events;
     * 0: 5000 ms. */
    int64_t poll_ms;
    /* activeDeadlineSeconds of the service-key Jobs; 0: 300. */
    long keyjob_deadline_s;
};

struct ctl_rw;

/*
 * Adds the informers, mappings, reconcilers and metrics to `m` (before
 * ctl_manager_run). `opts` may be NULL. *out is set even when this fails
 * part-way (the manager may already hold handlers that point into it): free
 * it with ctl_rw_free AFTER ctl_manager_free, in every case.
 */
int ctl_rw_register(struct ctl_manager *m, const struct ctl_rw_options *opts, struct ctl_rw **out,
                    struct k8s_error *err);
/* Wipes the private keys still held in memory. NULL is fine. */
void ctl_rw_free(struct ctl_rw *r);

/* For cmd/run.c's registration table: ctl_rw_register with the defaults. */
int ctl_readonlywindow_register(struct ctl_manager *m, void **handle, struct k8s_error *err);
void ctl_readonlywindow_free(void *handle);

#endif
