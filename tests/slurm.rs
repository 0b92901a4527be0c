//! `runner run --executor slurm` against a real Slurm (the one-node cluster of
//! `scripts/local-slurm.sh`, which `.ci/run` starts): the same table as a local run; a job
//! killed with scancel reported, every one of its dependants cancelled, and only what is
//! missing resubmitted by the next run; the `[executor]` options and environment overrides
//! reaching the jobs. Where no Slurm answers these tests report a skip (a failure under
//! `CI=true`). A `runner stage` whose input is missing refuses to run: that one needs no Slurm.
//!
//! Other jobs may share the cluster, so the tests follow only their own jobs (the ids in
//! `results/<experiment>/slurm/jobs.json`), never jobs picked by name from the queue.
//! Nothing waits a fixed time: every wait polls for an event (a file written, a job state)
//! with a generous ceiling, since a loaded 2-core machine may be slow but not wrong.

mod common;

use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
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

/// One model, one seed: a chain of six stages (data, split, corpus, train, index, eval).
const SMALL: &str = r#"
[experiment]
name = "NAME"
seeds = [1]
cache_dir = "cache"

[dataset]
kind = "synthetic"
n_users = 200
n_items = 100
n_clusters = 4
mean_len = 8
seed = 5

[[model]]
kind = "item2vec"
dim = 8
epochs = 2
threads = 1

[metrics]
k = [10]
metrics = ["recall"]
"#;

/// How long any one awaited event may take, and how often it is looked for.
const CEILING: Duration = Duration::from_secs(120);
const POLL: Duration = Duration::from_millis(200);

/// Slurm's final job states (a job in any other state is still queued or running).
const FINAL: &[&str] = &["COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "DEADLINE"];

/// The Slurm tests take turns on the cluster: it has two CPUs, and a job asking for both
/// (`cpus_per_task = 2` below) would otherwise queue behind the other test's stream of jobs.
static CLUSTER: Mutex<()> = Mutex::new(());

/// Whether Slurm answers here; if not, `test` reports its skip.
fn slurm_here(test: &str) -> bool {
    let up = Command::new("sinfo").args(["-h", "-o", "%T"]).output().is_ok_and(|o| o.status.success() && !o.stdout.is_empty());
    if !up {
        common::skip(test, "no Slurm answers here (start one with `sudo scripts/local-slurm.sh start`)");
    }
    up
}

fn config(dir: &Path, name: &str, cache: &str) -> String {
    let file = format!("{name}.toml");
    std::fs::write(dir.join(&file), CFG.replace("NAME", name).replace("CACHE", cache).replace("RESULTS", "results")).unwrap();
    file
}

/// The runner in `dir`, without the caller's `RUNNER_<SECTION>__<KEY>` overrides.
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

/// Polls `probe` every [`POLL`] until it gives a value; fails naming `what` after [`CEILING`].
fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let t = Instant::now();
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(t.elapsed() < CEILING, "waited {CEILING:?} for {what}");
        std::thread::sleep(POLL);
    }
}

/// Polls `probe` every [`POLL`] until it says done or `ceiling` has passed; its last value.
fn settle<T>(ceiling: Duration, mut probe: impl FnMut() -> (bool, T)) -> T {
    let t = Instant::now();
    loop {
        let (done, v) = probe();
        if done || t.elapsed() >= ceiling {
            return v;
        }
        std::thread::sleep(POLL);
    }
}

/// Every job Slurm lists, finished ones included (they stay for the cluster's `MinJobAge`,
/// ten minutes): `id_task` -> (stage kind, state).
fn queue() -> HashMap<String, (String, String)> {
    let o = Command::new("squeue").args(["-h", "-r", "--states=all", "-o", "%i|%j|%T"]).output().unwrap();
    assert!(o.status.success(), "squeue: {}", text(&o));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| {
            let mut p = l.split('|');
            let (id, name, state) = (p.next()?, p.next()?, p.next()?);
            Some((id.trim().to_string(), (name.trim().trim_start_matches("runner-").to_string(), state.trim().to_string())))
        })
        .collect()
}

/// How Slurm lists job `id_task`: as itself, or, for the tasks of an array that never started
/// (all pending, or all cancelled while pending), as the array's one record `id`.
fn listed<'a>(q: &'a HashMap<String, (String, String)>, id: &str) -> Option<&'a (String, String)> {
    q.get(id).or_else(|| q.get(id.split('_').next().unwrap()))
}

/// The Slurm state of job `id_task`, `""` when not listed.
fn state(q: &HashMap<String, (String, String)>, id: &str) -> String {
    listed(q, id).map(|s| s.1.clone()).unwrap_or_default()
}

/// One stage a run submitted.
#[derive(Debug)]
struct Job {
    kind: String,
    key: String,
    /// `arrayid_task`.
    id: String,
}

impl Job {
    fn array(&self) -> &str {
        self.id.split('_').next().unwrap()
    }
}

/// The stages experiment `name` submitted, from its `results/<name>/slurm/jobs.json` (written
/// once every array is submitted); `None` until that file exists.
fn submitted(dir: &Path, name: &str) -> Option<Vec<Job>> {
    let t = std::fs::read_to_string(dir.join(format!("results/{name}/slurm/jobs.json"))).ok()?;
    let jobs: BTreeMap<String, String> = serde_json::from_str(&t).unwrap();
    let q = queue();
    Some(
        jobs.into_iter()
            .map(|(key, id)| {
                let kind = listed(&q, &id).unwrap_or_else(|| panic!("job {id} of stage {key} is not in squeue")).0.clone();
                Job { kind, key, id }
            })
            .collect(),
    )
}

/// The array ids of `jobs`, each once.
fn arrays(jobs: &[&Job]) -> Vec<String> {
    let mut a: Vec<String> = jobs.iter().map(|j| j.array().to_string()).collect();
    a.sort();
    a.dedup();
    a
}

/// The Slurm state of each job, once every one of them has reached a final state.
fn final_states(jobs: &[&Job]) -> Vec<String> {
    wait_for("the jobs to reach a final state", || {
        let q = queue();
        let states: Vec<String> = jobs.iter().map(|j| state(&q, &j.id)).collect();
        states.iter().all(|s| FINAL.contains(&s.as_str())).then_some(states)
    })
}

/// `scancel`s the arrays when dropped, so a failing test leaves no job behind (held ones
/// included, which would wait forever).
struct CancelOnDrop(Vec<String>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            let _ = Command::new("scancel").args(&self.0).output();
        }
    }
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

/// The keys of the cache entries of one stage kind (`<cache>/<kind>/<key>/`).
fn entries(cache: &Path, kind: &str) -> Vec<String> {
    let mut keys: Vec<String> = std::fs::read_dir(cache.join(kind))
        .map(|d| d.map(|e| e.unwrap().file_name().to_string_lossy().to_string()).filter(|k| !k.starts_with('.')).collect())
        .unwrap_or_default();
    keys.sort();
    keys
}

#[test]
fn a_sweep_on_slurm_gives_the_local_table_and_a_cancelled_job_is_rerun() {
    if !slurm_here("a_sweep_on_slurm_gives_the_local_table_and_a_cancelled_job_is_rerun") {
        return;
    }
    let _turn = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
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

    killed_train_cancels_every_dependant(dir, &want);

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

    interrupt_cancels_the_jobs(dir);
}

/// The train array is cancelled with scancel while it waits for its inputs: the run reports
/// it, every stage downstream of it (all index and eval stages) is cancelled by the runner, and
/// the next run submits only what is missing.
///
/// The index and eval arrays are held (`scontrol hold`) before the train array is cancelled.
/// Arrays wait with `afterany`, so a dependant left alone would start, refuse (its input is not
/// in the cache) and end FAILED; held, it can only end CANCELLED if the runner cancels it, and
/// stays PENDING if not. So the final states below show the runner's scancel and nothing else.
fn killed_train_cancels_every_dependant(dir: &Path, want: &[(String, Value)]) {
    let cfg = config(dir, "killed", "cache-killed");
    let child = runner(dir, &["run", &cfg, "--executor", "slurm"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let jobs = wait_for("the killed run to submit its jobs (results/killed/slurm/jobs.json)", || submitted(dir, "killed"));
    let of = |kind: &str| -> Vec<&Job> { jobs.iter().filter(|j| j.kind == kind).collect() };
    let (train, dependants): (Vec<&Job>, Vec<&Job>) = (of("train"), jobs.iter().filter(|j| j.kind == "index" || j.kind == "eval").collect());
    assert_eq!((train.len(), dependants.len()), (5, 10), "{jobs:?}");
    let held = arrays(&dependants);
    let _cleanup = CancelOnDrop(held.clone());
    let o = Command::new("scontrol").arg("hold").args(&held).output().unwrap();
    assert!(o.status.success(), "scontrol hold: {}", text(&o));
    let train_job = train[0].array().to_string();
    let q = queue();
    assert!(
        train.iter().all(|j| !FINAL.contains(&state(&q, &j.id).as_str())),
        "the train array ended before it could be cancelled: {:?}",
        train.iter().map(|j| state(&q, &j.id)).collect::<Vec<_>>()
    );
    assert!(Command::new("scancel").arg(&train_job).status().unwrap().success());

    let o = child.wait_with_output().unwrap();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("CANCELLED") && out.contains(&format!("Slurm job {train_job}_")), "the cancelled job is reported: {out}");
    // The runner's own account: data, split and the two corpus stages ran; the five train
    // stages failed; their ten dependants were cancelled.
    assert!(out.contains("19 stages: 4 ran as Slurm jobs, 0 cached, 5 failed, 10 cancelled"), "{out}");
    let csv = std::fs::read_to_string(dir.join("results/killed/results.csv")).unwrap();
    assert_eq!(csv.matches("FAILED").count(), 6, "every row lost its train stage: {csv}");
    // Slurm's account: every dependant ended CANCELLED, and none left a cache entry. The
    // runner has exited, so it has cancelled what it was going to (Slurm may take a moment to
    // show it); a dependant it forgot stays PENDING, held, for good.
    let states = settle(Duration::from_secs(20), || {
        let q = queue();
        let states: Vec<(String, String, String)> = dependants.iter().map(|j| (j.kind.clone(), j.id.clone(), state(&q, &j.id))).collect();
        (states.iter().all(|(_, _, s)| s == "CANCELLED"), states)
    });
    let not_cancelled: Vec<_> = states.iter().filter(|(_, _, s)| s != "CANCELLED").collect();
    assert!(not_cancelled.is_empty(), "dependants of the cancelled train array not cancelled: {not_cancelled:?}");
    let cache = dir.join("cache-killed");
    for j in train.iter().chain(&dependants) {
        assert!(!cache.join(&j.kind).join(&j.key).exists(), "{} stage {} (job {}) has a cache entry", j.kind, j.key, j.id);
    }

    // The next run submits only what is missing: train, index and eval.
    let o = runner(dir, &["run", &cfg, "--executor", "slurm"]).output().unwrap();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("submitted 3 job arrays (15 stages)") && out.contains("4 stages cached"), "{out}");
    assert_eq!(metrics(dir, "killed"), want);
}

/// Ctrl-C on the waiting runner with --cancel-on-exit cancels its jobs; exit 130. The jobs of
/// this run end CANCELLED (or COMPLETED, those done before the interrupt); none of the eval
/// stages, last in line, can have run, so every one of them must be CANCELLED.
fn interrupt_cancels_the_jobs(dir: &Path) {
    let cfg = config(dir, "interrupted", "cache-interrupted");
    let child = runner(dir, &["run", &cfg, "--executor", "slurm", "--cancel-on-exit", "-q"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let jobs = wait_for("the interrupted run to submit its jobs (results/interrupted/slurm/jobs.json)", || submitted(dir, "interrupted"));
    let _cleanup = CancelOnDrop(arrays(&jobs.iter().collect::<Vec<_>>()));
    assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", text(&o));
    assert!(text(&o).contains("jobs; finished stages stay in the cache"), "{}", text(&o));
    let all: Vec<&Job> = jobs.iter().collect();
    let states = final_states(&all);
    let wrong: Vec<_> =
        all.iter().zip(&states).filter(|(j, s)| *s != "CANCELLED" && !(*s == "COMPLETED" && j.kind != "eval")).map(|(j, s)| (&j.kind, &j.id, s)).collect();
    assert!(wrong.is_empty(), "jobs not cancelled by --cancel-on-exit: {wrong:?}");
    assert!(entries(&dir.join("cache-interrupted"), "eval").is_empty());
}

/// The `[executor]` options reach sbatch (seen on the jobs themselves with `scontrol show
/// job`), and an environment override reaches the jobs through Slurm's default
/// `--export=ALL`: the train job computes the overridden `dim`. Had the jobs not seen it, they
/// would plan without it, find no stage with the submitted key and fail.
#[test]
fn executor_options_and_environment_overrides_reach_the_jobs() {
    if !slurm_here("executor_options_and_environment_overrides_reach_the_jobs") {
        return;
    }
    let _turn = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let o = Command::new("sinfo").args(["-h", "-o", "%P"]).output().unwrap();
    let partition = String::from_utf8_lossy(&o.stdout).lines().next().unwrap().trim().trim_end_matches('*').to_string();
    // cpus_per_task = 2 (not the default 1) and a memory request, so both are visible when set.
    let executor = format!(
        "[executor]\npartition = \"{partition}\"\naccount = \"runner-test-acct\"\ncpus_per_task = 2\nmem = \"300M\"\ntime = \"10\"\nsbatch_args = [\"--comment=runner-slurm-test\"]\n"
    );
    std::fs::write(dir.join("opts.toml"), SMALL.replace("NAME", "opts") + &executor).unwrap();

    // This cluster's one partition is also its default, so a dropped --partition would go
    // unseen below; a partition that does not exist shows that it is passed: sbatch refuses it.
    std::fs::write(dir.join("nopart.toml"), SMALL.replace("NAME", "nopart") + "[executor]\npartition = \"runner-no-such-partition\"\n").unwrap();
    let o = runner(dir, &["run", "nopart.toml", "--executor", "slurm"]).output().unwrap();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("--partition=runner-no-such-partition") && out.to_lowercase().contains("invalid partition"), "{out}");
    assert!(entries(&dir.join("cache"), "data").is_empty(), "nothing ran: {out}");

    let o = runner(dir, &["run", "opts.toml", "--executor", "slurm"]).env("RUNNER_MODEL__0__DIM", "12").output().unwrap();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("submitted 6 job arrays (6 stages)"), "{out}");

    let jobs = submitted(dir, "opts").expect("results/opts/slurm/jobs.json");
    assert_eq!(jobs.len(), 6, "{jobs:?}");
    // Every option on every job; all that are missing are listed at once.
    let mut missing = Vec::new();
    for j in &jobs {
        let o = Command::new("scontrol").args(["-o", "show", "job", &j.id]).output().unwrap();
        let show = String::from_utf8_lossy(&o.stdout).to_string();
        assert!(o.status.success() && !show.is_empty(), "scontrol show job {}: {}", j.id, text(&o));
        let fields: Vec<&str> = show.split_whitespace().collect();
        for want in [
            format!("Partition={partition}"),
            "Account=runner-test-acct".to_string(),
            "CPUs/Task=2".to_string(),
            "MinMemoryNode=300M".to_string(),
            "Comment=runner-slurm-test".to_string(),
        ] {
            if !fields.contains(&want.as_str()) {
                missing.push(format!("{} job {}: {want}", j.kind, j.id));
            }
        }
    }
    assert!(missing.is_empty(), "[executor] options missing from the jobs (scontrol show job):\n{}", missing.join("\n"));

    // The train job trained 12-dimensional vectors, as the override said; a local run without
    // the override trains the config's 8 dimensions, under another key.
    let cache = dir.join("cache");
    let dim_of = |key: &str| -> Value {
        let m: Value = serde_json::from_str(&std::fs::read_to_string(cache.join("train").join(key).join("manifest.json")).unwrap()).unwrap();
        m["config"]["params"]["dim"].clone()
    };
    let train = jobs.iter().find(|j| j.kind == "train").unwrap();
    assert_eq!(dim_of(&train.key), Value::from(12), "the train job did not see RUNNER_MODEL__0__DIM");
    let o = runner(dir, &["run", "opts.toml", "-q"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let dims: Vec<Value> = entries(&cache, "train").iter().map(|k| dim_of(k)).collect();
    assert_eq!(dims.len(), 2, "the run without the override trained under its own key: {dims:?}");
    assert!(dims.contains(&Value::from(8)) && dims.contains(&Value::from(12)), "{dims:?}");
}

/// A cluster job runs `runner stage --key K -- <configs>` (the job scripts under
/// `results/<experiment>/slurm/`); when an input of K is not in the cache it must refuse,
/// naming that input, rather than fail obscurely or compute the input itself (a detached run
/// has nobody watching). Needs no Slurm.
#[test]
fn a_stage_whose_input_is_missing_refuses_to_run() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    std::fs::write(dir.join("refuse.toml"), SMALL.replace("NAME", "refuse")).unwrap();
    let o = runner(dir, &["run", "refuse.toml", "-q"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let cache = dir.join("cache");
    let (corpus, train) = (entries(&cache, "corpus"), entries(&cache, "train"));
    assert_eq!((corpus.len(), train.len()), (1, 1));
    // The train stage's input is gone (its job failed, say), and so is the train entry.
    std::fs::remove_dir_all(cache.join("corpus").join(&corpus[0])).unwrap();
    std::fs::remove_dir_all(cache.join("train").join(&train[0])).unwrap();

    let o = runner(dir, &["stage", "--key", &train[0], "--", "refuse.toml"]).output().unwrap();
    // Checked first, so that a stage which computed its input and then succeeded fails here.
    let out = text(&o);
    assert!(entries(&cache, "corpus").is_empty(), "the stage computed its missing input itself: {out}");
    assert!(entries(&cache, "train").is_empty(), "the stage ran without its input: {out}");
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("input corpus stage `corpus for item2vec [")
            && out.contains(&format!("({}) is not in the cache", &corpus[0][..10]))
            && out.contains("so this stage does not run"),
        "the refusal names the missing input: {out}"
    );
}

/// A search with ASHA on Slurm: each batch and rung is a submission this runner waits for,
/// each job's `runner stage` finds its trial by replaying the search from the cache, and the
/// trials, choice and table equal a local run's.
const SEARCH: &str = r#"
[experiment]
name = "NAME"
seeds = [1]
cache_dir = "CACHE"

[dataset]
kind = "synthetic"
n_users = 200
n_items = 100
n_clusters = 4
mean_len = 8
seed = 5

[split]
kind = "leave_last_out"
validation = true

[[model]]
kind = "item2vec"
dim = 8
epochs = 3
threads = 1
search = { space = { window = { int = [1, 4] }, lr = { log_uniform = [0.005, 0.1] } }, pruner = { kind = "asha", min_epochs = 1, eta = 2 } }

[search]
kind = "tpe"
trials = 4
n_startup_trials = 2
batch = 2
objective = "NDCG@10"
seed = 3

[metrics]
k = [10]
metrics = ["recall", "ndcg"]
"#;

#[test]
fn a_search_runs_its_batches_as_slurm_jobs_and_matches_a_local_search() {
    if !slurm_here("a_search_runs_its_batches_as_slurm_jobs_and_matches_a_local_search") {
        return;
    }
    let _turn = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    std::fs::write(dir.join("sl.toml"), SEARCH.replace("NAME", "sl").replace("CACHE", "cache-slurm")).unwrap();
    std::fs::write(dir.join("lo.toml"), SEARCH.replace("NAME", "lo").replace("CACHE", "cache-local")).unwrap();
    let o = runner(dir, &["run", "sl.toml", "--executor", "slurm", "-q"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let jobs = submitted(dir, "sl").expect("the search submitted jobs");
    assert!(jobs.iter().any(|j| j.kind == "train"), "trials trained as jobs");
    let o = runner(dir, &["run", "lo.toml", "-q"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let trials = |name: &str| -> Vec<String> {
        let csv = std::fs::read_to_string(dir.join(format!("results/{name}/trials.csv"))).unwrap();
        let mut lines = csv.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        let timing = header.iter().position(|h| *h == "train_s").unwrap();
        lines.map(|l| l.split(',').enumerate().filter(|(i, _)| *i != timing).map(|(_, c)| c).collect::<Vec<_>>().join(",")).collect()
    };
    let (slurm_trials, local_trials) = (trials("sl"), trials("lo"));
    assert_eq!(slurm_trials.len(), 4);
    assert_eq!(slurm_trials, local_trials, "the same trials, scores, rungs and choice");
    let table = metrics(dir, "sl");
    assert_eq!(table.len(), 1, "one tuned row: {table:?}");
    assert!(table[0].0.contains("tuned"), "{table:?}");
    assert_eq!(table, metrics(dir, "lo"), "the same tuned table");
}
