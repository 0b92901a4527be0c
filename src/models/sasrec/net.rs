//! SASRec's network on host slices, one sequence at a time: forward with what the backward
//! pass needs, backward into a gradient accumulator. Sequences are short (`max_len`, 50 by
//! default) and a batch holds a hundred of them, so the work is many small matrix products:
//! the towers' reasons for a hand-written pass over dfdx's tape hold here too (`nn/host.rs`),
//! and the products go through the same [`matmul`].
//!
//! The architecture is the paper's (Kang and McAuley 2018, and its reference code): the input
//! row of position `t` is `E[item] √d + P[t]`, positions aligned to the most recent item (the
//! last input sits at position `max_len - 1`), then dropout; each block is
//!
//! ```text
//! q = LN₁(x);  x = q + MHA(q, x, x) causal;  y = LN₂(x);  x = y + drop(relu(drop(y W₁ + b₁)) W₂ + b₂)
//! ```
//!
//! with dropout on the attention weights too, and a final layer norm. Causality is by
//! construction: row `t` of the attention only ever reads keys `0..=t`.

use crate::nn::host::matmul;
use rand::Rng;
use std::collections::HashMap;

/// Layer norm's epsilon (the reference code's 1e-8).
const LN_EPS: f32 = 1e-8;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shape {
    pub d: usize,
    pub heads: usize,
    pub blocks: usize,
    pub max_len: usize,
}

/// Offsets of one block's parameters in the flat dense vector. A layer norm holds gamma then
/// beta (`2d`); a linear layer its `d x d` weight (input-major, `x W`) then its bias (`d`).
#[derive(Clone, Copy, Debug)]
struct BlockAt {
    ln1: usize,
    wq: usize,
    wk: usize,
    wv: usize,
    wo: usize,
    ln2: usize,
    w1: usize,
    w2: usize,
}

/// Where every dense parameter lives in one flat vector (positions, blocks, final norm); the
/// item table is kept apart, as a matrix the retrieval reads directly.
#[derive(Clone, Debug)]
pub struct Layout {
    pub shape: Shape,
    blocks: Vec<BlockAt>,
    ln_out: usize,
    pub len: usize,
}

impl Layout {
    pub fn new(shape: Shape) -> Self {
        let d = shape.d;
        let mut off = shape.max_len * d;
        let mut take = |n: usize| {
            off += n;
            off - n
        };
        let blocks = (0..shape.blocks)
            .map(|_| BlockAt {
                ln1: take(2 * d),
                wq: take(d * d + d),
                wk: take(d * d + d),
                wv: take(d * d + d),
                wo: take(d * d + d),
                ln2: take(2 * d),
                w1: take(d * d + d),
                w2: take(d * d + d),
            })
            .collect();
        let ln_out = take(2 * d);
        Layout { shape, blocks, ln_out, len: off }
    }

    /// Initial values: Xavier-uniform positions and weights (the reference code initialises
    /// every matrix with Xavier), zero biases, layer norms as the identity.
    pub fn init(&self, rng: &mut impl Rng) -> Vec<f32> {
        let (d, l) = (self.shape.d, self.shape.max_len);
        let mut w = vec![0.0f32; self.len];
        xavier(&mut w[..l * d], l, d, rng);
        let norms = self.blocks.iter().flat_map(|b| [b.ln1, b.ln2]).chain([self.ln_out]);
        for at in norms {
            w[at..at + d].fill(1.0);
        }
        for b in &self.blocks {
            for at in [b.wq, b.wk, b.wv, b.wo, b.w1, b.w2] {
                xavier(&mut w[at..at + d * d], d, d, rng);
            }
        }
        w
    }
}

/// Xavier-uniform values for a `rows x cols` matrix.
pub fn xavier(w: &mut [f32], rows: usize, cols: usize, rng: &mut impl Rng) {
    let bound = (6.0 / (rows + cols) as f32).sqrt();
    w.iter_mut().for_each(|v| *v = rng.gen_range(-bound..bound));
}

/// A layer norm's saved normalised input and reciprocal deviations.
#[derive(Default)]
struct Norm {
    xhat: Vec<f32>,
    rstd: Vec<f32>,
}

#[derive(Default)]
struct BlockTrace {
    x: Vec<f32>,
    ln1: Norm,
    q_in: Vec<f32>,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    /// Per head, the `n x n` attention weights (zero above the diagonal) before dropout.
    att: Vec<f32>,
    att_mask: Vec<f32>,
    o: Vec<f32>,
    ln2: Norm,
    y: Vec<f32>,
    /// The first feed-forward layer's output after dropout, before the ReLU.
    z1: Vec<f32>,
    mask1: Vec<f32>,
    h1: Vec<f32>,
    mask2: Vec<f32>,
}

/// What one sequence's forward pass keeps.
pub struct Trace {
    pub n: usize,
    items: Vec<u32>,
    mask0: Vec<f32>,
    blocks: Vec<BlockTrace>,
    ln_out: Norm,
    /// `n x d`: the output row of every position.
    pub out: Vec<f32>,
}

/// Gradients summed over some sequences: the dense vector (the [`Layout`]) and the touched
/// rows of the item table.
pub struct Grad {
    pub dense: Vec<f32>,
    pub rows: HashMap<u32, usize>,
    pub row_data: Vec<f32>,
    d: usize,
}

impl Grad {
    pub fn new(layout: &Layout) -> Self {
        Grad { dense: vec![0.0; layout.len], rows: HashMap::new(), row_data: Vec::new(), d: layout.shape.d }
    }

    /// The gradient row of item `i`, created at zero.
    pub fn item(&mut self, i: u32) -> &mut [f32] {
        let d = self.d;
        let next = self.rows.len();
        let at = *self.rows.entry(i).or_insert(next);
        if at == next {
            self.row_data.resize((next + 1) * d, 0.0);
        }
        &mut self.row_data[at * d..(at + 1) * d]
    }
}

/// Dropout in place: the scale of every value (empty when nothing is dropped).
fn dropout(x: &mut [f32], p: f32, rng: &mut impl Rng) -> Vec<f32> {
    if p <= 0.0 {
        return Vec::new();
    }
    let keep = 1.0 - p;
    let scale = if keep > 0.0 { 1.0 / keep } else { 0.0 };
    let mask: Vec<f32> = (0..x.len()).map(|_| if rng.gen::<f32>() < keep { scale } else { 0.0 }).collect();
    x.iter_mut().zip(&mask).for_each(|(v, m)| *v *= m);
    mask
}

fn scale_by(g: &mut [f32], mask: &[f32]) {
    if !mask.is_empty() {
        g.iter_mut().zip(mask).for_each(|(g, m)| *g *= m);
    }
}

fn layer_norm(x: &[f32], gb: &[f32], d: usize) -> (Vec<f32>, Norm) {
    let (g, b) = gb.split_at(d);
    let mut y = vec![0.0f32; x.len()];
    let mut n = Norm { xhat: vec![0.0; x.len()], rstd: Vec::with_capacity(x.len() / d) };
    for ((row, xh), yr) in x.chunks(d).zip(n.xhat.chunks_mut(d)).zip(y.chunks_mut(d)) {
        let mean = row.iter().sum::<f32>() / d as f32;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / d as f32;
        let r = 1.0 / (var + LN_EPS).sqrt();
        for k in 0..d {
            xh[k] = (row[k] - mean) * r;
            yr[k] = xh[k] * g[k] + b[k];
        }
        n.rstd.push(r);
    }
    (y, n)
}

/// Layer norm's backward: returns the input gradient, adds to gamma's and beta's.
fn layer_norm_back(dy: &[f32], n: &Norm, gb: &[f32], dgb: &mut [f32], d: usize) -> Vec<f32> {
    let g = &gb[..d];
    let mut dx = vec![0.0f32; dy.len()];
    for ((dyr, xh), (dxr, r)) in dy.chunks(d).zip(n.xhat.chunks(d)).zip(dx.chunks_mut(d).zip(&n.rstd)) {
        let (mut m1, mut m2) = (0.0f32, 0.0f32);
        for k in 0..d {
            let dxh = dyr[k] * g[k];
            dgb[k] += dyr[k] * xh[k];
            dgb[d + k] += dyr[k];
            m1 += dxh;
            m2 += dxh * xh[k];
        }
        let (m1, m2) = (m1 / d as f32, m2 / d as f32);
        for k in 0..d {
            dxr[k] = r * (dyr[k] * g[k] - m1 - xh[k] * m2);
        }
    }
    dx
}

/// `y = x W + b` for the linear layer at `at` (`n` rows of width `d`).
fn linear(w: &[f32], at: usize, x: &[f32], n: usize, d: usize) -> Vec<f32> {
    let mut y = vec![0.0f32; n * d];
    let bias = &w[at + d * d..at + d * d + d];
    y.chunks_mut(d).for_each(|r| r.copy_from_slice(bias));
    matmul(n, d, d, x, false, &w[at..at + d * d], false, &mut y, true, 1.0);
    y
}

/// Backward of [`linear`]: adds the weight and bias gradients, adds `dy Wᵀ` to `dx`.
fn linear_back(w: &[f32], at: usize, x: &[f32], dy: &[f32], n: usize, d: usize, dw: &mut [f32], dx: &mut [f32]) {
    matmul(d, d, n, x, true, dy, false, &mut dw[at..at + d * d], true, 1.0);
    for r in dy.chunks(d) {
        dw[at + d * d..at + d * d + d].iter_mut().zip(r).for_each(|(g, v)| *g += v);
    }
    matmul(n, d, d, dy, false, &w[at..at + d * d], true, dx, true, 1.0);
}

/// Columns `h dh .. (h + 1) dh` of an `n x d` matrix, contiguous.
fn head(m: &[f32], h: usize, dh: usize, d: usize) -> Vec<f32> {
    m.chunks(d).flat_map(|r| r[h * dh..(h + 1) * dh].iter().copied()).collect()
}

fn put_head(m: &mut [f32], part: &[f32], h: usize, dh: usize, d: usize) {
    for (r, p) in m.chunks_mut(d).zip(part.chunks(dh)) {
        r[h * dh..(h + 1) * dh].copy_from_slice(p);
    }
}

/// The forward pass over `items` (at most `max_len`, oldest first); dropout `p` when `train`.
pub fn forward(l: &Layout, w: &[f32], table: &[f32], items: &[u32], p: f32, train: bool, rng: &mut impl Rng) -> Trace {
    let Shape { d, heads, max_len, .. } = l.shape;
    let n = items.len();
    assert!(n >= 1 && n <= max_len, "a SASRec input holds 1..={max_len} items, got {n}");
    let p = if train { p } else { 0.0 };
    let dh = d / heads;
    let emb_scale = (d as f32).sqrt();
    let first = max_len - n;
    let mut x = vec![0.0f32; n * d];
    for (t, (row, &i)) in x.chunks_mut(d).zip(items).enumerate() {
        let e = &table[i as usize * d..(i as usize + 1) * d];
        let pos = &w[(first + t) * d..(first + t + 1) * d];
        row.iter_mut().zip(e.iter().zip(pos)).for_each(|(v, (e, q))| *v = e * emb_scale + q);
    }
    let mask0 = dropout(&mut x, p, rng);
    let scale = 1.0 / (dh as f32).sqrt();
    let mut blocks = Vec::with_capacity(l.blocks.len());
    for b in &l.blocks {
        let mut t = BlockTrace::default();
        let (q_in, ln1) = layer_norm(&x, &w[b.ln1..b.ln1 + 2 * d], d);
        let (q, k, v) = (linear(w, b.wq, &q_in, n, d), linear(w, b.wk, &x, n, d), linear(w, b.wv, &x, n, d));
        let mut o = vec![0.0f32; n * d];
        t.att = vec![0.0f32; heads * n * n];
        for h in 0..heads {
            let (qh, kh) = (head(&q, h, dh, d), head(&k, h, dh, d));
            let a = &mut t.att[h * n * n..(h + 1) * n * n];
            matmul(n, n, dh, &qh, false, &kh, true, a, false, scale);
            for (r, row) in a.chunks_mut(n).enumerate() {
                let max = row[..=r].iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let mut sum = 0.0f32;
                for s in &mut row[..=r] {
                    *s = (*s - max).exp();
                    sum += *s;
                }
                row[..=r].iter_mut().for_each(|s| *s /= sum);
                row[r + 1..].fill(0.0);
            }
        }
        let mut att = t.att.clone();
        t.att_mask = dropout(&mut att, p, rng);
        for h in 0..heads {
            let vh = head(&v, h, dh, d);
            let mut oh = vec![0.0f32; n * dh];
            matmul(n, dh, n, &att[h * n * n..(h + 1) * n * n], false, &vh, false, &mut oh, false, 1.0);
            put_head(&mut o, &oh, h, dh, d);
        }
        let mut mid = linear(w, b.wo, &o, n, d);
        mid.iter_mut().zip(&q_in).for_each(|(m, q)| *m += q);
        let (y, ln2) = layer_norm(&mid, &w[b.ln2..b.ln2 + 2 * d], d);
        let mut z1 = linear(w, b.w1, &y, n, d);
        let mask1 = dropout(&mut z1, p, rng);
        let h1: Vec<f32> = z1.iter().map(|v| v.max(0.0)).collect();
        let mut z2 = linear(w, b.w2, &h1, n, d);
        let mask2 = dropout(&mut z2, p, rng);
        let next: Vec<f32> = y.iter().zip(&z2).map(|(a, b)| a + b).collect();
        t.x = std::mem::replace(&mut x, next);
        (t.ln1, t.q_in, t.q, t.k, t.v, t.o, t.ln2, t.y) = (ln1, q_in, q, k, v, o, ln2, y);
        (t.z1, t.mask1, t.h1, t.mask2) = (z1, mask1, h1, mask2);
        blocks.push(t);
    }
    let (out, ln_out) = layer_norm(&x, &w[l.ln_out..l.ln_out + 2 * d], d);
    Trace { n, items: items.to_vec(), mask0, blocks, ln_out, out }
}

/// The backward pass of [`forward`] from `dout` (`n x d`), adding into `g`.
pub fn backward(l: &Layout, w: &[f32], tr: &Trace, dout: &[f32], g: &mut Grad) {
    let Shape { d, heads, max_len, .. } = l.shape;
    let n = tr.n;
    let dh = d / heads;
    let scale = 1.0 / (dh as f32).sqrt();
    let mut dx = layer_norm_back(dout, &tr.ln_out, &w[l.ln_out..l.ln_out + 2 * d], &mut g.dense[l.ln_out..l.ln_out + 2 * d], d);
    for (b, t) in l.blocks.iter().zip(&tr.blocks).rev() {
        // x_out = y + drop(relu(drop(y W1 + b1)) W2 + b2)
        let mut dz2 = dx.clone();
        scale_by(&mut dz2, &t.mask2);
        let mut dh1 = vec![0.0f32; n * d];
        linear_back(w, b.w2, &t.h1, &dz2, n, d, &mut g.dense, &mut dh1);
        dh1.iter_mut().zip(&t.z1).for_each(|(g, z)| *g = if *z > 0.0 { *g } else { 0.0 });
        scale_by(&mut dh1, &t.mask1);
        let mut dy = dx;
        linear_back(w, b.w1, &t.y, &dh1, n, d, &mut g.dense, &mut dy);
        let dmid = layer_norm_back(&dy, &t.ln2, &w[b.ln2..b.ln2 + 2 * d], &mut g.dense[b.ln2..b.ln2 + 2 * d], d);
        // mid = q_in + O Wo + bo
        let mut dq_in = dmid.clone();
        let mut d_o = vec![0.0f32; n * d];
        linear_back(w, b.wo, &t.o, &dmid, n, d, &mut g.dense, &mut d_o);
        let (mut dq, mut dk, mut dv) = (vec![0.0f32; n * d], vec![0.0f32; n * d], vec![0.0f32; n * d]);
        for h in 0..heads {
            let a = &t.att[h * n * n..(h + 1) * n * n];
            let dropped: Vec<f32>;
            let a_used = if t.att_mask.is_empty() {
                a
            } else {
                dropped = a.iter().zip(&t.att_mask[h * n * n..(h + 1) * n * n]).map(|(a, m)| a * m).collect();
                &dropped
            };
            let (qh, kh, vh, doh) = (head(&t.q, h, dh, d), head(&t.k, h, dh, d), head(&t.v, h, dh, d), head(&d_o, h, dh, d));
            let mut da = vec![0.0f32; n * n];
            matmul(n, n, dh, &doh, false, &vh, true, &mut da, false, 1.0);
            let mut dvh = vec![0.0f32; n * dh];
            matmul(n, dh, n, a_used, true, &doh, false, &mut dvh, false, 1.0);
            if !t.att_mask.is_empty() {
                scale_by(&mut da, &t.att_mask[h * n * n..(h + 1) * n * n]);
            }
            // Softmax: dS = A (dA - rowsum(A dA)), zero above the diagonal where A is.
            for (r, (dr, ar)) in da.chunks_mut(n).zip(a.chunks(n)).enumerate() {
                let dot: f32 = dr[..=r].iter().zip(&ar[..=r]).map(|(x, y)| x * y).sum();
                for j in 0..=r {
                    dr[j] = ar[j] * (dr[j] - dot);
                }
                dr[r + 1..].fill(0.0);
            }
            let (mut dqh, mut dkh) = (vec![0.0f32; n * dh], vec![0.0f32; n * dh]);
            matmul(n, dh, n, &da, false, &kh, false, &mut dqh, false, scale);
            matmul(n, dh, n, &da, true, &qh, false, &mut dkh, false, scale);
            put_head(&mut dq, &dqh, h, dh, d);
            put_head(&mut dk, &dkh, h, dh, d);
            put_head(&mut dv, &dvh, h, dh, d);
        }
        linear_back(w, b.wq, &t.q_in, &dq, n, d, &mut g.dense, &mut dq_in);
        let mut dx_in = layer_norm_back(&dq_in, &t.ln1, &w[b.ln1..b.ln1 + 2 * d], &mut g.dense[b.ln1..b.ln1 + 2 * d], d);
        linear_back(w, b.wk, &t.x, &dk, n, d, &mut g.dense, &mut dx_in);
        linear_back(w, b.wv, &t.x, &dv, n, d, &mut g.dense, &mut dx_in);
        dx = dx_in;
    }
    scale_by(&mut dx, &tr.mask0);
    let emb_scale = (d as f32).sqrt();
    let first = max_len - n;
    for (t, (row, &i)) in dx.chunks(d).zip(&tr.items).enumerate() {
        g.dense[(first + t) * d..(first + t + 1) * d].iter_mut().zip(row).for_each(|(g, v)| *g += v);
        g.item(i).iter_mut().zip(row).for_each(|(g, v)| *g += v * emb_scale);
    }
}

/// How a position's scores become its loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    /// The paper's: `-log σ(s⁺) - Σ log σ(-s⁻)`.
    Bce,
    /// Softmax cross-entropy over the positive and the position's negatives.
    SampledSoftmax,
}

/// Adds to `dout` and `g` the gradient of `scale · loss` at position `t` of `out`, the
/// positive `pos` against `negs`; returns the (unscaled) loss.
pub fn position_loss(loss: Loss, out: &[f32], table: &[f32], d: usize, t: usize, pos: u32, negs: &[u32], scale: f32, dout: &mut [f32], g: &mut Grad) -> f64 {
    let o = &out[t * d..(t + 1) * d];
    let row = |i: u32| &table[i as usize * d..(i as usize + 1) * d];
    let dot = |i: u32| o.iter().zip(row(i)).map(|(a, b)| a * b).sum::<f32>();
    let cands: Vec<u32> = std::iter::once(pos).chain(negs.iter().copied()).collect();
    let s: Vec<f32> = cands.iter().map(|&i| dot(i)).collect();
    let softplus = |x: f32| crate::linalg::softplus(x as f64);
    let sigmoid = |x: f32| 1.0 / (1.0 + (-x).exp());
    let (value, ds): (f64, Vec<f32>) = match loss {
        Loss::Bce => {
            let v = softplus(-s[0]) + s[1..].iter().map(|&x| softplus(x)).sum::<f64>();
            (v, s.iter().enumerate().map(|(k, &x)| if k == 0 { sigmoid(x) - 1.0 } else { sigmoid(x) }).collect())
        }
        Loss::SampledSoftmax => {
            let max = s.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let z: f64 = s.iter().map(|&x| ((x - max) as f64).exp()).sum();
            let v = -(s[0] - max) as f64 + z.ln();
            (v, s.iter().enumerate().map(|(k, &x)| (((x - max) as f64).exp() / z) as f32 - if k == 0 { 1.0 } else { 0.0 }).collect())
        }
    };
    let dt = &mut dout[t * d..(t + 1) * d];
    for (&i, &gs) in cands.iter().zip(&ds) {
        let gs = gs * scale;
        dt.iter_mut().zip(row(i)).for_each(|(a, e)| *a += gs * e);
        g.item(i).iter_mut().zip(o).for_each(|(a, v)| *a += gs * v);
    }
    value
}
