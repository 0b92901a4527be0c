//! Trust, tried as a user would with the release binary: many runners on one cache, runs
//! killed or interrupted at any moment, and bad configs and data. Each test names the defect
//! it reproduces; every one of them failed before the fix.

mod common;
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Small enough that 8 runners x 20 rounds stay quick, with every stage kind. Item2Vec on one
/// thread and the exact index make the table a function of the config, so runs compare.
const TINY: &str = r#"
[experiment]
name = "tiny"
seeds = [1]

[dataset]
kind = "synthetic"
n_users = 200
n_items = 120
n_clusters = 4
mean_len = 10
seed = 3

[[model]]
kind = "popularity"

[[model]]
kind = "item2vec"
dim = 8
epochs = 2
threads = 1

[metrics]
k = [5, 10]
latency_queries = 10
"#;

fn runner() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_runner"));
    // Keep the caller's RUNNER_* config overrides out of the sandboxed runs.
    for (k, _) in std::env::vars() {
        if k.starts_with("RUNNER_") && k.contains("__") {
            c.env_remove(k);
        }
    }
    c
}

/// `runner run -q CONFIG` with the cache in `cache` and the tables in `results`.
fn run_cmd(cfg: &Path, cache: &Path, results: &Path, extra: &[&str]) -> Command {
    let mut c = runner();
    c.arg("run").arg("-q").arg(cfg);
    c.arg("--set").arg(format!("experiment.cache_dir=\"{}\"", cache.display()));
    c.arg("--set").arg(format!("experiment.results_dir=\"{}\"", results.display()));
    c.args(extra);
    c
}

fn output(mut c: Command) -> Output {
    c.stdin(Stdio::null()).output().expect("the runner binary starts")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// What must be identical between two runs of one config: each row's identity and metrics
/// (timings and latencies differ run to run).
fn table_of(results_json: &Path) -> Vec<(String, String, u64, String, Value)> {
    let rows: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(results_json).unwrap_or_else(|e| panic!("{}: {e}", results_json.display()))).unwrap();
    rows.iter()
        .map(|r| {
            let mut m = r["metrics"].clone();
            // ANN recall and metrics are deterministic for a fixed graph; nothing else varies.
            if let Some(o) = m.as_object_mut() {
                o.retain(|k, _| !k.contains("qps"));
            }
            (
                r["model"].as_str().unwrap_or("").to_string(),
                r["point"].as_str().unwrap_or("").to_string(),
                r["seed"].as_u64().unwrap_or(0),
                r["status"].to_string(),
                m,
            )
        })
        .collect()
}

/// Entries under `<cache>/.tmp` (temporary entries and their lock files).
fn tmp_entries(cache: &Path) -> Vec<String> {
    match std::fs::read_dir(cache.join(".tmp")) {
        Ok(d) => d.filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().to_string())).collect(),
        Err(_) => Vec::new(),
    }
}

/// Tests that start many runner processes or time one take this lock, so they do not share
/// the machine's 2 cores with each other (the harness runs a binary's tests side by side).
fn heavy() -> std::sync::MutexGuard<'static, ()> {
    static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());
    HEAVY.lock().unwrap_or_else(|e| e.into_inner())
}

fn wait_timeout(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let t = Instant::now();
    while t.elapsed() < limit {
        if let Some(s) = child.try_wait().unwrap() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

#[test]
fn eight_runners_on_one_fresh_cache_all_succeed_with_identical_tables() {
    let _heavy = heavy();
    // Defect 2: "Directory not empty (os error 39)" / "vanished or was damaged" in 11 of 30
    // trials, 40 of 40 with --force.
    let d = tempfile::tempdir().unwrap();
    let cfg = write_config(d.path(), "tiny.toml", &TINY.to_string());
    let reference = {
        let o = output(run_cmd(&cfg, &d.path().join("ref-cache"), &d.path().join("ref"), &[]));
        assert!(o.status.success(), "{}", text(&o));
        table_of(&d.path().join("ref/tiny/results.json"))
    };
    let rounds: usize = std::env::var("RELIABILITY_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    for force in [false, true] {
        for round in 0..rounds {
            let cache = d.path().join(format!("cache-{force}-{round}"));
            let children: Vec<(PathBuf, Child)> = (0..8)
                .map(|p| {
                    let results = d.path().join(format!("res-{force}-{round}-{p}"));
                    let extra: &[&str] = if force { &["--force"] } else { &[] };
                    let mut c = run_cmd(&cfg, &cache, &results, extra);
                    c.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
                    (results, c.spawn().unwrap())
                })
                .collect();
            for (results, child) in children {
                let o = child.wait_with_output().unwrap();
                assert!(o.status.success(), "round {round} (force {force}): exit {:?}\n{}", o.status.code(), text(&o));
                assert_eq!(table_of(&results.join("tiny/results.json")), reference, "round {round} (force {force})");
            }
            assert!(tmp_entries(&cache).is_empty(), "left in .tmp: {:?}", tmp_entries(&cache));
        }
    }
}

#[test]
fn killed_runs_resume_to_the_clean_table_and_leave_no_temporary_entries() {
    let _heavy = heavy();
    // Defect 6: kill -9 left `.tmp` entries forever (9 of 40 kills).
    let d = tempfile::tempdir().unwrap();
    let body = TINY.to_string().replace("n_users = 200", "n_users = 1500").replace("n_items = 120", "n_items = 400").replace("epochs = 2", "epochs = 6");
    let cfg = write_config(d.path(), "tiny.toml", &body);
    let t = Instant::now();
    let o = output(run_cmd(&cfg, &d.path().join("clean-cache"), &d.path().join("clean"), &[]));
    assert!(o.status.success(), "{}", text(&o));
    let clean_ms = t.elapsed().as_millis().max(50) as u64;
    let clean = table_of(&d.path().join("clean/tiny/results.json"));
    let cache = d.path().join("cache");
    // Kill points spread over the whole run (a fixed sequence, so a failure reproduces).
    let kills = 10u64;
    for i in 0..kills {
        let at = Duration::from_millis(clean_ms * (2 * i + 1) / (2 * kills));
        let mut c = run_cmd(&cfg, &cache, &d.path().join("killed"), &[]);
        c.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        let mut child = c.spawn().unwrap();
        std::thread::sleep(at);
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
    }
    let o = output(run_cmd(&cfg, &cache, &d.path().join("after"), &[]));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(table_of(&d.path().join("after/tiny/results.json")), clean, "a resumed run must give the clean run's table");
    assert!(tmp_entries(&cache).is_empty(), "the rerun must remove what the killed runs left: {:?}", tmp_entries(&cache));
}

#[test]
fn sigint_stops_promptly_with_exit_130_and_removes_its_temporary_entries() {
    // Defect 6: no SIGINT / SIGTERM handling.
    let _heavy = heavy();
    let d = tempfile::tempdir().unwrap();
    // Training would take minutes: stopping within the limit below is the handler's doing.
    let body = TINY.to_string().replace("epochs = 2", "epochs = 100000");
    let cfg = write_config(d.path(), "slow.toml", &body);
    let cache = d.path().join("cache");
    let sets = vec![format!("experiment.cache_dir=\"{}\"", cache.display()), format!("experiment.results_dir=\"{}\"", d.path().join("res").display())];
    let exp = load(&cfg, &sets);
    // The executor holds this lock while it trains item2vec (the second model).
    let train_lock = cache.join(".locks/train").join(format!("{}.lock", runner::pipeline::run_keys(&exp, &exp.runs[1]).unwrap().train));
    let training = || std::fs::File::open(&train_lock).is_ok_and(|f| f.try_lock().is_err());
    // Ceilings for events on a busy 2-core machine; no fixed sleeps.
    let ceiling = Duration::from_secs(120);
    for signal in ["INT", "TERM"] {
        // Not quiet: the stage log goes to stderr, read on a thread so the pipe never fills.
        let mut c = runner();
        c.arg("run").arg(&cfg);
        for s in &sets {
            c.arg("--set").arg(s);
        }
        c.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let reader = std::thread::spawn(move || {
            use std::io::Read;
            let mut all = String::new();
            let _ = std::io::BufReader::new(stderr).read_to_string(&mut all);
            all
        });
        let t = Instant::now();
        while !training() && t.elapsed() < ceiling && child.try_wait().unwrap().is_none() {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(training(), "SIG{signal}: item2vec's training never began within {ceiling:?}");
        let sent = Instant::now();
        let st = Command::new("kill").arg(format!("-{signal}")).arg(child.id().to_string()).status().unwrap();
        assert!(st.success());
        let status = wait_timeout(&mut child, Duration::from_secs(60)).unwrap_or_else(|| {
            let _ = child.kill();
            panic!("SIG{signal}: the runner did not stop within 60 s");
        });
        assert!(sent.elapsed() < Duration::from_secs(10), "SIG{signal}: stopping took {:?}", sent.elapsed());
        let log = reader.join().unwrap();
        assert_eq!(status.code(), Some(130), "SIG{signal}: {log}");
        assert!(log.contains("interrupted") && log.contains("stages had finished"), "SIG{signal}: {log}");
        assert!(tmp_entries(&cache).is_empty(), "SIG{signal} left {:?}", tmp_entries(&cache));
        assert!(!training(), "SIG{signal}: the training lock outlived the process");
    }
}

#[test]
fn collapsed_training_fails_its_stage_and_the_table_keeps_the_other_rows() {
    // Defect 1: lr = 1e6 trained every item vector to zero and reported Recall@10 with exit 0.
    // Defect 10: one failed stage dropped the whole table.
    let d = tempfile::tempdir().unwrap();
    let body = r#"
[experiment]
name = "collapse"
[dataset]
kind = "synthetic"
n_users = 300
n_items = 150
n_clusters = 4
mean_len = 10
[[model]]
kind = "popularity"
[[model]]
kind = "two_tower"
lr = 1e6
epochs = 2
hidden = [32]
dim = 16
embedding_dim = 16
batch_size = 128
[metrics]
k = [10]
"#;
    let cfg = write_config(d.path(), "collapse.toml", body);
    let o = output(run_cmd(&cfg, &d.path().join("cache"), &d.path().join("res"), &[]));
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("collapsed") || out.contains("NaN"), "the error says what happened: {out}");
    assert!(out.contains("lr"), "and what to try: {out}");
    let rows: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(d.path().join("res/collapse/results.json")).unwrap()).unwrap();
    assert_eq!(rows.len(), 2, "both rows are kept");
    let pop = rows.iter().find(|r| r["model"] == "popularity").unwrap();
    assert!(pop["metrics"]["Recall@10"].as_f64().unwrap() > 0.0);
    let tt = rows.iter().find(|r| r["model"] == "two_tower").unwrap();
    assert_eq!(tt["status"], "failed");
    assert!(tt["error"].as_str().unwrap().contains("train"), "{tt}");
    assert!(tt["metrics"].as_object().unwrap().is_empty(), "no metric for a failed run");
    let csv = std::fs::read_to_string(d.path().join("res/collapse/results.csv")).unwrap();
    assert!(csv.lines().next().unwrap().ends_with(",error"), "{csv}");
    assert!(csv.contains("FAILED"), "{csv}");
    let md = std::fs::read_to_string(d.path().join("res/collapse/results.md")).unwrap();
    assert!(md.contains("Failed rows") && md.contains("two_tower"), "{md}");
}

/// `runner validate` of a config body; returns (exit code, output).
fn validate(dir: &Path, name: &str, body: &str, env: &[(&str, &str)]) -> (i32, String) {
    let cfg = write_config(dir, name, body);
    let mut c = runner();
    c.arg("validate").arg(&cfg);
    for (k, v) in env {
        c.env(k, v);
    }
    let o = output(c);
    (o.status.code().unwrap_or(-1), text(&o))
}

const BASE: &str = "[dataset]\nkind = \"synthetic\"\nn_users = 100\nn_items = 50\nn_clusters = 2\nmean_len = 10\n[[model]]\nkind = \"popularity\"\n";

#[test]
fn config_defects_are_errors_before_anything_runs() {
    let d = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        // 4: sweep keys that address nothing ran identical points.
        ("sweep typo", format!("{BASE}\n[sweep]\n\"modle.0.dim\" = [8, 16]\n"), vec!["modle.0.dim", "did you mean `model.0.dim`", ":11:"]),
        (
            "sweep inner typo",
            format!("{BASE}\n[[model]]\nkind = \"random\"\n\n[sweep]\n\"model.1.dimm\" = [8]\n"),
            vec![":14:", "model.1.dimm", "did you mean `dim`", "set by [sweep]"],
        ),
        ("sweep experiment key", format!("{BASE}\n[sweep]\n\"experiment.fooo\" = [1, 2]\n"), vec!["cannot be swept"]),
        ("sweep seeds", format!("{BASE}\n[sweep]\n\"experiment.seeds\" = [[1], [2]]\n"), vec!["cannot be swept", "seeds = [1, 2, 3]"]),
        // 5: `.` or `..` wrote outside or over results_dir.
        ("name ..", format!("[experiment]\nname = \"..\"\n{BASE}"), vec!["experiment.name", "outside"]),
        ("name .", format!("[experiment]\nname = \".\"\n{BASE}"), vec!["experiment.name"]),
        // 13: a 300-character name failed only after every stage ran.
        ("long name", format!("[experiment]\nname = \"{}\"\n{BASE}", "x".repeat(300)), vec!["300 characters", "at most 100"]),
        // 7: NaN meant "no filter" or "invalid type: null".
        ("min_rating nan", BASE.replace("n_items = 50", "n_items = 50\nmin_rating = nan"), vec![":5:", "dataset.min_rating", "finite"]),
        ("lr nan", format!("{BASE}\n[[model]]\nkind = \"item2vec\"\nlr = nan\n"), vec!["model.1.lr", "finite"]),
        ("inf", format!("{BASE}\n[[model]]\nkind = \"item2vec\"\nlr = inf\n"), vec!["finite"]),
        // 9: duplicate model names.
        ("duplicate names", format!("{BASE}\n[[model]]\nkind = \"popularity\"\n"), vec!["both named `popularity`", "distinct name"]),
        ("duplicate explicit names", format!("{BASE}\n[[model]]\nkind = \"random\"\nname = \"popularity\"\n"), vec!["model.1.name"]),
        // 11: no upper bounds.
        ("huge hidden", format!("{BASE}\n[[model]]\nkind = \"two_tower\"\nhidden = [10000000]\n"), vec!["hidden.0", "at most 16384"]),
        ("huge negatives", format!("{BASE}\n[[model]]\nkind = \"two_tower\"\nnegatives = 100000000\n"), vec!["negatives", "at most"]),
        (
            "memory estimate",
            format!("{BASE}\n[[model]]\nkind = \"two_tower\"\nhidden = [16384, 16384, 16384]\nembedding_dim = 16384\nbatch_size = 1048576\n"),
            vec!["needs about", "available"],
        ),
        // 13: kind mismatch found only after every stage ran.
        ("edge_holdout on interactions", format!("{BASE}\n[split]\nkind = \"edge_holdout\"\n"), vec!["split.kind", "not a graph"]),
    ];
    for (what, body, needles) in cases {
        let (code, out) = validate(d.path(), "c.toml", &body, &[]);
        assert_eq!(code, 2, "{what}: {out}");
        for n in needles {
            assert!(out.contains(n), "{what}: expected `{n}` in:\n{out}");
        }
    }
    // The swept seeds belong in [experiment] seeds, which does sweep.
    let (code, out) = validate(d.path(), "c.toml", &format!("[experiment]\nseeds = [1, 2]\n{BASE}"), &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("(2 runs)"), "{out}");
}

#[test]
fn output_folders_that_are_files_are_config_errors() {
    // Defect 13: a `results_dir` that is a file failed only after every stage ran.
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    for key in ["results_dir", "cache_dir"] {
        let body = format!("[experiment]\n{key} = \"{}\"\n{BASE}", file.display());
        let (code, out) = validate(d.path(), "c.toml", &body, &[]);
        assert_eq!(code, 2, "{out}");
        assert!(out.contains(&format!("experiment.{key}")) && out.contains("is a file"), "{out}");
        let body = format!("[experiment]\n{key} = \"{}\"\n{BASE}", file.join("below").display());
        let (code, out) = validate(d.path(), "c.toml", &body, &[]);
        assert_eq!(code, 2, "{out}");
        assert!(out.contains("cannot be created"), "{out}");
    }
}

#[test]
fn an_environment_override_of_one_model_key_keeps_the_list() {
    // Defect 8: `RUNNER_MODEL__0__DIM=8` said "no [[model]] entries".
    let d = tempfile::tempdir().unwrap();
    let body = format!("{BASE}\n[[model]]\nkind = \"random\"\n");
    let (code, out) = validate(d.path(), "c.toml", &body, &[("RUNNER_MODEL__1__DIM", "8")]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("(2 runs)"), "{out}");
    // The override reaches the key: an invalid value is refused, naming the variable.
    let (code, out) = validate(d.path(), "c.toml", &body, &[("RUNNER_MODEL__1__DIM", "0")]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("model.1.dim"), "{out}");
    let (code, out) = validate(d.path(), "c.toml", &body, &[("RUNNER_MODEL__7__DIM", "8")]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("RUNNER_MODEL__7__DIM") && out.contains("out of range"), "{out}");
    let (code, out) = validate(d.path(), "c.toml", &body, &[("RUNNER_MODEL__1__DIM", "nan")]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("finite"), "{out}");
}

#[test]
fn same_named_experiments_in_one_invocation_are_refused() {
    // Defect 3: a/exp.toml and b/exp.toml both wrote results/exp/, the first table lost.
    let d = tempfile::tempdir().unwrap();
    for sub in ["a", "b"] {
        std::fs::create_dir_all(d.path().join(sub)).unwrap();
        write_config(&d.path().join(sub), "exp.toml", BASE);
    }
    let mut c = runner();
    c.arg("validate").arg(d.path().join("a/exp.toml")).arg(d.path().join("b/exp.toml"));
    let o = output(c);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("also the name of the experiment in"), "{}", text(&o));
    // Distinct names are fine.
    write_config(&d.path().join("b"), "exp.toml", &format!("[experiment]\nname = \"other\"\n{BASE}"));
    let mut c = runner();
    c.arg("validate").arg(d.path().join("a/exp.toml")).arg(d.path().join("b/exp.toml"));
    assert!(output(c).status.success());
}

/// Runs `body` (a config whose `[dataset]` reads `data.csv` from `dir`) and returns (exit code, output).
fn run_on(dir: &Path, body: &str) -> (i32, String) {
    let cfg = write_config(dir, "c.toml", body);
    let o = output(run_cmd(&cfg, &dir.join("cache"), &dir.join("res"), &[]));
    (o.status.code().unwrap_or(-1), text(&o))
}

fn table_config(dir: &Path) -> String {
    format!(
        "[experiment]\ndata_dir = \"{}\"\n[dataset]\nkind = \"table\"\npath = \"data.csv\"\nuser_col = \"u\"\nitem_col = \"i\"\nrating_col = \"r\"\ntime_col = \"t\"\n[[model]]\nkind = \"popularity\"\n[metrics]\nk = [2]\n",
        dir.display()
    )
}

#[test]
fn bad_data_values_are_errors_with_file_and_line() {
    // Defect 7: a CSV timestamp NaN became 0, 1e30 saturated, 1.5 truncated; NaN ratings
    // loaded silently.
    let d = tempfile::tempdir().unwrap();
    let good = "u,i,r,t\na,x,1,1\na,y,2,2\nb,x,3,3\nb,z,4,4\nc,y,5,5\nc,z,1,6\n";
    std::fs::write(d.path().join("data.csv"), good).unwrap();
    let (code, out) = run_on(d.path(), &table_config(d.path()));
    assert_eq!(code, 0, "{out}");
    for (bad, needles) in [
        ("b,z,4,NaN", vec!["data.csv:5", "timestamp `NaN`"]),
        ("b,z,4,1e30", vec!["data.csv:5", "out of range"]),
        ("b,z,4,1.5", vec!["data.csv:5", "fractional"]),
        ("b,z,NaN,4", vec!["data.csv:5", "rating `NaN`", "finite"]),
        ("b,z,inf,4", vec!["data.csv:5", "finite"]),
    ] {
        std::fs::write(d.path().join("data.csv"), good.replace("b,z,4,4", bad)).unwrap();
        let (code, out) = run_on(d.path(), &table_config(d.path()));
        assert_eq!(code, 1, "{bad}: {out}");
        for n in needles {
            assert!(out.contains(n), "{bad}: expected `{n}` in {out}");
        }
    }
    // Whole numbers written as floats are fine.
    std::fs::write(d.path().join("data.csv"), good.replace("b,z,4,4", "b,z,4,4.0")).unwrap();
    assert_eq!(run_on(d.path(), &table_config(d.path())).0, 0);
}

#[test]
fn errors_name_paths_and_quote_raw_data_safely() {
    // Defect 12.
    let d = tempfile::tempdir().unwrap();
    // A binary file named .csv must not dump its bytes.
    let mut junk: Vec<u8> = (0..4096u32).map(|i| (i * 7 % 256) as u8).collect();
    junk[10] = 0;
    std::fs::write(d.path().join("data.csv"), &junk).unwrap();
    let (code, out) = run_on(d.path(), &table_config(d.path()));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("data.csv") && out.contains("binary"), "{out}");
    assert!(out.len() < 2000, "no raw dump: {} bytes of output", out.len());
    // Every row duplicated: say so instead of blaming the user counts.
    std::fs::write(d.path().join("data.csv"), "u,i,r,t\na,x,1,1\na,x,1,2\nb,y,1,3\nb,y,1,4\n").unwrap();
    let (code, out) = run_on(d.path(), &table_config(d.path()));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("repeat"), "{out}");
    // A bad rating is named by the dataset's own ids, not internal ones.
    std::fs::write(d.path().join("data.csv"), "u,i,r,t\nalice,zed,-1,1\nalice,x,1,2\nbob,x,3,3\nbob,y,4,4\n").unwrap();
    let body =
        table_config(d.path()).replace("kind = \"popularity\"", "kind = \"node2vec\"\nweight = \"rating\"\nwalks_per_node = 2\nwalk_length = 5\ndim = 8");
    let (code, out) = run_on(d.path(), &body);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("user `alice` rated item `zed` with -1"), "{out}");
    // An empty result of the filters prints the filter as the config writes it.
    std::fs::write(d.path().join("data.csv"), "u,i,r,t\na,x,1,1\na,y,2,2\nb,x,3,3\nb,z,4,4\n").unwrap();
    let body = table_config(d.path()).replace("time_col = \"t\"\n", "time_col = \"t\"\nmin_rating = 9\n");
    let (code, out) = run_on(d.path(), &body);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("min_rating = 9") && !out.contains("FilterConfig"), "{out}");
}

#[test]
fn result_files_are_replaced_as_one_set() {
    // Defect 14: a failed write left a new results.md beside an old results.csv and a
    // 0-byte temporary file. Defect 12: a results.csv that is a folder named no path.
    let d = tempfile::tempdir().unwrap();
    let cfg = write_config(d.path(), "tiny.toml", &TINY.to_string());
    let (cache, res) = (d.path().join("cache"), d.path().join("res"));
    assert!(output(run_cmd(&cfg, &cache, &res, &[])).status.success());
    let dir = res.join("tiny");
    let before: Vec<Vec<u8>> = ["results.md", "results.json"].iter().map(|f| std::fs::read(dir.join(f)).unwrap()).collect();
    std::fs::remove_file(dir.join("results.csv")).unwrap();
    std::fs::create_dir(dir.join("results.csv")).unwrap();
    // A different table (k changes), so a replaced file would show.
    let o = output(run_cmd(&cfg, &cache, &res, &["--set", "metrics.k=[3]"]));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("results.csv") && text(&o).contains("is a folder"), "{}", text(&o));
    let after: Vec<Vec<u8>> = ["results.md", "results.json"].iter().map(|f| std::fs::read(dir.join(f)).unwrap()).collect();
    assert_eq!(before, after, "no file of the set was replaced");
    let left: Vec<String> =
        std::fs::read_dir(&dir).unwrap().filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().to_string()).filter(|n| n.contains("tmp")).collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
}

#[test]
fn a_stale_temporary_entry_is_removed_but_a_live_ones_is_not() {
    let d = tempfile::tempdir().unwrap();
    let cache = runner::pipeline::cache::Cache::new(d.path());
    let tmp = d.path().join(".tmp");
    std::fs::create_dir_all(tmp.join("train-dead-host-1-1")).unwrap();
    std::fs::write(tmp.join("train-dead-host-1-1.lock"), "pid 1").unwrap();
    std::fs::create_dir_all(tmp.join("train-orphan-host-1-2")).unwrap();
    std::fs::create_dir_all(tmp.join("train-live-host-1-3")).unwrap();
    let live = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(tmp.join("train-live-host-1-3.lock")).unwrap();
    live.lock().unwrap();
    assert_eq!(cache.remove_stale_tmp(), 2);
    let mut left: Vec<String> = std::fs::read_dir(&tmp).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().to_string()).collect();
    left.sort();
    assert_eq!(left, vec!["train-live-host-1-3", "train-live-host-1-3.lock"]);
    drop(live);
    // Other tests of this binary spawn processes: a fork shares the lock until its exec closes
    // the (close-on-exec) descriptor, so allow the lock a moment to go.
    let t = std::time::Instant::now();
    let mut removed = cache.remove_stale_tmp();
    while removed == 0 && t.elapsed() < std::time::Duration::from_secs(5) {
        std::thread::sleep(std::time::Duration::from_millis(20));
        removed = cache.remove_stale_tmp();
    }
    assert_eq!(removed, 1);
}
