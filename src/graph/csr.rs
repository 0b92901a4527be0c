//! Graphs in compressed sparse row (CSR) form: the input of node2vec walks and of the graph
//! evaluations.
//!
//! Hand-written instead of `petgraph::csr::Csr` because the walk sampler needs three things
//! petgraph does not give directly: neighbour lists *sorted* by id (so "is x a neighbour of t"
//! is a binary search, which is what makes on-the-fly second-order walks O(E) in memory),
//! `u32` ids with `f32` weights in two flat arrays (8 bytes per stored arc, cache friendly),
//! and a construction path that sorts once and merges duplicates under a documented policy.
//!
//! Conventions (all tested in `graph::tests`):
//! - Node ids are dense `0..n_nodes()`.
//! - **Undirected** graphs store every edge in both directions, so `neighbors(u)` is the full
//!   neighbourhood and `n_arcs()` is twice the number of (non-loop) edges.
//! - **Self-loops are kept, once**: `u-u` appears a single time in `u`'s list (also in
//!   undirected graphs, where it is not doubled). A walk at `u` may therefore stay at `u`
//!   with probability proportional to the loop's weight, as in the reference node2vec code.
//! - **Duplicate edges** (the same pair listed twice, e.g. an undirected file listing both
//!   `a b` and `b a`) are merged by [`Duplicates`]: edge-list files use `Max` (listing an edge
//!   twice does not change the graph), graphs built from interactions use `Sum` (each
//!   co-occurrence / interaction adds to the weight).
//! - Weights are finite and > 0; zero or negative weights are rejected at construction.

use crate::data::{IdMap, Split};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// How repeated (source, target) pairs are merged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Duplicates {
    /// Weights add up (counts, co-occurrences).
    Sum,
    /// The largest weight wins (idempotent: files listing undirected edges both ways).
    Max,
}

/// A weighted graph in CSR form with sorted neighbour lists.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Graph {
    pub directed: bool,
    /// `indptr[u]..indptr[u + 1]` indexes `u`'s arcs in `indices` / `weights`.
    pub indptr: Vec<u64>,
    /// Targets, sorted ascending and unique within each node's range.
    pub indices: Vec<u32>,
    pub weights: Vec<f32>,
    /// True when every weight equals 1 (walks then sample neighbours uniformly).
    pub unweighted: bool,
}

impl Graph {
    /// Builds a graph on `n_nodes` nodes from `(source, target, weight)` edges. Undirected
    /// edges are stored in both directions (self-loops once); duplicates merge by `dup`.
    pub fn from_edges(n_nodes: usize, edges: &[(u32, u32, f32)], directed: bool, dup: Duplicates) -> Result<Graph> {
        if n_nodes > u32::MAX as usize {
            bail!("graph has {n_nodes} nodes, more than u32 ids allow");
        }
        for &(u, v, w) in edges {
            if u as usize >= n_nodes || v as usize >= n_nodes {
                bail!("edge ({u}, {v}) refers to a node outside 0..{n_nodes}");
            }
            if !(w.is_finite() && w > 0.0) {
                bail!("edge ({u}, {v}) has weight {w}; weights must be finite and > 0");
            }
        }
        // Counting sort by source (O(n + E) memory), then sort each row by target.
        let mut deg = vec![0u64; n_nodes + 1];
        for &(u, v, _) in edges {
            deg[u as usize + 1] += 1;
            if !directed && u != v {
                deg[v as usize + 1] += 1;
            }
        }
        for i in 0..n_nodes {
            deg[i + 1] += deg[i];
        }
        let total = deg[n_nodes] as usize;
        let mut fill = deg.clone();
        let mut arcs: Vec<(u32, f32)> = vec![(0, 0.0); total];
        let mut put = |s: u32, t: u32, w: f32, fill: &mut Vec<u64>| {
            let k = fill[s as usize] as usize;
            arcs[k] = (t, w);
            fill[s as usize] += 1;
        };
        for &(u, v, w) in edges {
            put(u, v, w, &mut fill);
            if !directed && u != v {
                put(v, u, w, &mut fill);
            }
        }
        let mut indptr = Vec::with_capacity(n_nodes + 1);
        let mut indices: Vec<u32> = Vec::with_capacity(total);
        let mut weights: Vec<f32> = Vec::with_capacity(total);
        indptr.push(0u64);
        for u in 0..n_nodes {
            let row = &mut arcs[deg[u] as usize..deg[u + 1] as usize];
            row.sort_unstable_by_key(|a| a.0);
            let start = indices.len();
            for &(t, w) in row.iter() {
                if indices.len() > start && *indices.last().unwrap() == t {
                    let last = weights.last_mut().unwrap();
                    *last = match dup {
                        Duplicates::Sum => *last + w,
                        Duplicates::Max => last.max(w),
                    };
                } else {
                    indices.push(t);
                    weights.push(w);
                }
            }
            indptr.push(indices.len() as u64);
        }
        let unweighted = weights.iter().all(|&w| w == 1.0);
        Ok(Graph { directed, indptr, indices, weights, unweighted })
    }

    pub fn n_nodes(&self) -> usize {
        self.indptr.len().saturating_sub(1)
    }

    /// Stored arcs (an undirected non-loop edge counts twice).
    pub fn n_arcs(&self) -> usize {
        self.indices.len()
    }

    /// Edges: arcs for directed graphs; for undirected ones, each edge (and loop) once.
    pub fn n_edges(&self) -> usize {
        if self.directed {
            return self.n_arcs();
        }
        let loops = (0..self.n_nodes() as u32).filter(|&u| self.has_edge(u, u)).count();
        (self.n_arcs() - loops) / 2 + loops
    }

    #[inline]
    pub fn range(&self, u: u32) -> std::ops::Range<usize> {
        self.indptr[u as usize] as usize..self.indptr[u as usize + 1] as usize
    }

    /// Out-neighbours of `u`, sorted ascending.
    #[inline]
    pub fn neighbors(&self, u: u32) -> &[u32] {
        &self.indices[self.range(u)]
    }

    /// Weights aligned with [`Graph::neighbors`].
    #[inline]
    pub fn neighbor_weights(&self, u: u32) -> &[f32] {
        &self.weights[self.range(u)]
    }

    #[inline]
    pub fn degree(&self, u: u32) -> usize {
        (self.indptr[u as usize + 1] - self.indptr[u as usize]) as usize
    }

    /// Whether the arc `u -> v` exists (binary search in `u`'s sorted list).
    #[inline]
    pub fn has_edge(&self, u: u32, v: u32) -> bool {
        self.neighbors(u).binary_search(&v).is_ok()
    }

    pub fn edge_weight(&self, u: u32, v: u32) -> Option<f32> {
        self.neighbors(u).binary_search(&v).ok().map(|i| self.neighbor_weights(u)[i])
    }

    /// All arcs as `(source, target, weight)`.
    pub fn arcs(&self) -> impl Iterator<Item = (u32, u32, f32)> + '_ {
        (0..self.n_nodes() as u32).flat_map(move |u| self.neighbors(u).iter().zip(self.neighbor_weights(u)).map(move |(&v, &w)| (u, v, w)))
    }

    /// Edges once each: all arcs if directed, else pairs with `u <= v`.
    pub fn edges(&self) -> impl Iterator<Item = (u32, u32, f32)> + '_ {
        let directed = self.directed;
        self.arcs().filter(move |&(u, v, _)| directed || u <= v)
    }
}

/// A graph read from an edge-list file, with the raw node ids.
#[derive(Clone, Debug, Default)]
pub struct EdgeListGraph {
    pub graph: Graph,
    /// Raw node id (as written in the file) <-> dense node id.
    pub ids: IdMap,
}

/// Reads an edge list: one edge per line, `source target [weight]`, columns separated by
/// whitespace, tabs or commas. Lines starting with `#` or `%` and blank lines are skipped.
/// Node ids are arbitrary strings, mapped to dense ids in order of first appearance. Missing
/// weights are 1. Duplicates keep the largest weight ([`Duplicates::Max`]). Errors name the
/// file and line, e.g. `PPI.edg:17: expected 2 or 3 columns, got 1`.
pub fn read_edge_list(path: &Path, directed: bool) -> Result<EdgeListGraph> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading edge list {}", path.display()))?;
    let name = path.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| path.display().to_string());
    parse_edge_list(&text, &name, directed)
}

/// [`read_edge_list`] on text already in memory; `name` prefixes error messages.
pub fn parse_edge_list(text: &str, name: &str, directed: bool) -> Result<EdgeListGraph> {
    let mut ids = IdMap::default();
    let mut edges = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let lineno = i + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('%') {
            continue;
        }
        let cols: Vec<&str> = line.split(|c: char| c == ',' || c.is_whitespace()).filter(|s| !s.is_empty()).collect();
        if cols.len() != 2 && cols.len() != 3 {
            bail!("{name}:{lineno}: expected 2 or 3 columns, got {}", cols.len());
        }
        let w = if cols.len() == 3 {
            let w: f32 = cols[2].parse().map_err(|_| anyhow::anyhow!("{name}:{lineno}: weight `{}` is not a number", cols[2]))?;
            if !(w.is_finite() && w > 0.0) {
                bail!("{name}:{lineno}: weight {w} must be finite and > 0");
            }
            w
        } else {
            1.0
        };
        let u = ids.intern(cols[0]);
        let v = ids.intern(cols[1]);
        edges.push((u, v, w));
    }
    let graph = Graph::from_edges(ids.len(), &edges, directed, Duplicates::Max).with_context(|| name.to_string())?;
    Ok(EdgeListGraph { graph, ids })
}

/// Weight of a user-item edge in [`bipartite_from_split`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum BipartiteWeight {
    /// Number of training interactions of the pair.
    #[default]
    Count,
    /// The pair's rating (the largest, if it was rated several times); ratings must be > 0.
    Rating,
}

/// Undirected user-item graph of the training interactions: users are nodes `0..n_users`,
/// item `i` is node `n_users + i`. Items or users without training data are isolated nodes.
pub fn bipartite_from_split(split: &Split, weight: BipartiteWeight) -> Result<Graph> {
    let nu = split.n_users as u32;
    let mut edges = Vec::with_capacity(split.train.len());
    for it in &split.train {
        let w = match weight {
            BipartiteWeight::Count => 1.0,
            BipartiteWeight::Rating => {
                if !(it.rating.is_finite() && it.rating > 0.0) {
                    bail!("user {} rated item {} with {}: rating weights must be > 0 (use weight = \"count\")", it.user, it.item, it.rating);
                }
                it.rating
            }
        };
        edges.push((it.user, nu + it.item, w));
    }
    let dup = match weight {
        BipartiteWeight::Count => Duplicates::Sum,
        BipartiteWeight::Rating => Duplicates::Max,
    };
    Graph::from_edges(split.n_users + split.n_items, &edges, false, dup)
}

/// Undirected item-item co-occurrence graph on `0..n_items`: within each user's training
/// sequence (time ordered), every pair of items at most `window` positions apart adds 1 to
/// their edge weight. A user repeating an item adds no self-loop. Items never co-occurring
/// are isolated nodes.
pub fn cooccurrence_from_split(split: &Split, window: usize) -> Result<Graph> {
    if window == 0 {
        bail!("co-occurrence window must be at least 1");
    }
    let mut edges = Vec::new();
    for seq in split.by_user(&split.train) {
        for (i, &a) in seq.iter().enumerate() {
            for &b in seq.iter().skip(i + 1).take(window) {
                if a != b {
                    edges.push((a.min(b), a.max(b), 1.0f32));
                }
            }
        }
    }
    Graph::from_edges(split.n_items, &edges, false, Duplicates::Sum)
}
