"""Prints the two tables of README.md from results/*.jsonl (markdown)."""

import csv
import json
import statistics
import sys
from pathlib import Path

import common


def load(name):
    p = common.RESULTS / name
    return [json.loads(l) for l in open(p)] if p.exists() else []


def ms(xs):
    m = statistics.mean(xs)
    sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
    return m, sd


def tpe_table(rows):
    out = ["| side | seeds | best valid NDCG@10 per seed | mean ± sd | min – max | best after the random start-up, mean | gain in the TPE phase, mean ± sd | train s (sum over seeds) | wall s (sum) |",
           "|---|---|---|---|---|---|---|---|---|"]
    for side in ["runner-tpe", "optuna-tpe"]:
        r = sorted((x for x in rows if x["side"] == side), key=lambda x: x["seed"])
        if not r:
            continue
        b = [x["best_valid_ndcg10"] for x in r]
        m, sd = ms(b)
        st = [x["best_so_far"][x["n_startup_trials"] - 1] for x in r]
        gm, gsd = ms([v - u for v, u in zip(b, st)])
        out.append(f"| {side} | {', '.join(str(x['seed']) for x in r)} | {', '.join(f'{v:.4f}' for v in b)} | "
                   f"{m:.4f} ± {sd:.4f} | {min(b):.4f} – {max(b):.4f} | {statistics.mean(st):.4f} | {gm:+.4f} ± {gsd:.4f} | "
                   f"{sum(x['train_s'] for x in r):.1f} | "
                   f"{sum(x['wall_s'] for x in r):.1f} |")
    ours = [x["best_valid_ndcg10"] for x in rows if x["side"] == "runner-tpe"]
    theirs = [x["best_valid_ndcg10"] for x in rows if x["side"] == "optuna-tpe"]
    if len(ours) > 1 and len(theirs) > 1:
        # Unpaired: seed s drives a different random stream on each side.
        (m1, s1), (m2, s2) = ms(ours), ms(theirs)
        se = (s1 ** 2 / len(ours) + s2 ** 2 / len(theirs)) ** 0.5
        out.append("")
        out.append(f"Ours − Optuna, difference of the means: {m1 - m2:+.5f} (standard error {se:.5f}, "
                   f"{(m1 - m2) / m2 * 100:+.2f}% of Optuna's mean).")
    return "\n".join(out)


KEYS = ["window", "lr", "negatives", "alpha", "dim"]


def trials_csv(x):
    name = x["side"] if x["seed"] is None else f"{x['side']}-seed{x['seed']}"
    p = common.RESULTS / "asha_vs_grid" / f"{name}.csv"
    return list(csv.DictReader(open(p))) if p.exists() else None


def estimated_train_s(x, grid_rows, max_epochs):
    """Load-independent cross-check: each trial's cost taken from the grid's own measured
    seconds for the same point, times the fraction of the epochs it trained."""
    t = trials_csv(x)
    if t is None or grid_rows is None:
        return None
    per_point = {tuple(r[k] for k in KEYS): float(r["train_s"]) for r in grid_rows}
    return sum(per_point[tuple(r[k] for k in KEYS)] * int(r["epochs"]) / max_epochs for r in t)


def asha_table(rows):
    grid = [x for x in rows if x["side"] == "grid"]
    out = ["| search | seed | trials | pruned | full trainings | epochs trained | best valid NDCG@10 | vs grid best | epochs / grid | train s | train s / grid | est. train s / grid | wall s |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    g = grid[-1] if grid else None
    grid_rows = trials_csv(g) if g else None
    for x in rows:
        est = estimated_train_s(x, grid_rows, x["max_epochs"]) if x["side"] != "grid" else None
        x["est"] = None if est is None or not g else est / g["train_s"] * 100
        est_s = "" if x["est"] is None else f"{x['est']:.1f}%"
        rel = f"{(x['best_valid_ndcg10'] / g['best_valid_ndcg10'] - 1) * 100:+.2f}%" if g else ""
        frac = f"{x['train_s'] / g['train_s'] * 100:.1f}%" if g else ""
        ep = f"{x['epochs_trained'] / g['epochs_trained'] * 100:.1f}%" if g else ""
        out.append(f"| {x['side']} | {x['seed'] if x['seed'] is not None else '-'} | {x['trials']} | {x['pruned']} | "
                   f"{x['full_trainings']} | {x['epochs_trained']} | {x['best_valid_ndcg10']:.4f} | {rel} | "
                   f"{ep} | {x['train_s']:.1f} | {frac} | {est_s} | {x['wall_s']:.1f} |")
    if g:
        out.append("")
        for side in sorted({x["side"] for x in rows if x["side"] != "grid"}):
            r = [x for x in rows if x["side"] == side]
            rel = [(x["best_valid_ndcg10"] / g["best_valid_ndcg10"] - 1) * 100 for x in r]
            frac = [x["train_s"] / g["train_s"] * 100 for x in r]
            m, sd = ms(rel)
            fm, fsd = ms(frac)
            est = [x["est"] for x in r if x["est"] is not None]
            ok = sum(a >= -1.0 and f <= 25.0 for a, f in zip(rel, frac))
            out.append(f"- {side} over {len(r)} seeds: best vs grid best {m:+.2f}% ± {sd:.2f}% (worst {min(rel):+.2f}%); "
                       f"train s {fm:.1f}% ± {fsd:.1f}% of the grid's (max {max(frac):.1f}%"
                       + (f"; estimated from the grid's own per-point seconds {statistics.mean(est):.1f}%, max {max(est):.1f}%" if est else "")
                       + "); "
                       f"meets both targets (within 1%, at most 25%) on {ok} of {len(r)} seeds.")
        out.append(f"- grid: {g['trials']} points, best {g['best_valid_ndcg10']:.4f} at {g['best_values']}.")
    return "\n".join(out)


if __name__ == "__main__":
    for tag, title in [("tpe_vs_optuna", "seeds 1-5, 25 trials (the issue's measurement)"),
                       ("tpe_vs_optuna_seeds6-15", "10 more seeds, 25 trials"),
                       ("tpe_vs_optuna_50trials", "seeds 1-5, 50 trials")]:
        rows = load(f"{tag}.jsonl")
        if rows:
            print(f"### Benchmark 1: runner TPE vs Optuna TPE, {title}\n")
            print(tpe_table(rows) + "\n")
    pooled = load("tpe_vs_optuna.jsonl") + load("tpe_vs_optuna_seeds6-15.jsonl")
    if load("tpe_vs_optuna_seeds6-15.jsonl"):
        print("### Benchmark 1, pooled: seeds 1-15, 25 trials\n")
        print(tpe_table(pooled) + "\n")
    print("\n### Benchmark 2: ASHA vs dense grid\n")
    print(asha_table(load("asha_vs_grid.jsonl")))
