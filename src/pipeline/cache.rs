//! The stage cache: one directory per stage key, holding the artifacts and a manifest.
//!
//! Entries are written into `<cache>/.tmp/` and renamed into place only when complete, and
//! every lookup re-checks the manifest's checksums, so an interrupted or corrupted entry is
//! never used.
//!
//! Any number of runner processes may share a cache, on one machine or over a shared
//! filesystem (NFS emulates `flock` with its own locks). Each entry has a lock file under
//! `<cache>/.locks/<stage>/<key>.lock`: a process computes an entry under the exclusive lock,
//! so a second process that wants the same entry waits and then reuses it, and a process
//! reads an entry under the shared lock, so a finished entry is never replaced (`--force`, a
//! damaged entry) while another process reads it. Lock files are never deleted (deleting one
//! would let two processes lock two different files of one name).
//!
//! Each temporary entry `<cache>/.tmp/<name>/` has a lock file `<name>.lock` beside it that
//! its writer holds while it exists. The kernel releases the lock when the writer dies, even
//! by `kill -9`, so [`Cache::remove_stale_tmp`] removes exactly the entries whose owner is
//! gone, whoever and wherever it was.

use crate::interrupt;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs::File;
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
    /// Peak resident memory of the process while the stage computed ([`crate::memory::Window`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_rss_bytes: Option<u64>,
    pub files: BTreeMap<String, FileSum>,
    /// Stage-specific facts (epoch losses, index size, metric summaries...).
    pub info: Value,
}

/// A cache rooted at a directory.
#[derive(Clone, Debug)]
pub struct Cache {
    pub root: PathBuf,
}

/// A held lock on a cache entry; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct EntryLock {
    _file: Option<File>,
}

fn checksum(path: &Path) -> Result<FileSum> {
    // Streamed: reading the file whole put a copy of the largest artifact (360 MB of
    // interactions at 15M) in memory at every store and every lookup.
    let file = std::fs::File::open(path).with_context(|| format!("cannot read `{}`", path.display()))?;
    let mut hasher = blake3::Hasher::new();
    hasher.update_reader(std::io::BufReader::with_capacity(1 << 20, file)).with_context(|| format!("cannot read `{}`", path.display()))?;
    Ok(FileSum { bytes: hasher.count(), blake3: hasher.finalize().to_hex().to_string() })
}

/// Relative paths of all files below `dir` (manifest excluded).
fn list_files(dir: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).with_context(|| format!("cannot list `{}`", d.display()))? {
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

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn host_name() -> String {
    // Dots would read as an extension in the temporary names.
    let h = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|s| s.trim().to_string()).unwrap_or_default();
    let h: String = h.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    if h.is_empty() {
        "unknown".into()
    } else {
        h
    }
}

/// Opens (creating) a lock file, with the folders above it.
fn open_lock_file(path: &Path) -> std::io::Result<File> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)
}

/// Whether an I/O error means "this cache cannot be written" (a read-only cache shared for
/// reading), in which case reads go on without a lock.
fn is_read_only(e: &std::io::Error) -> bool {
    matches!(e.kind(), std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem)
}

impl Cache {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Cache { root: root.into() }
    }

    pub fn entry_dir(&self, stage: &str, key: &str) -> PathBuf {
        self.root.join(stage).join(key)
    }

    fn lock_path(&self, stage: &str, key: &str) -> PathBuf {
        self.root.join(".locks").join(stage).join(format!("{key}.lock"))
    }

    /// Blocks until no process computes or replaces the entry, then holds it for reading. In a
    /// cache this process may not write, reads go on unlocked.
    pub fn lock_shared(&self, stage: &str, key: &str) -> Result<EntryLock> {
        let path = self.lock_path(stage, key);
        match open_lock_file(&path) {
            Ok(f) => {
                f.lock_shared().with_context(|| format!("cannot lock `{}` for reading", path.display()))?;
                Ok(EntryLock { _file: Some(f) })
            }
            Err(e) if is_read_only(&e) => Ok(EntryLock { _file: None }),
            Err(e) => Err(e).with_context(|| format!("cannot create the lock file `{}`", path.display())),
        }
    }

    /// Whether another thread or process holds the entry's exclusive lock (computing it) right
    /// now; never blocks.
    pub fn is_busy(&self, stage: &str, key: &str) -> bool {
        let Ok(f) = std::fs::OpenOptions::new().read(true).open(self.lock_path(stage, key)) else { return false };
        matches!(f.try_lock_shared(), Err(std::fs::TryLockError::WouldBlock))
    }

    /// Blocks until no other process reads, computes or replaces the entry, then holds it
    /// for computing.
    pub fn lock_exclusive(&self, stage: &str, key: &str) -> Result<EntryLock> {
        let path = self.lock_path(stage, key);
        let f = open_lock_file(&path).with_context(|| format!("cannot create the lock file `{}` (is the cache folder writable?)", path.display()))?;
        f.lock().with_context(|| format!("cannot lock `{}`", path.display()))?;
        Ok(EntryLock { _file: Some(f) })
    }

    /// The entry's directory and manifest when it exists and is intact. Never changes the
    /// cache: call it holding a lock on the entry.
    pub fn lookup(&self, stage: &str, key: &str) -> Option<(PathBuf, Manifest)> {
        let dir = self.entry_dir(stage, key);
        if !dir.exists() {
            return None;
        }
        self.verify(&dir, key).ok().map(|m| (dir, m))
    }

    /// A hash of the entry's manifest as it is now (`None` without one), read without a lock:
    /// a change tells that another process wrote the entry meanwhile.
    pub fn manifest_digest(&self, stage: &str, key: &str) -> Option<String> {
        std::fs::read(self.entry_dir(stage, key).join("manifest.json")).ok().map(|b| blake3::hash(&b).to_hex().to_string())
    }

    /// Whether an intact entry exists, without locking or changing anything: for `--plan`.
    pub fn peek(&self, stage: &str, key: &str) -> bool {
        let dir = self.entry_dir(stage, key);
        dir.exists() && self.verify(&dir, key).is_ok()
    }

    fn verify(&self, dir: &Path, key: &str) -> Result<Manifest> {
        let m: Manifest = crate::pipeline::artifacts::read_json(&dir.join("manifest.json"))?;
        anyhow::ensure!(m.key == key, "manifest key mismatch");
        for (name, sum) in &m.files {
            // The cache writes plain files of the recorded size: anything else (a link to a
            // 4 GB file, a truncated artifact) is refused before hashing a byte of it.
            let md = std::fs::symlink_metadata(dir.join(name))?;
            anyhow::ensure!(md.is_file(), "{name} is not a plain file");
            anyhow::ensure!(md.len() == sum.bytes, "{name} holds {} bytes, the manifest {}", md.len(), sum.bytes);
            let got = checksum(&dir.join(name))?;
            anyhow::ensure!(&got == sum, "checksum mismatch for {name}");
        }
        Ok(m)
    }

    /// Removes temporary entries whose writer is gone (its lock on `<name>.lock` was released,
    /// by a normal end or by its death) and returns how many. Safe while other processes
    /// write: a live writer holds its lock.
    pub fn remove_stale_tmp(&self) -> usize {
        let tmp_root = self.root.join(".tmp");
        let Ok(entries) = std::fs::read_dir(&tmp_root) else { return 0 };
        let mut removed = 0;
        let mut names: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        names.sort();
        for p in names {
            if p.extension().is_some_and(|e| e == "lock") {
                let Ok(f) = std::fs::OpenOptions::new().read(true).write(true).open(&p) else { continue };
                if f.try_lock().is_err() {
                    continue; // its writer is alive
                }
                let dir = p.with_extension("");
                if dir.exists() && std::fs::remove_dir_all(&dir).is_ok() {
                    removed += 1;
                }
                let _ = std::fs::remove_file(&p);
            } else if p.is_dir() && !p.with_extension("lock").exists() {
                // A writer creates and locks its lock file before the folder and removes the
                // folder before the lock file, so a folder without one has no live writer.
                if std::fs::remove_dir_all(&p).is_ok() {
                    removed += 1;
                }
            }
        }
        removed
    }

    /// Creates a fresh temporary entry folder and its held lock; both are registered with
    /// [`interrupt`] so an interrupted process removes them.
    fn new_tmp(&self, stage: &str, key: &str) -> Result<(PathBuf, File)> {
        let tmp_root = self.root.join(".tmp");
        std::fs::create_dir_all(&tmp_root).with_context(|| format!("cannot create the cache folder `{}` (is it writable?)", tmp_root.display()))?;
        loop {
            let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
            let name = format!("{stage}-{}-{}-{}-{nanos}", &key[..key.len().min(16)], host_name(), std::process::id());
            let tmp = tmp_root.join(&name);
            let lock_path = tmp_root.join(format!("{name}.lock"));
            let f = open_lock_file(&lock_path).with_context(|| format!("cannot create `{}`", lock_path.display()))?;
            f.lock().with_context(|| format!("cannot lock `{}`", lock_path.display()))?;
            // A cleaner may have removed the file between create and lock: then it is not the
            // file at the path any more, and we start again.
            let same = match (f.metadata(), std::fs::metadata(&lock_path)) {
                (Ok(a), Ok(b)) => {
                    use std::os::unix::fs::MetadataExt;
                    a.ino() == b.ino() && a.dev() == b.dev()
                }
                _ => false,
            };
            if !same {
                continue;
            }
            let _ = std::fs::write(&lock_path, format!("pid {} host {}\n", std::process::id(), host_name()));
            interrupt::register(&tmp);
            std::fs::create_dir(&tmp).with_context(|| format!("cannot create the cache folder `{}`", tmp.display()))?;
            return Ok((tmp, f));
        }
    }

    /// Computes an entry: `write` fills a fresh temporary directory and returns the stage's
    /// info; the manifest is written last and the directory renamed into place. The caller
    /// holds the entry's exclusive lock ([`Cache::lock_exclusive`]), so an entry it replaces
    /// (`--force`, or a damaged one) is read by nobody.
    pub fn store(&self, mut manifest: Manifest, write: impl FnOnce(&Path) -> Result<Value>) -> Result<(PathBuf, Manifest)> {
        let (tmp, _tmp_lock) = self.new_tmp(&manifest.stage, &manifest.key)?;
        let lock_path = tmp.with_extension("lock");
        let result = (|| -> Result<(PathBuf, Manifest)> {
            let start = std::time::Instant::now();
            manifest.info = write(&tmp).with_context(|| format!("while writing the cache entry in `{}`", tmp.display()))?;
            // Callers may pre-set the compute time; writing the artifacts adds to it.
            manifest.seconds += start.elapsed().as_secs_f64();
            manifest.created_unix = unix_now();
            for f in list_files(&tmp)? {
                let sum = checksum(&tmp.join(&f))?;
                manifest.files.insert(f, sum);
            }
            crate::pipeline::artifacts::write_json(&tmp.join("manifest.json"), &manifest)?;
            let dest = self.entry_dir(&manifest.stage, &manifest.key);
            if let Some(parent) = dest.parent() {
                std::fs::create_dir_all(parent).with_context(|| format!("cannot create the cache folder `{}`", parent.display()))?;
            }
            // An old entry is moved aside (into our own temporary name, so an interrupt
            // removes it) before the new one takes its place.
            let old = tmp.with_extension("old");
            interrupt::register(&old);
            interrupt::commit(&[&tmp, &old], || {
                let had_old = dest.exists();
                if had_old {
                    std::fs::rename(&dest, &old)?;
                }
                std::fs::rename(&tmp, &dest).inspect_err(|_| {
                    // Put the previous entry back rather than lose it.
                    if had_old {
                        let _ = std::fs::rename(&old, &dest);
                    }
                })
            })
            .with_context(|| format!("cannot move the finished entry into `{}`", dest.display()))?;
            if old.exists() {
                let _ = std::fs::remove_dir_all(&old);
            }
            interrupt::unregister(&old);
            Ok((dest, manifest))
        })();
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
            interrupt::unregister(&tmp);
        }
        let _ = std::fs::remove_file(&lock_path);
        result
    }

    /// Removes a damaged entry; the caller holds its exclusive lock.
    pub fn remove(&self, stage: &str, key: &str) {
        let _ = std::fs::remove_dir_all(self.entry_dir(stage, key));
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
        peak_rss_bytes: None,
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
        // A link in place of an artifact is refused even when it points at the same bytes
        // (a link to a 4 GB file was hashed whole, 10 s, before "not cached").
        std::fs::write(d.path().join("same.txt"), "hello").unwrap();
        std::fs::remove_file(dir.join("a.txt")).unwrap();
        std::os::unix::fs::symlink(d.path().join("same.txt"), dir.join("a.txt")).unwrap();
        assert!(!c.peek("s", "k1"), "a symbolic link is not a cache artifact");
        std::fs::remove_file(dir.join("a.txt")).unwrap();
        // A plain file of another size (4 GB, sparse: no disk) is refused by its size, before
        // a byte of it is hashed.
        std::fs::File::create(dir.join("a.txt")).unwrap().set_len(4 << 30).unwrap();
        let t = std::time::Instant::now();
        let e = c.verify(&dir, "k1").unwrap_err().to_string();
        assert!(e.contains("a.txt holds 4294967296 bytes, the manifest 5"), "{e}");
        assert!(t.elapsed().as_secs_f64() < 1.0, "hashed the whole file: {:?}", t.elapsed());
        std::fs::write(dir.join("a.txt"), "hello").unwrap();
        assert!(c.peek("s", "k1"));
        // Corrupt an artifact: the entry must be ignored, and replaced by the next store.
        std::fs::write(dir.join("a.txt"), "HELLO").unwrap();
        assert!(!c.peek("s", "k1"));
        assert!(c.lookup("s", "k1").is_none());
        let _x = c.lock_exclusive("s", "k1").unwrap();
        c.store(manifest("k1"), |tmp| {
            std::fs::write(tmp.join("a.txt"), "again")?;
            Ok(serde_json::json!({"n": 2}))
        })
        .unwrap();
        assert_eq!(c.lookup("s", "k1").unwrap().1.info["n"], 2);
        assert_eq!(std::fs::read_to_string(dir.join("a.txt")).unwrap(), "again");
        assert_eq!(std::fs::read_dir(d.path().join(".tmp")).unwrap().count(), 0, "no temporary entry or lock file is left");
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
