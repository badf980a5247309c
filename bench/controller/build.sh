#!/usr/bin/env bash
# Builds the controller benchmark: an optimised (RelWithDebInfo: -O2, no sanitizers) build of the
# repo's static libraries and of the API simulator in $QSO_BENCH_BUILD
# (default <repo>/build-bench-rel), then bench_controller.c compiled with gcc
# -O2 against them. Nothing is added to CMake: the benchmark is not a test.
#
#   bench/controller/build.sh            # -> <build dir>/bench_controller
#   <build dir>/bench_controller <repo> [--crs 1000] [--creations 200] ...
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
b=${QSO_BENCH_BUILD:-$root/build-bench-rel}
# RelWithDebInfo (-O2 -g): with Release's flags gcc 12 reports false positives
# (stringop-overflow) in tests/kubesim/sim_schema.c that -Werror makes fatal.
cmake -S "$root" -B "$b" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQSO_SANITIZE=OFF >/dev/null
cmake --build "$b" -j2 --target qso_controller qso_quay qso_k8sclient qso_kubesim \
  qso_testsupport kubesim >/dev/null
pkgs="libwebsockets libcurl openssl libcjson yaml-0.1"
# shellcheck disable=SC2046
gcc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wvla \
  -I"$root/controller" -I"$root/k8sclient" -I"$root/quay" -I"$root/tests/support" \
  -I"$root/tests/kubesim" $(pkg-config --cflags $pkgs) \
  "$here/bench_controller.c" -o "$b/bench_controller" \
  "$b/libqso_controller.a" "$b/libqso_quay.a" "$b/tests/libqso_testsupport.a" \
  "$b/tests/kubesim/libqso_kubesim.a" "$b/libqso_k8sclient.a" \
  $(pkg-config --libs $pkgs) -lpthread -lm
echo "$b/bench_controller"
