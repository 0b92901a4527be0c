//! node2vec random walks (Grover & Leskovec 2016) on weighted, directed or undirected
//! [`Graph`]s, written into a [`Corpus`] for skip-gram training.
//!
//! Second-order transitions are computed **on the fly** by rejection sampling, the approach of
//! KnightKing (Yang et al., SOSP 2019) and PecanPy's `SparseOTF`: standing at `v` having come
//! from `t`, propose a neighbour `x` of `v` with probability proportional to `w(v, x)` and
//! accept it with probability `alpha(t, x) / max(1/p, 1, 1/q)`, where `alpha` is `1/p` if
//! `x == t`, `1` if the arc `t -> x` exists (binary search in `t`'s sorted list) and `1/q`
//! otherwise. The accepted `x` is then distributed exactly as node2vec prescribes, and memory
//! stays O(E) (one alias table per node, 8 bytes per arc, and only for weighted graphs).
//! `mode = "alias"` instead precomputes one alias table per arc (the original node2vec
//! preprocessing, memory O(sum of squared degrees)); it is faster per step on small graphs and
//! refuses graphs needing more than [`MAX_ALIAS_ENTRIES`] entries.
//!
//! - `p = q = 1` takes a first-order (DeepWalk) fast path: no rejection, no binary search.
//! - Directed graphs follow out-edges, and `alpha` uses the arc `t -> x` (the paper's
//!   distance `d(t, x)`; the reference implementation tests `x -> t`, identical when
//!   undirected).
//! - A walk stops early at a node without out-edges. An isolated start node yields a walk of
//!   length 1, so every node appears in the corpus and gets a vector.
//! - Output order: round `r` in `0..walks_per_node`, then the nodes in a per-round shuffled
//!   order (as node2vec does). Each walk's RNG is seeded from `(seed, start node, r)`, so the
//!   corpus is identical for a seed whatever the number of rayon threads.

use super::csr::Graph;
use crate::data::corpus::Corpus;
use anyhow::{bail, Result};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Largest number of per-arc alias entries `mode = "alias"` will allocate (8 bytes each,
/// so 512 MiB). PPI needs 9.6M; Wikipedia (hub nodes) ~200M and is refused: on it `otf`
/// is also ~10x faster than `alias` was (0.7 s vs 7 s for 10 x 80-step walks per node).
pub const MAX_ALIAS_ENTRIES: usize = 1 << 26;

/// How second-order transitions are sampled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum WalkMode {
    /// Rejection sampling on the fly, O(E) memory.
    #[default]
    Otf,
    /// Precomputed alias table per arc, O(sum deg^2) memory; small graphs only.
    Alias,
}

/// Walk parameters (the corpus half of a node2vec model's parameters).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WalkConfig {
    /// Return parameter: high `p` makes going back to the previous node unlikely.
    pub p: f64,
    /// In-out parameter: `q < 1` favours moving away (DFS-like), `q > 1` staying close.
    pub q: f64,
    pub walks_per_node: usize,
    /// Nodes per walk (including the start node).
    pub walk_length: usize,
    pub mode: WalkMode,
}

impl Default for WalkConfig {
    fn default() -> Self {
        WalkConfig { p: 1.0, q: 1.0, walks_per_node: 10, walk_length: 80, mode: WalkMode::Otf }
    }
}

impl WalkConfig {
    /// Range checks; the error names the offending key.
    pub fn check(&self) -> std::result::Result<(), (&'static str, String)> {
        if !(self.p.is_finite() && self.p > 0.0) {
            return Err(("p", format!("must be finite and > 0, got {}", self.p)));
        }
        if !(self.q.is_finite() && self.q > 0.0) {
            return Err(("q", format!("must be finite and > 0, got {}", self.q)));
        }
        if self.walks_per_node == 0 {
            return Err(("walks_per_node", "must be at least 1".into()));
        }
        if self.walk_length == 0 {
            return Err(("walk_length", "must be at least 1".into()));
        }
        Ok(())
    }

    fn first_order(&self) -> bool {
        self.p == 1.0 && self.q == 1.0
    }
}

/// Walker's alias tables over each node's neighbour list (local indexes), O(E).
#[derive(Clone, Debug, Default)]
pub(crate) struct NodeAlias {
    prob: Vec<f32>,
    alias: Vec<u32>,
}

/// Fills `prob`/`alias` (length `w.len()`) with Vose's alias table of weights `w`.
pub(crate) fn build_alias(w: &[f32], prob: &mut [f32], alias: &mut [u32]) {
    let n = w.len();
    if n == 0 {
        return;
    }
    let sum: f64 = w.iter().map(|&x| x as f64).sum();
    let mut scaled: Vec<f64> = w.iter().map(|&x| x as f64 * n as f64 / sum).collect();
    let (mut small, mut large): (Vec<usize>, Vec<usize>) = (0..n).partition(|&i| scaled[i] < 1.0);
    while !small.is_empty() && !large.is_empty() {
        let (s, l) = (small.pop().unwrap(), *large.last().unwrap());
        prob[s] = scaled[s] as f32;
        alias[s] = l as u32;
        scaled[l] -= 1.0 - scaled[s];
        if scaled[l] < 1.0 {
            large.pop();
            small.push(l);
        }
    }
    for i in small.into_iter().chain(large) {
        prob[i] = 1.0;
        alias[i] = i as u32;
    }
}

#[inline]
fn sample_alias<R: Rng>(prob: &[f32], alias: &[u32], rng: &mut R) -> usize {
    let j = rng.gen_range(0..prob.len());
    if rng.gen::<f32>() < prob[j] {
        j
    } else {
        alias[j] as usize
    }
}

impl NodeAlias {
    pub(crate) fn new(g: &Graph) -> NodeAlias {
        if g.unweighted {
            return NodeAlias::default();
        }
        let mut prob = vec![0.0f32; g.n_arcs()];
        let mut alias = vec![0u32; g.n_arcs()];
        for u in 0..g.n_nodes() as u32 {
            let r = g.range(u);
            build_alias(g.neighbor_weights(u), &mut prob[r.clone()], &mut alias[r]);
        }
        NodeAlias { prob, alias }
    }

    /// Local index of a neighbour of `u` drawn by weight (uniform if the graph is unweighted).
    #[inline]
    pub(crate) fn sample<R: Rng>(&self, g: &Graph, u: u32, rng: &mut R) -> usize {
        let r = g.range(u);
        if self.prob.is_empty() {
            rng.gen_range(0..r.len())
        } else {
            sample_alias(&self.prob[r.clone()], &self.alias[r], rng)
        }
    }
}

/// Per-arc alias tables for `mode = "alias"`: entry range `offsets[e]..offsets[e + 1]`
/// samples the next step after traversing arc `e = t -> v`, over `v`'s neighbours.
struct ArcAlias {
    offsets: Vec<u64>,
    prob: Vec<f32>,
    alias: Vec<u32>,
}

impl ArcAlias {
    fn new(g: &Graph, p: f64, q: f64) -> Result<ArcAlias> {
        let mut offsets = Vec::with_capacity(g.n_arcs() + 1);
        offsets.push(0u64);
        for &v in &g.indices {
            let last = *offsets.last().unwrap();
            offsets.push(last + g.degree(v) as u64);
        }
        let total = *offsets.last().unwrap() as usize;
        if total > MAX_ALIAS_ENTRIES {
            bail!("mode = \"alias\" needs {total} transition entries (more than {MAX_ALIAS_ENTRIES}); use mode = \"otf\"");
        }
        let sources: Vec<u32> = (0..g.n_nodes() as u32).flat_map(|t| std::iter::repeat(t).take(g.degree(t))).collect();
        let tables: Vec<(Vec<f32>, Vec<u32>)> = (0..g.n_arcs())
            .into_par_iter()
            .map(|e| {
                let (t, v) = (sources[e], g.indices[e]);
                let w: Vec<f32> = g.neighbors(v).iter().zip(g.neighbor_weights(v)).map(|(&x, &w)| (w as f64 * alpha(g, t, x, p, q)) as f32).collect();
                let mut prob = vec![0.0; w.len()];
                let mut alias = vec![0; w.len()];
                build_alias(&w, &mut prob, &mut alias);
                (prob, alias)
            })
            .collect();
        let mut prob = Vec::with_capacity(total);
        let mut alias = Vec::with_capacity(total);
        for (p, a) in tables {
            prob.extend(p);
            alias.extend(a);
        }
        Ok(ArcAlias { offsets, prob, alias })
    }
}

/// node2vec's unnormalised bias for stepping to `x` after `t -> v`.
#[inline]
fn alpha(g: &Graph, t: u32, x: u32, p: f64, q: f64) -> f64 {
    if x == t {
        1.0 / p
    } else if g.has_edge(t, x) {
        1.0
    } else {
        1.0 / q
    }
}

/// The exact distribution of the next node after `t -> v`, as `(x, probability)` pairs
/// over `v`'s neighbours (for tests and diagnostics).
pub fn transition_probs(g: &Graph, t: u32, v: u32, p: f64, q: f64) -> Vec<(u32, f64)> {
    let un: Vec<(u32, f64)> = g.neighbors(v).iter().zip(g.neighbor_weights(v)).map(|(&x, &w)| (x, w as f64 * alpha(g, t, x, p, q))).collect();
    let s: f64 = un.iter().map(|e| e.1).sum();
    un.into_iter().map(|(x, w)| (x, w / s)).collect()
}

/// The sampler shared by all walks of one call.
struct Walker<'g> {
    g: &'g Graph,
    node_alias: NodeAlias,
    arc_alias: Option<ArcAlias>,
    first_order: bool,
    inv_p: f64,
    inv_q: f64,
    /// max(1/p, 1, 1/q) and min(1/p, 1, 1/q) / max: acceptance below it needs no lookup.
    upper: f64,
    sure: f64,
    len: usize,
}

impl<'g> Walker<'g> {
    fn new(g: &'g Graph, cfg: &WalkConfig) -> Result<Self> {
        let (inv_p, inv_q) = (1.0 / cfg.p, 1.0 / cfg.q);
        let upper = inv_p.max(1.0).max(inv_q);
        let lower = inv_p.min(1.0).min(inv_q);
        let first_order = cfg.first_order();
        let arc_alias = match (cfg.mode, first_order) {
            (WalkMode::Alias, false) => Some(ArcAlias::new(g, cfg.p, cfg.q)?),
            _ => None,
        };
        let node_alias = NodeAlias::new(g);
        Ok(Walker { g, node_alias, arc_alias, first_order, inv_p, inv_q, upper, sure: lower / upper, len: cfg.walk_length })
    }

    /// Rejection-sampled second-order step after `t -> v`; returns the local index in `v`'s list.
    #[inline]
    fn step_otf<R: Rng>(&self, t: u32, v: u32, rng: &mut R) -> usize {
        let nbrs = self.g.neighbors(v);
        loop {
            let j = self.node_alias.sample(self.g, v, rng);
            let r = rng.gen::<f64>();
            if r < self.sure {
                return j;
            }
            let x = nbrs[j];
            let a = if x == t {
                self.inv_p
            } else if self.g.has_edge(t, x) {
                1.0
            } else {
                self.inv_q
            };
            if r * self.upper < a {
                return j;
            }
        }
    }

    /// Appends one walk from `start` to `out`.
    fn walk<R: Rng>(&self, start: u32, rng: &mut R, out: &mut Vec<u32>) {
        let g = self.g;
        out.push(start);
        if self.len == 1 || g.degree(start) == 0 {
            return;
        }
        let j = self.node_alias.sample(g, start, rng);
        let mut arc = g.indptr[start as usize] as usize + j;
        let (mut t, mut v) = (start, g.indices[arc]);
        out.push(v);
        for _ in 2..self.len {
            let deg = g.degree(v);
            if deg == 0 {
                return;
            }
            let j = if self.first_order {
                self.node_alias.sample(g, v, rng)
            } else if let Some(aa) = &self.arc_alias {
                let r = aa.offsets[arc] as usize..aa.offsets[arc + 1] as usize;
                sample_alias(&aa.prob[r.clone()], &aa.alias[r], rng)
            } else {
                self.step_otf(t, v, rng)
            };
            arc = g.indptr[v as usize] as usize + j;
            t = v;
            v = g.indices[arc];
            out.push(v);
        }
    }
}

#[inline]
fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The RNG of walk `round` from `node`: a pure function of its arguments.
pub fn walk_rng(seed: u64, node: u32, round: usize) -> Xoshiro256PlusPlus {
    let h = splitmix64(splitmix64(splitmix64(seed) ^ node as u64) ^ round as u64);
    Xoshiro256PlusPlus::seed_from_u64(h)
}

/// Generates `walks_per_node` walks from every node of `g` in parallel (rayon's current
/// pool); deterministic for a `seed` whatever the thread count. The corpus vocabulary is
/// the node set (`vocab_size = g.n_nodes()`).
pub fn generate_walks(g: &Graph, cfg: &WalkConfig, seed: u64) -> Result<Corpus> {
    if let Err((k, m)) = cfg.check() {
        bail!("node2vec `{k}`: {m}");
    }
    let n = g.n_nodes();
    let walker = Walker::new(g, cfg)?;
    // Start nodes in walk order: per round, a permutation drawn from (seed, round).
    let mut starts: Vec<(u32, u32)> = Vec::with_capacity(n * cfg.walks_per_node);
    for r in 0..cfg.walks_per_node {
        let mut order: Vec<u32> = (0..n as u32).collect();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(splitmix64(seed ^ 0xA5A5_5A5A_0F0F_F0F0) ^ r as u64);
        order.shuffle(&mut rng);
        starts.extend(order.into_iter().map(|u| (u, r as u32)));
    }
    const CHUNK: usize = 256;
    let chunks: Vec<(Vec<u32>, Vec<u32>)> = starts
        .par_chunks(CHUNK)
        .map(|chunk| {
            let mut tokens = Vec::with_capacity(chunk.len() * cfg.walk_length);
            let mut lens = Vec::with_capacity(chunk.len());
            for &(u, r) in chunk {
                let before = tokens.len();
                let mut rng = walk_rng(seed, u, r as usize);
                walker.walk(u, &mut rng, &mut tokens);
                lens.push((tokens.len() - before) as u32);
            }
            tokens.shrink_to_fit();
            (tokens, lens)
        })
        .collect();
    let total: usize = chunks.iter().map(|c| c.0.len()).sum();
    let mut corpus = Corpus::new(n);
    corpus.tokens.reserve_exact(total);
    corpus.offsets.reserve_exact(starts.len());
    for (tokens, lens) in chunks {
        let mut off = corpus.tokens.len() as u64;
        corpus.tokens.extend_from_slice(&tokens);
        for l in lens {
            off += l as u64;
            corpus.offsets.push(off);
        }
    }
    Ok(corpus)
}
