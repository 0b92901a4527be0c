//! Experiment specs: TOML files layered with environment variables and `--set` overrides,
//! expanded over their sweeps and validated into [`RunSpec`]s that cannot hold a bad value.
//!
//! Layers, lowest first: the defaults in the section structs (`sections.rs`, serde
//! `default`), the TOML file, `RUNNER_SECTION__KEY` environment variables (figment), then
//! `--set key=value`. This file loads and layers a file and expands its sweeps; `run.rs`
//! validates each run of the expansion.

pub mod error;
pub mod executor;
pub use crate::params;
mod run;
pub mod search;
mod sections;
mod space;
pub mod sweep;

pub use crate::eval::spec::{MetricsSection, Tasks};
pub use crate::metrics::MetricName;
pub use error::ConfigError;
pub use executor::{ExecutorKind, ExecutorSection};
pub use run::{flatten, DatasetSpec, IndexSpec, ModelSpec, RunSpec, SplitSpec};
pub use sections::{ExperimentSection, ReportSection, TrackingSection, MAX_NAME, MAX_POINTS};

use crate::models;
use error::{hint_from_serde, nearest, SourceMap};
use params::ParamError;
use run::validate_run;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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
    /// `[tracking]`: an MLflow server the finished runs are logged to.
    pub tracking: TrackingSection,
    pub data_dir: PathBuf,
    /// Runs of the models that are not searched (a searched model's runs are its tuned runs,
    /// added once its search has chosen: see `crate::search`).
    pub runs: Vec<RunSpec>,
    /// The line of `[experiment] name` (or of the section), for errors found after loading.
    pub name_line: Option<usize>,
    /// `[search]` / a model's `search`: one per searched model.
    pub searches: Vec<search::ModelSearch>,
}

const SECTIONS: &[&str] = &["experiment", "dataset", "split", "model", "sampler", "index", "metrics", "report", "executor", "tracking", "sweep", "search"];

/// Sections that apply to the whole file, so a sweep cannot vary them.
const WHOLE_FILE: &[&str] = &["experiment", "report", "executor", "tracking", "sweep", "search"];

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
        let mut segs: Vec<String> = sweep::key_segments(path);
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
    let tracking: TrackingSection = params::parse(tree.get("tracking").unwrap_or(&Value::Null)).map_err(|e| param_err(sm, "tracking", e))?;
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
    check_report_columns(&report, &runs, sm)?;
    let name_line = sm.line_of("experiment.name").or_else(|| sm.line_of("experiment"));
    Ok(Experiment { file: sm.file.clone(), sets: Vec::new(), section, report, executor, tracking, data_dir, runs, name_line, searches })
}

/// A `[report] columns` entry with a cut-off (`Recall@5`) must name one of `[metrics] k`: a
/// table never has that column otherwise. (Names are checked against the table's columns
/// when it is written: which columns a task adds is known then.)
fn check_report_columns(report: &ReportSection, runs: &[RunSpec], sm: &SourceMap) -> Result<(), ConfigError> {
    // Two models shown under one name would read as one model.
    let mut models: Vec<&str> = runs.iter().map(|r| r.model.name.as_str()).collect();
    models.dedup();
    let shown = |m: &str| report.labels.get(m).map_or(m.to_string(), String::clone);
    for (i, a) in models.iter().enumerate() {
        if let Some(b) = models[..i].iter().find(|b| *b != a && shown(b) == shown(a)) {
            return Err(sm.error(
                "report.labels",
                format!("models `{b}` and `{a}` would both be shown as `{}`", shown(a)),
                Some("give each model its own label".into()),
            ));
        }
    }
    let ks: std::collections::BTreeSet<usize> = runs.iter().flat_map(|r| r.metrics.k.iter().copied()).collect();
    for c in &report.columns {
        let Some(k) = c.rsplit_once('@').and_then(|(_, k)| k.trim().parse::<usize>().ok()) else { continue };
        if !ks.is_empty() && !ks.contains(&k) {
            let list = ks.iter().map(usize::to_string).collect::<Vec<_>>().join(", ");
            return Err(sm.error(
                "report.columns",
                format!("`{c}` asks for cut-off {k}, which [metrics] k = [{list}] does not compute"),
                Some(format!("use one of the cut-offs {list}, or add {k} to [metrics] k")),
            ));
        }
    }
    Ok(())
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
