//! Property tests: random bytes and random near-valid input to the config loader and to each
//! data loader give an error or a result, never a panic. Bounded to a few seconds.

use proptest::prelude::*;
use runner::data::vectors::{fvecs, hdf5, npy};
use runner::data::{amazon, edges, given, movielens, table};
use std::path::Path;

const VALID: &str = r#"[experiment]
name = "fuzz"
seeds = [1, 2]

[dataset]
kind = "synthetic"
n_users = 100
n_items = 50
min_rating = 1.5

[split]
kind = "leave_last_out"

[[model]]
kind = "item2vec"
name = "i2v"
dim = 16
sweep = { window = [2, 4] }

[[model]]
kind = "two_tower"
hidden = [32, 16]
user = { id = true, history = 5 }

[sampler]
kind = "mixed"
parts = [{ kind = "uniform", weight = 0.5 }, { kind = "frequency", weight = 0.5 }]

[index]
kind = "hnsw"
ef_search = 32

[metrics]
k = [5, 10]

[sweep]
"model.0.dim" = [8, 16]
index = [{ kind = "flat" }, { kind = "ivf_pq", m = 4 }]
"#;

/// Tokens a user might type in place of any word of a config.
const TOKENS: &[&str] = &[
    "nan",
    "inf",
    "-1",
    "0",
    "1e309",
    "18446744073709551616",
    "\"\"",
    "[]",
    "{}",
    "[[model]]",
    "[sweep]",
    "kind",
    "\"..\"",
    "true",
    "\"model.9.dim\"",
    "=",
    "\"\u{0}\"",
    "[1, \"a\"]",
    "{ kind = \"mixed\", parts = [{ kind = \"mixed\" }] }",
    "\"x\"",
];

fn load_config(dir: &Path, body: &[u8]) {
    let p = dir.join("c.toml");
    std::fs::write(&p, body).unwrap();
    // Output folders stay in the sandbox whatever the body says.
    let sets = vec![format!("experiment.cache_dir=\"{}\"", dir.join("cache").display()), format!("experiment.results_dir=\"{}\"", dir.join("res").display())];
    let _ = runner::config::load(&p, &sets);
    let _ = runner::config::load(&p, &[]);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn config_loader_survives_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let d = tempfile::tempdir().unwrap();
        load_config(d.path(), &bytes);
    }

    #[test]
    fn config_loader_survives_near_valid_toml(edits in proptest::collection::vec((0usize..2000, 0usize..TOKENS.len(), 0u8..3), 1..6)) {
        let mut body = VALID.to_string();
        for (pos, tok, how) in edits {
            let words: Vec<(usize, &str)> = body.match_indices(|c: char| c.is_alphanumeric() || c == '_' || c == '"').collect();
            if words.is_empty() {
                break;
            }
            let (at, _) = words[pos % words.len()];
            let end = body[at..].find(|c: char| c.is_whitespace() || c == ',' || c == '}' || c == ']').map_or(body.len(), |e| at + e);
            match how {
                0 => body.replace_range(at..end, TOKENS[tok]),
                1 => body.insert_str(at, TOKENS[tok]),
                _ => {
                    // Drop a whole line.
                    let ls = body[..at].rfind('\n').map_or(0, |i| i + 1);
                    let le = body[at..].find('\n').map_or(body.len(), |i| at + i);
                    body.replace_range(ls..le, "");
                }
            }
        }
        let d = tempfile::tempdir().unwrap();
        load_config(d.path(), body.as_bytes());
    }

    #[test]
    fn data_loaders_survive_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600), text in "[0-9a-z,:|\t\n .eE+-]{0,300}") {
        let d = tempfile::tempdir().unwrap();
        for body in [&bytes[..], text.as_bytes()] {
            std::fs::write(d.path().join("u.data"), body).unwrap();
            let _ = movielens::load_movielens(d.path(), movielens::MlVariant::Auto);
            std::fs::write(d.path().join("ratings.csv"), body).unwrap();
            let _ = movielens::load_movielens(&d.path().join("ratings.csv"), movielens::MlVariant::Latest);
            std::fs::write(d.path().join("ratings.dat"), body).unwrap();
            let _ = movielens::load_movielens(&d.path().join("ratings.dat"), movielens::MlVariant::M1);
            let csv = d.path().join("x.csv");
            std::fs::write(&csv, body).unwrap();
            let p = table::TableParams { path: csv.clone(), user_col: "u".into(), item_col: "i".into(), rating_col: Some("r".into()), time_col: Some("t".into()), ..Default::default() };
            let _ = table::load_table(&csv, &p);
            let p = table::TableParams { path: csv.clone(), has_header: false, user_col: "column_1".into(), item_col: "column_2".into(), ..Default::default() };
            let _ = table::load_table(&csv, &p);
            let pq = d.path().join("x.parquet");
            std::fs::write(&pq, body).unwrap();
            let _ = table::load_table(&pq, &table::TableParams { path: pq.clone(), ..Default::default() });
            let el = d.path().join("g.edgelist");
            std::fs::write(&el, body).unwrap();
            let _ = edges::load_edges(&el, None, false);
            let _ = edges::load_edges(&el, Some(&el), true);
            // A shipped split: each file in turn is the random body, in both formats.
            std::fs::write(d.path().join("ok.txt"), "0 1 2\n1 2\n").unwrap();
            std::fs::write(d.path().join("r.txt"), body).unwrap();
            for (train, test) in [("r.txt", "ok.txt"), ("ok.txt", "r.txt")] {
                for format in [given::GivenFormat::Lists, given::GivenFormat::Pairs] {
                    let p = given::GivenParams { train: train.into(), test: test.into(), valid: None, format };
                    if let Ok(ds) = given::load(&p, d.path()) {
                        let _ = runner::data::split::given_split(&ds, &Default::default());
                    }
                }
            }
        }
    }

    #[test]
    fn movielens_side_files_survive_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400), text in "[0-9a-z,:|\"\t\n .()-]{0,300}") {
        // Valid ratings from the fixtures, each side file replaced by the random body.
        let fx = Path::new("tests/fixtures/movielens");
        for (variant, sides) in [("ml-1m", &["movies.dat", "users.dat"][..]), ("ml-10m", &["movies.dat", "tags.dat"][..]), ("ml-latest", &["movies.csv", "tags.csv"][..]), ("ml-20m", &["genome-scores.csv", "genome-tags.csv"][..])] {
            for side in sides {
                for body in [&bytes[..], text.as_bytes()] {
                    let d = tempfile::tempdir().unwrap();
                    for e in std::fs::read_dir(fx.join(variant)).unwrap() {
                        let e = e.unwrap();
                        std::fs::copy(e.path(), d.path().join(e.file_name())).unwrap();
                    }
                    std::fs::write(d.path().join(side), body).unwrap();
                    let _ = movielens::load_movielens(d.path(), movielens::MlVariant::Auto);
                }
            }
        }
    }

    #[test]
    fn vector_readers_survive_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600), dim in 1i32..6) {
        let d = tempfile::tempdir().unwrap();
        // Random bytes, and a plausible first record followed by random bytes.
        let mut headed = dim.to_le_bytes().to_vec();
        headed.extend_from_slice(&bytes);
        let mut npy_headed = b"\x93NUMPY\x01\x00".to_vec();
        npy_headed.extend_from_slice(&bytes);
        for body in [&bytes[..], &headed[..], &npy_headed[..]] {
            let p = d.path().join("x");
            std::fs::write(&p, body).unwrap();
            let _ = fvecs::read_vectors(&p, fvecs::Elem::F32);
            let _ = fvecs::read_vectors(&p, fvecs::Elem::U8);
            let _ = fvecs::read_ids(&p);
            let _ = npy::read_vectors(&p, "base vectors");
            let _ = npy::read_ids(&p);
            let _ = hdf5::read(&p);
        }
    }

    #[test]
    fn hdf5_reader_survives_cut_and_damaged_files(cut in 0usize..15136, flips in proptest::collection::vec((0usize..15136, any::<u8>()), 0..6)) {
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ann-tiny-euclidean.hdf5");
        let good = std::fs::read(fixture).unwrap();
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.hdf5");
        std::fs::write(&p, &good[..cut.min(good.len())]).unwrap();
        let _ = hdf5::read(&p);
        let mut damaged = good.clone();
        for (at, b) in flips {
            let at = at % damaged.len();
            damaged[at] = b;
        }
        std::fs::write(&p, &damaged).unwrap();
        let _ = hdf5::read(&p);
    }

    #[test]
    fn table_loader_survives_near_valid_rows(rows in proptest::collection::vec(("[a-c]{1,2}", "[x-z]{1,2}", "(-?[0-9]{1,3}(\\.[0-9])?|nan|inf|-inf|1e30|)", "(-?[0-9]{1,20}(\\.[05])?|NaN|1e30|)"), 0..12)) {
        let d = tempfile::tempdir().unwrap();
        let mut body = String::from("u,i,r,t\n");
        for (u, i, r, t) in &rows {
            body += &format!("{u},{i},{r},{t}\n");
        }
        let csv = d.path().join("x.csv");
        std::fs::write(&csv, &body).unwrap();
        let p = table::TableParams { path: csv.clone(), user_col: "u".into(), item_col: "i".into(), rating_col: Some("r".into()), time_col: Some("t".into()), ..Default::default() };
        if let Ok(ds) = table::load_table(&csv, &p) {
            // Whatever loads holds only finite ratings.
            prop_assert!(ds.interactions.iter().all(|it| it.rating.is_finite()));
        }
    }

    #[test]
    fn amazon_loader_survives_random_and_near_valid_lines(
        bytes in proptest::collection::vec(any::<u8>(), 0..600),
        fields in proptest::collection::vec((0usize..6, "(-?[0-9]{1,14}(\\.[0-9])?|\"[a-z$ ,.0-9]{0,6}\"|null|true|\\[\\]|\\{\\}|\\[\"x\", 1\\]|)"), 1..8),
        cut in 0usize..200,
    ) {
        // Random bytes as either file (and gzipped), then a line of the release's layout
        // (read as a review and as an item) with random values in some fields, and a copy cut
        // short at a random byte.
        let mut line: std::collections::BTreeMap<&str, String> = [
            ("user_id", "\"U\""),
            ("parent_asin", "\"B07J3GH1W1\""),
            ("rating", "5.0"),
            ("timestamp", "1588687728923"),
            ("price", "null"),
            ("title", "\"T\""),
        ]
        .into_iter()
        .map(|(k, v)| (k, v.to_string()))
        .collect();
        let keys: Vec<&str> = line.keys().copied().collect();
        for (k, v) in &fields {
            line.insert(keys[*k], v.clone());
        }
        let line = format!("{{{}}}", line.iter().map(|(k, v)| format!("\"{k}\": {v}")).collect::<Vec<_>>().join(", "));
        let near = format!("{line}\n{}", &line[..cut.min(line.len())]);
        let fx = Path::new("tests/fixtures/amazon");
        for body in [&bytes[..], near.as_bytes()] {
            for (file, other) in [("All_Beauty.jsonl", "meta_All_Beauty.jsonl"), ("meta_All_Beauty.jsonl", "All_Beauty.jsonl")] {
                let d = tempfile::tempdir().unwrap();
                std::fs::copy(fx.join(other), d.path().join(other)).unwrap();
                std::fs::write(d.path().join(file), body).unwrap();
                let _ = amazon::load_amazon(d.path(), "All_Beauty");
                std::fs::remove_file(d.path().join(file)).unwrap();
                let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                std::io::Write::write_all(&mut gz, body).unwrap();
                let gz = gz.finish().unwrap();
                for len in [gz.len(), cut * gz.len() / 200] {
                    std::fs::write(d.path().join(format!("{file}.gz")), &gz[..len]).unwrap();
                    if let Ok(ds) = amazon::load_amazon(d.path(), "All_Beauty") {
                        prop_assert!(ds.interactions.iter().all(|it| it.rating.is_finite()));
                    }
                }
            }
        }
    }
}
