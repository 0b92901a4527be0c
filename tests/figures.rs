//! The report's figures from a real run: an experiment without a baseline still gets its
//! per-user box plot (the pipeline loads the one column it draws), and every figure titles
//! both axes.

mod common;
use common::*;

const CFG: &str = r#"
[experiment]
name = "figs"
seeds = [1, 2]

[dataset]
kind = "synthetic"
n_users = 300
n_items = 150
n_clusters = 4
mean_len = 10
seed = 5

[[model]]
kind = "popularity"

[[model]]
kind = "item2vec"
dim = 8
epochs = 3
threads = 1
sweep = { window = [2, 4] }

[metrics]
k = [5, 10]
metrics = ["recall", "ndcg"]
"#;

/// `<text>` bodies of an SVG, and whether each is rotated (a y-axis title).
fn texts(svg: &str) -> Vec<(bool, String)> {
    svg.split("<text")
        .skip(1)
        .filter_map(|s| {
            let (tag, rest) = s.split_once('>')?;
            Some((tag.contains("rotate("), rest.split_once("</text>")?.0.trim().to_string()))
        })
        .collect()
}

#[test]
fn a_run_without_a_baseline_draws_every_figure_with_axis_titles() {
    let d = tempfile::tempdir().unwrap();
    let cfg = write_config(d.path(), "figs.toml", CFG);
    let (summary, _) = run(vec![load(&cfg, &sandbox_sets(d.path()))], false);
    assert_eq!(summary.failed, 0);
    let dir = d.path().join("results/figs");
    for (file, x, y) in [
        ("metric-vs-k.svg", "K (cut-off)", "Recall@K (mean over seeds)"),
        ("Recall_5-vs-model.window.svg", "model.window", "Recall@5 (mean ± std over seeds)"),
        ("per-user-NDCG_5.svg", "NDCG@5 of one user", "configuration"),
        ("loss.svg", "epoch", "training loss"),
    ] {
        let svg = std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let t = texts(&svg);
        assert!(t.iter().any(|(r, b)| !r && b == x), "{file}: no x-axis title `{x}` in {t:?}");
        assert!(t.iter().any(|(r, b)| *r && b == y), "{file}: no y-axis title `{y}` in {t:?}");
    }
    // The sweep plot draws popularity, which has no window, as its reference line.
    let sweep = std::fs::read_to_string(dir.join("Recall_5-vs-model.window.svg")).unwrap();
    assert!(texts(&sweep).iter().any(|(_, b)| b == "popularity"));
}
