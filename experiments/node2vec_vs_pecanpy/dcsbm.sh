#!/usr/bin/env bash
# Same walks, two engines, on a generated hub-heavy graph (issue 16): dcsbm.py writes a
# degree-corrected block model; per seed, rust_side draws our node2vec walks (p = q = 0.25,
# r = 10, l = 80) and trains our skip-gram on them (d = 128, window 10, negative 5, 1 epoch,
# sample 0), then pecanpy_side.py trains gensim on exactly those walks with the same
# settings; evaluate.py scores both ("ours" and "ours-walks+gensim" rows).
#
# usage: ./dcsbm.sh [SEEDS]        (default 6: seeds SEED0 .. SEED0+SEEDS-1)
# env:   VENV=$HOME/.cache/bench-venv  THREADS=1 (both sides; 1 removes Hogwild noise)
#        OUT=/tmp/dcsbm  NAME=A  GRAPH_ARGS="" (dcsbm.py options, e.g. "--shape 0.8
#        --blocks 80 --mix 0.15 --max-theta 400 --seed 1")  P=0.25 Q=0.25  SEED0=0
#        CARGO_TARGET_DIR_BENCH=~/.cache/node2vec-bench-target
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
VENV="${VENV:-$HOME/.cache/bench-venv}"
OUT="${OUT:-/tmp/dcsbm}"
NAME="${NAME:-A}"
THREADS="${THREADS:-1}"
P="${P:-0.25}" Q="${Q:-0.25}"
SEEDS="${1:-6}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR_BENCH:-$HOME/.cache/node2vec-bench-target}"
cargo build --release --quiet -j "${CARGO_JOBS:-1}" --manifest-path "$here/rust_side/Cargo.toml"
ours="$CARGO_TARGET_DIR/release/node2vec_bench"
py="$VENV/bin/python"
mkdir -p "$OUT"
# shellcheck disable=SC2086
"$py" "$here/dcsbm.py" "$OUT/$NAME" ${GRAPH_ARGS:-}
runs="$OUT/$NAME.runs.jsonl"
: > "$runs"
timed() { # tag seed -- command...: appends the command's JSON line + wall_s, max_rss_kib
    local tf="$OUT/time.$1.$2" line
    shift 3
    line="$(/usr/bin/time -f '%e %M' -o "$tf" "$@" | tail -n 1)"
    read -r wall rss < <(tail -n 1 "$tf")
    echo "${line%\}}, \"wall_s\": $wall, \"max_rss_kib\": $rss}" | tee -a "$runs"
}
for ((s = ${SEED0:-0}; s < ${SEED0:-0} + SEEDS; s++)); do
    common=(--graph "$OUT/$NAME.edg" --p "$P" --q "$Q" --threads "$THREADS" --seed "$s")
    timed ours "$s" -- "$ours" "${common[@]}" --emb-out "$OUT/$NAME.ours.$s" --walks-out "$OUT/$NAME.walks.$s"
    timed gensim "$s" -- "$py" "$here/pecanpy_side.py" "${common[@]}" \
        --walks-in "$OUT/$NAME.walks.$s" --emb-out "$OUT/$NAME.gensim.$s"
    rm -f "$OUT/$NAME.walks.$s"
done
echo "scoring $(wc -l < "$runs") embeddings ..." >&2
"$py" "$here/evaluate.py" "$runs" --labels-dir "$OUT" | tee "$OUT/$NAME.table.md"
