//! `task = "similarity"`: the distribution of cosine similarity over a seeded sample of item
//! pairs (items with training data), the seed article's first look at an embedding: mean,
//! std, min, quantiles and max as columns (`sim mean`, `sim p50`, ...), the same for pairs
//! of one category and of different categories where the dataset has categories (`sim same
//! mean`, `sim diff mean`, and their gap), and a 40-bin histogram over [-1, 1] for the plot.
//! A model that learned the categories puts same-category pairs well above the rest.

use super::{EvalInput, Task, TaskResult};
use crate::data::{Dataset, FeatureColumn};
use crate::linalg::Matrix;
use anyhow::{bail, Result};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::collections::BTreeMap;

pub struct Similarity;

/// Histogram bins over [-1, 1].
pub const BINS: usize = 40;

/// Per item, its categories (sorted), from `by` or the dataset's default (see the module).
pub fn categories(ds: &Dataset, by: Option<&str>) -> Result<Option<Vec<Vec<u32>>>> {
    let of = |c: &FeatureColumn| -> Option<Vec<Vec<u32>>> {
        match c {
            FeatureColumn::Categorical { values, .. } => Some(values.iter().map(|&v| vec![v]).collect()),
            FeatureColumn::MultiHot { values, .. } => Some(
                values
                    .iter()
                    .map(|v| {
                        let mut v = v.clone();
                        v.sort_unstable();
                        v
                    })
                    .collect(),
            ),
            FeatureColumn::Numeric { .. } | FeatureColumn::Text { .. } | FeatureColumn::Vector { .. } => None,
        }
    };
    if let Some(name) = by {
        let Some(col) = ds.item_features.get(name) else {
            let names: Vec<&str> = ds.item_features.columns.iter().map(|c| c.name()).collect();
            bail!("similarity_by: the dataset has no item feature `{name}` (it has: {})", if names.is_empty() { "none".into() } else { names.join(", ") });
        };
        return match of(col) {
            Some(c) => Ok(Some(c)),
            None => bail!(
                "similarity_by: `{name}` is {}; name a categorical or multi-hot feature",
                if matches!(col, FeatureColumn::Text { .. }) { "text" } else { "numeric" }
            ),
        };
    }
    if let Some(l) = ds.graph.as_ref().and_then(|g| g.labels.as_ref()) {
        return Ok(Some(
            l.of_node
                .iter()
                .map(|v| {
                    let mut v = v.clone();
                    v.sort_unstable();
                    v
                })
                .collect(),
        ));
    }
    let cols = &ds.item_features.columns;
    let pick =
        cols.iter().find(|c| matches!(c, FeatureColumn::Categorical { .. })).or_else(|| cols.iter().find(|c| matches!(c, FeatureColumn::MultiHot { .. })));
    Ok(pick.and_then(of))
}

fn cosine(m: &Matrix, a: usize, b: usize) -> f64 {
    let (x, y) = (m.row(a), m.row(b));
    let (mut dot, mut nx, mut ny) = (0.0f64, 0.0f64, 0.0f64);
    for (&p, &q) in x.iter().zip(y) {
        dot += p as f64 * q as f64;
        nx += p as f64 * p as f64;
        ny += q as f64 * q as f64;
    }
    if nx == 0.0 || ny == 0.0 {
        0.0
    } else {
        (dot / (nx.sqrt() * ny.sqrt())).clamp(-1.0, 1.0)
    }
}

/// Mean, std (population), min, 5/25/50/75/95% quantiles (nearest rank) and max, as
/// `<prefix> mean` ... columns. `xs` is sorted in place.
pub fn describe(prefix: &str, xs: &mut [f64], out: &mut BTreeMap<String, f64>) {
    if xs.is_empty() {
        return;
    }
    xs.sort_by(|a, b| a.total_cmp(b));
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let std = (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
    let q = |p: f64| xs[(((p * n).ceil() as usize).max(1) - 1).min(xs.len() - 1)];
    out.insert(format!("{prefix} mean"), mean);
    out.insert(format!("{prefix} std"), std);
    out.insert(format!("{prefix} min"), xs[0]);
    for (name, p) in [("p05", 0.05), ("p25", 0.25), ("p50", 0.5), ("p75", 0.75), ("p95", 0.95)] {
        out.insert(format!("{prefix} {name}"), q(p));
    }
    out.insert(format!("{prefix} max"), xs[xs.len() - 1]);
}

/// Counts of `xs` in [`BINS`] equal bins over [-1, 1].
pub fn histogram(xs: &[f64]) -> Vec<f64> {
    let mut h = vec![0.0; BINS];
    for &x in xs {
        let b = (((x + 1.0) / 2.0) * BINS as f64).floor() as isize;
        h[b.clamp(0, BINS as isize - 1) as usize] += 1.0;
    }
    h
}

impl Task for Similarity {
    fn name(&self) -> &'static str {
        "similarity"
    }

    fn about(&self) -> &'static str {
        "cosine similarity of sampled item pairs: quantiles, same vs different category, histogram"
    }

    fn check(&self, dataset_kind: &str, _split_kind: &str) -> Result<(), super::Mismatch> {
        super::needs_interactions(self.name(), dataset_kind)
    }

    fn uses_seed(&self) -> bool {
        true
    }

    fn evaluate(&self, input: &EvalInput) -> Result<TaskResult> {
        // A scoring model's columns of its item-item matrix: no embedding to describe.
        if input.no_geometry {
            return Ok(TaskResult::default());
        }
        let items = &input.trained.items;
        let pool = super::trained_items(input.split, items.rows);
        if pool.len() < 2 {
            bail!("the similarity task needs at least 2 items with training data, found {}", pool.len());
        }
        let cats = categories(input.dataset, input.metrics.similarity_by.as_deref())?;
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(input.seed ^ 0x5151_7a11);
        let (mut all, mut same, mut diff) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..input.metrics.similarity_pairs {
            let a = pool[rng.gen_range(0..pool.len())];
            let mut b = pool[rng.gen_range(0..pool.len() - 1)];
            if b == a {
                b = pool[pool.len() - 1];
            }
            let s = cosine(items, a, b);
            all.push(s);
            if let Some(c) = &cats {
                let (ca, cb) = (&c[a], &c[b]);
                if ca.is_empty() || cb.is_empty() {
                    continue;
                }
                if ca.iter().any(|x| cb.binary_search(x).is_ok()) {
                    same.push(s);
                } else {
                    diff.push(s);
                }
            }
        }
        // Pairs are not users: the summary's `users` stays the ranking or graph task's count.
        let mut out = TaskResult::default();
        out.series.insert("similarity histogram".into(), histogram(&all));
        describe("sim", &mut all, &mut out.metrics);
        if !same.is_empty() && !diff.is_empty() {
            out.series.insert("similarity histogram same".into(), histogram(&same));
            out.series.insert("similarity histogram diff".into(), histogram(&diff));
            let (ms, md) = (same.iter().sum::<f64>() / same.len() as f64, diff.iter().sum::<f64>() / diff.len() as f64);
            out.metrics.insert("sim same mean".into(), ms);
            out.metrics.insert("sim diff mean".into(), md);
            out.metrics.insert("sim same-diff".into(), ms - md);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_and_histogram_by_hand() {
        let mut xs = vec![0.5, -1.0, 1.0, 0.0];
        let mut out = BTreeMap::new();
        describe("s", &mut xs, &mut out);
        assert_eq!(out["s mean"], 0.125);
        // Population std: deviations 0.375, -1.125, 0.875, -0.125 -> squares sum 2.1875 / 4.
        assert!((out["s std"] - (2.1875f64 / 4.0).sqrt()).abs() < 1e-12);
        assert_eq!((out["s min"], out["s max"]), (-1.0, 1.0));
        // Sorted -1, 0, 0.5, 1; nearest rank: p50 -> 2nd, p75 -> 3rd, p95 -> 4th, p05 -> 1st.
        assert_eq!((out["s p05"], out["s p50"], out["s p75"], out["s p95"]), (-1.0, 0.0, 0.5, 1.0));
        let h = histogram(&[-1.0, -0.99, 0.0, 1.0]);
        assert_eq!(h.len(), BINS);
        assert_eq!((h[0], h[BINS / 2], h[BINS - 1]), (2.0, 1.0, 1.0));
        assert_eq!(h.iter().sum::<f64>(), 4.0);
    }

    #[test]
    fn cosine_by_hand() {
        let m = Matrix::from_vec(3, 2, vec![1.0, 0.0, 1.0, 1.0, 0.0, 0.0]).unwrap();
        assert!((cosine(&m, 0, 1) - 0.5f64.sqrt()).abs() < 1e-12);
        assert_eq!(cosine(&m, 0, 2), 0.0, "a zero vector has no direction");
    }
}
