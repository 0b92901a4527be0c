//! `kind = "random"`: random item and user vectors, i.e. an independent random ranking per
//! user. The floor every model must clear.

use super::{Model, ModelKind, TrainInput, Trained};
use crate::index::Metric;
use crate::linalg::Matrix;
use crate::params::{self, ParamError, Validate};
use anyhow::Result;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RandomParams {
    /// Dimension of the random vectors; more dimensions make rankings closer to uniform.
    pub dim: usize,
}

impl Default for RandomParams {
    fn default() -> Self {
        RandomParams { dim: 32 }
    }
}

impl Validate for RandomParams {
    fn validate(&self) -> Result<(), ParamError> {
        crate::ensure_param!(self.dim > 0, "dim", "must be positive");
        Ok(())
    }
}

pub struct RandomModel(RandomParams);

impl Model for RandomModel {
    fn fit(&self, input: &TrainInput) -> Result<Trained> {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(input.seed);
        let d = self.0.dim;
        let mut gen = |n: usize| Matrix::from_vec(n, d, (0..n * d).map(|_| rng.gen::<f32>() - 0.5).collect());
        let items = gen(input.split.n_items)?;
        let users = gen(input.split.n_users)?;
        Ok(Trained { items, users, metric: Metric::Ip, ..Default::default() })
    }

    /// Chance level by design, for seen and unseen items alike: the floor of a cold-start table.
    fn scores_unseen_items(&self) -> bool {
        true
    }

    fn is_reference(&self) -> bool {
        true
    }
}

pub static KIND: ModelKind = ModelKind {
    kind: "random",
    about: "a random ranking per user",
    version: 1,
    parse: |v| {
        let (p, canon) = params::canonical::<RandomParams>(v)?;
        Ok((Box::new(RandomModel(p)), canon))
    },
};
