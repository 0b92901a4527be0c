//! Negative samplers shared by every model: one trait, one registry mapping
//! `[sampler] kind` to an implementation, one file per sampler.
//!
//! (Plumbing only so far: the registry validates the section; the samplers come with the
//! neural-models work.)

use crate::config::params::ParamError;
use serde_json::Value;

/// Kinds accepted in `[sampler] kind`.
pub fn kind_names() -> Vec<&'static str> {
    vec!["uniform", "frequency", "in_batch", "hard", "mixed"]
}

/// Validates the `[sampler]` table (without `kind`) of `kind` and returns its canonical form.
pub fn parse(_kind: &str, params: &Value) -> Result<Value, ParamError> {
    Ok(params.clone())
}
