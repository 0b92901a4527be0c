//! `hard`: negatives the current model ranks highly for the user.
//!
//! Every `refresh_steps` steps (and at the first) the sampler asks the model ([`Scorer`]) for
//! every item's vector and builds an exact [`FlatIndex`] (inner product) over them. A user's
//! candidate pool is the top `pool` items of that index for the user's current query vector,
//! the user's training items excluded (they are positives, not negatives); it is computed the
//! first time the user appears in a batch after a refresh, for all new users of the batch in
//! one blocked search, and reused until the next refresh. A row's negatives are drawn
//! uniformly (with replacement) from its user's pool, minus the row's positive. A user whose
//! pool is empty (they have seen every item) gets uniform negatives. The towers build a new
//! sampler for each epoch (so that a pruned trial resumes exactly), so there it also refreshes
//! at every epoch's first step.

use super::{uniform_except, Batch, Catalog, Sampler, SamplerKind, Scorer};
use crate::ensure_param;
use crate::index::flat::FlatIndex;
use crate::index::{AnnIndex, Metric};
use crate::params::{self, ParamError, Validate};
use anyhow::{bail, Result};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;

pub static KIND: SamplerKind =
    SamplerKind { kind: "hard", about: "top-`pool` items under the current model (flat index refreshed every `refresh_steps`)", parse: parse_params, build };

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HardParams {
    /// Candidates per user: negatives are drawn from the user's top `pool` unseen items.
    pub pool: usize,
    /// Steps between index rebuilds over the current item vectors.
    pub refresh_steps: usize,
}

impl Default for HardParams {
    fn default() -> Self {
        HardParams { pool: 100, refresh_steps: 50 }
    }
}

impl Validate for HardParams {
    fn validate(&self) -> Result<(), ParamError> {
        ensure_param!(self.pool >= 1, "pool", "must be at least 1, got {}", self.pool);
        ensure_param!(self.refresh_steps >= 1, "refresh_steps", "must be at least 1, got {}", self.refresh_steps);
        Ok(())
    }
}

fn parse_params(v: &Value) -> Result<Value, ParamError> {
    params::canonical::<HardParams>(v).map(|(_, c)| c)
}

fn build(v: &Value, catalog: &Arc<Catalog>, seed: u64) -> Result<Box<dyn Sampler>> {
    let p: HardParams = params::parse(v)?;
    Ok(Box::new(Hard::new(p, catalog.clone(), seed)?))
}

pub struct Hard {
    p: HardParams,
    catalog: Arc<Catalog>,
    index: Option<FlatIndex>,
    /// Per user, the candidate pool under the current index (`None`: not computed yet).
    pools: Vec<Option<Vec<u32>>>,
    /// Users with a pool, to clear at the next refresh.
    filled: Vec<u32>,
    steps_since_refresh: usize,
    steps: u64,
    refreshes: u64,
    rng: Xoshiro256PlusPlus,
}

impl Hard {
    pub fn new(p: HardParams, catalog: Arc<Catalog>, seed: u64) -> Result<Self> {
        if catalog.n_items < 2 {
            bail!("the hard sampler needs at least 2 items, the catalogue has {}", catalog.n_items);
        }
        let pools = vec![None; catalog.n_users];
        Ok(Hard {
            p,
            catalog,
            index: None,
            pools,
            filled: Vec::new(),
            steps_since_refresh: 0,
            steps: 0,
            refreshes: 0,
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
        })
    }

    /// Index rebuilds so far.
    pub fn refreshes(&self) -> u64 {
        self.refreshes
    }

    /// The current pool of `user`, if computed.
    pub fn pool_of(&self, user: u32) -> Option<&[u32]> {
        self.pools.get(user as usize).and_then(|p| p.as_deref())
    }

    fn refresh(&mut self, scorer: &dyn Scorer) -> Result<()> {
        let items = scorer.item_vectors()?;
        if items.rows != self.catalog.n_items {
            bail!("hard sampler: the model has {} item vectors for {} items", items.rows, self.catalog.n_items);
        }
        self.index = Some(FlatIndex::build(&items, Metric::Ip)?);
        for u in self.filled.drain(..) {
            self.pools[u as usize] = None;
        }
        self.steps_since_refresh = 0;
        self.refreshes += 1;
        Ok(())
    }

    /// Computes the pools of the batch's users that have none.
    fn fill(&mut self, users: &[u32], scorer: &dyn Scorer) -> Result<()> {
        let mut missing: Vec<u32> = Vec::new();
        for &u in users {
            if u as usize >= self.pools.len() {
                bail!("hard sampler: user {u} is outside the catalogue's {} users", self.pools.len());
            }
            if self.pools[u as usize].is_none() {
                missing.push(u);
            }
        }
        missing.sort_unstable();
        missing.dedup();
        if missing.is_empty() {
            return Ok(());
        }
        let q = scorer.user_vectors(&missing)?;
        if q.rows != missing.len() {
            bail!("hard sampler: asked for {} user vectors, got {}", missing.len(), q.rows);
        }
        let excludes: Vec<&[u32]> = missing.iter().map(|&u| self.catalog.user_items[u as usize].as_slice()).collect();
        let index = self.index.as_ref().expect("refreshed before filling");
        let hits = index.search_batch(&q, self.p.pool, &excludes)?;
        for (&u, h) in missing.iter().zip(hits) {
            self.pools[u as usize] = Some(h.into_iter().map(|hit| hit.id).collect());
            self.filled.push(u);
        }
        Ok(())
    }
}

impl Sampler for Hard {
    fn kind(&self) -> &'static str {
        "hard"
    }

    fn sample(&mut self, batch: &Batch, n: usize, scorer: &dyn Scorer, out: &mut Vec<u32>) -> Result<()> {
        if batch.users.len() != batch.positives.len() {
            bail!("hard sampler: {} users for {} positives", batch.users.len(), batch.positives.len());
        }
        if n > 0 {
            if self.index.is_none() || self.steps_since_refresh >= self.p.refresh_steps {
                self.refresh(scorer)?;
            }
            self.fill(batch.users, scorer)?;
            out.reserve(batch.len() * n);
            let n_items = self.catalog.n_items as u32;
            for (&u, &pos) in batch.users.iter().zip(batch.positives) {
                let pool = self.pools[u as usize].as_deref().unwrap_or(&[]);
                // The positive is in the pool only when it is not one of the user's training
                // items; then draw from the others by skipping its slot.
                let skip = pool.iter().position(|&x| x == pos);
                let len = pool.len() - skip.is_some() as usize;
                for _ in 0..n {
                    let x = if len == 0 {
                        uniform_except(&mut self.rng, n_items, pos)
                    } else {
                        let mut k = self.rng.gen_range(0..len);
                        if skip.is_some_and(|s| k >= s) {
                            k += 1;
                        }
                        pool[k]
                    };
                    out.push(x);
                }
            }
        }
        self.steps_since_refresh += 1;
        self.steps += 1;
        Ok(())
    }

    fn probability(&self, _item: u32) -> Option<f64> {
        None
    }

    fn notes(&self) -> serde_json::Map<String, Value> {
        let mut m = serde_json::Map::new();
        m.insert("hard_refreshes".into(), self.refreshes.into());
        m.insert("hard_steps".into(), self.steps.into());
        m
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::assert_fits;
    use super::*;
    use crate::linalg::Matrix;
    use std::cell::Cell;

    /// Items on a line: item `i` scores `i * w` for every user (users are all `[1]`), where
    /// `w` flips sign after `flip_after` calls of `item_vectors`; counts the calls.
    struct LineScorer {
        n_items: usize,
        calls: Cell<usize>,
        flip_after: usize,
    }

    impl Scorer for LineScorer {
        fn item_vectors(&self) -> Result<Matrix> {
            let c = self.calls.get();
            self.calls.set(c + 1);
            let w = if c < self.flip_after { 1.0 } else { -1.0 };
            Matrix::from_vec(self.n_items, 1, (0..self.n_items).map(|i| w * i as f32).collect())
        }
        fn user_vectors(&self, users: &[u32]) -> Result<Matrix> {
            Matrix::from_vec(users.len(), 1, vec![1.0; users.len()])
        }
    }

    /// Negatives are the top-`pool` non-positive items (uniform among them), never a training
    /// item of the user nor the positive; the pool follows the model only at refreshes, every
    /// `refresh_steps` steps.
    #[test]
    fn draws_top_scored_non_positives_and_refreshes_every_n_steps() {
        let n_items = 100usize;
        // User 0 has seen 99, 97, 10; user 1 has seen 98 and 3.
        let cat = Arc::new(Catalog::new(2, n_items, [(0, 99), (0, 97), (0, 10), (1, 98), (1, 3)]));
        let mut s = Hard::new(HardParams { pool: 5, refresh_steps: 4 }, cat, 1).unwrap();
        let scorer = LineScorer { n_items, calls: Cell::new(0), flip_after: 1 };
        let users = vec![0u32, 1, 0, 1];
        let positives = vec![99u32, 98, 97, 96]; // 96 is not a training item of user 1
        let batch = Batch { users: &users, positives: &positives };
        let mut hits = vec![vec![0u64; n_items]; 4];
        let n = 300;
        for _step in 0..4 {
            let mut out = Vec::new();
            s.sample(&batch, n, &scorer, &mut out).unwrap();
            assert_eq!(out.len(), 4 * n);
            for (k, &x) in out.iter().enumerate() {
                hits[k / n][x as usize] += 1;
            }
        }
        // Four steps, one refresh: the index still ranks high ids first.
        assert_eq!(s.refreshes(), 1);
        assert_eq!(scorer.calls.get(), 1);
        assert_eq!(s.pool_of(0).unwrap(), &[98, 96, 95, 94, 93]);
        assert_eq!(s.pool_of(1).unwrap(), &[99, 97, 96, 95, 94]);
        let expect = |pool: &[u32], pos: u32| -> Vec<f64> {
            let keep: Vec<u32> = pool.iter().copied().filter(|&x| x != pos).collect();
            (0..n_items as u32).map(|i| if keep.contains(&i) { 1.0 / keep.len() as f64 } else { 0.0 }).collect()
        };
        for r in 0..4 {
            let pool = s.pool_of(users[r]).unwrap().to_vec();
            assert_eq!(hits[r][positives[r] as usize], 0);
            assert_fits(&format!("hard row {r}"), &hits[r], &expect(&pool, positives[r]));
        }
        // Step 5 refreshes against the flipped model: low ids are now the hard ones.
        let mut out = Vec::new();
        s.sample(&batch, 6, &scorer, &mut out).unwrap();
        assert_eq!(s.refreshes(), 2);
        assert_eq!(s.pool_of(0).unwrap(), &[0, 1, 2, 3, 4]);
        assert_eq!(s.pool_of(1).unwrap(), &[0, 1, 2, 4, 5]);
        assert!(out.iter().all(|&x| x <= 5));
        assert!(out[6..12].iter().all(|&x| x != 3), "user 1 has seen item 3");
        assert_eq!(s.notes()["hard_refreshes"], 2);
    }

    /// Many draws from one pool are uniform over it.
    #[test]
    fn uniform_within_the_pool() {
        let cat = Arc::new(Catalog::new(1, 50, [(0, 49)]));
        let mut s = Hard::new(HardParams { pool: 10, refresh_steps: 1_000_000 }, cat, 2).unwrap();
        let scorer = LineScorer { n_items: 50, calls: Cell::new(0), flip_after: usize::MAX };
        let users = vec![0u32; 100];
        let positives = vec![49u32; 100];
        let mut hits = vec![0u64; 50];
        for _ in 0..100 {
            let mut out = Vec::new();
            s.sample(&Batch { users: &users, positives: &positives }, 5, &scorer, &mut out).unwrap();
            for x in out {
                hits[x as usize] += 1;
            }
        }
        let p: Vec<f64> = (0..50).map(|i| if (39..49).contains(&i) { 0.1 } else { 0.0 }).collect();
        assert_fits("hard pool", &hits, &p);
        assert_eq!(s.refreshes(), 1);
    }
}
