//! Every class of config error names the file, the key and (when in the file) the line,
//! and suggests a fix.

mod common;
use common::write_config;
use runner::config;

const BASE: &str = r#"[experiment]
name = "t"

[dataset]
kind = "synthetic"
n_users = 100
n_items = 100
n_clusters = 5
mean_len = 10

[[model]]
kind = "popularity"
"#;

fn err(body: &str, sets: &[&str]) -> config::ConfigError {
    let d = tempfile::tempdir().unwrap();
    let p = write_config(d.path(), "c.toml", body);
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    match config::load(&p, &sets) {
        Ok(_) => panic!("config should be rejected:\n{body}"),
        Err(e) => e,
    }
}

#[test]
fn base_config_is_valid() {
    let d = tempfile::tempdir().unwrap();
    let p = write_config(d.path(), "c.toml", BASE);
    let e = config::load(&p, &[]).unwrap();
    assert_eq!(e.runs.len(), 1);
    assert_eq!(e.section.name, "t");
}

#[test]
fn unknown_key_names_line_and_suggests() {
    let body = format!("{BASE}\n[[model]]\nkind = \"random\"\ndimm = 4\n");
    assert_eq!(body.lines().nth(15), Some("dimm = 4"), "line 16 holds the typo");
    let e = err(&body, &[]);
    assert_eq!(e.key, "model.1.dimm");
    assert_eq!(e.line, Some(16), "{e}");
    assert_eq!(e.hint.as_deref(), Some("did you mean `dim`?"));
    let shown = e.to_string();
    assert!(shown.contains("c.toml:16") && shown.contains("dimm"), "{shown}");
}

#[test]
fn unknown_section_and_key_in_fixed_sections() {
    let e = err(&format!("{BASE}\n[metrix]\nk = [1]\n"), &[]);
    assert_eq!(e.key, "metrix");
    assert_eq!(e.hint.as_deref(), Some("did you mean `metrics`?"));
    let e = err(&format!("{BASE}\n[metrics]\nkk = [1]\n"), &[]);
    assert_eq!(e.key, "metrics.kk");
    assert!(e.line.is_some());
    let e = err(&BASE.replace("name = \"t\"", "name = \"t\"\nseed = [1]"), &[]);
    assert_eq!(e.key, "experiment.seed");
    assert_eq!(e.hint.as_deref(), Some("did you mean `seeds`?"));
}

#[test]
fn wrong_types() {
    let e = err(&BASE.replace("n_users = 100", "n_users = \"many\""), &[]);
    assert_eq!(e.key, "dataset.n_users");
    assert_eq!(e.line, Some(6));
    assert!(e.message.contains("invalid type"), "{}", e.message);
    let e = err(&format!("{BASE}\n[metrics]\nk = 10\n"), &[]);
    assert_eq!(e.key, "metrics.k");
}

#[test]
fn out_of_range_values() {
    let e = err(&format!("{BASE}\n[metrics]\nk = [0]\n"), &[]);
    assert_eq!(e.key, "metrics.k");
    assert!(e.message.contains("positive"));
    let e = err(&BASE.replace("n_users = 100", "n_users = 0"), &[]);
    assert_eq!(e.key, "dataset.n_users");
    let e = err(&format!("{BASE}\n[split]\nkind = \"random\"\ntrain_ratio = 1.5\n"), &[]);
    assert_eq!(e.key, "split.train_ratio");
    assert_eq!(e.line, Some(16));
    let e = err(&format!("{BASE}\n[[model]]\nkind = \"random\"\ndim = 0\n"), &[]);
    assert_eq!(e.key, "model.1.dim");
    assert!(e.message.contains("positive"));
}

#[test]
fn unknown_kinds_list_allowed() {
    let e = err(&BASE.replace("kind = \"popularity\"", "kind = \"populariti\""), &[]);
    assert_eq!(e.key, "model.0.kind");
    let h = e.hint.unwrap();
    assert!(h.contains("did you mean `popularity`?") && h.contains("random"), "{h}");
    let e = err(&BASE.replace("kind = \"synthetic\"", "kind = \"nope\""), &[]);
    assert_eq!(e.key, "dataset.kind");
    assert!(e.hint.unwrap().contains("movielens"));
    let e = err(&format!("{BASE}\n[index]\nkind = \"flat\"\nmetric = \"hamming\"\n"), &[]);
    assert_eq!(e.key, "index.metric");
    let e = err(&BASE.replace("kind = \"popularity\"", "name = \"x\""), &[]);
    assert_eq!(e.key, "model.0");
    assert!(e.message.contains("missing `kind`"));
}

#[test]
fn missing_file_models_and_bad_overrides() {
    let Err(e) = config::load(std::path::Path::new("/nonexistent/x.toml"), &[]) else { panic!("missing file must fail") };
    assert!(e.to_string().contains("/nonexistent/x.toml") && e.message.contains("cannot read"));
    let e = err("[experiment]\nname = \"x\"\n[dataset]\nkind = \"synthetic\"\n", &[]);
    assert_eq!(e.key, "model");
    let e = err(BASE, &["model.3.dim=4"]);
    assert!(e.message.contains("out of range"), "{}", e.message);
    let e = err(BASE, &["nonsense"]);
    assert!(e.message.contains("key=value"));
    let e = err(BASE, &["dataset.n_users=-5"]);
    assert_eq!(e.key, "dataset.n_users");
    assert_eq!(e.line, Some(6), "an overridden key still points at its line");
}

#[test]
fn toml_syntax_errors_and_bad_sweeps() {
    let e = err(&format!("{BASE}\n[sweep\n"), &[]);
    assert!(e.message.to_lowercase().contains("line") || e.line.is_some(), "{e}");
    let e = err(&format!("{BASE}\n[sweep]\n\"model.0.x\" = []\n"), &[]);
    assert!(e.message.contains("must not be empty"));
    let e = err(&format!("{BASE}\n[sweep]\n\"dataset.n_users\" = 5\n"), &[]);
    assert!(e.message.contains("list"));
    // A sweep value that is out of range is reported like a hand-written one.
    let e = err(&format!("{BASE}\n[sweep]\n\"dataset.n_users\" = [10, 0]\n"), &[]);
    assert_eq!(e.key, "dataset.n_users");
}

#[test]
fn set_overrides_the_file() {
    let d = tempfile::tempdir().unwrap();
    let p = write_config(d.path(), "c.toml", BASE);
    let e = config::load(&p, &["experiment.seeds=[1, 2]".to_string()]).unwrap();
    assert_eq!(e.section.seeds, vec![1, 2]);
    assert_eq!(e.runs.len(), 2);
}

#[test]
fn cli_exits_nonzero_with_location_and_no_backtrace() {
    let d = tempfile::tempdir().unwrap();
    let p = write_config(d.path(), "bad.toml", &BASE.replace("n_items = 100", "n_itemz = 100"));
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_runner")).arg("validate").arg(&p).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("bad.toml:7") && err.contains("n_itemz") && err.contains("did you mean `n_items`?"), "{err}");
    assert!(!err.contains("panicked") && !err.contains("stack backtrace"));
    let ok = write_config(d.path(), "ok.toml", BASE);
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_runner")).arg("validate").arg(&ok).output().unwrap();
    assert!(o.status.success());
}

#[test]
fn environment_layer_sits_between_file_and_set() {
    let d = tempfile::tempdir().unwrap();
    let p = write_config(d.path(), "c.toml", BASE);
    let validate = |sets: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_runner"));
        cmd.arg("validate").arg(&p).env("RUNNER_EXPERIMENT__SEEDS", "[1, 2, 3]");
        for s in sets {
            cmd.arg("--set").arg(s);
        }
        let o = cmd.output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    assert!(validate(&[]).contains("(3 runs)"), "the environment overrides the file");
    assert!(validate(&["experiment.seeds=[7]"]).contains("(1 runs)"), "--set overrides the environment");
}

/// BASE with a searched random model on a split with validation, then `extra`.
fn searched(model_search: &str, extra: &str) -> String {
    format!("{BASE}\n[split]\nkind = \"leave_last_out\"\nvalidation = true\n\n[[model]]\nkind = \"random\"\n{model_search}\n{extra}")
}

#[test]
fn search_spaces_are_checked_at_their_lines() {
    let ok = searched("search = { objective = \"NDCG@10\", space = { dim = { choice = [4, 8] } } }", "");
    let d = tempfile::tempdir().unwrap();
    let e = config::load(&write_config(d.path(), "c.toml", &ok), &[]).unwrap();
    assert_eq!((e.runs.len(), e.searches.len(), e.searches[0].model), (1, 1, 1), "the searched model's runs come from its search");

    // A space key the model does not have, at the space's line, with the nearest key.
    let body = searched("", "[model.search]\nobjective = \"NDCG@10\"\n\n[model.search.space]\ndimm = { choice = [4, 8] }\n");
    let line = body.lines().position(|l| l.starts_with("dimm")).unwrap() + 1;
    let e = err(&body, &[]);
    assert_eq!((e.key.as_str(), e.line), ("model.1.search.space.dimm", Some(line)), "{e}");
    assert_eq!(e.hint.as_deref(), Some("did you mean `dim`?"), "{e}");

    // A value the model refuses (dim = 0) at one end of the range.
    let e = err(&searched("search = { objective = \"NDCG@10\", space = { dim = { int = [0, 8] } } }", ""), &[]);
    assert_eq!(e.key, "model.1.search.space.dim");
    assert!(e.message.contains("does not accept dim = 0"), "{e}");

    // An unknown distribution; a log range from 0; a bad search kind and objective.
    let e = err(&searched("search = { objective = \"NDCG@10\", space = { dim = { chioce = [4, 8] } } }", ""), &[]);
    assert_eq!((e.key.as_str(), e.hint.as_deref()), ("model.1.search.space.dim.chioce", Some("did you mean `choice`?")));
    let e = err(&searched("search = { objective = \"NDCG@10\", space = { dim = { int = [0, 8], log = true } } }", ""), &[]);
    assert!(e.message.contains("low > 0"), "{e}");
    let e = err(&searched("search = { space = { dim = { choice = [4, 8] } } }", "[search]\nkind = \"tpf\"\nobjective = \"NDCG@10\"\n"), &[]);
    assert_eq!((e.key.as_str(), e.hint.as_deref()), ("search.kind", Some("did you mean `tpe`? (kinds: random, tpe, grid)")));
    assert!(e.line.is_some());
    let e = err(&searched("search = { objective = \"NDGC@10\", space = { dim = { choice = [4, 8] } } }", ""), &[]);
    assert_eq!(e.key, "model.1.search.objective");
    assert!(e.hint.as_deref().unwrap().starts_with("did you mean `NDCG@10`?"), "{e}");
    let e = err(&searched("search = { objective = \"NDCG@10\", trials = 5, kind = \"grid\", space = { dim = { choice = [4, 8] } } }", ""), &[]);
    assert!(e.message.contains("the grid has 2 points"), "{e}");
}

#[test]
fn a_search_needs_a_split_with_validation_and_combines_with_a_sweep() {
    let body = searched("search = { objective = \"NDCG@10\", space = { dim = { choice = [4, 8] } } }", "").replace("validation = true", "");
    let e = err(&body, &[]);
    assert_eq!(e.key, "model.1.search");
    assert!(e.message.contains("holds none"), "{e}");
    assert!(e.hint.as_deref().unwrap().contains("validation = true"), "{e}");
    let body = searched("search = { objective = \"NDCG@10\", space = { dim = { choice = [4, 8] } } }", "")
        .replace("validation = true", "")
        .replace("kind = \"leave_last_out\"", "kind = \"random\"");
    assert!(err(&body, &[]).hint.unwrap().contains("valid_ratio"));
    // A sweep key outside the space: one search per sweep point, each where its point's runs
    // would be, with its own label and tuned point id.
    let body = searched("search = { objective = \"NDCG@10\", space = { dim = { choice = [4, 8] } } }", "[sweep]\n\"dataset.seed\" = [1, 2]\n");
    let d = tempfile::tempdir().unwrap();
    let e = config::load(&write_config(d.path(), "c.toml", &body), &[]).unwrap();
    assert_eq!((e.runs.len(), e.searches.len()), (2, 2), "the unsearched model per point, one search per point");
    assert_eq!(e.searches.iter().map(|s| s.slot).collect::<Vec<_>>(), vec![1, 2]);
    assert_ne!(e.searches[0].label, e.searches[1].label);
    assert!(e.searches[0].label.starts_with("random-"), "{}", e.searches[0].label);
    assert_ne!(e.searches[0].tuned_point(), e.searches[1].tuned_point());
    let runs: Vec<_> = e.searches.iter().map(|s| s.run_at(&Default::default(), 1).unwrap()).collect();
    assert_ne!(runs[0].dataset.params, runs[1].dataset.params, "each search sees its sweep point's values");
    // A key both swept and searched is refused at the space key, whichever way the sweep names the model.
    for swept in ["\"model.1.dim\" = [4, 8]", "\"model.random.dim\" = [4, 8]"] {
        let body = searched("search = { objective = \"NDCG@10\", space = { dim = { choice = [4, 8] } } }", &format!("[sweep]\n{swept}\n"));
        let e = err(&body, &[]);
        assert_eq!(e.key, "model.1.search.space.dim", "{e}");
        assert!(e.message.contains("both swept"), "{e}");
    }
}

/// A `--set` key is read as TOML reads keys: a quoted segment keeps its dots, so a sweep
/// over a model key can be set from the command line as it is written in a file.
#[test]
fn a_quoted_dotted_set_key_sweeps_as_in_a_file() {
    let d = tempfile::tempdir().unwrap();
    let body = BASE.replace("kind = \"popularity\"", "kind = \"item2vec\"\nthreads = 1");
    let p = write_config(d.path(), "c.toml", &body);
    let e = config::load(&p, &["sweep.\"model.0.threads\"=[1, 2]".to_string()]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(e.runs.len(), 2);
    let threads: Vec<&str> = e.runs.iter().map(|r| r.flat["model.threads"].as_str()).collect();
    assert_eq!(threads, ["1", "2"]);
}

#[test]
fn tracking_takes_an_mlflow_server_address() {
    let e = err(&format!("{BASE}\n[tracking]\nmlflow = \"mlruns\"\n"), &[]);
    assert_eq!(e.key, "tracking.mlflow");
    assert!(e.line.is_some() && e.message.contains("http://"), "{e}");
    let e = err(&format!("{BASE}\n[tracking]\nmlfow = \"http://x\"\n"), &[]);
    assert_eq!((e.key.as_str(), e.hint.as_deref()), ("tracking.mlfow", Some("did you mean `mlflow`?")));
    let d = tempfile::tempdir().unwrap();
    let p = write_config(d.path(), "c.toml", &format!("{BASE}\n[tracking]\nmlflow = \"http://127.0.0.1:5000\"\n"));
    assert_eq!(config::load(&p, &[]).unwrap().tracking.mlflow.as_deref(), Some("http://127.0.0.1:5000"));
}
