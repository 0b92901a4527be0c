//! Dense row-major f32 matrices: the one currency every model, index and metric trades in.
//!
//! Kept deliberately tiny (no ndarray) because every consumer wants contiguous rows it can
//! hand to a SIMD-friendly loop or to usearch without a copy.

use anyhow::{bail, Result};

/// Row-major `rows x cols` matrix of f32.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Matrix {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f32>,
}

impl Matrix {
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Matrix { rows, cols, data: vec![0.0; rows * cols] }
    }

    /// Wraps `data`; errors (rather than panics) when the length disagrees with the shape,
    /// because shapes often come from files on disk.
    pub fn from_vec(rows: usize, cols: usize, data: Vec<f32>) -> Result<Self> {
        if data.len() != rows * cols {
            bail!("matrix data has {} values, expected {rows} x {cols} = {}", data.len(), rows * cols);
        }
        Ok(Matrix { rows, cols, data })
    }

    #[inline]
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }

    #[inline]
    pub fn row_mut(&mut self, i: usize) -> &mut [f32] {
        let c = self.cols;
        &mut self.data[i * c..(i + 1) * c]
    }

    pub fn rows_iter(&self) -> impl Iterator<Item = &[f32]> {
        self.data.chunks_exact(self.cols.max(1)).take(self.rows)
    }

    /// Index of the first row holding a NaN or infinite value, if any.
    pub fn first_non_finite_row(&self) -> Option<usize> {
        (0..self.rows).find(|&i| self.row(i).iter().any(|x| !x.is_finite()))
    }

    /// Scales every row to unit L2 norm (zero rows stay zero).
    pub fn normalize_rows(&mut self) {
        for i in 0..self.rows {
            let r = self.row_mut(i);
            let n = dot(r, r).sqrt();
            if n > 0.0 {
                r.iter_mut().for_each(|x| *x /= n);
            }
        }
    }
}

/// `ln(1 + e^x)` without overflow for large `x` or loss of precision for very negative `x`:
/// the logistic losses' `-log σ(-x)`.
pub fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// Dot product written as 8 independent accumulators so LLVM vectorises it (AVX2 on x86-64
/// without `target-cpu=native`: the loop body compiles to packed mul/add on SSE2 too).
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; 8];
    let chunks = n / 8;
    for c in 0..chunks {
        let (x, y) = (&a[c * 8..c * 8 + 8], &b[c * 8..c * 8 + 8]);
        for j in 0..8 {
            acc[j] += x[j] * y[j];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for j in chunks * 8..n {
        s += a[j] * b[j];
    }
    s
}

/// Squared Euclidean distance, vectorisable like [`dot`].
#[inline]
pub fn l2_sq(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; 8];
    let chunks = n / 8;
    for c in 0..chunks {
        let (x, y) = (&a[c * 8..c * 8 + 8], &b[c * 8..c * 8 + 8]);
        for j in 0..8 {
            let d = x[j] - y[j];
            acc[j] += d * d;
        }
    }
    let mut s: f32 = acc.iter().sum();
    for j in chunks * 8..n {
        let d = a[j] - b[j];
        s += d * d;
    }
    s
}

/// `y += a * x`, the skip-gram update's inner loop.
#[inline]
pub fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

/// `z[i] = exp(z[i] - shift)` for every element, the softmax's inner loop.
///
/// libm's `expf` is a scalar call per element; on the two-tower loss (512 x 512 per step) it
/// was 8% of training time. This is Cephes' `expf` (range reduction by `ln 2` in two parts,
/// a degree-6 polynomial, the exponent set directly; relative error below 2e-7 against `f64`
/// exp in the test), written so that the compiler vectorises it: 8 lanes in the AVX2 build
/// chosen at run time. Inputs below -87.3 give about 1e-38 instead of a denormal or 0, above
/// 88.3 they give exp(88.3) (the softmax only ever passes values <= 0).
pub fn exp_shifted(z: &mut [f32], shift: f32) {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports AVX2 and FMA (checked just above).
        unsafe { exp_shifted_avx2(z, shift) };
        return;
    }
    exp_shifted_body(z, shift)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn exp_shifted_avx2(z: &mut [f32], shift: f32) {
    exp_shifted_body(z, shift)
}

#[inline(always)]
fn exp_shifted_body(z: &mut [f32], shift: f32) {
    for v in z.iter_mut() {
        *v = exp_poly(*v - shift);
    }
}

/// Cephes' `expf` for one value, branch-free so that loops over it vectorise.
#[inline(always)]
pub(crate) fn exp_poly(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding and subtracting 1.5 * 2^23 rounds to the nearest integer without a rounding
    // instruction the baseline build lacks.
    const ROUND: f32 = 12_582_912.0;
    // max / min rather than clamp: they vectorise without clamp's NaN branch (a NaN input
    // becomes exp(-87.3) here; the loss that called this stays NaN through its own terms).
    #[allow(clippy::manual_clamp)]
    let x = x.max(-87.3).min(88.3);
    let n = (x * LOG2E + ROUND) - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r + 1.666_666_5e-1) * r + 0.5;
    let e = p * r * r + r + 1.0;
    // n is a whole number in [-126, 128] here, so the bits of n + 127 + 2^23 (a float whose
    // low mantissa bits hold the integer) give 2^n without a float-to-int cast.
    let bits = (n + (127.0 + 8_388_608.0)).to_bits() << 23;
    e * f32::from_bits(bits)
}

/// `z = tanh(z)`, vectorised (AVX2 chosen at run time): libm's `tanhf` (through `expm1f`)
/// was 16% of DSSM's training time. Cephes' `tanhf`: an odd polynomial below |x| = 0.625,
/// `1 - 2 / (exp(2|x|) + 1)` above, 1 beyond |x| = 9; absolute error below 3e-7 against
/// `f64` tanh in the test.
pub fn tanh_inplace(z: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports AVX2 and FMA (checked just above).
        unsafe { tanh_avx2(z) };
        return;
    }
    tanh_body(z)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn tanh_avx2(z: &mut [f32]) {
    tanh_body(z)
}

#[inline(always)]
fn tanh_body(z: &mut [f32]) {
    for v in z.iter_mut() {
        let x = *v;
        let a = x.abs().min(9.0);
        let big = 1.0 - 2.0 / (exp_poly(2.0 * a) + 1.0);
        let s = a * a;
        let small = ((((-5.704_988_7e-3 * s + 2.063_908_9e-2) * s - 5.373_971_6e-2) * s + 1.333_144_2e-1) * s - 3.333_328_2e-1) * s * a + a;
        let t = if a < 0.625 { small } else { big };
        *v = t.copysign(x);
    }
}

/// AVX2+FMA kernels shared by the skip-gram engine and the indexes; callers check
/// `is_x86_feature_detected!("avx2")` and `("fma")` before calling (no `target-cpu=native`).
#[cfg(target_arch = "x86_64")]
pub mod avx2 {
    use std::arch::x86_64::*;

    /// Horizontal sum of the 8 lanes.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn hsum(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
        _mm_cvtss_f32(s)
    }

    /// Dot product with two FMA accumulators.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc0 = _mm256_setzero_ps();
        let mut acc1 = _mm256_setzero_ps();
        let mut i = 0;
        while i + 16 <= n {
            acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)), acc0);
            acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i + 8)), _mm256_loadu_ps(pb.add(i + 8)), acc1);
            i += 16;
        }
        if i + 8 <= n {
            acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)), acc0);
            i += 8;
        }
        let mut s = hsum(_mm256_add_ps(acc0, acc1));
        while i < n {
            s += *pa.add(i) * *pb.add(i);
            i += 1;
        }
        s
    }

    /// Squared Euclidean distance with two FMA accumulators.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn l2_sq(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let (mut acc0, mut acc1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        let mut i = 0;
        while i + 16 <= n {
            let d0 = _mm256_sub_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)));
            let d1 = _mm256_sub_ps(_mm256_loadu_ps(pa.add(i + 8)), _mm256_loadu_ps(pb.add(i + 8)));
            acc0 = _mm256_fmadd_ps(d0, d0, acc0);
            acc1 = _mm256_fmadd_ps(d1, d1, acc1);
            i += 16;
        }
        if i + 8 <= n {
            let d0 = _mm256_sub_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)));
            acc0 = _mm256_fmadd_ps(d0, d0, acc0);
            i += 8;
        }
        let mut s = hsum(_mm256_add_ps(acc0, acc1));
        while i < n {
            let d = *pa.add(i) - *pb.add(i);
            s += d * d;
            i += 1;
        }
        s
    }

    /// `(a.b, a.a, b.b)` in one pass, for the cosine distance.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot_and_norms(a: &[f32], b: &[f32]) -> (f32, f32, f32) {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let (mut ab, mut aa, mut bb) = (_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps());
        let mut i = 0;
        while i + 8 <= n {
            let (x, y) = (_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)));
            ab = _mm256_fmadd_ps(x, y, ab);
            aa = _mm256_fmadd_ps(x, x, aa);
            bb = _mm256_fmadd_ps(y, y, bb);
            i += 8;
        }
        let (mut sab, mut saa, mut sbb) = (hsum(ab), hsum(aa), hsum(bb));
        while i < n {
            let (x, y) = (*pa.add(i), *pb.add(i));
            sab += x * y;
            saa += x * x;
            sbb += y * y;
            i += 1;
        }
        (sab, saa, sbb)
    }
}

/// AVX-512F twins of the [`avx2`] distance kernels, for the indexes (`index::common`): on a CPU with 512-bit
/// FMA units they halve the instructions per distance. Callers check
/// `is_x86_feature_detected!("avx512f")` first.
#[cfg(target_arch = "x86_64")]
pub mod avx512 {
    use std::arch::x86_64::*;

    /// Lanes `i..n` (fewer than 16) of `p` with zeros after them.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn tail(p: *const f32, i: usize, n: usize) -> __m512 {
        _mm512_maskz_loadu_ps(((1u32 << (n - i)) - 1) as __mmask16, p.add(i))
    }

    /// Dot product with two accumulators.
    ///
    /// # Safety
    /// The CPU must support AVX-512F.
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub unsafe fn dot(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let (mut acc0, mut acc1) = (_mm512_setzero_ps(), _mm512_setzero_ps());
        let mut i = 0;
        while i + 32 <= n {
            acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i)), acc0);
            acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(pa.add(i + 16)), _mm512_loadu_ps(pb.add(i + 16)), acc1);
            i += 32;
        }
        if i + 16 <= n {
            acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i)), acc0);
            i += 16;
        }
        if i < n {
            acc1 = _mm512_fmadd_ps(tail(pa, i, n), tail(pb, i, n), acc1);
        }
        _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1))
    }

    /// Squared Euclidean distance.
    ///
    /// # Safety
    /// The CPU must support AVX-512F.
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub unsafe fn l2_sq(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let (mut acc0, mut acc1) = (_mm512_setzero_ps(), _mm512_setzero_ps());
        let mut i = 0;
        while i + 32 <= n {
            let d0 = _mm512_sub_ps(_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i)));
            let d1 = _mm512_sub_ps(_mm512_loadu_ps(pa.add(i + 16)), _mm512_loadu_ps(pb.add(i + 16)));
            acc0 = _mm512_fmadd_ps(d0, d0, acc0);
            acc1 = _mm512_fmadd_ps(d1, d1, acc1);
            i += 32;
        }
        if i + 16 <= n {
            let d0 = _mm512_sub_ps(_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i)));
            acc0 = _mm512_fmadd_ps(d0, d0, acc0);
            i += 16;
        }
        if i < n {
            let d = _mm512_sub_ps(tail(pa, i, n), tail(pb, i, n));
            acc1 = _mm512_fmadd_ps(d, d, acc1);
        }
        _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1))
    }

    /// `(a.b, a.a, b.b)` in one pass.
    ///
    /// # Safety
    /// The CPU must support AVX-512F.
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub unsafe fn dot_and_norms(a: &[f32], b: &[f32]) -> (f32, f32, f32) {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let (mut ab, mut aa, mut bb) = (_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps());
        let mut i = 0;
        while i < n {
            let (x, y) = if i + 16 <= n { (_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i))) } else { (tail(pa, i, n), tail(pb, i, n)) };
            ab = _mm512_fmadd_ps(x, y, ab);
            aa = _mm512_fmadd_ps(x, x, aa);
            bb = _mm512_fmadd_ps(y, y, bb);
            i += 16;
        }
        (_mm512_reduce_add_ps(ab), _mm512_reduce_add_ps(aa), _mm512_reduce_add_ps(bb))
    }
}

/// `(a.b, a.a, b.b)`, the portable twin of [`avx2::dot_and_norms`].
pub fn dot_and_norms(a: &[f32], b: &[f32]) -> (f32, f32, f32) {
    (dot(a, b), dot(a, a), dot(b, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_and_l2_match_naive() {
        let a: Vec<f32> = (0..19).map(|i| i as f32 * 0.5 - 3.0).collect();
        let b: Vec<f32> = (0..19).map(|i| (i as f32).sin()).collect();
        let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - naive).abs() < 1e-4);
        let naive_l2: f32 = a.iter().zip(&b).map(|(x, y)| (x - y) * (x - y)).sum();
        assert!((l2_sq(&a, &b) - naive_l2).abs() < 1e-3);
        let (ab, aa, bb) = dot_and_norms(&a, &b);
        assert!((ab - naive).abs() < 1e-4 && (aa - dot(&a, &a)).abs() < 1e-3 && (bb - dot(&b, &b)).abs() < 1e-4);
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx512f") {
            let a: Vec<f32> = (0..75).map(|i| (i as f32 * 0.37).cos()).collect();
            let b: Vec<f32> = (0..75).map(|i| (i as f32 * 0.11).sin()).collect();
            // Lengths that exercise the 32-, 16- and masked tails.
            for n in [0, 5, 16, 19, 32, 47, 64, 75] {
                let (x, y) = (&a[..n], &b[..n]);
                let (wab, waa, wbb) = dot_and_norms(x, y);
                let wl2: f32 = x.iter().zip(y).map(|(p, q)| (p - q) * (p - q)).sum();
                let (ab, aa, bb) = unsafe { avx512::dot_and_norms(x, y) };
                let (d, l2) = unsafe { (avx512::dot(x, y), avx512::l2_sq(x, y)) };
                assert!((d - wab).abs() < 1e-3 && (l2 - wl2).abs() < 1e-3, "avx512 n={n}: dot {d} vs {wab}, l2 {l2} vs {wl2}");
                assert!((ab - wab).abs() < 1e-3 && (aa - waa).abs() < 1e-3 && (bb - wbb).abs() < 1e-3, "avx512 dot_and_norms n={n}");
            }
        }
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // Lengths that exercise the 16-, 8- and 1-wide tails.
            for n in [0, 3, 8, 13, 16, 19] {
                let (x, y) = (&a[..n], &b[..n]);
                let want: f32 = x.iter().zip(y).map(|(p, q)| (p - q) * (p - q)).sum();
                let got = unsafe { avx2::l2_sq(x, y) };
                assert!((got - want).abs() < 1e-3, "l2_sq n={n}: {got} vs {want}");
                let (ab, aa, bb) = unsafe { avx2::dot_and_norms(x, y) };
                let (wab, waa, wbb) = dot_and_norms(x, y);
                assert!((ab - wab).abs() < 1e-3 && (aa - waa).abs() < 1e-3 && (bb - wbb).abs() < 1e-3, "dot_and_norms n={n}");
            }
        }
    }

    #[test]
    fn from_vec_rejects_bad_shape() {
        assert!(Matrix::from_vec(2, 3, vec![0.0; 5]).is_err());
        let mut m = Matrix::from_vec(2, 2, vec![3.0, 4.0, 0.0, 0.0]).unwrap();
        m.normalize_rows();
        assert_eq!(m.row(0), &[0.6, 0.8]);
        assert_eq!(m.row(1), &[0.0, 0.0]);
    }

    #[test]
    fn tanh_is_accurate_on_both_kernels() {
        let xs: Vec<f32> = (0..40_001).map(|i| -20.0 + i as f32 * 0.001).chain([0.0, -0.0, 1e-30, 100.0, -1e4]).collect();
        for (what, f) in [("dispatched", tanh_inplace as fn(&mut [f32])), ("baseline", tanh_body)] {
            let mut z = xs.clone();
            f(&mut z);
            for (x, t) in xs.iter().zip(&z) {
                let want = (*x as f64).tanh();
                assert!(((*t as f64) - want).abs() < 3e-7, "{what}: tanh({x}) = {t} vs {want}");
                assert!(t.abs() <= 1.0 && (t.signum() == x.signum() || *t == 0.0), "{what}: tanh({x}) = {t}");
            }
        }
    }

    #[test]
    fn exp_shifted_is_accurate_on_both_kernels() {
        let xs: Vec<f32> = (0..20_000).map(|i| -90.0 + i as f32 * 0.0089).collect();
        let check = |z: &[f32], what: &str| {
            for (x, e) in xs.iter().zip(z) {
                let want = ((*x - 1.5) as f64).exp();
                let rel = ((*e as f64) - want).abs() / want.max(1e-37);
                assert!(rel < 2e-7 || (want < 1e-37 && *e < 1e-37), "{what}: exp({} - 1.5) = {e} vs {want}", x);
            }
        };
        let mut z = xs.clone();
        exp_shifted(&mut z, 1.5);
        check(&z, "dispatched");
        let mut z = xs.clone();
        exp_shifted_body(&mut z, 1.5);
        check(&z, "baseline");
        let mut z = vec![0.0f32, 1.0, -1.0];
        exp_shifted(&mut z, 0.0);
        assert!(z[0] == 1.0 && (z[1] - std::f32::consts::E).abs() < 1e-6 && (z[2] - 1.0 / std::f32::consts::E).abs() < 1e-7);
    }
}
