/*
 * Planning a copy by merging two sorted listings as streams: the set
 * difference (and the per-key comparison) of source and destination with
 * two entries of look-ahead and no allocation, so memory stays flat however
 * many keys the stores hold.
 */
#ifndef QSO_STOR_MERGE_H
#define QSO_STOR_MERGE_H

#include "stor_backend.h"
#include "stor_layout.h"

/* A sorted stream of entries: next returns 1 (filled), 0 (end) or < 0. */
struct stor_stream {
    int (*next)(void *ctx, struct stor_entry *e, struct stor_error *err);
    void *ctx;
};

enum stor_action {
    STOR_ACT_COPY,    /* absent at the destination */
    STOR_ACT_UPDATE,  /* present but different (size, or ETag/mtime for mutable keys) */
    STOR_ACT_SAME,    /* already there */
    STOR_ACT_RESOLVE, /* zero-byte source blob (maybe a Swift DLO manifest): HEAD it first */
    STOR_ACT_SKIP,    /* not to be copied (upload sessions) */
    STOR_ACT_EXTRA,   /* only at the destination (left alone; verify reports it) */
};

const char *stor_action_name(enum stor_action a);

struct stor_pair {
    enum stor_action action;
    enum stor_key_class cls;
    int has_src, has_dst;
    struct stor_entry src, dst;
    char digest[65]; /* blobs: the digest in the key */
};

/* The sha256 of no bytes: the one digest a zero-byte blob can rightly have. */
#define STOR_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/*
 * What to do with a key given both sides' entries (dst NULL when absent) and,
 * for a blob, the digest in its key. Blobs: copy when absent or of another
 * size; a zero-byte source blob needs a HEAD first (it may be a Swift DLO
 * manifest) unless its digest is that of no bytes, and also when the
 * destination holds zero bytes too: an empty copy of a DLO taken while its
 * segments were not yet listed must be repaired, not kept forever. Mutable
 * keys: copy when absent, of another size, of another ETag when both sides
 * have one, else when the source is newer.
 */
enum stor_action stor_decide(enum stor_key_class cls, const char *digest,
                             const struct stor_entry *src, const struct stor_entry *dst);

struct stor_merge {
    struct stor_stream src, dst;
    enum stor_layout layout;
    struct stor_entry s, d;
    int s_ok, d_ok;   /* the look-ahead holds an entry */
    int s_end, d_end; /* the stream ended */
    int primed;
};

void stor_merge_init(struct stor_merge *m, struct stor_stream src, struct stor_stream dst,
                     enum stor_layout layout);
/* 1 and fills *out; 0 when both streams ended; negative on a stream error. */
int stor_merge_next(struct stor_merge *m, struct stor_pair *out, struct stor_error *err);

#endif
