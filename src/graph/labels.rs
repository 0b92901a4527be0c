//! Node labels for node classification: `node<TAB>class` lines (the node2vec / PecanPy
//! `*.labels.tsv` format; a node with several classes has several lines, and a line may
//! also list several classes after the node). Columns may be separated by whitespace,
//! tabs or commas; `#` / `%` lines and blank lines are skipped.

use crate::data::IdMap;
use anyhow::{bail, Context, Result};
use std::path::Path;

/// Multi-label classes of the nodes of one graph.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeLabels {
    /// Raw class name <-> dense class id.
    pub classes: IdMap,
    /// Per dense node id, its sorted, distinct class ids (empty: unlabelled).
    pub of_node: Vec<Vec<u32>>,
}

impl NodeLabels {
    pub fn n_classes(&self) -> usize {
        self.classes.len()
    }

    /// Dense ids of the nodes with at least one class.
    pub fn labelled_nodes(&self) -> Vec<u32> {
        (0..self.of_node.len() as u32).filter(|&u| !self.of_node[u as usize].is_empty()).collect()
    }
}

/// Reads a labels file for a graph whose node ids are `nodes` (the graph's id map). A node
/// missing from the graph is an error naming file and line.
pub fn read_labels(path: &Path, nodes: &IdMap) -> Result<NodeLabels> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading labels {}", path.display()))?;
    let name = path.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| path.display().to_string());
    parse_labels(&text, &name, nodes)
}

/// [`read_labels`] on text in memory; `name` prefixes error messages.
pub fn parse_labels(text: &str, name: &str, nodes: &IdMap) -> Result<NodeLabels> {
    let mut classes = IdMap::default();
    let mut of_node = vec![Vec::new(); nodes.len()];
    for (i, line) in text.lines().enumerate() {
        let lineno = i + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('%') {
            continue;
        }
        let cols: Vec<&str> = line.split(|c: char| c == ',' || c.is_whitespace()).filter(|s| !s.is_empty()).collect();
        if cols.len() < 2 {
            bail!("{name}:{lineno}: expected a node and at least one class, got {} column(s)", cols.len());
        }
        let Some(u) = nodes.get(cols[0]) else {
            bail!("{name}:{lineno}: node `{}` is not in the graph", cols[0]);
        };
        for c in &cols[1..] {
            of_node[u as usize].push(classes.intern(c));
        }
    }
    for l in &mut of_node {
        l.sort_unstable();
        l.dedup();
    }
    Ok(NodeLabels { classes, of_node })
}
