//! NumPy `.npy` files (`np.save`): base and query vectors as a 2-D float32 array (float64 and
//! uint8 are converted), ground-truth ids as a 2-D integer array, both in C order.
//!
//! The header is a Python dict literal (`{'descr': '<f4', 'fortran_order': False, 'shape':
//! (1000, 128)}`), parsed by the `npyz` crate rather than by hand. What npyz leaves to the
//! caller is checked here, with the file named: the array must be 2-D, in C order, of a
//! supported dtype, and the data must be exactly as long as the header says (a truncated
//! download reads as an I/O error in the middle of the data otherwise).

use super::IdRows;
use crate::linalg::Matrix;
use anyhow::{anyhow, bail, Context, Result};
use npyz::{DType, NpyFile, NpyHeader, Order, TypeChar};
use std::io::Read;
use std::path::Path;

/// Counts the bytes the header parser consumed, so the data's length can be checked.
struct Counting<R> {
    inner: R,
    n: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n += n as u64;
        Ok(n)
    }
}

/// The parsed header, a reader at the data, and the checked shape and element type.
struct Opened {
    header: NpyHeader,
    data: std::io::BufReader<std::fs::File>,
    rows: usize,
    cols: usize,
    type_char: TypeChar,
    size: u64,
    descr: String,
}

fn shape_text(shape: &[u64]) -> String {
    match shape {
        [one] => format!("({one},)"),
        s => format!("({})", s.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(", ")),
    }
}

/// Opens `path` and checks everything but the dtype: 2-D, C order, non-empty, and exactly
/// as many data bytes as the header declares. `what` names the array in errors.
fn open(path: &Path, what: &str) -> Result<Opened> {
    let name = path.display();
    let f = std::fs::File::open(path).with_context(|| format!("cannot open `{name}`"))?;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    if len == 0 {
        bail!("`{name}`: the file is empty (a NumPy .npy file, as np.save writes, is expected)");
    }
    let mut counting = Counting { inner: &f, n: 0 };
    let header = NpyHeader::from_reader(&mut counting).map_err(|e| anyhow!("`{name}`: not a readable NumPy .npy file: {e}"))?;
    let DType::Plain(ts) = header.dtype() else {
        bail!("`{name}`: holds a structured array; {what} must be a plain 2-D array");
    };
    let descr = ts.to_string();
    let shape = header.shape().to_vec();
    if shape.len() != 2 {
        bail!("`{name}`: holds an array of shape {}, but {what} must be a 2-D array (one row per vector)", shape_text(&shape));
    }
    if header.order() == Order::Fortran {
        bail!("`{name}`: the array is in Fortran (column-major) order; save it in C order, e.g. np.save(path, np.ascontiguousarray(a))");
    }
    if shape[0] == 0 || shape[1] == 0 {
        bail!("`{name}`: the array is empty (shape {})", shape_text(&shape));
    }
    let size = ts.size_field();
    let expected =
        shape[0].checked_mul(shape[1]).and_then(|n| n.checked_mul(size)).ok_or_else(|| anyhow!("`{name}`: shape {} is too large", shape_text(&shape)))?;
    let available = len - counting.n;
    if available < expected {
        bail!(
            "`{name}`: truncated: the header declares shape {} of `{descr}` ({expected} bytes of data) but only {available} bytes follow it",
            shape_text(&shape)
        );
    }
    if available > expected {
        bail!("`{name}`: {} bytes follow the {expected} bytes of data its header declares (shape {} of `{descr}`)", available - expected, shape_text(&shape));
    }
    let (rows, cols) = (shape[0] as usize, shape[1] as usize);
    Ok(Opened { header, data: std::io::BufReader::with_capacity(1 << 20, f), rows, cols, type_char: ts.type_char(), size, descr })
}

impl Opened {
    fn values<T: npyz::Deserialize>(self, path: &Path) -> Result<Vec<T>> {
        NpyFile::with_header(self.header, self.data).into_vec::<T>().with_context(|| format!("`{}`: cannot read the data", path.display()))
    }
}

/// Reads base or query vectors: float32, or float64 / uint8 converted to float32.
pub fn read_vectors(path: &Path, what: &str) -> Result<Matrix> {
    let o = open(path, what)?;
    let (rows, cols) = (o.rows, o.cols);
    let data: Vec<f32> = match (o.type_char, o.size) {
        (TypeChar::Float, 4) => o.values::<f32>(path)?,
        (TypeChar::Float, 8) => o.values::<f64>(path)?.into_iter().map(|x| x as f32).collect(),
        (TypeChar::Uint, 1) => o.values::<u8>(path)?.into_iter().map(f32::from).collect(),
        _ => bail!("`{}`: dtype `{}`; {what} must be float32, float64 or uint8", path.display(), o.descr),
    };
    Matrix::from_vec(rows, cols, data)
}

/// Reads ground-truth neighbour ids: any 32- or 64-bit integer dtype.
pub fn read_ids(path: &Path) -> Result<IdRows> {
    let o = open(path, "the ground truth")?;
    let (rows, cols) = (o.rows, o.cols);
    let ids: Vec<i64> = match (o.type_char, o.size) {
        (TypeChar::Int, 4) => o.values::<i32>(path)?.into_iter().map(i64::from).collect(),
        (TypeChar::Int, 8) => o.values::<i64>(path)?,
        (TypeChar::Uint, 4) => o.values::<u32>(path)?.into_iter().map(i64::from).collect(),
        (TypeChar::Uint, 8) => o.values::<u64>(path)?.into_iter().map(|x| i64::try_from(x).unwrap_or(i64::MAX)).collect(),
        _ => bail!("`{}`: dtype `{}`; ground-truth neighbour ids must be integers (int32, int64, uint32 or uint64)", path.display(), o.descr),
    };
    Ok(IdRows { rows, cols, ids })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A version-1.0 `.npy` file written byte by byte: magic, version, header length, the
    /// dict padded with spaces to a multiple of 64 bytes and ended by a newline, then `data`.
    pub(crate) fn npy_bytes(descr: &str, fortran: bool, shape: &str, data: &[u8]) -> Vec<u8> {
        let dict = format!("{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}", if fortran { "True" } else { "False" });
        let unpadded = 10 + dict.len() + 1;
        let pad = (64 - unpadded % 64) % 64;
        let header = format!("{dict}{}\n", " ".repeat(pad));
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    #[test]
    fn reads_float32_float64_uint8_and_integer_ids() {
        let d = tempfile::tempdir().unwrap();
        let f4: Vec<u8> = [1.0f32, 2.0, 3.0, -4.5, 5.0, 6.0].iter().flat_map(|x| x.to_le_bytes()).collect();
        let m = read_vectors(&write(d.path(), "a.npy", &npy_bytes("<f4", false, "(2, 3)", &f4)), "base vectors").unwrap();
        assert_eq!((m.rows, m.cols), (2, 3));
        assert_eq!(m.data, vec![1.0, 2.0, 3.0, -4.5, 5.0, 6.0]);
        // Big-endian float64, as a non-x86 numpy may save it.
        let f8: Vec<u8> = [0.5f64, -1.25].iter().flat_map(|x| x.to_be_bytes()).collect();
        let m = read_vectors(&write(d.path(), "b.npy", &npy_bytes(">f8", false, "(1, 2)", &f8)), "base vectors").unwrap();
        assert_eq!(m.data, vec![0.5, -1.25]);
        let m = read_vectors(&write(d.path(), "c.npy", &npy_bytes("|u1", false, "(2, 2)", &[0, 1, 254, 255])), "base vectors").unwrap();
        assert_eq!(m.data, vec![0.0, 1.0, 254.0, 255.0]);
        let i8s: Vec<u8> = [3i64, 0, 7, 1].iter().flat_map(|x| x.to_le_bytes()).collect();
        let g = read_ids(&write(d.path(), "gt.npy", &npy_bytes("<i8", false, "(2, 2)", &i8s))).unwrap();
        assert_eq!((g.rows, g.cols, g.ids), (2, 2, vec![3, 0, 7, 1]));
        let i4: Vec<u8> = [9i32, -1].iter().flat_map(|x| x.to_le_bytes()).collect();
        let g = read_ids(&write(d.path(), "gt4.npy", &npy_bytes("<i4", false, "(1, 2)", &i4))).unwrap();
        assert_eq!(g.ids, vec![9, -1]);
    }

    #[test]
    fn wrong_dtype_shape_order_and_truncation_are_clear_errors() {
        let d = tempfile::tempdir().unwrap();
        let f4: Vec<u8> = [1.0f32; 6].iter().flat_map(|x| x.to_le_bytes()).collect();
        let e = read_vectors(&write(d.path(), "i.npy", &npy_bytes("<i4", false, "(2, 3)", &f4)), "base vectors").unwrap_err().to_string();
        assert!(e.contains("i.npy") && e.contains("dtype `<i4`") && e.contains("must be float32, float64 or uint8"), "{e}");
        let e = read_ids(&write(d.path(), "f.npy", &npy_bytes("<f4", false, "(2, 3)", &f4))).unwrap_err().to_string();
        assert!(e.contains("dtype `<f4`") && e.contains("must be integers"), "{e}");
        let e = read_vectors(&write(d.path(), "v.npy", &npy_bytes("<f4", false, "(6,)", &f4)), "base vectors").unwrap_err().to_string();
        assert!(e.contains("shape (6,)") && e.contains("must be a 2-D array"), "{e}");
        let e = read_vectors(&write(d.path(), "t.npy", &npy_bytes("<f4", false, "(1, 2, 3)", &f4)), "query vectors").unwrap_err().to_string();
        assert!(e.contains("shape (1, 2, 3)") && e.contains("query vectors must be a 2-D array"), "{e}");
        let e = read_vectors(&write(d.path(), "o.npy", &npy_bytes("<f4", true, "(2, 3)", &f4)), "base vectors").unwrap_err().to_string();
        assert!(e.contains("Fortran") && e.contains("C order"), "{e}");
        let e = read_vectors(&write(d.path(), "z.npy", &npy_bytes("<f4", false, "(0, 3)", &[])), "base vectors").unwrap_err().to_string();
        assert!(e.contains("empty"), "{e}");
        // Truncated: 24 bytes declared, 20 present; and 4 bytes too many.
        let e = read_vectors(&write(d.path(), "cut.npy", &npy_bytes("<f4", false, "(2, 3)", &f4[..20])), "base vectors").unwrap_err().to_string();
        assert!(e.contains("cut.npy") && e.contains("truncated") && e.contains("(24 bytes of data) but only 20 bytes follow"), "{e}");
        let long = [f4.clone(), vec![0; 4]].concat();
        let e = read_vectors(&write(d.path(), "long.npy", &npy_bytes("<f4", false, "(2, 3)", &long)), "base vectors").unwrap_err().to_string();
        assert!(e.contains("4 bytes follow the 24 bytes of data"), "{e}");
        let e = read_vectors(&write(d.path(), "bad.npy", b"not numpy at all"), "base vectors").unwrap_err().to_string();
        assert!(e.contains("bad.npy") && e.contains("not a readable NumPy .npy file"), "{e}");
        let e = read_vectors(&write(d.path(), "empty.npy", b""), "base vectors").unwrap_err().to_string();
        assert!(e.contains("empty"), "{e}");
    }
}
