#!/usr/bin/env bash
# The prepared GPU check, for a machine with an NVIDIA GPU and the CUDA toolkit (dfdx's `cuda`
# feature runs nvcc and nvidia-smi at build time). Run from the repository root:
#
#   OUT=/tmp/gpu bash experiments/two_tower_speed/gpu.sh        # FULL=1 adds runner's own tests
#
# 1. builds the runner with --features cuda (the towers then train on dfdx's tape on GPU 0;
#    the CPU fast path is compiled out) and trains the two-tower model of
#    experiments/two_tower_vs_pytorch on the built-in synthetic dataset at two catalogue
#    sizes, printing examples/s per epoch;
# 2. with FULL=1, runs the nn and neural-model unit tests on the GPU.
# Everything it prints is also written under $OUT.
set -euo pipefail
OUT=${OUT:-/tmp/gpu-check}
EPOCHS=${EPOCHS:-3}
mkdir -p "$OUT"
exec > >(tee "$OUT/gpu.log") 2>&1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
nvcc --version | tail -1 || true
T=${CARGO_TARGET_DIR:-$HOME/.cache/runner-gpu-target}
CARGO_TARGET_DIR=$T cargo build --release --features cuda
WORK=$(mktemp -d)
for size in "6000 4000" "200000 50000"; do
  set -- $size
  cat > "$WORK/tt-$1.toml" <<TOML
[experiment]
name = "gpu-$1"
seeds = [1]
cache_dir = "$WORK/cache"
results_dir = "$WORK/results"

[dataset]
kind = "synthetic"
n_users = $1
n_items = $2
n_clusters = 50
mean_len = 10

[split]
kind = "leave_last_out"

[[model]]
kind = "two_tower"
dim = 64
hidden = [128]
embedding_dim = 32
loss = "softmax"
temperature = 0.1
batch_size = 512
epochs = $EPOCHS
lr = 0.01
user = { id = true, history = 20 }
item = { id = true }

[sampler]
kind = "in_batch"
logq = true

[metrics]
k = [10]
TOML
  "$T/release/runner" run "$WORK/tt-$1.toml" --force -q
  python3 - "$WORK/results/gpu-$1/results.json" <<'PY' | tee -a "$OUT/speed.md"
import json, sys
for r in json.load(open(sys.argv[1])):
    print(r["model"], "examples/s per epoch:", [round(e["throughput"]) for e in r["epochs"]], "Recall@10", round(r["metrics"]["Recall@10"], 4))
PY
done
if [ "${FULL:-0}" = 1 ]; then
  CARGO_TARGET_DIR=$T cargo test --release --features cuda --lib -- nn:: neural | tee "$OUT/tests-cuda.txt"
fi
