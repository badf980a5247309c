/*
 * A pod's volumes as the kubelet's volume manager sets them up
 * (MountVolume.SetUp), in the pod's directory under the simulator's state
 * dir: <pod dir>/volumes/<name>.
 *
 *   secret, configMap, downwardAPI, projected (secret, configMap, downwardAPI,
 *   serviceAccountToken): files written with the kubelet's atomic writer
 *   layout (a timestamped directory, "..data" pointing at it, one symlink per
 *   top-level entry), items/keys/paths/modes/optional as the API defines them;
 *   re-synced while the pod runs (an edited Secret shows up in the files,
 *   never through a subPath mount), and always mounted read-only.
 *   emptyDir: a directory (mode 0777; medium Memory is a plain directory too).
 *   persistentVolumeClaim: the host directory the test mapped to the claim
 *   (workloads "claims"); an unmapped claim fails the set-up.
 *   hostPath: the host path (DirectoryOrCreate/FileOrCreate create it).
 * The service-account token volume ("kube-api-access-xxxxx") is set up when
 * the pod asks for a token (automountServiceAccountToken of the pod, else of
 * its ServiceAccount, default true): token (a TokenRequest for the pod's
 * ServiceAccount, bound to the pod), ca.crt (the simulator's CA), namespace.
 * Simplified: the real ServiceAccount admission plugin adds that volume to
 * the pod's spec at creation; here the spec is left as written and the
 * kubelet adds the mount itself.
 */
#ifndef QSO_SIM_POD_VOLUMES_H
#define QSO_SIM_POD_VOLUMES_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "sim_pod_sandbox.h"

struct sim_server;
struct sim_env;

#define SIM_SA_MOUNT_PATH "/var/run/secrets/kubernetes.io/serviceaccount"

struct sim_podvol {
    char *name;
    char *host_path;       /* what is bind-mounted */
    int readonly;          /* forced read-only (API data volumes, PVC readOnly) */
    int is_file;           /* hostPath of a file */
    int api_data;          /* secret/configMap/downwardAPI/projected: re-synced */
    char *token;           /* the current token of a projected serviceAccountToken source */
    int64_t token_refresh; /* unix time after which a new token is asked for */
};

struct sim_podvols {
    struct sim_podvol *v;
    size_t n;
    int has_sa; /* the service-account volume is part of the set */
    char sa_name[64];
};

/*
 * Sets up every volume of `pod` under `pod_dir`. 0, or -1 with the event
 * message (`MountVolume.SetUp failed for volume "x" : ...`) in `err`; a
 * failed set-up leaves nothing half-done to clean up beyond the pod dir.
 */
int sim_podvols_setup(struct sim_server *srv, const cJSON *pod, const char *pod_dir,
                      struct sim_podvols *out, char *err, size_t cap);
/* Rewrites the API data volumes whose content changed (the kubelet's
 * periodic resync); failures leave the old content, as the kubelet does. */
void sim_podvols_sync(struct sim_server *srv, const cJSON *pod, const char *pod_dir,
                      struct sim_podvols *vols);
void sim_podvols_free(struct sim_podvols *vols);

/* The bind mounts of one container, owning their strings. */
struct sim_mountlist {
    struct sim_mount *m;
    char **strs;
    size_t n, nstrs;
};

/*
 * The mounts of container `ctr`: its volumeMounts (subPath, subPathExpr
 * expanded with `env`, readOnly), the service-account volume at
 * SIM_SA_MOUNT_PATH unless the container mounts something there, and
 * `termination_file` at its terminationMessagePath. 0, or -1 with the
 * kubelet's message in `err` (the container waits with
 * CreateContainerConfigError).
 */
int sim_podvols_mounts(const struct sim_podvols *vols, const cJSON *ctr, const struct sim_env *env,
                       const char *termination_file, struct sim_mountlist *out, char *err,
                       size_t cap);
void sim_mountlist_free(struct sim_mountlist *l);

/* Removes a directory tree (pod dirs); symlinks are not followed. */
int sim_rmtree(const char *path);

#endif
