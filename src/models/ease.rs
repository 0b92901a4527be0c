//! `kind = "ease"`: EASE^R (Steck 2019, "Embarrassingly Shallow Autoencoders for Sparse
//! Data"), a closed-form item-item regression on the 0/1 training matrix `X`:
//!
//! `P = (XᵀX + λI)⁻¹`, `B = I - P·diagMat(1/diag(P))` (so `B[i][j] = -P[i][j] / P[j][j]` and
//! `diag(B) = 0`), and a user's score of item `j` is `x_u · B[:, j]`.
//!
//! The model scores rather than embeds ([`Model::scores_items`]): item `j`'s vector is the
//! column `B[:, j]` and a user's query is the user's training row, so the shared exact
//! search ranks by the EASE score itself (not an approximation). Repeated interactions count
//! once (the paper's binary `X`).
//!
//! The Gram matrix, its Cholesky factor and the inverse are `f64`: `XᵀX + λI` of a catalogue
//! with a few very popular items has entries spanning several orders of magnitude, and an
//! `f32` factorisation of a few thousand rows loses the digits that tell the weights of rare
//! items apart. `B` is stored as `f32` like every other model's vectors (ranking needs no more).
//!
//! `λ` defaults to 500, the paper's value for MovieLens-20M (RecBole's default is 250); the
//! best value moves with the data's size and density, so sweep it.
//!
//! Memory is dense in items: the train stage refuses, before allocating, a catalogue whose
//! matrices do not fit (see [`memory_needed`]). The item count is known only once the data is
//! loaded, so the refusal comes from the train stage rather than at config load.

use super::{item_space, Model, ModelKind, TrainInput, Trained};
use crate::ensure_param;
use crate::index::Metric;
use crate::linalg::Matrix;
use crate::params::{self, ParamError, Validate};
use anyhow::{anyhow, Result};
use faer::linalg::solvers::DenseSolveCore;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EaseParams {
    /// L2 regularisation λ added to the Gram matrix's diagonal.
    pub lambda: f64,
}

impl Default for EaseParams {
    fn default() -> Self {
        EaseParams { lambda: 500.0 }
    }
}

impl Validate for EaseParams {
    fn validate(&self) -> Result<(), ParamError> {
        // λ > 0 keeps XᵀX + λI positive definite even for items nobody trained on.
        ensure_param!(
            self.lambda.is_finite() && self.lambda > 0.0,
            "lambda",
            "must be a positive number (the paper uses 500 on MovieLens-20M), got {}",
            self.lambda
        );
        Ok(())
    }
}

pub struct Ease(pub EaseParams);

/// Bytes EASE needs at its peak for `n_items` items and `n_users` users: two `f64` `n x n`
/// matrices at once (the Gram matrix and its Cholesky factor, then the factor and the
/// inverse), plus the `f32` item columns and user rows handed to retrieval.
pub fn memory_needed(n_users: usize, n_items: usize) -> u64 {
    2 * 8 * (n_items as u64) * (n_items as u64) + item_space::output_bytes(n_users, n_items)
}

/// The item vectors of EASE, row `j` = column `j` of `B`, from the Gram matrix `gram`
/// (`n x n`, λ already on its diagonal; consumed so that at most two `f64` matrices live at
/// once).
pub fn item_columns(gram: Vec<f64>, n: usize) -> Result<Matrix> {
    let llt = {
        let g = faer::MatRef::from_column_major_slice(&gram, n, n);
        g.llt(faer::Side::Lower).map_err(|e| anyhow!("ease: XᵀX + λI is not positive definite ({e:?}); raise `lambda`"))?
    };
    drop(gram);
    let p = llt.inverse();
    drop(llt);
    // Column j of B is -P[:, j] / P[j][j] with a zero diagonal.
    let mut items = Matrix::zeros(n, n);
    items.data.par_chunks_mut(n.max(1)).enumerate().for_each(|(j, row)| {
        let col = p.col(j);
        let d = col[j];
        for (i, x) in row.iter_mut().enumerate() {
            *x = if i == j { 0.0 } else { (-col[i] / d) as f32 };
        }
    });
    Ok(items)
}

impl Model for Ease {
    fn fit(&self, input: &TrainInput) -> Result<Trained> {
        let split = input.split;
        let n = split.n_items;
        item_space::check_memory(
            "EASE",
            n,
            memory_needed(split.n_users, n),
            &format!("two {n} x {n} f64 matrices for the Gram matrix, its factor and inverse, and the f32 item columns and user rows"),
        )?;
        let by_item = item_space::item_users(split);
        let by_user = item_space::user_items(split);
        // G = XᵀX + λI, row i from the items of item i's users; rows are independent.
        let mut gram = vec![0.0f64; n * n];
        gram.par_chunks_mut(n.max(1)).enumerate().for_each(|(i, row)| {
            for &u in &by_item[i] {
                for &j in &by_user[u as usize] {
                    row[j as usize] += 1.0;
                }
            }
            row[i] += self.0.lambda;
        });
        drop((by_item, by_user));
        let items = item_columns(gram, n)?;
        let users = item_space::user_rows(split);
        let mut notes = serde_json::Map::new();
        notes.insert("scores_items".into(), json!(item_space::NOTE));
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
    kind: "ease",
    about: "EASE^R: closed-form item-item regression (Steck 2019); scores items rather than embedding them",
    version: 1,
    parse: |v| {
        let (p, canon) = params::canonical::<EaseParams>(v)?;
        Ok((Box::new(Ease(p)), canon))
    },
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Dataset, Interaction, Split};
    use crate::linalg;

    /// The inverse of a small SPD matrix by Gauss-Jordan elimination with partial pivoting.
    fn gauss_jordan_inverse(a: &[f64], n: usize) -> Vec<f64> {
        let mut m: Vec<Vec<f64>> = (0..n)
            .map(|i| {
                (0..2 * n)
                    .map(|j| {
                        if j < n {
                            a[i * n + j]
                        } else if j - n == i {
                            1.0
                        } else {
                            0.0
                        }
                    })
                    .collect()
            })
            .collect();
        for c in 0..n {
            let p = (c..n).max_by(|&x, &y| m[x][c].abs().total_cmp(&m[y][c].abs())).unwrap();
            m.swap(c, p);
            let d = m[c][c];
            m[c].iter_mut().for_each(|x| *x /= d);
            for r in 0..n {
                if r != c {
                    let f = m[r][c];
                    let pivot = m[c].clone();
                    m[r].iter_mut().zip(&pivot).for_each(|(x, y)| *x -= f * y);
                }
            }
        }
        m.iter().flat_map(|r| r[n..].to_vec()).collect()
    }

    fn small_split() -> Split {
        // 6 users x 5 items, item 4 seen by nobody, a repeated interaction (0, 1).
        let rows: [&[u32]; 6] = [&[0, 1, 1], &[0, 2], &[1, 2, 3], &[0, 1, 2], &[3], &[1, 3]];
        let train =
            rows.iter().enumerate().flat_map(|(u, items)| items.iter().map(move |&i| Interaction { user: u as u32, item: i, rating: 1.0, ts: 0 })).collect();
        Split { n_users: 6, n_items: 5, train, ..Default::default() }
    }

    #[test]
    fn equals_the_closed_form() {
        let split = small_split();
        let lambda = 2.5;
        let t = Ease(EaseParams { lambda }).fit(&TrainInput::new(&Dataset::default(), &split, None, 0)).unwrap();
        // Naive: X dense, G = XᵀX + λI, P = G⁻¹ by Gauss-Jordan, B = I - P diagMat(1/diag P).
        let (nu, n) = (6, 5);
        let x = item_space::user_rows(&split);
        assert_eq!(x.data.iter().sum::<f32>(), 13.0, "the repeat counts once");
        let mut g = vec![0.0f64; n * n];
        for i in 0..n {
            for j in 0..n {
                g[i * n + j] = (0..nu).map(|u| (x.row(u)[i] * x.row(u)[j]) as f64).sum::<f64>() + if i == j { lambda } else { 0.0 };
            }
        }
        let p = gauss_jordan_inverse(&g, n);
        for i in 0..n {
            for j in 0..n {
                let b = if i == j { 0.0 } else { -p[i * n + j] / p[j * n + j] };
                let got = t.items.row(j)[i] as f64;
                assert!((got - b).abs() < 1e-4, "B[{i}][{j}] = {got}, closed form {b}");
            }
        }
        // Scores are x_u · B[:, j] through the item vectors.
        assert_eq!(t.users, x);
        for u in 0..nu {
            for j in 0..n {
                let want: f64 = (0..n).map(|i| x.row(u)[i] as f64 * if i == j { 0.0 } else { -p[i * n + j] / p[j * n + j] }).sum();
                assert!((linalg::dot(t.users.row(u), t.items.row(j)) as f64 - want).abs() < 1e-4);
            }
        }
        assert!(t.items.row(4).iter().all(|&v| v == 0.0), "an untrained item's column is zero");
    }

    #[test]
    fn params_and_registry() {
        let (p, canon) = params::canonical::<EaseParams>(&serde_json::Value::Null).unwrap();
        assert_eq!((p.lambda, canon["lambda"].clone()), (500.0, json!(500.0)));
        for bad in [json!({"lambda": 0.0}), json!({"lambda": -1.0})] {
            assert_eq!((KIND.parse)(&bad).err().unwrap().path, "lambda");
        }
        let e = (KIND.parse)(&json!({"lamda": 3.0})).err().unwrap();
        assert!(e.message.contains("lamda"), "{e}");
        let (m, _) = (KIND.parse)(&json!({})).unwrap();
        assert!(m.scores_items() && !m.learns_embeddings() && !m.uses_seed());
    }

    #[test]
    fn refuses_a_catalogue_that_does_not_fit() {
        assert_eq!(memory_needed(0, 60_000), 2 * 8 * 3_600_000_000 + 4 * 3_600_000_000);
        if crate::memory::available().is_none() {
            return;
        }
        // 10^7 items (a hundred terabytes of Gram matrix): refused before any allocation.
        let split = Split { n_users: 1, n_items: 10_000_000, ..Default::default() };
        let e = Ease(EaseParams::default()).fit(&TrainInput::new(&Dataset::default(), &split, None, 0)).unwrap_err().to_string();
        assert!(e.starts_with("EASE on 10,000,000 items needs ") && e.contains("are available"), "{e}");
    }
}
