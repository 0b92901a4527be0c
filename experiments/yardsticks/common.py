"""Shared pieces of the yardstick benchmarks: the runner's leave-last-out split rebuilt in
Python, the ranking metrics under the runner's protocol, and reading `runner export` output.

Split rule (src/data/split.rs `leave_last_out`): users and items get dense ids in order of
first appearance in the file; each user's interactions are sorted by (timestamp, file
position) and the last one is the test item when the user has at least 2; everyone else's
interactions train.

Protocol (src/eval/retrieval.rs, src/index/common.rs, src/metrics): every test user's full
ranking over all items by the inner product of user and item vectors, the user's training
items excluded, higher score first and ties to the lower item id. With one held-out item,
Recall@10 is a hit in the top 10 and NDCG@10 = 1 / log2(rank + 2) (rank from 0).
"""

import json
import os
import subprocess

import numpy as np
import scipy.sparse as sp


class Split:
    def __init__(self, users, items, train_u, train_i, test_u, test_i):
        self.users = users  # raw id of each dense user
        self.items = items  # raw id of each dense item
        self.n_users, self.n_items = len(users), len(items)
        self.train_u, self.train_i = train_u, train_i
        self.test_u, self.test_i = test_u, test_i

    def train_csr(self, dtype=np.float32):
        """Users x items 0/1 (repeats count once, as EASE and item kNN read them)."""
        x = sp.csr_matrix((np.ones(len(self.train_u), dtype=dtype), (self.train_u, self.train_i)), shape=(self.n_users, self.n_items))
        x.sum_duplicates()
        x.data[:] = 1
        return x


def leave_last_out(user_raw, item_raw, ts):
    """The runner's leave-last-out split of parallel arrays in file order."""
    user_raw, item_raw, ts = np.asarray(user_raw), np.asarray(item_raw), np.asarray(ts)
    # Dense ids in order of first appearance.
    uniq_u, first_u, u = np.unique(user_raw, return_index=True, return_inverse=True)
    order_u = np.argsort(first_u, kind="stable")
    remap_u = np.empty_like(order_u)
    remap_u[order_u] = np.arange(len(order_u))
    u = remap_u[u.ravel()]
    uniq_i, first_i, i = np.unique(item_raw, return_index=True, return_inverse=True)
    order_i = np.argsort(first_i, kind="stable")
    remap_i = np.empty_like(order_i)
    remap_i[order_i] = np.arange(len(order_i))
    i = remap_i[i.ravel()]
    pos = np.arange(len(u))
    idx = np.lexsort((pos, ts, u))  # by user, then ts, then file position
    us = u[idx]
    last = np.ones(len(us), dtype=bool)
    last[:-1] = us[:-1] != us[1:]
    counts = np.bincount(us, minlength=len(uniq_u))
    test_mask = last & (counts[us] >= 2)
    test_rows, train_rows = idx[test_mask], idx[~test_mask]
    return Split(uniq_u[order_u], uniq_i[order_i], u[train_rows], i[train_rows], u[test_rows], i[test_rows])


def load_ml100k(path):
    a = np.loadtxt(path, dtype=np.int64, delimiter="\t")
    return leave_last_out(a[:, 0], a[:, 1], a[:, 3])


def load_table_csv(path):
    """A `user_id,item_id,timestamp` CSV with a header (the synthetic table)."""
    a = np.loadtxt(path, dtype=np.int64, delimiter=",", skiprows=1)
    return leave_last_out(a[:, 0], a[:, 1], a[:, 2])


def rank_metrics(user_vecs, item_vecs, split, k=10, block=4096):
    """Mean Recall@k and NDCG@k over the split's test users (see the module doc).
    `user_vecs` rows are dense users, `item_vecs` rows dense items (float32)."""
    x = split.train_csr()
    uv = np.ascontiguousarray(user_vecs, dtype=np.float32)
    iv = np.ascontiguousarray(item_vecs, dtype=np.float32)
    hits, ndcg = 0.0, 0.0
    tu, ti = split.test_u, split.test_i
    ids = np.arange(split.n_items)
    for s in range(0, len(tu), block):
        bu, bi = tu[s : s + block], ti[s : s + block]
        scores = uv[bu] @ iv.T
        rows = x[bu]
        # Exclude training items.
        r_idx = np.repeat(np.arange(len(bu)), np.diff(rows.indptr))
        scores[r_idx, rows.indices] = -np.inf
        st = scores[np.arange(len(bu)), bi][:, None]
        rank = (scores > st).sum(1) + ((scores == st) & (ids[None, :] < bi[:, None])).sum(1)
        hits += (rank < k).sum()
        ndcg += np.where(rank < k, 1.0 / np.log2(rank + 2.0), 0.0).sum()
    n = len(tu)
    return hits / n, ndcg / n


def read_export(prefix, split):
    """`runner export --format npy` output as dense-ordered (users, items) float32 arrays."""
    def load(side, raw_order):
        vecs = np.load(f"{prefix}.{side}.npy")
        ids = [l.rstrip("\n") for l in open(f"{prefix}.{side}.ids.txt")]
        pos = {r: k for k, r in enumerate(ids)}
        perm = np.array([pos[str(r)] for r in raw_order])
        return vecs[perm], ids
    users, uids = load("users", split.users)
    items, iids = load("items", split.items)
    return users, items, uids, iids


def run_ml100k(runner, work, data_dir, name, seed, model_toml, cache, split):
    """Trains one model with the runner on MovieLens 100K's leave-last-out split (`model_toml`:
    the `[[model]]` table's lines; `split` that split as `load_ml100k` rebuilds it), exports
    its vectors and returns (the results row, dense-ordered user and item vectors) for the
    RecBole comparisons' runner side."""
    path = os.path.join(work, f"{name}.toml")
    with open(path, "w") as f:
        f.write(f"""[experiment]
name = "{name}"
seeds = [{seed}]
cache_dir = "{cache}"
results_dir = "{work}/results"
data_dir = "{data_dir}"

[dataset]
kind = "movielens"
path = "ml-100k"

[split]
kind = "leave_last_out"

[[model]]
{model_toml}

[metrics]
k = [10]
metrics = ["recall", "ndcg"]
latency_queries = 10
""")
    subprocess.run([runner, "run", path, "--quiet", "--jobs", "1"], check=True, cwd=work, stdout=subprocess.DEVNULL)
    row = json.load(open(os.path.join(work, "results", name, "results.json")))[0]
    prefix = os.path.join(work, "export", name)
    subprocess.run([runner, "export", path, "--format", "npy", "--out", prefix], check=True, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    users, items, _, _ = read_export(prefix, split)
    return row, users, items
