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


def distinct(x):
    """(distinct points, epochs, train s) counting each distinct point once at its furthest rung:
    a point proposed again is found in the cache, but trials.csv repeats its seconds."""
    t = trials_csv(x)
    if t is None:
        return None
    far = {}
    for r in t:
        e = int(r["epochs"]) if r.get("epochs") else x["max_epochs"]
        if r["point"] not in far or e > far[r["point"]][0]:
            far[r["point"]] = (e, float(r["train_s"] or 0))
    return len(far), sum(e for e, _ in far.values()), sum(s for _, s in far.values())


def asha_table(rows):
    grid = [x for x in rows if x["side"] == "grid"]
    out = ["| search | seed | trials | distinct points | pruned | best valid NDCG@10 | vs grid best | grid rank of the chosen point | best sampled point's grid score (a perfect pruner's result) "
           "| train s (trials.csv sum) | / grid | train s, each point once | / grid | est. / grid | epochs, each point once, / grid | wall s |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    g = grid[-1] if grid else None
    grid_rows = trials_csv(g) if g else None
    scores = sorted((float(r["valid NDCG@10"]) for r in grid_rows), reverse=True) if grid_rows else []
    for x in rows:
        est = estimated_train_s(x, grid_rows, x["max_epochs"]) if x["side"] != "grid" and g else None
        d = distinct(x)
        x["rel"] = (x["best_valid_ndcg10"] / g["best_valid_ndcg10"] - 1) * 100 if g else None
        x["frac"] = x["train_s"] / g["train_s"] * 100 if g else None
        x["frac_d"] = d[2] / g["train_s"] * 100 if g and d else None
        x["est"] = est / g["train_s"] * 100 if g and est is not None else None
        pct = lambda v: "" if v is None else f"{v:.1f}%"
        rel_s = "" if x["rel"] is None else f"{x['rel']:+.2f}%"
        t = trials_csv(x)
        oracle = ""
        if grid_rows and t:
            at = {tuple(r[k] for k in KEYS): float(r["valid NDCG@10"]) for r in grid_rows}
            o = max(at[tuple(r[k] for k in KEYS)] for r in t)
            oracle = f"{o:.4f} ({(o / scores[0] - 1) * 100:+.2f}%)"
        rank = f"{1 + sum(v > x['best_valid_ndcg10'] + 1e-12 for v in scores)} of {len(scores)}" if scores else ""
        out.append(f"| {x['side']} | {x['seed'] if x['seed'] is not None else '-'} | {x['trials']} | {d[0] if d else ''} | {x['pruned']} | "
                   f"{x['best_valid_ndcg10']:.4f} | {rel_s} | {rank} | {oracle} | "
                   f"{x['train_s']:.1f} | {pct(x['frac'])} | {'' if not d else f'{d[2]:.1f}'} | {pct(x['frac_d'])} | {pct(x['est'])} | "
                   f"{'' if not (d and g) else pct(d[1] / g['epochs_trained'] * 100)} | {x['wall_s']:.1f} |")
    if g:
        out.append("")
        for side in sorted({x["side"] for x in rows if x["side"] != "grid"}):
            r = [x for x in rows if x["side"] == side]
            rel = [x["rel"] for x in r]
            frac = [x["frac"] for x in r]
            fd = [x["frac_d"] for x in r if x["frac_d"] is not None]
            m, sd = ms(rel)
            fm, fsd = ms(frac)
            ok = sum(a >= -1.0 and f <= 25.0 for a, f in zip(rel, frac))
            out.append(f"- {side} over {len(r)} seeds: best vs grid best {m:+.2f}% ± {sd:.2f}% (worst {min(rel):+.2f}%, "
                       f"best {max(rel):+.2f}%); train s {fm:.1f}% ± {fsd:.1f}% of the grid's (max {max(frac):.1f}%"
                       + (f"; each point once {statistics.mean(fd):.1f}%, max {max(fd):.1f}%" if fd else "")
                       + f"); meets both targets (within 1%, at most 25%) on {ok} of {len(r)} seeds.")
        out.append(f"- grid: {g['trials']} points, best {g['best_valid_ndcg10']:.4f} at {g['best_values']}; "
                   f"points within 1% of it: {sum(v >= 0.99 * scores[0] for v in scores)}, within 3%: "
                   f"{sum(v >= 0.97 * scores[0] for v in scores)}, within 5%: {sum(v >= 0.95 * scores[0] for v in scores)}, "
                   f"within 10%: {sum(v >= 0.90 * scores[0] for v in scores)}.")
    return "\n".join(out)


def fmt_point(p):
    return ", ".join(f"{k} {p[k]}" for k in ["window", "lr", "negatives", "alpha", "dim"])


def noise_tables(top, chosen):
    """The grid's top points, and every run's chosen point, retrained with training seeds 2-5
    (grid_noise.py): what each choice is worth on seeds its search did not see."""
    out = []
    if top:
        out += ["| rank at seed 1 | point | valid NDCG@10, seed 1 (the grid's) | seeds 2, 3, 4, 5 | mean, seeds 2-5 | mean ± sd, seeds 1-5 | test NDCG@10, mean seeds 1-5 |",
                "|---|---|---|---|---|---|---|"]
        for rank in sorted({x["rank_seed1"] for x in top}):
            r = sorted((x for x in top if x["rank_seed1"] == rank), key=lambda x: x["seed"])
            fresh = [x["valid_ndcg10"] for x in r if x["seed"] != 1]
            allv = [x["valid_ndcg10"] for x in r]
            m, sd = ms(allv)
            out.append(f"| {rank} | {fmt_point(r[0]['point'])} | {r[0]['valid_ndcg10_seed1_as_searched']:.4f} | "
                       f"{', '.join(f'{v:.4f}' for v in fresh)} | {statistics.mean(fresh):.4f} | {m:.4f} ± {sd:.4f} | "
                       f"{statistics.mean(x['test_ndcg10'] for x in r):.4f} |")
    if chosen:
        by_point = {}
        for x in chosen:
            by_point.setdefault(json.dumps(x["point"], sort_keys=True), []).append(x)
        worth = {}
        for k, r in by_point.items():
            fresh = [x["valid_ndcg10"] for x in r if x["seed"] != 1]
            worth[k] = (statistics.mean(fresh), statistics.mean(x["test_ndcg10"] for x in r), r[0])
        # Which run chose which point: from the runs' own trials.csv.
        runs = {}
        one_seed = {("grid" if x["seed"] is None else f"{x['side']}-seed{x['seed']}") for x in load("asha_vs_grid.jsonl")
                    if x.get("trial_seeds", 1) == 1}
        for path in sorted((common.RESULTS / "asha_vs_grid").glob("*.csv")):
            if path.stem not in one_seed:
                continue
            with open(path) as f:
                for r in csv.DictReader(f):
                    if r["status"] == "chosen":
                        k = json.dumps({c: json.loads(r[c]) for c in ["window", "lr", "negatives", "alpha", "dim"]}, sort_keys=True)
                        if k in worth:
                            runs[path.stem] = k
        grid_key = runs.get("grid")
        if grid_key is None:
            return "\n".join(out)
        gv, gt, _ = worth[grid_key]
        cost = {("grid" if x["seed"] is None else f"{x['side']}-seed{x['seed']}"): x["train_s"] for x in load("asha_vs_grid.jsonl")
                if x.get("trial_seeds", 1) == 1}
        out += ["", "| run | chosen point | its valid NDCG@10 as searched (seed 1) | valid NDCG@10, mean of seeds 2-5 | vs the grid's choice | test NDCG@10, mean of seeds 1-5 | vs the grid's choice | train s / grid's |",
                "|---|---|---|---|---|---|---|---|"]
        order = sorted(runs, key=lambda n: (n != "grid", n))
        for run in order:
            v, t, x = worth[runs[run]]
            out.append(f"| {run} | {fmt_point(x['point'])} | {x['valid_ndcg10_seed1_as_searched']:.4f} | {v:.4f} | "
                       f"{100 * (v / gv - 1):+.1f}% | {t:.4f} | {100 * (t / gt - 1):+.1f}% | "
                       + (f"{100 * cost[run] / cost['grid']:.1f}% |" if run in cost and "grid" in cost else "- |"))
        variants = {}
        for run in order:
            if run != "grid":
                variants.setdefault(run.rsplit("-seed", 1)[0], []).append(run)
        out.append("")
        for side, rs in variants.items():
            rel = [100 * (worth[runs[r]][0] / gv - 1) for r in rs]
            m, sd = ms(rel)
            se = sd / len(rel) ** 0.5
            out.append(f"- {side}: the choice's fresh-seed validation score vs the grid's choice {m:+.1f}% on average "
                       f"(standard error {se:.1f}%; {min(rel):+.1f}% to {max(rel):+.1f}%); within 1% or better in "
                       f"{sum(v >= -1.0 for v in rel)} of {len(rel)} runs.")
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
    mv = load("tpe_multivariate.jsonl")
    if mv:
        optuna_rows = [x for x in pooled if x["side"] == "optuna-tpe"]
        for title, seeds in [("seeds 1-5 (the issue's measurement)", range(1, 6)), ("seeds 1-15", range(1, 16))]:
            print(f"### Benchmark 1, the runner's multivariate TPE against Optuna's, {title}, 25 trials\n")
            print(tpe_table([x for x in mv + optuna_rows if x["seed"] in seeds]) + "\n")
    print("\n### Benchmark 2: ASHA vs dense grid\n")
    # Runs scored on the mean of several training seeds have their own table (seed_mean.py).
    print(asha_table([x for x in load("asha_vs_grid.jsonl") if x.get("trial_seeds", 1) == 1]))
    if load("grid_noise.jsonl") or load("grid_noise_chosen.jsonl"):
        print("\n### Benchmark 2 on fresh training seeds\n")
        print(noise_tables(load("grid_noise.jsonl"), load("grid_noise_chosen.jsonl")))
