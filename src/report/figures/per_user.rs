//! The spread behind a mean (`per-user-<metric>.svg`): one horizontal box per configuration
//! of the per-user values of NDCG at the smallest cut-off (Recall where NDCG was not asked
//! for), so a reader sees whether a model is better for most users or for a few. Box: the
//! quartiles, with the median; whiskers: the furthest value within 1.5 IQR of the box; a
//! diamond: the mean (the table's number). Values of every seed are pooled (one value per
//! user and seed). Points beyond the whiskers are not drawn: a large catalogue has thousands.

use crate::eval::PerUser;
use crate::report::plots::{self, color, titled, via_tmp, Axis, Frame, FONT};
use crate::report::Table;
use anyhow::Result;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// Boxes beyond this many are left out (the title says how many).
pub const MAX_BOXES: usize = 16;

/// The per-user column a box plot of `metrics` (a table's metric columns, or what an
/// experiment asks for) draws: `NDCG@k` at the smallest k, else `Recall@k`.
pub fn column<'a>(metrics: impl IntoIterator<Item = &'a str> + Clone) -> Option<String> {
    ["NDCG", "Recall"].iter().find_map(|fam| {
        metrics.clone().into_iter().filter_map(|c| c.strip_prefix(fam)?.strip_prefix('@')?.parse::<usize>().ok()).min().map(|k| format!("{fam}@{k}"))
    })
}

/// The five numbers of a box plot (and the mean).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    pub whisker_lo: f64,
    pub q1: f64,
    pub median: f64,
    pub q3: f64,
    pub whisker_hi: f64,
    pub mean: f64,
}

/// The quantile `q` of sorted `v` (linear between order statistics, as numpy's default).
fn quantile(v: &[f64], q: f64) -> f64 {
    let h = (v.len() - 1) as f64 * q;
    let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
    v[lo] + (h - lo as f64) * (v[hi] - v[lo])
}

/// The box of the finite `values`, `None` without any.
pub fn summary(values: &[f64]) -> Option<Summary> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let (q1, median, q3) = (quantile(&v, 0.25), quantile(&v, 0.5), quantile(&v, 0.75));
    let iqr = q3 - q1;
    let whisker_lo = v.iter().copied().find(|&x| x >= q1 - 1.5 * iqr).unwrap_or(q1);
    let whisker_hi = v.iter().rev().copied().find(|&x| x <= q3 + 1.5 * iqr).unwrap_or(q3);
    Some(Summary { whisker_lo, q1, median, q3, whisker_hi, mean: v.iter().sum::<f64>() / v.len() as f64 })
}

/// Writes the box plot when some row has per-user values of the chosen column; `per_user[i]`
/// belongs to the table's JSON row `i`.
pub fn write(t: &Table, per_user: &[Option<&PerUser>], dir: &Path) -> Result<Option<PathBuf>> {
    let Some(col) = column(t.metric_cols.iter().map(String::as_str)) else { return Ok(None) };
    let values = |i: usize| per_user.get(i).copied().flatten().and_then(|p| p.columns.get(&col));
    let all = plots::groups(t, |_| true);
    let mut boxes: Vec<(String, Summary, usize)> = Vec::new();
    for g in &all {
        let pooled: Vec<f64> = g.rows.iter().filter_map(|&i| values(i)).flatten().copied().collect();
        if let Some(s) = summary(&pooled) {
            // Ranking metrics are zero for most users at small cut-offs (a collapsed box): the
            // share above zero says how many the model reached at all.
            let above = pooled.iter().filter(|&&v| v > 0.0).count() as f64 / pooled.len() as f64;
            boxes.push((format!("{} ({:.0}% > 0)", plots::shorten(&g.label, 36), 100.0 * above), s, pooled.len()));
        }
    }
    if boxes.is_empty() {
        return Ok(None);
    }
    let total = boxes.len();
    boxes.truncate(MAX_BOXES);
    let mut title = format!("{}: {col} per user (all seeds pooled)", t.title);
    if total > boxes.len() {
        title += &format!(", first {} of {total} configurations", boxes.len());
    }
    // The first configuration at the top.
    let names: Vec<String> = boxes.iter().rev().map(|(l, _, _)| l.clone()).collect();
    let y = Axis::categories("configuration", names);
    let Some(x) = Axis::fit(&format!("{col} of one user"), boxes.iter().flat_map(|(_, s, _)| [s.whisker_lo, s.whisker_hi, s.mean]), true) else {
        return Ok(None);
    };
    let path = dir.join(format!("per-user-{}.svg", plots::slug(&col)));
    let h = 120 + 42 * boxes.len() as u32;
    via_tmp(&path, |tmp| {
        let root = SVGBackend::new(tmp, (900, h)).into_drawing_area();
        root.fill(&WHITE).map_err(plots::fail(&path))?;
        let body = titled(&root, &title, 18, &path)?;
        let (head, rest) = body.split_vertically(22);
        let key = "box: quartiles and median; whiskers: furthest user within 1.5 IQR; diamond: mean; (n% > 0): users above zero";
        let style = (FONT, 13)
            .into_font()
            .color(&plots::GREY)
            .pos(plotters::style::text_anchor::Pos::new(plotters::style::text_anchor::HPos::Center, plotters::style::text_anchor::VPos::Center));
        head.draw(&Text::new(key, (450, 10), style)).map_err(plots::fail(&path))?;
        let mut c = plots::chart(&rest, &Frame::new(&x, &y), &path)?;
        let n = boxes.len();
        for (i, (_, s, _)) in boxes.iter().enumerate() {
            let yc = (n - 1 - i) as f64 + 0.5;
            let ink = color(i);
            let line = ink.stroke_width(1);
            c.draw_series(std::iter::once(Rectangle::new([(s.q1, yc - 0.28), (s.q3, yc + 0.28)], ink.mix(0.25).filled()))).map_err(plots::fail(&path))?;
            c.draw_series(std::iter::once(Rectangle::new([(s.q1, yc - 0.28), (s.q3, yc + 0.28)], line))).map_err(plots::fail(&path))?;
            c.draw_series(std::iter::once(PathElement::new(vec![(s.median, yc - 0.28), (s.median, yc + 0.28)], ink.stroke_width(2))))
                .map_err(plots::fail(&path))?;
            for (from, to) in [(s.whisker_lo, s.q1), (s.q3, s.whisker_hi)] {
                c.draw_series(std::iter::once(PathElement::new(vec![(from, yc), (to, yc)], line))).map_err(plots::fail(&path))?;
            }
            for w in [s.whisker_lo, s.whisker_hi] {
                c.draw_series(std::iter::once(PathElement::new(vec![(w, yc - 0.14), (w, yc + 0.14)], line))).map_err(plots::fail(&path))?;
            }
            let diamond = EmptyElement::at((s.mean, yc)) + Polygon::new(vec![(0, -6), (6, 0), (0, 6), (-6, 0)], BLACK.filled());
            c.draw_series(std::iter::once(diamond)).map_err(plots::fail(&path))?;
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

    #[test]
    fn quartiles_whiskers_and_mean_by_hand() {
        // 1..=9 and an outlier: q1 = 3.25, q3 = 7.75 (numpy), IQR 4.5, whiskers within
        // [-3.5, 14.5]: 1 and 9; 100 stays out.
        let v: Vec<f64> = (1..=9).map(f64::from).chain([100.0]).collect();
        let s = summary(&v).unwrap();
        assert_eq!((s.q1, s.median, s.q3), (3.25, 5.5, 7.75));
        assert_eq!((s.whisker_lo, s.whisker_hi), (1.0, 9.0));
        assert!((s.mean - 14.5).abs() < 1e-12);
        assert!(summary(&[f64::NAN]).is_none());
        assert_eq!(column(["Recall@20", "NDCG@20", "NDCG@5", "Recall@5"]), Some("NDCG@5".into()));
        assert_eq!(column(["Recall@20", "Recall@10", "exact NDCG@5"]), Some("Recall@10".into()));
        assert_eq!(column(["Macro-F1"]), None);
    }

    #[test]
    fn one_box_per_configuration_from_the_per_user_values() {
        let d = tempfile::tempdir().unwrap();
        let mut json = Vec::new();
        let mut pus = Vec::new();
        for seed in [1, 2] {
            for (m, p, base) in [("popularity", "base", 0.0), ("item2vec", "a", 0.3), ("item2vec", "b", 0.5)] {
                json.push(json!({"model": m, "point": p, "point_name": format!("window={p}"), "seed": seed, "metrics": {"NDCG@10": base}}));
                let vals: Vec<f64> = (0..50).map(|u| base + 0.004 * u as f64).collect();
                pus.push(PerUser { users: vec![], n_relevant: vec![], columns: [("NDCG@10".to_string(), vals)].into() });
            }
        }
        json.push(json!({"model": "failed", "point": "base", "seed": 1, "metrics": {}}));
        let t = Table { title: "users".into(), json, metric_cols: vec!["Recall@10".into(), "NDCG@10".into(), "NDCG@20".into()], ..Default::default() };
        let refs: Vec<Option<&PerUser>> = pus.iter().map(Some).chain([None]).collect();
        let p = write(&t, &refs, d.path()).unwrap().expect("a box plot");
        assert_eq!(p.file_name().unwrap(), "per-user-NDCG_10.svg");
        let s = std::fs::read_to_string(&p).unwrap();
        // Per box: a filled and an outlined rectangle; a mean diamond.
        assert_eq!(svg::count(&s, "rect") - 1, 2 * 3, "three boxes besides the background");
        assert_eq!(svg::count(&s, "polygon"), 3);
        let texts: Vec<String> = svg::texts(&s).into_iter().map(|t| t.body).collect();
        // Popularity's first user scores 0: 49 of 50 above zero.
        for name in ["popularity (98% > 0)", "item2vec [window=a] (100% > 0)", "item2vec [window=b] (100% > 0)"] {
            assert!(texts.iter().any(|t| t == name), "{name}: {texts:?}");
        }
        assert!(!texts.iter().any(|t| t.starts_with("failed")), "no values, no box");
        svg::assert_axes(&s, "NDCG@10 of one user", "configuration");
        // Without per-user values: no figure.
        assert!(write(&t, &[], d.path()).unwrap().is_none());
    }
}
