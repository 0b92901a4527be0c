//! `kind = "two_tower"`: user and item towers over ids, side features and history.

use super::params::TwoTowerParams;
use super::train::train;
use crate::models::{Model, ModelKind, TrainInput, Trained};
use crate::params::{self, ParamError};
use anyhow::Result;

pub static KIND: ModelKind =
    ModelKind { kind: "two_tower", about: "user and item MLP towers over ids, side features and history; softmax / BCE / BPR loss", version: 3, parse };

fn parse(value: &serde_json::Value) -> Result<(Box<dyn Model>, serde_json::Value), ParamError> {
    let (p, canon): (TwoTowerParams, _) = params::canonical(value)?;
    Ok((Box::new(TwoTower { p }), canon))
}

/// The configured model.
pub struct TwoTower {
    pub p: TwoTowerParams,
}

impl Model for TwoTower {
    fn uses_sampler(&self) -> bool {
        true
    }

    fn scores_unseen_items(&self) -> bool {
        !self.p.item.text.is_empty() || !self.p.item.features.is_empty()
    }

    fn check_sampler(&self, sampler: Option<&serde_json::Value>) -> Result<(), ParamError> {
        super::negatives::check_negatives(&self.p, sampler.is_some_and(|s| s["kind"] == "in_batch"))
    }

    fn fit(&self, input: &TrainInput) -> Result<Trained> {
        train(&self.p, input)
    }

    fn epoch_key(&self) -> Option<&'static str> {
        Some("epochs")
    }

    fn reads_features(&self) -> bool {
        [&self.p.user, &self.p.item].iter().any(|t| !t.features.is_empty() || !t.text.is_empty())
    }

    fn online(
        &self,
        dataset: std::sync::Arc<crate::data::Dataset>,
        split: &crate::data::Split,
        seed: u64,
        weights: &[u8],
    ) -> Result<Option<Box<dyn crate::models::OnlineQuery>>> {
        Ok(Some(Box::new(super::online::load(&self.p, dataset, split, seed, weights)?)))
    }

    fn check_dataset(&self, dataset: &crate::data::Dataset) -> Result<()> {
        super::tower::check_columns("user", &self.p.user, &dataset.user_features)?;
        super::tower::check_columns("item", &self.p.item, &dataset.item_features)
    }
}
