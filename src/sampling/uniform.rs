//! `uniform`: every item but the row's positive with equal probability; with `shared = true`,
//! one draw of `n` items over the whole catalogue serves every row of the batch (the default
//! negatives of the neural towers' `bce` and `bpr`: the item tower then runs on `n` extra rows
//! per batch instead of `n` per row).

use super::{uniform_except, Batch, Catalog, Sampler, SamplerKind, Scorer};
use crate::params::{self, ParamError, Validate};
use anyhow::{bail, Result};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;

pub static KIND: SamplerKind = SamplerKind { kind: "uniform", about: "uniform over every item but the positive", parse: parse_params, build };

/// `uniform`'s parameters.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UniformParams {
    /// One draw per batch for every row (which may then hit a row's own positive: the model
    /// drops it from that row).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub shared: bool,
}

impl Validate for UniformParams {}

fn parse_params(v: &Value) -> Result<Value, ParamError> {
    params::canonical::<UniformParams>(v).map(|(_, c)| c)
}

fn build(v: &Value, catalog: &Arc<Catalog>, seed: u64) -> Result<Box<dyn Sampler>> {
    let p = params::parse::<UniformParams>(v)?;
    let mut u = Uniform::new(catalog.n_items, seed)?;
    u.shared = p.shared;
    Ok(Box::new(u))
}

pub struct Uniform {
    n_items: u32,
    rng: Xoshiro256PlusPlus,
    shared: bool,
}

impl Uniform {
    pub fn new(n_items: usize, seed: u64) -> Result<Self> {
        if n_items < 2 {
            bail!("the uniform sampler needs at least 2 items to avoid the positive, the catalogue has {n_items}");
        }
        if n_items > u32::MAX as usize {
            bail!("the uniform sampler supports at most 2^32 - 1 items");
        }
        Ok(Uniform { n_items: n_items as u32, rng: Xoshiro256PlusPlus::seed_from_u64(seed), shared: false })
    }

    /// One negative for positive `pos`.
    #[inline]
    pub fn draw(&mut self, pos: u32) -> u32 {
        uniform_except(&mut self.rng, self.n_items, pos)
    }
}

impl Sampler for Uniform {
    fn kind(&self) -> &'static str {
        "uniform"
    }

    fn shared(&self) -> bool {
        self.shared
    }

    fn sample(&mut self, batch: &Batch, n: usize, _scorer: &dyn Scorer, out: &mut Vec<u32>) -> Result<()> {
        if self.shared {
            out.extend((0..n).map(|_| self.rng.gen_range(0..self.n_items)));
            return Ok(());
        }
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
        Some(if item < self.n_items { 1.0 / self.n_items as f64 } else { 0.0 })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::assert_fits;
    use super::super::NoScorer;
    use super::*;

    /// Over many draws for a fixed positive, every other item is equally likely (chi-square)
    /// and the positive never appears; a sampler ignoring the positive would fail both.
    #[test]
    fn uniform_over_the_others_and_never_the_positive() {
        let n_items = 50usize;
        let mut s = Uniform::new(n_items, 11).unwrap();
        let positives: Vec<u32> = (0..1000).map(|r| (r % 3) as u32 * 7).collect(); // 0, 7, 14
        let users = vec![0u32; positives.len()];
        let mut counts = vec![vec![0u64; n_items]; 3];
        for _ in 0..40 {
            let mut out = Vec::new();
            s.sample(&Batch { users: &users, positives: &positives }, 5, &NoScorer, &mut out).unwrap();
            assert_eq!(out.len(), positives.len() * 5);
            for (r, &pos) in positives.iter().enumerate() {
                for &x in &out[r * 5..(r + 1) * 5] {
                    assert_ne!(x, pos, "the positive was returned");
                    counts[(pos / 7) as usize][x as usize] += 1;
                }
            }
        }
        for (k, c) in counts.iter().enumerate() {
            let pos = k * 7;
            let p: Vec<f64> = (0..n_items).map(|i| if i == pos { 0.0 } else { 1.0 / (n_items - 1) as f64 }).collect();
            assert_fits(&format!("uniform, positive {pos}"), c, &p);
        }
        // Seeded: the same seed gives the same draws.
        let (mut a, mut b) = (Uniform::new(n_items, 5).unwrap(), Uniform::new(n_items, 5).unwrap());
        assert!((0..100).all(|_| a.draw(3) == b.draw(3)));
        assert!(Uniform::new(1, 0).is_err());
    }
}
