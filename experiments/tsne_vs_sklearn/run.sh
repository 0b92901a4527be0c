#!/usr/bin/env bash
# t-SNE maps of the same 10,000 x 64 item vectors by our map task and by scikit-learn's
# Barnes-Hut TSNE (perplexity 30, 1000 iterations, 2 threads, random init), ROUNDS rounds
# interleaved (this machine drifts by tens of percent within minutes), then one evaluator
# scores both maps' neighbourhood preservation. Prints the table; raw lines in results/.
# Needs a virtualenv with scikit-learn and numpy: PY=path/to/python (see README.md there).
set -euo pipefail
cd "$(dirname "$0")"
PY=${PY:-$HOME/.cache/bench-venv/bin/python}
ROUNDS=${ROUNDS:-3}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/runner-ci-target}
TARGET=$CARGO_TARGET_DIR
(cd ../.. && cargo build --release --example tsne_bench && cargo build --release)
mkdir -p results
"$TARGET/release/runner" run -q vectors.toml > /dev/null
ITEMS=$(ls results/cache/train/*/items.f32 | head -1)
: > results/rounds.jsonl
for r in $(seq 1 "$ROUNDS"); do
  RAYON_NUM_THREADS=2 "$TARGET/release/examples/tsne_bench" "$ITEMS" results/ours.f32 30 1000 "$r" | tee -a results/rounds.jsonl
  THREADS=2 "$PY" sklearn_side.py map "$ITEMS" results/sklearn.f32 30 1000 "$r" | tee -a results/rounds.jsonl
  "$PY" sklearn_side.py score "$ITEMS" results/ours.f32 | sed 's/^{/{"side": "runner", "round": '"$r"', /' | tee -a results/rounds.jsonl
  "$PY" sklearn_side.py score "$ITEMS" results/sklearn.f32 | sed 's/^{/{"side": "sklearn", "round": '"$r"', /' | tee -a results/rounds.jsonl
done
"$PY" - <<'PY'
import json, statistics as st
rows = [json.loads(l) for l in open("results/rounds.jsonl")]
def side(s, key):
    return [r[key] for r in rows if r["side"].startswith(s) and key in r]
print("| side | rounds | seconds (median, min-max) | kNN@10 preservation (mean) |")
print("|---|---|---|---|")
for s in ("runner", "sklearn"):
    secs, pres = side(s, "seconds"), side(s, "preservation")
    name = next(r["side"] for r in rows if r["side"].startswith(s) and "seconds" in r)
    print(f"| {name} | {len(secs)} | {st.median(secs):.1f} ({min(secs):.1f}-{max(secs):.1f}) | {st.mean(pres):.4f} |")
PY
