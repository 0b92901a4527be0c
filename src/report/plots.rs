//! Plots people would rather look at than read (SVG through plotters, text as `<text>`):
//! training loss per epoch (`loss.svg`), the similarity histograms (`similarity.svg`), the
//! table's first metric against each numeric swept key (`<metric>-vs-<key>.svg`), and a
//! heatmap when two numeric keys are swept together (`heatmap-<key>-<key>.svg`, e.g. p x q).

use super::pareto::PALETTE;
use super::Table;
use anyhow::{anyhow, Result};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One line of a chart.
pub struct Line {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

/// Writes through a temporary name, so a reader never sees half a plot.
fn via_tmp(path: &Path, draw: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("plot.svg");
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    crate::interrupt::register(&tmp);
    let r = draw(&tmp).and_then(|_| std::fs::rename(&tmp, path).map_err(|e| anyhow!("cannot write `{}`: {e}", path.display())));
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    crate::interrupt::unregister(&tmp);
    r
}

/// A line chart of `lines` at `path`.
pub fn line_chart(path: &Path, title: &str, x_desc: &str, y_desc: &str, lines: &[Line]) -> Result<()> {
    use plotters::prelude::*;
    let pts = lines.iter().flat_map(|l| l.points.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
    for &(x, y) in pts.filter(|(x, y)| x.is_finite() && y.is_finite()) {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    anyhow::ensure!(x0.is_finite(), "nothing to plot in `{}`", path.display());
    let pad = |a: f64, b: f64| if b - a > 0.0 { 0.05 * (b - a) } else { a.abs().max(1.0) * 0.1 };
    let (px, py) = (pad(x0, x1), pad(y0, y1));
    via_tmp(path, |tmp| {
        let err = |e: &dyn std::fmt::Display| anyhow!("plotting `{}`: {e}", path.display());
        let root = SVGBackend::new(tmp, (900, 560)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d((x0 - px)..(x1 + px), (y0 - py)..(y1 + py))
            .map_err(|e| err(&e))?;
        chart.configure_mesh().x_desc(x_desc).y_desc(y_desc).light_line_style(RGBColor(240, 240, 240)).draw().map_err(|e| err(&e))?;
        for (i, l) in lines.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()].to_rgba();
            chart
                .draw_series(LineSeries::new(l.points.clone(), color.stroke_width(2)))
                .map_err(|e| err(&e))?
                .label(l.label.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(2)));
            chart.draw_series(l.points.iter().map(|&p| Circle::new(p, 3, color.filled()))).map_err(|e| err(&e))?;
        }
        // The legend goes in the corner with the fewest points, so it hides none if it can.
        let (xm, ym) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
        let in_corner =
            |right: bool, upper: bool| lines.iter().flat_map(|l| l.points.iter()).filter(|&&(x, y)| (x >= xm) == right && (y >= ym) == upper).count();
        let corner = [
            (true, true, SeriesLabelPosition::UpperRight),
            (false, true, SeriesLabelPosition::UpperLeft),
            (true, false, SeriesLabelPosition::LowerRight),
            (false, false, SeriesLabelPosition::LowerLeft),
        ]
        .into_iter()
        .min_by_key(|(r, u, _)| in_corner(*r, *u))
        .map(|(_, _, p)| p)
        .unwrap_or(SeriesLabelPosition::UpperRight);
        chart
            .configure_series_labels()
            .position(corner)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.5))
            .label_font(("sans-serif", 13))
            .draw()
            .map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))?;
        Ok(())
    })
}

/// A heatmap of `values[(x, y)]` over the distinct x and y values, each cell labelled.
pub fn heatmap(path: &Path, title: &str, x_desc: &str, y_desc: &str, values: &BTreeMap<(String, String), f64>) -> Result<()> {
    use plotters::prelude::*;
    let num = |s: &String| s.parse::<f64>().unwrap_or(f64::NAN);
    let mut xs: Vec<String> = values.keys().map(|k| k.0.clone()).collect();
    let mut ys: Vec<String> = values.keys().map(|k| k.1.clone()).collect();
    for v in [&mut xs, &mut ys] {
        v.sort_by(|a, b| num(a).total_cmp(&num(b)).then(a.cmp(b)));
        v.dedup();
    }
    let (lo, hi) = values.values().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    anyhow::ensure!(lo.is_finite(), "nothing to plot in `{}`", path.display());
    via_tmp(path, |tmp| {
        let err = |e: &dyn std::fmt::Display| anyhow!("plotting `{}`: {e}", path.display());
        let root = SVGBackend::new(tmp, (760, 640)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(0f64..xs.len() as f64, 0f64..ys.len() as f64)
            .map_err(|e| err(&e))?;
        let (xl, yl) = (xs.clone(), ys.clone());
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .x_labels(xs.len() * 2 + 1)
            .y_labels(ys.len() * 2 + 1)
            .x_label_formatter(&move |x| {
                let i = (x - 0.5).round();
                if (x - 0.5 - i).abs() < 1e-6 && i >= 0.0 {
                    xl.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&move |y| {
                let i = (y - 0.5).round();
                if (y - 0.5 - i).abs() < 1e-6 && i >= 0.0 {
                    yl.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .draw()
            .map_err(|e| err(&e))?;
        for (xi, x) in xs.iter().enumerate() {
            for (yi, y) in ys.iter().enumerate() {
                let Some(&v) = values.get(&(x.clone(), y.clone())) else { continue };
                let t = if hi > lo { (v - lo) / (hi - lo) } else { 0.5 };
                // White to a dark blue.
                let c = RGBColor((255.0 - 225.0 * t) as u8, (255.0 - 170.0 * t) as u8, (255.0 - 90.0 * t) as u8);
                let cell = [(xi as f64, yi as f64), (xi as f64 + 1.0, yi as f64 + 1.0)];
                chart.draw_series(std::iter::once(Rectangle::new(cell, c.filled()))).map_err(|e| err(&e))?;
                let ink = if t > 0.6 { WHITE } else { BLACK };
                let style = ("sans-serif", 13).into_font().color(&ink);
                chart.draw_series(std::iter::once(Text::new(format!("{v:.4}"), (xi as f64 + 0.3, yi as f64 + 0.55), style))).map_err(|e| err(&e))?;
            }
        }
        root.present().map_err(|e| err(&e))?;
        Ok(())
    })
}

/// Draws every run's 2-D map (`map.json` of the map task) as `map-<model>-<point>-<seed>.svg`,
/// points coloured by category (grey without one).
pub fn write_maps(rows: &[super::Row], dir: &Path) -> Result<Vec<PathBuf>> {
    use plotters::prelude::*;
    let mut out = Vec::new();
    for r in rows {
        let Some((_, bytes)) = r.files.iter().find(|(n, _)| n == "map.json") else { continue };
        let pts: crate::eval::map::MapPoints = serde_json::from_slice(bytes).map_err(|e| anyhow!("a damaged map of `{}`: {e}", r.run.model.name))?;
        let slug = |s: &str| s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect::<String>();
        let path = dir.join(format!("map-{}-{}-{}.svg", slug(&r.run.model.name), slug(&r.run.point_id), r.run.seed));
        let (mut x0, mut x1, mut y0, mut y1) = (f32::INFINITY, f32::NEG_INFINITY, f32::INFINITY, f32::NEG_INFINITY);
        for (&x, &y) in pts.x.iter().zip(&pts.y) {
            (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
        }
        if !x0.is_finite() {
            continue;
        }
        let title = format!("{} [{}] seed {}: t-SNE map of {} items", r.run.model.name, r.run.point_id, r.run.seed, pts.x.len());
        via_tmp(&path, |tmp| {
            let err = |e: &dyn std::fmt::Display| anyhow!("plotting `{}`: {e}", path.display());
            let root = SVGBackend::new(tmp, (800, 800)).into_drawing_area();
            root.fill(&WHITE).map_err(|e| err(&e))?;
            let (px, py) = (0.03 * (x1 - x0).max(1e-6), 0.03 * (y1 - y0).max(1e-6));
            let mut chart = ChartBuilder::on(&root)
                .caption(&title, ("sans-serif", 18))
                .margin(12)
                .build_cartesian_2d((x0 - px)..(x1 + px), (y0 - py)..(y1 + py))
                .map_err(|e| err(&e))?;
            chart
                .draw_series(pts.x.iter().zip(&pts.y).zip(&pts.category).map(|((&x, &y), c)| {
                    let color = match c {
                        Some(c) => PALETTE[*c as usize % PALETTE.len()].to_rgba(),
                        None => RGBColor(170, 170, 170).to_rgba(),
                    };
                    Circle::new((x, y), 2, color.filled())
                }))
                .map_err(|e| err(&e))?;
            root.present().map_err(|e| err(&e))?;
            Ok(())
        })?;
        out.push(path);
    }
    Ok(out)
}

/// `model [point] seed s` for a JSON row.
fn row_label(r: &Value) -> String {
    format!("{} [{}] seed {}", r["model"].as_str().unwrap_or("?"), r["point"].as_str().unwrap_or("?"), r["seed"])
}

/// Every plot the table calls for, written into `dir`; returns their paths.
pub fn write_all(t: &Table, dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    // Loss per epoch of every row that trained for more than one epoch.
    let loss: Vec<Line> = t
        .json
        .iter()
        .filter_map(|r| {
            let e = r["epochs"].as_array()?;
            (e.len() > 1).then(|| Line { label: row_label(r), points: e.iter().filter_map(|x| Some((x["epoch"].as_f64()?, x["loss"].as_f64()?))).collect() })
        })
        .collect();
    if !loss.is_empty() {
        let p = dir.join("loss.svg");
        line_chart(&p, &format!("{}: training loss", t.title), "epoch", "mean loss", &loss)?;
        out.push(p);
    }
    // Similarity histograms as densities over bin centres.
    let mut sims = Vec::new();
    for r in &t.json {
        for (suffix, what) in [("", "all pairs"), (" same", "same category"), (" diff", "different categories")] {
            let Some(h) = r["series"][format!("similarity histogram{suffix}")].as_array() else { continue };
            let h: Vec<f64> = h.iter().filter_map(Value::as_f64).collect();
            let total: f64 = h.iter().sum();
            let bins = h.len() as f64;
            if total > 0.0 {
                let points = h.iter().enumerate().map(|(i, c)| (-1.0 + (i as f64 + 0.5) * 2.0 / bins, c / total * bins / 2.0)).collect();
                sims.push(Line { label: format!("{}: {what}", row_label(r)), points });
            }
        }
    }
    if !sims.is_empty() {
        let p = dir.join("similarity.svg");
        line_chart(&p, &format!("{}: cosine similarity of item pairs", t.title), "cosine similarity", "density", &sims)?;
        out.push(p);
    }
    out.extend(sweep_plots(t, dir)?);
    Ok(out)
}

/// The first metric against each numeric swept key (one line per model and combination of
/// the other swept keys, mean over seeds), and a heatmap for two numeric swept keys.
fn sweep_plots(t: &Table, dir: &Path) -> Result<Vec<PathBuf>> {
    let Some(metric) = t.metric_cols.first() else { return Ok(Vec::new()) };
    let rows: Vec<&Value> = t.json.iter().filter(|r| r["metrics"][metric.as_str()].is_number()).collect();
    // Swept keys: config columns whose values, where a row has one ("-" where a model lacks
    // the key), are numbers taking at least two values.
    let num = |r: &Value, k: &str| r["config"][k].as_str().and_then(|s| s.parse::<f64>().ok());
    let all_keys: std::collections::BTreeSet<String> = rows.iter().filter_map(|r| r["config"].as_object()).flat_map(|c| c.keys().cloned()).collect();
    let cfg = |r: &Value, k: &str| r["config"][k].as_str().unwrap_or("").to_string();
    let mut keys: Vec<String> = Vec::new();
    for k in all_keys {
        let present: Vec<&&Value> = rows.iter().filter(|r| r["config"][k.as_str()].as_str().is_some_and(|v| v != "-")).collect();
        let mut distinct: Vec<f64> = present.iter().filter_map(|r| num(r, &k)).collect();
        distinct.sort_by(|a, b| a.total_cmp(b));
        distinct.dedup();
        // Swept within one model: a key that differs only between models (each model's own
        // `dim`) draws no line, just scattered dots.
        let mut per_model: BTreeMap<&str, std::collections::BTreeSet<String>> = BTreeMap::new();
        for r in &present {
            per_model.entry(r["model"].as_str().unwrap_or("?")).or_default().insert(cfg(r, &k));
        }
        let swept = per_model.values().any(|v| v.len() > 1);
        if present.iter().all(|r| num(r, &k).is_some()) && distinct.len() > 1 && swept {
            keys.push(k);
        }
    }
    let value = |r: &Value| r["metrics"][metric.as_str()].as_f64().unwrap_or(f64::NAN);
    let slug = |s: &str| s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' { c } else { '_' }).collect::<String>();
    let mut out = Vec::new();
    for k in &keys {
        // (line label, x) -> values over seeds.
        let mut acc: BTreeMap<String, BTreeMap<String, Vec<f64>>> = BTreeMap::new();
        for r in rows.iter().filter(|r| num(r, k).is_some()) {
            let others: Vec<String> = keys.iter().filter(|o| *o != k).map(|o| format!("{o}={}", cfg(r, o))).collect();
            let label = if others.is_empty() {
                r["model"].as_str().unwrap_or("?").to_string()
            } else {
                format!("{} {}", r["model"].as_str().unwrap_or("?"), others.join(" "))
            };
            acc.entry(label).or_default().entry(cfg(r, k)).or_default().push(value(r));
        }
        let lines: Vec<Line> = acc
            .into_iter()
            .map(|(label, by_x)| {
                let mut points: Vec<(f64, f64)> =
                    by_x.into_iter().map(|(x, v)| (x.parse().unwrap_or(f64::NAN), v.iter().sum::<f64>() / v.len() as f64)).collect();
                points.sort_by(|a, b| a.0.total_cmp(&b.0));
                Line { label, points }
            })
            .collect();
        let p = dir.join(format!("{}-vs-{}.svg", slug(metric), slug(k)));
        line_chart(&p, &format!("{}: {metric} against {k}", t.title), k, &format!("{metric} (mean over seeds)"), &lines)?;
        out.push(p);
    }
    if let [a, b] = keys.as_slice() {
        let both = |r: &&&Value| num(r, a).is_some() && num(r, b).is_some();
        let model = rows.iter().find(both).and_then(|r| r["model"].as_str()).unwrap_or("");
        let mut acc: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
        for r in rows.iter().filter(both).filter(|r| r["model"].as_str() == Some(model)) {
            acc.entry((cfg(r, a), cfg(r, b))).or_default().push(value(r));
        }
        let values: BTreeMap<(String, String), f64> = acc.into_iter().map(|(k, v)| (k, v.iter().sum::<f64>() / v.len() as f64)).collect();
        // Two models that each sweep their own key: no model has both, no heatmap.
        if values.is_empty() {
            return Ok(out);
        }
        let p = dir.join(format!("heatmap-{}-{}.svg", slug(a), slug(b)));
        heatmap(&p, &format!("{}: {metric} of {model}", t.title), a, b, &values)?;
        out.push(p);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn well_formed(p: &Path) -> String {
        let svg = std::fs::read_to_string(p).unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "{}", p.display());
        assert!(svg.contains("<text"), "labels are text");
        svg
    }

    #[test]
    fn writes_loss_similarity_sweep_and_heatmap_plots() {
        let d = tempfile::tempdir().unwrap();
        let mut json_rows = Vec::new();
        for (i, p) in [0.5, 1.0, 2.0].iter().enumerate() {
            for (j, q) in [0.5, 2.0].iter().enumerate() {
                json_rows.push(json!({
                    "model": "node2vec", "point": format!("pt{i}{j}"), "seed": 1,
                    "config": {"model.p": p.to_string(), "model.q": q.to_string()},
                    "metrics": {"Recall@10": 0.1 * (i + j + 1) as f64},
                    "epochs": [{"epoch": 1, "loss": 3.0}, {"epoch": 2, "loss": 2.0 - 0.1 * i as f64}],
                    "series": {"similarity histogram": [0.0, 1.0, 3.0, 1.0], "similarity histogram same": [0.0, 0.0, 1.0, 3.0], "similarity histogram diff": [1.0, 3.0, 0.0, 0.0]},
                }));
            }
        }
        let t = Table { title: "pq".into(), json: json_rows, metric_cols: vec!["Recall@10".into()], ..Default::default() };
        let written = write_all(&t, d.path()).unwrap();
        let names: Vec<String> = written.iter().map(|p| p.file_name().unwrap().to_string_lossy().to_string()).collect();
        assert_eq!(names, vec!["loss.svg", "similarity.svg", "Recall_10-vs-model.p.svg", "Recall_10-vs-model.q.svg", "heatmap-model.p-model.q.svg"]);
        for p in &written {
            well_formed(p);
        }
        let heat = well_formed(&d.path().join("heatmap-model.p-model.q.svg"));
        assert_eq!(heat.matches("<rect").count() - 1, 6, "one cell per (p, q) besides the background");
        assert!(heat.contains("0.4000") && heat.contains("0.1000"), "cells are labelled with their values");
        let sweep = well_formed(&d.path().join("Recall_10-vs-model.p.svg"));
        assert!(sweep.contains("node2vec model.q=0.5") && sweep.contains("node2vec model.q=2"), "one line per value of the other key");
        assert!(std::fs::read_dir(d.path()).unwrap().all(|e| !e.unwrap().file_name().to_string_lossy().contains("tmp")));
        // Two models, each sweeping its own key: line plots, no heatmap, no error.
        let d2 = tempfile::tempdir().unwrap();
        let rows: Vec<Value> = [("a", "model.p", "1"), ("a", "model.p", "2"), ("b", "model.t", "0.1"), ("b", "model.t", "0.2")]
            .iter()
            .enumerate()
            .map(|(i, (m, k, v))| {
                let other = if *k == "model.p" { "model.t" } else { "model.p" };
                json!({"model": m, "point": format!("p{i}"), "seed": 1, "config": {*k: v, other: "-"}, "metrics": {"Recall@10": 0.1 * i as f64}})
            })
            .collect();
        let t2 = Table { title: "two".into(), json: rows, metric_cols: vec!["Recall@10".into()], ..Default::default() };
        let names: Vec<String> = write_all(&t2, d2.path()).unwrap().iter().map(|p| p.file_name().unwrap().to_string_lossy().to_string()).collect();
        assert_eq!(names, vec!["Recall_10-vs-model.p.svg", "Recall_10-vs-model.t.svg"]);
        // A key that differs only between models (each model's own dim) is not a sweep: no plot.
        let d3 = tempfile::tempdir().unwrap();
        let rows: Vec<Value> = [("a", "32"), ("b", "64")]
            .iter()
            .map(|(m, dim)| json!({"model": m, "point": "base", "seed": 1, "config": {"model.dim": dim}, "metrics": {"Recall@10": 0.3}}))
            .collect();
        let t3 = Table { title: "dims".into(), json: rows, metric_cols: vec!["Recall@10".into()], ..Default::default() };
        assert!(write_all(&t3, d3.path()).unwrap().is_empty());
    }
}
