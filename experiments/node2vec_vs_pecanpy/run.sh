#!/usr/bin/env bash
# node2vec walk generation: runner's graph::walks vs PecanPy SparseOTF, on PPI (p=4, q=1)
# and Wikipedia (p=4, q=0.5), r=10 walks/node, l=80, T threads; one JSON line per run.
# usage: ./run.sh [REPEAT]   (env: VENV=/work/venvs/n2v, DATA=/work/shared/data/graphs, THREADS=2,
#                             EMBED=1 to also train SGNS and score node classification on our side)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
VENV="${VENV:-/work/venvs/n2v}"
DATA="${DATA:-/work/shared/data/graphs}"
THREADS="${THREADS:-2}"
REPEAT="${1:-3}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR_BENCH:-$HOME/.cache/node2vec-bench-target}"
cargo build --release --quiet --manifest-path "$here/rust_side/Cargo.toml"
ours="$CARGO_TARGET_DIR/release/node2vec_bench"
embed=()
[[ "${EMBED:-0}" == 1 ]] && embed=(--embed)
run() { # graph p q [--weighted]
    local g="$1" p="$2" q="$3"; shift 3
    "$ours" --graph "$DATA/$g.edg" --labels "$DATA/$g.labels.tsv" --p "$p" --q "$q" \
        --threads "$THREADS" --repeat "$REPEAT" "${embed[@]}"
    if [[ -x "$VENV/bin/python" ]]; then
        "$VENV/bin/python" "$here/pecanpy_side.py" --graph "$DATA/$g.edg" --p "$p" --q "$q" \
            --threads "$THREADS" --repeat "$REPEAT" "$@"
    fi
}
run PPI 4 1
run Wikipedia 4 0.5 --weighted
