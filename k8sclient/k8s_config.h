/*
 * Where and how to reach the API server: loaded from a kubeconfig (what
 * `kubectl` and `oc login` write) or from the in-cluster service-account
 * environment. The result is a plain struct of owned strings; PEM material is
 * kept in memory (it goes to libcurl as *_BLOB options, never to temp files).
 *
 * Resolution order of k8s_config_load (controller-runtime's): an explicit
 * kubeconfig path (--kubeconfig), then $KUBECONFIG (a ':'-separated list merged
 * as kubectl does: the first file to set a map key or current-context wins),
 * then in-cluster (when KUBERNETES_SERVICE_HOST is set), then ~/.kube/config.
 */
#ifndef QSO_K8S_CONFIG_H
#define QSO_K8S_CONFIG_H

#include <stddef.h>

#include "k8s_error.h"
#include "k8s_token.h"

struct k8s_config {
    char *server;           /* "https://host:port", no trailing slash */
    char *tls_server_name;  /* SNI / verification name override, or NULL */
    char *proxy_url;        /* or NULL */
    int insecure_skip_tls_verify; /* only when the kubeconfig says so explicitly */
    char *ca_pem;           /* CA bundle PEM; NULL means the system trust store */
    size_t ca_pem_len;
    char *client_cert_pem;  /* client certificate (chain) PEM, or NULL */
    size_t client_cert_pem_len;
    char *client_key_pem;   /* its private key PEM, or NULL */
    size_t client_key_pem_len;
    char *token;            /* a static bearer token, or NULL */
    char *token_file;       /* a bearer token file re-read when it changes, or NULL */
    char *username;         /* basic auth, or NULL */
    char *password;
    char *namespace;        /* the context's (or pod's) namespace; "default" if unset */
    char *context;          /* name of the context used, or "in-cluster" */
    char *source;           /* file(s) it came from, for messages */
    /* Transport settings; k8s_config_load fills client-go-like defaults. */
    double qps;             /* client-side rate limit; default 20 */
    int burst;              /* default 30 */
    long connect_timeout_ms; /* default 10000 */
    long request_timeout_ms; /* non-watch requests; default 60000 */
    char *user_agent;       /* default "quay-storage-operator/<version>" */
};

struct k8s_config_options {
    const char *kubeconfig;  /* --kubeconfig; NULL to use the resolution order */
    const char *context;     /* --context; NULL for current-context */
    /* For tests: where in-cluster files live instead of
     * /var/run/secrets/kubernetes.io/serviceaccount, and $HOME. NULL for real. */
    const char *serviceaccount_dir;
    const char *home;
};

/* Loads by the resolution order above. On error `*out` is NULL and `err` names
 * the file and the field at fault. */
int k8s_config_load(const struct k8s_config_options *opts, struct k8s_config **out,
                    struct k8s_error *err);

/* Loads from a kubeconfig path list (':'-separated, merged) and a context
 * (NULL: current-context). */
int k8s_config_from_kubeconfig(const char *paths, const char *context,
                               struct k8s_config **out, struct k8s_error *err);

/* Loads the in-cluster config: KUBERNETES_SERVICE_HOST/PORT, and under `sa_dir`
 * (NULL: /var/run/secrets/kubernetes.io/serviceaccount) ca.crt, namespace and
 * the token file, which is referenced (token_file), not copied, so rotation works. */
int k8s_config_in_cluster(const char *sa_dir, struct k8s_config **out, struct k8s_error *err);

/* A deep copy. */
struct k8s_config *k8s_config_dup(const struct k8s_config *cfg);
void k8s_config_free(struct k8s_config *cfg);

#endif
