//! `kind = "vectors"`: a standard ANN benchmark dataset (SIFT1M, GIST1M, GloVe, the
//! ann-benchmarks files) as it ships: base vectors, query vectors and each query's true
//! nearest neighbours, in `.fvecs` / `.bvecs` / `.ivecs` ([`fvecs`]), NumPy `.npy` ([`npy`]) or
//! one ann-benchmarks HDF5 file ([`hdf5`]).
//!
//! Such a dataset has no users and no interactions, and needs no model: the queries take the
//! users' place and the base vectors the items' (both numbered by their row, from 0), the
//! `passthrough` model hands the vectors to the index unchanged, and the `ann` task scores
//! every query's top K through the index against the ground truth. So an `[index]` sweep on
//! SIFT gives the ann-benchmarks table and Pareto plot with the pipeline's caching.
//!
//! Everything a file can get wrong is found here, in the data stage, with the file named: a
//! truncated or malformed file (by its reader), query vectors of another dimension than the
//! base, NaN or infinity in a vector, ground truth with another number of rows than there are
//! queries or with ids outside the base, and ground truth that disagrees with exact search by
//! the configured metric (the usual silent mistake: GloVe's angular neighbours read with the
//! default `l2`).
//!
//! Without a ground-truth file, the neighbours are computed here once by exact search (the
//! flat index), so every point of a sweep is scored against the same cached truth instead of
//! searching exactly again. This is why `data` imports `index` (the same layer; `index`
//! imports nothing of `data`).

pub mod fvecs;
pub mod hdf5;
pub mod npy;

use super::{file_fingerprint, resolve, Dataset, DatasetKind, IdMap};
use crate::index::flat::FlatIndex;
use crate::index::{common, AnnIndex, Metric};
use crate::linalg::Matrix;
use crate::params::{self, nearest, ParamError, Validate};
use anyhow::{anyhow, bail, Result};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The dataset kind's name, which the config layer and the tasks check against.
pub const KIND_NAME: &str = "vectors";

/// Whether a dataset kind is a vectors dataset (queries and true neighbours, no interactions).
pub fn is_vectors(kind: &str) -> bool {
    kind == KIND_NAME
}

/// Neighbour ids as a file holds them, before they are checked against the base (`i64`, so
/// a negative or too large id can be reported as it was written).
#[derive(Clone, Debug, PartialEq)]
pub struct IdRows {
    pub rows: usize,
    pub cols: usize,
    /// Row-major `rows x cols`.
    pub ids: Vec<i64>,
}

/// A loaded vectors dataset.
#[derive(Clone, PartialEq)]
pub struct VectorSet {
    /// `n_base x d`: the vectors searched (the index's items).
    pub base: Matrix,
    /// `n_queries x d`.
    pub queries: Matrix,
    /// Row-major `n_queries x k`: each query's true neighbours (rows of `base`), nearest first.
    pub neighbors: Vec<u32>,
    /// Neighbours per query in `neighbors`.
    pub k: usize,
    /// The metric the neighbours are nearest by; the index searches by it.
    pub metric: Metric,
    /// Whether `neighbors` came from a file (else from exact search here).
    pub from_file: bool,
}

impl VectorSet {
    /// The true neighbours of query `q`, nearest first.
    pub fn neighbors_of(&self, q: usize) -> &[u32] {
        &self.neighbors[q * self.k..(q + 1) * self.k]
    }
}

impl std::fmt::Debug for VectorSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VectorSet({} base x {} queries, dim {}, k {}, {:?})", self.base.rows, self.queries.rows, self.base.cols, self.k, self.metric)
    }
}

/// `kind = "vectors"`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct VectorsParams {
    /// An ann-benchmarks HDF5 file (`train`, `test`, `neighbors`), instead of `base` + `query`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// Base vectors: `.fvecs`, `.bvecs` or `.npy`, relative to the data folder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base: Option<PathBuf>,
    /// Query vectors, in the same formats.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<PathBuf>,
    /// Each query's true neighbours: `.ivecs` or an integer `.npy`; computed by exact search
    /// when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ground_truth: Option<PathBuf>,
    /// The metric the ground truth is nearest by (and the index searches by); default the
    /// HDF5 file's `distance` attribute, else `l2` (SIFT's and GIST's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric: Option<Metric>,
    /// Neighbours per query computed when there is no ground truth (ann-benchmarks keeps 100).
    pub ground_truth_k: usize,
}

impl Default for VectorsParams {
    fn default() -> Self {
        VectorsParams { file: None, base: None, query: None, ground_truth: None, metric: None, ground_truth_k: 100 }
    }
}

/// Extensions each key reads.
const VECTOR_EXTS: &[&str] = &["fvecs", "bvecs", "npy"];
const ID_EXTS: &[&str] = &["ivecs", "npy"];
const HDF5_EXTS: &[&str] = &["hdf5", "h5"];

fn ext_of(p: &Path) -> String {
    p.extension().map(|e| e.to_string_lossy().to_lowercase()).unwrap_or_default()
}

/// Checks that `p`'s extension names a format `key` reads.
fn check_ext(p: &Path, key: &str, allowed: &[&str], what: &str) -> Result<(), ParamError> {
    let ext = ext_of(p);
    if allowed.contains(&ext.as_str()) {
        return Ok(());
    }
    let list = allowed.iter().map(|e| format!(".{e}")).collect::<Vec<_>>().join(", ");
    let guess = nearest(&ext, allowed.iter().copied()).map(|n| format!(" (did you mean .{n}?)")).unwrap_or_default();
    Err(ParamError::new(key, format!("cannot tell the format of `{}` from its extension{guess}; {what} are read from {list}", p.display())))
}

impl Validate for VectorsParams {
    fn validate(&self) -> Result<(), ParamError> {
        match (&self.file, &self.base) {
            (Some(f), _) => {
                for (key, set) in [("base", self.base.is_some()), ("query", self.query.is_some()), ("ground_truth", self.ground_truth.is_some())] {
                    crate::ensure_param!(!set, key, "`file` already holds the base vectors, queries and neighbours (`train`, `test`, `neighbors`); give `file` or `base` and `query`, not both");
                }
                check_ext(f, "file", HDF5_EXTS, "ann-benchmarks files")?;
            }
            (None, Some(b)) => {
                let Some(q) = &self.query else {
                    return Err(ParamError::new("query", "is required with `base` (the query vectors, e.g. \"sift/sift_query.fvecs\")"));
                };
                check_ext(b, "base", VECTOR_EXTS, "base vectors")?;
                check_ext(q, "query", VECTOR_EXTS, "query vectors")?;
                if let Some(g) = &self.ground_truth {
                    check_ext(g, "ground_truth", ID_EXTS, "ground-truth neighbours")?;
                }
            }
            (None, None) => return Err(ParamError::new(
                "",
                "needs `base` and `query` (e.g. base = \"sift/sift_base.fvecs\", query = \"sift/sift_query.fvecs\") or `file` (an ann-benchmarks HDF5 file)",
            )),
        }
        crate::ensure_param!((1..=10_000).contains(&self.ground_truth_k), "ground_truth_k", "must be in [1, 10000], got {}", self.ground_truth_k);
        Ok(())
    }
}

impl VectorsParams {
    /// The input files, resolved against the data folder.
    fn files(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        [&self.file, &self.base, &self.query, &self.ground_truth].into_iter().flatten().map(|p| resolve(dir, p)).collect()
    }
}

pub static KIND: DatasetKind = DatasetKind {
    kind: KIND_NAME,
    about: "an ANN benchmark: base, query and ground-truth vectors (.fvecs/.bvecs/.ivecs, .npy, ann-benchmarks HDF5); no model needed",
    version: 1,
    parse: |v| params::canonical::<VectorsParams>(v).map(|(_, c)| c),
    load: |v, dir| load(&params::parse(v)?, dir),
    fingerprint: |v, dir| file_fingerprint(&params::parse::<VectorsParams>(v)?.files(dir)?),
};

/// Reads base or query vectors by extension.
fn read_vectors(path: &Path, what: &str) -> Result<Matrix> {
    match ext_of(path).as_str() {
        "fvecs" => fvecs::read_vectors(path, fvecs::Elem::F32),
        "bvecs" => fvecs::read_vectors(path, fvecs::Elem::U8),
        "npy" => npy::read_vectors(path, what),
        other => bail!("internal: unchecked extension `{other}`"),
    }
}

/// The metric an ann-benchmarks `distance` attribute names.
fn metric_of_distance(path: &Path, distance: &str) -> Result<Metric> {
    Ok(match distance {
        "euclidean" | "l2" => Metric::L2,
        "angular" | "cosine" | "cos" => Metric::Cos,
        "dot" | "ip" | "inner_product" => Metric::Ip,
        other => {
            bail!("`{}`: its distance is `{other}` (attribute `distance`); only euclidean, angular and inner-product datasets are supported", path.display())
        }
    })
}

/// Loads a vectors dataset: reads and checks the files, and computes the ground truth when
/// none is given.
pub fn load(p: &VectorsParams, dir: &Path) -> Result<Dataset> {
    // Each route gives the vectors, where they came from (for errors), the ground truth, the
    // metric and the dataset's name.
    let (base, queries, sources, truth, metric, name) = match &p.file {
        Some(f) => {
            let path = resolve(dir, f)?;
            let file = hdf5::read(&path)?;
            let metric = match (&file.distance, p.metric) {
                (Some(d), Some(m)) => {
                    let of_file = metric_of_distance(&path, d)?;
                    if of_file != m {
                        bail!(
                            "[dataset] metric = \"{}\", but the neighbours of `{}` are by {d} distance (its `distance` attribute, metric \"{}\"); leave `metric` out",
                            m.name(),
                            path.display(),
                            of_file.name()
                        );
                    }
                    m
                }
                (Some(d), None) => metric_of_distance(&path, d)?,
                (None, m) => m.unwrap_or(Metric::L2),
            };
            let truth = file.neighbors.map(|n| (n, path.clone(), "neighbors"));
            let sources = (format!("`{}` dataset `train`", path.display()), format!("`{}` dataset `test`", path.display()));
            (file.base, file.queries, sources, truth, metric, stem(&path))
        }
        None => {
            let (b, q) = (p.base.as_ref().expect("validated"), p.query.as_ref().expect("validated"));
            let (bp, qp) = (resolve(dir, b)?, resolve(dir, q)?);
            let base = read_vectors(&bp, "base vectors")?;
            let queries = read_vectors(&qp, "query vectors")?;
            let sources = (format!("`{}`", bp.display()), format!("`{}`", qp.display()));
            let truth = match &p.ground_truth {
                Some(g) => {
                    let gp = resolve(dir, g)?;
                    let ids = match ext_of(&gp).as_str() {
                        "ivecs" => fvecs::read_ids(&gp)?,
                        _ => npy::read_ids(&gp)?,
                    };
                    Some((ids, gp, ""))
                }
                None => None,
            };
            (base, queries, sources, truth, p.metric.unwrap_or(Metric::L2), stem(&bp))
        }
    };
    if queries.cols != base.cols {
        bail!(
            "the query vectors ({}) have {} dimensions but the base vectors ({}) {}: queries must live in the base's space",
            sources.1,
            queries.cols,
            sources.0,
            base.cols
        );
    }
    for (m, what, source) in [(&base, "base", &sources.0), (&queries, "query", &sources.1)] {
        if let Some(r) = m.first_non_finite_row() {
            bail!("{source}: {what} vector {r} holds NaN or infinity");
        }
    }
    let set = match truth {
        Some((ids, path, dataset)) => {
            let where_ = if dataset.is_empty() { format!("`{}`", path.display()) } else { format!("`{}` dataset `{dataset}`", path.display()) };
            let (neighbors, k) = check_truth(&ids, queries.rows, base.rows, &where_)?;
            let set = VectorSet { base, queries, neighbors, k, metric, from_file: true };
            check_metric(&set, &where_)?;
            set
        }
        None => {
            let k = p.ground_truth_k.min(base.rows);
            let neighbors = exact_neighbors(&base, &queries, metric, k)?;
            VectorSet { base, queries, neighbors, k, metric, from_file: false }
        }
    };
    Ok(Dataset { name, users: IdMap::numbered(set.queries.rows), items: IdMap::numbered(set.base.rows), vectors: Some(Arc::new(set)), ..Default::default() })
}

fn stem(p: &Path) -> String {
    p.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default()
}

/// Checks ground-truth ids against the queries and the base; returns them as `u32` with the
/// neighbours per query.
fn check_truth(ids: &IdRows, n_queries: usize, n_base: usize, where_: &str) -> Result<(Vec<u32>, usize)> {
    if ids.rows != n_queries {
        bail!("{where_}: {} rows of neighbours for {n_queries} queries: the ground truth needs one row per query, in the queries' order", ids.rows);
    }
    let mut out = Vec::with_capacity(ids.ids.len());
    for (i, &id) in ids.ids.iter().enumerate() {
        if id < 0 || id as u64 >= n_base as u64 {
            bail!(
                "{where_}: query {}'s neighbour {} is id {id}, but the base has {n_base} vectors (ids 0 to {}): is this the ground truth of this base?",
                i / ids.cols,
                i % ids.cols,
                n_base - 1
            );
        }
        out.push(id as u32);
    }
    // Each neighbour once per query: a row repeating one id scored flat search 0.10 where
    // it is exact by definition.
    for (q, row) in out.chunks(ids.cols.max(1)).enumerate() {
        let mut sorted = row.to_vec();
        sorted.sort_unstable();
        if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
            let at: Vec<usize> = row.iter().enumerate().filter(|(_, &x)| x == w[0]).map(|(i, _)| i).take(3).collect();
            bail!(
                "{where_}: query {q} lists neighbour id {} more than once (positions {at:?}): a ground truth names each neighbour once; is the file damaged?",
                w[0]
            );
        }
    }
    Ok((out, ids.cols))
}

/// `metric`'s score of `x` for query `q` (higher is nearer, as the indexes rank), for raw
/// (not normalised) vectors; the SIMD kernels of [`crate::index::common`].
pub fn score(metric: Metric, q: &[f32], x: &[f32]) -> f32 {
    match metric {
        Metric::Ip => common::dot(q, x),
        Metric::Cos => {
            let (d, qq, xx) = common::dot_and_norms(q, x);
            let n = (qq * xx).sqrt();
            if n > 0.0 {
                d / n
            } else {
                0.0
            }
        }
        Metric::L2 => -common::l2_sq(q, x),
    }
}

/// Whether `s` is as near as `best` within float rounding (ties and near-ties count).
pub fn as_near(s: f32, best: f32) -> bool {
    s >= best - 1e-4 * best.abs().max(s.abs()).max(1e-12)
}

/// Queries sampled by the metric check.
const CHECKED_QUERIES: usize = 20;

/// The ground truth must agree with exact search by `metric`: for most sampled queries the
/// first true neighbour must be (within rounding) the nearest base vector. Ground truth of
/// another metric fails this on nearly every query; scoring an index against it would only
/// measure the mismatch.
fn check_metric(set: &VectorSet, where_: &str) -> Result<()> {
    let nq = set.queries.rows;
    let n = CHECKED_QUERIES.min(nq);
    if n == 0 {
        return Ok(());
    }
    let sample: Vec<usize> = (0..n).map(|i| i * nq / n).collect();
    let misses: Vec<(usize, u32, f32, usize, f32)> = sample
        .par_iter()
        .filter_map(|&q| {
            let qv = set.queries.row(q);
            let (best_id, best) =
                (0..set.base.rows).map(|i| (i, score(set.metric, qv, set.base.row(i)))).fold((0, f32::NEG_INFINITY), |a, b| if b.1 > a.1 { b } else { a });
            let first = set.neighbors_of(q)[0];
            let s = score(set.metric, qv, set.base.row(first as usize));
            (!as_near(s, best)).then_some((q, first, s, best_id, best))
        })
        .collect();
    if misses.len() * 2 >= sample.len() {
        let (q, first, s, best_id, best) = misses[0];
        bail!(
            "{where_}: the ground truth disagrees with exact search by metric `{}`: for {} of {} sampled queries its first neighbour is not the nearest base vector (query {q}: neighbour {first} scores {s}, base vector {best_id} scores {best}); set [dataset] metric to the one the neighbours were computed with (l2, cos or ip)",
            set.metric.name(),
            misses.len(),
            sample.len()
        );
    }
    Ok(())
}

/// Each query's `k` nearest base vectors by exact search, row-major.
fn exact_neighbors(base: &Matrix, queries: &Matrix, metric: Metric, k: usize) -> Result<Vec<u32>> {
    let flat = FlatIndex::build(base, metric)?;
    let hits = flat.search_batch(queries, k, &[])?;
    let mut out = Vec::with_capacity(queries.rows * k);
    for (q, h) in hits.iter().enumerate() {
        if h.len() != k {
            return Err(anyhow!("internal: exact search returned {} neighbours of query {q}, expected {k}", h.len()));
        }
        out.extend(h.iter().map(|x| x.id));
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
