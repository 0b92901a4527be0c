//! Runs are not lost to a rerun. `results/<experiment>/run.json` records what a folder's
//! tables were made from: the config file, a hash of its text and the overrides (`--set` and
//! environment). A run of the same experiment whose config text or overrides differ first
//! copies the folder's files into `history/<time of the previous run>/`, so the previous
//! tables stay beside the new ones; a rerun of the same config and overrides replaces them
//! (the same question, asked again). Folders inside (`export/`, `history/`) stay where they are.

use crate::config::Experiment;
use anyhow::{Context, Result};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// The hash of the config file's text, or "" when it cannot be read.
fn config_hash(exp: &Experiment) -> String {
    std::fs::read(&exp.file).map(|b| blake3::hash(&b).to_hex()[..16].to_string()).unwrap_or_default()
}

/// The `run.json` of `exp`: what `runner report` needs to render the folder again from the
/// cache, and what tells a rerun with other settings from the same one.
pub fn run_json(exp: &Experiment) -> Value {
    json!({
        "config": std::path::absolute(&exp.file).unwrap_or_else(|_| exp.file.clone()),
        "config_hash": config_hash(exp),
        "sets": exp.sets,
        "written": humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
    })
}

/// Whether the folder's previous run (its `run.json`) was made from other settings than `exp`.
fn differs(previous: &Value, exp: &Experiment) -> bool {
    let sets: Vec<String> = previous["sets"].as_array().into_iter().flatten().filter_map(|s| s.as_str().map(str::to_string)).collect();
    // Older folders have no hash: their overrides alone decide.
    let hash_differs = previous["config_hash"].as_str().is_some_and(|h| h != config_hash(exp));
    sets != exp.sets || hash_differs
}

/// Copies the files of `dir` into `dir/history/<time>/` when its previous run was made from
/// other settings than `exp`; returns that folder. Nothing happens for a first run, a rerun
/// of the same settings, or a previous run already kept (a rerun after a failed write).
/// Copies, not moves: the folder keeps its whole set until the new one replaces it, so a
/// write that fails half-way loses nothing.
pub fn keep_previous(exp: &Experiment, dir: &Path) -> Result<Option<PathBuf>> {
    let Ok(text) = std::fs::read_to_string(dir.join("run.json")) else { return Ok(None) };
    // An unreadable run.json says nothing about its run: keep the files rather than guess.
    let previous: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if !previous.is_null() && !differs(&previous, exp) {
        return Ok(None);
    }
    let stamp = previous["written"]
        .as_str()
        .map(str::to_string)
        .or_else(|| {
            let t = std::fs::metadata(dir.join("run.json")).and_then(|m| m.modified()).ok()?;
            Some(humantime::format_rfc3339_seconds(t).to_string())
        })
        .unwrap_or_else(|| "unknown".into())
        .replace(':', "");
    let to = dir.join("history").join(&stamp);
    if to.exists() {
        return Ok(None);
    }
    // Copied into a temporary folder first, so history/<time>/ is whole or absent.
    let tmp = dir.join("history").join(format!(".{stamp}.{}.tmp", std::process::id()));
    std::fs::create_dir_all(&tmp).with_context(|| format!("cannot create `{}`", tmp.display()))?;
    crate::interrupt::register(&tmp);
    let copied = (|| -> Result<()> {
        for e in std::fs::read_dir(dir).with_context(|| format!("cannot list `{}`", dir.display()))? {
            let e = e?;
            if e.file_type()?.is_file() {
                let dest = tmp.join(e.file_name());
                std::fs::copy(e.path(), &dest).with_context(|| format!("cannot copy `{}` to `{}`", e.path().display(), dest.display()))?;
            }
        }
        std::fs::rename(&tmp, &to).with_context(|| format!("cannot move `{}` to `{}`", tmp.display(), to.display()))
    })();
    crate::interrupt::unregister(&tmp);
    if copied.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    copied.map(|()| Some(to))
}
