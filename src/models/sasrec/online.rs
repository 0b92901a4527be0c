//! SASRec at question time (`runner serve`, `runner recommend --history`): the trained item
//! table and dense weights, kept in the train entry as safetensors, run on a history given
//! with the question exactly as training ran on each user's last `max_len` items, so a
//! training user's own history gives their cached vector bit for bit.

use super::net::{self, Layout, Shape};
use super::SasRecParams;
use crate::data::Split;
use crate::linalg::Matrix;
use crate::models::{BadQuestion, OnlineQuery, UserQuestion};
use anyhow::Result;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

/// The weights as safetensors: the item table `items` and the flat dense parameters `dense`.
pub fn weights(table: &Matrix, dense: &[f32]) -> Result<Vec<u8>> {
    crate::nn::store::write_f32(&[("items", [table.rows, table.cols], &table.data), ("dense", [1, dense.len()], dense)], &[])
}

pub struct OnlineSasRec {
    layout: Layout,
    dense: Vec<f32>,
    table: Matrix,
    max_len: usize,
    /// Training sequences: a known user's history unless the question gives one.
    seqs: Vec<Vec<u32>>,
}

/// The network of a model with params `p` trained on `split`, holding `weights`.
pub fn load(p: &SasRecParams, split: &Split, weights: &[u8]) -> Result<OnlineSasRec> {
    let st = safetensors::SafeTensors::deserialize(weights)?;
    let layout = Layout::new(Shape { d: p.dim, heads: p.heads, blocks: p.blocks, max_len: p.max_len });
    let read = |name: &str, shape: [usize; 2]| crate::nn::store::read_f32(&st, name, shape);
    let table = Matrix { rows: split.n_items, cols: p.dim, data: read("items", [split.n_items, p.dim])? };
    let dense = read("dense", [1, layout.len])?;
    Ok(OnlineSasRec { dense, table, max_len: p.max_len, seqs: split.by_user(&split.train), layout })
}

impl OnlineQuery for OnlineSasRec {
    fn query(&self, q: &UserQuestion) -> Result<Vec<f32>> {
        let bad = |m: &str| anyhow::Error::new(BadQuestion(m.to_string()));
        if !q.features.is_empty() {
            return Err(bad("sasrec reads no user features, only a history (item ids, oldest first)"));
        }
        let history = match (q.history, q.user) {
            (Some(h), _) => h,
            (None, Some(u)) => &self.seqs[u as usize][..],
            (None, None) => &[][..],
        };
        if history.is_empty() {
            return Err(bad("sasrec needs a history of at least one item to compute a query from"));
        }
        let tail = &history[history.len().saturating_sub(self.max_len)..];
        // Eval mode, no dropout: the generator is never drawn from.
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(0);
        let tr = net::forward(&self.layout, &self.dense, &self.table.data, tail, 0.0, false, &mut rng);
        let d = self.table.cols;
        Ok(tr.out[(tr.n - 1) * d..].to_vec())
    }

    fn inputs(&self) -> Vec<String> {
        Vec::new()
    }
}
