//! L2-regularised binary logistic regression fitted with L-BFGS, and one-vs-rest over many
//! classes: the classifier of the node2vec evaluations (node classification, link
//! prediction).
//!
//! Hand-written rather than `linfa-logistic` because of a measurement (one thread, the same
//! PPI-shaped synthetic problem: 1,945 training rows x 128 features x 50 one-vs-rest
//! classes; see experiments/node2vec_vs_pecanpy/README.md): linfa-logistic 0.8.1 took 3.05 s
//! of CPU, this file 0.42 s, and linfa adds ~45 crates (ndarray 0.16, argmin, ...), 1.5
//! minutes of cold release build. Node classification fits 10 such splits per evaluation.
//!
//! Objective, scikit-learn's parametrisation: `C * sum_i logloss(y_i, w.x_i + b) + |w|^2 / 2`
//! (the intercept `b` is not penalised), minimised here divided by `C * n`.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Solver settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogRegConfig {
    /// Inverse regularisation strength, as scikit-learn's `C` (default 1).
    pub c: f64,
    pub max_iter: usize,
    /// Stop when the gradient's largest component falls below this.
    pub tol: f64,
}

impl Default for LogRegConfig {
    fn default() -> Self {
        LogRegConfig { c: 1.0, max_iter: 200, tol: 1e-6 }
    }
}

/// A fitted binary model: `score(x) = w.x + b`, `P(y = 1) = sigmoid(score)`.
#[derive(Clone, Debug, PartialEq)]
pub struct LogReg {
    pub w: Vec<f64>,
    pub b: f64,
}

impl LogReg {
    #[inline]
    pub fn score(&self, x: &[f64]) -> f64 {
        self.w.iter().zip(x).map(|(a, b)| a * b).sum::<f64>() + self.b
    }
}

/// Row-major `n x d` design matrix in f64.
#[derive(Clone, Debug, Default)]
pub struct Design {
    pub n: usize,
    pub d: usize,
    pub x: Vec<f64>,
}

impl Design {
    pub fn from_rows(rows: impl IntoIterator<Item = Vec<f64>>, d: usize) -> Design {
        let mut x = Vec::new();
        let mut n = 0;
        for r in rows {
            assert_eq!(r.len(), d, "design row of wrong width");
            x.extend(r);
            n += 1;
        }
        Design { n, d, x }
    }

    #[inline]
    pub fn row(&self, i: usize) -> &[f64] {
        &self.x[i * self.d..(i + 1) * self.d]
    }
}

#[inline]
fn log1pexp(z: f64) -> f64 {
    if z > 0.0 {
        z + (-z).exp().ln_1p()
    } else {
        z.exp().ln_1p()
    }
}

#[inline]
fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// Objective and gradient at `theta = [w..., b]`.
fn objective(x: &Design, y: &[bool], lambda: f64, theta: &[f64], grad: &mut [f64]) -> f64 {
    let d = x.d;
    let (w, b) = (&theta[..d], theta[d]);
    grad.iter_mut().for_each(|g| *g = 0.0);
    let mut f = 0.0;
    for i in 0..x.n {
        let xi = x.row(i);
        let z = xi.iter().zip(w).map(|(a, b)| a * b).sum::<f64>() + b;
        let s = if y[i] { 1.0 } else { -1.0 };
        f += log1pexp(-s * z);
        let r = sigmoid(z) - if y[i] { 1.0 } else { 0.0 };
        for (g, a) in grad[..d].iter_mut().zip(xi) {
            *g += r * a;
        }
        grad[d] += r;
    }
    let inv_n = 1.0 / x.n.max(1) as f64;
    f *= inv_n;
    grad.iter_mut().for_each(|g| *g *= inv_n);
    let mut reg = 0.0;
    for j in 0..d {
        reg += w[j] * w[j];
        grad[j] += lambda * w[j];
    }
    f + 0.5 * lambda * reg
}

fn dotv(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Fits one binary model by L-BFGS (memory 10, backtracking Armijo line search).
pub fn fit_binary(x: &Design, y: &[bool], cfg: &LogRegConfig) -> LogReg {
    assert_eq!(x.n, y.len());
    let d = x.d;
    let dim = d + 1;
    let lambda = 1.0 / (cfg.c * x.n.max(1) as f64);
    let mut theta = vec![0.0; dim];
    // Start the intercept at the log-odds of the base rate: exact optimum when w = 0.
    let pos = y.iter().filter(|&&v| v).count();
    if pos == 0 || pos == x.n {
        // Degenerate class: a constant score far on the right side.
        return LogReg { w: vec![0.0; d], b: if pos == 0 { -30.0 } else { 30.0 } };
    }
    theta[d] = (pos as f64 / (x.n - pos) as f64).ln();
    let mut g = vec![0.0; dim];
    let mut f = objective(x, y, lambda, &theta, &mut g);
    const M: usize = 10;
    let mut s_hist: Vec<Vec<f64>> = Vec::new();
    let mut y_hist: Vec<Vec<f64>> = Vec::new();
    let mut new_theta = vec![0.0; dim];
    let mut new_g = vec![0.0; dim];
    for _ in 0..cfg.max_iter {
        if g.iter().fold(0.0f64, |m, v| m.max(v.abs())) < cfg.tol {
            break;
        }
        // Two-loop recursion: direction = -H g.
        let mut q = g.clone();
        let k = s_hist.len();
        let mut alphas = vec![0.0; k];
        for i in (0..k).rev() {
            let rho = 1.0 / dotv(&y_hist[i], &s_hist[i]);
            alphas[i] = rho * dotv(&s_hist[i], &q);
            for (qj, yj) in q.iter_mut().zip(&y_hist[i]) {
                *qj -= alphas[i] * yj;
            }
        }
        let gamma = if k > 0 { dotv(&s_hist[k - 1], &y_hist[k - 1]) / dotv(&y_hist[k - 1], &y_hist[k - 1]) } else { 1.0 };
        q.iter_mut().for_each(|v| *v *= gamma);
        for i in 0..k {
            let rho = 1.0 / dotv(&y_hist[i], &s_hist[i]);
            let beta = rho * dotv(&y_hist[i], &q);
            for (qj, sj) in q.iter_mut().zip(&s_hist[i]) {
                *qj += (alphas[i] - beta) * sj;
            }
        }
        let dir: Vec<f64> = q.iter().map(|v| -v).collect();
        let mut slope = dotv(&g, &dir);
        let dir = if slope >= 0.0 {
            // Not a descent direction (numerical trouble): restart from steepest descent.
            s_hist.clear();
            y_hist.clear();
            slope = -dotv(&g, &g);
            g.iter().map(|v| -v).collect()
        } else {
            dir
        };
        let mut step = 1.0;
        let mut accepted = false;
        for _ in 0..40 {
            for j in 0..dim {
                new_theta[j] = theta[j] + step * dir[j];
            }
            let nf = objective(x, y, lambda, &new_theta, &mut new_g);
            if nf <= f + 1e-4 * step * slope {
                let s: Vec<f64> = (0..dim).map(|j| new_theta[j] - theta[j]).collect();
                let yv: Vec<f64> = (0..dim).map(|j| new_g[j] - g[j]).collect();
                if dotv(&s, &yv) > 1e-12 {
                    if s_hist.len() == M {
                        s_hist.remove(0);
                        y_hist.remove(0);
                    }
                    s_hist.push(s);
                    y_hist.push(yv);
                }
                let improvement = f - nf;
                std::mem::swap(&mut theta, &mut new_theta);
                std::mem::swap(&mut g, &mut new_g);
                f = nf;
                accepted = true;
                if improvement <= 1e-12 * f.abs().max(1.0) {
                    return LogReg { w: theta[..d].to_vec(), b: theta[d] };
                }
                break;
            }
            step *= 0.5;
        }
        if !accepted {
            break;
        }
    }
    LogReg { w: theta[..d].to_vec(), b: theta[d] }
}

/// One-vs-rest: one binary model per class `0..n_classes`; `labels[i]` lists row i's
/// classes. Classes are fitted in parallel.
pub fn fit_ovr(x: &Design, labels: &[Vec<u32>], n_classes: usize, cfg: &LogRegConfig) -> Vec<LogReg> {
    (0..n_classes)
        .into_par_iter()
        .map(|c| {
            let y: Vec<bool> = labels.iter().map(|l| l.contains(&(c as u32))).collect();
            fit_binary(x, &y, cfg)
        })
        .collect()
}
