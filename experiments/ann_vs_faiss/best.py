#!/usr/bin/env python3
"""Best queries/s of each side and setting over the rounds of rounds.sh, and each of our
settings on our Pareto frontier against the matching reference curve at the same recall.

usage: python best.py rounds.jsonl

References: ours `ivf_pq` without re-ranking against faiss IndexIVFPQ, with re-ranking against
IndexIVFPQ+RefineFlat; ours `hnsw` against faiss IndexHNSWFlat and hnswlib. A reference curve
is its Pareto frontier (settings that another setting beats on both recall and queries/s are
dropped), interpolated between the two frontier points around our recall (linear in recall,
geometric in queries/s), as reading an ann-benchmarks plot does. At or above the reference's
best recall, ours is compared with that best-recall point (a lower bound on our advantage
when our recall is higher); below its range there is no comparison."""
import json
import math
import sys
from collections import defaultdict


def references(index, search):
    if index == "ivf_pq":
        return [("faiss", "IndexIVFPQ+RefineFlat" if search.get("rerank") else "IndexIVFPQ")]
    if index == "hnsw":
        return [("faiss", "IndexHNSWFlat"), ("hnswlib", "hnsw")]
    return []


def frontier(pts):
    return sorted(p for p in pts if not any(o != p and o[0] >= p[0] and o[1] >= p[1] for o in pts))


def at_recall(ref, rec):
    """(reference queries/s at `rec`, how it was read) or None below the range."""
    if not ref or rec < ref[0][0]:
        return None
    if rec >= ref[-1][0]:
        return ref[-1][1], f"its best recall {ref[-1][0]:.3f}"
    for (r0, q0), (r1, q1) in zip(ref, ref[1:]):
        if r0 <= rec <= r1:
            t = (rec - r0) / (r1 - r0)
            return math.exp((1 - t) * math.log(q0) + t * math.log(q1)), "interpolated"
    return None


def main(path):
    best = defaultdict(lambda: (0.0, None, []))
    for line in open(path):
        d = json.loads(line)
        key = (d["lib"], d["index"], json.dumps(d["search"], sort_keys=True))
        qps, _, all_qps = best[key]
        all_qps.append(d["qps"])
        best[key] = (max(qps, d["qps"]), d["recall"], all_qps)
    for (lib, index, search), (qps, rec, all_qps) in sorted(best.items()):
        print(f"{lib:8} {index:22} {search:34} best {qps:9.0f}  recall {rec:.3f}  rounds {' '.join(f'{q:.0f}' for q in all_qps)}")
    print("\nours (our Pareto frontier per reference) against the references at equal recall:")
    for (lib, index, search), (qps, rec, _) in sorted(best.items()):
        if lib != "runner":
            continue
        # Our settings that a setting of ours with the same references beats on both axes
        # are not on our curve.
        mine = [(r, q) for (l, i, s), (q, r, _) in best.items() if l == lib and i == index and references(i, json.loads(s)) == references(index, json.loads(search))]
        if (rec, qps) not in frontier(mine):
            continue
        for rlib, rindex in references(index, json.loads(search)):
            ref = frontier([(r, q) for (l, i, _), (q, r, _) in best.items() if (l, i) == (rlib, rindex)])
            got = at_recall(ref, rec)
            if got is None:
                print(f"  {index} {search}: {qps:.0f} @ {rec:.3f} vs {rlib} {rindex}: below its recall range")
            else:
                print(f"  {index} {search}: {qps:.0f} @ {rec:.3f} vs {rlib} {rindex} {got[0]:.0f} ({got[1]}) -> {qps / got[0]:.2f}x")


if __name__ == "__main__":
    main(*sys.argv[1:])
