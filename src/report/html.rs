//! One self-contained HTML page per experiment (`results/<experiment>/index.html`): the
//! paper's tables ([`super::paper`]: metrics first, sortable by clicking a header with a few
//! lines of plain JavaScript, then all metrics, settings and timing), the failed rows, every
//! plot inline, each run's timings and eval-stage key, and the config file with the overrides
//! the tables used; and `results/index.html` listing every experiment of the results folder
//! with its best model per metric.

use super::paper::{Paper, Rank, View};
use super::Table;
use crate::config::Experiment;
use anyhow::Result;
use std::path::{Path, PathBuf};

/// Escapes text for HTML.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;font-size:13px}\
th,td{border:1px solid #ccc;padding:3px 7px;text-align:right}th{background:#f2f2f2;cursor:pointer;position:sticky;top:0}\
td:first-child,th:first-child{text-align:left}tr:nth-child(even){background:#fafafa}.plots figure{display:inline-block;margin:1em;vertical-align:top}\
.plots svg{max-width:900px;height:auto;border:1px solid #eee}pre{background:#f6f6f6;padding:1em;overflow:auto}.failed{color:#b00}\
td.name,th.name{text-align:left;max-width:26em;overflow-wrap:break-word}.caption{max-width:1100px;color:#444}details{margin:1em 0}";

/// Sorts a table by the clicked column: numbers (the leading number of `0.1 ± 0.02†`) as
/// numbers, the rest as text; a second click reverses.
const SCRIPT: &str = "document.querySelectorAll('table.sortable th').forEach(function(th,i){th.addEventListener('click',function(){\
var tb=th.closest('table').tBodies[0],rows=Array.from(tb.rows),asc=th.dataset.asc!=='1';th.dataset.asc=asc?'1':'0';\
var key=function(r){var t=r.cells[i].textContent.trim(),n=parseFloat(t);return isNaN(n)?t:n};\
rows.sort(function(a,b){var x=key(a),y=key(b);var c=(typeof x==='number'&&typeof y==='number')?x-y:String(x).localeCompare(String(y));return asc?c:-c});\
rows.forEach(function(r){tb.appendChild(r)})})});";

/// One view as an HTML table (`id` on the metrics table, sortable): metric headers with
/// their direction, the best cell of each metric column bold and the second underlined.
fn view_table(v: &View, id: &str) -> String {
    let mut h = format!("<table class=\"sortable\" id=\"{id}\"><thead><tr>");
    for (c, name) in v.header.iter().enumerate() {
        let class = if v.numeric[c] { "" } else { " class=\"name\"" };
        let arrow = if v.arrows[c].is_empty() { String::new() } else { format!(" {}", v.arrows[c]) };
        h += &format!("<th{class}>{}{arrow}</th>", esc(name));
    }
    h += "</tr></thead><tbody>\n";
    for (r, row) in v.rows.iter().enumerate() {
        h += "<tr>";
        for (c, cell) in row.iter().enumerate() {
            let class = if cell.contains("FAILED") {
                " class=\"failed\""
            } else if v.numeric[c] {
                ""
            } else {
                " class=\"name\""
            };
            let text = match v.ranks[r][c] {
                Rank::Best => format!("<b>{}</b>", esc(cell)),
                Rank::Second => format!("<u>{}</u>", esc(cell)),
                Rank::None => esc(cell),
            };
            h += &format!("<td{class}>{text}</td>");
        }
        h += "</tr>\n";
    }
    h += "</tbody></table>\n";
    h
}

/// The page of one experiment: the paper's tables (`paper`), the failed rows, the plots to
/// inline, each run's timings and keys (`full`, per seed) and the config with its overrides.
pub fn page(exp: &Experiment, paper: &Paper, full: &Table, plots: &[PathBuf]) -> String {
    let mut h = String::new();
    h += &format!("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>\n", esc(&paper.title));
    h += &format!("<h1>{}</h1>\n", esc(&paper.title));
    if !exp.section.description.is_empty() {
        h += &format!("<p>{}</p>\n", esc(&exp.section.description));
    }
    let overrides = if exp.sets.is_empty() { String::new() } else { format!(" with {} override(s) (see Config)", exp.sets.len()) };
    h += &format!("<p>{} runs from <code>{}</code>{overrides}. Click a column to sort.</p>\n", full.rows.len(), esc(&shown_path(&exp.file)));
    h += &format!("<p class=\"caption\">{}</p>\n", esc(&paper.caption));
    for (i, v) in paper.views.iter().enumerate() {
        match (i, v.name) {
            (0, _) => {
                h += &view_table(v, "results");
                for l in &paper.legend {
                    h += &format!("<p>{}</p>\n", esc(l));
                }
                if !paper.unknown_columns.is_empty() {
                    h += &format!(
                        "<p class=\"failed\"><code>[report] columns</code> names no column of this table: {}</p>\n",
                        esc(&paper.unknown_columns.join(", "))
                    );
                }
            }
            (_, "All metrics") => {
                h += &format!("<details><summary>All metrics ({} columns)</summary>\n{}</details>\n", v.header.len(), view_table(v, "all-metrics"));
            }
            (_, name) => h += &format!("<h2>{name}</h2>\n{}", view_table(v, &name.to_lowercase())),
        }
    }
    let errors: Vec<(usize, &str)> = full.json.iter().enumerate().filter_map(|(i, r)| r["error"].as_str().map(|e| (i, e))).collect();
    if !errors.is_empty() {
        h += "<h2>Failed runs</h2><ul class=\"failed\">\n";
        for (i, e) in errors {
            let r = &full.rows[i];
            h += &format!("<li>{} (point {}, seed {}): {}</li>\n", esc(&r[0]), esc(&r[1]), esc(&r[2]), esc(e));
        }
        h += "</ul>\n";
    }
    if !plots.is_empty() {
        h += "<h2>Plots</h2><div class=\"plots\">\n";
        for p in plots {
            let name = p.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
            match std::fs::read_to_string(p) {
                // Inline, so the page stands alone; the XML prolog is not allowed there.
                Ok(svg) => {
                    let body = svg.find("<svg").map_or(svg.as_str(), |i| &svg[i..]);
                    h += &format!("<figure>{body}<figcaption>{}</figcaption></figure>\n", esc(&name));
                }
                Err(e) => h += &format!("<p class=\"failed\">{}: {}</p>\n", esc(&name), esc(&e.to_string())),
            }
        }
        h += "</div>\n";
    }
    h += "<h2>Runs: timings and cache keys</h2><table class=\"sortable\" id=\"runs\"><thead><tr><th>model</th><th>point</th><th>seed</th><th>train s</th><th>index s</th><th>eval key</th></tr></thead><tbody>\n";
    for r in &full.json {
        let num = |k: &str| r[k].as_f64().map_or("-".to_string(), |x| format!("{x:.2}"));
        h += &format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>\n",
            esc(r["model"].as_str().unwrap_or("")),
            esc(r["point_name"].as_str().or(r["point"].as_str()).unwrap_or("")),
            r["seed"],
            num("train_seconds"),
            num("index_seconds"),
            esc(r["eval_key"].as_str().unwrap_or(""))
        );
    }
    h += "</tbody></table>\n";
    let config = std::fs::read_to_string(&exp.file).unwrap_or_default();
    h += &format!("<h2>Config</h2><p><code>{}</code></p><pre>{}</pre>\n", esc(&shown_path(&exp.file)), esc(&config));
    if exp.sets.is_empty() {
        h += "<p>No overrides: the tables are this file's.</p>\n";
    } else {
        h += "<p>Overrides applied after the file (environment first, then <code>--set</code>), which the tables used:</p><pre id=\"overrides\">";
        for s in &exp.sets {
            h += &format!("{}\n", esc(s));
        }
        h += "</pre>\n";
    }
    h += &format!("<script>{SCRIPT}</script>\n</body></html>\n");
    h
}

/// `results_dir/index.html`: every experiment page below `results_dir`, with its best model
/// and point per main metric (mean over seeds, from its `results.json`) and a link.
pub fn index(results_dir: &Path) -> Result<String> {
    let mut names: Vec<String> = std::fs::read_dir(results_dir)?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("index.html").is_file())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    let mut h = format!("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Experiments</title><style>{STYLE}</style></head><body>\n<h1>Experiments</h1>\n");
    h += "<table id=\"experiments\"><thead><tr><th>experiment</th><th>runs</th><th>best per metric (mean over seeds)</th></tr></thead><tbody>\n";
    for n in &names {
        let rows: Vec<serde_json::Value> =
            std::fs::read_to_string(results_dir.join(n).join("results.json")).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default();
        let best: Vec<String> = super::summary::best_per_metric(&rows)
            .into_iter()
            .map(|b| format!("{}: <b>{}</b> {} ({:.4})", esc(&b.column), esc(&b.model), esc(&b.point), b.value))
            .collect();
        h += &format!(
            "<tr><td class=\"name\"><a href=\"{0}/index.html\">{0}</a></td><td>{1}</td><td class=\"name\">{2}</td></tr>\n",
            esc(n),
            rows.len(),
            best.join("<br>")
        );
    }
    h += "</tbody></table>\n</body></html>\n";
    Ok(h)
}

/// `path` relative to the working folder when it lies below it (`runner report` loads the
/// config by its absolute path; the page should read as the run did).
fn shown_path(path: &std::path::Path) -> String {
    let rel = std::env::current_dir().ok().and_then(|cwd| path.strip_prefix(cwd).ok().map(|p| p.to_path_buf()));
    rel.unwrap_or_else(|| path.to_path_buf()).display().to_string()
}
