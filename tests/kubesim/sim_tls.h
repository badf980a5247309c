/*
 * The simulator's PKI and client configuration: a CA (kept in the state dir
 * so a restarted simulator is still trusted by the kubeconfig it wrote), a
 * serving certificate for 127.0.0.1/localhost signed by it (IP and DNS SANs,
 * regenerated at every start, held in memory only), and the kubeconfig that
 * points kubectl and our client at the server with the admin bearer token.
 */
#ifndef QSO_SIM_TLS_H
#define QSO_SIM_TLS_H

#include <stddef.h>

struct sim_tls {
    char *ca_pem;   /* also written to <state>/ca.crt */
    char *cert_pem; /* serving certificate */
    char *key_pem;  /* its private key (memory only) */
};

/* Loads <dir>/ca.crt + <dir>/ca.key or creates them (ECDSA P-256), then
 * issues a fresh serving certificate. 0 or -1 with a message on stderr. */
int sim_tls_init(const char *state_dir, struct sim_tls *out);
void sim_tls_free(struct sim_tls *t);

/* Writes <dir>/kubeconfig (mode 0600): cluster "kubesim" at
 * https://127.0.0.1:<port> with the CA inline, user "admin" with `token`. */
int sim_kubeconfig_write(const char *state_dir, int port, const char *ca_pem, const char *token);

#endif
