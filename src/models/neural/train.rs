//! The training loop of the neural towers: batches of (user, item) interactions, negatives from
//! one sampler ([`super::negatives`]), the fused loss ([`super::loss`]), sparse embedding
//! updates, and early stopping on validation Recall@K through the flat index and
//! [`crate::metrics`].
//!
//! During training an example's history is the items the user interacted with *before* that
//! example (the training split is sorted by time), so the target never leaks into its own
//! query; the final user query vectors use the last `history` training items.

use super::encoders::Rows;
use super::negatives::{Negatives, TowerScorer};
use super::params::TwoTowerParams;
use super::step;
use super::tower::Towers;
use crate::data::{Dataset, Split};
use crate::index::Metric;
use crate::linalg::Matrix;
use crate::models::valid_recall::Validation;
use crate::models::{Checkpoint, EpochLog, TrainInput, Trained};
use crate::nn::{OptimConfig, ParamStore};
use crate::sampling::{derive_seed, Catalog};
use anyhow::{anyhow, bail, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use std::sync::Arc;
use std::time::Instant;

/// Training interactions flattened per user: `items[start[u]..start[u + 1]]` in time order.
pub struct Histories {
    pub items: Vec<u32>,
    pub start: Vec<usize>,
}

impl Histories {
    pub fn new(split: &Split) -> Self {
        let mut start = vec![0usize; split.n_users + 1];
        for it in &split.train {
            start[it.user as usize + 1] += 1;
        }
        for u in 0..split.n_users {
            start[u + 1] += start[u];
        }
        let mut fill = start.clone();
        let mut items = vec![0u32; split.train.len()];
        for it in &split.train {
            items[fill[it.user as usize]] = it.item;
            fill[it.user as usize] += 1;
        }
        Histories { items, start }
    }

    pub fn of(&self, u: u32) -> &[u32] {
        &self.items[self.start[u as usize]..self.start[u as usize + 1]]
    }
}

/// Trains the model with the loss's default negatives and encodes every user and item.
pub fn fit(p: &TwoTowerParams, dataset: &Dataset, split: &Split, seed: u64) -> Result<Trained> {
    fit_with(p, dataset, split, seed, None)
}

/// [`fit`] with the canonical `[sampler]` table (with its `kind`) when the config has one.
pub fn fit_with(p: &TwoTowerParams, dataset: &Dataset, split: &Split, seed: u64, sampler: Option<&serde_json::Value>) -> Result<Trained> {
    let mut input = TrainInput::new(dataset, split, None, seed);
    input.sampler = sampler;
    train(p, &input)
}

/// Early stopping's state between epochs; with the parameters and the optimiser's state,
/// what a [`Checkpoint`] keeps so that a training stopped at an epoch goes on bit for bit.
#[derive(Default)]
struct Early {
    best: Option<(f64, usize, ParamStore)>,
    since_best: usize,
    /// Patience ran out: no more epochs, whatever the schedule says.
    stopped: bool,
    valid_recalls: Vec<f64>,
    /// The sampler's counts (a `hard` sampler's refreshes), summed over the epochs so far:
    /// carried by the checkpoint so that a resumed training reports the whole training's.
    counts: std::collections::BTreeMap<String, u64>,
}

/// f64s as pairs of f32 cells holding their bits (a checkpoint holds f32 arrays).
fn f64_cells(x: &[f64]) -> Vec<f32> {
    x.iter().map(|v| v.to_bits()).flat_map(|b| [f32::from_bits((b >> 32) as u32), f32::from_bits(b as u32)]).collect()
}

fn cells_f64(x: &[f32]) -> Vec<f64> {
    x.chunks_exact(2).map(|c| f64::from_bits(((c[0].to_bits() as u64) << 32) | c[1].to_bits() as u64)).collect()
}

fn checkpoint_of(epoch: usize, store: &ParamStore, early: &Early) -> Checkpoint {
    let mut tables: Vec<(String, Matrix)> = Vec::new();
    let mut put = |name: String, [rows, cols]: [usize; 2], data: Vec<f32>| tables.push((name, Matrix { rows, cols, data }));
    for (name, shape, data) in store.state() {
        put(name, shape, data);
    }
    let (best_r, best_epoch) = early.best.as_ref().map_or((0.0, 0), |(r, e, _)| (*r, *e));
    let flags = [early.stopped as u32, early.since_best as u32, best_epoch as u32, early.best.is_some() as u32];
    put("early".into(), [1, 4], flags.iter().map(|&x| f32::from_bits(x)).collect());
    let mut numbers = vec![best_r];
    numbers.extend(&early.valid_recalls);
    put("early_recalls".into(), [1, 2 * numbers.len()], f64_cells(&numbers));
    if let Some((_, _, best)) = &early.best {
        for (name, shape, data) in best.values() {
            put(format!("best_{name}"), shape, data);
        }
    }
    for (name, &n) in &early.counts {
        put(format!("count_{name}"), [1, 2], f64_cells(&[n as f64]));
    }
    Checkpoint { epoch, tables }
}

/// Restores the state [`checkpoint_of`] saved into `store` (built as the stopped training's
/// was) and returns early stopping's.
fn restore(c: &Checkpoint, store: &mut ParamStore) -> Result<Early> {
    let get = |prefix: &str, name: &str| c.tables.iter().find(|(n, _)| n.strip_prefix(prefix) == Some(name)).map(|(_, m)| ([m.rows, m.cols], m.data.clone()));
    let fresh = store.clone();
    store.restore(|name| get("", name)).map_err(|e| anyhow!("the checkpoint at epoch {} does not fit this model: {e:#}", c.epoch))?;
    let flags: Vec<u32> = get("", "early").map(|(_, d)| d.iter().map(|x| x.to_bits()).collect()).unwrap_or_default();
    anyhow::ensure!(flags.len() == 4, "the checkpoint at epoch {} holds no early-stopping state", c.epoch);
    let numbers = get("", "early_recalls").map(|(_, d)| cells_f64(&d)).unwrap_or_default();
    anyhow::ensure!(!numbers.is_empty(), "the checkpoint at epoch {} holds no validation history", c.epoch);
    let best = if flags[3] == 1 {
        let mut b = fresh;
        b.restore_values(|name| get("best_", name))
            .map_err(|e| anyhow!("the best copy in the checkpoint at epoch {} does not fit this model: {e:#}", c.epoch))?;
        Some((numbers[0], flags[2] as usize, b))
    } else {
        None
    };
    let counts = c.tables.iter().filter_map(|(n, m)| Some((n.strip_prefix("count_")?.to_string(), *cells_f64(&m.data).first()? as u64))).collect();
    Ok(Early { best, since_best: flags[1] as usize, stopped: flags[0] == 1, valid_recalls: numbers[1..].to_vec(), counts })
}

/// Trains `input`'s epochs of the schedule (all of them, or from its checkpoint to its
/// `stop_epoch`) and encodes every user and item. Each epoch's example order and negatives
/// come from `(seed, epoch)` alone (a sampler is built afresh for each epoch: a `hard` one
/// refreshes at every epoch's first step), so a training resumed from a checkpoint goes on exactly
/// as an uninterrupted one (on the host path, for any thread count: see [`step`]).
pub fn train(p: &TwoTowerParams, input: &TrainInput) -> Result<Trained> {
    let (dataset, split, seed, sampler) = (input.dataset, input.split, input.seed, input.sampler);
    let (n_users, n_items) = (split.n_users, split.n_items);
    if split.train.is_empty() {
        bail!("two_tower: the training split is empty");
    }
    if n_items == 0 || n_users == 0 {
        bail!("two_tower: the split has no users or items");
    }
    let hist = Histories::new(split);
    let mut item_count = vec![0u64; n_items];
    for it in &split.train {
        item_count[it.item as usize] += 1;
    }
    let total = split.train.len() as f64;
    let log_q: Vec<f32> = item_count.iter().map(|&c| ((c.max(1) as f64) / total).ln() as f32).collect();

    let Towers { mut store, item: item_tower, user: user_tower, history_len } = Towers::build(p, dataset, split, seed)?;
    let opt = OptimConfig { kind: p.optimizer, lr: p.lr, weight_decay: p.weight_decay, clip_norm: p.clip_norm, sparse: p.sparse_update, ..Default::default() };
    let (from, to) = input.span(p.epochs)?;

    // Early-stopping users.
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ 0x7470_7477_0000_0000);
    let early_on = p.patience > 0 && !split.valid.is_empty();
    let validation = early_on.then(|| {
        let mut us: Vec<u32> = split.valid.iter().map(|i| i.user).collect();
        us.dedup();
        us.shuffle(&mut rng);
        us.truncate(p.eval_users);
        us.sort_unstable();
        Validation::new(split, &us)
    });
    let hist_of = |u: u32| -> Vec<u32> {
        let h = hist.of(u);
        h[h.len().saturating_sub(history_len)..].to_vec()
    };
    let all_users: Vec<u32> = (0..n_users as u32).collect();
    let all_items: Vec<u32> = (0..n_items as u32).collect();
    // Checks the sampler before anything trains; each epoch draws from its own below.
    let catalog = Arc::new(Catalog::from_split(split));
    let mut negatives = Negatives::with_catalog(p, sampler, &catalog, seed)?;
    let fast = step::host_ready(&user_tower, &item_tower);

    let mut early = match input.resume {
        Some(c) => restore(c, &mut store)?,
        None => Early::default(),
    };
    let mut epochs = Vec::new();
    let mut global_step = store.step as u64;
    let mut step_secs: Vec<f64> = Vec::new();
    let bsz = p.batch_size.min(split.train.len()).max(1);
    // The loop runs on a worker of rayon's pool, so that each step's parallel phases start
    // and end on the pool's own threads instead of waking them from outside every time.
    rayon::scope(|_| -> Result<()> {
        for epoch in from..to {
            if early.stopped {
                break;
            }
            let t0 = Instant::now();
            let epoch_seed = derive_seed(seed, epoch as u64 + 1);
            let mut order: Vec<usize> = (0..split.train.len()).collect();
            order.shuffle(&mut Xoshiro256PlusPlus::seed_from_u64(epoch_seed));
            negatives = Negatives::with_catalog(p, sampler, &catalog, derive_seed(epoch_seed, 0x9c))?;
            let (mut loss_sum, mut n_ex) = (0.0f64, 0usize);
            step_secs.clear();
            for (step, chunk) in order.chunks(bsz).enumerate() {
                if chunk.len() < 2 {
                    continue;
                }
                let ts = Instant::now();
                let b = chunk.len();
                let users: Vec<u32> = chunk.iter().map(|&j| split.train[j].user).collect();
                let positives: Vec<u32> = chunk.iter().map(|&j| split.train[j].item).collect();
                let scorer = TowerScorer { store: &store, item_tower: &item_tower, user_tower: &user_tower, hist_of: &hist_of, all_items: &all_items };
                let cand = negatives.step(&users, &positives, &scorer, &log_q)?;
                // History before each example (the split is sorted by (user, ts)).
                let hists: Vec<&[u32]> = chunk
                    .iter()
                    .map(|&j| {
                        let u = split.train[j].user as usize;
                        let before = &hist.items[hist.start[u]..j];
                        &before[before.len().saturating_sub(history_len)..]
                    })
                    .collect();
                let ub = user_tower.input(&store, &Rows { ids: &users, history: &hists, given: None });
                let ib = item_tower.input(&store, &Rows { ids: &cand.items, history: &[], given: None });
                let step_seed = seed ^ global_step.wrapping_mul(0x9e37_79b9_7f4a_7c15);
                let input = step::StepInput {
                    store: &store,
                    user: &user_tower,
                    item: &item_tower,
                    ub: &ub,
                    ib: &ib,
                    cand: &cand,
                    loss: p.loss,
                    temperature: p.temperature,
                    seed: step_seed,
                };
                let mut out = if fast { step::host_step(&input) } else { step::graph_step(&input)? };
                if !out.loss.is_finite() || !out.grads.all_finite() {
                    bail!(
                        "two_tower: the loss became {} at epoch {} step {} (global step {}); training diverged, \
                             try a lower `lr` (now {}){}",
                        out.loss,
                        epoch + 1,
                        step + 1,
                        global_step + 1,
                        p.lr,
                        if p.clip_norm == 0.0 { " or set `clip_norm`" } else { "" }
                    );
                }
                ub.scatter(&out.user_input, &mut out.grads.sparse);
                ib.scatter(&out.item_input, &mut out.grads.sparse);
                store.apply_buffer_updates(out.buffer_updates);
                store.step(&mut out.grads, &opt);
                loss_sum += out.loss as f64 * b as f64;
                n_ex += b;
                global_step += 1;
                step_secs.push(ts.elapsed().as_secs_f64());
            }
            // Rows missed in the last steps still move on momentum under dense Adam: read
            // the tables (validation, the saved model) as it would have left them.
            store.catch_up(&opt);
            let secs = t0.elapsed().as_secs_f64();
            let mut log = EpochLog {
                epoch: epoch + 1,
                loss: loss_sum / n_ex.max(1) as f64,
                seconds: secs,
                throughput: n_ex as f64 / secs.max(1e-9),
                ..Default::default()
            };
            if let Some(validation) = &validation {
                let iv = item_tower.encode(&store, &all_items, &|_| Vec::new());
                let uv = user_tower.encode(&store, &validation.users, &hist_of);
                let r = validation.recall(&uv, &iv, p.eval_k)?;
                early.valid_recalls.push(r);
                log.valid.insert(format!("valid_recall@{}", p.eval_k), r);
                if early.best.as_ref().is_none_or(|(b, _, _)| r > *b) {
                    early.best = Some((r, epoch + 1, store.clone()));
                    early.since_best = 0;
                } else {
                    early.since_best += 1;
                    early.stopped = early.since_best >= p.patience;
                }
            }
            epochs.push(log);
            for (k, v) in negatives.sampler.notes() {
                *early.counts.entry(k).or_default() += v.as_u64().unwrap_or(0);
            }
        }
        Ok(())
    })?;
    let checkpoint = (to < p.epochs).then(|| checkpoint_of(to, &store, &early));
    let mut notes = serde_json::Map::new();
    if let Some((r, e, s)) = early.best {
        store = s;
        notes.insert("best_epoch".into(), e.into());
        notes.insert(format!("best_valid_recall@{}", p.eval_k), r.into());
        notes.insert(format!("valid_recall@{}", p.eval_k), early.valid_recalls.into());
    }
    notes.insert("parameters".into(), store.n_params().into());
    notes.extend(negatives.notes());
    notes.extend(early.counts.iter().map(|(k, &n)| (k.clone(), n.into())));
    notes.insert("step_path".into(), if fast { "host" } else { "graph" }.into());
    notes.insert("steps".into(), global_step.into());
    if !step_secs.is_empty() {
        // Median step time of the last epoch: robust to a busy machine, unlike the epoch mean.
        step_secs.sort_by(f64::total_cmp);
        notes.insert("last_epoch_median_step_ms".into(), (step_secs[step_secs.len() / 2] * 1e3).into());
    }
    let items = item_tower.encode(&store, &all_items, &|_| Vec::new());
    let users = user_tower.encode(&store, &all_users, &hist_of);
    if let Some(r) = items.first_non_finite_row().or(users.first_non_finite_row()) {
        bail!("two_tower: row {r} of the output vectors is not finite; try a lower `lr`");
    }
    // The weights go to the train entry: `runner serve` runs the user tower from them.
    let weights = Some(store.to_safetensors()?);
    Ok(Trained { items, users, metric: Metric::Ip, epochs, notes, checkpoint, weights })
}
