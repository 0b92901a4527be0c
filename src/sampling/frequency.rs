//! `frequency`: items in proportion to `count^alpha` (training interactions; word2vec's
//! unigram^0.75 for `alpha = 0.75`), drawn from a Vose alias table in O(1); the row's positive
//! is rejected and redrawn, so a row's negatives follow `count^alpha` over the other items.
//! Items without training interactions are never drawn.

use super::{uniform_except, Batch, Catalog, Sampler, SamplerKind, Scorer};
use crate::ensure_param;
use crate::params::{self, ParamError, Validate};
use crate::sgns::alias::AliasTable;
use anyhow::{bail, Result};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;

pub static KIND: SamplerKind =
    SamplerKind { kind: "frequency", about: "training frequency ^ alpha (alias table), the positive excluded", parse: parse_params, build };

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FrequencyParams {
    /// Exponent on the item counts: 1 = plain frequency, 0 = uniform over seen items.
    pub alpha: f64,
}

impl Default for FrequencyParams {
    fn default() -> Self {
        FrequencyParams { alpha: 0.75 }
    }
}

impl Validate for FrequencyParams {
    fn validate(&self) -> Result<(), ParamError> {
        ensure_param!(self.alpha.is_finite() && (0.0..=4.0).contains(&self.alpha), "alpha", "must be in [0, 4] (0.75 is word2vec's), got {}", self.alpha);
        Ok(())
    }
}

fn parse_params(v: &Value) -> Result<Value, ParamError> {
    params::canonical::<FrequencyParams>(v).map(|(_, c)| c)
}

fn build(v: &Value, catalog: &Arc<Catalog>, seed: u64) -> Result<Box<dyn Sampler>> {
    let p: FrequencyParams = params::parse(v)?;
    Ok(Box::new(Frequency::new(&catalog.item_counts, p.alpha, seed)?))
}

/// Draws from `weights` (any non-negative weights) with the row's positive rejected.
pub struct Frequency {
    table: AliasTable,
    /// The normalised weights: the proposal.
    prob: Vec<f64>,
    rng: Xoshiro256PlusPlus,
}

/// Redraws before giving up on rejection (only reachable when the positive holds nearly all
/// the mass); then the draw is uniform over the other items with positive weight.
const MAX_REJECTIONS: usize = 1000;

impl Frequency {
    /// `count^alpha` over `counts`.
    pub fn new(counts: &[u64], alpha: f64, seed: u64) -> Result<Self> {
        let w: Vec<f64> = counts.iter().map(|&c| if c == 0 { 0.0 } else { (c as f64).powf(alpha) }).collect();
        Self::from_weights(&w, seed)
    }

    pub fn from_weights(weights: &[f64], seed: u64) -> Result<Self> {
        let nonzero = weights.iter().filter(|&&w| w > 0.0).count();
        if nonzero < 2 {
            bail!("the frequency sampler needs at least 2 items with training interactions, found {nonzero}");
        }
        let table = AliasTable::new(weights)?;
        let total: f64 = weights.iter().sum();
        let prob = weights.iter().map(|w| w / total).collect();
        Ok(Frequency { table, prob, rng: Xoshiro256PlusPlus::seed_from_u64(seed) })
    }

    /// One negative for positive `pos`.
    #[inline]
    pub fn draw(&mut self, pos: u32) -> u32 {
        for _ in 0..MAX_REJECTIONS {
            let x = self.table.sample(&mut self.rng);
            if x != pos {
                return x;
            }
        }
        // Uniform over the others with positive weight (at least one exists).
        let n = self.prob.len() as u32;
        loop {
            let x = uniform_except(&mut self.rng, n, pos);
            if self.prob[x as usize] > 0.0 {
                return x;
            }
        }
    }
}

impl Sampler for Frequency {
    fn kind(&self) -> &'static str {
        "frequency"
    }

    fn sample(&mut self, batch: &Batch, n: usize, _scorer: &dyn Scorer, out: &mut Vec<u32>) -> Result<()> {
        out.reserve(batch.len() * n);
        for &pos in batch.positives {
            for _ in 0..n {
                let x = self.draw(pos);
                out.push(x);
            }
        }
        Ok(())
    }

    fn probability(&self, item: u32) -> Option<f64> {
        Some(self.prob.get(item as usize).copied().unwrap_or(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::assert_fits;
    use super::super::NoScorer;
    use super::*;

    fn counts() -> Vec<u64> {
        vec![1000, 1, 0, 50, 7, 300, 20, 0, 5000, 2, 120, 64]
    }

    fn conditional(counts: &[u64], alpha: f64, pos: usize) -> Vec<f64> {
        let w: Vec<f64> = counts.iter().enumerate().map(|(i, &c)| if i == pos || c == 0 { 0.0 } else { (c as f64).powf(alpha) }).collect();
        let z: f64 = w.iter().sum();
        w.iter().map(|x| x / z).collect()
    }

    /// Draws match count^0.75 over the items other than the positive (chi-square), never the
    /// positive nor a zero-count item; the proposal is count^0.75 / Z.
    #[test]
    fn matches_count_to_the_alpha() {
        let c = counts();
        let cat = Arc::new(Catalog::new(1, c.len(), c.iter().enumerate().flat_map(|(i, &k)| (0..k).map(move |_| (0, i as u32)))));
        assert_eq!(cat.item_counts, c);
        let mut s = build(&serde_json::json!({"alpha": 0.75}), &cat, 9).unwrap();
        for pos in [8u32, 0, 4] {
            let positives = vec![pos; 500];
            let users = vec![0u32; 500];
            let mut hits = vec![0u64; c.len()];
            for _ in 0..100 {
                let mut out = Vec::new();
                s.sample(&Batch { users: &users, positives: &positives }, 4, &NoScorer, &mut out).unwrap();
                for x in out {
                    hits[x as usize] += 1;
                }
            }
            assert_eq!(hits[pos as usize], 0);
            assert_eq!(hits[2] + hits[7], 0, "zero-count items were drawn");
            assert_fits(&format!("frequency^0.75, positive {pos}"), &hits, &conditional(&c, 0.75, pos as usize));
            // The test can fail: the same draws are far from plain frequency.
            let (stat, df) = super::super::testutil::chi_square(&hits, &conditional(&c, 1.0, pos as usize));
            assert!(stat > 10.0 * super::super::testutil::chi_square_critical(df), "alpha = 1 fits too: {stat}");
        }
        let w: Vec<f64> = c.iter().map(|&k| (k as f64).powf(0.75)).collect();
        let z: f64 = w.iter().sum();
        for (i, wi) in w.iter().enumerate() {
            assert!((s.probability(i as u32).unwrap() - wi / z).abs() < 1e-12);
        }
    }

    #[test]
    fn degenerate_catalogues_are_errors_and_a_dominant_positive_still_terminates() {
        assert!(Frequency::new(&[0, 5, 0], 0.75, 1).is_err());
        let mut s = Frequency::from_weights(&[1e-300, 1.0, 0.0], 1).unwrap();
        assert!((0..10).all(|_| s.draw(1) == 0));
    }
}
