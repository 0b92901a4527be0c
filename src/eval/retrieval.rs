//! `task = "retrieval"` (the default): rank items for every user with a test item through the
//! run's index, then the ranking metrics ([`crate::metrics`]) at each cut-off, the single-
//! query latency, and, for an approximate index, the same metrics through exact search on
//! the same queries and the share of the exact top-K the index returns (`ANNRecall@K`).

use super::{is_graph, EvalInput, Mismatch, PerUser, Task, TaskResult};
use crate::index::flat::FlatIndex;
use crate::index::AnnIndex;
use crate::linalg::Matrix;
use crate::metrics::{self, MetricName};
use anyhow::{anyhow, Result};
use std::collections::BTreeMap;
use std::time::Instant;

pub struct Retrieval;

/// Users ranked per block (see `evaluate`).
const BLOCK: usize = 8192;

/// The row of a model that embeds items by id only, on a split whose test items it never saw.
pub const UNSEEN: &str = "cannot score unseen items: the model embeds an item from its training interactions, and the test items have none; use a model that reads item content (dssm, or two_tower with item `text` or `features`)";

impl Task for Retrieval {
    fn name(&self) -> &'static str {
        "retrieval"
    }

    fn about(&self) -> &'static str {
        "ranking metrics of every test user's top-K through the index (the default)"
    }

    fn check(&self, dataset_kind: &str, split_kind: &str) -> Result<(), Mismatch> {
        super::needs_interactions(self.name(), dataset_kind)?;
        if split_kind == "none" {
            return Err(Mismatch {
                key: "split.kind",
                message: "split kind `none` holds nothing out, so retrieval has nothing to score".into(),
                hint: "use it with [metrics] task = \"node_classification\"".into(),
            });
        }
        if split_kind == "edge_holdout" && !is_graph(dataset_kind) {
            return Err(Mismatch {
                key: "split.kind",
                message: format!("split kind `edge_holdout` holds out edges of a graph, but dataset kind `{dataset_kind}` is not a graph"),
                hint: "use [dataset] kind = \"edges\", or a split for interactions (leave_last_out, temporal, random)".into(),
            });
        }
        Ok(())
    }

    fn uses_index(&self) -> bool {
        true
    }

    fn evaluate(&self, input: &EvalInput) -> Result<TaskResult> {
        let index = input.index.ok_or_else(|| anyhow!("internal: retrieval needs the run's index"))?;
        let (split, trained, cfg) = (input.split, input.trained, input.metrics);
        if split.candidates.is_some() && !input.scores_unseen_items {
            return Ok(TaskResult { unsupported: Some(UNSEEN.into()), ..Default::default() });
        }
        let test = split.by_user(&split.test);
        let mut seen = if cfg.exclude_seen { split.seen_sorted() } else { vec![Vec::new(); split.n_users] };
        // A split that ranks only some items (cold start): exact search over those items'
        // vectors, in their own numbering. (Excluding every other item instead would list
        // users x items ids.)
        let sub;
        let (index, index_exact) = match &split.candidates {
            Some(c) => {
                let mut m = Matrix::zeros(c.len(), trained.items.cols);
                for (r, &i) in c.iter().enumerate() {
                    m.row_mut(r).copy_from_slice(trained.items.row(i as usize));
                }
                sub = FlatIndex::build(&m, index.metric())?;
                for s in seen.iter_mut() {
                    *s = s.iter().filter_map(|i| c.binary_search(i).ok().map(|k| k as u32)).collect();
                }
                (&sub as &dyn AnnIndex, true)
            }
            None => (index, input.index_exact),
        };
        // Items the model never trained (all-zero vectors) are left out of every answer, as
        // `recommend` leaves them out; a cold-start split ranks its candidates by design.
        let untrained = if split.candidates.is_none() { crate::index::common::untrained_rows(&trained.items) } else { Vec::new() };
        let excluded = |u: u32| -> std::borrow::Cow<[u32]> {
            let s = &seen[u as usize];
            if untrained.is_empty() {
                std::borrow::Cow::Borrowed(s.as_slice())
            } else {
                std::borrow::Cow::Owned(crate::index::common::merged(s, &untrained))
            }
        };
        let users: Vec<u32> = (0..split.n_users as u32).filter(|&u| !test[u as usize].is_empty()).collect();
        if users.is_empty() {
            anyhow::bail!("no user has a test item");
        }
        let kmax = *cfg.k.iter().max().expect("validated non-empty");
        let global = |id: u32| split.candidates.as_ref().map_or(id, |c| c[id as usize]);
        let mut item_users = split.train_item_counts();
        item_users.resize(split.n_items, 0);
        let stats = metrics::ItemStats::new(&item_users, split.n_users);
        let info = &stats.self_info;
        // Approximate indexes are also scored against exact search on the same queries, so a
        // table shows what the approximation costs in recall and in recommendation quality.
        let exact = if index_exact { None } else { Some(FlatIndex::build(&trained.items, index.metric())?) };

        // Users go through in blocks, and only per-user scores outlive a block: holding every
        // user's rankings (and the exact ones) at once took most of this stage's memory at
        // 500k users. `BLOCK` is a multiple of any kernel's query tile, so each query is
        // scored exactly as in one batch of all users.
        let mut columns: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        let mut n_relevant = Vec::with_capacity(users.len());
        let lists = cfg.metrics.iter().any(|m| matches!(m, MetricName::Coverage | MetricName::Gini));
        let mut top_counts: Vec<Vec<u64>> = if lists { cfg.k.iter().map(|_| vec![0u64; split.n_items]).collect() } else { Vec::new() };
        let exact_metrics: Vec<MetricName> = [MetricName::Recall, MetricName::Ndcg].into_iter().filter(|m| cfg.metrics.contains(m)).collect();
        let mut exact_sums = vec![vec![0.0f64; exact_metrics.len()]; cfg.k.len()];
        let (mut overlap, mut batch_secs) = (vec![0.0f64; cfg.k.len()], 0.0);
        for block in users.chunks(BLOCK) {
            let mut queries = Matrix::zeros(block.len(), trained.users.cols);
            for (r, &u) in block.iter().enumerate() {
                queries.row_mut(r).copy_from_slice(trained.users.row(u as usize));
            }
            let block_excludes: Vec<std::borrow::Cow<[u32]>> = block.iter().map(|&u| excluded(u)).collect();
            let excludes: Vec<&[u32]> = block_excludes.iter().map(|e| e.as_ref()).collect();
            let t = Instant::now();
            let results = index.search_batch(&queries, kmax, &excludes)?;
            batch_secs += t.elapsed().as_secs_f64();
            let ranked: Vec<Vec<u32>> = results.iter().map(|hits| hits.iter().map(|h| global(h.id)).collect()).collect();
            drop(results);
            let relevant: Vec<Vec<u32>> = block
                .iter()
                .map(|&u| {
                    let mut v = test[u as usize].clone();
                    v.sort_unstable();
                    v.dedup();
                    v
                })
                .collect();
            n_relevant.extend(relevant.iter().map(|r| r.len() as u32));
            for (ki, &k) in cfg.k.iter().enumerate() {
                if lists {
                    for r in &ranked {
                        for &i in r.iter().take(k) {
                            if let Some(c) = top_counts[ki].get_mut(i as usize) {
                                *c += 1;
                            }
                        }
                    }
                }
                let scores: Vec<metrics::UserScores> = ranked.iter().zip(&relevant).map(|(r, rel)| metrics::score_user_with(r, rel, k, info, &stats)).collect();
                for &m in &cfg.metrics {
                    let vals: Vec<f64> = match m {
                        // Counted above, from the lists; they have no per-user value.
                        MetricName::Coverage | MetricName::Gini => continue,
                        // Cosines of item-item matrix columns: no embedding's diversity.
                        MetricName::Ild if input.no_geometry => continue,
                        MetricName::Ild => ranked.iter().map(|r| metrics::intra_list_diversity(&r[..r.len().min(k)], &trained.items)).collect(),
                        _ => scores.iter().map(|s| s.get(m).unwrap_or(0.0)).collect(),
                    };
                    columns.entry(metrics::column(m, k)).or_default().extend(vals);
                }
            }
            if let Some(exact) = &exact {
                let exact_ranked: Vec<Vec<u32>> = exact.search_batch(&queries, kmax, &excludes)?.iter().map(|h| h.iter().map(|x| x.id).collect()).collect();
                // ANN recall at every cut-off: the share of the exact top K among the index's top K.
                for (a, e) in ranked.iter().zip(&exact_ranked) {
                    for (ki, &k) in cfg.k.iter().enumerate() {
                        let mut e_sorted = e[..e.len().min(k)].to_vec();
                        e_sorted.sort_unstable();
                        let found = a.iter().take(k).filter(|i| e_sorted.binary_search(i).is_ok()).count();
                        overlap[ki] += if e_sorted.is_empty() { 1.0 } else { found as f64 / e_sorted.len() as f64 };
                    }
                }
                for (ki, &k) in cfg.k.iter().enumerate() {
                    for (r, rel) in exact_ranked.iter().zip(&relevant) {
                        let s = metrics::score_user(r, rel, k, info);
                        for (mi, &m) in exact_metrics.iter().enumerate() {
                            exact_sums[ki][mi] += s.get(m).unwrap_or(0.0);
                        }
                    }
                }
            }
        }

        let n_lat = cfg.latency_queries.min(users.len());
        let step = (users.len() / n_lat.max(1)).max(1);
        let single: Vec<f64> = (0..n_lat)
            .map(|i| {
                let u = users[(i * step).min(users.len() - 1)];
                let ex = excluded(u);
                let t = Instant::now();
                std::hint::black_box(index.search(trained.users.row(u as usize), kmax, &ex)?);
                Ok(t.elapsed().as_secs_f64())
            })
            .collect::<Result<_>>()?;
        let latency = metrics::latency::stats(single, users.len(), batch_secs);

        let mut means = BTreeMap::new();
        for (ki, &k) in cfg.k.iter().enumerate() {
            for &m in &cfg.metrics {
                let col = metrics::column(m, k);
                match m {
                    MetricName::Coverage => {
                        means.insert(col, metrics::coverage_of_counts(&top_counts[ki]));
                    }
                    MetricName::Gini => {
                        means.insert(col, metrics::gini_of_counts(top_counts[ki].clone()));
                    }
                    // ILD of a model that scores items: left out above.
                    MetricName::Ild if input.no_geometry => {}
                    _ => {
                        let vals = &columns[&col];
                        means.insert(col, vals.iter().sum::<f64>() / vals.len() as f64);
                    }
                }
            }
            if exact.is_some() {
                for (mi, &m) in exact_metrics.iter().enumerate() {
                    means.insert(format!("exact {}", metrics::column(m, k)), exact_sums[ki][mi] / users.len() as f64);
                }
            }
        }
        if exact.is_some() {
            for (ki, &k) in cfg.k.iter().enumerate() {
                means.insert(format!("ANNRecall@{k}"), overlap[ki] / users.len() as f64);
            }
        }
        if let Some(sc) = &cfg.sampled {
            means.extend(super::sampled::evaluate(split, trained, index.metric(), sc, &cfg.k, &users, &test, cfg.exclude_seen.then_some(&seen[..]))?);
        }
        let per_user = PerUser { users: users.iter().map(|&u| input.dataset.users.raw(u).to_string()).collect(), n_relevant, columns };
        Ok(TaskResult { users: users.len(), metrics: means, latency: Some(latency), per_user: Some(per_user), ..Default::default() })
    }
}
