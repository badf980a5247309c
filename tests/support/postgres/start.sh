#!/usr/bin/env bash
# Starts a throw-away PostgreSQL (Debian 12's postgresql-15) for the tests:
# a fresh cluster (initdb), listening on 127.0.0.1 only, on a free port, with
# password (SCRAM) authentication over TCP.
#
#   start.sh <state-dir> [--parent-pid PID] [--max-seconds N]
#
# The cluster's files (data, socket, server log) live in a private directory
# /tmp/qso-pg.XXXXXXXX (0700): Unix socket paths must be short, and
# PostgreSQL refuses to run as root, so when started by root the cluster runs
# as the `postgres` system user, which may not reach <state-dir>.
# <state-dir>/run/cluster.path names that directory; stop.sh removes it.
#
# What exists once it is up:
#   role `postgres` (superuser) and role `quay` (owner of database `quay`),
#   each with a random password; the local socket (in the private cluster
#   directory) trusts the superuser, TCP needs the password.
#
# On success it writes two files (mode 0600; credentials live there and
# nowhere on a command line):
#   <state-dir>/env              shell-sourceable KEY='value' lines:
#     PG_HOST PG_PORT PG_DATABASE PG_USER PG_PASSWORD PG_SUPERUSER
#     PG_SUPERPASSWORD PG_SOCKET_DIR PG_BINDIR PG_DATA PG_LOG
#     PG_SERVICEFILE PG_SERVICE_QUAY PG_SERVICE_SUPER PG_STATE_DIR
#   <state-dir>/pg_service.conf  libpq service file with the two services
#     qso-quay and qso-super (TCP, password): PGSERVICEFILE=... psql -d service=qso-quay
#
# The server stops by itself: a watchdog runs stop.sh after --max-seconds
# (default $QSO_PG_MAX_SECONDS or 1800) or as soon as --parent-pid is gone.
# stop.sh <state-dir> stops it at once. QSO_PG_BINDIR overrides where the
# server binaries are (default: the newest /usr/lib/postgresql/*/bin).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
usage() { echo "usage: $0 <state-dir> [--parent-pid PID] [--max-seconds N]" >&2; exit 2; }
[ $# -ge 1 ] || usage
state_arg=$1; shift
parent_pid=""
max_seconds=${QSO_PG_MAX_SECONDS:-1800}
while [ $# -gt 0 ]; do
  case "$1" in
    --parent-pid) [ $# -ge 2 ] || usage; parent_pid=$2; shift 2 ;;
    --max-seconds) [ $# -ge 2 ] || usage; max_seconds=$2; shift 2 ;;
    *) usage ;;
  esac
done
[[ "$max_seconds" =~ ^[0-9]+$ ]] || { echo "start.sh: --max-seconds must be a number" >&2; exit 2; }
[ -z "$parent_pid" ] || [[ "$parent_pid" =~ ^[0-9]+$ ]] || { echo "start.sh: bad --parent-pid" >&2; exit 2; }

export PATH=/usr/bin:/bin:/usr/sbin:/sbin
# Nothing from the caller's libpq environment may steer our own checks.
unset PGHOST PGHOSTADDR PGPORT PGDATABASE PGUSER PGPASSWORD PGPASSFILE PGSERVICE \
      PGSERVICEFILE PGSSLMODE PGOPTIONS PGTZ PGCLIENTENCODING PGDATA
t0=$EPOCHREALTIME

bindir=${QSO_PG_BINDIR:-}
if [ -z "$bindir" ]; then
  bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
fi
[ -n "$bindir" ] && [ -x "$bindir/initdb" ] && [ -x "$bindir/pg_ctl" ] && [ -x "$bindir/psql" ] ||
  { echo "start.sh: no PostgreSQL server binaries (install Debian's postgresql)" >&2; exit 1; }

umask 077
mkdir -p "$state_arg"
state=$(cd "$state_arg" && pwd)
run=$state/run log=$state/log
if [ -f "$run/cluster.path" ]; then
  # A previous cluster in this directory: stop it rather than fight over it.
  bash "$here/stop.sh" "$state" >/dev/null 2>&1 || true
fi
rm -f "$state/env" "$state/pg_service.conf"
mkdir -p "$run" "$log"

# as_pg <command...>: runs a server-side command as the cluster's owner.
# The cluster lives under /tmp, not in <state-dir>: a Unix socket path must
# stay under 108 bytes, and as root the postgres user must reach it.
cluster=$(mktemp -d /tmp/qso-pg.XXXXXXXX)
if [ "$(id -u)" -eq 0 ]; then
  id postgres >/dev/null 2>&1 || { echo "start.sh: running as root needs the postgres user" >&2; rm -rf "$cluster"; exit 1; }
  chown postgres: "$cluster"
  as_pg() { /usr/sbin/runuser -u postgres -- "$@"; }
else
  as_pg() { "$@"; }
fi
# The marker lets stop.sh delete only directories this script made.
echo "$state" >"$cluster/.qso-pg-cluster"
echo "$cluster" >"$run/cluster.path"
data=$cluster/data sock=$cluster/sock pglog=$cluster/postgres.log
as_pg mkdir -p "$sock"

rand_hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }
superpass=$(rand_hex 16)
quaypass=$(rand_hex 16)

# initdb reads the superuser's password from a file only it can read.
pwfile=$cluster/.pw
as_pg sh -c "umask 077; cat >'$pwfile'" <<<"$superpass"
if ! as_pg "$bindir/initdb" -D "$data" -U postgres --pwfile="$pwfile" -E UTF8 --locale=C.UTF-8 \
       --auth-local=trust --auth-host=scram-sha-256 --no-sync --no-instructions \
       >"$log/initdb.out" 2>&1; then
  echo "start.sh: initdb failed:" >&2; tail -n 20 "$log/initdb.out" >&2
  bash "$here/stop.sh" "$state" >/dev/null 2>&1 || true
  exit 1
fi
as_pg rm -f "$pwfile"

# attempt <port>: configures the port, starts the server and waits for it.
attempt() {
  local port=$1
  # A test database: durability off (fsync), small, UTC logs; 127.0.0.1 only.
  as_pg sh -c "cat >'$data/postgresql.auto.conf'" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$sock'
unix_socket_permissions = 0700
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 16MB
max_connections = 40
log_timezone = 'UTC'
password_encryption = 'scram-sha-256'
EOF
  as_pg "$bindir/pg_ctl" -D "$data" -l "$pglog" -w -t 30 start >>"$log/pg_ctl.out" 2>&1
}

ok=0
for try in 1 2 3 4 5; do
  port=$((20000 + RANDOM % 40000))
  # A port something already answers on is skipped; a race after this check
  # makes the server fail to bind, and the next attempt takes another port.
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then continue; fi
  if attempt "$port"; then ok=1; break; fi
  echo "start.sh: attempt $try on port $port failed" >&2
  as_pg "$bindir/pg_ctl" -D "$data" -m immediate -w -t 10 stop >/dev/null 2>&1 || true
done
if [ "$ok" -ne 1 ]; then
  echo "start.sh: PostgreSQL did not start" >&2
  [ -f "$pglog" ] && tail -n 20 "$pglog" >&2
  bash "$here/stop.sh" "$state" >/dev/null 2>&1 || true
  exit 1
fi

# The application role and database, through the trusted local socket. The
# password goes through stdin, never argv.
if ! "$bindir/psql" -X -q -w -v ON_ERROR_STOP=1 -h "$sock" -p "$port" -U postgres -d postgres \
       -f - >"$log/setup.out" 2>&1 <<EOF
CREATE ROLE quay LOGIN PASSWORD '$quaypass';
CREATE DATABASE quay OWNER quay ENCODING 'UTF8' TEMPLATE template0;
EOF
then
  echo "start.sh: creating the quay role and database failed" >&2; cat "$log/setup.out" >&2
  bash "$here/stop.sh" "$state" >/dev/null 2>&1 || true
  exit 1
fi

{
  echo "# libpq service file of the test PostgreSQL in $state"
  echo "[qso-quay]"
  echo "host=127.0.0.1"; echo "port=$port"; echo "dbname=quay"
  echo "user=quay"; echo "password=$quaypass"; echo "sslmode=disable"
  echo "[qso-super]"
  echo "host=127.0.0.1"; echo "port=$port"; echo "dbname=postgres"
  echo "user=postgres"; echo "password=$superpass"; echo "sslmode=disable"
} >"$state/pg_service.conf"

# Both roles must get in over TCP with their password (SCRAM).
for svc in qso-quay qso-super; do
  if ! PGSERVICEFILE=$state/pg_service.conf "$bindir/psql" -X -q -w -At -d "service=$svc" \
         -c 'SELECT 1' >"$log/check.out" 2>&1; then
    echo "start.sh: $svc cannot connect over TCP:" >&2; cat "$log/check.out" >&2
    bash "$here/stop.sh" "$state" >/dev/null 2>&1 || true
    exit 1
  fi
done

{
  echo "PG_STATE_DIR='$state'"
  echo "PG_HOST='127.0.0.1'"
  echo "PG_PORT='$port'"
  echo "PG_DATABASE='quay'"
  echo "PG_USER='quay'"
  echo "PG_PASSWORD='$quaypass'"
  echo "PG_SUPERUSER='postgres'"
  echo "PG_SUPERPASSWORD='$superpass'"
  echo "PG_SOCKET_DIR='$sock'"
  echo "PG_BINDIR='$bindir'"
  echo "PG_DATA='$data'"
  echo "PG_LOG='$pglog'"
  echo "PG_SERVICEFILE='$state/pg_service.conf'"
  echo "PG_SERVICE_QUAY='qso-quay'"
  echo "PG_SERVICE_SUPER='qso-super'"
} >"$state/env.tmp"
mv "$state/env.tmp" "$state/env"

# The watchdog: its own session, no inherited stdio (a test runner waiting
# for its output pipes to close must not wait for it).
parent_start=0
if [ -n "$parent_pid" ]; then
  # The parent's start time makes a recycled pid distinguishable.
  parent_start=$(awk '{print $22}' "/proc/$parent_pid/stat" 2>/dev/null || true)
  [ -n "$parent_start" ] || { echo "start.sh: parent pid $parent_pid is not running" >&2; bash "$here/stop.sh" "$state"; exit 1; }
fi
setsid /bin/bash "$here/watchdog.sh" "$state" "$max_seconds" "${parent_pid:-0}" "$parent_start" \
  </dev/null >>"$log/watchdog.out" 2>&1 &
echo $! >"$run/watchdog.pid"

elapsed=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.2f", b-a}')
echo "postgres: ready in ${elapsed}s at 127.0.0.1:$port (state $state; stops after ${max_seconds}s${parent_pid:+ or when pid $parent_pid exits})" >&2
