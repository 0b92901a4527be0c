//! Sweeps: the table's first metric against each numeric swept key
//! (`<metric>-vs-<key>.svg`), one line per model and combination of the other swept keys
//! through the mean over seeds, with ± one standard deviation as an error bar at each point;
//! the models the key does not apply to (the baseline, popularity) as dashed horizontal lines
//! with their names, so a reader sees at a glance whether the sweep beats them; ticks at the
//! swept values (integers read as integers). Two numeric keys swept together also get a
//! heatmap of one model (`heatmap-<key>-<key>.svg`, e.g. p x q).

use crate::report::plots::{self, color, dotted_line, heatmap, legend, legend_width, slug, titled, v_bar, via_tmp, Axis, Entry, Frame, Mark, FONT, GREY};
use crate::report::Table;
use anyhow::Result;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Reference lines beyond this many crowd the plot.
const MAX_REFERENCES: usize = 4;

/// A key's numeric value in a row (`None` for `-`, a model without the key).
fn num(r: &Value, k: &str) -> Option<f64> {
    r["config"][k].as_str().and_then(|s| s.parse::<f64>().ok())
}

fn cfg(r: &Value, k: &str) -> String {
    r["config"][k].as_str().unwrap_or("").to_string()
}

/// Swept keys: config columns whose values, where a row has one ("-" where a model lacks the
/// key), are numbers taking at least two values within one model (a key that differs only
/// between models, each model's own `dim`, draws no line, just scattered dots).
fn swept_keys(rows: &[&Value]) -> Vec<String> {
    let all_keys: BTreeSet<String> = rows.iter().filter_map(|r| r["config"].as_object()).flat_map(|c| c.keys().cloned()).collect();
    let mut keys = Vec::new();
    for k in all_keys {
        let present: Vec<&&Value> = rows.iter().filter(|r| r["config"][k.as_str()].as_str().is_some_and(|v| v != "-")).collect();
        let mut distinct: Vec<f64> = present.iter().filter_map(|r| num(r, &k)).collect();
        distinct.sort_by(f64::total_cmp);
        distinct.dedup();
        let mut per_model: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        for r in &present {
            per_model.entry(r["model"].as_str().unwrap_or("?")).or_default().insert(cfg(r, &k));
        }
        let swept = per_model.values().any(|v| v.len() > 1);
        if present.iter().all(|r| num(r, &k).is_some()) && distinct.len() > 1 && swept {
            keys.push(k);
        }
    }
    keys
}

/// The dashed lines of key `k`'s plot: models without the key, at one point each, as
/// (label, mean over seeds); the baseline first.
fn references(t: &Table, rows: &[&Value], k: &str, metric: &str, baseline: Option<&str>) -> Vec<(String, f64)> {
    let groups = plots::groups(t, |r| num(r, k).is_none() && plots::metric(r, metric).is_some());
    let mut models: BTreeMap<&str, usize> = BTreeMap::new();
    for g in &groups {
        *models.entry(g.model.as_str()).or_default() += 1;
    }
    // A model with the key somewhere is swept, not a reference.
    let swept: BTreeSet<&str> = rows.iter().filter(|r| num(r, k).is_some()).filter_map(|r| r["model"].as_str()).collect();
    let mut out: Vec<(String, f64)> = Vec::new();
    for g in groups.iter().filter(|g| models[g.model.as_str()] == 1 && !swept.contains(g.model.as_str())) {
        let (m, _) = plots::mean_std(&g.rows.iter().filter_map(|&i| plots::metric(&t.json[i], metric)).collect::<Vec<_>>());
        let is_base = baseline == Some(g.model.as_str());
        let label = if is_base { format!("{} (baseline)", g.model) } else { g.model.clone() };
        if is_base {
            out.insert(0, (label, m));
        } else {
            out.push((label, m));
        }
    }
    out.truncate(MAX_REFERENCES);
    out
}

/// Writes the sweep plots the table calls for; `baseline` is `[report] baseline`.
pub fn write(t: &Table, baseline: Option<&str>, dir: &Path) -> Result<Vec<PathBuf>> {
    let Some(metric) = t.metric_cols.first() else { return Ok(Vec::new()) };
    let rows: Vec<&Value> = t.json.iter().filter(|r| plots::metric(r, metric).is_some()).collect();
    let keys = swept_keys(&rows);
    let mut out = Vec::new();
    for k in &keys {
        // (line label, x) -> values over seeds.
        let mut acc: BTreeMap<String, BTreeMap<String, Vec<f64>>> = BTreeMap::new();
        // Line label -> (model, the other keys' values): lines read in numeric order
        // (`negatives=5` before `negatives=10`).
        let mut order: BTreeMap<String, (String, Vec<f64>)> = BTreeMap::new();
        for r in rows.iter().filter(|r| num(r, k).is_some()) {
            let others: Vec<String> = keys.iter().filter(|o| *o != k).map(|o| format!("{o}={}", cfg(r, o))).collect();
            let model = r["model"].as_str().unwrap_or("?");
            let label = if others.is_empty() { model.to_string() } else { format!("{model} {}", others.join(" ")) };
            let values = keys.iter().filter(|o| *o != k).map(|o| num(r, o).unwrap_or(f64::NAN)).collect();
            order.insert(label.clone(), (model.to_string(), values));
            acc.entry(label).or_default().entry(cfg(r, k)).or_default().push(plots::metric(r, metric).unwrap_or(f64::NAN));
        }
        // (label, [(x, mean, std)]) in x order.
        let mut lines: Vec<(String, Vec<(f64, f64, f64)>)> = acc
            .into_iter()
            .map(|(label, by_x)| {
                let mut pts: Vec<(f64, f64, f64)> = by_x
                    .into_iter()
                    .map(|(x, v)| {
                        let (m, s) = plots::mean_std(&v);
                        (x.parse().unwrap_or(f64::NAN), m, s)
                    })
                    .collect();
                pts.sort_by(|a, b| a.0.total_cmp(&b.0));
                (label, pts)
            })
            .collect();
        lines.sort_by(|a, b| {
            let ((ma, va), (mb, vb)) = (&order[&a.0], &order[&b.0]);
            ma.cmp(mb).then_with(|| va.iter().zip(vb).map(|(x, y)| x.total_cmp(y)).find(|o| o.is_ne()).unwrap_or(std::cmp::Ordering::Equal))
        });
        let refs = references(t, &rows, k, metric, baseline);
        let xs: Vec<f64> = lines.iter().flat_map(|(_, p)| p.iter().map(|p| p.0)).collect();
        let ys = lines.iter().flat_map(|(_, p)| p.iter().flat_map(|p| [p.1 - p.2, p.1 + p.2])).chain(refs.iter().map(|r| r.1));
        let (Some(x), Some(y)) = (Axis::at_values(k, &xs), Axis::fit(&format!("{metric} (mean ± std over seeds)"), ys, false)) else { continue };
        let seeds = rows.iter().filter(|r| num(r, k).is_some()).count() > lines.iter().map(|l| l.1.len()).sum::<usize>();
        let mut entries: Vec<Entry> = lines.iter().enumerate().map(|(i, (l, _))| Entry::new(l.clone(), color(i), Mark::Line)).collect();
        if seeds {
            entries.push(Entry::new("bar: ± std over seeds", GREY, Mark::Bar));
        }
        entries.extend(refs.iter().map(|(l, _)| Entry::new(l.clone(), GREY, Mark::Dashed)));
        let lw = legend_width(&entries, 13);
        let path = dir.join(format!("{}-vs-{}.svg", slug(metric), slug(k)));
        let title = format!("{}: {metric} against {k}", t.title);
        via_tmp(&path, |tmp| {
            let root = SVGBackend::new(tmp, (760 + lw, 520)).into_drawing_area();
            root.fill(&WHITE).map_err(plots::fail(&path))?;
            let body = titled(&root, &title, 18, &path)?;
            let (plot, side) = body.split_horizontally(760);
            let mut c = plots::chart(&plot, &Frame::new(&x, &y), &path)?;
            for (label, v) in &refs {
                c.draw_series(DashedLineSeries::new(vec![(x.lo, *v), (x.hi, *v)], 6, 4, GREY.stroke_width(1))).map_err(plots::fail(&path))?;
                // The name at the right end, just above its line.
                let style = (FONT, 12).into_font().color(&GREY).pos(Pos::new(HPos::Right, VPos::Bottom));
                c.draw_series(std::iter::once(EmptyElement::at((x.hi, *v)) + Text::new(label.clone(), (-6, -3), style))).map_err(plots::fail(&path))?;
            }
            for (i, (_, pts)) in lines.iter().enumerate() {
                for &(px, m, s) in pts.iter().filter(|p| p.2 > 0.0) {
                    v_bar(&mut c, px, m - s, m + s, color(i), &path)?;
                }
                dotted_line(&mut c, &pts.iter().map(|&(px, m, _)| (px, m)).collect::<Vec<_>>(), color(i), &path)?;
            }
            legend(&side, 12, &entries, 13, &path)?;
            root.present().map_err(plots::fail(&path))?;
            Ok(())
        })?;
        out.push(path);
    }
    if let [a, b] = keys.as_slice() {
        let both = |r: &&&Value| num(r, a).is_some() && num(r, b).is_some();
        let model = rows.iter().find(both).and_then(|r| r["model"].as_str()).unwrap_or("");
        let mut acc: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
        for r in rows.iter().filter(both).filter(|r| r["model"].as_str() == Some(model)) {
            acc.entry((cfg(r, a), cfg(r, b))).or_default().push(plots::metric(r, metric).unwrap_or(f64::NAN));
        }
        let values: BTreeMap<(String, String), f64> = acc.into_iter().map(|(k, v)| (k, plots::mean_std(&v).0)).collect();
        // Two models that each sweep their own key: no model has both, no heatmap.
        if values.is_empty() {
            return Ok(out);
        }
        let p = dir.join(format!("heatmap-{}-{}.svg", slug(a), slug(b)));
        heatmap(&p, &format!("{}: {metric} of {model} (mean over seeds)", t.title), a, b, &values)?;
        out.push(p);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::plots::svg;
    use serde_json::json;

    #[test]
    fn error_bars_integer_ticks_and_the_baseline_as_a_dashed_line() {
        let d = tempfile::tempdir().unwrap();
        let mut json = Vec::new();
        for seed in [1u64, 2] {
            for w in [2, 4, 8] {
                json.push(json!({"model": "item2vec", "point": format!("w{w}"), "seed": seed,
                    "config": {"model.window": w.to_string()}, "metrics": {"Recall@10": 0.1 * w as f64 + 0.01 * seed as f64}}));
            }
            json.push(json!({"model": "popularity", "point": "base", "seed": seed, "config": {"model.window": "-"}, "metrics": {"Recall@10": 0.25}}));
        }
        let t = Table { title: "w".into(), json, metric_cols: vec!["Recall@10".into()], ..Default::default() };
        let out = write(&t, Some("popularity"), d.path()).unwrap();
        assert_eq!(out.len(), 1);
        let s = std::fs::read_to_string(&out[0]).unwrap();
        svg::assert_axes(&s, "model.window", "Recall@10 (mean ± std over seeds)");
        let texts: Vec<String> = svg::texts(&s).into_iter().map(|t| t.body).collect();
        for tick in ["2", "4", "8"] {
            assert!(texts.iter().any(|t| t == tick), "{tick}: {texts:?}");
        }
        assert!(!texts.iter().any(|t| t == "2.0" || t == "3" || t == "3.0"), "ticks at the swept integers only: {texts:?}");
        assert_eq!(texts.iter().filter(|t| *t == "popularity (baseline)").count(), 2, "on the line and in the legend: {texts:?}");
        // An error bar per point: a vertical stroke and two caps, 1 px wide.
        let thin = s.split("<polyline").skip(1).filter(|p| p.contains("stroke-width=\"1\"") && p.contains("#1F77B4")).count();
        assert!(thin >= 3 * 3, "three error bars: {thin}");
        // The dashed reference: short 1 px grey segments.
        assert!(s.split("<polyline").skip(1).filter(|p| p.contains("#5A5A5A")).count() >= 5);
    }

    #[test]
    fn lines_per_other_key_and_a_heatmap_for_two_keys() {
        let d = tempfile::tempdir().unwrap();
        let mut json = Vec::new();
        for (i, p) in [0.5, 1.0, 2.0].iter().enumerate() {
            for (j, q) in [5.0, 10.0].iter().enumerate() {
                json.push(json!({"model": "node2vec", "point": format!("pt{i}{j}"), "seed": 1,
                    "config": {"model.p": p.to_string(), "model.q": q.to_string()}, "metrics": {"Recall@10": 0.1 * (i + j + 1) as f64}}));
            }
        }
        let t = Table { title: "pq".into(), json, metric_cols: vec!["Recall@10".into()], ..Default::default() };
        let names: Vec<String> = write(&t, None, d.path()).unwrap().iter().map(|p| p.file_name().unwrap().to_string_lossy().to_string()).collect();
        assert_eq!(names, ["Recall_10-vs-model.p.svg", "Recall_10-vs-model.q.svg", "heatmap-model.p-model.q.svg"]);
        let sweep = std::fs::read_to_string(d.path().join("Recall_10-vs-model.p.svg")).unwrap();
        let texts: Vec<String> = svg::texts(&sweep).into_iter().map(|t| t.body).collect();
        let pos = |l: &str| texts.iter().position(|t| t == l).unwrap_or_else(|| panic!("{l}: {texts:?}"));
        assert!(pos("node2vec model.q=5") < pos("node2vec model.q=10"), "one line per value of the other key, in numeric order");
        assert!(texts.contains(&"0.5".to_string()) && !texts.contains(&"0.50".to_string()), "ticks read as the swept values: {texts:?}");
        let heat = std::fs::read_to_string(d.path().join("heatmap-model.p-model.q.svg")).unwrap();
        assert_eq!(svg::count(&heat, "rect") - 1, 6, "one cell per (p, q) besides the background");
        assert!(heat.contains("0.4000") && heat.contains("0.1000"), "cells are labelled with their values");
        svg::assert_axes(&heat, "model.p", "model.q");
        // Two models, each sweeping its own key: line plots, no heatmap, no error.
        let json: Vec<Value> = [("a", "model.p", "1"), ("a", "model.p", "2"), ("b", "model.t", "0.1"), ("b", "model.t", "0.2")]
            .iter()
            .enumerate()
            .map(|(i, (m, k, v))| {
                let other = if *k == "model.p" { "model.t" } else { "model.p" };
                json!({"model": m, "point": format!("p{i}"), "seed": 1, "config": {*k: v, other: "-"}, "metrics": {"Recall@10": 0.1 * i as f64}})
            })
            .collect();
        let t2 = Table { title: "two".into(), json, metric_cols: vec!["Recall@10".into()], ..Default::default() };
        let d2 = tempfile::tempdir().unwrap();
        let names: Vec<String> = write(&t2, None, d2.path()).unwrap().iter().map(|p| p.file_name().unwrap().to_string_lossy().to_string()).collect();
        assert_eq!(names, ["Recall_10-vs-model.p.svg", "Recall_10-vs-model.t.svg"]);
        // A key that differs only between models (each model's own dim) is not a sweep.
        let json: Vec<Value> = [("a", "32"), ("b", "64")]
            .iter()
            .map(|(m, dim)| json!({"model": m, "point": "base", "seed": 1, "config": {"model.dim": dim}, "metrics": {"Recall@10": 0.3}}))
            .collect();
        let t3 = Table { title: "dims".into(), json, metric_cols: vec!["Recall@10".into()], ..Default::default() };
        assert!(write(&t3, None, d2.path()).unwrap().is_empty());
    }
}
