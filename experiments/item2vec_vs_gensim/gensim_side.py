#!/usr/bin/env python3
"""gensim side of the Item2Vec benchmark (see README.md).

MovieLens-100K, one sequence per user (items sorted by (ts, item)), last item held out
(leave-last-out). Trains gensim Word2Vec (skip-gram, negative sampling) `--repeat` times with
seeds 0..repeat-1 and prints one JSON object: raw tokens/s (corpus tokens * epochs / train
wall time, NOT gensim's "effective words/s"), train wall time, process CPU time of the train call (all threads), peak RSS, and Recall@10 /
NDCG@10 of "query = mean of the last 5 training item vectors (L2-normalised), seen items
excluded, full cosine ranking".
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

import numpy as np


def load(path):
    per_user = {}
    with open(path) as f:
        for line in f:
            u, i, _r, ts = line.split("\t")
            per_user.setdefault(int(u), []).append((int(ts), int(i)))
    train, test = [], []
    for u in sorted(per_user):
        items = [i for _ts, i in sorted(per_user[u])]
        if len(items) < 2:
            continue
        train.append(items[:-1])
        test.append(items[-1])
    return train, test


def evaluate(vecs, train, test, k=10, last=5):
    """vecs: dict raw item id -> vector (items never trained are absent)."""
    ids = sorted(vecs)
    pos = {i: n for n, i in enumerate(ids)}
    m = np.stack([vecs[i] for i in ids]).astype(np.float64)
    m /= np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)
    recall = ndcg = 0.0
    for hist, held in zip(train, test):
        q = m[[pos[i] for i in hist[-last:]]].mean(axis=0)
        scores = m @ q
        scores[[pos[i] for i in set(hist)]] = -np.inf
        if held not in pos:
            continue  # held-out item never seen in training: a miss
        s = scores[pos[held]]
        rank = int((scores > s).sum())  # ties resolved in the held-out item's favour
        if rank < k:
            recall += 1.0
            ndcg += 1.0 / np.log2(rank + 2)
    return recall / len(test), ndcg / len(test)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "data", "ml-100k", "u.data"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--window", type=int, default=5)
    ap.add_argument("--negatives", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--eval-vectors", help="evaluate a 'raw_id v1 v2 ...' text file instead of training")
    a = ap.parse_args()

    from gensim.models import Word2Vec
    from gensim.models.word2vec_inner import FAST_VERSION

    train, test = load(a.data)
    if a.eval_vectors:
        vecs = {}
        with open(a.eval_vectors) as f:
            for line in f:
                p = line.split()
                vecs[int(p[0])] = np.array([float(x) for x in p[1:]])
        r, n = evaluate(vecs, train, test)
        print(json.dumps({"recall@10": r, "ndcg@10": n}))
        return

    sentences = [[str(i) for i in s] for s in train]
    n_tokens = sum(len(s) for s in sentences)
    runs = []
    for seed in range(a.repeat):
        model = Word2Vec(vector_size=a.dim, window=a.window, sg=1, hs=0, negative=a.negatives,
                         min_count=1, sample=0, workers=a.threads, seed=seed, epochs=a.epochs,
                         alpha=0.025, min_alpha=0.0001)
        model.build_vocab(sentences)
        t0, c0 = time.perf_counter(), time.process_time()
        model.train(sentences, total_examples=len(sentences), epochs=a.epochs)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        vecs = {int(w): model.wv[w] for w in model.wv.index_to_key}
        r, n = evaluate(vecs, train, test)
        runs.append({"wall_s": wall, "cpu_s": cpu, "tokens_per_s": n_tokens * a.epochs / wall, "recall@10": r, "ndcg@10": n})
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = {
        "side": "gensim",
        "gensim_fast_version": FAST_VERSION,
        "threads": a.threads,
        "tokens": n_tokens,
        "epochs": a.epochs,
        "repeat": a.repeat,
        "tokens_per_s": statistics.median(x["tokens_per_s"] for x in runs),
        "wall_s": statistics.median(x["wall_s"] for x in runs),
        "cpu_s": statistics.median(x["cpu_s"] for x in runs),
        "peak_rss_mib": peak_mib,
        "recall@10": statistics.mean(x["recall@10"] for x in runs),
        "recall@10_sd": statistics.pstdev(x["recall@10"] for x in runs),
        "ndcg@10": statistics.mean(x["ndcg@10"] for x in runs),
        "ndcg@10_sd": statistics.pstdev(x["ndcg@10"] for x in runs),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    sys.exit(main())
