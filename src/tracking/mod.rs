//! Finished runs, logged where researchers already compare runs: an MLflow tracking server
//! ([`mlflow`], its REST API). One MLflow experiment per runner experiment; one parent run per
//! model and sweep point (or tuned model), one child run per seed with the run's canonical
//! config as params (dotted keys), every table metric, the per-epoch loss, throughput and
//! validation values (`step` = epoch), and tags naming its stage keys. The parents hold the
//! experiment's table and plots as artifacts when the server proxies artifacts, else a tag
//! with the results folder.
//!
//! Everything is read from what `runner run` wrote (`results.json`) and the plan (params,
//! stage keys), so `runner run` and a later `runner track results/<experiment>` log the same
//! way. Logging is idempotent: a child is tagged with its eval stage's key and a run already
//! logged is not logged again.

pub mod mlflow;
pub mod trials;

use crate::config::{Experiment, RunSpec, TrackingSection};
use crate::pipeline::Plan;
use anyhow::{Context, Result};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// The tracking server: `--track`, else `[tracking] mlflow`, else `MLFLOW_TRACKING_URI`.
pub fn uri(flag: Option<&str>, section: &TrackingSection) -> Option<String> {
    flag.map(str::to_string).or_else(|| section.mlflow.clone()).or_else(|| std::env::var("MLFLOW_TRACKING_URI").ok()).filter(|u| !u.trim().is_empty())
}

/// What one experiment's logging did.
#[derive(Debug, Default, PartialEq)]
pub struct Logged {
    /// Child runs created now.
    pub created: usize,
    /// Runs the server had already (same eval key).
    pub already: usize,
    /// Search trials logged now (children of their tuned model's parent).
    pub trials: usize,
    /// Files uploaded as artifacts.
    pub artifacts: usize,
}

/// A metric or parameter name MLflow accepts (letters, digits, `_ - . / ` and spaces):
/// `Recall@10` is logged as `Recall_at_10`, any other character as `_`.
pub fn metric_key(name: &str) -> String {
    name.replace('@', "_at_").chars().map(|c| if c.is_alphanumeric() || "_-./ ".contains(c) { c } else { '_' }).collect()
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// The table's metrics and timings of one `results.json` row, and its per-epoch values.
fn row_metrics(row: &Value, ts: i64) -> Vec<mlflow::Metric> {
    let mut out = Vec::new();
    let mut push = |key: String, value: f64, step: u64| {
        if value.is_finite() {
            out.push(mlflow::Metric { key, value, step, timestamp: ts });
        }
    };
    for (k, v) in row["metrics"].as_object().into_iter().flatten() {
        if let Some(x) = v.as_f64() {
            push(metric_key(k), x, 0);
        }
    }
    for k in ["train_seconds", "index_seconds", "index_bytes"] {
        if let Some(x) = row[k].as_f64() {
            push(k.to_string(), x, 0);
        }
    }
    for e in row["epochs"].as_array().into_iter().flatten() {
        let step = e["epoch"].as_u64().unwrap_or(0);
        for (k, v) in e.as_object().into_iter().flatten() {
            let key = match k.as_str() {
                "epoch" => continue,
                "seconds" => "epoch_seconds".to_string(),
                other => metric_key(other),
            };
            if let Some(x) = v.as_f64() {
                push(key, x, step);
            }
        }
    }
    out
}

/// The git commit of the folder holding the config, when it is in a repository.
fn git_commit(config: &Path) -> Option<String> {
    let dir = config.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let out = std::process::Command::new("git").arg("-C").arg(dir).args(["rev-parse", "HEAD"]).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string()).filter(|s| !s.is_empty())
}

/// The experiment's table files and plots in `dir` (name, bytes), for the parents' artifacts.
fn result_files(dir: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| ["md", "csv", "json", "tex", "svg", "html"].contains(&x.to_str().unwrap_or(""))))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("file").to_string();
            Ok((name, std::fs::read(p).with_context(|| format!("reading {}", p.display()))?))
        })
        .collect()
}

/// What `runner run` wrote to a results folder that tracking logs: the table's rows
/// (`results.json`) and the search trials (`trials.csv`).
pub struct Results {
    rows: Vec<Value>,
    trials: Vec<trials::TrialRow>,
}

/// Reads `dir`'s results, before anything is sent: a damaged file is the folder's fault, not
/// the server's, and nothing of the experiment gets logged.
pub fn read_results(dir: &Path) -> Result<Results> {
    let table = dir.join("results.json");
    let text = std::fs::read_to_string(&table).with_context(|| format!("reading {}", table.display()))?;
    let rows: Vec<Value> = serde_json::from_str(&text).with_context(|| format!("reading {}", table.display()))?;
    Ok(Results { rows, trials: trials::read(dir)? })
}

/// Logs experiment `ei` of `plan`, whose `results` ([`read_results`]) `runner run` wrote to
/// `dir`, to the MLflow server at `uri`.
pub fn log_experiment(plan: &Plan, ei: usize, dir: &Path, results: &Results, uri: &str) -> Result<Logged> {
    let exp = &plan.experiments[ei];
    let rows = &results.rows;
    let client = mlflow::Client::new(uri)?;
    let exp_id = client.experiment(&exp.section.name)?;
    let commit = git_commit(&exp.file);
    let mut logged = Logged::default();
    let mut parents: BTreeMap<String, (mlflow::Run, bool)> = BTreeMap::new();
    for (ri, run) in exp.runs.iter().enumerate() {
        let keys = &plan.run_keys[ei][ri];
        let Some(row) = rows.iter().find(|r| r["eval_key"] == keys.eval.as_str()) else { continue };
        // Logged and finished: nothing to do. A failed run (the stage failed then; failures
        // are not cached, so it ran again) is replaced by this one.
        let found = client.find(&exp_id, "runner.eval_key", &keys.eval)?;
        if found.iter().any(|r| r.status == "FINISHED") {
            logged.already += 1;
            continue;
        }
        for r in &found {
            client.delete(&r.id)?;
        }
        let (up, grew) = parent(&client, &exp_id, exp, run, &mut parents)?;
        *grew = true;
        let group = format!("{} [{}]", run.model.name, run.point_name);
        let failed = row["status"].as_str() == Some("failed");
        let mut tags = vec![
            ("mlflow.parentRunId".to_string(), up.id.clone()),
            ("runner.train_key".to_string(), keys.train.clone()),
            ("runner.index_key".to_string(), keys.index.clone()),
            ("runner.split_key".to_string(), keys.split.clone()),
            ("runner.data_key".to_string(), keys.data.clone()),
            ("runner.version".to_string(), env!("CARGO_PKG_VERSION").to_string()),
            ("runner.config".to_string(), exp.file.display().to_string()),
            ("runner.results".to_string(), dir.display().to_string()),
        ];
        tags.extend(commit.iter().map(|c| ("runner.git_commit".to_string(), c.clone())));
        if let Some(e) = row["error"].as_str() {
            tags.push(("runner.error".to_string(), clip(e)));
        }
        let ts = now_ms();
        let child = client.create(&exp_id, &format!("{group} seed {}", run.seed), &tags, ts)?;
        let mut params: Vec<(String, String)> = run.flat.iter().map(|(k, v)| (metric_key(k), clip(v))).collect();
        params.push(("seed".to_string(), run.seed.to_string()));
        // The eval key goes last: a child whose logging broke off is not taken for a logged one.
        client.log(&child.id, &row_metrics(row, ts), &params, &[("runner.eval_key".to_string(), keys.eval.clone())])?;
        client.finish(&child.id, failed, now_ms())?;
        logged.created += 1;
    }
    // A search's trials, under the parent of the model they tuned.
    {
        // A search's label is the model's name, or `<model>-<sweep point id>` under a sweep,
        // whose tuned runs are point `tuned-<sweep point id>`.
        let mut parent_of = |model: &str, search: &str| -> Result<Option<String>> {
            let point = match search.strip_prefix(model).and_then(|rest| rest.strip_prefix('-')) {
                Some(id) => format!("tuned-{id}"),
                None => "tuned".to_string(),
            };
            let Some(run) = exp.runs.iter().find(|r| r.model.name == model && r.tuned.is_some() && r.point_id == point) else { return Ok(None) };
            Ok(Some(parent(&client, &exp_id, exp, run, &mut parents)?.0.id.clone()))
        };
        logged.trials = trials::log(&client, &exp_id, &results.trials, &mut parent_of)?.0;
    }
    // The table and plots, read once, on each parent that gained runs.
    let grown: Vec<&mlflow::Run> = parents.values().filter(|(_, grew)| *grew).map(|(p, _)| p).collect();
    let files = if grown.is_empty() { Vec::new() } else { result_files(dir)? };
    for parent in grown {
        let mut proxied = true;
        for (name, bytes) in &files {
            if !client.upload(parent, name, bytes)? {
                proxied = false;
                break;
            }
            logged.artifacts += 1;
        }
        if !proxied {
            client.log(&parent.id, &[], &[], &[("runner.results".to_string(), dir.display().to_string())])?;
        }
    }
    Ok(logged)
}

/// The parent run of `run`'s model and point (found by its tag, else created with the point's
/// params), and whether it gained runs in this pass.
fn parent<'p>(
    client: &mlflow::Client,
    exp_id: &str,
    exp: &Experiment,
    run: &RunSpec,
    parents: &'p mut BTreeMap<String, (mlflow::Run, bool)>,
) -> Result<&'p mut (mlflow::Run, bool)> {
    let group_tag = format!("{}/{}", run.model.name, run.point_id);
    if !parents.contains_key(&group_tag) {
        let p = match client.find(exp_id, "runner.point", &group_tag)?.into_iter().next() {
            Some(p) => p,
            None => {
                let tags = vec![("runner.config".to_string(), exp.file.display().to_string())];
                let p = client.create(exp_id, &format!("{} [{}]", run.model.name, run.point_name), &tags, now_ms())?;
                let params: Vec<(String, String)> = run.flat.iter().map(|(k, v)| (metric_key(k), clip(v))).collect();
                client.log(&p.id, &[], &params, &[("runner.point".to_string(), group_tag.clone())])?;
                client.finish(&p.id, false, now_ms())?;
                p
            }
        };
        parents.insert(group_tag.clone(), (p, false));
    }
    Ok(parents.get_mut(&group_tag).expect("inserted above"))
}

/// A parameter value MLflow accepts (at most 6000 characters).
pub(crate) fn clip(v: &str) -> String {
    if v.len() <= mlflow::MAX_PARAM_VALUE {
        return v.to_string();
    }
    let mut end = mlflow::MAX_PARAM_VALUE - 3;
    while !v.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &v[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names_and_rows_become_mlflow_metrics() {
        assert_eq!(metric_key("Recall@10"), "Recall_at_10");
        assert_eq!(metric_key("HR@10 (100 neg)"), "HR_at_10 _100 neg_");
        let row = serde_json::json!({
            "metrics": {"Recall@10": 0.25, "NDCG@10": null},
            "train_seconds": 1.5,
            "epochs": [{"epoch": 1, "loss": 0.7, "seconds": 2.0, "throughput": 10.0, "valid_recall@10": 0.1}, {"epoch": 2, "loss": 0.5, "seconds": 2.0, "throughput": 11.0}],
        });
        let m = row_metrics(&row, 7);
        let get = |k: &str, step: u64| m.iter().find(|x| x.key == k && x.step == step).map(|x| x.value);
        assert_eq!(get("Recall_at_10", 0), Some(0.25));
        assert_eq!(get("NDCG_at_10", 0), None, "a missing number is not logged as one");
        assert_eq!(get("train_seconds", 0), Some(1.5));
        assert_eq!((get("loss", 1), get("loss", 2)), (Some(0.7), Some(0.5)));
        assert_eq!(get("valid_recall_at_10", 1), Some(0.1));
        assert_eq!(get("epoch_seconds", 2), Some(2.0));
        assert_eq!(m.len(), 2 + 4 + 3);
        assert_eq!(clip(&"é".repeat(4000)).len(), 5999);
    }
}
