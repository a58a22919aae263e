#!/usr/bin/python3
"""The approximate kNN graph at ViT width and project scale: writes N x D clustered unit vectors
(--clusters Gaussian clusters of spread --noise, like features of many classes), times
`labelprop-cli knn --knn approximate` on them (wall time and peak RSS, from the CLI's own run),
and measures recall@10 on --queries sampled items against numpy's exact search.

usage: /usr/bin/python3 bench/knn_scale.py --cli build/bin/labelprop-cli [--n 1000000] [--dims 384]
       [--clusters 5000] [--noise 0.6] [--queries 1000] [--out DIR]

1M x 384 needs about 1.5 GB for the vectors, 2.3 GB for the CLI and 400 MB for its edge list.
"""
import argparse
import os
import resource
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vit_python_bench import cpu_model  # noqa: E402


def clustered(n, dims, clusters, noise, seed=1):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dims)).astype(np.float32)
    x = np.empty((n, dims), np.float32)
    for s in range(0, n, 100000):
        e = min(n, s + 100000)
        b = centres[rng.integers(0, clusters, e - s)] + noise * rng.standard_normal((e - s, dims)).astype(np.float32)
        x[s:e] = b / np.linalg.norm(b, axis=1, keepdims=True)
    return x


def neighbours_of(csv_path, items):
    """The neighbour column of the CLI's edge list (index,neighbour,rank,similarity) for `items`."""
    wanted, found = set(items), {}
    with open(csv_path) as f:
        next(f)
        for line in f:
            i = int(line[:line.index(",")])
            if i in wanted:
                found.setdefault(i, []).append(int(line.split(",")[1]))
    return found


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cli", required=True)
    p.add_argument("--n", type=int, default=1000000)
    p.add_argument("--dims", type=int, default=384)
    p.add_argument("--clusters", type=int, default=5000)
    p.add_argument("--noise", type=float, default=0.6)
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--out", default="/tmp/labelprop-knn-scale")
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    emb, edges = f"{a.out}/emb.npy", f"{a.out}/knn.csv"
    x = clustered(a.n, a.dims, a.clusters, a.noise)
    np.save(emb, x)
    start = time.perf_counter()
    r = subprocess.run([a.cli, "knn", "--embeddings", emb, "--knn", "approximate", "-o", edges],
                       capture_output=True, text=True)
    wall = time.perf_counter() - start
    if r.returncode:
        sys.exit(r.stderr)
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    queries = np.sort(np.random.default_rng(5).choice(a.n, a.queries, replace=False))
    approx = neighbours_of(edges, queries.tolist())
    hits = 0
    for s in range(0, len(queries), 100):
        q = queries[s:s + 100]
        sim = x[q] @ x.T
        sim[np.arange(len(q)), q] = -9  # self excluded, as the CLI does
        exact = np.argpartition(-sim, 10, axis=1)[:, :10]
        hits += sum(len(set(e.tolist()) & set(approx[int(i)])) for e, i in zip(exact, q))
    print(f"CPU: {cpu_model()}, {os.cpu_count()} hardware threads")
    print(f"{a.n} x {a.dims}, {a.clusters} clusters, noise {a.noise}: {r.stdout.strip()}")
    print(f"wall {wall:.1f} s, peak RSS {peak_mb:.0f} MB, recall@10 {hits / (10 * len(queries)):.4f} "
          f"({len(queries)} sampled items against numpy's exact search)")


if __name__ == "__main__":
    main()
