//! `hnsw`: hierarchical navigable small-world graph. Parameters: `m` (connectivity),
//! `ef_construction`, `ef_search` (search key), `scalar` = f32 | f16 | i8 (storage
//! quantisation).
//!
//! With f32 storage the graph is built (`hnsw_build`) and searched (`hnsw_graph`) in our own
//! layout and saved in usearch's file format. With f16 and i8 the `usearch` crate (C++ core
//! with SIMD kernels) does both, as those vectors are not f32 in memory.
//!
//! Exclusion uses usearch's `filtered_search` (the predicate rejects seen ids while the
//! graph walk continues), with two fallbacks so a user always gets `min(k, unseen)` hits:
//! an over-fetching plain search, then an exact scan.
//!
//! `i8` storage maps each coordinate to `round(127 x)` clamped to [-1, 1], so it is only
//! meaningful for unit-scale vectors: building with `i8` requires `metric = "cos"` or
//! vectors whose coordinates all lie in [-1, 1].

use super::common;
use super::hnsw_build;
use super::hnsw_graph::{usearch_metric, Graph};
use super::{AnnIndex, Hit, IndexKind, Metric};
use crate::ensure_param;
use crate::linalg::Matrix;
use crate::params::{self, ParamError, Validate};
use anyhow::{anyhow, bail, Context, Result};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;
use usearch::ffi::{IndexOptions, ScalarKind};

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Scalar {
    #[default]
    F32,
    F16,
    I8,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HnswParams {
    /// Graph connectivity (edges per node on upper layers; 2m on the base layer).
    pub m: usize,
    /// Beam width while inserting.
    pub ef_construction: usize,
    /// Beam width while searching (search key: changing it reuses the saved graph).
    pub ef_search: usize,
    /// Storage precision of the vectors.
    pub scalar: Scalar,
}

impl Default for HnswParams {
    fn default() -> Self {
        HnswParams { m: 16, ef_construction: 128, ef_search: 64, scalar: Scalar::F32 }
    }
}

impl Validate for HnswParams {
    fn validate(&self) -> Result<(), ParamError> {
        ensure_param!(self.m >= 2, "m", "must be at least 2, got {}", self.m);
        ensure_param!(self.m <= 1024, "m", "must be at most 1024, got {}", self.m);
        ensure_param!(self.ef_construction >= 1, "ef_construction", "must be at least 1, got {}", self.ef_construction);
        ensure_param!(self.ef_search >= 1, "ef_search", "must be at least 1, got {}", self.ef_search);
        Ok(())
    }
}

/// Search-time subset of the parameters.
#[derive(Deserialize)]
struct SearchParams {
    ef_search: Option<usize>,
}

pub static KIND: IndexKind = IndexKind {
    kind: "hnsw",
    about: "HNSW graph: m, ef_construction, ef_search, scalar = f32|f16|i8 (f16 and i8 on usearch)",
    exact: false,
    // 2: our f32 distance kernels and an in-order seed of the graph (cached version-1 builds are not reused).
    // 3: f32 searches run in `hnsw_graph`; the saved format is unchanged, but cached evaluations
    // (recall, queries/s) came from usearch's search and are measured again.
    // 4: f32 graphs are built by `hnsw_build` (hnswlib's insertion), no longer by usearch.
    version: 4,
    search_keys: &["ef_search"],
    parse: parse_params,
    build: build_boxed,
    load: load_boxed,
};

fn parse_params(v: &serde_json::Value) -> Result<serde_json::Value, ParamError> {
    params::canonical::<HnswParams>(v).map(|(_, c)| c)
}

fn build_boxed(p: &serde_json::Value, items: &Matrix, metric: Metric, seed: u64) -> Result<Box<dyn AnnIndex>> {
    let p: HnswParams = params::parse(p)?;
    Ok(Box::new(HnswIndex::build(&p, items, metric, seed)?))
}

fn load_boxed(p: &serde_json::Value, dir: &Path) -> Result<Box<dyn AnnIndex>> {
    let p: HnswParams = params::parse(p)?;
    Ok(Box::new(HnswIndex::load(&p, dir)?))
}

#[derive(Serialize, Deserialize)]
struct Header {
    kind: String,
    version: u32,
    metric: Metric,
    rows: usize,
    dim: usize,
    m: usize,
    ef_construction: usize,
    scalar: Scalar,
}

/// Who answers searches: our copy of the graph (f32) or usearch itself (f16, i8).
enum Backend {
    Graph(Graph),
    Usearch(usearch::Index),
}

pub struct HnswIndex {
    backend: Backend,
    metric: Metric,
    n: usize,
    dim: usize,
    params: HnswParams,
}

fn options(p: &HnswParams, metric: Metric, dim: usize) -> IndexOptions {
    IndexOptions {
        dimensions: dim,
        metric: usearch_metric(metric),
        quantization: match p.scalar {
            Scalar::F32 => ScalarKind::F32,
            Scalar::F16 => ScalarKind::F16,
            Scalar::I8 => ScalarKind::I8,
        },
        connectivity: p.m,
        expansion_add: p.ef_construction,
        expansion_search: p.ef_search,
        multi: false,
    }
}

/// Search contexts usearch must hold: one per thread that may call it concurrently.
fn threads() -> usize {
    rayon::current_num_threads().max(std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)).max(1)
}

impl HnswIndex {
    /// `seed` draws the nodes' levels (f32 graphs only; usearch draws its own).
    pub fn build(p: &HnswParams, items: &Matrix, metric: Metric, seed: u64) -> Result<Self> {
        p.validate()?;
        common::check_items("hnsw", items)?;
        if p.scalar == Scalar::I8 && metric != Metric::Cos && items.data.iter().any(|x| x.abs() > 1.0) {
            bail!("hnsw `scalar = \"i8\"` needs metric = \"cos\" or coordinates within [-1, 1]; use f16 or f32");
        }
        let backend = if p.scalar == Scalar::F32 {
            Backend::Graph(hnsw_build::build(items, metric, p.m, p.ef_construction, seed)?)
        } else {
            let index = usearch::Index::new(&options(p, metric, items.cols)).map_err(|e| anyhow!("usearch: {e}"))?;
            // usearch fails on parallel adds unless capacity and thread contexts are reserved.
            index.reserve_capacity_and_threads(items.rows, threads()).map_err(|e| anyhow!("usearch reserve: {e}"))?;
            let add = |i: usize| index.add(i as u64, items.row(i)).map_err(|e| anyhow!("usearch add of item {i}: {e}"));
            // The first items in order, as `hnsw_build` seeds its graph (see there why).
            let seed = items.rows.min(hnsw_build::SEQUENTIAL_SEED);
            (0..seed).try_for_each(add)?;
            (seed..items.rows).into_par_iter().try_for_each(add)?;
            Backend::Usearch(index)
        };
        Ok(HnswIndex { backend, metric, n: items.rows, dim: items.cols, params: p.clone() })
    }

    pub fn load(p: &HnswParams, dir: &Path) -> Result<Self> {
        let h: Header = common::read_header(dir, "hnsw")?;
        if h.version != KIND.version {
            bail!("hnsw index in {} has format version {}, expected {}", dir.display(), h.version, KIND.version);
        }
        let params = HnswParams { m: h.m, ef_construction: h.ef_construction, scalar: h.scalar, ef_search: p.ef_search };
        let path = dir.join("graph.usearch");
        if params.scalar == Scalar::F32 {
            let file = std::fs::File::open(&path).with_context(|| format!("reading {}", path.display()))?;
            let g =
                Graph::read_from(std::io::BufReader::with_capacity(1 << 16, file), h.dim, h.metric).with_context(|| format!("loading {}", path.display()))?;
            if g.len() != h.rows {
                bail!("{} holds {} vectors, header says {}", path.display(), g.len(), h.rows);
            }
            return Ok(HnswIndex { backend: Backend::Graph(g), metric: h.metric, n: h.rows, dim: h.dim, params });
        }
        let index = usearch::Index::new(&options(&params, h.metric, h.dim)).map_err(|e| anyhow!("usearch: {e}"))?;
        let ps = path.to_str().context("index path is not UTF-8")?;
        index.load(ps).map_err(|e| anyhow!("loading {}: {e}", path.display()))?;
        if index.size() != h.rows || index.dimensions() != h.dim {
            bail!("{} holds {} x {} vectors, header says {} x {}", path.display(), index.size(), index.dimensions(), h.rows, h.dim);
        }
        index.change_expansion_search(params.ef_search);
        index.reserve_capacity_and_threads(h.rows, threads()).map_err(|e| anyhow!("usearch reserve: {e}"))?;
        Ok(HnswIndex { backend: Backend::Usearch(index), metric: h.metric, n: h.rows, dim: h.dim, params })
    }

    /// usearch distance -> higher-is-better score.
    fn to_hits(&self, m: usearch::ffi::Matches, k: usize, ex: &[u32]) -> Vec<Hit> {
        let mut hits: Vec<Hit> = m
            .keys
            .iter()
            .zip(&m.distances)
            .filter(|(&key, _)| !common::is_excluded(ex, key as u32))
            .map(|(&key, &d)| Hit {
                id: key as u32,
                score: match self.metric {
                    Metric::Ip | Metric::Cos => 1.0 - d,
                    Metric::L2 => -d,
                },
            })
            .collect();
        hits.sort_by(|a, b| b.score.partial_cmp(&a.score).unwrap_or(std::cmp::Ordering::Equal).then(a.id.cmp(&b.id)));
        hits.dedup_by_key(|h| h.id);
        hits.truncate(k);
        hits
    }
}

impl AnnIndex for HnswIndex {
    fn len(&self) -> usize {
        self.n
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn metric(&self) -> Metric {
        self.metric
    }

    fn search(&self, query: &[f32], k: usize, exclude: &[u32]) -> Result<Vec<Hit>> {
        common::check_query(query, self.dim)?;
        let ex = common::sorted(exclude);
        let want = common::achievable(k, self.n, &ex);
        if want == 0 {
            return Ok(vec![]);
        }
        let index = match &self.backend {
            Backend::Usearch(index) => index,
            Backend::Graph(g) => {
                // The emptiness test spares the key lookup per accepted candidate.
                let excluded = |s: u32| !ex.is_empty() && common::is_excluded(&ex, g.key(s) as u32);
                let hits = g.search(query, want, self.params.ef_search, excluded);
                return Ok(if hits.len() >= want { hits } else { g.exact(query, want, excluded) });
            }
        };
        let hits = if ex.is_empty() {
            self.to_hits(index.search(query, want).map_err(|e| anyhow!("usearch search: {e}"))?, want, &ex)
        } else {
            let m = index.filtered_search(query, want, |key| !common::is_excluded(&ex, key as u32)).map_err(|e| anyhow!("usearch search: {e}"))?;
            self.to_hits(m, want, &ex)
        };
        if hits.len() >= want {
            return Ok(hits);
        }
        // Fallbacks: over-fetch then filter; finally an exact scan.
        let fetch = (want + ex.len()).min(self.n);
        let hits = self.to_hits(index.search(query, fetch).map_err(|e| anyhow!("usearch search: {e}"))?, want, &ex);
        if hits.len() >= want {
            return Ok(hits);
        }
        Ok(self.to_hits(index.exact_search(query, fetch).map_err(|e| anyhow!("usearch search: {e}"))?, want, &ex))
    }

    fn set_search_params(&mut self, params: &serde_json::Value) -> Result<()> {
        let s: SearchParams = serde_json::from_value(strip(params, KIND.search_keys)).context("hnsw search params")?;
        if let Some(ef) = s.ef_search {
            anyhow::ensure!(ef >= 1, "`ef_search`: must be at least 1, got {ef}");
            self.params.ef_search = ef;
            if let Backend::Usearch(index) = &self.backend {
                index.change_expansion_search(ef);
            }
        }
        Ok(())
    }

    /// f32: the bytes our search layout holds. f16 / i8: the graph and vectors as usearch
    /// serialises them (`memory_usage()` also counts arenas reserved ahead, about 16 MiB
    /// whatever the size, which made small indexes look big).
    fn memory_bytes(&self) -> usize {
        match &self.backend {
            Backend::Graph(g) => g.bytes(),
            Backend::Usearch(index) => index.serialized_length(),
        }
    }

    fn save(&self, dir: &Path) -> Result<()> {
        let path = dir.join("graph.usearch");
        match &self.backend {
            Backend::Graph(g) => {
                let mut w = std::io::BufWriter::new(std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?);
                g.write_to(&mut w).and_then(|_| w.flush()).with_context(|| format!("saving {}", path.display()))?
            }
            Backend::Usearch(index) => {
                let ps = path.to_str().context("index path is not UTF-8")?;
                index.save(ps).map_err(|e| anyhow!("saving {}: {e}", path.display()))?;
            }
        }
        common::write_header(
            dir,
            &Header {
                kind: "hnsw".into(),
                version: KIND.version,
                metric: self.metric,
                rows: self.n,
                dim: self.dim,
                m: self.params.m,
                ef_construction: self.params.ef_construction,
                scalar: self.params.scalar,
            },
        )
    }
}

/// Keeps only `keys` of a JSON object (a full `[index]` table may be passed to
/// `set_search_params`; build keys are ignored there).
pub fn strip(v: &serde_json::Value, keys: &[&str]) -> serde_json::Value {
    match v.as_object() {
        Some(o) => serde_json::Value::Object(o.iter().filter(|(k, _)| keys.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect()),
        None => serde_json::Value::Object(Default::default()),
    }
}
