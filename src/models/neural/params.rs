//! The parameters of `kind = "two_tower"` (and the defaults the other neural kinds start from).

use crate::ensure_param;
use crate::nn::{Activation, OptimizerKind, SparseOptimizer};
use crate::params::{ParamError, Validate};
use serde::{Deserialize, Serialize};

/// Training objective.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Loss {
    /// Binary cross-entropy: each positive against its row's negatives (by default
    /// `negatives` uniformly sampled items shared by the batch).
    Bce,
    /// In-batch sampled softmax (InfoNCE): the other positives of the batch are the negatives.
    #[default]
    Softmax,
    /// Bayesian personalised ranking against the row's negatives (default as for `bce`).
    Bpr,
}

/// Inputs of one tower.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TowerFeatures {
    /// Learn an embedding per id.
    pub id: bool,
    /// Names of side-feature columns (categorical, multi-hot or numeric) of the dataset.
    pub features: Vec<String>,
    /// Users only: pool the item embeddings of the last `history` training items (0 = off).
    pub history: usize,
    /// How the history is pooled.
    #[serde(skip_serializing_if = "Pooling::is_mean")]
    pub history_pooling: Pooling,
    /// `recency` pooling: the weight of the item `a` places before the newest is `decay^a`.
    #[serde(skip_serializing_if = "is_default_decay")]
    pub history_decay: f32,
    /// Columns read as text (text columns such as `title`, or labelled multi-hot columns such
    /// as MovieLens `genres`): word-hashed into letter trigrams whose embeddings are summed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub text: Vec<String>,
    /// Users only: the text (the item tower's `text` columns) of the last `text_history`
    /// training items, hashed together (0 = off).
    #[serde(skip_serializing_if = "is_zero")]
    pub text_history: usize,
}

fn is_true(b: &bool) -> bool {
    *b
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// How text inputs are encoded (the `text_encoder` key; `conv` takes its width from
/// `window`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TextEncoder {
    /// DSSM: the sum of the text's letter-trigram embeddings.
    #[default]
    Bag,
    /// CDSSM: a tanh convolution over windows of `window` words, max-pooled over positions.
    Conv,
}

impl TextEncoder {
    fn is_bag(&self) -> bool {
        *self == TextEncoder::Bag
    }
}

/// History pooling: the plain mean, or a recency-weighted mean (newer items count more).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    #[default]
    Mean,
    Recency,
}

impl Pooling {
    fn is_mean(&self) -> bool {
        *self == Pooling::Mean
    }
}

const DEFAULT_DECAY: f32 = 0.8;
const DEFAULT_BUCKETS: u32 = 50_000;

fn is_default_buckets(b: &u32) -> bool {
    *b == DEFAULT_BUCKETS
}

const DEFAULT_WINDOW: usize = 3;

fn is_default_window(w: &usize) -> bool {
    *w == DEFAULT_WINDOW
}

// Left out of the canonical parameters at its default, so configs written before the key
// existed keep their stage keys.
fn is_default_decay(d: &f32) -> bool {
    *d == DEFAULT_DECAY
}

impl Default for TowerFeatures {
    fn default() -> Self {
        TowerFeatures {
            id: true,
            features: Vec::new(),
            history: 0,
            history_pooling: Pooling::Mean,
            history_decay: DEFAULT_DECAY,
            text: Vec::new(),
            text_history: 0,
        }
    }
}

/// Parameters of `kind = "two_tower"`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TwoTowerParams {
    /// Output dimension of both towers.
    pub dim: usize,
    /// Hidden layer sizes of each tower's MLP.
    pub hidden: Vec<usize>,
    pub activation: Activation,
    pub batch_norm: bool,
    /// Dropout after every hidden layer, in `[0, 1)`.
    pub dropout: f32,
    /// L2-normalise tower outputs.
    pub normalize: bool,
    /// Scores are divided by this.
    pub temperature: f32,
    /// Width of id, categorical, multi-hot and text embeddings.
    pub embedding_dim: usize,
    /// Hash buckets of the letter-trigram word hashing of `text` inputs (one embedding row
    /// each).
    #[serde(skip_serializing_if = "is_default_buckets")]
    pub buckets: u32,
    /// How `text` and `text_history` are encoded: `bag` (DSSM) or `conv` (CDSSM).
    #[serde(skip_serializing_if = "TextEncoder::is_bag")]
    pub text_encoder: TextEncoder,
    /// `conv`: words per convolution window.
    #[serde(skip_serializing_if = "is_default_window")]
    pub window: usize,
    pub user: TowerFeatures,
    pub item: TowerFeatures,
    pub loss: Loss,
    /// Sampled negatives: without a `[sampler]`, per batch for `bce` and `bpr` (shared by the
    /// batch; `softmax` uses the other rows); with one, per row, and for `softmax` the extra
    /// sampled negatives per row (an `in_batch` sampler ignores it).
    pub negatives: usize,
    /// Subtract log(item frequency) from in-batch softmax logits.
    pub logq_correction: bool,
    /// `softmax`: the other rows of the batch are negatives. `false` leaves a row's softmax
    /// over its positive and its `negatives` sampled items (DSSM's positive plus 4 random
    /// documents), by default uniform.
    #[serde(skip_serializing_if = "is_true")]
    pub in_batch: bool,
    pub batch_size: usize,
    pub epochs: usize,
    pub lr: f32,
    pub weight_decay: f32,
    pub optimizer: OptimizerKind,
    /// How embedding rows are updated: `lazy` (only the batch's rows, Adam's moments and bias
    /// correction per row), `catch_up` (a touched row first replays the momentum steps it
    /// missed: the update of PyTorch's dense Adam, still touching the batch's rows only) or
    /// `adagrad`.
    #[serde(skip_serializing_if = "SparseOptimizer::is_lazy")]
    pub sparse_update: SparseOptimizer,
    /// Clip the global gradient norm (0 = off).
    pub clip_norm: f32,
    /// Stop after this many epochs without a better validation Recall@`eval_k` (0 = off; needs
    /// a non-empty validation split). The best epoch's parameters are kept.
    pub patience: usize,
    pub eval_k: usize,
    /// Validation users sampled for early stopping.
    pub eval_users: usize,
    /// Where the towers train: `cpu`, or `cuda` in a build with `--features cuda`. Defaults to
    /// the build's device; part of the cache key, since GPU arithmetic differs in the last bits.
    pub device: Device,
}

/// The `device` key. A binary trains on one device, chosen at build time ([`crate::nn::Dev`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Device {
    Cpu,
    Cuda,
}

impl Device {
    /// The device this binary was built for.
    pub fn of_build() -> Self {
        if cfg!(feature = "cuda") {
            Device::Cuda
        } else {
            Device::Cpu
        }
    }
}

impl Default for TwoTowerParams {
    fn default() -> Self {
        TwoTowerParams {
            dim: 64,
            hidden: vec![256, 128],
            activation: Activation::Relu,
            batch_norm: false,
            dropout: 0.0,
            normalize: true,
            temperature: 0.1,
            embedding_dim: 64,
            buckets: DEFAULT_BUCKETS,
            text_encoder: TextEncoder::Bag,
            window: DEFAULT_WINDOW,
            user: TowerFeatures::default(),
            item: TowerFeatures::default(),
            loss: Loss::Softmax,
            negatives: 256,
            logq_correction: false,
            in_batch: true,
            batch_size: 1024,
            epochs: 10,
            lr: 1e-3,
            weight_decay: 0.0,
            optimizer: OptimizerKind::Adam,
            sparse_update: SparseOptimizer::Same,
            clip_norm: 0.0,
            patience: 0,
            eval_k: 10,
            eval_users: 1000,
            device: Device::of_build(),
        }
    }
}

impl Validate for TwoTowerParams {
    fn validate(&self) -> Result<(), ParamError> {
        ensure_param!(self.dim >= 1, "dim", "must be at least 1, got {}", self.dim);
        ensure_param!(!self.hidden.is_empty(), "hidden", "needs at least one layer size, e.g. [256, 128]");
        ensure_param!(self.dim <= MAX_WIDTH, "dim", "must be at most {MAX_WIDTH}, got {}", self.dim);
        for (i, &h) in self.hidden.iter().enumerate() {
            ensure_param!(h >= 1, format!("hidden.{i}"), "layer sizes must be at least 1, got {h}");
            ensure_param!(h <= MAX_WIDTH, format!("hidden.{i}"), "layer sizes must be at most {MAX_WIDTH}, got {h}");
        }
        ensure_param!(self.embedding_dim <= MAX_WIDTH, "embedding_dim", "must be at most {MAX_WIDTH}, got {}", self.embedding_dim);
        ensure_param!(self.batch_size <= 1 << 20, "batch_size", "must be at most 1048576, got {}", self.batch_size);
        ensure_param!(self.negatives <= 100_000, "negatives", "must be at most 100000 per row, got {}", self.negatives);
        ensure_param!(self.user.history <= 100_000, "user.history", "must be at most 100000 items, got {}", self.user.history);
        ensure_param!(self.epochs <= 100_000, "epochs", "must be at most 100000, got {}", self.epochs);
        if let Err(m) = crate::memory::check(self.memory_estimate()) {
            return Err(ParamError::new(
                "hidden",
                format!(
                    "this model {m} (batch_size {}, hidden {:?}, negatives {}); use smaller layers or batches",
                    self.batch_size, self.hidden, self.negatives
                ),
            ));
        }
        ensure_param!(self.dropout.is_finite() && (0.0..1.0).contains(&self.dropout), "dropout", "must be in [0, 1), got {}", self.dropout);
        ensure_param!(self.temperature.is_finite() && self.temperature > 0.0, "temperature", "must be positive, got {}", self.temperature);
        ensure_param!(self.embedding_dim >= 1, "embedding_dim", "must be at least 1, got {}", self.embedding_dim);
        ensure_param!(
            self.user.id || !self.user.features.is_empty() || self.user.history > 0 || !self.user.text.is_empty() || self.user.text_history > 0,
            "user",
            "the user tower has no input: set `id = true`, `features`, `history`, `text` or `text_history`"
        );
        ensure_param!(
            self.item.id || !self.item.features.is_empty() || !self.item.text.is_empty(),
            "item",
            "the item tower has no input: set `id = true`, `features` or `text`"
        );
        ensure_param!(self.item.history == 0, "item.history", "only the user tower has a history");
        ensure_param!(self.item.text_history == 0, "item.text_history", "only the user tower has a history");
        ensure_param!(
            self.user.text_history == 0 || !self.item.text.is_empty(),
            "user.text_history",
            "reads the item tower's text columns, but `item.text` is empty; set e.g. item.text = [\"title\"]"
        );
        ensure_param!(self.user.text_history <= 10_000, "user.text_history", "must be at most 10000 items, got {}", self.user.text_history);
        ensure_param!(self.window >= 1, "window", "must be at least 1 word, got {}", self.window);
        ensure_param!(self.window <= 64, "window", "must be at most 64 words, got {}", self.window);
        ensure_param!(self.buckets >= 1, "buckets", "must be at least 1 (the paper uses about 50000), got {}", self.buckets);
        ensure_param!(self.buckets <= 1 << 26, "buckets", "must be at most {}, got {}", 1u32 << 26, self.buckets);
        ensure_param!(
            self.user.history_decay.is_finite() && self.user.history_decay > 0.0 && self.user.history_decay <= 1.0,
            "user.history_decay",
            "must be in (0, 1], got {}",
            self.user.history_decay
        );
        ensure_param!(self.batch_size >= 2, "batch_size", "must be at least 2, got {}", self.batch_size);
        ensure_param!(self.epochs >= 1, "epochs", "must be at least 1, got {}", self.epochs);
        ensure_param!(self.lr.is_finite() && self.lr > 0.0, "lr", "must be positive, got {}", self.lr);
        ensure_param!(self.weight_decay.is_finite() && self.weight_decay >= 0.0, "weight_decay", "must be >= 0, got {}", self.weight_decay);
        ensure_param!(self.clip_norm.is_finite() && self.clip_norm >= 0.0, "clip_norm", "must be >= 0 (0 = off)");
        ensure_param!(self.eval_k >= 1, "eval_k", "must be at least 1");
        ensure_param!(self.eval_users >= 1, "eval_users", "must be at least 1");
        ensure_param!(
            self.device == Device::of_build(),
            "device",
            "{}",
            match self.device {
                Device::Cuda => "this runner was built without CUDA: rebuild with `cargo build --release --features cuda` (needs the CUDA toolkit and a GPU), or set device = \"cpu\"",
                Device::Cpu => "this runner was built with `--features cuda` and trains on the GPU: set device = \"cuda\", or use a build without the feature",
            }
        );
        Ok(())
    }
}

/// Largest layer width or dimension a config may ask for.
pub const MAX_WIDTH: usize = 16_384;

/// How a tower's text inputs are hashed and encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TextSettings {
    pub buckets: u32,
    pub encoder: TextEncoder,
    /// `conv`: words per window.
    pub window: usize,
}

impl TwoTowerParams {
    pub fn text_settings(&self) -> TextSettings {
        TextSettings { buckets: self.buckets, encoder: self.text_encoder, window: self.window }
    }

    /// A lower bound on the bytes one training step needs, from the config alone (the
    /// catalogue's size is not known yet, so the item tower counts only the batch's own
    /// positives): the MLP weights with Adam's two moments, per tower a batch's activations
    /// and their gradients at every layer, and the logits.
    pub fn memory_estimate(&self) -> u64 {
        let input = self.embedding_dim as u64 * 2;
        let mut widths = vec![input];
        widths.extend(self.hidden.iter().map(|&h| h as u64));
        widths.push(self.dim as u64);
        let weights: u64 = widths.windows(2).map(|w| w[0] * w[1]).sum();
        let per_row: u64 = widths.iter().sum();
        let batch = self.batch_size as u64;
        let floats = 3 * weights * 2 + 2 * 2 * batch * per_row + batch * (batch + self.negatives as u64);
        floats * 4
    }
}
