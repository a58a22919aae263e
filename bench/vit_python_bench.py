#!/usr/bin/python3
"""Model-only throughput of torchvision's VisionTransformer, the Python counterpart of
core/models/vit_bench.cpp: the same options, the same synthetic input, the same timing (--iters
forward passes of one --batch per run, under torch.inference_mode with eval(), median over --runs
after --warmup passes, a run during which other processes kept more than --max-others cores busy
taken again, at most 2 x --runs times), the same output lines. The classifier head is replaced by Identity so both
programs compute the features only (torchvision's heads are one linear layer: a rounding error).

usage: /usr/bin/python3 bench/vit_python_bench.py [--arch tiny|small|base] [--patch 16] [--size 224]
       [--batch 16] [--iters 2] [--runs 5] [--warmup 1] [--device cpu|cuda] [--dtype fp32|bf16|fp16]
       [--threads N] [--blas-threads N] [--max-others CORES]

Run both with the same --threads (it sets PyTorch's and OpenBLAS's threads): LibTorch and PyTorch
pick their own defaults otherwise.
"""
import argparse
import ctypes
import os
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


def machine_busy_seconds():
    """Busy CPU seconds of the whole machine (/proc/stat's first line without idle and iowait)."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return float("nan")
    ticks = [int(v) for v in fields[1:9]]  # user nice system idle iowait irq softirq steal
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def set_openblas_threads(threads):
    """Debian's PyTorch runs its GEMMs in OpenBLAS, whose threads torch.set_num_threads does not
    set; vit_bench sets them the same way. None where no OpenBLAS is loaded (pip's PyTorch: MKL)."""
    try:
        lib = ctypes.CDLL("libopenblas.so.0")  # the copy torch loaded, if any
    except OSError:
        return None
    if threads > 0:
        lib.openblas_set_num_threads(threads)
    return lib.openblas_get_num_threads()


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
    p.add_argument("--blas-threads", type=int, default=0, help="OpenBLAS's threads alone; 0: as --threads")
    p.add_argument("--max-others", type=float, default=0.25,
                   help="a run during which other processes used more cores is taken again")
    a = p.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    blas_threads = set_openblas_threads(a.blas_threads or a.threads)
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
    print(f"device {a.device}, dtype {a.dtype}, torch threads {torch.get_num_threads()}, "
          f"OpenBLAS threads {'n/a' if blas_threads is None else blas_threads}, PyTorch {torch.__version__}, "
          f"CPU {cpu_model()}")
    with torch.inference_mode():
        # Reading one number back waits for the device, as vit_bench does.
        def one_pass():
            return model(images).float().sum().item()

        for _ in range(a.warmup):
            one_pass()
        kept = []  # (images/s, others' cores)
        disturbed = 0
        attempt = 0
        while len(kept) < a.runs and attempt < 3 * a.runs:
            attempt += 1
            busy, own = machine_busy_seconds(), time.process_time()
            start = time.perf_counter()
            for _ in range(a.iters):
                one_pass()
            seconds = time.perf_counter() - start
            # Cores other processes kept busy meanwhile (the process's own CPU time is every thread's).
            others = max(0.0, (machine_busy_seconds() - busy - (time.process_time() - own)) / seconds)
            # The last attempts keep what they get, so that a busy machine still gives a figure.
            retake = others > a.max_others and attempt + (a.runs - len(kept)) <= 3 * a.runs
            print(f"run {attempt}: {a.batch * a.iters / seconds:.2f} images/s (others {others:.2f} cores)"
                  + (", disturbed: taken again" if retake else ""), flush=True)
            if retake:
                disturbed += 1
            else:
                kept.append((a.batch * a.iters / seconds, others))
    rates = [r for r, _ in kept]
    print(f"images/s (median of {len(rates)} runs): {statistics.median(rates):.2f} "
          f"[min {min(rates):.2f}, max {max(rates):.2f}]; others up to {max(o for _, o in kept):.2f} cores in kept "
          f"runs, {disturbed} disturbed runs taken again")
    return 0


if __name__ == "__main__":
    sys.exit(main())
