/*
 * The Quay Operator stand-in's status reconciler: quay-operator's
 * controllers/quay/quayregistry_status_controller.go (overwriteConditions)
 * over pkg/cmpstatus (Evaluate and one checker per component, with their
 * messages). It owns the ComponentXxxReady conditions and the summary
 * `Available` (HealthChecksPassing / ComponentNotReady). A component's
 * Deployment counts as ready exactly when its own `Available` condition is
 * True, as cmpstatus/deploy.go checks: a rollout whose old pods still serve
 * keeps the registry Available.
 *
 * Played instead of looked up (the simulator has no such objects): the
 * upgrade Job (finished once status.currentVersion is the operator's), the
 * HPAs when autoscaling/v2 is not served (present for quay-app, and for
 * clair-app/quay-mirror when those are managed, as the middleware renders
 * them), Routes (admitted). Clair's check looks at clair-postgres only when
 * clairpostgres is managed. The status is written when a condition's
 * status, reason or message changes (the real one rewrites it, with new
 * lastUpdateTime, on every run).
 */
#include "sim_quayop_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_kind.h"
#include "sim_server.h"
#include "sim_util.h"
#include "sim_workloads.h"

struct cond {
    char type[48];
    char status[8];
    char reason[48];
    char message[600];
};

struct eval {
    struct sim_server *srv;
    const cJSON *qr;
    const char *ns, *name;
    const cJSON *comps;
    const char *version;
    int err; /* a lookup failed: Evaluate returns an error */
};

static void set(struct cond *c, const char *type, int ok, const char *reason, const char *msg)
{
    sim_strlcpy(c->type, type, sizeof(c->type));
    sim_strlcpy(c->status, ok ? "True" : "False", sizeof(c->status));
    sim_strlcpy(c->reason, reason, sizeof(c->reason));
    sim_strlcpy(c->message, msg, sizeof(c->message));
}

static void unmanaged(struct cond *c, const char *type, const char *msg)
{
    set(c, type, 1, "ComponentNotManaged", msg);
}

static void not_ready(struct cond *c, const char *type, const char *msg)
{
    set(c, type, 0, "ComponentNotReady", msg);
}

/* GET <ns>/deployments/<name>-<suffix>; 1 found, 0 absent, -1 error. */
static int get_dep(struct eval *e, const char *suffix, char *name, size_t cap, cJSON **out)
{
    char path[1024];
    int code;
    snprintf(name, cap, "%s-%s", e->name, suffix);
    snprintf(path, sizeof(path), "/apis/apps/v1/namespaces/%s/deployments/%s", e->ns, name);
    *out = NULL;
    code = qop_call(e->srv, "GET", path, NULL, out);
    if (code == 200)
        return 1;
    cJSON_Delete(*out);
    *out = NULL;
    if (code == 404)
        return 0;
    e->err = 1;
    return -1;
}

/* cmpstatus/deploy.go: the Deployment's Available condition. */
static void deploy_check(const cJSON *dep, const char *name, const char *type, struct cond *c)
{
    const cJSON *x, *avail = NULL;
    cJSON_ArrayForEach(x, sim_jget(dep, "status", "conditions", NULL))
    {
        const char *t = sim_jstr(x, "type", NULL);
        if (t && strcmp(t, "Available") == 0) {
            avail = x;
            break;
        }
    }
    char msg[600];
    if (!avail) {
        snprintf(msg, sizeof(msg), "Available condition not found for %s", name);
        not_ready(c, type, msg);
        return;
    }
    if (strcmp(sim_jstr(avail, "status", NULL) ? sim_jstr(avail, "status", NULL) : "", "True") !=
        0) {
        snprintf(msg, sizeof(msg), "Deployment %s: %s", name,
                 sim_jstr(avail, "message", NULL) ? sim_jstr(avail, "message", NULL) : "");
        not_ready(c, type, msg);
        return;
    }
    snprintf(msg, sizeof(msg), "Deployment %s healthy", name);
    set(c, type, 1, "ComponentReady", msg);
}

/* database_status.go for the postgres component (no PVC is rendered, so
 * the Deployment's Available condition decides). */
static void check_postgres(struct eval *e, struct cond *c)
{
    const char *type = "ComponentPostgresReady";
    char name[320], msg[600];
    cJSON *dep = NULL;
    int got = get_dep(e, "quay-database", name, sizeof(name), &dep);
    if (got <= 0) {
        snprintf(msg, sizeof(msg), "Postgres deployment %s not found", name);
        not_ready(c, type, msg);
    } else if (!qop_owns(e->qr, dep)) {
        snprintf(msg, sizeof(msg), "Postgres deployment %s not owned by QuayRegistry", name);
        not_ready(c, type, msg);
    } else {
        deploy_check(dep, name, type, c);
    }
    cJSON_Delete(dep);
}

static void check_hpa(struct eval *e, struct cond *c)
{
    static const char *const suffixes[] = {"quay-app", "clair-app", "quay-mirror", NULL};
    int served =
        sim_kinds_find(e->srv->kinds, "autoscaling", "v2", "horizontalpodautoscalers", 1) != NULL;
    const char *type = "ComponentHPAReady";
    if (!qop_managed(e->comps, "horizontalpodautoscaler")) {
        unmanaged(c, type, "Horizontal pod autoscaler not managed by the operator");
        return;
    }
    for (size_t i = 0; suffixes[i]; i++) {
        if (served) {
            char path[1024];
            cJSON *h = NULL;
            int code;
            snprintf(path, sizeof(path),
                     "/apis/autoscaling/v2/namespaces/%s/horizontalpodautoscalers/%s-%s", e->ns,
                     e->name, suffixes[i]);
            code = qop_call(e->srv, "GET", path, NULL, &h);
            if (code != 200) {
                cJSON_Delete(h);
                not_ready(c, type, "Horizontal pod autoscaler not found");
                return;
            }
            if (!qop_owns(e->qr, h)) {
                cJSON_Delete(h);
                not_ready(c, type, "Horizontal pod autoscaler not owned by QuayRegistry");
                return;
            }
            cJSON_Delete(h);
        } else if ((i == 1 && !qop_managed(e->comps, "clair")) ||
                   (i == 2 && !qop_managed(e->comps, "mirror"))) {
            not_ready(c, type, "Horizontal pod autoscaler not found");
            return;
        }
    }
    set(c, type, 1, "ComponentReady", "Horizontal pod autoscaler found");
}

static void check_objectstorage(struct eval *e, struct cond *c)
{
    const char *type = "ComponentObjectStorageReady";
    char path[1024];
    cJSON *list = NULL;
    const cJSON *o;
    int code;
    if (!qop_managed(e->comps, "objectstorage")) {
        unmanaged(c, type, "Object storage not managed by the operator");
        return;
    }
    snprintf(path, sizeof(path), "/apis/objectbucket.io/v1alpha1/namespaces/%s/objectbucketclaims",
             e->ns);
    code = qop_call(e->srv, "GET", path, NULL, &list);
    if (code != 200) {
        cJSON_Delete(list);
        e->err = 1;
        return;
    }
    cJSON_ArrayForEach(o, sim_jget(list, "items", NULL))
    {
        const char *phase = sim_jstr(o, "status", "phase", NULL);
        if (!qop_owns(e->qr, o))
            continue;
        if (!phase || strcmp(phase, "Bound") != 0)
            not_ready(c, type, "Object bucket claim not bound");
        else
            set(c, type, 1, "ComponentReady", "Object bucket claim bound");
        cJSON_Delete(list);
        return;
    }
    cJSON_Delete(list);
    not_ready(c, type, "Unable to locate object bucket claim");
}

/* clair.go and clairpostgres.go: each Deployment in turn, bailing out at the
 * first faulty one. */
static void check_deps(struct eval *e, const char *type, const char *const *suffixes,
                       const char *healthy, struct cond *c)
{
    for (size_t i = 0; suffixes[i]; i++) {
        char name[320], msg[600];
        cJSON *dep = NULL;
        int got = get_dep(e, suffixes[i], name, sizeof(name), &dep);
        if (got <= 0) {
            snprintf(msg, sizeof(msg), "Deployment %s not found", name);
            not_ready(c, type, msg);
            return;
        }
        if (!qop_owns(e->qr, dep)) {
            cJSON_Delete(dep);
            snprintf(msg, sizeof(msg), "Deployment %s not owned by QuayRegistry", name);
            not_ready(c, type, msg);
            return;
        }
        deploy_check(dep, name, type, c);
        cJSON_Delete(dep);
        if (strcmp(c->status, "True") != 0)
            return;
    }
    set(c, type, 1, "ComponentReady", healthy);
}

static void check_tls(struct eval *e, struct cond *c)
{
    const char *type = "ComponentTLSReady";
    const char *bundle = sim_jstr(e->qr, "spec", "configBundleSecret", NULL);
    char path[1024];
    cJSON *s = NULL;
    int crt, key, code;
    if (!bundle || !*bundle) {
        not_ready(c, type, "Config bundle secret not populated");
        return;
    }
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/secrets/%s", e->ns, bundle);
    code = qop_call(e->srv, "GET", path, NULL, &s);
    if (code == 404) {
        cJSON_Delete(s);
        not_ready(c, type, "Config bundle does not exist");
        return;
    }
    if (code != 200) {
        cJSON_Delete(s);
        e->err = 1;
        return;
    }
    crt = sim_jget(s, "data", "ssl.cert", NULL) != NULL;
    key = sim_jget(s, "data", "ssl.key", NULL) != NULL;
    cJSON_Delete(s);
    if (qop_managed(e->comps, "tls")) {
        if (crt || key)
            not_ready(c, type, "TLS managed but config bundle contain certs");
        else
            set(c, type, 1, "ComponentReady", "Using cluster wildcard certs");
        return;
    }
    if (!crt || !key)
        not_ready(c, type, "TLS unmanaged but config bundle does not contain certs");
    else
        set(c, type, 1, "ComponentReady", "Config bundle contains certs");
}

static void check_quay(struct eval *e, struct cond *c)
{
    const char *type = "ComponentQuayReady";
    const char *cur = sim_jstr(e->qr, "status", "currentVersion", NULL);
    const cJSON *rep = qop_override(e->comps, "quay", "replicas");
    char name[320], msg[600];
    cJSON *dep = NULL;
    int got;
    if (!cur || strcmp(cur, e->version) != 0) {
        snprintf(msg, sizeof(msg), "Job %s-quay-app-upgrade not finished", e->name);
        not_ready(c, type, msg);
        return;
    }
    got = get_dep(e, "quay-app", name, sizeof(name), &dep);
    if (got <= 0) {
        snprintf(msg, sizeof(msg), "Deployment %s not found", name);
        not_ready(c, type, msg);
        return;
    }
    if (!qop_owns(e->qr, dep)) {
        cJSON_Delete(dep);
        snprintf(msg, sizeof(msg), "Deployment %s not owned by QuayRegistry", name);
        not_ready(c, type, msg);
        return;
    }
    if (cJSON_IsNumber(rep) && rep->valuedouble == 0) {
        const cJSON *av = sim_jget(dep, "status", "availableReplicas", NULL);
        int none = !cJSON_IsNumber(av) || av->valuedouble == 0;
        cJSON_Delete(dep);
        if (none)
            set(c, type, 1, "ComponentReady", "Quay component healthy");
        else
            not_ready(c, type, "Quay component is being scaled down");
        return;
    }
    deploy_check(dep, name, type, c);
    cJSON_Delete(dep);
    if (strcmp(c->status, "True") == 0)
        set(c, type, 1, "ComponentReady", "Quay component healthy");
}

static void check_mirror(struct eval *e, struct cond *c)
{
    const char *type = "ComponentMirrorReady";
    const cJSON *rep = qop_override(e->comps, "mirror", "replicas");
    char name[320];
    cJSON *dep = NULL;
    int got;
    if (!qop_managed(e->comps, "mirror")) {
        unmanaged(c, type, "Mirror not managed by the operator");
        return;
    }
    got = get_dep(e, "quay-mirror", name, sizeof(name), &dep);
    if (got <= 0) {
        not_ready(c, type, "Mirror deployment not found");
        return;
    }
    if (!qop_owns(e->qr, dep)) {
        cJSON_Delete(dep);
        not_ready(c, type, "Mirror deployment not owned by QuayRegistry");
        return;
    }
    if (cJSON_IsNumber(rep) && rep->valuedouble == 0) {
        const cJSON *av = sim_jget(dep, "status", "availableReplicas", NULL);
        int none = !cJSON_IsNumber(av) || av->valuedouble == 0;
        cJSON_Delete(dep);
        if (none)
            set(c, type, 1, "ComponentReady", "Mirror manually scaled down");
        else
            not_ready(c, type, "Mirror component is being scaled down");
        return;
    }
    deploy_check(dep, name, type, c);
    cJSON_Delete(dep);
}

/* cmpstatus.Evaluate; returns the number of conditions, -1 on a lookup error. */
static int evaluate(struct eval *e, struct cond *out, size_t cap)
{
    size_t n = 0;
    char failed[256] = "";
    if (cap < 12)
        return -1;
    check_hpa(e, &out[n++]);
    if (qop_managed(e->comps, "route"))
        set(&out[n++], "ComponentRouteReady", 1, "ComponentReady", "Route admitted");
    else
        unmanaged(&out[n++], "ComponentRouteReady", "Route is not managed by the operator");
    if (qop_managed(e->comps, "monitoring")) {
        char msg[400];
        snprintf(msg, sizeof(msg), "PrometheusRule %s-quay-prometheus-rules not found", e->name);
        not_ready(&out[n++], "ComponentMonitoringReady", msg);
    } else {
        unmanaged(&out[n++], "ComponentMonitoringReady", "Monitoring not managed by the operator");
    }
    /* What Quay depends on. */
    {
        struct cond *c;
        static const char *const clair_only[] = {"clair-app", NULL};
        static const char *const clair_both[] = {"clair-postgres", "clair-app", NULL};
        static const char *const clairpg[] = {"clair-postgres", NULL};
        const char *names[] = {"postgres",      "objectstorage", "clair",
                               "clairpostgres", "tls",           "redis"};
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
            c = &out[n++];
            memset(c, 0, sizeof(*c));
            switch (i) {
            case 0:
                if (!qop_managed(e->comps, "postgres"))
                    unmanaged(c, "ComponentPostgresReady", "Postgres not managed by the operator");
                else
                    check_postgres(e, c);
                break;
            case 1:
                check_objectstorage(e, c);
                break;
            case 2:
                if (!qop_managed(e->comps, "clair"))
                    unmanaged(c, "ComponentClairReady", "Clair not managed by the operator");
                else
                    check_deps(e, "ComponentClairReady",
                               qop_managed(e->comps, "clairpostgres") ? clair_both : clair_only,
                               "Clair component healthy", c);
                break;
            case 3:
                if (!qop_managed(e->comps, "clairpostgres"))
                    unmanaged(c, "ComponentClairPostgresReady",
                              "ClairPostgres not managed by the operator");
                else
                    check_deps(e, "ComponentClairPostgresReady", clairpg,
                               "ClairPostgres component healthy", c);
                break;
            case 4:
                check_tls(e, c);
                break;
            default:
                if (!qop_managed(e->comps, "redis")) {
                    unmanaged(c, "ComponentRedisReady", "Redis not managed by the operator");
                } else {
                    char name[320];
                    cJSON *dep = NULL;
                    int got = get_dep(e, "quay-redis", name, sizeof(name), &dep);
                    if (got <= 0)
                        not_ready(c, "ComponentRedisReady", "Redis deployment not found");
                    else if (!qop_owns(e->qr, dep))
                        not_ready(c, "ComponentRedisReady",
                                  "Redis deployment not owned by QuayRegistry");
                    else
                        deploy_check(dep, name, "ComponentRedisReady", c);
                    cJSON_Delete(dep);
                }
                break;
            }
            if (e->err)
                return -1;
            if (strcmp(c->status, "True") != 0) {
                if (failed[0])
                    strncat(failed, ",", sizeof(failed) - strlen(failed) - 1);
                strncat(failed, names[i], sizeof(failed) - strlen(failed) - 1);
            }
        }
    }
    if (failed[0]) {
        char msg[400];
        snprintf(msg, sizeof(msg), "Awaiting for component %s to become available", failed);
        not_ready(&out[n++], "ComponentQuayReady", msg);
        not_ready(&out[n++], "ComponentMirrorReady",
                  "Awaiting for component quay to become available");
        return (int)n;
    }
    check_quay(e, &out[n]);
    if (e->err)
        return -1;
    if (strcmp(out[n++].status, "True") != 0) {
        not_ready(&out[n++], "ComponentMirrorReady",
                  "Awaiting for component quay to become available");
        return (int)n;
    }
    check_mirror(e, &out[n++]);
    return e->err ? -1 : (int)n;
}

static int same_condition(const cJSON *old, const struct cond *c)
{
    const char *s = sim_jstr(old, "status", NULL), *r = sim_jstr(old, "reason", NULL);
    const char *m = sim_jstr(old, "message", NULL);
    return s && r && m && strcmp(s, c->status) == 0 && strcmp(r, c->reason) == 0 &&
           strcmp(m, c->message) == 0;
}

/* RemoveUnusedConditions. */
static void remove_unused(cJSON *qr)
{
    static const char *const valid[] = {"Available",
                                        "RolloutBlocked",
                                        "ComponentsCreated",
                                        "ComponentQuayReady",
                                        "ComponentPostgresReady",
                                        "ComponentClairReady",
                                        "ComponentClairPostgresReady",
                                        "ComponentRedisReady",
                                        "ComponentHPAReady",
                                        "ComponentObjectStorageReady",
                                        "ComponentRouteReady",
                                        "ComponentMirrorReady",
                                        "ComponentMonitoringReady",
                                        "ComponentTLSReady",
                                        NULL};
    cJSON *conds = sim_jget(qr, "status", "conditions", NULL), *c, *next;
    for (c = conds ? conds->child : NULL; c; c = next) {
        const char *t = sim_jstr(c, "type", NULL);
        int ok = 0;
        next = c->next;
        for (size_t i = 0; t && valid[i]; i++)
            if (strcmp(t, valid[i]) == 0)
                ok = 1;
        if (!ok)
            cJSON_Delete(cJSON_DetachItemViaPointer(conds, c));
    }
}

void qop_status_reconcile(struct sim_server *srv, const char *ns, const char *name)
{
    char path[1024], spath[1100];
    cJSON *qr = NULL, *out = NULL;
    struct cond conds[16];
    struct eval e;
    const cJSON *avail;
    int n, faulty = 0, changed = 0, code;
    memset(conds, 0, sizeof(conds));
    snprintf(path, sizeof(path), "/apis/%s/v1/namespaces/%s/quayregistries/%s", QOP_GROUP, ns,
             name);
    if (qop_call(srv, "GET", path, NULL, &qr) != 200)
        goto out;
    memset(&e, 0, sizeof(e));
    e.srv = srv;
    e.qr = qr;
    e.ns = ns;
    e.name = name;
    e.comps = sim_jget(qr, "spec", "components", NULL);
    e.version = sim_wl_str(srv, "3.13.3", "quayOperator", "currentVersion", NULL);
    n = evaluate(&e, conds, sizeof(conds) / sizeof(conds[0]));
    if (n < 0)
        goto out; /* "error retrieving QuayRegistry component conditions" */
    for (int i = 0; i < n; i++) {
        if (!same_condition(qop_get_condition(qr, conds[i].type), &conds[i]))
            changed = 1;
        if (strcmp(conds[i].reason, "ComponentNotReady") == 0)
            faulty = 1;
    }
    avail = qop_get_condition(qr, "Available");
    {
        struct cond a;
        if (faulty)
            set(&a, "Available", 0, "ComponentNotReady", "Some components are not ready");
        else
            set(&a, "Available", 1, "HealthChecksPassing", "All components reporting as healthy");
        if (!same_condition(avail, &a))
            changed = 1;
        /* staleAvailable: a status reconciler that has not run since the
         * change, so Available=True outlives the rollout it no longer
         * describes. */
        if (faulty && avail && sim_jstr(avail, "status", NULL) &&
            strcmp(sim_jstr(avail, "status", NULL), "True") == 0 &&
            sim_wl_bool(srv, 0, "quayOperator", "staleAvailable", NULL))
            goto out;
        if (!changed)
            goto out;
        for (int i = 0; i < n; i++)
            qop_set_condition(qr, conds[i].type, conds[i].status, conds[i].reason, conds[i].message,
                              1);
        qop_set_condition(qr, a.type, a.status, a.reason, a.message, 1);
    }
    remove_unused(qr);
    snprintf(spath, sizeof(spath), "%s/status", path);
    code = qop_call(srv, "PUT", spath, qr, &out);
    if (code != 200 && code != 409)
        qop_log(srv, ns, name, "unexpected error updating component conditions");
out:
    cJSON_Delete(qr);
    cJSON_Delete(out);
}
