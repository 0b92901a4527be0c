//! The user tower at question time (`runner serve`, `runner recommend --features`): the towers
//! are built again over the run's dataset and split exactly as training built them
//! ([`Towers::build`]), the trained weights are loaded into them, and a question's user is
//! encoded by the same [`super::tower::Tower::encode_given`] that encoded the cached user
//! vectors, so a training user asked as they were trained on gets their cached vector, bit for
//! bit. A question replaces any of the user's feature columns and history with values of its
//! own; a user the training never saw gives all of them.

use super::encoders::{Given, GivenValue};
use super::params::TwoTowerParams;
use super::tower::Towers;
use super::train::Histories;
use crate::data::{Dataset, FeatureColumn, Split};
use crate::models::{BadQuestion, OnlineQuery, UserQuestion};
use anyhow::{Context, Result};
use serde_json::Value;
use std::sync::Arc;

self_cell::self_cell!(
    /// The dataset and the towers that read its feature columns.
    struct Cell {
        owner: Arc<Dataset>,
        #[covariant]
        dependent: Towers,
    }
);

pub struct OnlineTower {
    cell: Cell,
    /// Training histories: a known user's history unless the question gives one.
    hist: Histories,
    /// The columns the user tower reads: its feature columns, then its text columns.
    reads: Vec<String>,
    /// Whether the user tower embeds the user's id (then only training users can be asked).
    id: bool,
}

/// The user tower of a model with params `p` trained on `dataset` and `split` with `seed`,
/// holding `weights` ([`crate::models::Trained::weights`]).
pub fn load(p: &TwoTowerParams, dataset: Arc<Dataset>, split: &Split, seed: u64, weights: &[u8]) -> Result<OnlineTower> {
    let cell = Cell::try_new(dataset, |ds| -> Result<Towers> {
        let mut towers = Towers::build(p, ds, split, seed)?;
        towers.store.from_safetensors(weights).context("the train entry's weights do not fit the model's towers")?;
        Ok(towers)
    })?;
    Ok(OnlineTower { cell, hist: Histories::new(split), reads: p.user.features.iter().chain(&p.user.text).cloned().collect(), id: p.user.id })
}

fn bad(msg: String) -> anyhow::Error {
    anyhow::Error::new(BadQuestion(msg))
}

/// The labels of a categorical or multi-hot column, at most 30 of them, for an error.
fn listed(labels: &[String]) -> String {
    let shown: Vec<&str> = labels.iter().take(30).map(String::as_str).collect();
    format!("{}{}", shown.join(", "), if labels.len() > 30 { ", ..." } else { "" })
}

/// A category given by its label (or, for a column without labels, its code).
fn code(name: &str, cardinality: u32, labels: &[String], v: &Value) -> Result<u32> {
    let esc = crate::term::escape_controls;
    let text = match v {
        Value::String(s) => s.clone(),
        // 5.0 names the category `5`, as a JSON writer may print an integer.
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e15 && n.as_i64().is_none() && n.as_u64().is_none() => format!("{f:.0}"),
            _ => n.to_string(),
        },
        other => return Err(bad(format!("`{name}` takes a category (a string), not {other}"))),
    };
    if labels.is_empty() {
        return match text.parse::<u32>() {
            Ok(c) if c < cardinality => Ok(c),
            _ => Err(bad(format!("`{name}` holds category codes 0..{cardinality} without names; give one of them, not `{}`", esc(&text)))),
        };
    }
    if let Some(i) = labels.iter().position(|l| *l == text).or_else(|| labels.iter().position(|l| l.eq_ignore_ascii_case(&text))) {
        return Ok(i as u32);
    }
    let near = crate::params::nearest(&text, labels.iter().map(String::as_str)).map(|n| format!("did you mean `{n}`? ")).unwrap_or_default();
    Err(bad(format!("`{name}` has no value `{}` that training saw; {near}values: {}", esc(&text), listed(labels))))
}

/// `v` in `column`'s own terms: a text column's text, a category's label (or code), a
/// multi-hot column's labels, numbers. A labelled column read as words (`user.text`) takes
/// its labels too: the text encoders read given codes as their labels' words.
pub(super) fn parse_value(column: &FeatureColumn, v: &Value) -> Result<GivenValue> {
    let name = column.name();
    match (column, v) {
        (FeatureColumn::Text { .. }, Value::String(s)) => Ok(GivenValue::Text(s.clone())),
        (FeatureColumn::Text { .. }, _) => Err(bad(format!("`{name}` is text: give a string, not {v}"))),
        (FeatureColumn::Categorical { cardinality, labels, .. }, v) => Ok(GivenValue::Code(code(name, *cardinality, labels, v)?)),
        (FeatureColumn::MultiHot { cardinality, labels, values, .. }, v @ (Value::Array(_) | Value::String(_) | Value::Number(_))) => {
            let codes: Vec<u32> = match v {
                Value::Array(vs) => vs.iter().map(|v| code(name, *cardinality, labels, v)).collect::<Result<_>>()?,
                v => vec![code(name, *cardinality, labels, v)?],
            };
            // The encoder's bags are as wide as the longest row training saw.
            let width = super::encoders::multi_hot::bag_width(values);
            if codes.len() > width {
                return Err(bad(format!("`{name}` holds at most {width} values a row (as training saw it), got {}", codes.len())));
            }
            Ok(GivenValue::Codes(codes))
        }
        (FeatureColumn::Numeric { .. }, Value::Number(n)) => Ok(GivenValue::Numbers(vec![n.as_f64().unwrap_or(f64::NAN) as f32])),
        // Missing, as a missing value in the data: the standardised 0.
        (FeatureColumn::Numeric { .. }, Value::Null) => Ok(GivenValue::Numbers(vec![f32::NAN])),
        (FeatureColumn::Vector { dim, .. }, Value::Array(vs)) if vs.len() == *dim as usize => vs
            .iter()
            .map(|x| x.as_f64().map(|f| f as f32).ok_or_else(|| bad(format!("`{name}` takes {dim} numbers, and {x} is not one"))))
            .collect::<Result<_>>()
            .map(GivenValue::Numbers),
        (FeatureColumn::Vector { dim, .. }, _) => Err(bad(format!("`{name}` takes an array of {dim} numbers, not {v}"))),
        (FeatureColumn::MultiHot { .. }, _) => Err(bad(format!("`{name}` takes a list of values, not {v}"))),
        (FeatureColumn::Numeric { .. }, _) => Err(bad(format!("`{name}` takes a number, not {v}"))),
    }
}

impl OnlineTower {
    /// The question's feature values, checked against the columns the user tower reads.
    fn given(&self, ds: &Dataset, features: &serde_json::Map<String, Value>) -> Result<Given> {
        let reads = &self.reads;
        let mut given = Given::default();
        for (name, v) in features {
            if !reads.contains(name) {
                let near = crate::params::nearest(name, reads.iter().map(String::as_str)).map(|n| format!("did you mean `{n}`? ")).unwrap_or_default();
                let it_reads = if reads.is_empty() { "none".to_string() } else { reads.join(", ") };
                return Err(bad(format!("the user tower reads no feature `{}`; {near}it reads: {it_reads}", crate::term::escape_controls(name))));
            }
            let column = ds.user_features.get(name).with_context(|| format!("internal: the user tower reads `{name}`, which the dataset lacks"))?;
            given.0.insert(name.clone(), parse_value(column, v)?);
        }
        Ok(given)
    }
}

impl OnlineQuery for OnlineTower {
    fn query(&self, q: &UserQuestion) -> Result<Vec<f32>> {
        let (ds, towers) = (self.cell.borrow_owner(), self.cell.borrow_dependent());
        let given = self.given(ds, q.features)?;
        if q.user.is_none() {
            if self.id {
                return Err(bad(
                    "the user tower embeds each training user's id (`user.id = true`), so it can only encode a known `user` (whose features and history a question may replace); train with `user.id = false` to answer new users".into(),
                ));
            }
            let missing: Vec<&str> = self.reads.iter().filter(|n| !given.0.contains_key(*n)).map(String::as_str).collect();
            if !missing.is_empty() {
                return Err(bad(format!("a new user (no `user` given) needs every feature the user tower reads; missing: {}", missing.join(", "))));
            }
        }
        let len = towers.history_len;
        let tail = |h: &[u32]| h[h.len().saturating_sub(len)..].to_vec();
        let history = match (q.history, q.user) {
            (Some(h), _) => tail(h),
            (None, Some(u)) => tail(self.hist.of(u)),
            (None, None) => Vec::new(),
        };
        // A new user's rows come from `given` alone: row 0 is never read.
        let id = q.user.unwrap_or(0);
        let m = towers.user.encode_given(&towers.store, &[id], &|_| history.clone(), (!given.0.is_empty()).then_some(&given));
        Ok(m.data)
    }

    fn inputs(&self) -> Vec<String> {
        self.reads.clone()
    }

    fn takes_history(&self) -> bool {
        !self.id
    }
}
