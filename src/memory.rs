//! How much memory this process may still use: the smaller of the machine's available memory
//! (`MemAvailable`) and the room left under a cgroup (v2) limit, the limit that kills a job
//! in a container or a Slurm allocation. Used to refuse configs whose estimated size cannot
//! fit before they run, instead of an abort mid-training.

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
}
