#!/usr/bin/env bash
# SASRec against RecBole 1.2 (issue 31): see bench.py. Needs ml-100k/u.data under
# RUNNER_DATA_DIR (default ../shared/data from the repository root) and RecBole in a virtualenv
# outside the repository (README.md here says how). Extra arguments go to bench.py, e.g.
# `./run.sh --seeds 1 --epochs 2` for a smoke test.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/runner-ci-target}"
(cd "$root" && cargo build --release --quiet)
data="${RUNNER_DATA_DIR:-$root/../shared/data}"
WORK="${WORK:-$HOME/.cache/sasrec-bench}"
mkdir -p "$WORK"
python3 -c "import numpy, scipy" 2>/dev/null && py=python3 || py="${PYTHON:-$HOME/.cache/recbole-venv/bin/python}"
"$py" "$here/bench.py" --runner "$CARGO_TARGET_DIR/release/runner" --data-dir "$(cd "$data" && pwd)" --work "$WORK" --out "$WORK/runs.jsonl" "$@"
