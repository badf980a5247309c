#!/usr/bin/env bash
# The copy engine against a real OpenStack Swift (Debian's swift 2.30 with
# s3api, started on 127.0.0.1 by tests/support/swift/start.sh) through its S3
# API, between TWO accounts so that copies are streamed (GET -> PUT), plus
# local <-> S3 and a server-side copy inside one account. Cases: full copy
# with --verify-content, a multipart object that round-trips, no-op re-copy
# with zero PUTs (counted in Swift's proxy log), incremental copy of 50 new
# blobs, the source never written to, shards that partition the keys, a
# zero-byte DLO manifest resolved by HEAD, real empty objects copied empty, a
# corrupted blob caught, the probe of a read-only destination, bad credentials
# and a missing bucket.
set -euo pipefail
build=$1 src_root=$2
start=$src_root/tests/support/swift/start.sh
if [ ! -x "$start" ] && [ ! -f "$start" ]; then
  echo "SKIP: $start not found (the test Swift is not in this checkout)"
  exit 0
fi
QSO_BIN=$build/quay-storage-operator
QSO_TMP=$(mktemp -d)
state=$QSO_TMP/swift
cleanup() { bash "$src_root/tests/support/swift/stop.sh" "$state" >/dev/null 2>&1 || true; rm -rf "$QSO_TMP"; }
trap cleanup EXIT
. "$src_root/tests/e2e/copy/lib.sh"
export QSO_LOG_LEVEL=warn
unset AWS_CA_BUNDLE

bash "$start" "$state" --parent-pid $$ --max-seconds 900 >"$QSO_TMP/swift-start.log" 2>&1 ||
  { cat "$QSO_TMP/swift-start.log"; fail "swift did not start"; }
set -a
. "$state/env"
set +a
log=$SWIFT_PROXY_LOG
ep=$S3_ENDPOINT

swift_token() { # user key
  printf 'X-Storage-User: %s\nX-Storage-Pass: %s\n' "$1" "$2" |
    curl -sS -i -H @- "$SWIFT_AUTH_URL" | awk 'tolower($1)=="x-auth-token:" {print $2}' | tr -d '\r'
}
tok1=$(swift_token "$SWIFT_USER" "$SWIFT_KEY")
tok2=$(swift_token "$SWIFT_USER2" "$SWIFT_KEY2")
swift_req() { # token method url [curl args...]
  local t=$1 m=$2 u=$3
  shift 3
  printf 'X-Auth-Token: %s\n' "$t" | curl -sS -o /dev/null -w '%{http_code}' -H @- -X "$m" "$@" "$u"
}
for c in src segs; do [ "$(swift_req "$tok1" PUT "$SWIFT_STORAGE_URL/$c")" -lt 300 ] || fail "create $c"; done
for c in dst shards; do [ "$(swift_req "$tok2" PUT "$SWIFT_STORAGE_URL2/$c")" -lt 300 ] || fail "create $c"; done

as_source() { export QSO_SOURCE_AWS_ACCESS_KEY_ID=$1 QSO_SOURCE_AWS_SECRET_ACCESS_KEY=$2; }
as_dest() { export QSO_DESTINATION_AWS_ACCESS_KEY_ID=$1 QSO_DESTINATION_AWS_SECRET_ACCESS_KEY=$2; }
mark() { wc -l <"$log"; }
# client_writes <from-line> <bucket>: S3 requests that write to a bucket since a mark.
client_writes() {
  tail -n +"$(($1 + 1))" "$log" | awk -v b="/$2/" '$3 != "-" && ($6=="PUT" || $6=="POST" || $6=="DELETE") && index($7, b) == 1' | wc -l
}

S1="s3://src/registry?endpoint=$ep"
D2="s3://dst/registry?endpoint=$ep&multipart_threshold=6000000"

# Seed the source from a local Quay store: 60 blobs, one 12 MB blob (multipart
# from a local file), _verify, and an uploads/ session.
local_src=$QSO_TMP/local
gen_store "$local_src" 60 --seed 11 --big-bytes 12000000
as_dest "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY"
run_qso copy --source "$local_src" --destination "$S1&multipart_threshold=6000000"
expect_rc 0 "seed"
expect_field copied.objects 62 "seed"
[ "$(jfield requests.multipart)" -ge 4 ] || fail "the 12 MB blob did not go multipart"

# A blob stored the way Quay's Swift driver stores it: a zero-byte DLO manifest
# over segments. Its listing size is 0; the engine must HEAD it.
dlo=$QSO_TMP/dlo.bin
head -c 300000 /dev/urandom >"$dlo"
dd=$(sha256sum "$dlo" | cut -c1-64)
head -c 200000 "$dlo" >"$QSO_TMP/seg1"
tail -c 100000 "$dlo" >"$QSO_TMP/seg2"
[ "$(swift_req "$tok1" PUT "$SWIFT_STORAGE_URL/segs/$dd/1" -T "$QSO_TMP/seg1")" = 201 ] || fail "segment 1"
[ "$(swift_req "$tok1" PUT "$SWIFT_STORAGE_URL/segs/$dd/2" -T "$QSO_TMP/seg2")" = 201 ] || fail "segment 2"
printf 'X-Auth-Token: %s\nX-Object-Manifest: segs/%s/\n' "$tok1" "$dd" |
  curl -sS -o /dev/null -H @- -X PUT --data-binary '' "$SWIFT_STORAGE_URL/src/registry/sha256/${dd:0:2}/$dd"

# Full copy between two accounts: streamed, digests checked, multipart at the destination.
as_source "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY"
as_dest "$AWS_ACCESS_KEY_ID2" "$AWS_SECRET_ACCESS_KEY2"
m=$(mark)
run_qso copy --source "$S1" --destination "$D2" --verify-content --concurrency 8
expect_rc 0 "full copy"
expect_field copied.objects 63 "full copy"
expect_field serverSideCopies 0 "full copy across accounts"
[ "$(jfield requests.head)" -ge 1 ] || fail "the DLO manifest was not resolved by HEAD"
[ "$(client_writes "$m" src)" -eq 0 ] || fail "the copy wrote to the source bucket"
tail -n +"$((m + 1))" "$log" | grep 'POST /dst/registry/.*uploads' >/dev/null || fail "no multipart upload at the destination"
run_qso verify --source "$S1" --destination "$D2" --full-content
expect_rc 0 "verify after the full copy"
expect_field contentChecked 62 "verify --full-content"

# Round trip back to a local directory: byte-identical, multipart object included.
back=$QSO_TMP/back
mkdir -p "$back"
as_source "$AWS_ACCESS_KEY_ID2" "$AWS_SECRET_ACCESS_KEY2"
run_qso copy --source "s3://dst/registry?endpoint=$ep" --destination "$back"
expect_rc 0 "copy back"
cmp "$back/sha256/${dd:0:2}/$dd" "$dlo" || fail "the DLO blob did not round-trip"
rm "$back/sha256/${dd:0:2}/$dd"
diff <(tree_sums "$local_src" | grep -v uploads/) <(tree_sums "$back") >/dev/null || fail "round trip differs"

# No-op re-copy: zero PUTs, by our count and by Swift's log.
as_source "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY"
m=$(mark)
run_qso copy --source "$S1" --destination "$D2"
expect_rc 0 "no-op"
expect_field copied.objects 0 "no-op"
expect_field requests.put 0 "no-op"
expect_field requests.multipart 0 "no-op"
[ "$(client_writes "$m" dst)" -eq 0 ] || fail "the no-op copy wrote to the destination"

# Incremental: 50 new blobs.
as_dest "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY"
gen_store "$local_src" 50 --seed 12 --no-extras
run_qso copy --source "$local_src" --destination "$S1"
expect_field copied.objects 50 "seeding 50 more"
as_dest "$AWS_ACCESS_KEY_ID2" "$AWS_SECRET_ACCESS_KEY2"
m=$(mark)
run_qso copy --source "$S1" --destination "$D2"
expect_rc 0 "incremental"
expect_field copied.objects 50 "incremental"
[ "$(client_writes "$m" dst)" -eq 50 ] || fail "incremental made $(client_writes "$m" dst) writes, want 50"
[ "$(client_writes "$m" src)" -eq 0 ] || fail "the incremental copy wrote to the source"

# Shards 0..3 of 4 into an empty bucket: every key exactly once.
total=0
for i in 0 1 2 3; do
  run_qso copy --source "$S1" --destination "s3://shards/r?endpoint=$ep" --shard "$i/4"
  expect_rc 0 "shard $i/4"
  total=$((total + $(jfield copied.objects)))
done
[ "$total" -eq 113 ] || fail "shards copied $total objects, want 113"
run_qso verify --source "$S1" --destination "s3://shards/r?endpoint=$ep" --sample 3
expect_rc 0 "verify after sharded copy"

# Server-side copy inside one account.
as_source "$AWS_ACCESS_KEY_ID2" "$AWS_SECRET_ACCESS_KEY2"
run_qso copy --source "s3://dst/registry?endpoint=$ep" --destination "s3://dst/backup?endpoint=$ep" --concurrency 8
expect_rc 0 "server-side copy"
expect_field serverSideCopies 113 "server-side copy"
expect_field requests.get 0 "server-side copy"

# A corrupted blob (content not matching its key) is caught by --verify-content.
bad=0000000000000000000000000000000000000000000000000000000000000bad
printf 'X-Auth-Token: %s\n' "$tok1" | curl -sS -o /dev/null -H @- -X PUT --data-binary 'corrupt' \
  "$SWIFT_STORAGE_URL/src/registry/sha256/00/$bad"
as_source "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY"
run_qso copy --source "$S1" --destination "$D2" --verify-content
expect_rc 1 "corrupt blob"
expect_field failed.objects 1 "corrupt blob"
jfield firstFailures.0.key | grep "$bad" >/dev/null || fail "the corrupt blob is not named"
[ "$(swift_req "$tok2" HEAD "$SWIFT_STORAGE_URL2/dst/registry/sha256/00/$bad")" = 404 ] || fail "the corrupt blob landed"
# The test planted it; take it out again, or later copies without
# --verify-content carry it and a random verify sample may (rightly) flag it.
[ "$(swift_req "$tok1" DELETE "$SWIFT_STORAGE_URL/src/registry/sha256/00/$bad")" -lt 300 ] ||
  fail "remove the planted corrupt blob"

# Probe: a read-only destination (account 1's reader) is reported at the write
# step; a writable one passes.
as_dest "$AWS_RO_ACCESS_KEY_ID" "$AWS_RO_SECRET_ACCESS_KEY"
run_qso copy --source "$S1" --destination "$S1" --probe
expect_rc 3 "probe of a read-only destination"
expect_field steps.1.result ok "probe: listing works read-only"
expect_field steps.2.result failed "probe: the write fails"
expect_field steps.2.reason Forbidden "probe: the write fails"
as_dest "$AWS_ACCESS_KEY_ID2" "$AWS_SECRET_ACCESS_KEY2"
run_qso copy --source "$S1" --destination "$D2" --probe
expect_rc 0 "probe of a writable destination"

# A proxy in front of Swift that answers 500 to 20% of requests and drops 5%
# of connections: every object still arrives, by retries.
"$py" "$e2e_dir/flaky_proxy.py" "$SWIFT_PROXY_PORT" "$QSO_TMP/flaky.port" --max-seconds 300 &
flaky_pid=$!
for _ in $(seq 50); do [ -s "$QSO_TMP/flaky.port" ] && break; sleep 0.1; done
fep="http://127.0.0.1:$(cat "$QSO_TMP/flaky.port")"
[ "$(swift_req "$tok2" PUT "$SWIFT_STORAGE_URL2/flaky")" -lt 300 ] || fail "create flaky"
as_source "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY"
run_qso copy --source "s3://src/registry?endpoint=$fep" --destination "s3://flaky/r?endpoint=$fep" \
  --retry-base-seconds 0.05 --max-attempts 12 --concurrency 8
kill "$flaky_pid" 2>/dev/null || true
wait "$flaky_pid" 2>/dev/null || true
expect_rc 0 "copy through a flaky proxy"
expect_field failed.objects 0 "copy through a flaky proxy"
[ "$(jfield retries)" -gt 0 ] || fail "the flaky proxy caused no retries"
run_qso verify --source "$S1" --destination "s3://flaky/r?endpoint=$ep" --sample 0
expect_rc 0 "verify after the flaky copy"
# verify's downloads through a proxy failing 12% of requests: a 5xx or a reset
# is retried, never reported as a content mismatch (30 blobs: without retries
# one would fail 98% of the time; with them, 0.07%).
"$py" "$e2e_dir/flaky_proxy.py" "$SWIFT_PROXY_PORT" "$QSO_TMP/flaky2.port" --fail-rate 0.1 \
  --reset-rate 0.02 --seed 3 --max-seconds 300 &
flaky_pid=$!
for _ in $(seq 50); do [ -s "$QSO_TMP/flaky2.port" ] && break; sleep 0.1; done
fep2="http://127.0.0.1:$(cat "$QSO_TMP/flaky2.port")"
run_qso verify --source "$S1" --destination "s3://flaky/r?endpoint=$fep2" --sample 30
kill "$flaky_pid" 2>/dev/null || true
wait "$flaky_pid" 2>/dev/null || true
expect_rc 0 "verify through a flaky proxy"
expect_field contentChecked 30 "verify through a flaky proxy"
expect_field contentMismatch 0 "verify through a flaky proxy"

# Zero-byte objects that are NOT DLO manifests copy as empty objects: the
# blob of no bytes (digest e3b0...) without a HEAD and an empty mutable key.
# An empty object under another digest is resolved by HEAD and, still empty,
# refused: zero bytes never hash to that digest.
empty=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
odd=00000000000000000000000000000000000000000000000000000000000000dd
[ "$(swift_req "$tok1" PUT "$SWIFT_STORAGE_URL/empties")" -lt 300 ] || fail "create empties"
[ "$(swift_req "$tok2" PUT "$SWIFT_STORAGE_URL2/empties")" -lt 300 ] || fail "create empties (2)"
for k in "sha256/e3/$empty" "sha256/00/$odd" _verify; do
  [ "$(swift_req "$tok1" PUT "$SWIFT_STORAGE_URL/empties/r/$k" --data-binary '')" = 201 ] || fail "put empty $k"
done
as_source "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY"
as_dest "$AWS_ACCESS_KEY_ID2" "$AWS_SECRET_ACCESS_KEY2"
run_qso copy --source "s3://empties/r?endpoint=$ep" --destination "s3://empties/r?endpoint=$ep"
expect_rc 1 "empty objects"
expect_field copied.objects 2 "empty objects"
expect_field failed.objects 1 "empty objects"
expect_field requests.head 1 "empty objects: only the blob whose digest is not that of no bytes is resolved"
jfield firstFailures.0.key | grep "$odd" >/dev/null || fail "the empty blob under another digest is not named"
for k in "sha256/e3/$empty" _verify; do
  [ "$(printf 'X-Auth-Token: %s\n' "$tok2" | curl -sS -o /dev/null -w '%{http_code} %{size_download}' -H @- "$SWIFT_STORAGE_URL2/empties/r/$k")" = "200 0" ] ||
    fail "empty object $k did not arrive empty"
done
[ "$(swift_req "$tok2" HEAD "$SWIFT_STORAGE_URL2/empties/r/sha256/00/$odd")" = 404 ] || fail "an empty blob landed under another digest"
run_qso copy --source "s3://empties/r?endpoint=$ep" --destination "s3://empties/r?endpoint=$ep"
expect_field copied.objects 0 "empty objects, second pass"
expect_field same.objects 2 "empty objects, second pass"

# Could not run: bad credentials, a missing bucket.
as_dest "$AWS_ACCESS_KEY_ID2" "not-the-secret"
run_qso copy --source "$S1" --destination "$D2"
expect_rc 3 "bad credentials"
jfield error | grep Unauthorized >/dev/null || fail "bad credentials not reported as such"
as_dest "$AWS_ACCESS_KEY_ID2" "$AWS_SECRET_ACCESS_KEY2"
run_qso copy --source "$S1" --destination "s3://no-such-bucket/x?endpoint=$ep"
expect_rc 3 "missing bucket"
jfield error | grep NoSuchBucket >/dev/null || fail "missing bucket not reported as such"
grep -q "$AWS_SECRET_ACCESS_KEY" "$QSO_TMP/stdout.log" "$QSO_TMP/stderr.log" && fail "a secret was logged"

echo "test_copy_swift: ok"
