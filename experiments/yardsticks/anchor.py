"""The anchor side of one measurement, in its own process (so BLAS thread settings and memory
are per measurement). Prints one JSON line.

usage: anchor.py als|bpr  --data ml100k|CSV --threads T --seed S [--iterations N] [--no-eval]
       anchor.py ease     --data ml100k --lam L --compare EXPORT_PREFIX
       anchor.py itemknn  --data ml100k --k K --compare EXPORT_PREFIX
       anchor.py synth    --out CSV [--users N] [--items M] [--seed S]
"""

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402


def load(data):
    if data.endswith("u.data"):
        return common.load_ml100k(data)
    return common.load_table_csv(data)


def als(a, s):
    from threadpoolctl import threadpool_limits
    from implicit.cpu.als import AlternatingLeastSquares

    x = s.train_csr()
    per_it = []
    m = AlternatingLeastSquares(factors=a.factors, regularization=a.reg, alpha=a.alpha, iterations=a.iterations,
                                num_threads=a.threads, random_state=a.seed)
    # implicit asks for single-threaded BLAS (its own threads do the work).
    with threadpool_limits(1, "blas"):
        t = time.perf_counter()
        m.fit(x, show_progress=False, callback=lambda *cb: per_it.append(cb[1]))
        fit_s = time.perf_counter() - t
    return m.user_factors, m.item_factors, fit_s, a.iterations, per_it


def bpr(a, s):
    from threadpoolctl import threadpool_limits
    from implicit.cpu.bpr import BayesianPersonalizedRanking

    x = s.train_csr()
    per_it = []
    m = BayesianPersonalizedRanking(factors=a.factors, learning_rate=a.lr, regularization=a.reg, iterations=a.iterations,
                                    num_threads=a.threads, random_state=a.seed, verify_negative_samples=True)
    with threadpool_limits(1, "blas"):
        t = time.perf_counter()
        m.fit(x, show_progress=False, callback=lambda *cb: per_it.append(cb[1]))
        fit_s = time.perf_counter() - t
    return m.user_factors, m.item_factors, fit_s, a.iterations, per_it


def ease(a, s):
    """NumPy EASE^R: G = XᵀX + λI, P = G⁻¹, B = -P / diag(P), diag(B) = 0 (multi-threaded BLAS/LAPACK)."""
    x = s.train_csr(np.float64)
    t = time.perf_counter()
    g = (x.T @ x).toarray()
    g[np.diag_indices_from(g)] += a.lam
    p = np.linalg.inv(g)
    b = p / (-np.diag(p))
    b[np.diag_indices_from(b)] = 0.0
    fit_s = time.perf_counter() - t
    users = s.train_csr().toarray()
    return users, np.ascontiguousarray(b.T, dtype=np.float32), fit_s, b


def itemknn(a, s):
    """SciPy item kNN: cosine of items' 0/1 user columns, top k per item (ties to the lower id),
    positive similarities only; item j's vector is its own kept row of S (Dacrema et al.'s
    convention: j is scored by its neighbours among the user's items)."""
    x = s.train_csr(np.float64)
    t = time.perf_counter()
    xt = x.T.tocsr()
    norms = np.sqrt(np.asarray(xt.multiply(xt).sum(1)).ravel())
    sim = (xt @ xt.T).toarray()
    denom = np.outer(norms, norms) + a.shrink
    with np.errstate(divide="ignore", invalid="ignore"):
        sim = np.where(denom > 0, sim / denom, 0.0)
    np.fill_diagonal(sim, 0.0)
    sim[~np.isfinite(sim) | (sim <= 0)] = 0.0
    n = sim.shape[0]
    kept = np.zeros_like(sim)
    ids = np.arange(n)
    for i in range(n):
        row = sim[i]
        nz = np.flatnonzero(row > 0)
        if len(nz) > a.k:
            # best first, ties to the lower id (runner's `neighbours`), on f32 values as stored
            v = row[nz].astype(np.float32)
            order = np.lexsort((nz, -v))[: a.k]
            nz = nz[order]
        kept[i, nz] = row[nz]
    fit_s = time.perf_counter() - t
    del ids
    users = s.train_csr().toarray()
    return users, np.ascontiguousarray(kept, dtype=np.float32), fit_s, kept.T


def synth(a):
    """500k users over 5,000 items in 50 clusters of 100; a user's length 3 + Poisson(7), 90 %
    of their items from their own cluster (Zipf-like popularity inside it), the rest from
    anywhere; no repeated (user, item) pair; timestamps 0.. per user (no ties)."""
    rng = np.random.default_rng(a.seed)
    n_u, n_i, n_c = a.users, a.items, 50
    per = n_i // n_c
    lens = 3 + rng.poisson(7, n_u)
    u = np.repeat(np.arange(n_u), lens)
    cl = rng.integers(0, n_c, n_u)[u]
    w = 1.0 / np.arange(1, per + 1) ** 0.8
    w /= w.sum()
    inner = rng.choice(per, size=len(u), p=w)
    own = rng.random(len(u)) < 0.9
    item = np.where(own, cl * per + inner, rng.integers(0, n_i, len(u)))
    # drop repeats, keep the first occurrence
    key = u.astype(np.int64) * n_i + item
    _, first = np.unique(key, return_index=True)
    first.sort()
    u, item = u[first], item[first]
    ts = np.arange(len(u)) - np.repeat(np.r_[0, np.cumsum(np.bincount(u, minlength=n_u))[:-1]], np.bincount(u, minlength=n_u))
    with open(a.out, "w") as f:
        f.write("user_id,item_id,timestamp\n")
        np.savetxt(f, np.c_[u, item, ts], fmt="%d", delimiter=",")
    print(json.dumps({"rows": int(len(u)), "users": n_u, "items": n_i}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["als", "bpr", "ease", "itemknn", "synth"])
    ap.add_argument("--data")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--factors", type=int, default=64)
    ap.add_argument("--reg", type=float, default=0.01)
    ap.add_argument("--alpha", type=float, default=2.0)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--iterations", type=int, default=15)
    ap.add_argument("--no-eval", action="store_true")
    ap.add_argument("--lam", type=float, default=500.0)
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--shrink", type=float, default=0.0)
    ap.add_argument("--compare")
    ap.add_argument("--out")
    ap.add_argument("--users", type=int, default=500_000)
    ap.add_argument("--items", type=int, default=5_000)
    a = ap.parse_args()
    if a.what == "synth":
        return synth(a)
    s = load(a.data)
    out = {"side": "anchor", "model": a.what, "threads": a.threads, "seed": a.seed}
    if a.what in ("als", "bpr"):
        uf, itf, fit_s, iters, per_it = (als if a.what == "als" else bpr)(a, s)
        out.update(fit_s=fit_s, iterations=iters, s_per_iter=fit_s / iters, per_iter=per_it)
        if not a.no_eval:
            r, n = common.rank_metrics(uf, itf, s)
            out.update(recall=r, ndcg=n)
    else:
        users, items, fit_s, mat = (ease if a.what == "ease" else itemknn)(a, s)
        r, n = common.rank_metrics(users, items, s)
        from threadpoolctl import threadpool_info
        blas = [p for p in threadpool_info() if p.get("user_api") == "blas"]
        out.update(fit_s=fit_s, recall=r, ndcg=n, threads=max((p["num_threads"] for p in blas), default=None),
                   blas=[f'{p.get("internal_api")} {p.get("version")}' for p in blas])
        if a.compare:
            ou, oi, _, _ = common.read_export(a.compare, s)
            out["users_equal"] = bool(np.array_equal(ou, users))
            # item vectors: row j = column j of B (S)
            out["max_abs_diff_matrix"] = float(np.abs(oi.astype(np.float64) - mat.T).max())
            # per-user scores over all items, the anchor's f64 matrix against ours
            xs = s.train_csr(np.float64)
            ref = (xs @ mat).astype(np.float64)
            ours = ou.astype(np.float64) @ oi.astype(np.float64).T
            out["max_abs_diff_scores"] = float(np.abs(ours - ref).max())
            ro, no = common.rank_metrics(ou, oi, s)
            out.update(ours_recall_numpy=ro, ours_ndcg_numpy=no)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
