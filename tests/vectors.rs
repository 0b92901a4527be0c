//! `[dataset] kind = "vectors"` end to end: an ANN benchmark (base, queries, ground truth) run
//! through an `[index]` sweep with no model, giving the ann-benchmarks table and Pareto plot;
//! the ann-benchmarks HDF5 files h5py writes; and the config errors of such a dataset.

mod common;
use common::*;
use runner::data::vectors::fvecs;
use std::path::Path;

/// A seeded stream of floats in [-1, 1) (xorshift; no rand needed in the test).
fn floats(seed: u64, n: usize) -> Vec<f32> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

const DIM: usize = 16;

/// Writes `base.fvecs` (3000 vectors in 30 clusters), `query.fvecs` (200) and their true
/// 20 nearest neighbours by L2, brute force, as `gt.ivecs`.
fn write_benchmark(dir: &Path) {
    let centres = floats(1, 30 * DIM);
    let noise = floats(2, 3000 * DIM);
    let base: Vec<Vec<f32>> = (0..3000).map(|i| (0..DIM).map(|j| centres[(i % 30) * DIM + j] + 0.3 * noise[i * DIM + j]).collect()).collect();
    let qnoise = floats(3, 200 * DIM);
    let queries: Vec<Vec<f32>> = (0..200).map(|i| (0..DIM).map(|j| centres[(i * 7 % 30) * DIM + j] + 0.3 * qnoise[i * DIM + j]).collect()).collect();
    let gt: Vec<Vec<i32>> = queries
        .iter()
        .map(|q| {
            let d = |b: &Vec<f32>| q.iter().zip(b).map(|(x, y)| ((x - y) * (x - y)) as f64).sum::<f64>();
            let mut ids: Vec<usize> = (0..base.len()).collect();
            ids.sort_by(|&a, &b| d(&base[a]).total_cmp(&d(&base[b])));
            ids[..20].iter().map(|&i| i as i32).collect()
        })
        .collect();
    let le = |x: f32| x.to_le_bytes().to_vec();
    fvecs::write(&dir.join("base.fvecs"), &base, le).unwrap();
    fvecs::write(&dir.join("query.fvecs"), &queries, le).unwrap();
    fvecs::write(&dir.join("gt.ivecs"), &gt, |x: i32| x.to_le_bytes().to_vec()).unwrap();
}

/// No [[model]], no [split], no [metrics]: the dataset's defaults.
fn sweep_config(data: &Path) -> String {
    format!(
        r#"
[experiment]
name = "sift-like"
data_dir = "{}"

[dataset]
kind = "vectors"
base = "base.fvecs"
query = "query.fvecs"
ground_truth = "gt.ivecs"

[index]
kind = "flat"

[sweep]
index = [
    {{ kind = "flat" }},
    {{ kind = "hnsw", m = 8, ef_construction = 32, ef_search = 10 }},
    {{ kind = "hnsw", m = 8, ef_construction = 32, ef_search = 80 }},
]
"#,
        data.display()
    )
}

#[test]
fn index_sweep_on_a_vectors_dataset_needs_no_model_and_gives_the_ann_table_and_plot() {
    let d = tempfile::tempdir().unwrap();
    write_benchmark(d.path());
    let cfg = write_config(d.path(), "sift.toml", &sweep_config(d.path()));
    let sets = sandbox_sets(d.path());
    let exp = load(&cfg, &sets);
    assert_eq!(exp.runs.len(), 3);
    assert!(exp.runs.iter().all(|r| r.model.kind.kind == "passthrough" && r.split.kind.kind == "none" && r.metrics.task.has("ann") && r.metrics.k == vec![10]));
    let (summary, tables) = run(vec![exp], false);
    assert_eq!(summary.failed, 0);
    let rows = &tables[0];
    let recall = |kind: &str, ef: Option<&str>| {
        let r = rows.iter().find(|r| r["index"]["kind"] == kind && ef.is_none_or(|e| r["config"]["index.ef_search"] == e)).unwrap();
        metric(r, "ANNRecall@10")
    };
    // Exact search finds every true neighbour of the file's ground truth.
    assert_eq!(recall("flat", None), 1.0);
    let (lo, hi) = (recall("hnsw", Some("10")), recall("hnsw", Some("80")));
    assert!(lo <= hi && hi > 0.8 && hi <= 1.0, "hnsw ef 10: {lo}, ef 80: {hi}");
    for r in rows {
        assert_eq!(r["model"], "passthrough");
        assert_eq!(r["users"], 200, "every query is scored");
        assert!(r["latency"]["qps_single"].as_f64().unwrap() > 0.0 && r["latency"]["qps_batch"].as_f64().unwrap() > 0.0, "{r}");
        assert!(r["index_bytes"].as_u64().unwrap() > 0);
        // No recommendation metrics: only ANN recall.
        assert_eq!(r["metrics"].as_object().unwrap().keys().collect::<Vec<_>>(), vec!["ANNRecall@10"], "{r}");
    }

    let out = d.path().join("results/sift-like");
    let md = std::fs::read_to_string(out.join("results.md")).unwrap();
    let header = md_table(&md, None)[0];
    for col in ["ANNRecall@10 ↑", "build_s", "index_MiB", "qps_1t", "qps_batch", "p50_us", "p95_us", "p99_us", "max_us"] {
        assert!(header.contains(&format!("| {col} |")), "no {col} column in {header}");
    }
    for col in ["| Recall@10 ↑ |", "| NDCG@10 ↑ |", "train_s", "exact "] {
        assert!(!header.contains(col), "{col} in {header}");
    }
    let svg = std::fs::read_to_string(out.join("pareto.svg")).expect("pareto.svg is written");
    assert!(
        svg.contains("<svg") && svg.contains("ANNRecall@10") && svg.contains("true neighbours") && svg.contains("hnsw") && svg.contains("flat"),
        "pareto plot"
    );
    assert!(svg.contains("on vectors base:"), "the dataset's file names the plot");

    // The vectors are cached once, in the data stage: the train stage holds no copy.
    let cache = d.path().join("cache");
    let train: Vec<_> = std::fs::read_dir(cache.join("train")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(train.len(), 1, "one pass-through stage for every index");
    assert!(!train[0].join("items.f32").exists() && !train[0].join("users.f32").exists());
    // A second run computes nothing; another index, built from the cached vectors (read back
    // from the data stage), agrees with the first flat run.
    let (again, _) = run(vec![load(&cfg, &sets)], false);
    assert_eq!(again.ran, 1, "only the report runs again: {again:?}");
    let ivf = sweep_config(d.path()).replace("{ kind = \"flat\" },", "{ kind = \"ivf_flat\", nlist = 16, nprobe = 16 },");
    let cfg2 = write_config(d.path(), "ivf.toml", &ivf.replace("sift-like", "sift-ivf"));
    let (s2, tables) = run(vec![load(&cfg2, &sets)], false);
    assert_eq!(s2.failed, 0);
    let r = tables[0].iter().find(|r| r["index"]["kind"] == "ivf_flat").unwrap();
    assert_eq!(metric(r, "ANNRecall@10"), 1.0, "every list probed is exact search");
}

#[test]
fn ann_benchmarks_hdf5_and_computed_ground_truth_run_end_to_end() {
    let d = tempfile::tempdir().unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let body = format!(
        r#"
[experiment]
name = "glove-like"
data_dir = "{}"

[dataset]
kind = "vectors"
file = "ann-tiny-angular-gzip.hdf5"

[metrics]
k = [1, 10]

[sweep]
index = [{{ kind = "flat" }}, {{ kind = "annoy", n_trees = 4, search_k = 20 }}]
"#,
        fixtures.display()
    );
    let cfg = write_config(d.path(), "glove.toml", &body);
    let (summary, tables) = run(vec![load(&cfg, &sandbox_sets(d.path()))], false);
    assert_eq!(summary.failed, 0);
    let flat = tables[0].iter().find(|r| r["index"]["kind"] == "flat").unwrap();
    assert_eq!((metric(flat, "ANNRecall@1"), metric(flat, "ANNRecall@10")), (1.0, 1.0), "the file's angular neighbours are cosine's");
    let annoy = tables[0].iter().find(|r| r["index"]["kind"] == "annoy").unwrap();
    // The forest is seeded (one seed per tree, whatever the thread count): its recall on the
    // fixture is pinned.
    assert_pinned("annoy on the angular fixture", &[("ANNRecall@1", metric(annoy, "ANNRecall@1"), 0.6), ("ANNRecall@10", metric(annoy, "ANNRecall@10"), 0.59)]);

    // Without a ground-truth file the neighbours are computed once by exact search.
    write_benchmark(d.path());
    let body = sweep_config(d.path()).replace("ground_truth = \"gt.ivecs\"", "ground_truth_k = 10").replace("sift-like", "computed");
    let cfg = write_config(d.path(), "computed.toml", &body);
    let (_, tables) = run(vec![load(&cfg, &sandbox_sets(d.path()))], false);
    assert_eq!(metric(tables[0].iter().find(|r| r["index"]["kind"] == "flat").unwrap(), "ANNRecall@10"), 1.0);
    // Asking for more neighbours than were computed fails the rows with a clear error.
    let deep = write_config(d.path(), "deep.toml", &format!("{}\n[metrics]\nk = [20]\n", body.replace("\"computed\"", "\"deep\"")));
    let plan = runner::pipeline::plan(vec![load(&deep, &sandbox_sets(d.path()))]).unwrap();
    let exec = runner::pipeline::stages::Executor::new(&plan, false, false);
    let (s, errors) = runner::pipeline::dag::execute(&plan, &exec, 1, &|_| {});
    assert_eq!(s.failed, 3);
    let e = format!("{:#}", errors[0]);
    assert!(e.contains("asks for 20 neighbours per query, but the ground truth holds 10") && e.contains("ground_truth_k"), "{e}");
}

fn config_error(body: &str) -> runner::config::ConfigError {
    let d = tempfile::tempdir().unwrap();
    let p = write_config(d.path(), "c.toml", body);
    match runner::config::load(&p, &[]) {
        Ok(_) => panic!("config should be rejected:\n{body}"),
        Err(e) => e,
    }
}

const VECTORS: &str = "[dataset]\nkind = \"vectors\"\nbase = \"b.fvecs\"\nquery = \"q.fvecs\"\n";

#[test]
fn vectors_config_errors_name_the_key_and_line() {
    let e = config_error(&format!("{VECTORS}\n[[model]]\nkind = \"item2vec\"\n"));
    assert_eq!((e.key.as_str(), e.line), ("model.0.kind", Some(7)), "{e}");
    assert!(e.message.contains("a vectors dataset has none") && e.hint.as_deref().unwrap().contains("leave [[model]] out"), "{e}");
    let e = config_error("[dataset]\nkind = \"synthetic\"\n\n[[model]]\nkind = \"passthrough\"\n");
    assert_eq!(e.key, "model.0.kind");
    assert!(e.message.contains("the dataset is not one"), "{e}");
    let e = config_error(&format!("{VECTORS}\n[split]\nkind = \"random\"\n"));
    assert_eq!(e.key, "split.kind");
    assert!(e.message.contains("brings its own queries"), "{e}");
    let e = config_error(&format!("{VECTORS}\n[metrics]\ntask = \"retrieval\"\n"));
    assert_eq!(e.key, "metrics.task");
    assert!(e.message.contains("needs users' interactions") && e.hint.as_deref().unwrap().contains("task = \"ann\""), "{e}");
    let e = config_error("[dataset]\nkind = \"synthetic\"\n\n[[model]]\nkind = \"random\"\n\n[metrics]\ntask = \"ann\"\n");
    assert!(e.key == "metrics.task" && e.message.contains("dataset kind `synthetic` has none"), "{e}");
    let e = config_error(&format!("{VECTORS}k_core = 5\n"));
    assert!(e.key == "dataset" && e.message.contains("k_core = 5"), "{e}");
    let e = config_error(&format!("{VECTORS}metric = \"cos\"\n\n[index]\nkind = \"hnsw\"\nmetric = \"ip\"\n"));
    assert_eq!((e.key.as_str(), e.line), ("index.metric", Some(9)), "{e}");
    // Without `metric`, files are by l2.
    let e = config_error(&format!("{VECTORS}\n[index]\nkind = \"hnsw\"\nmetric = \"cos\"\n"));
    assert_eq!((e.key.as_str(), e.line), ("index.metric", Some(8)), "{e}");
    assert!(e.message.contains("by metric \"l2\"") && e.message.contains("search by \"cos\""), "{e}");
    let e = config_error("[dataset]\nkind = \"vectors\"\nbase = \"b.fvec\"\nquery = \"q.fvecs\"\n");
    assert_eq!((e.key.as_str(), e.line), ("dataset.base", Some(3)), "{e}");
    assert!(e.message.contains("did you mean .fvecs?"), "{e}");
    let e = config_error("[dataset]\nkind = \"vectors\"\nbase = \"b.fvecs\"\n");
    assert_eq!(e.key, "dataset.query");
    let e = config_error("[dataset]\nkind = \"vector\"\n\n[[model]]\nkind = \"random\"\n");
    assert!(e.hint.as_deref().unwrap().contains("did you mean `vectors`?"), "{e}");
    // Without a model and without a vectors dataset, the hint says which dataset needs none.
    let e = config_error("[dataset]\nkind = \"vector\"\n");
    let hint = e.hint.unwrap();
    assert!(e.message.contains("no [[model]]") && hint.contains("kind = \"vectors\", needs none") && !hint.contains("passthrough"), "{hint}");
}
