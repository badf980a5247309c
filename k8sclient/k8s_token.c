/*
 * k8s_token: the bearer token a client sends, fixed or read from a file that
 * rotates. Bound service-account tokens expire (hourly by default) and the
 * kubelet publishes new ones by an atomic `..data` symlink swap; other tools
 * rename a new file over the old one. Either way the file behind the path
 * gets a new identity, so a stat() per request is enough to notice a rotation
 * without re-reading the file every time.
 *
 * A failed re-read (the file missing for a moment during a swap, or
 * half-written by a careless writer) must not break requests that a still-valid
 * older token would serve, so the last good token is kept and the failure is
 * logged once per episode. The identity recorded is that of the descriptor we
 * actually read (fstat), so a change between stat() and open() is seen on the
 * next call rather than lost.
 */
#include "k8s_token.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "k8s_log.h"

/* What identifies one version of the token file. ctime is included because it
 * changes on every write even when mtime was set back. */
struct token_file_id {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtim;
    struct timespec ctim;
};

struct k8s_token_source {
    pthread_mutex_t mu;
    char *fixed;             /* a fixed token, or NULL */
    char *path;              /* the token file, or NULL */
    char *last;              /* the last good token read from `path`, or NULL */
    struct token_file_id id; /* the identity of the file `last` came from */
    int failing;             /* a re-read failure was logged; cleared on success */
};

static void id_from_stat(struct token_file_id *id, const struct stat *st)
{
    id->dev = st->st_dev;
    id->ino = st->st_ino;
    id->size = st->st_size;
    id->mtim = st->st_mtim;
    id->ctim = st->st_ctim;
}

static int id_equal(const struct token_file_id *a, const struct token_file_id *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtim.tv_sec == b->mtim.tv_sec && a->mtim.tv_nsec == b->mtim.tv_nsec &&
           a->ctim.tv_sec == b->ctim.tv_sec && a->ctim.tv_nsec == b->ctim.tv_nsec;
}

static void free_secret(char *s)
{
    if (!s)
        return;
    explicit_bzero(s, strlen(s));
    free(s);
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Trims whitespace at both ends in place and checks what is left: a token must
 * not be empty nor hold control characters (they would corrupt the header).
 * Returns the trimmed start, or NULL with `*why` set. */
static char *trim_token(char *s, size_t len, const char **why)
{
    while (len && is_space(s[len - 1]))
        len--;
    s[len] = '\0';
    char *p = s;
    while (*p && is_space(*p))
        p++;
    if (!*p) {
        *why = "is empty";
        return NULL;
    }
    for (const char *q = p; *q; q++) {
        unsigned char c = (unsigned char)*q;
        if (c < 0x20 || c == 0x7f) {
            *why = "contains control characters";
            return NULL;
        }
    }
    return p;
}

/* Reads and validates the token file; on success `*out` is a new string and
 * `id` the identity of what was read. */
static int read_token_file(const char *path, char **out, struct token_file_id *id,
                           struct k8s_error *err)
{
    int rc = 0;
    char *buf = NULL;
    /* O_NONBLOCK: a FIFO at this path must not hang the caller before the check. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        rc = k8s_error_set(err, K8S_EIO, "token file %s: cannot open: %s", path, strerror(errno));
        goto out;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = k8s_error_set(err, K8S_EIO, "token file %s: cannot stat: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = k8s_error_set(err, K8S_EIO, "token file %s is not a regular file", path);
        goto out;
    }
    /* One byte more than the maximum tells "too large" from "exactly full". */
    buf = malloc(K8S_TOKEN_MAX + 2);
    if (!buf) {
        rc = k8s_error_set(err, K8S_ENOMEM, "out of memory reading token file %s", path);
        goto out;
    }
    size_t len = 0;
    while (len < K8S_TOKEN_MAX + 1) {
        ssize_t n = read(fd, buf + len, K8S_TOKEN_MAX + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = k8s_error_set(err, K8S_EIO, "token file %s: cannot read: %s", path,
                               strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len > K8S_TOKEN_MAX) {
        rc = k8s_error_set(err, K8S_ECONFIG, "token file %s is larger than %d bytes", path,
                           K8S_TOKEN_MAX);
        goto out;
    }
    buf[len] = '\0';
    /* A NUL inside the data would hide the rest from strlen-based checks. */
    if (memchr(buf, '\0', len)) {
        rc = k8s_error_set(err, K8S_ECONFIG, "token file %s contains a NUL byte", path);
        goto out;
    }
    const char *why = NULL;
    char *tok = trim_token(buf, len, &why);
    if (!tok) {
        rc = k8s_error_set(err, K8S_ECONFIG, "token file %s %s", path, why);
        goto out;
    }
    *out = strdup(tok);
    if (!*out) {
        rc = k8s_error_set(err, K8S_ENOMEM, "out of memory reading token file %s", path);
        goto out;
    }
    id_from_stat(id, &st);
out:
    if (buf) {
        explicit_bzero(buf, K8S_TOKEN_MAX + 2);
        free(buf);
    }
    if (fd >= 0)
        close(fd);
    return rc;
}

int k8s_token_source_new(const char *token, const char *file, struct k8s_token_source **out,
                         struct k8s_error *err)
{
    int rc = 0;
    struct k8s_token_source *ts = NULL;
    *out = NULL;
    if ((token == NULL) == (file == NULL)) {
        rc = k8s_error_set(err, K8S_EARG, "a token source needs exactly one of a token or a file");
        goto out;
    }
    if (file && !*file) {
        rc = k8s_error_set(err, K8S_EARG, "the token file path is empty");
        goto out;
    }
    ts = calloc(1, sizeof(*ts));
    if (!ts) {
        rc = k8s_error_set(err, K8S_ENOMEM, "out of memory creating a token source");
        goto out;
    }
    if (pthread_mutex_init(&ts->mu, NULL) != 0) {
        free(ts);
        ts = NULL;
        rc = k8s_error_set(err, K8S_ENOMEM, "cannot create the token source's mutex");
        goto out;
    }
    if (token) {
        size_t len = strlen(token);
        if (len > K8S_TOKEN_MAX) {
            rc = k8s_error_set(err, K8S_EARG, "the token is larger than %d bytes", K8S_TOKEN_MAX);
            goto out;
        }
        char *copy = strdup(token);
        if (!copy) {
            rc = k8s_error_set(err, K8S_ENOMEM, "out of memory copying the token");
            goto out;
        }
        const char *why = NULL;
        char *tok = trim_token(copy, len, &why);
        if (!tok) {
            free_secret(copy);
            rc = k8s_error_set(err, K8S_EARG, "the token %s", why);
            goto out;
        }
        ts->fixed = strdup(tok);
        free_secret(copy);
        if (!ts->fixed) {
            rc = k8s_error_set(err, K8S_ENOMEM, "out of memory copying the token");
            goto out;
        }
    } else {
        ts->path = strdup(file);
        if (!ts->path) {
            rc = k8s_error_set(err, K8S_ENOMEM, "out of memory copying the token file path");
            goto out;
        }
    }
    *out = ts;
    ts = NULL;
out:
    k8s_token_source_free(ts);
    return rc;
}

void k8s_token_source_free(struct k8s_token_source *ts)
{
    if (!ts)
        return;
    pthread_mutex_destroy(&ts->mu);
    free_secret(ts->fixed);
    free_secret(ts->last);
    free(ts->path);
    free(ts);
}

int k8s_token_source_get(struct k8s_token_source *ts, char **out, struct k8s_error *err)
{
    int rc = 0;
    *out = NULL;
    if (!ts)
        return k8s_error_set(err, K8S_EARG, "no token source");
    pthread_mutex_lock(&ts->mu);
    if (ts->fixed) {
        *out = strdup(ts->fixed);
        if (!*out)
            rc = k8s_error_set(err, K8S_ENOMEM, "out of memory copying the token");
        goto out;
    }
    struct stat st;
    if (ts->last && stat(ts->path, &st) == 0) {
        struct token_file_id now;
        id_from_stat(&now, &st);
        if (id_equal(&now, &ts->id))
            goto copy_last;
    }
    char *fresh = NULL;
    struct token_file_id id;
    struct k8s_error rerr;
    k8s_error_clear(&rerr);
    rc = read_token_file(ts->path, &fresh, &id, &rerr);
    if (rc == 0) {
        free_secret(ts->last);
        ts->last = fresh;
        ts->id = id;
        ts->failing = 0;
        goto copy_last;
    }
    if (!ts->last) {
        if (err)
            *err = rerr;
        goto out;
    }
    /* Keep serving the previous token; the next call tries again. */
    if (!ts->failing) {
        ts->failing = 1;
        const char *kv[] = {"file", ts->path, "error", rerr.message, NULL};
        k8s_log(K8S_LOG_WARN, NULL, NULL,
                "the token file changed but could not be read; using the last good token", kv);
    }
    rc = 0;
copy_last:
    *out = strdup(ts->last);
    if (!*out)
        rc = k8s_error_set(err, K8S_ENOMEM, "out of memory copying the token");
out:
    pthread_mutex_unlock(&ts->mu);
    return rc;
}
