/*
 * Built-in kinds (see sim_builtin.h). The rules and their wording follow
 * k8s.io/kubernetes/pkg/apis/<group>/validation and the registry strategies:
 * ConfigMap/Secret `immutable`, Secret `type`, Job selector/template,
 * Deployment selector, PVC spec, Pod spec and RoleBinding roleRef are
 * immutable; Namespaces get the "kubernetes" finalizer and Active phase; Jobs
 * get a generated selector; Secrets fold stringData into data.
 */
#include "sim_builtin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8s_patch.h"
#include "sim_crd.h"
#include "sim_kind.h"
#include "sim_select.h"
#include "sim_server.h"
#include "sim_status.h"
#include "sim_store.h"
#include "sim_util.h"

/* ---- shared helpers ---- */

static char *json_text(const cJSON *v)
{
    char *s = v ? cJSON_PrintUnformatted(v) : NULL;
    return s ? s : strdup("null");
}

/* `<field>: Invalid value: <v>: field is immutable` when old and new differ. */
static void immutable(struct sim_err *e, const cJSON *oldv, const cJSON *newv, const char *field)
{
    char *t;
    if ((!oldv && !newv) || (oldv && newv && k8s_json_equal(oldv, newv)))
        return;
    t = json_text(newv);
    if (cJSON_IsString(newv))
        sim_err_add_cause(e, "FieldValueInvalid", field,
                          "Invalid value: \"%s\": field is immutable", newv->valuestring);
    else
        sim_err_add_cause(e, "FieldValueInvalid", field, "Invalid value: %s: field is immutable",
                          t ? t : "");
    free(t);
}

static int finish(struct sim_err *e, const struct sim_kind *k, const cJSON *obj)
{
    const char *name = sim_jstr(obj, "metadata", "name", NULL);
    if (e->ncauses == 0)
        return 0;
    return sim_err_invalid_finish(e, k->group, k->kind, name ? name : "");
}

static void set_default(cJSON *obj, const char *key, cJSON *val)
{
    if (!cJSON_GetObjectItemCaseSensitive(obj, key))
        sim_jset(obj, key, val);
    else
        cJSON_Delete(val);
}

static int is_true(const cJSON *o, const char *key)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, key));
}

static void count_cell(const cJSON *obj, const char *field, cJSON *cells)
{
    cJSON_AddItemToArray(cells, cJSON_CreateNumber(cJSON_GetArraySize(sim_jget(obj, field, NULL))));
}

/* ---- Namespace ---- */

static void namespace_defaults(cJSON *obj)
{
    cJSON *meta = sim_jobj(obj, "metadata");
    cJSON *labels = meta ? sim_jobj(meta, "labels") : NULL;
    const char *name = sim_jstr(meta, "name", NULL);
    if (labels && name)
        sim_jset_str(labels, "kubernetes.io/metadata.name", name);
}

static int namespace_create(struct sim_server *srv, const struct sim_kind *k, cJSON *obj,
                            struct sim_err *e)
{
    cJSON *spec = sim_jobj(obj, "spec");
    cJSON *status = sim_jobj(obj, "status");
    cJSON *fins;
    (void)srv;
    (void)k;
    (void)e;
    if (!spec || !status)
        return sim_err_internal(e, "out of memory");
    fins = cJSON_CreateArray();
    cJSON_AddItemToArray(fins, cJSON_CreateString("kubernetes"));
    sim_jset(spec, "finalizers", fins);
    sim_jset_str(status, "phase", "Active");
    namespace_defaults(obj);
    return 0;
}

static int namespace_update(struct sim_server *srv, const struct sim_kind *k, const cJSON *old,
                            cJSON *obj, struct sim_err *e)
{
    (void)srv;
    (void)k;
    (void)e;
    /* spec.finalizers change only through /finalize. */
    if (sim_jget(old, "spec", NULL))
        sim_jset(obj, "spec", cJSON_Duplicate(sim_jget(old, "spec", NULL), 1));
    namespace_defaults(obj);
    return 0;
}

static void namespace_after(struct sim_server *srv, const struct sim_kind *k, const cJSON *obj,
                            int deleted)
{
    /* The ServiceAccount controller gives every namespace a "default" account. */
    const char *ns = sim_jstr(obj, "metadata", "name", NULL);
    struct sim_coll *c;
    cJSON *sa;
    char uid[37], ts[32];
    (void)k;
    if (deleted || !ns || sim_jget(obj, "metadata", "deletionTimestamp", NULL))
        return;
    c = sim_store_coll(srv->store, "", "serviceaccounts", 1);
    if (!c || sim_coll_get(c, ns, "default"))
        return;
    sa = cJSON_CreateObject();
    if (!sa)
        return;
    cJSON_AddStringToObject(sa, "apiVersion", "v1");
    cJSON_AddStringToObject(sa, "kind", "ServiceAccount");
    {
        cJSON *m = cJSON_AddObjectToObject(sa, "metadata");
        sim_uuid(&srv->rng, uid);
        sim_rfc3339(sim_now_unix(), ts);
        cJSON_AddStringToObject(m, "name", "default");
        cJSON_AddStringToObject(m, "namespace", ns);
        cJSON_AddStringToObject(m, "uid", uid);
        cJSON_AddStringToObject(m, "creationTimestamp", ts);
    }
    sim_store_put(srv->store, c, sa);
}

static const char *const namespace_fields[] = {"spec", "status", NULL};
static const struct sim_kind_ops namespace_ops = {
    .on_create = namespace_create,
    .on_update = namespace_update,
    .top_fields = namespace_fields,
    .after_write = namespace_after,
};

/* ---- Secret / ConfigMap ---- */

static int secret_fold_string_data(cJSON *obj, struct sim_err *e)
{
    cJSON *sd = sim_jget(obj, "stringData", NULL), *it;
    cJSON *data;
    if (!sd)
        return 0;
    data = sim_jobj(obj, "data");
    if (!data)
        return sim_err_internal(e, "out of memory");
    cJSON_ArrayForEach(it, sd)
    {
        char *b64;
        if (!cJSON_IsString(it))
            continue;
        b64 = sim_b64_encode(it->valuestring, strlen(it->valuestring));
        if (!b64)
            return sim_err_internal(e, "out of memory");
        sim_jset_str(data, it->string, b64);
        free(b64);
    }
    cJSON_DeleteItemFromObjectCaseSensitive(obj, "stringData");
    return 0;
}

static int secret_check_data(const struct sim_kind *k, const cJSON *obj, struct sim_err *e)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, sim_jget(obj, "data", NULL))
    {
        size_t n;
        unsigned char *raw;
        if (!cJSON_IsString(it)) {
            return sim_err_bad_request(e,
                                       "Secret in version \"v1\" cannot be handled as a "
                                       "Secret: json: cannot unmarshal %s into Go struct "
                                       "field Secret.data of type []uint8",
                                       cJSON_IsNumber(it) ? "number" : "object");
        }
        raw = sim_b64_decode(it->valuestring, &n);
        if (!raw)
            return sim_err_bad_request(e, "Secret in version \"v1\" cannot be handled as a "
                                          "Secret: illegal base64 data at input byte 0");
        free(raw);
    }
    (void)k;
    return 0;
}

static int secret_create(struct sim_server *srv, const struct sim_kind *k, cJSON *obj,
                         struct sim_err *e)
{
    (void)srv;
    if (secret_fold_string_data(obj, e) != 0 || secret_check_data(k, obj, e) != 0)
        return -e->code;
    if (!sim_jstr(obj, "type", NULL))
        sim_jset_str(obj, "type", "Opaque");
    return 0;
}

static void immutable_data_rules(struct sim_err *e, const cJSON *old, const cJSON *obj,
                                 const char *const *fields)
{
    if (!is_true(old, "immutable"))
        return;
    if (!is_true(obj, "immutable"))
        sim_err_add_cause(e, "FieldValueForbidden", "immutable",
                          "Forbidden: field is immutable when `immutable` is set");
    for (size_t i = 0; fields[i]; i++) {
        const cJSON *a = sim_jget(old, fields[i], NULL), *b = sim_jget(obj, fields[i], NULL);
        int empty_a = !a || cJSON_GetArraySize(a) == 0, empty_b = !b || cJSON_GetArraySize(b) == 0;
        if ((empty_a && empty_b) || (a && b && k8s_json_equal(a, b)))
            continue;
        sim_err_add_cause(e, "FieldValueForbidden", fields[i],
                          "Forbidden: field is immutable when `immutable` is set");
    }
}

static int secret_update(struct sim_server *srv, const struct sim_kind *k, const cJSON *old,
                         cJSON *obj, struct sim_err *e)
{
    static const char *const fields[] = {"data", NULL};
    (void)srv;
    if (secret_fold_string_data(obj, e) != 0 || secret_check_data(k, obj, e) != 0)
        return -e->code;
    if (!sim_jstr(obj, "type", NULL))
        sim_jset_str(obj, "type", "Opaque");
    immutable_data_rules(e, old, obj, fields);
    immutable(e, sim_jget(old, "type", NULL), sim_jget(obj, "type", NULL), "type");
    return finish(e, k, obj);
}

static void secret_cells(const struct sim_kind *k, const cJSON *obj, cJSON *cells)
{
    (void)k;
    count_cell(obj, "data", cells);
}

static const char *const secret_fields[] = {"data", "stringData", "type", "immutable", NULL};
static const struct sim_kind_ops secret_ops = {
    .on_create = secret_create,
    .on_update = secret_update,
    .cells = secret_cells,
    .top_fields = secret_fields,
};

static int configmap_update(struct sim_server *srv, const struct sim_kind *k, const cJSON *old,
                            cJSON *obj, struct sim_err *e)
{
    static const char *const fields[] = {"data", "binaryData", NULL};
    (void)srv;
    immutable_data_rules(e, old, obj, fields);
    return finish(e, k, obj);
}

static void configmap_cells(const struct sim_kind *k, const cJSON *obj, cJSON *cells)
{
    (void)k;
    cJSON_AddItemToArray(cells,
                         cJSON_CreateNumber(cJSON_GetArraySize(sim_jget(obj, "data", NULL)) +
                                            cJSON_GetArraySize(sim_jget(obj, "binaryData", NULL))));
}

static const char *const configmap_fields[] = {"data", "binaryData", "immutable", NULL};
static const struct sim_kind_ops configmap_ops = {
    .on_update = configmap_update,
    .cells = configmap_cells,
    .top_fields = configmap_fields,
};

/* ---- Events (core/v1 storage, events.k8s.io/v1 view) ---- */

static void move_field(cJSON *dst, const char *dkey, const cJSON *src, const char *skey)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(src, skey);
    if (v && !cJSON_IsNull(v))
        sim_jset(dst, dkey, cJSON_Duplicate(v, 1));
}

static const char *const event_pairs[][2] = {
    /* events.k8s.io/v1, core/v1 */
    {"regarding", "involvedObject"},
    {"note", "message"},
    {"reason", "reason"},
    {"type", "type"},
    {"eventTime", "eventTime"},
    {"series", "series"},
    {"reportingController", "reportingComponent"},
    {"reportingInstance", "reportingInstance"},
    {"action", "action"},
    {"related", "related"},
    {"deprecatedSource", "source"},
    {"deprecatedFirstTimestamp", "firstTimestamp"},
    {"deprecatedLastTimestamp", "lastTimestamp"},
    {"deprecatedCount", "count"},
};

static cJSON *event_to_v1(const cJSON *stored)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    move_field(o, "metadata", stored, "metadata");
    for (size_t i = 0; i < sizeof(event_pairs) / sizeof(event_pairs[0]); i++)
        move_field(o, event_pairs[i][0], stored, event_pairs[i][1]);
    return o;
}

static cJSON *event_from_v1(const cJSON *served)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    move_field(o, "metadata", served, "metadata");
    for (size_t i = 0; i < sizeof(event_pairs) / sizeof(event_pairs[0]); i++)
        move_field(o, event_pairs[i][1], served, event_pairs[i][0]);
    return o;
}

static void event_cells(const struct sim_kind *k, const cJSON *obj, cJSON *cells)
{
    char buf[600];
    const char *kind =
        sim_jstr(obj, k->ops->to_version ? "regarding" : "involvedObject", "kind", NULL);
    const char *name =
        sim_jstr(obj, k->ops->to_version ? "regarding" : "involvedObject", "name", NULL);
    snprintf(buf, sizeof(buf), "%s/%s", kind ? kind : "", name ? name : "");
    for (char *p = buf; *p && *p != '/'; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p + 32);
    cJSON_AddItemToArray(cells, cJSON_CreateString(buf));
}

static const char *const event_fields[] = {"involvedObject",
                                           "reason",
                                           "message",
                                           "source",
                                           "firstTimestamp",
                                           "lastTimestamp",
                                           "count",
                                           "type",
                                           "eventTime",
                                           "series",
                                           "action",
                                           "related",
                                           "reportingComponent",
                                           "reportingInstance",
                                           NULL};
static const char *const event_v1_fields[] = {"regarding",
                                              "note",
                                              "reason",
                                              "type",
                                              "eventTime",
                                              "series",
                                              "reportingController",
                                              "reportingInstance",
                                              "action",
                                              "related",
                                              "deprecatedSource",
                                              "deprecatedFirstTimestamp",
                                              "deprecatedLastTimestamp",
                                              "deprecatedCount",
                                              NULL};
static const struct sim_kind_ops event_ops = {
    .cells = event_cells,
    .top_fields = event_fields,
};
static const struct sim_kind_ops event_v1_ops = {
    .to_version = event_to_v1,
    .from_version = event_from_v1,
    .cells = event_cells,
    .top_fields = event_v1_fields,
};
static const char *const event_labels[] = {"involvedObject.kind",
                                           "involvedObject.namespace",
                                           "involvedObject.name",
                                           "involvedObject.uid",
                                           "involvedObject.apiVersion",
                                           "involvedObject.resourceVersion",
                                           "involvedObject.fieldPath",
                                           "reason",
                                           "reportingComponent",
                                           "source",
                                           "type",
                                           NULL};

/* ---- ServiceAccount, Lease, RBAC ---- */

static const char *const sa_fields[] = {"secrets", "imagePullSecrets",
                                        "automountServiceAccountToken", NULL};
static const struct sim_kind_ops sa_ops = {.top_fields = sa_fields};

static const char *const lease_fields[] = {"spec", NULL};
static void lease_cells(const struct sim_kind *k, const cJSON *obj, cJSON *cells)
{
    const char *h = sim_jstr(obj, "spec", "holderIdentity", NULL);
    (void)k;
    cJSON_AddItemToArray(cells, h ? cJSON_CreateString(h) : cJSON_CreateNull());
}
static const struct sim_kind_ops lease_ops = {.cells = lease_cells, .top_fields = lease_fields};

static const char *const role_fields[] = {"rules", NULL};
static const char *const clusterrole_fields[] = {"rules", "aggregationRule", NULL};
/* The ClusterRole aggregation controller (pkg/controller/clusterroleaggregation):
 * a ClusterRole with aggregationRule.clusterRoleSelectors has its `rules`
 * set to the rules of every other ClusterRole whose labels match one of the
 * selectors, in name order, duplicates dropped; it runs after every
 * ClusterRole write, so additions, edits and deletions propagate. Chains
 * (view aggregates to edit, edit to admin) settle in a few passes. */
static int role_selected(const cJSON *selectors, const cJSON *role)
{
    const cJSON *sel;
    cJSON_ArrayForEach(sel, selectors)
    {
        struct sim_labelsel *ls = NULL;
        char err[256];
        int hit;
        if (sim_labelsel_from_object(sel, &ls, err, sizeof(err)) != 0)
            continue;
        hit = sim_labelsel_match(ls, sim_jget(role, "metadata", "labels", NULL));
        sim_labelsel_free(ls);
        /* An empty selector would select every role: the real controller
         * treats it as selecting nothing. */
        if (hit && (sim_jget(sel, "matchLabels", NULL) || sim_jget(sel, "matchExpressions", NULL)))
            return 1;
    }
    return 0;
}

static int aggregate_pass(struct sim_server *srv, struct sim_coll *c)
{
    size_t b, e;
    int changed = 0;
    sim_coll_range(c, NULL, &b, &e);
    for (size_t i = b; i < e; i++) {
        const cJSON *sels =
            sim_jget(c->v[i]->json, "aggregationRule", "clusterRoleSelectors", NULL);
        cJSON *rules, *obj;
        if (!cJSON_IsArray(sels))
            continue;
        rules = cJSON_CreateArray();
        if (!rules)
            return changed;
        for (size_t j = b; j < e; j++) {
            const cJSON *rule;
            if (j == i || !role_selected(sels, c->v[j]->json))
                continue;
            cJSON_ArrayForEach(rule, sim_jget(c->v[j]->json, "rules", NULL))
            {
                const cJSON *have;
                int dup = 0;
                cJSON_ArrayForEach(have, rules) dup |= k8s_json_equal(have, rule);
                if (!dup)
                    cJSON_AddItemToArray(rules, cJSON_Duplicate(rule, 1));
            }
        }
        if (k8s_json_equal(rules, sim_jget(c->v[i]->json, "rules", NULL)) ||
            (cJSON_GetArraySize(rules) == 0 && !sim_jget(c->v[i]->json, "rules", NULL))) {
            cJSON_Delete(rules);
            continue;
        }
        obj = cJSON_Duplicate(c->v[i]->json, 1);
        if (!obj) {
            cJSON_Delete(rules);
            return changed;
        }
        sim_jset(obj, "rules", rules);
        /* Same key: the object is replaced in place, indexes stay valid. */
        if (sim_store_put(srv->store, c, obj))
            changed = 1;
    }
    return changed;
}

static void clusterrole_aggregate(struct sim_server *srv)
{
    struct sim_coll *c = sim_store_coll(srv->store, "rbac.authorization.k8s.io", "clusterroles", 0);
    for (int pass = 0; c && pass < 8 && aggregate_pass(srv, c); pass++)
        ;
}

static void clusterrole_after(struct sim_server *srv, const struct sim_kind *k, const cJSON *obj,
                              int deleted)
{
    (void)k;
    (void)obj;
    (void)deleted;
    clusterrole_aggregate(srv);
}

static const struct sim_kind_ops role_ops = {.top_fields = role_fields};
static const struct sim_kind_ops clusterrole_ops = {.top_fields = clusterrole_fields,
                                                    .after_write = clusterrole_after};

static int binding_create(struct sim_server *srv, const struct sim_kind *k, cJSON *obj,
                          struct sim_err *e)
{
    (void)srv;
    if (!sim_jstr(obj, "roleRef", "kind", NULL) || !sim_jstr(obj, "roleRef", "name", NULL))
        sim_err_add_cause(e, "FieldValueRequired", "roleRef.name", "Required value");
    return finish(e, k, obj);
}

static int binding_update(struct sim_server *srv, const struct sim_kind *k, const cJSON *old,
                          cJSON *obj, struct sim_err *e)
{
    const cJSON *a = sim_jget(old, "roleRef", NULL), *b = sim_jget(obj, "roleRef", NULL);
    (void)srv;
    if (!(a && b && k8s_json_equal(a, b))) {
        char *t = json_text(b);
        sim_err_add_cause(e, "FieldValueInvalid", "roleRef",
                          "Invalid value: %s: cannot change roleRef", t ? t : "");
        free(t);
    }
    return finish(e, k, obj);
}

static void binding_cells(const struct sim_kind *k, const cJSON *obj, cJSON *cells)
{
    char buf[400];
    const char *kind = sim_jstr(obj, "roleRef", "kind", NULL);
    const char *name = sim_jstr(obj, "roleRef", "name", NULL);
    (void)k;
    snprintf(buf, sizeof(buf), "%s/%s", kind ? kind : "", name ? name : "");
    cJSON_AddItemToArray(cells, cJSON_CreateString(buf));
}

static const char *const binding_fields[] = {"subjects", "roleRef", NULL};
static const struct sim_kind_ops binding_ops = {
    .on_create = binding_create,
    .on_update = binding_update,
    .cells = binding_cells,
    .top_fields = binding_fields,
};

/* ---- PersistentVolumeClaim ---- */

static int pvc_create(struct sim_server *srv, const struct sim_kind *k, cJSON *obj,
                      struct sim_err *e)
{
    cJSON *spec = sim_jobj(obj, "spec");
    (void)srv;
    if (!spec)
        return sim_err_internal(e, "out of memory");
    if (cJSON_GetArraySize(sim_jget(spec, "accessModes", NULL)) == 0)
        sim_err_add_cause(e, "FieldValueRequired", "spec.accessModes",
                          "Required value: at least 1 access mode is required");
    if (!sim_jget(spec, "resources", "requests", "storage", NULL))
        sim_err_add_cause(e, "FieldValueRequired", "spec.resources[storage]", "Required value");
    if (finish(e, k, obj) != 0)
        return -422;
    set_default(spec, "volumeMode", cJSON_CreateString("Filesystem"));
    sim_jset_str(sim_jobj(obj, "status"), "phase", "Pending");
    return 0;
}

static int pvc_update(struct sim_server *srv, const struct sim_kind *k, const cJSON *old,
                      cJSON *obj, struct sim_err *e)
{
    cJSON *a = cJSON_Duplicate(sim_jget(old, "spec", NULL), 1);
    cJSON *b = cJSON_Duplicate(sim_jget(obj, "spec", NULL), 1);
    (void)srv;
    if (a && b) {
        cJSON_DeleteItemFromObjectCaseSensitive(sim_jget(a, "resources", NULL), "requests");
        cJSON_DeleteItemFromObjectCaseSensitive(sim_jget(b, "resources", NULL), "requests");
        cJSON_DeleteItemFromObjectCaseSensitive(a, "volumeAttributesClassName");
        cJSON_DeleteItemFromObjectCaseSensitive(b, "volumeAttributesClassName");
        if (!k8s_json_equal(a, b))
            sim_err_add_cause(e, "FieldValueForbidden", "spec",
                              "Forbidden: spec is immutable after creation except "
                              "resources.requests and volumeAttributesClassName for bound "
                              "claims");
    }
    cJSON_Delete(a);
    cJSON_Delete(b);
    return finish(e, k, obj);
}

static const char *const spec_status_fields[] = {"spec", "status", NULL};
static const struct sim_kind_ops pvc_ops = {
    .on_create = pvc_create,
    .on_update = pvc_update,
    .top_fields = spec_status_fields,
};

/* ---- Pod ---- */

static int pod_create(struct sim_server *srv, const struct sim_kind *k, cJSON *obj,
                      struct sim_err *e)
{
    cJSON *spec = sim_jobj(obj, "spec");
    (void)srv;
    if (!spec)
        return sim_err_internal(e, "out of memory");
    if (cJSON_GetArraySize(sim_jget(spec, "containers", NULL)) == 0)
        sim_err_add_cause(e, "FieldValueRequired", "spec.containers", "Required value");
    if (finish(e, k, obj) != 0)
        return -422;
    set_default(spec, "restartPolicy", cJSON_CreateString("Always"));
    set_default(spec, "dnsPolicy", cJSON_CreateString("ClusterFirst"));
    set_default(spec, "schedulerName", cJSON_CreateString("default-scheduler"));
    set_default(spec, "serviceAccountName", cJSON_CreateString("default"));
    set_default(spec, "terminationGracePeriodSeconds", cJSON_CreateNumber(30));
    sim_jset_str(sim_jobj(obj, "status"), "phase", "Pending");
    return 0;
}

/* Clears the fields a pod update may change, so the rest can be compared. */
static void pod_mutable_strip(cJSON *spec)
{
    static const char *const lists[] = {"containers", "initContainers", NULL};
    cJSON *c;
    for (size_t i = 0; lists[i]; i++)
        cJSON_ArrayForEach(c, sim_jget(spec, lists[i], NULL))
        {
            cJSON_DeleteItemFromObjectCaseSensitive(c, "image");
        }
    cJSON_DeleteItemFromObjectCaseSensitive(spec, "activeDeadlineSeconds");
    cJSON_DeleteItemFromObjectCaseSensitive(spec, "tolerations");
    cJSON_DeleteItemFromObjectCaseSensitive(spec, "terminationGracePeriodSeconds");
}

static int pod_update(struct sim_server *srv, const struct sim_kind *k, const cJSON *old,
                      cJSON *obj, struct sim_err *e)
{
    cJSON *a = cJSON_Duplicate(sim_jget(old, "spec", NULL), 1);
    cJSON *b = cJSON_Duplicate(sim_jget(obj, "spec", NULL), 1);
    (void)srv;
    if (a && b) {
        pod_mutable_strip(a);
        pod_mutable_strip(b);
        if (!k8s_json_equal(a, b))
            sim_err_add_cause(e, "FieldValueForbidden", "spec",
                              "Forbidden: pod updates may not change fields other than "
                              "`spec.containers[*].image`,`spec.initContainers[*].image`,"
                              "`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions "
                              "to existing tolerations),`spec.terminationGracePeriodSeconds` "
                              "(allow it to be set to 1 if it was previously negative)");
    }
    cJSON_Delete(a);
    cJSON_Delete(b);
    return finish(e, k, obj);
}

static const struct sim_kind_ops pod_ops = {
    .on_create = pod_create,
    .on_update = pod_update,
    .top_fields = spec_status_fields,
};
static const char *const pod_labels[] = {"spec.nodeName",
                                         "spec.restartPolicy",
                                         "spec.schedulerName",
                                         "spec.serviceAccountName",
                                         "spec.hostNetwork",
                                         "status.phase",
                                         "status.podIP",
                                         "status.podIPs",
                                         "status.nominatedNodeName",
                                         NULL};

/* ---- Deployment ---- */

static int selector_matches_template(const cJSON *obj)
{
    const cJSON *ml = sim_jget(obj, "spec", "selector", "matchLabels", NULL), *it;
    const cJSON *tl = sim_jget(obj, "spec", "template", "metadata", "labels", NULL);
    cJSON_ArrayForEach(it, ml)
    {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(tl, it->string);
        if (!cJSON_IsString(v) || !cJSON_IsString(it) ||
            strcmp(v->valuestring, it->valuestring) != 0)
            return 0;
    }
    return 1;
}

static int deployment_check(const struct sim_kind *k, cJSON *obj, struct sim_err *e)
{
    if (!sim_jget(obj, "spec", "selector", NULL)) {
        sim_err_add_cause(e, "FieldValueRequired", "spec.selector", "Required value");
    } else if (!selector_matches_template(obj)) {
        char *t = json_text(sim_jget(obj, "spec", "template", "metadata", "labels", NULL));
        sim_err_add_cause(e, "FieldValueInvalid", "spec.template.metadata.labels",
                          "Invalid value: %s: `selector` does not match template `labels`",
                          t ? t : "");
        free(t);
    }
    if (cJSON_GetArraySize(sim_jget(obj, "spec", "template", "spec", "containers", NULL)) == 0)
        sim_err_add_cause(e, "FieldValueRequired", "spec.template.spec.containers",
                          "Required value");
    return finish(e, k, obj);
}

static int deployment_create(struct sim_server *srv, const struct sim_kind *k, cJSON *obj,
                             struct sim_err *e)
{
    cJSON *spec = sim_jobj(obj, "spec");
    (void)srv;
    if (!spec)
        return sim_err_internal(e, "out of memory");
    if (deployment_check(k, obj, e) != 0)
        return -422;
    set_default(spec, "replicas", cJSON_CreateNumber(1));
    set_default(spec, "revisionHistoryLimit", cJSON_CreateNumber(10));
    set_default(spec, "progressDeadlineSeconds", cJSON_CreateNumber(600));
    if (!sim_jget(spec, "strategy", NULL)) {
        cJSON *s = cJSON_CreateObject(), *ru;
        cJSON_AddStringToObject(s, "type", "RollingUpdate");
        ru = cJSON_AddObjectToObject(s, "rollingUpdate");
        cJSON_AddStringToObject(ru, "maxUnavailable", "25%");
        cJSON_AddStringToObject(ru, "maxSurge", "25%");
        sim_jset(spec, "strategy", s);
    }
    return 0;
}

static int deployment_update(struct sim_server *srv, const struct sim_kind *k, const cJSON *old,
                             cJSON *obj, struct sim_err *e)
{
    (void)srv;
    immutable(e, sim_jget(old, "spec", "selector", NULL), sim_jget(obj, "spec", "selector", NULL),
              "spec.selector");
    if (e->ncauses)
        return finish(e, k, obj);
    return deployment_check(k, obj, e);
}

static const struct sim_kind_ops deployment_ops = {
    .on_create = deployment_create,
    .on_update = deployment_update,
    .top_fields = spec_status_fields,
};

/* ---- Service ---- */

/* The service CIDR of a default cluster (kube-apiserver's
 * --service-cluster-ip-range default): 10.96.0.0/12. 10.96.0.1 belongs to the
 * "kubernetes" Service and the network/broadcast addresses are never given. */
#define SVC_NET   0x0A600000u /* 10.96.0.0 */
#define SVC_MASK  0xFFF00000u
#define SVC_FIRST (SVC_NET + 2)
#define SVC_LAST  (SVC_NET + ~SVC_MASK - 1)

static int parse_ipv4(const char *s, uint32_t *out)
{
    uint32_t ip = 0;
    for (int i = 0; i < 4; i++) {
        char *end;
        long v;
        if (*s < '0' || *s > '9')
            return -1;
        v = strtol(s, &end, 10);
        if (v < 0 || v > 255 || end - s > 3 || (i < 3 && *end != '.') || (i == 3 && *end))
            return -1;
        ip = ip << 8 | (uint32_t)v;
        s = end + (i < 3);
    }
    *out = ip;
    return 0;
}

static int service_ip_used(struct sim_server *srv, uint32_t ip)
{
    struct sim_coll *c = sim_store_coll(srv->store, "", "services", 0);
    size_t b, e;
    if (!c)
        return 0;
    sim_coll_range(c, NULL, &b, &e);
    for (size_t i = b; i < e; i++) {
        uint32_t other;
        const char *s = sim_jstr(c->v[i]->json, "spec", "clusterIP", NULL);
        if (s && parse_ipv4(s, &other) == 0 && other == ip)
            return 1;
    }
    return 0;
}

static int service_create(struct sim_server *srv, const struct sim_kind *k, cJSON *obj,
                          struct sim_err *e)
{
    cJSON *spec = sim_jobj(obj, "spec"), *ips, *port;
    const char *ip = sim_jstr(obj, "spec", "clusterIP", NULL);
    char buf[16];
    uint32_t v;
    if (!spec)
        return sim_err_internal(e, "out of memory");
    set_default(spec, "type", cJSON_CreateString("ClusterIP"));
    set_default(spec, "sessionAffinity", cJSON_CreateString("None"));
    set_default(spec, "internalTrafficPolicy", cJSON_CreateString("Cluster"));
    cJSON_ArrayForEach(port, sim_jget(spec, "ports", NULL))
    {
        set_default(port, "protocol", cJSON_CreateString("TCP"));
        if (cJSON_IsNumber(sim_jget(port, "port", NULL)))
            set_default(port, "targetPort",
                        cJSON_CreateNumber(sim_jget(port, "port", NULL)->valuedouble));
    }
    if (ip && *ip && strcmp(ip, "None") != 0) {
        /* A requested address must be free and inside the service range. */
        if (parse_ipv4(ip, &v) != 0)
            sim_err_add_cause(e, "FieldValueInvalid", "spec.clusterIPs[0]",
                              "Invalid value: \"%s\": must be a valid IP address, (e.g. "
                              "10.9.8.7 or 2001:db8::ffff)",
                              ip);
        else if ((v & SVC_MASK) != SVC_NET || v < SVC_FIRST - 1 || v > SVC_LAST)
            sim_err_add_cause(e, "FieldValueInvalid", "spec.clusterIPs",
                              "Invalid value: []string{\"%s\"}: failed to allocate IP %s: the "
                              "provided IP (%s) is not in the valid range. The range of valid "
                              "IPs is 10.96.0.0/12",
                              ip, ip, ip);
        else if (service_ip_used(srv, v))
            sim_err_add_cause(e, "FieldValueInvalid", "spec.clusterIPs",
                              "Invalid value: []string{\"%s\"}: failed to allocate IP %s: "
                              "provided IP is already allocated",
                              ip, ip);
        if (e->ncauses)
            return finish(e, k, obj);
    } else if (!ip || !*ip) {
        /* The first free address; the allocator's order is not part of the API. */
        for (v = SVC_FIRST; v <= SVC_LAST && service_ip_used(srv, v); v++)
            ;
        if (v > SVC_LAST)
            return sim_err_internal(e, "failed to allocate a serviceIP: range is full");
        snprintf(buf, sizeof(buf), "%u.%u.%u.%u", v >> 24, (v >> 16) & 255, (v >> 8) & 255,
                 v & 255);
        sim_jset_str(spec, "clusterIP", buf);
        ip = buf;
    }
    ips = cJSON_CreateArray();
    cJSON_AddItemToArray(ips, cJSON_CreateString(sim_jstr(spec, "clusterIP", NULL)));
    sim_jset(spec, "clusterIPs", ips);
    if (strcmp(ip, "None") != 0) {
        cJSON *fam = cJSON_CreateArray();
        cJSON_AddItemToArray(fam, cJSON_CreateString("IPv4"));
        set_default(spec, "ipFamilies", fam);
        set_default(spec, "ipFamilyPolicy", cJSON_CreateString("SingleStack"));
    }
    return 0;
}

static int service_update(struct sim_server *srv, const struct sim_kind *k, const cJSON *old,
                          cJSON *obj, struct sim_err *e)
{
    const cJSON *oldip = sim_jget(old, "spec", "clusterIP", NULL);
    cJSON *spec = sim_jobj(obj, "spec");
    (void)srv;
    if (!spec)
        return sim_err_internal(e, "out of memory");
    /* An update that leaves the address out keeps the allocated one, as the
     * registry strategy does; a different address is refused. */
    if (oldip && !sim_jget(spec, "clusterIP", NULL)) {
        sim_jset(spec, "clusterIP", cJSON_Duplicate(oldip, 1));
        if (sim_jget(old, "spec", "clusterIPs", NULL))
            sim_jset(spec, "clusterIPs",
                     cJSON_Duplicate(sim_jget(old, "spec", "clusterIPs", NULL), 1));
    }
    immutable(e, oldip, sim_jget(spec, "clusterIP", NULL), "spec.clusterIP");
    return finish(e, k, obj);
}

static const struct sim_kind_ops service_ops = {
    .on_create = service_create,
    .on_update = service_update,
    .top_fields = spec_status_fields,
};

/* ---- PodDisruptionBudget ---- */

static int pdb_create(struct sim_server *srv, const struct sim_kind *k, cJSON *obj,
                      struct sim_err *e)
{
    const cJSON *spec = sim_jget(obj, "spec", NULL);
    (void)srv;
    if (sim_jget(spec, "minAvailable", NULL) && sim_jget(spec, "maxUnavailable", NULL))
        sim_err_add_cause(e, "FieldValueInvalid", "spec",
                          "Invalid value: \"\": minAvailable and maxUnavailable cannot be both "
                          "set");
    return finish(e, k, obj);
}

static int pdb_update(struct sim_server *srv, const struct sim_kind *k, const cJSON *old,
                      cJSON *obj, struct sim_err *e)
{
    (void)old;
    return pdb_create(srv, k, obj, e);
}

static const struct sim_kind_ops pdb_ops = {
    .on_create = pdb_create,
    .on_update = pdb_update,
    .top_fields = spec_status_fields,
};

/* ---- Job ---- */

static int job_create(struct sim_server *srv, const struct sim_kind *k, cJSON *obj,
                      struct sim_err *e)
{
    cJSON *spec = sim_jobj(obj, "spec");
    cJSON *tmpl, *tmeta, *tlabels, *tspec;
    const char *uid = sim_jstr(obj, "metadata", "uid", NULL);
    const char *name = sim_jstr(obj, "metadata", "name", NULL);
    const char *rp;
    (void)srv;
    if (!spec)
        return sim_err_internal(e, "out of memory");
    tmpl = sim_jobj(spec, "template");
    tmeta = tmpl ? sim_jobj(tmpl, "metadata") : NULL;
    tlabels = tmeta ? sim_jobj(tmeta, "labels") : NULL;
    tspec = tmpl ? sim_jobj(tmpl, "spec") : NULL;
    if (!tlabels || !tspec)
        return sim_err_internal(e, "out of memory");
    if (cJSON_GetArraySize(sim_jget(tspec, "containers", NULL)) == 0)
        sim_err_add_cause(e, "FieldValueRequired", "spec.template.spec.containers",
                          "Required value");
    rp = sim_jstr(tspec, "restartPolicy", NULL);
    if (!rp || (strcmp(rp, "OnFailure") != 0 && strcmp(rp, "Never") != 0))
        sim_err_add_cause(e, "FieldValueNotSupported", "spec.template.spec.restartPolicy",
                          "Unsupported value: \"%s\": supported values: \"OnFailure\", \"Never\"",
                          rp ? rp : "Always");
    if (finish(e, k, obj) != 0)
        return -422;
    /* SetDefaults_Job (defaulting runs at decode, before the strategy adds
     * its selector labels): a Job without labels takes its template's. */
    if (cJSON_GetArraySize(tlabels) > 0 &&
        cJSON_GetArraySize(sim_jget(obj, "metadata", "labels", NULL)) == 0)
        sim_jset(sim_jobj(obj, "metadata"), "labels", cJSON_Duplicate(tlabels, 1));
    /* The generated selector (manualSelector unset), as the Job strategy does. */
    if (!is_true(spec, "manualSelector")) {
        cJSON *sel = cJSON_CreateObject(), *ml;
        ml = cJSON_AddObjectToObject(sel, "matchLabels");
        cJSON_AddStringToObject(ml, "batch.kubernetes.io/controller-uid", uid ? uid : "");
        sim_jset(spec, "selector", sel);
        sim_jset_str(tlabels, "batch.kubernetes.io/controller-uid", uid ? uid : "");
        sim_jset_str(tlabels, "batch.kubernetes.io/job-name", name ? name : "");
        sim_jset_str(tlabels, "controller-uid", uid ? uid : "");
        sim_jset_str(tlabels, "job-name", name ? name : "");
    }
    /* completions defaults only when parallelism is unset too (a work-queue
     * Job has parallelism and no completions). */
    if (!sim_jget(spec, "completions", NULL) && !sim_jget(spec, "parallelism", NULL))
        set_default(spec, "completions", cJSON_CreateNumber(1));
    set_default(spec, "parallelism", cJSON_CreateNumber(1));
    set_default(spec, "backoffLimit",
                cJSON_CreateNumber(sim_jget(spec, "backoffLimitPerIndex", NULL) ? 2147483647 : 6));
    set_default(spec, "completionMode", cJSON_CreateString("NonIndexed"));
    set_default(spec, "suspend", cJSON_CreateFalse());
    set_default(spec, "manualSelector", cJSON_CreateFalse());
    set_default(spec, "podReplacementPolicy",
                cJSON_CreateString(
                    sim_jget(spec, "podFailurePolicy", NULL) ? "Failed" : "TerminatingOrFailed"));
    {
        cJSON *rule;
        cJSON_ArrayForEach(rule, sim_jget(spec, "podFailurePolicy", "rules", NULL))
        {
            cJSON *pc;
            cJSON_ArrayForEach(pc, sim_jget(rule, "onPodConditions", NULL))
                set_default(pc, "status", cJSON_CreateString("True"));
        }
    }
    return 0;
}

static int job_update(struct sim_server *srv, const struct sim_kind *k, const cJSON *old,
                      cJSON *obj, struct sim_err *e)
{
    (void)srv;
    immutable(e, sim_jget(old, "spec", "selector", NULL), sim_jget(obj, "spec", "selector", NULL),
              "spec.selector");
    immutable(e, sim_jget(old, "spec", "template", NULL), sim_jget(obj, "spec", "template", NULL),
              "spec.template");
    immutable(e, sim_jget(old, "spec", "completions", NULL),
              sim_jget(obj, "spec", "completions", NULL), "spec.completions");
    return finish(e, k, obj);
}

static void job_cells(const struct sim_kind *k, const cJSON *obj, cJSON *cells)
{
    char buf[64];
    const cJSON *s = sim_jget(obj, "status", "succeeded", NULL);
    const cJSON *c = sim_jget(obj, "spec", "completions", NULL);
    (void)k;
    snprintf(buf, sizeof(buf), "%d/%d", cJSON_IsNumber(s) ? s->valueint : 0,
             cJSON_IsNumber(c) ? c->valueint : 1);
    cJSON_AddItemToArray(cells, cJSON_CreateString(buf));
}

static const struct sim_kind_ops job_ops = {
    .on_create = job_create,
    .on_update = job_update,
    .cells = job_cells,
    .top_fields = spec_status_fields,
};

/* ---- CustomResourceDefinition ---- */

static int crd_create(struct sim_server *srv, const struct sim_kind *k, cJSON *obj,
                      struct sim_err *e)
{
    (void)k;
    return sim_crd_validate(srv, obj, NULL, e);
}

static int crd_update(struct sim_server *srv, const struct sim_kind *k, const cJSON *old,
                      cJSON *obj, struct sim_err *e)
{
    (void)k;
    return sim_crd_validate(srv, obj, old, e);
}

static const struct sim_kind_ops crd_ops = {
    .on_create = crd_create,
    .on_update = crd_update,
    .top_fields = spec_status_fields,
    .after_write = sim_crd_after_write,
};

/* ---- the table ---- */

struct spec {
    const char *group, *version, *resource, *kind, *singular;
    int namespaced;
    const char *shorts[3];
    const char *category;
    int has_status;
    const struct sim_kind_ops *ops;
    enum sim_fieldsel_style fs;
    const char *const *labels;
    const char *store_group;
};

static const struct spec specs[] = {
    {"",
     "v1",
     "namespaces",
     "Namespace",
     "namespace",
     0,
     {"ns"},
     NULL,
     1,
     &namespace_ops,
     SIM_FS_LABEL,
     NULL,
     NULL},
    {"",
     "v1",
     "secrets",
     "Secret",
     "secret",
     1,
     {NULL},
     NULL,
     0,
     &secret_ops,
     SIM_FS_LABEL,
     NULL,
     NULL},
    {"",
     "v1",
     "configmaps",
     "ConfigMap",
     "configmap",
     1,
     {"cm"},
     NULL,
     0,
     &configmap_ops,
     SIM_FS_KNOWN,
     NULL,
     NULL},
    {"",
     "v1",
     "events",
     "Event",
     "event",
     1,
     {"ev"},
     NULL,
     0,
     &event_ops,
     SIM_FS_LABEL,
     event_labels,
     NULL},
    {"",
     "v1",
     "serviceaccounts",
     "ServiceAccount",
     "serviceaccount",
     1,
     {"sa"},
     NULL,
     0,
     &sa_ops,
     SIM_FS_KNOWN,
     NULL,
     NULL},
    {"",
     "v1",
     "persistentvolumeclaims",
     "PersistentVolumeClaim",
     "persistentvolumeclaim",
     1,
     {"pvc"},
     NULL,
     1,
     &pvc_ops,
     SIM_FS_KNOWN,
     NULL,
     NULL},
    {"", "v1", "pods", "Pod", "pod", 1, {"po"}, "all", 1, &pod_ops, SIM_FS_LABEL, pod_labels, NULL},
    {"",
     "v1",
     "services",
     "Service",
     "service",
     1,
     {"svc"},
     "all",
     1,
     &service_ops,
     SIM_FS_KNOWN,
     NULL,
     NULL},
    {"policy",
     "v1",
     "poddisruptionbudgets",
     "PodDisruptionBudget",
     "poddisruptionbudget",
     1,
     {"pdb"},
     NULL,
     1,
     &pdb_ops,
     SIM_FS_KNOWN,
     NULL,
     NULL},
    {"events.k8s.io",
     "v1",
     "events",
     "Event",
     "event",
     1,
     {"ev"},
     NULL,
     0,
     &event_v1_ops,
     SIM_FS_LABEL,
     event_labels,
     ""},
    {"apps",
     "v1",
     "deployments",
     "Deployment",
     "deployment",
     1,
     {"deploy"},
     "all",
     1,
     &deployment_ops,
     SIM_FS_KNOWN,
     NULL,
     NULL},
    {"batch", "v1", "jobs", "Job", "job", 1, {NULL}, "all", 1, &job_ops, SIM_FS_KNOWN, NULL, NULL},
    {"coordination.k8s.io",
     "v1",
     "leases",
     "Lease",
     "lease",
     1,
     {NULL},
     NULL,
     0,
     &lease_ops,
     SIM_FS_KNOWN,
     NULL,
     NULL},
    {"rbac.authorization.k8s.io",
     "v1",
     "roles",
     "Role",
     "role",
     1,
     {NULL},
     NULL,
     0,
     &role_ops,
     SIM_FS_KNOWN,
     NULL,
     NULL},
    {"rbac.authorization.k8s.io",
     "v1",
     "clusterroles",
     "ClusterRole",
     "clusterrole",
     0,
     {NULL},
     NULL,
     0,
     &clusterrole_ops,
     SIM_FS_KNOWN,
     NULL,
     NULL},
    {"rbac.authorization.k8s.io",
     "v1",
     "rolebindings",
     "RoleBinding",
     "rolebinding",
     1,
     {NULL},
     NULL,
     0,
     &binding_ops,
     SIM_FS_KNOWN,
     NULL,
     NULL},
    {"rbac.authorization.k8s.io",
     "v1",
     "clusterrolebindings",
     "ClusterRoleBinding",
     "clusterrolebinding",
     0,
     {NULL},
     NULL,
     0,
     &binding_ops,
     SIM_FS_KNOWN,
     NULL,
     NULL},
    {"apiextensions.k8s.io",
     "v1",
     "customresourcedefinitions",
     "CustomResourceDefinition",
     "customresourcedefinition",
     0,
     {"crd", "crds"},
     "api-extensions",
     1,
     &crd_ops,
     SIM_FS_KNOWN,
     NULL,
     NULL},
};

static void add_column(struct sim_kind *k, const char *name, const char *type, const char *jsonpath,
                       int priority)
{
    struct sim_column *c;
    if (k->ncolumns >= SIM_MAX_COLUMNS)
        return;
    c = &k->columns[k->ncolumns++];
    memset(c, 0, sizeof(*c));
    sim_strlcpy(c->name, name, sizeof(c->name));
    sim_strlcpy(c->type, type, sizeof(c->type));
    sim_strlcpy(c->jsonpath, jsonpath ? jsonpath : "", sizeof(c->jsonpath));
    c->priority = priority;
}

int sim_builtin_register(struct sim_kinds *ks)
{
    for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
        const struct spec *s = &specs[i];
        struct sim_kind k;
        memset(&k, 0, sizeof(k));
        sim_strlcpy(k.group, s->group, sizeof(k.group));
        sim_strlcpy(k.version, s->version, sizeof(k.version));
        sim_strlcpy(k.resource, s->resource, sizeof(k.resource));
        sim_strlcpy(k.kind, s->kind, sizeof(k.kind));
        snprintf(k.list_kind, sizeof(k.list_kind), "%sList", s->kind);
        sim_strlcpy(k.singular, s->singular, sizeof(k.singular));
        k.namespaced = s->namespaced;
        for (size_t j = 0; j < 3 && s->shorts[j]; j++)
            sim_strlcpy(k.short_names[k.nshort++], s->shorts[j], sizeof(k.short_names[0]));
        if (s->category)
            sim_strlcpy(k.categories[k.ncat++], s->category, sizeof(k.categories[0]));
        k.has_status = s->has_status;
        k.served = 1;
        k.storage_version = s->store_group == NULL;
        sim_strlcpy(k.store_group, s->store_group ? s->store_group : s->group,
                    sizeof(k.store_group));
        sim_strlcpy(k.store_resource, s->resource, sizeof(k.store_resource));
        k.ops = s->ops;
        k.fs_style = s->fs;
        k.field_labels = s->labels;
        k.generation = strcmp(s->resource, "deployments") == 0 ||
                       strcmp(s->resource, "poddisruptionbudgets") == 0 ||
                       strcmp(s->resource, "jobs") == 0 ||
                       strcmp(s->resource, "customresourcedefinitions") == 0;
        k.orphan_by_default = strcmp(s->group, "batch") == 0 && strcmp(s->resource, "jobs") == 0;
        k.create_on_update = strcmp(s->resource, "events") == 0;
        k.delete_returns_object = strcmp(s->resource, "pods") == 0 ||
                                  strcmp(s->resource, "namespaces") == 0 ||
                                  strcmp(s->resource, "customresourcedefinitions") == 0;
        /* Columns after Name; those without a JSONPath are filled by the
         * kind's cells hook, which appends after the JSONPath ones. */
        if (strcmp(s->resource, "namespaces") == 0 || strcmp(s->resource, "pods") == 0) {
            add_column(&k, "Status", "string", ".status.phase", 0);
        } else if (strcmp(s->resource, "secrets") == 0) {
            add_column(&k, "Type", "string", ".type", 0);
            add_column(&k, "Data", "string", NULL, 0);
        } else if (strcmp(s->resource, "configmaps") == 0) {
            add_column(&k, "Data", "string", NULL, 0);
        } else if (strcmp(s->resource, "persistentvolumeclaims") == 0) {
            add_column(&k, "Status", "string", ".status.phase", 0);
            add_column(&k, "Volume", "string", ".spec.volumeName", 0);
            add_column(&k, "Capacity", "string", ".status.capacity.storage", 0);
            add_column(&k, "StorageClass", "string", ".spec.storageClassName", 0);
        } else if (strcmp(s->resource, "events") == 0) {
            add_column(&k, "Type", "string", ".type", 0);
            add_column(&k, "Reason", "string", ".reason", 0);
            add_column(&k, "Object", "string", NULL, 0);
        } else if (strcmp(s->resource, "leases") == 0) {
            add_column(&k, "Holder", "string", NULL, 0);
        } else if (strcmp(s->resource, "rolebindings") == 0 ||
                   strcmp(s->resource, "clusterrolebindings") == 0) {
            add_column(&k, "Role", "string", NULL, 0);
        } else if (strcmp(s->resource, "services") == 0) {
            add_column(&k, "Type", "string", ".spec.type", 0);
            add_column(&k, "Cluster-IP", "string", ".spec.clusterIP", 0);
        } else if (strcmp(s->resource, "poddisruptionbudgets") == 0) {
            add_column(&k, "Min Available", "string", ".spec.minAvailable", 0);
            add_column(&k, "Max Unavailable", "string", ".spec.maxUnavailable", 0);
        } else if (strcmp(s->resource, "jobs") == 0) {
            add_column(&k, "Completions", "string", NULL, 0);
        } else if (strcmp(s->resource, "customresourcedefinitions") == 0) {
            add_column(&k, "Created At", "string", ".metadata.creationTimestamp", 0);
            k.columns_replace = 1;
        }
        if (!sim_kinds_put(ks, &k))
            return -1;
    }
    return 0;
}

static int bootstrap_one(struct sim_server *srv, const char *group, const char *resource,
                         const char *json)
{
    struct sim_kind *k = sim_kinds_storage(srv->kinds, group, resource);
    struct sim_coll *c = sim_store_coll(srv->store, group, resource, 1);
    struct sim_err e;
    cJSON *obj = cJSON_Parse(json);
    cJSON *meta;
    const char *ns, *name;
    char uid[37], ts[32];
    if (!k || !c || !obj) {
        cJSON_Delete(obj);
        return -1;
    }
    meta = sim_jobj(obj, "metadata");
    ns = sim_jstr(meta, "namespace", NULL);
    name = sim_jstr(meta, "name", NULL);
    if (sim_coll_get(c, ns ? ns : "", name)) {
        cJSON_Delete(obj);
        return 0;
    }
    sim_uuid(&srv->rng, uid);
    sim_rfc3339(sim_now_unix(), ts);
    sim_jset_str(meta, "uid", uid);
    sim_jset_str(meta, "creationTimestamp", ts);
    sim_err_clear(&e);
    if (k->ops && k->ops->on_create && k->ops->on_create(srv, k, obj, &e) != 0) {
        cJSON_Delete(obj);
        return -1;
    }
    if (!sim_store_put(srv->store, c, obj))
        return -1;
    if (k->ops && k->ops->after_write) {
        struct sim_obj *o = sim_coll_get(c, ns ? ns : "", name);
        if (o)
            k->ops->after_write(srv, k, o->json, 0);
    }
    return 0;
}

/* The user-facing roles of a real cluster (plugin/pkg/auth/authorizer/rbac/
 * bootstrappolicy): admin, edit and view are aggregated, each also
 * aggregating into the one above it, and fed by system:aggregate-to-* roles
 * (here with a representative subset of the built-in resources). CRD
 * authors label their roles aggregate-to-view/edit/admin to join them. */
static const char *const user_roles[] = {
    "{\"metadata\":{\"name\":\"admin\",\"labels\":{\"kubernetes.io/bootstrapping\":"
    "\"rbac-defaults\"}},\"aggregationRule\":{\"clusterRoleSelectors\":[{\"matchLabels\":{"
    "\"rbac.authorization.k8s.io/aggregate-to-admin\":\"true\"}}]}}",
    "{\"metadata\":{\"name\":\"edit\",\"labels\":{\"kubernetes.io/bootstrapping\":"
    "\"rbac-defaults\",\"rbac.authorization.k8s.io/aggregate-to-admin\":\"true\"}},"
    "\"aggregationRule\":{\"clusterRoleSelectors\":[{\"matchLabels\":{"
    "\"rbac.authorization.k8s.io/aggregate-to-edit\":\"true\"}}]}}",
    "{\"metadata\":{\"name\":\"view\",\"labels\":{\"kubernetes.io/bootstrapping\":"
    "\"rbac-defaults\",\"rbac.authorization.k8s.io/aggregate-to-edit\":\"true\"}},"
    "\"aggregationRule\":{\"clusterRoleSelectors\":[{\"matchLabels\":{"
    "\"rbac.authorization.k8s.io/aggregate-to-view\":\"true\"}}]}}",
    "{\"metadata\":{\"name\":\"system:aggregate-to-view\",\"labels\":{\"kubernetes.io/"
    "bootstrapping\":\"rbac-defaults\",\"rbac.authorization.k8s.io/aggregate-to-view\":"
    "\"true\"}},\"rules\":[{\"apiGroups\":[\"\"],\"resources\":[\"configmaps\",\"endpoints\","
    "\"persistentvolumeclaims\",\"pods\",\"services\",\"serviceaccounts\",\"events\"],"
    "\"verbs\":[\"get\",\"list\",\"watch\"]},{\"apiGroups\":[\"apps\"],\"resources\":["
    "\"deployments\",\"replicasets\",\"statefulsets\"],\"verbs\":[\"get\",\"list\",\"watch\"]},"
    "{\"apiGroups\":[\"batch\"],\"resources\":[\"jobs\",\"cronjobs\"],\"verbs\":[\"get\","
    "\"list\",\"watch\"]},{\"apiGroups\":[\"policy\"],\"resources\":[\"poddisruptionbudgets\"],"
    "\"verbs\":[\"get\",\"list\",\"watch\"]}]}",
    "{\"metadata\":{\"name\":\"system:aggregate-to-edit\",\"labels\":{\"kubernetes.io/"
    "bootstrapping\":\"rbac-defaults\",\"rbac.authorization.k8s.io/aggregate-to-edit\":"
    "\"true\"}},\"rules\":[{\"apiGroups\":[\"\"],\"resources\":[\"configmaps\",\"endpoints\","
    "\"persistentvolumeclaims\",\"pods\",\"services\",\"secrets\",\"serviceaccounts\"],"
    "\"verbs\":[\"create\",\"delete\",\"deletecollection\",\"patch\",\"update\"]},{"
    "\"apiGroups\":[\"apps\"],\"resources\":[\"deployments\",\"replicasets\",\"statefulsets\"],"
    "\"verbs\":[\"create\",\"delete\",\"deletecollection\",\"patch\",\"update\"]},{"
    "\"apiGroups\":[\"batch\"],\"resources\":[\"jobs\",\"cronjobs\"],\"verbs\":[\"create\","
    "\"delete\",\"deletecollection\",\"patch\",\"update\"]}]}",
    "{\"metadata\":{\"name\":\"system:aggregate-to-admin\",\"labels\":{\"kubernetes.io/"
    "bootstrapping\":\"rbac-defaults\",\"rbac.authorization.k8s.io/aggregate-to-admin\":"
    "\"true\"}},\"rules\":[{\"apiGroups\":[\"rbac.authorization.k8s.io\"],\"resources\":["
    "\"rolebindings\",\"roles\"],\"verbs\":[\"create\",\"delete\",\"deletecollection\","
    "\"get\",\"list\",\"patch\",\"update\",\"watch\"]}]}",
};

int sim_builtin_bootstrap(struct sim_server *srv)
{
    static const char *const namespaces[] = {"default", "kube-system", "kube-public",
                                             "kube-node-lease"};
    char json[512];
    for (size_t i = 0; i < sizeof(namespaces) / sizeof(namespaces[0]); i++) {
        snprintf(json, sizeof(json),
                 "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"%s\"}}",
                 namespaces[i]);
        if (bootstrap_one(srv, "", "namespaces", json) != 0)
            return -1;
    }
    if (bootstrap_one(srv, "rbac.authorization.k8s.io", "clusterroles",
                      "{\"apiVersion\":\"rbac.authorization.k8s.io/v1\",\"kind\":\"ClusterRole\","
                      "\"metadata\":{\"name\":\"cluster-admin\",\"labels\":{\"kubernetes.io/"
                      "bootstrapping\":\"rbac-defaults\"}},\"rules\":[{\"apiGroups\":[\"*\"],"
                      "\"resources\":[\"*\"],\"verbs\":[\"*\"]},{\"nonResourceURLs\":[\"*\"],"
                      "\"verbs\":[\"*\"]}]}") != 0)
        return -1;
    if (bootstrap_one(srv, "rbac.authorization.k8s.io", "clusterrolebindings",
                      "{\"apiVersion\":\"rbac.authorization.k8s.io/v1\",\"kind\":"
                      "\"ClusterRoleBinding\",\"metadata\":{\"name\":\"cluster-admin\",\"labels\":"
                      "{\"kubernetes.io/bootstrapping\":\"rbac-defaults\"}},\"roleRef\":{"
                      "\"apiGroup\":\"rbac.authorization.k8s.io\",\"kind\":\"ClusterRole\","
                      "\"name\":\"cluster-admin\"},\"subjects\":[{\"apiGroup\":\"rbac."
                      "authorization.k8s.io\",\"kind\":\"Group\",\"name\":\"system:masters\"}]}") !=
        0)
        return -1;
    for (size_t i = 0; i < sizeof(user_roles) / sizeof(user_roles[0]); i++) {
        char role[2048];
        snprintf(role, sizeof(role),
                 "{\"apiVersion\":\"rbac.authorization.k8s.io/v1\",\"kind\":\"ClusterRole\",%s",
                 user_roles[i] + 1);
        if (bootstrap_one(srv, "rbac.authorization.k8s.io", "clusterroles", role) != 0)
            return -1;
    }
    clusterrole_aggregate(srv);
    return 0;
}
