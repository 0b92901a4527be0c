//! The HTML report: one page per experiment and an index, checked as text and, where Chromium
//! is installed (`.ci/run` installs Debian's package), rendered in a real headless browser.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

const CFG: &str = r#"
[experiment]
name = "page"
seeds = [1, 2]

[dataset]
kind = "synthetic"
n_users = 400
n_items = 200
n_clusters = 5
mean_len = 12
seed = 3

[[model]]
kind = "popularity"

[[model]]
kind = "item2vec"
dim = 16
epochs = 4
threads = 1
sweep = { window = [2, 4] }

[metrics]
k = [10]
metrics = ["recall", "ndcg"]

[report]
baseline = "popularity"
"#;

fn run_page(dir: &Path) -> PathBuf {
    let cfg = write_config(dir, "page.toml", CFG);
    let (summary, _) = run(vec![load(&cfg, &sandbox_sets(dir))], false);
    assert_eq!(summary.failed, 0);
    dir.join("results/page/index.html")
}

#[test]
fn the_page_holds_the_table_every_plot_the_config_and_the_keys() {
    let d = tempfile::tempdir().unwrap();
    let page = run_page(d.path());
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
    // Mean ± std rows: popularity once, item2vec once per window.
    let results = &html[html.find("id=\"results\"").unwrap()..];
    let results = &results[..results.find("</table>").unwrap()];
    assert_eq!(results.matches("<tr>").count(), 1 + 3, "header + 3 rows");
    assert!(results.contains(" ± ") && results.contains("item2vec") && results.contains("popularity"));
    // Every plot written beside the tables is inline.
    let svgs: Vec<String> = std::fs::read_dir(d.path().join("results/page"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".svg"))
        .collect();
    assert!(!svgs.is_empty());
    assert_eq!(html.matches("<svg").count(), svgs.len(), "{svgs:?}");
    for s in &svgs {
        assert!(html.contains(&format!("<figcaption>{s}</figcaption>")), "{s}");
    }
    assert!(html.contains("<pre>") && html.contains("baseline = &quot;popularity&quot;"), "the config is shown, escaped");
    let json: Vec<serde_json::Value> = serde_json::from_str(&std::fs::read_to_string(d.path().join("results/page/results.json")).unwrap()).unwrap();
    for r in &json {
        assert!(html.contains(r["eval_key"].as_str().unwrap()), "every run's eval key");
    }
    assert!(html.contains("<script>") && html.contains("sortable"), "sortable without a framework");
    let index = std::fs::read_to_string(d.path().join("results/index.html")).unwrap();
    assert!(index.contains("<a href=\"page/index.html\">page</a>"), "{index}");
}

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"].iter().find_map(|b| {
        let o = Command::new("sh").args(["-c", &format!("command -v {b}")]).output().ok()?;
        o.status.success().then(|| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim().to_string()))
    })
}

#[test]
fn the_page_renders_in_headless_chromium() {
    let Some(browser) = chromium() else {
        skip("the_page_renders_in_headless_chromium", "no Chromium on this machine (Debian's `chromium` package; .ci/run installs it)");
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let page = run_page(d.path());
    let url = format!("file://{}", page.display());
    let profile = d.path().join("profile");
    let base = |extra: &[String]| {
        let mut c = Command::new(&browser);
        c.args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(extra)
            .arg(&url);
        c.output().unwrap()
    };
    // The DOM after rendering and the script: the table's cells and each plot with content.
    let dom = base(&["--dump-dom".to_string()]);
    assert!(dom.status.success(), "{}", String::from_utf8_lossy(&dom.stderr));
    let dom = String::from_utf8_lossy(&dom.stdout).to_string();
    let results = &dom[dom.find("id=\"results\"").expect("the table rendered")..];
    assert!(results.matches("<td").count() >= 3 * 5, "cells present");
    assert!(results.contains(" ± "));
    let svgs: Vec<&str> = dom.split("<svg").skip(1).collect();
    assert!(!svgs.is_empty());
    for s in &svgs {
        let body = &s[..s.find("</svg>").expect("closed svg")];
        assert!(body.contains("<text") && (body.contains("<path") || body.contains("<polyline") || body.contains("<circle")), "a plot with content");
    }
    // A screenshot: a real PNG, not a blank page.
    let shot = d.path().join("page.png");
    let o = base(&[format!("--screenshot={}", shot.display()), "--window-size=1280,2400".to_string()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let png = std::fs::read(&shot).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(png.len() > 30_000, "a rendered page, not a blank one: {} bytes", png.len());
    if let Ok(keep) = std::env::var("KEEP_SCREENSHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }
}

/// Four models whose settings differ in many keys: a table that put every varying setting
/// before the metrics would push them off a 1,400-pixel page.
const WIDE: &str = r#"
[experiment]
name = "wide"
seeds = [1]

[dataset]
kind = "synthetic"
n_users = 300
n_items = 150
n_clusters = 5
mean_len = 10
seed = 3

[[model]]
kind = "popularity"

[[model]]
name = "item2vec_small_window_long_training"
kind = "item2vec"
dim = 8
window = 2
negatives = 3
epochs = 2
lr = 0.05
min_lr = 0.001
sample = 0.01
alpha = 0.5
query_last = 3
max_len = 20
threads = 1

[[model]]
name = "item2vec_large_window_short_training"
kind = "item2vec"
dim = 16
window = 6
negatives = 7
epochs = 1
lr = 0.02
min_lr = 0.0005
sample = 0.0
alpha = 0.75
query_last = 6
max_len = 40
threads = 1

[[model]]
kind = "random"
dim = 12

[metrics]
k = [10, 20]
metrics = ["recall", "ndcg", "hit", "mrr", "coverage"]
"#;

/// Renders `page` in headless Chromium at 1,400 x 1,000 with `probe` (JavaScript that sets
/// attributes on `<body>`) run after the page's own script; returns the DOM then.
fn probe_dom(browser: &Path, dir: &Path, page: &Path, probe: &str) -> String {
    let html = std::fs::read_to_string(page).unwrap();
    let probed = page.with_file_name("probed.html");
    std::fs::write(&probed, html.replace("</body>", &format!("<script>{probe}</script></body>"))).unwrap();
    let o = Command::new(browser)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1400,1000", "--dump-dom"])
        .arg(format!("--user-data-dir={}", dir.join("profile-probe").display()))
        .arg(format!("file://{}", probed.display()))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// The value of attribute `name` on the rendered `<body>`.
fn body_attr(dom: &str, name: &str) -> String {
    let at = dom.find(&format!("{name}=\"")).unwrap_or_else(|| panic!("no {name} on <body>"));
    dom[at + name.len() + 2..].split('"').next().unwrap().to_string()
}

#[test]
fn the_first_metric_column_lies_within_1400_pixels() {
    let Some(browser) = chromium() else {
        skip("the_first_metric_column_lies_within_1400_pixels", "no Chromium on this machine (Debian's `chromium` package; .ci/run installs it)");
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let cfg = write_config(d.path(), "wide.toml", WIDE);
    let (summary, _) = run(vec![load(&cfg, &sandbox_sets(d.path()))], false);
    assert_eq!(summary.failed, 0);
    let page = d.path().join("results/wide/index.html");
    let settings = std::fs::read_to_string(d.path().join("results/wide/results.md")).unwrap();
    let varying = md_table(&settings, Some("Settings"))[0].matches("| model.").count();
    assert!(varying >= 8, "the settings should be many, to test something: {varying}");
    let probe = "var th=Array.from(document.querySelectorAll('#results th')).find(function(t){return /[↑↓]/.test(t.textContent)});\
        document.body.setAttribute('data-first-metric', th ? th.textContent + '|' + th.getBoundingClientRect().left : 'none');\
        document.body.setAttribute('data-table-right', document.querySelector('#results').getBoundingClientRect().right);\
        var figs=Array.from(document.querySelectorAll('.plots svg')), bad=[];\
        figs.forEach(function(svg,i){var ts=Array.from(svg.querySelectorAll('text')), word=function(t){return /[A-Za-z]/.test(t.textContent)};\
          var rot=function(t){return (t.getAttribute('transform')||'').indexOf('rotate')>=0};\
          var low=Math.max.apply(null,ts.filter(function(t){return !rot(t)&&!isNaN(parseFloat(t.textContent))}).map(function(t){return t.getBoundingClientRect().top}).concat([-1e9]));\
          var y=ts.some(function(t){return rot(t)&&word(t)}), x=ts.some(function(t){return !rot(t)&&word(t)&&t.getBoundingClientRect().top>low});\
          if(!(x&&y)) bad.push(svg.parentNode.querySelector('figcaption').textContent);});\
        document.body.setAttribute('data-figures', figs.length + '|' + bad.join(','));";
    let dom = probe_dom(&browser, d.path(), &page, probe);
    let first = body_attr(&dom, "data-first-metric");
    let (name, x) = first.split_once('|').unwrap_or_else(|| panic!("no metric header in the results table: {first}"));
    assert_eq!(name, "Recall@10 ↑");
    let x: f64 = x.parse().unwrap();
    assert!(x < 1400.0, "the first metric column starts at {x} px");
    let right: f64 = body_attr(&dom, "data-table-right").parse().unwrap();
    assert!(right <= 1400.0, "the metrics table of four models at the smallest cut-off fits the page: it ends at {right} px");
    // Every figure, as the browser lays it out, has a y-axis title (rotated words) and an
    // x-axis title (words below the lowest horizontal number).
    let figures = body_attr(&dom, "data-figures");
    let (n, untitled) = figures.split_once('|').unwrap();
    assert!(n.parse::<usize>().unwrap() >= 3, "metric vs K, training, per-user at least: {figures}");
    assert!(untitled.is_empty(), "figures without axis titles: {untitled}");
}

#[test]
fn runner_report_renders_again_from_the_cache_alone() {
    let d = tempfile::tempdir().unwrap();
    let page = run_page(d.path());
    let dir = page.parent().unwrap().to_path_buf();
    let csv = std::fs::read_to_string(dir.join("results.csv")).unwrap();
    for f in ["results.md", "results.csv", "results.tex", "index.html"] {
        std::fs::remove_file(dir.join(f)).unwrap();
    }
    let report = |arg: &Path| Command::new(env!("CARGO_BIN_EXE_runner")).arg("report").arg(arg).output().unwrap();
    // The results folder holding the experiment, or the experiment's own folder.
    for arg in [d.path().join("results"), dir.clone()] {
        let o = report(&arg);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(std::fs::read_to_string(dir.join("results.csv")).unwrap(), csv, "the same table, timings included: nothing was recomputed");
        assert!(dir.join("index.html").is_file() && dir.join("results.tex").is_file());
    }
    // Without the cache there is nothing to render from.
    std::fs::remove_dir_all(d.path().join("cache")).unwrap();
    let o = report(&dir);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not cached; run `runner run"), "{}", String::from_utf8_lossy(&o.stderr));
    let o = report(&d.path().join("nothing-here"));
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn runner_compare_pairs_two_experiments_on_their_common_users() {
    let d = tempfile::tempdir().unwrap();
    run_page(d.path());
    let cfg = write_config(d.path(), "page2.toml", &CFG.replace("name = \"page\"", "name = \"page2\"").replace("epochs = 4", "epochs = 1"));
    let (summary, _) = run(vec![load(&cfg, &sandbox_sets(d.path()))], false);
    assert_eq!(summary.failed, 0);
    let (a, b) = (d.path().join("results/page"), d.path().join("results/page2"));
    let o = Command::new(env!("CARGO_BIN_EXE_runner")).arg("compare").arg(&a).arg(&b).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let md = std::fs::read_to_string(b.join("compare-page.md")).unwrap();
    assert!(md.starts_with("# page2 against page"), "{md}");
    let section = &md[md.find("## Recall@10").expect("a Recall@10 section")..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    let rows: Vec<&str> = section.lines().filter(|l| l.starts_with("| item2vec") || l.starts_with("| popularity")).collect();
    assert_eq!(rows.len(), 2 * 2 + 2, "item2vec at 2 points x 2 seeds, popularity at 2 seeds: {section}");
    for r in rows.iter().filter(|r| r.starts_with("| popularity")) {
        // The same deterministic model on the same users: no difference, p = 1.
        assert!(r.contains("| +0.0000 |") && r.contains("| 1.000e0 |"), "{r}");
    }
    for r in rows.iter().filter(|r| r.starts_with("| item2vec")) {
        let users: usize = r.split('|').nth(7).unwrap().trim().parse().unwrap();
        assert!(users >= 300, "the users both evaluated: {r}");
    }
    let o = Command::new(env!("CARGO_BIN_EXE_runner")).arg("compare").arg(&a).arg(d.path().join("nope")).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
}
