//! Evaluation: one trait ([`Task`]), one registry ([`KINDS`]) mapping the names in
//! `[metrics] task` to an implementation, one file per task. The eval stage loads the run's
//! vectors (and its index, when a task searches one), runs each named task and merges their
//! columns into one [`EvalSummary`].

pub mod ann;
pub mod link_prediction;
pub mod map;
pub mod node_classification;
pub mod retrieval;
pub mod sampled;
pub mod similarity;
pub mod spec;

use crate::data::{Dataset, Split};
use crate::index::AnnIndex;
use crate::metrics::latency::LatencyStats;
use crate::models::{EpochLog, Trained};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
pub use spec::{MetricsSection, Tasks};
use std::collections::BTreeMap;
use std::path::Path;

/// Which held-out interactions an eval stage scores. Model selection (the search) reads
/// `Validation` only, so choosing a configuration never looks at the test interactions; the
/// tables report `Test`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EvalTarget {
    #[default]
    Test,
    Validation,
}

impl EvalTarget {
    /// The split as a task should see it for this target. For validation the validation
    /// interactions take the test list's place and no test interaction is left in it, so no
    /// task can read one; the user's training items stay excluded as usual.
    pub fn view(self, split: &Split) -> std::borrow::Cow<'_, Split> {
        match self {
            EvalTarget::Test => std::borrow::Cow::Borrowed(split),
            EvalTarget::Validation => std::borrow::Cow::Owned(Split {
                n_users: split.n_users,
                n_items: split.n_items,
                train: split.train.clone(),
                valid: Vec::new(),
                test: split.valid.clone(),
                candidates: split.candidates.clone(),
            }),
        }
    }
}

/// What a task evaluates.
pub struct EvalInput<'a> {
    pub dataset: &'a Dataset,
    pub split: &'a Split,
    pub trained: &'a Trained,
    /// The run's index with its search parameters applied, when some task
    /// [uses one](Task::uses_index).
    pub index: Option<&'a dyn AnnIndex>,
    /// Whether that index is exact (flat); an approximate one is also scored against exact
    /// search.
    pub index_exact: bool,
    pub metrics: &'a MetricsSection,
    /// The run's split parameters (link prediction recomputes its seeded edge split).
    pub split_params: &'a serde_json::Value,
    /// The run's seed.
    pub seed: u64,
    /// Which held-out data it scores (the split is already [`EvalTarget::view`]ed; tasks
    /// with their own held-out data, such as node classification, read this).
    pub target: EvalTarget,
    /// Whether the model embeds items from their content ([`crate::models::Model::scores_unseen_items`]).
    pub scores_unseen_items: bool,
    /// Whether the model's vectors are no embedding ([`crate::models::Model::geometry_note`]:
    /// an item-item matrix's columns, a popularity count): then the columns that measure
    /// embedding geometry (similarity distribution, map, ILD) are left out.
    pub no_geometry: bool,
}

/// What one task measured.
#[derive(Default)]
pub struct TaskResult {
    /// Users (or labelled nodes, or scored node pairs) behind each mean.
    pub users: usize,
    /// Column (e.g. `Recall@10`) -> value.
    pub metrics: BTreeMap<String, f64>,
    pub latency: Option<LatencyStats>,
    pub per_user: Option<PerUser>,
    /// Named series for plots (e.g. a histogram's counts).
    pub series: BTreeMap<String, Vec<f64>>,
    /// Files kept in the eval stage's cache entry for the report (e.g. `map.json`).
    pub files: BTreeMap<String, Vec<u8>>,
    /// Why the task has no numbers for this model (e.g. it cannot score unseen items): the
    /// report shows the reason in the row instead of metrics.
    pub unsupported: Option<String>,
}

/// A config-time mismatch between a task and the run's dataset or split.
pub struct Mismatch {
    /// The config key to blame, e.g. `split.kind`.
    pub key: &'static str,
    pub message: String,
    pub hint: String,
}

/// One evaluation.
pub trait Task: Sync {
    /// The name in `[metrics] task`.
    fn name(&self) -> &'static str;
    /// One line for `runner kinds`.
    fn about(&self) -> &'static str;
    /// Whether the task fits a dataset and split kind, checked before anything runs.
    fn check(&self, _dataset_kind: &str, _split_kind: &str) -> Result<(), Mismatch> {
        Ok(())
    }
    /// Whether [`Task::evaluate`] searches the run's index (only then is it loaded).
    fn uses_index(&self) -> bool {
        false
    }
    /// Whether the task draws random numbers from the run's seed (then the seed is part of
    /// the eval key, also for models whose training ignores it).
    fn uses_seed(&self) -> bool {
        false
    }
    /// Whether the task reads the dataset's interactions (not only the split's): then the
    /// executor keeps them until this task has run (see `pipeline::stages`).
    fn reads_interactions(&self) -> bool {
        false
    }
    fn evaluate(&self, input: &EvalInput) -> Result<TaskResult>;
}

/// The registry: adding a task is one file and one line here.
pub static KINDS: &[&dyn Task] =
    &[&retrieval::Retrieval, &node_classification::NodeClassification, &link_prediction::LinkPrediction, &similarity::Similarity, &map::Map, &ann::Ann];

pub fn lookup(name: &str) -> Option<&'static dyn Task> {
    KINDS.iter().copied().find(|t| t.name() == name)
}

pub fn kind_names() -> Vec<&'static str> {
    KINDS.iter().map(|t| t.name()).collect()
}

/// The items (rows `0..n_items`) with at least one training interaction, ascending: the
/// vectors the analysis tasks look at (an untrained item keeps its initial vector).
pub fn trained_items(split: &Split, n_items: usize) -> Vec<usize> {
    let mut seen = vec![false; n_items];
    for it in &split.train {
        if let Some(s) = seen.get_mut(it.item as usize) {
            *s = true;
        }
    }
    (0..n_items).filter(|&i| seen[i]).collect()
}

/// Whether a dataset kind holds a graph (the graph tasks need one).
pub fn is_graph(dataset_kind: &str) -> bool {
    dataset_kind == "edges"
}

/// The mismatch of a task that needs interactions (held-out items, trained items) with a
/// vectors dataset, which has none, if `dataset_kind` is one.
pub fn needs_interactions(task: &str, dataset_kind: &str) -> Result<(), Mismatch> {
    if crate::data::vectors::is_vectors(dataset_kind) {
        return Err(Mismatch {
            key: "metrics.task",
            message: format!("task `{task}` needs users' interactions, but a vectors dataset has only queries and their true neighbours"),
            hint: "use task = \"ann\" (the default for kind = \"vectors\")".into(),
        });
    }
    Ok(())
}

/// What the eval stage leaves for the report.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct EvalSummary {
    /// Users with at least one test item, the denominator of every mean (graph tasks: the
    /// labelled nodes, or the scored node pairs).
    pub users: usize,
    /// Column (e.g. `Recall@10`) -> mean value.
    pub metrics: BTreeMap<String, f64>,
    pub latency: LatencyStats,
    pub train_seconds: f64,
    pub index_seconds: f64,
    pub index_bytes: u64,
    pub epochs: Vec<EpochLog>,
    /// Named series for plots (the similarity histograms); absent in older entries.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub series: BTreeMap<String, Vec<f64>>,
    /// Why the run has no metrics although it ran (see [`TaskResult::unsupported`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsupported: Option<String>,
}

/// Per-user metric values, kept as parquet (polars) with the users' original ids.
#[derive(Default)]
pub struct PerUser {
    pub users: Vec<String>,
    pub n_relevant: Vec<u32>,
    pub columns: BTreeMap<String, Vec<f64>>,
}

impl PerUser {
    pub fn write_parquet(&self, path: &Path) -> Result<()> {
        use polars::prelude::*;
        let mut cols: Vec<Column> = vec![Column::new("user".into(), self.users.clone()), Column::new("n_relevant".into(), self.n_relevant.clone())];
        for (name, vals) in &self.columns {
            cols.push(Column::new(name.as_str().into(), vals.clone()));
        }
        let mut df = DataFrame::new(self.users.len(), cols)?;
        let f = std::fs::File::create(path).with_context(|| format!("cannot create `{}`", path.display()))?;
        ParquetWriter::new(f).finish(&mut df).map_err(|e| anyhow::anyhow!("cannot write `{}`: {e} (is the disk full?)", path.display()))?;
        Ok(())
    }

    /// Reads what [`PerUser::write_parquet`] wrote.
    pub fn read_parquet(path: &Path) -> Result<Self> {
        use polars::prelude::*;
        let f = std::fs::File::open(path).with_context(|| format!("cannot open `{}`", path.display()))?;
        let df = ParquetReader::new(f).finish().map_err(|e| anyhow::anyhow!("cannot read `{}`: {e}", path.display()))?;
        let bad = |what: &str| anyhow::anyhow!("`{}`: {what}", path.display());
        let users = df.column("user").map_err(|_| bad("no `user` column"))?.str().map_err(|_| bad("`user` is not text"))?;
        let users: Vec<String> = users.iter().map(|u| u.unwrap_or_default().to_string()).collect();
        let n_relevant = df.column("n_relevant").map_err(|_| bad("no `n_relevant` column"))?.u32().map_err(|_| bad("`n_relevant` is not u32"))?;
        let n_relevant: Vec<u32> = n_relevant.iter().map(|v| v.unwrap_or(0)).collect();
        let mut columns = BTreeMap::new();
        for c in df.columns() {
            let name = c.name().to_string();
            if name == "user" || name == "n_relevant" {
                continue;
            }
            let vals = c.f64().map_err(|_| bad(&format!("`{name}` is not f64")))?;
            columns.insert(name, vals.iter().map(|v| v.unwrap_or(f64::NAN)).collect());
        }
        Ok(PerUser { users, n_relevant, columns })
    }
}

impl PerUser {
    /// Column `col` alone of what [`PerUser::write_parquet`] wrote (the report's box plot needs
    /// one metric, not every user's id and every column): `users` and `n_relevant` stay empty,
    /// so the result pairs with nothing (paired tests read the whole file).
    pub fn read_parquet_column(path: &Path, col: &str) -> Result<Self> {
        use polars::prelude::*;
        let f = std::fs::File::open(path).with_context(|| format!("cannot open `{}`", path.display()))?;
        let df = ParquetReader::new(f)
            .with_columns(Some(vec![col.to_string()]))
            .finish()
            .map_err(|e| anyhow::anyhow!("cannot read `{col}` of `{}`: {e}", path.display()))?;
        let vals = df.column(col).and_then(|c| c.f64().cloned()).map_err(|_| anyhow::anyhow!("`{}`: `{col}` is not f64", path.display()))?;
        Ok(PerUser { columns: [(col.to_string(), vals.iter().map(|v| v.unwrap_or(f64::NAN)).collect())].into(), ..Default::default() })
    }
}

/// What the eval stage writes: the summary, per-user values and the tasks' files.
pub struct EvalOutput {
    pub summary: EvalSummary,
    pub per_user: PerUser,
    pub files: BTreeMap<String, Vec<u8>>,
}

/// Runs `tasks` in order and merges what they measured; the first task that counts users
/// sets the summary's `users`, and the first that times queries its latency.
pub fn run_tasks(tasks: &[&dyn Task], input: &EvalInput) -> Result<EvalOutput> {
    let mut files = BTreeMap::new();
    let mut summary = EvalSummary::default();
    let mut per_user = PerUser::default();
    let mut have_latency = false;
    for t in tasks {
        let r = t.evaluate(input).with_context(|| format!("task `{}`", t.name()))?;
        if summary.users == 0 {
            summary.users = r.users;
        }
        if summary.unsupported.is_none() {
            summary.unsupported = r.unsupported;
        }
        summary.metrics.extend(r.metrics);
        summary.series.extend(r.series);
        files.extend(r.files);
        if let (false, Some(l)) = (have_latency, r.latency) {
            summary.latency = l;
            have_latency = true;
        }
        if let Some(p) = r.per_user {
            if per_user.users.is_empty() {
                per_user = p;
            }
        }
    }
    summary.epochs = input.trained.epochs.clone();
    Ok(EvalOutput { summary, per_user, files })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_per_user_column_reads_alone() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("per_user.parquet");
        let columns = [("NDCG@10".to_string(), vec![0.5, 0.0]), ("Recall@10".to_string(), vec![1.0, 0.0])].into();
        PerUser { users: vec!["a".into(), "b".into()], n_relevant: vec![1, 2], columns }.write_parquet(&p).unwrap();
        let one = PerUser::read_parquet_column(&p, "NDCG@10").unwrap();
        assert_eq!(one.columns.keys().collect::<Vec<_>>(), ["NDCG@10"]);
        assert_eq!(one.columns["NDCG@10"], vec![0.5, 0.0]);
        assert!(one.users.is_empty(), "no user ids: nothing to pair with");
        let e = PerUser::read_parquet_column(&p, "MRR@10").err().unwrap().to_string();
        assert!(e.contains("per_user.parquet"), "{e}");
    }
}
