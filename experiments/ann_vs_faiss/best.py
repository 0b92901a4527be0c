#!/usr/bin/env python3
"""Best queries/s of each side and setting over the rounds of rounds.sh, and each of our
settings against the reference curve at the same recall.

usage: python best.py rounds.jsonl [REF_INDEX]
The reference curve (REF_INDEX, default IndexIVFPQ) is its Pareto frontier (settings that
another setting beats on both recall and queries/s are dropped), interpolated between the two
frontier points around our recall (linear in recall, geometric in queries/s), as reading an
ann-benchmarks plot does; outside its range there is no comparison."""
import json
import math
import sys
from collections import defaultdict


def main(path, ref_index="IndexIVFPQ"):
    best = defaultdict(lambda: (0.0, None, []))
    for line in open(path):
        d = json.loads(line)
        key = (d["lib"], d["index"], json.dumps(d["search"], sort_keys=True))
        qps, _, all_qps = best[key]
        all_qps.append(d["qps"])
        best[key] = (max(qps, d["qps"]), d["recall"], all_qps)
    for (lib, index, search), (qps, rec, all_qps) in sorted(best.items()):
        print(f"{lib:8} {index:14} {search:34} best {qps:9.0f}  recall {rec:.3f}  rounds {' '.join(f'{q:.0f}' for q in all_qps)}")
    pts = [(rec, qps) for (lib, index, _), (qps, rec, _) in best.items() if index == ref_index]
    ref = sorted(p for p in pts if not any(o != p and o[0] >= p[0] and o[1] >= p[1] for o in pts))
    print(f"\nours at equal recall against {ref_index}:")
    for (lib, index, search), (qps, rec, _) in sorted(best.items()):
        if lib != "runner":
            continue
        for (r0, q0), (r1, q1) in zip(ref, ref[1:]):
            if r0 <= rec <= r1 and r1 > r0:
                t = (rec - r0) / (r1 - r0)
                rq = math.exp((1 - t) * math.log(q0) + t * math.log(q1))
                print(f"  {index} {search}: {qps:.0f} @ {rec:.3f}, reference {rq:.0f} -> {qps / rq:.2f}x")
                break
        else:
            print(f"  {index} {search}: {qps:.0f} @ {rec:.3f}, outside the reference's recall range")


if __name__ == "__main__":
    main(*sys.argv[1:])
