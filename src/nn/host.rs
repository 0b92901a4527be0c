//! The CPU fast path of [`Mlp`]: forward and backward on host slices, one block of rows at a
//! time, so that blocks run in parallel (rayon) and the caller sums their weight gradients.
//!
//! Why by hand rather than through dfdx's tape: every dfdx op allocates its output, records a
//! boxed backward closure and runs its element-wise kernel on one thread; for the towers'
//! small matrices (hundreds of rows, widths 32 - 256) that overhead, not arithmetic, set the
//! step time (measured per step on ml-100k: forward 2.0 ms, loss 4.3 ms, backward 3.3 ms with
//! about 1.1 cores busy; `experiments/two_tower_vs_pytorch/` has the before and after). Here
//! each block does its layers with one matrix product per layer (the `matrixmultiply` crate,
//! single-threaded inside the block; on these shapes it gave 8 % more examples/s than the
//! `gemm` crate dfdx uses, measured interleaved) and fuses bias, activation, dropout and the
//! L2 normalisation into the passes around it. The dfdx path stays the reference (the tests
//! compare the two) and serves BatchNorm, whose statistics span the whole batch, and CUDA.

use super::layers::{Activation, Mlp};
use super::store::{ParamId, ParamStore};
use rand::Rng;

/// `c = [c +] alpha * op(a) op(b)` for row-major `op(a): m x k`, `op(b): k x n`, `c: m x n`;
/// `a_t` / `b_t` say that `a` is stored `k x m` / `b` is stored `n x k`.
#[allow(clippy::too_many_arguments)]
pub fn matmul(m: usize, n: usize, k: usize, a: &[f32], a_t: bool, b: &[f32], b_t: bool, c: &mut [f32], accumulate: bool, alpha: f32) {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n, "matmul: slices shorter than {m}x{k} . {k}x{n}");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            c[..m * n].fill(0.0);
        }
        return;
    }
    let (a_rs, a_cs) = if a_t { (1, m as isize) } else { (k as isize, 1) };
    let (b_rs, b_cs) = if b_t { (1, k as isize) } else { (n as isize, 1) };
    // SAFETY: the asserts above bound every index the strides reach: a (i, p) at
    // i a_rs + p a_cs < m k, b (p, j) < k n, c (i, j) = i n + j < m n.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            alpha,
            a.as_ptr(),
            a_rs,
            a_cs,
            b.as_ptr(),
            b_rs,
            b_cs,
            if accumulate { 1.0 } else { 0.0 },
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

/// What a block's forward pass keeps for its backward pass.
#[derive(Clone, Debug, Default)]
pub struct Trace {
    pub rows: usize,
    /// Input of every linear layer (the block input, then each hidden layer's output).
    inputs: Vec<Vec<f32>>,
    /// Per hidden layer, the activation's output before dropout (empty without dropout: it
    /// is then the next layer's input).
    acts: Vec<Vec<f32>>,
    /// Per hidden layer, the dropout scale of each value (empty without dropout).
    masks: Vec<Vec<f32>>,
    /// Per row, `sqrt(|out|^2 + eps)` when normalised (empty otherwise).
    norms: Vec<f32>,
    /// The block's output (normalised when asked).
    pub y: Vec<f32>,
}

/// Gradients of one block: per parameter of the MLP (weights and biases, layer by layer) and
/// of the block input.
pub struct BlockGrads {
    pub params: Vec<(ParamId, Vec<f32>)>,
    pub input: Vec<f32>,
}

impl Mlp {
    /// Whether the fast path computes this MLP (BatchNorm needs the whole batch's statistics).
    pub fn host_ready(&self) -> bool {
        self.hidden.iter().all(|(lin, bn)| bn.is_none() && lin.b.is_some())
    }

    /// Forward pass of a block of `rows` rows of input `x` (`rows x input`), dropout masks
    /// drawn from `rng` in train mode, the output L2-normalised (`x / sqrt(|x|^2 + eps)`) when
    /// `normalize`.
    pub fn host_forward(&self, store: &ParamStore, x: Vec<f32>, rows: usize, train: bool, normalize: bool, rng: &mut impl Rng) -> Trace {
        let mut t = Trace { rows, ..Default::default() };
        let mut cur = x;
        for (lin, _) in &self.hidden {
            let mut h = vec![0.0f32; rows * lin.out];
            linear(store, lin.w, lin.b, &cur, rows, lin.inp, lin.out, &mut h);
            match self.activation {
                Activation::Relu => h.iter_mut().for_each(|v| *v = v.max(0.0)),
                Activation::Tanh => crate::linalg::tanh_inplace(&mut h),
                Activation::Identity => {}
            }
            let p = self.dropout.p;
            if train && p > 0.0 {
                let keep = 1.0 - p;
                let scale = if keep > 0.0 { 1.0 / keep } else { 0.0 };
                let mask: Vec<f32> = (0..h.len()).map(|_| if rng.gen::<f32>() < keep { scale } else { 0.0 }).collect();
                let next = h.iter().zip(&mask).map(|(a, m)| a * m).collect();
                t.inputs.push(std::mem::replace(&mut cur, next));
                t.acts.push(h);
                t.masks.push(mask);
            } else {
                // Without dropout the activation is the next layer's input: kept once.
                t.inputs.push(std::mem::replace(&mut cur, h));
                t.acts.push(Vec::new());
                t.masks.push(Vec::new());
            }
        }
        let o = &self.out;
        let mut y = vec![0.0f32; rows * o.out];
        linear(store, o.w, o.b, &cur, rows, o.inp, o.out, &mut y);
        t.inputs.push(cur);
        if normalize {
            t.norms = normalize_rows(&mut y, o.out);
        }
        t.y = y;
        t
    }

    /// The forward pass in eval mode (no dropout; BatchNorm as the per-column affine map of
    /// its running statistics) of `rows` rows of `x`, one matrix product per layer. A row's
    /// output depends on that row alone and is computed the same way whatever the number of
    /// rows around it, so the user vectors the train stage caches and the one `runner serve`
    /// computes for a single question agree bit for bit; dfdx's product, whose kernel changes
    /// with the row count, does not give that.
    pub fn host_eval(&self, store: &ParamStore, x: Vec<f32>, rows: usize, normalize: bool) -> Vec<f32> {
        let mut cur = x;
        for (lin, bn) in &self.hidden {
            let mut h = vec![0.0f32; rows * lin.out];
            linear(store, lin.w, lin.b, &cur, rows, lin.inp, lin.out, &mut h);
            if let Some(bn) = bn {
                let (s, t) = bn.eval_affine(store);
                h.chunks_mut(lin.out).for_each(|r| r.iter_mut().zip(&s).zip(&t).for_each(|((v, s), t)| *v = *v * s + t));
            }
            match self.activation {
                Activation::Relu => h.iter_mut().for_each(|v| *v = v.max(0.0)),
                Activation::Tanh => crate::linalg::tanh_inplace(&mut h),
                Activation::Identity => {}
            }
            cur = h;
        }
        let o = &self.out;
        let mut y = vec![0.0f32; rows * o.out];
        linear(store, o.w, o.b, &cur, rows, o.inp, o.out, &mut y);
        if normalize {
            normalize_rows(&mut y, o.out);
        }
        y
    }

    /// Backward pass of a block given the gradient `dy` of its output.
    pub fn host_backward(&self, store: &ParamStore, t: &Trace, dy: &[f32]) -> BlockGrads {
        let rows = t.rows;
        let o = &self.out;
        let mut dz = dy.to_vec();
        if !t.norms.is_empty() {
            // y = z / n with n = sqrt(|z|^2 + eps): dz = (dy - y (y . dy)) / n.
            for ((g, y), n) in dz.chunks_mut(o.out).zip(t.y.chunks(o.out)).zip(&t.norms) {
                let dot: f32 = g.iter().zip(y).map(|(a, b)| a * b).sum();
                g.iter_mut().zip(y).for_each(|(g, y)| *g = (*g - y * dot) / n);
            }
        }
        let mut params = Vec::with_capacity(2 * (self.hidden.len() + 1));
        let layers: Vec<_> = self.hidden.iter().map(|(l, _)| l).chain(std::iter::once(o)).collect();
        for (i, lin) in layers.iter().enumerate().rev() {
            let x = &t.inputs[i];
            let mut dw = vec![0.0f32; lin.inp * lin.out];
            matmul(lin.inp, lin.out, rows, x, true, &dz, false, &mut dw, false, 1.0);
            let mut db = vec![0.0f32; lin.out];
            for r in dz.chunks(lin.out) {
                db.iter_mut().zip(r).for_each(|(d, g)| *d += g);
            }
            let mut dx = vec![0.0f32; rows * lin.inp];
            matmul(rows, lin.inp, lin.out, &dz, false, store.value(lin.w), true, &mut dx, false, 1.0);
            params.push((lin.b.expect("host_ready"), db));
            params.push((lin.w, dw));
            if i > 0 {
                // Through the dropout and activation of hidden layer i - 1.
                let mask = &t.masks[i - 1];
                let act = if mask.is_empty() { &t.inputs[i] } else { &t.acts[i - 1] };
                if !mask.is_empty() {
                    dx.iter_mut().zip(mask).for_each(|(g, m)| *g *= m);
                }
                match self.activation {
                    // A select and an unconditional store vectorise; a conditional store
                    // did not (it was most of this function's time).
                    Activation::Relu => dx.iter_mut().zip(act).for_each(|(g, a)| *g = if *a > 0.0 { *g } else { 0.0 }),
                    Activation::Tanh => dx.iter_mut().zip(act).for_each(|(g, a)| *g *= 1.0 - a * a),
                    Activation::Identity => {}
                }
            }
            dz = dx;
        }
        params.reverse();
        BlockGrads { params, input: dz }
    }
}

/// Scales each `width`-wide row of `y` to unit norm (`x / sqrt(|x|^2 + 1e-12)`); returns the
/// norms.
fn normalize_rows(y: &mut [f32], width: usize) -> Vec<f32> {
    y.chunks_mut(width)
        .map(|r| {
            let n = (r.iter().map(|v| v * v).sum::<f32>() + 1e-12).sqrt();
            r.iter_mut().for_each(|v| *v /= n);
            n
        })
        .collect()
}

/// `out = x W + b` for `x: rows x inp`, `W: inp x out`.
#[allow(clippy::too_many_arguments)]
fn linear(store: &ParamStore, w: ParamId, b: Option<ParamId>, x: &[f32], rows: usize, inp: usize, out: usize, y: &mut [f32]) {
    match b {
        Some(b) => {
            let bias = store.value(b);
            y.chunks_mut(out).for_each(|r| r.copy_from_slice(bias));
            matmul(rows, out, inp, x, false, store.value(w), false, y, true, 1.0);
        }
        None => matmul(rows, out, inp, x, false, store.value(w), false, y, false, 1.0),
    }
}
