//! Sparse embedding tables, padded bags of ids, and the assembly of a tower's input leaf.
//!
//! A batch's rows are gathered (single ids) or mean-pooled (bags) on the host into the columns
//! of one input matrix, which becomes a traced leaf ([`super::Ctx::leaf`]). After backward,
//! [`InputBuilder::scatter`] routes the leaf's gradient back to the rows that produced it, and
//! [`EmbeddingTable::apply`] updates those rows only, with per-row optimiser state.

use super::store::{OptimConfig, SparseOptimizer, TableId};
use rayon::prelude::*;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Rows per block of [`InputBuilder::scatter`]'s parallel bag gradients.
const SCATTER_ROWS: usize = 64;

/// Padding id in [`Bags`].
pub const PAD: u32 = u32::MAX;

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
    replay: super::catch_up::Replay,
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
                            super::store::update_row(cfg, lr, step, p, &mut m[s..e], &mut v[s..e], gr)
                        }
                        SparseOptimizer::Adagrad => {
                            let acc = &mut v[s..e];
                            for i in 0..dim {
                                let gi = gr[i] + cfg.weight_decay * p[i];
                                acc[i] += gi * gi;
                                p[i] -= lr * gi / (acc[i].sqrt() + 1e-10);
                            }
                        }
                        SparseOptimizer::Same => super::store::update_row(cfg, lr, t[r], p, &mut m[s..e], &mut v[s..e], gr),
                    }
                }
            });
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

/// Variable-length bags of ids stored `rows x width`, padded with [`PAD`]. Pooling ignores
/// padding (the mask) and an all-padding bag pools to zeros; it is the mean, or with
/// `weights` (one per slot, each bag's summing to 1) the weighted sum.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Bags {
    pub width: usize,
    pub ids: Vec<u32>,
    /// Empty for mean pooling.
    pub weights: Vec<f32>,
}

impl Bags {
    /// Pads (or keeps the last `width` of) each list.
    pub fn from_lists<L: AsRef<[u32]>>(lists: &[L], width: usize) -> Self {
        let mut ids = vec![PAD; lists.len() * width];
        for (r, l) in lists.iter().enumerate() {
            let l = l.as_ref();
            let l = &l[l.len().saturating_sub(width)..];
            ids[r * width..r * width + l.len()].copy_from_slice(l);
        }
        Bags { width, ids, weights: Vec::new() }
    }

    /// Like [`Bags::from_lists`] (lists in time order, newest last), pooled with weight
    /// `decay^age` (age 0 = the newest id) normalised over each bag: `decay = 1` is the mean.
    pub fn recency_weighted<L: AsRef<[u32]>>(lists: &[L], width: usize, decay: f32) -> Self {
        let mut b = Self::from_lists(lists, width);
        b.weights = vec![0.0; b.ids.len()];
        for r in 0..lists.len() {
            let n = b.count(r);
            let w = &mut b.weights[r * width..r * width + n];
            let mut total = 0.0f64;
            for (k, x) in w.iter_mut().enumerate() {
                *x = decay.powi((n - 1 - k) as i32);
                total += *x as f64;
            }
            w.iter_mut().for_each(|x| *x = (*x as f64 / total) as f32);
        }
        b
    }

    /// Like [`Bags::from_lists`], pooled by the sum (weight 1 per id: DSSM's count vector
    /// times the first layer). The width is the longest list, at most `max_width`.
    pub fn summed<L: AsRef<[u32]>>(lists: &[L], max_width: usize) -> Self {
        let width = lists.iter().map(|l| l.as_ref().len()).max().unwrap_or(0).clamp(1, max_width.max(1));
        let mut b = Self::from_lists(lists, width);
        b.weights = b.ids.iter().map(|&i| if i == PAD { 0.0 } else { 1.0 }).collect();
        b
    }

    /// `(id, weight)` of the ids present in bag `r`.
    fn pooled(&self, r: usize) -> impl Iterator<Item = (u32, f32)> + '_ {
        let n = self.count(r);
        let mean = if n == 0 { 0.0 } else { 1.0 / n as f32 };
        self.bag(r)
            .iter()
            .enumerate()
            .filter(|(_, &i)| i != PAD)
            .map(move |(k, &i)| (i, if self.weights.is_empty() { mean } else { self.weights[r * self.width + k] }))
    }

    pub fn rows(&self) -> usize {
        self.ids.len().checked_div(self.width).unwrap_or(0)
    }

    pub fn bag(&self, r: usize) -> &[u32] {
        &self.ids[r * self.width..(r + 1) * self.width]
    }

    /// The padding mask of row `r`: true where an id is present.
    pub fn mask(&self, r: usize) -> Vec<bool> {
        self.bag(r).iter().map(|&i| i != PAD).collect()
    }

    fn count(&self, r: usize) -> usize {
        self.bag(r).iter().filter(|&&i| i != PAD).count()
    }
}

/// One block of columns of a tower input.
#[derive(Clone, Debug)]
pub enum Segment {
    /// Row `ids[r]` of the table.
    Ids { table: TableId, dim: usize, ids: Vec<u32> },
    /// Mean of the non-padding rows of bag `r`.
    Bags { table: TableId, dim: usize, bags: Bags },
    /// Constant values (`rows x cols`), e.g. standardised numeric features.
    Dense { cols: usize, values: Vec<f32> },
    /// Max-pooled tanh convolution over each row's words ([`super::conv`]).
    Conv { table: TableId, dim: usize, conv: super::conv::ConvText },
    /// Sums of whole bags per row ([`super::groups`]).
    Groups { table: TableId, dim: usize, groups: super::groups::GroupBags },
}

impl Segment {
    fn cols(&self) -> usize {
        match self {
            Segment::Ids { dim, .. } | Segment::Bags { dim, .. } | Segment::Conv { dim, .. } | Segment::Groups { dim, .. } => *dim,
            Segment::Dense { cols, .. } => *cols,
        }
    }
}

/// Builds a `rows x cols` input matrix from embedding lookups, bags and dense columns, and
/// scatters the matrix's gradient back to the tables.
#[derive(Clone, Debug)]
pub struct InputBuilder {
    pub rows: usize,
    pub segments: Vec<Segment>,
}

impl InputBuilder {
    pub fn new(rows: usize) -> Self {
        InputBuilder { rows, segments: Vec::new() }
    }

    pub fn cols(&self) -> usize {
        self.segments.iter().map(Segment::cols).sum()
    }

    pub fn ids(&mut self, store: &super::ParamStore, table: TableId, ids: Vec<u32>) -> &mut Self {
        assert_eq!(ids.len(), self.rows);
        let dim = store.get_table(table).dim;
        self.segments.push(Segment::Ids { table, dim, ids });
        self
    }

    pub fn bags(&mut self, store: &super::ParamStore, table: TableId, bags: Bags) -> &mut Self {
        assert_eq!(bags.rows(), self.rows);
        let dim = store.get_table(table).dim;
        self.segments.push(Segment::Bags { table, dim, bags });
        self
    }

    pub fn groups(&mut self, store: &super::ParamStore, table: TableId, groups: super::groups::GroupBags) -> &mut Self {
        assert_eq!(groups.rows.len(), self.rows);
        let dim = store.get_table(table).dim;
        self.segments.push(Segment::Groups { table, dim, groups });
        self
    }

    pub fn conv(&mut self, store: &super::ParamStore, table: TableId, conv: super::conv::ConvText) -> &mut Self {
        assert_eq!(conv.words.len(), self.rows);
        let dim = store.get_table(table).dim;
        self.segments.push(Segment::Conv { table, dim, conv });
        self
    }

    pub fn dense(&mut self, cols: usize, values: Vec<f32>) -> &mut Self {
        assert_eq!(values.len(), self.rows * cols);
        self.segments.push(Segment::Dense { cols, values });
        self
    }

    /// The input matrix, row-major. Rows are gathered in parallel; the result does not
    /// depend on the thread count (each row is summed in its own order).
    pub fn build(&self, store: &super::ParamStore) -> Vec<f32> {
        let cols = self.cols();
        let mut out = vec![0.0f32; self.rows * cols];
        if cols == 0 {
            return out;
        }
        out.par_chunks_mut(cols).enumerate().for_each(|(r, dst)| {
            let mut off = 0;
            for seg in &self.segments {
                let w = seg.cols();
                let dst = &mut dst[off..off + w];
                match seg {
                    Segment::Ids { table, ids, .. } => dst.copy_from_slice(store.get_table(*table).row(ids[r])),
                    Segment::Bags { table, bags, .. } => {
                        let t = store.get_table(*table);
                        for (id, scale) in bags.pooled(r) {
                            crate::linalg::axpy(scale, t.row(id), dst);
                        }
                    }
                    Segment::Dense { values, .. } => dst.copy_from_slice(&values[r * w..(r + 1) * w]),
                    // Whole blocks, below: the max-pool remembers its winners per block, and
                    // bags of bags sum each bag once.
                    Segment::Conv { .. } | Segment::Groups { .. } => {}
                }
                off += w;
            }
        });
        let mut off = 0;
        for seg in &self.segments {
            match seg {
                Segment::Conv { table, conv, .. } => conv.forward(store.get_table(*table), &mut out, cols, off),
                Segment::Groups { table, groups, .. } => groups.forward(store.get_table(*table), &mut out, cols, off),
                _ => {}
            }
            off += seg.cols();
        }
        out
    }

    /// Adds the table gradients implied by `grad` (the input matrix's gradient) to `out`,
    /// one [`SparseGrad`] per table (created on first use).
    pub fn scatter(&self, grad: &[f32], out: &mut Vec<(TableId, SparseGrad)>) {
        let cols = self.cols();
        assert_eq!(grad.len(), self.rows * cols);
        let mut off = 0;
        for seg in &self.segments {
            let w = seg.cols();
            let sg = |out: &mut Vec<(TableId, SparseGrad)>, table: TableId| -> usize {
                match out.iter().position(|(t, _)| *t == table) {
                    Some(k) => k,
                    None => {
                        out.push((table, SparseGrad::new(w)));
                        out.len() - 1
                    }
                }
            };
            match seg {
                Segment::Ids { table, ids, .. } => {
                    let k = sg(out, *table);
                    for (r, &id) in ids.iter().enumerate() {
                        out[k].1.add(id, 1.0, &grad[r * cols + off..r * cols + off + w]);
                    }
                }
                Segment::Bags { table, bags, .. } => {
                    let k = sg(out, *table);
                    // Blocks of rows in parallel, merged in block order: the same sums for
                    // any number of threads.
                    let parts: Vec<SparseGrad> = (0..self.rows.div_ceil(SCATTER_ROWS))
                        .into_par_iter()
                        .map(|c| {
                            let mut part = SparseGrad::new(w);
                            for r in c * SCATTER_ROWS..((c + 1) * SCATTER_ROWS).min(self.rows) {
                                let g = &grad[r * cols + off..r * cols + off + w];
                                for (id, scale) in bags.pooled(r) {
                                    part.add(id, scale, g);
                                }
                            }
                            part
                        })
                        .collect();
                    for part in &parts {
                        out[k].1.merge(part);
                    }
                }
                Segment::Dense { .. } => {}
                Segment::Conv { table, conv, .. } => {
                    let k = sg(out, *table);
                    conv.backward(w, grad, cols, off, &mut out[k].1);
                }
                Segment::Groups { table, groups, .. } => {
                    let k = sg(out, *table);
                    groups.backward(w, grad, cols, off, &mut out[k].1);
                }
            }
            off += w;
        }
    }
}
