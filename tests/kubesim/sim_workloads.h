/*
 * The workload controllers of a simulated cluster — what makes objects do
 * something, so end-to-end tests move real bytes:
 *   sim_kubelet.c   Pods as local processes (images mapped to binaries)
 *   sim_jobs.c      the Job controller (pods, Indexed mode, backoff, podFailurePolicy)
 *   sim_deploy.c    the Deployment controller (ReplicaSet revisions, rollout status)
 *   sim_quayop.c    STAND-IN for the Quay Operator (QuayRegistry)
 *   sim_imgreg.c    STAND-IN for OpenShift's cluster-image-registry-operator
 * Each runs from the server's timer (sim_server_tick, every 100 ms), on the
 * HTTP service thread like everything else, and writes through the store as a
 * controller would (sim_controller_update / sim_store_put).
 *
 * Their configuration is one JSON document, set with `kubesim --workloads FILE`
 * and changed at run time with POST /__admin/workloads (a JSON merge patch,
 * RFC 7386; GET returns the whole document). Known members:
 *   "images":  {"quay-storage-operator:latest": "/abs/bin", "quay.io/x/ *": ...} (no space)
 *              image -> local binary ("*" at the end: prefix match); a pod
 *              whose image is not mapped stays Pending with ErrImagePull
 *   "claims":  {"<namespace>/<claimName>": "/abs/host/dir"}  PVC -> directory
 *   "kubelet":      {"startDelayMs": 0, "backOffBaseMs", "backOffMaxMs", "volumeSyncMs"}
 *                   (see sim_kubelet.h)
 *   "jobs":         {"backoffBaseMs": 10000, "backoffMaxMs": 600000}
 *   "deployments":  {"rolloutDelayMs": 1000, "stall": {"<ns>/<name>": true}}
 *   "quayOperator": {"requeueSeconds": 60, "currentVersion": "3.13.3",
 *                    "failRollout": false, "staleAvailable": false,
 *                    "omitObservedGeneration": false, "retrySeconds": 10,
 *                    "statusIntervalMs": 1000, "supportsRoutes": false,
 *                    "clusterHostname": ...}   (see sim_quayop.c)
 *   "imageRegistry": {"rolloutDelayMs": 1000, "progressingUntilComplete": false,
 *                     "version", "image", "infrastructureName", "bootstrap"}
 *                    (see sim_imgreg.c)
 * Every module's object takes "enabled": false, which stops that controller
 * (a test then plays its part by writing status itself).
 * Modules read their own knobs with the getters below, so a new knob needs
 * no change here.
 */
#ifndef QSO_SIM_WORKLOADS_H
#define QSO_SIM_WORKLOADS_H

#include <cjson/cJSON.h>

struct sim_server;
struct sim_request;
struct sim_response;
struct sim_kubelet;
struct sim_jobs;
struct sim_deploy;
struct sim_quayop;
struct sim_imgreg;

struct sim_workloads {
    cJSON *config; /* the document above; never NULL after sim_workloads_new */
    struct sim_kubelet *kubelet;
    struct sim_jobs *jobs;
    struct sim_deploy *deploy;
    struct sim_quayop *quayop;
    struct sim_imgreg *imgreg;
};

struct sim_workloads *sim_workloads_new(void);
/* Stops what still runs (processes are killed and reaped). NULL is fine. */
void sim_workloads_free(struct sim_workloads *w);

/* Merges `patch` (RFC 7386) into the configuration after checking the known
 * members' types; 0, or -1 with a message naming the member in `err`. */
int sim_workloads_configure(struct sim_workloads *w, const cJSON *patch, char *err, size_t cap);
/* Reads a JSON file and configures with it (the --workloads flag). */
int sim_workloads_load_file(struct sim_workloads *w, const char *path, char *err, size_t cap);

/* One pass of every controller (from sim_server_tick). */
void sim_workloads_tick(struct sim_server *srv);

/* GET/POST /__admin/workloads. */
void sim_workloads_admin(struct sim_server *srv, const struct sim_request *req, const cJSON *body,
                         struct sim_response *resp);

/* The binary an image runs as, or NULL when it is not mapped. */
const char *sim_wl_image_binary(const struct sim_server *srv, const char *image);
/* The host directory for a PersistentVolumeClaim, or NULL. */
const char *sim_wl_claim_dir(const struct sim_server *srv, const char *ns, const char *claim);
/* Knobs: sim_wl_int(srv, 60, "quayOperator", "requeueSeconds", NULL). */
long sim_wl_int(const struct sim_server *srv, long def, ...) __attribute__((sentinel));
int sim_wl_bool(const struct sim_server *srv, int def, ...) __attribute__((sentinel));
const char *sim_wl_str(const struct sim_server *srv, const char *def, ...)
    __attribute__((sentinel));

#endif
