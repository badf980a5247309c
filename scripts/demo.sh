#!/usr/bin/env bash
# The product's main job, end to end, on an embedded default (no cluster).
# Until the StorageMigration exists this runs the most complete flow we have.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
qso_install_deps
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQSO_TESTS=OFF >/dev/null
cmake --build build -j "$(nproc)" >/dev/null
./build/quay-storage-operator version
