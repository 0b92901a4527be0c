//! Planted clusters for the models' unit tests: 4 clusters of 10 items, each user drawing
//! only from the cluster `user % 4`, and how often a trained model's top unseen item lies in
//! the user's own cluster.

use super::Trained;
use crate::data::{Interaction, Split};
use crate::linalg;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// `users` users with `per_user` training interactions each (items drawn with `seed`).
pub fn split(users: u32, per_user: i64, seed: u64) -> Split {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut train = Vec::new();
    for user in 0..users {
        for ts in 0..per_user {
            train.push(Interaction { user, item: (user % 4) * 10 + rng.gen_range(0..10), rating: 1.0, ts });
        }
    }
    Split { n_users: users as usize, n_items: 40, train, ..Default::default() }
}

/// The share of users whose top unseen item (by inner product) lies in their own cluster.
pub fn cluster_hits(t: &Trained, split: &Split) -> f64 {
    let seen = super::item_space::user_items(split);
    let hits = (0..split.n_users)
        .filter(|&u| {
            let q = t.users.row(u);
            let best = (0..40u32)
                .filter(|i| seen[u].binary_search(i).is_err())
                .max_by(|&a, &b| linalg::dot(q, t.items.row(a as usize)).total_cmp(&linalg::dot(q, t.items.row(b as usize))))
                .unwrap();
            best / 10 == (u % 4) as u32
        })
        .count();
    hits as f64 / split.n_users as f64
}
