/*
 * quay_overlay: the typed overlays a ReadOnlyWindow puts on a target, and
 * the PURE composition of a base bundle with the active overlays.
 *
 * DESIGN.md, "the one mechanism": a target's configuration is always
 * rendered as compose(base, overlays). The base is the user's original
 * bundle or the one a migration cut over to; each active window contributes
 * one overlay. Because the rendered bundle is recomputed from the base every
 * time, ending a window (dropping its overlay) restores exactly the base's
 * keys — including a base that a cutover changed while the window was on —
 * and no reconciler ever has to "undo" another one's edit.
 *
 * Modes and their strength: ScaleDown > ReadOnly > DisablePushes. The
 * effective mode is the strongest active one. Config edits come from the
 * strongest CONFIG mode active (ReadOnly, else DisablePushes), and a
 * ScaleDown adds its component overrides on top, so scaled-down pods that
 * come back (or are started by hand) are still protected and the bundle does
 * not churn while the registry is down.
 *   DisablePushes: DISABLE_PUSHES: true (Quay >= 3.13; the caller checks).
 *   ReadOnly:      REGISTRY_STATE: readonly, INSTANCE_SERVICE_KEY_KID_LOCATION
 *                  and INSTANCE_SERVICE_KEY_LOCATION pointing at
 *                  conf/stack/<key_name>.kid/.pem, and those two files added
 *                  to the bundle (the key must already be registered in
 *                  Quay's database: the caller's job).
 *   ScaleDown:     no config edit; the render asks for the HPA component to
 *                  be unmanaged and replicas 0 for the listed components.
 * Overlays touch only these keys. Several overlays of one mode: the one
 * activated first (then by window name) supplies the ReadOnly service key;
 * ScaleDown components are the union. The result never depends on the order
 * the overlays are given in.
 */
#ifndef QSO_QUAY_OVERLAY_H
#define QSO_QUAY_OVERLAY_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "k8s_error.h"
#include "quay_bundle.h"

enum quay_mode {
    QUAY_MODE_NONE = 0,
    QUAY_MODE_DISABLE_PUSHES = 1,
    QUAY_MODE_READ_ONLY = 2,
    QUAY_MODE_SCALE_DOWN = 3,
};

/* The CR spelling ("DisablePushes", "ReadOnly", "ScaleDown"; "" for NONE). */
const char *quay_mode_name(enum quay_mode m);
/* QUAY_MODE_NONE when `s` is not a mode name. */
enum quay_mode quay_mode_parse(const char *s);

#define QUAY_COMPONENT_QUAY     0x1u
#define QUAY_COMPONENT_CLAIR    0x2u
#define QUAY_COMPONENT_MIRROR   0x4u
#define QUAY_COMPONENTS_DEFAULT (QUAY_COMPONENT_QUAY | QUAY_COMPONENT_CLAIR | QUAY_COMPONENT_MIRROR)

#define QUAY_OVERLAY_MAX_WINDOW  253
#define QUAY_OVERLAY_MAX_KEYNAME 63
#define QUAY_OVERLAY_MAX_KID     128
#define QUAY_OVERLAY_MAX_PEM     16384
/* Where Quay's container finds bundle files (its config directory). */
#define QUAY_CONF_DIR "conf/stack/"

struct quay_overlay {
    enum quay_mode mode;
    char window[QUAY_OVERLAY_MAX_WINDOW + 1]; /* the owner; unique per target */
    long long since;                          /* activation time, Unix seconds */
    /* ReadOnly */
    char key_name[QUAY_OVERLAY_MAX_KEYNAME + 1]; /* bundle keys <key_name>.kid/.pem */
    char kid[QUAY_OVERLAY_MAX_KID + 1];
    unsigned char *pem; /* the service key's private key (secret) */
    size_t pem_len;
    /* ScaleDown */
    unsigned components;
};

struct quay_overlay *quay_overlay_disable_pushes_new(const char *window, long long since,
                                                     struct k8s_error *err);
struct quay_overlay *quay_overlay_read_only_new(const char *window, long long since,
                                                const char *key_name, const char *kid,
                                                const void *pem, size_t pem_len,
                                                struct k8s_error *err);
struct quay_overlay *quay_overlay_scale_down_new(const char *window, long long since,
                                                 unsigned components, struct k8s_error *err);
struct quay_overlay *quay_overlay_clone(const struct quay_overlay *o);
/* Wipes the private key before freeing. */
void quay_overlay_free(struct quay_overlay *o);

/* For the per-target state Secret: {"mode","window","since",...} with the
 * PEM base64-encoded. The JSON holds a secret: store it only in a Secret. */
int quay_overlay_to_json(const struct quay_overlay *o, cJSON **out, struct k8s_error *err);
int quay_overlay_from_json(const cJSON *j, struct quay_overlay **out, struct k8s_error *err);

struct quay_render {
    struct quay_bundle *bundle; /* the rendered bundle (owned; quay_render_clear frees) */
    enum quay_mode effective_mode;
    char mode_window[QUAY_OVERLAY_MAX_WINDOW + 1]; /* the overlay giving it */
    enum quay_mode config_mode;                    /* NONE, DISABLE_PUSHES or READ_ONLY */
    char config_window[QUAY_OVERLAY_MAX_WINDOW + 1];
    unsigned scale_down_components; /* 0: no ScaleDown active */
};

/*
 * base + overlays -> render. Pure: reads only its arguments, and
 * compose(base, {}) is a byte-for-byte copy of base. Fails (K8S_EARG) on two
 * overlays of the same window, and with the bundle's errors when the base
 * cannot take an edit (e.g. DISABLE_PUSHES defined in two partials), or when
 * a ReadOnly key file would overwrite a different file of the base.
 */
int quay_compose(const struct quay_bundle *base, const struct quay_overlay *const *overlays,
                 size_t n, struct quay_render *out, struct k8s_error *err);
void quay_render_clear(struct quay_render *r);

#endif
