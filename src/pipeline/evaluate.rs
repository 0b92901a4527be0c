//! What an eval stage computes (the run's tasks on its split, model and index) and the check
//! of the dataset columns the models name, run once the data stage has: the two stage bodies
//! that read several upstream entries, beside the executor's loop in `stages.rs`.

use super::stages::Executor;
use super::Stage;
use crate::config::RunSpec;
use crate::eval;
use crate::index::AnnIndex;
use anyhow::{anyhow, Context, Result};

impl<'a> Executor<'a> {
    /// The dataset columns every model of the plan on data `key` names ([`crate::models::Model::check_dataset`]),
    /// checked once the data stage has run (cached or not), so a missing column stops the run
    /// before any model trains rather than after the others did.
    pub(super) fn check_columns(&self, key: &str) -> Result<()> {
        let mut models = Vec::new();
        for (ei, keys) in self.plan.run_keys.iter().enumerate() {
            for (ri, k) in keys.iter().enumerate() {
                let run = &self.plan.experiments[ei].runs[ri];
                if k.data == key && run.model.model.reads_features() && !models.iter().any(|(n, _): &(&str, _)| *n == run.model.name) {
                    models.push((run.model.name.as_str(), run.model.model.clone()));
                }
            }
        }
        if models.is_empty() {
            return Ok(());
        }
        let ds = self.data(key)?;
        for (name, model) in models {
            model.check_dataset(&ds).with_context(|| format!("model `{name}`"))?;
        }
        Ok(())
    }

    /// Runs the run's tasks ([`crate::eval`]) on its vectors, loading its index only when a
    /// task searches one.
    pub(super) fn evaluate(&self, st: &Stage, run: &RunSpec) -> Result<eval::EvalOutput> {
        let tasks: Vec<&dyn eval::Task> =
            run.metrics.task.0.iter().map(|t| eval::lookup(t).ok_or_else(|| anyhow!("internal: unknown task `{t}`"))).collect::<Result<_>>()?;
        let ds = self.data_of(st)?;
        let split = self.split(st.inputs.split()?)?;
        let split = run.target.view(&split);
        let (trained, train_seconds) = self.trained(st.inputs.train()?)?;
        let index_key = st.inputs.index()?;
        let irun = self.run_of(self.stage(index_key)?);
        let needs_index = tasks.iter().any(|t| t.uses_index());
        let (index, index_manifest) = self.with_entry(index_key, |dir, m| {
            let index = if needs_index {
                let mut index: Box<dyn AnnIndex> = (irun.index.kind.load)(&irun.index.build, dir)?;
                index.set_search_params(&run.index.search)?;
                Some(index)
            } else {
                None
            };
            Ok((index, m.clone()))
        })?;
        let input = eval::EvalInput {
            dataset: &ds,
            split: &split,
            trained: &trained,
            index: index.as_deref(),
            index_exact: irun.index.kind.exact,
            metrics: &run.metrics,
            split_params: &run.split.params,
            seed: run.seed,
            target: run.target,
            scores_unseen_items: run.model.model.scores_unseen_items(),
            no_geometry: run.model.model.geometry_note().is_some(),
        };
        let mut out = eval::run_tasks(&tasks, &input)?;
        out.summary.train_seconds = train_seconds;
        out.summary.index_seconds = index_manifest.seconds;
        out.summary.index_bytes = index_manifest.info["bytes"].as_u64().unwrap_or(0);
        Ok(out)
    }
}
