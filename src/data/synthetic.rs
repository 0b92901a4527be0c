//! `kind = "synthetic"`: a seeded generator with planted structure, so that a model that
//! learns co-occurrence beats popularity by a wide margin.
//!
//! Items sit on rings, one ring per latent cluster; each user belongs to a cluster and walks
//! its ring in small steps (`locality`), with probability `1 - purity` jumping to a globally
//! popular item instead. Popularity follows a Zipf law (`popularity_skew`). Sequence-aware
//! models can therefore predict the next item from the last few; popularity cannot.
//!
//! Items also get planted text (the column `title`): words of their cluster's own vocabulary
//! plus shared noise words, so text models can place an item they never saw in training
//! (cold start). The text has its own random stream: interactions do not depend on it.

use super::{Dataset, DatasetKind, FeatureColumn, FeatureTable, Interaction};
use crate::ensure_param;
use crate::params::{self, ParamError, Validate};
use rand::distributions::{Distribution, WeightedIndex};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SyntheticParams {
    pub n_users: usize,
    pub n_items: usize,
    pub n_clusters: usize,
    /// Mean number of interactions per user.
    pub mean_len: usize,
    pub min_len: usize,
    /// Zipf exponent of item popularity (0 = uniform).
    pub popularity_skew: f64,
    /// Probability that the next item continues the user's cluster walk.
    pub purity: f64,
    /// Largest ring step between consecutive items of a walk.
    pub locality: usize,
    pub seed: u64,
}

impl Default for SyntheticParams {
    fn default() -> Self {
        SyntheticParams { n_users: 2000, n_items: 1000, n_clusters: 20, mean_len: 30, min_len: 5, popularity_skew: 1.0, purity: 0.9, locality: 3, seed: 7 }
    }
}

impl Validate for SyntheticParams {
    fn validate(&self) -> Result<(), ParamError> {
        ensure_param!(self.n_users > 0, "n_users", "must be positive");
        ensure_param!(self.n_clusters > 0, "n_clusters", "must be positive");
        ensure_param!(
            self.n_items >= 2 * self.n_clusters,
            "n_items",
            "needs at least 2 items per cluster ({} clusters), got {}",
            self.n_clusters,
            self.n_items
        );
        ensure_param!(self.min_len >= 2, "min_len", "must be at least 2 (one to train, one to test)");
        ensure_param!(self.mean_len >= self.min_len, "mean_len", "must be >= min_len ({})", self.min_len);
        ensure_param!(
            self.mean_len < self.n_items / self.n_clusters,
            "mean_len",
            "must be below the cluster size ({}) so users do not exhaust their cluster",
            self.n_items / self.n_clusters
        );
        ensure_param!((0.0..=1.0).contains(&self.purity), "purity", "must be in [0, 1], got {}", self.purity);
        ensure_param!(self.popularity_skew >= 0.0, "popularity_skew", "must be >= 0");
        ensure_param!(self.locality >= 1, "locality", "must be at least 1");
        Ok(())
    }
}

pub static KIND: DatasetKind = DatasetKind {
    kind: "synthetic",
    about: "built-in seeded generator with planted clusters and sequences",
    version: 2,
    parse: |v| params::canonical::<SyntheticParams>(v).map(|(_, c)| c),
    load: |v, _| Ok(generate(&params::parse(v)?)),
    fingerprint: |_, _| Ok(serde_json::Value::Null),
};

/// Cluster of item `i`: items are dealt round-robin so every cluster spans the id range.
pub fn cluster_of(i: usize, n_clusters: usize) -> usize {
    i % n_clusters
}

pub fn generate(p: &SyntheticParams) -> Dataset {
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(p.seed);
    let c = p.n_clusters;
    let ring: Vec<Vec<usize>> = (0..c).map(|k| (0..p.n_items).filter(|&i| cluster_of(i, c) == k).collect()).collect();
    // Zipf popularity over a random permutation of items.
    let mut order: Vec<usize> = (0..p.n_items).collect();
    rand::seq::SliceRandom::shuffle(&mut order[..], &mut rng);
    let mut weight = vec![0.0f64; p.n_items];
    for (rank, &i) in order.iter().enumerate() {
        weight[i] = 1.0 / ((rank + 1) as f64).powf(p.popularity_skew);
    }
    let global = WeightedIndex::new(&weight).expect("positive weights");
    let per_cluster: Vec<WeightedIndex<f64>> = ring.iter().map(|r| WeightedIndex::new(r.iter().map(|&i| weight[i])).expect("positive weights")).collect();

    let mut ds = Dataset { name: "synthetic".into(), ..Default::default() };
    for i in 0..p.n_items {
        ds.items.intern(&format!("i{i}"));
    }
    // About the expected count (lengths are exponential around `mean_len`), so that the list
    // does not double past it (40 % slack at 3M interactions), and trimmed below.
    ds.interactions.reserve(p.n_users.saturating_mul(p.mean_len) / 20 * 21);
    let mut segment = Vec::with_capacity(p.n_users);
    let mut age = Vec::with_capacity(p.n_users);
    let mut ts = 0i64;
    for u in 0..p.n_users {
        let uid = ds.users.intern(&format!("u{u}"));
        let cu = rng.gen_range(0..c);
        // Noisy side information: the segment names the true cluster 70% of the time.
        segment.push(if rng.gen_bool(0.7) { cu as u32 } else { rng.gen_range(0..c) as u32 });
        age.push(18.0 + (cu as f32 * 2.0) + rng.gen_range(0.0..10.0));
        let extra = p.mean_len - p.min_len;
        let len = p.min_len + if extra == 0 { 0 } else { (-(1.0 - rng.gen::<f64>()).ln() * extra as f64) as usize };
        let len = len.min(ring[cu].len() - 1);
        let r = &ring[cu];
        let mut pos = per_cluster[cu].sample(&mut rng);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..len {
            let mut item = r[pos];
            for _attempt in 0..20 {
                if !seen.contains(&item) {
                    break;
                }
                if rng.gen_bool(p.purity) {
                    let step = rng.gen_range(1..=p.locality) as isize * if rng.gen_bool(0.5) { 1 } else { -1 };
                    pos = (pos as isize + step).rem_euclid(r.len() as isize) as usize;
                    item = r[pos];
                } else {
                    item = global.sample(&mut rng);
                }
            }
            if seen.insert(item) {
                ts += 1;
                ds.interactions.push(Interaction { user: uid, item: item as u32, rating: 1.0 + (item % 5) as f32, ts });
            }
            // Next step of the walk.
            if rng.gen_bool(p.purity) {
                let step = rng.gen_range(1..=p.locality) as isize * if rng.gen_bool(0.5) { 1 } else { -1 };
                pos = (pos as isize + step).rem_euclid(r.len() as isize) as usize;
            } else {
                let j = global.sample(&mut rng);
                if cluster_of(j, c) == cu {
                    pos = r.iter().position(|&x| x == j).unwrap_or(pos);
                }
            }
        }
    }
    ds.interactions.shrink_to_fit();
    ds.item_titles = Some((0..p.n_items).map(|i| format!("Item {i} (cluster {})", cluster_of(i, c))).collect());
    ds.item_features = FeatureTable {
        columns: vec![
            FeatureColumn::Categorical {
                name: "category".into(),
                cardinality: c as u32,
                values: (0..p.n_items).map(|i| cluster_of(i, c) as u32).collect(),
                labels: Vec::new(),
            },
            FeatureColumn::MultiHot {
                name: "tags".into(),
                cardinality: (c + 5) as u32,
                values: (0..p.n_items).map(|i| vec![cluster_of(i, c) as u32, (c + i % 5) as u32]).collect(),
                labels: Vec::new(),
            },
            FeatureColumn::Numeric { name: "price".into(), values: (0..p.n_items).map(|i| (cluster_of(i, c) as f32) + (i % 7) as f32 * 0.1).collect() },
            FeatureColumn::Text { name: "title".into(), values: planted_titles(p) },
        ],
    };
    ds.user_features = FeatureTable {
        columns: vec![
            FeatureColumn::Categorical { name: "segment".into(), cardinality: c as u32, values: segment, labels: Vec::new() },
            FeatureColumn::Numeric { name: "age".into(), values: age },
        ],
    };
    ds
}

/// Words per cluster vocabulary, and shared noise words.
const CLUSTER_WORDS: usize = 8;
const NOISE_WORDS: usize = 40;

/// A pronounceable made-up word of 2-3 syllables.
fn word(rng: &mut impl Rng) -> String {
    const ONSETS: [&str; 16] = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "st"];
    const VOWELS: [&str; 6] = ["a", "e", "i", "o", "u", "ai"];
    (0..rng.gen_range(2..=3)).map(|_| format!("{}{}", ONSETS[rng.gen_range(0..ONSETS.len())], VOWELS[rng.gen_range(0..VOWELS.len())])).collect()
}

/// Item titles: two words of the item's cluster vocabulary and one or two noise words, in
/// random order (e.g. "tiboza kenu rasta").
fn planted_titles(p: &SyntheticParams) -> Vec<String> {
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(p.seed ^ 0x7e57_7e57);
    let vocab: Vec<Vec<String>> = (0..p.n_clusters).map(|_| (0..CLUSTER_WORDS).map(|_| word(&mut rng)).collect()).collect();
    let noise: Vec<String> = (0..NOISE_WORDS).map(|_| word(&mut rng)).collect();
    (0..p.n_items)
        .map(|i| {
            let own = &vocab[cluster_of(i, p.n_clusters)];
            let mut words = vec![own[rng.gen_range(0..CLUSTER_WORDS)].clone(), own[rng.gen_range(0..CLUSTER_WORDS)].clone()];
            for _ in 0..rng.gen_range(1..=2) {
                words.push(noise[rng.gen_range(0..NOISE_WORDS)].clone());
            }
            rand::seq::SliceRandom::shuffle(&mut words[..], &mut rng);
            words.join(" ")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_and_shaped() {
        let p = SyntheticParams { n_users: 200, n_items: 200, n_clusters: 5, mean_len: 10, ..Default::default() };
        let a = generate(&p);
        let b = generate(&p);
        assert_eq!(a.interactions, b.interactions);
        assert_eq!(a.n_users(), 200);
        assert_eq!(a.n_items(), 200);
        let c = generate(&SyntheticParams { seed: 8, ..p.clone() });
        assert_ne!(a.interactions, c.interactions);
        // Every user has at least min_len distinct items (duplicates are avoided).
        let mut per_user = vec![std::collections::HashSet::new(); 200];
        for it in &a.interactions {
            assert!(per_user[it.user as usize].insert(it.item), "duplicate item for a user");
        }
        assert!(per_user.iter().filter(|s| s.len() >= p.min_len).count() > 190);
    }

    #[test]
    fn users_stay_mostly_in_one_cluster() {
        let p = SyntheticParams { n_users: 100, n_items: 400, n_clusters: 8, mean_len: 20, purity: 0.9, ..Default::default() };
        let d = generate(&p);
        let mut in_main = 0usize;
        let mut total = 0usize;
        let mut per_user: Vec<Vec<usize>> = vec![vec![0; 8]; 100];
        for it in &d.interactions {
            per_user[it.user as usize][cluster_of(it.item as usize, 8)] += 1;
        }
        for counts in per_user {
            in_main += counts.iter().max().unwrap();
            total += counts.iter().sum::<usize>();
        }
        assert!(in_main as f64 / total as f64 > 0.8, "planted clusters too weak: {}", in_main as f64 / total as f64);
    }
}
