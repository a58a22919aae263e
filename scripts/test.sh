#!/usr/bin/env bash
# Installs dependencies, builds, and runs the whole Qt Test suite with ctest. Fails when a test fails.
# Then builds the two other configurations a user may choose and runs the tests that depend on them.
# Prints each stage's wall time.
set -euo pipefail
cd "$(dirname "$0")/.."
stage() {
    local start=$SECONDS
    "$@"
    echo "test.sh: $((SECONDS - start)) s: $*"
}
stage scripts/install-deps.sh
stage scripts/build.sh
stage ctest --test-dir build --output-on-failure --timeout 900
# A short bounded fuzz pass over the readers of untrusted files, 15 s a target, about 2 minutes
# with the clang build (docs/fuzzing.md). Longer runs: scripts/fuzz.sh 600.
stage scripts/fuzz.sh 15
# Without the GUI (no Qt Widgets: the engine and the CLI stand alone) and without LibTorch (PCA
# only), each built whole. Without the GUI the test programs are the default build's (same sources
# and flags, none links Qt Widgets), so only the CLI's end-to-end tests run again, on that build's
# CLI. Without LibTorch the encoders and the app are compiled differently, so its whole suite runs
# (a vit: spec is refused with a message naming LibTorch; no test may skip). What they cost:
# README.md, "Building and testing by hand".
LABELPROP_BUILD_DIR=build-nogui stage scripts/build.sh -DLABELPROP_BUILD_GUI=OFF
stage ctest --test-dir build-nogui --output-on-failure --timeout 900 --no-tests=error -R '^tst_(cli|project_cli)$'
LABELPROP_BUILD_DIR=build-notorch stage scripts/build.sh -DLABELPROP_WITH_TORCH=OFF
stage ctest --test-dir build-notorch --output-on-failure --timeout 900
echo "test.sh: $SECONDS s in all"
