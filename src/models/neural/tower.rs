//! A tower: the concatenation of its encoders' blocks -> MLP -> optional L2 normalisation.

use super::encoders::{self, Build, Encoder, Given, Input, Rows};
use super::params::{TowerFeatures, TwoTowerParams};
use crate::data::{Dataset, FeatureColumn, FeatureTable, Split};
use crate::linalg::Matrix;
use crate::nn::{l2_normalize, Ctx, Init, InputBuilder, LeafId, Mlp, ParamStore, TMat, TableId};
use anyhow::{bail, Result};

/// The item side's text, which the user tower's `text_history` reads.
pub struct ItemText<'a> {
    pub columns: Vec<(&'a str, &'a FeatureColumn)>,
    pub n_items: usize,
}

/// The columns `names` of `table`, for a `text` key; unknown names list what the side has.
pub fn text_columns<'a>(side: &str, names: &[String], table: &'a FeatureTable) -> Result<Vec<(&'a str, &'a FeatureColumn)>> {
    names
        .iter()
        .map(|name| match table.get(name) {
            Some(c) => Ok((c.name(), c)),
            None => bail!(
                "`{side}.text` names `{name}`, which the dataset's {side} features lack (it has: {})",
                if table.columns.is_empty() { "none".to_string() } else { table.names().join(", ") }
            ),
        })
        .collect()
}

/// Feature column `name` of `table` for a `features` key: it must exist and not be text.
fn feature_column<'a>(side: &str, name: &str, table: &'a FeatureTable) -> Result<&'a FeatureColumn> {
    let Some(col) = table.get(name) else {
        bail!(
            "`{side}.features` names `{name}`, which the dataset's {side} features lack (it has: {})",
            if table.columns.is_empty() { "none".to_string() } else { table.names().join(", ") }
        );
    };
    if let FeatureColumn::Text { .. } = col {
        bail!("{side} feature `{name}` is a text column: list it under `{side}.text` (word hashing), not `{side}.features`")
    }
    Ok(col)
}

/// Every column one side's config names exists in `table` with a usable type: what
/// [`Tower::build`] would refuse, checked before training.
pub fn check_columns(side: &str, cfg: &TowerFeatures, table: &FeatureTable) -> Result<()> {
    text_columns(side, &cfg.text, table)?;
    for name in &cfg.features {
        feature_column(side, name, table)?;
    }
    Ok(())
}

/// Both towers of a model over one dataset and split, their parameters in `store`: what
/// training builds, and what serving builds again to load the trained weights into, so the
/// two cannot disagree on the architecture.
pub struct Towers<'a> {
    pub store: ParamStore,
    pub item: Tower<'a>,
    pub user: Tower<'a>,
    /// Items of the history that any user encoder reads (the pooled ids, the text).
    pub history_len: usize,
}

impl<'a> Towers<'a> {
    pub fn build(p: &TwoTowerParams, dataset: &'a Dataset, split: &Split, seed: u64) -> Result<Self> {
        let (mut user_present, mut item_present) = (vec![false; split.n_users], vec![false; split.n_items]);
        for it in &split.train {
            user_present[it.user as usize] = true;
            item_present[it.item as usize] = true;
        }
        let mut store = ParamStore::new(seed)?;
        let n_items = split.n_items;
        let item = Tower::build(&mut store, "item", &p.item, p, n_items, &dataset.item_features, &item_present, None, None)?;
        let history = if p.user.history > 0 {
            Some(match item.id_table {
                Some(t) => t,
                None => store.table("user.history", n_items, p.embedding_dim, Init::Normal(0.1))?,
            })
        } else {
            None
        };
        let item_text = ItemText { columns: text_columns("item", &p.item.text, &dataset.item_features)?, n_items };
        let user = Tower::build(&mut store, "user", &p.user, p, split.n_users, &dataset.user_features, &user_present, history, Some(item_text))?;
        Ok(Towers { store, item, user, history_len: p.user.history.max(p.user.text_history) })
    }
}

pub struct Tower<'a> {
    pub encoders: Vec<Box<dyn Encoder + 'a>>,
    pub mlp: Mlp,
    pub normalize: bool,
    /// The id embedding table, when the tower has one (the user history reuses the item's).
    pub id_table: Option<TableId>,
}

impl<'a> Tower<'a> {
    /// Builds the tower of one side from its config: encoders in the order id, the feature
    /// columns as listed (numeric ones together, after the others), history; then the MLP.
    #[allow(clippy::too_many_arguments)]
    pub fn build(
        store: &mut ParamStore,
        side: &str,
        cfg: &TowerFeatures,
        p: &TwoTowerParams,
        n_rows: usize,
        table: &'a FeatureTable,
        present: &[bool],
        history: Option<TableId>,
        item_text: Option<ItemText<'a>>,
    ) -> Result<Self> {
        let mut inputs: Vec<Input<'a>> = Vec::new();
        if cfg.id {
            inputs.push(Input::Id);
        }
        let mut numeric = Vec::new();
        for name in &cfg.features {
            let col = feature_column(side, name, table)?;
            if col.len() != n_rows {
                bail!("{side} feature `{name}` has {} rows for {n_rows} {side}s", col.len());
            }
            match col {
                FeatureColumn::Numeric { name, values } => numeric.push((name.as_str(), values.as_slice(), 1)),
                FeatureColumn::Vector { name, dim, values } => numeric.push((name.as_str(), values.as_slice(), *dim as usize)),
                column => inputs.push(Input::Column { name: column.name(), column }),
            }
        }
        if !numeric.is_empty() {
            inputs.push(Input::Numeric(numeric));
        }
        if let Some(t) = history {
            inputs.push(Input::History { table: t, len: cfg.history, pooling: cfg.history_pooling, decay: cfg.history_decay });
        }
        if !cfg.text.is_empty() {
            inputs.push(Input::Text { columns: text_columns(side, &cfg.text, table)?, text: p.text_settings() });
        }
        if cfg.text_history > 0 {
            let Some(it) = item_text else { bail!("`{side}.text_history`: only the user tower has a history") };
            inputs.push(Input::TextHistory { columns: it.columns, n_items: it.n_items, len: cfg.text_history, text: p.text_settings() });
        }
        let mut b = Build { store, side, n_rows, dim: p.embedding_dim, present };
        let encoders = inputs.iter().map(|input| encoders::build(input, &mut b)).collect::<Result<Vec<_>>>()?;
        let id_table = encoders.iter().find_map(|e| e.id_table());
        let width = encoders.iter().map(|e| e.width()).sum();
        let mlp = Mlp::new(store, &format!("{side}.mlp"), width, &p.hidden, p.dim, p.activation, p.batch_norm, p.dropout)?;
        Ok(Tower { encoders, mlp, normalize: p.normalize, id_table })
    }

    /// Width of the tower input.
    pub fn input_width(&self) -> usize {
        self.encoders.iter().map(|e| e.width()).sum()
    }

    /// The input rows of `rows`.
    pub fn input(&self, store: &ParamStore, rows: &Rows) -> InputBuilder {
        let mut b = InputBuilder::new(rows.ids.len());
        for e in &self.encoders {
            e.push(store, rows, &mut b);
        }
        b
    }

    pub fn forward(&self, ctx: &mut Ctx, b: &InputBuilder) -> (LeafId, TMat) {
        let (leaf, x) = ctx.leaf(b.rows, b.cols(), b.build(ctx.store));
        let y = self.mlp.forward(ctx, x);
        (leaf, if self.normalize { l2_normalize(y, 1e-12) } else { y })
    }

    /// Vectors of `ids` in eval mode, in chunks; `hist(i)` is row `i`'s history.
    pub fn encode(&self, store: &ParamStore, ids: &[u32], hist: &dyn Fn(u32) -> Vec<u32>) -> Matrix {
        self.encode_given(store, ids, hist, None)
    }

    /// [`Tower::encode`] with feature values `given` for every row instead of the dataset's.
    /// Through [`Mlp::host_eval`]: a row's vector does not depend on the rows beside it, so
    /// one question's vector equals the cached one.
    pub fn encode_given(&self, store: &ParamStore, ids: &[u32], hist: &dyn Fn(u32) -> Vec<u32>, given: Option<&Given>) -> Matrix {
        let mut out = Matrix::zeros(0, self.mlp.out.out);
        for chunk in ids.chunks(4096) {
            let hs: Vec<Vec<u32>> = chunk.iter().map(|&i| hist(i)).collect();
            let hr: Vec<&[u32]> = hs.iter().map(|h| h.as_slice()).collect();
            let b = self.input(store, &Rows { ids: chunk, history: &hr, given });
            let y = self.mlp.host_eval(store, b.build(store), chunk.len(), self.normalize);
            out.rows += chunk.len();
            out.data.extend_from_slice(&y);
        }
        out
    }
}
