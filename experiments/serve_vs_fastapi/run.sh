#!/usr/bin/env bash
# `runner serve` against FastAPI + uvicorn + faiss (issue 32): see bench.py and README.md here.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/runner-ci-target}"
(cd "$root" && cargo build --release --quiet)
data="${RUNNER_DATA_DIR:-$root/../shared/data}"
WORK="${WORK:-$HOME/.cache/serve-bench}"
OHA="${OHA:-$HOME/.cache/oha/bin/oha}"
PY="${PYTHON:-$HOME/.cache/serve-anchor-venv/bin/python}"
# The tower anchor also needs torch (any venv with fastapi, uvicorn, faiss-cpu, numpy, torch).
TOWER_PY="${TOWER_PYTHON:-$PY}"
mkdir -p "$WORK"
"$PY" "$here/bench.py" --runner "$CARGO_TARGET_DIR/release/runner" --oha "$OHA" --python "$PY" --tower-python "$TOWER_PY" --data-dir "$(cd "$data" && pwd)" --work "$WORK" --out "$WORK/runs.jsonl" "$@"
