//! `ivf_flat`: inverted file over k-means lists with exact (uncompressed) vectors.
//!
//! Written in-project. Checked on crates.io (`cargo info`): `faiss` 0.13 (bindings that need
//! a system libfaiss_c we cannot build or ship here), `lance-index` 14 (IVF/PQ tied to the
//! Lance/Arrow storage stack: a very heavy dependency tree for one stage). Nothing
//! light-weight and maintained does IVF over an in-memory matrix with filtering and a
//! directory save format, and the whole thing is ~300 lines on top of [`super::kmeans`].
//!
//! Build: seeded k-means (`nlist` lists; k-means++ init; Lloyd on up to 256 points per list)
//! then every item goes to its best list. Coarse metric = inner product for `ip` (as faiss),
//! squared L2 for `l2` and `cos` (vectors normalised). Search: the `nprobe` best lists are
//! scanned exactly; if exclusions leave fewer than `k` candidates, further lists are probed
//! in order until `k` unseen items are found.

use super::common::{self, TopK};
use super::hnsw::strip;
use super::{kmeans, AnnIndex, Hit, IndexKind, Metric};
use crate::ensure_param;
use crate::linalg::Matrix;
use crate::params::{self, ParamError, Validate};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct IvfFlatParams {
    /// Number of k-means lists (clamped to the number of items at build).
    pub nlist: usize,
    /// Lists scanned per query (search key).
    pub nprobe: usize,
    /// Lloyd iterations of the coarse k-means.
    pub train_iters: usize,
}

impl Default for IvfFlatParams {
    fn default() -> Self {
        IvfFlatParams { nlist: 256, nprobe: 8, train_iters: 20 }
    }
}

impl Validate for IvfFlatParams {
    fn validate(&self) -> Result<(), ParamError> {
        ensure_param!(self.nlist >= 1, "nlist", "must be at least 1, got {}", self.nlist);
        ensure_param!(self.nprobe >= 1, "nprobe", "must be at least 1, got {}", self.nprobe);
        ensure_param!(self.nprobe <= self.nlist, "nprobe", "must not exceed nlist ({}), got {}", self.nlist, self.nprobe);
        ensure_param!(self.train_iters >= 1, "train_iters", "must be at least 1, got {}", self.train_iters);
        Ok(())
    }
}

pub static KIND: IndexKind = IndexKind {
    kind: "ivf_flat",
    about: "inverted file over k-means lists, exact vectors: nlist, nprobe, train_iters",
    exact: false,
    // 2: spherical k-means under inner product (cached version-1 builds are not reused).
    version: 2,
    search_keys: &["nprobe"],
    parse: parse_params,
    build: build_boxed,
    load: load_boxed,
};

fn parse_params(v: &serde_json::Value) -> Result<serde_json::Value, ParamError> {
    params::canonical::<IvfFlatParams>(v).map(|(_, c)| c)
}

fn parse_build(p: &serde_json::Value) -> Result<IvfFlatParams, ParamError> {
    let d = IvfFlatParams::default();
    params::parse(&fill_nprobe(p, d.nprobe, d.nlist))
}

fn build_boxed(p: &serde_json::Value, items: &Matrix, metric: Metric, seed: u64) -> Result<Box<dyn AnnIndex>> {
    let p = parse_build(p)?;
    Ok(Box::new(IvfFlatIndex::build(&p, items, metric, seed)?))
}

fn load_boxed(p: &serde_json::Value, dir: &Path) -> Result<Box<dyn AnnIndex>> {
    let p = parse_build(p)?;
    Ok(Box::new(IvfFlatIndex::load(&p, dir)?))
}

/// The pipeline builds and loads with the build keys only (search keys are applied later
/// through `set_search_params`); fill a missing `nprobe` with `min(default, nlist)` so the
/// `nprobe <= nlist` check cannot trip on a defaulted search key.
pub fn fill_nprobe(p: &serde_json::Value, default_nprobe: usize, default_nlist: usize) -> serde_json::Value {
    let mut v = if p.is_null() { serde_json::json!({}) } else { p.clone() };
    if let Some(o) = v.as_object_mut() {
        if !o.contains_key("nprobe") {
            let nlist = o.get("nlist").and_then(|x| x.as_u64()).map(|x| x as usize).unwrap_or(default_nlist);
            o.insert("nprobe".into(), serde_json::json!(default_nprobe.min(nlist.max(1))));
        }
    }
    v
}

/// Parses the `nprobe` search key out of an `[index]` table.
pub fn nprobe_of(params: &serde_json::Value) -> Result<Option<usize>> {
    #[derive(Deserialize)]
    struct S {
        nprobe: Option<usize>,
    }
    let s: S = serde_json::from_value(strip(params, &["nprobe"])).context("`nprobe`")?;
    if let Some(n) = s.nprobe {
        anyhow::ensure!(n >= 1, "`nprobe`: must be at least 1, got {n}");
    }
    Ok(s.nprobe)
}

/// The coarse quantiser plus the list layout shared by `ivf_flat` and `ivf_pq`.
pub struct Lists {
    pub centroids: Matrix,
    /// Probe metric: `Ip` for inner-product indexes, `L2` otherwise.
    pub coarse: Metric,
    /// `offsets[l]..offsets[l + 1]` are list `l`'s positions in `ids` (and payloads).
    pub offsets: Vec<u64>,
    /// Item id at each list position.
    pub ids: Vec<u32>,
    /// The centroids as an exact flat index: batched probing runs through its blocked kernel.
    pub coarse_index: super::flat::FlatIndex,
}

impl Lists {
    pub fn coarse_metric(metric: Metric) -> Metric {
        if metric == Metric::Ip {
            Metric::Ip
        } else {
            Metric::L2
        }
    }

    /// Trains `nlist` (clamped to `n`) centroids on `items` and lays items out by list.
    pub fn train(items: &Matrix, nlist: usize, iters: usize, metric: Metric, seed: u64) -> Result<(Self, Vec<u32>)> {
        let nlist = nlist.min(items.rows);
        let coarse = Self::coarse_metric(metric);
        let centroids = kmeans::train_with(items, nlist, iters, seed, coarse, kmeans::Init::PlusPlus)?;
        let labels = kmeans::assign(&centroids, items, coarse)?;
        Ok((Self::from_labels(centroids, coarse, &labels), labels))
    }

    pub fn from_labels(centroids: Matrix, coarse: Metric, labels: &[u32]) -> Self {
        let nlist = centroids.rows;
        let mut counts = vec![0u64; nlist + 1];
        for &l in labels {
            counts[l as usize + 1] += 1;
        }
        for l in 0..nlist {
            counts[l + 1] += counts[l];
        }
        let offsets = counts.clone();
        let mut fill = counts;
        let mut ids = vec![0u32; labels.len()];
        for (i, &l) in labels.iter().enumerate() {
            ids[fill[l as usize] as usize] = i as u32;
            fill[l as usize] += 1;
        }
        let coarse_index = super::flat::FlatIndex::build(&centroids, coarse).expect("finite centroids");
        Lists { centroids, coarse, offsets, ids, coarse_index }
    }

    /// The `nprobe` best lists of each (prepared) query, batched through the flat kernel.
    pub fn probe_batch(&self, prepared: &Matrix, nprobe: usize) -> Result<Vec<Vec<u32>>> {
        let hits = self.coarse_index.search_batch(prepared, nprobe.min(self.nlist()), &[])?;
        Ok(hits.into_iter().map(|h| h.into_iter().map(|h| h.id).collect()).collect())
    }

    /// The `nprobe` best lists of one (prepared) query.
    pub fn probe_one(&self, q: &[f32], nprobe: usize) -> Vec<u32> {
        let np = nprobe.min(self.nlist());
        self.probe(q, np)[..np].iter().map(|x| x.1).collect()
    }

    /// Probes `first`, then (only while fewer than `want` hits were found, i.e. exclusions
    /// emptied the lists) every other list in order of coarse score; `scan(list, coarse
    /// score)` scans one list and returns the number of hits held so far.
    pub fn walk(&self, q: &[f32], first: &[u32], want: usize, mut scan: impl FnMut(usize, f32) -> usize) {
        let mut held = 0;
        for &l in first {
            held = scan(l as usize, common::score(self.coarse, q, self.centroids.row(l as usize)));
        }
        if held >= want {
            return;
        }
        let mut order = self.probe(q, 0);
        Self::sort_rest(&mut order, 0);
        for (cs, l) in order {
            if held >= want {
                break;
            }
            if !first.contains(&l) {
                held = scan(l as usize, cs);
            }
        }
    }

    pub fn nlist(&self) -> usize {
        self.centroids.rows
    }

    pub fn range(&self, l: usize) -> std::ops::Range<usize> {
        self.offsets[l] as usize..self.offsets[l + 1] as usize
    }

    /// All lists as `(coarse score, list)`, the best `nprobe` first (sorted), the rest after
    /// (unsorted until [`Lists::sort_rest`]).
    pub fn probe(&self, q: &[f32], nprobe: usize) -> Vec<(f32, u32)> {
        let mut s: Vec<(f32, u32)> = (0..self.nlist()).map(|l| (common::score(self.coarse, q, self.centroids.row(l)), l as u32)).collect();
        let np = nprobe.min(s.len());
        let cmp = |a: &(f32, u32), b: &(f32, u32)| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal).then(a.1.cmp(&b.1));
        if np < s.len() {
            s.select_nth_unstable_by(np, cmp);
        }
        s[..np].sort_unstable_by(cmp);
        s
    }

    pub fn sort_rest(order: &mut [(f32, u32)], from: usize) {
        order[from..].sort_unstable_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal).then(a.1.cmp(&b.1)));
    }

    pub fn save(&self, dir: &Path) -> Result<()> {
        common::write_array(dir, "centroids.f32", &self.centroids.data)?;
        common::write_array(dir, "offsets.u64", &self.offsets)?;
        common::write_array(dir, "ids.u32", &self.ids)
    }

    pub fn load(dir: &Path, nlist: usize, dim: usize, n: usize, metric: Metric) -> Result<Self> {
        let centroids = Matrix::from_vec(nlist, dim, common::read_array(dir, "centroids.f32", nlist * dim)?)?;
        let offsets: Vec<u64> = common::read_array(dir, "offsets.u64", nlist + 1)?;
        let ids: Vec<u32> = common::read_array(dir, "ids.u32", n)?;
        if offsets.windows(2).any(|w| w[0] > w[1]) || offsets[nlist] as usize != n || ids.iter().any(|&i| i as usize >= n) {
            bail!("corrupt inverted lists in {}", dir.display());
        }
        let coarse = Self::coarse_metric(metric);
        let coarse_index = super::flat::FlatIndex::build(&centroids, coarse)?;
        Ok(Lists { centroids, coarse, offsets, ids, coarse_index })
    }

    pub fn memory_bytes(&self) -> usize {
        self.centroids.data.len() * 4 + self.offsets.len() * 8 + self.ids.len() * 4 + self.coarse_index.memory_bytes()
    }
}

#[derive(Serialize, Deserialize)]
struct Header {
    kind: String,
    version: u32,
    metric: Metric,
    rows: usize,
    dim: usize,
    nlist: usize,
}

pub struct IvfFlatIndex {
    metric: Metric,
    dim: usize,
    lists: Lists,
    /// Vectors in list order (normalised for cosine).
    vecs: Matrix,
    nprobe: usize,
}

impl IvfFlatIndex {
    pub fn build(p: &IvfFlatParams, items: &Matrix, metric: Metric, seed: u64) -> Result<Self> {
        p.validate()?;
        common::check_items("ivf_flat", items)?;
        let items = common::prepare_items(metric, items);
        let (lists, _) = Lists::train(&items, p.nlist, p.train_iters, metric, seed)?;
        let vecs = kmeans::subset(&items, &lists.ids.iter().map(|&i| i as usize).collect::<Vec<_>>());
        Ok(IvfFlatIndex { metric, dim: items.cols, lists, vecs, nprobe: p.nprobe })
    }

    pub fn load(p: &IvfFlatParams, dir: &Path) -> Result<Self> {
        let h: Header = common::read_header(dir, "ivf_flat")?;
        if h.version != KIND.version {
            bail!("ivf_flat index in {} has format version {}, expected {}", dir.display(), h.version, KIND.version);
        }
        let lists = Lists::load(dir, h.nlist, h.dim, h.rows, h.metric)?;
        let vecs = Matrix::from_vec(h.rows, h.dim, common::read_array(dir, "vectors.f32", h.rows * h.dim)?)?;
        Ok(IvfFlatIndex { metric: h.metric, dim: h.dim, lists, vecs, nprobe: p.nprobe })
    }
}

impl IvfFlatIndex {
    /// Exact scan of the lists `first` (then more while exclusions leave too few hits).
    fn scan(&self, q: &[f32], k: usize, exclude: &[u32], first: &[u32]) -> Vec<Hit> {
        let ex = common::sorted(exclude);
        let want = common::achievable(k, self.len(), &ex);
        let mut top = TopK::new(want);
        self.lists.walk(q, first, want, |l, _| {
            let mut th = top.threshold();
            for pos in self.lists.range(l) {
                let s = common::score(self.metric, q, self.vecs.row(pos));
                if s > th {
                    let id = self.lists.ids[pos];
                    if !common::is_excluded(&ex, id) {
                        top.push(s, id);
                        th = top.threshold();
                    }
                }
            }
            top.len()
        });
        top.into_hits()
    }
}

impl AnnIndex for IvfFlatIndex {
    fn len(&self) -> usize {
        self.vecs.rows
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn metric(&self) -> Metric {
        self.metric
    }

    fn search(&self, query: &[f32], k: usize, exclude: &[u32]) -> Result<Vec<Hit>> {
        common::check_query(query, self.dim)?;
        let q = common::prepare_query(self.metric, query);
        let first = self.lists.probe_one(&q, self.nprobe);
        Ok(self.scan(&q, k, exclude, &first))
    }

    fn search_batch(&self, queries: &Matrix, k: usize, excludes: &[&[u32]]) -> Result<Vec<Vec<Hit>>> {
        use rayon::prelude::*;
        common::check_batch(queries, self.dim, excludes)?;
        let prepared = common::prepare_items(self.metric, queries);
        let probes = self.lists.probe_batch(&prepared, self.nprobe)?;
        Ok((0..queries.rows).into_par_iter().map(|i| self.scan(prepared.row(i), k, excludes.get(i).copied().unwrap_or(&[]), &probes[i])).collect())
    }

    fn set_search_params(&mut self, params: &serde_json::Value) -> Result<()> {
        if let Some(n) = nprobe_of(params)? {
            self.nprobe = n;
        }
        Ok(())
    }

    fn memory_bytes(&self) -> usize {
        self.lists.memory_bytes() + self.vecs.data.len() * 4
    }

    fn save(&self, dir: &Path) -> Result<()> {
        common::write_header(
            dir,
            &Header { kind: "ivf_flat".into(), version: KIND.version, metric: self.metric, rows: self.len(), dim: self.dim, nlist: self.lists.nlist() },
        )?;
        self.lists.save(dir)?;
        common::write_array(dir, "vectors.f32", &self.vecs.data)
    }
}
