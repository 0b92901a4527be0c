//! `kind = "node2vec"`: node2vec (Grover & Leskovec 2016): second-order biased random walks
//! ([`crate::graph::walks`]) over a graph built from the training data, embedded by skip-gram
//! with negative sampling ([`crate::sgns`]).
//!
//! Graphs (`graph`):
//! - `"bipartite"` (default): users and items are nodes, one edge per trained pair (weight:
//!   interaction count or rating). Users are nodes `0..U`, items `U..U+I`, so a user's query
//!   is its own node vector and item vectors are the item nodes' vectors.
//! - `"cooccurrence"`: item-item edges between items at most `cooc_window` apart in a user's
//!   history. A user's query is the mean of its last [`QUERY_LAST`] training items'
//!   normalised vectors, as Item2Vec's.
//! - `"dataset"`: the edges of an `edges` dataset that survive the split (all with split
//!   `none`, the residual graph with `edge_holdout`). Users and items are the same nodes, so
//!   both matrices are the node vectors; this is the graph-task setting of the paper.
//!
//! The walks are the corpus stage (keyed by the graph and walk parameters and the seed), so a
//! sweep over `dim`, `window`, `negatives`... trains on the same walks.
//!
//! Scores are cosines ([`Metric::Cos`]): on the synthetic quickstart (2,000 users, 1,000 items,
//! leave-last-out, default parameters, seeds 1-3) Recall@10 is 0.472-0.486 with cosine against
//! 0.435-0.443 with inner product on the bipartite graph, and 0.705-0.709 against 0.668-0.671
//! on the co-occurrence graph. `[index] metric = "ip"` selects the inner product.
//!
//! Nodes no walk leaves (isolated: a user or item without training data) keep no trace of
//! their random initialisation: their vector is zero.

use super::item2vec::{query_vectors, train_sgns, QueryWeighting};
use super::{user_histories, Model, ModelKind, TrainInput, Trained};
use crate::data::corpus::Corpus;
use crate::data::{edges, Dataset, Split};
use crate::ensure_param;
use crate::graph::{bipartite_from_split, cooccurrence_from_split, generate_walks, BipartiteWeight, Graph, WalkConfig, WalkMode};
use crate::index::Metric;
use crate::linalg::Matrix;
use crate::params::{self, ParamError, Validate};
use crate::sgns::{self, Arch, SgnsConfig};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Training items averaged into a user's query with `graph = "cooccurrence"`.
pub const QUERY_LAST: usize = 5;

#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum GraphParam {
    #[default]
    Bipartite,
    Cooccurrence,
    Dataset,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Node2VecParams {
    pub graph: GraphParam,
    /// Bipartite edge weight.
    pub weight: BipartiteWeight,
    /// Co-occurrence graph: largest distance between two items of a history that links them.
    pub cooc_window: usize,
    /// `graph = "dataset"` only: walk the arcs of a directed `edges` dataset one way.
    pub directed: bool,
    /// Return parameter.
    pub p: f64,
    /// In-out parameter.
    pub q: f64,
    pub walks_per_node: usize,
    pub walk_length: usize,
    pub mode: WalkMode,
    pub dim: usize,
    pub window: usize,
    pub negatives: usize,
    pub epochs: usize,
    pub lr: f64,
    pub min_lr: f64,
    pub alpha: f64,
    /// 0 = all cores. 1 is reproducible bit for bit; more threads train copies of the tables
    /// merged every few thousand tokens (`sgns::rows`), not reproducible run to run.
    pub threads: usize,
    /// Skip-gram pairs of one window that share a draw of negatives; 1 = a fresh draw per
    /// pair (word2vec). `sgns::SHARE_NEGATIVES` says why the default shares.
    pub share_negatives: usize,
}

impl Default for Node2VecParams {
    fn default() -> Self {
        Node2VecParams {
            graph: GraphParam::Bipartite,
            weight: BipartiteWeight::Count,
            cooc_window: 5,
            directed: false,
            p: 1.0,
            q: 1.0,
            walks_per_node: 10,
            walk_length: 80,
            mode: WalkMode::Otf,
            dim: 128,
            window: 10,
            negatives: 5,
            epochs: 1,
            lr: 0.025,
            min_lr: 0.0001,
            alpha: 0.75,
            threads: 0,
            share_negatives: sgns::SHARE_NEGATIVES,
        }
    }
}

impl Validate for Node2VecParams {
    fn validate(&self) -> Result<(), ParamError> {
        if let Err((key, message)) = self.walk_config().check() {
            return Err(ParamError::new(key, message));
        }
        ensure_param!(self.walk_length >= 2, "walk_length", "must be at least 2 (a one-node walk gives skip-gram no pair), got {}", self.walk_length);
        ensure_param!(self.cooc_window >= 1, "cooc_window", "must be at least 1, got {}", self.cooc_window);
        ensure_param!(
            !self.directed || self.graph == GraphParam::Dataset,
            "directed",
            "only applies to graph = \"dataset\" (the bipartite and co-occurrence graphs are undirected)"
        );
        ensure_param!(self.weight == BipartiteWeight::Count || self.graph == GraphParam::Bipartite, "weight", "only applies to graph = \"bipartite\"");
        ensure_param!(self.dim >= 1, "dim", "must be at least 1, got {}", self.dim);
        ensure_param!(self.dim <= 65_536, "dim", "must be at most 65536, got {}", self.dim);
        ensure_param!(self.window >= 1, "window", "must be at least 1, got {}", self.window);
        ensure_param!(self.negatives >= 1, "negatives", "must be at least 1, got {}", self.negatives);
        ensure_param!(self.negatives <= 10_000, "negatives", "must be at most 10000 per pair, got {}", self.negatives);
        ensure_param!(
            self.share_negatives >= 1,
            "share_negatives",
            "must be at least 1 (1 = a fresh draw of negatives per pair), got {}",
            self.share_negatives
        );
        ensure_param!(self.epochs >= 1, "epochs", "must be at least 1, got {}", self.epochs);
        ensure_param!(self.lr.is_finite() && self.lr > 0.0, "lr", "must be a positive number, got {}", self.lr);
        ensure_param!(
            self.min_lr.is_finite() && self.min_lr >= 0.0 && self.min_lr <= self.lr,
            "min_lr",
            "must be between 0 and lr ({}), got {}",
            self.lr,
            self.min_lr
        );
        ensure_param!(self.alpha.is_finite(), "alpha", "must be a finite number, got {}", self.alpha);
        Ok(())
    }
}

impl Node2VecParams {
    fn walk_config(&self) -> WalkConfig {
        WalkConfig { p: self.p, q: self.q, walks_per_node: self.walks_per_node, walk_length: self.walk_length, mode: self.mode }
    }

    /// The paper's skip-gram: no subsampling, word2vec's random window shrink.
    fn sgns_config(&self, seed: u64) -> SgnsConfig {
        SgnsConfig {
            arch: Arch::SkipGram,
            dim: self.dim,
            window: self.window,
            negatives: self.negatives,
            epochs: self.epochs,
            lr: self.lr as f32,
            min_lr: (self.min_lr as f32).min(self.lr as f32),
            alpha: self.alpha,
            sample: 0.0,
            threads: self.threads,
            share_negatives: self.share_negatives,
            seed,
            ..Default::default()
        }
    }
}

pub struct Node2Vec {
    pub params: Node2VecParams,
}

impl Node2Vec {
    /// The graph walked: node ids are those [`Node2Vec::fit`] maps back to users and items.
    pub fn graph(&self, dataset: &Dataset, split: &Split) -> Result<Graph> {
        let p = &self.params;
        if dataset.graph.is_some() && p.graph != GraphParam::Dataset {
            // Its users and items are the same nodes: a user-item or item-item graph of them
            // would split every node in two or drop the sources.
            bail!("the dataset is a graph: set graph = \"dataset\" to walk its edges");
        }
        match p.graph {
            GraphParam::Bipartite => {
                // Name a bad rating by the dataset's own ids, not the internal dense ones.
                if p.weight == BipartiteWeight::Rating {
                    if let Some(it) = split.train.iter().find(|it| !(it.rating.is_finite() && it.rating > 0.0)) {
                        bail!(
                            "user `{}` rated item `{}` with {}: weight = \"rating\" needs ratings > 0 (use weight = \"count\", or [dataset] min_rating to drop them)",
                            dataset.users.raw(it.user),
                            dataset.items.raw(it.item),
                            it.rating
                        );
                    }
                }
                bipartite_from_split(split, p.weight)
            }
            GraphParam::Cooccurrence => cooccurrence_from_split(split, p.cooc_window),
            GraphParam::Dataset => {
                let Some(gd) = &dataset.graph else {
                    bail!("graph = \"dataset\" needs a graph dataset ([dataset] kind = \"edges\"), not `{}`", dataset.name);
                };
                if p.directed && !gd.directed {
                    bail!("directed = true needs the dataset's edges read as directed ([dataset] directed = true)");
                }
                edges::graph_from(split.n_users, &split.train, p.directed)
            }
        }
    }

    fn walks(&self, dataset: &Dataset, split: &Split, seed: u64) -> Result<Corpus> {
        let g = self.graph(dataset, split)?;
        generate_walks(&g, &self.params.walk_config(), seed)
    }
}

impl Model for Node2Vec {
    /// Only the co-occurrence graph's queries pool item vectors; a bipartite graph's user is
    /// a node of its own, a dataset graph has no users.
    fn history_query(&self) -> Option<super::HistoryQuery> {
        (self.params.graph == GraphParam::Cooccurrence).then_some(super::HistoryQuery::Pooled { last: QUERY_LAST, weighting: QueryWeighting::Mean })
    }

    fn corpus_params(&self) -> Option<serde_json::Value> {
        let p = &self.params;
        Some(json!({
            "graph": p.graph, "weight": p.weight, "cooc_window": p.cooc_window, "directed": p.directed,
            "walk": p.walk_config(),
        }))
    }

    fn build_corpus(&self, dataset: &Dataset, split: &Split, seed: u64) -> Result<Corpus> {
        self.walks(dataset, split, seed)
    }

    fn fit(&self, input: &TrainInput) -> Result<Trained> {
        let p = &self.params;
        let split = input.split;
        let owned;
        let corpus = match input.corpus {
            Some(c) => c,
            None => {
                owned = self.walks(input.dataset, split, input.seed)?;
                &owned
            }
        };
        let (nu, ni) = (split.n_users, split.n_items);
        let nodes = match p.graph {
            GraphParam::Bipartite => nu + ni,
            GraphParam::Cooccurrence => ni,
            GraphParam::Dataset => {
                anyhow::ensure!(nu == ni, "graph = \"dataset\": the split has {nu} users but {ni} items; a graph dataset has one node set");
                ni
            }
        };
        anyhow::ensure!(corpus.vocab_size == nodes, "node2vec: the walks cover {} nodes, the graph has {nodes}", corpus.vocab_size);

        let (out, epochs, checkpoint) =
            train_sgns("node2vec", corpus, &p.sgns_config(input.seed), input).with_context(|| format!("node2vec: training on {} walks", corpus.len()))?;

        let mut nodes_m = out.centre;
        let untrained = zero_unwalked(&mut nodes_m, corpus);
        let (items, users) = match p.graph {
            GraphParam::Bipartite => (rows(&nodes_m, nu, nu + ni), rows(&nodes_m, 0, nu)),
            GraphParam::Cooccurrence => {
                let users = query_vectors(&nodes_m, &user_histories(split), QUERY_LAST, QueryWeighting::Mean);
                (nodes_m, users)
            }
            GraphParam::Dataset => (nodes_m.clone(), nodes_m),
        };

        let mut notes = serde_json::Map::new();
        notes.insert("walks".into(), json!(corpus.len()));
        notes.insert("tokens".into(), json!(corpus.tokens.len()));
        notes.insert("nodes".into(), json!(nodes));
        notes.insert("untrained_nodes".into(), json!(untrained));
        notes.insert("threads".into(), json!(if p.threads == 0 { rayon::current_num_threads() } else { p.threads }));
        Ok(Trained { items, users, metric: Metric::Cos, epochs, notes, checkpoint, weights: None })
    }

    fn epoch_key(&self) -> Option<&'static str> {
        Some("epochs")
    }
}

/// Rows `from..to` of `m`.
fn rows(m: &Matrix, from: usize, to: usize) -> Matrix {
    let mut out = Matrix::zeros(to - from, m.cols);
    for (r, i) in (from..to).enumerate() {
        out.row_mut(r).copy_from_slice(m.row(i));
    }
    out
}

/// Zeroes the vectors of nodes that appear in no walk of two or more nodes (isolated nodes
/// walk alone, so skip-gram never updated them); returns how many.
fn zero_unwalked(m: &mut Matrix, corpus: &Corpus) -> usize {
    let mut walked = vec![false; corpus.vocab_size];
    for w in corpus.iter().filter(|w| w.len() >= 2) {
        for &t in w {
            walked[t as usize] = true;
        }
    }
    let mut n = 0;
    for (i, _) in walked.iter().enumerate().filter(|(_, &w)| !w) {
        m.row_mut(i).iter_mut().for_each(|x| *x = 0.0);
        n += 1;
    }
    n
}

pub static KIND: ModelKind = ModelKind {
    kind: "node2vec",
    about: "node2vec: biased random walks on a user-item, item-item or dataset graph + skip-gram",
    version: 1,
    parse: |v| {
        let (p, canon) = params::canonical::<Node2VecParams>(v)?;
        Ok((Box::new(Node2Vec { params: p }), canon))
    },
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{GraphData, Interaction};

    fn parse(v: serde_json::Value) -> Result<Node2VecParams, ParamError> {
        params::canonical::<Node2VecParams>(&v).map(|(p, _)| p)
    }

    #[test]
    fn params_defaults_and_errors_name_the_key() {
        let (p, canon) = params::canonical::<Node2VecParams>(&serde_json::Value::Null).unwrap();
        assert_eq!(p, Node2VecParams::default());
        assert_eq!(canon["graph"], json!("bipartite"));
        assert_eq!(canon["mode"], json!("otf"));
        assert_eq!(canon["weight"], json!("count"));
        assert_eq!((canon["dim"].clone(), canon["window"].clone(), canon["walk_length"].clone()), (json!(128), json!(10), json!(80)));
        let p = parse(json!({"graph": "dataset", "directed": true, "mode": "alias", "p": 4, "q": 0.5})).unwrap();
        assert_eq!((p.graph, p.directed, p.mode, p.p, p.q), (GraphParam::Dataset, true, WalkMode::Alias, 4.0, 0.5));
        for (bad, key) in [
            (json!({"p": 0}), "p"),
            (json!({"p": -1.0}), "p"),
            (json!({"q": 0.0}), "q"),
            (json!({"walk_length": 0}), "walk_length"),
            (json!({"walk_length": 1}), "walk_length"),
            (json!({"walks_per_node": 0}), "walks_per_node"),
            (json!({"dim": 0}), "dim"),
            (json!({"window": 0}), "window"),
            (json!({"negatives": 0}), "negatives"),
            (json!({"epochs": 0}), "epochs"),
            (json!({"lr": 0.0}), "lr"),
            (json!({"min_lr": 1.0}), "min_lr"),
            (json!({"cooc_window": 0}), "cooc_window"),
            (json!({"directed": true}), "directed"),
            (json!({"graph": "cooccurrence", "weight": "rating"}), "weight"),
            (json!({"graph": "tree"}), "graph"),
            (json!({"mode": "fast"}), "mode"),
            (json!({"walk_lenght": 3}), "walk_lenght"),
        ] {
            let e = parse(bad.clone()).unwrap_err();
            assert_eq!(e.path, key, "{bad}: {e}");
        }
    }

    #[test]
    fn corpus_params_leave_out_training_parameters() {
        let base = Node2Vec { params: Node2VecParams::default() };
        let dim = Node2Vec { params: Node2VecParams { dim: 8, window: 3, negatives: 2, epochs: 4, ..Default::default() } };
        assert_eq!(base.corpus_params(), dim.corpus_params());
        let p = Node2Vec { params: Node2VecParams { p: 2.0, ..Default::default() } };
        assert_ne!(base.corpus_params(), p.corpus_params());
    }

    /// 4 clusters of 10 items; every user's history stays in one cluster; user 40 has no
    /// training data.
    fn planted_split() -> Split {
        let mut train = Vec::new();
        for user in 0..40u32 {
            let cluster = user % 4;
            for ts in 0..12 {
                train.push(Interaction { user, item: cluster * 10 + (user * 3 + ts as u32 * 7) % 10, rating: 1.0, ts });
            }
        }
        Split { n_users: 41, n_items: 40, train, ..Default::default() }
    }

    fn best_item(t: &Trained, u: usize) -> usize {
        (0..t.items.rows)
            .max_by(|&a, &b| crate::linalg::dot(t.users.row(u), t.items.row(a)).total_cmp(&crate::linalg::dot(t.users.row(u), t.items.row(b))))
            .unwrap()
    }

    #[test]
    fn bipartite_and_cooccurrence_learn_clusters() {
        let split = planted_split();
        let ds = Dataset::default();
        for graph in [GraphParam::Bipartite, GraphParam::Cooccurrence] {
            let params = Node2VecParams { graph, dim: 16, walks_per_node: 5, walk_length: 20, window: 5, epochs: 2, threads: 1, ..Default::default() };
            let model = Node2Vec { params };
            let corpus = model.build_corpus(&ds, &split, 3).unwrap();
            let input =
                TrainInput { dataset: &ds, split: &split, corpus: Some(&corpus), seed: 3, progress: false, sampler: None, resume: None, stop_epoch: None };
            let t = model.fit(&input).unwrap();
            assert_eq!((t.items.rows, t.users.rows, t.items.cols), (40, 41, 16), "{graph:?}");
            assert!(t.users.row(40).iter().all(|&x| x == 0.0), "{graph:?}: a user without data has a zero query");
            for u in 0..40 {
                assert_eq!(best_item(&t, u) / 10, u % 4, "{graph:?} user {u}");
            }
            let again = model.fit(&TrainInput { corpus: None, ..input }).unwrap();
            assert_eq!(again.items, t.items, "{graph:?}: one thread is reproducible");
        }
    }

    #[test]
    fn dataset_graph_needs_a_graph_dataset_and_uses_the_training_edges() {
        // Two 5-cliques joined by one edge, as a graph dataset.
        let mut ds = Dataset { graph: Some(GraphData::default()), ..Default::default() };
        for i in 0..10 {
            ds.users.intern(&i.to_string());
        }
        ds.items = ds.users.clone();
        for a in 0..10u32 {
            for b in a + 1..10 {
                if a / 5 == b / 5 || (a, b) == (4, 5) {
                    ds.interactions.push(Interaction { user: a, item: b, rating: 1.0, ts: 0 });
                }
            }
        }
        let split = Split { n_users: 10, n_items: 10, train: ds.interactions.clone(), ..Default::default() };
        let params = Node2VecParams { graph: GraphParam::Dataset, dim: 8, walks_per_node: 5, walk_length: 10, window: 3, threads: 1, ..Default::default() };
        let model = Node2Vec { params: params.clone() };
        assert_eq!(model.graph(&ds, &split).unwrap().n_edges(), 21);
        let input = TrainInput { dataset: &ds, split: &split, corpus: None, seed: 1, progress: false, sampler: None, resume: None, stop_epoch: None };
        let t = model.fit(&input).unwrap();
        assert_eq!(t.items, t.users);
        assert_eq!((t.items.rows, t.items.cols), (10, 8));
        let e = model.graph(&Dataset::default(), &split).unwrap_err().to_string();
        assert!(e.contains("kind = \"edges\""), "{e}");
        let directed = Node2Vec { params: Node2VecParams { directed: true, ..params.clone() } };
        assert!(directed.graph(&ds, &split).unwrap_err().to_string().contains("directed"));
        let bipartite = Node2Vec { params: Node2VecParams { graph: GraphParam::Bipartite, ..params } };
        assert!(bipartite.graph(&ds, &split).unwrap_err().to_string().contains("graph = \"dataset\""));
    }
}
