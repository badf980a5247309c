/*
 * Internals shared by the readonlywindows reconciler's files (not a public
 * interface; see ctl_readonlywindow.h for what the reconciler does):
 *   ctl_readonlywindow.c       registration, event mapping, metrics, the
 *                              per-target reconcile (overlays, the step)
 *   ctl_readonlywindow_win.c   one window: what it wants, its status,
 *                              conditions, Events, finalizer
 *   ctl_readonlywindow_key.c   ReadOnly service keys: keys held in memory
 *                              until their overlay is set, and the
 *                              register/extend/expire Jobs
 */
#ifndef QSO_CTL_READONLYWINDOW_INT_H
#define QSO_CTL_READONLYWINDOW_INT_H

#include <pthread.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "ctl_readonlywindow.h"
#include "ctl_rw_schedule.h"
#include "quay_composer.h"
#include "quay_keyjob.h"
#include "quay_servicekey.h"

#define RW_API_VERSION "quaystorage.io/v1alpha1"
#define RW_KIND        "ReadOnlyWindow"
#define RW_KEY_MAX     (32 + QUAY_NS_MAX + QUAY_NAME_MAX)
#define RW_MSG_MAX     1536

/* Phases (status.phase, "values may be added"). */
#define RW_PHASE_SCHEDULED    "Scheduled"
#define RW_PHASE_ACTIVATING   "Activating"
#define RW_PHASE_ACTIVE       "Active"
#define RW_PHASE_DEACTIVATING "Deactivating"
#define RW_PHASE_ENDED        "Ended"
#define RW_PHASE_FAILED       "Failed"

/* The one failure that is not final: the registry may be upgraded. */
#define RW_REASON_OLD_QUAY "UnsupportedQuayVersion"

/* How the ReadOnly mode is put in place (status.readOnlyMechanism). */
#define RW_MECH_BUNDLE "ConfigBundle"
#define RW_MECH_SPEC   "QuayRegistrySpec"
#define RW_HOLDERS_MAX 4096

extern const struct k8s_resource ctl_rw__windows_res;

/* A service key made for a window and not yet in an overlay: only here,
 * in memory, never in an API object (its private key). */
struct rw_key {
    struct rw_key *next;
    char uid[QUAY_UID_MAX + 1];
    char target[RW_KEY_MAX];
    struct quay_servicekey *key;
    long long expires_at; /* Unix seconds, registered with it */
    int registered;       /* its REGISTER Job succeeded */
};

/* What the metrics collector knows of a window. */
struct rw_track {
    char uid[QUAY_UID_MAX + 1];
    char ns[QUAY_NS_MAX + 1];
    char name[QUAY_NAME_MAX + 1];
    char target[RW_KEY_MAX]; /* the target's key */
    int active;
    int64_t end_ms; /* 0: no end */
    int gone;       /* reported once more as 0, then forgotten */
};

struct ctl_rw {
    struct ctl_manager *m;
    struct ctl_rw_options o;
    struct ctl_informer *windows, *registries, *deployments, *jobs, *states;
    pthread_mutex_t mu; /* keys and tracks */
    struct rw_key *keys;
    struct rw_track *tracks;
    size_t ntracks, tcap;
    struct ctl_metric *m_active, *m_left, *m_overdue;
    /* Whether QuayRegistry offers spec.readOnly (ctl_readonlywindow_spec.c). */
    int ro_spec_checked, ro_spec_offered;
    int64_t ro_spec_checked_ms;
};

/* The step's outcome as the windows see it. */
struct rw_outcome {
    int stepped;   /* quay_composer_step ran */
    int gone;      /* the target does not exist */
    int confirmed; /* the target runs compose(base, overlays now) */
    struct quay_step_result res;
    /* ReadOnly windows held through spec.readOnly report from this. */
    int spec_used;
    struct quay_step_result spec_res;
    char target_desc[QUAY_NAME_MAX + 64]; /* "QuayRegistry ns/name" */
};

/* One window during a reconcile of its target. */
struct rw_win {
    cJSON *obj;    /* as listed from the API (owned) */
    cJSON *status; /* the status being computed (owned) */
    char name[QUAY_NAME_MAX + 1];
    char uid[QUAY_UID_MAX + 1];
    long long generation;
    int deleting;
    int finalizer;
    enum quay_mode mode;
    struct ctl_rw_times t;
    int valid;
    char invalid[1100];
    char old_phase[32];
    char phase[32];
    int64_t activated_ms;  /* status.activatedTime; 0 none */
    int64_t activating_ms; /* status.activationStartTime; 0 none */
    int64_t end_ms;        /* the end that applies; 0 none */
    /* Decisions. */
    int terminal; /* Ended, or Failed for this generation */
    int want_on;
    int spec_mech;   /* ReadOnly through the QuayRegistry's spec.readOnly */
    int spec_held;   /* listed as a holder of spec.readOnly (the "overlay") */
    int had_overlay; /* in the record before this reconcile */
    int has_overlay; /* after this reconcile's changes */
    struct quay_overlay *new_overlay;
    int remove_overlay;
    int key_busy;   /* its ReadOnly key is being made or registered */
    int needs_step; /* its state depends on the step's confirmation */
    int scheduled;  /* before its start */
    int missed;     /* its end passed before it was activated */
    int failed_now; /* failed in this reconcile: reason/msg below */
    char fail_reason[64];
    char fail_msg[RW_MSG_MAX];
    char wait_msg[RW_MSG_MAX]; /* what it waits for before the step */
    int64_t next_ms;           /* look again at this wall time; 0 none */
    int requeue_soon;          /* look again after the poll interval */
    int stuck;                 /* waiting for a person (changed externally, blocked) */
};

/* ---- ctl_readonlywindow_win.c ------------------------------------------------------- */

/* Reads a listed window into `w` (copies obj). */
int ctl_rw__win_load(struct rw_win *w, const cJSON *obj, struct k8s_error *err);
void ctl_rw__win_clear(struct rw_win *w);
/* Decides what `w` wants before the step (no API writes besides key Jobs). */
int ctl_rw__win_plan(struct ctl_rw *r, struct ctl_context *ctx, const struct quay_target_ref *t,
                     const struct quay_state *s, struct rw_win *w, int64_t now,
                     struct k8s_error *err);
/* After the step: phase, conditions, times; key expiry; Events; writes the
 * status and the finalizer. CTL_REQUEUE on a conflict. */
int ctl_rw__win_report(struct ctl_rw *r, struct ctl_context *ctx, const struct quay_target_ref *t,
                       struct rw_win *w, const struct rw_outcome *out, int64_t now,
                       struct k8s_error *err);
/* Adds the finalizer (JSON patch); w->obj is replaced by the answer. */
int ctl_rw__win_add_finalizer(struct ctl_context *ctx, struct rw_win *w, struct k8s_error *err);
/* A window whose target cannot be resolved: Failed, no finalizer. */
int ctl_rw__win_invalid_target(struct ctl_context *ctx, const char *ns, const char *name,
                               struct k8s_error *err);
/* "QuayRegistry ns/name" or "StandaloneQuay ns/secret". */
void ctl_rw__target_desc(const struct quay_target_ref *t, char *buf, size_t cap);
/* The key of a window's target; K8S_EINVALID when spec.target does not resolve. */
int ctl_rw__target_key(const cJSON *window, char *key, size_t cap, struct quay_target_ref *ref,
                       struct k8s_error *err);

/* ---- ctl_readonlywindow_key.c ------------------------------------------------------- */

/* The window's key in memory (borrowed under r->mu's protocol: only the
 * target's reconcile touches it), or NULL. */
struct rw_key *ctl_rw__key_find(struct ctl_rw *r, const char *uid);
/* Generates and remembers a key for the window. */
int ctl_rw__key_new(struct ctl_rw *r, const char *uid, const char *target, long long expires_at,
                    struct rw_key **out, struct k8s_error *err);
/* Forgets (and wipes) the window's key. */
void ctl_rw__key_drop(struct ctl_rw *r, const char *uid);
/* Forgets the keys of `target`'s windows that are not in uids[0..n). */
void ctl_rw__key_sweep(struct ctl_rw *r, const char *target, char (*uids)[QUAY_UID_MAX + 1],
                       size_t n);
void ctl_rw__keys_free(struct ctl_rw *r);

/* The bundle file name of a window's key ("qso-readonly-<kid prefix>"). */
void ctl_rw__key_name(const char *kid, char *out, size_t cap);

/* Expiry (Unix seconds) a key of this window should have now. */
long long ctl_rw__key_expiry(const struct ctl_rw *r, const struct ctl_rw_times *t,
                             int64_t activated_ms, int64_t now_ms);
/* When a key registered until `have` will need renewing (wall ms; 0: only
 * when the window's end moves). */
int64_t ctl_rw__key_renew_at(const struct ctl_rw *r, const struct ctl_rw_times *t,
                             int64_t activated_ms, long long have, int64_t now_ms);
/* Whether a key registered until `have` must be extended at `now_ms`. */
int ctl_rw__key_needs_extension(const struct ctl_rw *r, const struct ctl_rw_times *t,
                                int64_t activated_ms, long long have, int64_t now_ms);

/*
 * Runs one service-key Job for `window`, or follows the one already there:
 * QUAY_KEYJOB_RUNNING (message says what it waits for), SUCCEEDED or
 * FAILED (message with the Job's and psql's words). A Job that finished is
 * deleted with its ConfigMap and Secret once its outcome is read.
 * Returns 0, or a negative API error.
 */
int ctl_rw__keyjob(struct ctl_rw *r, struct ctl_context *ctx, const struct quay_target_ref *t,
                   const cJSON *window, enum quay_keyjob_op op, const char *sql,
                   enum quay_keyjob_state *state, char *msg, size_t cap, struct k8s_error *err);

/*
 * Before a window's earlier key is expired: no registration of it may still
 * run (a restart lost the key while its REGISTER Job ran). Deletes the
 * window's REGISTER Jobs; *busy = 1 (msg says why) until none is left and
 * no registration pod of the namespace still runs.
 */
int ctl_rw__keyjob_quiesce(struct ctl_context *ctx, const struct quay_target_ref *t,
                           const cJSON *window, int *busy, char *msg, size_t cap,
                           struct k8s_error *err);

/* Fails the window now (Failed, Degraded with `reason`); it stops wanting on. */
void ctl_rw__win_fail(struct rw_win *w, const char *reason, const char *msg);

/* ---- ctl_readonlywindow_spec.c --------------------------------------------------------- */

/* Whether the served QuayRegistry schema has spec.readOnly (cached). */
int ctl_rw__qr_offers_readonly(struct ctl_rw *r, struct ctl_context *ctx);
/* Makes the holders exactly `holders` (spec.readOnly set with the first,
 * put back as it was after the last); K8S_ECONFLICT when the registry
 * changed meanwhile. */
int ctl_rw__spec_apply(struct ctl_context *ctx, const struct quay_target_ref *t,
                       const char *holders, struct k8s_error *err);
/* Whether the registry runs what `holders` asks for, as a step result. */
int ctl_rw__spec_confirm(struct ctl_context *ctx, const struct quay_target_ref *t,
                         const char *holders, struct quay_step_result *res, struct k8s_error *err);

#endif
