//! The row kernels of SGNS training: a dot product and the fused update
//! `e += g * c; c += g * x`, over contiguous f32 rows of the embedding dimension.
//!
//! Two implementations behind one trait so the whole training loop is monomorphised twice:
//! [`Portable`] (plain loops with 8 independent lanes, which LLVM vectorises for SSE2, the
//! x86-64 baseline) and [`Avx2Fma`] (256-bit intrinsics with fused multiply-add), selected at
//! run time with `is_x86_feature_detected!`. The crate is never built with
//! `target-cpu=native`, so the AVX2 path only exists through this dispatch.

/// Row kernels. All slices have the same length (the dimension).
///
/// # Safety
/// Implementations may require CPU features: only call them from code that checked
/// [`Kernels::available`] (the engine does, once per run).
pub trait Kernels {
    fn available() -> bool;
    /// `a . b`
    unsafe fn dot(a: &[f32], b: &[f32]) -> f32;
    /// `e += g * c; c += g * x` (c read before it is written), the negative-sampling step.
    unsafe fn update(g: f32, x: &[f32], c: &mut [f32], e: &mut [f32]);
    /// `e = g * c; c += g * x`: [`Kernels::update`] for the first target, which saves
    /// zeroing `e` (a memset call per example otherwise).
    unsafe fn update_first(g: f32, x: &[f32], c: &mut [f32], e: &mut [f32]);
    /// `y += a * x`
    unsafe fn axpy(a: f32, x: &[f32], y: &mut [f32]);
}

/// Baseline x86-64 / any architecture.
pub struct Portable;

impl Kernels for Portable {
    fn available() -> bool {
        true
    }

    #[inline(always)]
    unsafe fn dot(a: &[f32], b: &[f32]) -> f32 {
        crate::linalg::dot(a, b)
    }

    #[inline(always)]
    unsafe fn update(g: f32, x: &[f32], c: &mut [f32], e: &mut [f32]) {
        let n = x.len().min(c.len()).min(e.len());
        let (x, c, e) = (&x[..n], &mut c[..n], &mut e[..n]);
        for i in 0..n {
            let ci = c[i];
            e[i] += g * ci;
            c[i] = ci + g * x[i];
        }
    }

    #[inline(always)]
    unsafe fn update_first(g: f32, x: &[f32], c: &mut [f32], e: &mut [f32]) {
        let n = x.len().min(c.len()).min(e.len());
        let (x, c, e) = (&x[..n], &mut c[..n], &mut e[..n]);
        for i in 0..n {
            let ci = c[i];
            e[i] = g * ci;
            c[i] = ci + g * x[i];
        }
    }

    #[inline(always)]
    unsafe fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
        crate::linalg::axpy(a, x, y)
    }
}

/// AVX2 + FMA (Haswell and later, Zen). Only used after run-time detection.
pub struct Avx2Fma;

#[cfg(target_arch = "x86_64")]
impl Kernels for Avx2Fma {
    fn available() -> bool {
        is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
    }

    #[inline(always)]
    unsafe fn dot(a: &[f32], b: &[f32]) -> f32 {
        avx2::dot(a, b)
    }

    #[inline(always)]
    unsafe fn update(g: f32, x: &[f32], c: &mut [f32], e: &mut [f32]) {
        avx2::update(g, x, c, e)
    }

    #[inline(always)]
    unsafe fn update_first(g: f32, x: &[f32], c: &mut [f32], e: &mut [f32]) {
        avx2::update_first(g, x, c, e)
    }

    #[inline(always)]
    unsafe fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
        avx2::axpy(a, x, y)
    }
}

#[cfg(not(target_arch = "x86_64"))]
impl Kernels for Avx2Fma {
    fn available() -> bool {
        false
    }
    unsafe fn dot(a: &[f32], b: &[f32]) -> f32 {
        Portable::dot(a, b)
    }
    unsafe fn update(g: f32, x: &[f32], c: &mut [f32], e: &mut [f32]) {
        Portable::update(g, x, c, e)
    }
    unsafe fn update_first(g: f32, x: &[f32], c: &mut [f32], e: &mut [f32]) {
        Portable::update_first(g, x, c, e)
    }
    unsafe fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
        Portable::axpy(a, x, y)
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    pub use crate::linalg::avx2::dot;

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn update(g: f32, x: &[f32], c: &mut [f32], e: &mut [f32]) {
        let n = x.len().min(c.len()).min(e.len());
        let (px, pc, pe) = (x.as_ptr(), c.as_mut_ptr(), e.as_mut_ptr());
        let gv = _mm256_set1_ps(g);
        let mut i = 0;
        while i + 8 <= n {
            let cv = _mm256_loadu_ps(pc.add(i));
            let ev = _mm256_loadu_ps(pe.add(i));
            let xv = _mm256_loadu_ps(px.add(i));
            _mm256_storeu_ps(pe.add(i), _mm256_fmadd_ps(gv, cv, ev));
            _mm256_storeu_ps(pc.add(i), _mm256_fmadd_ps(gv, xv, cv));
            i += 8;
        }
        while i < n {
            let ci = *pc.add(i);
            *pe.add(i) += g * ci;
            *pc.add(i) = ci + g * *px.add(i);
            i += 1;
        }
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn update_first(g: f32, x: &[f32], c: &mut [f32], e: &mut [f32]) {
        let n = x.len().min(c.len()).min(e.len());
        let (px, pc, pe) = (x.as_ptr(), c.as_mut_ptr(), e.as_mut_ptr());
        let gv = _mm256_set1_ps(g);
        let mut i = 0;
        while i + 8 <= n {
            let cv = _mm256_loadu_ps(pc.add(i));
            let xv = _mm256_loadu_ps(px.add(i));
            _mm256_storeu_ps(pe.add(i), _mm256_mul_ps(gv, cv));
            _mm256_storeu_ps(pc.add(i), _mm256_fmadd_ps(gv, xv, cv));
            i += 8;
        }
        while i < n {
            let ci = *pc.add(i);
            *pe.add(i) = g * ci;
            *pc.add(i) = ci + g * *px.add(i);
            i += 1;
        }
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
        let n = x.len().min(y.len());
        let (px, py) = (x.as_ptr(), y.as_mut_ptr());
        let av = _mm256_set1_ps(a);
        let mut i = 0;
        while i + 8 <= n {
            _mm256_storeu_ps(py.add(i), _mm256_fmadd_ps(av, _mm256_loadu_ps(px.add(i)), _mm256_loadu_ps(py.add(i))));
            i += 8;
        }
        while i < n {
            *py.add(i) += a * *px.add(i);
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check<K: Kernels>() {
        if !K::available() {
            return;
        }
        for n in [1usize, 7, 8, 15, 16, 17, 64, 100] {
            let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
            let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((unsafe { K::dot(&a, &b) } - naive).abs() < 1e-4);
            let (mut c, mut e) = (b.clone(), vec![1.0f32; n]);
            unsafe { K::update(0.5, &a, &mut c, &mut e) };
            for i in 0..n {
                assert!((e[i] - (1.0 + 0.5 * b[i])).abs() < 1e-6);
                assert!((c[i] - (b[i] + 0.5 * a[i])).abs() < 1e-6);
            }
            let (mut c, mut e) = (b.clone(), vec![1.0f32; n]);
            unsafe { K::update_first(0.5, &a, &mut c, &mut e) };
            for i in 0..n {
                assert!((e[i] - 0.5 * b[i]).abs() < 1e-6);
                assert!((c[i] - (b[i] + 0.5 * a[i])).abs() < 1e-6);
            }
            let mut y = b.clone();
            unsafe { K::axpy(2.0, &a, &mut y) };
            for i in 0..n {
                assert!((y[i] - (b[i] + 2.0 * a[i])).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn portable_kernels() {
        check::<Portable>();
    }

    #[test]
    fn avx2_kernels() {
        check::<Avx2Fma>();
    }
}
