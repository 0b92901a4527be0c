//! `annoy`: a forest of random-projection trees in the style of Spotify's Annoy.
//!
//! Written in-project. Checked on crates.io (`cargo info`): `annoy-rs` 0.1.0 only loads
//! indexes built by the C++ library (no build); `arroy` 0.9 (Meilisearch, maintained) keeps
//! its trees in an LMDB environment (heed) rather than a plain directory, and brings LMDB
//! along. The algorithm itself is small.
//!
//! Each tree splits recursively by a hyperplane between two points found by a short,
//! seeded 2-means on a sample of the node's items (angular: hyperplane through the origin
//! between the normalised centres; euclidean: the perpendicular bisector), until a node
//! holds at most `leaf_size` items. Trees are built in parallel. Search walks all trees at
//! once with one priority queue keyed by the smallest margin met on the way (as Annoy),
//! collects leaf items until `search_k` candidates (default `n_trees * k`), then scores the
//! distinct candidates exactly. When exclusions leave fewer than `k` unseen candidates the
//! walk continues, so a user always gets `min(k, unseen)` hits.

// Max-heap entry: priority = smallest margin on the path.
use super::common::Scored as Entry;
use super::common::{self, TopK};
use super::{AnnIndex, Hit, IndexKind, Metric};
use crate::ensure_param;
use crate::linalg::{self, Matrix};
use crate::params::{self, ParamError, Validate};
use anyhow::{bail, Context, Result};
use rand::seq::SliceRandom;
use rand::Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BinaryHeap;
use std::path::Path;

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// `euclidean` for metric l2, `angular` otherwise.
    #[default]
    Auto,
    Angular,
    Euclidean,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AnnoyParams {
    pub n_trees: usize,
    /// Candidates inspected per query (search key); 0 = `n_trees * k`.
    pub search_k: usize,
    /// Most items in a leaf.
    pub leaf_size: usize,
    pub split: Split,
}

impl Default for AnnoyParams {
    fn default() -> Self {
        AnnoyParams { n_trees: 50, search_k: 0, leaf_size: 32, split: Split::Auto }
    }
}

impl Validate for AnnoyParams {
    fn validate(&self) -> Result<(), ParamError> {
        ensure_param!(self.n_trees >= 1, "n_trees", "must be at least 1, got {}", self.n_trees);
        ensure_param!(self.leaf_size >= 1, "leaf_size", "must be at least 1, got {}", self.leaf_size);
        Ok(())
    }
}

pub static KIND: IndexKind = IndexKind {
    kind: "annoy",
    about: "forest of random-projection trees: n_trees, search_k, leaf_size, split = auto|angular|euclidean",
    exact: false,
    version: 1,
    search_keys: &["search_k"],
    parse: parse_params,
    build: build_boxed,
    load: load_boxed,
};

fn parse_params(v: &serde_json::Value) -> Result<serde_json::Value, ParamError> {
    params::canonical::<AnnoyParams>(v).map(|(_, c)| c)
}

fn build_boxed(p: &serde_json::Value, items: &Matrix, metric: Metric, seed: u64) -> Result<Box<dyn AnnIndex>> {
    let p: AnnoyParams = params::parse(p)?;
    Ok(Box::new(AnnoyIndex::build(&p, items, metric, seed)?))
}

fn load_boxed(p: &serde_json::Value, dir: &Path) -> Result<Box<dyn AnnIndex>> {
    let p: AnnoyParams = params::parse(p)?;
    Ok(Box::new(AnnoyIndex::load(&p, dir)?))
}

#[derive(Serialize, Deserialize)]
struct Header {
    kind: String,
    version: u32,
    metric: Metric,
    rows: usize,
    dim: usize,
    nodes: usize,
    splits: usize,
    roots: usize,
}

/// Node `i`: a split when `is_leaf[i] == 0` (`a` = split index, `b`/`c` = left/right
/// children), else a leaf holding `leaf_items[a..a + b]`.
#[derive(Default)]
struct Forest {
    a: Vec<u32>,
    b: Vec<u32>,
    c: Vec<u32>,
    is_leaf: Vec<u8>,
    /// Split hyperplanes: `normals[s * dim..]` and `offsets[s]`.
    normals: Vec<f32>,
    offsets: Vec<f32>,
    leaf_items: Vec<u32>,
    roots: Vec<u32>,
}

pub struct AnnoyIndex {
    metric: Metric,
    vecs: Matrix,
    forest: Forest,
    n_trees: usize,
    search_k: usize,
}

struct TreeBuilder<'a> {
    pts: &'a Matrix,
    angular: bool,
    leaf_size: usize,
    f: Forest,
}

impl TreeBuilder<'_> {
    fn leaf(&mut self, ids: &[u32]) -> u32 {
        let node = self.f.a.len() as u32;
        self.f.a.push(self.f.leaf_items.len() as u32);
        self.f.b.push(ids.len() as u32);
        self.f.c.push(0);
        self.f.is_leaf.push(1);
        self.f.leaf_items.extend_from_slice(ids);
        node
    }

    /// A hyperplane `(normal, offset)` from a seeded 2-means on a sample of `ids`.
    fn hyperplane(&self, ids: &[u32], rng: &mut impl Rng) -> (Vec<f32>, f32) {
        let d = self.pts.cols;
        let unit = |v: &[f32]| -> Vec<f32> {
            let n = linalg::dot(v, v).sqrt();
            if n > 0.0 {
                v.iter().map(|x| x / n).collect()
            } else {
                v.to_vec()
            }
        };
        let get = |i: u32| -> Vec<f32> {
            let r = self.pts.row(i as usize);
            if self.angular {
                unit(r)
            } else {
                r.to_vec()
            }
        };
        let i = rng.gen_range(0..ids.len());
        let mut j = rng.gen_range(0..ids.len() - 1);
        if j >= i {
            j += 1;
        }
        let (mut p, mut q) = (get(ids[i]), get(ids[j]));
        let (mut np, mut nq) = (1.0f32, 1.0f32);
        for _ in 0..64.min(ids.len()) {
            let x = get(ids[rng.gen_range(0..ids.len())]);
            let (dp, dq) = (linalg::l2_sq(&p, &x) * np, linalg::l2_sq(&q, &x) * nq);
            let (c, nc) = if dp < dq { (&mut p, &mut np) } else { (&mut q, &mut nq) };
            for (ci, xi) in c.iter_mut().zip(&x) {
                *ci = (*ci * *nc + xi) / (*nc + 1.0);
            }
            *nc += 1.0;
        }
        if self.angular {
            p = unit(&p);
            q = unit(&q);
        }
        let normal = unit(&p.iter().zip(&q).map(|(a, b)| a - b).collect::<Vec<_>>());
        let offset = if self.angular {
            0.0
        } else {
            let mid: Vec<f32> = p.iter().zip(&q).map(|(a, b)| (a + b) / 2.0).collect();
            -linalg::dot(&normal, &mid)
        };
        debug_assert_eq!(normal.len(), d);
        (normal, offset)
    }

    fn build(&mut self, ids: &mut [u32], rng: &mut impl Rng, depth: usize) -> u32 {
        if ids.len() <= self.leaf_size || depth > 200 {
            return self.leaf(ids);
        }
        let (normal, offset) = self.hyperplane(ids, rng);
        // Partition: right side (margin > 0) to the back.
        let mut left: Vec<u32> = Vec::with_capacity(ids.len());
        let mut right: Vec<u32> = Vec::with_capacity(ids.len());
        for &i in ids.iter() {
            let m = linalg::dot(&normal, self.pts.row(i as usize)) + offset;
            if m > 0.0 || (m == 0.0 && rng.gen::<bool>()) {
                right.push(i);
            } else {
                left.push(i);
            }
        }
        // Degenerate split (duplicates): split at random.
        if left.is_empty() || right.is_empty() {
            ids.shuffle(rng);
            let h = ids.len() / 2;
            left = ids[..h].to_vec();
            right = ids[h..].to_vec();
        }
        let s = self.f.offsets.len() as u32;
        self.f.normals.extend_from_slice(&normal);
        self.f.offsets.push(offset);
        let node = self.f.a.len();
        self.f.a.push(s);
        self.f.b.push(0);
        self.f.c.push(0);
        self.f.is_leaf.push(0);
        let nl = left.len();
        ids[..nl].copy_from_slice(&left);
        ids[nl..].copy_from_slice(&right);
        drop((left, right));
        let (l, r) = ids.split_at_mut(nl);
        let lc = self.build(l, rng, depth + 1);
        let rc = self.build(r, rng, depth + 1);
        self.f.b[node] = lc;
        self.f.c[node] = rc;
        node as u32
    }
}

impl AnnoyIndex {
    pub fn build(p: &AnnoyParams, items: &Matrix, metric: Metric, seed: u64) -> Result<Self> {
        p.validate()?;
        common::check_items("annoy", items)?;
        let vecs = common::prepare_items(metric, items);
        let angular = match p.split {
            Split::Auto => metric != Metric::L2,
            Split::Angular => true,
            Split::Euclidean => false,
        };
        let trees: Vec<(u32, Forest)> = (0..p.n_trees)
            .into_par_iter()
            .map(|t| {
                let mut rng = common::rng(seed.wrapping_add(t as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
                let mut b = TreeBuilder { pts: &vecs, angular, leaf_size: p.leaf_size, f: Forest::default() };
                let mut ids: Vec<u32> = (0..vecs.rows as u32).collect();
                let root = b.build(&mut ids, &mut rng, 0);
                (root, b.f)
            })
            .collect();
        let mut f = Forest::default();
        let d = vecs.cols;
        for (root, t) in trees {
            let (node0, split0, item0) = (f.a.len() as u32, f.offsets.len() as u32, f.leaf_items.len() as u32);
            f.roots.push(root + node0);
            for i in 0..t.a.len() {
                if t.is_leaf[i] == 1 {
                    f.a.push(t.a[i] + item0);
                    f.b.push(t.b[i]);
                    f.c.push(0);
                } else {
                    f.a.push(t.a[i] + split0);
                    f.b.push(t.b[i] + node0);
                    f.c.push(t.c[i] + node0);
                }
                f.is_leaf.push(t.is_leaf[i]);
            }
            debug_assert_eq!(t.normals.len(), t.offsets.len() * d);
            f.normals.extend_from_slice(&t.normals);
            f.offsets.extend_from_slice(&t.offsets);
            f.leaf_items.extend_from_slice(&t.leaf_items);
        }
        Ok(AnnoyIndex { metric, vecs, forest: f, n_trees: p.n_trees, search_k: p.search_k })
    }

    pub fn load(p: &AnnoyParams, dir: &Path) -> Result<Self> {
        let h: Header = common::read_header(dir, "annoy")?;
        if h.version != KIND.version {
            bail!("annoy index in {} has format version {}, expected {}", dir.display(), h.version, KIND.version);
        }
        let vecs = Matrix::from_vec(h.rows, h.dim, common::read_array(dir, "vectors.f32", h.rows * h.dim)?)?;
        let f = Forest {
            a: common::read_array(dir, "node_a.u32", h.nodes)?,
            b: common::read_array(dir, "node_b.u32", h.nodes)?,
            c: common::read_array(dir, "node_c.u32", h.nodes)?,
            is_leaf: common::read_array(dir, "node_leaf.u8", h.nodes)?,
            normals: common::read_array(dir, "normals.f32", h.splits * h.dim)?,
            offsets: common::read_array(dir, "offsets.f32", h.splits)?,
            leaf_items: common::read_array(dir, "leaf_items.u32", h.rows * h.roots)?,
            roots: common::read_array(dir, "roots.u32", h.roots)?,
        };
        let bad_node = |i: usize| {
            if f.is_leaf[i] == 1 {
                f.a[i] as usize + f.b[i] as usize > f.leaf_items.len()
            } else {
                f.a[i] as usize >= h.splits || f.b[i] as usize >= h.nodes || f.c[i] as usize >= h.nodes
            }
        };
        if (0..h.nodes).any(bad_node) || f.roots.iter().any(|&r| r as usize >= h.nodes) || f.leaf_items.iter().any(|&i| i as usize >= h.rows) {
            bail!("corrupt annoy forest in {}", dir.display());
        }
        Ok(AnnoyIndex { metric: h.metric, vecs, forest: f, n_trees: h.roots, search_k: p.search_k })
    }
}

impl AnnIndex for AnnoyIndex {
    fn len(&self) -> usize {
        self.vecs.rows
    }

    fn dim(&self) -> usize {
        self.vecs.cols
    }

    fn metric(&self) -> Metric {
        self.metric
    }

    fn search(&self, query: &[f32], k: usize, exclude: &[u32]) -> Result<Vec<Hit>> {
        common::check_query(query, self.dim())?;
        let q = common::prepare_query(self.metric, query);
        let ex = common::sorted(exclude);
        let want = common::achievable(k, self.len(), &ex);
        if want == 0 {
            return Ok(vec![]);
        }
        let f = &self.forest;
        let d = self.dim();
        let mut limit = if self.search_k > 0 { self.search_k } else { self.n_trees * want };
        let mut heap: BinaryHeap<Entry> = f.roots.iter().map(|&r| Entry(f32::INFINITY, r)).collect();
        let mut cands: Vec<u32> = Vec::with_capacity(limit + 64);
        loop {
            while cands.len() < limit {
                let Some(Entry(pri, node)) = heap.pop() else { break };
                let i = node as usize;
                if f.is_leaf[i] == 1 {
                    cands.extend_from_slice(&f.leaf_items[f.a[i] as usize..(f.a[i] + f.b[i]) as usize]);
                } else {
                    let s = f.a[i] as usize;
                    let m = common::dot(&q, &f.normals[s * d..(s + 1) * d]) + f.offsets[s];
                    heap.push(Entry(pri.min(m), f.c[i]));
                    heap.push(Entry(pri.min(-m), f.b[i]));
                }
            }
            cands.sort_unstable();
            cands.dedup();
            let unseen = cands.len() - cands.iter().filter(|&&c| common::is_excluded(&ex, c)).count();
            if unseen >= want || heap.is_empty() {
                break;
            }
            limit = cands.len() + (want - unseen).max(16);
        }
        let mut top = TopK::new(want);
        for &c in &cands {
            if !common::is_excluded(&ex, c) {
                top.push(common::score(self.metric, &q, self.vecs.row(c as usize)), c);
            }
        }
        Ok(top.into_hits())
    }

    fn set_search_params(&mut self, params: &serde_json::Value) -> Result<()> {
        #[derive(Deserialize)]
        struct S {
            search_k: Option<usize>,
        }
        let s: S = serde_json::from_value(super::hnsw::strip(params, &["search_k"])).context("`search_k`")?;
        if let Some(v) = s.search_k {
            self.search_k = v;
        }
        Ok(())
    }

    fn memory_bytes(&self) -> usize {
        let f = &self.forest;
        self.vecs.data.len() * 4 + f.a.len() * 13 + (f.normals.len() + f.offsets.len()) * 4 + (f.leaf_items.len() + f.roots.len()) * 4
    }

    fn save(&self, dir: &Path) -> Result<()> {
        let f = &self.forest;
        common::write_header(
            dir,
            &Header {
                kind: "annoy".into(),
                version: KIND.version,
                metric: self.metric,
                rows: self.len(),
                dim: self.dim(),
                nodes: f.a.len(),
                splits: f.offsets.len(),
                roots: f.roots.len(),
            },
        )?;
        common::write_array(dir, "vectors.f32", &self.vecs.data)?;
        common::write_array(dir, "node_a.u32", &f.a)?;
        common::write_array(dir, "node_b.u32", &f.b)?;
        common::write_array(dir, "node_c.u32", &f.c)?;
        common::write_array(dir, "node_leaf.u8", &f.is_leaf)?;
        common::write_array(dir, "normals.f32", &f.normals)?;
        common::write_array(dir, "offsets.f32", &f.offsets)?;
        common::write_array(dir, "leaf_items.u32", &f.leaf_items)?;
        common::write_array(dir, "roots.u32", &f.roots)
    }
}
