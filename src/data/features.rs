//! Side features of users and items, column-wise with one row per dense id.

use serde::{Deserialize, Serialize};

/// One feature column.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FeatureColumn {
    /// One category per row, `0..cardinality`.
    Categorical { name: String, cardinality: u32, values: Vec<u32> },
    /// A bag of categories per row (genres, tags), mean-pooled by neural models.
    MultiHot { name: String, cardinality: u32, values: Vec<Vec<u32>> },
    /// A raw number per row; models standardise it on the training split.
    Numeric { name: String, values: Vec<f32> },
}

impl FeatureColumn {
    pub fn name(&self) -> &str {
        match self {
            FeatureColumn::Categorical { name, .. } | FeatureColumn::MultiHot { name, .. } | FeatureColumn::Numeric { name, .. } => name,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            FeatureColumn::Categorical { values, .. } => values.len(),
            FeatureColumn::MultiHot { values, .. } => values.len(),
            FeatureColumn::Numeric { values, .. } => values.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The feature columns of one side (users or items).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FeatureTable {
    pub columns: Vec<FeatureColumn>,
}

impl FeatureTable {
    pub fn get(&self, name: &str) -> Option<&FeatureColumn> {
        self.columns.iter().find(|c| c.name() == name)
    }

    pub fn names(&self) -> Vec<&str> {
        self.columns.iter().map(|c| c.name()).collect()
    }

    /// Keeps the rows listed in `keep` (old ids, in new-id order), after filtering remaps ids.
    pub fn select_rows(&self, keep: &[u32]) -> FeatureTable {
        let pick = |i: &u32| *i as usize;
        let columns = self
            .columns
            .iter()
            .map(|c| match c {
                FeatureColumn::Categorical { name, cardinality, values } => {
                    FeatureColumn::Categorical { name: name.clone(), cardinality: *cardinality, values: keep.iter().map(|i| values[pick(i)]).collect() }
                }
                FeatureColumn::MultiHot { name, cardinality, values } => {
                    FeatureColumn::MultiHot { name: name.clone(), cardinality: *cardinality, values: keep.iter().map(|i| values[pick(i)].clone()).collect() }
                }
                FeatureColumn::Numeric { name, values } => {
                    FeatureColumn::Numeric { name: name.clone(), values: keep.iter().map(|i| values[pick(i)]).collect() }
                }
            })
            .collect();
        FeatureTable { columns }
    }
}
