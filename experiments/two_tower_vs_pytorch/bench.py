#!/usr/bin/env python3
"""The runner's two-tower model against the same model in PyTorch: training speed (examples/s)
and quality (Recall@10, NDCG@10) on the same data, split, batch, optimiser, epochs and threads,
run side by side and interleaved (runner seed 1, torch seed 1, runner seed 2, ...).

usage:
  ~/.cache/bench-venv/bin/python experiments/two_tower_vs_pytorch/bench.py \
      [--sizes ml100k,large] [--seeds 1 2 3] [--threads 2] [--epochs 10] [--large-epochs 2] \
      [--large-interactions 2000000] [--only both|runner|torch] [--torch-history bag|padded] \
      [--torch-adam fused|default] [--runner-sparse-update catch_up|lazy] [--runner PATH] [--data-dir DIR] [--work DIR]

Sizes:
  ml100k  MovieLens 100K (<data-dir>/ml-100k/u.data), `--epochs` epochs.
  large   a synthetic table of 200,000 users x 50,000 items (<work>/synthetic-200k.csv, made
          once and reused while its parameters match), `--large-epochs` epochs.

Both sides: leave-last-out split; user tower [id emb 32 | mean of the last <= 20 history item
embs] -> 128 -> ReLU -> 64 -> L2; item tower id emb 32 -> 128 -> ReLU -> 64 -> L2; in-batch
sampled softmax, T = 0.1, logQ correction, accidental hits masked; Adam lr 0.01, batch 512.
The PyTorch side uses dense gradients and torch.optim.Adam (fused=True unless --torch-adam
default); the runner updates only the batch's embedding rows, with `sparse_update = "catch_up"`
(the rows move as dense Adam moves them; `--runner-sparse-update lazy` for plain lazy Adam).

Writes under <work>: the generated configs, the runner's cache and results, runs.csv (one line
per run) and table.md (the Markdown table printed at the end).
"""
import argparse
import csv
import json
import math
import os
import subprocess
import sys
import time

import numpy as np

HIST = 20
EMB = 32
HIDDEN = 128
DIM = 64
TEMP = 0.1
BATCH = 512
LR = 0.01

LARGE = dict(users=200_000, items=50_000, clusters=100, p_cluster=0.8, zipf=1.0, seed=20240601, version=1)

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def log(*a):
    print(*a, flush=True)


def load_str():
    return "load %.2f %.2f %.2f" % os.getloadavg()


# ---------------------------------------------------------------------------------------------
# Data


def synthetic_params(n_inter):
    return dict(LARGE, interactions=int(n_inter))


def make_synthetic(path, n_inter):
    """200k users x 50k items with 100 planted clusters (user u and item i in cluster u % 100 and
    i % 100). Each interaction: with probability 0.8 an item of the user's cluster, Zipf-like
    (1 / rank) inside it, else a globally Zipf-popular item. About the same number of
    interactions per user (at least 3); each user's timestamps increase; the file is in time order."""
    p = synthetic_params(n_inter)
    meta_path = path + ".json"
    if os.path.exists(path) and os.path.exists(meta_path):
        try:
            if json.load(open(meta_path)) == p:
                log(f"reusing {path}")
                return
        except (OSError, ValueError):
            pass
    t0 = time.time()
    rng = np.random.default_rng(p["seed"])
    U, I, C = p["users"], p["items"], p["clusters"]
    per_cluster = I // C  # items i = c + C * r, r < per_cluster
    base, extra = divmod(p["interactions"], U)
    counts = np.full(U, max(base, 3), dtype=np.int64)
    if base >= 3 and extra:
        counts[rng.choice(U, extra, replace=False)] += 1
    n = int(counts.sum())
    user = np.repeat(np.arange(U, dtype=np.int64), counts)
    # Within-cluster rank r with P(r) ~ 1 / (r + 1)^s.
    w_in = 1.0 / np.arange(1, per_cluster + 1) ** p["zipf"]
    r_in = rng.choice(per_cluster, n, p=w_in / w_in.sum())
    in_cluster = (user % C) + C * r_in
    # Global popularity: a seeded permutation of the items ranks them, P(rank) ~ 1 / (rank + 1)^s.
    w_gl = 1.0 / np.arange(1, I + 1) ** p["zipf"]
    by_rank = rng.permutation(I)
    glob = by_rank[rng.choice(I, n, p=w_gl / w_gl.sum())]
    item = np.where(rng.random(n) < p["p_cluster"], in_cluster, glob)
    # Timestamps: each user's interactions at sorted random times, made strictly increasing per
    # user by appending the position inside the user.
    ts = rng.integers(0, 1_000_000_000, n)
    order = np.lexsort((ts, user))
    user, item, ts = user[order], item[order], ts[order]
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pos = np.arange(n) - np.repeat(start, counts)
    ts = ts * int(counts.max() + 1) + pos
    # The file in global time order.
    o = np.argsort(ts, kind="stable")
    user, item, ts = user[o], item[o], ts[o]
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("user_id,item_id,ts\n")
        chunk = 500_000
        for a in range(0, n, chunk):
            b = min(n, a + chunk)
            f.write("".join(f"{u},{i},{t}\n" for u, i, t in zip(user[a:b].tolist(), item[a:b].tolist(), ts[a:b].tolist())))
    os.replace(tmp, path)
    json.dump(p, open(meta_path, "w"))
    log(f"wrote {path}: {n} interactions, {U} users, {I} items ({time.time() - t0:.1f} s)")


def read_ints(path, sep, skip_header, ncols):
    with open(path) as f:
        if skip_header:
            f.readline()
        text = f.read()
    if sep != " ":
        text = text.replace(sep, " ")
    a = np.array(text.split(), dtype=np.int64)
    return a.reshape(-1, ncols)


def intern(ids):
    """Dense ids in order of first appearance (as the runner's interner)."""
    uniq, first, inv = np.unique(ids, return_index=True, return_inverse=True)
    rank = np.empty(len(uniq), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(uniq))
    return rank[inv.reshape(-1)], len(uniq)


class Data:
    """The runner's `leave_last_out` split: per user (file order, stably sorted by time) the last
    interaction is the test item when the user has >= 2; test items the user also has in
    training are dropped (as the runner's split does); train sorted by (user, time)."""

    def __init__(self, users_raw, items_raw, ts):
        u, self.n_users = intern(users_raw)
        i, self.n_items = intern(items_raw)
        order = np.lexsort((ts, u))  # stable: by user, then time, ties in file order
        u, i = u[order], i[order]
        counts = np.bincount(u, minlength=self.n_users)
        end = np.cumsum(counts)
        last = end - 1
        is_test = np.zeros(len(u), dtype=bool)
        is_test[last[counts >= 2]] = True
        tu, ti = u[is_test], i[is_test]
        self.train_user, self.train_item = u[~is_test], i[~is_test]
        tcounts = np.bincount(self.train_user, minlength=self.n_users)
        self.ustart = np.concatenate([[0], np.cumsum(tcounts)[:-1]]).astype(np.int64)
        self.uend = self.ustart + tcounts
        # Drop test items already in the user's training items.
        key = self.train_user * self.n_items + self.train_item
        keep = ~np.isin(tu * self.n_items + ti, key)
        self.test_user, self.test_item = tu[keep], ti[keep]
        self.n_train = len(self.train_user)
        freq = np.bincount(self.train_item, minlength=self.n_items).astype(np.float64)
        self.log_q = np.log(np.maximum(freq, 1.0) / self.n_train).astype(np.float32)

    def describe(self):
        return f"{self.n_users} users, {self.n_items} items, {self.n_train} train, {len(self.test_user)} test users"


def load_ml100k(data_dir):
    a = read_ints(os.path.join(data_dir, "ml-100k", "u.data"), "\t", False, 4)
    return Data(a[:, 0], a[:, 1], a[:, 3])


def load_table(path):
    a = read_ints(path, ",", True, 3)
    return Data(a[:, 0], a[:, 1], a[:, 2])


# ---------------------------------------------------------------------------------------------
# The runner side


def runner_config(size, seed, epochs, work, data_dir, large_csv, sparse_update):
    name = f"tt-bench-{size}"
    if size == "ml100k":
        dataset = '[dataset]\nkind = "movielens"\npath = "ml-100k"\n'
    else:
        dataset = (
            f'[dataset]\nkind = "table"\npath = "{large_csv}"\nuser_col = "user_id"\n'
            'item_col = "item_id"\ntime_col = "ts"\n'
        )
    return name, f"""[experiment]
name = "{name}"
seeds = [{seed}]
cache_dir = "{work}/cache"
results_dir = "{work}/results"
data_dir = "{data_dir}"

{dataset}
[split]
kind = "leave_last_out"

[[model]]
kind = "two_tower"
dim = {DIM}
hidden = [{HIDDEN}]
embedding_dim = {EMB}
loss = "softmax"
temperature = {TEMP}
batch_size = {BATCH}
epochs = {epochs}
lr = {LR}
sparse_update = "{sparse_update}"
user = {{ id = true, history = {HIST} }}
item = {{ id = true }}

[sampler]
kind = "in_batch"
logq = true

[index]
kind = "flat"

[metrics]
k = [10]
"""


def epoch_mean(xs):
    xs = list(xs)
    return float(np.mean(xs[1:] if len(xs) > 1 else xs))


def run_config(runner, name, text, model, seed, threads, work):
    """Writes config `text` as <work>/<name>.toml, runs it and returns the `model` row's
    numbers for `seed` from its results.json."""
    cfg = os.path.join(work, f"{name}.toml")
    with open(cfg, "w") as f:
        f.write(text)
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
    t0 = time.time()
    p = subprocess.run([runner, "run", cfg, "--force", "-q"], cwd=work, env=env, capture_output=True, text=True)
    wall = time.time() - t0
    if p.returncode != 0:
        raise RuntimeError(f"runner failed (exit {p.returncode}) on {cfg}:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    rows = json.load(open(os.path.join(work, "results", name, "results.json")))
    row = [r for r in rows if r.get("model") == model and r.get("seed") == seed]
    if not row:
        raise RuntimeError(f"no {model} row for seed {seed} in {work}/results/{name}/results.json")
    row = row[-1]
    ep = row["epochs"]
    return dict(
        throughput=epoch_mean(e["throughput"] for e in ep),
        recall=float(row["metrics"]["Recall@10"]),
        ndcg=float(row["metrics"]["NDCG@10"]),
        loss=float(ep[-1]["loss"]),
        epoch_s=[round(e["seconds"], 2) for e in ep],
        wall=wall,
    )


def run_runner(runner, size, seed, epochs, threads, work, data_dir, large_csv, sparse_update):
    name, text = runner_config(size, seed, epochs, work, data_dir, large_csv, sparse_update)
    return run_config(runner, name, text, "two_tower", seed, threads, work)


# ---------------------------------------------------------------------------------------------
# The PyTorch side


def he_linear(i, o):
    """nn.Linear(i, o) initialised as the runner's layers: He-uniform weights, zero bias."""
    from torch import nn
    import torch

    l = nn.Linear(i, o)
    b = math.sqrt(6.0 / i)
    with torch.no_grad():
        l.weight.uniform_(-b, b)
        l.bias.zero_()
    return l


def build_torch_model(d, seed):
    import torch
    from torch import nn

    torch.manual_seed(seed)
    linear = he_linear

    class TwoTower(nn.Module):
        def __init__(self):
            super().__init__()
            self.user_emb = nn.Embedding(d.n_users, EMB)
            self.item_emb = nn.Embedding(d.n_items, EMB)
            with torch.no_grad():
                self.user_emb.weight.normal_(0.0, 0.1)
                self.item_emb.weight.normal_(0.0, 0.1)
            self.user_mlp = nn.Sequential(linear(2 * EMB, HIDDEN), nn.ReLU(), linear(HIDDEN, DIM))
            self.item_mlp = nn.Sequential(linear(EMB, HIDDEN), nn.ReLU(), linear(HIDDEN, DIM))

        def user(self, users, hist):
            pooled = hist(self.item_emb.weight)
            x = torch.cat([self.user_emb(users), pooled], dim=1)
            return nn.functional.normalize(self.user_mlp(x), dim=1, eps=1e-12)

        def item(self, items):
            return nn.functional.normalize(self.item_mlp(self.item_emb(items)), dim=1, eps=1e-12)

    return TwoTower()


def history_of(d, rows, ends, impl):
    """A function of the item table giving the mean-pooled history of each row: the user's train
    items at positions [max(ustart, end - 20), end) of the flat train list (zeros when empty)."""
    import torch
    from torch.nn import functional as F

    starts = d.ustart[rows]
    idx = ends[:, None] - HIST + np.arange(HIST)[None, :]
    valid = idx >= starts[:, None]
    if impl == "padded":
        items = torch.from_numpy(d.train_item[np.where(valid, idx, 0)])
        mask = torch.from_numpy(valid.astype(np.float32))
        cnt = mask.sum(1, keepdim=True).clamp_(min=1.0)

        def pool(table):
            return (F.embedding(items, table) * mask.unsqueeze(2)).sum(1) / cnt

    else:
        flat = torch.from_numpy(d.train_item[idx[valid]])
        n = valid.sum(1)
        offsets = torch.from_numpy(np.concatenate([[0], np.cumsum(n)[:-1]]).astype(np.int64))

        def pool(table):
            return F.embedding_bag(flat, table, offsets, mode="mean")

    return pool


def evaluate_torch(model, d, impl):
    import torch

    with torch.no_grad():
        all_items = torch.arange(d.n_items)
        V = torch.cat([model.item(all_items[a : a + 65536]) for a in range(0, d.n_items, 65536)])
        users = d.test_user
        chunk = max(1, min(4096, 50_000_000 // max(1, d.n_items)))
        hits, ndcg = 0.0, 0.0
        for a in range(0, len(users), chunk):
            us = users[a : a + chunk]
            hist = history_of(d, us, d.uend[us], impl)
            U = model.user(torch.from_numpy(us), hist)
            scores = U @ V.T
            cnt = d.uend[us] - d.ustart[us]
            r = np.repeat(np.arange(len(us)), cnt)
            first = np.repeat(np.cumsum(cnt) - cnt, cnt)
            c = d.train_item[np.repeat(d.ustart[us], cnt) + np.arange(len(r)) - first]
            scores[torch.from_numpy(r), torch.from_numpy(c)] = float("-inf")
            top = torch.topk(scores, 10, dim=1).indices.numpy()
            match = top == d.test_item[a : a + chunk][:, None]
            found = match.any(1)
            rank = match.argmax(1)
            hits += found.sum()
            ndcg += (found / np.log2(rank + 2)).sum()
        n = max(1, len(users))
        return float(hits / n), float(ndcg / n)


def softmax_step(opt, u, v, pos, temp, log_q=None):
    """One optimiser step of the in-batch softmax: logits u v^T / temp (minus each column's
    log frequency with `log_q`), accidental hits (another row with the same positive) masked.
    Returns the batch's mean loss."""
    import torch

    pos_t = torch.from_numpy(pos)
    logits = (u @ v.T) / temp
    if log_q is not None:
        logits = logits - log_q[pos_t][None, :]
    same = pos_t[None, :] == pos_t[:, None]
    same.fill_diagonal_(False)
    logits = logits.masked_fill(same, float("-inf"))
    loss = torch.nn.functional.cross_entropy(logits, torch.arange(len(pos)))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.item()


def train_epochs(n, seed, epochs, step, max_steps=None):
    """Shuffled batches of BATCH training rows (a last batch of one row is skipped), `epochs`
    times or until `max_steps` steps; `step(chunk)` trains on the rows `chunk` and returns the
    batch's mean loss. Returns examples/s and seconds per epoch and the last epoch's loss."""
    rng = np.random.default_rng(seed)
    tputs, secs, loss_last, steps = [], [], float("nan"), 0
    for _ in range(epochs):
        t0 = time.perf_counter()
        order = rng.permutation(n)
        loss_sum, n_ex = 0.0, 0
        for a in range(0, n, BATCH):
            chunk = order[a : a + BATCH]
            if len(chunk) < 2:
                continue
            loss_sum += step(chunk) * len(chunk)
            n_ex += len(chunk)
            steps += 1
            if max_steps and steps >= max_steps:
                break
        s = time.perf_counter() - t0
        secs.append(s)
        tputs.append(n_ex / s)
        loss_last = loss_sum / max(1, n_ex)
        if max_steps and steps >= max_steps:
            break
    return tputs, secs, loss_last


def run_torch(d, seed, epochs, impl, adam):
    import torch

    model = build_torch_model(d, seed)
    opt = torch.optim.Adam(model.parameters(), lr=LR, **({"fused": True} if adam == "fused" else {}))
    log_q = torch.from_numpy(d.log_q)
    t_all = time.time()

    def step(chunk):
        users, pos = d.train_user[chunk], d.train_item[chunk]
        hist = history_of(d, users, chunk, impl)
        u = model.user(torch.from_numpy(users), hist)
        v = model.item(torch.from_numpy(pos))
        return softmax_step(opt, u, v, pos, TEMP, log_q)

    tputs, secs, loss_last = train_epochs(d.n_train, seed, epochs, step)
    model.eval()
    recall, ndcg = evaluate_torch(model, d, impl)
    return dict(
        throughput=epoch_mean(tputs), recall=recall, ndcg=ndcg, loss=loss_last,
        epoch_s=[round(s, 2) for s in secs], wall=time.time() - t_all,
    )


# ---------------------------------------------------------------------------------------------
# Main


def fmt(xs, digits):
    xs = np.asarray(xs, dtype=np.float64)
    sd = xs.std(ddof=1) if len(xs) > 1 else 0.0
    return f"{xs.mean():.{digits}f} ± {sd:.{digits}f}"


def default_runner():
    t = os.environ.get("CARGO_TARGET_DIR")
    if t:
        return os.path.join(t, "release", "runner")
    return os.path.expanduser("~/.cache/runner-ci-target/release/runner")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="ml100k,large", help="comma-separated: ml100k, large")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=10, help="epochs on ml-100k")
    ap.add_argument("--large-epochs", type=int, default=2)
    ap.add_argument("--large-interactions", type=int, default=2_000_000)
    ap.add_argument("--only", choices=["both", "runner", "torch"], default="both")
    ap.add_argument("--torch-history", choices=["bag", "padded"], default="bag",
                    help="history pooling on the torch side: F.embedding_bag(mode='mean') with offsets "
                         "(default) or a padded [B, 20] tensor with a mask; the two tied within noise on 2 threads")
    ap.add_argument("--torch-adam", choices=["fused", "default"], default="fused",
                    help="torch.optim.Adam(fused=True) (default: the same update in one kernel; the for-loop "
                         "implementation took 4-30x longer per step on the dense 200k x 32 + 50k x 32 tables) or "
                         "torch.optim.Adam's CPU default")
    ap.add_argument("--runner-sparse-update", choices=["catch_up", "lazy"], default="catch_up",
                    help="the runner's `sparse_update`: catch_up (default: embedding rows move as under "
                         "torch.optim.Adam's dense update, the same optimiser as the torch side) or lazy "
                         "(the runner's default: only the batch's rows, Adam state per row)")
    ap.add_argument("--runner", default=default_runner())
    ap.add_argument("--data-dir", default=os.environ.get("RUNNER_DATA_DIR") or os.path.join(REPO, "..", "shared", "data"))
    ap.add_argument("--work", default=os.path.expanduser("~/.cache/runner-bench/two_tower_vs_pytorch"))
    args = ap.parse_args()

    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    for s in sizes:
        if s not in ("ml100k", "large"):
            ap.error(f"unknown size `{s}` (ml100k, large)")
    sides = ["runner", "torch"] if args.only == "both" else [args.only]
    data_dir = os.path.abspath(args.data_dir)
    work = os.path.abspath(args.work)
    os.makedirs(work, exist_ok=True)
    runner = os.path.abspath(args.runner)
    if "runner" in sides and not os.access(runner, os.X_OK):
        sys.exit(f"no runner binary at {runner} (--runner, or CARGO_TARGET_DIR)")
    if "torch" in sides:
        import torch

        torch.set_num_threads(args.threads)
        torch.set_num_interop_threads(1)
        log(f"torch {torch.__version__}, {torch.get_num_threads()} threads, history: {args.torch_history}, "
            f"Adam: {args.torch_adam}")
    log(f"runner {runner}; data {data_dir}; work {work}; threads {args.threads}; {os.cpu_count()} CPUs")

    large_csv = os.path.join(work, "synthetic-200k.csv")
    results = {}  # (size, side) -> list of run dicts
    runs_csv = os.path.join(work, "runs.csv")
    new_csv = not os.path.exists(runs_csv)
    with open(runs_csv, "a", newline="") as fcsv:
        w = csv.writer(fcsv)
        if new_csv:
            w.writerow(["time", "size", "side", "seed", "threads", "epochs", "examples_per_s", "recall10", "ndcg10",
                        "last_loss", "epoch_seconds", "wall_s", "load1"])
        for size in sizes:
            epochs = args.epochs if size == "ml100k" else args.large_epochs
            if size == "large":
                make_synthetic(large_csv, args.large_interactions)
            d = None
            if "torch" in sides:
                t0 = time.time()
                d = load_ml100k(data_dir) if size == "ml100k" else load_table(large_csv)
                log(f"[{size}] {d.describe()} (loaded for torch in {time.time() - t0:.1f} s)")
            for seed in args.seeds:
                for side in sides:
                    load1 = os.getloadavg()[0]
                    log(f"[{size}] {side} seed {seed}: {epochs} epochs, {load_str()}")
                    if side == "runner":
                        r = run_runner(runner, size, seed, epochs, args.threads, work, data_dir, large_csv, args.runner_sparse_update)
                    else:
                        r = run_torch(d, seed, epochs, args.torch_history, args.torch_adam)
                    results.setdefault((size, side), []).append(r)
                    log(f"[{size}] {side} seed {seed}: {r['throughput']:,.0f} ex/s, Recall@10 {r['recall']:.4f}, "
                        f"NDCG@10 {r['ndcg']:.4f}, last loss {r['loss']:.4f}, epochs {r['epoch_s']} s, "
                        f"wall {r['wall']:.1f} s")
                    w.writerow([time.strftime("%Y-%m-%d %H:%M:%S"), size, side, seed, args.threads, epochs,
                                f"{r['throughput']:.1f}", f"{r['recall']:.5f}", f"{r['ndcg']:.5f}", f"{r['loss']:.5f}",
                                " ".join(map(str, r["epoch_s"])), f"{r['wall']:.2f}", f"{load1:.2f}"])
                    fcsv.flush()
            del d

    lines = [
        f"threads {args.threads}; epochs: ml100k {args.epochs}, large {args.large_epochs} "
        f"({args.large_interactions:,} interactions); torch history: {args.torch_history}, Adam: {args.torch_adam}; "
        f"examples/s = mean over epochs 2..N (all when N = 1); mean ± sd over seeds",
        "",
        "| size | side | seeds | examples/s | Recall@10 | NDCG@10 |",
        "|---|---|---|---|---|---|",
    ]
    for size in sizes:
        for side in sides:
            rs = results.get((size, side), [])
            if not rs:
                continue
            lines.append(f"| {size} | {side} | {len(rs)} | {fmt([r['throughput'] for r in rs], 0)} | "
                         f"{fmt([r['recall'] for r in rs], 4)} | {fmt([r['ndcg'] for r in rs], 4)} |")
    lines.append("")
    for size in sizes:
        a, b = results.get((size, "runner")), results.get((size, "torch"))
        if a and b:
            ratio = np.mean([r["throughput"] for r in a]) / np.mean([r["throughput"] for r in b])
            lines.append(f"{size}: speed ratio runner/torch = {ratio:.2f}")
    table = "\n".join(lines) + "\n"
    print()
    print(table, end="", flush=True)
    with open(os.path.join(work, "table.md"), "w") as f:
        f.write(table)
    log(f"written to {work}/table.md (per-run lines in {runs_csv})")


if __name__ == "__main__":
    main()
