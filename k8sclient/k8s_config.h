/*
 * Where and how to reach the API server: loaded from a kubeconfig (what
 * `kubectl` and `oc login` write) or from the in-cluster service-account
 * environment. The result is a plain struct of owned strings; PEM material is
 * kept in memory (it goes to libcurl as *_BLOB options, never to temp files).
 *
 * Resolution order of k8s_config_load (controller-runtime's): an explicit
 * kubeconfig path (--kubeconfig), then $KUBECONFIG (a ':'-separated list merged
 * as kubectl does: the first file to set a map key or current-context wins),
 * then in-cluster (when KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are
 * set), then ~/.kube/config. The first source that applies is used; its errors
 * are returned as they are (no silent fall-through to the next source).
 *
 * Validation: every file's structure is checked (YAML syntax, types, names,
 * duplicate names within a file), but only the context in use and the cluster
 * and user it references must be complete and valid (server, base64, PEM,
 * referenced files, supported auth form), so an unrelated stale or exec-plugin
 * entry does not stop a working context from loading. Error messages name the
 * file and the field (/tmp/kc: contexts[1].context.cluster "nope" not found)
 * and never contain a secret value.
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
    /* PEM buffers are NUL-terminated; the lengths exclude the NUL. */
    char *ca_pem;           /* CA bundle PEM; NULL means the system trust store */
    size_t ca_pem_len;
    char *client_cert_pem;  /* client certificate (chain) PEM, or NULL */
    size_t client_cert_pem_len;
    char *client_key_pem;   /* its private key PEM, or NULL */
    size_t client_key_pem_len;
    /* At most one of token and token_file is set (a kubeconfig user with both
     * keeps tokenFile, which can rotate); neither is set with username. */
    char *token;            /* a static bearer token, or NULL */
    char *token_file;       /* a bearer token file re-read when it changes, or NULL */
    char *username;         /* basic auth, or NULL */
    char *password;         /* "" when the kubeconfig gives a username only */
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
 * (NULL: current-context). As with $KUBECONFIG, listed files that do not exist
 * are skipped; it fails (K8S_EIO) when none exists. Relative paths inside a
 * file are relative to that file's directory. */
int k8s_config_from_kubeconfig(const char *paths, const char *context,
                               struct k8s_config **out, struct k8s_error *err);

/* Loads the in-cluster config: KUBERNETES_SERVICE_HOST/PORT, and under `sa_dir`
 * (NULL: /var/run/secrets/kubernetes.io/serviceaccount) ca.crt, namespace and
 * the token file, which is referenced (token_file), not copied, so rotation works. */
int k8s_config_in_cluster(const char *sa_dir, struct k8s_config **out, struct k8s_error *err);

/* A config with no server or credentials and the defaults above filled in
 * (namespace "default"), for callers that build one by hand; NULL if out of
 * memory. */
struct k8s_config *k8s_config_new(void);

/* A deep copy; NULL if out of memory. */
struct k8s_config *k8s_config_dup(const struct k8s_config *cfg);
/* Frees `cfg` (NULL is fine), zeroing the token, password and private key first. */
void k8s_config_free(struct k8s_config *cfg);

/* The bearer-token source for `cfg`: its token_file (re-read on rotation) or
 * its static token. `*out` is NULL (and 0 returned) when cfg has neither. */
int k8s_config_token_source(const struct k8s_config *cfg, struct k8s_token_source **out,
                            struct k8s_error *err);

/* Reads a whole regular file into a NUL-terminated buffer the caller frees.
 * K8S_EIO naming the file when it cannot be opened or read (or is not a regular
 * file), K8S_ECONFIG when it is larger than `max` bytes. */
int k8s_config_read_file(const char *path, size_t max, char **out, size_t *len,
                         struct k8s_error *err);

/* Internal to k8sclient (shared by k8s_config.c and k8s_kubeconfig.c). */

/* Loads exactly one kubeconfig file, which must exist (--kubeconfig names one
 * file; it is not split on ':'). */
int k8s__kubeconfig_load_file(const char *path, const char *context, struct k8s_config **out,
                              struct k8s_error *err);

/* Number of X.509 certificates that parse in a PEM buffer (0 if none). */
int k8s__pem_count_certificates(const char *pem, size_t len);
/* Whether `ns` is a valid namespace name (a DNS-1123 label). */
int k8s__valid_namespace(const char *ns);

#endif
