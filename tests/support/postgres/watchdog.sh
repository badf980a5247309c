#!/usr/bin/env bash
# The watchdog of one test PostgreSQL (started by start.sh, in its own
# session): runs stop.sh when the server has lived <max-seconds>, or as soon
# as the process <parent-pid> (started at <parent-start>, field 22 of its
# /proc/<pid>/stat, so a recycled pid does not count) is gone. It ends
# quietly when stop.sh has already run (its pid file is gone).
#
#   watchdog.sh <state-dir> <max-seconds> <parent-pid|0> <parent-start|0>
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
state=$1 max_seconds=$2 parent_pid=$3 parent_start=$4
deadline=$((SECONDS + max_seconds))
reason=""
# start.sh writes the pid file right after starting us.
for _ in $(seq 1 50); do [ "$(cat "$state/run/watchdog.pid" 2>/dev/null)" = "$$" ] && break; sleep 0.1; done
while :; do
  [ "$(cat "$state/run/watchdog.pid" 2>/dev/null)" = "$$" ] || exit 0
  if [ $SECONDS -ge $deadline ]; then
    reason="lived ${max_seconds}s"
  elif [ "$parent_pid" != 0 ]; then
    now_start=$(awk '{print $22}' "/proc/$parent_pid/stat" 2>/dev/null || true)
    [ "$now_start" = "$parent_start" ] || reason="parent $parent_pid is gone"
  fi
  [ -z "$reason" ] || break
  sleep 1
done
echo "watchdog: stopping PostgreSQL in $state: $reason"
QSO_PG_WATCHDOG=$$ exec bash "$here/stop.sh" "$state"
