#!/usr/bin/env bash
# ReadOnlyWindow restart safety with the real process: `quay-storage-operator
# run` is killed with SIGKILL at three moments and restarted each time, on a
# QuayRegistry (the simulator's Quay Operator stand-in) whose service keys go
# into a real PostgreSQL:
#   1. during activation, while the window's service key is being registered
#      (its kid is in the status, its Job exists, no overlay yet);
#   2. during activation, after the registry was pointed at the read-only
#      bundle and before the rollout was confirmed;
#   3. during deactivation, after the window was deleted and before its
#      change was withdrawn and confirmed.
# Each restart must finish the job: Active with exactly one live key (the
# one in the status; any key of an interrupted registration expired), then,
# after the deletion, the window gone, the registry read-write with its spec
# as before the window, no rendered Secret left, and every key of the window
# expired in the database. Real clock; windows start now.
# Args: <build dir> <source dir>.
set -euo pipefail
build=${1:?build dir}
src=${2:?source dir}
command -v kubectl >/dev/null || { echo "SKIP: kubectl not installed"; exit 0; }
[ -x /usr/bin/psql ] || { echo "SKIP: psql not installed"; exit 0; }
. "$src/tests/e2e/readonlywindow/lib.sh"
trap rw_cleanup EXIT
for b in "$sim" "$bin"; do [ -x "$b" ] || rw_fail "$b is not built"; done

ns=kill
rw_start_pg
rw_start_sim
rw_make_registry "$ns" reg
spec_before=$(kubectl get quayregistry -n "$ns" reg -o json | python3 -c \
  'import json,sys; print(json.dumps(json.load(sys.stdin)["spec"], sort_keys=True))')

kill9() { # kill9 LABEL: SIGKILL the operator and reap it
  kill -KILL "$op" 2>/dev/null || rw_fail "the operator was not running at $1"
  wait "$op" 2>/dev/null || true
  echo "killed the operator: $1"
}

# The window's keys in the database ("name" carries the window's name).
keys_of_window() {
  rw_sql "SELECT kid || ' ' || CASE WHEN approval_id IS NOT NULL AND (expiration_date IS NULL
          OR expiration_date > (now() AT TIME ZONE 'UTC')) THEN 'alive' ELSE 'dead' END
          FROM servicekey WHERE name LIKE '%$ns/ro' ORDER BY id"
}

rw_operator 1
kubectl apply -f - >/dev/null <<EOF || rw_fail "cannot create the window"
apiVersion: quaystorage.io/v1alpha1
kind: ReadOnlyWindow
metadata: {name: ro, namespace: $ns}
spec:
  target: {type: QuayRegistry, quayRegistry: {name: reg}}
  mode: ReadOnly
  activationTimeoutSeconds: 600
  reason: backup
EOF

# 1. Killed while the key registers.
rw_wait 60 bash -c "[ -n \"\$(kubectl get readonlywindow -n $ns ro -o jsonpath='{.status.serviceKeyID}')\" ]" ||
  rw_fail "no service key was made"
kid1=$(rw_status "$ns" ro '{.status.serviceKeyID}')
kill9 "key $kid1 generated, registration under way"

# 2. Killed after the registry was pointed at the read-only bundle. Rollouts
# take 4 s from here, so the kills land before their confirmation.
rw_admin POST /__admin/workloads '{"deployments":{"rolloutDelayMs":4000}}' >/dev/null
rw_operator 2
rw_wait 90 bash -c "kubectl get quayregistry -n $ns reg -o jsonpath='{.spec.configBundleSecret}' | grep -q -- '-qso-'" ||
  rw_fail "the registry was never pointed at a rendered bundle"
phase=$(rw_status "$ns" ro '{.status.phase}')
kill9 "registry pointed at $(kubectl get quayregistry -n "$ns" reg -o jsonpath='{.spec.configBundleSecret}'), window $phase"

rw_operator 3
rw_wait 90 rw_phase_is "$ns" ro Active || rw_fail "the window never became Active after the restarts"
[ "$(rw_mode "$ns" reg)" = readonly ] || rw_fail "Active, but the registry does not run read-only"
kid=$(rw_status "$ns" ro '{.status.serviceKeyID}')
[ "$(rw_key_state "$kid")" = alive ] || rw_fail "the window's key $kid is not alive in the database"
keys=$(keys_of_window)
alive=$(grep -c ' alive$' <<<"$keys" || true)
[ "$alive" = 1 ] || rw_fail "expected exactly one live key of the window, got: $keys"
if [ "$kid1" != "$kid" ]; then
  [ "$(rw_key_state "$kid1")" != alive ] || rw_fail "the interrupted key $kid1 is still alive"
  echo "the interrupted key $kid1 was replaced by $kid"
fi

# 3. Killed during deactivation.
kubectl delete readonlywindow -n "$ns" ro --wait=false >/dev/null
rw_wait 30 bash -c "kubectl get quayregistry -n $ns reg -o jsonpath='{.spec.configBundleSecret}' | grep -qx reg-bundle" ||
  rw_fail "the registry was never pointed back at its bundle"
kill9 "window deleted, registry pointed back, rollout not yet confirmed"
rw_wait 5 rw_gone "$ns" ro && rw_fail "the window went before its withdrawal was confirmed"
rw_operator 4
rw_wait 90 rw_gone "$ns" ro || rw_fail "the deleted window was never released"
[ "$(rw_mode "$ns" reg)" = normal ] || rw_fail "the registry is not read-write after the window"
spec_after=$(kubectl get quayregistry -n "$ns" reg -o json | python3 -c \
  'import json,sys; print(json.dumps(json.load(sys.stdin)["spec"], sort_keys=True))')
[ "$spec_after" = "$spec_before" ] || rw_fail "the QuayRegistry spec differs from before the window"
rendered=$(kubectl get secrets -n "$ns" -l quaystorage.io/role=rendered -o name)
[ -z "$rendered" ] || rw_fail "rendered Secrets left: $rendered"
keys=$(keys_of_window)
if grep -q ' alive$' <<<"$keys"; then rw_fail "a key of the window is still alive: $keys"; fi
jobs=$(kubectl get jobs -n "$ns" -o name)
[ -z "$jobs" ] || rw_fail "service-key Jobs left: $jobs"
kill -TERM "$op"
wait "$op" || rw_fail "the operator did not stop cleanly on SIGTERM"
echo "PASS: killed during activation (twice) and deactivation; each restart finished the window" \
  "($(wc -l <<<"$keys") key(s) made, all expired)"
