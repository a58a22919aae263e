#!/usr/bin/python3
"""Whole-pipeline throughput of Labelprop's ViT encoder against torchvision's ViT from Python, side
by side in one run (issue 8, section 3): `labelprop-cli embed FOLDER --encoder vit:WEIGHTS` decodes,
resizes, crops and normalises every JPEG itself and runs the native ViT; the Python side gets the
same images already decoded and preprocessed (no decode, no resize: the model alone), with the
same Debian PyTorch, the same batch and the same threads (1 PyTorch + --threads OpenBLAS threads,
the faster split for both; see bench/README.md, "Threads").

usage: /usr/bin/python3 bench/vit_pipeline_bench.py --cli build/bin/labelprop-cli
       [--archs tiny,small,base] [--images 64] [--threads 2] [--batch 16] [--runs 3] [--out DIR]

Writes --images colour JPEGs (640 x 480, like photos) and, per arch, a torchvision ViT with random
weights saved with torch.save(model.state_dict()); prints images/s for both (median of --runs) and
their ratio. Random weights cost exactly what trained ones do.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time

import numpy as np
import torch
from torchvision.models.vision_transformer import VisionTransformer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vit_python_bench import ARCHS, cpu_model, set_openblas_threads  # noqa: E402

try:
    import cv2
except ImportError:
    sys.exit("vit_pipeline_bench.py: needs python3-opencv (to write the JPEGs and preprocess them for the Python side)")


def write_images(folder, count):
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(1)
    for i in range(count):
        x = rng.integers(0, 256, (480, 640, 3)).astype(np.uint8)
        x = cv2.GaussianBlur(x, (0, 0), sigmaX=6)
        cv2.imwrite(f"{folder}/img{i:04d}.jpg", x, [cv2.IMWRITE_JPEG_QUALITY, 90])


def preprocessed(folder, count):
    """The Python side's input: decoded and preprocessed beforehand, as ModelInput.h does."""
    mean = np.array([0.485, 0.456, 0.406], np.float32)
    std = np.array([0.229, 0.224, 0.225], np.float32)
    out = []
    for i in range(count):
        rgb = cv2.cvtColor(cv2.imread(f"{folder}/img{i:04d}.jpg"), cv2.COLOR_BGR2RGB)
        rgb = cv2.resize(rgb, (341, 256), interpolation=cv2.INTER_AREA)[16:240, 58:282]
        out.append(((rgb.astype(np.float32) / 255 - mean) / std).transpose(2, 0, 1))
    return torch.from_numpy(np.ascontiguousarray(np.stack(out)))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cli", required=True)
    p.add_argument("--archs", default="tiny,small,base")
    p.add_argument("--images", type=int, default=64)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--out", default="/tmp/labelprop-vit-pipeline-bench")
    a = p.parse_args()
    folder, single = f"{a.out}/images", f"{a.out}/one"
    write_images(folder, a.images)
    os.makedirs(single, exist_ok=True)
    if not os.path.exists(f"{single}/img0000.jpg"):
        os.link(f"{folder}/img0000.jpg", f"{single}/img0000.jpg")
    x = preprocessed(folder, a.images)
    # Python gets the thread setting that is fastest for it too (bench/README.md, "Threads"): one
    # PyTorch thread, --threads OpenBLAS threads, as labelprop's encoder sets for itself.
    torch.set_num_threads(1)
    set_openblas_threads(a.threads)
    print(f"CPU: {cpu_model()}, {os.cpu_count()} hardware threads; threads {a.threads}, batch {a.batch}, "
          f"{a.images} JPEGs 640 x 480; torch {torch.__version__}")
    print(f"{'model':<12} {'labelprop embed, decode included':>33} {'(with model load)':>18} "
          f"{'torchvision, model only':>25} {'ratio':>7}")
    for arch in a.archs.split(","):
        width, heads = ARCHS[arch]
        model = VisionTransformer(image_size=224, patch_size=16, num_layers=12, num_heads=heads, hidden_dim=width,
                                  mlp_dim=4 * width)
        model.heads = torch.nn.Identity()
        model.eval()
        weights = f"{a.out}/vit_{arch}.pth"
        torch.save(model.state_dict(), weights)

        def embed_seconds(source):
            r = subprocess.run([a.cli, "embed", source, "--encoder", f"vit:{weights},threads={a.threads},batch={a.batch}",
                                "-o", f"{a.out}/emb.npy"], capture_output=True, text=True)
            if r.returncode != 0:
                sys.exit(f"labelprop-cli embed failed: {r.stderr}")
            return float(re.search(r"dims in ([0-9.]+) s", r.stdout).group(1))

        # The command's own clock covers reading the weights, building the model and the first
        # image too; one image alone measures that, so the steady rate is (N - 1) / (t_N - t_1).
        ours, whole = [], []
        for _ in range(a.runs):
            once, all_images = embed_seconds(single), embed_seconds(folder)
            ours.append((a.images - 1) / (all_images - once))
            whole.append(a.images / all_images)

        theirs = []
        with torch.inference_mode():
            model(x[: a.batch])  # warm-up
            for _ in range(a.runs):
                start = time.perf_counter()
                for b in range(0, a.images, a.batch):
                    model(x[b:b + a.batch])
                theirs.append(a.images / (time.perf_counter() - start))
        o, w, t = statistics.median(ours), statistics.median(whole), statistics.median(theirs)
        print(f"ViT-{arch[0].upper()}/16 224 {o:>27.2f} img/s {w:>12.2f} img/s {t:>19.2f} img/s {o / t:>6.2f}x")


if __name__ == "__main__":
    main()
