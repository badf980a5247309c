# Shared helpers of the ReadOnlyWindow scenario scripts
# (tests/scripts/test_readonlywindow_*.sh): a throw-away PostgreSQL with
# Quay's service-key tables, the API simulator with the Quay Operator
# stand-in, Deployment and Job controllers and kubelet (the Quay image
# mapped to /usr/bin/psql, so service-key Jobs really run), a QuayRegistry
# whose bundle points at that database, and the real `quay-storage-operator
# run` process. Sourced, not run; the caller sets $build and $src first and
# calls rw_cleanup from its EXIT trap.
#
# Secrets: the database password and the simulator's admin token live only
# in mode-0600 files under $work (header files for curl, a kubeconfig); they
# never reach a command line.

rw_pids=()
work=$(mktemp -d "${TMPDIR:-/tmp}/rw-e2e-XXXXXX")
chmod 700 "$work"
state="$work/sim"
sim="$build/tests/kubesim/kubesim"
bin="$build/quay-storage-operator"

rw_cleanup() {
  for p in "${rw_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${rw_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  [ -f "$work/pg/env" ] && bash "$src/tests/support/postgres/stop.sh" "$work/pg" >/dev/null 2>&1
  [ -n "${KEEP:-}" ] || rm -rf "$work"
}

rw_fail() {
  echo "FAIL: $*" >&2
  for f in "$work"/op*.log; do
    [ -f "$f" ] && { echo "--- $(basename "$f") (tail)" >&2; grep -v '"level":"debug"' "$f" | tail -15 >&2; }
  done
  [ -f "$work/kubesim.log" ] && { echo "--- kubesim.log (tail)" >&2; tail -5 "$work/kubesim.log" >&2; }
  exit 1
}

# rw_wait SECONDS CMD...: polls CMD every 0.2 s.
rw_wait() {
  local until=$((SECONDS + $1))
  shift
  until "$@"; do
    [ $SECONDS -lt $until ] || return 1
    sleep 0.2
  done
}

# PostgreSQL on 127.0.0.1 with Quay's servicekey tables; $db_uri for bundles.
rw_start_pg() {
  bash "$src/tests/support/postgres/start.sh" "$work/pg" --parent-pid $$ --max-seconds 600 \
    >"$work/pg-start.log" 2>&1 || rw_fail "PostgreSQL did not start: $(tail -3 "$work/pg-start.log")"
  # shellcheck disable=SC1091
  . "$work/pg/env"
  PGSERVICEFILE=$PG_SERVICEFILE /usr/bin/psql -X -q -w -v ON_ERROR_STOP=1 -d service=qso-quay \
    -f "$src/tests/fixtures/quay-db/servicekey.sql" >/dev/null || rw_fail "cannot create the tables"
  local pw
  pw=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' \
    "$PG_PASSWORD")
  db_uri="postgresql://$PG_USER:$pw@127.0.0.1:$PG_PORT/$PG_DATABASE"
}

# rw_sql QUERY: one value from the Quay database.
rw_sql() {
  PGSERVICEFILE=$PG_SERVICEFILE /usr/bin/psql -X -q -w -At -d service=qso-quay -c "$1"
}

# "alive", "dead" or "" for a kid.
rw_key_state() {
  rw_sql "SELECT CASE WHEN approval_id IS NOT NULL AND (expiration_date IS NULL OR
          expiration_date > (now() AT TIME ZONE 'UTC')) THEN 'alive' ELSE 'dead' END
          FROM servicekey WHERE kid = '$1'"
}

# rw_start_sim [kubesim flags...]: the simulator with the QuayRegistry CRD and ours.
rw_start_sim() {
  mkdir -p "$work/crds"
  cp "$src/crds/readonlywindows.quaystorage.io.yaml" "$work/crds/"
  "$sim" --state-dir "$state" --port 0 --exit-after 600 "$@" \
    --fixtures "$src/tests/fixtures/crds" --fixtures "$work/crds" >"$work/kubesim.log" 2>&1 &
  rw_pids+=($!)
  for _ in $(seq 1 100); do [ -f "$state/ready" ] && break; sleep 0.1; done
  [ -f "$state/ready" ] || rw_fail "kubesim did not start"
  api="https://127.0.0.1:$(cat "$state/ready")"
  export KUBECONFIG="$state/kubeconfig" KUBECACHEDIR="$work/cache" HOME="$work"
  python3 - "$state" "$work" <<'EOF' || rw_fail "cannot read the admin token"
import os, sys
state, work = sys.argv[1], sys.argv[2]
kc = open(os.path.join(state, "kubeconfig")).read()
admin = next(l.split("token:", 1)[1].strip() for l in kc.splitlines() if "token:" in l)
fd = os.open(os.path.join(work, "admin.hdr"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
os.write(fd, ("Authorization: Bearer %s\n" % admin).encode())
os.close(fd)
EOF
  rw_admin POST /__admin/workloads '{"images":{"quay.io/projectquay/quay:*":"/usr/bin/psql"},
    "quayOperator":{"enabled":true,"requeueSeconds":2,"retrySeconds":1,"statusIntervalMs":300,
    "supportsRoutes":true},"deployments":{"enabled":true,"rolloutDelayMs":300},
    "jobs":{"enabled":true},"kubelet":{"enabled":true}}' >/dev/null ||
    rw_fail "cannot configure the simulator's workloads"
}

# rw_admin METHOD PATH [BODY]
rw_admin() {
  curl -sS --fail --http1.1 --cacert "$state/ca.crt" -H @"$work/admin.hdr" \
    -H 'Content-Type: application/json' -X "$1" ${3:+--data "$3"} "$api$2"
}

# rw_make_registry NS REG: a QuayRegistry on the test database, rolled out.
rw_make_registry() {
  local ns=$1 reg=$2
  kubectl get namespace "$ns" >/dev/null 2>&1 ||
    kubectl apply -f - >/dev/null <<EOF || rw_fail "cannot create namespace $ns"
{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "$ns"}}
EOF
  (umask 077 && cat >"$work/bundle-$reg.yaml" <<EOF
apiVersion: v1
kind: Secret
metadata: {name: $reg-bundle, namespace: $ns}
stringData:
  config.yaml: |
    SERVER_HOSTNAME: quay.example.com
    DB_URI: $db_uri
    DISTRIBUTED_STORAGE_CONFIG:
      default:
      - S3Storage
      - host: s3.example.com
        s3_bucket: quay
        s3_access_key: AKIATEST
        s3_secret_key: test-secret
        storage_path: /datastorage/registry
    DISTRIBUTED_STORAGE_DEFAULT_LOCATIONS: []
    DISTRIBUTED_STORAGE_PREFERENCE:
    - default
---
apiVersion: quay.redhat.com/v1
kind: QuayRegistry
metadata: {name: $reg, namespace: $ns}
spec:
  configBundleSecret: $reg-bundle
  components:
  - {kind: postgres, managed: false}
  - {kind: objectstorage, managed: false}
EOF
  )
  kubectl apply -f "$work/bundle-$reg.yaml" >/dev/null || rw_fail "cannot create registry $reg"
  rw_wait 60 rw_registry_ready "$ns" "$reg" || rw_fail "registry $ns/$reg never rolled out"
}

rw_registry_ready() {
  [ "$(kubectl get quayregistry -n "$1" "$2" -o jsonpath='{.status.currentVersion}' 2>/dev/null)" \
    = "3.13.3" ] && [ "$(rw_mode "$1" "$2")" = normal ]
}

# The mode of the configuration quay-app mounts: normal, readonly, pushes-off
# (or none). Reads the Quay Operator's rendered Secret, prints no value of it.
rw_mode() {
  kubectl get deployment -n "$1" "$2-quay-app" -o json 2>/dev/null >"$work/dep.json" || {
    echo none
    return
  }
  local secret
  secret=$(python3 - "$work/dep.json" "$2" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
prefix = sys.argv[2] + "-quay-config-secret"
for v in d["spec"]["template"]["spec"].get("volumes", []):
    n = (v.get("secret") or {}).get("secretName", "")
    if n.startswith(prefix):
        print(n); break
    for s in (v.get("projected") or {}).get("sources", []):
        n = (s.get("secret") or {}).get("name", "")
        if n.startswith(prefix):
            print(n); sys.exit(0)
EOF
  )
  [ -n "$secret" ] || { echo none; return; }
  kubectl get secret -n "$1" "$secret" -o json 2>/dev/null | /usr/bin/python3 -c '
import base64, json, sys, yaml
d = json.load(sys.stdin).get("data", {})
c = yaml.safe_load(base64.b64decode(d.get("config.yaml", "")) or b"{}") or {}
print("readonly" if c.get("REGISTRY_STATE") == "readonly" else
      "pushes-off" if c.get("DISABLE_PUSHES") is True else "normal")' 2>/dev/null || echo none
}

# rw_replicas NS REG: spec.replicas of quay-app.
rw_replicas() {
  kubectl get deployment -n "$1" "$2-quay-app" -o jsonpath='{.spec.replicas}' 2>/dev/null
}

# rw_status NS WINDOW JSONPATH
rw_status() {
  kubectl get readonlywindow -n "$1" "$2" -o jsonpath="$3" 2>/dev/null
}

rw_phase_is() { [ "$(rw_status "$1" "$2" '{.status.phase}')" = "$3" ]; }
rw_gone() { ! kubectl get readonlywindow -n "$1" "$2" >/dev/null 2>&1; }

# rw_operator NAME [KUBECONFIG]: starts `quay-storage-operator run`; pid in $op.
rw_operator() {
  "$bin" run --kubeconfig "${2:-$KUBECONFIG}" --leader-elect=false --health-addr "" \
    --metrics-addr "" >>"$work/op-$1.log" 2>&1 &
  op=$!
  rw_pids+=("$op")
}

# rw_operator_sa_kubeconfig: installs deploy/'s namespace, ServiceAccount and
# RBAC (the simulator must run with --rbac) and writes
# $work/operator.kubeconfig with a TokenRequest token of the operator's
# ServiceAccount, so the operator runs with exactly the rights deploy/ grants.
rw_operator_sa_kubeconfig() {
  kubectl apply -f "$src/deploy/namespace.yaml" -f "$src/deploy/serviceaccount.yaml" \
    -f "$src/deploy/rbac.yaml" >/dev/null || rw_fail "cannot install deploy/'s RBAC"
  cat >"$work/tokenrequest.json" <<'JSON'
{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{"expirationSeconds":3600}}
JSON
  (umask 077 && kubectl create --raw \
    "/api/v1/namespaces/quay-storage-operator/serviceaccounts/quay-storage-operator/token" \
    -f "$work/tokenrequest.json" >"$work/tokenresponse.json" 2>"$work/tokenrequest.err") ||
    rw_fail "TokenRequest refused: $(cat "$work/tokenrequest.err")"
  python3 - "$state" "$work" <<'PY' || rw_fail "cannot write the operator's kubeconfig"
import json, os, sys
state, work = sys.argv[1], sys.argv[2]
kc = open(os.path.join(state, "kubeconfig")).read()
admin = next(l.split("token:", 1)[1].strip() for l in kc.splitlines() if "token:" in l)
tok = json.load(open(os.path.join(work, "tokenresponse.json")))["status"]["token"]
if not tok or tok == admin:
    sys.exit("no usable token in the TokenRequest response")
fd = os.open(os.path.join(work, "operator.kubeconfig"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
os.write(fd, kc.replace(admin, tok).encode())
os.close(fd)
PY
  rm -f "$work/tokenresponse.json"
}
