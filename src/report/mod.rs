//! Comparison tables: one row per model x sweep point x seed, the config values that vary
//! across rows, then the metrics. Printed to the terminal (tabled) and written as
//! `results/<experiment>/results.{md,csv,json}`.
//!
//! Experiments with an approximate index get the index columns too (build time, size,
//! single-threaded and all-threads queries/s, the latency percentiles, ANN recall and the
//! exact-search metrics beside the ANN ones) and, when they sweep index parameters, a Pareto
//! plot of recall against queries/s ([`pareto`]).

pub mod aggregate;
pub mod baseline;
pub mod compare;
pub mod figures;
pub mod history;
pub mod html;
pub mod latex;
pub mod paper;
pub mod pareto;
pub mod plots;
pub mod stats;
pub mod summary;

use crate::config::{Experiment, RunSpec};
use crate::eval::{EvalSummary, PerUser};
use anyhow::{Context, Result};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// The trailing columns of a table with an approximate index: training and index build
/// seconds, index size, queries/s one at a time on one thread (`qps_1t`) and batched on all
/// threads (`qps_batch`), and the single-query latency percentiles.
pub const ANN_TAIL: [&str; 9] = ["train_s", "build_s", "index_MiB", "qps_1t", "qps_batch", "p50_us", "p95_us", "p99_us", "max_us"];

/// The timing columns of a retrieval table with an exact index: queries/s batched on all
/// threads, and the single-query latency.
pub const RETRIEVAL_TAIL: [&str; 4] = ["train_s", "qps_batch", "p50_us", "p99_us"];

/// A finished experiment's table.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table {
    pub title: String,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// The same rows as JSON objects (numbers kept as numbers).
    pub json: Vec<Value>,
    /// Which columns of `header` are metrics (the rest identify the row, give its config or
    /// time it).
    pub metric_cols: Vec<String>,
    /// (model, point name, column) cells significantly different from the baseline's:
    /// true where better (by the column's direction), false where worse.
    pub significant: BTreeMap<(String, String, String), bool>,
}

/// The mark of a cell significantly better than the baseline's.
pub const DAGGER: &str = "†";

/// The mark of a cell significantly worse than the baseline's.
pub const DDAGGER: &str = "‡";

/// The mark of a significant cell: [`DAGGER`] where better, [`DDAGGER`] where worse.
pub fn mark(better: bool) -> &'static str {
    if better {
        DAGGER
    } else {
        DDAGGER
    }
}

/// The mark of a latency measured while other stages ran beside it (`--jobs` > 1).
pub const CONTENDED: &str = "*";

/// A copy of `t` whose significant cells carry their [`mark`], for the tables people read (the
/// CSV stays numeric).
pub fn with_marks(t: &Table) -> Table {
    let mut out = t.clone();
    if t.significant.is_empty() {
        return out;
    }
    let (Some(m), Some(p)) = (t.header.iter().position(|h| h == "model"), t.header.iter().position(|h| h == "point")) else { return out };
    for row in &mut out.rows {
        for (c, name) in t.header.iter().enumerate() {
            if let Some(&better) = t.significant.get(&(row[m].clone(), row[p].clone(), name.clone())) {
                row[c].push_str(mark(better));
            }
        }
    }
    out
}

/// One run's result, as the pipeline hands it to the report.
pub struct Row<'a> {
    pub run: &'a RunSpec,
    /// The eval stage's key (kept in the JSON rows, to find the per-user data).
    pub eval_key: &'a str,
    /// The run's summary, or why it has none (its stage failed or was skipped).
    pub result: Result<Arc<EvalSummary>, String>,
    /// Per-user metric values, loaded when the experiment compares against a baseline.
    pub per_user: Option<Arc<PerUser>>,
    /// Files the run's tasks left for the report, by name (e.g. `map.json`).
    pub files: Vec<(String, Vec<u8>)>,
}

/// Builds an experiment's table from its rows, one per run in the experiment's order.
pub fn build(exp: &Experiment, results: &[Row]) -> Result<Table> {
    // Config keys whose value differs between rows, and those a tuned row shows (its chosen
    // values and validation score) even when no other row differs.
    let all_keys: BTreeSet<&String> = exp.runs.iter().flat_map(|r| r.flat.keys()).collect();
    let shown: BTreeSet<&String> = exp.runs.iter().filter_map(|r| r.tuned.as_ref()).flatten().collect();
    let varying: Vec<&String> = all_keys
        .into_iter()
        .filter(|k| {
            // A key varies when rows that have it disagree; a parameter only one model kind
            // has, at one value, is not a column.
            let vals: BTreeSet<&String> = exp.runs.iter().filter_map(|r| r.flat.get(*k)).collect();
            vals.len() > 1 || shown.contains(k)
        })
        .collect();
    let first = exp.runs.first().context("experiment has no runs")?;
    let mut metric_cols = Vec::new();
    for &m in &first.metrics.metrics {
        for &k in &first.metrics.k {
            metric_cols.push(crate::metrics::column(m, k));
        }
    }
    anyhow::ensure!(results.len() == exp.runs.len(), "internal: {} rows for {} runs", results.len(), exp.runs.len());
    let summaries: Vec<&Result<Arc<EvalSummary>, String>> = results.iter().map(|r| &r.result).collect();
    // A status column when some row failed, or ran without numbers (a model that cannot
    // score the split's items).
    let any_failed = summaries.iter().any(|s| s.as_ref().map_or(true, |s| s.unsupported.is_some()));
    // Extra columns some rows carry (ANN recall and exact-search metrics of approximate indexes).
    let mut extra: BTreeSet<String> = BTreeSet::new();
    for s in summaries.iter().copied().flatten() {
        extra.extend(s.metrics.keys().filter(|c| !metric_cols.contains(c)).cloned());
    }
    // ANN recall first, each exact-search metric right after the same metric through the
    // index, anything else at the end.
    let mut ordered: Vec<String> = extra.iter().filter(|c| c.starts_with("ANNRecall@")).cloned().collect();
    for c in &metric_cols {
        ordered.push(c.clone());
        let exact = format!("exact {c}");
        if extra.contains(&exact) {
            ordered.push(exact);
        }
    }
    // The rest alphabetically, but a distribution's statistics in reading order.
    const STAT_ORDER: [&str; 12] = ["mean", "std", "min", "p05", "p25", "p50", "p75", "p95", "max", "same mean", "diff mean", "same-diff"];
    let stat_rank = |c: &str| c.strip_prefix("sim ").and_then(|s| STAT_ORDER.iter().position(|o| *o == s)).unwrap_or(usize::MAX);
    let mut rest: Vec<String> = extra.iter().filter(|c| !ordered.contains(c)).cloned().collect();
    rest.sort_by(|a, b| (stat_rank(a), a).cmp(&(stat_rank(b), b)));
    ordered.extend(rest);
    // Keep only columns some row has (graph tasks carry F1/AUC, not ranking metrics).
    let mut present: BTreeSet<String> = BTreeSet::new();
    for s in summaries.iter().copied().flatten() {
        present.extend(s.metrics.keys().cloned());
    }
    // With every run failed, keep the configured columns so the table still says what was asked.
    if !present.is_empty() {
        ordered.retain(|c| present.contains(c));
    }
    let metric_cols = ordered;
    // Approximate indexes, and ANN benchmarks (task `ann`, flat rows included): the
    // index-stage columns (flat-only retrieval tables keep the short form).
    let retrieval = |r: &RunSpec| r.metrics.task.has("retrieval");
    let benchmark = |r: &RunSpec| r.metrics.task.has("ann");
    let ann = exp.runs.iter().any(|r| (!r.index.kind.exact && retrieval(r)) || benchmark(r));
    // Graph tasks (node classification, link prediction) query no index: no latency columns
    // rather than columns of zeros.
    let queries = exp.runs.iter().any(|r| retrieval(r) || benchmark(r));
    let tail: &[&str] = match (ann, queries) {
        (true, _) => &ANN_TAIL,
        (false, true) => &RETRIEVAL_TAIL,
        (false, false) => &["train_s"],
    };
    // Nothing trains when every model passes a vectors dataset through: no `train_s`.
    let trains = exp.runs.iter().any(|r| !r.model.model.passes_vectors_through());
    let tail: Vec<&str> = tail.iter().copied().filter(|c| trains || *c != "train_s").collect();
    let mut header: Vec<String> = vec!["model".into(), "point".into(), "seed".into()];
    if any_failed {
        header.push("status".into());
    }
    header.extend(varying.iter().map(|k| k.to_string()));
    header.extend(metric_cols.iter().cloned());
    header.extend(tail.iter().map(|s| s.to_string()));
    let mut rows = Vec::new();
    let mut json_rows = Vec::new();
    for (row_in, summary) in results.iter().zip(&summaries) {
        let run = row_in.run;
        let mut row = vec![run.model.name.clone(), run.point_name.clone(), run.seed.to_string()];
        if any_failed {
            row.push(match summary {
                Err(_) => "FAILED".into(),
                Ok(s) => s.unsupported.as_deref().map_or("ok", |why| why.split(':').next().unwrap_or(why)).to_string(),
            });
        }
        let mut config = BTreeMap::new();
        for v in &varying {
            let val = run.flat.get(*v).cloned().unwrap_or_else(|| "-".into());
            config.insert(v.to_string(), val.clone());
            row.push(val);
        }
        let mut obj = json!({
            "model": run.model.name,
            "kind": run.model.kind.kind,
            "point": run.point_id,
            "point_name": run.point_name,
            "seed": run.seed,
            "overrides": run.overrides,
            "config": config,
            "index": {"kind": run.index.kind.kind, "build": run.index.build, "search": run.index.search},
            "eval_key": row_in.eval_key,
        });
        let s = match summary {
            Ok(s) => s,
            Err(why) => {
                row.extend(std::iter::repeat_n("-".to_string(), header.len() - row.len()));
                rows.push(row);
                for (key, v) in [("status", json!("failed")), ("error", json!(why)), ("metrics", json!({})), ("latency", Value::Null)] {
                    obj[key] = v;
                }
                json_rows.push(obj);
                continue;
            }
        };
        if let Some(note) = run.model.model.geometry_note() {
            obj["note"] = json!(note);
        }
        if let Some(why) = &s.unsupported {
            obj["status"] = json!("unsupported");
            obj["reason"] = json!(why);
        }
        for c in &metric_cols {
            // An exact index finds every exact neighbour: beside approximate rows, its ANN
            // recall is 1 and its exact-search metrics are its own.
            let exact_fill = || -> Option<f64> {
                if !run.index.kind.exact {
                    return None;
                }
                if c.starts_with("ANNRecall@") && !benchmark(run) {
                    return Some(1.0);
                }
                s.metrics.get(c.strip_prefix("exact ")?).copied()
            };
            row.push(s.metrics.get(c).copied().or_else(exact_fill).map_or("-".into(), |x| format!("{x:.4}")));
        }
        if trains {
            row.push(format!("{:.2}", s.train_seconds));
        }
        if s.unsupported.is_some() {
            // Nothing was searched: no speed to show.
            row.extend(std::iter::repeat_n("-".to_string(), header.len() - row.len()));
        } else if ann {
            let l = &s.latency;
            let m = if l.contended { CONTENDED } else { "" };
            row.push(format!("{:.2}", s.index_seconds));
            row.push(format!("{:.2}", s.index_bytes as f64 / (1024.0 * 1024.0)));
            row.extend([l.qps_single, l.qps_batch].map(|q| format!("{q:.0}{m}")));
            row.extend([l.p50_us, l.p95_us, l.p99_us, l.max_us].map(|us| format!("{us:.1}{m}")));
        } else if queries {
            let m = if s.latency.contended { CONTENDED } else { "" };
            row.push(format!("{:.0}{m}", s.latency.qps_batch));
            row.push(format!("{:.1}{m}", s.latency.p50_us));
            row.push(format!("{:.1}{m}", s.latency.p99_us));
        }
        rows.push(row);
        let facts = json!({
            "metrics": s.metrics,
            "users": s.users,
            "train_seconds": s.train_seconds,
            "index_seconds": s.index_seconds,
            "index_bytes": s.index_bytes,
            "latency": if retrieval(run) || benchmark(run) { json!(s.latency) } else { Value::Null },
            "epochs": s.epochs,
        });
        if !s.series.is_empty() {
            obj["series"] = json!(s.series);
        }
        for (key, v) in facts.as_object().into_iter().flatten() {
            obj[key] = v.clone();
        }
        if any_failed && s.unsupported.is_none() {
            obj["status"] = json!("ok");
        }
        json_rows.push(obj);
    }
    let mut significant = BTreeMap::new();
    if let Some(b) = &exp.report.baseline {
        let tests = baseline::against(b, results);
        for obj in &mut json_rows {
            let key = (obj["model"].as_str().unwrap_or("").to_string(), obj["point"].as_str().unwrap_or("").to_string());
            if let Some(t) = tests.get(&key) {
                obj["tests"] = json!(t);
            }
        }
        // The tables show a point by its name; the tests know it by its id.
        let name_of = |id: &str| exp.runs.iter().find(|r| r.point_id == id).map_or(id.to_string(), |r| r.point_name.clone());
        for ((m, p), cols) in &tests {
            for (c, t) in cols {
                if t.significant(exp.report.alpha) {
                    let better = (t.mean_diff > 0.0) != latex::lower_is_better(c);
                    significant.insert((m.clone(), name_of(p), c.clone()), better);
                }
            }
        }
    }
    Ok(Table { title: exp.section.name.clone(), header, rows, json: json_rows, metric_cols, significant })
}

/// Ranking metrics the terminal shows of the metrics table (unless `[report] columns` chose
/// them): the ones a reader compares first, so the table fits an 80-220 column screen.
const TERMINAL_METRICS: &[&str] = &["Recall", "NDCG", "Hit", "Coverage", "ANNRecall"];

/// Timing columns the terminal shows of an index experiment's metrics table; the latency
/// percentiles, build time and size stay in the files.
const TERMINAL_TIMING: &[&str] = &["train_s", "qps_batch", "qps_1t"];

/// The columns of the metrics table the terminal shows: the row's names, the
/// [`TERMINAL_METRICS`] (all chosen metrics when `chosen`), metrics without a cut-off
/// (Macro-F1, AUC) and [`TERMINAL_TIMING`].
pub fn terminal_columns(v: &paper::View, chosen: bool) -> Vec<usize> {
    (0..v.header.len())
        .filter(|&i| {
            let h = &v.header[i];
            if !v.arrows[i].is_empty() || h.contains('@') {
                let metric = h.split('@').next().unwrap_or(h);
                return chosen || !h.contains('@') || TERMINAL_METRICS.contains(&metric.strip_prefix("exact ").unwrap_or(metric));
            }
            !ANN_TAIL.contains(&h.as_str()) || TERMINAL_TIMING.contains(&h.as_str())
        })
        .collect()
}

/// The compact terminal table of a paper's metrics table ([`terminal_columns`]), its marks
/// kept and its ranks left out (a terminal has no bold that survives a pipe).
pub fn to_terminal(p: &paper::Paper, chosen: bool) -> String {
    let v = &p.views[0];
    let keep = terminal_columns(v, chosen);
    let mut b = tabled::builder::Builder::default();
    b.push_record(keep.iter().map(|&i| v.header[i].clone()));
    for r in &v.rows {
        b.push_record(keep.iter().map(|&i| crate::term::escape_controls(&r[i])));
    }
    let mut table = b.build();
    table.with(tabled::settings::Style::rounded());
    format!("{}\n{table}", p.title)
}

/// The error of each failed row (by row index), from the rows' JSON.
fn row_errors(t: &Table) -> Vec<(usize, String)> {
    t.json.iter().enumerate().filter_map(|(i, r)| r["error"].as_str().map(|e| (i, e.to_string()))).collect()
}

/// A Markdown table cell: `|` escaped, HTML (which Markdown renders) neutralised, line
/// breaks (which end the row) as spaces. Names come from configs and data files.
pub fn md_cell(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// A CSV cell: quoted when it holds a comma, quote or line break, and a text that a
/// spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR first) prefixed with `'`,
/// as OWASP advises; numbers (`-0.5`) stay numbers.
pub fn csv_cell(s: &str) -> String {
    let formula = s.starts_with(['=', '+', '-', '@', '\t', '\r']) && s.parse::<f64>().is_err();
    let s = if formula { format!("'{s}") } else { s.to_string() };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

pub fn to_markdown(t: &Table) -> String {
    let esc = |s: &String| md_cell(s);
    let mut out = format!("# {}\n\n| {} |\n|{}|\n", t.title, t.header.iter().map(esc).collect::<Vec<_>>().join(" | "), vec!["---"; t.header.len()].join("|"));
    for r in &t.rows {
        out += &format!("| {} |\n", r.iter().map(esc).collect::<Vec<_>>().join(" | "));
    }
    out
}

/// The errors of a table's failed rows, the reasons of rows without numbers, and the notes of
/// models whose empty cells have a reason (one line per model), as Markdown lists (empty when
/// there are none).
pub fn failed_rows_markdown(t: &Table) -> String {
    let mut out = String::new();
    let mut notes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in &t.json {
        if let (Some(note), Some(model)) = (r["note"].as_str(), r["model"].as_str()) {
            let models = notes.entry(note.to_string()).or_default();
            if !models.iter().any(|m| m == model) {
                models.push(model.to_string());
            }
        }
    }
    if !notes.is_empty() {
        out += "\nNotes:\n\n";
        for (note, models) in notes {
            out += &format!("- {}: {}\n", models.iter().map(|m| md_cell(m)).collect::<Vec<_>>().join(", "), md_cell(&note));
        }
    }
    if t.json.iter().any(|r| r["latency"]["contended"] == json!(true)) {
        out += &format!(
            "\n{CONTENDED}: latency measured while other stages ran beside it (`--jobs` > 1); `runner run --force=eval --jobs 1` measures it alone.\n"
        );
    }
    let reasons: Vec<(usize, String)> = t.json.iter().enumerate().filter_map(|(i, r)| r["reason"].as_str().map(|e| (i, e.to_string()))).collect();
    for (title, list) in [("Failed rows", row_errors(t)), ("Rows without numbers", reasons)] {
        if list.is_empty() {
            continue;
        }
        out += &format!("\n{title}:\n\n");
        for (i, e) in list {
            let r = &t.rows[i];
            out += &format!("- {} (point {}, seed {}): {}\n", md_cell(&r[0]), r[1], r[2], md_cell(&e));
        }
    }
    out
}

/// CSV of the table; against a baseline, two columns per tested metric hold the Holm-
/// corrected p-values (`<metric> p_t`, `<metric> p_wilcoxon`); with failed rows, a last
/// `error` column holds their errors.
pub fn to_csv(t: &Table) -> String {
    let cell = |s: &String| csv_cell(s);
    let errors: BTreeMap<usize, String> = row_errors(t).into_iter().collect();
    let tested: Vec<String> = t.header.iter().filter(|h| t.json.iter().any(|r| r["tests"].get(h.as_str()).is_some())).cloned().collect();
    let mut header = t.header.clone();
    for c in &tested {
        header.push(format!("{c} p_t"));
        header.push(format!("{c} p_wilcoxon"));
    }
    if !errors.is_empty() {
        header.push("error".into());
    }
    let mut out = header.iter().map(cell).collect::<Vec<_>>().join(",") + "\n";
    for (i, r) in t.rows.iter().enumerate() {
        let mut r = r.clone();
        for c in &tested {
            let test = &t.json.get(i).map_or(&Value::Null, |j| &j["tests"][c.as_str()]);
            for f in ["t_p_holm", "wilcoxon_p_holm"] {
                r.push(test[f].as_f64().map_or(String::new(), |p| format!("{p:.3e}")));
            }
        }
        if !errors.is_empty() {
            r.push(errors.get(&i).cloned().unwrap_or_default());
        }
        out += &(r.iter().map(cell).collect::<Vec<_>>().join(",") + "\n");
    }
    out
}

/// `results/<experiment>/run.json` ([`history::run_json`]). Written by every report, and by a
/// detached Slurm submission so `runner report` can assemble the tables once the jobs are
/// done; a previous run of other settings is first moved to `history/` ([`history`]).
pub fn write_run_json(exp: &Experiment) -> Result<()> {
    let dir = exp.section.results_dir.join(&exp.section.name);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    keep_previous(exp, &dir)?;
    crate::interrupt::write_set(&dir, &[("run.json", serde_json::to_string_pretty(&history::run_json(exp))?)])
}

/// [`history::keep_previous`], saying where the previous tables went.
fn keep_previous(exp: &Experiment, dir: &std::path::Path) -> Result<()> {
    if let Some(to) = history::keep_previous(exp, dir)? {
        crate::say!("the previous run of `{}` used other settings; its tables are kept in {}", exp.section.name, to.display());
    }
    Ok(())
}

/// Writes the result files of an experiment and prints its table. `same_dataset` holds the
/// finished experiments of this invocation that share its dataset (itself included), for
/// the combined Pareto plot; it is empty while some are still running.
pub fn write_experiment(exp: &Experiment, rows: &[Row], same_dataset: &[(&Experiment, Vec<Row>)]) -> Result<()> {
    let t = build(exp, rows)?;
    let dir = exp.section.results_dir.join(&exp.section.name);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create the results folder `{}`", dir.display()))?;
    keep_previous(exp, &dir)?;
    // With several seeds, people read one mean ± std row per model and point; the per-seed
    // rows stay in the CSV and JSON.
    let aggregated = aggregate::by_seed(&t).unwrap_or_else(|| t.clone());
    let paper = paper::build(exp, &aggregated);
    // After the paper's tables, every column in one table (mean ± std, marks kept).
    let all = with_marks(&aggregated);
    let mut md = paper::to_markdown(&paper) + &failed_rows_markdown(&t);
    md += &format!(
        "\n## All columns\n\nEvery column, as results.csv has them per seed.\n\n{}",
        to_markdown(&all).split_once("\n\n").map_or(String::new(), |(_, rest)| rest.to_string())
    );
    crate::interrupt::write_set(
        &dir,
        &[("results.md", md), ("results.csv", to_csv(&t)), ("results.json", serde_json::to_string_pretty(&t.json)?), ("results.tex", latex::to_latex(&paper))],
    )?;
    for c in &paper.unknown_columns {
        crate::say!("warning: [report] columns: `{c}` names no column of `{}`", exp.section.name);
    }
    let chosen = !exp.report.columns.is_empty();
    crate::say!("\n{}\nwritten to {}/results.{{md,csv,json,tex}} (settings, timing and every column: results.md)", to_terminal(&paper, chosen), dir.display());
    let mut plotted = Vec::new();
    if let Some(p) = pareto::write_experiment_plot(exp, &t, &dir)? {
        crate::say!("pareto plot (recall vs queries/s): {}", p.display());
        plotted.push(p);
    }
    let more = figures::write_all(exp, &t, rows, &dir)?;
    for p in &more {
        crate::say!("plot: {}", p.display());
    }
    plotted.extend(more);
    let tables: Vec<(&Experiment, Table)> = same_dataset.iter().map(|(e, r)| Ok((*e, build(e, r)?))).collect::<Result<_>>()?;
    if let Some(p) = pareto::write_combined_plot(exp, &tables)? {
        crate::say!("pareto plot of every experiment on this dataset: {}", p.display());
    }
    // The page to look at with the run.json it was made from (the previous run was kept
    // above), and the folder's list of pages.
    let run_json = serde_json::to_string_pretty(&history::run_json(exp))?;
    crate::interrupt::write_set(&dir, &[("index.html", html::page(exp, &paper, &t, &plotted)), ("run.json", run_json)])?;
    crate::interrupt::write_set(&exp.section.results_dir, &[("index.html", html::index(&exp.section.results_dir)?)])?;
    crate::say!("report page: {}", dir.join("index.html").display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_terminal_keeps_names_main_metrics_and_few_timings() {
        let header: Vec<String> =
            ["model", "point", "Recall@10", "NDCG@10", "MRR@10", "ANNRecall@10", "ANNRecall@20", "Macro-F1", "qps_1t", "qps_batch", "p50_us", "p99_us"]
                .map(String::from)
                .to_vec();
        let arrows = header.iter().map(|h| if h.contains('@') || h == "Macro-F1" { "↑" } else { "" }).collect();
        let n = header.len();
        let v = paper::View {
            name: "Metrics",
            rows: vec![header.iter().map(|h| format!("{h}\x1b[2J")).collect()],
            ranks: vec![vec![paper::Rank::None; n]],
            numeric: vec![true; n],
            arrows,
            header,
        };
        let kept: Vec<&str> = terminal_columns(&v, false).into_iter().map(|i| v.header[i].as_str()).collect();
        assert_eq!(kept, ["model", "point", "Recall@10", "NDCG@10", "ANNRecall@10", "ANNRecall@20", "Macro-F1", "qps_1t", "qps_batch"]);
        // Columns the user chose are all shown.
        assert_eq!(terminal_columns(&v, true).len(), 10);
        let p = paper::Paper { title: "x".into(), views: vec![v], ..Default::default() };
        let shown = to_terminal(&p, false);
        assert!(shown.contains("Recall@10") && !shown.contains("MRR@10") && !shown.contains('\x1b'), "{shown}");
    }

    #[test]
    fn markdown_and_csv_escape() {
        let t =
            Table { title: "x".into(), header: vec!["a".into(), "b".into()], rows: vec![vec!["1|2".into(), "say \"hi\", ok".into()]], ..Default::default() };
        let md = to_markdown(&t);
        assert!(md.contains("| 1\\|2 |"), "{md}");
        let csv = to_csv(&t);
        assert_eq!(csv.lines().nth(1).unwrap(), "1|2,\"say \"\"hi\"\", ok\"");
        // Formulas are neutralised, numbers kept; HTML in Markdown is text.
        assert_eq!(csv_cell("=cmd|' /C calc'!A0"), "'=cmd|' /C calc'!A0");
        assert_eq!(csv_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_cell("-0.5"), "-0.5");
        assert_eq!(csv_cell("+x,y"), "\"'+x,y\"");
        assert_eq!(md_cell("<img src=x onerror=alert(1)>|a\nb"), "&lt;img src=x onerror=alert(1)&gt;\\|a b");
    }
}
