#!/usr/bin/env bash
# The whole benchmark, both sides, on two sets: 100,000 x 128 with 1,000 queries (searches
# repeated for a second, best run kept) and 1,000,000 x 128 with 10,000 queries (timed once).
# Writes results/<set>-{ours,ref}.jsonl and results/<set>.md. Needs the virtualenv of README.md.
set -euo pipefail
PY=${PY:-$HOME/.cache/venvs/ann/bin/python}
DATA=${DATA:-$HOME/.cache/ann-data}
OUT=${OUT:-results}
cd "$(dirname "$0")"
cargo build --release --example ann_bench
BIN=${CARGO_TARGET_DIR:-$HOME/.cache/runner-ci-target}/release/examples/ann_bench
mkdir -p "$OUT"
run() { # name data_dir min_secs [nlist]
  NLIST=${4:-1024} MIN_SECS=$3 "$BIN" "$2" > "$OUT/$1-ours.jsonl"
  NLIST=${4:-1024} MIN_SECS=$3 "$PY" bench.py ref "$2" > "$OUT/$1-ref.jsonl"
  "$PY" bench.py table "$OUT/$1-ref.jsonl" "$OUT/$1-ours.jsonl" > "$OUT/$1.md"
}
[ -f "$DATA/ann100k_s1/gt.ibin" ] || "$PY" bench.py gen "$DATA/ann100k_s1" --sigma 1.0
[ -f "$DATA/ann1m_s1/gt.ibin" ] || "$PY" bench.py gen "$DATA/ann1m_s1" --sigma 1.0 --n 1000000 --nq 10000
# (b) vectors trained by one of our models: TRAINED = a train stage of runner's cache, e.g. the
# item2vec of configs/ann-sweep-synthetic.toml (20,000 items x 64), after `runner run` on it.
if [ -n "${TRAINED:-}" ] && [ ! -f "$DATA/trained/gt.ibin" ]; then "$PY" bench.py import "$TRAINED" "$DATA/trained"; fi
for s in ${SETS:-100k 1m}; do
  case $s in
    100k) run 100k "$DATA/ann100k_s1" 1 ;;
    1m) run 1m "$DATA/ann1m_s1" 0 ;;
    trained) run trained "$DATA/trained" 1 256 ;;
  esac
done
