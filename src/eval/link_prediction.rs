//! `task = "link_prediction"`: ROC-AUC of held-out edges against sampled non-edges, from a
//! logistic regression on Hadamard features of the node vectors (split `edge_holdout`).

use super::{is_graph, EvalInput, Mismatch, Task, TaskResult};
use crate::data::split;
use crate::graph;
use crate::params;
use anyhow::{anyhow, Result};
use std::collections::BTreeMap;

pub struct LinkPrediction;

impl Task for LinkPrediction {
    fn name(&self) -> &'static str {
        "link_prediction"
    }

    fn about(&self) -> &'static str {
        "ROC-AUC of held-out edges vs non-edges on Hadamard features (split edge_holdout)"
    }

    fn check(&self, dataset_kind: &str, split_kind: &str) -> Result<(), Mismatch> {
        if !is_graph(dataset_kind) {
            return Err(Mismatch {
                key: "metrics.task",
                message: format!("link prediction scores the edges of a graph, but dataset kind `{dataset_kind}` is not a graph"),
                hint: "use [dataset] kind = \"edges\", or task = \"retrieval\"".into(),
            });
        }
        if split_kind != "edge_holdout" {
            return Err(Mismatch {
                key: "metrics.task",
                message: format!("link prediction scores held-out edges, but split kind `{split_kind}` holds out none"),
                hint: "set [split] kind = \"edge_holdout\"".into(),
            });
        }
        Ok(())
    }

    /// The non-edges are drawn again from the whole graph (`evaluate`).
    fn reads_interactions(&self) -> bool {
        true
    }

    fn evaluate(&self, input: &EvalInput) -> Result<TaskResult> {
        // The split stage kept only the residual graph and the held-out edges; the sampled
        // non-edges come from recomputing the same seeded split.
        let p: split::EdgeHoldout = params::parse(input.split_params).map_err(|e| anyhow!("link prediction needs split kind `edge_holdout`: {e}"))?;
        let ls = split::link_split_of(input.dataset, &p)?;
        let held_out = input.split.test.len();
        anyhow::ensure!(ls.test_pos.len() == held_out, "the recomputed edge split holds out {} edges, the split stage {held_out}", ls.test_pos.len());
        let auc = graph::link_prediction_auc(&input.trained.items, &ls, &Default::default())?;
        Ok(TaskResult { users: ls.test_pos.len() + ls.test_neg.len(), metrics: BTreeMap::from([("AUC".to_string(), auc)]), ..Default::default() })
    }
}
