//! Padded bags of ids, and the assembly of a tower's input leaf from embedding tables.
//!
//! A batch's rows are gathered (single ids) or mean-pooled (bags) on the host into the columns
//! of one input matrix, which becomes a traced leaf ([`super::Ctx::leaf`]). After backward,
//! [`InputBuilder::scatter`] routes the leaf's gradient back to the rows that produced it, and
//! [`super::EmbeddingTable::apply`] updates those rows only, with per-row optimiser state.
//! The tables themselves are in `table.rs`.

use super::store::TableId;
use super::table::SparseGrad;
use rayon::prelude::*;

/// Rows per block of [`InputBuilder::scatter`]'s parallel bag gradients.
const SCATTER_ROWS: usize = 64;

/// Padding id in [`Bags`].
pub const PAD: u32 = u32::MAX;

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
        let row = |(r, dst): (usize, &mut [f32])| {
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
        };
        // A few rows (one question to `runner serve`) on the calling thread: handing them to
        // the pool costs two thread wake-ups, more than gathering them.
        if self.rows < 64 {
            out.chunks_mut(cols).enumerate().for_each(row);
        } else {
            out.par_chunks_mut(cols).enumerate().for_each(row);
        }
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
