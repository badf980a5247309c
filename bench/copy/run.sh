#!/usr/bin/env bash
# Benchmark of the copy engine against `rclone sync` (Debian's rclone:
# defaults as the runbooks say, and tuned --fast-list --checksum --transfers
# 16) and `aws s3 sync` (Debian's /usr/bin/aws), on one real Swift (s3api)
# started on 127.0.0.1, with a synthetic Quay store in Quay's layout.
#
#   bench/copy/run.sh [--objects N] [--concurrency N] [--skip-aws] [--skip-rclone]
#
# Phases per tool: full copy, no-op re-sync, +50 new blobs re-sync. Copies go
# from account 1 to account 2 (streamed), except `aws s3 sync`, which holds one
# set of credentials and so syncs inside account 1 (server-side copies); our
# engine is also run that way for the comparison. Prints one row per run:
# wall time, objects/s, MB/s, client requests seen by the Swift proxy (by
# method), peak RSS. Work dir: $QSO_BENCH_DIR (default /tmp/qso-bench-copy);
# the generated store is kept there and reused.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
objects=5000 conc=32 skip_aws=0 skip_rclone=0
while [ $# -gt 0 ]; do
  case "$1" in
    --objects) objects=$2; shift 2 ;;
    --concurrency) conc=$2; shift 2 ;;
    --skip-aws) skip_aws=1; shift ;;
    --skip-rclone) skip_rclone=1; shift ;;
    *) echo "usage: $0 [--objects N] [--concurrency N] [--skip-aws] [--skip-rclone]" >&2; exit 2 ;;
  esac
done
work=${QSO_BENCH_DIR:-/tmp/qso-bench-copy}
mkdir -p "$work"
unset AWS_CA_BUNDLE
export PATH=/usr/bin:/bin:/usr/sbin:/sbin:$PATH
py=/usr/bin/python3

# The peers come from Debian too; install what is missing (not in deps.sh:
# only the benchmark needs rclone).
if [ "$skip_rclone" = 0 ] && ! command -v rclone >/dev/null; then
  apt-get install -y --no-install-recommends rclone >/dev/null
fi

# A release build of the binary (no sanitizers), unless $QSO_BENCH_BIN names one.
bin=${QSO_BENCH_BIN:-}
if [ -z "$bin" ]; then
  cmake -S "$root" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DQSO_TESTS=OFF >/dev/null
  cmake --build "$work/build" -j2 --target quay-storage-operator >/dev/null
  bin=$work/build/quay-storage-operator
fi

# The store: generated once per object count.
store=$work/store-$objects extra=$work/extra-50
if [ ! -f "$store/.done" ]; then
  rm -rf "$store"
  echo "generating $objects objects in Quay's layout..."
  "$py" "$root/tests/e2e/copy/gen_store.py" "$store" "$objects" --seed 42 --profile quay >"$store.count"
  touch "$store/.done"
fi
if [ ! -f "$extra/.done" ]; then
  rm -rf "$extra"
  "$py" "$root/tests/e2e/copy/gen_store.py" "$extra" 50 --seed 4242 --profile quay --no-extras >/dev/null
  touch "$extra/.done"
fi
rm -f "$store/.done.tmp"

state=$work/swift
bash "$root/tests/support/swift/start.sh" "$state" --parent-pid $$ --max-seconds 7200 >"$work/swift-start.log" 2>&1
trap 'bash "$root/tests/support/swift/stop.sh" "$state" >/dev/null 2>&1 || true' EXIT
set -a
. "$state/env"
set +a
log=$SWIFT_PROXY_LOG ep=$S3_ENDPOINT

token() {
  printf 'X-Storage-User: %s\nX-Storage-Pass: %s\n' "$1" "$2" |
    curl -sS -i -H @- "$SWIFT_AUTH_URL" | awk 'tolower($1)=="x-auth-token:" {print $2}' | tr -d '\r'
}
mkbucket() { printf 'X-Auth-Token: %s\n' "$1" | curl -sS -o /dev/null -H @- -X PUT "$2"; }
t1=$(token "$SWIFT_USER" "$SWIFT_KEY")
t2=$(token "$SWIFT_USER2" "$SWIFT_KEY2")
for b in src aws ours-same; do mkbucket "$t1" "$SWIFT_STORAGE_URL/$b"; done
for b in ours rclone-def rclone-tuned; do mkbucket "$t2" "$SWIFT_STORAGE_URL2/$b"; done

export QSO_LOG_LEVEL=warn
src_env() { export QSO_SOURCE_AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID QSO_SOURCE_AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY; }
dst_env() { export QSO_DESTINATION_AWS_ACCESS_KEY_ID=$1 QSO_DESTINATION_AWS_SECRET_ACCESS_KEY=$2; }
# rclone reads its remotes from the environment: no secret on a command line.
export RCLONE_CONFIG_A_TYPE=s3 RCLONE_CONFIG_A_PROVIDER=Other RCLONE_CONFIG_A_ENDPOINT=$ep \
  RCLONE_CONFIG_A_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID RCLONE_CONFIG_A_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY \
  RCLONE_CONFIG_A_REGION=us-east-1 RCLONE_CONFIG_A_FORCE_PATH_STYLE=true
export RCLONE_CONFIG_B_TYPE=s3 RCLONE_CONFIG_B_PROVIDER=Other RCLONE_CONFIG_B_ENDPOINT=$ep \
  RCLONE_CONFIG_B_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID2 RCLONE_CONFIG_B_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY2 \
  RCLONE_CONFIG_B_REGION=us-east-1 RCLONE_CONFIG_B_FORCE_PATH_STYLE=true

mark() { wc -l <"$log"; }
# requests <mark>: client requests (not the proxy's own subrequests) by method.
requests() {
  tail -n +"$(($1 + 1))" "$log" | awk '$3 != "-" && $6 ~ /^(GET|PUT|POST|HEAD|DELETE)$/ {n[$6]++; t++} END {
    printf "%d (", t; s=""; for (m in n) { printf "%s%s %d", s, m, n[m]; s=", " } printf ")" }'
}

declare -A wall
# run <tool> <phase> <objects> <bytes> <cmd...>
run() {
  local tool=$1 phase=$2 nobj=$3 nbytes=$4
  shift 4
  local m out rc
  m=$(mark)
  out=$work/time.out
  set +e
  /usr/bin/time -f '%e %M' -o "$out" "$@" >"$work/last.stdout" 2>"$work/last.stderr"
  rc=$?
  set -e
  sleep 0.5 # the proxy logs after answering
  read -r secs rss < <(tail -n 1 "$out")
  [ "$rc" -eq 0 ] || { echo "($tool $phase exited $rc:"; tail -3 "$work/last.stderr"; tail -c 600 "$work/last.stdout"; echo ")"; }
  wall[$tool/$phase]=$secs
  "$py" - "$tool" "$phase" "$secs" "$nobj" "$nbytes" "$rss" "$rc" "$(requests "$m")" <<'PY'
import sys
tool, phase, secs, nobj, nbytes, rss, rc, reqs = sys.argv[1:]
s = float(secs)
ops = int(nobj) / s if s > 0 else 0
mbs = int(nbytes) / s / 1e6 if s > 0 else 0
print(f"| {tool:<22} | {phase:<7} | {s:8.2f} | {ops:8.1f} | {mbs:7.1f} | {int(rss)/1024:7.1f} | {rc} | {reqs}")
PY
}

read -r nobj nbytes <"$store.count"
nobj=$((nobj + 1)) # _verify
read -r xobj xbytes < <("$py" -c 'import os,sys; fs=[os.path.join(d,f) for d,_,n in os.walk(sys.argv[1]) for f in n if not f.startswith(".")]; print(len(fs), sum(os.path.getsize(f) for f in fs))' "$extra")

echo "store: $nobj objects, $nbytes bytes (+ uploads/); extra: $xobj objects, $xbytes bytes"
echo "| tool                   | phase   |   wall s |  objects/s |   MB/s | RSS MiB | rc | client requests"
src_env
dst_env "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY"
run "seed (ours local->s3)" full "$nobj" "$nbytes" "$bin" copy --source "$store" --destination "s3://src/r?endpoint=$ep" --concurrency "$conc"

S="s3://src/r?endpoint=$ep"
ours() { dst_env "$AWS_ACCESS_KEY_ID2" "$AWS_SECRET_ACCESS_KEY2"; "$bin" copy --source "$S" --destination "s3://ours/r?endpoint=$ep" --concurrency "$conc"; }
ours_same() { dst_env "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY"; "$bin" copy --source "$S" --destination "s3://ours-same/r?endpoint=$ep" --concurrency "$conc"; }
rclone_def() { rclone sync A:src/r B:rclone-def/r; }
rclone_tuned() { rclone sync --fast-list --checksum --transfers 16 A:src/r B:rclone-tuned/r; }
aws_sync() { AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY AWS_DEFAULT_REGION=us-east-1 /usr/bin/aws --endpoint-url "$ep" s3 sync --only-show-errors s3://src/r s3://aws/r; }
export -f ours ours_same rclone_def rclone_tuned aws_sync dst_env
export bin S ep conc
tools=(ours)
[ "$skip_rclone" = 1 ] || { command -v rclone >/dev/null && tools+=(rclone_def rclone_tuned) || echo "(rclone not installed: apt-get install rclone)"; }
tools+=(ours_same)
[ "$skip_aws" = 1 ] || tools+=(aws_sync)

for t in "${tools[@]}"; do run "$t" full "$nobj" "$nbytes" bash -c "$t"; done
for t in "${tools[@]}"; do run "$t" noop 0 0 bash -c "$t"; done
dst_env "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY"
"$bin" copy --source "$extra" --destination "$S" --concurrency "$conc" >/dev/null 2>&1
for t in "${tools[@]}"; do run "$t" plus50 "$xobj" "$xbytes" bash -c "$t"; done

# The floor for no-op and +50: listing both sides once (our engine's lister, a
# dry run, listing only).
dst_env "$AWS_ACCESS_KEY_ID2" "$AWS_SECRET_ACCESS_KEY2"
run "list both (dry run)" noop 0 0 "$bin" copy --source "$S" --destination "s3://ours/r?endpoint=$ep" --dry-run

echo
echo "ratios (peer wall / ours wall):"
for t in "${tools[@]}"; do
  [ "$t" = ours ] && continue
  base=ours
  [ "$t" = aws_sync ] && base=ours_same
  for ph in full noop plus50; do
    "$py" -c 'import sys; a,b=float(sys.argv[3]),float(sys.argv[4]); print(f"  {sys.argv[1]:<14} {sys.argv[2]:<7} {a/b if b else 0:6.2f}x  (vs {sys.argv[5]})")' \
      "$t" "$ph" "${wall[$t/$ph]}" "${wall[$base/$ph]}" "$base"
  done
done
