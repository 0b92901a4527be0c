use super::net::{backward, forward, position_loss, Grad, Layout, Loss, Shape};
use super::*;
use crate::data::{Dataset, Interaction, Split};
use crate::linalg;

fn small() -> (Layout, Vec<f32>, Vec<f32>) {
    let layout = Layout::new(Shape { d: 4, heads: 2, blocks: 2, max_len: 5 });
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(9);
    let mut dense = layout.init(&mut rng);
    // Non-trivial layer norms and biases, so their gradients are checked too.
    dense.iter_mut().enumerate().for_each(|(k, v)| *v += ((k * 37 % 11) as f32 - 5.0) / 40.0);
    let mut table = vec![0.0f32; 6 * 4];
    net::xavier(&mut table, 6, 4, &mut rng);
    (layout, dense, table)
}

/// The loss of one sequence with fixed negatives; dropout masks come from a fixed seed, so
/// they are the same in every call.
fn seq_loss(loss: Loss, layout: &Layout, dense: &[f32], table: &[f32], grad: Option<&mut Grad>) -> f64 {
    let items = [0u32, 3, 1, 4];
    let (targets, negs) = ([3u32, 1, 4, 2], [[5u32, 2], [0, 5], [2, 0], [5, 1]]);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(4);
    let tr = forward(layout, dense, table, &items, 0.3, true, &mut rng);
    let mut scratch = Grad::new(layout);
    let g = grad.unwrap_or(&mut scratch);
    let mut dout = vec![0.0f32; tr.out.len()];
    let total = (0..4).map(|t| position_loss(loss, &tr.out, table, 4, t, targets[t], &negs[t], 1.0, &mut dout, g)).sum();
    backward(layout, dense, &tr, &dout, g);
    total
}

/// Every gradient (positions, attention, feed-forward, layer norms, the item table through
/// both the input and the scores) against central differences, for both losses, with
/// dropout on.
#[test]
fn gradients_pass_finite_differences() {
    let (layout, dense, table) = small();
    for loss in [Loss::Bce, Loss::SampledSoftmax] {
        let mut g = Grad::new(&layout);
        seq_loss(loss, &layout, &dense, &table, Some(&mut g));
        let eps = 2e-3f32;
        let check = |what: &str, k: usize, analytic: f32, num: f64| {
            let tol = 3e-3 + 2e-2 * num.abs();
            assert!((analytic as f64 - num).abs() < tol, "{loss:?} {what} {k}: analytic {analytic} vs numeric {num}");
        };
        for k in 0..layout.len {
            let (mut plus, mut minus) = (dense.clone(), dense.clone());
            plus[k] += eps;
            minus[k] -= eps;
            let num = (seq_loss(loss, &layout, &plus, &table, None) - seq_loss(loss, &layout, &minus, &table, None)) / (2.0 * eps as f64);
            check("dense", k, g.dense[k], num);
        }
        let mut item_grad = vec![0.0f32; table.len()];
        for (&i, &at) in &g.rows {
            item_grad[i as usize * 4..(i as usize + 1) * 4].copy_from_slice(&g.row_data[at * 4..(at + 1) * 4]);
        }
        for k in 0..table.len() {
            let (mut plus, mut minus) = (table.clone(), table.clone());
            plus[k] += eps;
            minus[k] -= eps;
            let num = (seq_loss(loss, &layout, &dense, &plus, None) - seq_loss(loss, &layout, &dense, &minus, None)) / (2.0 * eps as f64);
            check("item", k, item_grad[k], num);
        }
        // The positions the input never reaches (0 of 5) get no gradient; the rest some.
        assert!(g.dense[..4].iter().all(|&x| x == 0.0) && g.dense[4..20].iter().any(|&x| x.abs() > 1e-3));
    }
}

/// Changing a later item never changes an earlier position's output.
#[test]
fn attention_is_causal() {
    let (layout, dense, table) = small();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
    let a = forward(&layout, &dense, &table, &[0, 3, 1, 4], 0.0, false, &mut rng);
    for last in [2u32, 5] {
        let b = forward(&layout, &dense, &table, &[0, 3, 1, last], 0.0, false, &mut rng);
        assert_eq!(a.out[..12], b.out[..12], "positions 0..3 moved when item 3 changed");
        assert_ne!(a.out[12..], b.out[12..], "the changed position itself must move");
    }
    let c = forward(&layout, &dense, &table, &[0, 3, 5, 4], 0.0, false, &mut rng);
    assert_eq!(a.out[..8], c.out[..8]);
    assert_ne!(a.out[8..12], c.out[8..12]);
}

#[test]
fn windows_make_every_item_but_the_first_a_target_once() {
    for len in 0..12usize {
        let seqs = vec![(0..len as u32).collect::<Vec<_>>(), vec![7]];
        let w = windows(&seqs, 3);
        let mut targets: Vec<usize> = w.iter().flat_map(|w| w.start + 1..w.end).collect();
        targets.sort_unstable();
        assert_eq!(targets, (1..len.max(1)).collect::<Vec<_>>(), "len {len}: {w:?}");
        assert!(w.iter().all(|w| w.user == 0 && w.end - w.start >= 2 && w.end - w.start <= 4));
    }
}

/// Every user walks one of 4 cycles of 10 items from a random start; the item after a
/// user's last training item is unseen, and only the order says which it is (a model of the
/// user's cluster alone guesses among the 4 unseen items of the cycle).
fn cycles(users: u32, len: usize, seed: u64) -> (Split, Vec<u32>) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let (mut train, mut next) = (Vec::new(), Vec::new());
    for user in 0..users {
        let (c, o) = (user % 4, rand::Rng::gen_range(&mut rng, 0..10u32));
        for t in 0..len as u32 {
            train.push(Interaction { user, item: c * 10 + (o + t) % 10, rating: 1.0, ts: t as i64 });
        }
        next.push(c * 10 + (o + len as u32) % 10);
    }
    (Split { n_users: users as usize, n_items: 40, train, ..Default::default() }, next)
}

fn model(epochs: usize) -> SasRec {
    SasRec(SasRecParams { dim: 16, blocks: 1, heads: 2, max_len: 6, dropout: 0.1, lr: 0.01, batch_size: 32, epochs, ..Default::default() })
}

#[test]
fn learns_planted_order_with_the_same_bits_on_any_thread_count() {
    let (split, next) = cycles(160, 6, 2);
    let ds = Dataset::default();
    let fit = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| model(30).fit(&TrainInput::new(&ds, &split, None, 5)).unwrap())
    };
    let t = fit(1);
    assert_eq!((t.items.rows, t.items.cols, t.users.rows), (40, 16, 160));
    assert!(t.epochs.last().unwrap().loss < 0.5 * t.epochs[0].loss, "{:?}", t.epochs.iter().map(|e| e.loss).collect::<Vec<_>>());
    let seen = crate::models::item_space::user_items(&split);
    let hits = (0..160usize)
        .filter(|&u| {
            let best = (0..40u32)
                .filter(|i| seen[u].binary_search(i).is_err())
                .max_by(|&a, &b| linalg::dot(t.users.row(u), t.items.row(a as usize)).total_cmp(&linalg::dot(t.users.row(u), t.items.row(b as usize))))
                .unwrap();
            best == next[u]
        })
        .count();
    assert!(hits as f64 >= 0.9 * 160.0, "next item first for {hits} of 160 users");
    let t4 = fit(4);
    assert!(t4.items == t.items && t4.users == t.users, "4 threads must give 1 thread's bits");
}

/// Stopped after 2 of 4 epochs and resumed from the checkpoint (weights, item table and
/// Adam's state): the same bits as an uninterrupted training.
#[test]
fn stopped_then_resumed_equals_uninterrupted() {
    let (split, _) = cycles(40, 8, 1);
    let ds = Dataset::default();
    let m = model(4);
    let whole = m.fit(&TrainInput::new(&ds, &split, None, 3)).unwrap();
    let first = m.fit(&TrainInput { stop_epoch: Some(2), ..TrainInput::new(&ds, &split, None, 3) }).unwrap();
    let c = first.checkpoint.expect("stopped early");
    assert_ne!(first.items, whole.items);
    let rest = m.fit(&TrainInput { resume: Some(&c), ..TrainInput::new(&ds, &split, None, 3) }).unwrap();
    assert!(rest.items == whole.items && rest.users == whole.users);
    assert_eq!(rest.epochs.iter().map(|e| e.epoch).collect::<Vec<_>>(), vec![3, 4]);
}

#[test]
fn items_without_training_pairs_and_the_hard_sampler() {
    let (mut split, _) = cycles(40, 5, 1);
    split.n_items = 41;
    let ds = Dataset::default();
    let t = model(1).fit(&TrainInput::new(&ds, &split, None, 1)).unwrap();
    assert!(t.items.row(40).iter().all(|&x| x == 0.0));
    assert!(t.items.row(0).iter().any(|&x| x != 0.0));
    let hard = json!({"kind": "hard", "pool": 5});
    let err = model(1).fit(&TrainInput { sampler: Some(&hard), ..TrainInput::new(&ds, &split, None, 1) }).err().expect("hard has no user query");
    assert!(format!("{err:#}").contains("hard"), "{err:#}");
}

#[test]
fn params_and_registry() {
    let (p, canon) = params::canonical::<SasRecParams>(&serde_json::Value::Null).unwrap();
    assert_eq!(p, SasRecParams::default());
    assert_eq!((canon["max_len"].as_u64(), canon["loss"].as_str()), (Some(50), Some("bce")));
    for (bad, key) in [
        (json!({"dim": 0}), "dim"),
        (json!({"heads": 3}), "heads"),
        (json!({"dropout": 1.0}), "dropout"),
        (json!({"negatives": 0}), "negatives"),
        (json!({"max_len": 0}), "max_len"),
        (json!({"loss": "ce"}), "loss"),
        (json!({"layers": 2}), "layers"),
    ] {
        assert_eq!((KIND.parse)(&bad).err().unwrap().path, key, "{bad}");
    }
    let (m, _) = (KIND.parse)(&json!({"loss": "sampled_softmax", "negatives": 20})).unwrap();
    assert!(m.uses_sampler() && m.learns_embeddings() && m.epoch_key() == Some("epochs"));
}

/// The network from the train entry's weights, run on a user's own history (longer than
/// `max_len`: the tail is what training read), gives the cached user vector bit for bit;
/// another history another vector; features and an empty history are refused.
#[test]
fn the_network_online_equals_the_cached_user_vectors() {
    let (split, _) = cycles(40, 9, 3);
    let ds = std::sync::Arc::new(Dataset::default());
    let m = model(3);
    let t = m.fit(&TrainInput::new(&ds, &split, None, 2)).unwrap();
    let q = m.online(ds.clone(), &split, 2, t.weights.as_ref().expect("sasrec keeps its weights")).unwrap().expect("sasrec runs online");
    let seqs = split.by_user(&split.train);
    let none = serde_json::Map::new();
    for (u, s) in seqs.iter().enumerate() {
        assert!(s.len() > 6);
        let v = q.query(&crate::models::UserQuestion { user: None, history: Some(s), features: &none }).unwrap();
        assert_eq!(v, t.users.row(u), "user {u}");
    }
    let other = q.query(&crate::models::UserQuestion { user: None, history: Some(&[1, 2]), features: &none }).unwrap();
    assert_ne!(other, t.users.row(0));
    let f = serde_json::json!({"age": 3}).as_object().unwrap().clone();
    for (h, f, says) in [(Some(&[1u32][..]), &f, "no user features"), (Some(&[][..]), &none, "at least one item")] {
        let e = q.query(&crate::models::UserQuestion { user: None, history: h, features: f }).unwrap_err();
        assert!(e.downcast_ref::<crate::models::BadQuestion>().is_some() && format!("{e}").contains(says), "{e}");
    }
}
