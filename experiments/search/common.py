"""Shared helpers: write a runner config, run the runner, read its trials.csv."""

import csv
import json
import os
import subprocess
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
RUNNER = os.environ.get("RUNNER_BIN", str(Path.home() / ".cache/search-bench/runner"))
# Named relative to the repo: the shared data folder next to the checkout.
DATA_DIR = os.environ.get("RUNNER_DATA_DIR", str((REPO / ".." / "shared" / "data").resolve()))
WORK = Path(os.environ.get("SEARCH_BENCH_WORK", str(Path.home() / ".cache/search-bench/work")))
RESULTS = HERE / "results"


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)  # round-trips exactly
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(v)


def config(name, model, search, seeds=(1,)):
    """An ML-100K leave-last-out experiment (training `seeds`, validation held out) with one
    item2vec model (`model`: its keys) and a `[search]` table (`search`: its keys)."""
    lines = [
        "[experiment]",
        f"name = {toml_value(name)}",
        f"seeds = {toml_value(list(seeds))}",
        "",
        "[dataset]",
        'kind = "movielens"',
        'path = "ml-100k"',
        "",
        "[split]",
        'kind = "leave_last_out"',
        "validation = true",
        "",
        "[[model]]",
        'kind = "item2vec"',
    ]
    lines += [f"{k} = {toml_value(v)}" for k, v in model.items()]
    lines += ["", "[search]"]
    lines += [f"{k} = {toml_value(v)}" for k, v in search.items()]
    lines += ["", "[metrics]", "k = [10]", ""]
    return "\n".join(lines)


def run_runner(cfg_text, cfg_path, cache_dir, results_dir):
    """Writes and runs one config; returns (rows of trials.csv, wall seconds)."""
    cfg_path = Path(cfg_path)
    cfg_path.parent.mkdir(parents=True, exist_ok=True)
    cfg_path.write_text(cfg_text)
    t0 = time.perf_counter()
    p = subprocess.run(
        [RUNNER, "run", str(cfg_path), "--set", f"experiment.cache_dir={cache_dir}",
         "--set", f"experiment.results_dir={results_dir}", "--set", f"experiment.data_dir={DATA_DIR}"],
        capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"runner failed on {cfg_path}:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    name = cfg_text.split('name = "', 1)[1].split('"', 1)[0]
    with open(Path(results_dir) / name / "trials.csv") as f:
        rows = list(csv.DictReader(f))
    return rows, wall


def objective(row, col="valid NDCG@10"):
    v = row.get(col, "")
    return float(v) if v not in ("", None) else None


def chosen(rows, col="valid NDCG@10"):
    """The trial the runner chose (status `chosen`)."""
    c = [r for r in rows if r["status"] == "chosen"]
    assert len(c) == 1, rows
    return c[0]


def train_seconds(rows):
    return sum(float(r["train_s"] or 0) for r in rows)


def append_jsonl(path, rec):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps(rec) + "\n")
