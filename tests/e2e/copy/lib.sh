# Helpers for the copy engine's end-to-end tests (sourced, bash).
# Every run keeps its summary (the last stdout line) in $QSO_LAST and its
# exit code in $QSO_RC; stderr goes to $QSO_TMP/stderr.log.

e2e_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
py=/usr/bin/python3

fail() {
  echo "FAIL: $*" >&2
  [ -n "${QSO_LAST:-}" ] && echo "last summary: $QSO_LAST" >&2
  [ -f "$QSO_TMP/stderr.log" ] && tail -20 "$QSO_TMP/stderr.log" >&2
  exit 1
}

# run_qso <args...>: runs the binary, keeps summary and exit code.
run_qso() {
  set +e
  "$QSO_BIN" "$@" >"$QSO_TMP/stdout.log" 2>>"$QSO_TMP/stderr.log"
  QSO_RC=$?
  set -e
  QSO_LAST=$(tail -n 1 "$QSO_TMP/stdout.log")
}

# jfield <dotted.path> [json]: a field of the last summary (or of json).
jfield() {
  local json=${2:-$QSO_LAST}
  "$py" -c '
import json, sys
v = json.loads(sys.argv[2])
for p in sys.argv[1].split("."):
    v = v[int(p)] if isinstance(v, list) else v.get(p)
    if v is None:
        break
print("" if v is None else (json.dumps(v) if isinstance(v, (dict, list)) else v))
' "$1" "$json"
}

expect_rc() { [ "$QSO_RC" -eq "$1" ] || fail "$2: exit $QSO_RC, want $1"; }
expect_field() {
  local got
  got=$(jfield "$1")
  [ "$got" = "$2" ] || fail "$3: $1 = '$got', want '$2'"
}

# tree_sums DIR: "sha256sum path" of every file, sorted (for comparing trees).
tree_sums() { (cd "$1" && find . -type f ! -name '.qso-*' -print0 | sort -z | xargs -0 -r sha256sum); }

gen_store() { "$py" "$e2e_dir/gen_store.py" "$@" >/dev/null; }
