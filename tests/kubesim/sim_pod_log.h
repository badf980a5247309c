/*
 * Container logs, as the simulated kubelet keeps them and kube-apiserver
 * serves them (GET .../pods/NAME/log).
 *
 * A container instance writes its stdout and stderr straight into one file,
 * <pod dir>/logs/<container>/<container id>.log, so a chatty process is never
 * throttled by the kubelet's tick. Beside it, <id>.idx records when the file
 * grew: the kubelet appends {size, time} each tick the size changed, and an
 * end record once the instance has exited. A line's time is the time of the
 * record that covers its newline (a CRI runtime also stamps a line when it has
 * read all of it), so `timestamps`, `sinceSeconds` and `sinceTime` work at the
 * tick's 100 ms resolution. Lines are served whole, as CRI logs hold them; a
 * line longer than 16 KiB is cut into pieces, as containerd does.
 *
 * Readers only need the files: a followed log keeps its own descriptors and
 * stops at the end record, or when the files are removed with their pod.
 */
#ifndef QSO_SIM_POD_LOG_H
#define QSO_SIM_POD_LOG_H

#include <stddef.h>
#include <stdint.h>

struct sim_server;
struct sim_request;
struct sim_reqinfo;
struct sim_response;

/* <state_dir>/pods/<ns>_<name>_<uid>; 0, or -1 when it does not fit. */
int sim_pod_dir(const struct sim_server *srv, const char *ns, const char *name, const char *uid,
                char *buf, size_t cap);
/* <pod_dir>/logs/<container>/<id><ext> where id is the part of a container
 * ID after "containerd://"; 0, or -1 when it does not fit. */
int sim_pod_log_path(const char *pod_dir, const char *container, const char *container_id,
                     const char *ext, char *buf, size_t cap);

/* The kubelet's side of one container instance's log. */
struct sim_logw {
    int log_fd; /* the container's stdout/stderr, kept open to watch its size */
    int idx_fd;
    uint64_t indexed; /* bytes covered by the index so far */
};

/* Creates (truncates) both files; 0 or -1 with errno. */
int sim_logw_open(struct sim_logw *w, const char *log_path, const char *idx_path);
/* Records the growth since the last call with the current time. */
void sim_logw_index(struct sim_logw *w);
/* The last index record and the end record; closes both files. Safe to
 * call on a closed (or never opened: fds -1) writer. */
void sim_logw_end(struct sim_logw *w);
/* Appends an end record to an index file of an instance this process does not
 * run any more (lost across a simulator restart), so followers stop. */
void sim_logw_end_path(const char *idx_path);

/* The tail of a log as FallbackToLogsOnError takes it: the last `max_lines`
 * lines, at most `max_bytes` bytes of them. malloc'd; "" when unreadable. */
char *sim_log_tail(const char *log_path, size_t max_lines, size_t max_bytes);

/* GET .../pods/NAME/log: container, follow, previous, timestamps, tailLines,
 * limitBytes, sinceSeconds, sinceTime; refusals with the real wording. */
void sim_pod_log_serve(struct sim_server *srv, const struct sim_request *req,
                       const struct sim_reqinfo *ri, struct sim_response *resp);

#endif
