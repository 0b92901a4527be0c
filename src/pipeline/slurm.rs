//! The Slurm executor: the same plan and cache as a local run, with every uncached stage run
//! as a cluster job (`runner stage --key K`, a hidden sub-command that plans the same configs
//! and runs that one stage).
//!
//! Stages become job arrays: uncached stages of one kind and one experiment whose upstream
//! stages sit in the same jobs go out as one array, so a sweep of hundreds of points is a
//! handful of submissions (data, split, corpus, train, index, eval). An array depends on the
//! arrays its stages read with `afterany`, never `afterok`: one failed task must not hold back
//! its independent siblings, and nothing is left pending forever. Instead the waiting runner
//! cancels (`scancel`) exactly the tasks downstream of a failed one, and `runner stage`
//! refuses to run when an input is not in the cache (a detached run has nobody watching).
//!
//! The runner learns a job's fate from `squeue --states=all` (finished jobs stay listed for
//! `MinJobAge`, with their final state), and from the cache once a job has left the queue. No
//! accounting database is needed.

use super::stages::Executor;
use super::{dag::Summary, Plan, StageKind};
use crate::config::ExecutorSection;
use anyhow::{anyhow, bail, Context, Result};
use petgraph::graph::NodeIndex;
use petgraph::Direction;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How the submitting runner behaves.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The config files, as given (the jobs run from `cwd`).
    pub configs: Vec<PathBuf>,
    /// `--set` overrides (environment overrides reach the jobs through Slurm's `--export=ALL`).
    pub sets: Vec<String>,
    pub force: bool,
    /// Submit and return at once.
    pub detach: bool,
    /// Cancel the jobs when the waiting runner is interrupted.
    pub cancel_on_exit: bool,
    pub quiet: bool,
    /// The runner binary the jobs run (default: this executable).
    pub runner: PathBuf,
    /// The folder the jobs start in (default: the current one).
    pub cwd: PathBuf,
    /// Seconds between polls of `squeue`.
    pub poll: f64,
}

/// One job array: the stages of one kind of one experiment.
#[derive(Clone, Debug, PartialEq)]
pub struct JobSpec {
    pub kind: StageKind,
    pub experiment: usize,
    /// The stages, in array task order.
    pub stages: Vec<NodeIndex>,
    /// Indexes (into the job list) of the arrays this one waits for.
    pub after: Vec<usize>,
    /// Jobs of an earlier submission still queued that this one waits for.
    pub after_external: Vec<String>,
}

/// Groups the stages to run into job arrays, one per stage kind and experiment, in pipeline
/// order (an array only waits for arrays of earlier kinds). An array waits for every array
/// holding an input of one of its stages: a stage may start a little later than its own
/// inputs allow, in exchange for a handful of submissions per sweep. `queued` maps stage keys
/// to jobs already in the queue (from an earlier `--detach`ed submission): those stages are
/// not submitted again, only waited for.
pub fn plan_jobs(plan: &Plan, to_run: &dyn Fn(NodeIndex) -> bool, queued: &HashMap<String, String>) -> Vec<JobSpec> {
    let g = &plan.graph;
    let order = petgraph::algo::toposort(g, None).unwrap_or_default();
    let mut groups: BTreeMap<(StageKind, usize), Vec<NodeIndex>> = BTreeMap::new();
    for n in order {
        let st = &g[n];
        if st.kind != StageKind::Report && to_run(n) && !queued.contains_key(&st.key) {
            groups.entry((st.kind, st.run.experiment)).or_default().push(n);
        }
    }
    let mut job_of: HashMap<NodeIndex, usize> = HashMap::new();
    let mut jobs: Vec<JobSpec> = Vec::new();
    for ((kind, experiment), stages) in groups {
        let j = jobs.len();
        let mut after = BTreeSet::new();
        let mut external = BTreeSet::new();
        for &n in &stages {
            for u in g.neighbors_directed(n, Direction::Incoming) {
                if let Some(&a) = job_of.get(&u) {
                    after.insert(a);
                } else if let Some(q) = queued.get(&g[u].key) {
                    external.insert(q.split('_').next().unwrap_or(q).to_string());
                }
            }
        }
        for &n in &stages {
            job_of.insert(n, j);
        }
        jobs.push(JobSpec { kind, experiment, stages, after: after.into_iter().collect(), after_external: external.into_iter().collect() });
    }
    jobs
}

/// `s` quoted for a POSIX shell.
fn sh(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The job script of an array: task `i` runs the `i`-th stage.
pub fn script(plan: &Plan, job: &JobSpec, opts: &Options) -> String {
    let keys: Vec<&str> = job.stages.iter().map(|&n| plan.graph[n].key.as_str()).collect();
    let mut cmd = vec![sh(&opts.runner.display().to_string()), "stage".into(), "--key".into(), "\"$key\"".into()];
    if opts.force {
        cmd.push("--force".into());
    }
    for s in &opts.sets {
        cmd.push("--set".into());
        cmd.push(sh(s));
    }
    cmd.push("--".into());
    cmd.extend(opts.configs.iter().map(|c| sh(&c.display().to_string())));
    let labels: String = job.stages.iter().enumerate().map(|(i, &n)| format!("#   {i}: {}\n", plan.graph[n].label)).collect();
    format!(
        "#!/bin/sh\n# runner: {} stages of `{}`, one per array task:\n{labels}set -- {}\nshift \"${{SLURM_ARRAY_TASK_ID:-0}}\"\nkey=$1\ncd {} || exit 1\nexec {}\n",
        job.kind.name(),
        plan.experiments[job.experiment].section.name,
        keys.join(" "),
        sh(&opts.cwd.display().to_string()),
        cmd.join(" ")
    )
}

/// The `sbatch` arguments of an array (without the script path).
pub fn sbatch_args(ex: &ExecutorSection, job: &JobSpec, log_dir: &Path, deps: &[String]) -> Vec<String> {
    let n = job.stages.len();
    let mut a = vec!["--parsable".to_string(), format!("--job-name=runner-{}", job.kind.name())];
    a.push(match ex.max_jobs {
        Some(m) if (m as usize) < n => format!("--array=0-{}%{m}", n - 1),
        _ => format!("--array=0-{}", n - 1),
    });
    a.push(format!("--output={}", log_dir.join(format!("{}-%A_%a.log", job.kind.name())).display()));
    if !deps.is_empty() {
        a.push(format!("--dependency=afterany:{}", deps.join(":")));
    }
    if let Some(p) = &ex.partition {
        a.push(format!("--partition={p}"));
    }
    if let Some(p) = &ex.account {
        a.push(format!("--account={p}"));
    }
    if let Some(t) = ex.time_for(job.kind.name()) {
        a.push(format!("--time={t}"));
    }
    if let Some(c) = ex.cpus_per_task {
        a.push(format!("--cpus-per-task={c}"));
    }
    if let Some(m) = &ex.mem {
        a.push(format!("--mem={m}"));
    }
    a.extend(ex.sbatch_args.iter().cloned());
    a
}

/// Where an experiment's job scripts, logs and job list go.
pub fn slurm_dir(plan: &Plan, ei: usize) -> PathBuf {
    let s = &plan.experiments[ei].section;
    s.results_dir.join(&s.name).join("slurm")
}

/// Whether Slurm answers here (`sinfo` runs and reaches a controller).
pub fn available() -> Result<()> {
    let out = Command::new("sinfo").arg("-h").arg("-o").arg("%P").output().map_err(|e| anyhow!("`sinfo` cannot run ({e}); is Slurm installed here?"))?;
    if !out.status.success() {
        bail!(
            "Slurm does not answer (`sinfo`: {}); is slurmctld running and this machine a submit host? (A one-node cluster on this machine: `sudo scripts/local-slurm.sh start`; or run with --executor local)",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn submit(args: &[String], script: &Path) -> Result<String> {
    let out = Command::new("sbatch").args(args).arg(script).output().context("cannot run `sbatch`")?;
    if !out.status.success() {
        bail!("sbatch {} {} failed: {}", args.join(" "), script.display(), String::from_utf8_lossy(&out.stderr).trim());
    }
    let id = String::from_utf8_lossy(&out.stdout).trim().split(';').next().unwrap_or("").to_string();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        bail!("sbatch answered `{}`, not a job id", String::from_utf8_lossy(&out.stdout).trim());
    }
    Ok(id)
}

/// Every job Slurm lists (finished ones included, until `MinJobAge`): `id[_task]` -> (state,
/// reason).
fn squeue() -> Result<HashMap<String, (String, String)>> {
    let out = Command::new("squeue").args(["-h", "-r", "--states=all", "-o", "%i|%T|%r"]).output().context("cannot run `squeue`")?;
    if !out.status.success() {
        bail!("squeue failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut p = l.split('|');
            Some((p.next()?.trim().to_string(), (p.next()?.trim().to_string(), p.next().unwrap_or("").trim().to_string())))
        })
        .collect())
}

/// Cancels jobs (array tasks as `id_task`).
pub fn scancel(ids: &[String]) {
    if !ids.is_empty() {
        let _ = Command::new("scancel").args(ids).output();
    }
}

const ACTIVE: &[&str] =
    &["PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "RESIZING", "SIGNALING", "STAGE_OUT", "REQUEUE_HOLD", "REQUEUE_FED"];

/// The last `n` lines of a log, for an error message.
fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n    ")
}

/// The record of submitted jobs, `results/<experiment>/slurm/jobs.json`: stage key -> job
/// `id_task`, so a later run waits for jobs still queued instead of submitting them twice.
fn read_jobs(dir: &Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(dir.join("jobs.json")).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default()
}

fn write_jobs(dir: &Path, jobs: &BTreeMap<String, String>) -> Result<()> {
    crate::interrupt::write_set(dir, &[("jobs.json", serde_json::to_string_pretty(jobs)?)])
}

/// What a stage's job came to.
#[derive(Clone, Debug, PartialEq)]
enum Fate {
    Waiting,
    Running,
    Done,
    Failed(String),
    Skipped(String),
}

/// Submits the uncached stages and (unless detached) waits for them, recording each failure
/// in `exec` so the report marks its rows. Set `interrupted` to stop waiting.
pub fn run(plan: &Plan, exec: &Executor, opts: &Options, interrupted: &AtomicBool) -> Result<(Summary, Vec<anyhow::Error>)> {
    available()?;
    let g = &plan.graph;
    let stages: Vec<NodeIndex> = g.node_indices().filter(|&n| g[n].kind != StageKind::Report).collect();
    let to_run: BTreeSet<NodeIndex> = stages.iter().copied().filter(|&n| !exec.is_cached(&g[n])).collect();
    let mut summary = Summary { cached: stages.len() - to_run.len(), ..Default::default() };

    // Jobs of an earlier (detached) submission that are still queued.
    let queue = squeue()?;
    let mut queued: HashMap<String, String> = HashMap::new();
    for ei in 0..plan.experiments.len() {
        for (key, id) in read_jobs(&slurm_dir(plan, ei)) {
            let active = queue.get(&id).is_some_and(|(s, _)| ACTIVE.contains(&s.as_str()));
            if active && plan.by_key.get(&key).is_some_and(|n| to_run.contains(n)) {
                queued.insert(key, id);
            }
        }
    }
    let jobs = plan_jobs(plan, &|n| to_run.contains(&n), &queued);

    // Submit in order; each array names the ids of the arrays it waits for.
    let mut ids: Vec<String> = Vec::new();
    let mut task_of: HashMap<NodeIndex, String> = HashMap::new();
    for (key, id) in &queued {
        task_of.insert(plan.by_key[key], id.clone());
    }
    let mut records: BTreeMap<usize, BTreeMap<String, String>> = BTreeMap::new();
    let submitted_at = Instant::now();
    for job in &jobs {
        let dir = slurm_dir(plan, job.experiment);
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
        let path = dir.join(format!("{}-{}.sh", job.kind.name(), &g[job.stages[0]].key[..10]));
        std::fs::write(&path, script(plan, job, opts)).with_context(|| format!("cannot write `{}`", path.display()))?;
        let mut deps: Vec<String> = job.after.iter().map(|&a| ids[a].clone()).collect();
        deps.extend(job.after_external.iter().cloned());
        let args = sbatch_args(&plan.experiments[job.experiment].executor, job, &dir, &deps);
        let id = match submit(&args, &path) {
            Ok(id) => id,
            Err(e) => {
                // Nothing half-submitted is left to run unwatched.
                scancel(&ids);
                return Err(e.context(format!("submitting the {} stages of `{}`", job.kind.name(), plan.experiments[job.experiment].section.name)));
            }
        };
        for (t, &n) in job.stages.iter().enumerate() {
            task_of.insert(n, format!("{id}_{t}"));
            records.entry(g[n].run.experiment).or_default().insert(g[n].key.clone(), format!("{id}_{t}"));
        }
        ids.push(id);
    }
    for (ei, rec) in &records {
        let dir = slurm_dir(plan, *ei);
        let mut all = read_jobs(&dir);
        all.extend(rec.clone());
        write_jobs(&dir, &all)?;
    }
    let n_tasks = task_of.len();
    if !opts.quiet {
        eprintln!(
            "slurm: submitted {} job arrays ({} stages){}{}; {} stages cached",
            jobs.len(),
            n_tasks - queued.len(),
            if ids.is_empty() { String::new() } else { format!(": {}", ids.join(" ")) },
            if queued.is_empty() { String::new() } else { format!("; waiting for {} stages still queued from an earlier submission", queued.len()) },
            summary.cached
        );
    }
    if opts.detach {
        return Ok((summary, Vec::new()));
    }

    // Wait, polling the queue.
    let mut fate: HashMap<NodeIndex, Fate> = task_of.keys().map(|&n| (n, Fate::Waiting)).collect();
    let mut errors = Vec::new();
    let bar = super::progress::bar(n_tasks as u64, "{spinner} jobs {pos}/{len} [{bar:30}] {elapsed} {msg}", !opts.quiet);
    let log_of = |n: NodeIndex| -> PathBuf {
        let id = &task_of[&n];
        let (a, t) = id.split_once('_').unwrap_or((id, "0"));
        slurm_dir(plan, g[n].run.experiment).join(format!("{}-{a}_{t}.log", g[n].kind.name()))
    };
    loop {
        if interrupted.load(Ordering::SeqCst) {
            bar.finish_and_clear();
            let open: Vec<String> = task_of.iter().filter(|(n, _)| matches!(fate[n], Fate::Waiting | Fate::Running)).map(|(_, id)| id.clone()).collect();
            bail!(Interrupted(open));
        }
        let queue = squeue()?;
        let mut newly_failed = Vec::new();
        for (&n, id) in &task_of {
            let f = fate.get_mut(&n).expect("fate");
            if matches!(f, Fate::Done | Fate::Failed(_) | Fate::Skipped(_)) {
                continue;
            }
            *f = match queue.get(id) {
                Some((s, _)) if s == "RUNNING" || s == "COMPLETING" || s == "CONFIGURING" => Fate::Running,
                Some((s, _)) if ACTIVE.contains(&s.as_str()) => Fate::Waiting,
                Some((s, _)) if s == "COMPLETED" => Fate::Done,
                Some((s, reason)) => {
                    let why = if reason.is_empty() || reason == "None" { s.clone() } else { format!("{s} ({reason})") };
                    Fate::Failed(why)
                }
                // Not listed: not yet visible just after submission, or aged out of the list.
                None if submitted_at.elapsed() < Duration::from_secs(30) => Fate::Waiting,
                None if exec.has_entry(&g[n]) => Fate::Done,
                None => Fate::Failed("left the queue without writing its cache entry".into()),
            };
            if let Fate::Failed(why) = f.clone() {
                newly_failed.push((n, why));
            }
        }
        let log_cause = |n: NodeIndex, why: &str| {
            let (st, log) = (&g[n], log_of(n));
            format!("{} stage `{}`: Slurm job {} {why}; log {}:\n    {}", st.kind.name(), st.label, task_of[&n], log.display(), tail(&log, 8))
        };
        for (root, cause, downstream) in settle_failures(g, &mut fate, newly_failed, &log_cause) {
            exec.record_failure(&g[root].key, cause.clone());
            errors.push(anyhow!(cause.clone()));
            // The report marks the dependants' rows with the same cause.
            for &d in &downstream {
                exec.record_failure(&g[d].key, cause.clone());
            }
            scancel(&downstream.iter().map(|d| task_of[d].clone()).collect::<Vec<_>>());
        }
        let count = |p: &dyn Fn(&Fate) -> bool| fate.values().filter(|f| p(f)).count();
        let (waiting, running) = (count(&|f| *f == Fate::Waiting), count(&|f| *f == Fate::Running));
        let (done, failed, skipped) = (count(&|f| *f == Fate::Done), count(&|f| matches!(f, Fate::Failed(_))), count(&|f| matches!(f, Fate::Skipped(_))));
        bar.set_position((done + failed + skipped) as u64);
        bar.set_message(format!("{waiting} pending, {running} running, {done} done, {failed} failed, {skipped} cancelled"));
        if waiting + running == 0 {
            bar.finish_and_clear();
            summary.ran = done;
            summary.failed = failed;
            summary.skipped = skipped;
            if !opts.quiet {
                let mut done: Vec<(&NodeIndex, &Fate)> = fate.iter().collect();
                done.sort_by_key(|(n, _)| (g[**n].kind, **n));
                for (&n, f) in done {
                    if *f == Fate::Done {
                        super::progress::println(&format!("{:<7} ran     {} (job {})", g[n].kind.name(), g[n].label, task_of[&n]));
                    }
                }
            }
            return Ok((summary, errors));
        }
        std::thread::sleep(Duration::from_secs_f64(opts.poll.max(0.05)));
    }
}

/// Attributes the failures seen in one poll of the queue: upstream stages first, and
/// everything downstream of a failed stage (still waiting, running, or failed in this same
/// poll) becomes `Skipped` with the upstream cause and is returned for cancelling.
///
/// Why the order matters: arrays wait with `afterany`, so when a train task is cancelled its
/// index task may start, refuse (its input is not in the cache) and fail before the next
/// poll. Both show up in one `squeue` answer; the row must then say "train cancelled", not
/// report the index stage's refusal as a failure of its own.
fn settle_failures(
    g: &petgraph::graph::DiGraph<super::Stage, ()>,
    fate: &mut HashMap<NodeIndex, Fate>,
    mut newly_failed: Vec<(NodeIndex, String)>,
    cause_of: &dyn Fn(NodeIndex, &str) -> String,
) -> Vec<(NodeIndex, String, Vec<NodeIndex>)> {
    newly_failed.sort_by_key(|&(n, _)| (g[n].kind, n));
    let fresh: BTreeSet<NodeIndex> = newly_failed.iter().map(|&(n, _)| n).collect();
    let mut out = Vec::new();
    for (n, why) in newly_failed {
        if matches!(fate[&n], Fate::Skipped(_)) {
            continue; // an upstream failure of this poll already explains it
        }
        let cause = cause_of(n, &why);
        let mut downstream = Vec::new();
        let mut stack = vec![n];
        while let Some(m) = stack.pop() {
            for d in g.neighbors_directed(m, Direction::Outgoing) {
                let open = match fate.get(&d) {
                    Some(Fate::Waiting | Fate::Running) => true,
                    Some(Fate::Failed(_)) => fresh.contains(&d),
                    _ => false,
                };
                if open {
                    fate.insert(d, Fate::Skipped(cause.clone()));
                    downstream.push(d);
                    stack.push(d);
                }
            }
        }
        out.push((n, cause, downstream));
    }
    out
}

/// The waiting runner was interrupted; the jobs still queued or running.
#[derive(Debug)]
pub struct Interrupted(pub Vec<String>);

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "interrupted with {} jobs queued or running", self.0.len())
    }
}
impl std::error::Error for Interrupted {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;

    fn plan_of(toml: &str) -> (tempfile::TempDir, Plan) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.toml");
        std::fs::write(&p, toml).unwrap();
        let cache = d.path().join("cache").display().to_string();
        let results = d.path().join("results").display().to_string();
        let e = config::load(&p, &[format!("experiment.cache_dir={cache:?}"), format!("experiment.results_dir={results:?}")]).unwrap();
        let plan = super::super::plan(vec![e]).unwrap();
        (d, plan)
    }

    const SWEEP: &str = r#"
[experiment]
name = "grid"
seeds = [1, 2]
[dataset]
kind = "synthetic"
n_users = 50
n_items = 30
n_clusters = 3
mean_len = 5
[[model]]
kind = "item2vec"
dim = 8
threads = 1
sweep = { window = [2, 4] }
[[model]]
kind = "popularity"
[executor]
kind = "slurm"
max_jobs = 2
time = { train = "1:00:00", default = "10" }
"#;

    #[test]
    fn a_sweep_is_one_array_per_stage_kind_in_dependency_order() {
        let (_d, plan) = plan_of(SWEEP);
        let jobs = plan_jobs(&plan, &|_| true, &HashMap::new());
        let kinds: Vec<&str> = jobs.iter().map(|j| j.kind.name()).collect();
        assert_eq!(kinds, vec!["data", "split", "corpus", "train", "index", "eval"], "{jobs:?}");
        let size: Vec<usize> = jobs.iter().map(|j| j.stages.len()).collect();
        // corpus: one per seed (the window is a training parameter); train: item2vec 2 windows
        // x 2 seeds and popularity 1 (it has no seed); index and eval: 5 each.
        assert_eq!(size, vec![1, 1, 2, 5, 5, 5]);
        // Every array waits for exactly the arrays holding its stages' inputs, all earlier.
        for (j, job) in jobs.iter().enumerate() {
            assert!(job.after.iter().all(|&a| a < j));
            let mut want = BTreeSet::new();
            for &n in &job.stages {
                for u in plan.graph.neighbors_directed(n, Direction::Incoming) {
                    want.insert(jobs.iter().position(|o| o.stages.contains(&u)).unwrap());
                }
            }
            assert_eq!(job.after.iter().copied().collect::<BTreeSet<_>>(), want, "job {j}");
        }
        assert_eq!(jobs[0].after, Vec::<usize>::new());
        assert_eq!(jobs[2].after, vec![0, 1], "corpus reads the data and the split");
    }

    #[test]
    fn a_failure_seen_with_its_upstream_in_one_poll_is_blamed_on_the_upstream() {
        let (_d, plan) = plan_of(SWEEP);
        let g = &plan.graph;
        let train = g.node_indices().find(|&n| g[n].kind == StageKind::Train).unwrap();
        let index = g.neighbors_directed(train, Direction::Outgoing).find(|&n| g[n].kind == StageKind::Index).unwrap();
        let eval = g.neighbors_directed(index, Direction::Outgoing).find(|&n| g[n].kind == StageKind::Eval).unwrap();
        let mut fate: HashMap<NodeIndex, Fate> = g.node_indices().map(|n| (n, Fate::Waiting)).collect();
        // The index task ran after the cancelled train task and refused; one squeue answer
        // lists both, the index task first.
        fate.insert(index, Fate::Failed("FAILED (NonZeroExitCode)".into()));
        fate.insert(train, Fate::Failed("CANCELLED".into()));
        let newly = vec![(index, "FAILED (NonZeroExitCode)".to_string()), (train, "CANCELLED".to_string())];
        let roots = settle_failures(g, &mut fate, newly, &|n, why| format!("{} {why}", g[n].kind.name()));
        assert_eq!(roots.len(), 1, "one cause, not two: {roots:?}");
        let (root, cause, downstream) = &roots[0];
        assert_eq!((*root, cause.as_str()), (train, "train CANCELLED"));
        assert!(downstream.contains(&index) && downstream.contains(&eval), "{downstream:?}");
        assert_eq!(fate[&index], Fate::Skipped("train CANCELLED".into()));
        assert_eq!(fate[&eval], Fate::Skipped("train CANCELLED".into()));
        // Siblings of other training stages are untouched.
        let other = g.node_indices().find(|&n| g[n].kind == StageKind::Train && n != train).unwrap();
        assert_eq!(fate[&other], Fate::Waiting);
    }

    #[test]
    fn cached_and_queued_stages_are_not_submitted() {
        let (_d, plan) = plan_of(SWEEP);
        let g = &plan.graph;
        let cached = |n: NodeIndex| matches!(g[n].kind, StageKind::Data | StageKind::Split);
        let split = g.node_indices().find(|&n| g[n].kind == StageKind::Split).unwrap();
        let corpus: Vec<NodeIndex> = g.node_indices().filter(|&n| g[n].kind == StageKind::Corpus).collect();
        let queued: HashMap<String, String> = [(g[corpus[0]].key.clone(), "77_0".to_string())].into();
        let jobs = plan_jobs(&plan, &|n| !cached(n), &queued);
        assert!(jobs.iter().all(|j| !j.stages.contains(&split) && !j.stages.contains(&corpus[0])));
        assert_eq!(jobs[0].kind, StageKind::Corpus);
        assert_eq!(jobs[0].stages.len(), 1);
        // The train array waits for the queued corpus job too; nothing waits for the cached split.
        assert_eq!(jobs[1].kind, StageKind::Train);
        assert_eq!(jobs[1].after, vec![0]);
        assert_eq!(jobs[1].after_external, vec!["77".to_string()]);
        assert!(jobs.iter().all(|j| j.kind == StageKind::Train || j.after_external.is_empty()));
    }

    #[test]
    fn scripts_and_sbatch_arguments() {
        let (d, plan) = plan_of(SWEEP);
        let jobs = plan_jobs(&plan, &|_| true, &HashMap::new());
        let opts = Options {
            configs: vec![PathBuf::from("configs/it's.toml")],
            sets: vec!["model.0.dim=16".into()],
            runner: PathBuf::from("target/release/runner"),
            cwd: PathBuf::from("my proj"),
            force: true,
            ..Default::default()
        };
        let train = &jobs[3];
        let s = script(&plan, train, &opts);
        assert!(s.starts_with("#!/bin/sh\n"));
        for &n in &train.stages {
            assert!(s.contains(&plan.graph[n].key), "every key is in the script");
        }
        assert!(
            s.contains("cd 'my proj' || exit 1\nexec target/release/runner stage --key \"$key\" --force --set model.0.dim=16 -- 'configs/it'\\''s.toml'"),
            "{s}"
        );
        // The shell picks task i's key: run the script's selection with a fake runner.
        let sel = s.replace("exec target/release/runner", "echo").replace("cd 'my proj' || exit 1", "");
        for (i, &n) in train.stages.iter().enumerate() {
            let out = Command::new("sh").arg("-c").arg(&sel).env("SLURM_ARRAY_TASK_ID", i.to_string()).output().unwrap();
            let out = String::from_utf8_lossy(&out.stdout).to_string();
            assert!(out.starts_with(&format!("stage --key {} ", plan.graph[n].key)), "{out}");
        }
        let ex = &plan.experiments[0].executor;
        let a = sbatch_args(ex, train, d.path(), &["12".into(), "13".into()]);
        assert!(a.contains(&"--array=0-4%2".to_string()), "{a:?}");
        assert!(a.contains(&"--dependency=afterany:12:13".to_string()));
        assert!(a.contains(&"--time=1:00:00".to_string()) && a.contains(&"--job-name=runner-train".to_string()));
        let a = sbatch_args(ex, &jobs[0], d.path(), &[]);
        assert!(a.contains(&"--array=0-0".to_string()) && a.contains(&"--time=10".to_string()));
        assert!(!a.iter().any(|x| x.starts_with("--dependency")));
    }
}
