"""Prints the yardstick tables from bench.py's JSON lines: medians with [min - max] ranges for
times, mean [min - max] over seeds for quality, and a verdict per target.

usage: table.py FILE.jsonl [...]
"""

import json
import statistics as st
import sys
from collections import defaultdict

rows = [json.loads(l) for f in sys.argv[1:] for l in open(f) if l.strip()]


def med(v):
    return f"{st.median(v):.4f} [{min(v):.4f}-{max(v):.4f}]"


def mean(v):
    return f"{st.mean(v):.4f} [{min(v):.4f}-{max(v):.4f}]" if v else "-"


def factor_table(bench, title):
    g = defaultdict(list)
    for r in rows:
        if r.get("bench") == bench and r["model"] in ("als", "bpr", "bpr_freq", "bpr_uniform"):
            fam = "als" if r["model"] == "als" else "bpr"
            g[(fam, r["side"], r["model"], r["threads"])].append(r)
    if not g:
        return []
    print(f"\n## {title}\n")
    print("| model | side | T | runs | s/iteration, median [range] | implicit / ours (speed-up) | Recall@10, mean [range] | NDCG@10, mean [range] | quality vs implicit |")
    print("|---|---|---|---|---|---|---|---|---|")
    verdicts = []
    for key in sorted(g, key=lambda k: (k[0], k[3], k[1] != "anchor", k[2])):
        fam, side, model, t = key
        rs = g[key]
        spi = [r["s_per_iter"] for r in rs]
        rec = [r["recall"] for r in rs if "recall" in r]
        nd = [r["ndcg"] for r in rs if "ndcg" in r]
        anc = g.get((fam, "anchor", fam, t), [])
        a_spi = [r["s_per_iter"] for r in anc]
        a_rec = [r["recall"] for r in anc if "recall" in r]
        a_nd = [r["ndcg"] for r in anc if "ndcg" in r]
        speed = qual = ""
        if side == "ours" and a_spi:
            sp = st.median(a_spi) / st.median(spi)
            speed = f"{sp:.2f}x"
            if rec and a_rec:
                qr, qn = st.mean(rec) / st.mean(a_rec), st.mean(nd) / st.mean(a_nd)
                qual = f"R {100 * (qr - 1):+.1f}%, N {100 * (qn - 1):+.1f}%"
                ok_q = qr >= 0.98 and qn >= 0.98
                verdicts.append(f"{bench} {model} T={t}: quality within 2% of implicit: {'MET' if ok_q else 'NOT MET'} "
                                f"(Recall {100 * (qr - 1):+.1f}%, NDCG {100 * (qn - 1):+.1f}%)")
            verdicts.append(f"{bench} {model} T={t}: s/iteration <= implicit's: {'MET' if sp >= 1 else 'NOT MET'} "
                            f"(ours {sp:.2f}x implicit's speed; goal 1.5x {'met' if sp >= 1.5 else 'not met'})")
        name = "implicit" if side == "anchor" else "runner"
        print(f"| {model} | {name} | {t} | {len(rs)} | {med(spi)} | {speed} | {mean(rec)} | {mean(nd)} | {qual} |")
    return verdicts


def item_table():
    g = defaultdict(list)
    for r in rows:
        if r.get("bench") == "items":
            g[(r["model"], r["side"])].append(r)
    if not g:
        return []
    print("\n## EASE and ItemKNN vs the NumPy/SciPy reference (MovieLens 100K, leave-last-out)\n")
    print("| model | side | runs | fit s, median [range] | Recall@10 | NDCG@10 | max abs diff of B / S | max abs diff of user scores |")
    print("|---|---|---|---|---|---|---|---|")
    verdicts = []
    for model in ("ease", "itemknn"):
        o, a = g.get((model, "ours"), []), g.get((model, "anchor"), [])
        if not o or not a:
            continue
        print(f"| {model} | runner | {len(o)} | {med([r['fit_s'] for r in o])} | {o[0]['recall']:.4f} | {o[0]['ndcg']:.4f} | | |")
        bl = f"NumPy ({a[0].get('threads')} BLAS threads)"
        dm = max(r["max_abs_diff_matrix"] for r in a)
        ds = max(r["max_abs_diff_scores"] for r in a)
        print(f"| {model} | {bl} | {len(a)} | {med([r['fit_s'] for r in a])} | {a[0]['recall']:.4f} | {a[0]['ndcg']:.4f} | {dm:.2e} | {ds:.2e} |")
        sp = st.median([r["fit_s"] for r in a]) / st.median([r["fit_s"] for r in o])
        same = all(r["recall"] == o[0]["recall"] and abs(r["ndcg"] - o[0]["ndcg"]) < 1e-12 for r in a)
        if model == "ease":
            verdicts.append(f"ease: scores within 1e-4 of the reference: {'MET' if ds < 1e-4 else 'NOT MET'} (max {ds:.1e})")
        else:
            verdicts.append(f"itemknn: metrics equal to the reference: {'MET' if same else 'NOT MET'}")
        verdicts.append(f"{model}: fit no slower than NumPy: {'MET' if sp >= 1 else 'NOT MET'} (ours {sp:.2f}x the reference's speed)")
    return verdicts


def seeds_table():
    """BPR quality over many seeds (bench.py bpr_seeds): means, the paired difference with its
    standard error, and how often 3 consecutive seeds alone fall within 2%."""
    by = defaultdict(dict)
    for r in rows:
        if r.get("bench") == "bpr_seeds":
            by[r["side"]][r["seed"]] = r
    seeds = sorted(set(by["ours"]) & set(by["anchor"]))
    if len(seeds) < 2:
        return []
    print(f"\n## BPR vs implicit over {len(seeds)} seeds (MovieLens 100K, T = 1, implicit's negatives)\n")
    print("| metric | ours, mean (sd) | implicit, mean (sd) | ours / implicit - 1 | standard error | 3-seed groups within 2 % | 3-seed groups' range |")
    print("|---|---|---|---|---|---|---|")
    verdicts = []
    for m, name in (("recall", "Recall@10"), ("ndcg", "NDCG@10")):
        a = [by["ours"][s][m] for s in seeds]
        b = [by["anchor"][s][m] for s in seeds]
        d = [x - y for x, y in zip(a, b)]
        rel = st.mean(a) / st.mean(b) - 1
        se = st.stdev(d) / len(d) ** 0.5 / st.mean(b)
        groups = [st.mean(a[i:i + 3]) / st.mean(b[i:i + 3]) - 1 for i in range(0, len(a) - 2, 3)]
        within = sum(abs(g) <= 0.02 for g in groups)
        print(f"| {name} | {st.mean(a):.4f} ({st.stdev(a):.4f}) | {st.mean(b):.4f} ({st.stdev(b):.4f}) | {rel:+.2%} | {se:.2%} | "
              f"{within} of {len(groups)} | {min(groups):+.1%} to {max(groups):+.1%} |")
        verdicts.append(f"bpr {name} within 2% of implicit over {len(seeds)} seeds: {'MET' if abs(rel) <= 0.02 else 'NOT MET'} ({rel:+.2%} ± {se:.2%})")
    return verdicts


v = []
v += seeds_table()
v += factor_table("ml100k", "ALS and BPR vs implicit, MovieLens 100K (leave-last-out), 64 factors")
v += factor_table("synthetic", "ALS and BPR vs implicit, synthetic 500,000 users")
v += item_table()
print("\n## Verdicts\n")
for line in v:
    print(f"- {line}")
