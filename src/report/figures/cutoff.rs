//! Recall@K and NDCG@K against the cut-off K (`metric-vs-k.svg`), as papers draw them: one
//! panel per metric, one line per configuration through its mean over seeds, a shaded band of
//! ± one standard deviation, the legend beside the panels. Drawn only when the experiment has
//! at least two cut-offs: one K is a point, not a curve.

use crate::report::plots::{self, band, color, dotted_line, legend, legend_width, titled, via_tmp, Axis, Entry, Frame, Group, Mark};
use crate::report::Table;
use anyhow::Result;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// The metrics drawn, as their column names start.
const FAMILIES: [&str; 2] = ["Recall", "NDCG"];

/// Lines beyond this many make a figure no one can read: the best configurations are kept.
pub const MAX_LINES: usize = 10;

/// The cut-offs of `family` among the table's metric columns (`Recall@10` -> 10), ascending.
pub fn cutoffs(t: &Table, family: &str) -> Vec<usize> {
    let mut ks: Vec<usize> = t.metric_cols.iter().filter_map(|c| c.strip_prefix(family)?.strip_prefix('@')?.parse().ok()).collect();
    ks.sort_unstable();
    ks.dedup();
    ks
}

/// The configurations to draw: all, or the [`MAX_LINES`] best at the first panel's smallest
/// cut-off (in table order), with how many there were.
fn chosen(t: &Table, first_col: &str) -> (Vec<Group>, usize) {
    let all = plots::groups(t, |r| plots::metric(r, first_col).is_some());
    let n = all.len();
    if n <= MAX_LINES {
        return (all, n);
    }
    let score = |g: &Group| plots::mean_std(&g.rows.iter().filter_map(|&i| plots::metric(&t.json[i], first_col)).collect::<Vec<_>>()).0;
    let mut ranked: Vec<(usize, f64)> = all.iter().enumerate().map(|(i, g)| (i, score(g))).collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut keep: Vec<usize> = ranked.into_iter().take(MAX_LINES).map(|(i, _)| i).collect();
    keep.sort_unstable();
    (keep.into_iter().map(|i| all[i].clone()).collect(), n)
}

/// Writes `metric-vs-k.svg` when some metric has two cut-offs or more.
pub fn write(t: &Table, dir: &Path) -> Result<Option<PathBuf>> {
    let panels: Vec<(&str, Vec<usize>)> = FAMILIES.iter().map(|f| (*f, cutoffs(t, f))).filter(|(_, ks)| ks.len() >= 2).collect();
    let Some((f0, ks0)) = panels.first() else { return Ok(None) };
    let (groups, total) = chosen(t, &format!("{f0}@{}", ks0[0]));
    if groups.is_empty() {
        return Ok(None);
    }
    // Per panel and configuration: (K, mean, std) over the seeds that have the column.
    let series = |family: &str, ks: &[usize], g: &Group| -> Vec<(f64, f64, f64)> {
        ks.iter()
            .filter_map(|k| {
                let v: Vec<f64> = g.rows.iter().filter_map(|&i| plots::metric(&t.json[i], &format!("{family}@{k}"))).collect();
                (!v.is_empty()).then(|| {
                    let (m, s) = plots::mean_std(&v);
                    (*k as f64, m, s)
                })
            })
            .collect()
    };
    let seeds = groups.iter().map(|g| g.rows.len()).max().unwrap_or(1);
    let mut entries: Vec<Entry> = groups.iter().enumerate().map(|(i, g)| Entry::new(g.label.clone(), color(i), Mark::Line)).collect();
    if seeds > 1 {
        entries.push(Entry::new("band: ± std over seeds", plots::GREY, Mark::Band));
    }
    let mut title = format!("{}: ranking quality against the cut-off K", t.title);
    if total > groups.len() {
        title += &format!(" ({} best of {total} configurations by {f0}@{})", groups.len(), ks0[0]);
    }
    let path = dir.join("metric-vs-k.svg");
    let (pw, ph) = (520u32, 460u32);
    let lw = legend_width(&entries, 13);
    via_tmp(&path, |tmp| {
        let root = SVGBackend::new(tmp, (pw * panels.len() as u32 + lw, ph + 40)).into_drawing_area();
        root.fill(&WHITE).map_err(plots::fail(&path))?;
        let body = titled(&root, &title, 18, &path)?;
        let (plots_area, side) = body.split_horizontally(pw * panels.len() as u32);
        let cells = plots_area.split_evenly((1, panels.len()));
        for ((family, ks), cell) in panels.iter().zip(&cells) {
            let all: Vec<Vec<(f64, f64, f64)>> = groups.iter().map(|g| series(family, ks, g)).collect();
            let x = Axis::at_values("K (cut-off)", &ks.iter().map(|&k| k as f64).collect::<Vec<_>>());
            let ys = all.iter().flatten().flat_map(|&(_, m, s)| [m - s, m + s]);
            let (Some(x), Some(y)) = (x, Axis::fit(&format!("{family}@K (mean over seeds)"), ys, false)) else { continue };
            let mut c = plots::chart(cell, &Frame::new(&x, &y), &path)?;
            for (i, s) in all.iter().enumerate() {
                band(&mut c, &s.iter().map(|&(k, m, sd)| (k, m - sd, m + sd)).collect::<Vec<_>>(), color(i), &path)?;
            }
            for (i, s) in all.iter().enumerate() {
                dotted_line(&mut c, &s.iter().map(|&(k, m, _)| (k, m)).collect::<Vec<_>>(), color(i), &path)?;
            }
        }
        legend(&side, 40, &entries, 13, &path)?;
        root.present().map_err(plots::fail(&path))?;
        Ok(())
    })?;
    Ok(Some(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::plots::svg;
    use serde_json::json;

    fn table(ks: &[usize], models: &[&str], seeds: &[u64]) -> Table {
        let mut json = Vec::new();
        for (mi, m) in models.iter().enumerate() {
            for &s in seeds {
                let mut metrics = serde_json::Map::new();
                for &k in ks {
                    metrics.insert(format!("Recall@{k}"), json!(0.1 * (mi + 1) as f64 + 0.01 * k as f64 + 0.001 * s as f64));
                    metrics.insert(format!("NDCG@{k}"), json!(0.05 * (mi + 1) as f64 + 0.005 * k as f64));
                }
                json.push(json!({"model": m, "point": "base", "point_name": "base", "seed": s, "metrics": metrics}));
            }
        }
        let metric_cols = ["Recall", "NDCG"].iter().flat_map(|f| ks.iter().map(move |k| format!("{f}@{k}"))).collect();
        Table { title: "cut".into(), json, metric_cols, ..Default::default() }
    }

    #[test]
    fn one_panel_per_metric_one_line_and_band_per_model() {
        let d = tempfile::tempdir().unwrap();
        let t = table(&[5, 10, 20], &["popularity", "item2vec"], &[1, 2, 3]);
        let p = write(&t, d.path()).unwrap().expect("a figure");
        let s = std::fs::read_to_string(&p).unwrap();
        // Two panels x two models: a line through three dots each, a band each (seeds differ
        // for Recall; NDCG's spread is 0, so no band there).
        assert_eq!(svg::lines(&s, 2).iter().filter(|l| l.len() == 3).count(), 2 * 2);
        assert_eq!(svg::count(&s, "circle"), 2 * 2 * 3);
        assert_eq!(svg::count(&s, "polygon"), 2);
        svg::assert_axes(&s, "K (cut-off)", "Recall@K (mean over seeds)");
        svg::assert_axes(&s, "K (cut-off)", "NDCG@K (mean over seeds)");
        let texts: Vec<String> = svg::texts(&s).into_iter().map(|t| t.body).collect();
        for k in ["5", "10", "20"] {
            assert!(texts.iter().any(|t| t == k), "tick at K={k}: {texts:?}");
        }
        assert!(!texts.iter().any(|t| t == "5.0" || t == "7.5"), "integer ticks at the cut-offs only: {texts:?}");
        assert!(texts.iter().any(|t| t == "popularity") && texts.iter().any(|t| t == "band: ± std over seeds"));
    }

    #[test]
    fn no_figure_with_one_cutoff_and_at_most_ten_lines() {
        let d = tempfile::tempdir().unwrap();
        assert!(write(&table(&[10], &["a", "b"], &[1]), d.path()).unwrap().is_none());
        let models: Vec<String> = (0..12).map(|i| format!("m{i}")).collect();
        let t = table(&[10, 20], &models.iter().map(String::as_str).collect::<Vec<_>>(), &[1]);
        let s = std::fs::read_to_string(write(&t, d.path()).unwrap().unwrap()).unwrap();
        assert_eq!(svg::count(&s, "circle"), 2 * MAX_LINES * 2, "two panels, two cut-offs");
        let texts: Vec<String> = svg::texts(&s).into_iter().map(|t| t.body).collect();
        assert!(texts.iter().any(|t| t.contains("10 best of 12")), "{texts:?}");
        assert!(!texts.iter().any(|t| t == "m0" || t == "m1"), "the weakest are left out: {texts:?}");
    }
}
