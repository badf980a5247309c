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
noop=$(grep '"command":"copy"' "$out" | sed -n 3p)
grep -q '"planned":{"objects":0' <<<"$noop" || { echo "FAIL: the second presync pass was not a no-op: $noop"; exit 1; }
grep -q '^registry-to-new-s3 .*QuayRegistry' "$out" || { tail -5 "$out"; echo "FAIL: kubectl did not list the sample StorageMigration"; exit 1; }
echo "demo: ok"
