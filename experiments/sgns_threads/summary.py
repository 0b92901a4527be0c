"""Tables of run.sh's runs.jsonl: speed per line (median and range over rounds), the per-round
ratio to the 1-thread line of the same side, the ratio to gensim at the same thread count,
and quality (mean +- sd over rounds; ml-100k lines already average REPEAT seeds each).

usage: python summary.py runs.jsonl
"""
import json
import statistics as st
import sys
from collections import defaultdict


def rng(xs, fmt):
    xs = sorted(xs)
    return f"{fmt(st.median(xs))} ({fmt(xs[0])}-{fmt(xs[-1])})"


def main():
    rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
    by = defaultdict(dict)  # what -> round -> row
    for r in rows:
        by[r["what"]][r["round"]] = r
    pp = [r["ns"] for r in by.pop("pingpong", {}).values()]
    rounds = sorted({r["round"] for r in rows})
    print(f"{len(rounds)} rounds; cache-line round trip between the CPUs per round (ns): "
          + ", ".join(f"{x:.0f}" for x in pp))
    print()

    ml = {w: v for w, v in by.items() if w.startswith("ml-")}
    if ml:
        print("ML-100K item2vec (sg, d 64, window 5, negative 5, 10 epochs): tokens/s, median (range) over rounds;")
        print("ratios are per round (median, range); Recall@10 mean over rounds")
        print()
        print("| line | tokens/s | vs 1 thread | vs gensim, same threads | Recall@10 |")
        print("|---|---|---|---|---|")
        for w in ["ml-gensim-1", "ml-pair-1", "ml-ours-1", "ml-gensim-2", "ml-ours-2", "ml-hogwild-2"]:
            if w not in ml:
                continue
            side, t = w.split("-")[1], w.split("-")[2]
            tps = {k: r["tokens_per_s"] for k, r in ml[w].items()}
            one = ml.get(f"ml-{side}-1") or ml.get("ml-ours-1")
            vs1 = [tps[k] / one[k]["tokens_per_s"] for k in tps if k in one]
            gen = ml.get(f"ml-gensim-{t}", {})
            vsg = [tps[k] / gen[k]["tokens_per_s"] for k in tps if k in gen]
            rec = st.mean(r["recall@10"] for r in ml[w].values())
            print(f"| {w} | {rng(tps.values(), lambda x: f'{x / 1e6:.2f}M')} | "
                  f"{rng(vs1, lambda x: f'{x:.2f}x') if t != '1' else ''} | "
                  f"{rng(vsg, lambda x: f'{x:.2f}x') if side != 'gensim' else ''} | {rec:.4f} |")
        print()

    graphs = sorted({w.rsplit("-", 2)[0] for w in by if not w.startswith("ml-")})
    if graphs:
        print("node2vec training on fixed walks (d 128, window 10, negative 5, 1 epoch): seconds, median (range);")
        print("speed-up = 1-thread seconds / these seconds, per round; Macro-F1 mean +- sd over rounds (training seeds)")
        print()
        print("| graph | line | train s | speed-up vs 1 thread | Macro-F1 |")
        print("|---|---|---|---|---|")
        for g in graphs:
            one = by.get(f"{g}-ours-1", {})
            for w in [f"{g}-pair-1", f"{g}-ours-1", f"{g}-ours-2", f"{g}-sum-2", f"{g}-hogwild-2"]:
                if w not in by:
                    continue
                secs = {k: r["embed_s"] for k, r in by[w].items()}
                up = [one[k]["embed_s"] / s for k, s in secs.items() if k in one]
                f1 = [r["macro_f1"] for r in by[w].values()]
                sd = st.stdev(f1) if len(f1) > 1 else 0.0
                print(f"| {g} | {w.split('-', 1)[1]} | {rng(secs.values(), lambda x: f'{x:.1f}')} | "
                      f"{rng(up, lambda x: f'{x:.2f}x') if not w.endswith('-1') else ''} | {st.mean(f1):.4f} +- {sd:.4f} |")


if __name__ == "__main__":
    main()
