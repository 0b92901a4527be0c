#!/usr/bin/env bash
# Search speed, interleaved: ROUNDS rounds, each searching the same saved indexes with our
# ann_bench (one or more builds of it: BINS) and the reference libraries, one thread, best of
# MIN_SECS per setting. On a shared VM whose speed drifts by tens of percent within minutes,
# only runs close in time compare; the best of each side over the rounds is the figure to
# quote. Builds happen on the first round only (INDEX_DIR keeps them).
#
# usage: ./rounds.sh KIND DATA_DIR INDEX_DIR [ROUNDS]   > rounds.jsonl
#        KIND = hnsw (against hnswlib and faiss IndexHNSWFlat) or ivf_pq (faiss IndexIVFPQ)
# env:   BINS="path/to/ann_bench ..." (default: the release example under CARGO_TARGET_DIR)
#        EF=32,64,128 (hnsw)  PQ=nprobe:rerank,... (ivf_pq)  NLIST (1024)  MIN_SECS=6
#        VENV=$HOME/.cache/venvs/ann
set -euo pipefail
kind="$1" data="$2" index_dir="$3" rounds="${4:-3}"
here="$(cd "$(dirname "$0")" && pwd)"
case $kind in
    hnsw) refs=(hnswlib faiss_hnsw) ;;
    ivf_pq) refs=(ivf_pq) ;;
    *) echo "rounds.sh: KIND is hnsw or ivf_pq, got $kind" >&2; exit 2 ;;
esac
export EF="${EF:-32,64,128}" MIN_SECS="${MIN_SECS:-6}" INDEX_DIR="$index_dir"
bins=(${BINS:-${CARGO_TARGET_DIR:-$HOME/.cache/runner-ci-target}/release/examples/ann_bench})
py="${VENV:-$HOME/.cache/venvs/ann}/bin/python"
mkdir -p "$index_dir"
for ((r = 1; r <= rounds; r++)); do
    for b in "${bins[@]}"; do
        "$b" "$data" "$kind" | sed "s|^{|{\"round\": $r, \"bin\": \"$(basename "$b")\", |"
    done
    for lib in "${refs[@]}"; do
        ONLY=$lib "$py" "$here/bench.py" ref "$data" | sed "s|^{|{\"round\": $r, |"
    done
done
