/*
 * The probe and metrics HTTP server (see ctl_httpserver.h).
 *
 * Internals: each listener is an lws vhost whose user pointer is its route
 * table. A request is answered in two steps, as lws wants: LWS_CALLBACK_HTTP
 * runs the handler into the session's buffer and writes the headers; each
 * LWS_CALLBACK_HTTP_WRITEABLE then writes up to 16 KiB of the body, the last
 * piece with LWS_WRITE_HTTP_FINAL, and completes the transaction so the
 * connection can serve the next request. The session buffer is reset per
 * request and freed when lws drops the session.
 */
#include "ctl_httpserver.h"

#include <arpa/inet.h>
#include <libwebsockets.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK 16384

struct listener {
    char addr[300];
    char host[256];
    int port;
    struct ctl_http_route routes[CTL_HTTP_MAX_ROUTES];
    size_t nroutes;
    struct lws_vhost *vh;
    int bound_port;
};

struct ctl_httpserver {
    struct listener listeners[CTL_HTTP_MAX_LISTENERS];
    size_t nlisteners;
    struct lws_context *ctx;
    pthread_t thread;
    int thread_started;
    atomic_int stopping;
};

struct pss {
    struct k8s_buf body;
    size_t off;
    int active;
};

int ctl_http_parse_addr(const char *addr, char *host, size_t host_cap, int *port)
{
    const char *colon, *hs = addr, *he;
    char *end;
    long p;
    if (!addr || !host || host_cap == 0)
        return K8S_EARG;
    if (addr[0] == '[') {
        he = strchr(addr, ']');
        if (!he || he[1] != ':')
            return K8S_EARG;
        hs = addr + 1;
        colon = he + 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon)
            return K8S_EARG;
        he = colon;
    }
    if ((size_t)(he - hs) >= host_cap)
        return K8S_EARG;
    p = strtol(colon + 1, &end, 10);
    if (!colon[1] || *end || p < 0 || p > 65535)
        return K8S_EARG;
    memcpy(host, hs, (size_t)(he - hs));
    host[he - hs] = '\0';
    *port = (int)p;
    return 0;
}

int ctl_httpserver_new(struct ctl_httpserver **out, struct k8s_error *err)
{
    struct ctl_httpserver *s = calloc(1, sizeof(*s));
    *out = NULL;
    if (!s)
        return k8s_error_set(err, K8S_ENOMEM, "http server: out of memory");
    atomic_init(&s->stopping, 0);
    *out = s;
    return 0;
}

int ctl_httpserver_listen(struct ctl_httpserver *s, const char *addr,
                          const struct ctl_http_route *routes, size_t nroutes, size_t *index,
                          struct k8s_error *err)
{
    struct listener *l;
    if (s->ctx)
        return k8s_error_set(err, K8S_EARG, "http server: listeners are added before start");
    if (s->nlisteners >= CTL_HTTP_MAX_LISTENERS || nroutes > CTL_HTTP_MAX_ROUTES)
        return k8s_error_set(err, K8S_EARG, "http server: too many listeners or routes");
    l = &s->listeners[s->nlisteners];
    memset(l, 0, sizeof(*l));
    if (ctl_http_parse_addr(addr, l->host, sizeof(l->host), &l->port) != 0)
        return k8s_error_set(err, K8S_EARG, "http server: address \"%s\" is not host:port or :port",
                             addr ? addr : "");
    snprintf(l->addr, sizeof(l->addr), "%s", addr);
    memcpy(l->routes, routes, nroutes * sizeof(*routes));
    l->nroutes = nroutes;
    l->bound_port = -1;
    if (index)
        *index = s->nlisteners;
    s->nlisteners++;
    return 0;
}

static void pss_release(struct pss *p)
{
    if (p && p->active) {
        k8s_buf_free(&p->body);
        p->active = 0;
    }
}

static int respond(struct lws *wsi, struct pss *p, int status, const char *ctype)
{
    unsigned char hdr[LWS_PRE + 1024];
    unsigned char *start = hdr + LWS_PRE, *ptr = start, *end = hdr + sizeof(hdr) - 1;
    if (lws_add_http_common_headers(wsi, (unsigned int)status, ctype, p->body.len, &ptr, end))
        return -1;
    if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
                                     (const unsigned char *)"no-store", 8, &ptr, end))
        return -1;
    if (lws_finalize_write_http_header(wsi, start, &ptr, end))
        return -1;
    p->off = 0;
    lws_callback_on_writable(wsi);
    return 0;
}

static int on_http(struct lws *wsi, struct pss *p, const char *path)
{
    const struct listener *l = lws_get_vhost_user(lws_get_vhost(wsi));
    const char *ctype = "text/plain; charset=utf-8";
    int status = 404;

    pss_release(p);
    k8s_buf_init(&p->body, CTL_HTTP_MAX_BODY);
    p->active = 1;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0) {
        status = 405;
        k8s_buf_appendf(&p->body, "method not allowed\n");
        return respond(wsi, p, status, ctype);
    }
    for (size_t i = 0; l && i < l->nroutes; i++) {
        if (strcmp(l->routes[i].path, path) != 0)
            continue;
        status = l->routes[i].fn(l->routes[i].user, &p->body, &ctype);
        return respond(wsi, p, status, ctype);
    }
    k8s_buf_appendf(&p->body, "not found\n");
    return respond(wsi, p, status, ctype);
}

static int on_writeable(struct lws *wsi, struct pss *p)
{
    unsigned char buf[LWS_PRE + CHUNK];
    size_t n = p->body.len - p->off;
    int final;
    if (!p->active)
        return 0;
    if (n > CHUNK)
        n = CHUNK;
    final = p->off + n >= p->body.len;
    if (n)
        memcpy(buf + LWS_PRE, p->body.data + p->off, n);
    if (lws_write(wsi, buf + LWS_PRE, n, final ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) < (int)n)
        return -1;
    p->off += n;
    if (!final) {
        lws_callback_on_writable(wsi);
        return 0;
    }
    pss_release(p);
    if (lws_http_transaction_completed(wsi))
        return -1;
    return 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    struct pss *p = user;
    switch (reason) {
    case LWS_CALLBACK_HTTP:
        return on_http(wsi, p, in ? (const char *)in : "");
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return on_writeable(wsi, p);
    case LWS_CALLBACK_HTTP_BODY:
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        return 0; /* bodies are ignored: nothing here takes input */
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        pss_release(p);
        return 0;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
    {"http", callback, sizeof(struct pss), 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void *service_main(void *arg)
{
    struct ctl_httpserver *s = arg;
    while (!atomic_load(&s->stopping)) {
        if (lws_service(s->ctx, 0) < 0)
            break;
    }
    return NULL;
}

static int is_ipv4_literal(const char *h)
{
    unsigned char tmp[4];
    return inet_pton(AF_INET, h, tmp) == 1;
}

int ctl_httpserver_start(struct ctl_httpserver *s, struct k8s_error *err)
{
    struct lws_context_creation_info info;
    int rc = 0;

    if (s->ctx)
        return k8s_error_set(err, K8S_EARG, "http server: already started");
    memset(&info, 0, sizeof(info));
    info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
    info.port = CONTEXT_PORT_NO_LISTEN;
    s->ctx = lws_create_context(&info);
    if (!s->ctx)
        return k8s_error_set(err, K8S_EIO, "http server: cannot create the lws context");
    for (size_t i = 0; i < s->nlisteners; i++) {
        struct listener *l = &s->listeners[i];
        memset(&info, 0, sizeof(info));
        info.port = l->port;
        info.iface = l->host[0] ? l->host : NULL;
        /* An IPv4 address cannot be bound as an IPv6 socket. */
        if (l->host[0] && is_ipv4_literal(l->host))
            info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
        info.protocols = protocols;
        info.vhost_name = l->addr;
        info.user = l;
        info.keepalive_timeout = 30;
        info.timeout_secs = 30;
        l->vh = lws_create_vhost(s->ctx, &info);
        if (!l->vh) {
            rc = k8s_error_set(err, K8S_EIO, "http server: cannot listen on %s (in use?)", l->addr);
            goto out;
        }
        l->bound_port = lws_get_vhost_listen_port(l->vh);
        if (l->bound_port <= 0) {
            rc = k8s_error_set(err, K8S_EIO, "http server: cannot listen on %s", l->addr);
            goto out;
        }
    }
    if (pthread_create(&s->thread, NULL, service_main, s) != 0) {
        rc = k8s_error_set(err, K8S_EIO, "http server: cannot start its thread");
        goto out;
    }
    s->thread_started = 1;
out:
    if (rc) {
        lws_context_destroy(s->ctx);
        s->ctx = NULL;
        for (size_t i = 0; i < s->nlisteners; i++)
            s->listeners[i].vh = NULL;
    }
    return rc;
}

int ctl_httpserver_port(const struct ctl_httpserver *s, size_t index)
{
    if (!s || index >= s->nlisteners)
        return -1;
    return s->listeners[index].bound_port;
}

void ctl_httpserver_stop(struct ctl_httpserver *s)
{
    if (!s || !s->ctx)
        return;
    atomic_store(&s->stopping, 1);
    if (s->thread_started) {
        lws_cancel_service(s->ctx);
        pthread_join(s->thread, NULL);
        s->thread_started = 0;
    }
    lws_context_destroy(s->ctx);
    s->ctx = NULL;
}

void ctl_httpserver_free(struct ctl_httpserver *s)
{
    if (!s)
        return;
    ctl_httpserver_stop(s);
    free(s);
}
