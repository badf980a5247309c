/*
 * A QuayRegistry's own spec.readOnly (Quay Operator 3.19, quay/quay-operator
 * PR #1325) as ReadOnly windows hold it. Bookkeeping lives on the
 * QuayRegistry, changed in the same resourceVersion-tested JSON patch as
 * spec.readOnly (all or nothing), so a restart at any moment finds it true:
 *   quaystorage.io/readonly-windows   "a,b"  the windows holding it
 *   quaystorage.io/readonly-previous  "absent" | "true" | "false": the value
 *                                     before the first holder, put back when
 *                                     the last one lets go.
 * Shared by the ReadOnlyWindow reconciler (controller/ctl_readonlywindow_spec.c:
 * detection and confirmation) and the break-glass `restore`, which lets go of
 * every holder at once.
 */
#ifndef QSO_QUAY_READONLY_SPEC_H
#define QSO_QUAY_READONLY_SPEC_H

#include <stddef.h>

#include "k8s_client.h"

#define QUAY_ANN_RO_HOLDERS  "quaystorage.io/readonly-windows"
#define QUAY_ANN_RO_PREVIOUS "quaystorage.io/readonly-previous"
/* Set by a break-glass release ("<RFC 3339 time> by <who>"): windows leave
 * spec.readOnly alone until a person removes it. */
#define QUAY_ANN_RO_RESTORED "quaystorage.io/readonly-restored"

/* The holders recorded on the QuayRegistry ("" when none, or when it is
 * gone) and, when `restored` is not NULL, its QUAY_ANN_RO_RESTORED value
 * ("" when absent). */
int quay_ro_spec_holders(struct k8s_client *c, const char *ns, const char *name, char *holders,
                         size_t cap, char *restored, size_t restored_cap, struct k8s_error *err);

/* Whether the comma-separated `holders` lists `name`. */
int quay_ro_spec_holders_has(const char *holders, const char *name);

/*
 * Makes `holders` the recorded holders: the first one sets spec.readOnly
 * true (remembering what was there), "" puts back what was there and removes
 * both annotations; otherwise only the list changes. No request when nothing
 * changes. *previous (may be NULL) receives the value the last holder puts
 * back ("absent", "true", "false"; "" when not releasing). K8S_ECONFLICT when
 * the QuayRegistry changed meanwhile (re-read and decide again).
 */
int quay_ro_spec_set_holders(struct k8s_client *c, const char *ns, const char *name,
                             const char *holders, char *previous, size_t previous_cap,
                             struct k8s_error *err);

/*
 * Break glass (`restore`): lets go of every holder at once, puts back the
 * value from before the first one, and marks the QuayRegistry with
 * QUAY_ANN_RO_RESTORED = "<now> by <by>" in the same patch. `released`
 * receives the holders let go ("" when there were none: then nothing is
 * changed), `previous` the value put back.
 */
int quay_ro_spec_release_by_hand(struct k8s_client *c, const char *ns, const char *name,
                                 const char *by, char *released, size_t released_cap,
                                 char *previous, size_t previous_cap, struct k8s_error *err);

#endif
