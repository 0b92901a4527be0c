//! The service's counters in Prometheus' text format (`GET /metrics`): requests by route and
//! status, a latency histogram per route, reloads, requests in flight, the index's size.
//! Written here rather than through the `prometheus` crate: a dozen lines of formatting
//! against a registry, global state and protobuf support the service does not need.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Upper bounds of the latency buckets, in seconds (the last bucket is `+Inf`).
const BUCKETS: [f64; 13] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len() + 1],
    sum: f64,
}

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
    pub reloads: AtomicU64,
    pub reload_failures: AtomicU64,
}

impl Metrics {
    pub fn record(&self, route: &str, status: u16, seconds: f64) {
        *self.requests.lock().unwrap_or_else(|e| e.into_inner()).entry((route.to_string(), status)).or_default() += 1;
        let mut lat = self.latency.lock().unwrap_or_else(|e| e.into_inner());
        let h = lat.entry(route.to_string()).or_default();
        let b = BUCKETS.iter().position(|&le| seconds <= le).unwrap_or(BUCKETS.len());
        h.counts[b] += 1;
        h.sum += seconds;
    }

    /// Requests answered with `status` on any route.
    pub fn count(&self, status: u16) -> u64 {
        self.requests.lock().unwrap_or_else(|e| e.into_inner()).iter().filter(|((_, s), _)| *s == status).map(|(_, n)| n).sum()
    }

    /// The text exposition; `gauges` are `(name, help, value)`.
    pub fn render(&self, gauges: &[(&str, &str, f64)]) -> String {
        let mut out = String::new();
        out.push_str("# HELP runner_requests_total Requests answered, by route and status.\n# TYPE runner_requests_total counter\n");
        for ((route, status), n) in self.requests.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = writeln!(out, "runner_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}");
        }
        out.push_str("# HELP runner_request_seconds Time from request to response, by route.\n# TYPE runner_request_seconds histogram\n");
        for (route, h) in self.latency.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let mut cum = 0;
            for (k, n) in h.counts.iter().enumerate() {
                cum += n;
                let le = BUCKETS.get(k).map_or("+Inf".to_string(), |b| b.to_string());
                let _ = writeln!(out, "runner_request_seconds_bucket{{route=\"{route}\",le=\"{le}\"}} {cum}");
            }
            let _ = writeln!(out, "runner_request_seconds_sum{{route=\"{route}\"}} {}", h.sum);
            let _ = writeln!(out, "runner_request_seconds_count{{route=\"{route}\"}} {cum}");
        }
        for (name, help, v) in [
            ("runner_reloads_total", "Models swapped in since start.", self.reloads.load(Ordering::Relaxed) as f64),
            ("runner_reload_failures_total", "Reloads that failed (the old model kept serving).", self.reload_failures.load(Ordering::Relaxed) as f64),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
        }
        for (name, help, v) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_counts_add_up() {
        let m = Metrics::default();
        for s in [0.00005, 0.0003, 0.0003, 2.0] {
            m.record("/recommend", 200, s);
        }
        m.record("/recommend", 404, 0.001);
        let text = m.render(&[("runner_index_items", "Items in the index.", 40.0)]);
        assert!(text.contains("runner_requests_total{route=\"/recommend\",status=\"200\"} 4"), "{text}");
        assert!(text.contains("runner_requests_total{route=\"/recommend\",status=\"404\"} 1"));
        assert!(text.contains("runner_request_seconds_bucket{route=\"/recommend\",le=\"0.0001\"} 1"));
        assert!(text.contains("runner_request_seconds_bucket{route=\"/recommend\",le=\"0.0005\"} 3"));
        assert!(text.contains("runner_request_seconds_bucket{route=\"/recommend\",le=\"1\"} 4"));
        assert!(text.contains("runner_request_seconds_bucket{route=\"/recommend\",le=\"+Inf\"} 5"));
        assert!(text.contains("runner_request_seconds_count{route=\"/recommend\"} 5"));
        assert!(text.contains("runner_index_items 40"));
        assert_eq!((m.count(200), m.count(404), m.count(500)), (4, 1, 0));
    }
}
