"""Shared evaluator and table of the end-to-end node2vec benchmark (run.sh).

Reads the JSON lines that run.sh collected (one per pipeline run: the side's own JSON plus
`wall_s` and `max_rss_kib` measured by /usr/bin/time around the whole process), scores
every run's embedding with ONE protocol, the same for both sides, and prints a markdown
table with the medians over runs.

Protocol (DeepWalk / node2vec node classification): the labelled nodes (in the order of the
labels file) are split 50/50 by `numpy.random.RandomState(split).permutation`, split =
0..9, so both sides see the same 10 splits; scikit-learn's one-vs-rest
`LogisticRegression(C=1)` (L2, lbfgs, max_iter 1000) is fitted on the raw training vectors;
each test node is predicted its top-k classes by decision score, k = its number of true
classes; Macro-F1 and Micro-F1 are `sklearn.metrics.f1_score` over all classes
(zero_division=0), averaged over the 10 splits, then over the runs.

usage: evaluate.py RUNS.jsonl --labels-dir DIR
"""
import argparse
import json
import os
import statistics
import sys
import warnings
from collections import defaultdict

# One BLAS thread: on a small, shared machine OpenBLAS's own threads oversubscribe the cores
# and made the 1,945 x 128 fits ~20x slower. Evaluation is not timed.
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402


def read_labels(path):
    """Raw node id -> sorted class list, nodes in order of first appearance."""
    of = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#%":
                continue
            cols = line.replace(",", " ").split()
            of.setdefault(cols[0], set()).update(cols[1:])
    return {u: sorted(c) for u, c in of.items()}


def node_classification(emb_path, labels, splits=10, train_fraction=0.5):
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.preprocessing import MultiLabelBinarizer

    emb = np.load(emb_path)
    ids = open(emb_path[: -len(".npy")] + ".ids").read().split("\n")[: emb.shape[0]]
    row = {u: i for i, u in enumerate(ids)}
    nodes = list(labels)
    missing = [u for u in nodes if u not in row]
    if missing:
        sys.exit(f"{emb_path}: {len(missing)} labelled nodes have no vector, e.g. {missing[:3]}")
    X = emb[[row[u] for u in nodes]].astype(np.float64)
    mlb = MultiLabelBinarizer(classes=sorted({c for cs in labels.values() for c in cs}))
    Y = mlb.fit_transform([labels[u] for u in nodes])
    n_train = round(len(nodes) * train_fraction)
    macro, micro = [], []
    for split in range(splits):
        perm = np.random.RandomState(split).permutation(len(nodes))
        tr, te = perm[:n_train], perm[n_train:]
        clf = OneVsRestClassifier(LogisticRegression(C=1.0, max_iter=1000))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a class absent from a training half
            clf.fit(X[tr], Y[tr])
        scores = clf.decision_function(X[te])
        k = Y[te].sum(axis=1)
        pred = np.zeros_like(Y[te])
        order = np.argsort(-scores, axis=1, kind="stable")
        for i in range(len(te)):
            pred[i, order[i, : k[i]]] = 1
        macro.append(f1_score(Y[te], pred, average="macro", zero_division=0))
        micro.append(f1_score(Y[te], pred, average="micro", zero_division=0))
    return float(np.mean(macro)), float(np.mean(micro)), len(nodes), len(mlb.classes_)


def med(xs):
    return statistics.median(xs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("runs")
    ap.add_argument("--labels-dir", required=True)
    a = ap.parse_args()
    runs = [json.loads(l) for l in open(a.runs) if l.strip()]
    by = defaultdict(list)
    labels = {}
    for r in runs:
        g = r["graph"].rsplit(".", 1)[0]
        if g not in labels:
            labels[g] = read_labels(f"{a.labels_dir}/{g}.labels.tsv")
        r["macro_f1"], r["micro_f1"], r["n_labelled"], r["n_classes"] = node_classification(r["emb"], labels[g])
        print(json.dumps({k: r[k] for k in ("side", "graph", "seed", "wall_s", "max_rss_kib", "walk_s", "train_s", "macro_f1", "micro_f1")}), file=sys.stderr)
        by[(g, r["side"])].append(r)
    sides = ["pecanpy+gensim", "ours", "ours-walks+gensim", "pecanpy-walks+ours"]
    print("| graph | p, q | side | runs | walks s | training s | total s | peak RSS MiB | Macro-F1 | Micro-F1 |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    verdicts = []
    for g in dict.fromkeys(k[0] for k in by):
        row = {}
        for s in sides:
            rs = by.get((g, s))
            if not rs:
                continue
            f = lambda key: [r[key] for r in rs]
            row[s] = dict(
                walk=med(f("walk_s")), train=med(f("train_s")), total=med(f("wall_s")),
                rss=max(f("max_rss_kib")) / 1024, macro=statistics.mean(f("macro_f1")),
                macro_sd=statistics.pstdev(f("macro_f1")), micro=statistics.mean(f("micro_f1")),
            )
            x = row[s]
            sd = f" +- {x['macro_sd']:.3f}" if len(rs) > 1 else ""
            print(f"| {g} | {rs[0]['p']:g}, {rs[0]['q']:g} | {s} | {len(rs)} | {x['walk']:.2f} | {x['train']:.2f} "
                  f"| {x['total']:.2f} | {x['rss']:.0f} | {x['macro']:.4f}{sd} | {x['micro']:.4f} |")
        if "ours" in row and "pecanpy+gensim" in row:
            o, b = row["ours"], row["pecanpy+gensim"]
            no, nb = len(by[(g, "ours")]), len(by[(g, "pecanpy+gensim")])
            # sd over runs with n - 1, for the standard error of the difference of the means
            se = (o["macro_sd"] ** 2 / max(no - 1, 1) + b["macro_sd"] ** 2 / max(nb - 1, 1)) ** 0.5
            verdicts.append(
                f"- {g}: total {o['total']:.1f} s vs {b['total']:.1f} s = {o['total'] / b['total']:.2f}x "
                f"(target <= 0.33: {'met' if o['total'] <= b['total'] / 3 else 'NOT met'}); "
                f"peak RSS {o['rss']:.0f} vs {b['rss']:.0f} MiB ({'met' if o['rss'] <= b['rss'] else 'NOT met'}); "
                f"Macro-F1 {o['macro']:.4f} vs {b['macro']:.4f}, {o['macro'] - b['macro']:+.4f} "
                f"({'met' if o['macro'] >= b['macro'] else 'NOT met'}; standard error of the "
                f"difference over runs {se:.4f})")
    print()
    print("\n".join(verdicts))


if __name__ == "__main__":
    main()
