/*
 * One ReadOnlyWindow during a reconcile of its target (see
 * ctl_readonlywindow.h): what it wants before the composer's step (plan),
 * and what it says after (report) — phase, conditions, times, Events, the
 * service key's expiry at the end, and the finalizer.
 *
 * The status is the window's memory across restarts, so each field is
 * written the moment it becomes true and read back first thing:
 *   activationStartTime  when it first wanted to be on (the activation
 *                        timeout counts from here; absent until then)
 *   activatedTime        when the target confirmed the mode
 *   serviceKeyID         the kid of the ReadOnly key, written BEFORE its
 *                        registration Job exists (so a restart can expire it)
 *   serviceKeyExpiryTime when that key expires in Quay's database; at or
 *                        before now means nothing is left to expire
 * A Failed window stays Failed for its metadata.generation (a change of the
 * spec is a new attempt), except UnsupportedQuayVersion, which is looked at
 * again each time (the registry may be upgraded within the window).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_conditions.h"
#include "ctl_events.h"
#include "ctl_readonlywindow_int.h"
#include "k8s_log.h"
#include "k8s_patch.h"
#include "quay_target.h"

const struct k8s_resource ctl_rw__windows_res = {"quaystorage.io", "v1alpha1", "readonlywindows",
                                                 1};

static const cJSON *jget(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static const char *jstr(const cJSON *o, const char *k)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

static int64_t jtime(const cJSON *o, const char *k)
{
    int64_t ms = 0;
    const char *s = jstr(o, k);
    if (!s || ctl_clock_parse_rfc3339(s, &ms) != 0)
        return 0;
    return ms;
}

static int set_str(cJSON *o, const char *k, const char *v)
{
    cJSON_DeleteItemFromObjectCaseSensitive(o, k);
    if (!v)
        return 0;
    return cJSON_AddStringToObject(o, k, v) ? 0 : K8S_ENOMEM;
}

static int set_time(cJSON *o, const char *k, int64_t ms)
{
    char buf[40];
    if (!ms)
        return set_str(o, k, NULL);
    ctl_clock_format_rfc3339(ms, buf, sizeof(buf));
    return set_str(o, k, buf);
}

/* Replaces (or adds) member `k`, taking `item`. */
static void put_member(cJSON *o, const char *k, cJSON *item)
{
    cJSON_DeleteItemFromObjectCaseSensitive(o, k);
    if (item)
        cJSON_AddItemToObject(o, k, item);
}

static void fmt_time(int64_t ms, char *buf, size_t cap)
{
    ctl_clock_format_rfc3339(ms, buf, cap);
}

void ctl_rw__target_desc(const struct quay_target_ref *t, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s %s/%s", quay_target_kind_name(t->kind), t->ns, t->name);
}

int ctl_rw__target_key(const cJSON *window, char *key, size_t cap, struct quay_target_ref *ref,
                       struct k8s_error *err)
{
    const char *ns = jstr(jget(window, "metadata"), "namespace");
    struct quay_target_ref local;
    int rc;
    if (!ref)
        ref = &local;
    if ((rc = quay_target_ref_from_json(ns ? ns : "", jget(jget(window, "spec"), "target"), ref,
                                        err)))
        return rc;
    if (ctl_wq_key(key, cap,
                   ref->kind == QUAY_TARGET_QUAYREGISTRY ? CTL_RW_KIND_QR : CTL_RW_KIND_STANDALONE,
                   ref->ns, ref->name) != 0)
        return k8s_error_set(err, K8S_EINVALID, "the target's key does not fit");
    return 0;
}

/* ---- load ----------------------------------------------------------------------------- */

void ctl_rw__win_clear(struct rw_win *w)
{
    cJSON_Delete(w->obj);
    cJSON_Delete(w->status);
    quay_overlay_free(w->new_overlay);
    memset(w, 0, sizeof(*w));
}

int ctl_rw__win_load(struct rw_win *w, const cJSON *obj, struct k8s_error *err)
{
    const cJSON *md, *f, *st;
    struct k8s_error terr;
    memset(w, 0, sizeof(*w));
    if (!(w->obj = cJSON_Duplicate(obj, 1)))
        return k8s_error_set(err, K8S_ENOMEM, "out of memory");
    /* List items carry no apiVersion/kind; Events and updates need them. */
    set_str(w->obj, "apiVersion", RW_API_VERSION);
    set_str(w->obj, "kind", RW_KIND);
    md = jget(w->obj, "metadata");
    st = jget(w->obj, "status");
    w->status = cJSON_IsObject(st) ? cJSON_Duplicate(st, 1) : cJSON_CreateObject();
    if (!w->status)
        return k8s_error_set(err, K8S_ENOMEM, "out of memory");
    snprintf(w->name, sizeof(w->name), "%s", jstr(md, "name") ? jstr(md, "name") : "");
    snprintf(w->uid, sizeof(w->uid), "%s", jstr(md, "uid") ? jstr(md, "uid") : "");
    w->generation =
        cJSON_IsNumber(jget(md, "generation")) ? (long long)jget(md, "generation")->valuedouble : 0;
    w->deleting = jget(md, "deletionTimestamp") != NULL;
    cJSON_ArrayForEach(f, jget(md, "finalizers"))
    {
        if (cJSON_IsString(f) && strcmp(f->valuestring, CTL_RW_FINALIZER) == 0)
            w->finalizer = 1;
    }
    snprintf(w->old_phase, sizeof(w->old_phase), "%s",
             jstr(w->status, "phase") ? jstr(w->status, "phase") : "");
    snprintf(w->phase, sizeof(w->phase), "%s", w->old_phase);
    w->activated_ms = jtime(w->status, "activatedTime");
    w->activating_ms = jtime(w->status, "activationStartTime");

    const cJSON *spec = jget(w->obj, "spec");
    w->mode = quay_mode_parse(jstr(spec, "mode"));
    k8s_error_clear(&terr);
    if (!w->mode) {
        snprintf(w->invalid, sizeof(w->invalid),
                 "spec.mode must be DisablePushes, ReadOnly or ScaleDown");
    } else if (ctl_rw_times_from_spec(spec, jtime(md, "creationTimestamp"), &w->t, &terr) != 0) {
        snprintf(w->invalid, sizeof(w->invalid), "%s", terr.message);
    } else {
        w->valid = 1;
    }
    return 0;
}

/* ---- small status helpers ---------------------------------------------------------------- */

static int phase_is(const char *p, const char *x)
{
    return strcmp(p, x) == 0;
}

static const char *degraded_reason(const cJSON *status)
{
    const cJSON *c = ctl_condition_find(status, "Degraded");
    if (!c || strcmp(jstr(c, "status") ? jstr(c, "status") : "", CTL_COND_TRUE) != 0)
        return NULL;
    return jstr(c, "reason");
}

static void fail(struct rw_win *w, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(struct rw_win *w, const char *reason, const char *fmt, ...)
{
    va_list ap;
    w->failed_now = 1;
    w->want_on = 0;
    snprintf(w->fail_reason, sizeof(w->fail_reason), "%s", reason);
    va_start(ap, fmt);
    vsnprintf(w->fail_msg, sizeof(w->fail_msg), fmt, ap);
    va_end(ap);
}

void ctl_rw__win_fail(struct rw_win *w, const char *reason, const char *msg)
{
    fail(w, reason, "%s", msg);
}

static void waiting(struct rw_win *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void waiting(struct rw_win *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->wait_msg, sizeof(w->wait_msg), fmt, ap);
    va_end(ap);
    w->requeue_soon = 1;
}

/* Whether the window's key (if any) needs no more expiring. */
static int key_done(const struct rw_win *w, int64_t now)
{
    const char *kid = jstr(w->status, "serviceKeyID");
    int64_t exp = jtime(w->status, "serviceKeyExpiryTime");
    return !kid || !*kid || (exp && exp <= now);
}

/* "3.13.3", "v3.12.0-rc1" → major, minor; 0 when it does not parse. */
static int parse_version(const char *s, long *major, long *minor)
{
    char *end;
    if (!s)
        return 0;
    if (*s == 'v')
        s++;
    *major = strtol(s, &end, 10);
    if (end == s || *end != '.')
        return 0;
    s = end + 1;
    *minor = strtol(s, &end, 10);
    return end != s;
}

/*
 * DisablePushes needs Quay 3.13 (older Quay ignores DISABLE_PUSHES):
 * 1 refused (message set), 0 allowed, -1 not known yet (message set).
 */
static int quay_too_old(struct ctl_rw *r, const struct quay_target_ref *t, char *msg, size_t cap)
{
    long major = 0, minor = 0;
    int rc = -1;
    if (t->kind != QUAY_TARGET_QUAYREGISTRY) {
        /* A StandaloneQuay has no status to ask; its image tag is no proof
         * of a version, so the administrator's word (the mode) stands. */
        return 0;
    }
    cJSON *qr = r->registries ? ctl_informer_get(r->registries, t->ns, t->name) : NULL;
    const char *v = jstr(jget(qr, "status"), "currentVersion");
    if (!qr) {
        snprintf(msg, cap, "waiting for QuayRegistry %s/%s to exist", t->ns, t->name);
    } else if (!parse_version(v, &major, &minor)) {
        snprintf(msg, cap,
                 "waiting for QuayRegistry %s/%s to report status.currentVersion (DisablePushes "
                 "needs Quay 3.13 or later)",
                 t->ns, t->name);
    } else if (major < 3 || (major == 3 && minor < 13)) {
        snprintf(msg, cap,
                 "QuayRegistry %s/%s runs Quay %s, which ignores DISABLE_PUSHES (Quay 3.13 or "
                 "later honours it). Use mode ReadOnly for this registry, or upgrade it first",
                 t->ns, t->name, v);
        rc = 1;
    } else {
        rc = 0;
    }
    cJSON_Delete(qr);
    return rc;
}

/* ---- plan -------------------------------------------------------------------------------- */

/*
 * Runs (or follows) the EXPIRE Job of `kid`. *busy is set, and nothing is
 * started, while another key Job of the window still runs: a registration
 * could re-approve the key after this. Otherwise *js says where the Job is.
 */
static int expire_job(struct ctl_rw *r, struct ctl_context *ctx, const struct quay_target_ref *t,
                      struct rw_win *w, const char *kid, int *busy, enum quay_keyjob_state *js,
                      char *jobmsg, size_t cap, struct k8s_error *err)
{
    char *sql = NULL;
    size_t len;
    int rc;
    if ((rc = ctl_rw__keyjob_quiesce(ctx, t, w->obj, busy, jobmsg, cap, err)) || *busy)
        return rc;
    if ((rc = quay_servicekey_sql_expire(kid, &sql, &len, err)))
        return rc;
    rc = ctl_rw__keyjob(r, ctx, t, w->obj, QUAY_KEYJOB_EXPIRE, sql, js, jobmsg, cap, err);
    free(sql);
    return rc;
}

/* The ReadOnly key before the overlay: expire a key left by an interrupted
 * activation, make a key, write its kid, register it; then the overlay. */
static int plan_read_only_key(struct ctl_rw *r, struct ctl_context *ctx,
                              const struct quay_target_ref *t, const struct quay_state *s,
                              struct rw_win *w, int64_t now, struct k8s_error *err)
{
    char tkey[RW_KEY_MAX], jobmsg[RW_MSG_MAX], kname[QUAY_OVERLAY_MAX_KEYNAME + 1];
    char *sql = NULL;
    size_t len;
    enum quay_keyjob_state js;
    struct rw_key *mk = ctl_rw__key_find(r, w->uid);
    char kidbuf[QUAY_OVERLAY_MAX_KID + 1];
    /* A copy: the status member is replaced below. */
    const char *kid = jstr(w->status, "serviceKeyID") ? kidbuf : NULL;
    int rc = 0;

    snprintf(kidbuf, sizeof(kidbuf), "%s",
             jstr(w->status, "serviceKeyID") ? jstr(w->status, "serviceKeyID") : "");

    ctl_wq_key(tkey, sizeof(tkey),
               t->kind == QUAY_TARGET_QUAYREGISTRY ? CTL_RW_KIND_QR : CTL_RW_KIND_STANDALONE, t->ns,
               t->name);
    w->key_busy = 1;
    if (!mk && kid && *kid && !key_done(w, now)) {
        /* A key from an earlier attempt never reached an overlay (the
         * process stopped, or its registration failed): expire it before
         * making another, so no approved key is left behind. */
        int settled = !s || (!s->pending.present && s->applied.confirmed);
        for (size_t i = 0; s && i < s->noverlays; i++)
            settled &= strcmp(s->overlays[i]->kid, kid) != 0;
        if (!settled) {
            waiting(w, "waiting for %s to settle before expiring service key %s", "the registry",
                    kid);
            return 0;
        }
        int busy = 0;
        if ((rc = expire_job(r, ctx, t, w, kid, &busy, &js, jobmsg, sizeof(jobmsg), err)))
            return rc;
        if (busy) {
            waiting(w, "Replacing service key %s, left by an interrupted activation: %s", kid,
                    jobmsg);
            return 0;
        }
        if (js == QUAY_KEYJOB_RUNNING) {
            waiting(w,
                    "Expiring service key %s, left by an interrupted activation, before making a "
                    "new one: %s",
                    kid, jobmsg);
        } else if (js == QUAY_KEYJOB_SUCCEEDED) {
            set_str(w->status, "serviceKeyID", NULL);
            set_str(w->status, "serviceKeyExpiryTime", NULL);
            waiting(w, "Expired service key %s left by an interrupted activation; making a new one",
                    kid);
        } else {
            fail(w, "ServiceKeyExpiryFailed",
                 "Could not expire service key %s in Quay's database: %s. Check the database, "
                 "then change the window's spec (or recreate it) to try again",
                 kid, jobmsg);
        }
        return 0;
    }
    if (!mk) {
        long long exp = ctl_rw__key_expiry(r, &w->t, w->activated_ms, now);
        if ((rc = ctl_rw__key_new(r, w->uid, tkey, exp, &mk, err)))
            return rc;
        /* The kid reaches the status before its Job exists (restart safety). */
        set_str(w->status, "serviceKeyID", mk->key->kid);
        set_time(w->status, "serviceKeyExpiryTime", (int64_t)exp * 1000);
        waiting(w, "Generated service key %s; registering it in Quay's database next",
                mk->key->kid);
        k8s_log(K8S_LOG_INFO, t->ns, w->name, "generated a service key for the window",
                (const char *[]){"kid", mk->key->kid, NULL});
        return 0;
    }
    if (!kid || strcmp(kid, mk->key->kid) != 0) {
        /* The status write that named it did not land: name it again. */
        set_str(w->status, "serviceKeyID", mk->key->kid);
        set_time(w->status, "serviceKeyExpiryTime", (int64_t)mk->expires_at * 1000);
        waiting(w, "Generated service key %s; registering it in Quay's database next",
                mk->key->kid);
        return 0;
    }
    if (!mk->registered) {
        struct quay_sk_registration reg = {
            .window_namespace = t->ns,
            .window_name = w->name,
            .reason = jstr(jget(w->obj, "spec"), "reason"),
            .expires_at = mk->expires_at,
        };
        if ((rc = quay_servicekey_sql_register(mk->key, &reg, &sql, &len, err)))
            return rc;
        rc = ctl_rw__keyjob(r, ctx, t, w->obj, QUAY_KEYJOB_REGISTER, sql, &js, jobmsg,
                            sizeof(jobmsg), err);
        free(sql);
        if (rc)
            return rc;
        if (js == QUAY_KEYJOB_RUNNING) {
            waiting(w,
                    "Registering service key %s in Quay's database; the read-only configuration "
                    "rolls out once it is approved: %s",
                    kid, jobmsg);
            return 0;
        }
        if (js == QUAY_KEYJOB_FAILED) {
            ctl_rw__key_drop(r, w->uid);
            fail(w, "ServiceKeyRegistrationFailed",
                 "Could not register service key %s in Quay's database, so the read-only "
                 "configuration was not applied: %s",
                 kid, jobmsg);
            return 0;
        }
        char exp[40];
        mk->registered = 1;
        fmt_time((int64_t)mk->expires_at * 1000, exp, sizeof(exp));
        ctl_event(ctl_context_recorder(ctx), w->obj, CTL_EVENT_NORMAL, "ServiceKeyRegistered",
                  "Service key %s registered and approved in Quay's database; it expires at %s",
                  kid, exp);
    }
    ctl_rw__key_name(mk->key->kid, kname, sizeof(kname));
    if (!(w->new_overlay =
              quay_overlay_read_only_new(w->name, (long long)(now / 1000), kname, mk->key->kid,
                                         mk->key->pem, mk->key->pem_len, err)))
        return err->code ? err->code : K8S_ENOMEM;
    w->key_busy = 0;
    return 0;
}

/* While a ReadOnly overlay is on: renew its key's expiry when needed. */
static int plan_extend(struct ctl_rw *r, struct ctl_context *ctx, const struct quay_target_ref *t,
                       const struct quay_overlay *o, struct rw_win *w, int64_t now,
                       struct k8s_error *err)
{
    long long have = jtime(w->status, "serviceKeyExpiryTime") / 1000, want;
    char jobmsg[RW_MSG_MAX], *sql = NULL;
    size_t len;
    enum quay_keyjob_state js;
    int rc;
    if (!ctl_rw__key_needs_extension(r, &w->t, w->activated_ms, have, now)) {
        /* Come back when it will (no event announces it). */
        int64_t at = ctl_rw__key_renew_at(r, &w->t, w->activated_ms, have, now);
        if (at && (!w->next_ms || at < w->next_ms))
            w->next_ms = at;
        return 0;
    }
    want = ctl_rw__key_expiry(r, &w->t, w->activated_ms, now);
    if ((rc = quay_servicekey_sql_extend(o->kid, want, &sql, &len, err)))
        return rc;
    rc = ctl_rw__keyjob(r, ctx, t, w->obj, QUAY_KEYJOB_EXTEND, sql, &js, jobmsg, sizeof(jobmsg),
                        err);
    free(sql);
    if (rc)
        return rc;
    if (js == QUAY_KEYJOB_SUCCEEDED) {
        char exp[40];
        set_time(w->status, "serviceKeyExpiryTime", (int64_t)want * 1000);
        fmt_time((int64_t)want * 1000, exp, sizeof(exp));
        ctl_event(ctl_context_recorder(ctx), w->obj, CTL_EVENT_NORMAL, "ServiceKeyRenewed",
                  "Service key %s renewed in Quay's database; it now expires at %s", o->kid, exp);
    } else if (js == QUAY_KEYJOB_FAILED) {
        snprintf(w->fail_reason, sizeof(w->fail_reason), "ServiceKeyRenewalFailed");
        snprintf(w->fail_msg, sizeof(w->fail_msg),
                 "Could not extend service key %s (it expires at %s unless renewed; retried): "
                 "%.1200s",
                 o->kid, jstr(w->status, "serviceKeyExpiryTime"), jobmsg);
        w->requeue_soon = 1;
    } else {
        w->requeue_soon = 1;
    }
    return 0;
}

int ctl_rw__win_plan(struct ctl_rw *r, struct ctl_context *ctx, const struct quay_target_ref *t,
                     const struct quay_state *s, struct rw_win *w, int64_t now,
                     struct k8s_error *err)
{
    const struct quay_overlay *o = s ? quay_state_find_overlay(s, w->name) : NULL;
    int64_t obs = cJSON_IsNumber(jget(w->status, "observedGeneration"))
                      ? (int64_t)jget(w->status, "observedGeneration")->valuedouble
                      : -1;
    const char *dreason = degraded_reason(w->status);
    int rc;

    const char *mech = jstr(w->status, "readOnlyMechanism");
    w->spec_mech = w->mode == QUAY_MODE_READ_ONLY && mech && !strcmp(mech, RW_MECH_SPEC);
    if (!w->spec_mech)
        w->spec_held = 0;
    w->had_overlay = w->has_overlay = o != NULL || w->spec_held;
    if (phase_is(w->phase, RW_PHASE_ENDED))
        w->terminal = 1;
    if (phase_is(w->phase, RW_PHASE_FAILED)) {
        if (obs == w->generation && !(dreason && strcmp(dreason, RW_REASON_OLD_QUAY) == 0)) {
            w->terminal = 1;
        } else if (obs != w->generation) {
            /* A new spec is a new attempt: its timeout counts afresh. */
            w->activating_ms = 0;
            set_str(w->status, "activationStartTime", NULL);
        }
    }

    if (w->deleting || w->terminal) {
        w->want_on = 0;
    } else if (!w->valid) {
        fail(w, "InvalidSpec", "%s", w->invalid);
    } else {
        int64_t base = w->activated_ms ? w->activated_ms : (w->had_overlay ? w->activating_ms : 0),
                next = 0;
        switch (ctl_rw_due(&w->t, now, base, &next)) {
        case CTL_RW_WAIT:
            w->scheduled = 1;
            w->next_ms = next;
            break;
        case CTL_RW_MISSED:
            w->missed = 1;
            break;
        case CTL_RW_OVER:
            break;
        case CTL_RW_ON:
            w->want_on = 1;
            w->next_ms = next;
            break;
        }
    }
    w->end_ms = w->valid ? ctl_rw_end(&w->t, w->activated_ms) : 0;

    if (w->want_on && w->mode == QUAY_MODE_DISABLE_PUSHES && !o) {
        char msg[RW_MSG_MAX];
        int old = quay_too_old(r, t, msg, sizeof(msg));
        if (old > 0) {
            fail(w, RW_REASON_OLD_QUAY, "%s", msg);
        } else if (old < 0) {
            w->key_busy = 0;
            waiting(w, "%s", msg);
        }
    }
    if (w->want_on && !w->activating_ms) {
        w->activating_ms = now;
        set_time(w->status, "activationStartTime", now);
    }
    if (w->want_on && !w->activated_ms && w->activating_ms) {
        int64_t deadline;
        if (ctl_rw_activation_timed_out(&w->t, w->activating_ms, now, &deadline)) {
            const cJSON *ac = ctl_condition_find(w->status, "Active");
            fail(w, "ActivationTimedOut",
                 "The registry did not confirm mode %s within activationTimeoutSeconds (%lld s); "
                 "the window's change is withdrawn. Last seen: %s",
                 quay_mode_name(w->mode), (long long)(w->t.activation_timeout_ms / 1000),
                 jstr(ac, "message") && *jstr(ac, "message") ? jstr(ac, "message")
                                                             : "(nothing reported)");
        } else if (!w->next_ms || deadline < w->next_ms) {
            w->next_ms = deadline;
        }
    }

    if (w->mode == QUAY_MODE_READ_ONLY && !mech && w->want_on) {
        /* Chosen once, when the window first wants to be on. */
        w->spec_mech = t->kind == QUAY_TARGET_QUAYREGISTRY && ctl_rw__qr_offers_readonly(r, ctx);
        set_str(w->status, "readOnlyMechanism", w->spec_mech ? RW_MECH_SPEC : RW_MECH_BUNDLE);
    }
    if (w->spec_mech) {
        /* The Quay Operator makes its own key: the driver sets the holders
         * of spec.readOnly from want_on; nothing else to prepare. */
        return 0;
    }
    if (w->mode == QUAY_MODE_READ_ONLY) {
        if (!w->want_on) {
            /* A key not yet in an overlay is not needed any more; its kid
             * stays in the status and is expired below. */
            ctl_rw__key_drop(r, w->uid);
        } else if (!o && !w->wait_msg[0]) {
            if ((rc = plan_read_only_key(r, ctx, t, s, w, now, err)))
                return rc;
        } else if (o && (rc = plan_extend(r, ctx, t, o, w, now, err))) {
            return rc;
        }
    }
    if (w->want_on && !o && !w->new_overlay && w->mode != QUAY_MODE_READ_ONLY && !w->wait_msg[0]) {
        long long since = (long long)(now / 1000);
        w->new_overlay =
            w->mode == QUAY_MODE_DISABLE_PUSHES
                ? quay_overlay_disable_pushes_new(w->name, since, err)
                : quay_overlay_scale_down_new(w->name, since, QUAY_COMPONENTS_DEFAULT, err);
        if (!w->new_overlay)
            return err->code ? err->code : K8S_ENOMEM;
    }
    if (!w->want_on && o)
        w->remove_overlay = 1;
    return 0;
}

/* ---- finalizer ----------------------------------------------------------------------------- */

static int patch_window(struct ctl_context *ctx, struct rw_win *w, cJSON *patch,
                        struct k8s_error *err)
{
    cJSON *res = NULL;
    const char *ns = jstr(jget(w->obj, "metadata"), "namespace");
    int rc = k8s_patch(ctl_context_client(ctx), &ctl_rw__windows_res, ns, w->name, K8S_PATCH_JSON,
                       patch, NULL, &res, err);
    cJSON_Delete(patch);
    if (rc == K8S_EINVALID)
        rc = k8s_error_set(err, K8S_ECONFLICT, "ReadOnlyWindow %s changed meanwhile", w->name);
    if (rc == K8S_ENOTFOUND)
        return 0; /* gone: nothing to hold any more */
    if (rc)
        return rc;
    /* Keep what we computed; take the object's new metadata. */
    put_member(w->obj, "metadata", cJSON_DetachItemFromObjectCaseSensitive(res, "metadata"));
    cJSON_Delete(res);
    return 0;
}

int ctl_rw__win_add_finalizer(struct ctl_context *ctx, struct rw_win *w, struct k8s_error *err)
{
    const cJSON *md = jget(w->obj, "metadata");
    cJSON *patch = cJSON_CreateArray(), *v;
    int rc;
    if (!patch)
        return k8s_error_set(err, K8S_ENOMEM, "out of memory");
    if (cJSON_IsArray(jget(md, "finalizers"))) {
        v = cJSON_CreateString(CTL_RW_FINALIZER);
        rc = k8s_json_patch_add_op(patch, "add", "/metadata/finalizers/-", v);
    } else {
        /* Adding the whole list: only onto the version we read. */
        v = cJSON_CreateString(jstr(md, "resourceVersion") ? jstr(md, "resourceVersion") : "");
        rc = k8s_json_patch_add_op(patch, "test", "/metadata/resourceVersion", v);
        cJSON_Delete(v);
        v = cJSON_CreateArray();
        if (v)
            cJSON_AddItemToArray(v, cJSON_CreateString(CTL_RW_FINALIZER));
        if (!rc)
            rc = k8s_json_patch_add_op(patch, "add", "/metadata/finalizers", v);
    }
    cJSON_Delete(v);
    if (rc) {
        cJSON_Delete(patch);
        return k8s_error_set(err, K8S_ENOMEM, "out of memory");
    }
    if ((rc = patch_window(ctx, w, patch, err)))
        return rc;
    w->finalizer = 1;
    return 0;
}

static int remove_finalizer(struct ctl_context *ctx, struct rw_win *w, struct k8s_error *err)
{
    const cJSON *f;
    int i = 0, rc = 0;
    char path[64];
    cJSON_ArrayForEach(f, jget(jget(w->obj, "metadata"), "finalizers"))
    {
        if (cJSON_IsString(f) && strcmp(f->valuestring, CTL_RW_FINALIZER) == 0)
            break;
        i++;
    }
    if (!f)
        return 0;
    cJSON *patch = cJSON_CreateArray(), *v = cJSON_CreateString(CTL_RW_FINALIZER);
    snprintf(path, sizeof(path), "/metadata/finalizers/%d", i);
    /* The test makes the index safe without a resourceVersion. */
    if (!patch || !v || k8s_json_patch_add_op(patch, "test", path, v) ||
        k8s_json_patch_add_op(patch, "remove", path, NULL))
        rc = k8s_error_set(err, K8S_ENOMEM, "out of memory");
    cJSON_Delete(v);
    if (rc) {
        cJSON_Delete(patch);
        return rc;
    }
    if ((rc = patch_window(ctx, w, patch, err)))
        return rc;
    w->finalizer = 0;
    return 0;
}

/* ---- report ---------------------------------------------------------------------------------- */

static int cond(struct rw_win *w, const char *type, const char *status, const char *reason,
                const char *msg, int64_t now, struct k8s_error *err)
{
    struct ctl_condition c = {type, status, reason, msg, w->generation};
    return ctl_condition_set(w->status, &c, now, NULL, err);
}

/* Expires the window's key at its end, once no configuration uses it. */
static int expire_key(struct ctl_rw *r, struct ctl_context *ctx, const struct quay_target_ref *t,
                      struct rw_win *w, int64_t now, char *msg, size_t cap, struct k8s_error *err)
{
    const char *kid = jstr(w->status, "serviceKeyID");
    char jobmsg[RW_MSG_MAX], kidc[QUAY_OVERLAY_MAX_KID + 1];
    enum quay_keyjob_state js;
    int rc;
    int busy = 0;
    snprintf(kidc, sizeof(kidc), "%s", kid ? kid : "");
    if ((rc = expire_job(r, ctx, t, w, kidc, &busy, &js, jobmsg, sizeof(jobmsg), err)))
        return rc;
    if (busy) {
        snprintf(msg, cap, "Expiring service key %s: %s", kidc, jobmsg);
        w->requeue_soon = 1;
        return 0;
    }
    if (js == QUAY_KEYJOB_SUCCEEDED) {
        set_time(w->status, "serviceKeyExpiryTime", now);
        ctl_event(ctl_context_recorder(ctx), w->obj, CTL_EVENT_NORMAL, "ServiceKeyExpired",
                  "Service key %s expired in Quay's database", kidc);
        return 0;
    }
    if (js == QUAY_KEYJOB_FAILED)
        snprintf(msg, cap,
                 "Could not expire service key %s in Quay's database (retried; it expires by "
                 "itself at %s): %s",
                 kidc, jstr(w->status, "serviceKeyExpiryTime"), jobmsg);
    else
        snprintf(msg, cap, "Expiring service key %s in Quay's database: %s", kidc, jobmsg);
    w->requeue_soon = 1;
    return 0;
}

/* The Event for entering `phase`. */
static void phase_event(struct ctl_context *ctx, struct rw_win *w, const char *reason,
                        const char *msg)
{
    const char *type = phase_is(w->phase, RW_PHASE_FAILED) ? CTL_EVENT_WARNING : CTL_EVENT_NORMAL;
    const char *ev = phase_is(w->phase, RW_PHASE_ACTIVE)         ? "Activated"
                     : phase_is(w->phase, RW_PHASE_ENDED)        ? (w->missed ? "Missed" : "Ended")
                     : phase_is(w->phase, RW_PHASE_FAILED)       ? reason
                     : phase_is(w->phase, RW_PHASE_DEACTIVATING) ? "Deactivating"
                     : phase_is(w->phase, RW_PHASE_ACTIVATING)   ? "Activating"
                                                                 : "Scheduled";
    /* The person's own words say which maintenance this is. */
    const char *why = jstr(jget(w->obj, "spec"), "reason");
    if (why && *why &&
        (phase_is(w->phase, RW_PHASE_SCHEDULED) || phase_is(w->phase, RW_PHASE_ACTIVE) ||
         phase_is(w->phase, RW_PHASE_ENDED)))
        ctl_event(ctl_context_recorder(ctx), w->obj, type, ev, "%s (window reason: %.256s)", msg,
                  why);
    else
        ctl_event(ctl_context_recorder(ctx), w->obj, type, ev, "%s", msg);
}

int ctl_rw__win_report(struct ctl_rw *r, struct ctl_context *ctx, const struct quay_target_ref *t,
                       struct rw_win *w, const struct rw_outcome *out, int64_t now,
                       struct k8s_error *err)
{
    const struct quay_step_result *res = &out->res;
    const char *mode = w->mode ? quay_mode_name(w->mode) : "(invalid)";
    char msg[2 * RW_MSG_MAX + 1024], ts[40], te[40];
    const char *active = CTL_COND_FALSE, *areason = "", *dstatus = CTL_COND_FALSE;
    const char *dreason = "AsExpected";
    char dmsg[RW_MSG_MAX] = "";
    int needs_confirm, withdrawn, clean, rc;
    const char *old_dreason = degraded_reason(w->status);
    char old_dreason_c[64];
    snprintf(old_dreason_c, sizeof(old_dreason_c), "%s", old_dreason ? old_dreason : "");

    msg[0] = '\0';
    needs_confirm = w->had_overlay || phase_is(w->old_phase, RW_PHASE_ACTIVATING) ||
                    phase_is(w->old_phase, RW_PHASE_ACTIVE) ||
                    phase_is(w->old_phase, RW_PHASE_DEACTIVATING);
    withdrawn = !w->has_overlay &&
                (!needs_confirm || out->confirmed || out->gone ||
                 (res->phase == QUAY_PHASE_BLOCKED && !strcmp(res->reason, QUAY_REASON_RESTORED)));

    /* Times a person reads in `kubectl describe`. */
    if (w->valid) {
        set_time(w->status, "startTime", w->t.start_ms);
        if (w->end_ms)
            set_time(w->status, "endTime", w->end_ms);
        else
            set_str(w->status, "endTime", NULL);
    }

    if (!w->want_on && !w->has_overlay && w->mode == QUAY_MODE_READ_ONLY && !key_done(w, now) &&
        withdrawn) {
        if (out->gone) {
            /* No registry to run the Job on: the key expires by itself. */
            snprintf(msg, sizeof(msg), "%s is gone; service key %s expires by itself at %s",
                     out->target_desc, jstr(w->status, "serviceKeyID"),
                     jstr(w->status, "serviceKeyExpiryTime"));
            set_time(w->status, "serviceKeyExpiryTime", now);
        } else if ((rc = expire_key(r, ctx, t, w, now, msg, sizeof(msg), err))) {
            return rc;
        }
    }
    clean = withdrawn && key_done(w, now);

    if (w->failed_now || (w->terminal && phase_is(w->phase, RW_PHASE_FAILED))) {
        snprintf(w->phase, sizeof(w->phase), "%s", RW_PHASE_FAILED);
        if (w->failed_now) {
            dstatus = CTL_COND_TRUE;
            dreason = w->fail_reason;
            snprintf(dmsg, sizeof(dmsg), "%s", w->fail_msg);
        } else {
            const cJSON *dc = ctl_condition_find(w->status, "Degraded");
            dstatus = CTL_COND_TRUE;
            dreason = jstr(dc, "reason") ? jstr(dc, "reason") : "Failed";
            snprintf(dmsg, sizeof(dmsg), "%s", jstr(dc, "message") ? jstr(dc, "message") : "");
        }
        areason = dreason;
        if (!clean && !msg[0])
            snprintf(msg, sizeof(msg), "Failed: withdrawing the window's change from %s: %s (%s)",
                     out->target_desc, res->message[0] ? res->message : "waiting for the registry",
                     quay_phase_name(res->phase));
        else if (!msg[0])
            snprintf(msg, sizeof(msg), "Failed; %s runs without this window's change. %s",
                     out->target_desc, dmsg);
        set_str(w->status, "effectiveMode", NULL);
        cJSON_DeleteItemFromObjectCaseSensitive(w->status, "effectiveWindowRef");
    } else if (w->want_on) {
        if (!w->has_overlay) {
            snprintf(w->phase, sizeof(w->phase), "%s", RW_PHASE_ACTIVATING);
            areason = w->key_busy ? "RegisteringServiceKey" : "Activating";
            snprintf(msg, sizeof(msg), "%s",
                     w->wait_msg[0] ? w->wait_msg : "Preparing the window's change");
        } else if (out->gone) {
            snprintf(w->phase, sizeof(w->phase), "%s",
                     w->activated_ms ? RW_PHASE_ACTIVE : RW_PHASE_ACTIVATING);
            areason = "TargetNotFound";
            snprintf(msg, sizeof(msg), "%s not found", out->target_desc);
        } else if (res->phase == QUAY_PHASE_CONFIRMED) {
            snprintf(w->phase, sizeof(w->phase), "%s", RW_PHASE_ACTIVE);
            if (!w->activated_ms) {
                w->activated_ms = now;
                set_time(w->status, "activatedTime", now);
                w->end_ms = ctl_rw_end(&w->t, now);
                if (w->end_ms)
                    set_time(w->status, "endTime", w->end_ms);
                if (w->end_ms && (!w->next_ms || w->end_ms < w->next_ms))
                    w->next_ms = w->end_ms;
            }
            active = CTL_COND_TRUE;
            areason = "Active";
            set_str(w->status, "effectiveMode", quay_mode_name(res->effective_mode));
            cJSON *ref = cJSON_CreateObject();
            if (ref)
                cJSON_AddStringToObject(ref, "name", res->mode_window);
            cJSON_DeleteItemFromObjectCaseSensitive(w->status, "effectiveWindowRef");
            cJSON_AddItemToObject(w->status, "effectiveWindowRef", ref);
            fmt_time(w->activated_ms, ts, sizeof(ts));
            if (w->end_ms)
                fmt_time(w->end_ms, te, sizeof(te));
            snprintf(msg, sizeof(msg),
                     "%s is in mode %s since %s (effective mode %s, set by window %s); %s%s",
                     out->target_desc, mode, ts, quay_mode_name(res->effective_mode),
                     res->mode_window, w->end_ms ? "ends at " : "lasts until deleted",
                     w->end_ms ? te : "");
        } else if (res->phase == QUAY_PHASE_APPLIED || res->phase == QUAY_PHASE_PROGRESSING) {
            if (w->activated_ms) {
                snprintf(w->phase, sizeof(w->phase), "%s", RW_PHASE_ACTIVE);
                active = CTL_COND_TRUE;
                areason = "Active";
                snprintf(msg, sizeof(msg), "%s is in mode %s; another change is rolling out: %s",
                         out->target_desc, mode, res->message);
            } else {
                snprintf(w->phase, sizeof(w->phase), "%s", RW_PHASE_ACTIVATING);
                areason = "Activating";
                snprintf(msg, sizeof(msg), "Waiting for %s to roll out the %s configuration: %s",
                         out->target_desc,
                         res->config_mode ? quay_mode_name(res->config_mode)
                                          : quay_mode_name(res->effective_mode),
                         res->message);
            }
            w->requeue_soon = 1;
        } else if (res->phase == QUAY_PHASE_BLOCKED) {
            if (!w->activated_ms || !strcmp(res->reason, QUAY_REASON_RESTORED)) {
                /* The target refuses: withdraw (next pass) and say why in
                 * its own words. */
                fail(w, res->reason[0] ? res->reason : "RolloutBlocked",
                     "%s refused mode %s: %s. The window's change is withdrawn", out->target_desc,
                     mode, res->message);
                snprintf(w->phase, sizeof(w->phase), "%s", RW_PHASE_FAILED);
                dstatus = CTL_COND_TRUE;
                dreason = w->fail_reason;
                snprintf(dmsg, sizeof(dmsg), "%s", w->fail_msg);
                areason = dreason;
                snprintf(msg, sizeof(msg), "Failed: %s", w->fail_msg);
                w->requeue_soon = 1;
            } else {
                snprintf(w->phase, sizeof(w->phase), "%s", RW_PHASE_ACTIVE);
                active = CTL_COND_TRUE;
                areason = "Active";
                dstatus = CTL_COND_TRUE;
                dreason = res->reason[0] ? res->reason : "RolloutBlocked";
                snprintf(dmsg, sizeof(dmsg), "%s", res->message);
                snprintf(msg, sizeof(msg), "%s is in mode %s; a later change is blocked: %s",
                         out->target_desc, mode, res->message);
            }
        } else { /* QUAY_PHASE_CHANGED_EXTERNALLY */
            w->stuck = 1;
            snprintf(w->phase, sizeof(w->phase), "%s",
                     w->activated_ms ? RW_PHASE_ACTIVE : RW_PHASE_ACTIVATING);
            active = CTL_COND_UNKNOWN;
            areason = QUAY_REASON_CHANGED_EXTERNALLY;
            dstatus = CTL_COND_TRUE;
            dreason = QUAY_REASON_CHANGED_EXTERNALLY;
            snprintf(dmsg, sizeof(dmsg), "%s", res->message);
            snprintf(msg, sizeof(msg), "Unknown: %s", res->message);
        }
        if (w->fail_reason[0] && !w->failed_now && !strcmp(dstatus, CTL_COND_FALSE)) {
            /* A renewal that failed: still active, degraded. */
            dstatus = CTL_COND_TRUE;
            dreason = w->fail_reason;
            snprintf(dmsg, sizeof(dmsg), "%s", w->fail_msg);
        }
    } else if (!clean) {
        snprintf(w->phase, sizeof(w->phase), "%s", RW_PHASE_DEACTIVATING);
        areason = "Deactivating";
        if (!msg[0]) {
            if (w->has_overlay)
                snprintf(msg, sizeof(msg), "%s", w->wait_msg[0] ? w->wait_msg : "Deactivating");
            else if (res->phase == QUAY_PHASE_CHANGED_EXTERNALLY ||
                     res->phase == QUAY_PHASE_BLOCKED)
                snprintf(msg, sizeof(msg), "Cannot withdraw the window's change: %s", res->message);
            else
                snprintf(msg, sizeof(msg),
                         "Waiting for %s to roll out the configuration without this window: %s",
                         out->target_desc, res->message);
        }
        if (res->phase == QUAY_PHASE_CHANGED_EXTERNALLY || res->phase == QUAY_PHASE_BLOCKED) {
            dstatus = CTL_COND_TRUE;
            dreason = res->phase == QUAY_PHASE_BLOCKED && res->reason[0]
                          ? res->reason
                          : QUAY_REASON_CHANGED_EXTERNALLY;
            snprintf(dmsg, sizeof(dmsg), "%s", res->message);
            /* Waiting for a person: their change of the registry (an
             * event) or the periodic look brings us back, not a poll. */
            w->stuck = 1;
        } else {
            w->requeue_soon = 1;
        }
        set_str(w->status, "effectiveMode", NULL);
        cJSON_DeleteItemFromObjectCaseSensitive(w->status, "effectiveWindowRef");
    } else if (w->scheduled) {
        snprintf(w->phase, sizeof(w->phase), "%s", RW_PHASE_SCHEDULED);
        areason = "Scheduled";
        fmt_time(w->t.start_ms, ts, sizeof(ts));
        if (w->end_ms)
            fmt_time(w->end_ms, te, sizeof(te));
        snprintf(msg, sizeof(msg), "Scheduled: activates at %s (%s on %s); %s%s", ts, mode,
                 out->target_desc, w->end_ms ? "ends at " : "lasts until deleted",
                 w->end_ms ? te : "");
    } else {
        snprintf(w->phase, sizeof(w->phase), "%s", RW_PHASE_ENDED);
        if (!phase_is(w->old_phase, RW_PHASE_ENDED) && w->deleting) {
            set_time(w->status, "endTime", now);
        }
        set_str(w->status, "effectiveMode", NULL);
        cJSON_DeleteItemFromObjectCaseSensitive(w->status, "effectiveWindowRef");
        if (w->missed || (phase_is(w->old_phase, RW_PHASE_ENDED) &&
                          !strcmp(jstr(ctl_condition_find(w->status, "Active"), "reason")
                                      ? jstr(ctl_condition_find(w->status, "Active"), "reason")
                                      : "",
                                  "Missed"))) {
            areason = "Missed";
            w->missed = 1;
            snprintf(msg, sizeof(msg),
                     "Never activated: the window's end passed before it could start (the "
                     "operator was not running, or the registry was not ready in time)");
        } else {
            areason = w->deleting ? "Deleted" : "Ended";
            fmt_time(jtime(w->status, "endTime") ? jtime(w->status, "endTime") : now, te,
                     sizeof(te));
            snprintf(msg, sizeof(msg), "Ended at %s; %s runs without this window's change", te,
                     out->target_desc);
        }
    }

    /* Conditions: Active, Degraded, and the Ready summary. */
    if ((rc = cond(w, "Active", active, areason, msg, now, err)))
        return rc;
    if ((rc = cond(w, "Degraded", dstatus, dreason, dmsg, now, err)))
        return rc;
    {
        int ready_phase = phase_is(w->phase, RW_PHASE_ACTIVE) ||
                          phase_is(w->phase, RW_PHASE_SCHEDULED) ||
                          phase_is(w->phase, RW_PHASE_ENDED);
        if (!strcmp(dstatus, CTL_COND_TRUE))
            rc = cond(w, "Ready", CTL_COND_FALSE, dreason, dmsg, now, err);
        else if (ready_phase)
            rc = cond(w, "Ready", CTL_COND_TRUE, w->phase, msg, now, err);
        else
            rc = cond(w, "Ready", CTL_COND_FALSE, w->phase, msg, now, err);
        if (rc)
            return rc;
    }
    set_str(w->status, "phase", w->phase);
    cJSON_DeleteItemFromObjectCaseSensitive(w->status, "observedGeneration");
    cJSON_AddNumberToObject(w->status, "observedGeneration", (double)w->generation);

    /* Events at each transition, and when a problem appears. */
    if (strcmp(w->old_phase, w->phase) != 0)
        phase_event(ctx, w, dreason, msg);
    if (!strcmp(dstatus, CTL_COND_TRUE) && strcmp(old_dreason_c, dreason) != 0 &&
        !phase_is(w->phase, RW_PHASE_FAILED))
        ctl_event(ctl_context_recorder(ctx), w->obj, CTL_EVENT_WARNING, dreason, "%s", dmsg);

    /* Write the status when it changed (resourceVersion-checked). */
    if (!k8s_json_equal(w->status, jget(w->obj, "status"))) {
        cJSON *obj = cJSON_Duplicate(w->obj, 1), *res_obj = NULL;
        const char *ns = jstr(jget(w->obj, "metadata"), "namespace");
        struct k8s_opts o = {.subresource = "status"};
        if (!obj)
            return k8s_error_set(err, K8S_ENOMEM, "out of memory");
        cJSON_DeleteItemFromObjectCaseSensitive(obj, "status");
        cJSON_AddItemToObject(obj, "status", cJSON_Duplicate(w->status, 1));
        if (!ctl_context_may_write(ctx)) {
            cJSON_Delete(obj);
            return k8s_error_set(err, K8S_ESTOPPED, "no longer the leader");
        }
        rc = k8s_update(ctl_context_client(ctx), &ctl_rw__windows_res, ns, w->name, obj, &o,
                        &res_obj, err);
        cJSON_Delete(obj);
        if (rc == K8S_ENOTFOUND) {
            cJSON_Delete(res_obj);
            return 0;
        }
        if (rc) {
            cJSON_Delete(res_obj);
            return rc == K8S_ECONFLICT ? CTL_REQUEUE : rc;
        }
        put_member(w->obj, "metadata",
                   cJSON_DetachItemFromObjectCaseSensitive(res_obj, "metadata"));
        put_member(w->obj, "status", cJSON_Duplicate(w->status, 1));
        cJSON_Delete(res_obj);
    }

    /* The finalizer goes once nothing of the window is left anywhere. */
    if (w->finalizer && clean && !w->want_on && !w->scheduled &&
        (w->deleting || phase_is(w->phase, RW_PHASE_ENDED) ||
         phase_is(w->phase, RW_PHASE_FAILED))) {
        if (!ctl_context_may_write(ctx))
            return k8s_error_set(err, K8S_ESTOPPED, "no longer the leader");
        if ((rc = remove_finalizer(ctx, w, err)))
            return rc == K8S_ECONFLICT ? CTL_REQUEUE : rc;
    }
    return 0;
}

/* ---- a window without a target ------------------------------------------------------------------
 */

/*
 * A fresh read of one window (*out NULL when it is gone). A LIST by
 * metadata.name rather than a GET: the reconcilers read windows only by
 * listing, so the operator's role needs no `get` on them (deploy/rbac.yaml).
 */
static int read_window(struct ctl_context *ctx, const char *ns, const char *name, cJSON **out,
                       struct k8s_error *err)
{
    char sel[300];
    cJSON *list = NULL, *items;
    struct k8s_opts o = {.field_selector = sel};
    int rc;
    *out = NULL;
    if ((size_t)snprintf(sel, sizeof(sel), "metadata.name=%s", name) >= sizeof(sel))
        return k8s_error_set(err, K8S_EINVALID, "window name too long");
    if ((rc = k8s_list(ctl_context_client(ctx), &ctl_rw__windows_res, ns, &o, &list, err)))
        return rc;
    items = cJSON_GetObjectItemCaseSensitive(list, "items");
    if (cJSON_GetArraySize(items) > 0)
        *out = cJSON_DetachItemFromArray(items, 0);
    cJSON_Delete(list);
    return 0;
}

int ctl_rw__win_invalid_target(struct ctl_context *ctx, const char *ns, const char *name,
                               struct k8s_error *err)
{
    cJSON *obj = NULL;
    struct rw_win w;
    struct quay_target_ref ref;
    struct k8s_error terr;
    char key[RW_KEY_MAX];
    int64_t now = ctl_clock_wall_ms(ctl_context_clock(ctx));
    int rc = read_window(ctx, ns, name, &obj, err);
    if (rc)
        return rc;
    if (!obj)
        return 0;
    k8s_error_clear(&terr);
    if (ctl_rw__target_key(obj, key, sizeof(key), &ref, &terr) == 0) {
        /* Resolvable after all (edited meanwhile): its target's key does it. */
        ctl_manager_enqueue(ctl_context_manager(ctx), key);
        cJSON_Delete(obj);
        return 0;
    }
    if ((rc = ctl_rw__win_load(&w, obj, err)))
        goto out;
    snprintf(w.phase, sizeof(w.phase), "%s", RW_PHASE_FAILED);
    struct ctl_condition c1 = {"Active", CTL_COND_FALSE, "InvalidTarget", terr.message,
                               w.generation};
    struct ctl_condition c2 = {"Degraded", CTL_COND_TRUE, "InvalidTarget", terr.message,
                               w.generation};
    struct ctl_condition c3 = {"Ready", CTL_COND_FALSE, "InvalidTarget", terr.message,
                               w.generation};
    if ((rc = ctl_condition_set(w.status, &c1, now, NULL, err)) ||
        (rc = ctl_condition_set(w.status, &c2, now, NULL, err)) ||
        (rc = ctl_condition_set(w.status, &c3, now, NULL, err)))
        goto out;
    set_str(w.status, "phase", RW_PHASE_FAILED);
    cJSON_DeleteItemFromObjectCaseSensitive(w.status, "observedGeneration");
    cJSON_AddNumberToObject(w.status, "observedGeneration", (double)w.generation);
    if (strcmp(w.old_phase, RW_PHASE_FAILED) != 0)
        ctl_event(ctl_context_recorder(ctx), w.obj, CTL_EVENT_WARNING, "InvalidTarget", "%s",
                  terr.message);
    if (!k8s_json_equal(w.status, jget(w.obj, "status"))) {
        struct k8s_opts o = {.subresource = "status"};
        cJSON_DeleteItemFromObjectCaseSensitive(w.obj, "status");
        cJSON_AddItemToObject(w.obj, "status", cJSON_Duplicate(w.status, 1));
        cJSON *res_obj = NULL;
        rc = k8s_update(ctl_context_client(ctx), &ctl_rw__windows_res, ns, name, w.obj, &o,
                        &res_obj, err);
        cJSON_Delete(res_obj);
        if (rc == K8S_ECONFLICT)
            rc = CTL_REQUEUE;
        if (rc)
            goto out;
    }
    /* Nothing was ever applied for a target that does not resolve. */
    if (w.finalizer)
        rc = remove_finalizer(ctx, &w, err);
out:
    ctl_rw__win_clear(&w);
    cJSON_Delete(obj);
    return rc;
}
