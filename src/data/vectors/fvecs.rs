//! The TEXMEX `.fvecs` / `.ivecs` / `.bvecs` files of SIFT1M, GIST1M and SIFT1B (and of FAISS'
//! benchmarks): one record per vector, a little-endian `i32` dimension `d` followed by `d`
//! values (`f32`, `i32` or `u8`), with nothing else in the file.
//!
//! Read by hand: the format is that one line, and no maintained crate reads it with the errors
//! wanted here. The file is streamed record by record (a 1M x 128 base is 512 MB, so it is not
//! read whole before converting), and every error names the file, the vector and its byte
//! offset: a truncated record, a dimension that changes in mid-file (often a file of another
//! format), an empty file.

use super::IdRows;
use crate::linalg::Matrix;
use anyhow::{bail, Context, Result};
use std::io::Read;
use std::path::Path;

/// The element type of a `*vecs` file, from its extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Elem {
    /// `.fvecs`: 4-byte floats.
    F32,
    /// `.ivecs`: 4-byte signed integers (ground-truth neighbour ids).
    I32,
    /// `.bvecs`: bytes (SIFT1B).
    U8,
}

impl Elem {
    fn size(self) -> usize {
        match self {
            Elem::F32 | Elem::I32 => 4,
            Elem::U8 => 1,
        }
    }

    fn ext(self) -> &'static str {
        match self {
            Elem::F32 => "fvecs",
            Elem::I32 => "ivecs",
            Elem::U8 => "bvecs",
        }
    }
}

/// Largest dimension accepted: a header above it is not a dimension (GIST's 960 and the widest
/// text embeddings are far below), and reading it would allocate gigabytes for one vector.
pub const MAX_DIM: usize = 1 << 20;

/// Reads as many bytes as are there, up to `buf.len()`: fewer means the file ended.
fn fill(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Streams the records of `path`, calling `each(values)` with the raw little-endian bytes of
/// every vector; returns (vectors, dimension).
fn records(path: &Path, elem: Elem, mut each: impl FnMut(&[u8])) -> Result<(usize, usize)> {
    let f = std::fs::File::open(path).with_context(|| format!("cannot open `{}`", path.display()))?;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let mut r = std::io::BufReader::with_capacity(1 << 20, f);
    let name = path.display();
    let ext = elem.ext();
    let mut head = [0u8; 4];
    let mut values = Vec::new();
    let (mut n, mut dim, mut offset) = (0usize, 0usize, 0u64);
    loop {
        let got = fill(&mut r, &mut head)?;
        if got == 0 {
            break;
        }
        if got < 4 {
            bail!("`{name}`: truncated: vector {n} (byte {offset}) starts with {got} of the 4 bytes of its dimension, then the file ends");
        }
        let d = i32::from_le_bytes(head);
        if d <= 0 || d as usize > MAX_DIM {
            bail!(
                "`{name}`: vector {n} (byte {offset}) declares dimension {d}; an .{ext} record starts with its dimension (1 to {MAX_DIM}, a little-endian int32): is this an .{ext} file?"
            );
        }
        let d = d as usize;
        if n == 0 {
            dim = d;
            values = vec![0u8; d * elem.size()];
        } else if d != dim {
            bail!("`{name}`: vector {n} (byte {offset}) has dimension {d}, but vector 0 has {dim}: every vector of one file must have the same dimension");
        }
        let got = fill(&mut r, &mut values)?;
        if got < values.len() {
            bail!(
                "`{name}`: truncated: vector {n} (byte {offset}) declares {d} values ({} bytes) but the file ends {got} bytes into them ({len} bytes in all)",
                values.len()
            );
        }
        each(&values);
        n += 1;
        offset += 4 + values.len() as u64;
    }
    if n == 0 {
        bail!("`{name}`: the file is empty (an .{ext} file holds one record per vector: a little-endian int32 dimension, then the values)");
    }
    Ok((n, dim))
}

/// Reads an `.fvecs` or `.bvecs` file as `f32` rows (bytes widened exactly).
pub fn read_vectors(path: &Path, elem: Elem) -> Result<Matrix> {
    anyhow::ensure!(elem != Elem::I32, "internal: .ivecs holds ids, not vectors");
    let mut data: Vec<f32> = Vec::new();
    let (n, d) = records(path, elem, |bytes| match elem {
        Elem::F32 => data.extend(bytes.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))),
        _ => data.extend(bytes.iter().map(|&b| b as f32)),
    })?;
    Matrix::from_vec(n, d, data)
}

/// Reads an `.ivecs` file of neighbour ids (one row per query, nearest first).
pub fn read_ids(path: &Path) -> Result<IdRows> {
    let mut ids: Vec<i64> = Vec::new();
    let (rows, cols) = records(path, Elem::I32, |bytes| ids.extend(bytes.chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().expect("4 bytes")) as i64)))?;
    Ok(IdRows { rows, cols, ids })
}

/// Writes `rows` in the `*vecs` layout (tests and small tools: the inverse of the readers).
pub fn write<T: Copy>(path: &Path, rows: &[Vec<T>], to_le: impl Fn(T) -> Vec<u8>) -> Result<()> {
    let mut out = Vec::new();
    for r in rows {
        out.extend_from_slice(&(r.len() as i32).to_le_bytes());
        for &x in r {
            out.extend(to_le(x));
        }
    }
    std::fs::write(path, out).with_context(|| format!("cannot write `{}`", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One record, written byte by byte.
    fn record(dim: i32, values: &[u8]) -> Vec<u8> {
        let mut v = dim.to_le_bytes().to_vec();
        v.extend_from_slice(values);
        v
    }

    fn f32s(xs: &[f32]) -> Vec<u8> {
        xs.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn reads_hand_written_fvecs_ivecs_and_bvecs() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.fvecs");
        std::fs::write(&p, [record(2, &f32s(&[1.0, -2.5])), record(2, &f32s(&[0.0, 3.25]))].concat()).unwrap();
        let m = read_vectors(&p, Elem::F32).unwrap();
        assert_eq!((m.rows, m.cols), (2, 2));
        assert_eq!(m.data, vec![1.0, -2.5, 0.0, 3.25]);

        let p = d.path().join("x.bvecs");
        std::fs::write(&p, [record(3, &[0, 7, 255]), record(3, &[1, 2, 3])].concat()).unwrap();
        let m = read_vectors(&p, Elem::U8).unwrap();
        assert_eq!(m.data, vec![0.0, 7.0, 255.0, 1.0, 2.0, 3.0]);

        let p = d.path().join("gt.ivecs");
        let ids: Vec<u8> = [5i32, -1, 70000].iter().flat_map(|x| x.to_le_bytes()).collect();
        std::fs::write(&p, record(3, &ids)).unwrap();
        let g = read_ids(&p).unwrap();
        assert_eq!((g.rows, g.cols, g.ids), (1, 3, vec![5, -1, 70000]));

        // The writer is the readers' inverse.
        let p = d.path().join("w.fvecs");
        write(&p, &[vec![1.5f32, 2.0], vec![3.0, 4.0]], |x| x.to_le_bytes().to_vec()).unwrap();
        assert_eq!(read_vectors(&p, Elem::F32).unwrap().data, vec![1.5, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn truncated_files_name_the_vector_and_byte() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("t.fvecs");
        let full = [record(2, &f32s(&[1.0, 2.0])), record(2, &f32s(&[3.0, 4.0]))].concat();
        // Cut inside the second vector's values: it starts at byte 12.
        std::fs::write(&p, &full[..full.len() - 3]).unwrap();
        let e = read_vectors(&p, Elem::F32).unwrap_err().to_string();
        assert!(e.contains("t.fvecs") && e.contains("truncated") && e.contains("vector 1 (byte 12)") && e.contains("5 bytes into them"), "{e}");
        // Cut inside the second vector's dimension.
        std::fs::write(&p, &full[..14]).unwrap();
        let e = read_vectors(&p, Elem::F32).unwrap_err().to_string();
        assert!(e.contains("vector 1 (byte 12)") && e.contains("2 of the 4 bytes of its dimension"), "{e}");
    }

    #[test]
    fn dimension_changes_empty_files_and_garbage_are_errors() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("m.fvecs");
        std::fs::write(&p, [record(2, &f32s(&[1.0, 2.0])), record(3, &f32s(&[3.0, 4.0, 5.0]))].concat()).unwrap();
        let e = read_vectors(&p, Elem::F32).unwrap_err().to_string();
        assert!(e.contains("vector 1 (byte 12) has dimension 3, but vector 0 has 2"), "{e}");

        std::fs::write(&p, b"").unwrap();
        let e = read_vectors(&p, Elem::F32).unwrap_err().to_string();
        assert!(e.contains("m.fvecs") && e.contains("empty"), "{e}");

        // A text file: its first four bytes are no dimension.
        std::fs::write(&p, b"1 2 3\n4 5 6\n").unwrap();
        let e = read_vectors(&p, Elem::F32).unwrap_err().to_string();
        assert!(e.contains("vector 0 (byte 0) declares dimension") && e.contains("is this an .fvecs file?"), "{e}");
        std::fs::write(&p, record(-4, &[])).unwrap();
        assert!(read_vectors(&p, Elem::F32).unwrap_err().to_string().contains("declares dimension -4"));
    }
}
