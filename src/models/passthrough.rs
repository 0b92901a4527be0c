//! `kind = "passthrough"`: a vectors dataset's base vectors are the items and its queries the
//! users' query vectors, unchanged. The implicit model of `[dataset] kind = "vectors"`, which
//! needs no `[[model]]`: an ANN benchmark (SIFT, GloVe) measures the index, not a model, so
//! its vectors go straight to the index stage. The train stage stores no copy of them
//! ([`Model::passes_vectors_through`]).

use super::{Model, ModelKind, TrainInput, Trained};
use crate::params::{self, Validate};
use anyhow::{anyhow, Result};
use serde::{Deserialize, Serialize};

/// The kind's name, which the config layer pairs with vectors datasets.
pub const KIND_NAME: &str = "passthrough";

/// No parameters: the vectors are what the files hold.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PassthroughParams {}

impl Validate for PassthroughParams {}

pub struct Passthrough;

impl Model for Passthrough {
    fn fit(&self, input: &TrainInput) -> Result<Trained> {
        let v = input.dataset.vectors.as_ref().ok_or_else(|| anyhow!("model kind `passthrough` needs a vectors dataset ([dataset] kind = \"vectors\")"))?;
        let mut notes = serde_json::Map::new();
        notes.insert("passthrough".into(), serde_json::json!(format!("{} base and {} query vectors of the dataset", v.base.rows, v.queries.rows)));
        Ok(Trained { items: v.base.clone(), users: v.queries.clone(), metric: v.metric, epochs: Vec::new(), notes, checkpoint: None, weights: None })
    }

    /// The same vectors for every seed: one cached stage serves them all.
    fn uses_seed(&self) -> bool {
        false
    }

    /// Not learned: a benchmark's base may hold duplicate vectors, which the collapse check
    /// would take for a failed training.
    fn learns_embeddings(&self) -> bool {
        false
    }

    fn passes_vectors_through(&self) -> bool {
        true
    }
}

pub static KIND: ModelKind = ModelKind {
    kind: KIND_NAME,
    about: "a vectors dataset's base and query vectors as they are (the implicit model of [dataset] kind = \"vectors\")",
    version: 1,
    parse: |v| {
        let (_, canon) = params::canonical::<PassthroughParams>(v)?;
        Ok((Box::new(Passthrough), canon))
    },
};
