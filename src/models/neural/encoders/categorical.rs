//! `categorical`: one embedding per value of a categorical column (gender, occupation...).

use super::{Build, Encoder, EncoderKind, Given, GivenValue, Input, Rows};
use crate::data::FeatureColumn;
use crate::nn::{InputBuilder, ParamStore, TableId};
use anyhow::{bail, Result};

pub static KIND: EncoderKind = EncoderKind { name: "categorical", about: "an embedding per value of a categorical column", build };

fn build<'a>(input: &Input<'a>, b: &mut Build) -> Option<Result<Box<dyn Encoder + 'a>>> {
    let Input::Column { name, column: FeatureColumn::Categorical { cardinality, values, .. } } = input else { return None };
    Some((|| {
        if let Some(v) = values.iter().find(|&&v| v >= *cardinality) {
            bail!("{} feature `{name}` holds {v}, outside its cardinality {cardinality}", b.side);
        }
        let table = b.table(&format!("feature.{name}"), *cardinality as usize)?;
        Ok(Box::new(Categorical { name, table, dim: b.dim, values }) as Box<dyn Encoder>)
    })())
}

pub struct Categorical<'a> {
    name: &'a str,
    table: TableId,
    dim: usize,
    values: &'a [u32],
}

impl Encoder for Categorical<'_> {
    fn kind(&self) -> &'static str {
        KIND.name
    }

    fn width(&self) -> usize {
        self.dim
    }

    fn push(&self, store: &ParamStore, rows: &Rows, input: &mut InputBuilder) {
        let codes = match Given::get(rows.given, self.name) {
            Some(GivenValue::Code(c)) => vec![*c; rows.ids.len()],
            _ => rows.ids.iter().map(|&i| self.values[i as usize]).collect(),
        };
        input.ids(store, self.table, codes);
    }
}
