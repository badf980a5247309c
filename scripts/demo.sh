#!/usr/bin/env bash
# The product's main job, end to end, on an embedded default (no cluster).
#
# Until the StorageMigration reconciler exists, this runs the most complete flow
# the product has: the data path of a migration. It starts a real OpenStack
# Swift (S3 API + Swift API) on 127.0.0.1, fills a bucket in account 1 with a
# synthetic Quay store (the "old" storage), then does what a migration's copy
# Jobs will do: probe the new storage in account 2, presync (full copy), a
# no-op re-sync, an incremental pass after new pushes, and a verify. If the
# Kubernetes API simulator is built, it also installs the operator's CRDs and
# manifests with real kubectl and applies a sample StorageMigration.
#
#   ./scripts/demo.sh            (state in a temp dir; everything stops at exit)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
. scripts/deps.sh
qso_install_deps
echo "== building"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQSO_TESTS=ON >/dev/null
cmake --build build -j "$(nproc)" --target quay-storage-operator kubesim >"$root/build/demo-build.log" 2>&1 ||
  { tail -20 "$root/build/demo-build.log"; exit 1; }
bin=$root/build/quay-storage-operator
"$bin" version

work=$(mktemp -d /tmp/qso-demo.XXXXXX)
cleanup() {
  bash tests/support/swift/stop.sh "$work/swift" >/dev/null 2>&1 || true
  [ -n "${sim_pid:-}" ] && kill "$sim_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
unset AWS_CA_BUNDLE
export QSO_LOG_LEVEL=warn

echo "== starting OpenStack Swift (s3api + tempauth) on 127.0.0.1"
bash tests/support/swift/start.sh "$work/swift" --parent-pid $$ --max-seconds 1200 \
  >"$work/swift-start.log" 2>&1 || { cat "$work/swift-start.log"; exit 1; }
set -a; . "$work/swift/env"; set +a   # credentials stay in the environment
ep=$S3_ENDPOINT

swift_put_container() { # user key url
  local tok
  tok=$(printf 'X-Storage-User: %s\nX-Storage-Pass: %s\n' "$1" "$2" |
        curl -sS -i -H @- "$SWIFT_AUTH_URL" | awk 'tolower($1)=="x-auth-token:" {print $2}' | tr -d '\r')
  printf 'X-Auth-Token: %s\n' "$tok" | curl -sS -o /dev/null -f -H @- -X PUT "$3"
}
swift_put_container "$SWIFT_USER" "$SWIFT_KEY" "$SWIFT_STORAGE_URL/quay-old"
swift_put_container "$SWIFT_USER2" "$SWIFT_KEY2" "$SWIFT_STORAGE_URL2/quay-new"

old="s3://quay-old/datastorage/registry?endpoint=$ep"
new="s3://quay-new/datastorage/registry?endpoint=$ep"
summary() { tail -n 1 "$work/out.log"; }
run() { "$bin" "$@" >"$work/out.log"; }

echo "== the registry's current storage: 300 blobs in Quay's layout (account 1)"
/usr/bin/python3 tests/e2e/copy/gen_store.py "$work/store" 300 >/dev/null
export QSO_DESTINATION_AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID
export QSO_DESTINATION_AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
run copy --source "$work/store" --destination "$old" --termination-log "$work/term"
summary

export QSO_SOURCE_AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID
export QSO_SOURCE_AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
export QSO_DESTINATION_AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID2
export QSO_DESTINATION_AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY2
echo "== Validating: probe both ends (list; write, read back, delete a probe key)"
run copy --source "$old" --destination "$new" --probe --termination-log "$work/term"
summary
echo "== Syncing: presync pass 1 (full copy, sha256 of every blob checked)"
run copy --source "$old" --destination "$new" --verify-content --termination-log "$work/term"
summary
echo "== Syncing: presync pass 2 (nothing changed: a no-op)"
run copy --source "$old" --destination "$new" --termination-log "$work/term"
summary
echo "== users push 25 new blobs; FinalSync: the delta pass"
/usr/bin/python3 tests/e2e/copy/gen_store.py "$work/store2" 25 --seed 7 --no-extras >/dev/null
export QSO_DESTINATION_AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID
export QSO_DESTINATION_AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
run copy --source "$work/store2" --destination "$old" --termination-log "$work/term"
export QSO_DESTINATION_AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID2
export QSO_DESTINATION_AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY2
run copy --source "$old" --destination "$new" --termination-log "$work/term"
summary
echo "== Verifying: full listing comparison and 20 blobs re-hashed"
run verify --source "$old" --destination "$new" --sample 20 --termination-log "$work/term"
summary

sim=$root/build/tests/kubesim/kubesim
if [ -x "$sim" ]; then
  echo "== the API: CRDs, RBAC and the operator Deployment on the API simulator (real kubectl)"
  "$sim" --state-dir "$work/sim" --port 0 --exit-after 600 >"$work/sim.log" 2>&1 &
  sim_pid=$!
  for _ in $(seq 100); do [ -f "$work/sim/ready" ] && break; sleep 0.1; done
  export KUBECONFIG=$work/sim/kubeconfig
  kubectl apply -k deploy/ --validate=false >/dev/null
  kubectl wait --for=condition=Established crd/storagemigrations.quaystorage.io --timeout=30s >/dev/null
  ns=$(awk '/^  namespace:/ {print $2; exit}' deploy/examples/storagemigration-quay-s3-to-s3.yaml)
  printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n' "$ns" | kubectl apply -f - >/dev/null
  kubectl apply -f deploy/examples/storagemigration-quay-s3-to-s3.yaml
  kubectl get storagemigrations -n "$ns" -o wide
fi
echo "== done: the copy path of a migration ran end to end (the reconciler that drives it is not built yet)"
