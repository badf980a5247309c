/*
 * quay_composer: the restart-safe step function and the layer updates (see
 * quay_composer.h for the contract).
 *
 * A step is: read the record and the target; settle a `pending` intent left
 * by an earlier (possibly killed) step; check that the target still runs
 * what we applied (or adopt the user's change while nothing of ours is in
 * effect); render base + overlays; and then either confirm what is in
 * effect or write pending -> change the target -> record applied. Every
 * write of the record carries its resourceVersion; a conflict anywhere
 * restarts the step from the reads (a few times, then the caller requeues).
 */
#include "quay_composer.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "k8s_log.h"
#include "k8s_patch.h"
#include "quay_readonly_spec.h"

static const struct k8s_resource SECRETS = {"", "v1", "secrets", 1};

#define STEP_ATTEMPTS 5

const char *quay_phase_name(enum quay_phase p)
{
    switch (p) {
    case QUAY_PHASE_APPLIED:
        return "Applied";
    case QUAY_PHASE_PROGRESSING:
        return "Progressing";
    case QUAY_PHASE_CONFIRMED:
        return "Confirmed";
    case QUAY_PHASE_BLOCKED:
        return "Blocked";
    case QUAY_PHASE_CHANGED_EXTERNALLY:
        return "ChangedExternally";
    }
    return "";
}

static void result_set(struct quay_step_result *r, enum quay_phase p, const char *reason,
                       const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void result_set(struct quay_step_result *r, enum quay_phase p, const char *reason,
                       const char *fmt, ...)
{
    va_list ap;
    r->phase = p;
    snprintf(r->reason, sizeof(r->reason), "%s", reason ? reason : "");
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof(r->message), fmt, ap);
    va_end(ap);
}

static void now_rfc3339(char *buf, size_t cap)
{
    struct tm tm;
    time_t t = time(NULL);
    if (!gmtime_r(&t, &tm) || !strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(buf, cap, "%s", "");
}

/* ---- the record ------------------------------------------------------------------- */

/*
 * Reads the record and the target. Without a record, the target's current
 * configuration becomes the original (ops->adopt) and the record is created.
 * A record of an earlier object of the same name (another uid) is deleted
 * and K8S_ECONFLICT returned, so the caller starts again with a fresh one.
 * *adopt_rc receives adopt's failure (the target is not ready to be
 * recorded), which the step reports as an outcome rather than an error.
 */
static int load(struct k8s_client *c, const struct quay_target_ref *t,
                const struct quay_target_ops *ops, struct quay_state **out,
                struct quay_target_view *v, int *adopt_rc, struct k8s_error *err)
{
    int rc;
    struct quay_state *s = NULL;
    struct quay_owner owner;
    *out = NULL;
    if (adopt_rc)
        *adopt_rc = 0;
    rc = quay_state_get(c, t->kind, t->ns, t->name, &s, err);
    if (rc && rc != K8S_ENOTFOUND)
        return rc;
    if ((rc = ops->observe(c, t, v, err)))
        goto out;
    if (s) {
        if (s->uid[0] && v->uid[0] && strcmp(s->uid, v->uid) != 0) {
            k8s_log(K8S_LOG_INFO, t->ns, t->name,
                    "the state record belongs to an earlier object of this name: starting afresh",
                    NULL);
            if (!(rc = quay_state_delete(c, s, err)))
                rc = k8s_error_set(err, K8S_ECONFLICT, "stale state record deleted; start again");
            goto out;
        }
        *out = s;
        return 0;
    }
    if (!(s = quay_state_new(t->kind, t->ns, t->name, v->uid))) {
        rc = k8s_error_set(err, K8S_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = ops->adopt(c, t, v, s, err))) {
        if (adopt_rc)
            *adopt_rc = rc;
        goto out;
    }
    ops->owner(t, v, &owner);
    rc = quay_state_create(c, s, &owner, err);
    if (rc == K8S_EALREADYEXISTS)
        rc = k8s_error_set(err, K8S_ECONFLICT, "the state record was created concurrently");
    if (rc)
        goto out;
    k8s_log(K8S_LOG_INFO, t->ns, t->name, "recorded the target's original configuration",
            (const char *[]){"kind", quay_target_kind_name(t->kind), "original", s->original.name,
                             "dataSHA256", s->original.sha, NULL});
    *out = s;
    return 0;
out:
    quay_state_free(s);
    quay_target_view_clear(v);
    return rc;
}

/* Runs `fn` on the record with retries on conflicts. */
typedef int (*layer_fn)(struct k8s_client *c, const struct quay_target_ref *t,
                        const struct quay_target_ops *ops, struct quay_state *s,
                        const struct quay_target_view *v, const void *arg, struct k8s_error *err);

static int with_record(struct k8s_client *c, const struct quay_target_ref *t, layer_fn fn,
                       const void *arg, struct k8s_error *err)
{
    const struct quay_target_ops *ops = quay_target_ops_for(t->kind);
    int rc = K8S_EARG;
    if (!ops)
        return k8s_error_set(err, K8S_EARG, "unknown target kind");
    for (int attempt = 0; attempt < STEP_ATTEMPTS; attempt++) {
        struct quay_state *s = NULL;
        struct quay_target_view v;
        memset(&v, 0, sizeof(v));
        rc = load(c, t, ops, &s, &v, NULL, err);
        if (!rc) {
            rc = fn(c, t, ops, s, &v, arg, err);
            if (rc == 1)
                rc = 0; /* nothing to write */
            else if (!rc)
                rc = quay_state_update(c, s, err);
        }
        quay_state_free(s);
        quay_target_view_clear(&v);
        if (rc != K8S_ECONFLICT)
            break;
    }
    return rc;
}

static int put_overlay_fn(struct k8s_client *c, const struct quay_target_ref *t,
                          const struct quay_target_ops *ops, struct quay_state *s,
                          const struct quay_target_view *v, const void *arg, struct k8s_error *err)
{
    const struct quay_overlay *o = arg, *have = quay_state_find_overlay(s, o->window);
    cJSON *a = NULL, *b = NULL;
    (void)c;
    (void)t;
    (void)ops;
    (void)v;
    if (have) {
        /* Unchanged: no write (reconcilers call this on every pass). */
        int same = quay_overlay_to_json(have, &a, err) == 0 &&
                   quay_overlay_to_json(o, &b, err) == 0 && k8s_json_equal(a, b);
        cJSON_Delete(a);
        cJSON_Delete(b);
        if (same)
            return 1;
    }
    return quay_state_put_overlay(s, o, err);
}

int quay_composer_set_overlay(struct k8s_client *c, const struct quay_target_ref *t,
                              const struct quay_overlay *o, struct k8s_error *err)
{
    return with_record(c, t, put_overlay_fn, o, err);
}

struct remove_arg {
    const char *window;
    int *removed;
};

static int remove_overlay_fn(struct k8s_client *c, const struct quay_target_ref *t,
                             const struct quay_target_ops *ops, struct quay_state *s,
                             const struct quay_target_view *v, const void *arg,
                             struct k8s_error *err)
{
    const struct remove_arg *ra = arg;
    (void)c;
    (void)t;
    (void)ops;
    (void)v;
    (void)err;
    int removed = quay_state_remove_overlay(s, ra->window);
    if (ra->removed)
        *ra->removed = removed;
    return removed ? 0 : 1;
}

int quay_composer_remove_overlay(struct k8s_client *c, const struct quay_target_ref *t,
                                 const char *window, int *removed, struct k8s_error *err)
{
    struct remove_arg ra = {window, removed};
    if (removed)
        *removed = 0;
    return with_record(c, t, remove_overlay_fn, &ra, err);
}

/* Reads and checks a bundle Secret the record names by sha: *changed is
 * set (and *out NULL) when its data no longer has that sha. */
static int read_recorded(struct k8s_client *c, const struct quay_target_ref *t,
                         const struct quay_state *s, const char *name, const char *sha,
                         struct quay_bundle **out, int *changed, struct k8s_error *err)
{
    char have[65];
    *changed = 0;
    int rc =
        quay__secret_read(c, t->ns, name, quay_target_flavor(t),
                          t->kind == QUAY_TARGET_STANDALONE ? s->config_key : NULL, out, NULL, err);
    if (rc)
        return rc;
    quay__bundle_sha(*out, have);
    if (strcmp(have, sha) != 0) {
        *changed = 1;
        quay_bundle_free(*out);
        *out = NULL;
    }
    return 0;
}

/* The Secret the original's data lives in: QuayRegistry its own, a
 * StandaloneQuay's the backup (the config Secret is edited in place). */
static const char *original_secret(const struct quay_target_ref *t, const struct quay_state *s)
{
    return t->kind == QUAY_TARGET_STANDALONE ? s->backup : s->original.name;
}

static int set_base_fn(struct k8s_client *c, const struct quay_target_ref *t,
                       const struct quay_target_ops *ops, struct quay_state *s,
                       const struct quay_target_view *v, const void *arg, struct k8s_error *err)
{
    const struct quay_bundle *base = arg;
    char sha[65], name[QUAY_NAME_MAX + 1];
    struct quay_bundle *orig = NULL;
    struct quay_owner owner;
    struct quay_confirm refusal;
    int rc, changed;
    if (base)
        quay__bundle_sha(base, sha);
    if (!base || strcmp(sha, s->original.sha) == 0) {
        if (s->base.is_original)
            return 1;
        snprintf(s->base.name, sizeof(s->base.name), "%s", original_secret(t, s));
        snprintf(s->base.sha, sizeof(s->base.sha), "%s", s->original.sha);
        s->base.is_original = 1;
        return 0;
    }
    if (!s->base.is_original && strcmp(s->base.sha, sha) == 0)
        return 1;
    if (base->flavor != quay_target_flavor(t) ||
        (t->kind == QUAY_TARGET_STANDALONE && strcmp(base->config_key, s->config_key) != 0))
        return k8s_error_set(err, K8S_EARG,
                             "the base bundle's flavor or config key does not match the target");
    if ((rc = read_recorded(c, t, s, original_secret(t, s), s->original.sha, &orig, &changed, err)))
        return rc;
    if (changed)
        return k8s_error_set(err, K8S_ECONFLICT,
                             "the original bundle Secret %s changed since it was recorded; "
                             "resolve that before setting a new base",
                             original_secret(t, s));
    memset(&refusal, 0, sizeof(refusal));
    rc = quay_target_storage_change_refused(
        t, v->components ? v->components : s->original.components, base, orig, &refusal, err);
    quay_bundle_free(orig);
    if (rc)
        return rc;
    if (refusal.status == QUAY_CONFIRM_BLOCKED)
        return k8s_error_set(err, K8S_EINVALID, "%s", refusal.message);
    /* <target>-qso-base-<10 hex>: 20 characters after the name. */
    snprintf(name, sizeof(name), "%.*s-qso-base-%.10s", QUAY_NAME_MAX - 20, t->name, sha);
    ops->owner(t, v, &owner);
    if ((rc = quay__secret_ensure(c, t->ns, name, QUAY_ROLE_BASE, &owner, base, 1, err)))
        return rc;
    snprintf(s->base.name, sizeof(s->base.name), "%s", name);
    snprintf(s->base.sha, sizeof(s->base.sha), "%s", sha);
    s->base.is_original = 0;
    k8s_log(K8S_LOG_INFO, t->ns, t->name, "set a new base configuration",
            (const char *[]){"base", name, "dataSHA256", sha, NULL});
    return 0;
}

int quay_composer_set_base(struct k8s_client *c, const struct quay_target_ref *t,
                           const struct quay_bundle *base, struct k8s_error *err)
{
    return with_record(c, t, set_base_fn, base, err);
}

int quay_composer_read_state(struct k8s_client *c, const struct quay_target_ref *t,
                             struct quay_state **out, struct k8s_error *err)
{
    return quay_state_get(c, t->kind, t->ns, t->name, out, err);
}

/* ---- the step ---------------------------------------------------------------------- */

/* Nothing of ours is in effect: the target runs the recorded original. */
static int idle(const struct quay_state *s)
{
    return !s->pending.present && s->base.is_original && s->applied.present &&
           strcmp(s->applied.name, s->original.name) == 0 &&
           strcmp(s->applied.sha, s->original.sha) == 0 &&
           !s->applied.components == !s->original.components &&
           k8s_json_equal(s->applied.components, s->original.components) && !s->applied.replicas &&
           !s->scaled_from;
}

static void changed_externally(const struct quay_target_ref *t, const struct quay_state *s,
                               const struct quay_target_view *v, struct quay_step_result *res)
{
    if (t->kind == QUAY_TARGET_QUAYREGISTRY)
        result_set(res, QUAY_PHASE_CHANGED_EXTERNALLY, QUAY_REASON_CHANGED_EXTERNALLY,
                   "QuayRegistry %s/%s references Secret \"%s\" (or has spec.components) other "
                   "than what quay-storage-operator applied (\"%s\"): someone else changed it, "
                   "e.g. a GitOps tool restoring its copy. The operator will not fight it. With "
                   "Argo CD, add ignoreDifferences for /spec/configBundleSecret and "
                   "/spec/components of this QuayRegistry; then point it back at \"%s\", or run "
                   "`quay-storage-operator restore --target %s/%s` to return to the original "
                   "\"%s\"",
                   t->ns, t->name, v->ref_name, s->applied.name, s->applied.name, t->ns, t->name,
                   s->original.name);
    else
        result_set(res, QUAY_PHASE_CHANGED_EXTERNALLY, QUAY_REASON_CHANGED_EXTERNALLY,
                   "config Secret %s/%s (or its Deployments' replicas) no longer holds what "
                   "quay-storage-operator applied: someone else changed it. The operator will "
                   "not fight it; run `quay-storage-operator restore --target %s/%s --kind "
                   "StandaloneQuay` to return to the original (backup \"%s\")",
                   t->ns, t->name, t->ns, t->name, s->backup);
}

/* Removes our rendered and base Secrets of this target that nothing in the
 * record references. Runs only after a confirmed rollout. */
static int cleanup(struct k8s_client *c, const struct quay_target_ref *t,
                   const struct quay_state *s, const char *owner_uid, int *cleaned,
                   struct k8s_error *err)
{
    cJSON *list = NULL;
    const cJSON *it;
    struct k8s_opts o = {.label_selector = QUAY_LABEL_MANAGED_BY "=" QUAY_MANAGED_BY};
    int rc = k8s_list(c, &SECRETS, t->ns, &o, &list, err);
    if (rc)
        return rc;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(list, "items"))
    {
        const cJSON *md = cJSON_GetObjectItemCaseSensitive(it, "metadata");
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "name"));
        const char *uid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "uid"));
        if (!name || !quay_object_owned_by(it, owner_uid) ||
            !(quay_secret_has_role(it, QUAY_ROLE_RENDERED) ||
              quay_secret_has_role(it, QUAY_ROLE_BASE)))
            continue;
        if (!strcmp(name, s->applied.name) ||
            (s->pending.present && !strcmp(name, s->pending.name)) || !strcmp(name, s->base.name) ||
            !strcmp(name, s->original.name))
            continue;
        struct k8s_delete_opts d = {.precondition_uid = uid, .grace_period_seconds = -1};
        rc = k8s_delete(c, &SECRETS, t->ns, name, &d, NULL, NULL, err);
        if (rc == K8S_ENOTFOUND || rc == K8S_ECONFLICT) {
            rc = 0;
            continue;
        }
        if (rc)
            break;
        (*cleaned)++;
        k8s_log(K8S_LOG_INFO, t->ns, t->name, "deleted a config bundle Secret no longer referenced",
                (const char *[]){"secret", name, NULL});
    }
    cJSON_Delete(list);
    return rc;
}

static int step_once(struct k8s_client *c, const struct quay_target_ref *t,
                     const struct quay_step_opts *opts, struct quay_step_result *res,
                     struct k8s_error *err)
{
    const struct quay_target_ops *ops = quay_target_ops_for(t->kind);
    struct quay_state *s = NULL;
    struct quay_target_view v;
    struct quay_bundle *base = NULL, *orig = NULL;
    struct quay_render render;
    struct quay_state_config d;
    struct quay_confirm conf;
    int rc, adopt_rc = 0, m, changed;
    long long gen = 0;
    char sname[QUAY_NAME_MAX + 1];

    memset(res, 0, sizeof(*res));
    memset(&v, 0, sizeof(v));
    memset(&render, 0, sizeof(render));
    memset(&d, 0, sizeof(d));
    memset(&conf, 0, sizeof(conf));
    if (!ops)
        return k8s_error_set(err, K8S_EARG, "unknown target kind");
    rc = load(c, t, ops, &s, &v, &adopt_rc, err);
    if (rc && adopt_rc) {
        /* The target cannot be recorded yet (no bundle; a dangling or
         * rendered reference): an outcome to report, not an API failure. */
        result_set(res, QUAY_PHASE_BLOCKED,
                   adopt_rc == K8S_ENOTFOUND ? "TargetNotReady" : "StateRecordMissing", "%s",
                   err->message);
        return 0;
    }
    if (rc)
        return rc;
    snprintf(res->original_name, sizeof(res->original_name), "%s", s->original.name);
    snprintf(res->original_sha, sizeof(res->original_sha), "%s", s->original.sha);

    if (s->restored.present) {
        quay_state_name(t->kind, t->name, sname, sizeof(sname), NULL);
        result_set(res, QUAY_PHASE_BLOCKED, QUAY_REASON_RESTORED,
                   "the original configuration was restored by hand (%s at %s); the operator "
                   "leaves the target alone until Secret %s/%s is deleted",
                   s->restored.by, s->restored.time, t->ns, sname);
        goto out;
    }

    /* 1. An intent left by an earlier step: did its change land? */
    if (s->pending.present) {
        if (ops->matches(t, &v, &s->pending)) {
            quay_state_config_clear(&s->applied);
            s->applied = s->pending;
            memset(&s->pending, 0, sizeof(s->pending));
            s->applied.confirmed = 0;
            if (!s->applied.target_generation)
                s->applied.target_generation = v.generation;
            /* When exactly it landed is unknown: now is late enough not to
             * take an older refusal for one of this change. */
            s->applied.applied_at = (long long)time(NULL);
            if ((rc = quay_state_update(c, s, err)))
                goto out;
        } else if (!ops->matches(t, &v, &s->applied)) {
            changed_externally(t, s, &v, res);
            goto out;
        } else {
            /* The change never landed: forget it; what is desired now is
             * applied below (reusing a rendered Secret already created). */
            quay_state_config_clear(&s->pending);
            if ((rc = quay_state_update(c, s, err)))
                goto out;
        }
    }

    /* 2. Does the target still run what we applied? */
    m = ops->matches(t, &v, &s->applied);
    if (m == 0 || (m == 1 && s->applied.confirmed)) {
        if (!idle(s) && s->noverlays == 0 && s->base.is_original && !s->scaled_from &&
            ops->matches(t, &v, &s->original) == 2) {
            /* Someone already put the original back and nothing of ours is
             * wanted any more: that is what this step would do. Take it as
             * applied (then confirm as usual) rather than as a conflict. */
            quay_state_config_clear(&s->applied);
            if ((rc = quay_state_config_copy(&s->applied, &s->original))) {
                k8s_error_set(err, rc, "out of memory");
                goto out;
            }
            s->applied.present = 1;
            s->applied.confirmed = 0;
            s->applied.target_generation = v.generation;
            s->applied.applied_at = (long long)time(NULL);
            if ((rc = quay_state_update(c, s, err)))
                goto out;
            m = 2;
        } else if (!idle(s)) {
            changed_externally(t, s, &v, res);
            goto out;
        }
    }
    if (m == 0 || (m == 1 && s->applied.confirmed)) {
        /* Nothing of ours was in effect: this is the user's own change. */
        if ((rc = ops->adopt(c, t, &v, s, err))) {
            result_set(res, QUAY_PHASE_BLOCKED,
                       rc == K8S_ENOTFOUND ? "TargetNotReady" : "StateRecordMissing", "%s",
                       err->message);
            rc = 0;
            goto out;
        }
        if ((rc = quay_state_update(c, s, err)))
            goto out;
        res->adopted = 1;
        snprintf(res->original_name, sizeof(res->original_name), "%s", s->original.name);
        snprintf(res->original_sha, sizeof(res->original_sha), "%s", s->original.sha);
        k8s_log(
            K8S_LOG_INFO, t->ns, t->name, "adopted the user's change as the new original",
            (const char *[]){"original", s->original.name, "dataSHA256", s->original.sha, NULL});
        m = 2;
    }

    /* 3. Render base + overlays. */
    if ((rc = read_recorded(c, t, s, s->base.name, s->base.sha, &base, &changed, err)) || changed) {
        if (rc == K8S_ENOTFOUND || changed) {
            result_set(res, QUAY_PHASE_CHANGED_EXTERNALLY, QUAY_REASON_CHANGED_EXTERNALLY,
                       "the %s bundle Secret %s/%s was %s since quay-storage-operator recorded "
                       "it; the operator will not build on it. Put it back, or run "
                       "`quay-storage-operator restore --target %s/%s` and start again",
                       s->base.is_original ? "original" : "base", t->ns, s->base.name,
                       rc ? "deleted" : "edited", t->ns, t->name);
            rc = 0;
        }
        goto out;
    }
    if (s->base.is_original) {
        orig = base;
    } else if ((rc = read_recorded(c, t, s, original_secret(t, s), s->original.sha, &orig, &changed,
                                   err)) ||
               changed) {
        if (rc == K8S_ENOTFOUND || changed) {
            result_set(res, QUAY_PHASE_CHANGED_EXTERNALLY, QUAY_REASON_CHANGED_EXTERNALLY,
                       "the original bundle Secret %s/%s was %s while quay-storage-operator's "
                       "changes are in effect; put it back as it was",
                       t->ns, original_secret(t, s), rc ? "deleted" : "edited");
            rc = 0;
        }
        goto out;
    }
    rc = quay_compose(base, (const struct quay_overlay *const *)s->overlays, s->noverlays, &render,
                      err);
    if (rc) {
        if (rc == K8S_ENOMEM)
            goto out;
        result_set(res, QUAY_PHASE_BLOCKED, "RenderFailed",
                   "cannot apply the active windows to the bundle: %s", err->message);
        rc = 0;
        goto out;
    }
    res->effective_mode = render.effective_mode;
    snprintf(res->mode_window, sizeof(res->mode_window), "%s", render.mode_window);
    res->config_mode = render.config_mode;
    res->scale_down_components = render.scale_down_components;
    if ((rc = ops->desire(t, s, &v, &render, base, orig, &d, &conf, err)))
        goto out;
    if (conf.status == QUAY_CONFIRM_BLOCKED) {
        result_set(res, QUAY_PHASE_BLOCKED, conf.reason, "%s", conf.message);
        goto out;
    }
    snprintf(res->applied_name, sizeof(res->applied_name), "%s", d.name);
    snprintf(res->applied_sha, sizeof(res->applied_sha), "%s", d.sha);

    /* 4. Already in effect: confirm, then clean up. */
    if (quay_state_config_same(&s->applied, &d) && m == 2) {
        d.applied_at = s->applied.applied_at;
        if ((rc = ops->confirm(c, t, &d, render.bundle, &v, &conf, err)))
            goto out;
        if (conf.status == QUAY_CONFIRM_WAITING) {
            result_set(res, QUAY_PHASE_PROGRESSING, conf.reason, "%s", conf.message);
            goto out;
        }
        if (conf.status == QUAY_CONFIRM_BLOCKED) {
            result_set(res, QUAY_PHASE_BLOCKED, conf.reason, "%s", conf.message);
            goto out;
        }
        int write = !s->applied.confirmed;
        s->applied.confirmed = 1;
        if (s->scaled_from && !render.scale_down_components) {
            /* The replicas are back: forget them, and stop managing them. */
            cJSON_Delete(s->scaled_from);
            s->scaled_from = NULL;
            cJSON_Delete(s->applied.replicas);
            s->applied.replicas = NULL;
            write = 1;
        }
        if (write && (rc = quay_state_update(c, s, err)))
            goto out;
        if ((rc = cleanup(c, t, s, v.uid, &res->cleaned, err)))
            goto out;
        result_set(res, QUAY_PHASE_CONFIRMED, "", "%s runs the configuration %s (sha256 %.12s)",
                   t->name, d.name, d.sha);
        goto out;
    }

    /* 5. Apply: intent first, then the target, then the record. */
    if ((rc = ops->prepare(c, t, &v, &d, render.bundle, err)))
        goto out;
    if (t->kind == QUAY_TARGET_STANDALONE && render.scale_down_components && !s->scaled_from &&
        !(s->scaled_from = cJSON_Duplicate(v.replicas, 1))) {
        rc = k8s_error_set(err, K8S_ENOMEM, "out of memory");
        goto out;
    }
    quay_state_config_clear(&s->pending);
    if (quay_state_config_copy(&s->pending, &d)) {
        rc = k8s_error_set(err, K8S_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = quay_state_update(c, s, err)))
        goto out;
    if (opts && opts->crash == QUAY_CRASH_AFTER_PENDING) {
        result_set(res, QUAY_PHASE_PROGRESSING, "SimulatedCrash", "stopped after the intent");
        goto out;
    }
    if ((rc = ops->apply(c, t, &v, &d, render.bundle, &gen, err))) {
        if (rc == K8S_EINVALID) {
            /* Refused as such (an immutable config Secret, a schema rule):
             * retrying the same change cannot help. */
            result_set(res, QUAY_PHASE_BLOCKED, "ChangeRefused", "%s", err->message);
            rc = 0;
        }
        goto out;
    }
    if (opts && opts->crash == QUAY_CRASH_AFTER_APPLY) {
        result_set(res, QUAY_PHASE_PROGRESSING, "SimulatedCrash", "stopped after the change");
        goto out;
    }
    quay_state_config_clear(&s->applied);
    s->applied = s->pending;
    memset(&s->pending, 0, sizeof(s->pending));
    s->applied.target_generation = gen;
    s->applied.applied_at = (long long)time(NULL);
    s->applied.confirmed = 0;
    if ((rc = quay_state_update(c, s, err)))
        goto out;
    result_set(res, QUAY_PHASE_APPLIED, "ConfigurationApplied",
               "%s now references %s (sha256 %.12s); waiting for its rollout", t->name, d.name,
               d.sha);
out:
    quay_state_config_clear(&d);
    quay_render_clear(&render);
    if (orig != base)
        quay_bundle_free(orig);
    quay_bundle_free(base);
    quay_target_view_clear(&v);
    quay_state_free(s);
    return rc;
}

int quay_composer_step(struct k8s_client *c, const struct quay_target_ref *t,
                       const struct quay_step_opts *opts, struct quay_step_result *res,
                       struct k8s_error *err)
{
    int rc = 0;
    for (int attempt = 0; attempt < STEP_ATTEMPTS; attempt++) {
        rc = step_once(c, t, opts, res, err);
        if (rc != K8S_ECONFLICT)
            break;
    }
    return rc;
}

/* ---- break-glass ------------------------------------------------------------------------- */

/*
 * The StandaloneQuay target a restore works on: the Deployments the CLI named
 * or, when it named none, those the record lists; minus those deleted since
 * (nothing to restart or scale: skipped and reported in `missing`).
 */
static int restore_target(struct k8s_client *c, const struct quay_target_ref *t,
                          const struct quay_state *s, struct quay_target_ref *out, char *missing,
                          size_t cap, struct k8s_error *err)
{
    static const struct k8s_resource deployments = {"apps", "v1", "deployments", 1};
    struct quay_target_ref all = *t;
    size_t off = 0;
    missing[0] = '\0';
    if (all.ndeployments == 0 && s->ndeployments > 0) {
        all.ndeployments = s->ndeployments;
        for (size_t i = 0; i < s->ndeployments; i++)
            snprintf(all.deployments[i], sizeof(all.deployments[i]), "%s", s->deployments[i]);
        if (s->config_key[0])
            snprintf(all.config_key, sizeof(all.config_key), "%s", s->config_key);
    }
    *out = all;
    out->ndeployments = 0;
    for (size_t i = 0; i < all.ndeployments; i++) {
        cJSON *dep = NULL;
        int rc = k8s_get(c, &deployments, t->ns, all.deployments[i], NULL, &dep, err);
        cJSON_Delete(dep);
        if (rc == K8S_ENOTFOUND) {
            if (off < cap)
                off += (size_t)snprintf(missing + off, cap - off, "%s%s", off ? ", " : "",
                                        all.deployments[i]);
            continue;
        }
        if (rc)
            return rc;
        snprintf(out->deployments[out->ndeployments++], sizeof(out->deployments[0]), "%s",
                 all.deployments[i]);
    }
    return 0;
}

static int restore_once(struct k8s_client *c, const struct quay_target_ref *target, int force,
                        const char *by, struct quay_restore_report *rep, struct k8s_error *err)
{
    const struct quay_target_ref *t = target;
    const struct quay_target_ops *ops = quay_target_ops_for(t->kind);
    struct quay_target_ref *st = NULL;
    struct quay_state *s = NULL;
    struct quay_target_view v;
    struct quay_bundle *orig = NULL;
    struct quay_state_config d;
    char have[65];
    long long gen = 0;
    int rc;
    memset(&v, 0, sizeof(v));
    memset(&d, 0, sizeof(d));
    memset(rep, 0, sizeof(*rep));
    if (!ops)
        return k8s_error_set(err, K8S_EARG, "unknown target kind");
    rc = quay_state_get(c, t->kind, t->ns, t->name, &s, err);
    rep->no_record = rc == K8S_ENOTFOUND;
    if (rc == K8S_ENOTFOUND)
        return k8s_error_set(err, rc,
                             "%s %s/%s has no quay-storage-operator state record: the operator "
                             "never changed its configuration, there is nothing to restore",
                             quay_target_kind_name(t->kind), t->ns, t->name);
    if (rc)
        return rc;
    if (t->kind == QUAY_TARGET_STANDALONE) {
        if (!(st = malloc(sizeof(*st)))) {
            rc = k8s_error_set(err, K8S_ENOMEM, "out of memory");
            goto out;
        }
        if ((rc = restore_target(c, t, s, st, rep->deployments_missing,
                                 sizeof(rep->deployments_missing), err)))
            goto out;
        t = st;
    }
    if ((rc = ops->observe(c, t, &v, err)))
        goto out;
    rc = quay__secret_read(c, t->ns, original_secret(t, s), quay_target_flavor(t),
                           t->kind == QUAY_TARGET_STANDALONE ? s->config_key : NULL, &orig, NULL,
                           err);
    if (rc == K8S_ENOTFOUND)
        rc = k8s_error_set(err, rc,
                           "the original bundle Secret %s/%s no longer exists: nothing to restore "
                           "from",
                           t->ns, original_secret(t, s));
    if (rc)
        goto out;
    quay__bundle_sha(orig, have);
    snprintf(rep->original_name, sizeof(rep->original_name), "%s", s->original.name);
    snprintf(rep->original_sha, sizeof(rep->original_sha), "%s", s->original.sha);
    snprintf(rep->previous_name, sizeof(rep->previous_name), "%s", v.ref_name);
    snprintf(rep->previous_sha, sizeof(rep->previous_sha), "%s", v.ref_sha);
    rep->overlays_kept = s->noverlays;
    if (strcmp(have, s->original.sha) != 0) {
        if (!force) {
            rep->needs_force = 1;
            rc = k8s_error_set(err, K8S_EINVALID,
                               "the original bundle Secret %s/%s changed since it was recorded "
                               "(sha256 %.12s recorded, %.12s now): putting it back would not "
                               "restore what ran before. Check its data, then run again with "
                               "--force to restore it as it is now",
                               t->ns, original_secret(t, s), s->original.sha, have);
            goto out;
        }
        rep->forced = 1;
    }

    /* Mark the record first: a running operator stops changing the target. */
    if (!s->restored.present) {
        s->restored.present = 1;
        now_rfc3339(s->restored.time, sizeof(s->restored.time));
        snprintf(s->restored.by, sizeof(s->restored.by), "%s", by ? by : "restore");
        snprintf(s->restored.previous, sizeof(s->restored.previous), "%s", v.ref_name);
        if ((rc = quay_state_update(c, s, err)))
            goto out;
    }
    rep->record_marked = 1;

    d.present = 1;
    snprintf(d.name, sizeof(d.name), "%s", s->original.name);
    snprintf(d.sha, sizeof(d.sha), "%s", have);
    if (s->original.components && !(d.components = cJSON_Duplicate(s->original.components, 1))) {
        rc = k8s_error_set(err, K8S_ENOMEM, "out of memory");
        goto out;
    }
    if (t->kind == QUAY_TARGET_STANDALONE) {
        /* Restart the pods so they read the original, and give the
         * Deployments back the replicas a ScaleDown took. */
        d.restart = 1;
        if (s->scaled_from && !(d.replicas = cJSON_Duplicate(s->scaled_from, 1))) {
            rc = k8s_error_set(err, K8S_ENOMEM, "out of memory");
            goto out;
        }
        rep->data_restored = strcmp(v.ref_sha, have) != 0;
        rep->deployments_scaled = 0;
        for (size_t i = 0; d.replicas && i < t->ndeployments; i++)
            rep->deployments_scaled +=
                cJSON_GetObjectItemCaseSensitive(d.replicas, t->deployments[i]) != NULL;
    } else {
        rep->components_restored =
            !v.components != !d.components || !k8s_json_equal(v.components, d.components);
        rep->components_absent = !d.components;
    }
    if ((rc = ops->apply(c, t, &v, &d, orig, &gen, err)))
        goto out;

    quay_state_config_clear(&s->pending);
    quay_state_config_clear(&s->applied);
    s->applied = d;
    memset(&d, 0, sizeof(d));
    s->applied.target_generation = gen;
    s->applied.applied_at = (long long)time(NULL);
    cJSON_Delete(s->scaled_from);
    s->scaled_from = NULL;
    rc = quay_state_update(c, s, err);
    if (rc == K8S_ECONFLICT) {
        /* The target is restored; only the record's bookkeeping raced. The
         * retry re-reads and finds the target as restored (no change). */
        goto out;
    }
    if (!rc)
        k8s_log(K8S_LOG_INFO, t->ns, t->name, "restored the original configuration",
                (const char *[]){"original", s->original.name, "dataSHA256", have, NULL});
out:
    quay_state_config_clear(&d);
    quay_bundle_free(orig);
    quay_target_view_clear(&v);
    quay_state_free(s);
    free(st);
    return rc;
}

int quay_composer_restore(struct k8s_client *c, const struct quay_target_ref *t, int force,
                          const char *by, struct quay_restore_report *rep, struct k8s_error *err)
{
    int rc = 0;
    struct quay_restore_report first;
    int have_first = 0;
    for (int attempt = 0; attempt < STEP_ATTEMPTS; attempt++) {
        rc = restore_once(c, t, force, by, rep, err);
        if (!have_first && rep->original_name[0]) {
            /* Report what the target referenced before the FIRST attempt. */
            first = *rep;
            have_first = 1;
        }
        if (rc != K8S_ECONFLICT)
            break;
    }
    if (!rc && have_first) {
        snprintf(rep->previous_name, sizeof(rep->previous_name), "%s", first.previous_name);
        snprintf(rep->previous_sha, sizeof(rep->previous_sha), "%s", first.previous_sha);
        rep->components_restored |= first.components_restored;
        rep->data_restored |= first.data_restored;
        if (!rep->deployments_scaled)
            rep->deployments_scaled = first.deployments_scaled;
    }
    if (rc == K8S_ECONFLICT)
        rc = k8s_error_set(err, rc,
                           "%s %s/%s kept changing while restore ran (%d attempts); run restore "
                           "again",
                           quay_target_kind_name(t->kind), t->ns, t->name, STEP_ATTEMPTS);
    if (t->kind != QUAY_TARGET_QUAYREGISTRY || rep->needs_force)
        return rc; /* a refusal that asks for --force changes nothing */
    /* spec.readOnly is held beside the composer's record: released on its
     * own, whatever became of the rest (break glass must not leave the
     * registry read-only because, say, the original bundle is gone). */
    struct k8s_error rerr;
    int rrc = 0;
    k8s_error_clear(&rerr);
    for (int attempt = 0; attempt < STEP_ATTEMPTS; attempt++) {
        rrc = quay_ro_spec_release_by_hand(c, t->ns, t->name, by, rep->readonly_released,
                                           sizeof(rep->readonly_released), rep->readonly_previous,
                                           sizeof(rep->readonly_previous), &rerr);
        if (rrc != K8S_ECONFLICT)
            break;
    }
    if (rrc == K8S_ENOTFOUND)
        rrc = 0; /* no registry: nothing holds it */
    if (rrc == K8S_ECONFLICT)
        k8s_error_set(&rerr, rrc,
                      "QuayRegistry %s/%s kept changing while restore ran (%d attempts); run "
                      "restore again",
                      t->ns, t->name, STEP_ATTEMPTS);
    if (rrc) {
        rep->readonly_rc = rrc;
        snprintf(rep->readonly_error, sizeof(rep->readonly_error), "%s", rerr.message);
    }
    if (!rc || (rc == K8S_ENOTFOUND && rep->no_record)) {
        if (rrc) {
            if (err)
                *err = rerr;
            k8s_error_prefix(err, "%s",
                             rc ? "could not release spec.readOnly"
                                : "the configuration was restored, but spec.readOnly "
                                  "could not be released");
            return rrc;
        }
        if (rc && rep->readonly_released[0])
            return 0; /* nothing else of ours was there: releasing it was the restore */
    }
    return rc;
}
