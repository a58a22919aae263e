#!/usr/bin/env bash
# Configures and builds into build/ (Release), or into $LABELPROP_BUILD_DIR. Extra arguments go to
# cmake's configure step, e.g. LABELPROP_BUILD_DIR=build-nogui scripts/build.sh -DLABELPROP_BUILD_GUI=OFF
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${LABELPROP_BUILD_DIR:-build}
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build "$dir" -j"$(nproc)"
