//! `multi_hot`: the mean of the embeddings of a multi-valued column's values (genres, tags).

use super::{Build, Encoder, EncoderKind, Given, GivenValue, Input, Rows};
use crate::data::FeatureColumn;
use crate::nn::{Bags, InputBuilder, ParamStore, TableId};
use anyhow::{bail, Result};

pub static KIND: EncoderKind = EncoderKind { name: "multi_hot", about: "the mean embedding of a multi-hot column's values", build };

/// Values kept per row (the last ones beyond this are dropped).
const MAX_VALUES: usize = 64;

/// Values a row's bag holds: the longest row's, at most [`MAX_VALUES`].
pub fn bag_width(values: &[Vec<u32>]) -> usize {
    values.iter().map(Vec::len).max().unwrap_or(0).clamp(1, MAX_VALUES)
}

fn build<'a>(input: &Input<'a>, b: &mut Build) -> Option<Result<Box<dyn Encoder + 'a>>> {
    let Input::Column { name, column: FeatureColumn::MultiHot { cardinality, values, .. } } = input else { return None };
    Some((|| {
        if let Some(v) = values.iter().flatten().find(|&&v| v >= *cardinality) {
            bail!("{} feature `{name}` holds {v}, outside its cardinality {cardinality}", b.side);
        }
        let table = b.table(&format!("feature.{name}"), *cardinality as usize)?;
        let bag_width = bag_width(values);
        Ok(Box::new(MultiHot { name, table, dim: b.dim, bag_width, values }) as Box<dyn Encoder>)
    })())
}

pub struct MultiHot<'a> {
    name: &'a str,
    table: TableId,
    dim: usize,
    /// Padded bag width.
    bag_width: usize,
    values: &'a [Vec<u32>],
}

impl Encoder for MultiHot<'_> {
    fn kind(&self) -> &'static str {
        KIND.name
    }

    fn width(&self) -> usize {
        self.dim
    }

    fn push(&self, store: &ParamStore, rows: &Rows, input: &mut InputBuilder) {
        let lists: Vec<&[u32]> = match Given::get(rows.given, self.name) {
            Some(GivenValue::Codes(c)) => vec![c.as_slice(); rows.ids.len()],
            _ => rows.ids.iter().map(|&i| self.values[i as usize].as_slice()).collect(),
        };
        input.bags(store, self.table, Bags::from_lists(&lists, self.bag_width));
    }
}
