"""Benchmark 2: ASHA against a dense grid over the same (scaled-down) space.

The grid trains every point to `--epochs`. ASHA (`pruner = { kind = "asha", min_epochs = 1,
eta = 3 }`, rungs at 1, 3, 9 epochs, the end at `--epochs`) samples the SAME choice lists,
with `kind = "random"` and `kind = "tpe"`, `--trials` trials each, over several search seeds.
Each run has its own cache folder. Compared: the chosen trial's validation NDCG@10 (the
chosen trial of an ASHA run always trained to the end, so its score is at `--epochs` like
the grid's) and the sum of `train_s` over trials.csv (a pruned trial's is the sum of its
rungs; a promotion resumes from its checkpoint).

usage: python asha_vs_grid.py [--epochs 27] [--trials 90] [--seeds 1 2 3] [--kinds random tpe]
                              [--min-epochs 1] [--pruner asha|hyperband|median|none] [--interval 3] [--suffix LABEL] [--skip-grid]
                              [--exp-seeds 1] [--trial-seeds 1] [--grid-cache NAME] [--search-cache NAME]
`--exp-seeds` are `[experiment] seeds` (the tuned rows' training seeds); `--trial-seeds N` sets
`[search] trial_seeds = N` (each trial's objective is the mean over the first N of them).
`--grid-cache NAME` keeps the grid's cache in `work/asha_vs_grid/NAME` across runs (not
removed first), so that grids of single seeds can fill it before a grid over their mean.
`--search-cache NAME` runs the searches in that folder too: without a pruner a trial's
training is the grid's very stage, found there with the seconds the grid measured for it.
Appends one JSON line per run to results/asha_vs_grid.jsonl and copies each trials.csv to
results/asha_vs_grid/.
"""

import argparse
import shutil

import common

GRID = {
    "window": [2, 4, 8, 16, 32],
    "lr": [0.003, 0.01, 0.03, 0.1],
    "negatives": [2, 5, 10],
    "alpha": [-0.5, 0.25, 0.75],
    "dim": [32, 64],
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=27)
    ap.add_argument("--trials", type=int, default=90)
    ap.add_argument("--seeds", type=int, nargs="*", default=[1, 2, 3])
    ap.add_argument("--kinds", nargs="*", default=["random", "tpe"])
    ap.add_argument("--exp-seeds", type=int, nargs="+", default=[1])
    ap.add_argument("--trial-seeds", type=int, default=1)
    ap.add_argument("--grid-cache", default=None)
    ap.add_argument("--search-cache", default=None)
    ap.add_argument("--skip-grid", action="store_true")
    ap.add_argument("--min-epochs", type=int, default=1)
    ap.add_argument("--pruner", default="asha", choices=["asha", "hyperband", "median", "none"])
    ap.add_argument("--interval", type=int, default=3, help="median: epochs between rungs")
    ap.add_argument("--suffix", default="", help="appended to each ASHA run's label, e.g. -360t")
    ap.add_argument("--out", default=str(common.RESULTS / "asha_vs_grid.jsonl"))
    a = ap.parse_args()

    base = common.WORK / "asha_vs_grid"
    tables = common.RESULTS / "asha_vs_grid"
    tables.mkdir(parents=True, exist_ok=True)
    model = {"epochs": a.epochs, "threads": 1}
    space = {k: {"choice": v} for k, v in GRID.items()}
    n_points = 1
    for v in GRID.values():
        n_points *= len(v)

    extra = {"trial_seeds": a.trial_seeds} if a.trial_seeds > 1 else {}
    runs = [] if a.skip_grid else [(f"grid{a.suffix}", None, {"kind": "grid", "objective": "NDCG@10", "space": space, **extra})]
    pruner = None if a.pruner == "none" else {"kind": a.pruner, "min_epochs": a.min_epochs}
    if pruner:
        pruner.update({"interval": a.interval} if a.pruner == "median" else {"eta": 3})
    for s in a.seeds:
        for kind in a.kinds:
            runs.append((f"{'asha-' if pruner else ''}{kind}{a.suffix}", s, {"kind": kind, "trials": a.trials, "objective": "NDCG@10", "seed": s,
                                              "space": space, **({"pruner": pruner} if pruner else {}), **extra}))
    for label, s, search in runs:
        name = label if s is None else f"{label}-seed{s}"
        d = base / name
        shutil.rmtree(d, ignore_errors=True)
        shared = a.grid_cache if s is None else a.search_cache
        cache = base / shared if shared else d / "cache"
        rows, wall = common.run_runner(common.config(name, model, search, a.exp_seeds), d / "config.toml", cache, d / "res")
        shutil.copy(d / "res" / name / "trials.csv", tables / f"{name}.csv")
        c = common.chosen(rows)
        epochs = [int(r["epochs"]) for r in rows if r.get("epochs")] if "pruner" in search else [a.epochs] * len(rows)
        rec = {"bench": "asha_vs_grid", "side": label, "seed": s, "exp_seeds": a.exp_seeds, "trial_seeds": a.trial_seeds,
               "min_epochs": search["pruner"]["min_epochs"] if "pruner" in search else None, "trials": len(rows), "grid_points": n_points,
               "max_epochs": a.epochs, "best_valid_ndcg10": common.objective(c),
               "best_values": {k: c[k] for k in GRID}, "best_epochs": int(c["epochs"]) if c.get("epochs") else a.epochs,
               "pruned": sum(r["status"] == "pruned" for r in rows),
               "failed": sum(common.objective(r) is None for r in rows),
               "epochs_trained": sum(epochs), "full_trainings": sum(e == a.epochs for e in epochs),
               "train_s": round(common.train_seconds(rows), 3),
               # A point proposed again is found in the cache (its rungs are not retrained), but
               # trials.csv repeats its seconds: count each distinct point once, at its furthest.
               "train_s_distinct": round(sum(max(float(r["train_s"] or 0) for r in rows if r["point"] == p)
                                             for p in {r["point"] for r in rows}), 3),
               "distinct_points": len({r["point"] for r in rows}),
               "wall_s": round(wall, 2)}
        common.append_jsonl(a.out, rec)
        print(f"{name:<18} best {rec['best_valid_ndcg10']:.5f}  train {rec['train_s']:8.1f}s  epochs {rec['epochs_trained']:5d}  "
              f"wall {wall:7.1f}s", flush=True)


if __name__ == "__main__":
    main()
