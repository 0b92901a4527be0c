//! `runner track` and the tracking at the end of `runner run`: finished experiments logged to
//! an MLflow server ([`crate::tracking`]). A server that is down or refuses is a warning that
//! says how to log later, never a failed run.

use super::report::results_folders;
use super::{plan_or_exit, TrackArgs};
use crate::pipeline::Plan;
use crate::tracking;
use std::path::PathBuf;

/// Logs every experiment of `plan` (results in `dirs`) that has a tracking server; returns
/// whether all of them were logged.
pub(super) fn track_plan(plan: &Plan, dirs: &[PathBuf], flag: Option<&str>, quiet: bool) -> bool {
    let mut ok = true;
    for (ei, exp) in plan.experiments.iter().enumerate() {
        let Some(uri) = tracking::uri(flag, &exp.tracking) else { continue };
        let shown = tracking::mlflow::redact(&uri);
        let results = match tracking::read_results(&dirs[ei]) {
            Ok(r) => r,
            Err(e) => {
                ok = false;
                eprintln!("warning: `{}` was not logged to MLflow: {e:#}", exp.section.name);
                continue;
            }
        };
        match tracking::log_experiment(plan, ei, &dirs[ei], &results, &uri) {
            Ok(l) if !quiet => {
                eprintln!(
                    "tracked `{}` at {shown}: {} runs logged, {} logged before, {} search trials, {} files",
                    exp.section.name, l.created, l.already, l.trials, l.artifacts
                )
            }
            Ok(_) => {}
            Err(e) => {
                ok = false;
                eprintln!(
                    "warning: `{}` was not logged to MLflow at {shown}: {e:#}; once the server answers, `runner track {}` logs it",
                    exp.section.name,
                    dirs[ei].display()
                );
            }
        }
    }
    ok
}

/// `runner track DIR...`: exit 0 when every experiment was logged, 1 when a server did not
/// take it, 2 for folders that hold no results or experiments without a server.
pub(super) fn track(args: TrackArgs) -> i32 {
    let (exps, dirs, code) = match results_folders(&args.dirs) {
        Ok(x) => x,
        Err(code) => return code,
    };
    if let Some(e) = exps.iter().find(|e| tracking::uri(args.track.as_deref(), &e.tracking).is_none()) {
        eprintln!("error: no MLflow server for `{}`: pass --track URI, set `[tracking] mlflow`, or MLFLOW_TRACKING_URI", e.section.name);
        return 2;
    }
    let plan = match plan_or_exit(exps) {
        Ok(p) => p,
        Err(code) => return code,
    };
    if track_plan(&plan, &dirs, args.track.as_deref(), false) {
        code
    } else {
        1
    }
}
