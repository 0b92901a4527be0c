"""The reference side: scikit-learn's Barnes-Hut TSNE on the same vectors, and one
neighbourhood-preservation evaluator for both maps.

  python sklearn_side.py map ITEMS.f32 OUT.f32 [perplexity] [iterations] [seed]
  python sklearn_side.py score ITEMS.f32 MAP.f32 [k]
"""
import json
import os
import sys
import time

import numpy as np


def read_matrix(path):
    """runner's matrix artifact: b"RNRMAT01", rows u64, cols u64, then f32 little-endian."""
    with open(path, "rb") as f:
        assert f.read(8) == b"RNRMAT01", path
        rows, cols = np.frombuffer(f.read(16), dtype="<u8")
        return np.frombuffer(f.read(), dtype="<f4").reshape(int(rows), int(cols))


def write_matrix(path, m):
    m = np.ascontiguousarray(m, dtype="<f4")
    with open(path, "wb") as f:
        f.write(b"RNRMAT01")
        f.write(np.array(m.shape, dtype="<u8").tobytes())
        f.write(m.tobytes())


def preservation(high, low, k=10):
    """Mean share of each point's k nearest neighbours in `high` kept among its k nearest
    in `low` (Euclidean, the point itself excluded): the map task's `map kNN@10`."""
    from sklearn.neighbors import NearestNeighbors

    def knn(x):
        idx = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x, return_distance=False)
        return [set(int(j) for j in row if j != i) for i, row in enumerate(idx)]

    a, b = knn(high), knn(low)
    return float(np.mean([len(x & y) / k for x, y in zip(a, b)]))


def main():
    cmd = sys.argv[1]
    if cmd == "map":
        from sklearn.manifold import TSNE

        x = read_matrix(sys.argv[2])
        perplexity = float(sys.argv[4]) if len(sys.argv) > 4 else 30.0
        iterations = int(sys.argv[5]) if len(sys.argv) > 5 else 1000
        seed = int(sys.argv[6]) if len(sys.argv) > 6 else 1
        threads = int(os.environ.get("THREADS", "2"))
        t = time.perf_counter()
        kw = dict(n_components=2, perplexity=perplexity, init="random", learning_rate="auto", method="barnes_hut", angle=0.5, random_state=seed, n_jobs=threads)
        try:
            tsne = TSNE(max_iter=iterations, **kw)
        except TypeError:  # scikit-learn < 1.5 calls it n_iter
            tsne = TSNE(n_iter=iterations, **kw)
        y = tsne.fit_transform(x)
        secs = time.perf_counter() - t
        write_matrix(sys.argv[3], y)
        import sklearn

        print(json.dumps({"side": "sklearn " + sklearn.__version__, "n": x.shape[0], "dim": x.shape[1], "seconds": round(secs, 3), "threads": threads}))
    elif cmd == "score":
        k = int(sys.argv[4]) if len(sys.argv) > 4 else 10
        print(json.dumps({"map": sys.argv[3], "knn": k, "preservation": round(preservation(read_matrix(sys.argv[2]), read_matrix(sys.argv[3]), k), 4)}))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
