//! Two-tower retrieval model on the [`crate::nn`] kit.
//!
//! A user tower and an item tower each turn features into a `dim`-vector: the concatenation of
//! an id embedding, embeddings of categorical columns, mean-pooled embeddings of multi-hot
//! columns, standardised numeric columns and (users only) the mean-pooled item embeddings of
//! the user's last `history` training items, fed through an MLP, optionally L2-normalised.
//! Scores are `u . v / temperature`; losses: `softmax` (in-batch InfoNCE, optional logQ
//! correction), `bce` or `bpr` against uniformly sampled negatives shared by the batch.
//!
//! With a `[sampler]` section the negatives come from that sampler ([`crate::sampling`])
//! instead, drawn per row: `bce` / `bpr` take `negatives` sampled negatives per row (the other
//! rows of the batch for `in_batch`), `softmax` takes the in-batch negatives plus `negatives`
//! sampled ones per row (none for `in_batch`). The item tower runs once per distinct
//! candidate item and the loss is one fused op over the `batch x candidates` score matrix
//! ([`sampled_loss`]). The logQ correction (`logq_correction`, or the sampler's `logq`)
//! subtracts from every softmax logit the log of the item's expected count among a row's
//! negatives, `(B - 1) freq(i) + negatives * q(i)` (q: the sampler's proposal), which for plain
//! in-batch sampling is Yi et al.'s `log freq(i)` up to a constant.
//!
//! During training an example's history is the items the user interacted with *before* that
//! example (the training split is sorted by time), so the target never leaks into its own
//! query; the final user query vectors use the last `history` training items.

use crate::data::{Dataset, FeatureColumn, Interaction, Split};
use crate::ensure_param;
use crate::index::Metric;
use crate::linalg::{dot, Matrix};
use crate::models::{EpochLog, Model, ModelKind, TrainInput, Trained};
use crate::nn::{
    l2_normalize, row_dot, to_matrix, Activation, Bags, Ctx, Init, InputBuilder, LeafId, Mlp, OptimConfig, OptimizerKind, ParamStore, Scalar, TMat, TableId,
};
use crate::params::{self, ParamError, Validate};
use crate::sampling::{self, Catalog, Sampler, Scorer};
use anyhow::{anyhow, bail, Result};
use dfdx::prelude::{Axes2, Axis, BroadcastTo, HasShape, MeanTo, PermuteTo, SumTo, TensorFromVec, TryMatMul, WithEmptyTape};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Instant;

pub static KIND: ModelKind =
    ModelKind { kind: "two_tower", about: "user and item MLP towers over ids, side features and history; softmax / BCE / BPR loss", version: 1, parse };

fn parse(value: &serde_json::Value) -> Result<(Box<dyn Model>, serde_json::Value), ParamError> {
    let (p, canon): (TwoTowerParams, _) = params::canonical(value)?;
    Ok((Box::new(TwoTower { p }), canon))
}

/// Training objective.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Loss {
    /// Binary cross-entropy: positives vs `negatives` uniformly sampled items.
    Bce,
    /// In-batch sampled softmax (InfoNCE): the other positives of the batch are the negatives.
    #[default]
    Softmax,
    /// Bayesian personalised ranking against `negatives` uniformly sampled items.
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
    /// Users only: mean-pool the item embeddings of the last `history` training items (0 = off).
    pub history: usize,
}

impl Default for TowerFeatures {
    fn default() -> Self {
        TowerFeatures { id: true, features: Vec::new(), history: 0 }
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
    /// Width of id, categorical and multi-hot embeddings.
    pub embedding_dim: usize,
    pub user: TowerFeatures,
    pub item: TowerFeatures,
    pub loss: Loss,
    /// Sampled negatives per batch for `bce` and `bpr` (shared by the batch); with a
    /// `[sampler]`, per row, and for `softmax` the extra sampled negatives per row.
    pub negatives: usize,
    /// Subtract log(item frequency) from in-batch softmax logits.
    pub logq_correction: bool,
    pub batch_size: usize,
    pub epochs: usize,
    pub lr: f32,
    pub weight_decay: f32,
    pub optimizer: OptimizerKind,
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
            user: TowerFeatures::default(),
            item: TowerFeatures::default(),
            loss: Loss::Softmax,
            negatives: 256,
            logq_correction: false,
            batch_size: 1024,
            epochs: 10,
            lr: 1e-3,
            weight_decay: 0.0,
            optimizer: OptimizerKind::Adam,
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
        ensure_param!(self.dim <= MAX_WIDTH, "dim", "must be at most {MAX_WIDTH}, got {}", self.dim);
        ensure_param!(!self.hidden.is_empty(), "hidden", "needs at least one layer size, e.g. [256, 128]");
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
            self.user.id || !self.user.features.is_empty() || self.user.history > 0,
            "user",
            "the user tower has no input: set `id = true`, `features` or `history`"
        );
        ensure_param!(self.item.id || !self.item.features.is_empty(), "item", "the item tower has no input: set `id = true` or `features`");
        ensure_param!(self.item.history == 0, "item.history", "only the user tower has a history");
        ensure_param!(self.batch_size >= 2, "batch_size", "must be at least 2, got {}", self.batch_size);
        ensure_param!(self.epochs >= 1, "epochs", "must be at least 1, got {}", self.epochs);
        ensure_param!(self.lr.is_finite() && self.lr > 0.0, "lr", "must be positive, got {}", self.lr);
        ensure_param!(self.weight_decay.is_finite() && self.weight_decay >= 0.0, "weight_decay", "must be >= 0, got {}", self.weight_decay);
        ensure_param!(self.loss == Loss::Softmax || self.negatives >= 1, "negatives", "`{:?}` loss needs at least 1 negative", self.loss);
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

impl TwoTowerParams {
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

/// The configured model.
pub struct TwoTower {
    pub p: TwoTowerParams,
}

impl Model for TwoTower {
    fn uses_sampler(&self) -> bool {
        true
    }

    fn fit(&self, input: &TrainInput) -> Result<Trained> {
        fit_with(&self.p, input.dataset, input.split, input.seed, input.sampler)
    }
}

/// One feature column of a tower, resolved against the dataset.
enum Feat<'a> {
    Cat {
        table: TableId,
        values: &'a [u32],
    },
    Multi {
        table: TableId,
        width: usize,
        values: &'a [Vec<u32>],
    },
    /// Standardised numeric columns (all of a side's numeric features together).
    Num {
        cols: Vec<(&'a [f32], f32, f32)>,
    },
}

/// A tower: its inputs and MLP.
struct Tower<'a> {
    id_table: Option<TableId>,
    feats: Vec<Feat<'a>>,
    /// (item table, width) of the history bag.
    history: Option<(TableId, usize)>,
    mlp: Mlp,
}

/// Training interactions flattened per user: `items[start[u]..start[u + 1]]` in time order.
struct Histories {
    items: Vec<u32>,
    start: Vec<usize>,
}

impl Histories {
    fn new(split: &Split) -> Self {
        let mut start = vec![0usize; split.n_users + 1];
        for it in &split.train {
            start[it.user as usize + 1] += 1;
        }
        for u in 0..split.n_users {
            start[u + 1] += start[u];
        }
        let mut fill = start.clone();
        let mut items = vec![0u32; split.train.len()];
        for it in &split.train {
            items[fill[it.user as usize]] = it.item;
            fill[it.user as usize] += 1;
        }
        Histories { items, start }
    }

    fn of(&self, u: u32) -> &[u32] {
        &self.items[self.start[u as usize]..self.start[u as usize + 1]]
    }
}

impl<'a> Tower<'a> {
    #[allow(clippy::too_many_arguments)]
    fn build(
        store: &mut ParamStore,
        side: &str,
        cfg: &TowerFeatures,
        p: &TwoTowerParams,
        n_rows: usize,
        table: &'a crate::data::FeatureTable,
        present: &[bool],
        history: Option<(TableId, usize)>,
    ) -> Result<Self> {
        let e = p.embedding_dim;
        let init = Init::Normal(0.1);
        let id_table = if cfg.id { Some(store.table(&format!("{side}.id"), n_rows, e, init)?) } else { None };
        let mut width = if cfg.id { e } else { 0 };
        let mut feats = Vec::new();
        let mut nums = Vec::new();
        for name in &cfg.features {
            let Some(col) = table.get(name) else {
                bail!(
                    "`{side}.features` names `{name}`, which the dataset's {side} features lack (it has: {})",
                    if table.columns.is_empty() { "none".to_string() } else { table.names().join(", ") }
                );
            };
            if col.len() != n_rows {
                bail!("{side} feature `{name}` has {} rows for {n_rows} {side}s", col.len());
            }
            match col {
                FeatureColumn::Categorical { cardinality, values, .. } => {
                    if let Some(v) = values.iter().find(|&&v| v >= *cardinality) {
                        bail!("{side} feature `{name}` holds {v}, outside its cardinality {cardinality}");
                    }
                    let t = store.table(&format!("{side}.feature.{name}"), *cardinality as usize, e, init)?;
                    feats.push(Feat::Cat { table: t, values });
                    width += e;
                }
                FeatureColumn::MultiHot { cardinality, values, .. } => {
                    if let Some(v) = values.iter().flatten().find(|&&v| v >= *cardinality) {
                        bail!("{side} feature `{name}` holds {v}, outside its cardinality {cardinality}");
                    }
                    let t = store.table(&format!("{side}.feature.{name}"), *cardinality as usize, e, init)?;
                    let w = values.iter().map(Vec::len).max().unwrap_or(0).clamp(1, 64);
                    feats.push(Feat::Multi { table: t, width: w, values });
                    width += e;
                }
                FeatureColumn::Numeric { values, .. } => {
                    // Standardise on the rows present in the training split.
                    let vals: Vec<f64> = values.iter().zip(present).filter(|(v, &p)| p && v.is_finite()).map(|(v, _)| *v as f64).collect();
                    let n = vals.len().max(1) as f64;
                    let mean = vals.iter().sum::<f64>() / n;
                    let sd = (vals.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n).sqrt();
                    let sd = if sd > 1e-12 { sd } else { 1.0 };
                    nums.push((values.as_slice(), mean as f32, sd as f32));
                    width += 1;
                }
            }
        }
        if !nums.is_empty() {
            feats.push(Feat::Num { cols: nums });
        }
        if history.is_some() {
            width += e;
        }
        let mlp = Mlp::new(store, &format!("{side}.mlp"), width, &p.hidden, p.dim, p.activation, p.batch_norm, p.dropout)?;
        Ok(Tower { id_table, feats, history, mlp })
    }

    /// The input rows of `ids`, with `hist[r]` the history bag of row `r` (users).
    fn input(&self, store: &ParamStore, ids: &[u32], hist: &[&[u32]]) -> InputBuilder {
        let mut b = InputBuilder::new(ids.len());
        if let Some(t) = self.id_table {
            b.ids(store, t, ids.to_vec());
        }
        for f in &self.feats {
            match f {
                Feat::Cat { table, values } => {
                    b.ids(store, *table, ids.iter().map(|&i| values[i as usize]).collect());
                }
                Feat::Multi { table, width, values } => {
                    let lists: Vec<&[u32]> = ids.iter().map(|&i| values[i as usize].as_slice()).collect();
                    b.bags(store, *table, Bags::from_lists(&lists, *width));
                }
                Feat::Num { cols } => {
                    let k = cols.len();
                    let mut v = vec![0.0f32; ids.len() * k];
                    for (r, &i) in ids.iter().enumerate() {
                        for (c, (vals, mean, sd)) in cols.iter().enumerate() {
                            let x = vals[i as usize];
                            v[r * k + c] = if x.is_finite() { (x - mean) / sd } else { 0.0 };
                        }
                    }
                    b.dense(k, v);
                }
            }
        }
        if let Some((t, w)) = self.history {
            b.bags(store, t, Bags::from_lists(hist, w));
        }
        b
    }

    fn forward(&self, ctx: &mut Ctx, b: &InputBuilder, normalize: bool) -> (LeafId, TMat) {
        let (leaf, x) = ctx.leaf(b.rows, b.cols(), b.build(ctx.store));
        let y = self.mlp.forward(ctx, x);
        (leaf, if normalize { l2_normalize(y, 1e-12) } else { y })
    }
}

/// Vectors of `ids` in eval mode, in chunks.
fn encode(store: &ParamStore, tower: &Tower, ids: &[u32], hist: &dyn Fn(u32) -> Vec<u32>, normalize: bool) -> Matrix {
    let mut out = Matrix::zeros(0, 0);
    for chunk in ids.chunks(4096) {
        let hs: Vec<Vec<u32>> = chunk.iter().map(|&i| hist(i)).collect();
        let hr: Vec<&[u32]> = hs.iter().map(|h| h.as_slice()).collect();
        let b = tower.input(store, chunk, &hr);
        let mut ctx = Ctx::new(store, false, 0);
        let (_, y) = tower.forward(&mut ctx, &b, normalize);
        let m = to_matrix(&y);
        out.cols = m.cols;
        out.rows += m.rows;
        out.data.extend_from_slice(&m.data);
    }
    out
}

/// Mean Recall@k over `users`: the share of each user's `target` items found in the top k of
/// items not in the user's training items.
pub fn recall_at_k(users: &Matrix, items: &Matrix, train: &[Interaction], target: &[Interaction], k: usize, subset: &[u32]) -> f64 {
    use rayon::prelude::*;
    let n_users = users.rows;
    let mut seen = vec![Vec::new(); n_users];
    for it in train {
        seen[it.user as usize].push(it.item);
    }
    let mut want = vec![Vec::new(); n_users];
    for it in target {
        want[it.user as usize].push(it.item);
    }
    let per: Vec<f64> = subset
        .par_iter()
        .filter(|&&u| !want[u as usize].is_empty())
        .map(|&u| {
            let q = users.row(u as usize);
            let mut scores: Vec<(f32, u32)> = (0..items.rows as u32).map(|i| (dot(q, items.row(i as usize)), i)).collect();
            for &s in &seen[u as usize] {
                scores[s as usize].0 = f32::NEG_INFINITY;
            }
            let k = k.min(scores.len());
            if k == 0 {
                return 0.0;
            }
            scores.select_nth_unstable_by(k - 1, |a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            let top = &scores[..k];
            let mut w = want[u as usize].clone();
            w.sort_unstable();
            w.dedup();
            let hits = w.iter().filter(|i| top.iter().any(|(_, t)| t == *i)).count();
            hits as f64 / w.len() as f64
        })
        .collect();
    if per.is_empty() {
        0.0
    } else {
        per.iter().sum::<f64>() / per.len() as f64
    }
}

/// In-batch softmax cross-entropy as a fused op.
///
/// dfdx's `log_softmax` over a runtime `B x B` matrix runs its reductions element by element
/// on one thread and took about half of a step at B = 1024, so the loss and its gradient with
/// respect to the logits, `G = (softmax(L) - I) / B`, are computed on the host (rows in
/// parallel), and the loss is re-entered into the graph as the surrogate
/// `sum(u * stop(G v)) / T + sum(v * stop(G^T u)) / T + c`, whose gradients with respect to
/// `u` and `v` are exactly those of the loss (`L = u v^T / T`) and whose value, thanks to the
/// constant `c`, is the loss. Accidental hits (row i's positive elsewhere in the batch) are
/// masked; `logq_correction` subtracts log(item frequency) from every logit.
fn softmax_loss(ctx: &Ctx, p: &TwoTowerParams, u: TMat, v: TMat, pos_items: &[u32], log_q: &[f32]) -> Scalar {
    use dfdx::prelude::NoneTape;
    use rayon::prelude::*;
    let b = pos_items.len();
    let inv_t = 1.0 / p.temperature;
    let uc = u.retaped::<NoneTape>();
    let vc = v.retaped::<NoneTape>();
    let logits = uc.clone().matmul(vc.clone().permute::<_, Axes2<1, 0>>()).as_vec();
    let mut g = vec![0.0f32; b * b];
    let row_loss: Vec<f64> = g
        .par_chunks_mut(b)
        .zip(logits.par_chunks(b))
        .enumerate()
        .map(|(i, (gi, li))| {
            let mut mx = f32::NEG_INFINITY;
            for j in 0..b {
                let mut z = li[j] * inv_t;
                if i != j && pos_items[i] == pos_items[j] {
                    z = f32::NEG_INFINITY;
                } else if p.logq_correction {
                    z -= log_q[pos_items[j] as usize];
                }
                gi[j] = z;
                mx = mx.max(z);
            }
            let zi = gi[i];
            let mut sum = 0.0f64;
            for x in gi.iter_mut() {
                *x = (*x - mx).exp();
                sum += *x as f64;
            }
            let inv = (1.0 / sum) as f32;
            for x in gi.iter_mut() {
                *x *= inv / b as f32;
            }
            gi[i] -= 1.0 / b as f32;
            (mx as f64 + sum.ln()) - zi as f64
        })
        .collect();
    let loss = row_loss.iter().sum::<f64>() / b as f64;
    let gm = ctx.constant(b, b, g);
    let gv = gm.clone().matmul(vc) * inv_t;
    let gtu = gm.permute::<_, Axes2<1, 0>>().matmul(uc) * inv_t;
    let surrogate = (u * gv).sum::<(), _>() + (v * gtu).sum::<(), _>();
    let c = loss as f32 - surrogate.as_vec()[0];
    surrogate + c
}

/// The batch loss. `v` holds the positives' vectors (`b` rows) followed by the negatives'.
fn batch_loss(ctx: &Ctx, p: &TwoTowerParams, u: TMat, v: TMat, pos_items: &[u32], log_q: &[f32]) -> Scalar {
    use dfdx::tensor_ops::bce_with_logits;
    let b = pos_items.len();
    let inv_t = 1.0 / p.temperature;
    match p.loss {
        Loss::Softmax => softmax_loss(ctx, p, u, v, pos_items, log_q),
        Loss::Bce | Loss::Bpr => {
            let m = v.shape().0 - b;
            let pos_v = v.with_empty_tape().slice((0..b, ..));
            let neg_v = v.slice((b.., ..));
            let pos = row_dot(u.with_empty_tape(), pos_v) * inv_t;
            let neg = u.matmul(neg_v.permute::<_, Axes2<1, 0>>()) * inv_t;
            if p.loss == Loss::Bce {
                let ones = ctx.dev().tensor_from_vec(vec![1.0f32; b], (b,));
                let zeros = ctx.constant(b, m, vec![0.0; b * m]);
                bce_with_logits(pos, ones).mean::<(), _>() + bce_with_logits(neg, zeros).mean::<(), _>()
            } else {
                let ones = ctx.constant(b, m, vec![1.0; b * m]);
                let diff = neg * -1.0 + pos.broadcast_like::<_, Axis<1>>(&(b, m));
                bce_with_logits(diff, ones).mean::<(), _>()
            }
        }
    }
}

/// The negatives of each row as columns of a step's candidate matrix (the batch's positives in
/// columns `0..b`, then the distinct sampled items): when `in_batch`, every other row whose
/// positive differs (`pos`), then the sampled columns `cols[start[r]..start[r + 1]]` (with
/// repeats: an item drawn twice counts twice).
#[derive(Clone, Debug, Default, PartialEq)]
struct NegRows {
    pos: Vec<u32>,
    in_batch: bool,
    start: Vec<usize>,
    cols: Vec<u32>,
}

impl NegRows {
    fn rows(&self) -> usize {
        self.start.len() - 1
    }

    /// Calls `f` with every negative column of row `r`, in order.
    #[inline]
    fn each(&self, r: usize, mut f: impl FnMut(usize)) {
        if self.in_batch {
            let pr = self.pos[r];
            for (j, &pj) in self.pos.iter().enumerate() {
                if j != r && pj != pr {
                    f(j);
                }
            }
        }
        for &j in &self.cols[self.start[r]..self.start[r + 1]] {
            f(j as usize);
        }
    }

    fn count(&self, r: usize) -> usize {
        let mut n = 0;
        self.each(r, |_| n += 1);
        n
    }
}

/// Lays out one step's candidates: returns the sampled items that need a column (those not
/// already a positive of the batch, in first-seen order) and each row's negatives: the other
/// rows (when `in_batch`), then its `n` sampled items (`extra[r n..(r + 1) n]`) except its own
/// positive. `col_of` is scratch of `n_items` entries set to `u32::MAX`, left that way.
fn layout(pos: &[u32], extra: &[u32], n: usize, in_batch: bool, col_of: &mut [u32]) -> (Vec<u32>, NegRows) {
    let b = pos.len();
    debug_assert_eq!(extra.len(), b * n);
    for (c, &it) in pos.iter().enumerate() {
        if col_of[it as usize] == u32::MAX {
            col_of[it as usize] = c as u32;
        }
    }
    let mut new_items = Vec::new();
    for &it in extra {
        if col_of[it as usize] == u32::MAX {
            col_of[it as usize] = (b + new_items.len()) as u32;
            new_items.push(it);
        }
    }
    let mut neg = NegRows { pos: pos.to_vec(), in_batch, start: Vec::with_capacity(b + 1), cols: Vec::with_capacity(b * n) };
    neg.start.push(0);
    for r in 0..b {
        neg.cols.extend(extra[r * n..(r + 1) * n].iter().filter(|&&e| e != pos[r]).map(|&e| col_of[e as usize]));
        neg.start.push(neg.cols.len());
    }
    for &it in pos.iter().chain(extra) {
        col_of[it as usize] = u32::MAX;
    }
    (new_items, neg)
}

#[inline]
fn softplus(x: f32) -> f32 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

#[inline]
fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// The batch loss over per-row negatives, as a fused op like [`softmax_loss`].
///
/// `v` holds the candidates' vectors (row `r`'s positive in row `r`); `neg` names each row's
/// negative columns; `corr` (empty = none) is subtracted from the softmax logits of each
/// column. With `z = u v^T / T - corr`, row `r`'s loss is `logsumexp(z_rr, z_rj...) - z_rr`
/// (softmax), `softplus(-z_rr) + mean_j softplus(z_rj)` (bce) or `mean_j softplus(z_rj - z_rr)`
/// (bpr), averaged over rows. With every row's negatives the same `m` columns these are
/// exactly [`batch_loss`]'s `bce` / `bpr`; with the other rows as negatives its `softmax`.
/// The gradient `G = dloss/dz` is computed on the host and re-entered through the surrogate
/// `sum(u * stop(G v)) / T + sum(v * stop(G^T u)) / T + c`.
fn sampled_loss(ctx: &Ctx, p: &TwoTowerParams, u: TMat, v: TMat, neg: &NegRows, corr: &[f32]) -> Scalar {
    use dfdx::prelude::NoneTape;
    use rayon::prelude::*;
    let b = neg.rows();
    let c = v.shape().0;
    debug_assert!(c >= b && (corr.is_empty() || corr.len() == c));
    let inv_t = 1.0 / p.temperature;
    let inv_b = 1.0 / b as f32;
    let loss_kind = p.loss;
    let uc = u.retaped::<NoneTape>();
    let vc = v.retaped::<NoneTape>();
    let logits = uc.clone().matmul(vc.clone().permute::<_, Axes2<1, 0>>()).as_vec();
    let mut g = vec![0.0f32; b * c];
    let row_loss: Vec<f64> = g
        .par_chunks_mut(c)
        .zip(logits.par_chunks(c))
        .enumerate()
        .map_init(
            || vec![0.0f32; c],
            |z, (r, (gr, lr))| {
                if corr.is_empty() {
                    for (zj, l) in z.iter_mut().zip(lr) {
                        *zj = l * inv_t;
                    }
                } else {
                    for ((zj, l), k) in z.iter_mut().zip(lr).zip(corr) {
                        *zj = l * inv_t - k;
                    }
                }
                let zp = z[r];
                match loss_kind {
                    Loss::Softmax => {
                        let mut mx = zp;
                        neg.each(r, |j| mx = mx.max(z[j]));
                        // One exp per column (a column may be a negative more than once).
                        for x in z.iter_mut() {
                            *x = (*x - mx).exp();
                        }
                        let mut sum = z[r] as f64;
                        neg.each(r, |j| sum += z[j] as f64);
                        let scale = (1.0 / sum) as f32 * inv_b;
                        gr[r] += z[r] * scale - inv_b;
                        neg.each(r, |j| gr[j] += z[j] * scale);
                        mx as f64 + sum.ln() - zp as f64
                    }
                    Loss::Bce => {
                        let m = neg.count(r);
                        let w = if m == 0 { 0.0 } else { 1.0 / m as f32 };
                        let mut l = softplus(-zp) as f64;
                        gr[r] -= sigmoid(-zp) * inv_b;
                        neg.each(r, |j| {
                            l += (w * softplus(z[j])) as f64;
                            gr[j] += w * sigmoid(z[j]) * inv_b;
                        });
                        l
                    }
                    Loss::Bpr => {
                        let m = neg.count(r);
                        let w = if m == 0 { 0.0 } else { 1.0 / m as f32 };
                        let mut l = 0.0f64;
                        let mut gp = 0.0f32;
                        neg.each(r, |j| {
                            let d = z[j] - zp;
                            l += (w * softplus(d)) as f64;
                            let s = w * sigmoid(d) * inv_b;
                            gr[j] += s;
                            gp -= s;
                        });
                        gr[r] += gp;
                        l
                    }
                }
            },
        )
        .collect();
    let loss = row_loss.iter().sum::<f64>() / b as f64;
    let gm = ctx.constant(b, c, g);
    let gv = gm.clone().matmul(vc) * inv_t;
    let gtu = gm.permute::<_, Axes2<1, 0>>().matmul(uc) * inv_t;
    let surrogate = (u * gv).sum::<(), _>() + (v * gtu).sum::<(), _>();
    let k = loss as f32 - surrogate.as_vec()[0];
    surrogate + k
}

/// The model's current vectors, for samplers that score items (`hard`).
struct TowerScorer<'s, 'a> {
    store: &'s ParamStore,
    item_tower: &'s Tower<'a>,
    user_tower: &'s Tower<'a>,
    hist_of: &'s dyn Fn(u32) -> Vec<u32>,
    all_items: &'s [u32],
    normalize: bool,
}

impl Scorer for TowerScorer<'_, '_> {
    fn item_vectors(&self) -> Result<crate::linalg::Matrix> {
        Ok(encode(self.store, self.item_tower, self.all_items, &|_| Vec::new(), self.normalize))
    }

    fn user_vectors(&self, users: &[u32]) -> Result<crate::linalg::Matrix> {
        Ok(encode(self.store, self.user_tower, users, self.hist_of, self.normalize))
    }
}

/// How a step with a sampler picks its negatives.
struct SamplerPlan {
    sampler: Box<dyn Sampler>,
    /// The other rows of the batch are negatives.
    in_batch: bool,
    /// Sampled negatives per row.
    extra: usize,
    /// Subtract log(expected count) from softmax logits.
    correct: bool,
    /// Scratch for [`layout`].
    col_of: Vec<u32>,
}

impl SamplerPlan {
    fn new(p: &TwoTowerParams, cfg: &serde_json::Value, split: &Split, seed: u64) -> Result<Self> {
        let sampler = sampling::build(cfg, &Arc::new(Catalog::from_split(split)), sampling_seed(seed)).map_err(|e| anyhow!("two_tower: [sampler]: {e:#}"))?;
        let in_batch = p.loss == Loss::Softmax || sampler.in_batch();
        let extra = if sampler.in_batch() { 0 } else { p.negatives };
        if !in_batch && extra == 0 {
            bail!("two_tower: the `{:?}` loss with a `{}` sampler needs `negatives` >= 1", p.loss, sampler.kind());
        }
        let correct = p.loss == Loss::Softmax && (p.logq_correction || sampler.logq());
        if correct && extra > 0 && sampler.probability(0).is_none() {
            bail!(
                "two_tower: the logQ correction (`logq_correction` or the sampler's `logq`) needs the sampler's \
                 probabilities, and a `{}` sampler's depend on the model; turn the correction off or set `negatives = 0`",
                sampler.kind()
            );
        }
        Ok(SamplerPlan { sampler, in_batch, extra, correct, col_of: vec![u32::MAX; split.n_items] })
    }
}

/// The sampler's random stream, apart from the model's.
fn sampling_seed(seed: u64) -> u64 {
    seed ^ 0x5341_4d50_4c45_5253
}

/// Trains the model and encodes every user and item.
pub fn fit(p: &TwoTowerParams, dataset: &Dataset, split: &Split, seed: u64) -> Result<Trained> {
    fit_with(p, dataset, split, seed, None)
}

/// [`fit`] with the canonical `[sampler]` table (with its `kind`) when the config has one;
/// without, the built-in negatives (uniform shared for `bce` / `bpr`, in-batch for `softmax`).
pub fn fit_with(p: &TwoTowerParams, dataset: &Dataset, split: &Split, seed: u64, sampler: Option<&serde_json::Value>) -> Result<Trained> {
    let (n_users, n_items) = (split.n_users, split.n_items);
    if split.train.is_empty() {
        bail!("two_tower: the training split is empty");
    }
    if n_items == 0 || n_users == 0 {
        bail!("two_tower: the split has no users or items");
    }
    let hist = Histories::new(split);
    let mut user_present = vec![false; n_users];
    let mut item_present = vec![false; n_items];
    let mut item_count = vec![0u64; n_items];
    for it in &split.train {
        user_present[it.user as usize] = true;
        item_present[it.item as usize] = true;
        item_count[it.item as usize] += 1;
    }
    let total = split.train.len() as f64;
    let log_q: Vec<f32> = item_count.iter().map(|&c| ((c.max(1) as f64) / total).ln() as f32).collect();

    // Architecture.
    let mut store = ParamStore::new(seed)?;
    let item_tower = Tower::build(&mut store, "item", &p.item, p, n_items, &dataset.item_features, &item_present, None)?;
    let history = if p.user.history > 0 {
        let t = match item_tower.id_table {
            Some(t) => t,
            None => store.table("user.history", n_items, p.embedding_dim, Init::Normal(0.1))?,
        };
        Some((t, p.user.history))
    } else {
        None
    };
    let user_tower = Tower::build(&mut store, "user", &p.user, p, n_users, &dataset.user_features, &user_present, history)?;
    let opt = OptimConfig { kind: p.optimizer, lr: p.lr, weight_decay: p.weight_decay, clip_norm: p.clip_norm, ..Default::default() };

    // Early-stopping users.
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ 0x7470_7477_0000_0000);
    let early = p.patience > 0 && !split.valid.is_empty();
    let eval_users: Vec<u32> = if early {
        let mut us: Vec<u32> = split.valid.iter().map(|i| i.user).collect();
        us.dedup();
        us.shuffle(&mut rng);
        us.truncate(p.eval_users);
        us.sort_unstable();
        us
    } else {
        Vec::new()
    };
    let hist_of = |u: u32| -> Vec<u32> {
        let h = hist.of(u);
        h[h.len().saturating_sub(p.user.history)..].to_vec()
    };
    let all_users: Vec<u32> = (0..n_users as u32).collect();
    let all_items: Vec<u32> = (0..n_items as u32).collect();
    let mut plan = match sampler {
        Some(cfg) => Some(SamplerPlan::new(p, cfg, split, seed)?),
        None => None,
    };
    let mut extra: Vec<u32> = Vec::new();

    let mut order: Vec<usize> = (0..split.train.len()).collect();
    let mut epochs = Vec::new();
    let mut valid_recalls = Vec::new();
    let mut best: Option<(f64, usize, ParamStore)> = None;
    let mut since_best = 0;
    let mut global_step = 0u64;
    let mut step_secs: Vec<f64> = Vec::new();
    let bsz = p.batch_size.min(split.train.len()).max(1);
    'epochs: for epoch in 0..p.epochs {
        let t0 = Instant::now();
        order.shuffle(&mut rng);
        let (mut loss_sum, mut n_ex) = (0.0f64, 0usize);
        step_secs.clear();
        for (step, chunk) in order.chunks(bsz).enumerate() {
            if chunk.len() < 2 {
                continue;
            }
            let ts = Instant::now();
            let b = chunk.len();
            let users: Vec<u32> = chunk.iter().map(|&j| split.train[j].user).collect();
            let mut items: Vec<u32> = chunk.iter().map(|&j| split.train[j].item).collect();
            let pos_items = items.clone();
            // With a sampler: per-row negatives as candidate columns (and their logQ terms).
            let mut sampled: Option<(NegRows, Vec<f32>)> = None;
            if let Some(sp) = plan.as_mut() {
                extra.clear();
                if sp.extra > 0 {
                    let scorer = TowerScorer {
                        store: &store,
                        item_tower: &item_tower,
                        user_tower: &user_tower,
                        hist_of: &hist_of,
                        all_items: &all_items,
                        normalize: p.normalize,
                    };
                    let batch = sampling::Batch { users: &users, positives: &pos_items };
                    sp.sampler.sample(&batch, sp.extra, &scorer, &mut extra)?;
                }
                let (new_items, neg) = layout(&pos_items, &extra, sp.extra, sp.in_batch, &mut sp.col_of);
                items.extend(new_items);
                let corr = if sp.correct {
                    let in_b = if sp.in_batch { (b - 1) as f64 } else { 0.0 };
                    items
                        .iter()
                        .map(|&i| {
                            let q = sp.sampler.probability(i).unwrap_or(0.0);
                            let expect = in_b * (log_q[i as usize] as f64).exp() + sp.extra as f64 * q;
                            if expect > 0.0 {
                                expect.ln() as f32
                            } else {
                                0.0
                            }
                        })
                        .collect()
                } else {
                    Vec::new()
                };
                sampled = Some((neg, corr));
            } else if p.loss != Loss::Softmax {
                items.extend((0..p.negatives).map(|_| rng.gen_range(0..n_items as u32)));
            }
            // History before each example (the split is sorted by (user, ts)).
            let hists: Vec<&[u32]> = chunk
                .iter()
                .map(|&j| {
                    let u = split.train[j].user as usize;
                    let before = &hist.items[hist.start[u]..j];
                    &before[before.len().saturating_sub(p.user.history)..]
                })
                .collect();
            let ub = user_tower.input(&store, &users, &hists);
            let ib = item_tower.input(&store, &items, &[]);
            let mut ctx = Ctx::new(&store, true, seed ^ global_step.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let (ul, u) = user_tower.forward(&mut ctx, &ub, p.normalize);
            let (il, v) = item_tower.forward(&mut ctx, &ib, p.normalize);
            let loss = match &sampled {
                Some((neg, corr)) => sampled_loss(&ctx, p, u, v, neg, corr),
                None => batch_loss(&ctx, p, u, v, &pos_items, &log_q),
            };
            let mut back = ctx.backward(loss)?;
            if !back.loss.is_finite() || !back.grads.all_finite() {
                bail!(
                    "two_tower: the loss became {} at epoch {} step {} (global step {}); training diverged, \
                     try a lower `lr` (now {}){}",
                    back.loss,
                    epoch + 1,
                    step + 1,
                    global_step + 1,
                    p.lr,
                    if p.clip_norm == 0.0 { " or set `clip_norm`" } else { "" }
                );
            }
            ub.scatter(&back.leaves[ul.0], &mut back.grads.sparse);
            ib.scatter(&back.leaves[il.0], &mut back.grads.sparse);
            store.apply_buffer_updates(std::mem::take(&mut back.buffer_updates));
            store.step(&mut back.grads, &opt);
            loss_sum += back.loss as f64 * b as f64;
            n_ex += b;
            global_step += 1;
            step_secs.push(ts.elapsed().as_secs_f64());
        }
        let secs = t0.elapsed().as_secs_f64();
        epochs.push(EpochLog { epoch: epoch + 1, loss: loss_sum / n_ex.max(1) as f64, seconds: secs, throughput: n_ex as f64 / secs.max(1e-9) });
        if early {
            let iv = encode(&store, &item_tower, &all_items, &|_| Vec::new(), p.normalize);
            let uv = encode(&store, &user_tower, &all_users, &hist_of, p.normalize);
            let r = recall_at_k(&uv, &iv, &split.train, &split.valid, p.eval_k, &eval_users);
            valid_recalls.push(r);
            if best.as_ref().is_none_or(|(b, _, _)| r > *b) {
                best = Some((r, epoch + 1, store.clone()));
                since_best = 0;
            } else {
                since_best += 1;
                if since_best >= p.patience {
                    break 'epochs;
                }
            }
        }
    }
    let mut notes = serde_json::Map::new();
    if let Some((r, e, s)) = best {
        store = s;
        notes.insert("best_epoch".into(), e.into());
        notes.insert(format!("best_valid_recall@{}", p.eval_k), r.into());
        notes.insert(format!("valid_recall@{}", p.eval_k), valid_recalls.into());
    }
    notes.insert("parameters".into(), store.n_params().into());
    if let Some(sp) = &plan {
        notes.insert("sampler".into(), sp.sampler.kind().into());
        notes.insert("sampled_negatives_per_row".into(), sp.extra.into());
        notes.extend(sp.sampler.notes());
    }
    notes.insert("steps".into(), global_step.into());
    if !step_secs.is_empty() {
        // Median step time of the last epoch: robust to a busy machine, unlike the epoch mean.
        step_secs.sort_by(f64::total_cmp);
        notes.insert("last_epoch_median_step_ms".into(), (step_secs[step_secs.len() / 2] * 1e3).into());
    }
    let items = encode(&store, &item_tower, &all_items, &|_| Vec::new(), p.normalize);
    let users = encode(&store, &user_tower, &all_users, &hist_of, p.normalize);
    if let Some(r) = items.first_non_finite_row().or(users.first_non_finite_row()) {
        bail!("two_tower: row {r} of the output vectors is not finite; try a lower `lr`");
    }
    Ok(Trained { items, users, metric: Metric::Ip, epochs, notes })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::FeatureTable;

    fn parse_err(v: serde_json::Value) -> ParamError {
        match parse(&v) {
            Err(e) => e,
            Ok(_) => panic!("{v} should be rejected"),
        }
    }

    #[test]
    fn invalid_configs_name_the_key() {
        let cases = [
            (serde_json::json!({"hidden": []}), "hidden"),
            (serde_json::json!({"hidden": [64, 0]}), "hidden.1"),
            (serde_json::json!({"dim": 0}), "dim"),
            (serde_json::json!({"dropout": 1.5}), "dropout"),
            (serde_json::json!({"loss": "hinge"}), "loss"),
            (serde_json::json!({"activation": "gelu"}), "activation"),
            (serde_json::json!({"optimizer": "lion"}), "optimizer"),
            (serde_json::json!({"temperature": 0.0}), "temperature"),
            (serde_json::json!({"item": {"history": 5}}), "item.history"),
            (serde_json::json!({"user": {"id": false}}), "user"),
            (serde_json::json!({"user": {"idd": true}}), "user"),
            (serde_json::json!({"lr": -1.0}), "lr"),
            (serde_json::json!({"batch_size": 1}), "batch_size"),
        ];
        for (v, key) in cases {
            let e = parse_err(v.clone());
            assert!(e.path == key || e.path.starts_with(&format!("{key}.")), "{v}: error at `{}` ({e}), expected `{key}`", e.path);
        }
        let e = parse_err(serde_json::json!({"hiden": [1]}));
        assert!(e.to_string().contains("hiden"), "{e}");
        // Defaults parse and canonicalise with every key filled in.
        let (_, canon) = parse(&serde_json::json!({})).unwrap();
        assert_eq!(canon["hidden"], serde_json::json!([256, 128]));
        assert_eq!(canon["loss"], "softmax");
        assert_eq!(canon["optimizer"], "adam");
        // The device defaults to the build's and is part of the canonical (hashed) params; the
        // other device is refused with the way to get it.
        assert_eq!(canon["device"], crate::nn::DEVICE);
        let other = if cfg!(feature = "cuda") { "cpu" } else { "cuda" };
        let e = parse_err(serde_json::json!({ "device": other }));
        assert!(e.path == "device" && e.to_string().contains("features cuda"), "{e}");
        assert_eq!(parse_err(serde_json::json!({"device": "tpu"})).path, "device");
    }

    /// `n_users` users in `k` clusters; each interacts with `per_user` distinct items of its
    /// cluster (items `i` with `i % k == cluster`); the last one is the test item.
    fn planted(n_users: usize, n_items: usize, k: usize, per_user: usize, seed: u64) -> (Dataset, Split) {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut split = Split { n_users, n_items, ..Default::default() };
        for u in 0..n_users {
            let c = u % k;
            let mut pool: Vec<u32> = (0..n_items as u32).filter(|i| *i as usize % k == c).collect();
            pool.shuffle(&mut rng);
            for (t, &i) in pool.iter().take(per_user).enumerate() {
                let it = Interaction { user: u as u32, item: i, rating: 1.0, ts: t as i64 };
                if t + 1 == per_user {
                    split.test.push(it);
                } else if t + 2 == per_user {
                    split.valid.push(it);
                } else {
                    split.train.push(it);
                }
            }
        }
        let mut ds = Dataset { name: "planted".into(), ..Default::default() };
        for u in 0..n_users {
            ds.users.intern(&format!("u{u}"));
        }
        for i in 0..n_items {
            ds.items.intern(&format!("i{i}"));
        }
        ds.item_features = FeatureTable {
            columns: vec![
                FeatureColumn::Categorical { name: "genre".into(), cardinality: k as u32, values: (0..n_items as u32).map(|i| i % k as u32).collect() },
                FeatureColumn::MultiHot {
                    name: "tags".into(),
                    cardinality: 2 * k as u32,
                    values: (0..n_items as u32).map(|i| vec![i % k as u32, k as u32 + (i % 2)]).collect(),
                },
                FeatureColumn::Numeric { name: "year".into(), values: (0..n_items).map(|i| 1990.0 + (i % 30) as f32).collect() },
            ],
        };
        ds.user_features =
            FeatureTable { columns: vec![FeatureColumn::Numeric { name: "age".into(), values: (0..n_users).map(|u| (u % 50) as f32).collect() }] };
        (ds, split)
    }

    #[test]
    fn loss_gradients_match_finite_differences() {
        let store = ParamStore::new(0).unwrap();
        let (b, d) = (5usize, 3usize);
        // A repeated positive (items 1, 1) exercises the accidental-hit mask.
        let pos = vec![0u32, 1, 1, 2, 3];
        let log_q = vec![-1.0f32, -2.0, -0.5, -3.0];
        let w = |n: usize, s: f32| -> Vec<f32> { (0..n).map(|k| ((k as f32) * 1.37 + s).sin()).collect() };
        for (loss, logq) in [("softmax", false), ("softmax", true), ("bce", false), ("bpr", false)] {
            let p = params(serde_json::json!({"loss": loss, "negatives": 4, "temperature": 0.5, "logq_correction": logq}));
            let m = if loss == "softmax" { 0 } else { 4 };
            let eval = |uu: &[f32], vv: &[f32]| -> (f32, Vec<f32>, Vec<f32>) {
                let mut ctx = Ctx::new(&store, true, 0);
                let (lu, u) = ctx.leaf(b, d, uu.to_vec());
                let (lv, v) = ctx.leaf(b + m, d, vv.to_vec());
                let l = batch_loss(&ctx, &p, u, v, &pos, &log_q);
                let back = ctx.backward(l).unwrap();
                (back.loss, back.leaves[lu.0].clone(), back.leaves[lv.0].clone())
            };
            let (uu, vv) = (w(b * d, 0.1), w((b + m) * d, 0.7));
            let (value, gu, gv) = eval(&uu, &vv);
            if loss == "softmax" {
                // Naive reference value.
                let mut want = 0.0f64;
                for i in 0..b {
                    let z: Vec<f64> = (0..b)
                        .filter(|&j| j == i || pos[j] != pos[i])
                        .map(|j| {
                            let s: f64 = (0..d).map(|k| (uu[i * d + k] * vv[j * d + k]) as f64).sum::<f64>() / 0.5;
                            let q = if logq { log_q[pos[j] as usize] as f64 } else { 0.0 };
                            s - q
                        })
                        .collect();
                    let zi: f64 =
                        (0..d).map(|k| (uu[i * d + k] * vv[i * d + k]) as f64).sum::<f64>() / 0.5 - if logq { log_q[pos[i] as usize] as f64 } else { 0.0 };
                    let lse = z.iter().map(|x| x.exp()).sum::<f64>().ln();
                    want += lse - zi;
                }
                want /= b as f64;
                assert!((value as f64 - want).abs() < 1e-4, "{loss} logq={logq}: value {value} vs {want}");
            }
            let eps = 1e-2f32;
            for (which, base, g) in [("u", &uu, &gu), ("v", &vv, &gv)] {
                for k in 0..base.len() {
                    let mut x = base.clone();
                    x[k] += eps;
                    let lp = if which == "u" { eval(&x, &vv).0 } else { eval(&uu, &x).0 };
                    x[k] -= 2.0 * eps;
                    let lm = if which == "u" { eval(&x, &vv).0 } else { eval(&uu, &x).0 };
                    let num = (lp - lm) / (2.0 * eps);
                    assert!((g[k] - num).abs() < 2e-3 + 2e-2 * num.abs(), "{loss} logq={logq} d/d{which}[{k}]: {} vs {num}", g[k]);
                }
            }
        }
    }

    fn params(v: serde_json::Value) -> TwoTowerParams {
        params::parse(&v).unwrap()
    }

    fn test_recall(t: &Trained, split: &Split) -> f64 {
        let users: Vec<u32> = (0..split.n_users as u32).collect();
        recall_at_k(&t.users, &t.items, &split.train, &split.test, 10, &users)
    }

    #[test]
    fn planted_clusters_are_recovered_by_every_loss() {
        // 400 items in 10 clusters of 40; a user's unseen cluster items are 40 - 12 = 28, so a
        // model that ranks its cluster first has expected Recall@10 of about 10/28 = 0.36,
        // while random or popularity ranking gives about 10/388 = 0.026.
        let (ds, split) = planted(500, 400, 10, 14, 1);
        for loss in ["softmax", "bce", "bpr"] {
            let p = params(serde_json::json!({
                "dim": 16, "hidden": [32], "embedding_dim": 16, "batch_size": 128, "epochs": 15,
                "lr": 0.01, "loss": loss, "negatives": 64,
                "temperature": if loss == "softmax" { 0.1 } else { 0.2 },
            }));
            let t = fit(&p, &ds, &split, 3).unwrap();
            let r = test_recall(&t, &split);
            eprintln!("planted {loss}: Recall@10 {r:.3}, losses {:?}", t.epochs.iter().map(|e| e.loss).collect::<Vec<_>>());
            assert!(r >= 0.25, "{loss}: Recall@10 {r:.3} below 0.25");
            assert_eq!((t.items.rows, t.items.cols, t.users.rows), (400, 16, 500));
            assert!(t.epochs.len() == 15 && t.epochs[14].loss < t.epochs[0].loss);
        }
    }

    #[test]
    fn planted_clusters_from_features_and_history_only() {
        // No id embeddings: items are known by genre / tags / year, users by their history.
        let (ds, split) = planted(500, 400, 10, 14, 2);
        let p = params(serde_json::json!({
            "dim": 16, "hidden": [32, 16], "embedding_dim": 16, "batch_size": 128, "epochs": 10,
            "lr": 0.01, "batch_norm": true, "dropout": 0.1, "activation": "tanh",
            "user": {"id": false, "features": ["age"], "history": 8},
            "item": {"id": false, "features": ["genre", "tags", "year"]},
            "logq_correction": true,
        }));
        let t = fit(&p, &ds, &split, 5).unwrap();
        let r = test_recall(&t, &split);
        eprintln!("planted features+history: Recall@10 {r:.3}");
        assert!(r >= 0.25, "Recall@10 {r:.3} below 0.25");
    }

    #[test]
    fn seeded_fits_are_deterministic_and_early_stopping_reports() {
        let (ds, split) = planted(200, 100, 5, 10, 3);
        let p = params(serde_json::json!({
            "dim": 8, "hidden": [16], "embedding_dim": 8, "batch_size": 64, "epochs": 6, "lr": 0.01,
            "dropout": 0.2, "batch_norm": true, "patience": 2, "user": {"history": 4},
        }));
        let a = fit(&p, &ds, &split, 7).unwrap();
        let b = fit(&p, &ds, &split, 7).unwrap();
        let c = fit(&p, &ds, &split, 8).unwrap();
        assert_eq!(a.items, b.items);
        assert_eq!(a.users, b.users);
        assert_ne!(a.items, c.items);
        assert!(a.notes.contains_key("best_epoch"), "{:?}", a.notes);
        eprintln!("early stopping notes: {:?}", a.notes);
    }

    #[test]
    fn layout_lists_in_batch_and_sampled_columns() {
        let mut col_of = vec![u32::MAX; 10];
        let pos = [1u32, 2, 1];
        let extra = [5u32, 2, 7, 5, 9, 1];
        let (new_items, neg) = layout(&pos, &extra, 2, true, &mut col_of);
        assert_eq!(new_items, vec![5, 7, 9]);
        let rows = |neg: &NegRows| -> Vec<Vec<usize>> {
            (0..3)
                .map(|r| {
                    let mut v = Vec::new();
                    neg.each(r, |j| v.push(j));
                    v
                })
                .collect()
        };
        // Row 0 (positive 1): row 1 in-batch (row 2 shares the positive), then 5 and 2.
        // Row 1 (positive 2): rows 0 and 2, then 7 and 5; row 2: row 1, then 9 (1 dropped).
        assert_eq!(rows(&neg), vec![vec![1, 3, 1], vec![0, 2, 4, 3], vec![1, 5]]);
        assert_eq!(neg.count(1), 4);
        assert!(col_of.iter().all(|&c| c == u32::MAX));
        let (_, neg) = layout(&pos, &extra, 2, false, &mut col_of);
        assert_eq!(rows(&neg), vec![vec![3, 1], vec![4, 3], vec![5]]);
    }

    /// The fused per-row loss equals `batch_loss` where they overlap (shared sampled negatives
    /// for bce / bpr; the other rows with logQ for softmax, up to the constant the expected
    /// count adds), and its gradients match finite differences on ragged rows.
    #[test]
    fn sampled_loss_matches_batch_loss_and_finite_differences() {
        let store = ParamStore::new(0).unwrap();
        let (b, d, m) = (5usize, 3usize, 4usize);
        let pos = vec![0u32, 1, 1, 2, 3];
        let log_q = vec![-1.0f32, -2.0, -0.5, -3.0];
        let w = |n: usize, s: f32| -> Vec<f32> { (0..n).map(|k| ((k as f32) * 1.37 + s).sin()).collect() };
        let (uu, vv) = (w(b * d, 0.1), w((b + m) * d, 0.7));
        let run = |p: &TwoTowerParams, uu: &[f32], vv: &[f32], c: usize, neg: Option<(&NegRows, &[f32])>| {
            let mut ctx = Ctx::new(&store, true, 0);
            let (lu, u) = ctx.leaf(b, d, uu.to_vec());
            let (lv, v) = ctx.leaf(c, d, vv.to_vec());
            let l = match neg {
                Some((n, corr)) => sampled_loss(&ctx, p, u, v, n, corr),
                None => batch_loss(&ctx, p, u, v, &pos, &log_q),
            };
            let back = ctx.backward(l).unwrap();
            (back.loss, back.leaves[lu.0].clone(), back.leaves[lv.0].clone())
        };
        let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5);
        for loss in ["bce", "bpr"] {
            let p = params(serde_json::json!({"loss": loss, "negatives": m, "temperature": 0.5}));
            let shared = NegRows {
                pos: pos.clone(),
                in_batch: false,
                start: (0..=b).map(|r| r * m).collect(),
                cols: (0..b).flat_map(|_| (b..b + m).map(|c| c as u32)).collect(),
            };
            let want = run(&p, &uu, &vv, b + m, None);
            let got = run(&p, &uu, &vv, b + m, Some((&shared, &[])));
            assert!((want.0 - got.0).abs() < 1e-5, "{loss}: {} vs {}", got.0, want.0);
            assert!(close(&want.1, &got.1) && close(&want.2, &got.2), "{loss} gradients differ");
        }
        for logq in [false, true] {
            let p = params(serde_json::json!({"loss": "softmax", "temperature": 0.5, "logq_correction": logq}));
            let mut col_of = vec![u32::MAX; 4];
            let (_, neg) = layout(&pos, &[], 0, true, &mut col_of);
            let corr: Vec<f32> = if logq { pos.iter().map(|&i| log_q[i as usize] + 1.3).collect() } else { Vec::new() };
            let want = run(&p, &uu, &vv[..b * d], b, None);
            let got = run(&p, &uu, &vv[..b * d], b, Some((&neg, &corr)));
            assert!((want.0 - got.0).abs() < 1e-5, "softmax logq={logq}: {} vs {}", got.0, want.0);
            assert!(close(&want.1, &got.1) && close(&want.2, &got.2), "softmax logq={logq} gradients differ");
        }
        // Ragged rows (in-batch plus some sampled columns, a repeat, an empty row).
        let ragged = NegRows { pos: pos.clone(), in_batch: false, start: vec![0, 3, 3, 5, 9, 10], cols: vec![1, 5, 5, 0, 8, 0, 1, 6, 7, 2] };
        // In-batch rows plus sampled columns, one repeated.
        let mixed = NegRows { pos: pos.clone(), in_batch: true, start: vec![0, 2, 2, 3, 4, 6], cols: vec![5, 5, 8, 6, 7, 8] };
        let corr: Vec<f32> = (0..b + m).map(|c| 0.3 * c as f32 - 1.0).collect();
        let cases = [
            ("softmax", &ragged, &corr[..]),
            ("softmax", &mixed, &corr[..]),
            ("softmax", &ragged, &[][..]),
            ("bce", &ragged, &[][..]),
            ("bce", &mixed, &[][..]),
            ("bpr", &ragged, &[][..]),
            ("bpr", &mixed, &[][..]),
        ];
        for (loss, rows, corr) in cases {
            let p = params(serde_json::json!({"loss": loss, "negatives": 2, "temperature": 0.5}));
            let f = |uu: &[f32], vv: &[f32]| run(&p, uu, vv, b + m, Some((rows, corr)));
            let (_, gu, gv) = f(&uu, &vv);
            let eps = 1e-2f32;
            for (which, base, g) in [("u", &uu, &gu), ("v", &vv, &gv)] {
                for k in 0..base.len() {
                    let mut x = base.clone();
                    x[k] += eps;
                    let lp = if which == "u" { f(&x, &vv).0 } else { f(&uu, &x).0 };
                    x[k] -= 2.0 * eps;
                    let lm = if which == "u" { f(&x, &vv).0 } else { f(&uu, &x).0 };
                    let num = (lp - lm) / (2.0 * eps);
                    assert!((g[k] - num).abs() < 2e-3 + 2e-2 * num.abs(), "{loss} in_batch={} d/d{which}[{k}]: {} vs {num}", rows.in_batch, g[k]);
                }
            }
        }
    }

    #[test]
    fn planted_clusters_are_recovered_with_every_sampler() {
        let (ds, split) = planted(500, 400, 10, 14, 1);
        let cases = [
            ("softmax", serde_json::json!({"kind": "in_batch", "logq": true}), 0usize),
            ("softmax", serde_json::json!({"kind": "frequency"}), 16),
            ("bce", serde_json::json!({"kind": "uniform"}), 8),
            ("bpr", serde_json::json!({"kind": "frequency", "alpha": 0.5}), 8),
            // (`negatives` must be >= 1 for bpr, and in_batch ignores it.)
            ("bpr", serde_json::json!({"kind": "in_batch"}), 1),
            (
                "bpr",
                serde_json::json!({"kind": "mixed", "parts": [{"kind": "uniform", "weight": 0.75}, {"kind": "hard", "weight": 0.25, "pool": 50, "refresh_steps": 10}]}),
                8,
            ),
            ("softmax", serde_json::json!({"kind": "hard", "pool": 50, "refresh_steps": 10}), 4),
        ];
        for (loss, sampler, negatives) in cases {
            let p = params(serde_json::json!({
                "dim": 16, "hidden": [32], "embedding_dim": 16, "batch_size": 128, "epochs": 15,
                "lr": 0.01, "loss": loss, "negatives": negatives,
                "temperature": if loss == "softmax" { 0.1 } else { 0.2 },
            }));
            let t0 = Instant::now();
            let t = fit_with(&p, &ds, &split, 3, Some(&sampler)).unwrap();
            let r = test_recall(&t, &split);
            eprintln!("planted {loss} + {sampler}: Recall@10 {r:.3} in {:.1}s, notes {:?}", t0.elapsed().as_secs_f64(), t.notes);
            assert!(r >= 0.25, "{loss} + {sampler}: Recall@10 {r:.3} below 0.25");
            assert_eq!(t.notes["sampler"], sampler["kind"]);
        }
    }

    #[test]
    fn sampled_fits_are_deterministic_and_bad_combinations_are_errors() {
        let (ds, split) = planted(200, 100, 5, 10, 3);
        let p = params(serde_json::json!({
            "dim": 8, "hidden": [16], "embedding_dim": 8, "batch_size": 64, "epochs": 3, "lr": 0.01,
            "loss": "bpr", "negatives": 4, "user": {"history": 4},
        }));
        let s = serde_json::json!({"kind": "mixed", "parts": [{"kind": "frequency"}, {"kind": "hard", "pool": 10, "refresh_steps": 3}]});
        let a = fit_with(&p, &ds, &split, 7, Some(&s)).unwrap();
        let b = fit_with(&p, &ds, &split, 7, Some(&s)).unwrap();
        let c = fit_with(&p, &ds, &split, 8, Some(&s)).unwrap();
        assert_eq!(a.items, b.items);
        assert_eq!(a.users, b.users);
        assert_ne!(a.items, c.items);
        // A refresh every 3 steps (3 epochs of ceil(1600 / 64) = 25 steps).
        assert_eq!(a.notes["steps"], 75);
        assert_eq!(a.notes["hard_refreshes"], 25);
        // The sampler changes training.
        let u = fit_with(&p, &ds, &split, 7, Some(&serde_json::json!({"kind": "uniform"}))).unwrap();
        assert_ne!(a.items, u.items);
        let soft = params(serde_json::json!({"loss": "softmax", "negatives": 4, "logq_correction": true, "epochs": 1}));
        let e = fit_with(&soft, &ds, &split, 1, Some(&serde_json::json!({"kind": "hard"}))).unwrap_err().to_string();
        assert!(e.contains("logQ") && e.contains("hard"), "{e}");
        let e = fit_with(&p, &ds, &split, 1, Some(&serde_json::json!({"kind": "nope"}))).unwrap_err().to_string();
        assert!(e.contains("[sampler]") && e.contains("nope"), "{e}");
    }

    #[test]
    fn divergence_and_missing_features_are_errors() {
        let (ds, split) = planted(100, 50, 5, 8, 4);
        let p = params(serde_json::json!({"dim": 8, "hidden": [8], "normalize": false, "lr": 1e30, "epochs": 3, "batch_size": 16, "optimizer": "sgd"}));
        let e = fit(&p, &ds, &split, 1).unwrap_err().to_string();
        assert!(e.contains("step") && e.contains("lower `lr`"), "{e}");
        let p = params(serde_json::json!({"item": {"features": ["colour"]}}));
        let e = fit(&p, &ds, &split, 1).unwrap_err().to_string();
        assert!(e.contains("item.features") && e.contains("colour") && e.contains("genre"), "{e}");
    }
}
