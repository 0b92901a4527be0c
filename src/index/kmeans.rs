//! Seeded k-means (k-means++ initialisation, Lloyd iterations) used by the IVF coarse
//! quantiser and the product quantiser. Assignment runs through the flat index's blocked
//! SIMD kernel (exact nearest centroid, parallel over rayon).

use super::common;
use super::flat::FlatIndex;
use super::{AnnIndex, Metric};
use crate::linalg::Matrix;
use anyhow::Result;
use rand::seq::index::sample;
use rand::Rng;
use rayon::prelude::*;

/// Training points per centroid, as faiss: larger sets are subsampled.
pub const MAX_POINTS_PER_CENTROID: usize = 256;

/// Rows of `m` at `idx`.
pub fn subset(m: &Matrix, idx: &[usize]) -> Matrix {
    let mut out = Matrix::zeros(idx.len(), m.cols);
    for (o, &i) in idx.iter().enumerate() {
        out.row_mut(o).copy_from_slice(m.row(i));
    }
    out
}

/// A seeded random subsample of at most `max` rows (all rows, in order, if fewer).
pub fn subsample(m: &Matrix, max: usize, seed: u64) -> Matrix {
    if m.rows <= max {
        return m.clone();
    }
    let mut idx = sample(&mut common::rng(seed), m.rows, max).into_vec();
    idx.sort_unstable();
    subset(m, &idx)
}

/// For each point, the best centroid under `metric` (L2: nearest; Ip: largest product).
pub fn assign(centroids: &Matrix, points: &Matrix, metric: Metric) -> Result<Vec<u32>> {
    let idx = FlatIndex::build(centroids, metric)?;
    let hits = idx.search_batch(points, 1, &[])?;
    Ok(hits.into_iter().map(|h| h[0].id).collect())
}

/// k-means++ seeding on `pts` (squared L2 potentials), seeded.
fn kmeans_pp(pts: &Matrix, k: usize, seed: u64) -> Matrix {
    let mut rng = common::rng(seed);
    let n = pts.rows;
    let mut cent = Matrix::zeros(k, pts.cols);
    let first = rng.gen_range(0..n);
    cent.row_mut(0).copy_from_slice(pts.row(first));
    let mut best: Vec<f32> = (0..n).into_par_iter().map(|i| common::l2_sq(pts.row(i), cent.row(0))).collect();
    for c in 1..k {
        let total: f64 = best.iter().map(|&x| x as f64).sum();
        let pick = if total <= 0.0 {
            rng.gen_range(0..n)
        } else {
            let mut t = rng.gen::<f64>() * total;
            let mut pick = n - 1;
            for (i, &b) in best.iter().enumerate() {
                t -= b as f64;
                if t <= 0.0 {
                    pick = i;
                    break;
                }
            }
            pick
        };
        cent.row_mut(c).copy_from_slice(pts.row(pick));
        let cr = cent.row(c).to_vec();
        best.par_iter_mut().enumerate().for_each(|(i, b)| {
            let d = common::l2_sq(pts.row(i), &cr);
            if d < *b {
                *b = d;
            }
        });
    }
    cent
}

/// Trains `k` centroids on `points` (squared-L2 Lloyd), `iters` iterations, seeded. If there
/// are no more points than centroids, the points themselves are the centroids (duplicated
/// cyclically to reach `k`).
pub fn train(points: &Matrix, k: usize, iters: usize, seed: u64) -> Result<Matrix> {
    train_with(points, k, iters, seed, Metric::L2)
}

/// As [`train`], but the Lloyd assignment step uses `assign_metric` (faiss trains an
/// inner-product IVF with inner-product assignment, which keeps training consistent with
/// how items are later assigned and probed); under inner product the centroids are kept at
/// unit norm (spherical k-means, as faiss does for inner-product IVFs).
pub fn train_with(points: &Matrix, k: usize, iters: usize, seed: u64, assign_metric: Metric) -> Result<Matrix> {
    let (n, d) = (points.rows, points.cols);
    anyhow::ensure!(n > 0 && k > 0, "k-means needs points ({n}) and clusters ({k})");
    if n <= k {
        let mut c = Matrix::zeros(k, d);
        for i in 0..k {
            c.row_mut(i).copy_from_slice(points.row(i % n));
        }
        return Ok(c);
    }
    let train = subsample(points, k * MAX_POINTS_PER_CENTROID, seed ^ 0x5eed);
    let init_pts = subsample(&train, (k * 32).max(4096), seed ^ 0x1717);
    // Inner-product assignment favours long centroids: plain Lloyd steps let a few of them
    // swallow most points (on item2vec vectors, one list of 256 held 9,809 of 20,000 items,
    // and search time grew with it). faiss trains inner-product IVFs spherically (unit-norm
    // centroids after every step), and so do we.
    let spherical = assign_metric == Metric::Ip;
    let mut cent = kmeans_pp(&init_pts, k, seed);
    if spherical {
        cent.normalize_rows();
    }
    let mut rng = common::rng(seed ^ 0xe3e3);
    for _ in 0..iters {
        let labels = assign(&cent, &train, assign_metric)?;
        // Parallel per-thread sums.
        let (sums, mut counts) = labels
            .par_iter()
            .enumerate()
            .fold(
                || (vec![0.0f64; k * d], vec![0usize; k]),
                |(mut s, mut c), (i, &l)| {
                    let l = l as usize;
                    c[l] += 1;
                    for (acc, &x) in s[l * d..(l + 1) * d].iter_mut().zip(train.row(i)) {
                        *acc += x as f64;
                    }
                    (s, c)
                },
            )
            .reduce(
                || (vec![0.0f64; k * d], vec![0usize; k]),
                |(mut s1, mut c1), (s2, c2)| {
                    s1.iter_mut().zip(&s2).for_each(|(a, b)| *a += b);
                    c1.iter_mut().zip(&c2).for_each(|(a, b)| *a += b);
                    (s1, c1)
                },
            );
        for c in 0..k {
            if counts[c] > 0 {
                let inv = 1.0 / counts[c] as f64;
                for (o, s) in cent.row_mut(c).iter_mut().zip(&sums[c * d..(c + 1) * d]) {
                    *o = (s * inv) as f32;
                }
            }
        }
        // Empty clusters: re-seed at a random member of the largest cluster, nudged.
        for c in 0..k {
            if counts[c] == 0 {
                let big = (0..k).max_by_key(|&j| counts[j]).unwrap();
                let members: Vec<usize> = (0..train.rows).filter(|&i| labels[i] as usize == big).collect();
                // (`counts` of re-seeded clusters are virtual, so `members` may be empty.)
                let m = if members.is_empty() { rng.gen_range(0..train.rows) } else { members[rng.gen_range(0..members.len())] };
                let src = train.row(m).to_vec();
                let row = cent.row_mut(c);
                for (o, s) in row.iter_mut().zip(&src) {
                    *o = s * (1.0 + 1e-4 * (rng.gen::<f32>() - 0.5));
                }
                // Split the big cluster's count so a second empty cluster picks another one.
                let half = counts[big] / 2;
                counts[big] -= half;
                counts[c] = half;
            }
        }
        if spherical {
            cent.normalize_rows();
        }
    }
    Ok(cent)
}
