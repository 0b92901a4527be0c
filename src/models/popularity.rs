//! `kind = "popularity"`: ranks items by training interaction count, the same list for every
//! user (seen items still excluded). The baseline every table needs.

use super::{Model, ModelKind, TrainInput, Trained};
use crate::index::Metric;
use crate::linalg::Matrix;
use crate::params::{self, Validate};
use anyhow::Result;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PopularityParams {}
impl Validate for PopularityParams {}

pub struct Popularity;

impl Model for Popularity {
    fn history_query(&self) -> Option<super::HistoryQuery> {
        Some(super::HistoryQuery::Shared)
    }

    /// A 1-d embedding: items carry `ln(1 + count)`, users carry 1, so the inner product is a
    /// monotone function of popularity and the shared index machinery ranks it.
    fn fit(&self, input: &TrainInput) -> Result<Trained> {
        let counts = input.split.train_item_counts();
        let items = Matrix::from_vec(counts.len(), 1, counts.iter().map(|&c| (1.0 + c as f32).ln()).collect())?;
        let users = Matrix::from_vec(input.split.n_users, 1, vec![1.0; input.split.n_users])?;
        Ok(Trained { items, users, metric: Metric::Ip, ..Default::default() })
    }

    fn uses_seed(&self) -> bool {
        false
    }

    fn learns_embeddings(&self) -> bool {
        false
    }

    fn is_reference(&self) -> bool {
        true
    }

    fn geometry_note(&self) -> Option<&'static str> {
        Some("ranks by one number per item, its training count, not an embedding: similarity, map and ILD columns would measure nothing and are left empty")
    }
}

pub static KIND: ModelKind = ModelKind {
    kind: "popularity",
    about: "most-interacted training items first",
    version: 1,
    parse: |v| {
        let (_, canon) = params::canonical::<PopularityParams>(v)?;
        Ok((Box::new(Popularity), canon))
    },
};
