//! The figures of an experiment's report, one file per kind, each drawn only when the table
//! calls for it: ranking quality against the cut-off ([`cutoff`]), sweeps ([`sweep`]), the
//! per-user spread ([`per_user`]), training curves ([`training`]), similarity histograms and
//! item maps ([`maps`]). The Pareto plots of approximate indexes are [`super::pareto`]'s.
//! Every figure titles both axes and keeps its legend off the data.

pub mod cutoff;
pub mod maps;
pub mod per_user;
pub mod sweep;
pub mod training;

use super::{Row, Table};
use crate::config::Experiment;
use crate::eval::PerUser;
use anyhow::Result;
use std::path::{Path, PathBuf};

/// Every figure of experiment `exp` whose table is `t` and rows `rows` (in the table's
/// order), written into `dir`; returns their paths in reading order.
pub fn write_all(exp: &Experiment, t: &Table, rows: &[Row], dir: &Path) -> Result<Vec<PathBuf>> {
    let per_user: Vec<Option<&PerUser>> = rows.iter().map(|r| r.per_user.as_deref()).collect();
    // The figures name models and swept keys as the paper tables do (`[report] labels`).
    let labels = &exp.report.labels;
    let relabelled;
    let t = if labels.is_empty() {
        t
    } else {
        relabelled = relabel(t, labels);
        &relabelled
    };
    let baseline = exp.report.baseline.as_deref().map(|b| labels.get(b).map_or(b, String::as_str));
    let mut out = write_table(t, &per_user, baseline, dir)?;
    out.extend(maps::write_maps(t, rows, dir)?);
    Ok(out)
}

/// A copy of `t` whose JSON rows carry the display names of `[report] labels`: each model's
/// and each point name's keys (the grouping keys, `point` ids, stay as they are).
fn relabel(t: &Table, labels: &std::collections::BTreeMap<String, String>) -> Table {
    let mut out = t.clone();
    for r in &mut out.json {
        if let Some(l) = r["model"].as_str().and_then(|m| labels.get(m)) {
            r["model"] = serde_json::json!(l);
        }
        if let Some(p) = r["point_name"].as_str() {
            r["point_name"] = serde_json::json!(super::paper::point_label(labels, p));
        }
    }
    out
}

/// The figures drawn from the table alone (and the rows' per-user values, `per_user[i]` of
/// JSON row `i`); `baseline` is `[report] baseline`.
pub fn write_table(t: &Table, per_user: &[Option<&PerUser>], baseline: Option<&str>, dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = cutoff::write(t, dir)?.into_iter().collect();
    out.extend(sweep::write(t, baseline, dir)?);
    out.extend(per_user::write(t, per_user, dir)?);
    out.extend(training::write(t, dir)?);
    out.extend(maps::write_similarity(t, dir)?);
    Ok(out)
}

/// The per-user column the report's box plot needs from experiment `exp`'s evaluations (the
/// pipeline loads only it when no paired test needs them all); `None` when it draws none.
pub fn per_user_column(exp: &Experiment) -> Option<String> {
    let run = exp.runs.first()?;
    if !run.metrics.task.has("retrieval") {
        return None;
    }
    let cols: Vec<String> = run.metrics.metrics.iter().flat_map(|&m| run.metrics.k.iter().map(move |&k| crate::metrics::column(m, k))).collect();
    per_user::column(cols.iter().map(String::as_str))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::plots::svg;
    use serde_json::json;

    /// A table that calls for every table figure: two cut-offs, a two-key sweep over two
    /// seeds beside popularity, epochs, similarity histograms and per-user values.
    fn sample() -> (Table, Vec<PerUser>) {
        let mut json = Vec::new();
        let mut pus = Vec::new();
        for seed in [1u64, 2] {
            for (w, n) in [(2, 5), (4, 5), (2, 10), (4, 10)] {
                let m = 0.02 * w as f64 + 0.001 * n as f64 + 0.003 * seed as f64;
                json.push(json!({
                    "model": "item2vec", "point": format!("p{w}{n}"), "point_name": format!("window={w},negatives={n}"), "seed": seed,
                    "config": {"model.window": w.to_string(), "model.negatives": n.to_string()},
                    "metrics": {"Recall@10": m, "Recall@20": 1.5 * m, "NDCG@10": 0.8 * m, "NDCG@20": m},
                    "epochs": [{"epoch": 1, "loss": 3.0, "valid_NDCG@10": 0.05}, {"epoch": 2, "loss": 2.0 + 0.01 * seed as f64, "valid_NDCG@10": 0.07}],
                    "series": {"similarity histogram": [0.0, 1.0, 3.0, 1.0]},
                }));
                pus.push(PerUser { columns: [("NDCG@10".to_string(), (0..20).map(|u| 0.01 * u as f64 + m).collect())].into(), ..Default::default() });
            }
            json.push(json!({
                "model": "popularity", "point": "base", "point_name": "base", "seed": seed,
                "config": {"model.window": "-", "model.negatives": "-"},
                "metrics": {"Recall@10": 0.05, "Recall@20": 0.08, "NDCG@10": 0.04, "NDCG@20": 0.05}, "epochs": [],
            }));
            pus.push(PerUser { columns: [("NDCG@10".to_string(), vec![0.0, 0.0, 0.1, 0.3])].into(), ..Default::default() });
        }
        let metric_cols = ["Recall@10", "Recall@20", "NDCG@10", "NDCG@20"].map(String::from).to_vec();
        (Table { title: "sample".into(), json, metric_cols, ..Default::default() }, pus)
    }

    #[test]
    fn every_figure_of_a_sample_table_titles_both_axes() {
        let d = tempfile::tempdir().unwrap();
        let (t, pus) = sample();
        let refs: Vec<Option<&PerUser>> = pus.iter().map(Some).collect();
        let written = write_table(&t, &refs, Some("popularity"), d.path()).unwrap();
        let names: Vec<String> = written.iter().map(|p| p.file_name().unwrap().to_string_lossy().to_string()).collect();
        assert_eq!(
            names,
            [
                "metric-vs-k.svg",
                "Recall_10-vs-model.negatives.svg",
                "Recall_10-vs-model.window.svg",
                "heatmap-model.negatives-model.window.svg",
                "per-user-NDCG_10.svg",
                "loss.svg",
                "similarity.svg"
            ]
        );
        // Every SVG in the folder, not only those the list names.
        let mut seen = 0;
        for e in std::fs::read_dir(d.path()).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            assert!(!name.contains("tmp"), "no temporary file left: {name}");
            let s = std::fs::read_to_string(&p).unwrap();
            assert!(s.starts_with("<svg") && s.trim_end().ends_with("</svg>"), "{name}");
            assert!(!s.contains("<image") && !s.contains("href="), "{name} is self-contained");
            let (x, y) = svg::axis_titles(&s);
            assert!(!x.is_empty(), "{name}: no x-axis title");
            assert!(!y.is_empty(), "{name}: no y-axis title");
            seen += 1;
        }
        assert_eq!(seen, names.len());
        // To look at them: KEEP_FIGURES=<folder> cargo test --release --lib figures.
        if let Ok(keep) = std::env::var("KEEP_FIGURES") {
            std::fs::create_dir_all(&keep).unwrap();
            for n in &names {
                std::fs::copy(d.path().join(n), Path::new(&keep).join(n)).unwrap();
            }
        }
        // Deterministic: the same table draws the same bytes.
        let d2 = tempfile::tempdir().unwrap();
        write_table(&t, &refs, Some("popularity"), d2.path()).unwrap();
        for n in &names {
            assert_eq!(std::fs::read(d.path().join(n)).unwrap(), std::fs::read(d2.path().join(n)).unwrap(), "{n}");
        }
    }
}
