/*
 * STAND-IN for OpenShift's cluster-image-registry-operator (see sim_imgreg.c):
 * configs.imageregistry.operator.openshift.io/cluster drives the
 * openshift-image-registry/image-registry Deployment, the
 * image-registry-private-configuration Secret and
 * clusteroperators/image-registry. Active only when both CRDs are served
 * (kubesim --fixtures tests/fixtures/crds). Knobs under "imageRegistry":
 *   "rolloutDelayMs": N          readiness delay of the registry's pods
 *   "version": "4.18.0"          the operator's RELEASE_VERSION
 *   "image": "..."               the registry container image
 *   "infrastructureName": "..."  prefix of generated bucket/container names
 *   "bootstrap": true            create the config when missing (emptyDir)
 *   "progressingUntilComplete": true  the older releases' Progressing
 */
#ifndef QSO_SIM_IMGREG_H
#define QSO_SIM_IMGREG_H

struct sim_server;
struct sim_imgreg;

struct sim_imgreg *sim_imgreg_new(void);
void sim_imgreg_free(struct sim_imgreg *m);
void sim_imgreg_tick(struct sim_server *srv, struct sim_imgreg *m);

#endif
