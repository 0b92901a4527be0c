//! `task = "map"`: a 2-D map of the item (or node) vectors by Barnes-Hut t-SNE (the `bhtsne`
//! crate), for the report to draw coloured by category, cluster or label (`map-*.svg`).
//!
//! The crate's own neighbour search is a vantage-point tree; we hand it the exact
//! 3 x perplexity nearest neighbours from our flat index instead (one blocked SIMD matrix
//! product), and a seeded Gaussian start (standard deviation 1e-4, as scikit-learn), so the
//! map is a function of the seed. The learning rate defaults to max(2n/3, 200): bhtsne's
//! size-scaled default (scikit-learn's n/48, whose gradient carries a factor 4 that bhtsne's
//! lacks) left 10,000 item2vec vectors under-converged, at a neighbourhood preservation of
//! 0.556 against scikit-learn's 0.663 on the same vectors; n/6, n/3, 2n/3 and n gave 0.633,
//! 0.647, 0.655 and 0.654 (experiments/tsne_vs_sklearn). The column `map kNN@10` is the neighbourhood preservation
//! of the map: the mean share of each point's 10 nearest neighbours in the vectors that are
//! also among its 10 nearest on the map (1 = every neighbourhood kept).

use super::{similarity, EvalInput, Task, TaskResult};
use crate::index::{flat::FlatIndex, AnnIndex, Metric};
use crate::linalg::Matrix;
use anyhow::{bail, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub struct Map;

/// What the report draws: one point per mapped item.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
pub struct MapPoints {
    pub x: Vec<f32>,
    pub y: Vec<f32>,
    /// The item's first category (`None`: no category known).
    pub category: Vec<Option<u32>>,
    /// Raw item ids.
    pub items: Vec<String>,
}

/// Exact `k` nearest neighbours of every row (itself excluded) by Euclidean distance.
pub fn knn(m: &Matrix, k: usize) -> Result<Vec<Vec<(usize, f32)>>> {
    let index = FlatIndex::build(m, Metric::L2)?;
    let hits = index.search_batch(m, k + 1, &[])?;
    Ok(hits
        .into_iter()
        .enumerate()
        .map(|(i, h)| h.into_iter().filter(|x| x.id as usize != i).take(k).map(|x| (x.id as usize, (-x.score).max(0.0).sqrt())).collect())
        .collect())
}

/// The mean share of each point's `k` nearest neighbours in `high` that are also among its
/// `k` nearest in `low`.
pub fn neighbourhood_preservation(high: &Matrix, low: &Matrix, k: usize) -> Result<f64> {
    let (a, b) = (knn(high, k)?, knn(low, k)?);
    let mut total = 0.0;
    for (x, y) in a.iter().zip(&b) {
        let ys: Vec<usize> = y.iter().map(|p| p.0).collect();
        total += x.iter().filter(|p| ys.contains(&p.0)).count() as f64 / k.max(1) as f64;
    }
    Ok(total / a.len().max(1) as f64)
}

/// The default learning rate for `n` points (see the module).
pub fn auto_learning_rate(n: usize) -> f64 {
    (2.0 * n as f64 / 3.0).max(200.0)
}

/// A seeded Barnes-Hut t-SNE of the rows of `m` into 2-D (`learning_rate` 0 = auto).
pub fn tsne(m: &Matrix, perplexity: f64, iterations: usize, theta: f64, learning_rate: f64, seed: u64) -> Result<Matrix> {
    let n = m.rows;
    let k = ((3.0 * perplexity) as usize).min(n.saturating_sub(1));
    if k < 2 {
        bail!("a map needs more than {} points for perplexity {perplexity}", n);
    }
    let nn = knn(m, k)?;
    let neighbors: Vec<Vec<bhtsne::Neighbor<f32>>> =
        nn.into_iter().map(|row| row.into_iter().map(|(index, distance)| bhtsne::Neighbor { index, distance }).collect()).collect();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ 0x75e5);
    let normal = Normal::new(0.0f32, 1e-4).expect("valid normal");
    let init: Vec<f32> = (0..n * 2).map(|_| normal.sample(&mut rng)).collect();
    let rows: Vec<&[f32]> = (0..n).map(|i| m.row(i)).collect();
    let mut t: bhtsne::tSNE<f32, &[f32]> = bhtsne::tSNE::new(&rows);
    // bhtsne takes the perplexity from the neighbour count when given neighbours; set it too.
    let lr = if learning_rate > 0.0 { learning_rate } else { auto_learning_rate(n) };
    t.perplexity((k as f32 / 3.0).max(1.0))
        .epochs(iterations)
        .learning_rate(lr as f32)
        .initial_embedding(init)
        .barnes_hut_with_neighbors(theta as f32, &neighbors);
    Matrix::from_vec(n, 2, t.embedding())
}

impl Task for Map {
    fn name(&self) -> &'static str {
        "map"
    }

    fn about(&self) -> &'static str {
        "2-D t-SNE map of the item vectors (SVG coloured by category) and its neighbourhood preservation"
    }

    fn check(&self, dataset_kind: &str, _split_kind: &str) -> Result<(), super::Mismatch> {
        super::needs_interactions(self.name(), dataset_kind)
    }

    fn uses_seed(&self) -> bool {
        true
    }

    fn evaluate(&self, input: &EvalInput) -> Result<TaskResult> {
        // A scoring model's columns of its item-item matrix: no embedding to map.
        if input.no_geometry {
            return Ok(TaskResult::default());
        }
        let p = &input.metrics.map;
        let items = &input.trained.items;
        let mut pool = super::trained_items(input.split, items.rows);
        if pool.len() > p.max_items {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(input.seed ^ 0x3a9);
            pool.shuffle(&mut rng);
            pool.truncate(p.max_items);
            pool.sort_unstable();
        }
        if pool.len() < 10 {
            bail!("the map needs at least 10 items with training data, found {}", pool.len());
        }
        let mut m = Matrix::zeros(pool.len(), items.cols);
        for (r, &i) in pool.iter().enumerate() {
            m.row_mut(r).copy_from_slice(items.row(i));
        }
        let perplexity = p.perplexity.min((pool.len() - 1) as f64 / 3.0);
        let low = tsne(&m, perplexity, p.iterations, p.theta, p.learning_rate, input.seed)?;
        let score = neighbourhood_preservation(&m, &low, 10.min(pool.len() - 1))?;
        let cats = similarity::categories(input.dataset, input.metrics.similarity_by.as_deref())?;
        let points = MapPoints {
            x: (0..low.rows).map(|r| low.row(r)[0]).collect(),
            y: (0..low.rows).map(|r| low.row(r)[1]).collect(),
            category: pool.iter().map(|&i| cats.as_ref().and_then(|c| c.get(i).and_then(|v| v.first().copied()))).collect(),
            items: pool.iter().map(|&i| input.dataset.items.raw(i as u32).to_string()).collect(),
        };
        let mut out = TaskResult { users: 0, metrics: BTreeMap::from([("map kNN@10".to_string(), score)]), ..Default::default() };
        out.files.insert("map.json".into(), serde_json::to_vec(&points)?);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `c` clusters of `per` points in 16-D around far-apart centres.
    fn clusters(c: usize, per: usize, seed: u64) -> Matrix {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let noise = Normal::new(0.0f32, 0.3).unwrap();
        let mut m = Matrix::zeros(c * per, 16);
        for i in 0..c * per {
            let cluster = i / per;
            for (d, x) in m.row_mut(i).iter_mut().enumerate() {
                *x = if d % c == cluster { 5.0 } else { 0.0 } + noise.sample(&mut rng);
            }
        }
        m
    }

    #[test]
    fn tsne_separates_planted_clusters_and_is_seeded() {
        let m = clusters(4, 60, 1);
        let low = tsne(&m, 15.0, 400, 0.5, 0.0, 7).unwrap();
        assert_eq!((low.rows, low.cols), (240, 2));
        // Every point's nearest map neighbours come from its own cluster.
        let nn = knn(&low, 5).unwrap();
        let pure = nn.iter().enumerate().map(|(i, row)| row.iter().filter(|(j, _)| j / 60 == i / 60).count()).sum::<usize>() as f64 / (240.0 * 5.0);
        assert!(pure > 0.97, "cluster purity of map neighbours {pure}");
        // The high-dimensional neighbourhoods survive well (within-cluster noise is isotropic,
        // so not perfectly).
        let score = neighbourhood_preservation(&m, &low, 10).unwrap();
        assert!(score > 0.3, "neighbourhood preservation {score}");
        // A map of random vectors keeps far less than a map of the vectors themselves: the
        // score measures something.
        let shuffled = Matrix::from_vec(240, 2, (0..480).map(|i| ((i * 7919) % 240) as f32).collect()).unwrap();
        assert!(neighbourhood_preservation(&m, &shuffled, 10).unwrap() < score / 2.0);
        // Seeded: on one thread the same seed gives the same map (bhtsne sums forces in
        // parallel, so with more threads the last digits differ run to run).
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let a = one.install(|| tsne(&m, 15.0, 200, 0.5, 0.0, 7).unwrap());
        let b = one.install(|| tsne(&m, 15.0, 200, 0.5, 0.0, 7).unwrap());
        assert_eq!(a.data, b.data);
    }

    #[test]
    fn knn_excludes_the_point_itself_and_sorts_by_distance() {
        let m = Matrix::from_vec(4, 1, vec![0.0, 1.0, 3.0, 7.0]).unwrap();
        let nn = knn(&m, 2).unwrap();
        assert_eq!(nn[0].iter().map(|p| p.0).collect::<Vec<_>>(), vec![1, 2]);
        assert!((nn[0][1].1 - 3.0).abs() < 1e-6, "distances are Euclidean, not squared");
        assert_eq!(nn[3].iter().map(|p| p.0).collect::<Vec<_>>(), vec![2, 1]);
    }
}
