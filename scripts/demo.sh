#!/usr/bin/env bash
# Installs dependencies, builds, and runs the built-in demo on Fashion-MNIST into labelprop-demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
build/bin/labelprop-cli demo --out labelprop-demo "$@"
