//! `runner run --executor slurm` against a real Slurm (the one-node cluster of
//! `scripts/local-slurm.sh`, which `.ci/run` starts): the same table as a local run, and a job
//! killed with scancel reported, its dependants cancelled, and only what is missing
//! resubmitted by the next run. Skipped with a printed reason where no Slurm answers.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const CFG: &str = r#"
[experiment]
name = "NAME"
seeds = [1, 2]
cache_dir = "CACHE"
results_dir = "RESULTS"

[dataset]
kind = "synthetic"
n_users = 300
n_items = 150
n_clusters = 5
mean_len = 10
seed = 3

[[model]]
kind = "item2vec"
dim = 8
epochs = 3
threads = 1
sweep = { window = [2, 4] }

[[model]]
kind = "popularity"

[metrics]
k = [10]
metrics = ["recall", "ndcg", "coverage"]

[executor]
max_jobs = 4
time = { default = "10", train = "20" }
"#;

fn slurm_here() -> bool {
    let up = Command::new("sinfo").args(["-h", "-o", "%T"]).output().is_ok_and(|o| o.status.success() && !o.stdout.is_empty());
    if !up {
        assert!(std::env::var_os("CI").is_none(), "CI starts a local Slurm (.ci/run, scripts/local-slurm.sh): it must answer");
        println!("skipped: no Slurm answers here (start one with `sudo scripts/local-slurm.sh start`)");
    }
    up
}

fn config(dir: &Path, name: &str, cache: &str) -> String {
    let file = format!("{name}.toml");
    std::fs::write(dir.join(&file), CFG.replace("NAME", name).replace("CACHE", cache).replace("RESULTS", "results")).unwrap();
    file
}

fn runner(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_runner"));
    c.args(args).current_dir(dir).env("RUNNER_SLURM_POLL", "0.3");
    for (k, _) in std::env::vars() {
        if k.starts_with("RUNNER_") && k.contains("__") {
            c.env_remove(k);
        }
    }
    c
}

fn text(o: &Output) -> String {
    format!("{}\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// (model, point, seed) -> metric columns, without the timing ones.
fn metrics(dir: &Path, name: &str) -> Vec<(String, Value)> {
    let json: Value = serde_json::from_str(&std::fs::read_to_string(dir.join(format!("results/{name}/results.json"))).unwrap()).unwrap();
    let mut rows: Vec<(String, Value)> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let mut m = r["metrics"].clone();
            for timing in ["train_s", "qps", "p50_us", "p95_us", "p99_us", "max_us", "qps_all", "index_s", "build_s"] {
                m.as_object_mut().map(|o| o.remove(timing));
            }
            (format!("{} {} {}", r["model"], r["point"], r["seed"]), m)
        })
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    rows
}

#[test]
fn a_sweep_on_slurm_gives_the_local_table_and_a_cancelled_job_is_rerun() {
    if !slurm_here() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let local = config(dir, "local", "cache-local");
    let o = runner(dir, &["run", &local, "-q"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    // The same config through Slurm, on its own cache.
    let cfg = config(dir, "onslurm", "cache-slurm");
    let o = runner(dir, &["run", &cfg, "--executor", "slurm"]).output().unwrap();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("submitted 6 job arrays (19 stages)"), "one array per stage kind: {out}");
    let want = metrics(dir, "local");
    assert_eq!(want.len(), 6);
    assert!(want.iter().all(|(_, m)| m["Recall@10"].is_number() && m["NDCG@10"].is_number()));
    assert_eq!(metrics(dir, "onslurm"), want, "Slurm and local runs differ");
    let logs =
        std::fs::read_dir(dir.join("results/onslurm/slurm")).unwrap().filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".log")).count();
    assert_eq!(logs, 19, "one log per stage under results/<experiment>/slurm/");
    // Everything cached now: nothing is submitted.
    let o = runner(dir, &["run", &cfg, "--executor", "slurm"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(text(&o).contains("submitted 0 job arrays (0 stages)"), "{}", text(&o));

    // A fresh cache; the train array is cancelled while it waits for its inputs.
    let cfg = config(dir, "killed", "cache-killed");
    let child =
        runner(dir, &["run", &cfg, "--executor", "slurm", "-q"]).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let t = Instant::now();
    let train_job = loop {
        let q = Command::new("squeue").args(["-h", "--states=PENDING,RUNNING", "-n", "runner-train", "-o", "%A"]).output().unwrap();
        let ids = String::from_utf8_lossy(&q.stdout).trim().to_string();
        if let Some(id) = ids.lines().next() {
            break id.to_string();
        }
        assert!(t.elapsed() < Duration::from_secs(60), "the train array never showed up in squeue");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(Command::new("scancel").arg(&train_job).status().unwrap().success());
    let o = child.wait_with_output().unwrap();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("CANCELLED") && out.contains(&format!("Slurm job {train_job}_")), "the cancelled job is reported: {out}");
    let csv = std::fs::read_to_string(dir.join("results/killed/results.csv")).unwrap();
    assert_eq!(csv.matches("FAILED").count(), 6, "every row lost its train stage: {csv}");
    // Dependants were cancelled, not left pending.
    let q = Command::new("squeue").args(["-h", "--states=PENDING", "-n", "runner-index,runner-eval", "-o", "%i"]).output().unwrap();
    assert!(String::from_utf8_lossy(&q.stdout).trim().is_empty(), "jobs left pending: {}", String::from_utf8_lossy(&q.stdout));

    // The next run submits only what is missing: train, index and eval.
    let o = runner(dir, &["run", &cfg, "--executor", "slurm"]).output().unwrap();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("submitted 3 job arrays (15 stages)") && out.contains("4 stages cached"), "{out}");
    assert_eq!(metrics(dir, "killed"), want);

    // --detach returns at once; a run started meanwhile waits for the queued jobs instead of
    // submitting them again, and `runner report` assembles the tables from the cache.
    let cfg = config(dir, "detached", "cache-detached");
    let o = runner(dir, &["run", &cfg, "--executor", "slurm", "--detach"]).output().unwrap();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("submitted 6 job arrays (19 stages)") && out.contains("runner report results/detached"), "{out}");
    let o = runner(dir, &["run", &cfg, "--executor", "slurm"]).output().unwrap();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("submitted 0 job arrays (0 stages); waiting for") && out.contains("still queued from an earlier submission"), "{out}");
    std::fs::remove_file(dir.join("results/detached/results.json")).unwrap();
    let o = runner(dir, &["report", "results/detached"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(metrics(dir, "detached"), want);

    // Ctrl-C on the waiting runner with --cancel-on-exit cancels its jobs; exit 130.
    let cfg = config(dir, "interrupted", "cache-interrupted");
    let child = runner(dir, &["run", &cfg, "--executor", "slurm", "--cancel-on-exit", "-q"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while !Command::new("squeue").args(["-h", "--states=PENDING,RUNNING", "-n", "runner-eval", "-o", "%A"]).output().is_ok_and(|o| !o.stdout.is_empty()) {
        assert!(t.elapsed() < Duration::from_secs(60), "the eval array never showed up in squeue");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", text(&o));
    assert!(text(&o).contains("cancelled") && text(&o).contains("jobs"), "{}", text(&o));
    std::thread::sleep(Duration::from_secs(1));
    let q = Command::new("squeue").args(["-h", "--states=PENDING,RUNNING", "-o", "%j %i"]).output().unwrap();
    let left = String::from_utf8_lossy(&q.stdout).to_string();
    assert!(!left.contains("runner-"), "jobs left after --cancel-on-exit: {left}");
}
