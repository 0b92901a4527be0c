use super::*;
use crate::data::{Dataset, Split};
use crate::models::planted::cluster_hits;

/// 4 clusters of 10 items; every user's items stay in one cluster.
fn planted() -> Split {
    crate::models::planted::split(80, 6, 4)
}

/// The batch gradient with respect to `E⁰` passes a finite-difference check of the loss
/// through two layers of propagation, the BPR term and the L2 term together.
#[test]
fn gradient_passes_finite_differences() {
    let g = NormGraph::new(3, 4, [(0u32, 0u32), (0, 1), (1, 1), (1, 2), (2, 0), (2, 3)]);
    let (n, d, layers, reg) = (7, 3, 2, 0.3f32);
    let e0 = Matrix { rows: n, cols: d, data: (0..n * d).map(|k| ((k * 53 % 17) as f32 - 8.0) / 9.0).collect() };
    let triples = [(0, 3 + 0, 3 + 2), (1, 3 + 2, 3 + 3), (2, 3 + 3, 3 + 1), (0, 3 + 1, 3 + 3)];
    let loss = |e0: &Matrix| batch_loss(&g, layers, reg, e0, &g.layer_mean(e0, layers), &triples).0;
    let (_, grad) = batch_loss(&g, layers, reg, &e0, &g.layer_mean(&e0, layers), &triples);
    let eps = 1e-3f32;
    for k in 0..n * d {
        let mut plus = e0.clone();
        plus.data[k] += eps;
        let mut minus = e0.clone();
        minus.data[k] -= eps;
        let num = (loss(&plus) - loss(&minus)) / (2.0 * eps as f64);
        assert!((grad.data[k] as f64 - num).abs() < 2e-3, "entry {k}: analytic {} vs numeric {num}", grad.data[k]);
    }
    assert!(grad.data.iter().any(|&x| x.abs() > 1e-3), "a gradient of zeros passes nothing");
}

fn model(epochs: usize) -> LightGcn {
    LightGcn(LightGcnParams { dim: 8, layers: 2, lr: 0.05, batch_size: 64, epochs, ..Default::default() })
}

#[test]
fn recovers_planted_clusters_with_the_same_bits_on_any_thread_count() {
    let split = planted();
    let ds = Dataset::default();
    let fit = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| model(20).fit(&TrainInput::new(&ds, &split, None, 5)).unwrap())
    };
    let t = fit(1);
    assert_eq!((t.items.rows, t.items.cols, t.users.rows), (40, 8, 80));
    assert!(t.epochs.last().unwrap().loss < 0.7 * t.epochs[0].loss, "{:?}", t.epochs.iter().map(|e| e.loss).collect::<Vec<_>>());
    assert!(cluster_hits(&t, &split) >= 0.95, "{}", cluster_hits(&t, &split));
    let t3 = fit(3);
    assert!(t3.items == t.items && t3.users == t.users, "3 threads must give 1 thread's bits");
}

/// Stopped after 2 of 5 epochs and resumed from the checkpoint (embeddings and Adam's state):
/// the same bits as an uninterrupted training.
#[test]
fn stopped_then_resumed_equals_uninterrupted() {
    let split = planted();
    let ds = Dataset::default();
    let m = model(5);
    let whole = m.fit(&TrainInput::new(&ds, &split, None, 3)).unwrap();
    let first = m.fit(&TrainInput { stop_epoch: Some(2), ..TrainInput::new(&ds, &split, None, 3) }).unwrap();
    let c = first.checkpoint.expect("stopped early");
    assert_ne!(first.items, whole.items);
    let rest = m.fit(&TrainInput { resume: Some(&c), ..TrainInput::new(&ds, &split, None, 3) }).unwrap();
    assert!(rest.items == whole.items && rest.users == whole.users);
    assert_eq!(rest.epochs.iter().map(|e| e.epoch).collect::<Vec<_>>(), vec![3, 4, 5]);
}

/// An item without training pairs gets a zero vector (retrieval leaves it out).
#[test]
fn items_without_pairs_get_zero_vectors() {
    let mut split = planted();
    split.n_items = 41;
    let t = model(1).fit(&TrainInput::new(&Dataset::default(), &split, None, 1)).unwrap();
    assert!(t.items.row(40).iter().all(|&x| x == 0.0));
    assert!(t.items.row(0).iter().any(|&x| x != 0.0));
}

#[test]
fn params_and_registry() {
    let (p, canon) = params::canonical::<LightGcnParams>(&serde_json::Value::Null).unwrap();
    assert_eq!(p, LightGcnParams::default());
    assert_eq!((canon["dim"].as_u64(), canon["layers"].as_u64()), (Some(64), Some(3)));
    for (bad, key) in [
        (json!({"dim": 0}), "dim"),
        (json!({"lr": 0.0}), "lr"),
        (json!({"batch_size": 0}), "batch_size"),
        (json!({"layers": 40}), "layers"),
        (json!({"factors": 3}), "factors"),
    ] {
        assert_eq!((KIND.parse)(&bad).err().unwrap().path, key, "{bad}");
    }
    let (m, _) = (KIND.parse)(&json!({})).unwrap();
    assert!(m.uses_sampler() && m.learns_embeddings() && m.epoch_key() == Some("epochs"));
}
