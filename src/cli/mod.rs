//! The `runner` command line: a thin layer over the library (ripgrep style).

use crate::config::{self, ConfigError, Experiment};
use crate::pipeline::{self, dag, stages::Executor};
use clap::{Args, Parser, Subcommand};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

#[derive(Parser, Debug)]
#[command(name = "runner", version, about = "Declarative, cached experiments for recommender-system embeddings")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Expand sweeps, run (or reuse) every stage, and write the result tables.
    Run(RunArgs),
    /// Check config files without running anything.
    Validate(ConfigArgs),
    /// List the registered dataset, split, model and index kinds and evaluation tasks.
    Kinds,
    /// Recommend items for a user from a run's cached vectors and index.
    Recommend(AskArgs),
    /// Items nearest to an item, from a run's cached vectors and index.
    Similar(AskArgs),
    /// Write a run's item (and user) vectors with raw ids: npy, parquet or word2vec text.
    Export(ExportArgs),
    /// Render the tables, plots and pages of finished experiments again from the cache,
    /// computing nothing: a results folder of one experiment, or one holding several.
    Report(ReportArgs),
    /// Two finished experiments side by side, with paired tests where the users match.
    Compare(CompareArgs),
    /// Published datasets: list them, or download, verify and unpack them into the data folder.
    #[command(subcommand)]
    Data(DataCommand),
    /// Run one stage of the configs by its key (what a Slurm job runs).
    #[command(hide = true)]
    Stage(StageArgs),
}

#[derive(Subcommand, Debug)]
pub enum DataCommand {
    /// The datasets `fetch` knows, and whether each is in the data folder.
    List(DataDirArg),
    /// Download, check against the published MD5, and unpack to `<data folder>/<name>`;
    /// an interrupted download resumes where it stopped.
    Fetch(FetchArgs),
}

#[derive(Args, Debug)]
pub struct DataDirArg {
    /// The data folder (default: RUNNER_DATA_DIR, else ./data), as configs' data_dir.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct FetchArgs {
    /// Dataset names, e.g. ml-100k ml-1m (see `runner data list`).
    #[arg(required = true)]
    pub names: Vec<String>,
    #[command(flatten)]
    pub dir: DataDirArg,
    /// Base URL of the archives (default: RUNNER_FETCH_MIRROR, else GroupLens).
    #[arg(long)]
    pub mirror: Option<String>,
    /// No progress bar.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// The reference experiment's results folder (results/<experiment>).
    pub a: PathBuf,
    /// The experiment compared with it.
    pub b: PathBuf,
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// results/<experiment> folders, or results folders holding them.
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
}

/// Which run of a config to use: by default the first model, point and seed.
#[derive(Args, Debug)]
pub struct RunChoice {
    /// The experiment spec file (TOML).
    pub config: PathBuf,
    /// Override a config value, as for `run`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// A model's name (default: the first model).
    #[arg(long)]
    pub model: Option<String>,
    /// A sweep point id as the tables show it (default: the model's first point).
    #[arg(long)]
    pub point: Option<String>,
    /// A seed of `experiment.seeds` (default: the first).
    #[arg(long)]
    pub seed: Option<u64>,
}

#[derive(Args, Debug)]
pub struct AskArgs {
    #[command(flatten)]
    pub run: RunChoice,
    /// The user's raw id (recommend).
    #[arg(long)]
    pub user: Option<String>,
    /// The item's raw id (similar).
    #[arg(long)]
    pub item: Option<String>,
    /// How many items.
    #[arg(short, default_value_t = 10)]
    pub k: usize,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    #[command(flatten)]
    pub run: RunChoice,
    /// npy, parquet or word2vec.
    #[arg(long, default_value = "npy")]
    pub format: String,
    /// Output path without extension, or a folder to write into (an existing folder, or a
    /// path ending in `/`); default: results/<experiment>/export/<model>-<point>-<seed>.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ConfigArgs {
    /// Experiment spec files (TOML).
    #[arg(required = true)]
    pub configs: Vec<PathBuf>,
    /// Override a config value, e.g. --set model.0.dim=32 (repeatable; applied last).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Independent stages to run at once.
    #[arg(long, short = 'j', default_value_t = 1)]
    pub jobs: usize,
    /// Print the stage DAG, each stage marked cached or to run, and stop.
    #[arg(long)]
    pub plan: bool,
    /// Recompute every stage even when cached.
    #[arg(long)]
    pub force: bool,
    /// No progress bars or stage log.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Where stages run: `local` (this process) or `slurm` (one cluster job per stage, job
    /// arrays per stage kind). Default: the configs' `[executor] kind`, else local.
    #[arg(long, value_parser = ["local", "slurm"])]
    pub executor: Option<String>,
    /// Slurm: submit the jobs and return; `runner run` again (everything cached) or
    /// `runner report` writes the tables once they finish.
    #[arg(long)]
    pub detach: bool,
    /// Slurm: cancel the submitted jobs when the waiting runner is interrupted.
    #[arg(long)]
    pub cancel_on_exit: bool,
}

/// `runner stage`: what a cluster job runs.
#[derive(Args, Debug)]
pub struct StageArgs {
    /// The stage's key (its inputs must be in the cache).
    #[arg(long)]
    pub key: String,
    #[arg(long)]
    pub force: bool,
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// The configs of the submitting run.
    #[arg(required = true, last = true)]
    pub configs: Vec<PathBuf>,
}

/// Expands glob patterns the shell left alone (quoted, or on Windows).
fn expand_paths(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in paths {
        let s = p.to_string_lossy();
        if s.contains(['*', '?', '[']) {
            if let Ok(g) = glob::glob(&s) {
                let mut found: Vec<PathBuf> = g.filter_map(Result::ok).collect();
                found.sort();
                if !found.is_empty() {
                    out.extend(found);
                    continue;
                }
            }
        }
        out.push(p.clone());
    }
    out
}

fn load_all(args: &ConfigArgs) -> Result<Vec<Experiment>, Vec<ConfigError>> {
    let mut exps = Vec::new();
    let mut errs = Vec::new();
    for p in expand_paths(&args.configs) {
        match config::load(&p, &args.set) {
            Ok(e) => exps.push(e),
            Err(e) => errs.push(e),
        }
    }
    errs.extend(config::check_distinct(&exps));
    if errs.is_empty() {
        Ok(exps)
    } else {
        Err(errs)
    }
}

/// On Ctrl-C / SIGTERM: remove this process's temporary paths (`interrupt::abandon_all`), say
/// `what(removed)`, exit 130.
fn exit_on_interrupt(what: impl Fn(usize) -> String + Send + 'static) {
    let installed = ctrlc::set_handler(move || {
        let removed = crate::interrupt::abandon_all();
        eprintln!("\ninterrupted: {}", what(removed));
        std::process::exit(130);
    });
    if let Err(e) = installed {
        eprintln!("warning: cannot handle Ctrl-C ({e}); an interrupted run may leave unfinished temporary files, removed by the next run");
    }
}

/// Plans the experiments, or prints why not and gives exit code 2.
fn plan_or_exit(exps: Vec<Experiment>) -> Result<pipeline::Plan, i32> {
    pipeline::plan(exps).map_err(|e| {
        eprintln!("error: {e:#}");
        2
    })
}

/// Loads the configs and plans them, or prints the errors and gives exit code 2.
fn load_and_plan(args: &ConfigArgs) -> Result<pipeline::Plan, i32> {
    let exps = load_all(args).map_err(|errs| {
        print_config_errors(&errs);
        2
    })?;
    plan_or_exit(exps)
}

fn print_config_errors(errs: &[ConfigError]) {
    for e in errs {
        eprintln!("error: {e}");
    }
}

/// Runs the CLI and returns the process exit code: 0 success, 1 a stage failed, 2 bad config.
pub fn main() -> i32 {
    let cli = Cli::parse();
    match cli.command {
        Command::Kinds => {
            print_kinds();
            0
        }
        Command::Validate(args) => match load_all(&args) {
            Ok(exps) => {
                for e in &exps {
                    crate::say!("{}: ok ({} runs)", e.file.display(), e.runs.len());
                }
                0
            }
            Err(errs) => {
                print_config_errors(&errs);
                2
            }
        },
        Command::Run(args) => run(args),
        Command::Recommend(args) => ask(args, true),
        Command::Similar(args) => ask(args, false),
        Command::Export(args) => export(args),
        Command::Report(args) => report_again(args),
        Command::Compare(args) => compare(args),
        Command::Data(cmd) => data(cmd),
        Command::Stage(args) => stage(args),
    }
}

/// `runner stage --key K -- CONFIGS`: plans the configs as the submitting run did and runs the
/// one stage. Exit 0 when it is in the cache afterwards, 1 when it failed, 2 for bad configs.
fn stage(args: StageArgs) -> i32 {
    let plan = match plan_holding(&args) {
        Ok(p) => p,
        Err(code) => return code,
    };
    // scancel and time limits send SIGTERM: remove the unfinished entry, as a local run does.
    exit_on_interrupt(|removed| format!("removed {removed} unfinished cache entries"));
    let exec = Executor::new(&plan, args.force, false);
    let label = plan.by_key.get(&args.key).map(|&n| format!("{} stage `{}`", plan.graph[n].kind.name(), plan.graph[n].label)).unwrap_or_default();
    let t = std::time::Instant::now();
    match exec.execute_alone(&args.key) {
        Ok(pipeline::stages::Outcome::Cached) => {
            eprintln!("{label}: already cached");
            0
        }
        Ok(pipeline::stages::Outcome::Ran { seconds, peak_rss_bytes }) => {
            let peak = peak_rss_bytes.map(|b| format!(", peak {}", crate::memory::human(b))).unwrap_or_default();
            eprintln!("{label}: ran in {seconds:.2}s ({:.2}s with planning{peak})", t.elapsed().as_secs_f64());
            0
        }
        Err(e) => {
            eprintln!("error: {label}: {e:#}");
            1
        }
    }
}

/// The plan that holds the stage a job runs: the configs' own, or for a searched model's
/// trial (or tuned run) the plan its search makes, replayed from the cache up to the batch
/// the job belongs to (every earlier batch is cached by then: the search waits for each).
fn plan_holding(args: &StageArgs) -> Result<pipeline::Plan, i32> {
    let cfg = ConfigArgs { configs: args.configs.clone(), set: args.set.clone() };
    let plan = load_and_plan(&cfg)?;
    if plan.by_key.contains_key(&args.key) || plan.experiments.iter().all(|e| e.searches.is_empty()) {
        return Ok(plan);
    }
    let exps = load_all(&cfg).map_err(|errs| {
        print_config_errors(&errs);
        2
    })?;
    let slot = std::sync::Mutex::new(None);
    let mode = crate::search::study::Mode::Find(&args.key, &slot);
    let opts = crate::search::study::Options { jobs: 1, force: false, progress: false, log: &|_| {}, mode };
    let (exps, _) = crate::search::tune(exps, &opts);
    if let Some(p) = slot.into_inner().unwrap_or_default() {
        return Ok(p);
    }
    plan_or_exit(exps)
}

fn data_dir(arg: &DataDirArg) -> PathBuf {
    arg.data_dir.clone().or_else(|| std::env::var_os("RUNNER_DATA_DIR").map(PathBuf::from)).unwrap_or_else(|| PathBuf::from("data"))
}

/// `runner data list | fetch`: exit 0 when every name is there, 1 when a fetch failed, 2 for
/// an unknown name.
fn data(cmd: DataCommand) -> i32 {
    use crate::data::fetch;
    match cmd {
        DataCommand::List(dir) => {
            let root = data_dir(&dir);
            for p in fetch::CATALOGUE {
                let here = if root.join(p.name).exists() { "present" } else { "-" };
                crate::say!("{:<16} {:>7}  {:<8} {}", p.name, p.size, here, p.about);
            }
            crate::say!("data folder: {}", root.display());
            0
        }
        DataCommand::Fetch(args) => {
            if let Some(e) = args.names.iter().find_map(|n| fetch::lookup(n).err()) {
                eprintln!("error: {e}");
                return 2;
            }
            let root = data_dir(&args.dir);
            let mirror = args.mirror.clone().unwrap_or_else(fetch::default_mirror);
            exit_on_interrupt(|_| "the partial download is kept under .fetch/; run the same command again to resume".into());
            let mut code = 0;
            for name in &args.names {
                let dest = root.join(name);
                let bar = fetch::Bar::new(!args.quiet);
                match fetch::fetch(name, &dest, &mirror, &bar) {
                    Ok(fetch::Fetched::Present(p)) => crate::say!("{name}: already in {}", p.display()),
                    Ok(fetch::Fetched::Unpacked(p)) => crate::say!("{name}: downloaded, verified and unpacked into {}", p.display()),
                    Err(e) => {
                        eprintln!("error: {name}: {e:#}");
                        code = 1;
                    }
                }
            }
            code
        }
    }
}

/// Why experiment `ei` cannot be rendered from the cache alone: some evaluation is missing.
fn uncached(exec: &Executor, ei: usize) -> Option<String> {
    let e = &exec.plan.experiments[ei];
    let missing = exec.plan.run_keys[ei].iter().filter(|k| !exec.caches[ei].peek("eval", &k.eval) && exec.failure(&k.eval).is_none()).count();
    (missing > 0)
        .then(|| format!("{missing} of {} evaluations of `{}` are not cached; run `runner run {}` first", e.runs.len(), e.section.name, e.file.display()))
}

/// Loads the experiment a results folder's `run.json` names, writing to that folder (not to
/// the config's `results/<name>`: the folder may have been moved to an archive).
fn experiment_of(dir: &std::path::Path) -> Result<Experiment, String> {
    let f = dir.join("run.json");
    let text = std::fs::read_to_string(&f).map_err(|e| format!("`{}`: {e} (a results folder written by `runner run` holds it)", f.display()))?;
    let spec: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("`{}`: {e}", f.display()))?;
    let cfg = PathBuf::from(spec["config"].as_str().unwrap_or(""));
    let sets: Vec<String> = spec["sets"].as_array().into_iter().flatten().filter_map(|s| s.as_str().map(str::to_string)).collect();
    let mut exp = config::load(&cfg, &sets).map_err(|e| format!("`{}` names a config that no longer loads: {e}", f.display()))?;
    if let Some(name) = dir.file_name().and_then(|n| n.to_str()) {
        exp.section.name = name.to_string();
        exp.section.results_dir = dir.parent().filter(|p| !p.as_os_str().is_empty()).map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    }
    Ok(exp)
}

/// The runs whose stage failed when the folder's table was written: `results.json` keeps
/// each failed row with its eval key and error, and no rerun can cache what failed, so
/// `report` and `compare` show those rows failed, as `run` did, instead of refusing.
fn recall_failures(exec: &Executor, ei: usize, dir: &Path) {
    let Ok(text) = std::fs::read_to_string(dir.join("results.json")) else { return };
    let Ok(serde_json::Value::Array(rows)) = serde_json::from_str::<serde_json::Value>(&text) else { return };
    for r in rows {
        if let (Some("failed"), Some(key), Some(why)) = (r["status"].as_str(), r["eval_key"].as_str(), r["error"].as_str()) {
            if exec.plan.run_keys[ei].iter().any(|k| k.eval == key) && !exec.caches[ei].peek("eval", key) {
                exec.record_failure(key, why.to_string());
            }
        }
    }
}

/// Experiments paired user by user must stand on the same data and split: raw user ids of
/// two datasets name different people.
fn same_users(plan: &pipeline::Plan) -> Result<(), String> {
    let (a, b) = (&plan.experiments[0].section.name, &plan.experiments[1].section.name);
    for what in ["dataset", "split"] {
        let keys = |ei: usize| {
            let mut v: Vec<&String> = plan.run_keys[ei].iter().map(|k| if what == "dataset" { &k.data } else { &k.split }).collect();
            v.sort();
            v.dedup();
            v
        };
        let (ka, kb) = (keys(0), keys(1));
        if ka != kb {
            return Err(format!(
                "`{a}` and `{b}` were evaluated on different {what}s (keys {} and {}): their users cannot be paired; compare experiments on the same [dataset] and [split]",
                ka.iter().map(|k| &k[..k.len().min(12)]).collect::<Vec<_>>().join(", "),
                kb.iter().map(|k| &k[..k.len().min(12)]).collect::<Vec<_>>().join(", ")
            ));
        }
    }
    Ok(())
}

fn compare(args: CompareArgs) -> i32 {
    let exps = match (experiment_of(&args.a), experiment_of(&args.b)) {
        (Ok(a), Ok(b)) => vec![a, b],
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let plan = match plan_or_exit(exps) {
        Ok(p) => p,
        Err(code) => return code,
    };
    if let Err(e) = same_users(&plan) {
        eprintln!("error: {e}");
        return 2;
    }
    let exec = Executor::new(&plan, false, false);
    for (ei, dir) in [&args.a, &args.b].into_iter().enumerate() {
        recall_failures(&exec, ei, dir);
    }
    if let Some(e) = (0..2).find_map(|ei| uncached(&exec, ei)) {
        eprintln!("error: {e}");
        return 1;
    }
    let (ra, rb) = match (exec.rows_with(0, true), exec.rows_with(1, true)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e:#}");
            return 1;
        }
    };
    let cols = crate::report::compare::compare(&ra, &rb);
    if cols.is_empty() {
        eprintln!("error: no run of `{}` has a counterpart (same model and seed) in `{}`", plan.experiments[1].section.name, plan.experiments[0].section.name);
        return 1;
    }
    let md = crate::report::compare::to_markdown(&plan.experiments[0], &plan.experiments[1], &cols);
    let out = args.b.join(format!("compare-{}.md", plan.experiments[0].section.name));
    if let Err(e) = crate::interrupt::write_set(&args.b, &[(out.file_name().and_then(|n| n.to_str()).unwrap_or("compare.md"), md.clone())]) {
        eprintln!("error: {e:#}");
        return 1;
    }
    crate::say!("{md}\nwritten to {}", out.display());
    0
}

/// `runner report DIR...`: every experiment folder (one with `run.json`) at or below each DIR.
fn report_again(args: ReportArgs) -> i32 {
    let mut found = Vec::new();
    for d in &args.dirs {
        if d.join("run.json").is_file() {
            found.push(d.join("run.json"));
        } else if let Ok(entries) = std::fs::read_dir(d) {
            let mut below: Vec<PathBuf> = entries.filter_map(|e| e.ok()).map(|e| e.path().join("run.json")).filter(|p| p.is_file()).collect();
            below.sort();
            found.extend(below);
        }
    }
    if found.is_empty() {
        eprintln!(
            "error: no experiment results (a folder with run.json, written by `runner run`) in {}",
            args.dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
        );
        return 2;
    }
    let mut exps = Vec::new();
    let mut dirs: Vec<PathBuf> = Vec::new();
    let mut code = 0;
    for f in &found {
        let dir = f.parent().unwrap_or(Path::new(".")).to_path_buf();
        match experiment_of(&dir) {
            // Its tuned rows come from its search, replayed from the cache; rewriting its
            // tables without them would lose them, so an unfinished search writes nothing.
            Ok(e) if !e.searches.is_empty() => {
                let (e, errors) = replay_searches(e);
                if errors.is_empty() {
                    dirs.push(dir);
                    exps.push(e);
                } else {
                    for err in &errors {
                        eprintln!("error: {err:#}");
                    }
                    eprintln!("error: `{}`: its tables are left as they are", e.section.name);
                    code = 1;
                }
            }
            Ok(e) => {
                dirs.push(dir);
                exps.push(e);
            }
            Err(e) => {
                eprintln!("error: {e}");
                return 2;
            }
        }
    }
    if exps.is_empty() {
        return code;
    }
    let plan = match plan_or_exit(exps) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let exec = Executor::new(&plan, false, false);
    for ei in 0..plan.experiments.len() {
        recall_failures(&exec, ei, &dirs[ei]);
        if let Some(e) = uncached(&exec, ei) {
            eprintln!("error: {e}");
            code = 1;
            continue;
        }
        if let Err(e) = exec.write_report(ei) {
            eprintln!("error: {e:#}");
            code = 1;
        }
    }
    code
}

/// The experiment with each searched model's tuned runs, its search replayed from the cache
/// without computing anything; the searches that are not finished there are errors (their
/// models have no runs).
fn replay_searches(exp: Experiment) -> (Experiment, Vec<anyhow::Error>) {
    if exp.searches.is_empty() {
        return (exp, Vec::new());
    }
    let opts = crate::search::study::Options { jobs: 1, force: false, progress: false, log: &|_| {}, mode: crate::search::study::Mode::CachedOnly };
    let (mut exps, errors) = crate::search::tune(vec![exp], &opts);
    (exps.remove(0), errors)
}

/// Loads the config and picks the run: Ok((plan, experiment index, run index)).
fn choose(c: &RunChoice) -> Result<(pipeline::Plan, usize), i32> {
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
    let Some(first) = runs.first() else {
        for e in &search_errors {
            eprintln!("error: {e:#}");
        }
        return Err(1);
    };
    let model = c.model.clone().unwrap_or_else(|| first.model.name.clone());
    let pick = runs.iter().position(|r| r.model.name == model && c.point.as_ref().is_none_or(|p| &r.point_id == p) && c.seed.is_none_or(|s| r.seed == s));
    let Some(ri) = pick else {
        // A searched model has runs only once its search is in the cache: like a run that
        // is not cached, that is a failure to answer (1), not a wrong question (2).
        if searched.contains(&model) && !search_errors.is_empty() {
            for e in &search_errors {
                eprintln!("error: {e:#}");
            }
            return Err(1);
        }
        // Each valid value once, in run order (a global sweep interleaves the models, and
        // every point repeats once per seed).
        fn unique<'a>(values: impl Iterator<Item = &'a str>) -> String {
            let mut seen: Vec<&str> = Vec::new();
            for v in values {
                if !seen.contains(&v) {
                    seen.push(v);
                }
            }
            seen.join(", ")
        }
        let names = unique(runs.iter().map(|r| r.model.name.as_str()));
        let points = unique(runs.iter().filter(|r| r.model.name == model).map(|r| r.point_id.as_str()));
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
    match pipeline::plan(vec![exp]) {
        Ok(p) => Ok((p, ri)),
        Err(e) => {
            eprintln!("error: {e:#}");
            Err(2)
        }
    }
}

fn ask(args: AskArgs, recommend: bool) -> i32 {
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
    let (what, answers, history) = match (recommend, &args.user, &args.item) {
        (true, Some(u), _) => (format!("user {u}"), served.recommend(u, args.k), served.history(u)),
        (false, _, Some(i)) => (format!("item {i}"), served.similar(i, args.k), Ok(Vec::new())),
        (true, None, _) => {
            eprintln!("error: recommend needs --user ID");
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
        (Some(u), _) if recommend => served.dataset.users.get(u).is_none(),
        (_, Some(i)) if !recommend => served.dataset.items.get(i).is_none(),
        _ => false,
    };
    let (answers, history) = match (answers, history) {
        (Ok(a), Ok(h)) => (a, h),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e:#}");
            return if unknown { 2 } else { 1 };
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
    crate::say!("{} for {what} ({}):", if recommend { "recommended" } else { "similar" }, served.label);
    for (rank, a) in answers.iter().enumerate() {
        crate::say!("{:>3}. {:<12} {:>9.4}  {}", rank + 1, esc(&a.item), a.score, title(&a.title));
    }
    eprintln!("(loaded from the cache in {:.0} ms, answered in {:.2} ms)", loaded.as_secs_f64() * 1e3, asked.as_secs_f64() * 1e3);
    0
}

fn export(args: ExportArgs) -> i32 {
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
    for (side, vectors, ids) in [("items", &served.trained.items, served.dataset.items.raws()), ("users", &served.trained.users, served.dataset.users.raws())] {
        match pipeline::serve::encode(vectors, ids, &args.format) {
            Ok(encoded) => files.extend(encoded.into_iter().map(|(suffix, bytes)| (format!("{stem}.{side}.{suffix}"), bytes))),
            Err(e) => {
                eprintln!("error: {e:#}");
                return 1;
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
    0
}

/// The flag Ctrl-C sets while this process waits for Slurm jobs (a search's batches, then the
/// tables' stages): one handler per process. A second Ctrl-C leaves at once.
fn slurm_interrupted() -> Arc<AtomicBool> {
    static FLAG: std::sync::OnceLock<Arc<AtomicBool>> = std::sync::OnceLock::new();
    FLAG.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let f = flag.clone();
        let installed = ctrlc::set_handler(move || {
            if f.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
        });
        if let Err(e) = installed {
            eprintln!("warning: cannot handle Ctrl-C ({e})");
        }
        flag
    })
    .clone()
}

/// After Ctrl-C while waiting for Slurm jobs: cancel them (asked on a terminal, or with
/// `--cancel-on-exit`) or say how to stop them; the exit code.
fn slurm_interrupt(args: &RunArgs, open: &[String]) -> i32 {
    let cancel = args.cancel_on_exit
        || (std::io::stdin().is_terminal() && confirm(&format!("\ninterrupted: cancel the {} jobs still queued or running? [y/N] ", open.len())));
    if cancel {
        pipeline::slurm::scancel(open);
        eprintln!("cancelled {} jobs; finished stages stay in the cache, so running again resumes", open.len());
    } else if !open.is_empty() {
        eprintln!(
            "\ninterrupted: {} jobs keep running (`scancel {}` stops them); `runner run` again waits for them instead of submitting them twice",
            open.len(),
            open.join(" ")
        );
    }
    130
}

/// How `runner run --executor slurm` submits: the jobs run this binary's `runner stage` on the
/// same configs and overrides, from this folder.
fn slurm_options(args: &RunArgs) -> pipeline::slurm::Options {
    pipeline::slurm::Options {
        configs: expand_paths(&args.config.configs),
        sets: args.config.set.clone(),
        force: args.force,
        detach: args.detach,
        cancel_on_exit: args.cancel_on_exit,
        quiet: args.quiet,
        runner: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("runner")),
        cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
        poll: std::env::var("RUNNER_SLURM_POLL").ok().and_then(|s| s.parse().ok()).unwrap_or(1.0),
    }
}

/// `runner run --executor slurm`: submit, wait, then write the reports here.
fn run_on_slurm(args: &RunArgs, plan: &pipeline::Plan, exec: &Executor) -> i32 {
    use pipeline::slurm;
    let interrupted = slurm_interrupted();
    let opts = slurm_options(args);
    let (summary, errors) = match slurm::run(plan, exec, &opts, &interrupted) {
        Ok(r) => r,
        Err(e) => {
            if let Some(slurm::Interrupted(open)) = e.downcast_ref::<slurm::Interrupted>() {
                return slurm_interrupt(args, open);
            }
            eprintln!("error: {e:#}");
            return 1;
        }
    };
    if args.detach {
        for e in &plan.experiments {
            if let Err(err) = crate::report::write_run_json(e) {
                eprintln!("error: {err:#}");
                return 1;
            }
        }
        let exps: Vec<String> = plan.experiments.iter().map(|e| e.file.display().to_string()).collect();
        let dirs: Vec<String> = plan.experiments.iter().map(|e| e.section.results_dir.join(&e.section.name).display().to_string()).collect();
        crate::say!(
            "submitted; when the jobs finish, `runner report {}` or `runner run {}` (everything cached) writes the tables",
            dirs.join(" "),
            exps.join(" ")
        );
        return 0;
    }
    let mut code = if errors.is_empty() { 0 } else { 1 };
    for &rn in &plan.reports {
        if let Err(e) = exec.execute(rn) {
            eprintln!("error: {e:#}");
            code = 1;
        }
    }
    if !args.quiet {
        eprintln!(
            "{} stages: {} ran as Slurm jobs, {} cached, {} failed, {} cancelled",
            summary.ran + summary.cached + summary.failed + summary.skipped,
            summary.ran,
            summary.cached,
            summary.failed,
            summary.skipped
        );
    }
    for e in &errors {
        eprintln!("error: {e:#}");
    }
    code
}

/// Asks a yes/no question on the terminal.
fn confirm(question: &str) -> bool {
    eprint!("{question}");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).is_ok() && matches!(line.trim(), "y" | "Y" | "yes")
}

fn run(args: RunArgs) -> i32 {
    let exps = match load_all(&args.config) {
        Ok(e) => e,
        Err(errs) => {
            print_config_errors(&errs);
            return 2;
        }
    };
    let searching = exps.iter().any(|e| !e.searches.is_empty());
    let (exps, search_errors) = if searching && !args.plan {
        match tune(exps, &args) {
            Ok(x) => x,
            Err(code) => return code,
        }
    } else {
        if searching {
            eprintln!("note: a search plans its trials batch by batch as it proposes them; the plan below leaves the searched models out");
        }
        (exps, Vec::new())
    };
    let plan = match plan_or_exit(exps) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let exec = Executor::new(&plan, args.force, !args.quiet);
    if args.plan {
        crate::say!("{:<7} {:<10} {:<7} stage", "kind", "key", "status");
        for line in dag::describe(&plan, &exec) {
            crate::say!("{line}");
        }
        return 0;
    }
    let stale = exec.remove_stale_tmp();
    if stale > 0 && !args.quiet {
        eprintln!("removed {stale} unfinished cache entries left by interrupted runs");
    }
    let kinds: std::collections::BTreeSet<config::ExecutorKind> = plan.experiments.iter().map(|e| e.executor.kind).collect();
    let slurm = match args.executor.as_deref() {
        Some(k) => k == "slurm",
        None if kinds.len() > 1 => {
            eprintln!("error: the configs disagree on `[executor] kind` (local and slurm); pass --executor local or --executor slurm");
            return 2;
        }
        None => kinds.contains(&config::ExecutorKind::Slurm),
    };
    if slurm {
        return run_on_slurm(&args, &plan, &exec);
    }
    if args.detach || args.cancel_on_exit {
        eprintln!("warning: --detach and --cancel-on-exit apply to the Slurm executor only; running locally");
    }
    // Ctrl-C / SIGTERM: remove this process's unfinished entries, say what finished, exit 130.
    // Finished entries stay in the cache, so running again resumes.
    let finished = Arc::new(AtomicUsize::new(0));
    let total = plan.graph.node_count();
    // A search installed its own handler (there is one per process).
    if !searching {
        let finished = finished.clone();
        exit_on_interrupt(move |removed| {
            format!(
                "{} of {total} stages had finished (kept in the cache; run again to resume); removed {removed} unfinished entries",
                finished.load(Ordering::SeqCst)
            )
        });
    }
    let bar = pipeline::progress::bar(plan.graph.node_count() as u64, "{spinner} stages {pos}/{len} [{bar:30}] {elapsed}", !args.quiet);
    let quiet = args.quiet;
    let log = |line: String| {
        finished.fetch_add(1, Ordering::SeqCst);
        bar.inc(1);
        if quiet {
            return;
        }
        pipeline::progress::println(&line);
    };
    let (summary, errors) = dag::execute(&plan, &exec, args.jobs, &log);
    bar.finish_and_clear();
    if !quiet {
        eprintln!(
            "{} stages: {} ran, {} cached, {} failed, {} skipped",
            summary.ran + summary.cached + summary.failed + summary.skipped,
            summary.ran,
            summary.cached,
            summary.failed,
            summary.skipped
        );
    }
    for e in search_errors.iter().chain(&errors) {
        eprintln!("error: {e:#}");
    }
    if errors.is_empty() && search_errors.is_empty() {
        0
    } else {
        1
    }
}

/// Runs the configs' searches ([`crate::search::tune`]) before the tables' plan: each
/// searched model's trials, then its tuned runs in the experiment. On Slurm each batch (and
/// rung) of trials is one submission that this process waits for.
fn tune(exps: Vec<Experiment>, args: &RunArgs) -> Result<(Vec<Experiment>, Vec<anyhow::Error>), i32> {
    let slurm = match args.executor.as_deref() {
        Some(k) => k == "slurm",
        None => exps.iter().any(|e| e.executor.kind == config::ExecutorKind::Slurm),
    };
    if slurm && args.detach {
        eprintln!("error: a [search] waits for each batch of trials on Slurm (its next trials depend on their results), so --detach cannot return at once; run without --detach");
        return Err(2);
    }
    let quiet = args.quiet;
    let log = move |line: String| {
        if !quiet {
            pipeline::progress::println(&format!("search  {line}"));
        }
    };
    let (slurm_opts, interrupted) = (slurm_options(args), slurm.then(slurm_interrupted));
    let mode = match &interrupted {
        Some(flag) => crate::search::study::Mode::Slurm(&slurm_opts, flag),
        None => {
            exit_on_interrupt(|removed| {
                format!("the search's finished stages are kept in the cache (run again: the same trials are proposed and found there); removed {removed} unfinished entries")
            });
            crate::search::study::Mode::Local
        }
    };
    let opts = crate::search::study::Options { jobs: args.jobs, force: args.force, progress: !args.quiet, log: &log, mode };
    let (exps, errors) = crate::search::tune(exps, &opts);
    if let Some(pipeline::slurm::Interrupted(open)) = errors.iter().find_map(|e| e.downcast_ref::<pipeline::slurm::Interrupted>()) {
        return Err(slurm_interrupt(args, open));
    }
    if !quiet {
        for e in &exps {
            let mut tuned: Vec<&str> = e.runs.iter().filter(|r| r.tuned.is_some()).map(|r| r.model.name.as_str()).collect();
            tuned.dedup();
            if !tuned.is_empty() {
                eprintln!(
                    "{}: tuned {} on validation; trials in {}",
                    e.section.name,
                    tuned.join(", "),
                    e.section.results_dir.join(&e.section.name).join("trials.csv").display()
                );
            }
        }
    }
    Ok((exps, errors))
}

fn print_kinds() {
    crate::say!("dataset kinds:");
    for k in crate::data::loaders::KINDS {
        crate::say!("  {:<16} {}", k.kind, k.about);
    }
    crate::say!("split kinds:");
    for k in crate::data::split::KINDS {
        crate::say!("  {:<16} {}", k.kind, k.about);
    }
    crate::say!("model kinds:");
    for k in crate::models::KINDS {
        crate::say!("  {:<16} {}", k.kind, k.about);
    }
    crate::say!("index kinds:");
    for k in crate::index::KINDS {
        crate::say!("  {:<16} {}", k.kind, k.about);
    }
    crate::say!("evaluation tasks ([metrics] task):");
    for t in crate::eval::KINDS {
        crate::say!("  {:<20} {}", t.name(), t.about());
    }
}
