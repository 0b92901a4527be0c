//! `runner report` and `runner compare`: tables of finished experiments again from the
//! cache, computing nothing, and two experiments side by side.

use super::ask::replay_searches;
use super::{plan_or_exit, CompareArgs, ReportArgs};
use crate::config::{self, Experiment};
use crate::pipeline::{self, stages::Executor};
use std::path::{Path, PathBuf};

/// Why experiment `ei` cannot be rendered from the cache alone: some evaluation is missing.
fn uncached(exec: &Executor, ei: usize) -> Option<String> {
    let e = &exec.plan.experiments[ei];
    let missing = exec.plan.run_keys[ei].iter().filter(|k| !exec.caches[ei].peek("eval", &k.eval) && exec.failure(&k.eval).is_none()).count();
    (missing > 0)
        .then(|| format!("{missing} of {} evaluations of `{}` are not cached; run `runner run {}` first", e.runs.len(), e.section.name, e.file.display()))
}

/// Loads the experiment a results folder's `run.json` names, writing to that folder (not to
/// the config's `results/<name>`: the folder may have been moved to an archive).
fn experiment_of(dir: &std::path::Path) -> Result<Experiment, String> {
    let f = dir.join("run.json");
    let text = std::fs::read_to_string(&f).map_err(|e| format!("`{}`: {e} (a results folder written by `runner run` holds it)", f.display()))?;
    let spec: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("`{}`: {e}", f.display()))?;
    let cfg = PathBuf::from(spec["config"].as_str().unwrap_or(""));
    let sets: Vec<String> = spec["sets"].as_array().into_iter().flatten().filter_map(|s| s.as_str().map(str::to_string)).collect();
    let mut exp = config::load(&cfg, &sets).map_err(|e| format!("`{}` names a config that no longer loads: {e}", f.display()))?;
    if let Some(name) = dir.file_name().and_then(|n| n.to_str()) {
        exp.section.name = name.to_string();
        exp.section.results_dir = dir.parent().filter(|p| !p.as_os_str().is_empty()).map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    }
    Ok(exp)
}

/// The runs whose stage failed when the folder's table was written: `results.json` keeps
/// each failed row with its eval key and error, and no rerun can cache what failed, so
/// `report` and `compare` show those rows failed, as `run` did, instead of refusing.
fn recall_failures(exec: &Executor, ei: usize, dir: &Path) {
    let Ok(text) = std::fs::read_to_string(dir.join("results.json")) else { return };
    let Ok(serde_json::Value::Array(rows)) = serde_json::from_str::<serde_json::Value>(&text) else { return };
    for r in rows {
        if let (Some("failed"), Some(key), Some(why)) = (r["status"].as_str(), r["eval_key"].as_str(), r["error"].as_str()) {
            if exec.plan.run_keys[ei].iter().any(|k| k.eval == key) && !exec.caches[ei].peek("eval", key) {
                exec.record_failure(key, why.to_string());
            }
        }
    }
}

/// Experiments paired user by user must stand on the same data and split: raw user ids of
/// two datasets name different people.
fn same_users(plan: &pipeline::Plan) -> Result<(), String> {
    let (a, b) = (&plan.experiments[0].section.name, &plan.experiments[1].section.name);
    for what in ["dataset", "split"] {
        let keys = |ei: usize| {
            let mut v: Vec<&String> = plan.run_keys[ei].iter().map(|k| if what == "dataset" { &k.data } else { &k.split }).collect();
            v.sort();
            v.dedup();
            v
        };
        let (ka, kb) = (keys(0), keys(1));
        if ka != kb {
            return Err(format!(
                "`{a}` and `{b}` were evaluated on different {what}s (keys {} and {}): their users cannot be paired; compare experiments on the same [dataset] and [split]",
                ka.iter().map(|k| &k[..k.len().min(12)]).collect::<Vec<_>>().join(", "),
                kb.iter().map(|k| &k[..k.len().min(12)]).collect::<Vec<_>>().join(", ")
            ));
        }
    }
    Ok(())
}

pub(super) fn compare(args: CompareArgs) -> i32 {
    let exps = match (experiment_of(&args.a), experiment_of(&args.b)) {
        (Ok(a), Ok(b)) => vec![a, b],
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let plan = match plan_or_exit(exps) {
        Ok(p) => p,
        Err(code) => return code,
    };
    if let Err(e) = same_users(&plan) {
        eprintln!("error: {e}");
        return 2;
    }
    let exec = Executor::new(&plan, false, false);
    for (ei, dir) in [&args.a, &args.b].into_iter().enumerate() {
        recall_failures(&exec, ei, dir);
    }
    if let Some(e) = (0..2).find_map(|ei| uncached(&exec, ei)) {
        eprintln!("error: {e}");
        return 1;
    }
    let (ra, rb) = match (exec.rows_with(0, true), exec.rows_with(1, true)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e:#}");
            return 1;
        }
    };
    let cols = crate::report::compare::compare(&ra, &rb);
    if cols.is_empty() {
        eprintln!("error: no run of `{}` has a counterpart (same model and seed) in `{}`", plan.experiments[1].section.name, plan.experiments[0].section.name);
        return 1;
    }
    let md = crate::report::compare::to_markdown(&plan.experiments[0], &plan.experiments[1], &cols);
    let out = args.b.join(format!("compare-{}.md", plan.experiments[0].section.name));
    if let Err(e) = crate::interrupt::write_set(&args.b, &[(out.file_name().and_then(|n| n.to_str()).unwrap_or("compare.md"), md.clone())]) {
        eprintln!("error: {e:#}");
        return 1;
    }
    crate::say!("{md}\nwritten to {}", out.display());
    0
}

/// `runner report DIR...`: every experiment folder (one with `run.json`) at or below each DIR.
/// The experiments of the results folders in `dirs` (a folder with `run.json`, or one holding
/// such folders), each with its folder, and the exit code so far (1: a search not replayed);
/// `Err` with the exit code when none can be loaded.
pub(super) fn results_folders(dirs: &[PathBuf]) -> Result<(Vec<Experiment>, Vec<PathBuf>, i32), i32> {
    let mut found = Vec::new();
    for d in dirs {
        if d.join("run.json").is_file() {
            found.push(d.join("run.json"));
        } else if let Ok(entries) = std::fs::read_dir(d) {
            let mut below: Vec<PathBuf> = entries.filter_map(|e| e.ok()).map(|e| e.path().join("run.json")).filter(|p| p.is_file()).collect();
            below.sort();
            found.extend(below);
        }
    }
    if found.is_empty() {
        eprintln!(
            "error: no experiment results (a folder with run.json, written by `runner run`) in {}",
            dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
        );
        return Err(2);
    }
    let mut exps = Vec::new();
    let mut folders: Vec<PathBuf> = Vec::new();
    let mut code = 0;
    for f in &found {
        let dir = f.parent().unwrap_or(Path::new(".")).to_path_buf();
        match experiment_of(&dir) {
            // Its tuned rows come from its search, replayed from the cache; rewriting its
            // tables without them would lose them, so an unfinished search writes nothing.
            Ok(e) if !e.searches.is_empty() => {
                let (e, errors) = replay_searches(e);
                if errors.is_empty() {
                    folders.push(dir);
                    exps.push(e);
                } else {
                    for err in &errors {
                        eprintln!("error: {err:#}");
                    }
                    eprintln!("error: `{}`: its tables are left as they are", e.section.name);
                    code = 1;
                }
            }
            Ok(e) => {
                folders.push(dir);
                exps.push(e);
            }
            Err(e) => {
                eprintln!("error: {e}");
                return Err(2);
            }
        }
    }
    Ok((exps, folders, code))
}

pub(super) fn report_again(args: ReportArgs) -> i32 {
    let (exps, dirs, mut code) = match results_folders(&args.dirs) {
        Ok(x) => x,
        Err(code) => return code,
    };
    if exps.is_empty() {
        return code;
    }
    let plan = match plan_or_exit(exps) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let exec = Executor::new(&plan, false, false);
    for ei in 0..plan.experiments.len() {
        recall_failures(&exec, ei, &dirs[ei]);
        if let Some(e) = uncached(&exec, ei) {
            eprintln!("error: {e}");
            code = 1;
            continue;
        }
        if let Err(e) = exec.write_report(ei) {
            eprintln!("error: {e:#}");
            code = 1;
        }
    }
    code
}
