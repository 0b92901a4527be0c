#!/usr/bin/env bash
# Thread scaling of the skip-gram engine (issue 16, target 1), interleaved in rounds:
#   - ml-100k item2vec (experiments/item2vec_vs_gensim): gensim and ours with 1 and 2 threads,
#     ours also with 1 thread drawing negatives per pair (--share-negatives 1: word2vec's
#     algorithm) and with 2 Hogwild threads (--hogwild: shared tables, no copies);
#   - node2vec training on PPI, Wikipedia and a generated hub-heavy graph
#     (experiments/node2vec_vs_pecanpy/dcsbm.py): the same walks trained with 1 thread
#     drawing negatives per pair, 1 thread, 2 threads, 2 threads whose merges sum every
#     row's moves (--hub 0: no mean for hubs) and 2 Hogwild threads, with
#     node-classification Macro-F1;
#   - before each round, the cache-line round trip between the two CPUs (pingpong.c).
# Every line goes to $OUT/runs.jsonl; summary.py prints the tables.
#
# usage: ./run.sh [ROUNDS]     (default 3)
# env:   VENV=$HOME/.cache/bench-venv  DATA_DIR=<repo>/../shared/data  OUT=/tmp/sgns_threads
#        GRAPHS="PPI Wikipedia dcsbm" (GRAPHS= runs ml-100k alone)  REPEAT=3 (ml-100k seeds per line)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
VENV="${VENV:-$HOME/.cache/bench-venv}"
DATA_DIR="${DATA_DIR:-$repo/../shared/data}"
OUT="${OUT:-/tmp/sgns_threads}"
GRAPHS="${GRAPHS-PPI Wikipedia dcsbm}"
REPEAT="${REPEAT:-3}"
ROUNDS="${1:-3}"
py="$VENV/bin/python"
mkdir -p "$OUT"

CARGO_TARGET_DIR="$HOME/.cache/item2vec-bench-target" cargo build --release --quiet --manifest-path "$repo/experiments/item2vec_vs_gensim/rust_side/Cargo.toml"
CARGO_TARGET_DIR="$HOME/.cache/node2vec-bench-target" cargo build --release --quiet --manifest-path "$repo/experiments/node2vec_vs_pecanpy/rust_side/Cargo.toml"
i2v="$HOME/.cache/item2vec-bench-target/release/item2vec_bench"
n2v="$HOME/.cache/node2vec-bench-target/release/node2vec_bench"
gcc -O2 -pthread "$here/pingpong.c" -o "$OUT/pingpong"
if [[ " $GRAPHS " == *" dcsbm "* && ! -f "$OUT/dcsbm.edg" ]]; then
    "$py" "$repo/experiments/node2vec_vs_pecanpy/dcsbm.py" "$OUT/dcsbm"
fi
graph_path() { if [ "$1" = dcsbm ]; then echo "$OUT/dcsbm"; else echo "$DATA_DIR/graphs/$1"; fi; }
pq() { case "$1" in PPI) echo "4 1" ;; Wikipedia) echo "4 0.5" ;; *) echo "0.25 0.25" ;; esac; }

runs="$OUT/runs.jsonl"
: > "$runs"
tag() { # round what -- command...: appends the command's JSON line with round and what
    local r="$1" what="$2" line
    shift 3
    line="$("$@" | tail -n 1)"
    echo "{\"round\": $r, \"what\": \"$what\", ${line#\{}" | tee -a "$runs" | cut -c1-160
}
for ((r = 1; r <= ROUNDS; r++)); do
    echo "{\"round\": $r, \"what\": \"pingpong\", \"ns\": $("$OUT/pingpong")}" | tee -a "$runs"
    ml=(--data "$DATA_DIR/ml-100k/u.data" --repeat "$REPEAT")
    tag "$r" ml-gensim-1 -- "$py" "$repo/experiments/item2vec_vs_gensim/gensim_side.py" "${ml[@]}" --threads 1
    tag "$r" ml-pair-1 -- "$i2v" "${ml[@]}" --threads 1 --share-negatives 1
    tag "$r" ml-ours-1 -- "$i2v" "${ml[@]}" --threads 1
    tag "$r" ml-ours-2 -- "$i2v" "${ml[@]}" --threads 2
    tag "$r" ml-hogwild-2 -- "$i2v" "${ml[@]}" --threads 2 --hogwild
    tag "$r" ml-gensim-2 -- "$py" "$repo/experiments/item2vec_vs_gensim/gensim_side.py" "${ml[@]}" --threads 2
    for g in $GRAPHS; do
        gp="$(graph_path "$g")"
        read -r p q < <(pq "$g")
        # The same walks (seed 0) every time; the training seed is the round.
        common=(--graph "$gp.edg" --labels "$gp.labels.tsv" --p "$p" --q "$q" --repeat 1 --embed --seed "$r")
        tag "$r" "$g-pair-1" -- "$n2v" "${common[@]}" --threads 1 --share-negatives 1
        tag "$r" "$g-ours-1" -- "$n2v" "${common[@]}" --threads 1
        tag "$r" "$g-ours-2" -- "$n2v" "${common[@]}" --threads 2
        tag "$r" "$g-sum-2" -- "$n2v" "${common[@]}" --threads 2 --hub 0
        tag "$r" "$g-hogwild-2" -- "$n2v" "${common[@]}" --threads 2 --hogwild
    done
done
"$py" "$here/summary.py" "$runs" | tee "$OUT/summary.md"
