//! Checks of stage outputs that would otherwise make wrong tables silently: why a split held
//! nothing out, and whether a model's vectors are usable (shapes, NaN, collapse).

use crate::data::{Dataset, Split};
use crate::linalg::Matrix;
use crate::models::Trained;
use anyhow::Result;

/// Why a split may have held nothing out: too few interactions per user, or every held-out
/// item repeats one the user trained on (repeats are dropped from test).
pub(super) fn why_no_test(ds: &Dataset) -> String {
    let mut pairs: Vec<(u32, u32)> = ds.interactions.iter().map(|it| (it.user, it.item)).collect();
    pairs.sort_unstable();
    let total = pairs.len();
    pairs.dedup();
    let mut per_user = vec![0usize; ds.n_users()];
    for &(u, _) in &pairs {
        per_user[u as usize] += 1;
    }
    let users_2 = per_user.iter().filter(|&&c| c >= 2).count();
    let repeats = total - pairs.len();
    if users_2 == 0 && repeats > 0 {
        format!("{repeats} of {total} interactions repeat an earlier (user, item) pair, and no user has 2 distinct items; a test item the user already trained on is dropped")
    } else {
        format!("{users_2} of {} users have at least 2 distinct items, which a split needs (one to train, one to test)", ds.n_users())
    }
}

/// Rejects model output that would silently produce wrong tables: wrong shapes, NaN or
/// infinity, and collapsed embeddings (see [`collapse`]).
pub(super) fn check_trained(t: &Trained, split: &Split, learned: bool) -> Result<()> {
    anyhow::ensure!(t.items.rows == split.n_items, "the model returned {} item vectors for {} items", t.items.rows, split.n_items);
    anyhow::ensure!(t.users.rows == split.n_users, "the model returned {} user vectors for {} users", t.users.rows, split.n_users);
    anyhow::ensure!(t.items.cols == t.users.cols, "item vectors have {} dimensions but user vectors {}", t.items.cols, t.users.cols);
    let when = match t.epochs.last() {
        Some(e) => format!("after epoch {} (mean loss {:.4})", e.epoch, e.loss),
        None => "after training".to_string(),
    };
    let advice = "lower `lr` (10x), set `clip_norm`, or train fewer epochs";
    if let Some(r) = t.items.first_non_finite_row() {
        anyhow::bail!("{when}, item vector {r} holds NaN or infinity; {advice}");
    }
    if let Some(r) = t.users.first_non_finite_row() {
        anyhow::bail!("{when}, user vector {r} holds NaN or infinity; {advice}");
    }
    if !learned {
        return Ok(());
    }
    // Only rows the training saw: an item or user without training data may keep its
    // initial (zero) vector legitimately.
    let mut item_seen = vec![false; split.n_items];
    let mut user_seen = vec![false; split.n_users];
    for it in &split.train {
        item_seen[it.item as usize] = true;
        user_seen[it.user as usize] = true;
    }
    for (what, m, seen) in [("item", &t.items, &item_seen), ("user", &t.users, &user_seen)] {
        if let Some(problem) = collapse(m, seen) {
            anyhow::bail!("{when}, the {what} vectors collapsed: {problem}; the table would rank by noise. Try: {advice}");
        }
    }
    Ok(())
}

/// Why a matrix of learned vectors carries no information, if it does not: more than 10% of
/// its rows exactly zero, or more than 90% of them one and the same vector (rows with `seen`
/// false are ignored). Thresholds leave room for legitimately equal rows, e.g. items with the
/// same features in a feature-only tower.
pub fn collapse(m: &Matrix, seen: &[bool]) -> Option<String> {
    let rows: Vec<usize> = (0..m.rows).filter(|&r| seen.get(r).copied().unwrap_or(true)).collect();
    let n = rows.len();
    if n < 2 || m.cols == 0 {
        return None;
    }
    let zero = rows.iter().filter(|&&r| m.row(r).iter().all(|&x| x == 0.0)).count();
    if zero * 10 > n {
        return Some(format!("{zero} of {n} ({:.0}%) are exactly zero", 100.0 * zero as f64 / n as f64));
    }
    // A vector on more than 90% of the rows is the rows' majority, which the Boyer-Moore vote
    // finds in one pass without hashing every row (hashing them took half a second of a
    // 500,000-user training), and a second pass counts.
    let same = |a: usize, b: usize| m.row(a).iter().map(|x| x.to_bits()).eq(m.row(b).iter().map(|x| x.to_bits()));
    let (mut candidate, mut votes) = (rows[0], 0usize);
    for &r in &rows {
        if votes == 0 {
            (candidate, votes) = (r, 1);
        } else if same(r, candidate) {
            votes += 1;
        } else {
            votes -= 1;
        }
    }
    let largest = rows.iter().filter(|&&r| same(r, candidate)).count();
    if largest * 10 > n * 9 {
        return Some(format!("{largest} of {n} ({:.0}%) are one identical vector", 100.0 * largest as f64 / n as f64));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix(rows: &[[f32; 2]]) -> Matrix {
        Matrix::from_vec(rows.len(), 2, rows.iter().flatten().copied().collect()).unwrap()
    }

    #[test]
    fn collapse_flags_zero_and_identical_rows_but_not_healthy_vectors() {
        let all = vec![true; 20];
        let healthy: Vec<[f32; 2]> = (0..20).map(|i| [i as f32, 1.0 - i as f32 * 0.1]).collect();
        assert_eq!(collapse(&matrix(&healthy), &all), None);
        // Two zero rows of 20 (10%) are tolerated, three are not.
        let mut m = healthy.clone();
        m[0] = [0.0, 0.0];
        m[1] = [0.0, 0.0];
        assert_eq!(collapse(&matrix(&m), &all), None);
        m[2] = [0.0, 0.0];
        assert!(collapse(&matrix(&m), &all).unwrap().contains("3 of 20 (15%) are exactly zero"));
        // ...unless those rows had no training data.
        let mut seen = all.clone();
        seen[0] = false;
        seen[1] = false;
        assert_eq!(collapse(&matrix(&m), &seen), None);
        // 18 of 20 equal rows (90%) are tolerated, 19 are not.
        let mut m: Vec<[f32; 2]> = vec![[0.5, 0.5]; 20];
        m[0] = [1.0, 0.0];
        m[1] = [0.0, 1.0];
        assert_eq!(collapse(&matrix(&m), &all), None);
        m[1] = [0.5, 0.5];
        assert!(collapse(&matrix(&m), &all).unwrap().contains("19 of 20 (95%) are one identical vector"));
    }
}
