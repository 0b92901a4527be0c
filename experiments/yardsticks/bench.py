"""Drives both sides of the yardstick benchmarks, interleaved (ours, anchor, ours, anchor ...)
round by round, and appends one JSON line per measurement to --out.

usage: bench.py ml100k|items|synthetic|bpr_seeds --runner BIN --work DIR --data-dir DIR --out FILE [--rounds R]
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# The runner's cache keys do not include the binary: every invocation gets its own cache
# folder, so a rebuilt runner never answers from an earlier build's train stage.
STAMP = time.strftime("%Y%m%dT%H%M%S")


def config(name, work, data_dir, dataset, models, seed):
    body = f"""[experiment]
name = "{name}"
seeds = [{seed}]
cache_dir = "{work}/cache-{STAMP}"
results_dir = "{work}/results"
data_dir = "{data_dir}"

{dataset}

[split]
kind = "leave_last_out"

{models}

[metrics]
k = [10]
metrics = ["recall", "ndcg"]
latency_queries = 10
"""
    path = os.path.join(work, f"{name}.toml")
    with open(path, "w") as f:
        f.write(body)
    return path


def ours(a, name, dataset, models, seed, tag):
    """Runs the runner on a one-seed config; returns its result rows."""
    path = config(name, a.work, a.data_dir, dataset, models, seed)
    t = time.perf_counter()
    subprocess.run([a.runner, "run", path, "--quiet", "--jobs", "1"], check=True, cwd=a.work, stdout=subprocess.DEVNULL)
    log(f"ours {tag} seed {seed}: {time.perf_counter() - t:.1f}s wall")
    rows = json.load(open(os.path.join(a.work, "results", name, "results.json")))
    return path, rows


def anchor(a, args, tag):
    env = dict(os.environ)
    t = time.perf_counter()
    out = subprocess.run([a.python, os.path.join(HERE, "anchor.py"), *args], check=True, capture_output=True, text=True, env=env)
    log(f"anchor {tag}: {time.perf_counter() - t:.1f}s wall")
    return json.loads(out.stdout.strip().splitlines()[-1])


def emit(a, rec):
    with open(a.out, "a") as f:
        f.write(json.dumps(rec) + "\n")


def our_record(row, bench, label, threads, iters):
    return {"bench": bench, "side": "ours", "model": label, "threads": threads, "seed": row["seed"],
            "fit_s": row["train_seconds"], "iterations": iters, "s_per_iter": row["train_seconds"] / iters,
            "per_iter": [e["seconds"] for e in row.get("epochs", [])],
            "recall": row["metrics"]["Recall@10"], "ndcg": row["metrics"]["NDCG@10"]}


def bpr_freq(epochs, threads):
    """Our BPR as `implicit` trains it: 64 factors, lr 0.05, regularization 0.01, negatives in
    proportion to popularity (the frequency sampler, alpha 1)."""
    return (f'[[model]]\nname = "bpr_freq"\nkind = "bpr"\nfactors = 64\nlr = 0.05\nregularization = 0.01\nepochs = {epochs}\nthreads = {threads}\n'
            f'[sampler]\nkind = "frequency"\nalpha = 1.0')


ML = 'dataset_kind = "movielens"'


def ml100k(a):
    ds = '[dataset]\nkind = "movielens"\npath = "ml-100k"'
    u_data = os.path.join(a.data_dir, "ml-100k", "u.data")
    it_als, it_bpr = 15, 50
    for r in range(1, a.rounds + 1):
        seed = r
        for t in (1, 2):
            # ALS: ours alpha 1 (confidence 1 + 1*r = 2) == implicit alpha 2 (confidence 2*r = 2).
            _, rows = ours(a, f"als_t{t}", ds, f'[[model]]\nkind = "als"\nfactors = 64\nregularization = 0.01\nalpha = 1.0\niterations = {it_als}\nthreads = {t}', seed, f"als T={t}")
            emit(a, our_record(rows[0], "ml100k", "als", t, it_als))
            rec = anchor(a, ["als", "--data", u_data, "--threads", str(t), "--seed", str(seed), "--alpha", "2.0", "--iterations", str(it_als)], f"als T={t}")
            emit(a, {"bench": "ml100k", **rec})
            # BPR: implicit draws negatives in proportion to popularity (a random training pair's
            # item) and skips liked ones: ours with the frequency sampler (alpha 1) matches it;
            # ours with the default uniform sampler is the second row.
            models = bpr_freq(it_bpr, t)
            _, rows = ours(a, f"bprf_t{t}", ds, models, seed, f"bpr(freq) T={t}")
            emit(a, our_record(rows[0], "ml100k", "bpr_freq", t, it_bpr))
            rec = anchor(a, ["bpr", "--data", u_data, "--threads", str(t), "--seed", str(seed), "--lr", "0.05", "--iterations", str(it_bpr)], f"bpr T={t}")
            emit(a, {"bench": "ml100k", **rec})
            _, rows = ours(a, f"bpru_t{t}", ds, f'[[model]]\nname = "bpr_uniform"\nkind = "bpr"\nfactors = 64\nlr = 0.05\nregularization = 0.01\nepochs = {it_bpr}\nthreads = {t}', seed, f"bpr(uniform) T={t}")
            emit(a, our_record(rows[0], "ml100k", "bpr_uniform", t, it_bpr))


def bpr_seeds(a):
    """BPR quality over many seeds, one thread: ours (frequency sampler, `implicit`'s negatives)
    then `implicit`, seed by seed (--first-seed .. --first-seed + --rounds - 1)."""
    ds = '[dataset]\nkind = "movielens"\npath = "ml-100k"'
    u_data = os.path.join(a.data_dir, "ml-100k", "u.data")
    it_bpr = 50
    for seed in range(a.first_seed, a.first_seed + a.rounds):
        models = bpr_freq(it_bpr, 1)
        _, rows = ours(a, "bprf_seeds", ds, models, seed, "bpr(freq) T=1")
        emit(a, our_record(rows[0], "bpr_seeds", "bpr_freq", 1, it_bpr))
        rec = anchor(a, ["bpr", "--data", u_data, "--threads", "1", "--seed", str(seed), "--lr", "0.05", "--iterations", str(it_bpr)], "bpr T=1")
        emit(a, {"bench": "bpr_seeds", **rec})


def items(a):
    ds = '[dataset]\nkind = "movielens"\npath = "ml-100k"'
    u_data = os.path.join(a.data_dir, "ml-100k", "u.data")
    for r in range(1, a.rounds + 1):
        # A fresh seed per round gives a fresh train stage key only for seeded models; ease and
        # itemknn take no seed, so each round gets its own cache folder.
        for name, kind, extra, anchor_args in (
            ("ease", "ease", "lambda = 500.0", ["ease", "--lam", "500"]),
            ("itemknn", "itemknn", "k = 100\nshrink = 0.0", ["itemknn", "--k", "100", "--shrink", "0"]),
        ):
            work = a.work
            a.work = os.path.join(work, f"items_r{r}")
            os.makedirs(a.work, exist_ok=True)
            path, rows = ours(a, name, ds, f'[[model]]\nkind = "{kind}"\n{extra}', 1, name)
            prefix = os.path.join(a.work, "export", name)
            subprocess.run([a.runner, "export", path, "--format", "npy", "--out", prefix], check=True, cwd=a.work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            a.work = work
            row = rows[0]
            emit(a, {"bench": "items", "side": "ours", "model": name, "round": r, "fit_s": row["train_seconds"],
                     "recall": row["metrics"]["Recall@10"], "ndcg": row["metrics"]["NDCG@10"]})
            rec = anchor(a, [*anchor_args, "--data", u_data, "--compare", prefix], name)
            emit(a, {"bench": "items", "round": r, **rec})


def synthetic(a):
    csv = os.path.join(os.path.dirname(a.work), "synthetic-500k.csv")
    if not os.path.exists(csv):
        log("generating the synthetic table")
        subprocess.run([a.python, os.path.join(HERE, "anchor.py"), "synth", "--out", csv], check=True)
    ds = f'[dataset]\nkind = "table"\npath = "{csv}"\nuser_col = "user_id"\nitem_col = "item_id"\ntime_col = "timestamp"'
    it_als, it_bpr = a.synth_als_iters, a.synth_bpr_epochs
    for r in range(1, a.rounds + 1):
        seed = r
        for t in (1, 2):
            evaluate = t == 1 and r == 1
            _, rows = ours(a, f"syn_als_t{t}", ds, f'[[model]]\nkind = "als"\nfactors = 64\nregularization = 0.01\nalpha = 1.0\niterations = {it_als}\nthreads = {t}', seed, f"synthetic als T={t}")
            emit(a, our_record(rows[0], "synthetic", "als", t, it_als))
            args = ["als", "--data", csv, "--threads", str(t), "--seed", str(seed), "--alpha", "2.0", "--iterations", str(it_als)]
            rec = anchor(a, args + ([] if evaluate else ["--no-eval"]), f"synthetic als T={t}")
            emit(a, {"bench": "synthetic", **rec})
            models = bpr_freq(it_bpr, t)
            _, rows = ours(a, f"syn_bpr_t{t}", ds, models, seed, f"synthetic bpr T={t}")
            emit(a, our_record(rows[0], "synthetic", "bpr_freq", t, it_bpr))
            args = ["bpr", "--data", csv, "--threads", str(t), "--seed", str(seed), "--lr", "0.05", "--iterations", str(it_bpr)]
            rec = anchor(a, args + ([] if evaluate else ["--no-eval"]), f"synthetic bpr T={t}")
            emit(a, {"bench": "synthetic", **rec})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["ml100k", "items", "synthetic", "bpr_seeds"])
    ap.add_argument("--runner", required=True)
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--work", required=True)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--synth-als-iters", type=int, default=3)
    ap.add_argument("--synth-bpr-epochs", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=1, help="bpr_seeds: the first seed (--rounds seeds from it)")
    a = ap.parse_args()
    a.work, a.data_dir, a.out = (os.path.abspath(p) for p in (a.work, a.data_dir, a.out))
    os.makedirs(a.work, exist_ok=True)
    {"ml100k": ml100k, "items": items, "synthetic": synthetic, "bpr_seeds": bpr_seeds}[a.what](a)


if __name__ == "__main__":
    main()
