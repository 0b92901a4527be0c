"""`runner serve` against the seed's stack (FastAPI + uvicorn + faiss HNSW, anchor.py) on
MovieLens 100K: item2vec trained by the runner, its vectors exported for the anchor, both
services answering `POST /recommend {"user": ID, "k": 10}` with the user's training items
left out, loaded by oha at 1, 16 and 64 connections, the two sides interleaved per level.
Both sides get the machine's 2 cores (the runner's tokio workers; uvicorn with 2 workers);
oha runs on the same machine for both. Prints the table and appends JSON lines to --out.

usage: bench.py --runner BIN --oha BIN --python PY --data-dir DIR --work DIR --out FILE
       [--seconds 10] [--conns 1 16 64]
"""

import argparse
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


def main():
    global BODY
    ap = argparse.ArgumentParser()
    ap.add_argument("--runner", required=True)
    ap.add_argument("--oha", required=True)
    ap.add_argument("--python", required=True)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--conns", type=int, nargs="+", default=[1, 16, 64])
    ap.add_argument("--user", default="196")
    a = ap.parse_args()
    BODY = json.dumps({"user": a.user, "k": 10})
    os.makedirs(a.work, exist_ok=True)
    cfg = os.path.join(a.work, "serve.toml")
    with open(cfg, "w") as f:
        f.write(f"""[experiment]
name = "serve-bench"
seeds = [1]
cache_dir = "{a.work}/cache"
results_dir = "{a.work}/results"
data_dir = "{a.data_dir}"

[dataset]
kind = "movielens"
path = "ml-100k"

[split]
kind = "leave_last_out"

[[model]]
kind = "item2vec"

[index]
kind = "hnsw"
m = 16
ef_construction = 200
ef_search = 64

[metrics]
k = [10]
""")
    subprocess.run([a.runner, "run", cfg, "--quiet"], check=True, stdout=subprocess.DEVNULL)
    prefix = os.path.join(a.work, "vectors")
    subprocess.run([a.runner, "export", cfg, "--format", "npy", "--out", prefix], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    split = load_ml100k(os.path.join(a.data_dir, "ml-100k", "u.data"))
    seen = {}
    for u, i in zip(split.train_u.tolist(), split.train_i.tolist()):
        seen.setdefault(str(split.users[u]), []).append(str(split.items[i]))
    seen_path = os.path.join(a.work, "seen.json")
    json.dump(seen, open(seen_path, "w"))

    def start(side):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        if side == "runner":
            proc = subprocess.Popen([a.runner, "serve", cfg, "--addr", f"127.0.0.1:{port}", "--no-watch"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        else:
            env = dict(os.environ, ANCHOR_PREFIX=prefix, ANCHOR_SEEN=seen_path, ANCHOR_M="16", ANCHOR_EF="64", ANCHOR_EF_CONSTRUCTION="200")
            proc = subprocess.Popen([a.python, "-m", "uvicorn", "anchor:app", "--host", "127.0.0.1", "--port", str(port), "--workers", "2", "--log-level", "warning"],
                                    cwd=HERE, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_up(url, proc)
        return proc, url

    # The same answer from both (the anchor's faiss HNSW may differ from ours in a tie or an
    # approximate miss; printed, not asserted).
    rows = []
    for conns in a.conns:
        for side in ("runner", "fastapi"):
            proc, url = start(side)
            load(a.oha, url, conns, 2)  # warm-up
            r = load(a.oha, url, conns, a.seconds)
            r.update({"side": side, "conns": conns, "seconds": a.seconds})
            rows.append(r)
            with open(a.out, "a") as f:
                f.write(json.dumps(r) + "\n")
            log(f"{side} c={conns}: {r['rps']:.0f} req/s, p99 {r['p99_ms']:.2f} ms, errors {r['errors']}")
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    print("MovieLens 100K, item2vec + HNSW (M 16, ef 64), POST /recommend {user, k: 10}, 2 cores, oha on the same machine")
    print("| connections | runner req/s | runner p50 / p99 ms | FastAPI+faiss req/s | FastAPI p50 / p99 ms | runner / FastAPI |")
    print("|---|---|---|---|---|---|")
    for conns in a.conns:
        o = next(r for r in rows if r["side"] == "runner" and r["conns"] == conns)
        f = next(r for r in rows if r["side"] == "fastapi" and r["conns"] == conns)
        print(f"| {conns} | {o['rps']:.0f} | {o['p50_ms']:.2f} / {o['p99_ms']:.2f} | {f['rps']:.0f} | {f['p50_ms']:.2f} / {f['p99_ms']:.2f} | {o['rps'] / f['rps']:.1f}x |")


if __name__ == "__main__":
    main()
