/*
 * `verify`: is the destination a complete copy of the source? A full
 * listing comparison (every source key present at the destination with the
 * same size; mutable keys also by ETag when both sides have one), counts and
 * the first offenders, plus the content of a random sample of N blobs (or of
 * every blob with full_content) downloaded from the destination and checked
 * against the sha256 digest in its key.
 */
#ifndef QSO_STOR_VERIFY_H
#define QSO_STOR_VERIFY_H

#include "stor_backend.h"
#include "stor_layout.h"
#include "stor_progress.h"
#include "stor_shard.h"

struct stor_verify_opts {
    enum stor_layout layout;
    struct stor_shard shard;
    unsigned sample;        /* blobs to download and hash (reservoir sample) */
    int full_content;       /* hash every blob instead */
    unsigned max_offenders; /* named in the summary (as many as fit in it) */
};

/* 0 when the comparison ran (offenders are counted in prog: missing,
 * differ, content_bad), negative when it could not run. */
int stor_verify_run(struct stor_backend *src, struct stor_backend *dst,
                    const struct stor_verify_opts *o, struct stor_progress *prog,
                    struct stor_error *err);

#endif
