//! `kind = "amazon"`: one category of the Amazon Reviews 2023 release (McAuley lab, UCSD):
//! `<Category>.jsonl[.gz]`, one review per line, and, when present beside it,
//! `meta_<Category>.jsonl[.gz]`, one item per line. Downloaded first when `fetch` is on
//! (`runner data fetch amazon-<Category>`, see [`super::fetch_amazon`]).
//!
//! | file | fields read | becomes |
//! |---|---|---|
//! | reviews | `user_id`, `parent_asin`, `rating`, `timestamp` (ms) | interactions (time in seconds) |
//! | meta | `title` | item text `title`, and titles for `similar` (the asin without meta) |
//! | meta | `categories`, `description`, `features` (lists) | item text of the same names, joined |
//! | meta | `price`, `average_rating` | item numbers (missing: the mean of the present) |
//! | meta | `store`, `main_category` | item categories (missing: a category of its own) |
//!
//! Items are the reviews' `parent_asin`s (the product, not the colour or size variant a
//! review's `asin` names), as the release's own benchmarks count them. The reviews' `title`
//! and `text` are not read: they are one user's words about one interaction, and as item text
//! they would carry held-out users' reviews into training.
//!
//! Files are streamed line by line (the larger categories are tens of gigabytes of JSON);
//! `.gz` files are decompressed on the fly. Every bad line is an error naming its file and
//! line; nothing is skipped silently.

use super::fields::{printable, timestamp};
use super::movielens_side::fill_nan_with_mean;
use super::{canon, file_fingerprint, resolve, Dataset, DatasetKind, FeatureColumn, IdMap, Interaction};
use crate::params::{self, ParamError, Validate};
use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::borrow::Cow;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// `kind = "amazon"`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AmazonParams {
    /// The category, as the release names its files: `All_Beauty` reads `All_Beauty.jsonl`
    /// (or `.jsonl.gz`) and `meta_All_Beauty.jsonl` (or `.jsonl.gz`).
    pub category: String,
    /// Folder holding the category's files, relative to the data folder; `amazon-<category>`
    /// (where `runner data fetch` puts it) when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// Download the category into `path` when the folder is missing. Left out of the
    /// canonical params when off.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fetch: bool,
}

impl Validate for AmazonParams {
    fn validate(&self) -> Result<(), ParamError> {
        let c = &self.category;
        crate::ensure_param!(!c.trim().is_empty(), "category", "is required (e.g. \"All_Beauty\"; `runner data list` shows them)");
        crate::ensure_param!(
            !c.contains(['/', '\\']) && c != "." && c != "..",
            "category",
            "`{}` is a file name's stem (e.g. \"All_Beauty\"), not a path; put the folder in `path`",
            printable(c)
        );
        if self.fetch {
            super::fetch_amazon::lookup_category(c).map_err(|e| ParamError::new("category", format!("with fetch = true, {e}")))?;
        }
        Ok(())
    }
}

impl AmazonParams {
    fn folder(&self) -> PathBuf {
        self.path.clone().unwrap_or_else(|| PathBuf::from(super::fetch_amazon::fetch_name(&self.category)))
    }

    /// The category's folder, downloaded first when it is missing and `fetch` is on.
    fn root(&self, data_dir: &Path) -> Result<PathBuf> {
        let folder = self.folder();
        let name = super::fetch_amazon::fetch_name(&self.category);
        if self.fetch {
            let dest = if folder.is_absolute() { folder.clone() } else { data_dir.join(&folder) };
            super::fetch::ensure(&name, &dest)?;
        }
        resolve(data_dir, &folder).map_err(|e| match super::fetch_amazon::lookup_category(&self.category) {
            Ok(_) => anyhow!("{e}; or download it: `runner data fetch {name} --data-dir {}`, or set fetch = true in [dataset]", data_dir.display()),
            Err(_) => e,
        })
    }
}

pub static KIND: DatasetKind = DatasetKind {
    kind: "amazon",
    about: "Amazon Reviews 2023, one category (<Category>.jsonl[.gz]: user_id, parent_asin, rating, timestamp; meta_<Category>.jsonl[.gz]: items' title, categories, description, features as text, price, average_rating, store, main_category)",
    version: 2,
    parse: canon::<AmazonParams>,
    load: |v, dir| {
        let p: AmazonParams = params::parse(v)?;
        load_amazon(&p.root(dir)?, &p.category)
    },
    fingerprint: |v, dir| {
        let p: AmazonParams = params::parse(v)?;
        let files = Files::find(&p.root(dir)?, &p.category)?;
        file_fingerprint(&std::iter::once(files.reviews).chain(files.meta).collect::<Vec<_>>())
    },
};

/// The files of one category in a folder.
struct Files {
    reviews: PathBuf,
    meta: Option<PathBuf>,
}

impl Files {
    /// The category's reviews file (required) and meta file (optional); the plain `.jsonl` is
    /// read when both it and a `.jsonl.gz` are there.
    fn find(root: &Path, category: &str) -> Result<Files> {
        let pick = |stem: &str| [format!("{stem}.jsonl"), format!("{stem}.jsonl.gz")].into_iter().map(|n| root.join(n)).find(|p| p.is_file());
        let Some(reviews) = pick(category) else {
            let present = categories_in(root);
            let hint = match crate::params::nearest(category, present.iter().map(String::as_str)) {
                Some(n) => format!(" (did you mean `{n}`?)"),
                None if !present.is_empty() => format!("; it holds the categories {}", present.join(", ")),
                None => String::new(),
            };
            let c = printable(category);
            bail!("`{}` holds no reviews file for category `{c}`: expected `{c}.jsonl` or `{c}.jsonl.gz`{hint}", root.display());
        };
        Ok(Files { reviews, meta: pick(&format!("meta_{category}")) })
    }
}

/// The categories whose reviews files are in `root` (sorted).
fn categories_in(root: &Path) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(root) else { return Vec::new() };
    let mut out: Vec<String> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter_map(|n| n.strip_suffix(".jsonl.gz").or_else(|| n.strip_suffix(".jsonl")).map(str::to_string))
        .filter(|n| !n.starts_with("meta_"))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Longest line read (bytes): far above any real review or item, and a bound on what a
/// damaged or hostile file (a gigabyte without a newline) can make the loader hold.
const MAX_LINE: u64 = 64 << 20;

/// Characters kept of each item text value: descriptions run to thousands of words, and
/// the text encoders would hash every one of them for millions of items.
pub const MAX_TEXT_CHARS: usize = 2000;

/// Calls `f` with each non-empty line of a `.jsonl` or `.jsonl.gz` file and its number
/// (from 1).
fn each_line(path: &Path, mut f: impl FnMut(usize, &str) -> Result<()>) -> Result<()> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot open `{}`", path.display()))?;
    let gz = path.extension().is_some_and(|e| e == "gz");
    let inner: Box<dyn Read> = if gz { Box::new(flate2::read::MultiGzDecoder::new(file)) } else { Box::new(file) };
    let mut reader = BufReader::with_capacity(1 << 20, inner);
    let mut buf = Vec::new();
    let mut line = 0usize;
    loop {
        buf.clear();
        line += 1;
        let n = (&mut reader).take(MAX_LINE + 1).read_until(b'\n', &mut buf).map_err(|e| {
            let what = if gz { "is not a readable gzip file" } else { "cannot be read" };
            anyhow!("{}:{line}: the file {what} ({e})", path.display())
        })?;
        if n == 0 {
            return Ok(());
        }
        if n as u64 > MAX_LINE {
            bail!("{}:{line}: the line is over {} MiB long (a damaged file, or not JSON lines)", path.display(), MAX_LINE >> 20);
        }
        let text = std::str::from_utf8(&buf).map_err(|e| anyhow!("{}:{line}: not UTF-8 text (byte {})", path.display(), e.valid_up_to() + 1))?;
        let text = text.trim();
        if !text.is_empty() {
            f(line, text)?;
        }
    }
}

/// A serde_json error about one line, without its "at line 1 column N" (the line is ours).
fn json_error(path: &Path, line: usize, e: &serde_json::Error) -> anyhow::Error {
    let msg = e.to_string();
    let msg = msg.rfind(" at line ").map_or(msg.as_str(), |i| &msg[..i]);
    anyhow!("{}:{line}: {} (column {})", path.display(), printable(msg), e.column())
}

/// The fields of a review line that are read; the others are skipped unparsed.
#[derive(Deserialize)]
struct Review<'a> {
    #[serde(borrow)]
    user_id: Cow<'a, str>,
    #[serde(borrow)]
    parent_asin: Cow<'a, str>,
    rating: Value,
    timestamp: Value,
}

/// A number field of a line: a JSON number, or a string holding one.
fn number_text(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

fn review(path: &Path, line: usize, text: &str, ds: &mut Dataset) -> Result<()> {
    let r: Review = serde_json::from_str(text).map_err(|e| json_error(path, line, &e))?;
    for (name, v) in [("user_id", &r.user_id), ("parent_asin", &r.parent_asin)] {
        if v.trim().is_empty() {
            bail!("{}:{line}: {name} is empty", path.display());
        }
    }
    let rating = number_text(&r.rating)
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|x| x.is_finite() && x.abs() <= f32::MAX as f64)
        .ok_or_else(|| anyhow!("{}:{line}: rating `{}` is not a finite number", path.display(), printable(&r.rating.to_string())))?;
    let ms = match number_text(&r.timestamp) {
        Some(s) => timestamp(path, line, &s)?,
        None => bail!("{}:{line}: timestamp `{}` is not a number (milliseconds since 1970)", path.display(), printable(&r.timestamp.to_string())),
    };
    let user = ds.users.intern(r.user_id.trim());
    let item = ds.items.intern(r.parent_asin.trim());
    ds.interactions.push(Interaction { user, item, rating: rating as f32, ts: ms.div_euclid(1000) });
    Ok(())
}

/// Loads one category from `root`: the reviews, and the items' features from the meta file
/// when it is there.
pub fn load_amazon(root: &Path, category: &str) -> Result<Dataset> {
    let files = Files::find(root, category)?;
    let reviews = &files.reviews;
    let mut ds = Dataset { name: format!("amazon-{category}"), ..Default::default() };
    each_line(reviews, |line, text| review(reviews, line, text, &mut ds))?;
    if ds.interactions.is_empty() {
        bail!("{}: no reviews (the file is empty)", reviews.display());
    }
    if let Some(meta) = &files.meta {
        let mut items = ItemMeta::new(ds.n_items());
        each_line(meta, |line, text| items.read(meta, line, text, &ds.items))?;
        items.into_features(&mut ds);
    }
    Ok(ds)
}

/// The fields of a meta line that are read; each is checked by hand (the release writes a
/// missing price as `null`, some copies as `"None"` or `"$12.99"`).
#[derive(Deserialize)]
struct MetaLine {
    parent_asin: Value,
    #[serde(default)]
    title: Value,
    #[serde(default)]
    main_category: Value,
    #[serde(default)]
    store: Value,
    #[serde(default)]
    categories: Value,
    #[serde(default)]
    description: Value,
    #[serde(default)]
    features: Value,
    #[serde(default)]
    price: Value,
    #[serde(default)]
    average_rating: Value,
}

/// Item features gathered from the meta file, one row per dense item id.
struct ItemMeta {
    titles: Vec<Option<String>>,
    /// `categories`, `description`, `features`, in [`TEXT_LISTS`] order.
    lists: [Vec<String>; 3],
    price: Vec<f32>,
    average_rating: Vec<f32>,
    store: (IdMap, Vec<u32>),
    main_category: (IdMap, Vec<u32>),
}

const TEXT_LISTS: [&str; 3] = ["categories", "description", "features"];

/// A categorical column whose value 0 is "not given".
fn categorical(n: usize) -> (IdMap, Vec<u32>) {
    let mut m = IdMap::default();
    m.intern("");
    (m, vec![0; n])
}

impl ItemMeta {
    fn new(n: usize) -> Self {
        ItemMeta {
            titles: vec![None; n],
            lists: [vec![String::new(); n], vec![String::new(); n], vec![String::new(); n]],
            price: vec![f32::NAN; n],
            average_rating: vec![f32::NAN; n],
            store: categorical(n),
            main_category: categorical(n),
        }
    }

    fn read(&mut self, path: &Path, line: usize, text: &str, items: &IdMap) -> Result<()> {
        let m: MetaLine = serde_json::from_str(text).map_err(|e| json_error(path, line, &e))?;
        let Value::String(asin) = &m.parent_asin else {
            bail!("{}:{line}: parent_asin is missing or not a string (`{}`)", path.display(), printable(&m.parent_asin.to_string()));
        };
        // Items nobody reviewed are not in the dataset.
        let Some(i) = items.get(asin.trim()) else { return Ok(()) };
        let i = i as usize;
        let err = |field: &str, what: &str, v: &Value| anyhow!("{}:{line}: {field} `{}` is not {what}", path.display(), printable(&v.to_string()));
        let text = |field: &str, v: &Value| text_value(v).ok_or_else(|| err(field, "text or a list of texts", v));
        let title = text("title", &m.title)?;
        self.titles[i] = (!title.is_empty()).then_some(title);
        for (k, (field, v)) in TEXT_LISTS.iter().zip([&m.categories, &m.description, &m.features]).enumerate() {
            self.lists[k][i] = text(field, v)?;
        }
        self.price[i] = price_value(&m.price).ok_or_else(|| err("price", "a price", &m.price))?;
        self.average_rating[i] = price_value(&m.average_rating).ok_or_else(|| err("average_rating", "a number", &m.average_rating))?;
        for (field, v, (map, values)) in [("store", &m.store, &mut self.store), ("main_category", &m.main_category, &mut self.main_category)] {
            values[i] = map.intern(text(field, v)?.trim());
        }
        Ok(())
    }

    fn into_features(mut self, ds: &mut Dataset) {
        let asin = |i: usize| ds.items.raw(i as u32).to_string();
        ds.item_titles = Some(self.titles.iter().enumerate().map(|(i, t)| t.clone().unwrap_or_else(|| asin(i))).collect());
        let cols = &mut ds.item_features.columns;
        cols.push(FeatureColumn::Text { name: "title".into(), values: self.titles.into_iter().map(Option::unwrap_or_default).collect() });
        for (name, values) in TEXT_LISTS.iter().zip(self.lists) {
            cols.push(FeatureColumn::Text { name: name.to_string(), values });
        }
        fill_nan_with_mean(&mut self.price);
        fill_nan_with_mean(&mut self.average_rating);
        cols.push(FeatureColumn::Numeric { name: "price".into(), values: self.price });
        cols.push(FeatureColumn::Numeric { name: "average_rating".into(), values: self.average_rating });
        for (name, (map, values)) in [("store", self.store), ("main_category", self.main_category)] {
            cols.push(FeatureColumn::Categorical { name: name.into(), cardinality: map.len() as u32, values, labels: map.raws().to_vec() });
        }
    }
}

/// A text field: a string, a list of strings joined by `". "` (numbers in it written out),
/// or nothing (`null`, absent) as the empty text; cut to [`MAX_TEXT_CHARS`]. `None` for
/// anything else.
fn text_value(v: &Value) -> Option<String> {
    let s = match v {
        Value::Null => String::new(),
        Value::String(s) => s.trim().to_string(),
        Value::Array(xs) => {
            let parts: Vec<String> = xs
                .iter()
                .filter_map(|x| match x {
                    Value::String(s) => Some(s.trim().to_string()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .filter(|s| !s.is_empty())
                .collect();
            parts.join(". ")
        }
        _ => return None,
    };
    Some(match s.char_indices().nth(MAX_TEXT_CHARS) {
        Some((cut, _)) => s[..cut].to_string(),
        None => s,
    })
}

/// A price or rating: a number, or a string such as `"$1,299.99"`; NaN (missing) for `null`
/// and for strings that hold no single price (`"None"`, `"from $5"`, a range); `None` for
/// other JSON types. Negative and infinite values are missing too.
fn price_value(v: &Value) -> Option<f32> {
    let x = match v {
        Value::Null => f64::NAN,
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        Value::String(s) => s.trim().trim_start_matches('$').replace(',', "").trim().parse::<f64>().unwrap_or(f64::NAN),
        _ => return None,
    };
    Some(if x.is_finite() && x >= 0.0 && x <= f32::MAX as f64 { x as f32 } else { f32::NAN })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prices_in_each_written_form() {
        assert_eq!(price_value(&json!(12.5)), Some(12.5));
        assert_eq!(price_value(&json!("$1,299.99")), Some(1299.99));
        assert!(price_value(&json!(null)).unwrap().is_nan());
        assert!(price_value(&json!("None")).unwrap().is_nan());
        assert!(price_value(&json!("$5 - $9")).unwrap().is_nan());
        assert!(price_value(&json!(-3)).unwrap().is_nan());
        assert_eq!(price_value(&json!({"a": 1})), None);
    }

    #[test]
    fn text_fields_join_lists_and_are_cut() {
        assert_eq!(text_value(&json!(["Beauty", " Skin ", "", 3])).as_deref(), Some("Beauty. Skin. 3"));
        assert_eq!(text_value(&json!(null)).as_deref(), Some(""));
        assert_eq!(text_value(&json!(true)), None);
        let long = "é".repeat(MAX_TEXT_CHARS + 10);
        assert_eq!(text_value(&json!(long)).unwrap().chars().count(), MAX_TEXT_CHARS);
    }

    #[test]
    fn json_errors_drop_serdes_line_number() {
        let e = serde_json::from_str::<Value>("{\"a\": }").unwrap_err();
        let msg = json_error(Path::new("x.jsonl"), 7, &e).to_string();
        assert!(msg.starts_with("x.jsonl:7: ") && !msg.contains("line 1") && msg.contains("column 7"), "{msg}");
    }
}
