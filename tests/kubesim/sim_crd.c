/*
 * CustomResourceDefinitions (see sim_crd.h). A CRD's versions are registered
 * as kinds at once but stay unserved until the timer sets the CRD's
 * NamesAccepted and Established conditions (opt.establish_ms later), as the
 * apiextensions controllers do. Schema work (structural check, defaulting,
 * pruning, validation, CEL) is delegated to sim_schema when it is built in:
 * that is the one place marked KUBESIM_HAVE_SCHEMA below.
 */
#include "sim_crd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8s_patch.h"
#include "sim_kind.h"
#include "sim_server.h"
#include "sim_status.h"
#include "sim_store.h"
#include "sim_util.h"
#include "sim_verbs.h"

#ifdef KUBESIM_HAVE_SCHEMA
#include "sim_schema.h"

static void free_validator(void *v)
{
    sim_schema_free(v);
}
#endif

static int established(const cJSON *crd)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, sim_jget(crd, "status", "conditions", NULL))
    {
        const char *t = sim_jstr(c, "type", NULL), *s = sim_jstr(c, "status", NULL);
        if (t && s && strcmp(t, "Established") == 0 && strcmp(s, "True") == 0)
            return 1;
    }
    return 0;
}

static const cJSON *version_schema(const cJSON *v)
{
    return sim_jget(v, "schema", "openAPIV3Schema", NULL);
}

int sim_crd_validate(struct sim_server *srv, cJSON *crd, const cJSON *old, struct sim_err *e)
{
    const char *name = sim_jstr(crd, "metadata", "name", NULL);
    const char *group = sim_jstr(crd, "spec", "group", NULL);
    const char *plural = sim_jstr(crd, "spec", "names", "plural", NULL);
    const char *kind = sim_jstr(crd, "spec", "names", "kind", NULL);
    const char *scope = sim_jstr(crd, "spec", "scope", NULL);
    const cJSON *versions = sim_jget(crd, "spec", "versions", NULL), *v;
    char want[600];
    int storage = 0, i = 0;
    (void)srv;
    if (!group || !*group)
        sim_err_add_cause(e, "FieldValueRequired", "spec.group", "Required value");
    if (!plural || !*plural)
        sim_err_add_cause(e, "FieldValueRequired", "spec.names.plural", "Required value");
    if (!kind || !*kind)
        sim_err_add_cause(e, "FieldValueRequired", "spec.names.kind", "Required value");
    if (group && plural) {
        snprintf(want, sizeof(want), "%s.%s", plural, group);
        if (!name || strcmp(name, want) != 0)
            sim_err_add_cause(e, "FieldValueInvalid", "metadata.name",
                              "Invalid value: \"%s\": must be spec.names.plural+\".\"+spec.group",
                              name ? name : "");
    }
    if (!scope || (strcmp(scope, "Namespaced") != 0 && strcmp(scope, "Cluster") != 0))
        sim_err_add_cause(e, "FieldValueNotSupported", "spec.scope",
                          "Unsupported value: \"%s\": supported values: \"Cluster\", "
                          "\"Namespaced\"",
                          scope ? scope : "");
    if (cJSON_GetArraySize(versions) == 0)
        sim_err_add_cause(e, "FieldValueRequired", "spec.versions",
                          "Required value: must have exactly one version marked as storage "
                          "version");
    cJSON_ArrayForEach(v, versions)
    {
        char path[128];
        if (cJSON_IsTrue(sim_jget(v, "storage", NULL)))
            storage++;
        snprintf(path, sizeof(path), "spec.versions[%d].schema.openAPIV3Schema", i);
        if (!version_schema(v)) {
            sim_err_add_cause(e, "FieldValueRequired", path,
                              "Required value: schemas are "
                              "required");
        } else {
#ifdef KUBESIM_HAVE_SCHEMA
            struct sim_schema *s = NULL;
            struct sim_field_errors errs;
            sim_field_errors_init(&errs);
            if (sim_schema_new(version_schema(v), path, &s, &errs) != 0) {
                for (size_t j = 0; j < errs.n; j++)
                    sim_err_add_cause(e, sim_field_error_reason(errs.items[j].type),
                                      errs.items[j].field, "%s", errs.items[j].body);
                if (errs.n == 0)
                    sim_err_add_cause(e, "FieldValueInvalid", path,
                                      "Invalid value: the schema "
                                      "cannot be compiled");
            }
            sim_schema_free(s);
            sim_field_errors_free(&errs);
#endif
        }
        i++;
    }
    if (cJSON_GetArraySize(versions) > 0 && storage != 1)
        sim_err_add_cause(e, "FieldValueInvalid", "spec.versions",
                          "Invalid value: \"\": must have exactly one version marked as storage "
                          "version");
    if (old) {
        const char *og = sim_jstr(old, "spec", "group", NULL);
        const char *os = sim_jstr(old, "spec", "scope", NULL);
        if (og && group && strcmp(og, group) != 0)
            sim_err_add_cause(e, "FieldValueInvalid", "spec.group",
                              "Invalid value: \"%s\": field is immutable", group);
        if (os && scope && strcmp(os, scope) != 0)
            sim_err_add_cause(e, "FieldValueInvalid", "spec.scope",
                              "Invalid value: \"%s\": field is immutable", scope);
        /* The status (conditions) is the controllers' business. */
        if (sim_jget(old, "status", NULL))
            sim_jset(crd, "status", cJSON_Duplicate(sim_jget(old, "status", NULL), 1));
    }
    if (e->ncauses)
        return sim_err_invalid_finish(e, "apiextensions.k8s.io", "CustomResourceDefinition",
                                      name ? name : "");
    return 0;
}

static void fill_columns(struct sim_kind *k, const cJSON *v)
{
    const cJSON *cols = sim_jget(v, "additionalPrinterColumns", NULL), *c;
    k->ncolumns = 0;
    k->columns_replace = 0;
    if (cJSON_GetArraySize(cols) == 0)
        return; /* Name and Age, like a built-in. */
    k->columns_replace = 1;
    cJSON_ArrayForEach(c, cols)
    {
        struct sim_column *col;
        const cJSON *pr = sim_jget(c, "priority", NULL);
        if (k->ncolumns >= SIM_MAX_COLUMNS)
            break;
        col = &k->columns[k->ncolumns++];
        memset(col, 0, sizeof(*col));
        sim_strlcpy(col->name, sim_jstr(c, "name", NULL) ? sim_jstr(c, "name", NULL) : "",
                    sizeof(col->name));
        sim_strlcpy(col->type, sim_jstr(c, "type", NULL) ? sim_jstr(c, "type", NULL) : "string",
                    sizeof(col->type));
        sim_strlcpy(col->format, sim_jstr(c, "format", NULL) ? sim_jstr(c, "format", NULL) : "",
                    sizeof(col->format));
        sim_strlcpy(col->description,
                    sim_jstr(c, "description", NULL) ? sim_jstr(c, "description", NULL) : "",
                    sizeof(col->description));
        sim_strlcpy(col->jsonpath,
                    sim_jstr(c, "jsonPath", NULL) ? sim_jstr(c, "jsonPath", NULL) : "",
                    sizeof(col->jsonpath));
        col->priority = cJSON_IsNumber(pr) ? pr->valueint : 0;
    }
}

static void unserve(struct sim_server *srv, const char *crd_name)
{
    for (size_t i = 0; i < sim_kinds_count(srv->kinds); i++) {
        struct sim_kind *k = sim_kinds_at(srv->kinds, i);
        if (k->custom && strcmp(k->crd_name, crd_name) == 0) {
            k->served = 0;
            k->establish_due_ms = 0;
        }
    }
}

/* (Re)registers the kinds of a CRD; served when it is Established. */
static void register_kinds(struct sim_server *srv, const cJSON *crd, int64_t due_ms)
{
    const char *name = sim_jstr(crd, "metadata", "name", NULL);
    const char *group = sim_jstr(crd, "spec", "group", NULL);
    const cJSON *names = sim_jget(crd, "spec", "names", NULL);
    const char *scope = sim_jstr(crd, "spec", "scope", NULL);
    const cJSON *v, *it;
    int est = established(crd);
    if (!name || !group || !names)
        return;
    /* Versions removed from the CRD stop being served. */
    for (size_t i = 0; i < sim_kinds_count(srv->kinds); i++) {
        struct sim_kind *k = sim_kinds_at(srv->kinds, i);
        int present = 0;
        if (!k->custom || strcmp(k->crd_name, name) != 0)
            continue;
        cJSON_ArrayForEach(v, sim_jget(crd, "spec", "versions", NULL))
        {
            const char *vn = sim_jstr(v, "name", NULL);
            if (vn && strcmp(vn, k->version) == 0)
                present = 1;
        }
        if (!present)
            k->served = 0;
    }
    cJSON_ArrayForEach(v, sim_jget(crd, "spec", "versions", NULL))
    {
        struct sim_kind k;
        const char *vn = sim_jstr(v, "name", NULL);
        const char *plural = sim_jstr(names, "plural", NULL);
        const char *kind = sim_jstr(names, "kind", NULL);
        const char *singular = sim_jstr(names, "singular", NULL);
        const char *list_kind = sim_jstr(names, "listKind", NULL);
        const cJSON *schema = version_schema(v);
        if (!vn || !plural || !kind)
            continue;
        memset(&k, 0, sizeof(k));
        sim_strlcpy(k.group, group, sizeof(k.group));
        sim_strlcpy(k.version, vn, sizeof(k.version));
        sim_strlcpy(k.resource, plural, sizeof(k.resource));
        sim_strlcpy(k.kind, kind, sizeof(k.kind));
        if (list_kind)
            sim_strlcpy(k.list_kind, list_kind, sizeof(k.list_kind));
        else
            snprintf(k.list_kind, sizeof(k.list_kind), "%sList", kind);
        if (singular)
            sim_strlcpy(k.singular, singular, sizeof(k.singular));
        else {
            size_t j;
            for (j = 0; kind[j] && j + 1 < sizeof(k.singular); j++)
                k.singular[j] = (char)((kind[j] >= 'A' && kind[j] <= 'Z') ? kind[j] + 32 : kind[j]);
            k.singular[j] = '\0';
        }
        k.namespaced = !scope || strcmp(scope, "Cluster") != 0;
        cJSON_ArrayForEach(it, sim_jget(names, "shortNames", NULL))
        {
            if (cJSON_IsString(it) && k.nshort < 4)
                sim_strlcpy(k.short_names[k.nshort++], it->valuestring, sizeof(k.short_names[0]));
        }
        cJSON_ArrayForEach(it, sim_jget(names, "categories", NULL))
        {
            if (cJSON_IsString(it) && k.ncat < 4)
                sim_strlcpy(k.categories[k.ncat++], it->valuestring, sizeof(k.categories[0]));
        }
        k.has_status = sim_jget(v, "subresources", "status", NULL) != NULL;
        k.custom = 1;
        k.generation = 1;
        k.delete_returns_object = 1;
        k.storage_version = cJSON_IsTrue(sim_jget(v, "storage", NULL));
        k.served = est && cJSON_IsTrue(sim_jget(v, "served", NULL));
        k.establish_due_ms = est ? 0 : due_ms;
        sim_strlcpy(k.store_group, group, sizeof(k.store_group));
        sim_strlcpy(k.store_resource, plural, sizeof(k.store_resource));
        k.fs_style = SIM_FS_LABEL;
        sim_strlcpy(k.crd_name, name, sizeof(k.crd_name));
        fill_columns(&k, v);
        k.schema = schema ? cJSON_Duplicate(schema, 1) : NULL;
        k.preserve_unknown =
            cJSON_IsTrue(sim_jget(schema, "x-kubernetes-preserve-unknown-fields", NULL));
#ifdef KUBESIM_HAVE_SCHEMA
        if (schema) {
            struct sim_schema *s = NULL;
            struct sim_field_errors errs;
            sim_field_errors_init(&errs);
            if (sim_schema_new(schema, "openAPIV3Schema", &s, &errs) == 0) {
                k.validator = s;
                k.validator_free = free_validator;
            }
            sim_field_errors_free(&errs);
        }
#endif
        sim_kinds_put(srv->kinds, &k);
    }
}

static void delete_all_crs(struct sim_server *srv, const char *group, const char *plural)
{
    struct sim_coll *c = sim_store_coll(srv->store, group, plural, 0);
    while (c && c->n > 0) {
        char ns[256], name[256];
        sim_strlcpy(ns, c->v[c->n - 1]->ns, sizeof(ns));
        sim_strlcpy(name, c->v[c->n - 1]->name, sizeof(name));
        sim_store_remove(srv->store, c, ns, name);
    }
}

void sim_crd_after_write(struct sim_server *srv, const struct sim_kind *k, const cJSON *crd,
                         int deleted)
{
    const char *name = sim_jstr(crd, "metadata", "name", NULL);
    (void)k;
    if (!name)
        return;
    if (deleted || sim_jget(crd, "metadata", "deletionTimestamp", NULL)) {
        unserve(srv, name);
        delete_all_crs(
            srv, sim_jstr(crd, "spec", "group", NULL) ? sim_jstr(crd, "spec", "group", NULL) : "",
            sim_jstr(crd, "spec", "names", "plural", NULL)
                ? sim_jstr(crd, "spec", "names", "plural", NULL)
                : "");
        return;
    }
    register_kinds(srv, crd, sim_mono_ms() + srv->opt.establish_ms);
}

void sim_crd_restored(struct sim_server *srv, const cJSON *crd)
{
    register_kinds(srv, crd, sim_mono_ms());
}

static void establish(struct sim_server *srv, const char *crd_name)
{
    struct sim_coll *c =
        sim_store_coll(srv->store, "apiextensions.k8s.io", "customresourcedefinitions", 0);
    struct sim_obj *o = c ? sim_coll_get(c, "", crd_name) : NULL;
    cJSON *copy, *status, *conds, *stored, *sv;
    const cJSON *v;
    char ts[32];
    if (!o)
        return;
    copy = cJSON_Duplicate(o->json, 1);
    status = copy ? sim_jobj(copy, "status") : NULL;
    if (!status) {
        cJSON_Delete(copy);
        return;
    }
    sim_rfc3339(sim_now_unix(), ts);
    conds = cJSON_CreateArray();
    {
        static const char *const types[][3] = {
            {"NamesAccepted", "NoConflicts", "no conflicts found"},
            {"Established", "InitialNamesAccepted", "the initial names have been accepted"},
        };
        for (size_t i = 0; i < 2; i++) {
            cJSON *cond = cJSON_CreateObject();
            cJSON_AddStringToObject(cond, "type", types[i][0]);
            cJSON_AddStringToObject(cond, "status", "True");
            cJSON_AddStringToObject(cond, "lastTransitionTime", ts);
            cJSON_AddStringToObject(cond, "reason", types[i][1]);
            cJSON_AddStringToObject(cond, "message", types[i][2]);
            cJSON_AddItemToArray(conds, cond);
        }
    }
    sim_jset(status, "conditions", conds);
    sim_jset(status, "acceptedNames", cJSON_Duplicate(sim_jget(copy, "spec", "names", NULL), 1));
    stored = cJSON_CreateArray();
    cJSON_ArrayForEach(v, sim_jget(copy, "spec", "versions", NULL))
    {
        if (cJSON_IsTrue(sim_jget(v, "storage", NULL)) && sim_jstr(v, "name", NULL))
            cJSON_AddItemToArray(stored, cJSON_CreateString(sim_jstr(v, "name", NULL)));
    }
    sv = stored;
    sim_jset(status, "storedVersions", sv);
    if (sim_controller_update(srv, c, copy) != 0)
        return;
    o = sim_coll_get(c, "", crd_name);
    if (o)
        register_kinds(srv, o->json, 0);
}

void sim_crd_tick(struct sim_server *srv)
{
    int64_t now = sim_mono_ms();
    for (size_t i = 0; i < sim_kinds_count(srv->kinds); i++) {
        struct sim_kind *k = sim_kinds_at(srv->kinds, i);
        if (k->custom && k->establish_due_ms && now >= k->establish_due_ms) {
            char name[256];
            sim_strlcpy(name, k->crd_name, sizeof(name));
            k->establish_due_ms = 0;
            establish(srv, name);
        }
    }
}

int sim_crd_admit(struct sim_server *srv, const struct sim_kind *k, cJSON *obj, const cJSON *old,
                  struct sim_unknown *unknown, struct sim_err *e)
{
    (void)srv;
    (void)obj;
    (void)old;
    (void)unknown;
    (void)e;
#ifdef KUBESIM_HAVE_SCHEMA
    if (k->validator) {
        const struct sim_schema *s = k->validator;
        struct sim_strlist unk;
        struct sim_field_errors errs;
        int rc = 0;
        sim_strlist_init(&unk);
        sim_field_errors_init(&errs);
        if (sim_schema_prune(s, obj, &unk) != 0 || sim_schema_default(s, obj) != 0) {
            rc = sim_err_internal(e, "cannot apply the schema");
            goto out;
        }
        for (size_t i = 0; i < unk.n && unknown->n < SIM_MAX_UNKNOWN; i++)
            sim_strlcpy(unknown->path[unknown->n++], unk.items[i], sizeof(unknown->path[0]));
        if (sim_schema_validate(s, obj, old, &errs) != 0 || errs.n) {
            const char *name = sim_jstr(obj, "metadata", "name", NULL);
            for (size_t i = 0; i < errs.n; i++)
                sim_err_add_cause(e, sim_field_error_reason(errs.items[i].type),
                                  errs.items[i].field, "%s", errs.items[i].body);
            rc = sim_err_invalid_finish(e, k->group, k->kind, name ? name : "");
        }
    out:
        sim_strlist_free(&unk);
        sim_field_errors_free(&errs);
        return rc;
    }
#else
    (void)k;
    /* TODO(sim_schema): until tests/kubesim/sim_schema.c lands, custom resources
     * are stored without defaulting, pruning or validation. */
#endif
    return 0;
}

void sim_crd_establish_all(struct sim_server *srv)
{
    for (size_t i = 0; i < sim_kinds_count(srv->kinds); i++) {
        struct sim_kind *k = sim_kinds_at(srv->kinds, i);
        if (k->custom && k->establish_due_ms)
            k->establish_due_ms = 1;
    }
    sim_crd_tick(srv);
}
