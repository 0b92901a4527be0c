//! A study: the trials of one model's search, run batch by batch through the planner and the
//! executor like sweep points, and the tuned runs that come out of it.

use super::asha::{Ladder, Pruner};
use super::{best, sampler, tidy, to_values, Trial};
use crate::config::search::{Direction, ModelSearch};
use crate::config::{Experiment, RunSpec};
use crate::eval::EvalTarget;
use crate::pipeline::{self, dag, stages::Executor};
use anyhow::{anyhow, Context, Result};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// One finished trial with what the tables show of it.
#[derive(Clone, Debug)]
pub struct TrialRecord {
    pub trial: Trial,
    /// Its point id (the stage labels and the cache name it by it).
    pub point: String,
    /// Model key -> value.
    pub values: BTreeMap<String, Value>,
    /// Seconds its training took (also when it was found in the cache), over its rungs; 0
    /// for a point an earlier trial of the search already trained (a repeat costs nothing).
    pub seconds: f64,
    /// Why it has no objective.
    pub error: Option<String>,
    /// Its Hyperband bracket (0 otherwise): the rung it started at.
    pub bracket: usize,
}

impl TrialRecord {
    /// Epochs it trained, with a pruner (0 without one): its last rung's.
    pub fn epochs(&self) -> usize {
        self.trial.rungs.last().map_or(0, |r| r.0)
    }
}

/// How the study runs its batches.
pub struct Options<'a> {
    pub jobs: usize,
    /// Recompute the first batch's stages (later batches reuse what it computed).
    pub force: bool,
    pub progress: bool,
    pub log: &'a (dyn Fn(String) + Sync),
    pub mode: Mode<'a>,
}

/// Where a study's stages run.
pub enum Mode<'a> {
    /// In this process, `jobs` side by side.
    Local,
    /// As Slurm job arrays, one submission per batch (and rung), waiting for each: the next
    /// proposals need its results. Each job's `runner stage` finds its trial by [`Mode::Find`].
    Slurm(&'a crate::pipeline::slurm::Options, &'a std::sync::atomic::AtomicBool),
    /// Replay a finished search from the cache and compute nothing (`recommend`, `similar`,
    /// `export` and `report` on a searched model): a stage that is not cached is an error,
    /// and `trials.csv` is left as `runner run` wrote it.
    CachedOnly,
    /// Replay from the cache up to the batch whose plan holds stage `.0`, and leave that plan
    /// in `.1` (what a Slurm job's `runner stage` runs); stops the study there.
    Find(&'a str, &'a std::sync::Mutex<Option<pipeline::Plan>>),
}

impl Mode<'_> {
    /// Whether nothing may be computed or written.
    pub fn replays(&self) -> bool {
        matches!(self, Mode::CachedOnly | Mode::Find(..))
    }
}

/// The error that ends a [`Mode::Find`] study once it found its stage.
#[derive(Debug)]
pub struct Found;

impl std::fmt::Display for Found {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "found the stage")
    }
}

impl std::error::Error for Found {}

/// What a search of one model ends with.
pub struct Outcome {
    pub model: String,
    /// The model's name, with the sweep point under a sweep (one search per point).
    pub label: String,
    pub objective: String,
    pub direction: Direction,
    pub trials: Vec<TrialRecord>,
    /// Whether a pruner ran (`trials.csv` then shows each trial's epochs).
    pub pruned: bool,
    /// Whether it was Hyperband (`trials.csv` then shows each trial's bracket).
    pub hyperband: bool,
}

impl Outcome {
    /// The chosen trial: the best validation objective, the earliest of equals.
    pub fn chosen(&self) -> Option<&TrialRecord> {
        let trials: Vec<Trial> = self.trials.iter().map(|r| r.trial.clone()).collect();
        let n = best(self.direction, &trials)?.number;
        self.trials.iter().find(|r| r.trial.number == n)
    }
}

/// The trials of `search`: proposes a batch, plans it without a report, runs it, reads each
/// trial's validation summary, and proposes the next until `trials` are done. Trials train
/// with the experiment's first seed, or its first `trial_seeds` seeds, scoring the mean of
/// their objectives (a trial fails when one of its seeds does). Random and grid proposals
/// never depend on results, so they are one batch; TPE's random start-up trials are one
/// batch, then `batch` at a time.
///
/// With a pruner a batch runs rung by rung ([`super::asha`]): every trial of the batch
/// trains to the first rung's epochs, those the pruner keeps go on from their checkpoints to
/// the next rung, and so on; a trial that clears every rung trains to the model's end. With
/// Hyperband a trial of bracket `b` joins at rung `b`, training from scratch to it, and
/// competes with its bracket's trials only.
pub fn run(exp: &Experiment, search: &ModelSearch, opts: &Options) -> Result<Outcome> {
    let spec = &search.spec;
    let sampler = sampler(spec);
    let seeds = &exp.section.seeds[..spec.trial_seeds];
    let pruner: Option<(Ladder, usize)> = spec.pruner.as_ref().map(|p| (Ladder::from(p), p.max_epochs));
    // The rungs' epochs, then the end (`None`: the whole training, as without a pruner).
    let steps: Vec<Option<usize>> = match &pruner {
        Some((a, max)) => a.rungs(*max).into_iter().map(Some).chain([None]).collect(),
        None => vec![None],
    };
    // Every score reported at each rung of each bracket, in trial-number order: what later
    // trials of the bracket compete with.
    let brackets = pruner.as_ref().map_or(1, |(a, max)| a.brackets(*max));
    let mut at_rung: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); steps.len()]; brackets];
    let mut records: Vec<TrialRecord> = Vec::new();
    // Train keys whose seconds a trial already counted.
    let mut counted = std::collections::HashSet::new();
    let mut first = true;
    while records.len() < spec.trials {
        let size = match spec.kind {
            crate::config::search::SearchKind::Tpe if records.is_empty() => spec.n_startup_trials.max(spec.batch),
            crate::config::search::SearchKind::Tpe => spec.batch,
            _ => spec.trials,
        }
        .min(spec.trials - records.len());
        // The finished trials, then the batch's proposals so far (no objective yet), so that a
        // sampler can avoid proposing a point twice in one batch.
        let mut done: Vec<Trial> = records.iter().map(|r| r.trial.clone()).collect();
        let mut batch = Vec::with_capacity(size);
        for number in records.len()..records.len() + size {
            let point = tidy(&spec.space, sampler.propose(number, &done));
            done.push(Trial { number, point: point.clone(), objective: None, pruned_at: None, rungs: Vec::new() });
            let values = to_values(&spec.space, &point);
            let runs = seeds
                .iter()
                .map(|&seed| {
                    let run = search.run_at(&values, seed).map_err(|e| anyhow!("search of model `{}`, trial {number}: {e}", search.name))?;
                    Ok(RunSpec { target: EvalTarget::Validation, ..run })
                })
                .collect::<Result<Vec<_>>>()?;
            let record = TrialRecord {
                trial: Trial { number, point, objective: None, pruned_at: None, rungs: Vec::new() },
                point: runs[0].point_id.clone(),
                values,
                seconds: 0.0,
                error: None,
                bracket: pruner.as_ref().map_or(0, |(a, max)| a.bracket(*max, spec.seed, number)),
            };
            batch.push((record, runs));
        }
        let first_batch = std::mem::take(&mut first);
        // Indices into `batch` of the trials still training.
        let mut active: Vec<usize> = (0..batch.len()).collect();
        for (k, &stop) in steps.iter().enumerate() {
            if active.is_empty() {
                break;
            }
            // A trial of bracket `b` starts at step `b`, then resumes step by step. It starts
            // from the deepest rung below step `b` that an earlier trial of its point reached
            // (a point pruned early and proposed again for a later bracket: that rung's
            // checkpoint is cached), else from scratch.
            let now: Vec<usize> = active.iter().copied().filter(|&i| batch[i].0.bracket <= k).collect();
            if now.is_empty() {
                continue;
            }
            let target = stop.or(pruner.as_ref().map(|p| p.1)).unwrap_or(usize::MAX);
            // One run per trial and seed, trial by trial.
            let runs: Vec<RunSpec> = now
                .iter()
                .flat_map(|&i| {
                    let resume_from = if batch[i].0.bracket == k {
                        reached_below(records.iter().chain(batch.iter().map(|b| &b.0)), &batch[i].0.trial.point, target)
                    } else {
                        steps[k - 1]
                    };
                    batch[i].1.iter().map(move |run| RunSpec { stop_epoch: stop, resume_from, ..run.clone() })
                })
                .collect();
            let plan = pipeline::plan_with(vec![with_runs(exp, runs)], false)?;
            if let Mode::Find(key, slot) = &opts.mode {
                if plan.by_key.contains_key(*key) {
                    *slot.lock().expect("find lock") = Some(plan);
                    return Err(Found.into());
                }
            }
            let exec = Executor::new(&plan, opts.force && first_batch, opts.progress);
            match &opts.mode {
                Mode::Local => {
                    let _ = dag::execute(&plan, &exec, opts.jobs, opts.log);
                }
                Mode::Slurm(slurm, interrupted) => {
                    // Failures are recorded in `exec` and read below as the trials' errors.
                    let _ = crate::pipeline::slurm::run(&plan, &exec, slurm, interrupted)?;
                }
                Mode::CachedOnly | Mode::Find(..) => {
                    if let Some(n) = plan.graph.node_indices().find(|&n| !exec.is_cached(&plan.graph[n])) {
                        anyhow::bail!(
                            "the search of model `{}` is not finished in the cache (its {} stage `{}` is not there); run `runner run {}` first",
                            search.label,
                            plan.graph[n].kind.name(),
                            plan.graph[n].label,
                            exp.file.display()
                        );
                    }
                }
            }
            // Trials that stop here: failed, pruned, or at the end.
            let mut stopped = vec![false; batch.len()];
            for (&i, trial_keys) in now.iter().zip(plan.run_keys[0].chunks(seeds.len())) {
                let r = &mut batch[i].0;
                let (mut sum, mut error) = (0.0, None);
                for keys in trial_keys {
                    let (value, seconds) = match exec.validation_summary(&keys.eval) {
                        Ok(s) => (
                            s.metric(&spec.objective)
                                .filter(|v| v.is_finite())
                                .ok_or_else(|| format!("the validation evaluation has no finite `{}`", spec.objective)),
                            s.train_seconds(),
                        ),
                        Err(e) => (Err(format!("{e:#}")), 0.0),
                    };
                    match value {
                        Ok(v) => sum += v,
                        Err(e) => {
                            error.get_or_insert(e);
                        }
                    }
                    // A point proposed again trains nothing (its stages are cached): its
                    // training counts once, for the first trial that ran it, whether now or in
                    // a run before.
                    if counted.insert(keys.train.clone()) {
                        r.seconds += seconds;
                    }
                }
                let value = error.is_none().then(|| sum / seeds.len() as f64);
                r.trial.objective = value;
                r.error = error;
                let Some(v) = value else {
                    stopped[i] = true;
                    continue;
                };
                match (stop, &pruner) {
                    (Some(e), Some((ladder, _))) => {
                        r.trial.rungs.push((e, v));
                        let rung = &mut at_rung[r.bracket][k];
                        rung.push(v);
                        if !ladder.promotes(spec.direction, v, rung) {
                            r.trial.pruned_at = Some(e);
                            stopped[i] = true;
                        }
                    }
                    (_, p) => {
                        if let Some((_, max)) = p {
                            r.trial.rungs.push((*max, v));
                        }
                        stopped[i] = true;
                    }
                }
            }
            active.retain(|&i| !stopped[i]);
        }
        records.extend(batch.into_iter().map(|(r, _)| r));
    }
    Ok(Outcome {
        model: search.name.clone(),
        label: search.label.clone(),
        objective: spec.objective.clone(),
        direction: spec.direction,
        trials: records,
        pruned: pruner.is_some(),
        hyperband: pruner.as_ref().is_some_and(|(a, _)| a.hyperband),
    })
}

/// The most epochs below `target` that a trial of `point` among `trials` trained to (earlier
/// batches', and the rungs this batch has run so far).
fn reached_below<'a>(trials: impl Iterator<Item = &'a TrialRecord>, point: &super::Point, target: usize) -> Option<usize> {
    trials.filter(|r| &r.trial.point == point).flat_map(|r| r.trial.rungs.iter().map(|x| x.0)).filter(|&e| e < target).max()
}

/// The experiment with `runs` in place of its own (and no searches: a batch of trials).
pub fn with_runs(exp: &Experiment, runs: Vec<RunSpec>) -> Experiment {
    Experiment {
        file: exp.file.clone(),
        sets: exp.sets.clone(),
        section: exp.section.clone(),
        report: exp.report.clone(),
        executor: exp.executor.clone(),
        tracking: exp.tracking.clone(),
        data_dir: exp.data_dir.clone(),
        runs,
        name_line: exp.name_line,
        searches: Vec::new(),
    }
}

/// The tuned runs of a search: its chosen values once per `[experiment]` seed, evaluated on
/// test, as point `tuned`, each showing the chosen values and the validation objective.
pub fn tuned_runs(exp: &Experiment, search: &ModelSearch, outcome: &Outcome) -> Result<Vec<RunSpec>> {
    let chosen = outcome.chosen().with_context(|| {
        let why = outcome.trials.iter().find_map(|t| t.error.clone()).unwrap_or_default();
        format!(
            "search of model `{}`: no trial finished with a validation `{}` ({} trials; first error: {why})",
            outcome.model,
            outcome.objective,
            outcome.trials.len()
        )
    })?;
    let score = chosen.trial.objective.expect("chosen trials have one");
    let column = valid_column(&outcome.objective);
    let mut runs = Vec::new();
    for &seed in &exp.section.seeds {
        let mut run = search.run_at(&chosen.values, seed).map_err(|e| anyhow!("{e}"))?;
        run.point_id = search.tuned_point();
        run.point_name = search.tuned_name();
        run.flat.insert(column.clone(), format!("{score:.4}"));
        let mut shown: Vec<String> = chosen.values.keys().map(|k| format!("model.{k}")).collect();
        shown.push(column.clone());
        run.tuned = Some(shown);
        runs.push(run);
    }
    Ok(runs)
}

/// The table column of a search's validation objective.
pub fn valid_column(objective: &str) -> String {
    format!("valid {objective}")
}

/// Writes `dir/trials.csv`: every trial of every search of the experiment (model, trial
/// number, point id, each searched key, the validation objective, training seconds, status,
/// error; with a pruner its epochs and `rungs`, the objective at every rung it was scored at
/// as `epochs:score` pairs, Optuna's intermediate values, which show whether a rung stopped
/// trials that would have won), and `dir/search-<model>.svg` per search ([`plot`]).
pub fn write_trials(dir: &Path, outcomes: &[Outcome]) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    let keys: std::collections::BTreeSet<&String> = outcomes.iter().flat_map(|o| o.trials.iter().flat_map(|t| t.values.keys())).collect();
    let objectives: std::collections::BTreeSet<String> = outcomes.iter().map(|o| valid_column(&o.objective)).collect();
    let mut out = Vec::new();
    let swept = outcomes.iter().any(|o| o.label != o.model);
    let (pruned, hyperband) = (outcomes.iter().any(|o| o.pruned), outcomes.iter().any(|o| o.hyperband));
    let header: Vec<String> = ["model"]
        .iter()
        .map(|s| s.to_string())
        .chain(swept.then(|| "search".to_string()))
        .chain(["trial", "point"].map(String::from))
        .chain(keys.iter().map(|k| k.to_string()))
        .chain(objectives.iter().cloned())
        .chain(pruned.then_some(["epochs", "rungs"]).into_iter().flatten().map(String::from))
        .chain(hyperband.then(|| "bracket".to_string()))
        .chain(["train_s", "status", "error"].map(String::from))
        .collect();
    writeln!(out, "{}", header.iter().map(|h| csv_cell(h)).collect::<Vec<_>>().join(","))?;
    for o in outcomes {
        let chosen = o.chosen().map(|c| c.trial.number);
        for t in &o.trials {
            let mut row = vec![o.model.clone()];
            if swept {
                row.push(o.label.clone());
            }
            row.extend([t.trial.number.to_string(), t.point.clone()]);
            row.extend(keys.iter().map(|k| t.values.get(*k).map_or(String::new(), |v| v.as_str().map_or(v.to_string(), str::to_string))));
            let col = valid_column(&o.objective);
            row.extend(objectives.iter().map(|c| if *c == col { t.trial.objective.map_or(String::new(), |v| format!("{v}")) } else { String::new() }));
            if pruned {
                row.push(if o.pruned { t.epochs().to_string() } else { String::new() });
                row.push(t.trial.rungs.iter().map(|(e, v)| format!("{e}:{v}")).collect::<Vec<_>>().join(" "));
            }
            if hyperband {
                row.push(if o.hyperband { t.bracket.to_string() } else { String::new() });
            }
            row.push(format!("{:.3}", t.seconds));
            row.push(
                if t.error.is_some() {
                    "failed"
                } else if chosen == Some(t.trial.number) {
                    "chosen"
                } else if t.trial.pruned_at.is_some() {
                    "pruned"
                } else {
                    "ok"
                }
                .into(),
            );
            row.push(t.error.clone().unwrap_or_default());
            writeln!(out, "{}", row.iter().map(|c| csv_cell(c)).collect::<Vec<_>>().join(","))?;
        }
    }
    let path = dir.join("trials.csv");
    std::fs::write(&path, out).with_context(|| format!("cannot write `{}`", path.display()))?;
    for o in outcomes {
        plot(dir, o)?;
    }
    Ok(())
}

/// `search-<model>.svg` (`search-<model>-<sweep point id>.svg` under a sweep): the best validation objective so far against cumulative training
/// seconds (how much tuning bought for how much compute), with every trial's own score
/// (a pruned trial's at its last rung, apart: it is not comparable).
fn plot(dir: &Path, o: &Outcome) -> Result<()> {
    let (mut seconds, mut best_so_far, mut trials, mut pruned, mut best) = (0.0, Vec::new(), Vec::new(), Vec::new(), None::<f64>);
    for t in &o.trials {
        seconds += t.seconds;
        let Some(v) = t.trial.objective else { continue };
        if t.trial.pruned_at.is_some() {
            pruned.push((seconds, v));
            continue;
        }
        if best.is_none_or(|b| super::better(o.direction, v, b)) {
            best = Some(v);
        }
        trials.push((seconds, v));
        best_so_far.push((seconds, best.unwrap_or(v)));
    }
    if trials.is_empty() {
        return Ok(());
    }
    let safe: String = o.label.chars().map(|c| if c.is_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect();
    let mut lines = vec![
        crate::report::plots::Line { label: "best so far".into(), points: best_so_far },
        crate::report::plots::Line { label: "trial".into(), points: trials },
    ];
    if !pruned.is_empty() {
        lines.push(crate::report::plots::Line { label: "pruned (score at its last rung)".into(), points: pruned });
    }
    let column = valid_column(&o.objective);
    crate::report::plots::line_chart(&dir.join(format!("search-{safe}.svg")), &format!("search of {}", o.label), "cumulative training seconds", &column, &lines)
}

/// A CSV cell, quoted when it holds a comma, quote or line break.
fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}
