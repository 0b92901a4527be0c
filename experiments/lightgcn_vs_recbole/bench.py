"""LightGCN: the runner against RecBole 1.2 on MovieLens 100K, the runner's leave-last-out
split (RecBole reads it as atomic files), the same dimensions, layers, L2, Adam settings,
batch size, epochs and uniform negatives, seed by seed and interleaved (ours, RecBole, ours,
...). Both sides' vectors are scored by the same code (../yardsticks/common.py: full ranking,
training items excluded); training seconds per epoch are each side's own timing of its epochs.
Prints the table and appends one JSON line per run to --out.

usage: bench.py --runner BIN --data-dir DIR --work DIR --out FILE [--seeds 1 2 3] [--epochs 40]
"""

import argparse
import json
import os
import statistics as st
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "yardsticks"))
from common import load_ml100k, rank_metrics, run_ml100k  # noqa: E402

STAMP = time.strftime("%Y%m%dT%H%M%S")


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def ours(a, seed, split):
    name = f"lightgcn_s{seed}"
    model = f"kind = \"lightgcn\"\ndim = {a.dim}\nlayers = {a.layers}\nreg = {a.reg}\nlr = {a.lr}\nbatch_size = {a.batch}\nepochs = {a.epochs}"
    t = time.perf_counter()
    row, users, items = run_ml100k(a.runner, a.work, a.data_dir, name, seed, model, f"{a.work}/cache-{STAMP}", split)
    log(f"ours seed {seed}: {time.perf_counter() - t:.1f}s wall")
    recall, ndcg = rank_metrics(users, items, split)
    per_epoch = [e["seconds"] for e in row["epochs"]]
    return {"side": "ours", "seed": seed, "fit_s": row["train_seconds"], "s_per_epoch": st.median(per_epoch), "per_epoch": per_epoch,
            "recall": recall, "ndcg": ndcg, "runner_recall": row["metrics"]["Recall@10"]}


def recbole(a, seed):
    t = time.perf_counter()
    args = [a.python, os.path.join(HERE, "recbole_side.py"), "--data", os.path.join(a.data_dir, "ml-100k", "u.data"), "--work", os.path.join(a.work, "recbole"),
            "--seed", str(seed), "--epochs", str(a.epochs), "--threads", str(a.threads), "--dim", str(a.dim), "--layers", str(a.layers),
            "--reg", str(a.reg), "--lr", str(a.lr), "--batch", str(a.batch)]
    out = subprocess.run(args, check=True, capture_output=True, text=True)
    log(f"recbole seed {seed}: {time.perf_counter() - t:.1f}s wall")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runner", required=True)
    ap.add_argument("--python", default=os.path.expanduser("~/.cache/recbole-venv/bin/python"))
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--reg", type=float, default=1e-4)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch", type=int, default=2048)
    a = ap.parse_args()
    os.makedirs(os.path.join(a.work, "recbole"), exist_ok=True)
    split = load_ml100k(os.path.join(a.data_dir, "ml-100k", "u.data"))
    runs = []
    for seed in a.seeds:
        for side in (ours, recbole):
            rec = side(a, seed, split) if side is ours else side(a, seed)
            rec.update({"epochs": a.epochs, "threads": a.threads})
            runs.append(rec)
            with open(a.out, "a") as f:
                f.write(json.dumps(rec) + "\n")
    print(f"LightGCN, MovieLens 100K leave-last-out, dim {a.dim}, {a.layers} layers, {a.epochs} epochs, batch {a.batch}, {a.threads} threads, seeds {a.seeds}")
    print("| side | Recall@10 | NDCG@10 | s per epoch (median) |")
    print("|---|---|---|---|")
    agg = {}
    for side in ("ours", "recbole"):
        rs = [r for r in runs if r["side"] == side]
        m = lambda k: (st.mean(r[k] for r in rs), st.pstdev(r[k] for r in rs))  # noqa: E731
        agg[side] = {k: m(k) for k in ("recall", "ndcg", "s_per_epoch")}
        g = agg[side]
        print(f"| {side} | {g['recall'][0]:.4f} ± {g['recall'][1]:.4f} | {g['ndcg'][0]:.4f} ± {g['ndcg'][1]:.4f} | {st.median(r['s_per_epoch'] for r in rs):.3f} |")
    o, r = agg["ours"], agg["recbole"]
    print(f"ours / RecBole: Recall@10 {o['recall'][0] / r['recall'][0]:.3f}x, NDCG@10 {o['ndcg'][0] / r['ndcg'][0]:.3f}x, "
          f"speed {r['s_per_epoch'][0] / o['s_per_epoch'][0]:.1f}x")


if __name__ == "__main__":
    main()
