//! CDSSM's convolution over words, on sparse inputs. Each word is a bag of letter-trigram
//! buckets; a window of `window` consecutive words is the convolution's input at one
//! position, and the convolution (unfold + matmul in the paper) is, on such bags, a sum of
//! table rows: row `k * buckets + b` holds the filter weights of trigram `b` at offset `k` of
//! the window, and the last row is the bias. Then tanh, then the max over positions per
//! output dimension. A text of fewer than `window` words has one position (missing words add
//! nothing); an empty text pools to `tanh(bias)`.
//!
//! The forward pass remembers, per row and dimension, which position won the max and its
//! activation, so the backward pass routes each dimension's gradient to that position only.

use super::table::{EmbeddingTable, SparseGrad};
use rayon::prelude::*;
use std::sync::OnceLock;

/// The rows of one conv block: per row, its words as bags of trigram buckets.
#[derive(Clone, Debug, Default)]
pub struct ConvText {
    pub window: usize,
    pub buckets: u32,
    pub words: Vec<Vec<Vec<u32>>>,
    /// Filled by [`ConvText::forward`]: per row and dimension, the winning position and its
    /// activation.
    winners: OnceLock<(Vec<u32>, Vec<f32>)>,
}

impl ConvText {
    pub fn new(window: usize, buckets: u32, words: Vec<Vec<Vec<u32>>>) -> Self {
        ConvText { window, buckets, words, winners: OnceLock::new() }
    }

    /// Rows of the filter table: `window` blocks of `buckets` rows, and the bias.
    pub fn table_rows(window: usize, buckets: u32) -> usize {
        window * buckets as usize + 1
    }

    fn bias_row(&self) -> u32 {
        (self.window * self.buckets as usize) as u32
    }

    fn positions(&self, r: usize) -> usize {
        self.words[r].len().max(self.window) - self.window + 1
    }

    /// The table rows summed at position `t` of row `r`, with the bias first.
    fn rows_at(&self, r: usize, t: usize) -> impl Iterator<Item = u32> + '_ {
        let words = &self.words[r];
        let b = self.buckets;
        std::iter::once(self.bias_row())
            .chain((0..self.window).filter(move |k| t + k < words.len()).flat_map(move |k| words[t + k].iter().map(move |&x| k as u32 * b + x)))
    }

    /// Writes each row's pooled `dim` values into `out[r * stride + off..]`; rows run in
    /// parallel.
    pub fn forward(&self, table: &EmbeddingTable, out: &mut [f32], stride: usize, off: usize) {
        let dim = table.dim;
        let n = self.words.len();
        let mut arg = vec![0u32; n * dim];
        let mut act = vec![0.0f32; n * dim];
        arg.par_chunks_mut(dim.max(1)).zip(act.par_chunks_mut(dim.max(1))).enumerate().for_each(|(r, (who, best))| {
            let mut pre = vec![0.0f32; dim];
            for t in 0..self.positions(r) {
                pre.iter_mut().for_each(|x| *x = 0.0);
                for row in self.rows_at(r, t) {
                    crate::linalg::axpy(1.0, table.row(row), &mut pre);
                }
                crate::linalg::tanh_inplace(&mut pre);
                for d in 0..dim {
                    let a = pre[d];
                    if t == 0 || a > best[d] {
                        best[d] = a;
                        who[d] = t as u32;
                    }
                }
            }
        });
        for r in 0..n {
            out[r * stride + off..r * stride + off + dim].copy_from_slice(&act[r * dim..(r + 1) * dim]);
        }
        // A builder is built once per pass; a second build recomputes the same winners.
        let _ = self.winners.set((arg, act));
    }

    /// Adds the table gradient of `grad` (row `r`'s at `grad[r * stride + off..]`) to `g`.
    pub fn backward(&self, dim: usize, grad: &[f32], stride: usize, off: usize, g: &mut SparseGrad) {
        let (arg, act) = self.winners.get().expect("ConvText::backward before forward");
        let mut gpos: Vec<f32> = Vec::new();
        for r in 0..self.words.len() {
            let p = self.positions(r);
            gpos.clear();
            gpos.resize(p * dim, 0.0);
            let gr = &grad[r * stride + off..r * stride + off + dim];
            for d in 0..dim {
                let a = act[r * dim + d];
                gpos[arg[r * dim + d] as usize * dim + d] += gr[d] * (1.0 - a * a);
            }
            for t in 0..p {
                let gt = &gpos[t * dim..(t + 1) * dim];
                if gt.iter().all(|&x| x == 0.0) {
                    continue;
                }
                for row in self.rows_at(r, t) {
                    g.add(row, 1.0, gt);
                }
            }
        }
    }
}
