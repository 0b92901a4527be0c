//! Experiment specs: TOML files layered with environment variables and `--set` overrides,
//! expanded over their sweeps and validated into [`RunSpec`]s that cannot hold a bad value.
//!
//! Layers, lowest first: the defaults in the section structs below (serde `default`), the
//! TOML file, `RUNNER_SECTION__KEY` environment variables (figment), then `--set key=value`.

pub mod error;
pub mod executor;
pub use crate::params;
pub mod search;
pub mod sweep;

pub use crate::eval::spec::{MetricsSection, Tasks};
pub use crate::metrics::MetricName;
pub use error::ConfigError;
pub use executor::{ExecutorKind, ExecutorSection};

use crate::data::{loaders, split::SplitKind};
use crate::ensure_param;
use crate::index::{self, Metric};
use crate::models::{self, Model};
use error::{hint_from_serde, nearest, SourceMap};
use params::{ParamError, Validate};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use sweep::Overrides;

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
}

impl Default for ReportSection {
    fn default() -> Self {
        ReportSection { baseline: None, alpha: 0.05 }
    }
}

impl Validate for ReportSection {
    fn validate(&self) -> Result<(), ParamError> {
        ensure_param!(self.alpha > 0.0 && self.alpha < 1.0, "alpha", "must be in (0, 1), got {}", self.alpha);
        Ok(())
    }
}

/// A validated `[dataset]`.
#[derive(Clone, Debug)]
pub struct DatasetSpec {
    pub kind: &'static loaders::DatasetKind,
    /// Canonical parameters (defaults filled in), without `kind`.
    pub params: Value,
    pub filter: crate::data::filter::FilterConfig,
}

/// A validated `[split]`.
#[derive(Clone, Debug)]
pub struct SplitSpec {
    pub kind: &'static SplitKind,
    pub params: Value,
}

/// A validated `[[model]]` entry at one sweep point.
#[derive(Clone)]
pub struct ModelSpec {
    pub kind: &'static models::ModelKind,
    /// Display name: `name`, else the kind.
    pub name: String,
    pub params: Value,
    pub model: Arc<dyn Model>,
}

/// A validated `[index]`.
#[derive(Clone)]
pub struct IndexSpec {
    pub kind: &'static index::IndexKind,
    /// Overrides the model's metric when set.
    pub metric: Option<Metric>,
    /// Canonical build parameters (hashed into the index key).
    pub build: Value,
    /// Canonical search parameters (applied after build or load).
    pub search: Value,
}

/// One run: a model at one sweep point with one seed.
#[derive(Clone)]
pub struct RunSpec {
    pub point_id: String,
    pub overrides: Overrides,
    pub seed: u64,
    pub dataset: DatasetSpec,
    pub split: SplitSpec,
    pub model: ModelSpec,
    pub index: IndexSpec,
    pub metrics: MetricsSection,
    /// The canonical `[sampler]` table with its `kind`, when present.
    pub sampler: Option<Value>,
    /// The run's canonical config flattened to dotted keys, for the report's varying columns.
    pub flat: BTreeMap<String, String>,
    /// Which held-out interactions its eval stage scores: test for the tables, validation for
    /// a search's trials (a separate eval key, see `pipeline::run_keys`).
    pub target: crate::eval::EvalTarget,
    /// Set on a search's tuned run: the `flat` keys the table always shows for it (the chosen
    /// values and the validation score), even where they do not vary between rows.
    pub tuned: Option<Vec<String>>,
    /// A pruned search's rung: train only this many epochs of the model's schedule (a train
    /// key of its own, holding a checkpoint); `None` trains to the end.
    pub stop_epoch: Option<usize>,
    /// The epoch of the same training's checkpoint to go on from, when its cache entry is
    /// there (else training starts from zero, with the same result). Not in any key: where
    /// the state came from does not change it.
    pub resume_from: Option<usize>,
}

/// A config file, validated and expanded.
pub struct Experiment {
    pub file: PathBuf,
    /// The overrides applied on top of the file, environment first then `--set`, as
    /// `key=value` (kept so `runner report` can load the same experiment again).
    pub sets: Vec<String>,
    pub section: ExperimentSection,
    pub report: ReportSection,
    /// `[executor]`: where the stages run (local by default).
    pub executor: ExecutorSection,
    pub data_dir: PathBuf,
    /// Runs of the models that are not searched (a searched model's runs are its tuned runs,
    /// added once its search has chosen: see `crate::search`).
    pub runs: Vec<RunSpec>,
    /// The line of `[experiment] name` (or of the section), for errors found after loading.
    pub name_line: Option<usize>,
    /// `[search]` / a model's `search`: one per searched model.
    pub searches: Vec<search::ModelSearch>,
}

const SECTIONS: &[&str] = &["experiment", "dataset", "split", "model", "sampler", "index", "metrics", "report", "executor", "sweep", "search"];

/// Sections that apply to the whole file, so a sweep cannot vary them.
const WHOLE_FILE: &[&str] = &["experiment", "report", "executor", "sweep", "search"];

/// Loads, layers, expands and validates one config file.
pub fn load(path: &Path, sets: &[String]) -> Result<Experiment, ConfigError> {
    let bare = |message: String| ConfigError { file: path.to_path_buf(), line: None, key: String::new(), message, hint: None };
    let text = std::fs::read_to_string(path).map_err(|e| bare(format!("cannot read the config file: {e}")))?;
    let sm = SourceMap::new(path, text);
    let mut tree = file_tree(&sm)?;
    let mut applied = Vec::new();
    // The environment layer, then `--set`: both address keys by dotted path, so an override
    // of one model's key (`RUNNER_MODEL__0__DIM`) changes that key and keeps the list.
    for (var, k, raw) in env_overrides() {
        applied.push(format!("{k}={raw}"));
        let v = override_value(&raw).map_err(|m| ConfigError { key: k.clone(), message: format!("environment variable {var}: {m}"), ..bare(String::new()) })?;
        sweep::set_path(&mut tree, &k, v).map_err(|e| ConfigError {
            key: k.clone(),
            message: format!("environment variable {var}: {}", e.0),
            ..bare(String::new())
        })?;
    }
    for s in sets {
        applied.push(s.clone());
        let (k, v) = s.split_once('=').ok_or_else(|| bare(format!("--set `{s}` is not of the form key=value")))?;
        let v = override_value(v.trim()).map_err(|m| ConfigError { key: k.trim().into(), message: format!("--set: {m}"), ..bare(String::new()) })?;
        sweep::set_path(&mut tree, k.trim(), v).map_err(|e| ConfigError { key: k.trim().into(), message: format!("--set: {}", e.0), ..bare(String::new()) })?;
    }
    check_overrides_against_sweeps(&tree, &applied, &sm)?;
    let mut exp = expand_and_validate(tree, &sm)?;
    exp.sets = applied;
    Ok(exp)
}

/// An override (`--set` or environment) of a key that a sweep also sets would be silently
/// replaced at every point, and a typo under a swept table (`--set index.ef_serch=32` with
/// `[sweep] index = [...]`) never validated: both are errors naming the sweep entry.
fn check_overrides_against_sweeps(tree: &Value, applied: &[String], sm: &SourceMap) -> Result<(), ConfigError> {
    let models = tree.get("model").and_then(Value::as_array).cloned().unwrap_or_default();
    // `model.<name>.x` -> `model.<index>.x`, so both spellings of one key meet.
    let canonical = |path: &str| -> Vec<String> {
        let mut segs: Vec<String> = path.split('.').map(str::to_string).collect();
        if segs.len() > 1 && segs[0] == "model" && segs[1].parse::<usize>().is_err() {
            if let Some(i) = sweep::named(&models, &segs[1]) {
                segs[1] = i.to_string();
            }
        }
        segs
    };
    let mut swept: Vec<(String, Vec<String>)> = Vec::new();
    if let Some(s) = tree.get("sweep").and_then(Value::as_object) {
        swept.extend(s.keys().map(|k| (format!("[sweep] `{k}`"), canonical(k))));
    }
    for (i, m) in models.iter().enumerate() {
        if let Some(s) = m.get("sweep").and_then(Value::as_object) {
            swept.extend(s.keys().map(|k| (format!("model {i}'s sweep `{k}`"), canonical(&format!("model.{i}.{k}")))));
        }
    }
    for set in applied {
        let key = set.split_once('=').map_or(set.as_str(), |(k, _)| k).trim();
        let segs = canonical(key);
        if segs.first().is_some_and(|s| s == "sweep") || segs.get(2).is_some_and(|s| s == "sweep") {
            continue; // an override of the sweep itself
        }
        let under = |a: &[String], b: &[String]| a.len() <= b.len() && a.iter().zip(b).all(|(x, y)| x == y);
        if let Some((by, _)) = swept.iter().find(|(_, s)| under(s, &segs) || under(&segs, s)) {
            return Err(ConfigError {
                file: sm.file.clone(),
                line: None,
                key: key.to_string(),
                message: format!("`{key}` is set by {by} at every sweep point, so this override would be replaced (or, under a swept table, never checked)"),
                hint: Some("change the sweep's values instead, or remove the key from the sweep to set it once".into()),
            });
        }
    }
    Ok(())
}

/// `RUNNER_SECTION__KEY[__KEY...]` variables as (variable, dotted lower-case key, value), in
/// name order. Variables without `__` (`RUNNER_DATA_DIR`) are not config keys.
fn env_overrides() -> Vec<(String, String, String)> {
    let mut out: Vec<(String, String, String)> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter_map(|(k, v)| {
            let rest = k.strip_prefix("RUNNER_")?;
            rest.contains("__").then(|| (k.clone(), rest.split("__").map(str::to_lowercase).collect::<Vec<_>>().join("."), v))
        })
        .collect();
    out.sort();
    out
}

/// An override's value (`--set` or environment), with NaN and infinity refused.
fn override_value(raw: &str) -> Result<Value, String> {
    let doc = format!("v = {raw}");
    if let Ok(t) = doc.parse::<toml::Table>() {
        if let Some(v) = t.get("v") {
            if let Some(p) = non_finite(v, "") {
                let at = if p.is_empty() { String::new() } else { format!(" at `{p}`") };
                return Err(format!("`{raw}`{at} must be a finite number"));
            }
        }
    }
    Ok(sweep::parse_value(raw))
}

/// The dotted path of the first NaN or infinite float in a TOML value (`""` for the value
/// itself). JSON has no NaN, so without this check `nan` would become `null` downstream and
/// read as "not set" (`min_rating = nan` meaning no filter) or as a confusing type error.
fn non_finite(v: &toml::Value, path: &str) -> Option<String> {
    let join = |k: &str| if path.is_empty() { k.to_string() } else { format!("{path}.{k}") };
    match v {
        toml::Value::Float(x) if !x.is_finite() => Some(path.to_string()),
        toml::Value::Array(a) => a.iter().enumerate().find_map(|(i, x)| non_finite(x, &join(&i.to_string()))),
        toml::Value::Table(t) => t.iter().find_map(|(k, x)| non_finite(x, &join(k))),
        _ => None,
    }
}

/// The TOML file (through figment) as a JSON tree, NaN and infinity refused with their line.
fn file_tree(sm: &SourceMap) -> Result<Value, ConfigError> {
    use figment::providers::{Format, Toml};
    if let Ok(raw) = sm.text().parse::<toml::Table>() {
        if let Some(p) = non_finite(&toml::Value::Table(raw), "") {
            return Err(sm.error(&p, "must be a finite number (NaN and infinity are not allowed)", None));
        }
    }
    // From the text already read: the file may be a pipe (`<(cat x.toml)`, /dev/stdin) that
    // a second read finds empty.
    let fig = figment::Figment::new().merge(Toml::string(sm.text()));
    let value: figment::value::Value = fig.extract().map_err(|e| {
        let key = e.path.join(".");
        sm.error(&key, e.kind.to_string(), None)
    })?;
    let tree = serde_json::to_value(&value).map_err(|e| sm.error("", e.to_string(), None))?;
    if !tree.is_object() {
        return Err(sm.error("", "the file must be a TOML table", None));
    }
    Ok(tree)
}

fn param_err(sm: &SourceMap, prefix: &str, e: ParamError) -> ConfigError {
    let key = if e.path.is_empty() { prefix.to_string() } else { format!("{prefix}.{}", e.path) };
    let hint = hint_from_serde(&e.message);
    sm.error(&key, e.message, hint)
}

fn expand_and_validate(mut tree: Value, sm: &SourceMap) -> Result<Experiment, ConfigError> {
    let top = tree.as_object().cloned().unwrap_or_default();
    for key in top.keys() {
        if !SECTIONS.contains(&key.as_str()) {
            let hint =
                nearest(key, SECTIONS.iter().copied()).map(|n| format!("did you mean `{n}`?")).or_else(|| Some(format!("sections: {}", SECTIONS.join(", "))));
            return Err(sm.error(key, format!("unknown section `{key}`"), hint));
        }
    }
    let global_sweep = take_sweep(&mut tree, "sweep", sm)?;
    for k in global_sweep.keys() {
        check_sweep_key(k, sm)?;
    }
    let top_search = tree.as_object_mut().and_then(|o| o.remove("search"));
    let mut model_sweeps = Vec::new();
    let mut model_searches = Vec::new();
    if let Some(Value::Array(ms)) = tree.get_mut("model") {
        for (i, m) in ms.iter_mut().enumerate() {
            model_searches.push(m.as_object_mut().and_then(|o| o.remove("search")));
            let s = match m.as_object_mut().and_then(|o| o.remove("sweep")) {
                Some(v) => sweep_lists(&v, &format!("model.{i}.sweep"), sm)?,
                None => BTreeMap::new(),
            };
            model_sweeps.push(s);
        }
    }

    let section: ExperimentSection = params::parse(tree.get("experiment").unwrap_or(&Value::Null)).map_err(|e| param_err(sm, "experiment", e))?;
    let mut section = section;
    if section.name.is_empty() {
        section.name = sm.file.file_stem().and_then(|s| s.to_str()).unwrap_or("experiment").to_string();
    }
    check_output_dir(&section.results_dir, "experiment.results_dir", sm)?;
    check_output_dir(&section.cache_dir, "experiment.cache_dir", sm)?;
    let data_dir = section.data_dir.clone().or_else(|| std::env::var_os("RUNNER_DATA_DIR").map(PathBuf::from)).unwrap_or_else(|| PathBuf::from("data"));

    // A vectors dataset needs no model: its vectors pass through to the index.
    let vectors = tree.get("dataset").and_then(|d| d.get("kind")).and_then(Value::as_str).is_some_and(crate::data::vectors::is_vectors);
    if vectors && tree.get("model").is_none() {
        tree["model"] = serde_json::json!([{"kind": models::passthrough::KIND_NAME}]);
        model_sweeps.push(BTreeMap::new());
    }
    if tree.get("model").and_then(Value::as_array).map_or(true, |a| a.is_empty()) {
        return Err(sm.error(
            "model",
            "no [[model]] entries",
            Some(format!(
                "add e.g. [[model]] kind = \"popularity\"; kinds: {} (an ANN benchmark, [dataset] kind = \"vectors\", needs none)",
                models::kind_names().into_iter().filter(|k| *k != models::passthrough::KIND_NAME).collect::<Vec<_>>().join(", ")
            )),
        ));
    }

    check_model_names(&tree, sm)?;
    let report: ReportSection = params::parse(tree.get("report").unwrap_or(&Value::Null)).map_err(|e| param_err(sm, "report", e))?;
    if let Some(b) = &report.baseline {
        let names: Vec<String> = tree["model"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m.get("name").and_then(Value::as_str).or_else(|| m.get("kind").and_then(Value::as_str)).map(str::to_string))
            .collect();
        if !names.contains(b) {
            let hint = match nearest(b, names.iter().map(String::as_str)) {
                Some(n) => format!("did you mean `{n}`? (models: {})", names.join(", ")),
                None => format!("models: {}", names.join(", ")),
            };
            return Err(sm.error("report.baseline", format!("no model is named `{b}`"), Some(hint)));
        }
    }

    let executor: ExecutorSection = params::parse(tree.get("executor").unwrap_or(&Value::Null)).map_err(|e| param_err(sm, "executor", e))?;
    check_point_count(&global_sweep, &model_sweeps, section.max_points, sm)?;

    model_searches.resize(tree["model"].as_array().map_or(0, |a| a.len()), None);

    // A searched model gets one search per sweep point (its own and the experiment's), in
    // the place its runs would have had.
    let mut runs = Vec::new();
    let mut searches = Vec::new();
    for point in sweep::expand(&global_sweep) {
        let mut t = tree.clone();
        for (k, v) in &point {
            sweep::set_path(&mut t, k, v.clone()).map_err(|e| sm.error(&format!("sweep.{k}"), e.0, None))?;
        }
        let n_models = t["model"].as_array().map_or(0, |a| a.len());
        for mi in 0..n_models {
            for mpoint in sweep::expand(&model_sweeps[mi]) {
                let mut mt = t.clone();
                let mut overrides = point.clone();
                for (k, v) in &mpoint {
                    let full = format!("model.{mi}.{k}");
                    sweep::set_path(&mut mt, &full, v.clone()).map_err(|e| sm.error(&format!("model.{mi}.sweep.{k}"), e.0, None))?;
                    overrides.insert(full, v.clone());
                }
                let own = model_searches[mi].as_ref();
                if let Some(s) = search::parse_model(&mt, top_search.as_ref(), own, mi, &overrides, runs.len(), &section, sm)? {
                    searches.push(s);
                    continue;
                }
                for &seed in &section.seeds {
                    runs.push(validate_run(&mt, mi, &overrides, seed, sm).map_err(|e| from_sweep(e, &point, &mpoint, mi, sm))?);
                }
            }
        }
    }
    let name_line = sm.line_of("experiment.name").or_else(|| sm.line_of("experiment"));
    Ok(Experiment { file: sm.file.clone(), sets: Vec::new(), section, report, executor, data_dir, runs, name_line, searches })
}

/// The number of sweep points (each model at each of its points), computed from the lists'
/// lengths, must stay within `max_points`: expanding ten keys of ten values took every
/// gigabyte of the machine before this check.
fn check_point_count(global: &BTreeMap<String, Vec<Value>>, per_model: &[BTreeMap<String, Vec<Value>>], max: u64, sm: &SourceMap) -> Result<(), ConfigError> {
    let product = |lists: &BTreeMap<String, Vec<Value>>| lists.values().fold(1u128, |n, l| n.saturating_mul(l.len() as u128));
    let models = per_model.iter().map(product).fold(0u128, u128::saturating_add).max(1);
    let points = product(global).saturating_mul(models);
    if points <= max as u128 {
        return Ok(());
    }
    let at = if global.is_empty() {
        (0..per_model.len()).find(|&i| product(&per_model[i]) > 1).map_or("sweep".to_string(), |i| format!("model.{i}.sweep"))
    } else {
        "sweep".to_string()
    };
    let count = if points == u128::MAX { "more than 10^38".to_string() } else { crate::term::thousands(points) };
    Err(sm.error(
        &at,
        format!("the sweep expands to {count} points (models x points), above [experiment] max_points = {}", crate::term::thousands(max as u128)),
        Some("search the space with a trial budget instead ([search] kind = \"random\" or \"tpe\", trials = N), sweep fewer values, or raise [experiment] max_points".into()),
    ))
}

/// `results_dir` and `cache_dir` must be folders this process can create and write, checked
/// before anything runs rather than after every stage.
fn check_output_dir(dir: &Path, key: &str, sm: &SourceMap) -> Result<(), ConfigError> {
    if dir.exists() && !dir.is_dir() {
        return Err(sm.error(key, format!("`{}` is a file, not a folder", dir.display()), Some("name a folder (it is created when missing)".into())));
    }
    let mut existing = dir;
    while !existing.as_os_str().is_empty() && !existing.exists() {
        // A link to nothing: every stage would fail to create its entry under it.
        if let Ok(target) = std::fs::read_link(existing) {
            return Err(sm.error(
                key,
                format!("`{}` is a symbolic link to `{}`, which does not exist", existing.display(), target.display()),
                Some("create the link's target or remove the link".into()),
            ));
        }
        existing = existing.parent().unwrap_or(Path::new(""));
    }
    let existing = if existing.as_os_str().is_empty() { Path::new(".") } else { existing };
    if !existing.is_dir() {
        return Err(sm.error(key, format!("`{}` cannot be created: `{}` is a file", dir.display(), existing.display()), None));
    }
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let probe = existing.join(format!(".runner-write-probe-{}-{nanos}", std::process::id()));
    match std::fs::File::create(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) => Err(sm.error(key, format!("`{}` is not writable: {e}", existing.display()), Some("choose a folder you can write".into()))),
    }
}

/// Experiments of one invocation must write distinct result folders: two files named
/// `exp.toml` in different folders would otherwise overwrite each other's table.
pub fn check_distinct(exps: &[Experiment]) -> Vec<ConfigError> {
    let mut seen: BTreeMap<PathBuf, &Experiment> = BTreeMap::new();
    let mut errs = Vec::new();
    for e in exps {
        let out = e.section.results_dir.join(&e.section.name);
        // `./results` and `results`, or a relative and an absolute path to one folder.
        let abs = std::path::absolute(&out).unwrap_or_else(|_| out.clone());
        let norm: PathBuf = abs.components().filter(|c| !matches!(c, std::path::Component::CurDir)).collect();
        if let Some(first) = seen.get(&norm) {
            errs.push(ConfigError {
                file: e.file.clone(),
                line: e.name_line,
                key: "experiment.name".into(),
                message: format!("`{}` is also the name of the experiment in {}: both would write {}/", e.section.name, first.file.display(), out.display()),
                hint: Some("set a distinct [experiment] name in one of them".into()),
            });
        } else {
            seen.insert(norm, e);
        }
    }
    errs
}

/// An error at a key a sweep point set points at the sweep entry that set it (the key is not
/// in the file's own section), e.g. `"model.0.dimm" = [..]` -> the `[sweep]` line.
fn from_sweep(e: ConfigError, point: &sweep::Overrides, mpoint: &sweep::Overrides, mi: usize, sm: &SourceMap) -> ConfigError {
    let hits = |k: &str| e.key == k || e.key.starts_with(&format!("{k}."));
    if let Some(k) = point.keys().find(|k| hits(k)) {
        return ConfigError { line: sm.line_of(&format!("sweep.{k}")), message: format!("{} (set by [sweep] `{k}`)", e.message), ..e };
    }
    if let Some(k) = mpoint.keys().find(|k| hits(&format!("model.{mi}.{k}"))) {
        return ConfigError { line: sm.line_of(&format!("model.{mi}.sweep.{k}")), message: format!("{} (set by the model's sweep `{k}`)", e.message), ..e };
    }
    e
}

/// A sweep key must address a section that is swept per run: a typo in the section is an
/// error (it would otherwise run identical points), and `[experiment]` keys, which apply to
/// the whole file, cannot vary between points.
fn check_sweep_key(k: &str, sm: &SourceMap) -> Result<(), ConfigError> {
    let section = k.split('.').next().unwrap_or("");
    let at = format!("sweep.{k}");
    if WHOLE_FILE.contains(&section) {
        let hint = if k == "experiment.seeds" {
            "list every seed in [experiment] seeds = [1, 2, 3]; each gets its own row"
        } else {
            "set it in the file, or run one file per value"
        };
        return Err(sm.error(&at, format!("`{k}` cannot be swept: [{section}] applies to the whole file"), Some(hint.into())));
    }
    let swept: Vec<&str> = SECTIONS.iter().copied().filter(|s| !WHOLE_FILE.contains(s)).collect();
    if !swept.contains(&section) {
        let hint = nearest(section, swept.iter().copied())
            .map(|n| format!("did you mean `{}`?", k.replacen(section, n, 1)))
            .or_else(|| Some(format!("sections: {}", swept.join(", "))));
        return Err(sm.error(&at, format!("sweep key `{k}` addresses no section (`{section}`)"), hint));
    }
    Ok(())
}

/// Model names label rows and address `model.<name>.<key>` sweeps, so they must differ.
fn check_model_names(tree: &Value, sm: &SourceMap) -> Result<(), ConfigError> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (i, m) in tree["model"].as_array().into_iter().flatten().enumerate() {
        let name = m.get("name").and_then(Value::as_str).or_else(|| m.get("kind").and_then(Value::as_str)).unwrap_or("").to_string();
        if name.is_empty() {
            continue;
        }
        if name.chars().count() > MAX_NAME {
            return Err(sm.error(&format!("model.{i}.name"), format!("is {} characters long; at most {MAX_NAME}", name.chars().count()), None));
        }
        if let Some(j) = seen.insert(name.clone(), i) {
            let key = if m.get("name").is_some() { format!("model.{i}.name") } else { format!("model.{i}") };
            return Err(sm.error(
                &key,
                format!("models {j} and {i} are both named `{name}`: their rows could not be told apart"),
                Some(format!("give each a distinct name, e.g. name = \"{name}-{i}\"")),
            ));
        }
    }
    Ok(())
}

fn take_sweep(tree: &mut Value, key: &str, sm: &SourceMap) -> Result<BTreeMap<String, Vec<Value>>, ConfigError> {
    match tree.as_object_mut().and_then(|o| o.remove(key)) {
        Some(v) => sweep_lists(&v, key, sm),
        None => Ok(BTreeMap::new()),
    }
}

/// Flattens a sweep table (`"model.0.dim" = [..]` or nested `[sweep.model.0] dim = [..]`).
fn sweep_lists(v: &Value, prefix: &str, sm: &SourceMap) -> Result<BTreeMap<String, Vec<Value>>, ConfigError> {
    let mut out = BTreeMap::new();
    fn walk(v: &Value, path: String, out: &mut BTreeMap<String, Vec<Value>>, prefix: &str, sm: &SourceMap) -> Result<(), ConfigError> {
        match v {
            Value::Array(items) if items.is_empty() => Err(sm.error(&format!("{prefix}.{path}"), "a sweep list must not be empty", None)),
            Value::Array(items) => {
                out.insert(path, items.clone());
                Ok(())
            }
            Value::Object(map) => {
                for (k, v) in map {
                    let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                    walk(v, p, out, prefix, sm)?;
                }
                Ok(())
            }
            _ => Err(sm.error(&format!("{prefix}.{path}"), "a sweep value must be a list of values to try", Some(format!("write e.g. `\"{path}\" = [1, 2]`")))),
        }
    }
    walk(v, String::new(), &mut out, prefix, sm)?;
    Ok(out)
}

/// Splits `{kind = .., rest..}` into the kind string and the rest.
fn kind_and_rest(v: &Value, section: &str, default: Option<&str>, allowed: &[&str], sm: &SourceMap) -> Result<(String, Value), ConfigError> {
    let mut map: Map<String, Value> = match v {
        Value::Object(m) => m.clone(),
        Value::Null => Map::new(),
        _ => return Err(sm.error(section, "must be a table", None)),
    };
    let kind = match map.remove("kind") {
        Some(Value::String(s)) => s,
        Some(_) => return Err(sm.error(&format!("{section}.kind"), "must be a string", Some(format!("kinds: {}", allowed.join(", "))))),
        None => match default {
            Some(d) => d.to_string(),
            None => return Err(sm.error(section, "missing `kind`", Some(format!("kinds: {}", allowed.join(", "))))),
        },
    };
    if !allowed.contains(&kind.as_str()) {
        let hint = match nearest(&kind, allowed.iter().copied()) {
            Some(n) => format!("did you mean `{n}`? (kinds: {})", allowed.join(", ")),
            None => format!("kinds: {}", allowed.join(", ")),
        };
        return Err(sm.error(&format!("{section}.kind"), format!("unknown kind `{kind}`"), Some(hint)));
    }
    Ok((kind, Value::Object(map)))
}

fn validate_run(t: &Value, mi: usize, overrides: &Overrides, seed: u64, sm: &SourceMap) -> Result<RunSpec, ConfigError> {
    let null = Value::Null;
    // Dataset: shared filter keys first, the rest belongs to the loader.
    let (dkind, mut drest) = kind_and_rest(t.get("dataset").unwrap_or(&null), "dataset", None, &loaders::kind_names(), sm)?;
    let filter = crate::data::filter::FilterConfig::take(&mut drest).map_err(|e| param_err(sm, "dataset", e))?;
    let dentry = loaders::lookup(&dkind).expect("kind checked above");
    let dparams_canon = (dentry.parse)(&drest).map_err(|e| param_err(sm, "dataset", e))?;

    let vectors = crate::data::vectors::is_vectors(&dkind);
    if vectors && !filter.is_noop() {
        return Err(sm.error(
            "dataset",
            format!("filters ({}) do not apply to a vectors dataset: it has no interactions", filter.describe()),
            Some("remove min_rating / k_core / user_core / item_core".into()),
        ));
    }
    // A vectors dataset brings its own queries: it is not split.
    let default_split = if vectors { "none" } else { "leave_last_out" };
    let (skind, srest) = kind_and_rest(t.get("split").unwrap_or(&null), "split", Some(default_split), &crate::data::split::kind_names(), sm)?;
    let sentry = crate::data::split::lookup(&skind).expect("kind checked above");
    let sparams = (sentry.parse)(&srest).map_err(|e| param_err(sm, "split", e))?;

    let mprefix = format!("model.{mi}");
    let mvalue = &t["model"][mi];
    let mut mrest_map = match mvalue {
        Value::Object(m) => m.clone(),
        _ => return Err(sm.error(&mprefix, "must be a table ([[model]])", None)),
    };
    let name = match mrest_map.remove("name") {
        Some(Value::String(s)) => Some(s),
        Some(_) => return Err(sm.error(&format!("{mprefix}.name"), "must be a string", None)),
        None => None,
    };
    let (mkind, mrest) = kind_and_rest(&Value::Object(mrest_map), &mprefix, None, &models::kind_names(), sm)?;
    let mentry = models::lookup(&mkind).expect("kind checked above");
    check_vectors_model(vectors, &mkind, &format!("{mprefix}.kind"), sm)?;
    let (model, mparams) = (mentry.parse)(&mrest).map_err(|e| param_err(sm, &mprefix, e))?;

    let (ikind, irest) = kind_and_rest(t.get("index").unwrap_or(&null), "index", Some("flat"), &index::kind_names(), sm)?;
    let ientry = index::lookup(&ikind).expect("kind checked above");
    if model.scores_items() && !ientry.exact {
        return Err(sm.error(
            "index.kind",
            models::item_space::index_refusal(&mkind),
            Some("leave [index] out (flat is the default), or sweep index kinds over models that embed".into()),
        ));
    }
    let mut irest = irest;
    let metric = match irest.as_object_mut().and_then(|o| o.remove("metric")) {
        None => None,
        Some(v) => Some(
            serde_json::from_value::<Metric>(v.clone())
                .map_err(|_| sm.error("index.metric", format!("unknown metric {v}"), Some("metrics: ip, cos, l2".into())))?,
        ),
    };
    if let Some(m) = metric.filter(|&m| model.scores_items() && m != Metric::Ip) {
        return Err(sm.error(
            "index.metric",
            format!(
                "{mkind} scores items by an inner product (a user's training row times an item's column); `{}` would rank by something else",
                format!("{m:?}").to_lowercase()
            ),
            Some("leave [index] metric out (ip applies)".into()),
        ));
    }
    // The metric of a vectors dataset's neighbours, when the config tells it: `metric`, else
    // `l2` for files (an HDF5 file's `distance` attribute is read with the data).
    let dataset_metric = match (vectors, dparams_canon.get("metric")) {
        (false, _) => None,
        (true, Some(m)) => Some(m.clone()),
        (true, None) => dparams_canon.get("file").is_none().then(|| Value::String("l2".into())),
    };
    if let (Some(m), Some(dm)) = (metric, &dataset_metric) {
        if serde_json::to_value(m).ok().as_ref() != Some(dm) {
            return Err(sm.error(
                "index.metric",
                format!(
                    "the dataset's true neighbours are by metric {dm} ([dataset] metric, default \"l2\"), but the index would search by {}",
                    serde_json::to_value(m).unwrap_or_default()
                ),
                Some("leave [index] metric out: the dataset's metric applies".into()),
            ));
        }
    }
    let icanon = (ientry.parse)(&irest).map_err(|e| param_err(sm, "index", e))?;
    let (build, search) = split_search_keys(&icanon, ientry.search_keys);

    let metrics_value = if vectors { with_vectors_defaults(t.get("metrics").unwrap_or(&null)) } else { t.get("metrics").cloned().unwrap_or(Value::Null) };
    let metrics: crate::config::MetricsSection = params::parse(&metrics_value).map_err(|e| param_err(sm, "metrics", e))?;
    check_task(&metrics.task, &skind, &dkind, sm)?;

    let sampler = match t.get("sampler") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let (kind, rest) = kind_and_rest(v, "sampler", None, &crate::sampling::kind_names(), sm)?;
            let canon = crate::sampling::parse(&kind, &rest).map_err(|e| param_err(sm, "sampler", e))?;
            Some(with_kind(&kind, &canon))
        }
    };
    model.check_sampler(sampler.as_ref()).map_err(|e| param_err(sm, &mprefix, e))?;

    let mut flat = BTreeMap::new();
    flatten("dataset", &with_kind(&dkind, &dparams_canon), &mut flat);
    flatten("dataset", &serde_json::to_value(&filter).unwrap_or(Value::Null), &mut flat);
    flatten("split", &with_kind(&skind, &sparams), &mut flat);
    flatten("model", &mparams, &mut flat);
    flatten("index", &with_kind(&ikind, &icanon), &mut flat);
    if let Some(s) = &sampler {
        flatten("sampler", s, &mut flat);
    }
    if let Some(m) = metric {
        flat.insert("index.metric".into(), format!("{m:?}").to_lowercase());
    }
    Ok(RunSpec {
        point_id: sweep::point_id(overrides),
        overrides: overrides.clone(),
        seed,
        dataset: DatasetSpec { kind: dentry, params: dparams_canon, filter },
        split: SplitSpec { kind: sentry, params: sparams },
        model: ModelSpec { kind: mentry, name: name.unwrap_or_else(|| mkind.clone()), params: mparams, model: Arc::from(model) },
        index: IndexSpec { kind: ientry, metric, build, search },
        metrics,
        sampler,
        flat,
        target: crate::eval::EvalTarget::Test,
        tuned: None,
        stop_epoch: None,
        resume_from: None,
    })
}

/// A vectors dataset goes with the `passthrough` model only (there are no interactions to
/// train on), and `passthrough` with a vectors dataset only.
fn check_vectors_model(vectors: bool, model_kind: &str, key: &str, sm: &SourceMap) -> Result<(), ConfigError> {
    let passthrough = model_kind == models::passthrough::KIND_NAME;
    if vectors && !passthrough {
        return Err(sm.error(
            key,
            format!("model kind `{model_kind}` trains on interactions, but a vectors dataset has none: its vectors go to the index as they are"),
            Some("leave [[model]] out (or kind = \"passthrough\")".into()),
        ));
    }
    if passthrough && !vectors {
        return Err(sm.error(
            key,
            "model kind `passthrough` hands a vectors dataset's vectors to the index, but the dataset is not one",
            Some("use [dataset] kind = \"vectors\", or a model that trains".into()),
        ));
    }
    Ok(())
}

/// `[metrics]` of a vectors dataset: unless set, the task is `ann` and the cut-off 10
/// (ann-benchmarks' recall@10).
fn with_vectors_defaults(metrics: &Value) -> Value {
    let mut m = metrics.as_object().cloned().unwrap_or_default();
    m.entry("task").or_insert_with(|| Value::String("ann".into()));
    m.entry("k").or_insert_with(|| serde_json::json!([10]));
    Value::Object(m)
}

/// Each task must suit the dataset and split (retrieval needs held-out interactions, the
/// graph tasks a graph, link prediction held-out edges), checked before anything runs.
fn check_task(tasks: &Tasks, split_kind: &str, dataset_kind: &str, sm: &SourceMap) -> Result<(), ConfigError> {
    for name in &tasks.0 {
        let task = crate::eval::lookup(name).expect("validated by MetricsSection");
        if let Err(m) = task.check(dataset_kind, split_kind) {
            return Err(sm.error(m.key, m.message, Some(m.hint)));
        }
    }
    Ok(())
}

fn with_kind(kind: &str, params: &Value) -> Value {
    let mut m = params.as_object().cloned().unwrap_or_default();
    m.insert("kind".into(), Value::String(kind.to_string()));
    Value::Object(m)
}

fn split_search_keys(canon: &Value, search_keys: &[&str]) -> (Value, Value) {
    let mut build = Map::new();
    let mut search = Map::new();
    for (k, v) in canon.as_object().cloned().unwrap_or_default() {
        if search_keys.contains(&k.as_str()) {
            search.insert(k, v);
        } else {
            build.insert(k, v);
        }
    }
    (Value::Object(build), Value::Object(search))
}

/// Dotted-key flattening of a JSON tree, values rendered compactly.
pub fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                flatten(&format!("{prefix}.{k}"), v, out);
            }
        }
        Value::String(s) => {
            out.insert(prefix.to_string(), s.clone());
        }
        Value::Null => {}
        // f32 parameters widened to f64 print as 0.009999999776482582; show the f32 digits.
        Value::Number(n) if n.is_f64() => {
            let x = n.as_f64().unwrap_or(0.0);
            let short = if (x as f32) as f64 == x { (x as f32).to_string() } else { x.to_string() };
            out.insert(prefix.to_string(), short);
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flatten_shows_f32_digits() {
        let mut out = BTreeMap::new();
        let v = serde_json::json!({"lr": 0.01f32 as f64, "p": 0.1, "n": 3, "s": "x"});
        flatten("m", &v, &mut out);
        assert_eq!(out["m.lr"], "0.01");
        assert_eq!(out["m.p"], "0.1");
        assert_eq!(out["m.n"], "3");
        assert_eq!(out["m.s"], "x");
    }
}
