/*
 * quay_composer: the one mechanism that changes a target's configuration
 * (DESIGN.md, "How a target's configuration is changed").
 *
 * Reconcilers change only their own layer of the per-target state record
 * (quay_state.h): a ReadOnlyWindow puts or removes its overlay, a
 * StorageMigration sets the base. Then quay_composer_step() makes the
 * target run compose(base, overlays) (quay_overlay.h): it renders, applies
 * through the target (quay_target.h), waits for the target to confirm the
 * rollout, and removes Secrets nothing references any more.
 *
 * SERIALIZATION: every call that writes for one target must be serialized
 * by the caller — the work-queue key is the TARGET, not the CR — so two
 * reconcilers never step one target at once. (Should two writers still
 * race, the record's resourceVersion precondition makes one of them fail
 * with K8S_ECONFLICT and re-read; nothing is overwritten blind.)
 *
 * RESTART SAFETY: a step writes its intent (`pending`) into the record
 * before it changes the target, and records `applied` after. Killed at any
 * point, the next step finds the target either still as `applied` (it
 * redoes the change, reusing the rendered Secret already created) or
 * already as `pending` (it records that); nothing is created or patched
 * twice. Calling step again and again converges and is otherwise a no-op.
 *
 * THE USER'S OWN CHANGES: while nothing of ours is in effect (the target
 * runs the recorded original, the base is the original, nothing pending),
 * a change to the target's bundle (reference or content) or components is
 * the user's and is adopted as the new original (result.adopted). Once
 * something of ours is in effect, a target that runs neither `applied` nor
 * `pending` was changed by someone else: the step reports
 * ChangedExternally and changes nothing (the composer never fights a
 * GitOps self-heal or a person).
 *
 * What a step returns (rc 0; failures to talk to the API are rc < 0):
 *   Applied            it changed the target in this call
 *   Progressing        the change is in effect on the target but not yet
 *                      confirmed (message: what it waits for)
 *   Confirmed          the target runs compose(base, overlays), rolled out
 *   Blocked            the target (or we, on its behalf) refuses: reason and
 *                      message are the target's own where it has one
 *                      (RolloutBlocked reasons such as ConfigInvalid,
 *                      ProgressDeadlineExceeded), else ours:
 *                      ComponentOverrideInvalid, ManagedObjectStorage,
 *                      ChangeRefused (the API refused the change as such),
 *                      RenderFailed (the windows cannot apply to the bundle),
 *                      TargetNotReady (no bundle to record yet),
 *                      StateRecordMissing, RestoredByHand
 *   ChangedExternally  someone else changed the target's configuration
 * The record's secrets (overlay keys) are never logged or returned.
 */
#ifndef QSO_QUAY_COMPOSER_H
#define QSO_QUAY_COMPOSER_H

#include <stddef.h>

#include "k8s_client.h"
#include "k8s_error.h"
#include "quay_bundle.h"
#include "quay_overlay.h"
#include "quay_state.h"
#include "quay_target.h"

/* Conditions' reason for an external change (DESIGN.md). */
#define QUAY_REASON_CHANGED_EXTERNALLY "ConfigChangedExternally"
#define QUAY_REASON_RESTORED           "RestoredByHand"

enum quay_phase {
    QUAY_PHASE_APPLIED = 1,
    QUAY_PHASE_PROGRESSING,
    QUAY_PHASE_CONFIRMED,
    QUAY_PHASE_BLOCKED,
    QUAY_PHASE_CHANGED_EXTERNALLY,
};
/* "Applied", "Progressing", "Confirmed", "Blocked", "ChangedExternally". */
const char *quay_phase_name(enum quay_phase p);

struct quay_step_result {
    enum quay_phase phase;
    char reason[64];    /* CamelCase; "" when Confirmed */
    char message[1024]; /* a sentence a person can act on; never a secret */
    /* From the render (quay_render): what the target runs once confirmed. */
    enum quay_mode effective_mode;
    char mode_window[QUAY_OVERLAY_MAX_WINDOW + 1];
    enum quay_mode config_mode;
    unsigned scale_down_components;
    /* The configuration applied (or being applied) and the original. */
    char applied_name[QUAY_NAME_MAX + 1];
    char applied_sha[65];
    char original_name[QUAY_NAME_MAX + 1];
    char original_sha[65];
    int adopted; /* the user's own change was adopted as the new original */
    int cleaned; /* Secrets removed after the confirmation */
};

/* Tests only: stop a step as if the process were killed right after one of
 * its writes, to prove the next step converges. */
enum quay_step_crash {
    QUAY_CRASH_NONE = 0,
    QUAY_CRASH_AFTER_PENDING, /* intent recorded, target not changed */
    QUAY_CRASH_AFTER_APPLY,   /* target changed, `applied` not recorded */
};

struct quay_step_opts {
    enum quay_step_crash crash;
};

/* ---- the layers (each writes only the record, never the target) ---------------- */

/* Puts (or replaces) the window's overlay. Creates the record on first use,
 * adopting what the target runs as the original. */
int quay_composer_set_overlay(struct k8s_client *c, const struct quay_target_ref *t,
                              const struct quay_overlay *o, struct k8s_error *err);
/* Removes the window's overlay; *removed (optional) says whether it had one. */
int quay_composer_remove_overlay(struct k8s_client *c, const struct quay_target_ref *t,
                                 const char *window, int *removed, struct k8s_error *err);
/*
 * Sets the base: `base` NULL (or equal to the original) means the original
 * again; otherwise it is stored as an immutable Secret
 * `<target>-qso-base-<hash>` owned by the target, and the record points at
 * it. A QuayRegistry whose objectstorage component is managed refuses a
 * base whose storage keys differ from the original's (K8S_EINVALID).
 */
int quay_composer_set_base(struct k8s_client *c, const struct quay_target_ref *t,
                           const struct quay_bundle *base, struct k8s_error *err);

/* The record (a copy: free with quay_state_free); K8S_ENOTFOUND if none. */
int quay_composer_read_state(struct k8s_client *c, const struct quay_target_ref *t,
                             struct quay_state **out, struct k8s_error *err);

/* ---- the step --------------------------------------------------------------------- */

/* One reconcile of the target's configuration; `opts` may be NULL. */
int quay_composer_step(struct k8s_client *c, const struct quay_target_ref *t,
                       const struct quay_step_opts *opts, struct quay_step_result *res,
                       struct k8s_error *err);

/* ---- break-glass ------------------------------------------------------------------------ */

struct quay_restore_report {
    char original_name[QUAY_NAME_MAX + 1];
    char original_sha[65];
    char previous_name[QUAY_NAME_MAX + 1]; /* what the target referenced before */
    char previous_sha[65];
    int components_restored;   /* QuayRegistry: spec.components put back */
    int components_absent;     /* ... as absent (the original had none) */
    int data_restored;         /* StandaloneQuay: the Secret's data put back */
    size_t deployments_scaled; /* StandaloneQuay: Deployments given their replicas back */
    /* StandaloneQuay: Deployments the record names that no longer exist
     * (skipped: nothing to restart or scale), comma-separated. */
    char deployments_missing[512];
    size_t overlays_kept; /* overlays kept in the record for audit, no longer applied */
    int forced;           /* the original's data had changed and --force was given */
    int no_record;        /* no state record: only spec.readOnly was released */
    int needs_force;      /* refused: the original changed and --force was not given */
    int record_marked;    /* the state record is marked restored (the operator stands down) */
    /* QuayRegistry: the windows whose hold on spec.readOnly was released
     * ("" none), and the value put back ("absent", "true", "false"). */
    char readonly_released[256];
    char readonly_previous[8];
    int readonly_rc;           /* releasing spec.readOnly failed with this code (0: it did not) */
    char readonly_error[1024]; /* ... and this message */
};

/*
 * Puts the user's original back without the operator (the `restore`
 * subcommand): QuayRegistry spec.configBundleSecret = the original and
 * spec.components = the original's, verbatim; StandaloneQuay: the backup's
 * data into the config Secret and the replicas recorded before a ScaleDown.
 * Refuses (K8S_EINVALID) when the original's data no longer has its
 * recorded sha256, unless `force`. Marks the record restored first, so a
 * running operator stops changing the target (its steps report Blocked,
 * reason RestoredByHand, until the record is deleted). A QuayRegistry's
 * spec.readOnly held by ReadOnly windows (quay_readonly_spec.h) is released
 * too, even without a state record, and marked so that windows leave it
 * alone until a person removes the mark.
 */
int quay_composer_restore(struct k8s_client *c, const struct quay_target_ref *t, int force,
                          const char *by, struct quay_restore_report *rep, struct k8s_error *err);

#endif
