#!/usr/bin/env bash
# The prepared GPU check of issue 5, for a machine with an NVIDIA GPU and the CUDA toolkit
# (dfdx's `cuda` feature runs nvcc and nvidia-smi at build time). Run from the repository root:
#
#   OUT=/tmp/gpu bash experiments/two_tower_speed/gpu.sh        # FULL=1 adds runner's own tests
#
# 1. builds the speed bench twice (CPU, then --features cuda) and runs both: steps/s per device;
# 2. with FULL=1, builds runner with --features cuda and runs the nn and two_tower tests on the
#    GPU (a cold build of runner takes minutes even on 16 cores: polars).
# Everything it prints is also written under $OUT.
set -euo pipefail
OUT=${OUT:-/tmp/gpu-check}
STEPS=${STEPS:-40}
mkdir -p "$OUT"
exec > >(tee "$OUT/gpu.log") 2>&1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
nvcc --version | tail -1 || true
cd experiments/two_tower_speed/rust_side
T=${CARGO_TARGET_DIR:-$HOME/.cache/two-tower-bench-target}
CARGO_TARGET_DIR=$T/cpu cargo build --release
CARGO_TARGET_DIR=$T/cuda cargo build --release --features cuda
for dev in cpu cuda; do
  echo "== $dev =="
  RAYON_NUM_THREADS=${THREADS:-2} "$T/$dev/release/two_tower_speed" "$STEPS" | tee "$OUT/speed-$dev.md"
done
cd ../../..
if [ "${FULL:-0}" = 1 ]; then
  cargo test --release --features cuda --lib -- nn:: two_tower | tee "$OUT/tests-cuda.txt"
fi
