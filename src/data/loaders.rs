//! Dataset kinds: `movielens` (100K, 1M, 10M, latest), `table` (generic CSV / TSV / parquet
//! through polars), `synthetic`, `edges` (a graph, [`super::edges`]) and `vectors` (an ANN
//! benchmark, [`super::vectors`]). One registry entry each.

use super::{Dataset, FeatureColumn, FeatureTable, IdMap, Interaction};
use crate::params::{self, ParamError, Validate};
use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One dataset kind in the registry.
pub struct DatasetKind {
    pub kind: &'static str,
    pub about: &'static str,
    /// Bump when parsing changes, to invalidate cached data stages.
    pub version: u32,
    pub parse: fn(&Value) -> Result<Value, ParamError>,
    /// Loads the dataset; `data_dir` resolves relative paths.
    pub load: fn(&Value, &Path) -> Result<Dataset>,
    /// The identity of the input files (path, size, modification time), hashed into the data
    /// stage's key so an edited file is reloaded.
    pub fingerprint: fn(&Value, &Path) -> Result<Value>,
}

pub static KINDS: &[&DatasetKind] = &[&MOVIELENS, &TABLE, &super::synthetic::KIND, &super::edges::KIND, &super::vectors::KIND];

pub fn lookup(kind: &str) -> Option<&'static DatasetKind> {
    KINDS.iter().copied().find(|k| k.kind == kind)
}

pub fn kind_names() -> Vec<&'static str> {
    KINDS.iter().map(|k| k.kind).collect()
}

fn canon<T: serde::de::DeserializeOwned + Validate + Serialize>(v: &Value) -> Result<Value, ParamError> {
    params::canonical::<T>(v).map(|(_, c)| c)
}

/// Resolves a dataset path against the data folder and checks it exists.
pub fn resolve(data_dir: &Path, rel: &Path) -> Result<PathBuf> {
    let p = if rel.is_absolute() { rel.to_path_buf() } else { data_dir.join(rel) };
    if !p.exists() {
        bail!(
            "dataset path `{}` not found (resolved to `{}`); set [experiment] data_dir or RUNNER_DATA_DIR to the folder holding it",
            rel.display(),
            p.display()
        );
    }
    Ok(p)
}

/// Files up to this size are also fingerprinted by content.
const HASHED_BYTES: u64 = 64 << 20;

/// What identifies the input files in the data stage's key: each file's size and
/// modification time in nanoseconds, and for files up to 64 MiB a blake3 hash of the
/// contents. The hash is what catches an edit that keeps the size within one tick of the
/// file system's clock (Linux stamps files from a clock that advances every few
/// milliseconds; some file systems keep whole seconds); hashing a larger file at every
/// plan would cost more than such an edit is likely.
pub(crate) fn file_fingerprint(paths: &[PathBuf]) -> Result<Value> {
    let mut out = BTreeMap::new();
    for p in paths {
        let md = std::fs::metadata(p).with_context(|| format!("cannot read `{}`", p.display()))?;
        let mtime_ns = md.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos() as u64);
        let name = p.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        let mut entry = serde_json::json!({"bytes": md.len(), "mtime_ns": mtime_ns});
        if md.is_file() && md.len() <= HASHED_BYTES {
            let file = std::fs::File::open(p).with_context(|| format!("cannot read `{}`", p.display()))?;
            let hash = blake3::Hasher::new().update_reader(file).with_context(|| format!("cannot read `{}`", p.display()))?.finalize();
            entry["blake3"] = Value::String(hash.to_hex().to_string());
        }
        out.insert(name, entry);
    }
    Ok(serde_json::to_value(out)?)
}

// ---------------------------------------------------------------------------------------------
// MovieLens

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum MlVariant {
    #[default]
    Auto,
    #[serde(rename = "100k")]
    K100,
    #[serde(rename = "1m")]
    M1,
    #[serde(rename = "10m")]
    M10,
    Latest,
}

/// `kind = "movielens"`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MovieLensParams {
    /// Folder holding the MovieLens files, relative to the data folder.
    pub path: PathBuf,
    pub variant: MlVariant,
    /// Download the dataset into the data folder when `path` is missing (`path` names a
    /// published dataset: `ml-100k`, `ml-1m`, ...). Left out of the canonical params when
    /// off, so existing configs keep their stage keys.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub fetch: bool,
}

impl Default for MovieLensParams {
    fn default() -> Self {
        MovieLensParams { path: PathBuf::from("ml-100k"), variant: MlVariant::Auto, fetch: false }
    }
}
impl Validate for MovieLensParams {
    fn validate(&self) -> Result<(), ParamError> {
        if self.fetch {
            super::fetch::lookup(&self.folder_name())
                .map_err(|e| ParamError::new("path", format!("with fetch = true, the folder's name says what to download: {e}")))?;
        }
        Ok(())
    }
}

impl MovieLensParams {
    /// The last part of `path`: with `fetch`, the published dataset's name.
    fn folder_name(&self) -> String {
        self.path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default()
    }

    /// The dataset folder, downloaded first when it is missing and `fetch` is on.
    fn root(&self, data_dir: &Path) -> Result<PathBuf> {
        let name = self.folder_name();
        if self.fetch {
            let dest = if self.path.is_absolute() { self.path.clone() } else { data_dir.join(&self.path) };
            super::fetch::ensure(&name, &dest)?;
        }
        resolve(data_dir, &self.path).map_err(|e| match super::fetch::lookup(&name) {
            Ok(_) => anyhow!("{e}; or download it: `runner data fetch {name} --data-dir {}`, or set fetch = true in [dataset]", data_dir.display()),
            Err(_) => e,
        })
    }
}

pub static MOVIELENS: DatasetKind = DatasetKind {
    kind: "movielens",
    about: "MovieLens 100K (u.data), 1M/10M (ratings.dat), latest (ratings.csv)",
    version: 2,
    parse: canon::<MovieLensParams>,
    load: |v, dir| {
        let p: MovieLensParams = params::parse(v)?;
        load_movielens(&p.root(dir)?, p.variant)
    },
    fingerprint: |v, dir| {
        let p: MovieLensParams = params::parse(v)?;
        let root = p.root(dir)?;
        let (variant, ratings) = detect(&root, p.variant)?;
        let mut files = vec![ratings];
        for side in side_files(&root, variant) {
            if side.exists() {
                files.push(side);
            }
        }
        file_fingerprint(&files)
    },
};

fn detect(root: &Path, v: MlVariant) -> Result<(MlVariant, PathBuf)> {
    if root.is_file() {
        let name = root.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        let v = match (v, name.as_str()) {
            (MlVariant::Auto, "u.data") => MlVariant::K100,
            (MlVariant::Auto, "ratings.dat") => MlVariant::M1,
            (MlVariant::Auto, "ratings.csv") => MlVariant::Latest,
            (MlVariant::Auto, _) => bail!("cannot tell the MovieLens variant of `{}`; set variant", root.display()),
            (v, _) => v,
        };
        return Ok((v, root.to_path_buf()));
    }
    let candidates = [(MlVariant::K100, "u.data"), (MlVariant::M1, "ratings.dat"), (MlVariant::M10, "ratings.dat"), (MlVariant::Latest, "ratings.csv")];
    for (cv, file) in candidates {
        if (v == MlVariant::Auto || v == cv) && root.join(file).exists() {
            return Ok((if v == MlVariant::Auto { cv } else { v }, root.join(file)));
        }
    }
    bail!("`{}` holds no MovieLens ratings file (u.data, ratings.dat or ratings.csv)", root.display())
}

fn side_files(root: &Path, v: MlVariant) -> Vec<PathBuf> {
    let dir = if root.is_file() { root.parent().unwrap_or(Path::new(".")).to_path_buf() } else { root.to_path_buf() };
    match v {
        MlVariant::K100 => vec![dir.join("u.item"), dir.join("u.user")],
        MlVariant::M1 | MlVariant::M10 => vec![dir.join("movies.dat"), dir.join("users.dat")],
        MlVariant::Latest | MlVariant::Auto => vec![dir.join("movies.csv")],
    }
}

/// Reads a text file that may be Latin-1 (MovieLens 100K's `u.item` is).
fn read_text(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read `{}`", path.display()))?;
    Ok(match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => e.into_bytes().iter().map(|&b| b as char).collect(),
    })
}

fn field<'a>(path: &Path, line: usize, cols: &[&'a str], i: usize) -> Result<&'a str> {
    cols.get(i).copied().ok_or_else(|| anyhow!("{}:{line}: expected at least {} fields, got {}", path.display(), i + 1, cols.len()))
}

fn number<T: std::str::FromStr>(path: &Path, line: usize, what: &str, s: &str) -> Result<T> {
    s.trim().parse().map_err(|_| anyhow!("{}:{line}: {what} `{}` is not a number", path.display(), printable(s)))
}

/// A rating: any finite number (negative ratings are kept: some datasets encode dislikes so).
fn rating_value(path: &Path, line: usize, s: &str) -> Result<f32> {
    let r: f64 = number(path, line, "rating", s)?;
    if !r.is_finite() || r.abs() > f32::MAX as f64 {
        bail!("{}:{line}: rating `{}` is not a finite number", path.display(), s.trim());
    }
    Ok(r as f32)
}

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

/// Parses `user sep item sep rating sep ts` lines (MovieLens 100K, 1M, 10M).
fn parse_ratings(path: &Path, sep: &str, header: bool, ds: &mut Dataset) -> Result<()> {
    let text = read_text(path)?;
    for (n, raw) in text.lines().enumerate().skip(header as usize) {
        let line = n + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = if sep == "\t" { raw.split(|c| c == '\t' || c == ' ').filter(|s| !s.is_empty()).collect() } else { raw.split(sep).collect() };
        if cols.len() != 4 {
            bail!("{}:{line}: expected 4 fields (user, item, rating, timestamp), got {}", path.display(), cols.len());
        }
        let user: u64 = number(path, line, "user id", cols[0])?;
        let item: u64 = number(path, line, "item id", cols[1])?;
        let rating = rating_value(path, line, cols[2])?;
        let ts = timestamp(path, line, cols[3])?;
        let u = ds.users.intern(&user.to_string());
        let i = ds.items.intern(&item.to_string());
        ds.interactions.push(Interaction { user: u, item: i, rating, ts });
    }
    if ds.interactions.is_empty() {
        bail!("{}: no ratings (the file is empty)", path.display());
    }
    Ok(())
}

pub fn load_movielens(root: &Path, variant: MlVariant) -> Result<Dataset> {
    let (variant, ratings) = detect(root, variant)?;
    let mut ds = Dataset { name: format!("movielens-{variant:?}").to_lowercase(), ..Default::default() };
    match variant {
        MlVariant::K100 => parse_ratings(&ratings, "\t", false, &mut ds)?,
        MlVariant::M1 | MlVariant::M10 => parse_ratings(&ratings, "::", false, &mut ds)?,
        MlVariant::Latest | MlVariant::Auto => parse_ratings(&ratings, ",", true, &mut ds)?,
    }
    let side = side_files(root, variant);
    match variant {
        MlVariant::K100 => {
            if side[0].exists() {
                ml100k_items(&side[0], &mut ds)?;
            }
            if side[1].exists() {
                ml100k_users(&side[1], &mut ds)?;
            }
        }
        MlVariant::M1 | MlVariant::M10 => {
            if side[0].exists() {
                ml_movies_dat(&side[0], &mut ds)?;
            }
        }
        _ => {}
    }
    Ok(ds)
}

/// The 19 genres of `u.item`'s flags, in order (as `u.genre` lists them).
const ML100K_GENRES: [&str; 19] = [
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
];

/// `u.item`: `id|title|release date|video date|url|19 genre flags`. Gives titles (also as
/// the text column `title`), the `genres` multi-hot field (labelled, so text encoders read
/// it as words) and the numeric `year`.
fn ml100k_items(path: &Path, ds: &mut Dataset) -> Result<()> {
    let text = read_text(path)?;
    let n = ds.n_items();
    let mut titles = vec![String::new(); n];
    let mut genres = vec![Vec::new(); n];
    let mut years = vec![f32::NAN; n];
    for (k, raw) in text.lines().enumerate() {
        let line = k + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = raw.split('|').collect();
        if cols.len() < 5 {
            bail!("{}:{line}: expected 24 `|`-separated fields, got {}", path.display(), cols.len());
        }
        let Some(i) = ds.items.get(cols[0].trim()) else { continue };
        titles[i as usize] = field(path, line, &cols, 1)?.to_string();
        let date = cols[2];
        years[i as usize] = date.rsplit('-').next().and_then(|y| y.parse().ok()).unwrap_or(f32::NAN);
        genres[i as usize] = cols[5.min(cols.len())..].iter().enumerate().filter(|(_, f)| f.trim() == "1").map(|(g, _)| g as u32).collect();
    }
    fill_nan_with_mean(&mut years);
    for (i, t) in titles.iter_mut().enumerate() {
        if t.is_empty() {
            *t = ds.items.raw(i as u32).to_string();
        }
    }
    ds.item_features.columns.push(FeatureColumn::Text { name: "title".into(), values: titles.clone() });
    ds.item_titles = Some(titles);
    let labels = ML100K_GENRES.iter().map(|g| g.to_string()).collect();
    ds.item_features.columns.push(FeatureColumn::MultiHot { name: "genres".into(), cardinality: 19, values: genres, labels });
    ds.item_features.columns.push(FeatureColumn::Numeric { name: "year".into(), values: years });
    Ok(())
}

/// `u.user`: `id|age|gender|occupation|zip`.
fn ml100k_users(path: &Path, ds: &mut Dataset) -> Result<()> {
    let text = read_text(path)?;
    let n = ds.n_users();
    let mut age = vec![f32::NAN; n];
    let (mut gender, mut occupation, mut zip) = (vec![0u32; n], vec![0u32; n], vec![0u32; n]);
    let (mut gmap, mut omap, mut zmap) = (IdMap::default(), IdMap::default(), IdMap::default());
    for (k, raw) in text.lines().enumerate() {
        let line = k + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = raw.split('|').collect();
        if cols.len() != 5 {
            bail!("{}:{line}: expected 5 `|`-separated fields (id|age|gender|occupation|zip), got {}", path.display(), cols.len());
        }
        let Some(u) = ds.users.get(cols[0].trim()) else { continue };
        let u = u as usize;
        age[u] = number(path, line, "age", cols[1])?;
        gender[u] = gmap.intern(cols[2]);
        occupation[u] = omap.intern(cols[3]);
        zip[u] = zmap.intern(&cols[4].chars().take(1).collect::<String>());
    }
    fill_nan_with_mean(&mut age);
    let cat = |name: &str, m: &IdMap, v: Vec<u32>| FeatureColumn::Categorical { name: name.into(), cardinality: m.len().max(1) as u32, values: v };
    ds.user_features = FeatureTable {
        columns: vec![
            FeatureColumn::Numeric { name: "age".into(), values: age },
            cat("gender", &gmap, gender),
            cat("occupation", &omap, occupation),
            cat("zip_prefix", &zmap, zip),
        ],
    };
    Ok(())
}

/// `movies.dat`: `id::title::Genre|Genre`.
fn ml_movies_dat(path: &Path, ds: &mut Dataset) -> Result<()> {
    let text = read_text(path)?;
    let n = ds.n_items();
    let mut titles: Vec<String> = (0..n).map(|i| ds.items.raw(i as u32).to_string()).collect();
    let mut genres = vec![Vec::new(); n];
    let mut gmap = IdMap::default();
    for (k, raw) in text.lines().enumerate() {
        if raw.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = raw.split("::").collect();
        if cols.len() != 3 {
            bail!("{}:{}: expected 3 `::`-separated fields (id::title::genres), got {}", path.display(), k + 1, cols.len());
        }
        let Some(i) = ds.items.get(cols[0].trim()) else { continue };
        titles[i as usize] = cols[1].to_string();
        genres[i as usize] = cols[2].split('|').map(|g| gmap.intern(g)).collect();
    }
    ds.item_features.columns.push(FeatureColumn::Text { name: "title".into(), values: titles.clone() });
    ds.item_titles = Some(titles);
    let (cardinality, labels) = (gmap.len() as u32, gmap.raws().to_vec());
    ds.item_features.columns.push(FeatureColumn::MultiHot { name: "genres".into(), cardinality, values: genres, labels });
    Ok(())
}

fn fill_nan_with_mean(v: &mut [f32]) {
    let finite: Vec<f32> = v.iter().copied().filter(|x| x.is_finite()).collect();
    let mean = if finite.is_empty() { 0.0 } else { finite.iter().sum::<f32>() / finite.len() as f32 };
    v.iter_mut().filter(|x| !x.is_finite()).for_each(|x| *x = mean);
}

// ---------------------------------------------------------------------------------------------
// Generic tables through polars

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

pub static TABLE: DatasetKind = DatasetKind {
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
    fn ml100k_fixture_loads_with_titles_and_features() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "u.data", "1\t10\t5\t100\n1\t20\t3\t200\n2\t10\t4\t150\n");
        write(d.path(), "u.item", "10|Toy Story (1995)|01-Jan-1995||http://x|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n20|GoldenEye (1995)|01-Jan-1995||http://x|0|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0|1|0|0\n");
        write(d.path(), "u.user", "1|24|M|technician|85711\n2|53|F|other|94043\n");
        let ds = load_movielens(d.path(), MlVariant::Auto).unwrap();
        assert_eq!(ds.n_users(), 2);
        assert_eq!(ds.n_items(), 2);
        assert_eq!(ds.interactions.len(), 3);
        assert_eq!(ds.item_titles.as_ref().unwrap()[0], "Toy Story (1995)");
        match ds.item_features.get("genres").unwrap() {
            FeatureColumn::MultiHot { values, .. } => assert_eq!(values[0], vec![3, 4, 5]),
            _ => panic!("genres must be multi-hot"),
        }
        match ds.user_features.get("age").unwrap() {
            FeatureColumn::Numeric { values, .. } => assert_eq!(values, &vec![24.0, 53.0]),
            _ => panic!("age must be numeric"),
        }
    }

    #[test]
    fn malformed_rows_name_file_and_line() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "u.data", "1\t10\t5\t100\n1\t20\t3\n");
        let e = load_movielens(d.path(), MlVariant::Auto).unwrap_err().to_string();
        assert!(e.contains("u.data:2") && e.contains("expected 4 fields"), "{e}");
        write(d.path(), "u.data", "1\t10\t5\t100\nx\t20\t3\t5\n");
        let e = load_movielens(d.path(), MlVariant::Auto).unwrap_err().to_string();
        assert!(e.contains("u.data:2") && e.contains("user id `x`"), "{e}");
        write(d.path(), "u.data", "");
        let e = load_movielens(d.path(), MlVariant::Auto).unwrap_err().to_string();
        assert!(e.contains("empty"), "{e}");
    }

    #[test]
    fn ml1m_and_latest_formats() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "ratings.dat", "1::1193::5::978300760\n2::661::3::978302109\n");
        write(d.path(), "movies.dat", "1193::One Flew (1975)::Drama\n661::James (1996)::Animation|Children's\n");
        let ds = load_movielens(d.path(), MlVariant::Auto).unwrap();
        assert_eq!(ds.interactions.len(), 2);
        assert_eq!(ds.item_titles.as_ref().unwrap()[1], "James (1996)");
        let d2 = tempfile::tempdir().unwrap();
        write(d2.path(), "ratings.csv", "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,4.5,964981247\n");
        let ds = load_movielens(d2.path(), MlVariant::Auto).unwrap();
        assert_eq!(ds.interactions.len(), 2);
        assert_eq!(ds.interactions[1].rating, 4.5);
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

impl std::fmt::Debug for DatasetKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DatasetKind({})", self.kind)
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
