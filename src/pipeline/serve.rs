//! Use what was trained: answer "what should this user see" and "what is like this item"
//! from a run's cached vectors and index, and export the vectors, without computing anything.
//! A stage that is not cached is an error that says to run the config first.

use super::stages::Executor;
use super::StageKind;
use crate::data::{Dataset, Split};
use crate::index::{AnnIndex, Hit, IndexKind, Metric};
use crate::models::{BadQuestion, HistoryQuery, OnlineQuery, Trained, UserQuestion};
use anyhow::{anyhow, bail, Result};
use std::sync::Arc;

/// One run's cached outputs, loaded for questions.
pub struct Served {
    pub dataset: Arc<Dataset>,
    pub split: Arc<Split>,
    pub trained: Arc<Trained>,
    pub index: Box<dyn AnnIndex>,
    /// `model [point] seed s`.
    pub label: String,
    /// Whether the model scores items ([`crate::models::Model::scores_items`]): its vectors
    /// live in item space, and `similar` asks with the item's one-hot row.
    pub scores_items: bool,
    /// The model's kind (`item2vec`), for saying what a score is.
    pub model_kind: &'static str,
    /// Why the model's item vectors have no geometry, when they have none and it does not
    /// score items ([`crate::models::Model::geometry_note`]: popularity's one count per item).
    pub no_geometry: Option<&'static str>,
    /// The run's index kind: whether its answers are exact.
    pub index_kind: &'static IndexKind,
    /// Items without a trained vector (all-zero rows), sorted, found once at load: left out
    /// of every answer, as the eval stage leaves them out.
    pub untrained: Vec<u32>,
    /// How a history given at question time becomes a query ([`crate::models::Model::history_query`]).
    pub history_query: Option<HistoryQuery>,
    /// Each user's training and validation items, sorted: never recommended to them. Found
    /// once at load, so a question costs a search, not a scan of the interactions.
    pub seen: Vec<Vec<u32>>,
    /// The cache entries the answers come from (train, index): a service reloads when one
    /// is replaced (the config run again with `--force`).
    pub sources: Vec<std::path::PathBuf>,
    /// The model's user encoder at question time, from the train entry's weights
    /// ([`crate::models::Model::online`]): the two-tower family's user tower.
    pub online: Option<Box<dyn OnlineQuery>>,
}

/// A question about one user: a training user, a history, feature values, or several of them
/// (a training user whose history or features the question replaces).
#[derive(Clone, Copy, Default)]
pub struct Question<'a> {
    pub user: Option<&'a str>,
    /// Raw item ids or titles, oldest first.
    pub history: Option<&'a [String]>,
    /// Feature and text values by column name (models with [`Served::online`] only).
    pub features: Option<&'a serde_json::Map<String, serde_json::Value>>,
}

/// How `similar` ranks, as [`Served::similar_by`] decides it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SimilarBy {
    /// The model's own item-item score: a scoring model asked with the item's one-hot row
    /// through the run's index.
    ModelScore,
    /// The run's index, built with this metric (approximate unless the index kind is exact).
    Index(Metric),
    /// An exact scan of every item vector with this metric, which is not the index's.
    Exact(Metric),
}

/// What `similar` answered: the item asked about and its nearest items.
#[derive(Clone, Debug, PartialEq)]
pub struct Similar {
    /// The asked item's raw id and title (`score` unused: 0).
    pub item: Answer,
    pub answers: Vec<Answer>,
}

/// One answer: an item with its raw id, title (when the dataset has titles) and score.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Answer {
    pub item: String,
    pub title: Option<String>,
    pub score: f32,
}

/// Raw ids closest to `raw` in spelling, for "did you mean" (at most 5).
pub fn near_ids(ids: &[String], raw: &str) -> Vec<String> {
    let mut scored: Vec<(f64, &String)> = ids.iter().map(|c| (strsim::jaro_winkler(raw, c), c)).filter(|(s, _)| *s > 0.7).collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    scored.into_iter().take(5).map(|(_, c)| c.clone()).collect()
}

/// `; did you mean a, b?` with the suggestions' control characters escaped, or nothing.
fn did_you_mean(near: &[String]) -> String {
    if near.is_empty() {
        return String::new();
    }
    format!("; did you mean {}?", near.iter().map(|n| crate::term::escape_controls(n)).collect::<Vec<_>>().join(", "))
}

impl<'a> Executor<'a> {
    /// Loads run `ri` of experiment `ei` from the cache; every stage it needs must be cached.
    pub fn serve(&self, ei: usize, ri: usize) -> Result<Served> {
        let exp = &self.plan.experiments[ei];
        let run = &exp.runs[ri];
        let keys = &self.plan.run_keys[ei][ri];
        let label = format!("{} [{} seed {}]", run.model.name, run.point_name, run.seed);
        for (kind, key) in [(StageKind::Data, &keys.data), (StageKind::Split, &keys.split), (StageKind::Train, &keys.train), (StageKind::Index, &keys.index)] {
            if !self.caches[ei].peek(kind.name(), key) {
                bail!("the {} stage of {label} is not cached; run `runner run {}` first", kind.name(), exp.file.display());
            }
        }
        let dataset = self.load_data(&keys.data)?;
        let split = self.load_split(&keys.split)?;
        let trained = self.load_trained(&keys.train)?;
        let index = self.load_index(&keys.index, &run.index.search)?;
        let model = &run.model.model;
        let weights = self.with_entry(&keys.train, |dir, m| super::checkpoint::read_weights(dir, &m.info))?;
        let online = match &weights {
            Some(w) => model.online(dataset.clone(), &split, run.seed, w)?,
            None => None,
        };
        let no_geometry = if model.scores_items() { None } else { model.geometry_note() };
        let untrained = crate::index::common::untrained_rows(&trained.items);
        Ok(Served {
            dataset,
            trained,
            index,
            label,
            scores_items: model.scores_items(),
            model_kind: run.model.kind.kind,
            no_geometry,
            index_kind: run.index.kind,
            untrained,
            history_query: model.history_query(),
            seen: split.seen_sorted(),
            split,
            online,
            sources: vec![self.caches[ei].entry_dir(StageKind::Train.name(), &keys.train), self.caches[ei].entry_dir(StageKind::Index.name(), &keys.index)],
        })
    }
}

impl Served {
    fn answers(&self, hits: Vec<Hit>) -> Vec<Answer> {
        hits.into_iter()
            .map(|h| Answer {
                item: self.dataset.items.raw(h.id).to_string(),
                title: self.dataset.item_titles.as_ref().and_then(|t| t.get(h.id as usize).cloned()),
                score: h.score,
            })
            .collect()
    }

    fn user(&self, raw: &str) -> Result<u32> {
        self.dataset.users.get(raw).ok_or_else(|| {
            let near = near_ids(self.dataset.users.raws(), raw);
            anyhow!("unknown user `{}` ({} users){}", crate::term::escape_controls(raw), self.dataset.users.len(), did_you_mean(&near))
        })
    }

    /// An item by its raw id or, where the dataset has titles, by its title: the exact title,
    /// else the one title that holds `raw` (case-insensitive). An unknown item's error suggests
    /// near titles, or near ids; a number gets no spelling suggestions (5000 is not "near" 500).
    fn item(&self, raw: &str) -> Result<u32> {
        if let Some(i) = self.dataset.items.get(raw) {
            return Ok(i);
        }
        let esc = crate::term::escape_controls;
        let n = self.dataset.items.len();
        if let Some(titles) = &self.dataset.item_titles {
            if let Some(i) = titles.iter().position(|t| t == raw) {
                return Ok(i as u32);
            }
            let needle = raw.to_lowercase();
            let holding: Vec<usize> =
                titles.iter().enumerate().filter(|(_, t)| !needle.is_empty() && t.to_lowercase().contains(&needle)).map(|(i, _)| i).collect();
            let shown = |ids: &[usize]| {
                ids.iter().take(5).map(|&i| format!("{} ({})", esc(&titles[i]), esc(self.dataset.items.raw(i as u32)))).collect::<Vec<_>>().join(", ")
            };
            match holding.len() {
                1 => return Ok(holding[0] as u32),
                0 => {}
                many => {
                    bail!("`{}` is in {many} titles: {}{}; give the id or more of the title", esc(raw), shown(&holding), if many > 5 { ", ..." } else { "" })
                }
            }
            let near = near_ids(titles, raw);
            let near: Vec<usize> = near.iter().filter_map(|t| titles.iter().position(|x| x == t)).collect();
            if !near.is_empty() {
                bail!("unknown item `{}` (no id or title; {n} items); did you mean {}?", esc(raw), shown(&near));
            }
        }
        let near = if raw.chars().all(|c| c.is_ascii_digit()) { Vec::new() } else { near_ids(self.dataset.items.raws(), raw) };
        bail!("unknown item `{}` ({n} items){}", esc(raw), did_you_mean(&near))
    }

    /// The user's training (and validation) items, oldest first: what the model saw of them.
    pub fn history(&self, user_raw: &str) -> Result<Vec<Answer>> {
        let u = self.user(user_raw)?;
        let items: Vec<Hit> =
            self.split.train.iter().chain(&self.split.valid).filter(|it| it.user == u).map(|it| Hit { id: it.item, score: it.rating }).collect();
        Ok(self.answers(items))
    }

    /// The top `k` items for a user through the run's index, never one they already had (as
    /// the eval stage ranks them with `exclude_seen`).
    pub fn recommend(&self, user_raw: &str, k: usize) -> Result<Vec<Answer>> {
        self.recommend_excluding(user_raw, k, &[], &[])
    }

    /// The top `k` items for `query` through the run's index, leaving out `out` (item
    /// numbers), `exclude_raw` (raw ids or titles), `also` and every item without a trained
    /// vector (the eval stage leaves those out too).
    fn ranked(&self, query: &[f32], k: usize, mut out: Vec<u32>, exclude_raw: &[String], also: &[u32]) -> Result<Vec<Answer>> {
        out.extend_from_slice(also);
        for r in exclude_raw {
            out.push(self.item(r)?);
        }
        out.sort_unstable();
        out.dedup();
        // Items without a vector are dropped from the hits rather than passed to the search:
        // a large catalogue can have hundreds of thousands of them, and merging that list
        // into every question's exclusions cost more than the search (1M items: 1.6 ms a
        // question). They score 0, so they rarely reach the top; when they do, the search
        // goes deeper until `k` answers remain or the index is exhausted.
        let mut want = k;
        loop {
            let hits = self.index.search(query, want, &out)?;
            let exhausted = hits.len() < want || want >= self.index.len();
            let kept: Vec<Hit> = hits.into_iter().filter(|h| self.untrained.binary_search(&h.id).is_err()).take(k).collect();
            if kept.len() == k || exhausted {
                return Ok(self.answers(kept));
            }
            if want >= 4 * k + 1024 {
                // They crowd the top (a query whose trained scores are mostly negative): leave
                // them out in the search itself after all.
                let all = crate::index::common::merged(&out, &self.untrained);
                return Ok(self.answers(self.index.search(query, k, &all)?));
            }
            want = (want * 2).min(self.index.len());
        }
    }

    /// The top `k` items for a user given by a history of raw item ids (oldest first) rather
    /// than by id: the query is computed from the history as training computed the users'
    /// ([`HistoryQuery`], or the user tower), so a training user's own history gives their
    /// cached answer. The history's items, `exclude` and `also` (item numbers) are never answered.
    pub fn recommend_history(&self, history_raw: &[String], k: usize, exclude_raw: &[String], also: &[u32]) -> Result<Vec<Answer>> {
        Ok(self.answer(&Question { history: Some(history_raw), ..Default::default() }, k, exclude_raw, also)?.1)
    }

    /// The top `k` items for the user a question describes, and how its query was made
    /// (`user`: the cached vector, `history`: pooled from the history, `tower`: the user
    /// tower run on the question). What the user had (a training user's items, the
    /// history), `exclude_raw` and `also` (item numbers) are never answered. A question the
    /// model cannot take as asked is a [`BadQuestion`]; an unknown id starts with `unknown`.
    pub fn answer(&self, q: &Question, k: usize, exclude_raw: &[String], also: &[u32]) -> Result<(&'static str, Vec<Answer>)> {
        let user = q.user.map(|r| self.user(r)).transpose()?;
        let history = q.history.map(|h| h.iter().map(|r| self.item(r)).collect::<Result<Vec<u32>>>()).transpose()?;
        let empty = serde_json::Map::new();
        let features = q.features.unwrap_or(&empty);
        let mut out = user.map(|u| self.seen[u as usize].clone()).unwrap_or_default();
        out.extend(history.iter().flatten());
        let bad = |m: String| anyhow::Error::new(BadQuestion(m));
        let (how, query) = match (&self.online, user, &history) {
            (_, Some(u), None) if features.is_empty() => ("user", self.trained.users.row(u as usize).to_vec()),
            (Some(tower), ..) => {
                if user.is_none() && history.is_none() && features.is_empty() {
                    return Err(bad("a question needs `user` (an id), `history` (item ids, oldest first) or `features`".into()));
                }
                ("tower", tower.query(&UserQuestion { user, history: history.as_deref(), features })?)
            }
            (None, ..) if !features.is_empty() => {
                bail!(
                    "{} has no user tower to read features with: its query is {}; ask with `user` or `history`",
                    self.label,
                    if self.history_query.is_some() { "pooled from a history" } else { "a trained vector per user" }
                )
            }
            (None, Some(_), Some(_)) => {
                return Err(bad("give `user` or `history`, not both (only a model with a user tower takes a user with a new history)".into()))
            }
            (None, None, Some(h)) => {
                let Some(how) = self.history_query else {
                    bail!(
                        "{} computes a user's query from training (a `{}` user vector), not from a history given now; ask for a known user with {{\"user\": ID}}, or serve a model that pools item vectors (item2vec, node2vec on the co-occurrence graph, itemknn, ease, popularity) or runs a user tower (two_tower, dssm, cdssm, youtube_dnn)",
                        self.label,
                        self.model_kind
                    );
                };
                ("history", how.query(&self.trained, h))
            }
            (None, _, None) => return Err(bad("a question needs `user` (an id) or `history` (item ids, oldest first)".into())),
        };
        Ok((how, self.ranked(&query, k, out, exclude_raw, also)?))
    }

    /// Items that do not match `value` in the item feature `column`, sorted: what a filter
    /// leaves out. A string matches a category's or a genre-like column's label or is found in
    /// a text column (case-insensitive); a number equals a numeric column's value. Columns of
    /// category codes without names cannot be matched by name, and say so.
    pub fn filtered_out(&self, column: &str, value: &serde_json::Value) -> Result<Vec<u32>> {
        let cols = &self.dataset.item_features;
        let Some(col) = cols.get(column) else {
            let names = cols.names();
            let hint = crate::params::nearest(column, names.iter().copied()).map(|n| format!("did you mean `{n}`? ")).unwrap_or_default();
            bail!(
                "unknown item feature `{}`; {hint}features: {}",
                crate::term::escape_controls(column),
                if names.is_empty() { "none".into() } else { names.join(", ") }
            );
        };
        let n = self.dataset.items.len();
        let keep = matches(col, value)?;
        Ok((0..n as u32).filter(|&i| !keep.get(i as usize).copied().unwrap_or(false)).collect())
    }

    /// [`Served::recommend`] with more items left out: raw ids, and item numbers `also` (a
    /// filter's [`Served::filtered_out`]).
    pub fn recommend_excluding(&self, user_raw: &str, k: usize, exclude_raw: &[String], also: &[u32]) -> Result<Vec<Answer>> {
        Ok(self.answer(&Question { user: Some(user_raw), ..Default::default() }, k, exclude_raw, also)?.1)
    }

    /// How `similar` ranks for this run when asked for `metric` (`None`: the default); an
    /// error is a question the model cannot answer. An embedding model ranks by cosine
    /// similarity unless asked otherwise: the raw inner product favours long vectors, and an
    /// embedding's long vectors are its popular items, so "nearest by inner product" answers
    /// with popular items rather than similar ones (gensim's `most_similar` and implicit's
    /// `similar_items` use cosine for the same reason). The index answers when its metric is
    /// the one asked for; any other is an exact scan. A scoring model (kNN, EASE) ranks by its
    /// own item-item score, which is the inner product of the item's one-hot row with the
    /// others' columns: `ip` names it, any other metric would rank columns of a score matrix
    /// as if they were vectors, and is refused. Popularity's one count per item has no
    /// geometry: nothing is nearer to an item than another by it.
    pub fn similar_by(&self, metric: Option<Metric>) -> Result<SimilarBy> {
        let own = self.index.metric();
        if self.scores_items {
            return match metric {
                None | Some(Metric::Ip) => Ok(SimilarBy::ModelScore),
                Some(m) => bail!(
                    "{} ranks similar items by its own item-item score (the inner product of the item's one-hot row with the item-item matrix), not by a metric over vectors: `--metric {}` does not apply to it (leave it out, or `ip`)",
                    self.label,
                    m.name()
                ),
            };
        }
        if let Some(note) = self.no_geometry {
            // A note reads "what the vectors are: what that leaves empty"; the first half says why.
            let why = note.split(": ").next().unwrap_or(note);
            bail!("{} has no item similarity: the model {why}; ask a model that embeds or scores items with --model NAME", self.label);
        }
        let m = metric.unwrap_or(Metric::Cos);
        Ok(if m == own { SimilarBy::Index(m) } else { SimilarBy::Exact(m) })
    }

    /// The `k` items nearest to an item ranked `by` ([`Served::similar_by`]), the item itself
    /// and items without a trained vector left out. A scoring model is asked with the item's
    /// one-hot row, a user who had only that item, so the answer ranks by the model's own
    /// item-item score (kNN: the item's neighbours).
    pub fn similar(&self, item_raw: &str, k: usize, by: SimilarBy) -> Result<Similar> {
        let i = self.item(item_raw)?;
        // An item the model never trained on (no training interaction) has an all-zero
        // vector: every item would tie at score 0, an arbitrary answer.
        if !self.scores_items && self.untrained.binary_search(&i).is_ok() {
            bail!(
                "item `{}` has no trained vector (it has no training interaction), so nothing is similar to it by this model",
                crate::term::escape_controls(self.dataset.items.raw(i))
            );
        }
        let one_hot;
        let query = if self.scores_items {
            one_hot = (0..self.trained.items.cols).map(|c| if c == i as usize { 1.0 } else { 0.0 }).collect::<Vec<f32>>();
            &one_hot[..]
        } else {
            self.trained.items.row(i as usize)
        };
        let exclude = crate::index::common::merged(&[i], &self.untrained);
        let hits = match by {
            SimilarBy::ModelScore | SimilarBy::Index(_) => self.index.search(query, k, &exclude)?,
            SimilarBy::Exact(m) => crate::index::flat::FlatIndex::build(&self.trained.items, m)?.search(query, k, &exclude)?,
        };
        let item = self.answers(vec![Hit { id: i, score: 0.0 }]).remove(0);
        Ok(Similar { item, answers: self.answers(hits) })
    }
}

/// Per row of `col`, whether it matches a filter's `value` ([`Served::filtered_out`]).
fn matches(col: &crate::data::FeatureColumn, value: &serde_json::Value) -> Result<Vec<bool>> {
    use crate::data::FeatureColumn;
    let column = col.name();
    Ok(match (col, value) {
        (FeatureColumn::MultiHot { labels, values, .. }, serde_json::Value::String(v)) if !labels.is_empty() => {
            let Some(code) = labels.iter().position(|l| l.eq_ignore_ascii_case(v)) else {
                bail!("`{column}` has no value `{}` (values: {})", crate::term::escape_controls(v), labels.join(", "));
            };
            values.iter().map(|row| row.contains(&(code as u32))).collect()
        }
        (FeatureColumn::Categorical { labels, values, .. }, v @ (serde_json::Value::String(_) | serde_json::Value::Number(_))) if !labels.is_empty() => {
            let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
            let Some(code) = labels.iter().position(|l| l.eq_ignore_ascii_case(&v)) else {
                bail!("`{column}` has no value `{}` (values: {})", crate::term::escape_controls(&v), labels.join(", "));
            };
            values.iter().map(|&x| x == code as u32).collect()
        }
        (FeatureColumn::Text { values, .. }, serde_json::Value::String(v)) => {
            let needle = v.to_lowercase();
            values.iter().map(|t| t.to_lowercase().contains(&needle)).collect()
        }
        (FeatureColumn::Numeric { values, .. }, serde_json::Value::Number(v)) => {
            let v = v.as_f64().unwrap_or(f64::NAN) as f32;
            values.iter().map(|&x| x == v).collect()
        }
        (FeatureColumn::Categorical { .. } | FeatureColumn::MultiHot { .. } | FeatureColumn::Vector { .. }, _) => {
            bail!("`{column}` holds category codes or vectors, not values a filter can name")
        }
        (_, v) => bail!("`{column}` is filtered by a {}, not by {v}", if matches!(col, FeatureColumn::Numeric { .. }) { "number" } else { "string" }),
    })
}

/// Encodes vectors with raw ids, as `(suffix, bytes)` files: `npy` (`npy` float32 rows and
/// `ids.txt`, one id per line), `parquet` (an `id` column and `v0..v{d-1}`) or `word2vec`
/// (`txt`, gensim's text format: a `count dim` header, then `id v0 v1 ...`). Ids that would
/// shift the lines against the rows are refused: a line break for `ids.txt`, any whitespace
/// for word2vec, whose lines are split on it.
pub fn encode(vectors: &crate::linalg::Matrix, ids: &[String], format: &str) -> Result<Vec<(&'static str, Vec<u8>)>> {
    anyhow::ensure!(vectors.rows == ids.len(), "internal: {} vectors for {} ids", vectors.rows, ids.len());
    match format {
        "npy" => {
            if let Some(bad) = ids.iter().find(|id| id.contains(['\n', '\r'])) {
                bail!(
                    "id `{}` holds a line break, which would shift every later line of ids.txt against its vector; export parquet",
                    crate::term::escape_controls(bad)
                );
            }
            let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {}), }}", vectors.rows, vectors.cols);
            // Magic, version 1.0, header length, header padded so the data starts at a multiple of 64.
            let total = 10 + header.len() + 1;
            header.push_str(&" ".repeat((64 - total % 64) % 64));
            header.push('\n');
            let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
            bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
            bytes.extend_from_slice(header.as_bytes());
            for x in &vectors.data {
                bytes.extend_from_slice(&x.to_le_bytes());
            }
            Ok(vec![("npy", bytes), ("ids.txt", (ids.join("\n") + "\n").into_bytes())])
        }
        "word2vec" => {
            if let Some(bad) = ids.iter().find(|id| id.is_empty() || id.chars().any(char::is_whitespace)) {
                bail!(
                    "id `{}` is empty or holds whitespace, which the word2vec text format cannot carry; export npy or parquet",
                    crate::term::escape_controls(bad)
                );
            }
            let mut s = format!("{} {}\n", vectors.rows, vectors.cols);
            for (r, id) in ids.iter().enumerate() {
                s.push_str(id);
                for x in vectors.row(r) {
                    s.push(' ');
                    s.push_str(&format!("{x}"));
                }
                s.push('\n');
            }
            Ok(vec![("txt", s.into_bytes())])
        }
        "parquet" => {
            use polars::prelude::*;
            let mut cols: Vec<Column> = vec![Column::new("id".into(), ids.to_vec())];
            for c in 0..vectors.cols {
                cols.push(Column::new(format!("v{c}").into(), (0..vectors.rows).map(|r| vectors.row(r)[c]).collect::<Vec<f32>>()));
            }
            let mut df = DataFrame::new(vectors.rows, cols)?;
            let mut bytes = Vec::new();
            ParquetWriter::new(&mut bytes).finish(&mut df).map_err(|e| anyhow!("cannot encode parquet: {e}"))?;
            Ok(vec![("parquet", bytes)])
        }
        other => bail!("unknown export format `{other}`; formats: npy, parquet, word2vec"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::Matrix;

    #[test]
    fn npy_header_is_aligned_and_word2vec_round_trips() {
        let m = Matrix::from_vec(3, 2, vec![0.5, -1.0, 2.25, 0.0, 1e-3, 3.0]).unwrap();
        let ids: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let files = encode(&m, &ids, "npy").unwrap();
        assert_eq!(files.iter().map(|(s, _)| *s).collect::<Vec<_>>(), ["npy", "ids.txt"]);
        let bytes = &files[0].1;
        assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
        let hlen = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + hlen) % 64, 0, "data starts 64-byte aligned");
        let header = std::str::from_utf8(&bytes[10..10 + hlen]).unwrap();
        assert!(header.contains("'shape': (3, 2)") && header.ends_with('\n'));
        let data: Vec<f32> = bytes[10 + hlen..].chunks(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
        assert_eq!(data, m.data);
        assert_eq!(files[1].1, b"a\nb\nc\n");
        let w2v = encode(&m, &ids, "word2vec").unwrap();
        let text = std::str::from_utf8(&w2v[0].1).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("3 2"));
        for (r, line) in lines.enumerate() {
            let parts: Vec<&str> = line.split(' ').collect();
            assert_eq!(parts[0], ids[r]);
            let back: Vec<f32> = parts[1..].iter().map(|x| x.parse().unwrap()).collect();
            assert_eq!(back, m.row(r), "print precision round-trips f32");
        }
        assert!(encode(&m, &["a b".into(), "c".into(), "d".into()], "word2vec").unwrap_err().to_string().contains("whitespace"));
        assert!(encode(&m, &ids, "csv").unwrap_err().to_string().contains("formats: npy, parquet, word2vec"));
    }

    #[test]
    fn filters_match_labels_words_and_numbers() {
        use crate::data::FeatureColumn;
        let labels = vec!["Boston".to_string(), "Chicago".into()];
        let city = FeatureColumn::Categorical { name: "city".into(), cardinality: 2, values: vec![1, 0, 1], labels };
        assert_eq!(matches(&city, &serde_json::json!("chicago")).unwrap(), [true, false, true]);
        let e = matches(&city, &serde_json::json!("Bostn")).unwrap_err().to_string();
        assert!(e.contains("has no value `Bostn`") && e.contains("Boston, Chicago"), "{e}");
        let codes = FeatureColumn::Categorical { name: "c".into(), cardinality: 2, values: vec![1, 0], labels: Vec::new() };
        assert!(matches(&codes, &serde_json::json!("x")).unwrap_err().to_string().contains("category codes"));
        let zip = FeatureColumn::Categorical { name: "zip".into(), cardinality: 2, values: vec![1, 0], labels: vec!["4".into(), "5".into()] };
        assert_eq!(matches(&zip, &serde_json::json!(5)).unwrap(), [true, false], "a number names a label");
        let year = FeatureColumn::Numeric { name: "year".into(), values: vec![1995.0, 1996.0] };
        assert_eq!(matches(&year, &serde_json::json!(1996)).unwrap(), [false, true]);
        assert!(matches(&year, &serde_json::json!("1996")).unwrap_err().to_string().contains("by a number"));
    }

    #[test]
    fn near_ids_suggest_spellings() {
        let ids: Vec<String> = ["alice", "alicia", "bob"].map(String::from).to_vec();
        assert_eq!(near_ids(&ids, "alise")[0], "alice");
        assert!(near_ids(&ids, "zzzzzz").is_empty());
    }
}
