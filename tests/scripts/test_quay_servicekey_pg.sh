#!/usr/bin/env bash
# The test suite's throw-away PostgreSQL (tests/support/postgres/) works as
# test_quay_servicekey relies on: it starts on 127.0.0.1 only with SCRAM
# password authentication, writes its credentials only to 0600 files (never
# to a command line), holds Quay's servicekey tables from
# tests/fixtures/quay-db/servicekey.sql with the names Quay's migration
# gives them, and goes away completely — by stop.sh, when its parent dies,
# and when its lifetime is over.
#
#   test_quay_servicekey_pg.sh <build-dir> <source-dir>
set -euo pipefail
build=$1 src=$2
support=$src/tests/support/postgres
export PATH=/usr/bin:/bin:/usr/sbin:/sbin
unset PGHOST PGHOSTADDR PGPORT PGDATABASE PGUSER PGPASSWORD PGPASSFILE PGSERVICE \
      PGSERVICEFILE PGSSLMODE PGOPTIONS PGTZ

mkdir -p "$build/tmp"
work=$(mktemp -d "$build/tmp/pg-server.XXXXXX")
cleanup() {
  for d in "$work/s1" "$work/s2" "$work/s3"; do bash "$support/stop.sh" "$d" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT

fails=0 passes=0
ok() { passes=$((passes + 1)); echo "ok - $*"; }
fail() { fails=$((fails + 1)); echo "FAIL - $*"; }
check() { # check <description> <command...>
  local d=$1; shift
  if "$@" >/dev/null 2>&1; then ok "$d"; else fail "$d"; fi
}

# cluster_pids <state>: the postmaster and its children, and the watchdog.
cluster_pids() {
  local st=$1 cluster pm
  cluster=$(cat "$st/run/cluster.path" 2>/dev/null) || return 0
  pm=$(head -n1 "$cluster/data/postmaster.pid" 2>/dev/null || true)
  [ -n "$pm" ] && { echo "$pm"; ps -o pid= --ppid "$pm" 2>/dev/null | tr -d ' '; }
  cat "$st/run/watchdog.pid" 2>/dev/null || true
}
wait_gone() { # wait_gone <seconds> <pids...>
  local limit=$1; shift
  local end=$((SECONDS + limit)) p any
  while :; do
    any=0
    for p in "$@"; do kill -0 "$p" 2>/dev/null && any=1; done
    [ "$any" = 0 ] && return 0
    [ $SECONDS -lt $end ] || return 1
    sleep 0.2
  done
}

st=$work/s1
bash "$support/start.sh" "$st" --parent-pid $$ --max-seconds 600
check "env and pg_service.conf have mode 0600" \
  test "$(stat -c %a "$st/env")$(stat -c %a "$st/pg_service.conf")" = 600600
set -a
# shellcheck disable=SC1091
. "$st/env"
set +a
for v in PG_HOST PG_PORT PG_DATABASE PG_USER PG_PASSWORD PG_SUPERPASSWORD PG_SERVICEFILE PG_BINDIR; do
  check "env defines $v" test -n "${!v:-}"
done
check "the host is 127.0.0.1" test "$PG_HOST" = 127.0.0.1
psql=$PG_BINDIR/psql
q() { PGSERVICEFILE=$PG_SERVICEFILE "$psql" -X -q -w -At -v ON_ERROR_STOP=1 -d "service=$1" -c "$2"; }

check "the quay role connects over TCP with its password" test "$(q qso-quay 'SELECT current_user')" = quay
check "the superuser connects over TCP with its password" test "$(q qso-super 'SELECT rolsuper FROM pg_roles WHERE rolname = current_user')" = t
check "the quay role owns database quay" test "$(q qso-quay "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'quay'")" = quay
check "the server encoding is UTF8" test "$(q qso-quay 'SHOW server_encoding')" = UTF8
bad_svc=$work/bad.conf
sed 's/^password=.*/password=wrong/' "$PG_SERVICEFILE" >"$bad_svc"
out=$(PGSERVICEFILE=$bad_svc "$psql" -X -w -At -d service=qso-quay -c 'SELECT 1' 2>&1 || true)
check "a wrong password is refused (SCRAM)" grep -q 'password authentication failed' <<<"$out"
no_pw=$(PGSERVICEFILE=/dev/null "$psql" -X -w -At -h 127.0.0.1 -p "$PG_PORT" -U quay -d quay -c 'SELECT 1' 2>&1 || true)
check "no password, no entry over TCP" grep -qE 'password|authentication' <<<"$no_pw"

# Listening sockets: 127.0.0.1:<port> and nothing else for that port.
port_hex=$(printf '%04X' "$PG_PORT")
listen=$(awk -v p=":$port_hex" '$4 == "0A" && substr($2, length($2) - 4) == p {print $2}' /proc/net/tcp /proc/net/tcp6)
check "it listens on 127.0.0.1 only (got: $(tr '\n' ' ' <<<"$listen"))" test "$listen" = "0100007F:$port_hex"

# Quay's tables from the fixture, with the migration's names.
PGSERVICEFILE=$PG_SERVICEFILE "$psql" -X -q -w -v ON_ERROR_STOP=1 -d service=qso-quay \
  -f "$src/tests/fixtures/quay-db/servicekey.sql" >/dev/null
idx=$(q qso-quay "SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes WHERE tablename IN ('servicekey', 'servicekeyapproval')")
check "indexes as Quay's migration names them ($idx)" test "$idx" = \
  "pk_servicekey,pk_servicekeyapproval,servicekey_approval_id,servicekey_kid,servicekey_service,servicekeyapproval_approval_type,servicekeyapproval_approver_id"
check "servicekey_kid is unique" test "$(q qso-quay "SELECT indexdef LIKE 'CREATE UNIQUE%' FROM pg_indexes WHERE indexname = 'servicekey_kid'")" = t
cols=$(q qso-quay "SELECT string_agg(column_name || ':' || data_type || ':' || is_nullable, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = 'servicekey'")
check "servicekey columns and types" test "$cols" = \
  "id:integer:NO,name:character varying:NO,kid:character varying:NO,service:character varying:NO,jwk:text:NO,metadata:text:NO,created_date:timestamp without time zone:NO,expiration_date:timestamp without time zone:YES,rotation_duration:integer:YES,approval_id:integer:YES"
cols=$(q qso-quay "SELECT string_agg(column_name || ':' || data_type || ':' || is_nullable, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = 'servicekeyapproval'")
check "servicekeyapproval columns and types" test "$cols" = \
  "id:integer:NO,approver_id:integer:YES,approval_type:character varying:NO,approved_date:timestamp without time zone:NO,notes:text:NO"
check "servicekey.approval_id references servicekeyapproval" test \
  "$(q qso-quay "SELECT confrelid::regclass FROM pg_constraint WHERE conname = 'fk_servicekey_approval_id_servicekeyapproval'")" = servicekeyapproval
# The database gives no defaults: an INSERT without created_date fails, as in Quay's schema.
out=$(q qso-quay "INSERT INTO servicekey (name, kid, service, jwk, metadata) VALUES ('n', 'k', 'quay', '{}', '{}')" 2>&1 || true)
check "created_date has no database default" grep -q 'null value in column "created_date"' <<<"$out"

# Secrets: in no command line of any process, and in no log.
leaked=0
for p in /proc/[0-9]*; do
  tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -qF -e "$PG_PASSWORD" -e "$PG_SUPERPASSWORD" && leaked=1
done
check "no password on any process's command line" test "$leaked" = 0
cluster=$(cat "$st/run/cluster.path")
check "no password in the logs" bash -c '! grep -rqF -e "$0" -e "$1" "$2/log" "$3/postgres.log"' \
  "$PG_PASSWORD" "$PG_SUPERPASSWORD" "$st" "$cluster"

# ---- stop ------------------------------------------------------------------
before=$(cluster_pids "$st")
check "the cluster runs a postmaster, its children and a watchdog" test "$(wc -w <<<"$before")" -ge 4
bash "$support/stop.sh" "$st"
alive=""
for pid in $before; do kill -0 "$pid" 2>/dev/null && alive+=" $pid"; done
check "stop.sh left no process (was: $(tr '\n' ' ' <<<"$before"))" test -z "$alive"
check "stop.sh removed the cluster directory" test ! -e "$cluster"
check "stop.sh kept the server log" test -s "$st/log/postgres.log"
check "stop.sh is safe to run twice" bash "$support/stop.sh" "$st"

# ---- the watchdog: parent gone ---------------------------------------------
sleep 600 &
parent=$!
bash "$support/start.sh" "$work/s2" --parent-pid "$parent" --max-seconds 600
pids2=$(cluster_pids "$work/s2")
cluster2=$(cat "$work/s2/run/cluster.path")
kill "$parent"; wait "$parent" 2>/dev/null || true
# shellcheck disable=SC2086
check "the watchdog stops the server once its parent is gone" wait_gone 60 $pids2
check "... and removes its cluster directory" bash -c 'for _ in $(seq 1 100); do [ ! -e "$0" ] && exit 0; sleep 0.1; done; exit 1' "$cluster2"
check "the watchdog logged why" grep -q "parent $parent is gone" "$work/s2/log/watchdog.out"

# ---- the watchdog: lifetime over ---------------------------------------------
bash "$support/start.sh" "$work/s3" --max-seconds 2
pids3=$(cluster_pids "$work/s3")
# shellcheck disable=SC2086
check "the watchdog stops the server after its lifetime" wait_gone 60 $pids3
check "the watchdog logged why" bash -c 'for _ in $(seq 1 100); do grep -q "lived 2s" "$0" && exit 0; sleep 0.1; done; exit 1' "$work/s3/log/watchdog.out"

echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
