#!/usr/bin/env bash
# The README's first command stays true: scripts/demo.sh runs end to end and
# shows a complete, verified copy and the sample StorageMigration in kubectl.
set -euo pipefail
src=$2
out=$(mktemp)
trap 'rm -f "$out"' EXIT
if ! bash "$src/scripts/demo.sh" >"$out" 2>&1; then
  tail -30 "$out"; echo "FAIL: demo.sh exited non-zero"; exit 1
fi
verify=$(grep '"command":"verify"' "$out" | tail -1)
/usr/bin/python3 - "$verify" <<'PY'
import json, sys
v = json.loads(sys.argv[1])
assert v["status"] == "done", v
assert v["missing"]["objects"] == 0 and v["differ"]["objects"] == 0, v
assert v["same"]["objects"] == v["listedSource"]["objects"] > 300, v
assert v["contentChecked"] == 20 and v["contentMismatch"] == 0, v
PY
# The second presync pass ran as an Indexed Job: two shards, each a no-op.
noop=$(sed -n '/presync pass 2/,/FinalSync/p' "$out" | grep '"command":"copy"')
[ "$(grep -c '^  shard [01]: ' <<<"$noop")" = 2 ] || { echo "FAIL: presync pass 2 did not report two shards: $noop"; exit 1; }
if grep -v '"planned":{"objects":0' <<<"$noop" | grep -q .; then
  echo "FAIL: the second presync pass was not a no-op: $noop"; exit 1
fi
# The delta pass copied exactly the 25 new blobs across both shards.
/usr/bin/python3 - "$(sed -n '/FinalSync/,/Verifying/p' "$out" | grep '"command":"copy"' | sed 's/^  shard [01]: //')" <<'PY'
import json, sys
shards = [json.loads(l) for l in sys.argv[1].splitlines()]
assert len(shards) == 2, shards
assert sum(s["copied"]["objects"] for s in shards) == 25, shards
assert all(s["status"] == "done" and s["failed"]["objects"] == 0 for s in shards), shards
PY
grep -q '^registry-to-new-s3 .*QuayRegistry' "$out" || { tail -5 "$out"; echo "FAIL: kubectl did not list the sample StorageMigration"; exit 1; }
# The ReadOnlyWindow part: read-only while active with a live key, normal
# again after the deletion with the key expired and the original bundle back.
grep -q 'runs the readonly configuration; service key .* is alive' "$out" ||
  { echo "FAIL: the window never put the registry read-only with a live key"; exit 1; }
grep -q 'runs the normal configuration again; spec.configBundleSecret: demo-bundle; service key .* is dead' "$out" ||
  { echo "FAIL: the registry did not come back to its original bundle with the key expired"; exit 1; }
echo "demo: ok"
