#!/usr/bin/env bash
# Leader election between real `quay-storage-operator run` processes against
# the API simulator, each process with its own user (token) so the
# simulator's request record tells them apart:
#  1. two processes, one leader; both answer /healthz, /readyz (the standby
#     is ready as a standby) and /metrics (leader gauge 1 and 0);
#  2. SIGTERM on the leader: it exits 0 after releasing the Lease, and the
#     standby takes over at its next round (no lease-duration wait);
#  3. kill -9 of the leader: a standby takes over within
#     leaseDuration + retryPeriod (15 s + 2 s) of the kill;
#  4. the leader frozen with SIGSTOP for 20 s: the standby takes over, and
#     the old leader, resumed, makes no write after that takeover and exits 1.
# Args: <build dir> <source dir>.
set -euo pipefail
build=${1:?build dir}
bin="$build/quay-storage-operator"
sim="$build/tests/kubesim/kubesim"
[ -x "$bin" ] || { echo "FAIL: $bin not built"; exit 1; }
[ -x "$sim" ] || { echo "SKIP: the API simulator is not built"; exit 0; }

work=$(mktemp -d "${TMPDIR:-/tmp}/run-leader-XXXXXX")
state="$work/sim"
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do
    kill -CONT "$p" 2>/dev/null || true
    kill -9 "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  if [ -n "${KEEP:-}" ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  local f
  for f in "$work"/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -15 "$f" >&2; }; done
  exit 1
}
now_ms() { date +%s%3N; }

"$sim" --state-dir "$state" --exit-after 300 >"$work/kubesim.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do [ -f "$state/ready" ] && break; sleep 0.1; done
[ -f "$state/ready" ] || fail "kubesim did not start"
api="https://127.0.0.1:$(cat "$state/ready")"

# Tokens live in files only (never on a command line): the admin's header
# file for curl, and one kubeconfig per operator user.
python3 - "$state" "$work" <<'EOF'
import json, os, secrets, sys
state, work = sys.argv[1], sys.argv[2]
kc = open(os.path.join(state, "kubeconfig")).read()
admin = next(l.split("token:", 1)[1].strip() for l in kc.splitlines() if "token:" in l)
def private(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, text.encode()); os.close(fd)
private(os.path.join(work, "admin.hdr"), "Authorization: Bearer %s\n" % admin)
for user in ("op-a", "op-b", "op-c", "op-d"):
    tok = secrets.token_hex(16)
    private(os.path.join(work, user + ".token.json"),
            json.dumps({"token": tok, "user": user, "groups": ["system:masters"]}))
    private(os.path.join(work, user + ".kubeconfig"), kc.replace(admin, tok))
EOF

# Admin calls over HTTP/1.1 (independent of the client under test).
admin() { # admin METHOD PATH [BODY-FILE]
  local args=(-sS --http1.1 --cacert "$state/ca.crt" -H @"$work/admin.hdr" -X "$1")
  [ $# -ge 3 ] && args+=(-H "Content-Type: application/json" --data-binary @"$3")
  curl "${args[@]}" "$api$2"
}
for u in op-a op-b op-c op-d; do
  admin POST /__admin/tokens "$work/$u.token.json" >/dev/null || fail "cannot add token for $u"
done

lease_path=/apis/coordination.k8s.io/v1/namespaces/default/leases/quay-storage-operator-leader
holder() {
  admin GET "$lease_path" | python3 -c '
import json, sys
try:
    d = json.load(sys.stdin)
    print(d.get("spec", {}).get("holderIdentity", "") if d.get("kind") == "Lease" else "")
except Exception:
    print("")'
}

declare -A pid_of
start_op() { # start_op USER
  local u=$1
  POD_NAME="$u" "$bin" run --kubeconfig "$work/$u.kubeconfig" --lease-namespace default \
    --health-addr 127.0.0.1:0 --metrics-addr 127.0.0.1:0 >"$work/$u.log" 2>&1 &
  pid_of[$u]=$!
  pids+=($!)
}
port_of() { # the probe/metrics port a process logged
  { grep -o '"serving health probes and metrics","addr":"127.0.0.1:[0-9]*"' "$work/$1.log" || true; } |
    head -1 | { grep -o '[0-9]*"$' || true; } | tr -d '"'
}
wait_port() {
  local p=""
  for _ in $(seq 1 100); do p=$(port_of "$1"); [ -n "$p" ] && break; sleep 0.1; done
  [ -n "$p" ] || fail "$1 did not start its probe server"
}
get() { curl -sS --max-time 5 "http://127.0.0.1:$(port_of "$1")$2"; }
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$(port_of "$1")$2"; }
# wait_holder PREFIX SECONDS: until the Lease holder starts with PREFIX_.
wait_holder() {
  local deadline=$(($(now_ms) + $2 * 1000)) h
  while [ "$(now_ms)" -lt "$deadline" ]; do
    h=$(holder)
    case "$h" in "$1"_*) return 0 ;; esac
    sleep 0.1
  done
  fail "holder is \"$(holder)\", expected $1_*"
}
wait_standby() {
  for _ in $(seq 1 100); do
    get "$1" /readyz 2>/dev/null | grep -q '\[+\]leader election: standby' && return 0
    sleep 0.1
  done
  fail "$1 is not a ready standby: $(get "$1" /readyz 2>&1)"
}
# wait_exit USER SECONDS: until the process exits; its status in $st (not in
# a subshell: only this shell can wait for its children).
wait_exit() {
  local p=${pid_of[$1]}
  for _ in $(seq 1 $(($2 * 10))); do
    kill -0 "$p" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$p" 2>/dev/null && fail "$1 did not exit"
  st=0
  wait "$p" || st=$?
}

# ---- 1. two processes, one leader ------------------------------------------
start_op op-a
wait_holder op-a 15
wait_port op-a
start_op op-b
wait_port op-b
wait_standby op-b
[ "$(code op-a /healthz)" = 200 ] || fail "op-a /healthz"
[ "$(code op-b /healthz)" = 200 ] || fail "op-b /healthz"
get op-a /readyz | grep -q '\[+\]leader election: leading' || fail "op-a /readyz: $(get op-a /readyz)"
[ "$(code op-b /readyz)" = 200 ] || fail "op-b standby not ready"
get op-a /metrics | grep -q '^leader_election_master_status{name="quay-storage-operator-leader"} 1$' ||
  fail "op-a leader gauge"
get op-b /metrics | grep -q '^leader_election_master_status{name="quay-storage-operator-leader"} 0$' ||
  fail "op-b leader gauge"
get op-a /metrics | grep -q '^# TYPE workqueue_depth gauge$' || fail "op-a metrics text"
curl -sS -D "$work/h" -o /dev/null "http://127.0.0.1:$(port_of op-a)/metrics"
grep -qi '^content-type: text/plain; version=0.0.4' "$work/h" || fail "metrics content type"
[ "$(code op-a /nope)" = 404 ] || fail "unknown path not 404"
sleep 3 # a few more rounds: still one leader
case "$(holder)" in op-a_*) ;; *) fail "leader changed without cause: $(holder)" ;; esac
grep -q '"became leader"' "$work/op-b.log" && fail "op-b became leader while op-a led"
echo "1. one leader of two, probes and metrics: ok"

# ---- 2. SIGTERM: release and immediate takeover ------------------------------
t0=$(now_ms)
kill -TERM "${pid_of[op-a]}"
wait_exit op-a 20
[ "$st" = 0 ] || fail "op-a exited $st after SIGTERM, want 0"
grep -q '"released the leader election lease"' "$work/op-a.log" || fail "op-a did not release"
wait_holder op-b 6
echo "2. SIGTERM: op-a released, op-b took over in $(($(now_ms) - t0)) ms: ok"

# ---- 3. kill -9: takeover within leaseDuration + retryPeriod ------------------
start_op op-c
wait_port op-c
wait_standby op-c
kill -9 "${pid_of[op-b]}"
k=$(now_ms)
{ wait "${pid_of[op-b]}" || true; } 2>/dev/null
wait_holder op-c 30
took=$(($(now_ms) - k))
# Upper bound 15 s + 2 s plus polling and sanitizer slack; the lower bound
# proves the lease of a live-looking leader was respected.
[ "$took" -le 20000 ] || fail "takeover after kill -9 took $took ms (> 17 s + slack)"
[ "$took" -ge 10000 ] || fail "takeover after kill -9 took only $took ms: the lease was not respected"
echo "3. kill -9: op-c took over $took ms after the kill: ok"

# ---- 4. SIGSTOP for 20 s: no write after losing the lease ------------------------
start_op op-d
wait_port op-d
wait_standby op-d
admin DELETE /__admin/requests >/dev/null
s=$(now_ms)
kill -STOP "${pid_of[op-c]}"
wait_holder op-d 30
took=$(($(now_ms) - s))
left=$((20000 - took))
[ "$left" -gt 0 ] && sleep "$(printf '%d.%03d' $((left / 1000)) $((left % 1000)))"
kill -CONT "${pid_of[op-c]}"
wait_exit op-c 15
[ "$st" = 1 ] || fail "op-c exited $st after losing the lease, want 1"
grep -q '"stopped leading"' "$work/op-c.log" || fail "op-c did not log the loss"
admin GET /__admin/requests >"$work/record.json"
python3 - "$work/record.json" <<'EOF' || fail "old leader wrote after the takeover"
import json, sys
items = json.load(open(sys.argv[1]))["items"]
def is_write(it):
    return it.get("method") not in ("GET", "HEAD")
takeover = next((i for i, it in enumerate(items)
                 if it.get("user") == "op-d" and it.get("resource") == "leases"
                 and is_write(it) and 200 <= it.get("code", 0) < 300), None)
if takeover is None:
    print("no successful lease write by op-d in the record"); sys.exit(1)
after = [it for it in items[takeover + 1:] if it.get("user") == "op-c"]
writes = [it for it in after if is_write(it)]
print("requests by op-c after op-d's takeover: %d (writes: %d)" % (len(after), len(writes)))
for it in writes:
    print("  write:", it.get("method"), it.get("path"), it.get("code"))
sys.exit(1 if writes else 0)
EOF
case "$(holder)" in op-d_*) ;; *) fail "lease holder after the freeze: $(holder)" ;; esac
echo "4. SIGSTOP 20 s: op-d took over after $took ms; op-c wrote nothing after, exited 1: ok"

kill -TERM "${pid_of[op-d]}"
wait_exit op-d 20
[ "$st" = 0 ] || fail "op-d exited $st after SIGTERM"
echo "run leader election: ok"
