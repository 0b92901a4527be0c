//! Train / validation / test splits. Every kind guarantees the same invariant: a user's test
//! (and validation) items never appear in that user's training data.

use super::{Dataset, Interaction};
use crate::ensure_param;
use crate::params::{self, ParamError, Validate};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A split of a dataset's interactions. Every list is sorted by (user, ts).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Split {
    pub n_users: usize,
    pub n_items: usize,
    pub train: Vec<Interaction>,
    pub valid: Vec<Interaction>,
    pub test: Vec<Interaction>,
    /// The items a test user's ranking is drawn from, sorted, when not every item
    /// (`cold_items`: the held-out items, which no training interaction shows).
    pub candidates: Option<Vec<u32>>,
}

impl Split {
    /// Items of each user in `list`, in list order.
    pub fn by_user(&self, list: &[Interaction]) -> Vec<Vec<u32>> {
        let mut out = vec![Vec::new(); self.n_users];
        for it in list {
            out[it.user as usize].push(it.item);
        }
        out
    }

    /// Per user, the sorted, de-duplicated items that must not be recommended at test time
    /// (training plus validation items).
    pub fn seen_sorted(&self) -> Vec<Vec<u32>> {
        let mut out = vec![Vec::new(); self.n_users];
        for it in self.train.iter().chain(&self.valid) {
            out[it.user as usize].push(it.item);
        }
        for v in &mut out {
            v.sort_unstable();
            v.dedup();
        }
        out
    }

    /// Training interactions per item (popularity as the models may see it).
    pub fn train_item_counts(&self) -> Vec<u64> {
        let mut c = vec![0u64; self.n_items];
        for it in &self.train {
            c[it.item as usize] += 1;
        }
        c
    }
}

/// One split kind in the registry.
pub struct SplitKind {
    pub kind: &'static str,
    pub about: &'static str,
    pub version: u32,
    pub parse: fn(&Value) -> Result<Value, ParamError>,
    pub apply: fn(&Value, &Dataset) -> anyhow::Result<Split>,
}

pub static KINDS: &[&SplitKind] = &[&LEAVE_LAST_OUT, &TEMPORAL, &RANDOM, &NONE, &EDGE_HOLDOUT, &COLD_ITEMS, &GIVEN];

pub fn lookup(kind: &str) -> Option<&'static SplitKind> {
    KINDS.iter().copied().find(|k| k.kind == kind)
}

pub fn kind_names() -> Vec<&'static str> {
    KINDS.iter().map(|k| k.kind).collect()
}

/// `leave_last_out`: each user's latest interaction is the test item, optionally the one
/// before it the validation item. Users with too few interactions stay in training only.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LeaveLastOut {
    pub validation: bool,
}
impl Validate for LeaveLastOut {}

/// `temporal`: one global time cut; the earliest `train_ratio` of interactions train, the
/// next `valid_ratio` validate, the rest test.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Ratio {
    pub train_ratio: f64,
    pub valid_ratio: f64,
    /// Used by `random` only.
    pub seed: u64,
}
impl Default for Ratio {
    fn default() -> Self {
        Ratio { train_ratio: 0.8, valid_ratio: 0.0, seed: 42 }
    }
}
impl Validate for Ratio {
    fn validate(&self) -> Result<(), ParamError> {
        ensure_param!(self.train_ratio > 0.0 && self.train_ratio < 1.0, "train_ratio", "must be in (0, 1), got {}", self.train_ratio);
        ensure_param!(self.valid_ratio >= 0.0, "valid_ratio", "must be >= 0, got {}", self.valid_ratio);
        ensure_param!(
            self.train_ratio + self.valid_ratio < 1.0,
            "valid_ratio",
            "train_ratio + valid_ratio must leave something to test, got {}",
            self.train_ratio + self.valid_ratio
        );
        Ok(())
    }
}

/// `none`: every interaction trains and nothing is held out, for evaluations that need no
/// held-out interactions (node classification of a graph's nodes).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct NoSplit {}
impl Validate for NoSplit {}

/// `edge_holdout` (graph datasets): hold out `test_fraction` of the edges without
/// disconnecting the graph ([`crate::graph::link_split`]); the rest trains.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EdgeHoldout {
    pub test_fraction: f64,
    pub seed: u64,
}
impl Default for EdgeHoldout {
    fn default() -> Self {
        EdgeHoldout { test_fraction: 0.5, seed: 42 }
    }
}
impl Validate for EdgeHoldout {
    fn validate(&self) -> Result<(), ParamError> {
        ensure_param!(self.test_fraction > 0.0 && self.test_fraction < 1.0, "test_fraction", "must be in (0, 1), got {}", self.test_fraction);
        Ok(())
    }
}

/// `cold_items`: hold out `fraction` of the items (drawn with `seed`) with all their
/// interactions. The rest trains; the held-out items' interactions test, ranked among the
/// held-out items only: the cold-start question "which of the new items will this user
/// take?". Only models that embed an item from its content can answer it. Test users are
/// those with training interactions (a user's query needs some history).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ColdItems {
    pub fraction: f64,
    pub seed: u64,
}
impl Default for ColdItems {
    fn default() -> Self {
        ColdItems { fraction: 0.1, seed: 42 }
    }
}
impl Validate for ColdItems {
    fn validate(&self) -> Result<(), ParamError> {
        ensure_param!(self.fraction > 0.0 && self.fraction < 1.0, "fraction", "must be in (0, 1), got {}", self.fraction);
        Ok(())
    }
}

fn canon<T: serde::de::DeserializeOwned + Validate + Serialize>(v: &Value) -> Result<Value, ParamError> {
    params::canonical::<T>(v).map(|(_, c)| c)
}

pub static LEAVE_LAST_OUT: SplitKind = SplitKind {
    kind: "leave_last_out",
    about: "each user's last interaction (by time) is the test item",
    version: 1,
    parse: canon::<LeaveLastOut>,
    apply: |v, ds| Ok(leave_last_out(ds, params::parse::<LeaveLastOut>(v)?.validation)),
};

pub static TEMPORAL: SplitKind = SplitKind {
    kind: "temporal",
    about: "a global time cut by ratio",
    version: 1,
    parse: canon::<Ratio>,
    apply: |v, ds| Ok(temporal(ds, &params::parse::<Ratio>(v)?)),
};

pub static RANDOM: SplitKind = SplitKind {
    kind: "random",
    about: "a seeded per-user random split by ratio",
    version: 1,
    parse: canon::<Ratio>,
    apply: |v, ds| Ok(random(ds, &params::parse::<Ratio>(v)?)),
};

pub static NONE: SplitKind = SplitKind {
    kind: "none",
    about: "everything trains, nothing is tested (graph tasks such as node classification)",
    version: 1,
    parse: canon::<NoSplit>,
    apply: |v, ds| {
        params::parse::<NoSplit>(v)?;
        Ok(finish(Split { n_users: ds.n_users(), n_items: ds.n_items(), train: ds.interactions.clone(), ..Default::default() }))
    },
};

pub static EDGE_HOLDOUT: SplitKind = SplitKind {
    kind: "edge_holdout",
    about: "graph datasets: hold out a fraction of the edges, keeping the graph connected",
    version: 1,
    parse: canon::<EdgeHoldout>,
    apply: |v, ds| edge_holdout(ds, &params::parse::<EdgeHoldout>(v)?),
};

pub static COLD_ITEMS: SplitKind = SplitKind {
    kind: "cold_items",
    about: "hold out a fraction of the items with all their interactions (cold start)",
    version: 1,
    parse: canon::<ColdItems>,
    apply: |v, ds| cold_items(ds, &params::parse::<ColdItems>(v)?),
};

pub static GIVEN: SplitKind = SplitKind {
    kind: "given",
    about: "the split a `given` dataset ships, unchanged (a paper's exact protocol)",
    version: 1,
    parse: canon::<GivenSplit>,
    apply: |v, ds| given_split(ds, &params::parse::<GivenSplit>(v)?),
};

/// What a given split does with held-out rows whose item no training line has.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum TestOnlyItems {
    /// Kept, as LightGCN's code keeps them: they count in each user's relevant items and,
    /// having no trained vector, are never retrieved (a miss).
    #[default]
    Keep,
    /// Dropped, as SELFRec's loader drops test rows with an item it never trained on.
    Drop,
}

/// `[split] kind = "given"`: the dataset's own split, unchanged.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GivenSplit {
    pub test_only_items: TestOnlyItems,
}
impl Validate for GivenSplit {}

/// The dataset's split as its files give it. Held-out rows of users without training lines
/// are dropped (no query can be formed for them; every split kind does so), and so are rows
/// repeating an item the user trained on (a leak); items only in held-out files are kept or
/// dropped as `p` says.
pub fn given_split(ds: &Dataset, p: &GivenSplit) -> anyhow::Result<Split> {
    let Some(g) = ds.given else {
        anyhow::bail!(
            "[split] kind = \"given\" uses the split a dataset ships; `{}` ships none (use [dataset] kind = \"given\", or another split kind)",
            ds.name
        );
    };
    let its = &ds.interactions;
    let mut s = Split {
        n_users: ds.n_users(),
        n_items: ds.n_items(),
        train: its[..g.valid_from].to_vec(),
        valid: its[g.valid_from..g.test_from].to_vec(),
        test: its[g.test_from..].to_vec(),
        candidates: None,
    };
    if p.test_only_items == TestOnlyItems::Drop {
        let mut trained = vec![false; ds.n_items()];
        s.train.iter().for_each(|it| trained[it.item as usize] = true);
        s.valid.retain(|it| trained[it.item as usize]);
        s.test.retain(|it| trained[it.item as usize]);
    }
    Ok(finish(s))
}

/// Each user's interactions sorted by time (ties keep file order), user by user, from one
/// sorted index over the interactions: a `Vec` per user (the former way) cost more in growth
/// slack and headers than the data itself on a 25M-interaction run.
fn grouped(ds: &Dataset) -> impl Iterator<Item = Vec<Interaction>> + '_ {
    let its = &ds.interactions;
    // u32 positions and an unstable sort with the position as the last key: the order of a
    // stable sort, without its buffer of half the index.
    assert!(its.len() <= u32::MAX as usize, "more than 2^32 interactions");
    let mut idx: Vec<u32> = (0..its.len() as u32).collect();
    idx.sort_unstable_by_key(|&i| (its[i as usize].user, its[i as usize].ts, i));
    let mut start = 0;
    (0..ds.n_users() as u32).map(move |u| {
        let end = start + idx[start..].partition_point(|&i| its[i as usize].user == u);
        let v = idx[start..end].iter().map(|&i| its[i as usize]).collect();
        start = end;
        v
    })
}

pub fn leave_last_out(ds: &Dataset, validation: bool) -> Split {
    let mut s = Split { n_users: ds.n_users(), n_items: ds.n_items(), train: Vec::with_capacity(ds.interactions.len()), ..Default::default() };
    let need = if validation { 3 } else { 2 };
    for mut v in grouped(ds) {
        if v.len() >= need {
            s.test.push(v.pop().expect("len checked"));
            if validation {
                s.valid.push(v.pop().expect("len checked"));
            }
        }
        s.train.extend(v);
    }
    finish(s)
}

pub fn temporal(ds: &Dataset, r: &Ratio) -> Split {
    let mut ts: Vec<i64> = ds.interactions.iter().map(|it| it.ts).collect();
    ts.sort_unstable();
    let at = |f: f64| ts.get(((ts.len() as f64 * f) as usize).min(ts.len().saturating_sub(1))).copied().unwrap_or(0);
    let (cut_train, cut_valid) = (at(r.train_ratio), at(r.train_ratio + r.valid_ratio));
    let mut s = Split { n_users: ds.n_users(), n_items: ds.n_items(), ..Default::default() };
    for v in grouped(ds) {
        for it in v {
            if it.ts < cut_train {
                s.train.push(it);
            } else if r.valid_ratio > 0.0 && it.ts < cut_valid {
                s.valid.push(it);
            } else {
                s.test.push(it);
            }
        }
    }
    finish(s)
}

pub fn random(ds: &Dataset, r: &Ratio) -> Split {
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(r.seed);
    let mut s = Split { n_users: ds.n_users(), n_items: ds.n_items(), ..Default::default() };
    for mut v in grouped(ds) {
        v.shuffle(&mut rng);
        let n = v.len();
        let n_train = ((n as f64 * r.train_ratio).round() as usize).clamp(1.min(n), n);
        let n_valid = ((n as f64 * r.valid_ratio).round() as usize).min(n - n_train);
        let mut rest = v.split_off(n_train);
        let test = rest.split_off(n_valid);
        s.train.extend(v);
        s.valid.extend(rest);
        s.test.extend(test);
    }
    finish(s)
}

pub fn cold_items(ds: &Dataset, p: &ColdItems) -> anyhow::Result<Split> {
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(p.seed);
    // Only items with interactions can be held out meaningfully.
    let counts = ds.item_counts();
    let mut items: Vec<u32> = (0..ds.n_items() as u32).filter(|&i| counts[i as usize] > 0).collect();
    items.shuffle(&mut rng);
    let n_cold = ((items.len() as f64 * p.fraction).round() as usize).clamp(1, items.len().saturating_sub(1).max(1));
    if items.len() < 2 {
        anyhow::bail!("cold_items needs at least 2 items with interactions, the dataset has {}", items.len());
    }
    let mut cold = items[..n_cold].to_vec();
    cold.sort_unstable();
    let mut is_cold = vec![false; ds.n_items()];
    cold.iter().for_each(|&i| is_cold[i as usize] = true);
    let mut s = Split { n_users: ds.n_users(), n_items: ds.n_items(), ..Default::default() };
    for it in &ds.interactions {
        if is_cold[it.item as usize] {
            s.test.push(*it);
        } else {
            s.train.push(*it);
        }
    }
    s.candidates = Some(cold);
    Ok(finish(s))
}

/// The link-prediction split of a graph dataset. Deterministic for `p`, so the eval stage
/// recomputes it for the sampled non-edges rather than storing them.
pub fn link_split_of(ds: &Dataset, p: &EdgeHoldout) -> anyhow::Result<crate::graph::LinkSplit> {
    let g = super::edges::graph_of(ds)?;
    crate::graph::link_split(&g, p.test_fraction, p.seed)
}

/// Training edges: the residual graph of [`link_split_of`]; test: the held-out edges. Not
/// passed through [`finish`], whose per-user rules would drop held-out edges of nodes that
/// only appear as targets in training.
pub fn edge_holdout(ds: &Dataset, p: &EdgeHoldout) -> anyhow::Result<Split> {
    let ls = link_split_of(ds, p)?;
    let full = super::edges::graph_of(ds)?;
    let inter = |k: usize, (u, v, w): (u32, u32, f32)| Interaction { user: u, item: v, rating: w, ts: k as i64 };
    let mut s = Split { n_users: ds.n_users(), n_items: ds.n_items(), ..Default::default() };
    s.train = ls.train_graph.edges().enumerate().map(|(k, e)| inter(k, e)).collect();
    s.test = ls.test_pos.iter().enumerate().map(|(k, &(u, v))| inter(k, (u, v, full.edge_weight(u, v).unwrap_or(1.0)))).collect();
    for list in [&mut s.train, &mut s.test] {
        list.sort_by_key(|it| (it.user, it.ts));
    }
    Ok(s)
}

/// Enforces the no-leakage invariant (drops held-out rows whose item the user trained on, and
/// held-out rows of users with no training data), then sorts every list by (user, ts).
fn finish(mut s: Split) -> Split {
    for list in [&mut s.train, &mut s.valid, &mut s.test] {
        // Lists built user by user are sorted already, and a stable sort needs a buffer of
        // half the list (174 MB for 14.5M training interactions).
        if !list.is_sorted_by_key(|it| (it.user, it.ts)) {
            list.sort_by_key(|it| (it.user, it.ts));
        }
    }
    s.valid = held_out(&s.train, std::mem::take(&mut s.valid));
    s.test = held_out(&s.train, std::mem::take(&mut s.test));
    s
}

/// The held-out interactions (sorted by user) of users with training data, on items they have
/// not trained on (a repeat would leak). Per user, a sorted list of the trained items rather
/// than one set of every trained (user, item) pair, which took half a gigabyte on a
/// 25M-interaction run.
fn held_out(train: &[Interaction], mut list: Vec<Interaction>) -> Vec<Interaction> {
    let mut items: Vec<u32> = Vec::new();
    let mut user = None;
    list.retain(|it| {
        if user != Some(it.user) {
            user = Some(it.user);
            let lo = train.partition_point(|t| t.user < it.user);
            let hi = train.partition_point(|t| t.user <= it.user);
            items.clear();
            items.extend(train[lo..hi].iter().map(|t| t.item));
            items.sort_unstable();
        }
        !items.is_empty() && items.binary_search(&it.item).is_err()
    });
    list
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn toy() -> Dataset {
        let mut d = Dataset::default();
        let mut t = 0;
        for u in 0..20u32 {
            let uid = d.users.intern(&u.to_string());
            for k in 0..(3 + u % 5) {
                let item = (u * 7 + k * 3) % 30;
                let iid = d.items.intern(&item.to_string());
                t += 1;
                d.interactions.push(Interaction { user: uid, item: iid, rating: 1.0, ts: (t * 37 % 101) as i64 });
            }
        }
        // A repeated interaction: the same item again later must not leak into test.
        d.interactions.push(Interaction { user: 0, item: d.interactions[0].item, rating: 1.0, ts: 10_000 });
        d
    }

    fn assert_no_leak(s: &Split) {
        let train: HashSet<(u32, u32)> = s.train.iter().map(|i| (i.user, i.item)).collect();
        for it in s.test.iter().chain(&s.valid) {
            assert!(!train.contains(&(it.user, it.item)), "leak: user {} item {}", it.user, it.item);
        }
    }

    #[test]
    fn leave_last_out_holds_out_the_latest() {
        let d = toy();
        let s = leave_last_out(&d, true);
        assert_no_leak(&s);
        let g: Vec<Vec<Interaction>> = grouped(&d).collect();
        for t in &s.test {
            let latest = g[t.user as usize].iter().map(|i| i.ts).max().unwrap();
            assert_eq!({ t.ts }, latest);
        }
        assert!(s.valid.len() >= 19);
        for v in &s.valid {
            let t = s.test.iter().find(|t| t.user == v.user);
            if let Some(t) = t {
                assert!(v.ts <= t.ts);
            }
        }
        assert_eq!(s.train.len() + s.valid.len() + s.test.len() + 1, d.interactions.len(), "only the leaking repeat is dropped");
    }

    #[test]
    fn temporal_cuts_time_globally() {
        let d = toy();
        let s = temporal(&d, &Ratio { train_ratio: 0.6, valid_ratio: 0.0, seed: 0 });
        assert_no_leak(&s);
        let max_train = s.train.iter().map(|i| i.ts).max().unwrap();
        let min_test = s.test.iter().map(|i| i.ts).min().unwrap();
        assert!(max_train <= min_test);
    }

    #[test]
    fn none_trains_on_everything() {
        let d = toy();
        let s = (NONE.apply)(&serde_json::json!({}), &d).unwrap();
        assert_eq!(s.train.len(), d.interactions.len());
        assert!(s.test.is_empty() && s.valid.is_empty());
        assert!(canon::<NoSplit>(&serde_json::json!({"seed": 1})).is_err());
    }

    #[test]
    fn edge_holdout_keeps_the_graph_connected_and_is_seeded() {
        let dir = tempfile::tempdir().unwrap();
        // A ring of 30 nodes with chords: every node keeps a training edge.
        let mut text = String::new();
        for i in 0..30 {
            text += &format!("{i} {}\n{i} {}\n", (i + 1) % 30, (i + 7) % 30);
        }
        std::fs::write(dir.path().join("g.edg"), text).unwrap();
        let d = super::super::edges::load_edges(&dir.path().join("g.edg"), None, false).unwrap();
        let p = EdgeHoldout { test_fraction: 0.3, seed: 5 };
        let s = edge_holdout(&d, &p).unwrap();
        assert_eq!(s.train.len() + s.test.len(), 60);
        assert_eq!(s.test.len(), 18);
        assert_no_leak(&s);
        assert_eq!(s, edge_holdout(&d, &p).unwrap());
        assert_ne!(s.test, edge_holdout(&d, &EdgeHoldout { seed: 6, ..p.clone() }).unwrap().test);
        let g = super::super::edges::graph_from(30, &s.train, false).unwrap();
        assert!((0..30).all(|u| g.degree(u) > 0));
        assert_eq!(link_split_of(&d, &p).unwrap().test_pos.len(), s.test.len());
        assert!(edge_holdout(&toy(), &p).unwrap_err().to_string().contains("not a graph"));
        assert_eq!(canon::<EdgeHoldout>(&serde_json::json!({"test_fraction": 1.0})).unwrap_err().path, "test_fraction");
    }

    #[test]
    fn random_is_seeded_and_leak_free() {
        let d = toy();
        let r = Ratio { train_ratio: 0.7, valid_ratio: 0.1, seed: 9 };
        let a = random(&d, &r);
        let b = random(&d, &r);
        assert_eq!(a, b);
        assert_no_leak(&a);
        let c = random(&d, &Ratio { seed: 10, ..r });
        assert_ne!(a.train, c.train);
    }
}

impl std::fmt::Debug for SplitKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SplitKind({})", self.kind)
    }
}
