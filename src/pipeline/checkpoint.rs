//! Checkpoints in the cache: a train stage that stopped at an epoch of its schedule (a
//! search's rung, see `crate::search::asha`) keeps its model state beside its vectors, and a
//! later train stage of the same training goes on from it instead of from zero.
//!
//! The checkpoint lives in the stopped stage's own entry (`ckpt-<table>.f32` files, listed in
//! the manifest's `checkpoint`), so it shares that entry's checksums, locks and eviction. A
//! resumed stage does not depend on it in the plan: when the entry is gone the stage trains
//! from zero, which gives the same vectors.

use super::artifacts as art;
use super::cache::Cache;
use crate::models::{Checkpoint, EpochLog};
use anyhow::Result;
use serde_json::{json, Value};
use std::path::Path;

/// Writes `c`'s tables into the entry being built at `dir`; returns the manifest's record.
pub fn write(dir: &Path, c: &Checkpoint) -> Result<Value> {
    let mut names = Vec::new();
    for (name, m) in &c.tables {
        art::write_matrix(&dir.join(file_name(name)), m)?;
        names.push(name.clone());
    }
    Ok(json!({"epoch": c.epoch, "tables": names}))
}

/// The checkpoint kept in train entry `key` with the epochs its training logged, or `None`
/// when there is no such entry or it holds no checkpoint. Read under the entry's shared lock.
pub fn read(cache: &Cache, key: &str) -> Result<Option<(Checkpoint, Vec<EpochLog>)>> {
    let _lock = cache.lock_shared("train", key)?;
    let Some((dir, m)) = cache.lookup("train", key) else { return Ok(None) };
    let Some(record) = m.info.get("checkpoint") else { return Ok(None) };
    let epoch = record["epoch"].as_u64().ok_or_else(|| anyhow::anyhow!("checkpoint of train entry {key}: no epoch"))? as usize;
    let mut tables = Vec::new();
    for name in record["tables"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        tables.push((name.to_string(), art::read_matrix(&dir.join(file_name(name)))?));
    }
    let epochs = serde_json::from_value(m.info["epochs"].clone()).unwrap_or_default();
    Ok(Some((Checkpoint { epoch, tables }, epochs)))
}

fn file_name(table: &str) -> String {
    format!("ckpt-{table}.f32")
}

/// The file of a train entry's network weights ([`crate::models::Trained::weights`]).
const WEIGHTS: &str = "weights.safetensors";

/// Writes the weights into the entry being built at `dir`; returns the manifest's record.
pub fn write_weights(dir: &Path, bytes: &[u8]) -> Result<Value> {
    std::fs::write(dir.join(WEIGHTS), bytes)?;
    Ok(json!({"file": WEIGHTS, "bytes": bytes.len()}))
}

/// The weights kept in a train entry at `dir` whose manifest info is `info`, `None` when the
/// model keeps none.
pub fn read_weights(dir: &Path, info: &Value) -> Result<Option<Vec<u8>>> {
    if info.get("weights").is_none() {
        return Ok(None);
    }
    Ok(Some(std::fs::read(dir.join(WEIGHTS)).map_err(|e| anyhow::anyhow!("reading {}: {e}", dir.join(WEIGHTS).display()))?))
}
