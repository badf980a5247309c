/*
 * Tests of overlays and the pure composer (quay/quay_overlay.c): the empty
 * composition is the base byte for byte; each mode touches only its keys;
 * the strongest mode wins; the result does not depend on the order the
 * overlays come in (every permutation, and random subsets); removing an
 * overlay gives exactly compose(base, the rest); and a cutover that changed
 * the base under an active window survives the window's end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "k8s_error.h"
#include "quay_bundle.h"
#include "quay_overlay.h"
#include "quay_yaml.h"

static const char base_config[] = "SERVER_HOSTNAME: quay.example.com\n"
                                  "FEATURE_PROXY_STORAGE: yes\n"
                                  "PORT_AS_STRING: \"443\"\n"
                                  "DISTRIBUTED_STORAGE_CONFIG:\n"
                                  "  default:\n"
                                  "  - RHOCSStorage\n"
                                  "  - access_key: A\n"
                                  "    bucket_name: quay-bucket\n"
                                  "    hostname: s3.odf\n"
                                  "    is_secure: true\n"
                                  "    port: \"443\"\n"
                                  "    secret_key: S\n"
                                  "    storage_path: /datastorage/registry\n"
                                  "DISTRIBUTED_STORAGE_DEFAULT_LOCATIONS: []\n"
                                  "DISTRIBUTED_STORAGE_PREFERENCE:\n"
                                  "- default\n";

static const char pem[] = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIFAKE\n"
                          "-----END PRIVATE KEY-----\n";

static struct quay_bundle *base_bundle(void)
{
    struct quay_bundle *b = quay_bundle_new(QUAY_BUNDLE_OPERATOR, NULL);
    struct k8s_error err;
    assert_non_null(b);
    assert_int_equal(quay_bundle_put(b, "config.yaml", base_config, strlen(base_config), &err), 0);
    assert_int_equal(quay_bundle_put(b, "extra_ca_cert_s3.crt", "CA", 2, &err), 0);
    return b;
}

static struct quay_yaml_doc *config_of(const struct quay_bundle *b)
{
    size_t len;
    const unsigned char *d = quay_bundle_get(b, "config.yaml", &len);
    struct quay_yaml_doc *doc = NULL;
    struct k8s_error err;
    assert_non_null(d);
    assert_int_equal(quay_yaml_parse((const char *)d, len, "config.yaml", &doc, &err), 0);
    return doc;
}

static int in_list(const char *key, const char *const *keys)
{
    for (; keys && *keys; keys++)
        if (strcmp(key, *keys) == 0)
            return 1;
    return 0;
}

/* The render differs from the base only in the listed config keys and the
 * listed bundle keys. */
static void only_changed(const struct quay_bundle *base, const struct quay_bundle *out,
                         const char *const *config_keys, const char *const *bundle_keys)
{
    for (size_t i = 0; i < base->n; i++) {
        const char *k = base->entries[i].key;
        if (strcmp(k, "config.yaml") == 0 || in_list(k, bundle_keys))
            continue;
        size_t len;
        const unsigned char *d = quay_bundle_get(out, k, &len);
        assert_non_null(d);
        assert_int_equal(len, base->entries[i].len);
        assert_memory_equal(d, base->entries[i].data, len);
    }
    for (size_t i = 0; i < out->n; i++)
        if (!quay_bundle_get(base, out->entries[i].key, NULL) &&
            !in_list(out->entries[i].key, bundle_keys))
            fail_msg("unexpected new bundle key %s", out->entries[i].key);
    struct quay_yaml_doc *a = config_of(base), *b = config_of(out);
    for (size_t i = 0; i + 1 < a->root->nitems; i += 2) {
        const struct quay_yaml_node *k = a->root->items[i];
        if (in_list(k->value, config_keys))
            continue;
        assert_true(quay_yaml_node_equal(k, b->root->items[i])); /* same position */
        assert_true(quay_yaml_node_equal(a->root->items[i + 1], b->root->items[i + 1]));
    }
    for (size_t i = 0; i + 1 < b->root->nitems; i += 2)
        if (!quay_yaml_map_get(a->root, b->root->items[i]->value) &&
            !in_list(b->root->items[i]->value, config_keys))
            fail_msg("unexpected new config key %s", b->root->items[i]->value);
    quay_yaml_doc_free(a);
    quay_yaml_doc_free(b);
}

static struct quay_overlay *dp(const char *w, long long t)
{
    return quay_overlay_disable_pushes_new(w, t, NULL);
}

static struct quay_overlay *ro(const char *w, long long t, const char *key)
{
    return quay_overlay_read_only_new(w, t, key,
                                      "kid-of-"
                                      "key",
                                      pem, sizeof(pem) - 1, NULL);
}

static struct quay_overlay *sd(const char *w, long long t, unsigned comps)
{
    return quay_overlay_scale_down_new(w, t, comps, NULL);
}

static void compose_ok(const struct quay_bundle *base, struct quay_overlay *const *ov, size_t n,
                       struct quay_render *r)
{
    struct k8s_error err;
    if (quay_compose(base, (const struct quay_overlay *const *)ov, n, r, &err))
        fail_msg("compose: %s", err.message);
}

static void same_render(const struct quay_render *a, const struct quay_render *b)
{
    assert_true(quay_bundle_equal(a->bundle, b->bundle));
    assert_int_equal(a->effective_mode, b->effective_mode);
    assert_string_equal(a->mode_window, b->mode_window);
    assert_int_equal(a->config_mode, b->config_mode);
    assert_string_equal(a->config_window, b->config_window);
    assert_int_equal(a->scale_down_components, b->scale_down_components);
}

/* ---- single overlays ------------------------------------------------------------- */

static void test_no_overlays_is_the_base_byte_for_byte(void **state)
{
    (void)state;
    struct quay_bundle *base = base_bundle();
    struct quay_render r;
    compose_ok(base, NULL, 0, &r);
    assert_true(quay_bundle_equal(base, r.bundle));
    char h1[65], h2[65];
    quay_bundle_sha256_hex(base, h1);
    quay_bundle_sha256_hex(r.bundle, h2);
    assert_string_equal(h1, h2);
    assert_int_equal(r.effective_mode, QUAY_MODE_NONE);
    assert_int_equal(r.scale_down_components, 0);
    quay_render_clear(&r);
    quay_bundle_free(base);
}

static void test_disable_pushes_touches_only_its_key(void **state)
{
    (void)state;
    struct quay_bundle *base = base_bundle();
    struct quay_overlay *o = dp("window-a", 100);
    struct quay_render r;
    compose_ok(base, &o, 1, &r);
    static const char *const keys[] = {QUAY_KEY_DISABLE_PUSHES, NULL};
    only_changed(base, r.bundle, keys, NULL);
    int v, present;
    assert_int_equal(quay_bundle_get_bool(r.bundle, QUAY_KEY_DISABLE_PUSHES, &v, &present, NULL),
                     0);
    assert_true(present && v);
    assert_int_equal(r.effective_mode, QUAY_MODE_DISABLE_PUSHES);
    assert_string_equal(r.config_window, "window-a");
    quay_render_clear(&r);
    quay_overlay_free(o);
    quay_bundle_free(base);
}

static void test_disable_pushes_already_set_keeps_bytes(void **state)
{
    (void)state;
    struct quay_bundle *base = quay_bundle_new(QUAY_BUNDLE_OPERATOR, NULL);
    const char *cfg = "# a comment that must survive\nDISABLE_PUSHES: True\n";
    assert_int_equal(quay_bundle_put(base, "config.yaml", cfg, strlen(cfg), NULL), 0);
    struct quay_overlay *o = dp("w", 1);
    struct quay_render r;
    compose_ok(base, &o, 1, &r);
    assert_true(quay_bundle_equal(base, r.bundle));
    quay_render_clear(&r);
    quay_overlay_free(o);
    quay_bundle_free(base);
}

static void test_read_only_sets_state_key_paths_and_key_files(void **state)
{
    (void)state;
    struct quay_bundle *base = base_bundle();
    struct quay_overlay *o = ro("maintenance", 5, "quay-readonly");
    struct quay_render r;
    compose_ok(base, &o, 1, &r);
    static const char *const keys[] = {QUAY_KEY_REGISTRY_STATE, QUAY_KEY_SERVICE_KEY_KID,
                                       QUAY_KEY_SERVICE_KEY, NULL};
    static const char *const files[] = {"quay-readonly.kid", "quay-readonly.pem", NULL};
    only_changed(base, r.bundle, keys, files);
    char s[128];
    int present;
    assert_int_equal(
        quay_bundle_get_string(r.bundle, QUAY_KEY_REGISTRY_STATE, s, sizeof(s), &present, NULL), 0);
    assert_string_equal(s, "readonly");
    assert_int_equal(
        quay_bundle_get_string(r.bundle, QUAY_KEY_SERVICE_KEY_KID, s, sizeof(s), &present, NULL),
        0);
    assert_string_equal(s, "conf/stack/quay-readonly.kid");
    assert_int_equal(
        quay_bundle_get_string(r.bundle, QUAY_KEY_SERVICE_KEY, s, sizeof(s), &present, NULL), 0);
    assert_string_equal(s, "conf/stack/quay-readonly.pem");
    size_t len;
    assert_string_equal((const char *)quay_bundle_get(r.bundle, "quay-readonly.kid", &len),
                        "kid-of-key");
    assert_memory_equal(quay_bundle_get(r.bundle, "quay-readonly.pem", &len), pem, sizeof(pem) - 1);
    assert_int_equal(r.effective_mode, QUAY_MODE_READ_ONLY);
    quay_render_clear(&r);
    quay_overlay_free(o);
    quay_bundle_free(base);
}

static void test_read_only_refuses_to_overwrite_a_different_file(void **state)
{
    (void)state;
    struct quay_bundle *base = base_bundle();
    assert_int_equal(quay_bundle_put(base, "quay-readonly.pem", "user's own", 10, NULL), 0);
    struct quay_overlay *o = ro("w", 1, "quay-readonly");
    struct quay_render r;
    struct k8s_error err;
    assert_int_equal(quay_compose(base, (const struct quay_overlay *const *)&o, 1, &r, &err),
                     K8S_ECONFLICT);
    assert_null(r.bundle);
    assert_non_null(strstr(err.message, "quay-readonly.pem"));
    quay_overlay_free(o);
    quay_bundle_free(base);
}

static void test_scale_down_asks_for_overrides_and_keeps_weaker_config(void **state)
{
    (void)state;
    struct quay_bundle *base = base_bundle();
    struct quay_overlay *ov[] = {sd("backup", 10, QUAY_COMPONENT_QUAY),
                                 sd("upgrade", 20, QUAY_COMPONENT_CLAIR | QUAY_COMPONENT_MIRROR),
                                 dp("cutover", 30)};
    struct quay_render r;
    compose_ok(base, ov, 2, &r);
    assert_true(quay_bundle_equal(base, r.bundle)); /* ScaleDown alone edits no config */
    assert_int_equal(r.effective_mode, QUAY_MODE_SCALE_DOWN);
    assert_string_equal(r.mode_window, "backup");
    assert_int_equal(r.scale_down_components, QUAY_COMPONENTS_DEFAULT);
    quay_render_clear(&r);
    compose_ok(base, ov, 3, &r);
    assert_int_equal(r.effective_mode, QUAY_MODE_SCALE_DOWN);
    assert_int_equal(r.config_mode, QUAY_MODE_DISABLE_PUSHES);
    assert_string_equal(r.config_window, "cutover");
    quay_render_clear(&r);
    for (size_t i = 0; i < 3; i++)
        quay_overlay_free(ov[i]);
    quay_bundle_free(base);
}

static void test_strongest_config_mode_wins(void **state)
{
    (void)state;
    struct quay_bundle *base = base_bundle();
    struct quay_overlay *ov[] = {dp("a", 1), ro("b", 2, "kb"), ro("c", 1, "kc")};
    struct quay_render r;
    compose_ok(base, ov, 3, &r);
    assert_int_equal(r.effective_mode, QUAY_MODE_READ_ONLY);
    assert_int_equal(r.config_mode, QUAY_MODE_READ_ONLY);
    assert_string_equal(r.config_window, "c"); /* activated first */
    int v, present;
    assert_int_equal(quay_bundle_get_bool(r.bundle, QUAY_KEY_DISABLE_PUSHES, &v, &present, NULL),
                     0);
    assert_false(present); /* ReadOnly already blocks pushes: no extra key */
    assert_non_null(quay_bundle_get(r.bundle, "kc.pem", NULL));
    assert_null(quay_bundle_get(r.bundle, "kb.pem", NULL));
    quay_render_clear(&r);
    for (size_t i = 0; i < 3; i++)
        quay_overlay_free(ov[i]);
    quay_bundle_free(base);
}

static void test_invalid_overlays_are_refused(void **state)
{
    (void)state;
    struct k8s_error err;
    assert_null(quay_overlay_disable_pushes_new("bad name", 1, &err));
    assert_int_equal(err.code, K8S_EARG);
    assert_null(quay_overlay_read_only_new("w", 1, "../k", "kid", pem, 3, &err));
    assert_null(quay_overlay_read_only_new("w", 1, "k", "kid with space", pem, 3, &err));
    assert_null(quay_overlay_read_only_new("w", 1, "k", "kid", pem, 0, &err));
    assert_null(quay_overlay_scale_down_new("w", 1, 0, &err));
    assert_null(quay_overlay_scale_down_new("w", 1, 0x10, &err));

    struct quay_bundle *base = base_bundle();
    struct quay_overlay *ov[] = {dp("same", 1), sd("same", 2, QUAY_COMPONENT_QUAY)};
    struct quay_render r;
    assert_int_equal(quay_compose(base, (const struct quay_overlay *const *)ov, 2, &r, &err),
                     K8S_EARG);
    assert_non_null(strstr(err.message, "window same"));
    quay_overlay_free(ov[0]);
    quay_overlay_free(ov[1]);
    quay_bundle_free(base);
}

static void test_disable_pushes_in_a_partial_is_edited_there(void **state)
{
    (void)state;
    struct quay_bundle *base = base_bundle();
    const char *partial = "DISABLE_PUSHES: false\n";
    assert_int_equal(quay_bundle_put(base, "ops.config.yaml", partial, strlen(partial), NULL), 0);
    struct quay_overlay *o = dp("w", 1);
    struct quay_render r;
    compose_ok(base, &o, 1, &r);
    size_t len, blen;
    assert_string_equal((const char *)quay_bundle_get(r.bundle, "ops.config.yaml", &len),
                        "DISABLE_PUSHES: true\n");
    const unsigned char *c = quay_bundle_get(r.bundle, "config.yaml", &len);
    const unsigned char *bc = quay_bundle_get(base, "config.yaml", &blen);
    assert_int_equal(len, blen);
    assert_memory_equal(c, bc, len);
    quay_render_clear(&r);
    quay_overlay_free(o);
    quay_bundle_free(base);
}

/* ---- the algebra ------------------------------------------------------------------- */

static void swap(struct quay_overlay **a, struct quay_overlay **b)
{
    struct quay_overlay *t = *a;
    *a = *b;
    *b = t;
}

/* Heap's algorithm: every permutation of ov[0..k) composes to `want`. */
static size_t permute(const struct quay_bundle *base, struct quay_overlay **ov, size_t n, size_t k,
                      const struct quay_render *want)
{
    if (k == 1) {
        struct quay_render r;
        compose_ok(base, ov, n, &r);
        same_render(&r, want);
        quay_render_clear(&r);
        return 1;
    }
    size_t count = permute(base, ov, n, k - 1, want);
    for (size_t i = 0; i + 1 < k; i++) {
        swap(&ov[k % 2 == 0 ? i : 0], &ov[k - 1]);
        count += permute(base, ov, n, k - 1, want);
    }
    return count;
}

static void test_every_order_composes_the_same(void **state)
{
    (void)state;
    struct quay_bundle *base = base_bundle();
    struct quay_overlay *ov[] = {dp("a", 3), ro("b", 2, "kb"), ro("c", 2, "kc"),
                                 sd("d", 9, QUAY_COMPONENT_MIRROR), dp("e", 1)};
    struct quay_render want;
    compose_ok(base, ov, 5, &want);
    assert_int_equal(permute(base, ov, 5, 5, &want), 120);
    assert_string_equal(want.config_window, "b"); /* same time: by name */
    quay_render_clear(&want);
    for (size_t i = 0; i < 5; i++)
        quay_overlay_free(ov[i]);
    quay_bundle_free(base);
}

/* A small deterministic generator: tests must not depend on the clock. */
static uint32_t next_rand(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static void test_random_subsets_obey_the_algebra(void **state)
{
    (void)state;
    struct quay_bundle *base = base_bundle();
    enum { POOL = 8 };
    struct quay_overlay *pool[POOL] = {dp("w0", 5),
                                       dp("w1", 1),
                                       ro("w2", 7, "k2"),
                                       ro("w3", 3, "k3"),
                                       sd("w4", 2, QUAY_COMPONENT_QUAY),
                                       sd("w5", 8, QUAY_COMPONENT_CLAIR),
                                       dp("w6", 3),
                                       ro("w7", 3, "k7")};
    uint32_t seed = 0x9e3779b9u;
    for (int round = 0; round < 200; round++) {
        struct quay_overlay *set[POOL], *shuffled[POOL];
        size_t n = 0;
        for (size_t i = 0; i < POOL; i++)
            if (next_rand(&seed) & 1)
                set[n++] = pool[i];
        memcpy(shuffled, set, n * sizeof(set[0]));
        for (size_t i = n; i > 1; i--)
            swap(&shuffled[i - 1], &shuffled[next_rand(&seed) % i]);
        struct quay_render a, b;
        compose_ok(base, set, n, &a);
        compose_ok(base, shuffled, n, &b);
        same_render(&a, &b);
        /* Expected effective mode: the strongest in the set. */
        enum quay_mode strongest = QUAY_MODE_NONE;
        for (size_t i = 0; i < n; i++)
            if (set[i]->mode > strongest)
                strongest = set[i]->mode;
        assert_int_equal(a.effective_mode, strongest);
        /* Ending one window = composing without it, from the same base. */
        if (n > 0) {
            size_t drop = next_rand(&seed) % n;
            struct quay_overlay *rest[POOL];
            size_t m = 0;
            for (size_t i = 0; i < n; i++)
                if (i != drop)
                    rest[m++] = set[i];
            struct quay_render c;
            compose_ok(base, rest, m, &c);
            if (m == 0)
                assert_true(quay_bundle_equal(c.bundle, base));
            /* Whatever the dropped window changed is back to the base's:
             * only the keys of the remaining winning mode differ. */
            static const char *const dp_keys[] = {QUAY_KEY_DISABLE_PUSHES, NULL};
            static const char *const ro_keys[] = {QUAY_KEY_REGISTRY_STATE, QUAY_KEY_SERVICE_KEY_KID,
                                                  QUAY_KEY_SERVICE_KEY, NULL};
            static const char *const ro_files[] = {"k2.kid", "k2.pem", "k3.kid", "k3.pem",
                                                   "k7.kid", "k7.pem", NULL};
            if (c.config_mode == QUAY_MODE_READ_ONLY)
                only_changed(base, c.bundle, ro_keys, ro_files);
            else if (c.config_mode == QUAY_MODE_DISABLE_PUSHES)
                only_changed(base, c.bundle, dp_keys, NULL);
            else
                assert_true(quay_bundle_equal(c.bundle, base));
            quay_render_clear(&c);
        }
        /* Composing is deterministic. */
        struct quay_render d;
        compose_ok(base, set, n, &d);
        same_render(&a, &d);
        quay_render_clear(&a);
        quay_render_clear(&b);
        quay_render_clear(&d);
    }
    for (size_t i = 0; i < POOL; i++)
        quay_overlay_free(pool[i]);
    quay_bundle_free(base);
}

/* Window on; a migration cuts the base over; window off: the cut-over
 * storage stays, and nothing of the window does. */
static void test_cutover_under_a_window_survives_its_end(void **state)
{
    (void)state;
    struct quay_bundle *base = base_bundle(), *cut = NULL;
    struct k8s_error err;
    struct quay_overlay *w = ro("maintenance", 1, "quay-readonly");
    struct quay_render on;
    compose_ok(base, &w, 1, &on);

    assert_int_equal(quay_bundle_clone(base, &cut), 0);
    struct quay_yaml_doc *pd = NULL;
    const char *params = "host: s3.new\ns3_bucket: quay-new\ns3_access_key: K\ns3_secret_key: S";
    assert_int_equal(quay_yaml_parse(params, strlen(params), "p", &pd, &err), 0);
    assert_int_equal(quay_bundle_set_location(cut, "default", "S3Storage", pd->root, 0, &err), 0);

    struct quay_render during, after;
    compose_ok(cut, &w, 1, &during);
    struct quay_location *loc = NULL;
    assert_int_equal(quay_bundle_get_location(during.bundle, "default", &loc, &err), 0);
    assert_string_equal(loc->driver, "S3Storage");
    quay_location_free(loc);
    char s[32];
    int present;
    assert_int_equal(quay_bundle_get_string(during.bundle, QUAY_KEY_REGISTRY_STATE, s, sizeof(s),
                                            &present, NULL),
                     0);
    assert_string_equal(s, "readonly");

    compose_ok(cut, NULL, 0, &after); /* the window ended */
    assert_true(quay_bundle_equal(after.bundle, cut));
    assert_false(quay_bundle_equal(after.bundle, base));
    assert_int_equal(quay_bundle_get_location(after.bundle, "default", &loc, &err), 0);
    assert_string_equal(loc->driver, "S3Storage");
    quay_location_free(loc);
    assert_null(quay_bundle_get(after.bundle, "quay-readonly.pem", NULL));
    assert_int_equal(
        quay_bundle_get_string(after.bundle, QUAY_KEY_REGISTRY_STATE, s, sizeof(s), &present, NULL),
        0);
    assert_false(present);

    quay_render_clear(&on);
    quay_render_clear(&during);
    quay_render_clear(&after);
    quay_yaml_doc_free(pd);
    quay_overlay_free(w);
    quay_bundle_free(cut);
    quay_bundle_free(base);
}

static void test_overlays_survive_json(void **state)
{
    (void)state;
    struct quay_overlay *ov[] = {dp("a", 1700000000), ro("b", 2, "kb"),
                                 sd("c", 3, QUAY_COMPONENT_QUAY | QUAY_COMPONENT_MIRROR)};
    for (size_t i = 0; i < 3; i++) {
        cJSON *j = NULL;
        struct quay_overlay *back = NULL;
        struct k8s_error err;
        assert_int_equal(quay_overlay_to_json(ov[i], &j, &err), 0);
        assert_int_equal(quay_overlay_from_json(j, &back, &err), 0);
        assert_int_equal(back->mode, ov[i]->mode);
        assert_string_equal(back->window, ov[i]->window);
        assert_true(back->since == ov[i]->since);
        assert_string_equal(back->key_name, ov[i]->key_name);
        assert_string_equal(back->kid, ov[i]->kid);
        assert_int_equal(back->pem_len, ov[i]->pem_len);
        if (back->pem_len)
            assert_memory_equal(back->pem, ov[i]->pem, back->pem_len);
        assert_int_equal(back->components, ov[i]->components);
        cJSON_Delete(j);
        quay_overlay_free(back);
        quay_overlay_free(ov[i]);
    }
    struct quay_overlay *o = NULL;
    cJSON *bad = cJSON_Parse("{\"mode\":\"Frozen\",\"window\":\"w\",\"since\":1}");
    assert_int_equal(quay_overlay_from_json(bad, &o, NULL), K8S_EDECODE);
    cJSON_Delete(bad);
    assert_int_equal(quay_mode_parse("ReadOnly"), QUAY_MODE_READ_ONLY);
    assert_string_equal(quay_mode_name(QUAY_MODE_SCALE_DOWN), "ScaleDown");
    assert_int_equal(quay_mode_parse("readonly"), QUAY_MODE_NONE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_overlays_is_the_base_byte_for_byte),
        cmocka_unit_test(test_disable_pushes_touches_only_its_key),
        cmocka_unit_test(test_disable_pushes_already_set_keeps_bytes),
        cmocka_unit_test(test_read_only_sets_state_key_paths_and_key_files),
        cmocka_unit_test(test_read_only_refuses_to_overwrite_a_different_file),
        cmocka_unit_test(test_scale_down_asks_for_overrides_and_keeps_weaker_config),
        cmocka_unit_test(test_strongest_config_mode_wins),
        cmocka_unit_test(test_invalid_overlays_are_refused),
        cmocka_unit_test(test_disable_pushes_in_a_partial_is_edited_there),
        cmocka_unit_test(test_every_order_composes_the_same),
        cmocka_unit_test(test_random_subsets_obey_the_algebra),
        cmocka_unit_test(test_cutover_under_a_window_survives_its_end),
        cmocka_unit_test(test_overlays_survive_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
