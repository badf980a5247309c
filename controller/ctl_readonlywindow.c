/*
 * The readonlywindows reconciler: registration (informers, event mapping to
 * TARGET keys, metrics) and the reconcile of one target — every window of
 * it planned, overlays put and removed through the composer, one step, and
 * every window's status written from what the target confirmed. See
 * ctl_readonlywindow.h for the design; the per-window rules are in
 * ctl_readonlywindow_win.c, the service keys in ctl_readonlywindow_key.c.
 *
 * Ordering rules that keep a registry from ever running weaker than its
 * strongest active window:
 *   - a ReadOnly overlay is put only after its key's registration Job
 *     succeeded (the composer renders config and component overrides in
 *     one change, so ScaleDown's replicas come back with the read-only
 *     configuration already in the same rollout);
 *   - while any window of the target is still making or registering its
 *     key, no overlay is removed: a ScaleDown ending at that moment waits,
 *     instead of bringing pods back before the read-only config exists;
 *   - a window's overlay is set only once the window carries our
 *     finalizer, so deleting it can never strand its change.
 */
#include "ctl_readonlywindow.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_mapper.h"
#include "ctl_readonlywindow_int.h"
#include "k8s_log.h"
#include "quay_readonly_spec.h"
#include "quay_target.h"

static const struct k8s_resource QUAYREGISTRIES = {"quay.redhat.com", "v1", "quayregistries", 1};
static const struct k8s_resource DEPLOYMENTS = {"apps", "v1", "deployments", 1};
static const struct k8s_resource JOBS = {"batch", "v1", "jobs", 1};
static const struct k8s_resource SECRETS = {"", "v1", "secrets", 1};

static const cJSON *jget(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static const char *jstr(const cJSON *o, const char *k)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

/* ---- event mapping (informer threads: cache reads and enqueues only) ---------------------- */

/* Whether a cached window of `ns` targets `key`. */
static int targeted(struct ctl_rw *r, const char *ns, const char *key)
{
    cJSON *list = ctl_informer_list(r->windows, ns, NULL, NULL), *w;
    char k[RW_KEY_MAX];
    int found = 0;
    cJSON_ArrayForEach(w, list)
    {
        struct k8s_error err;
        if (ctl_rw__target_key(w, k, sizeof(k), NULL, &err) == 0 && strcmp(k, key) == 0) {
            found = 1;
            break;
        }
    }
    cJSON_Delete(list);
    return found;
}

static void enqueue_if_targeted(struct ctl_rw *r, const char *kind, const char *ns,
                                const char *name)
{
    char key[RW_KEY_MAX];
    if (ns && name && ctl_wq_key(key, sizeof(key), kind, ns, name) == 0 && targeted(r, ns, key))
        ctl_manager_enqueue(r->m, key);
}

static void map_window(struct ctl_manager *m, const cJSON *obj, void *user)
{
    char key[RW_KEY_MAX];
    struct k8s_error err;
    const cJSON *md = jget(obj, "metadata");
    (void)user;
    if (ctl_rw__target_key(obj, key, sizeof(key), NULL, &err) == 0 ||
        ctl_wq_key(key, sizeof(key), CTL_RW_KIND_WINDOW, jstr(md, "namespace"), jstr(md, "name")) ==
            0)
        ctl_manager_enqueue(m, key);
}

static void map_registry(struct ctl_manager *m, const cJSON *obj, void *user)
{
    const cJSON *md = jget(obj, "metadata");
    (void)m;
    enqueue_if_targeted(user, CTL_RW_KIND_QR, jstr(md, "namespace"), jstr(md, "name"));
}

/* A Deployment: its QuayRegistry (owner), or the StandaloneQuay targets
 * whose windows list it. */
static void map_deployment(struct ctl_manager *m, const cJSON *obj, void *user)
{
    struct ctl_rw *r = user;
    const cJSON *md = jget(obj, "metadata"), *ref, *w, *d;
    const char *ns = jstr(md, "namespace"), *name = jstr(md, "name");
    (void)m;
    if (!ns || !name)
        return;
    cJSON_ArrayForEach(ref, jget(md, "ownerReferences"))
    {
        const char *k = jstr(ref, "kind");
        if (k && strcmp(k, "QuayRegistry") == 0)
            enqueue_if_targeted(r, CTL_RW_KIND_QR, ns, jstr(ref, "name"));
    }
    cJSON *list = ctl_informer_list(r->windows, ns, NULL, NULL);
    cJSON_ArrayForEach(w, list)
    {
        const cJSON *sq = jget(jget(jget(w, "spec"), "target"), "standaloneQuay");
        cJSON_ArrayForEach(d, jget(sq, "deployments"))
        {
            char key[RW_KEY_MAX];
            struct k8s_error err;
            if (cJSON_IsString(d) && strcmp(d->valuestring, name) == 0 &&
                ctl_rw__target_key(w, key, sizeof(key), NULL, &err) == 0)
                ctl_manager_enqueue(r->m, key);
        }
    }
    cJSON_Delete(list);
}

/* A service-key Job: the target of the window that owns it. */
static void map_job(struct ctl_manager *m, const cJSON *obj, void *user)
{
    struct ctl_rw *r = user;
    const cJSON *md = jget(obj, "metadata"), *ref;
    (void)m;
    cJSON_ArrayForEach(ref, jget(md, "ownerReferences"))
    {
        const char *k = jstr(ref, "kind"), *n = jstr(ref, "name");
        if (!k || strcmp(k, RW_KIND) != 0 || !n)
            continue;
        cJSON *w = ctl_informer_get(r->windows, jstr(md, "namespace"), n);
        if (w)
            map_window(r->m, w, r);
        cJSON_Delete(w);
    }
}

/* The state Secret: owned by the QuayRegistry, or by a StandaloneQuay's
 * config Secret. */
static void map_state(struct ctl_manager *m, const cJSON *obj, void *user)
{
    const cJSON *md = jget(obj, "metadata"), *ref;
    (void)m;
    cJSON_ArrayForEach(ref, jget(md, "ownerReferences"))
    {
        const char *k = jstr(ref, "kind");
        if (k && strcmp(k, "QuayRegistry") == 0)
            enqueue_if_targeted(user, CTL_RW_KIND_QR, jstr(md, "namespace"), jstr(ref, "name"));
        else if (k && strcmp(k, "Secret") == 0)
            enqueue_if_targeted(user, CTL_RW_KIND_STANDALONE, jstr(md, "namespace"),
                                jstr(ref, "name"));
    }
}

/* ---- metrics ------------------------------------------------------------------------------ */

static void track(struct ctl_rw *r, const char *target, const struct rw_win *w)
{
    const char *ns = jstr(jget(w->obj, "metadata"), "namespace");
    struct rw_track *t = NULL;
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->ntracks; i++)
        if (strcmp(r->tracks[i].uid, w->uid) == 0)
            t = &r->tracks[i];
    if (!t && r->ntracks == r->tcap) {
        size_t cap = r->tcap ? r->tcap * 2 : 16;
        struct rw_track *n = realloc(r->tracks, cap * sizeof(*n));
        if (n) {
            r->tracks = n;
            r->tcap = cap;
        }
    }
    if (!t && r->ntracks < r->tcap) {
        t = &r->tracks[r->ntracks++];
        memset(t, 0, sizeof(*t));
        snprintf(t->uid, sizeof(t->uid), "%s", w->uid);
    }
    if (t) {
        snprintf(t->ns, sizeof(t->ns), "%s", ns ? ns : "");
        snprintf(t->name, sizeof(t->name), "%s", w->name);
        snprintf(t->target, sizeof(t->target), "%s", target);
        t->active = strcmp(w->phase, RW_PHASE_ACTIVE) == 0;
        t->end_ms = w->end_ms;
        t->gone = 0;
    }
    pthread_mutex_unlock(&r->mu);
}

/* Windows of `target` not in uids[0..n) are gone (reported once as 0). */
static void untrack_missing(struct ctl_rw *r, const char *target, char (*uids)[QUAY_UID_MAX + 1],
                            size_t n)
{
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->ntracks; i++) {
        size_t j;
        if (strcmp(r->tracks[i].target, target) != 0)
            continue;
        for (j = 0; j < n && strcmp(uids[j], r->tracks[i].uid) != 0; j++)
            ;
        if (j == n) {
            r->tracks[i].gone = 1;
            r->tracks[i].active = 0;
        }
    }
    pthread_mutex_unlock(&r->mu);
}

static void collect(struct ctl_metrics *m, void *user)
{
    struct ctl_rw *r = user;
    int64_t now = ctl_clock_wall_ms(ctl_manager_clock(r->m));
    (void)m;
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->ntracks; i++) {
        const struct rw_track *t = &r->tracks[i];
        char target[RW_KEY_MAX];
        const char *slash = strrchr(t->target, '/');
        int active = 0, overdue = 0;
        /* Per target: sum over its windows (quadratic in windows per
         * target, which are few). Each target is written by its first. */
        size_t first = i;
        for (size_t j = 0; j < i; j++)
            if (strcmp(r->tracks[j].target, t->target) == 0) {
                first = j;
                break;
            }
        snprintf(target, sizeof(target), "%s", slash ? slash + 1 : t->target);
        if (first == i) {
            for (size_t j = i; j < r->ntracks; j++) {
                const struct rw_track *u = &r->tracks[j];
                if (strcmp(u->target, t->target) != 0 || !u->active)
                    continue;
                active++;
                overdue += u->end_ms && now > u->end_ms;
            }
            const char *tv[] = {t->ns, target, NULL};
            ctl_metric_set(r->m_active, tv, active);
            ctl_metric_set(r->m_overdue, tv, overdue);
        }
        if (t->gone)
            continue;
        const char *wv[] = {t->ns, t->name, NULL};
        double left = t->active && t->end_ms ? (double)(t->end_ms - now) / 1000.0 : 0;
        ctl_metric_set(r->m_left, wv, left > 0 ? left : 0);
    }
    /* Gone windows (and targets left with none) lose their series, unless a
     * window of the same name (recreated) or target still has them: series
     * follow the windows that exist instead of piling up to the registry's
     * cap, past which new ones would be dropped. */
    for (size_t i = 0; i < r->ntracks; i++) {
        const struct rw_track *t = &r->tracks[i];
        int same_window = 0, same_target = 0;
        if (!t->gone)
            continue;
        for (size_t j = 0; j < r->ntracks; j++) {
            const struct rw_track *u = &r->tracks[j];
            if (u->gone)
                continue;
            same_target |= strcmp(u->target, t->target) == 0;
            same_window |= strcmp(u->ns, t->ns) == 0 && strcmp(u->name, t->name) == 0;
        }
        if (!same_window)
            ctl_metric_remove(r->m_left, (const char *const[]){t->ns, t->name, NULL});
        if (!same_target) {
            const char *slash = strrchr(t->target, '/');
            const char *tv[] = {t->ns, slash ? slash + 1 : t->target, NULL};
            ctl_metric_remove(r->m_active, tv);
            ctl_metric_remove(r->m_overdue, tv);
        }
    }
    size_t k = 0;
    for (size_t i = 0; i < r->ntracks; i++)
        if (!r->tracks[i].gone)
            r->tracks[k++] = r->tracks[i];
    r->ntracks = k;
    pthread_mutex_unlock(&r->mu);
}

/* ---- the reconcile of a target --------------------------------------------------------------- */

static int wait_synced(struct ctl_rw *r)
{
    /* Nothing is decided from a partial cache (an overlay whose window
     * is not listed yet would look orphaned). */
    int rc = ctl_informer_wait_for_sync(r->windows, -1);
    if (!rc && r->registries)
        rc = ctl_informer_wait_for_sync(r->registries, -1);
    return rc;
}

struct target_run {
    struct rw_win *w;
    size_t n;
    char (*uids)[QUAY_UID_MAX + 1];
};

static void run_free(struct target_run *tr)
{
    for (size_t i = 0; i < tr->n; i++)
        ctl_rw__win_clear(&tr->w[i]);
    free(tr->w);
    free(tr->uids);
}

/* Lists the target's windows fresh from the API (a status written a moment
 * ago must not be recomputed from a stale cache). */
static int list_windows(struct ctl_context *ctx, const char *key, struct target_run *tr,
                        struct quay_target_ref *ref, struct k8s_error *err)
{
    cJSON *list = NULL, *it;
    int rc, have_ref = 0;
    char k[RW_KEY_MAX];
    if ((rc = k8s_list(ctl_context_client(ctx), &ctl_rw__windows_res, ctl_context_namespace(ctx),
                       NULL, &list, err)))
        return rc;
    /* Room for every window of the namespace: one left out would look
     * like the owner of an orphaned overlay. */
    size_t cap = (size_t)cJSON_GetArraySize(jget(list, "items"));
    tr->w = calloc(cap ? cap : 1, sizeof(*tr->w));
    tr->uids = calloc(cap ? cap : 1, sizeof(*tr->uids));
    if (!tr->w || !tr->uids) {
        rc = k8s_error_set(err, K8S_ENOMEM, "out of memory");
        goto out;
    }
    cJSON_ArrayForEach(it, jget(list, "items"))
    {
        struct quay_target_ref r;
        struct k8s_error terr;
        if (tr->n == cap)
            break;
        if (ctl_rw__target_key(it, k, sizeof(k), &r, &terr) != 0 || strcmp(k, key) != 0)
            continue;
        if ((rc = ctl_rw__win_load(&tr->w[tr->n], it, err)))
            goto out;
        snprintf(tr->uids[tr->n], sizeof(tr->uids[0]), "%s", tr->w[tr->n].uid);
        tr->n++;
        if (!have_ref) {
            *ref = r;
            have_ref = 1;
        }
    }
out:
    cJSON_Delete(list);
    return rc;
}

static int64_t poll_ms(const struct ctl_rw *r)
{
    return r->o.poll_ms > 0 ? r->o.poll_ms : 5000;
}

static int64_t resync_ms(const struct ctl_rw *r)
{
    return r->o.resync_ms > 0 ? r->o.resync_ms : 600000;
}

static int reconcile_target(struct ctl_context *ctx, const char *key, int64_t *after, void *user)
{
    struct ctl_rw *r = user;
    struct k8s_client *c = ctl_context_client(ctx);
    struct target_run tr = {0};
    struct quay_target_ref ref;
    struct quay_state *s = NULL;
    struct rw_outcome out;
    struct k8s_error err;
    enum quay_target_kind kind = strcmp(ctl_context_kind(ctx), CTL_RW_KIND_QR) == 0
                                     ? QUAY_TARGET_QUAYREGISTRY
                                     : QUAY_TARGET_STANDALONE;
    int rc, hold = 0, changed = 0, busy = 0, active = 0;
    int64_t now, delay = INT64_MAX;
    char holder[QUAY_NAME_MAX + 1] = "";
    char holders[RW_HOLDERS_MAX] = "", new_holders[RW_HOLDERS_MAX] = "";
    char ro_restored[128] = "";

    memset(&ref, 0, sizeof(ref));
    memset(&out, 0, sizeof(out));
    k8s_error_clear(&err);
    if ((rc = wait_synced(r)))
        return rc;
    now = ctl_clock_wall_ms(ctl_context_clock(ctx));
    if ((rc = list_windows(ctx, key, &tr, &ref, &err)))
        goto out;
    if (!tr.n && (rc = quay_target_ref_init(&ref, kind, ctl_context_namespace(ctx),
                                            ctl_context_name(ctx), &err)))
        goto out;
    rc = quay_composer_read_state(c, &ref, &s, &err);
    if (rc == K8S_ENOTFOUND)
        rc = 0;
    if (rc)
        goto out;
    if (kind == QUAY_TARGET_STANDALONE && !ref.ndeployments && s) {
        /* No window says which Deployments: the record knows them. */
        for (size_t i = 0; i < s->ndeployments; i++)
            quay_target_ref_add_deployment(&ref, s->deployments[i], &err);
        if (s->config_key[0])
            snprintf(ref.config_key, sizeof(ref.config_key), "%s", s->config_key);
    }
    ctl_rw__target_desc(&ref, out.target_desc, sizeof(out.target_desc));
    /* No window: nothing to do unless something of ours is still in
     * flight (an orphaned overlay, a change not yet confirmed). */
    if (!tr.n && (!s || (!s->noverlays && !s->pending.present && s->applied.confirmed))) {
        rc = CTL_DONE;
        goto sweep;
    }

    /* spec.readOnly holders, where ReadOnly windows may use it. */
    for (size_t i = 0; kind == QUAY_TARGET_QUAYREGISTRY && i < tr.n; i++) {
        if (tr.w[i].mode != QUAY_MODE_READ_ONLY)
            continue;
        if ((rc = quay_ro_spec_holders(ctl_context_client(ctx), ref.ns, ref.name, holders,
                                       sizeof(holders), ro_restored, sizeof(ro_restored), &err)))
            goto out;
        for (size_t j = 0; j < tr.n; j++)
            tr.w[j].spec_held = quay_ro_spec_holders_has(holders, tr.w[j].name);
        break;
    }

    /* 1. Each window decides what it wants. */
    for (size_t i = 0; i < tr.n; i++) {
        struct rw_win *w = &tr.w[i];
        if ((rc = ctl_rw__win_plan(r, ctx, &ref, s, w, now, &err)))
            goto out;
        if (w->key_busy && w->want_on && !hold) {
            hold = 1;
            snprintf(holder, sizeof(holder), "%s", w->name);
        }
    }
    if (!ctl_context_may_write(ctx)) {
        rc = k8s_error_set(&err, K8S_ESTOPPED, "no longer the leader");
        goto out;
    }

    /* 2. Finalizers first: no overlay without one. */
    for (size_t i = 0; i < tr.n; i++) {
        struct rw_win *w = &tr.w[i];
        if (!w->deleting && !w->finalizer && (w->want_on || w->has_overlay || w->scheduled) &&
            (rc = ctl_rw__win_add_finalizer(ctx, w, &err))) {
            if (rc == K8S_ECONFLICT) {
                rc = CTL_REQUEUE;
            }
            goto out;
        }
    }

    /* 3. Overlays: removals (held while a key is being registered), orphans
     * of windows that no longer exist, then the new ones. */
    for (size_t i = 0; i < tr.n; i++) {
        struct rw_win *w = &tr.w[i];
        int removed = 0;
        if (!w->remove_overlay)
            continue;
        if (hold) {
            snprintf(w->wait_msg, sizeof(w->wait_msg),
                     "Deactivating: waiting until window %s has registered its service key, so "
                     "the registry never runs in a weaker mode meanwhile",
                     holder);
            w->requeue_soon = 1;
            continue;
        }
        if ((rc = quay_composer_remove_overlay(c, &ref, w->name, &removed, &err)))
            goto out;
        w->has_overlay = 0;
        changed = 1;
        k8s_log(K8S_LOG_INFO, ref.ns, w->name, "removed the window's overlay",
                (const char *[]){"target", out.target_desc, NULL});
    }
    for (size_t i = 0; s && !hold && i < s->noverlays; i++) {
        const char *win = s->overlays[i]->window;
        size_t j;
        int removed = 0;
        for (j = 0; j < tr.n && strcmp(tr.w[j].name, win) != 0; j++)
            ;
        if (j < tr.n)
            continue;
        k8s_log(K8S_LOG_WARN, ref.ns, win,
                "removing the overlay of a window that no longer exists (its finalizer was "
                "removed by hand?)",
                (const char *[]){"target", out.target_desc, NULL});
        if ((rc = quay_composer_remove_overlay(c, &ref, win, &removed, &err)))
            goto out;
        changed = 1;
    }
    for (size_t i = 0; i < tr.n; i++) {
        struct rw_win *w = &tr.w[i];
        if (!w->new_overlay || !w->finalizer)
            continue;
        rc = quay_composer_set_overlay(c, &ref, w->new_overlay, &err);
        if (rc == K8S_ENOTFOUND || rc == K8S_EINVALID || rc == K8S_ECONFLICT) {
            /* The target cannot take it yet (no bundle, someone else's
             * rendered Secret): say so, look again. */
            snprintf(w->wait_msg, sizeof(w->wait_msg), "Waiting for %s: %s", out.target_desc,
                     err.message);
            w->requeue_soon = 1;
            rc = 0;
            continue;
        }
        if (rc)
            goto out;
        w->has_overlay = 1;
        changed = 1;
        if (w->mode == QUAY_MODE_READ_ONLY)
            ctl_rw__key_drop(r, w->uid); /* its private key now lives in the record */
        k8s_log(K8S_LOG_INFO, ref.ns, w->name, "put the window's overlay",
                (const char *[]){"target", out.target_desc, "mode", quay_mode_name(w->mode), NULL});
    }

    /* ... and spec.readOnly: held by exactly the ReadOnly windows using it
     * that want to be on (orphaned holders drop out). */
    {
        size_t n = 0;
        if (ro_restored[0] || (s && s->restored.present)) {
            /* Restored by hand (`restore`): the windows that want
             * spec.readOnly fail and say so, and holders only drop out,
             * until a person removes the mark. */
            char why[RW_MSG_MAX];
            char sname[QUAY_NAME_MAX + 1] = "";
            if (ro_restored[0])
                snprintf(why, sizeof(why),
                         "spec.readOnly of QuayRegistry %s/%s was released by hand (%s, "
                         "`quay-storage-operator restore`); ReadOnly windows leave it alone "
                         "until the annotation %s is removed from the QuayRegistry, then the "
                         "window can be edited or created again. The window's change is withdrawn",
                         ref.ns, ref.name, ro_restored, QUAY_ANN_RO_RESTORED);
            else
                snprintf(why, sizeof(why),
                         "QuayRegistry %s/%s was restored by hand (%s, `quay-storage-operator "
                         "restore`); ReadOnly windows leave it alone until the state Secret %s is "
                         "deleted, then the window can be edited or created again. The window's "
                         "change is withdrawn",
                         ref.ns, ref.name, s->restored.time,
                         quay_state_name(kind, ref.name, sname, sizeof(sname), NULL) == 0
                             ? sname
                             : "qso-state-...");
            for (size_t i = 0; i < tr.n; i++) {
                if (tr.w[i].spec_mech && tr.w[i].want_on)
                    ctl_rw__win_fail(&tr.w[i], QUAY_REASON_RESTORED, why);
            }
        }
        new_holders[0] = '\0';
        for (size_t i = 0; i < tr.n; i++) {
            struct rw_win *w = &tr.w[i];
            if (!w->spec_mech || !w->want_on || !w->finalizer)
                continue;
            n += (size_t)snprintf(new_holders + n, sizeof(new_holders) - n, "%s%s", n ? "," : "",
                                  w->name);
            if (n >= sizeof(new_holders)) {
                rc = k8s_error_set(&err, K8S_ENOMEM, "too many ReadOnly windows on one registry");
                goto out;
            }
        }
        if (strcmp(new_holders, holders) != 0) {
            rc = ctl_rw__spec_apply(ctx, &ref, new_holders, &err);
            if (rc == K8S_ECONFLICT) {
                rc = CTL_REQUEUE;
                goto out;
            }
            if (rc)
                goto out;
        }
        for (size_t i = 0; i < tr.n; i++)
            if (tr.w[i].spec_mech)
                tr.w[i].has_overlay = quay_ro_spec_holders_has(new_holders, tr.w[i].name);
    }

    /* 4. One step of the composer, when it has something to do. Without a
     * state record nothing of ours was ever applied: nothing to confirm. */
    out.confirmed = !s && !changed;
    if (s || changed) {
        rc = quay_composer_step(c, &ref, NULL, &out.res, &err);
        if (rc == K8S_ENOTFOUND) {
            out.gone = 1;
            rc = 0;
        } else if (rc) {
            goto out;
        } else {
            out.stepped = 1;
            out.confirmed = out.res.phase == QUAY_PHASE_CONFIRMED;
        }
    }

    if (holders[0] || new_holders[0] || ro_restored[0]) {
        if ((rc = ctl_rw__spec_confirm(ctx, &ref, new_holders, &out.spec_res, &err)))
            goto out;
        out.spec_used = 1;
        /* One effective mode for the registry: the strongest of both. */
        enum quay_mode eff = out.stepped ? out.res.effective_mode : QUAY_MODE_NONE;
        if (new_holders[0] && out.spec_res.phase == QUAY_PHASE_CONFIRMED &&
            QUAY_MODE_READ_ONLY > eff) {
            out.res.effective_mode = QUAY_MODE_READ_ONLY;
            snprintf(out.res.mode_window, sizeof(out.res.mode_window), "%s",
                     out.spec_res.mode_window);
        } else if (out.stepped) {
            out.spec_res.effective_mode = out.res.effective_mode;
            snprintf(out.spec_res.mode_window, sizeof(out.spec_res.mode_window), "%s",
                     out.res.mode_window);
        }
    }

    /* 5. Each window says where it stands. */
    for (size_t i = 0; i < tr.n; i++) {
        struct rw_win *w = &tr.w[i];
        if (w->spec_mech && out.spec_used) {
            struct rw_outcome so = out;
            so.res = out.spec_res;
            so.stepped = 1;
            so.confirmed = so.res.phase == QUAY_PHASE_CONFIRMED;
            rc = ctl_rw__win_report(r, ctx, &ref, w, &so, now, &err);
        } else {
            rc = ctl_rw__win_report(r, ctx, &ref, w, &out, now, &err);
        }
        if (rc < 0)
            goto out;
        if (rc == CTL_REQUEUE)
            busy = 1;
        rc = 0;
        track(r, key, w);
        if (w->next_ms) {
            int64_t d = w->next_ms - now;
            if (d < 1)
                d = poll_ms(r);
            if (d < delay)
                delay = d;
        }
        if (w->requeue_soon || (!w->stuck && (!strcmp(w->phase, RW_PHASE_ACTIVATING) ||
                                              !strcmp(w->phase, RW_PHASE_DEACTIVATING))))
            busy = 1;
        if (!strcmp(w->phase, RW_PHASE_ACTIVE) || w->stuck)
            active = 1;
    }
    if (out.stepped &&
        (out.res.phase == QUAY_PHASE_APPLIED || out.res.phase == QUAY_PHASE_PROGRESSING))
        busy = 1;
    if (busy && poll_ms(r) < delay)
        delay = poll_ms(r);
    if ((active || (s && s->noverlays)) && resync_ms(r) < delay)
        delay = resync_ms(r);
    if (delay != INT64_MAX) {
        *after = delay;
        rc = CTL_REQUEUE_AFTER;
    } else {
        rc = CTL_DONE;
    }
sweep:
    ctl_rw__key_sweep(r, key, tr.uids, tr.n);
    untrack_missing(r, key, tr.uids, tr.n);
out:
    if (rc < 0 && rc != K8S_ESTOPPED) {
        const char *kv[] = {"key", key, "error", err.message, NULL};
        k8s_log(rc == K8S_ECONFLICT ? K8S_LOG_INFO : K8S_LOG_WARN, ctl_context_namespace(ctx),
                ctl_context_name(ctx), "readonlywindows: reconcile of the target failed", kv);
    }
    quay_state_free(s);
    run_free(&tr);
    return rc;
}

static int reconcile_window(struct ctl_context *ctx, const char *key, int64_t *after, void *user)
{
    struct k8s_error err;
    (void)key;
    (void)after;
    if (wait_synced(user))
        return K8S_ESTOPPED;
    k8s_error_clear(&err);
    return ctl_rw__win_invalid_target(ctx, ctl_context_namespace(ctx), ctl_context_name(ctx), &err);
}

/* ---- registration -------------------------------------------------------------------------------
 */

static int add_informer(struct ctl_rw *r, const struct k8s_resource *res, int metadata_only,
                        const char *selector, ctl_map_fn map, struct ctl_informer **out,
                        struct k8s_error *err)
{
    struct ctl_informer_options io = {0};
    int rc;
    io.resource = *res;
    io.metadata_only = metadata_only;
    io.label_selector = selector;
    if ((rc = ctl_manager_add_informer(r->m, &io, out, err)))
        return rc;
    if ((rc = ctl_manager_watch_map(r->m, *out, map, r)))
        return k8s_error_set(err, rc, "readonlywindows: cannot watch %s", res->resource);
    return 0;
}

int ctl_rw_register(struct ctl_manager *m, const struct ctl_rw_options *opts, struct ctl_rw **out,
                    struct k8s_error *err)
{
    struct ctl_rw *r = calloc(1, sizeof(*r));
    int rc, served = 1, namespaced = 1;
    *out = NULL;
    if (!r)
        return k8s_error_set(err, K8S_ENOMEM, "out of memory");
    pthread_mutex_init(&r->mu, NULL);
    r->m = m;
    if (opts)
        r->o = *opts;

    /* An informer on a resource the server does not serve never syncs
     * (and keeps /readyz failing): without our CRD there is nothing to
     * reconcile, so nothing is registered (installing the CRD later needs
     * a restart, as with controller-runtime). */
    struct k8s_error derr;
    k8s_error_clear(&derr);
    if (k8s_discover_resource(ctl_manager_client(m), ctl_rw__windows_res.group,
                              ctl_rw__windows_res.version, ctl_rw__windows_res.resource, &served,
                              &namespaced, &derr) == 0 &&
        !served) {
        k8s_log(K8S_LOG_WARN, NULL, NULL,
                "readonlywindows: the ReadOnlyWindow CRD is not installed; its reconciler is not "
                "started (install crds/ and restart)",
                NULL);
        *out = r;
        return 0;
    }
    if ((rc = add_informer(r, &ctl_rw__windows_res, 0, NULL, map_window, &r->windows, err)))
        goto fail;
    /* Without the Quay Operator's API only StandaloneQuay targets work. */
    served = 1;
    if (k8s_discover_resource(ctl_manager_client(m), QUAYREGISTRIES.group, QUAYREGISTRIES.version,
                              QUAYREGISTRIES.resource, &served, &namespaced, &derr) != 0)
        served = 1; /* unknown: assume the usual cluster */
    if (served &&
        (rc = add_informer(r, &QUAYREGISTRIES, 0, NULL, map_registry, &r->registries, err)))
        goto fail;
    if (!served)
        k8s_log(K8S_LOG_WARN, NULL, NULL,
                "readonlywindows: quay.redhat.com/v1 QuayRegistry is not served; windows on "
                "QuayRegistry targets will wait for it",
                NULL);
    if ((rc = add_informer(r, &DEPLOYMENTS, 1, NULL, map_deployment, &r->deployments, err)) ||
        (rc = add_informer(r, &JOBS, 1,
                           "app.kubernetes.io/component=service-key,"
                           "app.kubernetes.io/managed-by=" QUAY_MANAGED_BY,
                           map_job, &r->jobs, err)) ||
        (rc = add_informer(r, &SECRETS, 1, QUAY_LABEL_ROLE "=" QUAY_ROLE_STATE, map_state,
                           &r->states, err)))
        goto fail;

    const struct ctl_reconciler recs[] = {
        {CTL_RW_KIND_QR, reconcile_target, r},
        {CTL_RW_KIND_STANDALONE, reconcile_target, r},
        {CTL_RW_KIND_WINDOW, reconcile_window, r},
    };
    for (size_t i = 0; i < sizeof(recs) / sizeof(recs[0]); i++)
        if ((rc = ctl_manager_add_reconciler(m, &recs[i], err)))
            goto fail;

    struct ctl_metrics *reg = ctl_manager_metrics(m);
    const char *tl[] = {"namespace", "target", NULL}, *wl[] = {"namespace", "name", NULL};
    r->m_active =
        ctl_metrics_register(reg, CTL_METRIC_GAUGE, "qso_readonlywindow_active",
                             "ReadOnlyWindows confirmed active, per target.", tl, NULL, 0);
    r->m_left = ctl_metrics_register(reg, CTL_METRIC_GAUGE, "qso_readonlywindow_seconds_left",
                                     "Seconds until an active ReadOnlyWindow ends (0 when it has "
                                     "no end or is not active).",
                                     wl, NULL, 0);
    r->m_overdue = ctl_metrics_register(reg, CTL_METRIC_GAUGE, "qso_readonlywindow_overdue",
                                        "Active ReadOnlyWindows past their end (not yet "
                                        "deactivated), per target.",
                                        tl, NULL, 0);
    if (!r->m_active || !r->m_left || !r->m_overdue ||
        ctl_metrics_add_collector(reg, collect, r) != 0) {
        rc = k8s_error_set(err, K8S_ENOMEM, "readonlywindows: cannot register the metrics");
        goto fail;
    }
    *out = r;
    return 0;
fail:
    /* The manager owns the informers; the reconciler struct is ours. It
     * must outlive the manager's handlers: the caller frees the manager
     * first, then this (ctl_rw_free), as on success. */
    *out = r;
    return rc;
}

void ctl_rw_free(struct ctl_rw *r)
{
    if (!r)
        return;
    ctl_rw__keys_free(r);
    free(r->tracks);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

int ctl_readonlywindow_register(struct ctl_manager *m, void **handle, struct k8s_error *err)
{
    struct ctl_rw *r = NULL;
    int rc = ctl_rw_register(m, NULL, &r, err);
    *handle = r;
    return rc;
}

void ctl_readonlywindow_free(void *handle)
{
    ctl_rw_free(handle);
}
