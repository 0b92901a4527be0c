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
    let keys = [
        "dataset.n_users",
        "dataset.n_items",
        "dataset.n_clusters",
        "dataset.mean_len",
        "dataset.min_len",
        "dataset.locality",
        "dataset.seed",
        "dataset.purity",
        "dataset.popularity_skew",
        "model.0.dim",
    ];
    let mut body = format!("{BASE}\n[sweep]\n");
    for (i, k) in keys.iter().enumerate() {
        let values: Vec<String> = (1..=10)
            .map(|v| {
                if k.ends_with("purity") {
                    format!("0.{v:02}")
                } else if k.ends_with("skew") {
                    format!("{v}.0")
                } else {
                    (v * 10 + i).to_string()
                }
            })
            .collect();
        body += &format!("\"{k}\" = [{}]\n", values.join(", "));
    }
    let sweep_line = body.lines().position(|l| l == "[sweep]").unwrap() + 1;
    write_config(d.path(), "huge.toml", &body);
    for cmd in [&["validate", "huge.toml"][..], &["run", "huge.toml", "--plan"][..]] {
        let o = runner(d.path(), cmd).output().unwrap();
        let text = out(&o);
        assert_eq!(o.status.code(), Some(2), "{cmd:?}: {text}");
        assert!(text.contains("10,000,000,000 points") && text.contains("max_points") && text.contains("[search]"), "{cmd:?}: {text}");
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

/// A run of `random` vectors on `n_users` synthetic users, finished, in `dir` as `t.toml`.
fn finished_run(dir: &Path, n_users: usize, dim: usize) {
    let body = BASE.replace("n_users = 100", &format!("n_users = {n_users}")).replace("dim = 4", &format!("dim = {dim}"))
        + "[metrics]\nk = [10]\nmetrics = [\"recall\"]\nlatency_queries = 10\n";
    write_config(dir, "t.toml", &body);
    let o = runner(dir, &["run", "-q", "t.toml"]).output().unwrap();
    assert!(o.status.success(), "{}", out(&o));
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().to_string()).collect()).unwrap_or_default();
    v.sort();
    v
}

/// Defect 4: `export` wrote in place (an interrupt left a truncated file after the previous
/// export was destroyed) and through symbolic links. Now an output path that is a link is
/// refused before anything is written, and an interrupt mid-export exits 130 with a message,
/// leaving the previous files byte for byte and no temporary file.
#[test]
fn d04_export_is_atomic_and_never_writes_through_a_link() {
    let d = tempfile::tempdir().unwrap();
    finished_run(d.path(), 100, 4);
    let o = runner(d.path(), &["export", "t.toml", "--out", "x/v"]).output().unwrap();
    assert!(o.status.success(), "{}", out(&o));
    let before: Vec<(String, Vec<u8>)> =
        names_in(&d.path().join("x")).into_iter().map(|n| (n.clone(), std::fs::read(d.path().join("x").join(&n)).unwrap())).collect();
    assert_eq!(before.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["v.items.ids.txt", "v.items.npy", "v.users.ids.txt", "v.users.npy"]);
    // A link where a file would go: refused, the link's target untouched.
    std::fs::write(d.path().join("precious"), "keep").unwrap();
    std::os::unix::fs::symlink(d.path().join("precious"), d.path().join("x/w.users.npy")).unwrap();
    let o = runner(d.path(), &["export", "t.toml", "--out", "x/w"]).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(out(&o).contains("symbolic link"), "{}", out(&o));
    assert_eq!(std::fs::read_to_string(d.path().join("precious")).unwrap(), "keep");
    assert!(!d.path().join("x/w.items.npy").exists(), "nothing of the set is written");
}

/// Defect 4, the interrupt: SIGINT while a large export is being written (its temporary
/// file exists) exits 130, removes the temporary files and leaves one whole set: the
/// previous export when the signal came before the files were renamed into place, else the
/// new one (the signal can land after the renames, while the process tidies up), and the
/// message says which.
#[test]
fn d04_an_interrupted_export_leaves_a_whole_set() {
    let d = tempfile::tempdir().unwrap();
    finished_run(d.path(), 60_000, 128);
    let dir = d.path().join("x");
    std::fs::create_dir(&dir).unwrap();
    for f in ["v.items.txt", "v.users.txt"] {
        std::fs::write(dir.join(f), format!("old {f}")).unwrap();
    }
    // ~80 MB of word2vec text, written under temporary names first.
    let mut child =
        runner(d.path(), &["export", "t.toml", "--out", "x/v", "--format", "word2vec"]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    // A shell already running sends the signal the moment it reads a line.
    let mut killer = Command::new("sh").args(["-c", &format!("read go; kill -INT {}", child.id())]).stdin(Stdio::piped()).spawn().unwrap();
    let t = std::time::Instant::now();
    let writing = || names_in(&dir).iter().any(|n| n.ends_with(".tmp"));
    while !writing() && child.try_wait().unwrap().is_none() && t.elapsed() < std::time::Duration::from_secs(120) {
        std::thread::sleep(std::time::Duration::from_micros(100));
    }
    assert!(writing(), "the export finished or stalled before its temporary file appeared");
    use std::io::Write;
    killer.stdin.take().unwrap().write_all(b"go\n").unwrap();
    killer.wait().unwrap();
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(130), "{err}");
    assert!(!names_in(&dir).iter().any(|n| n.ends_with(".tmp")), "temporary files left: {:?}", names_in(&dir));
    println!("stderr of the interrupted export: {err}");
    let old = ["v.items.txt", "v.users.txt"].map(|f| std::fs::read(dir.join(f)).unwrap() == format!("old {f}").into_bytes());
    if err.contains("not written") {
        assert_eq!(old, [true, true], "interrupted before the renames, yet a file was replaced: {err}");
    } else {
        assert!(err.contains("written in full"), "{err}");
        assert_eq!(old, [false, false], "{err}");
        let users = std::fs::read_to_string(dir.join("v.users.txt")).unwrap();
        assert_eq!(users.lines().count(), 60_001, "the new users file is whole");
    }
}

/// Defect 9: `--out dir/` wrote `dir.items.npy` beside the folder. A folder (ending in `/`,
/// or existing) means inside it, with the default file stem.
#[test]
fn d09_an_output_folder_means_inside_it() {
    let d = tempfile::tempdir().unwrap();
    finished_run(d.path(), 100, 4);
    let o = runner(d.path(), &["export", "t.toml", "--out", "fresh/"]).output().unwrap();
    assert!(o.status.success(), "{}", out(&o));
    assert_eq!(
        names_in(&d.path().join("fresh")),
        ["random-base-42.items.ids.txt", "random-base-42.items.npy", "random-base-42.users.ids.txt", "random-base-42.users.npy"]
    );
    assert!(!d.path().join("fresh.items.npy").exists());
    std::fs::create_dir(d.path().join("there")).unwrap();
    let o = runner(d.path(), &["export", "t.toml", "--out", "there", "--format", "parquet"]).output().unwrap();
    assert!(o.status.success(), "{}", out(&o));
    assert_eq!(names_in(&d.path().join("there")), ["random-base-42.items.parquet", "random-base-42.users.parquet"]);
}

/// Defects 10 and 11: ids from data files with a line break (which shifted every later line
/// of `ids.txt` against its vector) and with terminal control sequences (printed raw by
/// `recommend`).
#[test]
fn d10_d11_ids_with_line_breaks_and_control_characters() {
    let d = tempfile::tempdir().unwrap();
    let mut csv = String::from("user_id,item_id,timestamp\n");
    for u in 0..30 {
        // The escape-sequence item is everyone's first.
        csv += &format!("u{u},\"\x1b[2Jboom\",1\nu{u},\"line\nbreak\",2\nu{u},i{},3\nu{u},i{},4\n", u % 7, u % 5 + 10);
    }
    std::fs::write(d.path().join("r.csv"), csv).unwrap();
    let body = format!(
        "[experiment]\nname = \"t\"\ndata_dir = \"{}\"\n[dataset]\nkind = \"table\"\npath = \"r.csv\"\ntime_col = \"timestamp\"\n[split]\nkind = \"leave_last_out\"\n[[model]]\nkind = \"random\"\ndim = 4\n[metrics]\nk = [5]\n",
        d.path().display()
    );
    write_config(d.path(), "t.toml", &body);
    let o = runner(d.path(), &["run", "-q", "t.toml"]).output().unwrap();
    assert!(o.status.success(), "{}", out(&o));
    // Every answer line is printed with control characters escaped (random vectors:
    // popularity has no item similarity, and `similar` refuses it).
    let o = runner(d.path(), &["similar", "t.toml", "--item", "i1", "-k", "20"]).output().unwrap();
    let text = out(&o);
    assert!(o.status.success(), "{text}");
    assert!(!text.contains('\x1b'), "a raw escape sequence reached the terminal: {text:?}");
    assert!(text.contains("\\u{1b}[2Jboom"), "the id is shown escaped: {text}");
    assert!(text.contains("line\\nbreak") && !text.contains("line\nbreak"), "{text}");
    let o = runner(d.path(), &["recommend", "t.toml", "--user", "u0\x1b]0;pwned\x07"]).output().unwrap();
    assert!(!out(&o).contains('\x1b') && !out(&o).contains('\x07'), "{:?}", out(&o));
    // npy's ids.txt holds one id per line: an id with a line break is refused, nothing written.
    let o = runner(d.path(), &["export", "t.toml", "--out", "e/v"]).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(out(&o).contains("line break") && out(&o).contains("line\\nbreak") && out(&o).contains("parquet"), "{}", out(&o));
    assert!(names_in(&d.path().join("e")).is_empty(), "{:?}", names_in(&d.path().join("e")));
    let o = runner(d.path(), &["export", "t.toml", "--out", "e/v", "--format", "parquet"]).output().unwrap();
    assert!(o.status.success(), "parquet carries any id: {}", out(&o));
}

/// Defect 13: `model.item2vec.dim` in `[sweep]` failed when the model had no explicit
/// `name`, though a model's name defaults to its kind.
#[test]
fn d13_a_sweep_addresses_an_unnamed_model_by_its_kind() {
    let d = tempfile::tempdir().unwrap();
    write_config(d.path(), "t.toml", &format!("{BASE}[[model]]\nkind = \"popularity\"\n[sweep]\n\"model.random.dim\" = [2, 3]\n"));
    let o = runner(d.path(), &["validate", "t.toml"]).output().unwrap();
    assert!(o.status.success() && out(&o).contains("(4 runs)"), "{}", out(&o));
    let e = load(&d.path().join("t.toml"), &[]);
    let dims: Vec<u64> = e.runs.iter().filter(|r| r.model.kind.kind == "random").map(|r| r.model.params["dim"].as_u64().unwrap()).collect();
    assert_eq!(dims, [2, 3]);
}

/// Defect 14: a config read from a pipe (`runner validate <(cat x.toml)`, /dev/stdin) was read
/// twice, and the second read found nothing ("no [[model]] entries").
#[test]
fn d14_a_config_from_a_pipe_is_read_once() {
    let d = tempfile::tempdir().unwrap();
    let mut c = runner(d.path(), &["validate", "/dev/stdin"]);
    c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(BASE.as_bytes()).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success() && out(&o).contains("(1 runs)"), "{}", out(&o));
}

/// Defect 15: a `cache_dir` that is a symbolic link to nothing passed validation; every
/// stage then failed and the previous tables were overwritten with FAILED rows.
#[test]
fn d15_a_dangling_cache_link_is_a_config_error() {
    let d = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(d.path().join("gone"), d.path().join("cache")).unwrap();
    write_config(d.path(), "t.toml", &BASE.replace("name = \"t\"", "name = \"t\"\ncache_dir = \"cache\""));
    for cmd in [&["validate", "t.toml"][..], &["run", "-q", "t.toml"][..]] {
        let o = runner(d.path(), cmd).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{cmd:?}: {}", out(&o));
        assert!(out(&o).contains("t.toml:3") && out(&o).contains("symbolic link") && out(&o).contains("does not exist"), "{}", out(&o));
    }
    assert!(!d.path().join("results/t").exists(), "nothing was written");
}

/// Defect 18: a model named like a spreadsheet formula landed as a formula in
/// `results.csv`, and raw HTML in `results.md`.
#[test]
fn d18_names_cannot_inject_formulas_or_html() {
    let d = tempfile::tempdir().unwrap();
    let body = BASE.replace("kind = \"random\"", "kind = \"random\"\nname = \"=cmd|' /C calc'!A0\"")
        + "[[model]]\nkind = \"popularity\"\nname = \"<script>alert(1)</script>\"\n[metrics]\nk = [5]\nmetrics = [\"recall\"]\n";
    write_config(d.path(), "t.toml", &body);
    let o = runner(d.path(), &["run", "-q", "t.toml"]).output().unwrap();
    assert!(o.status.success(), "{}", out(&o));
    let csv = std::fs::read_to_string(d.path().join("results/t/results.csv")).unwrap();
    assert!(csv.lines().all(|l| !l.starts_with('=')), "{csv}");
    assert!(csv.contains("'=cmd|' /C calc'!A0"), "{csv}");
    let md = std::fs::read_to_string(d.path().join("results/t/results.md")).unwrap();
    assert!(!md.contains("<script>") && md.contains("&lt;script&gt;"), "{md}");
}

/// A config whose two-tower model collapses (its stage fails) beside popularity.
fn with_a_failing_model(name: &str) -> String {
    BASE.replace("name = \"t\"", &format!("name = \"{name}\""))
        .replace("kind = \"random\"\ndim = 4", "kind = \"two_tower\"\nlr = 1e6\nepochs = 2\nhidden = [16]\ndim = 8\nembedding_dim = 8\nbatch_size = 64")
        + "[[model]]\nkind = \"popularity\"\n[metrics]\nk = [5]\nmetrics = [\"recall\"]\n"
}

/// Defect 5: an experiment with a FAILED row could never be re-reported or compared ("1 of 2
/// evaluations are not cached; run ... first", which no rerun can fix). Both now show the
/// failed rows as `run` does. Defect 19: `runner report archive/x` wrote to the config's
/// `results/x`, not to the folder given.
#[test]
fn d05_d19_failed_rows_are_reported_again_into_the_folder_given() {
    let d = tempfile::tempdir().unwrap();
    for name in ["a", "b"] {
        write_config(d.path(), &format!("{name}.toml"), &with_a_failing_model(name));
        let o = runner(d.path(), &["run", "-q", &format!("{name}.toml")]).output().unwrap();
        assert_eq!(o.status.code(), Some(1), "the two-tower stage fails: {}", out(&o));
    }
    let before = std::fs::read_to_string(d.path().join("results/a/results.json")).unwrap();
    let o = runner(d.path(), &["report", "results/a"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let again = std::fs::read_to_string(d.path().join("results/a/results.json")).unwrap();
    let rows = |s: &str| -> Vec<(String, String)> {
        let v: serde_json::Value = serde_json::from_str(s).unwrap();
        v.as_array().unwrap().iter().map(|r| (r["model"].as_str().unwrap().to_string(), r["status"].as_str().unwrap().to_string())).collect()
    };
    assert_eq!(rows(&again), rows(&before));
    assert!(rows(&again).contains(&("two_tower".into(), "failed".into())), "{again}");
    let md = std::fs::read_to_string(d.path().join("results/a/results.md")).unwrap();
    assert!(md.contains("Failed rows") && md.contains("two_tower"), "{md}");
    let o = runner(d.path(), &["compare", "results/a", "results/b"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert!(out(&o).contains("popularity"), "{}", out(&o));
    // An archived folder is rendered where it is.
    std::fs::create_dir(d.path().join("archive")).unwrap();
    std::fs::rename(d.path().join("results/a"), d.path().join("archive/a-old")).unwrap();
    let o = runner(d.path(), &["report", "archive/a-old"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert!(!d.path().join("results/a").exists(), "report wrote to the config's results folder");
    assert!(out(&o).contains("archive/a-old/results."), "{}", out(&o));
    assert_eq!(rows(&std::fs::read_to_string(d.path().join("archive/a-old/results.json")).unwrap()), rows(&before));
}

/// Defect 6: `compare` paired experiments on different datasets by raw user id (a difference
/// of -0.14 with p = 0, no warning).
#[test]
fn d06_compare_refuses_different_datasets() {
    let d = tempfile::tempdir().unwrap();
    let extra = "[metrics]\nk = [5]\nmetrics = [\"recall\"]\n";
    write_config(d.path(), "a.toml", &format!("{}{extra}", BASE.replace("name = \"t\"", "name = \"a\"")));
    write_config(d.path(), "b.toml", &format!("{}{extra}", BASE.replace("name = \"t\"", "name = \"b\"").replace("n_users = 100", "n_users = 80")));
    for f in ["a.toml", "b.toml"] {
        let o = runner(d.path(), &["run", "-q", f]).output().unwrap();
        assert!(o.status.success(), "{}", out(&o));
    }
    let o = runner(d.path(), &["compare", "results/a", "results/b"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    assert!(out(&o).contains("different datasets") && out(&o).contains("cannot be paired"), "{}", out(&o));
    assert!(!d.path().join("results/b/compare-a.md").exists());
}

/// Found by a new user: `--set model.item2vec.window=7` on a config sweeping `window`
/// validated "ok" and changed nothing, and `--set index.ef_serch=32` (a typo) under
/// `[sweep] index = [...]` was accepted. Both are errors naming the sweep.
#[test]
fn a_set_on_a_swept_key_is_an_error() {
    let d = tempfile::tempdir().unwrap();
    write_config(d.path(), "w.toml", &format!("{BASE}sweep = {{ dim = [2, 3] }}\n"));
    let o = runner(d.path(), &["validate", "w.toml", "--set", "model.random.dim=7"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    assert!(out(&o).contains("model 0's sweep `dim`"), "{}", out(&o));
    let o = runner(d.path(), &["validate", "w.toml"]).env("RUNNER_MODEL__0__DIM", "7").output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    write_config(d.path(), "i.toml", &format!("{BASE}[sweep]\nindex = [{{ kind = \"flat\" }}, {{ kind = \"hnsw\", ef_search = 16 }}]\n"));
    let o = runner(d.path(), &["validate", "i.toml", "--set", "index.ef_serch=32"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    assert!(out(&o).contains("[sweep] `index`"), "{}", out(&o));
    // Keys the sweep leaves alone, and the sweep's own lists, still take overrides.
    let o = runner(d.path(), &["validate", "w.toml", "--set", "experiment.seeds=[1, 2]"]).output().unwrap();
    assert!(o.status.success() && out(&o).contains("(4 runs)"), "{}", out(&o));
    let o = runner(d.path(), &["validate", "i.toml", "--set", "sweep.index=[{ kind = \"flat\" }]"]).output().unwrap();
    assert!(o.status.success() && out(&o).contains("(1 runs)"), "{}", out(&o));
}

/// `--force=eval` re-times the queries without retraining: the eval entries are computed
/// again, the train (and data) entries are kept; a bare `--force` still recomputes all.
#[test]
fn force_from_a_stage_kind_recomputes_that_kind_and_later_ones_only() {
    let d = tempfile::tempdir().unwrap();
    finished_run(d.path(), 100, 4);
    let manifests = |kind: &str| -> Vec<Vec<u8>> {
        let mut v: Vec<Vec<u8>> = std::fs::read_dir(d.path().join("results/cache").join(kind))
            .unwrap()
            .map(|e| std::fs::read(e.unwrap().path().join("manifest.json")).unwrap())
            .collect();
        v.sort();
        v
    };
    let (train, data, eval) = (manifests("train"), manifests("data"), manifests("eval"));
    assert!(!train.is_empty() && !eval.is_empty());
    std::thread::sleep(std::time::Duration::from_millis(1100)); // a new created_unix second
    let o = runner(d.path(), &["run", "-q", "--force=eval", "t.toml"]).output().unwrap();
    assert!(o.status.success(), "{}", out(&o));
    assert_eq!((manifests("train"), manifests("data")), (train.clone(), data.clone()), "training and data were kept");
    assert_ne!(manifests("eval"), eval, "the evaluations ran again");
    let o = runner(d.path(), &["run", "-q", "--force", "t.toml"]).output().unwrap();
    assert!(o.status.success(), "{}", out(&o));
    assert_ne!(manifests("train"), train, "a bare --force recomputes everything");
    let o = runner(d.path(), &["run", "-q", "--force=trian", "t.toml"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
}

/// Latency measured while another stage ran beside it (`--jobs 2`) is marked `*` with a note;
/// one stage at a time (`--jobs 1`) is not.
#[test]
fn latency_measured_beside_other_stages_is_marked() {
    let d = tempfile::tempdir().unwrap();
    let body =
        BASE.replace("n_users = 100", "n_users = 400").replace("kind = \"random\"\ndim = 4", "kind = \"item2vec\"\ndim = 16\nepochs = 3000\nthreads = 1")
            + "[[model]]\nkind = \"popularity\"\n[metrics]\nk = [10]\nmetrics = [\"recall\"]\nlatency_queries = 50\n";
    write_config(d.path(), "t.toml", &body);
    let contended = |jobs: &str| -> (usize, String) {
        let o = runner(d.path(), &["run", "-q", "--force", "--jobs", jobs, "t.toml"]).output().unwrap();
        assert!(o.status.success(), "{}", out(&o));
        let rows: Vec<serde_json::Value> = serde_json::from_slice(&std::fs::read(d.path().join("results/t/results.json")).unwrap()).unwrap();
        let md = std::fs::read_to_string(d.path().join("results/t/results.md")).unwrap();
        (rows.iter().filter(|r| r["latency"]["contended"] == serde_json::json!(true)).count(), md)
    };
    let (n, md) = contended("1");
    assert_eq!(n, 0, "{md}");
    assert!(!md.contains("latency measured while"), "{md}");
    // Popularity's evaluation runs while item2vec trains.
    let (n, md) = contended("2");
    assert!(n >= 1, "{md}");
    assert!(md.contains("latency measured while other stages ran beside it"), "{md}");
}

/// `runner data list --config c.toml` looks in the config's data folder.
#[test]
fn data_list_reads_a_configs_data_folder() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("mydata/ml-100k")).unwrap();
    let abs = d.path().join("mydata");
    write_config(d.path(), "c.toml", &BASE.replace("name = \"t\"", &format!("name = \"t\"\ndata_dir = \"{}\"", abs.display())));
    let o = runner(d.path(), &["data", "list", "--config", "c.toml"]).output().unwrap();
    let text = out(&o);
    assert!(o.status.success(), "{text}");
    assert!(text.contains(&format!("data folder: {}", abs.display())), "{text}");
    assert!(text.lines().any(|l| l.starts_with("ml-100k") && l.contains("present")), "{text}");
    let o = runner(d.path(), &["data", "list", "--config", "missing.toml"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
}

/// A model naming a text or feature column the dataset lacks stops the run right after the
/// data stage: no model trains first (the columns are known once the data stage has run).
#[test]
fn a_missing_feature_column_fails_before_any_model_trains() {
    let d = tempfile::tempdir().unwrap();
    let body =
        BASE.replace("kind = \"random\"\ndim = 4", "kind = \"item2vec\"\ndim = 4\nthreads = 1") + "[[model]]\nkind = \"dssm\"\nitem = { text = [\"plot\"] }\n";
    write_config(d.path(), "t.toml", &body);
    let o = runner(d.path(), &["run", "-q", "--jobs", "1", "t.toml"]).output().unwrap();
    let text = out(&o);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(text.contains("model `dssm`") && text.contains("names `plot`, which the dataset's item features lack"), "{text}");
    let trained = std::fs::read_dir(d.path().join("results/cache/train")).map(|r| r.count()).unwrap_or(0);
    assert_eq!(trained, 0, "nothing trained before the error: {text}");
    // Cached data is checked too: the rerun fails the same way at once.
    let o = runner(d.path(), &["run", "-q", "t.toml"]).output().unwrap();
    assert!(out(&o).contains("names `plot`"), "{}", out(&o));
}
