//! The sections that apply to a whole config file, `[experiment]` and `[report]`, with their
//! defaults (the lowest layer) and their checks.

use crate::ensure_param;
use crate::params::{ParamError, Validate};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// `[experiment]`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ExperimentSection {
    /// Names the results folder `results/<name>/`; defaults to the file's stem.
    pub name: String,
    pub description: String,
    /// One run per seed; the seed drives model initialisation, sampling and walks.
    pub seeds: Vec<u64>,
    /// Base folder of dataset paths; else `RUNNER_DATA_DIR`, else `./data`.
    pub data_dir: Option<PathBuf>,
    pub cache_dir: PathBuf,
    pub results_dir: PathBuf,
    /// Most sweep points (models x points) a config may expand to; counted from the lists'
    /// lengths before anything is expanded.
    pub max_points: u64,
}

/// Default of `[experiment] max_points`: a grid past it is a job for a search's trial
/// budget, and expanding it would take gigabytes before anything ran.
pub const MAX_POINTS: u64 = 10_000;

impl Default for ExperimentSection {
    fn default() -> Self {
        ExperimentSection {
            name: String::new(),
            description: String::new(),
            seeds: vec![42],
            data_dir: None,
            cache_dir: PathBuf::from("results/cache"),
            results_dir: PathBuf::from("results"),
            max_points: MAX_POINTS,
        }
    }
}

impl Validate for ExperimentSection {
    fn validate(&self) -> Result<(), ParamError> {
        ensure_param!(!self.seeds.is_empty(), "seeds", "needs at least one seed");
        ensure_param!(self.max_points >= 1, "max_points", "must be at least 1, got {}", self.max_points);
        ensure_param!(
            self.name.chars().all(|c| c.is_alphanumeric() || "-_.".contains(c)),
            "name",
            "`{}` may only hold letters, digits, '-', '_' and '.' (it names a folder)",
            self.name
        );
        ensure_param!(self.name != "." && self.name != "..", "name", "`{}` would write over or outside `results_dir`; name the experiment", self.name);
        ensure_param!(
            self.name.chars().count() <= MAX_NAME,
            "name",
            "is {} characters long; at most {MAX_NAME} (it names a folder)",
            self.name.chars().count()
        );
        Ok(())
    }
}

/// Longest experiment or model name: names become folder names and table cells.
pub const MAX_NAME: usize = 100;

/// `[report]`: how an experiment's table compares its rows.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ReportSection {
    /// A model's name: every other model's rows are tested against its rows on the same
    /// users (paired t-test and Wilcoxon signed-rank, Holm-corrected), marked with a dagger
    /// where both are significant.
    pub baseline: Option<String>,
    /// Significance level of the marks.
    pub alpha: f64,
    /// The metric columns of the paper tables, in order: a column (`Recall@20`) or a metric
    /// at every cut-off (`ndcg`); empty: the configured metrics at the smallest cut-off.
    /// `results.csv` and `results.json` keep every column.
    pub columns: Vec<String>,
    /// Display names in the paper tables, for models, columns and swept keys
    /// (`{ item2vec = "Item2Vec", window = "Window" }`).
    pub labels: std::collections::BTreeMap<String, String>,
}

impl Default for ReportSection {
    fn default() -> Self {
        ReportSection { baseline: None, alpha: 0.05, columns: Vec::new(), labels: Default::default() }
    }
}

impl Validate for ReportSection {
    fn validate(&self) -> Result<(), ParamError> {
        ensure_param!(self.alpha > 0.0 && self.alpha < 1.0, "alpha", "must be in (0, 1), got {}", self.alpha);
        if let Some(c) = self.columns.iter().find(|c| c.trim().is_empty()) {
            ensure_param!(false, "columns", "holds an empty name `{c}`; give a column (`Recall@20`) or a metric (`ndcg`)");
        }
        if let Some((k, _)) = self.labels.iter().find(|(_, v)| v.trim().is_empty()) {
            ensure_param!(false, "labels", "gives `{k}` an empty label");
        }
        Ok(())
    }
}

/// `[tracking]`: where finished runs are logged besides the results folder.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TrackingSection {
    /// An MLflow tracking server (`http://host:5000`); `--track` and `MLFLOW_TRACKING_URI`
    /// give one too (see `crate::tracking::uri`).
    pub mlflow: Option<String>,
}

impl Validate for TrackingSection {
    fn validate(&self) -> Result<(), ParamError> {
        if let Some(u) = &self.mlflow {
            ensure_param!(
                u.starts_with("http://") || u.starts_with("https://"),
                "mlflow",
                "must be an http:// or https:// address of an MLflow server, got `{u}`"
            );
        }
        Ok(())
    }
}
