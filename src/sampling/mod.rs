//! Negative samplers shared by every model: one trait ([`Sampler`]), one registry ([`KINDS`])
//! mapping `[sampler] kind` to an implementation, one file per sampler.
//!
//! | kind | negatives of a row (user `u`, positive `p`) | proposal `q` |
//! |---|---|---|
//! | `uniform` | uniform over every item but `p` | `1 / n_items` |
//! | `frequency` | `count^alpha` over items with training interactions, `p` excluded | `count^alpha / Z` |
//! | `in_batch` | the other rows' positives (the whole batch for the models; `n` random rows when asked for `n`) | item frequency |
//! | `hard` | uniform over the top `pool` items of `u` under the current model, `u`'s training items excluded | none (depends on the model) |
//! | `mixed` | each part supplies its `weight` share of a row's negatives | `sum_k w_k q_k` |
//!
//! A sampler is built once per training run from the canonical `[sampler]` table, a
//! [`Catalog`] of the training data and the run's seed, and then called once per step with the
//! batch; it owns its random stream, so a seed fixes every draw. Samplers that score items
//! (`hard`) read the model's current vectors through a [`Scorer`] the model passes in.

pub mod frequency;
pub mod hard;
pub mod in_batch;
pub mod mixed;
pub mod uniform;

use crate::data::Split;
use crate::linalg::Matrix;
use crate::params::ParamError;
use anyhow::{anyhow, bail, Result};
use rand::Rng;
use serde_json::Value;
use std::sync::Arc;

/// What samplers know about the training data.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    pub n_users: usize,
    pub n_items: usize,
    /// Training interactions per item.
    pub item_counts: Vec<u64>,
    /// Each user's training items, sorted ascending and de-duplicated.
    pub user_items: Vec<Vec<u32>>,
}

impl Catalog {
    /// From `(user, item)` training pairs.
    pub fn new(n_users: usize, n_items: usize, pairs: impl IntoIterator<Item = (u32, u32)>) -> Self {
        let mut item_counts = vec![0u64; n_items];
        let mut user_items = vec![Vec::new(); n_users];
        for (u, i) in pairs {
            item_counts[i as usize] += 1;
            user_items[u as usize].push(i);
        }
        for l in &mut user_items {
            l.sort_unstable();
            l.dedup();
        }
        Catalog { n_users, n_items, item_counts, user_items }
    }

    /// The training split's catalogue.
    pub fn from_split(split: &Split) -> Self {
        Self::new(split.n_users, split.n_items, split.train.iter().map(|it| (it.user, it.item)))
    }

    /// Number of training interactions.
    pub fn total(&self) -> u64 {
        self.item_counts.iter().sum()
    }
}

/// One training batch as a sampler sees it: row `r` pairs `users[r]` with its positive
/// `positives[r]`.
#[derive(Clone, Copy, Debug)]
pub struct Batch<'a> {
    pub users: &'a [u32],
    pub positives: &'a [u32],
}

impl Batch<'_> {
    pub fn len(&self) -> usize {
        self.positives.len()
    }

    pub fn is_empty(&self) -> bool {
        self.positives.is_empty()
    }
}

/// The model's current vectors (scores are inner products), for samplers that score items.
pub trait Scorer {
    /// Every item's vector (`n_items x d`).
    fn item_vectors(&self) -> Result<Matrix>;
    /// The query vectors of `users` (`users.len() x d`), in order.
    fn user_vectors(&self, users: &[u32]) -> Result<Matrix>;
}

/// A [`Scorer`] for callers without a model; a sampler that needs scores fails with it.
pub struct NoScorer;

impl Scorer for NoScorer {
    fn item_vectors(&self) -> Result<Matrix> {
        bail!("this sampler needs the model's vectors, and the caller has none")
    }
    fn user_vectors(&self, _users: &[u32]) -> Result<Matrix> {
        bail!("this sampler needs the model's vectors, and the caller has none")
    }
}

/// A negative sampler. One call of [`Sampler::sample`] is one training step.
pub trait Sampler: Send {
    fn kind(&self) -> &'static str;

    /// Whether the model should treat the other rows of the batch as negatives of every row
    /// (`in_batch`); [`Sampler::sample`] then supplies only extra negatives, if asked for any.
    fn in_batch(&self) -> bool {
        false
    }

    /// Whether one draw serves the whole batch: [`Sampler::sample`] then appends `n` items
    /// in all, which may include a row's positive (the model leaves it out of that row).
    fn shared(&self) -> bool {
        false
    }

    /// Appends `n` negatives for every row of `batch` to `out`, row after row (row `r`'s are
    /// `out[start + r n .. start + (r + 1) n]`). Never returns a row's own positive.
    fn sample(&mut self, batch: &Batch, n: usize, scorer: &dyn Scorer, out: &mut Vec<u32>) -> Result<()>;

    /// The proposal: the probability that one draw is `item`, before excluding the row's
    /// positive; `None` when it depends on the user and the model (`hard`).
    fn probability(&self, item: u32) -> Option<f64>;

    /// Whether the sampler asks for the sampling-bias (logQ) correction of the logits.
    fn logq(&self) -> bool {
        false
    }

    /// Facts for the train manifest (e.g. how often `hard` refreshed its index).
    fn notes(&self) -> serde_json::Map<String, Value> {
        serde_json::Map::new()
    }
}

/// Builds a sampler from its canonical table, the training data and a seed.
pub type BuildFn = fn(&Value, &Arc<Catalog>, u64) -> Result<Box<dyn Sampler>>;

/// Everything the registry knows about one sampler kind.
pub struct SamplerKind {
    pub kind: &'static str,
    pub about: &'static str,
    /// Validates the table (without `kind`) and returns it in canonical form (defaults filled).
    pub parse: fn(&Value) -> Result<Value, ParamError>,
    /// Builds from the canonical table, the training data and a seed.
    pub build: BuildFn,
}

impl std::fmt::Debug for SamplerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SamplerKind({})", self.kind)
    }
}

/// The registry: adding a sampler is one file and one line here.
pub static KINDS: &[&SamplerKind] = &[&uniform::KIND, &frequency::KIND, &in_batch::KIND, &hard::KIND, &mixed::KIND];

pub fn lookup(kind: &str) -> Option<&'static SamplerKind> {
    KINDS.iter().copied().find(|k| k.kind == kind)
}

/// Kinds accepted in `[sampler] kind`.
pub fn kind_names() -> Vec<&'static str> {
    KINDS.iter().map(|k| k.kind).collect()
}

/// Validates the `[sampler]` table (without `kind`) of `kind` and returns its canonical form.
pub fn parse(kind: &str, params: &Value) -> Result<Value, ParamError> {
    let k = lookup(kind).ok_or_else(|| ParamError::new("kind", format!("unknown sampler kind `{kind}` (kinds: {})", kind_names().join(", "))))?;
    (k.parse)(params)
}

/// Builds the sampler of a canonical `[sampler]` table *with* its `kind` (as
/// [`crate::models::TrainInput::sampler`] holds it).
pub fn build(table: &Value, catalog: &Arc<Catalog>, seed: u64) -> Result<Box<dyn Sampler>> {
    let mut rest = table.as_object().cloned().ok_or_else(|| anyhow!("[sampler] must be a table, got {table}"))?;
    let kind = match rest.remove("kind") {
        Some(Value::String(s)) => s,
        _ => bail!("[sampler] has no `kind`"),
    };
    let k = lookup(&kind).ok_or_else(|| anyhow!("unknown sampler kind `{kind}` (kinds: {})", kind_names().join(", ")))?;
    // Canonicalise again: a hand-written table gets its defaults, a bad one a clear error.
    let canon = (k.parse)(&Value::Object(rest)).map_err(|e| anyhow!("[sampler] {e}"))?;
    if catalog.n_items == 0 {
        bail!("sampler `{kind}`: the catalogue has no items");
    }
    (k.build)(&canon, catalog, seed)
}

/// Draws left before a row whose negatives keep landing on the user's items gives up.
pub const REDRAWS: usize = 10;

/// One negative per `(user, positive)` row of `rows`, redrawn while it is the positive or an
/// item the user trained on (the paper code of LightGCN and SASRec, and RecBole, sample
/// negatives the same way); `None` for a row still unlucky after [`REDRAWS`] draws, counted
/// in `skipped`. The model leaves such a row out of its loss.
pub fn unseen_negatives(sampler: &mut dyn Sampler, catalog: &Catalog, rows: &[(u32, u32)], scorer: &dyn Scorer, skipped: &mut u64) -> Result<Vec<Option<u32>>> {
    let mut out = vec![None; rows.len()];
    let mut left: Vec<usize> = (0..rows.len()).collect();
    let mut neg = Vec::with_capacity(rows.len());
    for _ in 0..REDRAWS {
        let (us, pos): (Vec<u32>, Vec<u32>) = left.iter().map(|&r| rows[r]).unzip();
        neg.clear();
        let n = if sampler.shared() { us.len() } else { 1 };
        sampler.sample(&Batch { users: &us, positives: &pos }, n, scorer, &mut neg)?;
        let mut again = Vec::new();
        for (k, &r) in left.iter().enumerate() {
            let ((u, i), j) = (rows[r], neg[k]);
            if j == i || catalog.user_items[u as usize].binary_search(&j).is_ok() {
                again.push(r);
            } else {
                out[r] = Some(j);
            }
        }
        left = again;
        if left.is_empty() {
            break;
        }
    }
    *skipped += left.len() as u64;
    Ok(out)
}

/// A uniform draw from `0..n` other than `skip` (`n >= 2`): exact, one random number.
#[inline]
pub(crate) fn uniform_except<R: Rng>(rng: &mut R, n: u32, skip: u32) -> u32 {
    debug_assert!(n >= 2);
    let r = rng.gen_range(0..n - 1);
    if r >= skip && skip < n {
        r + 1
    } else {
        r
    }
}

/// The run seed mixed with a per-purpose salt (splitmix64 finaliser), so streams differ.
pub(crate) fn derive_seed(seed: u64, salt: u64) -> u64 {
    let mut z = seed ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
pub(crate) mod testutil {
    //! Statistical helpers for the samplers' distribution tests.

    /// Pearson's chi-square statistic of `counts` against probabilities `p` (cells with
    /// expected count 0 must be empty; returns infinity otherwise) and its degrees of freedom.
    pub fn chi_square(counts: &[u64], p: &[f64]) -> (f64, usize) {
        let n: u64 = counts.iter().sum();
        let mut stat = 0.0;
        let mut cells = 0usize;
        for (&c, &pi) in counts.iter().zip(p) {
            let e = pi * n as f64;
            if e <= 0.0 {
                if c > 0 {
                    return (f64::INFINITY, 0);
                }
                continue;
            }
            stat += (c as f64 - e).powi(2) / e;
            cells += 1;
        }
        (stat, cells.saturating_sub(1))
    }

    /// An upper critical value of chi-square with `df` degrees of freedom at about p = 1e-4
    /// (Wilson-Hilferty), so a correct sampler fails once in ten thousand seeds.
    pub fn chi_square_critical(df: usize) -> f64 {
        let k = df.max(1) as f64;
        let z = 3.719; // one-sided normal quantile at 1e-4
        let a = 2.0 / (9.0 * k);
        k * (1.0 - a + z * a.sqrt()).powi(3)
    }

    /// Asserts `counts` are a plausible sample of `p`.
    pub fn assert_fits(what: &str, counts: &[u64], p: &[f64]) {
        let (stat, df) = chi_square(counts, p);
        let crit = chi_square_critical(df);
        assert!(stat <= crit, "{what}: chi-square {stat:.1} over {df} df exceeds {crit:.1}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn registry_parses_every_kind_with_defaults() {
        assert_eq!(kind_names(), vec!["uniform", "frequency", "in_batch", "hard", "mixed"]);
        assert_eq!(parse("uniform", &json!({})).unwrap(), json!({}));
        assert_eq!(parse("frequency", &json!({})).unwrap(), json!({"alpha": 0.75}));
        assert_eq!(parse("in_batch", &json!({})).unwrap(), json!({"logq": false}));
        assert_eq!(parse("hard", &json!({})).unwrap(), json!({"pool": 100, "refresh_steps": 50}));
        let m = parse("mixed", &json!({"parts": [{"kind": "uniform"}, {"kind": "hard", "weight": 3.0}]})).unwrap();
        assert_eq!(
            m,
            json!({"parts": [
                {"kind": "uniform", "weight": 1.0},
                {"kind": "hard", "weight": 3.0, "pool": 100, "refresh_steps": 50},
            ]})
        );
        assert_eq!(parse("nope", &json!({})).unwrap_err().path, "kind");
    }

    #[test]
    fn invalid_params_name_the_key() {
        let cases = [
            ("uniform", json!({"alpha": 1.0}), "alpha"),
            ("frequency", json!({"alpha": -0.5}), "alpha"),
            ("frequency", json!({"alpha": "big"}), "alpha"),
            ("in_batch", json!({"logq": 1}), "logq"),
            ("in_batch", json!({"log_q": true}), "log_q"),
            ("hard", json!({"pool": 0}), "pool"),
            ("hard", json!({"refresh_steps": 0}), "refresh_steps"),
            ("mixed", json!({}), "parts"),
            ("mixed", json!({"parts": []}), "parts"),
            ("mixed", json!({"parts": [1]}), "parts.0"),
            ("mixed", json!({"parts": [{"weight": 1.0}]}), "parts.0.kind"),
            ("mixed", json!({"parts": [{"kind": "mixed"}]}), "parts.0.kind"),
            ("mixed", json!({"parts": [{"kind": "unifrom"}]}), "parts.0.kind"),
            ("mixed", json!({"parts": [{"kind": "uniform"}, {"kind": "hard", "weight": 0.0}]}), "parts.1.weight"),
            ("mixed", json!({"parts": [{"kind": "uniform"}, {"kind": "hard", "pool": 0}]}), "parts.1.pool"),
            ("mixed", json!({"parts": [{"kind": "in_batch", "logq": true}, {"kind": "hard"}]}), "parts.0.logq"),
            ("mixed", json!({"parts": [{"kind": "uniform"}], "ratio": 1}), "ratio"),
        ];
        for (kind, v, key) in cases {
            match parse(kind, &v) {
                Ok(c) => panic!("{kind} {v} should be rejected, parsed as {c}"),
                Err(e) => assert_eq!(e.path, key, "{kind} {v}: {e}"),
            }
        }
    }

    #[test]
    fn build_takes_the_table_with_its_kind() {
        let cat = Arc::new(Catalog::new(2, 3, [(0, 0), (1, 1), (1, 2)]));
        let s = build(&json!({"kind": "frequency"}), &cat, 1).unwrap();
        assert_eq!(s.kind(), "frequency");
        assert!(build(&json!({"alpha": 1.0}), &cat, 1).is_err());
        let e = build(&json!({"kind": "hard", "pool": 0}), &cat, 1).err().unwrap().to_string();
        assert!(e.contains("pool"), "{e}");
    }

    #[test]
    fn uniform_except_is_exact() {
        use rand::SeedableRng;
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(3);
        let mut c = [0u64; 5];
        for _ in 0..50_000 {
            c[uniform_except(&mut rng, 5, 2) as usize] += 1;
        }
        assert_eq!(c[2], 0);
        testutil::assert_fits("uniform_except", &c, &[0.25, 0.25, 0.0, 0.25, 0.25]);
    }
}
