#!/usr/bin/env python3
"""Project store figures (issue 3): create and reopen a 70,000-item Fashion-MNIST project, encode
only new images, time per acknowledged label, and the SIGKILL crash loop.

Usage: /usr/bin/python3 bench/project_bench.py --cli build/bin/labelprop-cli [--tests build/bin] [--runs 3]

Every figure is the median of --runs runs (labels: of every label). Work files go to --out
(default /tmp/labelprop-project-bench), on the same disk as a user's project would be.
"""
import argparse
import gzip
import json
import os
import shutil
import statistics
import struct
import subprocess
import sys
import time
import zlib

FASHION = "/usr/share/datasets/fashion-mnist"
HERE = os.path.dirname(os.path.abspath(__file__))
CLASSES = os.path.join(HERE, "..", "resources", "fashion-mnist.classes")


def run(cmd, **kw):
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    dt = time.perf_counter() - t
    if p.returncode != 0:
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr}")
    return dt, p.stdout


def png_gray(pixels, w, h):
    """A minimal 8-bit grayscale PNG (no dependency on Pillow or OpenCV)."""
    raw = b"".join(b"\0" + pixels[y * w:(y + 1) * w] for y in range(h))
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def fashion_images(count):
    with gzip.open(os.path.join(FASHION, "train-images-idx3-ubyte.gz")) as f:
        data = f.read()
    return [data[16 + i * 784:16 + (i + 1) * 784] for i in range(count)]


def time_create_and_reopen(cli, source, prefix, runs, audit_options=()):
    """Medians of: creating a project from `source` (runs fresh files PREFIX0..), `project status`
    on it, and the prepare stage of `project audit` (embeddings from the cache plus the labels)."""
    create, status, prepare = [], [], []
    for r in range(runs):
        dt, _ = run([cli, "project", "create", f"{prefix}{r}.labelprop", "--source", source, "--classes", CLASSES])
        create.append(dt)
    for r in range(runs):
        dt, _ = run([cli, "project", "status", f"{prefix}0.labelprop"])
        status.append(dt)
        _, out = run([cli, "project", "audit", f"{prefix}0.labelprop", "--top", "0", *audit_options])
        prepare.append(float(out.split("seconds: prepare ")[1].split(",")[0]))
    return statistics.median(create), statistics.median(status), statistics.median(prepare)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cli", default="build/bin/labelprop-cli")
    ap.add_argument("--tests", default=None, help="folder with tst_project_cli (crash loop); default: beside --cli")
    ap.add_argument("--out", default="/tmp/labelprop-project-bench")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--labels", type=int, default=500, help="labels sent through one --stream process")
    ap.add_argument("--kills", type=int, default=500, help="SIGKILLs in the crash loop")
    ap.add_argument("--scale", type=int, default=0,
                    help="also time a synthetic IDX project of N items (Fashion-MNIST images, +-3 pixel noise); "
                         "1000000 needs about 3 GB of disk and memory")
    args = ap.parse_args()
    cli = os.path.abspath(args.cli)
    tests = os.path.abspath(args.tests or os.path.dirname(cli))
    shutil.rmtree(args.out, ignore_errors=True)
    os.makedirs(args.out)
    results = {}

    # 1. Create and reopen the 70,000-item project.
    project = os.path.join(args.out, "fm0.labelprop")
    create, status, prepare = time_create_and_reopen(cli, FASHION, os.path.join(args.out, "fm"), args.runs)
    results["create_70k_s"] = create
    results["reopen_status_70k_s"] = status
    results["reopen_embeddings_from_cache_70k_s"] = prepare
    results["project_file_mb"] = os.path.getsize(project) / 1e6

    # 2. Ten new images in a 5,000-image folder project: only they are encoded.
    folder = os.path.join(args.out, "folder")
    images = fashion_images(5010)
    os.makedirs(folder)
    for i, px in enumerate(images[:5000]):
        with open(os.path.join(folder, f"img_{i:05d}.png"), "wb") as f:
            f.write(png_gray(px, 28, 28))
    fproject = os.path.join(args.out, "folder.labelprop")
    dt, _ = run([cli, "project", "create", fproject, "--source", folder])
    results["create_5k_folder_s"] = dt
    for i, px in enumerate(images[5000:], start=5000):
        with open(os.path.join(folder, f"img_{i:05d}.png"), "wb") as f:
            f.write(png_gray(px, 28, 28))
    # The re-scan embeds what it found (the ten new images), as create does.
    dt_import, out = run([cli, "project", "import", fproject])
    results["reimport_5k_plus_10_s"] = dt_import
    results["encoded_after_adding_10"] = int(out.split("embeddings: ")[1].split("(")[1].split(" encoded")[0])
    run([cli, "project", "label", fproject, "--item", "0", "--label", "a", "--add-class"])
    run([cli, "project", "label", fproject, "--item", "1", "--label", "b", "--add-class"])
    dt, out = run([cli, "project", "propagate", fproject])
    results["encoded_by_propagate_after_import"] = int(out.split("(")[1].split(" encoded now")[0])

    # 3. Time per acknowledged label: one long-running --stream process (as a GUI or script drives
    # it), and one process per label (a shell loop).
    p = subprocess.Popen([cli, "project", "label", project, "--stream"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True, bufsize=1)
    names = [l.strip() for l in open(CLASSES) if l.strip()]
    latencies = []
    for n in range(1, args.labels + 1):
        t = time.perf_counter()
        p.stdin.write(f"{(n * 7919) % 70000},\"{names[n % 10]}\"\n")
        p.stdin.flush()
        ack = p.stdout.readline().strip()
        latencies.append(time.perf_counter() - t)
        if ack != f"ok {n}":
            sys.exit(f"unexpected acknowledgement {ack!r}")
    p.stdin.close()
    p.wait()
    latencies.sort()
    results["label_ack_stream_median_ms"] = 1000 * statistics.median(latencies)
    results["label_ack_stream_p99_ms"] = 1000 * latencies[int(0.99 * (len(latencies) - 1))]
    single = []
    for n in range(max(10, args.runs * 5)):
        dt, _ = run([cli, "project", "label", project, "--item", str(n), "--label", names[(n + 3) % 10]])
        single.append(dt)
    results["label_ack_one_process_median_ms"] = 1000 * statistics.median(single)

    # 4. The crash loop (tests/tst_project_cli.cpp), with more kills.
    test = os.path.join(tests, "tst_project_cli")
    env = dict(os.environ, LABELPROP_CRASH_KILLS=str(args.kills))
    t = time.perf_counter()
    p = subprocess.run([test, "crashLoopLosesNothingAcknowledged"], capture_output=True, text=True, env=env)
    results["crash_loop_s"] = time.perf_counter() - t
    line = next((l for l in p.stdout.splitlines() if "crash loop:" in l), "")
    results["crash_loop"] = line.split("crash loop: ")[-1]
    results["crash_loop_passed"] = p.returncode == 0

    # 5. Scale: a synthetic N-item IDX data set (every image a noisy copy of a Fashion-MNIST one).
    if args.scale > 0:
        import numpy as np
        n = args.scale
        with gzip.open(os.path.join(FASHION, "train-images-idx3-ubyte.gz")) as f:
            x = np.frombuffer(f.read()[16:], dtype=np.uint8).reshape(-1, 784)
        with gzip.open(os.path.join(FASHION, "train-labels-idx1-ubyte.gz")) as f:
            y = np.frombuffer(f.read()[8:], dtype=np.uint8)
        rng = np.random.default_rng(0)
        pick = rng.integers(0, len(x), n)
        big = os.path.join(args.out, "big")
        os.makedirs(big)
        with open(os.path.join(big, "big-images-idx3-ubyte"), "wb") as f:
            f.write(struct.pack(">IIII", 0x803, n, 28, 28))
            for b in range(0, n, 100000):
                part = x[pick[b:b + 100000]].astype(np.int16) + rng.integers(-3, 4, (len(pick[b:b + 100000]), 784))
                f.write(np.clip(part, 0, 255).astype(np.uint8).tobytes())
        with open(os.path.join(big, "big-labels-idx1-ubyte"), "wb") as f:
            f.write(struct.pack(">II", 0x801, n))
            f.write(y[pick].tobytes())
        create, status, prepare = time_create_and_reopen(cli, big, os.path.join(args.out, "big"), args.runs,
                                                         ["--knn", "approximate"])
        results[f"scale_{n}_create_s"] = create
        results[f"scale_{n}_status_s"] = status
        results[f"scale_{n}_embeddings_and_labels_from_project_s"] = prepare

    width = max(len(k) for k in results)
    for k, v in results.items():
        print(f"{k:<{width}}  {v:.3f}" if isinstance(v, float) else f"{k:<{width}}  {v}")
    with open(os.path.join(args.out, "project_bench.json"), "w") as f:
        json.dump(results, f, indent=2)
    return 0 if results["crash_loop_passed"] and results["encoded_after_adding_10"] == 10 else 1


if __name__ == "__main__":
    sys.exit(main())
