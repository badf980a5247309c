/*
 * libFuzzer target for the YAML document model (quay/quay_yaml.c) and the
 * bundle edits built on it (quay/quay_bundle.c, quay/quay_overlay.c).
 *
 * Input: byte 0 is a flags byte, the rest a config.yaml. Besides "no crash,
 * no leak, no UB" it checks the model's promises:
 *   - whatever parses, emits (K8S_EINTERNAL from emit means the emitter
 *     would have changed a value's type: a finding);
 *   - the emitted text parses to the same values, and emitting that again
 *     gives the same bytes (one normalisation, then a fixed point);
 *   - flags bit 0: the document, as a bundle's config.yaml, takes a
 *     DisablePushes and a ReadOnly overlay; compose with no overlay is the
 *     bundle byte for byte, and composing the same overlays twice agrees.
 * Build: clang -fsanitize=fuzzer,address,undefined with quay/quay_yaml.c,
 * quay/quay_bundle.c, quay/quay_drivers.c, quay/quay_overlay.c,
 * k8sclient/k8s_buf.c, k8sclient/k8s_error.c, -lyaml -lcrypto -lcjson (see
 * the header of tests/fuzz/build.sh for the pattern). Seeds:
 * tests/fixtures/quay/ with a 0x00 or 0x01 byte prepended.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "k8s_buf.h"
#include "k8s_error.h"
#include "quay_bundle.h"
#include "quay_overlay.h"
#include "quay_yaml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
    if (!ok)
        abort();
}

static void bundle_edits(const char *text, size_t len)
{
    static const char pem[] = "-----BEGIN PRIVATE KEY-----\nX\n-----END PRIVATE KEY-----\n";
    struct k8s_error err;
    struct quay_bundle *b = quay_bundle_new(QUAY_BUNDLE_OPERATOR, NULL);
    check(b != NULL);
    if (quay_bundle_put(b, "config.yaml", text, len, &err) != 0) {
        quay_bundle_free(b);
        return;
    }
    struct quay_overlay *ov[2] = {
        quay_overlay_disable_pushes_new("w1", 2, &err),
        quay_overlay_read_only_new("w2", 1, "k", "kid", pem, sizeof(pem) - 1, &err)};
    check(ov[0] && ov[1]);
    struct quay_render r0, r1, r2;
    check(quay_compose(b, NULL, 0, &r0, &err) == 0);
    check(quay_bundle_equal(b, r0.bundle));
    int rc1 = quay_compose(b, (const struct quay_overlay *const *)ov, 2, &r1, &err);
    struct quay_overlay *rev[2] = {ov[1], ov[0]};
    int rc2 = quay_compose(b, (const struct quay_overlay *const *)rev, 2, &r2, &err);
    check(rc1 == rc2);
    if (rc1 == 0)
        check(quay_bundle_equal(r1.bundle, r2.bundle));
    /* Reading the storage config must not crash, whatever its shape. */
    char **names = NULL;
    if (quay_bundle_list_locations(b, &names, NULL, &err) == 0 && names[0]) {
        struct quay_location *loc = NULL;
        if (quay_bundle_get_location(b, names[0], &loc, &err) == 0)
            quay_bundle_set_location(b, loc->name, loc->driver, loc->params, 0, &err);
        quay_location_free(loc);
    }
    quay_strv_free(names);
    quay_render_clear(&r0);
    quay_render_clear(&r1);
    quay_render_clear(&r2);
    quay_overlay_free(ov[0]);
    quay_overlay_free(ov[1]);
    quay_bundle_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned flags = data[0];
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    struct k8s_error err;
    struct quay_yaml_doc *doc = NULL, *again = NULL;
    struct k8s_buf one, two;
    k8s_buf_init(&one, QUAY_YAML_MAX_OUTPUT);
    k8s_buf_init(&two, QUAY_YAML_MAX_OUTPUT);

    if (quay_yaml_parse(text, len, "fuzz", &doc, &err) != 0)
        goto out;
    int rc = quay_yaml_emit(doc, &one, &err);
    check(rc != K8S_EINTERNAL);
    if (rc != 0)
        goto out;
    check(quay_yaml_parse(one.data ? one.data : "", one.len, "emitted", &again, &err) == 0);
    check(quay_yaml_node_same_value(doc->root, again->root));
    check(quay_yaml_emit(again, &two, &err) == 0);
    check(one.len == two.len && (one.len == 0 || memcmp(one.data, two.data, one.len) == 0));
    if (flags & 1)
        bundle_edits(text, len);
out:
    quay_yaml_doc_free(doc);
    quay_yaml_doc_free(again);
    k8s_buf_free(&one);
    k8s_buf_free(&two);
    return 0;
}
