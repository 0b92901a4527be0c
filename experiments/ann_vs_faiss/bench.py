#!/usr/bin/env python3
"""Compare runner's index kinds with faiss-cpu, hnswlib and annoy (one thread, k = 10, ip).

usage:
  python bench.py gen   DATA_DIR [--n 100000] [--d 128] [--nq 1000] [--clusters 1000] [--sigma 1.0]
  python bench.py import TRAIN_DIR DATA_DIR           # item / user vectors a runner model trained
  python bench.py ref   DATA_DIR > ref.jsonl          # faiss / hnswlib / annoy (ONLY=, NLIST=, MIN_SECS=,
                                                     #   EF=, INDEX_DIR=: see ref())
  cargo run --release --example ann_bench -- DATA_DIR > ours.jsonl   # our side
  python bench.py table ref.jsonl ours.jsonl          # markdown table
  (run.sh does all of it)

Data (written here, read by both sides): base.fbin, queries.fbin (u32 rows, u32 dim, f32
little-endian) and gt.ibin (u32 rows, u32 k, i32 ids: exact inner-product top-100 from
faiss IndexFlatIP).
"""
import json
import os
import sys
import tempfile
import time

import numpy as np


def write_bin(path, a):
    a = np.ascontiguousarray(a)
    with open(path, "wb") as f:
        np.array(a.shape, dtype="<u4").tofile(f)
        a.astype("<f4" if a.dtype.kind == "f" else "<i4").tofile(f)


def read_bin(path, dtype):
    with open(path, "rb") as f:
        r, c = np.fromfile(f, dtype="<u4", count=2)
        return np.fromfile(f, dtype=dtype).reshape(int(r), int(c))


def gen(out, n=100_000, d=128, nq=1000, clusters=1000, sigma=1.0, seed=0):
    import faiss

    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, d)).astype(np.float32)
    def draw(m):
        c = rng.integers(0, clusters, m)
        return (centres[c] + sigma * rng.standard_normal((m, d))).astype(np.float32)
    base, queries = draw(n), draw(nq)
    os.makedirs(out, exist_ok=True)
    write_bin(os.path.join(out, "base.fbin"), base)
    write_bin(os.path.join(out, "queries.fbin"), queries)
    faiss.omp_set_num_threads(os.cpu_count())
    idx = faiss.IndexFlatIP(d)
    idx.add(base)
    _, gt = idx.search(queries, 100)
    write_bin(os.path.join(out, "gt.ibin"), gt.astype(np.int32))
    print(f"wrote {n} x {d} base, {nq} queries, {clusters} clusters, sigma {sigma} to {out}", file=sys.stderr)


def read_runner_matrix(path):
    """A matrix in runner's cache format: b"RNRMAT01", rows and cols as u64, then f32 data."""
    b = open(path, "rb").read()
    assert b[:8] == b"RNRMAT01", f"{path} is not a runner matrix"
    r, c = np.frombuffer(b[8:24], dtype="<u8")
    return np.frombuffer(b[24:], dtype="<f4").reshape(int(r), int(c))


def import_trained(train_dir, out, nq=10_000):
    """Item vectors (base) and user vectors (queries) of a model trained by runner, taken from
    a train stage of its cache (results/cache/train/<key>/), L2-normalised so that inner
    product is the cosine the recommendation configs use; ground truth as in gen."""
    import faiss

    norm = lambda m: (m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)).astype(np.float32)
    base = norm(read_runner_matrix(os.path.join(train_dir, "items.f32")))
    users = norm(read_runner_matrix(os.path.join(train_dir, "users.f32")))
    queries = users[np.random.default_rng(0).permutation(len(users))[:nq]]
    os.makedirs(out, exist_ok=True)
    write_bin(os.path.join(out, "base.fbin"), base)
    write_bin(os.path.join(out, "queries.fbin"), queries)
    idx = faiss.IndexFlatIP(base.shape[1])
    idx.add(base)
    _, gt = idx.search(queries, 100)
    write_bin(os.path.join(out, "gt.ibin"), gt.astype(np.int32))
    print(f"wrote {base.shape} items and {queries.shape} user queries from {train_dir} to {out}", file=sys.stderr)


def recall(ids, gt, k=10):
    return float(np.mean([len(set(ids[i][:k]) & set(gt[i][:k])) / k for i in range(len(gt))]))


# Peak memory a build adds: the kernel's high-water mark (VmHWM), reset through
# /proc/self/clear_refs before the build, less the resident memory before it. The same
# measure as ann_bench's (runner::memory::Window), so the base vectors both sides hold
# already are not counted.
BUILD_PEAK = {"mb": 0.0}


def status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def measured_build(fn):
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    before = status_kib("VmRSS")
    out = fn()
    BUILD_PEAK["mb"] = max(BUILD_PEAK["mb"], (status_kib("VmHWM") - before) / 1024)
    return out


def emit(lib, index, build, search, build_s, secs, nq, rec, mem):
    print(json.dumps({"lib": lib, "index": index, "build": build, "search": search,
                      "build_s": round(build_s, 2), "qps": round(nq / secs), "recall": round(rec, 3),
                      "mem_mb": round(mem / 2**20, 1), "build_peak_mb": round(BUILD_PEAK["mb"], 1)}), flush=True)


def ref(data, nlist=1024):
    """Every reference setting; builds use every core, searches one thread (as our side does).
    ONLY=flat,ivf_flat,ivf_pq,faiss_hnsw,hnswlib,annoy picks sections."""
    import faiss

    only = [x for x in os.environ.get("ONLY", "").split(",") if x]
    want = lambda name: not only or name in only
    cores = os.cpu_count() or 1
    min_secs = float(os.environ.get("MIN_SECS", "1"))
    efs = [int(x) for x in os.environ.get("EF", "16,32,64,128,256").split(",")]
    # INDEX_DIR: load the HNSW graphs from there when present, else build and save them, so
    # repeated search runs (A/B against our side on a noisy machine) skip the long builds.
    index_dir = os.environ.get("INDEX_DIR")
    saved = lambda name: os.path.join(index_dir, name) if index_dir else None
    base = read_bin(os.path.join(data, "base.fbin"), "<f4")
    q = read_bin(os.path.join(data, "queries.fbin"), "<f4")
    gt = read_bin(os.path.join(data, "gt.ibin"), "<i4")
    n, d = base.shape
    nq, k = len(q), 10
    ser = lambda idx: faiss.serialize_index(idx).nbytes  # memory proxy: serialised size

    def timed(fn, search=False):
        """Builds (threads = cores) run once; searches (one thread) repeat until MIN_SECS
        have passed, at least twice, and report the fastest run, as the Rust side does."""
        faiss.omp_set_num_threads(1 if search else cores)
        start, best, runs = time.time(), float("inf"), 0
        while True:
            t = time.time(); out = fn() if search else measured_build(fn); best = min(best, time.time() - t); runs += 1
            if not search or min_secs <= 0 or (runs >= 2 and time.time() - start >= min_secs):
                break
        faiss.omp_set_num_threads(cores)
        return out, best

    if want("flat"):
        BUILD_PEAK["mb"] = 0.0
        idx, b = timed(lambda: faiss.IndexFlatIP(d))
        _, b2 = timed(lambda: idx.add(base))
        (_, I), s = timed(lambda: idx.search(q, k), search=True)
        emit("faiss", "IndexFlatIP", {}, {}, b + b2, s, nq, recall(I, gt), base.nbytes)

    if want("ivf_flat"):
        BUILD_PEAK["mb"] = 0.0
        idx = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
        _, b = timed(lambda: (idx.train(base), idx.add(base)))
        for p in [4, 8, 16, 32, 64]:
            idx.nprobe = p
            (_, I), s = timed(lambda: idx.search(q, k), search=True)
            emit("faiss", "IndexIVFFlat", {"nlist": nlist}, {"nprobe": p}, b, s, nq, recall(I, gt), ser(idx))

    if want("ivf_pq"):  # m = 32, 8 bits, with and without exact re-ranking of 100 candidates
        BUILD_PEAK["mb"] = 0.0
        # PQ=nprobe:rerank,... picks the settings (as ann_bench's PQ); INDEX_DIR keeps the build.
        settings = [tuple(int(v) for v in x.split(":")) for x in os.environ.get("PQ", "4:0,8:0,16:0,32:0,16:100,32:100,64:100").split(",")]
        path = saved(f"faiss_ivfpq_{nlist}.index")
        if path and os.path.exists(path):
            refine, b = timed(lambda: faiss.read_index(path))
            pq = faiss.downcast_index(refine.base_index)
        else:
            pq = faiss.IndexIVFPQ(faiss.IndexFlatIP(d), d, nlist, 32, 8, faiss.METRIC_INNER_PRODUCT)
            _, b1 = timed(lambda: pq.train(base))
            refine = faiss.IndexRefineFlat(pq)  # wraps the trained pq; adding through it fills both
            _, b2 = timed(lambda: refine.add(base))
            b = b1 + b2
            if path:
                faiss.write_index(refine, path)
        refine.k_factor = 10
        for p, r in settings:
            pq.nprobe = p
            (_, I), s = timed(lambda: (refine if r else pq).search(q, k), search=True)
            emit("faiss", "IndexIVFPQ" + ("+RefineFlat" if r else ""), {"nlist": nlist, "m": 32},
                 {"nprobe": p, "rerank": r}, b, s, nq, recall(I, gt), ser(pq) + (base.nbytes if r else 0))

    if want("faiss_hnsw"):
        BUILD_PEAK["mb"] = 0.0
        path = saved("faiss_hnsw.index")
        if path and os.path.exists(path):
            idx, b = timed(lambda: faiss.read_index(path))
        else:
            idx = faiss.IndexHNSWFlat(d, 16, faiss.METRIC_INNER_PRODUCT)
            idx.hnsw.efConstruction = 200
            _, b = timed(lambda: idx.add(base))
            if path:
                faiss.write_index(idx, path)
        for ef in efs:
            idx.hnsw.efSearch = ef
            (_, I), s = timed(lambda: idx.search(q, k), search=True)
            emit("faiss", "IndexHNSWFlat", {"m": 16, "ef_construction": 200}, {"ef_search": ef}, b, s, nq, recall(I, gt), ser(idx))

    if want("hnswlib"):
        import hnswlib
        BUILD_PEAK["mb"] = 0.0
        h = hnswlib.Index(space="ip", dim=d)
        path = saved("hnswlib.bin")
        if path and os.path.exists(path):
            _, b = timed(lambda: h.load_index(path, max_elements=n))
            mem = os.path.getsize(path)
        else:
            # init_index allocates the whole graph, so it is part of the build (time and memory).
            _, b = timed(lambda: (h.init_index(max_elements=n, ef_construction=200, M=16, random_seed=1),
                                  h.add_items(base, np.arange(n), num_threads=cores)))
            with tempfile.NamedTemporaryFile() as f:
                h.save_index(f.name); mem = os.path.getsize(f.name)
            if path:
                h.save_index(path)
        for ef in efs:
            h.set_ef(max(ef, k))
            (I, _), s = timed(lambda: h.knn_query(q, k=k, num_threads=1), search=True)
            emit("hnswlib", "hnsw", {"m": 16, "ef_construction": 200}, {"ef_search": ef}, b, s, nq, recall(I, gt), mem)

    if want("annoy"):  # dot metric, 50 trees; queried one vector at a time (annoy's only API)
        from annoy import AnnoyIndex
        BUILD_PEAK["mb"] = 0.0
        a = AnnoyIndex(d, "dot")
        def build_annoy():
            for i in range(n):
                a.add_item(i, base[i])
            a.build(50, n_jobs=-1)
        _, b = timed(build_annoy)
        with tempfile.NamedTemporaryFile() as f:
            a.save(f.name); mem = os.path.getsize(f.name)
        ql = [row.tolist() for row in q]
        for sk in [1000, 5000, 20000, 50000]:
            I, s = timed(lambda: [a.get_nns_by_vector(v, k, search_k=sk) for v in ql], search=True)
            emit("annoy", "annoy", {"n_trees": 50}, {"search_k": sk}, b, s, nq, recall(I, gt), mem)


def table(*files):
    rows = [json.loads(l) for f in files for l in open(f) if l.strip().startswith("{")]
    print("| lib | index | build | search | build s | build peak MiB | qps | recall@10 | MiB |")
    print("|---|---|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        fmt = lambda o: " ".join(f"{k}={v}" for k, v in o.items()) or "-"
        print(f"| {r['lib']} | {r['index']} | {fmt(r['build'])} | {fmt(r['search'])} | {r['build_s']} | {r.get('build_peak_mb', '-')} | {r['qps']} | {r['recall']:.3f} | {r['mem_mb']} |")


if __name__ == "__main__":
    cmd, rest = sys.argv[1], sys.argv[2:]
    if cmd == "gen":
        kw = {}
        for i in range(1, len(rest), 2):
            kw[rest[i].lstrip("-")] = float(rest[i + 1]) if rest[i] == "--sigma" else int(rest[i + 1])
        gen(rest[0], **kw)
    elif cmd == "ref":
        ref(rest[0], **({"nlist": int(os.environ["NLIST"])} if "NLIST" in os.environ else {}))
    elif cmd == "import":
        import_trained(rest[0], rest[1])
    elif cmd == "table":
        table(*rest)
    else:
        sys.exit(__doc__)
