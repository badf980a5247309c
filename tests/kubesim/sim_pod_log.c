/*
 * Container logs (see sim_pod_log.h): the kubelet's writer with its time
 * index, and the pods/log subresource with kube-apiserver's and the kubelet's
 * checks and wording (pkg/registry/core/pod/strategy.go validateContainer,
 * pkg/kubelet validateContainerLogStatus, ValidatePodLogOptions).
 *
 * One reader serves both forms of the request: a plain GET reads what the
 * file holds now (bytes the index does not cover yet get the current time),
 * a followed GET is a sim_stream that sends lines as the index covers them
 * and ends at the instance's end record.
 */
#include "sim_pod_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "k8s_buf.h"
#include "sim_api.h"
#include "sim_server.h"
#include "sim_status.h"
#include "sim_store.h"
#include "sim_util.h"

#define END_NS      INT64_MIN /* the index record that says the instance exited */
#define PIECE_MAX   16384     /* containerd cuts longer lines into pieces of this size */
#define READ_CHUNK  65536
#define IDX_REC     16
#define MAX_IDXRECS (4u * 1024 * 1024) /* a day of ticks; older records are dropped */

int sim_pod_dir(const struct sim_server *srv, const char *ns, const char *name, const char *uid,
                char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%s/pods/%s_%s_%s", srv->opt.state_dir, ns, name, uid);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

int sim_pod_log_path(const char *pod_dir, const char *container, const char *container_id,
                     const char *ext, char *buf, size_t cap)
{
    const char *sep = strstr(container_id, "://");
    int n = snprintf(buf, cap, "%s/logs/%s/%s%s", pod_dir, container, sep ? sep + 3 : container_id,
                     ext);
    return n < 0 || (size_t)n >= cap || !*container_id ? -1 : 0;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void put_rec(unsigned char *p, uint64_t end, int64_t ns)
{
    uint64_t t = (uint64_t)ns;
    for (int i = 0; i < 8; i++) {
        p[i] = (unsigned char)(end >> (8 * i));
        p[8 + i] = (unsigned char)(t >> (8 * i));
    }
}

static void get_rec(const unsigned char *p, uint64_t *end, int64_t *ns)
{
    uint64_t e = 0, t = 0;
    for (int i = 0; i < 8; i++) {
        e |= (uint64_t)p[i] << (8 * i);
        t |= (uint64_t)p[8 + i] << (8 * i);
    }
    *end = e;
    *ns = (int64_t)t;
}

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int sim_logw_open(struct sim_logw *w, const char *log_path, const char *idx_path)
{
    w->indexed = 0;
    w->log_fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0640);
    w->idx_fd = w->log_fd < 0 ? -1 : open(idx_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (w->log_fd < 0 || w->idx_fd < 0) {
        int saved = errno;
        if (w->log_fd >= 0)
            close(w->log_fd);
        w->log_fd = w->idx_fd = -1;
        errno = saved;
        return -1;
    }
    return 0;
}

void sim_logw_index(struct sim_logw *w)
{
    struct stat st;
    unsigned char rec[IDX_REC];
    if (w->log_fd < 0 || w->idx_fd < 0 || fstat(w->log_fd, &st) != 0)
        return;
    if ((uint64_t)st.st_size <= w->indexed)
        return;
    w->indexed = (uint64_t)st.st_size;
    put_rec(rec, w->indexed, now_ns());
    write_all(w->idx_fd, rec, sizeof(rec));
}

void sim_logw_end(struct sim_logw *w)
{
    unsigned char rec[IDX_REC];
    if (w->log_fd < 0 && w->idx_fd < 0)
        return;
    sim_logw_index(w);
    if (w->idx_fd >= 0) {
        put_rec(rec, w->indexed, END_NS);
        write_all(w->idx_fd, rec, sizeof(rec));
        close(w->idx_fd);
    }
    if (w->log_fd >= 0)
        close(w->log_fd);
    w->log_fd = w->idx_fd = -1;
}

void sim_logw_end_path(const char *idx_path)
{
    int fd = open(idx_path, O_WRONLY | O_APPEND | O_CLOEXEC);
    struct stat st;
    unsigned char last[IDX_REC], rec[IDX_REC];
    uint64_t end = 0;
    int64_t ns = 0;
    if (fd < 0)
        return;
    if (fstat(fd, &st) == 0 && st.st_size >= IDX_REC) {
        int rfd = open(idx_path, O_RDONLY | O_CLOEXEC);
        if (rfd >= 0) {
            off_t at = (st.st_size / IDX_REC - 1) * IDX_REC;
            if (pread(rfd, last, sizeof(last), at) == (ssize_t)sizeof(last))
                get_rec(last, &end, &ns);
            close(rfd);
        }
    }
    if (ns != END_NS) {
        put_rec(rec, end, END_NS);
        write_all(fd, rec, sizeof(rec));
    }
    close(fd);
}

/* Offset where the last `n` lines of [0, avail) start (a final line without
 * a newline counts as one). */
static uint64_t tail_start(int fd, uint64_t avail, uint64_t n)
{
    char buf[READ_CHUNK];
    uint64_t pos = avail, seen = 0;
    int skip_last = 0;
    if (n == 0)
        return avail;
    if (avail > 0) {
        char c;
        if (pread(fd, &c, 1, (off_t)(avail - 1)) == 1 && c == '\n')
            skip_last = 1;
    }
    if (skip_last)
        pos--;
    while (pos > 0) {
        size_t want = pos > sizeof(buf) ? sizeof(buf) : (size_t)pos;
        ssize_t got = pread(fd, buf, want, (off_t)(pos - want));
        if (got != (ssize_t)want)
            return 0;
        for (size_t i = want; i > 0; i--) {
            if (buf[i - 1] == '\n' && ++seen == n)
                return pos - want + i;
        }
        pos -= want;
    }
    return 0;
}

char *sim_log_tail(const char *log_path, size_t max_lines, size_t max_bytes)
{
    int fd = open(log_path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    uint64_t start, size;
    char *out;
    size_t len;
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0)
            close(fd);
        return strdup("");
    }
    size = (uint64_t)st.st_size;
    start = tail_start(fd, size, max_lines);
    if (size - start > max_bytes)
        start = size - max_bytes;
    len = (size_t)(size - start);
    out = malloc(len + 1);
    if (!out) {
        close(fd);
        return NULL;
    }
    if (len && pread(fd, out, len, (off_t)start) != (ssize_t)len)
        len = 0;
    out[len] = '\0';
    close(fd);
    return out;
}

/* ---- the reader ---- */

struct rec {
    uint64_t end;
    int64_t ns;
};

struct logrd {
    int log_fd;
    int idx_fd;
    uint64_t idx_off; /* bytes of the index consumed */
    struct rec *recs; /* records with end > off, oldest first */
    size_t nrecs, cap;
    uint64_t indexed;    /* highest end read */
    int ended;           /* the end record was read */
    uint64_t off;        /* next log byte to consider */
    uint64_t considered; /* the available end at the last produce (followers) */
    int snapshot;        /* a plain GET: read up to snap_end, now for unindexed bytes */
    uint64_t snap_end;
    int timestamps;
    int64_t since_ns; /* 0: no filter */
    int64_t limit;    /* -1: no limit */
    int64_t written;
    int gone; /* the files were removed (the pod was deleted) */
};

static void rd_free(void *impl)
{
    struct logrd *r = impl;
    if (!r)
        return;
    if (r->log_fd >= 0)
        close(r->log_fd);
    if (r->idx_fd >= 0)
        close(r->idx_fd);
    free(r->recs);
    free(r);
}

static void read_idx(struct logrd *r)
{
    unsigned char buf[IDX_REC * 256];
    for (;;) {
        ssize_t got = pread(r->idx_fd, buf, sizeof(buf), (off_t)r->idx_off);
        size_t full;
        if (got <= 0)
            return;
        full = (size_t)got / IDX_REC;
        for (size_t i = 0; i < full; i++) {
            struct rec x;
            get_rec(buf + i * IDX_REC, &x.end, &x.ns);
            if (x.ns == END_NS) {
                r->ended = 1;
                if (x.end > r->indexed)
                    r->indexed = x.end;
                continue;
            }
            if (x.end <= r->off || x.end <= r->indexed)
                continue;
            r->indexed = x.end;
            if (r->nrecs == r->cap) {
                size_t ncap = r->cap ? r->cap * 2 : 64;
                struct rec *nv;
                if (ncap > MAX_IDXRECS) {
                    /* Keep the newest half; older lines then read as "now". */
                    memmove(r->recs, r->recs + r->nrecs / 2,
                            (r->nrecs - r->nrecs / 2) * sizeof(*r->recs));
                    r->nrecs -= r->nrecs / 2;
                } else {
                    nv = realloc(r->recs, ncap * sizeof(*nv));
                    if (!nv)
                        return;
                    r->recs = nv;
                    r->cap = ncap;
                }
            }
            r->recs[r->nrecs++] = x;
        }
        r->idx_off += full * IDX_REC;
        if ((size_t)got < sizeof(buf))
            return;
    }
}

static int64_t time_of(struct logrd *r, uint64_t o)
{
    size_t drop = 0;
    int64_t t = 0;
    while (drop < r->nrecs && r->recs[drop].end <= o)
        drop++;
    if (drop < r->nrecs)
        t = r->recs[drop].ns;
    if (drop) {
        memmove(r->recs, r->recs + drop, (r->nrecs - drop) * sizeof(*r->recs));
        r->nrecs -= drop;
    }
    return t ? t : now_ns();
}

/* RFC3339Nano as Go prints it: trailing zeros of the fraction trimmed. */
static void rfc3339nano(int64_t ns, char out[64])
{
    time_t s = (time_t)(ns / 1000000000);
    long frac = (long)(ns % 1000000000);
    struct tm tm;
    char f[16];
    int n;
    gmtime_r(&s, &tm);
    n = snprintf(f, sizeof(f), ".%09ld", frac);
    while (n > 1 && f[n - 1] == '0')
        f[--n] = '\0';
    if (n == 1)
        f[0] = '\0';
    snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d%sZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, f);
}

/* Appends one line (or piece); 1 once limitBytes is reached. */
static int emit_line(struct logrd *r, struct k8s_buf *out, const char *p, size_t n, int64_t ts)
{
    char stamp[72];
    size_t slen = 0;
    if (r->since_ns && ts < r->since_ns)
        return 0;
    if (r->timestamps) {
        rfc3339nano(ts, stamp);
        slen = strlen(stamp);
        stamp[slen++] = ' ';
    }
    if (r->limit >= 0) {
        int64_t room = r->limit - r->written;
        if ((int64_t)slen > room) {
            k8s_buf_append(out, stamp, (size_t)room);
            r->written = r->limit;
            return 1;
        }
        k8s_buf_append(out, stamp, slen);
        room -= (int64_t)slen;
        if ((int64_t)n > room) {
            k8s_buf_append(out, p, (size_t)room);
            r->written = r->limit;
            return 1;
        }
        r->written += (int64_t)(slen + n);
        k8s_buf_append(out, p, n);
        return r->written >= r->limit;
    }
    if (slen)
        k8s_buf_append(out, stamp, slen);
    k8s_buf_append(out, p, n);
    return 0;
}

static int rd_produce(void *impl, struct k8s_buf *out, size_t max)
{
    struct logrd *r = impl;
    char *buf = NULL;
    uint64_t avail;
    int final, over = 0;
    if (!r->snapshot) {
        struct stat st;
        read_idx(r);
        if (fstat(r->log_fd, &st) == 0 && st.st_nlink == 0 && !r->ended)
            r->gone = 1;
    }
    avail = r->snapshot ? r->snap_end : r->indexed;
    if (r->gone && !r->ended) {
        struct stat st;
        if (fstat(r->log_fd, &st) == 0)
            avail = (uint64_t)st.st_size;
    }
    final = r->snapshot || r->ended || r->gone;
    r->considered = avail;
    if (r->limit >= 0 && r->written >= r->limit)
        return 1;
    buf = malloc(READ_CHUNK);
    if (!buf)
        return 1;
    while (out->len < max && r->off < avail && !over) {
        size_t want = avail - r->off > READ_CHUNK ? READ_CHUNK : (size_t)(avail - r->off);
        ssize_t got = pread(r->log_fd, buf, want, (off_t)r->off);
        size_t pos = 0;
        if (got <= 0) {
            /* Truncated under us: nothing more can be read. */
            r->off = avail;
            break;
        }
        while (pos < (size_t)got && !over && out->len < max) {
            char *nl = memchr(buf + pos, '\n', (size_t)got - pos);
            size_t n;
            if (nl)
                n = (size_t)(nl - (buf + pos)) + 1;
            else if ((size_t)got - pos >= PIECE_MAX)
                n = PIECE_MAX;
            else if (final && r->off + ((size_t)got - pos) >= avail)
                n = (size_t)got - pos;
            else
                break;
            over = emit_line(r, out, buf + pos, n, time_of(r, r->off + n - 1));
            pos += n;
            r->off += n;
        }
        if (pos == 0)
            break;
    }
    free(buf);
    if (over)
        return 1;
    return final && r->off >= avail;
}

static int rd_ready(const void *impl)
{
    struct logrd *r = (struct logrd *)impl;
    struct stat st;
    read_idx(r);
    if (r->ended || (fstat(r->log_fd, &st) == 0 && st.st_nlink == 0))
        return 1;
    return r->indexed > r->considered;
}

static const struct sim_stream_ops log_ops = {rd_produce, rd_ready, rd_free};

/* ---- the subresource ---- */

static int is_true(const char *v)
{
    return v && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0 || strcmp(v, "True") == 0);
}

/* An int64 query parameter; 0 when absent, -1 (with `e`) when malformed. */
static int int_param(const struct sim_request *req, const char *key, int *set, int64_t *val,
                     struct sim_err *e)
{
    const char *v = sim_req_param(req, key);
    char *end = NULL;
    long long x;
    *set = 0;
    if (!v)
        return 0;
    errno = 0;
    x = strtoll(v, &end, 10);
    if (errno || !end || end == v || *end) {
        sim_err_bad_request(e, "strconv.ParseInt: parsing \"%s\": invalid syntax", v);
        return -1;
    }
    *set = 1;
    *val = (int64_t)x;
    return 0;
}

static const cJSON *find_container(const cJSON *pod, const char *name)
{
    static const char *const lists[] = {"containers", "initContainers", "ephemeralContainers"};
    const cJSON *c;
    for (size_t i = 0; i < 3; i++)
        cJSON_ArrayForEach(c, sim_jget(pod, "spec", lists[i], NULL))
        {
            const char *n = sim_jstr(c, "name", NULL);
            if (n && strcmp(n, name) == 0)
                return c;
        }
    return NULL;
}

static const cJSON *find_status(const cJSON *pod, const char *name)
{
    static const char *const lists[] = {"containerStatuses", "initContainerStatuses",
                                        "ephemeralContainerStatuses"};
    const cJSON *c;
    for (size_t i = 0; i < 3; i++)
        cJSON_ArrayForEach(c, sim_jget(pod, "status", lists[i], NULL))
        {
            const char *n = sim_jstr(c, "name", NULL);
            if (n && strcmp(n, name) == 0)
                return c;
        }
    return NULL;
}

/* validateContainer: the container asked for, or the only one. */
static int pick_container(const cJSON *pod, const char *asked, const char *pod_name, char *out,
                          size_t cap, struct sim_err *e)
{
    const cJSON *cs = sim_jget(pod, "spec", "containers", NULL);
    if (asked && *asked) {
        if (!find_container(pod, asked))
            return sim_err_bad_request(e, "container %s is not valid for pod %s", asked, pod_name);
        sim_strlcpy(out, asked, cap);
        return 0;
    }
    if (cJSON_GetArraySize(cs) == 1) {
        const char *only = sim_jstr(cJSON_GetArrayItem(cs, 0), "name", NULL);
        sim_strlcpy(out, only ? only : "", cap);
        return 0;
    }
    if (cJSON_GetArraySize(cs) == 0)
        return sim_err_bad_request(e, "a container name must be specified for pod %s", pod_name);
    {
        /* Go's %s of a []string: "[a b c]", init containers first as
         * podutil.VisitContainers walks them. */
        static const char *const lists[] = {"initContainers", "containers", "ephemeralContainers"};
        char names[2048];
        size_t off = 0;
        const cJSON *c;
        names[off++] = '[';
        for (size_t i = 0; i < 3; i++)
            cJSON_ArrayForEach(c, sim_jget(pod, "spec", lists[i], NULL))
            {
                const char *n = sim_jstr(c, "name", NULL);
                int w = snprintf(names + off, sizeof(names) - off, "%s%s", off > 1 ? " " : "",
                                 n ? n : "");
                if (w > 0 && (size_t)w < sizeof(names) - off)
                    off += (size_t)w;
            }
        if (off + 1 < sizeof(names))
            names[off++] = ']';
        names[off] = '\0';
        return sim_err_bad_request(
            e, "a container name must be specified for pod %s, choose one of: %s", pod_name, names);
    }
}

/* validateContainerLogStatus: which instance's log, or the kubelet's refusal. */
static int pick_instance(const cJSON *st, const char *cname, const char *pname, int previous,
                         const char **cid, struct sim_err *e)
{
    const cJSON *state = sim_jget(st, "state", NULL);
    const cJSON *last_t = sim_jget(st, "lastState", "terminated", NULL);
    const cJSON *running = sim_jget(state, "running", NULL);
    const cJSON *term = sim_jget(state, "terminated", NULL);
    const cJSON *waiting = sim_jget(state, "waiting", NULL);
    const char *last_cid = sim_jstr(last_t, "containerID", NULL);
    *cid = NULL;
    if (previous) {
        if (!last_t || !last_cid || !*last_cid)
            return sim_err_bad_request(e,
                                       "previous terminated container \"%s\" in pod \"%s\" "
                                       "not found",
                                       cname, pname);
        *cid = last_cid;
        return 0;
    }
    if (running) {
        *cid = sim_jstr(st, "containerID", NULL);
        return 0;
    }
    if (term) {
        const char *tc = sim_jstr(term, "containerID", NULL);
        if (tc && *tc) {
            *cid = tc;
            return 0;
        }
        if (last_cid && *last_cid) {
            *cid = last_cid;
            return 0;
        }
        return sim_err_bad_request(e, "container \"%s\" in pod \"%s\" is terminated", cname, pname);
    }
    if (last_t) {
        if (!last_cid || !*last_cid)
            return sim_err_bad_request(e, "container \"%s\" in pod \"%s\" is terminated", cname,
                                       pname);
        *cid = last_cid;
        return 0;
    }
    if (waiting) {
        const char *reason = sim_jstr(waiting, "reason", NULL);
        if (reason && strcmp(reason, "ErrImagePull") == 0)
            return sim_err_bad_request(
                e, "container \"%s\" in pod \"%s\" is waiting to start: image can't be pulled",
                cname, pname);
        if (reason && strcmp(reason, "ImagePullBackOff") == 0)
            return sim_err_bad_request(e,
                                       "container \"%s\" in pod \"%s\" is waiting to start: "
                                       "trying and failing to pull image",
                                       cname, pname);
        return sim_err_bad_request(e, "container \"%s\" in pod \"%s\" is waiting to start: %s",
                                   cname, pname, reason ? reason : "");
    }
    return sim_err_bad_request(
        e, "container \"%s\" in pod \"%s\" is waiting to start - no logs yet", cname, pname);
}

static int log_options(const struct sim_request *req, const char *pname, struct logrd *r,
                       int64_t *tail, struct sim_err *e)
{
    int set_tail, set_limit, set_since;
    int64_t tail_v = 0, limit_v = 0, since_v = 0;
    const char *since_time = sim_req_param(req, "sinceTime");
    if (int_param(req, "tailLines", &set_tail, &tail_v, e) != 0 ||
        int_param(req, "limitBytes", &set_limit, &limit_v, e) != 0 ||
        int_param(req, "sinceSeconds", &set_since, &since_v, e) != 0)
        return -1;
    if (set_tail && tail_v < 0)
        sim_err_add_cause(e, "FieldValueInvalid", "tailLines",
                          "Invalid value: %lld: must be greater than or equal to 0",
                          (long long)tail_v);
    if (set_limit && limit_v < 1)
        sim_err_add_cause(e, "FieldValueInvalid", "limitBytes",
                          "Invalid value: %lld: must be greater than 0", (long long)limit_v);
    if (set_since && since_time && *since_time)
        sim_err_add_cause(e, "FieldValueForbidden", "",
                          "Forbidden: at most one of `sinceTime` or `sinceSeconds` may be "
                          "specified");
    if (set_since && since_v < 1)
        sim_err_add_cause(e, "FieldValueInvalid", "sinceSeconds",
                          "Invalid value: %lld: must be greater than 0", (long long)since_v);
    if (e->ncauses)
        return sim_err_invalid_finish(e, "", "PodLogOptions", pname);
    *tail = set_tail ? tail_v : -1;
    r->limit = set_limit ? limit_v : -1;
    if (set_since)
        r->since_ns = now_ns() - since_v * 1000000000;
    if (since_time && *since_time) {
        int64_t t = sim_parse_rfc3339(since_time);
        if (t < 0)
            return sim_err_bad_request(e,
                                       "parsing time \"%s\" as \"2006-01-02T15:04:05Z07:00\": "
                                       "cannot parse",
                                       since_time);
        r->since_ns = t * 1000000000;
    }
    r->timestamps = is_true(sim_req_param(req, "timestamps"));
    return 0;
}

void sim_pod_log_serve(struct sim_server *srv, const struct sim_request *req,
                       const struct sim_reqinfo *ri, struct sim_response *resp)
{
    struct sim_err e;
    struct sim_coll *pods = sim_store_coll(srv->store, "", "pods", 0);
    struct sim_obj *o = pods ? sim_coll_get(pods, ri->ns, ri->name) : NULL;
    const cJSON *pod, *st;
    struct logrd *r = NULL;
    char cname[256], dir[4096], logp[4608], idxp[4608];
    const char *cid = NULL, *node, *uid;
    int64_t tail = -1;
    int follow = is_true(sim_req_param(req, "follow"));
    sim_err_clear(&e);
    if (strcmp(req->method, "GET") != 0) {
        sim_err_method_not_allowed(&e);
        goto fail;
    }
    if (!o) {
        sim_err_not_found(&e, "", "pods", ri->name);
        goto fail;
    }
    pod = o->json;
    r = calloc(1, sizeof(*r));
    if (!r) {
        sim_err_internal(&e, "out of memory");
        goto fail;
    }
    r->log_fd = r->idx_fd = -1;
    if (log_options(req, ri->name, r, &tail, &e) != 0 ||
        pick_container(pod, sim_req_param(req, "container"), ri->name, cname, sizeof(cname), &e) !=
            0)
        goto fail;
    node = sim_jstr(pod, "spec", "nodeName", NULL);
    if (!node || !*node) {
        /* LogLocation: no node yet, an empty answer. */
        rd_free(r);
        sim_respond_text(resp, 200, "text/plain", "");
        return;
    }
    st = find_status(pod, cname);
    if (!st) {
        sim_err_bad_request(&e, "container \"%s\" in pod \"%s\" is not available", cname, ri->name);
        goto fail;
    }
    if (pick_instance(st, cname, ri->name, is_true(sim_req_param(req, "previous")), &cid, &e) != 0)
        goto fail;
    uid = sim_jstr(pod, "metadata", "uid", NULL);
    if (!cid || !uid || sim_pod_dir(srv, ri->ns, ri->name, uid, dir, sizeof(dir)) != 0 ||
        sim_pod_log_path(dir, cname, cid, ".log", logp, sizeof(logp)) != 0 ||
        sim_pod_log_path(dir, cname, cid, ".idx", idxp, sizeof(idxp)) != 0 ||
        (r->log_fd = open(logp, O_RDONLY | O_CLOEXEC)) < 0 ||
        (r->idx_fd = open(idxp, O_RDONLY | O_CLOEXEC)) < 0) {
        /* An instance this simulator never ran (a status written by a
         * test): nothing to show. */
        rd_free(r);
        sim_respond_text(resp, 200, "text/plain", "");
        return;
    }
    read_idx(r);
    {
        struct stat sb;
        uint64_t size = fstat(r->log_fd, &sb) == 0 ? (uint64_t)sb.st_size : 0;
        if (tail >= 0)
            r->off = tail_start(r->log_fd, size, (uint64_t)tail);
        if (!follow || r->ended) {
            r->snapshot = 1;
            r->snap_end = size;
        }
    }
    if (r->snapshot) {
        k8s_buf_reset(&resp->body);
        while (!rd_produce(r, &resp->body, SIZE_MAX))
            if (r->off >= r->snap_end)
                break;
        rd_free(r);
        resp->status = 200;
        sim_strlcpy(resp->content_type, "text/plain", sizeof(resp->content_type));
        return;
    }
    resp->stream = sim_stream_new(&log_ops, r, 0);
    if (!resp->stream) {
        sim_err_internal(&e, "out of memory");
        sim_respond_err(resp, &e);
        return;
    }
    resp->status = 200;
    sim_strlcpy(resp->content_type, "text/plain", sizeof(resp->content_type));
    k8s_buf_reset(&resp->body);
    return;
fail:
    rd_free(r);
    sim_respond_err(resp, &e);
}
