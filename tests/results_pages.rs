//! Results a researcher can use as they are: points named by their values everywhere a person
//! sees them (and `--point window=5`), runs that a rerun with other settings does not lose,
//! the overrides on the page, `results/index.html` with each experiment's best model, and
//! `[report] columns` checked against the cut-offs.

mod common;
use common::*;

const CFG: &str = r#"
[experiment]
name = "pages"
seeds = [1]
cache_dir = "cache"
results_dir = "results"

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
kind = "item2vec"
dim = 8
epochs = 2
threads = 1
sweep = { window = [2, 4], negatives = [3, 5] }

[metrics]
k = [5, 10]
metrics = ["recall", "ndcg"]
"#;

#[test]
fn points_are_named_by_their_values_and_selected_by_them() {
    let d = tempfile::tempdir().unwrap();
    write_config(d.path(), "pages.toml", CFG);
    let (code, plan, err) = runner(d.path(), &["run", "--plan", "pages.toml"]);
    assert_eq!(code, 0, "{err}");
    assert!(plan.contains("item2vec [negatives=3,window=2 seed 1]") && plan.contains("popularity [base seed 1]"), "{plan}");
    let (code, _, err) = runner(d.path(), &["run", "-q", "pages.toml"]);
    assert_eq!(code, 0, "{err}");
    let md = std::fs::read_to_string(d.path().join("results/pages/results.md")).unwrap();
    let metrics = md_table(&md, None);
    assert!(metrics.iter().any(|l| l.starts_with("| item2vec | negatives=5,window=4 |")), "{md}");
    let json: Vec<serde_json::Value> = serde_json::from_str(&std::fs::read_to_string(d.path().join("results/pages/results.json")).unwrap()).unwrap();
    let row = json.iter().find(|r| r["point_name"] == "negatives=5,window=4").expect("the JSON names the point");
    assert_eq!(row["point"].as_str().unwrap().len(), 6, "the hash stays the key: {row}");
    // Selected by all its values, in any order, or by its hash; some values that name two
    // points are refused with both listed.
    let ask = |point: &str| runner(d.path(), &["recommend", "pages.toml", "--model", "item2vec", "--point", point, "--user", "u1", "-k", "3"]);
    for p in ["window=4,negatives=5", "negatives=5, window=4", row["point"].as_str().unwrap()] {
        let (code, _, err) = ask(p);
        assert_eq!(code, 0, "{p}: {err}");
    }
    let (code, _, err) = ask("window=4");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("`--point window=4` matches 2 points of `item2vec`: negatives=3,window=4; negatives=5,window=4"), "{err}");
    let (code, _, err) = ask("window=7");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("negatives=3,window=2; negatives=3,window=4"), "the points that exist: {err}");
}

#[test]
fn a_rerun_with_other_overrides_keeps_the_previous_tables() {
    let d = tempfile::tempdir().unwrap();
    write_config(d.path(), "pages.toml", &CFG.replace("sweep = { window = [2, 4], negatives = [3, 5] }", ""));
    let dir = d.path().join("results/pages");
    let (code, _, err) = runner(d.path(), &["run", "-q", "pages.toml"]);
    assert_eq!(code, 0, "{err}");
    let first = std::fs::read_to_string(dir.join("results.csv")).unwrap();
    // The same settings again: the tables are replaced, nothing is archived.
    let (code, _, err) = runner(d.path(), &["run", "-q", "pages.toml"]);
    assert_eq!(code, 0, "{err}");
    assert!(!dir.join("history").exists());
    // Other overrides: the previous tables move to history/<time>/ first.
    let (code, out, err) = runner(d.path(), &["run", "pages.toml", "--set", "model.item2vec.dim=12"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("used other settings; its tables are kept in") || err.contains("used other settings; its tables are kept in"), "{out}{err}");
    let kept: Vec<_> = std::fs::read_dir(dir.join("history")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(std::fs::read_to_string(kept[0].join("results.csv")).unwrap(), first, "the previous table, whole");
    assert!(kept[0].join("index.html").is_file() && kept[0].join("run.json").is_file());
    let run: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["sets"], serde_json::json!(["model.item2vec.dim=12"]), "{run}");
    let page = std::fs::read_to_string(dir.join("index.html")).unwrap();
    assert!(page.contains("id=\"overrides\">model.item2vec.dim=12"), "the page shows the overrides the tables used");
    // Re-rendering from the cache is the same run: nothing more is archived.
    let (code, _, err) = runner(d.path(), &["report", "results/pages"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(std::fs::read_dir(dir.join("history")).unwrap().count(), 1);
    // The folder's index lists the experiment with its best model per main metric.
    let index = std::fs::read_to_string(d.path().join("results/index.html")).unwrap();
    assert!(index.contains("<a href=\"pages/index.html\">pages</a>"), "{index}");
    assert!(index.contains("Recall@5: <b>") && index.contains("NDCG@5: <b>") && !index.contains("Recall@10: <b>"), "{index}");
}

#[test]
fn report_columns_choose_the_metrics_and_check_their_cut_offs() {
    let d = tempfile::tempdir().unwrap();
    let body = format!("{CFG}\n[report]\ncolumns = [\"NDCG@10\", \"recall\"]\nlabels = {{ item2vec = \"Item2Vec\", window = \"w\" }}\n");
    write_config(d.path(), "pages.toml", &body);
    let (code, _, err) = runner(d.path(), &["run", "-q", "pages.toml"]);
    assert_eq!(code, 0, "{err}");
    let md = std::fs::read_to_string(d.path().join("results/pages/results.md")).unwrap();
    let metrics = md_table(&md, None);
    assert!(metrics[0].starts_with("| model | point | NDCG@10 ↑ | Recall@5 ↑ | Recall@10 ↑ |"), "{md}");
    assert!(metrics.iter().any(|l| l.starts_with("| Item2Vec | negatives=3,w=2 |")), "{md}");
    // The figures name them as the tables do.
    let svg = std::fs::read_to_string(d.path().join("results/pages/metric-vs-k.svg")).unwrap();
    assert!(svg.contains("Item2Vec") && !svg.contains(">item2vec"), "the figure's legend uses the labels");
    let csv = std::fs::read_to_string(d.path().join("results/pages/results.csv")).unwrap();
    assert!(csv.starts_with("model,point,seed,") && csv.contains("item2vec,\"negatives=3,window=2\","), "the CSV keeps names as they are: {csv}");
    write_config(d.path(), "bad.toml", &body.replace("\"NDCG@10\"", "\"NDCG@20\""));
    let (code, _, err) = runner(d.path(), &["validate", "bad.toml"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("report.columns") && err.contains("cut-off 20") && err.contains("[metrics] k = [5, 10]"), "{err}");
    write_config(d.path(), "same.toml", &body.replace("item2vec = \"Item2Vec\"", "item2vec = \"Pop\", popularity = \"Pop\""));
    let (code, _, err) = runner(d.path(), &["validate", "same.toml"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("report.labels") && err.contains("would both be shown as `Pop`"), "{err}");
}
