/*
 * The local-directory backend: a mounted PVC, Quay's LocalStorage, the
 * integrated registry's filesystem driver. Keys are paths under the root.
 *
 * Listing is a depth-first walk that yields keys in the same unsigned byte
 * order as S3 and Swift: inside a directory, a subdirectory "a" sorts as
 * "a/" (so "a-b" < "a.b" < "a/x" < "a0"). Subtrees wholly outside the prefix
 * or before `start_after` are not descended. Writes go to a temporary file in
 * the target directory and are renamed into place at commit, so a reader
 * never sees half a blob; temporary names (".qso-tmp.*") are hidden from
 * listings. Local files have no ETag: the engine compares mutable keys by
 * size and modification time instead.
 */
#include "stor_local.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stor_internal.h"

#define TMP_PREFIX ".qso-tmp."
#define MAX_DEPTH  64

struct local_backend {
    struct stor_backend base;
    char root[4096];
};

static struct local_backend *lb(struct stor_backend *b)
{
    return (struct local_backend *)b;
}

/* Refuses keys that could escape the root or that no store would produce. */
static int key_ok(const char *key)
{
    if (!key || !*key || key[0] == '/' || strlen(key) > STOR_KEY_MAX)
        return 0;
    const char *p = key;
    while (*p) {
        size_t n = strcspn(p, "/");
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return 0;
        p += n;
        if (*p == '/')
            p++;
        if (*p == '\0' && p[-1] == '/')
            return 0;
    }
    return 1;
}

static int full_path(struct local_backend *b, const char *key, char *buf, size_t cap,
                     struct stor_error *err)
{
    if (!key_ok(key))
        return stor_error_set(err, STOR_EARG, "key \"%.300s\" is not a safe relative path", key);
    int n = snprintf(buf, cap, "%s/%s", b->root, key);
    if (n < 0 || (size_t)n >= cap)
        return stor_error_set(err, STOR_EARG, "path too long for key \"%.300s\"", key);
    return 0;
}

static int local_open(const struct stor_spec *spec, struct stor_backend **out,
                      struct stor_error *err)
{
    struct stat st;
    if (stat(spec->path, &st) != 0 || !S_ISDIR(st.st_mode))
        return stor_error_set(err, STOR_ENOBUCKET, "directory %s does not exist", spec->path);
    struct local_backend *b = calloc(1, sizeof(*b));
    if (!b)
        return stor_error_set(err, STOR_ENOMEM, "out of memory");
    b->base.spec = *spec;
    stor_strlcpy(b->root, spec->path, sizeof(b->root));
    *out = &b->base;
    return 0;
}

static void local_close(struct stor_backend *b)
{
    free(b);
}

static int local_limits(struct stor_backend *b, struct stor_limits *out, struct stor_error *err)
{
    (void)b;
    (void)err;
    memset(out, 0, sizeof(*out));
    out->max_put_size = UINT64_MAX;
    out->multipart_threshold = UINT64_MAX;
    out->max_copy_size = UINT64_MAX;
    return 0;
}

static int local_same_account(const struct stor_backend *dst, const struct stor_backend *src)
{
    return dst->ops == src->ops;
}

/* ---- listing ---- */

struct dirent_item {
    char *name; /* with a trailing '/' for directories */
    int is_dir;
};

struct level {
    struct dirent_item *items;
    size_t n, pos;
    size_t key_len; /* length of the key prefix of this directory ("" or "a/b/") */
};

struct stor_lister {
    struct local_backend *b;
    char *prefix;
    char *start_after;
    struct level levels[MAX_DEPTH];
    int depth; /* number of open levels */
    char key[STOR_KEY_MAX + 2];
};

static int item_cmp(const void *a, const void *b)
{
    return strcmp(((const struct dirent_item *)a)->name, ((const struct dirent_item *)b)->name);
}

static void level_free(struct level *lv)
{
    for (size_t i = 0; i < lv->n; i++)
        free(lv->items[i].name);
    free(lv->items);
    memset(lv, 0, sizeof(*lv));
}

/* Reads and sorts one directory (the key prefix is l->key[0..key_len)). */
static int level_open(struct stor_lister *l, size_t key_len, struct stor_error *err)
{
    int rc = 0;
    char path[4096 + STOR_KEY_MAX + 2];
    snprintf(path, sizeof(path), "%s/%.*s", l->b->root, (int)key_len, l->key);
    if (l->depth >= MAX_DEPTH)
        return stor_error_set(err, STOR_EIO, "directories nested too deep under %s", l->b->root);
    struct level *lv = &l->levels[l->depth];
    memset(lv, 0, sizeof(*lv));
    lv->key_len = key_len;
    DIR *d = opendir(path);
    if (!d) {
        if (errno == ENOENT && key_len > 0)
            goto push; /* vanished meanwhile, or the prefix directory does not exist */
        return stor_error_set(err, STOR_EIO, "cannot list %s: %s", path, strerror(errno));
    }
    size_t cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *nm = de->d_name;
        if (strcmp(nm, ".") == 0 || strcmp(nm, "..") == 0 ||
            strncmp(nm, TMP_PREFIX, strlen(TMP_PREFIX)) == 0)
            continue;
        int is_dir = de->d_type == DT_DIR;
        if (de->d_type == DT_UNKNOWN || de->d_type == DT_LNK) {
            struct stat st;
            char p2[sizeof(path) + 256];
            snprintf(p2, sizeof(p2), "%s/%s", path, nm);
            if (stat(p2, &st) != 0)
                continue;
            is_dir = S_ISDIR(st.st_mode);
            if (!is_dir && !S_ISREG(st.st_mode))
                continue;
        } else if (!is_dir && de->d_type != DT_REG) {
            continue;
        }
        if (lv->n == cap) {
            cap = cap ? cap * 2 : 64;
            struct dirent_item *p = realloc(lv->items, cap * sizeof(*p));
            if (!p) {
                rc = stor_error_set(err, STOR_ENOMEM, "out of memory");
                break;
            }
            lv->items = p;
        }
        size_t nl = strlen(nm);
        char *name = malloc(nl + 2);
        if (!name) {
            rc = stor_error_set(err, STOR_ENOMEM, "out of memory");
            break;
        }
        memcpy(name, nm, nl);
        if (is_dir)
            name[nl++] = '/';
        name[nl] = '\0';
        lv->items[lv->n].name = name;
        lv->items[lv->n].is_dir = is_dir;
        lv->n++;
    }
    closedir(d);
    if (rc) {
        level_free(lv);
        return rc;
    }
    if (lv->n > 1)
        qsort(lv->items, lv->n, sizeof(*lv->items), item_cmp);
push:
    l->depth++;
    return 0;
}

static int local_list_open(struct stor_backend *b, const char *prefix, const char *start_after,
                           struct stor_lister **out, struct stor_error *err)
{
    int rc = 0;
    struct stor_lister *l = calloc(1, sizeof(*l));
    if (!l)
        return stor_error_set(err, STOR_ENOMEM, "out of memory");
    l->b = lb(b);
    l->prefix = strdup(prefix ? prefix : "");
    l->start_after = strdup(start_after ? start_after : "");
    if (!l->prefix || !l->start_after) {
        rc = stor_error_set(err, STOR_ENOMEM, "out of memory");
        goto out;
    }
    /* Start in the deepest directory the prefix names entirely. */
    const char *slash = strrchr(l->prefix, '/');
    size_t dir_len = slash ? (size_t)(slash - l->prefix + 1) : 0;
    if (dir_len > STOR_KEY_MAX) {
        rc = stor_error_set(err, STOR_EARG, "prefix too long");
        goto out;
    }
    memcpy(l->key, l->prefix, dir_len);
    l->key[dir_len] = '\0';
    if (dir_len) {
        char dir[STOR_KEY_MAX + 1];
        memcpy(dir, l->prefix, dir_len - 1);
        dir[dir_len - 1] = '\0';
        if (!key_ok(dir)) {
            rc = stor_error_set(err, STOR_EARG, "bad prefix \"%.300s\"", l->prefix);
            goto out;
        }
    }
    rc = level_open(l, dir_len, err);
out:
    if (rc) {
        for (int i = 0; i < l->depth; i++)
            level_free(&l->levels[i]);
        free(l->prefix);
        free(l->start_after);
        free(l);
        return rc;
    }
    *out = l;
    return 0;
}

/* Whether keys beginning with `p` (len n) can match the prefix and come after start_after. */
static int subtree_wanted(const struct stor_lister *l, const char *p, size_t n)
{
    size_t pl = strlen(l->prefix);
    size_t m = n < pl ? n : pl;
    if (strncmp(p, l->prefix, m) != 0)
        return 0;
    /* Every key under p is > p; the subtree lies wholly at or before
     * start_after only when p sorts before it at their first difference. */
    if (l->start_after[0]) {
        size_t sl = strlen(l->start_after);
        if (strncmp(p, l->start_after, n < sl ? n : sl) < 0)
            return 0;
    }
    return 1;
}

static int local_list_next(struct stor_lister *l, struct stor_entry *e, struct stor_error *err)
{
    while (l->depth > 0) {
        struct level *lv = &l->levels[l->depth - 1];
        if (lv->pos == lv->n) {
            level_free(lv);
            l->depth--;
            continue;
        }
        struct dirent_item *it = &lv->items[lv->pos++];
        size_t nl = strlen(it->name);
        if (lv->key_len + nl > STOR_KEY_MAX)
            continue; /* no store can hold such a key */
        memcpy(l->key + lv->key_len, it->name, nl + 1);
        size_t kl = lv->key_len + nl;
        if (!subtree_wanted(l, l->key, kl))
            continue;
        if (it->is_dir) {
            int rc = level_open(l, kl, err);
            if (rc)
                return rc;
            continue;
        }
        if (l->start_after[0] && strcmp(l->key, l->start_after) <= 0)
            continue;
        if (strncmp(l->key, l->prefix, strlen(l->prefix)) != 0)
            continue;
        char path[4096 + STOR_KEY_MAX + 2];
        snprintf(path, sizeof(path), "%s/%s", l->b->root, l->key);
        struct stat st;
        if (stat(path, &st) != 0)
            continue; /* vanished between readdir and stat */
        memset(e, 0, sizeof(*e));
        stor_strlcpy(e->key, l->key, sizeof(e->key));
        e->size = (uint64_t)st.st_size;
        e->mtime = (int64_t)st.st_mtime;
        return 1;
    }
    return 0;
}

static void local_list_close(struct stor_lister *l)
{
    if (!l)
        return;
    for (int i = 0; i < l->depth; i++)
        level_free(&l->levels[i]);
    free(l->prefix);
    free(l->start_after);
    free(l);
}

/* ---- objects ---- */

static int local_head(struct stor_backend *b, const char *key, struct stor_entry *out,
                      struct stor_error *err)
{
    char path[4096 + STOR_KEY_MAX + 2];
    int rc = full_path(lb(b), key, path, sizeof(path), err);
    if (rc)
        return rc;
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return stor_error_set(err, errno == ENOENT || errno == 0 ? STOR_ENOTFOUND : STOR_EIO,
                              "%s: not found", key);
    memset(out, 0, sizeof(*out));
    stor_strlcpy(out->key, key, sizeof(out->key));
    out->size = (uint64_t)st.st_size;
    out->mtime = (int64_t)st.st_mtime;
    return 0;
}

static int local_del(struct stor_backend *b, const char *key, struct stor_error *err)
{
    char path[4096 + STOR_KEY_MAX + 2];
    int rc = full_path(lb(b), key, path, sizeof(path), err);
    if (rc)
        return rc;
    if (unlink(path) != 0) {
        if (errno == ENOENT)
            return stor_error_set(err, STOR_ENOTFOUND, "%s: not found", key);
        return stor_error_set(
            err, errno == EACCES || errno == EPERM || errno == EROFS ? STOR_EFORBIDDEN : STOR_EIO,
            "cannot delete %s: %s", key, strerror(errno));
    }
    return 0;
}

struct stor_reader {
    int fd;
};

static int local_read_open(struct stor_backend *b, const char *key, uint64_t offset,
                           struct stor_reader **out, struct stor_error *err)
{
    char path[4096 + STOR_KEY_MAX + 2];
    int rc = full_path(lb(b), key, path, sizeof(path), err);
    if (rc)
        return rc;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return stor_error_set(err, errno == ENOENT ? STOR_ENOTFOUND : STOR_EIO,
                              "cannot open %s: %s", key, strerror(errno));
    if (offset && lseek(fd, (off_t)offset, SEEK_SET) < 0) {
        close(fd);
        return stor_error_set(err, STOR_EIO, "cannot seek in %s: %s", key, strerror(errno));
    }
    struct stor_reader *r = malloc(sizeof(*r));
    if (!r) {
        close(fd);
        return stor_error_set(err, STOR_ENOMEM, "out of memory");
    }
    r->fd = fd;
    *out = r;
    return 0;
}

static int local_read(struct stor_reader *r, void *buf, size_t cap, size_t *got,
                      struct stor_error *err)
{
    for (;;) {
        ssize_t n = read(r->fd, buf, cap);
        if (n >= 0) {
            *got = (size_t)n;
            return 0;
        }
        if (errno != EINTR)
            return stor_error_set(err, STOR_EIO, "read failed: %s", strerror(errno));
    }
}

static void local_read_close(struct stor_reader *r)
{
    if (r) {
        close(r->fd);
        free(r);
    }
}

struct stor_writer {
    int fd;
    char tmp[4096 + STOR_KEY_MAX + 32];
    char final[4096 + STOR_KEY_MAX + 2];
    uint64_t size, written;
};

/* mkdir -p of the parent directories of `path` (below the root). */
static int make_parents(const char *root, char *path, struct stor_error *err)
{
    size_t rl = strlen(root);
    for (char *p = path + rl + 1; (p = strchr(p, '/')) != NULL; p++) {
        *p = '\0';
        int r = mkdir(path, 0755);
        int e = errno;
        *p = '/';
        if (r != 0 && e != EEXIST)
            return stor_error_set(err, e == EACCES || e == EROFS ? STOR_EFORBIDDEN : STOR_EIO,
                                  "cannot create directory for %s: %s", path + rl + 1, strerror(e));
    }
    return 0;
}

static int local_write_open(struct stor_backend *b, const char *key, uint64_t size,
                            struct stor_writer **out, struct stor_error *err)
{
    struct local_backend *l = lb(b);
    struct stor_writer *w = calloc(1, sizeof(*w));
    if (!w)
        return stor_error_set(err, STOR_ENOMEM, "out of memory");
    w->fd = -1;
    w->size = size;
    int rc = full_path(l, key, w->final, sizeof(w->final), err);
    if (rc)
        goto fail;
    rc = make_parents(l->root, w->final, err);
    if (rc)
        goto fail;
    const char *slash = strrchr(w->final, '/');
    snprintf(w->tmp, sizeof(w->tmp), "%.*s/" TMP_PREFIX "XXXXXX", (int)(slash - w->final),
             w->final);
    w->fd = mkostemp(w->tmp, O_CLOEXEC);
    if (w->fd < 0) {
        int e = errno;
        rc = stor_error_set(err, e == EACCES || e == EROFS ? STOR_EFORBIDDEN : STOR_EIO,
                            "cannot create %s: %s", key, strerror(e));
        goto fail;
    }
    fchmod(w->fd, 0644);
    *out = w;
    return 0;
fail:
    free(w);
    return rc;
}

static int local_write(struct stor_writer *w, const void *buf, size_t len, struct stor_error *err)
{
    const char *p = buf;
    while (len) {
        ssize_t n = write(w->fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return stor_error_set(err, STOR_EIO, "write failed: %s", strerror(errno));
        }
        p += n;
        len -= (size_t)n;
        w->written += (uint64_t)n;
    }
    return 0;
}

static void local_write_abort(struct stor_writer *w)
{
    if (!w)
        return;
    if (w->fd >= 0) {
        close(w->fd);
        unlink(w->tmp);
    }
    free(w);
}

static int local_write_commit(struct stor_writer *w, struct stor_error *err)
{
    int rc = 0;
    if (w->written != w->size) {
        rc = stor_error_set(err, STOR_EINTEGRITY, "wrote %llu bytes, expected %llu",
                            (unsigned long long)w->written, (unsigned long long)w->size);
        local_write_abort(w);
        return rc;
    }
    if (close(w->fd) != 0) {
        w->fd = -1;
        unlink(w->tmp);
        rc = stor_error_set(err, STOR_EIO, "close failed: %s", strerror(errno));
        free(w);
        return rc;
    }
    w->fd = -1;
    if (rename(w->tmp, w->final) != 0) {
        rc = stor_error_set(err, STOR_EIO, "rename failed: %s", strerror(errno));
        unlink(w->tmp);
    }
    free(w);
    return rc;
}

/* Same-filesystem copies use copy_file_range: the kernel moves the bytes
 * (reflinks on filesystems that have them). */
static int local_copy(struct stor_backend *dst, const char *dst_key, struct stor_backend *src,
                      const char *src_key, struct stor_error *err)
{
    char spath[4096 + STOR_KEY_MAX + 2];
    int rc = full_path(lb(src), src_key, spath, sizeof(spath), err);
    if (rc)
        return rc;
    int in = open(spath, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return stor_error_set(err, errno == ENOENT ? STOR_ENOTFOUND : STOR_EIO,
                              "cannot open %s: %s", src_key, strerror(errno));
    struct stat st;
    if (fstat(in, &st) != 0) {
        close(in);
        return stor_error_set(err, STOR_EIO, "cannot stat %s", src_key);
    }
    struct stor_writer *w = NULL;
    rc = local_write_open(dst, dst_key, (uint64_t)st.st_size, &w, err);
    if (rc) {
        close(in);
        return rc;
    }
    uint64_t left = (uint64_t)st.st_size;
    while (left) {
        ssize_t n = copy_file_range(in, NULL, w->fd, NULL, left, 0);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 &&
                (errno == EXDEV || errno == ENOSYS || errno == EOPNOTSUPP || errno == EINVAL)) {
                /* Fall back to read/write for the rest. */
                char buf[65536];
                ssize_t r;
                while (left && (r = read(in, buf, sizeof(buf))) > 0) {
                    rc = local_write(w, buf, (size_t)r, err);
                    if (rc)
                        break;
                    left -= (uint64_t)r;
                }
                break;
            }
            rc = stor_error_set(err, STOR_EIO, "copy of %s failed: %s", src_key,
                                n == 0 ? "source shrank" : strerror(errno));
            break;
        }
        w->written += (uint64_t)n;
        left -= (uint64_t)n;
    }
    close(in);
    if (rc) {
        local_write_abort(w);
        return rc;
    }
    return local_write_commit(w, err);
}

const struct stor_backend_ops stor_local_ops = {
    .scheme = "file",
    .open = local_open,
    .close = local_close,
    .limits = local_limits,
    .same_account = local_same_account,
    .list_open = local_list_open,
    .list_next = local_list_next,
    .list_close = local_list_close,
    .head = local_head,
    .del = local_del,
    .read_open = local_read_open,
    .read = local_read,
    .read_close = local_read_close,
    .write_open = local_write_open,
    .write = local_write,
    .write_commit = local_write_commit,
    .write_abort = local_write_abort,
    .copy = local_copy,
};
