//! What an interrupted process must undo: the temporary paths it is writing (cache entries
//! being computed, result files being replaced).
//!
//! Every temporary path is registered here while it exists. A finished path is moved into
//! place by [`commit`], which holds the registry's lock during the rename, so the SIGINT /
//! SIGTERM handler ([`abandon_all`]) either sees the temporary path (and removes it) or sees
//! it already renamed, never half of each. After `abandon_all` no commit succeeds, so nothing
//! half-written is renamed into place while the process exits.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

static ACTIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static EXITING: AtomicBool = AtomicBool::new(false);
/// Successful [`commit`]s so far, so an interrupt handler can tell whether a set of files
/// it was writing made it into place before the signal (the rename holds the registry's
/// lock, which the handler waits for).
static COMMITS: AtomicUsize = AtomicUsize::new(0);

fn active() -> MutexGuard<'static, Vec<PathBuf>> {
    // A panic while holding the lock leaves the list usable: it holds only paths.
    ACTIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether the process is being interrupted; long loops may check it to stop early.
pub fn exiting() -> bool {
    EXITING.load(Ordering::SeqCst)
}

/// Records a temporary path (file or folder) this process is writing.
pub fn register(path: &Path) {
    active().push(path.to_path_buf());
}

/// Forgets a temporary path that was removed or renamed by other means.
pub fn unregister(path: &Path) {
    active().retain(|p| p != path);
}

/// Runs `rename` (which moves the temporary paths `tmps` into place) unless the process is
/// exiting, and forgets them. The registry stays locked meanwhile, so an interrupt cannot
/// remove a temporary path mid-rename, nor land between the renames of one set of files.
pub fn commit(tmps: &[&Path], rename: impl FnOnce() -> io::Result<()>) -> io::Result<()> {
    let mut list = active();
    if exiting() {
        return Err(io::Error::new(io::ErrorKind::Interrupted, "the run was interrupted"));
    }
    let r = rename();
    if r.is_ok() {
        COMMITS.fetch_add(1, Ordering::SeqCst);
    }
    list.retain(|p| !tmps.contains(&p.as_path()));
    r
}

/// How many [`commit`]s have succeeded in this process.
pub fn commits() -> usize {
    COMMITS.load(Ordering::SeqCst)
}

/// Removes every registered temporary path and blocks further commits; returns how many
/// paths were removed. The registry stays locked (the lock is leaked) so no thread commits
/// after this: call it only right before the process exits.
pub fn abandon_all() -> usize {
    let list = active();
    EXITING.store(true, Ordering::SeqCst);
    let mut removed = 0;
    for p in list.iter() {
        let gone = if p.is_dir() { std::fs::remove_dir_all(p) } else { std::fs::remove_file(p) };
        if gone.is_ok() {
            removed += 1;
        }
        // A temporary cache entry's lock file sits beside it.
        let _ = std::fs::remove_file(p.with_extension("lock"));
    }
    std::mem::forget(list);
    removed
}

/// Writes files into `dir` as one set: every file is written in full under a temporary name
/// (registered here, so an interrupt removes it) before any replaces its old version, so a
/// failure (a full disk, say) or an interrupt leaves the old set whole and no temporary file
/// behind; the renames then follow each other under one hold of the registry (a reader could
/// catch the microseconds between two of them; an interrupt cannot fall between them). A
/// destination that is a folder or a symbolic link is refused before anything is replaced:
/// a link would be replaced by a file where its owner meant to write elsewhere, or, written
/// through, overwrite whatever it points at.
pub fn write_set<N: AsRef<str>, B: AsRef<[u8]>>(dir: &Path, files: &[(N, B)]) -> anyhow::Result<()> {
    let tmp = |name: &str| dir.join(format!(".{name}.{}.tmp", std::process::id()));
    for (name, _) in files {
        let dest = dir.join(name.as_ref());
        match std::fs::symlink_metadata(&dest) {
            Ok(m) if m.file_type().is_symlink() => {
                anyhow::bail!("`{}` is a symbolic link; runner never writes through one: remove it or write elsewhere", dest.display())
            }
            Ok(m) if m.is_dir() => anyhow::bail!("`{}` is a folder, not a file; move it away and run again", dest.display()),
            _ => {}
        }
    }
    let mut written = Vec::new();
    let mut result = Ok(());
    for (name, body) in files {
        let t = tmp(name.as_ref());
        register(&t);
        written.push(t.clone());
        if let Err(e) = std::fs::write(&t, body) {
            result = Err(anyhow::Error::new(e).context(format!("cannot write `{}`", t.display())));
            break;
        }
    }
    if result.is_ok() {
        let temps: Vec<&Path> = written.iter().map(|p| p.as_path()).collect();
        let renamed = commit(&temps, || {
            for (name, _) in files {
                let dest = dir.join(name.as_ref());
                std::fs::rename(tmp(name.as_ref()), &dest).map_err(|e| io::Error::new(e.kind(), format!("cannot replace `{}`: {e}", dest.display())))?;
            }
            Ok(())
        });
        if let Err(e) = renamed {
            result = Err(anyhow::Error::new(e));
        }
    }
    for t in written {
        if t.exists() {
            let _ = std::fs::remove_file(&t);
        }
        unregister(&t);
    }
    result
}
