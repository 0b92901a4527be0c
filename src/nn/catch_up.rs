//! [`SparseOptimizer::CatchUp`]: an embedding row that missed steps first makes the moves
//! dense Adam (or SGD with momentum) made on it with zero gradients, so sparse updates follow
//! PyTorch's dense `Adam` while touching the batch's rows only.
//!
//! For Adam, skipped step `last + j` moves the row by `lr m_j / bc1 / (sqrt(v_j / bc2) + eps)`
//! with `m_j = b1^j m`, `v_j = b2^j v` and the bias corrections of step `last + j`. With `eps`
//! small against `sqrt(v_j)` that is `lr (m / sqrt(v)) rho^j c(last + j)` with
//! `rho = b1 / sqrt(b2)` and `c(t) = sqrt(1 - b2^t) / (1 - b1^t)`: one factor for the whole
//! row. `k` skipped steps sum to `T(last) - rho^k T(last + k)` with
//! `T(x) = sum_{j >= 1} rho^j c(x + j)`, which depends on the step only; [`Replay`] keeps `T`
//! per step, computed once each (the terms fall below 1e-12 after about 260 steps with the
//! default betas), so a row's catch-up costs O(dim) however long it waited.

use super::optim::{OptimConfig, OptimizerKind, SparseOptimizer};

/// `T(x)` for `x = 0..len`, for the betas it was computed with.
#[derive(Clone, Debug, Default)]
pub struct Replay {
    betas: [f32; 2],
    tails: Vec<f64>,
}

impl Replay {
    /// Makes `T(x)` available for every `x <= step`.
    pub fn extend(&mut self, cfg: &OptimConfig, step: u32) {
        if cfg.sparse != SparseOptimizer::CatchUp || !matches!(cfg.kind, OptimizerKind::Adam | OptimizerKind::Adamw) {
            return;
        }
        if self.betas != cfg.betas {
            self.betas = cfg.betas;
            self.tails.clear();
        }
        let [b1, b2] = cfg.betas.map(|b| b as f64);
        let rho = b1 / b2.sqrt();
        let horizon = if rho < 1.0 { ((1e-12f64).ln() / rho.ln()).ceil() as usize } else { 1_000_000 };
        while self.tails.len() <= step as usize {
            let x = self.tails.len() as i32;
            let (mut p1, mut p2) = (b1.powi(x + 1), b2.powi(x + 1));
            let (mut sum, mut r) = (0.0f64, rho);
            for _ in 0..horizon {
                sum += r * (1.0 - p2).sqrt() / (1.0 - p1);
                r *= rho;
                p1 *= b1;
                p2 *= b2;
            }
            self.tails.push(sum);
        }
    }

    /// The `missed` steps after step `last` (covered by [`Replay::extend`]) on one row.
    pub fn apply(&self, cfg: &OptimConfig, lr: f32, last: u32, missed: u32, p: &mut [f32], m: &mut [f32], v: &mut [f32]) {
        let k = missed.min(i32::MAX as u32) as i32;
        match cfg.kind {
            OptimizerKind::Adam | OptimizerKind::Adamw => {
                let [b1, b2] = cfg.betas.map(|b| b as f64);
                let rho = b1 / b2.sqrt();
                let t = |x: u32| self.tails[x as usize];
                let scale = (t(last) - rho.powi(k) * t(last + missed)) as f32;
                let (d1, d2) = (b1.powi(k) as f32, b2.powi(k) as f32);
                for ((p, m), v) in p.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()) {
                    *p -= lr * scale * *m / (v.sqrt() + cfg.eps);
                    *m *= d1;
                    *v *= d2;
                }
            }
            OptimizerKind::Sgd if cfg.momentum > 0.0 => {
                let mu = cfg.momentum as f64;
                let scale = if mu >= 1.0 { k as f64 } else { mu * (1.0 - mu.powi(k)) / (1.0 - mu) } as f32;
                let d = mu.powi(k) as f32;
                for (p, m) in p.iter_mut().zip(m.iter_mut()) {
                    *p -= lr * scale * *m;
                    *m *= d;
                }
            }
            OptimizerKind::Sgd => {}
        }
    }
}
