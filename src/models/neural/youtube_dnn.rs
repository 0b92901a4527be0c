//! `kind = "youtube_dnn"`: the candidate-generation network of Covington et al. (2016) as a
//! two-tower model with its defaults. The user is the mean of the embeddings of their last 50
//! items next to their `features`; the item is its id next to its `features` (categories,
//! numbers); both towers are 256 ReLU (dropout 0.2) -> 128, L2-normalised, trained with a
//! sampled softmax (the other rows of the batch) corrected by logQ.
//!
//! Every two-tower key works here. The features depend on the dataset, so the config names
//! them (e.g. MovieLens `user.features = ["age", "gender", "occupation"]`,
//! `item.features = ["genres", "year"]`); they enter the tower MLP together with the history
//! rather than through a separate feature MLP, which a first layer over the concatenation
//! already subsumes.

use super::dssm::with_defaults;
use super::params::TwoTowerParams;
use super::two_tower::TwoTower;
use crate::models::ModelKind;
use crate::params::{self, ParamError};
use serde_json::{json, Value};

pub static KIND: ModelKind = ModelKind {
    kind: "youtube_dnn",
    about: "YouTube DNN: mean watch history + user features / item id + features, 256 ReLU -> 128, sampled softmax with logQ",
    version: 3,
    parse,
};

/// The keys YouTube DNN sets differently from `two_tower`.
pub fn defaults() -> Value {
    json!({
        "dim": 128,
        "hidden": [256],
        "activation": "relu",
        "dropout": 0.2,
        "embedding_dim": 64,
        "logq_correction": true,
        "user": {"id": false, "history": 50},
        "item": {"id": true},
    })
}

fn parse(value: &Value) -> Result<(Box<dyn crate::models::Model>, Value), ParamError> {
    let (p, canon): (TwoTowerParams, _) = params::canonical(&with_defaults(value, &defaults())?)?;
    Ok((Box::new(TwoTower { p }), canon))
}
