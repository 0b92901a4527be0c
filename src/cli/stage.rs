//! `runner stage`: the one stage a Slurm job runs, found in the plan of the submitting
//! run's configs (or, for a searched model's trial, in the plan its search replays).

use super::{exit_on_interrupt, load_all, load_and_plan, plan_or_exit, print_config_errors, ConfigArgs, StageArgs};
use crate::pipeline::{self, stages::Executor};

/// `runner stage --key K -- CONFIGS`: plans the configs as the submitting run did and runs the
/// one stage. Exit 0 when it is in the cache afterwards, 1 when it failed, 2 for bad configs.
pub(super) fn stage(args: StageArgs) -> i32 {
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
