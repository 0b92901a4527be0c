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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

static ACTIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static EXITING: AtomicBool = AtomicBool::new(false);

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
    list.retain(|p| !tmps.contains(&p.as_path()));
    r
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
