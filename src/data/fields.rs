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

/// A rating: any finite number (negative ratings are kept: some datasets encode dislikes so).
pub fn rating(path: &Path, line: usize, s: &str) -> Result<f32> {
    let Ok(r) = s.trim().parse::<f64>() else {
        bail!("{}:{line}: rating `{}` is not a number", path.display(), printable(s));
    };
    if !r.is_finite() || r.abs() > f32::MAX as f64 {
        bail!("{}:{line}: rating `{}` is not a finite number", path.display(), printable(s.trim()));
    }
    Ok(r as f32)
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

/// Reads `path` in blocks of about 4 MiB cut at line ends and parses up to 4 blocks at a time
/// in parallel, `parse(number of the block's first line, block)`, handing each block's result
/// to `apply` in file order. For files of many short rows (the tag genome's 11.7M), whose
/// parsing rather than reading is the cost: two cores parse about twice as fast as one, and
/// memory stays at a few blocks. Blocks are UTF-8 or else Latin-1, as [`for_each_line`].
pub fn par_blocks<T: Send>(path: &Path, parse: impl Fn(usize, &str) -> Result<T> + Sync, mut apply: impl FnMut(T) -> Result<()>) -> Result<()> {
    use rayon::prelude::*;
    use std::io::Read;
    const BLOCK: usize = 4 << 20;
    const WAVE: usize = 4;
    let mut file = std::fs::File::open(path).with_context(|| format!("cannot read `{}`", path.display()))?;
    let mut carry: Vec<u8> = Vec::new();
    let mut line = 1;
    let mut done = false;
    while !done {
        // A wave: blocks that each end at a line end, with their first line numbers.
        let mut wave: Vec<(usize, Vec<u8>)> = Vec::with_capacity(WAVE);
        while wave.len() < WAVE && !done {
            let mut block = std::mem::take(&mut carry);
            let have = block.len();
            block.resize(have + BLOCK, 0);
            let n = read_full(&mut file, &mut block[have..]).with_context(|| format!("cannot read `{}`", path.display()))?;
            block.truncate(have + n);
            if n == 0 {
                done = true;
            } else if let Some(end) = block.iter().rposition(|&b| b == b'\n') {
                carry = block.split_off(end + 1);
            } else {
                // No line end in a whole block: keep reading into it.
                carry = block;
                continue;
            }
            if !block.is_empty() {
                let lines = block.iter().filter(|&&b| b == b'\n').count() + usize::from(!block.ends_with(b"\n"));
                wave.push((line, block));
                line += lines;
            }
        }
        let results: Vec<Result<T>> = wave
            .par_iter()
            .map(|(first, bytes)| match std::str::from_utf8(bytes) {
                Ok(text) => parse(*first, text),
                Err(_) => parse(*first, &bytes.iter().map(|&b| b as char).collect::<String>()),
            })
            .collect();
        for r in results {
            apply(r?)?;
        }
    }
    fn read_full(f: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut got = 0;
        while got < buf.len() {
            match f.read(&mut buf[got..])? {
                0 => break,
                n => got += n,
            }
        }
        Ok(got)
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Blocks cut at line ends number every line as a whole read would, across block and
    /// wave boundaries (a 7 MB file is two blocks), with or without a last line end.
    #[test]
    fn par_blocks_sees_every_line_once_with_its_number() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("lines.txt");
        for tail in ["\n", ""] {
            let n = 1_000_000;
            let text: String = (1..=n).map(|k| k.to_string()).collect::<Vec<_>>().join("\n") + tail;
            std::fs::write(&p, &text).unwrap();
            let mut seen = 0usize;
            let mut blocks = 0;
            par_blocks(
                &p,
                |first, block| {
                    for (k, l) in block.lines().enumerate() {
                        anyhow::ensure!(l == (first + k).to_string(), "line {} reads `{l}`", first + k);
                    }
                    Ok(block.lines().count())
                },
                |count| {
                    seen += count;
                    blocks += 1;
                    Ok(())
                },
            )
            .unwrap();
            assert_eq!(seen, n, "tail {tail:?}");
            assert!(blocks >= 2, "the file spans blocks");
        }
    }
}
