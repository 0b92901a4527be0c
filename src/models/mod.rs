//! Recommendation models: one trait ([`Model`]), one registry ([`KINDS`]) mapping the config's
//! `[[model]] kind` to an implementation, one file per model.
//!
//! Every model ends as two matrices, item vectors and one query vector per user, whose inner
//! product (or cosine) ranks items. That single contract lets every model share the cache,
//! the ANN indexes and the metrics, and covers popularity (a 1-d "log popularity" vector),
//! Item2Vec, Node2Vec and the two-tower family alike.

pub mod als;
pub mod bpr;
pub mod ease;
pub mod item2vec;
pub mod item_space;
pub mod itemknn;
pub mod lightgcn;
pub mod neural;
pub mod node2vec;
pub mod passthrough;
#[cfg(test)]
pub mod planted;
pub mod popularity;
pub mod random;
pub mod sasrec;
pub mod valid_recall;

use crate::data::corpus::Corpus;
use crate::data::{Dataset, Split};
use crate::index::Metric;
use crate::linalg::Matrix;
use crate::params::ParamError;
use anyhow::Result;
use serde::{Deserialize, Serialize};

/// What a model is trained on.
pub struct TrainInput<'a> {
    pub dataset: &'a Dataset,
    pub split: &'a Split,
    /// The corpus stage's output when [`Model::corpus_params`] returned `Some`.
    pub corpus: Option<&'a Corpus>,
    /// Seed of this run (one of `experiment.seeds`).
    pub seed: u64,
    /// Show progress bars.
    pub progress: bool,
    /// The canonical `[sampler]` table (with `kind`), when the config has one.
    pub sampler: Option<&'a serde_json::Value>,
    /// Go on from this state instead of the initialisation (models with
    /// [`Model::epoch_key`] only): the result equals an uninterrupted training's.
    pub resume: Option<&'a Checkpoint>,
    /// Stop after this many epochs of the schedule the params describe (the learning rate
    /// still decays over all of them) and return a [`Checkpoint`]; `None` trains to the end.
    pub stop_epoch: Option<usize>,
}

impl<'a> TrainInput<'a> {
    /// A whole training from the initialisation.
    pub fn new(dataset: &'a Dataset, split: &'a Split, corpus: Option<&'a Corpus>, seed: u64) -> Self {
        TrainInput { dataset, split, corpus, seed, progress: false, sampler: None, resume: None, stop_epoch: None }
    }

    /// The epochs to train, `from..to`, for a model whose schedule has `epochs` of them:
    /// from the checkpoint's epoch (0 without one) to `stop_epoch` (the end without one).
    pub fn span(&self, epochs: usize) -> Result<(usize, usize)> {
        let from = self.resume.map_or(0, |c| c.epoch);
        let to = self.stop_epoch.map_or(epochs, |s| s.min(epochs));
        anyhow::ensure!(from <= to, "cannot resume from epoch {from} to stop at epoch {to}");
        Ok((from, to))
    }

    /// The checkpoint's table `name`, which must be `rows x cols`.
    pub fn resumed_table(&self, name: &str, rows: usize, cols: usize) -> Result<Option<Matrix>> {
        let Some(c) = self.resume else { return Ok(None) };
        let m = c.tables.iter().find(|(n, _)| n == name).map(|(_, m)| m.clone());
        let m = m.ok_or_else(|| anyhow::anyhow!("the checkpoint at epoch {} holds no `{name}` table", c.epoch))?;
        anyhow::ensure!((m.rows, m.cols) == (rows, cols), "the checkpoint's `{name}` table is {}x{}, this training's is {rows}x{cols}", m.rows, m.cols);
        Ok(Some(m))
    }
}

/// A model's state after some epochs of its schedule, enough to go on exactly where it
/// stopped: an ASHA promotion resumes from it instead of training again from zero.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Checkpoint {
    /// Epochs done.
    pub epoch: usize,
    /// The model's named tables (skip-gram: centre and context; ALS, BPR: users and items;
    /// the towers: their parameter store's values and optimiser state, `p<i>`, `t<i>`, ...,
    /// and early stopping's, `early*` and the best epoch's values `best_*`).
    pub tables: Vec<(String, Matrix)>,
}

/// Statistics of one training epoch, kept in the train stage's manifest.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct EpochLog {
    pub epoch: usize,
    /// Mean loss over the epoch's examples (pairs for skip-gram, rows for neural models).
    pub loss: f64,
    pub seconds: f64,
    /// Tokens (skip-gram) or examples (neural) per second.
    pub throughput: f64,
    /// Validation metrics measured after the epoch, by name (`valid_recall@10`; ALS and
    /// BPR), for the training figure; none for models that do not measure them.
    #[serde(default, flatten, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub valid: std::collections::BTreeMap<String, f64>,
}

/// A trained model, reduced to what retrieval needs.
#[derive(Clone, Debug, Default)]
pub struct Trained {
    /// `n_items x d`.
    pub items: Matrix,
    /// `n_users x d`: the query vector of every user, computed from training data only.
    pub users: Matrix,
    /// The score the vectors were trained for; the index uses it unless `[index] metric`
    /// overrides.
    pub metric: Metric,
    pub epochs: Vec<EpochLog>,
    /// Free-form facts worth keeping (skipped users, vocabulary size...).
    pub notes: serde_json::Map<String, serde_json::Value>,
    /// The state to resume from, when training stopped before the schedule's end
    /// ([`TrainInput::stop_epoch`]).
    pub checkpoint: Option<Checkpoint>,
    /// The trained network in safetensors, for models that answer a question about a user by
    /// running it ([`Model::online`]): kept in the train entry, read only by `runner serve`
    /// and `recommend --features`.
    pub weights: Option<Vec<u8>>,
}

/// A configured model.
pub trait Model: Send + Sync {
    /// Parameters of the corpus this model trains on (sequences, walks), or `None` when it
    /// needs no corpus. Hashed into the corpus stage's key, so sweeping a training-only
    /// parameter reuses the corpus.
    fn corpus_params(&self) -> Option<serde_json::Value> {
        None
    }

    /// Builds the corpus described by [`Model::corpus_params`].
    fn build_corpus(&self, _dataset: &Dataset, _split: &Split, _seed: u64) -> Result<Corpus> {
        anyhow::bail!("this model does not use a corpus")
    }

    fn fit(&self, input: &TrainInput) -> Result<Trained>;

    /// The parameter that counts this model's epochs (`epochs`, ALS's `iterations`) when
    /// [`Model::fit`] can stop after any epoch ([`TrainInput::stop_epoch`]) and go on from the
    /// [`Checkpoint`] it returns, bit for bit as an uninterrupted training on one thread;
    /// `None` otherwise. Only such models can be pruned by a search (ASHA's rungs are epochs).
    fn epoch_key(&self) -> Option<&'static str> {
        None
    }

    /// Checks the dataset columns the model names (features, text) as soon as the data stage
    /// has run, so a missing column stops the run before any model trains; only called when
    /// [`Model::reads_features`].
    fn check_dataset(&self, _dataset: &Dataset) -> Result<()> {
        Ok(())
    }

    /// Whether the model reads named feature or text columns of the dataset.
    fn reads_features(&self) -> bool {
        false
    }

    /// Whether the seed changes the result. Deterministic models (popularity) return false so
    /// that every seed of an experiment shares one cached training.
    fn uses_seed(&self) -> bool {
        true
    }

    /// Whether the vectors are learned embeddings, which the pipeline checks for collapse
    /// after training (all-zero rows, one vector for nearly everything). Popularity's 1-d
    /// counts are not: every user shares one query vector by design.
    fn learns_embeddings(&self) -> bool {
        !self.scores_items()
    }

    /// Why the columns that measure embedding geometry (similarity distribution, map, ILD)
    /// would measure nothing for this model's vectors, or `None` when they are embeddings.
    /// The eval stage leaves those columns empty and the table says why.
    fn geometry_note(&self) -> Option<&'static str> {
        self.scores_items().then_some(item_space::NOTE)
    }

    /// Whether the model is a reference point rather than a model under study: popularity and
    /// random, the floors every table shows. `recommend`, `similar` and `export` never take
    /// one when no `--model` is given and the config has another model (`cli/ask.rs`).
    fn is_reference(&self) -> bool {
        false
    }

    /// Whether the model scores items rather than embedding them (EASE, item kNN): its item
    /// vector is a column of an item-item score matrix (`n_items` wide) and a user's query is
    /// the user's 0/1 training row, so the inner product is the model's score exactly and the
    /// shared exact search ranks it. Such vectors live in item space: an approximate index
    /// would approximate nothing useful and is refused at config load, the embedding-geometry
    /// columns (similarity distribution, map, ILD) are left empty, and `similar` queries with
    /// the item's own one-hot row, i.e. ranks by the model's item-item score.
    fn scores_items(&self) -> bool {
        false
    }

    /// Whether the model embeds an item from its content (text, features), so it can rank
    /// items without training interactions (`split.kind = "cold_items"`). Models that learn a
    /// vector per item id cannot: their row says so instead of showing chance-level numbers.
    fn scores_unseen_items(&self) -> bool {
        false
    }

    /// Whether the model's vectors are its dataset's own (a vectors dataset's base and
    /// queries, [`passthrough`]): the train stage then stores no copy of them, and the
    /// pipeline reads them from the data stage; the report shows no training time.
    fn passes_vectors_through(&self) -> bool {
        false
    }

    /// How a history given at question time (`runner serve`'s `{"history": [...]}`) becomes
    /// this model's query vector, computed the way training computed the users' queries, or
    /// `None` when the query needs more than the cached vectors (a user node, a tower).
    fn history_query(&self) -> Option<HistoryQuery> {
        self.scores_items().then_some(HistoryQuery::ItemSpace)
    }

    /// The encoder that answers a question about a user by running the trained network on
    /// what the question says (features, text, a history): the two-tower family's user tower.
    /// `weights` are the train entry's ([`Trained::weights`]); `None` for models whose query
    /// is a cached vector or pooled item vectors ([`Model::history_query`]).
    fn online(&self, _dataset: std::sync::Arc<Dataset>, _split: &Split, _seed: u64, _weights: &[u8]) -> Result<Option<Box<dyn OnlineQuery>>> {
        Ok(None)
    }

    /// Whether `[sampler]` affects training; only then is it hashed into the train key, so
    /// changing the sampler does not retrain popularity or item2vec.
    fn uses_sampler(&self) -> bool {
        false
    }

    /// Checks the model's parameters against the canonical `[sampler]` table (with its
    /// `kind`) when the config loads; the error's path is a key of the model.
    fn check_sampler(&self, _sampler: Option<&serde_json::Value>) -> Result<(), crate::params::ParamError> {
        Ok(())
    }
}

/// A question about a user for [`Model::online`]'s encoder.
pub struct UserQuestion<'a> {
    /// A training user: their id, and their features and training history unless given here.
    pub user: Option<u32>,
    /// Items, oldest first, instead of the user's training history.
    pub history: Option<&'a [u32]>,
    /// Feature and text values by column name, as JSON (`{"age": 31, "occupation": "writer"}`).
    pub features: &'a serde_json::Map<String, serde_json::Value>,
}

/// A model's user encoder at question time ([`Model::online`]).
pub trait OnlineQuery: Send + Sync {
    /// The query vector of the user the question describes: for a training user asked as
    /// training saw them, their cached vector bit for bit (one thread).
    fn query(&self, q: &UserQuestion) -> Result<Vec<f32>>;
    /// The feature and text columns a question may give.
    fn inputs(&self) -> Vec<String>;
    /// Whether a question without a known user (a history, features) can be answered.
    fn takes_history(&self) -> bool {
        true
    }
}

/// A question the model cannot take as asked (a missing or unknown feature, a value of the
/// wrong type): the service answers 400 with the message.
#[derive(Debug)]
pub struct BadQuestion(pub String);

impl std::fmt::Display for BadQuestion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadQuestion {}

/// How [`Model::history_query`] turns a history (item indices, oldest first) into a query.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum HistoryQuery {
    /// The mean of the last `last` items' unit vectors, weighted as `weighting`
    /// ([`item2vec::query_vectors`]).
    Pooled { last: usize, weighting: item2vec::QueryWeighting },
    /// One query for every user, whatever their history (popularity).
    Shared,
    /// The history's 0/1 row in item space (models that score items).
    ItemSpace,
}

impl HistoryQuery {
    /// The query of `history` over `trained`'s item vectors (`Shared`: the first user's).
    pub fn query(&self, trained: &Trained, history: &[u32]) -> Vec<f32> {
        match *self {
            HistoryQuery::Pooled { last, weighting } => item2vec::query_vectors(&trained.items, &[history.to_vec()], last, weighting).data,
            HistoryQuery::Shared => trained.users.row(0).to_vec(),
            HistoryQuery::ItemSpace => {
                let mut q = vec![0.0f32; trained.items.cols];
                history.iter().for_each(|&i| q[i as usize] = 1.0);
                q
            }
        }
    }
}

/// Everything the pipeline needs to know about one model kind.
pub struct ModelKind {
    pub kind: &'static str,
    pub about: &'static str,
    /// Bump when training changes meaningfully, to invalidate cached results.
    pub version: u32,
    /// Validates the parameter table (without `kind`, `name`, `sweep`) and returns the model
    /// with its canonical parameters (defaults filled in), which stage keys hash.
    pub parse: fn(&serde_json::Value) -> Result<(Box<dyn Model>, serde_json::Value), ParamError>,
}

/// The registry: adding a model is one file and one line here.
pub static KINDS: &[&ModelKind] = &[
    &popularity::KIND,
    &random::KIND,
    &item2vec::KIND,
    &node2vec::KIND,
    &neural::two_tower::KIND,
    &neural::dssm::KIND,
    &neural::cdssm::KIND,
    &neural::youtube_dnn::KIND,
    &passthrough::KIND,
    &ease::KIND,
    &itemknn::KIND,
    &als::KIND,
    &bpr::KIND,
    &lightgcn::KIND,
    &sasrec::KIND,
];

pub fn lookup(kind: &str) -> Option<&'static ModelKind> {
    KINDS.iter().copied().find(|k| k.kind == kind)
}

pub fn kind_names() -> Vec<&'static str> {
    KINDS.iter().map(|k| k.kind).collect()
}

/// Training items of every user in time order (the split keeps them sorted): the input of
/// sequence models and of user-query pooling.
pub fn user_histories(split: &Split) -> Vec<Vec<u32>> {
    let mut h = vec![Vec::new(); split.n_users];
    for it in &split.train {
        h[it.user as usize].push(it.item);
    }
    h
}

impl std::fmt::Debug for ModelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ModelKind({})", self.kind)
    }
}
