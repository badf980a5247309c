/*
 * OwnerReferencesPermissionEnforcement (see sim_gcadmit.h), in the plugin's
 * order: the pods/status exemption, "are ownerReferences changing at all",
 * `delete` on the object itself (updates only), then for each reference that
 * newly blocks its owner's deletion, its kind mapped to resources through the
 * served kinds and `update` on `<resource>/finalizers` of the owner. The first
 * refusal ends the admission, as the plugin returns on it.
 *
 * References are compared as metav1.OwnerReference decodes them: a missing
 * string is "", a missing bool is nil and differs from false (DeepEqual on
 * *bool), unknown members do not count.
 */
#include "sim_gcadmit.h"

#include <stdio.h>
#include <string.h>

#include "sim_admin.h"
#include "sim_api.h"
#include "sim_auth.h"
#include "sim_kind.h"
#include "sim_server.h"
#include "sim_status.h"
#include "sim_util.h"

/* One kind rarely maps to more than one resource; more are not checked. */
#define MAX_MAPPINGS 8

#define WHY_DELETE "cannot set an ownerRef on a resource you can't delete"
#define WHY_FINALIZE                                                                               \
    "cannot set blockOwnerDeletion if an ownerReference refers to a resource you can't set "       \
    "finalizers on"

static const cJSON *owner_refs(const cJSON *obj)
{
    const cJSON *r = obj ? sim_jget(obj, "metadata", "ownerReferences", NULL) : NULL;
    return cJSON_IsArray(r) ? r : NULL;
}

static const char *ref_str(const cJSON *ref, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(ref, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* A *bool: -1 nil, 0 false, 1 true. */
static int ref_bool(const cJSON *ref, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(ref, key);
    if (cJSON_IsTrue(v))
        return 1;
    if (cJSON_IsFalse(v))
        return 0;
    return -1;
}

static int ref_equal(const cJSON *a, const cJSON *b)
{
    static const char *const strs[] = {"apiVersion", "kind", "name", "uid", NULL};
    for (size_t i = 0; strs[i]; i++)
        if (strcmp(ref_str(a, strs[i]), ref_str(b, strs[i])) != 0)
            return 0;
    return ref_bool(a, "controller") == ref_bool(b, "controller") &&
           ref_bool(a, "blockOwnerDeletion") == ref_bool(b, "blockOwnerDeletion");
}

/* isChangingOwnerReference: a create with any reference, or an update whose
 * list differs in length or in any entry at the same index. */
static int refs_changing(const cJSON *obj, const cJSON *old)
{
    const cJSON *nr = owner_refs(obj), *orr = owner_refs(old), *a, *b;
    if (!old)
        return cJSON_GetArraySize(nr) > 0;
    if (cJSON_GetArraySize(nr) != cJSON_GetArraySize(orr))
        return 1;
    b = orr ? orr->child : NULL;
    cJSON_ArrayForEach(a, nr)
    {
        if (!b || !ref_equal(a, b))
            return 1;
        b = b->next;
    }
    return 0;
}

/* Whether `ref` (blocking in the new object) was not blocking before: absent
 * from the old references (by uid; the last entry with a uid wins, as in the
 * plugin's map) or present with blockOwnerDeletion nil or false. */
static int newly_blocking(const cJSON *ref, const cJSON *old)
{
    const cJSON *o, *found = NULL;
    const char *uid = ref_str(ref, "uid");
    if (!old)
        return 1;
    cJSON_ArrayForEach(o, owner_refs(old))
    {
        if (strcmp(ref_str(o, "uid"), uid) == 0)
            found = o;
    }
    return !found || ref_bool(found, "blockOwnerDeletion") != 1;
}

/* The RBAC authorizer's own reason, which the plugin prints (not the
 * responsewriter's "User ... cannot ..." sentence sim_authorize wraps it in):
 * empty when no rule matched, "RBAC: <errors>" when bindings could not be
 * resolved. */
static void authorizer_reason(const struct sim_err *ae, char *out, size_t cap)
{
    const char *p = strstr(ae->message, ": RBAC: ");
    sim_strlcpy(out, p ? p + 2 : "", cap);
}

/* One authorization check on the caller's behalf, recorded as its own entry.
 * 1 when allowed; when denied, `reason` receives the authorizer's reason. */
static int check(struct sim_server *srv, const struct sim_reqinfo *ri, const struct sim_attrs *at,
                 char *reason, size_t cap)
{
    struct sim_err ae;
    struct sim_record r;
    int allowed;
    sim_err_clear(&ae);
    allowed = sim_authorize(srv, ri->user, at, &ae);
    if (srv->admin) {
        memset(&r, 0, sizeof(r));
        r.user = ri->user->name;
        r.verb = at->verb;
        r.method = "";
        r.path = "";
        r.query = "";
        r.group = at->group;
        r.resource = at->resource;
        r.subresource = at->subresource;
        r.ns = at->ns;
        r.name = at->name;
        r.code = allowed ? 200 : 403;
        r.admission = SIM_GCADMIT_PLUGIN;
        sim_admin_record(srv->admin, &r);
    }
    if (!allowed)
        authorizer_reason(&ae, reason, cap);
    return allowed;
}

/* schema.ParseGroupVersion: "" and "/" are the empty version, "v1" the core
 * group, "g/v" a group; more slashes are an error. */
static int parse_gv(const char *av, char *group, size_t gcap, char *version, size_t vcap)
{
    const char *slash = strchr(av, '/');
    group[0] = version[0] = '\0';
    if (!*av || strcmp(av, "/") == 0)
        return 0;
    if (!slash) {
        sim_strlcpy(version, av, vcap);
        return 0;
    }
    if (strchr(slash + 1, '/'))
        return -1;
    snprintf(group, gcap, "%.*s", (int)(slash - av), av);
    sim_strlcpy(version, slash + 1, vcap);
    return 0;
}

/*
 * The RESTMapper's answer for group/version/kind: the distinct resources of
 * the served kinds (any version when `version` is empty). Returns how many,
 * or 0 with `err` worded as the mapper's error.
 */
static size_t map_kind(struct sim_server *srv, const char *group, const char *version,
                       const char *kind, char res[][128], char *err, size_t errcap)
{
    size_t n = 0, total = sim_kinds_count(srv->kinds);
    for (size_t i = 0; i < total && n < MAX_MAPPINGS; i++) {
        const struct sim_kind *k = sim_kinds_at(srv->kinds, i);
        size_t j;
        if (!k->served || strcmp(k->group, group) != 0 || strcmp(k->kind, kind) != 0 ||
            (*version && strcmp(k->version, version) != 0))
            continue;
        for (j = 0; j < n && strcmp(res[j], k->resource) != 0; j++)
            ;
        if (j == n)
            sim_strlcpy(res[n++], k->resource, sizeof(res[0]));
    }
    if (n == 0 && !*version)
        snprintf(err, errcap, "no matches for kind \"%s\" in group \"%s\"", kind, group);
    else if (n == 0 && !*group)
        snprintf(err, errcap, "no matches for kind \"%s\" in version \"%s\"", kind, version);
    else if (n == 0)
        snprintf(err, errcap, "no matches for kind \"%s\" in version \"%s/%s\"", kind, group,
                 version);
    return n;
}

/* admission.NewForbidden: the request's resource, the object's name. */
static int forbid(const struct sim_reqinfo *ri, const cJSON *obj, const char *why,
                  struct sim_err *e)
{
    const char *name = ri->name;
    if (!*name)
        name = sim_jstr(obj, "metadata", "name", NULL);
    if (!name || !*name)
        name = sim_jstr(obj, "metadata", "generateName", NULL);
    if (!name || !*name)
        name = "Unknown";
    return sim_err_forbidden(e, ri->group, ri->resource, name, why);
}

int sim_gcadmit(struct sim_server *srv, const struct sim_reqinfo *ri, const cJSON *obj,
                const cJSON *old, struct sim_err *e)
{
    struct sim_attrs at;
    const cJSON *ref;
    char reason[1024], why[2048];

    if (!srv->opt.rbac || !ri->user)
        return 0;
    /* The pods/status strategy keeps ownerReferences; old kubelets mangled
     * them, so the plugin leaves that endpoint alone. */
    if (!*ri->group && strcmp(ri->resource, "pods") == 0 && strcmp(ri->subresource, "status") == 0)
        return 0;
    if (!refs_changing(obj, old))
        return 0;
    memset(&at, 0, sizeof(at));
    at.resource_request = 1;
    at.path = "";
    /* Whoever creates an object could have not created it: only an update
     * needs the right to delete the object it hangs references on. */
    if (old) {
        at.verb = "delete";
        at.group = ri->group;
        at.resource = ri->resource;
        at.subresource = ri->subresource;
        at.ns = ri->ns;
        at.name = ri->name;
        if (!check(srv, ri, &at, reason, sizeof(reason))) {
            snprintf(why, sizeof(why), "%s: %s, <nil>", WHY_DELETE, reason);
            return forbid(ri, obj, why, e);
        }
    }
    cJSON_ArrayForEach(ref, owner_refs(obj))
    {
        char group[128], version[64], res[MAX_MAPPINGS][128], err[512];
        const char *av = ref_str(ref, "apiVersion"), *kind = ref_str(ref, "kind");
        size_t n;
        if (ref_bool(ref, "blockOwnerDeletion") != 1 || !newly_blocking(ref, old))
            continue;
        if (parse_gv(av, group, sizeof(group), version, sizeof(version)) != 0) {
            snprintf(err, sizeof(err), "unexpected GroupVersion string: %s", av);
            n = 0;
        } else {
            n = map_kind(srv, group, version, kind, res, err, sizeof(err));
        }
        if (n == 0) {
            snprintf(why, sizeof(why),
                     "cannot set blockOwnerDeletion in this case because cannot find "
                     "RESTMapping for APIVersion %s Kind %s: %s",
                     av, kind, err);
            return forbid(ri, obj, why, e);
        }
        /* The owner lives in the object's namespace (references never cross
         * namespaces), whatever the owner's scope. */
        for (size_t i = 0; i < n; i++) {
            at.verb = "update";
            at.group = group;
            at.resource = res[i];
            at.subresource = "finalizers";
            at.ns = ri->ns;
            at.name = ref_str(ref, "name");
            if (!check(srv, ri, &at, reason, sizeof(reason))) {
                snprintf(why, sizeof(why), "%s: %s, <nil>", WHY_FINALIZE, reason);
                return forbid(ri, obj, why, e);
            }
        }
    }
    return 0;
}
