//! Contract tests run against every registered index kind.

use super::*;
use crate::linalg::Matrix;
use rand::Rng;
use serde_json::json;

/// Clustered Gaussian data: `clusters` centres ~ N(0, 1), points = centre + N(0, 0.3^2).
pub fn clustered(n: usize, d: usize, clusters: usize, seed: u64) -> Matrix {
    let mut rng = common::rng(seed);
    let mut normal = move || -> f32 {
        let (u1, u2): (f32, f32) = (rng.gen::<f32>().max(1e-12), rng.gen());
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f32::consts::PI * u2).cos()
    };
    let centres: Vec<f32> = (0..clusters * d).map(|_| normal()).collect();
    let mut m = Matrix::zeros(n, d);
    for i in 0..n {
        let c = i % clusters;
        for k in 0..d {
            m.data[i * d + k] = centres[c * d + k] + 0.3 * normal();
        }
    }
    m
}

fn naive_score(metric: Metric, q: &[f32], x: &[f32]) -> f32 {
    match metric {
        Metric::Ip => q.iter().zip(x).map(|(a, b)| a * b).sum(),
        Metric::Cos => {
            let d: f32 = q.iter().zip(x).map(|(a, b)| a * b).sum();
            let nq: f32 = q.iter().map(|a| a * a).sum::<f32>().sqrt();
            let nx: f32 = x.iter().map(|a| a * a).sum::<f32>().sqrt();
            d / (nq * nx)
        }
        Metric::L2 => -q.iter().zip(x).map(|(a, b)| (a - b) * (a - b)).sum::<f32>(),
    }
}

/// Brute-force top-k (ties to the lower id), skipping `ex`.
fn brute(metric: Metric, items: &Matrix, q: &[f32], k: usize, ex: &[u32]) -> Vec<Hit> {
    let mut all: Vec<Hit> =
        (0..items.rows as u32).filter(|i| !ex.contains(i)).map(|i| Hit { id: i, score: naive_score(metric, q, items.row(i as usize)) }).collect();
    all.sort_by(|a, b| b.score.partial_cmp(&a.score).unwrap().then(a.id.cmp(&b.id)));
    all.truncate(k);
    all
}

fn recall(got: &[Vec<Hit>], truth: &[Vec<Hit>]) -> f64 {
    let mut hit = 0usize;
    let mut tot = 0usize;
    for (g, t) in got.iter().zip(truth) {
        tot += t.len();
        hit += t.iter().filter(|h| g.iter().any(|x| x.id == h.id)).count();
    }
    hit as f64 / tot.max(1) as f64
}

/// Per-kind test parameters and the recall@10 each must reach on the clustered set
/// (4000 x 32, 40 clusters, 100 queries; every metric). Inner product is the hardest
/// (non-metric) case for the graph index: hnsw reaches 0.81 / 0.91 / 0.96 at ef_search
/// 64 / 128 / 256 there, against 0.98 / 1.00 / 1.00 for l2.
fn cases() -> Vec<(&'static str, serde_json::Value, f64)> {
    vec![
        ("flat", json!({}), 1.0),
        ("hnsw", json!({"m": 16, "ef_construction": 200, "ef_search": 256}), 0.95),
        ("ivf_flat", json!({"nlist": 32, "nprobe": 12}), 0.95),
        ("ivf_pq", json!({"nlist": 32, "nprobe": 12, "m": 8, "rerank": 100}), 0.9),
        ("annoy", json!({"n_trees": 20, "search_k": 2000}), 0.95),
    ]
}

/// Splits canonical params into (build keys, search keys) as the pipeline does.
fn split_keys(k: &IndexKind, canon: &serde_json::Value) -> (serde_json::Value, serde_json::Value) {
    let (mut b, mut s) = (serde_json::Map::new(), serde_json::Map::new());
    for (key, v) in canon.as_object().unwrap() {
        if k.search_keys.contains(&key.as_str()) {
            s.insert(key.clone(), v.clone())
        } else {
            b.insert(key.clone(), v.clone())
        };
    }
    (serde_json::Value::Object(b), serde_json::Value::Object(s))
}

/// Builds like the pipeline: parse, build with the build keys only, then apply the search keys.
fn build(kind: &str, p: &serde_json::Value, items: &Matrix, metric: Metric) -> anyhow::Result<Box<dyn AnnIndex>> {
    let k = lookup(kind).unwrap();
    let canon = (k.parse)(p).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (b, s) = split_keys(k, &canon);
    let mut idx = (k.build)(&b, items, metric, 42)?;
    idx.set_search_params(&s)?;
    Ok(idx)
}

#[test]
fn every_kind_is_registered() {
    let names = kind_names();
    for (kind, _, _) in cases() {
        assert!(names.contains(&kind), "{kind} not in KINDS");
    }
    assert_eq!(names.len(), cases().len());
}

#[test]
fn recall_on_clustered_data() {
    let (items, queries) = (clustered(4000, 32, 40, 1), clustered(100, 32, 40, 2));
    let mut failures = vec![];
    for metric in [Metric::Ip, Metric::Cos, Metric::L2] {
        let truth: Vec<Vec<Hit>> = (0..queries.rows).map(|i| brute(metric, &items, queries.row(i), 10, &[])).collect();
        for (kind, p, min) in cases() {
            let idx = build(kind, &p, &items, metric).unwrap();
            let got = idx.search_batch(&queries, 10, &[]).unwrap();
            assert!(got.iter().all(|h| h.len() == 10), "{kind}: short result");
            let r = recall(&got, &truth);
            // The parallel hnsw build is not deterministic: under ip it landed at 0.91-0.95 over
            // runs with 2 to 64 rayon threads (a broken graph gives well under 0.5).
            let min = if kind == "hnsw" && metric == Metric::Ip { 0.85 } else { min };
            eprintln!("{kind:9} {metric:?}: recall@10 = {r:.3} (threshold {min})");
            if r < min - 1e-9 {
                failures.push(format!("{kind} {metric:?}: recall@10 {r:.3} < {min}"));
            }
            // Single search agrees with batch search.
            for i in 0..5 {
                let one = idx.search(queries.row(i), 10, &[]).unwrap();
                assert_eq!(one.iter().map(|h| h.id).collect::<Vec<_>>(), got[i].iter().map(|h| h.id).collect::<Vec<_>>(), "{kind}");
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn flat_equals_brute_force() {
    // Odd sizes: not multiples of the panel width, kernel height or SIMD width.
    for (n, d, nq) in [(1000, 37, 23), (17, 5, 1), (333, 128, 15)] {
        let (items, queries) = (clustered(n, d, 7, 3), clustered(nq, d, 7, 4));
        for metric in [Metric::Ip, Metric::Cos, Metric::L2] {
            let idx = build("flat", &json!({}), &items, metric).unwrap();
            let got = idx.search_batch(&queries, 10, &[]).unwrap();
            for i in 0..nq {
                let t = brute(metric, &items, queries.row(i), 10, &[]);
                assert_eq!(got[i].len(), t.len());
                for (g, t) in got[i].iter().zip(&t) {
                    let tol = 1e-3 * (1.0 + t.score.abs());
                    assert!((g.score - t.score).abs() <= tol, "{metric:?} score {} vs {}", g.score, t.score);
                    // Ids equal unless two true scores are within tolerance (a tie).
                    if g.id != t.id {
                        let s = naive_score(metric, queries.row(i), items.row(g.id as usize));
                        assert!((s - t.score).abs() <= tol, "{metric:?} n={n} d={d}: id {} vs {}", g.id, t.id);
                    }
                }
            }
        }
    }
}

#[test]
fn save_load_gives_identical_results() {
    let (items, queries) = (clustered(2000, 24, 20, 5), clustered(50, 24, 20, 6));
    for metric in [Metric::Ip, Metric::L2, Metric::Cos] {
        for (kind, p, _) in cases() {
            let k = lookup(kind).unwrap();
            let canon = (k.parse)(&p).unwrap();
            let idx = (k.build)(&canon, &items, metric, 7).unwrap();
            let dir = tempfile::tempdir().unwrap();
            idx.save(dir.path()).unwrap();
            let (b, sk) = split_keys(k, &canon);
            let mut back = (k.load)(&b, dir.path()).unwrap();
            back.set_search_params(&sk).unwrap();
            assert_eq!((back.len(), back.dim(), back.metric()), (idx.len(), idx.dim(), idx.metric()), "{kind}");
            let ex: Vec<u32> = (0..50).map(|i| i * 3).collect();
            let exs: Vec<&[u32]> = (0..queries.rows).map(|_| &ex[..]).collect();
            let a = idx.search_batch(&queries, 10, &exs).unwrap();
            let b = back.search_batch(&queries, 10, &exs).unwrap();
            assert_eq!(a, b, "{kind} {metric:?}: results differ after save/load");
        }
    }
}

#[test]
fn search_keys_apply_without_rebuild_and_survive_load() {
    let (items, queries) = (clustered(3000, 16, 30, 8), clustered(50, 16, 30, 9));
    for (kind, p, _) in cases() {
        let k = lookup(kind).unwrap();
        let canon = (k.parse)(&p).unwrap();
        for key in k.search_keys {
            assert!(canon.get(*key).is_some(), "{kind}: search key {key} missing from canonical params");
        }
        let mut idx = (k.build)(&canon, &items, Metric::L2, 1).unwrap();
        let dir = tempfile::tempdir().unwrap();
        idx.save(dir.path()).unwrap();
        // Cheapest search settings: results still complete.
        let cheap = json!({"ef_search": 1, "nprobe": 1, "rerank": 0, "search_k": 1});
        idx.set_search_params(&cheap).unwrap();
        let a = idx.search_batch(&queries, 10, &[]).unwrap();
        assert!(a.iter().all(|h| h.len() == 10), "{kind}");
        // Loading the same graph with changed search keys gives the same answers.
        let mut canon2 = canon.clone();
        for key in k.search_keys {
            canon2[*key] = cheap[*key].clone();
        }
        let back = (k.load)(&canon2, dir.path()).unwrap();
        assert_eq!(a, back.search_batch(&queries, 10, &[]).unwrap(), "{kind}: load with new search keys");
    }
}

#[test]
fn k_larger_than_catalogue_returns_everything() {
    let items = clustered(20, 8, 4, 10);
    let q = clustered(1, 8, 4, 11);
    for (kind, p, _) in cases() {
        for metric in [Metric::Ip, Metric::L2] {
            let idx = build(kind, &p, &items, metric).unwrap();
            let all = idx.search(q.row(0), 50, &[]).unwrap();
            let mut ids: Vec<u32> = all.iter().map(|h| h.id).collect();
            ids.sort();
            assert_eq!(ids, (0..20).collect::<Vec<u32>>(), "{kind}");
            assert!(all.windows(2).all(|w| w[0].score >= w[1].score), "{kind}: not sorted");
            let some = idx.search(q.row(0), 50, &[0, 3, 5, 19, 25]).unwrap();
            assert_eq!(some.len(), 16, "{kind}");
        }
    }
}

#[test]
fn exclusion_still_returns_k_unseen_items() {
    let (items, queries) = (clustered(3000, 16, 30, 12), clustered(20, 16, 30, 13));
    for (kind, p, _) in cases() {
        let idx = build(kind, &p, &items, Metric::Ip).unwrap();
        // Exclude the true top 200 plus every third item: the seen set is large and
        // concentrated exactly where the search looks first.
        let exs: Vec<Vec<u32>> = (0..queries.rows)
            .map(|i| {
                let mut ex: Vec<u32> = brute(Metric::Ip, &items, queries.row(i), 200, &[]).iter().map(|h| h.id).collect();
                ex.extend((0..3000).step_by(3));
                ex.sort();
                ex.dedup();
                ex
            })
            .collect();
        let refs: Vec<&[u32]> = exs.iter().map(|e| &e[..]).collect();
        let got = idx.search_batch(&queries, 10, &refs).unwrap();
        for (g, ex) in got.iter().zip(&exs) {
            assert_eq!(g.len(), 10, "{kind}: short result under exclusion");
            assert!(g.iter().all(|h| ex.binary_search(&h.id).is_err()), "{kind}: returned an excluded id");
            let mut ids: Vec<u32> = g.iter().map(|h| h.id).collect();
            ids.sort();
            ids.dedup();
            assert_eq!(ids.len(), 10, "{kind}: duplicate ids");
        }
        // Unsorted exclusion lists are handled too.
        let unsorted = [7u32, 2, 9];
        let r = idx.search(queries.row(0), 3000, &unsorted).unwrap();
        assert_eq!(r.len(), 2997, "{kind}");
    }
}

#[test]
fn clear_errors() {
    let items = clustered(100, 8, 4, 14);
    for (kind, p, _) in cases() {
        let e = build(kind, &p, &Matrix::zeros(0, 8), Metric::Ip).err().expect("empty build must fail");
        assert!(e.to_string().contains("empty"), "{kind}: {e}");
        let mut bad = items.clone();
        bad.data[5 * 8 + 3] = f32::NAN;
        let e = build(kind, &p, &bad, Metric::Ip).err().expect("NaN build must fail");
        assert!(e.to_string().contains("NaN") && e.to_string().contains('5'), "{kind}: {e}");
        let idx = build(kind, &p, &items, Metric::Ip).unwrap();
        let e = idx.search(&[1.0; 7], 10, &[]).unwrap_err();
        assert!(e.to_string().contains("dimension"), "{kind}: {e}");
        let e = idx.search(&[f32::NAN; 8], 10, &[]).unwrap_err();
        assert!(e.to_string().contains("NaN"), "{kind}: {e}");
        let e = idx.search_batch(&Matrix::zeros(2, 9), 10, &[]).unwrap_err();
        assert!(e.to_string().contains("dimension"), "{kind}: {e}");
        let e = idx.search_batch(&Matrix::zeros(2, 8), 10, &[&[1u32][..]]).unwrap_err();
        assert!(e.to_string().contains("exclusion"), "{kind}: {e}");
        assert!(idx.memory_bytes() >= 100 * 8, "{kind}: memory_bytes too small");
        assert!(idx.search(items.row(0), 0, &[]).unwrap().is_empty());
        let empty = tempfile::tempdir().unwrap();
        assert!((lookup(kind).unwrap().load)(&p, empty.path()).is_err(), "{kind}: load from empty dir");
    }
}

#[test]
fn params_are_validated_and_canonical() {
    for (kind, _, _) in cases() {
        let k = lookup(kind).unwrap();
        let canon = (k.parse)(&json!({})).unwrap();
        assert!(canon.is_object());
        assert_eq!((k.parse)(&canon).unwrap(), canon, "{kind}: canonical form is a fixed point");
        assert_eq!((k.parse)(&serde_json::Value::Null).unwrap(), canon);
        let e = (k.parse)(&json!({"no_such_key": 1})).unwrap_err();
        assert!(e.to_string().contains("no_such_key"), "{kind}: {e}");
    }
    // Small nlist with the search keys split off (as the pipeline builds) must not trip
    // the nprobe <= nlist check on a defaulted nprobe.
    for kind in ["ivf_flat", "ivf_pq"] {
        let idx = build(
            kind,
            &json!({"nlist": 2, "nprobe": 1, "m": 4})
                .as_object()
                .unwrap()
                .iter()
                .filter(|(k, _)| kind == "ivf_pq" || k.as_str() != "m")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            &clustered(300, 8, 4, 1),
            Metric::L2,
        );
        assert!(idx.is_ok(), "{kind}: {:?}", idx.err());
    }
    let bad = [
        ("hnsw", json!({"m": 0}), "m"),
        ("hnsw", json!({"ef_search": 0}), "ef_search"),
        ("hnsw", json!({"scalar": "f64"}), "scalar"),
        ("ivf_flat", json!({"nlist": 0}), "nlist"),
        ("ivf_flat", json!({"nlist": 4, "nprobe": 5}), "nprobe"),
        ("ivf_pq", json!({"m": 0}), "m"),
        ("ivf_pq", json!({"nlist": 4, "nprobe": 8}), "nprobe"),
        ("annoy", json!({"n_trees": 0}), "n_trees"),
    ];
    for (kind, p, key) in bad {
        let e = (lookup(kind).unwrap().parse)(&p).unwrap_err();
        assert_eq!(e.path, key, "{kind}: {e}");
    }
    // m must divide the dimension: a clear build error naming the key.
    let e = build("ivf_pq", &json!({"m": 5}), &clustered(300, 8, 4, 1), Metric::Ip).err().unwrap();
    assert!(e.to_string().contains("`m`"), "{e}");
    let canon = (lookup("hnsw").unwrap().parse)(&json!({"scalar": "f16"})).unwrap();
    assert_eq!(canon, json!({"m": 16, "ef_construction": 128, "ef_search": 64, "scalar": "f16"}));
}

#[test]
fn hnsw_quantised_storage_keeps_recall() {
    let (items, queries) = (clustered(3000, 32, 30, 15), clustered(50, 32, 30, 16));
    let truth: Vec<Vec<Hit>> = (0..queries.rows).map(|i| brute(Metric::Cos, &items, queries.row(i), 10, &[])).collect();
    // Parallel inserts make the graph differ run to run (and with the core count), so the search
    // is given a wide beam: the bound then measures the storage precision, not the graph's luck.
    // The CI once drew 0.904 for f16 at ef_search 64 on a many-core machine.
    let recall_of = |scalar: &str| {
        let idx = build("hnsw", &json!({"scalar": scalar, "ef_search": 256}), &items, Metric::Cos).unwrap();
        recall(&idx.search_batch(&queries, 10, &[]).unwrap(), &truth)
    };
    let full = recall_of("f32");
    for (scalar, min, max_loss) in [("f16", 0.95, 0.03), ("i8", 0.85, 0.12)] {
        let r = recall_of(scalar);
        eprintln!("hnsw {scalar}: recall@10 = {r:.3} (f32: {full:.3})");
        assert!(r >= min && r >= full - max_loss, "hnsw {scalar}: recall {r}, f32 {full}");
    }
    // i8 with unit-free vectors under ip is refused rather than silently wrong.
    assert!(build("hnsw", &json!({"scalar": "i8"}), &items, Metric::Ip).is_err());
}

/// Inner-product lists stay balanced on unit vectors whose clusters differ in spread. (The case
/// that broke before k-means kept unit-norm centroids, 9,809 of 20,000 item2vec vectors in one
/// list of 256, is in experiments/ann_vs_faiss; this synthetic set is balanced either way, so
/// it guards the balance, not that fix.)
#[test]
fn inner_product_lists_stay_balanced_on_unit_vectors() {
    let (n, d, k) = (4000, 16, 16);
    let centres = clustered(k, d, k, 21);
    let mut rng = common::rng(5);
    let mut m = Matrix::zeros(n, d);
    for i in 0..n {
        let c = i % k;
        let spread = 0.1 * 30f32.powf(c as f32 / (k - 1) as f32);
        for t in 0..d {
            let (u1, u2): (f32, f32) = (rng.gen::<f32>().max(1e-12), rng.gen());
            let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f32::consts::PI * u2).cos();
            m.data[i * d + t] = centres.row(c)[t] + spread * z;
        }
    }
    m.normalize_rows();
    let (lists, _) = super::ivf_flat::Lists::train(&m, k, 20, Metric::Ip, 42).unwrap();
    let sizes: Vec<u64> = lists.offsets.windows(2).map(|w| w[1] - w[0]).collect();
    let max = *sizes.iter().max().unwrap();
    eprintln!("ip list sizes: {sizes:?}");
    assert!(max < n as u64 / 5, "one list holds {max} of {n} points: {sizes:?}");
}

#[test]
fn exclusion_lists_merge_sorted_and_untrained_rows_are_the_zero_ones() {
    use super::common::{merged, untrained_rows};
    assert_eq!(merged(&[1, 3, 5], &[2, 3, 9]), [1, 2, 3, 5, 9]);
    assert_eq!(merged(&[], &[4, 4, 7]), [4, 7]);
    assert_eq!(merged(&[0, 0], &[]), [0]);
    let mut m = Matrix::zeros(4, 2);
    m.data.copy_from_slice(&[0.0, 0.0, 1.0, 0.0, 0.0, -0.0, 0.0, 1e-30]);
    assert_eq!(untrained_rows(&m), [0, 2], "-0.0 is zero; a tiny value is a trained vector");
}

/// A loaded `ivf_pq` that does not re-rank holds the codes, not the vectors: within 1.3x of
/// what faiss' `IndexIVFPQ` holds (codes, 8-byte ids, centroids, codebooks); asked to re-rank
/// it reads them, and answers as the index that was built.
#[test]
fn ivf_pq_loaded_without_rerank_holds_only_its_codes() {
    let (n, d, m, nlist) = (20_000usize, 32usize, 8usize, 16usize);
    let items = clustered(n, d, 8, 5);
    let queries = clustered(20, d, 8, 6);
    let k = lookup("ivf_pq").unwrap();
    let canon = (k.parse)(&json!({"nlist": nlist, "nprobe": 8, "m": m})).unwrap();
    let (b, _) = split_keys(k, &canon);
    let built = (k.build)(&b, &items, Metric::Ip, 3).unwrap();
    let dir = tempfile::tempdir().unwrap();
    built.save(dir.path()).unwrap();
    let mut back = (k.load)(&b, dir.path()).unwrap();
    back.set_search_params(&json!({"nprobe": 8, "rerank": 0})).unwrap();
    let faiss = n * m + n * 8 + nlist * d * 4 + m * 256 * (d / m) * 4;
    let held = back.memory_bytes();
    assert!(held as f64 <= 1.3 * faiss as f64, "{held} bytes held, faiss' IVFPQ {faiss}");
    assert!(built.memory_bytes() >= held + n * d * 4, "the built index keeps its vectors");
    let none: Vec<&[u32]> = vec![&[]; queries.rows];
    assert_eq!(back.search_batch(&queries, 10, &none).unwrap(), built.search_batch(&queries, 10, &none).unwrap());
    let mut built = built;
    for idx in [&mut back, &mut built] {
        idx.set_search_params(&json!({"rerank": 50})).unwrap();
    }
    assert_eq!(back.memory_bytes(), built.memory_bytes(), "re-ranking reads the vectors");
    assert_eq!(back.search_batch(&queries, 10, &none).unwrap(), built.search_batch(&queries, 10, &none).unwrap());
}
