//! Trust, round 2: the defects a second probe found, each tried as a user would with the
//! release binary and named by its number in the probe's list.

mod common;
use common::*;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn runner(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_runner"));
    c.args(args).current_dir(dir).stdin(Stdio::null());
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("RUNNER_") && k.contains("__")) {
        c.env_remove(k);
    }
    c
}

fn out(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

const BASE: &str = "[experiment]\nname = \"t\"\n[dataset]\nkind = \"synthetic\"\nn_users = 100\nn_items = 50\nn_clusters = 2\nmean_len = 10\n[[model]]\nkind = \"random\"\ndim = 4\n";

/// Defect 1: ten `[sweep]` keys of ten values each took 11 GB in `validate` and was
/// OOM-killed in `run --plan`. The points are counted from the lists' lengths first: past
/// `max_points` the config is refused at the `[sweep]` line, naming the count.
#[test]
fn d01_a_huge_sweep_is_refused_before_it_is_expanded() {
    let d = tempfile::tempdir().unwrap();
    let keys = ["dataset.n_users", "dataset.n_items", "dataset.n_clusters", "dataset.mean_len", "dataset.min_len", "dataset.locality", "dataset.seed", "dataset.purity", "dataset.popularity_skew", "model.0.dim"];
    let mut body = format!("{BASE}\n[sweep]\n");
    for (i, k) in keys.iter().enumerate() {
        let values: Vec<String> = (1..=10).map(|v| if k.ends_with("purity") { format!("0.{v:02}") } else if k.ends_with("skew") { format!("{v}.0") } else { (v * 10 + i).to_string() }).collect();
        body += &format!("\"{k}\" = [{}]\n", values.join(", "));
    }
    let sweep_line = body.lines().position(|l| l == "[sweep]").unwrap() + 1;
    write_config(d.path(), "huge.toml", &body);
    for cmd in [&["validate", "huge.toml"][..], &["run", "huge.toml", "--plan"][..]] {
        let o = runner(d.path(), cmd).output().unwrap();
        let text = out(&o);
        assert_eq!(o.status.code(), Some(2), "{cmd:?}: {text}");
        assert!(text.contains("10,000,000,000 points") && text.contains("max_points"), "{cmd:?}: {text}");
        assert!(text.contains(&format!("huge.toml:{sweep_line}")), "{cmd:?}: the error points at the [sweep] line {sweep_line}: {text}");
    }
    // Within the cap it runs; `max_points` raises the cap.
    let small = format!("{BASE}\n[sweep]\n\"model.0.dim\" = [2, 3, 4]\n\"dataset.seed\" = [1, 2]\n");
    write_config(d.path(), "small.toml", &small);
    let o = runner(d.path(), &["validate", "small.toml"]).output().unwrap();
    assert!(o.status.success() && out(&o).contains("(6 runs)"), "{}", out(&o));
    let o = runner(d.path(), &["validate", "small.toml", "--set", "experiment.max_points=5"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    assert!(out(&o).contains("expands to 6 points"), "{}", out(&o));
    // A model's own sweep counts for that model only: 3 points of one model + 1 of another.
    let per_model = format!("{BASE}sweep = {{ dim = [2, 3, 4] }}\n[[model]]\nkind = \"popularity\"\n");
    write_config(d.path(), "per.toml", &per_model);
    let o = runner(d.path(), &["validate", "per.toml", "--set", "experiment.max_points=4"]).output().unwrap();
    assert!(o.status.success(), "{}", out(&o));
    let o = runner(d.path(), &["validate", "per.toml", "--set", "experiment.max_points=3"]).output().unwrap();
    assert!(out(&o).contains("expands to 4 points"), "{}", out(&o));
}

/// A stdout whose reader has already gone: every write fails with a broken pipe.
fn closed_stdout() -> std::io::PipeWriter {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    writer
}

/// Defect 7: a closed stdout (`runner kinds | head -1`, `run -q | head -c1`) panicked with a
/// backtrace (exit 101), and in `run` the report stage failed before `index.html` and
/// `run.json` were written.
#[test]
fn d07_a_closed_stdout_is_no_panic_and_the_report_is_complete() {
    let d = tempfile::tempdir().unwrap();
    write_config(d.path(), "t.toml", BASE);
    let o = runner(d.path(), &["kinds"]).stdout(closed_stdout()).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let o = runner(d.path(), &["run", "-q", "t.toml"]).stdout(closed_stdout()).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    for f in ["results.md", "results.json", "index.html", "run.json"] {
        assert!(d.path().join("results/t").join(f).exists(), "{f} was not written: {err}");
    }
    let o = runner(d.path(), &["recommend", "t.toml", "--user", "u1"]).stdout(closed_stdout()).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(!err.contains("panicked"), "{err}");
}
