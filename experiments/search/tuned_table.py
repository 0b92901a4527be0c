"""The default-against-tuned table of `configs/ml100k-tuned.toml` from a finished run: each
model's rows (mean ± sd over seeds of test Recall@10 and NDCG@10), a tuned row's chosen values
and validation score, and its search's trials, pruned trials and training seconds (from
trials.csv; a repeated point counts once there already).

usage: python tuned_table.py RESULTS_DIR     (the run's results/ml100k-tuned folder)
"""

import csv
import json
import statistics
import sys
from pathlib import Path


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
            meta = {"model", "search", "trial", "point", "valid NDCG@10", "epochs", "bracket", "train_s", "status", "error"}
            searched = sorted(k for k in ts[0] if k not in meta and any(t[k] for t in ts))
            chosen = ", ".join(f"{k}={cfg.get('model.' + k, '?')}" for k in searched)
            valid = cfg.get("valid NDCG@10", "-")
            search = f"{len(ts)} ({sum(t['status'] == 'pruned' for t in ts)}), {sum(float(t['train_s']) for t in ts):.1f}"
            row = "tuned"
        else:
            chosen, valid, search = "-", "-", "-"
            row = "default" if model.endswith(" default") else "-"
        print(f"| {name} | {row} | {chosen} | {valid} | {ms('Recall@10')} | {ms('NDCG@10')} | {search} |")


if __name__ == "__main__":
    main()
