#!/usr/bin/python3
"""Model-only throughput of torchvision's VisionTransformer, the Python counterpart of
core/models/vit_bench.cpp: the same options, the same synthetic input, the same timing (--iters
forward passes of one --batch per run, under torch.inference_mode with eval(), median over --runs
after --warmup passes), the same output lines. The classifier head is replaced by Identity so both
programs compute the features only (torchvision's heads are one linear layer: a rounding error).

usage: /usr/bin/python3 bench/vit_python_bench.py [--arch tiny|small|base] [--patch 16] [--size 224]
       [--batch 16] [--iters 2] [--runs 5] [--warmup 1] [--device cpu|cuda] [--dtype fp32|bf16|fp16]
       [--threads N]

Run both with the same --threads: LibTorch and PyTorch pick their own defaults otherwise.
"""
import argparse
import platform
import statistics
import sys
import time

import torch
from torchvision.models.vision_transformer import VisionTransformer

# width, heads (depth 12, mlp 4 x width), as core/models/VisionTransformer.cpp vitPreset().
ARCHS = {"tiny": (192, 3), "small": (384, 6), "base": (768, 12)}
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", choices=ARCHS, default="small")
    p.add_argument("--patch", type=int, default=16)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--iters", type=int, default=2)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--dtype", choices=DTYPES, default="fp32")
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads; 0: PyTorch's default")
    a = p.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    if a.device == "cuda" and not torch.cuda.is_available():
        sys.exit("vit_python_bench.py: --device cuda: this PyTorch has no CUDA or sees no GPU")

    width, heads = ARCHS[a.arch]
    model = VisionTransformer(image_size=a.size, patch_size=a.patch, num_layers=12, num_heads=heads,
                              hidden_dim=width, mlp_dim=4 * width)
    model.heads = torch.nn.Identity()
    model = model.to(device=a.device, dtype=DTYPES[a.dtype]).eval()
    images = torch.randn(a.batch, 3, a.size, a.size, device=a.device, dtype=DTYPES[a.dtype])

    print(f"vit_python_bench: torchvision ViT-{a.arch}/{a.patch} at {a.size} px (width {width}, depth 12, "
          f"heads {heads}, mlp {4 * width}), batch {a.batch}, {a.iters} iters x {a.runs} runs (+{a.warmup} warm-up)")
    print(f"device {a.device}, dtype {a.dtype}, torch threads {torch.get_num_threads()}, PyTorch {torch.__version__}, "
          f"CPU {cpu_model()}")
    rates = []
    with torch.inference_mode():
        # Reading one number back waits for the device, as vit_bench does.
        def one_pass():
            return model(images).float().sum().item()

        for _ in range(a.warmup):
            one_pass()
        for r in range(a.runs):
            start = time.perf_counter()
            for _ in range(a.iters):
                one_pass()
            rates.append(a.batch * a.iters / (time.perf_counter() - start))
            print(f"run {r + 1}: {rates[-1]:.2f} images/s", flush=True)
    print(f"images/s (median of {len(rates)} runs): {statistics.median(rates):.2f} "
          f"[min {min(rates):.2f}, max {max(rates):.2f}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
