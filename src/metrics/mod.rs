//! Ranking metrics (per user, then averaged), catalogue-level metrics, and latency stats.
//!
//! Definitions follow RecBole: Recall@K = hits / |relevant|; NDCG@K with binary gains and
//! IDCG over min(|relevant|, K) positions; MRR@K = 1 / rank of the first hit; HitRate@K = any
//! hit; Precision@K = hits / K. Coverage@K = distinct recommended items / catalogue size;
//! Novelty@K = mean over recommended items of -log2 p(i), p(i) = training users of i / users
//! (items never seen in training count as seen once, so the value stays finite).
//!
//! Beyond-accuracy metrics, as RecBole and Elliot define them (opt-in: list them in
//! `[metrics] metrics`): MAP@K = sum over hit positions i of Precision@i, divided by
//! min(|relevant|, K); Gini@K = the Gini index of how often each catalogue item appears in the
//! top-K lists (0 = every item equally exposed, towards 1 = a few items take all exposure);
//! AvgPop@K = mean training interaction count of the recommended items; LongTail@K = share of
//! recommended items outside the short head (the most popular items that together hold 20%
//! of the catalogue); ILD@K = intra-list diversity, the mean cosine distance 1 - cos(u, v)
//! between the item vectors of every pair in a list.

pub mod latency;

use serde::{Deserialize, Serialize};

/// Which per-user ranking metrics to compute.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum MetricName {
    Recall,
    Ndcg,
    Hit,
    Mrr,
    Precision,
    Coverage,
    Novelty,
    Map,
    Gini,
    AvgPop,
    LongTail,
    Ild,
}

impl MetricName {
    /// The default `[metrics] metrics`; the beyond-accuracy ones below are opt-in, so tables
    /// and eval keys of configs that do not name them stay as they were.
    pub const ALL: [MetricName; 7] =
        [MetricName::Recall, MetricName::Ndcg, MetricName::Hit, MetricName::Mrr, MetricName::Precision, MetricName::Coverage, MetricName::Novelty];

    pub fn label(self) -> &'static str {
        match self {
            MetricName::Recall => "Recall",
            MetricName::Ndcg => "NDCG",
            MetricName::Hit => "Hit",
            MetricName::Mrr => "MRR",
            MetricName::Precision => "Precision",
            MetricName::Coverage => "Coverage",
            MetricName::Novelty => "Novelty",
            MetricName::Map => "MAP",
            MetricName::Gini => "Gini",
            MetricName::AvgPop => "AvgPop",
            MetricName::LongTail => "LongTail",
            MetricName::Ild => "ILD",
        }
    }
}

/// Per-user metric values at one cut-off.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct UserScores {
    pub recall: f64,
    pub ndcg: f64,
    pub hit: f64,
    pub mrr: f64,
    pub precision: f64,
    pub novelty: f64,
    pub map: f64,
    pub avg_pop: f64,
    pub long_tail: f64,
}

impl UserScores {
    pub fn get(&self, m: MetricName) -> Option<f64> {
        Some(match m {
            MetricName::Recall => self.recall,
            MetricName::Ndcg => self.ndcg,
            MetricName::Hit => self.hit,
            MetricName::Mrr => self.mrr,
            MetricName::Precision => self.precision,
            MetricName::Novelty => self.novelty,
            MetricName::Map => self.map,
            MetricName::AvgPop => self.avg_pop,
            MetricName::LongTail => self.long_tail,
            // Catalogue-level (Coverage, Gini) or computed from vectors (ILD).
            MetricName::Coverage | MetricName::Gini | MetricName::Ild => return None,
        })
    }
}

/// Catalogue facts the per-user metrics read: -log2 p(i) (novelty), training interaction
/// counts (average popularity) and whether an item is in the long tail.
pub struct ItemStats {
    pub self_info: Vec<f64>,
    pub popularity: Vec<f64>,
    pub long_tail: Vec<bool>,
}

impl ItemStats {
    /// From per-item training user counts and the number of users.
    pub fn new(train_item_users: &[u64], n_users: usize) -> Self {
        ItemStats {
            self_info: self_information(train_item_users, n_users),
            popularity: train_item_users.iter().map(|&c| c as f64).collect(),
            long_tail: long_tail(train_item_users, 0.2),
        }
    }
}

/// Items outside the short head: the `head_share` most popular items of the catalogue (ties
/// broken by id) are the head, the rest the long tail.
pub fn long_tail(counts: &[u64], head_share: f64) -> Vec<bool> {
    let mut order: Vec<usize> = (0..counts.len()).collect();
    order.sort_by(|&a, &b| counts[b].cmp(&counts[a]).then(a.cmp(&b)));
    let head = (counts.len() as f64 * head_share).ceil() as usize;
    let mut tail = vec![true; counts.len()];
    for &i in &order[..head.min(counts.len())] {
        tail[i] = false;
    }
    tail
}

/// Scores one user's ranked list (best first) against their relevant items (sorted).
/// `self_info[i]` is -log2 p(i) for novelty.
pub fn score_user(ranked: &[u32], relevant_sorted: &[u32], k: usize, self_info: &[f64]) -> UserScores {
    let stats = ItemStats { self_info: Vec::new(), popularity: Vec::new(), long_tail: Vec::new() };
    score_user_with(ranked, relevant_sorted, k, self_info, &stats)
}

/// [`score_user`] with the popularity-based metrics from `stats` (its `self_info` is unused:
/// `self_info` is passed on its own so callers without the rest stay cheap).
pub fn score_user_with(ranked: &[u32], relevant_sorted: &[u32], k: usize, self_info: &[f64], stats: &ItemStats) -> UserScores {
    let top = &ranked[..ranked.len().min(k)];
    let mut hits = 0usize;
    let mut dcg = 0.0;
    let mut first_hit = None;
    let mut ap = 0.0;
    for (r, item) in top.iter().enumerate() {
        if relevant_sorted.binary_search(item).is_ok() {
            hits += 1;
            dcg += 1.0 / ((r + 2) as f64).log2();
            first_hit.get_or_insert(r + 1);
            ap += hits as f64 / (r + 1) as f64;
        }
    }
    let mean_of = |f: &dyn Fn(usize) -> f64| if top.is_empty() { 0.0 } else { top.iter().map(|&i| f(i as usize)).sum::<f64>() / top.len() as f64 };
    let avg_pop = mean_of(&|i| stats.popularity.get(i).copied().unwrap_or(0.0));
    let long_tail = mean_of(&|i| stats.long_tail.get(i).map_or(0.0, |&t| t as u8 as f64));
    let n_rel = relevant_sorted.len();
    let idcg: f64 = (0..n_rel.min(k)).map(|r| 1.0 / ((r + 2) as f64).log2()).sum();
    let novelty = if top.is_empty() { 0.0 } else { top.iter().map(|&i| self_info.get(i as usize).copied().unwrap_or(0.0)).sum::<f64>() / top.len() as f64 };
    UserScores {
        recall: if n_rel == 0 { 0.0 } else { hits as f64 / n_rel as f64 },
        ndcg: if idcg == 0.0 { 0.0 } else { dcg / idcg },
        hit: (hits > 0) as u8 as f64,
        mrr: first_hit.map_or(0.0, |r| 1.0 / r as f64),
        precision: hits as f64 / k as f64,
        novelty,
        map: if n_rel == 0 { 0.0 } else { ap / n_rel.min(k) as f64 },
        avg_pop,
        long_tail,
    }
}

/// Gini index of item exposure in the top-`k` lists over a catalogue of `n_items`: items
/// sorted by exposure count c (ascending), G = sum_i (2i - n - 1) c_i / (n sum c), i = 1..n.
pub fn gini(lists: &[Vec<u32>], k: usize, n_items: usize) -> f64 {
    gini_of_counts(top_counts(lists, k, n_items))
}

/// How often each of `n_items` items appears in the top-`k` lists (ids beyond the catalogue
/// are ignored).
fn top_counts(lists: &[Vec<u32>], k: usize, n_items: usize) -> Vec<u64> {
    let mut counts = vec![0u64; n_items];
    for l in lists {
        for &i in l.iter().take(k) {
            if let Some(c) = counts.get_mut(i as usize) {
                *c += 1;
            }
        }
    }
    counts
}

/// [`gini`] from each item's exposure count (so callers can count list by list).
pub fn gini_of_counts(mut counts: Vec<u64>) -> f64 {
    counts.sort_unstable();
    let total: u64 = counts.iter().sum();
    let n = counts.len() as f64;
    if total == 0 || counts.is_empty() {
        return 0.0;
    }
    counts.iter().enumerate().map(|(i, &c)| (2.0 * (i + 1) as f64 - n - 1.0) * c as f64).sum::<f64>() / (n * total as f64)
}

/// Intra-list diversity of one list: the mean of 1 - cos(v_a, v_b) over its item pairs
/// (`items` holds one vector per item); 0 for lists shorter than 2.
pub fn intra_list_diversity(list: &[u32], items: &crate::linalg::Matrix) -> f64 {
    let norms: Vec<f64> = list.iter().map(|&i| items.row(i as usize).iter().map(|&x| x as f64 * x as f64).sum::<f64>().sqrt()).collect();
    let (mut sum, mut pairs) = (0.0, 0usize);
    for a in 0..list.len() {
        for b in (a + 1)..list.len() {
            let dot: f64 = items.row(list[a] as usize).iter().zip(items.row(list[b] as usize)).map(|(&x, &y)| x as f64 * y as f64).sum();
            let denom = norms[a] * norms[b];
            sum += 1.0 - if denom > 0.0 { dot / denom } else { 0.0 };
            pairs += 1;
        }
    }
    if pairs == 0 {
        0.0
    } else {
        sum / pairs as f64
    }
}

/// -log2 p(i) per item, from training user counts.
pub fn self_information(train_item_users: &[u64], n_users: usize) -> Vec<f64> {
    let n = n_users.max(1) as f64;
    train_item_users.iter().map(|&c| -((c.max(1) as f64) / n).log2()).collect()
}

/// Share of the catalogue that appears in anyone's top-`k`.
pub fn coverage(lists: &[Vec<u32>], k: usize, n_items: usize) -> f64 {
    coverage_of_counts(&top_counts(lists, k, n_items))
}

/// [`coverage`] from each item's exposure count.
pub fn coverage_of_counts(counts: &[u64]) -> f64 {
    if counts.is_empty() {
        return 0.0;
    }
    counts.iter().filter(|&&c| c > 0).count() as f64 / counts.len() as f64
}

/// Column name of a metric at a cut-off, e.g. `Recall@10`.
pub fn column(m: MetricName, k: usize) -> String {
    format!("{}@{k}", m.label())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_values() {
        // Relevant {3, 7}; ranking 5, 3, 9, 7, 1.
        let info = vec![1.0; 10];
        let s = score_user(&[5, 3, 9, 7, 1], &[3, 7], 5, &info);
        assert!((s.recall - 1.0).abs() < 1e-12);
        assert!((s.precision - 0.4).abs() < 1e-12);
        assert!((s.hit - 1.0).abs() < 1e-12);
        assert!((s.mrr - 0.5).abs() < 1e-12);
        let dcg = 1.0 / 3f64.log2() + 1.0 / 5f64.log2();
        let idcg = 1.0 + 1.0 / 3f64.log2();
        assert!((s.ndcg - dcg / idcg).abs() < 1e-12);
        // At k = 2 only item 3 is inside.
        let s2 = score_user(&[5, 3, 9, 7, 1], &[3, 7], 2, &info);
        assert!((s2.recall - 0.5).abs() < 1e-12);
        assert!((s2.ndcg - (1.0 / 3f64.log2()) / idcg).abs() < 1e-12);
        // No hit.
        let s3 = score_user(&[1, 2], &[3], 2, &info);
        assert_eq!((s3.recall, s3.ndcg, s3.hit, s3.mrr), (0.0, 0.0, 0.0, 0.0));
        // Perfect single-item ranking gives NDCG 1.
        assert!((score_user(&[3], &[3], 10, &info).ndcg - 1.0).abs() < 1e-12);
    }

    #[test]
    fn beyond_accuracy_metrics_by_hand() {
        // Relevant {3, 7}; ranking 5, 3, 9, 7, 1: hits at ranks 2 and 4.
        // AP = (1/2 + 2/4) / min(2, 5) = 0.5.
        let counts = [10u64, 0, 0, 8, 0, 100, 0, 1, 0, 2];
        let stats = ItemStats::new(&counts, 4);
        let s = score_user_with(&[5, 3, 9, 7, 1], &[3, 7], 5, &stats.self_info, &stats);
        assert!((s.map - 0.5).abs() < 1e-12, "{}", s.map);
        // k = 3: one hit at rank 2, AP = (1/2) / min(2, 3).
        assert!((score_user_with(&[5, 3, 9, 7, 1], &[3, 7], 3, &stats.self_info, &stats).map - 0.25).abs() < 1e-12);
        // Popularity of 5, 3, 9, 7, 1 = 100, 8, 2, 1, 0 -> mean 22.2.
        assert!((s.avg_pop - 22.2).abs() < 1e-9);
        // Head = the 2 most popular of 10 items (5 and 0); 5 is the only head item listed.
        assert_eq!(long_tail(&counts, 0.2).iter().filter(|&&t| !t).count(), 2);
        assert!(!long_tail(&counts, 0.2)[5] && !long_tail(&counts, 0.2)[0]);
        assert!((s.long_tail - 0.8).abs() < 1e-12);
        // Gini: exposure counts over 4 items [3, 1, 0, 0] sorted [0, 0, 1, 3]:
        // ((2-5)*0 + (4-5)*0 + (6-5)*1 + (8-5)*3) / (4 * 4) = 10 / 16.
        let lists = vec![vec![0, 1], vec![0], vec![0]];
        assert!((gini(&lists, 2, 4) - 10.0 / 16.0).abs() < 1e-12);
        // Equal exposure gives 0.
        assert!(gini(&[vec![0, 1], vec![2, 3]], 2, 4).abs() < 1e-12);
        // ILD: orthogonal pair -> 1, identical direction -> 0, opposite -> 2; mean over 3 pairs.
        let m = crate::linalg::Matrix::from_vec(3, 2, vec![1.0, 0.0, 0.0, 2.0, 3.0, 0.0]).unwrap();
        assert!((intra_list_diversity(&[0, 1], &m) - 1.0).abs() < 1e-12);
        assert!(intra_list_diversity(&[0, 2], &m).abs() < 1e-12);
        assert!((intra_list_diversity(&[0, 1, 2], &m) - (1.0 + 0.0 + 1.0) / 3.0).abs() < 1e-12);
        assert_eq!(intra_list_diversity(&[1], &m), 0.0);
    }

    #[test]
    fn coverage_and_novelty() {
        assert!((coverage(&[vec![0, 1], vec![1, 2]], 2, 10) - 0.3).abs() < 1e-12);
        assert!((coverage(&[vec![0, 1], vec![1, 2]], 1, 10) - 0.2).abs() < 1e-12);
        let info = self_information(&[4, 1, 0], 4);
        assert!((info[0] - 0.0).abs() < 1e-12);
        assert!((info[1] - 2.0).abs() < 1e-12);
        assert!((info[2] - 2.0).abs() < 1e-12, "unseen items count once");
        let s = score_user(&[0, 1], &[5], 2, &info);
        assert!((s.novelty - 1.0).abs() < 1e-12);
    }
}
