//! `ivf_pq`: inverted file + product quantisation of the residuals (`x - centroid`), 8-bit
//! codes, asymmetric distance tables, optional exact re-ranking of the best `rerank`
//! candidates.
//!
//! Written in-project for the same reason as `ivf_flat` (crates.io has `faiss` bindings that
//! need a system libfaiss_c, and `lance-index` tied to the Lance/Arrow stack). Scoring per probed list `l` with centroid `c`:
//! * `ip`/`cos`: `<q, c> + sum_j T[j][code_j]`, `T[j][s] = <q_j, pq_j[s]>` (one table per query);
//! * `l2`: `-(|q - c|² + sum_j (B_l[j][s] - 2 T[j][s]))` with the per-list term
//!   `B_l[j][s] = |pq_j[s]|² + 2 <c_j, pq_j[s]>` precomputed at build (faiss's
//!   "precomputed tables"), so a list costs `m x 256` additions before its scan.
//!
//! The original vectors are saved with the index (they make `rerank` a pure search key), but
//! a loaded index reads them only when a search re-ranks (`rerank > 0`): with `rerank = 0` it
//! holds just the lists, the codebooks and the codes, as faiss' `IndexIVFPQ` does (at 200,000
//! x 128 and `m = 16` that is about 4 MiB instead of 101 MiB). `memory_bytes` counts what is
//! held.

use super::common::{self, TopK};
use super::ivf_flat::{fill_nprobe, nprobe_of, Lists};
use super::pq::{ProductQuantizer, KSUB};
use super::{AnnIndex, Hit, IndexKind, Metric};
use crate::ensure_param;
use crate::linalg::Matrix;
use crate::params::{self, ParamError, Validate};
use anyhow::{bail, Context, Result};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct IvfPqParams {
    /// Number of k-means lists (clamped to the number of items at build).
    pub nlist: usize,
    /// Lists scanned per query (search key).
    pub nprobe: usize,
    /// Sub-quantisers; must divide the vector dimension. Codes are `m` bytes per item.
    pub m: usize,
    /// Candidates re-scored exactly (search key; 0 = no re-ranking).
    pub rerank: usize,
    /// Lloyd iterations of the coarse and sub-space k-means.
    pub train_iters: usize,
}

impl Default for IvfPqParams {
    fn default() -> Self {
        IvfPqParams { nlist: 256, nprobe: 8, m: 16, rerank: 0, train_iters: 20 }
    }
}

impl Validate for IvfPqParams {
    fn validate(&self) -> Result<(), ParamError> {
        ensure_param!(self.nlist >= 1, "nlist", "must be at least 1, got {}", self.nlist);
        ensure_param!(self.nprobe >= 1, "nprobe", "must be at least 1, got {}", self.nprobe);
        ensure_param!(self.nprobe <= self.nlist, "nprobe", "must not exceed nlist ({}), got {}", self.nlist, self.nprobe);
        ensure_param!(self.m >= 1, "m", "must be at least 1, got {}", self.m);
        ensure_param!(self.train_iters >= 1, "train_iters", "must be at least 1, got {}", self.train_iters);
        Ok(())
    }
}

pub static KIND: IndexKind = IndexKind {
    kind: "ivf_pq",
    about: "inverted file + 8-bit product quantisation: nlist, nprobe, m, rerank, train_iters",
    exact: false,
    // 2: spherical k-means under inner product (cached version-1 builds are not reused).
    // 3: codebooks seeded at random training points (see `kmeans::Init::Random`).
    version: 3,
    search_keys: &["nprobe", "rerank"],
    parse: parse_params,
    build: build_boxed,
    load: load_boxed,
};

fn parse_params(v: &serde_json::Value) -> Result<serde_json::Value, ParamError> {
    params::canonical::<IvfPqParams>(v).map(|(_, c)| c)
}

fn parse_build(p: &serde_json::Value) -> Result<IvfPqParams, ParamError> {
    let d = IvfPqParams::default();
    params::parse(&fill_nprobe(p, d.nprobe, d.nlist))
}

fn build_boxed(p: &serde_json::Value, items: &Matrix, metric: Metric, seed: u64) -> Result<Box<dyn AnnIndex>> {
    let p = parse_build(p)?;
    Ok(Box::new(IvfPqIndex::build(&p, items, metric, seed)?))
}

fn load_boxed(p: &serde_json::Value, dir: &Path) -> Result<Box<dyn AnnIndex>> {
    let p = parse_build(p)?;
    Ok(Box::new(IvfPqIndex::load(&p, dir)?))
}

#[derive(Serialize, Deserialize)]
struct Header {
    kind: String,
    version: u32,
    metric: Metric,
    rows: usize,
    dim: usize,
    nlist: usize,
    m: usize,
}

pub struct IvfPqIndex {
    metric: Metric,
    dim: usize,
    lists: Lists,
    pq: ProductQuantizer,
    /// Codes in list order, `m` bytes each.
    codes: Vec<u8>,
    /// L2 only: `nlist x m x 256` per-list table terms (empty otherwise).
    btab: Vec<f32>,
    /// Original vectors by id (normalised for cosine), for re-ranking: `0 x dim` until a
    /// loaded index is asked to re-rank.
    vecs: Matrix,
    rows: usize,
    /// The folder a loaded index came from, to read the vectors from on demand.
    dir: Option<std::path::PathBuf>,
    nprobe: usize,
    rerank: usize,
}

fn l2_terms(lists: &Lists, pq: &ProductQuantizer) -> Vec<f32> {
    let (m, dsub) = (pq.m, pq.dsub);
    let mut b = vec![0.0f32; lists.nlist() * m * KSUB];
    b.par_chunks_mut(m * KSUB).enumerate().for_each(|(l, tab)| {
        let c = lists.centroids.row(l);
        for j in 0..m {
            let cj = &c[j * dsub..(j + 1) * dsub];
            for s in 0..KSUB {
                let p = pq.centroid(j, s);
                tab[j * KSUB + s] = crate::linalg::dot(p, p) + 2.0 * crate::linalg::dot(cj, p);
            }
        }
    });
    b
}

impl IvfPqIndex {
    pub fn build(p: &IvfPqParams, items: &Matrix, metric: Metric, seed: u64) -> Result<Self> {
        p.validate()?;
        common::check_items("ivf_pq", items)?;
        if items.cols % p.m != 0 {
            bail!("`m`: {} sub-quantisers must divide the vector dimension {}", p.m, items.cols);
        }
        let vecs = common::prepare_items(metric, items);
        let (lists, labels) = Lists::train(&vecs, p.nlist, p.train_iters, metric, seed)?;
        // Residuals in list order.
        let d = vecs.cols;
        let mut resid = Matrix::zeros(vecs.rows, d);
        resid.data.par_chunks_mut(d).enumerate().for_each(|(pos, r)| {
            let id = lists.ids[pos] as usize;
            let c = lists.centroids.row(labels[id] as usize);
            for ((o, x), c) in r.iter_mut().zip(vecs.row(id)).zip(c) {
                *o = x - c;
            }
        });
        let pq = ProductQuantizer::train(&resid, p.m, p.train_iters, seed ^ 0x7071)?;
        let codes = pq.encode(&resid)?;
        let btab = if metric == Metric::L2 { l2_terms(&lists, &pq) } else { vec![] };
        Ok(IvfPqIndex { metric, dim: d, lists, pq, codes, btab, rows: vecs.rows, vecs, dir: None, nprobe: p.nprobe, rerank: p.rerank })
    }

    pub fn load(p: &IvfPqParams, dir: &Path) -> Result<Self> {
        let h: Header = common::read_header(dir, "ivf_pq")?;
        if h.version != KIND.version {
            bail!("ivf_pq index in {} has format version {}, expected {}", dir.display(), h.version, KIND.version);
        }
        if h.m == 0 || h.dim % h.m != 0 {
            bail!("corrupt ivf_pq header in {}: m = {} vs dim = {}", dir.display(), h.m, h.dim);
        }
        let lists = Lists::load(dir, h.nlist, h.dim, h.rows, h.metric)?;
        let pq = ProductQuantizer::new(h.m, h.dim / h.m, common::read_array(dir, "pq_centroids.f32", h.m * KSUB * (h.dim / h.m))?);
        let codes = common::read_array(dir, "codes.u8", h.rows * h.m)?;
        let btab = if h.metric == Metric::L2 { l2_terms(&lists, &pq) } else { vec![] };
        let vecs = Matrix::zeros(0, h.dim);
        let mut index =
            IvfPqIndex { metric: h.metric, dim: h.dim, lists, pq, codes, btab, vecs, rows: h.rows, dir: Some(dir.to_path_buf()), nprobe: p.nprobe, rerank: 0 };
        index.set_rerank(p.rerank)?;
        Ok(index)
    }

    /// Sets the re-ranking depth, reading the vectors first when it needs them.
    fn set_rerank(&mut self, rerank: usize) -> Result<()> {
        if rerank > 0 && self.vecs.rows != self.rows {
            let dir = self.dir.as_ref().context("internal: an ivf_pq index without its vectors or their folder")?;
            self.vecs = Matrix::from_vec(
                self.rows,
                self.dim,
                common::read_array(dir, "vectors.f32", self.rows * self.dim).context("reading the vectors `rerank` needs")?,
            )?;
        }
        self.rerank = rerank;
        Ok(())
    }
}

impl IvfPqIndex {
    /// ADC scan of the lists `first` (then more while exclusions leave too few hits), then
    /// the optional exact re-ranking.
    fn scan(&self, q: &[f32], k: usize, exclude: &[u32], first: &[u32]) -> Vec<Hit> {
        let ex = common::sorted(exclude);
        let want = common::achievable(k, self.len(), &ex);
        let cap = if self.rerank > 0 { want.max(self.rerank).min(self.len()) } else { want };
        let mut top = TopK::new(cap);
        let m = self.pq.m;
        // Tables are m x 256 floats (32 KiB at m = 32): cheap to allocate per query.
        let mut tip = vec![0.0f32; m * KSUB];
        self.pq.ip_table(q, &mut tip);
        let mut tl2 = if self.metric == Metric::L2 { vec![0.0f32; m * KSUB] } else { vec![] };
        let mut scores = Vec::new();
        self.lists.walk(q, first, want, |l, cs| {
            let (base, table): (f32, &[f32]) = match self.metric {
                Metric::L2 => {
                    let b = &self.btab[l * m * KSUB..(l + 1) * m * KSUB];
                    for ((o, t), b) in tl2.iter_mut().zip(&tip).zip(b) {
                        *o = 2.0 * t - b;
                    }
                    (cs, &tl2)
                }
                Metric::Ip => (cs, &tip),
                Metric::Cos => (common::dot(q, self.lists.centroids.row(l)), &tip),
            };
            let mut th = top.threshold();
            let range = self.lists.range(l);
            ProductQuantizer::score_codes(table, &self.codes[range.start * m..range.end * m], m, &mut scores);
            for (&s, &id) in scores.iter().zip(&self.lists.ids[range]) {
                let s = base + s;
                if s > th && !common::is_excluded(&ex, id) {
                    top.push(s, id);
                    th = top.threshold();
                }
            }
            top.len()
        });
        if self.rerank == 0 {
            return top.into_hits();
        }
        let cands: Vec<u32> = top.into_hits().into_iter().map(|h| h.id).collect();
        common::rerank_exact(self.metric, q, &self.vecs, &cands, want, &[])
    }
}

impl AnnIndex for IvfPqIndex {
    fn len(&self) -> usize {
        self.rows
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
        common::check_batch(queries, self.dim, excludes)?;
        let prepared = common::prepare_items(self.metric, queries);
        let probes = self.lists.probe_batch(&prepared, self.nprobe)?;
        Ok((0..queries.rows).into_par_iter().map(|i| self.scan(prepared.row(i), k, excludes.get(i).copied().unwrap_or(&[]), &probes[i])).collect())
    }

    fn set_search_params(&mut self, params: &serde_json::Value) -> Result<()> {
        if let Some(n) = nprobe_of(params)? {
            self.nprobe = n;
        }
        #[derive(Deserialize)]
        struct S {
            rerank: Option<usize>,
        }
        let s: S = serde_json::from_value(super::hnsw::strip(params, &["rerank"])).context("`rerank`")?;
        if let Some(r) = s.rerank {
            self.set_rerank(r)?;
        }
        Ok(())
    }

    fn memory_bytes(&self) -> usize {
        self.lists.memory_bytes() + self.pq.memory_bytes() + self.codes.len() + self.btab.len() * 4 + self.vecs.data.len() * 4
    }

    fn save(&self, dir: &Path) -> Result<()> {
        common::write_header(
            dir,
            &Header {
                kind: "ivf_pq".into(),
                version: KIND.version,
                metric: self.metric,
                rows: self.len(),
                dim: self.dim,
                nlist: self.lists.nlist(),
                m: self.pq.m,
            },
        )?;
        self.lists.save(dir)?;
        common::write_array(dir, "pq_centroids.f32", &self.pq.centroids)?;
        common::write_array(dir, "codes.u8", &self.codes)?;
        if self.vecs.rows == self.rows {
            common::write_array(dir, "vectors.f32", &self.vecs.data)
        } else {
            let from = self.dir.as_ref().context("internal: an ivf_pq index without its vectors or their folder")?;
            let vecs: Vec<f32> = common::read_array(from, "vectors.f32", self.rows * self.dim)?;
            common::write_array(dir, "vectors.f32", &vecs)
        }
    }
}
