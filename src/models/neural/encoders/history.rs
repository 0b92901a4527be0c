//! `history`: the user's last items, pooled through the item embeddings: the mean (YouTube
//! DNN's watch-history average) or a recency-weighted mean (`history_pooling = "recency"`).

use super::{Build, Encoder, EncoderKind, Input, Rows};
use crate::models::neural::params::Pooling;
use crate::nn::{Bags, InputBuilder, ParamStore, TableId};
use anyhow::Result;

pub static KIND: EncoderKind = EncoderKind { name: "history", about: "the pooled embeddings of the user's last `history` items", build };

fn build<'a>(input: &Input<'a>, b: &mut Build) -> Option<Result<Box<dyn Encoder + 'a>>> {
    let &Input::History { table, len, pooling, decay } = input else { return None };
    let dim = b.store.get_table(table).dim;
    Some(Ok(Box::new(History { table, dim, len, decay: if pooling == Pooling::Recency { decay } else { 1.0 }, pooling })))
}

pub struct History {
    table: TableId,
    dim: usize,
    len: usize,
    pooling: Pooling,
    decay: f32,
}

impl Encoder for History {
    fn kind(&self) -> &'static str {
        KIND.name
    }

    fn width(&self) -> usize {
        self.dim
    }

    fn push(&self, store: &ParamStore, rows: &Rows, input: &mut InputBuilder) {
        let bags = match self.pooling {
            Pooling::Mean => Bags::from_lists(rows.history, self.len),
            Pooling::Recency => Bags::recency_weighted(rows.history, self.len, self.decay),
        };
        input.bags(store, self.table, bags);
    }
}
