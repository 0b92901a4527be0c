"""`runner serve` against the seed's stack (FastAPI + uvicorn + faiss HNSW) in three scenarios,
each trained by the runner and its item vectors exported for the anchor:

- `ml100k-item2vec`: MovieLens 100K, item2vec, `POST /recommend {"user": ID, "k": 10}` (the
  user's training items left out; anchor.py);
- `ml100k-tower`: MovieLens 100K, the two-tower model, `{"history": [...], "features": {...}}`:
  the user tower run on every request, the runner's in Rust, the anchor's rebuilt in PyTorch
  from the same `weights.safetensors` (anchor_tower.py);
- `synthetic-1m`: a synthetic catalogue of 1,000,000 items, item2vec, `{"history": [...]}`
  (the mean of the last 5 items' unit vectors, the history left out; anchor.py).

Both services get the same request, loaded by oha at each connection count, the two sides
interleaved per level; both get the machine's 2 cores (the runner's tokio workers; uvicorn
with 2 workers), oha runs on the same machine for both. Before loading, the two answers to
the request are compared. Prints a table per scenario and appends JSON lines to --out.

usage: bench.py --runner BIN --oha BIN --python PY [--tower-python PY] --data-dir DIR --work DIR
       --out FILE [--scenarios ...] [--seconds 10] [--conns 1 16 64]
"""

import argparse
import glob
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "yardsticks"))
from common import load_ml100k  # noqa: E402

BODY = None


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url, proc, timeout=600):
    t = time.time()
    while time.time() - t < timeout:
        if proc.poll() is not None:
            raise SystemExit(f"the service at {url} exited with {proc.returncode}")
        try:
            req = urllib.request.Request(url + "/recommend", data=BODY.encode(), headers={"content-type": "application/json"})
            urllib.request.urlopen(req, timeout=2).read()
            return
        except Exception:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not come up")


def load(oha, url, conns, seconds):
    out = subprocess.run([oha, "-z", f"{seconds}s", "-c", str(conns), "-m", "POST", "-T", "application/json", "-d", BODY,
                          "--no-tui", "--output-format", "json", url + "/recommend"], check=True, capture_output=True, text=True)
    r = json.loads(out.stdout)
    codes = r.get("statusCodeDistribution", {})
    # Requests still open when the duration ends are cut off by oha itself ("aborted due to
    # deadline"): not the service's errors.
    errors = sum(n for e, n in r.get("errorDistribution", {}).items() if "deadline" not in e) + sum(n for c, n in codes.items() if c != "200")
    return {"rps": r["summary"]["requestsPerSec"], "p50_ms": r["latencyPercentiles"]["p50"] * 1e3,
            "p99_ms": r["latencyPercentiles"]["p99"] * 1e3, "errors": errors, "ok": codes.get("200", 0)}


HNSW = """
[index]
kind = "hnsw"
m = 16
ef_construction = 200
ef_search = 64

[metrics]
k = [10]
"""

ML100K = """
[dataset]
kind = "movielens"
path = "ml-100k"

[split]
kind = "leave_last_out"
"""

TOWER = """
[[model]]
kind = "two_tower"
dim = 64
hidden = [128]
embedding_dim = 32
loss = "softmax"
temperature = 0.1
batch_size = 512
epochs = 10
lr = 0.01
user = { id = false, features = ["age", "gender", "occupation", "zip_prefix"], history = 20 }
item = { id = true, features = ["genres", "year"] }

[sampler]
kind = "in_batch"
logq = true
"""

SYNTHETIC_1M = """
[dataset]
kind = "synthetic"
n_users = 100000
n_items = 1000000
n_clusters = 100
mean_len = 20
seed = 1

[[model]]
kind = "item2vec"
dim = 64
epochs = 1
"""


def scenario_config(name, work, data_dir):
    head = f"""[experiment]
name = "serve-bench-{name}"
seeds = [1]
cache_dir = "{work}/cache"
results_dir = "{work}/results"
data_dir = "{data_dir}"
"""
    body = {"ml100k-item2vec": ML100K + '\n[[model]]\nkind = "item2vec"\n', "ml100k-tower": ML100K + TOWER, "synthetic-1m": SYNTHETIC_1M}[name]
    return head + body + HNSW


def one_file(pattern):
    found = glob.glob(pattern)
    if len(found) != 1:
        raise SystemExit(f"expected one file at {pattern}, found {found}")
    return found[0]


def post(url, body):
    req = urllib.request.Request(url + "/recommend", data=body.encode(), headers={"content-type": "application/json"})
    return json.loads(urllib.request.urlopen(req, timeout=30).read())


def run_scenario(a, name):
    global BODY
    work = os.path.join(a.work, name)
    os.makedirs(work, exist_ok=True)
    cfg = os.path.join(work, "serve.toml")
    with open(cfg, "w") as f:
        f.write(scenario_config(name, work, a.data_dir))
    log(f"{name}: training and indexing (cached after the first time)")
    subprocess.run([a.runner, "run", cfg, "--quiet"], check=True, stdout=subprocess.DEVNULL)
    prefix = os.path.join(work, "vectors")
    subprocess.run([a.runner, "export", cfg, "--format", "npy", "--out", prefix], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seen_path = os.path.join(work, "seen.json")
    env = dict(os.environ, ANCHOR_PREFIX=prefix, ANCHOR_SEEN=seen_path, ANCHOR_M="16", ANCHOR_EF="64", ANCHOR_EF_CONSTRUCTION="200")
    python, app = a.python, "anchor:app"
    if name.startswith("ml100k"):
        split = load_ml100k(os.path.join(a.data_dir, "ml-100k", "u.data"))
        seen = {}
        for u, i in zip(split.train_u.tolist(), split.train_i.tolist()):
            seen.setdefault(str(split.users[u]), []).append(str(split.items[i]))
        json.dump(seen, open(seen_path, "w"))
    else:
        json.dump({}, open(seen_path, "w"))
    if name == "ml100k-item2vec":
        BODY = json.dumps({"user": a.user, "k": 10})
    elif name == "ml100k-tower":
        # The user's own last 20 training items and features, as a new user would give them.
        ds_file = one_file(os.path.join(work, "cache", "data", "*", "dataset.json"))
        ds = json.load(open(ds_file))
        cols = {c["name"]: c for c in ds["user_features"]["columns"]}
        row = ds["users"].index(a.user)
        feats = {"age": cols["age"]["values"][row]}
        for n in ("gender", "occupation", "zip_prefix"):
            feats[n] = cols[n]["labels"][cols[n]["values"][row]]
        BODY = json.dumps({"history": seen[a.user][-20:], "features": feats, "k": 10})
        env.update(ANCHOR_WEIGHTS=one_file(os.path.join(work, "cache", "train", "*", "weights.safetensors")), ANCHOR_DATASET=ds_file,
                   ANCHOR_FEATURES="age,gender,occupation,zip_prefix", ANCHOR_HISTORY="20")
        python, app = a.tower_python, "anchor_tower:app"
    else:
        items = [l.rstrip("\n") for l in open(prefix + ".items.ids.txt")]
        BODY = json.dumps({"history": [items[(i * 7919) % len(items)] for i in range(20)], "k": 10})
        # faiss' HNSW over a million vectors takes minutes to build: once, then each
        # uvicorn worker reads it.
        env["ANCHOR_INDEX"] = os.path.join(work, "faiss-hnsw.index")
        if not os.path.exists(env["ANCHOR_INDEX"]):
            log(f"{name}: building faiss' HNSW for the anchor")
            subprocess.run([python, "-c", "import anchor; anchor.save_index()"], cwd=HERE, env=env, check=True)

    def start(side):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        if side == "runner":
            proc = subprocess.Popen([a.runner, "serve", cfg, "--addr", f"127.0.0.1:{port}", "--no-watch"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        else:
            proc = subprocess.Popen([python, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port), "--workers", "2", "--log-level", "warning"],
                                    cwd=HERE, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_up(url, proc)
        return proc, url

    rows = []
    for conns in a.conns:
        for side in ("runner", "fastapi"):
            proc, url = start(side)
            answer = [x["item"] for x in post(url, BODY)["items"]]
            load(a.oha, url, conns, 2)  # warm-up
            r = load(a.oha, url, conns, a.seconds)
            r.update({"scenario": name, "side": side, "conns": conns, "seconds": a.seconds, "answer": answer})
            rows.append(r)
            with open(a.out, "a") as f:
                f.write(json.dumps(r) + "\n")
            log(f"{name} {side} c={conns}: {r['rps']:.0f} req/s, p99 {r['p99_ms']:.2f} ms, errors {r['errors']}")
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    ours = next(r["answer"] for r in rows if r["side"] == "runner")
    theirs = next(r["answer"] for r in rows if r["side"] == "fastapi")
    same = len(set(ours) & set(theirs))
    print(f"\n{name}: {BODY[:160]}{'...' if len(BODY) > 160 else ''}")
    print(f"the two top-10 answers share {same} of 10 items (HNSW on both sides: ties and approximate misses may differ)")
    print("| connections | runner req/s | runner p50 / p99 ms | FastAPI req/s | FastAPI p50 / p99 ms | runner / FastAPI |")
    print("|---|---|---|---|---|---|")
    for conns in a.conns:
        o = next(r for r in rows if r["side"] == "runner" and r["conns"] == conns)
        f = next(r for r in rows if r["side"] == "fastapi" and r["conns"] == conns)
        print(f"| {conns} | {o['rps']:.0f} | {o['p50_ms']:.2f} / {o['p99_ms']:.2f} | {f['rps']:.0f} | {f['p50_ms']:.2f} / {f['p99_ms']:.2f} | {o['rps'] / f['rps']:.1f}x |")
    errors = sum(r["errors"] for r in rows)
    print(f"errors: {errors}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runner", required=True)
    ap.add_argument("--oha", required=True)
    ap.add_argument("--python", required=True)
    ap.add_argument("--tower-python", help="a Python with torch as well (default: --python)")
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--scenarios", nargs="+", default=["ml100k-item2vec", "ml100k-tower", "synthetic-1m"])
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--conns", type=int, nargs="+", default=[1, 16, 64])
    ap.add_argument("--user", default="196")
    a = ap.parse_args()
    a.tower_python = a.tower_python or a.python
    os.makedirs(a.work, exist_ok=True)
    for name in a.scenarios:
        run_scenario(a, name)


if __name__ == "__main__":
    main()
