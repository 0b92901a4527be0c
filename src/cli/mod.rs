//! The `runner` command line: a thin layer over the library (ripgrep style).

mod ask;
mod data;
mod kinds;
mod report;
mod run;
mod serve;
mod stage;
mod track;

use crate::config::{self, ConfigError, Experiment};
use crate::pipeline;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

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
    /// Answer recommendation requests over HTTP/JSON from a run's cached vectors and index.
    Serve(serve::ServeArgs),
    /// Render the tables, plots and pages of finished experiments again from the cache,
    /// computing nothing: a results folder of one experiment, or one holding several.
    Report(ReportArgs),
    /// Two finished experiments side by side, with paired tests where the users match.
    Compare(CompareArgs),
    /// Log finished experiments to an MLflow server from their results folders (what
    /// `runner run` logs itself when tracking is on); runs already logged are left alone.
    Track(TrackArgs),
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
    /// Download, check (against the published MD5; Amazon's files by decompressing them),
    /// and unpack to `<data folder>/<name>`; an interrupted download resumes where it stopped.
    Fetch(FetchArgs),
}

#[derive(Args, Debug)]
pub struct DataDirArg {
    /// The data folder (default: RUNNER_DATA_DIR, else ./data), as configs' data_dir.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Use this config's data folder (its `[experiment] data_dir`, else as above).
    #[arg(long, conflicts_with = "data_dir")]
    pub config: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct FetchArgs {
    /// Dataset names, e.g. ml-100k ml-1m amazon-All_Beauty (see `runner data list`).
    #[arg(required = true)]
    pub names: Vec<String>,
    #[command(flatten)]
    pub dir: DataDirArg,
    /// Base URL of the archives (default: RUNNER_FETCH_MIRROR, else the publisher's: GroupLens
    /// for ml-*, the UCSD data repository for amazon-*).
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

/// Which run of a config to use: by default the first model that is not a baseline, its
/// first point and the first seed, said on stderr when there was a choice (`ask.rs`).
#[derive(Args, Debug, Clone)]
pub struct RunChoice {
    /// The experiment spec file (TOML).
    pub config: PathBuf,
    /// Override a config value, as for `run`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// A model's name (default: the first that is not a baseline such as popularity or
    /// random, else the first).
    #[arg(long)]
    pub model: Option<String>,
    /// A sweep point as the tables name it (`window=5`, or some of its values when they name
    /// one point), or its id (default: the model's first point).
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
    /// recommend: a history instead of a user, item ids or titles oldest first, comma-separated
    /// (`--history 50,172,181`); the query is made from it as training made the users'. With
    /// `--user`, the user's history is replaced (models with a user tower only).
    #[arg(long, value_delimiter = ',')]
    pub history: Option<Vec<String>>,
    /// recommend, models with a user tower: user feature values, `age=31,occupation=writer`
    /// (a number where it parses as one) or a JSON object; with `--user`, they replace that
    /// user's own.
    #[arg(long)]
    pub features: Option<String>,
    /// The item's raw id (similar).
    #[arg(long)]
    pub item: Option<String>,
    /// How many items.
    #[arg(short, default_value_t = 10)]
    pub k: usize,
    /// similar: rank by `cos` (the default for embeddings), `ip` or `l2`; a metric other than
    /// the index's is an exact scan. Models that score items rank by their own score (`ip`).
    #[arg(long, value_parser = parse_metric)]
    pub metric: Option<crate::index::Metric>,
}

/// `--metric`: a metric by the name `[index] metric` gives it.
fn parse_metric(s: &str) -> Result<crate::index::Metric, String> {
    use crate::index::Metric;
    [Metric::Cos, Metric::Ip, Metric::L2].into_iter().find(|m| m.name() == s).ok_or_else(|| "metrics: cos, ip, l2".to_string())
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
    /// Recompute every stage even when cached; `--force=eval` (or `index`, `train`, ...)
    /// recomputes the stages of that kind and every kind after it (data, split, corpus,
    /// train, index, eval), e.g. re-times queries without retraining.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "all", value_parser = ["all", "data", "split", "corpus", "train", "index", "eval"])]
    pub force: Option<String>,
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
    /// Log the finished runs to this MLflow server (default: `[tracking] mlflow`, else
    /// MLFLOW_TRACKING_URI); a server that is down is a warning, never a failed run.
    #[arg(long, value_name = "URI")]
    pub track: Option<String>,
}

/// `runner track`.
#[derive(Args, Debug)]
pub struct TrackArgs {
    /// Results folders of experiments (`results/<name>`), or folders holding several.
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// The MLflow server (default: the config's `[tracking] mlflow`, else MLFLOW_TRACKING_URI).
    #[arg(long, value_name = "URI")]
    pub track: Option<String>,
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
            kinds::print_kinds();
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
        Command::Run(args) => run::run(args),
        Command::Recommend(args) => ask::ask(args, true),
        Command::Similar(args) => ask::ask(args, false),
        Command::Export(args) => ask::export(args),
        Command::Serve(args) => serve::serve(args),
        Command::Report(args) => report::report_again(args),
        Command::Compare(args) => report::compare(args),
        Command::Track(args) => track::track(args),
        Command::Data(cmd) => data::data(cmd),
        Command::Stage(args) => stage::stage(args),
    }
}

/// Asks a yes/no question on the terminal.
fn confirm(question: &str) -> bool {
    eprint!("{question}");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).is_ok() && matches!(line.trim(), "y" | "Y" | "yes")
}
