//! One run's validated spec ([`RunSpec`]: dataset, split, model, index, metrics, sampler at
//! one sweep point and seed) and [`validate_run`], which checks a point's config tree and
//! flattens it into the report's columns.

use super::error::{nearest, SourceMap};
use super::sweep::{self, Overrides};
use super::{param_err, ConfigError, MetricsSection, Tasks};
use crate::data::{self, split::SplitKind};
use crate::index::{self, Metric};
use crate::models::{self, Model};
use crate::params;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A validated `[dataset]`.
#[derive(Clone, Debug)]
pub struct DatasetSpec {
    pub kind: &'static data::DatasetKind,
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
    /// The point's key: a short hash of its overrides (`base` without any).
    pub point_id: String,
    /// The point as people read it (`window=5`, [`sweep::point_name`]): tables, logs, legends.
    pub point_name: String,
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

pub(super) fn validate_run(t: &Value, mi: usize, overrides: &Overrides, seed: u64, sm: &SourceMap) -> Result<RunSpec, ConfigError> {
    let null = Value::Null;
    // Dataset: shared filter keys first, the rest belongs to the loader.
    let (dkind, mut drest) = kind_and_rest(t.get("dataset").unwrap_or(&null), "dataset", None, &data::kind_names(), sm)?;
    let filter = crate::data::filter::FilterConfig::take(&mut drest).map_err(|e| param_err(sm, "dataset", e))?;
    let dentry = data::lookup(&dkind).expect("kind checked above");
    let dparams_canon = (dentry.parse)(&drest).map_err(|e| param_err(sm, "dataset", e))?;

    let vectors = crate::data::vectors::is_vectors(&dkind);
    if vectors && !filter.is_noop() {
        return Err(sm.error(
            "dataset",
            format!("filters ({}) do not apply to a vectors dataset: it has no interactions", filter.describe()),
            Some("remove min_rating / k_core / user_core / item_core".into()),
        ));
    }
    let given = dkind == crate::data::given::KIND.kind;
    if given && !filter.is_noop() {
        return Err(sm.error(
            "dataset",
            format!("filters ({}) do not apply to a `given` dataset: they would change the split its files ship", filter.describe()),
            Some("remove min_rating / k_core / user_core / item_core (filter the files themselves to change the protocol)".into()),
        ));
    }
    // A vectors dataset brings its own queries: it is not split; a given dataset its split.
    let default_split = if vectors {
        "none"
    } else if given {
        "given"
    } else {
        "leave_last_out"
    };
    let (skind, srest) = kind_and_rest(t.get("split").unwrap_or(&null), "split", Some(default_split), &crate::data::split::kind_names(), sm)?;
    if skind == crate::data::split::GIVEN.kind && !given {
        return Err(sm.error(
            "split.kind",
            format!("`given` uses the split a dataset ships, and a `{dkind}` dataset ships none"),
            Some("use [dataset] kind = \"given\" with its train / test files, or another split kind".into()),
        ));
    }
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
        point_name: sweep::point_name(overrides),
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
