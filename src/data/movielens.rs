//! `kind = "movielens"`: the MovieLens 100K, 1M, 10M and latest files (ratings, and the
//! titles, genres, tags and user features beside them: 100K's here, the others' in
//! [`super::movielens_side`]), downloaded first when `fetch` is on.

use super::fields::{for_each_line, printable, rating, timestamp};
use super::movielens_side::{self as side, fill_nan_with_mean};
use super::{canon, file_fingerprint, resolve, Dataset, DatasetKind, FeatureColumn, FeatureTable, IdMap, Interaction};
use crate::params::{self, ParamError, Validate};
use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

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

pub static KIND: DatasetKind = DatasetKind {
    kind: "movielens",
    about: "MovieLens 100K (u.data; items: title, genres, year; users: age, gender, occupation, zip_prefix), 1M (ratings.dat; movies.dat: title, genres, year; users.dat: as 100K), 10M (movies.dat; tags.dat: item text tags), latest/20M/25M/32M (ratings.csv; movies.csv: title, genres, year; tags.csv: tags; genome-scores.csv: item vector genome)",
    version: 3,
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
        let fp = file_fingerprint(&files)?;
        // 1M, 10M and latest gained their side files' features (users, years, tags) after
        // `version` 2; 100K's reading did not change, so its entries stay valid.
        Ok(if variant == MlVariant::K100 { fp } else { serde_json::json!({"files": fp, "side_features": 3}) })
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
        // 1M ships users.dat, 10M tags.dat; each is read where present.
        MlVariant::M1 | MlVariant::M10 => vec![dir.join("movies.dat"), dir.join("users.dat"), dir.join("tags.dat")],
        // 20M, 25M and 32M add the tag genome; `genome-tags.csv` is read with the scores.
        MlVariant::Latest | MlVariant::Auto => vec![dir.join("movies.csv"), dir.join("tags.csv"), dir.join("genome-scores.csv"), dir.join("genome-tags.csv")],
    }
}

/// Reads a text file that may be Latin-1 (MovieLens 100K's `u.item` is).
pub(super) fn read_text(path: &Path) -> Result<String> {
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

/// Dense ids of numeric raw ids, remembering the last one: ratings files list a user's
/// ratings together, so most lines skip the id map (and the string it is keyed by).
struct NumericIds {
    last: Option<(u64, u32)>,
}

impl NumericIds {
    fn intern(&mut self, map: &mut IdMap, raw: u64) -> u32 {
        match self.last {
            Some((r, i)) if r == raw => i,
            _ => {
                let i = map.intern(&raw.to_string());
                self.last = Some((raw, i));
                i
            }
        }
    }
}

/// Parses `user sep item sep rating sep ts` lines (MovieLens 100K, 1M, 10M, latest).
fn parse_ratings(path: &Path, sep: &str, header: bool, ds: &mut Dataset) -> Result<()> {
    let (mut users, mut items) = (NumericIds { last: None }, NumericIds { last: None });
    for_each_line(path, |line, raw| {
        if (header && line == 1) || raw.trim().is_empty() {
            return Ok(());
        }
        // The four fields without collecting them (a line with more is counted, not stored).
        let mut cols = [""; 4];
        let mut n = 0;
        let mut put = |f| {
            if n < 4 {
                cols[n] = f;
            }
            n += 1;
        };
        if sep == "\t" {
            raw.split(|c| c == '\t' || c == ' ').filter(|s| !s.is_empty()).for_each(&mut put);
        } else {
            raw.split(sep).for_each(&mut put);
        }
        if n != 4 {
            bail!("{}:{line}: expected 4 fields (user, item, rating, timestamp), got {n}", path.display());
        }
        let user: u64 = number(path, line, "user id", cols[0])?;
        let item: u64 = number(path, line, "item id", cols[1])?;
        let rating = rating(path, line, cols[2])?;
        let ts = timestamp(path, line, cols[3])?;
        let u = users.intern(&mut ds.users, user);
        let i = items.intern(&mut ds.items, item);
        ds.interactions.push(Interaction { user: u, item: i, rating, ts });
        Ok(())
    })?;
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
            type Reader = fn(&Path, &mut Dataset) -> Result<()>;
            let readers: [Reader; 3] = [side::movies_dat, side::users_dat, side::tags_dat];
            for (path, read) in side.iter().zip(readers) {
                if path.exists() {
                    read(path, &mut ds)?;
                }
            }
        }
        MlVariant::Latest | MlVariant::Auto => {
            type Reader = fn(&Path, &mut Dataset) -> Result<()>;
            let readers: [Reader; 3] = [side::movies_csv, side::tags_csv, side::genome_csv];
            for (path, read) in side.iter().zip(readers) {
                if path.exists() {
                    read(path, &mut ds)?;
                }
            }
        }
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
    let cat = |name: &str, m: &IdMap, v: Vec<u32>| FeatureColumn::Categorical {
        name: name.into(),
        cardinality: m.len().max(1) as u32,
        values: v,
        labels: m.raws().to_vec(),
    };
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
}
