//! The `runner` command line: a thin layer over the library (ripgrep style).

use crate::config::{self, ConfigError, Experiment};
use crate::pipeline::{self, dag, stages::Executor};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
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
                    println!("{}: ok ({} runs)", e.file.display(), e.runs.len());
                }
                0
            }
            Err(errs) => {
                print_config_errors(&errs);
                2
            }
        },
        Command::Run(args) => run(args),
    }
}

fn run(args: RunArgs) -> i32 {
    let exps = match load_all(&args.config) {
        Ok(e) => e,
        Err(errs) => {
            print_config_errors(&errs);
            return 2;
        }
    };
    let plan = match pipeline::plan(exps) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e:#}");
            return 2;
        }
    };
    let exec = Executor::new(&plan, args.force, !args.quiet);
    if args.plan {
        println!("{:<7} {:<10} {:<7} stage", "kind", "key", "status");
        for line in dag::describe(&plan, &exec) {
            println!("{line}");
        }
        return 0;
    }
    let stale = exec.remove_stale_tmp();
    if stale > 0 && !args.quiet {
        eprintln!("removed {stale} unfinished cache entries left by interrupted runs");
    }
    // Ctrl-C / SIGTERM: remove this process's unfinished entries, say what finished, exit 130.
    // Finished entries stay in the cache, so running again resumes.
    let finished = Arc::new(AtomicUsize::new(0));
    let total = plan.graph.node_count();
    {
        let finished = finished.clone();
        let installed = ctrlc::set_handler(move || {
            let removed = crate::interrupt::abandon_all();
            eprintln!(
                "\ninterrupted: {} of {total} stages had finished (kept in the cache; run again to resume); removed {removed} unfinished entries",
                finished.load(Ordering::SeqCst)
            );
            std::process::exit(130);
        });
        if let Err(e) = installed {
            eprintln!("warning: cannot handle Ctrl-C ({e}); an interrupted run may leave unfinished cache entries, removed by the next run");
        }
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
    for e in &errors {
        eprintln!("error: {e:#}");
    }
    if errors.is_empty() {
        0
    } else {
        1
    }
}

fn print_kinds() {
    println!("dataset kinds:");
    for k in crate::data::loaders::KINDS {
        println!("  {:<16} {}", k.kind, k.about);
    }
    println!("split kinds:");
    for k in crate::data::split::KINDS {
        println!("  {:<16} {}", k.kind, k.about);
    }
    println!("model kinds:");
    for k in crate::models::KINDS {
        println!("  {:<16} {}", k.kind, k.about);
    }
    println!("index kinds:");
    for k in crate::index::KINDS {
        println!("  {:<16} {}", k.kind, k.about);
    }
    println!("evaluation tasks ([metrics] task):");
    for t in crate::eval::KINDS {
        println!("  {:<20} {}", t.name(), t.about());
    }
}
