#!/usr/bin/env bash
# Installs every build, run and test dependency from Debian 12's archive (run as root).
set -euo pipefail
packages=(
  # build
  cmake g++ make pkg-config
  # engine
  libeigen3-dev libnanoflann-dev libopencv-dev nlohmann-json3-dev zlib1g-dev libsqlite3-dev
  libopenblas-pthread-dev libopenblas0-pthread
  # Qt 6 (Qt Test for the suite; Charts for the desktop app's plots)
  qt6-base-dev qt6-charts-dev libqt6opengl6-dev libgl-dev
  # the built-in demo and benchmark data set
  dataset-fashion-mnist
  # reference implementations used only by tests and bench/ (never by the product)
  python3-numpy python3-scipy python3-sklearn python3-faiss
  xvfb xauth
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends "${missing[@]}"
fi
