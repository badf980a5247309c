/*
 * Shards of a copy (one per pod of an Indexed Job): shard i of N takes the
 * `<blob root><xx>/` fan-out directories whose value xx (0..255) satisfies
 * xx mod N == i, with the keys under the root that sort between directory
 * xx-1 and directory xx (outside any fan-out directory: rare); every key
 * outside the blob root goes to shard 0. A shard lists only its own key
 * ranges (on both sides), one listing per directory, in ascending order, so
 * its listing is a sorted stream and N shards together list each key exactly
 * once.
 */
#ifndef QSO_STOR_SHARD_H
#define QSO_STOR_SHARD_H

#include "stor_backend.h"
#include "stor_layout.h"

struct stor_shard {
    unsigned index; /* 0..count-1 */
    unsigned count; /* 1..256 */
};

/* "i/N" -> 0; STOR_EARG on anything else (N in 1..256, i < N). */
int stor_shard_parse(const char *text, struct stor_shard *out);
/* From $JOB_COMPLETION_INDEX with `count` shards (a Kubernetes Indexed Job). */
int stor_shard_from_env(unsigned count, struct stor_shard *out);

/* Whether `key` belongs to this shard (the same rule the segments follow). */
int stor_shard_owns(const struct stor_shard *s, enum stor_layout l, const char *key);

/* One key range: keys under `prefix`, after `start_after` (if set) and before
 * `stop_before` (if set). */
struct stor_segment {
    char prefix[128];
    char start_after[128];
    char stop_before[128];
};

#define STOR_MAX_SEGMENTS 260 /* 256 directories + 2 ranges outside the root */

/* Fills segs (STOR_MAX_SEGMENTS entries) for shard `s`; returns how many. */
size_t stor_shard_segments(const struct stor_shard *s, enum stor_layout l,
                           struct stor_segment *segs);

/* A sorted listing of one backend restricted to a shard's segments. */
struct stor_seglist;
int stor_seglist_open(struct stor_backend *b, const struct stor_shard *s, enum stor_layout l,
                      struct stor_seglist **out, struct stor_error *err);
/* 1 and fills *e; 0 at the end; negative on error. */
int stor_seglist_next(struct stor_seglist *sl, struct stor_entry *e, struct stor_error *err);
void stor_seglist_close(struct stor_seglist *sl);
/* Listing requests made so far over all segments. */
uint64_t stor_seglist_requests(const struct stor_seglist *sl);

#endif
