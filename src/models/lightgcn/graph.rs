//! LightGCN's propagation: the symmetrically normalised user-item graph `Â = D^-1/2 A D^-1/2`
//! (users are nodes `0..n_users`, items follow), kept sparse, and the layer-averaged
//! embeddings `E = (E⁰ + ÂE⁰ + ... + Â^L E⁰) / (L + 1)` with their gradient.
//!
//! `Â` is symmetric, so the gradient of `E` with respect to `E⁰` is the same sum applied to the
//! gradient of `E`. Every product runs over output rows in parallel, each row summed by one
//! thread in the CSR order: the result is the same bits for any thread count.

use crate::linalg::Matrix;
use rayon::prelude::*;

/// `Â` in compressed sparse rows.
pub struct NormGraph {
    pub n_nodes: usize,
    ptr: Vec<usize>,
    cols: Vec<u32>,
    vals: Vec<f32>,
}

impl NormGraph {
    /// From the distinct training pairs (a repeated pair is one edge, as in the paper's
    /// interaction matrix).
    pub fn new(n_users: usize, n_items: usize, pairs: impl IntoIterator<Item = (u32, u32)>) -> Self {
        let n = n_users + n_items;
        let mut edges: Vec<(u32, u32)> = pairs.into_iter().map(|(u, i)| (u, n_users as u32 + i)).collect();
        edges.sort_unstable();
        edges.dedup();
        let mut deg = vec![0u32; n];
        for &(u, i) in &edges {
            deg[u as usize] += 1;
            deg[i as usize] += 1;
        }
        let mut ptr = vec![0usize; n + 1];
        for v in 0..n {
            ptr[v + 1] = ptr[v] + deg[v] as usize;
        }
        let mut fill = ptr[..n].to_vec();
        let mut cols = vec![0u32; ptr[n]];
        // Users' rows list items in ascending order (edges are sorted by user, then item);
        // items' rows list users in ascending order (edges visited by user).
        for &(u, i) in &edges {
            cols[fill[u as usize]] = i;
            fill[u as usize] += 1;
            cols[fill[i as usize]] = u;
            fill[i as usize] += 1;
        }
        let inv_sqrt: Vec<f32> = deg.iter().map(|&d| if d == 0 { 0.0 } else { 1.0 / (d as f32).sqrt() }).collect();
        let vals = (0..n).flat_map(|v| cols[ptr[v]..ptr[v + 1]].iter().map(move |&c| (v, c))).map(|(v, c)| inv_sqrt[v] * inv_sqrt[c as usize]).collect();
        NormGraph { n_nodes: n, ptr, cols, vals }
    }

    /// Edges of node `v` (users and items alike).
    pub fn degree(&self, v: usize) -> usize {
        self.ptr[v + 1] - self.ptr[v]
    }

    /// `out = Â x` (rows of `d` numbers).
    pub fn mul(&self, x: &[f32], out: &mut [f32], d: usize) {
        out.par_chunks_mut(d).enumerate().for_each(|(v, row)| {
            row.fill(0.0);
            for k in self.ptr[v]..self.ptr[v + 1] {
                let (c, w) = (self.cols[k] as usize, self.vals[k]);
                for (o, &s) in row.iter_mut().zip(&x[c * d..(c + 1) * d]) {
                    *o += w * s;
                }
            }
        });
    }

    /// `(x + Âx + ... + Â^layers x) / (layers + 1)`: the forward pass on `E⁰`, and the
    /// backward pass on the gradient of `E` (`Â` is symmetric).
    pub fn layer_mean(&self, x: &Matrix, layers: usize) -> Matrix {
        let d = x.cols;
        let scale = 1.0 / (layers + 1) as f32;
        let mut acc: Vec<f32> = x.data.clone();
        let mut cur = x.data.clone();
        let mut next = vec![0.0f32; cur.len()];
        for _ in 0..layers {
            self.mul(&cur, &mut next, d);
            std::mem::swap(&mut cur, &mut next);
            acc.par_iter_mut().zip(cur.par_iter()).for_each(|(a, &c)| *a += c);
        }
        acc.par_iter_mut().for_each(|a| *a *= scale);
        Matrix { rows: x.rows, cols: d, data: acc }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The propagation equals the dense computation `Σ_l Â^l E⁰ / (L + 1)` with `Â` built
    /// entry by entry from the degrees, on a small graph with a repeated pair and an isolated
    /// item.
    #[test]
    fn propagation_equals_the_dense_product() {
        let (nu, ni) = (3, 4);
        let pairs = [(0u32, 0u32), (0, 1), (1, 1), (1, 2), (2, 0), (2, 2), (0, 1)];
        let g = NormGraph::new(nu, ni, pairs);
        let n = nu + ni;
        let mut a = vec![0.0f64; n * n];
        let mut deg = vec![0.0f64; n];
        let mut distinct = pairs.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        for &(u, i) in &distinct {
            deg[u as usize] += 1.0;
            deg[nu + i as usize] += 1.0;
        }
        for &(u, i) in &distinct {
            let (r, c) = (u as usize, nu + i as usize);
            let w = 1.0 / (deg[r] * deg[c]).sqrt();
            a[r * n + c] = w;
            a[c * n + r] = w;
        }
        assert_eq!(g.degree(nu + 3), 0, "item 3 has no edge");
        let d = 3;
        let e0: Vec<f32> = (0..n * d).map(|k| ((k * 37 % 11) as f32 - 5.0) / 7.0).collect();
        for layers in [0, 1, 3] {
            let got = g.layer_mean(&Matrix { rows: n, cols: d, data: e0.clone() }, layers);
            let mut cur: Vec<f64> = e0.iter().map(|&x| x as f64).collect();
            let mut sum = cur.clone();
            for _ in 0..layers {
                let mut next = vec![0.0f64; n * d];
                for r in 0..n {
                    for c in 0..n {
                        for k in 0..d {
                            next[r * d + k] += a[r * n + c] * cur[c * d + k];
                        }
                    }
                }
                cur = next;
                sum.iter_mut().zip(&cur).for_each(|(s, c)| *s += c);
            }
            for (k, (&g, s)) in got.data.iter().zip(&sum).enumerate() {
                assert!((g as f64 - s / (layers + 1) as f64).abs() < 1e-5, "layers {layers}, entry {k}: {g} vs {}", s / (layers + 1) as f64);
            }
        }
    }
}
