#!/usr/bin/python3
"""Does T = auto suit learned features? (issue 8: "the default temperature follows the features")

No pretrained network exists on this machine, so this trains its own on Fashion-MNIST's 60,000
training images, embeds all 70,000 images with labelprop's own encoders, and on the 10,000 test
images only (never trained on) propagates 0.1% and 1% random labels (5 draws, the same for every T)
with T = auto and fixed temperatures, printing the T that auto chose and the accuracy on the
unlabelled test items. Two models:

  --model vit  a small ViT (patch 4 at 28 px, width 128, depth 4), supervised for --epochs (one
               epoch took 16 minutes on 2 busy cores), saved with torch.save(model.state_dict())
               and embedded with vit:WEIGHTS,crop=1,norm=half (the class token after the final norm);
  --model cnn  a small CNN (3 conv layers, 128-d penultimate features), supervised, saved at several
               points of its training (--checkpoints, in optimiser steps of 256 images) as TorchScript
               and embedded with torchscript:FILE,size=28,crop=1,norm=half: features from weak to
               strong (a stand-in for a pretrained encoder, which this machine does not have), each
               also centred (minus the test features' mean, re-normalised), which removes the
               common ReLU component that makes every cosine near 1.

usage: /usr/bin/python3 bench/temperature_check.py --cli build/bin/labelprop-cli [--model vit|cnn]
       [--epochs 1] [--checkpoints 30,120,700] [--out DIR]
"""
import argparse
import csv
import gzip
import json
import os
import subprocess
import sys
import time

import numpy as np
import torch
from torchvision.models.vision_transformer import VisionTransformer

DATA = "/usr/share/datasets/fashion-mnist"


def idx(path):
    with gzip.open(path) as f:
        data = f.read()
    if data[3] == 3:
        return np.frombuffer(data, np.uint8, offset=16).reshape(-1, 28, 28)
    return np.frombuffer(data, np.uint8, offset=8)


def training_set():
    """The 60,000 training images as the encoders see them, with their labels; seeds torch."""
    torch.set_num_threads(os.cpu_count())
    x = torch.from_numpy(idx(f"{DATA}/train-images-idx3-ubyte.gz").astype(np.float32) / 255)
    x = ((x - 0.5) / 0.5)[:, None].expand(-1, 3, -1, -1)  # norm=half, grey to 3 channels, as ModelInput.h
    y = torch.from_numpy(idx(f"{DATA}/train-labels-idx1-ubyte.gz").astype(np.int64))
    torch.manual_seed(0)
    return x, y


def train(weights, epochs):
    x, y = training_set()
    m = VisionTransformer(image_size=28, patch_size=4, num_layers=4, num_heads=2, hidden_dim=128, mlp_dim=512,
                          num_classes=10)
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3, weight_decay=0.05)
    start = time.time()
    for e in range(epochs):
        perm = torch.randperm(len(x))
        for i in range(0, len(x), 256):
            b = perm[i:i + 256]
            loss = torch.nn.functional.cross_entropy(m(x[b].contiguous()), y[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
        print(f"epoch {e + 1}: last batch loss {loss.item():.3f}, {time.time() - start:.0f} s", flush=True)
    torch.save(m.state_dict(), weights)


class SmallCnn(torch.nn.Module):
    """28 px in, 128-d features out (forward); classify() adds the 10-way head used in training."""

    def __init__(self):
        super().__init__()
        c = torch.nn.Conv2d
        self.body = torch.nn.Sequential(
            c(3, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),   # 14 x 14
            c(32, 64, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),  # 7 x 7
            c(64, 128, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
        self.head = torch.nn.Linear(128, 10)

    def forward(self, x):
        return self.body(x)

    def classify(self, x):
        return self.head(self.body(x))


def train_cnn(out, checkpoints):
    """Saves cnn_stepN.pt (TorchScript of the feature extractor) after each step count in checkpoints."""
    x, y = training_set()
    m = SmallCnn()
    opt = torch.optim.AdamW(m.parameters(), lr=2e-3, weight_decay=0.01)
    start, step, files = time.time(), 0, []
    while step < max(checkpoints):
        perm = torch.randperm(len(x))
        for i in range(0, len(x) - 255, 256):
            b = perm[i:i + 256]
            m.train()
            loss = torch.nn.functional.cross_entropy(m.classify(x[b].contiguous()), y[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            if step in checkpoints:
                m.eval()
                path = f"{out}/cnn_step{step}.pt"
                torch.jit.trace(m, x[:2].contiguous()).save(path)
                files.append((step, path))
                print(f"step {step} ({step * 256 / len(x):.2f} epochs): last batch loss {loss.item():.3f}, "
                      f"{time.time() - start:.0f} s", flush=True)
            if step >= max(checkpoints):
                break
    return files


def sweep(a, encoder, name, temperatures, centre=False):
    """Embeds Fashion-MNIST with `encoder`, propagates on the test items at each T, prints a row each;
    centre: the test features minus their mean, re-normalised, first."""
    emb_all, items_all = f"{a.out}/{name}_all.npy", f"{a.out}/{name}_items.csv"
    subprocess.run([a.cli, "embed", DATA, "--encoder", encoder, "-o", emb_all, "--items", items_all], check=True,
                   capture_output=True)
    truth = idx(f"{DATA}/t10k-labels-idx1-ubyte.gz").astype(int)
    emb = np.load(emb_all)
    rows = list(csv.reader(open(items_all)))[1:]
    test = [i for i, r in enumerate(rows) if r[1].startswith("t10k")]
    x = emb[test]
    y = truth[[int(rows[i][1].split("#")[1]) for i in test]]
    if centre:
        # ReLU features share a large positive mean that dominates every cosine; without it the
        # neighbourhoods follow the classes (what a strong pretrained encoder gives).
        x = x - x.mean(axis=0)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        name += "_centred"
    emb_test = f"{a.out}/{name}_test.npy"
    np.save(emb_test, x.astype(np.float32))
    # How tight the features are: the cosine similarity to the 10th nearest neighbour, median.
    sim = x @ x.T
    np.fill_diagonal(sim, -1)
    tenth = np.sort(sim, axis=1)[:, -10]
    print(f"{name}: {len(x)} test items x {x.shape[1]} dims; median cosine to the 10th neighbour "
          f"{np.median(tenth):.3f}", flush=True)
    rng = np.random.default_rng(0)
    for frac in (0.001, 0.01):
        draws = [rng.choice(len(x), int(frac * len(x)), replace=False) for _ in range(5)]  # the same for every T
        for t in temperatures:
            accs, used = [], None
            for seeds in draws:
                with open(f"{a.out}/seeds.csv", "w") as f:
                    f.write("index,label\n" + "".join(f"{i},{y[i]}\n" for i in seeds))
                r = subprocess.run([a.cli, "propagate", "--embeddings", emb_test, "--labels",
                                    f"{a.out}/seeds.csv", "-o", f"{a.out}/res.csv", "--stats", f"{a.out}/stats.json",
                                    "--temperature", t], capture_output=True, text=True)
                if r.returncode:
                    sys.exit(r.stderr)
                pred = {int(row["index"]): row["predicted"] for row in csv.DictReader(open(f"{a.out}/res.csv"))}
                labelled = set(seeds.tolist())
                accs.append(np.mean([pred[i] == str(y[i]) for i in range(len(x)) if i not in labelled]))
                used = json.load(open(f"{a.out}/stats.json")).get("temperature")
            print(f"{name}  labels {frac:.1%}  T = {t:>5} (used {used:.4f})  accuracy {np.mean(accs):.4f}  "
                  f"(draws {', '.join(f'{v:.4f}' for v in accs)})", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cli", required=True)
    p.add_argument("--model", choices=("vit", "cnn"), default="vit")
    p.add_argument("--epochs", type=int, default=1, help="ViT training epochs")
    p.add_argument("--checkpoints", default="30,120,700", help="CNN: optimiser steps at which to embed")
    p.add_argument("--out", default="/tmp/labelprop-temperature-check")
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    if a.model == "vit":
        weights = f"{a.out}/fm_vit.pth"
        if not os.path.exists(weights):
            train(weights, a.epochs)
        sweep(a, f"vit:{weights},crop=1,norm=half", "vit", ("auto", "0.01", "0.03", "0.05", "0.1"))
        return
    checkpoints = sorted({int(v) for v in a.checkpoints.split(",")})
    for step, path in train_cnn(a.out, checkpoints):
        for centre in (False, True):
            sweep(a, f"torchscript:{path},size=28,crop=1,norm=half", f"cnn_step{step}",
                  ("auto", "0.003", "0.01", "0.03", "0.05", "0.1"), centre)


if __name__ == "__main__":
    main()
