#!/usr/bin/env bash
# Stops the test PostgreSQL that start.sh started in <state-dir> and removes
# its cluster directory: `pg_ctl stop -m fast` first; if the server does not
# go within 15 s, SIGKILL to the postmaster named in postmaster.pid (only if
# its command line names our data directory, so a recycled pid is left
# alone; the backends exit when their postmaster dies). The server log is
# kept as <state-dir>/log/postgres.log. Then the watchdog is stopped. Safe to
# run twice.
#
#   stop.sh <state-dir>
set -uo pipefail
[ $# -eq 1 ] || { echo "usage: $0 <state-dir>" >&2; exit 2; }
[ -d "$1" ] || exit 0
state=$(cd "$1" && pwd)
run=$state/run
export PATH=/usr/bin:/bin:/usr/sbin:/sbin

if [ -f "$run/cluster.path" ]; then
  cluster=$(cat "$run/cluster.path")
  # Only a directory start.sh made for this state directory.
  if [ -n "$cluster" ] && [ -f "$cluster/.qso-pg-cluster" ] &&
     [ "$(cat "$cluster/.qso-pg-cluster")" = "$state" ]; then
    data=$cluster/data
    bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
    bindir=${QSO_PG_BINDIR:-$bindir}
    if [ "$(id -u)" -eq 0 ]; then
      as_pg() { /usr/sbin/runuser -u postgres -- "$@"; }
    else
      as_pg() { "$@"; }
    fi
    if [ -f "$data/postmaster.pid" ]; then
      pid=$(head -n1 "$data/postmaster.pid")
      as_pg "$bindir/pg_ctl" -D "$data" -m fast -w -t 15 stop >/dev/null 2>&1
      if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null &&
         tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qxF "$data"; then
        kill -KILL "$pid" 2>/dev/null
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
      fi
      if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null &&
         tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qxF "$data"; then
        echo "stop.sh: postmaster $pid is still alive" >&2
      fi
    fi
    mkdir -p "$state/log"
    [ -f "$cluster/postgres.log" ] && cp "$cluster/postgres.log" "$state/log/postgres.log" 2>/dev/null
    rm -rf "$cluster"
  fi
  rm -f "$run/cluster.path"
fi

if [ -f "$run/watchdog.pid" ]; then
  wpid=$(cat "$run/watchdog.pid")
  rm -f "$run/watchdog.pid"
  if [ "${QSO_PG_WATCHDOG:-}" != "$wpid" ] && [[ "$wpid" =~ ^[0-9]+$ ]] &&
     tr '\0' '\n' <"/proc/$wpid/cmdline" 2>/dev/null | grep -qxF "$state"; then
    # Its session's group: the watchdog and the `sleep` it may be waiting on.
    kill -TERM -- "-$wpid" 2>/dev/null || kill -TERM "$wpid" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$wpid" 2>/dev/null || break; sleep 0.05; done
  fi
fi
exit 0
