/*
 * Registry layouts: which keys are content-addressed blobs (copied when
 * absent or of another size), which are mutable (compared by size and
 * ETag/mtime), and which are skipped (in-progress uploads).
 *
 *   Quay:                 <storage_path>/sha256/<xx>/<64-hex digest>, skip uploads/
 *   integrated registry:  docker/registry/v2/blobs/sha256/<xx>/<hex>/data,
 *                         skip any _uploads/ (its Swift driver: spec prefix <prefix>/files/)
 *   auto:                 both rules at once (the default)
 *   plain:                every key mutable, nothing skipped (a generic bucket)
 * Keys are relative to the spec's prefix (Quay's storage_path).
 */
#ifndef QSO_STOR_LAYOUT_H
#define QSO_STOR_LAYOUT_H

#include <stddef.h>

enum stor_layout { STOR_LAYOUT_AUTO, STOR_LAYOUT_QUAY, STOR_LAYOUT_REGISTRY, STOR_LAYOUT_PLAIN };

enum stor_key_class { STOR_KEY_SKIP, STOR_KEY_BLOB, STOR_KEY_MUTABLE };

/* "auto", "quay", "registry", "plain" -> 0 and *out; STOR_EARG otherwise. */
int stor_layout_parse(const char *name, enum stor_layout *out);
const char *stor_layout_name(enum stor_layout l);

/*
 * Classifies a key. For a blob, `digest` (65 bytes, may be NULL) receives the
 * 64 lower-case hex digits its content must hash to, and `xx` (may be NULL)
 * the value 0..255 of its two-hex-digit fan-out directory.
 */
enum stor_key_class stor_layout_classify(enum stor_layout l, const char *key, char *digest,
                                         int *xx);

/*
 * The prefix under which the layout keeps blobs by fan-out directory
 * ("sha256/" for Quay and auto, "docker/registry/v2/blobs/sha256/" for the
 * integrated registry); NULL for plain (no sharding by prefix).
 */
const char *stor_layout_blob_root(enum stor_layout l);

#endif
