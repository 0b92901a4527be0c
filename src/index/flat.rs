//! `kind = "flat"`: exact top-K search (placeholder; the index owner replaces it with the
//! blocked matrix-product version).

use super::{AnnIndex, Hit, IndexKind, Metric};
use crate::config::params::{self, Validate};
use crate::linalg::{dot, l2_sq, Matrix};
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FlatParams {}
impl Validate for FlatParams {}

pub struct Flat {
    items: Matrix,
    metric: Metric,
}

impl Flat {
    pub fn new(items: &Matrix, metric: Metric) -> Result<Self> {
        if let Some(r) = items.first_non_finite_row() {
            bail!("item vector {r} holds NaN or infinity");
        }
        let mut items = items.clone();
        if metric == Metric::Cos {
            items.normalize_rows();
        }
        Ok(Flat { items, metric })
    }
}

impl AnnIndex for Flat {
    fn len(&self) -> usize {
        self.items.rows
    }
    fn dim(&self) -> usize {
        self.items.cols
    }
    fn metric(&self) -> Metric {
        self.metric
    }
    fn search(&self, query: &[f32], k: usize, exclude: &[u32]) -> Vec<Hit> {
        let mut q = query.to_vec();
        if self.metric == Metric::Cos {
            let n = dot(&q, &q).sqrt();
            if n > 0.0 {
                q.iter_mut().for_each(|x| *x /= n);
            }
        }
        let mut hits: Vec<Hit> = (0..self.items.rows as u32)
            .filter(|i| exclude.binary_search(i).is_err())
            .map(|i| {
                let r = self.items.row(i as usize);
                let score = match self.metric {
                    Metric::L2 => -l2_sq(&q, r),
                    _ => dot(&q, r),
                };
                Hit { id: i, score }
            })
            .collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
        hits.truncate(k);
        hits
    }
    fn memory_bytes(&self) -> usize {
        self.items.data.len() * 4
    }
    fn save(&self, dir: &Path) -> Result<()> {
        crate::pipeline::artifacts::write_matrix(&dir.join("items.f32"), &self.items)?;
        std::fs::write(dir.join("flat.json"), serde_json::to_string(&self.metric)?)?;
        Ok(())
    }
}

pub static KIND: IndexKind = IndexKind {
    kind: "flat",
    about: "exact search",
    version: 1,
    search_keys: &[],
    parse: |v| params::canonical::<FlatParams>(v).map(|(_, c)| c),
    build: |_, items, metric, _| Ok(Box::new(Flat::new(items, metric)?)),
    load: |_, dir| {
        let items = crate::pipeline::artifacts::read_matrix(&dir.join("items.f32"))?;
        let metric: Metric = serde_json::from_str(&std::fs::read_to_string(dir.join("flat.json"))?)?;
        Ok(Box::new(Flat { items, metric }))
    },
};
