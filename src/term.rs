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

/// `s` with control characters escaped (`\u{1b}`, `\n`): ids and titles come from data
/// files, and printed raw an `ESC[2J` clears the user's terminal or an OSC sequence retitles
/// it, and a line break forges an answer line.
pub fn escape_controls(s: &str) -> String {
    s.chars().flat_map(|c| if c.is_control() { c.escape_default().collect::<Vec<_>>() } else { vec![c] }).collect()
}

/// `1234567` -> `1,234,567`: counts in messages people read.
pub fn thousands(n: u128) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}
