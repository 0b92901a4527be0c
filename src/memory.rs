//! How much memory this process may still use: the smaller of the machine's available memory
//! (`MemAvailable`) and the room left under a cgroup (v2) limit, the limit that kills a job
//! in a container or a Slurm allocation. Used to refuse configs whose estimated size cannot
//! fit before they run, instead of an abort mid-training. And how much a stage used: the
//! process's peak resident memory while it ran ([`Window`]), for the stage log and manifest.

use std::sync::Mutex;

/// Bytes available, or `None` where it cannot be read (not Linux).
pub fn available() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok();
    let avail = meminfo.as_deref().and_then(|m| {
        m.lines().find_map(|l| l.strip_prefix("MemAvailable:").and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok()).map(|kb| kb * 1024))
    });
    let read = |f: &str| std::fs::read_to_string(format!("/sys/fs/cgroup/{f}")).ok().and_then(|s| s.trim().parse::<u64>().ok());
    let cgroup = match (read("memory.max"), read("memory.current")) {
        (Some(max), Some(cur)) => Some(max.saturating_sub(cur)),
        _ => None,
    };
    match (avail, cgroup) {
        (Some(a), Some(c)) => Some(a.min(c)),
        (a, c) => a.or(c),
    }
}

/// `bytes` in a short human form: `512 MB`, `3.2 GB`.
pub fn human(bytes: u64) -> String {
    let gb = bytes as f64 / 1e9;
    if gb >= 1.0 {
        format!("{gb:.1} GB")
    } else {
        format!("{:.0} MB", bytes as f64 / 1e6)
    }
}

/// An error message when `needed` bytes do not fit in what is available.
pub fn check(needed: u64) -> Result<(), String> {
    match available() {
        Some(avail) if needed > avail => Err(format!("needs about {} of memory, {} available", human(needed), human(avail))),
        _ => Ok(()),
    }
}

/// The process's peak resident memory while a stage runs.
///
/// Read from the kernel's high-water mark (`VmHWM`), which catches spikes a sampling thread
/// would miss. The mark is reset (`/proc/self/clear_refs`, Linux >= 4.0) when a window opens
/// while no other window is open, so with one stage at a time (`--jobs 1`, and every Slurm
/// job) the figure is the stage's own peak; with stages running side by side it is the peak
/// of the whole process over a span that covers the stage: an upper bound, never an
/// undercount. Where the mark cannot be reset it counts from the process start.
pub struct Window(());

static OPEN: Mutex<usize> = Mutex::new(0);

impl Window {
    pub fn open() -> Window {
        let mut open = OPEN.lock().unwrap_or_else(|e| e.into_inner());
        if *open == 0 {
            // "5" resets the peak RSS to the current RSS; failure leaves the older mark.
            let _ = std::fs::write("/proc/self/clear_refs", "5");
        }
        *open += 1;
        Window(())
    }

    /// Peak resident bytes so far in this window, or `None` where the kernel does not say.
    pub fn peak(&self) -> Option<u64> {
        peak_rss()
    }
}

impl Drop for Window {
    fn drop(&mut self) {
        *OPEN.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
    }
}

/// `VmHWM` of this process in bytes.
pub fn peak_rss() -> Option<u64> {
    status_bytes("VmHWM:")
}

/// `VmRSS` of this process in bytes: what is resident now.
pub fn rss() -> Option<u64> {
    status_bytes("VmRSS:")
}

fn status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|l| l.strip_prefix(field)).and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok()).map(|kb| kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_some_memory_and_refuses_the_impossible() {
        if let Some(a) = available() {
            assert!(a > 1 << 20, "at least a megabyte is available: {a}");
            let e = check(u64::MAX / 2).unwrap_err();
            assert!(e.contains("needs about") && e.contains("available"), "{e}");
            assert!(check(1024).is_ok());
        }
        assert_eq!(human(3_200_000_000), "3.2 GB");
        assert_eq!(human(512_000_000), "512 MB");
    }

    #[test]
    fn a_window_sees_memory_touched_inside_it() {
        let w = Window::open();
        let Some(before) = w.peak() else {
            println!("skipped: no VmHWM here (not Linux)");
            return;
        };
        let n = 64 << 20;
        let mut v = vec![0u8; n];
        // Touch every page so that it is resident, not merely reserved.
        for i in (0..n).step_by(4096) {
            v[i] = i as u8;
        }
        std::hint::black_box(&v);
        let after = w.peak().unwrap();
        assert!(after >= before + (n as u64) * 9 / 10, "64 MiB touched: peak {before} -> {after}");
    }
}
