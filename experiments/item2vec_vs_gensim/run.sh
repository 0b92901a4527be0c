#!/usr/bin/env bash
# Runs both sides of the Item2Vec benchmark at T=1 and T=2 threads and prints one table.
# usage: ./run.sh [REPEAT]   (env: VENV=$HOME/.cache/venvs/bench, DATA=.../u.data, THREADS="1 2")
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
VENV="${VENV:-$HOME/.cache/venvs/bench}"
DATA="${DATA:-$(cd "$(dirname "$0")/../.." && pwd)/../shared/data/ml-100k/u.data}"
THREADS="${THREADS:-1 2}"
REPEAT="${1:-3}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR_BENCH:-$HOME/.cache/item2vec-bench-target}"

cargo build --release --quiet --manifest-path "$here/rust_side/Cargo.toml"
ours="$CARGO_TARGET_DIR/release/item2vec_bench"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
for t in $THREADS; do
    "$VENV/bin/python" "$here/gensim_side.py" --data "$DATA" --threads "$t" --repeat "$REPEAT" >>"$out"
    "$ours" --data "$DATA" --threads "$t" --repeat "$REPEAT" >>"$out"
done
"$VENV/bin/python" - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
base = {r["threads"]: r["tokens_per_s"] for r in rows if r["side"] == "gensim"}
print(f"ML-100K leave-last-out, sg, neg=5, window=5, dim=64, epochs=10, sample=0; "
      f"{rows[0]['tokens']} tokens/epoch; median of {rows[0]['repeat']} seeds for speed, mean +- sd for quality")
hdr = f"{'side':<7} {'T':>2} {'tokens/s':>11} {'vs gensim':>9} {'train wall s':>12} {'train CPU s':>11} {'tok/CPU-s':>10} {'peak RSS MiB':>12} {'Recall@10':>16} {'NDCG@10':>16}"
print(hdr)
print("-" * len(hdr))
for r in rows:
    print(f"{r['side']:<7} {r['threads']:>2} {r['tokens_per_s']:>11.0f} {r['tokens_per_s'] / base[r['threads']]:>8.2f}x "
          f"{r['wall_s']:>12.3f} {r['cpu_s']:>11.2f} {r['tokens'] * r['epochs'] / r['cpu_s']:>10.0f} {r['peak_rss_mib']:>12.1f} "
          f"{r['recall@10']:>8.4f}+-{r['recall@10_sd']:.4f} {r['ndcg@10']:>8.4f}+-{r['ndcg@10_sd']:.4f}")
PY
