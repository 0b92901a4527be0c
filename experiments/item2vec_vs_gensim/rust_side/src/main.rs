//! Our side of the Item2Vec benchmark: same data, split, parameters and evaluation as
//! `gensim_side.py`; prints one JSON object with the same keys.
//!
//! usage: item2vec_bench [--data PATH] [--threads T] [--repeat R] [--arch skipgram|cbow]
//!        [--portable] [--dump-vectors FILE]

#![allow(dead_code, unused_imports)]

#[path = "../../../../src/data/corpus.rs"]
pub mod corpus;
#[path = "../../../../src/linalg.rs"]
mod linalg;
/// Mirrors runner's `crate::data::corpus` path, which the sgns files use.
mod data {
    pub use super::corpus;
}
#[path = "../../../../src/sgns/mod.rs"]
mod sgns;

use anyhow::{bail, Context, Result};
use data::corpus::Corpus;
use linalg::Matrix;
use sgns::engine::{train_with, EngineOptions, KernelChoice, Sharing};
use sgns::{Arch, SgnsConfig};
use std::collections::BTreeMap;
use std::io::Write;
use std::time::Instant;

struct Split {
    /// raw MovieLens item id of every dense id.
    raw: Vec<u32>,
    train: Vec<Vec<u32>>,
    test: Vec<u32>,
}

/// Per user items sorted by (ts, item), last one held out; dense ids in order of first raw id.
fn load(path: &str) -> Result<Split> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    let mut per_user: BTreeMap<u32, Vec<(i64, u32)>> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 4 {
            bail!("bad line {line:?}");
        }
        per_user.entry(f[0].parse()?).or_default().push((f[3].parse()?, f[1].parse()?));
    }
    let mut raws: Vec<u32> = per_user.values().flatten().map(|x| x.1).collect();
    raws.sort_unstable();
    raws.dedup();
    let dense = |r: u32| raws.binary_search(&r).unwrap() as u32;
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for (_, mut v) in per_user {
        if v.len() < 2 {
            continue;
        }
        v.sort_unstable();
        let items: Vec<u32> = v.iter().map(|x| dense(x.1)).collect();
        test.push(*items.last().unwrap());
        train.push(items[..items.len() - 1].to_vec());
    }
    Ok(Split { raw: raws, train, test })
}

/// Recall@10, NDCG@10: query = mean of the last 5 L2-normalised training vectors, seen items
/// excluded, full cosine ranking (ties in the held-out item's favour, as the python side).
fn evaluate(items: &Matrix, split: &Split) -> (f64, f64) {
    let mut m = items.clone();
    m.normalize_rows();
    let (mut recall, mut ndcg) = (0.0, 0.0);
    let mut q = vec![0.0f32; m.cols];
    for (hist, &held) in split.train.iter().zip(&split.test) {
        q.iter_mut().for_each(|x| *x = 0.0);
        let last = &hist[hist.len().saturating_sub(5)..];
        for &i in last {
            linalg::axpy(1.0 / last.len() as f32, m.row(i as usize), &mut q);
        }
        let mut seen = hist.clone();
        seen.sort_unstable();
        let s_held = linalg::dot(&q, m.row(held as usize));
        let rank = (0..m.rows as u32).filter(|i| seen.binary_search(i).is_err()).filter(|&i| linalg::dot(&q, m.row(i as usize)) > s_held).count();
        if seen.binary_search(&held).is_err() && rank < 10 {
            recall += 1.0;
            ndcg += 1.0 / ((rank + 2) as f64).log2();
        }
    }
    let n = split.test.len() as f64;
    (recall / n, ndcg / n)
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(|l| l.to_string()))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|k| k.parse::<f64>().ok()))
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Process CPU time (user + system, all threads) in seconds, from /proc/self/stat (clock
/// ticks of 1/100 s, Linux's USER_HZ).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |x| x.1);
    let f: Vec<f64> = after.split_whitespace().map(|x| x.parse().unwrap_or(0.0)).collect();
    // After the command name: state is field 3, utime field 14, stime field 15.
    if f.len() > 13 {
        (f[11] + f[12]) / 100.0
    } else {
        f64::NAN
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn mean_sd(v: &[f64]) -> (f64, f64) {
    let m = v.iter().sum::<f64>() / v.len() as f64;
    (m, (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / v.len() as f64).sqrt())
}

fn main() -> Result<()> {
    let mut data = "../shared/data/ml-100k/u.data".to_string(); // relative to the repository root
    let mut cfg = SgnsConfig { dim: 64, window: 5, negatives: 5, epochs: 10, sample: 0.0, ..Default::default() };
    let (mut repeat, mut opts, mut dump) = (3usize, EngineOptions::default(), None::<String>);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().context("missing value");
        match a.as_str() {
            "--data" => data = val()?,
            "--threads" => cfg.threads = val()?.parse()?,
            "--repeat" => repeat = val()?.parse()?,
            "--epochs" => cfg.epochs = val()?.parse()?,
            "--dim" => cfg.dim = val()?.parse()?,
            "--arch" => cfg.arch = if val()? == "cbow" { Arch::Cbow } else { Arch::SkipGram },
            "--no-dynamic-window" => cfg.dynamic_window = false,
            "--distance-weighting" => cfg.distance_weighting = true,
            "--portable" => opts.kernels = KernelChoice::Portable,
            "--hogwild" => opts.sharing = Sharing::Hogwild,
            "--stale" => opts.stale_updates = val()?.parse()?,
            "--hub" => opts.hub_multiple = val()?.parse()?,
            "--share-negatives" => cfg.share_negatives = val()?.parse()?,
            "--dump-vectors" => dump = Some(val()?),
            _ => bail!("unknown argument {a}"),
        }
    }
    let split = load(&data)?;
    let mut corpus = Corpus::new(split.raw.len());
    split.train.iter().for_each(|s| corpus.push(s));
    let mut runs = Vec::new();
    for seed in 0..repeat as u64 {
        cfg.seed = seed;
        let (t0, c0) = (Instant::now(), cpu_seconds());
        let out = train_with(&corpus, &cfg, opts, &mut |_| {})?;
        let wall = t0.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - c0;
        let (r, n) = evaluate(&out.centre, &split);
        let tps = corpus.tokens.len() as f64 * cfg.epochs as f64 / wall;
        let losses: Vec<f64> = out.epochs.iter().map(|e| e.loss).collect();
        runs.push((wall, tps, r, n, losses, cpu));
        if let (Some(path), 0) = (&dump, seed) {
            let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
            for (i, raw) in split.raw.iter().enumerate() {
                write!(f, "{raw}")?;
                out.centre.row(i).iter().try_for_each(|x| write!(f, " {x}"))?;
                writeln!(f)?;
            }
        }
    }
    let (recall, recall_sd) = mean_sd(&runs.iter().map(|r| r.2).collect::<Vec<_>>());
    let (ndcg, ndcg_sd) = mean_sd(&runs.iter().map(|r| r.3).collect::<Vec<_>>());
    println!(
        "{{\"side\": \"ours\", \"arch\": \"{:?}\", \"kernels\": \"{:?}\", \"sharing\": \"{:?}\", \"share_negatives\": {}, \"threads\": {}, \"tokens\": {}, \"epochs\": {}, \"repeat\": {}, \"tokens_per_s\": {}, \"wall_s\": {}, \"cpu_s\": {}, \"peak_rss_mib\": {}, \"recall@10\": {}, \"recall@10_sd\": {}, \"ndcg@10\": {}, \"ndcg@10_sd\": {}, \"loss_first\": {}, \"loss_last\": {}}}",
        cfg.arch,
        opts.kernels,
        opts.sharing,
        cfg.share_negatives,
        cfg.threads,
        corpus.tokens.len(),
        cfg.epochs,
        repeat,
        median(runs.iter().map(|r| r.1).collect()),
        median(runs.iter().map(|r| r.0).collect()),
        median(runs.iter().map(|r| r.5).collect()),
        peak_rss_mib(),
        recall,
        recall_sd,
        ndcg,
        ndcg_sd,
        runs[0].4[0],
        runs[0].4.last().unwrap(),
    );
    Ok(())
}
