//! `mixed`: a weighted mixture of the other samplers.
//!
//! ```toml
//! [sampler]
//! kind = "mixed"
//! parts = [{ kind = "in_batch", weight = 0.5 }, { kind = "hard", weight = 0.5, pool = 50 }]
//! ```
//!
//! Each part is a full sampler table (its kind, its own keys) plus `weight` (default 1;
//! weights are normalised). Asked for `n` negatives per row, part `k` supplies
//! `floor(n w_k)` of them plus one more with probability `frac(n w_k)` (systematic sampling
//! over the parts, so a row always gets exactly `n` and each part's expected share is exactly
//! `n w_k`, even for small `n`). Every part is called once per step, so a `hard` part's
//! `refresh_steps` counts training steps. Inside a mixture `in_batch` draws random other rows
//! of the batch. Parts cannot be `mixed` themselves.
//!
//! The proposal is `sum_k w_k q_k`, defined when every part has one; so `logq = true` on an
//! `in_batch` part is an error next to a `hard` part.

use super::{derive_seed, Batch, Catalog, Sampler, SamplerKind, Scorer};
use crate::params::ParamError;
use anyhow::{anyhow, bail, Result};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde_json::{Map, Value};
use std::sync::Arc;

pub static KIND: SamplerKind =
    SamplerKind { kind: "mixed", about: "weighted mixture of other samplers: parts = [{kind, weight, ...}]", parse: parse_params, build };

fn parse_params(v: &Value) -> Result<Value, ParamError> {
    let empty = Map::new();
    let obj = match v {
        Value::Null => &empty,
        Value::Object(o) => o,
        _ => return Err(ParamError::new("", "must be a table")),
    };
    if let Some(k) = obj.keys().find(|k| k.as_str() != "parts") {
        return Err(ParamError::new(k.as_str(), format!("unknown field `{k}`, expected `parts`")));
    }
    let parts = match obj.get("parts") {
        None => {
            return Err(ParamError::new(
                "parts",
                "missing: list the mixture, e.g. parts = [{kind = \"in_batch\", weight = 0.5}, {kind = \"hard\", weight = 0.5}]",
            ))
        }
        Some(Value::Array(a)) if a.is_empty() => return Err(ParamError::new("parts", "needs at least one part")),
        Some(Value::Array(a)) => a,
        Some(other) => return Err(ParamError::new("parts", format!("must be a list of sampler tables, got {other}"))),
    };
    let mut canon = Vec::with_capacity(parts.len());
    let mut logq_part = None;
    let mut hard_part = None;
    for (i, part) in parts.iter().enumerate() {
        let at = |k: &str| if k.is_empty() { format!("parts.{i}") } else { format!("parts.{i}.{k}") };
        let mut rest = match part {
            Value::Object(o) => o.clone(),
            _ => return Err(ParamError::new(at(""), format!("must be a table like {{kind = \"uniform\", weight = 1.0}}, got {part}"))),
        };
        let kind = match rest.remove("kind") {
            Some(Value::String(s)) => s,
            Some(other) => return Err(ParamError::new(at("kind"), format!("must be a string, got {other}"))),
            None => return Err(ParamError::new(at("kind"), "missing `kind`")),
        };
        let others: Vec<&str> = super::kind_names().into_iter().filter(|k| *k != "mixed").collect();
        if kind == "mixed" {
            return Err(ParamError::new(at("kind"), format!("a mixture cannot nest `mixed`; kinds: {}", others.join(", "))));
        }
        let Some(entry) = super::lookup(&kind) else {
            return Err(ParamError::new(at("kind"), format!("unknown kind `{kind}`; kinds: {}", others.join(", "))));
        };
        let weight = match rest.remove("weight") {
            None => 1.0,
            Some(w) => match w.as_f64() {
                Some(x) if x.is_finite() && x > 0.0 => x,
                _ => return Err(ParamError::new(at("weight"), format!("must be a positive number, got {w}"))),
            },
        };
        let c = (entry.parse)(&Value::Object(rest)).map_err(|e| ParamError::new(at(&e.path), e.message))?;
        if c.get("logq") == Some(&Value::Bool(true)) {
            logq_part.get_or_insert(i);
        }
        if kind == "hard" {
            hard_part.get_or_insert(i);
        }
        let mut m = c.as_object().cloned().unwrap_or_default();
        m.insert("kind".into(), kind.into());
        m.insert("weight".into(), weight.into());
        canon.push(Value::Object(m));
    }
    if let (Some(l), Some(h)) = (logq_part, hard_part) {
        return Err(ParamError::new(
            format!("parts.{l}.logq"),
            format!("the logQ correction needs every part's sampling probability, and `hard` (part {h}) has none"),
        ));
    }
    Ok(serde_json::json!({ "parts": canon }))
}

fn build(v: &Value, catalog: &Arc<Catalog>, seed: u64) -> Result<Box<dyn Sampler>> {
    let canon = parse_params(v)?;
    let mut parts = Vec::new();
    let mut weights = Vec::new();
    for (i, part) in canon["parts"].as_array().into_iter().flatten().enumerate() {
        let mut rest = part.as_object().cloned().unwrap_or_default();
        let kind = rest.remove("kind").and_then(|k| k.as_str().map(String::from)).unwrap_or_default();
        let w = rest.remove("weight").and_then(|w| w.as_f64()).unwrap_or(1.0);
        let entry = super::lookup(&kind).ok_or_else(|| anyhow!("mixed: unknown part kind `{kind}`"))?;
        let s = (entry.build)(&Value::Object(rest), catalog, derive_seed(seed, 1 + i as u64)).map_err(|e| anyhow!("mixed part {i} ({kind}): {e:#}"))?;
        if s.shared() {
            bail!("mixed part {i} ({kind}): `shared = true` draws once per batch, a mixture draws per row; remove `shared`");
        }
        parts.push(s);
        weights.push(w);
    }
    Ok(Box::new(Mixed::new(parts, &weights, seed)?))
}

pub struct Mixed {
    parts: Vec<Box<dyn Sampler>>,
    /// Normalised weights.
    weights: Vec<f64>,
    rng: Xoshiro256PlusPlus,
    bufs: Vec<Vec<u32>>,
}

impl Mixed {
    pub fn new(parts: Vec<Box<dyn Sampler>>, weights: &[f64], seed: u64) -> Result<Self> {
        if parts.is_empty() || parts.len() != weights.len() {
            anyhow::bail!("mixed: {} parts for {} weights", parts.len(), weights.len());
        }
        let total: f64 = weights.iter().sum();
        if !(total.is_finite() && total > 0.0) || weights.iter().any(|w| !(w.is_finite() && *w > 0.0)) {
            anyhow::bail!("mixed: weights must be positive, got {weights:?}");
        }
        let weights = weights.iter().map(|w| w / total).collect();
        let bufs = vec![Vec::new(); parts.len()];
        Ok(Mixed { parts, weights, rng: Xoshiro256PlusPlus::seed_from_u64(seed), bufs })
    }

    /// How many of `n` negatives each part supplies for one row: `floor(n w_k)` plus one for
    /// the parts picked by systematic sampling with inclusion probabilities `frac(n w_k)`.
    fn counts(&mut self, n: usize, base: &[usize], frac: &[f64]) -> Vec<usize> {
        let mut c = base.to_vec();
        let short = n - base.iter().sum::<usize>();
        if short > 0 {
            let u: f64 = self.rng.gen();
            let mut cum = 0.0;
            for (k, f) in frac.iter().enumerate() {
                let (lo, hi) = (cum, cum + f);
                c[k] += ((hi - u).ceil() - (lo - u).ceil()).max(0.0) as usize;
                cum = hi;
            }
        }
        // Rounding can leave the total one off; settle it on the largest fractions.
        let mut order: Vec<usize> = (0..c.len()).collect();
        order.sort_by(|&a, &b| frac[b].total_cmp(&frac[a]).then(a.cmp(&b)));
        let mut total: usize = c.iter().sum();
        for &k in order.iter().cycle().take(4 * c.len()) {
            if total < n && c[k] == base[k] {
                c[k] += 1;
                total += 1;
            } else if total > n && c[k] > base[k] {
                c[k] -= 1;
                total -= 1;
            }
        }
        c
    }
}

impl Sampler for Mixed {
    fn kind(&self) -> &'static str {
        "mixed"
    }

    fn sample(&mut self, batch: &Batch, n: usize, scorer: &dyn Scorer, out: &mut Vec<u32>) -> Result<()> {
        // Shares within 1e-9 of a whole number are whole (0.7 * 10 is 7.000000000000001).
        let base: Vec<usize> = self.weights.iter().map(|w| (n as f64 * w + 1e-9).floor() as usize).collect();
        let frac: Vec<f64> = self
            .weights
            .iter()
            .zip(&base)
            .map(|(w, &b)| {
                let f = n as f64 * w - b as f64;
                if f > 1e-9 {
                    f
                } else {
                    0.0
                }
            })
            .collect();
        let short = n.saturating_sub(base.iter().sum::<usize>());
        // Each part draws its most per row (one more than its base when it may get a
        // remainder slot); every part is called every step.
        let most: Vec<usize> = base.iter().zip(&frac).map(|(&b, &f)| b + usize::from(short > 0 && f > 0.0)).collect();
        for (k, part) in self.parts.iter_mut().enumerate() {
            self.bufs[k].clear();
            part.sample(batch, most[k], scorer, &mut self.bufs[k])?;
        }
        out.reserve(batch.len() * n);
        for r in 0..batch.len() {
            let c = self.counts(n, &base, &frac);
            for k in 0..self.parts.len() {
                let take = c[k].min(most[k]);
                out.extend_from_slice(&self.bufs[k][r * most[k]..r * most[k] + take]);
            }
        }
        Ok(())
    }

    fn probability(&self, item: u32) -> Option<f64> {
        let mut p = 0.0;
        for (part, w) in self.parts.iter().zip(&self.weights) {
            p += w * part.probability(item)?;
        }
        Some(p)
    }

    fn logq(&self) -> bool {
        self.parts.iter().any(|p| p.logq())
    }

    fn notes(&self) -> Map<String, Value> {
        let mut m = Map::new();
        for p in &self.parts {
            m.extend(p.notes());
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::super::{build as build_sampler, NoScorer};
    use super::*;
    use crate::linalg::Matrix;
    use serde_json::json;

    /// Every user ranks items by id: the hard part's pool is the top ids.
    struct ById(usize);
    impl Scorer for ById {
        fn item_vectors(&self) -> Result<Matrix> {
            Matrix::from_vec(self.0, 1, (0..self.0).map(|i| i as f32).collect())
        }
        fn user_vectors(&self, users: &[u32]) -> Result<Matrix> {
            Matrix::from_vec(users.len(), 1, vec![1.0; users.len()])
        }
    }

    /// `in_batch` negatives come from the batch's positives (ids < 20) and `hard` ones from
    /// the top of the catalogue (ids >= 80), so each negative's source is known: the share of
    /// hard negatives matches the configured weight, per row exactly when `n w` is whole and
    /// within 5 standard errors otherwise.
    #[test]
    fn respects_its_ratio() {
        let n_items = 100usize;
        let cat = Arc::new(Catalog::new(50, n_items, (0..50u32).map(|u| (u, u % 20))));
        let users: Vec<u32> = (0..50).collect();
        let positives: Vec<u32> = users.iter().map(|u| u % 20).collect();
        let batch = Batch { users: &users, positives: &positives };
        for (w_hard, n) in [(0.7, 10usize), (0.7, 3), (0.25, 1), (0.5, 5)] {
            let cfg = json!({"kind": "mixed", "parts": [
                {"kind": "in_batch", "weight": 1.0 - w_hard},
                {"kind": "hard", "weight": w_hard, "pool": 20},
            ]});
            let mut s = build_sampler(&cfg, &cat, 3).unwrap();
            let (mut hard, mut total) = (0u64, 0u64);
            let steps = 200;
            for _ in 0..steps {
                let mut out = Vec::new();
                s.sample(&batch, n, &ById(n_items), &mut out).unwrap();
                assert_eq!(out.len(), batch.len() * n);
                for (r, row) in out.chunks(n).enumerate() {
                    assert!(row.iter().all(|&x| x != positives[r] && !(20..80).contains(&x)), "{row:?}");
                    let h = row.iter().filter(|&&x| x >= 80).count();
                    if ((n as f64 * w_hard).round() - n as f64 * w_hard).abs() < 1e-9 {
                        assert_eq!(h, (n as f64 * w_hard).round() as usize, "row {r}: {row:?}");
                    }
                    hard += h as u64;
                    total += n as u64;
                }
            }
            let share = hard as f64 / total as f64;
            let se = (w_hard * (1.0 - w_hard) / total as f64).sqrt();
            assert!((share - w_hard).abs() <= 5.0 * se + 1e-9, "weight {w_hard}, n {n}: share {share:.4} (se {se:.4})");
            // The hard part saw every step.
            assert_eq!(s.notes()["hard_steps"], steps);
        }
    }

    #[test]
    fn proposal_is_the_weighted_sum_and_needs_every_part() {
        let cat = Arc::new(Catalog::new(1, 4, [(0, 0), (0, 1), (0, 1), (0, 1)]));
        let s =
            build_sampler(&json!({"kind": "mixed", "parts": [{"kind": "uniform", "weight": 1.0}, {"kind": "in_batch", "weight": 3.0, "logq": true}]}), &cat, 1)
                .unwrap();
        assert!(s.logq() && !s.in_batch());
        assert!((s.probability(1).unwrap() - (0.25 * 0.25 + 0.75 * 0.75)).abs() < 1e-12);
        let s = build_sampler(&json!({"kind": "mixed", "parts": [{"kind": "uniform"}, {"kind": "hard"}]}), &cat, 1).unwrap();
        assert_eq!(s.probability(0), None);
        let mut s = build_sampler(&json!({"kind": "mixed", "parts": [{"kind": "uniform"}, {"kind": "frequency", "alpha": 1.0}]}), &cat, 1).unwrap();
        let mut out = Vec::new();
        s.sample(&Batch { users: &[0, 0], positives: &[0, 1] }, 8, &NoScorer, &mut out).unwrap();
        assert_eq!(out.len(), 16);
        assert!(out[..8].iter().all(|&x| x != 0) && out[8..].iter().all(|&x| x != 1));
    }
}
