#!/usr/bin/env bash
# What a person sees: `kubectl get readonlywindows` (printer columns Mode,
# Phase, Start, End) and `kubectl describe readonlywindow` for a window that
# is Active (ReadOnly, its service key registered), one Scheduled for later
# and one whose end passed before it could start (Missed) — each must say
# what happened and what comes next, in conditions and Events, with no
# secret in sight. The operator runs as its ServiceAccount with exactly
# deploy/rbac.yaml's rights under the simulator's RBAC: the test also fails
# when any of its requests was refused, and prints the rights it used.
# Args: <build dir> <source dir>.
set -euo pipefail
build=${1:?build dir}
src=${2:?source dir}
command -v kubectl >/dev/null || { echo "SKIP: kubectl not installed"; exit 0; }
[ -x /usr/bin/psql ] || { echo "SKIP: psql not installed"; exit 0; }
. "$src/tests/e2e/readonlywindow/lib.sh"
trap rw_cleanup EXIT
for b in "$sim" "$bin"; do [ -x "$b" ] || rw_fail "$b is not built"; done

ns=registry
user="system:serviceaccount:quay-storage-operator:quay-storage-operator"
rw_start_pg
rw_start_sim --rbac
rw_operator_sa_kubeconfig
rw_make_registry "$ns" quay
rw_admin DELETE /__admin/requests >/dev/null || rw_fail "cannot clear the request record"
rw_operator sa "$work/operator.kubeconfig"

ts() { date -u -d "$1" +%Y-%m-%dT%H:%M:%SZ; }
cat >"$work/windows.yaml" <<WINDOWS
apiVersion: quaystorage.io/v1alpha1
kind: ReadOnlyWindow
metadata: {name: backup, namespace: $ns}
spec:
  target: {type: QuayRegistry, quayRegistry: {name: quay}}
  mode: ReadOnly
  endTime: $(ts '+2 hours')
  reason: nightly backup
---
apiVersion: quaystorage.io/v1alpha1
kind: ReadOnlyWindow
metadata: {name: upgrade, namespace: $ns}
spec:
  target: {type: QuayRegistry, quayRegistry: {name: quay}}
  mode: ScaleDown
  startTime: $(ts '+3 hours')
  durationSeconds: 1800
  reason: y-stream upgrade
---
apiVersion: quaystorage.io/v1alpha1
kind: ReadOnlyWindow
metadata: {name: forgotten, namespace: $ns}
spec:
  target: {type: QuayRegistry, quayRegistry: {name: quay}}
  mode: DisablePushes
  startTime: $(ts '-2 hours')
  endTime: $(ts '-1 hour')
WINDOWS
kubectl apply -f "$work/windows.yaml" >/dev/null || rw_fail "cannot create the windows"
rw_wait 90 rw_phase_is "$ns" backup Active || rw_fail "backup never became Active"
rw_wait 30 rw_phase_is "$ns" upgrade Scheduled || rw_fail "upgrade is not Scheduled"
rw_wait 30 rw_phase_is "$ns" forgotten Ended || rw_fail "forgotten is not Ended"
sleep 1 # the last Events

need() { # need FILE TEXT...: each TEXT appears in FILE
  local f=$1
  shift
  for t in "$@"; do
    grep -qF -- "$t" "$f" || { cat "$f" >&2; rw_fail "$(basename "$f") lacks: $t"; }
  done
}

kubectl get readonlywindows -n "$ns" >"$work/get.txt"
cat "$work/get.txt"
need "$work/get.txt" "ReadOnly" "Active" "Scheduled" "ScaleDown" "Ended"
head -1 "$work/get.txt" | grep -qE '^NAME +MODE +PHASE +START +END +AGE *$' ||
  rw_fail "unexpected columns: $(head -1 "$work/get.txt")"
kubectl get readonlywindows -n "$ns" -o wide >"$work/wide.txt"
need "$work/wide.txt" "EFFECTIVE" "TARGET" "REGISTRY" "QuayRegistry"

kubectl describe readonlywindow -n "$ns" backup >"$work/backup.txt"
echo "--- kubectl describe readonlywindow backup"
cat "$work/backup.txt"
need "$work/backup.txt" "Phase:" "Active" "Effective Mode:" "Service Key ID:" \
  "Read Only Mechanism:" "ConfigBundle" \
  "QuayRegistry registry/quay is in mode ReadOnly since" "ends at" \
  "ServiceKeyRegistered" "Activated" "(window reason: nightly backup)"
# Which key, never the key itself.
if grep -qiE 'PRIVATE KEY|password|BEGIN ' "$work/backup.txt"; then
  rw_fail "describe shows secret material"
fi
kubectl describe readonlywindow -n "$ns" upgrade >"$work/upgrade.txt"
echo "--- kubectl describe readonlywindow upgrade"
cat "$work/upgrade.txt"
need "$work/upgrade.txt" "Scheduled: activates at $(rw_status "$ns" upgrade '{.status.startTime}')" \
  "ScaleDown on QuayRegistry registry/quay" "ends at"
kubectl describe readonlywindow -n "$ns" forgotten >"$work/forgotten.txt"
echo "--- kubectl describe readonlywindow forgotten"
cat "$work/forgotten.txt"
need "$work/forgotten.txt" "Ended" "Missed" "Never activated"

# Ending the active window: the registry is read-write again, the key expired.
kid=$(rw_status "$ns" backup '{.status.serviceKeyID}')
kubectl delete readonlywindow -n "$ns" backup --timeout=90s >/dev/null || rw_fail "backup did not go"
[ "$(rw_mode "$ns" quay)" = normal ] || rw_fail "the registry is not read-write after the window"
[ "$(rw_key_state "$kid")" = dead ] || rw_fail "key $kid was not expired"
kill -TERM "$op"
wait "$op" || rw_fail "the operator did not stop cleanly"

rw_admin GET /__admin/requests >"$work/record.json" || rw_fail "cannot read the request record"
python3 - "$work/record.json" "$user" <<'PY' || rw_fail "the operator was refused a request; see above"
import json, sys
items = [it for it in json.load(open(sys.argv[1]))["items"] if it.get("user") == sys.argv[2]]
def res(it):
    r = it.get("resource", "")
    return r + "/" + it["subresource"] if it.get("subresource") else r
used = sorted({(it.get("verb", ""), it.get("group", ""), res(it)) for it in items if it.get("resource")})
print("rights used by the operator (verb, group, resource):")
for v, g, r in used:
    print("  %-8s %-18s %s" % (v, g or '""', r))
denied = [it for it in items if it.get("code") == 403]
for it in denied:
    print("REFUSED: %s %s %s" % (it.get("verb"), it.get("method"), it.get("path")))
need = {("patch", "quaystorage.io", "readonlywindows"),
        ("update", "quaystorage.io", "readonlywindows/status"),
        ("create", "", "configmaps"), ("create", "batch", "jobs"),
        ("patch", "quay.redhat.com", "quayregistries")}
missing = need - set(used)
if missing:
    print("expected requests missing: %s" % sorted(missing))
sys.exit(1 if denied or missing else 0)
PY
echo "PASS: get/describe tell the story of Active, Scheduled and Missed windows; no request refused"
