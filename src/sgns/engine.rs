//! The SGNS training loop.
//!
//! Examples are streamed straight from the corpus: for every sequence (optionally subsampled
//! into a reused per-thread buffer), every centre position and every context position in its
//! (optionally shrunk) window, the update is applied at once. Nothing is materialised per
//! pair and nothing is allocated inside the loop.
//!
//! Skip-gram takes word2vec.c's roles: a pair's input is the context item's centre row, its
//! targets the centre item's context row and the negatives, and consecutive pairs of one
//! window share a draw of negatives in groups of [`crate::sgns::SHARE_NEGATIVES`]
//! ([`skip_gram_window`]). `share_negatives = 1` is word2vec's algorithm.
//!
//! # Threads
//! One thread trains each epoch in corpus order on the calling thread, with one xoshiro256++
//! RNG seeded from `(seed, epoch)`; it is bit-exact for a seed (and a kernel choice: the AVX2
//! kernels use FMA, which rounds differently from the portable ones).
//!
//! More threads cut the corpus into `32 x threads` contiguous blocks of about equal token
//! counts; in each epoch the workers of a dedicated rayon pool pull the blocks in order from
//! a shared counter (a slow or descheduled thread delays the epoch by one block at most, not
//! by its whole share), each block with its own RNG seeded from `(seed, epoch, block)`.
//! How the workers share the tables is [`super::rows`]' subject: each trains its own copies
//! and merges them into the shared tables every few thousand tokens when the copies fit a
//! budget; otherwise the workers read and write the shared tables without locks (Hogwild,
//! like word2vec and gensim), where two threads may update the same row at once and one of
//! the two increments can be lost or mixed. That is a data race in the strict sense (the rows
//! are reached through raw pointers), tolerated because updates are sparse and tiny. Either
//! way, and because which worker pulls which block depends on timing, runs with
//! `threads > 1` are not reproducible; they also differ from a 1-thread run by design (other
//! RNG streams). Quality against one thread: experiments/item2vec_vs_gensim (RESULTS.md) and
//! the `multi_thread_trains_as_well_as_one` test.
//!
//! # Learning rate
//! Decays linearly from `lr` to `min_lr` over all epochs, by the position of the token in the
//! corpus (`epoch x corpus tokens + tokens before it`), as gensim's global progress does but
//! deterministic: a block's schedule does not depend on which thread trains it or when.
//!
//! # Scores
//! Scores are clamped to [-10, 10] and sigmoid / log-sigmoid read from 4097-entry tables, so
//! gradients are bounded by `lr` and neither loss nor update can become NaN or infinite.

use super::alias::AliasTable;
use super::blocks::{mix, split_blocks, Block, BLOCKS_PER_THREAD};
use super::kernels::{Avx2Fma, Kernels, Portable};
use super::rows::{copies_fit, merge_weights, sync_tokens, Replica, Rows};
use super::{Arch, EpochStats, SgnsConfig, SgnsOutput};
use crate::data::corpus::Corpus;
use crate::linalg::Matrix;
use anyhow::{bail, Context, Result};
use rand::{Rng, RngCore, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// Which row kernels to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum KernelChoice {
    /// AVX2 + FMA when the CPU has them, else portable.
    #[default]
    Auto,
    /// Baseline kernels (for measurements and cross-machine reproducibility).
    Portable,
}

/// How threads share the tables (see [`super::rows`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Sharing {
    /// Per-thread copies when they fit [`super::rows::COPY_BUDGET`], else Hogwild.
    #[default]
    Auto,
    /// Every thread writes the shared tables without locks (for measurements and tests).
    Hogwild,
    /// Per-thread copies whatever their size (for measurements and tests).
    Copies,
}

/// How the engine runs, not what it learns: for measurements and tests. The defaults are
/// what [`train`] uses.
#[derive(Clone, Copy, Debug)]
pub struct EngineOptions {
    pub kernels: KernelChoice,
    pub sharing: Sharing,
    /// Updates per row between merges of copies ([`super::rows::sync_tokens`]).
    pub stale_updates: usize,
    /// Rows counted this many times the mean merge the mean of the threads' moves
    /// ([`super::rows::merge_weights`]); 0 sums every row's moves.
    pub hub_multiple: f64,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            kernels: KernelChoice::Auto,
            sharing: Sharing::Auto,
            stale_updates: super::rows::STALE_UPDATES,
            hub_multiple: super::rows::HUB_MULTIPLE,
        }
    }
}

/// Trains with the best kernels available. See [`train_with`].
pub fn train(corpus: &Corpus, cfg: &SgnsConfig, on_epoch: &mut dyn FnMut(&EpochStats)) -> Result<SgnsOutput> {
    train_with(corpus, cfg, EngineOptions::default(), on_epoch)
}

/// Trains `cfg.epochs` epochs over `corpus`, calling `on_epoch` after each.
///
/// Errors on an empty corpus, an invalid corpus (token outside the vocabulary), invalid
/// settings, or (never seen, but checked) non-finite vectors at the end.
pub fn train_with(corpus: &Corpus, cfg: &SgnsConfig, opts: EngineOptions, on_epoch: &mut dyn FnMut(&EpochStats)) -> Result<SgnsOutput> {
    train_span(corpus, cfg, opts, Span { from: 0, to: cfg.epochs, tables: None }, on_epoch)
}

/// A part of the `cfg.epochs`-long schedule: epochs `from..to`, starting from `tables`
/// (centre, context) as they were after `from` epochs, or from the initialisation. Each
/// epoch's random numbers come from `(seed, epoch, block)` and its learning rate from its
/// place in the whole schedule, so on one thread the spans `0..k` then `k..n` give the bits
/// of `0..n`: a search's promoted trial resumes from its checkpoint.
pub struct Span {
    pub from: usize,
    pub to: usize,
    pub tables: Option<(Matrix, Matrix)>,
}

/// [`train_with`] over a [`Span`] of the schedule.
pub fn train_span(corpus: &Corpus, cfg: &SgnsConfig, opts: EngineOptions, span: Span, on_epoch: &mut dyn FnMut(&EpochStats)) -> Result<SgnsOutput> {
    cfg.check()?;
    if span.from > span.to || span.to > cfg.epochs {
        bail!("sgns: cannot train epochs {}..{} of {}", span.from, span.to, cfg.epochs);
    }
    corpus.validate().context("sgns: invalid corpus")?;
    if corpus.vocab_size == 0 || corpus.tokens.is_empty() {
        bail!("sgns: the corpus is empty");
    }
    let (vocab, dim) = (corpus.vocab_size, cfg.dim);
    let cells = vocab.checked_mul(dim).filter(|c| *c <= isize::MAX as usize / 8);
    let Some(cells) = cells else { bail!("sgns: {vocab} x {dim} tables are too large") };

    let total = corpus.tokens.len() as u64;
    let counts = corpus.counts();
    let alias = AliasTable::unigram(&counts, cfg.alpha)?;
    let keep = (cfg.sample > 0.0).then(|| keep_thresholds(&counts, cfg.sample, total));
    let tables = Tables::new();
    let inv_dist: Vec<f32> = (0..=cfg.window).map(|d| if d == 0 { 0.0 } else { 1.0 / d as f32 }).collect();

    let (mut centre, mut context) = match span.tables {
        Some((c, x)) if (c.rows, c.cols, x.rows, x.cols) == (vocab, dim, vocab, dim) => (c, x),
        Some((c, _)) => bail!("sgns: resumed tables are {}x{}, the corpus and dim need {vocab}x{dim}", c.rows, c.cols),
        None if span.from > 0 => bail!("sgns: starting at epoch {} needs the tables of that epoch", span.from),
        None => (initial_centre(vocab, dim, cells, cfg.seed)?, Matrix::zeros(vocab, dim)),
    };

    let threads = if cfg.threads == 0 { rayon::current_num_threads() } else { cfg.threads };
    // More threads than sequences would only add empty blocks.
    let threads = threads.min(corpus.len()).max(1);
    // One thread trains each epoch as one block (the bit-exact path); more threads pull many
    // small blocks in corpus order, so that none waits long for another at the end of an epoch.
    let blocks = split_blocks(corpus, if threads == 1 { 1 } else { threads * BLOCKS_PER_THREAD });
    let pool = if threads > 1 { Some(rayon::ThreadPoolBuilder::new().num_threads(threads).build().context("sgns: thread pool")?) } else { None };
    let use_avx2 = opts.kernels == KernelChoice::Auto && Avx2Fma::available();
    let merge = Mutex::new(());
    let copies = threads > 1
        && match opts.sharing {
            Sharing::Auto => copies_fit(vocab, dim, threads),
            Sharing::Hogwild => false,
            Sharing::Copies => true,
        };
    let weights = if copies { merge_weights(&counts, threads, opts.hub_multiple) } else { Vec::new() };

    let shared = Shared {
        corpus,
        cfg,
        alias: &alias,
        keep: keep.as_deref(),
        tables: &tables,
        inv_dist: &inv_dist,
        centre: Rows::new(&mut centre),
        context: Rows::new(&mut context),
        blocks: &blocks,
        inv_total: 1.0 / (total as f64 * cfg.epochs as f64),
        copies,
        // At least 16 merges per thread and epoch, so that a small corpus is not trained
        // for a whole epoch on stale copies.
        sync_every: sync_tokens(opts.stale_updates, vocab, cfg.window, cfg.negatives).min(total as usize / threads / 16).max(256),
        merge: &merge,
        weights: &weights,
    };
    let mut epochs = Vec::with_capacity(span.to - span.from);
    for epoch in span.from..span.to {
        let start = Instant::now();
        let next = AtomicUsize::new(0);
        // SAFETY: kernels chosen by detection; rows in bounds (corpus validated).
        let work = |_worker: usize| unsafe { run_worker_dispatch(use_avx2, &shared, epoch, &next) };
        let results: Vec<WorkerResult> = match &pool {
            None => vec![work(0)],
            Some(pool) => pool.install(|| (0..threads).into_par_iter().map(work).collect()),
        };
        let seconds = start.elapsed().as_secs_f64();
        let loss: f64 = results.iter().map(|r| r.loss).sum();
        let pairs: u64 = results.iter().map(|r| r.pairs).sum();
        let stats = EpochStats {
            epoch,
            loss: if pairs > 0 { loss / pairs as f64 } else { 0.0 },
            pairs,
            tokens: total,
            seconds,
            tokens_per_sec: total as f64 / seconds.max(1e-9),
            lr: results.iter().map(|r| r.lr).fold(f32::INFINITY, f32::min),
        };
        on_epoch(&stats);
        epochs.push(stats);
    }
    drop(shared);
    if let Some(r) = centre.first_non_finite_row().or_else(|| context.first_non_finite_row()) {
        bail!("sgns: training diverged (row {r} is not finite)");
    }
    Ok(SgnsOutput { centre, context, epochs })
}

/// The centre table before training: uniform in `[-1/d, 1/d)`, as gensim 4 draws it
/// (`prep_vectors`); the context table starts at zero.
///
/// word2vec.c and gensim 3 drew from `[-0.5/d, 0.5/d)`. The scale matters because the context
/// rows start at zero: the first updates of a context row are proportional to the centre rows
/// it meets, so twice the spread leaves the small-gradient start sooner, while the learning
/// rate is still high. With one epoch over node2vec walks of a hub-heavy graph the half-width
/// start scored measurably below gensim on the same walks, gensim's width did not
/// (experiments/node2vec_vs_pecanpy/results.md, "Hub-heavy graph").
fn initial_centre(vocab: usize, dim: usize, cells: usize, seed: u64) -> Result<Matrix> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let half = 1.0 / dim as f32;
    let mut data = Vec::with_capacity(cells);
    data.extend((0..cells).map(|_| rng.gen_range(-half..half)));
    Matrix::from_vec(vocab, dim, data)
}

/// A negative for `positive`: a draw from the alias table; when it equals the positive, draw
/// again (up to 32 times) if `redraw`, else skip (`None`, word2vec's behaviour). Never
/// returns `positive`.
#[inline(always)]
pub fn draw_negative<R: RngCore>(alias: &AliasTable, rng: &mut R, positive: u32, redraw: bool) -> Option<u32> {
    let t = alias.sample(rng);
    if t != positive {
        return Some(t);
    }
    if redraw {
        for _ in 0..32 {
            let t = alias.sample(rng);
            if t != positive {
                return Some(t);
            }
        }
    }
    None
}

const MAX_SCORE: f32 = 10.0;
const TABLE: usize = 4096;

/// Sigmoid and log-sigmoid on a uniform grid over [-MAX_SCORE, MAX_SCORE]; the grid is
/// symmetric, so entry `TABLE - k` is at minus the score of entry `k`.
struct Tables {
    sig: Vec<f32>,
    logsig: Vec<f32>,
}

impl Tables {
    fn new() -> Self {
        let x = |k: usize| -(MAX_SCORE as f64) + 2.0 * MAX_SCORE as f64 * k as f64 / TABLE as f64;
        let sig = (0..=TABLE).map(|k| (1.0 / (1.0 + (-x(k)).exp())) as f32).collect();
        let logsig = (0..=TABLE)
            .map(|k| {
                let x = x(k);
                (if x > 0.0 { -(-x).exp().ln_1p() } else { x - x.exp().ln_1p() }) as f32
            })
            .collect();
        Tables { sig, logsig }
    }

    /// Grid index of a score (NaN maps to 0, never out of range).
    #[inline(always)]
    fn index(s: f32) -> usize {
        const SCALE: f32 = TABLE as f32 / (2.0 * MAX_SCORE);
        let s = s.clamp(-MAX_SCORE, MAX_SCORE);
        (((s + MAX_SCORE) * SCALE + 0.5) as usize).min(TABLE)
    }
}

/// word2vec's subsampling: keep an item of count `c` with probability
/// `(sqrt(c / (sample * N)) + 1) * sample * N / c`, as thresholds on a u32 draw.
fn keep_thresholds(counts: &[u64], sample: f64, total: u64) -> Vec<u64> {
    let st = sample * total as f64;
    counts
        .iter()
        .map(|&c| {
            if c == 0 {
                return 0;
            }
            let p = ((c as f64 / st).sqrt() + 1.0) * st / c as f64;
            (p.min(1.0) * 4_294_967_296.0) as u64
        })
        .collect()
}

struct WorkerResult {
    loss: f64,
    pairs: u64,
    lr: f32,
}

struct Shared<'a> {
    corpus: &'a Corpus,
    cfg: &'a SgnsConfig,
    alias: &'a AliasTable,
    keep: Option<&'a [u64]>,
    tables: &'a Tables,
    inv_dist: &'a [f32],
    centre: Rows,
    context: Rows,
    /// What an epoch's workers pull, in order.
    blocks: &'a [Block],
    /// 1 / (corpus tokens x epochs): the learning rate's progress per token.
    inv_total: f64,
    /// With more than one thread: each trains copies of the tables ([`super::rows`]) ...
    copies: bool,
    /// ... and merges them every this many tokens.
    sync_every: usize,
    merge: &'a Mutex<()>,
    /// Per row, the factor of its move in a merge.
    weights: &'a [f32],
}

unsafe fn run_worker_dispatch(avx2: bool, sh: &Shared, epoch: usize, next: &AtomicUsize) -> WorkerResult {
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        return run_worker_avx2(sh, epoch, next);
    }
    let _ = avx2;
    run_worker::<Portable>(sh, epoch, next)
}

/// The whole loop compiled with AVX2 + FMA enabled, so the kernels inline into it.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_worker_avx2(sh: &Shared, epoch: usize, next: &AtomicUsize) -> WorkerResult {
    run_worker::<Avx2Fma>(sh, epoch, next)
}

/// Per-thread buffers of one example's targets (the positive, then the negatives).
///
/// (Drawing the next example's negatives ahead and prefetching their rows was tried and
/// measured 25% slower on PPI node2vec, d = 128, one thread.)
struct Targets {
    rows: Vec<*mut f32>,
    /// Scores, then overwritten by the gradient coefficients.
    g: Vec<f32>,
}

impl Targets {
    fn new(negatives: usize) -> Self {
        Targets { rows: Vec::with_capacity(negatives + 1), g: vec![0.0; negatives + 1] }
    }
}

/// Fills `tg.rows` with the context rows of `positive` and of `negatives` draws against it.
#[inline(always)]
unsafe fn draw_targets(sh: &Shared, context: Rows, rng: &mut Xoshiro256PlusPlus, positive: u32, tg: &mut Targets) {
    let cfg = sh.cfg;
    tg.rows.clear();
    tg.rows.push(context.ptr(positive));
    for _ in 0..cfg.negatives {
        if let Some(t) = draw_negative(sh.alias, rng, positive, cfg.redraw_positive) {
            tg.rows.push(context.ptr(t));
        }
    }
}

/// One example: the targets in `tg.rows` (the positive, then the negatives) against the
/// input `x` (a centre row, or CBOW's context mean). Updates the target rows; with `apply`
/// adds the input's gradient to `x` (skip-gram), else writes it to `e` (CBOW spreads it over
/// the context rows). Returns the example's loss.
///
/// All scores are computed before any target row is updated, so the CPU overlaps the
/// independent dot products instead of waiting on each dot -> sigmoid -> update chain. This
/// equals the sequential word2vec order except when a negative repeats an earlier target of
/// the same example (the later dot then misses the earlier update, an O(lr) difference).
#[inline(always)]
unsafe fn example<K: Kernels>(sh: &Shared, x: &mut [f32], glr: f32, tg: &mut Targets, e: &mut [f32], apply: bool) -> f32 {
    let m = tg.rows.len();
    K::dots(x, &tg.rows, &mut tg.g[..m]);
    let (sig, logsig) = (&sh.tables.sig[..], &sh.tables.logsig[..]);
    let k = Tables::index(tg.g[0]);
    let mut loss = -logsig[k];
    tg.g[0] = (1.0 - sig[k]) * glr;
    for s in &mut tg.g[1..m] {
        let k = Tables::index(*s);
        loss -= logsig[TABLE - k];
        *s = -sig[k] * glr;
    }
    K::update_many(&tg.g[..m], &tg.rows, x, e, apply);
    loss
}

/// Skip-gram: the pairs of centre position `i` with every other position `j` in `lo..=hi`,
/// in order. As in word2vec.c, a pair's input is the centre row of `toks[j]` and its targets
/// are the context row of `toks[i]` and negatives drawn against it; each pair is one SGD
/// step. Every `share_negatives` pairs draw new negatives ([`crate::sgns::SHARE_NEGATIVES`]
/// says why pairs share them). Returns the loss and the pair count.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn skip_gram_window<K: Kernels>(
    sh: &Shared,
    (centre, context): (Rows, Rows),
    rng: &mut Xoshiro256PlusPlus,
    toks: &[u32],
    (i, lo, hi): (usize, usize, usize),
    lr: f32,
    tg: &mut Targets,
    e: &mut [f32],
) -> (f64, u64) {
    let cfg = sh.cfg;
    let positive = toks[i];
    let mut loss = 0.0f32;
    let mut used = cfg.share_negatives;
    for j in lo..=hi {
        if j == i {
            continue;
        }
        if used == cfg.share_negatives {
            draw_targets(sh, context, rng, positive, tg);
            used = 0;
        }
        used += 1;
        let glr = if cfg.distance_weighting { lr * sh.inv_dist[i.abs_diff(j)] } else { lr };
        loss += example::<K>(sh, centre.row(toks[j]), glr, tg, e, true);
    }
    (loss as f64, (hi - lo) as u64)
}

/// One thread's share of one epoch: pulls blocks until none is left. Each block has its own
/// RNG seeded from `(seed, epoch, block)` and its learning rate from its place in the corpus,
/// so what a block computes does not depend on which thread pulled it (only on what the
/// other threads wrote meanwhile).
#[inline(always)]
unsafe fn run_worker<K: Kernels>(sh: &Shared, epoch: usize, next: &AtomicUsize) -> WorkerResult {
    let cfg = sh.cfg;
    let mut w = Worker {
        e: vec![0.0f32; cfg.dim],
        h: vec![0.0f32; cfg.dim],
        kept: Vec::new(),
        ctx_ids: Vec::with_capacity(2 * cfg.window),
        ctx_w: Vec::with_capacity(2 * cfg.window),
        targets: Targets::new(cfg.negatives),
        replica: sh.copies.then(|| Replica::new(sh.centre, sh.context, sh.merge)),
        since_merge: 0,
        out: WorkerResult { loss: 0.0, pairs: 0, lr: cfg.lr },
    };
    loop {
        let k = next.fetch_add(1, Ordering::Relaxed);
        let Some(block) = sh.blocks.get(k) else { break };
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(mix(cfg.seed, epoch as u64, k as u64));
        run_block::<K>(sh, &mut w, block, epoch, &mut rng);
    }
    if let Some(r) = w.replica.as_mut() {
        r.sync(sh.centre, sh.context, sh.merge, sh.weights);
    }
    w.out
}

/// A worker's buffers and running totals, kept across its blocks.
struct Worker {
    e: Vec<f32>,
    h: Vec<f32>,
    kept: Vec<u32>,
    ctx_ids: Vec<u32>,
    ctx_w: Vec<f32>,
    targets: Targets,
    /// The copies this thread trains, or `None` for the shared tables (Hogwild).
    replica: Option<Replica>,
    since_merge: usize,
    out: WorkerResult,
}

/// One block of sequences.
#[inline(always)]
unsafe fn run_block<K: Kernels>(sh: &Shared, w: &mut Worker, block: &Block, epoch: usize, rng_out: &mut Xoshiro256PlusPlus) {
    // A local copy lives in registers; the caller's is written back at the end.
    let mut local_rng = rng_out.clone();
    let rng = &mut local_rng;
    let cfg = sh.cfg;
    let window = cfg.window;
    let (lr0, lr_span) = (cfg.lr, cfg.lr - cfg.min_lr);
    let inv_total = sh.inv_total;
    let mut done = epoch as f64 * sh.corpus.tokens.len() as f64 + block.first as f64;
    let Worker { e, h, kept, ctx_ids, ctx_w, targets, replica, since_merge, out } = w;
    let (mut loss, mut pairs, mut lr) = (0.0f64, 0u64, out.lr);
    // The tables this thread trains: its copies, or the shared ones (Hogwild).
    let (centre, context) = match replica {
        Some(r) => r.rows(),
        None => (sh.centre, sh.context),
    };

    for s in block.seqs.clone() {
        let seq = sh.corpus.seq(s);
        let toks: &[u32] = match sh.keep {
            None => seq,
            Some(keep) => {
                kept.clear();
                for &t in seq {
                    if (rng.next_u32() as u64) < keep[t as usize] {
                        kept.push(t);
                    }
                }
                &kept[..]
            }
        };
        let n = toks.len();
        for i in 0..n {
            if let Some(r) = replica.as_mut() {
                *since_merge += 1;
                if *since_merge >= sh.sync_every {
                    // Between positions: no row reference is alive.
                    r.sync(sh.centre, sh.context, sh.merge, sh.weights);
                    *since_merge = 0;
                }
            }
            lr = lr0 - lr_span * ((done + i as f64) * inv_total).min(1.0) as f32;
            let b = if cfg.dynamic_window { window - ((rng.next_u32() as u64 * window as u64) >> 32) as usize } else { window };
            let lo = i.saturating_sub(b);
            let hi = (i + b).min(n - 1);
            match cfg.arch {
                Arch::SkipGram => {
                    let (l, p) = skip_gram_window::<K>(sh, (centre, context), rng, toks, (i, lo, hi), lr, targets, e);
                    loss += l;
                    pairs += p;
                }
                Arch::Cbow => {
                    ctx_ids.clear();
                    ctx_w.clear();
                    let mut wsum = 0.0f32;
                    for j in lo..=hi {
                        if j == i {
                            continue;
                        }
                        let w = if cfg.distance_weighting { sh.inv_dist[i.abs_diff(j)] } else { 1.0 };
                        ctx_ids.push(toks[j]);
                        ctx_w.push(w);
                        wsum += w;
                    }
                    if ctx_ids.is_empty() {
                        continue;
                    }
                    h.fill(0.0);
                    for (&id, &w) in ctx_ids.iter().zip(ctx_w.iter()) {
                        K::axpy(w / wsum, centre.row(id), h);
                    }
                    draw_targets(sh, context, rng, toks[i], targets);
                    let l = example::<K>(sh, h, lr, targets, e, false);
                    // word2vec's cbow_mean: every context row gets the whole error (scaled by
                    // its relative weight when distance weighting is on; 1 otherwise).
                    let scale = ctx_ids.len() as f32 / wsum;
                    for (&id, &w) in ctx_ids.iter().zip(ctx_w.iter()) {
                        K::axpy(w * scale, e, centre.row(id));
                    }
                    loss += l as f64;
                    pairs += 1;
                }
            }
        }
        done += seq.len() as f64;
    }
    out.loss += loss;
    out.pairs += pairs;
    out.lr = lr;
    *rng_out = local_rng;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `clusters` groups of `per` items; every sequence stays inside one cluster.
    fn planted(clusters: usize, per: usize, seqs: usize, len: usize, seed: u64) -> Corpus {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut c = Corpus::new(clusters * per);
        let mut buf = Vec::with_capacity(len);
        for s in 0..seqs {
            let k = s % clusters;
            buf.clear();
            buf.extend((0..len).map(|_| (k * per + rng.gen_range(0..per)) as u32));
            c.push(&buf);
        }
        c
    }

    fn cos(a: &[f32], b: &[f32]) -> f32 {
        let (d, na, nb) = crate::linalg::dot_and_norms(a, b);
        d / (na.sqrt() * nb.sqrt()).max(1e-12)
    }

    /// Mean same-cluster cosine minus mean cross-cluster cosine.
    fn separation(m: &Matrix, per: usize) -> f32 {
        let (mut same, mut ns, mut cross, mut nc) = (0.0, 0, 0.0, 0);
        for a in 0..m.rows {
            for b in a + 1..m.rows {
                let c = cos(m.row(a), m.row(b));
                if a / per == b / per {
                    same += c;
                    ns += 1;
                } else {
                    cross += c;
                    nc += 1;
                }
            }
        }
        same / ns as f32 - cross / nc as f32
    }

    fn cfg(arch: Arch) -> SgnsConfig {
        SgnsConfig { arch, dim: 16, window: 3, negatives: 5, epochs: 5, seed: 3, ..Default::default() }
    }

    #[test]
    fn loss_falls_and_clusters_separate() {
        let corpus = planted(5, 10, 400, 20, 1);
        for (arch, share) in [(Arch::SkipGram, 1), (Arch::SkipGram, crate::sgns::SHARE_NEGATIVES), (Arch::Cbow, 1)] {
            let cfg = |arch| SgnsConfig { share_negatives: share, ..cfg(arch) };
            let out = train(&corpus, &cfg(arch), &mut |_| {}).unwrap();
            let l: Vec<f64> = out.epochs.iter().map(|e| e.loss).collect();
            // Falls, then plateaus at the planted corpus' entropy floor (noise of ~1% allowed).
            assert!(l.windows(2).all(|w| w[1] < w[0] * 1.01), "{arch:?} loss not falling: {l:?}");
            assert!(l[4] < 0.8 * l[0], "{arch:?}: {l:?}");
            let sep = separation(&out.centre, 10);
            assert!(sep > 0.3, "{arch:?}: separation {sep}");
            // Untrained vectors do not separate (so the check above can fail).
            let mut c1 = cfg(arch);
            c1.lr = 1e-9;
            c1.min_lr = 0.0;
            c1.epochs = 1;
            let raw = train(&corpus, &c1, &mut |_| {}).unwrap();
            assert!(separation(&raw.centre, 10).abs() < 0.1);
        }
    }

    #[test]
    fn options_train_without_nan() {
        let corpus = planted(4, 8, 200, 15, 2);
        for arch in [Arch::SkipGram, Arch::Cbow] {
            let c = SgnsConfig {
                sample: 1e-2,
                dynamic_window: false,
                distance_weighting: true,
                redraw_positive: false,
                lr: 0.2, // 8x the default: clamped scores keep it finite
                ..cfg(arch)
            };
            let out = train(&corpus, &c, &mut |_| {}).unwrap();
            assert!(out.epochs.iter().all(|e| e.loss.is_finite()));
            // An absurd rate makes the vectors grow geometrically: an error, never NaN output.
            let c = SgnsConfig { lr: 50.0, min_lr: 50.0, epochs: 50, ..c };
            if let Ok(out) = train(&corpus, &c, &mut |_| {}) {
                assert!(out.centre.first_non_finite_row().is_none());
            }
            let c = SgnsConfig { sample: 1e-2, distance_weighting: true, ..cfg(arch) };
            let out = train(&corpus, &c, &mut |_| {}).unwrap();
            let sep = separation(&out.centre, 8);
            assert!(sep > 0.2, "{arch:?}: {sep}");
        }
    }

    #[test]
    fn single_thread_is_bit_exact() {
        let corpus = planted(3, 10, 100, 12, 4);
        for arch in [Arch::SkipGram, Arch::Cbow] {
            let a = train(&corpus, &cfg(arch), &mut |_| {}).unwrap();
            let b = train(&corpus, &cfg(arch), &mut |_| {}).unwrap();
            assert_eq!(a.centre, b.centre);
            assert_eq!(a.context, b.context);
            let other = train(&corpus, &SgnsConfig { seed: 4, ..cfg(arch) }, &mut |_| {}).unwrap();
            assert_ne!(a.centre, other.centre);
        }
    }

    /// Two threads learn what one thread learns: the same final loss within 3 % and at least
    /// 90 % of its cluster separation, with copies of the tables and with Hogwild, on a small
    /// catalogue (50 items) and a larger one (1,500 items of d = 128).
    #[test]
    fn multi_thread_trains_as_well_as_one() {
        for (per, seqs, dim) in [(10usize, 400usize, 16usize), (300, 4000, 128)] {
            let corpus = planted(5, per, seqs, 20, 5);
            assert!(copies_fit(corpus.vocab_size, dim, 2), "the default shares by copies");
            // (CBOW's mean input learns too slowly on the larger corpus in 5 epochs.)
            let archs: &[Arch] = if per == 10 { &[Arch::SkipGram, Arch::Cbow] } else { &[Arch::SkipGram] };
            for &arch in archs {
                let one = train(&corpus, &SgnsConfig { dim, ..cfg(arch) }, &mut |_| {}).unwrap();
                for sharing in [Sharing::Copies, Sharing::Hogwild] {
                    let opts = EngineOptions { sharing, ..Default::default() };
                    let two = train_with(&corpus, &SgnsConfig { dim, threads: 2, ..cfg(arch) }, opts, &mut |_| {}).unwrap();
                    assert_eq!(two.epochs[0].tokens, 20 * seqs as u64);
                    let (l1, l2) = (one.epochs.last().unwrap().loss, two.epochs.last().unwrap().loss);
                    // Copies read the loss on rows that miss the other thread's last updates.
                    let band = if sharing == Sharing::Copies { 0.05 } else { 0.03 };
                    assert!((l1 - l2).abs() < band * l1, "{arch:?} {sharing:?} {per}x{dim}: loss {l1} vs {l2}");
                    let (s1, s2) = (separation(&one.centre, per), separation(&two.centre, per));
                    assert!(s1 > 0.3 && s2 > 0.9 * s1, "{arch:?} {sharing:?} {per}x{dim}: separation {s1} vs {s2}");
                }
            }
        }
    }

    /// With several threads the learning rate still falls by corpus position: the last epoch
    /// ends near `min_lr` (a schedule per thread share, or one that restarted per block, would
    /// not), and every block is trained (all pairs counted).
    #[test]
    fn blocks_share_one_schedule() {
        let corpus = planted(4, 10, 300, 12, 9);
        let c = SgnsConfig { dim: 8, epochs: 3, threads: 2, lr: 0.05, min_lr: 0.001, ..cfg(Arch::SkipGram) };
        let one = train(&corpus, &SgnsConfig { threads: 1, ..c.clone() }, &mut |_| {}).unwrap();
        let two = train(&corpus, &c, &mut |_| {}).unwrap();
        for (e1, e2) in one.epochs.iter().zip(&two.epochs) {
            // Same windows drawn differently: the pair counts agree within 3 %.
            assert!((e1.pairs as f64 - e2.pairs as f64).abs() < 0.03 * e1.pairs as f64, "{} vs {}", e1.pairs, e2.pairs);
        }
        let lr = |o: &SgnsOutput| o.epochs.iter().map(|e| e.lr).collect::<Vec<_>>();
        let (l1, l2) = (lr(&one), lr(&two));
        for (a, b) in l1.iter().zip(&l2) {
            assert!((a - b).abs() < 0.05 * 0.05, "epoch-end rates {l1:?} vs {l2:?}");
        }
        assert!(l2[2] < 0.003, "{l2:?}");
    }

    #[test]
    fn portable_and_avx2_agree_closely() {
        let corpus = planted(3, 10, 100, 12, 6);
        let a = train_with(&corpus, &cfg(Arch::SkipGram), EngineOptions { kernels: KernelChoice::Portable, ..Default::default() }, &mut |_| {}).unwrap();
        let b = train_with(&corpus, &cfg(Arch::SkipGram), EngineOptions::default(), &mut |_| {}).unwrap();
        let la = a.epochs.last().unwrap().loss;
        let lb = b.epochs.last().unwrap().loss;
        assert!((la - lb).abs() < 0.02 * la, "{la} vs {lb}");
    }

    #[test]
    fn redraw_never_yields_positive() {
        // Item 0 holds almost all the mass, so plain draws hit it constantly.
        let alias = AliasTable::new(&[10.0, 1.0, 1.0]).unwrap();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(9);
        let (mut redrawn, mut skipped) = (0, 0);
        for _ in 0..100_000 {
            match draw_negative(&alias, &mut rng, 0, true) {
                Some(t) => {
                    assert_ne!(t, 0);
                    redrawn += 1
                }
                None => {}
            }
            match draw_negative(&alias, &mut rng, 0, false) {
                Some(t) => assert_ne!(t, 0),
                None => skipped += 1,
            }
        }
        assert!(redrawn > 99_000, "{redrawn}");
        assert!(skipped > 80_000, "{skipped}");
        // A vocabulary of one item: nothing to draw, no endless loop.
        let one = AliasTable::new(&[1.0]).unwrap();
        assert_eq!(draw_negative(&one, &mut rng, 0, true), None);
    }

    #[test]
    fn errors_on_bad_input() {
        let corpus = planted(2, 3, 5, 4, 7);
        let bad = [
            SgnsConfig { dim: 0, ..Default::default() },
            SgnsConfig { window: 0, ..Default::default() },
            SgnsConfig { negatives: 0, ..Default::default() },
            SgnsConfig { share_negatives: 0, ..Default::default() },
            SgnsConfig { epochs: 0, ..Default::default() },
            SgnsConfig { lr: 0.0, ..Default::default() },
            SgnsConfig { lr: f32::NAN, ..Default::default() },
            SgnsConfig { min_lr: 1.0, ..Default::default() },
            SgnsConfig { sample: -1.0, ..Default::default() },
        ];
        for c in &bad {
            assert!(train(&corpus, c, &mut |_| {}).is_err(), "{c:?}");
        }
        assert!(train(&Corpus::new(0), &SgnsConfig::default(), &mut |_| {}).is_err());
        assert!(train(&Corpus::new(5), &SgnsConfig::default(), &mut |_| {}).is_err());
        let mut outside = Corpus::new(2);
        outside.push(&[0, 5]);
        assert!(train(&outside, &SgnsConfig::default(), &mut |_| {}).is_err());
        // Only length-1 sequences: no pairs, but no error and no NaN.
        let mut singles = Corpus::new(3);
        singles.push(&[1]);
        singles.push(&[2]);
        let out = train(&singles, &SgnsConfig { threads: 4, ..Default::default() }, &mut |_| {}).unwrap();
        assert_eq!(out.epochs[0].loss, 0.0);
    }

    /// The centre table starts uniform over gensim 4's `[-1/d, 1/d)`: every value inside, the
    /// extremes near both ends (a half-width start, word2vec.c's, fails), mean near zero.
    #[test]
    fn centre_starts_at_gensims_width() {
        let (vocab, dim) = (500, 64);
        let m = initial_centre(vocab, dim, vocab * dim, 11).unwrap();
        let h = 1.0 / dim as f32;
        assert!(m.data.iter().all(|&x| (-h..h).contains(&x)));
        let max = m.data.iter().fold(0.0f32, |a, &x| a.max(x));
        let min = m.data.iter().fold(0.0f32, |a, &x| a.min(x));
        assert!(max > 0.99 * h && min < -0.99 * h, "[{min}, {max}] vs 1/d = {h}");
        let mean = m.data.iter().map(|&x| x as f64).sum::<f64>() / m.data.len() as f64;
        assert!(mean.abs() < 0.01 * h as f64, "{mean}");
        // Training with a vanishing rate leaves it as it started: the engine uses this table.
        let corpus = planted(2, 5, 10, 6, 12);
        let c = SgnsConfig { lr: 1e-12, min_lr: 0.0, epochs: 1, dim: 8, seed: 13, ..Default::default() };
        let out = train(&corpus, &c, &mut |_| {}).unwrap();
        let want = initial_centre(10, 8, 80, 13).unwrap();
        for (a, b) in out.centre.data.iter().zip(&want.data) {
            assert!((a - b).abs() < 1e-6);
        }
    }

    /// Skip-gram as a plain loop, written from the definition rather than from the engine:
    /// for every centre position `i` and every other position `j` of its window, in order,
    /// one SGD step of input `centre[toks[j]]` against targets `context[toks[i]]` (label 1)
    /// and the negatives (label 0), drawn anew every `share_negatives` pairs of the window.
    /// It uses the engine's RNG seeding, alias table, sigmoid table and dot product, so with
    /// the portable kernels the engine must agree to rounding.
    fn reference_skip_gram(corpus: &Corpus, cfg: &SgnsConfig) -> (Matrix, Matrix) {
        assert!(!cfg.dynamic_window && cfg.epochs == 1 && cfg.threads == 1 && cfg.sample == 0.0);
        let alias = AliasTable::unigram(&corpus.counts(), cfg.alpha).unwrap();
        let tables = Tables::new();
        let (vocab, dim) = (corpus.vocab_size, cfg.dim);
        let mut centre = initial_centre(vocab, dim, vocab * dim, cfg.seed).unwrap();
        let mut context = Matrix::zeros(vocab, dim);
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(mix(cfg.seed, 0, 0));
        let total = corpus.tokens.len() as f64;
        let mut pos = 0.0;
        for s in 0..corpus.len() {
            let toks = corpus.seq(s);
            for i in 0..toks.len() {
                let lr = cfg.lr - (cfg.lr - cfg.min_lr) * (pos / total) as f32;
                pos += 1.0;
                let (lo, hi) = (i.saturating_sub(cfg.window), (i + cfg.window).min(toks.len() - 1));
                let mut negatives = Vec::new();
                let mut used = cfg.share_negatives;
                for j in (lo..=hi).filter(|&j| j != i) {
                    if used == cfg.share_negatives {
                        negatives = (0..cfg.negatives).filter_map(|_| draw_negative(&alias, &mut rng, toks[i], cfg.redraw_positive)).collect();
                        used = 0;
                    }
                    used += 1;
                    let targets: Vec<(u32, f32)> = std::iter::once((toks[i], 1.0)).chain(negatives.iter().map(|&t| (t, 0.0))).collect();
                    let x = centre.row(toks[j] as usize).to_vec();
                    let scores: Vec<f32> = targets.iter().map(|&(t, _)| crate::linalg::dot(&x, context.row(t as usize))).collect();
                    let mut e = vec![0.0f32; dim];
                    for (&(t, label), &score) in targets.iter().zip(&scores) {
                        let g = (label - tables.sig[Tables::index(score)]) * lr;
                        let c = context.row_mut(t as usize);
                        for d in 0..dim {
                            e[d] += g * c[d];
                            c[d] += g * x[d];
                        }
                    }
                    for (xd, ed) in centre.row_mut(toks[j] as usize).iter_mut().zip(&e) {
                        *xd += ed;
                    }
                }
            }
        }
        (centre, context)
    }

    /// The engine trains what the plain loop above trains, with fresh negatives per pair
    /// (word2vec) and with negatives shared by 3 pairs; and sharing changes what is learnt.
    #[test]
    fn skip_gram_matches_a_plain_reference() {
        let corpus = planted(3, 6, 40, 9, 14);
        let mut last = None;
        for share in [1, 3] {
            let c = SgnsConfig { dim: 8, window: 3, epochs: 1, lr: 0.1, dynamic_window: false, share_negatives: share, ..cfg(Arch::SkipGram) };
            let opts = EngineOptions { kernels: KernelChoice::Portable, ..Default::default() };
            let got = train_with(&corpus, &c, opts, &mut |_| {}).unwrap();
            let (centre, context) = reference_skip_gram(&corpus, &c);
            let diff = |a: &Matrix, b: &Matrix| a.data.iter().zip(&b.data).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
            assert!(diff(&got.centre, &centre) < 1e-6 && diff(&got.context, &context) < 1e-6, "share {share}");
            // Training moved the tables far beyond that tolerance.
            assert!(context.data.iter().map(|x| x.abs()).fold(0.0f32, f32::max) > 0.05);
            if let Some(prev) = last.replace(got.centre) {
                assert!(diff(&prev, last.as_ref().unwrap()) > 1e-3, "sharing made no difference");
            }
        }
    }

    #[test]
    fn blocks_cover_the_corpus() {
        let corpus = planted(2, 3, 17, 5, 8);
        for n in 1..30 {
            let ch = split_blocks(&corpus, n);
            assert_eq!(ch.len(), n);
            assert_eq!(ch[0].seqs.start, 0);
            assert_eq!(ch.last().unwrap().seqs.end, corpus.len());
            assert!(ch.windows(2).all(|w| w[0].seqs.end == w[1].seqs.start));
            assert!(ch.iter().all(|c| c.first == corpus.offsets[c.seqs.start]));
        }
    }
}
