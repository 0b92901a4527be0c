//! Vose's alias method: O(n) construction, O(1) draws (one 64-bit random number, one table
//! entry) from an arbitrary discrete distribution — here unigram^alpha for negative sampling.

use anyhow::{bail, Result};
use rand::RngCore;

/// One bucket: keep the bucket's own index when the low 32 random bits are below `keep`,
/// otherwise return `alias`. Full buckets have `alias` = own index, so no special case.
#[derive(Clone, Copy, Debug, Default)]
struct Bucket {
    keep: u32,
    alias: u32,
}

#[derive(Clone, Debug)]
pub struct AliasTable {
    buckets: Vec<Bucket>,
}

impl AliasTable {
    /// Builds the table for weights proportional to `weights` (need not sum to one). Errors on
    /// an empty list, more than 2^32 entries, a negative or non-finite weight, or all zeros.
    pub fn new(weights: &[f64]) -> Result<Self> {
        let n = weights.len();
        if n == 0 {
            bail!("alias table: no weights");
        }
        if n > u32::MAX as usize {
            bail!("alias table: {n} weights is more than 2^32 - 1");
        }
        if let Some(w) = weights.iter().find(|w| !(w.is_finite() && **w >= 0.0)) {
            bail!("alias table: weight {w} is negative or not finite");
        }
        let total: f64 = weights.iter().sum();
        if !(total > 0.0 && total.is_finite()) {
            bail!("alias table: weights sum to {total}");
        }
        // Scaled probabilities: mean 1.
        let mut p: Vec<f64> = weights.iter().map(|w| w * n as f64 / total).collect();
        let mut small: Vec<u32> = Vec::new();
        let mut large: Vec<u32> = Vec::new();
        for (i, &pi) in p.iter().enumerate() {
            if pi < 1.0 {
                small.push(i as u32);
            } else {
                large.push(i as u32);
            }
        }
        let full = Bucket { keep: u32::MAX, alias: 0 };
        let mut buckets = vec![full; n];
        const SCALE: f64 = 4_294_967_296.0; // 2^32
        while let (Some(&s), Some(&l)) = (small.last(), large.last()) {
            small.pop();
            let keep = (p[s as usize] * SCALE).round().min(u32::MAX as f64) as u32;
            buckets[s as usize] = Bucket { keep, alias: l };
            p[l as usize] -= 1.0 - p[s as usize];
            if p[l as usize] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        // Leftovers have probability 1 up to rounding: they keep themselves. A zero-weight
        // leftover (only reachable through rounding) points at the heaviest item instead.
        let heaviest = (0..n).max_by(|&a, &b| weights[a].total_cmp(&weights[b])).unwrap_or(0) as u32;
        for i in large.into_iter().chain(small) {
            let alias = if weights[i as usize] > 0.0 { i } else { heaviest };
            buckets[i as usize] = Bucket { keep: if alias == i { u32::MAX } else { 0 }, alias };
        }
        // A full bucket must return itself whatever the coin says.
        for (i, b) in buckets.iter_mut().enumerate() {
            if b.keep == u32::MAX {
                b.alias = i as u32;
            }
        }
        Ok(AliasTable { buckets })
    }

    /// Table for `count^alpha` (zero counts are never drawn).
    pub fn unigram(counts: &[u64], alpha: f64) -> Result<Self> {
        let w: Vec<f64> = counts.iter().map(|&c| if c == 0 { 0.0 } else { (c as f64).powf(alpha) }).collect();
        Self::new(&w)
    }

    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    /// One draw: the high 32 bits pick a bucket (multiply-shift, no modulo bias worth
    /// mentioning), the low 32 bits flip its coin.
    #[inline(always)]
    pub fn sample<R: RngCore>(&self, rng: &mut R) -> u32 {
        let r = rng.next_u64();
        let i = (((r >> 32) * self.buckets.len() as u64) >> 32) as usize;
        // SAFETY: (x * n) >> 32 < n for x < 2^32.
        let b = unsafe { *self.buckets.get_unchecked(i) };
        // The coin is unpredictable by design: ask for a cmov, a branch would mispredict on a
        // large share of draws.
        std::hint::select_unpredictable((r as u32) < b.keep, i as u32, b.alias)
    }

    /// The exact probability of every outcome the table encodes (for tests and diagnostics).
    pub fn probabilities(&self) -> Vec<f64> {
        let n = self.buckets.len() as f64;
        let mut p = vec![0.0; self.buckets.len()];
        for (i, b) in self.buckets.iter().enumerate() {
            let keep = if b.alias == i as u32 { 1.0 } else { b.keep as f64 / 4_294_967_296.0 };
            p[i] += keep / n;
            p[b.alias as usize] += (1.0 - keep) / n;
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_xoshiro::Xoshiro256PlusPlus;

    #[test]
    fn rejects_bad_weights() {
        assert!(AliasTable::new(&[]).is_err());
        assert!(AliasTable::new(&[0.0, 0.0]).is_err());
        assert!(AliasTable::new(&[1.0, -1.0]).is_err());
        assert!(AliasTable::new(&[1.0, f64::NAN]).is_err());
    }

    #[test]
    fn encodes_the_weights_exactly() {
        let w = [5.0, 0.0, 1.0, 3.0, 0.5, 10.0, 0.0, 2.5];
        let t = AliasTable::new(&w).unwrap();
        let total: f64 = w.iter().sum();
        for (p, w) in t.probabilities().iter().zip(w) {
            assert!((p - w / total).abs() < 1e-8, "{p} vs {}", w / total);
        }
    }

    /// Sampled frequencies match unigram^0.75 within 5 standard errors per item, and
    /// zero-count items are never drawn.
    #[test]
    fn frequencies_match_unigram_alpha() {
        let counts: Vec<u64> = vec![1000, 1, 0, 50, 7, 300, 20, 0, 5000, 2];
        let alpha = 0.75;
        let t = AliasTable::unigram(&counts, alpha).unwrap();
        let w: Vec<f64> = counts.iter().map(|&c| (c as f64).powf(alpha)).collect();
        let total: f64 = w.iter().sum();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
        let draws = 2_000_000usize;
        let mut hits = vec![0usize; counts.len()];
        for _ in 0..draws {
            hits[t.sample(&mut rng) as usize] += 1;
        }
        for i in 0..counts.len() {
            let p = w[i] / total;
            let got = hits[i] as f64 / draws as f64;
            let se = (p * (1.0 - p) / draws as f64).sqrt();
            assert!((got - p).abs() <= 5.0 * se + 1e-12, "item {i}: {got} vs {p} (se {se})");
            if counts[i] == 0 {
                assert_eq!(hits[i], 0);
            }
        }
        // The test can fail: plain unigram (alpha = 1) is far from these frequencies.
        let plain = AliasTable::unigram(&counts, 1.0).unwrap().probabilities();
        assert!((plain[8] - w[8] / total).abs() > 0.05);
    }

    #[test]
    fn single_item() {
        let t = AliasTable::new(&[3.0]).unwrap();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        assert!((0..1000).all(|_| t.sample(&mut rng) == 0));
    }
}
