#!/usr/bin/env bash
# The binary's command line: `version` names the version and its libraries;
# unknown commands and flags are usage errors (exit 2) with a message.
set -euo pipefail
bin="$1/quay-storage-operator"
out=$("$bin" version)
grep -q '^quay-storage-operator [0-9]\+\.[0-9]\+\.[0-9]\+' <<<"$out" || { echo "bad version output: $out"; exit 1; }
grep -q 'libcurl' <<<"$out" || { echo "version does not list libraries"; exit 1; }
"$bin" version -o=json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["version"] and d["curl"]'
set +e
err=$("$bin" no-such-command 2>&1); rc=$?
set -e
[ "$rc" -eq 2 ] || { echo "unknown command exited $rc, want 2"; exit 1; }
grep -q 'unknown command "no-such-command"' <<<"$err" || { echo "no clear error: $err"; exit 1; }
set +e
"$bin" version --bogus >/dev/null 2>&1; rc=$?
set -e
[ "$rc" -eq 2 ] || { echo "unknown flag exited $rc, want 2"; exit 1; }
echo "cli: ok"
