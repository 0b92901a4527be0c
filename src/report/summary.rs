//! An experiment in one line, for `results/index.html`: its best model and point per main
//! metric (as the paper's metrics table chooses them, [`super::paper`]), read back from its `results.json` (so the list covers every experiment of the
//! folder, not only those of this invocation).

use super::aggregate::mean_std;
use super::latex::{lower_is_better, ranked};
use super::paper::{cut_off, main_metric};
use serde_json::Value;
use std::collections::BTreeMap;

/// The best row of one metric column.
#[derive(Debug, Clone, PartialEq)]
pub struct Best {
    pub column: String,
    pub model: String,
    pub point: String,
    /// Mean over the row's seeds.
    pub value: f64,
}

/// The best (model, point) per main metric of `rows` (the per-seed rows of a
/// `results.json`), by mean over seeds and the metric's direction; failed rows left out.
pub fn best_per_metric(rows: &[Value]) -> Vec<Best> {
    // (model, point) -> column -> values over seeds, in first-appearance order.
    let mut groups: Vec<((String, String), BTreeMap<String, Vec<f64>>)> = Vec::new();
    for r in rows {
        let (Some(model), Some(metrics)) = (r["model"].as_str(), r["metrics"].as_object()) else { continue };
        let point = r["point_name"].as_str().or(r["point"].as_str()).unwrap_or("").to_string();
        let key = (model.to_string(), point);
        let i = match groups.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                groups.push((key, BTreeMap::new()));
                groups.len() - 1
            }
        };
        for (c, v) in metrics {
            if let Some(v) = v.as_f64().filter(|v| v.is_finite()) {
                groups[i].1.entry(c.clone()).or_default().push(v);
            }
        }
    }
    let columns: Vec<String> = {
        let mut cs: Vec<String> = groups.iter().flat_map(|(_, m)| m.keys().cloned()).collect();
        cs.sort();
        cs.dedup();
        cs
    };
    let min_k = columns.iter().filter_map(|c| cut_off(c).map(|(_, k)| k)).min();
    let mut out = Vec::new();
    for c in columns.iter().filter(|c| main_metric(c, min_k) && ranked(c)) {
        let best = groups.iter().filter_map(|((m, p), vals)| Some((m, p, mean_std(vals.get(c)?).0))).max_by(|a, b| {
            if lower_is_better(c) {
                b.2.total_cmp(&a.2)
            } else {
                a.2.total_cmp(&b.2)
            }
        });
        if let Some((m, p, v)) = best {
            out.push(Best { column: c.clone(), model: m.clone(), point: p.clone(), value: v });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_best_mean_over_seeds_per_main_metric_by_its_direction() {
        let row = |m: &str, p: &str, r10: f64, r20: f64, gini: f64| json!({"model": m, "point_name": p, "metrics": {"Recall@10": r10, "Recall@20": r20, "Gini@10": gini, "sim p50": 0.9}});
        let rows = vec![
            row("a", "base", 0.30, 0.5, 0.9),
            row("a", "base", 0.10, 0.5, 0.9),
            row("b", "window=5", 0.25, 0.4, 0.2),
            row("b", "window=5", 0.25, 0.4, 0.4),
            json!({"model": "c", "point": "base", "status": "failed", "metrics": {}}),
        ];
        let best = best_per_metric(&rows);
        let cols: Vec<&str> = best.iter().map(|b| b.column.as_str()).collect();
        assert_eq!(cols, ["Gini@10", "Recall@10"], "smallest cut-off only, no distribution statistics");
        // Recall@10: a's mean 0.20 < b's 0.25; Gini (lower is better): b's 0.3.
        assert_eq!((best[1].model.as_str(), best[1].point.as_str()), ("b", "window=5"));
        assert!((best[1].value - 0.25).abs() < 1e-12);
        assert_eq!(best[0].model, "b");
        assert!((best[0].value - 0.3).abs() < 1e-12);
    }
}
