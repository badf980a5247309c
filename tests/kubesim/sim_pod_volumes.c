/*
 * Volume set-up for the simulated kubelet (see sim_pod_volumes.h). Content
 * volumes are first built in memory as a payload (path, bytes, mode), the way
 * the kubelet's volume plugins build one for its AtomicWriter, then written
 * only when they differ from what is on disk, so a resync that finds nothing
 * new changes nothing (and a process watching its files sees no event).
 */
#include "sim_pod_volumes.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sim_internal.h"
#include "sim_pod_env.h"
#include "sim_server.h"
#include "sim_store.h"
#include "sim_util.h"
#include "sim_workloads.h"

#define TOKEN_SECONDS 3607       /* what the kubelet asks for the service-account volume */
#define MAX_FILE      (1u << 20) /* a Secret or ConfigMap holds at most 1 MiB */

struct pfile {
    char *path;
    unsigned char *data;
    size_t len;
    int mode;
};

struct payload {
    struct pfile *f;
    size_t n, cap;
};

static void payload_free(struct payload *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->f[i].path);
        if (p->f[i].data) {
            memset(p->f[i].data, 0, p->f[i].len); /* secrets */
            free(p->f[i].data);
        }
    }
    free(p->f);
    memset(p, 0, sizeof(*p));
}

/* Adds a file (data copied); a later file with the same path replaces it. */
static int payload_add(struct payload *p, const char *path, const void *data, size_t len, int mode)
{
    struct pfile *f = NULL;
    unsigned char *copy = malloc(len + 1);
    if (!copy)
        return -1;
    if (len)
        memcpy(copy, data, len);
    copy[len] = '\0';
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->f[i].path, path) == 0)
            f = &p->f[i];
    if (!f) {
        if (p->n == p->cap) {
            size_t ncap = p->cap ? p->cap * 2 : 8;
            struct pfile *nv = realloc(p->f, ncap * sizeof(*nv));
            if (!nv) {
                free(copy);
                return -1;
            }
            p->f = nv;
            p->cap = ncap;
        }
        f = &p->f[p->n];
        memset(f, 0, sizeof(*f));
        f->path = strdup(path);
        if (!f->path) {
            free(copy);
            return -1;
        }
        p->n++;
    } else {
        memset(f->data, 0, f->len);
        free(f->data);
    }
    f->data = copy;
    f->len = len;
    f->mode = mode;
    return 0;
}

static int mode_of(const cJSON *item, int def)
{
    const cJSON *m = sim_jget(item, "mode", NULL);
    return cJSON_IsNumber(m) ? (int)m->valuedouble & 07777 : def;
}

static int default_mode(const cJSON *src)
{
    const cJSON *m = sim_jget(src, "defaultMode", NULL);
    return cJSON_IsNumber(m) ? (int)m->valuedouble & 07777 : 0644;
}

/* A Secret or ConfigMap source (volume or projection): its keys, or its
 * items. */
static int add_object(struct sim_server *srv, const char *ns, const cJSON *src, int secret,
                      int defmode, struct payload *p, char *err, size_t cap)
{
    const char *name = sim_jstr(src, secret ? "secretName" : "name", NULL);
    const cJSON *items = sim_jget(src, "items", NULL), *it;
    int optional = cJSON_IsTrue(sim_jget(src, "optional", NULL));
    const cJSON *obj;
    struct sim_coll *c;
    struct sim_obj *o;
    if (!name)
        name = sim_jstr(src, "name", NULL);
    name = name ? name : "";
    c = sim_store_coll(srv->store, "", secret ? "secrets" : "configmaps", 0);
    o = c ? sim_coll_get(c, ns, name) : NULL;
    obj = o ? o->json : NULL;
    if (!obj) {
        if (optional)
            return 0;
        snprintf(err, cap, "%s \"%s\" not found", secret ? "secret" : "configmap", name);
        return -1;
    }
    if (cJSON_GetArraySize(items) > 0) {
        cJSON_ArrayForEach(it, items)
        {
            const char *key = sim_jstr(it, "key", NULL), *path = sim_jstr(it, "path", NULL);
            size_t len = 0;
            int found;
            unsigned char *v;
            if (!key || !path)
                continue;
            v = secret ? sim_pod_secret_key(srv, ns, name, key, &len, &found)
                       : sim_pod_configmap_key(srv, ns, name, key, &len, &found);
            if (!v) {
                if (optional)
                    continue;
                if (secret)
                    snprintf(err, cap, "references non-existent secret key: %s", key);
                else
                    snprintf(err, cap, "configmap references non-existent config key: %s", key);
                return -1;
            }
            if (payload_add(p, path, v, len, mode_of(it, defmode)) != 0) {
                free(v);
                snprintf(err, cap, "out of memory");
                return -1;
            }
            memset(v, 0, len);
            free(v);
        }
        return 0;
    }
    for (int pass = 0; pass < 2; pass++) {
        const char *member = pass ? (secret ? "stringData" : "binaryData") : "data";
        cJSON_ArrayForEach(it, sim_jget(obj, member, NULL))
        {
            size_t len = 0;
            int found;
            unsigned char *v;
            if (!cJSON_IsString(it))
                continue;
            v = secret ? sim_pod_secret_key(srv, ns, name, it->string, &len, &found)
                       : sim_pod_configmap_key(srv, ns, name, it->string, &len, &found);
            if (v && payload_add(p, it->string, v, len, defmode) != 0) {
                free(v);
                snprintf(err, cap, "out of memory");
                return -1;
            }
            if (v) {
                memset(v, 0, len);
                free(v);
            }
        }
    }
    return 0;
}

static int add_downward(const cJSON *pod, const cJSON *src, int defmode, struct payload *p,
                        char *err, size_t cap)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, sim_jget(src, "items", NULL))
    {
        const char *path = sim_jstr(it, "path", NULL);
        const cJSON *fr = sim_jget(it, "fieldRef", NULL);
        const cJSON *rr = sim_jget(it, "resourceFieldRef", NULL);
        char *v = NULL;
        int rc;
        if (!path)
            continue;
        if (fr) {
            const char *fp = sim_jstr(fr, "fieldPath", NULL);
            rc = sim_pod_field(pod, fp ? fp : "", &v, err, cap);
        } else if (rr) {
            const cJSON *ctrs = sim_jget(pod, "spec", "containers", NULL);
            rc = sim_pod_resource_field(pod, cJSON_GetArrayItem(ctrs, 0), rr, &v, err, cap);
        } else {
            continue;
        }
        if (rc != 0)
            return -1;
        rc = payload_add(p, path, v, strlen(v), mode_of(it, defmode));
        free(v);
        if (rc != 0) {
            snprintf(err, cap, "out of memory");
            return -1;
        }
    }
    return 0;
}

/* TokenRequest for the pod's ServiceAccount, bound to the pod, as the
 * kubelet's token manager asks it; malloc'd token or NULL with `err`. */
static char *request_token(struct sim_server *srv, const cJSON *pod, const char *audience,
                           long seconds, char *err, size_t cap)
{
    const char *ns = sim_jstr(pod, "metadata", "namespace", NULL);
    const char *sa = sim_jstr(pod, "spec", "serviceAccountName", NULL);
    char path[1024];
    cJSON *req = cJSON_CreateObject(), *spec, *ref, *out = NULL;
    const char *tok;
    char *token = NULL;
    int status;
    sa = sa && *sa ? sa : "default";
    if (!req)
        return NULL;
    spec = cJSON_AddObjectToObject(req, "spec");
    if (audience && *audience)
        cJSON_AddItemToArray(cJSON_AddArrayToObject(spec, "audiences"),
                             cJSON_CreateString(audience));
    cJSON_AddNumberToObject(spec, "expirationSeconds", (double)seconds);
    ref = cJSON_AddObjectToObject(spec, "boundObjectRef");
    cJSON_AddStringToObject(ref, "kind", "Pod");
    cJSON_AddStringToObject(ref, "apiVersion", "v1");
    cJSON_AddStringToObject(ref, "name", sim_jstr(pod, "metadata", "name", NULL));
    cJSON_AddStringToObject(ref, "uid", sim_jstr(pod, "metadata", "uid", NULL));
    cJSON_AddStringToObject(req, "kind", "TokenRequest");
    cJSON_AddStringToObject(req, "apiVersion", "authentication.k8s.io/v1");
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/serviceaccounts/%s/token", ns ? ns : "",
             sa);
    status = sim_internal_call(srv, "POST", path, req, NULL, &out);
    cJSON_Delete(req);
    tok = sim_jstr(out, "status", "token", NULL);
    if (status == 201 && tok)
        token = strdup(tok);
    else
        snprintf(err, cap, "failed to fetch token: %s",
                 sim_jstr(out, "message", NULL) ? sim_jstr(out, "message", NULL)
                                                : "the TokenRequest failed");
    cJSON_Delete(out);
    return token;
}

static int add_token(struct sim_server *srv, const cJSON *pod, const cJSON *src, int defmode,
                     struct sim_podvol *vol, struct payload *p, char *err, size_t cap)
{
    const char *path = sim_jstr(src, "path", NULL);
    const cJSON *exp = sim_jget(src, "expirationSeconds", NULL);
    long seconds = cJSON_IsNumber(exp) ? (long)exp->valuedouble : TOKEN_SECONDS;
    int64_t now = sim_now_unix();
    if (!path)
        return 0;
    if (!vol->token || now >= vol->token_refresh) {
        char *t = request_token(srv, pod, sim_jstr(src, "audience", NULL), seconds, err, cap);
        if (!t)
            return -1;
        if (vol->token) {
            memset(vol->token, 0, strlen(vol->token));
            free(vol->token);
        }
        vol->token = t;
        /* The kubelet renews a token at 80% of its life. */
        vol->token_refresh = now + seconds * 8 / 10;
    }
    if (payload_add(p, path, vol->token, strlen(vol->token), defmode) != 0) {
        snprintf(err, cap, "out of memory");
        return -1;
    }
    return 0;
}

/* The content of an API data volume; 0 or -1 with `err`. */
static int build_payload(struct sim_server *srv, const cJSON *pod, const cJSON *volume,
                         struct sim_podvol *vol, struct payload *p, char *err, size_t cap)
{
    const char *ns = sim_jstr(pod, "metadata", "namespace", NULL);
    const cJSON *src;
    ns = ns ? ns : "";
    if ((src = sim_jget(volume, "secret", NULL)) != NULL)
        return add_object(srv, ns, src, 1, default_mode(src), p, err, cap);
    if ((src = sim_jget(volume, "configMap", NULL)) != NULL)
        return add_object(srv, ns, src, 0, default_mode(src), p, err, cap);
    if ((src = sim_jget(volume, "downwardAPI", NULL)) != NULL)
        return add_downward(pod, src, default_mode(src), p, err, cap);
    if ((src = sim_jget(volume, "projected", NULL)) != NULL) {
        int defmode = default_mode(src);
        const cJSON *s;
        cJSON_ArrayForEach(s, sim_jget(src, "sources", NULL))
        {
            const cJSON *x;
            int rc = 0;
            if ((x = sim_jget(s, "secret", NULL)) != NULL)
                rc = add_object(srv, ns, x, 1, defmode, p, err, cap);
            else if ((x = sim_jget(s, "configMap", NULL)) != NULL)
                rc = add_object(srv, ns, x, 0, defmode, p, err, cap);
            else if ((x = sim_jget(s, "downwardAPI", NULL)) != NULL)
                rc = add_downward(pod, x, defmode, p, err, cap);
            else if ((x = sim_jget(s, "serviceAccountToken", NULL)) != NULL)
                rc = add_token(srv, pod, x, defmode, vol, p, err, cap);
            if (rc != 0)
                return -1;
        }
        return 0;
    }
    return 0;
}

/* ---- the atomic writer ---- */

static int mkdirs(const char *path, mode_t mode)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n >= sizeof(buf))
        return -1;
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char save = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, mode) != 0 && errno != EEXIST)
                return -1;
            buf[i] = save;
        }
    }
    return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    /* Best effort: what cannot go stays, the walk goes on. */
    if (flag == FTW_DP || flag == FTW_D)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

int sim_rmtree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode))
        return unlink(path);
    return nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

/* Regular files below `dir` (recursively, at most 16 levels). */
static long count_files(const char *dir, int levels)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    long n = 0;
    if (!d)
        return -1;
    while ((de = readdir(d)) != NULL) {
        char path[4608];
        struct stat st;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if (lstat(path, &st) != 0)
            continue;
        if (S_ISREG(st.st_mode))
            n++;
        else if (S_ISDIR(st.st_mode) && levels > 0) {
            long sub = count_files(path, levels - 1);
            if (sub > 0)
                n += sub;
        }
    }
    closedir(d);
    return n;
}

static int valid_path(const char *path)
{
    return *path && path[0] != '/' && !strstr(path, "..");
}

/* Whether `dir/..data` holds exactly this payload. */
static int same_as_disk(const char *dir, const struct payload *p)
{
    char path[4608];
    long expected = 0;
    for (size_t i = 0; i < p->n; i++) {
        struct stat st;
        unsigned char *buf;
        int fd, same;
        if (!valid_path(p->f[i].path))
            continue;
        expected++;
        snprintf(path, sizeof(path), "%s/..data/%s", dir, p->f[i].path);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size != p->f[i].len ||
            (int)(st.st_mode & 07777) != p->f[i].mode)
            return 0;
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return 0;
        buf = malloc(p->f[i].len + 1);
        same = buf && read(fd, buf, p->f[i].len + 1) == (ssize_t)p->f[i].len &&
               memcmp(buf, p->f[i].data, p->f[i].len) == 0;
        free(buf);
        close(fd);
        if (!same)
            return 0;
    }
    /* Nothing beyond the payload either (a key removed from the Secret). */
    snprintf(path, sizeof(path), "%s/..data", dir);
    return count_files(path, 16) == expected;
}

static int write_file(const char *path, const struct pfile *f)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    const unsigned char *d = f->data;
    size_t left = f->len;
    if (fd < 0)
        return -1;
    while (left > 0) {
        ssize_t n = write(fd, d, left);
        if (n <= 0) {
            close(fd);
            return -1;
        }
        d += n;
        left -= (size_t)n;
    }
    if (fchmod(fd, (mode_t)f->mode) != 0) {
        close(fd);
        return -1;
    }
    return close(fd);
}

static int top_level(const char *path, char *out, size_t cap)
{
    const char *slash = strchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : strlen(path);
    if (n == 0 || n >= cap)
        return -1;
    memcpy(out, path, n);
    out[n] = '\0';
    return 0;
}

/*
 * AtomicWriter.Write: the payload into a new timestamped directory, then
 * "..data" swapped to it with one rename, the top-level symlinks made or
 * removed, and the old directory deleted.
 */
static int atomic_write(const char *dir, const struct payload *p)
{
    char ts[64], tsdir[4608], path[4608], tmp[4608], old[4608] = "";
    struct timespec now;
    struct tm tm;
    ssize_t oldn;
    if (mkdirs(dir, 0777) != 0)
        return -1;
    snprintf(path, sizeof(path), "%s/..data", dir);
    if (access(path, F_OK) == 0 && same_as_disk(dir, p))
        return 0;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    snprintf(ts, sizeof(ts), "..%04d_%02d_%02d_%02d_%02d_%02d.%09ld", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, now.tv_nsec);
    snprintf(tsdir, sizeof(tsdir), "%s/%s", dir, ts);
    if (mkdir(tsdir, 0755) != 0)
        return -1;
    for (size_t i = 0; i < p->n; i++) {
        char *slash;
        if (!valid_path(p->f[i].path))
            continue; /* the API refuses such paths; never write outside */
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", tsdir, p->f[i].path) >= sizeof(path))
            return -1;
        slash = strrchr(path, '/');
        if (slash && slash > path + strlen(tsdir)) {
            *slash = '\0';
            if (mkdirs(path, 0755) != 0)
                return -1;
            *slash = '/';
        }
        if (write_file(path, &p->f[i]) != 0)
            return -1;
    }
    snprintf(path, sizeof(path), "%s/..data", dir);
    oldn = readlink(path, old, sizeof(old) - 1);
    old[oldn > 0 ? oldn : 0] = '\0';
    snprintf(tmp, sizeof(tmp), "%s/..data_tmp", dir);
    unlink(tmp);
    if (symlink(ts, tmp) != 0 || rename(tmp, path) != 0)
        return -1;
    for (size_t i = 0; i < p->n; i++) {
        char top[1024], target[1100], link[4608];
        struct stat st;
        if (!valid_path(p->f[i].path) || top_level(p->f[i].path, top, sizeof(top)) != 0)
            continue;
        snprintf(link, sizeof(link), "%s/%s", dir, top);
        snprintf(target, sizeof(target), "..data/%s", top);
        if (lstat(link, &st) != 0 && symlink(target, link) != 0)
            return -1;
    }
    /* Top-level names no longer in the payload go. */
    {
        DIR *d = opendir(dir);
        struct dirent *de;
        while (d && (de = readdir(d)) != NULL) {
            int keep = strncmp(de->d_name, "..", 2) == 0 || strcmp(de->d_name, ".") == 0;
            char top[1024], link[4608];
            for (size_t i = 0; i < p->n && !keep; i++)
                keep =
                    top_level(p->f[i].path, top, sizeof(top)) == 0 && strcmp(top, de->d_name) == 0;
            if (keep)
                continue;
            snprintf(link, sizeof(link), "%s/%s", dir, de->d_name);
            unlink(link);
        }
        if (d)
            closedir(d);
    }
    if (*old && strcmp(old, ts) != 0 &&
        (size_t)snprintf(path, sizeof(path), "%s/%s", dir, old) < sizeof(path))
        sim_rmtree(path);
    return 0;
}

/* ---- set-up, resync, mounts ---- */

static void vol_free(struct sim_podvol *v)
{
    free(v->name);
    free(v->host_path);
    if (v->token) {
        memset(v->token, 0, strlen(v->token));
        free(v->token);
    }
    memset(v, 0, sizeof(*v));
}

void sim_podvols_free(struct sim_podvols *vols)
{
    for (size_t i = 0; i < vols->n; i++)
        vol_free(&vols->v[i]);
    free(vols->v);
    memset(vols, 0, sizeof(*vols));
}

/* automountServiceAccountToken of the pod, else of its ServiceAccount,
 * else true. */
static int wants_token(struct sim_server *srv, const cJSON *pod)
{
    const cJSON *a = sim_jget(pod, "spec", "automountServiceAccountToken", NULL);
    const char *ns = sim_jstr(pod, "metadata", "namespace", NULL);
    const char *sa = sim_jstr(pod, "spec", "serviceAccountName", NULL);
    struct sim_coll *c;
    struct sim_obj *o;
    if (cJSON_IsBool(a))
        return cJSON_IsTrue(a);
    c = sim_store_coll(srv->store, "", "serviceaccounts", 0);
    o = c ? sim_coll_get(c, ns ? ns : "", sa && *sa ? sa : "default") : NULL;
    a = o ? sim_jget(o->json, "automountServiceAccountToken", NULL) : NULL;
    if (cJSON_IsBool(a))
        return cJSON_IsTrue(a);
    return 1;
}

/* The service-account volume's content: token, ca.crt, namespace. */
static int sa_payload(struct sim_server *srv, const cJSON *pod, struct sim_podvol *vol,
                      struct payload *p, char *err, size_t cap)
{
    const char *ns = sim_jstr(pod, "metadata", "namespace", NULL);
    cJSON *src = cJSON_CreateObject();
    int rc;
    if (!src)
        return -1;
    cJSON_AddStringToObject(src, "path", "token");
    cJSON_AddNumberToObject(src, "expirationSeconds", TOKEN_SECONDS);
    rc = add_token(srv, pod, src, 0644, vol, p, err, cap);
    cJSON_Delete(src);
    if (rc != 0)
        return -1;
    if (payload_add(p, "ca.crt", srv->tls.ca_pem, strlen(srv->tls.ca_pem), 0644) != 0 ||
        payload_add(p, "namespace", ns ? ns : "", ns ? strlen(ns) : 0, 0644) != 0) {
        snprintf(err, cap, "out of memory");
        return -1;
    }
    return 0;
}

static int add_vol(struct sim_podvols *vols, const char *name, const char *host_path)
{
    struct sim_podvol *nv = realloc(vols->v, (vols->n + 1) * sizeof(*nv));
    if (!nv)
        return -1;
    vols->v = nv;
    memset(&nv[vols->n], 0, sizeof(nv[0]));
    nv[vols->n].name = strdup(name);
    nv[vols->n].host_path = strdup(host_path);
    if (!nv[vols->n].name || !nv[vols->n].host_path) {
        vol_free(&nv[vols->n]);
        return -1;
    }
    vols->n++;
    return 0;
}

static int setup_one(struct sim_server *srv, const cJSON *pod, const cJSON *volume, const char *dir,
                     struct sim_podvols *vols, char *err, size_t cap)
{
    const char *ns = sim_jstr(pod, "metadata", "namespace", NULL);
    const char *name = sim_jstr(volume, "name", NULL);
    const cJSON *src;
    struct sim_podvol *v;
    if ((src = sim_jget(volume, "emptyDir", NULL)) != NULL) {
        if (mkdirs(dir, 0777) != 0 || chmod(dir, 0777) != 0) {
            snprintf(err, cap, "cannot create the volume's directory: %s", strerror(errno));
            return -1;
        }
        return add_vol(vols, name, dir);
    }
    if ((src = sim_jget(volume, "persistentVolumeClaim", NULL)) != NULL) {
        const char *claim = sim_jstr(src, "claimName", NULL);
        const char *host = sim_wl_claim_dir(srv, ns ? ns : "", claim ? claim : "");
        struct stat st;
        if (!host) {
            snprintf(err, cap,
                     "persistentvolumeclaim \"%s\" has no volume on this node (kubesim: map "
                     "\"%s/%s\" to a directory in the workloads' \"claims\")",
                     claim ? claim : "", ns ? ns : "", claim ? claim : "");
            return -1;
        }
        if (stat(host, &st) != 0 || !S_ISDIR(st.st_mode)) {
            snprintf(err, cap, "stat %s: %s", host, errno ? strerror(errno) : "not a directory");
            return -1;
        }
        if (add_vol(vols, name, host) != 0)
            return -1;
        vols->v[vols->n - 1].readonly = cJSON_IsTrue(sim_jget(src, "readOnly", NULL));
        return 0;
    }
    if ((src = sim_jget(volume, "hostPath", NULL)) != NULL) {
        const char *path = sim_jstr(src, "path", NULL), *type = sim_jstr(src, "type", NULL);
        struct stat st;
        path = path ? path : "";
        type = type ? type : "";
        if (strcmp(type, "DirectoryOrCreate") == 0 && mkdirs(path, 0755) != 0) {
            snprintf(err, cap, "mkdir %s: %s", path, strerror(errno));
            return -1;
        }
        if (strcmp(type, "FileOrCreate") == 0) {
            int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
            if (fd >= 0)
                close(fd);
        }
        if (stat(path, &st) != 0) {
            snprintf(err, cap, "hostPath type check failed: %s does not exist", path);
            return -1;
        }
        if (add_vol(vols, name, path) != 0)
            return -1;
        vols->v[vols->n - 1].is_file = !S_ISDIR(st.st_mode);
        return 0;
    }
    if (sim_jget(volume, "secret", NULL) || sim_jget(volume, "configMap", NULL) ||
        sim_jget(volume, "downwardAPI", NULL) || sim_jget(volume, "projected", NULL)) {
        struct payload p;
        memset(&p, 0, sizeof(p));
        if (add_vol(vols, name, dir) != 0)
            return -1;
        v = &vols->v[vols->n - 1];
        v->readonly = 1;
        v->api_data = 1;
        if (build_payload(srv, pod, volume, v, &p, err, cap) != 0) {
            payload_free(&p);
            return -1;
        }
        if (atomic_write(dir, &p) != 0) {
            snprintf(err, cap, "cannot write the volume's files: %s", strerror(errno));
            payload_free(&p);
            return -1;
        }
        payload_free(&p);
        return 0;
    }
    snprintf(err, cap, "kubesim: this type of volume is not simulated");
    return -1;
}

int sim_podvols_setup(struct sim_server *srv, const cJSON *pod, const char *pod_dir,
                      struct sim_podvols *out, char *err, size_t cap)
{
    const cJSON *volume;
    char dir[4608], why[2048];
    memset(out, 0, sizeof(*out));
    cJSON_ArrayForEach(volume, sim_jget(pod, "spec", "volumes", NULL))
    {
        const char *name = sim_jstr(volume, "name", NULL);
        if (!name)
            continue;
        snprintf(dir, sizeof(dir), "%s/volumes/%s", pod_dir, name);
        why[0] = '\0';
        if (setup_one(srv, pod, volume, dir, out, why, sizeof(why)) != 0) {
            snprintf(err, cap, "MountVolume.SetUp failed for volume \"%s\" : %s", name,
                     *why ? why : "out of memory");
            sim_podvols_free(out);
            return -1;
        }
    }
    if (wants_token(srv, pod)) {
        const char *uid = sim_jstr(pod, "metadata", "uid", NULL);
        struct payload p;
        struct sim_podvol *v;
        char suffix[6];
        /* kube-api-access-<5 characters>: the same for the pod's lifetime. */
        for (size_t i = 0; i < 5; i++) {
            char c = uid && strlen(uid) > i * 7 ? uid[i * 7] : 'x';
            suffix[i] = c == '-' ? 'z' : c;
        }
        suffix[5] = '\0';
        snprintf(out->sa_name, sizeof(out->sa_name), "kube-api-access-%s", suffix);
        snprintf(dir, sizeof(dir), "%s/volumes/%s", pod_dir, out->sa_name);
        memset(&p, 0, sizeof(p));
        why[0] = '\0';
        if (add_vol(out, out->sa_name, dir) != 0 ||
            sa_payload(srv, pod, (v = &out->v[out->n - 1]), &p, why, sizeof(why)) != 0 ||
            atomic_write(dir, &p) != 0) {
            snprintf(err, cap, "MountVolume.SetUp failed for volume \"%s\" : %s", out->sa_name,
                     *why ? why : strerror(errno));
            payload_free(&p);
            sim_podvols_free(out);
            return -1;
        }
        v->readonly = 1;
        v->api_data = 1;
        out->has_sa = 1;
        payload_free(&p);
    }
    return 0;
}

void sim_podvols_sync(struct sim_server *srv, const cJSON *pod, const char *pod_dir,
                      struct sim_podvols *vols)
{
    char dir[4608], why[1024];
    for (size_t i = 0; i < vols->n; i++) {
        struct sim_podvol *v = &vols->v[i];
        struct payload p;
        const cJSON *volume = NULL, *it;
        int rc;
        if (!v->api_data)
            continue;
        memset(&p, 0, sizeof(p));
        snprintf(dir, sizeof(dir), "%s/volumes/%s", pod_dir, v->name);
        if (vols->has_sa && strcmp(v->name, vols->sa_name) == 0) {
            rc = sa_payload(srv, pod, v, &p, why, sizeof(why));
        } else {
            cJSON_ArrayForEach(it, sim_jget(pod, "spec", "volumes", NULL))
            {
                const char *n = sim_jstr(it, "name", NULL);
                if (n && strcmp(n, v->name) == 0)
                    volume = it;
            }
            rc = volume ? build_payload(srv, pod, volume, v, &p, why, sizeof(why)) : -1;
        }
        if (rc == 0)
            atomic_write(dir, &p);
        payload_free(&p);
    }
}

void sim_mountlist_free(struct sim_mountlist *l)
{
    for (size_t i = 0; i < l->nstrs; i++)
        free(l->strs[i]);
    free(l->strs);
    free(l->m);
    memset(l, 0, sizeof(*l));
}

static int ml_add(struct sim_mountlist *l, const char *source, const char *target, int ro,
                  int is_file)
{
    struct sim_mount *nm = realloc(l->m, (l->n + 1) * sizeof(*nm));
    char **ns;
    if (!nm)
        return -1;
    l->m = nm;
    ns = realloc(l->strs, (l->nstrs + 2) * sizeof(*ns));
    if (!ns)
        return -1;
    l->strs = ns;
    ns[l->nstrs] = strdup(source);
    ns[l->nstrs + 1] = strdup(target);
    if (!ns[l->nstrs] || !ns[l->nstrs + 1]) {
        free(ns[l->nstrs]);
        free(ns[l->nstrs + 1]);
        return -1;
    }
    nm[l->n].source = ns[l->nstrs];
    nm[l->n].target = ns[l->nstrs + 1];
    nm[l->n].readonly = ro;
    nm[l->n].is_file = is_file;
    l->nstrs += 2;
    l->n++;
    return 0;
}

static int has_backstep(const char *p)
{
    const char *c = p;
    while (c && *c) {
        if (c[0] == '.' && c[1] == '.' && (c[2] == '/' || c[2] == '\0'))
            return 1;
        c = strchr(c, '/');
        if (c)
            c++;
    }
    return 0;
}

int sim_podvols_mounts(const struct sim_podvols *vols, const cJSON *ctr, const struct sim_env *env,
                       const char *termination_file, struct sim_mountlist *out, char *err,
                       size_t cap)
{
    const char *cname = sim_jstr(ctr, "name", NULL);
    const char *tpath = sim_jstr(ctr, "terminationMessagePath", NULL);
    const cJSON *vm;
    int sa_taken = 0;
    memset(out, 0, sizeof(*out));
    cJSON_ArrayForEach(vm, sim_jget(ctr, "volumeMounts", NULL))
    {
        const char *name = sim_jstr(vm, "name", NULL);
        const char *mp = sim_jstr(vm, "mountPath", NULL);
        const char *sub = sim_jstr(vm, "subPath", NULL);
        const char *expr = sim_jstr(vm, "subPathExpr", NULL);
        const struct sim_podvol *v = NULL;
        char *expanded = NULL, source[4608];
        struct stat st;
        int rc;
        for (size_t i = 0; vols && name && i < vols->n; i++)
            if (strcmp(vols->v[i].name, name) == 0)
                v = &vols->v[i];
        if (!v || !mp) {
            snprintf(err, cap, "cannot find volume \"%s\" to mount into container \"%s\"",
                     name ? name : "", cname ? cname : "");
            goto fail;
        }
        if (strcmp(mp, SIM_SA_MOUNT_PATH) == 0)
            sa_taken = 1;
        if (expr && *expr) {
            expanded = sim_env_expand(expr, env, NULL);
            sub = expanded;
        }
        snprintf(source, sizeof(source), "%s", v->host_path);
        if (sub && *sub) {
            if (sub[0] == '/') {
                snprintf(err, cap, "error SubPath `%s` must not be an absolute path", sub);
                free(expanded);
                goto fail;
            }
            if (has_backstep(sub)) {
                snprintf(err, cap, "unable to provision SubPath `%s`: must not contain '..'", sub);
                free(expanded);
                goto fail;
            }
            snprintf(source, sizeof(source), "%s/%s", v->host_path, sub);
            if (stat(source, &st) != 0 && mkdirs(source, 0755) != 0) {
                snprintf(err, cap,
                         "failed to create subPath directory for volumeMount \"%s\" of container "
                         "\"%s\"",
                         name, cname ? cname : "");
                free(expanded);
                goto fail;
            }
        }
        free(expanded);
        rc = stat(source, &st);
        if (ml_add(out, source, mp, v->readonly || cJSON_IsTrue(sim_jget(vm, "readOnly", NULL)),
                   rc == 0 && !S_ISDIR(st.st_mode)) != 0) {
            snprintf(err, cap, "out of memory");
            goto fail;
        }
    }
    if (vols && vols->has_sa && !sa_taken) {
        for (size_t i = 0; i < vols->n; i++)
            if (strcmp(vols->v[i].name, vols->sa_name) == 0 &&
                ml_add(out, vols->v[i].host_path, SIM_SA_MOUNT_PATH, 1, 0) != 0) {
                snprintf(err, cap, "out of memory");
                goto fail;
            }
    }
    if (termination_file) {
        if (!tpath || !*tpath)
            tpath = "/dev/termination-log";
        if (ml_add(out, termination_file, tpath, 0, 1) != 0) {
            snprintf(err, cap, "out of memory");
            goto fail;
        }
    }
    return 0;
fail:
    sim_mountlist_free(out);
    return -1;
}
