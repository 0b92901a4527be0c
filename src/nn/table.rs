//! The base of `nn`'s sparse side: [`EmbeddingTable`] (a `rows x dim` table whose optimiser
//! updates only the rows a batch touched, with per-row state) and [`SparseGrad`] (those rows'
//! gradients). The store, the text convolution, the group bags and the input builder import
//! them from here; this file imports only the optimiser settings and catch-up below it.

use super::catch_up::Replay;
use super::optim::{update_row, OptimConfig, SparseOptimizer};
use rayon::prelude::*;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Multiplicative hash for u32 keys (std's SipHash is several times slower here and the keys
/// are not adversarial).
#[derive(Default)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ b as u64).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    fn write_u32(&mut self, i: u32) {
        self.0 = (i as u64 ^ 0x9e37_79b9_7f4a_7c15).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

pub type IdMap<V> = HashMap<u32, V, BuildHasherDefault<IdHasher>>;

/// Gradient rows of one table: `rows[k]`'s gradient is `grad[k*dim..(k+1)*dim]`, rows unique
/// and in first-touch order (so updates are deterministic).
#[derive(Clone, Debug, Default)]
pub struct SparseGrad {
    pub dim: usize,
    pub rows: Vec<u32>,
    pub grad: Vec<f32>,
    slot: IdMap<u32>,
}

impl SparseGrad {
    pub fn new(dim: usize) -> Self {
        SparseGrad { dim, ..Default::default() }
    }

    /// `grad[row] += scale * g`.
    #[inline]
    pub fn add(&mut self, row: u32, scale: f32, g: &[f32]) {
        let dim = self.dim;
        let k = *self.slot.entry(row).or_insert_with(|| {
            self.rows.push(row);
            self.grad.resize(self.grad.len() + dim, 0.0);
            (self.rows.len() - 1) as u32
        }) as usize;
        for (d, s) in self.grad[k * dim..(k + 1) * dim].iter_mut().zip(g) {
            *d += scale * s;
        }
    }

    /// Adds every row of `other` (in its order) to this one.
    pub fn merge(&mut self, other: &SparseGrad) {
        for (k, &row) in other.rows.iter().enumerate() {
            self.add(row, 1.0, &other.grad[k * self.dim..(k + 1) * self.dim]);
        }
    }

    pub fn row_grad(&self, row: u32) -> Option<&[f32]> {
        self.slot.get(&row).map(|&k| &self.grad[k as usize * self.dim..(k as usize + 1) * self.dim])
    }
}

/// A `rows x dim` embedding table with row-sparse optimiser state.
#[derive(Clone, Debug)]
pub struct EmbeddingTable {
    pub name: String,
    pub rows: usize,
    pub dim: usize,
    pub data: Vec<f32>,
    /// First moment (Adam, SGD momentum) or Adagrad accumulator, allocated on first update.
    m: Vec<f32>,
    v: Vec<f32>,
    /// Per row: the number of updates (lazy Adam's bias correction), or with
    /// [`SparseOptimizer::CatchUp`] the global step of the last update.
    t: Vec<u32>,
    /// [`SparseOptimizer::CatchUp`]'s sums of skipped steps.
    replay: Replay,
}

impl EmbeddingTable {
    pub fn new(name: &str, rows: usize, dim: usize, data: Vec<f32>) -> Self {
        assert_eq!(data.len(), rows * dim);
        EmbeddingTable { name: name.to_string(), rows, dim, data, m: Vec::new(), v: Vec::new(), t: Vec::new(), replay: Default::default() }
    }

    #[inline]
    pub fn row(&self, i: u32) -> &[f32] {
        &self.data[i as usize * self.dim..(i as usize + 1) * self.dim]
    }

    /// Times row `i` has been updated (with [`SparseOptimizer::CatchUp`], the step of its
    /// last update).
    pub fn row_steps(&self, i: u32) -> u32 {
        self.t.get(i as usize).copied().unwrap_or(0)
    }

    /// Applies the optimiser to the rows in `g` only. Lazy Adam: moments and bias correction
    /// advance per row when the row is touched, so untouched rows cost nothing (the state
    /// vectors are allocated once, on the first step).
    pub fn apply(&mut self, g: &SparseGrad, cfg: &OptimConfig, step: u32) {
        debug_assert_eq!(g.dim, self.dim);
        if self.t.is_empty() {
            self.m = vec![0.0; self.data.len()];
            self.v = vec![0.0; self.data.len()];
            self.t = vec![0; self.rows];
        }
        let dim = self.dim;
        let lr = cfg.lr * cfg.sparse_lr_scale;
        if cfg.sparse == SparseOptimizer::CatchUp {
            self.replay.extend(cfg, step);
        }
        let replay = &self.replay;
        // Rows are updated in parallel by blocks of the table: each block takes the touched
        // rows that fall in it (found in the row-sorted list), so no two threads share a row.
        const BLOCK_ROWS: usize = 128;
        let mut order: Vec<(u32, u32)> = g.rows.iter().enumerate().map(|(k, &r)| (r, k as u32)).collect();
        order.sort_unstable();
        let span = BLOCK_ROWS * dim;
        self.data
            .par_chunks_mut(span)
            .zip(self.m.par_chunks_mut(span))
            .zip(self.v.par_chunks_mut(span))
            .zip(self.t.par_chunks_mut(BLOCK_ROWS))
            .enumerate()
            .for_each(|(block, (((data, m), v), t))| {
                let lo = (block * BLOCK_ROWS) as u32;
                let (a, b) = (order.partition_point(|&(r, _)| r < lo), order.partition_point(|&(r, _)| r < lo + BLOCK_ROWS as u32));
                for &(row, k) in &order[a..b] {
                    let r = (row - lo) as usize;
                    let k = k as usize;
                    let gr = &g.grad[k * dim..(k + 1) * dim];
                    let (s, e) = (r * dim, (r + 1) * dim);
                    let last = t[r];
                    t[r] = if cfg.sparse == SparseOptimizer::CatchUp { step } else { t[r] + 1 };
                    let p = &mut data[s..e];
                    match cfg.sparse {
                        SparseOptimizer::CatchUp => {
                            if last > 0 && step > last + 1 {
                                replay.apply(cfg, lr, last, step - last - 1, p, &mut m[s..e], &mut v[s..e]);
                            }
                            update_row(cfg, lr, step, p, &mut m[s..e], &mut v[s..e], gr)
                        }
                        SparseOptimizer::Adagrad => {
                            let acc = &mut v[s..e];
                            for i in 0..dim {
                                let gi = gr[i] + cfg.weight_decay * p[i];
                                acc[i] += gi * gi;
                                p[i] -= lr * gi / (acc[i].sqrt() + 1e-10);
                            }
                        }
                        SparseOptimizer::Same => update_row(cfg, lr, t[r], p, &mut m[s..e], &mut v[s..e], gr),
                    }
                }
            });
    }
}

impl EmbeddingTable {
    /// The optimiser's per-row state (moments or accumulator, and per-row steps), empty
    /// before the first update: with the values, what a resumed training needs.
    pub fn optimiser_state(&self) -> (&[f32], &[f32], &[u32]) {
        (&self.m, &self.v, &self.t)
    }

    /// Sets the state [`EmbeddingTable::optimiser_state`] returned (all three empty, or of the
    /// table's sizes). [`SparseOptimizer::CatchUp`]'s sums are a function of the step alone
    /// and are computed again when needed.
    pub fn set_optimiser_state(&mut self, m: Vec<f32>, v: Vec<f32>, t: Vec<u32>) -> anyhow::Result<()> {
        let sizes = (m.len(), v.len(), t.len());
        anyhow::ensure!(
            sizes == (0, 0, 0) || sizes == (self.data.len(), self.data.len(), self.rows),
            "table `{}`: optimiser state of {sizes:?} numbers for a {} x {} table",
            self.name,
            self.rows,
            self.dim
        );
        (self.m, self.v, self.t) = (m, v, t);
        Ok(())
    }
}

impl EmbeddingTable {
    /// With [`SparseOptimizer::CatchUp`], brings every row up to global step `step` (the
    /// moves dense Adam made on momentum since each row's last update), so values read now,
    /// for validation or at the end of training, are the dense optimiser's. No-op otherwise.
    pub fn catch_up_all(&mut self, cfg: &OptimConfig, step: u32) {
        if cfg.sparse != SparseOptimizer::CatchUp || self.t.is_empty() {
            return;
        }
        let (dim, lr) = (self.dim, cfg.lr * cfg.sparse_lr_scale);
        self.replay.extend(cfg, step);
        let replay = &self.replay;
        self.data.par_chunks_mut(dim).zip(self.m.par_chunks_mut(dim)).zip(self.v.par_chunks_mut(dim)).zip(self.t.par_iter_mut()).for_each(
            |(((p, m), v), t)| {
                if *t > 0 && *t < step {
                    replay.apply(cfg, lr, *t, step - *t, p, m, v);
                    *t = step;
                }
            },
        );
    }
}
