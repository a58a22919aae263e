#!/usr/bin/python3
"""How long reading a ViT's weights takes: Labelprop's readers (weights_bench) beside PyTorch's
torch.load, on the same files, in one run (bench/README.md).

    /usr/bin/python3 bench/weights_bench.py --bench build/bin/weights_bench [--runs N] [--out DIR]

Writes torchvision's ViT-S/16 (the timm/DeiT-S shape: 12 blocks, width 384, 6 heads) and ViT-B/16
at 224 px with random weights (no download) into DIR, as torch.save(state_dict()) (.pt) and as
safetensors (.safetensors, tests/data/safetensors_writer.py), then times, after one untimed read
of each file (so both sides read from the page cache):
  - weights_bench: readWeights on each file (the median of --runs reads);
  - torch.load(file, map_location="cpu") on each .pt, in this Python (the median of --runs).
Needs /usr/bin/python3 with python3-torch and python3-torchvision.
"""

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time

import torch
import torchvision

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data"))
from safetensors_writer import safetensors_bytes  # noqa: E402


def cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", default="build/bin/weights_bench", help="the weights_bench binary")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", default="/tmp/labelprop-weights-bench")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    models = {
        "vit_s16": torchvision.models.VisionTransformer(image_size=224, patch_size=16, num_layers=12, num_heads=6,
                                                        hidden_dim=384, mlp_dim=1536),
        "vit_b16": torchvision.models.vit_b_16(),
    }
    files = []
    for name, model in models.items():
        sd = model.state_dict()
        pt = os.path.join(args.out, name + ".pt")
        st = os.path.join(args.out, name + ".safetensors")
        torch.save(sd, pt)
        with open(st, "wb") as f:
            f.write(safetensors_bytes(list(sd.items())))
        files += [pt, st]

    print(f"CPU: {cpu_model()}; PyTorch {torch.__version__}; {args.runs} timed reads per file")
    print("Labelprop (readWeights):", flush=True)
    subprocess.run([args.bench, "--runs", str(args.runs)] + files, check=True)
    print("PyTorch (torch.load, map_location='cpu'):")
    print(f"{'file':40} {'MB':>9} {'median_s':>8} {'min_s':>8} {'max_s':>8} {'MB/s':>9}")
    for f in files:
        if not f.endswith(".pt"):
            continue
        torch.load(f, map_location="cpu")
        seconds = []
        for _ in range(args.runs):
            start = time.perf_counter()
            torch.load(f, map_location="cpu")
            seconds.append(time.perf_counter() - start)
        mb = os.path.getsize(f) / 1e6
        med = statistics.median(seconds)
        print(f"{os.path.basename(f):40} {mb:9.1f} {med:8.3f} {min(seconds):8.3f} {max(seconds):8.3f} {mb / med:9.0f}")


if __name__ == "__main__":
    main()
