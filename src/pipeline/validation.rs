//! What model selection may read of a finished run: its validation metrics and training time.
//!
//! A tuned table is only fair when every configuration was chosen without looking at the
//! test interactions. [`ValidationSummary`] has private fields and one constructor, here,
//! which refuses any eval stage that did not score the validation interactions; the search
//! (`crate::search`) accepts nothing else, so test metrics cannot reach a choice by accident.

use super::stages::Executor;
use crate::eval::EvalTarget;
use anyhow::{anyhow, bail, Result};
use std::collections::BTreeMap;

/// The metrics of one run on its split's validation interactions.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidationSummary {
    metrics: BTreeMap<String, f64>,
    train_seconds: f64,
    users: usize,
}

impl ValidationSummary {
    /// A metric column (e.g. `NDCG@10`), when the evaluation computed it.
    pub fn metric(&self, column: &str) -> Option<f64> {
        self.metrics.get(column).copied()
    }

    /// Seconds the run's training took (as recorded when it ran, also when it was cached).
    pub fn train_seconds(&self) -> f64 {
        self.train_seconds
    }

    /// Users with at least one validation item.
    pub fn users(&self) -> usize {
        self.users
    }
}

impl Executor<'_> {
    /// The summary of the finished validation eval stage `eval_key`; an error for a stage
    /// that scored anything else (the test interactions).
    pub fn validation_summary(&self, eval_key: &str) -> Result<ValidationSummary> {
        let n = self.plan.by_key.get(eval_key).ok_or_else(|| anyhow!("internal: unknown stage {eval_key}"))?;
        let st = &self.plan.graph[*n];
        let run = &self.plan.experiments[st.run.experiment].runs[st.run.run];
        if st.kind != super::StageKind::Eval || run.target != EvalTarget::Validation {
            bail!("internal: stage `{}` is not a validation evaluation; model selection reads validation metrics only", st.label);
        }
        if let Some(why) = self.failure(eval_key) {
            bail!("{why}");
        }
        let s = self.eval_summary(eval_key)?;
        if let Some(why) = &s.unsupported {
            bail!("{why}");
        }
        Ok(ValidationSummary { metrics: s.metrics.clone(), train_seconds: s.train_seconds, users: s.users })
    }
}
