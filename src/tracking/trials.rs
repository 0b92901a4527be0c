//! A search's trials (`trials.csv`, written by `crate::search`) as child runs of the tuned
//! model's parent: the searched values as params, the validation objective, epochs and
//! training seconds as metrics, the trial's status (`chosen`, `ok`, `pruned`, `failed`) as a
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
        rows.push(TrialRow {
            model: get(Some(model)),
            search: get(at("search")),
            trial: get(Some(trial)),
            point: get(Some(point)),
            values,
            metrics,
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
        let metrics: Vec<Metric> = t.metrics.iter().map(|(k, v)| Metric { key: k.clone(), value: *v, step: 0, timestamp: ts }).collect();
        let mut params: Vec<(String, String)> = t.values.iter().map(|(k, v)| (metric_key(k), v.clone())).collect();
        params.push(("trial".to_string(), t.trial.clone()));
        // The trial's id goes last: a trial whose logging broke off is logged again.
        client.log(&run.id, &metrics, &params, &[("runner.trial".to_string(), id)])?;
        client.finish(&run.id, t.status == "failed", now_ms())?;
        created += 1;
    }
    Ok((created, already))
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
}
