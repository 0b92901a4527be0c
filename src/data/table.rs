//! `kind = "table"`: a generic CSV / TSV / parquet file of interactions, read through polars,
//! with optional rating, time, feature and text columns.

use super::fields::{printable, timestamp};
use super::{canon, file_fingerprint, resolve, Dataset, DatasetKind, FeatureColumn, Interaction};
use crate::params::{self, ParamError, Validate};
use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum TableFormat {
    /// From the file extension: .csv, .tsv/.tab, .parquet/.pq.
    #[default]
    Auto,
    Csv,
    Tsv,
    Parquet,
}

/// `kind = "table"`: any CSV / TSV / parquet file of interactions.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TableParams {
    pub path: PathBuf,
    pub format: TableFormat,
    /// CSV/TSV only.
    pub has_header: bool,
    /// CSV only; a one-character separator overriding the format's.
    pub separator: Option<String>,
    pub user_col: String,
    pub item_col: String,
    /// Optional; every rating is 1 without it.
    pub rating_col: Option<String>,
    /// Optional; the row order is the time without it.
    pub time_col: Option<String>,
    /// Columns of item text (titles, descriptions) repeated on the item's rows: each becomes
    /// a text feature of the items (the first non-empty value of an item), for `text` inputs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub item_text_cols: Vec<String>,
    /// The same for users.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub user_text_cols: Vec<String>,
}

impl Default for TableParams {
    fn default() -> Self {
        TableParams {
            path: PathBuf::new(),
            format: TableFormat::Auto,
            has_header: true,
            separator: None,
            user_col: "user_id".into(),
            item_col: "item_id".into(),
            rating_col: None,
            time_col: None,
            item_text_cols: Vec::new(),
            user_text_cols: Vec::new(),
        }
    }
}

impl Validate for TableParams {
    fn validate(&self) -> Result<(), ParamError> {
        crate::ensure_param!(!self.path.as_os_str().is_empty(), "path", "is required (a CSV, TSV or parquet file)");
        if let Some(s) = &self.separator {
            crate::ensure_param!(s.len() == 1, "separator", "must be one character, got `{s}`");
        }
        Ok(())
    }
}

pub static KIND: DatasetKind = DatasetKind {
    kind: "table",
    about: "a CSV, TSV or parquet file with configurable column names (polars)",
    version: 1,
    parse: canon::<TableParams>,
    load: |v, dir| {
        let p: TableParams = params::parse(v)?;
        load_table(&resolve(dir, &p.path)?, &p)
    },
    fingerprint: |v, dir| {
        let p: TableParams = params::parse(v)?;
        file_fingerprint(&[resolve(dir, &p.path)?])
    },
};

fn format_of(path: &Path, f: TableFormat) -> Result<TableFormat> {
    if f != TableFormat::Auto {
        return Ok(f);
    }
    let ext = path.extension().map(|e| e.to_string_lossy().to_lowercase()).unwrap_or_default();
    Ok(match ext.as_str() {
        "csv" => TableFormat::Csv,
        "tsv" | "tab" | "txt" => TableFormat::Tsv,
        "parquet" | "pq" => TableFormat::Parquet,
        _ => bail!("cannot tell the format of `{}` from its extension; set format = \"csv\" | \"tsv\" | \"parquet\"", path.display()),
    })
}

pub fn load_table(path: &Path, p: &TableParams) -> Result<Dataset> {
    use polars::prelude::*;
    let format = format_of(path, p.format)?;
    let sep = match (&p.separator, format) {
        (Some(s), _) => s.as_bytes()[0],
        (None, TableFormat::Tsv) => b'\t',
        _ => b',',
    };
    let df = match format {
        TableFormat::Parquet => {
            let f = std::fs::File::open(path).with_context(|| format!("cannot open `{}`", path.display()))?;
            ParquetReader::new(f).finish().map_err(|e| anyhow!("{}: not a readable parquet file: {e}", path.display()))?
        }
        _ => {
            if std::fs::metadata(path).map(|m| m.len() == 0).unwrap_or(false) {
                bail!("{}: the file is empty", path.display());
            }
            let mut head = [0u8; 8192];
            let n = std::io::Read::read(&mut std::fs::File::open(path).with_context(|| format!("cannot open `{}`", path.display()))?, &mut head).unwrap_or(0);
            if head[..n].contains(&0) {
                bail!(
                    "{}: the file holds binary data, not {} text; check the path, or set format = \"parquet\" for a parquet file",
                    path.display(),
                    if sep == b'\t' { "TSV" } else { "CSV" }
                );
            }
            CsvReadOptions::default()
                .with_has_header(p.has_header)
                .with_infer_schema_length(Some(0))
                .with_parse_options(CsvParseOptions::default().with_separator(sep))
                .try_into_reader_with_file_path(Some(path.to_path_buf()))
                .and_then(|r| r.finish())
                .map_err(|e| csv_error(path, sep, p.has_header, e.to_string()))?
        }
    };
    let names: Vec<String> = df.get_column_names().iter().map(|s| s.to_string()).collect();
    let col = |name: &str| -> Result<Column> {
        df.column(name).cloned().map_err(|_| {
            anyhow!(
                "{}: no column `{name}`; the file has {}; set user_col / item_col / rating_col / time_col / item_text_cols / user_text_cols",
                path.display(),
                printable(&names.join(", "))
            )
        })
    };
    let as_str = |name: &str| -> Result<Vec<Option<String>>> {
        let c = col(name)?.cast(&DataType::String)?;
        Ok(c.str()?.iter().map(|o| o.map(|s| s.to_string())).collect())
    };
    let users = as_str(&p.user_col)?;
    let items = as_str(&p.item_col)?;
    let header_lines = p.has_header as usize;
    // Parquet has no lines: its errors name the row (1-based).
    let at = |r: usize| {
        if format == TableFormat::Parquet {
            format!("{} row {}", path.display(), r + 1)
        } else {
            format!("{}:{}", path.display(), r + 1 + header_lines)
        }
    };
    let ratings: Vec<f32> = match &p.rating_col {
        Some(c) => as_str(c)?
            .iter()
            .enumerate()
            .map(|(r, v)| {
                let s = v.as_deref().unwrap_or("");
                match s.trim().parse::<f64>() {
                    Ok(x) if x.is_finite() && x.abs() <= f32::MAX as f64 => Ok(x as f32),
                    Ok(_) => Err(anyhow!("{}: rating `{}` in column `{c}` is not a finite number", at(r), s.trim())),
                    Err(_) => Err(anyhow!("{}: rating `{}` in column `{c}` is not a number", at(r), printable(s))),
                }
            })
            .collect::<Result<_>>()?,
        None => vec![1.0; users.len()],
    };
    let times: Vec<i64> = match &p.time_col {
        Some(c) => as_str(c)?
            .iter()
            .enumerate()
            .map(|(r, v)| {
                timestamp(Path::new(""), 0, v.as_deref().unwrap_or("")).map_err(|e| {
                    let msg = e.to_string();
                    let msg = msg.strip_prefix(":0: ").unwrap_or(&msg).to_string();
                    anyhow!("{}: {msg} (column `{c}`)", at(r))
                })
            })
            .collect::<Result<_>>()?,
        None => (0..users.len() as i64).collect(),
    };
    let mut ds = Dataset { name: path.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default(), ..Default::default() };
    for r in 0..users.len() {
        let (Some(u), Some(i)) = (&users[r], &items[r]) else {
            bail!("{}: missing user or item id", at(r));
        };
        let (uu, ii) = (ds.users.intern(u), ds.items.intern(i));
        ds.interactions.push(Interaction { user: uu, item: ii, rating: ratings[r], ts: times[r] });
    }
    if ds.interactions.is_empty() {
        bail!("{}: no rows", path.display());
    }
    for (cols, users) in [(&p.item_text_cols, false), (&p.user_text_cols, true)] {
        for c in cols {
            let values = as_str(c)?;
            let n = if users { ds.n_users() } else { ds.n_items() };
            let mut text = vec![String::new(); n];
            for (it, v) in ds.interactions.iter().zip(&values) {
                let slot = &mut text[if users { it.user } else { it.item } as usize];
                if slot.is_empty() {
                    if let Some(v) = v {
                        slot.push_str(v.trim());
                    }
                }
            }
            let table = if users { &mut ds.user_features } else { &mut ds.item_features };
            table.columns.push(FeatureColumn::Text { name: c.clone(), values: text });
        }
    }
    Ok(ds)
}

/// polars' CSV errors do not always say where; find the first line whose field count differs
/// from the header's so the user gets a line number.
fn csv_error(path: &Path, sep: u8, _has_header: bool, polars_msg: String) -> anyhow::Error {
    if let Ok(text) = std::fs::read_to_string(path) {
        let sep = sep as char;
        let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
        if let Some((_, first)) = lines.next() {
            let want = first.split(sep).count();
            for (n, l) in lines {
                let got = l.split(sep).count();
                if got != want {
                    return anyhow!("{}:{}: expected {want} fields, got {got} ({})", path.display(), n + 1, printable(&polars_msg));
                }
            }
        }
    }
    anyhow!("{}: cannot parse as {} text: {}", path.display(), if sep == b'\t' { "TSV" } else { "CSV" }, printable(&polars_msg))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn generic_table_csv_and_errors() {
        let d = tempfile::tempdir().unwrap();
        let p = write(d.path(), "x.csv", "u,i,r,t\na,x,1,5\nb,y,2,6\na,y,3,7\n");
        let params = TableParams {
            path: p.clone(),
            user_col: "u".into(),
            item_col: "i".into(),
            rating_col: Some("r".into()),
            time_col: Some("t".into()),
            ..Default::default()
        };
        let ds = load_table(&p, &params).unwrap();
        assert_eq!((ds.n_users(), ds.n_items(), ds.interactions.len()), (2, 2, 3));
        assert_eq!({ ds.interactions[2].ts }, 7);
        let bad = write(d.path(), "bad.csv", "u,i,r,t\na,x,1,5\nb,y,oops,6\n");
        let e = load_table(&bad, &TableParams { path: bad.clone(), ..params.clone() }).unwrap_err().to_string();
        assert!(e.contains("bad.csv:3") && e.contains("oops"), "{e}");
        let missing = TableParams { user_col: "nope".into(), ..params.clone() };
        let e = load_table(&p, &missing).unwrap_err().to_string();
        assert!(e.contains("no column `nope`"), "{e}");
        // Text columns repeated on an item's rows: the first non-empty value is the item's.
        let t = write(d.path(), "text.csv", "u,i,title\na,x,\nb,y,Blue Moon\na,y,other\nc,x,Red Sun\n");
        let tp = TableParams { path: t.clone(), user_col: "u".into(), item_col: "i".into(), item_text_cols: vec!["title".into()], ..Default::default() };
        let ds = load_table(&t, &tp).unwrap();
        assert_eq!(ds.item_features.get("title"), Some(&FeatureColumn::Text { name: "title".into(), values: vec!["Red Sun".into(), "Blue Moon".into()] }));
        let e = load_table(&t, &TableParams { item_text_cols: vec!["titel".into()], ..tp }).unwrap_err().to_string();
        assert!(e.contains("no column `titel`") && e.contains("item_text_cols"), "{e}");
        let empty = write(d.path(), "empty.csv", "");
        assert!(load_table(&empty, &TableParams { path: empty.clone(), ..params }).unwrap_err().to_string().contains("empty"));
    }
}

#[cfg(test)]
mod parquet_tests {
    use super::*;

    #[test]
    fn generic_table_parquet() {
        use polars::prelude::*;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.parquet");
        let mut df = DataFrame::new(
            3,
            vec![
                Column::new("user_id".into(), vec![10i64, 11, 10]),
                Column::new("item_id".into(), vec!["a", "b", "b"]),
                Column::new("ts".into(), vec![3i64, 2, 1]),
            ],
        )
        .unwrap();
        ParquetWriter::new(std::fs::File::create(&p).unwrap()).finish(&mut df).unwrap();
        let params = TableParams { path: p.clone(), time_col: Some("ts".into()), ..Default::default() };
        let ds = load_table(&p, &params).unwrap();
        assert_eq!((ds.n_users(), ds.n_items(), ds.interactions.len()), (2, 2, 3));
        assert_eq!(ds.users.raw(0), "10");
        assert_eq!({ ds.interactions[2].ts }, 1);
        std::fs::write(&p, b"not parquet").unwrap();
        assert!(load_table(&p, &params).unwrap_err().to_string().contains("parquet"));
    }
}
