#!/usr/bin/env bash
# The product's main job, end to end, on an embedded default (no cluster).
#
# Until the StorageMigration reconciler exists, this runs the most complete flow
# the product has: the data path of a migration. It starts a real OpenStack
# Swift (S3 API + Swift API) on 127.0.0.1, fills a bucket in account 1 with a
# synthetic Quay store (the "old" storage), then does what a migration's copy
# Jobs will do: probe the new storage in account 2, then — as Indexed Jobs of
# two shards on the Kubernetes API simulator, whose kubelet runs the operator's
# image as the binary just built, credentials by secretKeyRef — presync (full
# copy), a no-op re-sync and the incremental pass after new pushes; then a
# verify. The CRDs and manifests are installed with real kubectl and a sample
# StorageMigration is applied. Last, a ReadOnlyWindow puts a QuayRegistry
# (the simulator's Quay Operator stand-in) read-only with a service key
# registered in a real PostgreSQL, and is deleted to take it out again.
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
sim=$root/build/tests/kubesim/kubesim
echo "== the cluster: the API simulator with its workload controllers (Jobs, pods as processes)"
# The operator's image runs as the binary just built (tests/kubesim/sim_workloads.h).
printf '{"images":{"quay.io/quaystorage/quay-storage-operator*":"%s"},"jobs":{"backoffBaseMs":1000}}\n' \
  "$bin" >"$work/workloads.json"
"$sim" --state-dir "$work/sim" --port 0 --exit-after 900 --workloads "$work/workloads.json" \
  --fixtures tests/fixtures/crds >"$work/sim.log" 2>&1 &
sim_pid=$!
for _ in $(seq 100); do [ -f "$work/sim/ready" ] && break; sleep 0.1; done
[ -f "$work/sim/ready" ] || { tail -5 "$work/sim.log"; exit 1; }
export KUBECONFIG=$work/sim/kubeconfig
kubectl apply -k deploy/ --validate=false >/dev/null
kubectl wait --for=condition=Established crd/storagemigrations.quaystorage.io --timeout=30s >/dev/null
ns=$(awk '/^  namespace:/ {print $2; exit}' deploy/examples/storagemigration-quay-s3-to-s3.yaml)
printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n' "$ns" | kubectl apply -f - >/dev/null
kubectl apply -f deploy/examples/storagemigration-quay-s3-to-s3.yaml
kubectl get storagemigrations -n "$ns" -o wide
# The credentials of both ends, as a migration's copy Jobs receive them: a
# Secret read through secretKeyRef (never on a command line).
# (kubectl apply, not `kubectl create secret`: the simulator speaks JSON only.)
/usr/bin/python3 -c 'import json, os; e = os.environ; print(json.dumps({"apiVersion": "v1",
  "kind": "Secret", "metadata": {"name": "demo-copy-credentials"}, "stringData": {
  "src-key": e["AWS_ACCESS_KEY_ID"], "src-secret": e["AWS_SECRET_ACCESS_KEY"],
  "dst-key": e["AWS_ACCESS_KEY_ID2"], "dst-secret": e["AWS_SECRET_ACCESS_KEY2"]}}))' |
  kubectl -n "$ns" apply -f - >/dev/null

copy_job() { # name pass-args...
  local name=$1; shift
  local args="" a
  for a in "$@"; do args="$args\"$a\","; done
  kubectl -n "$ns" apply -f - >/dev/null <<JOB
{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"$name"},
 "spec":{"completionMode":"Indexed","completions":2,"parallelism":2,"backoffLimit":2,
  "template":{"spec":{"restartPolicy":"Never","automountServiceAccountToken":false,
   "containers":[{"name":"copy","image":"quay.io/quaystorage/quay-storage-operator:demo",
    "args":["copy","--shards","2",${args%,}],
    "env":[{"name":"QSO_LOG_LEVEL","value":"warn"},
     {"name":"QSO_SOURCE_AWS_ACCESS_KEY_ID","valueFrom":{"secretKeyRef":{"name":"demo-copy-credentials","key":"src-key"}}},
     {"name":"QSO_SOURCE_AWS_SECRET_ACCESS_KEY","valueFrom":{"secretKeyRef":{"name":"demo-copy-credentials","key":"src-secret"}}},
     {"name":"QSO_DESTINATION_AWS_ACCESS_KEY_ID","valueFrom":{"secretKeyRef":{"name":"demo-copy-credentials","key":"dst-key"}}},
     {"name":"QSO_DESTINATION_AWS_SECRET_ACCESS_KEY","valueFrom":{"secretKeyRef":{"name":"demo-copy-credentials","key":"dst-secret"}}}]}]}}}}
JOB
  kubectl -n "$ns" wait --for=condition=Complete "job/$name" --timeout=300s >/dev/null ||
    { kubectl -n "$ns" describe "job/$name"; kubectl -n "$ns" logs -l "job-name=$name" --tail=20; exit 1; }
  kubectl -n "$ns" get pods -l "job-name=$name" \
    -o jsonpath='{range .items[*]}  shard {.metadata.annotations.batch\.kubernetes\.io/job-completion-index}: {.status.containerStatuses[0].state.terminated.message}{"\n"}{end}'
}

echo "== Syncing: presync pass 1 as an Indexed Job of 2 shards (sha256 of every blob checked)"
copy_job presync-1 --source "$old" --destination "$new" --verify-content
echo "== Syncing: presync pass 2 (nothing changed: a no-op)"
copy_job presync-2 --source "$old" --destination "$new"
echo "== users push 25 new blobs; FinalSync: the delta pass"
/usr/bin/python3 tests/e2e/copy/gen_store.py "$work/store2" 25 --seed 7 --no-extras >/dev/null
export QSO_DESTINATION_AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID
export QSO_DESTINATION_AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
run copy --source "$work/store2" --destination "$old" --termination-log "$work/term"
export QSO_DESTINATION_AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID2
export QSO_DESTINATION_AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY2
copy_job final-sync --source "$old" --destination "$new"
echo "== Verifying: full listing comparison and 20 blobs re-hashed"
run verify --source "$old" --destination "$new" --sample 20 --termination-log "$work/term"
summary
kubectl -n "$ns" get jobs

# A ReadOnlyWindow, end to end: a QuayRegistry (the simulator's Quay Operator
# stand-in) on a real PostgreSQL holding Quay's service-key tables, the
# operator's `run` process, a window that registers a service key with a psql
# Job, rolls the read-only configuration out, and — deleted — rolls it back.
# A subshell: tests/e2e/readonlywindow/lib.sh has its own state and cleanup.
(
  build=$root/build
  src=$root
  # shellcheck disable=SC1091
  . tests/e2e/readonlywindow/lib.sh
  trap rw_cleanup EXIT
  echo "== ReadOnlyWindow: PostgreSQL with Quay's service-key tables, a QuayRegistry, the operator"
  rw_start_pg
  rw_start_sim
  rw_make_registry registry demo
  rw_operator demo
  echo "   registry/demo runs the $(rw_mode registry demo) configuration"
  kubectl apply -f - <<'RW'
apiVersion: quaystorage.io/v1alpha1
kind: ReadOnlyWindow
metadata: {name: backup-window, namespace: registry}
spec:
  target: {type: QuayRegistry, quayRegistry: {name: demo}}
  mode: ReadOnly
  durationSeconds: 3600
  reason: "nightly backup"
RW
  rw_wait 120 rw_phase_is registry backup-window Active || rw_fail "the window never became Active"
  kubectl get readonlywindows -n registry
  echo "   registry/demo runs the $(rw_mode registry demo) configuration; service key" \
    "$(rw_status registry backup-window '{.status.serviceKeyID}') is" \
    "$(rw_key_state "$(rw_status registry backup-window '{.status.serviceKeyID}')") in Quay's database"
  kubectl describe readonlywindow -n registry backup-window | sed -n '/^Status:/,$p'
  echo "== ending the window early (kubectl delete): its overlay is withdrawn and rolled back"
  kid=$(rw_status registry backup-window '{.status.serviceKeyID}')
  kubectl delete readonlywindow -n registry backup-window --wait=false >/dev/null
  rw_wait 120 rw_gone registry backup-window || rw_fail "the window was never released"
  echo "   registry/demo runs the $(rw_mode registry demo) configuration again;" \
    "spec.configBundleSecret: $(kubectl get quayregistry -n registry demo -o jsonpath='{.spec.configBundleSecret}');" \
    "service key $kid is $(rw_key_state "$kid")"
  [ "$(rw_mode registry demo)" = normal ] || rw_fail "the registry did not return to normal"
)
echo "== done: a migration's data path ran as Jobs on the simulator, and a ReadOnlyWindow went on and off (the StorageMigration reconciler is not built yet)"
