/*
 * The request engine (see k8s_transport.h): a pool of libcurl easy handles,
 * per-request option setup (TLS material from memory, auth, timeouts), the
 * rate limiter, and the retry policy.
 *
 * Retry policy, per attempt:
 *   - 429 on any verb: the server refused before doing anything. Wait its
 *     Retry-After (capped) or the backoff, and try again.
 *   - 5xx on GET/HEAD: safe to repeat. Other verbs are not retried: a 500 on
 *     a POST may have created the object.
 *   - connection failures where the request never left this process
 *     (could not resolve, could not connect): any verb. Failures after the
 *     request was sent (reset, empty reply) only for GET/HEAD.
 *   - everything else (409, 422, other 4xx, TLS errors) is final.
 * The backoff doubles from 200 ms to at most 5 s with up to 50% jitter, so
 * clients that failed together do not come back together.
 *
 * tls_server_name: libcurl 7.88 has no option to set the SNI/verification
 * name apart from the URL host, so the URL is rewritten to that name and
 * CURLOPT_CONNECT_TO sends the connection to the real host and port. The
 * Host header then names tls_server_name too, which kube-apiserver ignores.
 */
#include "k8s_transport.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "k8s_buf.h"
#include "k8s_ratelimit.h"
#include "k8s_token.h"

#define BACKOFF_BASE_MS 200
#define BACKOFF_MAX_MS  5000

struct pooled_handle {
    CURL *curl;
    char errbuf[CURL_ERROR_SIZE];
    struct pooled_handle *next;
};

struct k8s_transport {
    struct k8s_config *cfg;          /* our copy */
    char *base_url;                  /* server with the host replaced by tls_server_name */
    struct curl_slist *connect_to;   /* NULL unless tls_server_name */
    struct k8s_token_source *tokens; /* NULL: no bearer token */
    struct k8s_ratelimit *limiter;
    k8s_request_observer observer; /* set before sharing; read-only after */
    void *observer_user;
    k8s_write_gate write_gate; /* set before sharing; read-only after */
    void *write_gate_user;

    pthread_mutex_t mu; /* guards the fields below */
    struct pooled_handle *idle;
    struct k8s_client_stats stats;
    uint64_t jitter_state;
};

/* What one attempt collected from libcurl's callbacks. */
struct attempt {
    const struct k8s_transport_req *req;
    CURL *curl;
    struct k8s_buf body;
    struct k8s_buf warning;
    long retry_after; /* seconds from the Retry-After header; 0 if none */
    int overflow;     /* the body exceeded K8S_MAX_RESPONSE_BODY */
    int aborted;      /* on_data or should_stop asked to stop */
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(uint64_t ms)
{
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Splits cfg->server into the URL we request and, with tls_server_name, the
 * CONNECT_TO mapping from that name back to the real host. */
static int setup_urls(struct k8s_transport *t, struct k8s_error *err)
{
    int rc = 0;
    char *host = NULL, *port = NULL, *url = NULL;
    CURLU *u = curl_url();
    if (!u)
        return k8s_error_set(err, K8S_ENOMEM, "out of memory parsing the server URL");
    if (curl_url_set(u, CURLUPART_URL, t->cfg->server, 0) != CURLUE_OK) {
        rc = k8s_error_set(err, K8S_ECONFIG, "server URL \"%s\" (from %s) does not parse",
                           t->cfg->server, t->cfg->source ? t->cfg->source : "the config");
        goto out;
    }
    if (t->cfg->tls_server_name && *t->cfg->tls_server_name) {
        if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
            curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK ||
            curl_url_set(u, CURLUPART_HOST, t->cfg->tls_server_name, 0) != CURLUE_OK) {
            rc = k8s_error_set(err, K8S_ECONFIG,
                               "cannot combine server \"%s\" with tls-server-name \"%s\"",
                               t->cfg->server, t->cfg->tls_server_name);
            goto out;
        }
        char map[1024];
        int n =
            snprintf(map, sizeof(map), "%s:%s:%s:%s", t->cfg->tls_server_name, port, host, port);
        if (n < 0 || (size_t)n >= sizeof(map)) {
            rc = k8s_error_set(err, K8S_ECONFIG, "tls-server-name \"%s\" is too long",
                               t->cfg->tls_server_name);
            goto out;
        }
        t->connect_to = curl_slist_append(NULL, map);
        if (!t->connect_to) {
            rc = k8s_error_set(err, K8S_ENOMEM, "out of memory");
            goto out;
        }
    }
    if (curl_url_get(u, CURLUPART_URL, &url, 0) != CURLUE_OK) {
        rc = k8s_error_set(err, K8S_ECONFIG, "server URL \"%s\" does not parse", t->cfg->server);
        goto out;
    }
    size_t len = strlen(url);
    while (len > 0 && url[len - 1] == '/')
        url[--len] = '\0';
    t->base_url = strdup(url);
    if (!t->base_url)
        rc = k8s_error_set(err, K8S_ENOMEM, "out of memory");
out:
    curl_free(url);
    curl_free(port);
    curl_free(host);
    curl_url_cleanup(u);
    return rc;
}

int k8s_transport_new(const struct k8s_config *cfg, struct k8s_transport **out,
                      struct k8s_error *err)
{
    int rc = 0;
    *out = NULL;
    if (!cfg || !cfg->server || !*cfg->server)
        return k8s_error_set(err, K8S_EARG, "no API server URL configured");
    struct k8s_transport *t = calloc(1, sizeof(*t));
    if (!t)
        return k8s_error_set(err, K8S_ENOMEM, "out of memory");
    pthread_mutex_init(&t->mu, NULL);
    t->jitter_state = now_ms() ^ (uint64_t)(uintptr_t)t ^ 0x9e3779b97f4a7c15ull;
    t->cfg = k8s_config_dup(cfg);
    if (!t->cfg) {
        rc = k8s_error_set(err, K8S_ENOMEM, "out of memory copying the config");
        goto out;
    }
    rc = setup_urls(t, err);
    if (rc)
        goto out;
    /* A token file wins over a static token (client-go's rule, kept in
     * k8s_config.c): the file is what gets rotated. */
    rc = k8s_config_token_source(t->cfg, &t->tokens, err);
    if (rc)
        goto out;
    rc = k8s_ratelimit_new(cfg->qps, cfg->burst, &t->limiter);
    if (rc) {
        k8s_error_set(err, rc, "out of memory");
        goto out;
    }
    *out = t;
    t = NULL;
out:
    k8s_transport_free(t);
    return rc;
}

void k8s_transport_free(struct k8s_transport *t)
{
    if (!t)
        return;
    struct pooled_handle *p = t->idle;
    while (p) {
        struct pooled_handle *next = p->next;
        curl_easy_cleanup(p->curl);
        free(p);
        p = next;
    }
    k8s_ratelimit_free(t->limiter);
    k8s_token_source_free(t->tokens);
    curl_slist_free_all(t->connect_to);
    free(t->base_url);
    k8s_config_free(t->cfg);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

static struct pooled_handle *acquire(struct k8s_transport *t)
{
    pthread_mutex_lock(&t->mu);
    struct pooled_handle *p = t->idle;
    if (p)
        t->idle = p->next;
    pthread_mutex_unlock(&t->mu);
    if (p)
        return p;
    p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->curl = curl_easy_init();
    if (!p->curl) {
        free(p);
        return NULL;
    }
    return p;
}

static void release(struct k8s_transport *t, struct pooled_handle *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&t->mu);
    p->next = t->idle;
    t->idle = p;
    pthread_mutex_unlock(&t->mu);
}

/* Frees a header list after overwriting it: one entry holds the token. */
static void wipe_headers(struct curl_slist *h)
{
    for (struct curl_slist *i = h; i; i = i->next)
        explicit_bzero(i->data, strlen(i->data));
    curl_slist_free_all(h);
}

static int is_idempotent(const char *method)
{
    return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
}

static int is_tls_failure(CURLcode cc, const char *errbuf)
{
    switch (cc) {
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_USE_SSL_FAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CLIENTCERT:
        return 1;
    case CURLE_RECV_ERROR:
        /* With TLS 1.3 a refused client certificate shows up at the first
         * read as an alert ("certificate required"), not in the handshake. */
        return strstr(errbuf, "alert") != NULL || strstr(errbuf, "certificate") != NULL;
    default:
        return 0;
    }
}

/* Whether curl failed before the request could have reached the server. */
static int never_sent(CURLcode cc)
{
    return cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST ||
           cc == CURLE_COULDNT_RESOLVE_PROXY;
}

/* Failures after which a GET may be repeated. */
static int transient_transfer_failure(CURLcode cc)
{
    return never_sent(cc) || cc == CURLE_GOT_NOTHING || cc == CURLE_SEND_ERROR ||
           cc == CURLE_RECV_ERROR || cc == CURLE_PARTIAL_FILE || cc == CURLE_HTTP2 ||
           cc == CURLE_HTTP2_STREAM;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *user)
{
    struct attempt *a = user;
    size_t n = size * nmemb;
    /* A new status line (after a 1xx interim answer) starts a new response. */
    if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        k8s_buf_reset(&a->warning);
        a->retry_after = 0;
        return n;
    }
    size_t len = n;
    while (len > 0 && (data[len - 1] == '\r' || data[len - 1] == '\n'))
        len--;
    static const char warning[] = "warning:";
    static const char retry[] = "retry-after:";
    if (len > sizeof(warning) - 1 && strncasecmp(data, warning, sizeof(warning) - 1) == 0) {
        const char *v = data + sizeof(warning) - 1;
        size_t vlen = len - (sizeof(warning) - 1);
        while (vlen > 0 && (*v == ' ' || *v == '\t')) {
            v++;
            vlen--;
        }
        /* Warnings are advisory: a flood of them is cut, not an error. */
        if (a->warning.len + vlen + 1 < 64 * 1024) {
            if (a->warning.len)
                k8s_buf_append(&a->warning, "\n", 1);
            k8s_buf_append(&a->warning, v, vlen);
        }
    } else if (len > sizeof(retry) - 1 && strncasecmp(data, retry, sizeof(retry) - 1) == 0) {
        char val[32];
        size_t vlen = len - (sizeof(retry) - 1);
        if (vlen >= sizeof(val))
            vlen = sizeof(val) - 1;
        memcpy(val, data + sizeof(retry) - 1, vlen);
        val[vlen] = '\0';
        char *end;
        errno = 0;
        long secs = strtol(val, &end, 10);
        while (*end == ' ' || *end == '\t')
            end++;
        /* The HTTP-date form is not used by kube-apiserver; ignore it. */
        if (errno == 0 && end != val && *end == '\0' && secs > 0)
            a->retry_after = secs;
    }
    return n;
}

static int is_2xx(long status)
{
    return status >= 200 && status < 300;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *user)
{
    struct attempt *a = user;
    size_t n = size * nmemb;
    if (a->req->on_data) {
        long status = 0;
        curl_easy_getinfo(a->curl, CURLINFO_RESPONSE_CODE, &status);
        if (is_2xx(status)) {
            if (a->req->on_data(data, n, a->req->user) != 0) {
                a->aborted = 1;
                return 0; /* anything but n aborts with CURLE_WRITE_ERROR */
            }
            return n;
        }
    }
    if (k8s_buf_append(&a->body, data, n) != 0) {
        a->overflow = 1;
        return 0;
    }
    return n;
}

static int on_progress(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    struct attempt *a = user;
    if (a->req->should_stop && a->req->should_stop(a->req->user)) {
        a->aborted = 1;
        return 1;
    }
    return 0;
}

/* The request line for messages: method, server and path, no query (a query
 * may carry selectors a person does not need, and never anything secret, but
 * keep log lines short and uniform). */
static void describe(const struct k8s_transport *t, const struct k8s_transport_req *req, char *buf,
                     size_t cap)
{
    size_t plen = strcspn(req->path_query, "?");
    snprintf(buf, cap, "%s %s%.*s", req->method, t->base_url, (int)plen, req->path_query);
}

/* Sets every option of one request on a freshly reset handle. */
static int prepare(struct k8s_transport *t, struct pooled_handle *p,
                   const struct k8s_transport_req *req, struct attempt *a, const char *url,
                   struct curl_slist **headers_out, struct k8s_error *err)
{
    const struct k8s_config *cfg = t->cfg;
    CURL *h = p->curl;
    struct curl_slist *hd = NULL;
    char line[256];
    int rc = 0;

    curl_easy_reset(h);
    p->errbuf[0] = '\0';
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, p->errbuf);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https,http");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : 10000L);
    if (req->streaming) {
        if (req->stream_timeout_ms > 0)
            curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, req->stream_timeout_ms);
        /* A watch may be silent for minutes; keep-alive probes find a dead
         * peer without a timeout that would cut a healthy idle stream. */
        curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
        curl_easy_setopt(h, CURLOPT_TCP_KEEPIDLE, 30L);
        curl_easy_setopt(h, CURLOPT_TCP_KEEPINTVL, 15L);
    } else {
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS,
                         cfg->request_timeout_ms > 0 ? cfg->request_timeout_ms : 60000L);
        curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    }
    curl_easy_setopt(h, CURLOPT_USERAGENT,
                     cfg->user_agent && *cfg->user_agent ? cfg->user_agent
                                                         : "quay-storage-operator");

    /* TLS: verification stays on unless the config explicitly says insecure;
     * without a CA of our own, libcurl's default (the system store) is used. */
    if (cfg->ca_pem && cfg->ca_pem_len) {
        struct curl_blob blob = {
            .data = cfg->ca_pem, .len = cfg->ca_pem_len, .flags = CURL_BLOB_COPY};
        curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);
    }
    if (cfg->client_cert_pem && cfg->client_cert_pem_len) {
        struct curl_blob blob = {
            .data = cfg->client_cert_pem, .len = cfg->client_cert_pem_len, .flags = CURL_BLOB_COPY};
        curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &blob);
        curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
    }
    if (cfg->client_key_pem && cfg->client_key_pem_len) {
        struct curl_blob blob = {
            .data = cfg->client_key_pem, .len = cfg->client_key_pem_len, .flags = CURL_BLOB_COPY};
        curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &blob);
        curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
    }
    if (cfg->insecure_skip_tls_verify) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (t->connect_to)
        curl_easy_setopt(h, CURLOPT_CONNECT_TO, t->connect_to);
    if (cfg->proxy_url && *cfg->proxy_url)
        curl_easy_setopt(h, CURLOPT_PROXY, cfg->proxy_url);

    /* Authentication, fresh for every request. */
    if (t->tokens) {
        char *tok = NULL;
        rc = k8s_token_source_get(t->tokens, &tok, err);
        if (rc)
            goto out;
        struct k8s_buf auth;
        k8s_buf_init(&auth, 64 * 1024);
        rc = k8s_buf_appendf(&auth, "Authorization: Bearer %s", tok);
        explicit_bzero(tok, strlen(tok));
        free(tok);
        if (rc == 0) {
            struct curl_slist *n = curl_slist_append(hd, auth.data);
            if (n)
                hd = n;
            else
                rc = K8S_ENOMEM;
        }
        if (auth.data)
            explicit_bzero(auth.data, auth.len);
        k8s_buf_free(&auth);
        if (rc) {
            k8s_error_set(err, rc, "the bearer token does not fit in a request header");
            goto out;
        }
    } else if (cfg->username && *cfg->username) {
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(h, CURLOPT_USERNAME, cfg->username);
        curl_easy_setopt(h, CURLOPT_PASSWORD, cfg->password ? cfg->password : "");
    }

    snprintf(line, sizeof(line), "Accept: %s", req->accept ? req->accept : "application/json");
    struct curl_slist *n = curl_slist_append(hd, line);
    if (!n)
        goto nomem;
    hd = n;
    /* Never wait for "100 Continue": kube-apiserver does not need it. */
    n = curl_slist_append(hd, "Expect:");
    if (!n)
        goto nomem;
    hd = n;

    if (strcmp(req->method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (strcmp(req->method, "GET") != 0) {
        if (strcmp(req->method, "POST") != 0)
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
        if (req->body || strcmp(req->method, "POST") == 0) {
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body ? req->body : "");
            snprintf(line, sizeof(line), "Content-Type: %s",
                     req->content_type ? req->content_type : "application/json");
            n = curl_slist_append(hd, line);
            if (!n)
                goto nomem;
            hd = n;
        }
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);

    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, a);
    if (req->should_stop) {
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, a);
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    }
    *headers_out = hd;
    return 0;
nomem:
    rc = k8s_error_set(err, K8S_ENOMEM, "out of memory building request headers");
out:
    wipe_headers(hd);
    return rc;
}

/* Backoff before attempt `attempt` (2, 3, ...): doubling, capped, jittered. */
static uint64_t backoff_ms(struct k8s_transport *t, int attempt)
{
    uint64_t ms = BACKOFF_BASE_MS;
    for (int i = 2; i < attempt && ms < BACKOFF_MAX_MS; i++)
        ms *= 2;
    if (ms > BACKOFF_MAX_MS)
        ms = BACKOFF_MAX_MS;
    pthread_mutex_lock(&t->mu);
    /* xorshift64: cheap, per-transport, no global state. */
    uint64_t x = t->jitter_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    t->jitter_state = x;
    pthread_mutex_unlock(&t->mu);
    return ms + x % (ms / 2 + 1);
}

static void count(struct k8s_transport *t, unsigned long throttled_ms, int retry)
{
    pthread_mutex_lock(&t->mu);
    t->stats.requests++;
    t->stats.throttled_ms += throttled_ms;
    if (retry)
        t->stats.retries++;
    pthread_mutex_unlock(&t->mu);
}

void k8s_transport_set_observer(struct k8s_transport *t, k8s_request_observer fn, void *user)
{
    t->observer = fn;
    t->observer_user = user;
}

void k8s_transport_set_write_gate(struct k8s_transport *t, k8s_write_gate fn, void *user)
{
    t->write_gate = fn;
    t->write_gate_user = user;
}

const struct k8s_config *k8s_transport_config(const struct k8s_transport *t)
{
    return t->cfg;
}

void k8s_transport_get_stats(struct k8s_transport *t, struct k8s_client_stats *out)
{
    pthread_mutex_lock(&t->mu);
    *out = t->stats;
    pthread_mutex_unlock(&t->mu);
}

/*
 * One attempt. Returns the K8S_* result and sets *retry_ms to the wait before
 * another attempt when this outcome may be retried (0: final).
 */
static int attempt_once(struct k8s_transport *t, const struct k8s_transport_req *req,
                        const char *url, int attempt_no, struct k8s_response *resp,
                        uint64_t *retry_ms, struct k8s_error *err)
{
    int rc = 0;
    struct attempt a = {.req = req};
    struct curl_slist *hd = NULL;
    char what[512];
    k8s_buf_init(&a.body, K8S_MAX_RESPONSE_BODY);
    k8s_buf_init(&a.warning, 64 * 1024);
    *retry_ms = 0;
    describe(t, req, what, sizeof(what));

    struct pooled_handle *p = acquire(t);
    if (!p) {
        rc = k8s_error_set(err, K8S_ENOMEM, "out of memory creating a curl handle");
        goto out;
    }
    a.curl = p->curl;
    rc = prepare(t, p, req, &a, url, &hd, err);
    if (rc)
        goto out;

    unsigned long throttled = k8s_ratelimit_wait(t->limiter);
    if (t->write_gate && strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0 &&
        !t->write_gate(req->method, req->path_query, t->write_gate_user)) {
        /* Checked last, after any wait: the answer is as fresh as it gets.
         * Not counted: nothing was sent. */
        rc = k8s_error_set(err, K8S_ESTOPPED, "%s: not sent, refused by the client's write gate",
                           what);
        goto out;
    }
    count(t, throttled, attempt_no > 1);
    CURLcode cc = curl_easy_perform(p->curl);
    /* The token is no longer needed once the request went out. */
    curl_easy_setopt(p->curl, CURLOPT_HTTPHEADER, NULL);
    wipe_headers(hd);
    hd = NULL;

    long connects = 0;
    if (curl_easy_getinfo(p->curl, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK && connects > 0) {
        pthread_mutex_lock(&t->mu);
        t->stats.connects += (unsigned long)connects;
        pthread_mutex_unlock(&t->mu);
    }
    long status = 0;
    curl_easy_getinfo(p->curl, CURLINFO_RESPONSE_CODE, &status);
    if (t->observer)
        t->observer(req->method, status, t->observer_user);
    char *ctype = NULL;
    curl_easy_getinfo(p->curl, CURLINFO_CONTENT_TYPE, &ctype);

    k8s_response_free(resp);
    resp->status = status;
    if (ctype && !(resp->content_type = strdup(ctype))) {
        rc = k8s_error_set(err, K8S_ENOMEM, "out of memory");
        goto out;
    }
    if (a.warning.len)
        resp->warning = k8s_buf_take(&a.warning, NULL);

    if (a.aborted) {
        rc = k8s_error_set(err, K8S_ESTOPPED, "%s: stopped by the caller", what);
        err->http_status = status;
        goto out;
    }
    if (a.overflow) {
        rc = k8s_error_set(err, K8S_ENOMEM, "%s: the response is larger than %u MiB", what,
                           K8S_MAX_RESPONSE_BODY / (1024u * 1024u));
        err->http_status = status;
        goto out;
    }
    if (cc != CURLE_OK && (status == 0 || !req->streaming || !is_2xx(status))) {
        const char *why = p->errbuf[0] ? p->errbuf : curl_easy_strerror(cc);
        if (is_tls_failure(cc, p->errbuf)) {
            rc = k8s_error_set(err, K8S_ETLS, "%s: TLS failed: %s (curl error %d)", what, why,
                               (int)cc);
        } else {
            rc = k8s_error_set(err, K8S_ETRANSPORT, "%s: %s (curl error %d)", what, why, (int)cc);
            if (never_sent(cc) || (is_idempotent(req->method) && transient_transfer_failure(cc)))
                *retry_ms = backoff_ms(t, attempt_no + 1);
        }
        resp->status = 0;
        goto out;
    }
    if (status == 0) {
        /* CURLE_OK without any answer: an h2 stream reset before its
         * headers. For a watch it is one more way for the stream to end. */
        rc = k8s_error_set(err, req->streaming ? K8S_EDISCONNECTED : K8S_ETRANSPORT,
                           "%s: the connection ended without an answer", what);
        if (!req->streaming && is_idempotent(req->method))
            *retry_ms = backoff_ms(t, attempt_no + 1);
        goto out;
    }
    resp->body = k8s_buf_take(&a.body, &resp->body_len);
    if (!resp->body) {
        rc = k8s_error_set(err, K8S_ENOMEM, "out of memory");
        goto out;
    }
    if (is_2xx(status) && req->streaming) {
        /* Whatever ended the stream (the server's timeout, a reset, an h2
         * GOAWAY that still gives CURLE_OK with an empty body), the caller
         * sees the same thing: a disconnect. */
        rc = k8s_error_set(err, K8S_EDISCONNECTED, "%s: the stream ended (%s)", what,
                           cc == CURLE_OK ? "closed by the server"
                           : p->errbuf[0] ? p->errbuf
                                          : curl_easy_strerror(cc));
        err->http_status = status;
        goto out;
    }
    if (is_2xx(status)) {
        k8s_error_clear(err);
        goto out;
    }
    rc = k8s_error_from_response(err, status, resp->body, resp->body_len);
    if (a.retry_after > 0)
        err->retry_after_seconds = a.retry_after;
    if (status == 429 || (status >= 500 && is_idempotent(req->method))) {
        long ra = err->retry_after_seconds;
        if (ra > K8S_MAX_RETRY_AFTER_SECONDS)
            ra = K8S_MAX_RETRY_AFTER_SECONDS;
        *retry_ms = ra > 0 ? (uint64_t)ra * 1000u : backoff_ms(t, attempt_no + 1);
    }
out:
    wipe_headers(hd);
    if (p) {
        curl_easy_setopt(p->curl, CURLOPT_HTTPHEADER, NULL);
        release(t, p);
    }
    k8s_buf_free(&a.body);
    k8s_buf_free(&a.warning);
    return rc;
}

int k8s_transport_do(struct k8s_transport *t, const struct k8s_transport_req *req,
                     struct k8s_response *resp, struct k8s_error *err)
{
    int rc = 0;
    struct k8s_error scratch;
    struct k8s_buf url;
    k8s_buf_init(&url, 64 * 1024);
    memset(resp, 0, sizeof(*resp));
    if (!err)
        err = &scratch;
    k8s_error_clear(err);
    if (!req->method || !req->path_query || req->path_query[0] != '/') {
        rc = k8s_error_set(err, K8S_EARG, "a request needs a method and a path starting with /");
        goto out;
    }
    if (k8s_buf_appendf(&url, "%s%s", t->base_url, req->path_query) != 0) {
        rc = k8s_error_set(err, K8S_EARG, "request path too long");
        goto out;
    }
    int attempts = req->streaming ? 1 : K8S_MAX_ATTEMPTS;
    for (int i = 1; i <= attempts; i++) {
        uint64_t retry_ms = 0;
        rc = attempt_once(t, req, url.data, i, resp, &retry_ms, err);
        if (rc == 0 || retry_ms == 0 || i == attempts)
            break;
        if (req->should_stop && req->should_stop(req->user))
            break;
        sleep_ms(retry_ms);
    }
out:
    k8s_buf_free(&url);
    return rc;
}

int k8s_query_add(struct k8s_buf *u, const char *key, const char *value)
{
    char *esc = curl_easy_escape(NULL, value, 0);
    if (!esc)
        return K8S_ENOMEM;
    int rc = k8s_buf_appendf(u, "%c%s=%s", u->data && strchr(u->data, '?') ? '&' : '?', key, esc);
    curl_free(esc);
    return rc;
}
