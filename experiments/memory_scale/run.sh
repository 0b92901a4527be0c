#!/usr/bin/env bash
# Peak memory and time per stage of a large synthetic run (issue 16, part 4): popularity and
# one-epoch item2vec, an HNSW index, leave-last-out, one stage at a time (--jobs 1, so each
# stage's peak is its own). Prints the stage log (time and peak per stage) and the whole
# process's maximum resident set size, and bytes per interaction.
#
# usage: ./run.sh [15m|25m]      (default 15m: 500k users, 50k items, ~15M interactions;
#                                 25m: 830k users, 60k items, ~25M interactions, MovieLens 25M size)
# env:   OUT=/tmp/memory_scale   (cache and results; removed first, so every stage runs)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
size="${1:-15m}"
case "$size" in
  15m) users=500000 items=50000 ;;
  25m) users=830000 items=60000 ;;
  *) echo "size must be 15m or 25m" >&2; exit 2 ;;
esac
OUT="${OUT:-/tmp/memory_scale}/$size"
rm -rf "$OUT" && mkdir -p "$OUT"
cat > "$OUT/run.toml" <<TOML
[experiment]
name = "memory-$size"
seeds = [1]
cache_dir = "cache"
results_dir = "results"

[dataset]
kind = "synthetic"
n_users = $users
n_items = $items
n_clusters = 100
mean_len = 30
seed = 1

[split]
kind = "leave_last_out"

[[model]]
kind = "popularity"

[[model]]
kind = "item2vec"
dim = 64
epochs = 1

[index]
kind = "hnsw"

[metrics]
k = [10]
metrics = ["recall", "ndcg"]
TOML
cd "$here/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/runner-ci-target}"
cargo build --release --quiet
bin="$CARGO_TARGET_DIR/release/runner"
cd "$OUT"
/usr/bin/time -v -o time.txt "$bin" run run.toml --jobs 1 2>&1 | tee run.log
n=$(python3 -c "import json; print(json.load(open('$(ls cache/data/*/manifest.json | head -1)'))['info']['interactions'])")
kib=$(awk '/Maximum resident set size/ {print $6}' time.txt)
echo "interactions: $n; max RSS: $((kib / 1024)) MiB ($(python3 -c "print(round($kib * 1024 / $n, 1))") bytes per interaction)"
