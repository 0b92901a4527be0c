//! The f32 graph of `hnsw` in hnswlib's memory layout: built here (`hnsw_build`), searched
//! here, saved and loaded in usearch's file format.
//!
//! Why not usearch's own search: on 1M x 128 vectors usearch's base-layer walk reached a node's
//! vector through two pointer tables (`nodes_`, then `vectors_lookup_`), checked visits in a
//! hash set and called the distance through three indirections, and its queries/s at recall
//! 0.97 stayed at 0.5-0.75x hnswlib's even with prefetching patched in (vendor/usearch).
//! Here every node's base-layer block holds its neighbour count, its neighbour slots and its
//! vector side by side (one stride apart), visits are epoch tags in a flat array, and the
//! distance is inlined. Graphs are read from usearch's serialised form and written back in
//! that form, byte for byte, so saved indexes stay usearch files that usearch itself loads.
//!
//! usearch's format (v2, f32, 32-bit slots): `u32 rows, u32 bytes per vector`, the vectors in
//! slot order, a 64-byte head, `u64 size, connectivity, connectivity_base, max_level,
//! entry_slot`, `size` x `i16` levels, then per slot `u64 key, i16 level`, the base list
//! (`u32 count` + `connectivity_base` slots) and `level` upper lists (`u32 count` +
//! `connectivity` slots).

use super::common::{self, TopK};
use super::{Hit, Metric};
use crate::linalg::{self, Matrix};
use anyhow::{anyhow, ensure, Result};
use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::sync::atomic::AtomicU32;
use std::sync::atomic::Ordering::{Acquire, Relaxed};

pub struct Graph {
    pub(super) dim: usize,
    pub(super) metric: Metric,
    pub(super) conn: usize,
    pub(super) conn_base: usize,
    /// u32 words per base block: count, `conn_base` slots, `dim` f32 (as bits).
    stride: usize,
    /// Atomic because a parallel build rewrites neighbour lists while other threads walk
    /// them; a relaxed load or store is a plain `mov`, so searches pay nothing for it.
    blocks: Vec<AtomicU32>,
    keys: Vec<u64>,
    pub(super) levels: Vec<i16>,
    /// Start of each slot's upper lists in `upper` (levels 1..=level, `1 + conn` words each).
    upper_at: Vec<u32>,
    upper: Vec<AtomicU32>,
    pub(super) max_level: usize,
    pub(super) entry: u32,
    head: [u8; 64],
    /// Prefetch neighbour vectors (only when the blocks outgrow the caches; see `PREFETCH_FROM`).
    prefetch: bool,
}

/// Block bytes from which searches prefetch neighbour vectors. Below it the vectors stay in
/// cache and the prefetch loop is pure overhead (20,000 x 64 item vectors, 7.8 MB of blocks:
/// no gain from prefetching); at 100k x 128 (64 MB) and 1M x 128 it hides the misses.
const PREFETCH_FROM: usize = 32 << 20;

/// Reads usearch's format from a stream, counting bytes for error messages.
struct Reader<R> {
    r: R,
    at: u64,
}

impl<R: Read + Seek> Reader<R> {
    fn fill(&mut self, buf: &mut [u8]) -> Result<()> {
        self.r.read_exact(buf).map_err(|_| anyhow!("usearch graph ends early (byte {})", self.at))?;
        self.at += buf.len() as u64;
        Ok(())
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut b = [0u8; N];
        self.fill(&mut b)?;
        Ok(b)
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    fn i16(&mut self) -> Result<i16> {
        Ok(i16::from_le_bytes(self.array()?))
    }
    /// Little-endian u32 words into `out`.
    fn u32s(&mut self, out: &[AtomicU32]) -> Result<()> {
        let mut buf = [0u8; 4096];
        for chunk in out.chunks(1024) {
            let bytes = &mut buf[..4 * chunk.len()];
            self.fill(bytes)?;
            for (w, c) in chunk.iter().zip(bytes.chunks_exact(4)) {
                w.store(u32::from_le_bytes(c.try_into().expect("4 bytes")), Relaxed);
            }
        }
        Ok(())
    }
    fn seek(&mut self, to: u64) -> Result<()> {
        self.r.seek(SeekFrom::Start(to))?;
        self.at = to;
        Ok(())
    }
}

impl Graph {
    /// Parses usearch's serialised f32 index (what `Index::save_to_buffer` or `save` wrote).
    #[cfg(test)]
    pub fn parse(bytes: &[u8], dim: usize, metric: Metric) -> Result<Graph> {
        Self::read_from(std::io::Cursor::new(bytes), dim, metric)
    }

    /// Reads usearch's serialised f32 index from a stream, straight into the blocks: the
    /// vectors come first in the file but their place in a block depends on the connectivity
    /// stored after them, so the reader looks ahead and comes back. Loading needs the graph's
    /// memory and no copy of the file.
    pub fn read_from(r: impl Read + Seek, dim: usize, metric: Metric) -> Result<Graph> {
        let mut r = Reader { r, at: 0 };
        let rows = r.u32()? as usize;
        ensure!(r.u32()? as usize == 4 * dim, "usearch graph: vectors are not {dim} f32s");
        let vectors_at = r.at;
        r.seek(vectors_at + (rows * 4 * dim) as u64)?;
        let head: [u8; 64] = r.array()?;
        let (size, conn, conn_base, max_level, entry) = (r.u64()? as usize, r.u64()? as usize, r.u64()? as usize, r.u64()? as usize, r.u64()?);
        ensure!(size == rows && (entry as usize) < rows.max(1), "usearch graph: {size} nodes for {rows} vectors, entry {entry}");
        ensure!(
            conn <= 1 << 16 && conn_base <= 1 << 16 && max_level <= i16::MAX as usize,
            "usearch graph: connectivity {conn} / {conn_base}, top level {max_level}"
        );
        let graph_at = r.at;
        // Every slot's record holds at least its key, level and base list: a file shorter
        // than that is cut (checked before allocating for `size` slots).
        let len = r.r.seek(SeekFrom::End(0))?;
        let least = (size as u64).saturating_mul(8 + 2 + 2 + 4 * (1 + conn_base as u64));
        ensure!(len.saturating_sub(graph_at) >= least, "usearch graph ends early ({len} bytes for {size} nodes)");
        let stride = 1 + conn_base + dim;
        let blocks: Vec<AtomicU32> = (0..size * stride).map(|_| AtomicU32::new(0)).collect();
        r.seek(vectors_at)?;
        for slot in 0..size {
            let at = slot * stride + 1 + conn_base;
            r.u32s(&blocks[at..at + dim])?;
        }
        r.seek(graph_at)?;
        let levels: Vec<i16> = (0..size).map(|_| r.i16()).collect::<Result<_>>()?;
        let (mut keys, mut upper_at) = (Vec::with_capacity(size), Vec::with_capacity(size));
        let mut upper_len = 0usize;
        for (slot, &level) in levels.iter().enumerate() {
            ensure!(level >= 0 && level as usize <= max_level, "usearch graph: bad level at slot {slot}");
            upper_at.push(u32::try_from(upper_len)?);
            upper_len += level as usize * (1 + conn);
        }
        let upper: Vec<AtomicU32> = (0..upper_len).map(|_| AtomicU32::new(0)).collect();
        for (slot, &level) in levels.iter().enumerate() {
            keys.push(r.u64()?);
            ensure!(r.i16()? == level, "usearch graph: bad level at slot {slot}");
            r.u32s(&blocks[slot * stride..slot * stride + 1 + conn_base])?;
            let at = upper_at[slot] as usize;
            r.u32s(&upper[at..at + level as usize * (1 + conn)])?;
        }
        let mut extra = Vec::new();
        r.r.read_to_end(&mut extra)?;
        ensure!(extra.is_empty(), "usearch graph: {} trailing bytes", extra.len());
        let prefetch = 4 * blocks.len() >= PREFETCH_FROM;
        let g = Graph { dim, metric, conn, conn_base, stride, blocks, keys, levels, upper_at, upper, max_level, entry: entry as u32, head, prefetch };
        g.check()?;
        Ok(g)
    }

    /// A graph of `items` with no links yet, slot = row = key, `levels[s]` upper levels at
    /// slot `s` (`hnsw_build` fills the links). `head` is usearch's file head for these
    /// vectors (see `hnsw_build::usearch_head`).
    pub(super) fn unlinked(items: &Matrix, metric: Metric, conn: usize, levels: Vec<i16>, head: [u8; 64]) -> Result<Graph> {
        let (n, dim, conn_base) = (items.rows, items.cols, 2 * conn);
        ensure!(levels.len() == n, "{} levels for {n} vectors", levels.len());
        let stride = 1 + conn_base + dim;
        let mut blocks = Vec::with_capacity(n * stride);
        let mut upper_at = Vec::with_capacity(n);
        let mut upper_len = 0usize;
        for (s, &level) in levels.iter().enumerate() {
            blocks.extend((0..1 + conn_base).map(|_| AtomicU32::new(0)));
            blocks.extend(items.row(s).iter().map(|x| AtomicU32::new(x.to_bits())));
            upper_at.push(u32::try_from(upper_len)?);
            upper_len += level as usize * (1 + conn);
        }
        let upper = (0..upper_len).map(|_| AtomicU32::new(0)).collect();
        let max_level = levels.first().map_or(0, |&l| l as usize);
        let prefetch = 4 * blocks.len() >= PREFETCH_FROM;
        let keys = (0..n as u64).collect();
        Ok(Graph { dim, metric, conn, conn_base, stride, blocks, keys, levels, upper_at, upper, max_level, entry: 0, head, prefetch })
    }

    /// Every count within its list's capacity and every neighbour a valid slot, so that
    /// `neighbours` and `vector` never go out of bounds.
    fn check(&self) -> Result<()> {
        let n = self.keys.len() as u32;
        for s in 0..n {
            for l in 0..=self.levels[s as usize] as usize {
                let count = self.links(s, l)[0].load(Relaxed) as usize;
                let cap = self.capacity(l);
                ensure!(count <= cap, "usearch graph: slot {s} has {count} links at level {l}, capacity {cap}");
                ensure!(self.neighbours(s, l).iter().all(|x| x.load(Relaxed) < n), "usearch graph: slot {s} level {l} links outside the graph");
            }
        }
        Ok(())
    }

    /// Writes what usearch's `save` would write for this graph (streamed, so saving a large
    /// index needs no second copy of it in memory).
    pub fn write_to(&self, out: &mut impl Write) -> std::io::Result<()> {
        let n = self.keys.len();
        let mut buf = Vec::with_capacity(4 * (1 + self.conn_base.max(self.dim)));
        let mut words = |out: &mut dyn Write, w: &[AtomicU32]| -> std::io::Result<()> {
            buf.clear();
            buf.extend(w.iter().flat_map(|x| x.load(Relaxed).to_le_bytes()));
            out.write_all(&buf)
        };
        out.write_all(&(n as u32).to_le_bytes())?;
        out.write_all(&(4 * self.dim as u32).to_le_bytes())?;
        for s in 0..n {
            let at = s * self.stride + 1 + self.conn_base;
            words(out, &self.blocks[at..at + self.dim])?;
        }
        out.write_all(&self.head)?;
        for v in [n, self.conn, self.conn_base, self.max_level, self.entry as usize] {
            out.write_all(&(v as u64).to_le_bytes())?;
        }
        let levels: Vec<u8> = self.levels.iter().flat_map(|l| l.to_le_bytes()).collect();
        out.write_all(&levels)?;
        for s in 0..n {
            out.write_all(&self.keys[s].to_le_bytes())?;
            out.write_all(&self.levels[s].to_le_bytes())?;
            words(out, &self.blocks[s * self.stride..s * self.stride + 1 + self.conn_base])?;
            let at = self.upper_at[s] as usize;
            words(out, &self.upper[at..at + self.levels[s] as usize * (1 + self.conn)])?;
        }
        Ok(())
    }

    /// The bytes usearch's `save` would write for this graph.
    #[cfg(test)]
    pub fn serialise(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.bytes() + 64);
        self.write_to(&mut out).expect("writing to a Vec cannot fail");
        out
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Bytes held (blocks, keys, levels, upper lists).
    pub fn bytes(&self) -> usize {
        4 * (self.blocks.len() + self.upper.len() + self.upper_at.len()) + 8 * self.keys.len() + 2 * self.levels.len()
    }

    /// Neighbours a list at `level` holds at most: `conn_base` on the base layer, `conn` above.
    #[inline]
    pub(super) fn capacity(&self, level: usize) -> usize {
        if level == 0 {
            self.conn_base
        } else {
            self.conn
        }
    }

    /// Slot `s`'s list at `level` (which must be at most the slot's level): the count word,
    /// then `capacity(level)` neighbour words.
    #[inline]
    pub(super) fn links(&self, s: u32, level: usize) -> &[AtomicU32] {
        if level == 0 {
            let at = s as usize * self.stride;
            &self.blocks[at..at + 1 + self.conn_base]
        } else {
            let at = self.upper_at[s as usize] as usize + (level - 1) * (1 + self.conn);
            &self.upper[at..at + 1 + self.conn]
        }
    }

    /// The neighbours slot `s` holds at `level`. During a parallel build another thread may be
    /// rewriting the list: its count never exceeds the capacity and every word is some valid
    /// slot, so a reader sees a mix of old and new neighbours, never an invalid one.
    #[inline]
    pub(super) fn neighbours(&self, s: u32, level: usize) -> &[AtomicU32] {
        let l = self.links(s, level);
        // Acquire: pairs with the build's release store of the count after the slots.
        &l[1..1 + l[0].load(Acquire) as usize]
    }

    /// Slot `s`'s vector. `s` must be below `len()`: `check` proved that of every stored
    /// neighbour, and the other callers loop below `len()`.
    #[inline]
    pub(super) fn vector(&self, s: u32) -> &[f32] {
        debug_assert!((s as usize) < self.keys.len());
        let at = s as usize * self.stride + 1 + self.conn_base;
        // SAFETY: `at + dim <= blocks.len()` for every valid slot; AtomicU32 has u32's size and
        // alignment, so f32's too, and these words are f32 bits that nothing writes after
        // the graph is made (only count and neighbour words change during a build).
        unsafe { std::slice::from_raw_parts(self.blocks.as_ptr().add(at) as *const f32, self.dim) }
    }

    #[inline]
    #[cfg_attr(not(target_arch = "x86_64"), allow(unused_variables))]
    fn prefetch(&self, s: u32) {
        #[cfg(target_arch = "x86_64")]
        {
            let p = self.vector(s).as_ptr() as *const i8;
            // SAFETY: prefetching is a hint and never faults; SSE is part of x86_64's baseline.
            unsafe {
                use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
                for line in (0..4 * self.dim).step_by(64) {
                    _mm_prefetch::<_MM_HINT_T0>(p.add(line));
                }
            }
        }
    }

    /// Higher-is-better score, as the rest of the index module reports it (usearch's distance
    /// `d` maps to `1 - d` for ip and cos and `-d` for l2).
    #[inline]
    fn score(&self, q: &[f32], s: u32) -> f32 {
        let x = self.vector(s);
        match self.metric {
            Metric::Ip => common::dot(q, x),
            Metric::L2 => -common::l2_sq(q, x),
            Metric::Cos => cosine(q, x),
        }
    }

    /// The key of a slot (our item id).
    #[inline]
    pub fn key(&self, slot: u32) -> u64 {
        self.keys[slot as usize]
    }

    /// The `k` best keys for `q` with beam width `ef`, skipping slots for which `excluded` is
    /// true (they are still walked through, as usearch's and hnswlib's filters do). Fewer than
    /// `k` hits means the walk found too few accepted nodes; the caller falls back.
    ///
    /// The walk is compiled for each metric and SIMD width (`with_kernel`) so that the distance
    /// inlines into it. With that, the batched neighbour scoring in `beam` and one sort of the
    /// result instead of two, 20,000 x 64 item vectors went from 27.4k to 31.9k queries/s at ef
    /// 64 (best of 8 interleaved runs; medians 25.2k, 27.0k); packed heap keys then took it to
    /// 33.3k (median 28.6k, hnswlib's 19.6k in the same 10 interleaved runs, best 29.0k).
    pub fn search(&self, q: &[f32], k: usize, ef: usize, excluded: impl Fn(u32) -> bool) -> Vec<Hit> {
        self.with_kernel(Search { q, k, ef, excluded })
    }

    /// Runs `job` with this graph's metric as a higher-is-better `score(a, b)` on the widest
    /// SIMD the CPU has, picked once per call and inlined into the job.
    #[inline]
    pub(super) fn with_kernel<J: Job>(&self, job: J) -> J::Out {
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: each variant runs only after its CPU features were detected.
            if common::has_avx512() {
                return unsafe { self.with_avx512(job) };
            }
            if common::has_avx2_fma() {
                return unsafe { self.with_avx2(job) };
            }
        }
        match self.metric {
            Metric::Ip => job.run(self, linalg::dot),
            Metric::L2 => job.run(self, |a, b| -linalg::l2_sq(a, b)),
            Metric::Cos => job.run(self, cosine_with(linalg::dot_and_norms)),
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn with_avx512<J: Job>(&self, job: J) -> J::Out {
        use linalg::avx512 as v;
        match self.metric {
            Metric::Ip => job.run(self, |a, b| v::dot(a, b)),
            Metric::L2 => job.run(self, |a, b| -v::l2_sq(a, b)),
            Metric::Cos => job.run(self, cosine_with(|a, b| v::dot_and_norms(a, b))),
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn with_avx2<J: Job>(&self, job: J) -> J::Out {
        use linalg::avx2 as v;
        match self.metric {
            Metric::Ip => job.run(self, |a, b| v::dot(a, b)),
            Metric::L2 => job.run(self, |a, b| -v::l2_sq(a, b)),
            Metric::Cos => job.run(self, cosine_with(|a, b| v::dot_and_norms(a, b))),
        }
    }

    /// Greedy descent (beam width 1) from `(cur, cur_s)` on level `top` down to level
    /// `stop + 1`: the closest node found, to start level `stop` from.
    #[inline(always)]
    pub(super) fn descend(&self, score: &impl Fn(u32) -> f32, mut cur: u32, mut cur_s: f32, top: usize, stop: usize) -> (u32, f32) {
        for level in (stop + 1..=top).rev() {
            if (self.levels[cur as usize] as usize) < level {
                continue;
            }
            loop {
                let mut moved = false;
                for n in self.neighbours(cur, level) {
                    let n = n.load(Relaxed);
                    let s = score(n);
                    if s > cur_s {
                        (cur, cur_s, moved) = (n, s, true);
                    }
                }
                if !moved {
                    break;
                }
            }
        }
        (cur, cur_s)
    }

    /// Best-first search on one level from `(start, start_s)`: the `cap` best accepted nodes
    /// seen (packed keys, see `pack`), stopping once the best unexpanded node scores below the
    /// worst of them.
    #[inline(always)]
    pub(super) fn beam(
        &self,
        score: &impl Fn(u32) -> f32,
        (start, start_s): (u32, f32),
        level: usize,
        cap: usize,
        excluded: &impl Fn(u32) -> bool,
    ) -> BinaryHeap<Reverse<u64>> {
        // The tags leave the thread-local for the walk (and go back after it): inside
        // `LocalKey::with`'s closure the walk lost the caller's target features.
        let mut v = VISITED.with(|v| std::mem::take(&mut *v.borrow_mut()));
        let tag = v.next(self.keys.len());
        let seen = &mut v.tags;
        // Both heaps hold packed `(score, slot)` keys (see `pack`), so each comparison is one
        // integer compare: with `(f32, u32)` pairs compared field by field, the two heaps
        // took a fifth of the search time on 20,000 x 64 vectors.
        let mut best: BinaryHeap<Reverse<u64>> = BinaryHeap::with_capacity(cap + 1);
        let mut frontier: BinaryHeap<u64> = BinaryHeap::with_capacity(4 * cap);
        // Scores at or below this cannot enter `best` (it is full and its worst is that).
        let threshold = |best: &BinaryHeap<Reverse<u64>>| if best.len() < cap { f32::NEG_INFINITY } else { unpack(best.peek().map_or(0, |r| r.0)).0 };
        let keep = |best: &mut BinaryHeap<Reverse<u64>>, key: u64| {
            if best.len() < cap {
                best.push(Reverse(key));
            } else if let Some(mut worst) = best.peek_mut() {
                if key > worst.0 {
                    *worst = Reverse(key);
                }
            }
        };
        seen[start as usize] = tag;
        frontier.push(pack(start_s, start));
        if !excluded(start) {
            keep(&mut best, pack(start_s, start));
        }
        // A node's unvisited neighbours are scored in one pass before any is pushed: with no
        // branch on a score between them, their vector loads overlap (faiss scores four at a
        // time for the same reason).
        let (mut fresh, mut scores) = (Vec::with_capacity(self.conn_base), Vec::with_capacity(self.conn_base));
        while let Some(key) = frontier.pop() {
            let (s, c) = unpack(key);
            if s < threshold(&best) {
                break;
            }
            fresh.clear();
            for n in self.neighbours(c, level) {
                let n = n.load(Relaxed);
                if seen[n as usize] != tag {
                    seen[n as usize] = tag;
                    fresh.push(n);
                }
            }
            if self.prefetch {
                for &n in &fresh {
                    self.prefetch(n);
                }
            }
            scores.clear();
            for &n in &fresh {
                scores.push(score(n));
            }
            for (&n, &s) in fresh.iter().zip(&scores) {
                if s > threshold(&best) {
                    frontier.push(pack(s, n));
                    if !excluded(n) {
                        keep(&mut best, pack(s, n));
                    }
                }
            }
        }
        VISITED.with(|c| *c.borrow_mut() = v);
        best
    }

    /// Exact top `k` over every vector (the fallback when too many nodes are excluded).
    pub fn exact(&self, q: &[f32], k: usize, excluded: impl Fn(u32) -> bool) -> Vec<Hit> {
        let mut top = TopK::new(k);
        for s in 0..self.keys.len() as u32 {
            if !excluded(s) {
                top.push(self.score(q, s), s);
            }
        }
        self.to_keys(top.into_unsorted().into_iter().map(|h| (h.score, h.id)))
    }

    /// Slots to keys (our item ids), best first, ties to the lower id.
    fn to_keys(&self, top: impl Iterator<Item = (f32, u32)>) -> Vec<Hit> {
        let mut hits: Vec<Hit> = top.map(|(score, s)| Hit { id: self.keys[s as usize] as u32, score }).collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
        hits
    }
}

/// usearch's name for a metric (its files record it, and its f16 / i8 indexes compute it).
pub(super) fn usearch_metric(metric: Metric) -> usearch::ffi::MetricKind {
    match metric {
        Metric::Ip => usearch::ffi::MetricKind::IP,
        Metric::Cos => usearch::ffi::MetricKind::Cos,
        Metric::L2 => usearch::ffi::MetricKind::L2sq,
    }
}

/// Work that runs with the graph's score kernel inlined (see `Graph::with_kernel`).
pub(super) trait Job {
    type Out;
    /// `score(a, b)` is the metric as a higher-is-better similarity of two vectors.
    fn run(self, g: &Graph, score: impl Fn(&[f32], &[f32]) -> f32) -> Self::Out;
}

struct Search<'a, E> {
    q: &'a [f32],
    k: usize,
    ef: usize,
    excluded: E,
}

impl<E: Fn(u32) -> bool> Job for Search<'_, E> {
    type Out = Vec<Hit>;

    #[inline(always)]
    fn run(self, g: &Graph, score: impl Fn(&[f32], &[f32]) -> f32) -> Vec<Hit> {
        if g.keys.is_empty() || self.k == 0 {
            return vec![];
        }
        let q = self.q;
        let score = |s: u32| score(q, g.vector(s));
        let start = g.descend(&score, g.entry, score(g.entry), g.max_level, 0);
        let best = g.beam(&score, start, 0, self.ef.max(self.k), &self.excluded);
        let mut hits = g.to_keys(best.into_iter().map(|r| unpack(r.0)));
        hits.truncate(self.k);
        hits
    }
}

/// `(score, slot)` as one integer whose order is the walk's: higher score first, then the
/// lower slot. The score's bits are mapped so that unsigned order is float order (scores are
/// finite: vectors and queries are checked for NaN and infinity before they get here).
#[inline(always)]
pub(super) fn pack(score: f32, slot: u32) -> u64 {
    let b = score.to_bits();
    let ord = if b >> 31 == 1 { !b } else { b | 0x8000_0000 };
    (u64::from(ord) << 32) | u64::from(u32::MAX - slot)
}

#[inline(always)]
pub(super) fn unpack(key: u64) -> (f32, u32) {
    let ord = (key >> 32) as u32;
    let b = if ord >> 31 == 1 { ord & 0x7fff_ffff } else { !ord };
    (f32::from_bits(b), u32::MAX - key as u32)
}

/// Cosine similarity of raw vectors, 0 when either is zero (usearch's cos distance is
/// `1 - cosine`).
#[inline]
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    cosine_with(common::dot_and_norms)(a, b)
}

/// [`cosine`] on a given `(a.b, a.a, b.b)` kernel.
#[inline(always)]
fn cosine_with(dot_and_norms: impl Fn(&[f32], &[f32]) -> (f32, f32, f32)) -> impl Fn(&[f32], &[f32]) -> f32 {
    move |a, b| {
        let (ab, aa, bb) = dot_and_norms(a, b);
        if aa * bb > 0.0 {
            ab / (aa * bb).sqrt()
        } else {
            0.0
        }
    }
}

/// Per-thread visit tags: a node is visited in this search when its tag equals the current
/// one, so starting a search costs one increment instead of clearing `n` flags.
#[derive(Default)]
struct Visited {
    tags: Vec<u16>,
    tag: u16,
}

impl Visited {
    fn next(&mut self, n: usize) -> u16 {
        if self.tags.len() != n || self.tag == u16::MAX {
            self.tags.clear();
            self.tags.resize(n, 0);
            self.tag = 0;
        }
        self.tag += 1;
        self.tag
    }
}

thread_local! {
    static VISITED: RefCell<Visited> = const { RefCell::new(Visited { tags: Vec::new(), tag: 0 }) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn packed_keys_order_like_scores_then_lower_slot() {
        let scores = [f32::MIN, -3.5, -1e-30, -0.0, 0.0, 1e-30, 0.25, 1.0, 7.0, f32::MAX];
        for &a in &scores {
            for &b in &scores {
                for (sa, sb) in [(0u32, 1u32), (5, 5), (u32::MAX - 1, 3)] {
                    let (ka, kb) = (pack(a, sa), pack(b, sb));
                    assert_eq!(unpack(ka), (a, sa), "round trip of ({a}, {sa})");
                    // -0.0 and 0.0 are distinct keys but compare as equal scores: skip them.
                    if a != b {
                        assert_eq!(ka > kb, a > b, "({a}, {sa}) vs ({b}, {sb})");
                    } else if a.to_bits() == b.to_bits() && sa != sb {
                        assert_eq!(ka > kb, sa < sb, "ties go to the lower slot");
                    }
                }
            }
        }
    }

    fn usearch_index(n: usize, dim: usize, metric: usearch::ffi::MetricKind) -> usearch::Index {
        let opts = usearch::ffi::IndexOptions {
            dimensions: dim,
            metric,
            connectivity: 8,
            expansion_add: 64,
            expansion_search: 64,
            quantization: usearch::ffi::ScalarKind::F32,
            ..Default::default()
        };
        let index = usearch::Index::new(&opts).unwrap();
        index.reserve(n).unwrap();
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(3);
        for i in 0..n {
            let v: Vec<f32> = (0..dim).map(|_| rng.gen_range(-1.0..1.0)).collect();
            // Keys out of slot order, so a slot/key mix-up shows.
            index.add((n - 1 - i) as u64 * 3, &v).unwrap();
        }
        index
    }

    /// Parsing and writing back reproduces usearch's bytes exactly, and usearch loads the result.
    #[test]
    fn round_trips_usearch_format() {
        let index = usearch_index(3000, 12, usearch::ffi::MetricKind::IP);
        let mut bytes = vec![0u8; index.serialized_length()];
        index.save_to_buffer(&mut bytes).unwrap();
        let g = Graph::parse(&bytes, 12, Metric::Ip).unwrap();
        assert!(g.max_level >= 1, "the test graph should have upper levels");
        let out = g.serialise();
        assert!(out == bytes, "serialised graph differs from usearch's bytes");
        let back = usearch::Index::new(&usearch::ffi::IndexOptions {
            dimensions: 12,
            metric: usearch::ffi::MetricKind::IP,
            connectivity: 8,
            quantization: usearch::ffi::ScalarKind::F32,
            ..Default::default()
        })
        .unwrap();
        back.load_from_buffer(&out).unwrap();
        assert_eq!(back.size(), 3000);
        // Truncated or padded input is an error, not a panic.
        assert!(Graph::parse(&bytes[..bytes.len() - 5], 12, Metric::Ip).is_err());
        assert!(Graph::parse(&bytes, 13, Metric::Ip).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(Graph::parse(&longer, 12, Metric::Ip).is_err());
        // A neighbour count beyond the list's capacity, or a link outside the graph, is an
        // error naming the slot (slot 0's base count sits after its key and level).
        let count_at = 8 + 3000 * 4 * 12 + 64 + 40 + 2 * 3000 + 8 + 2;
        let mut bad = bytes.clone();
        bad[count_at..count_at + 4].copy_from_slice(&1000u32.to_le_bytes());
        let e = Graph::parse(&bad, 12, Metric::Ip).err().expect("oversized count accepted").to_string();
        assert!(e.contains("slot 0") && e.contains("capacity"), "{e}");
        let mut bad = bytes.clone();
        bad[count_at..count_at + 4].copy_from_slice(&1u32.to_le_bytes());
        bad[count_at + 4..count_at + 8].copy_from_slice(&5000u32.to_le_bytes());
        let e = Graph::parse(&bad, 12, Metric::Ip).err().expect("link outside accepted").to_string();
        assert!(e.contains("slot 0") && e.contains("outside"), "{e}");
    }

    /// Our walk finds what usearch's own search finds (same graph, same beam), for each metric.
    #[test]
    fn search_agrees_with_usearch() {
        for (kind, metric) in
            [(usearch::ffi::MetricKind::IP, Metric::Ip), (usearch::ffi::MetricKind::L2sq, Metric::L2), (usearch::ffi::MetricKind::Cos, Metric::Cos)]
        {
            let index = usearch_index(3000, 12, kind);
            let mut bytes = vec![0u8; index.serialized_length()];
            index.save_to_buffer(&mut bytes).unwrap();
            let g = Graph::parse(&bytes, 12, metric).unwrap();
            let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(9);
            let (mut same, mut total) = (0, 0);
            for _ in 0..100 {
                let q: Vec<f32> = (0..12).map(|_| rng.gen_range(-1.0..1.0)).collect();
                let ours = g.search(&q, 10, 64, |_| false);
                let exact = g.exact(&q, 10, |_| false);
                let theirs = index.search(&q, 10).unwrap();
                assert_eq!(ours.len(), 10);
                total += 10;
                same += ours.iter().filter(|h| theirs.keys.contains(&(h.id as u64))).count();
                // Scores are the metric's: the exact top score bounds ours.
                assert!(ours[0].score <= exact[0].score + 1e-5);
                assert!(ours.windows(2).all(|w| w[0].score >= w[1].score));
            }
            assert!(same as f64 / total as f64 > 0.97, "{metric:?}: {same} of {total} hits shared with usearch");
            // Excluded keys never come back, and the rest still fill k.
            let q = vec![0.5f32; 12];
            let all = g.exact(&q, 3000, |_| false);
            let banned: Vec<u64> = all[..20].iter().map(|h| h.id as u64).collect();
            let hits = g.search(&q, 10, 64, |s| banned.contains(&g.key(s)));
            assert_eq!(hits.len(), 10);
            assert!(hits.iter().all(|h| !banned.contains(&(h.id as u64))));
        }
    }
}
