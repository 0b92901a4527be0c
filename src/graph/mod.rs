//! Graphs for Node2Vec: CSR storage and builders ([`csr`]), node2vec random walks
//! ([`walks`]), node labels ([`labels`]), the logistic regression the evaluations use
//! ([`logreg`]), and the node2vec paper's evaluations ([`eval`]): node classification
//! (Macro/Micro-F1) and link prediction (ROC-AUC).

pub mod csr;
pub mod eval;
pub mod labels;
pub mod logreg;
pub mod walks;

#[cfg(test)]
mod tests;

pub use csr::{bipartite_from_split, cooccurrence_from_split, read_edge_list, BipartiteWeight, Duplicates, EdgeListGraph, Graph};
pub use eval::{link_prediction_auc, link_split, node_classification, LinkSplit, NodeClassConfig, NodeClassResult};
pub use labels::{read_labels, NodeLabels};
pub use walks::{generate_walks, WalkConfig, WalkMode};
