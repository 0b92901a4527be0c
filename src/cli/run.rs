//! `runner run`: a config's searches, then its stages, locally or as Slurm jobs, and the
//! tables; the Slurm wiring (options, waiting, Ctrl-C) lives here too.

use super::{confirm, exit_on_interrupt, expand_paths, load_all, plan_or_exit, print_config_errors, RunArgs};
use crate::config::{self, Experiment};
use crate::pipeline::{self, dag, stages::Executor};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

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
        force: args.force.is_some(),
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
    super::track::track_plan(plan, &results_dirs(plan), args.track.as_deref(), args.quiet);
    code
}

/// Each experiment's results folder, where its tables were written.
fn results_dirs(plan: &pipeline::Plan) -> Vec<PathBuf> {
    plan.experiments.iter().map(|e| e.section.results_dir.join(&e.section.name)).collect()
}

pub(super) fn run(args: RunArgs) -> i32 {
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
    let exec = Executor::new(&plan, false, !args.quiet).forcing_from(force_from(&args));
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
    // The tables are written: log them where researchers already look, when asked.
    super::track::track_plan(&plan, &results_dirs(&plan), args.track.as_deref(), quiet);
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
    let opts = crate::search::study::Options { jobs: args.jobs, force: args.force.is_some(), progress: !args.quiet, log: &log, mode };
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

/// The first stage kind `--force` recomputes (with every later kind), or `None`.
fn force_from(args: &RunArgs) -> Option<pipeline::StageKind> {
    use pipeline::StageKind::*;
    args.force.as_deref().map(|k| match k {
        "split" => Split,
        "corpus" => Corpus,
        "train" => Train,
        "index" => Index,
        "eval" => Eval,
        _ => Data,
    })
}
