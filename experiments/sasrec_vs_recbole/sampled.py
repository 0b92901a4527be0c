"""Sampled ranking as sequence papers report it (and the runner's `[metrics] sampled`): each
test item ranked among 100 items the user never interacted with, drawn uniformly with a
fixed seed, the same draws for both sides. HR@10 is a hit in the top 10 of the 101, NDCG@10
= 1 / log2(rank + 2); ties count against the test item."""

import numpy as np


def sampled_metrics(user_vecs, item_vecs, split, negatives=100, k=10, seed=7):
    rng = np.random.default_rng(seed)
    seen = [set() for _ in range(split.n_users)]
    for u, i in zip(split.train_u.tolist(), split.train_i.tolist()):
        seen[u].add(i)
    uv = np.asarray(user_vecs, dtype=np.float32)
    iv = np.asarray(item_vecs, dtype=np.float32)
    hits, ndcg = 0.0, 0.0
    for u, i in zip(split.test_u.tolist(), split.test_i.tolist()):
        negs = []
        while len(negs) < negatives:
            j = int(rng.integers(split.n_items))
            if j != i and j not in seen[u] and j not in negs:
                negs.append(j)
        s = iv[negs] @ uv[u]
        rank = int((s >= iv[i] @ uv[u]).sum())
        if rank < k:
            hits += 1
            ndcg += 1.0 / np.log2(rank + 2.0)
    n = len(split.test_u)
    return hits / n, ndcg / n
