//! Printing to stdout that survives a reader that left (`runner kinds | head -1`,
//! `runner run -q | head -c1`). `println!` panics when the pipe is closed (Rust ignores
//! SIGPIPE), which killed `run`'s report stage before its page and `run.json` were written.
//! A line nobody reads any more is dropped; the work goes on.

/// Writes one line to stdout, ignoring a closed or failing stdout.
pub fn say(args: std::fmt::Arguments) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{args}");
}

/// `println!` for the command line's output: [`say`].
#[macro_export]
macro_rules! say {
    ($($t:tt)*) => {
        $crate::term::say(format_args!($($t)*))
    };
}
