//! Tests of the neural towers: parameters, encoders, the loss, negatives and training.

use super::encoders::{self, Build, Input, Rows};
use super::loss::fused_loss;
use super::negatives::{layout, NegRows, Negatives};
use super::params::{Loss, TextEncoder, TextSettings, TwoTowerParams};
use super::{fit, fit_with, two_tower};
use crate::data::{Dataset, FeatureColumn, FeatureTable, Interaction, Split};
use crate::models::valid_recall::Validation;
use crate::models::Trained;
use crate::nn::{Ctx, InputBuilder, ParamStore, SparseGrad, TableId};
use crate::params::{self, ParamError};
use crate::sampling::NoScorer;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use std::time::Instant;

fn parse_err(v: serde_json::Value) -> ParamError {
    match (two_tower::KIND.parse)(&v) {
        Err(e) => e,
        Ok(_) => panic!("{v} should be rejected"),
    }
}

fn params(v: serde_json::Value) -> TwoTowerParams {
    params::parse(&v).unwrap()
}

/// Mean Recall@10 on the test split.
fn test_recall(t: &Trained, split: &Split) -> f64 {
    let users: Vec<u32> = (0..split.n_users as u32).collect();
    let on_test = Split { valid: split.test.clone(), ..split.clone() };
    let v = Validation::new(&on_test, &users);
    let mut queries = crate::linalg::Matrix::zeros(v.users.len(), t.users.cols);
    for (r, &u) in v.users.iter().enumerate() {
        queries.row_mut(r).copy_from_slice(t.users.row(u as usize));
    }
    v.recall(&queries, &t.items, 10).unwrap()
}

#[test]
fn invalid_configs_name_the_key() {
    let cases = [
        (serde_json::json!({"hidden": []}), "hidden"),
        (serde_json::json!({"hidden": [64, 0]}), "hidden.1"),
        (serde_json::json!({"dim": 0}), "dim"),
        (serde_json::json!({"dropout": 1.5}), "dropout"),
        (serde_json::json!({"loss": "hinge"}), "loss"),
        (serde_json::json!({"activation": "gelu"}), "activation"),
        (serde_json::json!({"optimizer": "lion"}), "optimizer"),
        (serde_json::json!({"temperature": 0.0}), "temperature"),
        (serde_json::json!({"item": {"history": 5}}), "item.history"),
        (serde_json::json!({"user": {"id": false}}), "user"),
        (serde_json::json!({"user": {"idd": true}}), "user"),
        (serde_json::json!({"lr": -1.0}), "lr"),
        (serde_json::json!({"batch_size": 1}), "batch_size"),
        (serde_json::json!({"sparse_update": "eager"}), "sparse_update"),
        (serde_json::json!({"user": {"history_pooling": "max"}}), "user"),
        (serde_json::json!({"user": {"history_decay": 0.0}}), "user.history_decay"),
    ];
    for (v, key) in cases {
        let e = parse_err(v.clone());
        assert!(e.path == key || e.path.starts_with(&format!("{key}.")), "{v}: error at `{}` ({e}), expected `{key}`", e.path);
    }
    let e = parse_err(serde_json::json!({"hiden": [1]}));
    assert!(e.to_string().contains("hiden"), "{e}");
    // Defaults parse and canonicalise with every key filled in.
    let (_, canon) = (two_tower::KIND.parse)(&serde_json::json!({})).unwrap();
    assert_eq!(canon["hidden"], serde_json::json!([256, 128]));
    assert_eq!(canon["loss"], "softmax");
    assert_eq!(canon["optimizer"], "adam");
    // Keys added later stay out of the canonical (hashed) params at their defaults.
    assert!(canon.get("sparse_update").is_none() && canon["user"].get("history_pooling").is_none(), "{canon}");
    let (_, canon) = (two_tower::KIND.parse)(&serde_json::json!({"sparse_update": "catch_up"})).unwrap();
    assert_eq!(canon["sparse_update"], "catch_up");
    // The device defaults to the build's and is part of the canonical (hashed) params; the
    // other device is refused with the way to get it.
    assert_eq!(canon["device"], crate::nn::DEVICE);
    let other = if cfg!(feature = "cuda") { "cpu" } else { "cuda" };
    let e = parse_err(serde_json::json!({ "device": other }));
    assert!(e.path == "device" && e.to_string().contains("features cuda"), "{e}");
    assert_eq!(parse_err(serde_json::json!({"device": "tpu"})).path, "device");
}

/// `n_users` users in `k` clusters; each interacts with `per_user` distinct items of its
/// cluster (items `i` with `i % k == cluster`); the last one is the test item.
pub(super) fn planted(n_users: usize, n_items: usize, k: usize, per_user: usize, seed: u64) -> (Dataset, Split) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut split = Split { n_users, n_items, ..Default::default() };
    for u in 0..n_users {
        let c = u % k;
        let mut pool: Vec<u32> = (0..n_items as u32).filter(|i| *i as usize % k == c).collect();
        pool.shuffle(&mut rng);
        for (t, &i) in pool.iter().take(per_user).enumerate() {
            let it = Interaction { user: u as u32, item: i, rating: 1.0, ts: t as i64 };
            if t + 1 == per_user {
                split.test.push(it);
            } else if t + 2 == per_user {
                split.valid.push(it);
            } else {
                split.train.push(it);
            }
        }
    }
    let mut ds = Dataset { name: "planted".into(), ..Default::default() };
    for u in 0..n_users {
        ds.users.intern(&format!("u{u}"));
    }
    for i in 0..n_items {
        ds.items.intern(&format!("i{i}"));
    }
    ds.item_features = FeatureTable {
        columns: vec![
            FeatureColumn::Categorical {
                name: "genre".into(),
                cardinality: k as u32,
                values: (0..n_items as u32).map(|i| i % k as u32).collect(),
                labels: Vec::new(),
            },
            FeatureColumn::MultiHot {
                name: "tags".into(),
                cardinality: 2 * k as u32,
                values: (0..n_items as u32).map(|i| vec![i % k as u32, k as u32 + (i % 2)]).collect(),
                labels: Vec::new(),
            },
            FeatureColumn::Numeric { name: "year".into(), values: (0..n_items).map(|i| 1990.0 + (i % 30) as f32).collect() },
        ],
    };
    ds.user_features = FeatureTable { columns: vec![FeatureColumn::Numeric { name: "age".into(), values: (0..n_users).map(|u| (u % 50) as f32).collect() }] };
    (ds, split)
}

#[test]
fn planted_clusters_are_recovered_by_every_loss() {
    // 400 items in 10 clusters of 40; a user's unseen cluster items are 40 - 12 = 28, so a
    // model that ranks its cluster first has expected Recall@10 of about 10/28 = 0.36,
    // while random or popularity ranking gives about 10/388 = 0.026.
    let (ds, split) = planted(500, 400, 10, 14, 1);
    for loss in ["softmax", "bce", "bpr"] {
        let p = params(serde_json::json!({
            "dim": 16, "hidden": [32], "embedding_dim": 16, "batch_size": 128, "epochs": 15,
            "lr": 0.01, "loss": loss, "negatives": 64,
            "temperature": if loss == "softmax" { 0.1 } else { 0.2 },
        }));
        let t = fit(&p, &ds, &split, 3).unwrap();
        let r = test_recall(&t, &split);
        eprintln!("planted {loss}: Recall@10 {r:.3}, losses {:?}", t.epochs.iter().map(|e| e.loss).collect::<Vec<_>>());
        assert!(r >= 0.25, "{loss}: Recall@10 {r:.3} below 0.25");
        assert_eq!((t.items.rows, t.items.cols, t.users.rows), (400, 16, 500));
        assert!(t.epochs.len() == 15 && t.epochs[14].loss < t.epochs[0].loss);
    }
}

#[test]
fn planted_clusters_from_features_and_history_only() {
    // No id embeddings: items are known by genre / tags / year, users by their history.
    let (ds, split) = planted(500, 400, 10, 14, 2);
    let p = params(serde_json::json!({
        "dim": 16, "hidden": [32, 16], "embedding_dim": 16, "batch_size": 128, "epochs": 10,
        "lr": 0.01, "batch_norm": true, "dropout": 0.1, "activation": "tanh",
        "user": {"id": false, "features": ["age"], "history": 8},
        "item": {"id": false, "features": ["genre", "tags", "year"]},
        "logq_correction": true,
    }));
    let t = fit(&p, &ds, &split, 5).unwrap();
    let r = test_recall(&t, &split);
    eprintln!("planted features+history: Recall@10 {r:.3}");
    assert!(r >= 0.25, "Recall@10 {r:.3} below 0.25");
}

#[test]
fn seeded_fits_are_deterministic_and_early_stopping_reports() {
    let (ds, split) = planted(200, 100, 5, 10, 3);
    let p = params(serde_json::json!({
        "dim": 8, "hidden": [16], "embedding_dim": 8, "batch_size": 64, "epochs": 6, "lr": 0.01,
        "dropout": 0.2, "batch_norm": true, "patience": 2, "user": {"history": 4},
    }));
    let a = fit(&p, &ds, &split, 7).unwrap();
    let b = fit(&p, &ds, &split, 7).unwrap();
    let c = fit(&p, &ds, &split, 8).unwrap();
    assert_eq!(a.items, b.items);
    assert_eq!(a.users, b.users);
    assert_ne!(a.items, c.items);
    assert!(a.notes.contains_key("best_epoch"), "{:?}", a.notes);
}

/// With `patience`, training stops `patience` epochs after the best validation recall, well
/// before `epochs`, and keeps the best epoch's tables; without it, every epoch runs.
#[test]
fn early_stopping_stops_after_patience_epochs_without_progress() {
    let (ds, split) = planted(200, 100, 5, 10, 3);
    let max = 40;
    let p = |patience: usize| {
        params(serde_json::json!({
            "dim": 8, "hidden": [16], "embedding_dim": 8, "batch_size": 64, "epochs": max, "lr": 0.05,
            "patience": patience, "user": {"history": 4},
        }))
    };
    let a = fit(&p(2), &ds, &split, 7).unwrap();
    let best = a.notes["best_epoch"].as_u64().unwrap() as usize;
    let recalls: Vec<f64> = a.notes["valid_recall@10"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert!(a.epochs.len() < max, "trained all {max} epochs: early stopping never stopped ({recalls:?})");
    assert_eq!(recalls.len(), a.epochs.len(), "one validation per epoch trained");
    assert_eq!(a.epochs.len(), best + 2, "stops 2 epochs after the best ({best}): {recalls:?}");
    let top = recalls.iter().cloned().fold(f64::MIN, f64::max);
    assert_eq!(recalls[best - 1], top, "best_epoch is the epoch of the best recall: {recalls:?}");
    assert!(recalls[best..].iter().all(|&r| r <= top), "{recalls:?}");
    assert_eq!(a.notes["best_valid_recall@10"].as_f64().unwrap(), top);
    let b = fit(&p(0), &ds, &split, 7).unwrap();
    assert_eq!(b.epochs.len(), max, "without patience every epoch runs");
    assert!(!b.notes.contains_key("best_epoch"));
}

/// A training stopped at an epoch and resumed from its checkpoint (once, or at two rungs)
/// ends with the vectors of an uninterrupted one, bit for bit: parameters, optimiser moments
/// (lazy and catch-up sparse updates, BatchNorm's running statistics), each epoch's order and
/// negatives (a `hard` sampler's pools), dropout, and early stopping's state, also when
/// patience ran out before the rung.
#[test]
fn resumed_training_equals_an_uninterrupted_one() {
    use crate::models::TrainInput;
    let (ds, split) = planted(200, 100, 5, 10, 3);
    let s = serde_json::json!({"kind": "mixed", "parts": [{"kind": "frequency"}, {"kind": "hard", "pool": 10, "refresh_steps": 3}]});
    let cases = [
        serde_json::json!({"epochs": 6, "loss": "bpr", "negatives": 4, "dropout": 0.2}),
        serde_json::json!({"epochs": 6, "sparse_update": "catch_up", "batch_norm": true}),
        serde_json::json!({"epochs": 40, "lr": 0.05, "patience": 2}),
    ];
    for case in cases {
        let mut v = serde_json::json!({"dim": 8, "hidden": [16], "embedding_dim": 8, "batch_size": 64, "lr": 0.01, "user": {"history": 4}});
        v.as_object_mut().unwrap().extend(case.as_object().unwrap().clone());
        let p = params(v.clone());
        let sampler = (p.loss == Loss::Bpr).then_some(&s);
        let run = |resume: Option<&crate::models::Checkpoint>, stop: Option<usize>| {
            let mut input = TrainInput::new(&ds, &split, None, 7);
            (input.sampler, input.resume, input.stop_epoch) = (sampler, resume, stop);
            super::train::train(&p, &input).unwrap()
        };
        let full = run(None, None);
        assert!(full.checkpoint.is_none(), "{v}: a whole training keeps no checkpoint");
        let stops = if p.patience > 0 {
            // Patience runs out after the best epoch + 2: one rung before it, one after.
            let end = full.epochs.len();
            assert!(end < p.epochs, "{v}: early stopping should stop before epoch {}", p.epochs);
            vec![end - 2, end + 3]
        } else {
            vec![2, 4]
        };
        let first = run(None, Some(stops[0]));
        let c1 = first.checkpoint.clone().expect("a stopped training keeps a checkpoint");
        assert_eq!(c1.epoch, stops[0]);
        let once = run(Some(&c1), None);
        let second = run(Some(&c1), Some(stops[1]));
        let twice = run(second.checkpoint.as_ref(), None);
        for (what, t) in [("resumed once", &once), ("resumed twice", &twice)] {
            assert!(t.items == full.items && t.users == full.users, "{v}: {what} differs from the uninterrupted training");
            assert_eq!(t.notes.get("best_epoch"), full.notes.get("best_epoch"), "{v}: {what}");
            assert_eq!(t.notes.get("valid_recall@10"), full.notes.get("valid_recall@10"), "{v}: {what}");
            // The hard sampler's counts cover the whole training, not the resumed epochs only.
            for k in ["hard_refreshes", "hard_steps"] {
                assert_eq!(t.notes.get(k), full.notes.get(k), "{v}: {what}: {k}");
                assert_eq!(full.notes.contains_key(k), sampler.is_some(), "{v}: {k}");
            }
        }
        assert_eq!(first.epochs.len() + once.epochs.len(), full.epochs.len(), "{v}: epochs trained in the two parts");
        // The checkpoint does not fit another architecture.
        let mut other = v.clone();
        other["hidden"] = serde_json::json!([12]);
        let mut input = TrainInput::new(&ds, &split, None, 7);
        input.resume = Some(&c1);
        let e = super::train::train(&params(other), &input).unwrap_err().to_string();
        assert!(e.contains("does not fit"), "{e}");
    }
}

#[test]
fn layout_lists_in_batch_and_sampled_columns() {
    let mut col_of = vec![u32::MAX; 10];
    let pos = [1u32, 2, 1];
    let extra = [5u32, 2, 7, 5, 9, 1];
    let (new_items, neg) = layout(&pos, &extra, 2, true, &mut col_of);
    assert_eq!(new_items, vec![5, 7, 9]);
    let rows = |neg: &NegRows| -> Vec<Vec<usize>> {
        (0..3)
            .map(|r| {
                let mut v = Vec::new();
                neg.each(r, |j| v.push(j));
                v
            })
            .collect()
    };
    // Row 0 (positive 1): row 1 in-batch (row 2 shares the positive), then 5 and 2.
    // Row 1 (positive 2): rows 0 and 2, then 7 and 5; row 2: row 1, then 9 (1 dropped).
    assert_eq!(rows(&neg), vec![vec![1, 3, 1], vec![0, 2, 4, 3], vec![1, 5]]);
    assert_eq!(neg.count(1), 4);
    assert!(col_of.iter().all(|&c| c == u32::MAX));
    let (_, neg) = layout(&pos, &extra, 2, false, &mut col_of);
    assert_eq!(rows(&neg), vec![vec![3, 1], vec![4, 3], vec![5]]);
}

#[test]
fn planted_clusters_are_recovered_with_every_sampler() {
    let (ds, split) = planted(500, 400, 10, 14, 1);
    let cases = [
        ("softmax", serde_json::json!({"kind": "in_batch", "logq": true}), 0usize),
        ("softmax", serde_json::json!({"kind": "frequency"}), 16),
        ("bce", serde_json::json!({"kind": "uniform"}), 8),
        ("bpr", serde_json::json!({"kind": "frequency", "alpha": 0.5}), 8),
        // (`negatives` must be >= 1 for bpr, and in_batch ignores it.)
        ("bpr", serde_json::json!({"kind": "in_batch"}), 1),
        (
            "bpr",
            serde_json::json!({"kind": "mixed", "parts": [{"kind": "uniform", "weight": 0.75}, {"kind": "hard", "weight": 0.25, "pool": 50, "refresh_steps": 10}]}),
            8,
        ),
        ("softmax", serde_json::json!({"kind": "hard", "pool": 50, "refresh_steps": 10}), 4),
    ];
    for (loss, sampler, negatives) in cases {
        let p = params(serde_json::json!({
            "dim": 16, "hidden": [32], "embedding_dim": 16, "batch_size": 128, "epochs": 15,
            "lr": 0.01, "loss": loss, "negatives": negatives,
            "temperature": if loss == "softmax" { 0.1 } else { 0.2 },
        }));
        let t0 = Instant::now();
        let t = fit_with(&p, &ds, &split, 3, Some(&sampler)).unwrap();
        let r = test_recall(&t, &split);
        eprintln!("planted {loss} + {sampler}: Recall@10 {r:.3} in {:.1}s, notes {:?}", t0.elapsed().as_secs_f64(), t.notes);
        assert!(r >= 0.25, "{loss} + {sampler}: Recall@10 {r:.3} below 0.25");
        assert_eq!(t.notes["sampler"], sampler["kind"]);
    }
}

#[test]
fn sampled_fits_are_deterministic_and_bad_combinations_are_errors() {
    let (ds, split) = planted(200, 100, 5, 10, 3);
    let p = params(serde_json::json!({
        "dim": 8, "hidden": [16], "embedding_dim": 8, "batch_size": 64, "epochs": 3, "lr": 0.01,
        "loss": "bpr", "negatives": 4, "user": {"history": 4},
    }));
    let s = serde_json::json!({"kind": "mixed", "parts": [{"kind": "frequency"}, {"kind": "hard", "pool": 10, "refresh_steps": 3}]});
    let a = fit_with(&p, &ds, &split, 7, Some(&s)).unwrap();
    let b = fit_with(&p, &ds, &split, 7, Some(&s)).unwrap();
    let c = fit_with(&p, &ds, &split, 8, Some(&s)).unwrap();
    assert_eq!(a.items, b.items);
    assert_eq!(a.users, b.users);
    assert_ne!(a.items, c.items);
    // A refresh at each epoch's first step and every 3 steps after it: 3 epochs of
    // ceil(1600 / 64) = 25 steps, refreshed at steps 1, 4, ..., 25 of each (9).
    assert_eq!(a.notes["steps"], 75);
    assert_eq!(a.notes["hard_refreshes"], 27);
    // The sampler changes training.
    let u = fit_with(&p, &ds, &split, 7, Some(&serde_json::json!({"kind": "uniform"}))).unwrap();
    assert_ne!(a.items, u.items);
    let soft = params(serde_json::json!({"loss": "softmax", "negatives": 4, "logq_correction": true, "epochs": 1}));
    let e = fit_with(&soft, &ds, &split, 1, Some(&serde_json::json!({"kind": "hard"}))).unwrap_err().to_string();
    assert!(e.contains("logQ") && e.contains("hard"), "{e}");
    let e = fit_with(&p, &ds, &split, 1, Some(&serde_json::json!({"kind": "nope"}))).unwrap_err().to_string();
    assert!(e.contains("[sampler]") && e.contains("nope"), "{e}");
}

#[test]
fn divergence_and_missing_features_are_errors() {
    let (ds, split) = planted(100, 50, 5, 8, 4);
    let p = params(serde_json::json!({"dim": 8, "hidden": [8], "normalize": false, "lr": 1e30, "epochs": 3, "batch_size": 16, "optimizer": "sgd"}));
    let e = fit(&p, &ds, &split, 1).unwrap_err().to_string();
    assert!(e.contains("step") && e.contains("lower `lr`"), "{e}");
    let p = params(serde_json::json!({"item": {"features": ["colour"]}}));
    let e = fit(&p, &ds, &split, 1).unwrap_err().to_string();
    assert!(e.contains("item.features") && e.contains("colour") && e.contains("genre"), "{e}");
}

/// The loss by definition, in f64: with `z = u v^T / T - corr`, per row softmax
/// `logsumexp(z_rr, z_rj...) - z_rr`, bce `softplus(-z_rr) + mean_j softplus(z_rj)`, bpr
/// `mean_j softplus(z_rj - z_rr)`, averaged over rows.
fn naive_loss(loss: Loss, t: f64, u: &[f32], v: &[f32], d: usize, neg: &NegRows, corr: &[f32]) -> f64 {
    let sp = |x: f64| x.max(0.0) + (-x.abs()).exp().ln_1p();
    let b = neg.rows();
    let z = |r: usize, j: usize| -> f64 {
        let s: f64 = (0..d).map(|k| u[r * d + k] as f64 * v[j * d + k] as f64).sum::<f64>() / t;
        s - corr.get(j).copied().unwrap_or(0.0) as f64
    };
    let mut total = 0.0;
    for r in 0..b {
        let mut js = Vec::new();
        neg.each(r, |j| js.push(j));
        let zp = z(r, r);
        total += match loss {
            Loss::Softmax => (zp.exp() + js.iter().map(|&j| z(r, j).exp()).sum::<f64>()).ln() - zp,
            Loss::Bce => sp(-zp) + if js.is_empty() { 0.0 } else { js.iter().map(|&j| sp(z(r, j))).sum::<f64>() / js.len() as f64 },
            Loss::Bpr => {
                if js.is_empty() {
                    0.0
                } else {
                    js.iter().map(|&j| sp(z(r, j) - zp)).sum::<f64>() / js.len() as f64
                }
            }
        };
    }
    total / b as f64
}

/// The fused loss equals its definition on every layout (in-batch with an accidental hit,
/// shared sampled columns, ragged rows with repeats and an empty row, in-batch plus sampled),
/// with and without the logQ term, and its gradients match finite differences.
#[test]
fn fused_loss_matches_its_definition_and_finite_differences() {
    let store = ParamStore::new(0).unwrap();
    let (b, d, m) = (5usize, 3usize, 4usize);
    let pos = vec![0u32, 1, 1, 2, 3];
    let w = |n: usize, s: f32| -> Vec<f32> { (0..n).map(|k| ((k as f32) * 1.37 + s).sin()).collect() };
    let (uu, vv) = (w(b * d, 0.1), w((b + m) * d, 0.7));
    let mut col_of = vec![u32::MAX; 10];
    let (_, in_batch) = layout(&pos, &[], 0, true, &mut col_of);
    let shared = NegRows {
        pos: pos.clone(),
        in_batch: false,
        start: (0..=b).map(|r| r * m).collect(),
        cols: (0..b).flat_map(|_| (b..b + m).map(|c| c as u32)).collect(),
    };
    let ragged = NegRows { pos: pos.clone(), in_batch: false, start: vec![0, 3, 3, 5, 9, 10], cols: vec![1, 5, 5, 0, 8, 0, 1, 6, 7, 2] };
    let mixed = NegRows { pos: pos.clone(), in_batch: true, start: vec![0, 2, 2, 3, 4, 6], cols: vec![5, 5, 8, 6, 7, 8] };
    let corr: Vec<f32> = (0..b + m).map(|c| 0.3 * c as f32 - 1.0).collect();
    let t = 0.5f32;
    for loss in [Loss::Softmax, Loss::Bce, Loss::Bpr] {
        for (name, rows) in [("in_batch", &in_batch), ("shared", &shared), ("ragged", &ragged), ("mixed", &mixed)] {
            for c in [&corr[..], &[][..]] {
                if loss != Loss::Softmax && !c.is_empty() {
                    continue;
                }
                let f = |uu: &[f32], vv: &[f32]| {
                    let mut ctx = Ctx::new(&store, true, 0);
                    let (lu, u) = ctx.leaf(b, d, uu.to_vec());
                    let (lv, v) = ctx.leaf(b + m, d, vv.to_vec());
                    let l = fused_loss(&ctx, loss, t, u, v, rows, c);
                    let back = ctx.backward(l).unwrap();
                    (back.loss, back.leaves[lu.0].clone(), back.leaves[lv.0].clone())
                };
                let (value, gu, gv) = f(&uu, &vv);
                let want = naive_loss(loss, t as f64, &uu, &vv, d, rows, c);
                assert!((value as f64 - want).abs() < 1e-4, "{loss:?} {name} corr={}: {value} vs {want}", !c.is_empty());
                let eps = 1e-2f32;
                for (which, base, g) in [("u", &uu, &gu), ("v", &vv, &gv)] {
                    for k in 0..base.len() {
                        let mut x = base.clone();
                        x[k] += eps;
                        let lp = if which == "u" { f(&x, &vv).0 } else { f(&uu, &x).0 };
                        x[k] -= 2.0 * eps;
                        let lm = if which == "u" { f(&x, &vv).0 } else { f(&uu, &x).0 };
                        let num = (lp - lm) / (2.0 * eps);
                        assert!((g[k] - num).abs() < 2e-3 + 2e-2 * num.abs(), "{loss:?} {name} d/d{which}[{k}]: {} vs {num}", g[k]);
                    }
                }
            }
        }
    }
}

/// The fused in-batch softmax row gives the general path's bits: loss and gradient, with and
/// without logQ, on a batch whose width is not a multiple of 8 and with sampled columns past it.
#[test]
fn the_fused_softmax_row_gives_the_general_paths_bits() {
    use super::loss::{logits_row, row_loss, softmax_in_batch_row};
    let (b, c) = (37usize, 45usize);
    let neg = NegRows { pos: (0..b as u32).collect(), in_batch: true, start: vec![0; b + 1], cols: Vec::new() };
    let corr: Vec<f32> = (0..c).map(|j| (j as f32 * 0.77).cos() - 0.5).collect();
    for r in [0, 5, 36] {
        for k in [&corr[..], &[][..]] {
            let logits: Vec<f32> = (0..c).map(|j| ((j * 31 + r * 7) as f32 * 0.913).sin() * 3.0).collect();
            let mut z = vec![0.0f32; c];
            let mut want = vec![0.0f32; c];
            logits_row(&logits, 1.0 / 0.07, k, &mut z);
            let lw = row_loss(Loss::Softmax, r, &mut z, &mut want, &neg, false, 1.0 / b as f32);
            let mut got = logits.clone();
            let lg = softmax_in_batch_row(&mut got, 1.0 / 0.07, k, r, b, 1.0 / b as f32);
            assert_eq!(lg.to_bits(), lw.to_bits(), "row {r}: loss {lg} vs {lw}");
            assert!(got.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()), "row {r}: {got:?}\n{want:?}");
            assert!(got[b..].iter().all(|&x| x == 0.0) && got[r] < 0.0);
        }
    }
}

/// A small feature table for encoder tests: 6 rows.
fn encoder_columns() -> Vec<FeatureColumn> {
    vec![
        FeatureColumn::Categorical { name: "genre".into(), cardinality: 3, values: vec![0, 2, 1, 2, 0, 1], labels: Vec::new() },
        FeatureColumn::MultiHot {
            name: "tags".into(),
            cardinality: 4,
            values: vec![vec![0, 3], vec![1], vec![], vec![2, 3, 1], vec![3], vec![0]],
            labels: Vec::new(),
        },
        FeatureColumn::Numeric { name: "year".into(), values: vec![1990.0, 2000.0, f32::NAN, 1995.0, 2010.0, 1980.0] },
    ]
}

/// Every encoder kind that owns embeddings passes a finite-difference check of the gradient
/// the input builder routes back to its table rows, for `loss = sum(c * block)`.
#[test]
fn every_encoder_passes_a_gradient_check() {
    use super::params::Pooling;
    let cols = encoder_columns();
    let text = [
        FeatureColumn::Text {
            name: "title".into(),
            values: ["Good Movie", "", "a good one", "movie night", "Night of the Good", "x"].map(String::from).to_vec(),
        },
        FeatureColumn::MultiHot {
            name: "genres".into(),
            cardinality: 3,
            values: vec![vec![0], vec![1, 2], vec![], vec![2], vec![0, 1], vec![]],
            labels: ["Sci-Fi", "Drama", "War"].map(String::from).to_vec(),
        },
    ];
    let present = vec![true; 6];
    let bag = TextSettings { buckets: 13, encoder: TextEncoder::Bag, window: 3 };
    let conv = TextSettings { encoder: TextEncoder::Conv, window: 2, ..bag };
    let ids = [3u32, 0, 5, 3, 1];
    let hists: Vec<Vec<u32>> = vec![vec![1, 4], vec![], vec![2, 2, 0, 5], vec![3], vec![0, 1, 2, 3, 4, 5]];
    let hist_refs: Vec<&[u32]> = hists.iter().map(Vec::as_slice).collect();
    let rows = Rows { ids: &ids, history: &hist_refs, given: None };
    let mut store = ParamStore::new(3).unwrap();
    let items = store.table("item.id", 6, 4, crate::nn::Init::Normal(0.5)).unwrap();
    let cases: Vec<(&str, Input)> = vec![
        ("id", Input::Id),
        ("categorical", Input::Column { name: "genre", column: &cols[0] }),
        ("multi_hot", Input::Column { name: "tags", column: &cols[1] }),
        ("history", Input::History { table: items, len: 3, pooling: Pooling::Mean, decay: 0.8 }),
        ("history", Input::History { table: items, len: 3, pooling: Pooling::Recency, decay: 0.5 }),
        // 13 buckets: trigrams collide, and a repeated bucket's gradient must add up.
        ("text", Input::Text { columns: vec![("title", &text[0]), ("genres", &text[1])], text: bag }),
        ("text_history", Input::TextHistory { columns: vec![("title", &text[0])], n_items: 6, len: 2, text: bag }),
        ("conv_text", Input::Text { columns: vec![("title", &text[0]), ("genres", &text[1])], text: conv }),
        ("conv_text", Input::TextHistory { columns: vec![("title", &text[0])], n_items: 6, len: 2, text: conv }),
    ];
    let mut seen_kinds = Vec::new();
    for (kind, input) in &cases {
        let e = encoders::build(input, &mut Build { store: &mut store, side: "user", n_rows: 6, dim: 4, present: &present }).unwrap();
        assert_eq!(e.kind(), *kind);
        seen_kinds.push(e.kind());
        let block = |s: &ParamStore| -> InputBuilder {
            let mut b = InputBuilder::new(ids.len());
            e.push(s, &rows, &mut b);
            b
        };
        let b0 = block(&store);
        assert_eq!(b0.cols(), e.width());
        // The forward pass the gradient belongs to (the conv encoder remembers its max).
        b0.build(&store);
        let c: Vec<f32> = (0..ids.len() * e.width()).map(|k| ((k as f32) * 0.77).cos()).collect();
        let loss = |s: &ParamStore| -> f64 { block(s).build(s).iter().zip(&c).map(|(x, c)| (x * c) as f64).sum() };
        let mut grads: Vec<(TableId, SparseGrad)> = Vec::new();
        b0.scatter(&c, &mut grads);
        assert_eq!(grads.len(), 1, "{kind}: one table");
        let (table, g) = &grads[0];
        let n = store.get_table(*table).data.len();
        let dim = store.get_table(*table).dim;
        let eps = 1e-2f32;
        for k in 0..n {
            let (row, col) = ((k / dim) as u32, k % dim);
            let analytic = g.row_grad(row).map_or(0.0, |r| r[col]);
            let orig = store.get_table(*table).data[k];
            store.table_mut(*table).data[k] = orig + eps;
            let lp = loss(&store);
            store.table_mut(*table).data[k] = orig - eps;
            let lm = loss(&store);
            store.table_mut(*table).data[k] = orig;
            let num = ((lp - lm) / (2.0 * eps as f64)) as f32;
            assert!((analytic - num).abs() < 1e-3, "{kind} {input_kind} table row {row} col {col}: {analytic} vs {num}", input_kind = e.kind());
        }
    }
    // Recency pooling weighs newer items more: row 2's bag is [2, 0, 5] (the last 3), so with
    // decay 0.5 item 5 has weight 4/7, item 0 2/7 and item 2 1/7.
    let b = crate::nn::Bags::recency_weighted(&hist_refs, 3, 0.5);
    let w: Vec<f32> = b.weights[6..9].to_vec();
    assert!((w[0] - 1.0 / 7.0).abs() < 1e-6 && (w[1] - 2.0 / 7.0).abs() < 1e-6 && (w[2] - 4.0 / 7.0).abs() < 1e-6, "{w:?}");
    // The numeric encoder has no parameters: its block is the standardised columns (missing
    // values 0), a vector column giving one column per dimension, and nothing flows back.
    let genome = [1.0, 7.0, 2.0, 7.0, 3.0, 7.0, 4.0, 7.0, 5.0, 7.0, f32::NAN, 7.0];
    let num = encoders::build(
        &Input::Numeric(vec![("year", &[1990.0, 2000.0, f32::NAN, 1995.0, 2010.0, 1980.0], 1), ("genome", &genome, 2)]),
        &mut Build { store: &mut store, side: "item", n_rows: 6, dim: 4, present: &present },
    )
    .unwrap();
    seen_kinds.push(num.kind());
    assert_eq!(num.width(), 3);
    let mut b = InputBuilder::new(6);
    num.push(&store, &Rows { ids: &[0, 1, 2, 3, 4, 5], history: &[], given: None }, &mut b);
    let x = b.build(&store);
    let col = |c: usize| -> Vec<f32> { (0..6).map(|r| x[r * 3 + c]).collect() };
    let standardised = |v: &[f32]| {
        let mean: f32 = v.iter().sum::<f32>() / v.len() as f32;
        let var: f32 = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f32>() / v.len() as f32;
        mean.abs() < 1e-5 && (var - 1.0).abs() < 1e-4
    };
    let (year, g0, g1) = (col(0), col(1), col(2));
    assert!(standardised(&[year[0], year[1], year[3], year[4], year[5]]) && year[2] == 0.0, "{x:?}");
    assert!(standardised(&g0[..5]) && g0[5] == 0.0 && g0[0] < g0[4], "{x:?}");
    assert!(g1.iter().all(|&v| v == 0.0), "a constant dimension carries nothing: {x:?}");
    let mut grads = Vec::new();
    b.scatter(&[1.0; 18], &mut grads);
    assert!(grads.is_empty());
    // Every registered kind was exercised.
    for k in encoders::KINDS {
        assert!(seen_kinds.contains(&k.name), "encoder kind `{}` has no test", k.name);
    }
}

/// A tower's input is its encoders' blocks side by side: a tower of id + multi-hot + history
/// is as wide as the three together, and each block equals the encoder's output alone.
#[test]
fn encoders_compose_into_a_tower_input() {
    let (mut ds, split) = planted(40, 30, 3, 6, 9);
    ds.user_features = FeatureTable {
        columns: vec![FeatureColumn::MultiHot {
            name: "likes".into(),
            cardinality: 5,
            values: (0..40).map(|u| vec![u % 5, (u + 1) % 5]).collect(),
            labels: Vec::new(),
        }],
    };
    let p = params(serde_json::json!({"embedding_dim": 6, "hidden": [8], "dim": 4, "user": {"id": true, "features": ["likes"], "history": 3}}));
    let mut store = ParamStore::new(1).unwrap();
    let present = vec![true; 40];
    let items = store.table("item.id", 30, 6, crate::nn::Init::Normal(0.1)).unwrap();
    let tower = super::tower::Tower::build(&mut store, "user", &p.user, &p, 40, &ds.user_features, &present, Some(items), None).unwrap();
    let kinds: Vec<&str> = tower.encoders.iter().map(|e| e.kind()).collect();
    assert_eq!(kinds, ["id", "multi_hot", "history"]);
    assert_eq!(tower.input_width(), 18);
    assert_eq!(tower.mlp.hidden[0].0.inp, 18);
    let ids = [0u32, 7, 39];
    let hs: Vec<&[u32]> = vec![&[1, 2], &[], &[4, 5, 6, 7]];
    let rows = Rows { ids: &ids, history: &hs, given: None };
    let whole = tower.input(&store, &rows).build(&store);
    let mut off = 0;
    for e in &tower.encoders {
        let mut b = InputBuilder::new(3);
        e.push(&store, &rows, &mut b);
        let part = b.build(&store);
        for r in 0..3 {
            assert_eq!(&whole[r * 18 + off..r * 18 + off + e.width()], &part[r * e.width()..(r + 1) * e.width()], "{} block of row {r}", e.kind());
        }
        off += e.width();
    }
    let _ = split;
}

/// One negatives path: without a `[sampler]`, softmax takes the other rows of the batch and
/// bce / bpr take `negatives` items drawn uniformly over the whole catalogue (chi-square),
/// shared by every row except where an item is the row's own positive.
#[test]
fn default_negatives_are_in_batch_and_shared_uniform() {
    let (_, split) = planted(60, 50, 5, 8, 2);
    let log_q = vec![0.0f32; 50];
    let users: Vec<u32> = (0..8).collect();
    let pos: Vec<u32> = vec![3, 7, 7, 10, 11, 12, 20, 49];
    let soft = params(serde_json::json!({"loss": "softmax"}));
    let mut n = Negatives::new(&soft, None, &split, 1).unwrap();
    let c = n.step(&users, &pos, &NoScorer, &log_q).unwrap();
    assert_eq!(c.items, pos);
    assert!(c.neg.in_batch && c.neg.cols.is_empty());
    assert_eq!(n.notes()["sampler"], "in_batch");
    for loss in ["bce", "bpr"] {
        let p = params(serde_json::json!({"loss": loss, "negatives": 16}));
        let mut n = Negatives::new(&p, None, &split, 1).unwrap();
        assert_eq!(n.notes()["sampler"], "uniform");
        let mut counts = vec![0u64; 50];
        for _ in 0..2000 {
            let c = n.step(&users, &pos, &NoScorer, &log_q).unwrap();
            assert!(!c.neg.in_batch);
            // Every row's negatives are the shared draw without its own positive.
            let row = |r: usize| -> Vec<u32> {
                let mut v = Vec::new();
                c.neg.each(r, |j| v.push(c.items[j]));
                v
            };
            // Rows differ only by their own positives: row r without s's positive is row s
            // without r's, and no row holds its own positive.
            let rows: Vec<Vec<u32>> = (0..8).map(row).collect();
            for r in 0..8 {
                assert!(!rows[r].contains(&pos[r]) && rows[r].len() <= 16, "row {r}: {:?}", rows[r]);
                for s in 0..8 {
                    let strip = |v: &[u32], x: u32| -> Vec<u32> {
                        let mut v: Vec<u32> = v.iter().copied().filter(|&i| i != x).collect();
                        v.sort_unstable();
                        v
                    };
                    assert_eq!(strip(&rows[r], pos[s]), strip(&rows[s], pos[r]), "rows {r} and {s}");
                }
            }
            // The whole draw: row 0's negatives plus its positive as often as row 1 (another
            // positive) holds it.
            let again = rows[1].iter().filter(|&&i| i == pos[0]).count();
            let draw: Vec<u32> = rows[0].iter().copied().chain(std::iter::repeat_n(pos[0], again)).collect();
            assert_eq!(draw.len(), 16);
            for i in draw {
                counts[i as usize] += 1;
            }
        }
        crate::sampling::testutil::assert_fits(&format!("{loss} default negatives"), &counts, &vec![1.0 / 50.0; 50]);
    }
}

/// `bce` and `bpr` accept the in-batch sampler with `negatives = 0`; without a sampler,
/// `negatives = 0` is an error naming the key and the way out.
#[test]
fn bce_and_bpr_train_on_in_batch_negatives_alone() {
    let (ds, split) = planted(300, 200, 10, 12, 4);
    for loss in ["bce", "bpr"] {
        let p = params(serde_json::json!({
            "dim": 16, "hidden": [32], "embedding_dim": 16, "batch_size": 64, "epochs": 10,
            "lr": 0.01, "loss": loss, "negatives": 0, "temperature": 0.2,
        }));
        let t = fit_with(&p, &ds, &split, 3, Some(&serde_json::json!({"kind": "in_batch"}))).unwrap();
        let r = test_recall(&t, &split);
        eprintln!("{loss} + in_batch, negatives 0: Recall@10 {r:.3}");
        assert!(r >= 0.2, "{loss}: Recall@10 {r:.3}");
        let e = fit(&p, &ds, &split, 3).unwrap_err().to_string();
        assert!(e.contains("negatives") && e.contains("in_batch"), "{e}");
    }
}

/// The CPU fast path (row blocks on host slices) computes the same step as dfdx's tape over
/// the whole batch: loss, every dense gradient and the gradients of both towers' inputs, for
/// a batch larger than one block, with in-batch softmax (logQ) and with shared bce negatives.
#[test]
fn host_step_matches_the_graph_step() {
    use super::step::{graph_step, host_step, StepInput, BLOCK};
    use super::tower::Tower;
    let (ds, split) = planted(400, 300, 10, 10, 6);
    let present_u = vec![true; 400];
    let present_i = vec![true; 300];
    let b = BLOCK + 61;
    let users: Vec<u32> = (0..b as u32).map(|i| (i * 7) % 400).collect();
    let positives: Vec<u32> = (0..b as u32).map(|i| (i * 13) % 300).collect();
    let hs: Vec<Vec<u32>> = (0..b).map(|r| (0..r % 5).map(|k| ((r * 3 + k) % 300) as u32).collect()).collect();
    let hr: Vec<&[u32]> = hs.iter().map(Vec::as_slice).collect();
    let log_q: Vec<f32> = (0..300).map(|i| -3.0 - (i % 7) as f32 * 0.1).collect();
    for (loss, act, normalize) in [("softmax", "relu", true), ("bce", "tanh", false), ("bpr", "relu", true)] {
        let p = params(serde_json::json!({
            "loss": loss, "activation": act, "normalize": normalize, "dim": 8, "hidden": [16, 12], "embedding_dim": 6,
            "negatives": 24, "logq_correction": true, "temperature": 0.3,
            "user": {"features": ["age"], "history": 4}, "item": {"features": ["genre", "tags", "year"]},
        }));
        let mut store = ParamStore::new(2).unwrap();
        let item = Tower::build(&mut store, "item", &p.item, &p, 300, &ds.item_features, &present_i, None, None).unwrap();
        let user = Tower::build(&mut store, "user", &p.user, &p, 400, &ds.user_features, &present_u, item.id_table, None).unwrap();
        assert!(super::step::host_ready(&user, &item));
        let mut negs = Negatives::new(&p, None, &split, 3).unwrap();
        let cand = negs.step(&users, &positives, &NoScorer, &log_q).unwrap();
        let ub = user.input(&store, &Rows { ids: &users, history: &hr, given: None });
        let ib = item.input(&store, &Rows { ids: &cand.items, history: &[], given: None });
        let input = StepInput { store: &store, user: &user, item: &item, ub: &ub, ib: &ib, cand: &cand, loss: p.loss, temperature: p.temperature, seed: 1 };
        let (h, g) = (host_step(&input), graph_step(&input).unwrap());
        assert!((h.loss - g.loss).abs() <= 1e-5 * g.loss.abs().max(1.0), "{loss}: loss {} vs {}", h.loss, g.loss);
        let close = |a: &[f32], b: &[f32], what: &str| {
            assert_eq!(a.len(), b.len(), "{loss} {what}");
            let scale = b.iter().fold(0.0f32, |m, x| m.max(x.abs())).max(1e-6);
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                assert!((x - y).abs() <= 1e-4 * scale, "{loss} {what}[{i}]: host {x} vs graph {y} (scale {scale})");
            }
        };
        close(&h.user_input, &g.user_input, "user input gradient");
        close(&h.item_input, &g.item_input, "item input gradient");
        assert_eq!(h.grads.dense.len(), g.grads.dense.len());
        for (id, x) in &h.grads.dense {
            let y = &g.grads.dense.iter().find(|(i, _)| i == id).unwrap().1;
            close(x, y, &store.param(*id).name);
        }
    }
}

/// Training on the fast path gives bit-identical losses and vectors with 1 and 2 threads
/// (blocks do not depend on the thread count and are reduced in order).
#[test]
fn training_is_identical_for_any_thread_count() {
    let (ds, split) = planted(300, 200, 10, 12, 8);
    let p = params(serde_json::json!({
        "dim": 16, "hidden": [32], "embedding_dim": 16, "batch_size": 300, "epochs": 3, "lr": 0.01,
        "dropout": 0.1, "user": {"history": 5},
    }));
    let fit_on = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| fit(&p, &ds, &split, 4).unwrap())
    };
    let (one, two) = (fit_on(1), fit_on(2));
    assert_eq!(one.notes["step_path"], "host");
    let losses = |t: &Trained| t.epochs.iter().map(|e| e.loss).collect::<Vec<_>>();
    assert_eq!(losses(&one), losses(&two));
    assert_eq!(one.items, two.items);
    assert_eq!(one.users, two.users);
}
