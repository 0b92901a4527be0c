//! Our side of the node2vec benchmark: node2vec walks (runner's `graph::walks`), optional
//! skip-gram embedding (runner's `sgns`) and node classification (runner's `graph::eval`);
//! prints one JSON object per run with the same keys as `pecanpy_side.py`.
//!
//! usage: node2vec_bench --graph FILE.edg --p P --q Q [--labels FILE.labels.tsv]
//!        [--threads T] [--repeat R] [--mode otf|alias] [--embed] [--dim 128] [--window 10] [--hogwild] [--stale N] [--hub X] [--share-negatives N]
//!        node2vec_bench --graph FILE.edg --p P --q Q --emb-out PREFIX [--seed S] [--threads T] [--hogwild] [--stale N] [--hub X] [--share-negatives N]
//!
//! With `--emb-out` it runs the end-to-end pipeline once, as `pecanpy_side.py --emb-out`
//! does for PecanPy + gensim: read the graph, walks (r = 10, l = 80), skip-gram (d = 128,
//! window 10, negative 5, 1 epoch, sample 0), and writes `PREFIX.npy` (float32 rows) and
//! `PREFIX.ids` (the raw node id of each row, one a line) for the shared evaluator
//! (`evaluate.py`); no classification runs in this process, so its peak RSS is the
//! pipeline's alone.

#![allow(dead_code, unused_imports)]

#[path = "../../../../src/data/corpus.rs"]
pub mod corpus;
#[path = "../../../../src/linalg.rs"]
mod linalg;

/// Mirrors the parts of runner's `crate::data` that `graph` uses.
mod data {
    pub use super::corpus;
    use std::collections::HashMap;

    #[derive(Clone, Copy, Debug, PartialEq)]
    pub struct Interaction {
        pub user: u32,
        pub item: u32,
        pub rating: f32,
        pub ts: i64,
    }

    #[derive(Clone, Debug, Default, PartialEq)]
    pub struct Split {
        pub n_users: usize,
        pub n_items: usize,
        pub train: Vec<Interaction>,
    }

    impl Split {
        pub fn by_user(&self, list: &[Interaction]) -> Vec<Vec<u32>> {
            let mut out = vec![Vec::new(); self.n_users];
            for it in list {
                out[it.user as usize].push(it.item);
            }
            out
        }
    }

    #[derive(Clone, Debug, Default, PartialEq)]
    pub struct IdMap {
        raw: Vec<String>,
        index: HashMap<String, u32>,
    }

    impl IdMap {
        pub fn intern(&mut self, raw: &str) -> u32 {
            if let Some(&i) = self.index.get(raw) {
                return i;
            }
            let i = self.raw.len() as u32;
            self.raw.push(raw.to_string());
            self.index.insert(raw.to_string(), i);
            i
        }
        pub fn get(&self, raw: &str) -> Option<u32> {
            self.index.get(raw).copied()
        }
        pub fn len(&self) -> usize {
            self.raw.len()
        }
        pub fn raws(&self) -> &[String] {
            &self.raw
        }
        pub fn from_raws(raws: Vec<String>) -> Self {
            let index = raws.iter().enumerate().map(|(i, r)| (r.clone(), i as u32)).collect();
            IdMap { raw: raws, index }
        }
    }
}

#[path = "../../../../src/graph/mod.rs"]
mod graph;
#[path = "../../../../src/sgns/mod.rs"]
mod sgns;

use anyhow::{bail, Result};
use data::corpus::Corpus;
use std::path::Path;
use std::time::Instant;

fn peak_rss_mib() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// Writes `prefix.npy` (little-endian float32, C order, rows x cols) and `prefix.ids`.
fn write_embedding(prefix: &str, m: &linalg::Matrix, ids: &[String]) -> Result<()> {
    use std::io::Write;
    if ids.len() != m.rows {
        bail!("{} ids for {} rows", ids.len(), m.rows);
    }
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {}), }}", m.rows, m.cols);
    // magic (6) + version (2) + header length (2) + header, padded with spaces to a multiple
    // of 64 and ended by a newline (.npy format 1.0).
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut f = std::io::BufWriter::new(std::fs::File::create(format!("{prefix}.npy"))?);
    f.write_all(b"\x93NUMPY\x01\x00")?;
    f.write_all(&(header.len() as u16).to_le_bytes())?;
    f.write_all(header.as_bytes())?;
    for r in m.rows_iter() {
        for x in r {
            f.write_all(&x.to_le_bytes())?;
        }
    }
    f.flush()?;
    let mut f = std::io::BufWriter::new(std::fs::File::create(format!("{prefix}.ids"))?);
    for id in ids {
        writeln!(f, "{id}")?;
    }
    f.flush()?;
    Ok(())
}

/// Writes one walk per line, raw node ids separated by spaces (run.sh's CROSS check).
fn write_walks(path: &str, corpus: &Corpus, raws: &[String]) -> Result<()> {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    for w in corpus.iter() {
        let line: Vec<&str> = w.iter().map(|&t| raws[t as usize].as_str()).collect();
        writeln!(f, "{}", line.join(" "))?;
    }
    f.flush()?;
    Ok(())
}

/// Reads walks written by `write_walks` or pecanpy_side.py --walks-out into a corpus over
/// this graph's node indices.
fn read_walks(path: &str, raws: &[String]) -> Result<Corpus> {
    let index: std::collections::HashMap<&str, u32> = raws.iter().enumerate().map(|(i, r)| (r.as_str(), i as u32)).collect();
    let mut corpus = Corpus::new(raws.len());
    let mut seq = Vec::new();
    for (n, line) in std::fs::read_to_string(path)?.lines().enumerate() {
        seq.clear();
        for tok in line.split_whitespace() {
            let Some(&i) = index.get(tok) else { bail!("{path}:{}: node {tok} is not in the graph", n + 1) };
            seq.push(i);
        }
        corpus.push(&seq);
    }
    Ok(corpus)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let get = |k: &str| args.iter().position(|a| a == k).map(|i| args[i + 1].clone());
    let Some(path) = get("--graph") else { bail!("--graph FILE is required") };
    let p: f64 = get("--p").unwrap_or("1".into()).parse()?;
    let q: f64 = get("--q").unwrap_or("1".into()).parse()?;
    let threads: usize = get("--threads").unwrap_or("2".into()).parse()?;
    let repeat: usize = get("--repeat").unwrap_or("3".into()).parse()?;
    let mode = match get("--mode").as_deref() {
        Some("alias") => graph::walks::WalkMode::Alias,
        _ => graph::walks::WalkMode::Otf,
    };
    let embed = args.iter().any(|a| a == "--embed");
    let dim: usize = get("--dim").unwrap_or("128".into()).parse()?;
    let window: usize = get("--window").unwrap_or("10".into()).parse()?;
    let mut opts = sgns::engine::EngineOptions::default();
    if args.iter().any(|a| a == "--hogwild") {
        opts.sharing = sgns::engine::Sharing::Hogwild;
    }
    if let Some(s) = get("--hub") {
        opts.hub_multiple = s.parse()?;
    }
    if let Some(s) = get("--stale") {
        opts.stale_updates = s.parse()?;
    }
    let share_negatives: usize = get("--share-negatives").map(|s| s.parse()).transpose()?.unwrap_or(sgns::SHARE_NEGATIVES);
    rayon::ThreadPoolBuilder::new().num_threads(threads).build_global()?;

    let t = Instant::now();
    let el = graph::csr::read_edge_list(Path::new(&path), false)?;
    let read_s = t.elapsed().as_secs_f64();
    let g = &el.graph;
    let cfg = graph::walks::WalkConfig { p, q, walks_per_node: 10, walk_length: 80, mode };
    if let Some(prefix) = get("--emb-out") {
        let seed: u64 = get("--seed").unwrap_or("0".into()).parse()?;
        let t = Instant::now();
        let corpus = match get("--walks-in") {
            Some(f) => read_walks(&f, el.ids.raws())?,
            None => graph::walks::generate_walks(g, &cfg, seed)?,
        };
        let walk_s = t.elapsed().as_secs_f64();
        if let Some(f) = get("--walks-out") {
            write_walks(&f, &corpus, el.ids.raws())?;
        }
        let scfg = sgns::SgnsConfig { dim, window, negatives: 5, epochs: 1, sample: 0.0, threads, seed: seed + 1, share_negatives, ..Default::default() };
        let t = Instant::now();
        let emb = sgns::engine::train_with(&corpus, &scfg, opts, &mut |_| {})?;
        let train_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        write_embedding(&prefix, &emb.centre, el.ids.raws())?;
        let write_s = t.elapsed().as_secs_f64();
        println!(
            "{}",
            serde_json::json!({
                "side": if get("--walks-in").is_some() { "pecanpy-walks+ours" } else { "ours" }, "graph": Path::new(&path).file_name().unwrap().to_string_lossy(),
                "nodes": g.n_nodes(), "p": p, "q": q, "threads": threads, "seed": seed,
                "read_s": read_s, "walk_s": walk_s, "train_s": train_s, "write_s": write_s,
                "walk_tokens": corpus.tokens.len(), "peak_rss_mib_self": peak_rss_mib(),
                "emb": format!("{prefix}.npy"),
            })
        );
        return Ok(());
    }
    let mut times = Vec::new();
    let mut corpus = None;
    for rep in 0..repeat {
        let t = Instant::now();
        let c = graph::walks::generate_walks(g, &cfg, rep as u64)?;
        times.push(t.elapsed().as_secs_f64());
        corpus = Some(c);
    }
    let corpus = corpus.unwrap();
    let walk_rss = peak_rss_mib();
    times.sort_by(f64::total_cmp);
    let mut out = serde_json::json!({
        "side": "runner", "graph": Path::new(&path).file_name().unwrap().to_string_lossy(),
        "nodes": g.n_nodes(), "edges": g.n_edges(), "p": p, "q": q, "threads": threads,
        "mode": format!("{mode:?}").to_lowercase(), "read_s": read_s,
        "walk_s_median": times[times.len() / 2], "walk_s_all": times,
        "walk_tokens": corpus.tokens.len(), "peak_rss_mib_after_walks": walk_rss,
    });
    if embed {
        let seed: u64 = get("--seed").unwrap_or("1".into()).parse()?;
        let scfg = sgns::SgnsConfig { dim, window, negatives: 5, epochs: 1, sample: 0.0, threads, seed, share_negatives, ..Default::default() };
        let t = Instant::now();
        let emb = sgns::engine::train_with(&corpus, &scfg, opts, &mut |_| {})?;
        out["embed_s"] = serde_json::json!(t.elapsed().as_secs_f64());
        if let Some(lp) = get("--labels") {
            let labels = graph::labels::read_labels(Path::new(&lp), &el.ids)?;
            let t = Instant::now();
            let r = graph::eval::node_classification(&emb.centre, &labels, &Default::default(), 0)?;
            out["classify_s"] = serde_json::json!(t.elapsed().as_secs_f64());
            out["macro_f1"] = serde_json::json!(r.macro_f1);
            out["micro_f1"] = serde_json::json!(r.micro_f1);
            out["macro_f1_std"] = serde_json::json!(r.macro_f1_std);
        }
        out["peak_rss_mib"] = serde_json::json!(peak_rss_mib());
    }
    println!("{out}");
    Ok(())
}
