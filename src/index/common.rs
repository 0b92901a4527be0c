//! Helpers shared by every index kind: input checks, the bounded top-k heap, exclusion
//! lists, SIMD-dispatched distance kernels and the little-endian on-disk format.

use super::{Hit, Metric};
use crate::linalg::{self, Matrix};
use anyhow::{bail, Context, Result};
use serde::{de::DeserializeOwned, Serialize};
use std::borrow::Cow;
use std::io::{Read, Write};
use std::path::Path;

// ---------------------------------------------------------------------------------------
// Input checks
// ---------------------------------------------------------------------------------------

/// Rejects an empty catalogue, zero-width vectors and non-finite values (naming the row).
pub fn check_items(kind: &str, items: &Matrix) -> Result<()> {
    if items.rows == 0 {
        bail!("cannot build a `{kind}` index over an empty item set (0 vectors)");
    }
    if items.cols == 0 {
        bail!("cannot build a `{kind}` index over zero-dimensional vectors");
    }
    if items.data.len() != items.rows * items.cols {
        bail!("item matrix holds {} values, expected {} x {}", items.data.len(), items.rows, items.cols);
    }
    if items.rows > u32::MAX as usize {
        bail!("`{kind}` index supports at most {} items, got {}", u32::MAX, items.rows);
    }
    if let Some(r) = items.first_non_finite_row() {
        bail!("item vector {r} holds a NaN or infinite value; cannot build a `{kind}` index");
    }
    Ok(())
}

/// Checks one query's width and values.
pub fn check_query(query: &[f32], dim: usize) -> Result<()> {
    if query.len() != dim {
        bail!("query has dimension {}, but the index was built over dimension {dim}", query.len());
    }
    if query.iter().any(|x| !x.is_finite()) {
        bail!("query vector holds a NaN or infinite value");
    }
    Ok(())
}

/// Checks a batch of queries and its exclusion lists (empty `excludes` means none).
pub fn check_batch(queries: &Matrix, dim: usize, excludes: &[&[u32]]) -> Result<()> {
    if queries.cols != dim && queries.rows > 0 {
        bail!("queries have dimension {}, but the index was built over dimension {dim}", queries.cols);
    }
    if let Some(r) = queries.first_non_finite_row() {
        bail!("query vector {r} holds a NaN or infinite value");
    }
    if !excludes.is_empty() && excludes.len() != queries.rows {
        bail!("{} exclusion lists given for {} queries", excludes.len(), queries.rows);
    }
    Ok(())
}

/// The sorted exclusion list for query `i` (`&[]` when `excludes` is empty); unsorted input
/// is sorted (a copy) rather than silently mis-filtered.
pub fn exclusion<'a>(excludes: &[&'a [u32]], i: usize) -> Cow<'a, [u32]> {
    sorted(excludes.get(i).copied().unwrap_or(&[]))
}

pub fn sorted(ex: &[u32]) -> Cow<'_, [u32]> {
    if ex.windows(2).all(|w| w[0] <= w[1]) {
        Cow::Borrowed(ex)
    } else {
        let mut v = ex.to_vec();
        v.sort_unstable();
        Cow::Owned(v)
    }
}

#[inline]
pub fn is_excluded(ex: &[u32], id: u32) -> bool {
    !ex.is_empty() && ex.binary_search(&id).is_ok()
}

/// Number of distinct ids of `ex` that are `< n` (i.e. actually in the catalogue).
pub fn excluded_in_range(ex: &[u32], n: usize) -> usize {
    let mut c = 0;
    let mut prev = None;
    for &e in ex {
        if (e as usize) < n && prev != Some(e) {
            c += 1;
        }
        prev = Some(e);
    }
    c
}

/// The items whose vector is all zeros: those the model never trained (no training
/// interaction reached them). Retrieval leaves them out of every answer: such an item scores
/// 0 for any query, so ranking it among the others would be arbitrary (it would sit above
/// every negatively scored item under the inner product).
pub fn untrained_rows(items: &Matrix) -> Vec<u32> {
    (0..items.rows).filter(|&r| items.row(r).iter().all(|&x| x == 0.0)).map(|r| r as u32).collect()
}

/// The sorted union of two sorted exclusion lists, without repeats.
pub fn merged(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let next = match (a.get(i), b.get(j)) {
            (Some(&x), Some(&y)) if x <= y => {
                i += 1;
                j += usize::from(x == y);
                x
            }
            (_, Some(&y)) => {
                j += 1;
                y
            }
            (Some(&x), None) => {
                i += 1;
                x
            }
            (None, None) => unreachable!(),
        };
        if out.last() != Some(&next) {
            out.push(next);
        }
    }
    out
}

/// How many hits a query can get: `min(k, n - |exclude ∩ [0,n)|)`.
pub fn achievable(k: usize, n: usize, ex: &[u32]) -> usize {
    k.min(n - excluded_in_range(ex, n))
}

// ---------------------------------------------------------------------------------------
// Top-k
// ---------------------------------------------------------------------------------------

/// `a` ranks strictly better than `b`: higher score, ties to the lower id (deterministic).
#[inline]
pub fn better(a: (f32, u32), b: (f32, u32)) -> bool {
    a.0 > b.0 || (a.0 == b.0 && a.1 < b.1)
}

/// A `(score, id)` entry for `std::collections::BinaryHeap` (a max-heap): the higher score
/// pops first, ties to the lower id (deterministic). Scores are never NaN here (inputs are
/// checked finite).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scored(pub f32, pub u32);

impl Eq for Scored {}

impl PartialOrd for Scored {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

impl Ord for Scored {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.0.partial_cmp(&o.0).unwrap_or(std::cmp::Ordering::Equal).then(o.1.cmp(&self.1))
    }
}

/// Bounded heap keeping the `cap` best `(score, id)` pairs; the root is the worst kept.
#[derive(Clone, Debug)]
pub struct TopK {
    cap: usize,
    heap: Vec<(f32, u32)>,
}

impl TopK {
    pub fn new(cap: usize) -> Self {
        TopK { cap, heap: Vec::with_capacity(cap) }
    }

    /// Scores `<=` this cannot enter (when full); `-inf` until full.
    #[inline]
    pub fn threshold(&self) -> f32 {
        if self.heap.len() < self.cap {
            f32::NEG_INFINITY
        } else if self.cap == 0 {
            f32::INFINITY
        } else {
            self.heap[0].0
        }
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    #[inline]
    pub fn is_full(&self) -> bool {
        self.heap.len() >= self.cap
    }

    #[inline]
    pub fn push(&mut self, score: f32, id: u32) {
        let e = (score, id);
        if self.heap.len() < self.cap {
            self.heap.push(e);
            self.sift_up(self.heap.len() - 1);
        } else if self.cap > 0 && better(e, self.heap[0]) {
            self.heap[0] = e;
            self.sift_down(0);
        }
    }

    fn sift_up(&mut self, mut i: usize) {
        while i > 0 {
            let p = (i - 1) / 2;
            if better(self.heap[p], self.heap[i]) {
                self.heap.swap(p, i);
                i = p;
            } else {
                break;
            }
        }
    }

    fn sift_down(&mut self, mut i: usize) {
        let n = self.heap.len();
        loop {
            let (l, r) = (2 * i + 1, 2 * i + 2);
            let mut w = i;
            if l < n && better(self.heap[w], self.heap[l]) {
                w = l;
            }
            if r < n && better(self.heap[w], self.heap[r]) {
                w = r;
            }
            if w == i {
                break;
            }
            self.heap.swap(i, w);
            i = w;
        }
    }

    /// In no particular order (for callers that re-key and sort anyway).
    pub fn into_unsorted(self) -> Vec<Hit> {
        self.heap.into_iter().map(|(score, id)| Hit { id, score }).collect()
    }

    /// Best first.
    pub fn into_hits(mut self) -> Vec<Hit> {
        self.heap.sort_unstable_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal).then(a.1.cmp(&b.1)));
        self.heap.into_iter().map(|(score, id)| Hit { id, score }).collect()
    }
}

// ---------------------------------------------------------------------------------------
// Distance kernels (runtime AVX2/FMA dispatch; never target-cpu=native)
// ---------------------------------------------------------------------------------------

#[inline]
pub fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// True when the CPU has AVX-512F (the widest distance kernels).
#[inline]
pub fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Calls the widest of three kernels this CPU runs (the checks are cached loads).
macro_rules! dispatch {
    ($name:ident, $a:expr, $b:expr) => {{
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: each kernel runs only after its CPU features were detected.
            if has_avx512() {
                return unsafe { linalg::avx512::$name($a, $b) };
            }
            if has_avx2_fma() {
                return unsafe { linalg::avx2::$name($a, $b) };
            }
        }
        linalg::$name($a, $b)
    }};
}

/// Inner product, AVX-512F or AVX2/FMA when the CPU has them.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    dispatch!(dot, a, b)
}

/// Squared Euclidean distance, AVX-512F or AVX2/FMA when the CPU has them.
#[inline]
pub fn l2_sq(a: &[f32], b: &[f32]) -> f32 {
    dispatch!(l2_sq, a, b)
}

/// `(a.b, a.a, b.b)` in one pass, AVX-512F or AVX2/FMA when the CPU has them.
#[inline]
pub fn dot_and_norms(a: &[f32], b: &[f32]) -> (f32, f32, f32) {
    dispatch!(dot_and_norms, a, b)
}

/// Higher-is-better score of `x` for an already prepared query (normalised for `Cos`).
#[inline]
pub fn score(metric: Metric, q: &[f32], x: &[f32]) -> f32 {
    match metric {
        Metric::Ip | Metric::Cos => dot(q, x),
        Metric::L2 => -l2_sq(q, x),
    }
}

/// Unit-normalises a copy of `v` when the metric is cosine.
pub fn prepare_query(metric: Metric, v: &[f32]) -> Cow<'_, [f32]> {
    if metric == Metric::Cos {
        let n = linalg::dot(v, v).sqrt();
        if n > 0.0 {
            return Cow::Owned(v.iter().map(|x| x / n).collect());
        }
    }
    Cow::Borrowed(v)
}

/// A copy of `items`, rows unit-normalised when the metric is cosine.
pub fn prepare_items(metric: Metric, items: &Matrix) -> Matrix {
    let mut m = items.clone();
    if metric == Metric::Cos {
        m.normalize_rows();
    }
    m
}

// ---------------------------------------------------------------------------------------
// On-disk format: `header.json` plus little-endian binary arrays
// ---------------------------------------------------------------------------------------

pub fn write_header<T: Serialize>(dir: &Path, header: &T) -> Result<()> {
    let p = dir.join("header.json");
    std::fs::write(&p, serde_json::to_vec_pretty(header)?).with_context(|| format!("writing {}", p.display()))
}

pub fn read_header<T: DeserializeOwned>(dir: &Path, kind: &str) -> Result<T> {
    let p = dir.join("header.json");
    let bytes = std::fs::read(&p).with_context(|| format!("reading {}", p.display()))?;
    let h: serde_json::Value = serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", p.display()))?;
    if h.get("kind").and_then(|k| k.as_str()) != Some(kind) {
        bail!("{} is not a `{kind}` index header (kind = {:?})", p.display(), h.get("kind"));
    }
    serde_json::from_value(h).with_context(|| format!("parsing {}", p.display()))
}

/// Plain-old-data element types stored as little-endian bytes.
pub trait Pod: Copy + Default {
    const SIZE: usize;
    fn put(self, out: &mut Vec<u8>);
    fn get(b: &[u8]) -> Self;
}

macro_rules! pod {
    ($($t:ty),*) => {$(
        impl Pod for $t {
            const SIZE: usize = std::mem::size_of::<$t>();
            #[inline]
            fn put(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            #[inline]
            fn get(b: &[u8]) -> Self {
                <$t>::from_le_bytes(b.try_into().unwrap())
            }
        }
    )*};
}
pod!(f32, u32, u64, u8);

pub fn write_array<T: Pod>(dir: &Path, name: &str, data: &[T]) -> Result<()> {
    let p = dir.join(name);
    let mut buf = Vec::with_capacity(data.len() * T::SIZE);
    for &x in data {
        x.put(&mut buf);
    }
    let mut f = std::fs::File::create(&p).with_context(|| format!("creating {}", p.display()))?;
    f.write_all(&buf).with_context(|| format!("writing {}", p.display()))?;
    Ok(())
}

/// Reads an array, checking it holds exactly `expected` elements.
pub fn read_array<T: Pod>(dir: &Path, name: &str, expected: usize) -> Result<Vec<T>> {
    let p = dir.join(name);
    let mut buf = Vec::new();
    std::fs::File::open(&p).and_then(|mut f| f.read_to_end(&mut buf)).with_context(|| format!("reading {}", p.display()))?;
    if buf.len() != expected * T::SIZE {
        bail!("{} holds {} bytes, expected {} ({expected} values)", p.display(), buf.len(), expected * T::SIZE);
    }
    Ok(buf.chunks_exact(T::SIZE).map(T::get).collect())
}

/// Seeded RNG used by every randomised build.
pub fn rng(seed: u64) -> rand_xoshiro::Xoshiro256PlusPlus {
    use rand::SeedableRng;
    rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed)
}

/// Exact scores of candidate ids (deduplicated by the caller or not) into a top-k, skipping
/// excluded ids.
pub fn rerank_exact(metric: Metric, q: &[f32], items: &Matrix, cands: &[u32], k: usize, ex: &[u32]) -> Vec<Hit> {
    let mut top = TopK::new(k);
    for &c in cands {
        if !is_excluded(ex, c) {
            top.push(score(metric, q, items.row(c as usize)), c);
        }
    }
    top.into_hits()
}
