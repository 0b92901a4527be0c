//! Ranking metrics (per user, then averaged), catalogue-level metrics, and latency stats.
//!
//! Definitions follow RecBole: Recall@K = hits / |relevant|; NDCG@K with binary gains and
//! IDCG over min(|relevant|, K) positions; MRR@K = 1 / rank of the first hit; HitRate@K = any
//! hit; Precision@K = hits / K. Coverage@K = distinct recommended items / catalogue size;
//! Novelty@K = mean over recommended items of -log2 p(i), p(i) = training users of i / users
//! (items never seen in training count as seen once, so the value stays finite).

pub mod latency;

use serde::{Deserialize, Serialize};

/// Which per-user ranking metrics to compute.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "lowercase")]
pub enum MetricName {
    Recall,
    Ndcg,
    Hit,
    Mrr,
    Precision,
    Coverage,
    Novelty,
}

impl MetricName {
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
            MetricName::Coverage => return None,
        })
    }
}

/// Scores one user's ranked list (best first) against their relevant items (sorted).
/// `self_info[i]` is -log2 p(i) for novelty.
pub fn score_user(ranked: &[u32], relevant_sorted: &[u32], k: usize, self_info: &[f64]) -> UserScores {
    let top = &ranked[..ranked.len().min(k)];
    let mut hits = 0usize;
    let mut dcg = 0.0;
    let mut first_hit = None;
    for (r, item) in top.iter().enumerate() {
        if relevant_sorted.binary_search(item).is_ok() {
            hits += 1;
            dcg += 1.0 / ((r + 2) as f64).log2();
            first_hit.get_or_insert(r + 1);
        }
    }
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
    }
}

/// -log2 p(i) per item, from training user counts.
pub fn self_information(train_item_users: &[u64], n_users: usize) -> Vec<f64> {
    let n = n_users.max(1) as f64;
    train_item_users.iter().map(|&c| -((c.max(1) as f64) / n).log2()).collect()
}

/// Share of the catalogue that appears in anyone's top-`k`.
pub fn coverage(lists: &[Vec<u32>], k: usize, n_items: usize) -> f64 {
    if n_items == 0 {
        return 0.0;
    }
    let mut seen = vec![false; n_items];
    for l in lists {
        for &i in l.iter().take(k) {
            if let Some(s) = seen.get_mut(i as usize) {
                *s = true;
            }
        }
    }
    seen.iter().filter(|&&s| s).count() as f64 / n_items as f64
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
