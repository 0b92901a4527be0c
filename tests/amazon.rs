//! `kind = "amazon"` (Amazon Reviews 2023) on the fixture in the release's exact layout
//! (tests/fixtures/amazon: 31 reviews of 8 users on 8 items, meta for 7 of them and one
//! item nobody reviewed), end to end through the towers, and `runner data fetch
//! amazon-<Category>` against a local HTTP server on 127.0.0.1.

mod common;
use common::*;
use runner::data::amazon::load_amazon;
use runner::data::{Dataset, FeatureColumn};
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

const FX: &str = "tests/fixtures/amazon";

fn fixture() -> PathBuf {
    std::fs::canonicalize(FX).unwrap()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut w = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    w.write_all(bytes).unwrap();
    w.finish().unwrap()
}

fn item(ds: &Dataset, asin: &str) -> usize {
    ds.items.get(asin).unwrap_or_else(|| panic!("no item {asin}")) as usize
}

fn text(ds: &Dataset, col: &str, asin: &str) -> String {
    match ds.item_features.get(col) {
        Some(FeatureColumn::Text { values, .. }) => values[item(ds, asin)].clone(),
        other => panic!("{col} is not text: {other:?}"),
    }
}

fn number(ds: &Dataset, col: &str, asin: &str) -> f32 {
    match ds.item_features.get(col) {
        Some(FeatureColumn::Numeric { values, .. }) => values[item(ds, asin)],
        other => panic!("{col} is not numeric: {other:?}"),
    }
}

#[test]
fn the_fixture_loads_with_its_item_features() {
    let ds = load_amazon(&fixture(), "All_Beauty").unwrap();
    assert_eq!(ds.name, "amazon-All_Beauty");
    assert_eq!((ds.n_users(), ds.n_items(), ds.interactions.len()), (8, 8, 31));
    // Line 1: rating 1.0 at 1588774129046 ms.
    let first = ds.interactions[0];
    assert_eq!((first.rating, first.ts), (1.0, 1_588_774_129));
    assert_eq!(ds.users.raw(first.user), "AGKHLEW2SOWHNMFQIJGBECAF7INQ");
    // Line 5 reviews the variant B07J3GH1W2 of the product B097R46CSY: items are products.
    assert!(ds.items.get("B07J3GH1W2").is_none());
    assert_eq!(ds.items.raw(ds.interactions[4].item), "B097R46CSY");
    assert_eq!(ds.item_features.names(), ["title", "categories", "description", "features", "price", "average_rating", "store", "main_category"]);
    assert_eq!(text(&ds, "title", "B07W397QG4"), "Yes to Tomatoes Detoxifying Charcoal Cleanser");
    assert_eq!(text(&ds, "categories", "B07W397QG4"), "Beauty & Personal Care. Skin Care. Face");
    assert_eq!(text(&ds, "description", "B07W397QG4"), "Clears skin.. Gentle enough for daily use.");
    assert_eq!(text(&ds, "features", "B097R46CSY"), "Alcohol free");
    assert_eq!(number(&ds, "price", "B08JTNQFZY"), 19.5);
    assert_eq!(number(&ds, "average_rating", "B097R46CSY"), 4.9);
    // B07J3GH1W1's price is null and B08BZ63GMJ has no meta line: both get the mean of the
    // reviewed items' prices (10, 19.5, 12.5, 8, 6, 14), not counting the unreviewed 99.
    let mean = (10.0 + 19.5 + 12.5 + 8.0 + 6.0 + 14.0) / 6.0;
    assert!((number(&ds, "price", "B07J3GH1W1") - mean).abs() < 1e-5);
    assert!((number(&ds, "price", "B08BZ63GMJ") - mean).abs() < 1e-5);
    // Without meta: empty text, the asin as the title shown by `similar`.
    assert_eq!(text(&ds, "title", "B08BZ63GMJ"), "");
    let titles = ds.item_titles.as_ref().unwrap();
    assert_eq!(titles[item(&ds, "B08BZ63GMJ")], "B08BZ63GMJ");
    assert_eq!(titles[item(&ds, "B00YQ6X8EO")], "Precision Plunger Bars for Cartridge Grips");
    // Stores as categories, 0 for none: "Yes To" sells two of the items.
    match ds.item_features.get("store").unwrap() {
        FeatureColumn::Categorical { values, cardinality, .. } => {
            assert_eq!(values[item(&ds, "B07W397QG4")], values[item(&ds, "B081TJ8YS3")]);
            assert_ne!(values[item(&ds, "B07W397QG4")], 0);
            assert_eq!(values[item(&ds, "B097R46CSY")], 0, "a null store");
            assert_eq!(values[item(&ds, "B08BZ63GMJ")], 0, "no meta");
            assert_eq!(*cardinality, 6, "none + 5 stores of reviewed items");
        }
        other => panic!("store: {other:?}"),
    }
}

#[test]
fn gzipped_files_give_the_same_dataset() {
    let d = tempfile::tempdir().unwrap();
    for f in ["All_Beauty.jsonl", "meta_All_Beauty.jsonl"] {
        let bytes = std::fs::read(Path::new(FX).join(f)).unwrap();
        std::fs::write(d.path().join(format!("{f}.gz")), gzip(&bytes)).unwrap();
    }
    let plain = load_amazon(&fixture(), "All_Beauty").unwrap();
    let gz = load_amazon(d.path(), "All_Beauty").unwrap();
    assert_eq!(gz.interactions, plain.interactions);
    assert_eq!((gz.users.raws(), gz.items.raws()), (plain.users.raws(), plain.items.raws()));
    assert_eq!(gz.item_features, plain.item_features);
    assert_eq!(gz.item_titles, plain.item_titles);
    // Without the meta file: the interactions, no item features.
    std::fs::remove_file(d.path().join("meta_All_Beauty.jsonl.gz")).unwrap();
    let bare = load_amazon(d.path(), "All_Beauty").unwrap();
    assert_eq!(bare.interactions, plain.interactions);
    assert!(bare.item_features.columns.is_empty() && bare.item_titles.is_none());
}

/// The fixture with line `n` (from 1) of `file` replaced by `line`, loaded from a temporary
/// folder; the error's text.
fn error_with(file: &str, n: usize, line: &str) -> String {
    let d = tempfile::tempdir().unwrap();
    for f in ["All_Beauty.jsonl", "meta_All_Beauty.jsonl"] {
        let mut lines: Vec<String> = std::fs::read_to_string(Path::new(FX).join(f)).unwrap().lines().map(str::to_string).collect();
        if f == file {
            lines[n - 1] = line.to_string();
        }
        std::fs::write(d.path().join(f), lines.join("\n") + "\n").unwrap();
    }
    format!("{:#}", load_amazon(d.path(), "All_Beauty").unwrap_err())
}

#[test]
fn bad_lines_name_their_file_and_line() {
    let e = error_with("All_Beauty.jsonl", 3, r#"{"rating": 5.0, "parent_asin": "B1", "user_id": "#);
    assert!(e.contains("All_Beauty.jsonl:3: ") && e.contains("EOF"), "{e}");
    let e = error_with("All_Beauty.jsonl", 2, r#"{"rating": 5.0, "parent_asin": "B1", "timestamp": 1588687728923}"#);
    assert!(e.contains("All_Beauty.jsonl:2: ") && e.contains("missing field `user_id`"), "{e}");
    let e = error_with("All_Beauty.jsonl", 4, r#"{"rating": "five", "parent_asin": "B1", "user_id": "U", "timestamp": 1588687728923}"#);
    assert!(e.contains("All_Beauty.jsonl:4: rating `\"five\"` is not a finite number"), "{e}");
    let e = error_with("All_Beauty.jsonl", 4, r#"{"rating": 5, "parent_asin": "B1", "user_id": "U", "timestamp": 1.5}"#);
    assert!(e.contains("All_Beauty.jsonl:4: timestamp `1.5` is fractional"), "{e}");
    let e = error_with("All_Beauty.jsonl", 6, r#"{"rating": 5, "parent_asin": " ", "user_id": "U", "timestamp": 1}"#);
    assert!(e.contains("All_Beauty.jsonl:6: parent_asin is empty"), "{e}");
    let e = error_with("meta_All_Beauty.jsonl", 2, r#"{"parent_asin": "B07W397QG4", "price": [1]}"#);
    assert!(e.contains("meta_All_Beauty.jsonl:2: price `[1]` is not a price"), "{e}");
    let e = error_with("meta_All_Beauty.jsonl", 5, r#"{"title": "no asin"}"#);
    assert!(e.contains("meta_All_Beauty.jsonl:5: missing field `parent_asin`"), "{e}");
    let e = error_with("meta_All_Beauty.jsonl", 5, r#"{"parent_asin": 17}"#);
    assert!(e.contains("meta_All_Beauty.jsonl:5: parent_asin is missing or not a string (`17`)"), "{e}");
    let e = error_with("meta_All_Beauty.jsonl", 1, r#"{"parent_asin": "B07J3GH1W1", "title": {"en": "x"}}"#);
    assert!(e.contains("meta_All_Beauty.jsonl:1: title `{\"en\":\"x\"}` is not text"), "{e}");
    // A cut gzip stream.
    let d = tempfile::tempdir().unwrap();
    let gz = gzip(&std::fs::read(Path::new(FX).join("All_Beauty.jsonl")).unwrap());
    std::fs::write(d.path().join("All_Beauty.jsonl.gz"), &gz[..gz.len() / 2]).unwrap();
    let e = format!("{:#}", load_amazon(d.path(), "All_Beauty").unwrap_err());
    assert!(e.contains("All_Beauty.jsonl.gz:") && e.contains("not a readable gzip file"), "{e}");
}

#[test]
fn a_missing_category_names_the_files_and_the_nearest() {
    let e = format!("{:#}", load_amazon(&fixture(), "All_Beuty").unwrap_err());
    assert!(e.contains("`All_Beuty.jsonl` or `All_Beuty.jsonl.gz`") && e.contains("did you mean `All_Beauty`"), "{e}");
    let d = tempfile::tempdir().unwrap();
    let e = format!("{:#}", load_amazon(d.path(), "Books").unwrap_err());
    assert!(e.contains("no reviews file for category `Books`") && e.contains(&d.path().display().to_string()), "{e}");
}

fn config(name: &str, dataset: &str, models: &str) -> String {
    format!(
        "[experiment]\nname = \"{name}\"\nseeds = [1]\ndata_dir = \"{}\"\n\n[dataset]\n{dataset}\n\n[split]\nkind = \"leave_last_out\"\n\n{models}\n[metrics]\nk = [3]\n",
        fixture().parent().unwrap().display()
    )
}

#[test]
fn dssm_reads_item_text_end_to_end() {
    let d = tempfile::tempdir().unwrap();
    let models = "[[model]]\nkind = \"popularity\"\n\n[[model]]\nkind = \"dssm\"\nitem = { text = [\"title\", \"categories\", \"description\", \"features\"] }\nuser = { text_history = 5 }\nbatch_size = 8\nepochs = 2\nbuckets = 500\n";
    let body = config("amazon-e2e", "kind = \"amazon\"\npath = \"amazon\"\ncategory = \"All_Beauty\"", models);
    let cfg = write_config(d.path(), "a.toml", &body);
    let (summary, tables) = run(vec![load(&cfg, &sandbox_sets(d.path()))], false);
    assert_eq!(summary.failed, 0);
    for m in ["popularity", "dssm"] {
        let row = tables[0].iter().find(|r| r["model"] == m).unwrap_or_else(|| panic!("no {m} row: {:?}", tables[0]));
        assert!(row["metrics"]["Recall@3"].is_number(), "{row}");
    }
    let tested = tables[0][0]["users"].as_u64().unwrap();
    // The shared filters apply as to any kind: `user_core = 4` keeps the 5 of 8 users with 4
    // or 5 reviews, so fewer are tested.
    let body = body.replace("category = \"All_Beauty\"", "category = \"All_Beauty\"\nuser_core = 4");
    let cfg = write_config(d.path(), "b.toml", &body);
    let (summary, tables) = run(vec![load(&cfg, &sandbox_sets(d.path()))], false);
    assert_eq!(summary.failed, 0);
    assert!(tables[0].iter().all(|r| r["users"].as_u64().is_some_and(|u| u > 0 && u < tested && u <= 5)), "{tested} before: {:?}", tables[0]);
}

/// `configs/text-amazon.toml` loads and runs as it is on the fixture standing in for the
/// downloaded All_Beauty (fetch off, the folder set to the fixture's).
#[test]
fn the_text_amazon_config_runs_on_the_fixture() {
    let d = tempfile::tempdir().unwrap();
    let mut sets = sandbox_sets(d.path());
    sets.extend([format!("experiment.data_dir=\"{}\"", fixture().parent().unwrap().display()), "dataset.path=\"amazon\"".into(), "dataset.fetch=false".into()]);
    let exp = load(Path::new("configs/text-amazon.toml"), &sets);
    let (summary, tables) = run(vec![exp], false);
    assert_eq!(summary.failed, 0);
    let models: Vec<&str> = tables[0].iter().filter_map(|r| r["model"].as_str()).collect();
    for m in ["popularity", "random", "dssm", "cdssm", "two_tower_text"] {
        assert!(models.contains(&m), "no {m} row in {models:?}");
    }
    let dssm = tables[0].iter().find(|r| r["model"] == "dssm").unwrap();
    assert!(dssm["metrics"]["Recall@10"].is_number(), "{dssm}");
}

// --- runner data fetch amazon-<Category> -------------------------------------------------

/// Serves `raw/review_categories/All_Beauty.jsonl.gz` and
/// `raw/meta_categories/meta_All_Beauty.jsonl.gz` (honouring `Range`; the meta file can be
/// swapped between requests); logs each path and its `Range` header.
struct Server {
    port: u16,
    meta: Arc<Mutex<Vec<u8>>>,
    log: Arc<Log>,
}

/// Each request's path and the start of its `Range`.
type Log = Mutex<Vec<(String, Option<usize>)>>;

fn serve(reviews: Vec<u8>, meta: Vec<u8>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let log = Arc::new(Mutex::new(Vec::new()));
    let meta = Arc::new(Mutex::new(meta));
    let (l, m) = (log.clone(), meta.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (l, r, m) = (l.clone(), reviews.clone(), m.lock().unwrap().clone());
            std::thread::spawn(move || answer(stream, &r, &m, &l));
        }
    });
    Server { port, meta, log }
}

fn answer(mut stream: TcpStream, reviews: &[u8], meta: &[u8], log: &Log) {
    let Some((path, range)) = read_request(&stream) else { return };
    let from: Option<usize> = range.and_then(|v| v.trim_start_matches("bytes=").trim_end_matches('-').parse().ok());
    log.lock().unwrap().push((path.clone(), from));
    let from = from.unwrap_or(0);
    let body = match path.as_str() {
        "/raw/review_categories/All_Beauty.jsonl.gz" => reviews,
        "/raw/meta_categories/meta_All_Beauty.jsonl.gz" => meta,
        _ => {
            let _ = write!(stream, "HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
            return;
        }
    };
    let (status, range) = match from {
        0 => ("200 OK", String::new()),
        f if f >= body.len() => ("416 Range Not Satisfiable", format!("Content-Range: bytes */{}\r\n", body.len())),
        f => ("206 Partial Content", format!("Content-Range: bytes {f}-{}/{}\r\n", body.len() - 1, body.len())),
    };
    let part = &body[from.min(body.len())..];
    let _ = write!(stream, "HTTP/1.1 {status}\r\nConnection: close\r\nContent-Length: {}\r\n{range}\r\n", part.len());
    let _ = stream.write_all(part);
}

fn fixture_gz(file: &str) -> Vec<u8> {
    gzip(&std::fs::read(Path::new(FX).join(file)).unwrap())
}

fn fetch(dir: &Path, s: &Server, name: &str) -> (i32, String, String) {
    runner(dir, &["data", "fetch", name, "--data-dir", "data", "--mirror", &format!("http://127.0.0.1:{}/", s.port), "-q"])
}

#[test]
fn fetch_downloads_a_category_that_the_loader_reads() {
    let s = serve(fixture_gz("All_Beauty.jsonl"), fixture_gz("meta_All_Beauty.jsonl"));
    let d = tempfile::tempdir().unwrap();
    let (code, out, err) = fetch(d.path(), &s, "amazon-All_Beauty");
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("amazon-All_Beauty: downloaded and verified"), "{out}");
    let folder = d.path().join("data/amazon-All_Beauty");
    let ds = load_amazon(&folder, "All_Beauty").unwrap();
    assert_eq!((ds.n_users(), ds.n_items(), ds.interactions.len()), (8, 8, 31));
    assert_eq!(ds.item_features.names().len(), 8);
    let leftovers: Vec<_> = std::fs::read_dir(d.path().join("data/.fetch"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .filter(|n| !n.to_string_lossy().ends_with(".lock"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // `data list` shows it present; a typo gets the nearest category.
    let (_, out, _) = runner(d.path(), &["data", "list", "--data-dir", "data"]);
    assert!(out.lines().any(|l| l.starts_with("amazon-All_Beauty") && l.contains("present")), "{out}");
    assert!(out.lines().any(|l| l.starts_with("amazon-Video_Games") && l.contains("4.6M ratings")), "{out}");
    let (code, _, err) = fetch(d.path(), &s, "amazon-All_Beuty");
    assert_eq!(code, 2);
    assert!(err.contains("did you mean `All_Beauty`"), "{err}");

    // `fetch = true` in a config downloads into `amazon-<category>` and runs.
    let d = tempfile::tempdir().unwrap();
    let body = "[experiment]\nname = \"f\"\nseeds = [1]\ndata_dir = \"data\"\ncache_dir = \"cache\"\nresults_dir = \"results\"\n\n[dataset]\nkind = \"amazon\"\ncategory = \"All_Beauty\"\nfetch = true\n\n[[model]]\nkind = \"popularity\"\n\n[metrics]\nk = [3]\n";
    std::fs::write(d.path().join("f.toml"), body).unwrap();
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_runner"));
    c.args(["run", "f.toml", "-q"]).current_dir(d.path()).env("RUNNER_FETCH_MIRROR", format!("http://127.0.0.1:{}/", s.port)).env_remove("RUNNER_DATA_DIR");
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(d.path().join("data/amazon-All_Beauty/meta_All_Beauty.jsonl.gz").exists());
    let csv = std::fs::read_to_string(d.path().join("results/f/results.csv")).unwrap();
    assert!(csv.contains("popularity"), "{csv}");
    // fetch = true with a category the release does not have is a config error.
    std::fs::write(d.path().join("g.toml"), body.replace("All_Beauty", "Beauty").replace("\"f\"", "\"g\"")).unwrap();
    let (code, _, err) = runner(d.path(), &["validate", "g.toml"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("category") && err.contains("did you mean `All_Beauty`"), "{err}");
}

#[test]
fn a_truncated_gzip_leaves_no_dataset_folder() {
    let meta = fixture_gz("meta_All_Beauty.jsonl");
    let s = serve(fixture_gz("All_Beauty.jsonl"), meta[..meta.len() - 20].to_vec());
    let d = tempfile::tempdir().unwrap();
    let (code, _, err) = fetch(d.path(), &s, "amazon-All_Beauty");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("meta_All_Beauty.jsonl.gz is not a whole gzip file") && err.contains("was not created"), "{err}");
    assert!(!d.path().join("data/amazon-All_Beauty").exists());
    // The bad download is gone (resuming it cannot mend it); the good one waits for the next try.
    let mut parts: Vec<String> = std::fs::read_dir(d.path().join("data/.fetch"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| !n.ends_with(".lock"))
        .collect();
    parts.sort();
    assert_eq!(parts, ["All_Beauty.jsonl.gz.part"]);
    // Once the mirror serves a whole file, the next fetch resumes the verified reviews (a
    // `Range` from their end: nothing more is sent) and completes.
    *s.meta.lock().unwrap() = fixture_gz("meta_All_Beauty.jsonl");
    let (code, out, err) = fetch(d.path(), &s, "amazon-All_Beauty");
    assert_eq!(code, 0, "{out}\n{err}");
    let reviews_len = fixture_gz("All_Beauty.jsonl").len();
    let asked: Vec<Option<usize>> = s.log.lock().unwrap().iter().filter(|(p, _)| p.ends_with("/All_Beauty.jsonl.gz")).map(|(_, r)| *r).collect();
    assert_eq!(asked, [None, Some(reviews_len)]);
    assert_eq!(load_amazon(&d.path().join("data/amazon-All_Beauty"), "All_Beauty").unwrap().item_features.names().len(), 8);
    // A server with neither file: a 404 naming the URL, nothing created.
    let (code, _, err) = fetch(d.path(), &s, "amazon-Books");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("raw/review_categories/Books.jsonl.gz answered HTTP 404"), "{err}");
    assert!(!d.path().join("data/amazon-Books").exists());
    assert!(s.log.lock().unwrap().iter().all(|(p, _)| p.starts_with("/raw/")), "{:?}", s.log.lock().unwrap());
}
