"""The served `ivf_pq` index against faiss' IndexIVFPQ in bytes (issue "Serve what was
trained": within 1.3x of faiss' index). 200,000 clustered vectors of 128 dimensions, inner
product (the metric the served embedding models use), nlist 256, m 16 (8-bit codes), `rerank
= 0`: the runner builds its index (`runner run` on a `vectors` dataset) and `runner serve`
reports the loaded index's memory (`runner_index_bytes` in /metrics); faiss builds the same
index on the same vectors and `faiss.serialize_index` gives its bytes.

usage: ivfpq_bytes.py --runner BIN --work DIR
"""

import argparse
import os
import re
import signal
import subprocess
import time
import urllib.request

import faiss
import numpy as np

N, D, NLIST, M = 200_000, 128, 256, 16


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runner", required=True)
    ap.add_argument("--work", required=True)
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(100, D)).astype(np.float32)
    base = (centres[rng.integers(0, 100, N)] + 0.5 * rng.normal(size=(N, D))).astype(np.float32)
    query = (centres[rng.integers(0, 100, 100)] + 0.5 * rng.normal(size=(100, D))).astype(np.float32)
    np.save(os.path.join(a.work, "base.npy"), base)
    np.save(os.path.join(a.work, "query.npy"), query)
    cfg = os.path.join(a.work, "ivfpq.toml")
    with open(cfg, "w") as f:
        f.write(f"""[experiment]
name = "ivfpq-bytes"
seeds = [1]
cache_dir = "{a.work}/cache"
results_dir = "{a.work}/results"
data_dir = "{a.work}"

[dataset]
kind = "vectors"
base = "base.npy"
query = "query.npy"
metric = "ip"

[index]
kind = "ivf_pq"
nlist = {NLIST}
m = {M}
nprobe = 8
rerank = 0

[metrics]
k = [10]
""")
    subprocess.run([a.runner, "run", cfg, "--quiet"], check=True, stdout=subprocess.DEVNULL)
    proc = subprocess.Popen([a.runner, "serve", cfg, "--addr", "127.0.0.1:0", "--no-watch"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    url = proc.stdout.readline().strip().removeprefix("listening on ")
    metrics = urllib.request.urlopen(url + "/metrics", timeout=30).read().decode()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    ours = int(float(re.search(r"^runner_index_bytes (\S+)$", metrics, re.M).group(1)))

    quantizer = faiss.IndexFlatIP(D)
    index = faiss.IndexIVFPQ(quantizer, D, NLIST, M, 8, faiss.METRIC_INNER_PRODUCT)
    t = time.time()
    index.train(base)
    index.add(base)
    theirs = len(faiss.serialize_index(index))
    raw = N * D * 4
    print(f"{N:,} x {D} vectors (raw f32: {raw / 2**20:.1f} MiB), ivf_pq nlist {NLIST}, m {M}, inner product, rerank 0")
    print("| index | bytes | MiB | / faiss |")
    print("|---|---|---|---|")
    print(f"| runner ivf_pq, loaded by `runner serve` | {ours:,} | {ours / 2**20:.2f} | {ours / theirs:.2f}x |")
    print(f"| faiss IndexIVFPQ, serialized | {theirs:,} | {theirs / 2**20:.2f} | 1.00x |")


if __name__ == "__main__":
    main()
