#!/usr/bin/env bash
# Installs dependencies, builds, and runs the whole Qt Test suite with ctest. Fails when a test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
ctest --test-dir build --output-on-failure --timeout 900
# A short bounded fuzz pass over the readers of untrusted files, 15 s a target, about 2 minutes
# with the clang build (docs/fuzzing.md). Longer runs: scripts/fuzz.sh 600.
scripts/fuzz.sh 15
