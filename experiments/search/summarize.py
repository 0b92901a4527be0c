"""Prints the two tables of README.md from results/*.jsonl (markdown)."""

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
    ours = {x["seed"]: x["best_valid_ndcg10"] for x in rows if x["side"] == "runner-tpe"}
    theirs = {x["seed"]: x["best_valid_ndcg10"] for x in rows if x["side"] == "optuna-tpe"}
    both = sorted(set(ours) & set(theirs))
    if both:
        d = [ours[s] - theirs[s] for s in both]
        m, sd = ms(d)
        wins = sum(x > 0 for x in d)
        out.append("")
        out.append(f"Paired difference ours − Optuna over seeds {both}: {', '.join(f'{x:+.4f}' for x in d)}; "
                   f"mean {m:+.4f} ± {sd:.4f} (sd); ours ahead on {wins} of {len(d)} seeds.")
    return "\n".join(out)


def asha_table(rows):
    grid = [x for x in rows if x["side"] == "grid"]
    out = ["| search | seed | trials | pruned | full trainings | epochs trained | best valid NDCG@10 | vs grid best | train s | train s / grid | wall s |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    g = grid[-1] if grid else None
    for x in rows:
        rel = f"{(x['best_valid_ndcg10'] / g['best_valid_ndcg10'] - 1) * 100:+.2f}%" if g else ""
        frac = f"{x['train_s'] / g['train_s'] * 100:.1f}%" if g else ""
        out.append(f"| {x['side']} | {x['seed'] if x['seed'] is not None else '-'} | {x['trials']} | {x['pruned']} | "
                   f"{x['full_trainings']} | {x['epochs_trained']} | {x['best_valid_ndcg10']:.4f} | {rel} | "
                   f"{x['train_s']:.1f} | {frac} | {x['wall_s']:.1f} |")
    if g:
        out.append("")
        for side in sorted({x["side"] for x in rows if x["side"] != "grid"}):
            r = [x for x in rows if x["side"] == side]
            rel = [(x["best_valid_ndcg10"] / g["best_valid_ndcg10"] - 1) * 100 for x in r]
            frac = [x["train_s"] / g["train_s"] * 100 for x in r]
            m, sd = ms(rel)
            fm, fsd = ms(frac)
            ok = sum(a >= -1.0 and f <= 25.0 for a, f in zip(rel, frac))
            out.append(f"- {side} over {len(r)} seeds: best vs grid best {m:+.2f}% ± {sd:.2f}% (worst {min(rel):+.2f}%); "
                       f"train s {fm:.1f}% ± {fsd:.1f}% of the grid's (max {max(frac):.1f}%); "
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
    print("\n### Benchmark 2: ASHA vs dense grid\n")
    print(asha_table(load("asha_vs_grid.jsonl")))
