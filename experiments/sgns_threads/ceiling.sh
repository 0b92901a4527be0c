#!/usr/bin/env bash
# The VM's ceiling for two threads on ml-100k item2vec: per round, one process with one
# thread, two one-thread processes at once (their tokens/s summed) and one process with two
# threads, each 20 epochs x 3 seeds (experiments/item2vec_vs_gensim's bench, built by run.sh).
#
# usage: ./ceiling.sh [ROUNDS]   (default 6; env DATA_DIR=<repo>/../shared/data)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
DATA_DIR="${DATA_DIR:-$here/../../../shared/data}"
ROUNDS="${1:-6}"
CARGO_TARGET_DIR="$HOME/.cache/item2vec-bench-target" cargo build --release --quiet --manifest-path "$here/../item2vec_vs_gensim/rust_side/Cargo.toml"
bench="$HOME/.cache/item2vec-bench-target/release/item2vec_bench"
args=(--data "$DATA_DIR/ml-100k/u.data" --repeat 3 --epochs 20)
tps() { python3 -c 'import json, sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])["tokens_per_s"])'; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
for ((r = 1; r <= ROUNDS; r++)); do
    one="$("$bench" "${args[@]}" --threads 1 | tps)"
    "$bench" "${args[@]}" --threads 1 >"$tmp/a" &
    "$bench" "${args[@]}" --threads 1 >"$tmp/b"
    wait
    pair="$(python3 -c "print($(tps <"$tmp/a") + $(tps <"$tmp/b"))")"
    two="$("$bench" "${args[@]}" --threads 2 | tps)"
    python3 -c "print(f'round $r: 1 thread {$one / 1e6:.2f}M, two processes {$pair / 1e6:.2f}M ({$pair / $one:.2f}x), 2 threads {$two / 1e6:.2f}M ({$two / $one:.2f}x)')"
done
