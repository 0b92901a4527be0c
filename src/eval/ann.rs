//! `task = "ann"` (the default for `[dataset] kind = "vectors"`): what ann-benchmarks
//! measures. Every query of the dataset is searched through the run's index, and
//! `ANNRecall@K` is the share of its K true neighbours (the dataset's ground truth) among
//! the K returned, counted as ann-benchmarks counts: a returned vector is a hit when it is at
//! least as near as the farthest of the K true neighbours (within float rounding), so a tie
//! at the boundary is not a miss. Also queries/s one at a time (`latency_queries` queries
//! spread over the set) and batched on all threads (every query), and the single-query
//! latency percentiles; the index's build time and size come from the index stage.
//!
//! There are no recommendation metrics (Recall, NDCG of held-out items): a vectors dataset
//! has no users, so the table shows none rather than zeros.

use super::{EvalInput, Mismatch, PerUser, Task, TaskResult};
use crate::data::vectors::{as_near, is_vectors, score};
use crate::metrics;
use anyhow::{anyhow, bail, Result};
use std::collections::BTreeMap;
use std::time::Instant;

pub struct Ann;

impl Task for Ann {
    fn name(&self) -> &'static str {
        "ann"
    }

    fn about(&self) -> &'static str {
        "each query of a vectors dataset through the index against its true neighbours: ANNRecall@K, queries/s, latency (the default for kind = \"vectors\")"
    }

    fn check(&self, dataset_kind: &str, split_kind: &str) -> Result<(), Mismatch> {
        if !is_vectors(dataset_kind) {
            return Err(Mismatch {
                key: "metrics.task",
                message: format!("task `ann` scores an index against a vectors dataset's true neighbours, but dataset kind `{dataset_kind}` has none"),
                hint: "use [dataset] kind = \"vectors\" (base, query and ground-truth files), or task = \"retrieval\", which scores an approximate index against exact search".into(),
            });
        }
        if split_kind != "none" {
            return Err(Mismatch {
                key: "split.kind",
                message: format!("a vectors dataset brings its own queries, so it is not split (split kind `{split_kind}`)"),
                hint: "leave [split] out".into(),
            });
        }
        Ok(())
    }

    fn uses_index(&self) -> bool {
        true
    }

    fn evaluate(&self, input: &EvalInput) -> Result<TaskResult> {
        let index = input.index.ok_or_else(|| anyhow!("internal: the ann task needs the run's index"))?;
        let v = input.dataset.vectors.as_deref().ok_or_else(|| anyhow!("task `ann` needs a vectors dataset"))?;
        if index.metric() != v.metric {
            bail!(
                "the index searches by {:?} but the dataset's true neighbours are by {:?}; leave [index] metric out (the dataset's metric applies) or set [dataset] metric",
                index.metric(),
                v.metric
            );
        }
        let cfg = input.metrics;
        let kmax = *cfg.k.iter().max().expect("validated non-empty");
        if kmax > v.k {
            bail!(
                "[metrics] k = {:?} asks for {kmax} neighbours per query, but the ground truth holds {}; lower k{}",
                cfg.k,
                v.k,
                if v.from_file { "" } else { ", or raise [dataset] ground_truth_k" }
            );
        }
        let (base, queries, nq) = (&v.base, &v.queries, v.queries.rows);

        let t = Instant::now();
        let results = index.search_batch(queries, kmax, &[])?;
        let batch_secs = t.elapsed().as_secs_f64();
        let n_lat = cfg.latency_queries.clamp(1, nq);
        let single: Vec<f64> = (0..n_lat)
            .map(|i| {
                let q = i * nq / n_lat;
                let t = Instant::now();
                std::hint::black_box(index.search(queries.row(q), kmax, &[])?);
                Ok(t.elapsed().as_secs_f64())
            })
            .collect::<Result<_>>()?;
        let latency = metrics::latency::stats(single, nq, batch_secs);

        let mut means = BTreeMap::new();
        let mut columns = BTreeMap::new();
        for &k in &cfg.k {
            let recall: Vec<f64> = (0..nq)
                .map(|q| {
                    let qv = queries.row(q);
                    let mut truth = v.neighbors_of(q)[..k].to_vec();
                    // The farthest of the K true neighbours (files list them nearest first, but
                    // within rounding; the minimum does not depend on it).
                    let farthest = truth.iter().map(|&id| score(v.metric, qv, base.row(id as usize))).fold(f32::INFINITY, f32::min);
                    truth.sort_unstable();
                    let hits = results[q]
                        .iter()
                        .take(k)
                        .filter(|h| truth.binary_search(&h.id).is_ok() || as_near(score(v.metric, qv, base.row(h.id as usize)), farthest))
                        .count();
                    hits as f64 / k as f64
                })
                .collect();
            let col = format!("ANNRecall@{k}");
            means.insert(col.clone(), recall.iter().sum::<f64>() / nq as f64);
            columns.insert(col, recall);
        }
        let per_user = PerUser { users: (0..nq).map(|q| q.to_string()).collect(), n_relevant: vec![kmax as u32; nq], columns };
        Ok(TaskResult { users: nq, metrics: means, latency: Some(latency), per_user: Some(per_user), ..Default::default() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::vectors::VectorSet;
    use crate::data::{Dataset, IdMap, Split};
    use crate::eval::MetricsSection;
    use crate::index::flat::FlatIndex;
    use crate::index::{AnnIndex, Hit, Metric};
    use crate::linalg::Matrix;
    use crate::models::Trained;
    use std::sync::Arc;

    /// An index that returns fixed lists, to score against the ground truth.
    struct Fixed(Vec<Vec<u32>>, Metric);
    impl AnnIndex for Fixed {
        fn len(&self) -> usize {
            5
        }
        fn dim(&self) -> usize {
            1
        }
        fn metric(&self) -> Metric {
            self.1
        }
        fn search(&self, q: &[f32], k: usize, _: &[u32]) -> Result<Vec<Hit>> {
            let row = if q[0] < 2.0 { 0 } else { 1 };
            Ok(self.0[row].iter().take(k).map(|&id| Hit { id, score: 0.0 }).collect())
        }
        fn memory_bytes(&self) -> usize {
            0
        }
        fn save(&self, _: &std::path::Path) -> Result<()> {
            Ok(())
        }
    }

    /// Base vectors 0, 1, 2, 3, 3 on a line (4 ties with 3); queries at 0 and 3.
    fn dataset() -> Dataset {
        let base = Matrix::from_vec(5, 1, vec![0.0, 1.0, 2.0, 3.0, 3.0]).unwrap();
        let queries = Matrix::from_vec(2, 1, vec![0.0, 3.0]).unwrap();
        let set = VectorSet { base, queries, neighbors: vec![0, 1, 3, 4], k: 2, metric: Metric::L2, from_file: true };
        Dataset { users: IdMap::numbered(2), items: IdMap::numbered(5), vectors: Some(Arc::new(set)), ..Default::default() }
    }

    fn run(ds: &Dataset, index: &dyn AnnIndex, k: Vec<usize>) -> Result<TaskResult> {
        let metrics = MetricsSection { k, latency_queries: 2, ..Default::default() };
        let split = Split { n_users: 2, n_items: 5, ..Default::default() };
        let trained = Trained::default();
        let input = EvalInput {
            dataset: ds,
            split: &split,
            trained: &trained,
            index: Some(index),
            index_exact: false,
            metrics: &metrics,
            split_params: &serde_json::Value::Null,
            seed: 1,
            target: crate::eval::EvalTarget::Test,
            scores_unseen_items: false,
            no_geometry: false,
        };
        Ann.evaluate(&input)
    }

    #[test]
    fn recall_counts_true_neighbours_and_ties_at_the_boundary() {
        let ds = dataset();
        // Query 0 gets its neighbour 1 and a miss (2); query 1 gets 4 and 3 in another order.
        let r = run(&ds, &Fixed(vec![vec![1, 2], vec![4, 3]], Metric::L2), vec![1, 2]).unwrap();
        assert_eq!(r.metrics["ANNRecall@2"], 0.75);
        // At K = 1 query 0 returned 1, not 0 (a miss); query 1 returned 4, tied with its
        // first true neighbour 3 (both at distance 0): a hit.
        assert_eq!(r.metrics["ANNRecall@1"], 0.5);
        assert_eq!(r.per_user.as_ref().unwrap().columns["ANNRecall@2"], vec![0.5, 1.0]);
        assert_eq!(r.users, 2);
        assert!(r.metrics.keys().all(|c| c.starts_with("ANNRecall@")), "no recommendation metrics: {:?}", r.metrics);
        // Exact search finds every true neighbour.
        let v = ds.vectors.as_ref().unwrap();
        let flat = FlatIndex::build(&v.base, Metric::L2).unwrap();
        let r = run(&ds, &flat, vec![1, 2]).unwrap();
        assert_eq!((r.metrics["ANNRecall@1"], r.metrics["ANNRecall@2"]), (1.0, 1.0));
        assert!(r.latency.unwrap().qps_single > 0.0);
    }

    #[test]
    fn too_deep_k_and_another_metric_are_errors() {
        let ds = dataset();
        let e = run(&ds, &Fixed(vec![vec![1, 2], vec![4, 3]], Metric::L2), vec![10]).err().unwrap().to_string();
        assert!(e.contains("k = [10] asks for 10 neighbours per query, but the ground truth holds 2"), "{e}");
        let e = run(&ds, &Fixed(vec![vec![1, 2], vec![4, 3]], Metric::Cos), vec![1]).err().unwrap().to_string();
        assert!(e.contains("searches by Cos") && e.contains("true neighbours are by L2"), "{e}");
        assert!(Ann.check("movielens", "leave_last_out").unwrap_err().message.contains("dataset kind `movielens` has none"));
        assert_eq!(Ann.check("vectors", "random").unwrap_err().key, "split.kind");
        assert!(Ann.check("vectors", "none").is_ok());
    }
}
