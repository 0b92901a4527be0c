//! Golden tables: the quickstart, a node2vec comparison and the graph tasks on a generated
//! graph, each trained on one thread (bit-exact for a seed), must keep the table they had
//! when the golden files were written: the same header and, in every metric cell, the same
//! value (within one unit of the last printed digit, so a CPU with other SIMD kernels agrees).
//! Timing columns are left out. `UPDATE_GOLDEN=1 cargo test --release --test golden` rewrites
//! the files (exactly `1`: any other value is an error, not a silent rewrite, and under
//! `CI=true` rewriting is refused). A change to them is a change to every user's tables: it
//! is its own commit, touching only `tests/golden/`, whose message gives the old and new
//! values and the reason. `.ci/run` fails when the goldens differ from the committed ones
//! after the tests and when a commit mixes a golden change with other files
//! (`scripts/check-goldens.sh`).

mod common;
use common::*;
use serde_json::{json, Value};
use std::path::Path;

/// Columns that measure the machine, not the model.
const TIMING: &[&str] = &["train_s", "build_s", "index_MiB", "qps", "qps_1t", "qps_all", "qps_batch", "p50_us", "p95_us", "p99_us", "max_us"];

/// The table of a finished experiment without its timing columns: results.md's "All
/// columns" table (the paper's tables above it choose and rename columns).
fn table(results: &Path, name: &str) -> Value {
    let md = std::fs::read_to_string(results.join(name).join("results.md")).unwrap();
    let all = &md[md.find("\n## All columns\n").expect("an All columns table")..];
    let mut lines = all.lines().filter(|l| l.starts_with('|'));
    let cells = |l: &str| -> Vec<String> { l.trim_matches('|').split(" | ").map(|c| c.trim().to_string()).collect() };
    let header = cells(lines.next().unwrap());
    let keep: Vec<usize> = (0..header.len()).filter(|&i| !TIMING.contains(&header[i].as_str())).collect();
    let rows: Vec<Vec<String>> = lines.skip(1).map(|l| cells(l)).map(|r| keep.iter().map(|&i| r[i].clone()).collect()).collect();
    json!({"header": keep.iter().map(|&i| header[i].clone()).collect::<Vec<_>>(), "rows": rows})
}

fn same_cell(a: &str, b: &str) -> bool {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => (x - y).abs() <= 1.5e-4 * x.abs().max(1.0),
        _ => a == b,
    }
}

/// Whether this run rewrites the goldens instead of checking them.
fn updating() -> bool {
    match std::env::var("UPDATE_GOLDEN") {
        Err(_) => false,
        Ok(v) if v == "1" => {
            assert!(std::env::var("CI").map_or(true, |c| c != "true"), "UPDATE_GOLDEN=1 under CI=true: CI checks the goldens, it never rewrites them");
            true
        }
        Ok(v) => panic!("UPDATE_GOLDEN={v:?}: set it to 1 to rewrite the golden tables, or unset it to check them"),
    }
}

fn check(golden: &str, got: Value) {
    let path = Path::new("tests/golden").join(golden);
    if updating() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
        return;
    }
    let want: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap();
    assert_eq!(got["header"], want["header"], "{golden}: columns changed");
    let (g, w) = (got["rows"].as_array().unwrap(), want["rows"].as_array().unwrap());
    assert_eq!(g.len(), w.len(), "{golden}: row count changed");
    for (gr, wr) in g.iter().zip(w) {
        let (gr, wr) = (gr.as_array().unwrap(), wr.as_array().unwrap());
        for (i, (a, b)) in gr.iter().zip(wr).enumerate() {
            let col = got["header"][i].as_str().unwrap_or("?");
            assert!(same_cell(a.as_str().unwrap(), b.as_str().unwrap()), "{golden}: row {} column {col}: {a} now, {b} in the golden table", gr[0]);
        }
    }
}

fn run_config(cfg: &Path, sets: &[&str], name: &str) -> Value {
    let d = tempfile::tempdir().unwrap();
    let mut all = sandbox_sets(d.path());
    all.extend(sets.iter().map(|s| s.to_string()));
    let exp = load(cfg, &all);
    let plan = runner::pipeline::plan(vec![exp]).unwrap();
    let exec = runner::pipeline::stages::Executor::new(&plan, false, false);
    let (_, errors) = runner::pipeline::dag::execute(&plan, &exec, 1, &|_| {});
    assert!(errors.is_empty(), "{:?}", errors.iter().map(|e| format!("{e:#}")).collect::<Vec<_>>());
    table(&d.path().join("results"), name)
}

#[test]
fn quickstart_table_is_unchanged() {
    check("quickstart.json", run_config(Path::new("configs/quickstart.toml"), &["model.2.threads=1"], "quickstart"));
}

#[test]
fn node2vec_synthetic_table_is_unchanged() {
    check(
        "node2vec-synthetic.json",
        run_config(Path::new("configs/node2vec-synthetic.toml"), &["model.1.threads=1", "model.2.threads=1"], "node2vec-synthetic"),
    );
}

/// A planted-partition graph: 4 communities of 60 nodes, dense inside, sparse across; each
/// node labelled with its community.
fn planted_graph(dir: &Path) {
    let mut edges = String::new();
    let mut labels = String::new();
    let n = 240u64;
    let mut state = 12345u64;
    let mut next = || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 33) as f64 / (1u64 << 31) as f64
    };
    for u in 0..n {
        labels += &format!("{u}\tc{}\n", u / 60);
        for v in (u + 1)..n {
            let p = if u / 60 == v / 60 { 0.15 } else { 0.005 };
            if next() < p {
                edges += &format!("{u} {v}\n");
            }
        }
    }
    std::fs::write(dir.join("g.edgelist"), edges).unwrap();
    std::fs::write(dir.join("g.labels"), labels).unwrap();
}

#[test]
fn graph_task_tables_are_unchanged() {
    let d = tempfile::tempdir().unwrap();
    planted_graph(d.path());
    let model = "[[model]]\nkind = \"node2vec\"\ngraph = \"dataset\"\ndim = 16\nwalks_per_node = 4\nwalk_length = 20\nwindow = 5\nthreads = 1\n";
    let nc = format!(
        "[experiment]\nname = \"nc\"\ndata_dir = \"{}\"\n[dataset]\nkind = \"edges\"\npath = \"g.edgelist\"\nlabels = \"g.labels\"\n[split]\nkind = \"none\"\n{model}[metrics]\ntask = \"node_classification\"\nrepeats = 3\n",
        d.path().display()
    );
    let lp = format!(
        "[experiment]\nname = \"lp\"\ndata_dir = \"{}\"\n[dataset]\nkind = \"edges\"\npath = \"g.edgelist\"\n[split]\nkind = \"edge_holdout\"\n{model}[metrics]\ntask = \"link_prediction\"\n",
        d.path().display()
    );
    check("node-classification.json", run_config(&write_config(d.path(), "nc.toml", &nc), &[], "nc"));
    check("link-prediction.json", run_config(&write_config(d.path(), "lp.toml", &lp), &[], "lp"));
}
