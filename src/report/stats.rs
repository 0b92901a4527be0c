//! Paired significance tests of per-user metric values (a run against the baseline on the
//! same users): the paired t-test and the Wilcoxon signed-rank test, both two-sided, and
//! Holm's step-down correction over a family of comparisons. These are the tests RecBole and
//! Elliot users run by hand with scipy (`ttest_rel`, `wilcoxon`) on per-user results.

use statrs::distribution::{ContinuousCDF, Normal, StudentsT};

/// Two-sided p-value of the paired t-test on the differences `d` (H0: mean 0). All-equal
/// differences give 1 when they are zero and 0 otherwise (no variance to test against).
pub fn paired_t(d: &[f64]) -> f64 {
    let n = d.len();
    if n < 2 {
        return 1.0;
    }
    let mean = d.iter().sum::<f64>() / n as f64;
    let var = d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    if var <= 0.0 {
        return if mean == 0.0 { 1.0 } else { 0.0 };
    }
    let t = mean / (var / n as f64).sqrt();
    let dist = StudentsT::new(0.0, 1.0, (n - 1) as f64).expect("n >= 2 gives positive degrees of freedom");
    (2.0 * (1.0 - dist.cdf(t.abs()))).clamp(0.0, 1.0)
}

/// Two-sided p-value of the Wilcoxon signed-rank test on the differences `d`: zero
/// differences dropped, tied magnitudes given their average rank, and the normal
/// approximation of the smaller rank sum with the tie-corrected variance (scipy's
/// `wilcoxon(method="approx")`; with the hundreds of users a table compares, the exact
/// distribution differs from it only in digits no table shows).
pub fn wilcoxon(d: &[f64]) -> f64 {
    let mut nz: Vec<f64> = d.iter().copied().filter(|x| *x != 0.0).collect();
    let n = nz.len();
    if n == 0 {
        return 1.0;
    }
    nz.sort_by(|a, b| a.abs().total_cmp(&b.abs()));
    let (mut w_plus, mut w_minus, mut tie_term) = (0.0, 0.0, 0.0);
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && nz[j + 1].abs() == nz[i].abs() {
            j += 1;
        }
        let rank = (i + j + 2) as f64 / 2.0;
        let t = (j - i + 1) as f64;
        tie_term += t * t * t - t;
        for x in &nz[i..=j] {
            if *x > 0.0 {
                w_plus += rank;
            } else {
                w_minus += rank;
            }
        }
        i = j + 1;
    }
    let nf = n as f64;
    let mean = nf * (nf + 1.0) / 4.0;
    let var = nf * (nf + 1.0) * (2.0 * nf + 1.0) / 24.0 - tie_term / 48.0;
    if var <= 0.0 {
        return 1.0;
    }
    let z = (f64::min(w_plus, w_minus) - mean) / var.sqrt();
    let normal = Normal::new(0.0, 1.0).expect("standard normal");
    (2.0 * normal.cdf(-z.abs())).clamp(0.0, 1.0)
}

/// Holm-adjusted p-values, in the input's order: the i-th smallest p times (m - i), made
/// monotone, capped at 1.
pub fn holm(ps: &[f64]) -> Vec<f64> {
    let m = ps.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| ps[a].total_cmp(&ps[b]));
    let mut out = vec![0.0; m];
    let mut running: f64 = 0.0;
    for (i, &k) in order.iter().enumerate() {
        running = running.max((ps[k] * (m - i) as f64).min(1.0));
        out[k] = running;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paired_t_matches_hand_computed_value() {
        // d = 1..5: mean 3, sd sqrt(2.5), t = 3 / (sqrt(2.5) / sqrt(5)) = 4.2426, df 4:
        // scipy.stats.ttest_1samp([1, 2, 3, 4, 5], 0).pvalue = 0.013236.
        let p = paired_t(&[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert!((p - 0.013236).abs() < 1e-5, "{p}");
        assert!((paired_t(&[1.0, -1.0, 2.0, -2.0]) - 1.0).abs() < 1e-12);
        assert_eq!(paired_t(&[0.0, 0.0, 0.0]), 1.0);
        assert_eq!(paired_t(&[0.5, 0.5, 0.5]), 0.0);
    }

    #[test]
    fn wilcoxon_matches_hand_computed_values() {
        // d = 1..5: W- = 0, mean 7.5, var 13.75, z = -2.0226, p = 0.043115.
        let p = wilcoxon(&[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert!((p - 0.043115).abs() < 1e-5, "{p}");
        // Ties and zeros: d = [0, 1, -1, 2, 2, 2]: zeros dropped (n = 5); |d| ranks 1.5, 1.5,
        // 4, 4, 4; W- = 1.5, W+ = 13.5; ties (2 and 3) give tie_term 6 + 24 = 30;
        // var = 5*6*11/24 - 30/48 = 13.125; z = (1.5 - 7.5) / sqrt(13.125) = -1.6562.
        let p = wilcoxon(&[0.0, 1.0, -1.0, 2.0, 2.0, 2.0]);
        let z: f64 = -6.0 / 13.125f64.sqrt();
        let want = 2.0 * Normal::new(0.0, 1.0).unwrap().cdf(z);
        assert!((p - want).abs() < 1e-12 && (want - 0.0977).abs() < 1e-3, "{p} vs {want}");
        assert_eq!(wilcoxon(&[0.0, 0.0]), 1.0);
    }

    #[test]
    fn holm_orders_scales_and_keeps_monotone() {
        let adj = holm(&[0.01, 0.04, 0.03]);
        // Sorted 0.01, 0.03, 0.04 -> 0.03, 0.06, max(0.06, 0.04) = 0.06.
        for (a, b) in adj.iter().zip([0.03, 0.06, 0.06]) {
            assert!((a - b).abs() < 1e-12, "{adj:?}");
        }
        assert_eq!(holm(&[0.9, 0.8]), vec![1.0, 1.0]);
        assert!(holm(&[]).is_empty());
    }
}
