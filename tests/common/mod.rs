//! Helpers shared by the integration tests.
#![allow(dead_code)]

use runner::config::{self, Experiment};
use runner::pipeline::{self, dag, stages::Executor};
use std::path::{Path, PathBuf};

/// Writes `body` as a config file in `dir` and returns its path.
pub fn write_config(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

/// `--set` overrides that keep caches and results inside `dir`.
pub fn sandbox_sets(dir: &Path) -> Vec<String> {
    vec![format!("experiment.cache_dir=\"{}\"", dir.join("cache").display()), format!("experiment.results_dir=\"{}\"", dir.join("results").display())]
}

pub fn load(path: &Path, sets: &[String]) -> Experiment {
    config::load(path, sets).unwrap_or_else(|e| panic!("config should load: {e}"))
}

/// Runs experiments to completion; returns the summary and the report rows as JSON.
pub fn run(exps: Vec<Experiment>, force: bool) -> (dag::Summary, Vec<Vec<serde_json::Value>>) {
    let plan = pipeline::plan(exps).unwrap();
    let exec = Executor::new(&plan, force, false);
    let (summary, errors) = dag::execute(&plan, &exec, 2, &|_| {});
    assert!(errors.is_empty(), "stage errors: {:?}", errors.iter().map(|e| format!("{e:#}")).collect::<Vec<_>>());
    let tables = (0..plan.experiments.len()).map(|i| runner::report::build(&plan.experiments[i], &exec.rows(i).unwrap()).unwrap().json).collect();
    (summary, tables)
}

/// The shared data folder (`RUNNER_DATA_DIR`, else `../shared/data`), when it exists.
pub fn shared_data() -> Option<PathBuf> {
    let p = std::env::var_os("RUNNER_DATA_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("../shared/data"));
    p.exists().then_some(p)
}

pub fn metric(row: &serde_json::Value, col: &str) -> f64 {
    row["metrics"][col].as_f64().unwrap_or_else(|| panic!("no {col} in {row}"))
}
