//! The report's rows of an experiment, read from the cache: each run's evaluation summary
//! (with its per-user values for paired tests, or the one column the box plot draws, and the
//! files its tasks left), or why it has none; and the report written from them.

use super::artifacts as art;
use super::stages::Executor;
use crate::config::Experiment;
use crate::eval::PerUser;
use crate::report;
use anyhow::Result;
use std::sync::Arc;

impl<'a> Executor<'a> {
    /// The report's rows of experiment `ei`: each run's eval summary, or why it has none (its
    /// stage failed or was skipped). Errs while some run is neither finished nor failed.
    pub fn rows(&self, ei: usize) -> Result<Vec<report::Row<'a>>> {
        self.rows_with(ei, self.plan.experiments[ei].report.baseline.is_some())
    }

    /// [`Executor::rows`], with the per-user values loaded when `paired` (paired tests); else
    /// only the column the report's box plot draws, when it draws one.
    pub fn rows_with(&self, ei: usize, paired: bool) -> Result<Vec<report::Row<'a>>> {
        let exp = &self.plan.experiments[ei];
        let column = if paired { None } else { report::figures::per_user_column(exp) };
        self.load_rows(ei, paired, column.as_deref())
    }

    /// The rows of experiment `ei`: every per-user column when `paired`, else column `column`
    /// when given, else none.
    fn load_rows(&self, ei: usize, paired: bool, column: Option<&str>) -> Result<Vec<report::Row<'a>>> {
        let exp = &self.plan.experiments[ei];
        exp.runs
            .iter()
            .zip(&self.plan.run_keys[ei])
            .map(|(run, k)| {
                // A failure of this run wins over an older cached summary (`--force`).
                let result = match self.failure(&k.eval) {
                    Some(why) => Err(why),
                    None => Ok(self.eval_summary(&k.eval)?),
                };
                // The baseline's tests pair users, so they need the per-user values.
                let per_user = match (&result, paired, column) {
                    (Ok(_), true, _) => Some(Arc::new(self.with_entry(&k.eval, |dir, _| PerUser::read_parquet(&dir.join("per_user.parquet")))?)),
                    // A figure, not a test: an entry without the file (or the column) draws
                    // no box rather than failing the report.
                    (Ok(_), false, Some(col)) => {
                        self.with_entry(&k.eval, |dir, _| PerUser::read_parquet_column(&dir.join("per_user.parquet"), col)).ok().map(Arc::new)
                    }
                    _ => None,
                };
                // Files the tasks left for the report (e.g. the map's points).
                let files = match &result {
                    Ok(_) => self.with_entry(&k.eval, |dir, m| {
                        let names: Vec<String> = m.info["files"].as_array().into_iter().flatten().filter_map(|v| v.as_str().map(str::to_string)).collect();
                        names.into_iter().map(|n| Ok((n.clone(), art::read_bytes(&dir.join("files").join(&n))?))).collect::<Result<Vec<_>>>()
                    })?,
                    Err(_) => Vec::new(),
                };
                Ok(report::Row { run, eval_key: &k.eval, result, per_user, files })
            })
            .collect()
    }

    /// The experiments sharing experiment `ei`'s one dataset (itself included), with their
    /// rows, once every one of them is finished; empty before, or when `ei` mixes datasets.
    fn same_dataset(&self, ei: usize) -> Vec<(&'a Experiment, Vec<report::Row<'a>>)> {
        let plan = self.plan;
        let data_key = |e: usize| -> Option<&str> {
            let keys: std::collections::BTreeSet<&str> = plan.run_keys[e].iter().map(|k| k.data.as_str()).collect();
            (keys.len() == 1).then(|| *keys.iter().next().expect("one"))
        };
        let Some(key) = data_key(ei) else { return Vec::new() };
        let mut group = Vec::new();
        for ej in (0..plan.experiments.len()).filter(|&ej| data_key(ej) == Some(key)) {
            // Never wait here for another experiment's evaluation: its own report draws the
            // plot once it is done.
            if ej != ei && plan.run_keys[ej].iter().any(|k| self.caches[ej].is_busy("eval", &k.eval)) {
                return Vec::new();
            }
            match self.load_rows(ej, false, None) {
                Ok(rows) => group.push((&plan.experiments[ej], rows)),
                Err(_) => return Vec::new(),
            }
        }
        group
    }

    /// Writes experiment `ei`'s tables, plots and page from its rows.
    pub fn write_report(&self, ei: usize) -> Result<()> {
        let rows = self.rows(ei)?;
        let group = self.same_dataset(ei);
        report::write_experiment(&self.plan.experiments[ei], &rows, &group)
    }
}
