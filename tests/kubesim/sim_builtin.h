/*
 * The built-in types the operator touches, with what kube-apiserver enforces
 * on them: Namespaces, Secrets, ConfigMaps, Events (core/v1 and
 * events.k8s.io/v1 over one store), ServiceAccounts, PersistentVolumeClaims,
 * Pods, Deployments, Jobs, Leases, Roles, ClusterRoles and their bindings, and
 * CustomResourceDefinitions. Each has its scope, kind, short names, selectable
 * fields, status subresource, defaulting and immutable fields.
 */
#ifndef QSO_SIM_BUILTIN_H
#define QSO_SIM_BUILTIN_H

struct sim_kinds;
struct sim_server;

/* Registers every built-in kind. 0 or -1 (out of memory). */
int sim_builtin_register(struct sim_kinds *ks);

/* Creates the objects a fresh cluster has (default, kube-system, kube-public,
 * kube-node-lease namespaces; cluster-admin RBAC) unless they exist. */
int sim_builtin_bootstrap(struct sim_server *srv);

#endif
