//! The tables people read, as a paper prints them: first the metrics (model and sweep point,
//! then `mean ± std` per metric, the best value of each column bold and the second
//! underlined, the baseline's significance marks with their direction), then a "Settings"
//! table with the config values that tell the rows apart, and a "Timing" table, unless the
//! experiment is about an index (its speed is then one of its results). By default the
//! metrics table shows the configured metrics at the smallest cut-off, so a multi-model table
//! fits a page; `[report] columns` chooses others, and an "All metrics" table keeps the rest.
//! `[report] labels` renames models and columns in these tables. `results.csv` and
//! `results.json` keep every column, unrenamed.
//!
//! One [`Paper`] is built per report and rendered to Markdown here, to HTML in [`super::html`]
//! and to LaTeX in [`super::latex`], so every version shows the same cells.

use super::latex::{lower_is_better, ranked};
use super::{mark, Table, ANN_TAIL, DAGGER, DDAGGER};
use crate::config::Experiment;
use std::collections::BTreeMap;

/// How a metric cell ranks in its column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rank {
    None,
    Best,
    Second,
}

/// One table of the paper.
#[derive(Clone, Debug, Default)]
pub struct View {
    /// `Metrics`, `All metrics`, `Settings` or `Timing`.
    pub name: &'static str,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// Per cell, how it ranks in its column (metric columns only).
    pub ranks: Vec<Vec<Rank>>,
    /// Per column, whether it holds numbers (right-aligned).
    pub numeric: Vec<bool>,
    /// Per column, the direction arrow of a metric (`↑` higher is better, `↓` lower), or "".
    pub arrows: Vec<&'static str>,
}

/// Every table people read of one experiment.
#[derive(Clone, Debug, Default)]
pub struct Paper {
    pub title: String,
    /// What the cells are: the seeds, the marks, the bold and underlined cells.
    pub caption: String,
    /// A LaTeX label, `tab:<experiment>`.
    pub label: String,
    /// The metrics table first; then all metrics, settings and timing where they exist.
    pub views: Vec<View>,
    /// Lines explaining the marks (empty without a baseline).
    pub legend: Vec<String>,
    /// `[report] columns` entries the table has no column for.
    pub unknown_columns: Vec<String>,
}

/// Columns naming a row.
const IDENTITY: [&str; 5] = ["model", "point", "seed", "seeds", "status"];

/// Whether `h` is a timing or latency column.
fn timing(h: &str) -> bool {
    ANN_TAIL.contains(&h)
}

/// A ranking column's metric and cut-off (`Recall@10` -> (`Recall`, 10)); `exact` and
/// `ANNRecall` columns included; analysis columns (`map kNN@10`) are not ranking columns.
pub(super) fn cut_off(h: &str) -> Option<(&str, usize)> {
    let (m, k) = h.rsplit_once('@')?;
    let bare = m.strip_prefix("exact ").unwrap_or(m);
    (!bare.contains(' ')).then_some(())?;
    Some((m, k.parse().ok()?))
}

/// Whether a metric column is one a reader compares first: a ranking metric at the smallest
/// cut-off, or a metric without cut-off that is no analysis statistic (Macro-F1, AUC).
pub(super) fn main_metric(h: &str, min_k: Option<usize>) -> bool {
    match cut_off(h) {
        Some((_, k)) => Some(k) == min_k,
        None => !h.contains(' ') && !h.contains('@'),
    }
}

/// Whether `[report] columns` entry `want` names column `h`: the column itself, or its
/// metric at every cut-off (`recall` -> `Recall@10`, `Recall@20`), case-insensitively.
fn wanted(want: &str, h: &str) -> bool {
    let (w, h_l) = (want.to_lowercase(), h.to_lowercase());
    w == h_l || cut_off(h).is_some_and(|(m, _)| m.to_lowercase() == w)
}

/// A cell's leading number (`0.1234 ± 0.0056†` -> 0.1234).
pub fn value(cell: &str) -> Option<f64> {
    cell.split_whitespace().next()?.trim_end_matches(|c: char| DAGGER.contains(c) || DDAGGER.contains(c)).parse().ok()
}

/// Ranks each metric column's cells: the best distinct value is `Best`, the next `Second`
/// (lower is better for Gini and AvgPop); spreads and distribution statistics are not ranked,
/// and a column with one distinct value marks nothing.
fn rank(header: &[String], rows: &[Vec<String>], metric: &[bool]) -> Vec<Vec<Rank>> {
    let mut ranks = vec![vec![Rank::None; header.len()]; rows.len()];
    for (c, name) in header.iter().enumerate() {
        if !metric[c] || !ranked(name) {
            continue;
        }
        let mut vals: Vec<f64> = rows.iter().filter_map(|r| value(&r[c])).filter(|v| v.is_finite()).collect();
        vals.sort_by(|a, b| if lower_is_better(name) { a.total_cmp(b) } else { b.total_cmp(a) });
        vals.dedup();
        if vals.len() < 2 {
            continue;
        }
        for (r, row) in rows.iter().enumerate() {
            ranks[r][c] = match value(&row[c]) {
                Some(v) if v == vals[0] => Rank::Best,
                Some(v) if v == vals[1] => Rank::Second,
                _ => Rank::None,
            };
        }
    }
    ranks
}

/// A model's, column's or point key's display name from `[report] labels`.
fn label<'a>(labels: &'a BTreeMap<String, String>, s: &'a str) -> &'a str {
    labels.get(s).map_or(s, String::as_str)
}

/// A point name with its keys relabelled (`window=5` -> `Window=5`).
pub fn point_label(labels: &BTreeMap<String, String>, name: &str) -> String {
    if labels.is_empty() {
        return name.to_string();
    }
    name.split(',').map(|part| part.split_once('=').map_or(part.to_string(), |(k, v)| format!("{}={v}", label(labels, k)))).collect::<Vec<_>>().join(",")
}

/// Builds the tables of `shown` (one row per model and point, `mean ± std` cells, no marks
/// yet) for `exp`.
pub fn build(exp: &Experiment, shown: &Table) -> Paper {
    let h = &shown.header;
    let col = |name: &str| h.iter().position(|x| x == name);
    let is_metric = |c: usize| shown.metric_cols.contains(&h[c]);
    let about_index = h.iter().any(|x| x == "qps_1t");
    let min_k = h.iter().enumerate().filter(|&(c, _)| is_metric(c)).filter_map(|(_, x)| cut_off(x).map(|(_, k)| k)).min();
    let metric_idx: Vec<usize> = (0..h.len()).filter(|&c| is_metric(c)).collect();
    let wants = &exp.report.columns;
    let unknown_columns: Vec<String> = wants.iter().filter(|w| !metric_idx.iter().any(|&c| wanted(w, &h[c]))).cloned().collect();
    let chosen: Vec<usize> = if wants.is_empty() || unknown_columns.len() == wants.len() {
        // ANN recall at every cut-off: how much of the exact answer the index keeps.
        metric_idx.iter().copied().filter(|&c| main_metric(&h[c], min_k) || h[c].starts_with("ANNRecall@")).collect()
    } else {
        // In the order the entries are given.
        let mut out = Vec::new();
        for w in wants {
            for &c in &metric_idx {
                if wanted(w, &h[c]) && !out.contains(&c) {
                    out.push(c);
                }
            }
        }
        out
    };
    // Without a sweep (every point `base`) the point says nothing.
    let point = col("point").filter(|&p| shown.rows.iter().any(|r| r[p] != "base"));
    let ident: Vec<usize> = [col("model"), point, col("status")].into_iter().flatten().collect();
    let labels = &exp.report.labels;
    let (m_col, p_col) = (col("model"), col("point"));
    let view = |name: &'static str, cols: &[usize], marks: bool| -> View {
        let header: Vec<String> = cols.iter().map(|&c| label(labels, &h[c]).to_string()).collect();
        let rows: Vec<Vec<String>> = shown
            .rows
            .iter()
            .map(|r| {
                cols.iter()
                    .map(|&c| {
                        let cell = &r[c];
                        if Some(c) == m_col {
                            return label(labels, cell).to_string();
                        }
                        if Some(c) == p_col {
                            return point_label(labels, cell);
                        }
                        let sig = match (m_col, p_col) {
                            (Some(m), Some(p)) if marks => shown.significant.get(&(r[m].clone(), r[p].clone(), h[c].clone())),
                            _ => None,
                        };
                        sig.map_or(cell.clone(), |&better| format!("{cell}{}", mark(better)))
                    })
                    .collect()
            })
            .collect();
        let metric: Vec<bool> = cols.iter().map(|&c| is_metric(c)).collect();
        let numeric: Vec<bool> =
            cols.iter().map(|&c| is_metric(c) || timing(&h[c]) || shown.rows.iter().all(|r| r[c] == "-" || value(&r[c]).is_some())).collect();
        let arrows = cols
            .iter()
            .map(|&c| match (is_metric(c) && ranked(&h[c]), lower_is_better(&h[c])) {
                (false, _) => "",
                (true, true) => "↓",
                (true, false) => "↑",
            })
            .collect();
        let ranks = rank(&header, &rows, &metric);
        View { name, header, rows, ranks, numeric, arrows }
    };
    let tail: Vec<usize> = (0..h.len()).filter(|&c| timing(&h[c])).collect();
    let mut main = ident.clone();
    main.extend(&chosen);
    if about_index {
        main.extend(&tail);
    }
    let mut views = vec![view("Metrics", &main, true)];
    if chosen.len() < metric_idx.len() {
        let mut all = ident.clone();
        all.extend(&metric_idx);
        views.push(view("All metrics", &all, true));
    }
    let config: Vec<usize> = (0..h.len()).filter(|&c| !IDENTITY.contains(&h[c].as_str()) && !is_metric(c) && !timing(&h[c])).collect();
    let seeds = col("seeds").or(col("seed"));
    if !config.is_empty() || seeds.is_some() {
        let mut settings: Vec<usize> = [col("model"), point, seeds].into_iter().flatten().collect();
        settings.extend(&config);
        views.push(view("Settings", &settings, false));
    }
    if !about_index && !tail.is_empty() {
        let mut t = [col("model"), point].into_iter().flatten().collect::<Vec<_>>();
        t.extend(&tail);
        views.push(view("Timing", &t, false));
    }
    let many_seeds = col("seeds").is_some();
    let mut caption = exp.section.name.clone();
    if !exp.section.description.is_empty() {
        caption = format!("{}: {}", caption, exp.section.description.trim_end_matches('.'));
    }
    caption += if many_seeds { ". Mean ± standard deviation over seeds " } else { ". Seed " };
    caption += &exp.section.seeds.iter().map(u64::to_string).collect::<Vec<_>>().join(", ");
    caption += "; best value per column in bold, second best underlined (↑ higher is better, ↓ lower is better).";
    let mut legend = Vec::new();
    if let Some(b) = &exp.report.baseline {
        legend.push(format!(
            "{DAGGER} / {DDAGGER}: significantly better / worse than {} on the same users (paired t-test and Wilcoxon signed-rank test, both Holm-corrected p < {}; p-values in results.csv and results.json).",
            label(labels, b),
            exp.report.alpha
        ));
    }
    let label = format!("tab:{}", exp.section.name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' }).collect::<String>());
    Paper { title: exp.section.name.clone(), caption, label, views, legend, unknown_columns }
}

/// A Markdown cell with its rank: bold for the best, underlined (`<ins>`, which Markdown
/// renderers keep) for the second.
fn md_ranked(cell: &str, rank: Rank) -> String {
    let c = super::md_cell(cell);
    match rank {
        Rank::Best => format!("**{c}**"),
        Rank::Second => format!("<ins>{c}</ins>"),
        Rank::None => c,
    }
}

/// One view as a Markdown table, metric headers with their direction arrow.
pub fn view_markdown(v: &View) -> String {
    let head: Vec<String> =
        v.header.iter().zip(&v.arrows).map(|(h, a)| if a.is_empty() { super::md_cell(h) } else { format!("{} {a}", super::md_cell(h)) }).collect();
    let align: Vec<&str> = v.numeric.iter().map(|&n| if n { "---:" } else { "---" }).collect();
    let mut out = format!("| {} |\n|{}|\n", head.join(" | "), align.join("|"));
    for (r, row) in v.rows.iter().enumerate() {
        out += &format!("| {} |\n", row.iter().enumerate().map(|(c, cell)| md_ranked(cell, v.ranks[r][c])).collect::<Vec<_>>().join(" | "));
    }
    out
}

/// The paper's Markdown: the title, the caption, the metrics table and its legend, then the
/// other tables under their names.
pub fn to_markdown(p: &Paper) -> String {
    let mut out = format!("# {}\n\n{}\n\n", super::md_cell(&p.title), super::md_cell(&p.caption));
    for (i, v) in p.views.iter().enumerate() {
        if i > 0 {
            out += &format!("\n## {}\n\n", v.name);
        }
        out += &view_markdown(v);
        if i == 0 {
            for l in &p.legend {
                out += &format!("\n{}\n", super::md_cell(l));
            }
            if !p.unknown_columns.is_empty() {
                out += &format!("\n`[report] columns` names no column of this table: {}.\n", super::md_cell(&p.unknown_columns.join(", ")));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exp(toml_report: &str) -> Experiment {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("x.toml");
        let body = format!("[experiment]\nname = \"x\"\nseeds = [1, 2]\n[dataset]\nkind = \"synthetic\"\n[[model]]\nkind = \"popularity\"\n[[model]]\nkind = \"item2vec\"\n[metrics]\nk = [10, 20]\n{toml_report}");
        std::fs::write(&cfg, body).unwrap();
        crate::config::load(&cfg, &[]).unwrap()
    }

    fn table() -> Table {
        let header: Vec<String> = ["model", "point", "seeds", "model.window", "Recall@10", "Recall@20", "Gini@10", "sim same mean", "train_s", "qps_batch"]
            .map(String::from)
            .to_vec();
        let row = |m: &str, p: &str, w: &str, r10: &str, r20: &str, g: &str| -> Vec<String> {
            [m, p, "1,2", w, r10, r20, g, "0.5", "1.00", "900"].map(String::from).to_vec()
        };
        let mut significant = BTreeMap::new();
        significant.insert(("item2vec".to_string(), "window=5".to_string(), "Recall@10".to_string()), true);
        significant.insert(("item2vec".to_string(), "window=2".to_string(), "Gini@10".to_string()), false);
        Table {
            title: "x".into(),
            header,
            rows: vec![
                row("popularity", "base", "-", "0.1000 ± 0.0000", "0.2000 ± 0.0000", "0.9000 ± 0.0000"),
                row("item2vec", "window=2", "2", "0.2000 ± 0.0100", "0.3000 ± 0.0100", "0.5000 ± 0.0100"),
                row("item2vec", "window=5", "5", "0.3000 ± 0.0100", "0.2500 ± 0.0100", "0.6000 ± 0.0100"),
            ],
            metric_cols: ["Recall@10", "Recall@20", "Gini@10", "sim same mean"].map(String::from).to_vec(),
            significant,
            ..Default::default()
        }
    }

    #[test]
    fn metrics_first_at_the_smallest_cut_off_then_settings_and_timing() {
        let p = build(&exp("[report]\nbaseline = \"popularity\"\n"), &table());
        let names: Vec<&str> = p.views.iter().map(|v| v.name).collect();
        assert_eq!(names, ["Metrics", "All metrics", "Settings", "Timing"]);
        let m = &p.views[0];
        assert_eq!(m.header, ["model", "point", "Recall@10", "Gini@10"]);
        assert_eq!(m.arrows, ["", "", "↑", "↓"]);
        // Recall: window=5 best, window=2 second; Gini (lower is better): window=2 best.
        assert_eq!(m.ranks[2][2], Rank::Best);
        assert_eq!(m.ranks[1][2], Rank::Second);
        assert_eq!(m.ranks[0][2], Rank::None);
        assert_eq!(m.ranks[1][3], Rank::Best);
        assert_eq!(m.ranks[2][3], Rank::Second);
        // Marks with their direction.
        assert_eq!(m.rows[2][2], "0.3000 ± 0.0100†");
        assert_eq!(m.rows[1][3], "0.5000 ± 0.0100‡");
        assert!(p.legend[0].starts_with("† / ‡: significantly better / worse than popularity"), "{:?}", p.legend);
        assert_eq!(p.views[1].header, ["model", "point", "Recall@10", "Recall@20", "Gini@10", "sim same mean"]);
        assert_eq!(p.views[2].header, ["model", "point", "seeds", "model.window"]);
        assert_eq!(p.views[3].header, ["model", "point", "train_s", "qps_batch"]);
        assert!(p.caption.contains("Mean ± standard deviation over seeds 1, 2"), "{}", p.caption);
        assert_eq!(p.label, "tab:x");
        let md = to_markdown(&p);
        assert!(md.contains("| model | point | Recall@10 ↑ | Gini@10 ↓ |\n|---|---|---:|---:|"), "{md}");
        assert!(md.contains("| **0.3000 ± 0.0100†** |") && md.contains("<ins>0.2000 ± 0.0100</ins>"), "{md}");
        assert!(md.find("## Settings").unwrap() > md.find("## All metrics").unwrap());
    }

    #[test]
    fn report_columns_and_labels_choose_and_rename() {
        let p = build(
            &exp("[report]\ncolumns = [\"recall@20\", \"Gini\", \"nope\"]\nlabels = { item2vec = \"Item2Vec\", window = \"w\", \"Recall@20\" = \"R@20\" }\n"),
            &table(),
        );
        let m = &p.views[0];
        assert_eq!(m.header, ["model", "point", "R@20", "Gini@10"]);
        assert_eq!(m.rows[1][0], "Item2Vec");
        assert_eq!(m.rows[1][1], "w=2");
        assert_eq!(p.unknown_columns, ["nope"]);
        assert!(to_markdown(&p).contains("names no column of this table: nope"));
        // Without a sweep the point column goes.
        let mut t = table();
        for r in &mut t.rows {
            r[1] = "base".into();
        }
        assert_eq!(build(&exp(""), &t).views[0].header, ["model", "Recall@10", "Gini@10"]);
    }
}
