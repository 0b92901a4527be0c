//! `task = "node_classification"`: Macro-/Micro-F1 of a one-vs-rest logistic regression on
//! the node vectors (the item matrix: a graph dataset's items are its nodes) against the
//! dataset's node labels, averaged over seeded random splits (the node2vec paper's protocol,
//! [`crate::graph::node_classification`]).

use super::{is_graph, EvalInput, Mismatch, Task, TaskResult};
use crate::graph::{self, NodeClassConfig};
use anyhow::{anyhow, Result};
use std::collections::BTreeMap;

pub struct NodeClassification;

impl Task for NodeClassification {
    fn name(&self) -> &'static str {
        "node_classification"
    }

    fn about(&self) -> &'static str {
        "Macro-/Micro-F1 of a logistic regression on the node vectors (graph datasets with labels)"
    }

    fn check(&self, dataset_kind: &str, _split_kind: &str) -> Result<(), Mismatch> {
        if is_graph(dataset_kind) {
            return Ok(());
        }
        Err(Mismatch {
            key: "metrics.task",
            message: format!("node classification scores the nodes of a graph, but dataset kind `{dataset_kind}` is not a graph"),
            hint: "use [dataset] kind = \"edges\" with `labels`, or task = \"retrieval\"".into(),
        })
    }

    fn evaluate(&self, input: &EvalInput) -> Result<TaskResult> {
        let labels = input
            .dataset
            .graph
            .as_ref()
            .and_then(|g| g.labels.as_ref())
            .ok_or_else(|| anyhow!("node classification needs node labels: [dataset] kind = \"edges\" with `labels = \"...\"`"))?;
        // The run's seed draws the classifier's splits: the eval key follows it through the
        // train key (node2vec uses its seed).
        let cfg = NodeClassConfig {
            train_fraction: input.metrics.train_fraction,
            repeats: input.metrics.repeats,
            valid_fraction: input.metrics.valid_fraction,
            on_validation: input.target == super::EvalTarget::Validation,
            ..Default::default()
        };
        let r = graph::node_classification(&input.trained.items, labels, &cfg, input.seed)?;
        let metrics = BTreeMap::from([
            ("Macro-F1".to_string(), r.macro_f1),
            ("Micro-F1".to_string(), r.micro_f1),
            ("Macro-F1 std".to_string(), r.macro_f1_std),
            ("Micro-F1 std".to_string(), r.micro_f1_std),
        ]);
        Ok(TaskResult { users: r.n_labelled, metrics, ..Default::default() })
    }
}
