//! The stage DAG: every run of every config file is turned into stages
//! (data -> split -> corpus -> train -> index -> eval -> report) keyed by the hash of the config
//! that affects them, de-duplicated by key, and executed in dependency order.

pub mod artifacts;
pub mod cache;
pub mod checkpoint;
mod checks;
pub mod dag;
mod dataset_entry;
pub mod evaluate;
pub mod key;
pub mod progress;
mod rows;
pub mod serve;
pub mod slurm;
pub mod stages;
pub mod validation;

use crate::config::{Experiment, RunSpec};
use key::stage_key;
use petgraph::graph::{DiGraph, NodeIndex};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::PathBuf;

/// Stage kinds in pipeline order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StageKind {
    Data,
    Split,
    Corpus,
    Train,
    Index,
    Eval,
    Report,
}

impl StageKind {
    pub fn name(self) -> &'static str {
        match self {
            StageKind::Data => "data",
            StageKind::Split => "split",
            StageKind::Corpus => "corpus",
            StageKind::Train => "train",
            StageKind::Index => "index",
            StageKind::Eval => "eval",
            StageKind::Report => "report",
        }
    }
}

/// Code versions of the pipeline's own stages; bump to invalidate their cache entries.
pub const DATA_VERSION: u32 = 1;
pub const SPLIT_VERSION: u32 = 1;
pub const CORPUS_VERSION: u32 = 1;
pub const TRAIN_VERSION: u32 = 1;
pub const INDEX_VERSION: u32 = 1;
pub const EVAL_VERSION: u32 = 1;

/// One node of the DAG.
#[derive(Clone)]
pub struct Stage {
    pub kind: StageKind,
    pub key: String,
    pub label: String,
    /// The config slice hashed into the key (kept in the manifest).
    pub config: Value,
    /// The keys of the stages this one reads, by role.
    pub inputs: Inputs,
    /// The same keys as a list (edges of the DAG, the manifest's `upstream`).
    pub upstream: Vec<String>,
    /// The run this stage was first created for (its inputs are read from it).
    pub run: RunRef,
}

/// The upstream stages a stage reads, by role; each stage kind fills the ones it needs.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    pub data: Option<String>,
    pub split: Option<String>,
    pub corpus: Option<String>,
    pub train: Option<String>,
    pub index: Option<String>,
}

impl Inputs {
    /// The keys in a fixed order: data, split, corpus, train, index.
    pub fn keys(&self) -> Vec<String> {
        [&self.data, &self.split, &self.corpus, &self.train, &self.index].into_iter().flatten().cloned().collect()
    }

    fn need<'a>(&'a self, key: &'a Option<String>, role: &str) -> anyhow::Result<&'a str> {
        key.as_deref().ok_or_else(|| anyhow::anyhow!("internal: the stage has no {role} input"))
    }
    pub fn data(&self) -> anyhow::Result<&str> {
        self.need(&self.data, "data")
    }
    pub fn split(&self) -> anyhow::Result<&str> {
        self.need(&self.split, "split")
    }
    pub fn train(&self) -> anyhow::Result<&str> {
        self.need(&self.train, "train")
    }
    pub fn index(&self) -> anyhow::Result<&str> {
        self.need(&self.index, "index")
    }
}

/// Where a run lives: experiment and run index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunRef {
    pub experiment: usize,
    pub run: usize,
}

/// Keys of the stages of one run.
#[derive(Clone, Debug, Default)]
pub struct RunKeys {
    pub data: String,
    pub split: String,
    pub corpus: Option<String>,
    pub train: String,
    pub index: String,
    pub eval: String,
}

/// The whole plan: experiments, the DAG and each run's stage keys.
pub struct Plan {
    pub experiments: Vec<Experiment>,
    pub graph: DiGraph<Stage, ()>,
    pub by_key: HashMap<String, NodeIndex>,
    pub run_keys: Vec<Vec<RunKeys>>,
    /// Report node of each experiment.
    pub reports: Vec<NodeIndex>,
}

fn resolved_data_dir(e: &Experiment) -> PathBuf {
    e.data_dir.clone()
}

/// Computes every run's stage keys (no I/O except fingerprinting input files).
pub fn run_keys(exp: &Experiment, run: &RunSpec) -> anyhow::Result<RunKeys> {
    let d = &run.dataset;
    let fingerprint = (d.kind.fingerprint)(&d.params, &resolved_data_dir(exp)).map_err(|e| anyhow::anyhow!("{}: [dataset]: {e:#}", exp.file.display()))?;
    let data_cfg = json!({"kind": d.kind.kind, "kind_version": d.kind.version, "params": d.params, "filter": d.filter, "files": fingerprint});
    let data = stage_key("data", DATA_VERSION, &data_cfg, &[]);
    let split_cfg = json!({"kind": run.split.kind.kind, "kind_version": run.split.kind.version, "params": run.split.params});
    let split = stage_key("split", SPLIT_VERSION, &split_cfg, &[&data]);
    let m = &run.model;
    let corpus = m.model.corpus_params().map(|cp| {
        let cfg = json!({"model": m.kind.kind, "model_version": m.kind.version, "corpus": cp, "seed": run.seed});
        stage_key("corpus", CORPUS_VERSION, &cfg, &[&split])
    });
    let seed = m.model.uses_seed().then_some(run.seed);
    let mut train_cfg = json!({"model": m.kind.kind, "model_version": m.kind.version, "params": m.params, "seed": seed, "sampler": if m.model.uses_sampler() { run.sampler.clone() } else { None }});
    // A rung's checkpoint is its own entry; whole trainings keep the keys they had.
    if let Some(e) = run.stop_epoch {
        train_cfg["stop_epoch"] = json!(e);
    }
    let mut ups: Vec<&str> = vec![&split];
    if let Some(c) = &corpus {
        ups.push(c);
    }
    let train = stage_key("train", TRAIN_VERSION, &train_cfg, &ups);
    let i = &run.index;
    let index_cfg = json!({"kind": i.kind.kind, "kind_version": i.kind.version, "build": i.build, "metric": i.metric});
    let index = stage_key("index", INDEX_VERSION, &index_cfg, &[&train]);
    let mut eval_cfg = json!({"search": i.search, "metrics": run.metrics});
    // Only tasks that sample add the seed, so the keys of the others stay as they were.
    if run.metrics.task.0.iter().any(|t| crate::eval::lookup(t).is_some_and(|t| t.uses_seed())) {
        eval_cfg["seed"] = json!(run.seed);
    }
    // A validation eval is its own entry; test evals keep the keys they had before targets.
    if run.target == crate::eval::EvalTarget::Validation {
        eval_cfg["target"] = json!("valid");
    }
    let eval = stage_key("eval", EVAL_VERSION, &eval_cfg, &[&index, &split]);
    Ok(RunKeys { data, split, corpus, train, index, eval })
}

/// Builds the de-duplicated DAG of all runs of all experiments.
pub fn plan(experiments: Vec<Experiment>) -> anyhow::Result<Plan> {
    plan_with(experiments, true)
}

/// [`plan`], with a report stage per experiment only when `reports`: a search's batch of
/// trials is planned without one (its trials are read back as validation summaries, and the
/// experiment's table is written once, from its tuned runs).
pub fn plan_with(experiments: Vec<Experiment>, with_reports: bool) -> anyhow::Result<Plan> {
    let mut graph: DiGraph<Stage, ()> = DiGraph::new();
    let mut by_key: HashMap<String, NodeIndex> = HashMap::new();
    let mut all_keys = Vec::new();
    let mut reports = Vec::new();
    for (ei, exp) in experiments.iter().enumerate() {
        let mut keys_of_exp = Vec::new();
        let mut eval_nodes = Vec::new();
        for (ri, run) in exp.runs.iter().enumerate() {
            let k = run_keys(exp, run)?;
            let r = RunRef { experiment: ei, run: ri };
            let mut add = |kind: StageKind, key: &str, label: String, config: Value, inputs: Inputs| -> NodeIndex {
                if let Some(&n) = by_key.get(key) {
                    return n;
                }
                let upstream = inputs.keys();
                let n = graph.add_node(Stage { kind, key: key.into(), label, config, inputs, upstream: upstream.clone(), run: r });
                for u in &upstream {
                    let un = by_key[u];
                    graph.add_edge(un, n, ());
                }
                by_key.insert(key.into(), n);
                n
            };
            let some = |k: &str| Some(k.to_string());
            let ds = &run.dataset;
            add(
                StageKind::Data,
                &k.data,
                format!("{} dataset", ds.kind.kind),
                json!({"kind": ds.kind.kind, "params": ds.params, "filter": ds.filter}),
                Inputs::default(),
            );
            add(
                StageKind::Split,
                &k.split,
                run.split.kind.kind.to_string(),
                json!({"kind": run.split.kind.kind, "params": run.split.params}),
                Inputs { data: some(&k.data), ..Default::default() },
            );
            let who = match run.stop_epoch {
                Some(e) => format!("{} [{} seed {} epoch {e}]", run.model.name, run.point_name, run.seed),
                None => format!("{} [{} seed {}]", run.model.name, run.point_name, run.seed),
            };
            if let Some(c) = &k.corpus {
                add(
                    StageKind::Corpus,
                    c,
                    format!("corpus for {who}"),
                    json!({"model": run.model.kind.kind, "corpus": run.model.model.corpus_params()}),
                    Inputs { data: some(&k.data), split: some(&k.split), ..Default::default() },
                );
            }
            let mut train_config = json!({"model": run.model.kind.kind, "params": run.model.params, "seed": run.seed, "sampler": run.sampler});
            if let Some(e) = run.stop_epoch {
                train_config["stop_epoch"] = json!(e);
            }
            add(
                StageKind::Train,
                &k.train,
                who.clone(),
                train_config,
                Inputs { data: some(&k.data), split: some(&k.split), corpus: k.corpus.clone(), ..Default::default() },
            );
            add(
                StageKind::Index,
                &k.index,
                format!("{} index for {who}", run.index.kind.kind),
                json!({"kind": run.index.kind.kind, "build": run.index.build, "metric": run.index.metric}),
                Inputs { train: some(&k.train), ..Default::default() },
            );
            let (eval_label, mut eval_config) = (format!("eval {who}"), json!({"search": run.index.search, "metrics": run.metrics}));
            let eval_label = if run.target == crate::eval::EvalTarget::Validation {
                eval_config["target"] = json!("valid");
                format!("validation {eval_label}")
            } else {
                eval_label
            };
            let en = add(
                StageKind::Eval,
                &k.eval,
                eval_label,
                eval_config,
                Inputs { data: some(&k.data), split: some(&k.split), train: some(&k.train), index: some(&k.index), ..Default::default() },
            );
            eval_nodes.push(en);
            keys_of_exp.push(k);
        }
        all_keys.push(keys_of_exp);
        if !with_reports {
            continue;
        }
        let report_key = format!("report-{ei}-{}", exp.section.name);
        let rn = graph.add_node(Stage {
            kind: StageKind::Report,
            key: report_key.clone(),
            label: format!("report {}", exp.section.name),
            config: Value::Null,
            inputs: Inputs::default(),
            upstream: vec![],
            run: RunRef { experiment: ei, run: 0 },
        });
        for en in eval_nodes {
            graph.update_edge(en, rn, ());
        }
        by_key.insert(report_key, rn);
        reports.push(rn);
    }
    Ok(Plan { experiments, graph, by_key, run_keys: all_keys, reports })
}
