//! One self-contained HTML page per experiment (`results/<experiment>/index.html`): the table
//! (sortable by clicking a header; a few lines of plain JavaScript, no framework), with
//! `mean ± std` and the baseline's marks, the failed rows, every plot inline, the config file,
//! and each row's timings and eval-stage key; and `results/index.html` linking every
//! experiment of the results folder.

use super::{Table, DAGGER};
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
.plots svg{max-width:900px;height:auto;border:1px solid #eee}pre{background:#f6f6f6;padding:1em;overflow:auto}.failed{color:#b00}";

/// Sorts a table by the clicked column: numbers (the leading number of `0.1 ± 0.02†`) as
/// numbers, the rest as text; a second click reverses.
const SCRIPT: &str = "document.querySelectorAll('table.sortable th').forEach(function(th,i){th.addEventListener('click',function(){\
var tb=th.closest('table').tBodies[0],rows=Array.from(tb.rows),asc=th.dataset.asc!=='1';th.dataset.asc=asc?'1':'0';\
var key=function(r){var t=r.cells[i].textContent.trim(),n=parseFloat(t);return isNaN(n)?t:n};\
rows.sort(function(a,b){var x=key(a),y=key(b);var c=(typeof x==='number'&&typeof y==='number')?x-y:String(x).localeCompare(String(y));return asc?c:-c});\
rows.forEach(function(r){tb.appendChild(r)})})});";

/// The page of one experiment. `shown` is the table people read (mean ± std, marks), `full`
/// the per-seed table (timings, errors, keys), `plots` the SVG files to inline.
pub fn page(exp: &Experiment, shown: &Table, full: &Table, plots: &[PathBuf], baseline_note: Option<String>) -> String {
    let mut h = String::new();
    h += &format!("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>\n", esc(&shown.title));
    h += &format!("<h1>{}</h1>\n", esc(&shown.title));
    if !exp.section.description.is_empty() {
        h += &format!("<p>{}</p>\n", esc(&exp.section.description));
    }
    h += &format!("<p>{} runs from <code>{}</code>. Click a column to sort.</p>\n", full.rows.len(), esc(&shown_path(&exp.file)));
    h += "<table class=\"sortable\" id=\"results\"><thead><tr>";
    for c in &shown.header {
        h += &format!("<th>{}</th>", esc(c));
    }
    h += "</tr></thead><tbody>\n";
    for r in &shown.rows {
        h += "<tr>";
        for c in r {
            let class = if c.contains("FAILED") { " class=\"failed\"" } else { "" };
            h += &format!("<td{class}>{}</td>", esc(c));
        }
        h += "</tr>\n";
    }
    h += "</tbody></table>\n";
    if let Some(note) = baseline_note {
        h += &format!("<p>{}</p>\n", esc(&note));
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
            esc(r["point"].as_str().unwrap_or("")),
            r["seed"],
            num("train_seconds"),
            num("index_seconds"),
            esc(r["eval_key"].as_str().unwrap_or(""))
        );
    }
    h += "</tbody></table>\n";
    let config = std::fs::read_to_string(&exp.file).unwrap_or_default();
    h += &format!("<h2>Config</h2><pre>{}</pre>\n", esc(&config));
    h += &format!("<script>{SCRIPT}</script>\n</body></html>\n");
    debug_assert!(!h.contains(&format!("{DAGGER}{DAGGER}")));
    h
}

/// `results_dir/index.html`: a link to every experiment page below `results_dir`.
pub fn index(results_dir: &Path) -> Result<String> {
    let mut names: Vec<String> = std::fs::read_dir(results_dir)?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("index.html").is_file())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    let mut h = format!("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Experiments</title><style>{STYLE}</style></head><body>\n<h1>Experiments</h1>\n<ul>\n");
    for n in &names {
        h += &format!("<li><a href=\"{0}/index.html\">{0}</a></li>\n", esc(n));
    }
    h += "</ul>\n</body></html>\n";
    Ok(h)
}

/// `path` relative to the working folder when it lies below it (`runner report` loads the
/// config by its absolute path; the page should read as the run did).
fn shown_path(path: &std::path::Path) -> String {
    let rel = std::env::current_dir().ok().and_then(|cwd| path.strip_prefix(cwd).ok().map(|p| p.to_path_buf()));
    rel.unwrap_or_else(|| path.to_path_buf()).display().to_string()
}
