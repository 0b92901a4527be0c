//! Input encoders: each turns one input of a tower (the row's id, a feature column, the
//! user's history) into a block of columns of the tower's input matrix. A tower is the
//! concatenation of its encoders' blocks fed through an MLP ([`super::tower`]).
//!
//! Adding an encoder: a file with a static [`EncoderKind`] whose `build` accepts the
//! [`Input`]s it handles, and one line in [`KINDS`]. Encoders only describe their block
//! (embedding-table rows, pooled bags, dense values) through [`InputBuilder`]; gathering the
//! rows and routing the gradient back to exactly those rows is the builder's, so an encoder
//! needs no backward pass of its own.

pub mod categorical;
pub mod conv_text;
pub mod history;
pub mod id;
pub mod multi_hot;
pub mod numeric;
pub mod text;
pub mod text_history;

use crate::data::FeatureColumn;
use crate::nn::{Init, InputBuilder, ParamStore, TableId};
use anyhow::Result;

/// The rows a tower encodes in one pass.
pub struct Rows<'r> {
    /// Ids of the tower's side (users or items).
    pub ids: &'r [u32],
    /// Users: each row's history, oldest first (empty for items).
    pub history: &'r [&'r [u32]],
    /// Values given with a question (`runner serve`) that every row of the pass reads instead
    /// of its own row of the dataset, for the columns they name.
    pub given: Option<&'r Given>,
}

/// Feature values given at question time, by column name, already checked against the
/// column's type and vocabulary (see `neural::online`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Given(pub std::collections::BTreeMap<String, GivenValue>);

/// One given value, in the column's own terms.
#[derive(Clone, Debug, PartialEq)]
pub enum GivenValue {
    /// A categorical column's code.
    Code(u32),
    /// A multi-hot column's codes.
    Codes(Vec<u32>),
    /// A numeric column's number (NaN: missing) or a vector column's numbers.
    Numbers(Vec<f32>),
    /// A text column's text.
    Text(String),
}

impl Given {
    fn get<'g>(given: Option<&'g Given>, name: &str) -> Option<&'g GivenValue> {
        given.and_then(|g| g.0.get(name))
    }

    /// Whether any of `names` is given.
    pub fn any(given: Option<&Given>, names: impl IntoIterator<Item = impl AsRef<str>>) -> bool {
        given.is_some_and(|g| names.into_iter().any(|n| g.0.contains_key(n.as_ref())))
    }

    /// The words of `column` for row `r` as the text encoders read them: the given text (or
    /// a given multi-hot value's labels), else the row's own ([`FeatureColumn::text_of`]).
    pub fn text_of(given: Option<&Given>, column: &FeatureColumn, r: usize) -> Option<String> {
        match (Given::get(given, column.name()), column) {
            (Some(GivenValue::Text(t)), _) => Some(t.clone()),
            (Some(GivenValue::Codes(c)), FeatureColumn::MultiHot { labels, .. }) if !labels.is_empty() => {
                Some(c.iter().filter_map(|&v| labels.get(v as usize)).cloned().collect::<Vec<_>>().join(" "))
            }
            _ => column.text_of(r),
        }
    }
}

/// One input of a tower.
pub trait Encoder: Send + Sync {
    /// The registry name of the encoder's kind.
    fn kind(&self) -> &'static str;
    /// Columns it adds to the tower input.
    fn width(&self) -> usize;
    /// Appends its block for `rows` to the tower input.
    fn push(&self, store: &ParamStore, rows: &Rows, input: &mut InputBuilder);
    /// The table of the side's id embeddings, for the `id` encoder (the user history reads
    /// the item tower's).
    fn id_table(&self) -> Option<TableId> {
        None
    }
}

/// What a tower's config asks an encoder to read.
pub enum Input<'a> {
    /// An embedding per id of the tower's side.
    Id,
    /// A feature column of the side's feature table.
    Column { name: &'a str, column: &'a FeatureColumn },
    /// All numeric and vector columns of the side: (name, row-major values, numbers per
    /// row), each dimension standardised.
    Numeric(Vec<(&'a str, &'a [f32], usize)>),
    /// The user's last `len` items through the item embeddings `table`.
    History { table: TableId, len: usize, pooling: super::params::Pooling, decay: f32 },
    /// Columns of the side read as words, hashed into `buckets` letter trigrams.
    Text { columns: Vec<(&'a str, &'a FeatureColumn)>, text: TextSettings },
    /// The text (item `columns`, `n_items` rows) of the user's last `len` items.
    TextHistory { columns: Vec<(&'a str, &'a FeatureColumn)>, n_items: usize, len: usize, text: TextSettings },
}

pub use super::params::{TextEncoder, TextSettings};

/// What encoders may use while being built.
pub struct Build<'s> {
    pub store: &'s mut ParamStore,
    /// `user` or `item`: prefixes parameter names and error messages.
    pub side: &'s str,
    /// Rows of the side (users or items).
    pub n_rows: usize,
    /// Width of embeddings.
    pub dim: usize,
    /// Rows present in the training split (numeric standardisation uses only these).
    pub present: &'s [bool],
}

impl Build<'_> {
    /// A new embedding table named `<side>.<name>`, initialised like every tower embedding.
    pub fn table(&mut self, name: &str, rows: usize) -> Result<TableId> {
        self.store.table(&format!("{}.{name}", self.side), rows, self.dim, Init::Normal(0.1))
    }
}

/// A registered encoder kind. `build` returns `None` for inputs the kind does not handle.
pub struct EncoderKind {
    pub name: &'static str,
    pub about: &'static str,
    #[allow(clippy::type_complexity)]
    pub build: for<'a> fn(&Input<'a>, &mut Build) -> Option<Result<Box<dyn Encoder + 'a>>>,
}

/// Every encoder kind, in the order they are asked.
pub static KINDS: &[&EncoderKind] =
    &[&id::KIND, &categorical::KIND, &multi_hot::KIND, &numeric::KIND, &history::KIND, &text::KIND, &text_history::KIND, &conv_text::KIND];

/// The encoder for `input`: the first kind that handles it.
pub fn build<'a>(input: &Input<'a>, b: &mut Build) -> Result<Box<dyn Encoder + 'a>> {
    for k in KINDS {
        if let Some(e) = (k.build)(input, b) {
            return e;
        }
    }
    anyhow::bail!("internal: no encoder handles this {} input", b.side)
}
