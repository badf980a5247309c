#!/usr/bin/env bash
# Builds every libFuzzer target of tests/fuzz/ (JSON patches, the watch
# decoder, the CEL subset, Quay's YAML model, the S3/Swift listing parsers) with clang -fsanitize=fuzzer,address,undefined, plus seed corpora
# and a dictionary. Not part of CMake and not run in CI: it needs clang with
# its compiler-rt runtime (Debian 12: `apt-get install clang`).
#
# Usage:
#   tests/fuzz/build.sh [OUTDIR]          # default: build-fuzz/ in the repo root
#   OUTDIR/fuzz_json_patch -max_total_time=60 -dict=OUTDIR/json.dict OUTDIR/corpus-json-patch
#   OUTDIR/fuzz_watch_decoder -max_total_time=60 -dict=OUTDIR/json.dict OUTDIR/corpus-watch
# A crash leaves crash-<sha1> in the current directory; replay it with
#   OUTDIR/fuzz_json_patch crash-<sha1>
# Input formats: fuzz_json_patch takes a flags byte (bit 0: apiserver mode),
# then "<document>\n<patch>"; fuzz_watch_decoder takes a chunking-seed byte,
# then the watch response body. cJSON is the system's shared library, so it is
# neither instrumented nor checked by ASan inside; our code around it is.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$src/build-fuzz}
mkdir -p "$out"
command -v clang >/dev/null || { echo "clang not found: apt-get install clang" >&2; exit 1; }

cflags=(-std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
        -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla
        -I"$src/k8sclient" $(pkg-config --cflags libcjson))
libs=($(pkg-config --libs libcjson))
lib_srcs=("$src/k8sclient/k8s_patch.c" "$src/k8sclient/k8s_watch_decoder.c"
          "$src/k8sclient/k8s_error.c" "$src/k8sclient/k8s_buf.c")

for t in fuzz_json_patch fuzz_watch_decoder; do
  clang "${cflags[@]}" "$src/tests/fuzz/$t.c" "${lib_srcs[@]}" "${libs[@]}" -o "$out/$t"
  echo "built $out/$t"
done

# Targets over other libraries' sources.
clang "${cflags[@]}" -I"$src/tests/kubesim" "$src/tests/fuzz/fuzz_sim_cel.c" \
  "$src/tests/kubesim/sim_cel.c" "${libs[@]}" -lm -o "$out/fuzz_sim_cel"
clang "${cflags[@]}" -I"$src/quay" "$src/tests/fuzz/fuzz_quay_yaml.c" \
  "$src"/quay/quay_{yaml,bundle,drivers,overlay}.c "$src"/k8sclient/k8s_{buf,error}.c \
  -lyaml -lcrypto "${libs[@]}" -o "$out/fuzz_quay_yaml"
clang "${cflags[@]}" -I"$src/storage" "$src/tests/fuzz/fuzz_stor_listing.c" "$src"/storage/stor_*.c \
  "$src/k8sclient/k8s_log.c" \
  $(pkg-config --libs libcurl libcrypto) "${libs[@]}" -lpthread -o "$out/fuzz_stor_listing"
echo "built $out/fuzz_sim_cel $out/fuzz_quay_yaml $out/fuzz_stor_listing"

# Seeds: the RFC examples and a realistic watch stream. A seed's first byte
# is the flags/chunking byte.
seed() { # dir name content
  mkdir -p "$out/$1"
  printf '%s' "$3" > "$out/$1/$2"
}
seed corpus-json-patch a1 $'\x00{"foo":"bar"}\n[{"op":"add","path":"/baz","value":"qux"}]'
seed corpus-json-patch a2 $'\x00{"foo":["bar","baz"]}\n[{"op":"add","path":"/foo/1","value":"qux"}]'
seed corpus-json-patch a6 $'\x00{"foo":{"bar":"baz","waldo":"fred"},"qux":{"corge":"grault"}}\n[{"op":"move","from":"/foo/waldo","path":"/qux/thud"}]'
seed corpus-json-patch a7 $'\x00{"foo":["all","grass","cows","eat"]}\n[{"op":"move","from":"/foo/1","path":"/foo/3"}]'
seed corpus-json-patch a8 $'\x01{"baz":"qux","foo":["a",2,"c"]}\n[{"op":"test","path":"/baz","value":"qux"},{"op":"test","path":"/foo/-1","value":"c"}]'
seed corpus-json-patch a14 $'\x00{"/":9,"~1":10}\n[{"op":"test","path":"/~01","value":10}]'
seed corpus-json-patch copy $'\x00{"a":{"b":[1,{"c":null}]}}\n[{"op":"copy","from":"/a","path":"/d"},{"op":"replace","path":"/a/b/0","value":2},{"op":"remove","path":"/a/b/1"}]'
seed corpus-json-patch merge $'\x00{"title":"Goodbye!","author":{"givenName":"John","familyName":"Doe"},"tags":["example","sample"]}\n{"title":"Hello!","author":{"familyName":null},"tags":["example"],"n":9007199254740992}'
seed corpus-watch events $'\x07{"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"1"}}}\n{"type":"MODIFIED","object":{"metadata":{"resourceVersion":"2"},"data":{"k":"v"}}}\n\n{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"3"}}}\r\n{"type":"ERROR","object":{"kind":"Status","code":410,"reason":"Expired","message":"too old"}}\n'
seed corpus-watch stop $'\x03{"type":"DELETED","object":{"stop":1}}\n{"type":"ADDED","object":{}}\n{"type":'
seed corpus-watch bad $'\x01{"type":"ADDED"}\nnot json\n'

cat > "$out/json.dict" <<'EOF'
"{"
"}"
"["
"]"
":"
","
"\x0a"
"null"
"true"
"false"
"\"op\""
"\"path\""
"\"from\""
"\"value\""
"\"add\""
"\"remove\""
"\"replace\""
"\"move\""
"\"copy\""
"\"test\""
"\"/\""
"\"/-\""
"~0"
"~1"
"\"type\""
"\"object\""
"\"ADDED\""
"\"MODIFIED\""
"\"DELETED\""
"\"BOOKMARK\""
"\"ERROR\""
"\"metadata\""
"\"resourceVersion\""
"\"code\""
"\"reason\""
"\"details\""
"\"causes\""
"9007199254740993"
"1e999"
EOF
echo "seeds in $out/corpus-json-patch and $out/corpus-watch, dictionary $out/json.dict"
