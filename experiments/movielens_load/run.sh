#!/usr/bin/env bash
# Issue 30's target: loading a 20M-rating folder in the latest format with movies.csv,
# tags.csv and the tag genome takes at most 1.5x the time and peak memory of loading its
# ratings alone. Generates the folder once (generate.py, ml-20m's sizes), then times the data
# stage of both folders, interleaved, REPS times each (`runner stage --force`, one fresh
# process per load), and prints the table: the stage's seconds and peak resident memory from
# its cache manifest, and the process's maximum RSS from /usr/bin/time.
#
# usage: ./run.sh            env: OUT=$HOME/.cache/movielens_load  REPS=3  RATINGS=20000263
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
OUT="${OUT:-$HOME/.cache/movielens_load}"
REPS="${REPS:-3}"
RATINGS="${RATINGS:-20000263}"
py="${PYTHON:-$HOME/.cache/runner-ci-venv/bin/python}"
if [ ! -f "$OUT/data/full/genome-scores.csv" ] || [ "$(cat "$OUT/data/ratings" 2>/dev/null)" != "$RATINGS" ]; then
  rm -rf "$OUT/data" && mkdir -p "$OUT/data"
  "$py" "$here/generate.py" "$OUT/data/full" --ratings "$RATINGS"
  mkdir -p "$OUT/data/ratings-only"
  ln -s ../full/ratings.csv "$OUT/data/ratings-only/ratings.csv"
  echo "$RATINGS" > "$OUT/data/ratings"
fi
cd "$here/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/runner-ci-target}"
cargo build --release --quiet
bin="$CARGO_TARGET_DIR/release/runner"
for v in ratings-only full; do
  mkdir -p "$OUT/$v"
  cat > "$OUT/$v/c.toml" <<TOML
[experiment]
name = "load-$v"
seeds = [1]
data_dir = "$OUT/data"
cache_dir = "cache"
results_dir = "results"

[dataset]
kind = "movielens"
path = "$v"

[[model]]
kind = "popularity"

[metrics]
k = [10]
metrics = ["recall"]
TOML
  (cd "$OUT/$v" && rm -rf cache results && "$bin" run c.toml --jobs 1 -q >/dev/null)
done
key() { basename "$(dirname "$(ls "$OUT/$1"/cache/data/*/manifest.json)")"; }
declare -A secs peak rss
for r in $(seq "$REPS"); do
  for v in ratings-only full; do
    cd "$OUT/$v"
    /usr/bin/time -f "%M" -o time.txt "$bin" stage --force --key "$(key "$v")" -- c.toml >/dev/null 2>&1
    read -r s p info < <(python3 -c "
import json, glob
m = json.load(open(glob.glob('cache/data/*/manifest.json')[0]))
print(m['seconds'], m['peak_rss_bytes'], m['info']['interactions'])")
    secs[$v]+="$s " peak[$v]+="$p " rss[$v]+="$(tail -1 time.txt) "
    echo "rep $r $v: ${s} s, stage peak $((p / 1048576)) MiB, max RSS $(( $(tail -1 time.txt) / 1024 )) MiB, $info interactions" >&2
  done
done
python3 - "${secs[ratings-only]}" "${secs[full]}" "${peak[ratings-only]}" "${peak[full]}" "${rss[ratings-only]}" "${rss[full]}" <<'PY'
import statistics as st, sys
s0, s1, p0, p1, r0, r1 = ([float(x) for x in a.split()] for a in sys.argv[1:])
med = st.median
print("| data stage | ratings.csv alone | + movies, tags, genome | ratio |")
print("|---|---|---|---|")
print(f"| seconds (median) | {med(s0):.2f} | {med(s1):.2f} | {med(s1) / med(s0):.2f}x |")
print(f"| stage peak RSS (median) | {med(p0) / 2**20:.0f} MiB | {med(p1) / 2**20:.0f} MiB | {med(p1) / med(p0):.2f}x |")
print(f"| process max RSS (median) | {med(r0) / 1024:.0f} MiB | {med(r1) / 1024:.0f} MiB | {med(r1) / med(r0):.2f}x |")
PY
