//! `kind = "sasrec"`: SASRec (Kang and McAuley, ICDM 2018), the sequence yardstick beside
//! Item2Vec. Each user's training items in time order feed a causal self-attention network
//! ([`net`]) that predicts, at every position, the next item; the score of item `i` at
//! position `t` is `out_t · E_i` with `E` the input's item table, so the user vector is the
//! last position's output over the user's last `max_len` training items, the item vectors
//! are `E`, and retrieval is an inner-product search as for the towers.
//!
//! Training, as the paper: binary cross-entropy of every position's next item against
//! `negatives` sampled items (one by default) the user never trained on, or with `loss =
//! "sampled_softmax"` a softmax over the positive and those negatives; Adam; dropout. The
//! paper trains on each user's last `max_len` items only; here a longer history is cut into
//! windows of `max_len` targets from its end, so every training interaction is a target once
//! (as RecBole's per-prefix training also uses every interaction).
//!
//! A step's sequences are cut into fixed groups of [`GROUP`] that run in parallel and whose
//! gradients are summed in group order, and every dropout mask comes from the step and the
//! sequence's place in it, so training is the same bits for any thread count.

pub mod net;
pub mod online;

use super::{valid_recall, Checkpoint, EpochLog, Model, ModelKind, TrainInput, Trained};
use crate::ensure_param;
use crate::index::Metric;
use crate::linalg::Matrix;
use crate::nn::optim::{update_row, OptimConfig};
use crate::params::{self, ParamError, Validate};
use crate::sampling::{self, derive_seed, Catalog, Scorer};
use anyhow::{anyhow, bail, Result};
use net::{Grad, Layout, Loss, Shape};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SasRecParams {
    pub dim: usize,
    pub blocks: usize,
    pub heads: usize,
    /// Items of history a position attends to (and the user vector reads).
    pub max_len: usize,
    pub dropout: f64,
    pub lr: f64,
    /// Sequences (windows) per step.
    pub batch_size: usize,
    pub epochs: usize,
    /// Sampled negatives per position.
    pub negatives: usize,
    pub loss: Loss,
}

impl Default for SasRecParams {
    fn default() -> Self {
        // The paper's two blocks, one head, dropout 0.2, Adam at 0.001 and batches of 128;
        // 64 dimensions and 50 items of history as RecBole's defaults; half the paper's 200
        // epochs, since windows make every interaction a target (the paper's last-`max_len`
        // sequences use fewer), which README's MovieLens 100K row measures.
        SasRecParams { dim: 64, blocks: 2, heads: 1, max_len: 50, dropout: 0.2, lr: 1e-3, batch_size: 128, epochs: 100, negatives: 1, loss: Loss::Bce }
    }
}

impl Validate for SasRecParams {
    fn validate(&self) -> Result<(), ParamError> {
        ensure_param!(self.dim >= 1 && self.dim <= 4096, "dim", "must be between 1 and 4096, got {}", self.dim);
        ensure_param!(self.blocks <= 16, "blocks", "must be at most 16, got {}", self.blocks);
        ensure_param!(self.heads >= 1 && self.dim % self.heads == 0, "heads", "must divide dim ({}), got {}", self.dim, self.heads);
        ensure_param!(self.max_len >= 1 && self.max_len <= 4096, "max_len", "must be between 1 and 4096, got {}", self.max_len);
        ensure_param!(self.dropout.is_finite() && (0.0..1.0).contains(&self.dropout), "dropout", "must be in [0, 1), got {}", self.dropout);
        ensure_param!(self.lr.is_finite() && self.lr > 0.0, "lr", "must be a positive number, got {}", self.lr);
        ensure_param!(self.batch_size >= 1, "batch_size", "must be at least 1, got {}", self.batch_size);
        ensure_param!(self.epochs >= 1, "epochs", "must be at least 1, got {}", self.epochs);
        ensure_param!(self.negatives >= 1 && self.negatives <= 10_000, "negatives", "must be between 1 and 10000, got {}", self.negatives);
        Ok(())
    }
}

pub struct SasRec(pub SasRecParams);

/// Sequences per parallel task of a step: fixed, so the sum of the tasks' gradients (taken
/// in task order) does not depend on the thread count.
pub const GROUP: usize = 8;

/// One training sequence: user `user`'s items `start..end` (inputs `start..end - 1`, targets
/// `start + 1..end`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Window {
    pub user: u32,
    pub start: usize,
    pub end: usize,
}

/// The training windows of every user's sequence: from its end, at most `max_len` targets
/// each, so each item but a user's first is a target exactly once.
pub fn windows(seqs: &[Vec<u32>], max_len: usize) -> Vec<Window> {
    let mut out = Vec::new();
    for (u, s) in seqs.iter().enumerate() {
        let mut end = s.len();
        while end >= 2 {
            let start = end.saturating_sub(max_len + 1);
            out.push(Window { user: u as u32, start, end });
            end = start + 1;
        }
    }
    out
}

/// Adam's state over the dense parameters and the item table.
struct Adam {
    m: Vec<f32>,
    v: Vec<f32>,
    item_m: Vec<f32>,
    item_v: Vec<f32>,
    t: u32,
}

/// The item table as a sampler sees the model: `hard` needs a user vector per row, which a
/// sequence model has per position, not per user.
struct Items<'a>(&'a Matrix);

impl Scorer for Items<'_> {
    fn item_vectors(&self) -> Result<Matrix> {
        Ok(self.0.clone())
    }
    fn user_vectors(&self, _: &[u32]) -> Result<Matrix> {
        bail!("sasrec scores each position of a sequence, not a user, so the `hard` sampler has no query to rank with; use uniform, frequency or in_batch")
    }
}

impl Model for SasRec {
    fn uses_sampler(&self) -> bool {
        true
    }

    fn epoch_key(&self) -> Option<&'static str> {
        Some("epochs")
    }

    fn online(&self, _: Arc<crate::data::Dataset>, split: &crate::data::Split, _: u64, weights: &[u8]) -> Result<Option<Box<dyn super::OnlineQuery>>> {
        Ok(Some(Box::new(online::load(&self.0, split, weights)?)))
    }

    fn fit(&self, input: &TrainInput) -> Result<Trained> {
        let p = &self.0;
        let split = input.split;
        anyhow::ensure!(split.n_items >= 2, "sasrec: needs at least 2 items");
        let seqs = split.by_user(&split.train);
        let wins = windows(&seqs, p.max_len);
        anyhow::ensure!(!wins.is_empty(), "sasrec: no user has two training interactions, so there is no next item to learn");
        let (ni, d) = (split.n_items, p.dim);
        let layout = Layout::new(Shape { d, heads: p.heads, blocks: p.blocks, max_len: p.max_len });
        let (from, to) = input.span(p.epochs)?;
        let (mut table, mut dense, mut adam) = match input.resumed_table("items", ni, d)? {
            Some(t) => {
                let get = |name: &str, rows: usize, cols: usize| -> Result<Vec<f32>> {
                    Ok(input.resumed_table(name, rows, cols)?.ok_or_else(|| anyhow!("the checkpoint has no `{name}`"))?.data)
                };
                let adam = Adam {
                    m: get("adam_m", 1, layout.len)?,
                    v: get("adam_v", 1, layout.len)?,
                    item_m: get("adam_item_m", ni, d)?,
                    item_v: get("adam_item_v", ni, d)?,
                    t: get("adam_t", 1, 1)?[0] as u32,
                };
                (t, get("dense", 1, layout.len)?, adam)
            }
            None => {
                let mut rng = Xoshiro256PlusPlus::seed_from_u64(input.seed);
                let mut t = Matrix::zeros(ni, d);
                net::xavier(&mut t.data, ni, d, &mut rng);
                let w = layout.init(&mut rng);
                let adam = Adam { m: vec![0.0; layout.len], v: vec![0.0; layout.len], item_m: vec![0.0; ni * d], item_v: vec![0.0; ni * d], t: 0 };
                (t, w, adam)
            }
        };
        let opt = OptimConfig { lr: p.lr as f32, ..Default::default() };
        let catalog = Arc::new(Catalog::from_split(split));
        let sampler_table = input.sampler.cloned().unwrap_or_else(|| json!({"kind": "uniform"}));
        let validation = valid_recall::for_logging(split);
        let mut valid_recalls = Vec::new();
        let targets: usize = wins.iter().map(|w| w.end - w.start - 1).sum();
        let bar = crate::pipeline::progress::epochs("sasrec", (to - from) as u64, input.progress);
        let (mut epochs, mut skipped, mut total) = (Vec::with_capacity(to - from), 0u64, 0u64);
        for epoch in from..to {
            let t0 = Instant::now();
            // Order, negatives and dropout come from `(seed, epoch)` alone, so a resumed
            // training goes on bit for bit.
            let seed = derive_seed(input.seed, epoch as u64 + 1);
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
            let mut order = wins.clone();
            order.shuffle(&mut rng);
            let mut sampler = sampling::build(&sampler_table, &catalog, derive_seed(seed, 0x5a)).map_err(|e| anyhow!("sasrec: [sampler]: {e:#}"))?;
            let (mut loss_sum, mut counted) = (0.0f64, 0usize);
            for (step, batch) in order.chunks(p.batch_size).enumerate() {
                let rows: Vec<(u32, u32)> = batch.iter().flat_map(|w| seqs[w.user as usize][w.start + 1..w.end].iter().map(move |&i| (w.user, i))).collect();
                let mut negs = Vec::with_capacity(p.negatives);
                for _ in 0..p.negatives {
                    negs.push(sampling::unseen_negatives(&mut *sampler, &catalog, &rows, &Items(&table), &mut skipped)?);
                }
                total += (rows.len() * p.negatives) as u64;
                let used = (0..rows.len()).filter(|&r| negs.iter().any(|n| n[r].is_some())).count();
                if used == 0 {
                    continue;
                }
                let scale = 1.0 / used as f32;
                let step_seed = derive_seed(seed, step as u64 + 0x100);
                // Offsets of each window's first target in `rows`.
                let offsets: Vec<usize> = batch.iter().scan(0, |at, w| Some(std::mem::replace(at, *at + w.end - w.start - 1))).collect();
                let parts: Vec<(f64, Grad)> = batch
                    .par_chunks(GROUP)
                    .enumerate()
                    .map(|(gi, group)| {
                        let mut g = Grad::new(&layout);
                        let mut loss = 0.0f64;
                        for (k, w) in group.iter().enumerate() {
                            let at = gi * GROUP + k;
                            let mut rng = Xoshiro256PlusPlus::seed_from_u64(derive_seed(step_seed, at as u64));
                            let s = &seqs[w.user as usize];
                            let tr = net::forward(&layout, &dense, &table.data, &s[w.start..w.end - 1], p.dropout as f32, true, &mut rng);
                            let mut dout = vec![0.0f32; tr.out.len()];
                            for t in 0..tr.n {
                                let r = offsets[at] + t;
                                let ns: Vec<u32> = negs.iter().filter_map(|n| n[r]).collect();
                                if !ns.is_empty() {
                                    loss += net::position_loss(p.loss, &tr.out, &table.data, d, t, s[w.start + 1 + t], &ns, scale, &mut dout, &mut g);
                                }
                            }
                            net::backward(&layout, &dense, &tr, &dout, &mut g);
                        }
                        (loss, g)
                    })
                    .collect();
                let mut dg = vec![0.0f32; layout.len];
                let mut ig = vec![0.0f32; ni * d];
                for (loss, g) in &parts {
                    loss_sum += loss;
                    dg.iter_mut().zip(&g.dense).for_each(|(a, b)| *a += b);
                    let mut rows: Vec<(&u32, &usize)> = g.rows.iter().collect();
                    rows.sort_unstable();
                    for (&i, &at) in rows {
                        ig[i as usize * d..(i as usize + 1) * d].iter_mut().zip(&g.row_data[at * d..(at + 1) * d]).for_each(|(a, b)| *a += b);
                    }
                }
                counted += used;
                adam.t += 1;
                update_row(&opt, opt.lr, adam.t, &mut dense, &mut adam.m, &mut adam.v, &dg);
                table
                    .data
                    .par_chunks_mut(d)
                    .zip(adam.item_m.par_chunks_mut(d))
                    .zip(adam.item_v.par_chunks_mut(d))
                    .zip(ig.par_chunks(d))
                    .for_each(|(((p, m), v), g)| update_row(&opt, opt.lr, adam.t, p, m, v, g));
            }
            let loss = loss_sum / counted.max(1) as f64;
            let seconds = t0.elapsed().as_secs_f64();
            bar.set_message(format!("loss {loss:.4}"));
            bar.inc(1);
            epochs.push(EpochLog { epoch: epoch + 1, loss, seconds, throughput: targets as f64 / seconds.max(1e-9), ..Default::default() });
            if let Some(v) = &validation {
                let queries = self.user_vectors(&layout, &dense, &table, &seqs, &v.users);
                let r = v.recall(&queries, &items_for_retrieval(&table, &catalog), valid_recall::LOG_K)?;
                valid_recalls.push(r);
                epochs.last_mut().expect("pushed above").valid.insert(valid_recall::note_key(), r);
            }
        }
        bar.finish_and_clear();
        let mut notes = serde_json::Map::new();
        notes.insert("skipped_negatives_share".into(), json!(skipped as f64 / total.max(1) as f64));
        notes.insert("training_windows".into(), json!(wins.len()));
        notes.insert("targets".into(), json!(targets));
        if validation.is_some() {
            notes.insert(valid_recall::note_key(), json!(valid_recalls));
        }
        let all: Vec<u32> = (0..split.n_users as u32).collect();
        let users = self.user_vectors(&layout, &dense, &table, &seqs, &all);
        let items = items_for_retrieval(&table, &catalog);
        let checkpoint = (to < p.epochs).then(|| Checkpoint {
            epoch: to,
            tables: vec![
                ("items".into(), table.clone()),
                ("dense".into(), Matrix { rows: 1, cols: layout.len, data: dense.clone() }),
                ("adam_m".into(), Matrix { rows: 1, cols: layout.len, data: adam.m.clone() }),
                ("adam_v".into(), Matrix { rows: 1, cols: layout.len, data: adam.v.clone() }),
                ("adam_item_m".into(), Matrix { rows: ni, cols: d, data: adam.item_m.clone() }),
                ("adam_item_v".into(), Matrix { rows: ni, cols: d, data: adam.item_v.clone() }),
                ("adam_t".into(), Matrix { rows: 1, cols: 1, data: vec![adam.t as f32] }),
            ],
        });
        // The network goes to the train entry: `runner serve` runs it on a history.
        let weights = Some(online::weights(&table, &dense)?);
        Ok(Trained { items, users, metric: Metric::Ip, epochs, notes, checkpoint, weights })
    }
}

impl SasRec {
    /// The last position's output over each of `users`' last `max_len` training items (zero
    /// for a user without training items, which retrieval leaves out).
    fn user_vectors(&self, layout: &Layout, dense: &[f32], table: &Matrix, seqs: &[Vec<u32>], users: &[u32]) -> Matrix {
        let d = self.0.dim;
        let mut m = Matrix::zeros(users.len(), d);
        m.data.par_chunks_mut(d).zip(users).for_each(|(row, &u)| {
            let s = &seqs[u as usize];
            if s.is_empty() {
                return;
            }
            let tail = &s[s.len().saturating_sub(self.0.max_len)..];
            // No dropout: the generator is never drawn from.
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(0);
            let tr = net::forward(layout, dense, &table.data, tail, 0.0, false, &mut rng);
            row.copy_from_slice(&tr.out[(tr.n - 1) * d..]);
        });
        m
    }
}

/// The item table with zero rows for items no training interaction shows: they were only
/// ever pushed down as negatives, and retrieval leaves zero vectors out.
fn items_for_retrieval(table: &Matrix, catalog: &Catalog) -> Matrix {
    let mut m = table.clone();
    let d = m.cols;
    for (i, &c) in catalog.item_counts.iter().enumerate() {
        if c == 0 {
            m.data[i * d..(i + 1) * d].fill(0.0);
        }
    }
    m
}

pub static KIND: ModelKind = ModelKind {
    kind: "sasrec",
    about: "SASRec (Kang and McAuley 2018): causal self-attention over each user's recent items, next-item BCE (or sampled softmax) with negatives from [sampler], Adam",
    version: 2,
    parse: |v| {
        let (p, canon) = params::canonical::<SasRecParams>(v)?;
        Ok((Box::new(SasRec(p)), canon))
    },
};

#[cfg(test)]
mod tests;
