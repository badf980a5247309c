/*
 * The container process (see sim_pod_sandbox.h). The parent works out every
 * path and string first (struct plan); the child then runs the steps below
 * with system calls only, because a forked copy of the simulator must not
 * call malloc or stdio before exec. A failure is reported to the parent as a
 * fixed-size record on a close-on-exec pipe (a write of less than PIPE_BUF
 * is atomic), so "the pipe closed empty" means exec succeeded.
 *
 * Why the root is an overlay of "/" rather than the host root itself: the
 * pod must see its volumes at their mountPaths, which may not exist on the
 * host (/quay-config, /var/run/secrets/...), and creating them would change
 * the host. With the overlay, directories made for mount points live in the
 * container's tmpfs and vanish with its mount namespace.
 */
#include "sim_pod_sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PLEN     4096
#define MAX_SUBS 64 /* host mounts re-attached under the container's root */
#define MAX_PRIV 256

enum step { ST_SETUP, ST_MOUNT, ST_WORKDIR, ST_EXEC };

static const char *const dev_nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};
#define NDEV (sizeof(dev_nodes) / sizeof(dev_nodes[0]))

struct plan {
    const struct sim_sandbox_spec *s;
    char tmp_opts[64];
    char upper[PLEN], work[PLEN], root[PLEN], ovl_opts[3 * PLEN];
    char dev[PLEN], dev_src[NDEV][64], dev_dst[NDEV][PLEN];
    char pts[PLEN], shm[PLEN];
    char links[5][2][PLEN];
    size_t nsubs;
    char sub_src[MAX_SUBS][PLEN];
    char sub_dst[MAX_SUBS][PLEN];
    size_t order[256]; /* mounts, parents before children */
    size_t nmounts;
    char workdir_rel[PLEN];
    int stdin_fd;
    int status_wfd;
    pid_t parent;
};

/* ---- parent side ---- */

/* Decodes mountinfo's octal escapes (\040 for a space) in place. */
static void unescape(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (r[0] == '\\' && r[1] >= '0' && r[1] <= '7' && r[2] >= '0' && r[2] <= '7' &&
            r[3] >= '0' && r[3] <= '7') {
            *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
            r += 3;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
}

/* The mounts directly under the host's root mount (/proc, /sys, ...), but
 * /dev, which the container gets fresh. */
static void host_submounts(struct plan *p)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    char line[8192];
    long root_id = -1;
    if (!f)
        return;
    /* Two passes: a mount's children may be listed before it. */
    for (int pass = 0; pass < 2; pass++) {
        rewind(f);
        while (fgets(line, sizeof(line), f)) {
            long id = 0, parent = 0;
            char *save = NULL, *tok, *mp = NULL;
            int field = 0;
            for (tok = strtok_r(line, " ", &save); tok && field < 5;
                 tok = strtok_r(NULL, " ", &save), field++) {
                if (field == 0)
                    id = strtol(tok, NULL, 10);
                else if (field == 1)
                    parent = strtol(tok, NULL, 10);
                else if (field == 4)
                    mp = tok;
            }
            if (!mp)
                continue;
            unescape(mp);
            if (pass == 0) {
                /* The last mount on "/" is the one on top. */
                if (strcmp(mp, "/") == 0)
                    root_id = id;
                continue;
            }
            if (parent != root_id || id == root_id || p->nsubs >= MAX_SUBS ||
                strcmp(mp, "/") == 0 || strcmp(mp, "/dev") == 0 || strncmp(mp, "/dev/", 5) == 0)
                continue;
            if ((size_t)snprintf(p->sub_src[p->nsubs], PLEN, "%s", mp) >= PLEN ||
                (size_t)snprintf(p->sub_dst[p->nsubs], PLEN, "%s%s", p->root, mp) >= PLEN)
                continue;
            p->nsubs++;
        }
    }
    fclose(f);
}

static size_t depth(const char *path)
{
    size_t d = 0;
    for (const char *c = path; *c; c++)
        if (*c == '/' && c[1] && c[1] != '/')
            d++;
    return d;
}

static int make_plan(struct plan *p, const struct sim_sandbox_spec *s)
{
    static const char *const link_names[5][2] = {{"fd", "/proc/self/fd"},
                                                 {"stdin", "/proc/self/fd/0"},
                                                 {"stdout", "/proc/self/fd/1"},
                                                 {"stderr", "/proc/self/fd/2"},
                                                 {"ptmx", "pts/ptmx"}};
    memset(p, 0, sizeof(*p));
    p->s = s;
    if (s->nmounts > sizeof(p->order) / sizeof(p->order[0]))
        return -1;
    snprintf(p->tmp_opts, sizeof(p->tmp_opts), "mode=0755");
    if ((size_t)snprintf(p->upper, PLEN, "%s/u", s->scratch) >= PLEN ||
        (size_t)snprintf(p->work, PLEN, "%s/w", s->scratch) >= PLEN ||
        (size_t)snprintf(p->root, PLEN, "%s/r", s->scratch) >= PLEN ||
        (size_t)snprintf(p->dev, PLEN, "%s/dev", p->root) >= PLEN ||
        (size_t)snprintf(p->pts, PLEN, "%s/pts", p->dev) >= PLEN ||
        (size_t)snprintf(p->shm, PLEN, "%s/shm", p->dev) >= PLEN)
        return -1;
    snprintf(p->ovl_opts, sizeof(p->ovl_opts), "lowerdir=/,upperdir=%s,workdir=%s", p->upper,
             p->work);
    for (size_t i = 0; i < NDEV; i++) {
        snprintf(p->dev_src[i], sizeof(p->dev_src[i]), "/dev/%s", dev_nodes[i]);
        if ((size_t)snprintf(p->dev_dst[i], PLEN, "%s/%s", p->dev, dev_nodes[i]) >= PLEN)
            return -1;
    }
    for (size_t i = 0; i < 5; i++) {
        if ((size_t)snprintf(p->links[i][0], PLEN, "%s/%s", p->dev, link_names[i][0]) >= PLEN)
            return -1;
        snprintf(p->links[i][1], PLEN, "%s", link_names[i][1]);
    }
    host_submounts(p);
    /* Parents before children, as runtimes sort mounts by depth; equal depths
     * keep the spec's order. */
    p->nmounts = s->nmounts;
    for (size_t i = 0; i < s->nmounts; i++)
        p->order[i] = i;
    for (size_t i = 1; i < s->nmounts; i++)
        for (size_t j = i; j > 0 && depth(s->mounts[p->order[j - 1]].target) >
                                        depth(s->mounts[p->order[j]].target);
             j--) {
            size_t t = p->order[j];
            p->order[j] = p->order[j - 1];
            p->order[j - 1] = t;
        }
    {
        const char *wd = s->workdir && *s->workdir ? s->workdir : "/";
        while (*wd == '/')
            wd++;
        snprintf(p->workdir_rel, PLEN, "%s", wd);
    }
    return 0;
}

/* ---- child side: system calls only ---- */

struct child {
    const struct plan *p;
    int rootfd;
    uint64_t priv[MAX_PRIV]; /* mounts of this container: directories may be made in them */
    size_t npriv;
    unsigned novl;
};

static __attribute__((noreturn)) void die(const struct plan *p, int step, int err, const char *what)
{
    struct sim_sandbox_err e;
    size_t i = 0;
    memset(&e, 0, sizeof(e));
    e.err = err;
    e.step = step;
    while (what && what[i] && i + 1 < sizeof(e.what)) {
        e.what[i] = what[i];
        i++;
    }
    if (write(p->status_wfd, &e, sizeof(e)) < 0) {
        /* Nothing left to tell it with. */
    }
    _exit(127);
}

/* dst = a + b (+ c); 0, or -1 when it does not fit. */
static int cat3(char *dst, size_t cap, const char *a, const char *b, const char *c)
{
    size_t n = 0;
    const char *parts[3] = {a, b, c};
    for (size_t k = 0; k < 3; k++)
        for (const char *s = parts[k]; s && *s; s++) {
            if (n + 1 >= cap)
                return -1;
            dst[n++] = *s;
        }
    dst[n] = '\0';
    return 0;
}

static void utoa(unsigned long v, char *out)
{
    char tmp[24];
    size_t n = 0, i = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        out[i++] = tmp[--n];
    out[i] = '\0';
}

static int in_root(int rootfd, const char *rel)
{
    struct open_how how;
    memset(&how, 0, sizeof(how));
    how.flags = O_PATH | O_CLOEXEC;
    how.resolve = RESOLVE_IN_ROOT;
    return (int)syscall(SYS_openat2, rootfd, *rel ? rel : ".", &how, sizeof(how));
}

static int mount_id(int fd, uint64_t *id)
{
    struct statx sx;
    if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &sx) != 0)
        return -1;
    *id = sx.stx_mnt_id;
    return 0;
}

static void add_private(struct child *ch, int fd)
{
    uint64_t id;
    if (ch->npriv < MAX_PRIV && mount_id(fd, &id) == 0)
        ch->priv[ch->npriv++] = id;
}

static int is_private(const struct child *ch, int fd)
{
    uint64_t id;
    if (mount_id(fd, &id) != 0)
        return 0;
    for (size_t i = 0; i < ch->npriv; i++)
        if (ch->priv[i] == id)
            return 1;
    return 0;
}

/* An overlay of its own over `*fd` (a directory on a host mount), upper
 * layer in the container's tmpfs; *fd is reopened on top of it. */
static void overlay_ancestor(struct child *ch, int *fd, const char *rel)
{
    const struct plan *p = ch->p;
    char num[24], fdn[24], up[PLEN], wk[PLEN], tgt[64], opts[3 * PLEN];
    utoa(ch->novl++, num);
    utoa((unsigned long)*fd, fdn);
    if (cat3(up, sizeof(up), p->s->scratch, "/o", num) != 0 ||
        cat3(wk, sizeof(wk), up, "w", NULL) != 0 || cat3(up, sizeof(up), up, "u", NULL) != 0 ||
        cat3(tgt, sizeof(tgt), "/proc/self/fd/", fdn, NULL) != 0)
        die(p, ST_MOUNT, ENAMETOOLONG, rel);
    if ((mkdir(up, 0755) != 0 && errno != EEXIST) || (mkdir(wk, 0755) != 0 && errno != EEXIST))
        die(p, ST_MOUNT, errno, rel);
    if (cat3(opts, sizeof(opts), "lowerdir=", tgt, ",upperdir=") != 0 ||
        cat3(opts, sizeof(opts), opts, up, ",workdir=") != 0 ||
        cat3(opts, sizeof(opts), opts, wk, NULL) != 0)
        die(p, ST_MOUNT, ENAMETOOLONG, rel);
    if (mount("overlay", tgt, "overlay", 0, opts) != 0)
        die(p, ST_MOUNT, errno, rel);
    close(*fd);
    *fd = in_root(ch->rootfd, rel);
    if (*fd < 0)
        die(p, ST_MOUNT, errno, rel);
    add_private(ch, *fd);
}

/*
 * Opens `rel` (relative to the container's root, resolved inside it),
 * creating what is missing: directories, and a last component that is a file
 * when is_file. Returns an O_PATH descriptor; dies on failure.
 */
static int ensure(struct child *ch, const char *rel, int is_file, int step)
{
    const struct plan *p = ch->p;
    char buf[PLEN];
    size_t len, i = 0, anc_end = 0;
    int anc, fd = in_root(ch->rootfd, rel);
    if (fd >= 0)
        return fd;
    if (errno != ENOENT || cat3(buf, sizeof(buf), rel, NULL, NULL) != 0)
        die(p, step, errno == ENOENT ? ENAMETOOLONG : errno, rel);
    len = strlen(buf);
    anc = fcntl(ch->rootfd, F_DUPFD_CLOEXEC, 0);
    if (anc < 0)
        die(p, step, errno, rel);
    /* The nearest ancestor that exists. */
    while (i < len) {
        size_t j = i;
        char save;
        int next;
        while (j < len && buf[j] != '/')
            j++;
        save = buf[j];
        buf[j] = '\0';
        next = in_root(ch->rootfd, buf);
        buf[j] = save;
        if (next < 0) {
            if (errno != ENOENT)
                die(p, step, errno, rel);
            break;
        }
        close(anc);
        anc = next;
        anc_end = j;
        i = j + 1;
        while (i < len && buf[i] == '/')
            i++;
    }
    if (!is_private(ch, anc)) {
        char save = buf[anc_end];
        buf[anc_end] = '\0';
        overlay_ancestor(ch, &anc, buf);
        buf[anc_end] = save;
    }
    while (i < len) {
        size_t j = i;
        char save;
        while (j < len && buf[j] != '/')
            j++;
        save = buf[j];
        buf[j] = '\0';
        if (j == len && is_file) {
            int f = openat(anc, buf + i, O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
            if (f < 0 && errno != EEXIST)
                die(p, step, errno, rel);
            if (f >= 0)
                close(f);
        } else if (mkdirat(anc, buf + i, 0755) != 0 && errno != EEXIST) {
            die(p, step, errno, rel);
        }
        close(anc);
        anc = in_root(ch->rootfd, buf);
        buf[j] = save;
        if (anc < 0)
            die(p, step, errno, rel);
        i = j + 1;
        while (i < len && buf[i] == '/')
            i++;
    }
    return anc;
}

static void setup_dev(struct child *ch)
{
    const struct plan *p = ch->p;
    int fd;
    if (mount("tmpfs", p->dev, "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k") != 0)
        die(p, ST_SETUP, errno, "/dev");
    for (size_t i = 0; i < NDEV; i++) {
        int f = open(p->dev_dst[i], O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
        if (f < 0)
            die(p, ST_SETUP, errno, p->dev_src[i]);
        close(f);
        /* A host without one of them (no tty in a daemon's world) is fine. */
        mount(p->dev_src[i], p->dev_dst[i], NULL, MS_BIND, NULL);
    }
    if (mkdir(p->pts, 0755) != 0 || mkdir(p->shm, 01777) != 0)
        die(p, ST_SETUP, errno, "/dev");
    mount("/dev/pts", p->pts, NULL, MS_BIND | MS_REC, NULL);
    if (mount("shm", p->shm, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k") !=
        0)
        die(p, ST_SETUP, errno, "/dev/shm");
    for (size_t i = 0; i < 5; i++)
        if (symlink(p->links[i][1], p->links[i][0]) != 0)
            die(p, ST_SETUP, errno, p->links[i][0]);
    fd = in_root(ch->rootfd, "dev");
    if (fd < 0)
        die(p, ST_SETUP, errno, "/dev");
    add_private(ch, fd);
    close(fd);
}

static void mount_volume(struct child *ch, const struct sim_mount *m)
{
    const struct plan *p = ch->p;
    const char *rel = m->target;
    int src, dst;
    while (*rel == '/')
        rel++;
    src = open_tree(AT_FDCWD, m->source,
                    OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (m->is_file ? 0 : AT_RECURSIVE));
    if (src < 0)
        die(p, ST_MOUNT, errno, m->target);
    if (m->readonly) {
        struct mount_attr attr;
        memset(&attr, 0, sizeof(attr));
        attr.attr_set = MOUNT_ATTR_RDONLY;
        if (mount_setattr(src, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) != 0)
            die(p, ST_MOUNT, errno, m->target);
    }
    dst = ensure(ch, rel, m->is_file, ST_MOUNT);
    if (move_mount(src, "", dst, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0)
        die(p, ST_MOUNT, errno, m->target);
    close(src);
    close(dst);
    dst = in_root(ch->rootfd, rel);
    if (dst >= 0) {
        add_private(ch, dst);
        close(dst);
    }
}

static __attribute__((noreturn)) void child_main(const struct plan *p)
{
    const struct sim_sandbox_spec *s = p->s;
    struct child ch;
    struct sigaction sa;
    sigset_t none;
    int subfd[MAX_SUBS];
    int fd;

    memset(&ch, 0, sizeof(ch));
    ch.p = p;
    /* Its own process group, so the kubelet can signal all it started. */
    if (setpgid(0, 0) != 0)
        die(p, ST_SETUP, errno, "setpgid");
    /* Die with the simulator, as containers die with their node. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != p->parent)
        _exit(127);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++)
        sigaction(sig, &sa, NULL); /* the simulator ignores SIGPIPE; a container does not */
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    if (unshare(CLONE_NEWNS | CLONE_NEWUTS) != 0)
        die(p, ST_SETUP, errno, "unshare");
    if (sethostname(s->hostname, strlen(s->hostname)) != 0)
        die(p, ST_SETUP, errno, "sethostname");
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        die(p, ST_SETUP, errno, "/");
    /* Copies of the host's mounts, taken before anything is mounted on the
     * scratch directory (which may itself lie under one of them). */
    for (size_t i = 0; i < p->nsubs; i++)
        subfd[i] =
            open_tree(AT_FDCWD, p->sub_src[i], OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
    if (mount("tmpfs", s->scratch, "tmpfs", MS_NOSUID | MS_NODEV, p->tmp_opts) != 0)
        die(p, ST_SETUP, errno, s->scratch);
    if (mkdir(p->upper, 0755) != 0 || mkdir(p->work, 0755) != 0 || mkdir(p->root, 0755) != 0)
        die(p, ST_SETUP, errno, s->scratch);
    if (mount("overlay", p->root, "overlay", 0, p->ovl_opts) != 0)
        die(p, ST_SETUP, errno, "overlay root");
    for (size_t i = 0; i < p->nsubs; i++) {
        if (subfd[i] < 0)
            continue;
        /* A mount point that does not exist below its mount is skipped. */
        move_mount(subfd[i], "", AT_FDCWD, p->sub_dst[i], MOVE_MOUNT_F_EMPTY_PATH);
        close(subfd[i]);
    }
    ch.rootfd = open(p->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (ch.rootfd < 0)
        die(p, ST_SETUP, errno, p->root);
    add_private(&ch, ch.rootfd);
    setup_dev(&ch);
    for (size_t i = 0; i < p->nmounts; i++)
        mount_volume(&ch, &s->mounts[p->order[i]]);
    fd = ensure(&ch, p->workdir_rel, 0, ST_WORKDIR);
    close(fd);
    if (chdir(p->root) != 0 || chroot(".") != 0)
        die(p, ST_SETUP, errno, "chroot");
    if (chdir(s->workdir && *s->workdir ? s->workdir : "/") != 0)
        die(p, ST_WORKDIR, errno, s->workdir);
    if (dup2(p->stdin_fd, 0) < 0 || dup2(s->log_fd, 1) < 0 || dup2(s->log_fd, 2) < 0)
        die(p, ST_SETUP, errno, "stdio");
    /* Nothing of the simulator's (sockets, other pods' logs) may leak in. */
    close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
    execve(s->path, s->argv, s->envp);
    die(p, ST_EXEC, errno, s->path);
}

pid_t sim_sandbox_spawn(const struct sim_sandbox_spec *s, int *status_fd)
{
    struct plan *p = malloc(sizeof(*p));
    int pipefd[2] = {-1, -1}, saved;
    sigset_t all, old;
    pid_t pid;
    *status_fd = -1;
    if (!p) {
        errno = ENOMEM;
        return -1;
    }
    if (make_plan(p, s) != 0) {
        free(p);
        errno = ENAMETOOLONG;
        return -1;
    }
    p->parent = getpid();
    p->stdin_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (p->stdin_fd < 0 || pipe2(pipefd, O_CLOEXEC) != 0) {
        saved = errno;
        if (p->stdin_fd >= 0)
            close(p->stdin_fd);
        free(p);
        errno = saved;
        return -1;
    }
    p->status_wfd = pipefd[1];
    /* Signals stay blocked until the child has reset the simulator's
     * handlers: a SIGTERM sent right after the fork must kill it, not run
     * the simulator's handler in the child. */
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &old);
    pid = fork();
    if (pid == 0)
        child_main(p);
    saved = errno;
    sigprocmask(SIG_SETMASK, &old, NULL);
    close(pipefd[1]);
    close(p->stdin_fd);
    free(p);
    if (pid < 0) {
        close(pipefd[0]);
        errno = saved;
        return -1;
    }
    /* Also set from here: the kubelet may signal the group before the child
     * has run setsid. */
    setpgid(pid, pid);
    fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
    *status_fd = pipefd[0];
    return pid;
}

int sim_sandbox_status(int *status_fd, struct sim_sandbox_err *e)
{
    ssize_t n;
    if (*status_fd < 0)
        return 1;
    n = read(*status_fd, e, sizeof(*e));
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    close(*status_fd);
    *status_fd = -1;
    if (n == (ssize_t)sizeof(*e)) {
        e->what[sizeof(e->what) - 1] = '\0';
        return -1;
    }
    return 1;
}

void sim_sandbox_message(const struct sim_sandbox_err *e, char *buf, size_t cap)
{
    const char *path = e->what;
    static const char pre[] = "failed to create containerd task: failed to create shim task: "
                              "OCI runtime create failed: runc create failed: unable to start "
                              "container process: ";
    const char *why = strerror(e->err);
    switch (e->step) {
    case ST_EXEC:
        if (e->err == ENOENT && !strchr(path, '/'))
            snprintf(buf, cap, "%sexec: \"%s\": executable file not found in $PATH: unknown", pre,
                     path);
        else if (e->err == ENOENT)
            snprintf(buf, cap, "%sexec: \"%s\": stat %s: no such file or directory: unknown", pre,
                     path, path);
        else
            snprintf(buf, cap, "%sexec: \"%s\": %s: unknown", pre, path, why);
        break;
    case ST_MOUNT:
        snprintf(buf, cap,
                 "%serror during container init: error mounting to rootfs at \"%s\": %s: "
                 "unknown",
                 pre, e->what, why);
        break;
    case ST_WORKDIR:
        snprintf(buf, cap,
                 "%serror during container init: chdir to cwd (\"%s\") set in config.json "
                 "failed: %s: unknown",
                 pre, e->what, why);
        break;
    default:
        snprintf(buf, cap, "%serror during container init: %s: %s: unknown", pre, e->what, why);
        break;
    }
}
