/*
 * One container process, set up the way a container runtime would within
 * what a test machine allows: its own process group, its own
 * mount and UTS namespaces (hostname = the pod's name), a root that is an
 * overlay of the host's root (upper layer on a tmpfs private to the container,
 * so nothing the process writes outside its volumes lands on the host), the
 * host's other mounts (/proc, /sys, ...) re-attached, a fresh /dev (tmpfs with
 * null, zero, full, random, urandom and tty bound from the host, pts, shm),
 * then the volume mounts at their mountPaths, stdin on /dev/null, stdout and
 * stderr into the log file, and exec.
 *
 * A mountPath whose directories do not exist is created inside the
 * container's root overlay; when its nearest existing ancestor is on one of
 * the host's re-attached mounts, that ancestor first gets an overlay of its
 * own (upper layer on the same private tmpfs), so nothing is created on the
 * host. Paths are resolved inside the container's root (openat2
 * RESOLVE_IN_ROOT), so a symlink such as /var/run -> /run means the
 * container's /run, never the host's.
 *
 * Between fork and exec the child only makes system calls on data the parent
 * prepared (no allocation), and reports a failure on a pipe.
 * Needs root (CAP_SYS_ADMIN) and Linux >= 5.12 (open_tree, move_mount,
 * mount_setattr, openat2).
 */
#ifndef QSO_SIM_POD_SANDBOX_H
#define QSO_SIM_POD_SANDBOX_H

#include <stddef.h>
#include <sys/types.h>

struct sim_mount {
    const char *source; /* host path: a directory, or a file when is_file */
    const char *target; /* absolute path inside the container */
    int readonly;
    int is_file;
};

struct sim_sandbox_spec {
    const char *scratch;  /* an empty host directory; the child mounts its tmpfs there */
    const char *hostname; /* the pod's name */
    const char *path;     /* the executable (the container's root shows the host's files) */
    char *const *argv;
    char *const *envp;
    const char *workdir; /* absolute; NULL or "" for "/" */
    const struct sim_mount *mounts;
    size_t nmounts;
    int log_fd; /* stdout and stderr */
};

/* What went wrong in the child before exec. */
struct sim_sandbox_err {
    int err;         /* errno */
    int step;        /* which part failed (private to sim_pod_sandbox.c) */
    char what[1000]; /* the path concerned (exec: the program) */
};

/*
 * Forks the container process. Returns its pid (also its process group id),
 * or -1 with errno. *status_fd receives the non-blocking read end
 * of a pipe the child reports on: see sim_sandbox_status.
 */
pid_t sim_sandbox_spawn(const struct sim_sandbox_spec *s, int *status_fd);

/* Reads the child's report without blocking: 1 when exec succeeded (the pipe
 * closed without a report; the fd is closed), 0 when not known yet, -1 when
 * setup or exec failed (*e filled; the fd is closed). */
int sim_sandbox_status(int *status_fd, struct sim_sandbox_err *e);

/* The runtime's wording of a failed start, as containerd/runc put it in the
 * StartError message and the Failed event. */
void sim_sandbox_message(const struct sim_sandbox_err *e, char *buf, size_t cap);

#endif
