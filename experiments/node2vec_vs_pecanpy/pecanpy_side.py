"""PecanPy's side of the node2vec benchmark; prints one JSON object.

Walks only (default): SparseOTF walks with the same r, l, p, q as rust_side, timed end to end
and as a warm kernel.

    pecanpy_side.py --graph FILE.edg --p P --q Q [--weighted] [--threads T] [--repeat R]
                    [--mode SparseOTF|PreComp|...]

End-to-end pipeline (--emb-out), once, as a PecanPy user runs it: read the graph,
simulate_walks (r = 10, l = 80), gensim Word2Vec (sg=1, hs=0, negative=5, window=10,
vector_size=128, epochs=1, min_count=0, sample=0, workers=T), then write PREFIX.npy (float32
rows) and PREFIX.ids (node id of each row) for the shared evaluator (evaluate.py).

    pecanpy_side.py --graph FILE.edg --p P --q Q [--weighted] [--threads T] --emb-out PREFIX
                    [--seed S]
"""
import argparse
import json
import os
import resource
import time


def load_graph(a, **extra):
    """The PecanPy graph of --mode for --graph, and the seconds reading it took."""
    from pecanpy import pecanpy as node2vec

    t = time.perf_counter()
    g = getattr(node2vec, a.mode)(p=a.p, q=a.q, workers=a.threads, verbose=False, **extra)
    g.read_edg(a.graph, weighted=a.weighted, directed=False)
    return g, time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--graph", required=True)
    ap.add_argument("--p", type=float, default=1.0)
    ap.add_argument("--q", type=float, default=1.0)
    ap.add_argument("--weighted", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--mode", default="SparseOTF")
    ap.add_argument("--emb-out", help="run the walks + gensim pipeline once, write PREFIX.npy/.ids")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--walks-out", help="with --emb-out: also write the walks, one per line")
    ap.add_argument("--walks-in", help="with --emb-out: train on these walks instead of PecanPy's")
    a = ap.parse_args()
    os.environ.setdefault("NUMBA_NUM_THREADS", str(a.threads))
    if a.emb_out:
        return pipeline(a)
    g, read_s = load_graph(a)
    # End to end, as a user calls it. PecanPy builds a fresh numba closure per call, so
    # every call recompiles: this is the time a user sees.
    t = time.perf_counter()
    walks = g.simulate_walks(num_walks=10, walk_length=80)
    end_to_end = time.perf_counter() - t
    tokens = sum(len(w) for w in walks)
    del walks
    # Walk kernel alone: the same steps simulate_walks takes, compiled once on a few jobs,
    # then timed warm (median of --repeat), and the index->string mapping timed apart.
    import numpy as np
    from numba_progress import ProgressBar
    g._preprocess_transition_probs()
    move_forward, has_nbrs = g.get_move_forward(), g.get_has_nbrs()
    starts = np.concatenate([np.arange(g.num_nodes, dtype=np.uint32)] * 10)
    np.random.seed(0)
    np.random.shuffle(starts)
    with ProgressBar(total=starts.size, disable=True) as progress:
        g._random_walks(8, 80, 0, starts[:8], has_nbrs, move_forward, progress)
        times = []
        for rep in range(a.repeat):
            t = time.perf_counter()
            mat = g._random_walks(starts.size, 80, rep, starts, has_nbrs, move_forward, progress)
            times.append(time.perf_counter() - t)
    t = time.perf_counter()
    _ = [g._map_walk(w) for w in mat]
    map_s = time.perf_counter() - t
    times.sort()
    print(json.dumps({
        "side": "pecanpy-" + a.mode, "graph": os.path.basename(a.graph), "nodes": len(g.nodes),
        "p": a.p, "q": a.q, "threads": a.threads, "read_s": read_s,
        "simulate_walks_s": end_to_end, "walk_s_median": times[len(times) // 2], "walk_s_all": times,
        "map_to_str_s": map_s, "walk_tokens": tokens,
        "peak_rss_mib_after_walks": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


def pipeline(a):
    import numpy as np
    from gensim.models import Word2Vec

    t = time.perf_counter()
    if a.walks_in:  # the cross check of run.sh's CROSS mode: gensim on another side's walks
        read_s, nodes = 0.0, None
        walks = [line.split() for line in open(a.walks_in)]
    else:
        g, read_s = load_graph(a, random_state=a.seed)
        nodes = len(g.nodes)
        walks = g.simulate_walks(num_walks=10, walk_length=80)
    walk_s = time.perf_counter() - t
    if a.walks_out:
        with open(a.walks_out, "w") as f:
            f.writelines(" ".join(w) + "\n" for w in walks)
    tokens = sum(len(w) for w in walks)
    t = time.perf_counter()
    model = Word2Vec(walks, vector_size=128, window=10, min_count=0, sg=1, hs=0, negative=5,
                     sample=0, epochs=1, workers=a.threads, seed=a.seed + 1)
    train_s = time.perf_counter() - t
    t = time.perf_counter()
    np.save(a.emb_out + ".npy", model.wv.vectors.astype(np.float32, copy=False))
    with open(a.emb_out + ".ids", "w") as f:
        f.writelines(f"{k}\n" for k in model.wv.index_to_key)
    write_s = time.perf_counter() - t
    print(json.dumps({
        "side": "ours-walks+gensim" if a.walks_in else "pecanpy+gensim", "graph": os.path.basename(a.graph), "nodes": nodes,
        "p": a.p, "q": a.q, "threads": a.threads, "seed": a.seed, "read_s": read_s,
        "walk_s": walk_s, "train_s": train_s, "write_s": write_s, "walk_tokens": tokens,
        "peak_rss_mib_self": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "emb": a.emb_out + ".npy",
    }))


if __name__ == "__main__":
    main()
