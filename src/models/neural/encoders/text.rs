//! `text`: DSSM's word hashing. The row's text (the listed columns, words joined) is cut
//! into letter trigrams hashed into `buckets` ([`crate::data::text`]); the sum of their
//! embeddings is the block, which equals the paper's first layer applied to the trigram
//! count vector without ever building that `buckets`-wide vector.

use super::{Build, Encoder, EncoderKind, Given, Input, Rows, TextEncoder, TextSettings};
use crate::data::text::letter_trigram_bag;
use crate::data::FeatureColumn;
use crate::nn::{Bags, InputBuilder, ParamStore, TableId};
use anyhow::{bail, Result};

pub static KIND: EncoderKind = EncoderKind { name: "text", about: "the summed embeddings of the letter trigrams of text columns", build };

/// Trigrams kept per row (the last ones beyond this are dropped).
pub const MAX_TRIGRAMS: usize = 1024;

fn build<'a>(input: &Input<'a>, b: &mut Build) -> Option<Result<Box<dyn Encoder + 'a>>> {
    let Input::Text { columns, text: TextSettings { buckets, encoder: TextEncoder::Bag, .. } } = input else { return None };
    Some((|| {
        let bags = row_bags(columns, b.n_rows, *buckets, b.side)?;
        let table = b.table("text", *buckets as usize)?;
        Ok(Box::new(Text { table, dim: b.dim, bags, columns: columns.clone(), buckets: *buckets }) as Box<dyn Encoder>)
    })())
}

/// Per row, the trigram buckets of its text in `columns` (words of all columns together).
pub fn row_bags(columns: &[(&str, &FeatureColumn)], n_rows: usize, buckets: u32, side: &str) -> Result<Vec<Vec<u32>>> {
    check_columns(columns, n_rows, side)?;
    Ok((0..n_rows).map(|r| letter_trigram_bag(&row_text(columns, r, None), buckets)).collect())
}

/// Row `r`'s words in `columns`, joined, with the text `given` for any of them instead.
pub fn row_text(columns: &[(&str, &FeatureColumn)], r: usize, given: Option<&Given>) -> String {
    columns.iter().filter_map(|(_, c)| Given::text_of(given, c, r)).collect::<Vec<_>>().join(" ")
}

/// Every column has a row per `side` row and holds words.
pub fn check_columns(columns: &[(&str, &FeatureColumn)], n_rows: usize, side: &str) -> Result<()> {
    for (name, col) in columns {
        if col.len() != n_rows {
            bail!("{side} feature `{name}` has {} rows for {n_rows} {side}s", col.len());
        }
        if col.text_of(0).is_none() && n_rows > 0 {
            bail!("`{side}.text` names `{name}`, which holds no words (a text column, or a multi-hot column with labels such as MovieLens `genres`); list it under `{side}.features` instead");
        }
    }
    Ok(())
}

pub struct Text<'a> {
    table: TableId,
    dim: usize,
    bags: Vec<Vec<u32>>,
    /// The columns and buckets the bags came from, for text given with a question.
    columns: Vec<(&'a str, &'a FeatureColumn)>,
    buckets: u32,
}

impl Encoder for Text<'_> {
    fn kind(&self) -> &'static str {
        KIND.name
    }

    fn width(&self) -> usize {
        self.dim
    }

    fn push(&self, store: &ParamStore, rows: &Rows, input: &mut InputBuilder) {
        if Given::any(rows.given, self.columns.iter().map(|c| c.0)) {
            let bags: Vec<Vec<u32>> = rows.ids.iter().map(|&i| letter_trigram_bag(&row_text(&self.columns, i as usize, rows.given), self.buckets)).collect();
            let lists: Vec<&[u32]> = bags.iter().map(Vec::as_slice).collect();
            input.bags(store, self.table, Bags::summed(&lists, MAX_TRIGRAMS));
            return;
        }
        let lists: Vec<&[u32]> = rows.ids.iter().map(|&i| self.bags[i as usize].as_slice()).collect();
        input.bags(store, self.table, Bags::summed(&lists, MAX_TRIGRAMS));
    }
}
