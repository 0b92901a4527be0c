//! Graph-embedding evaluations of the node2vec paper.
//!
//! - [`node_classification`]: a fraction of the labelled nodes (default 0.5) trains a
//!   one-vs-rest L2 logistic regression on the node vectors; each test node is assigned its
//!   top-k classes by score, k = its number of true classes (the DeepWalk / node2vec
//!   protocol); Macro- and Micro-F1 are averaged over `repeats` seeded random splits.
//!   Macro-F1 averages over the classes that occur in the test nodes' true or predicted
//!   labels of that split (a class absent from both has no defined F1). With a validation
//!   share, a fixed draw of the labelled nodes is set aside first: a search's evaluation runs
//!   the protocol on those nodes alone, the test evaluation on the others, so choosing a
//!   configuration reads no label the test protocol uses.
//! - [`link_split`] + [`link_prediction_auc`]: hold out a fraction of the edges while never
//!   removing an edge of a random spanning forest (so every connected component stays
//!   connected), sample as many non-edges, embed the residual graph (the caller's job), then
//!   a logistic regression on Hadamard features `u * v` separates training edges from
//!   training non-edges and is scored by ROC-AUC on the held-out edges and non-edges.

use super::csr::{Duplicates, Graph};
use super::labels::NodeLabels;
use super::logreg::{fit_binary, fit_ovr, Design, LogRegConfig};
use crate::linalg::Matrix;
use anyhow::{bail, Result};
use rand::seq::SliceRandom;
use rand::Rng;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

fn rng_for(seed: u64, stream: u64) -> Xoshiro256PlusPlus {
    super::walks::walk_rng(seed, u32::MAX, stream as usize)
}

/// Node-classification protocol.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeClassConfig {
    /// Fraction of labelled nodes used for training.
    pub train_fraction: f64,
    /// Random splits averaged over.
    pub repeats: usize,
    pub logreg: LogRegConfig,
    /// Fraction of the labelled nodes held out for model selection: the same nodes for every
    /// run and seed (a fixed draw), never a test node; 0 = none (the paper's protocol).
    pub valid_fraction: f64,
    /// Run the protocol on the validation nodes alone (their own train/test draws), so that
    /// a search reads no label of the nodes the test protocol uses.
    pub on_validation: bool,
}

impl Default for NodeClassConfig {
    fn default() -> Self {
        NodeClassConfig { train_fraction: 0.5, repeats: 10, logreg: LogRegConfig::default(), valid_fraction: 0.0, on_validation: false }
    }
}

/// The random stream of the validation nodes' draw: independent of every run's seed, so a
/// search chooses every model on the same nodes.
const VALID_STREAM: u64 = 0x7661_6c69_6400;

/// Scores of one split.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct F1Scores {
    pub macro_f1: f64,
    pub micro_f1: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeClassResult {
    pub macro_f1: f64,
    pub micro_f1: f64,
    /// Standard deviations over the splits.
    pub macro_f1_std: f64,
    pub micro_f1_std: f64,
    pub splits: Vec<F1Scores>,
    /// Labelled nodes the protocol ran on (the validation draw, or the others).
    pub n_labelled: usize,
    pub n_classes: usize,
}

fn mean_std(v: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    let n = v.clone().count().max(1) as f64;
    let m = v.clone().sum::<f64>() / n;
    let var = v.map(|x| (x - m) * (x - m)).sum::<f64>() / n;
    (m, var.sqrt())
}

/// Multi-label F1 of predicted vs true class lists (`n_classes` classes).
pub fn f1_scores(truth: &[Vec<u32>], pred: &[Vec<u32>], n_classes: usize) -> F1Scores {
    let (mut tp, mut fp, mut fnn) = (vec![0u64; n_classes], vec![0u64; n_classes], vec![0u64; n_classes]);
    for (t, p) in truth.iter().zip(pred) {
        for &c in p {
            if t.contains(&c) {
                tp[c as usize] += 1;
            } else {
                fp[c as usize] += 1;
            }
        }
        for &c in t {
            if !p.contains(&c) {
                fnn[c as usize] += 1;
            }
        }
    }
    let f1 = |tp: u64, fp: u64, fnn: u64| if tp == 0 { 0.0 } else { 2.0 * tp as f64 / (2 * tp + fp + fnn) as f64 };
    let (ttp, tfp, tfn) = (tp.iter().sum(), fp.iter().sum(), fnn.iter().sum());
    let present: Vec<usize> = (0..n_classes).filter(|&c| tp[c] + fp[c] + fnn[c] > 0).collect();
    let macro_f1 = if present.is_empty() { 0.0 } else { present.iter().map(|&c| f1(tp[c], fp[c], fnn[c])).sum::<f64>() / present.len() as f64 };
    F1Scores { macro_f1, micro_f1: f1(ttp, tfp, tfn) }
}

fn row_f64(emb: &Matrix, u: u32) -> Vec<f64> {
    emb.row(u as usize).iter().map(|&x| x as f64).collect()
}

/// The `n` validation nodes of the labelled nodes `labelled`, sorted: a draw that depends on
/// nothing else (not the run's seed), so every run and model of a search holds out the same.
pub fn validation_nodes(labelled: &[u32], n: usize) -> Vec<u32> {
    let mut order = labelled.to_vec();
    order.shuffle(&mut rng_for(0, VALID_STREAM));
    order.truncate(n);
    order.sort_unstable();
    order
}

/// Node classification of `emb` (one row per dense node id) against `labels`.
pub fn node_classification(emb: &Matrix, labels: &NodeLabels, cfg: &NodeClassConfig, seed: u64) -> Result<NodeClassResult> {
    if emb.rows != labels.of_node.len() {
        bail!("embedding has {} rows but the graph has {} nodes", emb.rows, labels.of_node.len());
    }
    if !(cfg.train_fraction > 0.0 && cfg.train_fraction < 1.0) {
        bail!("train_fraction must be in (0, 1), got {}", cfg.train_fraction);
    }
    if cfg.repeats == 0 {
        bail!("repeats must be at least 1");
    }
    if !(0.0..1.0).contains(&cfg.valid_fraction) {
        bail!("valid_fraction must be in [0, 1), got {}", cfg.valid_fraction);
    }
    let labelled = labels.labelled_nodes();
    let n_valid = ((labelled.len() as f64) * cfg.valid_fraction).round() as usize;
    if cfg.valid_fraction > 0.0 && (n_valid == 0 || n_valid == labelled.len()) {
        bail!("{} labelled nodes cannot be split with valid_fraction {}", labelled.len(), cfg.valid_fraction);
    }
    if cfg.on_validation && n_valid == 0 {
        bail!("node classification on validation nodes needs [metrics] valid_fraction > 0");
    }
    // The nodes the protocol runs on: the validation draw, or the labelled nodes outside it.
    let valid = validation_nodes(&labelled, n_valid);
    let nodes = if cfg.on_validation { valid } else { labelled.iter().copied().filter(|u| valid.binary_search(u).is_err()).collect() };
    let n_train = ((nodes.len() as f64) * cfg.train_fraction).round() as usize;
    if n_train == 0 || n_train == nodes.len() {
        bail!("{} labelled nodes cannot be split with train_fraction {}", nodes.len(), cfg.train_fraction);
    }
    let k = labels.n_classes();
    let mut splits = Vec::with_capacity(cfg.repeats);
    for rep in 0..cfg.repeats {
        let mut order = nodes.clone();
        order.shuffle(&mut rng_for(seed, rep as u64));
        let (train, test) = order.split_at(n_train);
        let x = Design::from_rows(train.iter().map(|&u| row_f64(emb, u)), emb.cols);
        let y: Vec<Vec<u32>> = train.iter().map(|&u| labels.of_node[u as usize].clone()).collect();
        let models = fit_ovr(&x, &y, k, &cfg.logreg);
        let mut truth = Vec::with_capacity(test.len());
        let mut pred = Vec::with_capacity(test.len());
        for &u in test {
            let xu = row_f64(emb, u);
            let t = labels.of_node[u as usize].clone();
            let mut scored: Vec<(f64, u32)> = models.iter().enumerate().map(|(c, m)| (m.score(&xu), c as u32)).collect();
            scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            pred.push(scored.iter().take(t.len()).map(|s| s.1).collect());
            truth.push(t);
        }
        splits.push(f1_scores(&truth, &pred, k));
    }
    let (macro_f1, macro_f1_std) = mean_std(splits.iter().map(|s| s.macro_f1));
    let (micro_f1, micro_f1_std) = mean_std(splits.iter().map(|s| s.micro_f1));
    Ok(NodeClassResult { macro_f1, micro_f1, macro_f1_std, micro_f1_std, splits, n_labelled: nodes.len(), n_classes: k })
}

/// A link-prediction split: the residual graph to embed, and labelled pairs.
#[derive(Clone, Debug)]
pub struct LinkSplit {
    /// The input graph minus the held-out edges (same nodes).
    pub train_graph: Graph,
    /// Edges of `train_graph` and as many non-edges, for fitting the classifier.
    pub train_pos: Vec<(u32, u32)>,
    pub train_neg: Vec<(u32, u32)>,
    /// Held-out edges and as many other non-edges, for the AUC.
    pub test_pos: Vec<(u32, u32)>,
    pub test_neg: Vec<(u32, u32)>,
}

fn find(parent: &mut [u32], mut x: u32) -> u32 {
    while parent[x as usize] != x {
        parent[x as usize] = parent[parent[x as usize] as usize];
        x = parent[x as usize];
    }
    x
}

/// Holds out `test_fraction` of the edges of `g` (self-loops are never held out), never
/// removing an edge of a random spanning forest, so components stay connected (weakly, for
/// directed graphs). Fewer edges are held out when too few lie outside the forest.
/// Non-edges are drawn uniformly among pairs of distinct nodes with no arc in `g` (either
/// direction for undirected graphs), distinct from each other.
pub fn link_split(g: &Graph, test_fraction: f64, seed: u64) -> Result<LinkSplit> {
    if !(test_fraction > 0.0 && test_fraction < 1.0) {
        bail!("test_fraction must be in (0, 1), got {test_fraction}");
    }
    let n = g.n_nodes();
    let mut rng = rng_for(seed, 1 << 40);
    let mut edges: Vec<(u32, u32, f32)> = g.edges().filter(|e| e.0 != e.1).collect();
    let loops: Vec<(u32, u32, f32)> = g.edges().filter(|e| e.0 == e.1).collect();
    edges.shuffle(&mut rng);
    let mut parent: Vec<u32> = (0..n as u32).collect();
    let mut tree = Vec::new();
    let mut candidates = Vec::new();
    for e in edges.iter().copied() {
        let (a, b) = (find(&mut parent, e.0), find(&mut parent, e.1));
        if a != b {
            parent[a as usize] = b;
            tree.push(e);
        } else {
            candidates.push(e);
        }
    }
    let want = ((edges.len() as f64) * test_fraction).round() as usize;
    let n_test = want.min(candidates.len());
    if n_test == 0 {
        bail!("no edge can be held out without disconnecting the graph");
    }
    let test: Vec<(u32, u32, f32)> = candidates.drain(..n_test).collect();
    let mut kept = tree;
    kept.extend(candidates);
    kept.extend(loops);
    let train_graph = Graph::from_edges(n, &kept, g.directed, Duplicates::Max)?;
    let test_pos: Vec<(u32, u32)> = test.iter().map(|e| (e.0, e.1)).collect();
    let mut train_pos: Vec<(u32, u32)> = kept.iter().filter(|e| e.0 != e.1).map(|e| (e.0, e.1)).collect();
    train_pos.shuffle(&mut rng);
    train_pos.truncate(test_pos.len());
    let need = test_pos.len() + train_pos.len();
    let mut seen = HashSet::with_capacity(need);
    let mut neg = Vec::with_capacity(need);
    let max_tries = 100 * need + 10_000;
    let mut tries = 0;
    while neg.len() < need {
        tries += 1;
        if tries > max_tries {
            bail!("graph too dense: found only {} of {need} non-edges", neg.len());
        }
        let (mut u, mut v) = (rng.gen_range(0..n as u32), rng.gen_range(0..n as u32));
        if u == v || g.has_edge(u, v) {
            continue;
        }
        if !g.directed && u > v {
            std::mem::swap(&mut u, &mut v);
        }
        if seen.insert((u, v)) {
            neg.push((u, v));
        }
    }
    let test_neg = neg.split_off(train_pos.len());
    Ok(LinkSplit { train_graph, train_pos, train_neg: neg, test_pos, test_neg })
}

/// Hadamard (element-wise) product of the two endpoint vectors.
pub fn hadamard(emb: &Matrix, u: u32, v: u32) -> Vec<f64> {
    emb.row(u as usize).iter().zip(emb.row(v as usize)).map(|(a, b)| (*a as f64) * (*b as f64)).collect()
}

/// ROC-AUC of `scores` for binary `labels` (ties count one half). NaN without both classes.
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> f64 {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let (mut rank_sum, mut i) = (0.0, 0);
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            if labels[k] {
                rank_sum += avg_rank;
            }
        }
        i = j + 1;
    }
    let p = labels.iter().filter(|&&l| l).count() as f64;
    let n = labels.len() as f64 - p;
    (rank_sum - p * (p + 1.0) / 2.0) / (p * n)
}

/// Link prediction ROC-AUC of `emb` (trained on `split.train_graph`).
pub fn link_prediction_auc(emb: &Matrix, split: &LinkSplit, cfg: &LogRegConfig) -> Result<f64> {
    if emb.rows != split.train_graph.n_nodes() {
        bail!("embedding has {} rows but the graph has {} nodes", emb.rows, split.train_graph.n_nodes());
    }
    let rows = split.train_pos.iter().chain(&split.train_neg).map(|&(u, v)| hadamard(emb, u, v));
    let x = Design::from_rows(rows, emb.cols);
    let y: Vec<bool> = std::iter::repeat(true).take(split.train_pos.len()).chain(std::iter::repeat(false).take(split.train_neg.len())).collect();
    let model = fit_binary(&x, &y, cfg);
    let mut scores = Vec::new();
    let mut labels = Vec::new();
    for (pairs, l) in [(&split.test_pos, true), (&split.test_neg, false)] {
        for &(u, v) in pairs {
            scores.push(model.score(&hadamard(emb, u, v)));
            labels.push(l);
        }
    }
    Ok(roc_auc(&scores, &labels))
}
