//! What each stage does: compute (or load from the cache) its output from its upstream
//! outputs, and write its artifacts.

use super::cache::{new_manifest, Cache, Manifest};
use super::checks::{check_trained, why_no_test};
use super::dataset_entry::{read_dataset, write_dataset};
use super::{artifacts as art, Plan, Stage, StageKind};
use crate::config::RunSpec;
use crate::data::corpus::Corpus;
use crate::data::{filter, Dataset, Split};
use crate::eval;
pub use crate::eval::{EvalSummary, PerUser};
use crate::index::AnnIndex;
use crate::models::{TrainInput, Trained};
use anyhow::{anyhow, bail, Context, Result};
use petgraph::graph::NodeIndex;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// How a stage was satisfied.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Outcome {
    Cached,
    /// `peak_rss_bytes`: see [`crate::memory::Window`] (none for the report).
    Ran {
        seconds: f64,
        peak_rss_bytes: Option<u64>,
    },
}

/// ` (2.31s, peak 412 MB)`: how a stage that ran is logged.
pub fn ran_note(seconds: f64, peak: Option<u64>) -> String {
    match peak {
        Some(b) => format!("({seconds:.2}s, peak {})", crate::memory::human(b)),
        None => format!("({seconds:.2}s)"),
    }
}

#[derive(Clone)]
enum Loaded {
    /// A dataset, and whether it holds its interactions: only some stages read them
    /// (`reads_interactions`), so once those ran the memo keeps it without (at 15M
    /// interactions, 360 MB that every later stage held for nothing).
    Data(Arc<Dataset>, bool),
    Split(Arc<Split>),
    Corpus(Arc<Corpus>),
    Train(Arc<Trained>),
    Eval(Arc<EvalSummary>),
}

/// Runs stages of a [`Plan`], sharing loaded outputs between them.
pub struct Executor<'a> {
    pub plan: &'a Plan,
    pub caches: Vec<Cache>,
    /// `--force`: stages of this kind and every later kind are recomputed even when cached.
    force_from: Option<StageKind>,
    pub progress: bool,
    memo: Mutex<HashMap<String, Loaded>>,
    /// Stage key -> stages of this plan that read its output and have not run yet: at zero
    /// the memo lets go of it (a later reader, such as the report, loads it again).
    users_left: Mutex<HashMap<String, usize>>,
    /// Data key -> stages of this plan that read its interactions (splits, and evaluations
    /// with a task that does) and have not run yet (see `Loaded::Data`).
    readers_left: Mutex<HashMap<String, usize>>,
    /// Stage key -> why it failed or was skipped, for the report's failed rows.
    failures: Mutex<HashMap<String, String>>,
    /// Stages computing now, and started so far: an evaluation that saw another stage run
    /// beside it marks its latency as contended.
    running: std::sync::atomic::AtomicUsize,
    started: std::sync::atomic::AtomicUsize,
}

impl<'a> Executor<'a> {
    pub fn new(plan: &'a Plan, force: bool, progress: bool) -> Self {
        let caches = plan.experiments.iter().map(|e| Cache::new(e.section.cache_dir.clone())).collect();
        let mut users_left: HashMap<String, usize> = HashMap::new();
        for st in plan.graph.node_weights() {
            for u in &st.upstream {
                *users_left.entry(u.clone()).or_default() += 1;
            }
        }
        let mut readers_left: HashMap<String, usize> = HashMap::new();
        for st in plan.graph.node_weights().filter(|st| reads_interactions(plan, st)) {
            if let Ok(d) = st.inputs.data() {
                *readers_left.entry(d.to_string()).or_default() += 1;
            }
        }
        Executor {
            plan,
            caches,
            force_from: force.then_some(StageKind::Data),
            progress,
            memo: Mutex::new(HashMap::new()),
            users_left: Mutex::new(users_left),
            readers_left: Mutex::new(readers_left),
            failures: Mutex::new(HashMap::new()),
            running: Default::default(),
            started: Default::default(),
        }
    }

    /// Removes temporary cache entries left by processes that died (kill -9, power loss);
    /// returns how many.
    pub fn remove_stale_tmp(&self) -> usize {
        let mut roots: Vec<&Path> = self.caches.iter().map(|c| c.root.as_path()).collect();
        roots.sort();
        roots.dedup();
        roots.into_iter().map(|r| Cache::new(r).remove_stale_tmp()).sum()
    }

    /// Records why a stage failed (or was skipped), for the report.
    pub fn record_failure(&self, key: &str, why: String) {
        self.failures.lock().expect("failures lock").insert(key.to_string(), why);
    }

    /// Why a stage failed or was skipped, if it did.
    pub fn failure(&self, key: &str) -> Option<String> {
        self.failures.lock().expect("failures lock").get(key).cloned()
    }

    pub(super) fn stage(&self, key: &str) -> Result<&Stage> {
        let n = self.plan.by_key.get(key).ok_or_else(|| anyhow!("internal: unknown stage {key}"))?;
        Ok(&self.plan.graph[*n])
    }

    fn cache_of(&self, st: &Stage) -> &Cache {
        &self.caches[st.run.experiment]
    }

    /// Recomputes the stages of `kind` and every later kind even when cached (`--force=eval`
    /// re-times the queries without retraining); `None` recomputes nothing that is cached.
    pub fn forcing_from(mut self, kind: Option<StageKind>) -> Self {
        self.force_from = kind;
        self
    }

    /// Whether `--force` covers this stage.
    fn forced(&self, st: &Stage) -> bool {
        self.force_from.is_some_and(|k| st.kind >= k)
    }

    pub(super) fn run_of(&self, st: &Stage) -> &RunSpec {
        &self.plan.experiments[st.run.experiment].runs[st.run.run]
    }

    /// Whether `--plan` would find this stage cached (never modifies the cache).
    pub fn is_cached(&self, st: &Stage) -> bool {
        !self.forced(st) && self.has_entry(st)
    }

    /// Whether the stage's cache entry exists, `--force` or not (never modifies the cache).
    pub fn has_entry(&self, st: &Stage) -> bool {
        st.kind != StageKind::Report && self.cache_of(st).peek(st.kind.name(), &st.key)
    }

    /// Runs one stage whose inputs are all in the cache (a cluster job: `runner stage`).
    pub fn execute_alone(&self, key: &str) -> Result<Outcome> {
        let n = *self
            .plan
            .by_key
            .get(key)
            .ok_or_else(|| anyhow!("no stage of these configs has the key `{key}` (were the configs edited since the job was submitted?)"))?;
        for u in &self.plan.graph[n].upstream {
            let up = self.stage(u)?;
            if !self.has_entry(up) {
                bail!(
                    "input {} stage `{}` ({}) is not in the cache: its job failed or was cancelled, so this stage does not run",
                    up.kind.name(),
                    up.label,
                    &u[..10]
                );
            }
        }
        // No other stage runs in this process.
        self.readers_left.lock().expect("readers lock").clear();
        self.execute(n)
    }

    fn remember(&self, key: &str, v: Loaded) {
        self.memo.lock().expect("memo lock").insert(key.to_string(), v);
    }

    fn recall(&self, key: &str) -> Option<Loaded> {
        self.memo.lock().expect("memo lock").get(key).cloned()
    }

    /// Reads the cache entry of an upstream stage, which must exist by now, under its shared
    /// lock: no other process replaces it while `read` runs.
    pub(super) fn with_entry<T>(&self, key: &str, read: impl FnOnce(&Path, &Manifest) -> Result<T>) -> Result<T> {
        let st = self.stage(key)?;
        let cache = self.cache_of(st);
        let _lock = cache.lock_shared(st.kind.name(), key)?;
        let (dir, m) = cache
            .lookup(st.kind.name(), key)
            .ok_or_else(|| anyhow!("the cached {} stage `{}` vanished or was damaged while running; run again", st.kind.name(), st.label))?;
        read(&dir, &m)
    }

    /// A dataset, with its interactions only while a stage that reads them is still to run
    /// (stages that do not read them may get an empty list).
    pub(super) fn data(&self, key: &str) -> Result<Arc<Dataset>> {
        if let Some(Loaded::Data(d, _)) = self.recall(key) {
            return Ok(d);
        }
        let full = self.readers_left.lock().expect("readers lock").get(key).is_some_and(|&n| n > 0);
        let d = Arc::new(self.with_entry(key, |dir, _| read_dataset(dir, full))?);
        self.remember(key, Loaded::Data(d.clone(), full));
        Ok(d)
    }

    /// Whether this executor holds the dataset of data key `key` with its interactions
    /// (`None`: it holds none).
    pub fn holds_interactions(&self, key: &str) -> Option<bool> {
        match self.recall(key) {
            Some(Loaded::Data(d, full)) => Some(full && !d.interactions.is_empty()),
            _ => None,
        }
    }

    /// The dataset stage `st` reads: with its interactions when the stage reads them.
    pub(super) fn data_of(&self, st: &Stage) -> Result<Arc<Dataset>> {
        let key = st.inputs.data()?;
        if !reads_interactions(self.plan, st) {
            return self.data(key);
        }
        if let Some(Loaded::Data(d, true)) = self.recall(key) {
            return Ok(d);
        }
        let d = Arc::new(self.with_entry(key, |dir, _| read_dataset(dir, true))?);
        self.remember(key, Loaded::Data(d.clone(), true));
        Ok(d)
    }

    /// Counts a stage that reads `key`'s output as done (run, cached or failed); after the
    /// last one the memo drops that output, so a long run does not hold every dataset,
    /// split, corpus and model it has passed (their memory goes when no stage holds them).
    fn user_done(&self, key: &str) {
        if count_down(&self.users_left, key) {
            self.memo.lock().expect("memo lock").remove(key);
        }
    }

    /// Counts a reader of `data_key`'s interactions as done (run, cached or failed); after the
    /// last one the memo keeps the dataset without them.
    fn reader_done(&self, data_key: &str) {
        if !count_down(&self.readers_left, data_key) {
            return;
        }
        let mut memo = self.memo.lock().expect("memo lock");
        if let Some(Loaded::Data(d, true)) = memo.remove(data_key) {
            // Without other holders the interactions are freed here; otherwise when the
            // stages that hold the full dataset finish.
            let slim = match Arc::try_unwrap(d) {
                Ok(mut ds) => {
                    ds.interactions = Vec::new();
                    ds
                }
                Err(d) => d.without_interactions(),
            };
            memo.insert(data_key.to_string(), Loaded::Data(Arc::new(slim), false));
        }
    }

    pub(super) fn split(&self, key: &str) -> Result<Arc<Split>> {
        if let Some(Loaded::Split(s)) = self.recall(key) {
            return Ok(s);
        }
        let s = Arc::new(self.with_entry(key, |dir, m| {
            Ok(Split {
                n_users: m.info["n_users"].as_u64().unwrap_or(0) as usize,
                n_items: m.info["n_items"].as_u64().unwrap_or(0) as usize,
                train: art::read_interactions(&dir.join("train.bin"))?,
                valid: art::read_interactions(&dir.join("valid.bin"))?,
                test: art::read_interactions(&dir.join("test.bin"))?,
                candidates: match m.info.get("candidates") {
                    Some(Value::Array(c)) => {
                        Some(c.iter().map(|v| v.as_u64().map(|x| x as u32).ok_or_else(|| anyhow!("a candidate is not an item index"))).collect::<Result<_>>()?)
                    }
                    _ => None,
                },
            })
        })?);
        self.remember(key, Loaded::Split(s.clone()));
        Ok(s)
    }

    fn corpus(&self, key: &str) -> Result<Arc<Corpus>> {
        if let Some(Loaded::Corpus(c)) = self.recall(key) {
            return Ok(c);
        }
        let c = Arc::new(self.with_entry(key, |dir, _| art::read_corpus(&dir.join("corpus.bin")))?);
        self.remember(key, Loaded::Corpus(c.clone()));
        Ok(c)
    }

    /// A train stage's vectors. A model that passes a vectors dataset through stores none:
    /// its entry says `from_data`, and the vectors are the data stage's base and queries, so
    /// a large base (SIFT1M's 512 MB, GIST's 3.8 GB) is cached once, not once per stage.
    pub(super) fn trained(&self, key: &str) -> Result<(Arc<Trained>, f64)> {
        let memo = self.recall(key);
        let (t, seconds) = self.with_entry(key, |dir, m| {
            let t = match memo {
                Some(Loaded::Train(t)) => t,
                _ => {
                    let (items, users) = if m.info["from_data"] == json!(true) {
                        let ds = self.data(self.stage(key)?.inputs.data()?)?;
                        let v = ds.vectors.as_ref().ok_or_else(|| anyhow!("the train stage's vectors are its dataset's, but the dataset holds no vectors"))?;
                        (v.base.clone(), v.queries.clone())
                    } else {
                        (art::read_matrix(&dir.join("items.f32"))?, art::read_matrix(&dir.join("users.f32"))?)
                    };
                    Arc::new(Trained {
                        items,
                        users,
                        metric: serde_json::from_value(m.info["metric"].clone()).unwrap_or_default(),
                        epochs: serde_json::from_value(m.info["epochs"].clone()).unwrap_or_default(),
                        notes: m.info["notes"].as_object().cloned().unwrap_or_default(),
                        checkpoint: None,
                        weights: None,
                    })
                }
            };
            Ok((t, m.seconds))
        })?;
        self.remember(key, Loaded::Train(t.clone()));
        Ok((t, seconds))
    }

    /// A cached dataset (for [`super::serve`]).
    pub(super) fn load_data(&self, key: &str) -> Result<Arc<Dataset>> {
        self.data(key)
    }

    /// A cached split.
    pub(super) fn load_split(&self, key: &str) -> Result<Arc<Split>> {
        self.split(key)
    }

    /// Cached vectors.
    pub(super) fn load_trained(&self, key: &str) -> Result<Arc<Trained>> {
        Ok(self.trained(key)?.0)
    }

    /// A cached index with `search` parameters applied.
    pub(super) fn load_index(&self, key: &str, search: &Value) -> Result<Box<dyn AnnIndex>> {
        let irun = self.run_of(self.stage(key)?);
        self.with_entry(key, |dir, _| {
            let mut index = (irun.index.kind.load)(&irun.index.build, dir)?;
            index.set_search_params(search)?;
            Ok(index)
        })
    }

    /// The eval summary of a finished eval stage.
    pub fn eval_summary(&self, key: &str) -> Result<Arc<EvalSummary>> {
        if let Some(Loaded::Eval(e)) = self.recall(key) {
            return Ok(e);
        }
        let e: Arc<EvalSummary> = Arc::new(self.with_entry(key, |dir, _| art::read_json(&dir.join("summary.json")))?);
        self.remember(key, Loaded::Eval(e.clone()));
        Ok(e)
    }

    /// Runs (or finds cached) one stage.
    pub fn execute(&self, node: NodeIndex) -> Result<Outcome> {
        let st = &self.plan.graph[node];
        self.running.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.started.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let mut out = self.execute_stage(st);
        self.running.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        if st.kind == StageKind::Data && out.is_ok() {
            if let Err(e) = self.check_columns(&st.key) {
                out = Err(e);
            }
        }
        if reads_interactions(self.plan, st) {
            if let Ok(d) = st.inputs.data() {
                self.reader_done(d);
            }
        }
        for u in &st.upstream {
            self.user_done(u);
        }
        out
    }

    fn execute_stage(&self, st: &Stage) -> Result<Outcome> {
        if st.kind == StageKind::Report {
            let t = Instant::now();
            self.write_report(st.run.experiment)?;
            return Ok(Outcome::Ran { seconds: t.elapsed().as_secs_f64(), peak_rss_bytes: None });
        }
        let cache = self.cache_of(st);
        let forced = self.forced(st);
        if !forced {
            let _read = cache.lock_shared(st.kind.name(), &st.key)?;
            if cache.lookup(st.kind.name(), &st.key).is_some() {
                return Ok(Outcome::Cached);
            }
        }
        // Computing holds the entry's exclusive lock: another process that wants the same
        // entry waits here and then finds it done. With `--force`, an entry that another
        // process finished while this one waited (its manifest changed) is as fresh as one
        // this process would compute, so it is reused.
        let before = cache.manifest_digest(st.kind.name(), &st.key);
        let _compute = cache.lock_exclusive(st.kind.name(), &st.key)?;
        if cache.lookup(st.kind.name(), &st.key).is_some() && (!forced || cache.manifest_digest(st.kind.name(), &st.key) != before) {
            return Ok(Outcome::Cached);
        }
        let mut manifest = new_manifest(st.kind.name(), &st.key, &st.label, st.config.clone(), st.upstream.clone(), 1);
        let run = self.run_of(st);
        let exp = &self.plan.experiments[st.run.experiment];
        let t = Instant::now();
        let window = crate::memory::Window::open();
        let what = || format!("{} stage `{}`", st.kind.name(), st.label);
        match st.kind {
            StageKind::Data => {
                let mut ds = (run.dataset.kind.load)(&run.dataset.params, &exp.data_dir)?;
                if ds.graph.is_some() && !run.dataset.filter.is_noop() {
                    anyhow::bail!("min_rating / k_core filters do not apply to a graph dataset (they would renumber its nodes)");
                }
                // A vectors dataset has no interactions to filter (the config refuses filters
                // on it): its queries and base vectors are the whole dataset.
                if ds.vectors.is_none() {
                    ds = filter::apply(ds, &run.dataset.filter);
                    if ds.interactions.is_empty() {
                        anyhow::bail!("the dataset is empty after filtering ({}); relax min_rating / k_core", run.dataset.filter.describe());
                    }
                }
                let ds = Arc::new(ds);
                let d2 = ds.clone();
                (manifest.seconds, manifest.peak_rss_bytes) = (t.elapsed().as_secs_f64(), window.peak());
                cache.store(manifest, move |dir| write_dataset(dir, &d2)).with_context(what)?;
                self.remember(&st.key, Loaded::Data(ds, true));
            }
            StageKind::Split => {
                let ds = self.data_of(st)?;
                let s = Arc::new((run.split.kind.apply)(&run.split.params, &ds)?);
                // Graph tasks may hold nothing out (split `none`, node classification).
                if s.test.is_empty() && run.metrics.task.has("retrieval") {
                    anyhow::bail!("the {} split left no test interactions: {}", run.split.kind.kind, why_no_test(&ds));
                }
                let s2 = s.clone();
                (manifest.seconds, manifest.peak_rss_bytes) = (t.elapsed().as_secs_f64(), window.peak());
                cache
                    .store(manifest, move |dir| {
                        art::write_interactions(&dir.join("train.bin"), &s2.train)?;
                        art::write_interactions(&dir.join("valid.bin"), &s2.valid)?;
                        art::write_interactions(&dir.join("test.bin"), &s2.test)?;
                        let mut info =
                            json!({"n_users": s2.n_users, "n_items": s2.n_items, "train": s2.train.len(), "valid": s2.valid.len(), "test": s2.test.len()});
                        if let Some(c) = &s2.candidates {
                            info["candidates"] = json!(c);
                        }
                        Ok(info)
                    })
                    .with_context(what)?;
                self.remember(&st.key, Loaded::Split(s));
            }
            StageKind::Corpus => {
                let split = self.split(st.inputs.split()?)?;
                let ds = self.data_of(st)?;
                let c = Arc::new(run.model.model.build_corpus(&ds, &split, run.seed)?);
                c.validate()?;
                let c2 = c.clone();
                (manifest.seconds, manifest.peak_rss_bytes) = (t.elapsed().as_secs_f64(), window.peak());
                cache
                    .store(manifest, move |dir| {
                        art::write_corpus(&dir.join("corpus.bin"), &c2)?;
                        Ok(json!({"sequences": c2.len(), "tokens": c2.tokens.len(), "vocab": c2.vocab_size}))
                    })
                    .with_context(what)?;
                self.remember(&st.key, Loaded::Corpus(c));
            }
            StageKind::Train => {
                let split = self.split(st.inputs.split()?)?;
                let ds = self.data_of(st)?;
                let corpus = match &st.inputs.corpus {
                    Some(k) => Some(self.corpus(k)?),
                    None => None,
                };
                // A rung goes on from the previous rung's checkpoint when it is cached.
                let resumed = match run.resume_from {
                    Some(e) if run.model.model.epoch_key().is_some() => {
                        let at = RunSpec { stop_epoch: Some(e), resume_from: None, ..run.clone() };
                        super::checkpoint::read(cache, &super::run_keys(exp, &at)?.train)?
                    }
                    _ => None,
                };
                let input = TrainInput {
                    dataset: &ds,
                    split: &split,
                    corpus: corpus.as_deref(),
                    seed: run.seed,
                    progress: self.progress,
                    sampler: run.sampler.as_ref(),
                    resume: resumed.as_ref().map(|(c, _)| c),
                    stop_epoch: run.stop_epoch,
                };
                let mut trained = run.model.model.fit(&input).with_context(what)?;
                let resumed_from = input.resume.map(|c| c.epoch);
                if let Some((_, mut before)) = resumed {
                    before.append(&mut trained.epochs);
                    trained.epochs = before;
                }
                // The checkpoint goes to the cache only: the vectors stay in memory for the
                // index and eval stages, the model state (as large again) does not.
                let (checkpoint, weights) = (trained.checkpoint.take(), trained.weights.take());
                let trained = Arc::new(trained);
                check_trained(&trained, &split, run.model.model.learns_embeddings()).with_context(what)?;
                let t2 = trained.clone();
                // A vectors dataset's own vectors stay in its data stage only (see `trained`).
                let from_data = run.model.model.passes_vectors_through();
                (manifest.seconds, manifest.peak_rss_bytes) = (t.elapsed().as_secs_f64(), window.peak());
                cache
                    .store(manifest, move |dir| {
                        let mut info = json!({"metric": t2.metric, "epochs": t2.epochs, "notes": t2.notes, "dim": t2.items.cols});
                        if from_data {
                            info["from_data"] = json!(true);
                        } else {
                            art::write_matrix(&dir.join("items.f32"), &t2.items)?;
                            art::write_matrix(&dir.join("users.f32"), &t2.users)?;
                        }
                        if let Some(c) = &checkpoint {
                            info["checkpoint"] = super::checkpoint::write(dir, c)?;
                        }
                        if let Some(w) = &weights {
                            info["weights"] = super::checkpoint::write_weights(dir, w)?;
                        }
                        if let Some(e) = resumed_from {
                            info["resumed_from_epoch"] = json!(e);
                        }
                        Ok(info)
                    })
                    .with_context(what)?;
                self.remember(&st.key, Loaded::Train(trained));
            }
            StageKind::Index => {
                let (trained, _) = self.trained(st.inputs.train()?)?;
                let metric = run.index.metric.unwrap_or(trained.metric);
                let index = (run.index.kind.build)(&run.index.build, &trained.items, metric, run.seed).with_context(what)?;
                (manifest.seconds, manifest.peak_rss_bytes) = (t.elapsed().as_secs_f64(), window.peak());
                cache
                    .store(manifest, |dir| {
                        index.save(dir)?;
                        Ok(json!({"bytes": index.memory_bytes(), "metric": metric, "len": index.len()}))
                    })
                    .with_context(what)?;
            }
            StageKind::Eval => {
                use std::sync::atomic::Ordering::SeqCst;
                let (alone, starts) = (self.running.load(SeqCst) == 1, self.started.load(SeqCst));
                let mut out = self.evaluate(st, run).with_context(what)?;
                out.summary.latency.contended = !(alone && self.running.load(SeqCst) == 1 && self.started.load(SeqCst) == starts);
                let summary = Arc::new(out.summary);
                let s2 = summary.clone();
                (manifest.seconds, manifest.peak_rss_bytes) = (t.elapsed().as_secs_f64(), window.peak());
                cache
                    .store(manifest, move |dir| {
                        art::write_json(&dir.join("summary.json"), &*s2)?;
                        out.per_user.write_parquet(&dir.join("per_user.parquet"))?;
                        std::fs::create_dir(dir.join("files"))?;
                        for (name, bytes) in &out.files {
                            let p = dir.join("files").join(name);
                            std::fs::write(&p, bytes).with_context(|| format!("cannot write `{}`", p.display()))?;
                        }
                        Ok(json!({"users": s2.users, "files": out.files.keys().collect::<Vec<_>>()}))
                    })
                    .with_context(what)?;
                self.remember(&st.key, Loaded::Eval(summary));
            }
            StageKind::Report => unreachable!("handled above"),
        }
        Ok(Outcome::Ran { seconds: t.elapsed().as_secs_f64(), peak_rss_bytes: window.peak() })
    }
}

/// Takes one off `key`'s count; true when that made it zero.
fn count_down(counts: &Mutex<HashMap<String, usize>>, key: &str) -> bool {
    let mut counts = counts.lock().expect("counts lock");
    match counts.get_mut(key) {
        Some(n) if *n > 0 => {
            *n -= 1;
            *n == 0
        }
        _ => false,
    }
}

/// Whether a stage reads its dataset's interactions: splits do, and evaluations with a task
/// that does.
fn reads_interactions(plan: &Plan, st: &Stage) -> bool {
    match st.kind {
        StageKind::Split => true,
        StageKind::Eval => {
            let run = &plan.experiments[st.run.experiment].runs[st.run.run];
            run.metrics.task.0.iter().any(|t| eval::lookup(t).is_some_and(|t| t.reads_interactions()))
        }
        _ => false,
    }
}
