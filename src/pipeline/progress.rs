//! Progress bars (indicatif). One `MultiProgress` for the process, so the stage bar and the
//! per-model training bars stack instead of overwriting each other.

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::sync::OnceLock;

fn multi() -> &'static MultiProgress {
    static M: OnceLock<MultiProgress> = OnceLock::new();
    M.get_or_init(MultiProgress::new)
}

/// Adds a bar of `len` steps; hidden when `enabled` is false (`--quiet`, tests).
pub fn bar(len: u64, template: &str, enabled: bool) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let pb = multi().add(ProgressBar::new(len));
    pb.set_style(ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()));
    pb
}

/// A training bar: `<label> [bar] epoch i/n <msg>` where models put the running loss in msg.
pub fn epochs(label: &str, epochs: u64, enabled: bool) -> ProgressBar {
    let pb = bar(epochs, "  {prefix} [{bar:20}] epoch {pos}/{len} {msg} {elapsed}", enabled);
    pb.set_prefix(label.to_string());
    pb
}

/// Prints a line above the bars (or plainly when they are hidden, e.g. not a terminal).
pub fn println(line: &str) {
    if multi().is_hidden() {
        eprintln!("{line}");
    } else {
        let _ = multi().println(line);
    }
}
