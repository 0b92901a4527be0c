//! The training loss of the neural towers.

use super::negatives::NegRows;
use super::params::Loss;
use crate::nn::{Ctx, Scalar, TMat};
use dfdx::prelude::{Axes2, HasShape, PermuteTo, SumTo, TryMatMul};

#[inline]
fn softplus(x: f32) -> f32 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

#[inline]
fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// The batch loss over per-row negatives, as one fused op.
///
/// `v` holds the candidates' vectors (row `r`'s positive in row `r`); `neg` names each row's
/// negative columns; `corr` (empty = none) is subtracted from the softmax logits of each
/// column. With `z = u v^T / T - corr`, row `r`'s loss is `logsumexp(z_rr, z_rj...) - z_rr`
/// (softmax), `softplus(-z_rr) + mean_j softplus(z_rj)` (bce) or `mean_j softplus(z_rj - z_rr)`
/// (bpr), averaged over rows.
///
/// Why fused: dfdx's `log_softmax` over a runtime `B x C` matrix runs its reductions element by
/// element on one thread and took about half of a step at B = 1024, and per-row negative lists
/// have no dfdx op at all. So the loss and its gradient with respect to the logits,
/// `G = dloss/dz`, are computed on the host (rows in parallel), and the loss is re-entered into
/// the graph as the surrogate `sum(u * stop(G v)) / T + sum(v * stop(G^T u)) / T + c`, whose
/// gradients with respect to `u` and `v` are exactly those of the loss and whose value, thanks
/// to the constant `c`, is the loss.
pub fn fused_loss(ctx: &Ctx, loss_kind: Loss, temperature: f32, u: TMat, v: TMat, neg: &NegRows, corr: &[f32]) -> Scalar {
    use dfdx::prelude::NoneTape;
    use rayon::prelude::*;
    let b = neg.rows();
    let c = v.shape().0;
    debug_assert!(c >= b && (corr.is_empty() || corr.len() == c));
    let inv_t = 1.0 / temperature;
    let inv_b = 1.0 / b as f32;
    let uc = u.retaped::<NoneTape>();
    let vc = v.retaped::<NoneTape>();
    let logits = uc.clone().matmul(vc.clone().permute::<_, Axes2<1, 0>>()).as_vec();
    let mut g = vec![0.0f32; b * c];
    let twins = neg.twins();
    let losses: Vec<f64> = g
        .par_chunks_mut(c)
        .zip(logits.par_chunks(c))
        .enumerate()
        .map_init(
            || vec![0.0f32; c],
            |z, (r, (gr, lr))| {
                gr.copy_from_slice(lr);
                row_from_logits(loss_kind, r, gr, z, inv_t, corr, neg, twins[r], inv_b)
            },
        )
        .collect();
    let loss = losses.iter().sum::<f64>() / b as f64;
    let gm = ctx.constant(b, c, g);
    let gv = gm.clone().matmul(vc) * inv_t;
    let gtu = gm.permute::<_, Axes2<1, 0>>().matmul(uc) * inv_t;
    let surrogate = (u * gv).sum::<(), _>() + (v * gtu).sum::<(), _>();
    let k = loss as f32 - surrogate.as_vec()[0];
    surrogate + k
}

/// Row `r`'s loss from its raw logits `u_r . v_j`, which `gr` holds on entry and which are
/// replaced by the row's `dloss/dz` (the batch mean's). `z` is scratch of the row's length.
#[allow(clippy::too_many_arguments)]
#[inline]
pub fn row_from_logits(loss_kind: Loss, r: usize, gr: &mut [f32], z: &mut [f32], inv_t: f32, corr: &[f32], neg: &NegRows, twin: bool, inv_b: f32) -> f64 {
    if loss_kind == Loss::Softmax && neg.in_batch && !twin && neg.start[r] == neg.start[r + 1] {
        return softmax_in_batch_row(gr, inv_t, corr, r, neg.rows(), inv_b);
    }
    logits_row(gr, inv_t, corr, z);
    gr.fill(0.0);
    row_loss(loss_kind, r, z, gr, neg, twin, inv_b)
}

/// The common case of [`row_loss`] (in-batch softmax, no accidental hit, no extra sampled
/// negatives) in three passes over the row in place, compiled for AVX2 when the CPU has it:
/// the general path's scratch row, its zeroing and its four baseline-SSE passes were 15 % of a
/// two-tower step on ml-100k. The arithmetic is the general path's, operation for operation,
/// so both give the same bits (tested).
pub(super) fn softmax_in_batch_row(g: &mut [f32], inv_t: f32, corr: &[f32], r: usize, b: usize, inv_b: f32) -> f64 {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports AVX2 and FMA (checked just above).
        return unsafe { softmax_in_batch_row_avx2(g, inv_t, corr, r, b, inv_b) };
    }
    softmax_in_batch_row_body(g, inv_t, corr, r, b, inv_b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn softmax_in_batch_row_avx2(g: &mut [f32], inv_t: f32, corr: &[f32], r: usize, b: usize, inv_b: f32) -> f64 {
    softmax_in_batch_row_body(g, inv_t, corr, r, b, inv_b)
}

#[inline(always)]
fn softmax_in_batch_row_body(g: &mut [f32], inv_t: f32, corr: &[f32], r: usize, b: usize, inv_b: f32) -> f64 {
    let (head, tail) = g.split_at_mut(b);
    if corr.is_empty() {
        head.iter_mut().for_each(|x| *x *= inv_t);
    } else {
        head.iter_mut().zip(corr).for_each(|(x, k)| *x = *x * inv_t - k);
    }
    // Columns past the batch's rows are other rows' sampled negatives: no gradient here.
    tail.fill(0.0);
    let zp = head[r];
    let mx = lane_max(head);
    // exp and the 8-lane sum of `lane_sum` in one pass.
    let mut lanes = [0.0f32; 8];
    let mut chunks = head.chunks_exact_mut(8);
    for c in &mut chunks {
        for i in 0..8 {
            c[i] = crate::linalg::exp_poly(c[i] - mx);
            lanes[i] += c[i];
        }
    }
    let rest = chunks.into_remainder();
    rest.iter_mut().for_each(|x| *x = crate::linalg::exp_poly(*x - mx));
    let sum = (lanes.iter().sum::<f32>() + rest.iter().sum::<f32>()) as f64;
    let scale = (1.0 / sum) as f32 * inv_b;
    head.iter_mut().for_each(|x| *x *= scale);
    head[r] -= inv_b;
    mx as f64 + sum.ln() - zp as f64
}

/// `z = l / T - corr` for one row of logits `l`.
#[inline]
pub fn logits_row(l: &[f32], inv_t: f32, corr: &[f32], z: &mut [f32]) {
    if corr.is_empty() {
        for (zj, l) in z.iter_mut().zip(l) {
            *zj = l * inv_t;
        }
    } else {
        for ((zj, l), k) in z.iter_mut().zip(l).zip(corr) {
            *zj = l * inv_t - k;
        }
    }
}

/// Row `r`'s loss from its scaled logits `z` (overwritten), adding `dloss/dz` (the batch mean's,
/// hence the `inv_b`) to `gr`. `twin`: another row has the same positive ([`NegRows::twins`]).
#[inline]
pub fn row_loss(loss_kind: Loss, r: usize, z: &mut [f32], gr: &mut [f32], neg: &NegRows, twin: bool, inv_b: f32) -> f64 {
    let zp = z[r];
    match loss_kind {
        Loss::Softmax if neg.in_batch && !twin => {
            // Every other row is a negative (no accidental hit): whole-slice passes the
            // compiler vectorises, instead of one call per negative.
            let b = neg.rows();
            let sampled = &neg.cols[neg.start[r]..neg.start[r + 1]];
            let mut mx = lane_max(&z[..b]);
            for &j in sampled {
                mx = mx.max(z[j as usize]);
            }
            crate::linalg::exp_shifted(z, mx);
            let sum = lane_sum(&z[..b]) as f64 + sampled.iter().map(|&j| z[j as usize] as f64).sum::<f64>();
            let scale = (1.0 / sum) as f32 * inv_b;
            for (g, x) in gr[..b].iter_mut().zip(&z[..b]) {
                *g += x * scale;
            }
            for &j in sampled {
                gr[j as usize] += z[j as usize] * scale;
            }
            gr[r] -= inv_b;
            mx as f64 + sum.ln() - zp as f64
        }
        Loss::Softmax => {
            let mut mx = zp;
            neg.each(r, |j| mx = mx.max(z[j]));
            // One exp per column (a column may be a negative more than once).
            crate::linalg::exp_shifted(z, mx);
            let mut sum = z[r] as f64;
            neg.each(r, |j| sum += z[j] as f64);
            let scale = (1.0 / sum) as f32 * inv_b;
            gr[r] += z[r] * scale - inv_b;
            neg.each(r, |j| gr[j] += z[j] * scale);
            mx as f64 + sum.ln() - zp as f64
        }
        Loss::Bce => {
            let m = neg.count(r);
            let w = if m == 0 { 0.0 } else { 1.0 / m as f32 };
            let mut l = softplus(-zp) as f64;
            gr[r] -= sigmoid(-zp) * inv_b;
            neg.each(r, |j| {
                l += (w * softplus(z[j])) as f64;
                gr[j] += w * sigmoid(z[j]) * inv_b;
            });
            l
        }
        Loss::Bpr => {
            let m = neg.count(r);
            let w = if m == 0 { 0.0 } else { 1.0 / m as f32 };
            let mut l = 0.0f64;
            let mut gp = 0.0f32;
            neg.each(r, |j| {
                let d = z[j] - zp;
                l += (w * softplus(d)) as f64;
                let s = w * sigmoid(d) * inv_b;
                gr[j] += s;
                gp -= s;
            });
            gr[r] += gp;
            l
        }
    }
}

/// The maximum of `x` over 8 lanes.
#[inline]
fn lane_max(x: &[f32]) -> f32 {
    let mut m = [f32::NEG_INFINITY; 8];
    let chunks = x.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for i in 0..8 {
            m[i] = m[i].max(c[i]);
        }
    }
    rest.iter().chain(&m).fold(f32::NEG_INFINITY, |a, &b| a.max(b))
}

/// The sum of `x` over 8 lanes.
#[inline]
fn lane_sum(x: &[f32]) -> f32 {
    let mut m = [0.0f32; 8];
    let chunks = x.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for i in 0..8 {
            m[i] += c[i];
        }
    }
    m.iter().sum::<f32>() + rest.iter().sum::<f32>()
}
