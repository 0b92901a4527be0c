//! What the loaders share to read text data files: lines streamed in blocks, timestamps, and a
//! bad value made safe to quote in an error.

use anyhow::{bail, Context, Result};
use std::path::Path;

/// A timestamp: a whole number that fits 64 bits (Unix seconds, milliseconds, or any integer
/// clock). `964982703.0` is accepted; NaN, infinity, fractions and out-of-range values are
/// errors, since rounding them silently would reorder interactions and move the metrics.
pub fn timestamp(path: &Path, line: usize, s: &str) -> Result<i64> {
    let t = s.trim();
    if let Ok(v) = t.parse::<i64>() {
        return Ok(v);
    }
    let Ok(x) = t.parse::<f64>() else {
        bail!("{}:{line}: timestamp `{}` is not a number (a whole number, e.g. Unix seconds, is expected)", path.display(), printable(t));
    };
    if !x.is_finite() {
        bail!("{}:{line}: timestamp `{t}` is not a finite number", path.display());
    }
    if x.fract() != 0.0 {
        bail!("{}:{line}: timestamp `{t}` is fractional; scale the times to whole numbers (e.g. milliseconds)", path.display());
    }
    if x < -9.2e18 || x > 9.2e18 {
        bail!("{}:{line}: timestamp `{t}` is out of range (at most about 9.2e18)", path.display());
    }
    Ok(x as i64)
}

/// `s` made safe to quote in an error: control and non-UTF-8 characters escaped, at most 80
/// characters (a binary file misnamed `.csv` must not dump its bytes on the terminal).
pub fn printable(s: &str) -> String {
    let mut out = crate::term::escape_controls(&s.chars().take(80).collect::<String>());
    if s.chars().count() > 80 {
        out.push_str("...");
    }
    out
}

/// Calls `each(line number, line)` for every line of `path`, read in 1 MiB blocks rather
/// than whole: a 20M-rating file is 500 MB of text, which would otherwise sit in memory beside
/// the interactions parsed from it. Lines are UTF-8 or, failing that, Latin-1 (as
/// `movielens::read_text`); a trailing `\r` is dropped.
pub fn for_each_line(path: &Path, mut each: impl FnMut(usize, &str) -> Result<()>) -> Result<()> {
    use std::io::BufRead;
    let file = std::fs::File::open(path).with_context(|| format!("cannot read `{}`", path.display()))?;
    let mut r = std::io::BufReader::with_capacity(1 << 20, file);
    let mut buf = Vec::new();
    let mut latin = String::new();
    let mut line = 0;
    loop {
        buf.clear();
        if r.read_until(b'\n', &mut buf).with_context(|| format!("cannot read `{}`", path.display()))? == 0 {
            return Ok(());
        }
        line += 1;
        let mut bytes = buf.as_slice();
        bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        match std::str::from_utf8(bytes) {
            Ok(text) => each(line, text)?,
            Err(_) => {
                latin.clear();
                latin.extend(bytes.iter().map(|&b| b as char));
                each(line, &latin)?;
            }
        }
    }
}
