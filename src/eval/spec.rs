//! `[metrics]`: which tasks the eval stage runs and how (cut-offs, metrics, exclusions, the
//! graph tasks' protocol). Owned by evaluation, like a model owns its parameters; the config
//! layer parses it and checks each task against the dataset and split.

use super::kind_names;
use crate::ensure_param;
use crate::metrics::MetricName;
use crate::params::{nearest, ParamError, Validate};
use serde::{Deserialize, Serialize};

/// The tasks the eval stage runs, by their names in [`crate::eval::KINDS`]: one name
/// (`task = "node_classification"`) or several (`task = ["retrieval", "similarity"]`), whose
/// columns share one row. Canonically a single name is a string, so eval keys stay what
/// they were when `task` held one name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tasks(pub Vec<String>);

impl Default for Tasks {
    fn default() -> Self {
        Tasks(vec!["retrieval".into()])
    }
}

impl Tasks {
    /// Whether the run includes the task `name`.
    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|t| t == name)
    }
}

impl Serialize for Tasks {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [one] => s.serialize_str(one),
            many => many.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Tasks {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(String),
            Many(Vec<String>),
        }
        match OneOrMany::deserialize(d) {
            Ok(OneOrMany::One(t)) => Ok(Tasks(vec![t])),
            Ok(OneOrMany::Many(v)) => Ok(Tasks(v)),
            Err(_) => Err(serde::de::Error::custom("expected a task name or a list of task names")),
        }
    }
}

/// `[metrics]`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSection {
    // The graph-task keys are left out of the canonical form at their defaults, so the eval
    // keys of retrieval runs are what they were before the keys existed.
    #[serde(skip_serializing_if = "is_retrieval")]
    pub task: Tasks,
    /// Cut-offs.
    pub k: Vec<usize>,
    pub metrics: Vec<MetricName>,
    /// Never recommend a user's training (and validation) items.
    pub exclude_seen: bool,
    /// Users timed one query at a time for the latency percentiles.
    pub latency_queries: usize,
    /// Node classification: fraction of the labelled nodes that trains the classifier.
    #[serde(skip_serializing_if = "is_half")]
    pub train_fraction: f64,
    /// Node classification: random train/test splits averaged over.
    #[serde(skip_serializing_if = "is_ten")]
    pub repeats: usize,
    /// Node classification: fraction of the labelled nodes set aside (the same draw for every
    /// run) for a search to choose on; the train/test splits come from the others.
    #[serde(skip_serializing_if = "is_zero")]
    pub valid_fraction: f64,
    /// Similarity task: item pairs sampled (seeded by the run's seed).
    #[serde(skip_serializing_if = "is_default_pairs")]
    pub similarity_pairs: usize,
    /// Similarity task: the item feature (categorical or multi-hot) whose equal values make
    /// a "same category" pair; by default a graph's node labels, else the first categorical,
    /// else the first multi-hot item feature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub similarity_by: Option<String>,
    /// Map task: t-SNE perplexity, gradient-descent iterations and the most items mapped
    /// (a seeded sample of the items with training data when there are more).
    #[serde(skip_serializing_if = "is_default_map")]
    pub map: MapParams,
    /// Retrieval: also rank each test item among sampled negatives ([`super::sampled`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sampled: Option<SampledEval>,
}

/// `[metrics] sampled = { negatives = 100, by = "uniform", seed = 42 }`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SampledEval {
    pub negatives: usize,
    pub by: SampleBy,
    pub seed: u64,
}

impl Default for SampledEval {
    fn default() -> Self {
        SampledEval { negatives: 100, by: SampleBy::Uniform, seed: 42 }
    }
}

/// How sampled negatives are drawn.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SampleBy {
    Uniform,
    /// In proportion to training interactions.
    Popularity,
}

/// `[metrics] map = { perplexity = 30, iterations = 1000, max_items = 10000 }`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MapParams {
    pub perplexity: f64,
    pub iterations: usize,
    pub max_items: usize,
    /// Barnes-Hut accuracy (0 would be exact; 0.5 as scikit-learn).
    pub theta: f64,
    /// Gradient step; 0 = auto, max(2n/3, 200) for n items (see `eval::map`).
    pub learning_rate: f64,
}

impl Default for MapParams {
    fn default() -> Self {
        MapParams { perplexity: 30.0, iterations: 1000, max_items: 10_000, theta: 0.5, learning_rate: 0.0 }
    }
}

fn is_default_map(m: &MapParams) -> bool {
    *m == MapParams::default()
}

/// Default of `similarity_pairs`.
pub const DEFAULT_PAIRS: usize = 100_000;

fn is_default_pairs(x: &usize) -> bool {
    *x == DEFAULT_PAIRS
}

fn is_retrieval(t: &Tasks) -> bool {
    *t == Tasks::default()
}
fn is_half(x: &f64) -> bool {
    *x == 0.5
}
fn is_zero(x: &f64) -> bool {
    *x == 0.0
}
fn is_ten(x: &usize) -> bool {
    *x == 10
}

impl Default for MetricsSection {
    fn default() -> Self {
        MetricsSection {
            task: Tasks::default(),
            k: vec![10, 20, 50],
            metrics: MetricName::ALL.to_vec(),
            exclude_seen: true,
            latency_queries: 1000,
            train_fraction: 0.5,
            repeats: 10,
            valid_fraction: 0.0,
            similarity_pairs: DEFAULT_PAIRS,
            similarity_by: None,
            map: MapParams::default(),
            sampled: None,
        }
    }
}

impl Validate for MetricsSection {
    fn validate(&self) -> Result<(), ParamError> {
        ensure_param!(!self.k.is_empty(), "k", "needs at least one cut-off, e.g. k = [10, 20]");
        ensure_param!(self.k.iter().all(|&k| k > 0), "k", "cut-offs must be positive, got {:?}", self.k);
        ensure_param!(!self.metrics.is_empty(), "metrics", "needs at least one metric");
        ensure_param!(self.train_fraction > 0.0 && self.train_fraction < 1.0, "train_fraction", "must be in (0, 1), got {}", self.train_fraction);
        ensure_param!(self.repeats >= 1, "repeats", "must be at least 1");
        ensure_param!((0.0..1.0).contains(&self.valid_fraction), "valid_fraction", "must be in [0, 1), got {}", self.valid_fraction);
        ensure_param!(
            self.valid_fraction == 0.0 || self.task.has("node_classification"),
            "valid_fraction",
            "holds out labelled nodes for task \"node_classification\", which [metrics] task does not list; other tasks take validation data from [split]"
        );
        let m = &self.map;
        ensure_param!(m.perplexity.is_finite() && m.perplexity >= 2.0 && m.perplexity <= 200.0, "map.perplexity", "must be in [2, 200], got {}", m.perplexity);
        ensure_param!((50..=100_000).contains(&m.iterations), "map.iterations", "must be in [50, 100000], got {}", m.iterations);
        ensure_param!((10..=200_000).contains(&m.max_items), "map.max_items", "must be in [10, 200000], got {}", m.max_items);
        ensure_param!(m.theta.is_finite() && m.theta > 0.0 && m.theta <= 1.0, "map.theta", "must be in (0, 1], got {}", m.theta);
        ensure_param!(m.learning_rate.is_finite() && m.learning_rate >= 0.0, "map.learning_rate", "must be >= 0 (0 = auto), got {}", m.learning_rate);
        ensure_param!((100..=100_000_000).contains(&self.similarity_pairs), "similarity_pairs", "must be in [100, 100000000], got {}", self.similarity_pairs);
        if let Some(sm) = &self.sampled {
            ensure_param!(sm.negatives >= 1, "sampled.negatives", "must be at least 1, got {}", sm.negatives);
            let kmax = self.k.iter().copied().max().unwrap_or(0);
            ensure_param!(
                kmax <= sm.negatives,
                "sampled.negatives",
                "{} negatives rank each test item among {} items, fewer than the cut-off k = {kmax}",
                sm.negatives,
                sm.negatives + 1
            );
        }
        ensure_param!(!self.task.0.is_empty(), "task", "needs at least one task; tasks: {}", kind_names().join(", "));
        for (i, t) in self.task.0.iter().enumerate() {
            let known = kind_names();
            if !known.contains(&t.as_str()) {
                let hint = match nearest(t, known.iter().copied()) {
                    Some(n) => format!("did you mean `{n}`?"),
                    None => format!("tasks: {}", known.join(", ")),
                };
                return Err(ParamError::new(
                    if self.task.0.len() == 1 { "task".to_string() } else { format!("task.{i}") },
                    format!("unknown task `{t}`; {hint}"),
                ));
            }
            ensure_param!(!self.task.0[..i].contains(t), "task", "`{t}` is listed twice");
        }
        Ok(())
    }
}
