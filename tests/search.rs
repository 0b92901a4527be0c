//! `[search]`: trials chosen on validation only, run through the cached pipeline, reproducible
//! for a seed, and a tuned row per searched model.

mod common;
use common::*;
use runner::search::{self, study::Options};
use std::path::Path;

/// A small table dataset: user `warm` has every item first (so item ids are fixed by the
/// file's first rows whatever the other users hold), then each user walks one cluster of 10
/// items in steps of 1 or 2; the last interaction of each walker (test) is `last(u, item)`.
fn table(dir: &Path, last: impl Fn(usize, usize) -> usize) -> std::path::PathBuf {
    let mut csv = String::from("user_id,item_id,ts\n");
    for i in 0..60 {
        csv += &format!("warm,i{i},{i}\n");
    }
    for u in 0..150 {
        let cluster = u % 6;
        let (mut pos, step) = (u * 7 % 10, 1 + u % 2);
        let len = 8 + u % 5;
        for t in 0..len {
            let item = cluster * 10 + pos;
            let item = if t + 1 == len { last(u, item) } else { item };
            csv += &format!("u{u},i{item},{t}\n");
            pos = (pos + step) % 10;
        }
    }
    let p = dir.join("walks.csv");
    std::fs::write(&p, csv).unwrap();
    p
}

fn config(dir: &Path, data: &Path, kind: &str, seeds: &str) -> std::path::PathBuf {
    write_config(
        dir,
        "search.toml",
        &format!(
            r#"
[experiment]
name = "search"
seeds = {seeds}

[dataset]
kind = "table"
path = "{}"

[split]
kind = "leave_last_out"
validation = true

[[model]]
kind = "popularity"

[[model]]
kind = "item2vec"
dim = 8
epochs = 3
threads = 1
search = {{ space = {{ window = {{ int = [1, 4] }}, lr = {{ log_uniform = [0.002, 0.2] }} }} }}

[search]
kind = "{kind}"
trials = 6
n_startup_trials = 3
objective = "NDCG@10"
seed = 11

[metrics]
k = [10]
"#,
            data.display()
        ),
    )
}

/// Runs the searches and then the tables, as `runner run` does: the trials.csv rows (without
/// the timing column, which varies) and the table's JSON rows.
fn tune_and_run(cfg: &Path, sandbox: &Path) -> (Vec<Vec<String>>, Vec<serde_json::Value>, usize) {
    let exp = load(cfg, &sandbox_sets(sandbox));
    let ran = std::sync::atomic::AtomicUsize::new(0);
    let log = |line: String| {
        if line.contains(" ran ") {
            ran.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    };
    let (exps, errors) = search::tune(vec![exp], &Options { jobs: 2, force: false, progress: false, log: &log, mode: search::study::Mode::Local });
    assert!(errors.is_empty(), "{errors:?}");
    let (_, tables) = run(exps, false);
    let csv = std::fs::read_to_string(sandbox.join("results/search/trials.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let timing = header.iter().position(|h| *h == "train_s").unwrap();
    let cells = |l: &str| -> Vec<String> { l.split(',').enumerate().filter(|(i, _)| *i != timing).map(|(_, c)| c.to_string()).collect() };
    let rows = std::iter::once(cells(&header.join(","))).chain(lines.map(cells)).collect();
    (rows, tables.into_iter().next().unwrap(), ran.into_inner())
}

#[test]
fn a_search_writes_its_trials_and_one_tuned_row_per_seed_with_the_best_trials_values() {
    let d = tempfile::tempdir().unwrap();
    let data = table(d.path(), |_, i| i);
    let cfg = config(d.path(), &data, "tpe", "[1, 2]");
    let (trials, rows, ran) = tune_and_run(&cfg, &d.path().join("a"));
    assert!(ran > 0);
    let header = &trials[0];
    assert_eq!(header, &["model", "trial", "point", "lr", "window", "valid NDCG@10", "status", "error"]);
    assert_eq!(trials.len(), 7, "{trials:?}");
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let best = trials[1..].iter().map(|r| r[col("valid NDCG@10")].parse::<f64>().unwrap()).fold(f64::MIN, f64::max);
    let chosen: Vec<&Vec<String>> = trials[1..].iter().filter(|r| r[col("status")] == "chosen").collect();
    assert_eq!(chosen.len(), 1);
    assert_eq!(chosen[0][col("valid NDCG@10")].parse::<f64>().unwrap(), best);

    // The table: popularity as usual, item2vec once per seed at point `tuned`, with the
    // chosen values and their validation score as columns.
    let tuned: Vec<&serde_json::Value> = rows.iter().filter(|r| r["model"] == "item2vec").collect();
    assert_eq!(tuned.len(), 2);
    assert!(rows.iter().any(|r| r["model"] == "popularity" && r["point"] == "base"));
    for r in &tuned {
        assert_eq!(r["point"], "tuned");
        assert_eq!(r["config"]["model.window"].as_str().unwrap(), chosen[0][col("window")]);
        assert_eq!(r["config"]["model.lr"].as_str().unwrap(), chosen[0][col("lr")]);
        assert_eq!(r["config"]["valid NDCG@10"].as_str().unwrap(), format!("{best:.4}"));
        assert!(metric(r, "NDCG@10") > 0.0);
    }
    assert_ne!(tuned[0]["seed"], tuned[1]["seed"]);
    let svg = std::fs::read_to_string(d.path().join("a/results/search/search-item2vec.svg")).unwrap();
    assert!(svg.contains("best so far") && svg.contains("valid NDCG@10"));

    // Again in the same folders: the same trials, all found in the cache, the same choice.
    let (again, rows_again, ran_again) = tune_and_run(&cfg, &d.path().join("a"));
    assert_eq!(again, trials);
    assert_eq!(ran_again, 0, "a rerun of a finished search computes nothing");
    assert_eq!(rows_again.iter().map(|r| r["config"].clone()).collect::<Vec<_>>(), rows.iter().map(|r| r["config"].clone()).collect::<Vec<_>>());

    // In a fresh cache (threads = 1): the same trials, scores and choice.
    let (fresh, _, _) = tune_and_run(&cfg, &d.path().join("b"));
    assert_eq!(fresh, trials);
}

#[test]
fn the_test_items_never_change_the_choice() {
    let d = tempfile::tempdir().unwrap();
    let (a, b) = (d.path().join("a"), d.path().join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    let cfg_a = config(&a, &table(&a, |_, i| i), "tpe", "[1]");
    // Every walker's last item moved to another cluster.
    let cfg_b = config(&b, &table(&b, |u, i| (i + 10 + u % 40) % 60), "tpe", "[1]");
    let (trials_a, rows_a, _) = tune_and_run(&cfg_a, &a);
    let (trials_b, rows_b, _) = tune_and_run(&cfg_b, &b);
    assert_eq!(trials_a, trials_b, "trials and their validation scores ignore the test items");
    let tuned = |rows: &[serde_json::Value]| rows.iter().find(|r| r["model"] == "item2vec").unwrap().clone();
    let (ta, tb) = (tuned(&rows_a), tuned(&rows_b));
    assert_eq!(ta["config"], tb["config"], "the same configuration is chosen");
    assert_ne!(metric(&ta, "NDCG@10"), metric(&tb, "NDCG@10"), "the test items did change, and with them the test metrics");
}

#[test]
fn random_and_grid_searches_run_their_trials_in_one_batch() {
    let d = tempfile::tempdir().unwrap();
    let data = table(d.path(), |_, i| i);
    let cfg = config(d.path(), &data, "random", "[1]");
    let (trials, rows, _) = tune_and_run(&cfg, &d.path().join("r"));
    assert_eq!(trials.len(), 7);
    assert_eq!(rows.iter().filter(|r| r["point"] == "tuned").count(), 1);
    let body = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("window = { int = [1, 4] }, lr = { log_uniform = [0.002, 0.2] }", "window = { choice = [1, 3] }, lr = { choice = [0.01, 0.1] }")
        .replace("trials = 6", "");
    let cfg = write_config(d.path(), "grid.toml", &body.replace("kind = \"random\"", "kind = \"grid\""));
    let (trials, _, _) = tune_and_run(&cfg, &d.path().join("g"));
    assert_eq!(trials.len(), 5, "a grid of 2 x 2 runs 4 trials: {trials:?}");
    let mut points: Vec<&String> = trials[1..].iter().map(|r| &r[2]).collect();
    points.sort();
    points.dedup();
    assert_eq!(points.len(), 4);
}

const PLAIN: &str = r#"
[experiment]
name = "plain"
seeds = [1]

[dataset]
kind = "table"
path = "DATA"

[split]
kind = "leave_last_out"
validation = true

[[model]]
kind = "item2vec"
dim = 8
epochs = 3
threads = 1

[metrics]
k = [10]
"#;

#[test]
fn model_selection_cannot_read_a_test_evaluation() {
    let d = tempfile::tempdir().unwrap();
    let data = table(d.path(), |_, i| i);
    let cfg = write_config(d.path(), "plain.toml", &PLAIN.replace("DATA", &data.display().to_string()));
    let plan = runner::pipeline::plan(vec![load(&cfg, &sandbox_sets(d.path()))]).unwrap();
    let exec = runner::pipeline::stages::Executor::new(&plan, false, false);
    let (_, errors) = runner::pipeline::dag::execute(&plan, &exec, 1, &|_| {});
    assert!(errors.is_empty());
    for k in &plan.run_keys[0] {
        assert!(exec.eval_summary(&k.eval).is_ok());
        let e = exec.validation_summary(&k.eval).unwrap_err();
        assert!(format!("{e}").contains("not a validation evaluation"), "{e}");
    }
    // The same run evaluated on validation: its own eval entry, readable by model selection,
    // scored on the second-to-last items (those that do not repeat a training item).
    let mut exp = load(&cfg, &sandbox_sets(d.path()));
    exp.runs[0].target = runner::eval::EvalTarget::Validation;
    let vplan = runner::pipeline::plan(vec![exp]).unwrap();
    let vexec = runner::pipeline::stages::Executor::new(&vplan, false, false);
    let (summary, errors) = runner::pipeline::dag::execute(&vplan, &vexec, 1, &|_| {});
    assert!(errors.is_empty());
    assert_eq!(summary.ran, 2, "only the validation eval and the report run; data to index are shared: {summary:?}");
    let (test_key, valid_key) = (&plan.run_keys[0][0].eval, &vplan.run_keys[0][0].eval);
    assert_ne!(test_key, valid_key);
    let v = vexec.validation_summary(valid_key).unwrap();
    assert!(v.users() > 0 && v.users() <= 151, "{}", v.users());
    assert_ne!(v.metric("NDCG@10"), Some(exec.eval_summary(test_key).unwrap().metrics["NDCG@10"]));
}

/// Each train entry of item2vec in a cache: (config, epochs it trained itself, epoch it
/// resumed from, items.f32 bytes).
fn item2vec_trainings(cache: &Path) -> Vec<(serde_json::Value, usize, Option<u64>, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(cache.join("train")).unwrap() {
        let dir = e.unwrap().path();
        let m: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
        if m["config"]["model"] != "item2vec" {
            continue;
        }
        let from = m["info"]["resumed_from_epoch"].as_u64();
        let logged = m["info"]["epochs"].as_array().unwrap().len();
        out.push((m["config"].clone(), logged - from.unwrap_or(0) as usize, from, std::fs::read(dir.join("items.f32")).unwrap()));
    }
    out
}

/// Asserts that the item2vec trainings in `cache` trained `epochs` epochs in all, and that
/// `fresh` of them started from zero (the others resumed from a checkpoint).
fn assert_trained(cache: &Path, epochs: usize, fresh: usize, what: &str) {
    let trainings = item2vec_trainings(cache);
    let runs: Vec<(usize, Option<u64>)> = trainings.iter().map(|t| (t.1, t.2)).collect();
    assert_eq!(runs.iter().map(|t| t.0).sum::<usize>(), epochs, "{what}: {runs:?}");
    assert_eq!(runs.iter().filter(|t| t.1.is_none()).count(), fresh, "{what}: trainings from zero: {runs:?}");
}

/// A random search of item2vec over 9 epochs with `trials` trials and pruner `kind`
/// (`min_epochs = 1`, `eta = 3`).
fn pruned_search(dir: &Path, data: &Path, trials: usize, kind: &str) -> std::path::PathBuf {
    let body = std::fs::read_to_string(config(dir, data, "random", "[1]"))
        .unwrap()
        .replace("epochs = 3", "epochs = 9")
        .replace("trials = 6", &format!("trials = {trials}\npruner = {{ kind = \"{kind}\", min_epochs = 1, eta = 3 }}"));
    write_config(dir, &format!("{kind}.toml"), &body)
}

/// The median rule: rungs every `interval` epochs, the first `n_startup_trials` trials at a
/// rung always go on, some stop, and promotions resume from their checkpoints (every epoch
/// trained once).
#[test]
fn the_median_rule_stops_trials_below_the_median_at_evenly_spaced_rungs() {
    let d = tempfile::tempdir().unwrap();
    let data = table(d.path(), |_, i| i);
    let body = std::fs::read_to_string(pruned_search(d.path(), &data, 10, "median")).unwrap().replace("eta = 3 }", "interval = 2, n_startup_trials = 2 }");
    assert!(body.contains("interval = 2"));
    let cfg = write_config(d.path(), "median.toml", &body);
    let (trials, _, _) = tune_and_run(&cfg, &d.path().join("a"));
    let header = &trials[0];
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    // (epochs, status) per trial; the rule's arithmetic is `search::median`'s unit tests.
    let rows: Vec<(usize, &str)> = trials[1..].iter().map(|r| (r[col("epochs")].parse().unwrap(), r[col("status")].as_str())).collect();
    assert!(rows.iter().all(|r| [1, 3, 5, 7, 9].contains(&r.0) && (r.0 == 9) == (r.1 != "pruned")), "{rows:?}");
    assert_eq!((rows[0].0, rows[1].0), (9, 9), "the start-up trials go on: {rows:?}");
    assert!(rows.iter().any(|r| r.1 == "pruned"), "{rows:?}");
    assert_trained(&d.path().join("a/cache"), rows.iter().map(|r| r.0).sum(), rows.len(), "every epoch once, one training from zero per trial");
}

/// A point pruned early and drawn again for a later Hyperband bracket goes on from the
/// checkpoint its first trial left (the issue: a trial never trains again from zero): on a
/// 4-point space, no point's epoch is trained twice however often it is drawn.
#[test]
fn a_point_drawn_again_for_a_later_bracket_resumes_from_its_cached_rung() {
    let d = tempfile::tempdir().unwrap();
    let data = table(d.path(), |_, i| i);
    let cfg = pruned_search(d.path(), &data, 24, "hyperband");
    let body = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("window = { int = [1, 4] }, lr = { log_uniform = [0.002, 0.2] }", "window = { choice = [1, 4] }, lr = { choice = [0.002, 0.2] }");
    assert!(body.contains("choice = [0.002, 0.2]"));
    let cfg = write_config(d.path(), "repeats.toml", &body);
    let (trials, _, _) = tune_and_run(&cfg, &d.path().join("a"));
    let header = &trials[0];
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    // (point, bracket, epochs, status) per trial.
    let rows: Vec<(&str, usize, usize, &str)> = trials[1..]
        .iter()
        .map(|r| (r[col("point")].as_str(), r[col("bracket")].parse().unwrap(), r[col("epochs")].parse().unwrap(), r[col("status")].as_str()))
        .collect();
    // The case in question happened: a point pruned at one epoch, drawn again later for a
    // bracket that starts further.
    let again = rows.iter().enumerate().any(|(n, a)| a.3 == "pruned" && a.2 == 1 && rows[n + 1..].iter().any(|b| b.0 == a.0 && b.1 >= 1));
    assert!(again, "{rows:?}");
    let mut furthest = std::collections::BTreeMap::new();
    for r in &rows {
        let e = furthest.entry(r.0).or_insert(0);
        *e = (*e).max(r.2);
    }
    assert_trained(&d.path().join("a/cache"), furthest.values().sum(), furthest.len(), &format!("one training from zero per point: {rows:?}"));
}

/// ASHA over epochs: weak trials stop at a rung, promoted ones go on from their rung's
/// checkpoint (no epoch is trained twice), the choice is among trials that trained to the end,
/// and the chosen vectors are those of an uninterrupted training with the same values.
#[test]
fn asha_prunes_weak_trials_and_promotions_resume_from_their_checkpoints() {
    let d = tempfile::tempdir().unwrap();
    let data = table(d.path(), |_, i| i);
    let cfg = pruned_search(d.path(), &data, 9, "asha");
    let (trials, rows, _) = tune_and_run(&cfg, &d.path().join("a"));
    let header = &trials[0];
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    assert_eq!(header[col("valid NDCG@10") + 1], "epochs");
    let epochs: Vec<usize> = trials[1..].iter().map(|r| r[col("epochs")].parse().unwrap()).collect();
    let status: Vec<&str> = trials[1..].iter().map(|r| r[col("status")].as_str()).collect();
    assert!(epochs.iter().all(|e| [1, 3, 9].contains(e)), "{epochs:?}");
    for (e, s) in epochs.iter().zip(&status) {
        assert_eq!(*e == 9, *s != "pruned", "a trial ends at 9 epochs exactly when it is not pruned: {trials:?}");
    }
    assert!(status.contains(&"pruned") && status.contains(&"chosen"), "{status:?}");
    // Trial 0 is the first at every rung, so it always goes on (Optuna's rule).
    assert_eq!(epochs[0], 9);
    // `rungs`: the objective at each rung a trial reached, the last one its objective.
    assert_eq!(header[col("epochs") + 1], "rungs");
    for r in &trials[1..] {
        let rungs: Vec<(usize, &str)> = r[col("rungs")].split(' ').map(|p| p.split_once(':').map(|(e, v)| (e.parse().unwrap(), v)).unwrap()).collect();
        let reached: Vec<usize> = rungs.iter().map(|x| x.0).collect();
        assert_eq!(reached, [1, 3, 9].into_iter().filter(|&e| e <= r[col("epochs")].parse().unwrap()).collect::<Vec<_>>(), "{r:?}");
        assert_eq!(rungs.last().unwrap().1, r[col("valid NDCG@10")], "{r:?}");
    }
    // Some trials stopped at the first rung (the rule itself: `search::asha`'s unit tests).
    assert!(epochs.contains(&1), "{epochs:?}");

    // Every epoch was trained once: the trainings' own epochs add up to the trials' epochs,
    // and each promotion resumed from the rung below.
    let trainings = item2vec_trainings(&d.path().join("a/cache"));
    let trained: usize = trainings.iter().map(|t| t.1).sum();
    assert_eq!(trained, epochs.iter().sum::<usize>(), "{:?}", trainings.iter().map(|t| (t.1, t.2)).collect::<Vec<_>>());
    let resumed: Vec<u64> = trainings.iter().filter_map(|t| t.2).collect();
    assert_eq!(resumed.len(), epochs.iter().filter(|&&e| e > 1).count() + epochs.iter().filter(|&&e| e > 3).count());
    assert!(resumed.iter().all(|e| [1, 3].contains(e)));

    // The tuned row (seed 1) is the chosen trial's own training, found in the cache; a fresh
    // cache training those values from zero gets the same vectors bit for bit (threads = 1).
    let chosen = &trials[1..].iter().find(|r| r[col("status")] == "chosen").unwrap();
    let tuned = rows.iter().find(|r| r["model"] == "item2vec").unwrap();
    assert_eq!(tuned["config"]["model.lr"].as_str().unwrap(), chosen[col("lr")]);
    let plain = PLAIN
        .replace("DATA", &data.display().to_string())
        .replace("epochs = 3", &format!("epochs = 9\nwindow = {}\nlr = {}", chosen[col("window")], chosen[col("lr")]));
    let plain_cfg = write_config(d.path(), "plain.toml", &plain);
    run(vec![load(&plain_cfg, &sandbox_sets(&d.path().join("c")))], false);
    let fresh = item2vec_trainings(&d.path().join("c/cache"));
    assert_eq!(fresh.len(), 1);
    let same = trainings.iter().find(|t| t.0 == fresh[0].0).expect("the search trained the chosen values to the end under the same key");
    assert!(same.2.is_some(), "the chosen trial was promoted, so its last rung resumed");
    assert!(same.3 == fresh[0].3, "resumed and uninterrupted trainings give the same bits");

    // A rerun finds every rung in the cache and decides the same.
    let (again, _, ran) = tune_and_run(&cfg, &d.path().join("a"));
    assert_eq!((again, ran), (trials, 0));
}

#[test]
fn pruner_errors_name_their_key() {
    let d = tempfile::tempdir().unwrap();
    let data = table(d.path(), |_, i| i);
    let base = std::fs::read_to_string(config(d.path(), &data, "random", "[1]")).unwrap();
    let err = |from: &str, to: &str| {
        let cfg = write_config(d.path(), "bad.toml", &base.replace(from, to));
        runner::config::load(&cfg, &[]).err().map(|e| format!("{e}")).unwrap_or_default()
    };
    // (pruner as written, what its error must say; nothing: no error)
    let cases: [(&str, &[&str]); 8] = [
        ("{ kind = \"ashaa\" }", &["search.pruner.kind", "did you mean `asha`"]),
        ("{ kind = \"asha\", eta = 1 }", &["search.pruner.eta", "at least 2"]),
        ("{ kind = \"asha\", min_epochs = 3 }", &["search.pruner.min_epochs", "nothing would be pruned"]),
        // min_epochs 1 and eta 3 by default.
        ("{ kind = \"asha\" }", &[]),
        // Each pruner's own settings only.
        ("{ kind = \"median\", eta = 3 }", &["search.pruner.eta", "asha and hyperband"]),
        ("{ kind = \"asha\", interval = 2 }", &["search.pruner.interval", "median"]),
        ("{ kind = \"median\", interval = 0 }", &["search.pruner.interval", "at least 1"]),
        ("{ kind = \"median\" }", &[]),
    ];
    for (pruner, says) in cases {
        let e = err("trials = 6", &format!("trials = 6\npruner = {pruner}"));
        assert!(if says.is_empty() { e.is_empty() } else { says.iter().all(|w| e.contains(w)) }, "{pruner}: {e}");
    }
    for (n, says) in [("2", "lists 1"), ("0", "at least 1")] {
        let e = err("trials = 6", &format!("trials = 6\ntrial_seeds = {n}"));
        assert!(e.contains("search.trial_seeds") && e.contains(says), "trial_seeds = {n}: {e}");
    }
    let e = err("lr = { log_uniform = [0.002, 0.2] }", "lr = { log_uniform = [0.002, 0.2] }, epochs = { int = [2, 5] } }, pruner = { kind = \"asha\"");
    assert!(e.contains("model.1.search.space.epochs") && e.contains("resource"), "{e}");
    // A model that cannot stop and resume cannot be pruned.
    let ease = base
        .replace("kind = \"item2vec\"\ndim = 8\nepochs = 3\nthreads = 1", "kind = \"ease\"")
        .replace("window = { int = [1, 4] }, lr = { log_uniform = [0.002, 0.2] }", "lambda = { log_uniform = [1, 1000] }")
        .replace("trials = 6", "trials = 6\npruner = { kind = \"asha\" }");
    let cfg = write_config(d.path(), "ease.toml", &ease);
    let e = format!("{}", runner::config::load(&cfg, &[]).err().unwrap());
    assert!(e.contains("cannot be pruned") && e.contains("item2vec"), "{e}");
}

/// A sweep key outside the space gives one search per sweep point: trials.csv names each
/// search, and each point gets its own tuned row.
#[test]
fn a_sweep_and_a_search_give_one_search_per_sweep_point() {
    let d = tempfile::tempdir().unwrap();
    let data = table(d.path(), |_, i| i);
    let body = std::fs::read_to_string(config(d.path(), &data, "random", "[1]"))
        .unwrap()
        .replace("trials = 6", "trials = 3")
        .replace("[metrics]", "[sweep]\n\"dataset.user_core\" = [1, 9]\n\n[metrics]");
    let cfg = write_config(d.path(), "swept.toml", &body);
    let (trials, rows, _) = tune_and_run(&cfg, &d.path().join("s"));
    assert_eq!(&trials[0][..3], &["model", "search", "trial"]);
    let labels: std::collections::BTreeSet<&String> = trials[1..].iter().map(|r| &r[1]).collect();
    assert_eq!((trials.len(), labels.len()), (7, 2), "{trials:?}");
    let tuned: Vec<&serde_json::Value> = rows.iter().filter(|r| r["model"] == "item2vec").collect();
    assert_eq!(tuned.len(), 2);
    assert_ne!(tuned[0]["point"], tuned[1]["point"]);
    assert!(tuned.iter().all(|r| r["point"].as_str().unwrap().starts_with("tuned-")));
    for l in labels {
        assert!(d.path().join(format!("s/results/search/search-{l}.svg")).exists(), "{l}");
    }
}

/// `recommend`, `export` and `report` on a searched model replay its search from the cache:
/// before `runner run` they say to run it, after it they answer with the tuned run.
#[test]
fn recommend_export_and_report_replay_a_finished_search_from_the_cache() {
    let d = tempfile::tempdir().unwrap();
    let data = table(d.path(), |_, i| i);
    let cfg = config(d.path(), &data, "tpe", "[1]");
    let sets = sandbox_sets(&d.path().join("x"));
    let runner = |args: &[&str]| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_runner"));
        c.args(args).current_dir(d.path());
        for s in &sets {
            c.args(["--set", s]);
        }
        let o = c.output().unwrap();
        (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stdout).to_string(), String::from_utf8_lossy(&o.stderr).to_string())
    };
    let cfg = cfg.display().to_string();
    let (code, _, err) = runner(&["recommend", &cfg, "--model", "item2vec", "--user", "u3"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not finished in the cache") && err.contains("runner run"), "{err}");
    // Popularity is not searched: it answers once it is cached, whatever the search's state.
    let (code, _, err) = runner(&["run", &cfg, "--quiet"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = runner(&["recommend", &cfg, "--model", "item2vec", "--user", "u3", "-k", "5"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("item2vec [tuned seed 1]"), "{out}");
    let (code, out, err) = runner(&["recommend", &cfg, "--model", "item2vec", "--point", "tuned", "--user", "u3", "-k", "5"]);
    assert_eq!(code, 0, "{err}\n{out}");
    let out_dir = d.path().join("exported/");
    let (code, _, err) = runner(&["export", &cfg, "--model", "item2vec", "--out", &out_dir.display().to_string()]);
    assert_eq!(code, 0, "{err}");
    assert!(std::fs::read_dir(&out_dir).unwrap().count() > 0);
    // `report` rewrites the tables with the tuned rows, from the cache alone.
    let results = d.path().join("x/results/search");
    std::fs::remove_file(results.join("results.csv")).unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_runner")).args(["report", &results.display().to_string()]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let csv = std::fs::read_to_string(results.join("results.csv")).unwrap();
    assert!(csv.contains("tuned"), "{csv}");
}

/// Ctrl-C in the middle of a search exits 130 and keeps the finished trials; running again
/// completes the search without training any of them again.
#[test]
fn an_interrupted_search_resumes_without_repeating_finished_trials() {
    let d = tempfile::tempdir().unwrap();
    let data = table(d.path(), |_, i| i);
    let body =
        std::fs::read_to_string(config(d.path(), &data, "random", "[1]")).unwrap().replace("epochs = 3", "epochs = 400").replace("trials = 6", "trials = 12");
    let cfg = write_config(d.path(), "int.toml", &body).display().to_string();
    let sets = sandbox_sets(&d.path().join("x"));
    let cmd = || {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_runner"));
        c.args(["run", &cfg, "--jobs", "1", "--quiet"]);
        for s in &sets {
            c.args(["--set", s]);
        }
        c
    };
    let train_dir = d.path().join("x/cache/train");
    // Finished trainings: key -> manifest bytes.
    let finished = || -> std::collections::BTreeMap<String, Vec<u8>> {
        std::fs::read_dir(&train_dir)
            .into_iter()
            .flatten()
            .filter_map(|e| {
                let p = e.ok()?.path();
                Some((p.file_name()?.to_string_lossy().to_string(), std::fs::read(p.join("manifest.json")).ok()?))
            })
            .collect()
    };
    let mut child = cmd().stderr(std::process::Stdio::piped()).spawn().unwrap();
    let start = std::time::Instant::now();
    while finished().len() < 3 {
        assert!(start.elapsed() < std::time::Duration::from_secs(120), "no trial finished");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let status = child.wait().unwrap();
    let before = finished();
    assert!(before.len() < 12, "the search was interrupted before its end ({} trainings)", before.len());
    assert_eq!(status.code(), Some(130));
    let o = cmd().output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let after = finished();
    for (k, m) in &before {
        assert_eq!(after.get(k), Some(m), "finished training {k} was kept, not trained again");
    }
    let csv = std::fs::read_to_string(d.path().join("x/results/search/trials.csv")).unwrap();
    assert_eq!(csv.lines().count(), 13, "{csv}");
    assert!(!csv.contains("failed"), "{csv}");
}

/// A point proposed again is a cache hit: trials.csv counts its training once, for the first
/// trial that ran it, so cumulative training seconds measure what the search spent.
#[test]
fn a_repeated_point_counts_its_training_once() {
    let d = tempfile::tempdir().unwrap();
    let data = table(d.path(), |_, i| i);
    let body = std::fs::read_to_string(config(d.path(), &data, "random", "[1]"))
        .unwrap()
        .replace("window = {{ int = [1, 4] }}, lr = {{ log_uniform = [0.002, 0.2] }}", "")
        .replace("window = { int = [1, 4] }, lr = { log_uniform = [0.002, 0.2] }", "window = { choice = [2] }")
        .replace("trials = 6", "trials = 3");
    let cfg = write_config(d.path(), "repeat.toml", &body);
    tune_and_run(&cfg, &d.path().join("r"));
    let csv = std::fs::read_to_string(d.path().join("r/results/search/trials.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = header.iter().position(|h| *h == "train_s").unwrap();
    let secs: Vec<f64> = lines.map(|l| l.split(',').nth(col).unwrap().parse().unwrap()).collect();
    assert_eq!(secs.len(), 3, "{csv}");
    assert!(secs[0] > 0.0 && secs[1] == 0.0 && secs[2] == 0.0, "{csv}");
}

/// `trial_seeds = 2`: each trial trains with seeds 1 and 2 and scores their mean, the very
/// mean of the same trials searched with one seed each; the choice follows the mean, and the
/// tuned rows of those seeds reuse the chosen trial's trainings.
#[test]
fn trial_seeds_score_each_trial_by_the_mean_over_its_seeds() {
    let d = tempfile::tempdir().unwrap();
    let data = table(d.path(), |_, i| i);
    let search = |seeds: &str, extra: &str, name: &str| {
        let body = std::fs::read_to_string(config(d.path(), &data, "random", seeds)).unwrap().replace("seed = 11", &format!("seed = 11{extra}"));
        tune_and_run(&write_config(d.path(), &format!("{name}.toml"), &body), &d.path().join(name)).0
    };
    let (one, two) = (search("[1]", "", "one"), search("[2]", "", "two"));
    let both = search("[1, 2]", "\ntrial_seeds = 2", "both");
    let col = |name: &str| both[0].iter().position(|h| h == name).unwrap();
    let (obj, status) = (col("valid NDCG@10"), col("status"));
    let score = |rows: &[Vec<String>], t: usize| rows[t][obj].parse::<f64>().unwrap();
    assert_eq!(both.len(), 7);
    for t in 1..both.len() {
        assert_eq!(both[t][..obj], one[t][..obj], "the same points whatever the seeds");
        assert_eq!(score(&both, t), (score(&one, t) + score(&two, t)) / 2.0, "trial {t}");
    }
    assert_ne!((1..7).map(|t| score(&one, t)).collect::<Vec<_>>(), (1..7).map(|t| score(&two, t)).collect::<Vec<_>>());
    let best = (1..7).max_by(|&a, &b| score(&both, a).total_cmp(&score(&both, b))).unwrap();
    assert_eq!(both[best][status], "chosen", "{both:?}");
    // 6 trials x 2 seeds trained, and nothing more for the two tuned rows.
    assert_eq!(item2vec_trainings(&d.path().join("both/cache")).len(), 12);
}

/// A 9-trial random search of `kind` (its model table `model`, its space `space`) under ASHA
/// (rungs at 1, 3 and 9 epochs): trials stop at rungs, some are pruned, one is chosen and its
/// row has test metrics.
fn asha_prunes(kind: &str, model: &str, space: &str) {
    let d = tempfile::tempdir().unwrap();
    let data = table(d.path(), |_, i| i);
    let body = std::fs::read_to_string(config(d.path(), &data, "random", "[1]"))
        .unwrap()
        .replace("kind = \"item2vec\"\ndim = 8\nepochs = 3\nthreads = 1", model)
        .replace("window = { int = [1, 4] }, lr = { log_uniform = [0.002, 0.2] }", space)
        .replace("trials = 6", "trials = 9\npruner = { kind = \"asha\", min_epochs = 1, eta = 3 }");
    let cfg = write_config(d.path(), &format!("{kind}.toml"), &body);
    let (trials, rows, _) = tune_and_run(&cfg, &d.path().join("a"));
    let col = |name: &str| trials[0].iter().position(|h| h == name).unwrap();
    let epochs: Vec<usize> = trials[1..].iter().map(|r| r[col("epochs")].parse().unwrap()).collect();
    let status: Vec<&str> = trials[1..].iter().map(|r| r[col("status")].as_str()).collect();
    assert!(epochs.iter().all(|e| [1, 3, 9].contains(e)) && epochs.contains(&1), "{kind}: {epochs:?}");
    assert!(status.contains(&"pruned") && status.contains(&"chosen"), "{kind}: {status:?}");
    let tuned = rows.iter().find(|r| r["model"] == kind).unwrap();
    assert!(tuned["metrics"]["Recall@10"].as_f64().is_some(), "{tuned}");
}

/// LightGCN reports validation per epoch and resumes from its checkpoint (embeddings and
/// Adam's state), so ASHA prunes it like the other iterative models.
#[test]
fn asha_prunes_lightgcn_trials() {
    asha_prunes("lightgcn", "kind = \"lightgcn\"\ndim = 8\nepochs = 9\nbatch_size = 64", "layers = { int = [1, 3] }, lr = { log_uniform = [0.001, 0.1] }");
}

/// SASRec, too: validation per epoch, promotions resumed from its checkpoint (weights, item
/// table and Adam's state).
#[test]
fn asha_prunes_sasrec_trials() {
    asha_prunes(
        "sasrec",
        "kind = \"sasrec\"\ndim = 8\nblocks = 1\nmax_len = 10\nepochs = 9",
        "dropout = { uniform = [0.0, 0.5] }, lr = { log_uniform = [0.001, 0.05] }",
    );
}

/// The towers too: a promoted trial goes on from its checkpoint (parameters, optimiser
/// moments, the early-stopping state), and the same code serves DSSM, CDSSM and YouTube DNN.
#[test]
fn asha_prunes_two_tower_trials() {
    asha_prunes(
        "two_tower",
        "kind = \"two_tower\"\ndim = 8\nhidden = [16]\nembedding_dim = 8\nbatch_size = 64\nepochs = 9",
        "lr = { log_uniform = [0.001, 0.05] }, temperature = { uniform = [0.05, 0.5] }",
    );
}

/// `enqueue`: trial 0 is the given point, keys left out take the model's value as written, and
/// the trials after it are the ones a search without it runs; errors name the `enqueue` line.
#[test]
fn enqueued_points_run_first_and_bad_ones_name_their_line() {
    let d = tempfile::tempdir().unwrap();
    let data = table(d.path(), |_, i| i);
    let cfg = config(d.path(), &data, "random", "[1]");
    let base = std::fs::read_to_string(&cfg).unwrap();
    let (plain, _, _) = tune_and_run(&cfg, &d.path().join("a"));
    let with = write_config(d.path(), "enqueued.toml", &base.replace("trials = 6", "trials = 6\nenqueue = [{ window = 2 }]"));
    let (trials, _, _) = tune_and_run(&with, &d.path().join("a"));
    let header = &trials[0];
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    // item2vec's lr as written is its default, 0.025.
    assert_eq!((trials[1][col("window")].as_str(), trials[1][col("lr")].as_str()), ("2", "0.025"));
    let status = col("status");
    let strip = |rows: &[Vec<String>]| -> Vec<Vec<String>> {
        rows.iter().map(|r| r.iter().enumerate().filter(|(i, _)| *i != status).map(|(_, c)| c.clone()).collect()).collect()
    };
    assert_eq!(strip(&trials[2..]), strip(&plain[2..]), "the trials after the enqueued one are the plain search's");
    assert_ne!(trials[1], plain[1]);

    let err = |from: &str, to: &str| {
        let cfg = write_config(d.path(), "bad.toml", &base.replace(from, to));
        runner::config::load(&cfg, &[]).err().map(|e| format!("{e}")).unwrap_or_default()
    };
    let line = base.lines().position(|l| l.starts_with("trials = 6")).unwrap() + 2;
    let e = err("trials = 6", "trials = 6\nenqueue = [{ windw = 2 }]");
    assert!(e.contains(&format!(":{line}")) && e.contains("search.enqueue") && e.contains("did you mean `window`"), "{e}");
    // The model's window as written (item2vec's default 5) is outside int [1, 4].
    let e = err("trials = 6", "trials = 6\nenqueue = [{}]");
    assert!(e.contains("window = 5 (the model's value as written) lies outside"), "{e}");
    let e = err("trials = 6", "trials = 6\nenqueue = [{ window = 1 }, { window = 2, lr = 0.5 }]");
    assert!(e.contains("lr = 0.5 lies outside") && e.contains("enqueued point 1"), "{e}");
    let grid = base
        .replace("window = { int = [1, 4] }, lr = { log_uniform = [0.002, 0.2] }", "window = { choice = [1, 2] }, lr = { choice = [0.01, 0.1] }")
        .replace("kind = \"random\"", "kind = \"grid\"\ntrials = 4\nenqueue = [{ window = 1 }]")
        .replace("trials = 6\n", "");
    let cfg = write_config(d.path(), "grid.toml", &grid);
    let e = format!("{}", runner::config::load(&cfg, &[]).err().unwrap());
    assert!(e.contains("tries every point"), "{e}");
}

/// Hyperband: 9 epochs from 1 at eta 3 make 3 brackets (first rungs 1, 3 and none); a trial
/// competes in its own bracket only, starts at its bracket's rung, and trains each epoch once.
#[test]
fn hyperband_brackets_start_trials_at_later_rungs() {
    let d = tempfile::tempdir().unwrap();
    let data = table(d.path(), |_, i| i);
    let cfg = pruned_search(d.path(), &data, 17, "hyperband");
    let (trials, _, _) = tune_and_run(&cfg, &d.path().join("a"));
    let header = &trials[0];
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let rows: Vec<(usize, usize, &str)> =
        trials[1..].iter().map(|r| (r[col("bracket")].parse().unwrap(), r[col("epochs")].parse().unwrap(), r[col("status")].as_str())).collect();
    for b in 0..3 {
        assert!(rows.iter().any(|r| r.0 == b), "no trial in bracket {b}: {rows:?}");
    }
    for &(bracket, epochs, status) in &rows {
        let first_rung = [1, 3, 9][bracket];
        assert!(epochs >= first_rung, "bracket {bracket} starts at {first_rung} epochs: {rows:?}");
        assert_eq!(epochs == 9, status != "pruned", "{rows:?}");
    }
    assert!(rows.iter().filter(|r| r.0 == 2).all(|r| r.1 == 9 && r.2 != "pruned"), "the last bracket is never pruned: {rows:?}");
    // Each bracket's first trial goes on at each of its rungs (its own ladder).
    for b in 0..3 {
        assert_eq!(rows.iter().find(|r| r.0 == b).unwrap().1, 9, "{rows:?}");
    }
    // Every epoch trained once: a trial of bracket b trains from scratch to its first rung.
    assert_trained(&d.path().join("a/cache"), rows.iter().map(|r| r.1).sum(), rows.len(), "one training from zero per trial, at its bracket's first rung");

    // A rerun decides the same from the cache.
    let (again, _, ran) = tune_and_run(&cfg, &d.path().join("a"));
    assert_eq!((again, ran), (trials, 0));
}
