//! `kind = "als"`: implicit-feedback matrix factorisation by alternating least squares (Hu,
//! Koren & Volinsky 2008), each half-step solved by a few conjugate-gradient steps (Takács,
//! Pilászy & Tikk 2011) as the `implicit` library's CPU solver does.
//!
//! Objective: `Σ_{u,i} c_ui (p_ui - x_u·y_i)² + λ (Σ‖x_u‖² + Σ‖y_i‖²)` over every user-item
//! pair, `p_ui = 1` for a training pair and 0 otherwise, confidence `c_ui = 1 + alpha · r_ui`
//! with `r_ui` the pair's training interaction count (1 + alpha for a single one) and 1 for
//! unobserved pairs. (`implicit` takes `alpha · r_ui` as the whole confidence; this is the
//! paper's form, so `alpha = 0` weighs observed and unobserved pairs alike.)
//!
//! A user's step solves `(YᵀY + Yᵀ(C_u - I)Y + λI) x_u = Yᵀ C_u p_u`. `YᵀY + λI` is computed once
//! per half-iteration; the rest touches only the user's items, so one CG step costs
//! `O(|items of u| · f + f²)`. Each solve starts from the current `x_u` (warm start), so 3
//! steps per half-iteration suffice in practice, as in `implicit`. Users (then items) are
//! solved in parallel with rayon; each reads only the other side's fixed vectors and writes
//! its own row, so the result does not depend on the thread count.
//!
//! Vectors are `f64` while training (CG's residuals cancel, and the step must agree with a
//! direct solve on small problems) and `f32` once trained. Initialisation as `implicit`:
//! uniform in `[0, 0.01)`, seeded by the run's seed. The per-iteration loss in `epochs` is
//! `implicit`'s `calculate_loss`: the objective above divided by `Σ c_ui` over all pairs.

use super::{item_space, EpochLog, Model, ModelKind, TrainInput, Trained};
use crate::ensure_param;
use crate::index::Metric;
use crate::linalg::Matrix;
use crate::params::{self, ParamError, Validate};
use anyhow::Result;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::time::Instant;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AlsParams {
    pub factors: usize,
    /// λ, on both users' and items' squared norms.
    pub regularization: f64,
    /// Confidence of an observed pair: `1 + alpha · count`.
    pub alpha: f64,
    pub iterations: usize,
    /// Conjugate-gradient steps per user (item) per half-iteration.
    pub cg_steps: usize,
    /// 0 = all cores. The result is the same for any count.
    pub threads: usize,
}

impl Default for AlsParams {
    fn default() -> Self {
        // `implicit`'s defaults (factors 100 there; 64 like the other models here).
        AlsParams { factors: 64, regularization: 0.01, alpha: 1.0, iterations: 15, cg_steps: 3, threads: 0 }
    }
}

impl Validate for AlsParams {
    fn validate(&self) -> Result<(), ParamError> {
        ensure_param!(self.factors >= 1 && self.factors <= 4096, "factors", "must be between 1 and 4096, got {}", self.factors);
        ensure_param!(self.regularization.is_finite() && self.regularization >= 0.0, "regularization", "must be >= 0, got {}", self.regularization);
        ensure_param!(self.alpha.is_finite() && self.alpha >= 0.0, "alpha", "must be >= 0 (confidence 1 + alpha * count), got {}", self.alpha);
        ensure_param!(self.iterations >= 1, "iterations", "must be at least 1, got {}", self.iterations);
        ensure_param!(self.cg_steps >= 1, "cg_steps", "must be at least 1 (implicit uses 3), got {}", self.cg_steps);
        Ok(())
    }
}

pub struct Als(pub AlsParams);

/// One side's rows: for each user (item), its counterparts and their confidences.
pub type Confidences = Vec<Vec<(u32, f64)>>;

/// `YᵀY + reg·I` of the `n x f` row-major matrix `y` (`f x f`, row-major). Row `a` of the
/// result accumulates `y_r[a] · y_r` over the rows `r` in order: a contiguous, vectorisable
/// inner loop, and the same sums in the same order for any thread count.
pub fn gram(y: &[f64], f: usize, reg: f64) -> Vec<f64> {
    let mut g = vec![0.0; f * f];
    g.par_chunks_mut(f.max(1)).enumerate().for_each(|(a, row)| {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked just above).
            unsafe { gram_row_avx2(y, f, a, row) };
            row[a] += reg;
            return;
        }
        gram_row(y, f, a, row);
        row[a] += reg;
    });
    g
}

#[inline(always)]
fn gram_row(y: &[f64], f: usize, a: usize, row: &mut [f64]) {
    for r in y.chunks_exact(f) {
        let ra = r[a];
        row.iter_mut().zip(r).for_each(|(o, &rb)| *o += ra * rb);
    }
}

/// The kernels below compiled for AVX2 (four f64 lanes; the default x86-64 target stops at
/// SSE2's two), chosen at run time when the CPU has it. Only the vector width changes: the same
/// operations in the same order (no FMA contraction), so the results are bit-identical.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn gram_row_avx2(y: &[f64], f: usize, a: usize, row: &mut [f64]) {
    gram_row(y, f, a, row)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn cg_solve_avx2(ytyr: &[f64], y: &[f64], row: &[(u32, f64)], x: &mut [f64], steps: usize) {
    cg_kernel(ytyr, y, row, x, steps)
}

/// The inner product in four interleaved partial sums: independent chains the compiler turns
/// into SIMD lanes (one serial sum is bound by the adder's latency). CG's inner loop.
#[inline(always)]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f64 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    let mut acc = [0.0f64; 4];
    for (x, y) in ca.zip(cb) {
        for k in 0..4 {
            acc[k] += x[k] * y[k];
        }
    }
    (acc[0] + acc[2]) + (acc[1] + acc[3]) + tail
}

#[inline(always)]
fn sym_mul(g: &[f64], v: &[f64], out: &mut [f64]) {
    let f = v.len();
    for (a, o) in out.iter_mut().enumerate() {
        *o = dot(&g[a * f..(a + 1) * f], v);
    }
}

/// A few CG steps on `(YtY + Σ (c - 1) y_i y_iᵀ) x = Σ c y_i` from `x`, in place; `ytyr` is
/// `YᵀY + λI`, `row` the user's (item, confidence) pairs. `implicit`'s `_least_squares_cg`.
pub fn cg_solve(ytyr: &[f64], y: &[f64], row: &[(u32, f64)], x: &mut [f64], steps: usize) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above).
        return unsafe { cg_solve_avx2(ytyr, y, row, x, steps) };
    }
    cg_kernel(ytyr, y, row, x, steps)
}

#[inline(always)]
fn cg_kernel(ytyr: &[f64], y: &[f64], row: &[(u32, f64)], x: &mut [f64], steps: usize) {
    let f = x.len();
    let yi = |i: u32| &y[i as usize * f..(i as usize + 1) * f];
    let mut r = vec![0.0; f];
    sym_mul(ytyr, x, &mut r);
    r.iter_mut().for_each(|v| *v = -*v);
    for &(i, c) in row {
        let v = yi(i);
        let w = c - (c - 1.0) * dot(v, x);
        r.iter_mut().zip(v).for_each(|(a, b)| *a += w * b);
    }
    let mut p = r.clone();
    let mut rs_old = dot(&r, &r);
    if rs_old < 1e-20 {
        return;
    }
    let mut ap = vec![0.0; f];
    for _ in 0..steps {
        sym_mul(ytyr, &p, &mut ap);
        for &(i, c) in row {
            let v = yi(i);
            let w = (c - 1.0) * dot(v, &p);
            ap.iter_mut().zip(v).for_each(|(a, b)| *a += w * b);
        }
        let alpha = rs_old / dot(&p, &ap);
        x.iter_mut().zip(&p).for_each(|(a, b)| *a += alpha * b);
        r.iter_mut().zip(&ap).for_each(|(a, b)| *a -= alpha * b);
        let rs_new = dot(&r, &r);
        if rs_new < 1e-20 {
            break;
        }
        let beta = rs_new / rs_old;
        p.iter_mut().zip(&r).for_each(|(a, b)| *a = b + beta * *a);
        rs_old = rs_new;
    }
}

/// One half-iteration: every row of `x` re-solved against the fixed `y`.
fn half_step(x: &mut [f64], y: &[f64], rows: &Confidences, f: usize, reg: f64, steps: usize) {
    let g = gram(y, f, reg);
    x.par_chunks_mut(f).zip(rows.par_iter()).for_each(|(xu, row)| cg_solve(&g, y, row, xu, steps));
}

/// `implicit`'s `calculate_loss`: the weighted objective over all pairs (unobserved pairs
/// through `YᵀY`), divided by the total confidence.
pub fn loss(x: &[f64], y: &[f64], rows: &Confidences, f: usize, reg: f64, n_cols: usize) -> f64 {
    let yty = gram(y, f, 0.0);
    let (sum, conf, nnz) = x
        .par_chunks(f)
        .zip(rows.par_iter())
        .map(|(xu, row)| {
            let mut t = vec![0.0; f];
            sym_mul(&yty, xu, &mut t);
            let mut l = dot(&t, xu) + reg * dot(xu, xu);
            let mut conf = 0.0;
            for &(i, c) in row {
                let s = dot(xu, &y[i as usize * f..(i as usize + 1) * f]);
                l += c * (1.0 - s) * (1.0 - s) - s * s;
                conf += c;
            }
            (l, conf, row.len() as f64)
        })
        .reduce(|| (0.0, 0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2));
    let item_norms: f64 = y.par_chunks(f).map(|v| dot(v, v)).sum();
    let n_users = rows.len() as f64;
    (sum + reg * item_norms) / (conf + n_users * n_cols as f64 - nnz)
}

/// Users' and items' (counterpart, confidence) rows from the split; repeats add up.
pub fn confidences(split: &crate::data::Split, alpha: f64) -> (Confidences, Confidences) {
    let by_user = item_space::user_items(split);
    let mut count = vec![std::collections::HashMap::<u32, u32>::new(); split.n_users];
    for it in &split.train {
        *count[it.user as usize].entry(it.item).or_default() += 1;
    }
    let users: Confidences = by_user.iter().enumerate().map(|(u, items)| items.iter().map(|&i| (i, 1.0 + alpha * count[u][&i] as f64)).collect()).collect();
    let mut items: Confidences = vec![Vec::new(); split.n_items];
    for (u, row) in users.iter().enumerate() {
        for &(i, c) in row {
            items[i as usize].push((u as u32, c));
        }
    }
    (users, items)
}

fn init(n: usize, f: usize, rng: &mut Xoshiro256PlusPlus) -> Vec<f64> {
    (0..n * f).map(|_| rng.gen::<f64>() * 0.01).collect()
}

impl Model for Als {
    fn fit(&self, input: &TrainInput) -> Result<Trained> {
        let p = &self.0;
        let split = input.split;
        let f = p.factors;
        let (by_user, by_item) = confidences(split, p.alpha);
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(input.seed);
        let mut x = init(split.n_users, f, &mut rng);
        let mut y = init(split.n_items, f, &mut rng);
        let pool = rayon::ThreadPoolBuilder::new().num_threads(p.threads).build()?;
        let bar = crate::pipeline::progress::epochs("als", p.iterations as u64, input.progress);
        let mut epochs = Vec::with_capacity(p.iterations);
        for it in 0..p.iterations {
            let t = Instant::now();
            let l = pool.install(|| {
                half_step(&mut x, &y, &by_user, f, p.regularization, p.cg_steps);
                half_step(&mut y, &x, &by_item, f, p.regularization, p.cg_steps);
                loss(&x, &y, &by_user, f, p.regularization, split.n_items)
            });
            let seconds = t.elapsed().as_secs_f64();
            bar.set_message(format!("loss {l:.5}"));
            bar.inc(1);
            epochs.push(EpochLog { epoch: it + 1, loss: l, seconds, throughput: split.train.len() as f64 / seconds.max(1e-9) });
        }
        bar.finish_and_clear();
        let to_f32 = |v: Vec<f64>, n: usize| Matrix::from_vec(n, f, v.into_iter().map(|a| a as f32).collect());
        let mut notes = serde_json::Map::new();
        notes.insert("threads".into(), json!(pool.current_num_threads()));
        Ok(Trained { items: to_f32(y, split.n_items)?, users: to_f32(x, split.n_users)?, metric: Metric::Ip, epochs, notes, checkpoint: None })
    }
}

pub static KIND: ModelKind = ModelKind {
    kind: "als",
    about: "implicit-feedback ALS (Hu et al. 2008) with conjugate-gradient steps, as the `implicit` library",
    version: 1,
    parse: |v| {
        let (p, canon) = params::canonical::<AlsParams>(v)?;
        Ok((Box::new(Als(p)), canon))
    },
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Dataset, Interaction, Split};
    use faer::linalg::solvers::Solve;

    fn planted(seed: u64) -> Split {
        // 4 clusters of 10 items, 40 users each drawing 8 items of their cluster.
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut train = Vec::new();
        for user in 0..40u32 {
            for ts in 0..8 {
                train.push(Interaction { user, item: (user % 4) * 10 + rng.gen_range(0..10), rating: 1.0, ts });
            }
        }
        Split { n_users: 40, n_items: 40, train, ..Default::default() }
    }

    #[test]
    fn cg_matches_a_direct_solve() {
        let (f, reg) = (6, 0.3);
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        let y: Vec<f64> = (0..12 * f).map(|_| rng.gen::<f64>() - 0.5).collect();
        let row: Vec<(u32, f64)> = vec![(1, 2.0), (4, 5.0), (7, 1.5), (11, 3.0)];
        // A = YᵀY + Σ (c - 1) y_i y_iᵀ + λI, b = Σ c y_i, solved by Cholesky.
        let mut a = faer::Mat::<f64>::from_fn(f, f, |p, q| (0..12).map(|i| y[i * f + p] * y[i * f + q]).sum::<f64>() + if p == q { reg } else { 0.0 });
        let mut b = faer::Mat::<f64>::zeros(f, 1);
        for &(i, c) in &row {
            for p in 0..f {
                b[(p, 0)] += c * y[i as usize * f + p];
                for q in 0..f {
                    a[(p, q)] += (c - 1.0) * y[i as usize * f + p] * y[i as usize * f + q];
                }
            }
        }
        let direct = a.llt(faer::Side::Lower).unwrap().solve(&b);
        let g = gram(&y, f, reg);
        let mut x = vec![0.01; f];
        cg_solve(&g, &y, &row, &mut x, f);
        for p in 0..f {
            assert!((x[p] - direct[(p, 0)]).abs() < 1e-4, "x[{p}] = {} vs {}", x[p], direct[(p, 0)]);
        }
        // Warm-started from the answer, CG stays there.
        let before = x.clone();
        cg_solve(&g, &y, &row, &mut x, 3);
        assert!(x.iter().zip(&before).all(|(a, b)| (a - b).abs() < 1e-6));
    }

    #[test]
    fn loss_falls_every_iteration_and_learns_the_clusters() {
        let split = planted(2);
        let model = Als(AlsParams { factors: 8, iterations: 8, alpha: 10.0, regularization: 0.1, threads: 1, ..Default::default() });
        let input =
            TrainInput { dataset: &Dataset::default(), split: &split, corpus: None, seed: 9, progress: false, sampler: None, resume: None, stop_epoch: None };
        let t = model.fit(&input).unwrap();
        assert_eq!((t.items.rows, t.items.cols, t.users.rows, t.epochs.len()), (40, 8, 40, 8));
        for w in t.epochs.windows(2) {
            assert!(w[1].loss < w[0].loss, "loss rose: {:?}", t.epochs.iter().map(|e| e.loss).collect::<Vec<_>>());
        }
        for u in 0..40 {
            let q = t.users.row(u);
            let best = (0..40).max_by(|&a, &b| crate::linalg::dot(q, t.items.row(a)).total_cmp(&crate::linalg::dot(q, t.items.row(b)))).unwrap();
            assert_eq!(best / 10, u % 4, "user {u}");
        }
        // The thread count does not change the result.
        let more = Als(AlsParams { threads: 3, ..model.0.clone() }).fit(&input).unwrap();
        assert_eq!(more.items, t.items);
        assert_eq!(more.users, t.users);
    }

    #[test]
    fn confidences_count_repeats() {
        let it = |user, item| Interaction { user, item, rating: 1.0, ts: 0 };
        let split = Split { n_users: 2, n_items: 3, train: vec![it(0, 2), it(0, 2), it(1, 0)], ..Default::default() };
        let (u, i) = confidences(&split, 2.0);
        assert_eq!(u, vec![vec![(2, 5.0)], vec![(0, 3.0)]]);
        assert_eq!(i, vec![vec![(1, 3.0)], vec![], vec![(0, 5.0)]]);
    }

    #[test]
    fn params_and_registry() {
        let (p, canon) = params::canonical::<AlsParams>(&serde_json::Value::Null).unwrap();
        assert_eq!(p, AlsParams::default());
        assert_eq!(canon["factors"], json!(64));
        for (bad, key) in [
            (json!({"factors": 0}), "factors"),
            (json!({"alpha": -1.0}), "alpha"),
            (json!({"cg_steps": 0}), "cg_steps"),
            (json!({"iterations": 0}), "iterations"),
            (json!({"regularisation": 1}), "regularisation"),
        ] {
            assert_eq!((KIND.parse)(&bad).err().unwrap().path, key, "{bad}");
        }
        let (m, _) = (KIND.parse)(&json!({})).unwrap();
        assert!(m.learns_embeddings() && !m.scores_items() && m.uses_seed());
    }
}
