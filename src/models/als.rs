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
//! its own row, and every sum across rows (Gram matrices, the loss) is added in a fixed order,
//! so the result does not depend on the thread count.
//!
//! Vectors and solves are `f32`, as in `implicit`: half the bytes of `f64` to stream (the
//! item half-step walks every user's vector) and twice the SIMD lanes. The solves stay within
//! 1e-4 of an `f64` direct solve (tested); the Gram matrices and the loss are summed in `f64`,
//! because they add up one term per row (500,000 rows and more) and the loss is a small
//! difference of large sums. Initialisation as `implicit`: uniform in `[0, 0.01)`, seeded by
//! the run's seed. The per-iteration loss in `epochs` is `implicit`'s `calculate_loss`: the
//! objective above divided by `Σ c_ui` over all pairs, assembled from the Gram matrices the
//! iteration needs anyway (see [`loss_from`]), so logging it costs `O(nnz · f)`.

use super::{valid_recall, Checkpoint, EpochLog, Model, ModelKind, TrainInput, Trained};
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

/// One side's rows in compressed form: row `r`'s counterparts are `idx[ptr[r]..ptr[r + 1]]`
/// (ascending) with confidences `conf[..]` alongside. One allocation per array rather than one
/// per row: the half-steps walk it front to back.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rows {
    pub ptr: Vec<usize>,
    pub idx: Vec<u32>,
    pub conf: Vec<f32>,
}

impl Rows {
    pub fn len(&self) -> usize {
        self.ptr.len() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn row(&self, r: usize) -> (&[u32], &[f32]) {
        let s = self.ptr[r]..self.ptr[r + 1];
        (&self.idx[s.clone()], &self.conf[s])
    }
}

/// Users' and items' rows from the split; repeats of a pair add up in its count. Counting
/// sorts (by user, then the transpose by item), so each row comes out ascending without a
/// hash map per user.
pub fn confidences(split: &crate::data::Split, alpha: f64) -> (Rows, Rows) {
    let (nu, ni) = (split.n_users, split.n_items);
    let mut ptr = vec![0usize; nu + 1];
    for it in &split.train {
        ptr[it.user as usize + 1] += 1;
    }
    for u in 0..nu {
        ptr[u + 1] += ptr[u];
    }
    let mut fill = ptr.clone();
    let mut items = vec![0u32; split.train.len()];
    for it in &split.train {
        items[fill[it.user as usize]] = it.item;
        fill[it.user as usize] += 1;
    }
    // Each user's items sorted, repeats merged into (item, count).
    let mut users = Rows { ptr: vec![0; nu + 1], idx: Vec::with_capacity(items.len()), conf: Vec::with_capacity(items.len()) };
    for u in 0..nu {
        let seg = &mut items[ptr[u]..ptr[u + 1]];
        seg.sort_unstable();
        let mut k = 0;
        while k < seg.len() {
            let mut n = 1;
            while k + n < seg.len() && seg[k + n] == seg[k] {
                n += 1;
            }
            users.idx.push(seg[k]);
            users.conf.push((1.0 + alpha * n as f64) as f32);
            k += n;
        }
        users.ptr[u + 1] = users.idx.len();
    }
    // The transpose: walking users in order leaves each item's users ascending.
    let mut iptr = vec![0usize; ni + 1];
    for &i in &users.idx {
        iptr[i as usize + 1] += 1;
    }
    for i in 0..ni {
        iptr[i + 1] += iptr[i];
    }
    let mut fill = iptr.clone();
    let (mut idx, mut conf) = (vec![0u32; users.idx.len()], vec![0f32; users.idx.len()]);
    for u in 0..nu {
        let (is, cs) = users.row(u);
        for (&i, &c) in is.iter().zip(cs) {
            let at = &mut fill[i as usize];
            idx[*at] = u as u32;
            conf[*at] = c;
            *at += 1;
        }
    }
    (users, Rows { ptr: iptr, idx, conf })
}

/// Rows summed into one partial Gram matrix, so that the sums do not depend on the thread
/// count: each block's partial is the same whoever computes it, and the partials are added in
/// block order.
const GRAM_BLOCK: usize = 2048;

/// `YᵀY` (`f x f`, row-major, `f64`) of the `n x f` row-major `f32` matrix `y`, accumulated in
/// `f64`: over 500,000 rows an `f32` sum would lose digits the loss (a small difference of
/// large terms) needs. Each block is one pass over its rows (not one pass per column: the
/// matrix may be far larger than the caches).
pub fn gram(y: &[f32], f: usize) -> Vec<f64> {
    let parts: Vec<Vec<f64>> = y.par_chunks((GRAM_BLOCK * f).max(1)).map(|blk| gram_block_simd(blk, f)).collect();
    let mut g = vec![0.0; f * f];
    for p in &parts {
        g.iter_mut().zip(p).for_each(|(a, b)| *a += b);
    }
    // Only the upper triangle was accumulated: mirror it.
    for a in 0..f {
        for b in 0..a {
            g[a * f + b] = g[b * f + a];
        }
    }
    g
}

/// `a · b + c`, fused when the kernel is built with FMA (one rounding, one instruction).
#[inline(always)]
fn madd<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

#[inline(always)]
fn madd64<const FMA: bool>(a: f64, b: f64, c: f64) -> f64 {
    if FMA {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// The upper triangle of one block's `Σ y_r y_rᵀ`, four rows at a time (the partial's row is
/// loaded and stored once per four rows).
#[inline(always)]
fn gram_block<const FMA: bool>(blk: &[f32], f: usize) -> Vec<f64> {
    let mut g = vec![0.0f64; f * f];
    let mut q = vec![0.0f64; 4 * f];
    for rows in blk.chunks(4 * f) {
        q.iter_mut().zip(rows.iter().chain(std::iter::repeat(&0.0))).for_each(|(o, &v)| *o = v as f64);
        let (q0, rest) = q.split_at(f);
        let (q1, rest) = rest.split_at(f);
        let (q2, q3) = rest.split_at(f);
        for a in 0..f {
            let (s0, s1, s2, s3) = (q0[a], q1[a], q2[a], q3[a]);
            let row = &mut g[a * f + a..(a + 1) * f];
            for (k, o) in row.iter_mut().enumerate() {
                let b = a + k;
                *o = madd64::<FMA>(s3, q3[b], madd64::<FMA>(s2, q2[b], madd64::<FMA>(s1, q1[b], madd64::<FMA>(s0, q0[b], *o))));
            }
        }
    }
    g
}

/// The inner product: with FMA, `linalg`'s AVX2 kernel (two 8-lane accumulators); without,
/// eight interleaved partial sums the compiler turns into SIMD lanes (one serial sum is bound
/// by the adder's latency).
#[inline(always)]
fn dot<const FMA: bool>(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if FMA {
        // SAFETY: `FMA` kernels run only where the CPU has AVX2 and FMA (`dispatch!`).
        return unsafe { crate::linalg::avx2::dot(a, b) };
    }
    crate::linalg::dot(a, b)
}

/// `out += w · v`.
#[inline(always)]
fn axpy<const FMA: bool>(w: f32, v: &[f32], out: &mut [f32]) {
    out.iter_mut().zip(v).for_each(|(o, &b)| *o = madd::<FMA>(w, b, *o));
}

/// Columns of `G v` kept in registers at once by [`sym_mul`].
const PANEL: usize = 32;

/// `out = G v` for symmetric `G`, as `Σ_b v_b · G_b` (row `b` is column `b`): contiguous
/// multiply-adds without a horizontal sum per entry, `PANEL` columns at a time so that the
/// partial sums stay in registers rather than going through memory for every `b`.
#[inline(always)]
fn sym_mul<const FMA: bool>(g: &[f32], v: &[f32], out: &mut [f32]) {
    let f = v.len();
    let mut c = 0;
    while c + PANEL <= f {
        let mut acc = [0.0f32; PANEL];
        for (b, &vb) in v.iter().enumerate() {
            let row = &g[b * f + c..b * f + c + PANEL];
            for k in 0..PANEL {
                acc[k] = madd::<FMA>(vb, row[k], acc[k]);
            }
        }
        out[c..c + PANEL].copy_from_slice(&acc);
        c += PANEL;
    }
    if c < f {
        out[c..].iter_mut().for_each(|o| *o = 0.0);
        for (b, &vb) in v.iter().enumerate() {
            axpy::<FMA>(vb, &g[b * f + c..(b + 1) * f], &mut out[c..]);
        }
    }
}

/// `out += Σ_i w(c_i, y_i·v) · y_i` over the row's counterparts, four at a time: the four
/// inner products are independent (they overlap in the pipeline), and `out` is read and
/// written once per four rows rather than once per row.
#[inline(always)]
fn accumulate<const FMA: bool>(y: &[f32], idx: &[u32], conf: &[f32], v: &[f32], out: &mut [f32], w: impl Fn(f32, f32) -> f32) {
    let f = v.len();
    let yi = |i: u32| &y[i as usize * f..(i as usize + 1) * f];
    let (ci, cc) = (idx.chunks_exact(4), conf.chunks_exact(4));
    for (&i, &c) in ci.remainder().iter().zip(cc.remainder()) {
        let r = yi(i);
        axpy::<FMA>(w(c, dot::<FMA>(r, v)), r, out);
    }
    for (i4, c4) in ci.zip(cc) {
        let (r0, r1, r2, r3) = (yi(i4[0]), yi(i4[1]), yi(i4[2]), yi(i4[3]));
        let (w0, w1, w2, w3) = (w(c4[0], dot::<FMA>(r0, v)), w(c4[1], dot::<FMA>(r1, v)), w(c4[2], dot::<FMA>(r2, v)), w(c4[3], dot::<FMA>(r3, v)));
        for k in 0..f {
            out[k] = madd::<FMA>(w3, r3[k], madd::<FMA>(w2, r2[k], madd::<FMA>(w1, r1[k], madd::<FMA>(w0, r0[k], out[k]))));
        }
    }
}

/// One solve's work vectors, reused from row to row.
struct Scratch {
    r: Vec<f32>,
    p: Vec<f32>,
    ap: Vec<f32>,
}

impl Scratch {
    fn new(f: usize) -> Self {
        Scratch { r: vec![0.0; f], p: vec![0.0; f], ap: vec![0.0; f] }
    }
}

/// A few CG steps on `(YtY + Σ (c - 1) y_i y_iᵀ) x = Σ c y_i` from `x`, in place; `ytyr` is
/// `YᵀY + λI` (`f32`), `(idx, conf)` the row's counterparts and confidences. `implicit`'s
/// `_least_squares_cg`, in `f32` as there.
pub fn cg_solve(ytyr: &[f32], y: &[f32], idx: &[u32], conf: &[f32], x: &mut [f32], steps: usize) {
    let mut s = Scratch::new(x.len());
    solve_row_simd(ytyr, y, idx, conf, x, steps, &mut s, false);
}

#[inline(always)]
fn cg_kernel<const FMA: bool>(ytyr: &[f32], y: &[f32], idx: &[u32], conf: &[f32], x: &mut [f32], steps: usize, s: &mut Scratch) {
    let Scratch { r, p, ap } = s;
    sym_mul::<FMA>(ytyr, x, r);
    r.iter_mut().for_each(|v| *v = -*v);
    accumulate::<FMA>(y, idx, conf, x, r, |c, s| c - (c - 1.0) * s);
    p.copy_from_slice(r);
    let mut rs_old = dot::<FMA>(r, r);
    if rs_old < 1e-20 {
        return;
    }
    for _ in 0..steps {
        sym_mul::<FMA>(ytyr, p, ap);
        accumulate::<FMA>(y, idx, conf, p, ap, |c, s| (c - 1.0) * s);
        let alpha = rs_old / dot::<FMA>(p, ap);
        axpy::<FMA>(alpha, p, x);
        axpy::<FMA>(-alpha, ap, r);
        let rs_new = dot::<FMA>(r, r);
        if rs_new < 1e-20 {
            break;
        }
        let beta = rs_new / rs_old;
        p.iter_mut().zip(r.iter()).for_each(|(a, &b)| *a = madd::<FMA>(beta, *a, b));
        rs_old = rs_new;
    }
}

/// The observed pairs' part of the loss for one solved row: `Σ c (1 - s)² - s²` with
/// `s = x·y_i` (the `s²` takes back what the `YᵀY` term counted for the pair).
#[inline(always)]
fn fit_terms<const FMA: bool>(y: &[f32], idx: &[u32], conf: &[f32], x: &[f32]) -> f64 {
    let f = x.len();
    let mut l = 0.0f64;
    for (&i, &c) in idx.iter().zip(conf) {
        let s = dot::<FMA>(x, &y[i as usize * f..(i as usize + 1) * f]) as f64;
        l += c as f64 * (1.0 - s) * (1.0 - s) - s * s;
    }
    l
}

/// One half-iteration: every row of `x` re-solved against the fixed `y`, `ytyr` = `YᵀY + λI`.
/// With `loss`, also the sum of [`fit_terms`] over the solved rows (per-row terms added in row
/// order, so the sum does not depend on the thread count); 0 otherwise.
fn half_step(x: &mut [f32], y: &[f32], rows: &Rows, ytyr: &[f32], f: usize, steps: usize, loss: bool) -> f64 {
    let terms: Vec<f64> = x
        .par_chunks_mut(f)
        .enumerate()
        .with_min_len(64)
        .map_init(
            || Scratch::new(f),
            |s, (r, xr)| {
                let (idx, conf) = rows.row(r);
                solve_row_simd(ytyr, y, idx, conf, xr, steps, s, loss)
            },
        )
        .collect();
    terms.iter().sum()
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn solve_row<const FMA: bool>(ytyr: &[f32], y: &[f32], idx: &[u32], conf: &[f32], x: &mut [f32], steps: usize, s: &mut Scratch, loss: bool) -> f64 {
    cg_kernel::<FMA>(ytyr, y, idx, conf, x, steps, s);
    if loss {
        fit_terms::<FMA>(y, idx, conf, x)
    } else {
        0.0
    }
}

/// Defines `$name`, which runs `$kernel::<true>` compiled for AVX2 and FMA when the CPU has
/// both (run-time detection: the default x86-64 target stops at SSE2, and `f32::mul_add`
/// without FMA is a library call) and `$kernel::<false>` (plain multiply and add) otherwise.
macro_rules! dispatch {
    ($(#[$m:meta])* fn $name:ident($($a:ident: $t:ty),*) -> $r:ty = $kernel:ident) => {
        $(#[$m])*
        fn $name($($a: $t),*) -> $r {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                unsafe fn fast($($a: $t),*) -> $r {
                    $kernel::<true>($($a),*)
                }
                if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                    // SAFETY: the CPU has AVX2 and FMA (checked just above).
                    return unsafe { fast($($a),*) };
                }
            }
            $kernel::<false>($($a),*)
        }
    };
}

dispatch!(fn gram_block_simd(blk: &[f32], f: usize) -> Vec<f64> = gram_block);
dispatch!(
    #[allow(clippy::too_many_arguments)]
    fn solve_row_simd(ytyr: &[f32], y: &[f32], idx: &[u32], conf: &[f32], x: &mut [f32], steps: usize, s: &mut Scratch, loss: bool) -> f64 = solve_row
);

/// `g + reg·I` in `f32`, the matrix CG multiplies by.
fn regularised(g: &[f64], f: usize, reg: f64) -> Vec<f32> {
    let mut out: Vec<f32> = g.iter().map(|&v| v as f32).collect();
    for a in 0..f {
        out[a * f + a] = (g[a * f + a] + reg) as f32;
    }
    out
}

/// `implicit`'s `calculate_loss`, from parts the iteration computes anyway: with `XᵀX` and
/// `YᵀY`, the unobserved-pair term `Σ_u x_uᵀ YᵀY x_u` is `⟨XᵀX, YᵀY⟩` (O(f²) rather than
/// O(n f²)), the norms are their traces, and `fit` is the observed pairs' [`fit_terms`] summed.
/// Divided by the total confidence `Σ c` over all pairs.
fn loss_from(xtx: &[f64], yty: &[f64], fit: f64, f: usize, reg: f64, total_conf: f64) -> f64 {
    let cross: f64 = xtx.iter().zip(yty).map(|(a, b)| a * b).sum();
    let trace = |g: &[f64]| (0..f).map(|a| g[a * f + a]).sum::<f64>();
    (cross + fit + reg * (trace(xtx) + trace(yty))) / total_conf
}

/// The `loss` of the old per-user form (`Σ_u x_uᵀ YᵀY x_u + ...`), for the tests: the fast
/// form must agree with it.
#[cfg(test)]
fn loss_direct(x: &[f32], y: &[f32], users: &Rows, f: usize, reg: f64, n_cols: usize) -> f64 {
    let yty = gram(y, f);
    let (mut sum, mut conf) = (0.0, 0.0);
    for (u, xu) in x.chunks(f).enumerate() {
        let xu: Vec<f64> = xu.iter().map(|&v| v as f64).collect();
        for a in 0..f {
            for b in 0..f {
                sum += xu[a] * yty[a * f + b] * xu[b];
            }
        }
        sum += reg * xu.iter().map(|v| v * v).sum::<f64>();
        let (idx, cs) = users.row(u);
        for (&i, &c) in idx.iter().zip(cs) {
            let s: f64 = (0..f).map(|k| xu[k] * y[i as usize * f + k] as f64).sum();
            sum += c as f64 * (1.0 - s) * (1.0 - s) - s * s;
            conf += c as f64;
        }
    }
    sum += reg * y.iter().map(|&v| v as f64 * v as f64).sum::<f64>();
    sum / (conf + (users.len() * n_cols) as f64 - users.idx.len() as f64)
}

fn init(n: usize, f: usize, rng: &mut Xoshiro256PlusPlus) -> Vec<f32> {
    (0..n * f).map(|_| rng.gen::<f32>() * 0.01).collect()
}

impl Model for Als {
    fn fit(&self, input: &TrainInput) -> Result<Trained> {
        let p = &self.0;
        let split = input.split;
        let f = p.factors;
        let pool = rayon::ThreadPoolBuilder::new().num_threads(p.threads).build()?;
        let (by_user, by_item) = confidences(split, p.alpha);
        // Σ c over all pairs: the observed pairs' confidences, 1 for each unobserved one.
        let observed: f64 = by_user.conf.iter().map(|&c| c as f64).sum();
        let total_conf = observed + (split.n_users as f64) * (split.n_items as f64) - by_user.idx.len() as f64;
        let (from, to) = input.span(p.iterations)?;
        // Both sides are the state: the users warm-start the next user half-step's CG.
        let (mut x, mut y) = match (input.resumed_table("users", split.n_users, f)?, input.resumed_table("items", split.n_items, f)?) {
            (Some(u), Some(i)) => (u.data, i.data),
            _ => {
                let mut rng = Xoshiro256PlusPlus::seed_from_u64(input.seed);
                let x = init(split.n_users, f, &mut rng);
                (x, init(split.n_items, f, &mut rng))
            }
        };
        let validation = valid_recall::for_logging(split);
        let all_items: Vec<u32> = (0..split.n_items as u32).collect();
        let mut valid_recalls = Vec::new();
        let bar = crate::pipeline::progress::epochs("als", (to - from) as u64, input.progress);
        let mut epochs = Vec::with_capacity(to - from);
        let mut yty = pool.install(|| gram(&y, f));
        for it in from..to {
            let t = Instant::now();
            let l = pool.install(|| {
                half_step(&mut x, &y, &by_user, &regularised(&yty, f, p.regularization), f, p.cg_steps, false);
                let xtx = gram(&x, f);
                // The users stay fixed through the item half-step: each item, once solved,
                // adds its pairs' terms of the loss while their user rows are still in cache.
                let fit = half_step(&mut y, &x, &by_item, &regularised(&xtx, f, p.regularization), f, p.cg_steps, true);
                // The items' Gram matrix serves the loss now and the next user half-step.
                yty = gram(&y, f);
                loss_from(&xtx, &yty, fit, f, p.regularization, total_conf)
            });
            let seconds = t.elapsed().as_secs_f64();
            bar.set_message(format!("loss {l:.5}"));
            bar.inc(1);
            epochs.push(EpochLog { epoch: it + 1, loss: l, seconds, throughput: split.train.len() as f64 / seconds.max(1e-9), ..Default::default() });
            if let Some(v) = &validation {
                let users =
                    Matrix::from_vec(v.users.len(), f, v.users.iter().flat_map(|&u| x[u as usize * f..(u as usize + 1) * f].iter().copied()).collect())?;
                let items = Matrix::from_vec(all_items.len(), f, y.clone())?;
                let r = v.recall(&users, &items, valid_recall::LOG_K)?;
                valid_recalls.push(r);
                epochs.last_mut().expect("pushed above").valid.insert(valid_recall::note_key(), r);
            }
        }
        bar.finish_and_clear();
        let mut notes = serde_json::Map::new();
        notes.insert("threads".into(), json!(pool.current_num_threads()));
        if validation.is_some() {
            notes.insert(valid_recall::note_key(), json!(valid_recalls));
        }
        let (items, users) = (Matrix::from_vec(split.n_items, f, y)?, Matrix::from_vec(split.n_users, f, x)?);
        let checkpoint = (to < p.iterations).then(|| Checkpoint { epoch: to, tables: vec![("users".into(), users.clone()), ("items".into(), items.clone())] });
        Ok(Trained { items, users, metric: Metric::Ip, epochs, notes, checkpoint, weights: None })
    }

    fn epoch_key(&self) -> Option<&'static str> {
        Some("iterations")
    }
}

pub static KIND: ModelKind = ModelKind {
    kind: "als",
    about: "implicit-feedback ALS (Hu et al. 2008) with conjugate-gradient steps, as the `implicit` library",
    // 2: f32 vectors and solves (was f64), f32 initialisation.
    version: 2,
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
        crate::models::planted::split(40, 8, seed)
    }

    #[test]
    fn cg_matches_a_direct_solve() {
        let (f, reg) = (6, 0.3);
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        let y: Vec<f32> = (0..12 * f).map(|_| rng.gen::<f32>() - 0.5).collect();
        let (idx, conf) = (vec![1u32, 4, 7, 11], vec![2.0f32, 5.0, 1.5, 3.0]);
        // A = YᵀY + Σ (c - 1) y_i y_iᵀ + λI, b = Σ c y_i, solved by Cholesky in f64.
        let yd = |i: usize, p: usize| y[i * f + p] as f64;
        let mut a = faer::Mat::<f64>::from_fn(f, f, |p, q| (0..12).map(|i| yd(i, p) * yd(i, q)).sum::<f64>() + if p == q { reg } else { 0.0 });
        let mut b = faer::Mat::<f64>::zeros(f, 1);
        for (&i, &c) in idx.iter().zip(&conf) {
            let (i, c) = (i as usize, c as f64);
            for p in 0..f {
                b[(p, 0)] += c * yd(i, p);
                for q in 0..f {
                    a[(p, q)] += (c - 1.0) * yd(i, p) * yd(i, q);
                }
            }
        }
        let direct = a.llt(faer::Side::Lower).unwrap().solve(&b);
        let g = regularised(&gram(&y, f), f, reg);
        let mut x = vec![0.01f32; f];
        cg_solve(&g, &y, &idx, &conf, &mut x, f);
        for p in 0..f {
            assert!((x[p] as f64 - direct[(p, 0)]).abs() < 1e-4, "x[{p}] = {} vs {}", x[p], direct[(p, 0)]);
        }
        // Warm-started from the answer, CG stays there.
        let before = x.clone();
        cg_solve(&g, &y, &idx, &conf, &mut x, 3);
        assert!(x.iter().zip(&before).all(|(a, b)| (a - b).abs() < 1e-6), "{x:?} vs {before:?}");
    }

    #[test]
    fn gram_matches_the_naive_sum_for_any_block_split() {
        let f = 5;
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
        // More rows than one block, not a multiple of 4.
        let n = GRAM_BLOCK + 7;
        let y: Vec<f32> = (0..n * f).map(|_| rng.gen::<f32>() - 0.5).collect();
        let g = gram(&y, f);
        for a in 0..f {
            for b in 0..f {
                let naive: f64 = (0..n).map(|r| y[r * f + a] as f64 * y[r * f + b] as f64).sum();
                assert!((g[a * f + b] - naive).abs() < 1e-9, "({a}, {b}): {} vs {naive}", g[a * f + b]);
            }
        }
    }

    #[test]
    fn the_loss_from_gram_matrices_is_the_direct_loss() {
        let split = planted(5);
        let (f, reg) = (7, 0.05);
        let (users, items) = confidences(&split, 3.0);
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(8);
        let mut x: Vec<f32> = (0..40 * f).map(|_| rng.gen::<f32>() - 0.5).collect();
        let mut y: Vec<f32> = (0..40 * f).map(|_| rng.gen::<f32>() - 0.5).collect();
        half_step(&mut x, &y, &users, &regularised(&gram(&y, f), f, reg), f, 3, false);
        let xtx = gram(&x, f);
        let fit = half_step(&mut y, &x, &items, &regularised(&xtx, f, reg), f, 3, true);
        let total: f64 = users.conf.iter().map(|&c| c as f64).sum::<f64>() + 40.0 * 40.0 - users.idx.len() as f64;
        let fast = loss_from(&xtx, &gram(&y, f), fit, f, reg, total);
        let direct = loss_direct(&x, &y, &users, f, reg, 40);
        assert!((fast - direct).abs() < 1e-6 * direct.abs(), "{fast} vs {direct}");
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

    /// Stopped after 3 of 7 iterations and resumed from the checkpoint: the same bits as
    /// uninterrupted (on two threads: ALS does not depend on the thread count); with a
    /// validation split each iteration logs its validation recall.
    #[test]
    fn stopped_then_resumed_equals_uninterrupted_and_logs_validation_recall() {
        let mut split = planted(4);
        // Each user's last training item validates.
        let mut valid = Vec::new();
        split.train.retain(|it| {
            let last = it.ts == 7;
            if last {
                valid.push(*it);
            }
            !last
        });
        split.valid = valid;
        let model = Als(AlsParams { factors: 6, iterations: 7, threads: 2, ..Default::default() });
        let ds = Dataset::default();
        let whole = model.fit(&TrainInput::new(&ds, &split, None, 5)).unwrap();
        let first = model.fit(&TrainInput { stop_epoch: Some(3), ..TrainInput::new(&ds, &split, None, 5) }).unwrap();
        let c = first.checkpoint.expect("stopped early");
        assert_eq!(c.epoch, 3);
        let rest = model.fit(&TrainInput { resume: Some(&c), ..TrainInput::new(&ds, &split, None, 5) }).unwrap();
        assert_eq!((rest.items == whole.items, rest.users == whole.users), (true, true));
        assert_eq!(rest.epochs.iter().map(|e| e.epoch).collect::<Vec<_>>(), vec![4, 5, 6, 7]);
        assert_eq!(rest.epochs[3].loss, whole.epochs[6].loss);
        let recalls = whole.notes["valid_recall@10"].as_array().unwrap();
        assert_eq!(recalls.len(), 7);
        assert!(recalls.iter().all(|r| (0.0..=1.0).contains(&r.as_f64().unwrap())));
        assert!(recalls[6].as_f64().unwrap() > 0.25 + 0.1, "better than chance (10 of 40 items) after training: {recalls:?}");
        // Each epoch's log carries its validation recall, for the training figure.
        for (e, r) in whole.epochs.iter().zip(recalls) {
            assert_eq!(e.valid.get("valid_recall@10").copied(), r.as_f64());
        }
        let logged = serde_json::to_value(&whole.epochs[0]).unwrap();
        assert!(logged["valid_recall@10"].is_number(), "a key of the epoch's record: {logged}");
    }

    #[test]
    fn confidences_count_repeats() {
        let it = |user, item| Interaction { user, item, rating: 1.0, ts: 0 };
        let split = Split { n_users: 2, n_items: 3, train: vec![it(0, 2), it(0, 2), it(1, 0)], ..Default::default() };
        let (u, i) = confidences(&split, 2.0);
        assert_eq!(u, Rows { ptr: vec![0, 1, 2], idx: vec![2, 0], conf: vec![5.0, 3.0] });
        assert_eq!(i, Rows { ptr: vec![0, 1, 1, 2], idx: vec![1, 0], conf: vec![3.0, 5.0] });
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
