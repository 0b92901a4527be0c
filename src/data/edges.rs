//! `kind = "edges"`: a graph read from an edge-list file (the node2vec / PecanPy `.edg`
//! format, see [`crate::graph::read_edge_list`]), optionally with node labels.
//!
//! A graph becomes a [`Dataset`] so that it flows through the same data -> split -> train
//! stages as interaction data: its users and its items are both the node id map, and its
//! interactions are the edges (user = source, item = target, rating = weight, ts = the edge's
//! position in (source, target) order). An undirected edge is one interaction (source <=
//! target); duplicates in the file are merged as the edge-list reader does (largest weight).
//! [`graph_of`] turns the interactions back into the graph.

use super::{file_fingerprint, resolve, Dataset, DatasetKind, GraphData, Interaction};
use crate::graph::{read_edge_list, read_labels, Duplicates, Graph};
use crate::params::{self, ParamError, Validate};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EdgesParams {
    /// Edge-list file, relative to the data folder.
    pub path: PathBuf,
    /// Optional `node<TAB>class` file, relative to the data folder.
    pub labels: Option<PathBuf>,
    /// Read `a b` as the arc a -> b only; else as an undirected edge.
    pub directed: bool,
}

impl Validate for EdgesParams {
    fn validate(&self) -> Result<(), ParamError> {
        crate::ensure_param!(!self.path.as_os_str().is_empty(), "path", "is required (an edge-list file, e.g. \"graphs/PPI.edg\")");
        Ok(())
    }
}

pub static KIND: DatasetKind = DatasetKind {
    kind: "edges",
    about: "a graph from an edge-list file (`src dst [weight]` lines), optional node labels",
    version: 1,
    parse: |v| params::canonical::<EdgesParams>(v).map(|(_, c)| c),
    load: |v, dir| {
        let p: EdgesParams = params::parse(v)?;
        let labels = p.labels.as_ref().map(|l| resolve(dir, l)).transpose()?;
        load_edges(&resolve(dir, &p.path)?, labels.as_deref(), p.directed)
    },
    fingerprint: |v, dir| {
        let p: EdgesParams = params::parse(v)?;
        let mut files = vec![resolve(dir, &p.path)?];
        if let Some(l) = &p.labels {
            files.push(resolve(dir, l)?);
        }
        file_fingerprint(&files)
    },
};

/// Reads the edge list (and labels) into a graph dataset.
pub fn load_edges(path: &Path, labels: Option<&Path>, directed: bool) -> Result<Dataset> {
    let el = read_edge_list(path, directed)?;
    if el.graph.n_arcs() == 0 {
        bail!("{}: no edges", path.display());
    }
    let labels = labels.map(|l| read_labels(l, &el.ids)).transpose()?;
    let interactions = el.graph.edges().enumerate().map(|(k, (u, v, w))| Interaction { user: u, item: v, rating: w, ts: k as i64 }).collect();
    Ok(Dataset {
        name: path.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default(),
        interactions,
        users: el.ids.clone(),
        items: el.ids,
        graph: Some(GraphData { directed, labels }),
        ..Default::default()
    })
}

/// The graph of a graph dataset's interactions (all of them).
pub fn graph_of(ds: &Dataset) -> Result<Graph> {
    let Some(g) = &ds.graph else {
        bail!("dataset `{}` is not a graph; use [dataset] kind = \"edges\"", ds.name);
    };
    graph_from(ds.n_users(), &ds.interactions, g.directed)
}

/// A graph on `n_nodes` nodes whose edges are `list` (user -> item, weight = rating),
/// duplicates merged as in edge-list files.
pub fn graph_from(n_nodes: usize, list: &[Interaction], directed: bool) -> Result<Graph> {
    let edges: Vec<(u32, u32, f32)> = list.iter().map(|it| (it.user, it.item, it.rating)).collect();
    Graph::from_edges(n_nodes, &edges, directed, Duplicates::Max).context("building the graph of the dataset's edges")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edge_list_becomes_a_node_dataset_with_labels() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("g.edg"), "a\tb\nb\tc\t2.5\nb\ta\nc\tc\n").unwrap();
        std::fs::write(d.path().join("g.labels.tsv"), "a\tx\nc\tx\nc\ty\n").unwrap();
        let ds = load_edges(&d.path().join("g.edg"), Some(&d.path().join("g.labels.tsv")), false).unwrap();
        assert_eq!((ds.n_users(), ds.n_items(), ds.name.as_str()), (3, 3, "g"));
        assert_eq!(ds.users, ds.items);
        // a-b listed twice is one undirected edge; the loop c-c is kept.
        let pairs: Vec<(u32, u32, f32)> = ds.interactions.iter().map(|i| (i.user, i.item, i.rating)).collect();
        assert_eq!(pairs, vec![(0, 1, 1.0), (1, 2, 2.5), (2, 2, 1.0)]);
        let gd = ds.graph.as_ref().unwrap();
        assert!(!gd.directed);
        assert_eq!(gd.labels.as_ref().unwrap().of_node, vec![vec![0], vec![], vec![0, 1]]);
        let g = graph_of(&ds).unwrap();
        assert_eq!((g.n_nodes(), g.n_edges()), (3, 3));
        assert!(g.has_edge(1, 0));

        let ds = load_edges(&d.path().join("g.edg"), None, true).unwrap();
        assert_eq!(ds.interactions.len(), 4, "directed: b -> a is its own arc");
        assert!(graph_of(&ds).unwrap().directed);

        std::fs::write(d.path().join("bad.labels.tsv"), "zz\tx\n").unwrap();
        let e = load_edges(&d.path().join("g.edg"), Some(&d.path().join("bad.labels.tsv")), false).unwrap_err().to_string();
        assert!(e.contains("bad.labels.tsv:1") && e.contains("zz"), "{e}");
        std::fs::write(d.path().join("empty.edg"), "# nothing\n").unwrap();
        assert!(load_edges(&d.path().join("empty.edg"), None, false).unwrap_err().to_string().contains("no edges"));
        assert!(graph_of(&Dataset::default()).is_err());
    }

    #[test]
    fn params_require_a_path() {
        let e = params::canonical::<EdgesParams>(&serde_json::Value::Null).unwrap_err();
        assert_eq!(e.path, "path");
        let (_, c) = params::canonical::<EdgesParams>(&serde_json::json!({"path": "g.edg"})).unwrap();
        assert_eq!(c["directed"], serde_json::json!(false));
    }
}
