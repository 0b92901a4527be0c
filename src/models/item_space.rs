//! What the models that score items rather than embed them ([`super::Model::scores_items`]:
//! EASE, item kNN) share: the users' 0/1 training rows as query vectors, the columns of an
//! item-item matrix as item vectors, and a memory check before anything `n_items`-squared is
//! allocated.

use crate::data::Split;
use crate::linalg::Matrix;
use anyhow::{bail, Result};

/// Why a scoring model's row has no embedding-geometry columns, for the report.
pub const NOTE: &str = "scores items rather than embedding them (item vectors are columns of an item-item matrix, queries are training rows): similarity, map and ILD columns would measure that matrix, not an embedding, and are left empty";

/// The error of an `[index]` other than `flat` on a scoring model.
pub fn index_refusal(model_kind: &str) -> String {
    format!("{model_kind} scores items rather than embedding them: only exact top-K (index kind flat) applies; its vectors are rows of an item-item matrix, {model_kind}'s score exactly, which an approximate index would only blur")
}

/// Each user's training items as a dense 0/1 row (`n_users x n_items`): the query whose inner
/// product with an item's column of the model's item-item matrix is the user's score.
pub fn user_rows(split: &Split) -> Matrix {
    let mut m = Matrix::zeros(split.n_users, split.n_items);
    for it in &split.train {
        m.row_mut(it.user as usize)[it.item as usize] = 1.0;
    }
    m
}

/// Each item's training users, ascending and de-duplicated.
pub fn item_users(split: &Split) -> Vec<Vec<u32>> {
    let mut by_item = vec![Vec::new(); split.n_items];
    for it in &split.train {
        by_item[it.item as usize].push(it.user);
    }
    for l in &mut by_item {
        l.sort_unstable();
        l.dedup();
    }
    by_item
}

/// Each user's training items, ascending and de-duplicated.
pub fn user_items(split: &Split) -> Vec<Vec<u32>> {
    let mut by_user = vec![Vec::new(); split.n_users];
    for it in &split.train {
        by_user[it.user as usize].push(it.item);
    }
    for l in &mut by_user {
        l.sort_unstable();
        l.dedup();
    }
    by_user
}

/// Bytes of the two `f32` matrices every scoring model hands to retrieval: `n_items x
/// n_items` item columns and `n_users x n_items` query rows.
pub fn output_bytes(n_users: usize, n_items: usize) -> u64 {
    4 * (n_items as u64) * (n_items as u64 + n_users as u64)
}

/// Refuses, before allocating, a model that needs `needed` bytes when less is available, with
/// the figures: "EASE on 60,000 items needs 86.4 GB; 22.0 GB are available (...)".
pub fn check_memory(model: &str, n_items: usize, needed: u64, what: &str) -> Result<()> {
    if let Some(avail) = crate::memory::available() {
        if needed > avail {
            bail!(
                "{model} on {} items needs {}; {} are available ({what}); filter the catalogue (item_core, k_core) or use a model that embeds (als, bpr)",
                crate::term::thousands(n_items as u128),
                crate::memory::human(needed),
                crate::memory::human(avail)
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Interaction;

    #[test]
    fn rows_and_figures() {
        let it = |user, item| Interaction { user, item, rating: 1.0, ts: 0 };
        let split = Split { n_users: 2, n_items: 3, train: vec![it(0, 2), it(0, 0), it(1, 1), it(0, 2)], ..Default::default() };
        assert_eq!(user_rows(&split).data, vec![1.0, 0.0, 1.0, 0.0, 1.0, 0.0]);
        assert_eq!(item_users(&split), vec![vec![0], vec![1], vec![0]]);
        assert_eq!(user_items(&split), vec![vec![0, 2], vec![1]]);
        assert_eq!(output_bytes(2, 3), 4 * 3 * 5);
        assert_eq!(
            (crate::term::thousands(60000), crate::term::thousands(999), crate::term::thousands(1234567)),
            ("60,000".into(), "999".into(), "1,234,567".into())
        );
        if crate::memory::available().is_some() {
            let e = check_memory("EASE", 60000, u64::MAX / 2, "f64 Gram matrix").unwrap_err().to_string();
            assert!(e.starts_with("EASE on 60,000 items needs ") && e.contains(" are available (f64 Gram matrix)"), "{e}");
            assert!(check_memory("EASE", 10, 1024, "").is_ok());
        }
    }
}
