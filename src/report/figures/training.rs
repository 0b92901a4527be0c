//! Training curves as small multiples (`loss.svg`): one panel per configuration (model, or
//! model x sweep point where a model has several), each with its own y scale, since losses of
//! different models live on different scales and one shared axis flattens all but the
//! largest. A panel draws the mean loss over seeds with the seeds' min–max as a band and,
//! where the epochs report a validation metric (`valid...` keys), its mean on a second axis
//! at the right. The legend is one line above the panels, so it never hides a curve.

use crate::report::plots::{self, band, color, titled, via_tmp, Axis, Frame, Group, FONT};
use crate::report::Table;
use anyhow::Result;
use plotters::prelude::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// More panels than this make each too small to read: the first ones are drawn and the title
/// names how many were left out.
pub const MAX_PANELS: usize = 12;

/// A row's epochs, when it trained for more than one.
fn epochs(r: &Value) -> Option<&Vec<Value>> {
    r["epochs"].as_array().filter(|e| e.len() > 1)
}

/// The validation metric the epochs report, if any: the first numeric key starting with
/// `valid` (sorted), so every panel shows the same one.
fn valid_key(t: &Table, groups: &[Group]) -> Option<String> {
    let mut keys: Vec<&String> = groups
        .iter()
        .flat_map(|g| g.rows.iter())
        .filter_map(|&i| epochs(&t.json[i]))
        .flatten()
        .filter_map(Value::as_object)
        .flat_map(|o| o.iter().filter(|(k, v)| k.starts_with("valid") && v.is_number()).map(|(k, _)| k))
        .collect();
    keys.sort();
    keys.first().map(|k| k.to_string())
}

/// Per epoch: (epoch, mean, min, max) over the group's seeds of `key`.
fn per_epoch(t: &Table, g: &Group, key: &str) -> Vec<(f64, f64, f64, f64)> {
    let mut by: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
    for &i in &g.rows {
        for e in epochs(&t.json[i]).into_iter().flatten() {
            if let (Some(x), Some(v)) = (e["epoch"].as_f64(), e[key].as_f64().filter(|v| v.is_finite())) {
                by.entry(x as i64).or_default().push(v);
            }
        }
    }
    by.into_iter()
        .map(|(x, v)| {
            let (lo, hi) = v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &y| (a.min(y), b.max(y)));
            (x as f64, plots::mean_std(&v).0, lo, hi)
        })
        .collect()
}

/// Columns of the grid of `n` panels.
fn columns(n: usize) -> usize {
    match n {
        0..=3 => n.max(1),
        4 => 2,
        5..=9 => 3,
        _ => 4,
    }
}

/// Writes `loss.svg` when some row trained for more than one epoch.
pub fn write(t: &Table, dir: &Path) -> Result<Option<PathBuf>> {
    let all = plots::groups(t, |r| epochs(r).is_some());
    if all.is_empty() {
        return Ok(None);
    }
    let shown = &all[..all.len().min(MAX_PANELS)];
    let valid = valid_key(t, shown);
    let seeds = shown.iter().map(|g| g.rows.len()).max().unwrap_or(1);
    let mut title = format!("{}: training curves", t.title);
    if all.len() > shown.len() {
        let left: Vec<&str> = all[shown.len()..].iter().map(|g| g.label.as_str()).collect();
        title += &format!(" (first {} of {}; left out: {})", shown.len(), all.len(), plots::shorten(&left.join(", "), 60));
    }
    // What the marks mean, once for every panel.
    let mut key =
        if seeds > 1 { "blue line: mean training loss over seeds, band: min–max over seeds".to_string() } else { "blue line: training loss".to_string() };
    if let Some(v) = &valid {
        key += &format!("; orange dashed: {v} (right axis)");
    }
    let cols = columns(shown.len());
    let rows = shown.len().div_ceil(cols);
    let (pw, ph) = (400u32, 290u32);
    let (w, h) = (pw * cols as u32, 64 + ph * rows as u32);
    let path = dir.join("loss.svg");
    via_tmp(&path, |tmp| {
        let root = SVGBackend::new(tmp, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(plots::fail(&path))?;
        let body = titled(&root, &title, 18, &path)?;
        let (head, grid) = body.split_vertically(28);
        let style = (FONT, 13)
            .into_font()
            .color(&plots::GREY)
            .pos(plotters::style::text_anchor::Pos::new(plotters::style::text_anchor::HPos::Center, plotters::style::text_anchor::VPos::Center));
        head.draw(&Text::new(key.clone(), (w as i32 / 2, 12), style)).map_err(plots::fail(&path))?;
        let cells = grid.split_evenly((rows, cols));
        for (g, cell) in shown.iter().zip(&cells) {
            let loss = per_epoch(t, g, "loss");
            let x = Axis::at_values("epoch", &loss.iter().map(|p| p.0).collect::<Vec<_>>());
            let y = Axis::fit("training loss", loss.iter().flat_map(|p| [p.2, p.3]), false);
            let (Some(x), Some(y)) = (x, y) else { continue };
            // Many epochs: every tick would crowd the axis; round ticks instead.
            let x = if x.ticks.len() > 8 { Axis::fit("epoch", x.ticks.iter().copied(), false).unwrap_or(x) } else { x };
            let v = valid.as_ref().map(|k| per_epoch(t, g, k)).filter(|v| !v.is_empty());
            let y2 = v.as_ref().zip(valid.as_ref()).and_then(|(v, k)| Axis::fit(k, v.iter().flat_map(|p| [p.2, p.3]), false));
            let caption = format!("{} ({} seed{})", g.label, g.rows.len(), if g.rows.len() == 1 { "" } else { "s" });
            let mut f = Frame::new(&x, &y);
            f.caption = Some(&caption);
            f.caption_size = 14;
            f.font = 12;
            f.right = if y2.is_some() { 58 } else { 0 };
            let mut c = plots::build(cell, &f, &path)?;
            let (Some(v), Some(y2)) = (v, y2) else {
                plots::mesh(&mut c, &f, &path)?;
                band(&mut c, &loss.iter().map(|p| (p.0, p.2, p.3)).collect::<Vec<_>>(), color(0), &path)?;
                c.draw_series(LineSeries::new(loss.iter().map(|p| (p.0, p.1)), color(0).stroke_width(2))).map_err(plots::fail(&path))?;
                continue;
            };
            let mut c = c.set_secondary_coord(x.coord(), y2.coord());
            plots::mesh(&mut c, &f, &path)?;
            band(&mut c, &loss.iter().map(|p| (p.0, p.2, p.3)).collect::<Vec<_>>(), color(0), &path)?;
            c.draw_series(LineSeries::new(loss.iter().map(|p| (p.0, p.1)), color(0).stroke_width(2))).map_err(plots::fail(&path))?;
            let lab = {
                let y2 = y2.clone();
                move |t: &f64| y2.label(*t)
            };
            c.configure_secondary_axes()
                .y_desc(y2.title.as_str())
                .y_label_formatter(&lab)
                .label_style((FONT, 12))
                .axis_desc_style((FONT, 13))
                .draw()
                .map_err(plots::fail(&path))?;
            let orange = color(1);
            c.draw_secondary_series(DashedLineSeries::new(v.iter().map(|p| (p.0, p.1)).collect::<Vec<_>>(), 6, 4, orange.stroke_width(2)))
                .map_err(plots::fail(&path))?;
            c.draw_secondary_series(v.iter().map(|p| Circle::new((p.0, p.1), 3, orange.filled()))).map_err(plots::fail(&path))?;
        }
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

    fn row(model: &str, point: &str, seed: u64, scale: f64, valid: bool) -> Value {
        let epochs: Vec<Value> = (1..=4)
            .map(|e| {
                let mut o = json!({"epoch": e, "loss": scale * (5.0 - e as f64) + 0.1 * seed as f64, "seconds": 1.0});
                if valid {
                    o["valid_Recall@10"] = json!(0.05 * e as f64);
                }
                o
            })
            .collect();
        json!({"model": model, "point": point, "point_name": format!("window={point}"), "seed": seed, "epochs": epochs, "metrics": {}})
    }

    #[test]
    fn one_panel_per_configuration_with_its_own_scale_and_the_validation_metric() {
        let d = tempfile::tempdir().unwrap();
        let mut json = Vec::new();
        for seed in [1, 2] {
            json.push(row("item2vec", "2", seed, 1.0, true));
            json.push(row("item2vec", "4", seed, 1.0, true));
            json.push(row("bpr", "base", seed, 1000.0, false));
        }
        json.push(json!({"model": "popularity", "point": "base", "seed": 1, "epochs": [], "metrics": {}}));
        let t = Table { title: "curves".into(), json, ..Default::default() };
        let s = std::fs::read_to_string(write(&t, d.path()).unwrap().unwrap()).unwrap();
        let texts: Vec<String> = svg::texts(&s).into_iter().map(|t| t.body).collect();
        // Three panels, captioned by point name; popularity never trained.
        for cap in ["item2vec [window=2] (2 seeds)", "item2vec [window=4] (2 seeds)", "bpr (2 seeds)"] {
            assert!(texts.iter().any(|t| t == cap), "{cap}: {texts:?}");
        }
        assert!(!texts.iter().any(|t| t.contains("popularity")));
        assert_eq!(texts.iter().filter(|t| *t == "training loss").count(), 3, "a y axis per panel");
        assert_eq!(texts.iter().filter(|t| *t == "valid_Recall@10").count(), 2, "a right axis where the epochs report one");
        // bpr's own scale: ticks in the thousands appear, item2vec's in units too.
        assert!(texts.iter().any(|t| t.parse::<f64>().is_ok_and(|v| v >= 1000.0)), "{texts:?}");
        // A band per panel (two seeds), the legend once above the panels.
        assert_eq!(svg::count(&s, "polygon"), 3);
        assert!(texts.iter().any(|t| t.contains("min–max over seeds") && t.contains("valid_Recall@10 (right axis)")));
        svg::assert_axes(&s, "epoch", "training loss");
    }

    #[test]
    fn many_configurations_are_capped_and_the_title_says_which() {
        let d = tempfile::tempdir().unwrap();
        let json: Vec<Value> = (0..14).map(|i| row("m", &i.to_string(), 1, 1.0, false)).collect();
        let t = Table { title: "many".into(), json, ..Default::default() };
        let s = std::fs::read_to_string(write(&t, d.path()).unwrap().unwrap()).unwrap();
        let texts: Vec<String> = svg::texts(&s).into_iter().map(|t| t.body).collect();
        assert_eq!(texts.iter().filter(|t| *t == "training loss").count(), MAX_PANELS);
        assert!(texts.iter().any(|t| t.contains("first 12 of 14") && t.contains("m [window=13]")), "{texts:?}");
    }
}
