#!/usr/bin/env bash
# deploy/rbac.yaml's promise for `--namespaces`: the operator's ClusterRole
# bound with a RoleBinding in each watched namespace (no ClusterRoleBinding)
# is enough. The operator runs as its ServiceAccount with
# `--namespaces registry` under the simulator's RBAC: a ReadOnly window there
# goes Active and ends with no request refused, and a window in a namespace it
# does not watch is left alone.
# Args: <build dir> <source dir>.
set -euo pipefail
build=${1:?build dir}
src=${2:?source dir}
command -v kubectl >/dev/null || { echo "SKIP: kubectl not installed"; exit 0; }
[ -x /usr/bin/psql ] || { echo "SKIP: psql not installed"; exit 0; }
. "$src/tests/e2e/readonlywindow/lib.sh"
trap rw_cleanup EXIT
for b in "$sim" "$bin"; do [ -x "$b" ] || rw_fail "$b is not built"; done

opns=quay-storage-operator
user="system:serviceaccount:$opns:quay-storage-operator"
ns=registry

rw_start_pg
rw_start_sim --rbac
rw_operator_sa_kubeconfig
rw_make_registry "$ns" quay
rw_make_registry elsewhere quay
# Cluster-wide binding out, one RoleBinding in the watched namespace in.
kubectl delete clusterrolebinding quay-storage-operator >/dev/null ||
  rw_fail "cannot delete the ClusterRoleBinding"
kubectl apply -f - >/dev/null <<EOF || rw_fail "cannot create the RoleBinding"
{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
 "metadata": {"name": "quay-storage-operator", "namespace": "$ns"},
 "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
             "name": "quay-storage-operator"},
 "subjects": [{"kind": "ServiceAccount", "name": "quay-storage-operator", "namespace": "$opns"}]}
EOF
out=$(KUBECONFIG="$work/operator.kubeconfig" kubectl get readonlywindows -A 2>&1) &&
  rw_fail "the ServiceAccount may still list windows in all namespaces"
grep -qF "cannot list resource \"readonlywindows\"" <<<"$out" || rw_fail "unexpected: $out"

rw_admin DELETE /__admin/requests >/dev/null || rw_fail "cannot clear the request record"
POD_NAME=quay-storage-operator-ns-test POD_NAMESPACE="$opns" \
  "$bin" run --kubeconfig "$work/operator.kubeconfig" --namespaces "$ns" --leader-elect \
  --lease-namespace "$opns" --health-addr "" --metrics-addr "" >"$work/op-ns.log" 2>&1 &
op=$!
rw_pids+=("$op")

for n in "$ns" elsewhere; do
  kubectl apply -f - >/dev/null <<EOF || rw_fail "cannot create the window in $n"
{"apiVersion": "quaystorage.io/v1alpha1", "kind": "ReadOnlyWindow",
 "metadata": {"name": "backup", "namespace": "$n"},
 "spec": {"mode": "ReadOnly", "target": {"type": "QuayRegistry", "quayRegistry": {"name": "quay"}}}}
EOF
done
rw_wait 90 rw_phase_is "$ns" backup Active || rw_fail "backup never became Active"
[ "$(rw_mode "$ns" quay)" = readonly ] || rw_fail "quay is not read-only"
kid=$(rw_status "$ns" backup '{.status.serviceKeyID}')
kubectl delete readonlywindow -n "$ns" backup --timeout=90s >/dev/null || rw_fail "backup did not go"
[ "$(rw_mode "$ns" quay)" = normal ] || rw_fail "quay is not read-write after the window"
[ "$(rw_key_state "$kid")" = dead ] || rw_fail "key $kid was not expired"
# The unwatched namespace: no status, no finalizer, the registry untouched.
[ -z "$(rw_status elsewhere backup '{.status.phase}{.metadata.finalizers}')" ] ||
  rw_fail "the window in an unwatched namespace was reconciled"
[ "$(rw_mode elsewhere quay)" = normal ] || rw_fail "the unwatched registry was changed"
kill -TERM "$op"
wait "$op" || rw_fail "the operator did not stop cleanly"

rw_admin GET /__admin/requests >"$work/record.json" || rw_fail "cannot read the request record"
python3 - "$work/record.json" "$user" <<'PY' || rw_fail "the operator was refused a request; see above"
import json, sys
items = [it for it in json.load(open(sys.argv[1]))["items"] if it.get("user") == sys.argv[2]]
if not items:
    print("no request by the operator in the record"); sys.exit(1)
denied = [it for it in items if it.get("code") == 403]
for it in denied:
    print("REFUSED: %s %s %s" % (it.get("verb"), it.get("method") or it.get("admission", ""),
                                 it.get("path") or it.get("resource")))
outside = sorted({it.get("namespace") for it in items
                  if it.get("resource") and it.get("namespace") not in ("registry", "quay-storage-operator")})
if outside:
    print("requests outside the watched namespace: %s" % outside)
sys.exit(1 if denied or outside else 0)
PY
echo "PASS: with --namespaces and a RoleBinding, the operator needs no cluster-wide right"
