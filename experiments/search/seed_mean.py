"""Benchmark 2 with `trial_seeds`: the grid and the searches scored by the mean validation
objective over training seeds, instead of one seed's score.

Reads the grids of single seeds (`asha_vs_grid.py --exp-seeds S --suffix=-seedS`, their
trials.csv in results/asha_vs_grid/grid-seedS.csv), the grid over the mean of seeds 1..N
(`--exp-seeds 1 .. N --trial-seeds N --suffix=-Nseeds`) and the searches run with the same
`--trial-seeds N` (their label contains `-Nseeds`), all from results/asha_vs_grid.jsonl and
results/grid_by_seed.jsonl, and prints markdown:

1. each seed's grid: its best point and score, and how many points lie within 1/3/5% of it;
   the same for the mean of seeds 1..N (what a grid with `trial_seeds = N` chooses);
2. each search with `trial_seeds = N` against that grid: its choice, its mean score against
   the grid's best mean, the chosen point's rank in the grid of means, and its training
   seconds against the grid's (its trials.csv sum, and priced at the grid's measured seconds
   per point, seed and epoch: "est.", independent of the machine's load).

usage: python seed_mean.py [--n 3] [--runs SUBSTRING]
"""

import argparse
import csv
import statistics

import common
from summarize import KEYS, load


def rows_of(name):
    with open(common.RESULTS / "asha_vs_grid" / f"{name}.csv") as f:
        return list(csv.DictReader(f))


def key(r):
    return tuple(r[k] for k in KEYS)


def describe(point):
    return ", ".join(f"{k} {v}" for k, v in zip(KEYS, point))


def near(scores, best):
    return "/".join(str(sum(v >= (1 - p) * best for v in scores)) for p in (0.01, 0.03, 0.05))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=3)
    ap.add_argument("--runs", default="", help="only the searches whose label contains this")
    a = ap.parse_args()
    seeds = list(range(1, a.n + 1))
    grids = {s: {key(r): r for r in rows_of(f"grid-seed{s}")} for s in seeds}
    points = list(grids[1])
    score = {s: {p: float(grids[s][p]["valid NDCG@10"]) for p in points} for s in seeds}
    mean = {p: statistics.mean(score[s][p] for s in seeds) for p in points}

    print("| grid scored on | best point | its score | that point's mean over seeds " + "-".join(map(str, [seeds[0], seeds[-1]]))
          + " | points within 1/3/5% of the best | train s |")
    print("|---|---|---|---|---|---|")
    for s in seeds:
        best = max(points, key=lambda p: score[s][p])
        secs = sum(float(grids[s][p]["train_s"]) for p in points)
        print(f"| seed {s} | {describe(best)} | {score[s][best]:.4f} | {mean[best]:.4f} | "
              f"{near(score[s].values(), score[s][best])} | {secs:.0f} |")
    best = max(points, key=lambda p: mean[p])
    total = sum(float(grids[s][p]["train_s"]) for s in seeds for p in points)
    print(f"| mean of seeds {seeds[0]}-{seeds[-1]} | {describe(best)} | {mean[best]:.4f} | {mean[best]:.4f} | "
          f"{near(mean.values(), mean[best])} | {total:.0f} |")

    # The grid run with trial_seeds = N must agree with the mean computed from the seeds' grids.
    runs = [x for x in load("asha_vs_grid.jsonl") + load("grid_by_seed.jsonl") + load("grid_cache_searches.jsonl") if x.get("trial_seeds") == a.n
            and (x["seed"] is None or a.runs in x["side"])]
    grid_name = "grid-seed1" if a.n == 1 else f"grid-{a.n}seeds"
    grid_run = [x for x in runs if x["seed"] is None and x["side"] == grid_name]
    if grid_run:
        g = grid_run[-1]
        print(f"\nThe grid with `trial_seeds = {a.n}` (`{g['side']}`): best {g['best_valid_ndcg10']:.6f} "
              f"(from the seeds' grids: {mean[best]:.6f}); its trials.csv sums {g['train_s']:.0f} training seconds.")
    ranked = sorted(mean.values(), reverse=True)
    print()
    print("| search | seed | trials | chosen point | its mean valid NDCG@10 | vs the grid's best mean | rank in the grid of means "
          "| train s (trials.csv) | / grid | est. / grid | wall s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    per_side = {}
    for x in sorted((x for x in runs if x["seed"] is not None), key=lambda x: (x["side"], x["seed"])):
        t = rows_of(f"{x['side']}-seed{x['seed']}")
        chosen = [r for r in t if r["status"] == "chosen"][0]
        v = float(chosen["valid NDCG@10"])
        rel = (v / mean[best] - 1) * 100
        est = sum(float(grids[s][key(r)]["train_s"]) * int(r.get("epochs") or x["max_epochs"]) / x["max_epochs"]
                  for r in t if float(r["train_s"] or 0) > 0 for s in seeds)
        rank = 1 + sum(m > v + 1e-12 for m in ranked)
        per_side.setdefault(x["side"], []).append((rel, x["train_s"] / total * 100, est / total * 100))
        print(f"| {x['side']} | {x['seed']} | {x['trials']} | {describe(key(chosen))} | {v:.4f} | {rel:+.1f}% | {rank} of {len(ranked)} | "
              f"{x['train_s']:.0f} | {x['train_s'] / total * 100:.1f}% | {est / total * 100:.1f}% | {x['wall_s']:.0f} |")
    for side, r in per_side.items():
        rel = [x[0] for x in r]
        ok = sum(x[0] >= -1.0 and x[1] <= 25.0 for x in r)
        print(f"\n- {side}: vs the grid's best mean {statistics.mean(rel):+.1f}% on average ({min(rel):+.1f}% to {max(rel):+.1f}%), "
              f"train s {statistics.mean(x[1] for x in r):.1f}% of the grid's (est. {statistics.mean(x[2] for x in r):.1f}%); "
              f"within 1% at no more than a quarter of the seconds in {ok} of {len(r)} runs.")


if __name__ == "__main__":
    main()
