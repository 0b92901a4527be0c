//! Skip-gram / CBOW with negative sampling (word2vec's SGNS), the engine under Item2Vec and
//! Node2Vec.
//!
//! One file per concept, finalfrontier style:
//! - [`alias`]: Vose alias table, O(1) draws from unigram^alpha;
//! - [`kernels`]: the f32 row kernels (dot, fused SGD update), portable and AVX2+FMA;
//! - [`engine`]: the training loop (pair streaming, subsampling, windows, negatives shared by
//!   groups of pairs, threads over blocks of the corpus);
//! - [`rows`]: where a thread reads and writes rows (shared tables, or its copies of them).
//!
//! The configuration, statistics and output types live here.

pub mod alias;
mod blocks;
pub mod engine;
pub mod kernels;
pub mod rows;

pub use alias::AliasTable;
pub use engine::{train, train_span, EngineOptions, Span};

use crate::linalg::Matrix;
use anyhow::{bail, Result};

/// Which word2vec architecture to train.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Arch {
    /// Predict every context item from the centre item (one example per (centre, context)
    /// pair).
    #[default]
    SkipGram,
    /// Predict the centre item from the (weighted) mean of its context items (one example per
    /// centre position), word2vec's `cbow_mean = 1`.
    Cbow,
}

/// The default of [`SgnsConfig::share_negatives`]: up to 4 pairs of a window share one draw
/// of negatives (pWord2Vec's shared negative samples, Ji et al. 2016, in groups).
///
/// Why: a pair's target rows (the centre's context row and its negatives) are the rows the
/// CPU waits for; pairs that share them find them in L1 and draw `negatives` times less.
/// Why 4 and not the whole window: on node2vec walks of Wikipedia, whose windows repeat a
/// few hubs, sharing across a whole window (up to 20 pairs) cost 2 % of Macro-F1; groups of
/// 4 cost nothing measurable on any graph or on ml-100k, and keep most of the speed
/// (experiments/sgns_threads, "Shared negatives").
pub const SHARE_NEGATIVES: usize = 4;

/// Training parameters. `Default` is word2vec's/gensim's skip-gram defaults except `dim` and
/// [`SHARE_NEGATIVES`] (1 is word2vec's).
#[derive(Clone, Debug, PartialEq)]
pub struct SgnsConfig {
    pub arch: Arch,
    /// Embedding dimension.
    pub dim: usize,
    /// Maximal distance between centre and context positions.
    pub window: usize,
    /// Negative samples per positive example.
    pub negatives: usize,
    pub epochs: usize,
    /// Learning rate at the start; decays linearly to `min_lr` over all epochs.
    pub lr: f32,
    pub min_lr: f32,
    /// Exponent of the negative-sampling distribution unigram^alpha.
    pub alpha: f64,
    /// Frequent-item subsampling threshold (word2vec's `-sample`); 0 disables it.
    pub sample: f64,
    /// word2vec's random window shrink: every centre position uses a window drawn uniformly
    /// from `1..=window`.
    pub dynamic_window: bool,
    /// Weigh a context item at distance `d` by `1 / d` (harmonic weighting, as GloVe): its
    /// gradient (skip-gram) or its share of the context mean (CBOW) is scaled by `1 / d`.
    pub distance_weighting: bool,
    /// When a negative draw equals the positive item, draw again (up to a bound) instead of
    /// skipping that negative (word2vec's and gensim's behaviour).
    pub redraw_positive: bool,
    /// Skip-gram: how many consecutive pairs of one centre position's window share one draw of
    /// `negatives` negatives; 1 draws afresh for every pair (word2vec). See
    /// [`SHARE_NEGATIVES`].
    pub share_negatives: usize,
    /// Worker threads; 0 = rayon's current pool size. 1 is bit-exact for a seed.
    pub threads: usize,
    pub seed: u64,
}

impl Default for SgnsConfig {
    fn default() -> Self {
        SgnsConfig {
            arch: Arch::SkipGram,
            dim: 64,
            window: 5,
            negatives: 5,
            epochs: 10,
            lr: 0.025,
            min_lr: 0.0001,
            alpha: 0.75,
            sample: 0.0,
            dynamic_window: true,
            distance_weighting: false,
            redraw_positive: true,
            share_negatives: SHARE_NEGATIVES,
            threads: 1,
            seed: 0,
        }
    }
}

impl SgnsConfig {
    /// Rejects settings that cannot train (never panics later on them).
    pub fn check(&self) -> Result<()> {
        if self.dim == 0 {
            bail!("sgns: dim must be at least 1");
        }
        if self.window == 0 {
            bail!("sgns: window must be at least 1");
        }
        if self.negatives == 0 {
            bail!("sgns: negatives must be at least 1");
        }
        if self.share_negatives == 0 {
            bail!("sgns: share_negatives must be at least 1 (1 = a fresh draw per pair)");
        }
        if self.epochs == 0 {
            bail!("sgns: epochs must be at least 1");
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            bail!("sgns: lr must be a positive number, got {}", self.lr);
        }
        if !(self.min_lr.is_finite() && self.min_lr >= 0.0 && self.min_lr <= self.lr) {
            bail!("sgns: min_lr must be in [0, lr = {}], got {}", self.lr, self.min_lr);
        }
        if !self.alpha.is_finite() {
            bail!("sgns: alpha must be finite, got {}", self.alpha);
        }
        if !(self.sample.is_finite() && self.sample >= 0.0) {
            bail!("sgns: sample must be >= 0, got {}", self.sample);
        }
        Ok(())
    }
}

/// Statistics of one epoch.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EpochStats {
    /// 0-based.
    pub epoch: usize,
    /// Mean loss per example: `-ln s(pos) - sum ln s(-neg)` (unweighted by distance).
    pub loss: f64,
    /// Examples trained: (centre, context) pairs for skip-gram, centre positions for CBOW.
    pub pairs: u64,
    /// Corpus tokens processed (before subsampling), i.e. the corpus size.
    pub tokens: u64,
    pub seconds: f64,
    /// `tokens / seconds`: raw corpus tokens per second of training wall time.
    pub tokens_per_sec: f64,
    /// Learning rate reached at the end of the epoch.
    pub lr: f32,
}

/// Trained tables and per-epoch statistics.
#[derive(Clone, Debug)]
pub struct SgnsOutput {
    /// "Input" vectors (word2vec's syn0), the usual item embeddings.
    pub centre: Matrix,
    /// "Output" vectors (syn1neg).
    pub context: Matrix,
    pub epochs: Vec<EpochStats>,
}
