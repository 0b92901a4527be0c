//! `kind = "cdssm"`: the Convolutional DSSM (Shen et al., 2014) as a two-tower model with its
//! defaults. Like [`super::dssm`] both towers read text only, but words keep their order: a
//! tanh convolution slides over windows of `window` (3) words, each word a bag of letter
//! trigrams, with `embedding_dim` (300) filters; the max over positions feeds the semantic
//! layer (`hidden`, 128, tanh), then the output layer (`dim`, 128), and the cosine is scaled
//! by `gamma`.

use super::dssm::with_defaults;
use super::params::TwoTowerParams;
use super::two_tower::TwoTower;
use crate::models::ModelKind;
use crate::params::{self, ParamError};
use serde_json::{json, Value};

pub static KIND: ModelKind = ModelKind {
    kind: "cdssm",
    about: "CDSSM: a max-pooled tanh convolution over word trigrams of item and history text, cosine scaled by gamma",
    version: 3,
    parse,
};

/// The keys CDSSM sets differently from `two_tower`.
pub fn defaults() -> Value {
    json!({
        "text_encoder": "conv",
        "window": 3,
        "embedding_dim": 300,
        "hidden": [128],
        "dim": 128,
        "activation": "tanh",
        "temperature": 0.1,
        "user": {"id": false, "text_history": 10},
        "item": {"id": false, "text": ["title"]},
    })
}

fn parse(value: &Value) -> Result<(Box<dyn crate::models::Model>, Value), ParamError> {
    let (p, canon): (TwoTowerParams, _) = params::canonical(&with_defaults(value, &defaults())?)?;
    Ok((Box::new(TwoTower { p }), canon))
}
