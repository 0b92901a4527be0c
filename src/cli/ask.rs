//! `runner recommend`, `runner similar` and `runner export`: one run of a config, chosen by
//! model, point and seed, answered from its cached vectors and index.

use super::{exit_on_interrupt, print_config_errors, AskArgs, ExportArgs, RunChoice};
use crate::config::{self, Experiment, RunSpec};
use crate::index::Metric;
use crate::models::BadQuestion;
use crate::pipeline::serve::{Question, Served, SimilarBy};
use crate::pipeline::{self, stages::Executor};
use std::path::{Path, PathBuf};

/// The experiment with each searched model's tuned runs, its search replayed from the cache
/// without computing anything; the searches that are not finished there are errors (their
/// models have no runs).
pub(super) fn replay_searches(exp: Experiment) -> (Experiment, Vec<anyhow::Error>) {
    if exp.searches.is_empty() {
        return (exp, Vec::new());
    }
    let opts = crate::search::study::Options { jobs: 1, force: false, progress: false, log: &|_| {}, mode: crate::search::study::Mode::CachedOnly };
    let (mut exps, errors) = crate::search::tune(vec![exp], &opts);
    (exps.remove(0), errors)
}

/// Loads the config and picks the run: Ok((plan, experiment index, run index)).
pub(super) fn choose(c: &RunChoice) -> Result<(pipeline::Plan, usize), i32> {
    let exp = match config::load(&c.config, &c.set) {
        Ok(e) => e,
        Err(e) => {
            print_config_errors(&[e]);
            return Err(2);
        }
    };
    let searched: Vec<String> = exp.searches.iter().map(|s| s.name.clone()).collect();
    let (exp, search_errors) = replay_searches(exp);
    let runs = &exp.runs;
    if runs.is_empty() {
        for e in &search_errors {
            eprintln!("error: {e:#}");
        }
        return Err(1);
    }
    let model = c.model.clone().unwrap_or_else(|| default_model(runs).to_string());
    // A `--point` given by some of its values may name several points: say which.
    if let Some(p) = &c.point {
        let mut matching: Vec<&str> = Vec::new();
        for r in runs.iter().filter(|r| r.model.name == model && config::sweep::point_matches(p, &r.point_id, &r.point_name, &r.overrides)) {
            if !matching.contains(&r.point_name.as_str()) {
                matching.push(&r.point_name);
            }
        }
        if matching.len() > 1 {
            eprintln!(
                "error: {}: `--point {p}` matches {} points of `{model}`: {}; give more of the values",
                c.config.display(),
                matching.len(),
                matching.join("; ")
            );
            return Err(2);
        }
    }
    let pick = runs.iter().position(|r| {
        r.model.name == model
            && c.point.as_ref().is_none_or(|p| config::sweep::point_matches(p, &r.point_id, &r.point_name, &r.overrides))
            && c.seed.is_none_or(|s| r.seed == s)
    });
    let Some(ri) = pick else {
        // A searched model has runs only once its search is in the cache: like a run that
        // is not cached, that is a failure to answer (1), not a wrong question (2).
        if searched.contains(&model) && !search_errors.is_empty() {
            for e in &search_errors {
                eprintln!("error: {e:#}");
            }
            return Err(1);
        }
        let names = distinct(runs.iter().map(|r| r.model.name.as_str())).join(", ");
        let points = distinct(runs.iter().filter(|r| r.model.name == model).map(|r| r.point_name.as_str())).join("; ");
        let seeds = exp.section.seeds.iter().map(u64::to_string).collect::<Vec<_>>().join(", ");
        if points.is_empty() {
            eprintln!("error: {}: no model is named `{model}` (models: {names})", c.config.display());
        } else {
            let asked: Vec<String> = c.point.iter().map(|p| format!("point {p}")).chain(c.seed.map(|s| format!("seed {s}"))).collect();
            eprintln!(
                "error: {}: model `{model}` has no run at {} (models: {names}; points of `{model}`: {points}; seeds: {seeds})",
                c.config.display(),
                asked.join(" and ")
            );
        }
        return Err(2);
    };
    say_choice(c, runs, ri);
    match pipeline::plan(vec![exp]) {
        Ok(p) => Ok((p, ri)),
        Err(e) => {
            eprintln!("error: {e:#}");
            Err(2)
        }
    }
}

/// The model `recommend`, `similar` and `export` use when `--model` is not given: the first
/// model of the config that is not a reference baseline ([`crate::models::Model::is_reference`]:
/// popularity, random), else the first model. Configs list the baselines first, and the
/// first model was popularity: the same list for every user and no item similarity at all,
/// an answer nobody asked for. A gensim or implicit user asks `most_similar`, `similar_items`
/// or `recommend` of the model they trained, so that is the model taken; the choice is said
/// on stderr ([`say_choice`]), and `--model` makes it explicit. Refusing without `--model`
/// was the alternative: it would make the common config (one model studied beside its
/// baselines) answer nothing until the name is typed.
fn default_model(runs: &[RunSpec]) -> &str {
    runs.iter().find(|r| !r.model.model.is_reference()).or(runs.first()).map_or("", |r| r.model.name.as_str())
}

/// Each distinct value once, in run order (a global sweep interleaves the models, and every
/// point repeats once per seed).
fn distinct<T: PartialEq>(values: impl Iterator<Item = T>) -> Vec<T> {
    let mut seen = Vec::new();
    for v in values {
        if !seen.contains(&v) {
            seen.push(v);
        }
    }
    seen
}

/// Says on stderr, in one line and before any answer, which run was taken where the command
/// line left a choice open: each of model, point and seed that was not given and had more
/// than one value, with the values there were and the flags that choose. Nothing when
/// nothing was chosen for the user (the answer's header names the run either way), so a
/// script that names its run gets a quiet stderr.
fn say_choice(c: &RunChoice, runs: &[RunSpec], ri: usize) {
    let run = &runs[ri];
    let esc = crate::term::escape_controls;
    // Point names hold commas (`dim=64,window=5`): points are listed with `; `, as errors do.
    let list = |v: &[String], sep: &str| v.iter().map(|x| esc(x)).collect::<Vec<_>>().join(sep);
    let mut parts = Vec::new();
    let mut flags = Vec::new();
    let models = distinct(runs.iter().map(|r| r.model.name.clone()));
    if c.model.is_none() && models.len() > 1 {
        let why = if run.model.name == models[0] { "the first" } else { "the first that is not a baseline" };
        parts.push(format!("model {} of {} ({}; {why})", esc(&run.model.name), models.len(), list(&models, ", ")));
        flags.push("--model NAME");
    }
    let of_model = || runs.iter().filter(|r| r.model.name == run.model.name);
    let points = distinct(of_model().map(|r| r.point_name.clone()));
    if c.point.is_none() && points.len() > 1 {
        parts.push(format!("point {} of {} ({}; the first)", esc(&run.point_name), points.len(), list(&points, "; ")));
        flags.push("--point P");
    }
    let seeds = distinct(of_model().filter(|r| r.point_id == run.point_id).map(|r| r.seed.to_string()));
    if c.seed.is_none() && seeds.len() > 1 {
        parts.push(format!("seed {} of {} ({}; the first)", run.seed, seeds.len(), seeds.join(", ")));
        flags.push("--seed S");
    }
    if !parts.is_empty() {
        eprintln!("using {} [{} seed {}]: {}; choose with {}", esc(&run.model.name), esc(&run.point_name), run.seed, parts.join(", "), flags.join(" "));
    }
}

/// What a metric ranks by, and how its score of two vectors begins ("the cosine of").
fn metric_words(m: Metric) -> (&'static str, &'static str) {
    match m {
        Metric::Ip => ("inner product", "the inner product of"),
        Metric::Cos => ("cosine similarity", "the cosine of"),
        Metric::L2 => ("Euclidean distance", "minus the squared Euclidean distance between"),
    }
}

/// `(the run's hnsw index, approximate)`: whether an answer through the index is exact.
fn through_index(served: &Served) -> String {
    let kind = served.index_kind;
    format!("(the run's {} index, {})", kind.kind, if kind.exact { "exact" } else { "approximate" })
}

/// The header line of `recommend`'s answers: whom they are for, what ranks them, what the
/// score column is and which run answered.
fn recommend_header(served: &Served, user: &str) -> String {
    let esc = crate::term::escape_controls;
    let (by, score) = if served.scores_items {
        (format!("{}'s score", served.model_kind), "the model's score for the user's training items".to_string())
    } else {
        let (name, score_of) = metric_words(served.index.metric());
        (name.to_string(), format!("{score_of} the user's query vector and the item's vector"))
    };
    format!(
        "# recommended for {} by {by} {}; score = {score}; left out: items the user had and items without a trained vector; model {}",
        esc(user),
        through_index(served),
        esc(&served.label)
    )
}

/// The header line of `similar`'s answers: the item asked about, what ranks the others, what
/// the score column is and which run answered.
fn similar_header(served: &Served, item: &crate::pipeline::serve::Answer, by: SimilarBy) -> String {
    let esc = crate::term::escape_controls;
    let asked = match &item.title {
        Some(t) => format!("\"{}\" ({})", esc(t), esc(&item.item)),
        None => format!("item {}", esc(&item.item)),
    };
    let (by, score) = match by {
        SimilarBy::ModelScore => {
            (format!("{}'s item-item score {}", served.model_kind, through_index(served)), "the model's score for a user who had only this item".to_string())
        }
        SimilarBy::Index(m) | SimilarBy::Exact(m) => {
            let (name, score_of) = metric_words(m);
            let how = if matches!(by, SimilarBy::Index(_)) { through_index(served) } else { "(exact, over every trained item)".into() };
            (format!("{name} {how}"), format!("{score_of} the two items' vectors"))
        }
    };
    format!("# items nearest to {asked} by {by}; score = {score}; model {}", esc(&served.label))
}

pub(super) fn ask(args: AskArgs, recommend: bool) -> i32 {
    if recommend && args.metric.is_some() {
        eprintln!("error: --metric is for `similar`; `recommend` ranks by the run's index, as its evaluation did");
        return 2;
    }
    let (plan, ri) = match choose(&args.run) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let exec = Executor::new(&plan, false, false);
    let t = std::time::Instant::now();
    let served = match exec.serve(0, ri) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e:#}");
            return 1;
        }
    };
    let loaded = t.elapsed();
    let t = std::time::Instant::now();
    if !recommend && (args.history.is_some() || args.features.is_some()) {
        eprintln!("error: --history and --features are for `recommend`");
        return 2;
    }
    let features = match args.features.as_deref().map(parse_features).transpose() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: --features: {e}");
            return 2;
        }
    };
    let (what, answers, history) = match (recommend, &args.user, &args.item) {
        (true, u, _) if args.history.is_some() || features.is_some() => {
            let h = args.history.as_deref();
            let mut parts: Vec<String> = u.iter().map(|u| format!("user {u}")).collect();
            parts.extend(h.map(|h| format!("the history {}", h.join(","))));
            parts.extend(args.features.iter().map(|f| format!("the features {f}")));
            let q = Question { user: u.as_deref(), history: h, features: features.as_ref() };
            let header = recommend_header(&served, &parts.join(" with "));
            (parts.join(" with "), served.answer(&q, args.k, &[], &[]).map(|(_, a)| (header, a)), Ok(Vec::new()))
        }
        (true, Some(u), _) => {
            (format!("user {u}"), served.recommend(u, args.k).map(|a| (recommend_header(&served, &format!("user {u}")), a)), served.history(u))
        }
        (false, _, Some(i)) => {
            let by = match served.similar_by(args.metric) {
                Ok(by) => by,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    return 2;
                }
            };
            (format!("item {i}"), served.similar(i, args.k, by).map(|s| (similar_header(&served, &s.item, by), s.answers)), Ok(Vec::new()))
        }
        (true, None, _) => {
            eprintln!("error: recommend needs --user ID, --history ID,ID,... or --features NAME=VALUE,...");
            return 2;
        }
        (false, _, None) => {
            eprintln!("error: similar needs --item ID");
            return 2;
        }
    };
    // An id that is not in the dataset is a wrong request (2, like an unknown model, point
    // or seed); anything else that fails here is 1.
    let unknown = match (&args.user, &args.item) {
        (u, _) if recommend => {
            u.as_ref().is_some_and(|u| served.dataset.users.get(u).is_none()) || args.history.iter().flatten().any(|i| served.dataset.items.get(i).is_none())
        }
        (_, Some(i)) if !recommend => served.dataset.items.get(i).is_none(),
        _ => false,
    };
    let ((header, answers), history) = match (answers, history) {
        (Ok(a), Ok(h)) => (a, h),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e:#}");
            return if unknown || e.downcast_ref::<BadQuestion>().is_some() { 2 } else { 1 };
        }
    };
    let asked = t.elapsed();
    // Ids and titles come from data files: control characters are shown escaped.
    let esc = crate::term::escape_controls;
    let title = |t: &Option<String>| esc(t.as_deref().unwrap_or_default());
    let what = esc(&what);
    if !history.is_empty() {
        crate::say!("{what} had (most recent last):");
        for h in history.iter().rev().take(10).rev() {
            crate::say!("  {:<12} {}", esc(&h.item), title(&h.title));
        }
    }
    crate::say!("{header}");
    crate::say!("rank {:<12} {:>9}  title", "id", "score");
    for (rank, a) in answers.iter().enumerate() {
        crate::say!("{:>3}. {:<12} {:>9.4}  {}", rank + 1, esc(&a.item), a.score, title(&a.title));
    }
    eprintln!("(loaded from the cache in {:.0} ms, answered in {:.2} ms)", loaded.as_secs_f64() * 1e3, asked.as_secs_f64() * 1e3);
    0
}

/// `--features`: a JSON object, or `name=value` pairs separated by commas, a value a number
/// where it parses as one.
fn parse_features(s: &str) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    if s.trim_start().starts_with('{') {
        return serde_json::from_str(s).map_err(|e| format!("not a JSON object: {e}"));
    }
    let mut m = serde_json::Map::new();
    for pair in s.split(',').filter(|p| !p.trim().is_empty()) {
        let Some((k, v)) = pair.split_once('=') else { return Err(format!("`{pair}` is not NAME=VALUE")) };
        let v = v.trim();
        // Parsed as JSON, so `5` stays the integer 5 (a zip prefix), not 5.0.
        let value = match serde_json::from_str::<serde_json::Number>(v).ok() {
            Some(n) => serde_json::Value::Number(n),
            None => serde_json::Value::String(v.to_string()),
        };
        m.insert(k.trim().to_string(), value);
    }
    Ok(m)
}

pub(super) fn export(args: ExportArgs) -> i32 {
    if !["npy", "parquet", "word2vec"].contains(&args.format.as_str()) {
        let hint =
            crate::params::nearest(&args.format, ["npy", "parquet", "word2vec"].into_iter()).map(|n| format!("did you mean `{n}`? ")).unwrap_or_default();
        eprintln!("error: unknown export format `{}`; {hint}formats: npy, parquet, word2vec", crate::term::escape_controls(&args.format));
        return 2;
    }
    let (plan, ri) = match choose(&args.run) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let exec = Executor::new(&plan, false, false);
    let served = match exec.serve(0, ri) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e:#}");
            return 1;
        }
    };
    let exp = &plan.experiments[0];
    let run = &exp.runs[ri];
    let default_stem = format!("{}-{}-{}", run.model.name, run.point_id, run.seed);
    // A folder means inside it (`--out /`, `--out dir/`); else the last part is the stem.
    let (dir, stem) = match &args.out {
        None => (exp.section.results_dir.join(&exp.section.name).join("export"), default_stem),
        Some(o) if o.is_dir() || o.as_os_str().to_string_lossy().ends_with('/') || o.file_name().is_none() => (o.clone(), default_stem),
        Some(o) => (
            o.parent().filter(|p| !p.as_os_str().is_empty()).map_or_else(|| PathBuf::from("."), Path::to_path_buf),
            o.file_name().unwrap().to_string_lossy().to_string(),
        ),
    };
    // Every file is written under a temporary name, then all replace the old ones together:
    // an interrupt or a full disk leaves the previous export whole.
    let commits = crate::interrupt::commits();
    exit_on_interrupt(move |_| {
        if crate::interrupt::commits() > commits {
            "the export had already been written in full".into()
        } else {
            "the export was not written; any previous export is unchanged".into()
        }
    });
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut notes = Vec::new();
    for (side, vectors, ids) in [("items", &served.trained.items, served.dataset.items.raws()), ("users", &served.trained.users, served.dataset.users.raws())] {
        match pipeline::serve::encode(vectors, ids, &args.format) {
            Ok(encoded) => files.extend(encoded.into_iter().map(|(suffix, bytes)| (format!("{stem}.{side}.{suffix}"), bytes))),
            Err(e) => {
                eprintln!("error: {e:#}");
                return 1;
            }
        }
        // Rows of zeros are no vectors (an item without a training interaction, a user
        // without history): say how many, and list their ids beside the vectors (JSON, so
        // any id survives), rather than let them pass as embeddings.
        if !served.scores_items {
            let untrained: Vec<&str> = crate::index::common::untrained_rows(vectors).into_iter().map(|r| ids[r as usize].as_str()).collect();
            if !untrained.is_empty() {
                let name = format!("{stem}.{side}.untrained.json");
                notes.push(format!("{} of {} {side} have no trained vector (their rows are zeros); their ids: {name}", untrained.len(), vectors.rows));
                files.push((name, serde_json::to_vec(&untrained).unwrap_or_default()));
            }
        }
    }
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("error: cannot create `{}`: {e}", dir.display());
        return 1;
    }
    if let Err(e) = crate::interrupt::write_set(&dir, &files) {
        eprintln!("error: {e:#}");
        return 1;
    }
    for (name, _) in &files {
        crate::say!("{}", dir.join(name).display());
    }
    for n in &notes {
        eprintln!("note: {n}");
    }
    0
}
