//! Paper-style output, end to end: beyond-accuracy metrics, mean ± std rows over seeds, the
//! LaTeX table, and paired significance tests against a baseline.

mod common;
use common::*;

const SEEDS: &str = r#"
[experiment]
name = "paper"
seeds = [1, 2, 3]

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
epochs = 5
threads = 1

[metrics]
k = [10]
metrics = ["recall", "ndcg", "map", "gini", "avg_pop", "long_tail", "ild", "coverage"]
"#;

#[test]
fn seeds_give_mean_std_rows_latex_and_beyond_accuracy_columns() {
    let d = tempfile::tempdir().unwrap();
    let cfg = write_config(d.path(), "paper.toml", SEEDS);
    let (summary, tables) = run(vec![load(&cfg, &sandbox_sets(d.path()))], false);
    assert_eq!(summary.failed, 0);
    let rows = &tables[0];
    assert_eq!(rows.len(), 6, "per-seed rows stay in the JSON");
    let pop = rows.iter().find(|r| r["model"] == "popularity").unwrap();
    let i2v = rows.iter().find(|r| r["model"] == "item2vec" && r["seed"] == 1).unwrap();
    // Both are deterministic (item2vec on one thread): the beyond-accuracy columns are pinned.
    let cols = ["MAP@10", "Gini@10", "AvgPop@10", "LongTail@10", "ILD@10"];
    let pins = [(pop, &[0.036204, 0.940050, 54.273750, 0.0][..]), (i2v, &[0.104341, 0.833565, 36.4835, 0.18525, 0.161588][..])];
    for (row, want) in pins {
        let got: Vec<(&str, f64, f64)> = cols.iter().zip(want).map(|(&c, &w)| (c, metric(row, c), w)).collect();
        assert_pinned(&format!("{} seed 1", row["model"]), &got);
    }
    // Popularity's one number per item is no embedding: no ILD, and the table says why.
    assert!(pop["metrics"].get("ILD@10").is_none(), "{pop}");
    assert!(pop["note"].as_str().is_some_and(|n| n.contains("not an embedding")), "{pop}");
    // Popularity recommends the same head items to everyone: maximal concentration, no tail.
    assert!(metric(pop, "Gini@10") > metric(i2v, "Gini@10"), "popularity concentrates exposure");
    assert!(metric(pop, "AvgPop@10") > metric(i2v, "AvgPop@10"));
    assert!(metric(pop, "LongTail@10") < metric(i2v, "LongTail@10") + 1e-12);
    assert!(metric(pop, "MAP@10") <= metric(pop, "Recall@10") + 1e-12, "AP never exceeds recall with one test item");
    let dir = d.path().join("results/paper");
    let md = std::fs::read_to_string(dir.join("results.md")).unwrap();
    let metrics = md_table(&md, None);
    assert_eq!(metrics.len(), 2 + 2, "header, rule, one row per model: {md}");
    assert!(metrics[0].starts_with("| model | Recall@10 ↑ |") && metrics[2].contains(" ± "), "metrics first, with their direction: {md}");
    assert!(md.contains("Mean ± standard deviation over seeds 1, 2, 3"), "{md}");
    let settings = md_table(&md, Some("Settings"));
    assert!(settings[0].contains("| seeds |") && settings[2].contains("1,2,3"), "{md}");
    let csv = std::fs::read_to_string(dir.join("results.csv")).unwrap();
    assert_eq!(csv.lines().count(), 7, "header + one row per seed: {csv}");
    let tex = std::fs::read_to_string(dir.join("results.tex")).unwrap();
    assert!(tex.contains("\\toprule") && tex.contains("$\\pm$") && tex.contains("\\textbf{"), "{tex}");
}

#[test]
fn rows_are_tested_against_the_baseline_on_the_same_users() {
    let d = tempfile::tempdir().unwrap();
    let body = format!("{SEEDS}\n[report]\nbaseline = \"popularity\"\n");
    let cfg = write_config(d.path(), "paper.toml", &body);
    let (_, tables) = run(vec![load(&cfg, &sandbox_sets(d.path()))], false);
    let rows = &tables[0];
    let i2v = rows.iter().find(|r| r["model"] == "item2vec").unwrap();
    let t = &i2v["tests"]["Recall@10"];
    assert!(t["users"].as_u64().unwrap() >= 300, "{t}");
    assert!(t["mean_diff"].as_f64().unwrap() > 0.0, "item2vec beats popularity on the planted clusters: {t}");
    assert!(t["t_p_holm"].as_f64().unwrap() < 0.05 && t["wilcoxon_p_holm"].as_f64().unwrap() < 0.05, "{t}");
    assert!(t["t_p_holm"].as_f64().unwrap() >= t["t_p"].as_f64().unwrap(), "Holm never lowers a p-value");
    let pop = rows.iter().find(|r| r["model"] == "popularity").unwrap();
    assert!(pop.get("tests").is_none(), "the baseline is not tested against itself");
    let dir = d.path().join("results/paper");
    let md = std::fs::read_to_string(dir.join("results.md")).unwrap();
    let metrics = md_table(&md, None);
    let i2v_line = metrics.iter().find(|l| l.starts_with("| item2vec")).unwrap();
    // Significantly better (the planted clusters favour item2vec), bold as the best.
    assert!(i2v_line.contains("†**") && !i2v_line.contains('‡'), "{md}");
    assert!(!metrics.iter().find(|l| l.starts_with("| popularity")).unwrap().contains('†'));
    assert!(md.contains("† / ‡: significantly better / worse than popularity") && md.contains("paired t-test and Wilcoxon"), "{md}");
    let csv = std::fs::read_to_string(dir.join("results.csv")).unwrap();
    assert!(csv.lines().next().unwrap().contains("Recall@10 p_t,Recall@10 p_wilcoxon"), "{csv}");
    assert!(!csv.contains('†'), "the CSV stays numeric");
    let tex = std::fs::read_to_string(dir.join("results.tex")).unwrap();
    assert!(tex.contains("$^\\dagger$") && tex.contains("\\label{tab:paper}") && tex.contains("\\footnotesize"), "{tex}");
}

#[test]
fn a_baseline_that_names_no_model_is_a_config_error() {
    let d = tempfile::tempdir().unwrap();
    let cfg = write_config(d.path(), "paper.toml", &format!("{SEEDS}\n[report]\nbaseline = \"populrity\"\n"));
    let e = runner::config::load(&cfg, &[]).err().expect("an error");
    assert_eq!(e.key, "report.baseline");
    assert!(e.hint.unwrap().contains("did you mean `popularity`"));
}

/// Six planted categories, enough users for Item2Vec to learn them.
const PLANTED: &str = "[dataset]\nkind = \"synthetic\"\nn_users = 800\nn_items = 300\nn_clusters = 6\nmean_len = 20\nseed = 3\n";

#[test]
fn similarity_task_separates_planted_categories_and_plots_are_written() {
    let d = tempfile::tempdir().unwrap();
    let body = &(format!("[experiment]\nname = \"sim\"\nseeds = [1]\n{PLANTED}")
        + r#"
[[model]]
kind = "random"
dim = 16

[[model]]
kind = "item2vec"
dim = 16
epochs = 10
threads = 1
sweep = { window = [2, 4], negatives = [3, 5] }

[metrics]
task = ["retrieval", "similarity"]
k = [10]
metrics = ["recall"]
similarity_pairs = 20000
"#);
    let cfg = write_config(d.path(), "sim.toml", body);
    let (summary, tables) = run(vec![load(&cfg, &sandbox_sets(d.path()))], false);
    assert_eq!(summary.failed, 0);
    let rows = &tables[0];
    let rnd = rows.iter().find(|r| r["model"] == "random").unwrap();
    assert!(metric(rnd, "sim same-diff").abs() < 0.03, "random vectors know no category: {}", metric(rnd, "sim same-diff"));
    for r in rows.iter().filter(|r| r["model"] == "item2vec") {
        assert!(metric(r, "sim same-diff") > 0.2, "item2vec groups the planted categories: {}", metric(r, "sim same-diff"));
        assert!(metric(r, "sim p05") <= metric(r, "sim p50") && metric(r, "sim p50") <= metric(r, "sim p95"));
        assert!(metric(r, "sim min") >= -1.0 && metric(r, "sim max") <= 1.0);
        assert_eq!(r["series"]["similarity histogram"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).sum::<f64>(), 20000.0);
    }
    let dir = d.path().join("results/sim");
    for f in ["loss.svg", "similarity.svg", "Recall_10-vs-model.window.svg", "Recall_10-vs-model.negatives.svg", "heatmap-model.negatives-model.window.svg"] {
        let svg = std::fs::read_to_string(dir.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert!(svg.starts_with("<svg") && svg.contains("<text") && svg.trim_end().ends_with("</svg>"), "{f}");
    }
    // Columns in reading order.
    let header = std::fs::read_to_string(dir.join("results.csv")).unwrap().lines().next().unwrap().to_string();
    let pos = |c: &str| header.find(c).unwrap_or_else(|| panic!("{c} in {header}"));
    assert!(pos("sim mean") < pos("sim std") && pos("sim p50") < pos("sim max") && pos("sim max") < pos("sim same mean"));
}

#[test]
fn map_task_draws_every_mapped_item_coloured_by_category() {
    let d = tempfile::tempdir().unwrap();
    let body = &(format!("[experiment]\nname = \"map\"\nseeds = [1]\n{PLANTED}")
        + r#"
[[model]]
kind = "item2vec"
dim = 16
epochs = 10
threads = 1

[metrics]
task = ["map"]
map = { perplexity = 20, iterations = 300, max_items = 200 }
"#);
    let cfg = write_config(d.path(), "map.toml", body);
    let (summary, tables) = run(vec![load(&cfg, &sandbox_sets(d.path()))], false);
    assert_eq!(summary.failed, 0);
    let score = metric(&tables[0][0], "map kNN@10");
    assert!(score > 0.2 && score <= 1.0, "neighbourhood preservation {score}");
    let svg = std::fs::read_to_string(d.path().join("results/map/map-item2vec-base-1.svg")).unwrap();
    assert_eq!(svg.matches("<circle").count(), 200, "one point per mapped item (max_items)");
    // Six planted categories, six colours.
    let mut fills: Vec<&str> = svg.split("fill=\"").skip(1).filter_map(|s| s.split('"').next()).filter(|f| f.starts_with('#') && *f != "#FFFFFF").collect();
    fills.sort();
    fills.dedup();
    assert!(fills.len() >= 6, "{fills:?}");
    // A bad key is a config error naming it.
    let bad = write_config(d.path(), "bad.toml", &body.replace("perplexity = 20", "perplexity = 1"));
    let e = runner::config::load(&bad, &[]).err().expect("an error");
    assert_eq!(e.key, "metrics.map.perplexity", "{e}");
}
