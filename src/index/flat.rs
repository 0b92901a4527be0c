//! `flat`: exact top-K by inner product, cosine or L2.
//!
//! Items are packed at build time into panels of [`NR`] = 16 vectors stored dimension-major
//! (`panel[k * 16 + j]` is coordinate `k` of item `16 p + j`), queries into groups of `MR`
//! rows stored dimension-major too. A register-blocked micro-kernel computes an `MR x 16`
//! score tile (AVX-512: 14 x 16, AVX2/FMA: 6 x 16, portable: 4 x 16; chosen once at run time
//! with `is_x86_feature_detected`, never `target-cpu=native`), which is immediately filtered
//! against each query's bounded heap threshold, so the full score matrix never exists.
//! Items are walked in L2-sized blocks (outer loop) and query groups within a block (inner
//! loop) so every panel is reused from cache by all queries of a chunk. L2 scores use
//! `-(|q|² - 2 q·x + |x|²)` with precomputed item norms.

use super::common::{self, TopK};
use super::{AnnIndex, Hit, IndexKind, Metric};
use crate::linalg::Matrix;
use crate::params::{self, ParamError, Validate};
use anyhow::{bail, Result};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Items per packed panel (one AVX-512 register, two AVX2 registers).
pub const NR: usize = 16;

/// `flat` has no build or search parameters.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FlatParams {}

impl Validate for FlatParams {}

pub static KIND: IndexKind = IndexKind {
    kind: "flat",
    about: "exact top-K (blocked SIMD matrix product + bounded heaps); no parameters",
    exact: true,
    version: 1,
    search_keys: &[],
    parse: parse_params,
    build: build_boxed,
    load: load_boxed,
};

fn parse_params(v: &serde_json::Value) -> Result<serde_json::Value, ParamError> {
    params::canonical::<FlatParams>(v).map(|(_, c)| c)
}

fn build_boxed(p: &serde_json::Value, items: &Matrix, metric: Metric, _seed: u64) -> Result<Box<dyn AnnIndex>> {
    params::parse::<FlatParams>(p)?;
    Ok(Box::new(FlatIndex::build(items, metric)?))
}

fn load_boxed(_p: &serde_json::Value, dir: &Path) -> Result<Box<dyn AnnIndex>> {
    Ok(Box::new(FlatIndex::load(dir)?))
}

#[derive(Serialize, Deserialize)]
struct Header {
    kind: String,
    version: u32,
    metric: Metric,
    rows: usize,
    dim: usize,
}

/// Exact index over packed item panels.
pub struct FlatIndex {
    metric: Metric,
    n: usize,
    dim: usize,
    /// `ceil(n / 16)` panels of `dim * 16` floats, zero padded.
    packed: Vec<f32>,
    /// Added to `scale * dot`: `-|x|²` for L2, 0 otherwise (padded to the panel count).
    bias: Vec<f32>,
}

#[derive(Clone, Copy)]
enum Kernel {
    Portable,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

impl Kernel {
    fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx512f") {
                return Kernel::Avx512;
            }
            if common::has_avx2_fma() {
                return Kernel::Avx2;
            }
        }
        Kernel::Portable
    }

    fn mr(self) -> usize {
        match self {
            Kernel::Portable => 4,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => 6,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => 14,
        }
    }

    /// `out[r * 16 + j] = sum_k qp[k * mr + r] * panel[k * 16 + j]`.
    #[inline]
    fn run(self, qp: &[f32], panel: &[f32], d: usize, out: &mut [f32]) {
        let mr = self.mr();
        assert!(qp.len() >= d * mr && panel.len() >= d * NR && out.len() >= mr * NR);
        match self {
            Kernel::Portable => kernel_portable(qp, panel, d, out),
            // SAFETY: features detected at run time; bounds asserted above.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => unsafe { x86::kernel_avx2(qp.as_ptr(), panel.as_ptr(), d, out.as_mut_ptr()) },
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => unsafe { x86::kernel_avx512(qp.as_ptr(), panel.as_ptr(), d, out.as_mut_ptr()) },
        }
    }
}

fn kernel_portable(qp: &[f32], panel: &[f32], d: usize, out: &mut [f32]) {
    const MR: usize = 4;
    let mut acc = [[0.0f32; NR]; MR];
    for k in 0..d {
        let b = &panel[k * NR..k * NR + NR];
        for r in 0..MR {
            let a = qp[k * MR + r];
            for j in 0..NR {
                acc[r][j] += a * b[j];
            }
        }
    }
    for r in 0..MR {
        out[r * NR..r * NR + NR].copy_from_slice(&acc[r]);
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::NR;
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn kernel_avx2(qp: *const f32, panel: *const f32, d: usize, out: *mut f32) {
        const MR: usize = 6;
        let mut c = [[_mm256_setzero_ps(); 2]; MR];
        for k in 0..d {
            let b0 = _mm256_loadu_ps(panel.add(k * NR));
            let b1 = _mm256_loadu_ps(panel.add(k * NR + 8));
            let a = qp.add(k * MR);
            for r in 0..MR {
                let ar = _mm256_broadcast_ss(&*a.add(r));
                c[r][0] = _mm256_fmadd_ps(ar, b0, c[r][0]);
                c[r][1] = _mm256_fmadd_ps(ar, b1, c[r][1]);
            }
        }
        for r in 0..MR {
            _mm256_storeu_ps(out.add(r * NR), c[r][0]);
            _mm256_storeu_ps(out.add(r * NR + 8), c[r][1]);
        }
    }

    #[target_feature(enable = "avx512f")]
    pub unsafe fn kernel_avx512(qp: *const f32, panel: *const f32, d: usize, out: *mut f32) {
        const MR: usize = 14;
        let mut c = [_mm512_setzero_ps(); MR];
        for k in 0..d {
            let b = _mm512_loadu_ps(panel.add(k * NR));
            let a = qp.add(k * MR);
            for r in 0..MR {
                c[r] = _mm512_fmadd_ps(_mm512_set1_ps(*a.add(r)), b, c[r]);
            }
        }
        for r in 0..MR {
            _mm512_storeu_ps(out.add(r * NR), c[r]);
        }
    }
}

impl FlatIndex {
    pub fn build(items: &Matrix, metric: Metric) -> Result<Self> {
        common::check_items("flat", items)?;
        let items = common::prepare_items(metric, items);
        Ok(Self::from_prepared(&items, metric))
    }

    /// `items` already normalised when the metric is cosine.
    fn from_prepared(items: &Matrix, metric: Metric) -> Self {
        let (n, d) = (items.rows, items.cols);
        let panels = n.div_ceil(NR);
        let mut packed = vec![0.0f32; panels * d * NR];
        packed.par_chunks_mut(d * NR).enumerate().for_each(|(p, panel)| {
            for j in 0..NR.min(n - p * NR) {
                let row = items.row(p * NR + j);
                for k in 0..d {
                    panel[k * NR + j] = row[k];
                }
            }
        });
        let mut bias = vec![0.0f32; panels * NR];
        if metric == Metric::L2 {
            bias[..n].par_iter_mut().enumerate().for_each(|(i, b)| {
                let r = items.row(i);
                *b = -crate::linalg::dot(r, r);
            });
        }
        FlatIndex { metric, n, dim: d, packed, bias }
    }

    /// The stored (normalised for cosine) vectors, row-major.
    pub fn vectors(&self) -> Matrix {
        let (n, d) = (self.n, self.dim);
        let mut m = Matrix::zeros(n, d);
        for i in 0..n {
            let panel = &self.packed[(i / NR) * d * NR..];
            let row = m.row_mut(i);
            for k in 0..d {
                row[k] = panel[k * NR + i % NR];
            }
        }
        m
    }

    pub fn load(dir: &Path) -> Result<Self> {
        let h: Header = common::read_header(dir, "flat")?;
        if h.version != KIND.version {
            bail!("flat index in {} has format version {}, expected {}", dir.display(), h.version, KIND.version);
        }
        let data = common::read_array::<f32>(dir, "items.f32", h.rows * h.dim)?;
        let items = Matrix::from_vec(h.rows, h.dim, data)?;
        Ok(Self::from_prepared(&items, h.metric))
    }

    /// Exact search of a chunk of queries (already prepared: normalised for cosine) into
    /// `heaps` (one per query), skipping excluded ids.
    fn search_chunk(&self, queries: &[&[f32]], heaps: &mut [TopK], excludes: &[&[u32]]) {
        let kern = Kernel::detect();
        let mr = kern.mr();
        let d = self.dim;
        let nq = queries.len();
        let groups = nq.div_ceil(mr);
        // Dimension-major query groups, zero padded.
        let mut qp = vec![0.0f32; groups * d * mr];
        for (qi, q) in queries.iter().enumerate() {
            let (g, r) = (qi / mr, qi % mr);
            let grp = &mut qp[g * d * mr..(g + 1) * d * mr];
            for k in 0..d {
                grp[k * mr + r] = q[k];
            }
        }
        let scale = if self.metric == Metric::L2 { 2.0 } else { 1.0 };
        let panels = self.n.div_ceil(NR);
        // Panels per item block: about 1 MiB of item data.
        let block = ((1 << 20) / (d * NR * 4)).clamp(1, panels.max(1));
        let mut tile = vec![0.0f32; mr * NR];
        let mut th = vec![f32::NEG_INFINITY; nq];
        for (qi, h) in heaps.iter().enumerate() {
            th[qi] = h.threshold();
        }
        let mut p0 = 0;
        while p0 < panels {
            let p1 = (p0 + block).min(panels);
            for g in 0..groups {
                let grp = &qp[g * d * mr..(g + 1) * d * mr];
                let rows = mr.min(nq - g * mr);
                for p in p0..p1 {
                    let panel = &self.packed[p * d * NR..(p + 1) * d * NR];
                    kern.run(grp, panel, d, &mut tile);
                    let base = p * NR;
                    let valid = NR.min(self.n - base);
                    let bias = &self.bias[base..base + NR];
                    for r in 0..rows {
                        let qi = g * mr + r;
                        let t = &tile[r * NR..r * NR + NR];
                        let mut thr = th[qi];
                        for j in 0..valid {
                            let s = scale * t[j] + bias[j];
                            if s > thr {
                                let id = (base + j) as u32;
                                if !common::is_excluded(excludes.get(qi).copied().unwrap_or(&[]), id) {
                                    heaps[qi].push(s, id);
                                    thr = heaps[qi].threshold();
                                }
                            }
                        }
                        th[qi] = thr;
                    }
                }
            }
            p0 = p1;
        }
    }

    /// Finishes hits: L2 scores get the `-|q|²` term back.
    fn finish(&self, q: &[f32], heap: TopK) -> Vec<Hit> {
        let mut hits = heap.into_hits();
        if self.metric == Metric::L2 {
            let qn = crate::linalg::dot(q, q);
            for h in &mut hits {
                h.score -= qn;
            }
        }
        hits
    }
}

impl AnnIndex for FlatIndex {
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
        let q = common::prepare_query(self.metric, query);
        let ex = common::sorted(exclude);
        let mut heaps = [TopK::new(k.min(self.n))];
        self.search_chunk(&[&q], &mut heaps, &[&ex]);
        let [h] = heaps;
        Ok(self.finish(&q, h))
    }

    fn search_batch(&self, queries: &Matrix, k: usize, excludes: &[&[u32]]) -> Result<Vec<Vec<Hit>>> {
        common::check_batch(queries, self.dim, excludes)?;
        let nq = queries.rows;
        let prepared: Vec<std::borrow::Cow<[f32]>> = (0..nq).map(|i| common::prepare_query(self.metric, queries.row(i))).collect();
        let exs: Vec<std::borrow::Cow<[u32]>> = (0..nq).map(|i| common::exclusion(excludes, i)).collect();
        let threads = rayon::current_num_threads().max(1);
        let mr = Kernel::detect().mr();
        // Chunks: a multiple of the kernel height, at most 256 queries, ~4 per thread.
        let chunk = (nq.div_ceil(threads * 4)).div_ceil(mr).max(1) * mr;
        let chunk = chunk.min(256usize.div_ceil(mr) * mr);
        let out: Vec<Vec<Vec<Hit>>> = (0..nq.div_ceil(chunk))
            .into_par_iter()
            .map(|c| {
                let (a, b) = (c * chunk, ((c + 1) * chunk).min(nq));
                let qs: Vec<&[f32]> = prepared[a..b].iter().map(|q| &q[..]).collect();
                let ex: Vec<&[u32]> = exs[a..b].iter().map(|e| &e[..]).collect();
                let mut heaps: Vec<TopK> = (a..b).map(|_| TopK::new(k.min(self.n))).collect();
                self.search_chunk(&qs, &mut heaps, &ex);
                heaps.into_iter().zip(&qs).map(|(h, q)| self.finish(q, h)).collect()
            })
            .collect();
        Ok(out.into_iter().flatten().collect())
    }

    fn memory_bytes(&self) -> usize {
        (self.packed.len() + self.bias.len()) * 4 + std::mem::size_of::<Self>()
    }

    fn save(&self, dir: &Path) -> Result<()> {
        common::write_header(dir, &Header { kind: "flat".into(), version: KIND.version, metric: self.metric, rows: self.n, dim: self.dim })?;
        common::write_array(dir, "items.f32", &self.vectors().data)
    }
}
