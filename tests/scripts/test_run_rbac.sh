#!/usr/bin/env bash
# Least privilege, both ways: `quay-storage-operator run` as its
# ServiceAccount with only the rights deploy/ grants (installed with
# `kubectl apply -k deploy/`), under the simulator's RBAC mode — which also
# enforces OpenShift's OwnerReferencesPermissionEnforcement and records the
# checks it makes — driven through every flow the operator has:
#   - leader election (Lease create, get, renew, release on SIGTERM);
#   - a ReadOnly window on a QuayRegistry: finalizer, service-key Jobs
#     (ConfigMap, Secret, Job owned by the window with blockOwnerDeletion,
#     pods listed for psql's outcome), the composer's rendered bundle and state
#     record, rollout confirmation, cleanup, expiry on deletion;
#   - someone else's change of the QuayRegistry, twice (the second Warning is
#     a repeat: the Event's count is patched, as client-go does);
#   - a ScaleDown window on a StandaloneQuay (Deployments patched to 0 and
#     back, the config Secret's backup);
#   - a window whose target does not resolve, as on a server that drops CEL
#     rules (Kubernetes < 1.25): Failed/InvalidTarget, read by LIST.
# Then the simulator's request record must show no request refused AND every
# (verb, resource) granted to the operator used — so a right can only be
# granted together with the code that uses it.
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
sns=standalone

rw_start_pg
rw_start_sim --rbac
# The whole install, as a person would do it (the CRDs first: kustomize orders them).
out=$(kubectl apply -k "$src/deploy/" 2>&1) || rw_fail "kubectl apply -k deploy/: $out"
rw_operator_sa_kubeconfig

# The SA's token is the SA's, not an admin's: ConfigMaps are not readable.
if out=$(KUBECONFIG="$work/operator.kubeconfig" kubectl get configmaps -n kube-system 2>&1); then
  rw_fail "the operator's token may list ConfigMaps: it is not the ServiceAccount's"
fi
grep -qF "\"$user\" cannot list resource \"configmaps\"" <<<"$out" ||
  rw_fail "unexpected refusal for the ServiceAccount: $out"

# Targets: a QuayRegistry, and a StandaloneQuay (config Secret + Deployments).
rw_make_registry "$ns" quay
kubectl apply -f - >/dev/null <<EOF || rw_fail "cannot create the StandaloneQuay"
{"apiVersion": "v1", "kind": "List", "items": [
 {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "$sns"}},
 {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "quay-config", "namespace": "$sns"},
  "stringData": {"config.yaml": "SERVER_HOSTNAME: quay.example.com\nDB_URI: $db_uri\nDISTRIBUTED_STORAGE_CONFIG:\n  default:\n  - LocalStorage\n  - storage_path: /datastorage/registry\nDISTRIBUTED_STORAGE_PREFERENCE:\n- default\n"}},
 {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "quay-app", "namespace": "$sns"},
  "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "quay-app"}},
   "template": {"metadata": {"labels": {"app": "quay-app"}}, "spec": {"containers": [
    {"name": "quay", "image": "quay.io/projectquay/quay:3.13.3",
     "volumeMounts": [{"name": "config", "mountPath": "/conf/stack"}]}],
    "volumes": [{"name": "config", "secret": {"secretName": "quay-config"}}]}}}}]}
EOF

rw_admin DELETE /__admin/requests >/dev/null || rw_fail "cannot clear the request record"
POD_NAME=quay-storage-operator-rbac-test POD_NAMESPACE="$opns" \
  "$bin" run --kubeconfig "$work/operator.kubeconfig" --leader-elect \
  --lease-namespace "$opns" --health-addr "" --metrics-addr "" >"$work/op-sa.log" 2>&1 &
op=$!
rw_pids+=("$op")
rw_wait 30 grep -q '"msg":"became leader"' "$work/op-sa.log" ||
  rw_fail "the operator did not become leader within 30 s"

window() { # window NS NAME MODE TARGET-JSON
  kubectl apply -f - >/dev/null <<EOF
{"apiVersion": "quaystorage.io/v1alpha1", "kind": "ReadOnlyWindow",
 "metadata": {"name": "$2", "namespace": "$1"},
 "spec": {"mode": "$3", "target": $4, "reason": "RBAC test"}}
EOF
}
degraded_reason() { rw_status "$1" "$2" '{.status.conditions[?(@.type=="Degraded")].reason}'; }
degraded_is() { [ "$(degraded_reason "$1" "$2")" = "$3" ]; }
bundle_of() { kubectl get quayregistry -n "$ns" quay -o jsonpath='{.spec.configBundleSecret}'; }
point_at() { # point_at SECRET: someone else edits the QuayRegistry
  kubectl patch quayregistry -n "$ns" quay --type merge \
    -p "{\"spec\":{\"configBundleSecret\":\"$1\"}}" >/dev/null || rw_fail "cannot patch quay"
}

# 1. ReadOnly on the QuayRegistry.
window "$ns" backup ReadOnly '{"type": "QuayRegistry", "quayRegistry": {"name": "quay"}}' ||
  rw_fail "cannot create window backup"
rw_wait 90 rw_phase_is "$ns" backup Active || rw_fail "backup never became Active"
[ "$(rw_mode "$ns" quay)" = readonly ] || rw_fail "quay is not read-only"
kid=$(rw_status "$ns" backup '{.status.serviceKeyID}')
[ "$(rw_key_state "$kid")" = alive ] || rw_fail "key $kid is not alive"

# 2. Someone else points the registry back at its own bundle, twice.
ours=$(bundle_of)
[ "$ours" != quay-bundle ] || rw_fail "the window's bundle is not in effect"
for round in 1 2; do
  point_at quay-bundle
  rw_wait 60 degraded_is "$ns" backup ConfigChangedExternally ||
    rw_fail "round $round: the external change was not reported"
  point_at "$ours"
  rw_wait 60 degraded_is "$ns" backup AsExpected ||
    rw_fail "round $round: the window did not recover once its bundle was back"
done
count=$(kubectl get events -n "$ns" \
  --field-selector involvedObject.name=backup,reason=ConfigChangedExternally \
  -o jsonpath='{.items[*].count}')
[ "$count" = 2 ] || rw_fail "expected one ConfigChangedExternally Event with count 2, got '$count'"

# 3. ScaleDown on the StandaloneQuay.
window "$sns" quiet ScaleDown '{"type": "StandaloneQuay", "standaloneQuay":
  {"configSecretRef": {"name": "quay-config"}, "deployments": ["quay-app"]}}' ||
  rw_fail "cannot create window quiet"
rw_wait 90 rw_phase_is "$sns" quiet Active || rw_fail "quiet never became Active"
[ "$(kubectl get deployment -n "$sns" quay-app -o jsonpath='{.spec.replicas}')" = 0 ] ||
  rw_fail "quay-app was not scaled down"

# 4. A target that does not resolve: the server drops the CEL rules (as
#    before 1.25), the reconciler's own check refuses it.
kubectl patch crd readonlywindows.quaystorage.io --type json -p '[{"op": "remove", "path":
  "/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/target/x-kubernetes-validations"}]' \
  >/dev/null || rw_fail "cannot drop the CEL rules"
window "$ns" odd DisablePushes '{"type": "QuayRegistry", "quayRegistry": {"name": "quay"},
  "standaloneQuay": {"configSecretRef": {"name": "quay-config"}, "deployments": ["quay-app"]}}' ||
  rw_fail "cannot create window odd without CEL"
rw_wait 30 rw_phase_is "$ns" odd Failed || rw_fail "odd did not fail"
degraded_is "$ns" odd InvalidTarget || rw_fail "odd: $(degraded_reason "$ns" odd), not InvalidTarget"
kubectl delete readonlywindow -n "$ns" odd --timeout=30s >/dev/null || rw_fail "odd did not go"

# 5. The ends: everything put back, the key expired.
kubectl delete readonlywindow -n "$sns" quiet --timeout=90s >/dev/null || rw_fail "quiet did not go"
[ "$(kubectl get deployment -n "$sns" quay-app -o jsonpath='{.spec.replicas}')" = 3 ] ||
  rw_fail "quay-app is not back at 3 replicas"
kubectl delete readonlywindow -n "$ns" backup --timeout=90s >/dev/null || rw_fail "backup did not go"
[ "$(rw_mode "$ns" quay)" = normal ] || rw_fail "quay is not read-write after the window"
[ "$(rw_key_state "$kid")" = dead ] || rw_fail "key $kid was not expired"
kill -TERM "$op"
wait "$op" || rw_fail "the operator did not stop cleanly"

rw_admin GET /__admin/requests >"$work/record.json" || rw_fail "cannot read the request record"
kubectl get clusterrole quay-storage-operator -o json >"$work/clusterrole.json" ||
  rw_fail "no ClusterRole quay-storage-operator"
kubectl get role -n "$opns" -o json >"$work/roles.json" || rw_fail "cannot list Roles in $opns"

python3 - "$work/record.json" "$work/clusterrole.json" "$work/roles.json" "$user" <<'PY' ||
import json, sys
record, crole, roles, user = sys.argv[1:5]
items = [it for it in json.load(open(record))["items"] if it.get("user") == user]
if not items:
    print("no request by %s in the record" % user); sys.exit(1)

def res(it):
    r = it.get("resource", "")
    return r + "/" + it["subresource"] if it.get("subresource") else r

# A use: (verb, group, resource[/subresource], name or "") — the name matters
# only for rules limited by resourceNames. Admission checks (the
# OwnerReferencesPermissionEnforcement entries) are uses like requests.
uses = {(it.get("verb", ""), it.get("group", ""), res(it), it.get("name", ""))
        for it in items if it.get("resource")}
nonres = sorted({(it.get("verb", ""), it.get("path", "")) for it in items if not it.get("resource")})
denied = [it for it in items if it.get("code") == 403]

rules = json.load(open(crole)).get("rules", [])
for role in json.load(open(roles)).get("items", []):
    rules += role.get("rules", [])
granted = []  # (verb, group, resource, names or None)
for r in rules:
    names = tuple(r.get("resourceNames", [])) or None
    for g in r.get("apiGroups", []):
        for rs in r.get("resources", []):
            for v in r.get("verbs", []):
                granted.append((v, g, rs, names))

def covers(gr, use):
    return gr[:3] == use[:3] and (gr[3] is None or use[3] in gr[3])

def show(t): return "%-7s %-18s %s%s" % (t[0], t[1] or '""', t[2], " %s" % list(t[3]) if t[3] else "")
print("requests by %s: %d" % (user, len(items)))
print("used (verb, group, resource):")
for t in sorted({u[:3] for u in uses}): print("  " + show(t + (None,)))
for v, p in nonres: print("  %-7s (non-resource) %s" % (v, p))
bad = 0
unused = [g for g in granted if not any(covers(g, u) for u in uses)]
if unused:
    bad = 1
    print("GRANTED BUT NEVER USED (remove from deploy/rbac.yaml, or exercise the flow here):")
    for g in unused: print("  " + show(g))
ungranted = sorted({u[:3] for u in uses if not any(covers(g, u) for g in granted)})
if ungranted:
    bad = 1
    print("USED WITHOUT A GRANT:")
    for t in ungranted: print("  " + show(t + (None,)))
if denied:
    bad = 1
    print("REFUSED with 403:")
    for it in denied:
        print("  %s %s %s %s" % (it.get("verb"), it.get("method") or it.get("admission", ""),
                                 it.get("path"), res(it)))
sys.exit(bad)
PY
  rw_fail "the operator's rights and its use of them differ; see above"

echo "PASS: every right deploy/ grants the operator was used, and every use was granted"
