//! MLflow tracking against a real `mlflow server` (SQLite store, artifact proxy), read back
//! through MLflow's own Python client: every table metric and per-epoch loss equal to the
//! results folder's, parents and children, params; a rerun logs nothing; a stopped server is a
//! warning and exit 0; `runner track` logs what was missed. `.ci/run` installs MLflow into a
//! virtualenv (RUNNER_MLFLOW_PYTHON); elsewhere the test skips without one.

mod common;
use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TEST: &str = "mlflow";

/// The data both experiments run on.
const DATA: &str = r#"
[dataset]
kind = "synthetic"
n_users = 200
n_items = 100
n_clusters = 4
mean_len = 10
seed = 2
"#;

fn cfg(seeds: &str) -> String {
    format!(
        r#"
[experiment]
name = "tracked"
seeds = {seeds}
{DATA}
[[model]]
kind = "item2vec"
dim = 8
epochs = 3
threads = 1
sweep = {{ window = [2, 4] }}

[metrics]
k = [5, 10]
"#
    )
}

struct Server(Child);

impl Drop for Server {
    /// The whole process group: `mlflow server` serves from worker processes of its own.
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-s", "KILL", "--", &format!("-{}", self.0.id())]).status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start(python: &str, dir: &Path, port: u16) -> Server {
    use std::os::unix::process::CommandExt;
    let child = Command::new(python)
        .process_group(0)
        .args(["-m", "mlflow", "server", "--host", "127.0.0.1", "--port", &port.to_string(), "--workers", "1"])
        .arg("--backend-store-uri")
        .arg(format!("sqlite:///{}", dir.join("mlflow.db").display()))
        .arg("--artifacts-destination")
        .arg(dir.join("artifacts"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server(child);
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(180) {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            let ok = ureq::get(&format!("http://127.0.0.1:{port}/health")).call().is_ok_and(|r| r.status() == 200);
            if ok {
                return server;
            }
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    panic!("mlflow server did not come up on port {port}");
}

/// A search pruned by ASHA (rungs at 1 epoch and the end, 2): three trials, then the tuned run.
const TUNED: &str = r#"
[experiment]
name = "tuned"
seeds = [1]

[split]
kind = "leave_last_out"
validation = true

[[model]]
kind = "item2vec"
dim = 8
epochs = 2
threads = 1

[model.search]
space = { window = { int = [1, 4] } }

[search]
kind = "random"
trials = 3
objective = "NDCG@10"
seed = 1
pruner = { kind = "asha", min_epochs = 1, eta = 2 }

[metrics]
k = [10]
"#;

/// Every run of experiment `tracked`, read by MLflow's client.
fn read_back(python: &str, url: &str) -> Vec<Value> {
    read_experiment(python, url, "tracked")
}

fn read_experiment(python: &str, url: &str, name: &str) -> Vec<Value> {
    let script = r#"
import json, sys
import mlflow
from mlflow.tracking import MlflowClient
mlflow.set_tracking_uri(sys.argv[1])
c = MlflowClient()
e = c.get_experiment_by_name(sys.argv[2])
out = []
for r in c.search_runs([e.experiment_id], max_results=1000):
    out.append({
        "id": r.info.run_id, "name": r.info.run_name, "status": r.info.status, "tags": r.data.tags, "params": r.data.params,
        "metrics": r.data.metrics,
        "loss": [[m.step, m.value] for m in sorted(c.get_metric_history(r.info.run_id, "loss"), key=lambda m: m.step)],
        "objective": [[m.step, m.value] for m in sorted(c.get_metric_history(r.info.run_id, "valid NDCG_at_10"), key=lambda m: m.step)],
        "artifacts": [f.path for f in c.list_artifacts(r.info.run_id)],
    })
print(json.dumps(out))
"#;
    let o = Command::new(python).args(["-c", script, url, name]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice::<Vec<Value>>(&o.stdout).unwrap()
}

fn children(runs: &[Value]) -> Vec<&Value> {
    runs.iter().filter(|r| r["tags"]["mlflow.parentRunId"].is_string()).collect()
}

#[cfg(unix)]
#[test]
fn runs_are_logged_once_and_read_back_equal_to_the_tables() {
    let python = std::env::var("RUNNER_MLFLOW_PYTHON").unwrap_or_else(|_| "python3".into());
    if !Command::new(&python).args(["-c", "import mlflow"]).output().is_ok_and(|o| o.status.success()) {
        return skip(TEST, &format!("`{python} -c 'import mlflow'` failed; set RUNNER_MLFLOW_PYTHON to a Python with MLflow"));
    }
    let d = tempfile::tempdir().unwrap();
    let store = d.path().join("store");
    std::fs::create_dir_all(&store).unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let server = start(&python, &store, port);
    write_config(d.path(), "tracked.toml", &cfg("[1, 2]"));
    let (code, _, err) = runner(d.path(), &["run", "tracked.toml", "--track", &url]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("4 runs logged, 0 logged before"), "{err}");

    let runs = read_back(&python, &url);
    let kids = children(&runs);
    let parents: Vec<&Value> = runs.iter().filter(|r| !r["tags"]["mlflow.parentRunId"].is_string()).collect();
    assert_eq!((parents.len(), kids.len()), (2, 4), "two points, two seeds each");
    let table: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(d.path().join("results/tracked/results.json")).unwrap()).unwrap();
    assert_eq!(table.len(), 4);
    for row in &table {
        let key = row["eval_key"].as_str().unwrap();
        let kid = kids.iter().find(|k| k["tags"]["runner.eval_key"] == key).unwrap_or_else(|| panic!("no run for {key}"));
        assert_eq!(kid["status"], "FINISHED");
        let parent = parents.iter().find(|p| p["id"] == kid["tags"]["mlflow.parentRunId"]).expect("its parent is logged");
        for (name, value) in row["metrics"].as_object().unwrap() {
            let logged = kid["metrics"][runner::tracking::metric_key(name)].as_f64();
            assert_eq!(logged, value.as_f64(), "{name} of {key}");
        }
        let epochs: Vec<Value> = row["epochs"].as_array().unwrap().iter().map(|e| serde_json::json!([e["epoch"], e["loss"]])).collect();
        assert_eq!(epochs.len(), 3);
        assert_eq!(kid["loss"].as_array().unwrap(), &epochs, "the loss history of {key}");
        assert_eq!(kid["params"]["seed"], row["seed"].to_string());
        let window = kid["params"]["model.window"].as_str().expect("the swept key is a param");
        assert!(window == "2" || window == "4", "{window}");
        assert_eq!(parent["params"]["model.window"].as_str(), Some(window), "a parent holds its point's params");
        assert!(kid["params"].as_object().unwrap().len() > 5, "the whole canonical config: {}", kid["params"]);
        assert!(kid["tags"]["runner.train_key"].is_string() && kid["tags"]["runner.data_key"].is_string());
    }
    for p in &parents {
        let files = p["artifacts"].as_array().unwrap();
        assert!(files.iter().any(|f| f == "results.csv") && files.iter().any(|f| f == "results.md"), "{p}");
        assert_eq!(kids.iter().filter(|k| k["tags"]["mlflow.parentRunId"] == p["id"]).count(), 2, "one child per seed");
    }

    // Everything cached: nothing new is logged.
    let (code, _, err) = runner(d.path(), &["run", "tracked.toml", "--track", &url]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("0 runs logged, 4 logged before"), "{err}");
    assert_eq!(read_back(&python, &url).len(), 6);

    // A child left FAILED (its stage failed then, and ran again since) is replaced, not kept.
    let before = read_back(&python, &url);
    let first = &children(&before)[0]["id"];
    let mark = format!(
        "from mlflow.tracking import MlflowClient; import mlflow; mlflow.set_tracking_uri('{url}'); MlflowClient().set_terminated('{}', 'FAILED')",
        first.as_str().unwrap()
    );
    assert!(Command::new(&python).args(["-c", &mark]).status().unwrap().success());
    let (code, _, err) = runner(d.path(), &["track", "results/tracked", "--track", &url]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("1 runs logged, 3 logged before"), "{err}");
    let runs = read_back(&python, &url);
    assert_eq!(runs.len(), 6, "the failed child was deleted");
    assert!(children(&runs).iter().all(|k| k["status"] == "FINISHED"));

    // A search's trials are children of the tuned model's parent, beside its seed's run.
    write_config(d.path(), "tuned.toml", &format!("{TUNED}{DATA}"));
    let (code, _, err) = runner(d.path(), &["run", "tuned.toml", "--track", &url]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("1 runs logged, 0 logged before, 3 search trials"), "{err}");
    let runs = read_experiment(&python, &url, "tuned");
    let trials: Vec<&Value> = runs.iter().filter(|r| r["tags"]["runner.trial"].is_string()).collect();
    let seed_run = runs.iter().find(|r| r["tags"]["runner.eval_key"].is_string()).expect("the tuned run");
    assert_eq!((runs.len(), trials.len()), (5, 3), "a parent, the tuned seed and three trials");
    for t in &trials {
        assert_eq!(t["tags"]["mlflow.parentRunId"], seed_run["tags"]["mlflow.parentRunId"]);
        assert!(t["params"]["trial"].is_string() && t["params"].as_object().unwrap().len() >= 2, "{t}");
        assert!(t["metrics"]["valid NDCG_at_10"].is_f64(), "{t}");
    }
    // Each trial's objective history is its trials.csv `rungs` (step = epochs), and its value
    // the objective: the score at the trial's last rung.
    let csv = std::fs::read_to_string(d.path().join("results/tuned/trials.csv")).unwrap();
    let mut lines = csv.lines().map(|l| l.split(',').collect::<Vec<_>>());
    let header = lines.next().unwrap();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    for row in lines {
        let t = trials.iter().find(|t| t["params"]["trial"] == row[col("trial")]).expect("each trial is logged");
        let rungs: Vec<Value> = row[col("rungs")]
            .split(' ')
            .map(|p| p.split_once(':').map(|(e, v)| serde_json::json!([e.parse::<u64>().unwrap(), v.parse::<f64>().unwrap()])).unwrap())
            .collect();
        assert_eq!(t["objective"].as_array().unwrap(), &rungs, "{row:?}");
        assert_eq!(t["metrics"]["valid NDCG_at_10"].as_f64(), Some(row[col("valid NDCG@10")].parse().unwrap()), "{row:?}");
    }
    assert_eq!(trials.iter().filter(|t| t["tags"]["runner.trial_status"] == "chosen").count(), 1);
    let (code, _, err) = runner(d.path(), &["run", "tuned.toml", "--track", &url]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("0 runs logged, 1 logged before, 0 search trials"), "{err}");

    // A damaged trials.csv is the folder's fault: named at its line, nothing sent, no "once
    // the server answers".
    let good = std::fs::read_to_string(d.path().join("results/tuned/trials.csv")).unwrap();
    let bad = good.replacen(" 2:", " x2:", 1);
    assert_ne!(bad, good, "a trial reached two rungs");
    std::fs::write(d.path().join("results/tuned/trials.csv"), &bad).unwrap();
    let before = read_experiment(&python, &url, "tuned").len();
    let (code, _, err) = runner(d.path(), &["track", "results/tuned", "--track", &url]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("trials.csv:") && err.contains("column `rungs` holds") && !err.contains("once the server answers"), "{err}");
    assert_eq!(read_experiment(&python, &url, "tuned").len(), before);
    std::fs::write(d.path().join("results/tuned/trials.csv"), &good).unwrap();

    // The server goes away: a third seed runs, warns, and exits 0, quickly.
    drop(server);
    write_config(d.path(), "tracked.toml", &cfg("[1, 2, 3]"));
    let t = Instant::now();
    let (code, _, err) = runner(d.path(), &["run", "tracked.toml", "--track", &url]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("warning: `tracked` was not logged to MLflow") && err.contains("runner track"), "{err}");
    assert!(t.elapsed() < Duration::from_secs(60), "a down server held the run up for {:?}", t.elapsed());

    // Back up: `runner track` logs the two runs it missed, and only those.
    let _server = start(&python, &store, port);
    let (code, _, err) = runner(d.path(), &["track", "results/tracked", "--track", &url]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("2 runs logged, 4 logged before"), "{err}");
    let runs = read_back(&python, &url);
    assert_eq!((runs.len(), children(&runs).len()), (8, 6));
}
