//! Dense layers on runtime-shaped tensors.

use super::store::{Init, ParamId, ParamStore};
use super::{Ctx, TMat};
use anyhow::Result;
use dfdx::prelude::*;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// Broadcasts a traced `1 x d` parameter to `n x d`.
fn bcast_row(p: TMat, n: usize) -> TMat {
    let d = p.shape().1;
    p.reshape_like(&(d,)).broadcast_like::<_, Axis<0>>(&(n, d))
}

/// `y = x W + b` with `W: in x out`.
#[derive(Clone, Debug)]
pub struct Linear {
    pub w: ParamId,
    pub b: Option<ParamId>,
    pub inp: usize,
    pub out: usize,
}

impl Linear {
    /// He-uniform weights (suits ReLU; fine for tanh at these depths), zero bias.
    pub fn new(store: &mut ParamStore, name: &str, inp: usize, out: usize, bias: bool) -> Result<Self> {
        let w = store.dense(&format!("{name}.weight"), inp, out, Init::HeUniform)?;
        let b = if bias { Some(store.dense(&format!("{name}.bias"), 1, out, Init::Const(0.0))?) } else { None };
        Ok(Linear { w, b, inp, out })
    }

    pub fn forward(&self, ctx: &mut Ctx, x: TMat) -> TMat {
        let n = x.shape().0;
        let y = x.matmul(ctx.param(self.w));
        match self.b {
            Some(b) => y + bcast_row(ctx.param(b), n),
            None => y,
        }
    }
}

/// Batch normalisation over the rows of an `n x d` input. Train mode normalises with the
/// batch's statistics and moves the running ones (`momentum` toward the batch, unbiased
/// variance, as PyTorch); eval mode uses the running statistics.
#[derive(Clone, Debug)]
pub struct BatchNorm1d {
    pub gamma: ParamId,
    pub beta: ParamId,
    pub running_mean: ParamId,
    pub running_var: ParamId,
    pub dim: usize,
    pub momentum: f32,
    pub eps: f32,
}

impl BatchNorm1d {
    /// Eval mode as `y = x * s + t`, with `s = gamma / sqrt(rv + eps)` and `t = beta - rm * s`.
    pub fn eval_affine(&self, store: &ParamStore) -> (Vec<f32>, Vec<f32>) {
        let s: Vec<f32> = (0..self.dim).map(|j| store.value(self.gamma)[j] / (store.value(self.running_var)[j] + self.eps).sqrt()).collect();
        let t: Vec<f32> = (0..self.dim).map(|j| store.value(self.beta)[j] - store.value(self.running_mean)[j] * s[j]).collect();
        (s, t)
    }

    pub fn new(store: &mut ParamStore, name: &str, dim: usize) -> Result<Self> {
        Ok(BatchNorm1d {
            gamma: store.dense(&format!("{name}.gamma"), 1, dim, Init::Const(1.0))?,
            beta: store.dense(&format!("{name}.beta"), 1, dim, Init::Const(0.0))?,
            running_mean: store.buffer(&format!("{name}.running_mean"), 1, dim, 0.0)?,
            running_var: store.buffer(&format!("{name}.running_var"), 1, dim, 1.0)?,
            dim,
            momentum: 0.1,
            eps: 1e-5,
        })
    }

    pub fn forward(&self, ctx: &mut Ctx, x: TMat) -> TMat {
        let (n, d) = *x.shape();
        if ctx.train && n > 1 {
            let mean = x.with_empty_tape().mean::<(usize,), Axis<0>>();
            let mean_v = mean.as_vec();
            let xc = x - mean.broadcast_like::<_, Axis<0>>(&(n, d));
            let var = xc.with_empty_tape().square().mean::<(usize,), Axis<0>>();
            let var_v = var.as_vec();
            let inv = (var + self.eps).sqrt().recip();
            let xn = xc * inv.broadcast_like::<_, Axis<0>>(&(n, d));
            let y = xn * bcast_row(ctx.param(self.gamma), n) + bcast_row(ctx.param(self.beta), n);
            // Running statistics (from the latest values, which include earlier updates of
            // this pass when the layer runs twice).
            let m = self.momentum;
            let unbias = n as f32 / (n - 1) as f32;
            let latest = |ctx: &Ctx, id: ParamId| -> Vec<f32> {
                ctx.buffer_updates.iter().rev().find(|(i, _)| *i == id).map(|(_, v)| v.clone()).unwrap_or_else(|| ctx.store.value(id).to_vec())
            };
            let rm: Vec<f32> = latest(ctx, self.running_mean).iter().zip(&mean_v).map(|(r, b)| (1.0 - m) * r + m * b).collect();
            let rv: Vec<f32> = latest(ctx, self.running_var).iter().zip(&var_v).map(|(r, b)| (1.0 - m) * r + m * b * unbias).collect();
            ctx.buffer_updates.push((self.running_mean, rm));
            ctx.buffer_updates.push((self.running_var, rv));
            y
        } else {
            let (s, t) = self.eval_affine(ctx.store);
            let s = ctx.dev().tensor_from_vec(s, (d,)).broadcast_like::<_, Axis<0>>(&(n, d));
            let t = ctx.dev().tensor_from_vec(t, (d,)).broadcast_like::<_, Axis<0>>(&(n, d));
            x * s + t
        }
    }
}

/// Element-wise non-linearity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    #[default]
    Relu,
    Tanh,
    Identity,
}

impl Activation {
    pub fn forward(self, x: TMat) -> TMat {
        match self {
            Activation::Relu => x.relu(),
            Activation::Tanh => x.tanh(),
            Activation::Identity => x,
        }
    }
}

/// Inverted dropout: in train mode zeroes each value with probability `p` and scales the rest
/// by `1 / (1 - p)`; identity in eval mode. Masks come from the [`Ctx`]'s seeded generator.
#[derive(Clone, Copy, Debug)]
pub struct Dropout {
    pub p: f32,
}

impl Dropout {
    pub fn forward(&self, ctx: &mut Ctx, x: TMat) -> TMat {
        if !ctx.train || self.p <= 0.0 {
            return x;
        }
        let (n, d) = *x.shape();
        let keep = 1.0 - self.p;
        let scale = if keep > 0.0 { 1.0 / keep } else { 0.0 };
        let rng = ctx.rng();
        let mask: Vec<f32> = (0..n * d).map(|_| if rng.gen::<f32>() < keep { scale } else { 0.0 }).collect();
        x * ctx.constant(n, d, mask)
    }
}

/// Scales each row to unit L2 norm: `x / sqrt(|x|^2 + eps)`.
pub fn l2_normalize(x: TMat, eps: f32) -> TMat {
    let (n, d) = *x.shape();
    let norm = (x.with_empty_tape().square().sum::<(usize,), Axis<1>>() + eps).sqrt();
    x * norm.recip().broadcast_like::<_, Axis<1>>(&(n, d))
}

/// `Linear -> [BatchNorm] -> activation -> [Dropout]` per hidden size, then a final `Linear`
/// to `output` (no activation).
#[derive(Clone, Debug)]
pub struct Mlp {
    pub hidden: Vec<(Linear, Option<BatchNorm1d>)>,
    pub out: Linear,
    pub activation: Activation,
    pub dropout: Dropout,
}

impl Mlp {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: &mut ParamStore,
        name: &str,
        input: usize,
        hidden: &[usize],
        output: usize,
        activation: Activation,
        batch_norm: bool,
        dropout: f32,
    ) -> Result<Self> {
        let mut layers = Vec::new();
        let mut d = input;
        for (i, &h) in hidden.iter().enumerate() {
            // A bias before BatchNorm is redundant (BN's beta replaces it).
            let lin = Linear::new(store, &format!("{name}.{i}.linear"), d, h, !batch_norm)?;
            let bn = if batch_norm { Some(BatchNorm1d::new(store, &format!("{name}.{i}.bn"), h)?) } else { None };
            layers.push((lin, bn));
            d = h;
        }
        let out = Linear::new(store, &format!("{name}.out"), d, output, true)?;
        Ok(Mlp { hidden: layers, out, activation, dropout: Dropout { p: dropout } })
    }

    pub fn forward(&self, ctx: &mut Ctx, mut x: TMat) -> TMat {
        for (lin, bn) in &self.hidden {
            x = lin.forward(ctx, x);
            if let Some(bn) = bn {
                x = bn.forward(ctx, x);
            }
            x = self.activation.forward(x);
            x = self.dropout.forward(ctx, x);
        }
        self.out.forward(ctx, x)
    }
}
