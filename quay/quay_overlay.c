/*
 * quay_overlay: typed overlays and the pure composer (see quay_overlay.h).
 *
 * The composer copies the base, picks for each aspect (config edits,
 * scale-down) the winning overlay with a total order that ignores input
 * order (mode strength, then activation time, then window name), and applies
 * only that overlay's keys through quay_bundle's typed edits.
 */
#include "quay_overlay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

static const char *const mode_names[] = {"", "DisablePushes", "ReadOnly", "ScaleDown"};

const char *quay_mode_name(enum quay_mode m)
{
    return (unsigned)m < sizeof(mode_names) / sizeof(mode_names[0]) ? mode_names[m] : "";
}

enum quay_mode quay_mode_parse(const char *s)
{
    for (int m = QUAY_MODE_DISABLE_PUSHES; m <= QUAY_MODE_SCALE_DOWN; m++)
        if (s && strcmp(s, mode_names[m]) == 0)
            return (enum quay_mode)m;
    return QUAY_MODE_NONE;
}

/* ---- overlays ---------------------------------------------------------------------- */

static int name_chars_ok(const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return 0;
    }
    return 1;
}

static struct quay_overlay *overlay_alloc(enum quay_mode mode, const char *window, long long since,
                                          struct k8s_error *err)
{
    if (!name_chars_ok(window, QUAY_OVERLAY_MAX_WINDOW)) {
        k8s_error_set(err, K8S_EARG, "\"%s\" is not a usable window name", window ? window : "");
        return NULL;
    }
    struct quay_overlay *o = calloc(1, sizeof(*o));
    if (!o) {
        k8s_error_set(err, K8S_ENOMEM, "out of memory");
        return NULL;
    }
    o->mode = mode;
    o->since = since;
    snprintf(o->window, sizeof(o->window), "%s", window);
    return o;
}

struct quay_overlay *quay_overlay_disable_pushes_new(const char *window, long long since,
                                                     struct k8s_error *err)
{
    return overlay_alloc(QUAY_MODE_DISABLE_PUSHES, window, since, err);
}

struct quay_overlay *quay_overlay_read_only_new(const char *window, long long since,
                                                const char *key_name, const char *kid,
                                                const void *pem, size_t pem_len,
                                                struct k8s_error *err)
{
    /* The key name becomes two bundle keys and two paths in config.yaml. */
    if (!name_chars_ok(key_name, QUAY_OVERLAY_MAX_KEYNAME) || key_name[0] == '.') {
        k8s_error_set(err, K8S_EARG, "\"%s\" is not a usable service key name",
                      key_name ? key_name : "");
        return NULL;
    }
    size_t kl = kid ? strlen(kid) : 0;
    for (size_t i = 0; i < kl; i++)
        if (kid[i] <= ' ' || kid[i] > '~')
            kl = 0;
    if (kl == 0 || kl > QUAY_OVERLAY_MAX_KID) {
        k8s_error_set(err, K8S_EARG, "a ReadOnly overlay needs a printable service key ID");
        return NULL;
    }
    if (!pem || pem_len == 0 || pem_len > QUAY_OVERLAY_MAX_PEM) {
        k8s_error_set(err, K8S_EARG, "a ReadOnly overlay needs the service key (PEM)");
        return NULL;
    }
    struct quay_overlay *o = overlay_alloc(QUAY_MODE_READ_ONLY, window, since, err);
    if (!o)
        return NULL;
    snprintf(o->key_name, sizeof(o->key_name), "%s", key_name);
    snprintf(o->kid, sizeof(o->kid), "%s", kid);
    o->pem = malloc(pem_len);
    if (!o->pem) {
        quay_overlay_free(o);
        k8s_error_set(err, K8S_ENOMEM, "out of memory");
        return NULL;
    }
    memcpy(o->pem, pem, pem_len);
    o->pem_len = pem_len;
    return o;
}

struct quay_overlay *quay_overlay_scale_down_new(const char *window, long long since,
                                                 unsigned components, struct k8s_error *err)
{
    if (components == 0 || (components & ~QUAY_COMPONENTS_DEFAULT)) {
        k8s_error_set(err, K8S_EARG,
                      "a ScaleDown overlay needs components among quay, clair "
                      "and mirror");
        return NULL;
    }
    struct quay_overlay *o = overlay_alloc(QUAY_MODE_SCALE_DOWN, window, since, err);
    if (o)
        o->components = components;
    return o;
}

void quay_overlay_free(struct quay_overlay *o)
{
    if (!o)
        return;
    if (o->pem) {
        OPENSSL_cleanse(o->pem, o->pem_len);
        free(o->pem);
    }
    free(o);
}

struct quay_overlay *quay_overlay_clone(const struct quay_overlay *o)
{
    struct quay_overlay *c = malloc(sizeof(*c));
    if (!c)
        return NULL;
    *c = *o;
    c->pem = NULL;
    if (o->pem) {
        c->pem = malloc(o->pem_len);
        if (!c->pem) {
            free(c);
            return NULL;
        }
        memcpy(c->pem, o->pem, o->pem_len);
    }
    return c;
}

int quay_overlay_to_json(const struct quay_overlay *o, cJSON **out, struct k8s_error *err)
{
    int rc = 0;
    char *enc = NULL;
    cJSON *j = cJSON_CreateObject();
    *out = NULL;
    if (!j || !cJSON_AddStringToObject(j, "mode", quay_mode_name(o->mode)) ||
        !cJSON_AddStringToObject(j, "window", o->window) ||
        !cJSON_AddNumberToObject(j, "since", (double)o->since))
        goto oom;
    if (o->mode == QUAY_MODE_READ_ONLY) {
        enc = malloc((o->pem_len + 2) / 3 * 4 + 1);
        if (!enc)
            goto oom;
        EVP_EncodeBlock((unsigned char *)enc, o->pem, (int)o->pem_len);
        if (!cJSON_AddStringToObject(j, "keyName", o->key_name) ||
            !cJSON_AddStringToObject(j, "kid", o->kid) || !cJSON_AddStringToObject(j, "pem", enc))
            goto oom;
    }
    if (o->mode == QUAY_MODE_SCALE_DOWN) {
        cJSON *arr = cJSON_AddArrayToObject(j, "components");
        static const struct {
            unsigned bit;
            const char *name;
        } comps[] = {{QUAY_COMPONENT_QUAY, "quay"},
                     {QUAY_COMPONENT_CLAIR, "clair"},
                     {QUAY_COMPONENT_MIRROR, "mirror"}};
        if (!arr)
            goto oom;
        for (size_t i = 0; i < 3; i++) {
            if (!(o->components & comps[i].bit))
                continue;
            cJSON *s = cJSON_CreateString(comps[i].name);
            if (!s || !cJSON_AddItemToArray(arr, s)) {
                cJSON_Delete(s);
                goto oom;
            }
        }
    }
    *out = j;
    j = NULL;
    goto out;
oom:
    rc = k8s_error_set(err, K8S_ENOMEM, "out of memory");
out:
    if (enc) {
        OPENSSL_cleanse(enc, strlen(enc));
        free(enc);
    }
    cJSON_Delete(j);
    return rc;
}

int quay_overlay_from_json(const cJSON *j, struct quay_overlay **out, struct k8s_error *err)
{
    *out = NULL;
    const char *mode = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "mode"));
    const char *window = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "window"));
    const cJSON *since = cJSON_GetObjectItemCaseSensitive(j, "since");
    if (!cJSON_IsNumber(since) || since->valuedouble < 0 || since->valuedouble > 1e15)
        return k8s_error_set(err, K8S_EDECODE, "an overlay record has no valid \"since\"");
    long long t = (long long)since->valuedouble;
    switch (quay_mode_parse(mode)) {
    case QUAY_MODE_DISABLE_PUSHES:
        *out = quay_overlay_disable_pushes_new(window, t, err);
        break;
    case QUAY_MODE_READ_ONLY: {
        const char *key = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "keyName"));
        const char *kid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "kid"));
        const char *pem = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "pem"));
        size_t n = pem ? strlen(pem) : 0;
        if (!pem || n == 0 || n % 4 || n / 4 * 3 > QUAY_OVERLAY_MAX_PEM + 3)
            return k8s_error_set(err, K8S_EDECODE, "a ReadOnly overlay record has no valid pem");
        unsigned char *buf = malloc(n / 4 * 3 + 1);
        if (!buf)
            return k8s_error_set(err, K8S_ENOMEM, "out of memory");
        int m = EVP_DecodeBlock(buf, (const unsigned char *)pem, (int)n);
        if (m >= 0 && pem[n - 1] == '=')
            m--;
        if (m >= 0 && n > 1 && pem[n - 2] == '=')
            m--;
        if (m > 0)
            *out = quay_overlay_read_only_new(window, t, key, kid, buf, (size_t)m, err);
        else
            k8s_error_set(err, K8S_EDECODE, "a ReadOnly overlay record has no valid pem");
        OPENSSL_cleanse(buf, n / 4 * 3 + 1);
        free(buf);
        break;
    }
    case QUAY_MODE_SCALE_DOWN: {
        unsigned comps = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(j, "components"))
        {
            const char *s = cJSON_GetStringValue(it);
            if (s && strcmp(s, "quay") == 0)
                comps |= QUAY_COMPONENT_QUAY;
            else if (s && strcmp(s, "clair") == 0)
                comps |= QUAY_COMPONENT_CLAIR;
            else if (s && strcmp(s, "mirror") == 0)
                comps |= QUAY_COMPONENT_MIRROR;
            else
                return k8s_error_set(err, K8S_EDECODE, "unknown ScaleDown component");
        }
        *out = quay_overlay_scale_down_new(window, t, comps, err);
        break;
    }
    default:
        return k8s_error_set(err, K8S_EDECODE, "an overlay record has an unknown mode");
    }
    return *out ? 0 : (err && err->code ? err->code : K8S_EDECODE);
}

/* ---- composition ----------------------------------------------------------------------- */

/* The total order that makes composition independent of input order: the
 * first activated wins, ties broken by window name. */
static int earlier(const struct quay_overlay *a, const struct quay_overlay *b)
{
    if (a->since != b->since)
        return a->since < b->since;
    return strcmp(a->window, b->window) < 0;
}

void quay_render_clear(struct quay_render *r)
{
    if (!r)
        return;
    quay_bundle_free(r->bundle);
    memset(r, 0, sizeof(*r));
}

/* Adds a service-key file unless the base holds a different file there. */
static int put_key_file(struct quay_bundle *b, const char *key, const void *data, size_t len,
                        struct k8s_error *err)
{
    size_t have_len;
    const unsigned char *have = quay_bundle_get(b, key, &have_len);
    if (have && (have_len != len || memcmp(have, data, len) != 0))
        return k8s_error_set(err, K8S_ECONFLICT,
                             "the bundle already has a different file %s; choose another service "
                             "key name",
                             key);
    return have ? 0 : quay_bundle_put(b, key, data, len, err);
}

static int apply_read_only(struct quay_bundle *b, const struct quay_overlay *o,
                           struct k8s_error *err)
{
    char kid_key[QUAY_OVERLAY_MAX_KEYNAME + 8], pem_key[QUAY_OVERLAY_MAX_KEYNAME + 8];
    char kid_path[sizeof(kid_key) + sizeof(QUAY_CONF_DIR)];
    char pem_path[sizeof(pem_key) + sizeof(QUAY_CONF_DIR)];
    int rc;
    snprintf(kid_key, sizeof(kid_key), "%s.kid", o->key_name);
    snprintf(pem_key, sizeof(pem_key), "%s.pem", o->key_name);
    snprintf(kid_path, sizeof(kid_path), "%s%s", QUAY_CONF_DIR, kid_key);
    snprintf(pem_path, sizeof(pem_path), "%s%s", QUAY_CONF_DIR, pem_key);
    if ((rc = put_key_file(b, kid_key, o->kid, strlen(o->kid), err)) ||
        (rc = put_key_file(b, pem_key, o->pem, o->pem_len, err)) ||
        (rc = quay_bundle_set_string(b, QUAY_KEY_REGISTRY_STATE, "readonly", err)) ||
        (rc = quay_bundle_set_string(b, QUAY_KEY_SERVICE_KEY_KID, kid_path, err)) ||
        (rc = quay_bundle_set_string(b, QUAY_KEY_SERVICE_KEY, pem_path, err)))
        return rc;
    return 0;
}

int quay_compose(const struct quay_bundle *base, const struct quay_overlay *const *overlays,
                 size_t n, struct quay_render *out, struct k8s_error *err)
{
    int rc;
    const struct quay_overlay *strongest = NULL, *config = NULL;
    memset(out, 0, sizeof(*out));

    for (size_t i = 0; i < n; i++) {
        const struct quay_overlay *o = overlays[i];
        if (!o || o->mode < QUAY_MODE_DISABLE_PUSHES || o->mode > QUAY_MODE_SCALE_DOWN)
            return k8s_error_set(err, K8S_EARG, "overlay %zu has no valid mode", i);
        for (size_t k = 0; k < i; k++)
            if (strcmp(overlays[k]->window, o->window) == 0)
                return k8s_error_set(err, K8S_EARG, "two overlays belong to window %s", o->window);
        if (!strongest || o->mode > strongest->mode ||
            (o->mode == strongest->mode && earlier(o, strongest)))
            strongest = o;
        if (o->mode == QUAY_MODE_SCALE_DOWN) {
            out->scale_down_components |= o->components;
            continue;
        }
        if (!config || o->mode > config->mode || (o->mode == config->mode && earlier(o, config)))
            config = o;
    }

    if ((rc = quay_bundle_clone(base, &out->bundle))) {
        rc = k8s_error_set(err, rc, "out of memory copying the base bundle");
        goto out;
    }
    if (config && config->mode == QUAY_MODE_DISABLE_PUSHES)
        rc = quay_bundle_set_bool(out->bundle, QUAY_KEY_DISABLE_PUSHES, 1, err);
    else if (config && config->mode == QUAY_MODE_READ_ONLY)
        rc = apply_read_only(out->bundle, config, err);
    if (rc)
        goto out;

    if (strongest) {
        out->effective_mode = strongest->mode;
        snprintf(out->mode_window, sizeof(out->mode_window), "%s", strongest->window);
    }
    if (config) {
        out->config_mode = config->mode;
        snprintf(out->config_window, sizeof(out->config_window), "%s", config->window);
    }
out:
    if (rc)
        quay_render_clear(out);
    return rc;
}
