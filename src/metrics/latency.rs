//! Query latency percentiles and throughput.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct LatencyStats {
    pub queries: usize,
    pub p50_us: f64,
    pub p95_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
    /// Single-threaded queries per second (one query at a time).
    pub qps_single: f64,
    /// Queries per second of the batched, all-threads search.
    pub qps_batch: f64,
    /// Measured while other stages of the run computed beside it (`--jobs` > 1): the
    /// numbers share the CPU and the report marks them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub contended: bool,
}

/// Nearest-rank percentile of sorted samples.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Stats from per-query single-threaded timings (seconds) and a batch's total time.
pub fn stats(mut single_secs: Vec<f64>, batch_queries: usize, batch_secs: f64) -> LatencyStats {
    single_secs.sort_by(|a, b| a.total_cmp(b));
    let us: Vec<f64> = single_secs.iter().map(|s| s * 1e6).collect();
    let total: f64 = single_secs.iter().sum();
    LatencyStats {
        queries: us.len(),
        p50_us: percentile(&us, 50.0),
        p95_us: percentile(&us, 95.0),
        p99_us: percentile(&us, 99.0),
        max_us: us.last().copied().unwrap_or(0.0),
        qps_single: if total > 0.0 { us.len() as f64 / total } else { 0.0 },
        qps_batch: if batch_secs > 0.0 { batch_queries as f64 / batch_secs } else { 0.0 },
        contended: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(|x| x as f64).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        let s = stats(vec![0.002, 0.001, 0.003, 0.004], 100, 0.5);
        assert_eq!(s.p50_us.round(), 2000.0);
        assert_eq!(s.max_us.round(), 4000.0);
        assert!((s.qps_single - 400.0).abs() < 1e-6);
        assert!((s.qps_batch - 200.0).abs() < 1e-9);
    }
}
