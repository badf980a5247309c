/*
 * A container's environment as the kubelet builds it
 * (pkg/kubelet/kubelet_pods.go makeEnvironmentVariables): the service
 * variables of the API server (KUBERNETES_SERVICE_HOST/PORT, pointing at this
 * simulator so k8sclient's in-cluster configuration works from inside a pod),
 * envFrom (ConfigMaps and Secrets, with prefix and optional), then env in
 * order (value with $(VAR) expansion, or valueFrom: fieldRef,
 * resourceFieldRef, configMapKeyRef, secretKeyRef, optional honoured); and the
 * downward API values the same fields give to volumes.
 *
 * Simplified: the service variables of the namespace's other Services
 * (enableServiceLinks) are not injected; resource limits that are not set
 * read as the host's CPU count and memory, as a node's allocatable would.
 */
#ifndef QSO_SIM_POD_ENV_H
#define QSO_SIM_POD_ENV_H

#include <cjson/cJSON.h>
#include <stddef.h>

struct sim_server;

/* An ordered NAME=value list; setting an existing name replaces its value
 * in place. */
struct sim_env {
    char **names;
    char **values;
    size_t n, cap;
};

void sim_env_init(struct sim_env *e);
void sim_env_free(struct sim_env *e);
/* 0, or -1 when out of memory. */
int sim_env_set(struct sim_env *e, const char *name, const char *value);
const char *sim_env_get(const struct sim_env *e, const char *name);
/* "NAME=value" strings, NULL-terminated, malloc'd (free with sim_strv_free). */
char **sim_env_envp(const struct sim_env *e);
void sim_strv_free(char **v);

/*
 * Kubernetes' $(VAR) expansion (third_party/forked/golang/expansion): $(NAME)
 * is replaced by the first of `a`, `b` (either may be NULL) that defines it,
 * kept as written when neither does; $$ is a literal $. malloc'd.
 */
char *sim_env_expand(const char *in, const struct sim_env *a, const struct sim_env *b);

/*
 * The environment of `ctr` in `pod` (both as stored). 0 with *out filled, or
 * -1 with the kubelet's message in `err` (the container then waits with
 * reason CreateContainerConfigError): `secret "s" not found`, `couldn't find
 * key k in Secret ns/s`, `configmap "c" not found`, `couldn't find key k in
 * ConfigMap ns/c`. Keys of envFrom that are no valid variable names are
 * skipped and listed in `skipped` ("" when none), as the kubelet's
 * InvalidEnvironmentVariableNames event does.
 */
int sim_pod_env(struct sim_server *srv, const cJSON *pod, const cJSON *ctr, struct sim_env *out,
                char *skipped, size_t skipped_cap, char *err, size_t cap);

/* A fieldRef's value (metadata.name, .namespace, .uid, .labels, .annotations,
 * labels['k'], annotations['k'], spec.nodeName, spec.serviceAccountName,
 * status.hostIP(s), status.podIP(s)); malloc'd into *out, or -1 with `err`. */
int sim_pod_field(const cJSON *pod, const char *path, char **out, char *err, size_t cap);
/* A resourceFieldRef's value for container `ctr` (or the one it names). */
int sim_pod_resource_field(const cJSON *pod, const cJSON *ctr, const cJSON *ref, char **out,
                           char *err, size_t cap);

/* Secret/ConfigMap data from the store: the value of `key`, decoded, with its
 * length; NULL when absent. *found_obj tells whether the object exists. */
unsigned char *sim_pod_secret_key(struct sim_server *srv, const char *ns, const char *name,
                                  const char *key, size_t *len, int *found_obj);
unsigned char *sim_pod_configmap_key(struct sim_server *srv, const char *ns, const char *name,
                                     const char *key, size_t *len, int *found_obj);

#endif
