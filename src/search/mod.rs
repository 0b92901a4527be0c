//! Tuning: choose each searched model's configuration on validation metrics, then evaluate
//! the choice on test.
//!
//! Split as Optuna splits it: a [`Sampler`] says where to try next (one file per kind:
//! [`random`], [`grid`], [`tpe`]), and a study ([`study`]) holds the trials and asks the
//! pipeline to run them. Trials are planned as points, exactly as sweep points, so their
//! stages are cached and shared and `--jobs` runs them side by side; the study reads back
//! [`ValidationSummary`]s only, which the pipeline builds from validation evaluations alone.
//!
//! Every proposal is a function of the search's seed, the trial's number and the results of
//! the trials before its batch, so a rerun (after an interruption too) proposes the same
//! trials, finds them in the cache and makes the same choice.

pub mod asha;
pub mod grid;
pub mod median;
pub mod parzen;
pub mod random;
pub mod study;
pub mod tpe;

use crate::config::search::{Direction, Dist, SearchKind, SearchSpec};
pub use crate::pipeline::validation::ValidationSummary;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde_json::Value;
use std::collections::BTreeMap;

/// A value of one key, in the form the samplers reason in.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Param {
    Float(f64),
    Int(i64),
    /// Index into the key's `choice` list.
    Choice(usize),
}

/// One point of a space: key -> value.
pub type Point = BTreeMap<String, Param>;

/// A finished trial as the samplers see it.
#[derive(Clone, Debug, PartialEq)]
pub struct Trial {
    pub number: usize,
    pub point: Point,
    /// The validation objective; `None` when the trial failed (samplers ignore it).
    pub objective: Option<f64>,
    /// The epochs the objective was measured after, when a pruner stopped the trial early:
    /// a pruned trial's score is not comparable with finished trials' (see `tpe`).
    pub pruned_at: Option<usize>,
    /// With a pruner, (epochs, validation objective) at every rung the trial reached, the end
    /// included, in order; empty without one. Scores at the same epochs are comparable
    /// across trials, whichever rung or bracket they started at.
    pub rungs: Vec<(usize, f64)>,
}

/// Where to try next.
pub trait Sampler {
    /// The point of trial `number`, given the trials that finished before its batch.
    fn propose(&self, number: usize, done: &[Trial]) -> Point;
}

/// The sampler of a search: its kind's, after the `enqueue`d points.
pub fn sampler(spec: &SearchSpec) -> Box<dyn Sampler> {
    let inner = kind_sampler(spec);
    if spec.enqueued.is_empty() {
        return inner;
    }
    let points = spec.enqueued.iter().map(|v| from_values(&spec.space, v)).collect();
    Box::new(Enqueued { points, inner })
}

/// `enqueue`: trial `n` is the `n`th given point while there is one, then the sampler's
/// proposal (Optuna's `enqueue_trial`). Trial numbers are not shifted, so the random trials
/// after them are the ones a search without `enqueue` draws at those numbers, and TPE counts
/// the enqueued trials among its start-up trials, as Optuna does.
struct Enqueued {
    points: Vec<Point>,
    inner: Box<dyn Sampler>,
}

impl Sampler for Enqueued {
    fn propose(&self, number: usize, done: &[Trial]) -> Point {
        self.points.get(number).cloned().unwrap_or_else(|| self.inner.propose(number, done))
    }
}

fn kind_sampler(spec: &SearchSpec) -> Box<dyn Sampler> {
    match spec.kind {
        SearchKind::Random => Box::new(random::RandomSampler { space: spec.space.clone(), seed: spec.seed }),
        SearchKind::Grid => Box::new(grid::GridSampler::new(&spec.space, spec.seed)),
        SearchKind::Tpe => Box::new(tpe::TpeSampler {
            space: spec.space.clone(),
            seed: spec.seed,
            direction: spec.direction,
            n_startup_trials: spec.n_startup_trials,
            n_ei_candidates: spec.n_ei_candidates,
            multivariate: spec.multivariate,
            pruner: spec.pruner.as_ref().map(|p| (asha::Ladder::from(p), p.max_epochs)),
        }),
    }
}

/// The random numbers of trial `number`: one stream per trial, so a trial's values do not
/// depend on how many numbers earlier trials drew.
pub fn trial_rng(seed: u64, number: usize) -> Xoshiro256PlusPlus {
    let h = blake3::hash(format!("search-trial {seed} {number}").as_bytes());
    let mut b = [0u8; 32];
    b.copy_from_slice(h.as_bytes());
    Xoshiro256PlusPlus::from_seed(b)
}

/// A point as model keys and config values.
pub fn to_values(space: &[(String, Dist)], point: &Point) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for (k, d) in space {
        let v = match (d, point.get(k)) {
            (Dist::Choice(c), Some(Param::Choice(i))) => c[*i].clone(),
            (_, Some(Param::Float(x))) => Value::from(*x),
            (_, Some(Param::Int(x))) => Value::from(*x),
            _ => continue,
        };
        out.insert(k.clone(), v);
    }
    out
}

/// The point of config values `values` (the inverse of [`to_values`]); keys or values outside
/// the space are left out (the config refused them already).
pub fn from_values(space: &[(String, Dist)], values: &BTreeMap<String, Value>) -> Point {
    let mut out = Point::new();
    for (k, d) in space {
        let Some(v) = values.get(k) else { continue };
        let p = match d {
            Dist::Choice(c) => crate::config::search::choice_index(c, v).map(Param::Choice),
            Dist::Uniform(..) | Dist::LogUniform(..) => v.as_f64().map(Param::Float),
            Dist::Int { .. } => v.as_i64().map(Param::Int),
        };
        if let Some(p) = p {
            out.insert(k.clone(), p);
        }
    }
    out
}

/// `point` with its reals rounded to 6 significant digits (inside their range): the values
/// land in configs, tables and `trials.csv`, where 0.0932222 reads better than
/// 0.09322218658178845, and no model's result hinges on the 7th digit of a learning rate.
pub fn tidy(space: &[(String, Dist)], mut point: Point) -> Point {
    for (k, d) in space {
        if let (Some(Param::Float(x)), Dist::Uniform(a, b) | Dist::LogUniform(a, b)) = (point.get_mut(k), d) {
            if *x != 0.0 {
                let scale = 10f64.powi(5 - x.abs().log10().floor() as i32);
                *x = ((*x * scale).round() / scale).clamp(*a, *b);
            }
        }
    }
    point
}

/// Whether objective `a` is better than `b`.
pub fn better(direction: Direction, a: f64, b: f64) -> bool {
    match direction {
        Direction::Maximize => a > b,
        Direction::Minimize => a < b,
    }
}

/// The best finished trial: the best objective, the earliest of equals. Pruned trials are
/// never chosen (their score is at fewer epochs).
pub fn best(direction: Direction, trials: &[Trial]) -> Option<&Trial> {
    let mut out: Option<&Trial> = None;
    for t in trials.iter().filter(|t| t.pruned_at.is_none()) {
        let Some(v) = t.objective else { continue };
        if out.and_then(|b| b.objective).is_none_or(|b| better(direction, v, b)) {
            out = Some(t);
        }
    }
    out
}

/// Runs every search of `exps` (see [`study::run`]), writes each experiment's
/// `trials.csv`, and returns the experiments with each searched model's tuned runs in its
/// place among the runs. A search that ends without a usable trial is an error and its model
/// gets no row; the other experiments and models go on.
pub fn tune(exps: Vec<crate::config::Experiment>, opts: &study::Options) -> (Vec<crate::config::Experiment>, Vec<anyhow::Error>) {
    let mut errors = Vec::new();
    let mut out = Vec::with_capacity(exps.len());
    for exp in exps {
        if exp.searches.is_empty() {
            out.push(exp);
            continue;
        }
        let mut outcomes = Vec::new();
        // Slot -> tuned runs; each search knows where its model's runs would have been.
        let mut tuned: BTreeMap<usize, Vec<crate::config::RunSpec>> = BTreeMap::new();
        for s in &exp.searches {
            match study::run(&exp, s, opts).and_then(|o| {
                let runs = study::tuned_runs(&exp, s, &o);
                outcomes.push(o);
                runs
            }) {
                Ok(runs) => tuned.entry(s.slot).or_default().extend(runs),
                Err(e) => errors.push(e),
            }
        }
        if !opts.mode.replays() {
            if let Err(e) = study::write_trials(&exp.section.results_dir.join(&exp.section.name), &outcomes) {
                errors.push(e);
            }
        }
        let mut runs = Vec::new();
        for (i, r) in exp.runs.iter().enumerate() {
            runs.extend(tuned.remove(&i).into_iter().flatten());
            runs.push(r.clone());
        }
        runs.extend(tuned.into_values().flatten());
        out.push(study::with_runs(&exp, runs));
    }
    (out, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The enqueued points come first, unchanged; the trials after them are the ones the
    /// sampler proposes at those numbers without `enqueue`.
    #[test]
    fn enqueued_points_are_the_first_trials() {
        let space = vec![
            ("dim".to_string(), Dist::Choice(vec![16.into(), 32.into()])),
            ("lr".to_string(), Dist::LogUniform(1e-3, 0.1)),
            ("window".to_string(), Dist::Int { low: 1, high: 9, log: false }),
        ];
        let mut spec = SearchSpec {
            kind: SearchKind::Random,
            trials: 4,
            objective: "NDCG@10".into(),
            direction: Direction::Maximize,
            seed: 5,
            n_startup_trials: 10,
            n_ei_candidates: 24,
            multivariate: true,
            batch: 1,
            trial_seeds: 1,
            space: space.clone(),
            pruner: None,
            enqueued: Vec::new(),
        };
        let plain: Vec<Point> = (0..4).map(|n| sampler(&spec).propose(n, &[])).collect();
        let given = BTreeMap::from([("dim".to_string(), Value::from(32.0)), ("lr".to_string(), Value::from(0.01)), ("window".to_string(), Value::from(3))]);
        spec.enqueued = vec![given.clone()];
        let s = sampler(&spec);
        let first = s.propose(0, &[]);
        assert_eq!(first, Point::from([("dim".into(), Param::Choice(1)), ("lr".into(), Param::Float(0.01)), ("window".into(), Param::Int(3))]));
        // 32.0 is the choice 32: the values come back as the list writes them.
        assert_eq!(to_values(&space, &first)["dim"], Value::from(32));
        assert_ne!(first, plain[0]);
        assert_eq!((1..4).map(|n| s.propose(n, &[])).collect::<Vec<_>>(), plain[1..]);
    }
}
