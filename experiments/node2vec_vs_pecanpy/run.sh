#!/usr/bin/env bash
# node2vec end to end, runner vs PecanPy + gensim (issue 4's benchmark), on PPI (p=4, q=1) and
# Wikipedia (p=4, q=0.5): r=10 walks/node, l=80, d=128, window 10, negative 5, 1 epoch,
# sample 0, T threads on both sides.
#   (a) pecanpy_side.py --emb-out: PecanPy SparseOTF simulate_walks + gensim Word2Vec
#   (b) rust_side --emb-out: runner's graph::walks + sgns (the same source files as src/)
# Each run is one fresh process timed by /usr/bin/time (wall time, peak RSS of the whole
# process) that writes its embedding; evaluate.py then scores every embedding with one
# protocol (scikit-learn one-vs-rest LogisticRegression(C=1), 50% train, top-k, 10 splits)
# and prints the side-by-side table (medians over runs).
#
# usage: ./run.sh [REPEAT]      (default 3 runs per side and graph, interleaved)
# env:   VENV=$HOME/.cache/venvs/n2v  DATA=../shared/data/graphs  THREADS=2
#        OUT=/tmp/node2vec_vs_pecanpy (embeddings, runs.jsonl, table.md)
#        SEED0=0   first seed (runs use SEED0 .. SEED0+REPEAT-1; pick another for fresh draws)
#        CARGO_JOBS=1  CARGO_TARGET_DIR_BENCH=~/.cache/node2vec-bench-target
#        CROSS=1       also train each side on the other side's walks (gensim on our walks,
#                      our SGNS on PecanPy's), to tell walk quality from training quality;
#                      the extra rows are "ours-walks+gensim" and "pecanpy-walks+ours"
#        MODE=walks    the older walk-only benchmark (median of REPEAT walk runs per side;
#                      EMBED=1 adds our embedding + runner's own graph::eval F1)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
VENV="${VENV:-$HOME/.cache/venvs/n2v}"
DATA="${DATA:-$(cd "$(dirname "$0")/../.." && pwd)/../shared/data/graphs}"
THREADS="${THREADS:-2}"
REPEAT="${1:-3}"
OUT="${OUT:-/tmp/node2vec_vs_pecanpy}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR_BENCH:-$HOME/.cache/node2vec-bench-target}"
cargo build --release --quiet -j "${CARGO_JOBS:-1}" --manifest-path "$here/rust_side/Cargo.toml"
ours="$CARGO_TARGET_DIR/release/node2vec_bench"
py="$VENV/bin/python"
[[ -x "$py" ]] || { echo "no virtualenv at $VENV (see README.md)" >&2; exit 1; }

if [[ "${MODE:-pipeline}" == walks ]]; then
    embed=()
    [[ "${EMBED:-0}" == 1 ]] && embed=(--embed)
    walks() { # graph p q [--weighted]
        local g="$1" p="$2" q="$3"; shift 3
        "$ours" --graph "$DATA/$g.edg" --labels "$DATA/$g.labels.tsv" --p "$p" --q "$q" \
            --threads "$THREADS" --repeat "$REPEAT" "${embed[@]}"
        "$py" "$here/pecanpy_side.py" --graph "$DATA/$g.edg" --p "$p" --q "$q" \
            --threads "$THREADS" --repeat "$REPEAT" "$@"
    }
    walks PPI 4 1
    walks Wikipedia 4 0.5 --weighted
    exit 0
fi

"$py" -c 'import gensim, sklearn, pecanpy' 2>/dev/null ||
    { echo "$VENV lacks pecanpy, gensim or scikit-learn (see README.md)" >&2; exit 1; }
mkdir -p "$OUT"
runs="$OUT/runs.jsonl"
: > "$runs"
timed() { # side graph seed -- command...: appends the command's JSON line + wall_s, max_rss_kib
    local side="$1" g="$2" seed="$3"; shift 4
    local tf="$OUT/time.$side.$g.$seed" line
    line="$(/usr/bin/time -f '%e %M' -o "$tf" "$@" | tail -n 1)"
    read -r wall rss < <(tail -n 1 "$tf")
    line="${line%\}}, \"wall_s\": $wall, \"max_rss_kib\": $rss}"
    echo "$line" | tee -a "$runs"
}
one() { # side graph p q seed [--weighted]
    local side="$1" g="$2" p="$3" q="$4" seed="$5"; shift 5
    local args=(--graph "$DATA/$g.edg" --p "$p" --q "$q" --threads "$THREADS" --seed "$seed"
                --emb-out "$OUT/$side.$g.$seed")
    [[ "${CROSS:-0}" == 1 ]] && args+=(--walks-out "$OUT/$side.$g.$seed.walks")
    if [[ "$side" == ours ]]; then
        timed ours "$g" "$seed" -- "$ours" "${args[@]}"
    else
        timed pecanpy "$g" "$seed" -- "$py" "$here/pecanpy_side.py" "${args[@]}" "$@"
    fi
}
for ((rep = 0; rep < REPEAT; rep++)); do
    # Alternate which side goes first, so drifting load on a shared machine hits both alike.
    if ((rep % 2 == 0)); then order=(ours pecanpy); else order=(pecanpy ours); fi
    seed=$((${SEED0:-0} + rep))
    for side in "${order[@]}"; do one "$side" PPI 4 1 "$seed"; done
    for side in "${order[@]}"; do one "$side" Wikipedia 4 0.5 "$seed" --weighted; done
    if [[ "${CROSS:-0}" == 1 ]]; then
        for g in PPI Wikipedia; do
            w=(); [[ "$g" == Wikipedia ]] && w=(--weighted)
            pq=(--p 4 --q 1); [[ "$g" == Wikipedia ]] && pq=(--p 4 --q 0.5)
            common=(--graph "$DATA/$g.edg" "${pq[@]}" --threads "$THREADS" --seed "$seed")
            timed xg "$g" "$seed" -- "$py" "$here/pecanpy_side.py" "${common[@]}" "${w[@]}" \
                --walks-in "$OUT/ours.$g.$seed.walks" --emb-out "$OUT/xg.$g.$seed"
            timed xo "$g" "$seed" -- "$ours" "${common[@]}" \
                --walks-in "$OUT/pecanpy.$g.$seed.walks" --emb-out "$OUT/xo.$g.$seed"
            rm -f "$OUT"/*."$g.$seed.walks"
        done
    fi
done
echo "scoring $(wc -l < "$runs") embeddings ..." >&2
"$py" "$here/evaluate.py" "$runs" --labels-dir "$DATA" | tee "$OUT/table.md"
