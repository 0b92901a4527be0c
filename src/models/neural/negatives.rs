//! Negatives: one path for every loss. Each step asks a sampler ([`crate::sampling`]) for
//! negatives and lays the batch out as candidate columns ([`layout`]) for the fused loss
//! ([`super::loss`]). Without a `[sampler]` section the loss's default sampler is used: the
//! other rows of the batch (`in_batch`, with `logq_correction`) for `softmax`, and `negatives`
//! uniform items shared by the whole batch (`uniform` with `shared = true`) for `bce` and `bpr`.
//!
//! The logQ correction subtracts from every softmax logit the log of the item's expected count
//! among a row's negatives, `(B - 1) freq(i) + negatives * q(i)` (q: the sampler's proposal),
//! which for plain in-batch sampling is Yi et al.'s `log freq(i)` up to a constant.

use super::params::{Loss, TwoTowerParams};
use super::tower::Tower;
use crate::data::Split;
use crate::linalg::Matrix;
use crate::nn::ParamStore;
use crate::sampling::{self, Catalog, Sampler, Scorer};
use anyhow::{anyhow, bail, Result};
use std::sync::Arc;

/// The negatives of each row as columns of a step's candidate matrix (the batch's positives in
/// columns `0..b`, then the distinct sampled items): when `in_batch`, every other row whose
/// positive differs (`pos`), then the sampled columns `cols[start[r]..start[r + 1]]` (with
/// repeats: an item drawn twice counts twice).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NegRows {
    pub pos: Vec<u32>,
    pub in_batch: bool,
    pub start: Vec<usize>,
    pub cols: Vec<u32>,
}

impl NegRows {
    pub fn rows(&self) -> usize {
        self.start.len() - 1
    }

    /// Calls `f` with every negative column of row `r`, in order.
    #[inline]
    pub fn each(&self, r: usize, mut f: impl FnMut(usize)) {
        if self.in_batch {
            let pr = self.pos[r];
            for (j, &pj) in self.pos.iter().enumerate() {
                if j != r && pj != pr {
                    f(j);
                }
            }
        }
        for &j in &self.cols[self.start[r]..self.start[r + 1]] {
            f(j as usize);
        }
    }

    /// Per row, whether another row of the batch has its positive (an accidental hit, left out
    /// of the row's in-batch negatives).
    pub fn twins(&self) -> Vec<bool> {
        let mut order: Vec<(u32, usize)> = self.pos.iter().enumerate().map(|(r, &p)| (p, r)).collect();
        order.sort_unstable();
        let mut twin = vec![false; self.pos.len()];
        for w in order.windows(2) {
            if w[0].0 == w[1].0 {
                twin[w[0].1] = true;
                twin[w[1].1] = true;
            }
        }
        twin
    }

    pub fn count(&self, r: usize) -> usize {
        let mut n = 0;
        self.each(r, |_| n += 1);
        n
    }
}

/// Lays out one step's candidates: returns the sampled items that need a column (those not
/// already a positive of the batch, in first-seen order) and each row's negatives: the other
/// rows (when `in_batch`), then its `n` sampled items (`extra[r n..(r + 1) n]`) except its own
/// positive. `col_of` is scratch of `n_items` entries set to `u32::MAX`, left that way.
pub fn layout(pos: &[u32], extra: &[u32], n: usize, in_batch: bool, col_of: &mut [u32]) -> (Vec<u32>, NegRows) {
    let b = pos.len();
    debug_assert_eq!(extra.len(), b * n);
    for (c, &it) in pos.iter().enumerate() {
        if col_of[it as usize] == u32::MAX {
            col_of[it as usize] = c as u32;
        }
    }
    let mut new_items = Vec::new();
    for &it in extra {
        if col_of[it as usize] == u32::MAX {
            col_of[it as usize] = (b + new_items.len()) as u32;
            new_items.push(it);
        }
    }
    let mut neg = NegRows { pos: pos.to_vec(), in_batch, start: Vec::with_capacity(b + 1), cols: Vec::with_capacity(b * n) };
    neg.start.push(0);
    for r in 0..b {
        neg.cols.extend(extra[r * n..(r + 1) * n].iter().filter(|&&e| e != pos[r]).map(|&e| col_of[e as usize]));
        neg.start.push(neg.cols.len());
    }
    for &it in pos.iter().chain(extra) {
        col_of[it as usize] = u32::MAX;
    }
    (new_items, neg)
}

/// The default sampler of a loss, as a `[sampler]` table.
pub fn default_sampler(p: &TwoTowerParams) -> serde_json::Value {
    match p.loss {
        Loss::Softmax if p.in_batch => serde_json::json!({"kind": "in_batch", "logq": p.logq_correction}),
        Loss::Softmax => serde_json::json!({"kind": "uniform"}),
        Loss::Bce | Loss::Bpr => serde_json::json!({"kind": "uniform", "shared": true}),
    }
}

/// A loss needs negatives: `bce` / `bpr` with `negatives = 0` only get them from an in-batch
/// sampler. Checked when the config loads (with the sampler's kind) and again when training
/// starts (with the built sampler).
pub fn check_negatives(p: &TwoTowerParams, sampler_in_batch: bool) -> Result<(), crate::params::ParamError> {
    if p.loss == Loss::Softmax && !p.in_batch && sampler_in_batch {
        return Err(crate::params::ParamError::new(
            "in_batch",
            "false asks for sampled negatives only, but [sampler] kind = \"in_batch\" samples the batch's rows; drop one of them",
        ));
    }
    if p.loss == Loss::Softmax && !p.in_batch && p.negatives == 0 {
        return Err(crate::params::ParamError::new(
            "negatives",
            "0 leaves the softmax without negatives when `in_batch = false`: set `negatives` >= 1 (DSSM uses 4)",
        ));
    }
    if p.loss != Loss::Softmax && p.negatives == 0 && !sampler_in_batch {
        let loss = serde_json::to_value(p.loss).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
        return Err(crate::params::ParamError::new(
            "negatives",
            format!(
                "0 leaves the `{loss}` loss without negatives: set `negatives` >= 1, or use the other rows of the batch with [sampler] kind = \"in_batch\""
            ),
        ));
    }
    Ok(())
}

/// How a step picks its negatives.
pub struct Negatives {
    pub sampler: Box<dyn Sampler>,
    /// The other rows of the batch are negatives.
    pub in_batch: bool,
    /// Sampled negatives per row.
    pub extra: usize,
    /// One draw of `extra` serves every row.
    shared: bool,
    /// Subtract log(expected count) from softmax logits.
    correct: bool,
    /// Scratch for [`layout`].
    col_of: Vec<u32>,
    drawn: Vec<u32>,
    rows: Vec<u32>,
}

/// One step's candidates: the item rows for the item tower (the batch's positives, then the
/// distinct sampled items), each row's negative columns, and per column the logQ term (empty
/// when uncorrected).
pub struct Candidates {
    pub items: Vec<u32>,
    pub neg: NegRows,
    pub corr: Vec<f32>,
}

impl Negatives {
    /// From the canonical `[sampler]` table, or the loss's default without one.
    pub fn new(p: &TwoTowerParams, cfg: Option<&serde_json::Value>, split: &Split, seed: u64) -> Result<Self> {
        Self::with_catalog(p, cfg, &Arc::new(Catalog::from_split(split)), seed)
    }

    /// [`Negatives::new`] over a catalogue already built from the split (training builds a
    /// sampler per epoch from one catalogue).
    pub fn with_catalog(p: &TwoTowerParams, cfg: Option<&serde_json::Value>, catalog: &Arc<Catalog>, seed: u64) -> Result<Self> {
        let default = default_sampler(p);
        let sampler = sampling::build(cfg.unwrap_or(&default), catalog, sampling_seed(seed))
            .map_err(|e| anyhow!("two_tower: {}{e:#}", if cfg.is_some() { "[sampler]: " } else { "" }))?;
        let in_batch = (p.loss == Loss::Softmax && p.in_batch) || sampler.in_batch();
        let extra = if sampler.in_batch() { 0 } else { p.negatives };
        if let Err(e) = check_negatives(p, sampler.in_batch()) {
            bail!("two_tower: `negatives`: {}", e.message);
        }
        let correct = p.loss == Loss::Softmax && (p.logq_correction || sampler.logq());
        if correct && extra > 0 && sampler.probability(0).is_none() {
            bail!(
                "two_tower: the logQ correction (`logq_correction` or the sampler's `logq`) needs the sampler's \
                 probabilities, and a `{}` sampler's depend on the model; turn the correction off or set `negatives = 0`",
                sampler.kind()
            );
        }
        let shared = sampler.shared();
        Ok(Negatives { sampler, in_batch, extra, shared, correct, col_of: vec![u32::MAX; catalog.n_items], drawn: Vec::new(), rows: Vec::new() })
    }

    /// Draws the negatives of a batch (`log_q`: log of each item's training frequency).
    pub fn step(&mut self, users: &[u32], positives: &[u32], scorer: &dyn Scorer, log_q: &[f32]) -> Result<Candidates> {
        let b = positives.len();
        self.drawn.clear();
        if self.extra > 0 {
            let batch = sampling::Batch { users, positives };
            self.sampler.sample(&batch, self.extra, scorer, &mut self.drawn)?;
        }
        let per_row: &[u32] = if self.shared && self.extra > 0 {
            self.rows.clear();
            for _ in 0..b {
                self.rows.extend_from_slice(&self.drawn[..self.extra]);
            }
            &self.rows
        } else {
            &self.drawn
        };
        let (new_items, neg) = layout(positives, per_row, self.extra, self.in_batch, &mut self.col_of);
        let mut items = positives.to_vec();
        items.extend(new_items);
        let corr = if self.correct {
            let in_b = if self.in_batch { (b - 1) as f64 } else { 0.0 };
            items
                .iter()
                .map(|&i| {
                    let q = self.sampler.probability(i).unwrap_or(0.0);
                    let expect = in_b * (log_q[i as usize] as f64).exp() + self.extra as f64 * q;
                    if expect > 0.0 {
                        expect.ln() as f32
                    } else {
                        0.0
                    }
                })
                .collect()
        } else {
            Vec::new()
        };
        Ok(Candidates { items, neg, corr })
    }

    pub fn notes(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut notes = serde_json::Map::new();
        notes.insert("sampler".into(), self.sampler.kind().into());
        notes.insert(if self.shared { "sampled_negatives_per_batch" } else { "sampled_negatives_per_row" }.into(), self.extra.into());
        notes.extend(self.sampler.notes());
        notes
    }
}

/// The sampler's random stream, apart from the model's.
fn sampling_seed(seed: u64) -> u64 {
    seed ^ 0x5341_4d50_4c45_5253
}

/// The model's current vectors, for samplers that score items (`hard`).
pub struct TowerScorer<'s, 'a> {
    pub store: &'s ParamStore,
    pub item_tower: &'s Tower<'a>,
    pub user_tower: &'s Tower<'a>,
    pub hist_of: &'s dyn Fn(u32) -> Vec<u32>,
    pub all_items: &'s [u32],
}

impl Scorer for TowerScorer<'_, '_> {
    fn item_vectors(&self) -> Result<Matrix> {
        Ok(self.item_tower.encode(self.store, self.all_items, &|_| Vec::new()))
    }

    fn user_vectors(&self, users: &[u32]) -> Result<Matrix> {
        Ok(self.user_tower.encode(self.store, users, self.hist_of))
    }
}
