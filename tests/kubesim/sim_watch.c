/*
 * Watch streams (see sim_watch.h). A watch holds a cursor into the store's
 * history (the last resourceVersion it has looked at) and, for "start from
 * the current state", a snapshot of the objects to announce first. It keeps
 * no copy of events: it re-reads the shared history when the HTTP layer asks
 * for more, so a slow client costs nothing but its own output buffer.
 */
#include "sim_watch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_admin.h"
#include "sim_kind.h"
#include "sim_render.h"
#include "sim_select.h"
#include "sim_server.h"
#include "sim_status.h"
#include "sim_store.h"
#include "sim_util.h"

struct sim_watch {
    struct sim_server *srv;
    const struct sim_kind *kind;
    const struct sim_coll *coll;
    char *ns;
    struct sim_labelsel *labels;
    struct sim_fieldsel *fields;
    enum sim_as as;
    uint64_t cursor;
    cJSON **initial;
    size_t ninitial, initial_pos;
    int bookmarks;
    int64_t next_bookmark_ms;
    int64_t deadline_ms;
    int64_t started_ms;
    int table_header_sent;
    int error_pending; /* too old at start */
    uint64_t oldest;
    int done;
};

static int selects(const struct sim_watch *w, const cJSON *obj)
{
    if (w->ns) {
        const char *ns = sim_jstr(obj, "metadata", "namespace", NULL);
        if (!ns || strcmp(ns, w->ns) != 0)
            return 0;
    }
    if (!sim_labelsel_match(w->labels, sim_jget(obj, "metadata", "labels", NULL)))
        return 0;
    return sim_fieldsel_match(w->fields, obj);
}

struct sim_watch *sim_watch_new(struct sim_server *srv, const struct sim_kind *k,
                                struct sim_watch_opts *opts)
{
    struct sim_watch *w = calloc(1, sizeof(*w));
    struct sim_coll *c;
    if (!w) {
        sim_labelsel_free(opts->labels);
        sim_fieldsel_free(opts->fields);
        return NULL;
    }
    w->srv = srv;
    w->kind = k;
    w->labels = opts->labels;
    w->fields = opts->fields;
    opts->labels = NULL;
    opts->fields = NULL;
    w->as = opts->as;
    w->bookmarks = opts->bookmarks;
    w->started_ms = sim_mono_ms();
    w->next_bookmark_ms = w->started_ms + srv->opt.bookmark_ms;
    w->deadline_ms = opts->timeout_ms > 0 ? w->started_ms + opts->timeout_ms : 0;
    if (opts->ns && !(w->ns = strdup(opts->ns)))
        goto oom;
    c = sim_store_coll(srv->store, k->store_group, k->store_resource, 1);
    if (!c)
        goto oom;
    w->coll = c;
    if (opts->send_initial) {
        size_t b, e;
        sim_coll_range(c, w->ns, &b, &e);
        w->initial = calloc(e - b + 1, sizeof(*w->initial));
        if (!w->initial)
            goto oom;
        for (size_t i = b; i < e; i++) {
            if (!selects(w, c->v[i]->json))
                continue;
            if (!(w->initial[w->ninitial] = cJSON_Duplicate(c->v[i]->json, 1)))
                goto oom;
            w->ninitial++;
        }
        w->cursor = sim_store_rv(srv->store);
    } else {
        w->cursor = opts->from_rv;
        if (sim_store_history_from(srv->store, opts->from_rv, &w->cursor, &w->oldest) != 0)
            w->error_pending = 1;
    }
    return w;
oom:
    sim_watch_free(w);
    return NULL;
}

void sim_watch_free(struct sim_watch *w)
{
    if (!w)
        return;
    for (size_t i = w->initial_pos; i < w->ninitial; i++)
        cJSON_Delete(w->initial[i]);
    free(w->initial);
    free(w->ns);
    sim_labelsel_free(w->labels);
    sim_fieldsel_free(w->fields);
    free(w);
}

int64_t sim_watch_started(const struct sim_watch *w)
{
    return w->started_ms;
}

/* Appends {"type":T,"object":O}\n with O rendered as the client asked. */
static int emit(struct sim_watch *w, struct k8s_buf *out, const char *type, const cJSON *stored)
{
    cJSON *ev = cJSON_CreateObject();
    cJSON *served = sim_render(w->kind, stored);
    cJSON *obj = NULL;
    char *text;
    int rc = -1;
    if (!ev || !served)
        goto out;
    if (w->as == SIM_AS_META) {
        obj = sim_render_meta(served);
    } else if (w->as == SIM_AS_TABLE) {
        obj = sim_table_new(w->kind, !w->table_header_sent);
        w->table_header_sent = 1;
        if (obj && sim_table_add_row(obj, w->kind, served, "Metadata") != 0) {
            cJSON_Delete(obj);
            obj = NULL;
        }
    } else {
        obj = served;
        served = NULL;
    }
    if (!obj)
        goto out;
    cJSON_AddStringToObject(ev, "type", type);
    cJSON_AddItemToObject(ev, "object", obj);
    text = cJSON_PrintUnformatted(ev);
    if (!text)
        goto out;
    rc = k8s_buf_append(out, text, strlen(text));
    if (rc == 0)
        rc = k8s_buf_append(out, "\n", 1);
    free(text);
out:
    cJSON_Delete(ev);
    cJSON_Delete(served);
    return rc;
}

static int emit_error(struct sim_watch *w, struct k8s_buf *out)
{
    struct sim_err e;
    cJSON *ev = cJSON_CreateObject();
    char *text;
    int rc = -1;
    sim_err_clear(&e);
    sim_err_expired(&e, "too old resource version: %llu (%llu)", (unsigned long long)w->cursor,
                    (unsigned long long)w->oldest);
    if (!ev)
        return -1;
    cJSON_AddStringToObject(ev, "type", "ERROR");
    cJSON_AddItemToObject(ev, "object", sim_err_to_status(&e));
    text = cJSON_PrintUnformatted(ev);
    cJSON_Delete(ev);
    if (!text)
        return -1;
    rc = k8s_buf_append(out, text, strlen(text));
    if (rc == 0)
        rc = k8s_buf_append(out, "\n", 1);
    free(text);
    return rc;
}

static int emit_bookmark(struct sim_watch *w, struct k8s_buf *out)
{
    char av[256], rv[32];
    int n;
    sim_kind_api_version(w->kind, av, sizeof(av));
    snprintf(rv, sizeof(rv), "%llu", (unsigned long long)w->cursor);
    if (w->as == SIM_AS_META)
        n = k8s_buf_appendf(out,
                            "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"PartialObjectMetadata\","
                            "\"apiVersion\":\"meta.k8s.io/v1\",\"metadata\":{\"resourceVersion\":"
                            "\"%s\",\"creationTimestamp\":null}}}\n",
                            rv);
    else
        n = k8s_buf_appendf(out,
                            "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"%s\",\"apiVersion\":"
                            "\"%s\",\"metadata\":{\"resourceVersion\":\"%s\","
                            "\"creationTimestamp\":null}}}\n",
                            w->kind->kind, av, rv);
    return n;
}

int sim_watch_ready(const struct sim_watch *w)
{
    const struct sim_store *s = w->srv->store;
    int64_t now = sim_mono_ms();
    if (w->done || w->error_pending || w->initial_pos < w->ninitial)
        return 1;
    if (!w->kind->served)
        return 1;
    if (sim_store_rv(s) > w->cursor)
        return 1;
    if (w->bookmarks && now >= w->next_bookmark_ms)
        return 1;
    if (w->deadline_ms && now >= w->deadline_ms)
        return 1;
    return 0;
}

int sim_watch_produce(struct sim_watch *w, struct k8s_buf *out, size_t max)
{
    const struct sim_event *ev;
    uint64_t oldest;
    int64_t now;
    if (w->done)
        return 1;
    if (w->error_pending) {
        emit_error(w, out);
        w->done = 1;
        return 1;
    }
    while (w->initial_pos < w->ninitial) {
        cJSON *o = w->initial[w->initial_pos];
        w->initial[w->initial_pos++] = NULL;
        emit(w, out, "ADDED", o);
        cJSON_Delete(o);
        if (out->len > max)
            return 0;
    }
    /* A watcher that fell behind the history's start lost events: end it with
     * 410 like the watch cache does, so the client relists. */
    if (sim_store_history_from(w->srv->store, w->cursor, &(uint64_t){0}, &oldest) != 0) {
        w->oldest = oldest;
        emit_error(w, out);
        w->done = 1;
        return 1;
    }
    while (out->len <= max && (ev = sim_store_history_next(w->srv->store, &w->cursor)) != NULL) {
        int now_match, old_match;
        if (ev->coll != w->coll)
            continue;
        now_match = selects(w, ev->obj);
        switch (ev->type) {
        case SIM_EV_ADDED:
            if (now_match)
                emit(w, out, "ADDED", ev->obj);
            break;
        case SIM_EV_DELETED:
            if (now_match)
                emit(w, out, "DELETED", ev->obj);
            break;
        case SIM_EV_MODIFIED:
            old_match = ev->old ? selects(w, ev->old) : 0;
            if (now_match && old_match) {
                emit(w, out, "MODIFIED", ev->obj);
            } else if (now_match) {
                emit(w, out, "ADDED", ev->obj);
            } else if (old_match) {
                /* The previous content with the event's version, as the cache does. */
                cJSON *prev = cJSON_Duplicate(ev->old, 1);
                cJSON *meta = prev ? sim_jobj(prev, "metadata") : NULL;
                char rv[32];
                snprintf(rv, sizeof(rv), "%llu", (unsigned long long)ev->rv);
                if (meta)
                    sim_jset_str(meta, "resourceVersion", rv);
                if (prev)
                    emit(w, out, "DELETED", prev);
                cJSON_Delete(prev);
            }
            break;
        }
    }
    if (out->len > max)
        return 0;
    now = sim_mono_ms();
    if (!w->kind->served) {
        w->done = 1;
        return 1;
    }
    if (w->bookmarks && now >= w->next_bookmark_ms) {
        emit_bookmark(w, out);
        w->next_bookmark_ms = now + w->srv->opt.bookmark_ms;
    }
    if (w->deadline_ms && now >= w->deadline_ms) {
        w->done = 1;
        return 1;
    }
    return 0;
}
