#!/usr/bin/env bash
# HNSW search speed, interleaved: ROUNDS rounds, each searching the same saved graphs with
# our ann_bench (one or more builds of it: BINS), faiss IndexHNSWFlat and hnswlib, one thread,
# best of MIN_SECS per setting. On a shared VM whose speed drifts by tens of percent within
# minutes, only runs close in time compare; the best of each side over the rounds is the
# figure to quote. Builds happen on the first round only (INDEX_DIR keeps them).
#
# usage: ./hnsw_rounds.sh DATA_DIR INDEX_DIR [ROUNDS]   > rounds.jsonl
# env:   BINS="path/to/ann_bench ..." (default: the release example under CARGO_TARGET_DIR)
#        EF=32,64,128  MIN_SECS=6  VENV=/work/venvs/ann
set -euo pipefail
data="$1" index_dir="$2" rounds="${3:-3}"
here="$(cd "$(dirname "$0")" && pwd)"
export EF="${EF:-32,64,128}" MIN_SECS="${MIN_SECS:-6}" INDEX_DIR="$index_dir"
bins=(${BINS:-${CARGO_TARGET_DIR:-$HOME/.cache/runner-ci-target}/release/examples/ann_bench})
py="${VENV:-/work/venvs/ann}/bin/python"
mkdir -p "$index_dir"
for ((r = 1; r <= rounds; r++)); do
    for b in "${bins[@]}"; do
        "$b" "$data" hnsw | sed "s|^{|{\"round\": $r, \"bin\": \"$(basename "$b")\", |"
    done
    for lib in hnswlib faiss_hnsw; do
        ONLY=$lib "$py" "$here/bench.py" ref "$data" | sed "s|^{|{\"round\": $r, |"
    done
done
