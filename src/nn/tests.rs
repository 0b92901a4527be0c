//! Tests of the layer kit: finite-difference gradient checks of every layer, BatchNorm and
//! dropout modes, sparse updates, optimisers and checkpoints.

use super::*;
use dfdx::shapes::HasShape;
use dfdx::tensor_ops::{MeanTo, SumTo};

fn weights(n: usize, salt: f32) -> Vec<f32> {
    (0..n).map(|k| ((k as f32) * 1.37 + salt).sin()).collect()
}

/// Runs `f` on a leaf built from `x` and reduces the output to `sum(out * R)` with a fixed
/// `R`. Returns the loss (computed on the host in f64) and, when `grads`, the backward result.
fn run<F>(store: &ParamStore, x: &[f32], rows: usize, cols: usize, train: bool, f: &F) -> (f64, Option<Backward>)
where
    F: Fn(&mut Ctx, TMat) -> TMat,
{
    let mut ctx = Ctx::new(store, train, 7);
    let (_, leaf) = ctx.leaf(rows, cols, x.to_vec());
    let out = f(&mut ctx, leaf);
    let (n, d) = *out.shape();
    let r = weights(n * d, 0.3);
    let host: f64 = out.as_vec().iter().zip(&r).map(|(a, b)| *a as f64 * *b as f64).sum();
    let loss = (out * ctx.constant(n, d, r)).sum::<(), _>();
    let back = ctx.backward(loss).unwrap();
    (host, Some(back))
}

/// Compares analytic gradients of every trainable parameter, table and of the input with
/// central finite differences. Panics with the first mismatch.
fn gradcheck<F>(store: &mut ParamStore, x: Vec<f32>, rows: usize, cols: usize, train: bool, f: F)
where
    F: Fn(&mut Ctx, TMat) -> TMat,
{
    let eps = 1e-2f32;
    let (_, back) = run(store, &x, rows, cols, train, &f);
    let back = back.unwrap();
    let close = |a: f32, n: f64, what: &str| {
        let tol = 2e-2 + 3e-2 * n.abs();
        assert!(((a as f64) - n).abs() <= tol, "{what}: analytic {a} vs numeric {n}");
    };
    // Input.
    let gx = &back.leaves[0];
    for i in 0..x.len() {
        let mut xp = x.clone();
        xp[i] += eps;
        let lp = run(store, &xp, rows, cols, train, &f).0;
        xp[i] -= 2.0 * eps;
        let lm = run(store, &xp, rows, cols, train, &f).0;
        close(gx[i], (lp - lm) / (2.0 * eps as f64), &format!("input[{i}]"));
    }
    // Parameters: every trainable one must have a gradient, and it must match.
    let ids: Vec<ParamId> = store.param_ids().filter(|&p| store.is_trainable(p)).collect();
    assert!(!ids.is_empty() || store.param_ids().count() == 0);
    for id in ids {
        let g = &back.grads.dense.iter().find(|(p, _)| *p == id).unwrap_or_else(|| panic!("no gradient for {}", store.param(id).name)).1;
        let base = store.value(id).to_vec();
        for i in 0..base.len() {
            let mut v = base.clone();
            v[i] += eps;
            store.set_value(id, &v);
            let lp = run(store, &x, rows, cols, train, &f).0;
            v[i] -= 2.0 * eps;
            store.set_value(id, &v);
            let lm = run(store, &x, rows, cols, train, &f).0;
            store.set_value(id, &base);
            close(g[i], (lp - lm) / (2.0 * eps as f64), &format!("{}[{i}]", store.param(id).name));
        }
    }
}

#[test]
fn gradcheck_linear() {
    let mut s = ParamStore::new(1).unwrap();
    let lin = Linear::new(&mut s, "lin", 4, 3, true).unwrap();
    gradcheck(&mut s, weights(5 * 4, 0.1), 5, 4, true, |ctx, x| lin.forward(ctx, x));
}

#[test]
fn gradcheck_activations_and_l2() {
    let mut s = ParamStore::new(2).unwrap();
    // Inputs away from ReLU's kink.
    let x: Vec<f32> = weights(12, 0.2).iter().map(|v| if v.abs() < 0.1 { v + 0.3 } else { *v }).collect();
    gradcheck(&mut s, x.clone(), 3, 4, true, |_, x| Activation::Relu.forward(x));
    gradcheck(&mut s, x.clone(), 3, 4, true, |_, x| Activation::Tanh.forward(x));
    gradcheck(&mut s, x.clone(), 3, 4, true, |_, x| l2_normalize(x, 1e-12));
    // Dropout in train mode: the mask is fixed by the Ctx seed, so it is differentiable.
    gradcheck(&mut s, x, 3, 4, true, |ctx, x| Dropout { p: 0.4 }.forward(ctx, x));
}

#[test]
fn gradcheck_batchnorm_train_and_eval() {
    let mut s = ParamStore::new(3).unwrap();
    let bn = BatchNorm1d::new(&mut s, "bn", 3).unwrap();
    // Non-trivial affine parameters and running statistics.
    s.set_value(bn.gamma, &[1.5, 0.7, -0.4]);
    s.set_value(bn.beta, &[0.1, -0.2, 0.3]);
    s.set_value(bn.running_mean, &[0.2, -0.1, 0.05]);
    s.set_value(bn.running_var, &[0.5, 2.0, 1.2]);
    let x: Vec<f32> = weights(6 * 3, 0.7).iter().enumerate().map(|(k, v)| v * (1.0 + k as f32 * 0.1)).collect();
    gradcheck(&mut s, x.clone(), 6, 3, true, |ctx, x| bn.forward(ctx, x));
    // Eval mode: gradient to the input only (parameters get none: not a training pass).
    let (_, back) = run(&s, &x, 6, 3, false, &|ctx: &mut Ctx, x| bn.forward(ctx, x));
    let gx = back.unwrap().leaves[0].clone();
    let scale: Vec<f32> = (0..3).map(|j| s.value(bn.gamma)[j] / (s.value(bn.running_var)[j] + 1e-5).sqrt()).collect();
    let r = weights(18, 0.3);
    for k in 0..18 {
        assert!((gx[k] - r[k] * scale[k % 3]).abs() < 1e-5);
    }
}

#[test]
fn gradcheck_mlp_with_batchnorm_and_embeddings() {
    let mut s = ParamStore::new(4).unwrap();
    let table = s.table("emb", 10, 3, Init::Normal(0.5)).unwrap();
    let mlp = Mlp::new(&mut s, "mlp", 3 + 3 + 2, &[5, 4], 2, Activation::Tanh, true, 0.0).unwrap();
    let rows = 4;
    // Input = [id embedding | mean-pooled bag (with padding, a repeated id, an empty bag) | dense].
    let mut b = InputBuilder::new(rows);
    b.ids(&s, table, vec![1, 4, 1, 9]);
    b.bags(&s, table, Bags::from_lists(&[vec![2, 3], vec![4], vec![], vec![5, 5, 1]], 3));
    b.dense(2, weights(rows * 2, 0.9));
    // Differentiate with respect to the table through the builder: the leaf is rebuilt from the
    // table on every run, and the scattered leaf gradient is compared with finite differences.
    let loss_and_grad = |s: &ParamStore| -> (f64, Vec<(TableId, SparseGrad)>) {
        let x = b.build(s);
        let (l, back) = run(s, &x, rows, b.cols(), true, &|ctx: &mut Ctx, x| mlp.forward(ctx, x));
        let mut sg = Vec::new();
        b.scatter(&back.unwrap().leaves[0], &mut sg);
        (l, sg)
    };
    let (_, sg) = loss_and_grad(&s);
    assert_eq!(sg.len(), 1);
    let g = &sg[0].1;
    let mut touched = g.rows.clone();
    touched.sort();
    assert_eq!(touched, vec![1, 2, 3, 4, 5, 9]);
    let eps = 1e-2;
    for row in 0..10u32 {
        for j in 0..3 {
            let k = row as usize * 3 + j;
            let base = s.get_table(table).data[k];
            s.table_mut(table).data[k] = base + eps;
            let lp = loss_and_grad(&s).0;
            s.table_mut(table).data[k] = base - eps;
            let lm = loss_and_grad(&s).0;
            s.table_mut(table).data[k] = base;
            let num = (lp - lm) / (2.0 * eps as f64);
            let ana = g.row_grad(row).map(|r| r[j]).unwrap_or(0.0);
            assert!((ana as f64 - num).abs() < 2e-2 + 3e-2 * num.abs(), "emb[{row}][{j}]: {ana} vs {num}");
        }
    }
    // And the MLP's own parameters and input.
    let x = b.build(&s);
    gradcheck(&mut s, x, rows, b.cols(), true, |ctx, x| mlp.forward(ctx, x));
}

#[test]
fn batchnorm_train_uses_batch_stats_eval_uses_running() {
    let mut s = ParamStore::new(5).unwrap();
    let bn = BatchNorm1d::new(&mut s, "bn", 2).unwrap();
    let n = 64;
    let x: Vec<f32> = (0..n).flat_map(|i| [3.0 + (i as f32 * 0.7).sin() * 2.0, -1.0 + (i as f32 * 1.3).cos() * 0.5]).collect();
    let fwd = |s: &ParamStore, train: bool| {
        let mut ctx = Ctx::new(s, train, 0);
        let xin = ctx.input(n, 2, x.clone());
        let y = bn.forward(&mut ctx, xin).as_vec();
        (y, ctx.finish())
    };
    let (y, upd) = fwd(&s, true);
    for j in 0..2 {
        let col: Vec<f32> = (0..n).map(|i| y[i * 2 + j]).collect();
        let mean = col.iter().sum::<f32>() / n as f32;
        let var = col.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n as f32;
        assert!(mean.abs() < 1e-4 && (var - 1.0).abs() < 1e-3, "train output column {j}: mean {mean} var {var}");
    }
    // Eval before any update: running stats are (0, 1), so eval is ~identity, unlike train.
    let (ye, upd_eval) = fwd(&s, false);
    assert!(upd_eval.is_empty());
    assert!(ye.iter().zip(&x).all(|(a, b)| (a - b).abs() < 1e-3));
    // Running stats move 10% toward the batch's.
    s.apply_buffer_updates(upd);
    let rm = s.value(bn.running_mean).to_vec();
    let m0 = (0..n).map(|i| x[i * 2]).sum::<f32>() / n as f32;
    assert!((rm[0] - 0.1 * m0).abs() < 1e-4);
    // Running variance uses the unbiased batch variance: 0.9 * 1 + 0.1 * var * n / (n - 1).
    let v0 = (0..n).map(|i| (x[i * 2] - m0) * (x[i * 2] - m0)).sum::<f32>() / (n - 1) as f32;
    let rv = s.value(bn.running_var).to_vec();
    assert!((rv[0] - (0.9 + 0.1 * v0)).abs() < 1e-4, "running var {} vs {}", rv[0], 0.9 + 0.1 * v0);
    // After many train passes eval matches train.
    for _ in 0..200 {
        let (_, upd) = fwd(&s, true);
        s.apply_buffer_updates(upd);
    }
    let (ye, _) = fwd(&s, false);
    let (yt, _) = fwd(&s, true);
    for (a, b) in ye.iter().zip(&yt) {
        assert!((a - b).abs() < 0.05, "eval {a} vs train {b}");
    }
}

#[test]
fn dropout_is_identity_in_eval_and_drops_in_train() {
    let s = ParamStore::new(6).unwrap();
    let x = vec![1.0f32; 100 * 50];
    let d = Dropout { p: 0.3 };
    let mut ctx = Ctx::new(&s, false, 1);
    let xe = ctx.input(100, 50, x.clone());
    assert_eq!(d.forward(&mut ctx, xe).as_vec(), x);
    let mut ctx = Ctx::new(&s, true, 1);
    let xt = ctx.input(100, 50, x.clone());
    let y = d.forward(&mut ctx, xt).as_vec();
    let zeros = y.iter().filter(|&&v| v == 0.0).count() as f32 / y.len() as f32;
    assert!((zeros - 0.3).abs() < 0.03, "dropped fraction {zeros}");
    assert!(y.iter().all(|&v| v == 0.0 || (v - 1.0 / 0.7).abs() < 1e-6));
    let mean = y.iter().sum::<f32>() / y.len() as f32;
    assert!((mean - 1.0).abs() < 0.05);
}

#[test]
fn sparse_update_touches_only_batch_rows() {
    for sparse in [SparseOptimizer::Same, SparseOptimizer::Adagrad] {
        for kind in [OptimizerKind::Adam, OptimizerKind::Adamw, OptimizerKind::Sgd] {
            let mut s = ParamStore::new(7).unwrap();
            let table = s.table("emb", 1000, 4, Init::Normal(0.1)).unwrap();
            let lin = Linear::new(&mut s, "lin", 8, 1, true).unwrap();
            let before = s.get_table(table).data.clone();
            let mut b = InputBuilder::new(3);
            b.ids(&s, table, vec![3, 7, 7]);
            b.bags(&s, table, Bags::from_lists(&[vec![42, 3], vec![], vec![999]], 4));
            let x = b.build(&s);
            let mut ctx = Ctx::new(&s, true, 0);
            let (leaf, xl) = ctx.leaf(3, 8, x);
            let y = lin.forward(&mut ctx, xl);
            let loss = y.square().sum::<(), _>();
            let mut back = ctx.backward(loss).unwrap();
            b.scatter(&back.leaves[leaf.0], &mut back.grads.sparse);
            let cfg = OptimConfig { kind, sparse, lr: 0.1, weight_decay: 0.01, ..Default::default() };
            s.step(&mut back.grads, &cfg);
            let after = &s.get_table(table).data;
            let touched = [3u32, 7, 42, 999];
            for r in 0..1000u32 {
                let (lo, hi) = (r as usize * 4, r as usize * 4 + 4);
                if touched.contains(&r) {
                    assert_ne!(&after[lo..hi], &before[lo..hi], "row {r} was not updated ({kind:?}, {sparse:?})");
                    assert_eq!(s.get_table(table).row_steps(r), 1);
                } else {
                    assert_eq!(&after[lo..hi], &before[lo..hi], "row {r} changed ({kind:?}, {sparse:?})");
                    assert_eq!(s.get_table(table).row_steps(r), 0);
                }
            }
        }
    }
}

#[test]
fn optimisers_minimise_a_quadratic_and_clip() {
    for kind in [OptimizerKind::Adam, OptimizerKind::Adamw, OptimizerKind::Sgd] {
        let mut s = ParamStore::new(8).unwrap();
        let p = s.dense("p", 1, 3, Init::Const(0.0)).unwrap();
        let target = [1.0f32, -2.0, 0.5];
        let cfg = OptimConfig { kind, lr: if kind == OptimizerKind::Sgd { 0.1 } else { 0.05 }, ..Default::default() };
        for _ in 0..500 {
            let mut ctx = Ctx::new(&s, true, 0);
            let t = ctx.constant(1, 3, target.to_vec());
            let pt = ctx.param(p);
            let loss = (pt - t).square().sum::<(), _>();
            let mut back = ctx.backward(loss).unwrap();
            s.step(&mut back.grads, &cfg);
        }
        for (a, b) in s.value(p).iter().zip(&target) {
            assert!((a - b).abs() < 1e-2, "{kind:?}: {a} vs {b}");
        }
    }
    let mut g = Grads { dense: vec![(ParamId(0), vec![3.0, 4.0])], sparse: vec![] };
    assert_eq!(g.clip(1.0), 5.0);
    assert!((g.global_norm() - 1.0).abs() < 1e-4);
}

#[test]
fn checkpoint_round_trip_reproduces_outputs() {
    let build = |seed| {
        let mut s = ParamStore::new(seed).unwrap();
        let t = s.table("emb", 20, 4, Init::Normal(0.3)).unwrap();
        let mlp = Mlp::new(&mut s, "mlp", 4, &[6], 3, Activation::Relu, true, 0.2).unwrap();
        (s, t, mlp)
    };
    let (mut s, t, mlp) = build(9);
    let ids = vec![1u32, 5, 5, 19, 0];
    let cfg = OptimConfig { lr: 0.05, ..Default::default() };
    for step in 0..5 {
        let mut b = InputBuilder::new(5);
        b.ids(&s, t, ids.clone());
        let mut ctx = Ctx::new(&s, true, step);
        let (leaf, x) = ctx.leaf(5, 4, b.build(&s));
        let y = mlp.forward(&mut ctx, x);
        let loss = y.square().mean::<(), _>();
        let mut back = ctx.backward(loss).unwrap();
        b.scatter(&back.leaves[leaf.0], &mut back.grads.sparse);
        let upd = std::mem::take(&mut back.buffer_updates);
        s.apply_buffer_updates(upd);
        s.step(&mut back.grads, &cfg);
    }
    let eval = |s: &ParamStore| {
        let mut b = InputBuilder::new(5);
        b.ids(s, t, ids.clone());
        let mut ctx = Ctx::new(s, false, 0);
        let x = ctx.input(5, 4, b.build(s));
        mlp.forward(&mut ctx, x).as_vec()
    };
    let dir = std::env::temp_dir().join(format!("runner-nn-ckpt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("model.safetensors");
    s.save(&path).unwrap();
    let (mut fresh, _, _) = build(123);
    assert_ne!(eval(&fresh), eval(&s));
    fresh.load(&path).unwrap();
    assert_eq!(eval(&fresh), eval(&s));
    // A different architecture refuses the checkpoint, naming the tensor.
    let mut other = ParamStore::new(1).unwrap();
    other.table("emb", 21, 4, Init::Normal(0.3)).unwrap();
    Mlp::new(&mut other, "mlp", 4, &[6], 3, Activation::Relu, true, 0.2).unwrap();
    let err = format!("{:#}", other.load(&path).unwrap_err());
    assert!(err.contains("emb"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

/// The host fast path of an MLP equals dfdx's tape (outputs and every gradient) for each
/// activation, with and without the L2 normalisation; with dropout (masks of its own) its
/// gradients match finite differences; and `matmul` handles every transpose.
#[test]
fn host_mlp_matches_the_tape_and_finite_differences() {
    use rand::SeedableRng;
    let (rows, inp) = (7usize, 5usize);
    let x = weights(rows * inp, 0.9);
    for act in [Activation::Relu, Activation::Tanh, Activation::Identity] {
        for normalize in [true, false] {
            let mut store = ParamStore::new(11).unwrap();
            let mlp = Mlp::new(&mut store, "m", inp, &[6, 4], 3, act, false, 0.0).unwrap();
            assert!(mlp.host_ready());
            let what = format!("{act:?} normalize={normalize}");
            let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(1);
            let t = mlp.host_forward(&store, x.clone(), rows, true, normalize, &mut rng);
            let r = weights(rows * 3, 0.3);
            let g = mlp.host_backward(&store, &t, &r);
            let (_, back) = run(&store, &x, rows, inp, true, &|ctx: &mut Ctx, x: TMat| {
                let y = mlp.forward(ctx, x);
                if normalize {
                    l2_normalize(y, 1e-12)
                } else {
                    y
                }
            });
            let back = back.unwrap();
            let mut ctx = Ctx::new(&store, false, 0);
            let leaf = ctx.input(rows, inp, x.clone());
            let y = mlp.forward(&mut ctx, leaf);
            let y = if normalize { l2_normalize(y, 1e-12) } else { y };
            let close = |a: &[f32], b: &[f32], w: &str| {
                assert_eq!(a.len(), b.len());
                for (i, (p, q)) in a.iter().zip(b).enumerate() {
                    assert!((p - q).abs() <= 1e-5 + 1e-4 * q.abs(), "{what} {w}[{i}]: host {p} vs tape {q}");
                }
            };
            close(&t.y, &y.as_vec(), "output");
            close(&g.input, &back.leaves[0], "input gradient");
            assert_eq!(g.params.len(), back.grads.dense.len());
            for (id, gv) in &g.params {
                let want = &back.grads.dense.iter().find(|(i, _)| i == id).expect("the tape has every parameter").1;
                close(gv, want, &store.param(*id).name);
            }
        }
    }
    // Dropout: the mask is fixed by the generator's seed, so finite differences apply.
    let mut store = ParamStore::new(5).unwrap();
    let mlp = Mlp::new(&mut store, "m", inp, &[16], 3, Activation::Tanh, false, 0.4).unwrap();
    let r = weights(rows * 3, 0.5);
    let f = |x: &[f32]| -> (f64, crate::nn::host::Trace) {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(9);
        let t = mlp.host_forward(&store, x.to_vec(), rows, true, true, &mut rng);
        (t.y.iter().zip(&r).map(|(a, b)| (a * b) as f64).sum(), t)
    };
    let (_, t) = f(&x);
    let g = mlp.host_backward(&store, &t, &r);
    let eps = 1e-2;
    for k in 0..x.len() {
        let mut xp = x.clone();
        xp[k] += eps;
        let mut xm = x.clone();
        xm[k] -= eps;
        let num = (f(&xp).0 - f(&xm).0) / (2.0 * eps as f64);
        assert!((g.input[k] as f64 - num).abs() < 2e-3 + 2e-2 * num.abs(), "dropout input[{k}]: {} vs {num}", g.input[k]);
    }
    // matmul with each transpose against the naive product, accumulating.
    let (m, n, k) = (3usize, 4usize, 5usize);
    let a = weights(m * k, 0.1);
    let b = weights(k * n, 0.2);
    let at: Vec<f32> = (0..k * m).map(|i| a[(i % m) * k + i / m]).collect();
    let bt: Vec<f32> = (0..n * k).map(|i| b[(i % k) * n + i / k]).collect();
    let mut want = vec![1.0f32; m * n];
    for i in 0..m {
        for j in 0..n {
            want[i * n + j] += 0.5 * (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum::<f32>();
        }
    }
    for (aa, a_t) in [(&a, false), (&at, true)] {
        for (bb, b_t) in [(&b, false), (&bt, true)] {
            let mut c = vec![1.0f32; m * n];
            crate::nn::host::matmul(m, n, k, aa, a_t, bb, b_t, &mut c, true, 0.5);
            for (p, q) in c.iter().zip(&want) {
                assert!((p - q).abs() < 1e-5, "a_t={a_t} b_t={b_t}: {c:?} vs {want:?}");
            }
        }
    }
}

/// `CatchUp` moves a row touched at two steps far apart as dense Adam (and SGD with momentum)
/// moves it when it is updated at every step with zero gradients in between: late in
/// training, and early, where Adam's bias correction changes from one step to the next.
#[test]
fn catch_up_matches_dense_updates_of_a_rarely_touched_row() {
    for (kind, momentum) in [(OptimizerKind::Adam, 0.0), (OptimizerKind::Sgd, 0.9)] {
        for [t1, t2, end] in [[1000u32, 1030, 1040], [3, 40, 60]] {
            let cfg = OptimConfig { kind, momentum, lr: 0.01, sparse: SparseOptimizer::CatchUp, ..Default::default() };
            let g1 = [0.3f32, -0.2, 0.05, 1.0];
            let g2 = [-0.1f32, 0.4, 0.2, -0.5];
            // Dense reference: every step from 1 to `end`, the gradient at t1 and t2 only.
            let mut p = vec![0.5f32, -0.5, 0.25, 0.0];
            let (mut m, mut v) = (vec![0.0f32; 4], vec![0.0f32; 4]);
            for t in 1..=end {
                let g = if t == t1 {
                    g1
                } else if t == t2 {
                    g2
                } else {
                    [0.0; 4]
                };
                super::optim::update_row(&cfg, cfg.lr, t, &mut p, &mut m, &mut v, &g);
            }
            let touched = |cfg: &OptimConfig| {
                let mut table = EmbeddingTable::new("e", 2, 4, vec![0.5, -0.5, 0.25, 0.0, 9.0, 9.0, 9.0, 9.0]);
                for (step, g) in [(t1, g1), (t2, g2)] {
                    let mut sg = SparseGrad::new(4);
                    sg.add(0, 1.0, &g);
                    table.apply(&sg, cfg, step);
                }
                table
            };
            // Sparse: the row is touched at t1 and t2; a zero gradient at `end` catches up.
            let sparse = |sparse: SparseOptimizer| -> EmbeddingTable {
                let cfg = OptimConfig { sparse, ..cfg };
                let mut table = touched(&cfg);
                let mut sg = SparseGrad::new(4);
                sg.add(0, 1.0, &[0.0; 4]);
                table.apply(&sg, &cfg, end);
                table
            };
            let (caught, lazy) = (sparse(SparseOptimizer::CatchUp), sparse(SparseOptimizer::Same));
            assert_eq!(caught.row_steps(0), end);
            assert_eq!(caught.row(1), &[9.0; 4], "an untouched row stays");
            // The end-of-training flush moves a row not touched at the end the same way.
            let mut flushed = touched(&cfg);
            flushed.catch_up_all(&cfg, end);
            assert_eq!(flushed.row_steps(0), end);
            assert_eq!(flushed.row(1), &[9.0; 4], "a never-touched row has no momentum");
            // Within 0.1% of the distance the row moved (eps is left out of the replayed
            // steps; the rest is rounding), and far closer than the lazy update.
            let start = [0.5f32, -0.5, 0.25, 0.0];
            let dist = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f32>().sqrt();
            let moved = dist(&p, &start);
            for (what, t) in [("caught up", &caught), ("flushed", &flushed)] {
                assert!(dist(t.row(0), &p) < 1e-3 * moved, "{kind:?} {t1}..{end}: {what} {:?} vs dense {p:?}", t.row(0));
            }
            assert!(dist(lazy.row(0), &p) > 10.0 * dist(caught.row(0), &p), "{kind:?}: lazy {:?} is not further from dense {p:?}", lazy.row(0));
        }
    }
}

/// Eval mode on the host equals the tape's (BatchNorm from its running statistics, no
/// bias before it, dropout off), and a row's output is the same bits alone as among others.
#[test]
fn host_eval_matches_the_tape_and_does_not_depend_on_the_other_rows() {
    let (rows, inp) = (37usize, 9usize);
    let x = weights(rows * inp, 0.4);
    for batch_norm in [false, true] {
        let mut store = ParamStore::new(3).unwrap();
        let mlp = Mlp::new(&mut store, "m", inp, &[16, 8], 5, Activation::Tanh, batch_norm, 0.3).unwrap();
        for (lin, bn) in &mlp.hidden {
            if let Some(bn) = bn {
                let n = bn.dim;
                store.set_value(bn.running_mean, &weights(n, 1.1));
                store.set_value(bn.running_var, &weights(n, 2.2).iter().map(|v| 1.5 + v).collect::<Vec<_>>());
                store.set_value(bn.beta, &weights(n, 0.7));
            }
            assert_eq!(lin.b.is_some(), !batch_norm);
        }
        for normalize in [false, true] {
            let host = mlp.host_eval(&store, x.clone(), rows, normalize);
            let mut ctx = Ctx::new(&store, false, 0);
            let leaf = ctx.input(rows, inp, x.clone());
            let y = mlp.forward(&mut ctx, leaf);
            let tape = if normalize { l2_normalize(y, 1e-12) } else { y }.as_vec();
            for (i, (p, q)) in host.iter().zip(&tape).enumerate() {
                assert!((p - q).abs() <= 1e-5 + 1e-4 * q.abs(), "batch_norm={batch_norm} normalize={normalize} [{i}]: host {p} vs tape {q}");
            }
            for r in [0, 5, 36] {
                let one = mlp.host_eval(&store, x[r * inp..(r + 1) * inp].to_vec(), 1, normalize);
                assert_eq!(one, host[r * 5..(r + 1) * 5], "row {r} alone");
            }
        }
    }
}
