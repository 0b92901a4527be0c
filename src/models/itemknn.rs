//! `kind = "itemknn"`: item-based collaborative filtering (Sarwar et al. 2001) as the
//! reproducibility studies run it (Dacrema et al. 2019's ItemKNN-CF): cosine similarity with a
//! shrink term between items' training-user vectors, optionally re-weighted (TF-IDF or BM25,
//! as `implicit`'s nearest-neighbour recommenders weigh them), the `k` most similar items
//! kept per item, and a user's score of item `j` the sum of the similarities of `j`'s kept
//! neighbours among the user's items (Dacrema et al.'s `Compute_Similarity`, which RecBole's
//! ItemKNN also uses: pruning the other side, keeping `S[i][j]` where `j` is among `i`'s
//! neighbours, scored 11 % lower Recall@10 on MovieLens 100K, `experiments/yardsticks`).
//!
//! `S[i][j] = w_i · w_j / (‖w_i‖ ‖w_j‖ + shrink)` for `j ≠ i`, where `w_i` is item `i`'s row of
//! the (weighted) item x user 0/1 matrix; row `i` of `S` keeps its `k` largest entries (ties to
//! the lower item id). The shrink term (default 0, plain cosine) pulls down similarities
//! resting on few common users. Unlike `implicit`'s TF-IDF and BM25 recommenders, which rank
//! by raw dot products of the weighted rows, the weighted rows are compared by cosine here,
//! as in Dacrema et al.'s feature weighting, so `weighting` changes only what is compared.
//!
//! Weightings of the item x user matrix `X` (`N` items, `df_u` = user `u`'s item count):
//! - `tfidf`: `x * (ln N - ln(1 + df_u))` (`implicit.nearest_neighbours.tfidf_weight` with
//!   0/1 data);
//! - `bm25`: `x (K1 + 1) / (K1 ((1 - B) + B len_i / avg len) + x) * (ln N - ln(1 + df_u))`
//!   with `K1 = 1.2`, `B = 0.75` (`implicit`'s `BM25Recommender` defaults), `len_i` item
//!   `i`'s user count.
//!
//! The model scores rather than embeds ([`Model::scores_items`]): item `j`'s vector is its
//! kept row `S[j][..]` and a user's query is the user's 0/1 training row, so the shared exact
//! search ranks by the kNN score itself, and `similar` (asked with the item's one-hot row, a
//! user who had only item `i`) returns what the model recommends after `i`: the items that
//! keep `i` among their neighbours, by similarity.

use super::{item_space, Model, ModelKind, TrainInput, Trained};
use crate::ensure_param;
use crate::index::Metric;
use crate::linalg::Matrix;
use crate::params::{self, ParamError, Validate};
use anyhow::Result;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// BM25's term-saturation and length-normalisation constants (`implicit`'s defaults).
pub const BM25_K1: f64 = 1.2;
pub const BM25_B: f64 = 0.75;

#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Weighting {
    #[default]
    None,
    Tfidf,
    Bm25,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ItemKnnParams {
    /// Neighbours kept per item.
    pub k: usize,
    /// Added to the cosine's denominator; 0 = plain cosine.
    pub shrink: f64,
    pub weighting: Weighting,
}

impl Default for ItemKnnParams {
    fn default() -> Self {
        // Dacrema et al. tune k in 5-1000 and shrink in 0-1000; 100 neighbours and no shrink is
        // their grid's usual centre and LensKit/implicit's plain cosine.
        ItemKnnParams { k: 100, shrink: 0.0, weighting: Weighting::None }
    }
}

impl Validate for ItemKnnParams {
    fn validate(&self) -> Result<(), ParamError> {
        ensure_param!(self.k >= 1, "k", "must be at least 1 neighbour, got {}", self.k);
        ensure_param!(self.shrink.is_finite() && self.shrink >= 0.0, "shrink", "must be >= 0 (0 = plain cosine), got {}", self.shrink);
        Ok(())
    }
}

pub struct ItemKnn(pub ItemKnnParams);

/// Bytes item kNN needs: the `f32` item columns and user rows handed to retrieval, one
/// `n_items` accumulator per thread, and the kept neighbours (`k` per item).
pub fn memory_needed(n_users: usize, n_items: usize, k: usize) -> u64 {
    item_space::output_bytes(n_users, n_items) + 16 * (n_items as u64) * (rayon::current_num_threads() as u64 + k.min(n_items) as u64)
}

/// The weighted item x user matrix: for every item its users (ascending) and their weights.
pub fn weighted_rows(by_item: &[Vec<u32>], n_users: usize, weighting: Weighting) -> Vec<Vec<f64>> {
    let n = by_item.len() as f64;
    let mut df = vec![0u64; n_users];
    for users in by_item {
        for &u in users {
            df[u as usize] += 1;
        }
    }
    let idf: Vec<f64> = df.iter().map(|&d| n.ln() - (1.0 + d as f64).ln()).collect();
    let avg_len = by_item.iter().map(|u| u.len() as f64).sum::<f64>() / n.max(1.0);
    by_item
        .iter()
        .map(|users| {
            let len_norm = (1.0 - BM25_B) + BM25_B * users.len() as f64 / avg_len.max(f64::MIN_POSITIVE);
            users
                .iter()
                .map(|&u| match weighting {
                    Weighting::None => 1.0,
                    Weighting::Tfidf => idf[u as usize],
                    Weighting::Bm25 => (BM25_K1 + 1.0) / (BM25_K1 * len_norm + 1.0) * idf[u as usize],
                })
                .collect()
        })
        .collect()
}

/// The top-`k` neighbours of every item as `(j, S[i][j])`, best first (ties to the lower
/// id), zero and negative similarities dropped. Items are independent: computed in parallel,
/// each through the users it shares with the others.
pub fn neighbours(by_item: &[Vec<u32>], n_users: usize, weights: &[Vec<f64>], p: &ItemKnnParams) -> Vec<Vec<(u32, f32)>> {
    let n = by_item.len();
    // The weighted matrix from the users' side: every user's (item, weight).
    let mut by_user: Vec<Vec<(u32, f64)>> = vec![Vec::new(); n_users];
    for (i, (users, w)) in by_item.iter().zip(weights).enumerate() {
        for (&u, &x) in users.iter().zip(w) {
            by_user[u as usize].push((i as u32, x));
        }
    }
    let norms: Vec<f64> = weights.iter().map(|w| w.iter().map(|x| x * x).sum::<f64>().sqrt()).collect();
    (0..n)
        .into_par_iter()
        .map_init(
            // Dot products with item i, and which items i met (stamped with i + 1).
            || (vec![0.0f64; n], vec![0usize; n], Vec::<u32>::new()),
            |(acc, stamp, touched), i| {
                touched.clear();
                for (&u, &wi) in by_item[i].iter().zip(&weights[i]) {
                    for &(j, wj) in &by_user[u as usize] {
                        let j = j as usize;
                        if j == i {
                            continue;
                        }
                        if stamp[j] != i + 1 {
                            stamp[j] = i + 1;
                            acc[j] = 0.0;
                            touched.push(j as u32);
                        }
                        acc[j] += wi * wj;
                    }
                }
                let mut row: Vec<(u32, f32)> = touched
                    .iter()
                    .filter_map(|&j| {
                        let s = acc[j as usize] / (norms[i] * norms[j as usize] + p.shrink);
                        (s > 0.0 && s.is_finite()).then_some((j, s as f32))
                    })
                    .collect();
                row.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                row.truncate(p.k);
                row
            },
        )
        .collect()
}

impl Model for ItemKnn {
    fn fit(&self, input: &TrainInput) -> Result<Trained> {
        let split = input.split;
        let n = split.n_items;
        item_space::check_memory(
            "item kNN",
            n,
            memory_needed(split.n_users, n, self.0.k),
            &format!("{n} x {n} f32 item columns, the f32 user rows and the kept neighbours"),
        )?;
        let by_item = item_space::item_users(split);
        let weights = weighted_rows(&by_item, split.n_users, self.0.weighting);
        let nn = neighbours(&by_item, split.n_users, &weights, &self.0);
        drop((by_item, weights));
        // Item j's vector is its own kept row: items[j][i] = S[j][i] for i among j's neighbours.
        let mut items = Matrix::zeros(n, n);
        let mut kept = 0usize;
        for (j, row) in nn.iter().enumerate() {
            kept += row.len();
            for &(i, s) in row {
                items.row_mut(j)[i as usize] = s;
            }
        }
        let users = item_space::user_rows(split);
        let mut notes = serde_json::Map::new();
        notes.insert("scores_items".into(), json!(item_space::NOTE));
        notes.insert("mean_neighbours".into(), json!(kept as f64 / n.max(1) as f64));
        Ok(Trained { items, users, metric: Metric::Ip, epochs: Vec::new(), notes, checkpoint: None, weights: None })
    }

    fn uses_seed(&self) -> bool {
        false
    }

    fn scores_items(&self) -> bool {
        true
    }
}

pub static KIND: ModelKind = ModelKind {
    kind: "itemknn",
    about: "item-item cosine kNN (shrink, TF-IDF/BM25 weighting); scores items rather than embedding them",
    version: 2,
    parse: |v| {
        let (p, canon) = params::canonical::<ItemKnnParams>(v)?;
        Ok((Box::new(ItemKnn(p)), canon))
    },
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Dataset, Interaction, Split};
    use crate::linalg;
    use rand::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    fn random_split(seed: u64) -> Split {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let (nu, ni) = (30u32, 25u32);
        let mut train = Vec::new();
        for user in 0..nu {
            for _ in 0..rng.gen_range(1..12) {
                // Skewed toward low ids so that popularities (and BM25 lengths) differ.
                let item = (rng.gen::<f64>().powi(2) * (ni - 1) as f64) as u32;
                train.push(Interaction { user, item, rating: 1.0, ts: 0 });
            }
        }
        Split { n_users: nu as usize, n_items: ni as usize, train, ..Default::default() }
    }

    /// Dense X (items x users, 0/1), the weighting written out from its formula, the full
    /// similarity matrix and a sort per row.
    fn brute_force(split: &Split, p: &ItemKnnParams) -> Vec<Vec<(u32, f32)>> {
        let (nu, ni) = (split.n_users, split.n_items);
        let mut x = vec![vec![0.0f64; nu]; ni];
        for it in &split.train {
            x[it.item as usize][it.user as usize] = 1.0;
        }
        let df: Vec<f64> = (0..nu).map(|u| (0..ni).filter(|&i| x[i][u] > 0.0).count() as f64).collect();
        let lens: Vec<f64> = x.iter().map(|r| r.iter().sum()).collect();
        let avg = lens.iter().sum::<f64>() / ni as f64;
        let w: Vec<Vec<f64>> = (0..ni)
            .map(|i| {
                (0..nu)
                    .map(|u| {
                        let (v, idf) = (x[i][u], (ni as f64).ln() - (1.0 + df[u]).ln());
                        match p.weighting {
                            Weighting::None => v,
                            Weighting::Tfidf => v * idf,
                            Weighting::Bm25 => v * (1.2 + 1.0) / (1.2 * (0.25 + 0.75 * lens[i] / avg) + v) * idf,
                        }
                    })
                    .collect()
            })
            .collect();
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(p, q)| p * q).sum::<f64>();
        (0..ni)
            .map(|i| {
                let mut row: Vec<(u32, f32)> = (0..ni)
                    .filter(|&j| j != i)
                    .map(|j| (j as u32, (dot(&w[i], &w[j]) / (dot(&w[i], &w[i]).sqrt() * dot(&w[j], &w[j]).sqrt() + p.shrink)) as f32))
                    .filter(|&(_, s)| s > 0.0 && s.is_finite())
                    .collect();
                row.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                row.truncate(p.k);
                row
            })
            .collect()
    }

    #[test]
    fn neighbours_equal_brute_force_for_every_weighting_and_shrink() {
        let split = random_split(3);
        let by_item = item_space::item_users(&split);
        for weighting in [Weighting::None, Weighting::Tfidf, Weighting::Bm25] {
            for (k, shrink) in [(5, 0.0), (3, 10.0), (100, 2.5)] {
                let p = ItemKnnParams { k, shrink, weighting };
                let got = neighbours(&by_item, split.n_users, &weighted_rows(&by_item, split.n_users, weighting), &p);
                let want = brute_force(&split, &p);
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    let ids = |r: &[(u32, f32)]| r.iter().map(|x| x.0).collect::<Vec<_>>();
                    // Near-ties may swap places between two summation orders; the values may not.
                    assert_eq!(g.len(), w.len(), "{p:?} item {i}");
                    for (a, b) in g.iter().zip(w) {
                        assert!((a.1 - b.1).abs() < 1e-5, "{p:?} item {i}: {:?} vs {:?}", ids(g), ids(w));
                    }
                    let exact_ties = w.windows(2).any(|x| (x[0].1 - x[1].1).abs() < 1e-6);
                    if !exact_ties {
                        assert_eq!(ids(g), ids(w), "{p:?} item {i}");
                    }
                }
            }
        }
    }

    #[test]
    fn scores_sum_similarities_of_the_users_items() {
        let split = random_split(5);
        let p = ItemKnnParams { k: 4, shrink: 1.0, weighting: Weighting::Bm25 };
        let t = ItemKnn(p.clone()).fit(&TrainInput::new(&Dataset::default(), &split, None, 0)).unwrap();
        let nn = brute_force(&split, &p);
        let by_user = item_space::user_items(&split);
        for (u, items) in by_user.iter().enumerate() {
            for j in 0..split.n_items {
                let want: f32 = items.iter().map(|&i| nn[j].iter().find(|x| x.0 == i).map_or(0.0, |x| x.1)).sum();
                assert!((linalg::dot(t.users.row(u), t.items.row(j)) - want).abs() < 1e-5, "user {u} item {j}");
            }
        }
        // `similar`'s one-hot query of item i ranks the items that keep i among their
        // neighbours, by that similarity: a user who had only i.
        for i in 0..split.n_items {
            let mut e = vec![0.0f32; split.n_items];
            e[i] = 1.0;
            let mut scored: Vec<(u32, f32)> = (0..split.n_items).map(|j| (j as u32, linalg::dot(&e, t.items.row(j)))).filter(|x| x.1 > 0.0).collect();
            scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            let mut want: Vec<(u32, f32)> =
                nn.iter().enumerate().filter_map(|(j, row)| row.iter().find(|x| x.0 == i as u32).map(|x| (j as u32, x.1))).filter(|x| x.1 > 0.0).collect();
            want.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            assert_eq!(scored.len(), want.len());
            for (a, b) in scored.iter().zip(&want) {
                assert!(a.0 == b.0 && (a.1 - b.1).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn params_and_registry() {
        let (p, canon) = params::canonical::<ItemKnnParams>(&serde_json::Value::Null).unwrap();
        assert_eq!(p, ItemKnnParams::default());
        assert_eq!(canon, json!({"k": 100, "shrink": 0.0, "weighting": "none"}));
        assert_eq!(params::canonical::<ItemKnnParams>(&json!({"weighting": "bm25"})).unwrap().0.weighting, Weighting::Bm25);
        for (bad, key) in
            [(json!({"k": 0}), "k"), (json!({"shrink": -1.0}), "shrink"), (json!({"weighting": "idf"}), "weighting"), (json!({"shrnk": 1}), "shrnk")]
        {
            assert_eq!((KIND.parse)(&bad).err().unwrap().path, key, "{bad}");
        }
        let (m, _) = (KIND.parse)(&json!({})).unwrap();
        assert!(m.scores_items() && !m.learns_embeddings());
    }
}
