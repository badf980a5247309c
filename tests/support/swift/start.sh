#!/usr/bin/env bash
# Starts a real OpenStack Swift (Debian 12's swift 2.30 packages) for the
# tests: one node, one replica, everything under <state-dir>, listening on
# 127.0.0.1 only, on free ports.
#
#   start.sh <state-dir> [--parent-pid PID] [--max-seconds N]
#
# What runs: memcached (tempauth keeps its tokens there), the account,
# container and object servers (devices are plain directories, rings built
# with swift-ring-builder's code into <state-dir>/etc) and a proxy serving the Swift
# API (tempauth v1: /auth/v1.0) and the S3 API (s3api, path-style) on one port.
# Logs go to <state-dir>/log (proxy.log has one access line per request;
# <name>.out catches what a process prints before its logging is set up).
#
# On success it writes <state-dir>/env (mode 0600, shell-sourceable KEY='value'
# lines; the credentials live there and nowhere on a command line):
#   SWIFT_AUTH_URL SWIFT_USER SWIFT_KEY SWIFT_STORAGE_URL   account 1, .admin
#   SWIFT_USER2 SWIFT_KEY2 SWIFT_STORAGE_URL2               account 2, .admin
#   SWIFT_RO_USER SWIFT_RO_KEY           may read and list every account only
#   S3_ENDPOINT S3_REGION AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
#   AWS_ACCESS_KEY_ID2 AWS_SECRET_ACCESS_KEY2 AWS_RO_ACCESS_KEY_ID
#   AWS_RO_SECRET_ACCESS_KEY             (S3 access key = "<account>:<user>")
#   SWIFT_INFO_URL SWIFT_PROXY_PORT SWIFT_PROXY_LOG SWIFT_STATE_DIR
#   SWIFT_MEMCACHED_PORT   (tests flush it to make every token expire)
#
# The servers stop by themselves: a watchdog runs stop.sh after --max-seconds
# (default $QSO_SWIFT_MAX_SECONDS or 1800) or as soon as --parent-pid is gone.
# stop.sh <state-dir> stops them at once.
#
# Tuning by environment: QSO_SWIFT_PROXY_WORKERS (default 1),
# QSO_SWIFT_BACKEND_WORKERS (default 0: one process each),
# QSO_SWIFT_MAX_FILE_SIZE (default 5 GiB + 2 bytes, Swift's default),
# QSO_SWIFT_S3_MAX_PARTS (default 1000), QSO_SWIFT_SLO_MAX_SEGMENTS
# (default 1000), QSO_SWIFT_REGION (default us-east-1).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
usage() { echo "usage: $0 <state-dir> [--parent-pid PID] [--max-seconds N]" >&2; exit 2; }
[ $# -ge 1 ] || usage
state_arg=$1; shift
parent_pid=""
max_seconds=${QSO_SWIFT_MAX_SECONDS:-1800}
while [ $# -gt 0 ]; do
  case "$1" in
    --parent-pid) [ $# -ge 2 ] || usage; parent_pid=$2; shift 2 ;;
    --max-seconds) [ $# -ge 2 ] || usage; max_seconds=$2; shift 2 ;;
    *) usage ;;
  esac
done
[[ "$max_seconds" =~ ^[0-9]+$ ]] || { echo "start.sh: --max-seconds must be a number" >&2; exit 2; }
[ -z "$parent_pid" ] || [[ "$parent_pid" =~ ^[0-9]+$ ]] || { echo "start.sh: bad --parent-pid" >&2; exit 2; }

# Debian's python3 and swift scripts, never a pyenv shim; no proxies or CA
# overrides from the machine's environment leak into plain-HTTP checks.
export PATH=/usr/bin:/bin:/usr/sbin:/sbin
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
py=(/usr/bin/python3 -E -s "$here/qso_swift.py")
t0=$EPOCHREALTIME

umask 077
mkdir -p "$state_arg"
state=$(cd "$state_arg" && pwd)
etc=$state/etc log=$state/log run=$state/run devices=$state/srv/node

if compgen -G "$run/*.pid" >/dev/null; then
  # A previous cluster in this directory: stop it rather than fight over it.
  bash "$here/stop.sh" "$state" >/dev/null 2>&1 || true
fi
rm -rf "$etc" "$run" "$state/srv" "$state/env"
mkdir -p "$etc" "$log" "$run" "$devices/d1"

rand_hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }

export QSO_TPL_ETC=$etc QSO_TPL_LOG=$log QSO_TPL_DEVICES=$devices
export QSO_TPL_USER; QSO_TPL_USER=$(id -un)
export QSO_TPL_HASH_PREFIX; QSO_TPL_HASH_PREFIX=$(rand_hex 8)
export QSO_TPL_HASH_SUFFIX; QSO_TPL_HASH_SUFFIX=$(rand_hex 8)
export QSO_TPL_MAX_FILE_SIZE=${QSO_SWIFT_MAX_FILE_SIZE:-5368709122}
export QSO_TPL_PROXY_WORKERS=${QSO_SWIFT_PROXY_WORKERS:-1}
export QSO_TPL_S3_MAX_PARTS=${QSO_SWIFT_S3_MAX_PARTS:-1000}
export QSO_TPL_SLO_MAX_SEGMENTS=${QSO_SWIFT_SLO_MAX_SEGMENTS:-1000}
export QSO_TPL_REGION=${QSO_SWIFT_REGION:-us-east-1}
export QSO_TPL_ACCOUNT=test QSO_TPL_USER1=tester
export QSO_TPL_ACCOUNT2=test2 QSO_TPL_USER2=tester2
export QSO_TPL_RO_USER=reader
export QSO_TPL_KEY1 QSO_TPL_KEY2 QSO_TPL_RO_KEY
QSO_TPL_KEY1=$(rand_hex 16) QSO_TPL_KEY2=$(rand_hex 16) QSO_TPL_RO_KEY=$(rand_hex 16)
backend_workers=${QSO_SWIFT_BACKEND_WORKERS:-0}

"${py[@]}" render "$here/swift.conf.in" "$etc/swift.conf"

fail_logs() {
  local f
  for f in "$log"/*.out "$log"/*.log; do
    [ -s "$f" ] || continue
    echo "--- $f (last lines)" >&2
    tail -n 15 "$f" >&2
  done
}

launch() { # launch <name> <command...>: new session, pid recorded, output to log/<name>.out
  local name=$1; shift
  "${py[@]}" exec "$@" </dev/null >>"$log/$name.out" 2>&1 &
  echo $! >"$run/$name.pid"
}

http_ok() { curl -fsS -o /dev/null --max-time 2 --noproxy '*' "$1" 2>/dev/null; }

# attempt: picks ports, renders the configs, builds rings, starts every
# process and waits until the whole chain answers. Returns non-zero on any
# failure (most likely a port taken between picking and binding).
attempt() {
  local ports p_proxy p_object p_container p_account p_memcached kind pid deadline
  mapfile -t ports < <("${py[@]}" ports 5)
  p_proxy=${ports[0]} p_object=${ports[1]} p_container=${ports[2]}
  p_account=${ports[3]} p_memcached=${ports[4]}
  export QSO_TPL_PROXY_PORT=$p_proxy QSO_TPL_MEMCACHED_PORT=$p_memcached
  export QSO_TPL_WORKERS=$backend_workers
  rm -f "$etc"/*.builder "$etc"/*.ring.gz
  rm -rf "$etc/backups"
  "${py[@]}" render "$here/proxy-server.conf.in" "$etc/proxy-server.conf"
  for kind in object container account; do
    local -n port_ref="p_$kind"
    QSO_TPL_KIND=$kind QSO_TPL_PORT=$port_ref \
      "${py[@]}" render "$here/backend-server.conf.in" "$etc/$kind-server.conf"
    unset -n port_ref
  done
  local mc_user=()
  [ "$(id -u)" -ne 0 ] || mc_user=(-u root)
  launch memcached /usr/bin/memcached -l 127.0.0.1 -p "$p_memcached" -U 0 -m 64 -t 1 \
    "${mc_user[@]}" -P "$run/memcached.self.pid"
  # The storage servers do not read the rings; the proxy does. Starting them
  # while the rings are built saves a second of the ~3 s start-up.
  for kind in account container object rings proxy; do
    if [ "$kind" = rings ]; then
      # swift-ring-builder's create/add/rebalance, run in one process.
      "${py[@]}" rings "$etc" "object:$p_object" "container:$p_container" \
        "account:$p_account" || return 1
      continue
    fi
    QSO_SWIFT_LOG_FILE=$log/$kind.log launch "$kind" /usr/bin/python3 -E -s \
      "$here/qso_swift.py" server "$kind" "$etc/$kind-server.conf" "$etc/swift.conf"
  done

  # Wait for every piece; a process that died is a failure at once.
  deadline=$((SECONDS + 30))
  local pending="memcached account container object proxy"
  while [ -n "$pending" ]; do
    local still=""
    for kind in $pending; do
      pid=$(cat "$run/$kind.pid")
      if ! kill -0 "$pid" 2>/dev/null; then
        echo "start.sh: $kind exited during start-up" >&2
        return 1
      fi
      case $kind in
        memcached) (exec 3<>"/dev/tcp/127.0.0.1/$p_memcached") 2>/dev/null || still+=" $kind" ;;
        proxy) http_ok "http://127.0.0.1:$p_proxy/healthcheck" || still+=" $kind" ;;
        *) local -n port_ref="p_$kind"
           http_ok "http://127.0.0.1:$port_ref/healthcheck" || still+=" $kind"
           unset -n port_ref ;;
      esac
    done
    pending=${still# }
    [ -n "$pending" ] || break
    if [ $SECONDS -ge $deadline ]; then
      echo "start.sh: not ready after 30 s: $pending" >&2
      return 1
    fi
    sleep 0.1
  done

  # Each port must be ours: a port taken by someone else between picking and
  # binding leaves our server retrying its bind while the other answers.
  local owners=()
  for kind in memcached account container object proxy; do
    local -n port_ref="p_$kind"
    owners+=("$(cat "$run/$kind.pid"):$port_ref")
    unset -n port_ref
  done
  "${py[@]}" listening "${owners[@]}" || { echo "start.sh: a port was taken by another process" >&2; return 1; }

  # /info must publish s3api, and every user must authenticate (this goes
  # through memcached, and the account HEAD through the account server).
  local info
  info=$(curl -fsS --max-time 5 --noproxy '*' "http://127.0.0.1:$p_proxy/info") || return 1
  grep -q '"s3api"' <<<"$info" || { echo "start.sh: /info has no s3api" >&2; return 1; }
  local acct user key hdrs url
  for who in "$QSO_TPL_ACCOUNT:$QSO_TPL_USER1:$QSO_TPL_KEY1" \
             "$QSO_TPL_ACCOUNT2:$QSO_TPL_USER2:$QSO_TPL_KEY2" \
             "$QSO_TPL_ACCOUNT:$QSO_TPL_RO_USER:$QSO_TPL_RO_KEY"; do
    IFS=: read -r acct user key <<<"$who"
    # The key reaches curl through its config on stdin, never argv.
    hdrs=$(printf 'header = "X-Auth-User: %s:%s"\nheader = "X-Auth-Key: %s"\n' \
             "$acct" "$user" "$key" |
           curl -fsS --max-time 5 --noproxy '*' -K - -D - -o /dev/null \
             "http://127.0.0.1:$p_proxy/auth/v1.0") || { echo "start.sh: tempauth refused $acct:$user" >&2; return 1; }
    url=$(tr -d '\r' <<<"$hdrs" | sed -n 's/^[Xx]-[Ss]torage-[Uu]rl: //p')
    [ -n "$url" ] || { echo "start.sh: no X-Storage-Url for $acct:$user" >&2; return 1; }
  done
  return 0
}

ok=0
for try in 1 2 3; do
  if attempt; then ok=1; break; fi
  echo "start.sh: attempt $try failed; stopping what it started" >&2
  [ "$try" -lt 3 ] || fail_logs
  bash "$here/stop.sh" "$state" >/dev/null 2>&1 || true
  mkdir -p "$run"
done
[ "$ok" -eq 1 ] || { echo "start.sh: Swift did not start" >&2; exit 1; }

base=http://127.0.0.1:$QSO_TPL_PROXY_PORT
{
  echo "SWIFT_STATE_DIR='$state'"
  echo "SWIFT_PROXY_PORT='$QSO_TPL_PROXY_PORT'"
  echo "SWIFT_PROXY_LOG='$log/proxy.log'"
  echo "SWIFT_MEMCACHED_PORT='$QSO_TPL_MEMCACHED_PORT'"
  echo "SWIFT_INFO_URL='$base/info'"
  echo "SWIFT_AUTH_URL='$base/auth/v1.0'"
  echo "SWIFT_USER='$QSO_TPL_ACCOUNT:$QSO_TPL_USER1'"
  echo "SWIFT_KEY='$QSO_TPL_KEY1'"
  echo "SWIFT_STORAGE_URL='$base/v1/AUTH_$QSO_TPL_ACCOUNT'"
  echo "SWIFT_USER2='$QSO_TPL_ACCOUNT2:$QSO_TPL_USER2'"
  echo "SWIFT_KEY2='$QSO_TPL_KEY2'"
  echo "SWIFT_STORAGE_URL2='$base/v1/AUTH_$QSO_TPL_ACCOUNT2'"
  echo "SWIFT_RO_USER='$QSO_TPL_ACCOUNT:$QSO_TPL_RO_USER'"
  echo "SWIFT_RO_KEY='$QSO_TPL_RO_KEY'"
  echo "S3_ENDPOINT='$base'"
  echo "S3_REGION='$QSO_TPL_REGION'"
  echo "AWS_ACCESS_KEY_ID='$QSO_TPL_ACCOUNT:$QSO_TPL_USER1'"
  echo "AWS_SECRET_ACCESS_KEY='$QSO_TPL_KEY1'"
  echo "AWS_ACCESS_KEY_ID2='$QSO_TPL_ACCOUNT2:$QSO_TPL_USER2'"
  echo "AWS_SECRET_ACCESS_KEY2='$QSO_TPL_KEY2'"
  echo "AWS_RO_ACCESS_KEY_ID='$QSO_TPL_ACCOUNT:$QSO_TPL_RO_USER'"
  echo "AWS_RO_SECRET_ACCESS_KEY='$QSO_TPL_RO_KEY'"
} >"$state/env.tmp"
mv "$state/env.tmp" "$state/env"

# The watchdog: its own session, no inherited stdio (a test runner waiting
# for its output pipes to close must not wait for it).
parent_start=""
if [ -n "$parent_pid" ]; then
  # The parent's start time makes a recycled pid distinguishable.
  parent_start=$(awk '{print $22}' "/proc/$parent_pid/stat" 2>/dev/null || true)
  [ -n "$parent_start" ] || { echo "start.sh: parent pid $parent_pid is not running" >&2; bash "$here/stop.sh" "$state"; exit 1; }
fi
"${py[@]}" exec /bin/bash "$here/watchdog.sh" "$state" "$max_seconds" "${parent_pid:-0}" \
  "${parent_start:-0}" </dev/null >>"$log/watchdog.out" 2>&1 &
echo $! >"$run/watchdog.pid"

elapsed=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.2f", b-a}')
echo "swift: ready in ${elapsed}s at $base (state $state; stops after ${max_seconds}s${parent_pid:+ or when pid $parent_pid exits})" >&2
