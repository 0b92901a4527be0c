//! `[search]` (per experiment) and `search = { ... }` (per `[[model]]`): a search space over a
//! model's keys and how to explore it, validated before anything runs.
//!
//! The experiment's `[search]` gives the defaults for every model; a model's own `search`
//! overrides them and adds to (or replaces entries of) the space. A model whose merged space
//! is empty is not searched and runs as usual. Every space key is checked by the model's own
//! parse at the ends of its range (or each choice), so a sampled point can only fail on a
//! combination of values, never on a typo or a type.

use super::error::{nearest, SourceMap};
use super::params::{self, Validate};
use super::run::validate_run;
pub use super::space::choice_index;
use super::space::{ends, inside, parse_dist};
use super::{param_err, sweep, ConfigError, ExperimentSection, RunSpec};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// How the next configurations are proposed (one sampler per kind in `crate::search`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SearchKind {
    Random,
    Tpe,
    Grid,
}

const KINDS: &[&str] = &["random", "tpe", "grid"];

/// Whether a larger objective is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Maximize,
    Minimize,
}

/// One key's distribution.
#[derive(Clone, Debug, PartialEq)]
pub enum Dist {
    /// `{ choice = [...] }`: any values the key accepts.
    Choice(Vec<Value>),
    /// `{ uniform = [a, b] }`.
    Uniform(f64, f64),
    /// `{ log_uniform = [a, b] }`: uniform in log space, `0 < a`.
    LogUniform(f64, f64),
    /// `{ int = [a, b] }`, both ends included; `log = true` samples in log space (`0 < a`).
    Int { low: i64, high: i64, log: bool },
}

/// A validated search of one model.
#[derive(Clone, Debug)]
pub struct SearchSpec {
    pub kind: SearchKind,
    pub trials: usize,
    /// A validation metric column, e.g. `NDCG@10`.
    pub objective: String,
    pub direction: Direction,
    pub seed: u64,
    /// TPE: trials proposed at random before the model of good and bad trials is used.
    pub n_startup_trials: usize,
    /// TPE: candidates drawn from the good trials' density per proposal.
    pub n_ei_candidates: usize,
    /// TPE: one joint density over the keys (Optuna 5's default), else one per key.
    pub multivariate: bool,
    /// Trials proposed together (planned and run as one batch, so `--jobs` runs them side by
    /// side); a proposal sees only the results of earlier batches, so it never depends on
    /// `--jobs` or on which trial of a batch finished first.
    pub batch: usize,
    /// Training seeds per trial, the first of `[experiment] seeds`: a trial trains once per
    /// seed and scores the mean of their validation objectives (at each rung too), so that the
    /// choice follows the configuration rather than one seed's luck.
    pub trial_seeds: usize,
    /// Model key -> distribution, in key order.
    pub space: Vec<(String, Dist)>,
    /// Stops weak trials early; `None` trains every trial to the end.
    pub pruner: Option<PrunerSpec>,
    /// `enqueue`: the first trials' points, every space key set (keys a table leaves out take
    /// the model's value as written), each value inside its distribution.
    pub enqueued: Vec<BTreeMap<String, Value>>,
}

/// `pruner = { kind = "asha" | "hyperband", min_epochs, eta }`: asynchronous successive
/// halving over the model's epochs, in one ladder or in Hyperband's brackets (see
/// `crate::search::asha`); or `{ kind = "median", min_epochs, interval, n_startup_trials }`,
/// the median stopping rule (`crate::search::median`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PrunerSpec {
    /// The first rung: every trial trains this many epochs before its first comparison.
    pub min_epochs: usize,
    /// Rungs sit at `min_epochs * eta^k` epochs; the top `1/eta` of each rung goes on.
    pub eta: usize,
    /// The parameter that counts the model's epochs (`epochs`, ALS's `iterations`).
    pub epoch_key: &'static str,
    /// The model's `epochs`: the last rung, where a trial that was never pruned ends.
    pub max_epochs: usize,
    /// `kind = "hyperband"`: brackets that start their trials at later rungs.
    pub hyperband: bool,
    /// `kind = "median"`: rungs every `interval` epochs, and the median rule at each.
    pub median: Option<MedianRule>,
}

/// Optuna's `MedianPruner` settings, over epochs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MedianRule {
    /// Rungs at `min_epochs`, `min_epochs + interval`, ...
    pub interval: usize,
    /// No trial is stopped at a rung until this many trials reached it before.
    pub n_startup_trials: usize,
}

const PRUNERS: &[&str] = &["asha", "hyperband", "median"];

/// A `pruner` table as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPruner {
    /// Checked before parsing (`PRUNERS`); required here so a table without it is an error.
    kind: String,
    #[serde(default = "one")]
    min_epochs: usize,
    /// `asha` and `hyperband` only (3 when left out).
    eta: Option<usize>,
    /// `median` only (1 when left out).
    interval: Option<usize>,
    /// `median` only (5 when left out, as Optuna's).
    n_startup_trials: Option<usize>,
}

fn one() -> usize {
    1
}

impl Validate for RawPruner {}

/// The search of model `model` of an experiment: the spec and what is needed to turn a point
/// of its space into a run exactly as a sweep point is.
#[derive(Clone)]
pub struct ModelSearch {
    /// Index of the `[[model]]`.
    pub model: usize,
    /// The model's display name.
    pub name: String,
    /// The name, then `-<sweep point id>` when the experiment sweeps (one search per point).
    pub label: String,
    pub spec: SearchSpec,
    /// Where the tuned runs go among the experiment's runs (so rows keep the config's order).
    pub slot: usize,
    tree: Value,
    sm: Arc<SourceMap>,
    /// The sweep point's overrides (empty without a sweep).
    base: sweep::Overrides,
}

impl ModelSearch {
    /// The tuned runs' point id: `tuned`, or `tuned-<sweep point id>` under a sweep.
    pub fn tuned_point(&self) -> String {
        if self.base.is_empty() {
            "tuned".into()
        } else {
            format!("tuned-{}", sweep::point_id(&self.base))
        }
    }

    /// The tuned runs' point name: `tuned`, or `tuned,<sweep point name>` under a sweep.
    pub fn tuned_name(&self) -> String {
        if self.base.is_empty() {
            "tuned".into()
        } else {
            format!("tuned,{}", sweep::point_name(&self.base))
        }
    }

    /// The run of this model with `values` (model key -> value) set, validated like a sweep
    /// point; its overrides, and so its point id, are the sweep point's and `model.<i>.<key>`
    /// of each value.
    pub fn run_at(&self, values: &BTreeMap<String, Value>, seed: u64) -> Result<RunSpec, ConfigError> {
        let mut t = self.tree.clone();
        let mut overrides = self.base.clone();
        for (k, v) in values {
            let full = format!("model.{}.{k}", self.model);
            sweep::set_path(&mut t, &full, v.clone()).map_err(|e| self.sm.error(&full, e.0, None))?;
            overrides.insert(full, v.clone());
        }
        validate_run(&t, self.model, &overrides, seed, &self.sm)
    }
}

/// A `[search]` table as written (all keys optional, so a model's table can override the
/// experiment's key by key).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    kind: Option<String>,
    trials: Option<usize>,
    objective: Option<String>,
    direction: Option<String>,
    seed: Option<u64>,
    n_startup_trials: Option<usize>,
    n_ei_candidates: Option<usize>,
    multivariate: Option<bool>,
    batch: Option<usize>,
    trial_seeds: Option<usize>,
    space: Option<Map<String, Value>>,
    pruner: Option<Value>,
    enqueue: Option<Vec<Map<String, Value>>>,
}

impl Validate for Raw {}

/// The search of `[[model]]` `mi` at one sweep point, or `None` when its merged space is
/// empty (the model is not searched). `top` is the `[search]` table, `own` the model's
/// `search` (both removed from `tree`, which has the sweep point's values set); `base` are the
/// sweep point's overrides and `slot` the place among the experiment's runs where the tuned
/// runs go. A key both swept and searched is an error: the search would overwrite the sweep.
#[allow(clippy::too_many_arguments)]
pub(super) fn parse_model(
    tree: &Value,
    top: Option<&Value>,
    own: Option<&Value>,
    mi: usize,
    base: &sweep::Overrides,
    slot: usize,
    section: &ExperimentSection,
    sm: &SourceMap,
) -> Result<Option<ModelSearch>, ConfigError> {
    let top_raw: Raw = match top {
        Some(v) => params::parse(v).map_err(|e| param_err(sm, "search", e))?,
        None => Raw::default(),
    };
    let shared = Arc::new(SourceMap::new(&sm.file, sm.text().to_string()));
    {
        let at_model = format!("model.{mi}.search");
        let own_raw: Raw = match own {
            Some(v) => params::parse(v).map_err(|e| param_err(sm, &at_model, e))?,
            None => Raw::default(),
        };
        // Each space entry with the key it was written at, for errors.
        let mut space: BTreeMap<String, (Value, String)> = BTreeMap::new();
        for (raw, at) in [(&top_raw, "search"), (&own_raw, at_model.as_str())] {
            for (k, v) in raw.space.iter().flatten() {
                space.insert(k.clone(), (v.clone(), format!("{at}.space.{k}")));
            }
        }
        if space.is_empty() {
            return Ok(None);
        }
        let at = if own.is_some() { at_model.clone() } else { "search".to_string() };
        for (k, (_, key)) in &space {
            if let Some(swept) = swept_as(tree, base, mi, k) {
                return Err(sm.error(
                    key,
                    format!("`{k}` is both swept (`{swept}`) and searched: the search would set it over every sweep point"),
                    Some("keep it in one of the two: the search space, or the sweep (one search per swept value)".into()),
                ));
            }
        }
        let pick = |f: fn(&Raw) -> Option<String>| f(&own_raw).or_else(|| f(&top_raw));
        let kind = match pick(|r| r.kind.clone()).as_deref().unwrap_or("tpe") {
            "random" => SearchKind::Random,
            "tpe" => SearchKind::Tpe,
            "grid" => SearchKind::Grid,
            other => {
                let key = key_of(&own_raw, |r| r.kind.is_some(), &at_model, "kind");
                let hint = nearest(other, KINDS.iter().copied())
                    .map_or(format!("kinds: {}", KINDS.join(", ")), |n| format!("did you mean `{n}`? (kinds: {})", KINDS.join(", ")));
                return Err(sm.error(&key, format!("unknown search kind `{other}`"), Some(hint)));
            }
        };
        let direction = match pick(|r| r.direction.clone()).as_deref().unwrap_or("maximize") {
            "maximize" => Direction::Maximize,
            "minimize" => Direction::Minimize,
            other => {
                let key = key_of(&own_raw, |r| r.direction.is_some(), &at_model, "direction");
                let hint = nearest(other, ["maximize", "minimize"]).map_or("maximize or minimize".to_string(), |n| format!("did you mean `{n}`?"));
                return Err(sm.error(&key, format!("unknown direction `{other}`"), Some(hint)));
            }
        };
        let mut dists = Vec::new();
        for (k, (v, key)) in &space {
            let d = parse_dist(v, key, sm)?;
            if kind == SearchKind::Grid && !matches!(d, Dist::Choice(_)) {
                return Err(sm.error(
                    key,
                    "a grid search tries listed values only",
                    Some("write `{ choice = [...] }`, or use kind = \"random\" or \"tpe\"".into()),
                ));
            }
            dists.push((k.clone(), d));
        }
        let grid_size: usize = dists.iter().map(|(_, d)| if let Dist::Choice(c) = d { c.len() } else { 1 }).product();
        let num = |f: fn(&Raw) -> Option<usize>| f(&own_raw).or_else(|| f(&top_raw));
        let trials = num(|r| r.trials).unwrap_or(if kind == SearchKind::Grid { grid_size } else { 20 });
        let trials_key = key_of(&own_raw, |r| r.trials.is_some(), &at_model, "trials");
        if trials == 0 {
            return Err(sm.error(&trials_key, "must be at least 1", None));
        }
        if kind == SearchKind::Grid && trials > grid_size {
            return Err(sm.error(
                &trials_key,
                format!("the grid has {grid_size} points, fewer than {trials} trials"),
                Some(format!("set trials = {grid_size} or leave it out")),
            ));
        }
        let batch = num(|r| r.batch).unwrap_or(1);
        if batch == 0 {
            return Err(sm.error(&key_of(&own_raw, |r| r.batch.is_some(), &at_model, "batch"), "must be at least 1", None));
        }
        let trial_seeds = num(|r| r.trial_seeds).unwrap_or(1);
        let trial_seeds_key = key_of(&own_raw, |r| r.trial_seeds.is_some(), &at_model, "trial_seeds");
        let listed = section.seeds.len();
        if trial_seeds == 0 {
            return Err(sm.error(&trial_seeds_key, "must be at least 1", None));
        }
        if trial_seeds > listed {
            return Err(sm.error(
                &trial_seeds_key,
                format!("each trial trains with the first {trial_seeds} of `[experiment] seeds`, which lists {listed}"),
                Some(format!("list at least {trial_seeds} seeds in `[experiment] seeds`, or set trial_seeds = {listed}")),
            ));
        }
        let n_ei_candidates = num(|r| r.n_ei_candidates).unwrap_or(24);
        if n_ei_candidates == 0 {
            return Err(sm.error(&key_of(&own_raw, |r| r.n_ei_candidates.is_some(), &at_model, "n_ei_candidates"), "must be at least 1", None));
        }
        let objective = match pick(|r| r.objective.clone()) {
            Some(o) => o,
            None => return Err(sm.error(&at, "missing `objective`", Some("name the validation metric to optimise, e.g. objective = \"NDCG@10\"".into()))),
        };
        let spec = SearchSpec {
            kind,
            trials,
            objective,
            direction,
            seed: own_raw.seed.or(top_raw.seed).unwrap_or(42),
            n_startup_trials: num(|r| r.n_startup_trials).unwrap_or(10),
            n_ei_candidates,
            multivariate: own_raw.multivariate.or(top_raw.multivariate).unwrap_or(true),
            batch,
            trial_seeds,
            space: dists,
            pruner: None,
            enqueued: Vec::new(),
        };
        let name = tree["model"][mi].get("name").or_else(|| tree["model"][mi].get("kind")).and_then(Value::as_str).unwrap_or("").to_string();
        let label = if base.is_empty() { name.clone() } else { format!("{name}-{}", sweep::point_id(base)) };
        let mut search = ModelSearch { model: mi, name, label, spec, tree: tree.clone(), sm: shared.clone(), base: base.clone(), slot };
        let pruner_key = key_of(&own_raw, |r| r.pruner.is_some(), &at_model, "pruner");
        if let Some(v) = own_raw.pruner.as_ref().or(top_raw.pruner.as_ref()) {
            let p = parse_pruner(v, &pruner_key, &search, section, sm)?;
            if let Some((_, at)) = space.get(p.epoch_key) {
                return Err(sm.error(
                    at,
                    format!("with a pruner the model's `{}` is the resource each trial earns, not a key to search", p.epoch_key),
                    Some(format!("set `{}` on the model to the most a trial may train, and drop it from the space", p.epoch_key)),
                ));
            }
            search.spec.pruner = Some(p);
        }
        check_search(&search, &space, &at, &key_of(&own_raw, |r| r.objective.is_some(), &at_model, "objective"), section, sm)?;
        if let Some(tables) = own_raw.enqueue.as_ref().or(top_raw.enqueue.as_ref()) {
            let key = key_of(&own_raw, |r| r.enqueue.is_some(), &at_model, "enqueue");
            search.spec.enqueued = parse_enqueue(tables, &search, &key, section, sm)?;
        }
        Ok(Some(search))
    }
}

/// `enqueue = [{ key = value, ... }, ...]`: points tried first, in order (Optuna's
/// `enqueue_trial`). A key a table leaves out takes the model's value as written, so
/// `enqueue = [{}]` tries the model's own configuration first; every value must lie inside its
/// key's distribution (a listed choice, the range) so that the samplers can reason about it.
fn parse_enqueue(
    tables: &[Map<String, Value>],
    s: &ModelSearch,
    key: &str,
    section: &ExperimentSection,
    sm: &SourceMap,
) -> Result<Vec<BTreeMap<String, Value>>, ConfigError> {
    if s.spec.kind == SearchKind::Grid {
        return Err(sm.error(key, "a grid search tries every point of its lists already", Some("drop `enqueue`, or use kind = \"random\" or \"tpe\"".into())));
    }
    let base = s.run_at(&BTreeMap::new(), section.seeds[0])?;
    let mut out = Vec::new();
    for (n, table) in tables.iter().enumerate() {
        // Errors name the `enqueue` line; with several points, also which one.
        let (at, which) = (key, if tables.len() > 1 { format!(" (enqueued point {n})") } else { String::new() });
        if let Some(k) = table.keys().find(|k| !s.spec.space.iter().any(|(sk, _)| sk == *k)) {
            let hint = nearest(k, s.spec.space.iter().map(|(sk, _)| sk.as_str())).map_or("an enqueued point sets keys of the space only".to_string(), |n| {
                format!("did you mean `{n}`? (an enqueued point sets keys of the space only)")
            });
            return Err(sm.error(at, format!("`{k}` is not a key of the search space{which}"), Some(hint)));
        }
        let mut point = BTreeMap::new();
        for (k, d) in &s.spec.space {
            let value = match table.get(k) {
                Some(v) => v.clone(),
                None => match k.split('.').try_fold(&base.model.params, |v, seg| v.get(seg)) {
                    Some(v) if !v.is_null() => v.clone(),
                    _ => return Err(sm.error(at, format!("`{k}` has no value in model `{}` as written{which}", s.name), Some(format!("give it: {k} = ...")))),
                },
            };
            if !inside(d, &value) {
                let whose = if table.contains_key(k) { "" } else { " (the model's value as written)" };
                return Err(sm.error(
                    at,
                    format!("{k} = {value}{whose} lies outside its search distribution{which}"),
                    Some("widen the space, or enqueue a value inside it".into()),
                ));
            }
            point.insert(k.clone(), value);
        }
        out.push(point);
    }
    Ok(out)
}

/// The sweep key of `base` that sets model `mi`'s `key` (by index or by name), if any.
fn swept_as(tree: &Value, base: &sweep::Overrides, mi: usize, key: &str) -> Option<String> {
    let models = tree["model"].as_array().map(Vec::as_slice).unwrap_or_default();
    base.keys()
        .find(|k| {
            let mut segs = k.splitn(3, '.');
            let (Some("model"), Some(m), Some(rest)) = (segs.next(), segs.next(), segs.next()) else { return false };
            rest == key && (m.parse::<usize>().ok() == Some(mi) || sweep::named(models, m) == Some(mi))
        })
        .cloned()
}

/// A `pruner` table, checked against the searched model: it must be able to stop and resume
/// at an epoch and train more epochs than the first rung. (Its epoch count is the resource,
/// so not a key of the space: the caller checks that.)
fn parse_pruner(v: &Value, key: &str, s: &ModelSearch, section: &ExperimentSection, sm: &SourceMap) -> Result<PrunerSpec, ConfigError> {
    if let Some(kind) = v.get("kind").and_then(Value::as_str).filter(|k| !PRUNERS.contains(k)) {
        let hint = nearest(kind, PRUNERS.iter().copied()).map_or(format!("pruners: {}", PRUNERS.join(", ")), |n| format!("did you mean `{n}`?"));
        return Err(sm.error(&format!("{key}.kind"), format!("unknown pruner `{kind}`"), Some(hint)));
    }
    let raw: RawPruner = params::parse(v).map_err(|e| param_err(sm, key, e))?;
    if raw.min_epochs == 0 {
        return Err(sm.error(&format!("{key}.min_epochs"), "must be at least 1", None));
    }
    let median = raw.kind == "median";
    let (wrong, for_kinds) = if median {
        (raw.eta.map(|_| "eta"), "asha and hyperband")
    } else {
        (raw.interval.map(|_| "interval").or(raw.n_startup_trials.map(|_| "n_startup_trials")), "median")
    };
    if let Some(k) = wrong {
        return Err(sm.error(
            &format!("{key}.{k}"),
            format!("`{k}` is a setting of the {for_kinds} pruners, not of `{}`", raw.kind),
            Some(format!("drop `{k}`")),
        ));
    }
    let eta = raw.eta.unwrap_or(3);
    if eta < 2 {
        return Err(sm.error(&format!("{key}.eta"), format!("must be at least 2 (the top 1/eta of a rung goes on), got {eta}"), None));
    }
    if raw.interval == Some(0) {
        return Err(sm.error(&format!("{key}.interval"), "must be at least 1 (epochs between rungs)", None));
    }
    let median = median.then(|| MedianRule { interval: raw.interval.unwrap_or(1), n_startup_trials: raw.n_startup_trials.unwrap_or(5) });
    let base = s.run_at(&BTreeMap::new(), section.seeds[0])?;
    let Some(epoch_key) = base.model.model.epoch_key() else {
        let can: Vec<&str> =
            crate::models::KINDS.iter().filter(|k| (k.parse)(&Value::Object(Map::new())).is_ok_and(|(m, _)| m.epoch_key().is_some())).map(|k| k.kind).collect();
        return Err(sm.error(
            key,
            format!("model `{}` (kind `{}`) cannot stop after an epoch and resume, so it cannot be pruned", s.name, base.model.kind.kind),
            Some(format!("drop the pruner for this model (kinds that can be pruned: {})", can.join(", "))),
        ));
    };
    let max_epochs = base.model.params.get(epoch_key).and_then(Value::as_u64).unwrap_or(0) as usize;
    if raw.min_epochs >= max_epochs {
        return Err(sm.error(
            &format!("{key}.min_epochs"),
            format!("the first rung ({} epochs) is not below the model's {epoch_key} = {max_epochs}: nothing would be pruned", raw.min_epochs),
            Some(format!("lower min_epochs, or raise the model's `{epoch_key}`")),
        ));
    }
    Ok(PrunerSpec { min_epochs: raw.min_epochs, eta, epoch_key, max_epochs, hyperband: raw.kind == "hyperband", median })
}

/// The key a setting was written at: the model's table when it set it, else `[search]`.
fn key_of(own: &Raw, set: fn(&Raw) -> bool, at_model: &str, key: &str) -> String {
    if set(own) {
        format!("{at_model}.{key}")
    } else {
        format!("search.{key}")
    }
}

/// The search's model must accept every space key at the ends of its range (each choice), the
/// split must hold validation interactions, and the objective must be a column the validation
/// evaluation computes.
fn check_search(
    s: &ModelSearch,
    space: &BTreeMap<String, (Value, String)>,
    at: &str,
    objective_key: &str,
    section: &ExperimentSection,
    sm: &SourceMap,
) -> Result<(), ConfigError> {
    let seed = section.seeds[0];
    // The model as written must be valid on its own, so an error below is the space key's.
    let base = s.run_at(&BTreeMap::new(), seed)?;
    for (k, d) in &s.spec.space {
        let key = &space[k].1;
        for v in ends(d) {
            let one = BTreeMap::from([(k.clone(), v.clone())]);
            if let Err(e) = s.run_at(&one, seed) {
                let message = format!("model `{}` does not accept {k} = {v}: {}", s.name, e.message);
                return Err(ConfigError { line: sm.line_of(key), key: key.clone(), message, hint: e.hint, file: e.file });
            }
        }
    }
    let (skind, sp) = (base.split.kind.kind, &base.split.params);
    let node_classes = base.metrics.task.has("node_classification");
    if node_classes && base.metrics.task.0.len() > 1 {
        return Err(sm.error(
            "metrics.task",
            "a search chooses on one task's validation data, but [metrics] task lists several",
            Some("search with task = \"node_classification\" alone".into()),
        ));
    }
    let has_valid = match skind {
        _ if node_classes => base.metrics.valid_fraction > 0.0,
        "leave_last_out" => sp.get("validation") == Some(&Value::Bool(true)),
        "temporal" | "random" => sp.get("valid_ratio").and_then(Value::as_f64).is_some_and(|r| r > 0.0),
        _ => false,
    };
    if node_classes && !has_valid {
        return Err(sm.error(
            at,
            "a search chooses on validation data, but node classification holds no validation nodes: the test nodes would choose",
            Some("set [metrics] valid_fraction, e.g. valid_fraction = 0.2 (a fixed share of the labelled nodes)".into()),
        ));
    }
    if !has_valid {
        let hint = match skind {
            "leave_last_out" => "set [split] validation = true (each user's second-to-last interaction validates)".to_string(),
            "temporal" | "random" => "set [split] valid_ratio, e.g. valid_ratio = 0.1".to_string(),
            _ => "use [split] kind = \"leave_last_out\" with validation = true, or temporal / random with valid_ratio".to_string(),
        };
        return Err(sm.error(
            at,
            format!("a search chooses on validation interactions, but split `{skind}` holds none: the test interactions would choose"),
            Some(hint),
        ));
    }
    let columns: Vec<String> = if base.metrics.task.has("retrieval") {
        base.metrics.metrics.iter().flat_map(|&m| base.metrics.k.iter().map(move |&k| crate::metrics::column(m, k))).collect()
    } else if node_classes {
        vec!["Macro-F1".into(), "Micro-F1".into()]
    } else {
        Vec::new()
    };
    if !columns.contains(&s.spec.objective) {
        let o = &s.spec.objective;
        let hint = if columns.is_empty() {
            "the objective is a ranking metric of [metrics] task \"retrieval\", or Macro-F1 / Micro-F1 of \"node_classification\"".to_string()
        } else {
            let from = if node_classes { "node classification gives" } else { "[metrics] k and metrics give" };
            match nearest(o, columns.iter().map(String::as_str)) {
                Some(n) => format!("did you mean `{n}`? ({from}: {})", columns.join(", ")),
                None => format!("{from}: {}", columns.join(", ")),
            }
        };
        return Err(sm.error(objective_key, format!("`{o}` is not a metric the validation evaluation computes"), Some(hint)));
    }
    Ok(())
}
