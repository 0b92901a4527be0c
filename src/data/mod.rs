//! Datasets: loaders turn files (or the synthetic generator) into a [`Dataset`] of dense
//! interactions; [`split`] cuts it into train / validation / test.
//!
//! This file holds the dataset types and the registry of dataset kinds ([`DatasetKind`],
//! [`KINDS`], [`resolve`], [`file_fingerprint`]); each loader is a file of its own
//! (`movielens`, `table`, `synthetic`, `edges`, `vectors`, `given`, `amazon`) that imports the
//! registry's types from here.

pub mod amazon;
pub mod corpus;
pub mod edges;
pub mod features;
pub mod fetch;
pub mod fetch_amazon;
mod fields;
pub mod filter;
pub mod given;
pub mod movielens;
pub mod movielens_side;
pub mod split;
pub mod synthetic;
pub mod table;
pub mod text;
pub mod vectors;

pub use features::{FeatureColumn, FeatureTable};
pub use split::Split;

use crate::params::{self, ParamError, Validate};
use anyhow::{bail, Context, Result};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// One user-item event. Ids are dense indexes into the dataset's [`IdMap`]s.
///
/// Packed to 4-byte alignment: 20 bytes instead of 24 (the `i64` would pad it), which is a
/// sixth of a run's peak memory at 15M interactions. Fields are read by value; a reference
/// to `ts` is refused by the compiler (it may be unaligned for an `i64`).
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(C, packed(4))]
pub struct Interaction {
    pub user: u32,
    pub item: u32,
    pub rating: f32,
    /// Seconds since the epoch, or the event's position when the source has no time.
    pub ts: i64,
}

/// Raw id <-> dense index, kept so outputs can show original ids.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IdMap {
    raw: Vec<String>,
    index: HashMap<String, u32>,
}

impl IdMap {
    /// Dense index of `raw`, assigning the next one on first sight.
    pub fn intern(&mut self, raw: &str) -> u32 {
        if let Some(&i) = self.index.get(raw) {
            return i;
        }
        let i = self.raw.len() as u32;
        self.raw.push(raw.to_string());
        self.index.insert(raw.to_string(), i);
        i
    }

    pub fn get(&self, raw: &str) -> Option<u32> {
        self.index.get(raw).copied()
    }

    pub fn raw(&self, i: u32) -> &str {
        &self.raw[i as usize]
    }

    pub fn len(&self) -> usize {
        self.raw.len()
    }

    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    pub fn raws(&self) -> &[String] {
        &self.raw
    }

    /// Ids `"0"` to `n - 1`: rows of a file that has no ids of its own (a vectors dataset's
    /// base and queries).
    pub fn numbered(n: usize) -> Self {
        Self::from_raws((0..n).map(|i| i.to_string()).collect())
    }

    pub fn from_raws(raws: Vec<String>) -> Self {
        let index = raws.iter().enumerate().map(|(i, r)| (r.clone(), i as u32)).collect();
        IdMap { raw: raws, index }
    }
}

/// A loaded, filtered dataset with dense ids.
#[derive(Clone, Debug, Default)]
pub struct Dataset {
    pub name: String,
    pub interactions: Vec<Interaction>,
    pub users: IdMap,
    pub items: IdMap,
    /// Display titles of items, when the source has them (MovieLens `u.item`, synthetic).
    pub item_titles: Option<Vec<String>>,
    /// Side features, one row per dense user / item id.
    pub user_features: FeatureTable,
    pub item_features: FeatureTable,
    /// Set by graph datasets (`kind = "edges"`), whose users and items are both the node id
    /// map and whose interactions are the edges.
    pub graph: Option<GraphData>,
    /// Set by vectors datasets (`kind = "vectors"`): base and query vectors and the true
    /// neighbours, with no interactions; the queries are the users, the base vectors the items.
    pub vectors: Option<std::sync::Arc<vectors::VectorSet>>,
    /// Set by datasets that ship their split (`kind = "given"`): the interactions are the
    /// training rows, then the validation rows, then the test rows.
    pub given: Option<GivenParts>,
}

/// Where a shipped split's parts start in [`Dataset::interactions`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct GivenParts {
    pub valid_from: usize,
    pub test_from: usize,
}

/// What a graph dataset adds to its interactions.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GraphData {
    /// Whether the edges were read as directed (an undirected edge is one interaction).
    pub directed: bool,
    /// Node classes, for `[metrics] task = "node_classification"`.
    pub labels: Option<crate::graph::NodeLabels>,
}

impl Dataset {
    /// A copy of everything but the interactions.
    pub fn without_interactions(&self) -> Dataset {
        Dataset {
            name: self.name.clone(),
            interactions: Vec::new(),
            users: self.users.clone(),
            items: self.items.clone(),
            item_titles: self.item_titles.clone(),
            user_features: self.user_features.clone(),
            item_features: self.item_features.clone(),
            graph: self.graph.clone(),
            vectors: self.vectors.clone(),
            given: self.given,
        }
    }

    /// Users: a vectors dataset's queries.
    pub fn n_users(&self) -> usize {
        self.users.len()
    }

    /// Items: a vectors dataset's base vectors.
    pub fn n_items(&self) -> usize {
        self.items.len()
    }

    /// Interactions per item, the popularity that novelty and popularity baselines use.
    pub fn item_counts(&self) -> Vec<u64> {
        let mut c = vec![0u64; self.n_items()];
        for it in &self.interactions {
            c[it.item as usize] += 1;
        }
        c
    }
}

/// One dataset kind in the registry.
pub struct DatasetKind {
    pub kind: &'static str,
    pub about: &'static str,
    /// Bump when parsing changes, to invalidate cached data stages.
    pub version: u32,
    pub parse: fn(&Value) -> Result<Value, ParamError>,
    /// Loads the dataset; `data_dir` resolves relative paths.
    pub load: fn(&Value, &Path) -> Result<Dataset>,
    /// The identity of the input files (path, size, modification time), hashed into the data
    /// stage's key so an edited file is reloaded.
    pub fingerprint: fn(&Value, &Path) -> Result<Value>,
}

impl std::fmt::Debug for DatasetKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DatasetKind({})", self.kind)
    }
}

pub static KINDS: &[&DatasetKind] = &[&movielens::KIND, &table::KIND, &synthetic::KIND, &edges::KIND, &vectors::KIND, &given::KIND, &amazon::KIND];

pub fn lookup(kind: &str) -> Option<&'static DatasetKind> {
    KINDS.iter().copied().find(|k| k.kind == kind)
}

pub fn kind_names() -> Vec<&'static str> {
    KINDS.iter().map(|k| k.kind).collect()
}

fn canon<T: serde::de::DeserializeOwned + Validate + Serialize>(v: &Value) -> Result<Value, ParamError> {
    params::canonical::<T>(v).map(|(_, c)| c)
}

/// Resolves a dataset path against the data folder and checks it exists.
pub fn resolve(data_dir: &Path, rel: &Path) -> Result<PathBuf> {
    let p = if rel.is_absolute() { rel.to_path_buf() } else { data_dir.join(rel) };
    if !p.exists() {
        bail!(
            "dataset path `{}` not found (resolved to `{}`); set [experiment] data_dir or RUNNER_DATA_DIR to the folder holding it",
            rel.display(),
            p.display()
        );
    }
    Ok(p)
}

/// Files up to this size are also fingerprinted by content.
const HASHED_BYTES: u64 = 64 << 20;

/// What identifies the input files in the data stage's key: each file's size and
/// modification time in nanoseconds, and for files up to 64 MiB a blake3 hash of the
/// contents. The hash is what catches an edit that keeps the size within one tick of the
/// file system's clock (Linux stamps files from a clock that advances every few
/// milliseconds; some file systems keep whole seconds); hashing a larger file at every
/// plan would cost more than such an edit is likely.
pub(crate) fn file_fingerprint(paths: &[PathBuf]) -> Result<Value> {
    let mut out = BTreeMap::new();
    for p in paths {
        let md = std::fs::metadata(p).with_context(|| format!("cannot read `{}`", p.display()))?;
        let mtime_ns = md.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos() as u64);
        let name = p.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        let mut entry = serde_json::json!({"bytes": md.len(), "mtime_ns": mtime_ns});
        if md.is_file() && md.len() <= HASHED_BYTES {
            let file = std::fs::File::open(p).with_context(|| format!("cannot read `{}`", p.display()))?;
            let hash = blake3::Hasher::new().update_reader(file).with_context(|| format!("cannot read `{}`", p.display()))?.finalize();
            entry["blake3"] = Value::String(hash.to_hex().to_string());
        }
        out.insert(name, entry);
    }
    Ok(serde_json::to_value(out)?)
}
