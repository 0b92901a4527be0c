//! The vectors dataset kind: parameters, loading from each format, and the checks of the
//! files against each other.

use super::*;

fn write_fvecs(path: &Path, rows: &[Vec<f32>]) {
    fvecs::write(path, rows, |x: f32| x.to_le_bytes().to_vec()).unwrap();
}

fn write_ivecs(path: &Path, rows: &[Vec<i32>]) {
    fvecs::write(path, rows, |x: i32| x.to_le_bytes().to_vec()).unwrap();
}

/// Four base vectors on a line and two queries; by l2 query 0 is nearest base 1 then 0,
/// query 1 nearest base 3 then 2.
fn line(dir: &Path) {
    write_fvecs(&dir.join("base.fvecs"), &[vec![0.0, 0.0], vec![1.0, 0.0], vec![5.0, 0.0], vec![9.0, 0.0]]);
    write_fvecs(&dir.join("query.fvecs"), &[vec![0.9, 0.0], vec![8.0, 0.0]]);
}

fn params(v: serde_json::Value) -> Result<VectorsParams, ParamError> {
    params::parse::<VectorsParams>(&v)
}

fn vectors(ds: &Dataset) -> &VectorSet {
    ds.vectors.as_deref().expect("a vectors dataset")
}

#[test]
fn params_need_base_and_query_or_one_file_with_known_extensions() {
    let e = params(serde_json::json!({})).unwrap_err();
    assert!(e.message.contains("needs `base` and `query`"), "{e}");
    let e = params(serde_json::json!({"base": "b.fvecs"})).unwrap_err();
    assert_eq!(e.path, "query");
    let e = params(serde_json::json!({"file": "x.hdf5", "base": "b.fvecs"})).unwrap_err();
    assert!(e.path == "base" && e.message.contains("give `file` or `base` and `query`, not both"), "{e}");
    let e = params(serde_json::json!({"base": "b.fvec", "query": "q.fvecs"})).unwrap_err();
    assert!(e.path == "base" && e.message.contains("(did you mean .fvecs?)") && e.message.contains(".fvecs, .bvecs, .npy"), "{e}");
    let e = params(serde_json::json!({"base": "b.fvecs", "query": "q.fvecs", "ground_truth": "g.fvecs"})).unwrap_err();
    assert!(e.path == "ground_truth" && e.message.contains(".ivecs, .npy"), "{e}");
    let e = params(serde_json::json!({"file": "x.hdf"})).unwrap_err();
    assert!(e.path == "file" && e.message.contains("did you mean .hdf5?"), "{e}");
    let e = params(serde_json::json!({"file": "x.h5", "metric": "euclidean"})).unwrap_err();
    assert!(e.path == "metric" && e.message.contains("unknown variant `euclidean`"), "{e}");
    let e = params(serde_json::json!({"file": "x.h5", "ground_truth_k": 0})).unwrap_err();
    assert_eq!(e.path, "ground_truth_k");
    // The canonical form leaves unset paths out and fills the default depth.
    let (_, canon) = params::canonical::<VectorsParams>(&serde_json::json!({"file": "x.h5"})).unwrap();
    assert_eq!(canon, serde_json::json!({"file": "x.h5", "ground_truth_k": 100}));
}

#[test]
fn fvecs_with_ivecs_ground_truth_loads_as_queries_and_items() {
    let d = tempfile::tempdir().unwrap();
    line(d.path());
    write_ivecs(&d.path().join("gt.ivecs"), &[vec![1, 0], vec![3, 2]]);
    let p = params(serde_json::json!({"base": "base.fvecs", "query": "query.fvecs", "ground_truth": "gt.ivecs"})).unwrap();
    let ds = load(&p, d.path()).unwrap();
    assert_eq!((ds.n_users(), ds.n_items(), ds.interactions.len()), (2, 4, 0));
    assert_eq!((ds.items.raw(3), ds.users.raw(1)), ("3", "1"));
    let v = vectors(&ds);
    assert_eq!((v.k, v.metric, v.from_file), (2, Metric::L2, true));
    assert_eq!(v.neighbors_of(1), &[3, 2]);
    assert_eq!(v.base.row(2), &[5.0, 0.0]);
}

#[test]
fn missing_ground_truth_is_computed_by_exact_search() {
    let d = tempfile::tempdir().unwrap();
    line(d.path());
    let p = params(serde_json::json!({"base": "base.fvecs", "query": "query.fvecs", "ground_truth_k": 3})).unwrap();
    let v = vectors(&load(&p, d.path()).unwrap()).clone();
    assert_eq!((v.k, v.from_file), (3, false));
    assert_eq!(v.neighbors_of(0), &[1, 0, 2]);
    assert_eq!(v.neighbors_of(1), &[3, 2, 1]);
    // More neighbours asked than there are base vectors: all of them.
    let p = params(serde_json::json!({"base": "base.fvecs", "query": "query.fvecs", "ground_truth_k": 50})).unwrap();
    assert_eq!(vectors(&load(&p, d.path()).unwrap()).k, 4);
    // By inner product query 1 ([8, 0]) is nearest the largest base vector, and so is query 0.
    let p = params(serde_json::json!({"base": "base.fvecs", "query": "query.fvecs", "ground_truth_k": 1, "metric": "ip"})).unwrap();
    let v = vectors(&load(&p, d.path()).unwrap()).clone();
    assert_eq!((v.neighbors_of(0), v.neighbors_of(1)), (&[3u32][..], &[3u32][..]));
}

#[test]
fn files_that_disagree_are_clear_errors() {
    let d = tempfile::tempdir().unwrap();
    line(d.path());
    let load_with = |extra: serde_json::Value| {
        let mut v = serde_json::json!({"base": "base.fvecs", "query": "query.fvecs"});
        v.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        load(&params(v).unwrap(), d.path()).unwrap_err().to_string()
    };
    // Queries of another dimension than the base.
    write_fvecs(&d.path().join("q3.fvecs"), &[vec![1.0, 2.0, 3.0]]);
    let e = load_with(serde_json::json!({"query": "q3.fvecs"}));
    assert!(e.contains("q3.fvecs") && e.contains("have 3 dimensions but the base vectors") && e.contains("base.fvecs") && e.contains(" 2:"), "{e}");
    // Ground truth with a row count other than the queries'.
    write_ivecs(&d.path().join("gt1.ivecs"), &[vec![1, 0]]);
    let e = load_with(serde_json::json!({"ground_truth": "gt1.ivecs"}));
    assert!(e.contains("gt1.ivecs") && e.contains("1 rows of neighbours for 2 queries"), "{e}");
    // An id past the base, and a negative one.
    write_ivecs(&d.path().join("gt4.ivecs"), &[vec![1, 0], vec![3, 4]]);
    let e = load_with(serde_json::json!({"ground_truth": "gt4.ivecs"}));
    assert!(e.contains("gt4.ivecs") && e.contains("query 1's neighbour 1 is id 4, but the base has 4 vectors (ids 0 to 3)"), "{e}");
    write_ivecs(&d.path().join("gtn.ivecs"), &[vec![1, -1], vec![3, 2]]);
    assert!(load_with(serde_json::json!({"ground_truth": "gtn.ivecs"})).contains("is id -1"));
    // Ground truth by another metric: by inner product both queries' nearest is base 3.
    write_ivecs(&d.path().join("gtip.ivecs"), &[vec![3], vec![3]]);
    let e = load_with(serde_json::json!({"ground_truth": "gtip.ivecs"}));
    assert!(e.contains("disagrees with exact search by metric `l2`") && e.contains("set [dataset] metric"), "{e}");
    let ok = params(serde_json::json!({"base": "base.fvecs", "query": "query.fvecs", "ground_truth": "gtip.ivecs", "metric": "ip"})).unwrap();
    assert_eq!(vectors(&load(&ok, d.path()).unwrap()).neighbors, vec![3, 3]);
    // A NaN in a vector names it.
    write_fvecs(&d.path().join("nan.fvecs"), &[vec![0.0, 0.0], vec![f32::NAN, 1.0]]);
    let e = load_with(serde_json::json!({"base": "nan.fvecs"}));
    assert!(e.contains("nan.fvecs`: base vector 1 holds NaN"), "{e}");
    // A missing file names the path and the data folder setting.
    let e = load_with(serde_json::json!({"query": "nope.fvecs"}));
    assert!(e.contains("nope.fvecs") && e.contains("data_dir"), "{e}");
}

#[test]
fn npy_and_bvecs_inputs_load_alike() {
    let d = tempfile::tempdir().unwrap();
    let f4 = |xs: &[f32]| xs.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    std::fs::write(d.path().join("b.npy"), npy::tests::npy_bytes("<f4", false, "(4, 2)", &f4(&[0.0, 0.0, 1.0, 0.0, 5.0, 0.0, 9.0, 0.0]))).unwrap();
    std::fs::write(d.path().join("q.npy"), npy::tests::npy_bytes("<f4", false, "(2, 2)", &f4(&[0.9, 0.0, 8.0, 0.0]))).unwrap();
    let gt: Vec<u8> = [1i64, 3].iter().flat_map(|x| x.to_le_bytes()).collect();
    std::fs::write(d.path().join("gt.npy"), npy::tests::npy_bytes("<i8", false, "(2, 1)", &gt)).unwrap();
    let p = params(serde_json::json!({"base": "b.npy", "query": "q.npy", "ground_truth": "gt.npy"})).unwrap();
    let v = vectors(&load(&p, d.path()).unwrap()).clone();
    assert_eq!((v.base.rows, v.queries.rows, v.neighbors.clone()), (4, 2, vec![1, 3]));
    // Byte vectors (SIFT1B's format) become the same floats.
    fvecs::write(&d.path().join("b.bvecs"), &[vec![0u8, 0], vec![1, 0], vec![5, 0], vec![9, 0]], |x| vec![x]).unwrap();
    let p = params(serde_json::json!({"base": "b.bvecs", "query": "q.npy", "ground_truth": "gt.npy"})).unwrap();
    assert_eq!(vectors(&load(&p, d.path()).unwrap()).base, v.base);
}

/// Brute-force neighbours of every query (to check a file's ground truth against).
fn brute_force(v: &VectorSet, k: usize) -> Vec<Vec<u32>> {
    (0..v.queries.rows)
        .map(|q| {
            let mut ids: Vec<u32> = (0..v.base.rows as u32).collect();
            ids.sort_by(|&a, &b| {
                score(v.metric, v.queries.row(q), v.base.row(b as usize)).total_cmp(&score(v.metric, v.queries.row(q), v.base.row(a as usize)))
            });
            ids.truncate(k);
            ids
        })
        .collect()
}

#[test]
fn reads_files_written_by_h5py() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    for (name, metric) in [("ann-tiny-euclidean.hdf5", Metric::L2), ("ann-tiny-angular-gzip.hdf5", Metric::Cos)] {
        let p = params(serde_json::json!({"file": name})).unwrap();
        let ds = load(&p, &fixtures).unwrap_or_else(|e| panic!("{name}: {e:#}"));
        let v = vectors(&ds);
        assert_eq!((v.base.rows, v.base.cols, v.queries.rows, v.k, v.metric, v.from_file), (200, 8, 10, 20, metric, true), "{name}");
        assert_eq!(ds.name, name.trim_end_matches(".hdf5"));
        // The neighbours h5py stored are the ones the vectors read here give: a misread
        // vector or id would break this.
        for (q, nn) in brute_force(v, 20).iter().enumerate() {
            assert_eq!(v.neighbors_of(q), &nn[..], "{name}, query {q}");
        }
    }
    // The file says euclidean; asking for cosine is refused.
    let p = params(serde_json::json!({"file": "ann-tiny-euclidean.hdf5", "metric": "cos"})).unwrap();
    let e = load(&p, &fixtures).unwrap_err().to_string();
    assert!(e.contains("metric = \"cos\"") && e.contains("by euclidean distance") && e.contains("leave `metric` out"), "{e}");
}

#[test]
fn hdf5_without_neighbors_or_distance_uses_the_metric_and_exact_search() {
    let d = tempfile::tempdir().unwrap();
    let mut b = ::hdf5_pure::FileBuilder::new();
    b.create_dataset("train").with_f32_data(&[0.0, 0.0, 1.0, 0.0, 5.0, 0.0, 9.0, 0.0]).with_shape(&[4, 2]);
    b.create_dataset("test").with_f32_data(&[0.9, 0.0, 8.0, 0.0]).with_shape(&[2, 2]);
    b.write(d.path().join("x.h5")).unwrap();
    let p = params(serde_json::json!({"file": "x.h5", "ground_truth_k": 2})).unwrap();
    let v = vectors(&load(&p, d.path()).unwrap()).clone();
    assert_eq!((v.metric, v.from_file, v.neighbors.clone()), (Metric::L2, false, vec![1, 0, 3, 2]));
    // Queries of another dimension than the base.
    let mut b = ::hdf5_pure::FileBuilder::new();
    b.create_dataset("train").with_f32_data(&[0.0, 1.0]).with_shape(&[1, 2]);
    b.create_dataset("test").with_f32_data(&[0.0, 1.0, 2.0]).with_shape(&[1, 3]);
    b.write(d.path().join("d.h5")).unwrap();
    let e = load(&params(serde_json::json!({"file": "d.h5"})).unwrap(), d.path()).unwrap_err().to_string();
    assert!(e.contains("d.h5` dataset `test`) have 3 dimensions but the base vectors") && e.contains("dataset `train`) 2"), "{e}");
    let mut b = ::hdf5_pure::FileBuilder::new();
    b.create_dataset("train").with_f32_data(&[0.0, 1.0]).with_shape(&[1, 2]);
    b.create_dataset("test").with_f32_data(&[0.0, 1.0]).with_shape(&[1, 2]);
    b.set_attr("distance", ::hdf5_pure::AttrValue::String("jaccard".into()));
    b.write(d.path().join("j.h5")).unwrap();
    let e = load(&params(serde_json::json!({"file": "j.h5"})).unwrap(), d.path()).unwrap_err().to_string();
    assert!(e.contains("j.h5") && e.contains("distance is `jaccard`"), "{e}");
}

#[test]
fn a_ground_truth_row_repeating_an_id_is_refused() {
    let ok = IdRows { rows: 2, cols: 3, ids: vec![0, 1, 2, 2, 1, 0] };
    assert_eq!(check_truth(&ok, 2, 5, "gt").unwrap(), (vec![0, 1, 2, 2, 1, 0], 3));
    let bad = IdRows { rows: 2, cols: 3, ids: vec![0, 1, 2, 4, 3, 4] };
    let e = check_truth(&bad, 2, 5, "gt").unwrap_err().to_string();
    assert!(e.contains("query 1 lists neighbour id 4 more than once (positions [0, 2])"), "{e}");
}
