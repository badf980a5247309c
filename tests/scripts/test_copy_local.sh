#!/usr/bin/env bash
# The copy engine between two local directories (a PVC, Quay's LocalStorage):
# full copy, no-op re-copy, incremental copy of 50 new blobs, the source never
# modified, shards that partition the keys, --verify-content catching a
# corrupted blob, verify finding a missing blob, the probe, usage errors and
# the bounded termination message.
set -euo pipefail
build=$1 src_root=$2
QSO_BIN=$build/quay-storage-operator
QSO_TMP=$(mktemp -d)
trap 'rm -rf "$QSO_TMP"' EXIT
. "$src_root/tests/e2e/copy/lib.sh"
export QSO_LOG_LEVEL=warn

src=$QSO_TMP/src dst=$QSO_TMP/dst term=$QSO_TMP/termination-log
mkdir -p "$src" "$dst"
gen_store "$src" 40 --seed 1
before=$(tree_sums "$src")

# Full copy: 40 blobs and _verify; uploads/ is skipped.
run_qso copy --source "$src" --destination "file://$dst" --termination-log "$term"
expect_rc 0 "full copy"
expect_field copied.objects 41 "full copy"
expect_field skipped.objects 1 "full copy"
expect_field status done "full copy"
[ ! -e "$dst/uploads" ] || fail "uploads/ was copied"
diff <(tree_sums "$src" | grep -v uploads/) <(tree_sums "$dst") >/dev/null || fail "trees differ after the full copy"
# The termination message is the summary, valid JSON, under 4 KiB.
[ -s "$term" ] || fail "no termination message"
[ "$(wc -c <"$term")" -lt 4096 ] || fail "termination message too long"
[ "$(jfield status "$(cat "$term")")" = done ] || fail "termination message: $(cat "$term")"

# No-op re-copy: nothing copied, everything "same".
run_qso copy --source "$src" --destination "$dst"
expect_rc 0 "no-op"
expect_field copied.objects 0 "no-op"
expect_field same.objects 41 "no-op"

# Incremental: 50 new blobs.
gen_store "$src" 50 --seed 2 --no-extras
run_qso copy --source "$src" --destination "$dst" --concurrency 4
expect_rc 0 "incremental"
expect_field copied.objects 50 "incremental"
expect_field same.objects 41 "incremental"
diff <(tree_sums "$src" | grep -v uploads/) <(tree_sums "$dst") >/dev/null || fail "trees differ after the incremental copy"

# The source was never modified by any of this.
(cd "$src" && echo "$before" | sha256sum -c --quiet) || fail "the source changed"

# Shards 0..2 of 3 into an empty destination: together they copy everything once.
sdst=$QSO_TMP/sharded
mkdir -p "$sdst"
total=0
for i in 0 1 2; do
  run_qso copy --source "$src" --destination "$sdst" --shard "$i/3"
  expect_rc 0 "shard $i/3"
  n=$(jfield copied.objects)
  [ "$n" -gt 0 ] || fail "shard $i/3 copied nothing"
  total=$((total + n))
done
[ "$total" -eq 91 ] || fail "shards copied $total objects, want 91"
diff <(tree_sums "$src" | grep -v uploads/) <(tree_sums "$sdst") >/dev/null || fail "sharded copy differs"
# Indexed-Job form: the shard index from JOB_COMPLETION_INDEX.
JOB_COMPLETION_INDEX=1 run_qso copy --source "$src" --destination "$sdst" --shards 3
expect_rc 0 "shard from JOB_COMPLETION_INDEX"
expect_field copied.objects 0 "shard from JOB_COMPLETION_INDEX"

# verify: complete, then one blob missing and one truncated.
run_qso verify --source "$src" --destination "$dst" --sample 5
expect_rc 0 "verify of a complete copy"
expect_field contentChecked 5 "verify sample"
victim=$(cd "$dst" && find sha256 -type f | sort | sed -n 1p)
victim2=$(cd "$dst" && find sha256 -type f | sort | sed -n 2p)
rm "$dst/$victim"
head -c 10 "$src/$victim2" >"$dst/$victim2"
run_qso verify --source "$src" --destination "$dst"
expect_rc 1 "verify with offenders"
expect_field missing.objects 1 "verify with offenders"
expect_field differ.objects 1 "verify with offenders"
jfield firstOffenders | grep "${victim##*/}" >/dev/null || fail "verify does not name the missing blob"
[ "$(jfield firstOffenders | "$py" -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 2 ] || fail "verify names $(jfield firstOffenders)"
run_qso verify --source "$src" --destination "$dst" --max-offenders 1
expect_rc 1 "verify --max-offenders 1"
[ "$(jfield firstOffenders | "$py" -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 1 ] || fail "--max-offenders 1 named $(jfield firstOffenders)"
expect_field missing.objects 1 "verify --max-offenders 1"

# --verify-content: a blob whose content does not match its key never lands.
bad=$QSO_TMP/bad bdst=$QSO_TMP/bad-dst
mkdir -p "$bad/sha256/ab" "$bdst"
gen_store "$bad" 3 --seed 3 --no-extras
echo "not what the digest says" >"$bad/sha256/ab/ab$(printf '0%.0s' $(seq 62))"
run_qso copy --source "$bad" --destination "$bdst" --verify-content
expect_rc 1 "corrupt blob"
expect_field failed.objects 1 "corrupt blob"
expect_field copied.objects 3 "corrupt blob"
jfield firstFailures.0.error | grep IntegrityError >/dev/null || fail "corruption not reported as such"
[ ! -e "$bdst/sha256/ab/ab$(printf '0%.0s' $(seq 62))" ] || fail "the corrupt blob landed"

# Dry run: plans, copies nothing.
ddst=$QSO_TMP/dry
mkdir -p "$ddst"
run_qso copy --source "$src" --destination "$ddst" --dry-run
expect_rc 0 "dry run"
expect_field planned.objects 91 "dry run"
[ -z "$(ls -A "$ddst")" ] || fail "dry run wrote something"

# Probe of a writable directory.
run_qso copy --source "$src" --destination "$dst" --probe
expect_rc 0 "probe"
expect_field status ok "probe"
[ -z "$(find "$dst" -maxdepth 1 -name '.qso-probe-*')" ] || fail "probe key left behind"

# Could not run: a missing directory -> 3; usage errors -> 2.
run_qso copy --source "$QSO_TMP/nope" --destination "$dst"
expect_rc 3 "missing source directory"
expect_field status error "missing source directory"
run_qso copy --destination "$dst"
expect_rc 2 "no --source"
run_qso copy --source "s3://b/p?secret_access_key=x" --destination "$dst"
expect_rc 2 "secret in a spec"
grep -q "looks like a secret" "$QSO_TMP/stderr.log" || fail "no clear message for a secret in a spec"
run_qso copy --source "$src" --destination "$dst" --concurrency 0
expect_rc 2 "bad --concurrency"

[ "$(find "$src" -type f | wc -l)" -eq 92 ] || fail "source changed"
echo "test_copy_local: ok"
