//! Validation Recall@K during training: the towers' early stopping, and the per-epoch
//! validation score that iterative models (ALS, BPR) log beside their loss, computed the same
//! way as the eval stage ranks (exact inner-product search, training items excluded,
//! [`crate::metrics::score_user`]).

use crate::data::Split;
use crate::index::flat::FlatIndex;
use crate::index::{AnnIndex, Metric};
use crate::linalg::Matrix;
use crate::metrics;
use anyhow::Result;

/// Validation users (those of `users` with a validation item), their training items to
/// exclude and their validation items, gathered once per fit.
pub struct Validation {
    pub users: Vec<u32>,
    excludes: Vec<Vec<u32>>,
    wants: Vec<Vec<u32>>,
}

impl Validation {
    pub fn new(split: &Split, users: &[u32]) -> Self {
        let sorted = |mut v: Vec<u32>| {
            v.sort_unstable();
            v.dedup();
            v
        };
        let seen = split.by_user(&split.train);
        let want = split.by_user(&split.valid);
        let users: Vec<u32> = users.iter().copied().filter(|&u| !want[u as usize].is_empty()).collect();
        let excludes = users.iter().map(|&u| sorted(seen[u as usize].clone())).collect();
        let wants = users.iter().map(|&u| sorted(want[u as usize].clone())).collect();
        Validation { users, excludes, wants }
    }

    /// Mean Recall@k of `queries` (row `r` is user `self.users[r]`) by exact search over
    /// `items`, each user's training items excluded, scored by [`metrics::score_user`].
    pub fn recall(&self, queries: &Matrix, items: &Matrix, k: usize) -> Result<f64> {
        if self.users.is_empty() {
            return Ok(0.0);
        }
        let index = FlatIndex::build(items, Metric::Ip)?;
        let ex: Vec<&[u32]> = self.excludes.iter().map(Vec::as_slice).collect();
        let hits = index.search_batch(queries, k, &ex)?;
        let total: f64 = hits
            .iter()
            .zip(&self.wants)
            .map(|(h, want)| {
                let ranked: Vec<u32> = h.iter().map(|x| x.id).collect();
                metrics::score_user(&ranked, want, k, &[]).recall
            })
            .sum();
        Ok(total / self.users.len() as f64)
    }
}

/// The cut-off of the validation recall iterative models log per epoch.
pub const LOG_K: usize = 10;

/// Validation users the iterative models score after each epoch: at most this many, evenly
/// spaced over the users with a validation item, so logging costs little on a large table.
pub const LOG_USERS: usize = 1000;

/// The validation set an iterative model logs `valid_recall@10` on after each epoch, or
/// `None` when the split holds no validation interactions.
pub fn for_logging(split: &Split) -> Option<Validation> {
    let mut users: Vec<u32> = split.valid.iter().map(|i| i.user).collect();
    users.sort_unstable();
    users.dedup();
    if users.is_empty() {
        return None;
    }
    let step = users.len().div_ceil(LOG_USERS);
    let picked: Vec<u32> = users.into_iter().step_by(step).collect();
    Some(Validation::new(split, &picked))
}

/// The note key of the per-epoch validation recall (the towers' too).
pub fn note_key() -> String {
    format!("valid_recall@{LOG_K}")
}
