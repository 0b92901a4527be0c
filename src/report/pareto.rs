//! Recall / throughput trade-off plots of approximate-index sweeps, in the style of
//! ann-benchmarks: x = ANN recall (against exact flat search on the same queries, or a vectors
//! dataset's ground truth, at the largest cut-off), y = single-threaded queries per second on a log scale, one curve per index
//! kind through its Pareto-optimal points, dominated points drawn hollow. Written as SVG with
//! plotters (text stays `<text>`, so no font files are needed).
//!
//! Two plots:
//! - `results/<experiment>/pareto.svg` for an experiment whose rows carry `ANNRecall@K` and vary
//!   an index parameter (a search key such as `ef_search`, a build key, or the kind itself);
//! - `results/pareto-<dataset>.svg` when several experiments of one run share a dataset (the
//!   same data stage) and one has ANN rows: every experiment's points on one plot, written by
//!   whichever of their reports finishes last (when all their evaluations are available).
//!
//! Exact (`flat`) rows appear at recall 1, as the brute-force reference (at their measured
//! recall when they have one: on a vectors dataset every row is scored against the ground
//! truth).

use super::Table;
use crate::config::Experiment;
use anyhow::{Context, Result};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One row of a table on the plot.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// The curve it belongs to: the index kind (plus the model when several are plotted).
    pub curve: String,
    pub recall: f64,
    pub qps: f64,
    /// The varying index parameters, e.g. `ef_search=64`, shown beside frontier points.
    pub label: String,
    /// The configuration (model and sweep point) the row belongs to: its seeds' rows share it
    /// and are drawn as one point.
    pub group: String,
}

/// One configuration on the plot: the mean over its seeds' rows, and their range.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub curve: String,
    pub label: String,
    pub recall: f64,
    pub qps: f64,
    /// The seeds' lowest and highest recall (equal for one seed).
    pub recall_range: (f64, f64),
    pub qps_range: (f64, f64),
    pub seeds: usize,
}

/// The configurations of `points` (rows of one model and sweep point, over seeds), in the
/// order they first appear.
pub fn configurations(points: &[Point]) -> Vec<Config> {
    let mut order: Vec<(&str, &str)> = Vec::new();
    let mut members: BTreeMap<(&str, &str), Vec<&Point>> = BTreeMap::new();
    for p in points {
        let key = (p.curve.as_str(), p.group.as_str());
        if !members.contains_key(&key) {
            order.push(key);
        }
        members.entry(key).or_default().push(p);
    }
    order
        .into_iter()
        .map(|key| {
            let m = &members[&key];
            let n = m.len() as f64;
            let range = |f: fn(&Point) -> f64| m.iter().map(|p| f(p)).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
            Config {
                curve: m[0].curve.clone(),
                label: m[0].label.clone(),
                recall: m.iter().map(|p| p.recall).sum::<f64>() / n,
                qps: m.iter().map(|p| p.qps).sum::<f64>() / n,
                recall_range: range(|p| p.recall),
                qps_range: range(|p| p.qps),
                seeds: m.len(),
            }
        })
        .collect()
}

/// The `ANNRecall@K` column with the largest `K` among `rows`.
pub fn recall_column(rows: &[Value]) -> Option<(String, usize)> {
    rows.iter()
        .filter_map(|r| r["metrics"].as_object())
        .flat_map(|m| m.keys())
        .filter_map(|c| c.strip_prefix("ANNRecall@").and_then(|k| k.parse::<usize>().ok()))
        .max()
        .map(|k| (format!("ANNRecall@{k}"), k))
}

/// Whether an experiment's rows make a trade-off plot: some row was scored against exact
/// search and some index parameter (or the index kind) differs between rows.
pub fn wants_plot(rows: &[Value]) -> bool {
    recall_column(rows).is_some() && rows.iter().any(|r| r["config"].as_object().is_some_and(|c| c.keys().any(|k| k.starts_with("index."))))
}

/// The plotted points of table rows: approximate rows at their ANN recall in column `col`,
/// exact (`flat`) rows at recall 1; rows without a throughput (graph tasks) are left out.
pub fn points(rows: &[Value], col: &str) -> Vec<Point> {
    let models: BTreeSet<&str> = rows.iter().filter_map(|r| r["model"].as_str()).collect();
    rows.iter()
        .filter_map(|r| {
            let kind = r["index"]["kind"].as_str()?;
            let qps = r["latency"]["qps_single"].as_f64().filter(|q| q.is_finite() && *q > 0.0)?;
            // Flat rows are at recall 1 unless they were measured (task `ann` scores them
            // against the dataset's ground truth too).
            let recall = match r["metrics"][col].as_f64() {
                Some(x) => x,
                None if kind == "flat" => 1.0,
                None => return None,
            };
            let curve = if models.len() > 1 { format!("{kind} ({})", r["model"].as_str().unwrap_or("?")) } else { kind.to_string() };
            let label = match r["config"].as_object() {
                _ if kind == "flat" => "exact".to_string(),
                Some(c) => c
                    .iter()
                    .filter(|(k, v)| k.starts_with("index.") && *k != "index.kind" && v.as_str() != Some("-"))
                    .map(|(k, v)| format!("{}={}", &k["index.".len()..], v.as_str().map_or_else(|| v.to_string(), str::to_string)))
                    .collect::<Vec<_>>()
                    .join(" "),
                None => String::new(),
            };
            let group = format!("{} {}", r["model"].as_str().unwrap_or("?"), r["point"].as_str().unwrap_or("?"));
            Some(Point { curve, recall, qps, label, group })
        })
        .collect()
}

/// Indices of the Pareto-optimal points (no other point has both at least the recall and more
/// queries/s), in increasing recall: the ann-benchmarks frontier.
pub fn frontier(points: &[Point]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..points.len()).collect();
    order.sort_by(|&a, &b| points[b].recall.total_cmp(&points[a].recall).then(points[b].qps.total_cmp(&points[a].qps)));
    let mut best = f64::NEG_INFINITY;
    let mut keep = Vec::new();
    for i in order {
        if points[i].qps > best {
            best = points[i].qps;
            keep.push(i);
        }
    }
    keep.reverse();
    keep
}

/// Curve colours (the Tableau 10), in curve order.
pub(crate) const PALETTE: [plotters::style::RGBColor; 10] = {
    use plotters::style::RGBColor as C;
    [
        C(31, 119, 180),
        C(255, 127, 14),
        C(44, 160, 44),
        C(214, 39, 40),
        C(148, 103, 189),
        C(140, 86, 75),
        C(227, 119, 194),
        C(127, 127, 127),
        C(188, 189, 34),
        C(23, 190, 207),
    ]
};

fn qps_label(q: f64) -> String {
    if q >= 1e6 {
        format!("{}M", trim_num(q / 1e6))
    } else if q >= 1e3 {
        format!("{}k", trim_num(q / 1e3))
    } else {
        trim_num(q)
    }
}

fn trim_num(x: f64) -> String {
    let s = format!("{x:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// A label's box in pixels: (left, top, right, bottom).
type Bbox = (f64, f64, f64, f64);

fn overlaps(a: Bbox, b: Bbox) -> bool {
    a.0 < b.2 && b.0 < a.2 && a.1 < b.3 && b.1 < a.3
}

/// A label placed by [`place_labels`]: which point, what text, and its box.
#[derive(Clone, Debug, PartialEq)]
pub struct Placed {
    pub point: usize,
    pub text: String,
    pub bbox: Bbox,
}

/// The short form of a label, its values alone (`ef_search=64 nprobe=8` -> `64,8`).
fn short_label(label: &str) -> String {
    label.split_whitespace().map(|kv| kv.split_once('=').map_or(kv, |(_, v)| v)).collect::<Vec<_>>().join(",")
}

/// Greedy placement of `labels[i]` (by priority) beside pixel point `at[labels[i].0]`: the
/// first of six offsets (right above, right below, left above, left below, above, below)
/// where the box stays inside `inside` and overlaps no marker and no label placed before;
/// then the same with the label's short form; else the label is left out. Returns the
/// placed labels and how many were left out.
pub fn place_labels(at: &[(f64, f64)], labels: &[(usize, String)], font: f64, inside: Bbox) -> (Vec<Placed>, usize) {
    let marker = |&(x, y): &(f64, f64)| (x - 5.0, y - 5.0, x + 5.0, y + 5.0);
    let mut taken: Vec<Bbox> = at.iter().map(marker).collect();
    let mut placed = Vec::new();
    let mut left_out = 0;
    for (i, label) in labels {
        let (px, py) = at[*i];
        let fits = |text: &str, taken: &[Bbox]| -> Option<Bbox> {
            let (w, h) = (crate::report::plots::text_width(text, font), font);
            [
                (px + 7.0, py - 3.0 - h),
                (px + 7.0, py + 3.0),
                (px - 7.0 - w, py - 3.0 - h),
                (px - 7.0 - w, py + 3.0),
                (px - w / 2.0, py - 8.0 - h),
                (px - w / 2.0, py + 8.0),
            ]
            .into_iter()
            .map(|(x, y)| (x, y, x + w, y + h))
            .find(|b| b.0 >= inside.0 && b.1 >= inside.1 && b.2 <= inside.2 && b.3 <= inside.3 && !taken.iter().any(|t| overlaps(*t, *b)))
        };
        let short = short_label(label);
        let found = fits(label, &taken).map(|b| (label.clone(), b)).or_else(|| fits(&short, &taken).map(|b| (short.clone(), b)));
        match found {
            Some((text, bbox)) => {
                taken.push(bbox);
                placed.push(Placed { point: *i, text, bbox });
            }
            None => left_out += 1,
        }
    }
    (placed, left_out)
}

/// Draws `points` to an SVG file at `path`: one point per configuration (the mean over its
/// seeds, the seeds' range as a bar along each axis), each curve through its Pareto-optimal
/// configurations, dominated ones hollow, labels where they collide with nothing, the legend
/// beside the plot.
pub fn render(path: &Path, title: &str, x_desc: &str, points: &[Point]) -> Result<()> {
    use crate::report::plots::{self, fail, Entry, Mark};
    use plotters::prelude::*;
    use plotters::style::text_anchor::{HPos, Pos, VPos};
    anyhow::ensure!(!points.is_empty(), "nothing to plot");
    let configs = configurations(points);
    let rmin = configs.iter().map(|p| p.recall_range.0).fold(f64::INFINITY, f64::min);
    let span = (1.0 - rmin).max(0.05);
    let (xmin, xmax) = ((rmin - 0.06 * span).max(0.0), 1.0 + 0.03 * span);
    let qmin = configs.iter().map(|p| p.qps_range.0).fold(f64::INFINITY, f64::min);
    let qmax = configs.iter().map(|p| p.qps_range.1).fold(0.0, f64::max);
    let (ymin, ymax) = (qmin / 1.6, qmax * 1.6);

    let mut curves: BTreeMap<&str, Vec<&Config>> = BTreeMap::new();
    for c in &configs {
        curves.entry(c.curve.as_str()).or_default().push(c);
    }
    let mut entries: Vec<Entry> = curves.keys().enumerate().map(|(i, n)| Entry::new(*n, plots::color(i), Mark::Line)).collect();
    if configs.iter().any(|c| c.seeds > 1) {
        entries.push(Entry::new("bars: range over seeds", plots::GREY, Mark::Bar));
    }
    let lw = plots::legend_width(&entries, 13).max(180);
    plots::via_tmp(path, |tmp| {
        let root = SVGBackend::new(tmp, (960 + lw, 640)).into_drawing_area();
        root.fill(&WHITE).map_err(fail(path))?;
        let body = plots::titled(&root, title, 18, path)?;
        let (plot, side) = body.split_horizontally(960);
        let mut chart = ChartBuilder::on(&plot)
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d(xmin..xmax, (ymin..ymax).log_scale())
            .map_err(fail(path))?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc("queries/s, single-threaded (log scale)")
            .x_label_formatter(&|x| format!("{x:.2}"))
            .y_label_formatter(&|y| qps_label(*y))
            .light_line_style(RGBColor(240, 240, 240))
            .x_max_light_lines(1)
            .y_max_light_lines(1)
            .label_style((plots::FONT, 13))
            .axis_desc_style((plots::FONT, 14))
            .draw()
            .map_err(fail(path))?;
        // Labels of frontier points, placed once every point is known.
        let mut at: Vec<(f64, f64)> = Vec::new();
        let mut labels: Vec<(usize, String)> = Vec::new();
        let mut label_color: Vec<RGBColor> = Vec::new();
        for (ci, (_, cs)) in curves.iter().enumerate() {
            let color = plots::color(ci);
            let pts: Vec<Point> =
                cs.iter().map(|c| Point { curve: c.curve.clone(), recall: c.recall, qps: c.qps, label: c.label.clone(), group: String::new() }).collect();
            let front = frontier(&pts);
            let on_front: BTreeSet<usize> = front.iter().copied().collect();
            // The seeds' ranges: recall along x, queries/s along y.
            for c in cs.iter().filter(|c| c.seeds > 1) {
                for (a, b) in [((c.recall_range.0, c.qps), (c.recall_range.1, c.qps)), ((c.recall, c.qps_range.0), (c.recall, c.qps_range.1))] {
                    if a != b {
                        chart.draw_series(std::iter::once(PathElement::new(vec![a, b], color.mix(0.7).stroke_width(1)))).map_err(fail(path))?;
                    }
                }
            }
            // Dominated configurations: hollow markers, no line.
            chart
                .draw_series(
                    pts.iter().enumerate().filter(|(i, _)| !on_front.contains(i)).map(|(_, p)| Circle::new((p.recall, p.qps), 4, color.stroke_width(1))),
                )
                .map_err(fail(path))?;
            let line: Vec<(f64, f64)> = front.iter().map(|&i| (pts[i].recall, pts[i].qps)).collect();
            chart.draw_series(LineSeries::new(line.clone(), color.stroke_width(2))).map_err(fail(path))?;
            chart.draw_series(line.iter().map(|&c| Circle::new(c, 4, color.filled()))).map_err(fail(path))?;
            for (i, p) in pts.iter().enumerate() {
                let (x, y) = chart.backend_coord(&(p.recall, p.qps));
                if on_front.contains(&i) && !p.label.is_empty() {
                    labels.push((at.len(), p.label.clone()));
                    label_color.push(color);
                }
                at.push((x as f64, y as f64));
            }
        }
        let (xr, yr) = chart.plotting_area().get_pixel_range();
        let inside = (xr.start as f64, yr.start as f64, xr.end as f64, yr.end as f64);
        let (placed, left_out) = place_labels(&at, &labels, 11.0, inside);
        for p in &placed {
            let color = labels.iter().position(|(i, _)| *i == p.point).map_or(BLACK, |j| label_color[j]);
            let style = (plots::FONT, 11).into_font().color(&color).pos(Pos::new(HPos::Left, VPos::Top));
            root.draw(&Text::new(p.text.clone(), (p.bbox.0 as i32, p.bbox.1 as i32), style)).map_err(fail(path))?;
        }
        plots::legend(&side, 40, &entries, 13, path)?;
        if left_out > 0 {
            let (_, h) = side.dim_in_pixel();
            let note = format!("{left_out} label{} left out (overlap)", if left_out == 1 { "" } else { "s" });
            side.draw(&Text::new(note, (8, h as i32 - 24), (plots::FONT, 12).into_font().color(&plots::GREY))).map_err(fail(path))?;
        }
        root.present().map_err(fail(path))?;
        Ok(())
    })
}

/// A short name of experiment `ei`'s dataset for titles and file names, e.g. `synthetic
/// 20000 items x 5000 users` / `movielens ml-100k`.
fn dataset_label(exp: &Experiment) -> String {
    let Some(run) = exp.runs.first() else { return "dataset".into() };
    let d = &run.dataset;
    let p = &d.params;
    let mut s = d.kind.kind.to_string();
    // `path` of the interaction and graph kinds, `file` or `base` of a vectors dataset.
    if let Some(path) = p["path"].as_str().or(p["file"].as_str()).or(p["base"].as_str()) {
        let stem = Path::new(path).file_stem().and_then(|s| s.to_str()).unwrap_or(path);
        s += &format!(" {stem}");
    } else if let (Some(i), Some(u)) = (p["n_items"].as_u64(), p["n_users"].as_u64()) {
        s += &format!(" {i} items x {u} users");
    }
    s
}

/// The x axis: ANN recall against what. On a vectors dataset (task `ann`) the file's ground
/// truth (or exact search done once in the data stage); else exact search in the eval stage.
fn recall_axis(exp: &Experiment, col: &str) -> String {
    if exp.runs.iter().any(|r| r.metrics.task.has("ann")) {
        format!("{col} (vs the dataset's true neighbours)")
    } else {
        format!("{col} (vs exact search on the same queries)")
    }
}

fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

/// Writes `<dir>/pareto.svg` for experiment `ei` when its table calls for one.
pub fn write_experiment_plot(exp: &Experiment, table: &Table, dir: &Path) -> Result<Option<PathBuf>> {
    if !wants_plot(&table.json) {
        return Ok(None);
    }
    let (col, _) = recall_column(&table.json).expect("checked by wants_plot");
    let pts = points(&table.json, &col);
    if pts.is_empty() {
        return Ok(None);
    }
    let path = dir.join("pareto.svg");
    let title = format!("{} on {}: recall vs queries/s", table.title, dataset_label(exp));
    render(&path, &title, &recall_axis(exp, &col), &pts)?;
    Ok(Some(path))
}

/// Writes `<results_dir>/pareto-<dataset>.svg` over the finished experiments of the run that
/// share `exp`'s dataset (`group`, their tables, `exp` included; the pipeline hands them over
/// once all are finished, so the last of their reports writes the complete plot).
/// Experiments with approximate indexes contribute their points, exact ones their brute-force
/// reference.
pub fn write_combined_plot(exp: &Experiment, group: &[(&Experiment, Table)]) -> Result<Option<PathBuf>> {
    if group.len() < 2 {
        return Ok(None);
    }
    let rows: Vec<Value> = group.iter().flat_map(|(_, t)| t.json.iter().cloned()).collect();
    let Some((col, _)) = recall_column(&rows) else { return Ok(None) };
    let pts = points(&rows, &col);
    if pts.iter().filter(|p| p.label != "exact").count() < 2 {
        return Ok(None);
    }
    let ds = dataset_label(exp);
    let dir = &exp.section.results_dir;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    let path = dir.join(format!("pareto-{}.svg", slug(&ds)));
    let names: Vec<&str> = group.iter().map(|(e, _)| e.section.name.as_str()).collect();
    let title = format!("{ds}: recall vs queries/s ({})", names.join(", "));
    render(&path, &title, &recall_axis(exp, &col), &pts)?;
    Ok(Some(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(recall: f64, qps: f64) -> Point {
        Point { curve: "hnsw".into(), recall, qps, label: format!("ef_search={}", (qps / 100.0) as u64), group: format!("{recall} {qps}") }
    }

    #[test]
    fn frontier_keeps_only_undominated_points_in_recall_order() {
        // (0.9, 500) is dominated by (0.95, 800); (0.99, 800) ties qps with a higher recall
        // point, so (0.95, 800) is dominated too.
        let pts = vec![p(0.5, 5000.0), p(0.9, 500.0), p(0.95, 800.0), p(0.99, 800.0), p(1.0, 100.0), p(0.7, 6000.0)];
        assert_eq!(frontier(&pts), vec![5, 3, 4]);
        assert!(frontier(&[]).is_empty());
    }

    #[test]
    fn points_take_the_largest_cutoff_and_put_flat_at_one() {
        let rows = vec![
            json!({"model": "m", "index": {"kind": "hnsw"}, "config": {"index.kind": "hnsw", "index.ef_search": "16", "index.nprobe": "-"},
                   "metrics": {"ANNRecall@10": 0.8, "ANNRecall@50": 0.7}, "latency": {"qps_single": 1000.0}}),
            json!({"model": "m", "index": {"kind": "flat"}, "config": {"index.kind": "flat"}, "metrics": {}, "latency": {"qps_single": 50.0}}),
            json!({"model": "m", "index": {"kind": "hnsw"}, "config": {}, "metrics": {"ANNRecall@50": 0.9}, "latency": {"qps_single": 0.0}}),
        ];
        assert!(wants_plot(&rows));
        let (col, k) = recall_column(&rows).unwrap();
        assert_eq!((col.as_str(), k), ("ANNRecall@50", 50));
        let pts = points(&rows, &col);
        assert_eq!(pts.len(), 2, "a row without throughput is left out");
        assert_eq!(pts[0], Point { curve: "hnsw".into(), recall: 0.7, qps: 1000.0, label: "ef_search=16".into(), group: "m ?".into() });
        assert_eq!((pts[1].recall, pts[1].label.as_str()), (1.0, "exact"));
        assert!(!wants_plot(&rows[1..2]), "no ANN recall, no plot");
    }

    #[test]
    fn render_writes_an_svg_with_text_labels() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("p.svg");
        let mut pts = vec![p(0.6, 20000.0), p(0.85, 9000.0), p(0.97, 3000.0), p(0.9, 2000.0)];
        pts.push(Point { curve: "flat".into(), recall: 1.0, qps: 400.0, label: "exact".into(), group: "flat".into() });
        render(&path, "demo <&> title", "ANNRecall@10", &pts).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.contains("<svg") && svg.contains("<polyline"), "{svg}");
        assert!(svg.contains("<text") && svg.contains("ANNRecall@10") && svg.contains("demo &lt;&amp;&gt; title"));
        let texts: Vec<&str> = svg.split("<text").skip(1).filter_map(|t| t.split_once('>')?.1.split_once("</text>").map(|(b, _)| b.trim())).collect();
        assert!(texts.contains(&"hnsw") && texts.contains(&"flat"), "legend names the curves: {texts:?}");
        assert_eq!(qps_label(20000.0), "20k");
        assert_eq!(qps_label(2500000.0), "2.5M");
        assert_eq!(slug("synthetic 20000 items x 5000 users"), "synthetic-20000-items-x-5000-users");
        crate::report::plots::svg::assert_axes(&svg, "ANNRecall@10", "queries/s, single-threaded (log scale)");
    }

    #[test]
    fn seeds_of_a_configuration_are_one_point_with_their_range() {
        let seed = |recall: f64, qps: f64, group: &str| Point { curve: "hnsw".into(), recall, qps, label: format!("ef_search={group}"), group: group.into() };
        let pts = vec![seed(0.8, 1000.0, "16"), seed(0.9, 500.0, "64"), seed(0.82, 1200.0, "16"), seed(0.92, 400.0, "64"), seed(0.84, 800.0, "16")];
        let c = configurations(&pts);
        assert_eq!(c.len(), 2);
        assert_eq!((c[0].seeds, c[0].recall_range, c[0].qps_range), (3, (0.8, 0.84), (800.0, 1200.0)));
        assert!((c[0].recall - 0.82).abs() < 1e-12 && (c[0].qps - 1000.0).abs() < 1e-9);
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("p.svg");
        render(&path, "seeds", "ANNRecall@10", &pts).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        // Two configurations: two filled markers (both on the frontier), not five.
        let filled = svg.split("<circle").skip(1).filter(|c| c.contains("fill=\"#1F77B4\"")).count();
        assert_eq!(filled, 2, "{svg}");
        if let Ok(keep) = std::env::var("KEEP_FIGURES") {
            std::fs::copy(&path, Path::new(&keep).join("pareto-seeds.svg")).unwrap();
        }
        let texts: Vec<String> = crate::report::plots::svg::texts(&svg).into_iter().map(|t| t.body).collect();
        assert!(texts.iter().any(|t| t == "bars: range over seeds") && texts.iter().any(|t| t == "ef_search=16"), "{texts:?}");
    }

    #[test]
    fn labels_never_overlap_and_shorten_or_give_way() {
        // Ten points on top of each other: a few labels fit around them, the rest give way.
        let at: Vec<(f64, f64)> = (0..10).map(|i| (100.0 + i as f64, 100.0)).collect();
        let labels: Vec<(usize, String)> = (0..10).map(|i| (i, format!("ef_search={i}"))).collect();
        let (placed, left_out) = place_labels(&at, &labels, 11.0, (0.0, 0.0, 400.0, 400.0));
        assert_eq!(placed.len() + left_out, 10);
        assert!(left_out > 0 && !placed.is_empty());
        for (i, a) in placed.iter().enumerate() {
            assert!(a.bbox.0 >= 0.0 && a.bbox.2 <= 400.0);
            for b in &placed[i + 1..] {
                assert!(!overlaps(a.bbox, b.bbox), "{a:?} {b:?}");
            }
        }
        // Too little room for the long form: the values alone.
        let (placed, _) = place_labels(&[(50.0, 50.0)], &[(0, "ef_search=64 nprobe=8".into())], 11.0, (0.0, 0.0, 100.0, 100.0));
        assert_eq!(placed[0].text, "64,8");
    }
}
