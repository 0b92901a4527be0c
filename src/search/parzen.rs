//! The Parzen estimators of TPE (Bergstra et al. 2011), as Optuna's `_ParzenEstimator` builds
//! them with its defaults (`consider_prior`, prior weight 1, `consider_magic_clip`,
//! `consider_endpoints = False`, `default_weights`): one truncated Gaussian per observation
//! plus a wide prior for a numeric key, smoothed counts for a categorical one.

use rand::Rng;
use statrs::function::erf::{erf, erf_inv};

/// Optuna's `default_weights(n)`: equal weights up to 25 observations, beyond that the oldest
/// `n - 25` ramp up linearly from `1/n`, so old trials count less. Oldest first.
pub fn default_weights(n: usize) -> Vec<f64> {
    if n < 25 {
        return vec![1.0; n];
    }
    let ramp = n - 25;
    let mut w: Vec<f64> =
        (0..ramp).map(|i| if ramp == 1 { 1.0 / n as f64 } else { 1.0 / n as f64 + (1.0 - 1.0 / n as f64) * i as f64 / (ramp - 1) as f64 }).collect();
    w.extend(std::iter::repeat_n(1.0, 25));
    w
}

/// A mixture of truncated Gaussians on `[low, high]` (already in log space for log keys).
/// With `step` (integers) a value stands for the bin `[x - step/2, x + step/2]` and the
/// support widens by half a step each side.
#[derive(Clone, Debug, PartialEq)]
pub struct Numeric {
    pub mus: Vec<f64>,
    pub sigmas: Vec<f64>,
    /// Normalised.
    pub weights: Vec<f64>,
    pub low: f64,
    pub high: f64,
    pub step: Option<f64>,
    /// Log-spaced integers (Optuna's `IntDistribution(log=True)`): `low`, `high` and `step`
    /// are in the integers' own space, each value stands for the bin `[x - step/2, x +
    /// step/2]` mapped through `ln`, and observations, draws and densities are in log space.
    pub log_bins: bool,
}

impl Numeric {
    /// The estimator of `obs` (oldest first). Each kernel's bandwidth is the larger distance
    /// to its neighbours among the sorted observations and the range's ends (the extreme
    /// kernels use their inner neighbour only), clipped to the "magic clip" range
    /// `[(high - low) / min(100, 1 + kernels), high - low]`; the prior is centred with the
    /// range's width.
    pub fn new(obs: &[f64], low: f64, high: f64, step: Option<f64>) -> Self {
        Self::build(obs, low, high, step, false)
    }

    /// The estimator of log-spaced integers in `[low, high]` from observations `ln(x)`: as
    /// Optuna, the support is `[ln(low - 1/2), ln(high + 1/2)]` and a value's probability is
    /// the mass of its bin `[ln(x - 1/2), ln(x + 1/2)]`, so 1 and 2 are far apart and 19 and
    /// 20 close, and the ends are not half-bins.
    pub fn log_int(obs: &[f64], low: f64, high: f64) -> Self {
        Self::build(obs, low, high, Some(1.0), true)
    }

    fn build(obs: &[f64], low: f64, high: f64, step: Option<f64>, log_bins: bool) -> Self {
        let s = step.unwrap_or(0.0);
        // The support's ends, in the space the kernels live in.
        let (a, b) = if log_bins { ((low - s / 2.0).ln(), (high + s / 2.0).ln()) } else { (low - s / 2.0, high + s / 2.0) };
        let n = obs.len();
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| obs[a].total_cmp(&obs[b]));
        let mut ends = Vec::with_capacity(n + 2);
        ends.push(a);
        ends.extend(order.iter().map(|&i| obs[i]));
        ends.push(b);
        let mut sorted_sigmas: Vec<f64> = (1..=n).map(|i| (ends[i] - ends[i - 1]).max(ends[i + 1] - ends[i])).collect();
        if ends.len() >= 4 {
            sorted_sigmas[0] = ends[2] - ends[1];
            sorted_sigmas[n - 1] = ends[n] - ends[n - 1];
        }
        let width = b - a;
        let kernels = n + 1;
        let (min_sigma, max_sigma) = (width / (1.0 + kernels as f64).min(100.0), width);
        let mut sigmas = vec![0.0; n];
        for (rank, &i) in order.iter().enumerate() {
            sigmas[i] = sorted_sigmas[rank].clamp(min_sigma, max_sigma);
        }
        let mut mus = obs.to_vec();
        mus.push(0.5 * (a + b));
        sigmas.push(width);
        let mut weights = default_weights(n);
        weights.push(1.0);
        let total: f64 = weights.iter().sum();
        weights.iter_mut().for_each(|w| *w /= total);
        Numeric { mus, sigmas, weights, low, high, step, log_bins }
    }

    fn support(&self) -> (f64, f64) {
        let s = self.step.unwrap_or(0.0);
        if self.log_bins {
            ((self.low - s / 2.0).ln(), (self.high + s / 2.0).ln())
        } else {
            (self.low - s / 2.0, self.high + s / 2.0)
        }
    }

    /// The bin of grid value `x` (in the kernels' space).
    fn bin(&self, x: f64, s: f64) -> (f64, f64) {
        if self.log_bins {
            let v = x.exp().round();
            ((v - s / 2.0).ln(), (v + s / 2.0).ln())
        } else {
            (x - s / 2.0, x + s / 2.0)
        }
    }

    /// A draw: a kernel by weight, then its truncated Gaussian ([`Self::sample_kernel`]).
    pub fn sample(&self, rng: &mut impl Rng) -> f64 {
        let k = pick(&self.weights, rng);
        self.sample_kernel(k, rng)
    }

    /// A draw from kernel `k`'s truncated Gaussian (by inverting its CDF); with a step,
    /// rounded to the grid. The multivariate TPE picks one kernel for every key.
    pub fn sample_kernel(&self, k: usize, rng: &mut impl Rng) -> f64 {
        let (a, b) = self.support();
        let (mu, sigma) = (self.mus[k], self.sigmas[k]);
        let (pa, pb) = (phi((a - mu) / sigma), phi((b - mu) / sigma));
        let u = pa + (pb - pa) * rng.gen::<f64>();
        let x = (mu + sigma * phi_inv(u.clamp(1e-300, 1.0 - 1e-16))).clamp(a, b);
        match self.step {
            Some(s) if self.log_bins => (self.low + ((x.exp() - self.low) / s).round() * s).clamp(self.low, self.high).ln(),
            Some(s) => (self.low + ((x - self.low) / s).round() * s).clamp(self.low, self.high),
            None => x,
        }
    }

    /// Log density (log probability of the value's bin, with a step) of the mixture at `x`.
    pub fn log_pdf(&self, x: f64) -> f64 {
        let terms: Vec<f64> = (0..self.mus.len()).map(|k| self.weights[k].ln() + self.log_kernel(k, x)).collect();
        log_sum_exp(&terms)
    }

    /// Log density (bin probability, with a step) of kernel `k` alone at `x`, unweighted.
    pub fn log_kernel(&self, k: usize, x: f64) -> f64 {
        let (a, b) = self.support();
        let (mu, sigma) = (self.mus[k], self.sigmas[k]);
        let z = phi((b - mu) / sigma) - phi((a - mu) / sigma);
        match self.step {
            Some(s) => {
                let (l, r) = self.bin(x, s);
                ((phi((r - mu) / sigma) - phi((l - mu) / sigma)) / z).max(1e-300).ln()
            }
            None => -0.5 * ((x - mu) / sigma).powi(2) - (sigma * (2.0 * std::f64::consts::PI).sqrt()).ln() - z.max(1e-300).ln(),
        }
    }
}

/// A categorical estimator: each observation a kernel that puts its weight on the observed
/// choice plus `1 / kernels` smoothing on every choice, the prior kernel only the smoothing.
#[derive(Clone, Debug, PartialEq)]
pub struct Categorical {
    /// Each kernel's probability of each choice (the prior's last).
    pub rows: Vec<Vec<f64>>,
    /// The kernels' weights, normalised (as [`Numeric`]'s for the same observations).
    pub weights: Vec<f64>,
    /// The mixture's probability of each choice.
    pub probs: Vec<f64>,
}

impl Categorical {
    pub fn new(obs: &[usize], n_choices: usize) -> Self {
        if obs.is_empty() {
            let uniform = vec![1.0 / n_choices as f64; n_choices];
            return Categorical { rows: vec![uniform.clone()], weights: vec![1.0], probs: uniform };
        }
        let kernels = obs.len() + 1;
        let mut weights = default_weights(obs.len());
        weights.push(1.0);
        let total: f64 = weights.iter().sum();
        weights.iter_mut().for_each(|w| *w /= total);
        let rows: Vec<Vec<f64>> = (0..kernels)
            .map(|k| {
                let mut row = vec![1.0 / kernels as f64; n_choices];
                if let Some(&o) = obs.get(k) {
                    row[o] += 1.0;
                }
                let sum: f64 = row.iter().sum();
                row.iter().map(|r| r / sum).collect()
            })
            .collect();
        let mut probs = vec![0.0; n_choices];
        for (w, row) in weights.iter().zip(&rows) {
            for (p, r) in probs.iter_mut().zip(row) {
                *p += w * r;
            }
        }
        Categorical { rows, weights, probs }
    }

    pub fn sample(&self, rng: &mut impl Rng) -> usize {
        pick(&self.probs, rng)
    }

    pub fn log_pdf(&self, i: usize) -> f64 {
        self.probs[i].ln()
    }

    /// A draw from kernel `k` alone.
    pub fn sample_kernel(&self, k: usize, rng: &mut impl Rng) -> usize {
        pick(&self.rows[k], rng)
    }

    /// Kernel `k`'s log probability of choice `i`, unweighted.
    pub fn log_kernel(&self, k: usize, i: usize) -> f64 {
        self.rows[k][i].ln()
    }
}

/// An index drawn with probability proportional to `weights`.
pub fn pick(weights: &[f64], rng: &mut impl Rng) -> usize {
    let total: f64 = weights.iter().sum();
    let mut u = rng.gen::<f64>() * total;
    for (i, w) in weights.iter().enumerate() {
        if u < *w {
            return i;
        }
        u -= w;
    }
    weights.len() - 1
}

/// The standard normal CDF.
fn phi(z: f64) -> f64 {
    0.5 * (1.0 + erf(z / std::f64::consts::SQRT_2))
}

fn phi_inv(p: f64) -> f64 {
    std::f64::consts::SQRT_2 * erf_inv(2.0 * p - 1.0)
}

pub fn log_sum_exp(xs: &[f64]) -> f64 {
    let m = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !m.is_finite() {
        return m;
    }
    m + xs.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn bandwidths_and_weights_match_optunas_rule_on_a_tiny_case() {
        // Observations 0.2 and 0.5 on [0, 1]: neighbour distances 0.2 / 0.3 and 0.3 / 0.5,
        // but the extreme kernels use their inner neighbour only: 0.3 and 0.3. Three
        // kernels with the prior: magic clip [1 / min(100, 4), 1] = [0.25, 1]. Prior at 0.5
        // with the range's width, weights equal.
        let e = Numeric::new(&[0.2, 0.5], 0.0, 1.0, None);
        assert_eq!(e.mus, vec![0.2, 0.5, 0.5]);
        for (got, want) in e.sigmas.iter().zip([0.3, 0.3, 1.0]) {
            assert!((got - want).abs() < 1e-12, "{:?}", e.sigmas);
        }
        assert!(e.weights.iter().all(|w| (w - 1.0 / 3.0).abs() < 1e-12));
        // One observation at 0.9: bandwidth max(0.9, 0.1) = 0.9; the clip is [1/3, 1].
        let e = Numeric::new(&[0.9], 0.0, 1.0, None);
        assert!((e.sigmas[0] - 0.9).abs() < 1e-12);
        // Observations close together are clipped up to the minimum bandwidth.
        let e = Numeric::new(&[0.5, 0.51, 0.52], 0.0, 1.0, None);
        assert!(e.sigmas[..3].iter().all(|s| (s - 0.2).abs() < 1e-12), "{:?}", e.sigmas);
        // Integers: the range widens by half a step each side.
        let e = Numeric::new(&[3.0], 1.0, 5.0, Some(1.0));
        assert!((e.sigmas[0] - 2.5).abs() < 1e-12 && (e.sigmas[1] - 5.0).abs() < 1e-12);
    }

    /// Log-spaced integers as Optuna's `IntDistribution(log=True)`: support and prior on
    /// `[ln 0.5, ln 20.5]`, bandwidths from those ends, bin masses that add up to one, draws
    /// on the integers.
    #[test]
    fn log_integers_are_bins_in_log_space() {
        let e = Numeric::log_int(&[2f64.ln(), 8f64.ln()], 1.0, 20.0);
        let (a, b) = (0.5f64.ln(), 20.5f64.ln());
        assert!((e.mus[2] - 0.5 * (a + b)).abs() < 1e-12 && (e.sigmas[2] - (b - a)).abs() < 1e-12);
        // The extreme kernels use their inner neighbour: both ln 8 - ln 2.
        let d = 8f64.ln() - 2f64.ln();
        assert!((e.sigmas[0] - d).abs() < 1e-12 && (e.sigmas[1] - d).abs() < 1e-12, "{:?}", e.sigmas);
        let mass: f64 = (1..=20).map(|x| e.log_pdf((x as f64).ln()).exp()).sum();
        assert!((mass - 1.0).abs() < 1e-9, "{mass}");
        // 1's bin [ln 0.5, ln 1.5] is wider in log space than 19's, so it weighs more under
        // the flat prior alone.
        let prior = Numeric::log_int(&[], 1.0, 20.0);
        assert!(prior.log_pdf(0.0) > prior.log_pdf(19f64.ln()));
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(2);
        for _ in 0..500 {
            let v = e.sample(&mut rng).exp();
            assert!((1.0..=20.0).contains(&v.round()) && (v - v.round()).abs() < 1e-9, "{v}");
        }
    }

    #[test]
    fn default_weights_ramp_the_oldest_beyond_25() {
        assert_eq!(default_weights(3), vec![1.0; 3]);
        let w = default_weights(30);
        assert_eq!(w.len(), 30);
        assert!((w[0] - 1.0 / 30.0).abs() < 1e-12 && (w[4] - 1.0).abs() < 1e-12 && w[5..].iter().all(|&x| x == 1.0));
    }

    #[test]
    fn categorical_counts_are_smoothed() {
        // Two observations of choice 0 of 3; kernels 3, smoothing 1/3 per choice:
        // rows [4/3, 1/3, 1/3] / 2 twice and [1/3, 1/3, 1/3] / 1, each weighted 1/3.
        let c = Categorical::new(&[0, 0], 3);
        let want = [(2.0 * (2.0 / 3.0) + 1.0 / 3.0) / 3.0, (2.0 / 6.0 + 1.0 / 3.0) / 3.0, (2.0 / 6.0 + 1.0 / 3.0) / 3.0];
        for (g, w) in c.probs.iter().zip(want) {
            assert!((g - w).abs() < 1e-12, "{:?}", c.probs);
        }
        assert!((c.probs.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn density_integrates_to_one_and_samples_stay_in_range() {
        let e = Numeric::new(&[0.2, 0.25, 0.9], 0.0, 1.0, None);
        let n = 20000;
        let integral: f64 = (0..n).map(|i| e.log_pdf((i as f64 + 0.5) / n as f64).exp() / n as f64).sum();
        assert!((integral - 1.0).abs() < 1e-3, "{integral}");
        let d = Numeric::new(&[2.0, 3.0], 1.0, 6.0, Some(1.0));
        let mass: f64 = (1..=6).map(|x| d.log_pdf(x as f64).exp()).sum();
        assert!((mass - 1.0).abs() < 1e-9, "{mass}");
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(1);
        for _ in 0..1000 {
            let x = e.sample(&mut rng);
            assert!((0.0..=1.0).contains(&x));
            let y = d.sample(&mut rng);
            assert!((1.0..=6.0).contains(&y) && y.fract() == 0.0);
        }
    }
}
