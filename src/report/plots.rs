//! What every figure of the report shares: SVG through plotters (text stays `<text>`, so the
//! HTML page inlines a figure without font files), written under a temporary name so a reader
//! never sees half a plot; axes whose ticks this module chooses (so a key swept over integers
//! reads `2, 4, 8`, never `2.0, 3.0`); legends in their own area beside the data, never over
//! it; and the grouping of a table's rows into configurations (model x sweep point, one row per
//! seed) that every figure draws as mean and spread over seeds.
//!
//! The figures themselves live in [`super::figures`], one file per kind.

use super::pareto::PALETTE;
use super::Table;
use anyhow::{anyhow, Result};
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::Shift;
use plotters::prelude::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// One line of a chart.
pub struct Line {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

/// A drawing area of an SVG figure.
pub type Area<'b> = DrawingArea<SVGBackend<'b>, Shift>;
/// Both axes of every chart: a linear range with the ticks [`Axis`] chose.
pub type Coord = Cartesian2d<Scale, Scale>;
/// A chart on an [`Area`].
pub type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Coord>;

/// The font every figure uses (a generic family: no font files, the browser picks one).
pub const FONT: &str = "sans-serif";

/// Turns a plotters error into one that names the file being drawn.
pub fn fail<E: std::fmt::Display>(path: &Path) -> impl Fn(E) -> anyhow::Error + '_ {
    move |e| anyhow!("plotting `{}`: {e}", path.display())
}

/// Writes through a temporary name, so a reader never sees half a plot; two reports of one
/// run may draw the same combined plot, hence the sequence number.
pub fn via_tmp(path: &Path, draw: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("plot.svg");
    let tmp = path.with_file_name(format!(".{name}.{}-{seq}.tmp", std::process::id()));
    crate::interrupt::register(&tmp);
    let r = draw(&tmp).and_then(|_| std::fs::rename(&tmp, path).map_err(|e| anyhow!("cannot write `{}`: {e}", path.display())));
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    crate::interrupt::unregister(&tmp);
    r
}

/// A file-name-safe form of a column or key (`Recall@10` -> `Recall_10`).
pub fn slug(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' { c } else { '_' }).collect()
}

/// The name a person reads for a row's sweep point: `point_name` (`window=5`, `base`) where
/// the row has one, else the point's short hash id.
pub fn point_name(r: &Value) -> &str {
    r["point_name"].as_str().or_else(|| r["point"].as_str()).unwrap_or("?")
}

/// Roughly how wide `s` is in pixels at font size `size` (the SVG is measured by whoever
/// renders it; this is for layout only: legend widths, label collisions).
pub fn text_width(s: &str, size: f64) -> f64 {
    s.chars().count() as f64 * size * 0.56
}

/// `s` cut to at most `n` characters, with an ellipsis when cut.
pub fn shorten(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n.saturating_sub(1)).collect::<String>() + "…"
    }
}

/// Mean and sample standard deviation of the finite values of `xs`.
pub fn mean_std(xs: &[f64]) -> (f64, f64) {
    let v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
    super::aggregate::mean_std(&v)
}

/// One configuration of a table: a model at one sweep point, with its rows (one per seed).
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    pub model: String,
    pub point: String,
    /// What a legend or panel calls it: the model alone when the table has it at one point,
    /// else `model [point name]`.
    pub label: String,
    /// Indices into the table's JSON rows, in table order.
    pub rows: Vec<usize>,
}

/// The configurations of the rows that `keep` accepts, in the order they first appear.
pub fn groups(t: &Table, keep: impl Fn(&Value) -> bool) -> Vec<Group> {
    let mut out: Vec<Group> = Vec::new();
    let mut points: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    for (i, r) in t.json.iter().enumerate().filter(|(_, r)| keep(r)) {
        let (m, p) = (r["model"].as_str().unwrap_or("?").to_string(), r["point"].as_str().unwrap_or("?").to_string());
        points.entry(m.clone()).or_default().insert(p.clone());
        match out.iter_mut().find(|g| g.model == m && g.point == p) {
            Some(g) => g.rows.push(i),
            None => out.push(Group { label: format!("{m} [{}]", point_name(r)), model: m, point: p, rows: vec![i] }),
        }
    }
    for g in &mut out {
        if points[&g.model].len() == 1 {
            g.label = g.model.clone();
        }
    }
    out
}

/// A row's value of metric column `col`, when it has a finite one.
pub fn metric(r: &Value, col: &str) -> Option<f64> {
    r["metrics"][col].as_f64().filter(|x| x.is_finite())
}

/// How tick labels read.
#[derive(Clone, Debug, PartialEq)]
pub enum Ticks {
    /// Fixed decimals (`0.05, 0.10`).
    Decimals(usize),
    /// Exactly the values given, each printed as briefly as it reads (`2, 4`, `0.5, 1`).
    Values,
    /// Names at the ticks `0.5, 1.5, ...` (categories on a `0..n` range).
    Names(Vec<String>),
}

/// One axis: its range, its ticks and its title.
#[derive(Clone, Debug)]
pub struct Axis {
    pub lo: f64,
    pub hi: f64,
    pub ticks: Vec<f64>,
    pub labels: Ticks,
    pub title: String,
}

/// A step of 1, 2, 2.5 or 5 times a power of ten that cuts `span` into about `n` parts.
fn nice_step(span: f64, n: f64) -> f64 {
    let raw = (span / n).max(1e-12);
    let p = 10f64.powf(raw.log10().floor());
    let m = [1.0, 2.0, 2.5, 5.0, 10.0].into_iter().find(|m| m * p >= raw).unwrap_or(10.0);
    m * p
}

/// The shortest reading of `x` (`2`, `0.5`, `1e-5` kept short).
pub fn brief(x: f64) -> String {
    if x == x.round() && x.abs() < 1e15 {
        return format!("{x:.0}");
    }
    let s = format!("{x:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

impl Axis {
    /// A range around `values` (5% of padding each side; from 0 when `from_zero` and every
    /// value is positive) with about six round ticks; `None` without a finite value.
    pub fn fit(title: &str, values: impl IntoIterator<Item = f64>, from_zero: bool) -> Option<Axis> {
        let (mut lo, mut hi) = values.into_iter().filter(|v| v.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
        if !lo.is_finite() {
            return None;
        }
        if from_zero && lo > 0.0 {
            lo = 0.0;
        }
        let pad = if hi > lo { 0.05 * (hi - lo) } else { lo.abs().max(1.0) * 0.1 };
        (lo, hi) = (if from_zero && lo == 0.0 { 0.0 } else { lo - pad }, hi + pad);
        let step = nice_step(hi - lo, 5.0);
        let first = (lo / step).ceil() as i64;
        let last = (hi / step).floor() as i64;
        let ticks: Vec<f64> = (first..=last).map(|i| i as f64 * step).map(|t| if t.abs() < step * 1e-9 { 0.0 } else { t }).collect();
        // Enough decimals to tell neighbouring ticks apart (2.5 x 10^e needs one more).
        let mut d = (-step.log10().floor()).max(0.0) as usize;
        if ((step / 10f64.powf(step.log10().floor())) - 2.5).abs() < 1e-9 {
            d += 1;
        }
        Some(Axis { lo, hi, ticks, labels: Ticks::Decimals(d), title: title.into() })
    }

    /// Ticks at exactly `values` (a sweep's points, the cut-offs K), each read as briefly as
    /// it is written: integers as integers.
    pub fn at_values(title: &str, values: &[f64]) -> Option<Axis> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        v.sort_by(f64::total_cmp);
        v.dedup();
        let (&lo, &hi) = (v.first()?, v.last()?);
        let pad = if hi > lo { 0.06 * (hi - lo) } else { lo.abs().max(1.0) * 0.1 };
        Some(Axis { lo: lo - pad, hi: hi + pad, ticks: v, labels: Ticks::Values, title: title.into() })
    }

    /// One slot per name on `0..n`, the name at the slot's middle.
    pub fn categories(title: &str, names: Vec<String>) -> Axis {
        let n = names.len() as f64;
        Axis { lo: 0.0, hi: n.max(1.0), ticks: (0..names.len()).map(|i| i as f64 + 0.5).collect(), labels: Ticks::Names(names), title: title.into() }
    }

    /// The label of tick `v`.
    pub fn label(&self, v: f64) -> String {
        match &self.labels {
            Ticks::Decimals(d) => {
                let s = format!("{v:.d$}");
                if s.starts_with('-') && s.trim_start_matches(['-', '0', '.']).is_empty() {
                    s[1..].to_string()
                } else {
                    s
                }
            }
            Ticks::Values => brief(v),
            Ticks::Names(n) => {
                let i = (v - 0.5).round();
                if (v - 0.5 - i).abs() < 1e-6 && i >= 0.0 {
                    n.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            }
        }
    }

    /// The widest tick label, in characters.
    pub fn widest(&self) -> usize {
        self.ticks.iter().map(|&t| self.label(t).chars().count()).max().unwrap_or(1)
    }

    /// The axis as a plotters coordinate.
    pub fn coord(&self) -> Scale {
        Scale { lo: self.lo, hi: self.hi, ticks: self.ticks.clone() }
    }
}

/// A linear range whose ticks are given (plotters' own f64 range picks its ticks itself, and
/// its key-point wrapper loses the label formatter).
#[derive(Clone, Debug)]
pub struct Scale {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
}

impl Ranged for Scale {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    /// As plotters maps its f64 ranges.
    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let len = limit.1 - limit.0;
        if self.hi == self.lo || len == 0 {
            return limit.0 + len / 2;
        }
        let t = (v - self.lo) / (self.hi - self.lo);
        if !t.is_finite() {
            return if t > 0.0 { limit.1 } else { limit.0 };
        }
        if len > 0 {
            limit.0 + (len as f64 * t + 1e-3).floor() as i32
        } else {
            limit.0 + (len as f64 * t - 1e-3).ceil() as i32
        }
    }

    /// The given ticks as bold grid lines, no light ones.
    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

/// How a chart is framed.
pub struct Frame<'t> {
    pub caption: Option<&'t str>,
    pub caption_size: u32,
    pub x: &'t Axis,
    pub y: &'t Axis,
    /// Room on the right for a secondary axis (0 for none).
    pub right: u32,
    pub font: u32,
}

impl<'t> Frame<'t> {
    pub fn new(x: &'t Axis, y: &'t Axis) -> Self {
        Frame { caption: None, caption_size: 18, x, y, right: 0, font: 13 }
    }
}

/// A chart on `area` with both axes drawn and titled, light grey grid lines at the ticks.
pub fn chart<'a, 'b>(area: &'a Area<'b>, f: &Frame, path: &Path) -> Result<Chart<'a, 'b>> {
    let mut c = build(area, f, path)?;
    mesh(&mut c, f, path)?;
    Ok(c)
}

/// [`chart`] before its axes are drawn (a secondary axis must take the right label area
/// first, or the primary one labels both sides).
pub fn build<'a, 'b>(area: &'a Area<'b>, f: &Frame, path: &Path) -> Result<Chart<'a, 'b>> {
    let fs = f.font as f64;
    // The y labels and the rotated title side by side.
    let y_area = (text_width(&"0".repeat(f.y.widest()), fs) + 2.2 * fs + 14.0) as u32;
    let mut b = ChartBuilder::on(area);
    if let Some(c) = f.caption {
        b.caption(c, (FONT, f.caption_size));
    }
    b.margin(10)
        .margin_right(10 + if f.right > 0 { 0 } else { 6 })
        .x_label_area_size((2.6 * fs) as u32 + 10)
        .y_label_area_size(y_area)
        .right_y_label_area_size(f.right)
        .build_cartesian_2d(f.x.coord(), f.y.coord())
        .map_err(fail(path))
}

/// Draws the axes of a [`build`] chart: tick labels, titles, grid lines at the ticks.
pub fn mesh(chart: &mut Chart, f: &Frame, path: &Path) -> Result<()> {
    let (xa, ya) = (f.x.clone(), f.y.clone());
    let xl = move |v: &f64| xa.label(*v);
    let yl = move |v: &f64| ya.label(*v);
    chart
        .configure_mesh()
        .x_desc(f.x.title.as_str())
        .y_desc(f.y.title.as_str())
        .x_label_formatter(&xl)
        .y_label_formatter(&yl)
        .bold_line_style(RGBColor(232, 232, 232))
        .label_style((FONT, f.font))
        .axis_desc_style((FONT, f.font + 1))
        .draw()
        .map_err(fail(path))
}

/// How a legend entry marks its series.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mark {
    Line,
    Dashed,
    /// A shaded band (a spread).
    Band,
    /// A filled point.
    Dot,
    /// A bar with caps (an error bar or a range).
    Bar,
}

/// One legend entry.
pub struct Entry {
    pub label: String,
    pub color: RGBColor,
    pub mark: Mark,
}

impl Entry {
    pub fn new(label: impl Into<String>, color: RGBColor, mark: Mark) -> Self {
        Entry { label: label.into(), color, mark }
    }
}

/// Colour `i` of the palette.
pub fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// The grey of reference lines (baselines).
pub const GREY: RGBColor = RGBColor(90, 90, 90);

/// The width a legend of `entries` needs at font size `font` (capped: longer labels are cut).
pub fn legend_width(entries: &[Entry], font: u32) -> u32 {
    let widest = entries.iter().map(|e| text_width(&shorten(&e.label, LEGEND_CHARS), font as f64)).fold(0.0, f64::max);
    (widest + 52.0) as u32
}

/// Legend labels longer than this are cut.
const LEGEND_CHARS: usize = 44;

/// Draws `entries` one per line from the top of `area` (an area beside the plot, so the
/// legend never hides data); entries that do not fit end in a `… and n more` line.
pub fn legend(area: &Area, top: i32, entries: &[Entry], font: u32, path: &Path) -> Result<()> {
    let row = (font as f64 * 1.6) as i32;
    let (_, h) = area.dim_in_pixel();
    let fit = ((h as i32 - top) / row).max(1) as usize;
    let shown = if entries.len() > fit { fit - 1 } else { entries.len() };
    for (i, e) in entries.iter().take(shown).enumerate() {
        let y = top + i as i32 * row + row / 2;
        let c = e.color;
        match e.mark {
            Mark::Line => area.draw(&PathElement::new(vec![(6, y), (30, y)], c.stroke_width(2))),
            Mark::Dashed => {
                for x in [6, 16, 26] {
                    area.draw(&PathElement::new(vec![(x, y), (x + 6, y)], c.stroke_width(2))).map_err(fail(path))?;
                }
                Ok(())
            }
            Mark::Band => area.draw(&Rectangle::new([(6, y - 5), (30, y + 5)], c.mix(0.2).filled())),
            Mark::Dot => area.draw(&Circle::new((18, y), 4, c.filled())),
            Mark::Bar => {
                area.draw(&PathElement::new(vec![(18, y - 6), (18, y + 6)], c.stroke_width(1))).map_err(fail(path))?;
                area.draw(&PathElement::new(vec![(14, y - 6), (22, y - 6)], c.stroke_width(1))).map_err(fail(path))?;
                area.draw(&PathElement::new(vec![(14, y + 6), (22, y + 6)], c.stroke_width(1)))
            }
        }
        .map_err(fail(path))?;
        let style = (FONT, font)
            .into_font()
            .color(&BLACK)
            .pos(plotters::style::text_anchor::Pos::new(plotters::style::text_anchor::HPos::Left, plotters::style::text_anchor::VPos::Center));
        area.draw(&Text::new(shorten(&e.label, LEGEND_CHARS), (38, y), style)).map_err(fail(path))?;
    }
    if shown < entries.len() {
        let y = top + shown as i32 * row + row / 2;
        let style = (FONT, font).into_font().color(&GREY);
        area.draw(&Text::new(format!("… and {} more", entries.len() - shown), (38, y - font as i32 / 2), style)).map_err(fail(path))?;
    }
    Ok(())
}

/// A vertical bar from `lo` to `hi` at `x` with caps `cap` pixels wide (an error bar).
pub fn v_bar(chart: &mut Chart, x: f64, lo: f64, hi: f64, c: RGBColor, path: &Path) -> Result<()> {
    let s = c.stroke_width(1);
    chart.draw_series(std::iter::once(PathElement::new(vec![(x, lo), (x, hi)], s))).map_err(fail(path))?;
    for y in [lo, hi] {
        chart.draw_series(std::iter::once(EmptyElement::at((x, y)) + PathElement::new(vec![(-4, 0), (4, 0)], s))).map_err(fail(path))?;
    }
    Ok(())
}

/// A shaded band between `lo(x)` and `hi(x)` (a spread over seeds).
pub fn band(chart: &mut Chart, pts: &[(f64, f64, f64)], c: RGBColor, path: &Path) -> Result<()> {
    // Seeds that agree (up to rounding) have no spread to shade.
    if pts.len() < 2 || pts.iter().all(|&(_, lo, hi)| hi - lo <= 1e-9 * (hi.abs() + lo.abs())) {
        return Ok(());
    }
    let mut poly: Vec<(f64, f64)> = pts.iter().map(|&(x, _, hi)| (x, hi)).collect();
    poly.extend(pts.iter().rev().map(|&(x, lo, _)| (x, lo)));
    chart.draw_series(std::iter::once(Polygon::new(poly, c.mix(0.18).filled()))).map_err(fail(path))?;
    Ok(())
}

/// A line with a dot at each point.
pub fn dotted_line(chart: &mut Chart, pts: &[(f64, f64)], c: RGBColor, path: &Path) -> Result<()> {
    chart.draw_series(LineSeries::new(pts.to_vec(), c.stroke_width(2))).map_err(fail(path))?;
    chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, c.filled()))).map_err(fail(path))?;
    Ok(())
}

/// A figure's title across the top of `root`, and the area below it.
pub fn titled<'b>(root: &Area<'b>, title: &str, size: u32, path: &Path) -> Result<Area<'b>> {
    let h = (size as f64 * 2.0) as u32;
    let (top, rest) = root.split_vertically(h);
    let (w, _) = top.dim_in_pixel();
    let style = (FONT, size)
        .into_font()
        .color(&BLACK)
        .pos(plotters::style::text_anchor::Pos::new(plotters::style::text_anchor::HPos::Center, plotters::style::text_anchor::VPos::Center));
    top.draw(&Text::new(shorten(title, (w as f64 / (size as f64 * 0.56)) as usize), (w as i32 / 2, h as i32 / 2), style)).map_err(fail(path))?;
    Ok(rest)
}

/// A line chart of `lines` at `path`, the legend beside the plot.
pub fn line_chart(path: &Path, title: &str, x_desc: &str, y_desc: &str, lines: &[Line]) -> Result<()> {
    let pts = || lines.iter().flat_map(|l| l.points.iter());
    let x = Axis::fit(x_desc, pts().map(|p| p.0), false).ok_or_else(|| anyhow!("nothing to plot in `{}`", path.display()))?;
    let y = Axis::fit(y_desc, pts().map(|p| p.1), false).ok_or_else(|| anyhow!("nothing to plot in `{}`", path.display()))?;
    let entries: Vec<Entry> = lines.iter().enumerate().map(|(i, l)| Entry::new(l.label.clone(), color(i), Mark::Line)).collect();
    let lw = legend_width(&entries, 13);
    via_tmp(path, |tmp| {
        let root = SVGBackend::new(tmp, (760 + lw, 520)).into_drawing_area();
        root.fill(&WHITE).map_err(fail(path))?;
        let body = titled(&root, title, 18, path)?;
        let (plot, side) = body.split_horizontally(760);
        let mut c = chart(&plot, &Frame::new(&x, &y), path)?;
        for (i, l) in lines.iter().enumerate() {
            dotted_line(&mut c, &l.points, color(i), path)?;
        }
        legend(&side, 12, &entries, 13, path)?;
        root.present().map_err(fail(path))?;
        Ok(())
    })
}

/// A heatmap of `values[(x, y)]` over the distinct x and y values, each cell labelled.
pub fn heatmap(path: &Path, title: &str, x_desc: &str, y_desc: &str, values: &BTreeMap<(String, String), f64>) -> Result<()> {
    let num = |s: &String| s.parse::<f64>().unwrap_or(f64::NAN);
    let mut xs: Vec<String> = values.keys().map(|k| k.0.clone()).collect();
    let mut ys: Vec<String> = values.keys().map(|k| k.1.clone()).collect();
    for v in [&mut xs, &mut ys] {
        v.sort_by(|a, b| num(a).total_cmp(&num(b)).then(a.cmp(b)));
        v.dedup();
    }
    let (lo, hi) = values.values().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    anyhow::ensure!(lo.is_finite(), "nothing to plot in `{}`", path.display());
    let (xa, ya) = (Axis::categories(x_desc, xs.clone()), Axis::categories(y_desc, ys.clone()));
    via_tmp(path, |tmp| {
        let root = SVGBackend::new(tmp, (760, 640)).into_drawing_area();
        root.fill(&WHITE).map_err(fail(path))?;
        let body = titled(&root, title, 18, path)?;
        let mut c = chart(&body, &Frame::new(&xa, &ya), path)?;
        for (xi, x) in xs.iter().enumerate() {
            for (yi, y) in ys.iter().enumerate() {
                let Some(&v) = values.get(&(x.clone(), y.clone())) else { continue };
                let t = if hi > lo { (v - lo) / (hi - lo) } else { 0.5 };
                // White to a dark blue.
                let cell_color = RGBColor((255.0 - 225.0 * t) as u8, (255.0 - 170.0 * t) as u8, (255.0 - 90.0 * t) as u8);
                let cell = [(xi as f64, yi as f64), (xi as f64 + 1.0, yi as f64 + 1.0)];
                c.draw_series(std::iter::once(Rectangle::new(cell, cell_color.filled()))).map_err(fail(path))?;
                let ink = if t > 0.6 { WHITE } else { BLACK };
                let style = (FONT, 13)
                    .into_font()
                    .color(&ink)
                    .pos(plotters::style::text_anchor::Pos::new(plotters::style::text_anchor::HPos::Center, plotters::style::text_anchor::VPos::Center));
                c.draw_series(std::iter::once(Text::new(format!("{v:.4}"), (xi as f64 + 0.5, yi as f64 + 0.5), style))).map_err(fail(path))?;
            }
        }
        root.present().map_err(fail(path))?;
        Ok(())
    })
}

/// Reading written SVGs back in tests: their `<text>` elements and how many of each tag.
#[cfg(test)]
pub(crate) mod svg {
    /// One `<text>` element.
    #[derive(Debug, Clone)]
    pub struct Text {
        pub x: f64,
        pub y: f64,
        /// `rotate(270, ...)` (a y-axis title) or `rotate(90, ...)`.
        pub rotated: bool,
        pub body: String,
    }

    fn attr(tag: &str, name: &str) -> Option<String> {
        let i = tag.find(&format!(" {name}=\""))? + name.len() + 3;
        Some(tag[i..].split('"').next()?.to_string())
    }

    pub fn texts(svg: &str) -> Vec<Text> {
        svg.split("<text")
            .skip(1)
            .filter_map(|s| {
                let (tag, rest) = s.split_once('>')?;
                let body = rest.split_once("</text>")?.0.trim();
                let body = body.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&#39;", "'").replace("&amp;", "&");
                Some(Text {
                    x: attr(tag, "x")?.parse().ok()?,
                    y: attr(tag, "y")?.parse().ok()?,
                    rotated: attr(tag, "transform").is_some_and(|t| t.starts_with("rotate(270") || t.starts_with("rotate(90")),
                    body,
                })
            })
            .collect()
    }

    /// The points of every `<polyline>` `width` pixels wide.
    pub fn lines(svg: &str, width: u32) -> Vec<Vec<(f64, f64)>> {
        svg.split("<polyline")
            .skip(1)
            .filter_map(|s| s.split_once("/>").map(|(tag, _)| tag))
            .filter(|tag| attr(tag, "stroke-width").is_some_and(|w| w == width.to_string()))
            .filter_map(|tag| {
                let pts = attr(tag, "points")?;
                pts.split_whitespace().map(|p| p.split_once(',').and_then(|(x, y)| Some((x.parse().ok()?, y.parse().ok()?)))).collect()
            })
            .collect()
    }

    pub fn count(svg: &str, tag: &str) -> usize {
        svg.matches(&format!("<{tag} ")).count()
    }

    /// The SVG's axis titles: (horizontal texts with a letter that sit below every
    /// horizontal number, rotated texts with a letter). A chart has at least one of each.
    pub fn axis_titles(svg: &str) -> (Vec<String>, Vec<String>) {
        let t = texts(svg);
        let letter = |s: &str| s.chars().any(char::is_alphabetic);
        let rotated: Vec<String> = t.iter().filter(|x| x.rotated && letter(&x.body)).map(|x| x.body.clone()).collect();
        // Tick labels of an x axis: horizontal numbers; the title sits below them.
        let low_tick = t.iter().filter(|x| !x.rotated && !x.body.is_empty() && x.body.parse::<f64>().is_ok()).map(|x| x.y).fold(f64::NEG_INFINITY, f64::max);
        let below: Vec<String> = t.iter().filter(|x| !x.rotated && letter(&x.body) && x.y > low_tick).map(|x| x.body.clone()).collect();
        (below, rotated)
    }

    /// Asserts that `svg` titles its x axis `x` and its y axis `y` (as text of their own).
    pub fn assert_axes(svg: &str, x: &str, y: &str) {
        let t = texts(svg);
        assert!(t.iter().any(|e| !e.rotated && e.body == x), "no x-axis title `{x}` in {:?}", t.iter().map(|e| &e.body).collect::<Vec<_>>());
        assert!(t.iter().any(|e| e.rotated && e.body == y), "no y-axis title `{y}` in {:?}", t.iter().map(|e| &e.body).collect::<Vec<_>>());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_integers_read_as_integers() {
        let a = Axis::fit("y", [0.12, 0.31], false).unwrap();
        assert!(a.ticks.iter().all(|t| (t * 20.0 - (t * 20.0).round()).abs() < 1e-9), "{:?}", a.ticks);
        assert!(a.ticks.len() >= 3 && a.ticks.len() <= 8, "{:?}", a.ticks);
        assert_eq!(a.label(0.15), "0.15");
        let k = Axis::at_values("K", &[20.0, 5.0, 10.0, 10.0]).unwrap();
        assert_eq!(k.ticks, vec![5.0, 10.0, 20.0]);
        assert_eq!(k.ticks.iter().map(|&t| k.label(t)).collect::<Vec<_>>(), ["5", "10", "20"]);
        assert_eq!(brief(0.25), "0.25");
        let c = Axis::categories("m", vec!["a".into(), "b".into()]);
        assert_eq!((c.label(0.5), c.label(1.5), c.label(1.0)), ("a".into(), "b".into(), String::new()));
        assert_eq!(Axis::fit("z", [-0.001, 0.001], false).unwrap().label(-0.0), "0.0000");
    }

    #[test]
    fn groups_name_points_by_point_name_else_by_id() {
        let t = Table {
            json: vec![
                serde_json::json!({"model": "a", "point": "p1", "point_name": "window=2", "seed": 1}),
                serde_json::json!({"model": "a", "point": "p2", "seed": 1}),
                serde_json::json!({"model": "b", "point": "base", "point_name": "base", "seed": 1}),
                serde_json::json!({"model": "a", "point": "p1", "point_name": "window=2", "seed": 2}),
            ],
            ..Default::default()
        };
        let g = groups(&t, |_| true);
        assert_eq!(g.iter().map(|g| g.label.as_str()).collect::<Vec<_>>(), ["a [window=2]", "a [p2]", "b"]);
        assert_eq!(g[0].rows, vec![0, 3]);
    }

    #[test]
    fn the_legend_sits_beside_the_plot_and_titles_both_axes() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("l.svg");
        let lines = vec![Line { label: "a".into(), points: vec![(1.0, 1.0), (2.0, 3.0)] }, Line { label: "b".into(), points: vec![(1.0, 2.0), (2.0, 0.5)] }];
        line_chart(&p, "t", "epoch", "loss", &lines).unwrap();
        let s = std::fs::read_to_string(&p).unwrap();
        svg::assert_axes(&s, "epoch", "loss");
        // Legend texts lie right of the plotting area (x > 760).
        let t = svg::texts(&s);
        for name in ["a", "b"] {
            assert!(t.iter().any(|e| e.body == name && e.x > 760.0), "{name}");
        }
    }
}
