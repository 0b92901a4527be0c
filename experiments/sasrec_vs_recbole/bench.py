"""SASRec: the runner against RecBole 1.2 on MovieLens 100K, the runner's leave-last-out split
(RecBole reads it as sequential atomic files, recbole_side.py), the same dimension, blocks,
heads, history length, dropout, Adam step and batch size, one uniform negative per target,
seed by seed and interleaved (ours, RecBole, ours, ...). Each side trains for its own number
of epochs (--epochs for ours, --recbole-epochs for RecBole): an epoch of RecBole's is one
pass over every prefix of every history (one target per 50-item sequence), an epoch of ours one
pass over the histories cut into windows (every position a target), so the same count would
give RecBole about 50x the gradient steps. Both sides' vectors are scored by the same code:
full ranking (../yardsticks/common.py) and 100 sampled negatives (sampled.py). Prints the table
and appends one JSON line per run to --out.

usage: bench.py --runner BIN --data-dir DIR --work DIR --out FILE [--seeds 1 2 3] [--epochs 200] [--recbole-epochs 20]
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
from sampled import sampled_metrics  # noqa: E402

STAMP = time.strftime("%Y%m%dT%H%M%S")


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def ours(a, seed, split):
    name = f"sasrec_s{seed}"
    model = (f"kind = \"sasrec\"\ndim = {a.dim}\nblocks = {a.blocks}\nheads = {a.heads}\nmax_len = {a.max_len}\n"
             f"dropout = {a.dropout}\nlr = {a.lr}\nbatch_size = {a.batch}\nepochs = {a.epochs}")
    t = time.perf_counter()
    row, users, items = run_ml100k(a.runner, a.work, a.data_dir, name, seed, model, f"{a.work}/cache-{STAMP}", split)
    log(f"ours seed {seed}: {time.perf_counter() - t:.1f}s wall")
    recall, ndcg = rank_metrics(users, items, split)
    hr100, ndcg100 = sampled_metrics(users, items, split)
    per_epoch = [e["seconds"] for e in row["epochs"]]
    return {"side": "ours", "seed": seed, "fit_s": row["train_seconds"], "s_per_epoch": st.median(per_epoch), "per_epoch": per_epoch,
            "recall": recall, "ndcg": ndcg, "hr100": hr100, "ndcg100": ndcg100, "epochs": a.epochs, "runner_recall": row["metrics"]["Recall@10"]}


def recbole(a, seed):
    t = time.perf_counter()
    args = [a.python, os.path.join(HERE, "recbole_side.py"), "--data", os.path.join(a.data_dir, "ml-100k", "u.data"), "--work", os.path.join(a.work, "recbole"),
            "--seed", str(seed), "--epochs", str(a.recbole_epochs), "--threads", str(a.threads), "--dim", str(a.dim), "--blocks", str(a.blocks),
            "--heads", str(a.heads), "--max-len", str(a.max_len), "--dropout", str(a.dropout), "--lr", str(a.lr), "--batch", str(a.batch), "--loss", a.recbole_loss]
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
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--recbole-epochs", type=int, default=20)
    ap.add_argument("--recbole-loss", default="BPR", choices=["BPR", "CE"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--blocks", type=int, default=2)
    ap.add_argument("--heads", type=int, default=1)
    ap.add_argument("--max-len", type=int, default=50)
    ap.add_argument("--dropout", type=float, default=0.2)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch", type=int, default=128)
    a = ap.parse_args()
    os.makedirs(os.path.join(a.work, "recbole"), exist_ok=True)
    split = load_ml100k(os.path.join(a.data_dir, "ml-100k", "u.data"))
    runs = []
    for seed in a.seeds:
        for side in (ours, recbole):
            rec = side(a, seed, split) if side is ours else side(a, seed)
            rec.update({"threads": a.threads})
            runs.append(rec)
            with open(a.out, "a") as f:
                f.write(json.dumps(rec) + "\n")
    print(f"SASRec, MovieLens 100K leave-last-out, dim {a.dim}, {a.blocks} blocks, {a.heads} heads, history {a.max_len}, batch {a.batch}, "
          f"epochs: ours {a.epochs}, RecBole {a.recbole_epochs} ({a.recbole_loss}), {a.threads} threads, seeds {a.seeds}")
    print("| side | Recall@10 | NDCG@10 | HR@10 (100 neg) | NDCG@10 (100 neg) | s per epoch (median) | train s |")
    print("|---|---|---|---|---|---|---|")
    agg = {}
    for side in ("ours", "recbole"):
        rs = [r for r in runs if r["side"] == side]
        m = lambda k: (st.mean(r[k] for r in rs), st.pstdev(r[k] for r in rs))  # noqa: E731
        agg[side] = {k: m(k) for k in ("recall", "ndcg", "hr100", "ndcg100", "s_per_epoch", "fit_s")}
        g = agg[side]
        cells = " | ".join(f"{g[k][0]:.4f} ± {g[k][1]:.4f}" for k in ("recall", "ndcg", "hr100", "ndcg100"))
        print(f"| {side} | {cells} | {st.median(r['s_per_epoch'] for r in rs):.3f} | {g['fit_s'][0]:.1f} |")
    o, r = agg["ours"], agg["recbole"]
    print(f"ours / RecBole: Recall@10 {o['recall'][0] / r['recall'][0]:.3f}x, NDCG@10 {o['ndcg'][0] / r['ndcg'][0]:.3f}x, "
          f"HR@10 (100 neg) {o['hr100'][0] / r['hr100'][0]:.3f}x, training time {r['fit_s'][0] / o['fit_s'][0]:.1f}x faster, "
          f"per epoch {r['s_per_epoch'][0] / o['s_per_epoch'][0]:.1f}x")


if __name__ == "__main__":
    main()
