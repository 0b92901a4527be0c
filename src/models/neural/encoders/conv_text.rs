//! `conv_text`: CDSSM's text encoder (`text_encoder = "conv"`). Each word of the row's text
//! (the `text` columns, or for `text_history` the words of the user's last items) is a bag of
//! letter-trigram buckets; a tanh convolution slides over windows of `window` words and the
//! result is max-pooled over positions ([`crate::nn::conv`]). The block is `embedding_dim`
//! wide (the number of filters); the tower's MLP is the semantic layer on top.

use super::text::{row_text, MAX_TRIGRAMS};
use super::{Build, Encoder, EncoderKind, Given, Input, Rows, TextEncoder, TextSettings};
use crate::data::text::word_bags;
use crate::data::FeatureColumn;
use crate::nn::conv::ConvText as ConvRows;
use crate::nn::{InputBuilder, ParamStore, TableId};
use anyhow::Result;

pub static KIND: EncoderKind = EncoderKind { name: "conv_text", about: "a max-pooled tanh convolution over windows of words (letter-trigram bags)", build };

/// Words kept per row (the last ones beyond this are dropped).
const MAX_WORDS: usize = MAX_TRIGRAMS / 4;

fn build<'a>(input: &Input<'a>, b: &mut Build) -> Option<Result<Box<dyn Encoder + 'a>>> {
    let (columns, n, history, text) = match input {
        Input::Text { columns, text: t @ TextSettings { encoder: TextEncoder::Conv, .. } } => (columns, b.n_rows, None, *t),
        Input::TextHistory { columns, n_items, len, text: t @ TextSettings { encoder: TextEncoder::Conv, .. } } => (columns, *n_items, Some(*len), *t),
        _ => return None,
    };
    Some((|| {
        let side = if history.is_some() { "item" } else { b.side };
        super::text::check_columns(columns, n, side)?;
        let words = row_words(columns, n, text.buckets);
        let name = if history.is_some() { "conv_history" } else { "conv" };
        let table = b.table(name, ConvRows::table_rows(text.window, text.buckets))?;
        Ok(Box::new(ConvText { table, dim: b.dim, window: text.window, buckets: text.buckets, words, history, columns: columns.clone() }) as Box<dyn Encoder>)
    })())
}

/// Per row, its words' trigram bags (all `columns`, in order).
fn row_words(columns: &[(&str, &FeatureColumn)], n: usize, buckets: u32) -> Vec<Vec<Vec<u32>>> {
    (0..n).map(|r| word_bags(&row_text(columns, r, None), buckets)).collect()
}

pub struct ConvText<'a> {
    table: TableId,
    dim: usize,
    window: usize,
    buckets: u32,
    /// Per row of the side (items, for a history), its words.
    words: Vec<Vec<Vec<u32>>>,
    /// `Some(len)`: the row is the words of the user's last `len` items.
    history: Option<usize>,
    /// The columns the words came from, for text given with a question.
    columns: Vec<(&'a str, &'a FeatureColumn)>,
}

impl Encoder for ConvText<'_> {
    fn kind(&self) -> &'static str {
        KIND.name
    }

    fn width(&self) -> usize {
        self.dim
    }

    fn push(&self, store: &ParamStore, rows: &Rows, input: &mut InputBuilder) {
        let texts: Vec<Vec<Vec<u32>>> = match self.history {
            None if Given::any(rows.given, self.columns.iter().map(|c| c.0)) => {
                rows.ids.iter().map(|&i| word_bags(&row_text(&self.columns, i as usize, rows.given), self.buckets)).collect()
            }
            None => rows.ids.iter().map(|&i| self.words[i as usize].clone()).collect(),
            Some(len) => {
                rows.history.iter().map(|h| h[h.len().saturating_sub(len)..].iter().flat_map(|&i| self.words[i as usize].iter().cloned()).collect()).collect()
            }
        };
        let texts = texts.into_iter().map(|mut w| if w.len() > MAX_WORDS { w.split_off(w.len() - MAX_WORDS) } else { w }).collect();
        input.conv(store, self.table, ConvRows::new(self.window, self.buckets, texts));
    }
}
