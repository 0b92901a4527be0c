//! `kind = "given"`: a dataset that ships its split, as papers' repositories distribute them
//! (LightGCN's `train.txt` / `test.txt` of `user item item ...` lines; SELFRec's and many
//! others' `user item [rating]` lines), so a paper's exact protocol can be rerun with
//! `[split] kind = "given"`, which uses the files' split unchanged.
//!
//! The interactions are kept in file order, training first, then validation, then test, and
//! [`GivenParts`] records where each part starts; filters are refused (they would move those
//! boundaries and change the paper's split). Ids seen only in the held-out files are
//! counted when loading and kept, so `n_items` counts them as the papers' code does
//! (LightGCN's loader sizes its tables by the largest id in either file); what the split
//! does with them is `[split] kind = "given"`'s `test_only_items` ([`super::split::GivenSplit`]).

use super::fields::{for_each_line, rating, timestamp};
use super::{canon, file_fingerprint, resolve, Dataset, DatasetKind, GivenParts, Interaction};
use crate::params::{self, ParamError, Validate};
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// How the lines of the files list interactions.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum GivenFormat {
    /// `user item [rating [timestamp]]`, one interaction per line (SELFRec, RecBole-style
    /// exports), separated by spaces, tabs or commas.
    #[default]
    Pairs,
    /// `user item item ...`, all of a user's items on one line (LightGCN, NGCF); a line may
    /// hold the user alone.
    Lists,
}

/// `kind = "given"`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct GivenParams {
    /// Training file, relative to the data folder.
    pub train: PathBuf,
    /// Validation file, when the paper ships one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid: Option<PathBuf>,
    pub test: PathBuf,
    pub format: GivenFormat,
}

impl Validate for GivenParams {
    fn validate(&self) -> Result<(), ParamError> {
        crate::ensure_param!(!self.train.as_os_str().is_empty(), "train", "is required (the paper's training file, e.g. \"gowalla/train.txt\")");
        crate::ensure_param!(!self.test.as_os_str().is_empty(), "test", "is required (the paper's test file, e.g. \"gowalla/test.txt\")");
        Ok(())
    }
}

impl GivenParams {
    fn files(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        let mut out = vec![resolve(dir, &self.train)?];
        if let Some(v) = &self.valid {
            out.push(resolve(dir, v)?);
        }
        out.push(resolve(dir, &self.test)?);
        Ok(out)
    }
}

pub static KIND: DatasetKind = DatasetKind {
    kind: "given",
    about: "a dataset that ships its split: train / (valid) / test files of `user item [rating]` lines (format = \"pairs\") or LightGCN's `user item item ...` lines (format = \"lists\"); use with [split] kind = \"given\"",
    version: 1,
    parse: canon::<GivenParams>,
    load: |v, dir| {
        let p: GivenParams = params::parse(v)?;
        load(&p, dir)
    },
    fingerprint: |v, dir| {
        let p: GivenParams = params::parse(v)?;
        file_fingerprint(&p.files(dir)?)
    },
};

/// Reads the files in order (train, valid, test). Ratings default to 1 and times to the line's
/// position across the files, so each user's items keep the files' order.
pub fn load(p: &GivenParams, dir: &Path) -> Result<Dataset> {
    let files = p.files(dir)?;
    let name = p.train.parent().and_then(|d| d.file_name()).map(|n| n.to_string_lossy().to_string()).unwrap_or_else(|| "given".into());
    let mut ds = Dataset { name, ..Default::default() };
    let mut starts = Vec::new();
    for path in &files {
        starts.push(ds.interactions.len());
        read_file(path, p.format, &mut ds)?;
    }
    if starts.len() == 2 {
        starts.insert(1, starts[1]);
    }
    let parts = GivenParts { valid_from: starts[1], test_from: starts[2] };
    if parts.valid_from == 0 {
        bail!("{}: no training interactions (the file is empty)", files[0].display());
    }
    if parts.test_from == ds.interactions.len() {
        bail!("{}: no test interactions (the file is empty)", files[files.len() - 1].display());
    }
    ds.given = Some(parts);
    Ok(ds)
}

fn read_file(path: &Path, format: GivenFormat, ds: &mut Dataset) -> Result<()> {
    let seps = |c: char| c == ' ' || c == '\t' || c == ',';
    for_each_line(path, |line, raw| {
        let mut f = raw.split(seps).filter(|s| !s.is_empty());
        let Some(user) = f.next() else { return Ok(()) };
        let u = ds.users.intern(user);
        let mut push = |item: &str, rating: f32, ts: Option<i64>| {
            let i = ds.items.intern(item);
            let ts = ts.unwrap_or(ds.interactions.len() as i64);
            ds.interactions.push(Interaction { user: u, item: i, rating, ts });
        };
        match format {
            GivenFormat::Lists => f.for_each(|item| push(item, 1.0, None)),
            GivenFormat::Pairs => {
                let rest: Vec<&str> = f.collect();
                if rest.is_empty() || rest.len() > 3 {
                    bail!(
                        "{}:{line}: expected `user item [rating [timestamp]]`, got {} field(s){}",
                        path.display(),
                        rest.len() + 1,
                        if rest.len() > 3 { "; for LightGCN's `user item item ...` lines set format = \"lists\"" } else { "" }
                    );
                }
                let rating = rest.get(1).map(|r| rating(path, line, r)).transpose()?.unwrap_or(1.0);
                let ts = rest.get(2).map(|t| timestamp(path, line, t)).transpose()?;
                push(rest[0], rating, ts);
            }
        }
        Ok(())
    })
}

/// How many held-out users and items no training line has: what a paper's split leaves the
/// runner to decide, reported by the data stage (in its manifest, and by [`note`]).
pub fn unseen(ds: &Dataset) -> Option<serde_json::Value> {
    let g = ds.given?;
    let train = &ds.interactions[..g.valid_from];
    let users: HashSet<u32> = train.iter().map(|it| it.user).collect();
    let items: HashSet<u32> = train.iter().map(|it| it.item).collect();
    let held = &ds.interactions[g.valid_from..];
    let new_users: HashSet<u32> = held.iter().map(|it| it.user).filter(|u| !users.contains(u)).collect();
    let new_items: HashSet<u32> = held.iter().map(|it| it.item).filter(|i| !items.contains(i)).collect();
    Some(serde_json::json!({
        "train": g.valid_from,
        "valid": g.test_from - g.valid_from,
        "test": ds.interactions.len() - g.test_from,
        "held_out_users_without_training": new_users.len(),
        "held_out_items_without_training": new_items.len(),
        "held_out_rows_on_those_items": held.iter().filter(|it| new_items.contains(&it.item)).count(),
    }))
}

/// The line the data stage prints about [`unseen`]'s counts, when there are any.
pub fn note(u: &serde_json::Value) -> Option<String> {
    let (users, items, rows) = (&u["held_out_users_without_training"], &u["held_out_items_without_training"], &u["held_out_rows_on_those_items"]);
    (users != 0 || items != 0).then(|| {
        format!(
            "note: the held-out files name {items} item(s) that no training line has ({rows} row(s); [split] test_only_items decides: \"keep\", the default, as LightGCN's code does, or \"drop\", as SELFRec's does) and {users} user(s) without a training line (their rows are dropped: no query can be formed)"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::split::{given_split as split, GivenSplit, TestOnlyItems};

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    #[test]
    fn lightgcn_lists_keep_their_parts_and_count_unseen_ids() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "train.txt", "0 1 2 3\n1 2 4\n2\n");
        write(d.path(), "test.txt", "0 4 9\n1 3\n3 1\n");
        let p = GivenParams { train: "train.txt".into(), test: "test.txt".into(), format: GivenFormat::Lists, valid: None };
        let ds = load(&p, d.path()).unwrap();
        assert_eq!(ds.given, Some(GivenParts { valid_from: 5, test_from: 5 }));
        assert_eq!(ds.interactions.len(), 9);
        let u = unseen(&ds).unwrap();
        assert_eq!((u["held_out_users_without_training"].as_u64(), u["held_out_items_without_training"].as_u64()), (Some(1), Some(1)), "{u}");
        assert!(note(&u).is_some_and(|n| n.contains("1 item(s)") && n.contains("1 user(s)")));
        let s = split(&ds, &GivenSplit::default()).unwrap();
        assert_eq!(s.train.len(), 5);
        // User 3 has no training line: dropped; item 9 is kept (LightGCN's way), so user 0 tests on 4 and 9.
        let raw = |list: &[Interaction]| list.iter().map(|it| (ds.users.raw(it.user).to_string(), ds.items.raw(it.item).to_string())).collect::<Vec<_>>();
        let pairs = |v: &[(&str, &str)]| v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<Vec<_>>();
        assert_eq!(raw(&s.test), pairs(&[("0", "4"), ("0", "9"), ("1", "3")]));
        let s = split(&ds, &GivenSplit { test_only_items: TestOnlyItems::Drop }).unwrap();
        assert_eq!(raw(&s.test), pairs(&[("0", "4"), ("1", "3")]));
    }

    #[test]
    fn pairs_read_ratings_and_times_and_bad_lines_name_file_and_line() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "train.txt", "a x 1\na y 4.5 100\nb x 1\n");
        write(d.path(), "valid.txt", "b y 1\n");
        write(d.path(), "test.txt", "a z\n");
        let p = GivenParams { train: "train.txt".into(), valid: Some("valid.txt".into()), test: "test.txt".into(), format: GivenFormat::Pairs };
        let ds = load(&p, d.path()).unwrap();
        assert_eq!(ds.given, Some(GivenParts { valid_from: 3, test_from: 4 }));
        assert_eq!(ds.interactions[1].rating, 4.5);
        assert_eq!({ ds.interactions[1].ts }, 100);
        let s = split(&ds, &GivenSplit::default()).unwrap();
        assert_eq!((s.train.len(), s.valid.len(), s.test.len()), (3, 1, 1));
        write(d.path(), "test.txt", "a z\na 1 2 3 4 5\n");
        let e = load(&p, d.path()).unwrap_err().to_string();
        assert!(e.contains("test.txt:2") && e.contains("format = \"lists\""), "{e}");
        write(d.path(), "test.txt", "a z high\n");
        let e = load(&p, d.path()).unwrap_err().to_string();
        assert!(e.contains("test.txt:1: rating `high`"), "{e}");
        write(d.path(), "test.txt", "\n");
        let e = load(&p, d.path()).unwrap_err().to_string();
        assert!(e.contains("test.txt: no test interactions"), "{e}");
        let other = Dataset { name: "movielens-k100".into(), ..Default::default() };
        let e = split(&other, &GivenSplit::default()).unwrap_err().to_string();
        assert!(e.contains("ships none"), "{e}");
    }
}
