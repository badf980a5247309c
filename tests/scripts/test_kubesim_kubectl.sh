#!/usr/bin/env bash
# Drives the API simulator with the real kubectl (v1.32, /usr/bin/kubectl):
# apply a CRD and a custom resource, get with printer columns, patch with the
# three patch types (strategic merge refused on a custom resource with the
# real 415, accepted on a built-in) and patch status, watch, wait for a
# condition, describe with events, explain, delete with a finalizer, and the
# refusals kubectl shows users (stale update, immutable field, CEL rule,
# unknown field selector). Args: <build dir> <source dir>.
set -euo pipefail
build=${1:?build dir}
src=${2:?source dir}
bin="$build/tests/kubesim/kubesim"
command -v kubectl >/dev/null || { echo "SKIP: kubectl not installed"; exit 0; }

work=$(mktemp -d "${TMPDIR:-/tmp}/kubesim-kubectl-XXXXXX")
state="$work/state"
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  if [ -n "${pid2:-}" ]; then kill "$pid2" 2>/dev/null || true; wait "$pid2" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; [ -f "$work/kubesim.log" ] && tail -20 "$work/kubesim.log" >&2; exit 1; }
# expect_out <pattern> <command...>: the command succeeds and prints the pattern.
expect_out() {
  local pat=$1; shift
  local out
  out=$("$@" 2>&1) || fail "$* exited $?: $out"
  grep -qE -- "$pat" <<<"$out" || fail "$*: expected /$pat/ in: $out"
}
# expect_err <pattern> <command...>: the command fails and says the pattern.
expect_err() {
  local pat=$1; shift
  local out
  if out=$("$@" 2>&1); then fail "$* should have failed: $out"; fi
  grep -qE -- "$pat" <<<"$out" || fail "$*: expected /$pat/ in: $out"
}

# One-liner start (see kubesim_main.c): the product's world is the third-party
# CRDs copied verbatim from their publishers (tests/fixtures/crds).
"$bin" --state-dir "$state" --exit-after 300 --establish-ms 1500 \
  --fixtures "$src/tests/fixtures/crds" >"$work/kubesim.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do [ -f "$state/ready" ] && break; sleep 0.1; done
[ -f "$state/ready" ] || fail "kubesim did not start"
export KUBECONFIG="$state/kubeconfig" KUBECACHEDIR="$work/cache" HOME="$work"

# Discovery and the fixture CRDs.
expect_out 'quayregistries +quay.redhat.com/v1 +true +QuayRegistry' kubectl api-resources
expect_out 'clusteroperators +co +config.openshift.io/v1 +false +ClusterOperator' kubectl api-resources
expect_out 'Server Version: v1.32' kubectl version
# The fixtures are the published schemas, served and Established.
for crd in quayregistries.quay.redhat.com configs.imageregistry.operator.openshift.io \
  clusteroperators.config.openshift.io; do
  expect_out 'condition met' kubectl wait --for=condition=Established "crd/$crd" --timeout=20s
done

# A CRD applied by the user is served only once Established: wait for it.
kubectl apply -f "$src/tests/kubesim/fixtures/test/widgets.test.kubesim.io.yaml" >/dev/null
expect_err "the server doesn't have a resource type \"widgets\"|NotFound|could not find" \
  kubectl get widgets
expect_out 'condition met' kubectl wait --for=condition=Established \
  crd/widgets.test.kubesim.io --timeout=20s

cat >"$work/w1.yaml" <<'EOF'
apiVersion: test.kubesim.io/v1
kind: Widget
metadata:
  name: w1
spec:
  size: 3
  note: hello
EOF
expect_out 'widget.test.kubesim.io/w1 created' kubectl apply -f "$work/w1.yaml"
expect_out 'widget.test.kubesim.io/w1 unchanged' kubectl apply -f "$work/w1.yaml"
sed -i 's/size: 3/size: 7/' "$work/w1.yaml"
expect_out 'widget.test.kubesim.io/w1 configured' kubectl apply -f "$work/w1.yaml"

# Printer columns (priority 1 only with -o wide), defaulting (color: blue).
expect_out '^NAME +SIZE +COLOR +READY +AGE' kubectl get widgets
expect_out '^w1 +7 +blue ' kubectl get wd
expect_out '^NAME +SIZE +COLOR +READY +NOTE +AGE' kubectl get wd -o wide
expect_out '^w1 +7 +blue +hello ' kubectl get wd -o wide
expect_out '"size": 7' kubectl get widget w1 -o json
expect_out 'generation: 2' kubectl get widget w1 -o yaml

# Patches: merge, JSON (with test), strategic (refused on a CR: 415).
expect_out 'patched' kubectl patch widget w1 --type merge -p '{"spec":{"size":8}}'
expect_out 'patched' kubectl patch widget w1 --type json \
  -p '[{"op":"test","path":"/spec/size","value":8},{"op":"replace","path":"/spec/color","value":"red"}]'
expect_err 'testing value /spec/size failed|test' kubectl patch widget w1 --type json \
  -p '[{"op":"test","path":"/spec/size","value":99}]'
expect_err 'the body of the request was in an unknown format - accepted media types include: application/json-patch\+json, application/merge-patch\+json, application/apply-patch\+yaml' \
  kubectl patch widget w1 --type strategic -p '{"spec":{"size":9}}'
expect_out '^w1 +8 +red ' kubectl get wd

# Schema and CEL refusals, worded as the real server words them.
expect_err 'spec.size: Invalid value: 0: spec.size in body should be greater than or equal to 1' \
  kubectl patch widget w1 --type merge -p '{"spec":{"size":0}}'
expect_err 'only gold widgets may be larger than 100' \
  kubectl patch widget w1 --type merge -p '{"spec":{"size":101}}'
expect_err 'Unsupported value: "green"' kubectl patch widget w1 --type merge -p '{"spec":{"color":"green"}}'

# Status subresource: spec ignored on /status, status ignored on the main resource.
expect_out 'patched' kubectl patch widget w1 --subresource=status --type merge \
  -p '{"status":{"conditions":[{"type":"Ready","status":"True","reason":"Done"}]},"spec":{"size":50}}'
expect_out '^w1 +8 +red +True ' kubectl get wd
kubectl patch widget w1 --type merge -p '{"status":{"conditions":[]}}' >/dev/null
expect_out 'condition met' kubectl wait --for=condition=Ready widget/w1 --timeout=10s

# Watch: a change made while `kubectl get -w` runs shows up in its output.
timeout 6 kubectl get wd -w >"$work/watch.out" 2>&1 &
wpid=$!
sleep 2
kubectl patch widget w1 --type merge -p '{"spec":{"size":9}}' >/dev/null
wait "$wpid" || true
grep -qE '^w1 +8 ' "$work/watch.out" || fail "watch: no initial row: $(cat "$work/watch.out")"
grep -qE '^w1 +9 ' "$work/watch.out" || fail "watch: no update row: $(cat "$work/watch.out")"

# Events, found by describe through involvedObject field selectors.
uid=$(kubectl get widget w1 -o jsonpath='{.metadata.uid}')
cat >"$work/ev.yaml" <<EOF
apiVersion: v1
kind: Event
metadata:
  name: w1.polished
type: Normal
reason: Polished
message: the widget was polished
involvedObject: {apiVersion: test.kubesim.io/v1, kind: Widget, name: w1, namespace: default, uid: "$uid"}
source: {component: widget-controller}
count: 1
EOF
kubectl create -f "$work/ev.yaml" >/dev/null
expect_out 'Normal +Polished +.* +widget-controller +the widget was polished' kubectl describe widget w1
expect_out 'w1.polished' kubectl get events --field-selector involvedObject.name=w1
expect_err 'field label not supported: involvedObject.color' \
  kubectl get events --field-selector involvedObject.color=red
expect_err '"spec.size" is not a known field selector: only "metadata.name", "metadata.namespace"' \
  kubectl get configmaps --field-selector spec.size=1
expect_out 'regarding:' kubectl get events.v1.events.k8s.io w1.polished -o yaml

# Explain, from /openapi/v3.
expect_out 'How big the widget is' kubectl explain widget.spec.size
expect_out 'KIND: +QuayRegistry' kubectl explain quayregistries
expect_out 'configBundleSecret' kubectl explain quayregistry.spec
# Only the published schema has the components' kind enum (a trimmed copy had not).
expect_out 'enum: quay, postgres, clair' kubectl explain quayregistry.spec.components

# Built-ins: apply twice (strategic merge from kubectl's own types), strategic
# patch of containers by name, immutable fields, stale update.
cat >"$work/dep.yaml" <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: main
        image: example/web:1
      - name: side
        image: example/side:1
EOF
expect_out 'deployment.apps/web created' kubectl apply -f "$work/dep.yaml"
# A `kind: List` is validated against /openapi/v2 (the v3 documents have no
# List): kubectl parses that answer's Content-Type with Go's mime package.
cat >"$work/list.json" <<'EOF'
{"apiVersion": "v1", "kind": "List", "items": [
 {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "listed"}, "data": {"a": "1"}}]}
EOF
expect_out 'configmap/listed created' kubectl apply -f "$work/list.json"
sed -i 's#example/web:1#example/web:2#' "$work/dep.yaml"
expect_out 'deployment.apps/web configured' kubectl apply -f "$work/dep.yaml"
expect_out 'patched' kubectl patch deployment web --type strategic \
  -p '{"spec":{"template":{"spec":{"containers":[{"name":"side","image":"example/side:2"}]}}}}'
expect_out 'example/web:2 example/side:2' kubectl get deployment web \
  -o jsonpath='{.spec.template.spec.containers[*].image}'
expect_err 'spec.selector: Invalid value: .*field is immutable' kubectl patch deployment web \
  --type merge -p '{"spec":{"selector":{"matchLabels":{"app":"other"}},"template":{"metadata":{"labels":{"app":"other"}}}}}'
kubectl get configmap -o name >/dev/null
cat >"$work/cm.yaml" <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  resourceVersion: "1"
data: {a: "1"}
EOF
kubectl apply -f - >/dev/null <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {a: "0"}
EOF
expect_err 'Operation cannot be fulfilled on configmaps "settings": the object has been modified; please apply your changes to the latest version and try again' \
  kubectl replace -f "$work/cm.yaml"

# Server-side apply (approximated: no field ownership) creates, then merges.
cat >"$work/ssa.yaml" <<'EOF2'
apiVersion: v1
kind: ConfigMap
metadata: {name: ssa}
data: {a: "1"}
EOF2
expect_out 'configmap/ssa serverside-applied' kubectl apply --server-side -f "$work/ssa.yaml"
sed -i 's/a: "1"/a: "2"/' "$work/ssa.yaml"
expect_out 'configmap/ssa serverside-applied' kubectl apply --server-side -f "$work/ssa.yaml"
expect_out '^2$' kubectl get configmap ssa -o 'jsonpath={.data.a}'

# Delete with a finalizer: the object stays (with deletionTimestamp) until
# the finalizer is removed.
kubectl patch widget w1 --type merge -p '{"metadata":{"finalizers":["test.kubesim.io/hold"]}}' >/dev/null
expect_out 'deleted' kubectl delete widget w1 --wait=false
expect_out '[0-9]{4}-[0-9]{2}-[0-9]{2}T' kubectl get widget w1 -o jsonpath='{.metadata.deletionTimestamp}'
kubectl patch widget w1 --type json -p '[{"op":"remove","path":"/metadata/finalizers"}]' >/dev/null
expect_err 'widgets.test.kubesim.io "w1" not found' kubectl get widget w1

# Namespaces finalize: their content goes with them.
kubectl create namespace scratch >/dev/null 2>&1 || kubectl apply -f - >/dev/null <<'EOF'
apiVersion: v1
kind: Namespace
metadata: {name: scratch}
EOF
kubectl apply -n scratch -f "$work/w1.yaml" >/dev/null
expect_out 'namespace "scratch" deleted' kubectl delete namespace scratch --timeout=20s
expect_err 'namespaces "scratch" not found' kubectl get namespace scratch

# RBAC with aggregated ClusterRoles: deploy/rbac.yaml's quaystorage-view/edit/
# admin only label themselves aggregate-to-view/edit/admin; a user bound to the
# built-in "view" in a namespace may then read StorageMigrations there, not
# create them, and loses the right when the label goes.
state2="$work/rbac"
mkdir -p "$state2"
"$bin" --state-dir "$state2" --exit-after 300 --rbac >"$work/kubesim.log" 2>&1 &
pid2=$!
for _ in $(seq 1 100); do [ -f "$state2/ready" ] && break; sleep 0.1; done
[ -f "$state2/ready" ] || fail "kubesim --rbac did not start"
export KUBECONFIG="$state2/kubeconfig"
expect_out 'aggregate-to-view' kubectl get clusterrole view -o jsonpath='{.aggregationRule}'
kubectl apply -f "$src/crds/storagemigrations.quaystorage.io.yaml" \
  -f "$src/crds/readonlywindows.quaystorage.io.yaml" >/dev/null
expect_out 'condition met' kubectl wait --for=condition=Established \
  crd/storagemigrations.quaystorage.io --timeout=20s
kubectl apply -f "$src/deploy/namespace.yaml" -f "$src/deploy/serviceaccount.yaml" \
  -f "$src/deploy/rbac.yaml" >/dev/null
# (kubectl create <generator> sends protobuf, which the simulator does not speak.)
kubectl apply -f - >/dev/null <<'EOF3'
apiVersion: v1
kind: Namespace
metadata: {name: team}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: viewer, namespace: team}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: viewer}
EOF3
# The viewer's token: generated here, written only into files (never argv).
python3 - "$state2" "$work/viewer.json" "$work/viewer.kubeconfig" <<'PY'
import json, secrets, sys
state, tok_file, kc_file = sys.argv[1:4]
tok = "viewer-" + secrets.token_hex(16)
with open(tok_file, "w") as f:
    json.dump({"token": tok, "user": "viewer", "groups": ["system:authenticated"]}, f)
kc = open(state + "/kubeconfig").read().splitlines()
out = []
for line in kc:
    if line.strip().startswith("token:"):
        line = line[:line.index("token:")] + "token: " + tok
    out.append(line)
open(kc_file, "w").write("\n".join(out) + "\n")
# Register it with the admin endpoint, as the admin (token from the kubeconfig).
import ssl, urllib.request
admin = [l.split("token:", 1)[1].strip() for l in kc if l.strip().startswith("token:")][0]
server = [l.split("server:", 1)[1].strip() for l in kc if l.strip().startswith("server:")][0]
ctx = ssl.create_default_context(cafile=state + "/ca.crt")
req = urllib.request.Request(server + "/__admin/tokens", method="POST",
                             data=open(tok_file, "rb").read(),
                             headers={"Authorization": "Bearer " + admin,
                                      "Content-Type": "application/json"})
urllib.request.urlopen(req, context=ctx).read()
PY
chmod 600 "$work/viewer.json" "$work/viewer.kubeconfig"
expect_out 'quaystorage.io' kubectl get clusterrole view -o jsonpath='{.rules[*].apiGroups}'
expect_out 'No resources found|^$' env KUBECONFIG="$work/viewer.kubeconfig" \
  kubectl get storagemigrations -n team
cat >"$work/sm.yaml" <<'EOF3'
apiVersion: quaystorage.io/v1alpha1
kind: StorageMigration
metadata: {name: m1, namespace: team}
spec: {}
EOF3
expect_err 'cannot create resource "storagemigrations" in API group "quaystorage.io" in the namespace "team"' \
  env KUBECONFIG="$work/viewer.kubeconfig" kubectl create -f "$work/sm.yaml"
expect_err 'cannot list resource "storagemigrations"' \
  env KUBECONFIG="$work/viewer.kubeconfig" kubectl get storagemigrations -n default
# The controller keeps aggregation current: without the label, no more access.
kubectl label clusterrole quaystorage-view rbac.authorization.k8s.io/aggregate-to-view- >/dev/null
expect_err 'cannot list resource "storagemigrations"' \
  env KUBECONFIG="$work/viewer.kubeconfig" kubectl get storagemigrations -n team

echo "kubectl against kubesim: all checks passed"
