//! One training step's arithmetic, from the towers' input rows to the loss and the gradients
//! of every parameter and input row. Two paths compute the same thing:
//!
//! * [`host_step`], the CPU fast path: the batch's user and item rows are cut into blocks of
//!   [`BLOCK`] rows; every block's tower forward, its rows of the loss and every block's
//!   backward run in parallel (rayon) on host slices ([`crate::nn::host`]). Block sizes do not
//!   depend on the thread count and the blocks' weight gradients are summed in block order,
//!   so results are bit-identical for any number of threads.
//! * [`graph_step`], dfdx's tape over the whole batch ([`super::loss::fused_loss`]): for
//!   BatchNorm (statistics over the whole batch) and CUDA builds.

use super::loss::{fused_loss, row_from_logits};
use super::negatives::Candidates;
use super::params::Loss;
use super::tower::Tower;
use crate::nn::host::{matmul, BlockGrads, Trace};
use crate::nn::{Ctx, Grads, InputBuilder, ParamId, ParamStore};
use anyhow::Result;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;

/// Rows per block of the fast path: 256 rather than 128 packs the same weights fewer times
/// into larger products (faster on ml-100k, see experiments/two_tower_vs_pytorch) and still
/// gives each of 2 cores a block of a 512-row batch.
pub const BLOCK: usize = 256;

/// What a step computed.
pub struct StepOut {
    /// The batch's mean loss.
    pub loss: f32,
    /// Gradients of the dense parameters (embedding tables come from the leaves).
    pub grads: Grads,
    /// Gradients of the user and item tower inputs (row-major, as built).
    pub user_input: Vec<f32>,
    pub item_input: Vec<f32>,
    /// BatchNorm running statistics to write back.
    pub buffer_updates: Vec<(ParamId, Vec<f32>)>,
}

/// Whether the fast path computes these towers.
pub fn host_ready(user: &Tower, item: &Tower) -> bool {
    cfg!(not(feature = "cuda")) && user.mlp.host_ready() && item.mlp.host_ready()
}

thread_local! {
    /// A block's logits / `dloss/dz` (`rows x c`, 512 KiB at ml-100k's batch) and a row of
    /// scratch, kept per worker thread: allocating them zeroed for every block showed up as
    /// memset and page faults in profiles.
    static LOGITS: std::cell::RefCell<(Vec<f32>, Vec<f32>)> = const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
}

fn blocks(n: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..n.div_ceil(BLOCK)).map(move |i| (i * BLOCK, ((i + 1) * BLOCK).min(n)))
}

/// What a step computes on: the parameters, the towers, their inputs and the candidates.
#[derive(Clone, Copy)]
pub struct StepInput<'s, 'a> {
    pub store: &'s ParamStore,
    pub user: &'s Tower<'a>,
    pub item: &'s Tower<'a>,
    pub ub: &'s InputBuilder,
    pub ib: &'s InputBuilder,
    pub cand: &'s Candidates,
    pub loss: Loss,
    pub temperature: f32,
    /// Drives the dropout masks (per tower and block on the fast path).
    pub seed: u64,
}

/// The fast path.
pub fn host_step(x: &StepInput) -> StepOut {
    let StepInput { store, user, item, ub, ib, cand, loss: loss_kind, temperature, seed } = *x;
    let (b, c) = (ub.rows, ib.rows);
    let towers = [user, item];
    let inputs = [ub.build(store), ib.build(store)];
    let widths = [ub.cols(), ib.cols()];
    // (tower, first row, end row) of every block: the user blocks, then the item blocks.
    let tasks: Vec<(usize, usize, usize)> = blocks(b).map(|(s, e)| (0, s, e)).chain(blocks(c).map(|(s, e)| (1, s, e))).collect();
    let traces: Vec<Trace> = tasks
        .par_iter()
        .map(|&(t, s, e)| {
            let w = widths[t];
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ ((t as u64) << 62) ^ (s as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            towers[t].mlp.host_forward(store, inputs[t][s * w..e * w].to_vec(), e - s, true, towers[t].normalize, &mut rng)
        })
        .collect();
    let d = user.mlp.out.out;
    let mut u = Vec::with_capacity(b * d);
    let mut v = Vec::with_capacity(c * d);
    for (&(t, _, _), tr) in tasks.iter().zip(&traces) {
        if t == 0 { &mut u } else { &mut v }.extend_from_slice(&tr.y);
    }

    // The loss over blocks of user rows: each block's logits, its rows' loss and dloss/dz, its
    // rows of dU = G V / T and its share of dV = G^T U / T.
    let (inv_t, inv_b) = (1.0 / temperature, 1.0 / b as f32);
    let user_blocks: Vec<(usize, usize)> = blocks(b).collect();
    let twins = cand.neg.twins();
    let parts: Vec<(f64, Vec<f32>, Vec<f32>)> = user_blocks
        .par_iter()
        .map(|&(s, e)| {
            let rows = e - s;
            let ub_rows = &u[s * d..e * d];
            LOGITS.with_borrow_mut(|(g, z)| {
                // Every value of `g` is written by the product before it is read.
                g.resize(rows * c, 0.0);
                z.resize(c, 0.0);
                let g = &mut g[..rows * c];
                matmul(rows, c, d, ub_rows, false, &v, true, g, false, 1.0);
                let mut loss = 0.0f64;
                for (i, gr) in g.chunks_mut(c).enumerate() {
                    loss += row_from_logits(loss_kind, s + i, gr, &mut z[..c], inv_t, &cand.corr, &cand.neg, twins[s + i], inv_b);
                }
                let mut du = vec![0.0f32; rows * d];
                matmul(rows, d, c, g, false, &v, false, &mut du, false, inv_t);
                let mut dv = vec![0.0f32; c * d];
                matmul(c, d, rows, g, true, ub_rows, false, &mut dv, false, inv_t);
                (loss, du, dv)
            })
        })
        .collect();
    let mut loss = 0.0f64;
    let mut du = Vec::with_capacity(b * d);
    let mut dv = vec![0.0f32; c * d];
    for (l, dup, dvp) in parts {
        loss += l;
        du.extend_from_slice(&dup);
        dv.iter_mut().zip(&dvp).for_each(|(a, x)| *a += x);
    }

    let back: Vec<BlockGrads> = tasks
        .par_iter()
        .zip(&traces)
        .map(|(&(t, s, e), tr)| {
            let dy = if t == 0 { &du[s * d..e * d] } else { &dv[s * d..e * d] };
            towers[t].mlp.host_backward(store, tr, dy)
        })
        .collect();
    let mut dense: Vec<(ParamId, Vec<f32>)> = Vec::new();
    let mut leaf = [Vec::with_capacity(b * widths[0]), Vec::with_capacity(c * widths[1])];
    let mut first = [true, true];
    for (&(t, _, _), g) in tasks.iter().zip(back) {
        leaf[t].extend_from_slice(&g.input);
        if std::mem::take(&mut first[t]) {
            dense.extend(g.params);
        } else {
            for (id, x) in g.params {
                let acc = &mut dense.iter_mut().find(|(i, _)| *i == id).expect("same parameters in every block").1;
                acc.iter_mut().zip(&x).for_each(|(a, x)| *a += x);
            }
        }
    }
    let [user_input, item_input] = leaf;
    StepOut { loss: (loss / b as f64) as f32, grads: Grads { dense, sparse: Vec::new() }, user_input, item_input, buffer_updates: Vec::new() }
}

/// The dfdx path over the whole batch.
pub fn graph_step(x: &StepInput) -> Result<StepOut> {
    let StepInput { store, user, item, ub, ib, cand, loss: loss_kind, temperature, seed } = *x;
    let mut ctx = Ctx::new(store, true, seed);
    let (ul, u) = user.forward(&mut ctx, ub);
    let (il, v) = item.forward(&mut ctx, ib);
    let loss = fused_loss(&ctx, loss_kind, temperature, u, v, &cand.neg, &cand.corr);
    let mut back = ctx.backward(loss)?;
    Ok(StepOut {
        loss: back.loss,
        grads: back.grads,
        user_input: std::mem::take(&mut back.leaves[ul.0]),
        item_input: std::mem::take(&mut back.leaves[il.0]),
        buffer_updates: back.buffer_updates,
    })
}
