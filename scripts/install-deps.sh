#!/usr/bin/env bash
# Installs every build, run and test dependency from Debian 12's archive (run as root).
# LibTorch is the one large dependency (core/models); the rest are small libraries.
set -euo pipefail
packages=(
  # build
  cmake g++ make pkg-config
  # engine
  libeigen3-dev libopencv-dev nlohmann-json3-dev zlib1g-dev
  libopenblas-pthread-dev libopenblas0-pthread
  # the ViT encoders: LibTorch (CPU), and PyTorch as the oracle of the parity tests
  libtorch-dev python3-torch python3-torchvision python3-opencv
  # project store: SQLite file, xxHash content hashes
  libsqlite3-dev libxxhash-dev
  # Qt 6: Core and Test for the suite, Widgets for the desktop app; an X server (Xvfb) for the
  # keyboard tests on the xcb platform (tst_keyboard_xcb)
  qt6-base-dev xvfb xauth
  # libFuzzer with ASan/UBSan for the short fuzz pass (scripts/fuzz.sh)
  clang libclang-rt-14-dev
  # the built-in demo and benchmark data set
  dataset-fashion-mnist
  # reference implementations used only by tests and bench/ (never by the product)
  python3-numpy python3-scipy python3-sklearn python3-faiss
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
