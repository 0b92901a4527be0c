//! `text_history`: a user as the text of what they watched. The letter trigrams of the last
//! `text_history` training items' text (the item tower's `text` columns) are summed through
//! the user tower's own table, so a user needs no id to be encoded (DSSM's query side).

use super::text::row_bags;
use super::{Build, Encoder, EncoderKind, Input, Rows, TextEncoder, TextSettings};
use crate::nn::groups::GroupBags;
use crate::nn::{InputBuilder, ParamStore, TableId};
use anyhow::Result;
use std::sync::Arc;

pub static KIND: EncoderKind = EncoderKind { name: "text_history", about: "the summed trigram embeddings of the text of the user's last items", build };

fn build<'a>(input: &Input<'a>, b: &mut Build) -> Option<Result<Box<dyn Encoder + 'a>>> {
    let Input::TextHistory { columns, n_items, len, text: TextSettings { buckets, encoder: TextEncoder::Bag, .. } } = input else { return None };
    Some((|| {
        let item_bags = row_bags(columns, *n_items, *buckets, "item")?;
        let table = b.table("text_history", *buckets as usize)?;
        Ok(Box::new(TextHistory { table, dim: b.dim, len: *len, item_bags: Arc::new(item_bags) }) as Box<dyn Encoder>)
    })())
}

pub struct TextHistory {
    table: TableId,
    dim: usize,
    len: usize,
    item_bags: Arc<Vec<Vec<u32>>>,
}

impl Encoder for TextHistory {
    fn kind(&self) -> &'static str {
        KIND.name
    }

    fn width(&self) -> usize {
        self.dim
    }

    fn push(&self, store: &ParamStore, rows: &Rows, input: &mut InputBuilder) {
        // Each item's trigrams are summed once per pass however many rows list the item.
        let lists: Vec<Vec<u32>> = rows.history.iter().map(|h| h[h.len().saturating_sub(self.len)..].to_vec()).collect();
        input.groups(store, self.table, GroupBags::new(self.item_bags.clone(), &lists));
    }
}
