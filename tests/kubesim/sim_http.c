/*
 * libwebsockets server glue (see sim_http.h). Per-transaction state lives in
 * the per-session data of the wsi: for HTTP/1.1 keep-alive one session serves
 * several transactions in turn (it is reset at each new request); each h2
 * stream has its own. Sessions with something pending on the timer (a delayed
 * answer or a stream) are kept in a list so the timer and store events can
 * wake them with lws_callback_on_writable.
 *
 * Streaming answers — watches and followed pod logs — all go through the
 * small interface of struct sim_stream (sim_api.h): the framing, flow control
 * and end-of-stream handling below do not know which kind they carry; only
 * the admin's watch cuts look at `cuttable`.
 */
#include "sim_http.h"

#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8s_buf.h"
#include "k8s_log.h"
#include "sim_admin.h"
#include "sim_api.h"
#include "sim_server.h"
#include "sim_util.h"

#define MAX_BODY    (16u * 1024 * 1024)
#define MAX_OUT     (512u * 1024 * 1024)
#define PIECE       16384
#define STREAM_FILL 65536

enum phase { PH_IDLE, PH_BODY, PH_DELAYED, PH_HEADERS, PH_BODY_OUT, PH_FLUSH, PH_DONE };

struct pss {
    struct pss *next;
    int linked;
    struct lws *wsi;
    struct sim_http *http;
    enum phase phase;
    struct sim_request req;
    struct k8s_buf body;
    struct sim_response resp;
    size_t out_off;
    int64_t due_ms;
    struct sim_stream *stream;
    int stream_over;
    int cut;
    int h2;
};

struct sim_http {
    struct sim_server *srv;
    struct lws_context *ctx;
    struct lws_vhost *vh;
    struct pss *list;
    lws_sorted_usec_list_t sul;
    unsigned char scratch[LWS_PRE + PIECE + 64];
};

static void link_pss(struct pss *p)
{
    if (p->linked)
        return;
    p->next = p->http->list;
    p->http->list = p;
    p->linked = 1;
}

static void unlink_pss(struct pss *p)
{
    struct pss **pp;
    if (!p->linked || !p->http)
        return;
    for (pp = &p->http->list; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    p->linked = 0;
    p->next = NULL;
}

static void pss_reset(struct pss *p)
{
    unlink_pss(p);
    sim_request_free(&p->req);
    k8s_buf_free(&p->body);
    sim_response_free(&p->resp);
    sim_stream_free(p->stream);
    p->stream = NULL;
    p->stream_over = 0;
    p->cut = 0;
    p->out_off = 0;
    p->due_ms = 0;
    p->phase = PH_IDLE;
}

static char *hdr_dup(struct lws *wsi, enum lws_token_indexes t)
{
    int n = lws_hdr_total_length(wsi, t);
    char *s;
    if (n <= 0)
        return NULL;
    s = malloc((size_t)n + 1);
    if (!s)
        return NULL;
    if (lws_hdr_copy(wsi, s, n + 1, t) < 0) {
        free(s);
        return NULL;
    }
    return s;
}

static char *custom_dup(struct lws *wsi, const char *name)
{
    int nlen = (int)strlen(name);
    int n = lws_hdr_custom_length(wsi, name, nlen);
    char *s;
    if (n <= 0)
        return NULL;
    s = malloc((size_t)n + 1);
    if (!s)
        return NULL;
    if (lws_hdr_custom_copy(wsi, s, n + 1, name, nlen) < 0) {
        free(s);
        return NULL;
    }
    return s;
}

static int read_method(struct lws *wsi, char *buf, size_t cap)
{
    static const struct {
        enum lws_token_indexes t;
        const char *m;
    } methods[] = {
        {WSI_TOKEN_GET_URI, "GET"},       {WSI_TOKEN_POST_URI, "POST"},
        {WSI_TOKEN_PUT_URI, "PUT"},       {WSI_TOKEN_PATCH_URI, "PATCH"},
        {WSI_TOKEN_DELETE_URI, "DELETE"}, {WSI_TOKEN_OPTIONS_URI, "OPTIONS"},
        {WSI_TOKEN_HEAD_URI, "HEAD"},
    };
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_COLON_METHOD) > 0) {
        if (lws_hdr_copy(wsi, buf, (int)cap, WSI_TOKEN_HTTP_COLON_METHOD) < 0)
            return -1;
        return 0;
    }
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        if (lws_hdr_total_length(wsi, methods[i].t) > 0) {
            sim_strlcpy(buf, methods[i].m, cap);
            return 0;
        }
    return -1;
}

static int read_request(struct pss *p, struct lws *wsi, const char *uri)
{
    char frag[8192];
    struct sim_request *r = &p->req;
    memset(r, 0, sizeof(*r));
    if (read_method(wsi, r->method, sizeof(r->method)) != 0)
        return -1;
    r->path = strdup(uri ? uri : "/");
    if (!r->path)
        return -1;
    /* Strip a query that lws left in (it should not) and trailing slashes. */
    {
        char *q = strchr(r->path, '?');
        size_t n;
        if (q)
            *q = '\0';
        n = strlen(r->path);
        while (n > 1 && r->path[n - 1] == '/')
            r->path[--n] = '\0';
    }
    for (int i = 0; r->nparams < SIM_MAX_PARAMS; i++) {
        int n = lws_hdr_copy_fragment(wsi, frag, sizeof(frag), WSI_TOKEN_HTTP_URI_ARGS, i);
        char *eq;
        if (n < 0)
            break;
        eq = strchr(frag, '=');
        if (eq)
            *eq = '\0';
        r->params[r->nparams].key = strdup(frag);
        r->params[r->nparams].val = strdup(eq ? eq + 1 : "");
        if (!r->params[r->nparams].key || !r->params[r->nparams].val) {
            free(r->params[r->nparams].key);
            free(r->params[r->nparams].val);
            return -1;
        }
        r->nparams++;
    }
    r->accept = hdr_dup(wsi, WSI_TOKEN_HTTP_ACCEPT);
    r->content_type = hdr_dup(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE);
    r->authorization = hdr_dup(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
    r->impersonate_user = custom_dup(wsi, "impersonate-user:");
    r->impersonate_group = custom_dup(wsi, "impersonate-group:");
    r->h2 = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_COLON_PATH) > 0;
    return 0;
}

static void process(struct pss *p)
{
    struct sim_server *srv = p->http->srv;
    sim_response_init(&p->resp);
    p->req.body = p->body.data;
    p->req.body_len = p->body.len;
    sim_dispatch(srv, &p->req, &p->resp);
    p->req.body = NULL;
    p->req.body_len = 0;
    if (p->resp.watch) {
        p->stream = sim_stream_from_watch(p->resp.watch);
        p->resp.watch = NULL;
        if (!p->stream) {
            /* Out of memory: a 500 rather than a watch that never speaks. */
            sim_respond_text(&p->resp, 500, "text/plain", "out of memory");
        }
    } else if (p->resp.stream) {
        p->stream = p->resp.stream;
        p->resp.stream = NULL;
    }
    if (p->stream)
        link_pss(p);
    if (p->resp.delay_ms > 0) {
        p->due_ms = sim_mono_ms() + p->resp.delay_ms;
        p->phase = PH_DELAYED;
        link_pss(p);
        lws_set_timeout(p->wsi, NO_PENDING_TIMEOUT, 0);
        return;
    }
    p->phase = PH_HEADERS;
    lws_callback_on_writable(p->wsi);
}

static int write_headers(struct pss *p)
{
    unsigned char hbuf[LWS_PRE + 8192];
    unsigned char *start = hbuf + LWS_PRE, *q = start, *end = hbuf + sizeof(hbuf) - 1;
    struct sim_response *r = &p->resp;
    lws_filepos_t clen = p->stream ? LWS_ILLEGAL_HTTP_CONTENT_LEN : (lws_filepos_t)r->body.len;
    char num[32];

    if (lws_add_http_common_headers(p->wsi, (unsigned int)r->status,
                                    *r->content_type ? r->content_type : "application/json", clen,
                                    &q, end))
        return -1;
    if (lws_add_http_header_by_name(p->wsi, (const unsigned char *)"cache-control:",
                                    (const unsigned char *)"no-cache, private", 17, &q, end))
        return -1;
    if (r->retry_after > 0) {
        int n = snprintf(num, sizeof(num), "%ld", r->retry_after);
        if (lws_add_http_header_by_name(p->wsi, (const unsigned char *)"retry-after:",
                                        (const unsigned char *)num, n, &q, end))
            return -1;
    }
    for (size_t i = 0; i < r->nwarnings; i++) {
        if (lws_add_http_header_by_name(
                p->wsi, (const unsigned char *)"warning:", (const unsigned char *)r->warnings[i],
                (int)strlen(r->warnings[i]), &q, end))
            return -1;
    }
    if (p->stream && !p->h2) {
        if (lws_add_http_header_by_token(p->wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING,
                                         (const unsigned char *)"chunked", 7, &q, end))
            return -1;
    }
    if (lws_finalize_write_http_header(p->wsi, start, &q, end))
        return -1;
    if (p->stream)
        lws_set_timeout(p->wsi, NO_PENDING_TIMEOUT, 0);
    return 0;
}

/* Writes one piece of pending output. Returns -1 to close, 1 when the
 * transaction is complete, 0 when more is to come. */
static int write_piece(struct pss *p)
{
    struct sim_http *h = p->http;
    struct k8s_buf *out = &p->resp.body;
    unsigned char *payload = h->scratch + LWS_PRE;
    size_t left = out->len - p->out_off;
    size_t n = left > PIECE ? PIECE : left;
    /* Write only into a free pipe: data lws has to buffer behind a choked
     * h2 connection was seen never to be flushed (lws 4.1.6). */
    if (lws_send_pipe_choked(p->wsi)) {
        lws_callback_on_writable(p->wsi);
        return 0;
    }
    /* h2 flow control: never write past the peer's window (lws would cut
     * the write short); wait for the next writable callback instead. */
    lws_fileofs_t allowance = lws_get_peer_write_allowance(p->wsi);
    if (allowance >= 0 && (lws_fileofs_t)n > allowance) {
        if (allowance == 0 && n > 0) {
            lws_callback_on_writable(p->wsi);
            return 0;
        }
        n = (size_t)allowance;
    }

    if (!p->stream) {
        int final = n == left;
        if (n == 0 && left > 0)
            return 0;
        if (n)
            memcpy(payload, out->data + p->out_off, n);
        if (lws_write(p->wsi, payload, n, final ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) < (int)n)
            return -1;
        p->out_off += n;
        return final ? 1 : 0;
    }
    if (n == 0) {
        if (!p->stream_over)
            return 0;
        /* End of the stream: the last chunk on HTTP/1.1, END_STREAM on h2. */
        if (!p->h2) {
            memcpy(payload, "0\r\n\r\n", 5);
            n = 5;
        }
        if (lws_write(p->wsi, payload, n, LWS_WRITE_HTTP_FINAL) < (int)n)
            return -1;
        return 1;
    }
    if (p->h2) {
        memcpy(payload, out->data + p->out_off, n);
        if (lws_write(p->wsi, payload, n, LWS_WRITE_HTTP) < (int)n)
            return -1;
    } else {
        int hl = snprintf((char *)payload, 16, "%zx\r\n", n);
        memcpy(payload + hl, out->data + p->out_off, n);
        memcpy(payload + hl + n, "\r\n", 2);
        if (lws_write(p->wsi, payload, (size_t)hl + n + 2, LWS_WRITE_HTTP) < (int)n)
            return -1;
    }
    p->out_off += n;
    if (p->out_off == out->len) {
        k8s_buf_reset(out);
        p->out_off = 0;
    }
    return 0;
}

/* The transaction is over (and lws holds nothing unsent): HTTP/1.1
 * keep-alive resets the connection for the next request; an h2 stream is
 * closed, which gives its header table back to lws's pool. */
static int finish(struct pss *p)
{
    p->phase = PH_DONE;
    if (lws_http_transaction_completed(p->wsi))
        return -1;
    return 0;
}

static int on_writable(struct pss *p)
{
    int rc;
    /* A cut watch on HTTP/1.1 drops its connection, as a network cut would.
     * On h2 the cut is the end of the stream: the events already produced,
     * then END_STREAM, then the stream's completion like any other answer.
     * Closing just the stream wsi (returning -1) was seen to put nothing
     * on the wire in lws 4.1.6 on a long-poll vhost: the client saw the end
     * only when the idle connection was dropped ~30 s later (curl 92/18). */
    if (p->cut) {
        if (!p->h2 || !p->stream)
            return -1;
        p->stream_over = 1;
    }
    switch (p->phase) {
    case PH_FLUSH:
        if (lws_send_pipe_choked(p->wsi)) {
            lws_callback_on_writable(p->wsi);
            return 0;
        }
        return finish(p);
    case PH_HEADERS:
        if (write_headers(p) != 0)
            return -1;
        p->phase = PH_BODY_OUT;
        lws_callback_on_writable(p->wsi);
        return 0;
    case PH_BODY_OUT:
        break;
    default:
        return 0;
    }
    if (p->stream && p->resp.body.len == p->out_off && !p->stream_over) {
        k8s_buf_reset(&p->resp.body);
        p->out_off = 0;
        p->stream_over = p->stream->ops->produce(p->stream->impl, &p->resp.body, STREAM_FILL);
    }
    rc = write_piece(p);
    if (rc < 0)
        return -1;
    if (rc == 1) {
        unlink_pss(p);
        /* lws keeps what the socket did not take and flushes it only when
         * asked for writability again: wait for that before completing. */
        if (lws_send_pipe_choked(p->wsi)) {
            p->phase = PH_FLUSH;
            lws_callback_on_writable(p->wsi);
            return 0;
        }
        return finish(p);
    }
    /* A stream must also come back while lws still holds part of what it
     * was given: lws 4.1.6 sends that rest only on a writable callback, so
     * an event written whole but taken in part (seen on h2: a 4.8 KiB write
     * of two events, the second held until the next bookmark 5 s later)
     * would otherwise wait for the next event. */
    if (p->resp.body.len > p->out_off ||
        (p->stream && (p->stream_over || lws_send_pipe_choked(p->wsi) ||
                       p->stream->ops->ready(p->stream->impl))))
        lws_callback_on_writable(p->wsi);
    return 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    struct pss *p = user;
    struct sim_http *h = lws_context_user(lws_get_context(wsi));
    switch (reason) {
    case LWS_CALLBACK_HTTP: {
        char clen[32];
        long want = 0;
        pss_reset(p);
        p->wsi = wsi;
        p->http = h;
        k8s_buf_init(&p->body, MAX_BODY);
        sim_response_init(&p->resp);
        if (read_request(p, wsi, in) != 0) {
            lws_return_http_status(wsi, HTTP_STATUS_BAD_REQUEST, NULL);
            return -1;
        }
        p->h2 = p->req.h2;
        if (lws_hdr_copy(wsi, clen, sizeof(clen), WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0)
            want = strtol(clen, NULL, 10);
        if (want > 0) {
            p->phase = PH_BODY;
            return 0;
        }
        process(p);
        return 0;
    }
    case LWS_CALLBACK_HTTP_BODY:
        if (p->phase != PH_BODY)
            return 0;
        if (k8s_buf_append(&p->body, in, len) != 0) {
            lws_return_http_status(wsi, HTTP_STATUS_REQ_ENTITY_TOO_LARGE, NULL);
            return -1;
        }
        return 0;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        if (p->phase == PH_BODY)
            process(p);
        return 0;
    case LWS_CALLBACK_HTTP_WRITEABLE:
        if (!p->http)
            return 0;
        return on_writable(p);
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
    case LWS_CALLBACK_CLOSED_HTTP:
        if (p && p->http)
            pss_reset(p);
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

void sim_http_notify(void *http)
{
    struct sim_http *h = http;
    for (struct pss *p = h->list; p; p = p->next)
        if (p->stream && p->stream->cuttable && p->phase == PH_BODY_OUT)
            lws_callback_on_writable(p->wsi);
}

void sim_http_cut_watches(struct sim_http *h)
{
    for (struct pss *p = h->list; p; p = p->next)
        if (p->stream && p->stream->cuttable) {
            p->cut = 1;
            lws_callback_on_writable(p->wsi);
        }
}

static void tick(lws_sorted_usec_list_t *sul)
{
    struct sim_http *h = lws_container_of(sul, struct sim_http, sul);
    struct sim_server *srv = h->srv;
    int64_t now = sim_mono_ms();
    int cut = sim_admin_watch_cut(srv->admin);
    sim_server_tick(srv);
    for (struct pss *p = h->list; p; p = p->next) {
        if (p->phase == PH_DELAYED && now >= p->due_ms) {
            p->phase = PH_HEADERS;
            lws_callback_on_writable(p->wsi);
            continue;
        }
        if (!p->stream || p->phase != PH_BODY_OUT)
            continue;
        if (cut > 0 && p->stream->cuttable && now - p->stream->started_ms >= (int64_t)cut * 1000) {
            p->cut = 1;
            lws_callback_on_writable(p->wsi);
            continue;
        }
        if (p->stream->ops->ready(p->stream->impl))
            lws_callback_on_writable(p->wsi);
    }
    lws_sul_schedule(h->ctx, 0, &h->sul, tick, 100 * LWS_US_PER_MS);
}

/* lws's error log, without the notice it prints for every h2 request body
 * on a vhost with long-poll streams (harmless, and it would drown the rest). */
static void lws_log(int level, const char *line)
{
    (void)level;
    if (strstr(line, "on immortal stream"))
        return;
    fputs(line, stderr);
}

int sim_http_start(struct sim_server *srv, int port, struct sim_http **out, int *bound)
{
    struct lws_context_creation_info info;
    struct sim_http *h = calloc(1, sizeof(*h));
    if (!h)
        return -1;
    h->srv = srv;
    lws_set_log_level(LLL_ERR, lws_log);
    memset(&info, 0, sizeof(info));
    info.port = port;
    info.iface = "127.0.0.1";
    info.protocols = protocols;
    info.user = h;
    info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT |
                   LWS_SERVER_OPTION_VH_H2_HALF_CLOSED_LONG_POLL | LWS_SERVER_OPTION_DISABLE_IPV6;
    info.server_ssl_cert_mem = srv->tls.cert_pem;
    info.server_ssl_cert_mem_len = (unsigned int)strlen(srv->tls.cert_pem);
    info.server_ssl_private_key_mem = srv->tls.key_pem;
    info.server_ssl_private_key_mem_len = (unsigned int)strlen(srv->tls.key_pem);
    /* An HPACK dynamic table too small to hold any :path with a query.
     * lws 4.1.6 splits an h2 :path at '?' and '&' into fragments and, when
     * the client asks to index it, stores only the LAST fragment in its
     * dynamic table: a client that re-sends the same path with a query by
     * index (Go's net/http2 does: kubectl's second POST to
     * .../customresourcedefinitions?fieldManager=..&fieldValidation=..)
     * arrives as ":path = fieldValidation=Strict", which lws refuses with its
     * HTML 403 page ("we insist on absolute paths"). An encoder indexes a
     * header only when 32 + name + value fits the table: with 39 octets no
     * ":path" longer than 2 characters ("/?a" needs 40) is ever indexed.
     * 0 is not usable: lws then has no table at all and fails the inserts a
     * client makes in its first request, before it has seen our SETTINGS.
     * The other five values are lws's own stock settings (http2_settings
     * replaces all six). */
    info.http2_settings[0] = 1;
    info.http2_settings[H2SET_HEADER_TABLE_SIZE] = 39;
    info.http2_settings[H2SET_ENABLE_PUSH] = 0;
    info.http2_settings[H2SET_MAX_CONCURRENT_STREAMS] = 24;
    info.http2_settings[H2SET_INITIAL_WINDOW_SIZE] = 0;
    info.http2_settings[H2SET_MAX_FRAME_SIZE] = 16384;
    info.http2_settings[H2SET_MAX_HEADER_LIST_SIZE] = 4096;
    info.max_http_header_data = 16384;
    info.max_http_header_pool = 64;
    info.keepalive_timeout = 30;
    info.timeout_secs = 60;
    info.vhost_name = "kubesim";
    h->ctx = lws_create_context(&info);
    if (!h->ctx) {
        fprintf(stderr, "kubesim: cannot create the HTTPS server on 127.0.0.1:%d\n", port);
        free(h);
        return -1;
    }
    h->vh = lws_get_vhost_by_name(h->ctx, "kubesim");
    *bound = h->vh ? lws_get_vhost_listen_port(h->vh) : port;
    lws_sul_schedule(h->ctx, 0, &h->sul, tick, 100 * LWS_US_PER_MS);
    *out = h;
    return 0;
}

void sim_http_run(struct sim_http *h)
{
    while (!h->srv->stop) {
        if (lws_service(h->ctx, 0) < 0) {
            fprintf(stderr, "kubesim: lws_service failed\n");
            break;
        }
    }
}

void sim_http_free(struct sim_http *h)
{
    if (!h)
        return;
    lws_sul_cancel(&h->sul);
    lws_context_destroy(h->ctx);
    free(h);
}
