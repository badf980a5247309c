#!/usr/bin/env bash
# Stops the test Swift that start.sh started in <state-dir>: every process
# group recorded in <state-dir>/run (memcached, the four servers and the
# proxy's workers), SIGTERM first, SIGKILL after 10 s, then the watchdog.
# Only processes whose command line names this state directory are
# signalled, so a recycled pid is left alone. Safe to run twice.
#
#   stop.sh <state-dir>
set -uo pipefail
[ $# -eq 1 ] || { echo "usage: $0 <state-dir>" >&2; exit 2; }
[ -d "$1" ] || exit 0
state=$(cd "$1" && pwd)
run=$state/run

ours() {
  [ -r "/proc/$1/cmdline" ] || return 1
  tr '\0' '\n' <"/proc/$1/cmdline" | grep -qE "^$(printf '%s' "$state" | sed 's/[][\.*^$/]/\\&/g')(/|$)"
}
# alive <pid>: the process or any member of its process group still exists.
alive() { kill -0 "$1" 2>/dev/null || kill -0 -- "-$1" 2>/dev/null; }

pids=()
for f in "$run"/memcached.pid "$run"/proxy.pid "$run"/object.pid \
         "$run"/container.pid "$run"/account.pid; do
  [ -f "$f" ] || continue
  pid=$(cat "$f")
  [[ "$pid" =~ ^[0-9]+$ ]] || continue
  if ours "$pid" || { ! kill -0 "$pid" 2>/dev/null && kill -0 -- "-$pid" 2>/dev/null; }; then
    # The group first (the proxy's workers), the process in case it has
    # not yet made its own group.
    kill -TERM -- "-$pid" 2>/dev/null
    kill -TERM "$pid" 2>/dev/null
    pids+=("$pid")
  fi
done

deadline=$((SECONDS + 10))
for pid in "${pids[@]}"; do
  while alive "$pid" && [ $SECONDS -lt $deadline ]; do sleep 0.05; done
  if alive "$pid"; then
    kill -KILL -- "-$pid" 2>/dev/null
    kill -KILL "$pid" 2>/dev/null
  fi
done
for pid in "${pids[@]}"; do
  for _ in $(seq 1 100); do alive "$pid" || break; sleep 0.05; done
  alive "$pid" && echo "stop.sh: process group $pid is still alive" >&2
done
rm -f "$run"/memcached.pid "$run"/proxy.pid "$run"/object.pid \
      "$run"/container.pid "$run"/account.pid "$run"/memcached.self.pid

if [ -f "$run/watchdog.pid" ]; then
  wpid=$(cat "$run/watchdog.pid")
  rm -f "$run/watchdog.pid"
  if [ "${QSO_SWIFT_WATCHDOG:-}" != "$wpid" ] && [[ "$wpid" =~ ^[0-9]+$ ]] && ours "$wpid"; then
    # Its group: the watchdog and the `sleep` it may be waiting on.
    kill -TERM -- "-$wpid" 2>/dev/null || kill -TERM "$wpid" 2>/dev/null
    for _ in $(seq 1 100); do alive "$wpid" || break; sleep 0.05; done
  fi
fi
exit 0
