//! End-to-end behaviour of the stage DAG and its cache.

mod common;
use common::*;
use runner::pipeline::{self, StageKind};

const SMALL: &str = r#"
[experiment]
name = "small"
seeds = [1]

[dataset]
kind = "synthetic"
n_users = 300
n_items = 200
n_clusters = 5
mean_len = 12
seed = 3

[[model]]
kind = "popularity"

[[model]]
kind = "random"
dim = 8

[metrics]
k = [5, 10]
"#;

#[test]
fn quickstart_runs_end_to_end_and_popularity_beats_random() {
    let d = tempfile::tempdir().unwrap();
    let exp = load(std::path::Path::new("configs/quickstart.toml"), &sandbox_sets(d.path()));
    let (summary, tables) = run(vec![exp], false);
    assert_eq!(summary.failed, 0);
    let rows = &tables[0];
    assert_eq!(rows.len(), 3);
    let pop = rows.iter().find(|r| r["model"] == "popularity").unwrap();
    let rnd = rows.iter().find(|r| r["model"] == "random").unwrap();
    let i2v = rows.iter().find(|r| r["model"] == "item2vec").unwrap();
    assert!(metric(pop, "Recall@10") > metric(rnd, "Recall@10"), "popularity must beat random");
    // The planted sequences reward co-occurrence learning by a wide margin.
    assert!(metric(i2v, "Recall@10") > 3.0 * metric(pop, "Recall@10"), "item2vec {} vs popularity {}", metric(i2v, "Recall@10"), metric(pop, "Recall@10"));
    assert!(metric(i2v, "NDCG@10") > 3.0 * metric(pop, "NDCG@10"));
    assert!(i2v["train_seconds"].as_f64().unwrap() > 0.0, "training time is recorded");
    // Popularity is deterministic: every column is pinned.
    let cols = ["Recall@10", "NDCG@10", "Hit@10", "MRR@10", "Precision@10", "Coverage@10", "Novelty@10"];
    let want = [0.074, 0.046085, 0.074, 0.037566, 0.0074, 0.021, 3.001632];
    assert_pinned("quickstart popularity", &cols.iter().zip(want).map(|(&c, w)| (c, metric(pop, c), w)).collect::<Vec<_>>());
    for f in ["results.md", "results.csv", "results.json"] {
        assert!(d.path().join("results/quickstart").join(f).exists(), "{f} missing");
    }
    let md = std::fs::read_to_string(d.path().join("results/quickstart/results.md")).unwrap();
    assert!(md.contains("Recall@10") && md.contains("popularity"));
    // Every stage that ran records the process's peak memory in its manifest (Linux).
    if std::path::Path::new("/proc/self/status").exists() {
        let manifests: Vec<_> = glob::glob(&format!("{}/cache/*/*/manifest.json", d.path().display())).unwrap().map(|p| p.unwrap()).collect();
        assert!(manifests.len() >= 8, "{manifests:?}");
        for m in manifests {
            let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&m).unwrap()).unwrap();
            let peak = v["peak_rss_bytes"].as_u64().unwrap_or(0);
            assert!(peak > 1 << 20, "{}: peak_rss_bytes {peak}", m.display());
        }
    }
}

#[test]
fn second_run_computes_nothing_and_force_recomputes() {
    let d = tempfile::tempdir().unwrap();
    let cfg = write_config(d.path(), "small.toml", SMALL);
    let (first, t1) = run(vec![load(&cfg, &sandbox_sets(d.path()))], false);
    assert!(first.ran >= 9, "{first:?}");
    let (second, t2) = run(vec![load(&cfg, &sandbox_sets(d.path()))], false);
    assert_eq!(second.ran, 1, "only the report runs again: {second:?}");
    assert_eq!(second.cached, first.ran - 1);
    assert_eq!(t1[0][0]["metrics"], t2[0][0]["metrics"]);
    let (forced, _) = run(vec![load(&cfg, &sandbox_sets(d.path()))], true);
    assert_eq!(forced.cached, 0);
}

#[test]
fn identical_stages_are_shared_across_models_and_files() {
    let d = tempfile::tempdir().unwrap();
    let a = write_config(d.path(), "a.toml", SMALL);
    let b = write_config(d.path(), "b.toml", &SMALL.replace("name = \"small\"", "name = \"other\""));
    let sets = sandbox_sets(d.path());
    let plan = pipeline::plan(vec![load(&a, &sets), load(&b, &sets)]).unwrap();
    let count = |k: StageKind| plan.graph.node_weights().filter(|s| s.kind == k).count();
    assert_eq!(count(StageKind::Data), 1);
    assert_eq!(count(StageKind::Split), 1);
    assert_eq!(count(StageKind::Train), 2, "two models, shared by both files");
    assert_eq!(count(StageKind::Report), 2);
}

#[test]
fn keys_change_only_with_relevant_config() {
    let d = tempfile::tempdir().unwrap();
    let cfg = write_config(d.path(), "small.toml", SMALL);
    let sets = sandbox_sets(d.path());
    let keys = |extra: &[&str]| {
        let mut s = sets.clone();
        s.extend(extra.iter().map(|x| x.to_string()));
        let e = load(&cfg, &s);
        pipeline::run_keys(&e, &e.runs[1]).unwrap()
    };
    let base = keys(&[]);
    let again = keys(&[]);
    assert_eq!(base.eval, again.eval, "same config, same keys");
    // Writing a default explicitly changes nothing.
    let explicit = keys(&["model.1.dim=8", "split.kind=leave_last_out"]);
    assert_eq!(base.train, explicit.train);
    // An evaluation-only change leaves training alone.
    let metrics = keys(&["metrics.k=[3]"]);
    assert_eq!(base.train, metrics.train);
    assert_eq!(base.index, metrics.index);
    assert_ne!(base.eval, metrics.eval);
    // An index change leaves training alone.
    let metric = keys(&["index.metric=cos"]);
    assert_eq!(base.train, metric.train);
    assert_ne!(base.index, metric.index);
    // A split change retrains; a data change re-splits.
    let split = keys(&["split.validation=true"]);
    assert_eq!(base.data, split.data);
    assert_ne!(base.split, split.split);
    assert_ne!(base.train, split.train);
    let data = keys(&["dataset.seed=4"]);
    assert_ne!(base.data, data.data);
    assert_ne!(base.split, data.split);
    // A model parameter retrains that model only.
    let dim = keys(&["model.1.dim=16"]);
    assert_eq!(base.split, dim.split);
    assert_ne!(base.train, dim.train);
}

#[test]
fn corrupt_or_half_written_cache_entries_are_recomputed() {
    let d = tempfile::tempdir().unwrap();
    let cfg = write_config(d.path(), "small.toml", SMALL);
    let sets = sandbox_sets(d.path());
    let (first, t1) = run(vec![load(&cfg, &sets)], false);
    let first_ran = first.ran;
    let e = load(&cfg, &sets);
    let k = pipeline::run_keys(&e, &e.runs[0]).unwrap();
    let train_dir = d.path().join("cache/train").join(&k.train);
    // Damage an artifact of one training entry.
    let items = train_dir.join("items.f32");
    let original = std::fs::read(&items).unwrap();
    let mut bytes = original.clone();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&items, bytes).unwrap();
    // A half-written entry of another stage: no manifest.
    let split_dir = d.path().join("cache/split").join(&k.split);
    std::fs::remove_file(split_dir.join("manifest.json")).unwrap();
    let (again, t2) = run(vec![load(&cfg, &sets)], false);
    // Exactly the two damaged entries are computed again, and the report; the other
    // model's training, the indexes and evaluations stay cached (their keys are unchanged).
    assert_eq!((again.ran, again.cached), (3, first_ran - 3), "{again:?}");
    assert_eq!(std::fs::read(&items).unwrap(), original, "the damaged artifact is rewritten");
    assert!(split_dir.join("manifest.json").exists(), "the half-written split is complete again");
    assert_eq!(t1[0][0]["metrics"], t2[0][0]["metrics"], "recomputed results must match");
}

#[test]
fn sweeps_expand_into_rows_with_varying_columns() {
    let d = tempfile::tempdir().unwrap();
    let body = format!("{SMALL}\n[sweep]\n\"model.1.dim\" = [4, 8, 16]\n\"metrics.k\" = [[5], [10]]\n");
    let cfg = write_config(d.path(), "sweep.toml", &body);
    let e = load(&cfg, &sandbox_sets(d.path()));
    assert_eq!(e.runs.len(), 2 * 3 * 2, "2 models x 6 points");
    let ids: std::collections::HashSet<_> = e.runs.iter().map(|r| r.point_id.clone()).collect();
    assert_eq!(ids.len(), 6);
    let plan = pipeline::plan(vec![e]).unwrap();
    // Popularity ignores dim: its training is shared by all 6 points.
    let pop_trains = plan.graph.node_weights().filter(|s| s.kind == StageKind::Train && s.label.starts_with("popularity")).count();
    assert_eq!(pop_trains, 1);
    // A per-model sweep.
    let body = SMALL.replace("kind = \"random\"\ndim = 8", "kind = \"random\"\nsweep = { dim = [2, 3] }");
    let cfg = write_config(d.path(), "msweep.toml", &body);
    let e = load(&cfg, &sandbox_sets(d.path()));
    assert_eq!(e.runs.len(), 3);
    let (_, tables) = run(vec![e], false);
    let dims: Vec<String> = tables[0].iter().map(|r| r["config"]["model.dim"].to_string()).collect();
    assert!(dims.contains(&"\"2\"".to_string()) && dims.contains(&"\"3\"".to_string()), "{dims:?}");
}

#[test]
fn plan_marks_cached_stages() {
    let d = tempfile::tempdir().unwrap();
    let cfg = write_config(d.path(), "small.toml", SMALL);
    let sets = sandbox_sets(d.path());
    let out = |args: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_runner"));
        cmd.arg("run").arg(&cfg).arg("--plan").args(args);
        for s in &sets {
            cmd.arg("--set").arg(s);
        }
        let o = cmd.output().unwrap();
        assert!(o.status.success());
        String::from_utf8(o.stdout).unwrap()
    };
    let before = out(&[]);
    assert!(before.contains("to run") && !before.contains("cached"), "{before}");
    run(vec![load(&cfg, &sets)], false);
    let after = out(&[]);
    assert!(after.contains("cached") && !after.contains("to run"), "{after}");
    let forced = out(&["--force"]);
    assert!(forced.contains("to run"));
}

#[test]
fn approximate_indexes_report_ann_recall_and_reuse_builds_across_search_params() {
    let d = tempfile::tempdir().unwrap();
    let body = format!("{SMALL}\n[index]\nkind = \"hnsw\"\nef_search = 64\n");
    let cfg = write_config(d.path(), "hnsw.toml", &body);
    let sets = sandbox_sets(d.path());
    let e = load(&cfg, &sets);
    let k1 = pipeline::run_keys(&e, &e.runs[1]).unwrap();
    let (_, tables) = run(vec![e], false);
    let rnd = tables[0].iter().find(|r| r["model"] == "random").unwrap();
    let ann = metric(rnd, "ANNRecall@10");
    assert!(ann > 0.9, "hnsw on 200 items should be near exact, got {ann}");
    // The exact columns are flat search's numbers on the same vectors.
    let flat_cfg = write_config(d.path(), "flat.toml", &SMALL.replace("name = \"small\"", "name = \"flat\""));
    let (_, flat) = run(vec![load(&flat_cfg, &sets)], false);
    let flat_rnd = flat[0].iter().find(|r| r["model"] == "random").unwrap();
    for (exact, plain) in [("exact Recall@10", "Recall@10"), ("exact NDCG@10", "NDCG@10"), ("exact Recall@5", "Recall@5")] {
        assert_eq!(metric(rnd, exact), metric(flat_rnd, plain), "{exact} against flat search");
    }
    // A search-time parameter: same index entry, new evaluation.
    let mut sets2 = sets.clone();
    sets2.push("index.ef_search=16".into());
    let e2 = load(&cfg, &sets2);
    let k2 = pipeline::run_keys(&e2, &e2.runs[1]).unwrap();
    assert_eq!(k1.index, k2.index);
    assert_ne!(k1.eval, k2.eval);
    let (summary, _) = run(vec![e2], false);
    assert_eq!(summary.ran, 3, "two evals and the report: {summary:?}");
}

#[test]
fn deterministic_models_share_one_training_across_seeds() {
    let d = tempfile::tempdir().unwrap();
    let cfg = write_config(d.path(), "seeds.toml", &SMALL.replace("seeds = [1]", "seeds = [1, 2, 3]"));
    let plan = pipeline::plan(vec![load(&cfg, &sandbox_sets(d.path()))]).unwrap();
    let trains = |name: &str| plan.graph.node_weights().filter(|s| s.kind == StageKind::Train && s.label.starts_with(name)).count();
    assert_eq!(trains("popularity"), 1);
    assert_eq!(trains("random"), 3);
}

#[test]
fn sampler_changes_retrain_only_models_that_use_it() {
    let d = tempfile::tempdir().unwrap();
    let body = format!("{SMALL}\n[[model]]\nkind = \"two_tower\"\n");
    let cfg = write_config(d.path(), "s.toml", &body);
    let keys = |extra: &[&str]| {
        let mut s = sandbox_sets(d.path());
        s.extend(extra.iter().map(|x| x.to_string()));
        let e = load(&cfg, &s);
        e.runs.iter().map(|r| pipeline::run_keys(&e, r).unwrap().train).collect::<Vec<_>>()
    };
    let a = keys(&["sampler.kind=uniform"]);
    let b = keys(&["sampler.kind=frequency"]);
    assert_eq!(a[0], b[0], "popularity ignores the sampler");
    assert_eq!(a[1], b[1], "random ignores the sampler");
    assert_ne!(a[2], b[2], "two_tower retrains");
}

/// The executor lets go of what no stage still to run reads: a dataset's interactions once
/// its split ran (only splits read them here), and each stage's output once its last reader
/// ran. The results stay those of an ordinary run.
#[test]
fn the_executor_drops_outputs_no_stage_still_needs() {
    let d = tempfile::tempdir().unwrap();
    let cfg = write_config(d.path(), "small.toml", SMALL);
    let plan = pipeline::plan(vec![load(&cfg, &sandbox_sets(d.path()))]).unwrap();
    let exec = runner::pipeline::stages::Executor::new(&plan, false, false);
    let data = plan.graph.node_weights().find(|s| s.kind == StageKind::Data).unwrap().key.clone();
    assert_eq!(exec.holds_interactions(&data), None);
    let order = petgraph::algo::toposort(&plan.graph, None).unwrap();
    for n in order {
        let kind = plan.graph[n].kind;
        exec.execute(n).unwrap();
        match kind {
            StageKind::Data => assert_eq!(exec.holds_interactions(&data), Some(true)),
            StageKind::Split => assert_eq!(exec.holds_interactions(&data), Some(false), "the interactions outlived the split"),
            _ => {}
        }
    }
    assert_eq!(exec.holds_interactions(&data), None, "the dataset outlived its last reader");
    let rows = runner::report::build(&plan.experiments[0], &exec.rows(0).unwrap()).unwrap().json;
    let (_, reference) = run(vec![load(&cfg, &sandbox_sets(d.path()))], true);
    assert_eq!(rows.len(), 2);
    for (a, b) in rows.iter().zip(&reference[0]) {
        assert_eq!(a["metrics"], b["metrics"]);
    }
}

/// A changed data file invalidates the data stage, also an edit that keeps the file's size
/// and its modification time (a file system's clock can stand still between two writes),
/// while the same contents written again keep the key.
#[test]
fn an_edited_data_file_changes_the_data_key() {
    let d = tempfile::tempdir().unwrap();
    let csv = d.path().join("r.csv");
    // Item ids stay two-digit whatever the shift, so every version has the same size.
    let rows = |shift: u32| "user_id,item_id\n".to_string() + &(0..300u32).map(|i| format!("u{},i{}\n", i % 30, (i * 7 + shift) % 50 + 10)).collect::<String>();
    std::fs::write(&csv, rows(0)).unwrap();
    let body = format!(
        "[experiment]\nname = \"t\"\ndata_dir = \"{}\"\n[dataset]\nkind = \"table\"\npath = \"r.csv\"\n[[model]]\nkind = \"popularity\"\n",
        d.path().display()
    );
    let cfg = write_config(d.path(), "t.toml", &body);
    let key = || {
        let e = load(&cfg, &sandbox_sets(d.path()));
        pipeline::run_keys(&e, &e.runs[0]).unwrap().data
    };
    let first = key();
    let stamp = std::fs::metadata(&csv).unwrap().modified().unwrap();
    let rewrite = |text: String| {
        std::fs::write(&csv, text).unwrap();
        std::fs::File::options().write(true).open(&csv).unwrap().set_modified(stamp).unwrap();
    };
    rewrite(rows(1));
    assert_eq!(std::fs::metadata(&csv).unwrap().modified().unwrap(), stamp);
    assert_eq!(std::fs::metadata(&csv).unwrap().len() as usize, rows(0).len());
    assert_ne!(key(), first, "an edit of the same size and time must change the data key");
    rewrite(rows(0));
    assert_eq!(key(), first, "the same contents, size and time keep the key");
}

/// `[metrics] exclude_seen` on a table worked out by hand. Training counts: A 5, B 2. Users
/// 1-5 had A and hold out B (1-3) or C (4-5); users 6-7 had B and hold out D. Popularity's
/// top-1 leaving out what the user had is B for users 1-5 (3 hits) and A for 6-7: Recall@1
/// 3/7. Keeping seen items, everyone gets A, which nobody holds out: 0.
#[test]
fn exclude_seen_leaves_out_training_items_and_false_keeps_them() {
    let d = tempfile::tempdir().unwrap();
    let mut csv = String::from("user_id,item_id,timestamp\n");
    for (u, first, held) in [(1, "A", "B"), (2, "A", "B"), (3, "A", "B"), (4, "A", "C"), (5, "A", "C"), (6, "B", "D"), (7, "B", "D")] {
        csv += &format!("u{u},{first},1\nu{u},{held},2\n");
    }
    std::fs::write(d.path().join("r.csv"), csv).unwrap();
    let body = format!(
        "[experiment]\nname = \"seen\"\ndata_dir = \"{}\"\n[dataset]\nkind = \"table\"\npath = \"r.csv\"\ntime_col = \"timestamp\"\n[split]\nkind = \"leave_last_out\"\n[[model]]\nkind = \"popularity\"\n[metrics]\nk = [1]\nmetrics = [\"recall\", \"hit\"]\n",
        d.path().display()
    );
    let cfg = write_config(d.path(), "seen.toml", &body);
    let recall = |exclude: bool| {
        let mut sets = sandbox_sets(d.path());
        sets.push(format!("metrics.exclude_seen={exclude}"));
        let (_, tables) = run(vec![load(&cfg, &sets)], false);
        assert_eq!(tables[0][0]["users"], 7);
        metric(&tables[0][0], "Recall@1")
    };
    assert!((recall(true) - 3.0 / 7.0).abs() < 1e-9, "exclude_seen = true: {}", recall(true));
    assert_eq!(recall(false), 0.0, "exclude_seen = false recommends A, which every user 1-5 had");
}

/// `[metrics] sampled` adds the sampled columns beside the full ranking's, changes only the
/// eval key, and (one test item per user, among fewer items) never scores below the full
/// ranking's Hit@K; a cut-off above the negatives is a config error naming the key.
#[test]
fn sampled_evaluation_adds_its_columns_next_to_full_ranking() {
    let d = tempfile::tempdir().unwrap();
    let body = SMALL.replace("k = [5, 10]", "k = [5, 10]\nsampled = { negatives = 50, seed = 3 }");
    let cfg = write_config(d.path(), "sampled.toml", &body);
    let plain = write_config(d.path(), "plain.toml", SMALL);
    let sets = sandbox_sets(d.path());
    let (a, b) = (load(&cfg, &sets), load(&plain, &sets));
    let (ka, kb) = (pipeline::run_keys(&a, &a.runs[0]).unwrap(), pipeline::run_keys(&b, &b.runs[0]).unwrap());
    assert!(ka.train == kb.train && ka.index == kb.index && ka.eval != kb.eval);
    let (_, tables) = run(vec![a], false);
    for row in &tables[0] {
        for k in [5, 10] {
            let (hr, full) = (metric(row, &format!("HR@{k} (50 neg)")), metric(row, &format!("Hit@{k}")));
            assert!(hr >= full - 1e-12 && metric(row, &format!("NDCG@{k} (50 neg)")) <= hr, "{row}");
        }
    }
    let pop = tables[0].iter().find(|r| r["model"] == "popularity").unwrap();
    let rnd = tables[0].iter().find(|r| r["model"] == "random").unwrap();
    assert!(metric(pop, "HR@10 (50 neg)") > metric(rnd, "HR@10 (50 neg)"));
    // Random ranks the test item among 51 at random: HR@10 near 10/51.
    assert!((metric(rnd, "HR@10 (50 neg)") - 10.0 / 51.0).abs() < 0.08, "{rnd}");
    let bad = write_config(d.path(), "bad.toml", &SMALL.replace("k = [5, 10]", "k = [5, 10]\nsampled = { negatives = 5 }"));
    let e = runner::config::load(&bad, &[]).err().expect("refused").to_string();
    assert!(e.contains("metrics.sampled.negatives") && e.contains("k = 10"), "{e}");
}
