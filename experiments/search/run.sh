#!/usr/bin/env bash
# Runs both tuning benchmarks of issue 29 and writes results/ (raw JSON lines, every trials.csv,
# machine.txt, summary.md).
# usage: ./run.sh [tpe|asha|asha-extra|asha-extra2|tpe-extra|tpe-mv|hyperband|bohb|seeds|min9|noise|all]   (default all, in that order)
# env: RUNNER_BIN (default $HOME/.cache/search-bench/runner: a release build with the ASHA
#      pruner), VENV (a venv with optuna; default $HOME/.cache/optuna-venv),
#      RUNNER_DATA_DIR (default ../shared/data from the repo root), SEARCH_BENCH_WORK (caches
#      and runner results; default $HOME/.cache/search-bench/work).
# On a shared machine, start it only when no other benchmark runs, e.g.
#   while pgrep -f 'yardsticks/(bench|anchor)|run.sh' >/dev/null; do sleep 30; done; ./run.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
VENV="${VENV:-$HOME/.cache/optuna-venv}"
export RUNNER_BIN="${RUNNER_BIN:-$HOME/.cache/search-bench/runner}"
what="${1:-all}"
py="$VENV/bin/python"
mkdir -p "$here/results"
{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "repo commit: $(git -C "$here" rev-parse --short HEAD)"
    echo "runner: $("$RUNNER_BIN" --version) (${RUNNER_BIN/#$HOME/\$HOME}, sha256 $(sha256sum "$RUNNER_BIN" | cut -c1-16))"
    echo "python: $("$py" --version 2>&1); optuna $("$py" -c 'import optuna; print(optuna.__version__)')"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); nproc $(nproc); $(uname -sr)"
    echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} >>"$here/results/machine.txt"

if [[ "$what" == tpe || "$what" == all ]]; then
    "$py" "$here/tpe_vs_optuna.py" --seeds 1 2 3 4 5 --trials 25 --startup 10 --epochs 5
fi
if [[ "$what" == asha || "$what" == all ]]; then
    "$py" "$here/asha_vs_grid.py" --epochs 27 --trials 90 --seeds 1 2 3 --kinds random tpe
fi
if [[ "$what" == asha-extra || "$what" == all ]]; then
    # Added after the first ASHA runs (README): a first rung at 3 epochs, and 360 trials.
    "$py" "$here/asha_vs_grid.py" --epochs 27 --trials 90 --seeds 1 2 3 --kinds random --min-epochs 3 --suffix=-min3 --skip-grid
    "$py" "$here/asha_vs_grid.py" --epochs 27 --trials 360 --seeds 1 2 3 --kinds random --suffix=-360t --skip-grid
fi
if [[ "$what" == asha-extra2 || "$what" == all ]]; then
    # Both: 360 trials with the first rung at 3 epochs.
    "$py" "$here/asha_vs_grid.py" --epochs 27 --trials 360 --seeds 1 2 3 --kinds random --min-epochs 3 --suffix=-min3-360t --skip-grid
fi
if [[ "$what" == tpe-extra || "$what" == all ]]; then
    # Beyond the issue's 5 seeds: 10 more seeds at the same budget, and a doubled budget.
    "$py" "$here/tpe_vs_optuna.py" --seeds 6 7 8 9 10 11 12 13 14 15 --trials 25 --startup 10 --epochs 5 --tag tpe_vs_optuna_seeds6-15
    "$py" "$here/tpe_vs_optuna.py" --seeds 1 2 3 4 5 --trials 50 --startup 10 --epochs 5 --tag tpe_vs_optuna_50trials
fi
if [[ "$what" == tpe-mv || "$what" == all ]]; then
    # The runner's side with its multivariate TPE (the default since c947659; the runs above
    # were recorded with the univariate one, and Optuna's side does not depend on it).
    "$py" "$here/tpe_vs_optuna.py" --only-ours --seeds $(seq 1 15) --trials 25 --startup 10 --epochs 5 --tag tpe_multivariate
fi
if [[ "$what" == hyperband || "$what" == all ]]; then
    # Hyperband's brackets (f830f7d), random proposals.
    "$py" "$here/asha_vs_grid.py" --epochs 27 --trials 360 --seeds 1 2 3 4 5 --kinds random --pruner hyperband --suffix=-hyperband-360t --skip-grid
fi
if [[ "$what" == bohb || "$what" == all ]]; then
    # TPE with Hyperband, fitted on the deepest well-filled rung (BOHB's rule, cec8fd7/168ad9a).
    "$py" "$here/asha_vs_grid.py" --epochs 27 --trials 360 --seeds 1 2 3 4 5 --kinds tpe --pruner hyperband --suffix=-bohb-hyperband-360t --skip-grid
fi
if [[ "$what" == seeds || "$what" == all ]]; then
    # Session 23: the grid once per training seed 1-3 into one cache, the grid over their mean
    # (`trial_seeds = 3`, all cached), searches scored on the same mean, and searches without a
    # pruner (90 trials: a quarter of the grid) replayed from the grid's cache, on one seed and
    # on the mean of three (a trial's training is the grid's own stage there).
    for s in 1 2 3; do
        "$py" "$here/asha_vs_grid.py" --kinds --seeds --exp-seeds $s --suffix=-seed$s --grid-cache grid-seeds123 --out "$here/results/grid_by_seed.jsonl"
    done
    "$py" "$here/asha_vs_grid.py" --kinds --seeds --exp-seeds 1 2 3 --trial-seeds 3 --grid-cache grid-seeds123 --suffix=-3seeds
    three="--skip-grid --exp-seeds 1 2 3 --trial-seeds 3"
    "$py" "$here/asha_vs_grid.py" $three --pruner hyperband --trials 360 --kinds tpe --seeds 1 2 3 4 5 --suffix=-3seeds-hyperband-360t
    "$py" "$here/asha_vs_grid.py" $three --pruner hyperband --trials 360 --kinds random --seeds 2 3 --suffix=-3seeds-hyperband-360t
    "$py" "$here/asha_vs_grid.py" $three --pruner median --min-epochs 3 --interval 3 --trials 90 --kinds tpe --seeds 1 2 3 4 5 --suffix=-3seeds-median3
    "$py" "$here/asha_vs_grid.py" $three --pruner median --min-epochs 3 --interval 3 --trials 90 --kinds random --seeds 1 2 3 --suffix=-3seeds-median3
    "$py" "$here/asha_vs_grid.py" $three --pruner none --trials 90 --kinds tpe random --seeds 1 2 3 4 5 --search-cache grid-seeds123 --suffix=-3seeds-nopruner-90t
    "$py" "$here/asha_vs_grid.py" --skip-grid --exp-seeds 1 --pruner none --trials 90 --kinds tpe random --seeds 1 2 3 4 5 --search-cache grid-seeds123 --suffix=-nopruner-90t --out "$here/results/grid_cache_searches.jsonl"
    "$py" "$here/seed_mean.py" --n 3 > "$here/results/seed_mean.md"
    "$py" "$here/seed_mean.py" --n 1 --runs nopruner > "$here/results/seed_one_nopruner.md"
fi
if [[ "$what" == min9 || "$what" == all ]]; then
    # Session 24: one ASHA ladder whose first rung is a third of the way (9 of 27 epochs, one
    # promotion), on one training seed (as the issue wrote it) and on the mean of seeds 1-3.
    # A TPE run's first 90 trials are the 90-trial run's (a proposal depends on earlier trials only).
    "$py" "$here/asha_vs_grid.py" --skip-grid --trials 90 --seeds 1 2 3 4 5 --kinds tpe random --min-epochs 9 --suffix=-min9
    "$py" "$here/asha_vs_grid.py" --skip-grid --trials 180 --seeds 1 2 3 4 5 --kinds tpe --min-epochs 9 --suffix=-min9-180t
    "$py" "$here/asha_vs_grid.py" --skip-grid --trials 270 --seeds 1 2 3 4 5 --kinds random --min-epochs 9 --suffix=-min9-270t
    three="--skip-grid --exp-seeds 1 2 3 --trial-seeds 3 --min-epochs 9"
    "$py" "$here/asha_vs_grid.py" $three --trials 180 --kinds tpe --seeds 1 2 3 4 5 --suffix=-3seeds-min9-180t
    "$py" "$here/asha_vs_grid.py" $three --trials 270 --kinds random --seeds 1 --suffix=-3seeds-min9-270t
    "$py" "$here/seed_mean.py" --n 3 --runs min9 > "$here/results/seed_mean_min9.md"
fi
if [[ "$what" == noise || "$what" == all ]]; then
    # The grid's best points and every run's choice, retrained with training seeds 2-5.
    "$py" "$here/grid_noise.py" --top 10 --seeds 1 2 3 4 5
    "$py" "$here/grid_noise.py" --chosen --seeds 1 2 3 4 5
fi
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$here/results/machine.txt"
"$py" "$here/summarize.py" | tee "$here/results/summary.md"
