"""C. Calibration of the propagated confidence of unlabelled items (issue 13).

Propagation as the product: hard clamp, 20 steps, T = auto.  Shown confidence today: max of the row-
normalised Y(T).  ECE: 10 equal-width bins over the unlabelled items.

Calibrators (fitted ONLY on leave-one-out rows of labelled items; true labels of unlabelled items are
used for scoring alone, except the 'oracle' rows, which are a forbidden reference):
  gamma   : p_c = q_c^g / sum_d q_d^g, q = rownorm(Y(T)); g = argmin over (0.1, 5) of the mean LOO NLL
            -log p_{y_j}(LOO row of j) over a sample of <= 300 labelled items.
  platt   : shown = sigmoid(a * logit(max q) + b), (a, b) = LOO NLL fit of [LOO argmax correct].
  + unseen: every shown probability times (1 - u), u = U / (N + C): U declared classes without labels,
            N labels, C declared classes (add-one estimate of the share of items of unseen classes).
LOO rows come from the exact formula of people_audit.py with the return series r_i estimated by probe
columns: the sample is coloured so that items within HOPS (default 6) hops differ, random signs
(with 4 hops the cross-talk is cancelled badly at 0.1%: the given-class LOO mass is a small difference).
"""
import os
import sys
import time
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")
warnings.filterwarnings("ignore")
import numpy as np
from scipy.optimize import minimize, minimize_scalar

import common as c
from people_audit import colouring, loo_from_R

C = 10
STEPS = 20
SAMPLE = int(os.environ.get('SAMPLE', '300'))
HOPS = int(os.environ.get('HOPS', '6'))


def ece(conf, correct, bins=10):
    b = np.minimum((conf * bins).astype(int), bins - 1)
    e = 0.0
    for k in range(bins):
        m = b == k
        if m.any():
            e += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return e


def run_with_sample_rows(S, Y0, mask, sample):
    """Main hard-clamped run; keeps the unclamped rows (S Y(s))_sample for s = 0..T-1."""
    Y = Y0.copy()
    B = []
    for _ in range(STEPS):
        Z = S @ Y
        B.append(Z[sample].copy())
        Z[mask] = Y0[mask]
        Y = Z
    return Y, B


def sample_loo_rows(S, Y0, mask, L, rng, size=SAMPLE):
    """LOO rows of a random sample of labelled items (probe-estimated return series)."""
    n = S.shape[0]
    sample = np.sort(rng.permutation(L)[:size])
    col = colouring(S, sample, HOPS)
    z = rng.choice([-1.0, 1.0], len(sample)).astype(np.float32)
    X = np.zeros((n, col.max() + 1), np.float32)
    X[sample, col] = z
    R = [np.ones(len(sample), np.float32)]
    for _ in range(STEPS):
        X = S @ X
        keep = X[sample, col].copy()
        X[mask] = 0
        X[sample, col] = keep
        R.append(keep * z)
    return sample, np.array(R), int(col.max() + 1)


def lgt(p):
    p = np.clip(p, 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


def fit_gamma(Pl, lab):
    def nll(g):
        Q = c.rownorm(np.power(Pl, g))
        return -np.mean(np.log(np.maximum(Q[np.arange(len(lab)), lab], 1e-9)))
    return minimize_scalar(nll, bounds=(0.1, 5), method="bounded").x


def fit_platt(xl, tl):
    def nll(th):
        p = np.clip(1 / (1 + np.exp(-(th[0] * xl + th[1]))), 1e-9, 1 - 1e-9)
        return -np.mean(tl * np.log(p) + (1 - tl) * np.log(1 - p))
    return minimize(nll, [1.0, 0.0], method="Nelder-Mead").x


def evaluate(S, y, mask, L, rng, rows, oracle=False):
    n = len(y)
    U = ~mask
    Y0 = c.onehot(y, mask=mask)
    sample, R, colours = sample_loo_rows(S, Y0, mask, L, rng)
    t0 = time.perf_counter()
    Y, B = run_with_sample_rows(S, Y0, mask, sample)
    Yl = loo_from_R(R, B, y[sample])
    Pl = c.rownorm(Yl)
    lab = y[sample]
    P = c.rownorm(Y)
    pred = P.argmax(1)
    cor = pred == y
    seen = np.unique(y[L])
    u = (C - len(seen)) / (len(L) + C)

    def rec(name, conf):
        hi = U & (conf >= 0.9)
        rows.setdefault(name, []).append(dict(ECE=ece(conf[U], cor[U]), acc90=cor[hi].mean() if hi.any() else np.nan,
                                              share90=hi.sum() / U.sum(), acc=cor[U].mean(), conf=conf[U].mean()))

    rec("today: max rownorm", P.max(1))
    g = fit_gamma(Pl, lab)
    pg = c.rownorm(np.power(P, g))[np.arange(n), pred]
    rec("gamma (LOO fit)", pg)
    rec("gamma (LOO fit) + unseen", pg * (1 - u))
    a, b = fit_platt(lgt(Pl.max(1)), (Pl.argmax(1) == lab).astype(float))
    rec("platt (LOO fit) + unseen", (1 - u) / (1 + np.exp(-(a * lgt(P.max(1)) + b))))
    if oracle:
        sub = np.flatnonzero(U)[::20]
        go = fit_gamma(P[sub], y[sub])
        rec("oracle gamma (forbidden)", c.rownorm(np.power(P, go))[np.arange(n), pred])
    return g, u, colours


def main():
    idx, sim = c.load_knn()
    y = c.load_labels()
    n = len(y)
    S, T = c.build_S(idx, sim)
    seeds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    keys = ("ECE", "acc90", "share90", "acc", "conf")
    for frac in (0.001, 0.01, 0.1):
        rows, gs = {}, []
        for seed in range(seeds):
            rng = np.random.default_rng(seed)
            L = np.sort(rng.permutation(n)[:int(round(frac * n))])
            mask = np.zeros(n, bool)
            mask[L] = True
            g, u, colours = evaluate(S, y, mask, L, rng, rows, oracle=True)
            gs.append((g, u, colours))
        print(f"\n{frac:.1%} random labels, mean of {seeds} seeds; target ECE <= 0.03, acc90 >= 0.90"
              f" (gamma fits {[round(a[0], 2) for a in gs]}, probe colours {[a[2] for a in gs]})")
        print("%-30s" % "" + "".join(f"{k:>9}" for k in keys) + "   ECE per seed")
        for name, ms in rows.items():
            print("%-30s" % name + "".join(f"{np.nanmean([m[k] for m in ms]):9.3f}" for k in keys)
                  + "   " + " ".join(f"{m['ECE']:.3f}" for m in ms))
    rows = {}
    for seed in range(seeds):
        for A in range(C):
            rng = np.random.default_rng(seed)
            L = np.sort(rng.choice(np.flatnonzero(y == A), 10, replace=False))
            mask = np.zeros(n, bool)
            mask[L] = True
            evaluate(S, y, mask, L, rng, rows)
    print(f"\nten labels all of ONE class (every class x {seeds} seeds); target: acc90 >= 0.90 (nan: nothing shown >= 0.9)")
    print("%-30s" % "" + "".join(f"{k:>9}" for k in keys))
    for name, ms in rows.items():
        print("%-30s" % name + "".join(f"{np.nanmean([m[k] for m in ms]):9.3f}" for k in keys))


if __name__ == "__main__":
    main()
