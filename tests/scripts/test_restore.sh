#!/usr/bin/env bash
# The break-glass subcommand `quay-storage-operator restore` against the API
# simulator, checked with the real kubectl. Each target is left as an
# operator that died mid-window would leave it: the state record (written
# here by hand, in the format quay/quay_state.h documents), a rendered
# bundle referenced, ScaleDown overrides in spec.components or Deployments
# at 0. Then:
#   - QuayRegistry with spec.components present: configBundleSecret and
#     components come back verbatim, the original's .data sha256 unchanged,
#     the record marked restored with its overlays kept; running it again
#     is a no-op success;
#   - QuayRegistry whose original had NO spec.components: they are removed;
#   - the original's data changed since it was recorded: refused (exit 1,
#     names --force), then restored with --force;
#   - QuayRegistry whose spec.configBundleSecret was unset since: set back;
#   - QuayRegistry whose spec.readOnly ReadOnly windows hold (no state
#     record): released to its previous value and marked; released too when
#     the rest of the restore fails (the original bundle is gone);
#   - StandaloneQuay: the backup's data back in the config Secret, the
#     Deployments' replicas as before the ScaleDown, pods restarted; a
#     Deployment the record names but deleted since is skipped and named;
#   - no record: exit 1 with a clear message; usage errors: exit 2.
# Args: <build dir> <source dir>.
set -euo pipefail
build=${1:?build dir}
src=${2:?source dir}
sim="$build/tests/kubesim/kubesim"
qso="$build/quay-storage-operator"
command -v kubectl >/dev/null || { echo "SKIP: kubectl not installed"; exit 0; }

work=$(mktemp -d "${TMPDIR:-/tmp}/qso-restore-XXXXXX")
state="$work/state"
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; [ -f "$work/kubesim.log" ] && tail -20 "$work/kubesim.log" >&2; exit 1; }
expect_out() {
  local pat=$1; shift
  local out
  out=$("$@" 2>&1) || fail "$* exited $?: $out"
  grep -qE -- "$pat" <<<"$out" || fail "$*: expected /$pat/ in: $out"
}
# expect_rc <rc> <pattern> <command...>
expect_rc() {
  local want=$1 pat=$2; shift 2
  local out rc=0
  out=$("$@" 2>&1) || rc=$?
  [ "$rc" -eq "$want" ] || fail "$* exited $rc, want $want: $out"
  grep -qE -- "$pat" <<<"$out" || fail "$*: expected /$pat/ in: $out"
}

# Usage errors need no server.
expect_rc 2 'target NAMESPACE/NAME is required' "$qso" restore
expect_rc 2 'takes QuayRegistry or StandaloneQuay' "$qso" restore --target a/b --kind Bogus
expect_rc 2 'takes NAMESPACE/NAME' "$qso" restore --target nonamespace
expect_rc 2 'not a valid object name' "$qso" restore --target ns/Bad_Name
expect_rc 2 'unknown flag' "$qso" restore --target a/b --nope
expect_rc 0 'usage: quay-storage-operator restore' "$qso" restore --help

# This test plays the controllers: the simulated ones stay out of the way.
echo '{"quayOperator":{"enabled":false},"deployments":{"enabled":false}}' >"$work/workloads.json"
"$sim" --state-dir "$state" --exit-after 300 --fixtures "$src/tests/fixtures/crds" \
  --workloads "$work/workloads.json" >"$work/kubesim.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do [ -f "$state/ready" ] && break; sleep 0.1; done
[ -f "$state/ready" ] || fail "kubesim did not start"
export KUBECONFIG="$state/kubeconfig" KUBECACHEDIR="$work/cache" HOME="$work"
kc="$state/kubeconfig"
expect_out 'condition met' kubectl wait --for=condition=Established \
  crd/quayregistries.quay.redhat.com --timeout=20s
# (kubectl's `create` generators send protobuf, which the simulator refuses:
# objects are made with --dry-run=client and applied.)
kubectl create namespace demo --dry-run=client -o yaml | kubectl apply -f - >/dev/null
mksecret() { kubectl -n demo create secret generic "$1" --from-file=config.yaml="$2" \
  --dry-run=client -o yaml | kubectl apply -f - >/dev/null; }

# The canonical sha256 of a Secret's .data (quay_bundle.h): keys in byte
# order, u64be(len) || key || u64be(len) || value.
bundle_sha() {
  kubectl -n "$1" get secret "$2" -o json | python3 -c '
import base64, hashlib, json, struct, sys
d = json.load(sys.stdin).get("data") or {}
h = hashlib.sha256()
for k in sorted(d, key=lambda s: s.encode()):
    kb, v = k.encode(), base64.b64decode(d[k])
    h.update(struct.pack(">Q", len(kb)) + kb + struct.pack(">Q", len(v)) + v)
print(h.hexdigest())'
}

# make_state <kind-lower> <target name> <owner apiVersion> <owner kind> <owner uid> <json>
make_state() {
  local b64
  b64=$(printf '%s' "$6" | base64 -w0)
  kubectl -n demo apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Secret
metadata:
  name: qso-state-$1-$2
  labels:
    app.kubernetes.io/managed-by: quay-storage-operator
    quaystorage.io/role: state
  ownerReferences:
  - {apiVersion: $3, kind: $4, name: $2, uid: $5}
type: Opaque
data:
  state.json: $b64
EOF
}

state_json() { kubectl -n demo get secret "qso-state-$1" -o jsonpath='{.data.state\.json}' | base64 -d; }

config='SERVER_HOSTNAME: quay.example.com
DISTRIBUTED_STORAGE_CONFIG:
  default:
  - LocalStorage
  - storage_path: /datastorage/registry
DISTRIBUTED_STORAGE_DEFAULT_LOCATIONS: []
DISTRIBUTED_STORAGE_PREFERENCE: [default]
'
printf '%s' "$config" >"$work/config.yaml"
printf '%sDISABLE_PUSHES: true\n' "$config" >"$work/rendered.yaml"

# ---- QuayRegistry, components present ---------------------------------------------
mksecret reg-bundle "$work/config.yaml"
mksecret reg-qso-0123456789 "$work/rendered.yaml"
orig_sha=$(bundle_sha demo reg-bundle)
rendered_sha=$(bundle_sha demo reg-qso-0123456789)
orig_components='[{"kind":"quay","managed":true,"overrides":{"env":[{"name":"DEBUGLOG","value":"true"}]}},{"kind":"horizontalpodautoscaler","managed":true}]'
scaled_components='[{"kind":"quay","managed":true,"overrides":{"env":[{"name":"DEBUGLOG","value":"true"}],"replicas":0}},{"kind":"horizontalpodautoscaler","managed":false}]'
kubectl -n demo apply -f - >/dev/null <<EOF
apiVersion: quay.redhat.com/v1
kind: QuayRegistry
metadata: {name: reg}
spec:
  configBundleSecret: reg-qso-0123456789
  components: $scaled_components
EOF
uid=$(kubectl -n demo get quayregistry reg -o jsonpath='{.metadata.uid}')
make_state quayregistry reg quay.redhat.com/v1 QuayRegistry "$uid" "$(cat <<EOF
{"version":1,"target":{"kind":"QuayRegistry","namespace":"demo","name":"reg","uid":"$uid"},
 "original":{"name":"reg-bundle","dataSHA256":"$orig_sha","components":$orig_components},
 "base":{"name":"reg-bundle","dataSHA256":"$orig_sha","original":true},
 "overlays":[{"mode":"DisablePushes","window":"w-dp","since":1},
             {"mode":"ScaleDown","window":"w-sd","since":2,"components":["quay"]}],
 "applied":{"name":"reg-qso-0123456789","dataSHA256":"$rendered_sha","components":$scaled_components,
            "restart":false,"targetGeneration":1,"confirmed":true}}
EOF
)"

expect_rc 0 'spec.configBundleSecret: reg-qso-0123456789 -> reg-bundle' \
  "$qso" restore --target demo/reg --kubeconfig "$kc"
[ "$(kubectl -n demo get quayregistry reg -o jsonpath='{.spec.configBundleSecret}')" = reg-bundle ] ||
  fail "configBundleSecret not restored"
kubectl -n demo get quayregistry reg -o json | python3 -c '
import json, sys
want = json.loads(sys.argv[1])
have = json.load(sys.stdin)["spec"]["components"]
assert have == want, (have, want)' "$orig_components" || fail "spec.components not restored verbatim"
[ "$(bundle_sha demo reg-bundle)" = "$orig_sha" ] || fail "the original's data changed"
state_json quayregistry-reg | python3 -c '
import json, sys
s = json.load(sys.stdin)
assert s["restored"]["by"] == "quay-storage-operator restore", s.get("restored")
assert s["restored"]["previous"] == "reg-qso-0123456789"
assert len(s["overlays"]) == 2, "overlays kept for audit"
assert s["applied"]["name"] == "reg-bundle" and "pending" not in s' || fail "state record not marked restored"
# Again: nothing left to change, still a success.
expect_rc 0 'spec.components: already as originally' "$qso" restore --target demo/reg --kubeconfig "$kc"

# The original changed since it was recorded: refused unless --force.
kubectl -n demo patch secret reg-bundle --type merge -p '{"data":{"extra":"eA=="}}' >/dev/null
expect_rc 1 'changed since it was recorded.*--force' "$qso" restore --target demo/reg --kubeconfig "$kc"
expect_rc 0 'restored as it is now, --force' "$qso" restore --target demo/reg --kubeconfig "$kc" --force

# ---- QuayRegistry whose original had no spec.components -----------------------------
mksecret bare-bundle "$work/config.yaml"
bare_sha=$(bundle_sha demo bare-bundle)
kubectl -n demo apply -f - >/dev/null <<EOF
apiVersion: quay.redhat.com/v1
kind: QuayRegistry
metadata: {name: bare}
spec:
  configBundleSecret: bare-bundle
  components: [{kind: horizontalpodautoscaler, managed: false}, {kind: quay, managed: true, overrides: {replicas: 0}}]
EOF
uid=$(kubectl -n demo get quayregistry bare -o jsonpath='{.metadata.uid}')
make_state quayregistry bare quay.redhat.com/v1 QuayRegistry "$uid" "$(cat <<EOF
{"version":1,"target":{"kind":"QuayRegistry","namespace":"demo","name":"bare","uid":"$uid"},
 "original":{"name":"bare-bundle","dataSHA256":"$bare_sha"},
 "base":{"name":"bare-bundle","dataSHA256":"$bare_sha","original":true},
 "overlays":[{"mode":"ScaleDown","window":"w","since":1,"components":["quay"]}],
 "applied":{"name":"bare-bundle","dataSHA256":"$bare_sha",
            "components":[{"kind":"horizontalpodautoscaler","managed":false},{"kind":"quay","managed":true,"overrides":{"replicas":0}}],
            "restart":false,"targetGeneration":1,"confirmed":true}}
EOF
)"
expect_rc 0 'removed \(the original had none\)' "$qso" restore --target demo/bare --kubeconfig "$kc"
kubectl -n demo get quayregistry bare -o json |
  python3 -c 'import json,sys; s=json.load(sys.stdin)["spec"]; assert "components" not in s, s' ||
  fail "spec.components should be absent again"

# ---- QuayRegistry whose spec.configBundleSecret was unset since ----------------------
mksecret unset-bundle "$work/config.yaml"
unset_sha=$(bundle_sha demo unset-bundle)
kubectl -n demo apply -f - >/dev/null <<EOF
apiVersion: quay.redhat.com/v1
kind: QuayRegistry
metadata: {name: unset}
spec:
  components: [{kind: objectstorage, managed: false}]
EOF
uid=$(kubectl -n demo get quayregistry unset -o jsonpath='{.metadata.uid}')
make_state quayregistry unset quay.redhat.com/v1 QuayRegistry "$uid" "$(cat <<EOF
{"version":1,"target":{"kind":"QuayRegistry","namespace":"demo","name":"unset","uid":"$uid"},
 "original":{"name":"unset-bundle","dataSHA256":"$unset_sha",
             "components":[{"kind":"objectstorage","managed":false}]},
 "base":{"name":"unset-bundle","dataSHA256":"$unset_sha","original":true},
 "overlays":[],
 "applied":{"name":"unset-bundle","dataSHA256":"$unset_sha",
            "components":[{"kind":"objectstorage","managed":false}],
            "restart":false,"targetGeneration":1,"confirmed":true}}
EOF
)"
expect_rc 0 'spec.configBundleSecret: \(unset\) -> unset-bundle' \
  "$qso" restore --target demo/unset --kubeconfig "$kc"
[ "$(kubectl -n demo get quayregistry unset -o jsonpath='{.spec.configBundleSecret}')" = unset-bundle ] ||
  fail "configBundleSecret not set back"

# ... and one with no spec at all (a bare manifest).
mksecret nospec-bundle "$work/config.yaml"
kubectl -n demo apply -f - >/dev/null <<EOF
{"apiVersion": "quay.redhat.com/v1", "kind": "QuayRegistry", "metadata": {"name": "nospec"}}
EOF
uid=$(kubectl -n demo get quayregistry nospec -o jsonpath='{.metadata.uid}')
make_state quayregistry nospec quay.redhat.com/v1 QuayRegistry "$uid" "$(cat <<EOF
{"version":1,"target":{"kind":"QuayRegistry","namespace":"demo","name":"nospec","uid":"$uid"},
 "original":{"name":"nospec-bundle","dataSHA256":"$unset_sha"},
 "base":{"name":"nospec-bundle","dataSHA256":"$unset_sha","original":true},
 "overlays":[],
 "applied":{"name":"nospec-bundle","dataSHA256":"$unset_sha",
            "restart":false,"targetGeneration":1,"confirmed":true}}
EOF
)"
expect_rc 0 'spec.configBundleSecret: \(unset\) -> nospec-bundle' \
  "$qso" restore --target demo/nospec --kubeconfig "$kc"
[ "$(kubectl -n demo get quayregistry nospec -o jsonpath='{.spec.configBundleSecret}')" = nospec-bundle ] ||
  fail "configBundleSecret not set on a QuayRegistry without spec"

# ---- QuayRegistry whose spec.readOnly a window holds (Quay Operator 3.19) ------------
# No state record: the window used spec.readOnly, not the composer.
kubectl patch crd quayregistries.quay.redhat.com --type json -p '[{"op": "add", "path":
  "/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/readOnly",
  "value": {"type": "boolean"}}]' >/dev/null || fail "cannot serve spec.readOnly"
kubectl -n demo apply -f - >/dev/null <<EOF
apiVersion: quay.redhat.com/v1
kind: QuayRegistry
metadata:
  name: held
  annotations: {quaystorage.io/readonly-windows: "backup,upgrade", quaystorage.io/readonly-previous: absent}
spec:
  configBundleSecret: held-bundle
  readOnly: true
EOF
expect_rc 0 'released spec.readOnly of QuayRegistry demo/held \(held by windows backup,upgrade\): removed' \
  "$qso" restore --target demo/held --kubeconfig "$kc"
kubectl -n demo get quayregistry held -o json | python3 -c '
import json, sys
o = json.load(sys.stdin); a = o["metadata"].get("annotations", {})
assert "readOnly" not in o["spec"], o["spec"]
assert "quaystorage.io/readonly-windows" not in a and "quaystorage.io/readonly-previous" not in a, a
assert " by " in a.get("quaystorage.io/readonly-restored", ""), a' ||
  fail "spec.readOnly not released as it was, or the mark is missing"
# Nothing left to release: the usual "nothing to restore".
expect_rc 1 'has no quay-storage-operator state record' \
  "$qso" restore --target demo/held --kubeconfig "$kc"

# The original bundle is gone (restore fails), but spec.readOnly held by windows is
# still released: break glass never leaves the registry read-only.
kubectl -n demo apply -f - >/dev/null <<EOF
apiVersion: quay.redhat.com/v1
kind: QuayRegistry
metadata:
  name: held2
  annotations: {quaystorage.io/readonly-windows: nightly, quaystorage.io/readonly-previous: "false"}
spec:
  configBundleSecret: held2-qso-0000000000
  readOnly: true
EOF
uid=$(kubectl -n demo get quayregistry held2 -o jsonpath='{.metadata.uid}')
make_state quayregistry held2 quay.redhat.com/v1 QuayRegistry "$uid" "$(cat <<EOF
{"version":1,"target":{"kind":"QuayRegistry","namespace":"demo","name":"held2","uid":"$uid"},
 "original":{"name":"held2-bundle","dataSHA256":"$unset_sha"},
 "base":{"name":"held2-bundle","dataSHA256":"$unset_sha","original":true},
 "overlays":[],
 "applied":{"name":"held2-qso-0000000000","dataSHA256":"$unset_sha",
            "restart":false,"targetGeneration":1,"confirmed":true}}
EOF
)"
expect_rc 1 'released spec.readOnly of QuayRegistry demo/held2 \(held by windows nightly\): put back to false' \
  "$qso" restore --target demo/held2 --kubeconfig "$kc"
expect_rc 1 'original bundle Secret demo/held2-bundle no longer exists' \
  "$qso" restore --target demo/held2 --kubeconfig "$kc"
[ "$(kubectl -n demo get quayregistry held2 -o jsonpath='{.spec.readOnly}')" = false ] ||
  fail "spec.readOnly of held2 not put back to false"

# ---- StandaloneQuay -------------------------------------------------------------------
mksecret quay-config "$work/rendered.yaml"
mksecret quay-config-qso-backup-0000000000 "$work/config.yaml"
backup_sha=$(bundle_sha demo quay-config-qso-backup-0000000000)
now_sha=$(bundle_sha demo quay-config)
kubectl -n demo apply -f - >/dev/null <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: quay-app}
spec:
  replicas: 0
  selector: {matchLabels: {app: quay-app}}
  template:
    metadata:
      labels: {app: quay-app}
      annotations: {quaystorage.io/config-sha256: "$now_sha"}
    spec:
      containers: [{name: quay, image: quay}]
      volumes: [{name: config, secret: {secretName: quay-config}}]
EOF
uid=$(kubectl -n demo get secret quay-config -o jsonpath='{.metadata.uid}')
make_state standalonequay quay-config v1 Secret "$uid" "$(cat <<EOF
{"version":1,"target":{"kind":"StandaloneQuay","namespace":"demo","name":"quay-config","uid":"$uid",
                       "deployments":["quay-app","quay-mirror"]},
 "original":{"name":"quay-config","dataSHA256":"$backup_sha",
             "backup":"quay-config-qso-backup-0000000000","configKey":"config.yaml"},
 "base":{"name":"quay-config-qso-backup-0000000000","dataSHA256":"$backup_sha","original":true},
 "overlays":[{"mode":"ScaleDown","window":"w","since":1,"components":["quay"]}],
 "applied":{"name":"quay-config","dataSHA256":"$now_sha","replicas":{"quay-app":0},
            "restart":true,"targetGeneration":0,"confirmed":true},
 "scaledFrom":{"quay-app":3,"quay-mirror":1}}
EOF
)"
# quay-mirror, in the record, was deleted since: skipped and said so.
out=$("$qso" restore --target demo/quay-config --kind StandaloneQuay --kubeconfig "$kc" 2>&1) ||
  fail "restore with a deleted Deployment: $out"
grep -q 'Deployments given their replicas back: 1' <<<"$out" || fail "replicas line: $out"
grep -q 'Deployments no longer there, skipped: quay-mirror' <<<"$out" || fail "skipped line: $out"
[ "$(bundle_sha demo quay-config)" = "$backup_sha" ] || fail "config Secret data not restored"
[ "$(kubectl -n demo get deployment quay-app -o jsonpath='{.spec.replicas}')" = 3 ] ||
  fail "replicas not restored"
[ "$(kubectl -n demo get deployment quay-app \
  -o jsonpath='{.spec.template.metadata.annotations.quaystorage\.io/config-sha256}')" = "$backup_sha" ] ||
  fail "the Deployment was not restarted with the original config"

# ---- no record --------------------------------------------------------------------------
expect_rc 1 'has no quay-storage-operator state record' \
  "$qso" restore --target demo/nothing --kubeconfig "$kc"
echo "restore: ok"
