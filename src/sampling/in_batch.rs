//! `in_batch`: the other rows' positives are the negatives.
//!
//! Models use the whole batch (every other row whose positive differs is a negative of a row),
//! which is free: those items' vectors are computed for the positives anyway. Asked for `n`
//! negatives per row (inside `mixed`), it draws `n` other rows uniformly, again skipping rows
//! that share the positive. Either way an item is a negative in proportion to its training
//! frequency, so popular items are over-penalised; `logq = true` asks for the
//! sampling-bias-corrected softmax of Yi et al. (RecSys 2019), which subtracts
//! `log q(item)` (q = training frequency) from every logit.

use super::frequency::Frequency;
use super::{uniform_except, Batch, Catalog, Sampler, SamplerKind, Scorer};
use crate::params::{self, ParamError, Validate};
use anyhow::{bail, Result};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;

pub static KIND: SamplerKind = SamplerKind { kind: "in_batch", about: "the other rows of the batch; optional logQ correction", parse: parse_params, build };

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InBatchParams {
    /// Subtract log(item frequency) from the logits (sampling-bias-corrected softmax).
    pub logq: bool,
}

impl Validate for InBatchParams {}

fn parse_params(v: &Value) -> Result<Value, ParamError> {
    params::canonical::<InBatchParams>(v).map(|(_, c)| c)
}

fn build(v: &Value, catalog: &Arc<Catalog>, seed: u64) -> Result<Box<dyn Sampler>> {
    let p: InBatchParams = params::parse(v)?;
    Ok(Box::new(InBatch::new(catalog, p.logq, seed)))
}

pub struct InBatch {
    logq: bool,
    n_items: usize,
    /// Training frequency of every item: the proposal.
    prob: Vec<f64>,
    /// For rows whose batch holds no other positive: frequency draws.
    fallback: Option<Frequency>,
    rng: Xoshiro256PlusPlus,
}

/// Rows tried before falling back to a frequency draw.
const MAX_TRIES: usize = 64;

impl InBatch {
    pub fn new(catalog: &Catalog, logq: bool, seed: u64) -> Self {
        let total = catalog.total().max(1) as f64;
        let prob = catalog.item_counts.iter().map(|&c| c as f64 / total).collect();
        let fallback = Frequency::new(&catalog.item_counts, 1.0, super::derive_seed(seed, 1)).ok();
        InBatch { logq, n_items: catalog.n_items, prob, fallback, rng: Xoshiro256PlusPlus::seed_from_u64(seed) }
    }

    fn draw(&mut self, batch: &Batch, r: usize) -> Result<u32> {
        let b = batch.len();
        let pos = batch.positives[r];
        if b >= 2 {
            for _ in 0..MAX_TRIES {
                let j = uniform_except(&mut self.rng, b as u32, r as u32) as usize;
                if batch.positives[j] != pos {
                    return Ok(batch.positives[j]);
                }
            }
        }
        // A batch (nearly) all of one positive: draw from what a batch would hold.
        if let Some(f) = self.fallback.as_mut() {
            return Ok(f.draw(pos));
        }
        if self.n_items < 2 {
            bail!("the in_batch sampler has no negative to offer: the catalogue has {} item(s)", self.n_items);
        }
        Ok(uniform_except(&mut self.rng, self.n_items as u32, pos))
    }
}

impl Sampler for InBatch {
    fn kind(&self) -> &'static str {
        "in_batch"
    }

    fn in_batch(&self) -> bool {
        true
    }

    fn sample(&mut self, batch: &Batch, n: usize, _scorer: &dyn Scorer, out: &mut Vec<u32>) -> Result<()> {
        out.reserve(batch.len() * n);
        for r in 0..batch.len() {
            for _ in 0..n {
                let x = self.draw(batch, r)?;
                out.push(x);
            }
        }
        Ok(())
    }

    fn probability(&self, item: u32) -> Option<f64> {
        Some(self.prob.get(item as usize).copied().unwrap_or(0.0))
    }

    fn logq(&self) -> bool {
        self.logq
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::assert_fits;
    use super::super::NoScorer;
    use super::*;

    /// Row r's draws are the other rows' positives, uniformly over rows (so items in
    /// proportion to how many other rows hold them), never r's own positive.
    #[test]
    fn draws_other_rows_of_the_batch() {
        let cat = Catalog::new(1, 10, (0..10u32).flat_map(|i| (0..=i).map(move |_| (0, i))));
        let mut s = InBatch::new(&cat, true, 4);
        assert!(s.in_batch() && s.logq());
        assert!((s.probability(9).unwrap() - 10.0 / 55.0).abs() < 1e-12);
        let positives = vec![3u32, 3, 5, 7, 7, 7, 1, 3];
        let users = vec![0u32; positives.len()];
        let batch = Batch { users: &users, positives: &positives };
        let mut hits = vec![vec![0u64; 10]; positives.len()];
        for _ in 0..4000 {
            let mut out = Vec::new();
            s.sample(&batch, 3, &NoScorer, &mut out).unwrap();
            for (k, &x) in out.iter().enumerate() {
                hits[k / 3][x as usize] += 1;
            }
        }
        for (r, h) in hits.iter().enumerate() {
            let mut p = vec![0.0; 10];
            let others: Vec<u32> = positives.iter().copied().filter(|&q| q != positives[r]).collect();
            for &q in &others {
                p[q as usize] += 1.0 / others.len() as f64;
            }
            assert_eq!(h[positives[r] as usize], 0, "row {r} drew its own positive");
            assert_fits(&format!("in_batch row {r}"), h, &p);
        }
        // A batch of one positive falls back to frequency draws, still never the positive.
        let same = vec![9u32; 4];
        let mut out = Vec::new();
        s.sample(&Batch { users: &users[..4], positives: &same }, 50, &NoScorer, &mut out).unwrap();
        assert!(out.iter().all(|&x| x != 9));
    }
}
