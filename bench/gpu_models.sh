#!/usr/bin/env bash
# The one prepared run for a GPU machine (the H200 lent now and then): builds core/models alone
# against the CUDA LibTorch inside its pip PyTorch (it has none of our Debian packages, so only this
# LibTorch-only target builds there) and times the native ViT, model only, for ViT-S/16 and
# ViT-B/16 at 224 px in fp32 and bf16, beside torchvision's from Python with the same settings.
# Prints the figures and copies them to $OUT (the device tool brings $OUT back).
#
#   bash bench/gpu_models.sh            # about 3 minutes once built; the build takes a few
#
# The whole pipeline (decode, resize on CPU threads) needs OpenCV and cannot be built there; its CPU
# side is measured on the development machine instead (bench/vit_pipeline_bench.py), and the share
# of the GPU's throughput it keeps follows from the two.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-/tmp/labelprop-gpu}"
mkdir -p "$out"
torch_dir="$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')/Torch"
{
  echo "== $(date -u) $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null || echo 'no nvidia-smi')"
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())'
  lscpu | grep -E "Model name|^CPU\(s\)"
} | tee "$out/gpu_models.txt"
generator=(); command -v ninja > /dev/null && generator=(-G Ninja)
cmake -S core/models -B build-gpu "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DTorch_DIR="$torch_dir" 2>&1 | tail -3
cmake --build build-gpu 2>&1 | tail -2
for arch in small base; do
  for dtype in fp32 bf16; do
    for side in cpp python; do
      if [ "$side" = cpp ]; then
        cmd=(build-gpu/vit_bench)
      else
        cmd=(python3 bench/vit_python_bench.py)
      fi
      "${cmd[@]}" --arch "$arch" --patch 16 --size 224 --batch 256 --iters 10 --runs 5 --warmup 3 \
        --device cuda --dtype "$dtype" --threads 4 2>&1 | grep -E "^vit_bench:|^vit_python_bench|^device|median|torchvision" | tee -a "$out/gpu_models.txt"
    done
  done
done
