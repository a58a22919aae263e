"""Shared loader: Fashion-MNIST 70k, 64-d PCA, exact k=10 cosine graph, S as the product builds it.

Everything here mirrors /work/main/core/engine (AffinityGraph.cpp, LabelPropagation.cpp).
"""
import gzip
import os
import time

import numpy as np
import scipy.sparse as sp

DATA = "/usr/share/datasets/fashion-mnist"
CACHE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cache")
K = 10
C = 10


def _idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _find(stem):
    for ext in ("", ".gz"):
        p = os.path.join(DATA, stem + ext)
        if os.path.exists(p):
            return p
    raise FileNotFoundError(stem)


def load_labels():
    a = _idx(_find("train-labels-idx1-ubyte"))
    b = _idx(_find("t10k-labels-idx1-ubyte"))
    return np.concatenate([a, b]).astype(np.int64)


def load_features():
    p = os.path.join(CACHE, "feat64.npy")
    if os.path.exists(p):
        return np.load(p)
    x = np.concatenate([_idx(_find("train-images-idx3-ubyte")), _idx(_find("t10k-images-idx3-ubyte"))])
    x = x.reshape(len(x), -1).astype(np.float64) / 255.0
    x -= x.mean(0)
    cov = x.T @ x / len(x)
    w, v = np.linalg.eigh(cov)
    v = v[:, ::-1][:, :64]
    f = (x @ v).astype(np.float32)
    f /= np.linalg.norm(f, axis=1, keepdims=True)
    os.makedirs(CACHE, exist_ok=True)
    np.save(p, f)
    return f


def load_knn(k=K):
    """Exact cosine kNN (self excluded): (idx n x k int32, sim n x k float32), sorted by decreasing sim."""
    pi, ps = os.path.join(CACHE, f"knn{k}_idx.npy"), os.path.join(CACHE, f"knn{k}_sim.npy")
    if os.path.exists(pi):
        return np.load(pi), np.load(ps)
    f = load_features()
    import faiss
    faiss.omp_set_num_threads(1)
    t = time.time()
    index = faiss.IndexFlatIP(f.shape[1])
    index.add(f)
    sim, idx = index.search(f, k + 1)
    n = len(f)
    # drop self (normally column 0; guard against duplicates)
    out_i = np.empty((n, k), np.int32)
    out_s = np.empty((n, k), np.float32)
    for r in range(n):
        m = idx[r] != r
        ii, ss = idx[r][m][:k], sim[r][m][:k]
        out_i[r], out_s[r] = ii, ss
    print(f"knn k={k}: {time.time() - t:.1f}s")
    np.save(pi, out_i)
    np.save(ps, out_s)
    return out_i, out_s


def auto_T(sim):
    return float(np.clip(np.median(1.0 - sim), 1e-4, 1.0))


def build_W(idx, sim, T, tau_i=None):
    """Symmetrised W + W^T (CSR, float64). Weight of directed edge i->j: exp((s-1)/T) or with a
    per-edge temperature given by tau_i (n,) for the source row: exp((s-1)/tau_i)."""
    n, k = idx.shape
    rows = np.repeat(np.arange(n), k)
    if tau_i is None:
        w = np.exp((sim.astype(np.float64).ravel() - 1.0) / T)
    else:
        w = np.exp((sim.astype(np.float64) - 1.0) / tau_i[:, None]).ravel()
    W = sp.csr_matrix((w, (rows, idx.ravel())), shape=(n, n))
    W = (W + W.T).tocsr()
    return W


def normalise(W):
    d = np.asarray(W.sum(1)).ravel()
    inv = np.where(d > 0, 1.0 / np.sqrt(np.maximum(d, 1e-300)), 0.0)
    S = sp.diags(inv) @ W @ sp.diags(inv)
    return S.tocsr().astype(np.float32)


def build_S(idx, sim, T=None):
    if T is None:
        T = auto_T(sim)
    return normalise(build_W(idx, sim, T)), T


def onehot(y, c=C, mask=None):
    Y = np.zeros((len(y), c), np.float32)
    if mask is None:
        Y[np.arange(len(y)), y] = 1
    else:
        ii = np.flatnonzero(mask)
        Y[ii, y[ii]] = 1
    return Y


def propagate(S, Y0, steps, clamp="none", mask=None):
    Y = Y0.copy()
    for _ in range(steps):
        Y = S @ Y
        if clamp == "hard":
            Y[mask] = Y0[mask]
    return Y


def rownorm(Y):
    Yp = np.maximum(Y, 0)
    s = Yp.sum(1, keepdims=True)
    return np.divide(Yp, s, out=np.zeros_like(Yp), where=s > 0)


def symmetric_noise(y, rate, rng, c=C):
    y2 = y.copy()
    n = len(y)
    wrong = np.zeros(n, bool)
    wrong[rng.permutation(n)[:int(round(rate * n))]] = True
    shift = rng.integers(1, c, size=n)
    y2[wrong] = (y[wrong] + shift[wrong]) % c
    return y2


def auroc(score, positive):
    from sklearn.metrics import roc_auc_score
    return roc_auc_score(positive, score)
