//! Sampled evaluation (`[metrics] sampled = { negatives = 100, by = "uniform", seed = 42 }`),
//! as sequence papers report it (SASRec, BERT4Rec): each test item is ranked among
//! `negatives` items drawn for its user, and the columns are named for it
//! (`HR@10 (100 neg)`, `NDCG@10 (100 neg)`; `... pop neg)` for popularity-drawn ones).
//!
//! Full ranking stays the default and the main table: Krichene and Rendle (KDD 2020) show
//! that sampled metrics can order models differently from the full ranking they stand for.
//! These columns are for comparing with papers that report them.
//!
//! A user's negatives are distinct items the user has no training, validation or test
//! interaction with, drawn uniformly or in proportion to training popularity (items nobody
//! trained on are never drawn then), from a stream seeded by `(seed, user)`: the same for
//! every model, run and block order. The test item's rank counts the negatives scored above
//! it, and those scored equal with a lower id (the full ranking's tie rule).

use super::spec::{SampleBy, SampledEval};
use crate::data::Split;
use crate::index::common::{prepare_items, prepare_query, score};
use crate::index::Metric;
use crate::models::Trained;
use anyhow::{bail, Result};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::collections::BTreeMap;

/// The column of metric `name` (`HR`, `NDCG`) at `k`.
pub fn column(name: &str, k: usize, cfg: &SampledEval) -> String {
    let by = match cfg.by {
        SampleBy::Uniform => "",
        SampleBy::Popularity => "pop ",
    };
    format!("{name}@{k} ({} {by}neg)", cfg.negatives)
}

/// Training counts as popularity weights, with what every user's draw needs computed once
/// per evaluation rather than once per user: the running sums, and how many items can be
/// drawn at all.
pub struct Popularity {
    weights: Vec<u64>,
    cumulative: Vec<u64>,
    drawable: usize,
}

impl Popularity {
    pub fn new(weights: Vec<u64>) -> Self {
        let cumulative = weights
            .iter()
            .scan(0u64, |s, &w| {
                *s += w;
                Some(*s)
            })
            .collect();
        let drawable = weights.iter().filter(|&&w| w > 0).count();
        Popularity { weights, cumulative, drawable }
    }
}

/// The negatives of user `u`: `cfg.negatives` distinct items outside `excluded` (sorted),
/// drawn uniformly or by `pop`.
pub fn negatives(u: u32, n_items: usize, excluded: &[u32], pop: &Popularity, cfg: &SampledEval) -> Result<Vec<u32>> {
    let (weights, cumulative) = (&pop.weights, &pop.cumulative);
    let eligible = match cfg.by {
        SampleBy::Uniform => n_items - excluded.len(),
        SampleBy::Popularity => pop.drawable - excluded.iter().filter(|&&i| weights[i as usize] > 0).count(),
    };
    if eligible < cfg.negatives {
        bail!(
            "[metrics] sampled: user {u} has {eligible} items to draw negatives from{}, fewer than negatives = {}; lower `negatives`",
            if cfg.by == SampleBy::Popularity { " (items with training interactions they have not seen)" } else { "" },
            cfg.negatives
        );
    }
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(crate::sampling::derive_seed(cfg.seed, u as u64 + 1));
    let mut out: Vec<u32> = Vec::with_capacity(cfg.negatives);
    // Rejection: when negatives are few next to the eligible items (the usual 100 of
    // thousands) a draw is rarely rejected; otherwise, pick from the eligible list directly.
    if eligible < 4 * cfg.negatives {
        let mut pool: Vec<u32> = (0..n_items as u32).filter(|i| excluded.binary_search(i).is_err()).collect();
        if cfg.by == SampleBy::Popularity {
            pool.retain(|&i| weights[i as usize] > 0);
        }
        for _ in 0..cfg.negatives {
            let k = match cfg.by {
                SampleBy::Uniform => rng.gen_range(0..pool.len()),
                SampleBy::Popularity => {
                    let total: u64 = pool.iter().map(|&i| weights[i as usize]).sum();
                    let mut x = rng.gen_range(0..total);
                    pool.iter()
                        .position(|&i| {
                            let w = weights[i as usize];
                            if x < w {
                                true
                            } else {
                                x -= w;
                                false
                            }
                        })
                        .expect("x < total")
                }
            };
            out.push(pool.swap_remove(k));
        }
    } else {
        while out.len() < cfg.negatives {
            let i = match cfg.by {
                SampleBy::Uniform => rng.gen_range(0..n_items as u32),
                SampleBy::Popularity => {
                    let x = rng.gen_range(0..*cumulative.last().expect("eligible items have weight"));
                    cumulative.partition_point(|&c| c <= x) as u32
                }
            };
            if excluded.binary_search(&i).is_err() && !out.contains(&i) {
                out.push(i);
            }
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Mean over `users` (each user's mean over their test items, `test`) of HR@k and NDCG@k for
/// every `k`, each test item ranked among its user's negatives by the model's score.
/// `seen`: each user's training and validation items when the caller has them (sorted).
#[allow(clippy::too_many_arguments)]
pub fn evaluate(
    split: &Split,
    trained: &Trained,
    metric: Metric,
    cfg: &SampledEval,
    ks: &[usize],
    users: &[u32],
    test: &[Vec<u32>],
    seen: Option<&[Vec<u32>]>,
) -> Result<BTreeMap<String, f64>> {
    if split.candidates.is_some() {
        bail!("[metrics] sampled ranks each test item among items drawn from the whole catalogue; a cold_items split ranks among its held-out items only: leave `sampled` out");
    }
    let items = prepare_items(metric, &trained.items);
    let pop = Popularity::new(split.train_item_counts());
    // Whatever `exclude_seen` says for the full ranking: a negative is an item the user has
    // not interacted with.
    let own;
    let seen = match seen {
        Some(s) => s,
        None => {
            own = split.seen_sorted();
            &own[..]
        }
    };
    let mut sums = vec![(0.0f64, 0.0f64); ks.len()];
    for &u in users {
        let mut relevant = test[u as usize].clone();
        relevant.sort_unstable();
        relevant.dedup();
        let mut excluded: Vec<u32> = seen[u as usize].iter().chain(&relevant).copied().collect();
        excluded.sort_unstable();
        excluded.dedup();
        let negs = negatives(u, split.n_items, &excluded, &pop, cfg)?;
        let q = prepare_query(metric, trained.users.row(u as usize));
        let neg_scores: Vec<(f32, u32)> = negs.iter().map(|&j| (score(metric, &q, items.row(j as usize)), j)).collect();
        let mut user = vec![(0.0f64, 0.0f64); ks.len()];
        for &t in &relevant {
            let s = score(metric, &q, items.row(t as usize));
            let rank = neg_scores.iter().filter(|&&(x, j)| x > s || (x == s && j < t)).count();
            for (ki, &k) in ks.iter().enumerate() {
                if rank < k {
                    user[ki].0 += 1.0;
                    user[ki].1 += 1.0 / ((rank + 2) as f64).log2();
                }
            }
        }
        for (sum, (hr, ndcg)) in sums.iter_mut().zip(user) {
            sum.0 += hr / relevant.len() as f64;
            sum.1 += ndcg / relevant.len() as f64;
        }
    }
    let n = users.len().max(1) as f64;
    let mut out = BTreeMap::new();
    for (ki, &k) in ks.iter().enumerate() {
        out.insert(column("HR", k, cfg), sums[ki].0 / n);
        out.insert(column("NDCG", k, cfg), sums[ki].1 / n);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Interaction;
    use crate::linalg::Matrix;

    fn cfg(negatives: usize, by: SampleBy, seed: u64) -> SampledEval {
        SampledEval { negatives, by, seed }
    }

    /// Every draw is exactly `negatives` distinct items, none excluded, the same for the same
    /// seed and user, another for another seed; popularity never draws an item nobody trained on.
    #[test]
    fn negatives_are_distinct_unseen_and_seeded() {
        let excluded: Vec<u32> = (0..200).step_by(3).collect();
        let weights: Vec<u64> = (0..200u64).map(|i| if i % 7 == 0 { 0 } else { i }).collect();
        let pop = Popularity::new(weights.clone());
        for by in [SampleBy::Uniform, SampleBy::Popularity] {
            for n in [10, 100, 110] {
                let c = cfg(n, by, 9);
                let a = negatives(5, 200, &excluded, &pop, &c).unwrap();
                assert_eq!(a.len(), n);
                assert!(a.windows(2).all(|w| w[0] < w[1]), "distinct");
                assert!(a.iter().all(|i| excluded.binary_search(i).is_err()));
                if by == SampleBy::Popularity {
                    assert!(a.iter().all(|&i| weights[i as usize] > 0), "{a:?}");
                }
                assert_eq!(a, negatives(5, 200, &excluded, &pop, &c).unwrap());
                if n < 100 {
                    assert_ne!(a, negatives(5, 200, &excluded, &pop, &cfg(n, by, 10)).unwrap());
                    assert_ne!(a, negatives(6, 200, &excluded, &pop, &c).unwrap());
                }
            }
        }
        // 133 items are eligible uniformly; asking for more is an error naming the key.
        let e = negatives(5, 200, &excluded, &pop, &cfg(134, SampleBy::Uniform, 1)).unwrap_err().to_string();
        assert!(e.contains("negatives = 134") && e.contains("133 items"), "{e}");
    }

    /// Hand-computed: one user, 1-d vectors scoring item i as i; the test item 10 among the
    /// 19 other items (all of them) has 9 above it: HR@10 = 1, NDCG@10 = 1 / log2(11), HR@5 = 0.
    #[test]
    fn hr_and_ndcg_match_a_hand_count() {
        let split = Split { n_users: 1, n_items: 20, train: vec![], test: vec![Interaction { user: 0, item: 10, rating: 1.0, ts: 0 }], ..Default::default() };
        let trained = Trained {
            users: Matrix::from_vec(1, 1, vec![1.0]).unwrap(),
            items: Matrix::from_vec(20, 1, (0..20).map(|i| i as f32).collect()).unwrap(),
            ..Default::default()
        };
        let c = cfg(19, SampleBy::Uniform, 1);
        let test = vec![vec![10u32]];
        let m = evaluate(&split, &trained, Metric::Ip, &c, &[5, 10], &[0], &test, None).unwrap();
        assert_eq!(m["HR@10 (19 neg)"], 1.0);
        assert!((m["NDCG@10 (19 neg)"] - 1.0 / 11f64.log2()).abs() < 1e-12);
        assert_eq!(m["HR@5 (19 neg)"], 0.0);
        assert_eq!(m["NDCG@5 (19 neg)"], 0.0);
        // Seen items are never negatives: with items 15..20 trained on, 4 are above it.
        let mut split = split;
        split.train = (15..20).map(|i| Interaction { user: 0, item: i, rating: 1.0, ts: 0 }).collect();
        let c = cfg(14, SampleBy::Uniform, 1);
        let m = evaluate(&split, &trained, Metric::Ip, &c, &[5], &[0], &test, None).unwrap();
        assert_eq!(m["HR@5 (14 neg)"], 1.0);
        assert!((m["NDCG@5 (14 neg)"] - 1.0 / 6f64.log2()).abs() < 1e-12);
    }
}
