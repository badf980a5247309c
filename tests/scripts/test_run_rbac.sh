#!/usr/bin/env bash
# `quay-storage-operator run` under the simulator's RBAC mode with only the
# rights deploy/ grants: install with `kubectl apply -k deploy/` (as admin),
# get a token for the operator's ServiceAccount through the TokenRequest API,
# run the operator with it for ~10 s (leader election on, in its namespace),
# then read the simulator's request record and assert that no request the
# operator made was refused with 403. Prints the (verb, group, resource) set
# it used and, for information, what deploy/ grants that it did not use yet
# (the reconcilers that use those rights come with later issues).
# Args: <build dir> <source dir>.
set -euo pipefail
build=${1:?build dir}
src=${2:?source dir}
sim="$build/tests/kubesim/kubesim"
bin="$build/quay-storage-operator"
command -v kubectl >/dev/null || { echo "SKIP: kubectl not installed"; exit 0; }
for b in "$sim" "$bin"; do [ -x "$b" ] || { echo "FAIL: $b is not built" >&2; exit 1; }; done

ns=quay-storage-operator
sa=quay-storage-operator
user="system:serviceaccount:$ns:$sa"

work=$(mktemp -d "${TMPDIR:-/tmp}/run-rbac-XXXXXX")
chmod 700 "$work"
state="$work/state"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  [ -f "$work/op.log" ] && { echo "--- operator log (tail)" >&2; tail -20 "$work/op.log" >&2; }
  [ -f "$work/kubesim.log" ] && { echo "--- kubesim log (tail)" >&2; tail -10 "$work/kubesim.log" >&2; }
  exit 1
}

"$sim" --state-dir "$state" --port 0 --exit-after 300 --rbac \
  --fixtures "$src/tests/fixtures/crds" >"$work/kubesim.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do [ -f "$state/ready" ] && break; sleep 0.1; done
[ -f "$state/ready" ] || fail "kubesim did not start"
api="https://127.0.0.1:$(cat "$state/ready")"
export KUBECONFIG="$state/kubeconfig" KUBECACHEDIR="$work/cache" HOME="$work"

# Install as admin. The CRDs come first and must be Established before the
# operator's informers list them.
out=$(kubectl apply -k "$src/deploy/" 2>&1) || fail "kubectl apply -k deploy/: $out"
for crd in storagemigrations.quaystorage.io readonlywindows.quaystorage.io; do
  out=$(kubectl wait --for=condition=Established "crd/$crd" --timeout=30s 2>&1) ||
    fail "CRD $crd not Established: $out"
done
kubectl get serviceaccount -n "$ns" "$sa" >/dev/null 2>&1 || fail "ServiceAccount $ns/$sa not installed"

# A token for the ServiceAccount (TokenRequest; the response goes to a private
# file, never to a command line or the log).
cat >"$work/tokenrequest.json" <<'EOF'
{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{"expirationSeconds":3600}}
EOF
(umask 077 && kubectl create --raw "/api/v1/namespaces/$ns/serviceaccounts/$sa/token" \
  -f "$work/tokenrequest.json" >"$work/tokenresponse.json" 2>"$work/tokenrequest.err") ||
  fail "TokenRequest refused: $(cat "$work/tokenrequest.err")"

# The operator's kubeconfig: the admin's cluster and CA, the SA's token; and
# the admin's Authorization header for curl. Both files are mode 0600.
python3 - "$state" "$work" <<'EOF' || fail "could not write the operator's kubeconfig"
import json, os, sys
state, work = sys.argv[1], sys.argv[2]
kc = open(os.path.join(state, "kubeconfig")).read()
admin = next(l.split("token:", 1)[1].strip() for l in kc.splitlines() if "token:" in l)
tok = json.load(open(os.path.join(work, "tokenresponse.json")))["status"]["token"]
if not tok or tok == admin:
    sys.exit("no usable token in the TokenRequest response")
def private(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, text.encode()); os.close(fd)
private(os.path.join(work, "operator.kubeconfig"), kc.replace(admin, tok))
private(os.path.join(work, "admin.hdr"), "Authorization: Bearer %s\n" % admin)
EOF
rm -f "$work/tokenresponse.json"
admin() { # admin METHOD PATH
  curl -sS --http1.1 --cacert "$state/ca.crt" -H @"$work/admin.hdr" -X "$1" "$api$2"
}

# The SA's token authenticates as the SA, not as an admin: ConfigMaps are
# deliberately not granted (deploy/rbac.yaml).
if out=$(KUBECONFIG="$work/operator.kubeconfig" kubectl get configmaps -n kube-system 2>&1); then
  fail "the operator's token may list ConfigMaps: it is not the ServiceAccount's"
fi
grep -qF "\"$user\" cannot list resource \"configmaps\"" <<<"$out" ||
  fail "unexpected refusal for the ServiceAccount: $out"
admin DELETE /__admin/requests >/dev/null || fail "cannot clear the request record"

# The operator, as the Deployment runs it, for ~10 s.
POD_NAME=quay-storage-operator-rbac-test POD_NAMESPACE="$ns" \
  "$bin" run --kubeconfig "$work/operator.kubeconfig" --leader-elect \
  --lease-namespace "$ns" --health-addr 127.0.0.1:0 --metrics-addr 127.0.0.1:0 \
  >"$work/op.log" 2>&1 &
op=$!
pids+=("$op")
sleep 10
kill -0 "$op" 2>/dev/null || { wait "$op" || st=$?; fail "the operator exited early (status ${st:-0})"; }
grep -q '"msg":"became leader"' "$work/op.log" ||
  fail "the operator did not become leader within 10 s"
kill -TERM "$op"
st=0
wait "$op" || st=$?
[ "$st" = 0 ] || fail "the operator exited $st after SIGTERM"

admin GET "/__admin/requests" >"$work/record.json" || fail "cannot read the request record"
kubectl get clusterrole quay-storage-operator -o json >"$work/clusterrole.json" ||
  fail "no ClusterRole quay-storage-operator"
kubectl get role -n "$ns" -o json >"$work/roles.json" || fail "cannot list Roles in $ns"

python3 - "$work/record.json" "$work/clusterrole.json" "$work/roles.json" "$user" <<'EOF' ||
import json, sys
record, crole, roles, user = sys.argv[1:5]
items = [it for it in json.load(open(record))["items"] if it.get("user") == user]
if not items:
    print("no request by %s in the record" % user); sys.exit(1)

def res(it):
    r = it.get("resource", "")
    return r + "/" + it["subresource"] if it.get("subresource") else r
used = {(it.get("verb", ""), it.get("group", ""), res(it)) for it in items if it.get("resource")}
# Requests outside resources (discovery, /version) carry no resource.
nonres = sorted({(it.get("verb", ""), it.get("path", "")) for it in items if not it.get("resource")})
denied = [it for it in items if it.get("code") == 403]

granted = set()
rules = json.load(open(crole)).get("rules", [])
for role in json.load(open(roles)).get("items", []):
    rules += role.get("rules", [])
for r in rules:
    for g in r.get("apiGroups", []):
        for rs in r.get("resources", []):
            for v in r.get("verbs", []):
                granted.add((v, g, rs))

def show(t): return "%-8s %-24s %s" % (t[0], t[1] or '""', t[2])
print("requests by %s: %d" % (user, len(items)))
print("used (verb, group, resource):")
for t in sorted(used): print("  " + show(t))
for v, p in nonres: print("  %-8s (non-resource) %s" % (v, p))
print("granted but not used yet (informational):")
for t in sorted(granted - used): print("  " + show(t))
if denied:
    print("REFUSED with 403:")
    for it in denied:
        print("  %s %s %s" % (it.get("verb"), it.get("method"), it.get("path")))
    sys.exit(1)
# Sanity: the record says the operator did its leader election and listed its CRs.
need = [("create", "coordination.k8s.io", "leases"), ("get", "coordination.k8s.io", "leases")]
missing = [t for t in need if t not in used]
if missing:
    print("expected requests missing: %s" % missing); sys.exit(1)
EOF
  fail "the operator was refused a request (or the record is incomplete); see above"

echo "PASS: the operator ran 10 s as $user with deploy/'s RBAC; no request refused"
