#!/usr/bin/env bash
# The yardstick benchmarks (README.md here): ALS and BPR against `implicit` 0.7 on MovieLens
# 100K and a 500,000-user synthetic table, EASE and ItemKNN against a NumPy/SciPy reference,
# both sides interleaved round by round; prints the tables and verdicts.
#
# usage: experiments/yardsticks/run.sh [ml100k] [items] [synthetic]   (default: all three)
# env:   VENV      ($HOME/.cache/yardsticks-venv: implicit 0.7, numpy, scipy; see README)
#        RUNNER_DATA_DIR (../shared/data relative to the repository root; needs ml-100k/)
#        WORK      ($HOME/.cache/yardsticks-work: configs, caches, the synthetic CSV, results)
#        ROUNDS    (3: rounds of the MovieLens benchmarks; seeds 1..ROUNDS)
#        SYN_ROUNDS (2), SYN_ALS_ITERS (3), SYN_BPR_EPOCHS (3)
#        RUNNER    (the release binary under $CARGO_TARGET_DIR, built here if missing)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
VENV="${VENV:-$HOME/.cache/yardsticks-venv}"
DATA_DIR="${RUNNER_DATA_DIR:-$root/../shared/data}"
WORK="${WORK:-$HOME/.cache/yardsticks-work}"
ROUNDS="${ROUNDS:-3}"
target="${CARGO_TARGET_DIR:-$root/target}"
RUNNER="${RUNNER:-$target/release/runner}"
benches=("$@")
[ ${#benches[@]} -eq 0 ] && benches=(ml100k items synthetic)

if [ ! -x "$RUNNER" ]; then
    (cd "$root" && cargo build --release --quiet)
fi
[ -f "$DATA_DIR/ml-100k/u.data" ] || { echo "no $DATA_DIR/ml-100k/u.data (set RUNNER_DATA_DIR)" >&2; exit 1; }
"$VENV/bin/python" -c "import implicit, numpy, scipy" || { echo "set up $VENV first (README)" >&2; exit 1; }

mkdir -p "$WORK"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
out="$WORK/results-$stamp.jsonl"
# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, when set on this machine, slow OpenBLAS down: unset for
# both sides (the runner does not read them).
py() { env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$VENV/bin/python" "$@"; }

{
    echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
    py - <<'PY'
import sys, implicit, numpy, scipy, threadpoolctl
blas = [(p.get("internal_api"), p.get("version"), p.get("num_threads")) for p in threadpoolctl.threadpool_info() if p.get("user_api") == "blas"]
print(f"# python {sys.version.split()[0]}, implicit {implicit.__version__}, numpy {numpy.__version__}, scipy {scipy.__version__}, BLAS {blas}")
PY
    echo "# runner $("$RUNNER" --version 2>/dev/null || echo '?') at $(git -C "$root" rev-parse --short HEAD)"
} | tee "$WORK/machine-$stamp.txt"

for b in "${benches[@]}"; do
    py "$here/bench.py" "$b" --runner "$RUNNER" --python "$VENV/bin/python" --work "$WORK/$b" --data-dir "$DATA_DIR" --out "$out" \
        --rounds "$([ "$b" = synthetic ] && echo "${SYN_ROUNDS:-2}" || echo "$ROUNDS")" \
        --synth-als-iters "${SYN_ALS_ITERS:-3}" --synth-bpr-epochs "${SYN_BPR_EPOCHS:-3}"
done
echo "measurements: $out"
py "$here/table.py" "$out"
