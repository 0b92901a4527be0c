"""A degree-corrected stochastic block model with heavy-tailed degrees and planted labels.

Issue 16 saw our skip-gram lose to gensim on the same walks of a hub-heavy graph; this
generator makes graphs of that shape that anyone can regenerate (the graph of the issue is
not public). It writes the formats of the other benchmark graphs:

- PREFIX.edg: one undirected edge a line, "u<TAB>v" (unweighted, no self-loops, no
  duplicates);
- PREFIX.labels.tsv: "node<TAB>class", one line per (node, class), only for nodes with an
  edge (so that every labelled node has a vector).

Model: every node gets a propensity theta ~ Pareto(shape) (minimum 1, capped at
`--max-theta` x the mean, so the largest hubs stay below the node count), a primary block
drawn with Zipf-like block sizes, and with probability `--multi` a second block. An edge
picks its first end u with probability proportional to theta; with probability `--mix` its
other end is drawn from one of u's blocks, else from the whole graph, both proportional
to theta (Chung-Lu within and across blocks). Duplicate edges and self-loops are dropped and
more edges drawn until `--edges` distinct ones exist. Labels are the blocks.

usage: dcsbm.py PREFIX [--nodes 10000] [--edges 300000] [--blocks 40] [--shape 1.0]
                [--mix 0.1] [--multi 0.1] [--seed 0]

Only numpy; the same arguments and seed give the same files.
"""
import argparse

import numpy as np


def generate(nodes, edges, blocks, shape, mix, multi, max_theta, size_skew, seed):
    """(edge array (m, 2) with u < v, list of block lists per node)."""
    rng = np.random.default_rng(seed)
    theta = rng.pareto(shape, nodes) + 1.0  # Lomax + 1: Pareto with minimum 1
    theta = np.minimum(theta, max_theta * theta.mean())
    sizes = 1.0 / np.arange(1, blocks + 1) ** size_skew
    primary = rng.choice(blocks, nodes, p=sizes / sizes.sum())
    second = np.where(rng.random(nodes) < multi, rng.choice(blocks, nodes, p=sizes / sizes.sum()), -1)
    second[second == primary] = -1
    member = [[int(b)] if s < 0 else [int(b), int(s)] for b, s in zip(primary, second)]

    # Per block: its members and the cumulative theta over them, for weighted draws.
    in_block = [[] for _ in range(blocks)]
    for v, bs in enumerate(member):
        for b in bs:
            in_block[b].append(v)
    in_block = [np.array(m, dtype=np.int64) for m in in_block]
    cum_block = [np.cumsum(theta[m]) for m in in_block]
    cum_all = np.cumsum(theta)

    def draw(cum, k):
        return np.searchsorted(cum, rng.random(k) * cum[-1], side="right").clip(0, len(cum) - 1)

    have = np.empty((0, 2), dtype=np.int64)
    while len(have) < edges:
        k = int((edges - len(have)) * 1.3) + 1000
        u = draw(cum_all, k)
        v = draw(cum_all, k)
        intra = np.flatnonzero(rng.random(k) < mix)
        # Block of u for an intra-block edge: one of its memberships at random.
        pick = np.array([member[x][rng.integers(len(member[x]))] for x in u[intra]], dtype=np.int64)
        for b in np.unique(pick):
            at = intra[pick == b]
            v[at] = in_block[b][draw(cum_block[b], len(at))]
        e = np.stack([np.minimum(u, v), np.maximum(u, v)], axis=1)
        e = e[e[:, 0] != e[:, 1]]
        have = np.unique(np.concatenate([have, e]), axis=0)
    # Keep a random subset of exactly `edges` (not the smallest ids, which np.unique sorted first).
    have = have[np.sort(rng.permutation(len(have))[:edges])]
    return have, member


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("prefix")
    ap.add_argument("--nodes", type=int, default=10000)
    ap.add_argument("--edges", type=int, default=300000)
    ap.add_argument("--blocks", type=int, default=40)
    ap.add_argument("--shape", type=float, default=1.0, help="Pareto shape of theta (smaller: heavier hubs)")
    ap.add_argument("--mix", type=float, default=0.1, help="probability that an edge stays in a block of its first end")
    ap.add_argument("--multi", type=float, default=0.1, help="probability that a node has a second block")
    ap.add_argument("--max-theta", type=float, default=200.0, help="cap on theta, in multiples of its mean")
    ap.add_argument("--size-skew", type=float, default=0.5, help="block sizes ~ 1 / rank^skew")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    e, member = generate(a.nodes, a.edges, a.blocks, a.shape, a.mix, a.multi, a.max_theta, a.size_skew, a.seed)
    with open(a.prefix + ".edg", "w") as f:
        f.writelines(f"{u + 1}\t{v + 1}\n" for u, v in e)
    deg = np.bincount(e.ravel(), minlength=a.nodes)
    with open(a.prefix + ".labels.tsv", "w") as f:
        for v, bs in enumerate(member):
            if deg[v] > 0:
                f.writelines(f"{v + 1}\t{b + 1}\n" for b in bs)
    d = deg[deg > 0]
    print(f"{a.prefix}: {len(d)} nodes with edges, {len(e)} edges, degree median {np.median(d):.0f}, "
          f"mean {d.mean():.1f}, max {d.max()}, top 1% of nodes hold {np.sort(d)[::-1][: max(1, len(d) // 100)].sum() / d.sum():.1%} "
          f"of edge ends, {sum(len(m) > 1 for m, x in zip(member, deg) if x > 0)} multi-label nodes")


if __name__ == "__main__":
    main()
