"""Rough numpy costs of each method relative to one 20-step hard-clamped propagation (C = 10)."""
import time, numpy as np, common as c
from audit_top import diag_powers, loo_vote, judge
from people_audit import kfold, setup
from calibration import sample_loo_rows
idx, sim = c.load_knn(); y = c.load_labels(); n = len(y); S, T = c.build_S(idx, sim)
def tm(f, r=3):
    best = 1e9
    for _ in range(r):
        t = time.perf_counter(); f(); best = min(best, time.perf_counter() - t)
    return best
L, mask, g = setup(y, 0.05, 0); Y0 = c.onehot(g, mask=mask)
base = tm(lambda: c.propagate(S, Y0, 20, "hard", mask))
print(f"one 20-step propagation: {base:.3f}s (=1.0)")
D = diag_powers(S); gg = c.symmetric_noise(y, 0.2, np.random.default_rng(0)); w = np.ones(n, np.float32)
print(f"A diag(S^2..S^4) (once per graph, scipy S@S): {tm(lambda: diag_powers(S), 1) / base:.1f}x")
print(f"A one LOO pass (4 SpMM + correction): {tm(lambda: loo_vote(S, D, gg, w)) / base:.2f}x; two passes {2 * tm(lambda: loo_vote(S, D, gg, w)) / base:.2f}x")
print(f"B k-fold F=2 at 5%: {tm(lambda: kfold(S, Y0, mask, L, 2, 0), 1) / base:.2f}x")
for frac in (0.001, 0.01, 0.1):
    L2 = np.sort(np.random.default_rng(0).permutation(n)[:int(round(frac * n))]); m2 = np.zeros(n, bool); m2[L2] = True
    t = tm(lambda: sample_loo_rows(S, c.onehot(y, mask=m2), m2, L2, np.random.default_rng(0)), 1)
    print(f"C LOO sample rows (colouring + probe run) at {frac:.1%}: {t / base:.2f}x")
from people_audit import colouring
for frac in (0.001, 0.01, 0.1):
    L2 = np.sort(np.random.default_rng(0).permutation(n)[:int(round(frac * n))]); sample = L2[:300]
    tc = tm(lambda: colouring(S, sample, 6), 1); col = colouring(S, sample, 6); m = col.max() + 1
    X = np.zeros((n, m), np.float32)
    def probe():
        Z = X
        for _ in range(20):
            Z = S @ Z
    print(f"C at {frac:.1%}: colouring {tc / base:.2f}x (scipy BFS), probe run with {m} scalar columns {tm(probe) / base:.2f}x")
