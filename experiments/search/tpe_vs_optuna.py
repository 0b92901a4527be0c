"""Benchmark 1: the runner's TPE against Optuna's TPESampler on the same objective.

Both sides tune item2vec on ML-100K (leave-last-out, validation = each user's second-to-last
interaction) over the same space with the same trial budget and the same number of random
start-up trials. The objective is always the runner's own validation NDCG@10:
- ours: one `runner run` per search seed with `[search] kind = "tpe", seed = s`;
- Optuna: `TPESampler(seed=s)` proposes (Optuna 5: the multivariate TPE, its default for one
  objective; the runner's default too since c947659, `--univariate` for its other mode), and each trial runs the SAME runner binary on a
  config whose search is a 1-point grid at Optuna's values, reading its trials.csv.
Every (side, seed) has its own cache folder, so no side gets free cache hits from the other
or from another seed. Seeds are interleaved: ours then Optuna's for each seed.

usage: python tpe_vs_optuna.py [--seeds 1 2 3 4 5] [--trials 25] [--epochs 5] [--tag tpe_vs_optuna]
Appends one JSON line per (side, seed) to results/TAG.jsonl and copies each side's per-trial
table to results/TAG/.
"""

import argparse
import csv
import shutil
import statistics
import time

import common

SPACE = {
    "window": {"int": [1, 20], "log": True},
    "lr": {"log_uniform": [0.001, 0.1]},
    "negatives": {"int": [1, 20]},
    "alpha": {"uniform": [-1.0, 1.0]},
    "dim": {"choice": [32, 64]},
    "query_last": {"int": [1, 50], "log": True},
}


def suggest(trial):
    return {
        "window": trial.suggest_int("window", 1, 20, log=True),
        "lr": trial.suggest_float("lr", 0.001, 0.1, log=True),
        "negatives": trial.suggest_int("negatives", 1, 20),
        "alpha": trial.suggest_float("alpha", -1.0, 1.0),
        "dim": trial.suggest_categorical("dim", [32, 64]),
        "query_last": trial.suggest_int("query_last", 1, 50, log=True),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    ap.add_argument("--trials", type=int, default=25)
    ap.add_argument("--startup", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--tag", default="tpe_vs_optuna", help="names the JSON lines file, the tables folder and the work folder")
    ap.add_argument("--univariate", action="store_true", help="the runner's TPE with multivariate = false (one density per key, its only mode before c947659)")
    ap.add_argument("--only-ours", action="store_true", help="run the runner's side only (Optuna's runs do not depend on the runner's sampler)")
    a = ap.parse_args()
    out = common.RESULTS / f"{a.tag}.jsonl"

    import optuna
    from optuna.samplers import TPESampler

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    base = common.WORK / a.tag
    tables = common.RESULTS / a.tag
    tables.mkdir(parents=True, exist_ok=True)
    model = {"epochs": a.epochs, "threads": 1}

    for s in a.seeds:
        # --- ours ---
        d = base / f"ours-seed{s}"
        shutil.rmtree(d, ignore_errors=True)
        search = {"kind": "tpe", "trials": a.trials, "n_startup_trials": a.startup, "objective": "NDCG@10",
                  "seed": s, "space": SPACE}
        if a.univariate:
            search["multivariate"] = False
        rows, wall = common.run_runner(common.config(f"ours-seed{s}", model, search), d / "config.toml", d / "cache", d / "res")
        shutil.copy(d / "res" / f"ours-seed{s}" / "trials.csv", tables / f"ours-seed{s}.csv")
        vals = [common.objective(r) for r in rows]
        c = common.chosen(rows)
        rec = {"bench": "tpe_vs_optuna", "side": "runner-tpe", "seed": s, "trials": len(rows), "epochs": a.epochs,
               "n_startup_trials": a.startup, "best_valid_ndcg10": common.objective(c),
               "best_values": {k: c[k] for k in SPACE}, "failed": sum(v is None for v in vals),
               "train_s": round(common.train_seconds(rows), 3), "wall_s": round(wall, 2),
               "best_so_far": running_best(vals)}
        common.append_jsonl(out, rec)
        print(f"ours   seed {s}: best {rec['best_valid_ndcg10']:.5f}  train {rec['train_s']:.1f}s  wall {wall:.1f}s", flush=True)
        if a.only_ours:
            continue

        # --- Optuna ---
        d = base / f"optuna-seed{s}"
        shutil.rmtree(d, ignore_errors=True)
        log = []

        def objective(trial):
            values = suggest(trial)
            name = f"optuna-seed{s}"
            grid = {"kind": "grid", "trials": 1, "objective": "NDCG@10",
                    "space": {k: {"choice": [v]} for k, v in values.items()}}
            rows, w = common.run_runner(common.config(name, model, grid), d / "config.toml", d / "cache", d / "res")
            (r,) = rows
            v = common.objective(r)
            log.append({"trial": trial.number, **values, "valid NDCG@10": v, "train_s": float(r["train_s"] or 0),
                        "wall_s": round(w, 3), "status": r["status"], "error": r["error"]})
            if v is None:
                raise optuna.TrialPruned()  # failed: Optuna ignores it like our failed trials
            return v

        t0 = time.perf_counter()
        study = optuna.create_study(direction="maximize",
                                    sampler=TPESampler(seed=s, n_startup_trials=a.startup))
        study.optimize(objective, n_trials=a.trials)
        wall = time.perf_counter() - t0
        with open(tables / f"optuna-seed{s}.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(log[0].keys()))
            w.writeheader()
            w.writerows(log)
        vals = [t["valid NDCG@10"] for t in log]
        rec = {"bench": "tpe_vs_optuna", "side": "optuna-tpe", "seed": s, "trials": len(log), "epochs": a.epochs,
               "n_startup_trials": a.startup, "best_valid_ndcg10": study.best_value,
               "best_values": study.best_params, "failed": sum(v is None for v in vals),
               "train_s": round(sum(t["train_s"] for t in log), 3), "wall_s": round(wall, 2),
               "best_so_far": running_best(vals), "optuna": optuna.__version__}
        common.append_jsonl(out, rec)
        print(f"optuna seed {s}: best {rec['best_valid_ndcg10']:.5f}  train {rec['train_s']:.1f}s  wall {wall:.1f}s", flush=True)


def running_best(vals):
    out, b = [], None
    for v in vals:
        if v is not None and (b is None or v > b):
            b = v
        out.append(None if b is None else round(b, 6))
    return out


if __name__ == "__main__":
    main()
