/*
 * k8s_config: the configuration struct's life cycle (defaults, copy, free),
 * the in-cluster service-account configuration, and k8s_config_load's choice
 * between an explicit kubeconfig, $KUBECONFIG, in-cluster and ~/.kube/config.
 * Kubeconfig parsing itself lives in k8s_kubeconfig.c.
 *
 * Only environment variables and files are read here; nothing is cached
 * between calls, so tests can point every input at a temporary directory.
 */
#include "k8s_config.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "k8s_buf.h"
#include "k8s_log.h"

#ifndef QSO_VERSION
#define QSO_VERSION "dev"
#endif

#define K8S_DEFAULT_QPS                20.0
#define K8S_DEFAULT_BURST              30
#define K8S_DEFAULT_CONNECT_TIMEOUT_MS 10000L
#define K8S_DEFAULT_REQUEST_TIMEOUT_MS 60000L
#define K8S_USER_AGENT                 "quay-storage-operator/" QSO_VERSION

#define K8S_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"
/* The service-account CA and namespace files are small; the bound is generous. */
#define K8S_SA_CA_MAX        (8u << 20)
#define K8S_SA_NAMESPACE_MAX 4096u

static void free_secret(char *s, size_t len)
{
    if (!s)
        return;
    explicit_bzero(s, len);
    free(s);
}

struct k8s_config *k8s_config_new(void)
{
    struct k8s_config *cfg = calloc(1, sizeof(*cfg));
    if (!cfg)
        return NULL;
    cfg->qps = K8S_DEFAULT_QPS;
    cfg->burst = K8S_DEFAULT_BURST;
    cfg->connect_timeout_ms = K8S_DEFAULT_CONNECT_TIMEOUT_MS;
    cfg->request_timeout_ms = K8S_DEFAULT_REQUEST_TIMEOUT_MS;
    cfg->user_agent = strdup(K8S_USER_AGENT);
    cfg->namespace = strdup("default");
    if (!cfg->user_agent || !cfg->namespace) {
        k8s_config_free(cfg);
        return NULL;
    }
    return cfg;
}

void k8s_config_free(struct k8s_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->server);
    free(cfg->tls_server_name);
    free(cfg->proxy_url);
    free(cfg->ca_pem);
    free(cfg->client_cert_pem);
    free_secret(cfg->client_key_pem, cfg->client_key_pem_len);
    free_secret(cfg->token, cfg->token ? strlen(cfg->token) : 0);
    free(cfg->token_file);
    free(cfg->username);
    free_secret(cfg->password, cfg->password ? strlen(cfg->password) : 0);
    free(cfg->namespace);
    free(cfg->context);
    free(cfg->source);
    free(cfg->user_agent);
    free(cfg);
}

/* Copies a string field; NULL stays NULL. Returns 0, or -1 out of memory. */
static int dup_str(char **dst, const char *src)
{
    *dst = NULL;
    if (!src)
        return 0;
    *dst = strdup(src);
    return *dst ? 0 : -1;
}

/* Copies a PEM buffer of `len` bytes plus its NUL. */
static int dup_pem(char **dst, const char *src, size_t len)
{
    *dst = NULL;
    if (!src)
        return 0;
    *dst = malloc(len + 1);
    if (!*dst)
        return -1;
    memcpy(*dst, src, len);
    (*dst)[len] = '\0';
    return 0;
}

struct k8s_config *k8s_config_dup(const struct k8s_config *cfg)
{
    if (!cfg)
        return NULL;
    struct k8s_config *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    /* Scalars first; every pointer is then replaced by its own copy. */
    c->insecure_skip_tls_verify = cfg->insecure_skip_tls_verify;
    c->ca_pem_len = cfg->ca_pem_len;
    c->client_cert_pem_len = cfg->client_cert_pem_len;
    c->client_key_pem_len = cfg->client_key_pem_len;
    c->qps = cfg->qps;
    c->burst = cfg->burst;
    c->connect_timeout_ms = cfg->connect_timeout_ms;
    c->request_timeout_ms = cfg->request_timeout_ms;
    int bad = 0;
    bad |= dup_str(&c->server, cfg->server);
    bad |= dup_str(&c->tls_server_name, cfg->tls_server_name);
    bad |= dup_str(&c->proxy_url, cfg->proxy_url);
    bad |= dup_pem(&c->ca_pem, cfg->ca_pem, cfg->ca_pem_len);
    bad |= dup_pem(&c->client_cert_pem, cfg->client_cert_pem, cfg->client_cert_pem_len);
    bad |= dup_pem(&c->client_key_pem, cfg->client_key_pem, cfg->client_key_pem_len);
    bad |= dup_str(&c->token, cfg->token);
    bad |= dup_str(&c->token_file, cfg->token_file);
    bad |= dup_str(&c->username, cfg->username);
    bad |= dup_str(&c->password, cfg->password);
    bad |= dup_str(&c->namespace, cfg->namespace);
    bad |= dup_str(&c->context, cfg->context);
    bad |= dup_str(&c->source, cfg->source);
    bad |= dup_str(&c->user_agent, cfg->user_agent);
    if (bad) {
        k8s_config_free(c);
        return NULL;
    }
    return c;
}

int k8s_config_token_source(const struct k8s_config *cfg, struct k8s_token_source **out,
                            struct k8s_error *err)
{
    *out = NULL;
    if (!cfg)
        return k8s_error_set(err, K8S_EARG, "no configuration");
    if (cfg->token_file)
        return k8s_token_source_new(NULL, cfg->token_file, out, err);
    if (cfg->token)
        return k8s_token_source_new(cfg->token, NULL, out, err);
    return 0;
}

int k8s_config_read_file(const char *path, size_t max, char **out, size_t *len,
                         struct k8s_error *err)
{
    int rc = 0;
    struct k8s_buf b;
    k8s_buf_init(&b, max);
    *out = NULL;
    if (len)
        *len = 0;
    /* O_NONBLOCK keeps a FIFO at this path from hanging us before the check. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        rc = k8s_error_set(err, K8S_EIO, "%s: cannot read: %s", path, strerror(errno));
        goto out;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = k8s_error_set(err, K8S_EIO, "%s: cannot read: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = k8s_error_set(err, K8S_EIO, "%s: cannot read: not a regular file", path);
        goto out;
    }
    char chunk[16384];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = k8s_error_set(err, K8S_EIO, "%s: cannot read: %s", path, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        if (k8s_buf_append(&b, chunk, (size_t)n) != 0) {
            rc = k8s_error_set(err, K8S_ECONFIG, "%s is larger than %zu bytes", path, max);
            goto out;
        }
    }
    /* Even an empty file yields a (zero-length, NUL-terminated) buffer. */
    if (!b.data && k8s_buf_append(&b, "", 0) != 0) {
        rc = k8s_error_set(err, K8S_ENOMEM, "%s: out of memory", path);
        goto out;
    }
    *out = k8s_buf_take(&b, len);
    if (!*out)
        rc = k8s_error_set(err, K8S_ENOMEM, "%s: out of memory", path);
out:
    explicit_bzero(chunk, sizeof(chunk));
    if (b.data)
        explicit_bzero(b.data, b.len);
    k8s_buf_free(&b);
    if (fd >= 0)
        close(fd);
    return rc;
}

int k8s__pem_count_certificates(const char *pem, size_t len)
{
    if (!pem || len == 0 || len > (size_t)0x7fffffff)
        return 0;
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (!bio)
        return 0;
    int n = 0;
    X509 *x;
    /* PEM_read_bio_X509 skips blocks of other types and stops at the end. */
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        X509_free(x);
        n++;
    }
    BIO_free(bio);
    /* The loop always ends with a "no start line" error; it is not ours to keep. */
    ERR_clear_error();
    return n;
}

int k8s__valid_namespace(const char *ns)
{
    size_t n = ns ? strlen(ns) : 0;
    if (n == 0 || n > 63 || ns[0] == '-' || ns[n - 1] == '-')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = ns[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return 0;
    }
    return 1;
}

/* Reads a small text file and trims surrounding whitespace; `*out` is NULL when
 * the file does not exist. */
static int read_trimmed(const char *path, size_t max, char **out, struct k8s_error *err)
{
    *out = NULL;
    if (access(path, F_OK) != 0 && errno == ENOENT)
        return 0;
    size_t len = 0;
    char *s = NULL;
    int rc = k8s_config_read_file(path, max, &s, &len, err);
    if (rc)
        return rc;
    while (len && strchr(" \t\r\n", s[len - 1]))
        s[--len] = '\0';
    size_t skip = strspn(s, " \t\r\n");
    memmove(s, s + skip, len - skip + 1);
    *out = s;
    return 0;
}

int k8s_config_in_cluster(const char *sa_dir, struct k8s_config **out, struct k8s_error *err)
{
    int rc = 0;
    struct k8s_config *cfg = NULL;
    char *ns = NULL;
    char path[4096];
    *out = NULL;
    if (!sa_dir)
        sa_dir = K8S_SA_DIR;
    const char *host = getenv("KUBERNETES_SERVICE_HOST");
    const char *port = getenv("KUBERNETES_SERVICE_PORT");
    if (!host || !*host || !port || !*port) {
        rc = k8s_error_set(err, K8S_ECONFIG,
                           "not running in a cluster: KUBERNETES_SERVICE_HOST and "
                           "KUBERNETES_SERVICE_PORT must both be set");
        goto out;
    }
    char *end = NULL;
    errno = 0;
    long p = strtol(port, &end, 10);
    if (errno || !end || *end || p < 1 || p > 65535) {
        rc = k8s_error_set(err, K8S_ECONFIG,
                           "KUBERNETES_SERVICE_PORT \"%.32s\" is not a port number", port);
        goto out;
    }
    if (strpbrk(host, "/@?# \t\r\n[]")) {
        rc =
            k8s_error_set(err, K8S_ECONFIG,
                          "KUBERNETES_SERVICE_HOST \"%.128s\" is not a host name or address", host);
        goto out;
    }
    cfg = k8s_config_new();
    if (!cfg) {
        rc = k8s_error_set(err, K8S_ENOMEM, "out of memory loading the in-cluster configuration");
        goto out;
    }
    /* An IPv6 address needs brackets in a URL (net.JoinHostPort does the same). */
    int v6 = strchr(host, ':') != NULL;
    char server[512];
    int n = snprintf(server, sizeof(server), "https://%s%s%s:%ld", v6 ? "[" : "", host,
                     v6 ? "]" : "", p);
    if (n < 0 || (size_t)n >= sizeof(server)) {
        rc = k8s_error_set(err, K8S_ECONFIG, "KUBERNETES_SERVICE_HOST is too long");
        goto out;
    }
    cfg->server = strdup(server);
    cfg->context = strdup("in-cluster");
    cfg->source = strdup(sa_dir);
    if (!cfg->server || !cfg->context || !cfg->source) {
        rc = k8s_error_set(err, K8S_ENOMEM, "out of memory loading the in-cluster configuration");
        goto out;
    }

    /* The token is referenced, not copied, so that rotation is seen; it must
     * be readable now, as an unusable service account is a deployment error. */
    snprintf(path, sizeof(path), "%s/token", sa_dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        rc = k8s_error_set(err, K8S_EIO, "in-cluster token %s: cannot read: %s", path,
                           strerror(errno));
        goto out;
    }
    close(fd);
    cfg->token_file = strdup(path);
    if (!cfg->token_file) {
        rc = k8s_error_set(err, K8S_ENOMEM, "out of memory loading the in-cluster configuration");
        goto out;
    }

    /* Without ca.crt the system trust store verifies the server (as client-go
     * falls back); a ca.crt that is there but holds no certificate is an error. */
    snprintf(path, sizeof(path), "%s/ca.crt", sa_dir);
    if (access(path, F_OK) == 0) {
        rc = k8s_config_read_file(path, K8S_SA_CA_MAX, &cfg->ca_pem, &cfg->ca_pem_len, err);
        if (rc)
            goto out;
        if (k8s__pem_count_certificates(cfg->ca_pem, cfg->ca_pem_len) == 0) {
            rc = k8s_error_set(err, K8S_ECONFIG, "in-cluster CA %s contains no PEM certificate",
                               path);
            goto out;
        }
    } else {
        const char *kv[] = {"file", path, NULL};
        k8s_log(K8S_LOG_WARN, NULL, NULL,
                "no service-account CA; verifying the API server with the system trust store", kv);
    }

    /* Namespace: $POD_NAMESPACE (the downward API), then the namespace file,
     * then "default" — client-go's order. */
    const char *pod_ns = getenv("POD_NAMESPACE");
    if (pod_ns && *pod_ns) {
        ns = strdup(pod_ns);
        if (!ns) {
            rc = k8s_error_set(err, K8S_ENOMEM,
                               "out of memory loading the in-cluster configuration");
            goto out;
        }
    } else {
        snprintf(path, sizeof(path), "%s/namespace", sa_dir);
        rc = read_trimmed(path, K8S_SA_NAMESPACE_MAX, &ns, err);
        if (rc)
            goto out;
    }
    if (ns && *ns) {
        if (!k8s__valid_namespace(ns)) {
            rc = k8s_error_set(err, K8S_ECONFIG,
                               "in-cluster namespace \"%.64s\" (from %s) is not a valid "
                               "namespace name",
                               ns, pod_ns && *pod_ns ? "POD_NAMESPACE" : path);
            goto out;
        }
        free(cfg->namespace);
        cfg->namespace = ns;
        ns = NULL;
    }
    *out = cfg;
    cfg = NULL;
out:
    free(ns);
    k8s_config_free(cfg);
    return rc;
}

int k8s_config_load(const struct k8s_config_options *opts, struct k8s_config **out,
                    struct k8s_error *err)
{
    static const struct k8s_config_options none;
    char home_config[4096];
    *out = NULL;
    if (!opts)
        opts = &none;
    if (opts->kubeconfig && *opts->kubeconfig)
        return k8s__kubeconfig_load_file(opts->kubeconfig, opts->context, out, err);
    const char *env = getenv("KUBECONFIG");
    if (env && *env)
        return k8s_config_from_kubeconfig(env, opts->context, out, err);
    const char *host = getenv("KUBERNETES_SERVICE_HOST");
    const char *port = getenv("KUBERNETES_SERVICE_PORT");
    if (host && *host && port && *port) {
        if (opts->context && *opts->context)
            return k8s_error_set(err, K8S_ECONFIG,
                                 "context \"%s\" was given, but there is no kubeconfig "
                                 "(--kubeconfig, $KUBECONFIG) and the in-cluster "
                                 "configuration has no contexts",
                                 opts->context);
        return k8s_config_in_cluster(opts->serviceaccount_dir, out, err);
    }
    const char *home = opts->home && *opts->home ? opts->home : getenv("HOME");
    if (home && *home) {
        int n = snprintf(home_config, sizeof(home_config), "%s/.kube/config", home);
        if (n > 0 && (size_t)n < sizeof(home_config) && access(home_config, F_OK) == 0)
            return k8s__kubeconfig_load_file(home_config, opts->context, out, err);
    } else {
        snprintf(home_config, sizeof(home_config), "~/.kube/config ($HOME is not set)");
    }
    return k8s_error_set(err, K8S_ECONFIG,
                         "no Kubernetes configuration found: no --kubeconfig, $KUBECONFIG is "
                         "not set, not running in a cluster (KUBERNETES_SERVICE_HOST unset), "
                         "and %s does not exist",
                         home_config);
}
