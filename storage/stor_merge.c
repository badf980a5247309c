/*
 * The two-pointer merge of sorted listings. Each call consumes the smaller
 * key (or both on a tie) and says what to do with it; nothing is kept but the
 * two current entries.
 */
#include "stor_merge.h"

#include <string.h>

const char *stor_action_name(enum stor_action a)
{
    switch (a) {
    case STOR_ACT_COPY:
        return "copy";
    case STOR_ACT_UPDATE:
        return "update";
    case STOR_ACT_SAME:
        return "same";
    case STOR_ACT_RESOLVE:
        return "resolve";
    case STOR_ACT_SKIP:
        return "skip";
    default:
        return "extra";
    }
}

enum stor_action stor_decide(enum stor_key_class cls, const char *digest,
                             const struct stor_entry *src, const struct stor_entry *dst)
{
    if (cls == STOR_KEY_SKIP)
        return STOR_ACT_SKIP;
    if (cls == STOR_KEY_BLOB && src->size == 0 &&
        !(digest && strcmp(digest, STOR_EMPTY_SHA256) == 0))
        return STOR_ACT_RESOLVE;
    if (!dst)
        return STOR_ACT_COPY;
    if (src->size != dst->size)
        return STOR_ACT_UPDATE;
    if (cls == STOR_KEY_BLOB)
        return STOR_ACT_SAME;
    if (src->etag[0] && dst->etag[0])
        return strcmp(src->etag, dst->etag) == 0 ? STOR_ACT_SAME : STOR_ACT_UPDATE;
    return src->mtime > dst->mtime ? STOR_ACT_UPDATE : STOR_ACT_SAME;
}

void stor_merge_init(struct stor_merge *m, struct stor_stream src, struct stor_stream dst,
                     enum stor_layout layout)
{
    memset(m, 0, sizeof(*m));
    m->src = src;
    m->dst = dst;
    m->layout = layout;
}

static int pull(struct stor_stream *st, struct stor_entry *e, int *ok, int *end,
                struct stor_error *err)
{
    if (*ok || *end)
        return 0;
    int rc = st->next(st->ctx, e, err);
    if (rc < 0)
        return rc;
    if (rc == 0)
        *end = 1;
    else
        *ok = 1;
    return 0;
}

int stor_merge_next(struct stor_merge *m, struct stor_pair *out, struct stor_error *err)
{
    int rc = pull(&m->src, &m->s, &m->s_ok, &m->s_end, err);
    if (!rc)
        rc = pull(&m->dst, &m->d, &m->d_ok, &m->d_end, err);
    if (rc)
        return rc;
    if (!m->s_ok && !m->d_ok)
        return 0;
    int cmp = !m->s_ok ? 1 : !m->d_ok ? -1 : strcmp(m->s.key, m->d.key);
    out->has_src = cmp <= 0;
    out->has_dst = cmp >= 0;
    const char *key = out->has_src ? m->s.key : m->d.key;
    out->digest[0] = '\0';
    out->cls = stor_layout_classify(m->layout, key, out->digest, NULL);
    if (out->has_src) {
        out->src = m->s;
        m->s_ok = 0;
    }
    if (out->has_dst) {
        out->dst = m->d;
        m->d_ok = 0;
    }
    if (!out->has_src)
        out->action = out->cls == STOR_KEY_SKIP ? STOR_ACT_SKIP : STOR_ACT_EXTRA;
    else
        out->action =
            stor_decide(out->cls, out->digest, &out->src, out->has_dst ? &out->dst : NULL);
    return 1;
}
