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

/// A test whose prerequisite is missing says so and returns. Under `CI=true` (`.ci/run`,
/// which installs Chromium, Slurm, gensim and has the shared data) a skip is a failure, so a
/// CI run that skipped cannot look like one that ran. Elsewhere the reason is written to
/// the terminal's stderr directly: the test harness captures only `print!`/`eprint!`, and
/// hides what a passing test printed, so a plain `cargo test` shows every skip.
pub fn skip(test: &str, reason: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test}: {reason}. Under CI=true this is a failure: .ci/run provides it");
    }
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "SKIPPED {test}: {reason}");
}

/// The shared data folder when it holds `rel` (e.g. `ml-100k/u.data`); else the skip is
/// reported for `test` and `None` returned.
pub fn shared_file(test: &str, rel: &str) -> Option<PathBuf> {
    match shared_data() {
        Some(d) if d.join(rel).exists() => Some(d),
        Some(d) => {
            skip(test, &format!("{}/{rel} not found", d.display()));
            None
        }
        None => {
            skip(test, &format!("no data folder with {rel} (set RUNNER_DATA_DIR or put it in ../shared/data)"));
            None
        }
    }
}

/// Deterministic results equal the values they had when pinned (within 1.5e-4 of the value,
/// as the golden tables: another CPU's SIMD kernels may move the last printed digit). Every
/// mismatch is listed at once, with the value to pin.
pub fn assert_pinned(what: &str, pins: &[(&str, f64, f64)]) {
    let off: Vec<String> = pins
        .iter()
        .filter(|(_, got, want)| !((got - want).abs() <= 1.5e-4 * want.abs().max(1.0)))
        .map(|(name, got, want)| format!("{name}: {got:.6} now, pinned {want:.6}"))
        .collect();
    assert!(off.is_empty(), "{what} changed:\n  {}", off.join("\n  "));
}

/// The lines of a Markdown table of `md` (header, rule, rows): the first table, or the one
/// under `## <section>`.
#[allow(dead_code)]
pub fn md_table<'a>(md: &'a str, section: Option<&str>) -> Vec<&'a str> {
    let from = match section {
        None => 0,
        Some(s) => md.find(&format!("\n## {s}\n")).unwrap_or_else(|| panic!("no `## {s}` in {md}")),
    };
    md[from..].lines().skip_while(|l| !l.starts_with('|')).take_while(|l| l.starts_with('|')).collect()
}

/// Runs the `runner` binary in `dir` without the `RUNNER_<SECTION>__<KEY>` overrides of the
/// test's own environment; returns the exit code, stdout and stderr.
pub fn runner(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_runner"));
    // A developer's own tracking server is not the tests' to log to.
    c.args(args).current_dir(dir).env_remove("MLFLOW_TRACKING_URI");
    for (k, _) in std::env::vars() {
        if k.starts_with("RUNNER_") && k.contains("__") {
            c.env_remove(k);
        }
    }
    let o = c.output().unwrap();
    (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stdout).to_string(), String::from_utf8_lossy(&o.stderr).to_string())
}

/// The path and `Range` header of an HTTP request read from `stream` (the local servers of
/// the fetch tests); `None` when the request line cannot be read.
pub fn read_request(stream: &std::net::TcpStream) -> Option<(String, Option<String>)> {
    use std::io::{BufRead, BufReader};
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut request = String::new();
    reader.read_line(&mut request).ok()?;
    let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut range = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("range") {
                range = Some(v.trim().to_string());
            }
        }
    }
    Some((path, range))
}

/// Item ids of `runner recommend` / `similar`'s numbered answer lines (`  1. <id> <score> <title>`).
pub fn answer_ids(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| l.trim_start().split_once(". "))
        .filter(|(n, _)| n.parse::<usize>().is_ok())
        .map(|(_, rest)| rest.split_whitespace().next().unwrap().to_string())
        .collect()
}
