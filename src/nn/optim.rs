//! Optimiser settings ([`OptimConfig`]: the dense optimiser and how embedding rows follow
//! it) and the per-slice update arithmetic that dense parameters and embedding rows share.
//! The base of the optimiser side of `nn`: it imports nothing else from it.

use serde::{Deserialize, Serialize};

/// Which optimiser: `adam` (L2 weight decay added to the gradient, like dfdx's
/// `WeightDecay::L2`), `adamw` (decoupled decay) or `sgd` (with optional momentum).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    #[default]
    Adam,
    Adamw,
    Sgd,
}

/// How embedding tables are updated (a model's `sparse_update` key: "lazy", "adagrad",
/// "catch_up").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SparseOptimizer {
    /// Follow the dense optimiser: lazy Adam/AdamW (moments and step count per row, updated
    /// only when the row is touched), or plain SGD.
    #[default]
    #[serde(rename = "lazy")]
    Same,
    /// Adagrad with a per-row accumulator.
    Adagrad,
    /// Like `Same`, but a touched row first catches up on the steps it missed, as dense Adam
    /// (or SGD with momentum) would have moved it on its momentum alone, and Adam's bias
    /// correction counts every step: the update PyTorch's dense `Adam` makes, at the cost of
    /// the touched rows only. The missed steps are summed per row (one factor for the row,
    /// with each step's bias correction), without weight decay.
    CatchUp,
}

/// Optimiser settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OptimConfig {
    pub kind: OptimizerKind,
    pub lr: f32,
    pub weight_decay: f32,
    pub betas: [f32; 2],
    pub eps: f32,
    /// SGD momentum (0 = none).
    pub momentum: f32,
    /// Clip the global gradient norm (dense and sparse together) to this value; 0 = off.
    pub clip_norm: f32,
    pub sparse: SparseOptimizer,
    /// Learning-rate multiplier for embedding tables.
    pub sparse_lr_scale: f32,
}

impl SparseOptimizer {
    pub fn is_lazy(&self) -> bool {
        *self == SparseOptimizer::Same
    }
}

impl Default for OptimConfig {
    fn default() -> Self {
        OptimConfig {
            kind: OptimizerKind::Adam,
            lr: 1e-3,
            weight_decay: 0.0,
            betas: [0.9, 0.999],
            eps: 1e-8,
            momentum: 0.0,
            clip_norm: 0.0,
            sparse: SparseOptimizer::Same,
            sparse_lr_scale: 1.0,
        }
    }
}

/// Adam / AdamW / SGD on one slice, the formulas of dfdx's CPU kernels. `t` is the 1-based step
/// of this slice (global for dense parameters, per row for lazy sparse updates).
#[allow(clippy::too_many_arguments)]
#[inline]
pub fn update_row(cfg: &OptimConfig, lr: f32, t: u32, p: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports AVX2 and FMA (checked just above).
        return unsafe { update_row_avx2(cfg, lr, t, p, m, v, g) };
    }
    update_row_body(cfg, lr, t, p, m, v, g)
}

/// The same arithmetic in 8 lanes (no FMA contraction: Rust does not fuse `a * b + c`), so
/// results do not depend on the CPU.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn update_row_avx2(cfg: &OptimConfig, lr: f32, t: u32, p: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32]) {
    update_row_body(cfg, lr, t, p, m, v, g)
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn update_row_body(cfg: &OptimConfig, lr: f32, t: u32, p: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32]) {
    match cfg.kind {
        OptimizerKind::Adam | OptimizerKind::Adamw => {
            let [b1, b2] = cfg.betas;
            let bc1 = 1.0 - b1.powi(t as i32);
            let bc2 = 1.0 - b2.powi(t as i32);
            let l2 = if cfg.kind == OptimizerKind::Adam { cfg.weight_decay } else { 0.0 };
            let decoupled = if cfg.kind == OptimizerKind::Adamw { cfg.weight_decay } else { 0.0 };
            // (Zipped slices: no bounds checks, so the loop vectorises.)
            for (((p, m), v), g) in p.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(g) {
                let gi = g + l2 * *p;
                *m = *m * b1 + gi * (1.0 - b1);
                *v = *v * b2 + gi * gi * (1.0 - b2);
                let mh = *m / bc1;
                let vh = *v / bc2;
                *p -= lr * (mh / (vh.sqrt() + cfg.eps) + decoupled * *p);
            }
        }
        OptimizerKind::Sgd => {
            for i in 0..p.len() {
                let gi = g[i] + cfg.weight_decay * p[i];
                if cfg.momentum > 0.0 {
                    m[i] = m[i] * cfg.momentum + gi;
                    p[i] -= lr * m[i];
                } else {
                    p[i] -= lr * gi;
                }
            }
        }
    }
}
