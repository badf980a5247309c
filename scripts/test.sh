#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: installs the packages it
# needs, builds with AddressSanitizer + UndefinedBehaviorSanitizer (and checks
# that a Release build compiles warning-free), and runs every test (unit,
# simulator, end-to-end, banned-function check) with ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
qso_install_deps
build=${QSO_BUILD_DIR:-build-asan}
cmake -S . -B "$build" -DQSO_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
cmake --build "$build" -j "$(nproc)"
# The image builds Release (-O3), where gcc warns about more: keep it clean too.
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-release -j "$(nproc)" >/dev/null || cmake --build build-release -j1
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --test-dir "$build" --output-on-failure -j "$(nproc)" "$@"
