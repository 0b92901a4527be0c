//! On-disk formats of stage artifacts: little-endian binary columns with a small header.
//! Chosen over JSON or parquet for the hot artifacts (matrices, interactions, corpora)
//! because they load at memory bandwidth and need no schema code.

use crate::data::corpus::Corpus;
use crate::data::Interaction;
use crate::linalg::Matrix;
use anyhow::{bail, Context, Result};
use std::io::{BufWriter, Read, Write};
use std::path::Path;

const MATRIX_MAGIC: &[u8; 8] = b"RNRMAT01";
const INTER_MAGIC: &[u8; 8] = b"RNRINT01";
const CORPUS_MAGIC: &[u8; 8] = b"RNRCOR01";
const IDS_MAGIC: &[u8; 8] = b"RNRIDS01";

fn create(path: &Path) -> Result<BufWriter<std::fs::File>> {
    Ok(BufWriter::new(std::fs::File::create(path).with_context(|| format!("cannot create `{}`", path.display()))?))
}

fn read_all(path: &Path) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    std::fs::File::open(path).with_context(|| format!("cannot open `{}`", path.display()))?.read_to_end(&mut buf)?;
    Ok(buf)
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    path: &'a Path,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.pos + n > self.buf.len() {
            bail!("`{}` is truncated", self.path.display());
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }
    fn magic(&mut self, m: &[u8; 8]) -> Result<()> {
        if self.take(8)? != m {
            bail!("`{}` is not a runner artifact of the expected type", self.path.display());
        }
        Ok(())
    }
    fn f32s(&mut self, n: usize) -> Result<Vec<f32>> {
        Ok(self.take(n * 4)?.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4"))).collect())
    }
    fn u32s(&mut self, n: usize) -> Result<Vec<u32>> {
        Ok(self.take(n * 4)?.chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().expect("4"))).collect())
    }
    fn u64s(&mut self, n: usize) -> Result<Vec<u64>> {
        Ok(self.take(n * 8)?.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().expect("8"))).collect())
    }
    fn end(&self) -> Result<()> {
        if self.pos != self.buf.len() {
            bail!("`{}` has trailing bytes", self.path.display());
        }
        Ok(())
    }
}

pub fn write_matrix(path: &Path, m: &Matrix) -> Result<()> {
    write_rows(path, m.rows, m.cols, &m.data)
}

/// [`write_matrix`] of `rows` x `cols` numbers held elsewhere than a [`Matrix`] (a vector
/// feature column), without copying them into one.
pub fn write_rows(path: &Path, rows: usize, cols: usize, data: &[f32]) -> Result<()> {
    anyhow::ensure!(data.len() == rows * cols, "internal: {} numbers for {rows} x {cols}", data.len());
    let mut w = create(path)?;
    w.write_all(MATRIX_MAGIC)?;
    w.write_all(&(rows as u64).to_le_bytes())?;
    w.write_all(&(cols as u64).to_le_bytes())?;
    for x in data {
        w.write_all(&x.to_le_bytes())?;
    }
    w.flush()?;
    Ok(())
}

pub fn read_matrix(path: &Path) -> Result<Matrix> {
    let buf = read_all(path)?;
    let mut r = Reader { buf: &buf, pos: 0, path };
    r.magic(MATRIX_MAGIC)?;
    let (rows, cols) = (r.u64()? as usize, r.u64()? as usize);
    let data = r.f32s(rows * cols)?;
    r.end()?;
    Matrix::from_vec(rows, cols, data)
}

pub fn write_interactions(path: &Path, list: &[Interaction]) -> Result<()> {
    let mut w = create(path)?;
    w.write_all(INTER_MAGIC)?;
    w.write_all(&(list.len() as u64).to_le_bytes())?;
    for it in list {
        w.write_all(&it.user.to_le_bytes())?;
    }
    for it in list {
        w.write_all(&it.item.to_le_bytes())?;
    }
    for it in list {
        w.write_all(&it.rating.to_le_bytes())?;
    }
    for it in list {
        w.write_all(&it.ts.to_le_bytes())?;
    }
    w.flush()?;
    Ok(())
}

/// Streams the columns into the list, so reading needs the list's memory and a buffer
/// (reading the file whole, then its columns, then the list took three times the list: 1 GB
/// at 15M interactions).
pub fn read_interactions(path: &Path) -> Result<Vec<Interaction>> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot open `{}`", path.display()))?;
    let size = file.metadata().with_context(|| format!("cannot read `{}`", path.display()))?.len();
    let mut r = std::io::BufReader::with_capacity(1 << 16, file);
    let mut head = [0u8; 16];
    if size < 16 {
        bail!("`{}` is truncated", path.display());
    }
    r.read_exact(&mut head).with_context(|| format!("cannot read `{}`", path.display()))?;
    if &head[..8] != INTER_MAGIC {
        bail!("`{}` is not a runner artifact of the expected type", path.display());
    }
    let n = u64::from_le_bytes(head[8..].try_into().expect("8 bytes"));
    // Four columns: user, item (u32), rating (f32), ts (i64).
    let want = n.checked_mul(20).and_then(|b| b.checked_add(16)).ok_or_else(|| anyhow::anyhow!("`{}` declares too many interactions", path.display()))?;
    if size < want {
        bail!("`{}` is truncated", path.display());
    }
    if size > want {
        bail!("`{}` has trailing bytes", path.display());
    }
    let n = n as usize;
    let mut out = vec![Interaction { user: 0, item: 0, rating: 0.0, ts: 0 }; n];
    let io = |e: std::io::Error| anyhow::Error::from(e).context(format!("cannot read `{}`", path.display()));
    column::<4>(&mut r, n, |k, b| out[k].user = u32::from_le_bytes(b)).map_err(io)?;
    column::<4>(&mut r, n, |k, b| out[k].item = u32::from_le_bytes(b)).map_err(io)?;
    column::<4>(&mut r, n, |k, b| out[k].rating = f32::from_le_bytes(b)).map_err(io)?;
    column::<8>(&mut r, n, |k, b| out[k].ts = i64::from_le_bytes(b)).map_err(io)?;
    Ok(out)
}

/// Reads `n` little-endian values of `W` bytes, in chunks, handing each to `set(index, bytes)`.
fn column<const W: usize>(r: &mut impl Read, n: usize, mut set: impl FnMut(usize, [u8; W])) -> std::io::Result<()> {
    const CHUNK: usize = 8192;
    let mut buf = vec![0u8; W * CHUNK];
    let mut k = 0;
    while k < n {
        let m = (n - k).min(CHUNK);
        r.read_exact(&mut buf[..m * W])?;
        for (j, c) in buf[..m * W].chunks_exact(W).enumerate() {
            set(k + j, c.try_into().expect("W bytes"));
        }
        k += m;
    }
    Ok(())
}

pub fn write_corpus(path: &Path, c: &Corpus) -> Result<()> {
    let mut w = create(path)?;
    w.write_all(CORPUS_MAGIC)?;
    w.write_all(&(c.vocab_size as u64).to_le_bytes())?;
    w.write_all(&(c.tokens.len() as u64).to_le_bytes())?;
    w.write_all(&(c.offsets.len() as u64).to_le_bytes())?;
    for t in &c.tokens {
        w.write_all(&t.to_le_bytes())?;
    }
    for o in &c.offsets {
        w.write_all(&o.to_le_bytes())?;
    }
    w.flush()?;
    Ok(())
}

pub fn read_corpus(path: &Path) -> Result<Corpus> {
    let buf = read_all(path)?;
    let mut r = Reader { buf: &buf, pos: 0, path };
    r.magic(CORPUS_MAGIC)?;
    let vocab_size = r.u64()? as usize;
    let (nt, no) = (r.u64()? as usize, r.u64()? as usize);
    let c = Corpus { vocab_size, tokens: r.u32s(nt)?, offsets: r.u64s(no)? };
    r.end()?;
    c.validate()?;
    Ok(c)
}

/// Writes a row-major `rows x cols` table of ids (a vectors dataset's true neighbours).
pub fn write_ids(path: &Path, rows: usize, cols: usize, ids: &[u32]) -> Result<()> {
    anyhow::ensure!(ids.len() == rows * cols, "internal: {} ids for {rows} x {cols}", ids.len());
    let mut w = create(path)?;
    w.write_all(IDS_MAGIC)?;
    w.write_all(&(rows as u64).to_le_bytes())?;
    w.write_all(&(cols as u64).to_le_bytes())?;
    for x in ids {
        w.write_all(&x.to_le_bytes())?;
    }
    w.flush()?;
    Ok(())
}

/// Reads what [`write_ids`] wrote: (rows, cols, ids).
pub fn read_ids(path: &Path) -> Result<(usize, usize, Vec<u32>)> {
    let buf = read_all(path)?;
    let mut r = Reader { buf: &buf, pos: 0, path };
    r.magic(IDS_MAGIC)?;
    let (rows, cols) = (r.u64()? as usize, r.u64()? as usize);
    let ids = r.u32s(rows.checked_mul(cols).ok_or_else(|| anyhow::anyhow!("`{}` declares too many ids", path.display()))?)?;
    r.end()?;
    Ok((rows, cols, ids))
}

/// A file's bytes, with its path in the error.
pub fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    read_all(path)
}

pub fn write_json<T: serde::Serialize>(path: &Path, v: &T) -> Result<()> {
    std::fs::write(path, serde_json::to_vec_pretty(v)?).with_context(|| format!("cannot write `{}`", path.display()))
}

pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = read_all(path)?;
    serde_json::from_slice(&bytes).with_context(|| format!("`{}` is not valid JSON of the expected shape", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_truncation() {
        let d = tempfile::tempdir().unwrap();
        let m = Matrix::from_vec(2, 3, vec![1.0, 2.0, 3.0, 4.0, 5.0, -6.5]).unwrap();
        let p = d.path().join("m.f32");
        write_matrix(&p, &m).unwrap();
        assert_eq!(read_matrix(&p).unwrap(), m);
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() - 2]).unwrap();
        assert!(read_matrix(&p).unwrap_err().to_string().contains("truncated"));

        let list = vec![Interaction { user: 1, item: 2, rating: 3.5, ts: -4 }, Interaction { user: 5, item: 6, rating: 7.0, ts: 8 }];
        let p = d.path().join("i.bin");
        write_interactions(&p, &list).unwrap();
        assert_eq!(read_interactions(&p).unwrap(), list);
        // More than one read chunk per column.
        let long: Vec<Interaction> = (0..20_000).map(|k| Interaction { user: k, item: 3 * k, rating: k as f32 / 2.0, ts: -(k as i64) }).collect();
        write_interactions(&p, &long).unwrap();
        assert_eq!(read_interactions(&p).unwrap(), long);
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() - 3]).unwrap();
        assert!(read_interactions(&p).unwrap_err().to_string().contains("truncated"));
        std::fs::write(&p, [&bytes[..], &[0u8]].concat()).unwrap();
        assert!(read_interactions(&p).unwrap_err().to_string().contains("trailing"));
        std::fs::write(&p, b"RNRMAT01").unwrap();
        assert!(read_interactions(&p).is_err());
        write_interactions(&p, &list).unwrap();

        let mut c = Corpus::new(10);
        c.push(&[1, 2, 3]);
        c.push(&[9]);
        let p = d.path().join("c.bin");
        write_corpus(&p, &c).unwrap();
        assert_eq!(read_corpus(&p).unwrap(), c);

        let p = d.path().join("n.ids");
        write_ids(&p, 2, 2, &[3, 1, 0, 7]).unwrap();
        assert_eq!(read_ids(&p).unwrap(), (2, 2, vec![3, 1, 0, 7]));
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() - 1]).unwrap();
        assert!(read_ids(&p).unwrap_err().to_string().contains("truncated"));
    }
}
