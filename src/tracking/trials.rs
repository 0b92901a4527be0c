//! A search's trials (`trials.csv`, written by `crate::search`) as child runs of the tuned
//! model's parent: the searched values as params, the validation objective (with a pruner
//! its value at every rung, `step` = epochs), epochs and training seconds as metrics, the
//! trial's status (`chosen`, `ok`, `pruned`, `failed`) as a
//! tag. A trial is tagged with its search, number and point, so it is logged once.

use super::mlflow::{Client, Metric};
use super::{clip, metric_key, now_ms};
use anyhow::{Context, Result};
use std::path::Path;

/// One row of `trials.csv`.
#[derive(Debug, PartialEq)]
pub struct TrialRow {
    pub model: String,
    /// The search's label under a sweep of the searched model (empty otherwise).
    pub search: String,
    pub trial: String,
    pub point: String,
    /// Searched key -> value.
    pub values: Vec<(String, String)>,
    /// Metric name -> value (the objective, epochs, training seconds).
    pub metrics: Vec<(String, f64)>,
    /// With a pruner, the objective at each rung (`trials.csv`'s `rungs`): (epochs, value),
    /// logged as the objective's history with `step` = epochs.
    pub rungs: Vec<(u64, f64)>,
    pub status: String,
    pub error: String,
}

/// The trials in `dir/trials.csv`; none when the experiment has no search.
pub fn read(dir: &Path) -> Result<Vec<TrialRow>> {
    let path = dir.join("trials.csv");
    if !path.exists() {
        return Ok(Vec::new());
    }
    let mut r = csv::Reader::from_path(&path).with_context(|| format!("reading {}", path.display()))?;
    let header: Vec<String> = r.headers()?.iter().map(str::to_string).collect();
    let at = |name: &str| header.iter().position(|h| h == name);
    let (Some(model), Some(trial), Some(point), Some(status)) = (at("model"), at("trial"), at("point"), at("status")) else {
        anyhow::bail!("{}: not a trials table (its header is {})", path.display(), header.join(","));
    };
    let first_metric = header.iter().position(|h| h.starts_with("valid ")).unwrap_or(header.len());
    let mut rows = Vec::new();
    for rec in r.records() {
        let rec = rec.with_context(|| format!("reading {}", path.display()))?;
        let get = |i: Option<usize>| i.and_then(|i| rec.get(i)).unwrap_or("").to_string();
        let values = (point + 1..first_metric).map(|i| (header[i].clone(), get(Some(i)))).filter(|(_, v)| !v.is_empty()).collect();
        let metrics = header
            .iter()
            .enumerate()
            .filter(|(_, h)| h.starts_with("valid ") || *h == "epochs" || *h == "train_s")
            .filter_map(|(i, h)| get(Some(i)).parse::<f64>().ok().map(|v| (metric_key(h), v)))
            .collect();
        let cell = get(at("rungs"));
        let rungs = cell
            .split_whitespace()
            .map(|p| p.split_once(':').and_then(|(e, v)| Some((e.parse::<u64>().ok()?, v.parse::<f64>().ok()?))))
            .collect::<Option<Vec<_>>>()
            .with_context(|| {
                let line = rec.position().map_or(0, |p| p.line());
                format!("{}:{line}: column `rungs` holds `{cell}`, not `epochs:score` pairs (rerun the search to rewrite the file)", path.display())
            })?;
        rows.push(TrialRow {
            model: get(Some(model)),
            search: get(at("search")),
            trial: get(Some(trial)),
            point: get(Some(point)),
            values,
            metrics,
            rungs,
            status: get(Some(status)),
            error: get(at("error")),
        });
    }
    Ok(rows)
}

/// Logs the trials not yet logged as children of `parent_of(model)`; returns how many were
/// created and how many the server had.
pub fn log(client: &Client, exp_id: &str, rows: &[TrialRow], parent_of: &mut dyn FnMut(&str, &str) -> Result<Option<String>>) -> Result<(usize, usize)> {
    let (mut created, mut already) = (0, 0);
    for t in rows {
        let id = format!("{}/{}/{}/{}", t.model, t.search, t.trial, t.point);
        let status = ("runner.trial_status".to_string(), t.status.clone());
        if let Some(found) = client.find(exp_id, "runner.trial", &id)?.into_iter().next() {
            // A resumed search may have chosen another trial since.
            client.log(&found.id, &[], &[], &[status])?;
            already += 1;
            continue;
        }
        let Some(parent) = parent_of(&t.model, &t.search)? else { continue };
        let mut tags = vec![("mlflow.parentRunId".to_string(), parent), status];
        if !t.error.is_empty() {
            tags.push(("runner.error".to_string(), clip(&t.error)));
        }
        let ts = now_ms();
        let name = format!("{} trial {}{}", t.model, t.trial, if t.search.is_empty() { String::new() } else { format!(" ({})", t.search) });
        let run = client.create(exp_id, &name, &tags, ts)?;
        let metrics = metrics(t, ts);
        let mut params: Vec<(String, String)> = t.values.iter().map(|(k, v)| (metric_key(k), v.clone())).collect();
        params.push(("trial".to_string(), t.trial.clone()));
        // The trial's id goes last: a trial whose logging broke off is logged again.
        client.log(&run.id, &metrics, &params, &[("runner.trial".to_string(), id)])?;
        client.finish(&run.id, t.status == "failed", now_ms())?;
        created += 1;
    }
    Ok((created, already))
}

/// A trial's metrics at step 0, except the objective of a pruned search: its score at each
/// rung with `step` = epochs, so MLflow draws the trial's learning curve and its latest value
/// (the highest step) is the objective.
fn metrics(t: &TrialRow, ts: i64) -> Vec<Metric> {
    let mut out = Vec::new();
    for (k, v) in &t.metrics {
        if k.starts_with("valid ") && !t.rungs.is_empty() {
            out.extend(t.rungs.iter().map(|&(step, value)| Metric { key: k.clone(), value, step, timestamp: ts }));
        } else {
            out.push(Metric { key: k.clone(), value: *v, step: 0, timestamp: ts });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trials_table_reads_back() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("trials.csv"),
            "model,trial,point,model.dim,model.window,valid NDCG@10,train_s,status,error\n\
             item2vec,0,ab12,16,3,0.125,0.500,ok,\n\
             item2vec,1,cd34,32,,,0.100,failed,\"diverged, lower lr\"\n",
        )
        .unwrap();
        let rows = read(d.path()).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].values, [("model.dim".to_string(), "16".to_string()), ("model.window".to_string(), "3".to_string())]);
        assert_eq!(rows[0].metrics, [("valid NDCG_at_10".to_string(), 0.125), ("train_s".to_string(), 0.5)]);
        assert_eq!((rows[1].status.as_str(), rows[1].error.as_str(), rows[1].metrics.len()), ("failed", "diverged, lower lr", 1));
        assert!(read(&d.path().join("none")).unwrap().is_empty());
    }

    #[test]
    fn a_pruned_searchs_rungs_become_the_objectives_history() {
        let d = tempfile::tempdir().unwrap();
        let header = "model,trial,point,model.lr,valid NDCG@10,epochs,rungs,train_s,status,error\n";
        std::fs::write(
            d.path().join("trials.csv"),
            format!("{header}item2vec,0,ab12,0.1,0.3,9,1:0.1 3:0.2 9:0.3,1.0,chosen,\nitem2vec,1,cd34,0.01,0.05,1,1:0.05,0.1,pruned,\n"),
        )
        .unwrap();
        let rows = read(d.path()).unwrap();
        assert_eq!(rows[0].rungs, [(1, 0.1), (3, 0.2), (9, 0.3)]);
        let m = metrics(&rows[0], 7);
        let objective: Vec<(u64, f64)> = m.iter().filter(|m| m.key == "valid NDCG_at_10").map(|m| (m.step, m.value)).collect();
        assert_eq!(objective, rows[0].rungs, "one value per rung, at step = epochs");
        assert!(m.iter().filter(|m| m.key != "valid NDCG_at_10").all(|m| m.step == 0) && m.iter().any(|m| m.key == "epochs" && m.value == 9.0));
        let pruned = metrics(&rows[1], 7);
        assert_eq!(pruned.iter().filter(|m| m.key == "valid NDCG_at_10").map(|m| (m.step, m.value)).collect::<Vec<_>>(), [(1, 0.05)]);

        std::fs::write(d.path().join("trials.csv"), format!("{header}item2vec,0,ab12,0.1,0.3,9,1:0.1 three:0.2,1.0,chosen,\n")).unwrap();
        let err = format!("{:#}", read(d.path()).unwrap_err());
        assert!(err.contains("trials.csv:2: column `rungs` holds `1:0.1 three:0.2`"), "{err}");
    }
}
