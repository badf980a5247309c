#!/usr/bin/env bash
# The test suite's private OpenStack Swift (tests/support/swift/) works as the
# copy engine's tests need it: start.sh brings up a real cluster on 127.0.0.1
# and writes <state-dir>/env; the Swift API (tempauth v1, JSON listings with
# size and hash, DLO and SLO manifests) and the S3 API (s3api with tempauth
# credentials, multipart into "<bucket>+segments") both work on one port;
# /info publishes s3api and the limits; a reader user can read but not write;
# stop.sh leaves no process behind, and so does the watchdog when the parent
# dies or the lifetime ends. Credentials never appear on a command line.
#
#   test_swift_server.sh <build-dir> <source-dir>
set -euo pipefail
build=$1 src=$2
support=$src/tests/support/swift
# Debian's tools first (pyenv shims would shadow them); plain HTTP, so none
# of the machine's CA or proxy settings may matter.
export PATH=/usr/bin:/bin:/usr/sbin:/sbin
unset AWS_CA_BUNDLE REQUESTS_CA_BUNDLE CURL_CA_BUNDLE SSL_CERT_FILE SSL_CERT_DIR \
      http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY AWS_PROFILE

mkdir -p "$build/tmp"
work=$(mktemp -d "$build/tmp/swift-server.XXXXXX")
state=$work/state
cleanup() {
  for d in "$state" "$work/state2" "$work/state3"; do
    bash "$support/stop.sh" "$d" >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

fails=0 passes=0
ok() { passes=$((passes + 1)); echo "ok - $*"; }
fail() { fails=$((fails + 1)); echo "FAIL - $*"; }
check() { # check <description> <command...>
  local d=$1; shift
  if "$@" >/dev/null; then ok "$d"; else fail "$d"; fi
}

bash "$support/start.sh" "$state" --parent-pid $$ --max-seconds 600
check "start.sh wrote env with mode 0600" test "$(stat -c %a "$state/env")" = 600
set -a
# shellcheck disable=SC1091
. "$state/env"
set +a
for v in SWIFT_AUTH_URL SWIFT_USER SWIFT_KEY S3_ENDPOINT AWS_ACCESS_KEY_ID \
         AWS_SECRET_ACCESS_KEY S3_REGION SWIFT_USER2 SWIFT_KEY2 SWIFT_RO_USER SWIFT_RO_KEY; do
  check "env defines $v" test -n "${!v:-}"
done
check "endpoints are on 127.0.0.1" grep -q "^http://127.0.0.1:[0-9]*$" <<<"$S3_ENDPOINT"

# ---- Swift API, tempauth v1 --------------------------------------------------
# auth <user> <key>: sets TOKEN and URL. Key and token reach curl through
# its config on stdin, never argv.
auth() {
  local hdrs
  hdrs=$(printf 'header = "X-Auth-User: %s"\nheader = "X-Auth-Key: %s"\n' "$1" "$2" |
         curl -sS -f -K - -D - -o /dev/null "$SWIFT_AUTH_URL" | tr -d '\r')
  TOKEN=$(sed -n 's/^[Xx]-[Aa]uth-[Tt]oken: //p' <<<"$hdrs")
  URL=$(sed -n 's/^[Xx]-[Ss]torage-[Uu]rl: //p' <<<"$hdrs")
  [ -n "$TOKEN" ] && [ -n "$URL" ]
}
# sw <curl args...>: a Swift request with the current token; prints the body,
# and the status on the last line.
sw() { printf 'header = "X-Auth-Token: %s"\n' "$TOKEN" | curl -sS -K - -w '\n%{http_code}' "$@"; }
status_of() { tail -n1 <<<"$1"; }
body_of() { sed '$d' <<<"$1"; }

check "tempauth gives a token and storage URL for $SWIFT_USER" auth "$SWIFT_USER" "$SWIFT_KEY"
check "storage URL is account 1's" test "$URL" = "$SWIFT_STORAGE_URL"
out=$(printf 'header = "X-Auth-User: %s"\nheader = "X-Auth-Key: wrong"\n' "$SWIFT_USER" |
      curl -sS -K - -o /dev/null -w '%{http_code}' "$SWIFT_AUTH_URL")
check "a wrong key is refused with 401" test "$out" = 401

r=$(sw -X PUT "$URL/quay")
check "PUT container" grep -qE '^20[12]$' <<<"$(status_of "$r")"
printf 'hello swift\n' >"$work/blob"
r=$(sw -X PUT -T "$work/blob" "$URL/quay/sha256/ab/abcdef")
check "PUT object" test "$(status_of "$r")" = 201
r=$(sw "$URL/quay/sha256/ab/abcdef")
check "GET object returns its bytes" test "$(body_of "$r")" = "hello swift"
r=$(sw "$URL/quay?format=json&prefix=sha256/")
listing=$(body_of "$r")
check "JSON listing has name, size and MD5" /usr/bin/python3 -c '
import json, sys, hashlib
l = json.loads(sys.argv[1])
assert [o["name"] for o in l] == ["sha256/ab/abcdef"], l
assert l[0]["bytes"] == 12 and l[0]["hash"] == hashlib.md5(b"hello swift\n").hexdigest(), l
' "$listing"

# A DLO as Quay's Swift driver writes it: segments, then a zero-byte manifest.
for i in 1 2 3; do
  printf 'part%d-' "$i" >"$work/seg$i"
  sw -X PUT -T "$work/seg$i" "$URL/quay/segments/blob1/$i" >/dev/null
done
r=$(sw -X PUT -H 'X-Object-Manifest: quay/segments/blob1/' --data-binary '' "$URL/quay/sha256/cd/dlo")
check "PUT DLO manifest" test "$(status_of "$r")" = 201
r=$(sw "$URL/quay/sha256/cd/dlo")
check "GET DLO returns the segments joined" test "$(body_of "$r")" = "part1-part2-part3-"
r=$(sw "$URL/quay?format=json&prefix=sha256/cd/")
check "a DLO manifest lists as zero bytes" /usr/bin/python3 -c '
import json, sys; l = json.loads(sys.argv[1]); assert l[0]["bytes"] == 0, l' "$(body_of "$r")"
r=$(sw -I "$URL/quay/sha256/cd/dlo")
check "HEAD of a DLO gives its real size and the manifest header" \
  grep -qi '^content-length: 18' <<<"$r"
grep -qi '^x-object-manifest: quay/segments/blob1/' <<<"$r" && ok "HEAD shows X-Object-Manifest" || fail "HEAD shows X-Object-Manifest"

# An SLO: a JSON manifest PUT with ?multipart-manifest=put.
seg_etag() { /usr/bin/python3 -c 'import hashlib,sys; print(hashlib.md5(open(sys.argv[1],"rb").read()).hexdigest())' "$1"; }
manifest=$(printf '[{"path":"/quay/segments/blob1/1","etag":"%s","size_bytes":6},{"path":"/quay/segments/blob1/2","etag":"%s","size_bytes":6}]' \
             "$(seg_etag "$work/seg1")" "$(seg_etag "$work/seg2")")
r=$(sw -X PUT --data-binary "$manifest" "$URL/quay/sha256/ef/slo?multipart-manifest=put")
check "PUT SLO manifest" test "$(status_of "$r")" = 201
r=$(sw "$URL/quay/sha256/ef/slo")
check "GET SLO returns the segments joined" test "$(body_of "$r")" = "part1-part2-"

# The reader: may read account 1, may not write.
TOKEN_ADMIN=$TOKEN
check "tempauth accepts the reader" auth "$SWIFT_RO_USER" "$SWIFT_RO_KEY"
r=$(sw "$SWIFT_STORAGE_URL/quay/sha256/ab/abcdef")
check "the reader can GET" test "$(body_of "$r")" = "hello swift"
r=$(sw -X PUT -T "$work/blob" "$SWIFT_STORAGE_URL/quay/ro-attempt")
check "the reader cannot PUT (403)" test "$(status_of "$r")" = 403
# Account 2 is separate: its admin sees none of account 1's containers.
check "tempauth accepts account 2" auth "$SWIFT_USER2" "$SWIFT_KEY2"
check "account 2's storage URL" test "$URL" = "$SWIFT_STORAGE_URL2"
r=$(sw "$SWIFT_STORAGE_URL/quay?format=json")
check "account 2 cannot read account 1 (403)" test "$(status_of "$r")" = 403
TOKEN=$TOKEN_ADMIN URL=$SWIFT_STORAGE_URL

# ---- /info -----------------------------------------------------------------
info=$(curl -sS -f "$SWIFT_INFO_URL")
check "/info publishes s3api, slo, tempauth and the limits" /usr/bin/python3 -c '
import json, sys
i = json.loads(sys.argv[1])
s3 = i["s3api"]
assert s3["max_upload_part_num"] == 1000, s3
assert s3["min_segment_size"] == 5242880, s3
assert s3["max_bucket_listing"] == 1000, s3
assert s3["allow_multipart_uploads"] is True and s3["s3_acl"] is False, s3
assert i["slo"]["max_manifest_segments"] == 1000, i["slo"]
assert "tempauth" in i, sorted(i)
assert i["swift"]["max_file_size"] == 5368709122, i["swift"]
assert i["swift"]["container_listing_limit"] == 10000, i["swift"]
' "$info"

# ---- S3 API through /usr/bin/aws --------------------------------------------
export AWS_CONFIG_FILE=$work/aws-config AWS_SHARED_CREDENTIALS_FILE=$work/aws-credentials
export AWS_DEFAULT_REGION=$S3_REGION AWS_EC2_METADATA_DISABLED=true AWS_PAGER=""
: >"$AWS_CONFIG_FILE"
aws() { /usr/bin/aws --endpoint-url "$S3_ENDPOINT" "$@"; }
buckets_have_quay() { aws s3api list-buckets --query 'Buckets[].Name' --output text | grep -qw quay; }
check "S3 sees the Swift container as a bucket" buckets_have_quay
check "S3 CreateBucket" aws s3api create-bucket --bucket s3bucket --output text
check "S3 PutObject" aws s3api put-object --bucket s3bucket --key sha256/12/3456 --body "$work/blob" --output text
aws s3api get-object --bucket s3bucket --key sha256/12/3456 "$work/got" >/dev/null
check "S3 GetObject returns the bytes" cmp -s "$work/blob" "$work/got"
keys=$(aws s3api list-objects-v2 --bucket quay --prefix sha256/ --query 'Contents[].[Key,Size]' --output text)
check "S3 ListObjectsV2 lists what Swift wrote, with sizes" grep -qP '^sha256/ab/abcdef\t12$' <<<"$keys"
head -c $((9 * 1024 * 1024)) /dev/urandom >"$work/big"
check "S3 multipart upload (2 parts) through aws s3 cp" aws s3 cp --only-show-errors "$work/big" s3://s3bucket/big
aws s3 cp --only-show-errors s3://s3bucket/big "$work/big.got"
check "the multipart object reads back whole" cmp -s "$work/big" "$work/big.got"
r=$(sw "$URL?format=json")
check "multipart parts live in the hidden s3bucket+segments container" \
  grep -q '"name": *"s3bucket+segments"' <<<"$(body_of "$r")"
(
  export AWS_ACCESS_KEY_ID=$AWS_RO_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$AWS_RO_SECRET_ACCESS_KEY
  if /usr/bin/aws --endpoint-url "$S3_ENDPOINT" s3api put-object --bucket quay --key x \
       --body "$work/blob" >/dev/null 2>"$work/ro.err"; then exit 1; fi
  grep -q AccessDenied "$work/ro.err"
) && ok "S3 refuses a write by the reader (AccessDenied)" || fail "S3 refuses a write by the reader (AccessDenied)"
(
  export AWS_SECRET_ACCESS_KEY=wrong
  if /usr/bin/aws --endpoint-url "$S3_ENDPOINT" s3api list-objects-v2 --bucket quay \
       >/dev/null 2>"$work/bad.err"; then exit 1; fi
  grep -q SignatureDoesNotMatch "$work/bad.err"
) && ok "S3 refuses a bad secret (SignatureDoesNotMatch)" || fail "S3 refuses a bad secret (SignatureDoesNotMatch)"

# ---- logs, command lines ----------------------------------------------------
check "the proxy access log has a line per request" grep -q 'GET /v1/AUTH_test/quay/sha256/ab/abcdef' "$SWIFT_PROXY_LOG"
check "no key in any log" bash -c '! grep -rqF -e "$0" -e "$1" -e "$2" "$3"/log' "$SWIFT_KEY" "$SWIFT_KEY2" "$SWIFT_RO_KEY" "$state"
leaked=0
for p in /proc/[0-9]*; do
  tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -qF -e "$SWIFT_KEY" -e "$SWIFT_KEY2" -e "$SWIFT_RO_KEY" && leaked=1
done
check "no key on any process's command line" test "$leaked" = 0

# ---- stop -------------------------------------------------------------------
# group_pids <state>: every live process in the recorded groups.
group_pids() {
  local f pid
  for f in "$1"/run/*.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    ps -o pid= -g "$pid" 2>/dev/null || true
  done | sort -u | tr -d ' '
}
before=$(group_pids "$state")
check "the cluster runs at least six processes (memcached, 4 servers, proxy worker, watchdog)" \
  test "$(wc -w <<<"$before")" -ge 7
bash "$support/stop.sh" "$state"
alive=""
for pid in $before; do kill -0 "$pid" 2>/dev/null && alive+=" $pid"; done
check "stop.sh left no process (was: $(tr '\n' ' ' <<<"$before"))" test -z "$alive"
check "stop.sh removed the pid files" bash -c '! compgen -G "$0/run/*.pid" >/dev/null' "$state"

# wait_gone <seconds> <pids...>: polls until none is alive.
wait_gone() {
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

# ---- the watchdog: parent gone ---------------------------------------------
sleep 600 &
parent=$!
bash "$support/start.sh" "$work/state2" --parent-pid "$parent" --max-seconds 600
pids2=$(group_pids "$work/state2")
kill "$parent"; wait "$parent" 2>/dev/null || true
# shellcheck disable=SC2086
check "the watchdog stops the cluster once its parent is gone" wait_gone 30 $pids2

# ---- the watchdog: lifetime over --------------------------------------------
# The same watchdog.sh, on a stand-in cluster (one process whose command line
# names the state directory, as every real one does): a third real Swift
# would only add start-up time.
mkdir -p "$work/state3/run" "$work/state3/log"
/usr/bin/python3 -E -s "$support/qso_swift.py" exec /bin/bash -c 'sleep 600; :' "$work/state3/" \
  </dev/null >/dev/null 2>&1 &
echo $! >"$work/state3/run/proxy.pid"
/usr/bin/python3 -E -s "$support/qso_swift.py" exec /bin/bash "$support/watchdog.sh" "$work/state3" 1 0 0 \
  </dev/null >>"$work/state3/log/watchdog.out" 2>&1 &
wd=$!
echo "$wd" >"$work/state3/run/watchdog.pid"
check "the watchdog stops the cluster after its lifetime" wait_gone 30 "$(cat "$work/state3/run/proxy.pid")" "$wd"
check "the watchdog logged why" grep -q 'lived 1s' "$work/state3/log/watchdog.out"

echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
