//! `kind = "bpr"`: matrix factorisation trained by Bayesian Personalized Ranking (Rendle et
//! al. 2009) with stochastic gradient descent, as the `implicit` library's `BayesianPersonalizedRanking`.
//!
//! Each step draws a training pair `(u, i)` uniformly from the training interactions and a
//! negative `j`, and ascends `ln σ(x_uij) - reg (‖x_u‖² + ‖y_i‖² + ‖y_j‖²)` with `x_uij =
//! x_u·(y_i - y_j) + b_i - b_j`. An epoch is as many steps as there are training
//! interactions. The item bias `b` rides in one more dimension (the user's is fixed at 1), so
//! the trained vectors rank by the full score through the shared index.
//!
//! Negatives come from the `[sampler]` section when the config has one, else `uniform`. A
//! negative the user trained on is no negative: that step is skipped (as `implicit` does with `verify_negative_samples`), and
//! the share skipped is kept in the notes.
//!
//! Threads update the shared tables without locks (Hogwild, Niu et al. 2011): each thread
//! runs its share of an epoch's steps with its own random stream and sampler, reading and
//! writing rows through relaxed atomics, so concurrent updates may overwrite one another as
//! in the original scheme. One thread (`threads = 1`) updates the rows in place instead (no
//! other thread can see them half-written), with the same arithmetic, and is reproducible bit
//! for bit.
//!
//! Initialisation as `implicit`: factors and item biases uniform in `(-0.5, 0.5) / factors`,
//! zero for an item without training interactions; user biases 1. The loss in `epochs` is the
//! mean of `-ln σ(x_uij)` over the epoch's steps.

use super::{valid_recall, Checkpoint, EpochLog, Model, ModelKind, TrainInput, Trained};
use crate::ensure_param;
use crate::index::Metric;
use crate::linalg::Matrix;
use crate::params::{self, ParamError, Validate};
use crate::sampling::{self, derive_seed, Batch, Catalog, Scorer};
use anyhow::{anyhow, Result};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Instant;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BprParams {
    pub factors: usize,
    pub lr: f64,
    pub regularization: f64,
    pub epochs: usize,
    /// 0 = all cores; 1 is reproducible bit for bit.
    pub threads: usize,
}

impl Default for BprParams {
    fn default() -> Self {
        // `implicit`'s regularisation; 64 factors like the other models; half `implicit`'s
        // 100 epochs at 5x its learning rate (0.01), to keep the default run short.
        BprParams { factors: 64, lr: 0.05, regularization: 0.01, epochs: 50, threads: 0 }
    }
}

impl Validate for BprParams {
    fn validate(&self) -> Result<(), ParamError> {
        ensure_param!(self.factors >= 1 && self.factors <= 4096, "factors", "must be between 1 and 4096, got {}", self.factors);
        ensure_param!(self.lr.is_finite() && self.lr > 0.0, "lr", "must be a positive number, got {}", self.lr);
        ensure_param!(self.regularization.is_finite() && self.regularization >= 0.0, "regularization", "must be >= 0, got {}", self.regularization);
        ensure_param!(self.epochs >= 1, "epochs", "must be at least 1, got {}", self.epochs);
        Ok(())
    }
}

pub struct Bpr(pub BprParams);

/// A row-major `f32` table that threads read and write without locks (Hogwild).
struct Table {
    cols: usize,
    data: Vec<AtomicU32>,
}

impl Table {
    fn new(rows: usize, cols: usize, mut init: impl FnMut(usize) -> f32) -> Self {
        Table { cols, data: (0..rows * cols).map(|k| AtomicU32::new(init(k % cols).to_bits())).collect() }
    }

    fn read(&self, r: usize, out: &mut [f32]) {
        for (o, a) in out.iter_mut().zip(&self.data[r * self.cols..(r + 1) * self.cols]) {
            *o = f32::from_bits(a.load(Ordering::Relaxed));
        }
    }

    /// The row's cache lines, for a later step.
    #[inline]
    fn prefetch(&self, r: usize) {
        for k in (r * self.cols..(r + 1) * self.cols).step_by(16) {
            prefetch(&self.data[k]);
        }
        prefetch(&self.data[(r + 1) * self.cols - 1]);
    }

    fn write(&self, r: usize, v: &[f32]) {
        for (a, x) in self.data[r * self.cols..(r + 1) * self.cols].iter().zip(v) {
            a.store(x.to_bits(), Ordering::Relaxed);
        }
    }

    /// Row `r` as a plain slice, for the one-thread path: no copies in and out through
    /// atomics (scalar loads and stores, three rows per step), and the step's arithmetic
    /// vectorises in place.
    ///
    /// # Safety
    /// No other access to row `r` while the slice lives: no other thread (callers hold the
    /// only training thread) and no other slice of the same row.
    #[allow(clippy::mut_from_ref)]
    unsafe fn row_mut(&self, r: usize) -> &mut [f32] {
        let row = &self.data[r * self.cols..(r + 1) * self.cols];
        // AtomicU32 has the size, alignment and bit validity of u32 (hence of f32's bits) and
        // sits in an UnsafeCell, so writing through a pointer from a shared borrow is allowed.
        std::slice::from_raw_parts_mut(row.as_ptr() as *mut f32, self.cols)
    }

    fn matrix(&self, rows: &[u32]) -> Matrix {
        let mut m = Matrix::zeros(rows.len(), self.cols);
        for (k, &r) in rows.iter().enumerate() {
            self.read(r as usize, m.row_mut(k));
        }
        m
    }

    fn from_matrix(m: &Matrix) -> Self {
        Table { cols: m.cols, data: m.data.iter().map(|x| AtomicU32::new(x.to_bits())).collect() }
    }

    fn into_matrix(self) -> Result<Matrix> {
        let rows = self.data.len() / self.cols;
        Matrix::from_vec(rows, self.cols, self.data.into_iter().map(|a| f32::from_bits(a.into_inner())).collect())
    }
}

/// The tables as a sampler sees the model (`hard` scores with them).
struct Tables<'a> {
    users: &'a Table,
    items: &'a Table,
    n_items: usize,
}

impl Scorer for Tables<'_> {
    fn item_vectors(&self) -> Result<Matrix> {
        Ok(self.items.matrix(&(0..self.n_items as u32).collect::<Vec<_>>()))
    }
    fn user_vectors(&self, users: &[u32]) -> Result<Matrix> {
        Ok(self.users.matrix(users))
    }
}

/// Whether a user trained on an item: the check on every drawn negative.
enum Seen {
    /// One bit per (user, item): a single load, where a binary search over the user's items is
    /// a chain of dependent loads (a third of the training time on MovieLens 100K).
    Bits { words: Vec<u64>, n_items: usize },
    /// Too many pairs for the bits: each user's sorted items, all users in one array (one
    /// offset load, then the user's items, rather than a `Vec` header and then its items).
    Lists { ptr: Vec<usize>, items: Vec<u32> },
}

/// Bits the dense form may take (64 MiB).
const SEEN_BITS: usize = 1 << 29;

impl Seen {
    fn new(catalog: &Catalog) -> Self {
        let n = catalog.n_users.saturating_mul(catalog.n_items);
        if n > SEEN_BITS {
            let mut ptr = Vec::with_capacity(catalog.n_users + 1);
            ptr.push(0);
            let mut items = Vec::new();
            for l in &catalog.user_items {
                items.extend_from_slice(l);
                ptr.push(items.len());
            }
            return Seen::Lists { ptr, items };
        }
        let mut words = vec![0u64; n.div_ceil(64)];
        for (u, items) in catalog.user_items.iter().enumerate() {
            for &i in items {
                let k = u * catalog.n_items + i as usize;
                words[k / 64] |= 1 << (k % 64);
            }
        }
        Seen::Bits { words, n_items: catalog.n_items }
    }

    #[inline]
    fn has(&self, u: u32, i: u32) -> bool {
        match self {
            Seen::Bits { words, n_items } => {
                let k = u as usize * n_items + i as usize;
                words[k / 64] >> (k % 64) & 1 == 1
            }
            Seen::Lists { ptr, items } => items[ptr[u as usize]..ptr[u as usize + 1]].binary_search(&i).is_ok(),
        }
    }

    /// The first of the two loads of [`Seen::Lists`] (the bits: the only one).
    #[inline]
    fn prefetch_offsets(&self, u: u32, i: u32) {
        match self {
            Seen::Bits { words, n_items } => prefetch(&words[(u as usize * n_items + i as usize) / 64]),
            Seen::Lists { ptr, .. } => prefetch(&ptr[u as usize]),
        }
    }

    /// The second: the user's items (reads the offset, prefetched earlier).
    #[inline]
    fn prefetch_items(&self, u: u32) {
        if let Seen::Lists { ptr, items } = self {
            if let Some(x) = items.get(ptr[u as usize]) {
                prefetch(x);
            }
        }
    }
}

/// Asks for the cache line holding `x`: a hint, no effect on results.
#[inline(always)]
fn prefetch<T>(x: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch has no architectural effect; SSE is in the x86-64 baseline.
    #[allow(unused_unsafe)]
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(x as *const T as *const i8);
    }
}

/// How many steps ahead the rows a step needs are prefetched (the offsets of the seen-item
/// check twice as far). On the 500,000-user table every step's user row and seen list is a
/// cache miss, and one step's misses would otherwise wait on the previous step's.
const AHEAD: usize = 8;

/// Steps handed to the sampler at once.
const BATCH: usize = 512;

/// What one thread's share of an epoch did: summed loss, steps taken, steps skipped.
#[derive(Default)]
struct Share {
    loss: f64,
    steps: u64,
    skipped: u64,
}

/// `Σ -ln σ(x)` over steps without a logarithm per step (glibc's `log1pf` was an eighth of
/// the training time): the σ's are multiplied in `f64` and the product's logarithm taken only
/// before it could underflow. `σ(x) = e / (1 + e)` from the `e = exp(x)` the step computes
/// anyway, exact in relative terms down to the smallest `e`.
struct LossSum {
    prod: f64,
    sum: f64,
}

impl LossSum {
    fn new() -> Self {
        LossSum { prod: 1.0, sum: 0.0 }
    }

    #[inline]
    fn add(&mut self, (x, e): (f32, f32)) {
        if e == 0.0 {
            // exp(x) underflowed (x below about -103): -ln σ(x) = -x to f32 precision.
            self.sum -= x as f64;
            return;
        }
        let e = e as f64;
        // e = inf (x above about 88) gives σ = NaN here: -ln σ(x) is 0 there.
        let s = if e.is_finite() { e / (1.0 + e) } else { 1.0 };
        self.prod *= s;
        // Each σ is at least about 1e-45, so the product stays a normal f64.
        if self.prod < 1e-250 {
            self.sum -= self.prod.ln();
            self.prod = 1.0;
        }
    }

    fn total(&self) -> f64 {
        self.sum - self.prod.ln()
    }
}

/// One SGD step on `(u, i, j)` (`i != j`); returns `x_uij` and `exp(x_uij)` (for [`LossSum`]). With one training thread
/// (`shared` false) the rows are updated in place; with several, each row is copied out through
/// the atomics, updated, and copied back (Hogwild).
#[allow(clippy::too_many_arguments)]
fn step(users: &Table, items: &Table, (u, i, j): (usize, usize, usize), lr: f32, reg: f32, buf: &mut [Vec<f32>; 3], shared: bool) -> (f32, f32) {
    if !shared {
        // SAFETY: the only training thread holds these three slices for this call alone; `u`
        // indexes the user table, `i` and `j` distinct rows of the item table.
        let (xu, yi, yj) = unsafe { (users.row_mut(u), items.row_mut(i), items.row_mut(j)) };
        return update(xu, yi, yj, lr, reg);
    }
    let [xu, yi, yj] = buf;
    users.read(u, xu);
    items.read(i, yi);
    items.read(j, yj);
    let loss = update(xu, yi, yj, lr, reg);
    users.write(u, xu);
    items.write(i, yi);
    items.write(j, yj);
    loss
}

/// The step's arithmetic on the three rows. Built for AVX2 when the CPU has it (eight lanes
/// rather than SSE2's four): the same operations in the same order, without FMA contraction, so
/// the result is bit-identical to the SSE2 build.
fn update(xu: &mut [f32], yi: &mut [f32], yj: &mut [f32], lr: f32, reg: f32) -> (f32, f32) {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2")]
        unsafe fn avx2(xu: &mut [f32], yi: &mut [f32], yj: &mut [f32], lr: f32, reg: f32) -> (f32, f32) {
            update_body(xu, yi, yj, lr, reg)
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked just above).
            return unsafe { avx2(xu, yi, yj, lr, reg) };
        }
    }
    update_body(xu, yi, yj, lr, reg)
}

/// The last dimension is the bias: the user's stays 1.
#[inline(always)]
fn update_body(xu: &mut [f32], yi: &mut [f32], yj: &mut [f32], lr: f32, reg: f32) -> (f32, f32) {
    let d = xu.len();
    let (yi, yj) = (&mut yi[..d], &mut yj[..d]);
    // x_u · (y_i - y_j) in eight interleaved partial sums (SIMD lanes rather than one serial
    // chain of adds).
    let mut acc = [0.0f32; 8];
    let (cu, ci, cj) = (xu.chunks_exact(8), yi.chunks_exact(8), yj.chunks_exact(8));
    let tail: f32 = cu.remainder().iter().zip(ci.remainder()).zip(cj.remainder()).map(|((u, i), j)| u * (i - j)).sum();
    for ((u, i), j) in cu.zip(ci).zip(cj) {
        for k in 0..8 {
            acc[k] += u[k] * (i[k] - j[k]);
        }
    }
    let x = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail;
    // σ(-x) = 1 - σ(x): the gradient's weight.
    let e = x.exp();
    let z = 1.0 / (1.0 + e);
    // Every coordinate is updated from the old values (a loop without branches, which
    // vectorises); the user's bias coordinate is then put back to 1.
    for k in 0..d {
        let (u_k, i_k, j_k) = (xu[k], yi[k], yj[k]);
        xu[k] += lr * (z * (i_k - j_k) - reg * u_k);
        yi[k] += lr * (z * u_k - reg * i_k);
        yj[k] += lr * (-z * u_k - reg * j_k);
    }
    xu[d - 1] = 1.0;
    (x, e)
}

impl Model for Bpr {
    fn uses_sampler(&self) -> bool {
        true
    }

    fn fit(&self, input: &TrainInput) -> Result<Trained> {
        let p = &self.0;
        let split = input.split;
        anyhow::ensure!(split.n_items >= 2 && !split.train.is_empty(), "bpr: needs at least 2 items and one training interaction");
        let d = p.factors + 1;
        let (from, to) = input.span(p.epochs)?;
        // From the checkpoint's tables, or drawn: each epoch's random numbers come from
        // `(seed, epoch, thread)` alone, so a resumed training goes on bit for bit.
        let (users, items) = match (input.resumed_table("users", split.n_users, d)?, input.resumed_table("items", split.n_items, d)?) {
            (Some(u), Some(i)) => (Table::from_matrix(&u), Table::from_matrix(&i)),
            _ => {
                let mut rng = Xoshiro256PlusPlus::seed_from_u64(input.seed);
                let scale = 1.0 / p.factors as f32;
                let users = Table::new(split.n_users, d, |k| if k + 1 == d { 1.0 } else { (rng.gen::<f32>() - 0.5) * scale });
                // The item bias is drawn like the factors, and an item without training
                // interactions starts at zero, as `implicit` initialises them.
                let mut trained = vec![false; split.n_items];
                split.train.iter().for_each(|it| trained[it.item as usize] = true);
                let items = Table::new(split.n_items, d, |_| (rng.gen::<f32>() - 0.5) * scale);
                let zero = vec![0.0; d];
                for (i, _) in trained.iter().enumerate().filter(|(_, t)| !**t) {
                    items.write(i, &zero);
                }
                (users, items)
            }
        };
        let validation = valid_recall::for_logging(split);
        let all_items: Vec<u32> = (0..split.n_items as u32).collect();
        let mut valid_recalls = Vec::new();
        let catalog = Arc::new(Catalog::from_split(split));
        let seen = Seen::new(&catalog);
        let table = input.sampler.cloned().unwrap_or_else(|| json!({"kind": "uniform"}));
        let threads = if p.threads == 0 { rayon::current_num_threads() } else { p.threads }.max(1);
        let pairs: Vec<(u32, u32)> = split.train.iter().map(|it| (it.user, it.item)).collect();
        let scorer = Tables { users: &users, items: &items, n_items: split.n_items };
        let bar = crate::pipeline::progress::epochs("bpr", (to - from) as u64, input.progress);
        let (mut epochs, mut skipped, mut total) = (Vec::with_capacity(to - from), 0u64, 0u64);
        for epoch in from..to {
            let t = Instant::now();
            let shares: Vec<Result<Share>> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..threads)
                    .map(|th| {
                        let (catalog, table, pairs, scorer, users, items, seen) = (&catalog, &table, &pairs, &scorer, &users, &items, &seen);
                        let steps = pairs.len() / threads + usize::from(th < pairs.len() % threads);
                        let seed = derive_seed(input.seed, (epoch * threads + th) as u64 + 1);
                        s.spawn(move || -> Result<Share> {
                            let mut sampler = sampling::build(table, catalog, seed).map_err(|e| anyhow!("bpr: [sampler]: {e:#}"))?;
                            let mut rng = Xoshiro256PlusPlus::seed_from_u64(derive_seed(seed, 0xb9));
                            let mut buf = [vec![0.0f32; d], vec![0.0f32; d], vec![0.0f32; d]];
                            let (mut us, mut pos, mut neg) = (Vec::with_capacity(BATCH), Vec::with_capacity(BATCH), Vec::with_capacity(BATCH));
                            let mut share = Share::default();
                            let mut loss = LossSum::new();
                            let mut left = steps;
                            while left > 0 {
                                let n = left.min(BATCH);
                                left -= n;
                                us.clear();
                                pos.clear();
                                neg.clear();
                                for _ in 0..n {
                                    let (u, i) = pairs[rng.gen_range(0..pairs.len())];
                                    us.push(u);
                                    pos.push(i);
                                }
                                let shared = sampler.shared();
                                sampler.sample(&Batch { users: &us, positives: &pos }, if shared { n } else { 1 }, scorer, &mut neg)?;
                                for r in 0..n.min(2 * AHEAD) {
                                    seen.prefetch_offsets(us[r], neg[r]);
                                }
                                for r in 0..n.min(AHEAD) {
                                    seen.prefetch_items(us[r]);
                                    users.prefetch(us[r] as usize);
                                }
                                for r in 0..n {
                                    if r + 2 * AHEAD < n {
                                        seen.prefetch_offsets(us[r + 2 * AHEAD], neg[r + 2 * AHEAD]);
                                    }
                                    if r + AHEAD < n {
                                        let (u, i, j) = (us[r + AHEAD], pos[r + AHEAD], neg[r + AHEAD]);
                                        seen.prefetch_items(u);
                                        users.prefetch(u as usize);
                                        items.prefetch(i as usize);
                                        items.prefetch(j as usize);
                                    }
                                    let (u, i, j) = (us[r], pos[r], neg[r]);
                                    if j == i || seen.has(u, j) {
                                        share.skipped += 1;
                                        continue;
                                    }
                                    loss.add(step(
                                        users,
                                        items,
                                        (u as usize, i as usize, j as usize),
                                        p.lr as f32,
                                        p.regularization as f32,
                                        &mut buf,
                                        threads > 1,
                                    ));
                                    share.steps += 1;
                                }
                            }
                            share.loss = loss.total();
                            Ok(share)
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(anyhow!("bpr: a training thread panicked")))).collect()
            });
            let mut sum = Share::default();
            for sh in shares {
                let sh = sh?;
                sum.loss += sh.loss;
                sum.steps += sh.steps;
                sum.skipped += sh.skipped;
            }
            skipped += sum.skipped;
            total += sum.steps + sum.skipped;
            let loss = sum.loss / sum.steps.max(1) as f64;
            let seconds = t.elapsed().as_secs_f64();
            bar.set_message(format!("loss {loss:.4}"));
            bar.inc(1);
            epochs.push(EpochLog { epoch: epoch + 1, loss, seconds, throughput: (sum.steps + sum.skipped) as f64 / seconds.max(1e-9), ..Default::default() });
            if let Some(v) = &validation {
                let r = v.recall(&users.matrix(&v.users), &items.matrix(&all_items), valid_recall::LOG_K)?;
                valid_recalls.push(r);
                epochs.last_mut().expect("pushed above").valid.insert(valid_recall::note_key(), r);
            }
        }
        bar.finish_and_clear();
        let mut notes = serde_json::Map::new();
        notes.insert("threads".into(), json!(threads));
        notes.insert("skipped_negatives_share".into(), json!(skipped as f64 / total.max(1) as f64));
        if validation.is_some() {
            notes.insert(valid_recall::note_key(), json!(valid_recalls));
        }
        let (items, users) = (items.into_matrix()?, users.into_matrix()?);
        let checkpoint = (to < p.epochs).then(|| Checkpoint { epoch: to, tables: vec![("users".into(), users.clone()), ("items".into(), items.clone())] });
        Ok(Trained { items, users, metric: Metric::Ip, epochs, notes, checkpoint, weights: None })
    }

    fn epoch_key(&self) -> Option<&'static str> {
        Some("epochs")
    }
}

pub static KIND: ModelKind = ModelKind {
    kind: "bpr",
    about: "matrix factorisation by BPR (Rendle et al. 2009), SGD with lock-free threads; negatives from [sampler] (uniform by default)",
    // 2: the logged loss summed through products of σ (the vectors are as in 1); 3: item
    // biases drawn like the factors, untrained items start at zero (as `implicit`).
    version: 3,
    parse: |v| {
        let (p, canon) = params::canonical::<BprParams>(v)?;
        Ok((Box::new(Bpr(p)), canon))
    },
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Dataset, Split};
    use crate::models::planted::cluster_hits;

    /// 4 clusters of 10 items; every user's items stay in one cluster.
    fn planted() -> Split {
        crate::models::planted::split(80, 6, 4)
    }

    /// Stopped after 2 of 5 epochs and resumed from the checkpoint: the same bits as an
    /// uninterrupted training on one thread.
    #[test]
    fn stopped_then_resumed_equals_uninterrupted() {
        let split = planted();
        let model = Bpr(BprParams { factors: 8, epochs: 5, threads: 1, ..Default::default() });
        let ds = Dataset::default();
        let whole = model.fit(&TrainInput::new(&ds, &split, None, 3)).unwrap();
        let first = model.fit(&TrainInput { stop_epoch: Some(2), ..TrainInput::new(&ds, &split, None, 3) }).unwrap();
        let c = first.checkpoint.expect("stopped early");
        assert_ne!(first.items, whole.items);
        let rest = model.fit(&TrainInput { resume: Some(&c), ..TrainInput::new(&ds, &split, None, 3) }).unwrap();
        assert!(rest.items == whole.items && rest.users == whole.users);
        assert_eq!(rest.epochs.iter().map(|e| e.epoch).collect::<Vec<_>>(), vec![3, 4, 5]);
        assert!(whole.notes.get("valid_recall@10").is_none(), "no validation split, nothing logged");
    }

    #[test]
    fn recovers_planted_clusters_and_is_reproducible_on_one_thread() {
        let split = planted();
        let model = Bpr(BprParams { factors: 8, epochs: 30, threads: 1, ..Default::default() });
        let input =
            TrainInput { dataset: &Dataset::default(), split: &split, corpus: None, seed: 3, progress: false, sampler: None, resume: None, stop_epoch: None };
        let t = model.fit(&input).unwrap();
        assert_eq!((t.items.rows, t.items.cols, t.users.rows), (40, 9, 80));
        assert!(t.users.rows_iter().all(|r| r[8] == 1.0), "the user's bias dimension stays 1");
        assert!(t.epochs.last().unwrap().loss < 0.5 * t.epochs[0].loss, "{:?}", t.epochs.iter().map(|e| e.loss).collect::<Vec<_>>());
        assert!(cluster_hits(&t, &split) >= 0.95, "{}", cluster_hits(&t, &split));
        let again = model.fit(&input).unwrap();
        assert_eq!((again.items, again.users), (t.items.clone(), t.users.clone()));
        // Several threads, and a configured sampler, learn the clusters too.
        let sampler = json!({"kind": "frequency"});
        let many = Bpr(BprParams { threads: 3, ..model.0.clone() }).fit(&TrainInput { sampler: Some(&sampler), ..input }).unwrap();
        assert!(cluster_hits(&many, &split) >= 0.9, "{}", cluster_hits(&many, &split));
        let hard = json!({"kind": "hard", "pool": 10, "refresh_steps": 5});
        let h = Bpr(BprParams { threads: 2, ..model.0.clone() }).fit(&TrainInput { sampler: Some(&hard), ..input }).unwrap();
        assert!(h.items.first_non_finite_row().is_none());
    }

    #[test]
    fn loss_sum_is_the_sum_of_minus_log_sigmoids() {
        // Typical scores, many of them (the product is renormalised), and both extremes.
        let xs: Vec<f32> = (0..20_000).map(|k| (k % 200) as f32 * 0.37 - 30.0).chain([-120.0, -90.0, 95.0, 0.0]).collect();
        let mut s = LossSum::new();
        let mut direct = 0.0f64;
        for &x in &xs {
            s.add((x, x.exp()));
            let x = x as f64;
            direct += if x > 0.0 { (-x).exp().ln_1p() } else { -x + x.exp().ln_1p() };
        }
        assert!((s.total() - direct).abs() < 1e-8 * direct, "{} vs {direct}", s.total());
    }

    #[test]
    fn params_and_registry() {
        let (p, canon) = params::canonical::<BprParams>(&serde_json::Value::Null).unwrap();
        assert_eq!(p, BprParams::default());
        assert_eq!(canon["factors"], json!(64));
        for (bad, key) in [
            (json!({"factors": 0}), "factors"),
            (json!({"lr": 0.0}), "lr"),
            (json!({"epochs": 0}), "epochs"),
            (json!({"regularization": -1.0}), "regularization"),
            (json!({"negatives": 3}), "negatives"),
        ] {
            assert_eq!((KIND.parse)(&bad).err().unwrap().path, key, "{bad}");
        }
        let (m, _) = (KIND.parse)(&json!({})).unwrap();
        assert!(m.uses_sampler() && m.learns_embeddings() && !m.scores_items());
    }
}
