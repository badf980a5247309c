/*
 * The simulated node's kubelet: every Pod bound to SIM_NODE_NAME whose images
 * are mapped to local binaries (workloads "images") runs as local processes,
 * and the Pod's status and Events say so as kubelet v1.32 would.
 *
 * What it does, in the kubelet's words:
 *  - Scheduling: a pending pod without spec.nodeName (schedulerName
 *    default-scheduler) is bound to the one node through pods/binding, with
 *    the scheduler's "Scheduled" event. Pods bound elsewhere are left alone.
 *  - Volumes (sim_pod_volumes.c) are set up before anything starts; a failure
 *    is a FailedMount event and a retry, the containers waiting in
 *    ContainerCreating. Then startDelayMs.
 *  - Images: an unmapped image fails its pull (ErrImagePull, then
 *    ImagePullBackOff with back-off, Failed/BackOff events); mapping it
 *    later lets the next attempt succeed. A mapped image is "already present
 *    on machine" (pulled, when imagePullPolicy is Always).
 *  - Environment (sim_pod_env.c): a missing Secret/ConfigMap or key is
 *    CreateContainerConfigError, retried.
 *  - Init containers run one after the other, each to success, before the
 *    containers start together. restartPolicy Never/OnFailure/Always decides
 *    restarts; a restart after the first waits for the crash-loop back-off
 *    (base doubling to max), in CrashLoopBackOff with a BackOff event.
 *  - Status: phase by the kubelet's getPhase, conditions
 *    PodReadyToStartContainers/Initialized/Ready/ContainersReady (PodScheduled
 *    from the binding), hostIP/podIP 127.0.0.1 (host network), startTime,
 *    qosClass, container statuses with state/lastState/restartCount/imageID/
 *    containerID/started/ready; terminated: exitCode (128+signal when
 *    killed), reason Completed/Error/StartError (startedAt at the epoch, as
 *    containerd reports it), the termination message (the last 4096 bytes of
 *    the terminationMessagePath file, or with FallbackToLogsOnError the last
 *    80 lines / 2048 bytes of the log when the file is empty and the
 *    container failed). Written with PUT pods/NAME/status only when changed.
 *  - activeDeadlineSeconds: the pod is killed and Failed with reason
 *    DeadlineExceeded.
 *  - Deletion: the API keeps a pod with deletionTimestamp for its grace
 *    period (sim_verbs.c); the kubelet sends SIGTERM to each container's
 *    process group (Killing event), SIGKILL when the grace period is over
 *    (at least 2 s, as the kubelet's minimum), writes the final status
 *    and deletes the object with gracePeriodSeconds=0 and a UID precondition.
 *    A pod that vanished from the API (force deletion) is killed likewise.
 *    Its directory under <state dir>/pods goes with it.
 *  - Logs: each instance's stdout/stderr in its own file (sim_pod_log.c).
 *
 * Never blocks: children are reaped with WNOHANG, the exec result is read
 * from a non-blocking pipe, at most a few starts and bindings happen per tick.
 *
 * Simplified, and why:
 *  - No probes: a running container is ready and started at once.
 *  - No sidecar (restartable init) or ephemeral containers, no lifecycle
 *    hooks, no resource enforcement, no securityContext (processes run as
 *    the simulator's user), no /etc/hosts or resolv.conf management, no
 *    network namespace (the pod shares the host's; podIP is 127.0.0.1).
 *  - After a simulator restart the processes of running pods are gone: their
 *    containers read as terminated (ContainerStatusUnknown, 137) and the
 *    restart policy decides, as after a node reboot.
 *  - The crash-loop back-off is never reset by a long successful run.
 *  - Events are aggregated per pod (same reason, message and container
 *    bump the count) rather than by the recorder's cluster-wide correlator.
 */
#include "sim_kubelet.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "k8s_log.h"
#include "k8s_patch.h"
#include "sim_internal.h"
#include "sim_pod_env.h"
#include "sim_pod_log.h"
#include "sim_pod_sandbox.h"
#include "sim_pod_volumes.h"
#include "sim_server.h"
#include "sim_store.h"
#include "sim_util.h"
#include "sim_workloads.h"

#define MAX_STARTS_PER_TICK 8
#define MAX_BINDS_PER_TICK  32
#define MAX_EVENTS_KEPT     32
#define MIN_KILL_GRACE_S    2
#define TERM_MSG_MAX        4096
#define FALLBACK_LINES      80
#define FALLBACK_BYTES      2048
#define DEFAULT_PATH        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

enum cstate { CS_WAITING, CS_CREATING, CS_RUNNING, CS_TERMINATED };

struct kctr {
    char name[256];
    int init;
    enum cstate state;
    char w_reason[64];
    char *w_message;
    /* The current (or last) instance. */
    int have_instance;
    int restarts;
    char cid[96];
    pid_t pid; /* > 0 until reaped */
    int status_fd;
    char *start_error; /* the runtime's message when exec or set-up failed */
    struct sim_logw log;
    char log_path[4608];
    char term_path[4608];
    char scratch[4608];
    int64_t started_at; /* unix seconds; StartError: 0 */
    int64_t finished_at;
    int64_t finished_ms; /* monotonic, for the back-off */
    int exit_code;
    char t_reason[40];
    char *t_message;
    cJSON *last_state; /* {"terminated": {...}} of the previous instance */
    /* Retries. */
    int64_t backoff_ms; /* crash-loop period; 0 before the first restart */
    int in_backoff;     /* waiting in CrashLoopBackOff */
    int64_t pull_backoff_ms;
    int64_t pull_retry_ms; /* monotonic */
    char *pull_err;
    int64_t config_retry_ms;
    int signalled; /* SIGTERM sent */
};

struct evrec {
    char key[1200];
    char name[300];
    int count;
};

struct kpod {
    struct kpod *next;
    struct kpod *hnext; /* the uid index's chain */
    char ns[256], name[256], uid[64];
    char dir[4096];
    struct kctr *c; /* init containers first */
    size_t nc, ninit;
    struct sim_podvols vols;
    int vols_ready;
    int64_t mount_retry_ms;
    int mount_failures;
    int64_t start_due_ms;
    int64_t start_time;
    int64_t next_sync_ms;
    int terminal;
    char phase[16];
    char reason[64];
    char message[256];
    int deleting;
    int64_t kill_at_ms;
    int deadline_hit;
    int delete_sent;
    int seen;
    int gone; /* the object left the API: kill, clean up, forget */
    struct evrec ev[MAX_EVENTS_KEPT];
    size_t nev;
    int dirty;
};

struct sim_kubelet {
    struct kpod *pods;
    struct kpod **index; /* by uid: each tick looks every pod up */
    size_t nbuckets, count;
    int swept; /* stale pod directories of an earlier run removed */
    uint64_t ev_seq;
};

/* ---- small helpers ---- */

static const char *or_empty(const char *s)
{
    return s ? s : "";
}

static int64_t parse_ts(const char *s)
{
    int64_t t = s ? sim_parse_rfc3339(s) : -1;
    return t < 0 ? 0 : t;
}

static void set_str(char **dst, const char *src)
{
    free(*dst);
    *dst = src ? strdup(src) : NULL;
}

static long knob(struct sim_server *srv, const char *name, long def)
{
    return sim_wl_int(srv, def, "kubelet", name, NULL);
}

static void go_duration(int64_t ms, char *out, size_t cap)
{
    int64_t s = ms / 1000;
    if (ms < 1000)
        snprintf(out, cap, "%lldms", (long long)ms);
    else if (s < 60)
        snprintf(out, cap, "%llds", (long long)s);
    else if (s < 3600)
        snprintf(out, cap, "%lldm%llds", (long long)(s / 60), (long long)(s % 60));
    else
        snprintf(out, cap, "%lldh%lldm%llds", (long long)(s / 3600), (long long)(s / 60 % 60),
                 (long long)(s % 60));
}

static const cJSON *pod_container(const cJSON *pod, const struct kctr *c)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, sim_jget(pod, "spec", c->init ? "initContainers" : "containers", NULL))
    {
        const char *n = sim_jstr(it, "name", NULL);
        if (n && strcmp(n, c->name) == 0)
            return it;
    }
    return NULL;
}

static const char *restart_policy(const cJSON *pod)
{
    const char *rp = sim_jstr(pod, "spec", "restartPolicy", NULL);
    return rp ? rp : "Always";
}

static int mkdirs(const char *path, mode_t mode)
{
    char buf[4608];
    size_t n = strlen(path);
    if (n >= sizeof(buf))
        return -1;
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++)
        if (buf[i] == '/' || buf[i] == '\0') {
            char save = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, mode) != 0 && errno != EEXIST)
                return -1;
            buf[i] = save;
        }
    return 0;
}

/* ---- events ---- */

static void post_event(struct sim_server *srv, struct sim_kubelet *m, const cJSON *pod,
                       const char *component, const char *field, const char *type,
                       const char *reason, const char *msg, char *name_out, size_t name_cap)
{
    const char *ns = sim_jstr(pod, "metadata", "namespace", NULL);
    const char *pname = sim_jstr(pod, "metadata", "name", NULL);
    cJSON *ev = cJSON_CreateObject(), *meta, *io, *src;
    char name[300], path[600], ts[32];
    struct timespec now;
    if (!ev || !ns || !pname) {
        cJSON_Delete(ev);
        return;
    }
    clock_gettime(CLOCK_REALTIME, &now);
    /* The recorder's name: the object's name and the time in hex. */
    snprintf(name, sizeof(name), "%s.%llx", pname,
             (unsigned long long)((uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec +
                                  m->ev_seq++));
    sim_rfc3339(now.tv_sec, ts);
    cJSON_AddStringToObject(ev, "apiVersion", "v1");
    cJSON_AddStringToObject(ev, "kind", "Event");
    meta = cJSON_AddObjectToObject(ev, "metadata");
    cJSON_AddStringToObject(meta, "name", name);
    cJSON_AddStringToObject(meta, "namespace", ns);
    io = cJSON_AddObjectToObject(ev, "involvedObject");
    cJSON_AddStringToObject(io, "kind", "Pod");
    cJSON_AddStringToObject(io, "namespace", ns);
    cJSON_AddStringToObject(io, "name", pname);
    if (sim_jstr(pod, "metadata", "uid", NULL))
        cJSON_AddStringToObject(io, "uid", sim_jstr(pod, "metadata", "uid", NULL));
    cJSON_AddStringToObject(io, "apiVersion", "v1");
    if (sim_jstr(pod, "metadata", "resourceVersion", NULL))
        cJSON_AddStringToObject(io, "resourceVersion",
                                sim_jstr(pod, "metadata", "resourceVersion", NULL));
    if (field)
        cJSON_AddStringToObject(io, "fieldPath", field);
    cJSON_AddStringToObject(ev, "reason", reason);
    cJSON_AddStringToObject(ev, "message", msg);
    src = cJSON_AddObjectToObject(ev, "source");
    cJSON_AddStringToObject(src, "component", component);
    if (strcmp(component, "kubelet") == 0)
        cJSON_AddStringToObject(src, "host", SIM_NODE_NAME);
    cJSON_AddStringToObject(ev, "firstTimestamp", ts);
    cJSON_AddStringToObject(ev, "lastTimestamp", ts);
    cJSON_AddNumberToObject(ev, "count", 1);
    cJSON_AddStringToObject(ev, "type", type);
    cJSON_AddNullToObject(ev, "eventTime");
    cJSON_AddStringToObject(ev, "reportingComponent", component);
    cJSON_AddStringToObject(ev, "reportingInstance",
                            strcmp(component, "kubelet") == 0 ? SIM_NODE_NAME : "");
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/events", ns);
    /* A terminating namespace refuses new events; that is fine. */
    sim_internal_call(srv, "POST", path, ev, NULL, NULL);
    cJSON_Delete(ev);
    if (name_out)
        snprintf(name_out, name_cap, "%s", name);
}

/* A kubelet event about the pod (field NULL) or one of its containers. */
static void event(struct sim_server *srv, struct sim_kubelet *m, struct kpod *kp, const cJSON *pod,
                  const struct kctr *c, const char *type, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 8, 9)));

static void event(struct sim_server *srv, struct sim_kubelet *m, struct kpod *kp, const cJSON *pod,
                  const struct kctr *c, const char *type, const char *reason, const char *fmt, ...)
{
    char msg[2048], field[400] = "", key[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (c)
        snprintf(field, sizeof(field), "spec.%s{%s}", c->init ? "initContainers" : "containers",
                 c->name);
    if ((size_t)snprintf(key, sizeof(key), "%s|%s|%.500s", reason, field, msg) >= sizeof(key))
        key[sizeof(key) - 1] = '\0';
    for (size_t i = 0; i < kp->nev; i++) {
        if (strcmp(kp->ev[i].key, key) == 0) {
            /* The recorder's aggregation: the same event again bumps its count. */
            cJSON *patch = cJSON_CreateObject();
            char path[900], ts[32];
            sim_rfc3339(sim_now_unix(), ts);
            cJSON_AddNumberToObject(patch, "count", ++kp->ev[i].count);
            cJSON_AddStringToObject(patch, "lastTimestamp", ts);
            snprintf(path, sizeof(path), "/api/v1/namespaces/%s/events/%s", kp->ns, kp->ev[i].name);
            sim_internal_call(srv, "PATCH", path, patch, "application/merge-patch+json", NULL);
            cJSON_Delete(patch);
            return;
        }
    }
    {
        struct evrec *r;
        if (kp->nev == MAX_EVENTS_KEPT) {
            memmove(&kp->ev[0], &kp->ev[1], (MAX_EVENTS_KEPT - 1) * sizeof(kp->ev[0]));
            kp->nev--;
        }
        r = &kp->ev[kp->nev++];
        snprintf(r->key, sizeof(r->key), "%s", key);
        r->count = 1;
        post_event(srv, m, pod, "kubelet", *field ? field : NULL, type, reason, msg, r->name,
                   sizeof(r->name));
    }
}

/* ---- pods as the kubelet tracks them ---- */

static void ctr_clear(struct kctr *c)
{
    free(c->w_message);
    free(c->start_error);
    free(c->t_message);
    free(c->pull_err);
    cJSON_Delete(c->last_state);
    c->w_message = c->start_error = c->t_message = c->pull_err = NULL;
    c->last_state = NULL;
    if (c->status_fd >= 0)
        close(c->status_fd);
    c->status_fd = -1;
    sim_logw_end(&c->log);
}

static void kpod_free(struct kpod *kp)
{
    for (size_t i = 0; i < kp->nc; i++)
        ctr_clear(&kp->c[i]);
    free(kp->c);
    sim_podvols_free(&kp->vols);
    free(kp);
}

static int any_alive(const struct kpod *kp)
{
    for (size_t i = 0; i < kp->nc; i++)
        if (kp->c[i].pid > 0)
            return 1;
    return 0;
}

static void signal_all(struct kpod *kp, int sig)
{
    for (size_t i = 0; i < kp->nc; i++)
        if (kp->c[i].pid > 0 && kill(-kp->c[i].pid, sig) != 0)
            kill(kp->c[i].pid, sig);
}

static cJSON *terminated_json(const struct kctr *c)
{
    cJSON *t = cJSON_CreateObject();
    char ts[32];
    cJSON_AddNumberToObject(t, "exitCode", c->exit_code);
    if (*c->t_reason)
        cJSON_AddStringToObject(t, "reason", c->t_reason);
    if (c->t_message && *c->t_message)
        cJSON_AddStringToObject(t, "message", c->t_message);
    sim_rfc3339(c->started_at, ts);
    cJSON_AddStringToObject(t, "startedAt", ts);
    sim_rfc3339(c->finished_at, ts);
    cJSON_AddStringToObject(t, "finishedAt", ts);
    if (*c->cid)
        cJSON_AddStringToObject(t, "containerID", c->cid);
    return t;
}

/* Restores what the pod's status says of a container (a simulator restart):
 * a running one has lost its process. */
static void restore_ctr(struct kctr *c, const cJSON *st, const char *dir)
{
    const cJSON *state = sim_jget(st, "state", NULL), *x;
    const cJSON *rc = sim_jget(st, "restartCount", NULL);
    const char *cid = sim_jstr(st, "containerID", NULL);
    if (!st)
        return;
    c->restarts = cJSON_IsNumber(rc) ? (int)rc->valuedouble : 0;
    if (cid) {
        snprintf(c->cid, sizeof(c->cid), "%s", cid);
        c->have_instance = 1;
    }
    if (sim_jget(st, "lastState", "terminated", NULL))
        c->last_state = cJSON_Duplicate(sim_jget(st, "lastState", NULL), 1);
    if ((x = sim_jget(state, "terminated", NULL)) != NULL) {
        const cJSON *ec = sim_jget(x, "exitCode", NULL);
        c->state = CS_TERMINATED;
        c->exit_code = cJSON_IsNumber(ec) ? (int)ec->valuedouble : 0;
        snprintf(c->t_reason, sizeof(c->t_reason), "%s",
                 sim_jstr(x, "reason", NULL) ? sim_jstr(x, "reason", NULL) : "");
        set_str(&c->t_message, sim_jstr(x, "message", NULL));
        c->started_at = parse_ts((sim_jstr(x, "startedAt", NULL)));
        c->finished_at = parse_ts((sim_jstr(x, "finishedAt", NULL)));
        c->finished_ms = sim_mono_ms();
        if (sim_jstr(x, "containerID", NULL)) {
            snprintf(c->cid, sizeof(c->cid), "%s", sim_jstr(x, "containerID", NULL));
            c->have_instance = 1;
        }
    } else if ((x = sim_jget(state, "running", NULL)) != NULL) {
        char idx[4608];
        c->state = CS_TERMINATED;
        c->exit_code = 137;
        snprintf(c->t_reason, sizeof(c->t_reason), "ContainerStatusUnknown");
        set_str(&c->t_message, "The container could not be located when the pod was terminated");
        c->started_at = parse_ts((sim_jstr(x, "startedAt", NULL)));
        c->finished_at = sim_now_unix();
        c->finished_ms = sim_mono_ms();
        if (*c->cid && sim_pod_log_path(dir, c->name, c->cid, ".idx", idx, sizeof(idx)) == 0)
            sim_logw_end_path(idx); /* so a follower of its log stops */
    }
}

static struct kpod *kpod_new(const cJSON *pod, const char *dir)
{
    struct kpod *kp = calloc(1, sizeof(*kp));
    const cJSON *lists[2], *it;
    size_t n = 0;
    if (!kp)
        return NULL;
    snprintf(kp->ns, sizeof(kp->ns), "%s", or_empty(sim_jstr(pod, "metadata", "namespace", NULL)));
    snprintf(kp->name, sizeof(kp->name), "%s", or_empty(sim_jstr(pod, "metadata", "name", NULL)));
    snprintf(kp->uid, sizeof(kp->uid), "%s", or_empty(sim_jstr(pod, "metadata", "uid", NULL)));
    snprintf(kp->dir, sizeof(kp->dir), "%s", dir);
    snprintf(kp->phase, sizeof(kp->phase), "Pending");
    lists[0] = sim_jget(pod, "spec", "initContainers", NULL);
    lists[1] = sim_jget(pod, "spec", "containers", NULL);
    kp->ninit = (size_t)cJSON_GetArraySize(lists[0]);
    kp->nc = kp->ninit + (size_t)cJSON_GetArraySize(lists[1]);
    kp->c = calloc(kp->nc + 1, sizeof(*kp->c));
    if (!kp->c) {
        free(kp);
        return NULL;
    }
    for (int l = 0; l < 2; l++)
        cJSON_ArrayForEach(it, lists[l])
        {
            struct kctr *c = &kp->c[n++];
            const char *status_list = l == 0 ? "initContainerStatuses" : "containerStatuses";
            const cJSON *st;
            c->init = l == 0;
            c->status_fd = -1;
            c->log.log_fd = c->log.idx_fd = -1;
            snprintf(c->name, sizeof(c->name), "%s", or_empty(sim_jstr(it, "name", NULL)));
            cJSON_ArrayForEach(st, sim_jget(pod, "status", status_list, NULL))
            {
                const char *sn = sim_jstr(st, "name", NULL);
                if (sn && strcmp(sn, c->name) == 0)
                    restore_ctr(c, st, dir);
            }
        }
    {
        const char *stime = sim_jstr(pod, "status", "startTime", NULL);
        if (stime)
            kp->start_time = sim_parse_rfc3339(stime);
    }
    kp->dirty = 1;
    return kp;
}

/* ---- status ---- */

/* "docker.io/library/x@sha256:<digest>": a stable digest of the image name
 * and the binary it runs as. */
static void image_id(struct sim_server *srv, const char *image, char *out, size_t cap)
{
    const char *bin = sim_wl_image_binary(srv, image);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char text[3000], hex[2 * EVP_MAX_MD_SIZE + 1];
    size_t n = strlen(image), at = n;
    snprintf(text, sizeof(text), "%s\n%s", image, bin ? bin : "");
    if (EVP_Digest(text, strlen(text), md, &mdlen, EVP_sha256(), NULL) != 1)
        mdlen = 0;
    for (unsigned int i = 0; i < mdlen; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    hex[2 * mdlen] = '\0';
    /* The repository without tag or digest. */
    for (size_t i = n; i > 0; i--) {
        if (image[i - 1] == '@') {
            at = i - 1;
            break;
        }
        if (image[i - 1] == '/')
            break;
        if (image[i - 1] == ':')
            at = i - 1;
    }
    snprintf(out, cap, "%.*s@sha256:%s", (int)at, image, hex);
}

static int ctr_ready(const struct kctr *c)
{
    if (c->init)
        return c->state == CS_TERMINATED && c->exit_code == 0;
    return c->state == CS_RUNNING;
}

static cJSON *ctr_status(struct sim_server *srv, const struct kpod *kp, const struct kctr *c,
                         const cJSON *spec)
{
    cJSON *st = cJSON_CreateObject(), *state, *x;
    const char *image = or_empty(sim_jstr(spec, "image", NULL));
    char ts[32], iid[2600];
    cJSON_AddStringToObject(st, "name", c->name);
    state = cJSON_AddObjectToObject(st, "state");
    switch (c->state) {
    case CS_RUNNING:
        x = cJSON_AddObjectToObject(state, "running");
        sim_rfc3339(c->started_at, ts);
        cJSON_AddStringToObject(x, "startedAt", ts);
        break;
    case CS_TERMINATED:
        cJSON_AddItemToObject(state, "terminated", terminated_json(c));
        break;
    default: {
        /* Not started: the reason the kubelet gave, else its default. */
        const char *reason = c->w_reason;
        if (c->state == CS_CREATING)
            reason = "ContainerCreating";
        else if (!*reason)
            reason = kp->ninit > 0 ? "PodInitializing" : "ContainerCreating";
        x = cJSON_AddObjectToObject(state, "waiting");
        cJSON_AddStringToObject(x, "reason", reason);
        if (c->state == CS_WAITING && *c->w_reason && c->w_message && *c->w_message)
            cJSON_AddStringToObject(x, "message", c->w_message);
    }
    }
    if (c->last_state)
        cJSON_AddItemToObject(st, "lastState", cJSON_Duplicate(c->last_state, 1));
    else
        cJSON_AddObjectToObject(st, "lastState");
    cJSON_AddBoolToObject(st, "ready", ctr_ready(c));
    cJSON_AddNumberToObject(st, "restartCount", c->restarts);
    cJSON_AddStringToObject(st, "image", image);
    if (c->have_instance) {
        image_id(srv, image, iid, sizeof(iid));
        cJSON_AddStringToObject(st, "imageID", iid);
        cJSON_AddStringToObject(st, "containerID", c->cid);
    } else {
        cJSON_AddStringToObject(st, "imageID", "");
    }
    cJSON_AddBoolToObject(st, "started", !c->init && c->state == CS_RUNNING);
    return st;
}

/* The kubelet's getPhase (pkg/kubelet/kubelet_pods.go). `terminal`: the pod
 * is done (deleted or past its deadline): restarting containers count as
 * stopped. */
static const char *get_phase(const struct kpod *kp, const char *rp, int terminal)
{
    int pending_init = 0, failed_init = 0, running = 0, waiting = 0, stopped = 0, succeeded = 0;
    for (size_t i = 0; i < kp->nc; i++) {
        const struct kctr *c = &kp->c[i];
        int last_failed = c->last_state &&
                          cJSON_IsNumber(sim_jget(c->last_state, "terminated", "exitCode", NULL)) &&
                          sim_jget(c->last_state, "terminated", "exitCode", NULL)->valuedouble != 0;
        if (c->init) {
            if (c->state == CS_TERMINATED) {
                if (c->exit_code != 0)
                    failed_init++;
            } else if (c->state == CS_WAITING && c->last_state) {
                if (last_failed)
                    failed_init++;
            } else {
                pending_init++;
            }
            continue;
        }
        if (c->state == CS_RUNNING)
            running++;
        else if (c->state == CS_TERMINATED) {
            stopped++;
            if (c->exit_code == 0)
                succeeded++;
        } else if (c->last_state)
            stopped++;
        else
            waiting++;
    }
    if (failed_init > 0 && (strcmp(rp, "Never") == 0 || terminal))
        return "Failed";
    if (terminal && running == 0)
        return stopped > 0 && stopped == succeeded && waiting == 0 ? "Succeeded" : "Failed";
    if (pending_init > 0 || waiting > 0)
        return "Pending";
    if (running > 0)
        return "Running";
    if (stopped > 0) {
        if (strcmp(rp, "Always") == 0)
            return "Running";
        if (stopped == succeeded)
            return "Succeeded";
        if (strcmp(rp, "Never") == 0)
            return "Failed";
        return "Running";
    }
    return "Pending";
}

/* Kubernetes' qos.GetPodQOS, for cpu and memory. */
static const char *qos_class(const cJSON *pod)
{
    static const char *const lists[] = {"initContainers", "containers"};
    int any = 0, guaranteed = 1;
    const cJSON *c;
    for (size_t l = 0; l < 2; l++)
        cJSON_ArrayForEach(c, sim_jget(pod, "spec", lists[l], NULL))
        {
            static const char *const res[] = {"cpu", "memory"};
            for (size_t r = 0; r < 2; r++) {
                const char *lim = sim_jstr(c, "resources", "limits", res[r], NULL);
                const char *req = sim_jstr(c, "resources", "requests", res[r], NULL);
                if (lim || req)
                    any = 1;
                if (!lim || (req && strcmp(req, lim) != 0))
                    guaranteed = 0;
            }
        }
    if (!any)
        return "BestEffort";
    return guaranteed ? "Guaranteed" : "Burstable";
}

static void names_list(const struct kpod *kp, int init, int want_unready, char *out, size_t cap)
{
    size_t off = 0;
    out[off++] = '[';
    out[off] = '\0';
    for (size_t i = 0; i < kp->nc; i++) {
        const struct kctr *c = &kp->c[i];
        int n;
        if (c->init != init || ctr_ready(c) != !want_unready)
            continue;
        n = snprintf(out + off, cap - off, "%s%s", off > 1 ? " " : "", c->name);
        if (n < 0 || (size_t)n >= cap - off)
            break;
        off += (size_t)n;
    }
    if (off + 2 <= cap) {
        out[off++] = ']';
        out[off] = '\0';
    }
}

static void add_condition(cJSON *conds, const cJSON *old, const char *type, int status,
                          const char *reason, const char *message)
{
    cJSON *c = cJSON_CreateObject();
    const cJSON *o, *prev = NULL;
    char ts[32];
    const char *st = status ? "True" : "False";
    cJSON_ArrayForEach(o, old)
    {
        const char *t = sim_jstr(o, "type", NULL);
        if (t && strcmp(t, type) == 0)
            prev = o;
    }
    cJSON_AddStringToObject(c, "type", type);
    cJSON_AddStringToObject(c, "status", st);
    cJSON_AddNullToObject(c, "lastProbeTime");
    /* lastTransitionTime moves only when the status does. */
    if (prev && sim_jstr(prev, "status", NULL) && strcmp(sim_jstr(prev, "status", NULL), st) == 0 &&
        sim_jstr(prev, "lastTransitionTime", NULL))
        cJSON_AddStringToObject(c, "lastTransitionTime",
                                sim_jstr(prev, "lastTransitionTime", NULL));
    else {
        sim_rfc3339(sim_now_unix(), ts);
        cJSON_AddStringToObject(c, "lastTransitionTime", ts);
    }
    if (reason)
        cJSON_AddStringToObject(c, "reason", reason);
    if (message)
        cJSON_AddStringToObject(c, "message", message);
    cJSON_AddItemToArray(conds, c);
}

static int kubelet_condition(const char *t)
{
    static const char *const own[] = {"PodReadyToStartContainers", "Initialized", "Ready",
                                      "ContainersReady", "PodScheduled"};
    for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
        if (strcmp(t, own[i]) == 0)
            return 1;
    return 0;
}

static cJSON *build_status(struct sim_server *srv, const struct kpod *kp, const cJSON *pod)
{
    const cJSON *old = sim_jget(pod, "status", NULL);
    const cJSON *oldc = sim_jget(old, "conditions", NULL), *o;
    cJSON *st = cJSON_CreateObject(), *conds, *ics = NULL, *cs;
    int completed = strcmp(kp->phase, "Succeeded") == 0 || strcmp(kp->phase, "Failed") == 0;
    int init_done = 1, all_ready = 1;
    char names[2048], msg[2200], ts[32];
    for (size_t i = 0; i < kp->nc; i++) {
        if (kp->c[i].init && !ctr_ready(&kp->c[i]))
            init_done = 0;
        if (!kp->c[i].init && !ctr_ready(&kp->c[i]))
            all_ready = 0;
    }
    cJSON_AddStringToObject(st, "phase", kp->phase);
    conds = cJSON_AddArrayToObject(st, "conditions");
    add_condition(conds, oldc, "PodReadyToStartContainers", kp->vols_ready && !completed, NULL,
                  NULL);
    if (init_done) {
        add_condition(conds, oldc, "Initialized", 1, NULL, NULL);
    } else {
        names_list(kp, 1, 1, names, sizeof(names));
        snprintf(msg, sizeof(msg), "containers with incomplete status: %s", names);
        add_condition(conds, oldc, "Initialized", 0, "ContainersNotInitialized", msg);
    }
    if (completed) {
        add_condition(conds, oldc, "Ready", 0, "PodCompleted", NULL);
        add_condition(conds, oldc, "ContainersReady", 0, "PodCompleted", NULL);
    } else if (all_ready) {
        add_condition(conds, oldc, "Ready", 1, NULL, NULL);
        add_condition(conds, oldc, "ContainersReady", 1, NULL, NULL);
    } else {
        names_list(kp, 0, 1, names, sizeof(names));
        snprintf(msg, sizeof(msg), "containers with unready status: %s", names);
        add_condition(conds, oldc, "Ready", 0, "ContainersNotReady", msg);
        add_condition(conds, oldc, "ContainersReady", 0, "ContainersNotReady", msg);
    }
    add_condition(conds, oldc, "PodScheduled", 1, NULL, NULL);
    cJSON_ArrayForEach(o, oldc)
    {
        const char *t = sim_jstr(o, "type", NULL);
        if (t && !kubelet_condition(t))
            cJSON_AddItemToArray(conds, cJSON_Duplicate(o, 1));
    }
    if (*kp->reason)
        cJSON_AddStringToObject(st, "reason", kp->reason);
    if (*kp->message)
        cJSON_AddStringToObject(st, "message", kp->message);
    cJSON_AddStringToObject(st, "hostIP", "127.0.0.1");
    cJSON_AddItemToObject(st, "hostIPs", cJSON_Parse("[{\"ip\":\"127.0.0.1\"}]"));
    if (kp->vols_ready) {
        cJSON_AddStringToObject(st, "podIP", "127.0.0.1");
        cJSON_AddItemToObject(st, "podIPs", cJSON_Parse("[{\"ip\":\"127.0.0.1\"}]"));
    }
    if (kp->start_time) {
        sim_rfc3339(kp->start_time, ts);
        cJSON_AddStringToObject(st, "startTime", ts);
    }
    if (kp->ninit)
        ics = cJSON_AddArrayToObject(st, "initContainerStatuses");
    cs = cJSON_AddArrayToObject(st, "containerStatuses");
    for (size_t i = 0; i < kp->nc; i++) {
        const struct kctr *c = &kp->c[i];
        cJSON_AddItemToArray(c->init ? ics : cs, ctr_status(srv, kp, c, pod_container(pod, c)));
    }
    cJSON_AddStringToObject(st, "qosClass", qos_class(pod));
    return st;
}

/* PUT pods/NAME/status when the status differs from the stored one. */
static void write_status(struct sim_server *srv, struct kpod *kp, const cJSON *pod)
{
    cJSON *st = build_status(srv, kp, pod), *obj;
    char path[700];
    kp->dirty = 0;
    if (!st)
        return;
    if (k8s_json_equal(st, sim_jget(pod, "status", NULL))) {
        cJSON_Delete(st);
        return;
    }
    obj = cJSON_Duplicate(pod, 1);
    if (!obj) {
        cJSON_Delete(st);
        return;
    }
    sim_jset(obj, "status", st);
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s/status", kp->ns, kp->name);
    if (sim_internal_call(srv, "PUT", path, obj, NULL, NULL) != 200)
        kp->dirty = 1; /* try again next tick */
    cJSON_Delete(obj);
}

/* ---- container processes ---- */

/* The last `max` bytes of the termination-message file (tail.ReadAtMost). */
static char *read_termination(const char *path, size_t max)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    size_t n;
    off_t at;
    char *buf;
    ssize_t got;
    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) != 0 || st.st_size <= 0) {
        close(fd);
        return NULL;
    }
    n = (size_t)st.st_size > max ? max : (size_t)st.st_size;
    at = st.st_size - (off_t)n;
    buf = malloc(n + 1);
    got = buf ? pread(fd, buf, n, at) : -1;
    close(fd);
    if (got < 0) {
        free(buf);
        return NULL;
    }
    buf[got] = '\0';
    return buf;
}

static void reap_ctr(struct sim_server *srv, struct sim_kubelet *m, struct kpod *kp, struct kctr *c,
                     const cJSON *pod)
{
    struct sim_sandbox_err e;
    int status = 0, s;
    pid_t r;
    if (c->pid <= 0)
        return;
    if (c->status_fd >= 0) {
        memset(&e, 0, sizeof(e));
        s = sim_sandbox_status(&c->status_fd, &e);
        if (s == 1 && c->state == CS_CREATING) {
            c->state = CS_RUNNING;
            c->started_at = sim_now_unix();
            kp->dirty = 1;
            if (pod)
                event(srv, m, kp, pod, c, "Normal", "Started", "Started container %s", c->name);
        } else if (s < 0) {
            char msg[2400];
            sim_sandbox_message(&e, msg, sizeof(msg));
            set_str(&c->start_error, msg);
        }
    }
    r = waitpid(c->pid, &status, WNOHANG);
    if (r == 0 || (r < 0 && errno == EINTR)) {
        sim_logw_index(&c->log);
        return;
    }
    /* What the container left behind in its group goes with it, as with a
     * container's PID namespace. */
    kill(-c->pid, SIGKILL);
    c->pid = 0;
    c->finished_at = sim_now_unix();
    c->finished_ms = sim_mono_ms();
    c->signalled = 0;
    sim_logw_end(&c->log);
    rmdir(c->scratch);
    free(c->t_message);
    c->t_message = NULL;
    if (c->start_error) {
        /* containerd: the task never ran; startedAt is the zero time. */
        c->exit_code = 128;
        snprintf(c->t_reason, sizeof(c->t_reason), "StartError");
        c->t_message = c->start_error;
        c->start_error = NULL;
        c->started_at = 0;
        if (pod)
            event(srv, m, kp, pod, c, "Warning", "Failed", "Error: %s", c->t_message);
    } else {
        const cJSON *spec = pod ? pod_container(pod, c) : NULL;
        const char *policy = sim_jstr(spec, "terminationMessagePolicy", NULL);
        if (r < 0)
            c->exit_code = 137; /* reaped elsewhere: unknown, as killed */
        else if (WIFEXITED(status))
            c->exit_code = WEXITSTATUS(status);
        else if (WIFSIGNALED(status))
            c->exit_code = 128 + WTERMSIG(status);
        else
            c->exit_code = 255;
        snprintf(c->t_reason, sizeof(c->t_reason), "%s", c->exit_code == 0 ? "Completed" : "Error");
        c->t_message = read_termination(c->term_path, TERM_MSG_MAX);
        if ((!c->t_message || !*c->t_message) && c->exit_code != 0 && policy &&
            strcmp(policy, "FallbackToLogsOnError") == 0) {
            free(c->t_message);
            c->t_message = sim_log_tail(c->log_path, FALLBACK_LINES, FALLBACK_BYTES);
        }
        if (c->state == CS_CREATING)
            c->started_at = c->finished_at;
    }
    unlink(c->term_path);
    c->state = CS_TERMINATED;
    kp->dirty = 1;
    {
        char code[16];
        const char *kv[] = {"container", c->name, "exitCode", code, "reason", c->t_reason, NULL};
        snprintf(code, sizeof(code), "%d", c->exit_code);
        k8s_log(K8S_LOG_INFO, kp->ns, kp->name, "kubelet: container ended", kv);
    }
}

static void set_waiting(struct kctr *c, const char *reason, const char *msg)
{
    c->state = CS_WAITING;
    snprintf(c->w_reason, sizeof(c->w_reason), "%s", reason);
    set_str(&c->w_message, msg);
}

/*
 * The program and its arguments. The image's entrypoint is the mapped
 * binary: without `command`, argv is the binary then `args`. With `command`,
 * command[0] names the program as a runtime would resolve it in the image:
 * the mapped binary when its base name is the binary's (so the operator's
 * Jobs may say ["quay-storage-operator", "copy", ...]); else an absolute
 * path as is, or a name looked up in the container's PATH on the host's
 * files (so an image mapped to /bin/sh can run ["sh", "-c", ...]).
 */
static int make_argv(const cJSON *spec, const char *bin, const struct sim_env *env, char *path,
                     size_t pcap, char ***argv_out)
{
    const cJSON *cmd = sim_jget(spec, "command", NULL), *args = sim_jget(spec, "args", NULL), *it;
    size_t n = 0, total = (size_t)cJSON_GetArraySize(cmd) + (size_t)cJSON_GetArraySize(args) + 2;
    char **argv = calloc(total, sizeof(*argv));
    if (!argv)
        return -1;
    if (cJSON_GetArraySize(cmd) == 0) {
        snprintf(path, pcap, "%s", bin);
        argv[n++] = strdup(bin);
    } else {
        const char *base = strrchr(bin, '/');
        char *e0;
        e0 = sim_env_expand(cJSON_IsString(cJSON_GetArrayItem(cmd, 0))
                                ? cJSON_GetArrayItem(cmd, 0)->valuestring
                                : "",
                            env, NULL);
        if (!e0) {
            free(argv);
            return -1;
        }
        base = base ? base + 1 : bin;
        {
            const char *eb = strrchr(e0, '/');
            eb = eb ? eb + 1 : e0;
            if (strcmp(eb, base) == 0) {
                snprintf(path, pcap, "%s", bin);
            } else if (strchr(e0, '/')) {
                snprintf(path, pcap, "%s", e0);
            } else {
                const char *pathvar = sim_env_get(env, "PATH");
                char dirs[4096], *save = NULL, *d;
                snprintf(path, pcap, "%s", e0);
                snprintf(dirs, sizeof(dirs), "%s", pathvar ? pathvar : DEFAULT_PATH);
                for (d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
                    char cand[4608];
                    if ((size_t)snprintf(cand, sizeof(cand), "%s/%s", d, e0) < sizeof(cand) &&
                        access(cand, X_OK) == 0 && (size_t)snprintf(path, pcap, "%s", cand) < pcap)
                        break;
                }
            }
        }
        argv[n++] = e0;
        for (int i = 1; i < cJSON_GetArraySize(cmd); i++) {
            it = cJSON_GetArrayItem(cmd, i);
            argv[n++] = sim_env_expand(cJSON_IsString(it) ? it->valuestring : "", env, NULL);
        }
    }
    cJSON_ArrayForEach(it, args)
    {
        argv[n++] = sim_env_expand(cJSON_IsString(it) ? it->valuestring : "", env, NULL);
    }
    for (size_t i = 0; i < n; i++)
        if (!argv[i]) {
            sim_strv_free(argv);
            return -1;
        }
    *argv_out = argv;
    return 0;
}

static void config_error(struct sim_server *srv, struct sim_kubelet *m, struct kpod *kp,
                         const cJSON *pod, struct kctr *c, const char *msg)
{
    set_waiting(c, "CreateContainerConfigError", msg);
    c->config_retry_ms = sim_mono_ms() + 2000;
    event(srv, m, kp, pod, c, "Warning", "Failed", "Error: %s", msg);
    kp->dirty = 1;
}

static void random_hex(struct sim_server *srv, char *out, size_t nhex)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < nhex; i++)
        out[i] = digits[sim_rng_next(&srv->rng) & 15];
    out[nhex] = '\0';
}

/* Pull, create and start one container instance (or record why not). */
static void start_ctr(struct sim_server *srv, struct sim_kubelet *m, struct kpod *kp,
                      const cJSON *pod, struct kctr *c)
{
    const cJSON *spec = pod_container(pod, c);
    const char *image = or_empty(sim_jstr(spec, "image", NULL));
    const char *ipp = sim_jstr(spec, "imagePullPolicy", NULL);
    const char *bin;
    int64_t now = sim_mono_ms();
    char msg[2400], skipped[1024], hex[65], dir[4608], path[4096];
    struct sim_env env, full;
    struct sim_mountlist ml;
    struct sim_sandbox_spec sp;
    char **argv = NULL, **envp = NULL;
    pid_t pid;
    if (!spec)
        return;
    if (c->state == CS_TERMINATED && c->have_instance) {
        /* The instance that ended becomes the last state. */
        cJSON_Delete(c->last_state);
        c->last_state = cJSON_CreateObject();
        cJSON_AddItemToObject(c->last_state, "terminated", terminated_json(c));
        set_waiting(c, "", NULL);
        kp->dirty = 1;
    }
    /* A configuration error is retried on the kubelet's next sync of the pod. */
    if (now < c->config_retry_ms)
        return;
    if (now < c->pull_retry_ms) {
        if (strcmp(c->w_reason, "ImagePullBackOff") != 0) {
            snprintf(msg, sizeof(msg), "Back-off pulling image \"%s\": ErrImagePull: %s", image,
                     or_empty(c->pull_err));
            set_waiting(c, "ImagePullBackOff", msg);
            event(srv, m, kp, pod, c, "Normal", "BackOff", "Back-off pulling image \"%s\"", image);
            event(srv, m, kp, pod, c, "Warning", "Failed", "Error: ImagePullBackOff");
            kp->dirty = 1;
        }
        return;
    }
    bin = sim_wl_image_binary(srv, image);
    if (!bin) {
        long base = knob(srv, "backOffBaseMs", 10000), max = knob(srv, "backOffMaxMs", 300000);
        snprintf(msg, sizeof(msg),
                 "rpc error: code = NotFound desc = failed to pull and unpack image \"%s\": "
                 "failed to resolve reference \"%s\": %s: not found",
                 image, image, image);
        set_str(&c->pull_err, msg);
        event(srv, m, kp, pod, c, "Normal", "Pulling", "Pulling image \"%s\"", image);
        event(srv, m, kp, pod, c, "Warning", "Failed", "Failed to pull image \"%s\": %s", image,
              msg);
        event(srv, m, kp, pod, c, "Warning", "Failed", "Error: ErrImagePull");
        set_waiting(c, "ErrImagePull", msg);
        c->pull_backoff_ms = c->pull_backoff_ms ? c->pull_backoff_ms * 2 : base;
        if (c->pull_backoff_ms > max)
            c->pull_backoff_ms = max;
        c->pull_retry_ms = now + c->pull_backoff_ms;
        kp->dirty = 1;
        return;
    }
    c->pull_backoff_ms = 0;
    c->pull_retry_ms = 0;
    if (ipp && strcmp(ipp, "Always") == 0) {
        struct stat st;
        long long size = stat(bin, &st) == 0 ? (long long)st.st_size : 0;
        event(srv, m, kp, pod, c, "Normal", "Pulling", "Pulling image \"%s\"", image);
        event(srv, m, kp, pod, c, "Normal", "Pulled",
              "Successfully pulled image \"%s\" in 0s (0s including waiting). Image size: %lld "
              "bytes.",
              image, size);
    } else {
        /* EnsureImageExists says so at every start (the recorder counts). */
        event(srv, m, kp, pod, c, "Normal", "Pulled",
              "Container image \"%s\" already present on machine", image);
    }
    sim_env_init(&env);
    sim_env_init(&full);
    memset(&ml, 0, sizeof(ml));
    if (sim_pod_env(srv, pod, spec, &env, skipped, sizeof(skipped), msg, sizeof(msg)) != 0) {
        config_error(srv, m, kp, pod, c, msg);
        goto out;
    }
    if (*skipped)
        event(srv, m, kp, pod, c, "Warning", "InvalidEnvironmentVariableNames",
              "Keys [%s] from the EnvFrom were skipped since they are considered invalid "
              "environment variable names.",
              skipped);
    random_hex(srv, hex, 64);
    snprintf(c->cid, sizeof(c->cid), "containerd://%s", hex);
    if (sim_pod_log_path(kp->dir, c->name, c->cid, ".log", c->log_path, sizeof(c->log_path)) != 0 ||
        sim_pod_log_path(kp->dir, c->name, c->cid, ".idx", path, sizeof(path)) != 0) {
        config_error(srv, m, kp, pod, c, "the pod's directory path is too long");
        goto out;
    }
    snprintf(dir, sizeof(dir), "%s/logs/%s", kp->dir, c->name);
    mkdirs(dir, 0755);
    snprintf(dir, sizeof(dir), "%s/containers/%s", kp->dir, c->name);
    mkdirs(dir, 0755);
    if ((size_t)snprintf(c->term_path, sizeof(c->term_path), "%s/%.8s", dir, hex) >=
            sizeof(c->term_path) ||
        (size_t)snprintf(c->scratch, sizeof(c->scratch), "%s/rt/%.16s", kp->dir, hex) >=
            sizeof(c->scratch) ||
        mkdirs(c->scratch, 0700) != 0) {
        config_error(srv, m, kp, pod, c, strerror(errno));
        goto out;
    }
    {
        int fd = open(c->term_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
        if (fd >= 0) {
            fchmod(fd, 0666);
            close(fd);
        }
    }
    if (sim_podvols_mounts(&kp->vols, spec, &env, c->term_path, &ml, msg, sizeof(msg)) != 0) {
        config_error(srv, m, kp, pod, c, msg);
        goto out;
    }
    /* The image's environment, then the pod's (which wins), as runtimes
     * merge them. */
    sim_env_set(&full, "PATH", DEFAULT_PATH);
    sim_env_set(&full, "HOSTNAME", kp->name);
    for (size_t i = 0; i < env.n; i++)
        sim_env_set(&full, env.names[i], env.values[i]);
    if (!sim_env_get(&full, "HOME"))
        sim_env_set(&full, "HOME", "/root");
    envp = sim_env_envp(&full);
    if (!envp || make_argv(spec, bin, &full, path, sizeof(path), &argv) != 0) {
        config_error(srv, m, kp, pod, c, "out of memory");
        goto out;
    }
    {
        char idx[4608];
        sim_pod_log_path(kp->dir, c->name, c->cid, ".idx", idx, sizeof(idx));
        if (sim_logw_open(&c->log, c->log_path, idx) != 0) {
            config_error(srv, m, kp, pod, c, strerror(errno));
            goto out;
        }
    }
    memset(&sp, 0, sizeof(sp));
    sp.scratch = c->scratch;
    sp.hostname = kp->name;
    sp.path = path;
    sp.argv = argv;
    sp.envp = envp;
    sp.workdir = sim_jstr(spec, "workingDir", NULL);
    sp.mounts = ml.m;
    sp.nmounts = ml.n;
    sp.log_fd = c->log.log_fd;
    if (c->have_instance)
        c->restarts++;
    c->have_instance = 1;
    c->in_backoff = 0;
    set_waiting(c, "", NULL);
    pid = sim_sandbox_spawn(&sp, &c->status_fd);
    event(srv, m, kp, pod, c, "Normal", "Created", "Created container: %s", c->name);
    c->started_at = sim_now_unix();
    if (pid < 0) {
        snprintf(msg, sizeof(msg),
                 "failed to create containerd task: failed to create shim task: fork: %s: unknown",
                 strerror(errno));
        set_str(&c->start_error, msg);
        c->exit_code = 128;
        snprintf(c->t_reason, sizeof(c->t_reason), "StartError");
        set_str(&c->t_message, msg);
        c->started_at = 0;
        c->finished_at = sim_now_unix();
        c->finished_ms = sim_mono_ms();
        c->state = CS_TERMINATED;
        free(c->start_error);
        c->start_error = NULL;
        sim_logw_end(&c->log);
        event(srv, m, kp, pod, c, "Warning", "Failed", "Error: %s", msg);
    } else {
        char pids[16];
        const char *kv[] = {"container", c->name, "pid", pids, "path", path, NULL};
        snprintf(pids, sizeof(pids), "%ld", (long)pid);
        k8s_log(K8S_LOG_INFO, kp->ns, kp->name, "kubelet: container started", kv);
        c->pid = pid;
        c->state = CS_CREATING;
    }
    kp->dirty = 1;
out:
    sim_strv_free(argv);
    sim_strv_free(envp);
    sim_mountlist_free(&ml);
    sim_env_free(&full);
    sim_env_free(&env);
}

/*
 * The kubelet's doBackOff before a restart: the first restart is at once,
 * later ones wait the current period (doubling up to the maximum) from the
 * end of the last run, in CrashLoopBackOff. 1 when the restart may go now.
 */
static int restart_allowed(struct sim_server *srv, struct sim_kubelet *m, struct kpod *kp,
                           const cJSON *pod, struct kctr *c)
{
    long base = knob(srv, "backOffBaseMs", 10000), max = knob(srv, "backOffMaxMs", 300000);
    int64_t now = sim_mono_ms();
    if (c->backoff_ms == 0) {
        c->backoff_ms = base;
        return 1;
    }
    if (now - c->finished_ms < c->backoff_ms) {
        if (!c->in_backoff) {
            char d[32], msg[1200];
            c->in_backoff = 1;
            cJSON_Delete(c->last_state);
            c->last_state = cJSON_CreateObject();
            cJSON_AddItemToObject(c->last_state, "terminated", terminated_json(c));
            go_duration(c->backoff_ms, d, sizeof(d));
            snprintf(msg, sizeof(msg), "back-off %s restarting failed container=%s pod=%s_%s(%s)",
                     d, c->name, kp->name, kp->ns, kp->uid);
            set_waiting(c, "CrashLoopBackOff", msg);
            event(srv, m, kp, pod, c, "Warning", "BackOff",
                  "Back-off restarting failed container %s in pod %s_%s(%s)", c->name, kp->name,
                  kp->ns, kp->uid);
            kp->dirty = 1;
        }
        return 0;
    }
    c->backoff_ms = c->backoff_ms * 2 > max ? max : c->backoff_ms * 2;
    c->in_backoff = 0;
    return 1;
}

/* A pod that is done (deleted, past its deadline): containers that are not
 * terminated read as the kubelet reports containers it cannot find. */
static void finish_containers(struct kpod *kp)
{
    for (size_t i = 0; i < kp->nc; i++) {
        struct kctr *c = &kp->c[i];
        if (c->state == CS_TERMINATED)
            continue;
        c->state = CS_TERMINATED;
        c->exit_code = 137;
        snprintf(c->t_reason, sizeof(c->t_reason), "ContainerStatusUnknown");
        set_str(&c->t_message, "The container could not be located when the pod was terminated");
        c->started_at = 0;
        c->finished_at = sim_now_unix();
        if (!c->have_instance)
            c->cid[0] = '\0';
    }
    kp->dirty = 1;
}

/* ---- the pod's life ---- */

static void delete_now(struct sim_server *srv, struct kpod *kp)
{
    cJSON *opts = cJSON_CreateObject(), *pre;
    char path[700];
    pre = cJSON_AddObjectToObject(opts, "preconditions");
    cJSON_AddStringToObject(pre, "uid", kp->uid);
    cJSON_AddNumberToObject(opts, "gracePeriodSeconds", 0);
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s?gracePeriodSeconds=0", kp->ns,
             kp->name);
    sim_internal_call(srv, "DELETE", path, opts, NULL, NULL);
    cJSON_Delete(opts);
    kp->delete_sent = 1;
}

static const cJSON *lookup(struct sim_server *srv, const char *ns, const char *name,
                           const char *uid)
{
    struct sim_coll *pods = sim_store_coll(srv->store, "", "pods", 0);
    struct sim_obj *o = pods ? sim_coll_get(pods, ns, name) : NULL;
    const char *u = o ? sim_jstr(o->json, "metadata", "uid", NULL) : NULL;
    return u && strcmp(u, uid) == 0 ? o->json : NULL;
}

/* Graceful termination of a pod being deleted; 1 once its object is asked
 * to go. */
static void terminate(struct sim_server *srv, struct sim_kubelet *m, struct kpod *kp,
                      const cJSON *pod)
{
    int64_t now = sim_mono_ms();
    if (!kp->deleting) {
        const cJSON *g = sim_jget(pod, "metadata", "deletionGracePeriodSeconds", NULL);
        long grace = cJSON_IsNumber(g) ? (long)g->valuedouble : 30;
        if (grace < MIN_KILL_GRACE_S)
            grace = MIN_KILL_GRACE_S;
        kp->deleting = 1;
        kp->kill_at_ms = now + grace * 1000;
        for (size_t i = 0; i < kp->nc; i++) {
            struct kctr *c = &kp->c[i];
            if (c->pid <= 0)
                continue;
            event(srv, m, kp, pod, c, "Normal", "Killing", "Stopping container %s", c->name);
            if (kill(-c->pid, SIGTERM) != 0)
                kill(c->pid, SIGTERM);
            c->signalled = 1;
        }
    }
    if (now >= kp->kill_at_ms)
        signal_all(kp, SIGKILL);
    if (any_alive(kp))
        return;
    if (!kp->terminal) {
        finish_containers(kp);
        snprintf(kp->phase, sizeof(kp->phase), "%s", get_phase(kp, restart_policy(pod), 1));
        kp->terminal = 1;
    }
    if (kp->dirty)
        write_status(srv, kp, pod); /* `pod` is stale from here on */
    delete_now(srv, kp);
}

static void step(struct sim_server *srv, struct sim_kubelet *m, struct kpod *kp, const cJSON *pod,
                 int *starts)
{
    int64_t now = sim_mono_ms(), now_s = sim_now_unix();
    const char *rp = restart_policy(pod);
    const cJSON *ads = sim_jget(pod, "spec", "activeDeadlineSeconds", NULL);
    const char *phase;
    if (kp->delete_sent)
        return;
    if (sim_jget(pod, "metadata", "deletionTimestamp", NULL)) {
        terminate(srv, m, kp, pod);
        return;
    }
    if (kp->terminal)
        return;
    if (!kp->start_time) {
        kp->start_time = now_s;
        kp->dirty = 1;
    }
    /* activeDeadlineSeconds: the kubelet's active deadline handler. */
    if (!kp->deadline_hit && cJSON_IsNumber(ads) && now_s - kp->start_time >= ads->valuedouble) {
        const cJSON *g = sim_jget(pod, "spec", "terminationGracePeriodSeconds", NULL);
        long grace = cJSON_IsNumber(g) ? (long)g->valuedouble : 30;
        kp->deadline_hit = 1;
        snprintf(kp->reason, sizeof(kp->reason), "DeadlineExceeded");
        snprintf(kp->message, sizeof(kp->message),
                 "Pod was active on the node longer than the specified deadline");
        event(srv, m, kp, pod, NULL, "Normal", "DeadlineExceeded", "%s", kp->message);
        kp->kill_at_ms = now + (grace < MIN_KILL_GRACE_S ? MIN_KILL_GRACE_S : grace) * 1000;
        for (size_t i = 0; i < kp->nc; i++)
            if (kp->c[i].pid > 0) {
                event(srv, m, kp, pod, &kp->c[i], "Normal", "Killing", "Stopping container %s",
                      kp->c[i].name);
                kill(-kp->c[i].pid, SIGTERM);
            }
    }
    if (kp->deadline_hit) {
        if (now >= kp->kill_at_ms)
            signal_all(kp, SIGKILL);
        if (any_alive(kp))
            return;
        finish_containers(kp);
        snprintf(kp->phase, sizeof(kp->phase), "Failed");
        kp->terminal = 1;
        return;
    }
    if (!kp->vols_ready) {
        char err[2600];
        if (now < kp->mount_retry_ms)
            return;
        if (sim_podvols_setup(srv, pod, kp->dir, &kp->vols, err, sizeof(err)) != 0) {
            int shift = kp->mount_failures < 4 ? kp->mount_failures : 4;
            event(srv, m, kp, pod, NULL, "Warning", "FailedMount", "%s", err);
            kp->mount_failures++;
            kp->mount_retry_ms = now + (1000 << shift);
            kp->dirty = 1;
            return;
        }
        kp->vols_ready = 1;
        kp->next_sync_ms = now + knob(srv, "volumeSyncMs", 60000);
        kp->start_due_ms = now + knob(srv, "startDelayMs", 0);
        kp->dirty = 1;
    }
    if (now < kp->start_due_ms)
        return;
    if (now >= kp->next_sync_ms) {
        sim_podvols_sync(srv, pod, kp->dir, &kp->vols);
        kp->next_sync_ms = now + knob(srv, "volumeSyncMs", 60000);
    }
    /* Init containers, one after the other, each to success. */
    for (size_t i = 0; i < kp->ninit; i++) {
        struct kctr *c = &kp->c[i];
        if (c->state == CS_TERMINATED && c->exit_code == 0)
            continue;
        if (c->state == CS_CREATING || c->state == CS_RUNNING)
            goto phase;
        if (c->state == CS_TERMINATED || c->in_backoff) {
            if (strcmp(rp, "Never") == 0 || !restart_allowed(srv, m, kp, pod, c))
                goto phase;
        }
        if (*starts > 0) {
            (*starts)--;
            start_ctr(srv, m, kp, pod, c);
        }
        goto phase;
    }
    for (size_t i = kp->ninit; i < kp->nc; i++) {
        struct kctr *c = &kp->c[i];
        if (c->state == CS_CREATING || c->state == CS_RUNNING)
            continue;
        if (c->state == CS_TERMINATED || c->in_backoff) {
            int again =
                strcmp(rp, "Always") == 0 || (strcmp(rp, "OnFailure") == 0 && c->exit_code != 0);
            if (!again || !restart_allowed(srv, m, kp, pod, c))
                continue;
        }
        if (*starts > 0) {
            (*starts)--;
            start_ctr(srv, m, kp, pod, c);
        }
    }
phase:
    phase = get_phase(kp, rp, 0);
    if (strcmp(phase, kp->phase) != 0) {
        snprintf(kp->phase, sizeof(kp->phase), "%s", phase);
        kp->dirty = 1;
    }
    if (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0) {
        /* Nothing restarts any more; what still runs (a restartPolicy Never
         * pod's other containers have ended by definition) is stopped. */
        signal_all(kp, SIGKILL);
        kp->terminal = 1;
        kp->dirty = 1;
    }
}

static void bind_pod(struct sim_server *srv, struct sim_kubelet *m, const cJSON *pod)
{
    const char *ns = sim_jstr(pod, "metadata", "namespace", NULL);
    const char *name = sim_jstr(pod, "metadata", "name", NULL);
    cJSON *b = cJSON_CreateObject(), *t, *copy = cJSON_Duplicate(pod, 1);
    char path[700], msg[700];
    if (!b || !copy || !ns || !name) {
        cJSON_Delete(b);
        cJSON_Delete(copy);
        return;
    }
    cJSON_AddStringToObject(b, "apiVersion", "v1");
    cJSON_AddStringToObject(b, "kind", "Binding");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(b, "metadata"), "name", name);
    t = cJSON_AddObjectToObject(b, "target");
    cJSON_AddStringToObject(t, "apiVersion", "v1");
    cJSON_AddStringToObject(t, "kind", "Node");
    cJSON_AddStringToObject(t, "name", SIM_NODE_NAME);
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s/binding", ns, name);
    if (sim_internal_call(srv, "POST", path, b, NULL, NULL) == 201) {
        snprintf(msg, sizeof(msg), "Successfully assigned %s/%s to %s", ns, name, SIM_NODE_NAME);
        post_event(srv, m, copy, "default-scheduler", NULL, "Normal", "Scheduled", msg, NULL, 0);
    }
    cJSON_Delete(b);
    cJSON_Delete(copy);
}

static size_t uid_hash(const char *uid, size_t nbuckets)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)uid; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return (size_t)(h & (nbuckets - 1));
}

static struct kpod *find_kpod(struct sim_kubelet *m, const char *uid)
{
    if (!m->nbuckets)
        return NULL;
    for (struct kpod *kp = m->index[uid_hash(uid, m->nbuckets)]; kp; kp = kp->hnext)
        if (strcmp(kp->uid, uid) == 0)
            return kp;
    return NULL;
}

/* Adds kp to the list and the index; -1 when out of memory. */
static int track(struct sim_kubelet *m, struct kpod *kp)
{
    if (m->count + 1 > m->nbuckets) {
        size_t nb = m->nbuckets ? m->nbuckets * 2 : 64;
        struct kpod **ni = calloc(nb, sizeof(*ni));
        if (!ni)
            return -1;
        for (struct kpod *x = m->pods; x; x = x->next) {
            size_t b = uid_hash(x->uid, nb);
            x->hnext = ni[b];
            ni[b] = x;
        }
        free(m->index);
        m->index = ni;
        m->nbuckets = nb;
    }
    {
        size_t b = uid_hash(kp->uid, m->nbuckets);
        kp->hnext = m->index[b];
        m->index[b] = kp;
    }
    kp->next = m->pods;
    m->pods = kp;
    m->count++;
    return 0;
}

static void untrack_index(struct sim_kubelet *m, struct kpod *kp)
{
    struct kpod **pp = &m->index[uid_hash(kp->uid, m->nbuckets)];
    for (; *pp; pp = &(*pp)->hnext)
        if (*pp == kp) {
            *pp = kp->hnext;
            break;
        }
    m->count--;
}

/* Directories of pods an earlier run left behind whose objects are gone. */
static void sweep_dirs(struct sim_server *srv)
{
    char dir[2200];
    DIR *d;
    struct dirent *de;
    snprintf(dir, sizeof(dir), "%s/pods", srv->opt.state_dir);
    d = opendir(dir);
    while (d && (de = readdir(d)) != NULL) {
        const char *uid = strrchr(de->d_name, '_');
        char path[4608];
        if (de->d_name[0] == '.' || !uid)
            continue;
        if (sim_store_find_uid(srv->store, uid + 1, NULL))
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        sim_rmtree(path);
    }
    if (d)
        closedir(d);
}

struct key {
    char *ns, *name, *uid;
};

void sim_kubelet_tick(struct sim_server *srv, struct sim_kubelet *m)
{
    struct sim_coll *pods = sim_store_coll(srv->store, "", "pods", 0);
    struct key *keys = NULL;
    size_t nkeys = 0;
    int starts = MAX_STARTS_PER_TICK, binds = MAX_BINDS_PER_TICK;
    struct kpod **pp;

    if (!m->swept) {
        m->swept = 1;
        sweep_dirs(srv);
    }
    for (struct kpod *kp = m->pods; kp; kp = kp->next) {
        const cJSON *pod = kp->gone ? NULL : lookup(srv, kp->ns, kp->name, kp->uid);
        for (size_t i = 0; i < kp->nc; i++)
            reap_ctr(srv, m, kp, &kp->c[i], pod);
        kp->seen = 0;
    }
    /* The keys first: every write below may reshape the collection. */
    if (pods && pods->n) {
        keys = calloc(pods->n, sizeof(*keys));
        for (size_t i = 0; keys && i < pods->n; i++) {
            const cJSON *p = pods->v[i]->json;
            const char *uid = sim_jstr(p, "metadata", "uid", NULL);
            const char *node = sim_jstr(p, "spec", "nodeName", NULL);
            const char *phase = sim_jstr(p, "status", "phase", NULL);
            if (!uid || (node && *node && strcmp(node, SIM_NODE_NAME) != 0))
                continue;
            /* Finished pods the kubelet no longer tracks need nothing. */
            if (phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0) &&
                !sim_jget(p, "metadata", "deletionTimestamp", NULL) && !find_kpod(m, uid))
                continue;
            keys[nkeys].ns = strdup(pods->v[i]->ns);
            keys[nkeys].name = strdup(pods->v[i]->name);
            keys[nkeys].uid = strdup(uid);
            if (!keys[nkeys].ns || !keys[nkeys].name || !keys[nkeys].uid) {
                free(keys[nkeys].ns);
                free(keys[nkeys].name);
                free(keys[nkeys].uid);
                break;
            }
            nkeys++;
        }
    }
    for (size_t i = 0; i < nkeys; i++) {
        const cJSON *pod = lookup(srv, keys[i].ns, keys[i].name, keys[i].uid);
        const char *node, *sched, *phase;
        struct kpod *kp;
        char dir[4096];
        if (!pod)
            continue;
        node = sim_jstr(pod, "spec", "nodeName", NULL);
        phase = sim_jstr(pod, "status", "phase", NULL);
        kp = find_kpod(m, keys[i].uid);
        if (kp)
            kp->seen = 1;
        if (!node || !*node) {
            sched = sim_jstr(pod, "spec", "schedulerName", NULL);
            if (binds > 0 && !sim_jget(pod, "metadata", "deletionTimestamp", NULL) &&
                (!sched || strcmp(sched, "default-scheduler") == 0)) {
                binds--;
                bind_pod(srv, m, pod);
            }
            continue;
        }
        if (!kp) {
            int finished =
                phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0);
            if (finished && !sim_jget(pod, "metadata", "deletionTimestamp", NULL))
                continue; /* ran before (another run of the simulator) */
            if (sim_pod_dir(srv, keys[i].ns, keys[i].name, keys[i].uid, dir, sizeof(dir)) != 0)
                continue;
            kp = kpod_new(pod, dir);
            if (!kp)
                continue;
            kp->seen = 1;
            if (finished) {
                /* Only its deletion is left to confirm; its status stands. */
                kp->terminal = 1;
                kp->dirty = 0;
                snprintf(kp->phase, sizeof(kp->phase), "%s", phase);
            }
            if (track(m, kp) != 0) {
                kpod_free(kp);
                continue;
            }
        }
        step(srv, m, kp, pod, &starts);
        if (kp->dirty && !kp->delete_sent) {
            pod = lookup(srv, kp->ns, kp->name, kp->uid);
            if (pod)
                write_status(srv, kp, pod);
        }
    }
    for (size_t i = 0; i < nkeys; i++) {
        free(keys[i].ns);
        free(keys[i].name);
        free(keys[i].uid);
    }
    free(keys);
    /* Pods whose objects are gone: stop what runs, then forget them. */
    for (pp = &m->pods; *pp;) {
        struct kpod *kp = *pp;
        if (kp->seen) {
            pp = &kp->next;
            continue;
        }
        if (!kp->gone) {
            kp->gone = 1;
            kp->kill_at_ms = sim_mono_ms() + MIN_KILL_GRACE_S * 1000;
            signal_all(kp, SIGTERM);
        }
        if (sim_mono_ms() >= kp->kill_at_ms)
            signal_all(kp, SIGKILL);
        if (any_alive(kp)) {
            pp = &kp->next;
            continue;
        }
        *pp = kp->next;
        untrack_index(m, kp);
        for (size_t i = 0; i < kp->nc; i++)
            sim_logw_end(&kp->c[i].log);
        sim_rmtree(kp->dir);
        kpod_free(kp);
    }
}

struct sim_kubelet *sim_kubelet_new(void)
{
    return calloc(1, sizeof(struct sim_kubelet));
}

void sim_kubelet_free(struct sim_kubelet *m)
{
    if (!m)
        return;
    while (m->pods) {
        struct kpod *kp = m->pods;
        m->pods = kp->next;
        for (size_t i = 0; i < kp->nc; i++) {
            struct kctr *c = &kp->c[i];
            if (c->pid <= 0)
                continue;
            kill(-c->pid, SIGKILL);
            kill(c->pid, SIGKILL);
            /* Blocking is fine here: the simulator is stopping and SIGKILL
             * cannot be ignored. */
            while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
                ;
            c->pid = 0;
        }
        kpod_free(kp);
    }
    free(m->index);
    free(m);
}
