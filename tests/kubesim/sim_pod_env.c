/*
 * Container environments and downward API values (see sim_pod_env.h). The
 * order of work follows makeEnvironmentVariables: envFrom first, then env,
 * each value expanded against what is defined so far and the service
 * variables; the service variables no container set come last.
 */
#include "sim_pod_env.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "k8s_buf.h"
#include "sim_server.h"
#include "sim_store.h"
#include "sim_util.h"

#define MAX_VALUE (64u * 1024 * 1024)

void sim_env_init(struct sim_env *e)
{
    memset(e, 0, sizeof(*e));
}

void sim_env_free(struct sim_env *e)
{
    for (size_t i = 0; i < e->n; i++) {
        free(e->names[i]);
        if (e->values[i]) {
            /* Values may be secrets: do not leave them in freed memory. */
            memset(e->values[i], 0, strlen(e->values[i]));
            free(e->values[i]);
        }
    }
    free(e->names);
    free(e->values);
    memset(e, 0, sizeof(*e));
}

int sim_env_set(struct sim_env *e, const char *name, const char *value)
{
    char *v = strdup(value ? value : "");
    if (!v)
        return -1;
    for (size_t i = 0; i < e->n; i++)
        if (strcmp(e->names[i], name) == 0) {
            memset(e->values[i], 0, strlen(e->values[i]));
            free(e->values[i]);
            e->values[i] = v;
            return 0;
        }
    if (e->n == e->cap) {
        size_t ncap = e->cap ? e->cap * 2 : 16;
        char **nn = realloc(e->names, ncap * sizeof(*nn)), **nv;
        if (!nn) {
            free(v);
            return -1;
        }
        e->names = nn;
        nv = realloc(e->values, ncap * sizeof(*nv));
        if (!nv) {
            free(v);
            return -1;
        }
        e->values = nv;
        e->cap = ncap;
    }
    e->names[e->n] = strdup(name);
    if (!e->names[e->n]) {
        free(v);
        return -1;
    }
    e->values[e->n++] = v;
    return 0;
}

const char *sim_env_get(const struct sim_env *e, const char *name)
{
    for (size_t i = 0; e && i < e->n; i++)
        if (strcmp(e->names[i], name) == 0)
            return e->values[i];
    return NULL;
}

char **sim_env_envp(const struct sim_env *e)
{
    char **v = calloc(e->n + 1, sizeof(*v));
    if (!v)
        return NULL;
    for (size_t i = 0; i < e->n; i++) {
        size_t len = strlen(e->names[i]) + strlen(e->values[i]) + 2;
        v[i] = malloc(len);
        if (!v[i]) {
            sim_strv_free(v);
            return NULL;
        }
        snprintf(v[i], len, "%s=%s", e->names[i], e->values[i]);
    }
    return v;
}

void sim_strv_free(char **v)
{
    if (!v)
        return;
    for (size_t i = 0; v[i]; i++) {
        memset(v[i], 0, strlen(v[i]));
        free(v[i]);
    }
    free(v);
}

char *sim_env_expand(const char *in, const struct sim_env *a, const struct sim_env *b)
{
    struct k8s_buf out;
    size_t len = strlen(in), checkpoint = 0;
    k8s_buf_init(&out, MAX_VALUE);
    for (size_t cur = 0; cur < len; cur++) {
        if (in[cur] != '$' || cur + 1 >= len)
            continue;
        k8s_buf_append(&out, in + checkpoint, cur - checkpoint);
        if (in[cur + 1] == '$') {
            k8s_buf_append(&out, "$", 1);
            cur += 1;
        } else if (in[cur + 1] == '(') {
            const char *close = memchr(in + cur + 2, ')', len - cur - 2);
            if (!close) {
                k8s_buf_append(&out, "$(", 2);
                cur += 1;
            } else {
                size_t nlen = (size_t)(close - (in + cur + 2));
                char name[1024];
                const char *v = NULL;
                if (nlen < sizeof(name)) {
                    memcpy(name, in + cur + 2, nlen);
                    name[nlen] = '\0';
                    v = sim_env_get(a, name);
                    if (!v)
                        v = sim_env_get(b, name);
                }
                if (v)
                    k8s_buf_append(&out, v, strlen(v));
                else
                    k8s_buf_append(&out, in + cur, nlen + 3);
                cur += nlen + 2;
            }
        } else {
            k8s_buf_append(&out, in + cur, 2);
            cur += 1;
        }
        checkpoint = cur + 1;
    }
    if (checkpoint < len)
        k8s_buf_append(&out, in + checkpoint, len - checkpoint);
    if (!out.data)
        return strdup("");
    return k8s_buf_take(&out, NULL);
}

/* ---- Secrets and ConfigMaps ---- */

static const cJSON *store_obj(struct sim_server *srv, const char *resource, const char *ns,
                              const char *name)
{
    struct sim_coll *c = sim_store_coll(srv->store, "", resource, 0);
    struct sim_obj *o = c ? sim_coll_get(c, ns, name) : NULL;
    return o ? o->json : NULL;
}

unsigned char *sim_pod_secret_key(struct sim_server *srv, const char *ns, const char *name,
                                  const char *key, size_t *len, int *found_obj)
{
    const cJSON *s = store_obj(srv, "secrets", ns, name);
    const char *v;
    *found_obj = s != NULL;
    *len = 0;
    v = s ? sim_jstr(s, "data", key, NULL) : NULL;
    if (v)
        return sim_b64_decode(v, len);
    /* stringData is folded into data on write; read it should it remain. */
    v = s ? sim_jstr(s, "stringData", key, NULL) : NULL;
    if (v) {
        *len = strlen(v);
        return (unsigned char *)strdup(v);
    }
    return NULL;
}

unsigned char *sim_pod_configmap_key(struct sim_server *srv, const char *ns, const char *name,
                                     const char *key, size_t *len, int *found_obj)
{
    const cJSON *c = store_obj(srv, "configmaps", ns, name);
    const char *v;
    *found_obj = c != NULL;
    *len = 0;
    v = c ? sim_jstr(c, "data", key, NULL) : NULL;
    if (v) {
        *len = strlen(v);
        return (unsigned char *)strdup(v);
    }
    v = c ? sim_jstr(c, "binaryData", key, NULL) : NULL;
    if (v)
        return sim_b64_decode(v, len);
    return NULL;
}

/* ---- downward API ---- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* fieldpath.FormatMap: key="value" lines sorted by key, no final newline. */
static char *format_map(const cJSON *m)
{
    struct k8s_buf b;
    const cJSON *it;
    const char **keys;
    size_t n = 0, total = (size_t)cJSON_GetArraySize(m);
    k8s_buf_init(&b, MAX_VALUE);
    keys = calloc(total + 1, sizeof(*keys));
    if (!keys)
        return NULL;
    cJSON_ArrayForEach(it, m)
    {
        if (cJSON_IsString(it))
            keys[n++] = it->string;
    }
    qsort(keys, n, sizeof(*keys), cmp_str);
    for (size_t i = 0; i < n; i++) {
        if (i)
            k8s_buf_append(&b, "\n", 1);
        k8s_buf_append(&b, keys[i], strlen(keys[i]));
        k8s_buf_append(&b, "=", 1);
        k8s_buf_append_go_quoted(&b, sim_jstr(m, keys[i], NULL));
    }
    free(keys);
    if (!b.data)
        return strdup("");
    return k8s_buf_take(&b, NULL);
}

/* "metadata.labels['k']" -> k */
static int subscript(const char *path, const char *prefix, char *key, size_t cap)
{
    size_t pl = strlen(prefix), n;
    const char *end;
    if (strncmp(path, prefix, pl) != 0 || path[pl] != '[' || path[pl + 1] != '\'')
        return 0;
    end = strstr(path + pl + 2, "']");
    if (!end || end[2] != '\0')
        return 0;
    n = (size_t)(end - (path + pl + 2));
    if (n >= cap)
        return 0;
    memcpy(key, path + pl + 2, n);
    key[n] = '\0';
    return 1;
}

int sim_pod_field(const cJSON *pod, const char *path, char **out, char *err, size_t cap)
{
    char key[512];
    const char *v = NULL;
    *out = NULL;
    if (strcmp(path, "metadata.name") == 0)
        v = sim_jstr(pod, "metadata", "name", NULL);
    else if (strcmp(path, "metadata.namespace") == 0)
        v = sim_jstr(pod, "metadata", "namespace", NULL);
    else if (strcmp(path, "metadata.uid") == 0)
        v = sim_jstr(pod, "metadata", "uid", NULL);
    else if (strcmp(path, "spec.nodeName") == 0)
        v = sim_jstr(pod, "spec", "nodeName", NULL);
    else if (strcmp(path, "spec.serviceAccountName") == 0)
        v = sim_jstr(pod, "spec", "serviceAccountName", NULL);
    else if (strcmp(path, "status.hostIP") == 0 || strcmp(path, "status.podIP") == 0 ||
             strcmp(path, "status.hostIPs") == 0 || strcmp(path, "status.podIPs") == 0)
        v = "127.0.0.1"; /* host network, one address family */
    else if (strcmp(path, "metadata.labels") == 0 || strcmp(path, "metadata.annotations") == 0) {
        *out = format_map(sim_jget(pod, "metadata", strchr(path, '.') + 1, NULL));
        return *out ? 0 : -1;
    } else if (subscript(path, "metadata.labels", key, sizeof(key)))
        v = sim_jstr(pod, "metadata", "labels", key, NULL);
    else if (subscript(path, "metadata.annotations", key, sizeof(key)))
        v = sim_jstr(pod, "metadata", "annotations", key, NULL);
    else {
        snprintf(err, cap, "field label not supported: %s", path);
        return -1;
    }
    *out = strdup(v ? v : "");
    return *out ? 0 : -1;
}

/* A resource.Quantity in base units (cores, bytes); -1 when malformed. */
static double quantity(const char *s)
{
    static const struct {
        const char *sfx;
        double mul;
    } sfx[] = {{"Ki", 1024.0},
               {"Mi", 1048576.0},
               {"Gi", 1073741824.0},
               {"Ti", 1099511627776.0},
               {"Pi", 1125899906842624.0},
               {"Ei", 1152921504606846976.0},
               {"m", 1e-3},
               {"k", 1e3},
               {"M", 1e6},
               {"G", 1e9},
               {"T", 1e12},
               {"P", 1e15},
               {"E", 1e18},
               {"", 1.0}};
    char *end = NULL;
    double v;
    if (!s || !*s)
        return -1;
    v = strtod(s, &end);
    if (!end || end == s)
        return -1;
    for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++)
        if (strcmp(end, sfx[i].sfx) == 0)
            return v * sfx[i].mul;
    return -1;
}

static const char *resource_value(const cJSON *ctr, const char *kind, const char *res)
{
    const cJSON *v = sim_jget(ctr, "resources", kind, res, NULL);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int sim_pod_resource_field(const cJSON *pod, const cJSON *ctr, const cJSON *ref, char **out,
                           char *err, size_t cap)
{
    const char *res = sim_jstr(ref, "resource", NULL);
    const char *cname = sim_jstr(ref, "containerName", NULL);
    const cJSON *div = sim_jget(ref, "divisor", NULL);
    const char *dot;
    char rname[64], kind[16], num[64];
    double value = -1, divisor = 1;
    const char *q;
    *out = NULL;
    if (cname && *cname) {
        const cJSON *c;
        ctr = NULL;
        cJSON_ArrayForEach(c, sim_jget(pod, "spec", "containers", NULL))
        {
            const char *n = sim_jstr(c, "name", NULL);
            if (n && strcmp(n, cname) == 0)
                ctr = c;
        }
        if (!ctr) {
            snprintf(err, cap, "container %s not found", cname);
            return -1;
        }
    }
    dot = res ? strchr(res, '.') : NULL;
    if (!dot || (size_t)(dot - res) >= sizeof(kind) || strlen(dot + 1) >= sizeof(rname)) {
        snprintf(err, cap, "unsupported container resource : %s", res ? res : "");
        return -1;
    }
    snprintf(kind, sizeof(kind), "%.*s", (int)(dot - res), res);
    snprintf(rname, sizeof(rname), "%s", dot + 1);
    if (strcmp(kind, "limits") != 0 && strcmp(kind, "requests") != 0) {
        snprintf(err, cap, "unsupported container resource : %s", res);
        return -1;
    }
    q = resource_value(ctr, kind, rname);
    /* A request defaults to the limit; an unset limit is the node's allocatable. */
    if (!q && strcmp(kind, "requests") == 0)
        q = resource_value(ctr, "limits", rname);
    if (q)
        value = quantity(q);
    if (value < 0) {
        if (strcmp(rname, "cpu") == 0) {
            long n = sysconf(_SC_NPROCESSORS_ONLN);
            value = strcmp(kind, "requests") == 0 ? 0 : (double)(n > 0 ? n : 1);
        } else if (strcmp(rname, "memory") == 0) {
            long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
            value = strcmp(kind, "requests") == 0 ? 0 : (double)pages * (double)psz;
        } else if (strcmp(rname, "ephemeral-storage") == 0) {
            value = strcmp(kind, "requests") == 0 ? 0 : 100.0 * 1073741824.0;
        } else {
            snprintf(err, cap, "unsupported container resource : %s", res);
            return -1;
        }
    }
    if (cJSON_IsString(div) && quantity(div->valuestring) > 0)
        divisor = quantity(div->valuestring);
    /* ExtractContainerResourceValue rounds up (cpu in cores, others in units). */
    snprintf(num, sizeof(num), "%.0f", ceil(value / divisor - 1e-9));
    *out = strdup(num);
    return *out ? 0 : -1;
}

/* ---- the environment ---- */

static int valid_env_name(const char *s)
{
    if (!*s || (*s >= '0' && *s <= '9'))
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-' || *s == '.'))
            return 0;
    return 1;
}

static void service_env(struct sim_server *srv, struct sim_env *svc)
{
    char port[16], url[64], name[64];
    snprintf(port, sizeof(port), "%d", srv->port);
    snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", srv->port);
    sim_env_set(svc, "KUBERNETES_SERVICE_HOST", "127.0.0.1");
    sim_env_set(svc, "KUBERNETES_SERVICE_PORT", port);
    sim_env_set(svc, "KUBERNETES_SERVICE_PORT_HTTPS", port);
    sim_env_set(svc, "KUBERNETES_PORT", url);
    snprintf(name, sizeof(name), "KUBERNETES_PORT_%d_TCP", srv->port);
    sim_env_set(svc, name, url);
    snprintf(name, sizeof(name), "KUBERNETES_PORT_%d_TCP_PROTO", srv->port);
    sim_env_set(svc, name, "tcp");
    snprintf(name, sizeof(name), "KUBERNETES_PORT_%d_TCP_PORT", srv->port);
    sim_env_set(svc, name, port);
    snprintf(name, sizeof(name), "KUBERNETES_PORT_%d_TCP_ADDR", srv->port);
    sim_env_set(svc, name, "127.0.0.1");
}

static void note_skipped(char *skipped, size_t cap, const char *key)
{
    size_t n = strlen(skipped);
    if (n + strlen(key) + 3 < cap)
        snprintf(skipped + n, cap - n, "%s%s", n ? ", " : "", key);
}

/* envFrom: every key of a ConfigMap or Secret, with the prefix. */
static int env_from(struct sim_server *srv, const char *ns, const cJSON *ef, struct sim_env *env,
                    char *skipped, size_t skipped_cap, char *err, size_t cap)
{
    const cJSON *ref = sim_jget(ef, "configMapRef", NULL);
    int secret = 0;
    const char *prefix = sim_jstr(ef, "prefix", NULL);
    const char *name;
    const cJSON *obj, *it;
    if (!ref) {
        ref = sim_jget(ef, "secretRef", NULL);
        secret = 1;
    }
    if (!ref)
        return 0;
    name = sim_jstr(ref, "name", NULL);
    obj = store_obj(srv, secret ? "secrets" : "configmaps", ns, name ? name : "");
    if (!obj) {
        if (cJSON_IsTrue(sim_jget(ref, "optional", NULL)))
            return 0;
        snprintf(err, cap, "%s \"%s\" not found", secret ? "secret" : "configmap",
                 name ? name : "");
        return -1;
    }
    for (int pass = 0; pass < 2; pass++) {
        const char *member =
            secret ? (pass ? "stringData" : "data") : (pass ? "binaryData" : "data");
        cJSON_ArrayForEach(it, sim_jget(obj, member, NULL))
        {
            char key[1024];
            unsigned char *val = NULL;
            size_t len = 0;
            int found;
            if (!cJSON_IsString(it))
                continue;
            snprintf(key, sizeof(key), "%s%s", prefix ? prefix : "", it->string);
            if (!valid_env_name(key)) {
                note_skipped(skipped, skipped_cap, key);
                continue;
            }
            val = secret ? sim_pod_secret_key(srv, ns, name, it->string, &len, &found)
                         : sim_pod_configmap_key(srv, ns, name, it->string, &len, &found);
            if (val) {
                char *s = malloc(len + 1);
                if (s) {
                    memcpy(s, val, len);
                    s[len] = '\0';
                    sim_env_set(env, key, s);
                    memset(s, 0, len);
                    free(s);
                }
                memset(val, 0, len);
                free(val);
            }
        }
    }
    return 0;
}

static int value_from(struct sim_server *srv, const cJSON *pod, const cJSON *ctr, const char *ns,
                      const cJSON *vf, char **out, int *skip, char *err, size_t cap)
{
    const cJSON *ref;
    *out = NULL;
    *skip = 0;
    if ((ref = sim_jget(vf, "fieldRef", NULL)) != NULL)
        return sim_pod_field(
            pod, sim_jstr(ref, "fieldPath", NULL) ? sim_jstr(ref, "fieldPath", NULL) : "", out, err,
            cap);
    if ((ref = sim_jget(vf, "resourceFieldRef", NULL)) != NULL)
        return sim_pod_resource_field(pod, ctr, ref, out, err, cap);
    ref = sim_jget(vf, "secretKeyRef", NULL);
    if (ref || (ref = sim_jget(vf, "configMapKeyRef", NULL)) != NULL) {
        int secret = sim_jget(vf, "secretKeyRef", NULL) != NULL;
        const char *name = sim_jstr(ref, "name", NULL), *key = sim_jstr(ref, "key", NULL);
        int optional = cJSON_IsTrue(sim_jget(ref, "optional", NULL)), found = 0;
        size_t len = 0;
        unsigned char *v;
        name = name ? name : "";
        key = key ? key : "";
        v = secret ? sim_pod_secret_key(srv, ns, name, key, &len, &found)
                   : sim_pod_configmap_key(srv, ns, name, key, &len, &found);
        if (!found || !v) {
            free(v);
            if (optional) {
                *skip = 1;
                return 0;
            }
            if (!found)
                snprintf(err, cap, "%s \"%s\" not found", secret ? "secret" : "configmap", name);
            else
                snprintf(err, cap, "couldn't find key %s in %s %s/%s", key,
                         secret ? "Secret" : "ConfigMap", ns, name);
            return -1;
        }
        *out = malloc(len + 1);
        if (*out) {
            memcpy(*out, v, len);
            (*out)[len] = '\0';
        }
        memset(v, 0, len);
        free(v);
        return *out ? 0 : -1;
    }
    *out = strdup("");
    return *out ? 0 : -1;
}

int sim_pod_env(struct sim_server *srv, const cJSON *pod, const cJSON *ctr, struct sim_env *out,
                char *skipped, size_t skipped_cap, char *err, size_t cap)
{
    const char *ns = sim_jstr(pod, "metadata", "namespace", NULL);
    struct sim_env svc, env;
    const cJSON *it;
    int rc = -1;
    ns = ns ? ns : "";
    skipped[0] = '\0';
    err[0] = '\0';
    sim_env_init(&svc);
    sim_env_init(&env);
    service_env(srv, &svc);
    cJSON_ArrayForEach(it, sim_jget(ctr, "envFrom", NULL))
    {
        if (env_from(srv, ns, it, &env, skipped, skipped_cap, err, cap) != 0)
            goto out;
    }
    cJSON_ArrayForEach(it, sim_jget(ctr, "env", NULL))
    {
        const char *name = sim_jstr(it, "name", NULL);
        const char *value = sim_jstr(it, "value", NULL);
        const cJSON *vf = sim_jget(it, "valueFrom", NULL);
        char *v = NULL;
        int skip = 0;
        if (!name)
            continue;
        if (value && *value)
            v = sim_env_expand(value, &env, &svc);
        else if (vf) {
            if (value_from(srv, pod, ctr, ns, vf, &v, &skip, err, cap) != 0)
                goto out;
        } else
            v = strdup("");
        if (skip)
            continue;
        if (!v || sim_env_set(&env, name, v) != 0) {
            free(v);
            snprintf(err, cap, "out of memory");
            goto out;
        }
        memset(v, 0, strlen(v));
        free(v);
    }
    for (size_t i = 0; i < svc.n; i++)
        if (!sim_env_get(&env, svc.names[i]))
            sim_env_set(&env, svc.names[i], svc.values[i]);
    *out = env;
    sim_env_init(&env);
    rc = 0;
out:
    sim_env_free(&env);
    sim_env_free(&svc);
    return rc;
}
