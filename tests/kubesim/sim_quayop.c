/*
 * STAND-IN for the Quay Operator: reconciles quay.redhat.com/v1 QuayRegistry
 * objects the way quay/quay-operator does, in the ways our operator depends
 * on (and is surprised by). This file owns the scheduling; the reconcile is
 * sim_quayop_reconcile.c, the rendering sim_quayop_render.c, the status
 * reconciler sim_quayop_status.c.
 *
 * Facts reproduced, with where they were read (github.com/quay/quay-operator
 * unless said otherwise):
 * - When it reconciles (main.go, controllers/quay/quayregistry_controller.go
 *   SetupWithManager): For(QuayRegistry) and Owns(Deployment, Secret, ...)
 *   WithEventFilter(GenerationChangedPredicate): a create, a deletion or a
 *   change of metadata.generation reconciles at once; an edit of the bundle
 *   Secret's data changes no generation and is seen only at the periodic
 *   requeue: RequeueAfter one minute after a success ("requeueSeconds"),
 *   r.Requeue = 10 s after a blocked reconcile ("retrySeconds"). Owned
 *   Deployments deleted or whose spec someone else changed, and the rendered
 *   config Secret deleted, also reconcile at once.
 * - The reconcile (quayregistry_controller.go Reconcile, features.go):
 *   status.observedGeneration = metadata.generation is written with the first
 *   status update on the success path, i.e. once the objects are applied and
 *   before any rollout completes; the failure paths write the QuayRegistry as
 *   read, so observedGeneration stays behind. An empty
 *   spec.configBundleSecret gets a `<name>-config-bundle-<5>` Secret
 *   (generateName, BaseQuayConfig, owned) written into spec. The operator
 *   writes spec.components itself (EnsureDefaultComponents in
 *   apis/quay/v1/quayregistry_types.go: every missing kind appended, managed
 *   unless its API is missing; quay forced managed), and adds the finalizer
 *   quay-operator/finalizer after the first complete reconcile.
 * - RolloutBlocked reasons and messages: ConfigInvalid ("unable to get
 *   `configBundleSecret`: ...", hasNecessaryConfig's "<kind> component marked
 *   as managed, but `configBundleSecret` contains required fields" and
 *   "required component `<kind>` marked as unmanaged, but `configBundleSecret`
 *   is missing necessary fields" with the required kinds postgres,
 *   objectstorage, route, redis, tls; route and mirror may be managed with
 *   config); ComponentOverrideInvalid ("invalid overrides: cannot override
 *   replicas with managed HPA" for a non-zero replicas override,
 *   "cannot set overrides on unmanaged <kind>", "component <kind> does not
 *   support <x> overrides"; v1.ValidateOverrides); the CRD itself refuses
 *   overrides on an unmanaged component first (CEL "cannot set overrides on
 *   unmanaged component"); ObjectStorageComponentDependencyError when
 *   objectstorage is managed without the ObjectBucketClaim API;
 *   RouteComponentDependencyError for a config.yaml that does not parse (the
 *   route check parses it first); MonitoringComponentDependencyError;
 *   ComponentCreationFailed. Which config keys belong to a component is
 *   config-tool's Fields() (github.com/quay/config-tool pkg/lib/fieldgroups:
 *   DISTRIBUTED_STORAGE_CONFIG, DISTRIBUTED_STORAGE_PREFERENCE,
 *   DISTRIBUTED_STORAGE_DEFAULT_LOCATIONS, FEATURE_STORAGE_REPLICATION for
 *   objectstorage; BUILDLOGS_REDIS, USER_EVENTS_REDIS; DB_CONNECTION_ARGS,
 *   DB_URI; EXTERNAL_TLS_TERMINATION, PREFERRED_URL_SCHEME, SERVER_HOSTNAME;
 *   the RepoMirror and SecurityScanner fields).
 * - Rendering (pkg/kustomize/kustomize.go, secrets.go; pkg/middleware):
 *   see sim_quayop_render.c. Rendered config Secrets `<name>-quay-config-
 *   secret*` other than the bundle are deleted on every reconcile, before the
 *   new objects are applied (GetOldConfigBundleSecrets/cleanupPreviousSecrets),
 *   so pods of the old revision lose theirs while the rollout runs; extra-ca-
 *   certs and quay-config-tls Secrets are never cleaned (owner references only).
 * - Migrations: a new operator version (status.currentVersion differs) renders
 *   the upgrade overlay (quay-app scaled to 0), sets ComponentsCreated False
 *   MigrationsInProgress "running database migrations", and the next reconcile
 *   sets status.currentVersion and ComponentsCreated True
 *   ComponentsCreationSuccess "All registry components created".
 * - Status (quayregistry_status_controller.go, pkg/cmpstatus): see
 *   sim_quayop_status.c; Available is HealthChecksPassing / ComponentNotReady.
 *
 * Simplified, and why:
 * - No Route API, no monitoring API in the simulator: routes are unsupported
 *   unless "supportsRoutes" (then route/tls default managed, SERVER_HOSTNAME is
 *   `<name>-quay-<ns>.<clusterHostname>`, no Route object is made and it
 *   counts as admitted); a managed monitoring component is always blocked.
 *   The ObjectBucketClaim API is whatever the simulator serves (a test can
 *   install tests/fixtures/quayop's CRD); nobody binds the claim unless the
 *   test plays the bucket provisioner (Secret + ConfigMap `<name>-quay-
 *   datastore`).
 * - The upgrade Job is not run (the simulator runs no Quay image): migrations
 *   "succeed" by the next reconcile; the Postgres upgrade path is absent.
 * - The provided TLS pair is not validated against the hostname; no Events
 *   are recorded; the cluster CA ConfigMaps are not read (their hash
 *   annotations are empty).
 * - Server-side apply is create-or-PUT of the merged object (see
 *   sim_quayop_reconcile.c); the one deliberate deviation from the real
 *   cleanup is that the config Secret just rendered is not deleted and
 *   re-created on each pass (the real one does that, which re-triggers its
 *   own watch).
 * - Replicas: with the HPA component unmanaged, quay-app/quay-mirror/clair-app
 *   get the override or 2; with it managed the field is left to the HPA, which
 *   the simulator does not run, so its minReplicas (2) is applied directly.
 *   HorizontalPodAutoscalers are created only when the simulator serves
 *   autoscaling/v2 (it does not today).
 * - spec.readOnly (quay-operator PR #1325) is not in the CRD fixture and not
 *   implemented.
 * - Module state (last reconcile, seen generation, owned objects, the stall it
 *   set) is lost on a simulator restart, which then reconciles every
 *   QuayRegistry once, as an operator restart would. Changing "requeueSeconds"
 *   applies to the next due time at once (a test affordance).
 */
#include "sim_quayop.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_quayop_int.h"
#include "sim_server.h"
#include "sim_store.h"
#include "sim_util.h"
#include "sim_workloads.h"

/* At most this many reconciles and status evaluations per tick (100 ms). */
#define QOP_RECONCILES_PER_TICK 8
#define QOP_STATUS_PER_TICK     8
#define QOP_MAX_REGISTRIES      256

struct qop_reg {
    char ns[254];
    char name[254];
    char uid[64];
    int reconciled;       /* at least once since this module started */
    double seen_gen;      /* generation the last reconcile read */
    int64_t last_ms;      /* when it last reconciled (monotonic) */
    enum qop_result last; /* what it asked for */
    int64_t status_due_ms;
    struct qop_owned owned[QOP_MAX_OWNED];
    size_t nowned;
    int stall_set; /* we put its quay-app into "deployments.stall" */
    int present;
};

struct sim_quayop {
    struct qop_reg *v;
    size_t n, cap;
};

struct snap {
    char ns[254];
    char name[254];
    char uid[64];
    double gen;
    int deleting;
};

struct sim_quayop *sim_quayop_new(void)
{
    return calloc(1, sizeof(struct sim_quayop));
}

void sim_quayop_free(struct sim_quayop *m)
{
    if (!m)
        return;
    free(m->v);
    free(m);
}

static struct qop_reg *find_or_add(struct sim_quayop *m, const struct snap *s)
{
    struct qop_reg *r;
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->v[i].uid, s->uid) == 0)
            return &m->v[i];
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 8;
        struct qop_reg *v = realloc(m->v, cap * sizeof(*v));
        if (!v)
            return NULL;
        m->v = v;
        m->cap = cap;
    }
    r = &m->v[m->n++];
    memset(r, 0, sizeof(*r));
    sim_strlcpy(r->ns, s->ns, sizeof(r->ns));
    sim_strlcpy(r->name, s->name, sizeof(r->name));
    sim_strlcpy(r->uid, s->uid, sizeof(r->uid));
    return r;
}

/* "deployments": {"stall": {"<ns>/<name>-quay-app": true | null}}. */
static void set_stall(struct sim_server *srv, struct qop_reg *r, int on)
{
    cJSON *patch = cJSON_CreateObject(), *d, *st;
    char key[600], err[256];
    if (!patch)
        return;
    snprintf(key, sizeof(key), "%s/%s-quay-app", r->ns, r->name);
    d = cJSON_AddObjectToObject(patch, "deployments");
    st = cJSON_AddObjectToObject(d, "stall");
    if (on)
        cJSON_AddBoolToObject(st, key, 1);
    else
        cJSON_AddNullToObject(st, key);
    if (sim_workloads_configure(srv->workloads, patch, err, sizeof(err)) == 0)
        r->stall_set = on;
    cJSON_Delete(patch);
}

/* An owned object the real controller watches was deleted, or a Deployment's
 * spec was changed by someone else. */
static int owned_changed(struct sim_server *srv, const struct qop_reg *r)
{
    for (size_t i = 0; i < r->nowned; i++) {
        const struct qop_owned *o = &r->owned[i];
        int dep = strcmp(o->resource, "deployments") == 0;
        struct sim_coll *c = sim_store_coll(srv->store, dep ? "apps" : "", o->resource, 0);
        struct sim_obj *obj = c ? sim_coll_get(c, r->ns, o->name) : NULL;
        const cJSON *g;
        if (!obj)
            return 1;
        g = sim_jget(obj->json, "metadata", "generation", NULL);
        if (dep && cJSON_IsNumber(g) && g->valuedouble != o->generation)
            return 1;
    }
    return 0;
}

static int64_t next_due(struct sim_server *srv, const struct qop_reg *r)
{
    long s;
    switch (r->last) {
    case QOP_REQUEUE_LONG:
        s = sim_wl_int(srv, 60, "quayOperator", "requeueSeconds", NULL);
        break;
    case QOP_REQUEUE:
        s = sim_wl_int(srv, 10, "quayOperator", "retrySeconds", NULL);
        break;
    case QOP_AGAIN:
        s = 0;
        break;
    default:
        return INT64_MAX; /* nothing to do until an event */
    }
    return r->last_ms + (int64_t)s * 1000;
}

static size_t snapshot(struct sim_server *srv, struct snap *out, size_t cap)
{
    struct sim_coll *c = sim_store_coll(srv->store, QOP_GROUP, "quayregistries", 0);
    size_t n = 0;
    if (!c)
        return 0;
    for (size_t i = 0; i < c->n && n < cap; i++) {
        const cJSON *o = c->v[i]->json;
        const char *uid = sim_jstr(o, "metadata", "uid", NULL);
        const cJSON *g = sim_jget(o, "metadata", "generation", NULL);
        if (!uid)
            continue;
        sim_strlcpy(out[n].ns, c->v[i]->ns, sizeof(out[n].ns));
        sim_strlcpy(out[n].name, c->v[i]->name, sizeof(out[n].name));
        sim_strlcpy(out[n].uid, uid, sizeof(out[n].uid));
        out[n].gen = cJSON_IsNumber(g) ? g->valuedouble : 0;
        out[n].deleting = sim_jget(o, "metadata", "deletionTimestamp", NULL) != NULL;
        n++;
    }
    return n;
}

void sim_quayop_tick(struct sim_server *srv, struct sim_quayop *m)
{
    struct snap *snaps;
    size_t ns, budget = QOP_RECONCILES_PER_TICK, sbudget = QOP_STATUS_PER_TICK;
    int64_t now = sim_mono_ms();
    int fail = sim_wl_bool(srv, 0, "quayOperator", "failRollout", NULL);
    long status_ms = sim_wl_int(srv, 1000, "quayOperator", "statusIntervalMs", NULL);

    /* The collection changes under our own writes: work from a copy. */
    {
        struct sim_coll *c = sim_store_coll(srv->store, QOP_GROUP, "quayregistries", 0);
        size_t want = c ? c->n : 0;
        if (want > QOP_MAX_REGISTRIES)
            want = QOP_MAX_REGISTRIES;
        snaps = calloc(want ? want : 1, sizeof(*snaps));
        if (!snaps)
            return;
        ns = snapshot(srv, snaps, want);
    }
    for (size_t i = 0; i < m->n; i++)
        m->v[i].present = 0;
    for (size_t i = 0; i < ns; i++) {
        struct qop_reg *r = find_or_add(m, &snaps[i]);
        int due;
        if (!r)
            break;
        r->present = 1;
        due = !r->reconciled || snaps[i].gen != r->seen_gen || snaps[i].deleting ||
              owned_changed(srv, r) || now >= next_due(srv, r);
        if (due && budget > 0 && !(snaps[i].deleting && r->last == QOP_FORGET)) {
            double gen = snaps[i].gen;
            budget--;
            r->last = qop_reconcile(srv, r->ns, r->name, r->owned, &r->nowned, &gen);
            r->seen_gen = gen;
            r->last_ms = now;
            r->reconciled = 1;
        }
        if (fail != r->stall_set && !snaps[i].deleting)
            set_stall(srv, r, fail);
    }
    /* Gone from the API: forget, and take back our stall. */
    for (size_t i = 0; i < m->n;) {
        if (m->v[i].present) {
            i++;
            continue;
        }
        if (m->v[i].stall_set)
            set_stall(srv, &m->v[i], 0);
        m->v[i] = m->v[--m->n];
    }
    for (size_t i = 0; i < m->n && sbudget > 0; i++) {
        struct qop_reg *r = &m->v[i];
        if (now < r->status_due_ms)
            continue;
        sbudget--;
        r->status_due_ms = now + status_ms;
        qop_status_reconcile(srv, r->ns, r->name);
    }
    free(snaps);
}
