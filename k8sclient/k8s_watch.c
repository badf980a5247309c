/*
 * The watch verb (see k8s_watch.h): one streaming GET whose body is fed, as
 * libcurl delivers it, to the incremental watch decoder (k8s_watch_decoder.c),
 * which hands each complete event to the caller's callback.
 *
 * The stream can end in four ways, and each has one meaning for the caller:
 *   - an ERROR event: its Status becomes the returned error (410 Expired ->
 *     K8S_EGONE: relist). The event is not passed to the callback.
 *   - the callback or wopts->stop asks to stop: K8S_ESTOPPED. wopts->stop is
 *     polled from libcurl's progress callback, which runs about once a second
 *     even on a silent stream, so a stop takes effect within about a second.
 *   - a line that is not a watch event: K8S_EDECODE.
 *   - anything else (the server's timeoutSeconds, a reset, an h2 GOAWAY that
 *     libcurl reports as success with an empty body): K8S_EDISCONNECTED.
 * A watch never returns 0.
 */
#include "k8s_watch.h"

#include <stdio.h>
#include <string.h>

#include "k8s_buf.h"
#include "k8s_transport.h"

struct watch_ctx {
    struct k8s_watch_decoder dec;
    k8s_watch_cb cb;
    void *user;
    volatile int *stop;
    int rc;               /* why we ended the stream ourselves; 0 if we did not */
    struct k8s_error err; /* its detail */
};

static int on_event(const struct k8s_watch_event *ev, void *user)
{
    struct watch_ctx *w = user;
    if (ev->type == K8S_WATCH_ERROR) {
        w->rc = k8s_watch_error_from_status(ev->object, &w->err);
        if (w->rc == 0)
            w->rc = k8s_error_set(&w->err, K8S_EHTTP, "the watch sent an ERROR event");
        return 1;
    }
    if (w->cb(ev, w->user) != 0) {
        w->rc = k8s_error_set(&w->err, K8S_ESTOPPED, "the watch callback asked to stop");
        return 1;
    }
    return 0;
}

static int should_stop(void *user)
{
    struct watch_ctx *w = user;
    if (w->stop && *w->stop) {
        if (!w->rc)
            w->rc = k8s_error_set(&w->err, K8S_ESTOPPED, "the watch was asked to stop");
        return 1;
    }
    return 0;
}

static int on_data(const char *data, size_t len, void *user)
{
    struct watch_ctx *w = user;
    struct k8s_error derr;
    if (should_stop(w))
        return 1;
    k8s_error_clear(&derr);
    int rc = k8s_watch_decoder_feed(&w->dec, data, len, on_event, w, &derr);
    if (rc == 0)
        return 0;
    /* K8S_ESTOPPED from the decoder means on_event ended it and already
     * said why; anything else is the decoder's own complaint. */
    if (!w->rc) {
        w->rc = rc;
        w->err = derr;
    }
    return 1;
}

int k8s_watch(struct k8s_client *c, const struct k8s_resource *res, const char *ns,
              const struct k8s_watch_opts *wopts, k8s_watch_cb cb, void *user,
              struct k8s_error *err)
{
    int rc = 0;
    char path[2048];
    struct k8s_buf u;
    struct k8s_response resp = {0};
    struct watch_ctx w = {.cb = cb, .user = user};
    struct k8s_error scratch;
    if (!err)
        err = &scratch;
    k8s_buf_init(&u, 64 * 1024);
    k8s_watch_decoder_init(&w.dec);
    k8s_error_clear(&w.err);
    if (!c || !res || !cb) {
        rc = k8s_error_set(err, K8S_EARG, "watch needs a client, a resource and a callback");
        goto out;
    }
    if (wopts)
        w.stop = wopts->stop;
    if (w.stop && *w.stop) {
        rc = k8s_error_set(err, K8S_ESTOPPED, "the watch was asked to stop");
        goto out;
    }
    rc = k8s_resource_path(res, ns, NULL, NULL, path, sizeof(path));
    if (rc) {
        rc = k8s_error_set(err, K8S_EARG, "cannot build a watch path for %s",
                           res->resource ? res->resource : "(none)");
        goto out;
    }
    rc = k8s_buf_appendf(&u, "%s?watch=1", path);
    if (!rc && wopts && wopts->resource_version && *wopts->resource_version)
        rc = k8s_query_add(&u, "resourceVersion", wopts->resource_version);
    if (!rc && wopts && wopts->allow_bookmarks)
        rc = k8s_query_add(&u, "allowWatchBookmarks", "true");
    if (!rc && wopts && wopts->timeout_seconds > 0)
        rc = k8s_buf_appendf(&u, "&timeoutSeconds=%ld", wopts->timeout_seconds);
    if (!rc && wopts && wopts->label_selector && *wopts->label_selector)
        rc = k8s_query_add(&u, "labelSelector", wopts->label_selector);
    if (!rc && wopts && wopts->field_selector && *wopts->field_selector)
        rc = k8s_query_add(&u, "fieldSelector", wopts->field_selector);
    if (rc) {
        rc = k8s_error_set(err, K8S_EARG, "watch URL too long");
        goto out;
    }

    struct k8s_transport_req req = {
        .method = "GET",
        .path_query = u.data,
        .accept = wopts && wopts->accept ? wopts->accept : "application/json",
        .streaming = 1,
        /* The server ends the watch after timeoutSeconds; the bound only
         * catches a server that forgets to. Without timeoutSeconds the
         * stream may rightly last for ever (keep-alive finds dead peers). */
        .stream_timeout_ms =
            wopts && wopts->timeout_seconds > 0 ? (wopts->timeout_seconds + 60) * 1000L : 0,
        .on_data = on_data,
        .should_stop = should_stop,
        .user = &w,
    };
    rc = k8s_transport_do(k8s_client_transport(c), &req, &resp, err);
    if (w.rc) {
        long status = resp.status;
        rc = w.rc;
        *err = w.err;
        if (!err->http_status)
            err->http_status = status;
    }
out:
    k8s_response_free(&resp);
    k8s_watch_decoder_free(&w.dec);
    k8s_buf_free(&u);
    return rc;
}
