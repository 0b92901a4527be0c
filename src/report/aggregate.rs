//! Paper-style rows: with several seeds, one row per model x sweep point whose metric cells
//! read `mean ± std` over the seeds (sample standard deviation; `mean` alone for one seed),
//! timings their mean. The per-seed rows stay in `results.csv` / `results.json`; the terminal,
//! Markdown and LaTeX tables show these.

use super::Table;
use serde_json::{json, Value};

/// Mean and sample standard deviation (0 for fewer than two values).
pub fn mean_std(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    if xs.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let mean = xs.iter().sum::<f64>() / n;
    let var = if xs.len() < 2 { 0.0 } else { xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0) };
    (mean, var.sqrt())
}

/// Decimal places of a printed number (`0.1234` -> 4).
fn decimals(cell: &str) -> usize {
    cell.split_once('.').map_or(0, |(_, f)| f.len())
}

/// The table with one row per (model, point), or `None` when no row has a second seed.
pub fn by_seed(t: &Table) -> Option<Table> {
    let col = |name: &str| t.header.iter().position(|h| h == name);
    let (model, point, seed) = (col("model")?, col("point")?, col("seed")?);
    let status = col("status");
    // Groups in first-appearance order.
    let mut groups: Vec<((String, String), Vec<usize>)> = Vec::new();
    for (i, r) in t.rows.iter().enumerate() {
        let key = (r[model].clone(), r[point].clone());
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push(i),
            None => groups.push((key, vec![i])),
        }
    }
    if groups.iter().all(|(_, v)| v.len() < 2) {
        return None;
    }
    let mut header = t.header.clone();
    header[seed] = "seeds".into();
    let mut rows = Vec::new();
    let mut json_rows = Vec::new();
    for ((m, p), members) in &groups {
        let ok: Vec<usize> = members.iter().copied().filter(|&i| status.is_none_or(|s| t.rows[i][s] != "FAILED")).collect();
        let mut row = Vec::with_capacity(header.len());
        let mut metrics = serde_json::Map::new();
        for (c, name) in t.header.iter().enumerate() {
            let cell = if c == seed {
                members.iter().map(|&i| t.rows[i][seed].clone()).collect::<Vec<_>>().join(",")
            } else if Some(c) == status {
                let failed = members.len() - ok.len();
                if failed == 0 {
                    // "ok", or why the runs have no numbers.
                    t.rows[members[0]][c].clone()
                } else {
                    format!("{failed} of {} FAILED", members.len())
                }
            } else if c == model || c == point || ok.is_empty() {
                t.rows[members[0]][c].clone()
            } else {
                // Metrics from the unrounded JSON values where the rows carry them.
                let exact = |i: usize| t.json.get(i).and_then(|j| j["metrics"][name.as_str()].as_f64());
                let vals: Option<Vec<f64>> = ok.iter().map(|&i| exact(i).or_else(|| t.rows[i][c].parse::<f64>().ok())).collect();
                match vals {
                    Some(v) if t.metric_cols.contains(name) => {
                        let (mean, std) = mean_std(&v);
                        let d = decimals(&t.rows[ok[0]][c]);
                        metrics.insert(name.clone(), json!({"mean": mean, "std": std, "n": v.len()}));
                        if v.len() > 1 {
                            format!("{mean:.d$} ± {std:.d$}")
                        } else {
                            format!("{mean:.d$}")
                        }
                    }
                    // A config column holds one value per group; timings show their mean.
                    Some(v) if ok.iter().any(|&i| t.rows[i][c] != t.rows[ok[0]][c]) => format!("{:.*}", decimals(&t.rows[ok[0]][c]), mean_std(&v).0),
                    _ => t.rows[ok[0]][c].clone(),
                }
            };
            row.push(cell);
        }
        rows.push(row);
        json_rows.push(json!({"model": m, "point": p, "seeds": members.len(), "ok": ok.len(), "metrics": Value::Object(metrics)}));
    }
    Some(Table { title: t.title.clone(), header, rows, json: json_rows, metric_cols: t.metric_cols.clone(), significant: t.significant.clone() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_sample_std_by_hand() {
        let (m, s) = mean_std(&[1.0, 2.0, 4.0]);
        assert!((m - 7.0 / 3.0).abs() < 1e-12);
        // Sample variance: ((4/3)^2 + (1/3)^2 + (5/3)^2) / 2 = (16 + 1 + 25) / 18 = 7/3.
        assert!((s - (7.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert_eq!(mean_std(&[5.0]), (5.0, 0.0));
    }

    #[test]
    fn groups_seeds_into_mean_std_rows() {
        let row = |m: &str, seed: &str, r: &str, t: &str| vec![m.to_string(), "base".into(), seed.into(), r.into(), t.into()];
        let t = Table {
            title: "x".into(),
            header: ["model", "point", "seed", "Recall@10", "train_s"].map(String::from).to_vec(),
            rows: vec![row("a", "1", "0.1000", "1.00"), row("b", "1", "0.3000", "2.00"), row("a", "2", "0.2000", "3.00"), row("b", "2", "0.3000", "2.00")],
            metric_cols: vec!["Recall@10".into()],
            ..Default::default()
        };
        let a = by_seed(&t).unwrap();
        assert_eq!(a.header[2], "seeds");
        assert_eq!(a.rows.len(), 2);
        assert_eq!(a.rows[0], vec!["a", "base", "1,2", "0.1500 ± 0.0707", "2.00"]);
        assert_eq!(a.rows[1], vec!["b", "base", "1,2", "0.3000 ± 0.0000", "2.00"]);
        assert!((a.json[0]["metrics"]["Recall@10"]["std"].as_f64().unwrap() - 0.005f64.sqrt()).abs() < 1e-9);
        // One seed per row: nothing to aggregate.
        let single = Table { rows: t.rows[..2].to_vec(), ..t.clone() };
        assert!(by_seed(&single).is_none());
    }
}
