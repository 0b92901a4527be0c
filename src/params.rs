//! Typed parsing of a plug-in's parameter table (a model's, an index's, a dataset's, an
//! evaluation's), with errors that name the offending key so the caller can add file, section
//! and line. The floor every plug-in stands on: it imports nothing of the crate, so plug-ins
//! and the config layer that calls them do not import each other (`config::params` re-exports
//! it).

use serde::de::DeserializeOwned;
use std::fmt;

/// A parameter problem, located by a dotted path relative to the table that was parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamError {
    /// Dotted key path inside the parsed table, e.g. `window` or `hidden.0`; empty for the
    /// table itself.
    pub path: String,
    pub message: String,
}

impl ParamError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        ParamError { path: path.into(), message: message.into() }
    }
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "`{}`: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for ParamError {}

/// Range checks that serde's types cannot express.
pub trait Validate {
    fn validate(&self) -> Result<(), ParamError> {
        Ok(())
    }
}

/// Deserialises `value` into `T` (which should use `#[serde(deny_unknown_fields, default)]`)
/// and runs its [`Validate`] checks.
pub fn parse<T: DeserializeOwned + Validate>(value: &serde_json::Value) -> Result<T, ParamError> {
    let value = if value.is_null() { serde_json::Value::Object(Default::default()) } else { value.clone() };
    let parsed: T = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        ParamError { path, message: e.into_inner().to_string() }
    })?;
    parsed.validate()?;
    Ok(parsed)
}

/// Parses and returns the canonical JSON (defaults filled in) that stage keys hash.
pub fn canonical<T: DeserializeOwned + Validate + serde::Serialize>(value: &serde_json::Value) -> Result<(T, serde_json::Value), ParamError> {
    let parsed: T = parse(value)?;
    let canon = serde_json::to_value(&parsed).map_err(|e| ParamError::new("", e.to_string()))?;
    Ok((parsed, canon))
}

/// `ensure!(cond, "key", "message {}", x)` for [`Validate`] impls.
#[macro_export]
macro_rules! ensure_param {
    ($cond:expr, $key:expr, $($fmt:tt)+) => {
        if !($cond) {
            return Err($crate::params::ParamError::new($key, format!($($fmt)+)));
        }
    };
}

/// The candidate closest to `word`, if it is plausibly a typo of it ("did you mean").
pub fn nearest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates.into_iter().map(|c| (strsim::jaro_winkler(word, c), c)).filter(|(s, _)| *s > 0.75).max_by(|a, b| a.0.total_cmp(&b.0)).map(|(_, c)| c)
}
