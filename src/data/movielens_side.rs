//! The side files of MovieLens 1M, 10M and the "latest" format (ml-latest, ml-20m, ml-25m,
//! ml-32m), named as on 100K where the meaning is the same:
//!
//! | variant | file | features |
//! |---|---|---|
//! | 1M, 10M | `movies.dat` | item `title` (text, and titles for `similar`), `genres` (multi-hot), `year` |
//! | 1M | `users.dat` | user `age`, `gender`, `occupation`, `zip_prefix` |
//! | 10M | `tags.dat` | item text `tags` |
//! | latest | `movies.csv` | item `title`, `genres`, `year` |
//! | latest | `tags.csv` | item text `tags` |
//! | 20M, 25M, 32M | `genome-scores.csv` (+ `genome-tags.csv`) | item vector `genome` (1,128 tag relevances) |
//!
//! `tags` holds each item's distinct tags (lower-cased, in first-use order), whoever applied
//! them and without their users or times: the towers read it as item text, so it carries no
//! user's interaction into training. Tags applied after a temporal split's cut-off are still
//! text about the item from the future; filter `tags.*` by time first where that matters.

use super::fields::{for_each_line, par_blocks, printable};
use super::{Dataset, FeatureColumn, IdMap};
use anyhow::{anyhow, bail, Context, Result};
use std::path::Path;

/// The year in a MovieLens title's last parentheses (`Toy Story (1995)` -> 1995), if any.
pub fn year_of_title(title: &str) -> Option<f32> {
    let t = title.trim_end();
    let open = t.rfind('(')?;
    let inner = t[open + 1..].strip_suffix(')')?;
    let y: u32 = inner.trim().parse().ok()?;
    (1800..=2100).contains(&y).then_some(y as f32)
}

/// Replaces missing numbers with the mean of the present ones (0 when none is present).
pub fn fill_nan_with_mean(v: &mut [f32]) {
    let finite: Vec<f32> = v.iter().copied().filter(|x| x.is_finite()).collect();
    let mean = if finite.is_empty() { 0.0 } else { finite.iter().sum::<f32>() / finite.len() as f32 };
    v.iter_mut().filter(|x| !x.is_finite()).for_each(|x| *x = mean);
}

/// Titles, genres and years of the dataset's items, from rows `(id, title, genres)`; items
/// the file does not list keep their id as the title, no genre and the mean year.
fn push_movies(ds: &mut Dataset, rows: Vec<(String, String, Vec<String>)>) {
    let n = ds.n_items();
    let mut titles: Vec<String> = (0..n).map(|i| ds.items.raw(i as u32).to_string()).collect();
    let mut genres = vec![Vec::new(); n];
    let mut years = vec![f32::NAN; n];
    let mut gmap = IdMap::default();
    for (id, title, gs) in rows {
        let Some(i) = ds.items.get(id.trim()) else { continue };
        let i = i as usize;
        years[i] = year_of_title(&title).unwrap_or(f32::NAN);
        titles[i] = title;
        // The latest format writes "(no genres listed)" for none.
        genres[i] = gs.iter().filter(|g| !g.is_empty() && !g.starts_with("(no genres")).map(|g| gmap.intern(g)).collect();
    }
    fill_nan_with_mean(&mut years);
    ds.item_features.columns.push(FeatureColumn::Text { name: "title".into(), values: titles.clone() });
    ds.item_titles = Some(titles);
    let (cardinality, labels) = (gmap.len() as u32, gmap.raws().to_vec());
    ds.item_features.columns.push(FeatureColumn::MultiHot { name: "genres".into(), cardinality, values: genres, labels });
    ds.item_features.columns.push(FeatureColumn::Numeric { name: "year".into(), values: years });
}

/// The item text `tags`, gathered row by row.
struct Tags(Vec<Vec<String>>);

impl Tags {
    fn new(n_items: usize) -> Self {
        Tags(vec![Vec::new(); n_items])
    }

    /// Adds `tag` to item `id`'s distinct tags (ids the ratings lack are skipped).
    fn add(&mut self, ds: &Dataset, id: &str, tag: &str) {
        let Some(i) = ds.items.get(id.trim()) else { return };
        let t = tag.trim().to_lowercase();
        if !t.is_empty() && !self.0[i as usize].contains(&t) {
            self.0[i as usize].push(t);
        }
    }

    fn push(self, ds: &mut Dataset) {
        ds.item_features.columns.push(FeatureColumn::Text { name: "tags".into(), values: self.0.into_iter().map(|t| t.join(", ")).collect() });
    }
}

/// Lines of a `::`-separated file (1M, 10M) with exactly `n` fields, numbered from 1.
fn dat_rows<'a>(path: &'a Path, text: &'a str, n: usize, what: &'a str) -> impl Iterator<Item = Result<(usize, Vec<&'a str>)>> + 'a {
    text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()).map(move |(k, raw)| {
        let cols: Vec<&str> = raw.split("::").collect();
        if cols.len() != n {
            bail!("{}:{}: expected {n} `::`-separated fields ({what}), got {}", path.display(), k + 1, cols.len());
        }
        Ok((k + 1, cols))
    })
}

/// `movies.dat` (1M, 10M): `id::title::Genre|Genre`.
pub fn movies_dat(path: &Path, ds: &mut Dataset) -> Result<()> {
    let text = super::movielens::read_text(path)?;
    let rows = dat_rows(path, &text, 3, "id::title::genres")
        .map(|r| r.map(|(_, c)| (c[0].to_string(), c[1].to_string(), c[2].split('|').map(str::to_string).collect())))
        .collect::<Result<Vec<_>>>()?;
    push_movies(ds, rows);
    Ok(())
}

/// `users.dat` (1M): `id::gender::age::occupation::zip`. The age is 1M's bracket code (1,
/// 18, 25, 35, 45, 50, 56), kept as a number; occupations are codes 0-20.
pub fn users_dat(path: &Path, ds: &mut Dataset) -> Result<()> {
    let text = super::movielens::read_text(path)?;
    let n = ds.n_users();
    let mut age = vec![f32::NAN; n];
    let (mut gender, mut occupation, mut zip) = (vec![0u32; n], vec![0u32; n], vec![0u32; n]);
    let (mut gmap, mut omap, mut zmap) = (IdMap::default(), IdMap::default(), IdMap::default());
    for row in dat_rows(path, &text, 5, "id::gender::age::occupation::zip") {
        let (line, c) = row?;
        let Some(u) = ds.users.get(c[0].trim()) else { continue };
        let u = u as usize;
        age[u] = c[2].trim().parse().map_err(|_| anyhow!("{}:{line}: age `{}` is not a number", path.display(), printable(c[2])))?;
        gender[u] = gmap.intern(c[1].trim());
        occupation[u] = omap.intern(c[3].trim());
        zip[u] = zmap.intern(&c[4].trim().chars().take(1).collect::<String>());
    }
    fill_nan_with_mean(&mut age);
    let cat = |name: &str, m: &IdMap, v: Vec<u32>| FeatureColumn::Categorical {
        name: name.into(),
        cardinality: m.len().max(1) as u32,
        values: v,
        labels: m.raws().to_vec(),
    };
    ds.user_features.columns = vec![
        FeatureColumn::Numeric { name: "age".into(), values: age },
        cat("gender", &gmap, gender),
        cat("occupation", &omap, occupation),
        cat("zip_prefix", &zmap, zip),
    ];
    Ok(())
}

/// `tags.dat` (10M): `user::item::tag::timestamp`.
pub fn tags_dat(path: &Path, ds: &mut Dataset) -> Result<()> {
    let text = super::movielens::read_text(path)?;
    let mut tags = Tags::new(ds.n_items());
    for row in dat_rows(path, &text, 4, "user::item::tag::timestamp") {
        let (_, c) = row?;
        tags.add(ds, c[1], c[2]);
    }
    tags.push(ds);
    Ok(())
}

/// Calls `each(line, record)` for the records of a CSV file with a header (quoted fields as
/// the latest format writes titles with commas), one record at a time, after checking the
/// header against `want`.
fn csv_each(path: &Path, want: &[&str], mut each: impl FnMut(u64, &csv::StringRecord) -> Result<()>) -> Result<()> {
    let mut r = csv::ReaderBuilder::new().has_headers(true).flexible(false).from_path(path).with_context(|| format!("cannot read `{}`", path.display()))?;
    let header = r.headers().map_err(|e| anyhow!("{}:1: {e}", path.display()))?.clone();
    if header.len() < want.len() || want.iter().zip(header.iter()).any(|(w, h)| !h.trim().eq_ignore_ascii_case(w)) {
        bail!("{}:1: expected the header `{}`, got `{}`", path.display(), want.join(","), printable(&header.iter().collect::<Vec<_>>().join(",")));
    }
    let mut rec = csv::StringRecord::new();
    loop {
        match r.read_record(&mut rec) {
            Ok(false) => return Ok(()),
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                bail!("{}:{line}: {}", path.display(), printable(&e.to_string()));
            }
        }
        let line = rec.position().map_or(0, |p| p.line());
        if rec.len() < want.len() {
            bail!("{}:{line}: expected {} fields ({}), got {}", path.display(), want.len(), want.join(","), rec.len());
        }
        each(line, &rec)?;
    }
}

/// The records of a small CSV file (see [`csv_each`]), each with its line number.
fn csv_records(path: &Path, want: &[&str]) -> Result<Vec<(u64, csv::StringRecord)>> {
    let mut out = Vec::new();
    csv_each(path, want, |line, rec| {
        out.push((line, rec.clone()));
        Ok(())
    })?;
    Ok(out)
}

/// `movies.csv` (latest): `movieId,title,genres`.
pub fn movies_csv(path: &Path, ds: &mut Dataset) -> Result<()> {
    let rows = csv_records(path, &["movieId", "title", "genres"])?
        .into_iter()
        .map(|(_, r)| (r[0].to_string(), r[1].to_string(), r[2].split('|').map(str::to_string).collect()))
        .collect();
    push_movies(ds, rows);
    Ok(())
}

/// `tags.csv` (latest): `userId,movieId,tag,timestamp`, streamed (ml-32m's has 2M rows).
pub fn tags_csv(path: &Path, ds: &mut Dataset) -> Result<()> {
    let mut tags = Tags::new(ds.n_items());
    csv_each(path, &["userId", "movieId", "tag", "timestamp"], |_, r| {
        tags.add(ds, &r[1], &r[2]);
        Ok(())
    })?;
    tags.push(ds);
    Ok(())
}

/// `genome-scores.csv` (20M, 25M, 32M): `movieId,tagId,relevance`, one relevance in [0, 1] per
/// movie and genome tag, as the item vector feature `genome` (movies the genome lacks get NaN,
/// which the numeric encoder reads as 0 after standardising). `genome-tags.csv` beside it says
/// how many tags there are; without it, the largest tag id does (a first pass over the file).
/// Streamed line by line: 20M's file is 11.7M rows, 310 MB.
pub fn genome_csv(path: &Path, ds: &mut Dataset) -> Result<()> {
    let tags = path.with_file_name("genome-tags.csv");
    let dim = if tags.exists() { genome_tag_count(&tags)? } else { genome_max_tag(path)? };
    let source = if tags.exists() { tags.display() } else { path.display() };
    if dim == 0 {
        bail!("{source}: no genome tags (the file lists none)");
    }
    // GroupLens's genome has 1,128 tags; a larger count is a damaged file, not a genome to
    // allocate items x tags numbers for.
    if dim > MAX_GENOME_TAGS {
        bail!("{source}: {dim} genome tags, more than the {MAX_GENOME_TAGS} a genome file may have (MovieLens's has 1,128); is it the right file?");
    }
    if ds.n_items() * dim > u32::MAX as usize {
        bail!("{}: {} items x {dim} genome tags is more numbers than the genome column holds (2^32)", path.display(), ds.n_items());
    }
    let mut values = vec![f32::NAN; ds.n_items() * dim];
    let items = &ds.items;
    // Each block's (position, relevance) pairs, parsed in parallel (`par_blocks`).
    let parse = |first: usize, text: &str| -> Result<Vec<(u32, f32)>> {
        let mut out = Vec::with_capacity(text.len() / 20);
        let mut last: Option<(&str, Option<u32>)> = None;
        for (k, raw) in text.lines().enumerate() {
            let line = first + k;
            if line == 1 {
                genome_header(path, raw)?;
                continue;
            }
            if raw.trim().is_empty() {
                continue;
            }
            let (movie, tag, relevance) = genome_row(path, line, raw)?;
            if tag == 0 || tag as usize > dim {
                bail!("{}:{line}: tagId {tag} is outside 1..={dim} (the genome has {dim} tags)", path.display());
            }
            // The file lists each movie's tags together: look the movie up once per movie.
            let item = match last {
                Some((m, i)) if m == movie => i,
                _ => {
                    let i = items.get(movie.trim());
                    last = Some((movie, i));
                    i
                }
            };
            if let Some(i) = item {
                out.push(((i as usize * dim + tag as usize - 1) as u32, relevance));
            }
        }
        Ok(out)
    };
    par_blocks(path, parse, |pairs| {
        for (at, r) in pairs {
            values[at as usize] = r;
        }
        Ok(())
    })?;
    ds.item_features.columns.push(FeatureColumn::Vector { name: "genome".into(), dim: dim as u32, values });
    Ok(())
}

const MAX_GENOME_TAGS: usize = 10_000;

fn genome_header(path: &Path, raw: &str) -> Result<()> {
    if raw.trim().eq_ignore_ascii_case("movieId,tagId,relevance") {
        Ok(())
    } else {
        bail!("{}:1: expected the header `movieId,tagId,relevance`, got `{}`", path.display(), printable(raw))
    }
}

/// `(movieId, tagId, relevance)` of one row.
fn genome_row<'a>(path: &Path, line: usize, raw: &'a str) -> Result<(&'a str, u32, f32)> {
    let mut f = raw.split(',');
    let (Some(movie), Some(tag), Some(rel), None) = (f.next(), f.next(), f.next(), f.next()) else {
        bail!("{}:{line}: expected 3 fields (movieId,tagId,relevance), got {}", path.display(), raw.split(',').count());
    };
    let tag: u32 = tag.trim().parse().map_err(|_| anyhow!("{}:{line}: tagId `{}` is not a whole number", path.display(), printable(tag)))?;
    let rel: f32 = rel.trim().parse().map_err(|_| anyhow!("{}:{line}: relevance `{}` is not a number", path.display(), printable(rel)))?;
    if !rel.is_finite() {
        bail!("{}:{line}: relevance `{}` is not a finite number", path.display(), rel);
    }
    Ok((movie, tag, rel))
}

/// Tags listed by `genome-tags.csv` (`tagId,tag`), whose ids run from 1.
fn genome_tag_count(path: &Path) -> Result<usize> {
    let rows = csv_records(path, &["tagId", "tag"])?;
    for (k, (line, r)) in rows.iter().enumerate() {
        if r[0].trim() != (k + 1).to_string() {
            bail!("{}:{line}: tagId `{}` breaks the numbering 1, 2, 3, ... (expected {})", path.display(), printable(&r[0]), k + 1);
        }
    }
    Ok(rows.len())
}

/// The largest tag id of `genome-scores.csv`, when `genome-tags.csv` is missing.
fn genome_max_tag(path: &Path) -> Result<usize> {
    let mut max = 0;
    for_each_line(path, |line, raw| {
        if line == 1 {
            return genome_header(path, raw);
        }
        if !raw.trim().is_empty() {
            max = max.max(genome_row(path, line, raw)?.1 as usize);
        }
        Ok(())
    })?;
    Ok(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn years_come_from_the_last_parentheses() {
        assert_eq!(year_of_title("Toy Story (1995)"), Some(1995.0));
        assert_eq!(year_of_title("City of Lost Children, The (Cité des enfants perdus, La) (1995) "), Some(1995.0));
        assert_eq!(year_of_title("Babylon 5"), None);
        assert_eq!(year_of_title("Movie (a)"), None);
    }
}
