//! Item maps and similarity distributions: each run's 2-D t-SNE map (`map.json` of the map
//! task) as `map-<model>-<point>-<seed>.svg`, points coloured by category (grey without one),
//! and the cosine-similarity histograms of item pairs as densities (`similarity.svg`).

use crate::eval::map::MapPoints;
use crate::report::plots::{self, color, line_chart, titled, via_tmp, Axis, Frame, Line};
use crate::report::{Row, Table};
use anyhow::{anyhow, Result};
use plotters::prelude::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Draws one map at `path`.
pub fn draw_map(path: &Path, title: &str, pts: &MapPoints) -> Result<bool> {
    let xs = || pts.x.iter().map(|&v| v as f64);
    let ys = || pts.y.iter().map(|&v| v as f64);
    // t-SNE's coordinates have no unit: the axes say which dimension, the ticks only scale.
    let (Some(x), Some(y)) = (Axis::fit("t-SNE dimension 1", xs(), false), Axis::fit("t-SNE dimension 2", ys(), false)) else { return Ok(false) };
    via_tmp(path, |tmp| {
        let root = SVGBackend::new(tmp, (800, 820)).into_drawing_area();
        root.fill(&WHITE).map_err(plots::fail(path))?;
        let body = titled(&root, title, 17, path)?;
        let mut c = plots::chart(&body, &Frame::new(&x, &y), path)?;
        c.draw_series(pts.x.iter().zip(&pts.y).zip(&pts.category).map(|((&px, &py), cat)| {
            let col = match cat {
                Some(k) => color(*k as usize).to_rgba(),
                None => RGBColor(170, 170, 170).to_rgba(),
            };
            Circle::new((px as f64, py as f64), 2, col.filled())
        }))
        .map_err(plots::fail(path))?;
        root.present().map_err(plots::fail(path))?;
        Ok(())
    })?;
    Ok(true)
}

/// Draws every run's map; `t.json[i]` is the row of `rows[i]` (for its point's name).
pub fn write_maps(t: &Table, rows: &[Row], dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        let Some((_, bytes)) = r.files.iter().find(|(n, _)| n == "map.json") else { continue };
        let pts: MapPoints = serde_json::from_slice(bytes).map_err(|e| anyhow!("a damaged map of `{}`: {e}", r.run.model.name))?;
        let slug = |s: &str| s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect::<String>();
        let path = dir.join(format!("map-{}-{}-{}.svg", slug(&r.run.model.name), slug(&r.run.point_id), r.run.seed));
        let point = t.json.get(i).map_or(r.run.point_id.as_str(), plots::point_name);
        let title = format!("{} [{point}] seed {}: t-SNE map of {} items", r.run.model.name, r.run.seed, pts.x.len());
        if draw_map(&path, &title, &pts)? {
            out.push(path);
        }
    }
    Ok(out)
}

/// `model [point name] seed s` for a JSON row.
fn row_label(r: &Value) -> String {
    format!("{} [{}] seed {}", r["model"].as_str().unwrap_or("?"), plots::point_name(r), r["seed"])
}

/// The similarity histograms of every row, as densities over the bins' centres.
pub fn write_similarity(t: &Table, dir: &Path) -> Result<Option<PathBuf>> {
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
    if sims.is_empty() {
        return Ok(None);
    }
    let p = dir.join("similarity.svg");
    line_chart(&p, &format!("{}: cosine similarity of item pairs", t.title), "cosine similarity", "density", &sims)?;
    Ok(Some(p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::plots::svg;

    #[test]
    fn a_map_draws_every_point_and_names_its_axes() {
        let d = tempfile::tempdir().unwrap();
        let pts = MapPoints { x: vec![0.0, 1.0, 2.0], y: vec![1.0, 0.0, 2.0], category: vec![Some(0), Some(1), None], ..Default::default() };
        let p = d.path().join("m.svg");
        assert!(draw_map(&p, "map", &pts).unwrap());
        let s = std::fs::read_to_string(&p).unwrap();
        assert_eq!(svg::count(&s, "circle"), 3);
        svg::assert_axes(&s, "t-SNE dimension 1", "t-SNE dimension 2");
    }
}
