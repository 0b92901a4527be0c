//! Side features of users and items, column-wise with one row per dense id.

use serde::{Deserialize, Serialize};

/// One feature column.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FeatureColumn {
    /// One category per row, `0..cardinality`. `labels` names the categories when the source
    /// does (MovieLens occupations), so a service can take `"writer"` for a code.
    Categorical {
        name: String,
        cardinality: u32,
        values: Vec<u32>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        labels: Vec<String>,
    },
    /// A bag of categories per row (genres, tags), mean-pooled by neural models. `labels`
    /// names the categories when the source does (MovieLens genres), so text encoders can
    /// read the column as words.
    MultiHot {
        name: String,
        cardinality: u32,
        values: Vec<Vec<u32>>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        labels: Vec<String>,
    },
    /// A raw number per row; models standardise it on the training split.
    Numeric { name: String, values: Vec<f32> },
    /// Free text per row (titles, descriptions), read by the text encoders.
    Text { name: String, values: Vec<String> },
    /// `dim` numbers per row, row-major, NaN where the source has none (MovieLens's tag
    /// genome: 1,128 relevances per movie). The numeric encoder standardises each dimension
    /// as it does a numeric column. `values` is not serialised: the data stage stores it as a
    /// binary matrix beside `dataset.json`, since 11.7M numbers as JSON text would be most of
    /// the entry and slow to read back.
    Vector {
        name: String,
        dim: u32,
        #[serde(skip)]
        values: Vec<f32>,
    },
}

impl FeatureColumn {
    pub fn name(&self) -> &str {
        match self {
            FeatureColumn::Categorical { name, .. }
            | FeatureColumn::MultiHot { name, .. }
            | FeatureColumn::Numeric { name, .. }
            | FeatureColumn::Text { name, .. }
            | FeatureColumn::Vector { name, .. } => name,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            FeatureColumn::Categorical { values, .. } => values.len(),
            FeatureColumn::MultiHot { values, .. } => values.len(),
            FeatureColumn::Numeric { values, .. } => values.len(),
            FeatureColumn::Text { values, .. } => values.len(),
            FeatureColumn::Vector { dim, values, .. } => values.len() / (*dim).max(1) as usize,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The words of row `r` for text encoders: a text column's text, a multi-hot column's
    /// category labels; `None` for columns that hold no words.
    pub fn text_of(&self, r: usize) -> Option<String> {
        match self {
            FeatureColumn::Text { values, .. } => Some(values[r].clone()),
            FeatureColumn::MultiHot { values, labels, .. } if !labels.is_empty() => {
                Some(values[r].iter().filter_map(|&v| labels.get(v as usize)).cloned().collect::<Vec<_>>().join(" "))
            }
            _ => None,
        }
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
                FeatureColumn::Categorical { name, cardinality, values, labels } => FeatureColumn::Categorical {
                    name: name.clone(),
                    cardinality: *cardinality,
                    values: keep.iter().map(|i| values[pick(i)]).collect(),
                    labels: labels.clone(),
                },
                FeatureColumn::MultiHot { name, cardinality, values, labels } => FeatureColumn::MultiHot {
                    name: name.clone(),
                    cardinality: *cardinality,
                    values: keep.iter().map(|i| values[pick(i)].clone()).collect(),
                    labels: labels.clone(),
                },
                FeatureColumn::Numeric { name, values } => {
                    FeatureColumn::Numeric { name: name.clone(), values: keep.iter().map(|i| values[pick(i)]).collect() }
                }
                FeatureColumn::Text { name, values } => {
                    FeatureColumn::Text { name: name.clone(), values: keep.iter().map(|i| values[pick(i)].clone()).collect() }
                }
                FeatureColumn::Vector { name, dim, values } => {
                    let d = *dim as usize;
                    let values = keep.iter().flat_map(|i| values[pick(i) * d..(pick(i) + 1) * d].iter().copied()).collect();
                    FeatureColumn::Vector { name: name.clone(), dim: *dim, values }
                }
            })
            .collect();
        FeatureTable { columns }
    }
}
