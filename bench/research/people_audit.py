"""B. Auditing people's labels in a partly labelled set (issue 13).

1% / 5% of items labelled at random, 5% of those labels wrong (uniform over the other 9 classes).
Rank the labelled items; k = number of wrong labels.  Propagation: hard clamp, 20 steps, T = auto.

Methods (q_i = the judged row, p = q / sum(q)):
  vote      : today's IncrementalAudit: rownorm(S rownorm(Y(T)))_i
  Z         : (S Y(T))_i (METHOD.md)
  kfold F   : split the labelled items into F random folds; for each fold f run the normal 20-step
              hard-clamped propagation with fold f's labels removed (those items free), read q_i = Y_f(T)_i
              for i in fold f.  Cost: F propagations.
  colour m  : exact LOO formula (below) with the return series r_i estimated by m probe columns
              (labelled items greedily coloured so that items within 4 hops differ, random signs).
  exact     : exact leave-one-out, via linearity (checked against brute force to 1e-7):
                 LOO_i = e_c + sum_{s=0..T} r_i(T-s) b_i(s),
                 b_i(0) = -e_c, b_i(s) = (S Y(s-1))_i - e_c   (unclamped row i of the main run),
                 r_i(m) = [G_i^m]_ii, G_i = S with the rows of L \\ {i} zeroed (return series of e_i).
              r_i needs one scalar column per labelled item (|L| columns): the expensive reference.

Score = 1 - p_g (p_g: share of the given class). Flag = p_g < tau, tau = LabelQuality.cpp's fixed point
(tau = sqrt((1-rho) rho / (C-1)), rho = share of judged rows below tau, started from the argmax disagreement).
"""
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np
import scipy.sparse as sp

import common as c
from audit_top import tau_fixed_point

C = 10
STEPS = 20


def setup(y, frac, seed, wrong=0.05):
    n = len(y)
    rng = np.random.default_rng(100 + seed)
    L = np.sort(rng.permutation(n)[:int(round(frac * n))])
    mask = np.zeros(n, bool)
    mask[L] = True
    g = np.full(n, -1)
    g[L] = y[L]
    nw = int(round(wrong * len(L)))
    wi = rng.permutation(L)[:nw]
    g[wi] = (y[wi] + rng.integers(1, C, nw)) % C
    return L, mask, g


def main_run(S, Y0, mask, L):
    """Hard-clamped propagation; also keeps the unclamped rows (S Y(s))_L, s = 0..T-1."""
    Y = Y0.copy()
    B = []
    for _ in range(STEPS):
        Z = S @ Y
        B.append(Z[L].copy())
        Z[mask] = Y0[mask]
        Y = Z
    return Y, B


def kfold(S, Y0, mask, L, F, seed):
    rng = np.random.default_rng(1000 + seed)
    fold = rng.permutation(np.arange(len(L)) % F)  # balanced folds
    out = np.zeros((len(L), C), np.float32)
    for f in range(F):
        m2 = mask.copy()
        m2[L[fold == f]] = False
        Yf = c.propagate(S, Y0 * m2[:, None], STEPS, "hard", m2)
        out[fold == f] = Yf[L[fold == f]]
    return out


def return_series(S, L, col, z):
    """r_i(m), m = 0..T, estimated with probe columns: item i writes z_i into column col[i]; rows of L
    other than the probe items are zeroed after each step (as the clamp does)."""
    n, nl = S.shape[0], len(L)
    m = int(col.max()) + 1
    X = np.zeros((n, m), np.float32)
    X[L, col] = z
    R = [np.ones(nl, np.float32)]
    for _ in range(STEPS):
        X = S @ X
        keep = X[L, col].copy()
        X[L] = 0
        X[L, col] = keep
        R.append(keep * z)
    return np.array(R)


def loo_from_R(R, B, gc):
    nl = len(gc)
    E = np.zeros((nl, C), np.float32)
    E[np.arange(nl), gc] = 1
    D = -R[STEPS][:, None] * E
    for s in range(1, STEPS + 1):
        D += R[STEPS - s][:, None] * (B[s - 1] - E)
    return E + D


def colouring(S, L, hops):
    n, nl = S.shape[0], len(L)
    A = (S > 0).astype(np.float32).tocsr()
    X = sp.csr_matrix((np.ones(nl, np.float32), (L, np.arange(nl))), shape=(n, nl))
    R = X
    for _ in range(hops):
        R = A @ R
        R.data[:] = 1
    conf = (X.T @ R).tocsr()
    col = -np.ones(nl, int)
    for i in np.argsort(-np.diff(conf.indptr), kind="stable"):
        used = set(col[conf.indices[conf.indptr[i]:conf.indptr[i + 1]]].tolist())
        cc = 0
        while cc in used:
            cc += 1
        col[i] = cc
    return col


def judge(q, gc, err):
    nl = len(gc)
    P = c.rownorm(q)
    pg = P[np.arange(nl), gc]
    score = 1 - pg
    k = err.sum()
    o = np.argsort(-score, kind="stable")
    tau = tau_fixed_point(pg, (P.argmax(1) != gc).mean())
    fl = pg < tau
    fa = P.argmax(1) != gc
    return dict(preck=err[o[:k]].mean(), AUROC=c.auroc(score, err), flagged=fl.sum(), recall=(fl & err).sum() / k,
                precision=(fl & err).sum() / max(1, fl.sum()), tau=tau, argmax_flagged=fa.sum(),
                argmax_prec=(fa & err).sum() / max(1, fa.sum()))


def main():
    exact = "--exact" in sys.argv or "--exact5" in sys.argv
    idx, sim = c.load_knn()
    y = c.load_labels()
    n = len(y)
    S, T = c.build_S(idx, sim)
    for frac in (0.01, 0.05):
        rows, times = {}, {}
        for seed in range(3):
            L, mask, g = setup(y, frac, seed)
            gc = g[L]
            err = gc != y[L]
            Y0 = c.onehot(g, mask=mask)
            t0 = time.perf_counter()
            YT, B = main_run(S, Y0, mask, L)
            times.setdefault("main run", []).append(time.perf_counter() - t0)
            rows.setdefault("vote (today)", []).append(judge((S @ c.rownorm(YT))[L], gc, err))
            rows.setdefault("Z = S Y(T)", []).append(judge((S @ YT)[L], gc, err))
            for F in (2, 3, 5):
                t0 = time.perf_counter()
                q = kfold(S, Y0, mask, L, F, seed)
                times.setdefault(f"kfold F={F}", []).append(time.perf_counter() - t0)
                rows.setdefault(f"kfold F={F}", []).append(judge(q, gc, err))
            t0 = time.perf_counter()
            col = colouring(S, L, 4)
            rng = np.random.default_rng(seed)
            z = rng.choice([-1.0, 1.0], len(L)).astype(np.float32)
            R = return_series(S, L, col, z)
            times.setdefault("colour h=4", []).append(time.perf_counter() - t0)
            times.setdefault("colours m", []).append(col.max() + 1)
            rows.setdefault("colour h=4 probes", []).append(judge(loo_from_R(R, B, gc), gc, err))
            if exact and (frac == 0.01 or "--exact5" in sys.argv):
                t0 = time.perf_counter()
                # exact: every item its own column, other labelled rows zeroed
                Rs = []
                for a in range(0, len(L), 700):
                    part = np.arange(a, min(a + 700, len(L)))
                    Rs.append(exact_series(S, L, part))
                R = np.concatenate(Rs, axis=1)
                times.setdefault("exact", []).append(time.perf_counter() - t0)
                rows.setdefault("exact LOO", []).append(judge(loo_from_R(R, B, gc), gc, err))
        k = int(round(0.05 * int(round(frac * n))))
        tgt = "prec@k >= 0.60" if frac == 0.01 else "prec@k >= 0.75; flags: recall >= 0.70, precision >= 0.40"
        print(f"\n{frac:.0%} labelled ({int(round(frac * n))} labels, k = {k} wrong), mean of 3 seeds. Target: {tgt}")
        keys = ("preck", "AUROC", "flagged", "recall", "precision", "tau", "argmax_flagged", "argmax_prec")
        print("%-24s" % "" + "".join(f"{a:>15}" for a in keys))
        for name, ms in rows.items():
            print("%-24s" % name + "".join(f"{np.mean([m[a] for m in ms]):15.3f}" for a in keys))
        print("times (s): " + ", ".join(f"{a} {np.mean(v):.2f}" for a, v in times.items()))


def exact_series(S, L, part):
    """r_i(m) for the items L[part], one column each; rows of L except the column's own item zeroed."""
    n = S.shape[0]
    X = np.zeros((n, len(part)), np.float32)
    X[L[part], np.arange(len(part))] = 1
    R = [np.ones(len(part), np.float32)]
    for _ in range(STEPS):
        X = S @ X
        keep = X[L[part], np.arange(len(part))].copy()
        X[L] = 0
        X[L[part], np.arange(len(part))] = keep
        R.append(keep)
    return np.array(R)


if __name__ == "__main__":
    main()
