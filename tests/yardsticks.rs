//! The yardsticks (ease, itemknn, als, bpr) end to end on the quickstart's synthetic data, and
//! the config errors that belong to the models that score rather than embed.

mod common;
use common::*;
use runner::config;
use runner::pipeline::{self, dag, stages::Executor};

/// The quickstart's dataset (configs/quickstart.toml), the yardsticks against popularity.
const CFG: &str = r#"
[experiment]
name = "yardsticks"
seeds = [42]

[dataset]
kind = "synthetic"
n_users = 2000
n_items = 1000
n_clusters = 20
seed = 7

[split]
kind = "leave_last_out"

[[model]]
kind = "popularity"

[[model]]
kind = "itemknn"

[[model]]
kind = "ease"

[[model]]
kind = "als"
iterations = 8

[[model]]
kind = "bpr"
epochs = 20

[metrics]
k = [10]
metrics = ["recall", "ndcg", "ild"]
task = ["retrieval", "similarity"]
"#;

#[test]
fn every_yardstick_beats_popularity_on_the_quickstart_data() {
    let d = tempfile::tempdir().unwrap();
    let p = write_config(d.path(), "y.toml", CFG);
    let exp = load(&p, &sandbox_sets(d.path()));
    let plan = pipeline::plan(vec![exp]).unwrap();
    let exec = Executor::new(&plan, false, false);
    let (summary, errors) = dag::execute(&plan, &exec, 2, &|_| {});
    assert!(errors.is_empty(), "stage errors: {:?}", errors.iter().map(|e| format!("{e:#}")).collect::<Vec<_>>());
    assert_eq!(summary.failed, 0);
    let rows = runner::report::build(&plan.experiments[0], &exec.rows(0).unwrap()).unwrap().json;
    let row = |m: &str| rows.iter().find(|r| r["model"] == m).unwrap_or_else(|| panic!("no row {m}"));
    let pop = metric(row("popularity"), "Recall@10");
    // Measured on this data: popularity 0.074; itemknn 0.64, ease 0.67, als 0.67, bpr 0.31 (20
    // epochs). A model that ranks by popularity or by noise stays near or below popularity.
    for (m, margin) in [("itemknn", 6.0), ("ease", 6.0), ("als", 6.0), ("bpr", 3.0)] {
        let r = metric(row(m), "Recall@10");
        assert!(r > margin * pop, "{m}: Recall@10 {r} vs popularity {pop}");
    }
    // The scoring models: no embedding-geometry columns, and a note saying why.
    for m in ["itemknn", "ease"] {
        let r = row(m);
        assert!(r["metrics"].get("ILD@10").is_none() && r["metrics"].get("sim mean").is_none(), "{m}: {}", r["metrics"]);
        assert!(r["note"].as_str().unwrap().contains("scores items rather than embedding them"));
    }
    for m in ["als", "bpr"] {
        let r = row(m);
        assert!(r["metrics"].get("ILD@10").is_some() && r["metrics"].get("sim mean").is_some(), "{m}: {}", r["metrics"]);
        assert!(r.get("note").is_none());
    }
    let als = row("als")["epochs"].as_array().unwrap().iter().map(|e| e["loss"].as_f64().unwrap()).collect::<Vec<_>>();
    assert!(als.len() == 8 && als.windows(2).all(|w| w[1] < w[0]), "als loss per iteration: {als:?}");
    let bpr = row("bpr")["epochs"].as_array().unwrap().iter().map(|e| e["loss"].as_f64().unwrap()).collect::<Vec<_>>();
    assert!(bpr.len() == 20 && bpr[19] < bpr[0], "bpr loss per epoch: {bpr:?}");

    // `similar` on itemknn answers what it recommends to a user who had only the item: the
    // items that keep it among their neighbours, by similarity (column `i` of the item vectors).
    let ri = plan.experiments[0].runs.iter().position(|r| r.model.name == "itemknn").unwrap();
    let served = exec.serve(0, ri).unwrap();
    assert!(served.scores_items);
    let items = &served.trained.items;
    for raw in ["i0", "i17", "i503"] {
        let i = served.dataset.items.get(raw).unwrap() as usize;
        let by = served.similar_by(None).unwrap();
        assert_eq!(by, runner::pipeline::serve::SimilarBy::ModelScore);
        let answers = served.similar(raw, 10, by).unwrap().answers;
        let mut row_i: Vec<f32> = (0..items.rows).filter(|&j| j != i).map(|j| items.row(j)[i]).filter(|&s| s > 0.0).collect();
        row_i.sort_by(|a, b| b.total_cmp(a));
        assert!(!answers.is_empty());
        for (a, want) in answers.iter().zip(&row_i) {
            assert!((a.score - want).abs() < 1e-6, "item {raw}: {} vs {want}", a.score);
        }
    }
}

const BASE: &str = r#"[experiment]
name = "t"

[dataset]
kind = "synthetic"
n_users = 100
n_items = 100
n_clusters = 5
mean_len = 10

[[model]]
kind = "itemknn"
"#;

fn err(body: &str) -> config::ConfigError {
    let d = tempfile::tempdir().unwrap();
    let p = write_config(d.path(), "c.toml", body);
    match config::load(&p, &[]) {
        Ok(_) => panic!("config should be rejected:\n{body}"),
        Err(e) => e,
    }
}

#[test]
fn scoring_models_take_only_the_flat_index() {
    let e = err(&format!("{BASE}\n[index]\nkind = \"hnsw\"\n"));
    assert_eq!((e.key.as_str(), e.line), ("index.kind", Some(15)), "{e}");
    assert!(e.message.contains("itemknn scores items rather than embedding them: only exact top-K (index kind flat) applies"), "{e}");
    let e = err(&BASE.replace("\"itemknn\"", "\"ease\"").replace("[[model]]", "[index]\nkind = \"ivf_flat\"\n\n[[model]]"));
    assert!(e.message.starts_with("ease scores items"), "{e}");
    // Sweeping index kinds over them points at the sweep.
    let e = err(&format!("{BASE}\n[sweep]\n\"index.kind\" = [\"flat\", \"hnsw\"]\n"));
    assert_eq!(e.line, Some(15), "{e}");
    assert!(e.message.contains("only exact top-K") && e.message.contains("set by [sweep]"), "{e}");
    // ... and only its inner product.
    let e = err(&format!("{BASE}\n[index]\nmetric = \"cos\"\n"));
    assert_eq!((e.key.as_str(), e.line), ("index.metric", Some(15)), "{e}");
    assert!(e.message.contains("itemknn scores items by an inner product"), "{e}");
    // Models that embed take any index.
    let d = tempfile::tempdir().unwrap();
    for kind in ["als", "bpr"] {
        let p = write_config(d.path(), "ok.toml", &format!("{}\n[index]\nkind = \"hnsw\"\n", BASE.replace("\"itemknn\"", &format!("\"{kind}\""))));
        config::load(&p, &[]).unwrap_or_else(|e| panic!("{kind}: {e}"));
    }
}

#[test]
fn yardstick_parameter_errors_name_their_line() {
    for (model, line, key, hint) in [
        ("kind = \"ease\"\nlamda = 10", 13, "model.0.lamda", Some("did you mean `lambda`?")),
        ("kind = \"itemknn\"\nweighting = \"bm24\"", 13, "model.0.weighting", None),
        ("kind = \"itemknn\"\nk = 0", 13, "model.0.k", None),
        ("kind = \"als\"\ncg_steps = 0", 13, "model.0.cg_steps", None),
        ("kind = \"bpr\"\nfactor = 8", 13, "model.0.factor", Some("did you mean `factors`?")),
    ] {
        let e = err(&BASE.replace("kind = \"itemknn\"", model));
        assert_eq!((e.key.as_str(), e.line), (key, Some(line)), "{e}");
        if let Some(h) = hint {
            assert_eq!(e.hint.as_deref(), Some(h), "{e}");
        }
    }
}
