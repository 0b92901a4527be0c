//! `kind = "dssm"`: the Deep Structured Semantic Model (Huang et al., 2013) as a two-tower
//! model with its own defaults. Both towers read text only: the item its `text` columns, the
//! user the text of the last items they interacted with; the text is word-hashed into letter
//! trigrams ([`super::encoders::text`]), fed through a tanh MLP (300-300-128) and compared by
//! cosine scaled by the smoothing factor `gamma` (the softmax's `1 / temperature`).
//!
//! Every two-tower key works here; `gamma` may stand for `temperature`. Because the towers
//! never read ids, DSSM scores items nobody has interacted with (cold start).

use super::params::TwoTowerParams;
use super::two_tower::TwoTower;
use crate::models::ModelKind;
use crate::params::{self, ParamError};
use serde_json::{json, Value};

pub static KIND: ModelKind =
    ModelKind { kind: "dssm", about: "DSSM: letter-trigram word hashing of item and history text, tanh MLP towers, cosine scaled by gamma", version: 3, parse };

/// The keys DSSM sets differently from `two_tower`, merged under the config's own.
pub fn defaults() -> Value {
    json!({
        "dim": 128,
        "hidden": [300, 300],
        "activation": "tanh",
        "embedding_dim": 300,
        "temperature": 0.1,
        "user": {"id": false, "text_history": 10},
        "item": {"id": false, "text": ["title"]},
    })
}

/// `gamma` stands for `1 / temperature`; then the defaults fill what the config leaves out.
pub fn with_defaults(value: &Value, defaults: &Value) -> Result<Value, ParamError> {
    let mut v = value.clone();
    let obj = v.as_object_mut().ok_or_else(|| ParamError::new("", "expected a table of parameters"))?;
    if let Some(g) = obj.remove("gamma") {
        if obj.contains_key("temperature") {
            return Err(ParamError::new("gamma", "set either `gamma` or `temperature` (= 1 / gamma), not both"));
        }
        let gamma = g.as_f64().filter(|g| g.is_finite() && *g > 0.0).ok_or_else(|| ParamError::new("gamma", format!("must be a positive number, got {g}")))?;
        obj.insert("temperature".into(), json!(1.0 / gamma));
    }
    merge(&mut v, defaults);
    Ok(v)
}

/// Adds `defaults`' keys missing from `v`, recursively into tables.
fn merge(v: &mut Value, defaults: &Value) {
    if let (Some(obj), Some(def)) = (v.as_object_mut(), defaults.as_object()) {
        for (k, d) in def {
            match obj.get_mut(k) {
                Some(existing) => merge(existing, d),
                None => {
                    obj.insert(k.clone(), d.clone());
                }
            }
        }
    }
}

fn parse(value: &Value) -> Result<(Box<dyn crate::models::Model>, Value), ParamError> {
    let (p, canon): (TwoTowerParams, _) = params::canonical(&with_defaults(value, &defaults())?)?;
    Ok((Box::new(TwoTower { p }), canon))
}
