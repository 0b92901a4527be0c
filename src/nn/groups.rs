//! Rows that sum whole bags of ids: a user's text history is the trigram buckets of each of
//! their last items, and an item's bag is the same in every row that lists it. A pass sums
//! each listed bag once ([`GroupBags::forward`]) and each row adds its bags' sums; the backward
//! pass adds each row's gradient to its bags, then each bag's gradient to its ids once. With
//! ten items of about 27 trigrams per row, that gathers and scatters about a fifth of the
//! rows a flat bag would (a batch lists each popular item many times).

use super::table::{EmbeddingTable, SparseGrad};
use rayon::prelude::*;
use std::sync::Arc;

/// Bags per block of the parallel backward pass.
const BLOCK: usize = 32;

/// One pass's rows: `used` are the bags the rows list (indexes into `bags`), each row lists
/// positions in `used`.
#[derive(Clone, Debug)]
pub struct GroupBags {
    pub bags: Arc<Vec<Vec<u32>>>,
    pub used: Vec<u32>,
    pub rows: Vec<Vec<u32>>,
}

impl GroupBags {
    /// Rows listing bags by their index in `bags`.
    pub fn new(bags: Arc<Vec<Vec<u32>>>, lists: &[Vec<u32>]) -> Self {
        let mut used: Vec<u32> = lists.iter().flatten().copied().collect();
        used.sort_unstable();
        used.dedup();
        let rows = lists.iter().map(|l| l.iter().map(|b| used.binary_search(b).expect("listed") as u32).collect()).collect();
        GroupBags { bags, used, rows }
    }

    /// Writes each row's sum into `out[r * stride + off..][..dim]`.
    pub fn forward(&self, table: &EmbeddingTable, out: &mut [f32], stride: usize, off: usize) {
        let dim = table.dim;
        let mut sums = vec![0.0f32; self.used.len() * dim];
        sums.par_chunks_mut(dim.max(1)).zip(&self.used).for_each(|(s, &b)| {
            for &id in &self.bags[b as usize] {
                crate::linalg::axpy(1.0, table.row(id), s);
            }
        });
        out.par_chunks_mut(stride).zip(&self.rows).for_each(|(o, row)| {
            let o = &mut o[off..off + dim];
            for &k in row {
                crate::linalg::axpy(1.0, &sums[k as usize * dim..(k as usize + 1) * dim], o);
            }
        });
    }

    /// Adds the table gradient of `grad` (row `r`'s at `grad[r * stride + off..]`) to `g`.
    pub fn backward(&self, dim: usize, grad: &[f32], stride: usize, off: usize, g: &mut SparseGrad) {
        let mut per_bag = vec![0.0f32; self.used.len() * dim];
        for (r, row) in self.rows.iter().enumerate() {
            let gr = &grad[r * stride + off..r * stride + off + dim];
            for &k in row {
                crate::linalg::axpy(1.0, gr, &mut per_bag[k as usize * dim..(k as usize + 1) * dim]);
            }
        }
        // Blocks of bags in parallel, merged in block order: the same for any thread count.
        let parts: Vec<SparseGrad> = per_bag
            .par_chunks(BLOCK * dim.max(1))
            .zip(self.used.par_chunks(BLOCK))
            .map(|(gb, used)| {
                let mut part = SparseGrad::new(dim);
                for (gk, &b) in gb.chunks(dim.max(1)).zip(used) {
                    for &id in &self.bags[b as usize] {
                        part.add(id, 1.0, gk);
                    }
                }
                part
            })
            .collect();
        for part in &parts {
            g.merge(part);
        }
    }
}
