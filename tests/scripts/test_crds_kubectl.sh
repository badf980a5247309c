#!/usr/bin/env bash
# The user's first contact with the API, driven with the real kubectl against
# a fresh API simulator: `kubectl apply` of the two CRDs in crds/ (waited until
# Established), then every sample under deploy/examples/ applies cleanly, and
# every invalid CR under tests/fixtures/invalid/ is refused with each of the
# messages its `# Expected error:` header lines name (the messages name the
# field, which is what a user needs). A two-document invalid file is an update
# case: the first document is created, the second must be refused.
# Args: <build dir> <source dir>.
set -euo pipefail
build=${1:?build dir}
src=${2:?source dir}
bin="$build/tests/kubesim/kubesim"
command -v kubectl >/dev/null || { echo "SKIP: kubectl not installed"; exit 0; }
[ -x "$bin" ] || { echo "FAIL: no simulator at $bin" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/crds-kubectl-XXXXXX")
state="$work/state"
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  [ -f "$work/kubesim.log" ] && tail -20 "$work/kubesim.log" >&2
  exit 1
}

"$bin" --state-dir "$state" --port 0 --exit-after 300 \
  --fixtures "$src/tests/fixtures/crds" >"$work/kubesim.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do [ -f "$state/ready" ] && break; sleep 0.1; done
[ -f "$state/ready" ] || fail "kubesim did not start"
export KUBECONFIG="$state/kubeconfig" KUBECACHEDIR="$work/cache" HOME="$work"

# The CRDs; crds/kustomization.yaml is for `kubectl apply -k`, not a manifest.
crd_files=()
for f in "$src"/crds/*.yaml; do
  [ "$(basename "$f")" = kustomization.yaml ] && continue
  crd_files+=("$f")
done
[ "${#crd_files[@]}" -eq 2 ] || fail "expected 2 CRD files in crds/, found ${#crd_files[@]}"
for f in "${crd_files[@]}"; do
  out=$(kubectl apply -f "$f" 2>&1) || fail "kubectl apply -f $f: $out"
  grep -q 'customresourcedefinition.apiextensions.k8s.io/.* created' <<<"$out" ||
    fail "kubectl apply -f $f: unexpected output: $out"
done
for crd in storagemigrations.quaystorage.io readonlywindows.quaystorage.io; do
  out=$(kubectl wait --for=condition=Established "crd/$crd" --timeout=30s 2>&1) ||
    fail "CRD $crd not Established: $out"
done

# The namespaces the samples and invalid CRs live in, as YAML: `kubectl create
# namespace` sends protobuf, which the simulator refuses.
namespaces=$(cat "$src"/deploy/examples/*.yaml "$src"/tests/fixtures/invalid/*.yaml |
  sed -nE 's/^  namespace: *([a-z0-9-]+) *$/\1/p' | sort -u)
[ -n "$namespaces" ] || fail "no namespace found in the examples"
for ns in $namespaces; do
  printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n' "$ns" >"$work/ns-$ns.yaml"
  out=$(kubectl apply -f "$work/ns-$ns.yaml" 2>&1) || fail "namespace $ns: $out"
done

# Every sample applies cleanly, and reads back.
n_examples=0
for f in "$src"/deploy/examples/*.yaml; do
  out=$(kubectl apply -f "$f" 2>&1) || fail "example $(basename "$f") refused: $out"
  grep -qE '^(storagemigration|readonlywindow)\.quaystorage\.io/[a-z0-9.-]+ created$' <<<"$out" ||
    fail "example $(basename "$f"): unexpected output: $out"
  out=$(kubectl get -f "$f" -o name 2>&1) || fail "example $(basename "$f") not readable: $out"
  n_examples=$((n_examples + 1))
done
[ "$n_examples" -gt 0 ] || fail "no examples in deploy/examples/"

# Every invalid CR is refused with each expected message.
n_invalid=0
for f in "$src"/tests/fixtures/invalid/*.yaml; do
  name=$(basename "$f" .yaml)
  mapfile -t expected < <(sed -nE 's/^# Expected error: (.*)$/\1/p' "$f")
  [ "${#expected[@]}" -gt 0 ] || fail "$name: no '# Expected error:' line"
  # Split on document separators: doc-1.yaml, doc-2.yaml, ...
  rm -f "$work"/doc-*.yaml
  awk -v dir="$work" 'BEGIN { n = 1 } /^---[ \t]*$/ { n++; next }
    { print > (dir "/doc-" n ".yaml") }' "$f"
  ndocs=$(find "$work" -maxdepth 1 -name 'doc-*.yaml' | wc -l)
  case "$ndocs" in
  1) bad="$work/doc-1.yaml" ;;
  2)
    out=$(kubectl apply -f "$work/doc-1.yaml" 2>&1) ||
      fail "$name: the first (existing) document was refused: $out"
    bad="$work/doc-2.yaml"
    ;;
  *) fail "$name: $ndocs documents; expected 1 or 2" ;;
  esac
  if out=$(kubectl apply -f "$bad" 2>&1); then
    fail "$name: accepted, should have been refused: $out"
  fi
  for e in "${expected[@]}"; do
    grep -qF -- "$e" <<<"$out" || fail "$name: expected message not found.
  expected: $e
  got:      $out"
  done
  # Nothing invalid was stored as a side effect (the update case keeps doc 1).
  if [ "$ndocs" = 1 ] && kubectl get -f "$bad" -o name >/dev/null 2>&1; then
    fail "$name: refused but stored anyway"
  fi
  n_invalid=$((n_invalid + 1))
done

echo "PASS: 2 CRDs Established, $n_examples examples applied, $n_invalid invalid CRs refused as expected"
