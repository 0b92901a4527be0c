//! Product quantiser: `m` sub-spaces of `dim / m` coordinates, 256 centroids each (8-bit
//! codes), trained by seeded k-means per sub-space (in parallel).

use super::kmeans;
use super::Metric;
use crate::linalg::Matrix;
use anyhow::{bail, Result};
use rayon::prelude::*;

pub const KSUB: usize = 256;

pub struct ProductQuantizer {
    pub m: usize,
    pub dsub: usize,
    /// `m x 256 x dsub` centroids.
    pub centroids: Vec<f32>,
    /// The same, transposed to `m x dsub x 256` so distance tables vectorise over codes.
    pub transposed: Vec<f32>,
}

impl ProductQuantizer {
    pub fn new(m: usize, dsub: usize, centroids: Vec<f32>) -> Self {
        let mut transposed = vec![0.0f32; centroids.len()];
        for j in 0..m {
            for c in 0..KSUB {
                for t in 0..dsub {
                    transposed[(j * dsub + t) * KSUB + c] = centroids[(j * KSUB + c) * dsub + t];
                }
            }
        }
        ProductQuantizer { m, dsub, centroids, transposed }
    }

    pub fn dim(&self) -> usize {
        self.m * self.dsub
    }

    #[inline]
    pub fn centroid(&self, j: usize, c: usize) -> &[f32] {
        let o = (j * KSUB + c) * self.dsub;
        &self.centroids[o..o + self.dsub]
    }

    /// Columns `j * dsub .. (j + 1) * dsub` of `x`.
    fn sub(x: &Matrix, j: usize, dsub: usize) -> Matrix {
        let mut s = Matrix::zeros(x.rows, dsub);
        for i in 0..x.rows {
            s.row_mut(i).copy_from_slice(&x.row(i)[j * dsub..(j + 1) * dsub]);
        }
        s
    }

    pub fn train(x: &Matrix, m: usize, iters: usize, seed: u64) -> Result<Self> {
        if m == 0 || x.cols % m != 0 {
            bail!("`m` = {m} must divide the vector dimension {}", x.cols);
        }
        let dsub = x.cols / m;
        let x = kmeans::subsample(x, KSUB * kmeans::MAX_POINTS_PER_CENTROID, seed ^ 0x9a);
        let parts: Vec<Matrix> = (0..m)
            .into_par_iter()
            .map(|j| kmeans::train(&Self::sub(&x, j, dsub), KSUB, iters, seed.wrapping_add(j as u64 * 7919), kmeans::Init::Random))
            .collect::<Result<_>>()?;
        let mut centroids = Vec::with_capacity(m * KSUB * dsub);
        for p in parts {
            centroids.extend_from_slice(&p.data);
        }
        Ok(Self::new(m, dsub, centroids))
    }

    /// Codes (`rows x m` bytes, row-major) of `x`.
    pub fn encode(&self, x: &Matrix) -> Result<Vec<u8>> {
        let per: Vec<Vec<u32>> = (0..self.m)
            .into_par_iter()
            .map(|j| {
                let cent = Matrix::from_vec(KSUB, self.dsub, self.centroids[j * KSUB * self.dsub..(j + 1) * KSUB * self.dsub].to_vec())?;
                kmeans::assign(&cent, &Self::sub(x, j, self.dsub), Metric::L2)
            })
            .collect::<Result<_>>()?;
        let mut codes = vec![0u8; x.rows * self.m];
        for (j, labels) in per.iter().enumerate() {
            for (i, &c) in labels.iter().enumerate() {
                codes[i * self.m + j] = c as u8;
            }
        }
        Ok(codes)
    }

    /// `table[j * 256 + c] = <q_j, centroid(j, c)>`.
    pub fn ip_table(&self, q: &[f32], table: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if super::common::has_avx2_fma() {
            // SAFETY: features detected at run time.
            return unsafe { self.ip_table_avx2(q, table) };
        }
        self.ip_table_portable(q, table)
    }

    #[inline(always)]
    fn ip_table_portable(&self, q: &[f32], table: &mut [f32]) {
        for j in 0..self.m {
            let t = &mut table[j * KSUB..(j + 1) * KSUB];
            t.fill(0.0);
            for s in 0..self.dsub {
                let a = q[j * self.dsub + s];
                let row = &self.transposed[(j * self.dsub + s) * KSUB..(j * self.dsub + s + 1) * KSUB];
                for (o, r) in t.iter_mut().zip(row) {
                    *o += a * r;
                }
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn ip_table_avx2(&self, q: &[f32], table: &mut [f32]) {
        self.ip_table_portable(q, table)
    }

    /// Sum of table entries picked by one code. The table comes as `m` arrays of 256 (see
    /// [`ProductQuantizer::rows`]) so that indexing one with a `u8` needs no bounds check:
    /// with the checks of a flat `&[f32]`, scanning the lists was 3-4x slower than faiss's.
    #[inline]
    pub fn lookup(table: &[[f32; KSUB]], code: &[u8]) -> f32 {
        let mut s = [0.0f32; 4];
        let (t4, c4) = (table.chunks_exact(4), code.chunks_exact(4));
        let (t_rest, c_rest) = (t4.remainder(), c4.remainder());
        for (t, c) in t4.zip(c4) {
            s[0] += t[0][c[0] as usize];
            s[1] += t[1][c[1] as usize];
            s[2] += t[2][c[2] as usize];
            s[3] += t[3][c[3] as usize];
        }
        for (t, &c) in t_rest.iter().zip(c_rest) {
            s[0] += t[c as usize];
        }
        (s[0] + s[1]) + (s[2] + s[3])
    }

    /// A flat `m x 256` distance table as its `m` rows.
    pub fn rows(table: &[f32]) -> &[[f32; KSUB]] {
        table.as_chunks::<KSUB>().0
    }

    pub fn memory_bytes(&self) -> usize {
        (self.centroids.len() + self.transposed.len()) * 4
    }
}
