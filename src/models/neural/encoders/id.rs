//! `id`: a learned embedding per user or item id.

use super::{Build, Encoder, EncoderKind, Input, Rows};
use crate::nn::{InputBuilder, ParamStore, TableId};
use anyhow::Result;

pub static KIND: EncoderKind = EncoderKind { name: "id", about: "an embedding per id (`id = true`)", build };

fn build<'a>(input: &Input<'a>, b: &mut Build) -> Option<Result<Box<dyn Encoder + 'a>>> {
    let Input::Id = input else { return None };
    Some(b.table("id", b.n_rows).map(|table| Box::new(IdEmbedding { table, dim: b.dim }) as Box<dyn Encoder>))
}

pub struct IdEmbedding {
    pub table: TableId,
    dim: usize,
}

impl Encoder for IdEmbedding {
    fn kind(&self) -> &'static str {
        KIND.name
    }

    fn width(&self) -> usize {
        self.dim
    }

    fn push(&self, store: &ParamStore, rows: &Rows, input: &mut InputBuilder) {
        input.ids(store, self.table, rows.ids.to_vec());
    }

    fn id_table(&self) -> Option<TableId> {
        Some(self.table)
    }
}
