"""The default-against-tuned table of `configs/ml100k-tuned.toml` from a finished run: each
model's rows (mean ± sd over seeds of test Recall@10 and NDCG@10), a tuned row's chosen values
and validation score, and its search's trials, pruned trials and training seconds (from
trials.csv; a repeated point counts once there already). A default row's validation score is
its search's trial 0 when that trial is the model as written (`enqueue = [{}]`: every searched
key at the default row's value) and trained to the end (ASHA's first trial always does).

usage: python tuned_table.py RESULTS_DIR     (the run's results/ml100k-tuned folder)
"""

import csv
import json
import statistics
import sys
from pathlib import Path


# trials.csv columns that are not searched keys.
META = {"model", "search", "trial", "point", "valid NDCG@10", "epochs", "rungs", "bracket", "train_s", "status", "error"}


def main():
    d = Path(sys.argv[1])
    rows = json.load(open(d / "results.json"))
    trials = list(csv.DictReader(open(d / "trials.csv")))
    groups = {}
    for r in rows:
        groups.setdefault((r["model"], r["point"]), []).append(r)
    print("| model | row | chosen values | valid NDCG@10 | test Recall@10 | test NDCG@10 | search: trials (pruned), train s |")
    print("|---|---|---|---|---|---|---|")
    for (model, point), rs in groups.items():
        def ms(col):
            v = [r["metrics"][col] for r in rs]
            sd = statistics.stdev(v) if len(v) > 1 else 0.0
            return f"{statistics.mean(v):.4f} ± {sd:.4f}"
        name = model.replace(" default", "")
        if point == "tuned":
            cfg = rs[0]["config"]
            ts = [t for t in trials if t["model"] == model]
            searched = sorted(k for k in ts[0] if k not in META and any(t[k] for t in ts))
            chosen = ", ".join(f"{k}={cfg.get('model.' + k, '?')}" for k in searched)
            valid = cfg.get("valid NDCG@10", "-")
            search = f"{len(ts)} ({sum(t['status'] == 'pruned' for t in ts)}), {sum(float(t['train_s']) for t in ts):.1f}"
            row = "tuned"
        else:
            chosen, valid, search = "-", "-", "-"
            row = "default" if model.endswith(" default") else "-"
            if row == "default":
                valid = default_valid(name, rs[0]["config"], trials)
        print(f"| {name} | {row} | {chosen} | {valid} | {ms('Recall@10')} | {ms('NDCG@10')} | {search} |")


def default_valid(model, cfg, trials):
    """Trial 0's validation score when its point is the default row's configuration."""
    t0 = next((t for t in trials if t["model"] == model and t["trial"] == "0"), None)
    if t0 is None or t0["status"] not in ("ok", "chosen"):
        return "-"
    searched = [k for k in t0 if k not in META and t0[k]]
    same = all(_same(t0[k], cfg.get("model." + k)) for k in searched)
    return f"{float(t0['valid NDCG@10']):.4f}" if same else "-"


def _same(text, value):
    try:
        return abs(float(text) - float(value)) <= 1e-9 * max(1.0, abs(float(value)))
    except (TypeError, ValueError):
        return str(text) == str(value)


if __name__ == "__main__":
    main()
