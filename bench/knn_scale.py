#!/usr/bin/python3
"""The approximate kNN graph: times `labelprop-cli knn --knn approximate` (the CLI's own search
time, its wall time and peak RSS) and measures recall@10 against numpy's exact search, on
--queries sampled items (0: every item).

The vectors are either N x D clustered unit vectors (--clusters Gaussian clusters of spread --noise,
like features of many classes: the graph at ViT width and project scale), or a data set's own
embeddings: --embed DIR runs `labelprop-cli embed DIR --encoder pca:64` first (Fashion-MNIST's
64-d PCA, as run_benchmarks.py), --embeddings FILE.npy takes a file as it is. --runs N times the
search N times (median [min-max]); --exact also times the exact search on the same vectors.

usage: /usr/bin/python3 bench/knn_scale.py --cli build/bin/labelprop-cli [--n 1000000] [--dims 384]
       [--clusters 5000] [--noise 0.6] [--queries 1000] [--runs 1] [--exact] [--out DIR]
       /usr/bin/python3 bench/knn_scale.py --cli build/bin/labelprop-cli \
           --embed /usr/share/datasets/fashion-mnist --queries 0 --runs 5 --exact

1M x 384 needs about 1.5 GB for the vectors, 2.3 GB for the CLI and 400 MB for its edge list.
"""
import argparse
import os
import statistics
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from startup_bench import cpu_model, machine_busy_seconds  # noqa: E402

# A fresh, small interpreter starts the CLI and reaps it with wait4, so that its ru_maxrss is the
# CLI's own peak, not this process's (a child inherits the high-water mark of the process it was
# forked from). Its last stderr line: the peak in kB, the CLI's wall seconds and its CPU seconds.
LAUNCHER = """import os, sys, time
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
_, status, ru = os.wait4(pid, 0)
print(ru.ru_maxrss, time.perf_counter() - start, ru.ru_utime + ru.ru_stime, file=sys.stderr)
sys.exit(os.waitstatus_to_exitcode(status))
"""


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


def search(cli, emb, edges, mode, runs):
    """Runs `knn --knn MODE` `runs` times: (the CLI's search seconds, its wall seconds, its peak RSS
    in MB, the most cores other processes kept busy during a run, the line it printed)."""
    searched, walls, peaks, others, said = [], [], [], [], ""
    for _ in range(runs):
        busy = machine_busy_seconds()
        r = subprocess.run([sys.executable, "-c", LAUNCHER, cli, "knn", "--embeddings", emb, "--knn", mode,
                            "-o", edges], capture_output=True, text=True)
        if r.returncode:
            sys.exit(r.stderr)
        said = r.stdout.strip()
        searched.append(float(said.split(" search in ")[1].split(" s")[0]))
        peak_kb, wall, cpu = r.stderr.split()[-3:]
        peaks.append(int(peak_kb) / 1024)
        walls.append(float(wall))
        others.append(max(0.0, machine_busy_seconds() - busy - float(cpu)) / float(wall))
    return searched, walls, peaks, max(others), said


def spread(values):
    return f"{statistics.median(values):.3f} s [{min(values):.3f}-{max(values):.3f}]"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cli", required=True)
    p.add_argument("--n", type=int, default=1000000)
    p.add_argument("--dims", type=int, default=384)
    p.add_argument("--clusters", type=int, default=5000)
    p.add_argument("--noise", type=float, default=0.6)
    p.add_argument("--embed", metavar="DIR", help="time the graph on `labelprop-cli embed DIR --encoder pca:64`")
    p.add_argument("--embeddings", metavar="FILE.npy", help="time the graph on these vectors")
    p.add_argument("--queries", type=int, default=1000, help="items whose recall is checked; 0: every item")
    p.add_argument("--runs", type=int, default=1, help="timed searches (median [min-max])")
    p.add_argument("--exact", action="store_true", help="also time the exact search (hours at 1M x 384)")
    p.add_argument("--out", default="/tmp/labelprop-knn-scale")
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    emb, edges = f"{a.out}/emb.npy", f"{a.out}/knn.csv"
    if a.embed:
        r = subprocess.run([a.cli, "embed", a.embed, "--encoder", "pca:64", "-o", emb], capture_output=True, text=True)
        if r.returncode:
            sys.exit(r.stderr)
        what = f"`labelprop-cli embed {a.embed} --encoder pca:64`"
    elif a.embeddings:
        emb, what = a.embeddings, a.embeddings
    else:
        np.save(emb, clustered(a.n, a.dims, a.clusters, a.noise))
        what = f"{a.clusters} clusters, noise {a.noise}"
    x = np.load(emb).astype(np.float32, copy=False)
    n = len(x)
    exact_run = search(a.cli, emb, f"{a.out}/knn-exact.csv", "exact", a.runs) if a.exact else None
    searched, walls, peaks, others, said = search(a.cli, emb, edges, "approximate", a.runs)
    queries = np.arange(n) if a.queries <= 0 or a.queries >= n else \
        np.sort(np.random.default_rng(5).choice(n, a.queries, replace=False))
    approx = neighbours_of(edges, queries.tolist())
    hits = 0
    for s in range(0, len(queries), 100):
        q = queries[s:s + 100]
        sim = x[q] @ x.T
        sim[np.arange(len(q)), q] = -9  # self excluded, as the CLI does
        exact = np.argpartition(-sim, 10, axis=1)[:, :10]
        hits += sum(len(set(e.tolist()) & set(approx[int(i)])) for e, i in zip(exact, q))
    print(f"CPU: {cpu_model()}, {os.cpu_count()} hardware threads")
    print(f"{n} x {x.shape[1]}, {what}: {said}")
    print(f"approximate search {spread(searched)}, wall {spread(walls)} (median [min-max] of {a.runs}; "
          f"others kept <= {others:.2f} cores busy), "
          f"peak RSS {max(peaks):.0f} MB, recall@10 {hits / (10 * len(queries)):.4f} "
          f"({'every item' if len(queries) == n else f'{len(queries)} sampled items'} against numpy's exact search)")
    if exact_run:
        ratio = statistics.median(exact_run[0]) / statistics.median(searched)
        print(f"exact search {spread(exact_run[0])} (median [min-max] of {a.runs}; "
              f"others <= {exact_run[3]:.2f} cores): the approximate one is {ratio:.1f}x faster")


if __name__ == "__main__":
    main()
