#!/usr/bin/env python3
"""The runner's DSSM against the same model in PyTorch, written twice: as the seed article
writes it (each text a dense `buckets`-wide letter-trigram count vector times a Linear layer)
and with sparse inputs (nn.EmbeddingBag, mode="sum"). Training speed (examples/s) and quality
(Recall@10, NDCG@10) on MovieLens 100K under leave-last-out, the same towers, hashing, batch,
optimiser and threads, run side by side and interleaved (runner seed 1, torch-sparse seed 1,
torch-dense seed 1, runner seed 2, ...).

usage:
  ~/.cache/bench-venv/bin/python experiments/dssm_vs_pytorch/bench.py \
      [--seeds 1 2 3] [--threads 2] [--epochs 10] [--dense-steps 40] [--only runner,sparse,dense] \
      [--runner PATH] [--data-dir DIR] [--work DIR]

Both sides: item text = title + genre names; user text = the text of the user's last 10
training items before the example (at evaluation: the last 10 training items). Words are runs
of letters and digits, lower-cased, cut into letter trigrams with '#' boundary marks and hashed
by XXH3-64 (seed 0x5eedd55a) into 50,000 buckets: the runner's `src/data/text.rs`, so both
sides see the same inputs. Towers: sum of 300-d trigram embeddings -> 300 tanh -> 300 tanh ->
128 -> L2 (the runner's `kind = "dssm"` defaults); softmax over the batch's items at
temperature 0.1 (gamma 10), accidental hits masked; Adam lr 0.001, batch 512. Embeddings
N(0, 0.1), linear layers He-uniform, biases 0. The runner runs `sparse_update = "catch_up"`, the
update torch.optim.Adam makes on dense gradients.

The dense side costs seconds per step, so it trains `--dense-steps` steps per seed for its
speed only (its model is the sparse side's, so its quality would be the same).

Writes under <work>: the runner's configs, cache and results, runs.csv and table.md.
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "two_tower_vs_pytorch"))
import bench as tt  # noqa: E402  (the leave-last-out split and helpers)

BUCKETS = 50_000
SEED = 0x5EEDD55A
EMB = 300
HIDDEN = [300, 300]
DIM = 128
TEMP = 0.1
BATCH = 512
LR = 0.001
HIST = 10
GENRES = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama", "Fantasy",
          "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western"]


def words(text):
    out, cur = [], []
    for ch in text:
        if ch.isalnum():
            cur.append(ch)
        elif cur:
            out.append("".join(cur).lower())
            cur = []
    if cur:
        out.append("".join(cur).lower())
    return out


def trigram_bag(text):
    import xxhash

    bag = []
    for w in words(text):
        m = "#" + w + "#"
        for k in range(len(m) - 2):
            bag.append(xxhash.xxh3_64_intdigest(m[k:k + 3].encode("utf-8"), seed=SEED) % BUCKETS)
    return np.array(bag, dtype=np.int64)


def item_bags(data_dir, raw_item_ids):
    """Per dense item id, the trigram bag of `title genres` (u.item read as the runner reads it:
    UTF-8, else one char per byte)."""
    raw = open(os.path.join(data_dir, "ml-100k", "u.item"), "rb").read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    by_raw = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        c = line.split("|")
        g = [GENRES[k] for k, f in enumerate(c[5:24]) if f.strip() == "1"]
        by_raw[int(c[0])] = c[1] + " " + " ".join(g)
    return [trigram_bag(by_raw.get(int(r), str(r))) for r in raw_item_ids]


def load(data_dir):
    a = tt.read_ints(os.path.join(data_dir, "ml-100k", "u.data"), "\t", False, 4)
    d = tt.Data(a[:, 0], a[:, 1], a[:, 3])
    # Dense item id -> raw id, in the interner's order (first appearance).
    uniq, first = np.unique(a[:, 1], return_index=True)
    raw_items = uniq[np.argsort(first, kind="stable")]
    d.bags = item_bags(data_dir, raw_items)
    return d


# ---------------------------------------------------------------------------------------------
# The runner side


def runner_config(seed, epochs, work, data_dir):
    name = "dssm-bench-ml100k"
    return name, f"""[experiment]
name = "{name}"
seeds = [{seed}]
cache_dir = "{work}/cache"
results_dir = "{work}/results"
data_dir = "{data_dir}"

[dataset]
kind = "movielens"
path = "ml-100k"

[split]
kind = "leave_last_out"

[[model]]
kind = "dssm"
buckets = {BUCKETS}
embedding_dim = {EMB}
hidden = {HIDDEN}
dim = {DIM}
temperature = {TEMP}
batch_size = {BATCH}
epochs = {epochs}
lr = {LR}
sparse_update = "catch_up"
user = {{ text_history = {HIST} }}
item = {{ text = ["title", "genres"] }}

[index]
kind = "flat"

[metrics]
k = [10]
"""


def run_runner(runner, seed, epochs, threads, work, data_dir):
    name, text = runner_config(seed, epochs, work, data_dir)
    return tt.run_config(runner, name, text, "dssm", seed, threads, work)


# ---------------------------------------------------------------------------------------------
# The PyTorch side


def build_model(seed, dense):
    import torch
    from torch import nn

    torch.manual_seed(seed)
    linear = tt.he_linear

    class Tower(nn.Module):
        def __init__(self):
            super().__init__()
            if dense:
                # The seed article: a Linear layer over the dense trigram count vector.
                self.hash = nn.Linear(BUCKETS, EMB, bias=False)
                with torch.no_grad():
                    self.hash.weight.normal_(0.0, 0.1)
            else:
                self.hash = nn.EmbeddingBag(BUCKETS, EMB, mode="sum")
                with torch.no_grad():
                    self.hash.weight.normal_(0.0, 0.1)
            dims = [EMB] + HIDDEN
            layers = []
            for a, b in zip(dims, dims[1:]):
                layers += [linear(a, b), nn.Tanh()]
            layers.append(linear(dims[-1], DIM))
            self.mlp = nn.Sequential(*layers)

        def forward(self, flat, offsets, n):
            if dense:
                x = torch.zeros(n, BUCKETS)
                rows = torch.repeat_interleave(torch.arange(n), torch.diff(torch.cat([offsets, torch.tensor([len(flat)])])))
                x.index_put_((rows, flat), torch.ones(len(flat)), accumulate=True)
                h = self.hash(x)
            else:
                h = self.hash(flat, offsets)
            return nn.functional.normalize(self.mlp(h), dim=1, eps=1e-12)

    class Dssm(nn.Module):
        def __init__(self):
            super().__init__()
            self.user = Tower()
            self.item = Tower()

    return Dssm()


def bags_input(bag_lists):
    import torch

    lens = [len(b) for b in bag_lists]
    flat = np.concatenate(bag_lists) if bag_lists else np.zeros(0, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
    return torch.from_numpy(flat.astype(np.int64)), torch.from_numpy(offsets), len(bag_lists)


def history_bags(d, ends, users):
    """The text bags of the last HIST training items before train position `ends[r]`."""
    out = []
    for u, e in zip(users, ends):
        items = d.train_item[max(d.ustart[u], e - HIST):e]
        out.append(np.concatenate([d.bags[i] for i in items]) if len(items) else np.zeros(0, dtype=np.int64))
    return out


def evaluate(model, d):
    import torch

    with torch.no_grad():
        V = model.item(*bags_input([d.bags[i] for i in range(d.n_items)]))
        users = d.test_user
        U = model.user(*bags_input(history_bags(d, d.uend[users], users)))
        scores = U @ V.T
        for r, u in enumerate(users):
            scores[r, torch.from_numpy(d.train_item[d.ustart[u]:d.uend[u]])] = float("-inf")
        top = torch.topk(scores, 10, dim=1).indices.numpy()
        match = top == d.test_item[:, None]
        found = match.any(1)
        rank = match.argmax(1)
        n = max(1, len(users))
        return float(found.sum() / n), float((found / np.log2(rank + 2)).sum() / n)


def run_torch(d, seed, epochs, dense, max_steps=None):
    import torch

    model = build_model(seed, dense)
    opt = torch.optim.Adam(model.parameters(), lr=LR, fused=True)
    t_all = time.time()

    def step(chunk):
        # `chunk` indexes the training rows (sorted by user, then time): a row's history ends there.
        users, pos = d.train_user[chunk], d.train_item[chunk]
        u = model.user(*bags_input(history_bags(d, chunk, users)))
        v = model.item(*bags_input([d.bags[i] for i in pos]))
        return tt.softmax_step(opt, u, v, pos, TEMP)

    tputs, secs, loss_last = tt.train_epochs(d.n_train, seed, epochs, step, max_steps)
    if max_steps:
        return dict(throughput=tputs[-1], recall=float("nan"), ndcg=float("nan"), loss=loss_last,
                    epoch_s=[round(s, 2) for s in secs], wall=time.time() - t_all)
    model.eval()
    recall, ndcg = evaluate(model, d)
    return dict(throughput=tt.epoch_mean(tputs), recall=recall, ndcg=ndcg, loss=loss_last,
                epoch_s=[round(s, 2) for s in secs], wall=time.time() - t_all)


# ---------------------------------------------------------------------------------------------
# Main


def fmt(xs, digits):
    xs = [x for x in xs if x == x]
    return tt.fmt(xs, digits) if xs else "-"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--dense-steps", type=int, default=40, help="steps the dense torch side trains per seed (speed only)")
    ap.add_argument("--only", default="runner,sparse,dense", help="comma-separated sides: runner, sparse, dense")
    ap.add_argument("--runner", default=tt.default_runner())
    ap.add_argument("--data-dir", default=os.environ.get("RUNNER_DATA_DIR") or os.path.join(tt.REPO, "..", "shared", "data"))
    ap.add_argument("--work", default=os.path.expanduser("~/.cache/runner-bench/dssm_vs_pytorch"))
    args = ap.parse_args()
    sides = [s.strip() for s in args.only.split(",") if s.strip()]
    for s in sides:
        if s not in ("runner", "sparse", "dense"):
            ap.error(f"unknown side `{s}` (runner, sparse, dense)")
    data_dir, work = os.path.abspath(args.data_dir), os.path.abspath(args.work)
    os.makedirs(work, exist_ok=True)
    runner = os.path.abspath(args.runner)
    if "runner" in sides and not os.access(runner, os.X_OK):
        sys.exit(f"no runner binary at {runner} (--runner, or CARGO_TARGET_DIR)")
    d = None
    if "sparse" in sides or "dense" in sides:
        import torch

        torch.set_num_threads(args.threads)
        torch.set_num_interop_threads(1)
        tt.log(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
        d = load(data_dir)
        tt.log(f"ml100k: {d.describe()}; mean item bag {np.mean([len(b) for b in d.bags]):.1f} trigrams")
    tt.log(f"runner {runner}; data {data_dir}; work {work}; threads {args.threads}")
    results = {}
    runs_csv = os.path.join(work, "runs.csv")
    new_csv = not os.path.exists(runs_csv)
    with open(runs_csv, "a", newline="") as fcsv:
        w = csv.writer(fcsv)
        if new_csv:
            w.writerow(["time", "side", "seed", "threads", "epochs", "examples_per_s", "recall10", "ndcg10", "last_loss",
                        "epoch_seconds", "wall_s", "load1"])
        for seed in args.seeds:
            for side in sides:
                load1 = os.getloadavg()[0]
                tt.log(f"{side} seed {seed}: {tt.load_str()}")
                if side == "runner":
                    r = run_runner(runner, seed, args.epochs, args.threads, work, data_dir)
                elif side == "sparse":
                    r = run_torch(d, seed, args.epochs, dense=False)
                else:
                    r = run_torch(d, seed, 1, dense=True, max_steps=args.dense_steps)
                results.setdefault(side, []).append(r)
                tt.log(f"{side} seed {seed}: {r['throughput']:,.0f} ex/s, Recall@10 {r['recall']:.4f}, NDCG@10 {r['ndcg']:.4f}, "
                       f"last loss {r['loss']:.4f}, epochs {r['epoch_s']} s, wall {r['wall']:.1f} s")
                w.writerow([time.strftime("%Y-%m-%d %H:%M:%S"), side, seed, args.threads, args.epochs, f"{r['throughput']:.1f}",
                            f"{r['recall']:.5f}", f"{r['ndcg']:.5f}", f"{r['loss']:.5f}", " ".join(map(str, r["epoch_s"])),
                            f"{r['wall']:.2f}", f"{load1:.2f}"])
                fcsv.flush()
    names = {"runner": "runner (dssm)", "sparse": "torch, EmbeddingBag", "dense": f"torch, dense input ({args.dense_steps} steps)"}
    lines = [f"ml-100k leave-last-out, {args.epochs} epochs, threads {args.threads}; examples/s = mean over epochs 2..N; "
             "mean ± sd over seeds", "", "| side | seeds | examples/s | Recall@10 | NDCG@10 |", "|---|---|---|---|---|"]
    for side in sides:
        rs = results.get(side, [])
        lines.append(f"| {names[side]} | {len(rs)} | {fmt([r['throughput'] for r in rs], 0)} | "
                     f"{fmt([r['recall'] for r in rs], 4)} | {fmt([r['ndcg'] for r in rs], 4)} |")
    lines.append("")
    if "runner" in results:
        mine = np.mean([r["throughput"] for r in results["runner"]])
        for side in ("sparse", "dense"):
            if side in results:
                lines.append(f"speed ratio runner / {names[side]} = {mine / np.mean([r['throughput'] for r in results[side]]):.1f}")
    table = "\n".join(lines) + "\n"
    print()
    print(table, end="", flush=True)
    with open(os.path.join(work, "table.md"), "w") as f:
        f.write(table)


if __name__ == "__main__":
    main()
