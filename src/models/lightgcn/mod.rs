//! `kind = "lightgcn"`: LightGCN (He et al., SIGIR 2020). One embedding per user and item
//! (`E⁰`), propagated over the normalised user-item graph for `layers` layers with neither
//! weights nor non-linearities, the layers averaged ([`graph`]); trained with the BPR loss
//! and L2 on the layer-0 rows of the batch, by Adam, as the paper's code and RecBole do:
//!
//! `loss = mean_b softplus(-(e_u · (e_i - e_j))) + reg · ½ (‖e⁰_u‖² + ‖e⁰_i‖² + ‖e⁰_j‖²) / B`
//!
//! Each epoch visits every training pair once in a shuffled order, in batches of
//! `batch_size`, one negative per pair from `[sampler]` (uniform by default), redrawn while it
//! is an item the user trained on (RecBole's and the paper's samplers do the same; after 10
//! draws the pair is skipped and counted). Every batch propagates the whole graph forward and
//! its gradient back (as the reference implementations do). Products run over rows in
//! parallel with a fixed order per row, so training is the same bits for any thread count.
//!
//! User and item vectors are the layer means, so every index and command works as for the
//! other models; an item (or user) with no training pair gets a zero vector, which retrieval
//! leaves out, rather than its untrained initial one.

pub mod graph;

use super::{valid_recall, Checkpoint, EpochLog, Model, ModelKind, TrainInput, Trained};
use crate::ensure_param;
use crate::index::Metric;
use crate::linalg::Matrix;
use crate::nn::optim::{update_row, OptimConfig};
use crate::params::{self, ParamError, Validate};
use crate::sampling::{self, derive_seed, Catalog, Scorer};
use anyhow::{anyhow, Result};
use graph::NormGraph;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LightGcnParams {
    pub dim: usize,
    pub layers: usize,
    /// L2 weight on the batch's layer-0 rows (the paper's `decay`).
    pub reg: f64,
    pub lr: f64,
    pub batch_size: usize,
    pub epochs: usize,
}

impl Default for LightGcnParams {
    fn default() -> Self {
        // The paper's 64 dimensions, 3 layers, L2 1e-4 and batches of 2048; a tenth of its
        // 1,000 epochs to keep a default run short, so 10x its Adam step (0.001), which at
        // 100 epochs leaves the model far from trained (experiments/lightgcn_vs_recbole).
        LightGcnParams { dim: 64, layers: 3, reg: 1e-4, lr: 1e-2, batch_size: 2048, epochs: 100 }
    }
}

impl Validate for LightGcnParams {
    fn validate(&self) -> Result<(), ParamError> {
        ensure_param!(self.dim >= 1 && self.dim <= 4096, "dim", "must be between 1 and 4096, got {}", self.dim);
        ensure_param!(self.layers <= 16, "layers", "must be at most 16, got {}", self.layers);
        ensure_param!(self.reg.is_finite() && self.reg >= 0.0, "reg", "must be >= 0, got {}", self.reg);
        ensure_param!(self.lr.is_finite() && self.lr > 0.0, "lr", "must be a positive number, got {}", self.lr);
        ensure_param!(self.batch_size >= 1, "batch_size", "must be at least 1, got {}", self.batch_size);
        ensure_param!(self.epochs >= 1, "epochs", "must be at least 1, got {}", self.epochs);
        Ok(())
    }
}

pub struct LightGcn(pub LightGcnParams);

/// Adam's state over `E⁰`: the moments and the step count.
struct Adam {
    m: Vec<f32>,
    v: Vec<f32>,
    t: u32,
}

/// The propagated vectors as a sampler sees the model (`hard` scores with them).
struct Propagated<'a> {
    e: &'a Matrix,
    n_users: usize,
}

impl Scorer for Propagated<'_> {
    fn item_vectors(&self) -> Result<Matrix> {
        let d = self.e.cols;
        Matrix::from_vec(self.e.rows - self.n_users, d, self.e.data[self.n_users * d..].to_vec())
    }
    fn user_vectors(&self, users: &[u32]) -> Result<Matrix> {
        let mut m = Matrix::zeros(users.len(), self.e.cols);
        for (k, &u) in users.iter().enumerate() {
            m.row_mut(k).copy_from_slice(self.e.row(u as usize));
        }
        Ok(m)
    }
}

/// The loss of one batch of `(u, i, j)` node triples (items offset by `n_users`) and its
/// gradient with respect to `E⁰`; `e` is the propagated `E`, `e0` the layer-0 table.
pub fn batch_loss(g: &NormGraph, layers: usize, reg: f32, e0: &Matrix, e: &Matrix, triples: &[(usize, usize, usize)]) -> (f64, Matrix) {
    let d = e.cols;
    let b = triples.len().max(1) as f32;
    let mut grad_e = Matrix::zeros(e.rows, d);
    let mut loss = 0.0f64;
    let mut reg_sum = 0.0f64;
    for &(u, i, j) in triples {
        let (eu, ei, ej) = (e.row(u), e.row(i), e.row(j));
        let x: f32 = eu.iter().zip(ei).zip(ej).map(|((a, p), n)| a * (p - n)).sum();
        // softplus(-x); its derivative in x is -σ(-x).
        loss += crate::linalg::softplus(-x as f64);
        let z = -1.0 / (1.0 + x.exp()) / b;
        for k in 0..d {
            let (a, p, n) = (eu[k], ei[k], ej[k]);
            grad_e.data[u * d + k] += z * (p - n);
            grad_e.data[i * d + k] += z * a;
            grad_e.data[j * d + k] -= z * a;
        }
        for r in [u, i, j] {
            reg_sum += e0.row(r).iter().map(|&x| (x * x) as f64).sum::<f64>();
        }
    }
    let mut grad = g.layer_mean(&grad_e, layers);
    for &(u, i, j) in triples {
        for r in [u, i, j] {
            for k in 0..d {
                grad.data[r * d + k] += reg * e0.data[r * d + k] / b;
            }
        }
    }
    (loss / b as f64 + reg as f64 * 0.5 * reg_sum / b as f64, grad)
}

impl Model for LightGcn {
    fn uses_sampler(&self) -> bool {
        true
    }

    fn epoch_key(&self) -> Option<&'static str> {
        Some("epochs")
    }

    fn fit(&self, input: &TrainInput) -> Result<Trained> {
        let p = &self.0;
        let split = input.split;
        anyhow::ensure!(split.n_items >= 2 && !split.train.is_empty(), "lightgcn: needs at least 2 items and one training interaction");
        let (nu, n) = (split.n_users, split.n_users + split.n_items);
        let d = p.dim;
        let g = NormGraph::new(nu, split.n_items, split.train.iter().map(|it| (it.user, it.item)));
        let (from, to) = input.span(p.epochs)?;
        let (mut e0, mut adam) = match input.resumed_table("embeddings", n, d)? {
            Some(e) => {
                let m = input.resumed_table("adam_m", n, d)?.ok_or_else(|| anyhow!("the checkpoint has no Adam moments"))?;
                let v = input.resumed_table("adam_v", n, d)?.ok_or_else(|| anyhow!("the checkpoint has no Adam moments"))?;
                let t = input.resumed_table("adam_t", 1, 1)?.map_or(0, |t| t.data[0] as u32);
                (e, Adam { m: m.data, v: v.data, t })
            }
            None => {
                // Xavier-uniform per table (users, items), as RecBole's LightGCN initialises
                // its two embedding tables.
                let mut rng = Xoshiro256PlusPlus::seed_from_u64(input.seed);
                let bound = |rows: usize| (6.0 / (rows + d) as f32).sqrt();
                let (bu, bi) = (bound(nu), bound(split.n_items));
                let data = (0..n * d).map(|k| if k < nu * d { rng.gen_range(-bu..bu) } else { rng.gen_range(-bi..bi) }).collect();
                (Matrix { rows: n, cols: d, data }, Adam { m: vec![0.0; n * d], v: vec![0.0; n * d], t: 0 })
            }
        };
        let opt = OptimConfig { lr: p.lr as f32, ..Default::default() };
        let catalog = Arc::new(Catalog::from_split(split));
        let table = input.sampler.cloned().unwrap_or_else(|| json!({"kind": "uniform"}));
        let mut pairs: Vec<(u32, u32)> = split.train.iter().map(|it| (it.user, it.item)).collect();
        pairs.sort_unstable();
        let validation = valid_recall::for_logging(split);
        let mut valid_recalls = Vec::new();
        let bar = crate::pipeline::progress::epochs("lightgcn", (to - from) as u64, input.progress);
        let (mut epochs, mut skipped, mut total) = (Vec::with_capacity(to - from), 0u64, 0u64);
        for epoch in from..to {
            let t0 = Instant::now();
            // Each epoch's order and negatives come from `(seed, epoch)` alone, so a resumed
            // training goes on bit for bit.
            let seed = derive_seed(input.seed, epoch as u64 + 1);
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
            let mut order = pairs.clone();
            order.shuffle(&mut rng);
            let mut sampler = sampling::build(&table, &catalog, derive_seed(seed, 0x9c)).map_err(|e| anyhow!("lightgcn: [sampler]: {e:#}"))?;
            let (mut loss_sum, mut batches) = (0.0f64, 0usize);
            for chunk in order.chunks(p.batch_size) {
                let e = g.layer_mean(&e0, p.layers);
                let triples = negatives(&mut *sampler, &catalog, chunk, &Propagated { e: &e, n_users: nu }, &mut skipped)?;
                total += chunk.len() as u64;
                if triples.is_empty() {
                    continue;
                }
                let (loss, grad) = batch_loss(&g, p.layers, p.reg as f32, &e0, &e, &triples);
                loss_sum += loss;
                batches += 1;
                adam.t += 1;
                let lr = opt.lr;
                e0.data
                    .par_chunks_mut(d)
                    .zip(adam.m.par_chunks_mut(d))
                    .zip(adam.v.par_chunks_mut(d))
                    .zip(grad.data.par_chunks(d))
                    .for_each(|(((p, m), v), g)| update_row(&opt, lr, adam.t, p, m, v, g));
            }
            let loss = loss_sum / batches.max(1) as f64;
            let seconds = t0.elapsed().as_secs_f64();
            bar.set_message(format!("loss {loss:.4}"));
            bar.inc(1);
            epochs.push(EpochLog { epoch: epoch + 1, loss, seconds, throughput: pairs.len() as f64 / seconds.max(1e-9), ..Default::default() });
            if let Some(v) = &validation {
                let (users, items) = self.vectors(&g, &e0, nu);
                let mut queries = Matrix::zeros(v.users.len(), d);
                for (k, &u) in v.users.iter().enumerate() {
                    queries.row_mut(k).copy_from_slice(users.row(u as usize));
                }
                let r = v.recall(&queries, &items, valid_recall::LOG_K)?;
                valid_recalls.push(r);
                epochs.last_mut().expect("pushed above").valid.insert(valid_recall::note_key(), r);
            }
        }
        bar.finish_and_clear();
        let mut notes = serde_json::Map::new();
        notes.insert("skipped_pairs_share".into(), json!(skipped as f64 / total.max(1) as f64));
        notes.insert("graph_edges".into(), json!((0..nu).map(|v| g.degree(v)).sum::<usize>()));
        if validation.is_some() {
            notes.insert(valid_recall::note_key(), json!(valid_recalls));
        }
        let (users, items) = self.vectors(&g, &e0, nu);
        let checkpoint = (to < p.epochs).then(|| Checkpoint {
            epoch: to,
            tables: vec![
                ("embeddings".into(), e0.clone()),
                ("adam_m".into(), Matrix { rows: n, cols: d, data: adam.m.clone() }),
                ("adam_v".into(), Matrix { rows: n, cols: d, data: adam.v.clone() }),
                ("adam_t".into(), Matrix { rows: 1, cols: 1, data: vec![adam.t as f32] }),
            ],
        });
        Ok(Trained { items, users, metric: Metric::Ip, epochs, notes, checkpoint, weights: None })
    }
}

impl LightGcn {
    /// User and item vectors: the layer means, zero for nodes without a training pair.
    fn vectors(&self, g: &NormGraph, e0: &Matrix, n_users: usize) -> (Matrix, Matrix) {
        let mut e = g.layer_mean(e0, self.0.layers);
        let d = e.cols;
        for v in (0..g.n_nodes).filter(|&v| g.degree(v) == 0) {
            e.data[v * d..(v + 1) * d].fill(0.0);
        }
        let items = Matrix { rows: g.n_nodes - n_users, cols: d, data: e.data.split_off(n_users * d) };
        (Matrix { rows: n_users, cols: d, data: e.data }, items)
    }
}

/// One negative per pair of `chunk` ([`sampling::unseen_negatives`]): the batch's
/// `(user, positive, negative)` node triples (items offset by `n_users`).
fn negatives(
    sampler: &mut dyn sampling::Sampler,
    catalog: &Catalog,
    chunk: &[(u32, u32)],
    scorer: &Propagated,
    skipped: &mut u64,
) -> Result<Vec<(usize, usize, usize)>> {
    let nu = catalog.n_users;
    let negs = sampling::unseen_negatives(sampler, catalog, chunk, scorer, skipped)?;
    Ok(chunk.iter().zip(negs).filter_map(|(&(u, i), j)| Some((u as usize, nu + i as usize, nu + j? as usize))).collect())
}

pub static KIND: ModelKind = ModelKind {
    kind: "lightgcn",
    about:
        "LightGCN (He et al. 2020): embeddings propagated over the normalised user-item graph, layers averaged, BPR loss with Adam; negatives from [sampler]",
    version: 1,
    parse: |v| {
        let (p, canon) = params::canonical::<LightGcnParams>(v)?;
        Ok((Box::new(LightGcn(p)), canon))
    },
};

#[cfg(test)]
mod tests;
