//! Nearest-neighbour retrieval: one trait ([`AnnIndex`]), one registry ([`KINDS`]) mapping the
//! config's `[index] kind` to an implementation, one file per kind.

pub mod annoy;
pub mod common;
pub mod flat;
pub mod hnsw;
mod hnsw_build;
mod hnsw_graph;
pub mod ivf_flat;
pub mod ivf_pq;
pub mod kmeans;
pub mod pq;
#[cfg(test)]
mod tests;

use crate::linalg::Matrix;
use crate::params::ParamError;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// How scores are computed; results are always "higher is better" (L2 scores are negated
/// squared distances) so every consumer can sort one way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    /// Inner product.
    #[default]
    Ip,
    /// Cosine similarity (vectors are L2-normalised at build and query time).
    Cos,
    /// Negated squared Euclidean distance.
    L2,
}

impl Metric {
    /// The metric as `[index] metric` and `similar --metric` spell it.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Ip => "ip",
            Metric::Cos => "cos",
            Metric::L2 => "l2",
        }
    }
}

/// One retrieved item.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hit {
    pub id: u32,
    pub score: f32,
}

/// A built index over item vectors.
pub trait AnnIndex: Send + Sync {
    /// Number of indexed vectors.
    fn len(&self) -> usize;
    fn dim(&self) -> usize;
    fn metric(&self) -> Metric;

    /// Top-`k` items for `query`, best first, never returning an id in `exclude` (sorted
    /// ascending; an unsorted list is sorted first). Returns `min(k, len - |exclude|)` hits
    /// whenever that many exist. Errors on a dimension mismatch or a non-finite query.
    fn search(&self, query: &[f32], k: usize, exclude: &[u32]) -> Result<Vec<Hit>>;

    /// Many queries at once; `excludes` is empty (no exclusions) or holds one sorted list per
    /// query. The default checks the batch once and runs [`AnnIndex::search`] over rayon.
    /// Indexes with a faster batched path (the flat index's blocked matrix product) override it.
    fn search_batch(&self, queries: &Matrix, k: usize, excludes: &[&[u32]]) -> Result<Vec<Vec<Hit>>> {
        use rayon::prelude::*;
        common::check_batch(queries, self.dim(), excludes)?;
        (0..queries.rows).into_par_iter().map(|i| self.search(queries.row(i), k, excludes.get(i).copied().unwrap_or(&[]))).collect()
    }

    /// Applies search-time parameters (`ef_search`, `nprobe`, `search_k`) to a built or loaded
    /// index, so changing them never rebuilds.
    fn set_search_params(&mut self, _params: &serde_json::Value) -> Result<()> {
        Ok(())
    }

    /// Bytes held by the index structure (vectors included).
    fn memory_bytes(&self) -> usize;

    /// Writes the index into `dir` (an empty directory the cache will publish atomically).
    fn save(&self, dir: &Path) -> Result<()>;
}

/// Everything the pipeline needs to know about one index kind.
pub struct IndexKind {
    pub kind: &'static str,
    pub about: &'static str,
    /// Whether search is exact (flat); evaluation scores an approximate index against exact
    /// search on the same queries.
    pub exact: bool,
    /// Bump when the on-disk format or build algorithm changes, to invalidate cached indexes.
    pub version: u32,
    /// Keys of `[index]` applied at search time only; all other keys are build keys.
    pub search_keys: &'static [&'static str],
    /// Validates the whole `[index]` table (without `kind`) and returns it in canonical form
    /// (defaults filled in), which is what gets hashed.
    pub parse: fn(&serde_json::Value) -> Result<serde_json::Value, ParamError>,
    /// Builds from item vectors; `params` is the canonical table from `parse`.
    pub build: fn(&serde_json::Value, &Matrix, Metric, u64) -> Result<Box<dyn AnnIndex>>,
    /// Loads what `save` wrote.
    pub load: fn(&serde_json::Value, &Path) -> Result<Box<dyn AnnIndex>>,
}

/// The registry: adding an index kind is one file and one line here.
pub static KINDS: &[&IndexKind] = &[&flat::KIND, &hnsw::KIND, &ivf_flat::KIND, &ivf_pq::KIND, &annoy::KIND];

pub fn lookup(kind: &str) -> Option<&'static IndexKind> {
    KINDS.iter().copied().find(|k| k.kind == kind)
}

pub fn kind_names() -> Vec<&'static str> {
    KINDS.iter().map(|k| k.kind).collect()
}

impl std::fmt::Debug for IndexKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IndexKind({})", self.kind)
    }
}
