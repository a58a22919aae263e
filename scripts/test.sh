#!/usr/bin/env bash
# Installs dependencies, builds, and runs the whole Qt Test suite with ctest. Fails when a test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
ctest --test-dir build --output-on-failure --timeout 900
