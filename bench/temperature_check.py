#!/usr/bin/python3
"""Does T = auto suit learned features? (issue 8: "the default temperature follows the features")

No pretrained ViT exists on this machine, so this trains one: a small ViT (patch 4 at 28 px,
width 128, depth 4) supervised for --epochs on Fashion-MNIST's 60,000 training images (one epoch
took 16 minutes on 2 busy cores), saves it with torch.save(model.state_dict()), embeds all 70,000
images with labelprop's own encoder (vit:WEIGHTS,crop=1,norm=half), and on the 10,000 test images
only (never trained on) propagates 0.1% and 1% random labels (5 draws, the same for every T) with
T = auto and fixed temperatures, printing the T that auto chose and the accuracy on the unlabelled
test items.

usage: /usr/bin/python3 bench/temperature_check.py --cli build/bin/labelprop-cli [--epochs 1] [--out DIR]
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


def train(weights, epochs):
    torch.set_num_threads(os.cpu_count())
    x = torch.from_numpy(idx(f"{DATA}/train-images-idx3-ubyte.gz").astype(np.float32) / 255)
    x = ((x - 0.5) / 0.5)[:, None].expand(-1, 3, -1, -1)  # norm=half, grey to 3 channels, as ModelInput.h
    y = torch.from_numpy(idx(f"{DATA}/train-labels-idx1-ubyte.gz").astype(np.int64))
    torch.manual_seed(0)
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


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cli", required=True)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--out", default="/tmp/labelprop-temperature-check")
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    weights = f"{a.out}/fm_vit.pth"
    if not os.path.exists(weights):
        train(weights, a.epochs)
    subprocess.run([a.cli, "embed", DATA, "--encoder", f"vit:{weights},crop=1,norm=half", "-o", f"{a.out}/emb_all.npy",
                    "--items", f"{a.out}/items_all.csv"], check=True, capture_output=True)
    truth = idx(f"{DATA}/t10k-labels-idx1-ubyte.gz").astype(int)
    emb = np.load(f"{a.out}/emb_all.npy")
    rows = list(csv.reader(open(f"{a.out}/items_all.csv")))[1:]
    test = [i for i, r in enumerate(rows) if r[1].startswith("t10k")]
    x = emb[test]
    y = truth[[int(rows[i][1].split("#")[1]) for i in test]]
    np.save(f"{a.out}/emb_test.npy", x.astype(np.float32))
    print(f"{len(x)} test items x {x.shape[1]} dims")
    rng = np.random.default_rng(0)
    for frac in (0.001, 0.01):
        draws = [rng.choice(len(x), int(frac * len(x)), replace=False) for _ in range(5)]  # the same for every T
        for t in ("auto", "0.01", "0.03", "0.05", "0.1"):
            accs, used = [], None
            for seeds in draws:
                with open(f"{a.out}/seeds.csv", "w") as f:
                    f.write("index,label\n" + "".join(f"{i},{y[i]}\n" for i in seeds))
                r = subprocess.run([a.cli, "propagate", "--embeddings", f"{a.out}/emb_test.npy", "--labels",
                                    f"{a.out}/seeds.csv", "-o", f"{a.out}/res.csv", "--stats", f"{a.out}/stats.json",
                                    "--temperature", t], capture_output=True, text=True)
                if r.returncode:
                    sys.exit(r.stderr)
                pred = {int(row["index"]): row["predicted"] for row in csv.DictReader(open(f"{a.out}/res.csv"))}
                labelled = set(seeds.tolist())
                accs.append(np.mean([pred[i] == str(y[i]) for i in range(len(x)) if i not in labelled]))
                used = json.load(open(f"{a.out}/stats.json")).get("temperature")
            print(f"labels {frac:.1%}  T = {t:>4} (used {used:.4f})  accuracy {np.mean(accs):.4f}  "
                  f"(draws {', '.join(f'{v:.4f}' for v in accs)})")


if __name__ == "__main__":
    main()
