//! The stage cache: one directory per stage key, holding the artifacts and a manifest.
//!
//! Entries are written into `<cache>/.tmp/` and renamed into place only when complete, and
//! every lookup re-checks the manifest's checksums, so an interrupted or corrupted entry is
//! never used: it is deleted and recomputed.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Size and blake3 checksum of one artifact file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FileSum {
    pub bytes: u64,
    pub blake3: String,
}

/// What a cache entry says about itself.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub stage: String,
    pub key: String,
    /// Human-readable description of the stage.
    pub label: String,
    /// The config slice the key hashes.
    pub config: Value,
    pub upstream: Vec<String>,
    pub runner_version: String,
    pub code_version: u32,
    pub created_unix: u64,
    /// Wall time the stage took to compute.
    pub seconds: f64,
    pub files: BTreeMap<String, FileSum>,
    /// Stage-specific facts (epoch losses, index size, metric summaries...).
    pub info: Value,
}

/// A cache rooted at a directory.
#[derive(Clone, Debug)]
pub struct Cache {
    pub root: PathBuf,
}

fn checksum(path: &Path) -> Result<FileSum> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read `{}`", path.display()))?;
    Ok(FileSum { bytes: bytes.len() as u64, blake3: blake3::hash(&bytes).to_hex().to_string() })
}

/// Relative paths of all files below `dir` (manifest excluded).
fn list_files(dir: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).expect("below dir").to_string_lossy().replace('\\', "/");
                if rel != "manifest.json" {
                    out.push(rel);
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

impl Cache {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Cache { root: root.into() }
    }

    pub fn entry_dir(&self, stage: &str, key: &str) -> PathBuf {
        self.root.join(stage).join(key)
    }

    /// The entry's directory and manifest when it exists and is intact; a damaged entry is
    /// removed so the caller recomputes it.
    pub fn lookup(&self, stage: &str, key: &str) -> Option<(PathBuf, Manifest)> {
        let dir = self.entry_dir(stage, key);
        if !dir.exists() {
            return None;
        }
        match self.verify(&dir, key) {
            Ok(m) => Some((dir, m)),
            Err(_) => {
                let _ = std::fs::remove_dir_all(&dir);
                None
            }
        }
    }

    /// Like [`Cache::lookup`] but never deletes: for `--plan`, which must not change anything.
    pub fn peek(&self, stage: &str, key: &str) -> bool {
        let dir = self.entry_dir(stage, key);
        dir.exists() && self.verify(&dir, key).is_ok()
    }

    fn verify(&self, dir: &Path, key: &str) -> Result<Manifest> {
        let m: Manifest = crate::pipeline::artifacts::read_json(&dir.join("manifest.json"))?;
        anyhow::ensure!(m.key == key, "manifest key mismatch");
        for (name, sum) in &m.files {
            let got = checksum(&dir.join(name))?;
            anyhow::ensure!(&got == sum, "checksum mismatch for {name}");
        }
        Ok(m)
    }

    /// Computes an entry: `write` fills a fresh temporary directory and returns the stage's
    /// info; the manifest is written last and the directory renamed into place.
    pub fn store(&self, mut manifest: Manifest, write: impl FnOnce(&Path) -> Result<Value>) -> Result<(PathBuf, Manifest)> {
        let tmp_root = self.root.join(".tmp");
        std::fs::create_dir_all(&tmp_root).with_context(|| format!("cannot create cache folder `{}`", tmp_root.display()))?;
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let tmp = tmp_root.join(format!("{}-{}-{}-{nanos}", manifest.stage, manifest.key, std::process::id()));
        std::fs::create_dir_all(&tmp)?;
        let result = (|| -> Result<(PathBuf, Manifest)> {
            let start = std::time::Instant::now();
            manifest.info = write(&tmp)?;
            // Callers may pre-set the compute time; writing the artifacts adds to it.
            manifest.seconds += start.elapsed().as_secs_f64();
            manifest.created_unix = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
            for f in list_files(&tmp)? {
                let sum = checksum(&tmp.join(&f))?;
                manifest.files.insert(f, sum);
            }
            crate::pipeline::artifacts::write_json(&tmp.join("manifest.json"), &manifest)?;
            let dest = self.entry_dir(&manifest.stage, &manifest.key);
            if let Some(parent) = dest.parent() {
                std::fs::create_dir_all(parent)?;
            }
            if dest.exists() {
                std::fs::remove_dir_all(&dest)?;
            }
            std::fs::rename(&tmp, &dest).with_context(|| format!("cannot move the finished entry into `{}`", dest.display()))?;
            Ok((dest, manifest))
        })();
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        result
    }
}

/// A manifest with the identifying fields set and the rest empty.
pub fn new_manifest(stage: &str, key: &str, label: &str, config: Value, upstream: Vec<String>, code_version: u32) -> Manifest {
    Manifest {
        stage: stage.into(),
        key: key.into(),
        label: label.into(),
        config,
        upstream,
        runner_version: env!("CARGO_PKG_VERSION").into(),
        code_version,
        created_unix: 0,
        seconds: 0.0,
        files: BTreeMap::new(),
        info: Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(key: &str) -> Manifest {
        new_manifest("s", key, "test", Value::Null, vec![], 1)
    }

    #[test]
    fn stores_then_finds_and_rejects_corruption() {
        let d = tempfile::tempdir().unwrap();
        let c = Cache::new(d.path());
        assert!(c.lookup("s", "k1").is_none());
        let (dir, m) = c
            .store(manifest("k1"), |tmp| {
                std::fs::write(tmp.join("a.txt"), "hello")?;
                Ok(serde_json::json!({"n": 1}))
            })
            .unwrap();
        assert_eq!(m.files.len(), 1);
        let (_, found) = c.lookup("s", "k1").unwrap();
        assert_eq!(found.info["n"], 1);
        // Corrupt an artifact: the entry must be ignored and removed.
        std::fs::write(dir.join("a.txt"), "HELLO").unwrap();
        assert!(!c.peek("s", "k1"));
        assert!(c.lookup("s", "k1").is_none());
        assert!(!dir.exists());
    }

    #[test]
    fn failed_writes_leave_nothing_and_half_written_entries_are_ignored() {
        let d = tempfile::tempdir().unwrap();
        let c = Cache::new(d.path());
        let r = c.store(manifest("k2"), |tmp| {
            std::fs::write(tmp.join("partial"), "x")?;
            anyhow::bail!("boom")
        });
        assert!(r.is_err());
        assert!(c.lookup("s", "k2").is_none());
        assert_eq!(std::fs::read_dir(d.path().join(".tmp")).unwrap().count(), 0);
        // A directory without a manifest (a crash mid-copy) is not an entry.
        let dir = c.entry_dir("s", "k3");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("items.f32"), "junk").unwrap();
        assert!(c.lookup("s", "k3").is_none());
    }
}
