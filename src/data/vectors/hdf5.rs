//! ann-benchmarks' HDF5 files (`glove-25-angular.hdf5`, `sift-128-euclidean.hdf5`, ...): the
//! base vectors in dataset `train`, the queries in `test`, each query's true neighbours in
//! `neighbors` (and their distances in `distances`, not needed here), and the distance in the
//! file's `distance` attribute (`euclidean`, `angular`).
//!
//! Read with the `hdf5-pure` crate, a maintained pure-Rust HDF5 reader (checked in its CI
//! against libhdf5), not with bindings to the C library (`hdf5-metno` over Debian's
//! libhdf5-dev): a pure-Rust reader needs nothing installed, so the default build and
//! `cargo test` work on a fresh machine, and no cargo feature or CI step is needed. It reads
//! what h5py writes by default (superblock 0, contiguous little-endian float32 / int32
//! datasets, variable-length string attributes), which is what ann-benchmarks' files are,
//! and chunked or deflate-compressed datasets too. The test fixture
//! `tests/fixtures/ann-tiny-euclidean.hdf5` was written by h5py (its script lies beside it),
//! so the reader is tested on a file of the real writer, not only on its own output.

use super::IdRows;
use crate::linalg::Matrix;
use anyhow::{anyhow, bail, Result};
use hdf5_pure::{AttrValue, DType, File};
use std::path::Path;

/// What an ann-benchmarks file holds.
pub struct AnnFile {
    pub base: Matrix,
    pub queries: Matrix,
    /// `neighbors`, when the file has it.
    pub neighbors: Option<IdRows>,
    /// The `distance` attribute, when the file has it.
    pub distance: Option<String>,
}

fn text(v: &AttrValue) -> Option<String> {
    match v {
        AttrValue::String(s) | AttrValue::AsciiString(s) | AttrValue::VarLenString(s) | AttrValue::VarLenAsciiString(s) => Some(s.clone()),
        AttrValue::StringSized { value, .. } | AttrValue::AsciiStringSized { value, .. } => Some(value.clone()),
        AttrValue::StringArray(a) | AttrValue::VarLenStringArray(a) | AttrValue::AsciiStringArray(a) | AttrValue::VarLenAsciiStringArray(a) if a.len() == 1 => {
            Some(a[0].clone())
        }
        _ => None,
    }
}

/// Opens dataset `name` and checks it is 2-D; returns it with its (rows, cols).
fn dataset(file: &File, path: &Path, name: &str, what: &str) -> Result<(hdf5_pure::Dataset, usize, usize)> {
    let ds = file.dataset(name).map_err(|e| {
        let has = file.root().datasets().map(|d| d.join(", ")).unwrap_or_default();
        anyhow!(
            "`{}`: no dataset `{name}` ({e}); an ann-benchmarks file holds `train` (base vectors), `test` (queries) and `neighbors`; this one holds: {}",
            path.display(),
            if has.is_empty() { "nothing".to_string() } else { has }
        )
    })?;
    let shape = ds.shape().map_err(|e| anyhow!("`{}`: cannot read the shape of `{name}`: {e}", path.display()))?;
    if shape.len() != 2 {
        bail!("`{}`: dataset `{name}` has shape {shape:?}, but {what} must be a 2-D array (one row per vector)", path.display());
    }
    if shape[0] == 0 || shape[1] == 0 {
        bail!("`{}`: dataset `{name}` is empty (shape {shape:?})", path.display());
    }
    Ok((ds, shape[0] as usize, shape[1] as usize))
}

fn damaged(path: &Path, name: &str, e: hdf5_pure::Error) -> anyhow::Error {
    anyhow!("`{}`: cannot read dataset `{name}`: {e} (is the file truncated or damaged?)", path.display())
}

/// Reads a vector dataset as f32 (float64 and uint8 converted).
fn vectors(file: &File, path: &Path, name: &str, what: &str) -> Result<Matrix> {
    let (ds, rows, cols) = dataset(file, path, name, what)?;
    let dtype = ds.dtype().map_err(|e| damaged(path, name, e))?;
    let data: Vec<f32> = match dtype {
        DType::F32 => ds.read_f32().map_err(|e| damaged(path, name, e))?,
        DType::F64 => ds.read_f64().map_err(|e| damaged(path, name, e))?.into_iter().map(|x| x as f32).collect(),
        DType::U8 => ds.read_u8().map_err(|e| damaged(path, name, e))?.into_iter().map(f32::from).collect(),
        other => bail!("`{}`: dataset `{name}` has type {other}; {what} must be float32, float64 or uint8", path.display()),
    };
    Matrix::from_vec(rows, cols, data).map_err(|e| anyhow!("`{}`: dataset `{name}`: {e}", path.display()))
}

/// Reads the `neighbors` dataset (any integer type).
fn ids(file: &File, path: &Path, name: &str) -> Result<IdRows> {
    let (ds, rows, cols) = dataset(file, path, name, "the ground truth")?;
    let dtype = ds.dtype().map_err(|e| damaged(path, name, e))?;
    let ids: Vec<i64> = match dtype {
        DType::I32 => ds.read_i32().map_err(|e| damaged(path, name, e))?.into_iter().map(i64::from).collect(),
        DType::I64 => ds.read_i64().map_err(|e| damaged(path, name, e))?,
        DType::U32 => ds.read_u32().map_err(|e| damaged(path, name, e))?.into_iter().map(i64::from).collect(),
        DType::U64 => ds.read_u64().map_err(|e| damaged(path, name, e))?.into_iter().map(|x| i64::try_from(x).unwrap_or(i64::MAX)).collect(),
        other => bail!("`{}`: dataset `{name}` has type {other}; neighbour ids must be integers", path.display()),
    };
    anyhow::ensure!(ids.len() == rows * cols, "`{}`: dataset `{name}` holds {} values for shape ({rows}, {cols})", path.display(), ids.len());
    Ok(IdRows { rows, cols, ids })
}

/// Reads an ann-benchmarks file.
pub fn read(path: &Path) -> Result<AnnFile> {
    let file = File::open(path).map_err(|e| anyhow!("`{}`: not a readable HDF5 file: {e}", path.display()))?;
    let attrs = file.root().attrs().map_err(|e| anyhow!("`{}`: cannot read the file's attributes: {e}", path.display()))?;
    if let Some(t) = attrs.get("point_type").and_then(text) {
        if t != "float" {
            bail!("`{}`: its points are of type `{t}` (attribute point_type); only float vectors are supported", path.display());
        }
    }
    let base = vectors(&file, path, "train", "base vectors")?;
    let queries = vectors(&file, path, "test", "query vectors")?;
    let has_neighbors = file.root().datasets().map(|d| d.iter().any(|n| n == "neighbors")).unwrap_or(false);
    let neighbors = if has_neighbors { Some(ids(&file, path, "neighbors")?) } else { None };
    Ok(AnnFile { base, queries, neighbors, distance: attrs.get("distance").and_then(text) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdf5_pure::FileBuilder;

    fn write(path: &Path, build: impl FnOnce(&mut FileBuilder)) {
        let mut b = FileBuilder::new();
        build(&mut b);
        b.write(path).unwrap();
    }

    #[test]
    fn reads_an_ann_benchmarks_layout_written_by_this_crate() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.hdf5");
        write(&p, |b| {
            b.create_dataset("train").with_f32_data(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).with_shape(&[3, 2]);
            b.create_dataset("test").with_f64_data(&[0.5, 0.25]).with_shape(&[1, 2]);
            b.create_dataset("neighbors").with_i32_data(&[2, 0]).with_shape(&[1, 2]);
            b.set_attr("distance", AttrValue::String("angular".into()));
        });
        let f = read(&p).unwrap();
        assert_eq!((f.base.rows, f.base.cols), (3, 2));
        assert_eq!(f.base.data, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(f.queries.data, vec![0.5, 0.25]);
        let n = f.neighbors.unwrap();
        assert_eq!((n.rows, n.cols, n.ids), (1, 2, vec![2, 0]));
        assert_eq!(f.distance.as_deref(), Some("angular"));
    }

    #[test]
    fn missing_datasets_wrong_types_shapes_and_damage_are_clear_errors() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("y.hdf5");
        write(&p, |b| {
            b.create_dataset("train").with_f32_data(&[1.0, 2.0]).with_shape(&[1, 2]);
        });
        let e = read(&p).err().unwrap().to_string();
        assert!(e.contains("y.hdf5") && e.contains("no dataset `test`") && e.contains("holds: train"), "{e}");
        write(&p, |b| {
            b.create_dataset("train").with_f32_data(&[1.0, 2.0]).with_shape(&[2]);
            b.create_dataset("test").with_f32_data(&[1.0, 2.0]).with_shape(&[1, 2]);
        });
        let e = read(&p).err().unwrap().to_string();
        assert!(e.contains("`train` has shape [2]") && e.contains("must be a 2-D array"), "{e}");
        write(&p, |b| {
            b.create_dataset("train").with_i64_data(&[1, 2]).with_shape(&[1, 2]);
            b.create_dataset("test").with_f32_data(&[1.0, 2.0]).with_shape(&[1, 2]);
        });
        let e = read(&p).err().unwrap().to_string();
        assert!(e.contains("`train` has type i64") && e.contains("must be float32, float64 or uint8"), "{e}");
        write(&p, |b| {
            b.create_dataset("train").with_f32_data(&[1.0, 2.0]).with_shape(&[1, 2]);
            b.create_dataset("test").with_f32_data(&[1.0, 2.0]).with_shape(&[1, 2]);
            b.create_dataset("neighbors").with_f32_data(&[0.0]).with_shape(&[1, 1]);
        });
        let e = read(&p).err().unwrap().to_string();
        assert!(e.contains("`neighbors` has type f32") && e.contains("must be integers"), "{e}");
        // Truncated: the last bytes (the datasets' data) are gone.
        write(&p, |b| {
            b.create_dataset("train").with_f32_data(&vec![1.5; 4096]).with_shape(&[1024, 4]);
            b.create_dataset("test").with_f32_data(&vec![2.5; 4096]).with_shape(&[1024, 4]);
        });
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() - 8192]).unwrap();
        let e = read(&p).err().unwrap().to_string();
        assert!(e.contains("y.hdf5") && (e.contains("truncated") || e.contains("not a readable HDF5")), "{e}");
        std::fs::write(&p, b"plain text").unwrap();
        let e = read(&p).err().unwrap().to_string();
        assert!(e.contains("not a readable HDF5 file"), "{e}");
    }
}
